/* SPDX-License-Identifier: MIT */
#include <math.h>

#include "earshot-mixer.h"

/* The minimum is kept over two overlapping windows of WINDOW arrivals, so
 * a lasting change of path delay is followed within about 2 windows. */
#define WINDOW 250
#define DECAY 0.995f /* per tick */

void es_jitter_est_init(struct es_jitter_est *e)
{
	e->min_offset = e->next_min = 0;
	e->window = 0;
	e->peak = 0.0f;
	e->primed = false;
}

void es_jitter_est_observe(struct es_jitter_est *e, int32_t offset)
{
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
	float spread = (float)(offset - e->min_offset);
	if (spread > e->peak)
		e->peak = spread;
}

void es_jitter_est_tick(struct es_jitter_est *e)
{
	e->peak *= DECAY;
}

unsigned es_jitter_est_depth(const struct es_jitter_est *e, unsigned lo, unsigned hi)
{
	unsigned d = 1 + (unsigned)ceilf(e->peak - 0.25f); /* a quarter tick of slack is noise */
	return d < lo ? lo : d > hi ? hi : d;
}
