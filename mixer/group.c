/* SPDX-License-Identifier: MIT */
/*
 * Speaker groups: far voices that, from where a listener sits, come from
 * about one place, premixed once and forwarded like a voice.
 *
 * The expensive thing a mixer does is an encode per distinct mix, and
 * stereo mixes are hard to share because every listener sits and faces
 * somewhere else.  What makes a listener need a mix at all is hearing more
 * than three voices.  But two far voices that reach a listener from within
 * group_deg of one direction can be premixed, listener-independently, into
 * one mono Opus frame (each weighted by its level relative to the louder,
 * in steps of group_db) and forwarded as one entry of the bundle: the
 * client renders it with that listener's gain and direction exactly as it
 * renders a speaker's own frame.  A premix is only the set of voices and
 * their weights, so everyone for whom that set fits shares one mono encode,
 * whatever their position or facing.  Voices within exact_m are never
 * premixed.
 *
 * Which pairs: for listeners of exactly four voices a greedy cover picks the
 * pairs that serve the most listeners (es_groups_cover); for others, or
 * those left over, each listener merges the tightest pairs itself,
 * preferring groups that exist already (es_groups_forward).  A group keeps
 * its encoder and wire id (a speaker id above the people's) while someone
 * is forwarded it, so its stream is continuous; a group nobody wants ends,
 * and a new one gets a new wire id, so the client's per-speaker rules (fade
 * in a new speaker; conceal and fade out one that vanished) crossfade.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine-private.h"

static int setup_mono(OpusEncoder *enc, int rate)
{
	if (opus_encoder_init(enc, rate, 1, OPUS_APPLICATION_VOIP) != OPUS_OK ||
	    opus_encoder_ctl(enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE)) != OPUS_OK ||
	    opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(1)) != OPUS_OK ||
	    opus_encoder_ctl(enc, OPUS_SET_PACKET_LOSS_PERC(5)) != OPUS_OK)
		return -EIO;
	return 0;
}

int es_groups_init(struct es_engine *e)
{
	/* wire ids for groups live above the people's ids */
	unsigned room = 65535u - e->cfg.max_people;
	e->ngroups_max = e->cfg.max_streams < room ? e->cfg.max_streams : room;
	e->next_vid = (uint16_t)e->cfg.max_people;
	if (e->ngroups_max == 0)
		return 0;
	e->groups = calloc(e->ngroups_max, sizeof(*e->groups));
	e->group_ht_size = 1;
	while (e->group_ht_size < 2 * e->ngroups_max)
		e->group_ht_size <<= 1;
	e->group_ht = calloc(e->group_ht_size, sizeof(*e->group_ht));
	if (!e->groups || !e->group_ht)
		goto err;
	for (unsigned i = 0; i < e->ngroups_max; i++) {
		int err;
		struct group *g = &e->groups[i];
		g->enc = opus_encoder_create(ES_RATE, 1, OPUS_APPLICATION_VOIP, &err);
		if (err != OPUS_OK || !g->enc || setup_mono(g->enc, ES_RATE) < 0)
			goto err;
		g->level = -1;
		g->rate = ES_RATE;
	}
	return 0;
err:
	es_groups_clear(e);
	return -ENOMEM;
}

void es_groups_clear(struct es_engine *e)
{
	free(e->group_ht);
	e->group_ht = NULL;
	if (!e->groups)
		return;
	for (unsigned i = 0; i < e->ngroups_max; i++)
		if (e->groups[i].enc)
			opus_encoder_destroy(e->groups[i].enc);
	free(e->groups);
	e->groups = NULL;
}

static bool vid_in_use(const struct es_engine *e, uint16_t vid)
{
	for (unsigned i = 0; i < e->ngroups_max; i++)
		if (e->groups[i].used && e->groups[i].vid == vid)
			return true;
	return false;
}

static uint16_t new_vid(struct es_engine *e)
{
	do {
		if (e->next_vid < e->cfg.max_people || e->next_vid == UINT16_MAX)
			e->next_vid = (uint16_t)e->cfg.max_people;
		e->next_vid++;
	} while (vid_in_use(e, (uint16_t)(e->next_vid - 1)));
	return (uint16_t)(e->next_vid - 1);
}

static uint32_t set_hash(const uint16_t *m, const uint8_t *wq, unsigned n)
{
	uint32_t h = 2166136261u;
	for (unsigned i = 0; i < n; i++)
		h = (h ^ ((uint32_t)m[i] << 8 ^ wq[i])) * 16777619u;
	return h;
}

