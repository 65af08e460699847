/* SPDX-License-Identifier: MIT */
/*
 * Capture chain on speexdsp.  speex works best on 10 ms blocks (faster echo
 * filter adaptation, finer noise tracking), so a 20 ms frame is processed as
 * two 10 ms sub-frames; the voice decision is made once per frame.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>

#include "dsp.h"
#include "echo-delay.h"

/* A frame counts as voice if it is this far above the tracked noise floor... */
#define VAD_MARGIN_DB 9.0f
/* ...and above this absolute level (a quiet room, a good mic: ~-70 dBFS). */
#define VAD_ABS_FLOOR_DB -55.0f
/* A pre-roll frame within this of the noise floor has nothing to hear: the receiver may skip it. */
#define QUIET_MARGIN_DB 3.0f
/* speex's speech probability (percent) that we count as a vote for voice */
#define SPEECH_PROB_MIN 35
/* The noise floor follows drops at once and rises this much per second. */
#define NOISE_RISE_DB_PER_S 3.0f
/*
 * While the far end plays, a frame the chain took down by more than this
 * (output before AGC vs microphone) was mostly echo, not a talker: near-end
 * speech survives cancellation, echo does not.
 */
#define ECHO_REMOVED_DB 20.0f
/* residual echo suppression: alone, and while the near end talks */
#define ECHO_SUPPRESS_DB -60
#define ECHO_SUPPRESS_ACTIVE_DB -30
/* The far end counts as playing while its decaying peak is above this. */
#define FAR_ACTIVE_DB -60.0f
/* How fast that peak decays: 200 ms of room tail is 12 dB. */
#define FAR_DECAY_DB_PER_S 60.0f
/*
 * Echo leak: how loud (vs the far end's peak) the remains of echo come out
 * of the chain, learnt from frames that were surely echo.  Frames no louder
 * than that (+ margin) while the far end plays are echo too.  It follows
 * increases at once, falls slowly, and is capped so that a talker louder
 * than far-end - 10 dB is never taken for echo.
 */
#define LEAK_MARGIN_DB 6.0f
#define LEAK_FALL_DB_PER_S 1.0f
#define LEAK_MAX_DB -13.0f
/*
 * Our AGC: it follows a slow estimate of the talker's level, and only on
 * frames we decided are voice while the far end is quiet, so silence, room
 * noise and echo remains are never pumped up (speex's AGC lifted residual
 * echo by up to its maximum gain).  Loud frames are brought under the
 * ceiling at once.
 */
#define AGC_MAX_DB 20.0f
#define AGC_MIN_DB -12.0f
#define AGC_UP_DB_PER_S 10.0f
#define AGC_DOWN_DB_PER_S 12.0f
#define AGC_CEIL_DBFS -3.0f
#define AGC_SPEECH_TC_S 0.5f

struct es_dsp {
	struct es_dsp_opts o;
	unsigned rate, frame, sub;

	SpeexEchoState *echo;
	SpeexPreprocessState *pp;
	int16_t *aec_out;   /* sub samples */
	int16_t *zeros;     /* sub samples: far end when none was given */
	int16_t *far_ring;  /* far_n samples: the far end as played, ring */
	unsigned far_n, far_pos;
	int16_t *far_out;   /* frame samples: the far end, delayed */
	unsigned far_delay; /* samples */
	struct es_echo_delay *track; /* NULL: trust far_delay_ms */
	unsigned realigned;         /* times the far end was moved */

	/* voice decision */
	float level_db;     /* output, what is sent */
	float prev_mic_db;
	float agc_db;       /* the AGC's current gain */
	float agc_prev_lin; /* the gain at the end of the last frame, for the ramp */
	float speech_db;    /* the talker's level, voiced frames only */
	bool speech_init;
	float far_peak_db;
	float leak_db;      /* -100: not learnt yet */
	float noise_db;
	bool noise_init;
	unsigned hang_frames, hang_left;
	bool voiced;

