/* SPDX-License-Identifier: MIT */
/*
 * The client's playout renders a full bundle: eight forwarded voices, each a
 * tone of its own, each at its own gain and from its own direction, through
 * the real codec and the real wire format (es_msg_encode of
 * ES_MSG_AUDIO_DOWN, es_playout_push, es_playout_pull).  Each voice must
 * arrive in each ear at the level the mixer's own renderer gives it (a
 * clean tone through es_render_voice at the same gain and direction is the
 * reference, so this holds whatever the head model does), the near ear
 * louder, and a voice the server could not forward for one tick (an entry
 * with no frame: conceal) must stay in place rather than fade out and in.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <opus.h>

#include "earshot-mixer.h"
#include "earshot-proto.h"
#include "playout.h"
#include "test.h"

#define NV 8
#define TICKS 60
#define GAP_TICK 40 /* voice GAP_VOICE comes without a frame in this tick */
#define GAP_VOICE 3

static const float hz[NV] = {350, 470, 590, 710, 830, 950, 1070, 1190};
static const float deg[NV] = {-135, -90, -45, -10, 10, 45, 90, 135};
static const float gain[NV] = {0.45f, 0.40f, 0.35f, 0.30f, 0.25f, 0.30f, 0.35f, 0.40f};
#define AMP 0.25f

static float out[TICKS][2 * ES_FRAME];
static float refl[NV][2 * ES_FRAME * 8];

/* Power of a tone in channel ch of an interleaved stereo buffer of n frames (Goertzel), as a sine's mean square. */
static double tone(const float *x, unsigned n, unsigned ch, float f)
{
	double w = 2.0 * M_PI * f / ES_RATE, cw = 2.0 * cos(w), s1 = 0, s2 = 0;
	for (unsigned i = 0; i < n; i++) {
		double s0 = x[2 * i + ch] + cw * s1 - s2;
		s2 = s1;
		s1 = s0;
	}
	return (s1 * s1 + s2 * s2 - cw * s1 * s2) * 4.0 / ((double)n * n) / 2.0;
}

static double level(unsigned from, unsigned to, unsigned ch, float f)
{
	double p = 0;
	for (unsigned t = from; t < to; t++)
		p += tone(out[t], ES_FRAME, ch, f);
	return 10.0 * log10(p / (to - from) / (AMP * AMP / 2.0) + 1e-30);
}

