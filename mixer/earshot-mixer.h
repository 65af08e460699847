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

/* Fill in the defaults: full 1.5 m, range 15 m, fade 3 m, K 8, 20 dB. */
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
 * Per listener-voice render state: the gains, rear cut and delays last
 * applied, so changes ramp within a frame instead of clicking, the head
 * model's filter states, and the tail of the previous input frame for the
 * interaural delay.  Caller-owned; start with es_voice_state_init().
 */
struct es_voice_state {
	float hf_l, lo_l, hf_r, lo_r; /* per ear: direct gain, gain of the low-passed copy */
	float rear;                   /* weight of the rear high-frequency cut, 0..1 */
	float delay_l, delay_r;       /* samples, fractional while ramping */
	float lp_rear, lp_l, lp_r;    /* one-pole filter states */
	float hist[ES_ITD_MAX + 1];
	bool primed;
};

void es_voice_state_init(struct es_voice_state *st);

/*
 * Add one mono frame (ES_FRAME floats, full scale +-1) to an interleaved
 * stereo accumulator (2*ES_FRAME floats) at linear `gain` from direction
 * `azimuth` (radians, + right, 0 ahead, +-pi behind), through a model of a
 * head (mixer/render.c): both ears hear every voice; the far ear up to
 * ES_ITD_MAX samples later and in the head's shadow (at the side, 6 dB
 * down at low frequencies, 20 dB at high ones); voices behind are duller
 * than ahead (up to 6 dB above 3 kHz).  Total power is kept across
 * azimuth: L^2 + R^2 = gain^2 at low and at high frequencies.  Everything
 * ramps linearly across the frame from the values st last applied.
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

/* ---- jitter estimate --------------------------------------------------- */

/*
 * How deep a jitter buffer should be, learned from arrivals.  Time is the
 * caller's tick: for every frame that arrives, pass its arrival offset,
 * (ticks so far + how far into the next tick it arrived) - the frame's own
 * sequence number, in 1/ES_JE_ONE of a tick.  The spread of that offset
 * above its recent minimum is the jitter.  Attack is immediate, decay slow
 * (about 3 s from 4 ticks to 1), so a buffer grows at once when the
 * network gets worse and shrinks only when it has been calm for a while.
 *
 * Sub-tick offsets make one frame of buffering enough when the arrivals'
 * spread fits between the earliest arrival and the tick that plays it; a
 * caller that only knows whole ticks passes offset * ES_JE_ONE (an arrival
 * at a tick boundary) and gets the whole-tick estimate.
 */
#define ES_JE_ONE 256
struct es_jitter_est {
	int32_t min_offset; /* smallest offset seen in this window, 1/ES_JE_ONE tick */
	int32_t next_min;   /* smallest offset seen in the window being built */
	unsigned window;    /* observations in the window being built */
	float peak;         /* decaying maximum spread, ticks */
	unsigned since_loss; /* ticks since a frame was lost or late (saturates) */
	bool primed;
};

void es_jitter_est_init(struct es_jitter_est *e);
/* offset_q: (ticks - seq) * ES_JE_ONE + the part of the coming tick already gone, in (0, ES_JE_ONE]. */
void es_jitter_est_observe(struct es_jitter_est *e, int32_t offset_q);
/* The arrival fraction of a tick, in (0, ES_JE_ONE], from how long ago the last tick ran. */
int32_t es_jitter_frac(int64_t since_tick_ns, int64_t tick_ns);
/* Called once per tick: lets the peak decay. */
void es_jitter_est_tick(struct es_jitter_est *e);
/*
 * A frame due while playing was missing (lost, or arrived too late).  For
 * some seconds after that, the depth is at
 * least 2: a lost frame's successor is then at hand to recover it from
 * (Opus in-band FEC), and a path that was late once (a busy host, a
 * Wi-Fi hiccup) gets a tick of cushion.  On a clean link one frame is
 * enough.
 */
void es_jitter_est_lost(struct es_jitter_est *e);
/*
 * Target depth in frames, within [lo, hi]: the number of frames to hold
 * before starting so that the latest arrival seen lately is still in time.
 */
unsigned es_jitter_est_depth(const struct es_jitter_est *e, unsigned lo, unsigned hi);

