/* SPDX-License-Identifier: MIT */
/*
 * Who hears whom, and how it is delivered.
 *
 * For every listener, every tick: the audible voices with their gain and
 * direction (distance, walls and doors, stage, whisper, focus, personal
 * volume), the K loudest of them minus those 20 dB under the loudest, and a
 * split of that set into
 *   - the voices forwarded as the speakers' own frames, which the client
 *     renders at this listener's gain and direction: all of them, when
 *     their frames fit the listener's downlink budget (the usual case: a
 *     voice is 60 to 120 bytes a tick, the default budget of 320 kbit/s is
 *     800 on the link);
 *   - when they do not fit, the exact ones (near, or whispered) first,
 *     then the loudest, with a little preference for what was forwarded
 *     last tick so voices do not flap between frame and mix, as many as
 *     fit beside a background mix; the faintest rest goes into the mix.
 *     The background is shared by every listener for whom each of its
 *     voices is within group_db and group_deg of what they would hear
 *     exactly, so one render and one encode serve a group; a mix of one
 *     voice is placed at the centre of its listeners by a greedy cover.
 *     Directions are compared whole, not folded onto left and right: the
 *     head model makes a voice behind duller than one ahead, so a mix made
 *     where a voice is behind cannot serve a listener who has it ahead.
 *     A mix heard with left and right swapped (for those facing the other
 *     way, where the client can) turns a direction az into -az, which
 *     keeps ahead ahead and behind behind: it serves a listener only where
 *     -az is within group_deg of the listener's own direction.  Only when that cannot hold (an exact voice that does not
 *     fit, or a thin link) does a listener get a personal stream.
 *
 * Shared mixes are sticky: a listener stays on last tick's stream while it
 * still fits, so its client decodes one continuous Opus stream.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine-private.h"

static float personal_volume(const struct person *l, unsigned sid)
{
	for (unsigned v = 0; v < ES_ENGINE_VOLUMES; v++)
		if (l->vol[v].speaker == (int)sid)
			return l->vol[v].gain;
	return 1.0f;
}

void es_place_person(struct es_engine *e, struct person *p)
{
	p->room = NO_ROOM;
	p->on_stage = false;
	if (!e->floor)
		return;
	int r = es_floor_room_at(e->floor, p->x, p->y);
	if (r < 0)
		return;
	p->room = r;
	p->on_stage = es_floor_room_kind(e->floor, (unsigned)r) == ES_ROOM_STAGE;
}

/* A room with no open door (or none at all): nothing gets in or out. */
static bool room_closed(const struct es_floor *f, int room)
{
	return room >= 0 && !es_floor_room_open_door(f, (unsigned)room);
}

/* Is there a closed room between the two?  Then nothing passes, whatever else applies. */
static bool isolated(const struct es_engine *e, int room_a, int room_b)
{
	return e->floor && room_a != room_b && (room_closed(e->floor, room_a) || room_closed(e->floor, room_b));
}

/*
 * Walls and doors between a place and a speaker: a gain factor (exactly 0
 * through a closed door), where the sound appears to come from (the door it
 * comes through) and the length of its path.  Without a floor plan sound
 * travels freely.
 */
static float path_factor(const struct es_engine *e, const struct place *p, const struct person *s, float *ax, float *ay,
			 float *len)
{
	if (!e->floor) {
		*ax = s->x;
		*ay = s->y;
		return 1.0f; /* *len: the straight distance the caller gave */
	}
	return es_floor_path(e->floor, s->x, s->y, p->x, p->y, ax, ay, len);
}

/*
 * Voice sid as heard at p (by listener, or at a shared mix's place when
 * listener < 0): its gain and whether it is exact in c, and in (*sx, *sy)
 * the point it is heard from (the speaker, a door it comes through, the
 * stage), for its direction.  false: not heard there at all.
 */
