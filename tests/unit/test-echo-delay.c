/* SPDX-License-Identifier: MIT */
/*
 * The echo delay estimator finds where the far end comes back in the
 * microphone: delays from one frame to 1.5 s, through a coloured, decaying
 * "room", with noise and with the near end talking over it; it gives no
 * estimate for a microphone that hears something unrelated; it follows a
 * delay that jumps.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "echo-delay.h"
#include "test.h"

#define RATE 48000
#define FRAME 960

static uint64_t rng;

static double urand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0;
}

/* Talk-like: noise bursts of 80-300 ms with gaps of 50-400 ms, random level. */
static void talk(float *x, size_t n, double amp)
{
	size_t i = 0;
	while (i < n) {
		size_t len = (size_t)((0.08 + 0.22 * urand()) * RATE), gap = (size_t)((0.05 + 0.35 * urand()) * RATE);
		double a = amp * (0.3 + 0.7 * urand());
		for (size_t k = 0; k < len && i < n; k++, i++)
			x[i] = (float)(a * sin(M_PI * (double)k / (double)len) * (urand() * 2 - 1));
		for (size_t k = 0; k < gap && i < n; k++, i++)
			x[i] = 0;
	}
}

static int16_t s16(double v)
{
	return (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : lrint(v));
}

/*
 * Run `seconds` of far end with the echo at `delay` samples (then at
 * `delay2` for the second half if >= 0); the near end talks when
 * near_amp > 0.  Returns the final estimate.
 */
static int run(unsigned delay, int delay2, double seconds, double near_amp, bool unrelated)
{
	size_t n = (size_t)(seconds * RATE);
	float *far = calloc(n, sizeof(float)), *near = calloc(n, sizeof(float)), *other = calloc(n, sizeof(float));
	check(far && near && other);
	talk(far, n, 12000);
	if (near_amp > 0)
		talk(near, n, near_amp);
	if (unrelated)
		talk(other, n, 12000);
	struct es_echo_delay *e = es_echo_delay_new(RATE, 2000);
	check(e != NULL);
	int16_t f[FRAME], m[FRAME];
	double room = 0; /* a one-pole colouring: the echo is not a copy */
	for (size_t t = 0; t + FRAME <= n; t += FRAME) {
		size_t d = delay2 >= 0 && t >= n / 2 ? (size_t)delay2 : delay;
		for (unsigned i = 0; i < FRAME; i++) {
			size_t k = t + i;
			double echo = unrelated ? other[k] : k >= d ? 0.5 * far[k - d] : 0;
			room = 0.6 * room + 0.4 * echo;
			f[i] = s16(far[k]);
			m[i] = s16(room + near[k] + 30.0 * (urand() * 2 - 1));
		}
		(void)es_echo_delay_feed(e, f, m, FRAME);
	}
	int est = es_echo_delay_samples(e);
	es_echo_delay_free(e);
	free(far), free(near), free(other);
	return est;
}

int main(void)
{
	static const unsigned delays_ms[] = {20, 61, 300, 800, 1500};
	const int tol = RATE * 5 / 1000; /* a block and a bit */
	rng = 0x2545f4914f6cdd1dull;
	for (unsigned i = 0; i < sizeof(delays_ms) / sizeof(delays_ms[0]); i++) {
		unsigned d = RATE * delays_ms[i] / 1000;
		int est = run(d, -1, 12.0, 0, false);
		test_log("echo at %u ms: estimated %.1f ms", delays_ms[i], est * 1000.0 / RATE);
		check(est >= 0 && abs(est - (int)d) <= tol);
		/*
		 * The near end talking all along, as loud as the echo: onsets
		 * mask each other, so only to 10 ms (the canceller's filter
		 * absorbs that: dsp.h ES_DSP_ALIGN_*).
		 */
		est = run(d, -1, 12.0, 2000, false);
		test_log("echo at %u ms, double talk: estimated %.1f ms", delays_ms[i], est * 1000.0 / RATE);
		check(est >= 0 && abs(est - (int)d) <= RATE / 100);
	}
	/* a microphone that hears something else: no estimate */
	check_int_eq(run(0, -1, 12.0, 0, true), -1);
	/* the loop changes (a new device): the estimate follows */
	int est = run(RATE / 10, RATE / 2, 30.0, 0, false);
	test_log("echo moved from 100 to 500 ms: estimated %.1f ms", est * 1000.0 / RATE);
	check(abs(est - RATE / 2) <= tol);
	/* bad arguments */
	check(es_echo_delay_new(RATE, 0) == NULL);
	check(es_echo_delay_new(1000, 100) == NULL);
	es_echo_delay_free(NULL);
	return 0;
}
