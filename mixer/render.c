/* SPDX-License-Identifier: MIT */
/*
 * One voice into a listener's stereo accumulator, through a cheap model of
 * a head.  Every voice of every mix (and every voice a client renders
 * itself) runs through here once per tick, so the model is a handful of
 * operations per sample, no allocation, and nothing that cannot ramp.
 *
 * What a head does to a voice, kept to what can be heard:
 * - Both ears hear it.  The far ear is in the head's shadow: a few dB down
 *   at low frequencies, where the wavelength bends round a head, and much
 *   more at high frequencies (Brown and Duda's one-pole head shadow, 1998).
 *   The level difference grows with |sin(azimuth)|.
 * - The far ear hears it later: up to ES_ITD_MAX samples (Woodworth's
 *   interaural delay reduced to its sin term).
 * - Behind sounds duller than ahead: the pinna shades what comes from the
 *   back above a few kHz.  The cut grows with -cos(azimuth), behind only,
 *   and is the same in both ears, so it never moves a voice left or right.
 *
 * Each ear is a shelf: hf * x + (lf - hf) * lowpass(x), whose response is
 * lf at low frequencies and hf at high ones.  Loudness is kept by equal
 * power at both ends of the shelf: near_lf^2 + far_lf^2 = near_hf^2 +
 * far_hf^2 = gain^2, so the near ear gets a little brighter as the far one
 * gets duller, and a voice is as loud from the side as from ahead (within
 * a fraction of a dB between the shelf's ends).  The rear cut is the one
 * deliberate loss: at most REAR_DB above REAR_HZ, a fraction of a dB of a
 * voice's power.
 *
 * Click-free: the shelf gains, the rear cut and the delays ramp linearly
 * across the frame from what was applied last; the filters' cut-offs never
 * change, so their states carry over from frame to frame unchanged.
 */
#include <math.h>
#include <string.h>

#include "earshot-mixer.h"
#include "render-private.h"

/* Far-ear level below the near ear for a voice at the side (|sin az| = 1). */
#define ILD_LF_DB 6.0f  /* low frequencies */
#define ILD_HF_DB 20.0f /* high frequencies */
/* The head shadow's corner: c / (2 pi a) for a head radius a of 8.75 cm is 624 Hz. */
#define SHADOW_HZ 900.0f
/* The rear cut: REAR_DB at high frequencies straight behind, corner REAR_HZ. */
#define REAR_DB 8.0f
#define REAR_HZ 2000.0f

void es_voice_state_init(struct es_voice_state *st)
{
	memset(st, 0, sizeof(*st));
}

/* What one frame ramps towards. */
struct head {
	float hf_l, lo_l, hf_r, lo_r; /* each ear: direct gain, low-passed gain (lf - hf) */
	float rear;                  /* weight of the rear cut: 1 - its high-frequency gain */
	float dl, dr;                /* delays, samples of this rate */
};

static float db_gain(float db)
{
	return expf(db * (float)(M_LN10 / 20.0));
}

static void target(float gain, float azimuth, unsigned factor, struct head *h)
{
	float lat = sinf(azimuth), side = fabsf(lat);
	float back = -cosf(azimuth);
	/* equal power at both ends of the shelf: near^2 + far^2 = gain^2 */
	float q_lf = db_gain(-ILD_LF_DB * side), q_hf = db_gain(-ILD_HF_DB * side);
	float near_lf = gain / sqrtf(1.0f + q_lf * q_lf), near_hf = gain / sqrtf(1.0f + q_hf * q_hf);
	float far_lf = near_lf * q_lf, far_hf = near_hf * q_hf;
	float itd = side * (float)ES_ITD_MAX / (float)factor;
	if (lat >= 0.0f) { /* on the right (or ahead): the left ear is the far one */
		h->hf_l = far_hf;
		h->lo_l = far_lf - far_hf;
		h->hf_r = near_hf;
		h->lo_r = near_lf - near_hf;
		h->dl = itd;
		h->dr = 0.0f;
	} else {
		h->hf_l = near_hf;
		h->lo_l = near_lf - near_hf;
		h->hf_r = far_hf;
		h->lo_r = far_lf - far_hf;
		h->dl = 0.0f;
		h->dr = itd;
	}
	h->rear = back > 0.0f ? 1.0f - db_gain(-REAR_DB * back) : 0.0f;
}

/* One-pole low-pass coefficient for a corner of hz at this rate. */
static float pole(float hz, unsigned factor)
{
	return 1.0f - expf(-2.0f * (float)M_PI * hz * (float)factor / (float)ES_RATE);
}

/*
 * Sample at fractional delay d (0..ES_ITD_MAX) before index i of x, where
 * x[-ES_ITD_MAX - 1 .. -1] is the previous frame's tail and x[n] a zero.
 */
static inline float delayed(const float *x, int i, float d)
{
	/* a ramp's rounding can leave d a hair below 0: never read ahead of i */
	float pos = (float)i - fmaxf(d, 0.0f) + (float)(ES_ITD_MAX + 2);
	/* pos > 0 here, so truncation is floor(), without a libm call */
	int i0 = (int)pos;
	float frac = pos - (float)i0;
	i0 -= ES_ITD_MAX + 2;
	/* when pos is whole, x[i0 + 1] may be x[n], the zero: weighted by frac == 0 */
	return x[i0] + (x[i0 + 1] - x[i0]) * frac;
}