static bool voice_gain(const struct es_engine *e, const struct place *p, int listener, unsigned sid, struct cand *c,
		       float *sx, float *sy)
{
	const struct person *s = &e->people[sid];
	const struct person *l = listener >= 0 ? &e->people[listener] : NULL;
	bool stage = s->on_stage || (s->flags & ES_ENGINE_STAGE);
	const struct es_acoustics *ac = &e->cfg.ac;
	float dx = s->x - p->x, dy = s->y - p->y;
	float d2 = dx * dx + dy * dy;
	float ax, ay, g;

	if (s->whisper_to >= 0) {
		/* a whisper reaches its one listener at full level, nobody else */
		if (listener != s->whisper_to)
			return false;
		if (isolated(e, p->room, s->room))
			return false; /* ... but not through a closed door */
		c->id = (uint16_t)sid;
		c->exact = true;
		c->gain = personal_volume(l, sid);
		*sx = s->x;
		*sy = s->y;
		return c->gain > 0.0f;
	}
	bool focus = l && (l->flags & ES_ENGINE_FOCUS);
	if (focus && !stage)
		return false;
	bool in_range = d2 < ac->range_m * ac->range_m;
	if (!in_range && !stage)
		return false;
	float d = sqrtf(d2), len = d;
	float f = in_range && !focus ? path_factor(e, p, s, &ax, &ay, &len) : 0.0f;
	g = f > 0.0f ? es_distance_gain(ac, len) * f : 0.0f;
	if (stage && g < e->cfg.stage_gain && !isolated(e, p->room, s->room)) {
		/* the stage is heard floor-wide at a fixed level, from the stage */
		g = e->cfg.stage_gain;
		ax = s->x;
		ay = s->y;
	}
	if (l)
		g *= personal_volume(l, sid);
	if (!(g > 0.0f))
		return false; /* out of range, behind a wall, or a closed door: exactly nothing */
	c->id = (uint16_t)sid;
	c->exact = d < e->cfg.exact_m;
	c->gain = g;
	*sx = ax;
	*sy = ay;
	return true;
}

bool es_voice_at(const struct es_engine *e, const struct place *p, int listener, unsigned sid, struct cand *c)
{
	float sx, sy;
	if (!voice_gain(e, p, listener, sid, c, &sx, &sy))
		return false;
	c->az = es_azimuth(p->x, p->y, p->facing, sx, sy);
	return true;
}

void es_cand_derive(const struct es_engine *e, const struct place *p, struct cand *c, bool az)
{
	(void)e;
	c->lg = logf(c->gain);
	if (az)
		c->az = es_azimuth(p->x, p->y, p->facing, c->sx, c->sy);
}

float es_angle_diff(float a, float b)
{
	float d = a - b;
	/* both in [-pi, pi] (or a centre a hair outside): one turn at most */
	if (d > (float)M_PI)
		d -= 2.0f * (float)M_PI;
	else if (d < -(float)M_PI)
		d += 2.0f * (float)M_PI;
	return d;
}

/* An angle brought back into [-pi, pi]. */
static float wrap_angle(float a)
{
	return es_angle_diff(a, 0.0f);
}

/* Does a rank before b?  Louder first; equal gains by speaker id, so the order voices are looked at in does not matter. */
static bool louder(const struct cand *a, const struct cand *b)
{
	return a->gain > b->gain || (a->gain == b->gain && a->id < b->id);
}

static void insert_cand(struct person *l, const struct cand *c)
{
	unsigned pos = l->ncand < CAND_MAX ? l->ncand++ : CAND_MAX;
	while (pos > 0 && louder(c, &l->cand[pos - 1])) {
		if (pos < CAND_MAX)
			l->cand[pos] = l->cand[pos - 1];
		pos--;
	}
	if (pos < CAND_MAX)
		l->cand[pos] = *c;
}

static bool was_forwarded(const struct person *l, unsigned id)
{
	for (unsigned k = 0; k < l->nprev_fwd; k++)
		if (l->prev_fwd[k] == id)
			return true;
	return false;
}

/* Bytes the listener's bundle spends on forwarding voice c, as planned (never less than this tick's). */
static unsigned cost_of(const struct es_engine *e, const struct cand *c)
{
	return e->people[c->id].plan_cost;
}