	/* ring of the last processed frames: ring_n = preroll frames + current */
	int16_t *ring;
	unsigned ring_n, ring_pos;
	bool ring_quiet[ES_DSP_MAX_PREROLL + 1]; /* nothing above the noise floor in that frame */
	unsigned unsent;    /* consecutive unsent frames before the current one */
	unsigned preroll_n; /* what the last process call returned */
	unsigned preroll_max;
};

void es_dsp_opts_default(struct es_dsp_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->aec = o->ns = o->agc = o->vad = true;
}

static void fill_defaults(struct es_dsp_opts *o)
{
	if (!o->filter_ms)
		o->filter_ms = 200;
	if (!o->hangover_ms)
		o->hangover_ms = 300;
	if (!o->preroll_ms)
		o->preroll_ms = 60;
	if (!o->ns_db)
		o->ns_db = -25;
	if (!o->agc_level_db)
		o->agc_level_db = -20;
}

static SpeexPreprocessState *pp_create(struct es_dsp *d)
{
	SpeexPreprocessState *pp = speex_preprocess_state_init((int)d->sub, (int)d->rate);
	if (!pp)
		return NULL;
	int on;
	on = d->o.ns;
	speex_preprocess_ctl(pp, SPEEX_PREPROCESS_SET_DENOISE, &on);
	int v = d->o.ns_db;
	speex_preprocess_ctl(pp, SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, &v);
	on = 0; /* our own, voice-gated AGC: see AGC_* */
	speex_preprocess_ctl(pp, SPEEX_PREPROCESS_SET_AGC, &on);
	/*
	 * SPEEX_PREPROCESS_SET_VAD only prints "The VAD has been replaced by a
	 * hack" to stderr (over the terminal UI); the speech probability it
	 * would threshold is available without it through GET_PROB.
	 */
	on = 0;
	speex_preprocess_ctl(pp, SPEEX_PREPROCESS_SET_DEREVERB, &on);
	if (d->echo) {
		speex_preprocess_ctl(pp, SPEEX_PREPROCESS_SET_ECHO_STATE, d->echo);
		/*
		 * Residual echo suppression, deeper than speex's defaults (-40 dB
		 * alone, -15 dB while the near end talks): a real loop's delay
		 * moves by some ms now and then (xruns), and the filter needs
		 * seconds to follow; until it has, what it leaves is taken down
		 * here.  The near end still passes during double talk.
		 */
		v = ECHO_SUPPRESS_DB;
		speex_preprocess_ctl(pp, SPEEX_PREPROCESS_SET_ECHO_SUPPRESS, &v);
		v = ECHO_SUPPRESS_ACTIVE_DB;
		speex_preprocess_ctl(pp, SPEEX_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE, &v);
	}
	return pp;
}

static void voice_reset(struct es_dsp *d)
{
	d->level_db = -100.0f;
	d->agc_db = 0.0f;
	d->agc_prev_lin = 1.0f;
	d->speech_db = -100.0f;
	d->speech_init = false;
	d->prev_mic_db = -100.0f;
	d->far_peak_db = -100.0f;
	d->leak_db = -100.0f;
	d->noise_init = false;
	d->noise_db = -100.0f;
	d->hang_left = 0;
	d->voiced = !d->o.vad;
	d->ring_pos = 0;
	d->unsent = 0;
	d->preroll_n = 0;
	memset(d->ring, 0, sizeof(int16_t) * d->frame * d->ring_n);
	memset(d->ring_quiet, 0, sizeof(d->ring_quiet));
	memset(d->far_ring, 0, sizeof(int16_t) * d->far_n);
	d->far_pos = 0;
	d->far_delay = (unsigned)((uint64_t)d->rate * d->o.far_delay_ms / 1000u);
	if (d->track)
		es_echo_delay_reset(d->track);
}