/* Filter states that have decayed into denormals cost ~100x per operation: flush them. */
static float flush(float x)
{
	return fabsf(x) < 1e-20f ? 0.0f : x;
}

static inline void render(struct es_voice_state *st, const float *mono, unsigned n, unsigned factor, float gain,
			  float azimuth, float *acc)
{
	struct head h;
	target(gain, azimuth, factor, &h);
	if (!st->primed) {
		/* a voice that appears fades in from silence, at its place */
		st->hf_l = st->lo_l = st->hf_r = st->lo_r = 0.0f;
		st->rear = h.rear;
		st->delay_l = h.dl;
		st->delay_r = h.dr;
		st->primed = true;
	}
	const float inv = 1.0f / (float)n;
	const float ks = pole(SHADOW_HZ, factor), kr = pole(REAR_HZ, factor);

	/* the voice after the rear cut, what both ears hear, behind the last frame's tail */
	float buf[ES_ITD_MAX + 1 + ES_FRAME + 1];
	float *x = buf + ES_ITD_MAX + 1;
	memcpy(buf, st->hist, sizeof(st->hist));
	float rw = st->rear, srw = (h.rear - st->rear) * inv, zr = st->lp_rear;
	if (rw == 0.0f && h.rear == 0.0f) {
		/*
		 * Ahead and to the sides there is no rear cut.  Its filter rests
		 * at 0; when a voice goes behind, the cut's weight ramps up from 0
		 * while the filter settles (a few samples), so it cannot click.
		 */
		memcpy(x, mono, n * sizeof(float));
		zr = 0.0f;
	} else {
		const float cr = 1.0f - kr;
		for (unsigned i = 0; i < n; i++) {
			rw += srw;
			zr = cr * zr + kr * mono[i];
			x[i] = mono[i] - rw * (mono[i] - zr);
		}
	}
	x[n] = 0.0f;

	/* each ear: delay, then the shelf hf * s + (lf - hf) * lowpass(s) */
	float shl = (h.hf_l - st->hf_l) * inv, sll = (h.lo_l - st->lo_l) * inv;
	float shr = (h.hf_r - st->hf_r) * inv, slr = (h.lo_r - st->lo_r) * inv;
	float sdl = (h.dl - st->delay_l) * inv, sdr = (h.dr - st->delay_r) * inv;
	float hl = st->hf_l, ll = st->lo_l, hr = st->hf_r, lr = st->lo_r;
	float dl = st->delay_l, dr = st->delay_r;
	float zl = st->lp_l, zrr = st->lp_r;
	const float cs = 1.0f - ks;
	if (sdl == 0.0f && sdr == 0.0f) {
		/* delays that stay put (a voice that does not move): fixed taps, s = a x[i - k] + b x[i - k - 1] */
		float pl = fmaxf(dl, 0.0f), pr = fmaxf(dr, 0.0f);
		int kl = (int)pl, kr2 = (int)pr;
		float bl = pl - (float)kl, br = pr - (float)kr2, al = 1.0f - bl, ar = 1.0f - br;
		const float *xl = x - kl, *xr = x - kr2;
		for (unsigned i = 0; i < n; i++) {
			float sl = al * xl[i] + bl * xl[(int)i - 1], sr = ar * xr[i] + br * xr[(int)i - 1];
			zl = cs * zl + ks * sl;
			zrr = cs * zrr + ks * sr;
			hl += shl;
			ll += sll;
			hr += shr;
			lr += slr;
			acc[2 * i] += hl * sl + ll * zl;
			acc[2 * i + 1] += hr * sr + lr * zrr;
		}
	} else {
		for (unsigned i = 0; i < n; i++) {
			dl += sdl;
			dr += sdr;
			float sl = delayed(x, (int)i, dl), sr = delayed(x, (int)i, dr);
			zl = cs * zl + ks * sl;
			zrr = cs * zrr + ks * sr;
			hl += shl;
			ll += sll;
			hr += shr;
			lr += slr;
			acc[2 * i] += hl * sl + ll * zl;
			acc[2 * i + 1] += hr * sr + lr * zrr;
		}
	}
	st->hf_l = h.hf_l;
	st->lo_l = h.lo_l;
	st->hf_r = h.hf_r;
	st->lo_r = h.lo_r;
	st->rear = h.rear;
	st->delay_l = h.dl;
	st->delay_r = h.dr;
	st->lp_rear = flush(zr);
	st->lp_l = flush(zl);
	st->lp_r = flush(zrr);
	memcpy(st->hist, x + n - (ES_ITD_MAX + 1), sizeof(st->hist));
}

void es_render_voice(struct es_voice_state *st, const float *mono, float gain, float azimuth, float *acc)
{
	render(st, mono, ES_FRAME, 1, gain, azimuth, acc);
}

void es_render_voice_at(struct es_voice_state *st, const float *mono, unsigned n, unsigned factor, float gain,
			float azimuth, float *acc)
{
	render(st, mono, n, factor, gain, azimuth, acc);
}
