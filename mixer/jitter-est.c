/* SPDX-License-Identifier: MIT */
#include <math.h>

#include "earshot-mixer.h"

/* The minimum is kept over two overlapping windows of WINDOW arrivals, so
 * a lasting change of path delay is followed within about 2 windows. */
#define WINDOW 250
#define DECAY 0.995f /* per tick */
/* Ticks after a lost or late frame during which the depth stays at 2 or more (20 s). */
#define LOSS_HOLD 1000u

void es_jitter_est_init(struct es_jitter_est *e)
{
	e->min_offset = e->next_min = 0;
	e->window = 0;
	e->peak = 0.0f;
	e->since_loss = LOSS_HOLD;
	e->primed = false;
}

void es_jitter_est_observe(struct es_jitter_est *e, int32_t offset)
{
	/* offsets are 1/ES_JE_ONE tick */
	if (!e->primed) {
		e->min_offset = e->next_min = offset;
		e->primed = true;
	}
	if (offset < e->min_offset)
		e->min_offset = offset;
	if (offset < e->next_min)
		e->next_min = offset;
	if (++e->window >= WINDOW) {
		e->min_offset = e->next_min;
		e->next_min = offset;
		e->window = 0;
	}
	float spread = (float)(offset - e->min_offset) / ES_JE_ONE;
	if (spread > e->peak)
		e->peak = spread;
}

void es_jitter_est_tick(struct es_jitter_est *e)
{
	e->peak *= DECAY;
	if (e->since_loss < LOSS_HOLD)
		e->since_loss++;
}

void es_jitter_est_lost(struct es_jitter_est *e)
{
	e->since_loss = 0;
}

int32_t es_jitter_frac(int64_t since_tick_ns, int64_t tick_ns)
{
	if (tick_ns <= 0 || since_tick_ns >= tick_ns)
		return ES_JE_ONE; /* at (or after) the tick: just in time for it */
	if (since_tick_ns <= 0)
		return 1;
	int32_t f = (int32_t)(since_tick_ns * ES_JE_ONE / tick_ns);
	return f < 1 ? 1 : f;
}

/* A decayed spread this small is forgotten. */
#define FORGET 0.1f
/* Spread that the whole-tick estimate leaves to the frame being played. */
#define NOISE 0.25f

unsigned es_jitter_est_depth(const struct es_jitter_est *e, unsigned lo, unsigned hi)
{
	/*
	 * A frame that arrives at offset o is in time for the tick ceil(o).
	 * The earliest arrival leaves `room` (what is left of its tick) for
	 * later arrivals at no cost; each further frame held buys a whole
	 * tick.  No slack is added for noise: growing costs a concealed tick
	 * (see the buffers' hold), so the depth follows lateness actually
	 * seen, and the slow decay keeps it while that lateness recurs.
	 */
	int32_t m = e->min_offset;
	int32_t up = m >= 0 ? (m + ES_JE_ONE - 1) / ES_JE_ONE : -((-m) / ES_JE_ONE);
	float room = e->primed ? (float)(up * ES_JE_ONE - m) / ES_JE_ONE : 0.0f;
	float peak = e->peak < FORGET ? 0.0f : e->peak;
	float need = peak - room;
	/*
	 * Beyond a tick of spread the network, not the senders' and our own
	 * scheduling, is what varies, and it varies beyond what the last few
	 * seconds showed: keep the whole-tick estimate's quarter tick of
	 * slack there instead of counting on the room.
	 */
	if (peak >= 1.0f && need < peak - NOISE)
		need = peak - NOISE;
	unsigned d = 1 + (need > 0.0f ? (unsigned)ceilf(need) : 0u);
	if (e->since_loss < LOSS_HOLD && d < 2)
		d = 2; /* the next frame at hand: its FEC recovers a lost one */
	return d < lo ? lo : d > hi ? hi : d;
}
