/* SPDX-License-Identifier: MIT */
/*
 * The capture chain: echo cancellation, noise suppression, automatic gain
 * (speexdsp) and our own send/don't-send decision with hang-over and pre-roll.
 *
 * One call per captured frame, on the audio path: no allocation, no I/O, no
 * clocks in es_dsp_process() (es_dsp_new() and es_dsp_reset() allocate).
 * Not thread-safe; one owner.
 *
 * Voice activity is decided per frame from the processed signal before AGC
 * (capped at the microphone's own level): a frame is "raw voiced" when it is
 * well above a tracked noise floor and an absolute floor (-55 dBFS), speex's
 * speech probability agrees, and it is not echo.  Echo, while the far end
 * plays: a frame the canceller took down by 20 dB or more, or one no louder
 * (vs the far end) than such frames have been.  The reported decision stays
 * true for hangover_ms after the last raw voiced frame so word ends and
 * short pauses are not cut.  Before the canceller has converged (several
 * seconds of far-end speech) echo can still pass as voice.
 *
 * Pre-roll: the chain does not delay audio to look ahead (that would cost
 * latency all day; its only delay is the noise suppressor's 10 ms block,
 * es_dsp_delay()).  Instead it remembers the last preroll_ms of processed frames that were not
 * sent.  On the frame where the decision turns from false to true,
 * es_dsp_process() returns how many such frames it holds; the caller sends
 * those first (es_dsp_preroll(), oldest first, with their original capture
 * sequence numbers) and then the current frame.  The first syllable is thus
 * never clipped; the receiver's jitter buffer sees a short burst at the start
 * of a talk spurt, which it absorbs like any other arrival jitter (the
 * daemon's buffer trims the excess back down within the spurt).  A smaller
 * preroll_ms trades onset safety for that transient latency.
 */
#ifndef EARSHOT_CLIENT_DSP_H
#define EARSHOT_CLIENT_DSP_H

#include <stdbool.h>
#include <stdint.h>

#define ES_DSP_MAX_PREROLL 16 /* frames */

struct es_dsp;

struct es_dsp_opts {
	bool aec;              /* acoustic echo cancellation (needs far_end) */
	bool ns;               /* noise suppression (also residual echo suppression) */
	bool agc;              /* automatic gain control (ours: adapts on voice only, -12..+20 dB) */
	bool vad;              /* decide voiced/unvoiced; false: every frame is voiced */
	/* 0 selects the default in brackets */
	unsigned filter_ms;    /* echo tail the canceller models [200] */
	unsigned hangover_ms;  /* keep sending this long after voice [300] */
	unsigned preroll_ms;   /* hand back this much audio before an onset [60] */
	int ns_db;             /* noise attenuation in dB, negative [-25] */
	int agc_level_db;      /* AGC: the talker's level to aim at, dBFS RMS, -40..-6 [-20] */
	/*
	 * Known bulk delay from handing a frame to playback to hearing it in
	 * the capture, e.g. PortAudio's outputLatency + inputLatency minus
	 * ~10 ms of safety [0, at most ES_DSP_MAX_FAR_DELAY_MS].  The far end is delayed by this
	 * before the canceller sees it, so its filter only has to model the
	 * room and converges faster.  Too large is worse than too small: echo
	 * arriving before its reference cannot be cancelled at all.
	 */
	unsigned far_delay_ms;
	/*
	 * Do not trust far_delay_ms: measure where the echo really is
	 * (echo-delay.h) and re-align the far end when the echo drifts out of
	 * the useful part of the canceller's filter, placing it
	 * ES_DSP_ALIGN_MS in.  Until
	 * there is an estimate, far_delay_ms is used.  Delays up to
	 * ES_DSP_MAX_FAR_DELAY_MS.
	 */
	bool track_delay;
};

#define ES_DSP_MAX_FAR_DELAY_MS 2000
#define ES_DSP_ALIGN_MS 24     /* where a re-alignment puts the echo in the filter */
#define ES_DSP_ALIGN_MIN_MS 8  /* re-align when it is nearer the start than this... */
#define ES_DSP_ALIGN_TAIL_MS 60 /* ...or nearer the end of the filter than this */

/* Fill *o with all processing on and default tuning. */
void es_dsp_opts_default(struct es_dsp_opts *o);

/*
 * A capture chain for mono `frame`-sample frames at `rate` Hz (8000..96000;
 * frame 1..rate/10, e.g. 960 at 48000 for 20 ms).  opts NULL means
 * es_dsp_opts_default().  Returns NULL with errno EINVAL or ENOMEM.
 */
struct es_dsp *es_dsp_new(unsigned rate, unsigned frame, const struct es_dsp_opts *opts)
	__attribute__((warn_unused_result));

/* NULL is a no-op. */
void es_dsp_free(struct es_dsp *d);

/*
 * Process one captured frame in place.  far_end is the frame that was played
 * to the speakers at the time mic_inout was captured (same length; NULL =
 * silence was played); it is only read.  Keep calling this while muted so the
 * echo canceller and noise estimate stay adapted; just do not send.
 *
 * *voiced (may be NULL) receives the send decision for this frame.
 * Returns the number of pre-roll frames (>= 0) to send before this one: > 0
 * only on the frame where *voiced turns true.  -EINVAL on bad arguments.
 */
int es_dsp_process(struct es_dsp *d, int16_t *mic_inout, const int16_t *far_end, bool *voiced)
	__attribute__((warn_unused_result));

/*
 * Pre-roll frame i (0 = oldest) of the count the last es_dsp_process()
 * returned; `frame` samples, owned by d, valid until the next
 * es_dsp_process() or es_dsp_reset().  NULL if i is out of range.
 */
const int16_t *es_dsp_preroll(const struct es_dsp *d, unsigned i);
/*
 * Whether pre-roll frame i has nothing above the noise floor (silence or
 * steady noise before a sharp onset): a receiver running behind may skip
 * it.  False if i is out of range.
 */
bool es_dsp_preroll_quiet(const struct es_dsp *d, unsigned i);

/*
 * Algorithmic delay of the chain in samples: the noise suppressor's
 * overlap-add lags one 10 ms block (0 when only the echo canceller runs).
 */
unsigned es_dsp_delay(const struct es_dsp *d);

/*
 * The delay the far end is given before the canceller, in samples, and the
 * echo delay the tracker measured (-1: none yet, or not tracking).
 */
unsigned es_dsp_far_delay(const struct es_dsp *d);
int es_dsp_echo_delay(const struct es_dsp *d);

/*
 * The sound stack says the loop delay changed by delta samples (its queues
 * grew or shrank: an underflow, a late read): move the far end by as much,
 * so the canceller's filter stays valid.  Clamped to 0..the maximum.
 */
void es_dsp_shift_far(struct es_dsp *d, int delta);

/* Level of the last processed frame in dBFS (<= 0; -100 for digital silence). */
float es_dsp_level_db(const struct es_dsp *d);

/* The same as 0..1 for a meter (-60 dBFS .. 0 dBFS, linear in dB). */
float es_dsp_level(const struct es_dsp *d);

/* Forget adaptation and voice state (e.g. after changing devices). */
void es_dsp_reset(struct es_dsp *d);

#endif
