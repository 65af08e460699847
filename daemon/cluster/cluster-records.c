/* SPDX-License-Identifier: MIT */
/*
 * The company's shared records (cluster.h, "Key schema"), each change one
 * etcd transaction run by the cluster thread for a queued request.
 *
 * A person is three keys kept together: office/people/<keyhex> (name,
 * desk, the invite that enrolled them), office/names/<name> (so a name is
 * unique company-wide) and, with a desk, office/desks/<desk>.  Every
 * change compares what it read (create_revision 0 for "absent",
 * mod_revision otherwise) so that two daemons changing the same person at
 * once cannot interleave; the one that loses reads again.
 *
 * An invite is used once, company-wide: the transaction that enrols its
 * holder also deletes it, on condition that it is still the key that was
 * read.  Of two daemons redeeming one invite at the same moment, one
 * transaction runs and the other finds the invite gone.  A transaction
 * sent twice (its answer was lost, es_etcd failed over and sent it again)
 * finds the person enrolled with that invite, and that counts as success.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cluster-private.h"

#define TRIES 3

int es_cluster_check_request(const struct es_cluster_req *r)
{
	if (!r)
		return -EINVAL;
	switch (r->type) {
	case ES_CLUSTER_ENROL:
		return es_cluster_valid_name(r->name, true) ? 0 : -EINVAL;
	case ES_CLUSTER_FORGET:
	case ES_CLUSTER_MUTE:
	case ES_CLUSTER_INVITE_REDEEM:
		return 0;
	case ES_CLUSTER_INVITE_ADD:
		return es_cluster_valid_name(r->name, true) && r->expires > 0 ? 0 : -EINVAL;
	case ES_CLUSTER_DESK:
		return !r->desk[0] || es_cluster_valid_name(r->desk, false) ? 0 : -EINVAL;
	case ES_CLUSTER_LOCK:
		return es_cluster_valid_name(r->floor, false) && es_cluster_valid_name(r->room, false) ? 0 : -EINVAL;
	case ES_CLUSTER_RELEASE:
		return es_cluster_valid_name(r->floor, false) ? 0 : -EINVAL;
	case ES_CLUSTER_HANDOVER:
		return es_cluster_valid_name(r->floor, false) && es_cluster_valid_name(r->daemon, false) ? 0 : -EINVAL;
	case ES_CLUSTER_DRAIN:
		return 0;
	}
	return -EINVAL;
}

static char *person_json(const char *name, const char *desk, const char *invite)
{
	struct json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "name", json_object_new_string(name));
	if (desk && *desk)
		json_object_object_add(o, "desk", json_object_new_string(desk));
	if (invite && *invite)
		json_object_object_add(o, "invite", json_object_new_string(invite));
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

/* Read one key: 1 (kv filled, the caller clears it), 0 absent, -errno. */
static int get1(struct es_cluster *c, const char *key, struct es_etcd_kv *kv)
{
	struct es_etcd_range r;
	memset(kv, 0, sizeof(*kv));
	int n = es_cluster_note(c, es_etcd_get(c->etcd, key, false, 0, 0, &r));
	if (n == 1) {
		*kv = r.kvs[0];
		free(r.kvs);
		return 1;
	}
	es_etcd_range_clear(&r);
	return n < 0 ? n : 0;
}

struct person_keys {
	char hex[65];
	char people[ES_CLUSTER_KEY_MAX], mute[ES_CLUSTER_KEY_MAX];
};

static bool person_keys(struct es_cluster *c, const uint8_t key[static 32], struct person_keys *k)
{
	es_cluster_hex(key, k->hex);
	return es_cluster_key(c, k->people, sizeof(k->people), "office/people/%s", k->hex) &&
		es_cluster_key(c, k->mute, sizeof(k->mute), "office/mutes/%s", k->hex);
}

