/* SPDX-License-Identifier: MIT */
/*
 * A small etcd v3 client over etcd's JSON gateway: the grpc-gateway every
 * etcd 3.4 member serves on its client URL (POST /v3/kv/range, /v3/kv/put,
 * /v3/kv/deleterange, /v3/kv/txn, /v3/lease/grant, /v3/lease/keepalive,
 * /v3/lease/revoke, /v3/watch), with libcurl and json-c.  Keys and values
 * travel base64-encoded, 64-bit numbers as strings; all of that stays in
 * here.  Keys are C strings (Earshot's are text); values are bytes.
 *
 * Threads.  A struct es_etcd holds one libcurl handle and its open
 * connection: one thread at a time may use it (the cluster thread owns
 * one; a test or a tool owns another).  A watch (es_etcd_watch_new) runs a
 * thread of its own with handles of its own and calls back on that thread.
 * Call curl_global_init() once before any thread starts (es_etcd_global_init
 * does it; es_etcd_new calls it too, which is enough for a single thread).
 *
 * Time.  Every call has a deadline: the timeout given to es_etcd_new (or
 * es_etcd_set_timeout) bounds the whole call, failover included.  Nothing
 * here blocks longer, and a member that accepts the connection but never
 * answers (stopped, partitioned, no leader) costs at most that.
 *
 * Failover.  endpoints is a comma-separated list of client URLs
 * ("http://10.0.0.1:2379,http://10.0.0.2:2379").  A call goes to the
 * endpoint that answered last.  On a transport failure (refused, reset,
 * timed out) or an "unavailable" answer (no leader, leader changed, member
 * stopping) it moves on to the next, round the list, while the deadline
 * allows; each attempt gets at most half the budget when there are several
 * endpoints, so one hung member leaves time for another.
 *
 * Errors are -errno:
 *   -ECONNREFUSED, -ETIMEDOUT, -ECONNRESET, -EHOSTUNREACH, -EAGAIN:
 *               no member answered in time ("unreachable"; es_etcd_unreachable()
 *               says whether an error is one of these).  -ECONNREFUSED means
 *               every member refused the connection (nothing listens: etcd
 *               is down); the others may be an election under way;
 *   -ENOENT     the lease does not exist (expired or revoked);
 *   -EINVAL     etcd refused an argument (or the caller passed a bad one);
 *   -ERANGE     a revision that is compacted or in the future;
 *   -ENOSPC     etcd's space quota is exhausted;
 *   -EACCES     authentication or permission;
 *   -EBADMSG    an answer that is not what the gateway sends;
 *   -EPROTO     any other error etcd answered;
 *   -ENOMEM.
 * A call that failed for a transport reason may still have been applied
 * (the request reached etcd, the answer did not come back), and a retry
 * after failover sends it again: puts and deletes are idempotent; a caller
 * of es_etcd_txn whose transaction is not must read back what it meant to
 * do (cluster.c does, for claims and invites).
 */
#ifndef EARSHOT_ETCD_H
#define EARSHOT_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ES_ETCD_WUR __attribute__((warn_unused_result))

#define ES_ETCD_TIMEOUT_MS 1000   /* default whole-call budget */
#define ES_ETCD_MAX_ENDPOINTS 16
#define ES_ETCD_MAX_TXN_OPS 128   /* etcd's default --max-txn-ops */

struct es_etcd;

/* One key as etcd keeps it.  key and value are malloc'd and NUL-terminated
 * (value may also hold NULs: value_len counts its bytes). */
struct es_etcd_kv {
	char *key;
	char *value;
	size_t value_len;
	int64_t create_rev;  /* revision that created it (0: absent) */
	int64_t mod_rev;     /* revision of its last change */
	int64_t version;     /* changes since created */
	int64_t lease;       /* 0: none */
};

/* The answer to a range read.  Owned by the caller: es_etcd_range_clear. */
struct es_etcd_range {
	struct es_etcd_kv *kvs;
	size_t n;
	int64_t count;       /* keys in the range (more than n when limited) */
	bool more;           /* limited: more keys follow */
	int64_t revision;    /* the store's revision the answer reflects */
};
void es_etcd_range_clear(struct es_etcd_range *r);
void es_etcd_kv_clear(struct es_etcd_kv *kv);

/* curl_global_init, once per process, before threads start.  0 or -EIO. */
ES_ETCD_WUR int es_etcd_global_init(void);

