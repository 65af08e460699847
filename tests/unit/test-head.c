/* SPDX-License-Identifier: MIT */
/*
 * The head model of es_render_voice(), heard per ear.  Speech-shaped noise
 * (the long-term spectrum of speech: flat to a few hundred Hz, falling
 * above, with a syllable rhythm) is rendered from eight directions; each
 * ear's level is measured broadband, below 500 Hz and above 4 kHz.  A voice
 * at the side must reach both ears, the far one 6-12 dB lower and duller;
 * ahead and behind must differ; loudness must not depend on direction; a
 * voice that jumps from one place to another between frames must not click.
 */
#include <math.h>
#include <string.h>

#include "earshot-mixer.h"
#include "render-private.h"
#include "test.h"

#define FRAMES 100 /* 2 s */
#define SKIP 5     /* the first frames fade in */

static double db(double p)
{
	return 10.0 * log10(p + 1e-30);
}

/* ---- speech-shaped noise -------------------------------------------------- */

static uint32_t rng = 2024;

static float white(void)
{
	rng = rng * 1664525u + 1013904223u;
	return (float)(int32_t)rng / 2147483648.0f;
}

/*
 * White noise high-passed at 100 Hz, low-passed at 500 Hz and again at
 * 4 kHz (-6 dB/octave from 500 Hz, -12 from 4 kHz, about the long-term
 * spectrum of speech), in 4 Hz syllables.
 */
static float hp_x, hp_y, lp1, lp2;

/* Start the noise again: the same seed gives the same noise. */
static void noise_reset(uint32_t seed)
{
	rng = seed;
	hp_x = hp_y = lp1 = lp2 = 0.0f;
}

static void speechlike(float *out, unsigned n, unsigned frame)
{
	const float a_hp = expf(-2.0f * (float)M_PI * 100.0f / ES_RATE);
	const float k1 = 1.0f - expf(-2.0f * (float)M_PI * 500.0f / ES_RATE);
	const float k2 = 1.0f - expf(-2.0f * (float)M_PI * 4000.0f / ES_RATE);
	for (unsigned i = 0; i < n; i++) {
		float x = white();
		float y = a_hp * (hp_y + x - hp_x);
		hp_x = x;
		hp_y = y;
		lp1 += k1 * (y - lp1);
		lp2 += k2 * (lp1 - lp2);
		float t = (float)(frame * n + i) / ES_RATE;
		float syl = 0.55f + 0.45f * sinf(2.0f * (float)M_PI * 4.0f * t);
		out[i] = 2.5f * lp2 * syl;
	}
}

/* ---- bands: RBJ biquads --------------------------------------------------- */

struct biquad {
	double b0, b1, b2, a1, a2, z1, z2;
};

static void biquad_set(struct biquad *q, bool high, double hz)
{
	double w = 2.0 * M_PI * hz / ES_RATE, c = cos(w), al = sin(w) / (2.0 * M_SQRT1_2);
	double a0 = 1.0 + al;
	double b1 = high ? -(1.0 + c) : 1.0 - c;
	*q = (struct biquad){(high ? (1.0 + c) : (1.0 - c)) / 2.0 / a0, b1 / a0, (high ? (1.0 + c) : (1.0 - c)) / 2.0 / a0,
			     -2.0 * c / a0, (1.0 - al) / a0, 0, 0};
}

static double biquad_run(struct biquad *q, double x)
{
	double y = q->b0 * x + q->z1;
	q->z1 = q->b1 * x - q->a1 * y + q->z2;
	q->z2 = q->b2 * x - q->a2 * y;
	return y;
}

/* Power per ear (0 left, 1 right): broadband, low band (< 500 Hz), high band (> 4 kHz). */
struct ears {
	double all[2], lo[2], hi[2];
};

/* Two sections each: 24 dB/octave, so the bands do not leak into each other. */
struct meter {
	struct biquad lo[2][2], hi[2][2];
	struct ears e;
	unsigned n;
};

static void meter_init(struct meter *m)
{
	memset(m, 0, sizeof(*m));
	for (unsigned ch = 0; ch < 2; ch++)
		for (unsigned s = 0; s < 2; s++) {
			biquad_set(&m->lo[ch][s], false, 500.0);
			biquad_set(&m->hi[ch][s], true, 4000.0);
		}
}

