/* SPDX-License-Identifier: MIT */
/*
 * earshotd metrics: Prometheus text exposition (format 0.0.4) over HTTP,
 * GET /metrics, served by libmicrohttpd from its own thread.
 *
 * The tick loop owns a struct es_metrics_snapshot, updates it as it goes
 * (plain increments, no atomics), and calls es_metrics_publish() once per
 * tick (or every few ticks).  Publishing copies the snapshot under a mutex;
 * the HTTP thread takes the same mutex only to copy it out again and then
 * formats the copy without the lock.  So the tick thread can wait at most
 * for one memcpy of a few hundred bytes (well under a microsecond), never
 * for a slow scraper or a socket.  A seqlock would avoid even that, but a
 * correct one in C11 needs every field to be an atomic; the mutex is
 * simpler to get right and costs nothing measurable at 50 Hz.
 *
 * Counters (_total) are cumulative since start and never go down; gauges
 * are the value at the last publish.
 */
#ifndef EARSHOT_METRICS_H
#define EARSHOT_METRICS_H

#include <stdint.h>

#include "config.h"

enum es_drop_reason {
	ES_DROP_MALFORMED,
	ES_DROP_UNKNOWN_TYPE,
	ES_DROP_TAMPERED,
	ES_DROP_REPLAYED,
	ES_DROP_STALE,
	ES_DROP_UNAUTHENTICATED,
	ES_DROP_RATE_LIMITED,
	ES_DROP_COOKIE,
	ES_DROP_OVERSIZE,
	ES_DROP_LATE,
	ES_DROP_FRAGMENT,     /* ENet fragments refused before ENet allocates for them */
	ES_DROP_ENET_COMMAND, /* other ENet commands refused: unreliable, too far ahead */
	ES_DROP__COUNT,
};

enum es_hs_failure {
	ES_HS_FAIL_MALFORMED,
	ES_HS_FAIL_DECRYPT,      /* AEAD or MAC check failed */
	ES_HS_FAIL_UNKNOWN_KEY,  /* not on the allowlist, no valid invite */
	ES_HS_FAIL_REPLAYED,     /* timestamp not newer than the last one */
	ES_HS_FAIL_BAD_INVITE,   /* unknown, used or expired invite code */
	ES_HS_FAIL_TIMEOUT,      /* not completed within the deadline */
	ES_HS_FAIL_RATE_LIMITED,
	ES_HS_FAIL__COUNT,
};

enum es_plan_kind {
	ES_PLAN_SILENT,   /* hears nobody: nothing is sent */
	ES_PLAN_FORWARD,  /* hears exactly one voice: its packet is forwarded */
	ES_PLAN_MIX,      /* a mix is encoded (possibly shared) */
	ES_PLAN__COUNT,
};

/* Phases of the tick thread's time, in the order of enum es_server_phase (server.h). */
#define ES_TICK_PHASES 11
extern const char *const es_tick_phase_names[ES_TICK_PHASES];

/* Kinds of member requests, in the order of enum es_request (budget.h). */
#define ES_REQUEST_KINDS 7

/* Upper bounds (seconds) of the tick-duration histogram buckets; +Inf implied. */
#define ES_TICK_BUCKETS 11
extern const double es_tick_buckets[ES_TICK_BUCKETS];

