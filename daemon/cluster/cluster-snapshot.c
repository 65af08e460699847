/* SPDX-License-Identifier: MIT */
/*
 * The local snapshot of the company (cluster-private.h): the watches of
 * P place/ and P office/ write it, anyone reads it.  The place watch only
 * updates tables and wakes the cluster thread, which decides what the
 * changes mean for this daemon's floors; the office watch also turns each
 * change of a record into a RECORD event for the daemon.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <unistd.h>

#include "cluster-private.h"

bool es_cluster_json_str(const char *json, const char *field, char *out, size_t cap)
{
	struct json_object *o = json_tokener_parse(json), *v;
	bool ok = o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, field, &v) &&
		json_object_is_type(v, json_type_string);
	if (ok)
		snprintf(out, cap, "%s", json_object_get_string(v));
	else if (cap)
		out[0] = 0;
	json_object_put(o);
	return ok;
}

int64_t es_cluster_json_int(const char *json, const char *field)
{
	struct json_object *o = json_tokener_parse(json), *v;
	int64_t r = 0;
	if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, field, &v))
		r = json_object_get_int64(v);
	json_object_put(o);
	return r;
}

static bool json_flag(const char *json, const char *field)
{
	struct json_object *o = json_tokener_parse(json), *v;
	bool r = o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, field, &v) &&
		json_object_get_boolean(v);
	json_object_put(o);
	return r;
}

/* ---- place/ --------------------------------------------------------------- */

/* The table a place/ key belongs in, and the name after its folder. */
static struct es_strmap *place_table(struct es_cluster *c, const char *key, const char **name)
{
	size_t pl = strlen(c->prefix) + strlen("place/");
	if (strlen(key) <= pl)
		return NULL;
	const char *rel = key + pl;
	static const struct { const char *dir; size_t off; } dirs[] = {
		{ "daemons/", offsetof(struct es_cluster, daemons) },
		{ "floors/", offsetof(struct es_cluster, floorset) },
		{ "owners/", offsetof(struct es_cluster, owners) },
	};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		size_t dl = strlen(dirs[i].dir);
		if (strncmp(rel, dirs[i].dir, dl) == 0 && rel[dl] && !strchr(rel + dl, '/')) {
			*name = rel + dl;
			return *(struct es_strmap **)((char *)c + dirs[i].off);
		}
	}
	return NULL; /* not ours (a newer daemon's key): ignored */
}

static void place_apply(struct es_cluster *c, const struct es_etcd_event *ev)
{
	const char *name;
	struct es_strmap *m = place_table(c, ev->kv.key, &name);
	if (!m)
		return;
	if (ev->type == ES_ETCD_EV_DELETE) {
		es_strmap_del(m, name);
		return;
	}
	struct es_strmap_entry *e = es_strmap_put(m, name, ev->kv.value, ev->kv.value_len);
	if (e) {
		e->mod_rev = ev->kv.mod_rev;
		e->lease = ev->kv.lease;
	}
}

void es_cluster_on_place(void *arg, enum es_etcd_watch_status st, int err, const struct es_etcd_event *ev,
	size_t n, int64_t revision)
{
	struct es_cluster *c = arg;
	if (st == ES_ETCD_WATCH_DOWN || st == ES_ETCD_WATCH_UP) {
		/* lost the stream: let the cluster thread find out whether etcd is there */
		pthread_mutex_lock(&c->q);
		if (st == ES_ETCD_WATCH_DOWN)
			c->probe = true;
		c->poke = true;
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->q);
		return;
	}
	pthread_mutex_lock(&c->snap);
	if (st == ES_ETCD_WATCH_SNAPSHOT) {
		es_strmap_clear(c->daemons);
		es_strmap_clear(c->floorset);
		es_strmap_clear(c->owners);
		c->place_synced = true;
	}
	for (size_t i = 0; i < n; i++)
		place_apply(c, &ev[i]);
	if (revision > c->place_rev)
		c->place_rev = revision;
	c->place_gen++;
	pthread_mutex_unlock(&c->snap);
	es_cluster_wake(c);
}

/* ---- office/ --------------------------------------------------------------- */

/* The record an office/ key is (false: not one the daemon hears about). */
static bool office_record(const char *rel, enum es_cluster_record *kind, const char **id)
{
	static const struct { const char *dir; enum es_cluster_record kind; } dirs[] = {
		{ "people/", ES_CLUSTER_REC_PERSON }, { "desks/", ES_CLUSTER_REC_DESK },
		{ "mutes/", ES_CLUSTER_REC_MUTE }, { "locks/", ES_CLUSTER_REC_LOCK },
	};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		size_t dl = strlen(dirs[i].dir);
		if (strncmp(rel, dirs[i].dir, dl) == 0 && rel[dl]) {
			*kind = dirs[i].kind;
			*id = rel + dl;
			return true;
		}
	}
	return false;
}