static int lookup(const struct es_engine *e, const uint16_t *m, const uint8_t *wq, unsigned n, uint32_t h)
{
	unsigned mask = e->group_ht_size - 1;
	for (unsigned i = h & mask;; i = (i + 1) & mask) {
		int gi = e->group_ht[i];
		if (gi < 0)
			return -1;
		const struct group *g = &e->groups[gi];
		if (g->n == n && !memcmp(g->member, m, n * sizeof(*m)) && !memcmp(g->wq, wq, n))
			return gi;
	}
}

static void ht_insert(struct es_engine *e, int gi)
{
	unsigned mask = e->group_ht_size - 1;
	unsigned i = e->groups[gi].hash & mask;
	while (e->group_ht[i] >= 0)
		i = (i + 1) & mask;
	e->group_ht[i] = (int16_t)gi;
}

void es_groups_begin(struct es_engine *e)
{
	if (!e->groups)
		return;
	for (unsigned i = 0; i < e->group_ht_size; i++)
		e->group_ht[i] = -1;
	for (unsigned i = 0; i < e->ngroups_max; i++) {
		e->groups[i].wanted = false;
		e->groups[i].users = 0;
		if (e->groups[i].used)
			ht_insert(e, (int)i);
	}
}

static int group_get(struct es_engine *e, const uint16_t *m, const uint8_t *wq, unsigned n)
{
	uint32_t h = set_hash(m, wq, n);
	int gi = lookup(e, m, wq, n, h);
	if (gi >= 0)
		return gi;
	for (unsigned i = 0; i < e->ngroups_max; i++) {
		struct group *g = &e->groups[i];
		if (g->used)
			continue;
		if (opus_encoder_ctl(g->enc, OPUS_RESET_STATE) != OPUS_OK)
			return -EIO;
		g->used = true;
		g->vid = new_vid(e);
		g->n = n;
		memcpy(g->member, m, n * sizeof(*m));
		memcpy(g->wq, wq, n);
		float step = logf(e->group_ratio);
		for (unsigned k = 0; k < n; k++)
			g->w[k] = expf(-(float)wq[k] * step);
		g->hash = h;
		g->seq = 0;
		es_limiter_init(&g->lim);
		ht_insert(e, (int)i);
		return (int)i;
	}
	return -ENOSPC;
}

/* One forwarded entry while planning: a set of l's cands rendered as one. */
struct entry {
	unsigned mask; /* bits: indices into l->cand */
	bool exact;
	float gain, az;
};

/*
 * Render a set of l's cands as one source.  The premix weighs each voice by
 * its level relative to the set's loudest, quantised to steps of group_db
 * (so neighbours who hear nearly the same balance land on the same group),
 * and the listener plays the premix at one gain and one direction.  Fills
 * m[] with the sorted member ids and wq[] with their weight steps, *gain
 * and *az with the rendering for l, and returns how far the worst member is
 * from what l would hear exactly, in tolerances (<= 1 fits).
 */
static float as_one(const struct es_engine *e, const struct person *l, unsigned mask, bool weigh, uint16_t *m,
		    uint8_t *wq, unsigned *count, float *gain, float *az)
{
	float lmax = -1e30f, sx = 0.0f, cy = 0.0f, step = logf(e->group_ratio);
	unsigned n = 0;
	for (unsigned i = 0; i < l->nm; i++)
		if (mask & (1u << i)) {
			float lg = l->cand[i].lg;
			lmax = lg > lmax ? lg : lmax;
		}
	float fit = 0.0f;
	for (unsigned i = 0; i < l->nm; i++) {
		if (!(mask & (1u << i)))
			continue;
		const struct cand *c = &l->cand[i];
		float q = weigh && step > 0.0f ? roundf((lmax - c->lg) / step) : 0.0f;
		if (q > 20.0f)
			q = 20.0f;
		uint8_t w = (uint8_t)q;
		fit += c->lg + (float)w * step;
		sx += c->sn;
		cy += c->cs;
		/* sorted by id */
		unsigned pos = n++;
		while (pos > 0 && m[pos - 1] > c->id) {
			m[pos] = m[pos - 1];
			wq[pos] = wq[pos - 1];
			pos--;
		}
		m[pos] = c->id;
		wq[pos] = w;
	}
	*count = n;
	float lgain = fit / (float)n;
	float r = sqrtf(sx * sx + cy * cy);
	float fa = r > 0.0f ? asinf(fmaxf(-1.0f, fminf(1.0f, sx / r))) : 0.0f, worst = 0.0f;
	for (unsigned i = 0; i < l->nm; i++) {
		if (!(mask & (1u << i)))
			continue;
		const struct cand *c = &l->cand[i];
		float w = 0.0f;
		for (unsigned k = 0; k < n; k++)
			if (m[k] == c->id)
				w = (float)wq[k] * step;
		float dg = step > 0.0f ? fabsf(c->lg - (lgain - w)) / step : 0.0f;
		float da = e->group_rad > 0.0f ? fabsf(c->fold - fa) / e->group_rad : 1e9f;
		float x = dg > da ? dg : da;
		worst = x > worst ? x : worst;
	}
	if (worst <= 1.0f) {
		/* only what fits is ever rendered */
		*gain = expf(lgain);
		*az = atan2f(sx, cy);
	}
	return worst;
}