static int enrol(struct es_cluster *c, const struct es_cluster_req *q)
{
	struct person_keys pk;
	char nkey[ES_CLUSTER_KEY_MAX];
	if (!person_keys(c, q->key, &pk) || !es_cluster_key(c, nkey, sizeof(nkey), "office/names/%s", q->name))
		return -ENAMETOOLONG;
	char *val = person_json(q->name, NULL, NULL);
	if (!val)
		return -ENOMEM;
	struct es_etcd_cmp cmp[2] = {
		{ .key = nkey, .target = ES_ETCD_CREATE, .op = ES_ETCD_EQ, .number = 0 },
		{ .key = pk.people, .target = ES_ETCD_CREATE, .op = ES_ETCD_EQ, .number = 0 },
	};
	struct es_etcd_op ops[2] = {
		{ .type = ES_ETCD_OP_PUT, .key = pk.people, .value = val, .value_len = strlen(val) },
		{ .type = ES_ETCD_OP_PUT, .key = nkey, .value = pk.hex, .value_len = 64 },
	};
	struct es_etcd_op reads[2] = { { .type = ES_ETCD_OP_GET, .key = nkey }, { .type = ES_ETCD_OP_GET, .key = pk.people } };
	struct es_etcd_txn t = { .cmp = cmp, .n_cmp = 2, .success = ops, .n_success = 2, .failure = reads, .n_failure = 2 };
	struct es_etcd_txn_result res;
	int r = es_cluster_note(c, es_etcd_txn(c->etcd, &t, &res));
	free(val);
	if (r == 0) {
		/* already enrolled under this very name (a retry) is success */
		bool same = res.n == 2 && res.r[0].range.n == 1 && res.r[1].range.n == 1 &&
			res.r[0].range.kvs[0].value_len == 64 && memcmp(res.r[0].range.kvs[0].value, pk.hex, 64) == 0;
		r = same ? 1 : -EEXIST;
	}
	es_etcd_txn_result_clear(&res);
	return r < 0 ? r : 0;
}

static int forget(struct es_cluster *c, const struct es_cluster_req *q)
{
	struct person_keys pk;
	if (!person_keys(c, q->key, &pk))
		return -ENAMETOOLONG;
	for (int tries = 0; tries < TRIES; tries++) {
		struct es_etcd_kv kv;
		int r = get1(c, pk.people, &kv);
		if (r <= 0)
			return r == 0 ? -ENOENT : r;
		char name[ES_CLUSTER_ID_MAX + 1], desk[ES_CLUSTER_ID_MAX + 1];
		char nkey[ES_CLUSTER_KEY_MAX], dkey[ES_CLUSTER_KEY_MAX];
		es_cluster_json_str(kv.value, "name", name, sizeof(name));
		es_cluster_json_str(kv.value, "desk", desk, sizeof(desk));
		struct es_etcd_cmp same = { .key = pk.people, .target = ES_ETCD_MOD, .op = ES_ETCD_EQ, .number = kv.mod_rev };
		es_etcd_kv_clear(&kv);
		struct es_etcd_op ops[4] = {
			{ .type = ES_ETCD_OP_DELETE, .key = pk.people },
			{ .type = ES_ETCD_OP_DELETE, .key = pk.mute },
		};
		size_t n = 2;
		if (name[0] && es_cluster_key(c, nkey, sizeof(nkey), "office/names/%s", name))
			ops[n++] = (struct es_etcd_op){ .type = ES_ETCD_OP_DELETE, .key = nkey };
		if (desk[0] && es_cluster_key(c, dkey, sizeof(dkey), "office/desks/%s", desk))
			ops[n++] = (struct es_etcd_op){ .type = ES_ETCD_OP_DELETE, .key = dkey };
		struct es_etcd_txn t = { .cmp = &same, .n_cmp = 1, .success = ops, .n_success = n };
		r = es_cluster_note(c, es_etcd_txn(c->etcd, &t, NULL));
		if (r != 0)
			return r < 0 ? r : 0;
	}
	return -EAGAIN;
}

