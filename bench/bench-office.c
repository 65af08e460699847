/* SPDX-License-Identifier: MIT */
/*
 * bench-office: replay an office day through the real codec and time one
 * 20 ms tick of Earshot's engine against the naive mixer (Janus AudioBridge
 * style: every listener gets its own mix and its own encode), same input,
 * same run.
 *
 * Scenario "office": `people` at desks of the default office tiled (clusters
 * of eight around a table, facing it), 60 desk conversations of 2-4 people taking turns (with some
 * overlap, about 70 voices at once), one meeting of 8, everyone else silent.
 * Scenario "allhands": one voice on the stage, heard by everybody; the desks
 * listen, the meeting goes on.
 *
 * Speech-like frames (harmonics on a wandering pitch, formant-ish tilt,
 * syllable envelope, noise) are encoded once before the clock starts.
 *
 * Prints human-readable lines, then one JSON object on the last line.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <opus.h>

#include "earshot-mixer.h"
#include "pool.h"

#define NVOICE 8     /* distinct pre-encoded voices */
#define NFRAMES 250  /* 5 s each, looped */
#define MAXCONV 64

struct frame {
	uint8_t data[400];
	int len;
};

static struct frame speech[NVOICE][NFRAMES];

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

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/*
 * CPU time of this thread: on a machine shared with other work, wall time
 * includes being preempted; CPU time is what one core spent on the tick.
 */
static double cpu_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void make_speech(void)
{
	int err;
	OpusEncoder *enc = opus_encoder_create(ES_RATE, 1, OPUS_APPLICATION_VOIP, &err);
	if (err != OPUS_OK) {
		fprintf(stderr, "encoder: %s\n", opus_strerror(err));
		exit(1);
	}
	opus_encoder_ctl(enc, OPUS_SET_BITRATE(24000));
	opus_encoder_ctl(enc, OPUS_SET_COMPLEXITY(5));
	opus_encoder_ctl(enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
	opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(1));
	opus_encoder_ctl(enc, OPUS_SET_PACKET_LOSS_PERC(5));
	for (int v = 0; v < NVOICE; v++) {
		float f0base = 95.0f + 20.0f * (float)v, phase = 0.0f, noise = 0.0f;
		for (int f = 0; f < NFRAMES; f++) {
			int16_t pcm[ES_FRAME];
			for (int i = 0; i < ES_FRAME; i++) {
				float t = (float)(f * ES_FRAME + i) / ES_RATE;
				float f0 = f0base * (1.0f + 0.15f * sinf(2.0f * (float)M_PI * 0.7f * t + (float)v));
				phase += 2.0f * (float)M_PI * f0 / ES_RATE;
				float s = 0.0f;
				for (int h = 1; h <= 20; h++) {
					float hz = f0 * (float)h;
					/* a crude vowel: peaks near 500 Hz and 1500 Hz, -12 dB/oct tilt */
					float fmt = 1.0f / (1.0f + powf((hz - 500.0f) / 250.0f, 2.0f)) +
						    0.5f / (1.0f + powf((hz - 1500.0f) / 400.0f, 2.0f));
					s += fmt * sinf(phase * (float)h) / (float)h;
				}
				noise = 0.7f * noise + 0.3f * (frand() - 0.5f);
				float syl = sinf(2.0f * (float)M_PI * (3.0f + 0.3f * (float)v) * t);
				float env = syl > 0.0f ? sqrtf(syl) : 0.05f;
				float x = 0.25f * env * (s + 0.3f * noise);
				pcm[i] = (int16_t)lrintf(fmaxf(-1.0f, fminf(1.0f, x)) * 32767.0f);
			}
			int n = opus_encode(enc, pcm, ES_FRAME, speech[v][f].data, sizeof(speech[v][f].data));
			if (n < 0) {
				fprintf(stderr, "encode: %s\n", opus_strerror(n));
				exit(1);
			}
			speech[v][f].len = n;
		}
	}
	opus_encoder_destroy(enc);
}

/* ---- the floor: desks in clusters of six ---------------------------------- */

struct pos {
	float x, y, facing;
};

static struct pos *place;
static unsigned npeople;
static unsigned stage_id;
static struct es_floor *plan;
static int meeting_room = -1;
static unsigned meeting_member[8];
static float stage_x, stage_y;
static unsigned tiles_x, tiles_y;

