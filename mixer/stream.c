/* SPDX-License-Identifier: MIT */
/*
 * The encoder pool and the mix streams it carries: render, limit, encode.
 *
 * Stereo encoders are 46 KB each and most people, most of the time, need
 * none (they hear nobody, or only forwarded voices), so the engine owns a
 * fixed pool allocated up front.  A stream holds its encoder for as long as
 * it has listeners; a new stream on a reused encoder starts from a reset
 * state under a new id, which tells the client to reset its decoder too.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine-private.h"
#include "render-private.h"

#define NSLOTS (K_MAX + 2)

/*
 * Encoder settings per load level.  A mix is encoded by CELT alone (see
 * setup_encoder); a stereo mix of speech, 20 ms, on the reference box:
 * 74-93 us at 48 kHz and complexity 5, 53-56 at complexity 2, 37-43 at
 * 16 kHz, 20-24 at 8 kHz.  Only mixes shed quality this way; voices that
 * are forwarded are the speakers' own frames whatever the load.
 */
static const struct level_set levels[ES_ENGINE_LOAD_MAX + 1] = {
	{48000, 10, 1.0f}, /* complexity: the configured one */
	{48000, 2, 0.85f},
	{16000, 1, 0.75f},
	{8000, 0, 0.65f},
};

const struct level_set *es_level_set(unsigned level)
{
	return &levels[level > ES_ENGINE_LOAD_MAX ? ES_ENGINE_LOAD_MAX : level];
}

/* The decimation factor of a rate below 48 kHz (1 at 48 kHz). */
static unsigned factor_of(int rate)
{
	return rate >= ES_RATE ? 1u : (unsigned)(ES_RATE / rate);
}

int es_encode_at(struct es_scratch *w, OpusEncoder *enc, int rate, struct es_limiter *lim, unsigned ch, uint8_t *pkt,
		 int cap)
{
	unsigned f = factor_of(rate), n = ES_FRAME / f;
	es_limiter_run(lim, f == 1 ? w->acc : w->lowf, w->pcm16, ch * n);
	return opus_encode(enc, w->pcm16, (int)n, pkt, cap);
}

/*
 * Under load the mixes are made at the encoder's low rate: each speaker is
 * band-limited and decimated once, here, rather than every mix it is in at
 * 48 kHz.  A speaker who was not decimated last tick at this rate starts
 * with an empty filter history.  Called for each active speaker k when the
 * level's rate is below 48 kHz.
 */
void es_speaker_lowrate(struct es_engine *e, unsigned id, unsigned tick)
{
	int rate = es_level_set(es_level(e))->rate;
	const struct es_decim *d = rate == 16000 ? &e->decim16 : &e->decim8;
	struct person *p = &e->people[id];
	if (p->lo_rate != rate || p->lo_tick + 1 != tick)
		memset(p->lo_hist, 0, sizeof(p->lo_hist));
	es_decimate(d, p->lo_hist, p->pcm, 1, p->pcm_lo);
	p->lo_rate = rate;
	p->lo_tick = tick;
}

/*
 * Mixes are CELT only (the restricted low-delay application).  SILK and
 * the hybrid mode model one talker: a stereo mix of several voices at 48
 * kbit/s through them came out 1.5-3 dB low in steady state, 4-9 dB low
 * and narrowed towards the centre for the first dozen frames of a new
 * stream (all a short-lived mix ever has), with high tones thrown to the
 * wrong side; CELT kept every voice within 1 dB and its side, for a
 * seventh of the time (a three-voice speech mix at 48 kHz and complexity
 * 5: 74-93 us against 544-611), and 4 ms less delay (lookahead 2.5 ms, not
 * 6.5).  It carries no in-band FEC: a lost mix frame is concealed.
 * Measured: docs/BENCHMARKS.md, "Mixes through the codec".
 */
static int setup_encoder(OpusEncoder *enc, int rate, unsigned ch)
{
	if (opus_encoder_init(enc, rate, (int)ch, OPUS_APPLICATION_RESTRICTED_LOWDELAY) != OPUS_OK)
		return -EIO;
	return 0;
}

