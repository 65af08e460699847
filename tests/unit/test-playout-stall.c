/* SPDX-License-Identifier: MIT */
/*
 * The client's playout when the client itself is late: one forwarded voice
 * whose loudness changes every 60 ms (a contour no two stretches share),
 * real Opus, real bundles, pushed and pulled as client/session.c does
 * (everything received before each pull, the arrival fraction from the last
 * pull).  The server sends a bundle every 20 ms on time; the client is paced
 * by its sound card and now and then does not run for 40-160 ms (a loaded
 * machine), after which it pulls the ticks it owes back to back, as a
 * blocking PortAudio read returns them from the capture backlog.
 *
 * Nothing was lost on the way, so what comes out must be what went in:
 * every frame played once, in order, at one lag.  Measured: the loudness
 * contour of the output against the input's, per 10 ms, at the best single
 * lag, and the frames never played.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <opus.h>

#include "earshot-mixer.h"
#include "earshot-proto.h"
#include "playout.h"
#include "test.h"

#define TICKS 1000 /* 20 s */
#define HOPS (2 * TICKS)
#define HOP (ES_FRAME / 2)
#define DRIFT_LEFT 4 /* bundles of drift the playout may keep as latency */

static float level_in[HOPS];  /* the input's loudness contour */
static float level_out[HOPS + 64];

static struct es_playout_stats near_end;
static uint32_t rng = 12345;
static uint32_t rnd(void)
{
	rng = rng * 1664525u + 1013904223u;
	return rng >> 8;
}

/* normalised correlation of level_out[lag..] against level_in[from..to) */
static double corr_at(unsigned from, unsigned to, int lag)
{
	double ma = 0, mb = 0;
	unsigned n = to - from;
	for (unsigned i = from; i < to; i++)
		ma += level_in[i], mb += level_out[i + lag];
	ma /= n, mb /= n;
	double sab = 0, saa = 0, sbb = 0;
	for (unsigned i = from; i < to; i++) {
		double a = level_in[i] - ma, b = level_out[i + lag] - mb;
		sab += a * b, saa += a * a, sbb += b * b;
	}
	return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0.0;
}

/*
 * One run: bundles sent every tick from time 0; the client pulls tick k at
 * k periods of its sound card (20 ms, or a card whose clock is slow), except that with probability stall_p per tick it stops for
 * 40-160 ms first.  Returns the contour's correlation at the best lag.
 */
static double run(double stall_p, int64_t period_us, struct es_playout_stats *ps, unsigned *stalls)
{
	int err;
	OpusEncoder *enc = opus_encoder_create(ES_RATE, 1, OPUS_APPLICATION_VOIP, &err);
	check(err == OPUS_OK);
	check(opus_encoder_ctl(enc, OPUS_SET_BITRATE(32000)) == OPUS_OK);
	struct es_playout *p = es_playout_new(1);
	check(p);
	static uint8_t msg[TICKS][ES_MSG_MAX];
	static int msg_len[TICKS];
	rng = 12345;
	double ph = 0;
	float a = 0;
	for (unsigned t = 0; t < TICKS; t++) {
		int16_t pcm[ES_FRAME];
		if (t % 3 == 0)
			a = 0.02f + 0.38f * (float)(rnd() % 1000) / 1000.0f;
		for (unsigned h = 0; h < 2; h++) {
			level_in[2 * t + h] = a;
			for (unsigned i = 0; i < HOP; i++) {
				ph += 2.0 * M_PI * (400.0 + 150.0 * sin(ph * 1e-3)) / ES_RATE;
				pcm[h * HOP + i] = (int16_t)lrint(a * 32767.0 * sin(ph));
			}
		}
		uint8_t opus[400];
		int n = opus_encode(enc, pcm, ES_FRAME, opus, sizeof(opus));
		check(n > 0);
		struct es_msg m = {.type = ES_MSG_AUDIO_DOWN};
		m.u.down.tick = 5000 + t;
		m.u.down.seq = (uint16_t)t;
		m.u.down.nvoices = 1;
		m.u.down.voice[0] = (struct es_bundle_voice){.speaker = 7, .seq = (uint16_t)t, .gain_q = es_gain_to_q(1.0f),
							   .azimuth = 0, .len = (uint16_t)n, .opus = opus};
		msg_len[t] = es_msg_encode(&m, msg[t], sizeof(msg[t]));
		check(msg_len[t] > 0);
	}
	memset(level_out, 0, sizeof(level_out));
	/* times in microseconds; bundle t leaves the server (and arrives) at 20000 t + 3000 */
	int64_t now = 0, last_pull = -1;
	unsigned sent = 0, k = 0;
	*stalls = 0;
	while (k < TICKS) {
		int64_t due = period_us * k;
		if (now < due)
			now = due; /* the sound card's clock: pull k is due at k periods */
		if (k > 50 && k < TICKS - 60 && (double)(rnd() % 100000) / 100000.0 < stall_p) {
			now += 40000 + (int64_t)(rnd() % 120001); /* the client does not run */
			++*stalls;
		}
		/* es_session_pull: take in everything that arrived, then pull */
		while (sent < TICKS && 20000LL * sent + 3000 <= now) {
			int32_t frac = last_pull < 0 ? ES_JE_ONE : es_playout_frac((now - last_pull) * 1000);
			es_playout_push(p, msg[sent], (size_t)msg_len[sent], frac);
			sent++;
		}
		int16_t out[2 * ES_FRAME];
		es_playout_pull(p, out);
		last_pull = now;
		if (k == 4 * TICKS / 5)
			es_playout_get_stats(p, &near_end); /* 16 s of pulls: the server still sending, if 15 % faster */
		for (unsigned h = 0; h < 2; h++) {
			double s = 0;
			for (unsigned i = 0; i < HOP; i++) {
				double x = (out[2 * (h * HOP + i)] + out[2 * (h * HOP + i) + 1]) / 2.0 / 32768.0;
				s += x * x;
			}
			level_out[2 * k + h] = (float)(sqrt(s / HOP) * M_SQRT2);
		}
		k++;
	}
	es_playout_get_stats(p, ps);
	/* the contour (per 10 ms) after the start (the first second: the buffer settles), at the best lag */
	double best = -1;
	for (int lag = 0; lag <= 40; lag++) {
		double c = corr_at(100, HOPS - 80, lag);
		best = c > best ? c : best;
	}
	es_playout_free(p);
	opus_encoder_destroy(enc);
	return best;
}

