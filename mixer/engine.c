/* SPDX-License-Identifier: MIT */
/*
 * The tick engine: people, their uplink, and the order of work in a tick.
 *
 * A tick pops one frame per speaker, asks plan.c who hears whom and how
 * it is delivered within each listener's downlink budget (the speakers' own
 * frames forwarded, up to eight; what does not fit in a shared background
 * mix or a personal stream), decodes only the voices a mix renders
 * (decode.c), has stream.c render and encode each mix stream once, and
 * emits one bundle per listener who hears anyone.
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
	cfg->tick_budget_us = 14000;
	cfg->threads = 1;
}

struct es_engine *es_engine_new(const struct es_engine_config *cfg)
{
	if (!cfg || cfg->max_people == 0 || cfg->max_people > 65535 || cfg->ac.max_voices < 1 ||
	    cfg->ac.max_voices > K_MAX || cfg->max_streams > 65535 ||
	    cfg->bitrate < 6000 || cfg->bitrate > 256000 || cfg->complexity < 0 || cfg->complexity > 10 ||
	    !(cfg->group_db >= 0.0f) || !(cfg->group_deg >= 0.0f) || !(cfg->stage_gain >= 0.0f) ||
	    !(cfg->exact_m >= 0.0f) || cfg->thin_bitrate < 6000 || cfg->threads < 1 || cfg->threads > ES_ENGINE_THREADS_MAX ||
	    (cfg->threads > 1 && !cfg->exec.run)) {
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
	/* a shared mix frame may take a quarter more than its average rate */
	e->mix_cap = (unsigned)(cfg->bitrate / 400 * 5 / 4);
	if (e->mix_cap > MIX_MAX)
		e->mix_cap = MIX_MAX;
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
	e->sweep = calloc(cfg->max_people, sizeof(*e->sweep));
	e->odd = calloc(cfg->max_people, sizeof(*e->odd));
	e->sweep_x = calloc(cfg->max_people, sizeof(*e->sweep_x));
	e->views = calloc((size_t)cfg->max_people * K_MAX, sizeof(*e->views));
	e->decoding = calloc(cfg->max_people, sizeof(*e->decoding));
	e->lids = calloc(cfg->max_people, sizeof(*e->lids));
	e->scratch = calloc(cfg->threads, sizeof(*e->scratch));
	if (!e->order || !e->ax || !e->ay || !e->plain || !e->sweep || !e->odd || !e->sweep_x || !e->views || !e->decoding ||
	    !e->lids || !e->scratch)
		goto err_order;
	if (es_streams_init(e) < 0)
		goto err_streams;
	e->jobs = calloc(e->cfg.max_streams, sizeof(*e->jobs));
	if (!e->jobs)
		goto err_jobs;
	e->exec = cfg->exec;
	return e;

err_jobs:
	es_streams_clear(e);
err_streams:
err_order:
	free(e->scratch);
	free(e->lids);
	free(e->decoding);
	free(e->views);
	free(e->sweep_x);
	free(e->odd);
	free(e->sweep);
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
	free(e->jobs);
	free(e->scratch);
	free(e->lids);
	free(e->decoding);
	es_streams_clear(e);
	for (unsigned i = 0; i < e->cfg.max_people; i++)
		person_clear(&e->people[i]);
	free(e->views);
	free(e->sweep_x);
	free(e->odd);
	free(e->sweep);
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
	p->budget_decl = p->budget = ES_ENGINE_BUDGET_DEFAULT_BPS / 400;
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

int es_engine_set_budget(struct es_engine *e, unsigned id, unsigned bps)
{
	if (!present(e, id))
		return -ENOENT;
	if (bps == 0)
		bps = ES_ENGINE_BUDGET_DEFAULT_BPS;
	if (bps < ES_ENGINE_BUDGET_MIN_BPS || bps > ES_ENGINE_BUDGET_MAX_BPS)
		return -EINVAL;
	struct person *p = &e->people[id];
	p->budget_decl = p->budget = bps / 400;
	return 0;
}

/*
 * Loss on a downlink is most often a link that cannot carry what it is
 * sent: send less, quickly, and creep back while it is clean.  A link that
 * loses for other reasons (a bad radio) costs only some voices moving into
 * the background mix while it does.
 */