int main(void)
{
	int err;
	OpusEncoder *enc[NV];
	unsigned phase[NV] = {0};
	for (unsigned v = 0; v < NV; v++) {
		enc[v] = opus_encoder_create(ES_RATE, 1, OPUS_APPLICATION_AUDIO, &err);
		check(err == OPUS_OK);
		check(opus_encoder_ctl(enc[v], OPUS_SET_BITRATE(32000)) == OPUS_OK);
	}
	/* the reference: a clean tone through the mixer's renderer at the voice's gain and direction */
	double want[NV][2];
	for (unsigned v = 0; v < NV; v++) {
		struct es_voice_state st;
		es_voice_state_init(&st);
		float mono[ES_FRAME];
		for (unsigned t = 0; t < 8; t++) {
			for (unsigned i = 0; i < ES_FRAME; i++)
				mono[i] = AMP * sinf(2.0f * (float)M_PI * hz[v] * (float)(t * ES_FRAME + i) / ES_RATE);
			es_render_voice(&st, mono, gain[v], deg[v] * (float)M_PI / 180.0f, refl[v] + 2 * ES_FRAME * t);
		}
		for (unsigned ch = 0; ch < 2; ch++) /* the last four frames: the fade-in is over */
			want[v][ch] = 10.0 * log10(tone(refl[v] + 2 * ES_FRAME * 4, 4 * ES_FRAME, ch, hz[v]) / (AMP * AMP / 2.0));
	}

	struct es_playout *p = es_playout_new(1);
	check(p);
	uint8_t pkt[NV][400], msg[ES_MSG_MAX];
	unsigned max_bundle = 0;
	for (unsigned t = 0; t < TICKS; t++) {
		struct es_msg m = {.type = ES_MSG_AUDIO_DOWN};
		struct es_audio_down *d = &m.u.down;
		d->tick = 1000 + t;
		d->seq = (uint16_t)t;
		d->nvoices = NV;
		for (unsigned v = 0; v < NV; v++) {
			int16_t pcm[ES_FRAME];
			for (unsigned i = 0; i < ES_FRAME; i++)
				pcm[i] = (int16_t)lrintf(AMP * 32767.0f * sinf(2.0f * (float)M_PI * hz[v] * (float)(phase[v] + i) / ES_RATE));
			phase[v] += ES_FRAME;
			int n = opus_encode(enc[v], pcm, ES_FRAME, pkt[v], sizeof(pkt[v]));
			check(n > 0);
			d->voice[v] = (struct es_bundle_voice){.speaker = (uint16_t)(20 + v), .seq = (uint16_t)t,
							      .gain_q = es_gain_to_q(gain[v]),
							      .azimuth = (int16_t)lrintf(deg[v] * 10.0f),
							      .len = (uint16_t)n, .opus = pkt[v]};
			if (t == GAP_TICK && v == GAP_VOICE) {
				/* lost before the server: the entry comes with no frame */
				d->voice[v].len = 0;
				d->voice[v].opus = NULL;
			}
		}
		int n = es_msg_encode(&m, msg, sizeof(msg));
		check(n > 0);
		max_bundle = (unsigned)n > max_bundle ? (unsigned)n : max_bundle;
		check_int_eq(es_playout_push(p, msg, (size_t)n, ES_JE_ONE), 0);
		int16_t pcm[2 * ES_FRAME];
		es_playout_pull(p, pcm);
		for (unsigned i = 0; i < 2 * ES_FRAME; i++)
			out[t][i] = pcm[i] / 32768.0f;
	}
	struct es_playout_stats ps;
	es_playout_get_stats(p, &ps);
	check_int_eq(ps.played, TICKS);
	check_int_eq(ps.down_expected, TICKS);
	check_int_eq(ps.down_received, TICKS);
	test_log("8 voices in bundles of %u B", max_bundle);
	for (unsigned v = 0; v < NV; v++) {
		double l = level(10, 38, 0, hz[v]), r = level(10, 38, 1, hz[v]);
		test_log("voice %u (%4.0f Hz) at %6.1f deg, gain %.2f: left %6.2f dB (want %6.2f), right %6.2f dB (want %6.2f)", v,
			 hz[v], deg[v], gain[v], l, want[v][0], r, want[v][1]);
		/* an ear the pan leaves silent gets only codec noise */
		if (want[v][0] < -30.0)
			check(l < -25.0);
		else
			check_near(l, want[v][0], 1.0);
		if (want[v][1] < -30.0)
			check(r < -25.0);
		else
			check_near(r, want[v][1], 1.0);
		/* the near ear is the louder, clearly so off the middle */
		if (deg[v] >= 45.0f)
			check(r > l + 3.0);
		else if (deg[v] <= -45.0f)
			check(l > r + 3.0);
		else
			check(deg[v] > 0 ? r > l : l > r);
	}
	/*
	 * The concealed tick and the one after: the voice stays, within 3 dB
	 * (PLC of a tone loses about 2).  Left out of the bundle, as the server
	 * did before, it faded out and in again: -27 and -24 dB against -12.
	 */
	double steady = level(30, 38, 0, hz[GAP_VOICE]) + 0.0, gap = level(GAP_TICK, GAP_TICK + 1, 0, hz[GAP_VOICE]),
	       after = level(GAP_TICK + 1, GAP_TICK + 2, 0, hz[GAP_VOICE]);
	test_log("voice %u with no frame for one tick: %.2f dB, the tick after %.2f dB (steady %.2f dB)", GAP_VOICE, gap, after,
		 steady);
	check_near(gap, steady, 3.0);
	check_near(after, steady, 3.0);
	for (unsigned v = 0; v < NV; v++)
		opus_encoder_destroy(enc[v]);
	es_playout_free(p);
	printf("playout: ok\n");
	return 0;
}
