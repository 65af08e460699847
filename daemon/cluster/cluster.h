/* SPDX-License-Identifier: MIT */
/*
 * The cluster module: this daemon's place in a company of daemons
 * (docs/CLUSTER.md), kept in etcd.  It registers the daemon under a lease,
 * owns floors through keys bound to that lease, claims free floors when
 * placement picks this daemon, keeps a local snapshot of the daemons, the
 * floor owners and the company's shared records, and writes what the
 * daemon asks (seats in batches, enrolments, invites, desks, mutes, locks).
 *
 * Threads.  es_cluster_new starts the cluster thread, which makes every
 * etcd call, and two watch threads that keep the snapshot current.  No
 * function here waits on etcd or on the network:
 *   - reads (es_cluster_floor_owner, es_cluster_daemons, es_cluster_floors,
 *     es_cluster_record_get, es_cluster_seat_get, es_cluster_get_stats)
 *     copy out of the snapshot under a mutex that is only ever held for a
 *     table lookup or copy (never across I/O);
 *   - writes (es_cluster_submit, es_cluster_seat, es_cluster_set_load) put
 *     the request in a bounded queue and return at once;
 *   - what happened comes back as events: es_cluster_poll takes them, and
 *     es_cluster_fd() is an eventfd that is readable while any wait, for
 *     the daemon's poll/epoll loop (or poll es_cluster_poll once a tick).
 * Every function may be called from any thread, except es_cluster_free
 * (the owner, once, when no other thread calls in any more).
 *
 * Ownership.  Every pointer passed in is read during the call and not
 * kept (the config's strings are copied).  Every out-buffer is the
 * caller's.
 *
 * etcd unreachable.  The daemon keeps what it has: floors it hosts stay
 * its own (no FLOOR_LOST is sent while etcd cannot be asked), the
 * snapshot stays as last seen (enrolled people can still be admitted),
 * seats wait in the queue (newest per person), requests fail with
 * -ENOTCONN, placement waits.  One ES_CLUSTER_UNREACHABLE event and one
 * log line say so, stats.unreachable counts the outages and
 * stats.reachable is the gauge; when etcd answers again the lease is
 * renewed (or, if it expired, a new one is taken and the floors claimed
 * again), queued seats are written, and one ES_CLUSTER_REACHABLE event
 * and one log line say so.  A floor that another daemon took meanwhile
 * (ours had expired) is then reported lost.
 *
 * Key schema (P = "/earshot/<company>/"; values are JSON unless said):
 *   P place/daemons/<id>          lease: the daemon's   {"address","relay","load","capacity","floors","draining"}
 *   P place/floors/<floor>        no lease              "" (the floor exists; its plan is configuration)
 *   P place/owners/<floor>        lease: the owner's    {"daemon","address","relay"}
 *   P office/people/<keyhex>      no lease              {"name","desk","invite"}  an enrolment
 *   P office/names/<name>         no lease              <keyhex>  (names are unique company-wide)
 *   P office/desks/<desk>         no lease              <keyhex>  an assigned desk
 *   P office/mutes/<keyhex>       no lease              <by whom> an admin mute
 *   P office/locks/<floor>/<room> no lease              <by whom> a locked room
 *   P invites/<hashhex>           lease: its expiry     {"name","expires"}
 *   P seats/<floor>/<keyhex>      no lease              "x y facing unix-seconds"
 * place/ and office/ are watched by every daemon; invites/ and seats/
 * are read when needed (an invite when redeemed, a floor's seats when the
 * floor is gained).  keyhex is a person's static public key in lowercase
 * hex, hashhex the BLAKE2b-256 of an invite code.
 */
#ifndef EARSHOT_CLUSTER_H
#define EARSHOT_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ES_CLUSTER_WUR __attribute__((warn_unused_result))

#define ES_CLUSTER_ID_MAX 64      /* daemon ids, company names, floor and room names, desks: bytes */
#define ES_CLUSTER_ADDR_MAX 96    /* host:port */
#define ES_CLUSTER_TEXT_MAX 128   /* a record's text in an event */
#define ES_CLUSTER_KEY_LEN 32     /* a person's static public key */

