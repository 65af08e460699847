/* SPDX-License-Identifier: MIT */
/*
 * The daemon's server: the ENet host, the people in it, and the 20 ms tick
 * that turns their uplink audio into each listener's bundle.
 */
#ifndef EARSHOT_SERVER_H
#define EARSHOT_SERVER_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "budget.h"
#include "earshot-proto.h"

struct es_server;
struct es_server_counters;
struct es_floor;

/* What the service remembers of someone who joins (hooks->join). */
struct es_seat_memory {
	bool has_place;     /* pos is where they were last */
	struct es_pos pos;
	char desk[33];      /* the label of their own desk, "" none (ES_STATE_DESK_MAX + 1) */
};

/*
 * Optional calls out of the server thread into the service layer
 * (earshotd.c: metrics, watchdog, remembered places).  NULL members are
 * skipped.  They run on the tick thread: they must not block.
 */
struct es_server_hooks {
	void *ud;
	/* end of every tick; work_ns is how long the tick's work took */
	void (*tick)(void *ud, const struct es_server_counters *c, uint64_t work_ns);
	/*
	 * A handshake proved possession of key: may it join?  name_in is the
	 * name the client asks for, invite_secret the 16-byte secret of an
	 * invite it redeems (or NULL), ts the handshake's TAI64N timestamp.
	 * Write the name to use to name_out and return 0, or return
	 * -ES_REFUSED_* (a positive reason, negated).  NULL: everyone may
	 * join under the name they ask for.
	 */
	int (*authorize)(void *ud, const uint8_t key[32], const uint8_t ts[12], const char *name_in,
			 const uint8_t *invite_secret, char *name_out);
	/*
	 * Someone is being admitted: fill in what is remembered of them (their
	 * last place, their own desk).  The server decides where they sit
	 * (places.h) and logs it once.
	 */
	void (*join)(void *ud, const uint8_t key[32], const char *name, struct es_seat_memory *mem);
	/* someone without a desk was given one of their own (its label): remember it */
	void (*desk)(void *ud, const uint8_t key[32], const char *label);
	/* is this key muted by an admin (a mute that outlived this process)? */
	bool (*admin_muted)(void *ud, const uint8_t key[32]);
	/* someone moved or left: remember where */
	void (*place)(void *ud, const uint8_t key[32], const char *name, int32_t x_cm, int32_t y_cm,
		      uint16_t facing);
};

struct es_server_config {
	const char *listen;   /* "ADDR:PORT" */
	unsigned max_people;
	float range_m;
	unsigned max_voices;
	int bitrate;
	int complexity;
	unsigned mix_threads; /* 0: one per CPU this process may run on, at most 4 */
	const struct es_server_hooks *hooks; /* borrowed; NULL = none */
	const uint8_t *key_priv;   /* 32-byte X25519 private key, copied; required */
	struct es_floor *floor;    /* borrowed, NULL: open space; doors change on it */
	unsigned peers_per_address; /* ENet peers from one IP address at once */
	unsigned handshakes_per_tick; /* at most this many Noise responses per tick */
	struct es_limits limits; /* what strangers and members may cost (budget.h) */
};

void es_server_config_default(struct es_server_config *cfg);

/*
 * Where the tick thread's time goes (nanoseconds, cumulative): in the tick,
 * ENet service, handshakes, the engine (plan, decode, mix, encode), sealing
 * and queueing bundles to ENet, presence and the flush (ENet's send of every
 * queued datagram); between ticks, ENet service and handshakes.  "late" is
 * how long after its deadline each tick started (the thread was busy or not
 * scheduled).  Clock reads cost ~20 ns each, a few per listener per tick.
 */
enum es_server_phase {
	ES_PHASE_SERVICE,
	ES_PHASE_HANDSHAKE,
	ES_PHASE_ENGINE,
	ES_PHASE_SEND,
	ES_PHASE_PRESENCE,
	ES_PHASE_FLUSH,
	ES_PHASE_IDLE_SERVICE,
	ES_PHASE_IDLE_HANDSHAKE,
	ES_PHASE_IDLE_PRESENCE, /* presence and door changes between ticks (after_tick) */
	ES_PHASE_LATE,
	ES_PHASE_TICK_CPU, /* CPU time of the tick thread in the tick (the rest of its wall time it was not running) */
	ES_PHASE__COUNT,
};