/*
 * More than the budget carries: pick the forwarded voices among
 * cand[0..nm-1] so that they fit beside a background mix; the rest go to
 * the mix.  An exact voice that does not fit makes the mix personal: it
 * is then rendered for this listener alone, exactly, in what is left.
 */
static void split(struct es_engine *e, struct person *l)
{
	float score[K_MAX];
	for (unsigned i = 0; i < l->nm; i++) {
		const struct cand *c = &l->cand[i];
		/* exact voices first; 1.5 dB of loyalty to last tick's choice */
		score[i] = c->gain * (was_forwarded(l, c->id) ? 1.19f : 1.0f) + (c->exact ? 1000.0f : 0.0f);
	}
	bool taken[K_MAX] = {false};
	unsigned room = l->space > e->mix_cap ? l->space - e->mix_cap : 0, used = 0;
	for (unsigned k = 0; k < l->nm && l->nf < FWD_MAX; k++) {
		int best = -1;
		for (unsigned i = 0; i < l->nm; i++)
			if (!taken[i] && (best < 0 || score[i] > score[best]))
				best = (int)i;
		unsigned c = cost_of(e, &l->cand[best]);
		if (used + c > room)
			break; /* the faintest from here on go to the mix */
		taken[best] = true;
		used += c;
		l->f[l->nf++] = (uint8_t)best;
	}
	bool exact_left = false;
	for (unsigned i = 0; i < l->nm; i++)
		if (!taken[i]) {
			l->r[l->nr++] = (uint8_t)i;
			exact_left |= l->cand[i].exact;
		}
	l->personal = exact_left;
	l->mix_cap = l->space - used; /* a personal stream takes what the forwarded voices leave */
	if (l->mix_cap > MIX_MAX)
		l->mix_cap = MIX_MAX;
}

/* What plan_one() gathers the voices with: the listener, where it is, and how far a voice may still count. */
struct gather {
	struct place p;
	unsigned lid;
	float maxvol; /* the listener's largest personal volume, at least 1 */
	float fade_g; /* open-space gain where the fade begins */
	float cut2;   /* a plain voice farther than this (squared) cannot be among the kept */
};

/*
 * Look at active speaker j for listener l.  A plain voice (no whisper, no
 * stage) is heard at most at its open-space level for the straight
 * distance (walls and doors only take away) times the listener's largest
 * personal volume.  Once CAND_MAX voices are kept, one that cannot beat the
 * faintest of them is dropped on its squared distance alone, before any
 * square root, floor path or direction; g->cut2 shrinks as louder voices
 * come in.  Out of earshot is the same test with the range.
 */
static void consider(const struct es_engine *e, struct person *l, struct gather *g, unsigned j)
{
	const struct es_acoustics *ac = &e->cfg.ac;
	float dx = e->ax[j] - l->x, dy = e->ay[j] - l->y;
	if (e->plain[j] && dx * dx + dy * dy > g->cut2)
		return;
	unsigned sid = e->active[j];
	struct cand c;
	if (sid == g->lid || !voice_gain(e, &g->p, (int)g->lid, sid, &c, &c.sx, &c.sy))
		return;
	if (l->ncand == CAND_MAX && !louder(&c, &l->cand[CAND_MAX - 1]))
		return;
	insert_cand(l, &c);
	if (l->ncand == CAND_MAX) {
		/* where a plain voice's best is the faintest kept: 1/d between full_m and the fade (a hair beyond: ties count) */
		float w = l->cand[CAND_MAX - 1].gain / g->maxvol;
		float d = w >= 1.0f ? ac->full_m : w > g->fade_g ? ac->full_m / w : ac->range_m;
		g->cut2 = fminf(d * d * 1.001f, ac->range_m * ac->range_m);
	}
}

/*
 * One listener's plan (any pool thread): the voices it hears, loudest first,
 * how many must be heard, and which of those are forwarded.  It reads the
 * speakers and the floor and writes only this listener.
 *
 * The voices are gathered outwards from the listener along x (the plain
 * speakers sorted by x once a tick, es_plan_listeners): nearest first, so
 * the kept list fills with the loudest early and the sweep stops on both
 * sides once x alone puts a speaker beyond what can still count.  In a
 * room of 150 all talking a listener looks at a few dozen, not 150.  The
 * result does not depend on that order (ties go by id).
 */
