/* SPDX-License-Identifier: MIT */
/*
 * Band-limit and decimate a 48 kHz mix for a low-rate encoder.  Under load
 * the background streams are encoded at 16 or 8 kHz, where Opus (SILK) costs
 * a third to a half of its 48 kHz price; an encoder fed 48 kHz with a
 * bandwidth cap would resample internally and save far less.  A windowed
 * sinc low-pass, evaluated only at the kept samples.
 */
#include <math.h>
#include <string.h>

#include "engine-private.h"

void es_decim_init(struct es_decim *d, unsigned factor)
{
	memset(d, 0, sizeof(*d));
	d->factor = factor;
	d->ntaps = factor * 4 > DECIM_TAPS ? DECIM_TAPS : factor * 4;
	float fc = 0.45f / (float)factor; /* of the input rate: 0.9 x the output Nyquist */
	float sum = 0.0f, mid = (float)(d->ntaps - 1) / 2.0f;
	for (unsigned i = 0; i < d->ntaps; i++) {
		float x = (float)i - mid;
		float s = x == 0.0f ? 2.0f * fc : sinf(2.0f * (float)M_PI * fc * x) / ((float)M_PI * x);
		float w = 0.42f - 0.5f * cosf(2.0f * (float)M_PI * (float)i / (float)(d->ntaps - 1)) +
			  0.08f * cosf(4.0f * (float)M_PI * (float)i / (float)(d->ntaps - 1));
		d->taps[i] = s * w;
		sum += d->taps[i];
	}
	for (unsigned i = 0; i < d->ntaps; i++)
		d->taps[i] /= sum;
}

void es_decimate(const struct es_decim *d, float *hist, const float *in, unsigned ch, float *out)
{
	float buf[DECIM_TAPS + ES_FRAME];
	unsigned h = d->ntaps - 1, nout = ES_FRAME / d->factor;
	for (unsigned c = 0; c < ch; c++) {
		float *hc = hist + c * (DECIM_TAPS - 1);
		memcpy(buf, hc, h * sizeof(float));
		for (unsigned i = 0; i < ES_FRAME; i++)
			buf[h + i] = in[i * ch + c];
		for (unsigned o = 0; o < nout; o++) {
			/* oldest sample of this output's window first; taps are symmetric */
			const float *x = buf + (o + 1) * d->factor - 1;
			float a[4] = {0.0f, 0.0f, 0.0f, 0.0f};
			unsigned t = 0;
			for (; t + 4 <= d->ntaps; t += 4)
				for (unsigned k = 0; k < 4; k++)
					a[k] += d->taps[t + k] * x[t + k];
			for (; t < d->ntaps; t++)
				a[0] += d->taps[t] * x[t];
			out[o * ch + c] = (a[0] + a[1]) + (a[2] + a[3]);
		}
		memcpy(hc, buf + ES_FRAME, h * sizeof(float));
	}
}
