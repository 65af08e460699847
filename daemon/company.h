/* SPDX-License-Identifier: MIT */
/*
 * One daemon of a company (docs/CLUSTER.md): the glue between the service
 * layer and the cluster module (cluster/cluster.h).  Without [cluster] etcd
 * there is no company and nothing here runs.
 *
 * The company's floors are copies of the configured plan stacked south, in
 * the order of [cluster] floors, the same on every daemon: floor k is the
 * plan's k-th tile from the north, the band (N-1-k) * H <= y < (N-k) * H of
 * the one big plan (y grows north; H the plan's height; N floors), whose
 * outer walls keep the floors from hearing each other.  Floor 0 is the
 * first tile: its rooms and desks keep the plan's own names ("Orion",
 * A1-1); floor k's are suffixed ("Orion k+1", A1-1.k).  This daemon
 * hosts the floors it owns in etcd; a person whose place is on another
 * floor is sent to that floor's daemon (ES_MSG_REDIRECT), or told to retry
 * soon (ES_MSG_BUSY) while the floor has no owner.
 *
 * Enrolments, own desks and admin mutes are written to etcd by the daemon
 * where they happen and read from the snapshot (or its events) by every
 * other; where people sit is written by their floor's owner and read by the
 * next owner.  Nothing on the tick waits on etcd: the cluster module's
 * reads are copies out of a local snapshot and its writes are queued.
 *
 * Threads: every function runs on the tick thread (hooks, admin commands),
 * except start and stop (the main thread, before and after the server).
 */
#ifndef EARSHOT_COMPANY_H
#define EARSHOT_COMPANY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "earshot-proto.h"

struct es_company;
#define ES_CLUSTER_NAME_BUF 129 /* a name out of the company's records, NUL included */
struct es_service;
struct es_floor;

/* Company statistics, for metrics and earshotctl. */
struct es_company_stats {
	bool reachable;
	unsigned floors, floors_hosted;
	uint64_t outages, floors_gained, floors_lost;
	uint64_t redirects, busy_no_owner, records_applied, balanced;
	uint64_t etcd_writes, seats_written;
};

/*
 * Start: NULL with errno 0 without [cluster] etcd; NULL with errno set on a
 * bad setting or a failure (logged).  floor is the company's whole plan,
 * already stacked (es_service_floor_load), nfloors copies high.
 */
struct es_company *es_company_start(const struct es_config *cfg, const struct es_floor *floor);
/* Leave the company (the floors are free for others at once).  NULL: no-op. */
void es_company_stop(struct es_company *co);

/* Every tick: take the cluster's events, apply them, publish the load. */
void es_company_tick(struct es_company *co, struct es_service *svc, unsigned people);

/* The floor a place is on (0..floors-1), or -1 off every floor. */
int es_company_floor_at(const struct es_company *co, const struct es_pos *pos);

/*
 * Where someone who is to sit at pos belongs: 0 here (the floor is hosted
 * here, or is no floor), 1 elsewhere (rd filled: the owner first, then the
 * company's other daemons), -EAGAIN the floor has no owner yet.
 */
int es_company_where(struct es_company *co, const struct es_pos *pos, struct es_redirect *rd);

/* The company's live daemons' client addresses, this one first, comma-separated (at most 8): how many. */
int es_company_address_list(struct es_company *co, char *out, size_t cap);

/* Enrolled in the company (the snapshot): 1 and the name, or 0. */
int es_company_known(struct es_company *co, const uint8_t key[32], char *name, size_t cap);
/* Muted by an admin of any daemon. */
bool es_company_muted(struct es_company *co, const uint8_t key[32]);
/* Their own desk in the company's records: 1 and the label, or 0. */
int es_company_desk_of(struct es_company *co, const uint8_t key[32], char *label, size_t cap);
/* Their seat on a floor this daemon hosts: 1 and pos, or 0. */
int es_company_seat_of(struct es_company *co, const uint8_t key[32], struct es_pos *pos);

/* What happened here, for the company (queued; never waits). */
void es_company_enrolled(struct es_company *co, const uint8_t key[32], const char *name);
void es_company_desk(struct es_company *co, const uint8_t key[32], const char *label);
void es_company_mute(struct es_company *co, const uint8_t key[32], bool on, const char *by);
void es_company_lock(struct es_company *co, unsigned room, bool locked, const char *by);
void es_company_forget(struct es_company *co, const uint8_t key[32]);
void es_company_seat(struct es_company *co, const uint8_t key[32], int32_t x_cm, int32_t y_cm, uint16_t facing);

/* An invite made here, usable once at any daemon of the company. */
void es_company_invite_add(struct es_company *co, const uint8_t hash[32], const char *name, int64_t expires);
/*
 * Redeem an invite (hash of its code) for key, company-wide, in one etcd
 * transaction: 0 and the name it enrolled, -EAGAIN under way (tell the
 * joiner to retry soon and call again), -ENOENT unknown or used,
 * -EKEYEXPIRED expired, -EEXIST the name or key is taken, -ENOTCONN etcd
 * unreachable.
 */
int es_company_redeem(struct es_company *co, const uint8_t hash[32], const uint8_t key[32], char *name, size_t cap);

/*
 * Drain this daemon: take no more floors and hand each hosted floor to the
 * least-loaded other daemon; their people follow by redirect.  Writes one
 * line per floor to out.  0, -ENOTCONN (etcd unreachable), -ENOENT (no other
 * daemon to take them).  on false: take floors again.
 */
int es_company_drain(struct es_company *co, bool on, char *out, size_t cap);

/* The company as this daemon sees it: daemons, floors, owners, people here. */
struct es_server;
size_t es_company_describe(struct es_company *co, struct es_server *server, char *out, size_t cap);

void es_company_get_stats(struct es_company *co, struct es_company_stats *st);

/* The company-wide stage relay's counters into the metrics snapshot (stage.h).  co NULL: no-op. */
struct es_metrics_snapshot;
void es_company_stage_metrics(struct es_company *co, struct es_metrics_snapshot *m);

#endif