/* ---- the tick engine ---------------------------------------------------- */

/*
 * The engine holds everybody's audio state (jitter buffer and decoder per
 * speaker, the mix streams' encoders) and, once per tick, turns the Opus
 * frames that arrived into what each listener should receive: the voices
 * it hears forwarded as the speakers' own frames, as many as its downlink
 * budget carries (up to ES_ENGINE_FORWARD_MAX), and only what does not fit
 * (or everything, on a thin link) mixed and encoded on the server.
 */
struct es_engine;

/*
 * The library starts no thread: a caller that wants the tick's work spread
 * hands the engine an executor.  run(ud, fn, ctx, n) calls fn(ctx, item,
 * worker) for every item 0..n-1 exactly once and returns when all are
 * done; items are independent; `worker` is below es_engine_config.threads
 * and no two calls running at once share one (the engine's scratch is per
 * worker); the caller of run may take items itself as worker 0.  run is
 * called only from es_engine_tick's thread.  A NULL run: every item on the
 * caller, in order, as worker 0.  (daemon/pool.h is one.)
 */
typedef void (*es_exec_fn)(void *ctx, unsigned item, unsigned worker);
struct es_executor {
	void *ud;
	void (*run)(void *ud, es_exec_fn fn, void *ctx, unsigned n);
};

struct es_engine_config {
	struct es_acoustics ac; /* ac.max_voices (K): 1..ES_ENGINE_K_MAX */
	unsigned max_people;   /* ids are 0 .. max_people-1 */
	unsigned jitter_frames; /* speaker jitter buffers' smallest depth, in ticks (they grow with jitter) */
	int bitrate;           /* stereo mix encoder bitrate at load level 0, bit/s */
	int complexity;        /* Opus complexity 0..10 at load level 0 */
	/*
	 * Stereo encoders in the pool (46 KB each), allocated by es_engine_new.
	 * One serves one mix stream: a background mix shared by a group of
	 * listeners (the voices beyond their budgets), or a personal stream
	 * (a thin link, or voices that must be exact and do not fit the
	 * budget).  When the pool is empty a listener sheds the background and
	 * keeps its forwarded voices.  0 (the default): max(128, max_people / 4).
	 */
	unsigned max_streams;
	float exact_m;         /* voices nearer than this are exact: never in a shared mix (4 m) */
	float group_db;        /* a shared mix is within this many dB of each member's own gain (3) */
	float group_deg;       /* ... and within this many degrees of its direction (30) */
	float stage_gain;      /* level at which the stage is heard across the floor (0.5) */
	int thin_bitrate;      /* thin-link stream bitrate, capped at ES_ENGINE_THIN_MAX_BPS */
	/*
	 * Before decoding and encoding, the engine estimates the tick's cost
	 * from its plan (decodes and encodes at reference prices per load
	 * level) and steps the load level up at once if the estimate exceeds
	 * this many microseconds (default 14000, 70 % of the tick); 0 turns
	 * that guard off.
	 */
	unsigned tick_budget_us;
	/*
	 * Let one stereo mix serve listeners facing opposite ways: those for
	 * whom it is right with left and right swapped get it with mix_mirror
	 * set.  Only for clients that honour mix_mirror, so off by default.
	 */
	bool mirror_mixes;
	/*
	 * Workers the tick's decodes, each listener's plan (who it hears, from
	 * where, which voices are forwarded) and the renders and encodes run
	 * on, the caller's included: the engine keeps scratch for each.  1 (the
	 * default) runs everything on the caller.  What comes out does not
	 * depend on this.  1..ES_ENGINE_THREADS_MAX; above 1, exec.run is
	 * required.
	 */
	unsigned threads;
	/* who runs those workers (the library starts no thread): see struct es_executor */
	struct es_executor exec;
};

#define ES_ENGINE_THREADS_MAX 16
#define ES_ENGINE_K_MAX 8          /* largest max_voices */
#define ES_ENGINE_FORWARD_MAX 8    /* forwarded voices per listener per tick */
#define ES_ENGINE_THIN_MAX_BPS 40000
#define ES_ENGINE_LOAD_MAX 3

