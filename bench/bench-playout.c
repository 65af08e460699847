/* SPDX-License-Identifier: MIT */
/*
 * bench-playout: what the client's playout costs per 20 ms frame when it
 * renders N forwarded voices (client/playout.c: es_playout_push of each
 * downlink bundle as it arrives, es_playout_pull once per 20 ms: a jitter
 * buffer, one Opus decoder per voice, FEC and PLC, the head-model renderer,
 * the limiter), against one voice, in the same run.
 *
 * The voices are real Opus frames from real encodes, made before the clock
 * starts: speech-like signals (harmonics on a wandering pitch, two formant
 * bumps, a syllable envelope, noise; bench-office's generator), one encoder
 * per voice as each speaker's client has, mono 24 kbit/s VOIP, complexity 5,
 * in-band FEC on (the client's settings).  Bundles are built with the real
 * wire format (es_msg_encode of ES_MSG_AUDIO_DOWN), each voice at its own
 * gain and direction.  Loss, the same pattern for every set: --loss P % of
 * bundles never arrive (the client conceals every voice with FEC from the
 * next bundle, which is queued because bundles are pushed one tick ahead,
 * or PLC after two in a row), and 1 % of voice entries come with no frame
 * (the server had none: PLC in place).
 *
 * Sets run alternately in blocks of --block frames, --rounds times, so a
 * busy machine weighs on all alike.  Time is this thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID) per 20 ms frame (one pull plus the push of the
 * bundle that arrived in that period): on a shared machine wall time would
 * include being preempted.  "Share of a core" is the mean over 20 ms.  The
 * last line printed is one JSON object.
 *
 *   ./build/bench/bench-playout [--rounds 20] [--block 250] [--loss 5]
 */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <opus.h>

#include "earshot-mixer.h"
#include "earshot-proto.h"
#include "playout.h"

#define NVOICE 8    /* distinct speakers, each encoded by its own encoder */
#define NFRAMES 250 /* 5 s each, looped */

struct frame {
	uint8_t data[400];
	int len;
};

static struct frame speech[NVOICE][NFRAMES];
static uint8_t mixf[NFRAMES][1500]; /* a stereo 48 kbit/s background mix (CELT), for the mix set */
static int mixlen[NFRAMES];

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}
static float frand(void)
{
	return (float)(rnd() & 0xffffff) / (float)0x1000000;
}

static double cpu_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* One speaker's 20 ms at frame f (bench-office's generator). */
static void voice_pcm(int v, int f, float *phase, float *noise, int16_t *pcm)
{
	float f0base = 95.0f + 20.0f * (float)v;
	for (int i = 0; i < ES_FRAME; i++) {
		float t = (float)(f * ES_FRAME + i) / ES_RATE;
		float f0 = f0base * (1.0f + 0.15f * sinf(2.0f * (float)M_PI * 0.7f * t + (float)v));
		*phase += 2.0f * (float)M_PI * f0 / ES_RATE;
		float s = 0.0f;
		for (int h = 1; h <= 20; h++) {
			float hz = f0 * (float)h;
			float fmt = 1.0f / (1.0f + powf((hz - 500.0f) / 250.0f, 2.0f)) +
				    0.5f / (1.0f + powf((hz - 1500.0f) / 400.0f, 2.0f));
			s += fmt * sinf(*phase * (float)h) / (float)h;
		}
		*noise = 0.7f * *noise + 0.3f * (frand() - 0.5f);
		float syl = sinf(2.0f * (float)M_PI * (3.0f + 0.3f * (float)v) * t);
		float env = syl > 0.0f ? sqrtf(syl) : 0.05f;
		float x = 0.25f * env * (s + 0.3f * *noise);
		pcm[i] = (int16_t)lrintf(fmaxf(-1.0f, fminf(1.0f, x)) * 32767.0f);
	}
}

