/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <opus.h>

#include "earshot-mixer.h"
#include "earshot-proto.h"
#include "playout.h"

#define SLOTS 32
#define SLOT_BYTES 4096
#define VOICES 8          /* forwarded voices tracked at once */
#define VOICE_IDLE 25     /* ticks without a frame before a voice's state is dropped */
#define END_AFTER 5       /* concealed ticks before we call the stream ended */
#define MAX_DEPTH 12

struct slot {
	bool full;
	uint32_t tick;
	uint16_t len;
	uint8_t data[SLOT_BYTES];
};

struct voice {
	int speaker; /* -1 free; ids at or above the server's max people are speaker groups */
	bool heard;  /* rendered in the last bundle */
	OpusDecoder *dec;
	struct es_voice_state st;
	uint32_t last_tick;
	float gain, azimuth;
};

struct es_playout {
	struct slot slot[SLOTS];
	uint32_t next;
	bool playing, seen;
	unsigned depth, misses;
	unsigned min_depth, hold;
	uint32_t pulls; /* this buffer's clock: one per 20 ms pulled */
	uint16_t down_seq; /* the last bundle's count */
	bool down_seen;
	/*
	 * A session ended (es_playout_session_end) and the next one's ticks
	 * count from elsewhere: its first bundle is spliced right after what is
	 * still queued (offset: added to every tick of that session).
	 */
	bool splice;
	uint32_t offset;
	struct es_jitter_est est;
	OpusDecoder *mix_dec;
	bool mix_active;
	uint32_t mix_stream; /* identity of the stream mix_dec follows */
	bool mix_mirror;
	struct voice voice[VOICES];
	struct es_limiter lim;
	struct es_playout_stats st;
	float acc[2 * ES_FRAME];
	float mono[ES_FRAME];
	int16_t pcm[2 * ES_FRAME];
};

struct es_playout *es_playout_new(unsigned depth)
{
	struct es_playout *p = calloc(1, sizeof(*p));
	if (!p)
		goto err;
	int e;
	p->mix_dec = opus_decoder_create(ES_RATE, 2, &e);
	if (e != OPUS_OK)
		goto err_p;
	for (unsigned i = 0; i < VOICES; i++) {
		p->voice[i].speaker = -1;
		p->voice[i].dec = opus_decoder_create(ES_RATE, 1, &e);
		if (e != OPUS_OK)
			goto err_dec;
	}
	p->depth = depth < 1 ? 1 : depth > MAX_DEPTH ? MAX_DEPTH : depth;
	p->min_depth = p->depth;
	es_jitter_est_init(&p->est);
	es_limiter_init(&p->lim);
	return p;

err_dec:
	for (unsigned i = 0; i < VOICES; i++)
		if (p->voice[i].dec)
			opus_decoder_destroy(p->voice[i].dec);
	opus_decoder_destroy(p->mix_dec);
err_p:
	free(p);
err:
	errno = ENOMEM;
	return NULL;
}

void es_playout_free(struct es_playout *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < VOICES; i++)
		opus_decoder_destroy(p->voice[i].dec);
	opus_decoder_destroy(p->mix_dec);
	free(p);
}

void es_playout_reset(struct es_playout *p)
{
	for (unsigned i = 0; i < SLOTS; i++)
		p->slot[i].full = false;
	p->playing = p->seen = false;
	p->misses = 0;
	p->down_seen = false; /* a new session counts its bundles from 0 */
	p->splice = false;
	p->offset = 0;
}

void es_playout_session_end(struct es_playout *p)
{
	p->splice = true;
	p->down_seen = false;
}

/*
 * The next session's first bundle, tick t of its daemon.  Still playing
 * what the last session sent: it goes right after the last bundle queued,
 * with no new prefill, so a redirect to another daemon costs only the time
 * until the new daemon's first bundle.  Not playing any more: start afresh.
 */