int es_engine_report_loss(struct es_engine *e, unsigned id, unsigned permille)
{
	if (!present(e, id))
		return -ENOENT;
	struct person *p = &e->people[id];
	unsigned lo = ES_ENGINE_BUDGET_MIN_BPS / 400;
	if (permille > 50)
		p->budget = p->budget * 7 / 10;
	else if (permille > 20)
		p->budget = p->budget * 5 / 6;
	else if (permille < 5)
		p->budget = p->budget + p->budget / 10 + 1;
	if (p->budget < lo)
		p->budget = lo;
	if (p->budget > p->budget_decl)
		p->budget = p->budget_decl;
	return (int)(p->budget * 400);
}

unsigned es_engine_budget(const struct es_engine *e, unsigned id)
{
	return present(e, id) ? e->people[id].budget * 400 : 0;
}

void es_engine_set_load_level(struct es_engine *e, unsigned level)
{
	e->level_floor = level > ES_ENGINE_LOAD_MAX ? ES_ENGINE_LOAD_MAX : level;
}

/*
 * Adapt to the measured cost.  What sheds quality is a machine that does
 * not keep up, not one slow tick: on a shared machine a thread is
 * sometimes not scheduled for a few milliseconds, and shedding then buys
 * nothing.  So: up one level when the smoothed cost passes 70 % of the
 * 20 ms period, or when two ticks in ten overran the period; down one
 * after two seconds under half of it.  (Down was under 30 %, 6 ms: a
 * forward-only office day of 2,000 takes 4-6 ms a tick, so one burst of
 * arrivals held it a level up for a minute, 20 % of a 5-minute day.)
 */
#define OVERRUN_US 20000u
#define SLOW_US 14000.0f
#define CALM_US 10000.0f
#define CALM_TICKS 100u
void es_engine_report_tick_us(struct es_engine *e, unsigned us)
{
	float c = (float)us;
	e->cost_avg = e->cost_avg == 0.0f ? c : 0.8f * e->cost_avg + 0.2f * c;
	if (us > OVERRUN_US) {
		e->overruns = e->since_overrun <= 10 ? e->overruns + 1 : 1;
		e->since_overrun = 0;
	} else if (e->since_overrun <= 10) {
		e->since_overrun++;
	}
	bool slow = e->cost_avg > SLOW_US || (e->overruns >= 2 && e->since_overrun <= 10);
	if (slow && e->level_adapt < ES_ENGINE_LOAD_MAX) {
		e->level_adapt++;
		e->stats.steps[ES_ENGINE_STEP_MEASURED]++;
		e->cost_avg = 0.0f;
		e->overruns = 0;
		e->calm_ticks = 0;
	} else if (e->cost_avg < CALM_US && e->level_adapt > 0) {
		if (++e->calm_ticks >= CALM_TICKS) {
			e->level_adapt--;
			e->stats.steps[ES_ENGINE_STEP_CALM]++;
			e->calm_ticks = 0;
		}
	} else {
		e->calm_ticks = 0;
	}
}

const char *es_engine_level_name(unsigned level)
{
	static const char *const names[ES_ENGINE_LOAD_MAX + 1] = {
		"full quality",
		"mixes at complexity 2",
		"mixes at 16 kHz",
		"mixes at 8 kHz, at most 4 voices each",
	};
	return names[level > ES_ENGINE_LOAD_MAX ? ES_ENGINE_LOAD_MAX : level];
}

unsigned es_engine_load_level(const struct es_engine *e)
{
	return es_level(e);
}

/*
 * Does a mono Opus packet of one 20 ms frame carry in-band FEC (LBRR) for
 * the frame before it?  In SILK and hybrid modes the range-coded payload
 * starts with the frame's voice-activity bit and then the LBRR bit, each
 * coded at probability 1/2: the second bit of the byte after the TOC
 * (what opus_packet_has_lbrr() reads in libopus 1.5).  CELT-only packets
 * and packets of several frames are not judged: false.
 */
