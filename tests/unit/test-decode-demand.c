/* SPDX-License-Identifier: MIT */
/*
 * Decode on demand (mixer/decode.c): a speaker whose frames were only
 * forwarded is decoded on the server the first tick a mix needs it.  What
 * that first decode gives must be what a decoder that never stopped would
 * have given, or the mix starts with a click.  A reference decoder here
 * decodes every frame the speaker sends; the engine's PCM for the speaker
 * (read from its private state, as WireGuard's fuzzers include the code
 * under test) is compared with it at the tick the mix starts:
 *   - after a long pause in decoding (reset, then a warm-up on the frames
 *     kept): close to the reference (SNR over 15 dB, no sample off by more
 *     than half the signal's RMS; with no warm-up it is about 2 dB and
 *     four times the RMS, a click);
 *   - after a pause of one tick (the frame missed is replayed): identical.
 * The speech is speech-like (harmonics on a wandering pitch, syllables),
 * encoded as the client does (VOIP, 24 kbit/s, 20 ms).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <opus.h>

#include "engine-private.h"
#include "test.h"

#define TICKS 200

static float ref[TICKS + 8][ES_FRAME];
static uint8_t pkt[TICKS + 8][400];
static int pkt_len[TICKS + 8];

static void make_speech(void)
{
	int err;
	OpusEncoder *enc = opus_encoder_create(ES_RATE, 1, OPUS_APPLICATION_VOIP, &err);
	check(err == OPUS_OK);
	check(opus_encoder_ctl(enc, OPUS_SET_BITRATE(24000)) == OPUS_OK);
	check(opus_encoder_ctl(enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE)) == OPUS_OK);
	OpusDecoder *dec = opus_decoder_create(ES_RATE, 1, &err);
	check(err == OPUS_OK);
	double phase = 0.0;
	for (unsigned t = 0; t < TICKS + 8; t++) {
		int16_t pcm[ES_FRAME];
		opus_int16 out[ES_FRAME];
		for (unsigned i = 0; i < ES_FRAME; i++) {
			double s = (double)(t * ES_FRAME + i) / ES_RATE;
			double f0 = 140.0 + 40.0 * sin(2.0 * M_PI * 0.7 * s); /* a wandering pitch */
			double env = 0.5 + 0.5 * sin(2.0 * M_PI * 3.0 * s);   /* syllables */
			phase += 2.0 * M_PI * f0 / ES_RATE;
			double v = 0.0;
			for (unsigned h = 1; h <= 12; h++)
				v += sin(h * phase) / (double)h;
			pcm[i] = (int16_t)lrint(6000.0 * env * v);
		}
		pkt_len[t] = opus_encode(enc, pcm, ES_FRAME, pkt[t], sizeof(pkt[t]));
		check(pkt_len[t] > 0);
		/* the reference: a decoder that never stops */
		check_int_eq(opus_decode(dec, pkt[t], pkt_len[t], out, ES_FRAME, 0), ES_FRAME);
		for (unsigned i = 0; i < ES_FRAME; i++)
			ref[t][i] = out[i] / 32768.0f;
	}
	opus_encoder_destroy(enc);
	opus_decoder_destroy(dec);
}

static void on_emit(void *ud, const struct es_engine_out *out)
{
	(void)ud;
	(void)out;
}

/* Compare the engine's PCM of the speaker with the reference frame of the same sequence number. */
static void compare(const struct person *p, double *snr_db, double *worst)
{
	unsigned seq = p->seq;
	check(seq < TICKS + 8);
	double sig = 0.0, err = 0.0, mx = 0.0;
	for (unsigned i = 0; i < ES_FRAME; i++) {
		double d = (double)p->pcm[i] - ref[seq][i];
		sig += (double)ref[seq][i] * ref[seq][i];
		err += d * d;
		mx = fmax(mx, fabs(d));
	}
	*snr_db = 10.0 * log10((sig + 1e-20) / (err + 1e-20));
	*worst = mx / sqrt(sig / ES_FRAME + 1e-20); /* the largest error, in the signal's RMS */
}

