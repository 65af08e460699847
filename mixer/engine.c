/* SPDX-License-Identifier: MIT */
/*
 * The tick engine.  Per tick: one jitter-buffer pop and decode per active
 * speaker, then for every listener the set of audible voices, and for each
 * listener that hears anyone one render and one encode.
 *
 * All memory is allocated by es_engine_new() and es_engine_add(); the tick
 * path itself does not allocate.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <opus.h>

#include "earshot-mixer.h"
#include "jitter.h"

#define VOICE_SLOTS 8 /* render states kept per listener (>= max_voices) */
#define MIX_MAX 1275

struct slot {
	int speaker; /* -1: free */
	unsigned last_tick;
	struct es_voice_state st;
};

struct person {
	bool present;
	float x, y, facing;
	unsigned flags;
	/* as a speaker */
	struct es_jitter jb;
	OpusDecoder *dec;
	bool active; /* has a frame (or concealment) this tick */
	float pcm[ES_FRAME];
	/* as a listener */
	OpusEncoder *enc;
	struct slot slots[VOICE_SLOTS];
	struct es_limiter lim;
	uint8_t mix[MIX_MAX];
};

struct es_engine {
	struct es_engine_config cfg;
	struct person *people;
	unsigned *active; /* ids of active speakers this tick */
	unsigned nactive;
	struct es_engine_stats stats;
	float acc[2 * ES_FRAME];
	int16_t pcm16[2 * ES_FRAME];
	opus_int16 dec16[ES_FRAME];
};

void es_engine_config_default(struct es_engine_config *cfg)
{
	es_acoustics_default(&cfg->ac);
	cfg->max_people = 256;
	cfg->jitter_frames = 2;
	cfg->bitrate = 32000;
	cfg->complexity = 5;
}

struct es_engine *es_engine_new(const struct es_engine_config *cfg)
{
	if (!cfg || cfg->max_people == 0 || cfg->max_people > 65535 || cfg->ac.max_voices == 0 ||
	    cfg->ac.max_voices > VOICE_SLOTS) {
		errno = EINVAL;
		return NULL;
	}
	struct es_engine *e = calloc(1, sizeof(*e));
	if (!e)
		goto err;
	e->cfg = *cfg;
	e->people = calloc(cfg->max_people, sizeof(*e->people));
	if (!e->people)
		goto err_people;
	e->active = calloc(cfg->max_people, sizeof(*e->active));
	if (!e->active)
		goto err_active;
	return e;

err_active:
	free(e->people);
err_people:
	free(e);
err:
	errno = ENOMEM;
	return NULL;
}

static void person_clear(struct person *p)
{
	if (p->dec)
		opus_decoder_destroy(p->dec);
	if (p->enc)
		opus_encoder_destroy(p->enc);
	memset(p, 0, sizeof(*p));
}

void es_engine_free(struct es_engine *e)
{
	if (!e)
		return;
	for (unsigned i = 0; i < e->cfg.max_people; i++)
		person_clear(&e->people[i]);
	free(e->active);
	free(e->people);
	free(e);
}

static bool finite_pos(float x, float y, float f)
{
	return isfinite(x) && isfinite(y) && isfinite(f);
}

