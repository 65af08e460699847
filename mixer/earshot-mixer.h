/* SPDX-License-Identifier: MIT */
/*
 * Earshot mixer: office acoustics and per-listener mixing.  Pure code: it
 * takes numbers and buffers (and Opus frames) and gives back numbers and
 * buffers.  No sockets, no clocks, no threads, no globals; the caller's tick
 * counter is the only notion of time.
 */
#ifndef EARSHOT_MIXER_H
#define EARSHOT_MIXER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ES_RATE 48000
#define ES_FRAME 960          /* samples per channel in one 20 ms tick */
#define ES_ITD_MAX 29         /* ~0.6 ms interaural delay at 48 kHz */

/* ---- acoustics ---------------------------------------------------------- */

struct es_acoustics {
	float full_m;   /* full level up to this distance */
	float range_m;  /* nothing heard beyond this distance */
	float fade_m;   /* the last fade_m metres before range_m taper to 0 */
	unsigned max_voices; /* at most this many voices in one mix (K) */
	float drop_db;  /* voices this far below the loudest may be dropped */
};

/* Fill in the defaults: full 1.5 m, range 15 m, fade 3 m, K 6, 20 dB. */
void es_acoustics_default(struct es_acoustics *ac);

/*
 * Linear gain of a voice heard at distance d metres in open space:
 * 1 up to full_m, then inverse-distance (-6 dB per doubling), tapered
 * smoothly to exactly 0 at range_m.
 */
float es_distance_gain(const struct es_acoustics *ac, float d);

/*
 * Direction of a sound source relative to a listener at (lx, ly) facing
 * `facing` radians (0 = +y, clockwise positive): radians in (-pi, pi],
 * positive to the listener's right.
 */
float es_azimuth(float lx, float ly, float facing, float sx, float sy);

/* ---- rendering ---------------------------------------------------------- */

/*
 * Per listener-voice render state: the last gain, pan and delay applied, so
 * changes ramp within a frame instead of clicking, and the tail of the
 * previous input frame for the interaural delay.  Caller-owned; start with
 * es_voice_state_init().
 */
struct es_voice_state {
	float gain_l, gain_r;
	float delay_l, delay_r; /* samples, fractional while ramping */
	float hist[ES_ITD_MAX + 1];
	bool primed;
};

void es_voice_state_init(struct es_voice_state *st);

/*
 * Add one mono frame (ES_FRAME floats, full scale +-1) to an interleaved
 * stereo accumulator (2*ES_FRAME floats) at linear `gain` from direction
 * `azimuth` (radians, + right): equal-power pan plus an interaural delay of
 * up to ES_ITD_MAX samples on the far ear.  Gain, pan and delay ramp
 * linearly across the frame from the values st last applied.
 */
void es_render_voice(struct es_voice_state *st, const float *mono, float gain, float azimuth, float *acc);

/*
 * Soft-knee-free peak limiter for the final mix.  A signal that stays within
 * full scale passes untouched (gain exactly 1); louder mixes are turned down
 * with an instant attack and a slow release, so the output never exceeds
 * full scale.
 */
struct es_limiter {
	float gain;
};

void es_limiter_init(struct es_limiter *l);

/* Limit n interleaved samples of acc (floats) into out (int16). */
void es_limiter_run(struct es_limiter *l, const float *acc, int16_t *out, size_t n);

/* ---- the tick engine ---------------------------------------------------- */

/*
 * The engine holds everybody's audio state (jitter buffer and decoder per
 * speaker, render state and encoder per listener) and, once per tick, turns
 * the Opus frames that arrived into what each listener should receive.
 */
struct es_engine;

struct es_engine_config {
	struct es_acoustics ac;
	unsigned max_people;   /* ids are 0 .. max_people-1 */
	unsigned jitter_frames; /* speaker jitter buffer target depth, in ticks */
	int bitrate;           /* stereo mix encoder bitrate, bit/s */
	int complexity;        /* Opus complexity 0..10 */
};

void es_engine_config_default(struct es_engine_config *cfg);

/* Returns NULL and sets errno on failure.  Allocates everything up front. */
struct es_engine *es_engine_new(const struct es_engine_config *cfg);
void es_engine_free(struct es_engine *e);

/* People.  Positions in metres, facing in radians. -EINVAL/-EEXIST/-ENOENT. */
__attribute__((warn_unused_result)) int es_engine_add(struct es_engine *e, unsigned id, float x, float y, float facing);
void es_engine_remove(struct es_engine *e, unsigned id);
__attribute__((warn_unused_result)) int es_engine_move(struct es_engine *e, unsigned id, float x, float y, float facing);

/* Person flags for the engine. */
enum {
	ES_ENGINE_MUTED = 1u << 0,
	ES_ENGINE_FOCUS = 1u << 1,
};

__attribute__((warn_unused_result)) int es_engine_set_flags(struct es_engine *e, unsigned id, unsigned flags);

/*
 * Queue one uplink Opus frame from speaker id with its sequence number.
 * The bytes are copied.  Late, duplicate and oversized frames are refused
 * with -EALREADY / -EMSGSIZE and counted.
 */
__attribute__((warn_unused_result)) int es_engine_push(struct es_engine *e, unsigned id, uint32_t seq, const uint8_t *opus, size_t len);

/*
 * Output for one listener for one tick.  voices/mix point into engine
 * storage valid until the next es_engine_tick().
 */
struct es_engine_out {
	unsigned listener;
	unsigned nvoices;
	struct {
		unsigned speaker;
		uint16_t seq;
		float gain;
		float azimuth;
		const uint8_t *opus;
		size_t len;
	} voice[3];
	const uint8_t *mix;
	size_t mix_len;
};

typedef void (*es_engine_emit_fn)(void *ud, const struct es_engine_out *out);

struct es_engine_stats {
	uint64_t ticks;
	uint64_t frames_in, frames_late, frames_plc, frames_fec;
	unsigned speakers;   /* active speakers this tick */
	unsigned listeners_silent, listeners_forward, listeners_mix;
	unsigned encodes;    /* encodes this tick */
	unsigned decodes;    /* decodes this tick */
};

/*
 * Run one 20 ms tick: pull one frame per speaker from the jitter buffers
 * (decoding, concealing loss), plan who hears whom, render and encode, and
 * call emit once for every listener who hears anyone.  Listeners who hear
 * nobody are not called.  Returns 0 or a negative errno from the codec.
 */
__attribute__((warn_unused_result)) int es_engine_tick(struct es_engine *e, es_engine_emit_fn emit, void *ud);

void es_engine_get_stats(const struct es_engine *e, struct es_engine_stats *st);

#endif