/*
 * Downlink budgets, bit/s of everything a bundle costs on the link: the
 * voices' and the mix's Opus bytes, ES_ENGINE_VOICE_OVERHEAD per voice and
 * ES_ENGINE_BUNDLE_OVERHEAD per bundle (the message header 12, sealing 25,
 * ENet 10, IPv4 and UDP 28; the daemon checks these against the wire).
 * A budget of B bit/s is B / 400 bytes per 20 ms tick.
 */
#define ES_ENGINE_BUDGET_DEFAULT_BPS 320000
#define ES_ENGINE_BUDGET_MIN_BPS 64000
#define ES_ENGINE_BUDGET_MAX_BPS 1000000
#define ES_ENGINE_BUNDLE_OVERHEAD 77
#define ES_ENGINE_VOICE_OVERHEAD 10
#define ES_ENGINE_BUNDLE_MAX (ES_ENGINE_BUDGET_MAX_BPS / 400) /* bytes per tick at the largest budget */

void es_engine_config_default(struct es_engine_config *cfg);

/* Returns NULL and sets errno on failure.  Allocates everything up front. */
struct es_engine *es_engine_new(const struct es_engine_config *cfg);
void es_engine_free(struct es_engine *e);

/*
 * People.  Positions in metres, facing in radians. -EINVAL/-EEXIST/-ENOENT.
 * A person added starts with the default budget (ES_ENGINE_BUDGET_DEFAULT_BPS).
 */
__attribute__((warn_unused_result)) int es_engine_add(struct es_engine *e, unsigned id, float x, float y, float facing);
void es_engine_remove(struct es_engine *e, unsigned id);
__attribute__((warn_unused_result)) int es_engine_move(struct es_engine *e, unsigned id, float x, float y, float facing);

/*
 * The downlink budget the listener declared, bit/s (0: the default),
 * within ES_ENGINE_BUDGET_MIN_BPS..ES_ENGINE_BUDGET_MAX_BPS.  Every bundle
 * emitted for it stays within the budget in force, which starts here and is
 * lowered while the listener reports loss.  -ENOENT, -EINVAL.
 */
__attribute__((warn_unused_result)) int es_engine_set_budget(struct es_engine *e, unsigned id, unsigned bps);

/*
 * The listener's downlink lost `permille` of the bundles it expected over
 * the last report (about two seconds).  Above 2 % the budget in force
 * drops by a sixth (by 30 % above 5 %), never below the minimum; under
 * 0.5 % it climbs back by a tenth a report, never above what was declared.
 * Returns the budget now in force, bit/s, or -ENOENT.
 */
int es_engine_report_loss(struct es_engine *e, unsigned id, unsigned permille);

/* The budget in force for a listener, bit/s; 0 if absent. */
unsigned es_engine_budget(const struct es_engine *e, unsigned id);

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
	/*
	 * A voice only, never a listener: nothing is planned, mixed or
	 * emitted for it (a stage voice relayed from another daemon).
	 */
	ES_ENGINE_DEAF = 1u << 4,
};

__attribute__((warn_unused_result)) int es_engine_set_flags(struct es_engine *e, unsigned id, unsigned flags);

/*
 * Use floor plan f for walls, doors, rooms and the stage (NULL: open space
 * everywhere, the default).  f is borrowed: the caller keeps ownership and
 * keeps it alive until es_engine_free() or another es_engine_set_floor().
 * The caller opens and closes doors on f directly; the engine reads the
 * door states on every tick.  People's rooms are looked up again here and
 * on every es_engine_add()/es_engine_move().
 */
struct es_floor;
void es_engine_set_floor(struct es_engine *e, const struct es_floor *f);

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
 * The load ladder.  Level 0 is full quality; each level above sheds one
 * thing, cheapest to the listener first:
 *   1: mixes (only thin links and voices beyond a budget are mixed) at
 *      encoder complexity 2 instead of the configured one;
 *   2: mixes at 16 kHz;
 *   3: mixes at 8 kHz, and each listener hears at most 4 voices.
 * Forwarded voices are the speakers' own frames at every level.
 *
 * The daemon may set a floor; the engine also steps by itself: up at once
 * when its plan's estimated cost exceeds tick_budget_us (ES_ENGINE_STEP_
 * ESTIMATE), or when the measured tick (es_engine_report_tick_us; the
 * library has no clock) averages over 70 % of the period or overran it
 * twice within ten ticks (ES_ENGINE_STEP_MEASURED); down one level after
 * two seconds under 30 % (ES_ENGINE_STEP_CALM).  A single slow tick (a
 * preempted thread on a shared machine) sheds nothing.  The level in force
 * is max(floor, adaptive).
 */
