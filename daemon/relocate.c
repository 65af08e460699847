/* SPDX-License-Identifier: MIT */
/*
 * Relocation after a new floor plan, and the fallback seat of a newcomer
 * (relocate.h).  Pure: no ENet, no clock, no I/O.
 */
#include <math.h>
#include <string.h>

#include "earshot-mixer.h"
#include "places.h"
#include "relocate.h"

const char *es_relocate_why_text(enum es_relocate_why w)
{
	static const char *const text[] = {"", "is now a wall, a table or outside the floor",
					   "was at a desk that is gone", "was at a desk that moved",
					   "was in a room that is gone or changed"};
	return (unsigned)w < sizeof(text) / sizeof(text[0]) ? text[w] : "?";
}

static const char *room_name_at(const struct es_floor *f, float x, float y)
{
	int room = f ? es_floor_room_at(f, x, y) : -1;
	return room < 0 ? NULL : es_floor_room_name(f, (unsigned)room);
}

enum es_relocate_why es_relocate_classify(const struct es_floor *old, const struct es_floor *f, float x, float y,
					  int desk, int *own)
{
	int od = desk >= 0 ? desk : old ? es_floor_desk_at(old, x, y) : -1;
	const char *label = NULL;
	if (od >= 0 && old)
		(void)es_floor_desk(old, (unsigned)od, NULL, NULL, &label);
	*own = f && label ? es_floor_desk_find(f, label) : -1;
	if (*own < 0)
		*own = -1; /* -ENOENT: no desk of that label */
	const char *ro = room_name_at(old, x, y), *rn = room_name_at(f, x, y);
	if (!f)
		return ES_RELOC_STAYS;
	if (!es_floor_walkable(f, x, y))
		return ES_RELOC_WALL;
	if (label && *own < 0)
		return ES_RELOC_DESK_GONE;
	if (label && es_floor_desk_at(f, x, y) != *own)
		return ES_RELOC_DESK_MOVED;
	if ((ro || rn) && (!ro || !rn || strcmp(ro, rn) != 0))
		return ES_RELOC_ROOM_GONE;
	return ES_RELOC_STAYS;
}

bool es_relocate_find_place(const struct es_places *p, const struct es_floor *f, const struct es_relocate_crowd *crowd,
			    unsigned self, int own, float x, float y, float *ox, float *oy, int *odesk)
{
	float dx, dy;
	*odesk = -1;
	if (own >= 0 && es_places_occupant(p, (unsigned)own) < 0 && es_floor_desk(f, (unsigned)own, &dx, &dy, NULL) == 0) {
		*ox = dx, *oy = dy, *odesk = own;
		return true;
	}
	float best = INFINITY;
	for (unsigned i = 0; i < es_places_desk_count(p); i++) {
		/* nobody's own desk but theirs: the others are kept for their owners */
		if (es_places_occupant(p, i) >= 0 || (es_places_owned(p, i) && (int)i != own) ||
		    es_floor_desk(f, i, &dx, &dy, NULL) < 0 || !es_places_enterable(p, dx, dy))
			continue;
		float d = hypotf(dx - x, dy - y);
		if (d < best)
			best = d, *ox = dx, *oy = dy, *odesk = (int)i;
	}
	if (*odesk >= 0)
		return true;
	/* the cell nearest to (x,y), clamped into the grid */
	float sc = es_floor_scale(f);
	long cols = (long)es_floor_cols(f), rows = (long)es_floor_rows(f);
	long c0 = isfinite(x) ? lrintf(x / sc - 0.5f) : 0;
	long r0 = isfinite(y) ? rows - 1 - lrintf(y / sc - 0.5f) : 0;
	c0 = c0 < 0 ? 0 : c0 >= cols ? cols - 1 : c0;
	r0 = r0 < 0 ? 0 : r0 >= rows ? rows - 1 : r0;
	long maxr = cols > rows ? cols : rows;
	for (long rad = 0; rad <= maxr; rad++) {
		bool found = false;
		/* the ring of this radius only: its top and bottom rows, then its sides */
		for (long k = 0; k < (rad ? 8 * rad : 1); k++) {
			long side = 2 * rad + 1, r, c;
			if (k < side)
				r = r0 - rad, c = c0 - rad + k;
			else if (k < 2 * side)
				r = r0 + rad, c = c0 - rad + (k - side);
			else if (k < 2 * side + (side - 2))
				r = r0 - rad + 1 + (k - 2 * side), c = c0 - rad;
			else
				r = r0 - rad + 1 + (k - 2 * side - (side - 2)), c = c0 + rad;
			if (r < 0 || c < 0 || r >= rows || c >= cols)
				continue;
			float cx, cy;
			es_floor_cell_center(f, (unsigned)c, (unsigned)r, &cx, &cy);
			if (!es_floor_walkable(f, cx, cy) || es_floor_door_at(f, cx, cy) >= 0 || es_floor_desk_at(f, cx, cy) >= 0 ||
			    !es_places_enterable(p, cx, cy) ||
			    (crowd && crowd->taken(crowd->ud, self, (unsigned)c, (unsigned)r)))
				continue;
			float d = hypotf(cx - x, cy - y);
			if (d < best)
				best = d, *ox = cx, *oy = cy, found = true;
		}
		if (found) /* a ring further out cannot be nearer by more than a cell: good enough */
			return true;
	}
	return false;
}