static int make_speech(void)
{
	int err;
	/* the server's mixes: CELT alone (restricted low delay), stereo, 48 kbit/s, complexity 5 (mixer/stream.c) */
	OpusEncoder *menc = opus_encoder_create(ES_RATE, 2, OPUS_APPLICATION_RESTRICTED_LOWDELAY, &err);
	if (err != OPUS_OK)
		return -1;
	opus_encoder_ctl(menc, OPUS_SET_BITRATE(48000));
	opus_encoder_ctl(menc, OPUS_SET_COMPLEXITY(5));
	static int16_t stereo[NFRAMES][2 * ES_FRAME];
	for (int v = 0; v < NVOICE; v++) {
		OpusEncoder *enc = opus_encoder_create(ES_RATE, 1, OPUS_APPLICATION_VOIP, &err);
		if (err != OPUS_OK)
			return -1;
		opus_encoder_ctl(enc, OPUS_SET_BITRATE(24000));
		opus_encoder_ctl(enc, OPUS_SET_COMPLEXITY(5));
		opus_encoder_ctl(enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
		opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(1));
		opus_encoder_ctl(enc, OPUS_SET_PACKET_LOSS_PERC(10));
		float phase = 0.0f, noise = 0.0f;
		for (int f = 0; f < NFRAMES; f++) {
			int16_t pcm[ES_FRAME];
			voice_pcm(v, f, &phase, &noise, pcm);
			int n = opus_encode(enc, pcm, ES_FRAME, speech[v][f].data, sizeof(speech[v][f].data));
			if (n < 0) {
				fprintf(stderr, "encode: %s\n", opus_strerror(n));
				return -1;
			}
			speech[v][f].len = n;
			/* the background: all voices, one a side */
			for (int i = 0; i < ES_FRAME; i++)
				stereo[f][2 * i + (v & 1)] = (int16_t)(stereo[f][2 * i + (v & 1)] + pcm[i] / 4);
		}
		opus_encoder_destroy(enc);
	}
	for (int f = 0; f < NFRAMES; f++) {
		mixlen[f] = opus_encode(menc, stereo[f], ES_FRAME, mixf[f], sizeof(mixf[f]));
		if (mixlen[f] < 0)
			return -1;
	}
	opus_encoder_destroy(menc);
	return 0;
}

struct set {
	const char *name;
	unsigned voices;
	bool mix;
	struct es_playout *p;
	uint32_t tick;      /* next bundle's tick */
	uint16_t seq;
	uint32_t loss_rng;  /* bundle loss: the same pattern for every set */
	double *us;         /* per frame */
	size_t n;
	bool last_lost;
	uint64_t lost_fec, lost_plc, no_frame; /* bundles lost with the next one arriving (FEC), two in a row (PLC); entries without a frame */
	struct es_playout_stats st;
};