int es_streams_init(struct es_engine *e)
{
	e->streams = calloc(e->cfg.max_streams, sizeof(*e->streams));
	if (!e->streams)
		return -ENOMEM;
	for (unsigned i = 0; i < e->cfg.max_streams; i++) {
		struct stream *st = &e->streams[i];
		int err;
		st->enc = opus_encoder_create(ES_RATE, 2, OPUS_APPLICATION_VOIP, &err);
		if (err != OPUS_OK || !st->enc || setup_encoder(st->enc, ES_RATE, 2) < 0)
			goto err;
		st->level = -1;
		st->rate = ES_RATE;
	}
	return 0;
err:
	es_streams_clear(e);
	return -ENOMEM;
}

void es_streams_clear(struct es_engine *e)
{
	if (!e->streams)
		return;
	for (unsigned i = 0; i < e->cfg.max_streams; i++)
		if (e->streams[i].enc)
			opus_encoder_destroy(e->streams[i].enc);
	free(e->streams);
	e->streams = NULL;
}

int es_stream_alloc(struct es_engine *e, int owner, const struct place *ref)
{
	for (unsigned i = 0; i < e->cfg.max_streams; i++) {
		struct stream *st = &e->streams[i];
		if (st->used)
			continue;
		OpusEncoder *enc = st->enc;
		if (opus_encoder_ctl(enc, OPUS_RESET_STATE) != OPUS_OK)
			return -EIO;
		int level = st->level, rate = st->rate;
		memset(st, 0, sizeof(*st));
		st->enc = enc;
		st->level = level;
		st->rate = rate;
		st->used = true;
		if (++e->next_stream_id == 0)
			++e->next_stream_id;
		st->id = e->next_stream_id;
		st->owner = owner;
		st->thin = owner >= 0 && (e->people[owner].flags & ES_ENGINE_THIN);
		st->cap = st->thin ? THIN_MAX : owner >= 0 ? e->people[owner].mix_cap : e->mix_cap;
		st->ref = *ref;
		st->len = 0;
		for (unsigned s = 0; s < NSLOTS; s++)
			st->slots[s].speaker = -1;
		es_limiter_init(&st->lim);
		return (int)i;
	}
	return -ENOSPC;
}

void es_stream_release(struct es_engine *e, unsigned i)
{
	e->streams[i].used = false;
	e->streams[i].members = 0;
	e->streams[i].len = 0;
}

void es_streams_forget_speaker(struct es_engine *e, unsigned id)
{
	for (unsigned i = 0; i < e->cfg.max_streams; i++) {
		struct stream *st = &e->streams[i];
		for (unsigned s = 0; s < NSLOTS; s++)
			if (st->slots[s].speaker == (int)id)
				st->slots[s].speaker = -1;
		for (unsigned k = 0; k < st->nset; k++)
			if (st->set[k] == id)
				st->set[k] = UINT16_MAX; /* never present: ids are < 65535 */
	}
}

static struct slot *find_slot(struct stream *st, unsigned id)
{
	for (unsigned s = 0; s < NSLOTS; s++)
		if (st->slots[s].speaker == (int)id)
			return &st->slots[s];
	return NULL;
}

/*
 * Render this tick's voices.  A voice that was in the stream last tick and
 * is not now is rendered once more towards gain 0 (the render ramps across
 * the frame), so leaving a mix is a fade, not a cut.
 */
static void render(const struct es_engine *e, struct stream *st, unsigned tick, struct es_scratch *w)
{
	unsigned f = factor_of(st->rate), n = ES_FRAME / f;
	float *acc = f == 1 ? w->acc : w->lowf;
	memset(acc, 0, 2 * n * sizeof(float));
	bool keep[NSLOTS] = {false};
	for (unsigned k = 0; k < st->nr; k++) {
		struct slot *sl = find_slot(st, st->r[k].id);
		if (sl)
			keep[sl - st->slots] = true;
	}
	for (unsigned s = 0; s < NSLOTS; s++) {
		struct slot *sl = &st->slots[s];
		if (sl->speaker < 0 || keep[s])
			continue;
		const struct person *sp = &e->people[sl->speaker];
		if (sl->last_tick + 1 == tick && sp->present && sp->active) {
			if (f == 1)
				es_render_voice(&sl->st, sp->pcm, 0.0f, sl->last_az, acc);
			else
				es_render_voice_at(&sl->st, sp->pcm_lo, n, f, 0.0f, sl->last_az, acc);
		}
		sl->speaker = -1;
	}
	for (unsigned k = 0; k < st->nr; k++) {
		const struct cand *c = &st->r[k];
		struct slot *sl = find_slot(st, c->id);
		if (!sl) {
			sl = find_slot(st, (unsigned)-1);
			if (!sl)
				continue; /* cannot happen: NSLOTS > K_MAX */
			sl->speaker = c->id;
			es_voice_state_init(&sl->st);
		}
		sl->last_tick = tick;
		sl->last_az = c->az;
		const struct person *sp = &e->people[c->id];
		if (f == 1)
			es_render_voice(&sl->st, sp->pcm, c->gain, c->az, acc);
		else
			es_render_voice_at(&sl->st, sp->pcm_lo, n, f, c->gain, c->az, acc);
	}
}

