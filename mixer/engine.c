/* SPDX-License-Identifier: MIT */
/*
 * The tick engine: people, their uplink, and the order of work in a tick.
 *
 * A tick pops one frame per speaker and decodes it (the one decode per
 * active speaker nobody can avoid), asks plan.c who hears whom and how it is
 * delivered (forwarded packets, a shared background mix, a personal
 * stream), has stream.c render and encode each mix stream once, and emits
 * one bundle per listener who hears anyone.
 *
 * All memory is allocated by es_engine_new() and es_engine_add(); the tick
 * path itself does not allocate.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine-private.h"

/*
 * Tolerances are planned in full: test-engine measures what arrives through
 * the codec at load level 0 and finds it within them.  Lower this to keep a
 * reserve for the codec's own level and balance errors (0.9 costs about 15 %
 * more encodes in bench-office).
 */
#define MARGIN 1.0f

void es_engine_config_default(struct es_engine_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	es_acoustics_default(&cfg->ac);
	cfg->max_people = 256;
	cfg->jitter_frames = 1; /* the least; it grows with the jitter each speaker shows */
	cfg->bitrate = 48000;
	cfg->complexity = 5;
	cfg->max_streams = 0; /* auto */
	cfg->exact_m = 4.0f;
	cfg->group_db = 3.0f;
	cfg->group_deg = 30.0f;
	cfg->stage_gain = 0.5f;
	cfg->thin_bitrate = 32000;
	cfg->tick_budget_us = 10000;
	cfg->threads = 1;
}

struct es_engine *es_engine_new(const struct es_engine_config *cfg)
{
	if (!cfg || cfg->max_people == 0 || cfg->max_people > 65535 || cfg->ac.max_voices < 1 ||
	    cfg->ac.max_voices > K_MAX || cfg->max_streams > 65535 ||
	    cfg->bitrate < 6000 || cfg->bitrate > 256000 || cfg->complexity < 0 || cfg->complexity > 10 ||
	    !(cfg->group_db >= 0.0f) || !(cfg->group_deg >= 0.0f) || !(cfg->stage_gain >= 0.0f) ||
	    !(cfg->exact_m >= 0.0f) || cfg->thin_bitrate < 6000 || cfg->threads < 1 || cfg->threads > ES_ENGINE_THREADS_MAX) {
		errno = EINVAL;
		return NULL;
	}
	struct es_engine *e = calloc(1, sizeof(*e));
	if (!e)
		goto err;
	e->cfg = *cfg;
	if (e->cfg.max_streams == 0) /* auto: an office day of 2000 uses about 85 stereo, 70 mono */
		e->cfg.max_streams = cfg->max_people / 4 > 128 ? cfg->max_people / 4 : 128;
	es_decim_init(&e->decim16, 3);
	es_decim_init(&e->decim8, 6);
	e->group_ratio = powf(10.0f, MARGIN * cfg->group_db / 20.0f);
	e->drop = powf(10.0f, -cfg->ac.drop_db / 20.0f);
	e->group_rad = MARGIN * cfg->group_deg * (float)M_PI / 180.0f;
	if (e->cfg.thin_bitrate > ES_ENGINE_THIN_MAX_BPS)
		e->cfg.thin_bitrate = ES_ENGINE_THIN_MAX_BPS;
	e->people = calloc(cfg->max_people, sizeof(*e->people));
	if (!e->people)
		goto err_people;
	e->active = calloc(cfg->max_people, sizeof(*e->active));
	if (!e->active)
		goto err_active;
	e->order = calloc(cfg->max_people, sizeof(*e->order));
	e->ax = calloc(cfg->max_people, sizeof(*e->ax));
	e->ay = calloc(cfg->max_people, sizeof(*e->ay));
	e->plain = calloc(cfg->max_people, sizeof(*e->plain));
	e->views = calloc((size_t)cfg->max_people * K_MAX, sizeof(*e->views));
	e->gcands = es_gcands_new(cfg->max_people);
	e->gruns = es_gruns_new(cfg->max_people);
	e->decoding = calloc(cfg->max_people, sizeof(*e->decoding));
	e->lids = calloc(cfg->max_people, sizeof(*e->lids));
	e->scratch = calloc(cfg->threads, sizeof(*e->scratch));
	if (!e->order || !e->ax || !e->ay || !e->plain || !e->views || !e->gcands || !e->gruns || !e->decoding ||
	    !e->lids || !e->scratch)
		goto err_order;
	if (es_streams_init(e) < 0)
		goto err_streams;
	if (es_groups_init(e) < 0)
		goto err_groups;
	e->jobs = calloc(e->cfg.max_streams + e->ngroups_max, sizeof(*e->jobs));
	if (!e->jobs)
		goto err_jobs;
	e->pool = es_pool_new(cfg->threads);
	if (!e->pool)
		goto err_pool;
	return e;

err_pool:
	free(e->jobs);
err_jobs:
	es_groups_clear(e);
err_groups:
	es_streams_clear(e);
err_streams:
err_order:
	free(e->scratch);
	free(e->lids);
	free(e->decoding);
	free(e->gruns);
	free(e->gcands);
	free(e->views);
	free(e->plain);
	free(e->ay);
	free(e->ax);
	free(e->order);
	free(e->active);
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
	memset(p, 0, sizeof(*p));
}