static void plan_one(void *ctx, unsigned k, unsigned worker)
{
	(void)worker;
	struct es_engine *e = ctx;
	unsigned lid = e->lids[k];
	struct person *l = &e->people[lid];
	const struct es_acoustics *ac = &e->cfg.ac;
	l->ncand = l->nm = l->nf = l->nr = l->nfe = 0;
	l->personal = false;
	l->stream = -1;
	l->space = l->budget > ES_ENGINE_BUNDLE_OVERHEAD ? l->budget - ES_ENGINE_BUNDLE_OVERHEAD : 0;
	l->mix_cap = 0;
	struct gather g = {.p = {l->x, l->y, l->facing, l->room}, .lid = lid, .maxvol = 1.0f};
	struct place p = g.p;
	for (unsigned v = 0; v < ES_ENGINE_VOLUMES; v++)
		if (l->vol[v].speaker >= 0 && l->vol[v].gain > g.maxvol)
			g.maxvol = l->vol[v].gain;
	g.fade_g = es_distance_gain(ac, ac->range_m - ac->fade_m);
	g.cut2 = ac->range_m * ac->range_m;
	/* whispers and the stage reach past any distance: always looked at */
	for (unsigned k = 0; k < e->nodd; k++)
		consider(e, l, &g, e->odd[k]);
	/* the first speaker at or right of the listener, then outwards, the nearer side in x first */
	unsigned lo = 0, hi = e->nsweep;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (e->sweep_x[mid] < l->x)
			lo = mid + 1;
		else
			hi = mid;
	}
	int left = (int)lo - 1;
	unsigned right = lo;
	for (;;) {
		float dl = left >= 0 ? l->x - e->sweep_x[left] : INFINITY;
		float dr = right < e->nsweep ? e->sweep_x[right] - l->x : INFINITY;
		float dx = fminf(dl, dr);
		if (!(dx * dx <= g.cut2))
			break; /* both sides are beyond what can count (or done) */
		if (dl <= dr)
			consider(e, l, &g, e->sweep[left--]);
		else
			consider(e, l, &g, e->sweep[right++]);
	}
	if (l->ncand == 0)
		return;
	l->nm = l->ncand < e->k_eff ? l->ncand : e->k_eff;
	float floor_gain = l->cand[0].gain * e->drop;
	while (l->nm > 1 && l->cand[l->nm - 1].gain < floor_gain)
		l->nm--;
	/*
	 * Directions only for what is heard; the rest of the kept voices get
	 * theirs below if the listener needs a mix (a shared one may carry
	 * any voice it hears).
	 */
	for (unsigned i = 0; i < l->nm; i++)
		l->cand[i].az = es_azimuth(p.x, p.y, p.facing, l->cand[i].sx, l->cand[i].sy);
	if (l->flags & ES_ENGINE_THIN) {
		for (unsigned i = 0; i < l->ncand; i++)
			es_cand_derive(e, &p, &l->cand[i], i >= l->nm);
		for (unsigned i = 0; i < l->nm; i++)
			l->r[l->nr++] = (uint8_t)i;
		l->personal = true;
		return;
	}
	/*
	 * The usual case: every voice it must hear fits its budget, as the
	 * speakers' own frames.  Whether they fit is this tick's frames for a
	 * listener who had no mix last tick (the bundle then fits, whatever
	 * the peaks say: one large frame moves no voice into a mix), and the
	 * voices' recent peaks for one who had (it comes back only when they
	 * fit with room to spare, so it does not flap between the two).
	 */
	unsigned now = 0, peak = 0;
	for (unsigned i = 0; i < l->nm; i++) {
		now += e->people[l->cand[i].id].cost;
		peak += cost_of(e, &l->cand[i]);
	}
	if (l->nm <= FWD_MAX && (l->prev_stream < 0 ? now : peak) <= l->space) {
		for (unsigned i = 0; i < l->nm; i++)
			l->f[l->nf++] = (uint8_t)i;
		return;
	}
	/* only those who hear more than their budget carries are planned any further */
	for (unsigned i = 0; i < l->ncand; i++)
		es_cand_derive(e, &p, &l->cand[i], i >= l->nm);
	split(e, l);
}