static char cell_char(float x, float y)
{
	unsigned c, r;
	if (es_floor_cell_at(plan, x, y, &c, &r) < 0)
		return '|';
	return es_floor_row(plan, r)[c];
}

/* Walkable cells of a room, in reading order, at most max. */
static unsigned room_spots(int room, float *xs, float *ys, unsigned max, bool by_table)
{
	unsigned n = 0;
	float s = es_floor_scale(plan);
	for (unsigned r = 0; r < es_floor_rows(plan) && n < max; r++)
		for (unsigned c = 0; c < es_floor_cols(plan) && n < max; c++) {
			float x, y;
			es_floor_cell_center(plan, c, r, &x, &y);
			if (es_floor_room_at(plan, x, y) != room || !es_floor_walkable(plan, x, y))
				continue;
			if (by_table && cell_char(x, y - s) != '=' && cell_char(x, y + s) != '=')
				continue;
			/* every other cell: people sit a metre apart */
			if (by_table && (c % 2))
				continue;
			xs[n] = x;
			ys[n] = y;
			n++;
		}
	return n;
}

/*
 * The tiled default office: enough tiles of 240 desks for everyone, people
 * at the first desks in reading order, facing their cluster's table.  Each
 * tile keeps its outer walls, so a tile is one walled floor of the building.
 */
static void layout(unsigned n)
{
	struct es_floor *base = es_floor_default();
	if (!base) {
		perror("es_floor_default");
		exit(1);
	}
	unsigned per = es_floor_desk_count(base), tiles = (n + per - 1) / per;
	tiles_x = (unsigned)ceil(sqrt((double)tiles));
	tiles_y = (tiles + tiles_x - 1) / tiles_x;
	plan = es_floor_tile(base, tiles_x, tiles_y);
	es_floor_free(base);
	if (!plan || es_floor_desk_count(plan) < n) {
		fprintf(stderr, "cannot tile the default office for %u people\n", n);
		exit(1);
	}
	place = calloc(n + 1, sizeof(*place));
	npeople = n;
	float s = es_floor_scale(plan);
	for (unsigned i = 0; i < n; i++) {
		float x, y;
		if (es_floor_desk(plan, i, &x, &y, NULL) < 0)
			exit(1);
		place[i].x = x;
		place[i].y = y;
		place[i].facing = cell_char(x, y - s) == '=' ? (float)M_PI : 0.0f; /* y is north */
	}
	for (unsigned r = 0; r < es_floor_room_count(plan); r++) {
		int kind = es_floor_room_kind(plan, r);
		float xs[64], ys[64];
		if (kind == ES_ROOM_MEETING && meeting_room < 0) {
			meeting_room = (int)r;
		} else if (kind == ES_ROOM_STAGE && stage_x == 0.0f) {
			unsigned k = room_spots((int)r, xs, ys, 64, false);
			stage_x = xs[k / 2];
			stage_y = ys[k / 2];
		}
	}
}

/* ---- who talks ------------------------------------------------------------ */


struct conv {
	unsigned member[8];
	unsigned n;
	unsigned talker;   /* index into member */
	int overlap;       /* a second talker, or -1 */
	unsigned turn_left, overlap_left;
};

static struct conv conv[MAXCONV + 1];
static unsigned nconv;

