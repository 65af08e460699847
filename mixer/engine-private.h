/* SPDX-License-Identifier: MIT */
/*
 * The tick engine's insides, shared by engine.c (people, speakers, the tick
 * driver), plan.c (who hears whom, and how it is delivered within each
 * budget), decode.c (decode on demand) and stream.c (the encoder pool:
 * rendering and encoding mix streams).  Private to mixer/.
 */
#ifndef EARSHOT_ENGINE_PRIVATE_H
#define EARSHOT_ENGINE_PRIVATE_H

#include <opus.h>

#include "earshot-mixer.h"
#include "jitter.h"

#define CAND_MAX 24 /* audible voices kept per listener per tick, loudest first */
#define FWD_MAX ES_ENGINE_FORWARD_MAX
#define K_MAX ES_ENGINE_K_MAX
/* A mix frame never exceeds this (the encoder is capped lower by the budget). */
#define MIX_MAX 1275
#define THIN_MAX (ES_ENGINE_THIN_MAX_BPS / 8 / 50) /* bytes per 20 ms */
/* Frames kept per speaker to bring a decoder up to date (decode on demand). */
#define WARM_FRAMES 4
#define NO_ROOM (-1)

#define DECIM_TAPS 48

/* A decimating low-pass, 48 kHz to 48/factor kHz. */
struct es_decim {
	unsigned factor, ntaps;
	float taps[DECIM_TAPS];
};

/* Per-level encoder settings of background streams. */
struct level_set {
	int rate;       /* encoder sample rate */
	int complexity;
	float bitrate;  /* times the configured bitrate */
};

/* One audible voice at one listener (or at a shared mix's reference place). */
struct cand {
	uint16_t id;
	bool exact; /* nearer than exact_m, or a whisper: never in a shared mix */
	float gain; /* linear, personal volume included */
	float az;   /* radians, + right, in (-pi, pi]: ahead and behind differ (the head's rear cut) */
	float lg;   /* ln gain, precomputed for planning */
	float sx, sy; /* where it is heard from (the speaker, a door, the stage): az is worked out from it */
};

/* Where a voice is heard from: a listener, or a shared mix's reference. */
struct place {
	float x, y, facing;
	int room;
};

/* A forwarded entry: a speaker's own frame. */
struct fwd {
	uint16_t id;
	float gain, az;
};

/* What a speaker's jitter buffer gave for one tick, kept to replay into a decoder. */
struct past {
	uint8_t what; /* enum es_jb_result */
	uint16_t len;
	uint8_t data[ES_JB_FRAME_MAX];
};

/* Render state of one voice inside one mix stream. */
struct slot {
	int speaker; /* -1: free */
	unsigned last_tick;
	float last_az;
	struct es_voice_state st;
};

struct person {
	bool present;
	float x, y, facing;
	unsigned flags;
	int whisper_to; /* -1: not whispering */
	int room;       /* from the floor plan, NO_ROOM without one */
	bool on_stage;

	/* as a speaker */
	struct es_jitter jb;
	OpusDecoder *dec;
	bool active;            /* has audio (frame or concealment) this tick */
	/*
	 * This tick's frame as the jitter buffer gave it: FRAME (pkt is the
	 * frame), FEC (pkt is the next frame, for its FEC) or LOST (no pkt).
	 * pkt points into the jitter buffer until the next push.
	 */
	enum es_jb_result what;
	const uint8_t *pkt;
	size_t pkt_len;
	uint16_t seq;
	unsigned cost;          /* bytes this voice adds to a bundle it is forwarded in, this tick */
	/*
	 * The largest cost lately (decaying 1 % a tick).  A listener whose
	 * voices are all forwarded keeps them so while this tick's frames fit
	 * (cost); one who needed a mix comes back to forwarding only when the
	 * voices' peaks fit (plan_cost), and a mix's split counts peaks.  So
	 * one large frame moves nobody into a mix, and frame sizes that vary
	 * near a budget do not move voices between frame and mix every tick.
	 */
	float cost_peak;
	unsigned plan_cost;
	/*
	 * Decode on demand: only a mix needs PCM.  The decoder last ran for
	 * tick dec_tick; the frames of the ticks since (up to WARM_FRAMES,
	 * npast of them, oldest first) are kept so that a decoder that skipped
	 * them is reset and brought up to date before the frame a mix needs.
	 */
	bool need;              /* a mix renders this voice this tick: decode */
	unsigned dec_tick;
	unsigned npast, past0;    /* kept: past[(past0 + k) % WARM_FRAMES], k < npast */
	struct past past[WARM_FRAMES];
	unsigned warm;          /* this tick's decode replayed this many frames first */
	float pcm[ES_FRAME];
	/* the same at the low rate of the load level, when mixes are encoded below 48 kHz */
	float pcm_lo[ES_FRAME / 3];
	float lo_hist[DECIM_TAPS - 1];
	int lo_rate;
	unsigned lo_tick;

