/* SPDX-License-Identifier: MIT */
/*
 * A small per-speaker jitter buffer keyed by the speaker's frame sequence
 * number.  Time is the caller's tick: one pop per tick.  Private to mixer/.
 */
#ifndef EARSHOT_JITTER_H
#define EARSHOT_JITTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "earshot-mixer.h"

#define ES_JB_SLOTS 16
#define ES_JB_FRAME_MAX 400 /* uplink frames are ~60-120 B; refuse anything silly */

struct es_jb_slot {
	uint32_t seq;
	uint16_t len;
	bool full;
	bool quiet; /* a pre-roll frame with nothing above the noise floor: may be skipped */
	uint8_t data[ES_JB_FRAME_MAX];
};

struct es_jitter {
	struct es_jb_slot slot[ES_JB_SLOTS];
	uint32_t next;     /* sequence number to play next */
	unsigned depth;    /* frames to hold before starting: adapts to jitter */
	unsigned min_depth;
	unsigned hold;     /* ticks to conceal without advancing: the buffer is growing */
	uint32_t ticks;    /* pops so far: this buffer's clock */
	struct es_jitter_est est;
	unsigned misses;   /* consecutive ticks with nothing to play */
	unsigned excess;   /* consecutive ticks with more than depth+1 queued */
	uint64_t trimmed;  /* frames dropped to bring latency back down */
	uint64_t skipped;  /* quiet pre-roll frames not played, to start a spurt on time */
	bool playing;
	bool seen;
};

enum es_jb_result {
	ES_JB_NONE = 0,  /* nothing to play: speaker is silent */
	ES_JB_FRAME = 1, /* *frame is the frame for this tick */
	ES_JB_FEC = 2,   /* this tick's frame is lost; *frame is the next one (use its FEC) */
	ES_JB_LOST = 3,  /* lost and no FEC: conceal */
};

/* depth: the smallest depth; it grows with measured jitter up to ES_JB_SLOTS / 2. */
void es_jitter_init(struct es_jitter *jb, unsigned depth);

/*
 * flags: ES_ENGINE_UP_PREROLL (held back by the sender's voice detector and
 * sent late in a burst: it says nothing about the network, so it does not
 * count towards the jitter estimate), ES_ENGINE_UP_QUIET (a pre-roll frame
 * with nothing above the noise floor: skipped when a spurt would otherwise
 * start more than the target depth behind).  frac: how far into the coming tick the
 * frame arrived, (0, ES_JE_ONE] (es_jitter_frac); ES_JE_ONE if unknown.
 * 0, -EALREADY (late or duplicate), -EMSGSIZE.
 */
int es_jitter_push(struct es_jitter *jb, uint32_t seq, const uint8_t *data, size_t len, unsigned flags, int32_t frac);

/*
 * Take this tick's frame.  *frame points into the buffer until the next
 * push.  After a few consecutive losses the stream is considered ended and
 * NONE is returned until frames arrive again.
 */
enum es_jb_result es_jitter_pop(struct es_jitter *jb, const struct es_jb_slot **frame);

/* Frames queued and not yet played. */
unsigned es_jitter_queued(const struct es_jitter *jb);

#endif
