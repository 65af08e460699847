/* SPDX-License-Identifier: MIT */
/*
 * The per-speaker jitter buffer and its estimate: one frame of buffering
 * when arrivals fit before their tick, more when they straddle it; a
 * spurt's silent pre-roll skipped so the spurt starts on time, pre-roll
 * with sound kept; pre-roll left out of the jitter estimate; a late
 * frame stretches one tick, not more.
 */
#include <errno.h>
#include <string.h>

#include "earshot-mixer.h"
#include "jitter.h"
#include "test.h"

static const uint8_t FRAME[3] = {1, 2, 3};

/* A frame arriving `frac` (0..1] of the way into the coming tick. */
static int push(struct es_jitter *jb, uint32_t seq, unsigned flags, float frac)
{
	return es_jitter_push(jb, seq, FRAME, sizeof(FRAME), flags, (int32_t)(frac * ES_JE_ONE));
}

/* Pop one tick; returns the result and the sequence number played (or ~0). */
static enum es_jb_result pop(struct es_jitter *jb, uint32_t *seq)
{
	const struct es_jb_slot *f;
	enum es_jb_result r = es_jitter_pop(jb, &f);
	*seq = r == ES_JB_FRAME ? f->seq : ~0u;
	return r;
}

/*
 * A steady talker whose frames arrive at fractions taken in turn from
 * pattern[] (seq s in the tick before pop number s + lag), for n ticks.
 * Counts ticks that had no frame to play once playing started.
 */
static unsigned talk(struct es_jitter *jb, uint32_t *seq, unsigned n, const float *pattern, unsigned np, unsigned *played)
{
	unsigned lost = 0;
	bool started = false;
	for (unsigned t = 0; t < n; t++) {
		float f = pattern[t % np];
		if (f > 1.0f) {
			/* later than its tick: arrives in the next one */
			uint32_t s;
			enum es_jb_result r = pop(jb, &s);
			started |= r != ES_JB_NONE;
			if (started && r != ES_JB_FRAME)
				lost++;
			*played += r == ES_JB_FRAME;
			push(jb, (*seq)++, 0, f - 1.0f);
			continue;
		}
		push(jb, (*seq)++, 0, f);
		uint32_t s;
		enum es_jb_result r = pop(jb, &s);
		started |= r != ES_JB_NONE;
		if (started && r != ES_JB_FRAME)
			lost++;
		*played += r == ES_JB_FRAME;
	}
	return lost;
}