static bool has_lbrr(const uint8_t *p, size_t len)
{
	return len >= 2 && (p[0] >> 3) < 16 && (p[0] & 3) == 0 && !(p[0] & 4) && (p[1] >> 6) & 1;
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
 * Pop this tick's frame for every speaker.  Muted and focused speakers are
 * heard by nobody (except a focused speaker who whispers) and are not
 * active; their jitter buffer still advances so they resume in step.
 * Nothing is decoded here: decode on demand, after the plan.
 */
static void pop_speakers(struct es_engine *e)
{
	struct es_engine_stats *s = &e->stats;
	e->nactive = 0;
	for (unsigned id = 0; id < e->cfg.max_people; id++) {
		struct person *p = &e->people[id];
		if (!p->present)
			continue;
		p->active = false;
		p->need = false;
		p->pkt = NULL;
		p->pkt_len = 0;
		const struct es_jb_slot *f;
		p->what = es_jitter_pop(&p->jb, &f);
		if (p->what == ES_JB_NONE || (p->flags & ES_ENGINE_MUTED) ||
		    ((p->flags & ES_ENGINE_FOCUS) && p->whisper_to < 0)) {
			p->npast = 0; /* the spurt ended: a decoder starts afresh with the next */
			continue;
		}
		if (f) {
			p->pkt = f->data;
			p->pkt_len = f->len;
			/* a FEC frame is the next one; the seq is this tick's */
			p->seq = (uint16_t)(p->what == ES_JB_FRAME ? f->seq : f->seq - 1);
		} else {
			p->seq++;
		}
		if (p->what == ES_JB_FEC && has_lbrr(p->pkt, p->pkt_len))
			s->frames_fec++;
		else if (p->what == ES_JB_LOST || p->what == ES_JB_FEC)
			s->frames_plc++; /* decoding FEC from a frame without it conceals */
		p->cost = (unsigned)p->pkt_len + ES_ENGINE_VOICE_OVERHEAD;
		p->cost_peak = fmaxf((float)p->cost, 0.99f * p->cost_peak);
		p->plan_cost = (unsigned)ceilf(p->cost_peak);
		p->active = true;
		e->ax[e->nactive] = p->x;
		e->ay[e->nactive] = p->y;
		e->plain[e->nactive] = p->whisper_to < 0 && !p->on_stage && !(p->flags & ES_ENGINE_STAGE);
		e->active[e->nactive++] = id;
	}
	s->speakers = e->nactive;
}

/* The voices some mix renders this tick (stream.c marked them): decode those only. */
static void list_decodes(struct es_engine *e)
{
	e->ndecoding = 0;
	for (unsigned k = 0; k < e->nactive; k++)
		if (e->people[e->active[k]].need)
			e->decoding[e->ndecoding++] = e->active[k];
}

static void decode_one(void *ctx, unsigned k, unsigned worker)
{
	struct es_engine *e = ctx;
	es_decode_speaker(e, e->decoding[k], (unsigned)e->stats.ticks, &e->scratch[worker]);
}

static void lowrate_one(void *ctx, unsigned k, unsigned worker)
{
	(void)worker;
	struct es_engine *e = ctx;
	es_speaker_lowrate(e, e->decoding[k], (unsigned)e->stats.ticks);
}

static void encode_one(void *ctx, unsigned k, unsigned worker)
{
	struct es_engine *e = ctx;
	es_stream_encode(e, e->jobs[k], (unsigned)e->stats.ticks, &e->scratch[worker]);
}

/*
 * Render and encode every mix stream of the tick on the pool; each has its
 * own encoder and render state, so they are independent.
 */
static void encode_all(struct es_engine *e, unsigned njobs)
{
	es_engine_run(e, encode_one, e, njobs);
}

static int encode_done(struct es_engine *e, unsigned njobs)
{
	struct es_engine_stats *s = &e->stats;
	for (unsigned k = 0; k < njobs; k++) {
		const struct stream *st = &e->streams[e->jobs[k]];
		if (st->owner < 0)
			s->streams_shared++;
		else
			s->streams_personal++;
		s->encodes++;
		if (st->len < 0)
			return -EIO;
	}
	return 0;
}

/*
 * Build each listener's bundle.  The plan kept it within the budget; the
 * check here is the belt to those braces (a mix frame the encoder made
 * larger than planned cannot happen, its cap is the plan's) and drops the
 * faintest forwarded voice rather than exceed.
 */
static void emit_all(struct es_engine *e, es_engine_emit_fn emit, void *ud)
{
	struct es_engine_stats *s = &e->stats;
	for (unsigned lid = 0; lid < e->cfg.max_people; lid++) {
		struct person *l = &e->people[lid];
		if (!l->present || (l->flags & ES_ENGINE_DEAF))
			continue;
		struct es_engine_out out;
		memset(&out, 0, sizeof(out));
		out.listener = lid;
		out.budget = l->budget;
		size_t bytes = ES_ENGINE_BUNDLE_OVERHEAD;
		if (l->stream >= 0) {
			struct stream *st = &e->streams[l->stream];
			if (st->len > 0) {
				out.mix = st->pkt;
				out.mix_len = (size_t)st->len;
				out.mix_stream = st->id;
				out.mix_voices = st->nr;
				out.mix_shared = st->owner < 0;
				out.mix_mirror = l->mirror;
				bytes += out.mix_len;
			}
		}
		for (unsigned k = 0; k < l->nfe; k++) {
			const struct fwd *f = &l->fe[k];
			const struct person *sp = &e->people[f->id];
			if (!sp->active || bytes + sp->cost > l->budget)
				continue;
			out.voice[out.nvoices].speaker = f->id;
			out.voice[out.nvoices].seq = sp->seq;
			out.voice[out.nvoices].flags = sp->what == ES_JB_FEC ? ES_ENGINE_VOICE_FEC : 0;
			out.voice[out.nvoices].gain = f->gain;
			out.voice[out.nvoices].azimuth = f->az;
			out.voice[out.nvoices].opus = sp->pkt;
			out.voice[out.nvoices].len = sp->pkt ? sp->pkt_len : 0;
			out.nvoices++;
			bytes += sp->cost;
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
		out.bytes = bytes;
		s->forwarded += out.nvoices;
		s->bytes_out += bytes;
		if (bytes > s->bytes_max)
			s->bytes_max = (unsigned)bytes;
		emit(ud, &out);
	}
}

/*
 * The guard against a slow tick before it happens.  Adapting from measured
 * cost reacts a tick late, and the first tick after a join storm (everyone
 * at once, at level 0) could take ten times the budget.  The plan says how
 * many voices a mix needs decoded and how many streams will be encoded; at
 * the reference machine's prices for each level, shared by the pool's
 * threads, plus what planning and emitting cost per listener, step up now
 * until the estimate fits the budget.  A pool thread the kernel does not
 * run makes the tick dearer than estimated; the measured cost then steps
 * up.
 */
static unsigned estimate_us(const struct es_engine *e, unsigned nenc, unsigned nlisteners)
{
	/* a CELT stereo mix at each level's settings (stream.c), with a margin */
	static const unsigned us_per_encode[ES_ENGINE_LOAD_MAX + 1] = {100, 65, 45, 30};
	unsigned t = e->cfg.threads;
	/* a decode ~30 us (a warm-up doubles a few); a listener's plan and bundle ~1 us on the tick thread */
	return 500 + nlisteners + (30 * e->ndecoding + nenc * us_per_encode[es_level(e)]) / t;
}

static void guard(struct es_engine *e, unsigned nenc, unsigned nlisteners)
{
	unsigned est = estimate_us(e, nenc, nlisteners);
	while (e->cfg.tick_budget_us && es_level(e) < ES_ENGINE_LOAD_MAX && est > e->cfg.tick_budget_us) {
		e->level_adapt++;
		e->stats.steps[ES_ENGINE_STEP_ESTIMATE]++;
		est = estimate_us(e, nenc, nlisteners);
	}
	e->stats.estimate_us = est;
}

int es_engine_tick(struct es_engine *e, es_engine_emit_fn emit, void *ud)
{
	struct es_engine_stats *s = &e->stats;
	s->ticks++; /* the tick being run: the pool's items read it */
	s->encodes = s->decodes = 0;
	s->listeners_silent = s->listeners_forward = s->listeners_mix = 0;
	s->listeners_shared = s->listeners_shed = s->listeners_budget = 0;
	s->streams_shared = s->streams_personal = 0;
	s->forwarded = 0;
	s->bytes_out = 0;
	s->bytes_max = 0;
	s->load_level = es_level(e);

	pop_speakers(e);
	unsigned nlisteners = es_plan_listeners(e);
	es_plan_streams(e);
	unsigned njobs = 0;
	int r = es_streams_prepare(e, &njobs); /* marks the voices the mixes need */
	if (r < 0)
		return r;
	list_decodes(e);
	guard(e, njobs, nlisteners);
	s->load_level = es_level(e);
	r = es_streams_apply_level(e);
	if (r < 0)
		return r;
	es_engine_run(e, decode_one, e, e->ndecoding);
	unsigned warm = 0;
	for (unsigned k = 0; k < e->ndecoding; k++)
		warm += e->people[e->decoding[k]].warm;
	s->warmups += warm;
	s->decodes = e->ndecoding + warm;
	if (es_level_set(es_level(e))->rate < ES_RATE)
		es_engine_run(e, lowrate_one, e, e->ndecoding);
	encode_all(e, njobs);
	r = encode_done(e, njobs);
	if (r < 0)
		return r;
	emit_all(e, emit, ud);
	/* what each speaker's jitter buffer gave, for a decoder that catches up later */
	for (unsigned k = 0; k < e->nactive; k++)
		es_decode_remember(&e->people[e->active[k]]);
	return 0;
}

void es_engine_get_stats(const struct es_engine *e, struct es_engine_stats *st)
{
	*st = e->stats;
}