enum es_engine_work {
	ES_ENGINE_WORK_DECODES,
	ES_ENGINE_WORK_ENCODES,
	ES_ENGINE_WORK_WARMUPS,        /* of decodes, those only bringing a decoder up to date (decode on demand) */
	ES_ENGINE_WORK_PERSONAL,       /* personal mix streams */
	ES_ENGINE_WORK_SHARED,         /* shared mix streams */
	ES_ENGINE_WORK_LISTENERS_MIX,  /* listeners sent a mix */
	ES_ENGINE_WORK_FORWARDED,      /* voices forwarded as the speakers' own frames */
	ES_ENGINE_WORK_OVER_BUDGET,    /* listeners who heard more than their budget carries (the rest mixed) */
	ES_ENGINE_WORK__COUNT,
};

/* Counters for logs, tests and metrics.  Monotonic unless noted. */
struct es_server_counters {
	uint64_t phase_ns[ES_PHASE__COUNT];
	uint64_t ticks, ticks_late;
	uint64_t packets_in, packets_out, bytes_in, bytes_out;
	uint64_t drop_malformed, drop_unknown, drop_unjoined, drop_oversize, drop_late;
	uint64_t joins, leaves, refused_full;
	uint64_t resets_sent;
	uint64_t send_failed;   /* messages and bundles that could not be sealed or queued (ENet out of memory, a closed peer) */
	uint64_t cookies_sent, drop_cookie, drop_tampered, drop_replayed, drop_stale, drop_rate;
	uint64_t handshakes, handshake_failures, refused_auth, replaced;
	uint64_t refused[8];   /* handshakes refused, by ES_REFUSED_* reason */
	uint64_t prejoin_timeouts;
	uint64_t drop_fragment; /* ENet fragment commands refused (front-door.h) */
	uint64_t drop_enet;     /* other ENet commands refused: unreliable, too far ahead */
	uint64_t requests_refused[ES_REQ__COUNT]; /* members' requests over their budget */
	uint64_t drop_nosession; /* ENet traffic for a session we do not have */ /* connected but not authenticated in time */
	unsigned people; /* now */
	/* gauges: talking and muted as of the last presence batch; plans and
	 * encodes of the last tick */
	unsigned talking, muted;
	unsigned plan_silent, plan_forward, plan_mix, encodes;
	unsigned load_level; /* the engine's degradation level now, 0 = best */
	uint64_t moves_refused, doors_changed, doors_refused, knocks;
	uint64_t relocated; /* people moved because a new floor plan took their place */
	uint64_t redirects; /* people sent to another daemon of the company (ES_MSG_REDIRECT) */
	/*
	 * The tail, by phase: the phases of the ticks that ended late, summed
	 * (a tick counts when ticks_late does, published one tick later), and
	 * the most each phase took in one tick over the last 10-20 s (gauges;
	 * work: the whole tick from its start, without the start's lateness).
	 */
	uint64_t late_phase_ns[ES_PHASE__COUNT];
	uint64_t phase_max_ns[ES_PHASE__COUNT];
	uint64_t work_max_ns;
	/* the engine's work, summed over ticks (what its time buys) */
	uint64_t engine_work[ES_ENGINE_WORK__COUNT];
	uint64_t level_ticks[4]; /* ticks run at each load level (0 = full quality) */
	uint64_t load_steps[3];  /* load level changes by cause, enum es_engine_step */
	uint64_t uplink_fec, uplink_plc; /* speakers' lost frames rebuilt from the next frame's FEC, or concealed */
	unsigned load_estimate_us; /* the last tick's plan, as the load guard estimated it */
	/* downlink budgets: loss reports that lowered one; listeners below what they declared now */
	uint64_t budget_lowered;
	unsigned budget_reduced;
	unsigned bundle_max; /* bytes of the largest bundle in the last tick, on the link */
};

/* Returns NULL with errno set (and a message on stderr) on failure. */
struct es_server *es_server_new(const struct es_server_config *cfg);
void es_server_free(struct es_server *s);

/*
 * Run until *stop becomes true (set from a signal handler).  Returns 0 on a
 * clean stop, a negative errno on a fatal error.
 */
__attribute__((warn_unused_result)) int es_server_run(struct es_server *s, volatile int *stop);

void es_server_get_counters(const struct es_server *s, struct es_server_counters *c);

/*
 * More file descriptors for the loop to wait on besides ENet's socket (the
 * admin socket and its clients).  Before every wait, fds() fills up to max
 * entries (fd and events) and returns how many; after a wait in which any
 * of them reported, ready() gets them back with revents.  tick is the
 * server's tick count, so the owner can budget its work per tick (an fd
 * with events 0 is not woken for).  Both run on the tick thread and must
 * not block.  p is copied; NULL removes it.
 */