int main(void)
{
	struct es_jitter_est e;

	/* whole-tick offsets (arrivals at tick boundaries): no room, so any spread costs a frame */
	es_jitter_est_init(&e);
	for (int i = 0; i < 20; i++)
		es_jitter_est_observe(&e, 5 * ES_JE_ONE);
	check_int_eq(es_jitter_est_depth(&e, 1, 8), 1);
	es_jitter_est_observe(&e, 6 * ES_JE_ONE);
	check_int_eq(es_jitter_est_depth(&e, 1, 8), 2);
	check_int_eq(es_jitter_est_depth(&e, 3, 8), 3); /* the floor holds */

	/* arrivals spread over 0.3..0.9 of a tick all make that tick: one frame */
	es_jitter_est_init(&e);
	for (int i = 0; i < 30; i++)
		es_jitter_est_observe(&e, 5 * ES_JE_ONE + (int32_t)((0.3f + 0.02f * (float)(i % 31)) * ES_JE_ONE));
	check_int_eq(es_jitter_est_depth(&e, 1, 8), 1);
	/* one that spills past the tick (1.2) needs a second frame */
	es_jitter_est_observe(&e, 6 * ES_JE_ONE + (int32_t)(0.2f * ES_JE_ONE));
	check_int_eq(es_jitter_est_depth(&e, 1, 8), 2);
	/* and the estimate forgets it after calm seconds (about 9 s at 50 ticks/s) */
	for (int i = 0; i < 600; i++)
		es_jitter_est_tick(&e);
	check_int_eq(es_jitter_est_depth(&e, 1, 8), 1);

	check_int_eq(es_jitter_frac(-5, 20000000), 1);
	check_int_eq(es_jitter_frac(10000000, 20000000), ES_JE_ONE / 2);
	check_int_eq(es_jitter_frac(25000000, 20000000), ES_JE_ONE);

	/* a buffer fed steadily early in each tick plays each frame at the next tick */
	struct es_jitter jb;
	es_jitter_init(&jb, 1);
	uint32_t seq = 100, played = 0;
	static const float early[] = {0.4f, 0.5f, 0.45f, 0.6f};
	check_int_eq(talk(&jb, &seq, 200, early, 4, &played), 0);
	check_int_eq(jb.depth, 1);
	check_int_eq(es_jitter_queued(&jb), 0); /* nothing waits longer than its own tick */

	/* arrivals straddling the tick: it grows to 2 and then loses nothing */
	es_jitter_init(&jb, 1);
	seq = 100, played = 0;
	static const float straddle[] = {0.8f, 0.9f, 1.1f, 0.85f};
	unsigned lost = talk(&jb, &seq, 300, straddle, 4, &played);
	check(jb.depth >= 2);
	test_log("straddling arrivals: %u of 300 ticks concealed while the buffer grew", lost);
	/* growing costs exactly two ticks: the first late frame's, and one stretched */
	check_int_eq(lost, 2);
	unsigned lost_after = talk(&jb, &seq, 300, straddle, 4, &played);
	check_int_eq(lost_after, 0);

	/*
	 * A spurt: three silent pre-roll frames and the live one arrive in one
	 * burst.  At depth 1 the live frame plays at once; the silence is skipped.
	 */
	es_jitter_init(&jb, 1);
	seq = 500;
	for (unsigned i = 0; i < 3; i++)
		check_int_eq(push(&jb, seq + i, ES_ENGINE_UP_PREROLL | ES_ENGINE_UP_QUIET, 0.5f), 0);
	check_int_eq(push(&jb, seq + 3, 0, 0.5f), 0);
	uint32_t s;
	check_int_eq(pop(&jb, &s), ES_JB_FRAME);
	check_int_eq(s, seq + 3);
	check_int_eq(jb.skipped, 3);

	/* at depth 2, one silent frame is kept as the cushion */
	es_jitter_init(&jb, 2);
	for (unsigned i = 0; i < 3; i++)
		check_int_eq(push(&jb, seq + i, ES_ENGINE_UP_PREROLL | ES_ENGINE_UP_QUIET, 0.5f), 0);
	check_int_eq(push(&jb, seq + 3, 0, 0.5f), 0);
	check_int_eq(pop(&jb, &s), ES_JB_FRAME);
	check_int_eq(s, seq + 2);
	check_int_eq(pop(&jb, &s), ES_JB_FRAME);
	check_int_eq(s, seq + 3);

	/* pre-roll with sound in it (a soft first syllable) is played, not skipped */
	es_jitter_init(&jb, 1);
	check_int_eq(push(&jb, seq, ES_ENGINE_UP_PREROLL | ES_ENGINE_UP_QUIET, 0.5f), 0);
	check_int_eq(push(&jb, seq + 1, ES_ENGINE_UP_PREROLL, 0.5f), 0);
	check_int_eq(push(&jb, seq + 2, ES_ENGINE_UP_PREROLL, 0.5f), 0);
	check_int_eq(push(&jb, seq + 3, 0, 0.5f), 0);
	check_int_eq(pop(&jb, &s), ES_JB_FRAME);
	check_int_eq(s, seq + 1);
	check_int_eq(jb.skipped, 1);

	/*
	 * Pre-roll is late by design, not by the network: a second spurt's
	 * burst must not grow the buffer (it would add its length to every
	 * later spurt's latency).
	 */
	es_jitter_init(&jb, 1);
	seq = 1000, played = 0;
	check_int_eq(talk(&jb, &seq, 100, early, 4, &played), 0);
	for (unsigned t = 0; t < 20; t++) /* silence: the client sends nothing */
		pop(&jb, &s), seq++;
	for (unsigned i = 0; i < 3; i++)
		check_int_eq(push(&jb, seq - 3 + i, ES_ENGINE_UP_PREROLL | ES_ENGINE_UP_QUIET, 0.5f), 0);
	check_int_eq(talk(&jb, &seq, 100, early, 4, &played), 0);
	check_int_eq(jb.depth, 1);

	/* a frame a tick late: one tick is stretched to grow by one, no more */
	es_jitter_init(&jb, 1);
	seq = 2000, played = 0;
	check_int_eq(talk(&jb, &seq, 50, early, 4, &played), 0);
	check(pop(&jb, &s) != ES_JB_FRAME); /* its tick: nothing yet */
	check_int_eq(push(&jb, seq++, 0, 0.5f), -EALREADY);
	check_int_eq(jb.depth, 2);
	check_int_eq(jb.hold, 1);
	/* it keeps that tick of cushion for a while after a loss, then returns to one frame */
	played = 0;
	check_int_eq(talk(&jb, &seq, 500, early, 4, &played), 1); /* the stretch */
	check_int_eq(jb.depth, 2);
	check_int_eq(talk(&jb, &seq, 600, early, 4, &played), 0);
	check_int_eq(jb.depth, 1);

	test_log("jitter buffer: ok");
	return 0;
}
