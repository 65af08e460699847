/* SPDX-License-Identifier: MIT */
/*
 * Floor ownership (cluster-private.h).  A floor's owner is the key
 * P place/owners/<floor>, bound to the owner's lease and created only if
 * absent, in one transaction: of any number of daemons claiming a floor at
 * once, exactly one creates the key, and the key vanishes with its
 * owner's lease.  The owner key's mod_revision when this daemon got it is
 * its fence: every later write made as the owner (the seats, a release, a
 * handover) is a transaction that compares it, so a daemon that has lost
 * a floor without knowing yet cannot write for it.
 *
 * Each step of the cluster thread:
 *   - hosted floors whose owner key now names someone else are lost; one
 *     whose key is gone (our lease expired, an admin deleted it) is claimed
 *     again, and lost only if someone else was faster;
 *   - a key that names this daemon for a floor it does not host (a
 *     handover to it) is a floor gained;
 *   - free floors are claimed by placement's first choice at once, by its
 *     k-th choice only after k claim steps (placement.h, docs/CLUSTER.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "clock.h"
#include "cluster-private.h"
#include "log.h"
#include "placement.h"

size_t es_cluster_hosted_count(struct es_cluster *c)
{
	pthread_mutex_lock(&c->snap);
	size_t n = es_strmap_count(c->hosting);
	pthread_mutex_unlock(&c->snap);
	return n;
}

static char *owner_json(const char *daemon, const char *address, const char *relay)
{
	struct json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "daemon", json_object_new_string(daemon));
	json_object_object_add(o, "address", json_object_new_string(address));
	json_object_object_add(o, "relay", json_object_new_string(relay));
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

/* Remove every key of m that starts with "<floor>/". */
static void drop_floor_keys(struct es_strmap *m, const char *floor)
{
	size_t fl = strlen(floor), b = 0, n = 0;
	char **dead = NULL;
	for (struct es_strmap_entry *e = es_strmap_next(m, &b, NULL); e; e = es_strmap_next(m, &b, e)) {
		if (strncmp(e->key, floor, fl) == 0 && e->key[fl] == '/') {
			char **d = realloc(dead, (n + 1) * sizeof(*d));
			if (!d)
				break;
			dead = d;
			dead[n++] = e->key;
		}
	}
	for (size_t i = 0; i < n; i++) {
		char *k = strdup(dead[i]); /* del frees the entry's key */
		if (k) {
			es_strmap_del(m, k);
			free(k);
		}
	}
	free(dead);
}

/* This daemon owns floor with fence: read its seats, host it, tell the daemon. */
static void gain(struct es_cluster *c, const char *floor, int64_t fence, const char *how)
{
	char key[ES_CLUSTER_KEY_MAX];
	struct es_etcd_range r = { 0 };
	int n = -ENAMETOOLONG;
	size_t pl = 0;
	if (es_cluster_key(c, key, sizeof(key), "seats/%s/", floor)) {
		pl = strlen(key);
		n = es_cluster_note(c, es_etcd_get_all(c->etcd, key, 0, &r));
	}
	pthread_mutex_lock(&c->snap);
	drop_floor_keys(c->seats, floor);
	for (int i = 0; i < n; i++) {
		char sk[ES_CLUSTER_ID_MAX + 80];
		snprintf(sk, sizeof(sk), "%s/%s", floor, r.kvs[i].key + pl);
		es_strmap_put(c->seats, sk, r.kvs[i].value, r.kvs[i].value_len);
	}
	struct es_strmap_entry *h = es_strmap_put(c->hosting, floor, "", 0);
	if (h)
		h->aux = fence;
	pthread_mutex_unlock(&c->snap);
	es_etcd_range_clear(&r);
	ES_STAT_ADD(c, floors_gained, 1);
	if (n < 0)
		es_log_warn("cluster: %s: floor %s is ours (%s) but its seats could not be read (%s)", c->id, floor, how, strerror(-n));
	else
		es_log_info("cluster: %s: floor %s is ours (%s; %d seats)", c->id, floor, how, n);
	struct es_cluster_event ev = { .type = ES_CLUSTER_FLOOR_GAINED };
	snprintf(ev.floor, sizeof(ev.floor), "%s", floor);
	es_cluster_emit(c, &ev);
}