struct es_cluster_config {
	const char *endpoints;      /* etcd client URLs, comma-separated */
	const char *company;        /* the key prefix's name: [A-Za-z0-9._-], 1..64 */
	const char *daemon_id;      /* unique in the company: [A-Za-z0-9._-], 1..64 */
	const char *address;        /* host:port clients reach this daemon at */
	const char *relay_address;  /* host:port other daemons relay to (NULL: address) */
	uint32_t capacity;          /* people this daemon can host (> 0) */
	uint32_t ttl_s;             /* the lease: a dead daemon's floors are free within it (0: 3) */
	uint32_t call_timeout_ms;   /* each etcd call's budget (0: 1000) */
	uint32_t floor_weight;      /* people a floor counts for before its own come (0: 50) */
	uint32_t claim_step_ms;     /* the k-th choice for a free floor claims after k steps (0: 1000) */
	uint32_t seat_flush_ms;     /* seats are written at most this often (0: 1000) */
	uint32_t load_publish_ms;   /* a changed load is written at most this often (0: 2000) */
	uint32_t unreachable_after_ms; /* calls failing this long (timeouts, no leader) mean etcd is
	                             * unreachable (0: 3000); every member refusing means it at once.
	                             * An election (up to 2 election timeouts) is not an outage */
	const char *const *floors;  /* floors to declare if absent, at start (may be NULL) */
	size_t n_floors;
	bool no_claims;             /* take no free floor (still hosts what it is handed) */
	bool claim_at_once;         /* tests: every daemon claims a free floor as soon as it sees it,
	                             * as if each were the first choice (herd control off) */
};

/*
 * Start the module: copies cfg, starts the threads and returns at once;
 * registration and everything else happen on the cluster thread (an
 * UNREACHABLE event follows if etcd does not answer).  NULL with errno:
 * EINVAL for a bad field, ENOMEM, or a thread's error.
 */
struct es_cluster *es_cluster_new(const struct es_cluster_config *cfg);

/*
 * Leave the company and free: revoke the lease (this daemon's floors are
 * free for others at once, instead of after the TTL; one etcd call within
 * its timeout, skipped if etcd is unreachable), stop and join the threads.
 * Events not polled are dropped.  NULL is a no-op.
 */
void es_cluster_free(struct es_cluster *c);

/* ---- events ------------------------------------------------------------- */

enum es_cluster_event_type {
	ES_CLUSTER_FLOOR_GAINED,  /* floor: this daemon owns it now: host it (seats: es_cluster_seat_get) */
	ES_CLUSTER_FLOOR_LOST,    /* floor: another daemon owns it (daemon, address) or nobody (""): stop
	                           * hosting it and send its people there (or to any daemon) */
	ES_CLUSTER_DONE,          /* ticket: a request finished with result (0 or -errno) and text */
	ES_CLUSTER_RECORD,        /* a shared record changed (by any daemon): record, id, text, deleted */
	ES_CLUSTER_UNREACHABLE,   /* etcd stopped answering (result: why); floors keep running */
	ES_CLUSTER_REACHABLE,     /* etcd answers again */
	ES_CLUSTER_RESYNC,        /* events were dropped (the queue was full): re-read the snapshot */
};

enum es_cluster_record {
	ES_CLUSTER_REC_PERSON,  /* id: keyhex; text: the name (deleted: un-enrolled) */
	ES_CLUSTER_REC_DESK,    /* id: desk label; text: keyhex of its holder */
	ES_CLUSTER_REC_MUTE,    /* id: keyhex; text: by whom */
	ES_CLUSTER_REC_LOCK,    /* id: "floor/room"; text: by whom */
};

