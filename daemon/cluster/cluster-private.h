/* SPDX-License-Identifier: MIT */
/*
 * What the cluster module's files share: the struct, its locks, and the
 * calls one file makes into another.
 *
 *   cluster.c           lifecycle, the cluster thread's loop, the lease and
 *                       registration, reachability, events, stats
 *   cluster-snapshot.c  the two watches' callbacks and every read of the
 *                       snapshot
 *   cluster-floors.c    ownership: claims, placement, reconcile, release,
 *                       handover, seats
 *   cluster-records.c   the company's shared records: enrolments, invites,
 *                       desks, mutes, locks
 *
 * Locks.  snap guards the snapshot tables (written by the watch threads
 * and, for hosting and seats, by the cluster thread; read by anyone).  q
 * guards the request queue, the event queue, the pending seats and the
 * wake-up flags.  st guards the stats.  No thread holds two of them at
 * once, and none is held across an etcd call.
 */
#ifndef EARSHOT_CLUSTER_PRIVATE_H
#define EARSHOT_CLUSTER_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"
#include "etcd.h"
#include "strmap.h"

#define ES_CLUSTER_EVENTS 4096
#define ES_CLUSTER_SEATS_MAX 100000
#define ES_CLUSTER_SEATS_PER_TXN (ES_ETCD_MAX_TXN_OPS - 1)
#define ES_CLUSTER_PROBE_MS 500   /* how often an unreachable etcd is asked again */
#define ES_CLUSTER_KEY_MAX 512

struct es_cluster {
	/* configuration: set by es_cluster_new, then read-only */
	char company[ES_CLUSTER_ID_MAX + 1];
	char id[ES_CLUSTER_ID_MAX + 1];
	char address[ES_CLUSTER_ADDR_MAX + 1];
	char relay[ES_CLUSTER_ADDR_MAX + 1];
	char prefix[ES_CLUSTER_ID_MAX + 16];   /* "/earshot/<company>/" */
	char *endpoints;
	uint32_t capacity, ttl_s, call_timeout_ms, floor_weight, claim_step_ms, seat_flush_ms, load_publish_ms;
	uint32_t unreachable_after_ms;
	char **floors;
	size_t n_floors;
	bool no_claims, claim_at_once;

	pthread_t thread;
	struct es_etcd_watch *w_place, *w_office;

	/* ---- snapshot (snap) ---- */
	pthread_mutex_t snap;
	struct es_strmap *daemons;   /* id -> registration JSON; lease, mod_rev */
	struct es_strmap *floorset;  /* floor -> "" */
	struct es_strmap *owners;    /* floor -> owner JSON; lease, mod_rev */
	struct es_strmap *office;    /* "people/<k>", "desks/<d>", ... -> value */
	struct es_strmap *hosting;   /* floor -> ""; aux: the fence (owner key's mod_rev). Cluster thread writes */
	struct es_strmap *seats;     /* "<floor>/<keyhex>" -> "x y facing t" for hosted floors */
	int64_t place_rev;           /* the newest revision the place watch delivered */
	uint64_t place_gen;          /* bumped by each place change */
	bool place_synced;

	/* ---- queues (q) ---- */
	pthread_mutex_t q;
	pthread_cond_t wake;
	bool stop, poke, probe;
	struct es_cluster_req *req;  /* ring of ES_CLUSTER_QUEUE */
	uint64_t *req_ticket;
	int64_t *req_at;             /* when it was submitted */
	uint8_t *req_tries;          /* how many times it has run */
	size_t req_head, req_n;
	uint64_t next_ticket;
	struct es_cluster_event *ev; /* ring of ES_CLUSTER_EVENTS */
	size_t ev_head, ev_n;
	bool ev_overflow;
	int efd;
	struct es_strmap *pending_seats; /* "<floor>/<keyhex>" -> value */
	atomic_uint load;

	/* ---- stats (st) ---- */
	pthread_mutex_t st;
	struct es_cluster_stats stats;

	/* ---- the cluster thread's own ---- */
	struct es_etcd *etcd;
	int64_t lease;
	bool registered;
	bool reachable;
	bool draining;
	bool floors_declared;
	int64_t down_since_ms;
	int64_t fail_since_ms;          /* the first failure of the current streak, 0: none */
	int64_t req_retry_ms;           /* the head request waits until then */
	int64_t next_keepalive_ms, next_seat_ms, next_load_ms, next_register_ms;
	uint32_t pub_load, pub_floors;
	bool pub_draining;
	uint64_t seen_place_gen;
	struct es_strmap *free_since;   /* floor -> aux: when this thread first saw it free */
	struct es_strmap *given_away;   /* floor -> aux: the revision at which we released or handed it over */
	int64_t next_claim_ms;          /* the earliest herd step waiting */
};

/* cluster.c */
void es_cluster_emit(struct es_cluster *c, const struct es_cluster_event *ev);
/* Every etcd call's result goes through here: tracks reachability.  Returns r. */
int es_cluster_note(struct es_cluster *c, int r);
void es_cluster_stat_add(struct es_cluster *c, size_t offset, uint64_t n);
#define ES_STAT_ADD(c, field, n) es_cluster_stat_add((c), offsetof(struct es_cluster_stats, field), (n))
/* k = P + rel (P the company prefix); false if it does not fit */
bool es_cluster_key(const struct es_cluster *c, char *k, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void es_cluster_wake(struct es_cluster *c);
bool es_cluster_valid_name(const char *s, bool slash_ok);

/* cluster-snapshot.c */
es_etcd_watch_fn es_cluster_on_place, es_cluster_on_office;
/* The string field of a JSON value (copied into out, cap bytes), or false. */
bool es_cluster_json_str(const char *json, const char *field, char *out, size_t cap);
int64_t es_cluster_json_int(const char *json, const char *field);

/* cluster-floors.c */
void es_cluster_floors_step(struct es_cluster *c, int64_t now);
void es_cluster_seats_flush(struct es_cluster *c, bool force);
int es_cluster_release(struct es_cluster *c, const char *floor);
int es_cluster_handover(struct es_cluster *c, const char *floor, const char *daemon);
size_t es_cluster_hosted_count(struct es_cluster *c);
/* Put back hosted floors that were deleted while our lease was gone. */
void es_cluster_floors_lease_lost(struct es_cluster *c);

/* cluster-records.c */
/* retry: it ran before and failed for want of an answer (it may have been applied) */
int es_cluster_run_request(struct es_cluster *c, const struct es_cluster_req *r, bool retry, char *text, size_t cap);
int es_cluster_check_request(const struct es_cluster_req *r);

#endif