struct es_dsp *es_dsp_new(unsigned rate, unsigned frame, const struct es_dsp_opts *opts)
{
	struct es_dsp *d;
	int err = ENOMEM;

	if (rate < 8000 || rate > 96000 || frame == 0 || frame > rate / 10) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		goto err_out;
	if (opts)
		d->o = *opts;
	else
		es_dsp_opts_default(&d->o);
	fill_defaults(&d->o);
	if (d->o.ns_db > 0 || d->o.agc_level_db < -40 || d->o.agc_level_db > -6) {
		err = EINVAL;
		goto err_free;
	}

	d->rate = rate;
	d->frame = frame;
	d->sub = frame;
	while (d->sub > rate / 100 && d->sub % 2 == 0)
		d->sub /= 2;

	unsigned frame_ms_x10 = frame * 10000u / rate; /* tenths of ms */
	if (frame_ms_x10 == 0)
		frame_ms_x10 = 1;
	d->hang_frames = (d->o.hangover_ms * 10u + frame_ms_x10 - 1) / frame_ms_x10;
	d->preroll_max = (d->o.preroll_ms * 10u + frame_ms_x10 - 1) / frame_ms_x10;
	if (d->preroll_max > ES_DSP_MAX_PREROLL)
		d->preroll_max = ES_DSP_MAX_PREROLL;
	d->ring_n = d->preroll_max + 1;

	if (d->o.far_delay_ms > ES_DSP_MAX_FAR_DELAY_MS) {
		err = EINVAL;
		goto err_free;
	}
	unsigned max_ms = d->o.track_delay ? ES_DSP_MAX_FAR_DELAY_MS : d->o.far_delay_ms;
	d->far_n = (unsigned)((uint64_t)rate * max_ms / 1000u) + d->frame;
	d->aec_out = calloc(d->sub, sizeof(int16_t));
	d->zeros = calloc(d->sub, sizeof(int16_t));
	d->ring = calloc((size_t)d->frame * d->ring_n, sizeof(int16_t));
	d->far_ring = calloc(d->far_n, sizeof(int16_t));
	d->far_out = calloc(d->frame, sizeof(int16_t));
	if (!d->aec_out || !d->zeros || !d->ring || !d->far_ring || !d->far_out)
		goto err_bufs;
	if (d->o.aec && d->o.track_delay) {
		d->track = es_echo_delay_new(rate, ES_DSP_MAX_FAR_DELAY_MS);
		if (!d->track)
			goto err_bufs;
	}

	if (d->o.aec) {
		int tail = (int)((uint64_t)rate * d->o.filter_ms / 1000u);
		d->echo = speex_echo_state_init((int)d->sub, tail);
		if (!d->echo)
			goto err_bufs;
		int r = (int)rate;
		speex_echo_ctl(d->echo, SPEEX_ECHO_SET_SAMPLING_RATE, &r);
	}
	/*
	 * The preprocessor carries the residual echo suppression, but only
	 * applies it with denoise on; without ns/agc/vad it would only add its
	 * 10 ms overlap-add delay.
	 */
	if (d->o.ns || d->o.agc || d->o.vad) {
		d->pp = pp_create(d);
		if (!d->pp)
			goto err_echo;
	}
	voice_reset(d);
	return d;

err_echo:
	if (d->echo)
		speex_echo_state_destroy(d->echo);
err_bufs:
	es_echo_delay_free(d->track);
	free(d->far_out);
	free(d->far_ring);
	free(d->ring);
	free(d->zeros);
	free(d->aec_out);
err_free:
	free(d);
err_out:
	errno = err;
	return NULL;
}

void es_dsp_free(struct es_dsp *d)
{
	if (!d)
		return;
	if (d->pp)
		speex_preprocess_state_destroy(d->pp);
	if (d->echo)
		speex_echo_state_destroy(d->echo);
	es_echo_delay_free(d->track);
	free(d->far_out);
	free(d->far_ring);
	free(d->ring);
	free(d->zeros);
	free(d->aec_out);
	free(d);
}