/*
 * A client of the cluster at endpoints (copied), with a whole-call budget
 * of timeout_ms (0: ES_ETCD_TIMEOUT_MS).  Nothing is contacted yet.  NULL
 * with errno: EINVAL for an empty or malformed list (each endpoint must be
 * http://host:port, at most ES_ETCD_MAX_ENDPOINTS), ENOMEM.
 */
struct es_etcd *es_etcd_new(const char *endpoints, unsigned timeout_ms);
void es_etcd_free(struct es_etcd *e); /* NULL is a no-op */
void es_etcd_set_timeout(struct es_etcd *e, unsigned timeout_ms);
/* The endpoint the next call goes to first (for logs). */
const char *es_etcd_endpoint(const struct es_etcd *e);

struct es_etcd_stats {
	uint64_t calls;            /* calls made */
	uint64_t attempts;         /* HTTP requests sent (> calls: failovers) */
	uint64_t failovers;        /* moves to another endpoint */
	uint64_t unreachable;      /* calls that failed for want of an answer */
	uint64_t errors;           /* calls etcd answered with an error */
	uint64_t writes;           /* put, delete, txn, lease grant and revoke sent */
};
void es_etcd_get_stats(const struct es_etcd *e, struct es_etcd_stats *st);

/* True if err (a -errno from a call here) means no member answered. */
bool es_etcd_unreachable(int err);

/* ---- leases ------------------------------------------------------------- */

/* A lease of ttl_s seconds.  *id and (if not NULL) *granted_ttl set.  0 or -errno. */
ES_ETCD_WUR int es_etcd_lease_grant(struct es_etcd *e, int64_t ttl_s, int64_t *id, int64_t *granted_ttl);
/* Renew lease id once.  *ttl (if not NULL) is its new TTL.  -ENOENT if it is gone. */
ES_ETCD_WUR int es_etcd_lease_keepalive(struct es_etcd *e, int64_t id, int64_t *ttl);
/* Revoke lease id: every key bound to it is deleted now.  -ENOENT if it is gone. */
ES_ETCD_WUR int es_etcd_lease_revoke(struct es_etcd *e, int64_t id);

/* ---- keys --------------------------------------------------------------- */

/* Put key = value (len bytes), bound to lease (0: none).  *rev (if not NULL)
 * is the revision of the write.  0 or -errno (-ENOENT: the lease is gone). */
ES_ETCD_WUR int es_etcd_put(struct es_etcd *e, const char *key, const void *value, size_t len,
	int64_t lease, int64_t *rev);

/*
 * Read one key (prefix false) or every key that starts with key (prefix
 * true), at revision rev (0: the latest), at most limit keys (0: no limit),
 * into *out (which the caller clears).  Returns the number of keys in
 * out->n, or -errno (*out is then empty).
 */
ES_ETCD_WUR int es_etcd_get(struct es_etcd *e, const char *key, bool prefix, int64_t rev, int64_t limit,
	struct es_etcd_range *out);

/*
 * Every key under prefix, read in pages of `page` keys (0: 500) at one
 * revision, so the whole is one consistent picture however large.
 * Returns out->n or -errno.
 */
ES_ETCD_WUR int es_etcd_get_all(struct es_etcd *e, const char *prefix, size_t page, struct es_etcd_range *out);

/* Delete key (or every key under it if prefix).  Returns how many were deleted, or -errno. */
ES_ETCD_WUR int es_etcd_delete(struct es_etcd *e, const char *key, bool prefix, int64_t *rev);

/* Compact the key history up to rev (a tool's and a test's call; etcd's
 * --auto-compaction-* flags are how a deployment does it).  0 or -errno. */
ES_ETCD_WUR int es_etcd_compact(struct es_etcd *e, int64_t rev);

/* ---- transactions ------------------------------------------------------- */

enum es_etcd_target {
	ES_ETCD_CREATE,    /* create_rev: 0 means "absent" */
	ES_ETCD_MOD,       /* mod_rev */
	ES_ETCD_VERSION,
	ES_ETCD_VALUE,
	ES_ETCD_LEASE,
};
enum es_etcd_cmp_op { ES_ETCD_EQ, ES_ETCD_NE, ES_ETCD_LT, ES_ETCD_GT };

