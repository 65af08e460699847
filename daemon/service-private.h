/* SPDX-License-Identifier: MIT */
/*
 * Inside the service layer: the struct that service.c (state, metrics,
 * hooks) and reload.c (SIGHUP: settings, floor plan, enrolments) share.
 */
#ifndef EARSHOT_SERVICE_PRIVATE_H
#define EARSHOT_SERVICE_PRIVATE_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "earshot-crypto.h"
#include "metrics.h"
#include "notify.h"
#include "service.h"

struct es_state_db;
struct es_saver;
struct es_metrics;
struct es_floor;

#define WHY_MAX (PATH_MAX + 256) /* one error line that names a file */

struct es_service {
	struct es_config cfg;
	int argc;
	char **argv;
	struct es_state_db *db;
	struct es_saver *saver;
	struct es_metrics *metrics;
	struct es_notify notify;
	struct es_metrics_snapshot snap;
	struct es_server_hooks hooks;
	volatile sig_atomic_t reload;
	struct es_reload_job *reload_job; /* a reload whose files are being read (reload.c), NULL none */
	uint64_t ticks;
	struct es_keypair key; /* the server's static key */
	bool open_enrolment;
	struct es_floor *floor;   /* owned; NULL: no plan ("none") */
	struct es_server *server; /* borrowed, for reloads (es_service_attach) */
	struct es_admin *admin;   /* borrowed, may be NULL */
	struct es_company *company; /* one daemon of a company (company.h); NULL: on its own */
	uint64_t reloads[2];      /* done, failed (metrics) */
	/* the tick thread waiting for the state lock (held by the saver's copy) */
	uint64_t lock_wait_ns, lock_waits_slow;
	char metrics_error[160]; /* why the metrics endpoint is not served, "" when it is (or is off) */
};

static inline int64_t es_unix_now(void)
{
	return (int64_t)time(NULL);
}

/* service.c */
void es_service_notified(struct es_service *svc, int r, const char *what);
void es_service_metrics_restart(struct es_service *svc);

/* reload.c */

/*
 * The floor as configured: the plan file, or the built-in office ("" or
 * "builtin"), repeated as configured; "none" is open space everywhere
 * (*out NULL).  0, or -errno with why set to one line naming the file,
 * line and column ("FILE:LINE:COL: reason").  Reads a file of at most
 * ES_FLOOR_MAX_TEXT bytes: run at start, for --check-config, and on SIGHUP.
 */
__attribute__((warn_unused_result))
int es_service_floor_load(const struct es_config *conf, struct es_floor **out, char *why, size_t whylen);
/* One info line: the floor's name, size, desks, rooms, doors, after `what`. */
void es_service_floor_describe(const struct es_floor *f, const char *what);
/*
 * SIGHUP, from the tick hook (see es_service_request_reload): start a
 * reload (its files are read and parsed on a reload thread); poll, every
 * tick, swaps in what it prepared once it is done; cancel (at stop) waits
 * for the thread and drops what it read.  Tick thread only.
 */
struct es_reload_job;
void es_service_reload_start(struct es_service *svc);
void es_service_reload_poll(struct es_service *svc);
void es_service_reload_cancel(struct es_service *svc);

#endif