void es_dsp_reset(struct es_dsp *d)
{
	if (d->echo)
		speex_echo_state_reset(d->echo);
	if (d->pp) {
		/* speex has no preprocess reset; rebuilding is the documented way */
		SpeexPreprocessState *pp = pp_create(d);
		if (pp) {
			speex_preprocess_state_destroy(d->pp);
			d->pp = pp;
		}
	}
	voice_reset(d);
}

static float frame_level_db(const int16_t *x, unsigned n)
{
	double e = 0;
	for (unsigned i = 0; i < n; i++)
		e += (double)x[i] * x[i];
	e /= (double)n * 32768.0 * 32768.0;
	if (e < 1e-10)
		return -100.0f;
	return (float)(10.0 * log10(e));
}

/*
 * Our decision for one frame.  The level used is the output before AGC (the
 * AGC lifts room noise and echo remains as readily as speech), capped at
 * the microphone's own level: a talker is always in the microphone signal,
 * while what the echo canceller's filter tail adds after the far end
 * stops is not.  Voice is then: well above the noise floor, above an
 * absolute floor, speex agrees, and not echo: while the far end plays, a
 * frame the canceller took down by ECHO_REMOVED_DB, or one no louder than
 * the echo remains have been.
 */
static bool raw_voice(struct es_dsp *d, float out_db, float mic_db, bool speex_says)
{
	float frame_s = (float)d->frame / (float)d->rate;
	float level = out_db < mic_db ? out_db : mic_db;

	if (!d->noise_init) {
		d->noise_db = level;
		d->noise_init = true;
	} else if (level < d->noise_db) {
		d->noise_db = level;
	} else {
		d->noise_db += NOISE_RISE_DB_PER_S * frame_s;
		if (d->noise_db > level)
			d->noise_db = level;
	}
	bool loud = level > VAD_ABS_FLOOR_DB && level > d->noise_db + VAD_MARGIN_DB;

	bool echo = false;
	if (d->echo && d->far_peak_db > FAR_ACTIVE_DB) {
		float rel = out_db - d->far_peak_db;
		if (out_db - mic_db < -ECHO_REMOVED_DB) {
			echo = true;
			if (rel > d->leak_db)
				d->leak_db = rel < LEAK_MAX_DB ? rel : LEAK_MAX_DB;
		}
		if (d->leak_db > -100.0f && rel < d->leak_db + LEAK_MARGIN_DB)
			echo = true;
	}
	if (d->leak_db > -100.0f)
		d->leak_db -= LEAK_FALL_DB_PER_S * frame_s;
	return loud && speex_says && !echo;
}

static void agc_update(struct es_dsp *d, float level_db, bool voice)
{
	float frame_s = (float)d->frame / (float)d->rate;
	if (!voice)
		return; /* frozen: nothing but a talker moves the gain */
	if (!d->speech_init) {
		d->speech_db = level_db;
		d->speech_init = true;
	} else {
		double a = frame_s / AGC_SPEECH_TC_S;
		double p = (1.0 - a) * pow(10.0, d->speech_db / 10.0) + a * pow(10.0, level_db / 10.0);
		d->speech_db = (float)(10.0 * log10(p));
	}
	float want = (float)d->o.agc_level_db - d->speech_db;
	want = want > AGC_MAX_DB ? AGC_MAX_DB : want < AGC_MIN_DB ? AGC_MIN_DB : want;
	if (want > d->agc_db) {
		d->agc_db += AGC_UP_DB_PER_S * frame_s;
		if (d->agc_db > want)
			d->agc_db = want;
	} else {
		d->agc_db -= AGC_DOWN_DB_PER_S * frame_s;
		if (d->agc_db < want)
			d->agc_db = want;
	}
	if (level_db + d->agc_db > AGC_CEIL_DBFS)
		d->agc_db = AGC_CEIL_DBFS - level_db;
}