void es_engine_free(struct es_engine *e)
{
	if (!e)
		return;
	es_pool_free(e->pool);
	free(e->jobs);
	free(e->scratch);
	free(e->lids);
	free(e->decoding);
	es_groups_clear(e);
	es_streams_clear(e);
	for (unsigned i = 0; i < e->cfg.max_people; i++)
		person_clear(&e->people[i]);
	free(e->gruns);
	free(e->gcands);
	free(e->views);
	free(e->plain);
	free(e->ay);
	free(e->ax);
	free(e->order);
	free(e->active);
	free(e->people);
	free(e);
}

static bool finite_pos(float x, float y, float f)
{
	return isfinite(x) && isfinite(y) && isfinite(f);
}

static bool present(const struct es_engine *e, unsigned id)
{
	return id < e->cfg.max_people && e->people[id].present;
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
	if (err != OPUS_OK || !p->dec) {
		memset(p, 0, sizeof(*p));
		return -ENOMEM;
	}
	es_jitter_init(&p->jb, e->cfg.jitter_frames);
	for (unsigned i = 0; i < ES_ENGINE_VOLUMES; i++)
		p->vol[i].speaker = -1;
	p->whisper_to = -1;
	p->stream = p->prev_stream = -1;
	p->room = NO_ROOM;
	p->x = x;
	p->y = y;
	p->facing = facing;
	p->present = true;
	es_place_person(e, p);
	return 0;
}

void es_engine_remove(struct es_engine *e, unsigned id)
{
	if (!present(e, id))
		return;
	struct person *p = &e->people[id];
	if (p->prev_stream >= 0 && e->streams[p->prev_stream].owner == (int)id)
		es_stream_release(e, (unsigned)p->prev_stream);
	person_clear(p);
	/* nobody keeps whispering to, or a volume for, someone who left */
	for (unsigned i = 0; i < e->cfg.max_people; i++) {
		struct person *o = &e->people[i];
		if (!o->present)
			continue;
		if (o->whisper_to == (int)id)
			o->whisper_to = -1;
		for (unsigned v = 0; v < ES_ENGINE_VOLUMES; v++)
			if (o->vol[v].speaker == (int)id)
				o->vol[v].speaker = -1;
	}
	es_streams_forget_speaker(e, id);
}

int es_engine_move(struct es_engine *e, unsigned id, float x, float y, float facing)
{
	if (!present(e, id))
		return -ENOENT;
	if (!finite_pos(x, y, facing))
		return -EINVAL;
	struct person *p = &e->people[id];
	p->x = x;
	p->y = y;
	p->facing = facing;
	es_place_person(e, p);
	return 0;
}

void es_engine_set_floor(struct es_engine *e, const struct es_floor *f)
{
	e->floor = f;
	for (unsigned i = 0; i < e->cfg.max_people; i++)
		if (e->people[i].present)
			es_place_person(e, &e->people[i]);
}

int es_engine_set_flags(struct es_engine *e, unsigned id, unsigned flags)
{
	if (!present(e, id))
		return -ENOENT;
	e->people[id].flags = flags;
	return 0;
}

int es_engine_whisper(struct es_engine *e, unsigned from, int to)
{
	if (!present(e, from) || (to >= 0 && !present(e, (unsigned)to)))
		return -ENOENT;
	if (to == (int)from)
		return -EINVAL;
	e->people[from].whisper_to = to < 0 ? -1 : to;
	return 0;
}