struct plan_crowd {
	const struct es_floor *f;
	const struct es_relocate_person *people;
	unsigned n;
};

/* Someone other than `self` stands on the cell (c,r), as the planner has them now. */
static bool plan_taken(const void *ud, unsigned self, unsigned c, unsigned r)
{
	const struct plan_crowd *pc = ud;
	for (unsigned i = 0; i < pc->n; i++) {
		const struct es_relocate_person *o = &pc->people[i];
		unsigned oc, orow;
		if (i != self && o->used &&
		    es_floor_cell_at(pc->f, (float)o->x_cm / 100.0f, (float)o->y_cm / 100.0f, &oc, &orow) == 0 && oc == c &&
		    orow == r)
			return true;
	}
	return false;
}

unsigned es_relocate_plan(struct es_places *p, const struct es_floor *f, struct es_relocate_person *people, unsigned n,
			  struct es_relocate_step *steps)
{
	struct plan_crowd pc = {f, people, n};
	struct es_relocate_crowd crowd = {&pc, plan_taken};
	unsigned left = 0, nsteps = 0;
	for (unsigned i = 0; i < n; i++)
		left += people[i].used && people[i].why != ES_RELOC_STAYS;
	bool greedy = left <= ES_RELOCATE_GREEDY_MAX;
	while (left > 0 && f) {
		int pick = -1, pdesk = -1;
		float pbest = INFINITY, px = 0, py = 0;
		for (unsigned i = 0; i < n; i++) {
			struct es_relocate_person *q = &people[i];
			if (!q->used || q->why == ES_RELOC_STAYS)
				continue;
			float x = (float)q->x_cm / 100.0f, y = (float)q->y_cm / 100.0f, nx, ny;
			int desk;
			if (!es_relocate_find_place(p, f, &crowd, i, q->own, x, y, &nx, &ny, &desk)) {
				steps[nsteps++] = (struct es_relocate_step){.id = i, .why = q->why, .outcome = ES_RELOC_NOWHERE,
									    .from_x = x, .from_y = y, .x = x, .y = y,
									    .x_cm = q->x_cm, .y_cm = q->y_cm, .desk = -1};
				q->why = ES_RELOC_STAYS;
				left--;
				continue;
			}
			float dist = desk >= 0 && desk == q->own ? -1.0f : hypotf(nx - x, ny - y);
			if (dist < pbest) {
				pick = (int)i, pbest = dist, px = nx, py = ny, pdesk = desk;
				if (!greedy)
					break;
			}
		}
		if (pick < 0)
			break;
		unsigned i = (unsigned)pick;
		struct es_relocate_person *q = &people[i];
		float x = (float)q->x_cm / 100.0f, y = (float)q->y_cm / 100.0f;
		struct es_relocate_step *st = &steps[nsteps++];
		*st = (struct es_relocate_step){.id = i, .why = q->why, .from_x = x, .from_y = y, .x = px, .y = py,
						.x_cm = (int32_t)lrintf(px * 100.0f), .y_cm = (int32_t)lrintf(py * 100.0f),
						.desk = pdesk};
		q->why = ES_RELOC_STAYS;
		left--;
		int desk = -1;
		if (st->x_cm == q->x_cm && st->y_cm == q->y_cm) {
			/* the room around them went, the spot is fine and no desk is free */
			st->outcome = ES_RELOC_IN_PLACE;
			st->x = x, st->y = y;
			es_places_sit(p, i, &desk, x, y);
			st->desk = desk;
			continue;
		}
		st->outcome = ES_RELOC_MOVED;
		q->x_cm = st->x_cm, q->y_cm = st->y_cm;
		es_places_sit(p, i, &desk, px, py);
		st->desk = desk;
	}
	return nsteps;
}