static void lose(struct es_cluster *c, const char *floor, const char *owner, const char *address)
{
	pthread_mutex_lock(&c->snap);
	bool was = es_strmap_del(c->hosting, floor);
	drop_floor_keys(c->seats, floor);
	pthread_mutex_unlock(&c->snap);
	pthread_mutex_lock(&c->q);
	drop_floor_keys(c->pending_seats, floor);
	pthread_mutex_unlock(&c->q);
	if (!was)
		return;
	ES_STAT_ADD(c, floors_lost, 1);
	es_log_info("cluster: %s: floor %s is no longer ours (%s%s)", c->id, floor, owner[0] ? "now " : "no owner",
		owner[0] ? owner : "");
	struct es_cluster_event ev = { .type = ES_CLUSTER_FLOOR_LOST };
	snprintf(ev.floor, sizeof(ev.floor), "%s", floor);
	snprintf(ev.daemon, sizeof(ev.daemon), "%s", owner);
	snprintf(ev.address, sizeof(ev.address), "%s", address);
	es_cluster_emit(c, &ev);
}

static void set_fence(struct es_cluster *c, const char *floor, int64_t fence)
{
	pthread_mutex_lock(&c->snap);
	struct es_strmap_entry *h = es_strmap_get(c->hosting, floor);
	if (h)
		h->aux = fence;
	pthread_mutex_unlock(&c->snap);
}

/*
 * Create the owner key of floor under our lease if it is absent.  Returns
 * 1 with *fence (the key's mod_revision) if it is ours now, 0 if another
 * daemon owns it (owner/address filled), -errno.  A claim whose answer was
 * lost and that is sent again finds the key made by its first try: the
 * key names us under our lease, so that counts as won.
 */
static int claim(struct es_cluster *c, const char *floor, int64_t *fence, char *owner, char *address)
{
	char key[ES_CLUSTER_KEY_MAX];
	if (!es_cluster_key(c, key, sizeof(key), "place/owners/%s", floor))
		return -ENAMETOOLONG;
	char *val = owner_json(c->id, c->address, c->relay);
	if (!val)
		return -ENOMEM;
	struct es_etcd_cmp absent = { .key = key, .target = ES_ETCD_CREATE, .op = ES_ETCD_EQ, .number = 0 };
	struct es_etcd_op put = { .type = ES_ETCD_OP_PUT, .key = key, .value = val, .value_len = strlen(val), .lease = c->lease };
	struct es_etcd_op get = { .type = ES_ETCD_OP_GET, .key = key };
	struct es_etcd_txn t = { .cmp = &absent, .n_cmp = 1, .success = &put, .n_success = 1, .failure = &get, .n_failure = 1 };
	struct es_etcd_txn_result res;
	int r = es_cluster_note(c, es_etcd_txn(c->etcd, &t, &res));
	free(val);
	ES_STAT_ADD(c, claims, 1);
	owner[0] = address[0] = 0;
	if (r == 1) {
		*fence = res.revision;
	} else if (r == 0 && res.n == 1 && res.r[0].range.n == 1) {
		const struct es_etcd_kv *kv = &res.r[0].range.kvs[0];
		es_cluster_json_str(kv->value, "daemon", owner, ES_CLUSTER_ID_MAX + 1);
		es_cluster_json_str(kv->value, "address", address, ES_CLUSTER_ADDR_MAX + 1);
		if (kv->lease == c->lease && strcmp(owner, c->id) == 0) {
			*fence = kv->mod_rev;
			r = 1;
		}
	}
	es_etcd_txn_result_clear(&res);
	if (r == 1)
		ES_STAT_ADD(c, claims_won, 1);
	return r;
}

/* ---- each step ------------------------------------------------------------ */

struct owner_copy {
	char floor[ES_CLUSTER_ID_MAX + 1];
	char daemon[ES_CLUSTER_ID_MAX + 1];
	char address[ES_CLUSTER_ADDR_MAX + 1];
	int64_t mod_rev, lease, fence;
	bool present, hosted;
};