/*
 * Try to serve listener l, who must hear more than three voices, with at
 * most three forwarded entries, by merging far voices that, from where l
 * sits, come from about one place (each within group_db and group_deg of
 * the merged rendering) into speaker groups.  A merge that yields a group
 * somebody already uses wins, so neighbours converge on the same groups and
 * one mono encode serves them all; otherwise the tightest merge wins.
 * Fills l->fe and returns true, or returns false and leaves l's plan alone.
 */
static bool merge(struct es_engine *e, struct person *l, bool weigh)
{
	struct entry en[K_MAX];
	unsigned n = l->nm;
	for (unsigned i = 0; i < n; i++)
		en[i] = (struct entry){1u << i, l->cand[i].exact, l->cand[i].gain, l->cand[i].az};
	while (n > FWD_MAX) {
		int bi = -1, bj = -1;
		float best = 1e30f, bg = 0.0f, ba = 0.0f;
		for (unsigned i = 0; i < n; i++) {
			if (en[i].exact)
				continue;
			for (unsigned j = i + 1; j < n; j++) {
				unsigned u = en[i].mask | en[j].mask;
				if (en[j].exact || (unsigned)__builtin_popcount(u) > GROUP_MEMBERS)
					continue;
				float g = 0.0f, a = 0.0f;
				uint16_t m[GROUP_MEMBERS];
				uint8_t wq[GROUP_MEMBERS];
				unsigned k;
				float w = as_one(e, l, u, weigh, m, wq, &k, &g, &a);
				if (w > 1.0f)
					continue;
				if (lookup(e, m, wq, k, set_hash(m, wq, k)) >= 0)
					w -= 10.0f; /* somebody already has it: it costs nothing */
				if (w < best) {
					best = w;
					bi = (int)i;
					bj = (int)j;
					bg = g;
					ba = a;
				}
			}
		}
		if (bi < 0)
			return false;
		en[bi].mask |= en[bj].mask;
		en[bi].gain = bg;
		en[bi].az = ba;
		en[bj] = en[--n];
	}
	struct fwd fe[FWD_MAX];
	for (unsigned k = 0; k < n; k++) {
		if (__builtin_popcount(en[k].mask) == 1) {
			unsigned i = (unsigned)__builtin_ctz(en[k].mask);
			fe[k] = (struct fwd){l->cand[i].id, -1, l->cand[i].gain, l->cand[i].az};
			continue;
		}
		uint16_t m[GROUP_MEMBERS];
		uint8_t wq[GROUP_MEMBERS];
		unsigned cnt;
		float g = 0.0f, a = 0.0f;
		(void)as_one(e, l, en[k].mask, weigh, m, wq, &cnt, &g, &a);
		int gi = group_get(e, m, wq, cnt);
		if (gi < 0)
			return false; /* pool empty: a stereo mix may still do */
		fe[k] = (struct fwd){e->groups[gi].vid, (int16_t)gi, en[k].gain, en[k].az};
	}
	/* loudest first, as everywhere */
	for (unsigned k = 0; k < n; k++) {
		unsigned pos = k;
		struct fwd x = fe[k];
		while (pos > 0 && l->fe[pos - 1].gain < x.gain) {
			l->fe[pos] = l->fe[pos - 1];
			pos--;
		}
		l->fe[pos] = x;
		if (x.group >= 0) {
			e->groups[x.group].wanted = true;
			e->groups[x.group].users++;
		}
	}
	l->nfe = n;
	l->nf = l->nr = 0;
	return true;
}

