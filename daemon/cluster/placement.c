/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "placement.h"

#define MAX_DAEMONS 4096

uint64_t es_place_hash(const char *floor, const char *id)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (const char *p = floor; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	h = (h ^ 0xff) * 0x100000001b3ull; /* "ab"+"c" differs from "a"+"bc" */
	for (const char *p = id; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	/* a final mix, so ids that differ in the last byte spread */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

/* a before b in floor f's order?  (projected load / capacity, then the hash) */
static bool before(const struct es_place_daemon *a, uint64_t pa, const struct es_place_daemon *b, uint64_t pb,
	const char *f)
{
	bool fa = pa < a->capacity, fb = pb < b->capacity; /* still has room */
	if (fa != fb)
		return fa;
	/* pa/ca < pb/cb without division */
	unsigned __int128 l = (unsigned __int128)pa * b->capacity, r = (unsigned __int128)pb * a->capacity;
	if (l != r)
		return l < r;
	uint64_t ha = es_place_hash(f, a->id), hb = es_place_hash(f, b->id);
	if (ha != hb)
		return ha < hb;
	return strcmp(a->id, b->id) < 0;
}

int es_place_rank(const struct es_place_daemon *d, size_t nd, const char *const *floors, size_t nf,
	const char *self, uint32_t floor_weight, uint32_t *rank, uint32_t *first)
{
	if (nd > MAX_DAEMONS)
		return -EINVAL;
	uint64_t proj[MAX_DAEMONS];
	size_t me = ES_PLACE_NONE;
	for (size_t j = 0; j < nd; j++) {
		proj[j] = (uint64_t)d[j].load + (uint64_t)floor_weight * d[j].floors;
		if (self && strcmp(d[j].id, self) == 0)
			me = j;
	}
	bool me_takes = me != ES_PLACE_NONE && !d[me].draining && d[me].capacity > 0;
	for (size_t i = 0; i < nf; i++) {
		const char *f = floors[i];
		size_t best = ES_PLACE_NONE;
		uint32_t ahead = 0;
		for (size_t j = 0; j < nd; j++) {
			if (d[j].draining || d[j].capacity == 0)
				continue;
			if (best == ES_PLACE_NONE || before(&d[j], proj[j], &d[best], proj[best], f))
				best = j;
			if (me_takes && j != me && before(&d[j], proj[j], &d[me], proj[me], f))
				ahead++;
		}
		rank[i] = me_takes ? ahead : ES_PLACE_NONE;
		if (first)
			first[i] = best == ES_PLACE_NONE ? ES_PLACE_NONE : (uint32_t)best;
		if (best != ES_PLACE_NONE)
			proj[best] += floor_weight;
	}
	return 0;
}
