/* SPDX-License-Identifier: MIT */
/*
 * Capture chain in a synthetic room: far-end "speech" (harmonic syllables
 * with formant-like colour and noise) is played, passes a short decaying
 * room impulse response and lands in the microphone with a little noise.
 * Echo return loss enhancement is measured with the canceller on vs off;
 * the voice decision is checked for hang-over, pre-roll and silence.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dsp.h"
#include "test.h"

#define RATE 48000
#define FRAME 960

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t seed_base; /* ES_TEST_SEED */

/* Each test starts from its own seed, so no test depends on another's draws. */
static void reseed(uint64_t n)
{
	rng = 0x9e3779b97f4a7c15ull ^ (n * 0xbf58476d1ce4e5b9ull) ^ (seed_base * 0x2545f4914f6cdd1dull);
	if (!rng)
		rng = 1;
}

static double urand(void) /* [0,1) */
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0;
}

static double grand(void) /* ~N(0,1), sum of uniforms */
{
	double s = 0;
	for (int i = 0; i < 6; i++)
		s += urand();
	return (s - 3.0) * 1.41421356;
}

/*
 * Speech-like signal: syllables of 120-300 ms (raised-cosine envelope),
 * gaps 40-250 ms and now and then a 600 ms pause.  Each syllable is a
 * glottal-ish harmonic series (f0 100-220 Hz, gliding) weighted by two
 * formant bumps, plus a little breath noise.  Peak around `amp` (linear).
 */
static void gen_speech(float *out, size_t n, double amp, bool continuous)
{
	size_t i = 0;
	memset(out, 0, n * sizeof(float));
	while (i < n) {
		size_t len = continuous ? n : (size_t)((0.12 + 0.18 * urand()) * RATE);
		double f0 = 100 + 120 * urand(), glide = (urand() - 0.5) * 40;
		double fa = 400 + 600 * urand(), fb = 1200 + 1400 * urand();
		double ph[40] = { 0 };
		for (size_t k = 0; k < len && i + k < n; k++) {
			double t = (double)k / len;
			double env = continuous ? fmin(1.0, fmin(k, len - k) / 960.0)
						: sin(M_PI * t) * sin(M_PI * t);
			double f = f0 + glide * t, s = 0;
			for (int h = 1; h < 40 && h * f < 5000; h++) {
				double hf = h * f;
				double w = 1.0 / h + 1.5 * exp(-pow((hf - fa) / 150, 2)) +
					   0.8 * exp(-pow((hf - fb) / 250, 2));
				ph[h] += 2 * M_PI * hf / RATE;
				s += w * sin(ph[h]);
			}
			s = s * 0.25 + 0.05 * grand();
			out[i + k] = (float)(amp * env * s);
		}
		i += len;
		if (continuous)
			break;
		size_t gap = (size_t)((urand() < 0.15 ? 0.6 : 0.04 + 0.21 * urand()) * RATE);
		i += gap;
	}
}

static int16_t to16(double v)
{
	if (v > 32767)
		return 32767;
	if (v < -32768)
		return -32768;
	return (int16_t)lrint(v);
}

/* Room: 2 ms delay, direct tap and an exponentially decaying diffuse tail. */
#define IR_LEN 1440
static float ir[IR_LEN];

static void make_ir(void)
{
	memset(ir, 0, sizeof(ir));
	ir[96] = 0.45f;
	for (int k = 97; k < IR_LEN; k++)
		ir[k] = (float)(0.12 * grand() * exp(-(k - 96) / (0.006 * RATE)));
}

struct scene {
	size_t n;
	int16_t *far;      /* played */
	int16_t *mic;      /* captured: echo + near + noise */
};