int es_engine_add(struct es_engine *e, unsigned id, float x, float y, float facing)
{
	if (id >= e->cfg.max_people || !finite_pos(x, y, facing))
		return -EINVAL;
	struct person *p = &e->people[id];
	if (p->present)
		return -EEXIST;
	int err;
	memset(p, 0, sizeof(*p));
	p->dec = opus_decoder_create(ES_RATE, 1, &err);
	if (err != OPUS_OK || !p->dec)
		goto err_dec;
	p->enc = opus_encoder_create(ES_RATE, 2, OPUS_APPLICATION_VOIP, &err);
	if (err != OPUS_OK || !p->enc)
		goto err_enc;
	if (opus_encoder_ctl(p->enc, OPUS_SET_BITRATE(e->cfg.bitrate)) != OPUS_OK ||
	    opus_encoder_ctl(p->enc, OPUS_SET_COMPLEXITY(e->cfg.complexity)) != OPUS_OK ||
	    opus_encoder_ctl(p->enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE)) != OPUS_OK ||
	    opus_encoder_ctl(p->enc, OPUS_SET_INBAND_FEC(1)) != OPUS_OK ||
	    opus_encoder_ctl(p->enc, OPUS_SET_PACKET_LOSS_PERC(5)) != OPUS_OK)
		goto err_ctl;
	es_jitter_init(&p->jb, e->cfg.jitter_frames);
	for (unsigned i = 0; i < VOICE_SLOTS; i++)
		p->slots[i].speaker = -1;
	es_limiter_init(&p->lim);
	p->x = x;
	p->y = y;
	p->facing = facing;
	p->present = true;
	return 0;

err_ctl:
	opus_encoder_destroy(p->enc);
err_enc:
	opus_decoder_destroy(p->dec);
err_dec:
	memset(p, 0, sizeof(*p));
	return -ENOMEM;
}

void es_engine_remove(struct es_engine *e, unsigned id)
{
	if (id >= e->cfg.max_people || !e->people[id].present)
		return;
	person_clear(&e->people[id]);
	/* forget render state others kept for this voice */
	for (unsigned i = 0; i < e->cfg.max_people; i++) {
		struct person *l = &e->people[i];
		if (!l->present)
			continue;
		for (unsigned s = 0; s < VOICE_SLOTS; s++)
			if (l->slots[s].speaker == (int)id)
				l->slots[s].speaker = -1;
	}
}

int es_engine_move(struct es_engine *e, unsigned id, float x, float y, float facing)
{
	if (id >= e->cfg.max_people || !e->people[id].present)
		return -ENOENT;
	if (!finite_pos(x, y, facing))
		return -EINVAL;
	struct person *p = &e->people[id];
	p->x = x;
	p->y = y;
	p->facing = facing;
	return 0;
}

int es_engine_set_flags(struct es_engine *e, unsigned id, unsigned flags)
{
	if (id >= e->cfg.max_people || !e->people[id].present)
		return -ENOENT;
	e->people[id].flags = flags;
	return 0;
}

int es_engine_push(struct es_engine *e, unsigned id, uint32_t seq, const uint8_t *opus, size_t len)
{
	if (id >= e->cfg.max_people || !e->people[id].present)
		return -ENOENT;
	int r = es_jitter_push(&e->people[id].jb, seq, opus, len);
	if (r == 0)
		e->stats.frames_in++;
	else if (r == -EALREADY)
		e->stats.frames_late++;
	return r;
}

/* Decode this tick's frame for every speaker with something to play. */
static int decode_speakers(struct es_engine *e)
{
	e->nactive = 0;
	e->stats.decodes = 0;
	for (unsigned id = 0; id < e->cfg.max_people; id++) {
		struct person *p = &e->people[id];
		if (!p->present)
			continue;
		p->active = false;
		const struct es_jb_slot *f;
		enum es_jb_result r = es_jitter_pop(&p->jb, &f);
		if (r == ES_JB_NONE)
			continue;
		if (p->flags & (ES_ENGINE_MUTED | ES_ENGINE_FOCUS))
			continue; /* muted or in focus: heard by nobody */
		int n;
		if (r == ES_JB_FRAME)
			n = opus_decode(p->dec, f->data, f->len, e->dec16, ES_FRAME, 0);
		else if (r == ES_JB_FEC) {
			n = opus_decode(p->dec, f->data, f->len, e->dec16, ES_FRAME, 1);
			e->stats.frames_fec++;
		} else {
			n = opus_decode(p->dec, NULL, 0, e->dec16, ES_FRAME, 0);
			e->stats.frames_plc++;
		}
		e->stats.decodes++;
		if (n != ES_FRAME)
			continue; /* a corrupt frame: skip this speaker this tick */
		for (unsigned i = 0; i < ES_FRAME; i++)
			p->pcm[i] = e->dec16[i] * (1.0f / 32768.0f);
		p->active = true;
		e->active[e->nactive++] = id;
	}
	e->stats.speakers = e->nactive;
	return 0;
}