static void setup_talk(bool meeting)
{
	/*
	 * 60 conversations at distinct desk clusters: a desk, and one to three
	 * of its nearest neighbours at the same table.
	 */
	bool *used = calloc(npeople, 1);
	nconv = 0;
	if (meeting) {
		/* the meeting: eight people leave their desks for the first meeting room */
		float xs[64], ys[64];
		unsigned k = room_spots(meeting_room, xs, ys, 64, true);
		if (k < 8) {
			fprintf(stderr, "meeting room too small\n");
			exit(1);
		}
		struct conv *cv = &conv[nconv++];
		cv->n = 8;
		for (unsigned i = 0; i < 8; i++) {
			unsigned id;
			do
				id = rnd() % npeople;
			while (used[id]);
			used[id] = true;
			place[id].x = xs[i];
			place[id].y = ys[i];
			place[id].facing = cell_char(xs[i], ys[i] - es_floor_scale(plan)) == '=' ? (float)M_PI : 0.0f;
			cv->member[i] = meeting_member[i] = id;
		}
		cv->talker = 0;
		cv->overlap = -1;
		cv->turn_left = 100 + rnd() % 300;
	}
	unsigned tries = 0;
	while (nconv < 60 + (meeting ? 1 : 0) && tries++ < 100000) {
		unsigned d = rnd() % npeople;
		if (used[d])
			continue;
		struct conv *cv = &conv[nconv];
		cv->n = 2 + rnd() % 3;
		cv->member[0] = d;
		unsigned got = 1;
		for (unsigned want = 1; want < cv->n; want++) {
			int best = -1;
			float bd = 2.6f * 2.6f;
			for (unsigned j = 0; j < npeople; j++) {
				float dx = place[j].x - place[d].x, dy = place[j].y - place[d].y;
				bool taken = used[j];
				for (unsigned k = 0; k < got; k++)
					taken |= cv->member[k] == j;
				if (!taken && dx * dx + dy * dy < bd) {
					bd = dx * dx + dy * dy;
					best = (int)j;
				}
			}
			if (best < 0)
				break;
			cv->member[got++] = (unsigned)best;
		}
		if (got < 2)
			continue;
		cv->n = got;
		/* nobody else starts a conversation at this table */
		for (unsigned j = 0; j < npeople; j++) {
			float dx = place[j].x - place[d].x, dy = place[j].y - place[d].y;
			if (dx * dx + dy * dy < 4.0f * 4.0f)
				used[j] = true;
		}
		cv->talker = 0;
		cv->overlap = -1;
		cv->turn_left = 50 + rnd() % 300;
		nconv++;
	}
	free(used);
}

static void advance_talk(void)
{
	for (unsigned i = 0; i < nconv; i++) {
		struct conv *cv = &conv[i];
		if (--cv->turn_left == 0) {
			cv->talker = (cv->talker + 1 + rnd() % (cv->n - 1)) % cv->n;
			cv->turn_left = 50 + rnd() % 300; /* 1-7 s turns */
			cv->overlap = -1;
		}
		if (cv->overlap >= 0 && --cv->overlap_left == 0)
			cv->overlap = -1;
		/* interruptions and back-channel: about one conversation in six overlaps */
		if (cv->overlap < 0 && rnd() % 1000 < 2) {
			cv->overlap = (int)((cv->talker + 1) % cv->n);
			cv->overlap_left = 30 + rnd() % 60;
		}
	}
}

static unsigned talkers(unsigned *ids, bool with_convs, bool allhands)
{
	unsigned n = 0;
	for (unsigned i = 0; i < nconv; i++) {
		if (!with_convs)
			continue; /* during the all-hands everybody listens */
		ids[n++] = conv[i].member[conv[i].talker];
		if (conv[i].overlap >= 0)
			ids[n++] = conv[i].member[conv[i].overlap];
	}
	if (allhands)
		ids[n++] = stage_id;
	return n;
}

/* ---- Earshot -------------------------------------------------------------- */

struct sink {
	unsigned hist[16];
	unsigned members[1 << 16];
	uint64_t bytes;
	unsigned max_bundle;
	unsigned receivers;
};

static void on_emit(void *ud, const struct es_engine_out *out)
{
	struct sink *s = ud;
	size_t b = out->mix_len;
	for (unsigned k = 0; k < out->nvoices; k++)
		b += out->voice[k].len;
	s->bytes += b;
	s->receivers++;
	if (out->mix_len && getenv("BENCH_DIAG")) {
		s->hist[out->nvoices + out->mix_voices]++;
		s->members[out->mix_stream & 0xffff]++;
	}
	if (b > s->max_bundle)
		s->max_bundle = (unsigned)b;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, unsigned n, double p)
{
	qsort(v, n, sizeof(*v), cmp_double);
	unsigned i = (unsigned)(p * (n - 1) + 0.5);
	return v[i];
}

/* ---- the naive mixer: per listener decode-mix-encode ----------------------- */

struct naive {
	OpusDecoder **dec;    /* one per person */
	OpusEncoder **enc;    /* one per sampled listener */
	unsigned nsample;
	float *pcm;           /* decoded frame per person */
};

