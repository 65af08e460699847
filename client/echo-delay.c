/* SPDX-License-Identifier: MIT */
/* Echo delay from onset-feature cross-correlation: see echo-delay.h. */
#include <errno.h>
#include <stdbool.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "echo-delay.h"

#define BLOCKS_PER_S 250      /* 4 ms blocks */
#define MEAN_TC_S 0.1         /* the slow average a feature is taken against */
#define FORGET_TC_S 6.0       /* how long the correlation remembers */
#define FLOOR_ENERGY 1e-7     /* -70 dBFS: quieter is silence */
#define FEATURE_CLIP 20.0f    /* dB */
#define LOOK_EVERY 125        /* blocks: 0.5 s */
#define MIN_CORR 0.3f
#define MIN_LEAD 0.05f        /* over the best lag further than SIDE_LAGS away */
#define SIDE_LAGS 4
#define HOLD_LOOKS 3
/* The reference must have had some onsets: mean squared feature (dB^2) over the memory. */
#define MIN_FAR_ACTIVITY 2.0

struct es_echo_delay {
	unsigned rate, block, nlag;
	float a;                    /* per-block forgetting factor */
	float mean_alpha;

	/* the block being gathered */
	unsigned fill;
	double e_far, e_mic;

	float mean_far, mean_mic;
	bool mean_init;
	float *far_hist;            /* nlag features, ring */
	unsigned hist_pos;
	float *c, *ef;              /* per lag: correlation and reference energy */
	float em;
	unsigned blocks;

	float cand;                 /* candidate lag (blocks, fractional), < 0 none */
	unsigned cand_looks;
	int estimate;               /* samples, -1 none */
	float confidence;
};

struct es_echo_delay *es_echo_delay_new(unsigned rate, unsigned max_ms)
{
	if (rate < 8000 || rate > 96000 || max_ms < 1 || max_ms > 4000) {
		errno = EINVAL;
		return NULL;
	}
	struct es_echo_delay *e = calloc(1, sizeof(*e));
	if (!e)
		goto err;
	e->rate = rate;
	e->block = rate / BLOCKS_PER_S;
	e->nlag = (unsigned)((uint64_t)max_ms * BLOCKS_PER_S / 1000u) + 1;
	e->a = (float)exp(-1.0 / (FORGET_TC_S * BLOCKS_PER_S));
	e->mean_alpha = (float)(1.0 / (MEAN_TC_S * BLOCKS_PER_S));
	e->far_hist = calloc(e->nlag, sizeof(float));
	e->c = calloc(e->nlag, sizeof(float));
	e->ef = calloc(e->nlag, sizeof(float));
	if (!e->far_hist || !e->c || !e->ef)
		goto err_free;
	es_echo_delay_reset(e);
	return e;

err_free:
	es_echo_delay_free(e);
err:
	errno = ENOMEM;
	return NULL;
}

void es_echo_delay_free(struct es_echo_delay *e)
{
	if (!e)
		return;
	free(e->far_hist);
	free(e->c);
	free(e->ef);
	free(e);
}

void es_echo_delay_reset(struct es_echo_delay *e)
{
	e->fill = 0;
	e->e_far = e->e_mic = 0;
	e->mean_init = false;
	memset(e->far_hist, 0, e->nlag * sizeof(float));
	memset(e->c, 0, e->nlag * sizeof(float));
	memset(e->ef, 0, e->nlag * sizeof(float));
	e->hist_pos = 0;
	e->em = 0;
	e->blocks = 0;
	e->cand = -1.0f;
	e->cand_looks = 0;
	e->estimate = -1;
	e->confidence = 0;
}

static float feature(double energy, unsigned n, float *mean, float alpha)
{
	float l = (float)(10.0 * log10(energy / ((double)n * 32768.0 * 32768.0) + FLOOR_ENERGY));
	float f = l - *mean;
	*mean += alpha * f;
	return f > FEATURE_CLIP ? FEATURE_CLIP : f < -FEATURE_CLIP ? -FEATURE_CLIP : f;
}

static float corr_at(const struct es_echo_delay *e, unsigned l)
{
	float d = e->em * e->ef[l];
	return d > 0 ? e->c[l] / sqrtf(d) : 0.0f;
}