static void meter_run(struct meter *m, const float *acc, unsigned n, bool count)
{
	for (unsigned i = 0; i < n; i++)
		for (unsigned ch = 0; ch < 2; ch++) {
			double x = acc[2 * i + ch];
			double lo = biquad_run(&m->lo[ch][1], biquad_run(&m->lo[ch][0], x));
			double hi = biquad_run(&m->hi[ch][1], biquad_run(&m->hi[ch][0], x));
			if (!count)
				continue;
			m->e.all[ch] += x * x;
			m->e.lo[ch] += lo * lo;
			m->e.hi[ch] += hi * hi;
		}
	if (count)
		m->n += n;
}

/* Render speech-shaped noise from azimuth az (degrees) and measure each ear. */
static struct ears hear(double az_deg)
{
	struct es_voice_state st;
	es_voice_state_init(&st);
	struct meter m;
	meter_init(&m);
	float mono[ES_FRAME], acc[2 * ES_FRAME];
	noise_reset(2024); /* the same noise from every direction */
	for (unsigned f = 0; f < FRAMES; f++) {
		speechlike(mono, ES_FRAME, f);
		memset(acc, 0, sizeof(acc));
		es_render_voice(&st, mono, 1.0f, (float)(az_deg * M_PI / 180.0), acc);
		meter_run(&m, acc, ES_FRAME, f >= SKIP);
	}
	return m.e;
}

/* The source's own power in the same bands, through the same meters. */
static struct ears source(void)
{
	struct meter m;
	meter_init(&m);
	float mono[ES_FRAME], acc[2 * ES_FRAME];
	noise_reset(2024);
	for (unsigned f = 0; f < FRAMES; f++) {
		speechlike(mono, ES_FRAME, f);
		for (unsigned i = 0; i < ES_FRAME; i++)
			acc[2 * i] = acc[2 * i + 1] = mono[i];
		meter_run(&m, acc, ES_FRAME, f >= SKIP);
	}
	return m.e;
}

/* ---- the interaural delay ------------------------------------------------- */

/* The lag (samples) at which the left ear best matches the right ear, over 0..max. */
static int left_lag(double az_deg, int max)
{
	struct es_voice_state st;
	es_voice_state_init(&st);
	static float l[8 * ES_FRAME], r[8 * ES_FRAME];
	float mono[ES_FRAME], acc[2 * ES_FRAME];
	noise_reset(7);
	for (unsigned f = 0; f < 8; f++) {
		speechlike(mono, ES_FRAME, f);
		memset(acc, 0, sizeof(acc));
		es_render_voice(&st, mono, 1.0f, (float)(az_deg * M_PI / 180.0), acc);
		for (unsigned i = 0; i < ES_FRAME; i++) {
			l[f * ES_FRAME + i] = acc[2 * i];
			r[f * ES_FRAME + i] = acc[2 * i + 1];
		}
	}
	int best = -1;
	double bc = -1e30;
	for (int lag = 0; lag <= max; lag++) {
		double c = 0.0;
		for (unsigned i = 2 * ES_FRAME; i < 8 * ES_FRAME; i++)
			c += (double)l[i] * r[i - (unsigned)lag];
		if (c > bc) {
			bc = c;
			best = lag;
		}
	}
	return best;
}

/* ---- clicks ---------------------------------------------------------------- */

/*
 * A 200 Hz tone at 0.5 that jumps to a new place every frame (and fades in
 * and out): the largest step between two output samples, frame edges
 * included.  The tone itself steps at most 2 pi 200 / 48000 * 0.5 = 0.013
 * per sample; a gain, filter or delay that jumped instead of ramping would
 * step by a good part of 0.5.
 */
static double worst_step(unsigned factor)
{
	const double path[] = {0, 90, -90, 180, -45, 135, 90, 90, -135, 0, -90, 180, 45};
	const unsigned np = sizeof(path) / sizeof(path[0]);
	unsigned n = ES_FRAME / factor;
	struct es_voice_state st;
	es_voice_state_init(&st);
	float mono[ES_FRAME], acc[2 * ES_FRAME], last[2] = {0.0f, 0.0f};
	double worst = 0.0;
	unsigned t = 0;
	for (unsigned k = 0; k < np + 2; k++) {
		for (unsigned i = 0; i < n; i++, t++)
			mono[i] = 0.5f * sinf(2.0f * (float)M_PI * 200.0f * (float)t * (float)factor / ES_RATE);
		memset(acc, 0, sizeof(acc));
		/* the last two frames fade out at the last place */
		float gain = k < np ? 1.0f : 0.0f;
		float az = (float)(path[k < np ? k : np - 1] * M_PI / 180.0);
		if (factor == 1)
			es_render_voice(&st, mono, gain, az, acc);
		else
			es_render_voice_at(&st, mono, n, factor, gain, az, acc);
		for (unsigned i = 0; i < n; i++)
			for (unsigned ch = 0; ch < 2; ch++) {
				double step = fabs((double)acc[2 * i + ch] - last[ch]);
				worst = step > worst ? step : worst;
				last[ch] = acc[2 * i + ch];
			}
	}
	return worst;
}

