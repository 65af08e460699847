/* SPDX-License-Identifier: MIT */
/*
 * Inside the server: the state its files share (server.c says which file
 * holds which concern).  Everything here runs on the tick thread, which
 * owns the ENet host, the people, the slots and the floor; the sender and
 * handshake worker threads get only what sender.h and hs-worker.h hand them.
 */
#ifndef EARSHOT_SERVER_PRIVATE_H
#define EARSHOT_SERVER_PRIVATE_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include <enet/enet.h>

#include "clock.h"
#include "earshot-crypto.h"
#include "earshot-mixer.h"
#include "earshot-proto.h"
#include "front-door.h"
#include "hs-worker.h"
#include "log.h"
#include "places.h"
#include "pool.h"
#include "sender.h"
#include "server.h"
#include "stage.h"
#define TICK_NS 20000000LL
#define PREJOIN_MS 2000
#define PREJOIN_QUEUED_MS 15000
#define PRESENCE_EVERY 5   /* ticks between presence delta batches */
#define TALK_HOLD_TICKS 10 /* talking shows for 200 ms after the last frame */

#define SERVICE_EVERY_NS 10000000LL /* ENet between ticks: once, halfway */
#define HS_MIN_PER_TICK 4       /* handshakes answered per tick, whatever the load */
#define HS_SLACK_NS 3000000LL   /* more only while this much of the tick is left */
/*
 * Presence batches and door changes go to everyone
 * (a sealed message and, at the flush, a datagram per person: 2-5 ms for
 * 500) and need not make the tick's deadline: they run after the tick while
 * this much of the period is left, or in the tick once they have waited a
 * presence period.
 */
#define AFTER_SLACK_NS 6000000LL
#define DOORS_PENDING_MAX 64
#define HS_WORKER_DEPTH 128     /* handshakes out with the worker at once */

struct person {
	bool used;
	ENetPeer *peer;
	char name[ES_NAME_MAX + 1];
	uint8_t name_len;
	struct es_pos pos;
	uint8_t flags;     /* ES_PF_* as last told by the client */
	bool admin_muted;  /* an admin muted them: their audio is dropped */
	bool talking;      /* as last announced */
	uint64_t last_voice_tick;
	/* uplink loss from AUDIO_UP sequence numbers, reported in ES_MSG_LINK */
	bool up_have;
	uint32_t up_max_seq;
	uint32_t up_expected, up_received;
	unsigned downlink_bps; /* the downlink budget they declared (or the default) */
	bool budget_low;   /* the budget in force is below it (they reported loss) */
	uint16_t down_seq; /* bundles sent to them: the client counts its downlink loss by it */
	bool dirty;        /* place or flags changed since last presence batch */
	bool announce;     /* joined since the last presence batch */
	/*
	 * What those outside a closed room see of someone in it (presence):
	 * the room they were in at the last batch (-1: none, or its doors
	 * were open), and the flags and place last told in that outside view.
	 */
	int meeting;
	uint8_t out_flags;
	struct es_pos out_pos;
	bool resync;       /* they changed rooms: send them everyone as their room now shows them */
	int desk;          /* the desk they sit at now (places.h), -1 none */
	bool roster;       /* wants presence (who is where) */
	int whisper_to;    /* person whispered to, -1 none */
	struct es_bucket budget[ES_REQ__COUNT]; /* what they may still ask (config limits.request) */
	uint32_t floor_sent; /* the plan version they were sent + 1; 0: none yet */
	struct es_log_ratelimit log_rl; /* their door changes in the log */
};

enum slot_state {
	SLOT_IDLE,      /* ENet connected, waiting for handshake message 1 */
	SLOT_QUEUED,    /* message 1 received, waiting for its turn */
	SLOT_WORKING,   /* message 1 with the handshake worker */
	SLOT_AUTHED,    /* handshake done: everything is sealed */
};