/* delay: extra bulk delay of the echo path (sound card buffers), samples */
static void make_scene(struct scene *s, double secs, const float *near, size_t delay)
{
	s->n = (size_t)(secs * RATE) / FRAME * FRAME;
	float *farf = calloc(s->n, sizeof(float));
	s->far = calloc(s->n, sizeof(int16_t));
	s->mic = calloc(s->n, sizeof(int16_t));
	check(farf && s->far && s->mic);
	gen_speech(farf, s->n, 0.3 * 32768, false);
	for (size_t i = 0; i < s->n; i++)
		s->far[i] = to16(farf[i]);
	for (size_t i = 0; i < s->n; i++) {
		double e = 0;
		if (i >= delay) {
			size_t j = i - delay;
			size_t kmax = j + 1 < IR_LEN ? j + 1 : IR_LEN;
			for (size_t k = 0; k < kmax; k++)
				e += ir[k] * s->far[j - k];
		}
		double noise = 32768 * 0.0005 * grand(); /* ~-66 dBFS */
		s->mic[i] = to16(e + noise + (near ? near[i] : 0));
	}
	free(farf);
}

static void free_scene(struct scene *s)
{
	free(s->far);
	free(s->mic);
}

/* Run the chain over the scene; energy (mean square) of output in [from, n). */
static unsigned voiced_after; /* voiced frames in [from, n) of the last run */

static double run_energy(const struct scene *s, const struct es_dsp_opts *o, size_t from,
			 int16_t *out_all)
{
	voiced_after = 0;
	struct es_dsp *d = es_dsp_new(RATE, FRAME, o);
	check(d);
	int16_t buf[FRAME];
	double e = 0;
	for (size_t f = 0; f + FRAME <= s->n; f += FRAME) {
		memcpy(buf, s->mic + f, sizeof(buf));
		bool v;
		check(es_dsp_process(d, buf, s->far + f, &v) >= 0);
		if (out_all)
			memcpy(out_all + f, buf, sizeof(buf));
		if (f >= from && v)
			voiced_after++;
		if (f >= from)
			for (int i = 0; i < FRAME; i++)
				e += (double)buf[i] * buf[i];
	}
	es_dsp_free(d);
	return e / (double)(s->n - from);
}

static void test_erle(void)
{
	reseed(1);
	struct scene s;
	make_ir();
	make_scene(&s, 20.0, NULL, 0);
	size_t from = s.n - 6 * RATE; /* last 6 s, after 14 s of convergence */

	struct es_dsp_opts on = { .aec = true }, off = { .aec = false };
	double e_off = run_energy(&s, &off, from, NULL);
	double e_lin = run_energy(&s, &on, from, NULL);
	double erle_lin = 10 * log10(e_off / e_lin);

	struct es_dsp_opts on_ns = { .aec = true, .ns = true }, off_ns = { .ns = true };
	double e_off_ns = run_energy(&s, &off_ns, from, NULL);
	double e_on_ns = run_energy(&s, &on_ns, from, NULL);
	double erle_full = 10 * log10(e_off_ns / e_on_ns);

	test_log("ERLE linear canceller only: %.1f dB (echo %.1f dBFS -> %.1f dBFS)", erle_lin,
		 10 * log10(e_off / (32768.0 * 32768)), 10 * log10(e_lin / (32768.0 * 32768)));
	test_log("ERLE canceller + residual suppression (ns on both sides): %.1f dB", erle_full);
	check(erle_lin >= 20.0);
	check(erle_full >= 20.0);

	/* the whole chain must not call the echo remains voice */
	struct es_dsp_opts all = { .aec = true, .ns = true, .agc = true, .vad = true };
	run_energy(&s, &all, from, NULL);
	test_log("echo only, full chain: %u of %zu frames voiced after convergence", voiced_after,
		 (s.n - from) / FRAME);
	check(voiced_after <= (s.n - from) / FRAME / 20);
	/* and the AGC does not lift the echo remains: it only moves on voice */
	double e_all = run_energy(&s, &all, from, NULL);
	test_log("echo only: full chain output %.1f dB vs without AGC", 10 * log10(e_all / e_on_ns));
	check(e_all <= e_on_ns * 1.26);
	free_scene(&s);

	/*
	 * Sound cards add buffering between what was handed to playback and
	 * what the microphone hears: the 200 ms filter must absorb it.
	 */
	const unsigned delays_ms[] = { 60, 120 };
	for (unsigned i = 0; i < 2; i++) {
		make_scene(&s, 20.0, NULL, delays_ms[i] * (RATE / 1000));
		e_off = run_energy(&s, &off, from, NULL);
		e_lin = run_energy(&s, &on, from, NULL);
		erle_lin = 10 * log10(e_off / e_lin);
		e_off_ns = run_energy(&s, &off_ns, from, NULL);
		e_on_ns = run_energy(&s, &on_ns, from, NULL);
		erle_full = 10 * log10(e_off_ns / e_on_ns);
		test_log("ERLE with %u ms extra device delay: %.1f dB linear, %.1f dB with suppression",
			 delays_ms[i], erle_lin, erle_full);
		check(erle_lin >= 20.0);
		check(erle_full >= 20.0);
		if (delays_ms[i] == 120) {
			/* the same, told the device latency (less a 20 ms margin) */
			struct es_dsp_opts comp = { .aec = true, .far_delay_ms = 100 };
			double e_comp = run_energy(&s, &comp, from, NULL);
			double erle_comp = 10 * log10(e_off / e_comp);
			test_log("ERLE with 120 ms device delay, 100 ms of it compensated: %.1f dB linear",
				 erle_comp);
			check(erle_comp >= 20.0);
		}
		free_scene(&s);
	}
}