	/* as a listener: the downlink budget, bytes per tick (declared, in force) */
	unsigned budget_decl, budget;

	/* as a listener: personal volumes */
	struct {
		int speaker;
		float gain;
	} vol[ES_ENGINE_VOLUMES];

	/* as a listener: this tick's plan */
	unsigned ncand;
	struct cand cand[CAND_MAX];
	unsigned nm;              /* cand[0..nm-1]: what must be heard (K, 20 dB) */
	unsigned nf;
	uint8_t f[FWD_MAX];       /* indices into cand: forwarded */
	unsigned nr;
	uint8_t r[K_MAX];         /* indices into cand: needed in the mix */
	bool personal;            /* needs a stream of its own */
	bool mirror;              /* this tick's mix is to be heard with left and right swapped */
	bool mirror_fit;          /* scratch: how the last compatible() fitted */
	unsigned space;           /* bytes per tick for voices and mix: the budget less the bundle's overhead */
	unsigned mix_cap;         /* a personal stream's frame may take this many bytes */
	unsigned nfe;
	struct fwd fe[FWD_MAX];   /* what is forwarded, final */
	int stream;               /* stream this tick, -1 none */

	/* as a listener: last tick, for stickiness */
	int prev_stream;
	uint32_t prev_stream_id;
	unsigned nprev_fwd;
	uint16_t prev_fwd[FWD_MAX];
};

/*
 * One encoder of the pool and the mix stream it currently carries.  A slot
 * keeps its encoder for life; a stream keeps its slot while it has members,
 * so a client's decoder sees one continuous Opus stream.
 */
struct stream {
	bool used;
	uint32_t id;       /* changes when the slot starts a new stream */
	OpusEncoder *enc;
	int level;         /* load level the encoder is set to, -1 unknown */
	int owner;         /* personal stream of this listener, -1: shared */
	bool thin;
	unsigned cap;      /* bytes a frame may take: the budget's share (shared: the configured mix cap) */
	int br;            /* the encoder's bitrate now */
	bool fixed;        /* shared, one voice at a gain and direction fixed for life (no place) */
	struct place ref;  /* shared: where its gains and directions are taken */
	unsigned nset;
	uint16_t set[K_MAX]; /* shared: the voices it may carry (fixed for life) */
	unsigned members;    /* listeners on it this tick */
	/* what to render this tick */
	unsigned nr;
	struct cand r[K_MAX];
	struct slot slots[K_MAX + 2];
	struct es_limiter lim;
	int rate;          /* encoder sample rate */
	uint8_t pkt[MIX_MAX];
	int len;
};

/* One listener's view of one voice it could take from a mix (plan.c's cover). */
struct view {
	uint16_t voice, listener;
	int room;
	float lg, az; /* az: the listener's own (or, for a mirrored view, its negative) */
};

/*
 * Scratch of the tick's parallel work: one per pool thread, so the speakers'
 * decodes and the mixes' renders and encodes can run side by side.
 */
struct es_scratch {
	float acc[2 * ES_FRAME];
	float lowf[2 * ES_FRAME];
	int16_t pcm16[2 * ES_FRAME];
	opus_int16 dec16[ES_FRAME];
};