enum es_engine_step {
	ES_ENGINE_STEP_ESTIMATE = 0, /* up: the plan's estimate did not fit the budget */
	ES_ENGINE_STEP_MEASURED = 1, /* up: the ticks measured did not keep up */
	ES_ENGINE_STEP_CALM = 2,     /* down: two seconds of calm */
	ES_ENGINE_STEP__COUNT = 3,
};
void es_engine_set_load_level(struct es_engine *e, unsigned level);
void es_engine_report_tick_us(struct es_engine *e, unsigned us);
unsigned es_engine_load_level(const struct es_engine *e);
/* What a level sheds, for people: a short phrase. */
const char *es_engine_level_name(unsigned level);

/*
 * Queue one uplink Opus frame from speaker id with its sequence number.
 * The bytes are copied.  Late, duplicate and oversized frames are refused
 * with -EALREADY / -EMSGSIZE and counted.  flags: ES_ENGINE_UP_PREROLL
 * and ES_ENGINE_UP_QUIET, as the sender marked the frame (see the jitter
 * buffer).  frac: how far into the coming tick the frame arrived, in
 * (0, ES_JE_ONE] (es_jitter_frac()); ES_JE_ONE when the caller does not
 * know, which costs a frame of latency on a clean link.
 */
#define ES_ENGINE_UP_PREROLL 1u
#define ES_ENGINE_UP_QUIET 2u
__attribute__((warn_unused_result)) int es_engine_push(struct es_engine *e, unsigned id, uint32_t seq, const uint8_t *opus, size_t len,
						       unsigned flags, int32_t frac);

/* A forwarded entry's frame is the speaker's next one: decode its in-band FEC. */
#define ES_ENGINE_VOICE_FEC 1u

/*
 * Output for one listener for one tick.  voices/mix point into engine
 * storage valid until the next es_engine_tick().
 *
 * What the client does with it (the daemon carries it in ES_MSG_AUDIO_DOWN):
 * - voice[0..nvoices-1] are the speakers' own mono Opus frames.  Keep one
 *   Opus decoder and one struct es_voice_state per speaker id; decode the
 *   frame and es_render_voice() it at `gain` and `azimuth` into the stereo
 *   accumulator.  len 0: the speaker's frame for this tick was lost before
 *   the server: conceal (opus_decode with no data).  flags
 *   ES_ENGINE_VOICE_FEC: the frame is the next one, decode its FEC.  A
 *   speaker forwarded last tick and absent now (moved into the mix, out of
 *   earshot, stopped) is concealed once with opus_decode(NULL) and
 *   rendered at gain 0, which ramps it out; then its state is dropped.
 * - mix (if mix_len) is stereo Opus; decode it with the decoder of stream
 *   `mix_stream`, swap its channels if mix_mirror, and add it.  When
 *   mix_stream differs from the previous tick's, the stream changed
 *   identity: reset the mix decoder (OPUS_RESET_STATE) first.  mix_stream
 *   is 0 when there is no mix.  A mix that stops (none this tick after one
 *   last tick) is concealed once with opus_decode(NULL) and faded out
 *   linearly across that frame, or it ends in a click.
 * - then es_limiter_run() the sum.
 * `bytes` (what the bundle costs on the link, ES_ENGINE_BUNDLE_OVERHEAD and
 * the voices' ES_ENGINE_VOICE_OVERHEAD included) never exceeds the
 * listener's budget in force; for a thin listener nvoices is 0 and the mix
 * is at most 100 bytes (40 kbit/s).
 */
