/* SPDX-License-Identifier: MIT */
/*
 * Relocation after a new floor plan (daemon/relocate.h), without ENet or a
 * server: why each person must move, where the planner sends them and in
 * which order, the crowd and owned desks respected, nobody left on a wall
 * or sharing a cell, and those with nowhere to go told so.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "earshot-mixer.h"
#include "places.h"
#include "relocate.h"
#include "test.h"

/* 12 x 7 cells of 1 m: three desks in the north, the room "Orion" in the south behind an open door */
static const char OLD[] = "earshot-floor 1\nname \"Old\"\nscale 1\ngrid\n"
			  "+----------+\n"
			  "|o.o.o.....|\n"
			  "|..........|\n"
			  "|..........|\n"
			  "+---/------+\n"
			  "|.M........|\n"
			  "+----------+\n"
			  "end\nroom M \"Orion\" meeting\ndesks A 1 1 10 1\ndoor 4 4 open\n";
/* A2 gone, A3 moved east, a new desk B1 where A3 was, a table where (5,3) was floor, the room renamed */
static const char NEW[] = "earshot-floor 1\nname \"New\"\nscale 1\ngrid\n"
			  "+----------+\n"
			  "|o...o.o...|\n"
			  "|..........|\n"
			  "|....==....|\n"
			  "+---/------+\n"
			  "|.N........|\n"
			  "+----------+\n"
			  "end\nroom N \"Vega\" meeting\ndesk A1 1 1\ndesk B1 5 1\ndesk A3 7 1\ndoor 4 4 open\n";
/* one free cell */
static const char TINY[] = "earshot-floor 1\nscale 1\ngrid\n+-+\n|.|\n+-+\nend\n";

static struct es_floor *parse(const char *text)
{
	struct es_floor_error err;
	struct es_floor *f = es_floor_parse(text, strlen(text), &err);
	check(f != NULL);
	return f;
}

static void cell(const struct es_floor *f, unsigned c, unsigned r, int32_t *x_cm, int32_t *y_cm)
{
	float x, y;
	es_floor_cell_center(f, c, r, &x, &y);
	*x_cm = (int32_t)lrintf(x * 100.0f);
	*y_cm = (int32_t)lrintf(y * 100.0f);
}

static int desk_of(const struct es_floor *f, const char *label)
{
	int d = es_floor_desk_find(f, label);
	check(d >= 0);
	return d;
}

/* the reasons, one person each */
static void classify(const struct es_floor *old, const struct es_floor *nf)
{
	int own;
	float x, y;
	check_int_eq(es_floor_desk(old, (unsigned)desk_of(old, "A1"), &x, &y, NULL), 0);
	check_int_eq(es_relocate_classify(old, nf, x, y, desk_of(old, "A1"), &own), ES_RELOC_STAYS);
	check_int_eq(own, desk_of(nf, "A1"));
	check_int_eq(es_floor_desk(old, (unsigned)desk_of(old, "A2"), &x, &y, NULL), 0);
	check_int_eq(es_relocate_classify(old, nf, x, y, -1, &own), ES_RELOC_DESK_GONE); /* the desk under them counts */
	check_int_eq(own, -1);
	check_int_eq(es_floor_desk(old, (unsigned)desk_of(old, "A3"), &x, &y, NULL), 0);
	check_int_eq(es_relocate_classify(old, nf, x, y, desk_of(old, "A3"), &own), ES_RELOC_DESK_MOVED);
	check_int_eq(own, desk_of(nf, "A3"));
	check_int_eq(es_relocate_classify(old, nf, 5.5f, 3.5f, -1, &own), ES_RELOC_WALL); /* now a table */
	check_int_eq(es_relocate_classify(old, nf, 50.0f, 3.5f, -1, &own), ES_RELOC_WALL); /* outside */
	check_int_eq(es_relocate_classify(old, nf, 3.5f, 1.5f, -1, &own), ES_RELOC_ROOM_GONE);
	check_int_eq(es_relocate_classify(old, nf, 8.5f, 4.5f, -1, &own), ES_RELOC_STAYS); /* open floor */
	check_int_eq(es_relocate_classify(old, NULL, 5.5f, 3.5f, -1, &own), ES_RELOC_STAYS); /* open space */
	check_int_eq(es_relocate_classify(NULL, nf, 8.5f, 4.5f, -1, &own), ES_RELOC_STAYS);
	check(strcmp(es_relocate_why_text(ES_RELOC_WALL), "is now a wall, a table or outside the floor") == 0);
	check(strcmp(es_relocate_why_text(ES_RELOC_STAYS), "") == 0);
}