static int invite_add(struct es_cluster *c, const struct es_cluster_req *q, bool retry)
{
	char hex[65], ikey[ES_CLUSTER_KEY_MAX], nkey[ES_CLUSTER_KEY_MAX];
	es_cluster_hex(q->hash, hex);
	if (!es_cluster_key(c, ikey, sizeof(ikey), "invites/%s", hex) ||
	    !es_cluster_key(c, nkey, sizeof(nkey), "office/names/%s", q->name))
		return -ENAMETOOLONG;
	int64_t now = time(NULL);
	if (q->expires <= now)
		return -EINVAL;
	/* the lease only sweeps up the key a minute after it expired; whether
	 * it has expired is decided by "expires" (a lease's TTL restarts when
	 * etcd elects a new leader) */
	int64_t lease;
	int r = es_cluster_note(c, es_etcd_lease_grant(c->etcd, q->expires - now + 60, &lease, NULL));
	if (r < 0)
		return r;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(q->name));
	json_object_object_add(o, "expires", json_object_new_int64(q->expires));
	const char *val = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	struct es_etcd_cmp cmp[2] = {
		{ .key = ikey, .target = ES_ETCD_CREATE, .op = ES_ETCD_EQ, .number = 0 },
		{ .key = nkey, .target = ES_ETCD_CREATE, .op = ES_ETCD_EQ, .number = 0 },
	};
	struct es_etcd_op put = { .type = ES_ETCD_OP_PUT, .key = ikey, .value = val, .value_len = strlen(val), .lease = lease };
	struct es_etcd_txn t = { .cmp = cmp, .n_cmp = 2, .success = &put, .n_success = 1 };
	r = es_cluster_note(c, es_etcd_txn(c->etcd, &t, NULL));
	if (r == 0 && retry) {
		/* exactly this invite already there: a first try whose answer was lost */
		struct es_etcd_kv kv;
		if (get1(c, ikey, &kv) == 1) {
			if (kv.value_len == strlen(val) && memcmp(kv.value, val, kv.value_len) == 0 && kv.lease != lease)
				r = 2;
			es_etcd_kv_clear(&kv);
		}
	}
	json_object_put(o);
	if (r != 1) {
		if (es_etcd_lease_revoke(c->etcd, lease) < 0) {
			/* it expires by itself */
		}
		return r < 0 ? r : r == 2 ? 0 : -EEXIST;
	}
	return 0;
}

/* Is key enrolled through the invite hex?  1 yes (name filled), 0 no, -errno. */
static int enrolled_by(struct es_cluster *c, const struct person_keys *pk, const char *hex, char *name, size_t cap)
{
	struct es_etcd_kv kv;
	int r = get1(c, pk->people, &kv);
	if (r <= 0)
		return r;
	char inv[65];
	bool yes = es_cluster_json_str(kv.value, "invite", inv, sizeof(inv)) && strcmp(inv, hex) == 0;
	if (yes)
		es_cluster_json_str(kv.value, "name", name, cap);
	es_etcd_kv_clear(&kv);
	return yes;
}

