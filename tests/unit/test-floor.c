/* SPDX-License-Identifier: MIT */
/* Floor plans: the default office, geometry queries, parse errors, tiling. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "earshot-mixer.h"
#include "test.h"

static void cell(const struct es_floor *f, unsigned col, unsigned row, float *x, float *y)
{
	es_floor_cell_center(f, col, row, x, y);
}

static int room_named(const struct es_floor *f, const char *name)
{
	for (unsigned i = 0; i < es_floor_room_count(f); i++)
		if (strcmp(es_floor_room_name(f, i), name) == 0)
			return (int)i;
	return -1;
}

static int room_at_cell(const struct es_floor *f, unsigned col, unsigned row)
{
	float x, y;
	cell(f, col, row, &x, &y);
	return es_floor_room_at(f, x, y);
}

/* Path between two cell centres. */
static float path_cells(const struct es_floor *f, unsigned sc, unsigned sr, unsigned lc, unsigned lr, float *ax,
			float *ay, float *len)
{
	float sx, sy, lx, ly;
	cell(f, sc, sr, &sx, &sy);
	cell(f, lc, lr, &lx, &ly);
	return es_floor_path(f, sx, sy, lx, ly, ax, ay, len);
}

static float dist(float ax, float ay, float bx, float by)
{
	return hypotf(ax - bx, ay - by);
}