struct es_engine {
	struct es_engine_config cfg;
	struct es_executor exec; /* cfg.exec: who runs the tick's parallel items */
	struct es_scratch *scratch; /* one per pool thread */
	unsigned *decoding;         /* scratch: speakers to decode this tick */
	unsigned ndecoding;
	unsigned *lids;             /* scratch: listeners to plan this tick */
	unsigned *jobs;             /* scratch: this tick's encode jobs (stream indices) */
	struct view *views; /* scratch: max_people * K_MAX */
	const struct es_floor *floor; /* borrowed, may be NULL */
	struct person *people;
	unsigned *active; /* ids of active speakers this tick */
	unsigned nactive;
	/* the same, as arrays for the listener loop: position, and whether only distance decides */
	float *ax, *ay;
	bool *plain;
	/* the plain ones (indices into active) sorted by x, and their x; the others (whispers, the stage) */
	unsigned *sweep, *odd;
	float *sweep_x;
	unsigned nsweep, nodd;
	struct stream *streams;
	unsigned mix_cap;  /* bytes a shared mix frame may take: 1.25 x the configured bitrate */
	unsigned *order; /* scratch: listener ids */
	uint32_t next_stream_id;
	unsigned level_floor, level_adapt;
	float cost_avg; /* smoothed reported tick cost, us */
	unsigned overruns;  /* reported ticks over the period among the last few */
	unsigned since_overrun;
	float group_ratio, group_rad; /* group_db and group_deg, as used */
	float drop;                   /* the drop rule (ac.drop_db) as a gain ratio */
	unsigned k_eff;               /* K in force this tick */
	unsigned calm_ticks;
	struct es_engine_stats stats;
	struct es_decim decim16, decim8;
};

/* plan.c */
void es_place_person(struct es_engine *e, struct person *p);
/* Plans every present listener; returns how many. */
unsigned es_plan_listeners(struct es_engine *e);
void es_plan_streams(struct es_engine *e);
bool es_voice_at(const struct es_engine *e, const struct place *p, int listener, unsigned sid, struct cand *c);
/* Fill in c's planning figures (ln gain; and its direction from p, if az: the plan defers it). */
void es_cand_derive(const struct es_engine *e, const struct place *p, struct cand *c, bool az);
const struct cand *es_find_cand(const struct person *l, unsigned id);
/* a - b as an angle in [-pi, pi]: directions 350 and 10 degrees apart are 20 apart */
float es_angle_diff(float a, float b);

/* stream.c */
int es_streams_init(struct es_engine *e);
void es_streams_clear(struct es_engine *e);
int es_stream_alloc(struct es_engine *e, int owner, const struct place *ref);
void es_stream_release(struct es_engine *e, unsigned i);
/*
 * Before the encodes, on the tick thread: apply the load level to every
 * stream with listeners, and list it in e->jobs.  Also marks the voices
 * each stream renders (or fades out) as needed, for decode on demand.
 */
__attribute__((warn_unused_result)) int es_streams_prepare(struct es_engine *e, unsigned *njobs);
/* After the guard chose the tick's level: set every listed stream's encoder to it. */
__attribute__((warn_unused_result)) int es_streams_apply_level(struct es_engine *e);
/* Render and encode stream i (any thread); st->len < 0 on failure. */
void es_stream_encode(struct es_engine *e, unsigned i, unsigned tick, struct es_scratch *w);
void es_streams_forget_speaker(struct es_engine *e, unsigned id);

/* decode.c */
/* Keep what the jitter buffer gave speaker p this tick, for a later warm-up. */
void es_decode_remember(struct person *p);
/* Decode speaker id for this tick, bringing its decoder up to date first (any thread). */
void es_decode_speaker(struct es_engine *e, unsigned id, unsigned tick, struct es_scratch *w);

/* decimate.c */
void es_decim_init(struct es_decim *d, unsigned factor);
void es_decimate(const struct es_decim *d, float *hist, const float *in, unsigned ch, float *out);

/* stream.c: settings per load level; and encode at the level's rate */
const struct level_set *es_level_set(unsigned level);
/*
 * Limit and encode this stream's frame: w->acc (48 kHz) when rate is
 * ES_RATE, else w->lowf (already at `rate`).  ch channels, interleaved.
 */
__attribute__((warn_unused_result)) int es_encode_at(struct es_scratch *w, OpusEncoder *enc, int rate,
						     struct es_limiter *lim, unsigned ch, uint8_t *pkt, int cap);
/* Decimate speaker id, decoded this tick, to the load level's rate (any thread). */
void es_speaker_lowrate(struct es_engine *e, unsigned id, unsigned tick);

static inline unsigned es_level(const struct es_engine *e)
{
	return e->level_floor > e->level_adapt ? e->level_floor : e->level_adapt;
}

/* Run fn on items 0..n-1 through the caller's executor, or here, in order, as worker 0. */
static inline void es_engine_run(struct es_engine *e, es_exec_fn fn, void *ctx, unsigned n)
{
	if (e->exec.run) {
		e->exec.run(e->exec.ud, fn, ctx, n);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		fn(ctx, i, 0);
}

#endif