/*
 * How much of the near-end talker survives double talk: the chain's output
 * for mic = echo + near against its output for the near-end alone (so the
 * chain's own linear effects, DC notch and suppressor gains, cancel out),
 * from 12 s on.
 */
static double near_snr(const struct scene *s, const float *near, const struct es_dsp_opts *o,
		       int16_t *out)
{
	size_t from = 12 * RATE;
	struct scene clean = { .n = s->n };
	clean.mic = calloc(s->n, sizeof(int16_t));
	clean.far = calloc(s->n, sizeof(int16_t)); /* nothing played */
	int16_t *ref = calloc(s->n, sizeof(int16_t));
	check(clean.mic && clean.far && ref);
	for (size_t i = 0; i < s->n; i++)
		clean.mic[i] = to16(near[i]);
	run_energy(&clean, o, from, ref);
	run_energy(s, o, from, out);
	double e_ref = 0, e_err = 0;
	for (size_t i = from; i < s->n; i++) {
		e_ref += (double)ref[i] * ref[i];
		double d = (double)out[i] - ref[i];
		e_err += d * d;
	}
	free(ref);
	free_scene(&clean);
	return 10 * log10(e_ref / e_err);
}

/* The canceller must not eat the near-end talker once converged. */
static void test_doubletalk(void)
{
	reseed(2);
	size_t n = (size_t)(16.0 * RATE) / FRAME * FRAME;
	float *near = calloc(n, sizeof(float));
	check(near);
	uint64_t save = rng;
	rng = 0x1234567u;
	gen_speech(near + 12 * RATE, n - 12 * RATE, 0.15 * 32768, false);
	rng = save;

	struct scene s;
	make_scene(&s, 16.0, near, 0);
	int16_t *out = calloc(s.n, sizeof(int16_t));
	check(out);
	/*
	 * Linear canceller alone, then the chain minus AGC (which rescales the
	 * talker on purpose; the noise suppressor's spectral gains count as
	 * distortion here, so its bar is lower).
	 */
	struct es_dsp_opts lin = { .aec = true }, full = { .aec = true, .ns = true, .vad = true };
	double snr_lin = near_snr(&s, near, &lin, out);
	double snr_full = near_snr(&s, near, &full, out);
	test_log("double talk after convergence: near-end kept at %.1f dB SNR (canceller), "
		 "%.1f dB (canceller + suppressor)", snr_lin, snr_full);
	check(snr_lin >= 12.0);
	check(snr_full >= 10.0);

	/* and the voice decision still hears the talker through the echo */
	struct es_dsp_opts all = { .aec = true, .ns = true, .agc = true, .vad = true };
	struct es_dsp *d = es_dsp_new(RATE, FRAME, &all);
	check(d);
	unsigned talk = 0, talk_voiced = 0, far_only = 0, far_only_voiced = 0;
	for (size_t f = 0; f + FRAME <= s.n; f += FRAME) {
		int16_t buf[FRAME];
		bool v;
		memcpy(buf, s.mic + f, sizeof(buf));
		check(es_dsp_process(d, buf, s.far + f, &v) >= 0);
		if (f < 12 * (size_t)RATE)
			continue;
		double en = 0, ef = 0;
		for (int i = 0; i < FRAME; i++) {
			en += (double)near[f + i] * near[f + i];
			ef += (double)s.far[f + i] * s.far[f + i];
		}
		if (10 * log10(en / FRAME / 1073741824.0 + 1e-12) > -45) {
			talk++;
			talk_voiced += v;
		} else if (10 * log10(ef / FRAME / 1073741824.0 + 1e-12) > -40) {
			far_only++;
		}
		(void)far_only_voiced;
	}
	es_dsp_free(d);
	test_log("double talk: %u of %u near-end talking frames voiced", talk_voiced, talk);
	check(talk > 50 && talk_voiced >= talk * 85 / 100);
	free(out);
	free(near);
	free_scene(&s);
}