static void record_text(enum es_cluster_record kind, const char *val, char *text, size_t cap)
{
	if (kind == ES_CLUSTER_REC_PERSON)
		es_cluster_json_str(val, "name", text, cap);
	else
		snprintf(text, cap, "%s", val);
}

static void record_event(struct es_cluster *c, const char *rel, const char *val, bool deleted)
{
	struct es_cluster_event e = { .type = ES_CLUSTER_RECORD, .deleted = deleted };
	const char *id;
	if (!office_record(rel, &e.record, &id))
		return;
	snprintf(e.id, sizeof(e.id), "%s", id);
	if (!deleted)
		record_text(e.record, val, e.text, sizeof(e.text));
	es_cluster_emit(c, &e);
}

/*
 * A change is applied under snap and its event pushed after, under q: the
 * two locks are never held together.  The events of one callback are
 * collected first (bounded: a snapshot of 100,000 people is too many to
 * queue, and then the daemon gets RESYNC and reads the table).
 */
void es_cluster_on_office(void *arg, enum es_etcd_watch_status st, int err, const struct es_etcd_event *ev,
	size_t n, int64_t revision)
{
	struct es_cluster *c = arg;
	if (st == ES_ETCD_WATCH_DOWN || st == ES_ETCD_WATCH_UP)
		return; /* the place watch already tells the cluster thread */
	size_t pl = strlen(c->prefix) + strlen("office/");
	if (st == ES_ETCD_WATCH_SNAPSHOT) {
		/* diff the new picture against the old one, so the daemon's
		 * mirror stays exact even after a compaction forced a re-list */
		struct es_strmap *fresh = es_strmap_new(), *changes = es_strmap_new();
		if (!fresh || !changes) {
			es_strmap_free(fresh);
			es_strmap_free(changes);
			return;
		}
		for (size_t i = 0; i < n; i++) {
			if (strlen(ev[i].kv.key) <= pl)
				continue;
			struct es_strmap_entry *e = es_strmap_put(fresh, ev[i].kv.key + pl, ev[i].kv.value, ev[i].kv.value_len);
			if (e)
				e->mod_rev = ev[i].kv.mod_rev;
		}
		size_t b = 0;
		pthread_mutex_lock(&c->snap);
		for (struct es_strmap_entry *e = es_strmap_next(fresh, &b, NULL); e; e = es_strmap_next(fresh, &b, e)) {
			struct es_strmap_entry *o = es_strmap_get(c->office, e->key);
			if (!o || o->mod_rev != e->mod_rev)
				es_strmap_put(changes, e->key, e->val, e->val_len);
		}
		for (struct es_strmap_entry *o = es_strmap_next(c->office, &b, NULL); o; o = es_strmap_next(c->office, &b, o)) {
			struct es_strmap_entry *d;
			if (!es_strmap_get(fresh, o->key) && (d = es_strmap_put(changes, o->key, "", 0)))
				d->aux = 1; /* deleted */
		}
		es_strmap_swap(c->office, fresh);
		pthread_mutex_unlock(&c->snap);
		if (es_strmap_count(changes) > ES_CLUSTER_EVENTS / 2) {
			/* too many to tell one by one (a first listing of a large
			 * company): the daemon gets RESYNC and reads the tables */
			pthread_mutex_lock(&c->q);
			c->ev_overflow = true;
			if (write(c->efd, &(uint64_t){ 1 }, sizeof(uint64_t)) < 0) {
			}
			pthread_mutex_unlock(&c->q);
		} else {
			for (struct es_strmap_entry *e = es_strmap_next(changes, &b, NULL); e; e = es_strmap_next(changes, &b, e))
				record_event(c, e->key, e->val, e->aux != 0);
		}
		es_strmap_free(fresh);
		es_strmap_free(changes);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *key = ev[i].kv.key;
		if (strlen(key) <= pl)
			continue;
		const char *rel = key + pl;
		bool deleted = ev[i].type == ES_ETCD_EV_DELETE;
		pthread_mutex_lock(&c->snap);
		if (deleted) {
			es_strmap_del(c->office, rel);
		} else {
			struct es_strmap_entry *e = es_strmap_put(c->office, rel, ev[i].kv.value, ev[i].kv.value_len);
			if (e)
				e->mod_rev = ev[i].kv.mod_rev;
		}
		pthread_mutex_unlock(&c->snap);
		record_event(c, rel, ev[i].kv.value, deleted);
	}
	(void)err;
	(void)revision;
}

/* ---- reads ----------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of m, sorted, as pointers into m (valid while snap is held).  NULL if empty or ENOMEM. */
static const char **sorted_keys(struct es_strmap *m, size_t *n)
{
	*n = es_strmap_count(m);
	if (!*n)
		return NULL;
	const char **k = malloc(*n * sizeof(*k));
	if (!k) {
		*n = 0;
		return NULL;
	}
	size_t b = 0, i = 0;
	for (struct es_strmap_entry *e = es_strmap_next(m, &b, NULL); e; e = es_strmap_next(m, &b, e))
		k[i++] = e->key;
	qsort(k, *n, sizeof(*k), cmp_str);
	return k;
}