int es_engine_set_volume(struct es_engine *e, unsigned listener, unsigned speaker, float gain)
{
	if (!present(e, listener))
		return -ENOENT;
	if (!(gain >= 0.0f && gain <= 4.0f) || speaker >= e->cfg.max_people || speaker == listener)
		return -EINVAL;
	struct person *l = &e->people[listener];
	int free_slot = -1;
	for (unsigned v = 0; v < ES_ENGINE_VOLUMES; v++) {
		if (l->vol[v].speaker == (int)speaker) {
			if (gain == 1.0f)
				l->vol[v].speaker = -1;
			else
				l->vol[v].gain = gain;
			return 0;
		}
		if (l->vol[v].speaker < 0 && free_slot < 0)
			free_slot = (int)v;
	}
	if (gain == 1.0f)
		return 0;
	if (free_slot < 0)
		return -ENOSPC;
	l->vol[free_slot].speaker = (int)speaker;
	l->vol[free_slot].gain = gain;
	return 0;
}

void es_engine_set_load_level(struct es_engine *e, unsigned level)
{
	e->level_floor = level > ES_ENGINE_LOAD_MAX ? ES_ENGINE_LOAD_MAX : level;
}

/*
 * Adapt to the measured cost: above 60 % of the 20 ms budget step one level
 * cheaper at once (the next tick must not be late too); below 30 % for a
 * second step back, so the level does not flap at the boundary.
 */
void es_engine_report_tick_us(struct es_engine *e, unsigned us)
{
	float c = (float)us;
	e->cost_avg = e->cost_avg == 0.0f ? c : 0.8f * e->cost_avg + 0.2f * c;
	if ((c > 12000.0f || e->cost_avg > 10000.0f) && e->level_adapt < ES_ENGINE_LOAD_MAX) {
		e->level_adapt++;
		e->cost_avg = 0.0f;
		e->calm_ticks = 0;
	} else if (e->cost_avg < 6000.0f && e->level_adapt > 0) {
		if (++e->calm_ticks >= 50) {
			e->level_adapt--;
			e->calm_ticks = 0;
		}
	} else {
		e->calm_ticks = 0;
	}
}

unsigned es_engine_load_level(const struct es_engine *e)
{
	return es_level(e);
}

int es_engine_push(struct es_engine *e, unsigned id, uint32_t seq, const uint8_t *opus, size_t len, unsigned flags,
		   int32_t frac)
{
	if (!present(e, id))
		return -ENOENT;
	int r = es_jitter_push(&e->people[id].jb, seq, opus, len, flags, frac);
	if (r == 0)
		e->stats.frames_in++;
	else if (r == -EALREADY)
		e->stats.frames_late++;
	return r;
}

/*
 * Pop this tick's frame for every speaker; the decodes are listed and run
 * on the pool.  Muted and focused speakers are not decoded (heard by
 * nobody), except a focused speaker who whispers.  The jitter buffer still
 * advances for them so they resume in step.
 */
static void pop_speakers(struct es_engine *e)
{
	e->ndecoding = 0;
	for (unsigned id = 0; id < e->cfg.max_people; id++) {
		struct person *p = &e->people[id];
		if (!p->present)
			continue;
		p->active = false;
		p->pkt = NULL;
		p->dec_what = es_jitter_pop(&p->jb, &p->dec_from);
		if (p->dec_what == ES_JB_NONE)
			continue;
		if ((p->flags & ES_ENGINE_MUTED) || ((p->flags & ES_ENGINE_FOCUS) && p->whisper_to < 0))
			continue;
		e->decoding[e->ndecoding++] = id;
	}
}

/* Decode one listed speaker (any pool thread). */
static void decode_one(void *ctx, unsigned k, unsigned worker)
{
	struct es_engine *e = ctx;
	struct person *p = &e->people[e->decoding[k]];
	opus_int16 *dec16 = e->scratch[worker].dec16;
	const struct es_jb_slot *f = p->dec_from;
	int n;
	if (p->dec_what == ES_JB_FRAME)
		n = opus_decode(p->dec, f->data, (opus_int32)f->len, dec16, ES_FRAME, 0);
	else if (p->dec_what == ES_JB_FEC)
		n = opus_decode(p->dec, f->data, (opus_int32)f->len, dec16, ES_FRAME, 1);
	else
		n = opus_decode(p->dec, NULL, 0, dec16, ES_FRAME, 0);
	p->dec_ok = n == ES_FRAME; /* else a corrupt frame: skip this speaker this tick */
	if (p->dec_ok)
		for (unsigned i = 0; i < ES_FRAME; i++)
			p->pcm[i] = dec16[i] * (1.0f / 32768.0f);
}