#define ES_SERVER_POLL_MAX 8
struct es_server_poll {
	void *ud;
	unsigned (*fds)(void *ud, uint64_t tick, struct pollfd *fds, unsigned max);
	void (*ready)(void *ud, uint64_t tick, const struct pollfd *fds, unsigned n);
};
void es_server_set_poll(struct es_server *s, const struct es_server_poll *p);

/*
 * Moderation, for the admin socket.  Call only from the tick thread (from
 * the poll hook).  People are addressed by id, 0 .. es_server_max_people()-1.
 */
struct es_server_person {
	unsigned id;
	char name[ES_NAME_MAX + 1];
	uint8_t key[32];
	struct es_pos pos;
	uint8_t flags;     /* ES_PF_*, as presence shows them */
};

unsigned es_server_max_people(const struct es_server *s);
/* 1 and *out filled if someone has that id, else 0. */
int es_server_person(const struct es_server *s, unsigned id, struct es_server_person *out);
/* The id of the person connected under exactly that name, or -ENOENT. */
__attribute__((warn_unused_result)) int es_server_find(const struct es_server *s, const char *name);

/*
 * Admin mute: the server drops their audio and tells their client
 * (ES_MSG_ADMIN) and everyone (presence).  It sticks to their key until
 * unmuted, across reconnects, for the life of this process; the
 * admin_muted hook (the service's state) makes it outlive the process.  0, -ENOENT
 * (nobody with that id), -ENOSPC (too many muted keys).
 */
__attribute__((warn_unused_result)) int es_server_admin_mute(struct es_server *s, unsigned id, bool muted);

/* The same for a key that is not connected (applies at its next join).  0 or -ENOSPC. */
__attribute__((warn_unused_result)) int es_server_mute_key(struct es_server *s, const uint8_t key[32], bool muted);

/*
 * Move someone: mixer, presence, remembered place, and their client.  0,
 * -ENOENT, -EINVAL (facing out of range, or a place the floor refuses:
 * *why says which; an admin may move someone into a closed room).
 */
enum es_place_verdict;
__attribute__((warn_unused_result)) int es_server_admin_move(struct es_server *s, unsigned id, const struct es_pos *pos,
							     enum es_place_verdict *why);

/*
 * An admin opens or closes a room: every door of it, through the same path
 * as a person's door (everyone's map is told after the tick).  A close is
 * a lock: people's requests cannot open it until an admin opens it again.
 * Returns how many doors changed, -ENOENT (no such room, or no floor),
 * -ENODEV (the room has no doors).
 */
__attribute__((warn_unused_result)) int es_server_room_set(struct es_server *s, unsigned room, bool open);
bool es_server_room_locked(const struct es_server *s, unsigned room);

/*
 * Own desks (places.h).  The service tells which desks are someone's own
 * (by label; -ENOENT if the floor has no such desk); the server never
 * seats anyone else there.  Who sits at a desk now: a person id or -1.
 */
int es_server_desk_own(struct es_server *s, const char *label, bool owned);
void es_server_desks_disown_all(struct es_server *s);
int es_server_desk_sitter(const struct es_server *s, const char *label);

/* Disconnect someone, telling their client why (ES_BYE_*).  0 or -ENOENT. */
__attribute__((warn_unused_result)) int es_server_admin_remove(struct es_server *s, unsigned id, uint8_t bye_reason);

/*
 * Use floor plan f from now on (SIGHUP; tick thread only).  f is borrowed
 * like es_server_config.floor: keep it alive until the server is freed or
 * given another one; the old floor may be freed once this returns.  People
 * whose place the new plan takes away (now a wall or a table or outside
 * the grid, their desk gone or moved, the room they were in gone or
 * changed) are moved to their own desk if it is still there, else to the
 * nearest free desk, else to the nearest free walkable cell, and told like
 * an admin move (mixer, presence, remembered place, their client).
 * Clients that show the floor are sent the new plan.  Returns how many
 * were moved, or -ENOMEM (nothing changed).
 */
__attribute__((warn_unused_result)) int es_server_set_floor(struct es_server *s, struct es_floor *f);
const struct es_floor *es_server_floor(const struct es_server *s);

/* New budgets (SIGHUP; tick thread only), from the next datagram and request on; l is copied. */
void es_server_set_limits(struct es_server *s, const struct es_limits *l);

#endif