int main(void)
{
	struct es_playout_stats ps;
	unsigned stalls;
	/* a client that keeps time: the reference, and a check of the check */
	double calm = run(0.0, 20000, &ps, &stalls);
	test_log("on time: contour correlation %.3f; played %llu lost %llu concealed %llu dropped for drift %llu late %llu",
		 calm, (unsigned long long)ps.played, (unsigned long long)ps.lost, (unsigned long long)ps.concealed,
		 (unsigned long long)ps.dropped_drift, (unsigned long long)ps.late);
	check(calm > 0.95);
	check_int_eq(ps.dropped_drift, 0);
	/* about one stall every 1.5 s */
	double busy = run(0.013, 20000, &ps, &stalls);
	test_log("%u stalls of 40-160 ms: contour correlation %.3f; played %llu of %d, lost %llu concealed %llu dropped for drift %llu late %llu, depth now %u",
		 stalls, busy, (unsigned long long)ps.played, TICKS, (unsigned long long)ps.lost,
		 (unsigned long long)ps.concealed, (unsigned long long)ps.dropped_drift, (unsigned long long)ps.late, ps.depth);
	check(stalls >= 5);
	/*
	 * Every bundle was in the client before its turn (a late client only
	 * finds them earlier): none may be thrown away, and the contour must
	 * stay where it was.
	 */
	check_int_eq(ps.dropped_drift, 0);
	check_int_eq(ps.late, 0);
	check(busy > 0.95);
	/*
	 * Real drift is still trimmed: a sound card 0.5 % slow gathers a bundle
	 * every 4 s (5 in these 20 s); without a skip they all stay as latency.
	 */
	double slow = run(0.0, 20100, &ps, &stalls);
	test_log("a sound card 0.5 %% slow: contour correlation %.3f; dropped for drift %llu, queued at pull 800 %u (depth %u)",
		 slow, (unsigned long long)ps.dropped_drift, near_end.queued, near_end.depth);
	check(ps.dropped_drift >= 2);
	check(near_end.queued <= near_end.depth + DRIFT_LEFT);
	/* a loaded machine's jackd ran 15 % slow: the queue must still not grow */
	slow = run(0.0, 23500, &ps, &stalls);
	test_log("a sound card 15 %% slow: contour correlation %.3f; dropped for drift %llu, queued at pull 800 %u (depth %u)",
		 slow, (unsigned long long)ps.dropped_drift, near_end.queued, near_end.depth);
	check(ps.dropped_drift >= 100);
	check(near_end.queued <= near_end.depth + DRIFT_LEFT);
	printf("playout-stall: ok\n");
	return 0;
}