/* The gain, ramped across the frame from the last one so it never clicks. */
static void agc_apply(struct es_dsp *d, int16_t *x)
{
	float g1 = powf(10.0f, d->agc_db / 20.0f), g0 = d->agc_prev_lin;
	float step = (g1 - g0) / (float)d->frame;
	for (unsigned i = 0; i < d->frame; i++) {
		float v = (float)x[i] * (g0 + step * (float)(i + 1));
		x[i] = (int16_t)(v > 32767.0f ? 32767.0f : v < -32768.0f ? -32768.0f : lrintf(v));
	}
	d->agc_prev_lin = g1;
}

int es_dsp_process(struct es_dsp *d, int16_t *mic, const int16_t *far, bool *voiced)
{
	if (!d || !mic)
		return -EINVAL;

	float frame_s = (float)d->frame / (float)d->rate;
	float mic_db = frame_level_db(mic, d->frame);
	if (d->track && es_echo_delay_feed(d->track, far, mic, d->frame) > 0) {
		/*
		 * Where is the echo in the canceller's filter now?  While it is
		 * well inside (the loop delay creeps: ~18 ms in 40 s on the JACK
		 * loop), the filter follows it by itself and is left alone.
		 * Outside, or too near the start (echo arriving before its
		 * reference cannot be cancelled; the estimate is good to a few
		 * ms), the far end is re-aligned to put the echo ES_DSP_ALIGN_MS
		 * in, and the filter learnt for the old alignment starts over.
		 */
		int est = es_echo_delay_samples(d->track);
		int tap = est - (int)d->far_delay;
		int lo = (int)(d->rate * ES_DSP_ALIGN_MIN_MS / 1000u);
		int hi = (int)((uint64_t)d->rate * d->o.filter_ms / 1000u) - (int)(d->rate * ES_DSP_ALIGN_TAIL_MS / 1000u);
		if (tap < lo || tap > hi) {
			int want = est - (int)(d->rate * ES_DSP_ALIGN_MS / 1000u);
			unsigned nd = want > 0 ? (unsigned)want : 0;
			if (nd > d->far_n - d->frame)
				nd = d->far_n - d->frame;
			if (nd != d->far_delay) {
				d->far_delay = nd;
				d->realigned++;
				if (d->echo)
					speex_echo_state_reset(d->echo);
			}
		}
	}
	if (d->far_n > d->frame) {
		/* hand the canceller the far end when it is heard */
		unsigned n = d->far_n, w = d->far_pos;
		for (unsigned i = 0; i < d->frame; i++)
			d->far_ring[(w + i) % n] = far ? far[i] : 0;
		unsigned r = (w + n - d->far_delay) % n;
		for (unsigned i = 0; i < d->frame; i++)
			d->far_out[i] = d->far_ring[(r + i) % n];
		d->far_pos = (w + d->frame) % n;
		far = d->far_out;
	}
	float far_db = far ? frame_level_db(far, d->frame) : -100.0f;
	d->far_peak_db -= FAR_DECAY_DB_PER_S * frame_s;
	if (d->far_peak_db < far_db)
		d->far_peak_db = far_db;

	bool speex_voice = false;
	for (unsigned off = 0; off < d->frame; off += d->sub) {
		int16_t *x = mic + off;
		if (d->echo) {
			speex_echo_cancellation(d->echo, x, far ? far + off : d->zeros, d->aec_out);
			memcpy(x, d->aec_out, d->sub * sizeof(int16_t));
		}
		if (d->pp) {
			speex_preprocess_run(d->pp, x);
			int prob = 0;
			speex_preprocess_ctl(d->pp, SPEEX_PREPROCESS_GET_PROB, &prob);
			if (prob >= SPEECH_PROB_MIN)
				speex_voice = true;
		}
	}
	float pre_gain_db = frame_level_db(mic, d->frame);

	/*
	 * The decision is made whether or not it decides what is sent: the AGC
	 * adapts on it, also in push-to-talk mode (vad off).
	 */
	bool was = d->voiced;
	/* the preprocessor's output lags 10 ms: it holds some of the last frame */
	float mic_ref = d->pp && d->prev_mic_db > mic_db ? d->prev_mic_db : mic_db;
	/* with no preprocessor (no speex opinion) trust the level alone */
	bool raw = raw_voice(d, pre_gain_db, mic_ref, d->pp ? speex_voice : true);
	if (raw)
		d->hang_left = d->hang_frames;
	else if (d->hang_left)
		d->hang_left--;
	d->voiced = d->o.vad ? raw || d->hang_left > 0 : true;

	if (d->o.agc) {
		/*
		 * Learn the talker's level only while the far end is quiet: before
		 * the canceller converges, echo can pass for voice.
		 */
		bool far_quiet = !d->echo || d->far_peak_db <= FAR_ACTIVE_DB;
		agc_update(d, pre_gain_db, raw && far_quiet);
		agc_apply(d, mic);
	}
	d->level_db = d->o.agc ? frame_level_db(mic, d->frame) : pre_gain_db;
	d->prev_mic_db = mic_db;

	int16_t *slot = d->ring + (size_t)d->ring_pos * d->frame;
	memcpy(slot, mic, d->frame * sizeof(int16_t));
	d->ring_quiet[d->ring_pos] = pre_gain_db < VAD_ABS_FLOOR_DB || pre_gain_db < d->noise_db + QUIET_MARGIN_DB;
	d->ring_pos = (d->ring_pos + 1) % d->ring_n;

	d->preroll_n = 0;
	if (d->voiced && !was) {
		d->preroll_n = d->unsent < d->preroll_max ? d->unsent : d->preroll_max;
	}
	if (d->voiced)
		d->unsent = 0;
	else if (d->unsent < d->preroll_max)
		d->unsent++;

	if (voiced)
		*voiced = d->voiced;
	return (int)d->preroll_n;
}