struct es_engine_out {
	unsigned listener;
	unsigned nvoices;
	struct {
		unsigned speaker;
		uint16_t seq;
		unsigned flags; /* ES_ENGINE_VOICE_FEC */
		float gain;     /* linear, includes personal volume */
		float azimuth;  /* radians, + right, relative to the listener's facing */
		const uint8_t *opus; /* NULL when len is 0: conceal */
		size_t len;
	} voice[ES_ENGINE_FORWARD_MAX];
	const uint8_t *mix;
	size_t mix_len;
	uint32_t mix_stream;  /* identity of the mix stream, 0 = none */
	unsigned mix_voices;  /* voices audible in the mix this tick */
	bool mix_shared;      /* the mix is shared with other listeners */
	bool mix_mirror;      /* swap the decoded mix's left and right (only with cfg.mirror_mixes) */
	size_t bytes;         /* on the link, overheads included */
	size_t budget;        /* the listener's budget in force, bytes per tick */
};

typedef void (*es_engine_emit_fn)(void *ud, const struct es_engine_out *out);

struct es_engine_stats {
	uint64_t ticks;
	/* frames_fec: lost frames rebuilt from the next frame's in-band FEC; frames_plc: concealed (no next frame, or it carries no FEC) */
	uint64_t frames_in, frames_late, frames_plc, frames_fec;
	uint64_t warmups;    /* decodes run only to bring a decoder up to date (decode on demand) */
	uint64_t steps[ES_ENGINE_STEP__COUNT]; /* load level changes by cause */
	unsigned speakers;   /* active speakers this tick */
	unsigned listeners_silent, listeners_forward, listeners_mix;
	unsigned encodes;    /* encodes this tick */
	unsigned decodes;    /* decodes this tick, warm-ups included */
	/* this tick: */
	unsigned listeners_shared;   /* of listeners_mix, those on a shared mix */
	unsigned listeners_shed;     /* lost their background: encoder pool empty */
	unsigned listeners_budget;   /* heard more than their budget carries: the rest is mixed */
	unsigned streams_shared, streams_personal;
	unsigned forwarded;          /* forwarded voice entries */
	uint64_t bytes_out;          /* bundle bytes on the link, overheads included */
	unsigned bytes_max;          /* the largest bundle */
	unsigned load_level;
	unsigned estimate_us;        /* the plan's estimated cost (what the guard compares) */
};

/*
 * Run one 20 ms tick: pull one frame per speaker from the jitter buffers,
 * plan who hears whom and what is forwarded within each budget, decode the
 * voices a mix needs (only those), render and encode the mixes, and call
 * emit once for every listener who hears anyone.  Listeners who hear
 * nobody are not called.  Returns 0 or a negative errno from the codec.
 */
__attribute__((warn_unused_result)) int es_engine_tick(struct es_engine *e, es_engine_emit_fn emit, void *ud);

void es_engine_get_stats(const struct es_engine *e, struct es_engine_stats *st);

/* ==== floor plans (mixer/floor.c, mixer/floor-default.c) ================= */
/*
 * A floor plan: a character grid of square cells `scale` metres wide, with
 * walls, doors, desks and named rooms.  The text format is documented in
 * docs/FLOORPLAN.md.
 *
 * Coordinates.  Positions are in metres, x east, y NORTH (up on the screen),
 * so that es_azimuth()'s bearing (0 = +y, clockwise positive) is a compass
 * bearing and left/right in the ears matches the drawn plan.  Cell (col,row),
 * row 0 being the top line of the grid, covers
 *   x in [col*scale, (col+1)*scale],  y in [(rows-1-row)*scale, (rows-row)*scale]
 * (a point exactly on a cell edge belongs to one of the two cells).
 * Use es_floor_cell_at() / es_floor_cell_center() to convert; do not assume.
 *
 * A floor is not thread-safe.  All queries are read-only except the door
 * setters; none allocates, so they may run on the tick path.
 */
#define ES_FLOOR_MAX_COLS 1024
#define ES_FLOOR_MAX_ROWS 1024
#define ES_FLOOR_MAX_DESKS 4096
#define ES_FLOOR_MAX_ROOMS 1024
#define ES_FLOOR_MAX_DOORS 4096
#define ES_FLOOR_MAX_TEXT (4u << 20) /* bytes of plan text */
#define ES_FLOOR_LABEL_MAX 32        /* desk label, including the NUL */
#define ES_FLOOR_NAME_MAX 64         /* room / floor name, including the NUL */

struct es_floor;

/* Where and why a plan was refused: 1-based line and column of the text. */
struct es_floor_error {
	int line, col;
	char msg[128];
};