static int by_x(const void *a, const void *b, void *ud)
{
	const struct es_engine *e = ud;
	float xa = e->ax[*(const unsigned *)a], xb = e->ax[*(const unsigned *)b];
	if (xa != xb)
		return xa < xb ? -1 : 1;
	return *(const unsigned *)a < *(const unsigned *)b ? -1 : 1;
}

unsigned es_plan_listeners(struct es_engine *e)
{
	/*
	 * Under the heaviest load each listener hears at most four voices (the
	 * least K may be): fewer bytes to send, fewer mixes.  Quality goes
	 * before people do.
	 */
	unsigned k = e->cfg.ac.max_voices;
	e->k_eff = es_level(e) >= ES_ENGINE_LOAD_MAX && k > 4 ? 4 : k;
	unsigned n = 0;
	for (unsigned lid = 0; lid < e->cfg.max_people; lid++)
		if (e->people[lid].present && !(e->people[lid].flags & ES_ENGINE_DEAF))
			e->lids[n++] = lid;
	/* the plain speakers by x, for plan_one's sweep; the others apart */
	e->nsweep = e->nodd = 0;
	for (unsigned j = 0; j < e->nactive; j++)
		if (e->plain[j])
			e->sweep[e->nsweep++] = j;
		else
			e->odd[e->nodd++] = j;
	qsort_r(e->sweep, e->nsweep, sizeof(*e->sweep), by_x, e);
	for (unsigned k = 0; k < e->nsweep; k++)
		e->sweep_x[k] = e->ax[e->sweep[k]];
	es_engine_run(e, plan_one, e, n);
	for (unsigned i = 0; i < n; i++) {
		const struct person *l = &e->people[e->lids[i]];
		e->stats.listeners_budget += l->nr > 0 && !(l->flags & ES_ENGINE_THIN);
	}
	return n;
}

const struct cand *es_find_cand(const struct person *l, unsigned id)
{
	for (unsigned i = 0; i < l->ncand; i++)
		if (l->cand[i].id == id)
			return &l->cand[i];
	return NULL;
}

static bool in_stream(const struct stream *st, unsigned id)
{
	for (unsigned j = 0; j < st->nr; j++)
		if (st->r[j].id == id)
			return true;
	return false;
}

/*
 * May listener l take shared stream st for its mix?  Everything st carries
 * must be something l hears, not exact for it, within group_db and
 * group_deg of l's own gain and direction.  What l must hear and st does
 * not carry is forwarded, so that must fit l's budget beside the mix, and
 * l's total stays within K.  The stream decides the split, not the listener:
 * any voice that is not exact may go either way, which is what lets
 * neighbours who hear slightly different sets share one mix.
 */
static bool compatible(const struct es_engine *e, struct person *l, const struct stream *st)
{
	l->mirror_fit = false;
	if (st->ref.room != l->room || st->nr == 0)
		return false;
	unsigned out = 0, bytes = 0;
	for (unsigned i = 0; i < l->nm; i++)
		if (!in_stream(st, l->cand[i].id)) {
			out++;
			bytes += cost_of(e, &l->cand[i]);
		}
	/* what it does not carry is forwarded, and must fit beside it */
	if (out > FWD_MAX || bytes + e->mix_cap > l->space || out + st->nr > e->k_eff)
		return false;
	float max_ratio = e->group_ratio;
	float max_rad = e->group_rad;
	/*
	 * As it is, or (if the client can) with left and right swapped, which
	 * hears the mix's az as -az: ahead stays ahead, so a voice the mix has
	 * behind never serves a listener who has it ahead.
	 */
	bool plain = true, mirrored = e->cfg.mirror_mixes;
	for (unsigned j = 0; j < st->nr; j++) {
		const struct cand *sc = &st->r[j];
		const struct cand *lc = es_find_cand(l, sc->id);
		if (!lc || lc->exact)
			return false;
		if (sc->gain > lc->gain * max_ratio || lc->gain > sc->gain * max_ratio)
			return false;
		plain = plain && fabsf(es_angle_diff(sc->az, lc->az)) <= max_rad;
		mirrored = mirrored && fabsf(es_angle_diff(-sc->az, lc->az)) <= max_rad;
		if (!plain && !mirrored)
			return false;
	}
	l->mirror_fit = !plain;
	return true;
}

