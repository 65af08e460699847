/* SPDX-License-Identifier: MIT */
/*
 * bench-dsp: what the capture chain costs per 20 ms frame at 48 kHz, for a
 * few option sets, on a synthetic echo scene (noise bursts played, heard
 * back through a short room response).  Prints one line per set and a JSON
 * object on the last line.  The client runs one chain, so "share of a core"
 * is what it costs all day.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dsp.h"

#define RATE 48000
#define FRAME 960
#define SECONDS 20

static uint32_t rng = 12345;

static float noise(void)
{
	rng = rng * 1664525u + 1013904223u;
	return (float)(int32_t)rng / 2147483648.0f;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
	const size_t n = (size_t)SECONDS * RATE;
	int16_t *far = malloc(n * sizeof(int16_t)), *mic = malloc(n * sizeof(int16_t));
	if (!far || !mic)
		return 1;
	for (size_t i = 0; i < n; i++) {
		float env = (i / 9600) % 3 == 2 ? 0.0f : 1.0f; /* 200 ms bursts, 100 ms gaps */
		far[i] = (int16_t)(6000.0f * env * noise());
	}
	for (size_t i = 0; i < n; i++) {
		float e = 0;
		for (size_t k = 0; k < 64 && k <= i; k += 8)
			e += far[i - k] * 0.3f * expf(-(float)k / 20.0f);
		mic[i] = (int16_t)(e + 20.0f * noise());
	}

	struct {
		const char *name;
		struct es_dsp_opts o;
		double us;
	} sets[] = {
		{ "full (aec ns agc vad)", { .aec = true, .ns = true, .agc = true, .vad = true }, 0 },
		{ "aec only", { .aec = true }, 0 },
		{ "ns agc vad (headset)", { .ns = true, .agc = true, .vad = true }, 0 },
		{ "full, 100 ms filter", { .aec = true, .ns = true, .agc = true, .vad = true, .filter_ms = 100 }, 0 },
	};
	const unsigned nsets = sizeof(sets) / sizeof(sets[0]);
	int16_t buf[FRAME];
	for (unsigned s = 0; s < nsets; s++) {
		struct es_dsp *d = es_dsp_new(RATE, FRAME, &sets[s].o);
		if (!d)
			return 1;
		double t0 = now_s();
		size_t frames = 0;
		for (size_t f = 0; f + FRAME <= n; f += FRAME, frames++) {
			memcpy(buf, mic + f, sizeof(buf));
			bool v;
			if (es_dsp_process(d, buf, far + f, &v) < 0)
				return 1;
		}
		double t = now_s() - t0;
		es_dsp_free(d);
		sets[s].us = t / frames * 1e6;
		printf("%-24s %7.1f us per 20 ms frame  %5.2f %% of a core\n", sets[s].name, sets[s].us,
		       sets[s].us / 20000.0 * 100.0);
	}
	printf("{\"bench\":\"dsp\",\"rate\":%d,\"frame\":%d,\"us_per_frame\":{", RATE, FRAME);
	for (unsigned s = 0; s < nsets; s++)
		printf("%s\"%s\":%.1f", s ? "," : "", sets[s].name, sets[s].us);
	printf("}}\n");
	free(far);
	free(mic);
	return 0;
}