int main(void)
{
	make_speech();
	struct es_engine_config cfg;
	es_engine_config_default(&cfg);
	cfg.max_people = 4;
	struct es_engine *e = es_engine_new(&cfg);
	check(e);
	check_int_eq(es_engine_add(e, 0, 0.0f, 0.0f, 0.0f), 0);   /* speaks */
	check_int_eq(es_engine_add(e, 1, 1.0f, 0.0f, 0.0f), 0);   /* hears it forwarded */
	check_int_eq(es_engine_add(e, 2, 100.0f, 0.0f, 0.0f), 0); /* far away, then near on a thin link */
	struct person *sp = &e->people[0];
	unsigned decoded = 0, checked_reset = 0, checked_replay = 0;
	double worst_snr = 1e9, worst_err = 0.0;
	for (unsigned t = 0; t < TICKS; t++) {
		check_int_eq(es_engine_push(e, 0, t, pkt[t], (size_t)pkt_len[t], 0, ES_JE_ONE), 0);
		/*
		 * The thin listener is near from the start (its mix needs the
		 * speaker decoded: every frame, like the reference), away at 99
		 * (forwarded only), near again at 100 (the frame missed is
		 * replayed), then away for long and near at 130 and 170 (reset
		 * and warm up).
		 */
		bool near = t < 99 || (t >= 100 && t < 104) || (t >= 130 && t < 135) || (t >= 170 && t < 175);
		check_int_eq(es_engine_move(e, 2, near ? 2.0f : 100.0f, 0.0f, 0.0f), 0);
		check_int_eq(es_engine_set_flags(e, 2, near ? ES_ENGINE_THIN : 0), 0);
		check_int_eq(es_engine_tick(e, on_emit, NULL), 0);
		struct es_engine_stats st;
		es_engine_get_stats(e, &st);
		if (!near) {
			/* forwarded only: nothing decoded */
			if (sp->active)
				check_int_eq(st.decodes, 0);
			continue;
		}
		check(sp->active && sp->what == ES_JB_FRAME);
		decoded++;
		double snr, err;
		compare(sp, &snr, &err);
		if (t == 130 || t == 170) {
			test_log("tick %u: first decode after a long pause, %u frames of warm-up: SNR %.1f dB, largest error %.2f of RMS",
				 t, sp->warm, snr, err);
			check_int_eq(sp->warm, WARM_FRAMES);
			worst_snr = fmin(worst_snr, snr);
			worst_err = fmax(worst_err, err);
			checked_reset++;
		} else if (t == 100) {
			test_log("tick %u: first decode after one tick: the frame missed replayed (%u), SNR %.1f dB", t, sp->warm, snr);
			check_int_eq(sp->warm, 1);
			/* the decoder saw every frame: exactly the reference */
			check(snr > 90.0);
			checked_replay++;
		} else if (t == 131 || t == 171) {
			test_log("tick %u: the next: SNR %.1f dB", t, snr);
			worst_snr = fmin(worst_snr, snr);
			worst_err = fmax(worst_err, err);
		}
	}
	check_int_eq(checked_reset, 2);
	check_int_eq(checked_replay, 1);
	check(decoded >= 100);
	/*
	 * Clean: the warmed-up decoder is 15 dB or more above its difference from the one that never
	 * stopped, and no sample is off by more than half the signal's RMS (a
	 * click is several times it: 4.2 with no warm-up, 2.2 with two frames).
	 */
	test_log("decode on demand: worst SNR %.1f dB, worst error %.2f of RMS over the first two frames", worst_snr, worst_err);
	check(worst_snr > 15.0);
	check(worst_err < 0.5);
	es_engine_free(e);
	printf("decode-demand: ok\n");
	return 0;
}