/* What a shared stream carries this tick: its voices that speak, as heard at its place. */
static void shared_voices(const struct es_engine *e, struct stream *st)
{
	if (st->fixed) {
		unsigned id = st->set[0];
		st->nr = id < e->cfg.max_people && e->people[id].present && e->people[id].active;
		return;
	}
	st->nr = 0;
	for (unsigned i = 0; i < st->nset; i++) {
		unsigned id = st->set[i];
		if (id >= e->cfg.max_people || !e->people[id].present || !e->people[id].active)
			continue;
		struct cand c;
		if (es_voice_at(e, &st->ref, -1, id, &c)) {
			es_cand_derive(e, &st->ref, &c, false);
			st->r[st->nr++] = c;
		}
	}
}

static int by_need_desc(const void *a, const void *b, void *ud)
{
	const struct es_engine *e = ud;
	unsigned na = e->people[*(const unsigned *)a].nr, nb = e->people[*(const unsigned *)b].nr;
	if (na != nb)
		return na > nb ? -1 : 1;
	return *(const unsigned *)a < *(const unsigned *)b ? -1 : 1;
}

static bool near_ref(const struct stream *st, const struct person *l)
{
	if (st->fixed)
		return true;
	float dx = st->ref.x - l->x, dy = st->ref.y - l->y;
	return dx * dx + dy * dy < 64.0f;
}

/* Put l on stream i; for a shared stream, forward exactly what it lacks. */
static void join(struct es_engine *e, struct person *l, unsigned i)
{
	struct stream *st = &e->streams[i];
	l->stream = (int)i;
	l->mirror = st->owner < 0 && l->mirror_fit;
	st->members++;
	if (st->owner >= 0)
		return;
	l->nf = l->nr = 0;
	for (unsigned k = 0; k < l->nm; k++) {
		if (in_stream(st, l->cand[k].id))
			l->r[l->nr++] = (uint8_t)k;
		else
			l->f[l->nf++] = (uint8_t)k;
	}
}

/* Open a shared stream at l's place for l's mix voices; false if l cannot use it. */
static bool open_shared(struct es_engine *e, unsigned lid)
{
	struct person *l = &e->people[lid];
	struct place p = {l->x, l->y, l->facing, l->room};
	int i = es_stream_alloc(e, -1, &p);
	if (i < 0)
		return false;
	struct stream *st = &e->streams[i];
	st->nset = 0;
	for (unsigned k = 0; k < l->nr; k++)
		st->set[st->nset++] = l->cand[l->r[k]].id;
	shared_voices(e, st);
	if (!compatible(e, l, st)) {
		/* personal volume (or a whisper) makes l's own view differ */
		es_stream_release(e, (unsigned)i);
		return false;
	}
	join(e, l, (unsigned)i);
	return true;
}

static int by_room_voice(const void *a, const void *b)
{
	const struct view *x = a, *y = b;
	if (x->room != y->room)
		return x->room < y->room ? -1 : 1;
	if (x->voice != y->voice)
		return x->voice < y->voice ? -1 : 1;
	return x->listener < y->listener ? -1 : x->listener > y->listener;
}

static bool in_box(const struct view *v, float lg, float az, float tg, float ta)
{
	return fabsf(v->lg - lg) <= tg && fabsf(es_angle_diff(v->az, az)) <= ta;
}