static int invite_redeem(struct es_cluster *c, const struct es_cluster_req *q, char *text, size_t cap)
{
	char hex[65], ikey[ES_CLUSTER_KEY_MAX], nkey[ES_CLUSTER_KEY_MAX];
	struct person_keys pk;
	es_cluster_hex(q->hash, hex);
	if (!person_keys(c, q->key, &pk) || !es_cluster_key(c, ikey, sizeof(ikey), "invites/%s", hex))
		return -ENAMETOOLONG;
	struct es_etcd_kv inv;
	int r = get1(c, ikey, &inv);
	if (r < 0)
		return r;
	if (r == 0) {
		/* used: by us (a retry whose first answer was lost) or by someone else */
		r = enrolled_by(c, &pk, hex, text, cap);
		return r < 0 ? r : (r ? 0 : -ENOENT);
	}
	char name[ES_CLUSTER_ID_MAX + 1];
	es_cluster_json_str(inv.value, "name", name, sizeof(name));
	int64_t expires = es_cluster_json_int(inv.value, "expires");
	int64_t rev = inv.mod_rev;
	es_etcd_kv_clear(&inv);
	struct es_etcd_cmp still = { .key = ikey, .target = ES_ETCD_MOD, .op = ES_ETCD_EQ, .number = rev };
	struct es_etcd_op del = { .type = ES_ETCD_OP_DELETE, .key = ikey };
	if (expires <= time(NULL)) {
		struct es_etcd_txn t = { .cmp = &still, .n_cmp = 1, .success = &del, .n_success = 1 };
		if (es_cluster_note(c, es_etcd_txn(c->etcd, &t, NULL)) < 0) {
			/* the lease sweeps it up */
		}
		return -EKEYEXPIRED;
	}
	if (!es_cluster_valid_name(name, true) || !es_cluster_key(c, nkey, sizeof(nkey), "office/names/%s", name))
		return -EBADMSG;
	char *val = person_json(name, NULL, hex);
	if (!val)
		return -ENOMEM;
	/* the invite as read, the name and the key free: use it and enrol, at once */
	struct es_etcd_cmp cmp[3] = {
		still,
		{ .key = nkey, .target = ES_ETCD_CREATE, .op = ES_ETCD_EQ, .number = 0 },
		{ .key = pk.people, .target = ES_ETCD_CREATE, .op = ES_ETCD_EQ, .number = 0 },
	};
	struct es_etcd_op ops[3] = {
		del,
		{ .type = ES_ETCD_OP_PUT, .key = pk.people, .value = val, .value_len = strlen(val) },
		{ .type = ES_ETCD_OP_PUT, .key = nkey, .value = pk.hex, .value_len = 64 },
	};
	struct es_etcd_op reads[3] = {
		{ .type = ES_ETCD_OP_GET, .key = ikey }, { .type = ES_ETCD_OP_GET, .key = nkey },
		{ .type = ES_ETCD_OP_GET, .key = pk.people },
	};
	struct es_etcd_txn t = { .cmp = cmp, .n_cmp = 3, .success = ops, .n_success = 3, .failure = reads, .n_failure = 3 };
	struct es_etcd_txn_result res;
	r = es_cluster_note(c, es_etcd_txn(c->etcd, &t, &res));
	free(val);
	if (r == 1) {
		snprintf(text, cap, "%s", name);
		r = 0;
	} else if (r == 0) {
		bool inv_gone = res.n == 3 && res.r[0].range.n == 0;
		bool taken = res.n == 3 && (res.r[1].range.n || res.r[2].range.n);
		es_etcd_txn_result_clear(&res);
		if (inv_gone) {
			int e = enrolled_by(c, &pk, hex, text, cap);
			r = e < 0 ? e : (e ? 0 : -ENOENT);
		} else {
			r = taken ? -EEXIST : -EAGAIN;
		}
	}
	es_etcd_txn_result_clear(&res);
	return r;
}