struct peer_slot {
	int64_t connected_ms;
	uint32_t gen; /* bumped at every connect: a worker's answer for an earlier connection is dropped */
	uint64_t authed_flush; /* s->flushes when the handshake reply was queued */
	int person; /* -1 until joined */
	enum slot_state st;
	uint8_t key[32];         /* the client's static key, once authed */
	struct es_cipher tx, rx; /* sealing to / opening from this peer */
	uint16_t msg1_len;
	uint8_t msg1[ES_NOISE_MSG1_MAX];
};

struct es_server {
	struct es_server_config cfg;
	int64_t deadline_ns; /* when the coming tick is due (CLOCK_MONOTONIC) */
	int32_t in_frac;     /* how far into the coming tick this service takes frames in (es_jitter_frac) */
	ENetHost *host;
	struct es_front_door *door; /* what every datagram meets before ENet */
	struct es_sender *sender; /* downlink audio off this thread; NULL: through ENet */
	struct es_hs_worker *hsw; /* message 1's X25519 off this thread; NULL: all here */
	struct es_pool *pool;     /* the engine's workers (pool.h); freed after the engine */
	struct es_engine *engine;
	struct person *people;
	struct peer_slot *slots;
	struct es_server_counters c;
	uint64_t tick;
	unsigned *leaves; /* ids left since the last presence batch */
	unsigned nleaves;
	uint8_t buf[ES_MSG_MAX];
	uint8_t sealed[ES_MSG_MAX + ES_CIPHER_OVERHEAD + 1];
	struct es_keypair key;
	struct es_places *places; /* desks (who sits, whose own), rooms an admin locked */
	char join_how[256];       /* how the last admit chose the place, for announce's log line */
	struct es_redirect redirect; /* where the last admit said the joiner's floor is (hooks->where) */
	unsigned *hs_queue; /* ring of peer indices with a queued message 1 */
	int64_t last_service_ns;
	uint64_t flushes; /* ENet sends done (service or flush): has a queued reply left? */
	unsigned hs_head, hs_count;
	struct es_server_poll poll; /* extra fds (admin socket); fds NULL = none */
	uint8_t (*muted_keys)[32];  /* keys an admin muted, max_people of them */
	unsigned nmuted;
	/*
	 * Broadcasts after the tick (see after_tick): presence is due, door
	 * changes wait to be told.
	 */
	bool presence_due;
	uint64_t after_due_tick; /* the tick since which something waits; 0 = nothing */
	uint16_t doors_pending[DOORS_PENDING_MAX];
	unsigned ndoors_pending;
	uint32_t floor_version; /* bumped by every new plan: a FLOOR_GET is served once per version */
	/* presence batch scratch, max_people each (entries: twice that) */
	int *pres_room;           /* the closed room each person is in now, -1 none */
	uint8_t *pres_chg;        /* what changed: PRES_* */
	unsigned *pres_changed;   /* who changed */
	uint32_t *pres_order;     /* observers, by room then id */
	struct es_presence_entry *pres_e;
	struct es_stage_tap stage; /* the company-wide stage (stage.h); voice NULL: none */
	/* per-tick maxima, two windows of TAIL_WINDOW ticks (the last slot: work) */
	uint64_t tail_max[2][ES_PHASE__COUNT + 1];
};

#define TAIL_WINDOW 500 /* 10 s of ticks */

static inline float pos_facing_rad(const struct es_pos *p)
{
	return (float)p->facing * (float)M_PI / 1800.0f;
}

static inline float pos_x(const struct es_pos *p)
{
	return (float)p->x_cm / 100.0f;
}

static inline float pos_y(const struct es_pos *p)
{
	return (float)p->y_cm / 100.0f;
}