static void test_default(void)
{
	struct es_floor *f = es_floor_default();
	check(f);
	check_int_eq(es_floor_cols(f), 100);
	check_int_eq(es_floor_rows(f), 44);
	check_near(es_floor_scale(f), 0.5, 1e-6);
	check_near(es_floor_width_m(f), 50.0, 1e-4);
	check_near(es_floor_height_m(f), 22.0, 1e-4);
	check(es_floor_desk_count(f) >= 200);
	check_int_eq(es_floor_desk_count(f), 240);

	unsigned kinds[5] = { 0 };
	for (unsigned i = 0; i < es_floor_room_count(f); i++) {
		int k = es_floor_room_kind(f, i);
		check(k >= 0 && k < 5);
		kinds[k]++;
		/* every room has a door */
		check(es_floor_room_doors(f, i, NULL) >= 1);
	}
	check_int_eq(kinds[ES_ROOM_MEETING], 3);
	check_int_eq(kinds[ES_ROOM_KITCHEN], 1);
	check_int_eq(kinds[ES_ROOM_STAGE], 1);
	check_int_eq(kinds[ES_ROOM_FOCUS], 2);
	check_int_eq(es_floor_room_kind(f, 999), -EINVAL);
	check(es_floor_room_name(f, 999) == NULL);
	check(strcmp(es_room_kind_name(ES_ROOM_FOCUS), "focus") == 0);

	/* drawing: rows are the grid lines */
	check(strncmp(es_floor_row(f, 0), "+---", 4) == 0);
	check_int_eq(strlen(es_floor_row(f, 43)), 100);
	check(es_floor_row(f, 44) == NULL);

	/* coordinates: row 0 is north (largest y), col 0 west */
	float x, y;
	cell(f, 3, 2, &x, &y);
	check_near(x, 1.75, 1e-5);
	check_near(y, 20.75, 1e-5);
	unsigned c, r;
	check_int_eq(es_floor_cell_at(f, x, y, &c, &r), 0);
	check_int_eq(c, 3);
	check_int_eq(r, 2);
	check_int_eq(es_floor_cell_at(f, -0.1f, 1.0f, &c, &r), -ERANGE);
	check_int_eq(es_floor_cell_at(f, 1.0f, 22.1f, &c, &r), -ERANGE);
	check_int_eq(es_floor_cell_at(f, NAN, 1.0f, &c, &r), -ERANGE);

	/* desks */
	int d = es_floor_desk_find(f, "A1-1");
	check(d >= 0);
	const char *label;
	check_int_eq(es_floor_desk(f, (unsigned)d, &x, &y, &label), 0);
	check(strcmp(label, "A1-1") == 0);
	check_int_eq(es_floor_cell_at(f, x, y, &c, &r), 0);
	check_int_eq(c, 3);
	check_int_eq(r, 2);
	d = es_floor_desk_find(f, "E6-8");
	check(d >= 0);
	check_int_eq(es_floor_desk(f, (unsigned)d, &x, &y, NULL), 0);
	check_int_eq(es_floor_cell_at(f, x, y, &c, &r), 0);
	check_int_eq(c, 77);
	check_int_eq(r, 28);
	check_int_eq(es_floor_desk_find(f, "Z9"), -ENOENT);
	check_int_eq(es_floor_desk_find(f, ""), -ENOENT);
	check_int_eq(es_floor_desk(f, 240, NULL, NULL, NULL), -EINVAL);
	for (unsigned i = 0; i < es_floor_desk_count(f); i++) {
		check_int_eq(es_floor_desk(f, i, &x, &y, &label), 0);
		check_int_eq(es_floor_desk_find(f, label), i);
		check(es_floor_walkable(f, x, y));
		check_int_eq(es_floor_room_at(f, x, y), -1); /* all desks on the open floor */
		check_int_eq(es_floor_desk_at(f, x + 0.2f, y - 0.2f), i); /* anywhere on the seat's cell */
	}
	check_int_eq(es_floor_desk_at(f, 1.25f, 20.75f), -1); /* the cell west of A1-1 */
	check_int_eq(es_floor_desk_at(f, -1.0f, 1.0f), -1);
	check_int_eq(es_floor_desk_at(NULL, 1.75f, 20.75f), -1);

	/* rooms at known points */
	int orion = room_named(f, "Orion"), lyra = room_named(f, "Lyra"), stage = room_named(f, "Stage");
	int kitchen = room_named(f, "Kitchen"), booth1 = room_named(f, "Booth 1");
	check(orion >= 0 && lyra >= 0 && stage >= 0 && kitchen >= 0 && booth1 >= 0);
	check_int_eq(es_floor_room_kind(f, (unsigned)orion), ES_ROOM_MEETING);
	check_int_eq(room_at_cell(f, 82, 2), orion);
	check_int_eq(room_at_cell(f, 98, 13), orion);
	check_int_eq(room_at_cell(f, 90, 20), lyra);
	check_int_eq(room_at_cell(f, 2, 34), stage);
	check_int_eq(room_at_cell(f, 40, 40), kitchen);
	check_int_eq(room_at_cell(f, 60, 40), booth1);
	check_int_eq(room_at_cell(f, 10, 10), -1); /* open floor */
	check_int_eq(room_at_cell(f, 80, 3), -1);  /* a wall */
	check_int_eq(room_at_cell(f, 80, 7), orion); /* its door */
	check_int_eq(es_floor_room_at(f, -5.0f, 3.0f), -1);
	check_int_eq(es_floor_room_at(f, NAN, 3.0f), -1);
	cell(f, 3, 3, &x, &y); /* a table */
	check(!es_floor_walkable(f, x, y));
	check_int_eq(es_floor_room_at(f, x, y), -1);

	/* doors */
	check_int_eq(es_floor_door_count(f), 8);
	cell(f, 80, 7, &x, &y);
	int od = es_floor_door_at(f, x, y);
	check(od >= 0);
	unsigned droom;
	float dx, dy;
	check_int_eq(es_floor_door(f, (unsigned)od, &dx, &dy, &droom), 0);
	check_int_eq(droom, orion);
	check_near(dx, x, 1e-6);
	check_near(dy, y, 1e-6);
	check(es_floor_door_is_open(f, (unsigned)od));
	check_int_eq(es_floor_door_at(f, 10.0f, 10.0f), -1);
	const unsigned *sd;
	check_int_eq(es_floor_room_doors(f, (unsigned)stage, &sd), 2);

	es_floor_free(f);
	es_floor_free(NULL);
}