static uint32_t lrand(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

/* A hash of (tick, voice): which entries come without a frame, the same in every set. */
static uint32_t entry_hash(uint32_t t, unsigned v)
{
	uint32_t x = t * 8u + v + 0x9e3779b9u;
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

/* The bundle for tick t: -1 if lost on the way. */
static int build(struct set *s, uint32_t t, unsigned loss_pct, uint8_t *out)
{
	struct es_msg m = {.type = ES_MSG_AUDIO_DOWN};
	struct es_audio_down *d = &m.u.down;
	d->tick = t;
	d->seq = s->seq++;
	d->nvoices = (uint8_t)s->voices;
	int f = (int)(t % NFRAMES);
	for (unsigned v = 0; v < s->voices; v++) {
		float deg = -157.5f + 45.0f * (float)v;
		d->voice[v] = (struct es_bundle_voice){.speaker = (uint16_t)(20 + v), .seq = (uint16_t)t,
						      .gain_q = es_gain_to_q(0.25f + 0.05f * (float)v),
						      .azimuth = (int16_t)lrintf(deg * 10.0f),
						      .len = (uint16_t)speech[v][f].len, .opus = speech[v][f].data};
		if (loss_pct && entry_hash(t, v) % 100 == 0) { /* the server had no frame of it: PLC in place */
			d->voice[v].len = 0;
			d->voice[v].opus = NULL;
			s->no_frame++;
		}
	}
	if (s->mix) {
		d->mix_stream = 1;
		d->mix_len = (uint16_t)mixlen[f];
		d->mix = mixf[f];
	}
	bool lost = lrand(&s->loss_rng) % 1000 < loss_pct * 10;
	if (s->last_lost) /* the one before: concealed with this one's FEC, or by PLC */
		*(lost ? &s->lost_plc : &s->lost_fec) += 1;
	s->last_lost = lost;
	int n = es_msg_encode(&m, out, ES_MSG_MAX);
	if (n < 0) {
		fprintf(stderr, "es_msg_encode: %d\n", n);
		exit(1);
	}
	return lost ? -1 : n;
}

/*
 * One 20 ms period: the bundle that arrived is pushed, one frame pulled.
 * Bundles arrive one tick ahead of playout (the first is pushed alone), so
 * when one is lost the next is queued and its voices' FEC is at hand.
 */
static double period(struct set *s, unsigned loss_pct)
{
	static int16_t pcm[2 * ES_FRAME];
	uint8_t msg[ES_MSG_MAX];
	int n = build(s, s->tick++, loss_pct, msg);
	double t0 = cpu_us();
	if (n > 0)
		(void)es_playout_push(s->p, msg, (size_t)n, ES_JE_ONE / 2);
	es_playout_pull(s->p, pcm);
	return cpu_us() - t0;
}

static void first(struct set *s)
{
	uint8_t msg[ES_MSG_MAX];
	int n = build(s, s->tick++, 0, msg);
	(void)es_playout_push(s->p, msg, (size_t)n, ES_JE_ONE / 2);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	size_t i = (size_t)ceil(p * (double)n);
	return v[i == 0 ? 0 : i > n ? n - 1 : i - 1];
}

int main(int argc, char **argv)
{
	unsigned rounds = 20, block = 250, loss = 5;
	static const struct option lo[] = {
		{"rounds", 1, NULL, 'r'}, {"block", 1, NULL, 'b'}, {"loss", 1, NULL, 'l'}, {0},
	};
	int o;
	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 'r': rounds = (unsigned)atoi(optarg); break;
		case 'b': block = (unsigned)atoi(optarg); break;
		case 'l': loss = (unsigned)atoi(optarg); break;
		default:
			fprintf(stderr, "usage: bench-playout [--rounds N] [--block FRAMES] [--loss PERCENT]\n");
			return 2;
		}
	}
	if (rounds < 1 || rounds > 1000 || block < 10 || block > 10000 || loss > 50) {
		fprintf(stderr, "bench-playout: rounds 1..1000, block 10..10000, loss 0..50\n");
		return 2;
	}
	if (make_speech() < 0)
		return 1;
	struct set sets[] = {
		{.name = "1 voice (baseline)", .voices = 1},
		{.name = "8 voices", .voices = 8},
		{.name = "8 voices + background mix", .voices = 8, .mix = true},
	};
	const unsigned nsets = sizeof(sets) / sizeof(sets[0]);
	for (unsigned k = 0; k < nsets; k++) {
		struct set *s = &sets[k];
		s->p = es_playout_new(1);
		s->us = calloc((size_t)rounds * block, sizeof(double));
		s->tick = 1000;
		s->loss_rng = 777;
		if (!s->p || !s->us)
			return 1;
		/* warm-up: the buffer settles, every decoder has run (not timed) */
		first(s);
		for (unsigned i = 0; i < 50; i++)
			(void)period(s, 0);
	}
	for (unsigned r = 0; r < rounds; r++)
		for (unsigned k = 0; k < nsets; k++)
			for (unsigned i = 0; i < block; i++)
				sets[k].us[sets[k].n++] = period(&sets[k], loss);
	double base_mean = 0;
	printf("client playout, %u frames of 20 ms per set (%u rounds of %u, alternating), %u %% of bundles lost, "
	       "1 %% of voice entries without a frame\n", rounds * block, rounds, block, loss);
	for (unsigned k = 0; k < nsets; k++) {
		struct set *s = &sets[k];
		double sum = 0;
		for (size_t i = 0; i < s->n; i++)
			sum += s->us[i];
		double mean = sum / (double)s->n;
		qsort(s->us, s->n, sizeof(double), cmp_d);
		if (k == 0)
			base_mean = mean;
		es_playout_get_stats(s->p, &s->st);
		printf("%-26s p50 %6.1f us  p99 %6.1f us  mean %6.1f us per frame  %5.2f %% of a core  x%.2f of 1 voice"
		       "  (played %llu, lost %llu: %llu by FEC, %llu by PLC; %llu entries without a frame)\n",
		       s->name, pct(s->us, s->n, 0.5), pct(s->us, s->n, 0.99), mean, mean / 20000.0 * 100.0,
		       mean / base_mean, (unsigned long long)s->st.played, (unsigned long long)s->st.lost,
		       (unsigned long long)s->lost_fec, (unsigned long long)s->lost_plc, (unsigned long long)s->no_frame);
	}
	printf("{\"bench\":\"playout\",\"frames\":%u,\"loss_pct\":%u,\"sets\":[", rounds * block, loss);
	for (unsigned k = 0; k < nsets; k++) {
		struct set *s = &sets[k];
		double sum = 0;
		for (size_t i = 0; i < s->n; i++)
			sum += s->us[i];
		printf("%s{\"name\":\"%s\",\"voices\":%u,\"mix\":%s,\"us_p50\":%.1f,\"us_p99\":%.1f,\"us_mean\":%.1f,"
		       "\"core_pct\":%.3f,\"ratio\":%.2f,\"lost\":%llu,\"concealed\":%llu}",
		       k ? "," : "", s->name, s->voices, s->mix ? "true" : "false", pct(s->us, s->n, 0.5),
		       pct(s->us, s->n, 0.99), sum / (double)s->n, sum / (double)s->n / 200.0,
		       sum / (double)s->n / base_mean, (unsigned long long)s->st.lost, (unsigned long long)s->st.concealed);
	}
	printf("]}\n");
	for (unsigned k = 0; k < nsets; k++) {
		es_playout_free(sets[k].p);
		free(sets[k].us);
	}
	return 0;
}