struct es_cluster_event {
	enum es_cluster_event_type type;
	int result;                               /* DONE: 0 or -errno; UNREACHABLE: the error */
	uint64_t ticket;                          /* DONE */
	enum es_cluster_record record;            /* RECORD */
	bool deleted;                             /* RECORD */
	char floor[ES_CLUSTER_ID_MAX + 1];        /* FLOOR_* */
	char daemon[ES_CLUSTER_ID_MAX + 1];       /* FLOOR_LOST: the new owner, "" if none yet */
	char address[ES_CLUSTER_ADDR_MAX + 1];    /* FLOOR_LOST: its client address */
	char id[2 * ES_CLUSTER_ID_MAX + 2];       /* RECORD */
	char text[ES_CLUSTER_TEXT_MAX + 1];       /* RECORD; DONE (an invite: the name it enrolled) */
};

/* The eventfd that is readable while events wait.  Owned by the module. */
int es_cluster_fd(const struct es_cluster *c);

/* Take up to max events, oldest first.  Returns how many.  Never blocks. */
size_t es_cluster_poll(struct es_cluster *c, struct es_cluster_event *ev, size_t max);

/* ---- requests ----------------------------------------------------------- */

enum es_cluster_req_type {
	ES_CLUSTER_ENROL,          /* key, name: enrol (names unique company-wide: -EEXIST) */
	ES_CLUSTER_FORGET,         /* key: un-enrol, with their desk and mute (-ENOENT) */
	ES_CLUSTER_INVITE_ADD,     /* hash, name, expires: a one-time invite (-EEXIST) */
	ES_CLUSTER_INVITE_REDEEM,  /* hash, key: use the invite once, company-wide, and enrol key under
	                            * its name; text = the name.  -ENOENT unknown or used,
	                            * -EKEYEXPIRED expired (not -ETIMEDOUT: that is etcd not
	                            * answering), -EEXIST name or key already enrolled */
	ES_CLUSTER_DESK,           /* key, desk: assign ("" frees theirs); -EADDRINUSE someone else's */
	ES_CLUSTER_MUTE,           /* key, on: an admin mute */
	ES_CLUSTER_LOCK,           /* floor, room, on: lock a room */
	ES_CLUSTER_RELEASE,        /* floor: give it up (FLOOR_LOST follows); not claimed again while draining */
	ES_CLUSTER_HANDOVER,       /* floor, daemon: give it to that daemon in one transaction (FLOOR_LOST
	                            * with it as the owner follows; it gets FLOOR_GAINED) */
	ES_CLUSTER_DRAIN,          /* on: take no free floor, and say so in the registration */
};

struct es_cluster_req {
	enum es_cluster_req_type type;
	uint8_t key[ES_CLUSTER_KEY_LEN];
	uint8_t hash[32];
	char name[ES_CLUSTER_ID_MAX + 1];
	char desk[ES_CLUSTER_ID_MAX + 1];
	char floor[ES_CLUSTER_ID_MAX + 1];
	char room[ES_CLUSTER_ID_MAX + 1];
	char daemon[ES_CLUSTER_ID_MAX + 1];
	char by[ES_CLUSTER_ID_MAX + 1];       /* MUTE, LOCK: who did it (for the record) */
	int64_t expires;                      /* INVITE_ADD: Unix seconds */
	bool on;
};

/*
 * Queue a request (copied).  *ticket (if not NULL) is what its DONE event
 * will carry.  0, -EINVAL for a bad field, -EAGAIN if the queue is full
 * (ES_CLUSTER_QUEUE requests wait at most).  A request that meets a
 * passing failure (an election, a member dying) is tried again for up to
 * ES_CLUSTER_RETRY_MS, and every request is safe to run twice (an answer
 * lost after etcd applied it is read back); with etcd unreachable it fails
 * at once with -ENOTCONN.
 */
#define ES_CLUSTER_RETRY_MS 5000
#define ES_CLUSTER_QUEUE 1024
ES_CLUSTER_WUR int es_cluster_submit(struct es_cluster *c, const struct es_cluster_req *req, uint64_t *ticket);

/*
 * Where a person sits on a floor this daemon hosts: kept for the next
 * batch (only the newest per person), written by the cluster thread at
 * most every seat_flush_ms in transactions of up to 127 seats, each
 * fenced on this daemon still owning the floor.  Also updates the local
 * copy es_cluster_seat_get reads.  0, -EINVAL, -EAGAIN (too many waiting:
 * 100,000).
 */
