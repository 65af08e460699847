/* SPDX-License-Identifier: MIT */
/*
 * The daemon's server: the ENet host, the people in it, and the 20 ms tick
 * that turns their uplink audio into each listener's bundle.
 */
#ifndef EARSHOT_SERVER_H
#define EARSHOT_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct es_server;
struct es_server_counters;

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
	/* someone is being admitted: may change the place (cm, decidegrees) */
	void (*join)(void *ud, const uint8_t key[32], const char *name, int32_t *x_cm, int32_t *y_cm,
		     uint16_t *facing);
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
	const struct es_server_hooks *hooks; /* borrowed; NULL = none */
	const uint8_t *key_priv;   /* 32-byte X25519 private key, copied; required */
	unsigned peers_per_address; /* ENet peers from one IP address at once */
	unsigned handshakes_per_tick; /* at most this many Noise responses per tick */
};

void es_server_config_default(struct es_server_config *cfg);

/* Counters for logs, tests and metrics.  Monotonic unless noted. */
struct es_server_counters {
	uint64_t ticks, ticks_late;
	uint64_t packets_in, packets_out, bytes_in, bytes_out;
	uint64_t drop_malformed, drop_unknown, drop_unjoined, drop_oversize, drop_late;
	uint64_t joins, leaves, refused_full;
	uint64_t resets_sent;
	uint64_t cookies_sent, drop_cookie, drop_tampered, drop_replayed, drop_stale, drop_rate;
	uint64_t handshakes, handshake_failures, refused_auth, replaced;
	uint64_t refused[8];   /* handshakes refused, by ES_REFUSED_* reason */
	uint64_t prejoin_timeouts;
	uint64_t drop_nosession; /* ENet traffic for a session we do not have */ /* connected but not authenticated in time */
	unsigned people; /* now */
	/* gauges: talking and muted as of the last presence batch; plans and
	 * encodes of the last tick */
	unsigned talking, muted;
	unsigned plan_silent, plan_forward, plan_mix, encodes;
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

#endif