static int desk(struct es_cluster *c, const struct es_cluster_req *q)
{
	struct person_keys pk;
	if (!person_keys(c, q->key, &pk))
		return -ENAMETOOLONG;
	for (int tries = 0; tries < TRIES; tries++) {
		struct es_etcd_kv kv, dk = { 0 };
		int r = get1(c, pk.people, &kv);
		if (r <= 0)
			return r == 0 ? -ENOENT : r;
		char name[ES_CLUSTER_ID_MAX + 1], old[ES_CLUSTER_ID_MAX + 1], inv[65];
		es_cluster_json_str(kv.value, "name", name, sizeof(name));
		es_cluster_json_str(kv.value, "desk", old, sizeof(old));
		es_cluster_json_str(kv.value, "invite", inv, sizeof(inv));
		int64_t prev = kv.mod_rev;
		es_etcd_kv_clear(&kv);
		if (strcmp(old, q->desk) == 0)
			return 0;
		char nkey[ES_CLUSTER_KEY_MAX], okey[ES_CLUSTER_KEY_MAX];
		struct es_etcd_cmp cmp[2] = { { .key = pk.people, .target = ES_ETCD_MOD, .op = ES_ETCD_EQ, .number = prev } };
		size_t ncmp = 1;
		if (q->desk[0]) {
			if (!es_cluster_key(c, nkey, sizeof(nkey), "office/desks/%s", q->desk))
				return -ENAMETOOLONG;
			r = get1(c, nkey, &dk);
			if (r < 0)
				return r;
			bool other = r == 1 && (dk.value_len != 64 || memcmp(dk.value, pk.hex, 64) != 0);
			int64_t drev = r == 1 ? dk.mod_rev : 0;
			es_etcd_kv_clear(&dk);
			if (other)
				return -EADDRINUSE;
			cmp[ncmp++] = drev ? (struct es_etcd_cmp){ .key = nkey, .target = ES_ETCD_MOD, .op = ES_ETCD_EQ, .number = drev }
				: (struct es_etcd_cmp){ .key = nkey, .target = ES_ETCD_CREATE, .op = ES_ETCD_EQ, .number = 0 };
		}
		char *val = person_json(name, q->desk, inv);
		if (!val)
			return -ENOMEM;
		struct es_etcd_op ops[3] = { { .type = ES_ETCD_OP_PUT, .key = pk.people, .value = val, .value_len = strlen(val) } };
		size_t n = 1;
		if (q->desk[0])
			ops[n++] = (struct es_etcd_op){ .type = ES_ETCD_OP_PUT, .key = nkey, .value = pk.hex, .value_len = 64 };
		if (old[0] && es_cluster_key(c, okey, sizeof(okey), "office/desks/%s", old))
			ops[n++] = (struct es_etcd_op){ .type = ES_ETCD_OP_DELETE, .key = okey };
		struct es_etcd_txn t = { .cmp = cmp, .n_cmp = ncmp, .success = ops, .n_success = n };
		r = es_cluster_note(c, es_etcd_txn(c->etcd, &t, NULL));
		free(val);
		if (r != 0)
			return r < 0 ? r : 0;
	}
	return -EAGAIN;
}

static int flag(struct es_cluster *c, const char *key, bool on, const char *by)
{
	if (on)
		return es_cluster_note(c, es_etcd_put(c->etcd, key, by, strlen(by), 0, NULL));
	int r = es_cluster_note(c, es_etcd_delete(c->etcd, key, false, NULL));
	return r < 0 ? r : 0;
}

int es_cluster_run_request(struct es_cluster *c, const struct es_cluster_req *q, bool retry, char *text, size_t cap)
{
	char key[ES_CLUSTER_KEY_MAX], hex[65];
	const char *by = q->by[0] ? q->by : c->id;
	text[0] = 0;
	switch (q->type) {
	case ES_CLUSTER_ENROL:
		return enrol(c, q);
	case ES_CLUSTER_FORGET: {
		int r = forget(c, q);
		/* gone already: the first try's answer was lost after it was applied */
		return retry && r == -ENOENT ? 0 : r;
	}
	case ES_CLUSTER_INVITE_ADD:
		return invite_add(c, q, retry);
	case ES_CLUSTER_INVITE_REDEEM:
		return invite_redeem(c, q, text, cap);
	case ES_CLUSTER_DESK:
		return desk(c, q);
	case ES_CLUSTER_MUTE:
		es_cluster_hex(q->key, hex);
		if (!es_cluster_key(c, key, sizeof(key), "office/mutes/%s", hex))
			return -ENAMETOOLONG;
		return flag(c, key, q->on, by);
	case ES_CLUSTER_LOCK:
		if (!es_cluster_key(c, key, sizeof(key), "office/locks/%s/%s", q->floor, q->room))
			return -ENAMETOOLONG;
		return flag(c, key, q->on, by);
	case ES_CLUSTER_RELEASE:
		return es_cluster_release(c, q->floor);
	case ES_CLUSTER_HANDOVER:
		return es_cluster_handover(c, q->floor, q->daemon);
	case ES_CLUSTER_DRAIN:
		c->draining = q->on;
		c->next_load_ms = 0; /* say so in the registration at once */
		return 0;
	}
	return -EINVAL;
}