static void splice_session(struct es_playout *p, uint32_t t)
{
	p->splice = false;
	if (!p->playing) {
		for (unsigned i = 0; i < SLOTS; i++)
			p->slot[i].full = false;
		p->seen = false;
		p->offset = 0;
		return;
	}
	uint32_t last = p->next - 1;
	for (unsigned i = 0; i < SLOTS; i++)
		if (p->slot[i].full && (int32_t)(p->slot[i].tick - last) > 0)
			last = p->slot[i].tick;
	p->offset = last + 1 - t;
	/* the arrival offsets of the last session say nothing about this one */
	es_jitter_est_init(&p->est);
	p->st.spliced++;
}

static unsigned queued(const struct es_playout *p)
{
	unsigned n = 0;
	for (unsigned i = 0; i < SLOTS; i++)
		n += p->slot[i].full;
	return n;
}

int es_playout_push(struct es_playout *p, const uint8_t *msg, size_t len, int32_t frac)
{
	struct es_msg m;
	if (len > SLOT_BYTES || es_msg_decode(&m, msg, len) < 0 || m.type != ES_MSG_AUDIO_DOWN) {
		p->st.malformed++;
		return -EBADMSG;
	}
	if (p->splice)
		splice_session(p, m.u.down.tick);
	uint32_t t = m.u.down.tick + p->offset;
	/* downlink loss: gaps in the server's count of bundles to us (a reordered one counts as it arrives) */
	int16_t step = (int16_t)(m.u.down.seq - p->down_seq);
	if (!p->down_seen || step > 1000 || step < -1000) {
		p->st.down_expected++; /* first, or a new session: start counting here */
		p->down_seq = m.u.down.seq;
		p->down_seen = true;
	} else if (step > 0) {
		p->st.down_expected += (uint64_t)step;
		p->down_seq = m.u.down.seq;
	}
	p->st.down_received++;
	/* arrival offset against our clock: its spread is the jitter */
	es_jitter_est_observe(&p->est, (int32_t)(p->pulls - t) * ES_JE_ONE + frac);
	unsigned want = es_jitter_est_depth(&p->est, p->min_depth, MAX_DEPTH);
	if (want > p->depth) {
		if (p->playing)
			p->hold += want - p->depth; /* stretch now rather than drop late bundles */
		p->depth = want;
	}
	if (p->playing) {
		int32_t ahead = (int32_t)(t - p->next);
		if (ahead < 0) {
			p->st.late++;
			if (ahead > -SLOTS)
				es_jitter_est_lost(&p->est); /* its turn has gone: lost to lateness */
			return -EALREADY;
		}
		if (ahead >= SLOTS) { /* server restarted or a long gap */
			es_playout_reset(p);
		}
	}
	if (!p->playing) {
		if (!p->seen || (int32_t)(t - p->next) < 0 || (int32_t)(t - p->next) >= SLOTS) {
			if (p->seen && (int32_t)(t - p->next) >= SLOTS)
				es_playout_reset(p);
			p->next = t;
		}
		p->seen = true;
	}
	struct slot *s = &p->slot[t % SLOTS];
	if (s->full && s->tick == t)
		return -EALREADY;
	s->full = true;
	s->tick = t;
	s->len = (uint16_t)len;
	memcpy(s->data, msg, len);
	p->st.bundles++;
	return 0;
}

static struct voice *voice_for(struct es_playout *p, unsigned speaker, uint32_t tick)
{
	struct voice *free_v = NULL, *oldest = &p->voice[0];
	for (unsigned i = 0; i < VOICES; i++) {
		struct voice *v = &p->voice[i];
		if (v->speaker == (int)speaker)
			return v;
		if (v->speaker < 0 && !free_v)
			free_v = v;
		if ((int32_t)(v->last_tick - oldest->last_tick) < 0)
			oldest = v;
	}
	struct voice *v = free_v ? free_v : oldest;
	v->speaker = (int)speaker;
	opus_decoder_ctl(v->dec, OPUS_RESET_STATE);
	es_voice_state_init(&v->st);
	v->last_tick = tick;
	return v;
}