/* Every LOOK_EVERY blocks: is there a clear peak, and has it held? */
static int look(struct es_echo_delay *e)
{
	unsigned best = 0;
	float rb = -1.0f;
	for (unsigned l = 0; l < e->nlag; l++) {
		float r = corr_at(e, l);
		if (r > rb)
			rb = r, best = l;
	}
	float side = -1.0f;
	for (unsigned l = 0; l < e->nlag; l++) {
		if (l + SIDE_LAGS >= best && l <= best + SIDE_LAGS)
			continue;
		float r = corr_at(e, l);
		if (r > side)
			side = r;
	}
	double act = (double)e->ef[best] * (1.0 - e->a);
	if (rb < MIN_CORR || rb - side < MIN_LEAD || act < MIN_FAR_ACTIVITY || e->em * (1.0f - e->a) < MIN_FAR_ACTIVITY) {
		e->cand_looks = 0;
		return 0;
	}
	/* a parabola through the peak and its neighbours: better than a block */
	float lag = (float)best;
	if (best > 0 && best + 1 < e->nlag) {
		float y0 = corr_at(e, best - 1), y1 = rb, y2 = corr_at(e, best + 1);
		float den = y0 - 2.0f * y1 + y2;
		if (den < 0.0f) {
			float off = 0.5f * (y0 - y2) / den;
			if (off > -0.5f && off < 0.5f)
				lag += off;
		}
	}
	if (e->cand >= 0.0f && fabsf(lag - e->cand) <= 1.0f)
		e->cand_looks++;
	else
		e->cand_looks = 1;
	e->cand = lag;
	if (e->cand_looks < HOLD_LOOKS)
		return 0;
	int s = (int)lrintf(lag * (float)e->block);
	e->confidence = rb;
	if (e->estimate >= 0 && abs(s - e->estimate) <= (int)e->block / 2)
		return 0;
	e->estimate = s;
	return 1;
}

static int block_done(struct es_echo_delay *e)
{
	float ff, fm;
	if (!e->mean_init) {
		/* start the averages at the first block's level: no false onset */
		e->mean_far = (float)(10.0 * log10(e->e_far / ((double)e->block * 32768.0 * 32768.0) + FLOOR_ENERGY));
		e->mean_mic = (float)(10.0 * log10(e->e_mic / ((double)e->block * 32768.0 * 32768.0) + FLOOR_ENERGY));
		e->mean_init = true;
	}
	ff = feature(e->e_far, e->block, &e->mean_far, e->mean_alpha);
	fm = feature(e->e_mic, e->block, &e->mean_mic, e->mean_alpha);
	e->e_far = e->e_mic = 0;

	e->hist_pos = e->hist_pos ? e->hist_pos - 1 : e->nlag - 1;
	e->far_hist[e->hist_pos] = ff;
	/* lag l pairs this microphone block with the reference block l blocks ago */
	const float a = e->a;
	unsigned first = e->nlag - e->hist_pos; /* lags from here on wrap to the ring's start */
	const float *h = e->far_hist + e->hist_pos;
	for (unsigned l = 0; l < first; l++) {
		e->c[l] = a * e->c[l] + fm * h[l];
		e->ef[l] = a * e->ef[l] + h[l] * h[l];
	}
	h = e->far_hist;
	for (unsigned l = first; l < e->nlag; l++) {
		float x = h[l - first];
		e->c[l] = a * e->c[l] + fm * x;
		e->ef[l] = a * e->ef[l] + x * x;
	}
	e->em = a * e->em + fm * fm;
	if (++e->blocks % LOOK_EVERY == 0)
		return look(e);
	return 0;
}

int es_echo_delay_feed(struct es_echo_delay *e, const int16_t *far, const int16_t *mic, unsigned n)
{
	int changed = 0;
	for (unsigned i = 0; i < n; i++) {
		double x = far ? far[i] : 0, y = mic[i];
		e->e_far += x * x;
		e->e_mic += y * y;
		if (++e->fill == e->block) {
			e->fill = 0;
			if (block_done(e))
				changed = 1;
		}
	}
	return changed;
}

int es_echo_delay_samples(const struct es_echo_delay *e)
{
	return e ? e->estimate : -1;
}

float es_echo_delay_confidence(const struct es_echo_delay *e)
{
	return e ? e->confidence : 0.0f;
}
