/* SPDX-License-Identifier: MIT */
/*
 * A new floor plan (SIGHUP): who keeps their place, and where those whose
 * place is gone go (their own desk, the nearest free desk, the nearest free
 * walkable cell).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server-private.h"

#define RELOCATE_GREEDY_MAX 16

static const char *room_name_at(const struct es_floor *f, float x, float y)
{
	int room = f ? es_floor_room_at(f, x, y) : -1;
	return room < 0 ? NULL : es_floor_room_name(f, (unsigned)room);
}

/* Someone other than `self` stands on the cell (c,r) of f. */
static bool cell_taken(const struct es_server *s, const struct es_floor *f, unsigned self, unsigned c, unsigned r)
{
	for (unsigned i = 0; i < s->cfg.max_people; i++) {
		const struct person *o = &s->people[i];
		unsigned oc, orow;
		if (i != self && o->used &&
		    es_floor_cell_at(f, (float)o->pos.x_cm / 100.0f, (float)o->pos.y_cm / 100.0f, &oc, &orow) == 0 &&
		    oc == c && orow == r)
			return true;
	}
	return false;
}

/*
 * Where to put someone whose place vanished: `own` (their desk on the new
 * floor, -1 none) if it is free, else the nearest free desk, else the
 * nearest free walkable cell, searched in growing squares around where
 * they were.  Only places one may walk into count (not behind a closed
 * door).  -1 desk and false if the floor has no such place at all.
 */
