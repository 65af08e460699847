/* SPDX-License-Identifier: MIT */
/* Where people may be on the floor (see places.h). */
#include "places.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "earshot-mixer.h"

struct es_places {
	const struct es_floor *f;
	unsigned ndesks, nrooms;
	int *occupant;   /* per desk: person id, -1 */
	uint8_t *owned;  /* per desk */
	uint8_t *locked; /* per room */
};

static int alloc_for(const struct es_floor *f, unsigned *nd, unsigned *nr, int **occ, uint8_t **own, uint8_t **lock)
{
	*nd = f ? es_floor_desk_count(f) : 0;
	*nr = f ? es_floor_room_count(f) : 0;
	*occ = malloc((*nd ? *nd : 1) * sizeof(**occ));
	*own = calloc(*nd ? *nd : 1, 1);
	*lock = calloc(*nr ? *nr : 1, 1);
	if (!*occ || !*own || !*lock) {
		free(*occ);
		free(*own);
		free(*lock);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < *nd; i++)
		(*occ)[i] = -1;
	return 0;
}

struct es_places *es_places_new(const struct es_floor *f)
{
	struct es_places *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	if (alloc_for(f, &p->ndesks, &p->nrooms, &p->occupant, &p->owned, &p->locked) < 0) {
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	p->f = f;
	return p;
}

void es_places_free(struct es_places *p)
{
	if (!p)
		return;
	free(p->occupant);
	free(p->owned);
	free(p->locked);
	free(p);
}

int es_places_set_floor(struct es_places *p, const struct es_floor *f)
{
	unsigned nd, nr;
	int *occ;
	uint8_t *own, *lock;
	if (alloc_for(f, &nd, &nr, &occ, &own, &lock) < 0)
		return -ENOMEM;
	for (unsigned i = 0; f && i < p->ndesks; i++) {
		const char *label = NULL;
		if (p->owned[i] && es_floor_desk(p->f, i, NULL, NULL, &label) == 0 && label) {
			int d = es_floor_desk_find(f, label);
			if (d >= 0)
				own[d] = 1;
		}
	}
	for (unsigned r = 0; f && r < p->nrooms; r++) {
		const char *name = es_floor_room_name(p->f, r);
		for (unsigned k = 0; p->locked[r] && name && k < nr; k++)
			if (strcmp(es_floor_room_name(f, k), name) == 0)
				lock[k] = 1;
	}
	free(p->occupant);
	free(p->owned);
	free(p->locked);
	p->f = f;
	p->ndesks = nd, p->nrooms = nr;
	p->occupant = occ, p->owned = own, p->locked = lock;
	return 0;
}

const struct es_floor *es_places_floor(const struct es_places *p)
{
	return p->f;
}

const char *es_place_verdict_text(enum es_place_verdict v)
{
	switch (v) {
	case ES_PLACE_OK: return "a free place";
	case ES_PLACE_OUTSIDE: return "outside the floor";
	case ES_PLACE_BLOCKED: return "a wall or a table";
	case ES_PLACE_CLOSED_ROOM: return "inside a room with its doors closed";
	case ES_PLACE_LOCKED_ROOM: return "inside a room an admin closed";
	case ES_PLACE_DESK_TAKEN: return "a desk someone sits at";
	case ES_PLACE_DESK_OWNED: return "someone else's desk";
	}
	return "?";
}

bool es_places_room_locked(const struct es_places *p, unsigned room)
{
	return room < p->nrooms && p->locked[room];
}

void es_places_lock_room(struct es_places *p, unsigned room, bool locked)
{
	if (room < p->nrooms)
		p->locked[room] = locked;
}

/* 0: the room may be entered; else why not. */
static enum es_place_verdict room_shut(const struct es_places *p, int room)
{
	if (room < 0)
		return ES_PLACE_OK;
	if (es_places_room_locked(p, (unsigned)room))
		return ES_PLACE_LOCKED_ROOM;
	/* a room without doors is open space with walls */
	return es_floor_room_closed(p->f, (unsigned)room) ? ES_PLACE_CLOSED_ROOM : ES_PLACE_OK;
}

bool es_places_enterable(const struct es_places *p, float x, float y)
{
	return !p->f || room_shut(p, es_floor_room_at(p->f, x, y)) == ES_PLACE_OK;
}

enum es_place_verdict es_places_check(const struct es_places *p, int self, int from_room, int own_desk, float x,
				      float y, bool seating)
{
	if (!isfinite(x) || !isfinite(y))
		return ES_PLACE_OUTSIDE;
	if (!p->f)
		return ES_PLACE_OK;
	unsigned c, r;
	if (es_floor_cell_at(p->f, x, y, &c, &r) < 0)
		return ES_PLACE_OUTSIDE;
	if (!es_floor_walkable(p->f, x, y))
		return ES_PLACE_BLOCKED;
	int room = es_floor_room_at(p->f, x, y);
	if (room >= 0 && room != from_room) {
		enum es_place_verdict v = room_shut(p, room);
		if (v != ES_PLACE_OK)
			return v;
	}
	int d = es_floor_desk_at(p->f, x, y);
	if (d >= 0 && (unsigned)d < p->ndesks) {
		if (p->occupant[d] >= 0 && p->occupant[d] != self)
			return ES_PLACE_DESK_TAKEN;
		if (seating && p->owned[d] && d != own_desk)
			return ES_PLACE_DESK_OWNED;
	}
	return ES_PLACE_OK;
}

void es_places_sit(struct es_places *p, unsigned self, int *desk, float x, float y)
{
	int d = p->f ? es_floor_desk_at(p->f, x, y) : -1;
	if (d >= 0 && (unsigned)d >= p->ndesks)
		d = -1;
	if (*desk == d)
		return;
	es_places_leave(p, self, desk);
	if (d >= 0 && p->occupant[d] < 0) {
		p->occupant[d] = (int)self;
		*desk = d;
	}
}

void es_places_leave(struct es_places *p, unsigned self, int *desk)
{
	if (*desk >= 0 && (unsigned)*desk < p->ndesks && p->occupant[*desk] == (int)self)
		p->occupant[*desk] = -1;
	*desk = -1;
}

unsigned es_places_desk_count(const struct es_places *p)
{
	return p->ndesks;
}

int es_places_occupant(const struct es_places *p, unsigned desk)
{
	return desk < p->ndesks ? p->occupant[desk] : -1;
}

bool es_places_owned(const struct es_places *p, unsigned desk)
{
	return desk < p->ndesks && p->owned[desk];
}

void es_places_own(struct es_places *p, unsigned desk, bool owned)
{
	if (desk < p->ndesks)
		p->owned[desk] = owned;
}

void es_places_disown_all(struct es_places *p)
{
	memset(p->owned, 0, p->ndesks ? p->ndesks : 1);
}

int es_places_free_desk(const struct es_places *p)
{
	for (unsigned i = 0; i < p->ndesks; i++) {
		float x, y;
		if (p->owned[i] || p->occupant[i] >= 0 || es_floor_desk(p->f, i, &x, &y, NULL) < 0)
			continue;
		if (es_places_enterable(p, x, y))
			return (int)i;
	}
	return -1;
}