/* The hosted floors and the floors whose key names us, with their owner keys, copied under snap. */
static size_t copy_ours(struct es_cluster *c, struct owner_copy **out, int64_t *place_rev)
{
	size_t n = 0, cap = 0, b = 0;
	struct owner_copy *v = NULL;
	pthread_mutex_lock(&c->snap);
	*place_rev = c->place_rev;
	cap = es_strmap_count(c->hosting) + es_strmap_count(c->owners);
	v = cap ? calloc(cap, sizeof(*v)) : NULL;
	for (struct es_strmap_entry *h = v ? es_strmap_next(c->hosting, &b, NULL) : NULL; h; h = es_strmap_next(c->hosting, &b, h)) {
		struct owner_copy *o = &v[n++];
		snprintf(o->floor, sizeof(o->floor), "%s", h->key);
		o->hosted = true;
		o->fence = h->aux;
		struct es_strmap_entry *e = es_strmap_get(c->owners, h->key);
		if (e) {
			o->present = true;
			o->mod_rev = e->mod_rev;
			o->lease = e->lease;
			es_cluster_json_str(e->val, "daemon", o->daemon, sizeof(o->daemon));
			es_cluster_json_str(e->val, "address", o->address, sizeof(o->address));
		}
	}
	for (struct es_strmap_entry *e = v ? es_strmap_next(c->owners, &b, NULL) : NULL; e; e = es_strmap_next(c->owners, &b, e)) {
		if (es_strmap_get(c->hosting, e->key) || e->lease != c->lease)
			continue;
		/* our own key as it was before we gave the floor away, still in a
		 * snapshot the watch has not brought up to date: not a handover */
		struct es_strmap_entry *g = es_strmap_get(c->given_away, e->key);
		if (g && e->mod_rev <= g->aux)
			continue;
		char d[ES_CLUSTER_ID_MAX + 1];
		es_cluster_json_str(e->val, "daemon", d, sizeof(d));
		if (strcmp(d, c->id) != 0)
			continue;
		struct owner_copy *o = &v[n++];
		snprintf(o->floor, sizeof(o->floor), "%s", e->key);
		snprintf(o->daemon, sizeof(o->daemon), "%s", d);
		o->present = true;
		o->mod_rev = e->mod_rev;
		o->lease = e->lease;
	}
	pthread_mutex_unlock(&c->snap);
	*out = v;
	return n;
}

static void reconcile(struct es_cluster *c)
{
	struct owner_copy *v;
	int64_t place_rev;
	size_t n = copy_ours(c, &v, &place_rev);
	for (size_t i = 0; i < n && c->reachable; i++) {
		struct owner_copy *o = &v[i];
		if (!o->hosted) {
			gain(c, o->floor, o->mod_rev, "handed over");
			continue;
		}
		if (o->fence > place_rev)
			continue; /* the watch has not yet shown our own write */
		if (o->present && strcmp(o->daemon, c->id) == 0) {
			if (o->mod_rev != o->fence && o->lease == c->lease)
				set_fence(c, o->floor, o->mod_rev);
			continue;
		}
		if (o->present) {
			lose(c, o->floor, o->daemon, o->address);
			continue;
		}
		/* the key is gone and we still host the floor: take it back,
		 * so its people notice nothing, unless someone was faster */
		if (!c->registered)
			continue;
		int64_t fence;
		char owner[ES_CLUSTER_ID_MAX + 1], address[ES_CLUSTER_ADDR_MAX + 1];
		int r = claim(c, o->floor, &fence, owner, address);
		if (r == 1) {
			set_fence(c, o->floor, fence);
			es_log_info("cluster: %s: floor %s claimed again after its key vanished", c->id, o->floor);
		} else if (r == 0) {
			lose(c, o->floor, owner, address);
		}
	}
	free(v);
}

struct place_copy {
	struct es_place_daemon *d;
	char (*ids)[ES_CLUSTER_ID_MAX + 1];
	size_t nd;
	char (*free)[ES_CLUSTER_ID_MAX + 1];
	size_t nf;
};