static void test_paths(void)
{
	struct es_floor *f = es_floor_default();
	check(f);
	float ax, ay, len, sx, sy, lx, ly, dx, dy;
	int orion = room_named(f, "Orion"), lyra = room_named(f, "Lyra");
	float g10 = powf(10.0f, -0.5f);
	check_near(es_floor_door_gain(f), g10, 1e-6);

	/* same room: 1, apparent = speaker */
	cell(f, 85, 3, &sx, &sy);
	cell(f, 95, 10, &lx, &ly);
	check(es_floor_path(f, sx, sy, lx, ly, &ax, &ay, &len) == 1.0f);
	check(ax == sx && ay == sy);
	check_near(len, dist(sx, sy, lx, ly), 1e-5);

	/* open floor, clear line: 1 */
	check(path_cells(f, 5, 6, 60, 6, &ax, &ay, &len) == 1.0f);
	check(path_cells(f, 2, 2, 78, 31, NULL, NULL, NULL) == 1.0f);
	/* open floor, wall between (row 32 above the booths): 0 */
	check(path_cells(f, 60, 30, 60, 34, NULL, NULL, &len) == 0.0f);
	check_near(len, 2.0, 1e-5);
	check(path_cells(f, 60, 34, 60, 30, NULL, NULL, NULL) == 0.0f);
	/* ... but round the corner along the corridor it is clear */
	check(path_cells(f, 76, 30, 76, 40, NULL, NULL, NULL) == 1.0f);

	/* Orion's door open: one door's loss, heard from the door */
	cell(f, 85, 3, &sx, &sy);
	cell(f, 70, 7, &lx, &ly);
	check_int_eq(es_floor_door(f, (unsigned)es_floor_door_at(f, 40.25f, 18.25f), &dx, &dy, NULL), 0);
	check_near(es_floor_path(f, sx, sy, lx, ly, &ax, &ay, &len), g10, 1e-6);
	check_near(ax, dx, 1e-6);
	check_near(ay, dy, 1e-6);
	check_near(len, dist(sx, sy, dx, dy) + dist(dx, dy, lx, ly), 1e-4);
	check(len >= dist(sx, sy, lx, ly));
	/* and the other way round: same factor, apparent at the door */
	check_near(es_floor_path(f, lx, ly, sx, sy, &ax, &ay, &len), g10, 1e-6);
	check_near(ax, dx, 1e-6);
	check_near(ay, dy, 1e-6);

	/* two rooms, both doors open: the loss twice, heard from the listener's door */
	float bx, by;
	int lyra_door = es_floor_door_at(f, 40.25f, 11.25f); /* cell 80,21 */
	check(lyra_door >= 0);
	check_int_eq(es_floor_door(f, (unsigned)lyra_door, &bx, &by, NULL), 0);
	cell(f, 90, 20, &lx, &ly);
	check_int_eq(es_floor_room_at(f, lx, ly), lyra);
	check_near(es_floor_path(f, sx, sy, lx, ly, &ax, &ay, &len), g10 * g10, 1e-6);
	check_near(ax, bx, 1e-6);
	check_near(ay, by, 1e-6);
	check_near(len, dist(sx, sy, dx, dy) + dist(dx, dy, bx, by) + dist(bx, by, lx, ly), 1e-4);

	/* close Orion: exactly 0 both ways, to the floor and to Lyra */
	int od = es_floor_door_at(f, dx, dy);
	check_int_eq(es_floor_door_set_open(f, (unsigned)od, false), 0);
	check(!es_floor_door_is_open(f, (unsigned)od));
	cell(f, 70, 7, &lx, &ly);
	check(es_floor_path(f, sx, sy, lx, ly, &ax, &ay, &len) == 0.0f);
	check(ax == sx && ay == sy);
	check(es_floor_path(f, lx, ly, sx, sy, NULL, NULL, NULL) == 0.0f);
	cell(f, 79, 7, &lx, &ly); /* right outside the closed door */
	check(es_floor_path(f, sx, sy, lx, ly, NULL, NULL, NULL) == 0.0f);
	check(es_floor_path(f, lx, ly, sx, sy, NULL, NULL, NULL) == 0.0f);
	cell(f, 90, 20, &lx, &ly);
	check(es_floor_path(f, sx, sy, lx, ly, NULL, NULL, NULL) == 0.0f);
	check(es_floor_path(f, lx, ly, sx, sy, NULL, NULL, NULL) == 0.0f);
	/* inside the closed room people still hear each other */
	check(path_cells(f, 85, 3, 95, 10, NULL, NULL, NULL) == 1.0f);
	check_int_eq(es_floor_door_set_open(f, (unsigned)od, true), 0);
	check_near(path_cells(f, 85, 3, 70, 7, NULL, NULL, NULL), g10, 1e-6);
	check(es_floor_room_open_door(f, (unsigned)orion));
	check(!es_floor_room_closed(f, (unsigned)orion));
	check_int_eq(es_floor_room_close(f, (unsigned)orion), 0);
	check(path_cells(f, 85, 3, 70, 7, NULL, NULL, NULL) == 0.0f);
	/* the shared door questions: closed is "has doors, none open" */
	check(!es_floor_room_open_door(f, (unsigned)orion));
	check(es_floor_room_closed(f, (unsigned)orion));
	check(!es_floor_room_closed(f, 999) && !es_floor_room_open_door(f, 999));
	{
		/* within reach: ES_DOOR_REACH_M, inclusive; the nearest of those in reach */
		float dx, dy, px, py;
		unsigned droom;
		check_int_eq(es_floor_door(f, (unsigned)od, &dx, &dy, &droom), 0);
		check(es_floor_door_in_reach(f, (unsigned)od, dx + ES_DOOR_REACH_M - 0.01f, dy));
		check(!es_floor_door_in_reach(f, (unsigned)od, dx + ES_DOOR_REACH_M + 0.01f, dy));
		check(!es_floor_door_in_reach(f, 999, dx, dy));
		check_int_eq(es_floor_door_near(f, dx + 0.2f, dy, &px, &py, &droom), od);
		check_near(px, dx, 1e-6);
		check_int_eq(es_floor_door_near(NULL, dx, dy, NULL, NULL, NULL), -1);
	}
	check_int_eq(es_floor_room_close(f, 999), -EINVAL);
	check_int_eq(es_floor_door_set_open(f, 999, true), -EINVAL);
	check(!es_floor_door_is_open(f, 999));

	/* out of a room through an open door, but the outside leg hits a wall: 0 */
	check(path_cells(f, 10, 38, 60, 34, NULL, NULL, NULL) == 0.0f);  /* stage -> above the booths */
	check(path_cells(f, 10, 38, 30, 20, NULL, NULL, NULL) > 0.0f);   /* stage -> open floor */
	/* the stage has two doors: the nearer one is used */
	cell(f, 3, 40, &sx, &sy);
	cell(f, 3, 25, &lx, &ly);
	check_near(es_floor_path(f, sx, sy, lx, ly, &ax, &ay, &len), g10, 1e-6);
	cell(f, 10, 32, &dx, &dy);
	check_near(ax, dx, 1e-6);
	check_near(ay, dy, 1e-6);

	/* junk positions never hurt */
	check(es_floor_path(f, NAN, 0, 1, 1, &ax, &ay, &len) == 0.0f);
	check(es_floor_path(f, INFINITY, 0, 1, 1, NULL, NULL, NULL) == 0.0f);
	check(es_floor_path(f, -1e30f, 5, 1e30f, 7, NULL, NULL, NULL) >= 0.0f);
	check(es_floor_path(f, -100, -100, -50, -50, NULL, NULL, NULL) == 1.0f); /* both outside, no walls */
	check(es_floor_path(f, 5, 5, 5, 5, NULL, NULL, NULL) == 1.0f);

	es_floor_free(f);
}

