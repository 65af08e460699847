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
	struct es_acoustics ac; /* ac.max_voices (K) must be 4..ES_ENGINE_K_MAX */
	unsigned max_people;   /* ids are 0 .. max_people-1 */
	unsigned jitter_frames; /* speaker jitter buffer target depth, in ticks */
	int bitrate;           /* stereo mix encoder bitrate at load level 0, bit/s */
	int complexity;        /* Opus complexity 0..10 at load level 0 */
	/*
	 * Stereo encoders in the pool (46 KB each), allocated by es_engine_new.
	 * One serves one mix stream: a background mix shared by a group of
	 * listeners, or a personal stream (thin link, or more than three voices
	 * that must be exact).  When the pool is empty a listener sheds the
	 * background and keeps its forwarded voices.
	 */
	unsigned max_streams;
	float exact_m;         /* voices nearer than this are exact: never in a shared mix (4 m) */
	float group_db;        /* a shared mix is within this many dB of each member's own gain (3) */
	float group_deg;       /* ... and within this many degrees of its direction (30) */
	float stage_gain;      /* level at which the stage is heard across the floor (0.5) */
	int thin_bitrate;      /* thin-link stream bitrate, capped at ES_ENGINE_THIN_MAX_BPS */
};

#define ES_ENGINE_K_MAX 8          /* largest max_voices */
#define ES_ENGINE_FORWARD_MAX 3    /* forwarded voices per listener per tick */
#define ES_ENGINE_BUNDLE_MAX 2000  /* Opus bytes per listener per tick (100 kbit/s) */
#define ES_ENGINE_THIN_MAX_BPS 40000
#define ES_ENGINE_LOAD_MAX 3

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
	ES_ENGINE_FOCUS = 1u << 1, /* hears only whispers and the stage; heard by nobody */
	ES_ENGINE_THIN = 1u << 2,  /* thin link: one server-rendered stream, <= 40 kbit/s */
	/*
	 * On stage: heard across the whole floor at stage_gain (or louder when
	 * near), except inside closed rooms.  Standing in a stage room of the
	 * floor plan has the same effect; the flag serves floors without one.
	 */
	ES_ENGINE_STAGE = 1u << 3,
};

__attribute__((warn_unused_result)) int es_engine_set_flags(struct es_engine *e, unsigned id, unsigned flags);

/*
 * Whisper: while set, `from` is heard by `to` only, at full level whatever
 * the distance and walls, and also from or into focus mode (a whisper is a
 * deliberate act).  A closed door still isolates completely: a whisper does
 * not cross it either way.  to = -1 ends the whisper.  -ENOENT if either is
 * not present, -EINVAL if from == to.
 */
__attribute__((warn_unused_result)) int es_engine_whisper(struct es_engine *e, unsigned from, int to);

/*
 * Personal volume: `listener` hears `speaker` at `gain` times the normal
 * level (0 silences, up to 4).  Each listener keeps a small table of
 * ES_ENGINE_VOLUMES entries; gain 1 removes an entry.  -ENOSPC when full,
 * -EINVAL on a bad gain, -ENOENT for an absent listener.
 */
#define ES_ENGINE_VOLUMES 8
__attribute__((warn_unused_result)) int es_engine_set_volume(struct es_engine *e, unsigned listener, unsigned speaker, float gain);

/*
 * Load level 0 (best quality) .. ES_ENGINE_LOAD_MAX (cheapest): lower
 * encoder complexity and bitrate.  The daemon may set a floor; the engine
 * also adapts by itself from the tick cost the caller measured and reports
 * with es_engine_report_tick_us() (the library has no clock).  The level in
 * force is max(floor, adaptive).
 */
void es_engine_set_load_level(struct es_engine *e, unsigned level);
void es_engine_report_tick_us(struct es_engine *e, unsigned us);
unsigned es_engine_load_level(const struct es_engine *e);

/*
 * Queue one uplink Opus frame from speaker id with its sequence number.
 * The bytes are copied.  Late, duplicate and oversized frames are refused
 * with -EALREADY / -EMSGSIZE and counted.
 */
__attribute__((warn_unused_result)) int es_engine_push(struct es_engine *e, unsigned id, uint32_t seq, const uint8_t *opus, size_t len);

/*
 * Output for one listener for one tick.  voices/mix point into engine
 * storage valid until the next es_engine_tick().
 *
 * What the client does with it (the daemon carries it in ES_MSG_AUDIO_DOWN):
 * - voice[0..nvoices-1] are speakers' own mono Opus frames.  Keep one Opus
 *   decoder and one struct es_voice_state per forwarded speaker; decode the
 *   frame and es_render_voice() it at `gain` and `azimuth` into the stereo
 *   accumulator.  A speaker forwarded last tick and absent now (lost frame,
 *   or moved into the mix, or out of earshot) is concealed once with
 *   opus_decode(NULL) and rendered at gain 0, which ramps it out; then its
 *   state is dropped.
 * - mix (if mix_len) is stereo Opus; decode it with the decoder of stream
 *   `mix_stream` and add it.  When mix_stream differs from the previous
 *   tick's, the stream changed identity: reset the mix decoder
 *   (OPUS_RESET_STATE) first.  mix_stream is 0 when there is no mix.
 * - then es_limiter_run() the sum.
 * nvoices * frame + mix_len never exceeds ES_ENGINE_BUNDLE_MAX; for a thin
 * listener nvoices is 0 and the mix is at most 100 bytes (40 kbit/s).
 */
struct es_engine_out {
	unsigned listener;
	unsigned nvoices;
	struct {
		unsigned speaker;
		uint16_t seq;
		float gain;     /* linear, includes personal volume */
		float azimuth;  /* radians, + right, relative to the listener's facing */
		const uint8_t *opus;
		size_t len;
	} voice[ES_ENGINE_FORWARD_MAX];
	const uint8_t *mix;
	size_t mix_len;
	uint32_t mix_stream;  /* identity of the mix stream, 0 = none */
	unsigned mix_voices;  /* voices audible in the mix this tick */
	bool mix_shared;      /* the mix is shared with other listeners */
};

typedef void (*es_engine_emit_fn)(void *ud, const struct es_engine_out *out);

struct es_engine_stats {
	uint64_t ticks;
	uint64_t frames_in, frames_late, frames_plc, frames_fec;
	unsigned speakers;   /* active speakers this tick */
	unsigned listeners_silent, listeners_forward, listeners_mix;
	unsigned encodes;    /* encodes this tick */
	unsigned decodes;    /* decodes this tick */
	/* this tick: */
	unsigned listeners_shared;   /* of listeners_mix, those on a shared mix */
	unsigned listeners_shed;     /* lost their background: encoder pool empty */
	unsigned streams_shared, streams_personal;
	unsigned forwarded;          /* forwarded voice entries */
	unsigned group_encodes;      /* of encodes, mono speaker-group premixes */
	uint64_t bytes_out;          /* Opus payload bytes emitted */
	unsigned load_level;
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