static void render_voice(struct es_playout *p, struct voice *v, const uint8_t *opus, size_t len, int fec)
{
	opus_int16 pcm[ES_FRAME];
	int n = opus_decode(v->dec, opus, (opus_int32)len, pcm, ES_FRAME, fec);
	if (n != ES_FRAME)
		return;
	for (unsigned i = 0; i < ES_FRAME; i++)
		p->mono[i] = pcm[i] * (1.0f / 32768.0f);
	es_render_voice(&v->st, p->mono, v->gain, v->azimuth, p->acc);
}

/*
 * Decode one mix frame and add it; fade != 0 ramps it from 1 to 0 across
 * the frame (a mix that stopped: conceal once and fade, no click).
 */
static void add_mix(struct es_playout *p, const uint8_t *opus, size_t len, int fec, bool fade)
{
	int n = opus_decode(p->mix_dec, opus, (opus_int32)len, p->pcm, ES_FRAME, fec);
	if (n != ES_FRAME)
		return;
	int l = p->mix_mirror ? 1 : 0, r = 1 - l;
	for (unsigned i = 0; i < ES_FRAME; i++) {
		float g = fade ? 1.0f - (float)(i + 1) / ES_FRAME : 1.0f;
		p->acc[2 * i] += p->pcm[2 * i + l] * (g / 32768.0f);
		p->acc[2 * i + 1] += p->pcm[2 * i + r] * (g / 32768.0f);
	}
}

/* Render one bundle (or conceal its loss using the next one for FEC). */
static bool render(struct es_playout *p, const struct slot *s, const struct slot *next_s, uint32_t tick)
{
	struct es_msg m;
	bool any = false;
	if (s && es_msg_decode(&m, s->data, s->len) > 0) {
		const struct es_audio_down *d = &m.u.down;
		for (unsigned i = 0; i < VOICES; i++)
			p->voice[i].heard = false;
		for (unsigned i = 0; i < d->nvoices; i++) {
			struct voice *v = voice_for(p, d->voice[i].speaker, tick);
			v->gain = es_gain_from_q(d->voice[i].gain_q);
			v->azimuth = (float)d->voice[i].azimuth * (float)M_PI / 1800.0f;
			v->last_tick = tick;
			v->heard = true;
			/* len 0: the server had no frame of it this tick (PLC); FEC: this is the next frame */
			render_voice(p, v, d->voice[i].opus, d->voice[i].len, d->voice[i].flags & ES_VOICE_FEC ? 1 : 0);
			any = true;
		}
		/* a voice forwarded last tick and gone now: conceal once at gain 0,
		 * which es_render_voice ramps down to, then forget it */
		for (unsigned i = 0; i < VOICES; i++) {
			struct voice *v = &p->voice[i];
			if (v->speaker >= 0 && !v->heard && v->last_tick == tick - 1) {
				v->gain = 0.0f;
				render_voice(p, v, NULL, 0, 0);
			}
		}
		if (d->mix_len) {
			if (!p->mix_active || d->mix_stream != p->mix_stream) {
				/* another stream: its first frame must not meet the old decoder state */
				if (p->mix_active)
					add_mix(p, NULL, 0, 0, true);
				opus_decoder_ctl(p->mix_dec, OPUS_RESET_STATE);
				p->mix_stream = d->mix_stream;
			}
			p->mix_mirror = d->mix_flags & ES_MIX_MIRROR;
			add_mix(p, d->mix, d->mix_len, 0, false);
			p->mix_active = true;
			any = true;
		} else if (p->mix_active) {
			add_mix(p, NULL, 0, 0, true); /* the mix stopped: fade it out */
			p->mix_active = false;
		}
		return any;
	}
	/* lost: FEC from the next bundle where the same stream continues, else PLC */
	struct es_msg nm;
	bool have_next = next_s && es_msg_decode(&nm, next_s->data, next_s->len) > 0;
	for (unsigned i = 0; i < VOICES; i++) {
		struct voice *v = &p->voice[i];
		if (v->speaker < 0 || tick - v->last_tick > 2)
			continue;
		const uint8_t *fec = NULL;
		size_t fec_len = 0;
		for (unsigned k = 0; have_next && k < nm.u.down.nvoices; k++)
			if (nm.u.down.voice[k].speaker == v->speaker && nm.u.down.voice[k].len &&
			    !(nm.u.down.voice[k].flags & ES_VOICE_FEC)) {
				fec = nm.u.down.voice[k].opus;
				fec_len = nm.u.down.voice[k].len;
			}
		render_voice(p, v, fec, fec_len, fec != NULL);
		any = true;
	}
	if (p->mix_active) {
		if (have_next && nm.u.down.mix_len && nm.u.down.mix_stream == p->mix_stream)
			add_mix(p, nm.u.down.mix, nm.u.down.mix_len, 1, false);
		else
			add_mix(p, NULL, 0, 0, false);
		any = true;
	}
	return any;
}