/*
 * Listeners whose budget carries all they hear but one voice may take any
 * one of their voices that is not exact from a mix (if the rest then fits).  Seen as
 * points (level, direction) per voice, listeners whose points for
 * one voice lie within the tolerances of a common centre can share one
 * stream carrying that voice at the centre's gain and direction.  A greedy
 * cover picks the voice and centre that serve the most listeners still
 * waiting, again and again while a stream would serve two or more; the
 * rest are left to the general path.  Rendering at the centre of its
 * listeners, rather than at the first listener's seat, uses the whole
 * tolerance both ways.  Directions are on a circle: the box's extent is
 * measured from the point it is built round, so a group straddling
 * straight behind (+-180 degrees) has its centre behind, not ahead.
 */
static void cover_single(struct es_engine *e, unsigned *nwait)
{
	struct view *vw = e->views;
	unsigned nv = 0;
	for (unsigned w = 0; w < *nwait; w++) {
		struct person *l = &e->people[e->order[w]];
		if (l->personal || l->nr != 1)
			continue;
		for (unsigned i = 0; i < l->nm; i++) {
			if (l->cand[i].exact)
				continue;
			vw[nv++] = (struct view){l->cand[i].id, (uint16_t)e->order[w], l->room, l->cand[i].lg, l->cand[i].az};
			/*
			 * mirrored (heard as -az), it may also share a mix made for
			 * someone facing the other way: not for a voice straight
			 * ahead or behind, where -az is az
			 */
			if (e->cfg.mirror_mixes && fabsf(sinf(l->cand[i].az)) > 0.01f)
				vw[nv++] = (struct view){l->cand[i].id, (uint16_t)e->order[w], l->room, l->cand[i].lg,
							 wrap_angle(-l->cand[i].az)};
		}
	}
	if (nv < 2)
		return;
	qsort(vw, nv, sizeof(*vw), by_room_voice);
	float tg = logf(e->group_ratio), ta = e->group_rad;
	for (;;) {
		unsigned best = 1, ba = 0, bb = 0;
		float bg = 0.0f, bf = 0.0f;
		for (unsigned a = 0; a < nv;) {
			unsigned b = a;
			while (b < nv && vw[b].room == vw[a].room && vw[b].voice == vw[a].voice)
				b++;
			for (unsigned q = a; q < b && b - a > best; q++) {
				if (e->people[vw[q].listener].stream >= 0)
					continue;
				/* directions as offsets from q's, so the box does not break at +-180 degrees */
				float lo_g = vw[q].lg, hi_g = lo_g, lo_a = 0.0f, hi_a = 0.0f;
				for (unsigned p = a; p < b; p++)
					if (e->people[vw[p].listener].stream < 0 && in_box(&vw[p], vw[q].lg, vw[q].az, tg, ta)) {
						float d = es_angle_diff(vw[p].az, vw[q].az);
						lo_g = fminf(lo_g, vw[p].lg);
						hi_g = fmaxf(hi_g, vw[p].lg);
						lo_a = fminf(lo_a, d);
						hi_a = fmaxf(hi_a, d);
					}
				float cg = 0.5f * (lo_g + hi_g), cf = wrap_angle(vw[q].az + 0.5f * (lo_a + hi_a));
				unsigned count = 0;
				for (unsigned p = a; p < b; p++)
					count += e->people[vw[p].listener].stream < 0 && in_box(&vw[p], cg, cf, tg, ta);
				if (count > best) {
					best = count;
					ba = a;
					bb = b;
					bg = cg;
					bf = cf;
				}
			}
			a = b;
		}
		if (best < 2)
			break;
		struct place ref = {0.0f, 0.0f, 0.0f, vw[ba].room};
		int si = es_stream_alloc(e, -1, &ref);
		if (si < 0)
			break;
		struct stream *st = &e->streams[si];
		st->fixed = true;
		st->nset = 1;
		st->set[0] = vw[ba].voice;
		/* rendered where its listeners hear it: ahead or behind as they do */
		st->r[0] = (struct cand){.id = vw[ba].voice, .exact = false, .gain = expf(bg), .az = bf};
		es_cand_derive(e, &ref, &st->r[0], false);
		st->nr = 1;
		for (unsigned p = ba; p < bb; p++) {
			struct person *l = &e->people[vw[p].listener];
			if (l->stream < 0 && in_box(&vw[p], bg, bf, tg, ta) && compatible(e, l, st))
				join(e, l, (unsigned)si);
		}
		if (st->members == 0) {
			es_stream_release(e, (unsigned)si);
			break;
		}
	}
	/* those served leave the queue */
	unsigned k = 0;
	for (unsigned w = 0; w < *nwait; w++)
		if (e->people[e->order[w]].stream < 0)
			e->order[k++] = e->order[w];
	*nwait = k;
}