static void test_vad(void)
{
	reseed(3);
	/* 2 s room noise, 1 s continuous voice, 2 s room noise, then syllables */
	const double secs = 9.0;
	size_t n = (size_t)(secs * RATE) / FRAME * FRAME;
	float *v = calloc(n, sizeof(float));
	check(v);
	gen_speech(v + 2 * RATE, RATE, 0.2 * 32768, true);
	size_t syl_from = 5 * RATE, syl_to = 8 * RATE;
	/* syllables with short gaps: must stay voiced across the gaps */
	for (size_t at = syl_from; at + RATE / 5 < syl_to; at += RATE / 4) {
		gen_speech(v + at, RATE / 5, 0.2 * 32768, true); /* 200 ms on, 50 ms off */
	}

	struct es_dsp_opts o = { .ns = true, .vad = true };
	struct es_dsp *d = es_dsp_new(RATE, FRAME, &o);
	check(d);
	int16_t hist[8][FRAME]; /* processed output of the last frames */
	int16_t buf[FRAME];
	unsigned nframes = (unsigned)(n / FRAME);
	bool *voiced = calloc(nframes, sizeof(bool));
	int onset_preroll = -1;
	unsigned onset_frame = 0, onsets = 0;
	for (unsigned f = 0; f < nframes; f++) {
		for (int i = 0; i < FRAME; i++)
			buf[i] = to16(v[f * FRAME + i] + 32768 * 0.001 * grand()); /* ~-60 dBFS */
		int r = es_dsp_process(d, buf, NULL, &voiced[f]);
		check(r >= 0);
		if (r > 0) {
			onsets++;
			if (onset_preroll < 0) {
				onset_preroll = r;
				onset_frame = f;
				/* pre-roll is the processed output of the frames before */
				for (int k = 0; k < r; k++) {
					const int16_t *p = es_dsp_preroll(d, (unsigned)k);
					check(p);
					check(memcmp(p, hist[(f - r + k) % 8], sizeof(buf)) == 0);
				}
				check(es_dsp_preroll(d, (unsigned)r) == NULL);
			}
		} else {
			check(es_dsp_preroll(d, 0) == NULL);
		}
		memcpy(hist[f % 8], buf, sizeof(buf));
	}
	es_dsp_free(d);

	const unsigned fps = RATE / FRAME; /* 50 */
	unsigned burst_on = 2 * fps, burst_off = 3 * fps;
	for (unsigned f = 5; f < burst_on; f++) /* room noise: silent */
		check(!voiced[f]);
	test_log("onset at frame %u (voice starts at %u), pre-roll %d frames", onset_frame,
		 burst_on, onset_preroll);
	check(onset_frame >= burst_on && onset_frame <= burst_on + 2);
	check_int_eq(onset_preroll, 3); /* 60 ms at 20 ms frames */
	for (unsigned f = burst_on + 2; f < burst_off; f++)
		check(voiced[f]);
	/* hang-over: 300 ms = 15 frames after the last voiced frame */
	for (unsigned f = burst_off; f < burst_off + 14; f++)
		check(voiced[f]);
	unsigned last = burst_off;
	while (last < nframes && voiced[last])
		last++;
	test_log("voice ends at frame %u, decision false from frame %u (hang-over %u ms)",
		 burst_off, last, (last - burst_off) * 20);
	check(last >= burst_off + 15 && last <= burst_off + 18);
	for (unsigned f = last; f < syl_from / FRAME; f++)
		check(!voiced[f]);
	/* syllables 200 ms on / 50 ms off: one talk spurt, no flapping */
	for (unsigned f = syl_from / FRAME + 2; f < syl_to / FRAME - 10; f++)
		check(voiced[f]);
	check_int_eq(onsets, 2);
	free(voiced);
	free(v);
}

