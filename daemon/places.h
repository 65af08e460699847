/* SPDX-License-Identifier: MIT */
/*
 * Where people may be on the floor: who sits at each desk now, which
 * desks are someone's own (reserved while they are away), which rooms an
 * admin locked, and the one check every place must pass, whoever asks for
 * it (a HELLO's --at, a remembered place, a walk, an admin's move).
 *
 * The rules (issue 14, a team's first day):
 *  - a place is on the floor, walkable (not a wall or a table), and not
 *    inside a room whose doors are all closed or that an admin locked,
 *    unless one is already inside that room;
 *  - two people never stand at one desk;
 *  - the server never seats anyone (a join) at a desk that is someone
 *    else's own; walking over to an absent colleague's desk is allowed;
 *  - a person's own desk is given once, at their first join, from the
 *    free desks nobody owns, in the plan's reading order, and kept.
 *
 * Pure bookkeeping over a borrowed floor: no clock, no I/O, no locks (the
 * server's tick thread owns it).  People are the server's ids.
 */
#ifndef EARSHOT_PLACES_H
#define EARSHOT_PLACES_H

#include <stdbool.h>
#include <stdint.h>

struct es_floor;
struct es_places;

/* A table for floor f (borrowed; NULL: open space, no desks or rooms).  NULL with errno. */
struct es_places *es_places_new(const struct es_floor *f);
void es_places_free(struct es_places *p);

/*
 * The same table for another floor (a reload): desks owned and rooms
 * locked carry over by label and room name; nobody sits anywhere until
 * es_places_sit().  0 or -ENOMEM (p unchanged).
 */
__attribute__((warn_unused_result)) int es_places_set_floor(struct es_places *p, const struct es_floor *f);
const struct es_floor *es_places_floor(const struct es_places *p);

enum es_place_verdict {
	ES_PLACE_OK = 0,
	ES_PLACE_OUTSIDE,     /* off the floor (or not a number) */
	ES_PLACE_BLOCKED,     /* a wall or a table */
	ES_PLACE_CLOSED_ROOM, /* inside a room with every door closed, from outside it */
	ES_PLACE_LOCKED_ROOM, /* inside a room an admin closed, from outside it */
	ES_PLACE_DESK_TAKEN,  /* someone else sits at that desk */
	ES_PLACE_DESK_OWNED,  /* someone else's own desk (only when seating) */
};

/* "outside the floor", "a wall or a table", ... for log lines and replies. */
const char *es_place_verdict_text(enum es_place_verdict v);

/*
 * May person `self` be at (x,y) (metres)?  from_room is the room they are
 * in now (-1: none, or not on the floor yet).  own_desk is their own desk
 * (-1 none).  seating: a join, so another's own desk is refused too.
 */
enum es_place_verdict es_places_check(const struct es_places *p, int self, int from_room, int own_desk, float x,
				      float y, bool seating);

/* Someone is at (x,y) now: they leave the desk they held (*desk) and take the one there, if free.  *desk: -1 or a desk. */
void es_places_sit(struct es_places *p, unsigned self, int *desk, float x, float y);
/* They left the floor. */
void es_places_leave(struct es_places *p, unsigned self, int *desk);

unsigned es_places_desk_count(const struct es_places *p);
int es_places_occupant(const struct es_places *p, unsigned desk); /* person id, or -1 */
bool es_places_owned(const struct es_places *p, unsigned desk);
void es_places_own(struct es_places *p, unsigned desk, bool owned);
void es_places_disown_all(struct es_places *p);

/*
 * A desk to give someone as their own: the first in reading order that
 * nobody owns, nobody sits at, and that may be entered.  -1 if none.
 */
int es_places_free_desk(const struct es_places *p);

/* A room an admin closed: people's DOOR requests cannot open it.  Out of range: false / no-op. */
bool es_places_room_locked(const struct es_places *p, unsigned room);
void es_places_lock_room(struct es_places *p, unsigned room, bool locked);

/* May a person be put here (a reload, a fallback seat): open space, or a room with an open door and no lock. */
bool es_places_enterable(const struct es_places *p, float x, float y);

#endif
