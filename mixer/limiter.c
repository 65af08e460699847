/* SPDX-License-Identifier: MIT */
#include <math.h>

#include "earshot-mixer.h"

/*
 * The ceiling is int16 full scale, so one voice at gain 1 that peaks 1 dB
 * below it never engages the limiter (the head's near-ear shelf can raise a
 * peak by 0.91 dB at most; see test-head).  Attack is instant
 * per sample, which guarantees the ceiling; release recovers about 6 dB in
 * 100 ms so a burst does not pump.
 */
#define CEILING (32767.0f / 32768.0f)
#define RELEASE 0.9995f /* per stereo sample pair at 48 kHz */

void es_limiter_init(struct es_limiter *l)
{
	l->gain = 1.0f;
}

void es_limiter_run(struct es_limiter *l, const float *acc, int16_t *out, size_t n)
{
	float g = l->gain;
	if (g == 1.0f) {
		/* the common case, nothing near full scale: a plain conversion */
		float peak = 0.0f;
		for (size_t i = 0; i < n; i++)
			peak = fmaxf(peak, fabsf(acc[i]));
		if (peak <= CEILING) {
			for (size_t i = 0; i < n; i++) {
				float v = acc[i] * 32768.0f;
				out[i] = (int16_t)(v >= 0.0f ? v + 0.5f : v - 0.5f);
			}
			return;
		}
	}
	for (size_t i = 0; i + 1 < n + 1; i += 2) {
		float a = acc[i];
		float b = i + 1 < n ? acc[i + 1] : 0.0f;
		float peak = fmaxf(fabsf(a), fabsf(b));
		/* release towards 1 first, then clamp down if this pair needs it */
		g = 1.0f - (1.0f - g) * RELEASE;
		if (peak * g > CEILING)
			g = CEILING / peak;
		float ya = a * g * 32768.0f, yb = b * g * 32768.0f;
		if (g >= 0.99999f) {
			/* untouched: exact, no rounding drift from the release */
			ya = a * 32768.0f;
			yb = b * 32768.0f;
		}
		ya = ya > 32767.0f ? 32767.0f : ya < -32768.0f ? -32768.0f : ya;
		yb = yb > 32767.0f ? 32767.0f : yb < -32768.0f ? -32768.0f : yb;
		out[i] = (int16_t)lrintf(ya);
		if (i + 1 < n)
			out[i + 1] = (int16_t)lrintf(yb);
	}
	if (g >= 0.99999f)
		g = 1.0f;
	l->gain = g;
}
