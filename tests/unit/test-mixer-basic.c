/* SPDX-License-Identifier: MIT */
/* Distance gain, direction, rendering and limiter basics. */
#include <math.h>
#include <string.h>

#include "earshot-mixer.h"
#include "test.h"

static double db(double g)
{
	return 20.0 * log10(g);
}

static void tone(float *buf, float amp, float hz, unsigned offset)
{
	for (unsigned i = 0; i < ES_FRAME; i++)
		buf[i] = amp * sinf(2.0f * (float)M_PI * hz * (float)(i + offset) / ES_RATE);
}

static double rms_ch(const float *st, unsigned ch)
{
	double s = 0;
	for (unsigned i = 0; i < ES_FRAME; i++)
		s += (double)st[2 * i + ch] * st[2 * i + ch];
	return sqrt(s / ES_FRAME);
}

int main(void)
{
	struct es_acoustics ac;
	es_acoustics_default(&ac);

	/* distance law: full within 1.5 m, -6 dB per doubling, 0 at range */
	check_near(es_distance_gain(&ac, 0.0f), 1.0, 1e-6);
	check_near(es_distance_gain(&ac, 1.5f), 1.0, 1e-6);
	check_near(db(es_distance_gain(&ac, 3.0f)), -6.02, 0.05);
	check_near(db(es_distance_gain(&ac, 6.0f)), -12.04, 0.05);
	check(es_distance_gain(&ac, 12.0f) > 0.0f);           /* heard faintly at 12 m */
	check(db(es_distance_gain(&ac, 12.0f)) > -40.0);
	check_int_eq(es_distance_gain(&ac, ac.range_m) == 0.0f, 1);
	check_int_eq(es_distance_gain(&ac, 40.0f) == 0.0f, 1);
	check_int_eq(es_distance_gain(&ac, NAN) == 0.0f, 1);
	/* monotone, no jump at the start of the fade */
	float prev = 2.0f;
	for (float d = 0.0f; d < 16.0f; d += 0.01f) {
		float g = es_distance_gain(&ac, d);
		check(g <= prev + 1e-6f);
		check(prev > 1.5f || prev - g < 0.01f);
		prev = g;
	}

	/* direction: facing +y, a source at +x is to the right */
	check_near(es_azimuth(0, 0, 0, 1, 0), M_PI / 2, 1e-5);
	check_near(es_azimuth(0, 0, 0, -1, 0), -M_PI / 2, 1e-5);
	check_near(es_azimuth(0, 0, 0, 0, 5), 0, 1e-5);
	/* turn right by 90 degrees: the +x source is now straight ahead */
	check_near(es_azimuth(0, 0, (float)M_PI / 2, 1, 0), 0, 1e-5);

	/* render: a voice on the right is louder right, a centred one equal */
	float mono[ES_FRAME], acc[2 * ES_FRAME];
	struct es_voice_state st;
	es_voice_state_init(&st);
	tone(mono, 0.5f, 450, 0);
	for (int f = 0; f < 3; f++) { /* past the fade-in */
		memset(acc, 0, sizeof(acc));
		tone(mono, 0.5f, 450, (unsigned)f * ES_FRAME);
		es_render_voice(&st, mono, 1.0f, (float)M_PI / 2, acc);
	}
	/* on the right: louder right, and the left ear, in the head's shadow, still hears it (test-head has more) */
	check(rms_ch(acc, 1) > 1.5 * rms_ch(acc, 0));
	check(rms_ch(acc, 0) > 0.2 * rms_ch(acc, 1));
	/* loudness does not depend on direction: L^2 + R^2 is the mono power */
	check_near(rms_ch(acc, 0) * rms_ch(acc, 0) + rms_ch(acc, 1) * rms_ch(acc, 1), 0.125, 0.006);
	es_voice_state_init(&st);
	for (int f = 0; f < 3; f++) {
		memset(acc, 0, sizeof(acc));
		tone(mono, 0.5f, 450, (unsigned)f * ES_FRAME);
		es_render_voice(&st, mono, 1.0f, 0.0f, acc);
	}
	check_near(rms_ch(acc, 0), rms_ch(acc, 1), 1e-4);
	/* equal power: L^2 + R^2 equals the mono power */
	check_near(rms_ch(acc, 0) * rms_ch(acc, 0) + rms_ch(acc, 1) * rms_ch(acc, 1), 0.125, 0.002);

	/* limiter: one full-scale voice passes untouched */
	struct es_limiter lim;
	es_limiter_init(&lim);
	int16_t out[2 * ES_FRAME];
	for (unsigned i = 0; i < 2 * ES_FRAME; i++)
		acc[i] = (float)((int)(i * 7919u % 65535u) - 32767) / 32768.0f;
	es_limiter_run(&lim, acc, out, 2 * ES_FRAME);
	for (unsigned i = 0; i < 2 * ES_FRAME; i++)
		check_int_eq(out[i], lrintf(acc[i] * 32768.0f));
	/* 16 loud voices in phase: output never reaches past full scale */
	for (unsigned i = 0; i < 2 * ES_FRAME; i++)
		acc[i] = 16.0f * 0.9f * sinf((float)i * 0.01f);
	es_limiter_run(&lim, acc, out, 2 * ES_FRAME);
	int peak = 0;
	for (unsigned i = 0; i < 2 * ES_FRAME; i++)
		peak = abs(out[i]) > peak ? abs(out[i]) : peak;
	check(peak <= 32767);
	check(peak > 30000); /* limited, not muted */
	printf("mixer basic: ok\n");
	return 0;
}