/* The decoded speakers, in id order, for planning. */
static void collect_speakers(struct es_engine *e)
{
	e->nactive = 0;
	e->stats.decodes = e->ndecoding;
	for (unsigned k = 0; k < e->ndecoding; k++) {
		unsigned id = e->decoding[k];
		struct person *p = &e->people[id];
		if (p->dec_what == ES_JB_FEC)
			e->stats.frames_fec++;
		else if (p->dec_what == ES_JB_LOST)
			e->stats.frames_plc++;
		if (!p->dec_ok)
			continue;
		if (p->dec_what == ES_JB_FRAME) {
			p->pkt = p->dec_from->data;
			p->pkt_len = p->dec_from->len;
			p->seq = (uint16_t)p->dec_from->seq;
		}
		p->active = true;
		e->ax[e->nactive] = p->x;
		e->ay[e->nactive] = p->y;
		e->plain[e->nactive] = p->whisper_to < 0 && !p->on_stage && !(p->flags & ES_ENGINE_STAGE);
		e->active[e->nactive++] = id;
	}
	e->stats.speakers = e->nactive;
}

static void lowrate_one(void *ctx, unsigned k, unsigned worker)
{
	(void)worker;
	struct es_engine *e = ctx;
	es_speaker_lowrate(e, k, (unsigned)e->stats.ticks);
}

static void encode_one(void *ctx, unsigned k, unsigned worker)
{
	struct es_engine *e = ctx;
	unsigned j = e->jobs[k];
	if (j & JOB_GROUP)
		es_group_encode(e, j & ~JOB_GROUP, &e->scratch[worker]);
	else
		es_stream_encode(e, j, (unsigned)e->stats.ticks, &e->scratch[worker]);
}

/*
 * Render and encode every premix and mix stream of the tick on the pool;
 * each has its own encoder and render state, so they are independent.
 */
static int encode_all(struct es_engine *e)
{
	unsigned njobs = 0;
	int r = es_groups_prepare(e, &njobs);
	if (r < 0)
		return r;
	r = es_streams_prepare(e, &njobs);
	if (r < 0)
		return r;
	es_pool_run(e->pool, encode_one, e, njobs);
	struct es_engine_stats *s = &e->stats;
	for (unsigned k = 0; k < njobs; k++) {
		unsigned j = e->jobs[k];
		int len;
		if (j & JOB_GROUP) {
			len = e->groups[j & ~JOB_GROUP].len;
			s->group_encodes++;
		} else {
			const struct stream *st = &e->streams[j];
			len = st->len;
			if (st->owner < 0)
				s->streams_shared++;
			else
				s->streams_personal++;
		}
		s->encodes++;
		if (len < 0)
			return -EIO;
	}
	return 0;
}

/*
 * Build each listener's bundle.  The mix, if any, is capped at MIX_MAX, so
 * three forwarded frames fit beside it; the check below is the belt to
 * those braces and drops the faintest forwarded voice rather than exceed.
 */