enum es_room_kind {
	ES_ROOM_OPEN = 0, /* a walled but otherwise ordinary area ("open") */
	ES_ROOM_MEETING,  /* "meeting" */
	ES_ROOM_FOCUS,    /* "focus" booth */
	ES_ROOM_KITCHEN,  /* "kitchen" */
	ES_ROOM_STAGE,    /* "stage": the floor knows only the area; heard-by-all is the engine's rule */
};

/* "open", "meeting", ...; NULL for an unknown kind. */
const char *es_room_kind_name(enum es_room_kind kind);

/*
 * Parse a plan from text (len bytes, need not be NUL-terminated; at most
 * ES_FLOOR_MAX_TEXT).  The text is copied.  Returns NULL on failure with
 * errno EBADMSG (err, if not NULL, says where and why) or ENOMEM.
 */
__attribute__((warn_unused_result)) struct es_floor *es_floor_parse(const char *text, size_t len, struct es_floor_error *err);

/* The built-in office: 240 desks, 3 meeting rooms, kitchen, stage, 2 focus booths. NULL+errno. */
__attribute__((warn_unused_result)) struct es_floor *es_floor_default(void);

/*
 * A new floor repeating f nx times east and ny times south (grid tiles).
 * Tile k = ty*nx + tx (k = 0 top left) keeps f's labels for k == 0; others get
 * desk label "<label>.<k>" and room name "<name> <k+1>".  Doors start as they
 * are in f now.  NULL+errno: E2BIG (over a cap), ENOMEM, EINVAL (nx or ny 0, or
 * a generated label too long or clashing with one of f's own labels).
 */
__attribute__((warn_unused_result)) struct es_floor *es_floor_tile(const struct es_floor *f, unsigned nx, unsigned ny);

/* A deep copy, door states included.  NULL+errno. */
__attribute__((warn_unused_result)) struct es_floor *es_floor_clone(const struct es_floor *f);

/* es_floor_free(NULL) is a no-op. */
void es_floor_free(struct es_floor *f);

/*
 * The plan text the floor was parsed from (generated, for a tiled or default
 * floor): send it to clients so they draw the same plan.  Owned by f, valid
 * until es_floor_free(); NUL-terminated, *len (if not NULL) without the NUL.
 * It holds the doors' initial states, not their current ones.
 */
const char *es_floor_to_text(const struct es_floor *f, size_t *len);

/* Size and drawing. */
const char *es_floor_name(const struct es_floor *f);
float es_floor_scale(const struct es_floor *f);       /* metres per cell */
unsigned es_floor_cols(const struct es_floor *f);
unsigned es_floor_rows(const struct es_floor *f);
float es_floor_width_m(const struct es_floor *f);     /* cols * scale */
float es_floor_height_m(const struct es_floor *f);    /* rows * scale */
/* Row `row` of the grid as drawn: cols characters plus a NUL, owned by f.  NULL if out of range. */
const char *es_floor_row(const struct es_floor *f, unsigned row);
/* Cell under a point: 0, or -ERANGE when outside the grid (or NaN). */
int es_floor_cell_at(const struct es_floor *f, float x, float y, unsigned *col, unsigned *row);
/* Centre of a cell in metres (no range check). */
void es_floor_cell_center(const struct es_floor *f, unsigned col, unsigned row, float *x, float *y);
/* Can a person stand here: inside the grid, not a wall or a table ('='). */
bool es_floor_walkable(const struct es_floor *f, float x, float y);

/* Rooms: indices 0 .. count-1, in the order of the plan's room lines. */
unsigned es_floor_room_count(const struct es_floor *f);
/* Room under a point, or -1 for open space, walls and outside.  A door cell belongs to its room.  O(1). */
int es_floor_room_at(const struct es_floor *f, float x, float y);
const char *es_floor_room_name(const struct es_floor *f, unsigned room); /* NULL if out of range */
/* The room's kind, or -EINVAL if out of range. */
int es_floor_room_kind(const struct es_floor *f, unsigned room);
/* The room's doors: count returned, *doors (if not NULL) points at that many door indices owned by f. -EINVAL if out of range. */
int es_floor_room_doors(const struct es_floor *f, unsigned room, const unsigned **doors);
/* Close every door of the room.  0 or -EINVAL. */
__attribute__((warn_unused_result)) int es_floor_room_close(struct es_floor *f, unsigned room);