/*
 * A quiet talker is brought up towards the AGC target, a loud one down; in
 * the pauses the gain holds (it moves on voice only).
 */
static double agc_gain_after(double amp, size_t secs, size_t from_s)
{
	size_t n = secs * RATE;
	float *v = calloc(n, sizeof(float));
	check(v);
	gen_speech(v, n, amp * 32768, false);
	struct es_dsp_opts o = { .ns = true, .agc = true, .vad = true };
	struct es_dsp *d = es_dsp_new(RATE, FRAME, &o);
	check(d);
	int16_t buf[FRAME];
	double ein = 0, eout = 0;
	for (size_t f = 0; f + FRAME <= n; f += FRAME) {
		for (int i = 0; i < FRAME; i++)
			buf[i] = to16(v[f + i]);
		if (f >= from_s * RATE)
			for (int i = 0; i < FRAME; i++)
				ein += (double)buf[i] * buf[i];
		check(es_dsp_process(d, buf, NULL, NULL) >= 0);
		if (f >= from_s * RATE)
			for (int i = 0; i < FRAME; i++)
				eout += (double)buf[i] * buf[i];
	}
	es_dsp_free(d);
	free(v);
	return 10 * log10(eout / ein);
}

static void test_agc(void)
{
	reseed(4);
	double up = agc_gain_after(0.01, 8, 6);   /* about -52 dBFS */
	double down = agc_gain_after(0.9, 4, 2);  /* about -14 dBFS, peaks clip */
	test_log("AGC: quiet talker raised by %.1f dB, loud one lowered by %.1f dB", up, -down);
	check(up >= 10.0);
	check(down <= -3.0);
}

static void test_api(void)
{
	errno = 0;
	check(es_dsp_new(48000, 0, NULL) == NULL && errno == EINVAL);
	check(es_dsp_new(48000, 48000, NULL) == NULL && errno == EINVAL);
	check(es_dsp_new(1000, 10, NULL) == NULL && errno == EINVAL);
	struct es_dsp_opts bad = { .aec = true, .far_delay_ms = 5000 };
	check(es_dsp_new(48000, 960, &bad) == NULL && errno == EINVAL);
	es_dsp_free(NULL);

	/* vad off: every frame is sent, no pre-roll */
	struct es_dsp_opts o = { .aec = true, .ns = true, .agc = true };
	struct es_dsp *d = es_dsp_new(RATE, FRAME, &o);
	check(d);
	int16_t buf[FRAME] = { 0 };
	bool v = false;
	check_int_eq(es_dsp_process(d, buf, NULL, &v), 0);
	check(v);
	check(es_dsp_process(NULL, buf, NULL, &v) == -EINVAL);
	check(es_dsp_level(d) == 0.0f);
	es_dsp_reset(d);
	check_int_eq(es_dsp_process(d, buf, buf, NULL), 0);
	es_dsp_free(d);

	/* defaults, and a 10 ms frame at 16 kHz */
	d = es_dsp_new(16000, 160, NULL);
	check(d);
	int16_t small[160];
	for (int i = 0; i < 160; i++)
		small[i] = (int16_t)(8000 * sin(i * 0.3));
	check(es_dsp_process(d, small, NULL, &v) >= 0);
	check(es_dsp_level_db(d) < 0.0f);
	es_dsp_free(d);
}

int main(void)
{
	/* ES_TEST_SEED=n tries another synthetic room and talkers */
	const char *seed = getenv("ES_TEST_SEED");
	if (seed && *seed)
		seed_base = strtoull(seed, NULL, 0);
	test_api();
	test_vad();
	test_agc();
	test_erle();
	test_doubletalk();
	return 0;
}
