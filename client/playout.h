/* SPDX-License-Identifier: MIT */
/*
 * Client playout: a jitter buffer of downlink bundles keyed by the server's
 * tick, and the renderer that turns one bundle into 20 ms of stereo with the
 * mixer's own code (forwarded voices rendered at the gain and direction the
 * server chose, plus the decoded background mix).  Loss is concealed with
 * Opus FEC when the next bundle is there, PLC otherwise.
 */
#ifndef EARSHOT_PLAYOUT_H
#define EARSHOT_PLAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct es_playout;

struct es_playout_stats {
	uint64_t bundles, played, lost, concealed, late, dropped_drift, malformed;
	uint64_t spliced; /* sessions whose first bundle followed the last one's queue (es_playout_session_end) */
	/* the downlink: bundles the server sent (from their sequence numbers) and those that arrived */
	uint64_t down_expected, down_received;
	unsigned depth;  /* current target depth in ticks */
	unsigned queued; /* bundles waiting now */
};

/* Returns NULL with errno set. */
struct es_playout *es_playout_new(unsigned depth);
void es_playout_free(struct es_playout *p);

/*
 * Queue one received ES_MSG_AUDIO_DOWN packet (the whole encoded message).
 * The bytes are copied.  frac: how far into the coming 20 ms it arrived,
 * (0, ES_JE_ONE], from the last pull (es_jitter_frac); ES_JE_ONE if the
 * caller only takes bundles in just before pulling.  -EBADMSG for a
 * malformed bundle, -EALREADY if late; both are counted in the stats, so
 * callers may ignore the result.
 */
int es_playout_push(struct es_playout *p, const uint8_t *msg, size_t len, int32_t frac);

/*
 * Produce the next 20 ms: 960 interleaved stereo frames into out.  Returns 1
 * if anything audible was rendered, 0 for silence.
 */
int es_playout_pull(struct es_playout *p, int16_t *out);

/* Forget everything queued (reconnect): the next bundle starts afresh. */
void es_playout_reset(struct es_playout *p);
/*
 * The session ended (a reconnect, a redirect to another daemon): keep
 * playing what is queued; the next session's first bundle follows it
 * directly if it comes while that still plays, else starts afresh.
 */
void es_playout_session_end(struct es_playout *p);

void es_playout_get_stats(const struct es_playout *p, struct es_playout_stats *st);

#endif