/* A pair of one listener's voices that could be premixed for it. */
struct gcand {
	uint64_t key; /* the group: ids and weights */
	uint16_t listener;
	uint8_t mask; /* bits: indices into the listener's cands */
	float gain, az;
};

struct gcand *es_gcands_new(unsigned max_people)
{
	return calloc((size_t)max_people * 6, sizeof(struct gcand)); /* C(4,2) pairs each */
}

struct grun *es_gruns_new(unsigned max_people)
{
	return calloc((size_t)max_people * 6, sizeof(struct grun));
}

static int by_len_desc(const void *a, const void *b)
{
	const struct grun *x = a, *y = b;
	unsigned lx = x->b - x->a, ly = y->b - y->a;
	if (lx != ly)
		return lx > ly ? -1 : 1;
	return x->a < y->a ? -1 : x->a > y->a;
}

static int by_key(const void *a, const void *b)
{
	const struct gcand *x = a, *y = b;
	return x->key < y->key ? -1 : x->key > y->key;
}

/*
 * Listeners who must hear four voices (one more than can be forwarded) can
 * be served by premixing any two of them that, from where they sit, come
 * from about one place.  Many listeners can use the same pair, so rather
 * than letting each pick its own, pick the pairs by popularity: a greedy
 * cover takes the pair (with its weights) that serves the most listeners
 * still waiting, again and again while one serves two or more.  Listeners
 * left over go on to shared one-voice mixes (plan_streams), then to a
 * group or mix of their own.
 */
void es_groups_cover(struct es_engine *e)
{
	if (!e->groups)
		return;
	struct gcand *gc = e->gcands;
	unsigned n = 0;
	for (unsigned lid = 0; lid < e->cfg.max_people; lid++) {
		struct person *l = &e->people[lid];
		if (!l->present || !l->defer)
			continue;
		for (unsigned i = 0; i < l->nm; i++)
			for (unsigned j = i + 1; j < l->nm; j++) {
				if (l->cand[i].exact || l->cand[j].exact)
					continue;
				unsigned mask = 1u << i | 1u << j;
				uint16_t m[GROUP_MEMBERS];
				uint8_t wq[GROUP_MEMBERS];
				unsigned cnt;
				float g = 0.0f, a = 0.0f;
				if (as_one(e, l, mask, false, m, wq, &cnt, &g, &a) > 1.0f &&
				    as_one(e, l, mask, true, m, wq, &cnt, &g, &a) > 1.0f)
					continue;
				uint64_t key = (uint64_t)m[0] << 48 | (uint64_t)m[1] << 32 | (uint64_t)wq[0] << 8 | wq[1];
				gc[n++] = (struct gcand){key, (uint16_t)lid, (uint8_t)mask, g, a};
			}
	}
	if (n < 2)
		return;
	qsort(gc, n, sizeof(*gc), by_key);
	/* runs of one key, longest first, each knowing whether its group exists */
	struct grun *runs = e->gruns;
	unsigned nr = 0;
	for (unsigned a = 0; a < n;) {
		unsigned b = a;
		while (b < n && gc[b].key == gc[a].key)
			b++;
		uint16_t m[2] = {(uint16_t)(gc[a].key >> 48), (uint16_t)(gc[a].key >> 32)};
		uint8_t wq[2] = {(uint8_t)(gc[a].key >> 8), (uint8_t)gc[a].key};
		/* last tick's group keeps its stream: ties go to it */
		runs[nr++] = (struct grun){a, b, lookup(e, m, wq, 2, set_hash(m, wq, 2)) >= 0 ? 0.5f : 0.0f};
		a = b;
	}
	qsort(runs, nr, sizeof(*runs), by_len_desc);
	for (;;) {
		float best = 1.5f;
		unsigned ba = 0, bb = 0;
		for (unsigned r = 0; r < nr; r++) {
			if ((float)(runs[r].b - runs[r].a) + 0.5f <= best)
				break; /* no shorter run can win */
			unsigned count = 0;
			for (unsigned k = runs[r].a; k < runs[r].b; k++)
				count += e->people[gc[k].listener].defer;
			float score = (float)count + runs[r].bonus;
			if (score > best) {
				best = score;
				ba = runs[r].a;
				bb = runs[r].b;
			}
		}
		if (bb == 0)
			break;
		uint16_t m[2] = {(uint16_t)(gc[ba].key >> 48), (uint16_t)(gc[ba].key >> 32)};
		uint8_t wq[2] = {(uint8_t)(gc[ba].key >> 8), (uint8_t)gc[ba].key};
		int gi = group_get(e, m, wq, 2);
		if (gi < 0)
			break;
		for (unsigned k = ba; k < bb; k++) {
			struct person *l = &e->people[gc[k].listener];
			if (!l->defer)
				continue;
			struct fwd fe[FWD_MAX];
			unsigned nfe = 0;
			fe[nfe++] = (struct fwd){e->groups[gi].vid, (int16_t)gi, gc[k].gain, gc[k].az};
			for (unsigned i = 0; i < l->nm; i++)
				if (!(gc[k].mask & (1u << i)))
					fe[nfe++] = (struct fwd){l->cand[i].id, -1, l->cand[i].gain, l->cand[i].az};
			/* loudest first */
			for (unsigned x = 0; x < nfe; x++)
				for (unsigned y = x + 1; y < nfe; y++)
					if (fe[y].gain > fe[x].gain) {
						struct fwd t = fe[x];
						fe[x] = fe[y];
						fe[y] = t;
					}
			memcpy(l->fe, fe, sizeof(fe));
			l->nfe = nfe;
			l->nf = l->nr = 0;
			l->defer = false;
			e->groups[gi].wanted = true;
			e->groups[gi].users++;
		}
	}
}