int es_playout_pull(struct es_playout *p, int16_t *out)
{
	memset(p->acc, 0, sizeof(p->acc));
	bool any = false;
	p->pulls++;
	es_jitter_est_tick(&p->est);
	unsigned want = es_jitter_est_depth(&p->est, p->min_depth, MAX_DEPTH);
	if (want < p->depth)
		p->depth = want; /* shrinks slowly: the estimate decays over seconds */
	if (!p->playing && p->seen && queued(p) >= p->depth) {
		p->playing = true;
		p->misses = 0;
	}
	if (p->playing) {
		/* clock drift: far more queued than wanted, skip one bundle */
		if (queued(p) > p->depth + 4) {
			struct slot *s = &p->slot[p->next % SLOTS];
			if (s->full && s->tick == p->next)
				s->full = false;
			p->next++;
			p->st.dropped_drift++;
		}
		if (p->hold) {
			/* growing: conceal one tick without advancing the timeline */
			p->hold--;
			any = render(p, NULL, NULL, p->next - 1);
			p->st.concealed += any;
			es_limiter_run(&p->lim, p->acc, out, 2 * ES_FRAME);
			return any;
		}
		uint32_t t = p->next++;
		struct slot *s = &p->slot[t % SLOTS];
		struct slot *n = &p->slot[(t + 1) % SLOTS];
		bool have = s->full && s->tick == t;
		bool have_next = n->full && n->tick == t + 1;
		if (have) {
			any = render(p, s, NULL, t);
			s->full = false;
			p->misses = 0;
			p->st.played++;
		} else {
			p->st.lost++;
			if (queued(p) > 0)
				es_jitter_est_lost(&p->est); /* a gap, not the end of the stream */
			if (s->full && (int32_t)(s->tick - t) < 0)
				s->full = false;
			if (++p->misses > END_AFTER && queued(p) == 0) {
				/* the stream ended (we hear nobody): wait for the next one */
				p->playing = false;
				p->seen = false;
				p->mix_active = false;
			} else {
				any = render(p, NULL, have_next ? n : NULL, t);
				p->st.concealed += any;
			}
		}
		/* forget voices that have not been forwarded for a while */
		for (unsigned i = 0; i < VOICES; i++)
			if (p->voice[i].speaker >= 0 && t - p->voice[i].last_tick > VOICE_IDLE)
				p->voice[i].speaker = -1;
	}
	es_limiter_run(&p->lim, p->acc, out, 2 * ES_FRAME);
	return any;
}

void es_playout_get_stats(const struct es_playout *p, struct es_playout_stats *st)
{
	*st = p->st;
	st->depth = p->depth;
	st->queued = queued(p);
}