static void fill_daemon(struct es_cluster *c, const char *id, const char *val, struct es_cluster_daemon *d)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->id, sizeof(d->id), "%s", id);
	es_cluster_json_str(val, "address", d->address, sizeof(d->address));
	es_cluster_json_str(val, "relay", d->relay, sizeof(d->relay));
	d->load = (uint32_t)es_cluster_json_int(val, "load");
	d->capacity = (uint32_t)es_cluster_json_int(val, "capacity");
	d->floors = (uint32_t)es_cluster_json_int(val, "floors");
	d->draining = json_flag(val, "draining");
	d->self = strcmp(id, c->id) == 0;
}

size_t es_cluster_daemons(struct es_cluster *c, struct es_cluster_daemon *out, size_t max)
{
	pthread_mutex_lock(&c->snap);
	size_t n;
	const char **k = sorted_keys(c->daemons, &n);
	for (size_t i = 0; i < n && i < max; i++)
		fill_daemon(c, k[i], es_strmap_get(c->daemons, k[i])->val, &out[i]);
	pthread_mutex_unlock(&c->snap);
	free(k);
	return n;
}

/* snap held */
static void fill_floor(struct es_cluster *c, const char *name, struct es_cluster_floor *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	struct es_strmap_entry *o = es_strmap_get(c->owners, name);
	if (o) {
		es_cluster_json_str(o->val, "daemon", f->owner, sizeof(f->owner));
		es_cluster_json_str(o->val, "address", f->address, sizeof(f->address));
		es_cluster_json_str(o->val, "relay", f->relay, sizeof(f->relay));
	}
	f->hosted = es_strmap_get(c->hosting, name) != NULL;
}

size_t es_cluster_floors(struct es_cluster *c, struct es_cluster_floor *out, size_t max)
{
	pthread_mutex_lock(&c->snap);
	size_t n;
	const char **k = sorted_keys(c->floorset, &n);
	for (size_t i = 0; i < n && i < max; i++)
		fill_floor(c, k[i], &out[i]);
	pthread_mutex_unlock(&c->snap);
	free(k);
	return n;
}

int es_cluster_floor_owner(struct es_cluster *c, const char *floor, struct es_cluster_floor *out)
{
	struct es_cluster_floor f;
	pthread_mutex_lock(&c->snap);
	fill_floor(c, floor, &f);
	pthread_mutex_unlock(&c->snap);
	if (out)
		*out = f;
	if (f.hosted)
		return 1;
	return f.owner[0] ? 0 : -ENOENT;
}

int es_cluster_record_get(struct es_cluster *c, enum es_cluster_record kind, const char *id, char *text, size_t cap)
{
	static const char *dir[] = {
		[ES_CLUSTER_REC_PERSON] = "people", [ES_CLUSTER_REC_DESK] = "desks",
		[ES_CLUSTER_REC_MUTE] = "mutes", [ES_CLUSTER_REC_LOCK] = "locks",
	};
	if ((unsigned)kind > ES_CLUSTER_REC_LOCK || !id)
		return -EINVAL;
	char rel[ES_CLUSTER_KEY_MAX];
	snprintf(rel, sizeof(rel), "%s/%s", dir[kind], id);
	int r = -ENOENT;
	pthread_mutex_lock(&c->snap);
	struct es_strmap_entry *e = es_strmap_get(c->office, rel);
	if (e) {
		record_text(kind, e->val, text, cap);
		r = 0;
	}
	pthread_mutex_unlock(&c->snap);
	return r;
}

int es_cluster_seat_get(struct es_cluster *c, const char *floor, const uint8_t key[static ES_CLUSTER_KEY_LEN],
	float *x, float *y, float *facing)
{
	char hex[65], k[ES_CLUSTER_ID_MAX + 80];
	es_cluster_hex(key, hex);
	snprintf(k, sizeof(k), "%s/%s", floor, hex);
	int r = -ENOENT;
	pthread_mutex_lock(&c->snap);
	struct es_strmap_entry *e = es_strmap_get(c->seats, k);
	if (e && sscanf(e->val, "%f %f %f", x, y, facing) == 3)
		r = 0;
	pthread_mutex_unlock(&c->snap);
	return r;
}

size_t es_cluster_record_each(struct es_cluster *c, enum es_cluster_record kind,
	void (*fn)(void *arg, const char *id, const char *text), void *arg)
{
	size_t n = 0, b = 0;
	char text[ES_CLUSTER_TEXT_MAX + 1];
	pthread_mutex_lock(&c->snap);
	for (struct es_strmap_entry *e = es_strmap_next(c->office, &b, NULL); e; e = es_strmap_next(c->office, &b, e)) {
		enum es_cluster_record k;
		const char *id;
		if (!office_record(e->key, &k, &id) || k != kind)
			continue;
		record_text(k, e->val, text, sizeof(text));
		fn(arg, id, text);
		n++;
	}
	pthread_mutex_unlock(&c->snap);
	return n;
}