void es_plan_streams(struct es_engine *e)
{
	unsigned n = e->cfg.max_streams;
	for (unsigned i = 0; i < n; i++) {
		struct stream *st = &e->streams[i];
		st->members = 0;
		if (st->used && st->owner < 0)
			shared_voices(e, st);
	}

	/* stay on last tick's stream while it still fits */
	unsigned nwait = 0;
	for (unsigned lid = 0; lid < e->cfg.max_people; lid++) {
		struct person *l = &e->people[lid];
		if (!l->present || l->nr == 0)
			continue;
		int ps = l->prev_stream;
		if (ps >= 0) {
			struct stream *st = &e->streams[ps];
			if (st->used && st->id == l->prev_stream_id) {
				if (l->personal ? st->owner == (int)lid && st->thin == !!(l->flags & ES_ENGINE_THIN)
						: st->owner < 0 && compatible(e, l, st)) {
					join(e, l, (unsigned)ps);
					continue;
				}
			}
		}
		e->order[nwait++] = lid;
	}

	/*
	 * The rest, neediest first: a stream opened for a listener who needs
	 * three voices can serve neighbours who need one of them, not the
	 * other way round.
	 */
	cover_single(e, &nwait);
	qsort_r(e->order, nwait, sizeof(*e->order), by_need_desc, e);
	for (unsigned w = 0; w < nwait; w++) {
		unsigned lid = e->order[w];
		struct person *l = &e->people[lid];
		/* a personal stream left behind by this listener goes first */
		if (l->prev_stream >= 0 && e->streams[l->prev_stream].used && e->streams[l->prev_stream].owner == (int)lid &&
		    e->streams[l->prev_stream].members == 0)
			es_stream_release(e, (unsigned)l->prev_stream);
		if (!l->personal) {
			bool done = false;
			for (unsigned i = 0; i < n && !done; i++) {
				struct stream *st = &e->streams[i];
				if (st->used && st->owner < 0 && near_ref(st, l) && compatible(e, l, st)) {
					join(e, l, i);
					done = true;
				}
			}
			if (done || open_shared(e, lid))
				continue;
		}
		struct place p = {l->x, l->y, l->facing, l->room};
		int i = es_stream_alloc(e, (int)lid, &p);
		if (i < 0) {
			/* no encoder left: keep the forwarded voices, shed the mix */
			e->stats.listeners_shed++;
			l->nr = 0;
			continue;
		}
		join(e, l, (unsigned)i);
	}

	/* what is forwarded */
	for (unsigned lid = 0; lid < e->cfg.max_people; lid++) {
		struct person *l = &e->people[lid];
		if (!l->present)
			continue;
		for (unsigned k = 0; k < l->nf; k++) {
			const struct cand *c = &l->cand[l->f[k]];
			l->fe[l->nfe++] = (struct fwd){c->id, c->gain, c->az};
		}
	}

	/* personal streams render their listener's voices exactly; idle streams end */
	for (unsigned i = 0; i < n; i++) {
		struct stream *st = &e->streams[i];
		if (!st->used)
			continue;
		if (st->members == 0) {
			es_stream_release(e, i);
			continue;
		}
		if (st->owner >= 0) {
			const struct person *l = &e->people[st->owner];
			/* what its listener's budget leaves it this tick (a thin link: 40 kbit/s) */
			st->cap = st->thin ? THIN_MAX : l->mix_cap;
			st->nr = 0;
			for (unsigned k = 0; k < l->nr; k++)
				st->r[st->nr++] = l->cand[l->r[k]];
		}
	}
}