/*
 * Plain premixes (equal weights) first: they fit fewer listeners each but
 * are the same for everybody who hears the clump at about one level, so
 * they are shared most.  Weighted ones rescue the rest.
 */
bool es_groups_forward(struct es_engine *e, struct person *l)
{
	if (!e->groups)
		return false;
	return merge(e, l, false) || merge(e, l, true);
}

int es_groups_prepare(struct es_engine *e, unsigned *njobs)
{
	if (!e->groups)
		return 0;
	unsigned level = es_level(e);
	for (unsigned i = 0; i < e->ngroups_max; i++) {
		struct group *g = &e->groups[i];
		if (!g->used)
			continue;
		if (!g->wanted) {
			/* nobody needs it any more: the stream ends, the encoder returns to the pool */
			g->used = false;
			continue;
		}
		e->jobs[(*njobs)++] = i | JOB_GROUP;
		if (g->level == (int)level)
			continue;
		const struct level_set *ls = es_level_set(level);
		if (ls->rate != g->rate) {
			/* a new rate is a new stream: a new wire id, so clients start a fresh decoder */
			if (setup_mono(g->enc, ls->rate) < 0)
				return -EIO;
			g->rate = ls->rate;
			g->vid = new_vid(e);
			g->seq = 0;
		}
		int c = ls->complexity < e->cfg.complexity ? ls->complexity : e->cfg.complexity;
		/* the premix stands in for uplink voices: their rate, trimmed under load */
		if (opus_encoder_ctl(g->enc, OPUS_SET_COMPLEXITY(c)) != OPUS_OK ||
		    opus_encoder_ctl(g->enc, OPUS_SET_BITRATE((int)(24000.0f * ls->bitrate))) != OPUS_OK)
			return -EIO;
		g->level = (int)level;
	}
	return 0;
}

void es_group_encode(struct es_engine *e, unsigned i, struct es_scratch *w)
{
	struct group *g = &e->groups[i];
	/* sum at their weights, at the encoder's rate; the limiter catches two people shouting at once */
	bool lo = g->rate < ES_RATE;
	unsigned len = lo ? (unsigned)(ES_FRAME / (ES_RATE / g->rate)) : ES_FRAME;
	float *acc = lo ? w->lowf : w->acc;
	memset(acc, 0, len * sizeof(float));
	for (unsigned k = 0; k < g->n; k++) {
		const struct person *sp = &e->people[g->member[k]];
		if (!sp->present || !sp->active)
			continue;
		const float *pcm = lo ? sp->pcm_lo : sp->pcm;
		float wk = g->w[k];
		for (unsigned j = 0; j < len; j++)
			acc[j] += wk * pcm[j];
	}
	g->len = es_encode_at(w, g->enc, g->rate, &g->lim, 1, g->pkt, sizeof(g->pkt));
	g->seq++;
}