struct cand {
	unsigned id;
	float gain;
	float azimuth;
};

static struct slot *slot_for(struct person *l, unsigned speaker, unsigned tick)
{
	struct slot *free_slot = NULL, *oldest = &l->slots[0];
	for (unsigned s = 0; s < VOICE_SLOTS; s++) {
		struct slot *sl = &l->slots[s];
		if (sl->speaker == (int)speaker)
			return sl;
		if (sl->speaker < 0 && !free_slot)
			free_slot = sl;
		if (sl->last_tick < oldest->last_tick)
			oldest = sl;
	}
	struct slot *sl = free_slot ? free_slot : oldest;
	sl->speaker = (int)speaker;
	es_voice_state_init(&sl->st);
	return sl;
}

int es_engine_tick(struct es_engine *e, es_engine_emit_fn emit, void *ud)
{
	int r = decode_speakers(e);
	if (r < 0)
		return r;
	unsigned tick = (unsigned)++e->stats.ticks;
	const struct es_acoustics *ac = &e->cfg.ac;
	e->stats.encodes = 0;
	e->stats.listeners_silent = e->stats.listeners_forward = e->stats.listeners_mix = 0;

	for (unsigned lid = 0; lid < e->cfg.max_people; lid++) {
		struct person *l = &e->people[lid];
		if (!l->present)
			continue;
		struct cand c[VOICE_SLOTS];
		unsigned nc = 0;
		for (unsigned k = 0; k < e->nactive; k++) {
			unsigned sid = e->active[k];
			if (sid == lid)
				continue; /* nobody hears themselves */
			struct person *s = &e->people[sid];
			if (l->flags & ES_ENGINE_FOCUS)
				continue;
			float d = hypotf(s->x - l->x, s->y - l->y);
			float g = es_distance_gain(ac, d);
			if (g <= 0.0f)
				continue;
			struct cand cd = {sid, g, es_azimuth(l->x, l->y, l->facing, s->x, s->y)};
			/* keep the K loudest: insertion into a short sorted list */
			unsigned pos = nc < ac->max_voices ? nc++ : nc;
			while (pos > 0 && c[pos - 1].gain < cd.gain) {
				if (pos < ac->max_voices)
					c[pos] = c[pos - 1];
				pos--;
			}
			if (pos < ac->max_voices)
				c[pos] = cd;
		}
		/* drop voices far below the loudest (inaudible under it) */
		float floor_gain = nc ? c[0].gain * powf(10.0f, -ac->drop_db / 20.0f) : 0.0f;
		while (nc > 1 && c[nc - 1].gain < floor_gain)
			nc--;
		if (nc == 0) {
			e->stats.listeners_silent++;
			continue;
		}
		memset(e->acc, 0, sizeof(e->acc));
		for (unsigned k = 0; k < nc; k++) {
			struct slot *sl = slot_for(l, c[k].id, tick);
			sl->last_tick = tick;
			es_render_voice(&sl->st, e->people[c[k].id].pcm, c[k].gain, c[k].azimuth, e->acc);
		}
		es_limiter_run(&l->lim, e->acc, e->pcm16, 2 * ES_FRAME);
		int n = opus_encode(l->enc, e->pcm16, ES_FRAME, l->mix, MIX_MAX);
		e->stats.encodes++;
		if (n < 0)
			return -EIO;
		e->stats.listeners_mix++;
		struct es_engine_out out = {.listener = lid, .nvoices = 0, .mix = l->mix, .mix_len = (size_t)n};
		emit(ud, &out);
	}
	return 0;
}

void es_engine_get_stats(const struct es_engine *e, struct es_engine_stats *st)
{
	*st = e->stats;
}