/* Will render() fade this slot's voice out this tick? */
static bool fading(const struct es_engine *e, const struct stream *st, const struct slot *sl, unsigned tick)
{
	if (sl->speaker < 0 || sl->last_tick + 1 != tick)
		return false;
	const struct person *sp = &e->people[sl->speaker];
	if (!sp->present || !sp->active)
		return false;
	for (unsigned k = 0; k < st->nr; k++)
		if (st->r[k].id == (unsigned)sl->speaker)
			return false;
	return true;
}

int es_streams_prepare(struct es_engine *e, unsigned *njobs)
{
	unsigned tick = (unsigned)e->stats.ticks;
	for (unsigned i = 0; i < e->cfg.max_streams; i++) {
		struct stream *st = &e->streams[i];
		if (!st->used || st->members == 0)
			continue;
		e->jobs[(*njobs)++] = i;
		/* what it renders, and what it fades out, must be decoded */
		for (unsigned k = 0; k < st->nr; k++)
			e->people[st->r[k].id].need = true;
		for (unsigned s = 0; s < NSLOTS; s++)
			if (fading(e, st, &st->slots[s], tick))
				e->people[st->slots[s].speaker].need = true;
	}
	return 0;
}

int es_streams_apply_level(struct es_engine *e)
{
	unsigned level = es_level(e);
	for (unsigned i = 0; i < e->cfg.max_streams; i++) {
		struct stream *st = &e->streams[i];
		if (!st->used || st->members == 0 || st->level == (int)level)
			continue;
		const struct level_set *ls = es_level_set(level);
		if (ls->rate != st->rate) {
			/* a new rate is a new stream: the client resets its decoder */
			if (setup_encoder(st->enc, ls->rate, 2) < 0)
				return -EIO;
			st->rate = ls->rate;
			for (unsigned s = 0; s < NSLOTS; s++)
				st->slots[s].speaker = -1; /* render states are per rate */
			es_limiter_init(&st->lim);
			if (++e->next_stream_id == 0)
				++e->next_stream_id;
			st->id = e->next_stream_id;
		}
		int cx = ls->complexity < e->cfg.complexity ? ls->complexity : e->cfg.complexity;
		int br = (int)((float)(st->thin ? e->cfg.thin_bitrate : e->cfg.bitrate) * ls->bitrate);
		if (opus_encoder_ctl(st->enc, OPUS_SET_COMPLEXITY(cx)) != OPUS_OK ||
		    opus_encoder_ctl(st->enc, OPUS_SET_BITRATE(br < 12000 ? 12000 : br)) != OPUS_OK)
			return -EIO;
		st->br = br < 12000 ? 12000 : br;
		st->level = (int)level;
	}
	return 0;
}

void es_stream_encode(struct es_engine *e, unsigned i, unsigned tick, struct es_scratch *w)
{
	struct stream *st = &e->streams[i];
	render(e, st, tick, w);
	/*
	 * Capped at what the plan gave it (a thin stream at 40 kbit/s, a
	 * personal one at what its listener's budget leaves), whatever the
	 * encoder's rate control does: the bundle must fit.
	 */
	if (st->owner >= 0 && !st->thin) {
		/*
		 * A personal stream carries what its listener's budget does not
		 * forward, often several near voices: it gets the bitrate its
		 * cap allows (at 48 kbit/s six voices came out 3-6 dB low; at
		 * 64 within 1.5), trimmed as the load level trims the others.
		 */
		int br = (int)((float)st->cap * 340.0f * es_level_set(es_level(e))->bitrate);
		br = br < 16000 ? 16000 : br > 128000 ? 128000 : br;
		if (br != st->br) {
			if (opus_encoder_ctl(st->enc, OPUS_SET_BITRATE(br)) != OPUS_OK) {
				st->len = -EIO;
				return;
			}
			st->br = br;
		}
	}
	st->len = es_encode_at(w, st->enc, st->rate, &st->lim, 2, st->pkt, (int)st->cap);
}