static int cmp_name(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static bool copy_place(struct es_cluster *c, struct place_copy *p)
{
	memset(p, 0, sizeof(*p));
	size_t b = 0;
	pthread_mutex_lock(&c->snap);
	size_t nd = es_strmap_count(c->daemons), nf = es_strmap_count(c->floorset);
	p->d = calloc(nd ? nd : 1, sizeof(*p->d));
	p->ids = calloc(nd ? nd : 1, sizeof(*p->ids));
	p->free = calloc(nf ? nf : 1, sizeof(*p->free));
	bool ok = p->d && p->ids && p->free;
	for (struct es_strmap_entry *e = ok ? es_strmap_next(c->daemons, &b, NULL) : NULL; e; e = es_strmap_next(c->daemons, &b, e)) {
		size_t i = p->nd++;
		snprintf(p->ids[i], sizeof(p->ids[i]), "%s", e->key);
		p->d[i].load = (uint32_t)es_cluster_json_int(e->val, "load");
		p->d[i].capacity = (uint32_t)es_cluster_json_int(e->val, "capacity");
		p->d[i].floors = (uint32_t)es_cluster_json_int(e->val, "floors");
		struct json_object *o = json_tokener_parse(e->val), *dr;
		p->d[i].draining = o && json_object_object_get_ex(o, "draining", &dr) && json_object_get_boolean(dr);
		json_object_put(o);
	}
	for (struct es_strmap_entry *e = ok ? es_strmap_next(c->floorset, &b, NULL) : NULL; e; e = es_strmap_next(c->floorset, &b, e)) {
		if (es_strmap_get(c->owners, e->key) || es_strmap_get(c->hosting, e->key))
			continue;
		snprintf(p->free[p->nf++], sizeof(p->free[0]), "%s", e->key);
	}
	pthread_mutex_unlock(&c->snap);
	for (size_t i = 0; i < p->nd; i++)
		p->d[i].id = p->ids[i];
	if (p->nf > 1)
		qsort(p->free, p->nf, sizeof(p->free[0]), cmp_name);
	return ok;
}

static void place(struct es_cluster *c, int64_t now)
{
	c->next_claim_ms = 0;
	struct place_copy p;
	bool ok = copy_place(c, &p);
	const char **names = ok && p.nf ? calloc(p.nf, sizeof(*names)) : NULL;
	uint32_t *rank = ok && p.nf ? calloc(p.nf, sizeof(*rank)) : NULL;
	if (!p.nf || !names || !rank)
		goto out;
	for (size_t i = 0; i < p.nf; i++)
		names[i] = p.free[i];
	if (es_place_rank(p.d, p.nd, names, p.nf, c->id, c->floor_weight, rank, NULL) < 0)
		goto out;
	for (size_t i = 0; i < p.nf && c->reachable && c->registered; i++) {
		if (rank[i] == ES_PLACE_NONE)
			continue;
		struct es_strmap_entry *s = es_strmap_get(c->free_since, names[i]);
		if (!s && (s = es_strmap_put(c->free_since, names[i], "", 0)))
			s->aux = now;
		int64_t due = (s ? s->aux : now) + (c->claim_at_once ? 0 : (int64_t)rank[i] * c->claim_step_ms);
		if (now < due) {
			if (!c->next_claim_ms || due < c->next_claim_ms)
				c->next_claim_ms = due;
			continue;
		}
		int64_t fence;
		char owner[ES_CLUSTER_ID_MAX + 1], address[ES_CLUSTER_ADDR_MAX + 1];
		int r = claim(c, names[i], &fence, owner, address);
		if (r == 1) {
			char how[64];
			snprintf(how, sizeof(how), "claimed as choice %u", rank[i] + 1);
			gain(c, names[i], fence, how);
		}
		if (r >= 0)
			es_strmap_del(c->free_since, names[i]);
	}
out:
	/* forget floors that are not free any more */
	if (ok) {
		size_t b = 0;
		char **gone = NULL;
		size_t ng = 0;
		for (struct es_strmap_entry *e = es_strmap_next(c->free_since, &b, NULL); e; e = es_strmap_next(c->free_since, &b, e)) {
			bool still = false;
			for (size_t i = 0; i < p.nf && !still; i++)
				still = strcmp(p.free[i], e->key) == 0;
			if (!still) {
				char **g = realloc(gone, (ng + 1) * sizeof(*g));
				if (!g)
					break;
				gone = g;
				gone[ng++] = strdup(e->key);
			}
		}
		for (size_t i = 0; i < ng; i++) {
			if (gone[i])
				es_strmap_del(c->free_since, gone[i]);
			free(gone[i]);
		}
		free(gone);
	}
	free(names);
	free(rank);
	free(p.d);
	free(p.ids);
	free(p.free);
}

void es_cluster_floors_step(struct es_cluster *c, int64_t now)
{
	reconcile(c);
	if (!c->no_claims && !c->draining && c->registered && c->reachable)
		place(c, now);
}

void es_cluster_floors_lease_lost(struct es_cluster *c)
{
	/* Nothing to undo here: the hosted floors stay hosted (their people
	 * keep talking), and once registered again reconcile() finds their
	 * keys gone and claims them again, or reports them lost. */
	(void)c;
}

/* ---- release and handover ------------------------------------------------- */

static bool hosted_fence(struct es_cluster *c, const char *floor, int64_t *fence)
{
	pthread_mutex_lock(&c->snap);
	struct es_strmap_entry *h = es_strmap_get(c->hosting, floor);
	if (h)
		*fence = h->aux;
	pthread_mutex_unlock(&c->snap);
	return h != NULL;
}

/* Remember the revision at which we gave floor away (cluster thread only). */
static void gave_away(struct es_cluster *c, const char *floor, int64_t rev)
{
	struct es_strmap_entry *g = es_strmap_put(c->given_away, floor, "", 0);
	if (g)
		g->aux = rev;
}

int es_cluster_release(struct es_cluster *c, const char *floor)
{
	int64_t fence;
	char key[ES_CLUSTER_KEY_MAX];
	if (!hosted_fence(c, floor, &fence))
		return -ENOENT;
	if (!es_cluster_key(c, key, sizeof(key), "place/owners/%s", floor))
		return -ENAMETOOLONG;
	es_cluster_seats_flush(c, true); /* its people's places first, while we may still write them */
	struct es_etcd_cmp ours = { .key = key, .target = ES_ETCD_MOD, .op = ES_ETCD_EQ, .number = fence };
	struct es_etcd_op del = { .type = ES_ETCD_OP_DELETE, .key = key };
	struct es_etcd_txn t = { .cmp = &ours, .n_cmp = 1, .success = &del, .n_success = 1 };
	struct es_etcd_txn_result res;
	int r = es_cluster_note(c, es_etcd_txn(c->etcd, &t, &res));
	int64_t rev = res.revision;
	es_etcd_txn_result_clear(&res);
	if (r < 0)
		return r;
	gave_away(c, floor, rev);
	/* r == 0: the key had moved on (or a first try whose answer was lost
	 * deleted it): either way the floor is not ours, which was asked */
	lose(c, floor, "", "");
	return 0;
}

int es_cluster_handover(struct es_cluster *c, const char *floor, const char *daemon)
{
	int64_t fence, lease = 0;
	char key[ES_CLUSTER_KEY_MAX], dkey[ES_CLUSTER_KEY_MAX];
	char address[ES_CLUSTER_ADDR_MAX + 1] = "", relay[ES_CLUSTER_ADDR_MAX + 1] = "";
	if (strcmp(daemon, c->id) == 0)
		return -EINVAL;
	if (!hosted_fence(c, floor, &fence))
		return -ENOENT;
	pthread_mutex_lock(&c->snap);
	struct es_strmap_entry *d = es_strmap_get(c->daemons, daemon);
	if (d) {
		lease = d->lease;
		es_cluster_json_str(d->val, "address", address, sizeof(address));
		es_cluster_json_str(d->val, "relay", relay, sizeof(relay));
	}
	pthread_mutex_unlock(&c->snap);
	if (!lease)
		return -EHOSTUNREACH; /* no such live daemon */
	if (!es_cluster_key(c, key, sizeof(key), "place/owners/%s", floor) ||
	    !es_cluster_key(c, dkey, sizeof(dkey), "place/daemons/%s", daemon))
		return -ENAMETOOLONG;
	es_cluster_seats_flush(c, true);
	char *val = owner_json(daemon, address, relay);
	if (!val)
		return -ENOMEM;
	/* still ours, and the target still alive under the lease we bind the
	 * key to: then the key changes hands without ever being free */
	struct es_etcd_cmp cmp[2] = {
		{ .key = key, .target = ES_ETCD_MOD, .op = ES_ETCD_EQ, .number = fence },
		{ .key = dkey, .target = ES_ETCD_LEASE, .op = ES_ETCD_EQ, .number = lease },
	};
	struct es_etcd_op put = { .type = ES_ETCD_OP_PUT, .key = key, .value = val, .value_len = strlen(val), .lease = lease };
	struct es_etcd_txn t = { .cmp = cmp, .n_cmp = 2, .success = &put, .n_success = 1 };
	struct es_etcd_op get = { .type = ES_ETCD_OP_GET, .key = key };
	t.failure = &get;
	t.n_failure = 1;
	struct es_etcd_txn_result res;
	int r = es_cluster_note(c, es_etcd_txn(c->etcd, &t, &res));
	if (r == 0) {
		/* already the target's under its lease: a first try whose answer was lost */
		const struct es_etcd_kv *kv = res.n == 1 && res.r[0].range.n == 1 ? &res.r[0].range.kvs[0] : NULL;
		if (kv && kv->lease == lease && kv->value_len == strlen(val) && memcmp(kv->value, val, kv->value_len) == 0)
			r = 1;
	}
	int64_t rev = res.revision;
	es_etcd_txn_result_clear(&res);
	free(val);
	if (r < 0)
		return r;
	if (r == 0)
		return -ESTALE;
	gave_away(c, floor, rev);
	lose(c, floor, daemon, address);
	return 0;
}

/* ---- seats ------------------------------------------------------------------ */

int es_cluster_seat(struct es_cluster *c, const char *floor, const uint8_t key[static ES_CLUSTER_KEY_LEN],
	float x, float y, float facing)
{
	if (!floor || !es_cluster_valid_name(floor, false))
		return -EINVAL;
	char hex[65], k[ES_CLUSTER_ID_MAX + 80], v[96];
	es_cluster_hex(key, hex);
	snprintf(k, sizeof(k), "%s/%s", floor, hex);
	int n = snprintf(v, sizeof(v), "%.2f %.2f %.3f %lld", (double)x, (double)y, (double)facing,
		(long long)time(NULL));
	int r = 0;
	pthread_mutex_lock(&c->q);
	if (es_strmap_count(c->pending_seats) >= ES_CLUSTER_SEATS_MAX && !es_strmap_get(c->pending_seats, k))
		r = -EAGAIN;
	else if (!es_strmap_put(c->pending_seats, k, v, (size_t)n))
		r = -ENOMEM;
	pthread_mutex_unlock(&c->q);
	if (r == 0) {
		pthread_mutex_lock(&c->snap);
		if (es_strmap_get(c->hosting, floor))
			es_strmap_put(c->seats, k, v, (size_t)n);
		pthread_mutex_unlock(&c->snap);
	}
	return r;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp((*(struct es_strmap_entry *const *)a)->key, (*(struct es_strmap_entry *const *)b)->key);
}

/* Put the batch's entries back where no newer one came meanwhile. */
static void requeue(struct es_cluster *c, struct es_strmap_entry **e, size_t n)
{
	pthread_mutex_lock(&c->q);
	for (size_t i = 0; i < n; i++)
		if (!es_strmap_get(c->pending_seats, e[i]->key))
			es_strmap_put(c->pending_seats, e[i]->key, e[i]->val, e[i]->val_len);
	pthread_mutex_unlock(&c->q);
}

void es_cluster_seats_flush(struct es_cluster *c, bool force)
{
	(void)force;
	struct es_strmap *batch = es_strmap_new();
	if (!batch)
		return;
	pthread_mutex_lock(&c->q);
	es_strmap_swap(batch, c->pending_seats);
	pthread_mutex_unlock(&c->q);
	size_t n = es_strmap_count(batch);
	if (!n) {
		es_strmap_free(batch);
		return;
	}
	struct es_strmap_entry **e = calloc(n, sizeof(*e));
	struct es_etcd_op *ops = calloc(ES_CLUSTER_SEATS_PER_TXN, sizeof(*ops));
	char (*keys)[ES_CLUSTER_KEY_MAX] = calloc(ES_CLUSTER_SEATS_PER_TXN, sizeof(*keys));
	if (!e || !ops || !keys) {
		/* put them back one by one: no memory for the batch now */
		size_t b = 0;
		pthread_mutex_lock(&c->q);
		for (struct es_strmap_entry *x = es_strmap_next(batch, &b, NULL); x; x = es_strmap_next(batch, &b, x))
			if (!es_strmap_get(c->pending_seats, x->key))
				es_strmap_put(c->pending_seats, x->key, x->val, x->val_len);
		pthread_mutex_unlock(&c->q);
		goto out;
	}
	size_t b = 0, k = 0;
	for (struct es_strmap_entry *x = es_strmap_next(batch, &b, NULL); x; x = es_strmap_next(batch, &b, x))
		e[k++] = x;
	if (!c->reachable || !c->registered) {
		requeue(c, e, n); /* they wait, newest per person */
		goto out;
	}
	/* sorted by key: each floor's seats are one run */
	qsort(e, n, sizeof(*e), cmp_entry);
	for (size_t i = 0; i < n;) {
		const char *slash = strchr(e[i]->key, '/');
		size_t fl = slash ? (size_t)(slash - e[i]->key) : 0;
		char floor[ES_CLUSTER_ID_MAX + 1];
		snprintf(floor, sizeof(floor), "%.*s", (int)fl, e[i]->key);
		size_t end = i;
		while (end < n && strncmp(e[end]->key, floor, fl) == 0 && e[end]->key[fl] == '/')
			end++;
		int64_t fence;
		char okey[ES_CLUSTER_KEY_MAX];
		if (!hosted_fence(c, floor, &fence) || !es_cluster_key(c, okey, sizeof(okey), "place/owners/%s", floor)) {
			ES_STAT_ADD(c, seats_dropped, end - i); /* not ours (any more): not ours to write */
			i = end;
			continue;
		}
		while (i < end) {
			size_t m = 0;
			for (; i + m < end && m < ES_CLUSTER_SEATS_PER_TXN; m++) {
				snprintf(keys[m], sizeof(keys[m]), "%sseats/%s", c->prefix, e[i + m]->key);
				ops[m] = (struct es_etcd_op){ .type = ES_ETCD_OP_PUT, .key = keys[m],
					.value = e[i + m]->val, .value_len = e[i + m]->val_len };
			}
			struct es_etcd_cmp fenced = { .key = okey, .target = ES_ETCD_MOD, .op = ES_ETCD_EQ, .number = fence };
			struct es_etcd_txn t = { .cmp = &fenced, .n_cmp = 1, .success = ops, .n_success = m };
			int r = es_cluster_note(c, es_etcd_txn(c->etcd, &t, NULL));
			if (r < 0) {
				requeue(c, e + i, n - i);
				goto out;
			}
			if (r == 0) {
				/* the fence moved: the floor is changing hands; reconcile will say */
				ES_STAT_ADD(c, seats_dropped, end - i);
				es_cluster_wake(c);
				i = end;
				break;
			}
			pthread_mutex_lock(&c->st);
			c->stats.seat_batches++;
			c->stats.seats_written += m;
			pthread_mutex_unlock(&c->st);
			i += m;
		}
	}
out:
	free(e);
	free(ops);
	free(keys);
	es_strmap_free(batch);
}