const int16_t *es_dsp_preroll(const struct es_dsp *d, unsigned i)
{
	if (!d || i >= d->preroll_n)
		return NULL;
	/* ring_pos - 1 is the current frame; the pre-roll ends just before it */
	unsigned idx = (d->ring_pos + d->ring_n - 1 - d->preroll_n + i) % d->ring_n;
	return d->ring + (size_t)idx * d->frame;
}

bool es_dsp_preroll_quiet(const struct es_dsp *d, unsigned i)
{
	if (!d || i >= d->preroll_n)
		return false;
	return d->ring_quiet[(d->ring_pos + d->ring_n - 1 - d->preroll_n + i) % d->ring_n];
}

unsigned es_dsp_delay(const struct es_dsp *d)
{
	/* speex_preprocess_run() overlap-adds: its output lags by one block */
	return d && d->pp ? d->sub : 0;
}

void es_dsp_shift_far(struct es_dsp *d, int delta)
{
	if (!d || d->far_n <= d->frame)
		return; /* no delay line: nothing to move */
	int nd = (int)d->far_delay + delta;
	int max = (int)(d->far_n - d->frame);
	d->far_delay = (unsigned)(nd < 0 ? 0 : nd > max ? max : nd);
}

unsigned es_dsp_far_delay(const struct es_dsp *d)
{
	return d ? d->far_delay : 0;
}

int es_dsp_echo_delay(const struct es_dsp *d)
{
	return d ? es_echo_delay_samples(d->track) : -1;
}

float es_dsp_level_db(const struct es_dsp *d)
{
	return d ? d->level_db : -100.0f;
}

float es_dsp_level(const struct es_dsp *d)
{
	float l = (es_dsp_level_db(d) + 60.0f) / 60.0f;
	return l < 0.0f ? 0.0f : l > 1.0f ? 1.0f : l;
}