bool srv_find_place(const struct es_server *s, const struct es_floor *f, unsigned self, int own, float x, float y,
		       float *ox, float *oy, int *odesk)
{
	float dx, dy;
	*odesk = -1;
	if (own >= 0 && es_places_occupant(s->places, (unsigned)own) < 0 &&
	    es_floor_desk(f, (unsigned)own, &dx, &dy, NULL) == 0) {
		*ox = dx, *oy = dy, *odesk = own;
		return true;
	}
	float best = INFINITY;
	for (unsigned i = 0; i < es_places_desk_count(s->places); i++) {
		/* nobody's own desk but theirs: the others are kept for their owners */
		if (es_places_occupant(s->places, i) >= 0 || (es_places_owned(s->places, i) && (int)i != own) ||
		    es_floor_desk(f, i, &dx, &dy, NULL) < 0 || !es_places_enterable(s->places, dx, dy))
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
			    !es_places_enterable(s->places, cx, cy) ||
			    cell_taken(s, f, self, (unsigned)c, (unsigned)r))
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

int es_server_set_floor(struct es_server *s, struct es_floor *f)
{
	const struct es_floor *old = s->cfg.floor;
	int *own = calloc(s->cfg.max_people, sizeof(*own));
	uint8_t *why = calloc(s->cfg.max_people, 1);
	if (!own || !why) {
		free(own);
		free(why);
		return -ENOMEM;
	}
	enum { STAYS, WALL, DESK_GONE, DESK_MOVED, ROOM_GONE };
	static const char *const reason[] = {"", "is now a wall, a table or outside the floor",
					     "was at a desk that is gone", "was at a desk that moved",
					     "was in a room that is gone or changed"};
	/*
	 * First see who keeps their place, so that those who must move are
	 * sent only to desks and cells nobody keeps.
	 */
	for (unsigned i = 0; i < s->cfg.max_people; i++) {
		struct person *q = &s->people[i];
		own[i] = -1;
		if (!q->used)
			continue;
		float x = (float)q->pos.x_cm / 100.0f, y = (float)q->pos.y_cm / 100.0f;
		int od = q->desk >= 0 ? q->desk : es_floor_desk_at(old, x, y);
		const char *label = NULL;
		if (od >= 0 && old)
			(void)es_floor_desk(old, (unsigned)od, NULL, NULL, &label);
		own[i] = f && label ? es_floor_desk_find(f, label) : -1;
		const char *ro = room_name_at(old, x, y), *rn = room_name_at(f, x, y);
		if (!f)
			why[i] = STAYS;
		else if (!es_floor_walkable(f, x, y))
			why[i] = WALL;
		else if (label && own[i] < 0)
			why[i] = DESK_GONE;
		else if (label && es_floor_desk_at(f, x, y) != own[i])
			why[i] = DESK_MOVED;
		else if ((ro || rn) && (!ro || !rn || strcmp(ro, rn) != 0))
			why[i] = ROOM_GONE;
		else
			why[i] = STAYS;
	}
	/* desks owned and rooms locked carry over by label and name; who sits where is seen again */
	if (es_places_set_floor(s->places, f) < 0) {
		free(own);
		free(why);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < s->cfg.max_people; i++) {
		struct person *q = &s->people[i];
		q->desk = -1;
		if (q->used && why[i] == STAYS)
			es_places_sit(s->places, i, &q->desk, pos_x(&q->pos), pos_y(&q->pos));
	}
	s->cfg.floor = f;
	s->ndoors_pending = 0; /* the old floor's doors: everyone is sent the new plan's below */
	es_engine_set_floor(s->engine, f); /* rooms are looked up again here */
	/*
	 * Nearest first: of those still to move, the one whose best place is
	 * nearest goes first (their own desk counts as nearest of all), so
	 * one who must move far does not take the desk right next to another.
	 * Beyond RELOCATE_GREEDY_MAX of them (a very different plan), in id
	 * order: the greedy choice costs movers^2 x desks.
	 */
	unsigned left = 0;
	for (unsigned i = 0; i < s->cfg.max_people; i++)
		left += s->people[i].used && why[i] != STAYS;
	bool greedy = left <= RELOCATE_GREEDY_MAX;
	int moved = 0;
	while (left > 0) {
		int pick = -1, pdesk = -1;
		float pbest = INFINITY, px = 0, py = 0;
		for (unsigned i = 0; i < s->cfg.max_people; i++) {
			struct person *q = &s->people[i];
			if (!q->used || why[i] == STAYS)
				continue;
			float x = (float)q->pos.x_cm / 100.0f, y = (float)q->pos.y_cm / 100.0f, nx, ny;
			int desk;
			if (!srv_find_place(s, f, i, own[i], x, y, &nx, &ny, &desk)) {
				srv_logf("warn", "reload: %s %s, and the new floor has no free place to move them to",
				      q->name, reason[why[i]]);
				q->desk = -1;
				why[i] = STAYS;
				left--;
				continue;
			}
			float dist = desk >= 0 && desk == own[i] ? -1.0f : hypotf(nx - x, ny - y);
			if (dist < pbest) {
				pick = (int)i, pbest = dist, px = nx, py = ny, pdesk = desk;
				if (!greedy)
					break;
			}
		}
		if (pick < 0)
			break;
		unsigned i = (unsigned)pick;
		struct person *q = &s->people[i];
		float x = (float)q->pos.x_cm / 100.0f, y = (float)q->pos.y_cm / 100.0f;
		unsigned cause = why[i];
		why[i] = STAYS;
		left--;
		q->desk = -1;
		struct es_pos pos = {(int32_t)lrintf(px * 100.0f), (int32_t)lrintf(py * 100.0f), q->pos.facing};
		if (pos.x_cm == q->pos.x_cm && pos.y_cm == q->pos.y_cm) {
			/* the room around them went, the spot is fine and no desk is free */
			srv_logf("info", "reload: %s %s; stays at %.2f,%.2f, the nearest free place", q->name, reason[cause],
			      (double)x, (double)y);
			es_places_sit(s->places, i, &q->desk, x, y);
			continue;
		}
		if (es_engine_move(s->engine, i, px, py, pos_facing_rad(&pos)) < 0)
			continue;
		q->pos = pos;
		es_places_sit(s->places, i, &q->desk, px, py);
		q->dirty = true;
		const char *label = NULL;
		if (pdesk >= 0)
			(void)es_floor_desk(f, (unsigned)pdesk, NULL, NULL, &label);
		srv_logf("info", "reload: %s %s; moved from %.2f,%.2f to %.2f,%.2f%s%s", q->name, reason[cause], (double)x,
		      (double)y, (double)px, (double)py, label ? " at desk " : "", label ? label : "");
		struct peer_slot *slot = q->peer->data;
		if (s->cfg.hooks && s->cfg.hooks->place)
			s->cfg.hooks->place(s->cfg.hooks->ud, slot->key, q->name, q->pos.x_cm, q->pos.y_cm, q->pos.facing);
		srv_tell_admin(s, i, ES_ADMIN_MOVED);
		moved++;
	}
	/* clients that draw the floor get the new plan and its doors */
	s->floor_version++;
	for (unsigned i = 0; f && i < s->cfg.max_people; i++)
		if (s->people[i].used && s->people[i].roster) {
			s->people[i].floor_sent = s->floor_version + 1;
			srv_send_floor(s, s->people[i].peer);
		}
	s->c.relocated += (uint64_t)moved;
	free(own);
	free(why);
	return moved;
}