/* server.c: one line per event through daemon/log.h: timestamp, level, journal-aware. */
void srv_logf(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* envelope.c: every send counts its own failure (send_failed) */
int srv_send_msg(struct es_server *s, ENetPeer *peer, const struct es_msg *m);
int srv_send_audio(struct es_server *s, ENetPeer *peer, const struct es_msg *m);
void srv_broadcast(struct es_server *s, const struct es_msg *m, int except);
int srv_open_sealed(struct es_server *s, struct peer_slot *slot, const uint8_t *pkt, size_t len);

/* handshake.c */
bool srv_handshake_step(struct es_server *s);
void srv_run_handshakes(struct es_server *s);
void srv_handshake_queue(struct es_server *s, ENetPeer *peer, struct peer_slot *slot, const struct es_msg *m);
void srv_on_connect(struct es_server *s, ENetPeer *peer);
void srv_reap_prejoin(struct es_server *s);

/* office.c */
void srv_apply_flags(struct es_server *s, unsigned id);
void srv_person_leave(struct es_server *s, struct peer_slot *slot);
void srv_moved_to(struct es_server *s, unsigned id, const struct es_pos *pos);
void srv_send_floor(struct es_server *s, ENetPeer *peer);
void srv_broadcast_doors(struct es_server *s);
bool srv_door_change(struct es_server *s, unsigned door, bool open);
/* What an admitted member asks (an opened, decoded message of theirs), within their budgets. */
void srv_office_request(struct es_server *s, unsigned id, struct es_msg *m);
/* Index of key among the admin-muted keys, or -1. */
int srv_muted_key_index(const struct es_server *s, const uint8_t key[32]);
/* Tell someone what an admin imposes on them (ES_MSG_ADMIN): mute, a move, a refusal. */
void srv_tell_admin(struct es_server *s, unsigned id, uint8_t extra);
/* A relocate.h crowd over the people here (ud: the server). */
bool srv_cell_taken(const void *ud, unsigned self, unsigned c, unsigned r);

/* presence.c (below the office: it only reads people and sends) */
uint8_t srv_presence_flags(const struct person *q);
int srv_closed_room(const struct es_floor *f, const struct es_pos *p);
void srv_presence_view(const struct es_server *s, unsigned i, int room, int from, uint8_t kind,
			  struct es_presence_entry *e);
void srv_send_roster(struct es_server *s, unsigned to);
void srv_presence_batch(struct es_server *s);

/* stage-srv.c: an uplink frame the engine took: to the stage relay if they stand on a stage */
void srv_stage_tap(struct es_server *s, unsigned id, const struct es_audio_up *up);

/*
 * office.c: a move (a member's or an admin's) to a place on a floor
 * another daemon of the company hosts: 1 they were sent there, 0 the floor
 * is here (move as usual), -EAGAIN it has no owner yet (refuse the move).
 */
int srv_move_elsewhere(struct es_server *s, unsigned id, const struct es_pos *to);

/*
 * office.c: send an admitted person to another daemon of the company
 * (ES_MSG_REDIRECT).  Sends them the sealed REDIRECT (reliable; pos: where
 * they are now, where they join there), removes them from the floor as a
 * leave does (their place is remembered through hooks->place), and
 * disconnects the peer once the REDIRECT is out; counted in c.redirects.
 * addrs: naddr (1..ES_REDIRECT_ADDRS_MAX) HOST:PORT strings, borrowed,
 * each srv_redirect_addr_ok; addrs[0] is where they go now, the rest the
 * company's other daemons.  reason: enum es_redirect_reason.  0, -ENOENT
 * (nobody admitted as id), -EINVAL (a bad address or reason; nothing is
 * sent), or the send's error (they stay).
 */
int srv_redirect(struct es_server *s, unsigned id, uint8_t reason, const char *const *addrs, unsigned naddr)
	__attribute__((warn_unused_result));
/* The same with the place they are to take there (a walk: the other end of the link; an admin's choice). */
int srv_redirect_to(struct es_server *s, unsigned id, uint8_t reason, const struct es_pos *pos,
		    const char *const *addrs, unsigned naddr) __attribute__((warn_unused_result));
/* One address a REDIRECT may carry: 1..ES_REDIRECT_ADDR_MAX printable bytes, no space, no comma. */
bool srv_redirect_addr_ok(const char *a);

#endif
