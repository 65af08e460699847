/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "jitter.h"

/* Concealed ticks after which a silent stream counts as ended. */
#define END_AFTER 3
/*
 * A sender that stalls and then delivers a burst leaves frames queued for
 * good: one pop per tick never catches up.  When more than depth+1 frames
 * have waited for TRIM_AFTER ticks in a row, the oldest is dropped.
 */
#define TRIM_AFTER 25

void es_jitter_init(struct es_jitter *jb, unsigned depth)
{
	memset(jb, 0, sizeof(*jb));
	jb->depth = depth < 1 ? 1 : depth > ES_JB_SLOTS / 2 ? ES_JB_SLOTS / 2 : depth;
	jb->min_depth = jb->depth;
	es_jitter_est_init(&jb->est);
}

unsigned es_jitter_queued(const struct es_jitter *jb)
{
	unsigned n = 0;
	for (unsigned i = 0; i < ES_JB_SLOTS; i++)
		n += jb->slot[i].full;
	return n;
}

static void flush(struct es_jitter *jb)
{
	for (unsigned i = 0; i < ES_JB_SLOTS; i++)
		jb->slot[i].full = false;
}

int es_jitter_push(struct es_jitter *jb, uint32_t seq, const uint8_t *data, size_t len, unsigned flags, int32_t frac)
{
	if (len == 0 || len > ES_JB_FRAME_MAX)
		return -EMSGSIZE;
	/* arrival offset against this buffer's clock: its spread is the jitter */
	if (!(flags & ES_ENGINE_UP_PREROLL))
		es_jitter_est_observe(&jb->est, (int32_t)(jb->ticks - seq) * ES_JE_ONE + frac);
	unsigned want = es_jitter_est_depth(&jb->est, jb->min_depth, ES_JB_SLOTS / 2);
	if (want > jb->depth) {
		if (jb->playing)
			jb->hold += want - jb->depth; /* stretch now rather than drop late frames */
		jb->depth = want;
	}
	if (jb->playing) {
		int32_t ahead = (int32_t)(seq - jb->next);
		if (ahead < 0) {
			if (ahead > -ES_JB_SLOTS)
				es_jitter_est_lost(&jb->est); /* its tick has gone: lost to lateness */
			return -EALREADY;
		}
		if (ahead >= ES_JB_SLOTS) {
			/* the sender jumped (restart, long gap): resynchronise */
			flush(jb);
			jb->playing = false;
		}
	} else if (jb->seen) {
		/* not yet playing: keep the earliest sequence as the start */
		int32_t d = (int32_t)(seq - jb->next);
		if (d < 0 && d > -ES_JB_SLOTS)
			jb->next = seq;
		else if (d >= ES_JB_SLOTS) {
			flush(jb);
			jb->next = seq;
		}
	}
	if (!jb->seen || (!jb->playing && es_jitter_queued(jb) == 0))
		jb->next = seq;
	jb->seen = true;

	struct es_jb_slot *s = &jb->slot[seq % ES_JB_SLOTS];
	if (s->full && s->seq == seq)
		return -EALREADY;
	s->seq = seq;
	s->len = (uint16_t)len;
	s->full = true;
	s->quiet = (flags & (ES_ENGINE_UP_PREROLL | ES_ENGINE_UP_QUIET)) == (ES_ENGINE_UP_PREROLL | ES_ENGINE_UP_QUIET);
	memcpy(s->data, data, len);
	return 0;
}

enum es_jb_result es_jitter_pop(struct es_jitter *jb, const struct es_jb_slot **frame)
{
	*frame = NULL;
	jb->ticks++;
	es_jitter_est_tick(&jb->est);
	/* shrink slowly: the estimate decays, and the trim below drops the excess */
	unsigned want = es_jitter_est_depth(&jb->est, jb->min_depth, ES_JB_SLOTS / 2);
	if (want < jb->depth)
		jb->depth = want;
	if (!jb->playing) {
		unsigned q = es_jitter_queued(jb);
		if (!jb->seen || q < jb->depth)
			return ES_JB_NONE;
		/*
		 * A spurt's pre-roll arrives in one burst with the frame that
		 * set it off: playing it all would start the spurt that much
		 * behind.  Silent pre-roll at its head is skipped down to the
		 * target depth; pre-roll with sound in it (a soft first
		 * syllable) is played, and the trim below catches up later.
		 */
		for (;;) {
			struct es_jb_slot *h = &jb->slot[jb->next % ES_JB_SLOTS];
			if (q <= jb->depth || !h->full || h->seq != jb->next || !h->quiet)
				break;
			h->full = false;
			jb->next++;
			jb->skipped++;
			q--;
		}
		jb->playing = true;
		jb->misses = 0;
	}
	if (es_jitter_queued(jb) > jb->depth + 1) {
		if (++jb->excess >= TRIM_AFTER) {
			struct es_jb_slot *old = &jb->slot[jb->next % ES_JB_SLOTS];
			if (old->full && old->seq == jb->next)
				old->full = false;
			jb->next++;
			jb->trimmed++;
			jb->excess = 0;
		}
	} else
		jb->excess = 0;
	if (jb->hold) {
		/* the buffer is growing: conceal one tick without advancing */
		jb->hold--;
		return ES_JB_LOST;
	}
	struct es_jb_slot *s = &jb->slot[jb->next % ES_JB_SLOTS];
	uint32_t seq = jb->next++;
	if (s->full && s->seq == seq) {
		s->full = false;
		jb->misses = 0;
		*frame = s;
		return ES_JB_FRAME;
	}
	if (s->full && (int32_t)(s->seq - seq) < 0)
		s->full = false; /* stale leftover from before a wrap */

	if (++jb->misses > END_AFTER || es_jitter_queued(jb) == 0) {
		if (jb->misses > END_AFTER) {
			jb->playing = false;
			jb->seen = false;
			flush(jb);
			return ES_JB_NONE;
		}
	}
	if (es_jitter_queued(jb) > 0)
		es_jitter_est_lost(&jb->est); /* a gap, not the end of the spurt */
	struct es_jb_slot *n = &jb->slot[jb->next % ES_JB_SLOTS];
	if (n->full && n->seq == jb->next) {
		*frame = n;
		return ES_JB_FEC;
	}
	return ES_JB_LOST;
}
