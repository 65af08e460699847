/* SPDX-License-Identifier: MIT */
/*
 * Where the echo is: an estimate of the delay from handing a sample to
 * playback to hearing it again in the capture, from the signals alone.
 *
 * What the sound stack reports (PortAudio's outputLatency + inputLatency)
 * is what it was asked for, not what it does: on the JACK loop of
 * ci-audio.md the echo came back hundreds of ms later than reported, far
 * outside the canceller's filter, and cancellation gave 7 dB instead of 20+.
 *
 * The estimator cuts both signals into 4 ms blocks and turns each block
 * into an onset feature: its log energy minus a slow (~100 ms) average of
 * it, so syllable starts are positive, ends negative, and silence or steady
 * noise is zero whatever its level.  For every lag in 0..max it keeps an
 * exponentially forgotten (~6 s) cross-correlation of the microphone's
 * feature with the reference's feature that many blocks earlier, and the
 * energies to normalise it.  Every 0.5 s the best lag is a candidate if its
 * normalised correlation is clear (>= 0.3) and stands out from the best
 * lag away from it; a candidate that holds for three looks in a row
 * (within one block) becomes the estimate.  Near-end speech is simply
 * uncorrelated with the reference and only lowers the peak.
 *
 * Envelope features are robust to the room's colouring and to the talker
 * but resolve only a block (4 ms), which is why the caller aligns the
 * reference a little early and lets the canceller's filter model the rest.
 *
 * No allocation, clocks or I/O in es_echo_delay_feed(); one owner.
 */
#ifndef EARSHOT_CLIENT_ECHO_DELAY_H
#define EARSHOT_CLIENT_ECHO_DELAY_H

#include <stdint.h>

struct es_echo_delay;

/*
 * An estimator at `rate` Hz (8000..96000) for delays 0..max_ms (1..4000).
 * NULL with errno EINVAL or ENOMEM.
 */
struct es_echo_delay *es_echo_delay_new(unsigned rate, unsigned max_ms)
	__attribute__((warn_unused_result));

/* NULL is a no-op. */
void es_echo_delay_free(struct es_echo_delay *e);

/*
 * Feed n samples of what was handed to playback (far, NULL = silence) and
 * n samples captured at the same time (mic, before any processing).
 * Returns 1 when the estimate changed with this call, else 0.
 */
int es_echo_delay_feed(struct es_echo_delay *e, const int16_t *far, const int16_t *mic, unsigned n);

/* The current estimate in samples, or -1 before there is one. */
int es_echo_delay_samples(const struct es_echo_delay *e);

/* Normalised correlation (0..1) at the estimate when it was last confirmed. */
float es_echo_delay_confidence(const struct es_echo_delay *e);

/* Forget everything (e.g. after a device change). */
void es_echo_delay_reset(struct es_echo_delay *e);

#endif