/* Doors: indices 0 .. count-1 in reading order of the grid. */
unsigned es_floor_door_count(const struct es_floor *f);
/* 0 or -EINVAL. */
__attribute__((warn_unused_result)) int es_floor_door_set_open(struct es_floor *f, unsigned door, bool open);
bool es_floor_door_is_open(const struct es_floor *f, unsigned door); /* false if out of range */
/*
 * The door questions everyone asks, answered once here.  Has the room an
 * open door (false without doors or out of range)?  Is it closed, a
 * meeting: it has doors and every one is shut (a room without doors is
 * open space with walls; acoustics, which need "nothing gets in", ask
 * !es_floor_room_open_door instead)?
 */
bool es_floor_room_open_door(const struct es_floor *f, unsigned room);
bool es_floor_room_closed(const struct es_floor *f, unsigned room);
/* How far a person reaches to open or close a door, metres (server and client agree). */
#define ES_DOOR_REACH_M 3.0f
/* Is door within reach of (x,y)?  False if out of range. */
bool es_floor_door_in_reach(const struct es_floor *f, unsigned door, float x, float y);
/* The nearest door within reach of (x,y), or -1; its place and room filled where not NULL.  f may be NULL. */
int es_floor_door_near(const struct es_floor *f, float x, float y, float *dx, float *dy, unsigned *room);
/* Door centre in metres and the room it opens into.  0 or -EINVAL.  Any out-pointer may be NULL. */
int es_floor_door(const struct es_floor *f, unsigned door, float *x, float *y, unsigned *room);
/* Door whose cell is under the point, or -1. */
int es_floor_door_at(const struct es_floor *f, float x, float y);
/* Linear gain of one open door (the plan's door-loss, default 10 dB: 0.316). */
float es_floor_door_gain(const struct es_floor *f);

/* Desks: indices 0 .. count-1 in reading order of the grid. */
unsigned es_floor_desk_count(const struct es_floor *f);
/* Desk seat centre in metres and its label (owned by f).  0 or -EINVAL.  Out-pointers may be NULL. */
int es_floor_desk(const struct es_floor *f, unsigned desk, float *x, float *y, const char **label);
/* Desk whose seat is the cell under the point, or -1 (also for f NULL).  O(log n). */
int es_floor_desk_at(const struct es_floor *f, float x, float y);
/* Desk index by label (exact, case-sensitive), or -ENOENT.  O(log n). */
int es_floor_desk_find(const struct es_floor *f, const char *label);

/*
 * Acoustic path from a speaker at (sx,sy) to a listener at (lx,ly), metres.
 * Returns the factor in [0,1] that walls and doors apply to the voice; the
 * caller applies distance on top, as es_distance_gain(ac, *path_len_m).
 *
 *  - same room, or both in open space with no wall or door cell on the
 *    straight line: 1; apparent source = speaker; path = straight distance.
 *  - open space with a wall (or a door cell) on the straight line: 0.  Sound
 *    does not go round corners.
 *  - one in a room, the other outside it: through the room's open door with
 *    the shortest path speaker -> door -> listener whose outside leg is clear
 *    of walls: the door gain (-10 dB by default); apparent source = that door's
 *    centre; path = |speaker-door| + |door-listener|.  No open door, or only
 *    blocked outside legs: 0.  Closed doors pass exactly 0, both ways.
 *  - two different rooms: through an open door of each (speaker's door a,
 *    listener's door b, a->b clear): door gain squared; apparent = b;
 *    path = |s-a| + |a-b| + |b-l|; shortest such; else 0.
 * When 0 is returned, apparent = speaker and path = straight distance.
 * path_len_m is never less than the straight distance, so callers may skip
 * pairs already beyond hearing range.  Cost: O(1) in one room, else one line
 * walk (cells on the line) per door (pair) tried.  ax, ay, path_len_m may be
 * NULL.  Non-finite positions give 0.
 */
float es_floor_path(const struct es_floor *f, float sx, float sy, float lx, float ly,
		    float *ax, float *ay, float *path_len_m);

/* ==== end of floor plans ================================================= */

#endif