static void emit_all(struct es_engine *e, es_engine_emit_fn emit, void *ud)
{
	struct es_engine_stats *s = &e->stats;
	for (unsigned lid = 0; lid < e->cfg.max_people; lid++) {
		struct person *l = &e->people[lid];
		if (!l->present)
			continue;
		struct es_engine_out out;
		memset(&out, 0, sizeof(out));
		out.listener = lid;
		size_t bytes = 0;
		if (l->stream >= 0) {
			struct stream *st = &e->streams[l->stream];
			if (st->len > 0) {
				out.mix = st->pkt;
				out.mix_len = (size_t)st->len;
				out.mix_stream = st->id;
				out.mix_voices = st->nr;
				out.mix_shared = st->owner < 0;
				out.mix_mirror = l->mirror;
				bytes = out.mix_len;
			}
		}
		for (unsigned k = 0; k < l->nfe; k++) {
			const struct fwd *f = &l->fe[k];
			const uint8_t *pkt;
			size_t len;
			uint16_t seq;
			if (f->group >= 0) {
				const struct group *g = &e->groups[f->group];
				pkt = g->pkt;
				len = (size_t)g->len;
				seq = g->seq;
			} else {
				const struct person *sp = &e->people[f->id];
				pkt = sp->pkt;
				len = sp->pkt_len;
				seq = sp->seq;
			}
			if (!pkt || len == 0 || bytes + len > ES_ENGINE_BUNDLE_MAX)
				continue; /* concealed: the client conceals too */
			out.voice[out.nvoices].speaker = f->id;
			out.voice[out.nvoices].seq = seq;
			out.voice[out.nvoices].gain = f->gain;
			out.voice[out.nvoices].azimuth = f->az;
			out.voice[out.nvoices].opus = pkt;
			out.voice[out.nvoices].len = len;
			out.nvoices++;
			bytes += len;
		}
		/* remember for stickiness next tick */
		l->nprev_fwd = l->nfe;
		for (unsigned k = 0; k < l->nfe; k++)
			l->prev_fwd[k] = l->fe[k].id;
		l->prev_stream = l->stream;
		l->prev_stream_id = l->stream >= 0 ? e->streams[l->stream].id : 0;

		if (out.nvoices == 0 && out.mix_len == 0) {
			if (l->nfe == 0)
				s->listeners_silent++;
			continue;
		}
		if (out.mix_len) {
			s->listeners_mix++;
			s->listeners_shared += out.mix_shared;
		} else {
			s->listeners_forward++;
		}
		s->forwarded += out.nvoices;
		s->bytes_out += bytes;
		emit(ud, &out);
	}
}

/*
 * The guard against a slow tick before it happens.  Adapting from measured
 * cost reacts a tick late, and the first tick after a join storm (everyone
 * at once, at level 0) could take ten times the budget.  The plan says how
 * many streams will be encoded; at the reference machine's prices per
 * encode for each level, shared by the pool's threads, step up now until
 * the estimate fits the budget.  A pool thread the kernel does not run
 * makes the tick dearer than estimated; the measured cost then steps up.
 */
static void guard(struct es_engine *e)
{
	static const unsigned us_per_encode[ES_ENGINE_LOAD_MAX + 1] = {170, 110, 60, 40};
	unsigned n = 0;
	for (unsigned i = 0; i < e->cfg.max_streams; i++)
		n += e->streams[i].used && e->streams[i].members > 0;
	for (unsigned i = 0; i < e->ngroups_max; i++)
		n += e->groups[i].used && e->groups[i].wanted;
	/* the covers stay serial (2 ms held back for planning); decodes and encodes are shared by the pool */
	unsigned t = e->cfg.threads;
	while (e->cfg.tick_budget_us && es_level(e) < ES_ENGINE_LOAD_MAX &&
	       2000 + (30 * e->nactive + n * us_per_encode[es_level(e)]) / t > e->cfg.tick_budget_us)
		e->level_adapt++;
}

int es_engine_tick(struct es_engine *e, es_engine_emit_fn emit, void *ud)
{
	struct es_engine_stats *s = &e->stats;
	s->ticks++; /* the tick being run: the pool's items read it */
	s->encodes = 0;
	s->listeners_silent = s->listeners_forward = s->listeners_mix = 0;
	s->listeners_shared = s->listeners_shed = 0;
	s->streams_shared = s->streams_personal = 0;
	s->forwarded = 0;
	s->group_encodes = 0;
	s->bytes_out = 0;
	s->load_level = es_level(e);

	pop_speakers(e);
	es_pool_run(e->pool, decode_one, e, e->ndecoding);
	collect_speakers(e);
	es_groups_begin(e);
	es_plan_listeners(e);
	es_groups_cover(e);
	es_plan_streams(e);
	guard(e);
	s->load_level = es_level(e);
	if (es_level_set(es_level(e))->rate < ES_RATE)
		es_pool_run(e->pool, lowrate_one, e, e->nactive);
	int r = encode_all(e);
	if (r < 0)
		return r;
	emit_all(e, emit, ud);
	return 0;
}

void es_engine_get_stats(const struct es_engine *e, struct es_engine_stats *st)
{
	*st = e->stats;
}