/* A small valid plan; the error tests break it one way at a time. */
static const char *small_plan[] = {
	"earshot-floor 1",        /* 1 */
	"scale 0.5",              /* 2 */
	"grid",                   /* 3 */
	"+-----+----+",           /* 4  row 0 */
	"|.....|.A..|",           /* 5  row 1 */
	"|.o.../....|",           /* 6  row 2 */
	"|.....|....|",           /* 7  row 3 */
	"+-----+----+",           /* 8  row 4 */
	"end",                    /* 9 */
	"room A \"Alpha\" meeting", /* 10 */
	"desk X1 2 2",            /* 11 */
	NULL,
};

/* small_plan with line `line` replaced (NULL: removed), and `extra` appended. */
static char *plan_with(int line, const char *repl, const char *extra)
{
	static char buf[8192];
	size_t n = 0;
	for (int i = 0; small_plan[i]; i++) {
		const char *s = i + 1 == line ? repl : small_plan[i];
		if (!s)
			continue;
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\n", s);
	}
	if (extra)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s", extra);
	return buf;
}

static void expect_error(const char *text, size_t len, int line, int col, const char *what)
{
	struct es_floor_error err;
	errno = 0;
	struct es_floor *f = es_floor_parse(text, len, &err);
	if (f || err.line != line || err.col != col) {
		fprintf(stderr, "%s: expected error at %d:%d, got %s %d:%d %s\n", what, line, col, f ? "success" : "error",
			err.line, err.col, err.msg);
		exit(1);
	}
	check_int_eq(errno, EBADMSG);
	check(err.msg[0]);
	test_log("  %-28s %d:%d %s", what, err.line, err.col, err.msg);
}

static void expect_error_s(const char *text, int line, int col, const char *what)
{
	expect_error(text, strlen(text), line, col, what);
}