/* five people, each reason, and the order: own desk first, then the nearest */
static void plan(const struct es_floor *old, const struct es_floor *nf)
{
	struct es_relocate_person p[5] = {0};
	cell(old, 1, 1, &p[0].x_cm, &p[0].y_cm); /* at A1: stays */
	cell(old, 3, 1, &p[1].x_cm, &p[1].y_cm); /* at A2: gone */
	cell(old, 5, 1, &p[2].x_cm, &p[2].y_cm); /* at A3: moved to col 7 */
	cell(old, 5, 3, &p[3].x_cm, &p[3].y_cm); /* a table now */
	cell(old, 3, 5, &p[4].x_cm, &p[4].y_cm); /* in Orion, now Vega */
	struct es_places *pl = es_places_new(nf);
	check(pl != NULL);
	for (unsigned i = 0; i < 5; i++) {
		p[i].used = true;
		p[i].why = (uint8_t)es_relocate_classify(old, nf, p[i].x_cm / 100.0f, p[i].y_cm / 100.0f, -1, &p[i].own);
	}
	check_int_eq(p[0].why, ES_RELOC_STAYS);
	int d0 = -1;
	es_places_sit(pl, 0, &d0, p[0].x_cm / 100.0f, p[0].y_cm / 100.0f);
	check_int_eq(d0, desk_of(nf, "A1"));
	struct es_relocate_step st[5];
	unsigned n = es_relocate_plan(pl, nf, p, 5, st);
	check_int_eq(n, 4);
	/* p2 first: their own desk, wherever it went */
	check_int_eq(st[0].id, 2);
	check_int_eq(st[0].why, ES_RELOC_DESK_MOVED);
	check_int_eq(st[0].outcome, ES_RELOC_MOVED);
	check_int_eq(st[0].desk, desk_of(nf, "A3"));
	check_int_eq(es_places_occupant(pl, (unsigned)desk_of(nf, "A3")), 2);
	/* p1 and p3 are both 2 m from B1: the lower id takes it (p1) */
	check_int_eq(st[1].id, 1);
	check_int_eq(st[1].desk, desk_of(nf, "B1"));
	check_near(st[1].x, 5.5f, 1e-4);
	check_near(st[1].y, 5.5f, 1e-4);
	/* no desk left: p4's spot in the renamed room is the nearest free place */
	check_int_eq(st[2].id, 4);
	check_int_eq(st[2].why, ES_RELOC_ROOM_GONE);
	check_int_eq(st[2].outcome, ES_RELOC_IN_PLACE);
	/* p3 goes to the nearest free cell north of the table, not onto it */
	check_int_eq(st[3].id, 3);
	check_int_eq(st[3].outcome, ES_RELOC_MOVED);
	check_int_eq(st[3].desk, -1);
	check_int_eq(st[3].x_cm, 550);
	check_int_eq(st[3].y_cm, 450);
	check(es_floor_walkable(nf, st[3].x, st[3].y));
	check_int_eq(p[3].x_cm, 550); /* the planner's view moved with them */
	for (unsigned i = 0; i < 5; i++)
		check_int_eq(p[i].why, ES_RELOC_STAYS);
	es_places_free(pl);
}

/* owned desks are kept for their owners, a taken cell is skipped, a closed room is not entered */
static bool taken_52(const void *ud, unsigned self, unsigned c, unsigned r)
{
	(void)ud;
	(void)self;
	return c == 5 && r == 2;
}