ES_CLUSTER_WUR int es_cluster_seat(struct es_cluster *c, const char *floor, const uint8_t key[static ES_CLUSTER_KEY_LEN],
	float x, float y, float facing);

/* The people this daemon hosts now (its load in the registration; written
 * when it changes by 1 % of capacity or more, at most every load_publish_ms). */
void es_cluster_set_load(struct es_cluster *c, uint32_t people);

/* ---- the snapshot ------------------------------------------------------- */

struct es_cluster_daemon {
	char id[ES_CLUSTER_ID_MAX + 1];
	char address[ES_CLUSTER_ADDR_MAX + 1];
	char relay[ES_CLUSTER_ADDR_MAX + 1];
	uint32_t load, capacity, floors;
	bool draining;
	bool self;
};

struct es_cluster_floor {
	char name[ES_CLUSTER_ID_MAX + 1];
	char owner[ES_CLUSTER_ID_MAX + 1];     /* "" if nobody owns it */
	char address[ES_CLUSTER_ADDR_MAX + 1]; /* the owner's client address */
	char relay[ES_CLUSTER_ADDR_MAX + 1];   /* the owner's relay address */
	bool hosted;                           /* this daemon hosts it (had FLOOR_GAINED) */
};

/* Live daemons (registered, lease alive), sorted by id: fills up to max and
 * returns how many there are. */
size_t es_cluster_daemons(struct es_cluster *c, struct es_cluster_daemon *out, size_t max);

/* The company's floors, sorted by name: fills up to max, returns how many. */
size_t es_cluster_floors(struct es_cluster *c, struct es_cluster_floor *out, size_t max);

/* Who owns floor: 1 this daemon hosts it, 0 another daemon owns it (out
 * says which), -ENOENT nobody does (or no such floor). */
int es_cluster_floor_owner(struct es_cluster *c, const char *floor, struct es_cluster_floor *out);

/* A shared record (see the enum): 0 and its text, or -ENOENT.  id is a
 * keyhex, a desk label, or "floor/room". */
int es_cluster_record_get(struct es_cluster *c, enum es_cluster_record kind, const char *id, char *text, size_t cap);

/* Every record of one kind, for a RESYNC: fn(arg, id, text) for each, in
 * no order, under the snapshot's lock (copy and return: do not call into
 * the module from fn).  Returns how many. */
size_t es_cluster_record_each(struct es_cluster *c, enum es_cluster_record kind,
	void (*fn)(void *arg, const char *id, const char *text), void *arg);

/* Where key last sat on floor (a hosted floor: loaded when gained, and
 * every es_cluster_seat since).  0 or -ENOENT. */
int es_cluster_seat_get(struct es_cluster *c, const char *floor, const uint8_t key[static ES_CLUSTER_KEY_LEN],
	float *x, float *y, float *facing);

/* ---- figures ------------------------------------------------------------ */

struct es_cluster_stats {
	bool reachable;              /* gauge: etcd answered the last call */
	bool registered;             /* the registration is in etcd under a live lease */
	uint64_t unreachable;        /* outages (reachable -> unreachable) */
	uint64_t unreachable_ms;     /* total time unreachable, ended outages */
	uint64_t leases_lost;        /* our lease expired while we lived: re-registered */
	uint64_t floors_hosted;      /* gauge */
	uint64_t claims, claims_won; /* claim transactions, and those that won */
	uint64_t floors_gained, floors_lost;
	uint64_t seat_batches, seats_written, seats_dropped;
	uint64_t requests, requests_failed;
	uint64_t events_dropped;
	uint64_t etcd_calls, etcd_writes, etcd_failovers; /* the cluster thread's client */
	uint64_t keepalives, load_updates;
};
void es_cluster_get_stats(struct es_cluster *c, struct es_cluster_stats *st);

/* Lowercase hex of a 32-byte key: 64 characters and a NUL. */
void es_cluster_hex(const uint8_t key[static 32], char out[static 65]);

#endif