static void test_errors(void)
{
	struct es_floor_error err;
	char *t = plan_with(0, NULL, NULL);
	struct es_floor *f = es_floor_parse(t, strlen(t), &err);
	check(f);
	check_int_eq(es_floor_room_count(f), 1);
	check_int_eq(es_floor_door_count(f), 1);
	check_int_eq(es_floor_desk_count(f), 1);
	check_int_eq(room_at_cell(f, 9, 3), 0);
	check_int_eq(room_at_cell(f, 6, 2), 0);
	check_int_eq(room_at_cell(f, 3, 3), -1);
	es_floor_free(f);

	expect_error_s(plan_with(7, "|.?...|....|", NULL), 7, 3, "unknown character");
	expect_error_s(plan_with(7, "|.\t...|....|", NULL), 7, 3, "tab in grid");
	expect_error_s(plan_with(7, "|.....|..a.|", NULL), 7, 10, "lower-case letter");
	expect_error_s(plan_with(8, "+-----+-.--+", NULL), 5, 9, "unclosed room (edge)");
	/* a room without a door is allowed: a sealed box */
	t = plan_with(6, "|.o...|....|", NULL);
	f = es_floor_parse(t, strlen(t), &err);
	check(f);
	check_int_eq(es_floor_door_count(f), 0);
	es_floor_free(f);
	expect_error_s(plan_with(7, "|./...|....|", NULL), 7, 3, "door not in a wall");
	expect_error_s(plan_with(4, "+-/---+----+", NULL), 4, 3, "door at the plan edge");
	expect_error_s(plan_with(7, "|.o...|....|", "desk X1 2 3\n"), 12, 6, "duplicate desk label");
	expect_error_s(plan_with(7, "|.o...|....|", "desks X 1 1 5 3\n"), 12, 7, "desk labelled twice");
	expect_error_s(plan_with(7, "|.o...|....|", NULL), 7, 3, "desk without a label");
	expect_error_s(plan_with(2, "scale 0", NULL), 2, 7, "scale 0");
	expect_error_s(plan_with(2, "scale -1", NULL), 2, 7, "scale negative");
	expect_error_s(plan_with(2, "scale abc", NULL), 2, 7, "scale not a number");
	expect_error_s(plan_with(2, "scale 1e3", NULL), 2, 7, "scale exponent");
	expect_error_s(plan_with(2, "scale 100", NULL), 2, 7, "scale too large");
	expect_error_s(plan_with(2, "scale", NULL), 2, 1, "scale missing value");
	expect_error_s(plan_with(2, NULL, NULL), 2, 1, "no scale");
	expect_error_s(plan_with(10, NULL, NULL), 5, 9, "room letter without legend");
	expect_error_s(plan_with(7, "|B....|....|", NULL), 7, 2, "stray letter");
	expect_error_s(plan_with(10, "room A \"Alpha\" party", NULL), 10, 16, "unknown kind");
	expect_error_s(plan_with(10, "room C \"Alpha\" meeting", NULL), 10, 6, "room letter not in grid");
	expect_error_s(plan_with(10, "room A Alpha meeting", NULL), 10, 8, "unquoted name");
	expect_error_s(plan_with(10, "room A \"Alpha meeting", NULL), 10, 8, "unterminated name");
	expect_error_s(plan_with(0, NULL, "room A \"Again\" focus\n"), 12, 6, "room defined twice");
	expect_error_s(plan_with(0, NULL, "door 6 2 ajar\n"), 12, 10, "door state");
	expect_error_s(plan_with(0, NULL, "door 5 2 closed\n"), 12, 6, "door line not on a door");
	expect_error_s(plan_with(0, NULL, "desk Y 99 2\n"), 12, 8, "desk column out of range");
	expect_error_s(plan_with(0, NULL, "chair 1 2\n"), 12, 1, "unknown legend line");
	expect_error_s(plan_with(1, "earshot-floor 2", NULL), 1, 15, "version");
	expect_error_s(plan_with(1, "floor", NULL), 1, 1, "no magic");
	expect_error_s(plan_with(9, "END", NULL), 12, 1, "no end (END)");
	expect_error_s(plan_with(9, NULL, NULL), 11, 1, "no end");
	/* a wall gap from room A into open space: the door then has A on both sides */
	expect_error_s("earshot-floor 1\nscale 0.5\ngrid\n"
		       "+-----+----+\n"
		       "|.....|.A..|\n"
		       "|...../....|\n"
		       "|.....|....|\n"
		       "|..........|\n"
		       "+-----+----+\n"
		       "end\nroom A \"Alpha\" meeting\n", 6, 7, "room open into the floor");

	/* empty and too big */
	expect_error("", 0, 1, 1, "empty");
	expect_error_s("\n\n# only a comment\n   \n", 1, 1, "empty (blank lines)");
	expect_error_s("earshot-floor 1\nscale 1\ngrid\n\n   \nend\n", 4, 1, "empty grid");
	static const char nul[] = "earshot-floor 1\nscale 1\0grid\n";
	expect_error(nul, sizeof(nul) - 1, 2, 8, "NUL byte");

	char *big = malloc(ES_FLOOR_MAX_TEXT + 16);
	check(big);
	int n = sprintf(big, "earshot-floor 1\nscale 1\ngrid\n");
	memset(big + n, '.', 1030);
	n += 1030;
	n += sprintf(big + n, "\nend\n");
	expect_error(big, (size_t)n, 4, 1025, "too wide");
	n = sprintf(big, "earshot-floor 1\nscale 1\ngrid\n");
	for (int i = 0; i < 1100; i++)
		n += sprintf(big + n, "...\n");
	n += sprintf(big + n, "end\n");
	expect_error(big, (size_t)n, 4 + 1024, 1, "too tall");
	/* 4097 desks */
	n = sprintf(big, "earshot-floor 1\nscale 1\ngrid\n");
	for (int r = 0; r < 5; r++) {
		for (int c = 0; c < 1000; c++)
			big[n++] = 'o';
		big[n++] = '\n';
	}
	n += sprintf(big + n, "end\n");
	expect_error(big, (size_t)n, 8, 97, "too many desks");
	memset(big, '\n', ES_FLOOR_MAX_TEXT + 1);
	expect_error(big, ES_FLOOR_MAX_TEXT + 1, 1, 1, "too many bytes");
	free(big);
}

