/* SPDX-License-Identifier: MIT */
/*
 * Relocation: where people go when a new floor plan (SIGHUP) takes their
 * place away, and where a newcomer goes when the place they ask for is
 * not free.  Pure: a floor, the places table (places.h) and people's
 * positions in, decisions out; no ENet, no clock, no I/O.  The server
 * (server.c) applies the decisions: the mixer, presence, memory, clients.
 */
#ifndef EARSHOT_RELOCATE_H
#define EARSHOT_RELOCATE_H

#include <stdbool.h>
#include <stdint.h>

struct es_floor;
struct es_places;

/* Why someone must move on a new floor (ES_RELOC_STAYS: they need not). */
enum es_relocate_why {
	ES_RELOC_STAYS = 0,
	ES_RELOC_WALL,       /* their spot is now a wall, a table or outside the floor */
	ES_RELOC_DESK_GONE,  /* they sat at a desk the new plan does not have */
	ES_RELOC_DESK_MOVED, /* their desk (by label) is elsewhere now */
	ES_RELOC_ROOM_GONE,  /* the room they were in is gone or changed */
};

/* "is now a wall, a table or outside the floor", ... ("" for STAYS), for the log. */
const char *es_relocate_why_text(enum es_relocate_why w);

/*
 * Someone at (x,y) metres, at desk `desk` of the old floor (-1: none; then
 * the desk under them, if any, counts), and the new floor f (NULL: open
 * space, everyone stays).  *own gets the desk of f with the same label
 * (-1 none).  old may be NULL.
 */
enum es_relocate_why es_relocate_classify(const struct es_floor *old, const struct es_floor *f, float x, float y,
					  int desk, int *own);

/* Is cell (c,r) of the floor taken by someone other than `self`?  The caller's view of the people. */
struct es_relocate_crowd {
	const void *ud;
	bool (*taken)(const void *ud, unsigned self, unsigned c, unsigned r);
};

/*
 * A free place for `self` near (x,y) on f (the table p must be for f):
 * `own` (their desk on f, -1 none) if nobody sits there, else the nearest
 * desk nobody sits at or owns, else the nearest walkable cell that is no
 * door, no desk and not taken, searched in growing rings.  Only places
 * one may be put (es_places_enterable) count.  True and *ox,*oy (and
 * *odesk, or -1 for a cell) filled; false if f has no such place.
 */
bool es_relocate_find_place(const struct es_places *p, const struct es_floor *f, const struct es_relocate_crowd *crowd,
			    unsigned self, int own, float x, float y, float *ox, float *oy, int *odesk);

/* One person, as the planner sees them: caller-owned, n of them, indexed by person id. */
struct es_relocate_person {
	bool used;
	int32_t x_cm, y_cm; /* where they are; the planner writes where they go */
	int own;     /* their desk on the new floor (es_relocate_classify), -1 none */
	uint8_t why; /* enum es_relocate_why; the planner sets it to STAYS once decided */
};

enum es_relocate_outcome {
	ES_RELOC_MOVED,   /* to (x,y), at desk `desk` or -1 */
	ES_RELOC_IN_PLACE, /* the nearest free place is where they are: they stay, seated again there */
	ES_RELOC_NOWHERE, /* the new floor has no free place for them: they stay, at no desk */
};

struct es_relocate_step {
	unsigned id;
	uint8_t why;     /* enum es_relocate_why: the cause */
	uint8_t outcome; /* enum es_relocate_outcome */
	float from_x, from_y; /* metres, where they were */
	float x, y;           /* metres, where they go (for the mixer) */
	int32_t x_cm, y_cm;   /* the same, as presence and the wire carry it */
	int desk;             /* the desk there, -1 none */
};

/*
 * Decide where everyone whose why is not STAYS goes, on f, with p already
 * set to f and those who stay seated in it.  Nearest first: of those still
 * to move, the one whose best place is nearest goes first (their own desk
 * counts as nearest of all), so one who must move far does not take the
 * desk right next to another; beyond ES_RELOCATE_GREEDY_MAX movers, in id
 * order (the greedy choice costs movers^2 x desks).  Each decision seats
 * them in p and moves them in people[] before the next is made.  steps
 * (n of them, caller-owned) get the decisions in order; returns how many.
 */
#define ES_RELOCATE_GREEDY_MAX 16
unsigned es_relocate_plan(struct es_places *p, const struct es_floor *f, struct es_relocate_person *people, unsigned n,
			  struct es_relocate_step *steps);

#endif