static void naive_init(struct naive *nv, unsigned nsample)
{
	int err;
	nv->nsample = nsample;
	nv->dec = calloc(npeople + 1, sizeof(*nv->dec));
	nv->enc = calloc(nsample, sizeof(*nv->enc));
	nv->pcm = calloc((size_t)(npeople + 1) * ES_FRAME, sizeof(float));
	for (unsigned i = 0; i <= npeople; i++)
		nv->dec[i] = opus_decoder_create(ES_RATE, 1, &err);
	for (unsigned i = 0; i < nsample; i++) {
		nv->enc[i] = opus_encoder_create(ES_RATE, 2, OPUS_APPLICATION_VOIP, &err);
		opus_encoder_ctl(nv->enc[i], OPUS_SET_BITRATE(32000));
		opus_encoder_ctl(nv->enc[i], OPUS_SET_COMPLEXITY(5));
		opus_encoder_ctl(nv->enc[i], OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
	}
}

static void naive_free(struct naive *nv)
{
	for (unsigned i = 0; i <= npeople; i++)
		opus_decoder_destroy(nv->dec[i]);
	for (unsigned i = 0; i < nv->nsample; i++)
		opus_encoder_destroy(nv->enc[i]);
	free(nv->dec);
	free(nv->enc);
	free(nv->pcm);
}

/*
 * One naive tick: decode every talker once, then for every listener sum
 * everybody else (AudioBridge mixes all participants; spatial pan is one
 * per speaker, the same for all listeners) and encode.  Only nsample
 * listeners are mixed and encoded; their time is scaled to all listeners.
 */
static double naive_tick(struct naive *nv, const unsigned *ids, unsigned nt, unsigned tick, double *cpu)
{
	static int16_t dec16[ES_FRAME], out16[2 * ES_FRAME];
	static float acc[2 * ES_FRAME];
	static uint8_t pkt[1275];
	double t0 = now_us(), c0 = cpu_us();
	for (unsigned k = 0; k < nt; k++) {
		const struct frame *fr = &speech[ids[k] % NVOICE][(tick + ids[k]) % NFRAMES];
		int n = opus_decode(nv->dec[ids[k]], fr->data, fr->len, dec16, ES_FRAME, 0);
		for (int i = 0; i < n; i++)
			nv->pcm[(size_t)ids[k] * ES_FRAME + i] = dec16[i] * (1.0f / 32768.0f);
	}
	double t1 = now_us(), c1 = cpu_us();
	for (unsigned s = 0; s < nv->nsample; s++) {
		unsigned lid = (unsigned)((uint64_t)s * npeople / nv->nsample);
		memset(acc, 0, sizeof(acc));
		for (unsigned k = 0; k < nt; k++) {
			if (ids[k] == lid)
				continue;
			const float *p = &nv->pcm[(size_t)ids[k] * ES_FRAME];
			float pl = 0.5f + 0.4f * sinf((float)ids[k]), pr = 1.0f - pl;
			for (int i = 0; i < ES_FRAME; i++) {
				acc[2 * i] += p[i] * pl;
				acc[2 * i + 1] += p[i] * pr;
			}
		}
		for (int i = 0; i < 2 * ES_FRAME; i++) {
			float v = acc[i] * 32768.0f;
			out16[i] = (int16_t)(v > 32767.0f ? 32767 : v < -32768.0f ? -32768 : lrintf(v));
		}
		if (opus_encode(nv->enc[s], out16, ES_FRAME, pkt, sizeof(pkt)) < 0)
			exit(1);
	}
	double t2 = now_us(), c2 = cpu_us();
	*cpu = (c1 - c0) + (c2 - c1) * (double)npeople / (double)nv->nsample;
	return (t1 - t0) + (t2 - t1) * (double)npeople / (double)nv->nsample;
}

/* ---- a scenario ----------------------------------------------------------- */

struct result {
	double p50, p99, max, naive_p50, cpu_p50, cpu_p99, naive_cpu_p50;
	double encodes, decodes, fwd, mix, shared, silent, speakers, bytes_per_listener, bytes_per_receiver;
	double streams_shared, streams_personal, shed, load_level;
	unsigned max_bundle;
};

static bool adapt = true, mirror = false;
static unsigned threads = 1;
static unsigned budget_bps; /* --budget: every listener's downlink budget; 0: the engine's default */

static void run(const char *name, unsigned ticks, unsigned warm, unsigned nsample, unsigned naive_every, bool allhands,
		int pin_level, struct result *res)
{
	struct es_engine_config cfg;
	es_engine_config_default(&cfg);
	cfg.max_people = npeople + 1;
	if (!adapt)
		cfg.tick_budget_us = 0; /* held at one level: no guard either */
	cfg.mirror_mixes = mirror;
	cfg.threads = threads;
	struct es_pool *pool = es_pool_new(threads); /* the mixer starts no thread: it is handed these */
	if (!pool) {
		perror("es_pool_new");
		exit(1);
	}
	cfg.exec = es_pool_executor(pool);
	struct es_engine *e = es_engine_new(&cfg);
	if (!e) {
		perror("es_engine_new");
		exit(1);
	}
	es_engine_set_floor(e, plan);
	for (unsigned i = 0; i < npeople; i++)
		if (es_engine_add(e, i, place[i].x, place[i].y, place[i].facing) < 0 ||
		    (budget_bps && es_engine_set_budget(e, i, budget_bps) < 0))
			exit(1);
	/* the meeting room's doors: closed for the meeting, open for the all-hands */
	const unsigned *doors;
	int nd = es_floor_room_doors(plan, (unsigned)meeting_room, &doors);
	for (int i = 0; i < nd; i++)
		if (es_floor_door_set_open(plan, doors[i], allhands) < 0)
			exit(1);
	stage_id = npeople;
	if (allhands && es_engine_add(e, stage_id, stage_x, stage_y, 0.0f) < 0)
		exit(1);
	if (pin_level >= 0)
		es_engine_set_load_level(e, (unsigned)pin_level);

	struct naive nv;
	naive_init(&nv, nsample);
	unsigned *ids = calloc(npeople + 2, sizeof(*ids));
	double *t = calloc(ticks, sizeof(double)), *tn = calloc(ticks, sizeof(double));
	double *tc = calloc(ticks, sizeof(double)), *tnc = calloc(ticks, sizeof(double));
	unsigned nn = 0;
	memset(res, 0, sizeof(*res));
	struct sink sink = {0};

	for (unsigned tick = 0; tick < warm + ticks; tick++) {
		advance_talk();
		unsigned nt = talkers(ids, !allhands, allhands);
		double t0 = now_us(), c0 = cpu_us();
		for (unsigned k = 0; k < nt; k++) {
			unsigned id = ids[k];
			const struct frame *fr = &speech[id % NVOICE][(tick + id) % NFRAMES];
			/* sequence numbers count 20 ms frames, sent or not, like the client's */
			int r = es_engine_push(e, id, tick, fr->data, (size_t)fr->len, 0, ES_JE_ONE);
			if (r < 0 && r != -EALREADY) {
				fprintf(stderr, "push %u: %s\n", id, strerror(-r));
				exit(1);
			}
		}
		struct sink s = {0};
		if (es_engine_tick(e, on_emit, &s) < 0) {
			fprintf(stderr, "tick failed\n");
			exit(1);
		}
		double dt = now_us() - t0, dc = cpu_us() - c0;
		if (adapt)
			es_engine_report_tick_us(e, (unsigned)dt);
		if (getenv("BENCH_DIAG") && tick == warm) {
			unsigned mh[64] = {0};
			for (unsigned k = 0; k < 65536; k++)
				mh[s.members[k] < 63 ? s.members[k] : 63]++;
			printf("diag voices/listener:");
			for (unsigned k = 0; k < 16; k++)
				printf(" %u:%u", k, s.hist[k]);
			printf("\ndiag members/stream:");
			for (unsigned k = 1; k < 64; k++)
				if (mh[k])
					printf(" %u:%u", k, mh[k]);
			printf("\n");
		}
		if (tick < warm)
			continue;
		unsigned i = tick - warm;
		t[i] = dt;
		tc[i] = dc;
		struct es_engine_stats st;
		es_engine_get_stats(e, &st);
		res->encodes += st.encodes;
		res->decodes += st.decodes;
		res->fwd += st.listeners_forward;
		res->mix += st.listeners_mix;
		res->shared += st.listeners_shared;
		res->silent += st.listeners_silent;
		res->speakers += st.speakers;
		res->streams_shared += st.streams_shared;
		res->streams_personal += st.streams_personal;
		res->shed += st.listeners_shed;
		res->load_level += st.load_level;
		sink.bytes += s.bytes;
		sink.receivers += s.receivers;
		if (s.max_bundle > sink.max_bundle)
			sink.max_bundle = s.max_bundle;
		if (i % naive_every == 0)
		{
			double c;
			tn[nn] = naive_tick(&nv, ids, nt, tick, &c);
			tnc[nn++] = c;
		}
	}
	double n = ticks;
	res->p50 = pct(t, ticks, 0.5);
	res->p99 = pct(t, ticks, 0.99);
	res->max = t[ticks - 1];
	res->naive_p50 = pct(tn, nn, 0.5);
	res->cpu_p50 = pct(tc, ticks, 0.5);
	res->cpu_p99 = pct(tc, ticks, 0.99);
	res->naive_cpu_p50 = pct(tnc, nn, 0.5);
	res->encodes /= n;
	res->decodes /= n;
	res->fwd /= n;
	res->mix /= n;
	res->shared /= n;
	res->silent /= n;
	res->speakers /= n;
	res->streams_shared /= n;
	res->streams_personal /= n;
	res->shed /= n;
	res->load_level /= n;
	res->bytes_per_listener = (double)sink.bytes / n / npeople;
	res->bytes_per_receiver = sink.receivers ? (double)sink.bytes / sink.receivers : 0.0;
	res->max_bundle = sink.max_bundle;
	printf("%s: %u listeners, %.1f voices, %u ticks: tick p50 %.0f us, p99 %.0f us, max %.0f us; "
	       "naive p50 %.0f us (%u of %u listeners encoded, scaled; %u samples); ratio %.1f\n",
	       name, npeople + (allhands ? 1 : 0), res->speakers, ticks, res->p50, res->p99, res->max, res->naive_p50, nsample,
	       npeople, nn, res->naive_p50 / res->p50);
	printf("%s: per tick %.1f decodes, %.1f encodes (%.1f shared streams, %.1f personal); listeners: %.0f forwarded-only, "
	       "%.0f with a mix (%.0f shared), %.0f silent, %.1f shed; %.0f B/listener/tick, %.0f B per bundle, max bundle %u B; load level %.2f\n",
	       name, res->decodes, res->encodes, res->streams_shared, res->streams_personal, res->fwd, res->mix, res->shared,
	       res->silent, res->shed, res->bytes_per_listener, res->bytes_per_receiver, res->max_bundle, res->load_level);
	printf("%s: CPU time per tick (this thread only, not preempted time): p50 %.0f us, p99 %.0f us; naive p50 %.0f us; ratio %.1f\n",
	       name, res->cpu_p50, res->cpu_p99, res->naive_cpu_p50, res->naive_cpu_p50 / res->cpu_p50);
	fflush(stdout);
	naive_free(&nv);
	free(ids);
	free(t);
	free(tn);
	free(tc);
	free(tnc);
	es_engine_free(e);
	es_pool_free(pool);
}

int main(int argc, char **argv)
{
	unsigned people = 2000, ticks = 1500, warm = 100, nsample = 100, every = 5, pool = 1;
	int level = -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--people") && i + 1 < argc)
			people = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--ticks") && i + 1 < argc)
			ticks = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--naive-sample") && i + 1 < argc)
			nsample = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--naive-every") && i + 1 < argc)
			every = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--level") && i + 1 < argc)
			level = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			pool = (unsigned)atoi(argv[++i]); /* the office on 1 thread, then on this many */
		else if (!strcmp(argv[i], "--budget") && i + 1 < argc)
			budget_bps = (unsigned)atoi(argv[++i]) * 1000u; /* kbit/s */
		else if (!strcmp(argv[i], "--mirror"))
			mirror = true; /* mixes may be mirrored for listeners facing the other way */
		else if (!strcmp(argv[i], "--fixed-level") && i + 1 < argc) {
			level = atoi(argv[++i]);
			adapt = false; /* the engine is not told the tick cost, and its guard is off: it stays there */
		}
		else {
			fprintf(stderr, "usage: %s [--people N] [--ticks N] [--naive-sample N] [--naive-every N] [--level 0-3 | --fixed-level 0-3] [--mirror] [--threads N] [--budget KBPS]\n", argv[0]);
			return 2;
		}
	}
	if (people < 64 || ticks < 10 || nsample == 0 || nsample > people || every == 0 || pool < 1 ||
	    pool > ES_ENGINE_THREADS_MAX) {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	make_speech();
	layout(people);
	setup_talk(true);
	printf("floor: default office tiled %ux%u (%.0f m x %.0f m, %u desks), %u people, %u conversations + a closed meeting of 8\n",
	       tiles_x, tiles_y, es_floor_width_m(plan), es_floor_height_m(plan), es_floor_desk_count(plan), people, nconv - 1);

	struct result office, allhands;
	if (pool > 1) {
		/* the same office, the same talk, on one thread and then on the pool: wall time per tick */
		static struct conv saved[MAXCONV + 1];
		uint64_t seed = rng_state;
		memcpy(saved, conv, sizeof(conv));
		struct result par;
		run("office, 1 thread", ticks, warm, nsample, every, false, level, &office);
		rng_state = seed;
		memcpy(conv, saved, sizeof(conv));
		threads = pool;
		char name[64];
		snprintf(name, sizeof(name), "office, %u threads", pool);
		run(name, ticks, warm, nsample, every, false, level, &par);
		printf("threads: %u against 1: tick p50 %.0f us against %.0f (ratio %.2f), p99 %.0f against %.0f (ratio %.2f); "
		       "%.1f against %.1f encodes a tick\n",
		       pool, par.p50, office.p50, par.p50 / office.p50, par.p99, office.p99, par.p99 / office.p99, par.encodes,
		       office.encodes);
		printf("{\"bench\":\"office-threads\",\"listeners\":%u,\"ticks\":%u,\"threads\":%u,"
		       "\"tick_us_p50_1\":%.0f,\"tick_us_p99_1\":%.0f,\"tick_us_p50_n\":%.0f,\"tick_us_p99_n\":%.0f,"
		       "\"ratio_p50\":%.2f,\"ratio_p99\":%.2f,\"encodes_1\":%.1f,\"encodes_n\":%.1f,\"load_level_1\":%.2f,"
		       "\"load_level_n\":%.2f}\n",
		       people, ticks, pool, office.p50, office.p99, par.p50, par.p99, par.p50 / office.p50, par.p99 / office.p99,
		       office.encodes, par.encodes, office.load_level, par.load_level);
		free(place);
		es_floor_free(plan);
		return 0;
	}
	run("office", ticks, warm, nsample, every, false, level, &office);
	run("allhands", ticks / 2, warm, nsample, every, true, level, &allhands);

	printf("{\"bench\":\"office\",\"listeners\":%u,\"ticks\":%u,\"voices\":%.1f,"
	       "\"tick_us_p50\":%.0f,\"tick_us_p99\":%.0f,\"naive_tick_us_p50\":%.0f,\"naive_sampled_listeners\":%u,\"ratio\":%.1f,"
	       "\"decodes_per_tick\":%.1f,\"encodes_per_tick\":%.1f,\"streams_shared\":%.1f,\"streams_personal\":%.1f,"
	       "\"listeners_forwarded\":%.0f,\"listeners_mixed\":%.0f,\"listeners_shared_mix\":%.0f,\"listeners_silent\":%.0f,\"listeners_shed\":%.1f,"
	       "\"bytes_per_listener\":%.1f,\"bytes_per_bundle\":%.1f,\"max_bundle_bytes\":%u,\"load_level\":%.2f,"
	       "\"allhands_listeners\":%u,\"allhands_tick_us_p50\":%.0f,\"allhands_tick_us_p99\":%.0f,\"allhands_naive_tick_us_p50\":%.0f,"
	       "\"allhands_ratio\":%.1f,\"allhands_encodes_per_tick\":%.1f,\"allhands_listeners_forwarded\":%.0f,"
	       "\"tick_cpu_us_p50\":%.0f,\"tick_cpu_us_p99\":%.0f,\"naive_tick_cpu_us_p50\":%.0f,\"ratio_cpu\":%.1f,"
	       "\"allhands_tick_cpu_us_p50\":%.0f,\"allhands_tick_cpu_us_p99\":%.0f}\n",
	       people, ticks, office.speakers, office.p50, office.p99, office.naive_p50, nsample, office.naive_p50 / office.p50,
	       office.decodes, office.encodes, office.streams_shared, office.streams_personal, office.fwd, office.mix,
	       office.shared, office.silent, office.shed, office.bytes_per_listener, office.bytes_per_receiver, office.max_bundle,
	       office.load_level, people, allhands.p50, allhands.p99, allhands.naive_p50, allhands.naive_p50 / allhands.p50,
	       allhands.encodes, allhands.fwd, office.cpu_p50, office.cpu_p99, office.naive_cpu_p50,
	       office.naive_cpu_p50 / office.cpu_p50, allhands.cpu_p50, allhands.cpu_p99);
	free(place);
	es_floor_free(plan);
	return 0;
}
