/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <string.h>

#include "earshot-mixer.h"

void es_voice_state_init(struct es_voice_state *st)
{
	memset(st, 0, sizeof(*st));
}

/*
 * Equal-power pan from the lateral component of the direction: sin(azimuth)
 * is -1 hard left, +1 hard right, and sources behind fold onto the same
 * left/right axis (a stereo pair cannot tell front from back).  The far ear
 * also hears the sound up to ES_ITD_MAX samples later (Woodworth's model
 * reduced to its sin term).
 */
static void target(float gain, float azimuth, float *gl, float *gr, float *dl, float *dr)
{
	float lat = sinf(azimuth);
	float theta = (lat + 1.0f) * (float)M_PI_4; /* 0 .. pi/2 */
	*gl = gain * cosf(theta);
	*gr = gain * sinf(theta);
	float itd = fabsf(lat) * ES_ITD_MAX;
	*dl = lat > 0.0f ? itd : 0.0f; /* source on the right: left ear late */
	*dr = lat < 0.0f ? itd : 0.0f;
}

/* Sample at fractional delay d (0..ES_ITD_MAX) before index i of cur. */
static inline float delayed(const float *hist, const float *cur, int i, float d)
{
	/* a ramp's rounding can leave d a hair below 0: never read ahead of i */
	float pos = (float)i - (d > 0.0f ? d : 0.0f);
	int i0 = (int)floorf(pos);
	float frac = pos - (float)i0;
	/* index < 0 reaches into the previous frame's tail: hist[ES_ITD_MAX + 1 + idx] */
	float a = i0 >= 0 ? cur[i0] : hist[ES_ITD_MAX + 1 + i0];
	if (frac == 0.0f)
		return a; /* pos <= i, so i0 + 1 is past i only when pos is whole */
	float b = i0 + 1 >= 0 ? cur[i0 + 1] : hist[ES_ITD_MAX + 2 + i0];
	return a + (b - a) * frac;
}

void es_render_voice(struct es_voice_state *st, const float *mono, float gain, float azimuth, float *acc)
{
	float gl, gr, dl, dr;
	target(gain, azimuth, &gl, &gr, &dl, &dr);
	if (!st->primed) {
		/* a voice that appears fades in from silence, at its place */
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
			acc[2 * i] += delayed(st->hist, mono, i, cdl) * cgl;
			acc[2 * i + 1] += delayed(st->hist, mono, i, cdr) * cgr;
		}
	}
	st->gain_l = gl;
	st->gain_r = gr;
	st->delay_l = dl;
	st->delay_r = dr;
	memcpy(st->hist, mono + ES_FRAME - (ES_ITD_MAX + 1), sizeof(st->hist));
}
