/* SPDX-License-Identifier: MIT */
/*
 * bench-render: what one voice costs es_render_voice() per 20 ms frame, with
 * the head model (mixer/render.c), against the equal-power pan it replaced
 * (copied below as the baseline) in the same run.  Every voice of every
 * mix and every voice a client renders runs through it once per tick.
 * Prints one line per case and a JSON object on the last line.
 *
 *   bench-render [SECONDS-PER-CASE]   (default 0.5)
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "earshot-mixer.h"

#define NFRAMES 50 /* a second of input, cycled */
#define ROUNDS 7   /* old and new alternate; the median round counts */

/* ---- the baseline: the equal-power pan as it was (main at 4d4be7c) -------- */

struct old_state {
	float gain_l, gain_r;
	float delay_l, delay_r;
	float hist[ES_ITD_MAX + 1];
	bool primed;
};

static void old_target(float gain, float azimuth, float *gl, float *gr, float *dl, float *dr)
{
	float lat = sinf(azimuth);
	float theta = (lat + 1.0f) * (float)M_PI_4;
	*gl = gain * cosf(theta);
	*gr = gain * sinf(theta);
	float itd = fabsf(lat) * ES_ITD_MAX;
	*dl = lat > 0.0f ? itd : 0.0f;
	*dr = lat < 0.0f ? itd : 0.0f;
}

static inline float old_delayed(const float *hist, const float *cur, int i, float d)
{
	float pos = (float)i - (d > 0.0f ? d : 0.0f);
	int i0 = (int)floorf(pos);
	float frac = pos - (float)i0;
	float a = i0 >= 0 ? cur[i0] : hist[ES_ITD_MAX + 1 + i0];
	if (frac == 0.0f)
		return a;
	float b = i0 + 1 >= 0 ? cur[i0 + 1] : hist[ES_ITD_MAX + 2 + i0];
	return a + (b - a) * frac;
}

static void old_render(struct old_state *st, const float *mono, float gain, float azimuth, float *acc)
{
	float gl, gr, dl, dr;
	old_target(gain, azimuth, &gl, &gr, &dl, &dr);
	if (!st->primed) {
		st->gain_l = st->gain_r = 0.0f;
		st->delay_l = dl;
		st->delay_r = dr;
		st->primed = true;
	}
	const float inv = 1.0f / ES_FRAME;
	float sgl = (gl - st->gain_l) * inv, sgr = (gr - st->gain_r) * inv;
	float sdl = (dl - st->delay_l) * inv, sdr = (dr - st->delay_r) * inv;
	float cgl = st->gain_l, cgr = st->gain_r, cdl = st->delay_l, cdr = st->delay_r;
	if (sdl == 0.0f && sdr == 0.0f && cdl == 0.0f && cdr == 0.0f) {
		for (int i = 0; i < ES_FRAME; i++) {
			cgl += sgl;
			cgr += sgr;
			acc[2 * i] += mono[i] * cgl;
			acc[2 * i + 1] += mono[i] * cgr;
		}
	} else {
		for (int i = 0; i < ES_FRAME; i++) {
			cgl += sgl;
			cgr += sgr;
			cdl += sdl;
			cdr += sdr;
			acc[2 * i] += old_delayed(st->hist, mono, i, cdl) * cgl;
			acc[2 * i + 1] += old_delayed(st->hist, mono, i, cdr) * cgr;
		}
	}
	st->gain_l = gl;
	st->gain_r = gr;
	st->delay_l = dl;
	st->delay_r = dr;
	memcpy(st->hist, mono + ES_FRAME - (ES_ITD_MAX + 1), sizeof(st->hist));
}

/* ---- the bench ------------------------------------------------------------ */

static float input[NFRAMES][ES_FRAME];
static float acc[2 * ES_FRAME];
static volatile float sink;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Where the voice is in frame f of a case. */
static float azimuth_of(unsigned kase, unsigned f)
{
	switch (kase) {
	case 0:
		return 0.0f;                    /* straight ahead: no delay (the pan's fast path) */
	case 1:
		return 0.6f;                    /* ahead and to the right, still */
	case 2:
		return 2.4f;                    /* behind, to the right, still */
	default:
		return -3.0f + 0.12f * (float)(f % NFRAMES); /* walking round the listener */
	}
}

static const char *const case_names[] = {"ahead", "right 34 deg", "behind 138 deg", "moving"};
#define NCASES 4

/* ns per frame of `frames` renders of one voice. */
static double run(unsigned kase, bool head, unsigned frames)
{
	struct es_voice_state st;
	struct old_state os;
	es_voice_state_init(&st);
	memset(&os, 0, sizeof(os));
	double t0 = now_s();
	for (unsigned f = 0; f < frames; f++) {
		const float *in = input[f % NFRAMES];
		float az = azimuth_of(kase, f);
		if (head)
			es_render_voice(&st, in, 0.7f, az, acc);
		else
			old_render(&os, in, 0.7f, az, acc);
		if ((f & 63) == 63) {
			sink += acc[f % (2 * ES_FRAME)];
			memset(acc, 0, sizeof(acc)); /* keep the accumulator in range */
		}
	}
	return (now_s() - t0) / frames * 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 0.5;
	if (!(secs > 0.0 && secs < 60.0)) {
		fprintf(stderr, "usage: bench-render [SECONDS-PER-CASE]\n");
		return 2;
	}
	uint32_t rng = 1;
	for (unsigned f = 0; f < NFRAMES; f++)
		for (unsigned i = 0; i < ES_FRAME; i++) {
			rng = rng * 1664525u + 1013904223u;
			input[f][i] = 0.3f * (float)(int32_t)rng / 2147483648.0f;
		}
	/* size a round from a short trial */
	double trial = run(1, true, 200);
	unsigned frames = (unsigned)(secs / ROUNDS / 2.0 * 1e9 / trial);
	if (frames < 100)
		frames = 100;

	double old_ns[NCASES], new_ns[NCASES];
	printf("per voice per 20 ms frame (%u frames a round, median of %d rounds, old and new alternating)\n", frames,
	       ROUNDS);
	for (unsigned c = 0; c < NCASES; c++) {
		double o[ROUNDS], n[ROUNDS];
		for (unsigned r = 0; r < ROUNDS; r++) {
			o[r] = run(c, false, frames);
			n[r] = run(c, true, frames);
		}
		qsort(o, ROUNDS, sizeof(double), cmp);
		qsort(n, ROUNDS, sizeof(double), cmp);
		old_ns[c] = o[ROUNDS / 2];
		new_ns[c] = n[ROUNDS / 2];
		printf("%-16s equal-power pan %7.0f ns   head %7.0f ns   ratio %.2f   (%.1f ns per sample)\n", case_names[c],
		       old_ns[c], new_ns[c], new_ns[c] / old_ns[c], new_ns[c] / ES_FRAME);
	}
	printf("{\"bench\":\"render\",\"frame\":%d,\"ns_per_voice_frame\":{", ES_FRAME);
	for (unsigned c = 0; c < NCASES; c++)
		printf("%s\"%s\":{\"pan\":%.0f,\"head\":%.0f,\"ratio\":%.2f}", c ? "," : "", case_names[c], old_ns[c], new_ns[c],
		       new_ns[c] / old_ns[c]);
	printf("}}\n");
	return 0;
}