struct es_metrics_snapshot {
	/* gauges */
	uint64_t people_connected;
	uint64_t people_talking;
	uint64_t people_muted;
	uint64_t plans[ES_PLAN__COUNT];     /* listeners by plan kind, last tick */
	uint64_t encodes_per_tick;          /* Opus encodes in the last tick */
	uint64_t degradation_level;         /* 0 = full quality */
	uint64_t people_enrolled;           /* keys on the allowlist (es_state_counts) */
	uint64_t invites_pending;           /* invites not used, not yet pruned */
	/* counters */
	uint64_t ticks_total;
	uint64_t ticks_late_total;
	uint64_t tick_bucket[ES_TICK_BUCKETS + 1]; /* per bucket, not cumulative; last = +Inf */
	double tick_seconds_sum;
	double tick_phase_seconds[ES_TICK_PHASES];
	double late_tick_phase_seconds[ES_TICK_PHASES]; /* the phases of the ticks that ended late */
	double tick_phase_max_seconds[ES_TICK_PHASES];  /* gauge: the most in one tick, last 10-20 s */
	double tick_max_seconds;                        /* gauge: the longest tick's work, last 10-20 s */
	double state_lock_wait_seconds;                 /* the tick thread waiting for the state lock */
	uint64_t state_lock_waits_slow;                 /* ... of which waits over 1 ms */
	uint64_t engine_work_total[8];                  /* in the order of enum es_engine_work (server.h) */
	uint64_t level_ticks_total[4];                  /* ticks at each degradation level */
	uint64_t load_steps_total[3];                   /* level changes by cause: estimate, measured, calm */
	uint64_t uplink_recovered_total[2];             /* speakers' lost frames: rebuilt from FEC, concealed */
	double load_estimate_seconds;                   /* gauge: the last tick's plan as the load guard priced it */
	uint64_t downlink_budget_lowered_total;         /* loss reports that lowered a listener's budget */
	uint64_t downlink_budget_reduced;               /* gauge: listeners below the budget they declared */
	uint64_t bundle_max_bytes;                      /* gauge: the largest bundle of the last tick, on the link */
	uint64_t packets_in_total, packets_out_total;
	uint64_t bytes_in_total, bytes_out_total;
	uint64_t packets_dropped_total[ES_DROP__COUNT];
	uint64_t handshakes_total;          /* completed */
	uint64_t handshake_failures_total[ES_HS_FAIL__COUNT];
	uint64_t admissions_refused_total;  /* "busy, retry in N s" answers */
	uint64_t reloads_total[2];          /* SIGHUP reloads: [0] ok, [1] with a part that failed to load */
	uint64_t people_relocated_total;    /* moved because a new floor plan took their place */
	/* a company (company.h) */
	uint64_t cluster_member, cluster_etcd_reachable, cluster_etcd_outages_total, cluster_floors_hosted;
	uint64_t cluster_floors_changed_total[2]; /* gained, lost */
	uint64_t cluster_joins_waiting_total, cluster_etcd_writes_total;
	uint64_t requests_refused_total[ES_REQUEST_KINDS]; /* members' requests over budget, by kind (budget.h) */
	uint64_t resets_sent_total;         /* resets sent (sessions we do not have) */
	uint64_t redirects_total;           /* people sent to another daemon of the company */
	uint64_t sends_failed_total;        /* messages and bundles that could not be sealed or queued */
	/* the company-wide stage relay (stage.h); all 0 on a daemon on its own */
	uint64_t stage_relay_frames_total[2];  /* stage frames relayed: [0] out (per daemon sent to), [1] in */
	uint64_t stage_relay_dropped_total[6]; /* auth, seal, malformed, unknown, timeout, no_slot */
	uint64_t stage_relay_links;            /* gauge: relay links up */
	uint64_t stage_relay_voices;           /* gauge: remote stage voices heard here */
};

/* Count one tick that took `seconds` (histogram, sum, ticks_total). */
void es_metrics_observe_tick(struct es_metrics_snapshot *s, double seconds);

struct es_metrics;

/*
 * Start serving on addr (from the config; port 0 picks a free port) in a
 * thread of its own.  NULL with errno set on failure (EADDRINUSE, ...).
 * addr is copied.
 */
struct es_metrics *es_metrics_start(const struct es_addr *addr);

/* Stop the server thread and free everything.  NULL is a no-op. */
void es_metrics_stop(struct es_metrics *m);

/* The TCP port actually bound (useful with port 0). */
uint16_t es_metrics_port(const struct es_metrics *m);

/* Publish a copy of s for the next scrape.  Never blocks for long (above). */
void es_metrics_publish(struct es_metrics *m, const struct es_metrics_snapshot *s);

/*
 * Format s as Prometheus text into buf (always NUL-terminated when size > 0).
 * Returns the length of the whole text, like snprintf: a result >= size
 * means it was cut, and a buffer of result + 1 bytes holds it.
 */
size_t es_metrics_format(const struct es_metrics_snapshot *s, char *buf, size_t size);

/* Metric names, for tests and docs: a NULL-terminated list. */
extern const char *const es_metrics_names[];

#endif