/* The example in docs/FLOORPLAN.md, and its two broken variants. */
static const char docs_example[] =
	"earshot-floor 1\n"
	"name \"Small office\"\n"
	"scale 0.5\n"
	"door-loss 10\n"
	"grid\n"
	"+-----------------+------+\n"
	"|.................|.M....|\n"
	"|..o..o..o..o.....|..==..|\n"
	"|..==========...../..==..|\n"
	"|..o..o..o..o.....|......|\n"
	"|.................+--+---+\n"
	"|..................../.F.|\n"
	"+--------------------+---+\n"
	"end\n"
	"# rooms: letter, name in quotes, kind\n"
	"room M \"Orion\" meeting\n"
	"room F \"Booth\" focus\n"
	"# desks: every 'o' needs a label\n"
	"desks A 2 2 13 4\n"
	"door 21 6 closed\n";

static void test_docs_example(void)
{
	struct es_floor_error err;
	struct es_floor *f = es_floor_parse(docs_example, sizeof(docs_example) - 1, &err);
	check(f);
	check_int_eq(es_floor_cols(f), 26);
	check_int_eq(es_floor_rows(f), 8);
	check_int_eq(es_floor_desk_count(f), 8);
	check(es_floor_desk_find(f, "A8") >= 0);
	check_int_eq(es_floor_room_count(f), 2);
	check_int_eq(es_floor_door_count(f), 2);
	check(es_floor_door_is_open(f, 0));
	check(!es_floor_door_is_open(f, 1));
	check_int_eq(room_at_cell(f, 18, 3), 0);
	es_floor_free(f);

	char buf[sizeof(docs_example)];
	memcpy(buf, docs_example, sizeof(buf));
	char *w = strstr(buf, "+--+---+");
	check(w);
	w[5] = '.';
	expect_error(buf, sizeof(buf) - 1, 7, 21, "docs: wall opened");
	memcpy(buf, docs_example, sizeof(buf));
	w = strstr(buf, "room F");
	check(w);
	w[0] = '#'; /* comment it out */
	expect_error(buf, sizeof(buf) - 1, 12, 24, "docs: no room F line");
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

/* Random damage to valid plans must give a floor or a clean error, never a crash. */
static void test_mutations(void)
{
	struct es_floor *d = es_floor_default();
	check(d);
	size_t len;
	const char *text = es_floor_to_text(d, &len);
	char *buf = malloc(len + 64);
	check(buf);
	static const char alphabet[] = "#|-+/.o= ABZ\n\"0123456789 grid end room desk desks door";
	unsigned ok = 0;
	for (int i = 0; i < 400; i++) {
		memcpy(buf, text, len);
		size_t l = len;
		unsigned edits = 1 + rnd() % 4;
		for (unsigned e = 0; e < edits; e++) {
			size_t at = rnd() % l;
			switch (rnd() % 3) {
			case 0:
				buf[at] = alphabet[rnd() % (sizeof(alphabet) - 1)];
				break;
			case 1:
				l = at + 1; /* truncate */
				break;
			default:
				buf[at] = (char)rnd();
				break;
			}
		}
		struct es_floor_error err;
		struct es_floor *f = es_floor_parse(buf, l, &err);
		if (f) {
			ok++;
			/* whatever parsed must answer queries */
			for (int q = 0; q < 50; q++) {
				float w = es_floor_width_m(f), h = es_floor_height_m(f);
				float v = es_floor_path(f, (float)(rnd() % 1000) * w / 1000, (float)(rnd() % 1000) * h / 1000,
							(float)(rnd() % 1000) * w / 1000, (float)(rnd() % 1000) * h / 1000, NULL,
							NULL, NULL);
				check(v >= 0.0f && v <= 1.0f);
			}
			es_floor_free(f);
		} else {
			check(err.line >= 1 && err.col >= 1 && err.msg[0]);
		}
	}
	test_log("  mutations: %u of 400 still parse", ok);
	free(buf);
	es_floor_free(d);
}

static void test_text_and_tiles(void)
{
	struct es_floor *d = es_floor_default();
	check(d);
	size_t len;
	const char *text = es_floor_to_text(d, &len);
	check(len == strlen(text));
	struct es_floor_error err;
	struct es_floor *p = es_floor_parse(text, len, &err);
	check(p);
	check_int_eq(es_floor_desk_count(p), es_floor_desk_count(d));
	for (unsigned r = 0; r < es_floor_rows(d); r++)
		check(strcmp(es_floor_row(p, r), es_floor_row(d, r)) == 0);
	es_floor_free(p);

	/* clone keeps the run-time door states */
	check_int_eq(es_floor_door_set_open(d, 2, false), 0);
	struct es_floor *c = es_floor_clone(d);
	check(c);
	check(!es_floor_door_is_open(c, 2));
	check(es_floor_door_is_open(c, 1));
	es_floor_free(c);

	struct es_floor *t1 = es_floor_tile(d, 1, 1);
	check(t1);
	check_int_eq(es_floor_desk_count(t1), 240);
	check(!es_floor_door_is_open(t1, 2));
	check(strcmp(es_floor_name(t1), es_floor_name(d)) == 0);
	es_floor_free(t1);

	struct es_floor *t = es_floor_tile(d, 5, 2);
	check(t);
	check_int_eq(es_floor_cols(t), 500);
	check_int_eq(es_floor_rows(t), 88);
	check_int_eq(es_floor_desk_count(t), 2400);
	check_int_eq(es_floor_room_count(t), 70);
	check_int_eq(es_floor_door_count(t), 80);
	unsigned closed = 0;
	for (unsigned i = 0; i < es_floor_door_count(t); i++)
		closed += !es_floor_door_is_open(t, i);
	check_int_eq(closed, 10);
	check(es_floor_desk_find(t, "A1-1") >= 0);
	check(es_floor_desk_find(t, "A1-1.9") >= 0);
	check(es_floor_desk_find(t, "A1-1.10") == -ENOENT);
	check(room_named(t, "Orion") >= 0);
	check(room_named(t, "Orion 10") >= 0);
	/* tile 9 is bottom right: its Orion is 9 tiles' worth of offset away */
	int o10 = room_named(t, "Orion 10");
	check_int_eq(room_at_cell(t, 400 + 82, 44 + 2), o10);
	/* its text parses back to the same floor */
	text = es_floor_to_text(t, &len);
	p = es_floor_parse(text, len, &err);
	check(p);
	check_int_eq(es_floor_desk_count(p), 2400);
	check_int_eq(es_floor_room_count(p), 70);
	es_floor_free(p);
	es_floor_free(t);

	errno = 0;
	check(es_floor_tile(d, 0, 3) == NULL);
	check_int_eq(errno, EINVAL);
	check(es_floor_tile(d, 11, 1) == NULL); /* 1100 columns */
	check_int_eq(errno, E2BIG);
	check(es_floor_tile(d, 5, 4) == NULL); /* 4800 desks */
	check_int_eq(errno, E2BIG);
	es_floor_free(d);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Time fn over the pairs for ~0.3 s; calls per second. */
static double rate_of(float (*fn)(const struct es_floor *, const float *), const struct es_floor *t, float (*p)[4],
		      unsigned np)
{
	volatile float sink = 0;
	unsigned calls = 0;
	double t0 = now_s(), el;
	do {
		for (unsigned i = 0; i < np; i++)
			sink += fn(t, p[i]);
		calls += np;
		el = now_s() - t0;
	} while (el < 0.3);
	(void)sink;
	return calls / el;
}

static float call_path(const struct es_floor *t, const float *p)
{
	float ax, ay, len;
	return es_floor_path(t, p[0], p[1], p[2], p[3], &ax, &ay, &len);
}

/* What the engine does for every pair anyway: distance law and direction. */
static float call_baseline(const struct es_floor *t, const float *p)
{
	static struct es_acoustics ac = { 1.5f, 15.0f, 3.0f, 6, 20.0f };
	(void)t;
	return es_distance_gain(&ac, hypotf(p[2] - p[0], p[3] - p[1])) + es_azimuth(p[2], p[3], 0.3f, p[0], p[1]);
}

/*
 * Not a pass/fail test: path queries a second on the 2,400-desk tiled
 * office, for the pairs the engine asks about (within the 15 m hearing
 * range), against the distance-and-direction work it does per pair anyway.
 */
static void bench_paths(void)
{
	struct es_floor *d = es_floor_default();
	struct es_floor *t = es_floor_tile(d, 5, 2);
	check(t);
	enum { NP = 4096 };
	static float desk_pairs[NP][4], any_pairs[NP][4], far_pairs[NP][4];
	unsigned nd = es_floor_desk_count(t), n = 0, m = 0, inroom = 0;
	while (n < NP || m < NP) {
		float sx, sy, lx, ly;
		check_int_eq(es_floor_desk(t, rnd() % nd, &sx, &sy, NULL), 0);
		if (n < NP) {
			check_int_eq(es_floor_desk(t, rnd() % nd, &lx, &ly, NULL), 0);
			if (hypotf(lx - sx, ly - sy) <= 15.0f) {
				desk_pairs[n][0] = sx, desk_pairs[n][1] = sy, desk_pairs[n][2] = lx, desk_pairs[n][3] = ly;
				n++;
			}
		}
		/* a listener anywhere within 15 m: desks, rooms, corridors */
		lx = sx + ((float)(rnd() % 3000) / 100.0f - 15.0f);
		ly = sy + ((float)(rnd() % 3000) / 100.0f - 15.0f);
		if (m < NP && hypotf(lx - sx, ly - sy) <= 15.0f && es_floor_walkable(t, lx, ly)) {
			any_pairs[m][0] = sx, any_pairs[m][1] = sy, any_pairs[m][2] = lx, any_pairs[m][3] = ly;
			inroom += es_floor_room_at(t, lx, ly) >= 0;
			m++;
		}
	}
	/* worst case: a room's door to any desk on the whole tiled floor */
	for (unsigned i = 0; i < NP; i++) {
		const unsigned *doors;
		check(es_floor_room_doors(t, i % es_floor_room_count(t), &doors) > 0);
		check_int_eq(es_floor_door(t, doors[0], &far_pairs[i][0], &far_pairs[i][1], NULL), 0);
		check_int_eq(es_floor_desk(t, rnd() % nd, &far_pairs[i][2], &far_pairs[i][3], NULL), 0);
	}
	double base = rate_of(call_baseline, t, any_pairs, NP);
	double r_desk = rate_of(call_path, t, desk_pairs, NP);
	double r_any = rate_of(call_path, t, any_pairs, NP);
	double r_far = rate_of(call_path, t, far_pairs, NP);
	test_log("  bench: es_floor_path on the 5x2 tiled office (%ux%u cells, %u desks, %u rooms):", es_floor_cols(t),
		 es_floor_rows(t), nd, es_floor_room_count(t));
	test_log("    baseline distance gain + azimuth: %6.2f M/s (%4.0f ns)", base / 1e6, 1e9 / base);
	test_log("    desk to desk within 15 m:         %6.2f M/s (%4.0f ns, %.2fx baseline)", r_desk / 1e6,
		 1e9 / r_desk, base / r_desk);
	test_log("    desk to anywhere within 15 m:     %6.2f M/s (%4.0f ns, %.2fx baseline; %u/%u in rooms)",
		 r_any / 1e6, 1e9 / r_any, base / r_any, inroom, NP);
	test_log("    door to any desk (up to 250 m):   %6.2f M/s (%4.0f ns)", r_far / 1e6, 1e9 / r_far);
	printf("{\"floor_path_desk_per_s\": %.0f, \"floor_path_any_per_s\": %.0f, \"floor_path_far_per_s\": %.0f, "
	       "\"baseline_per_s\": %.0f}\n", r_desk, r_any, r_far, base);
	es_floor_free(t);
	es_floor_free(d);
}

int main(void)
{
	test_default();
	test_paths();
	test_errors();
	test_docs_example();
	test_mutations();
	test_text_and_tiles();
	bench_paths();
	return 0;
}