int main(void)
{
	const double azs[] = {0, 45, -45, 90, -90, 135, -135, 180};
	const unsigned naz = sizeof(azs) / sizeof(azs[0]);
	struct ears src = source(), e[8];
	test_log("source: %.1f dB broadband, high band (> 4 kHz) %.1f dB below it", db(src.all[0]),
		 db(src.all[0]) - db(src.hi[0]));
	test_log("   az    left   right  (dB re source)   ILD: all    <500   >4k    L+R   high share");
	for (unsigned a = 0; a < naz; a++) {
		e[a] = hear(azs[a]);
		double l = db(e[a].all[0] / src.all[0]), r = db(e[a].all[1] / src.all[0]);
		double tot = db((e[a].all[0] + e[a].all[1]) / src.all[0]);
		double share = db((e[a].hi[0] + e[a].hi[1]) / (e[a].all[0] + e[a].all[1]));
		test_log("%5.0f  %6.2f  %6.2f                  %6.2f  %6.2f %6.2f  %6.2f  %6.2f", azs[a], l, r,
			 db(e[a].all[1]) - db(e[a].all[0]), db(e[a].lo[1]) - db(e[a].lo[0]), db(e[a].hi[1]) - db(e[a].hi[0]),
			 tot, share);
	}
	/* indices into azs */
	enum { A0, A45, AM45, A90, AM90, A135, AM135, A180 };

	/* ahead and straight behind: both ears alike */
	for (unsigned a = A0; a < naz; a += A180 - A0) {
		check_near(db(e[a].all[0]), db(e[a].all[1]), 0.05);
		check_near(db(e[a].hi[0]), db(e[a].hi[1]), 0.05);
	}
	/* left and right are mirror images */
	for (unsigned a = A45; a <= AM135; a += 2)
		for (unsigned ch = 0; ch < 2; ch++) {
			check_near(db(e[a].all[ch]), db(e[a + 1].all[1 - ch]), 0.01);
			check_near(db(e[a].hi[ch]), db(e[a + 1].hi[1 - ch]), 0.01);
		}

	/* at the side: both ears audible, the far one 6-12 dB lower, duller; near ear on its side */
	for (unsigned a = A90; a <= AM90; a++) {
		unsigned near = azs[a] > 0 ? 1 : 0, far = 1 - near;
		double ild = db(e[a].all[near]) - db(e[a].all[far]);
		double ild_lo = db(e[a].lo[near]) - db(e[a].lo[far]), ild_hi = db(e[a].hi[near]) - db(e[a].hi[far]);
		test_log("at %+.0f: far ear %.2f dB below the near one (%.2f below 500 Hz, %.2f above 4 kHz)", azs[a], ild,
			 ild_lo, ild_hi);
		check(ild >= 6.0 && ild <= 12.0);
		check(ild_lo >= 2.0 && ild_lo <= 8.0);   /* a few dB at low frequencies */
		check(ild_hi >= ild_lo + 8.0);           /* much more at high ones */
		check(db(e[a].all[far] / src.all[0]) > -20.0); /* audible: not the old exact zero */
	}
	/* half way round: the same side, less difference */
	for (unsigned a = A45; a <= AM45; a++) {
		unsigned near = azs[a] > 0 ? 1 : 0, far = 1 - near;
		double ild = db(e[a].all[near]) - db(e[a].all[far]);
		check(ild > 2.0);
		check(ild < db(e[A90].all[1]) - db(e[A90].all[0]) - 1.0);
		/* behind at 135 degrees: the same side as 45 */
		check(db(e[a + 4].all[near]) - db(e[a + 4].all[far]) > 2.0);
	}

	/* ahead and behind told apart: behind has less of its power above 4 kHz */
	double share[8];
	for (unsigned a = 0; a < naz; a++)
		share[a] = db((e[a].hi[0] + e[a].hi[1]) / (e[a].all[0] + e[a].all[1]));
	test_log("high-frequency share: ahead %.2f dB, behind %.2f dB; 45 %.2f, 135 %.2f", share[A0], share[A180], share[A45],
		 share[A135]);
	check(share[A180] < share[A0] - 3.0);
	check(share[A135] < share[A45] - 2.0);
	check(share[AM135] < share[AM45] - 2.0);
	/* ... and nowhere but behind */
	check_near(share[A90], share[A0], 1.5);

	/* loudness: L+R power the same from every direction, within 1 dB of ahead */
	double ahead = db(e[A0].all[0] + e[A0].all[1]);
	check_near(ahead, db(src.all[0]), 0.1); /* ahead: exactly the voice's power */
	for (unsigned a = 0; a < naz; a++)
		check_near(db(e[a].all[0] + e[a].all[1]), ahead, 1.0);

	/*
	 * The interaural delay is kept: a voice on the right reaches the left
	 * ear ES_ITD_MAX samples later, plus the few samples of group delay the
	 * far ear's shadow (a low-pass) adds, as a head's does.
	 */
	int lag90 = left_lag(90.0, 2 * ES_ITD_MAX), lag0 = left_lag(0.0, 2 * ES_ITD_MAX);
	test_log("left ear behind the right: %d samples at +90, %d ahead", lag90, lag0);
	check(lag90 >= ES_ITD_MAX && lag90 <= ES_ITD_MAX + 5);
	check_int_eq(lag0, 0);

	/* no click when a voice jumps between frames, at 48 kHz or in a mix made at 16 or 8 kHz */
	for (unsigned factor = 1; factor <= 6; factor *= factor == 1 ? 3 : 2) {
		double tone_step = 2.0 * M_PI * 200.0 * factor / ES_RATE * 0.5;
		double w = worst_step(factor);
		test_log("jumping voice at %u Hz: largest step %.4f (the tone's own: %.4f)", ES_RATE / factor, w, tone_step);
		check(w < 1.5 * tone_step);
	}

	/*
	 * Peaks: the near ear's shelf (brighter than its low end) can raise a
	 * peak a little: by at most 2 hf - lf = 1.110 (0.91 dB, at 45 degrees),
	 * which the limiter's comment promises.  Square waves come nearest.
	 */
	{
		float worst = 0.0f;
		for (int az = -180; az <= 180; az += 15)
			for (unsigned period = 2; period <= 96; period *= 2) {
				struct es_voice_state st;
				es_voice_state_init(&st);
				float mono[ES_FRAME], acc[2 * ES_FRAME];
				for (unsigned f = 0; f < 4; f++) {
					for (unsigned i = 0; i < ES_FRAME; i++)
						mono[i] = (i % period) < period / 2 ? 1.0f : -1.0f;
					memset(acc, 0, sizeof(acc));
					es_render_voice(&st, mono, 1.0f, (float)(az * M_PI / 180.0), acc);
					for (unsigned i = 0; f >= 2 && i < 2 * ES_FRAME; i++)
						worst = fmaxf(worst, fabsf(acc[i]));
				}
			}
		test_log("full-scale square waves from everywhere: peak %.3f (%.2f dB)", worst, 20.0 * log10(worst));
		check(worst <= 1.111f);
	}

	/* the same head in a mix made at 16 kHz: both ears, the far one lower */
	{
		struct es_voice_state st;
		es_voice_state_init(&st);
		float mono[ES_FRAME / 3], acc[2 * ES_FRAME / 3];
		double p[2] = {0, 0};
		noise_reset(5);
		for (unsigned f = 0; f < 20; f++) {
			for (unsigned i = 0; i < ES_FRAME / 3; i++)
				mono[i] = 0.3f * white();
			memset(acc, 0, sizeof(acc));
			es_render_voice_at(&st, mono, ES_FRAME / 3, 3, 1.0f, (float)(-M_PI / 2), acc);
			for (unsigned i = 0; f >= SKIP && i < ES_FRAME / 3; i++)
				for (unsigned ch = 0; ch < 2; ch++)
					p[ch] += (double)acc[2 * i + ch] * acc[2 * i + ch];
		}
		test_log("16 kHz, white noise at -90: far (right) ear %.2f dB below the near one", db(p[0]) - db(p[1]));
		check(db(p[0]) - db(p[1]) > 6.0 && db(p[0]) - db(p[1]) < 20.0);
	}
	printf("head: ok\n");
	return 0;
}