static void find_place(struct es_floor *nf)
{
	struct es_places *pl = es_places_new(nf);
	check(pl != NULL);
	float x, y;
	int desk;
	/* B1 is someone else's own: not offered; A3 (theirs) is */
	es_places_own(pl, (unsigned)desk_of(nf, "B1"), true);
	check(es_relocate_find_place(pl, nf, NULL, 0, -1, 5.5f, 5.5f, &x, &y, &desk));
	check(desk != desk_of(nf, "B1"));
	check(es_relocate_find_place(pl, nf, NULL, 0, desk_of(nf, "A3"), 1.5f, 1.5f, &x, &y, &desk));
	check_int_eq(desk, desk_of(nf, "A3"));
	/* all desks taken: cells; the crowd's cell is skipped */
	int d[3] = {-1, -1, -1};
	es_places_sit(pl, 1, &d[0], 1.5f, 5.5f);
	es_places_sit(pl, 2, &d[1], 5.5f, 5.5f);
	es_places_sit(pl, 3, &d[2], 7.5f, 5.5f);
	struct es_relocate_crowd crowd = {NULL, taken_52};
	check(es_relocate_find_place(pl, nf, NULL, 0, -1, 5.5f, 3.5f, &x, &y, &desk));
	check_int_eq(desk, -1);
	check_near(x, 5.5f, 1e-4);
	check_near(y, 4.5f, 1e-4);
	check(es_relocate_find_place(pl, nf, &crowd, 0, -1, 5.5f, 3.5f, &x, &y, &desk));
	check(!(fabsf(x - 5.5f) < 0.01f && fabsf(y - 4.5f) < 0.01f));
	check(es_floor_walkable(nf, x, y));
	/* the room's door closed: a place inside it is not offered */
	check_int_eq(es_floor_door_set_open(nf, 0, false), 0);
	check(es_relocate_find_place(pl, nf, NULL, 0, -1, 3.5f, 1.5f, &x, &y, &desk));
	check(es_floor_room_at(nf, x, y) < 0);
	check_int_eq(es_floor_door_set_open(nf, 0, true), 0);
	es_places_free(pl);
}

/* more movers than the greedy order takes (id order then): still nobody shares a cell or a desk, nobody in a wall */
static void many(const struct es_floor *old, const struct es_floor *nf)
{
	enum { N = 24 };
	struct es_relocate_person p[N] = {0};
	struct es_relocate_step st[N];
	struct es_places *pl = es_places_new(nf);
	check(pl != NULL);
	for (unsigned i = 0; i < N; i++) {
		p[i] = (struct es_relocate_person){.used = true, .x_cm = 5000 + 100 * (int32_t)i, .y_cm = 5000, .own = -1};
		p[i].why = (uint8_t)es_relocate_classify(old, nf, p[i].x_cm / 100.0f, p[i].y_cm / 100.0f, -1, &p[i].own);
		check_int_eq(p[i].why, ES_RELOC_WALL);
	}
	check(N > ES_RELOCATE_GREEDY_MAX);
	unsigned n = es_relocate_plan(pl, nf, p, N, st);
	check_int_eq(n, N);
	unsigned desks = 0;
	for (unsigned k = 0; k < n; k++) {
		check_int_eq(st[k].id, k); /* id order */
		check_int_eq(st[k].outcome, ES_RELOC_MOVED);
		check(es_floor_walkable(nf, st[k].x, st[k].y));
		desks += st[k].desk >= 0;
		unsigned c, r, c2, r2;
		check_int_eq(es_floor_cell_at(nf, st[k].x, st[k].y, &c, &r), 0);
		for (unsigned j = 0; j < k; j++) {
			check_int_eq(es_floor_cell_at(nf, st[j].x, st[j].y, &c2, &r2), 0);
			check(c != c2 || r != r2);
		}
	}
	check_int_eq(desks, 3); /* every desk used once, first */
	es_places_free(pl);
}

/* nowhere to go: the one free cell is taken by someone who stays */
static void nowhere(void)
{
	struct es_floor *tiny = parse(TINY);
	struct es_relocate_person p[2] = {{.used = true, .x_cm = 150, .y_cm = 150, .own = -1},
					  {.used = true, .x_cm = 550, .y_cm = 550, .own = -1}};
	for (unsigned i = 0; i < 2; i++)
		p[i].why = (uint8_t)es_relocate_classify(NULL, tiny, p[i].x_cm / 100.0f, p[i].y_cm / 100.0f, -1, &p[i].own);
	check_int_eq(p[0].why, ES_RELOC_STAYS);
	check_int_eq(p[1].why, ES_RELOC_WALL);
	struct es_places *pl = es_places_new(tiny);
	check(pl != NULL);
	struct es_relocate_step st[2];
	check_int_eq(es_relocate_plan(pl, tiny, p, 2, st), 1);
	check_int_eq(st[0].id, 1);
	check_int_eq(st[0].outcome, ES_RELOC_NOWHERE);
	check_int_eq(st[0].desk, -1);
	check_int_eq(p[1].x_cm, 550); /* not moved */
	es_places_free(pl);
	es_floor_free(tiny);
}

int main(void)
{
	struct es_floor *old = parse(OLD), *nf = parse(NEW);
	classify(old, nf);
	plan(old, nf);
	find_place(nf);
	many(old, nf);
	nowhere();
	es_floor_free(old);
	es_floor_free(nf);
	return 0;
}