struct es_etcd_cmp {
	const char *key;
	enum es_etcd_target target;
	enum es_etcd_cmp_op op;
	int64_t number;          /* CREATE, MOD, VERSION, LEASE */
	const void *value;       /* VALUE */
	size_t value_len;
};

enum es_etcd_op_type { ES_ETCD_OP_GET, ES_ETCD_OP_PUT, ES_ETCD_OP_DELETE };

struct es_etcd_op {
	enum es_etcd_op_type type;
	const char *key;
	bool prefix;             /* GET, DELETE: the whole prefix */
	const void *value;       /* PUT */
	size_t value_len;
	int64_t lease;           /* PUT: 0 none */
};

struct es_etcd_op_result {
	enum es_etcd_op_type type;
	int64_t deleted;         /* DELETE */
	struct es_etcd_range range; /* GET */
};

/* Owned by the caller: es_etcd_txn_result_clear. */
struct es_etcd_txn_result {
	bool succeeded;
	int64_t revision;
	struct es_etcd_op_result *r; /* one per op of the branch that ran */
	size_t n;
};
void es_etcd_txn_result_clear(struct es_etcd_txn_result *r);

struct es_etcd_txn {
	const struct es_etcd_cmp *cmp;
	size_t n_cmp;
	const struct es_etcd_op *success;  /* run if every compare holds */
	size_t n_success;
	const struct es_etcd_op *failure;  /* run otherwise */
	size_t n_failure;
};

/*
 * If every compare holds, run success, else failure, atomically.  Returns
 * 1 (success ran), 0 (failure ran) or -errno.  res may be NULL; otherwise
 * the caller clears it (also after an error: it is then empty).  At most
 * ES_ETCD_MAX_TXN_OPS operations in a branch (-E2BIG).
 */
ES_ETCD_WUR int es_etcd_txn(struct es_etcd *e, const struct es_etcd_txn *t, struct es_etcd_txn_result *res);

/* ---- watch -------------------------------------------------------------- */

enum es_etcd_event_type { ES_ETCD_EV_PUT, ES_ETCD_EV_DELETE };

struct es_etcd_event {
	enum es_etcd_event_type type;
	struct es_etcd_kv kv;   /* a DELETE has key and mod_rev only */
};

enum es_etcd_watch_status {
	ES_ETCD_WATCH_SNAPSHOT, /* ev: every key under the prefix at revision, as PUTs: replace what you had */
	ES_ETCD_WATCH_EVENTS,   /* ev: the changes since the last call, in order, up to revision */
	ES_ETCD_WATCH_DOWN,     /* the stream is lost (err); the thread reconnects by itself */
	ES_ETCD_WATCH_UP,       /* the stream is back; it resumes where it stopped, nothing is missed */
};

/*
 * Called on the watch's thread.  ev (n of them) and everything they point
 * to are valid during the call only: copy what you keep.  Keep it short
 * (take a lock, update a table, wake someone): the stream waits meanwhile.
 */
typedef void es_etcd_watch_fn(void *arg, enum es_etcd_watch_status st, int err,
	const struct es_etcd_event *ev, size_t n, int64_t revision);

struct es_etcd_watch;

/*
 * Watch every key under prefix, from start_rev (events at or after it), or
 * with start_rev 0: list the prefix first (one SNAPSHOT call) and watch
 * from the revision after it.  Starts a thread.  When the stream breaks it
 * reconnects (failover, backoff 50 ms doubling to 2 s) and resumes at the
 * revision after the last it delivered; if etcd has compacted that
 * revision away it lists again (another SNAPSHOT).  The stream asks for a
 * member with a leader, so a member cut off from the others drops it and
 * the watch moves on.  endpoints and prefix are copied.  NULL with errno.
 */
struct es_etcd_watch *es_etcd_watch_new(const char *endpoints, unsigned timeout_ms, const char *prefix,
	int64_t start_rev, es_etcd_watch_fn *fn, void *arg);

/* Stop the stream at once (or, if the thread is listing the prefix, after
 * that call: at most its timeout), join the thread and free.  No callback
 * runs after this returns.  NULL is a no-op. */
void es_etcd_watch_free(struct es_etcd_watch *w);

/* Drop the stream and reconnect now, without backoff (e.g. when the caller
 * has just seen etcd come back).  Any thread. */
void es_etcd_watch_kick(struct es_etcd_watch *w);

#endif
