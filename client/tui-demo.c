/* SPDX-License-Identifier: MIT */
/*
 * tui-demo: the terminal UI on a fixed floor with six people, for the tmux
 * test and for looking at it by hand.  Every action is appended to the file
 * named on the command line, one per line ("walk-n", "goto 2 Bob"); walking,
 * mute, focus, push-to-talk and volume change the view so they can be seen.
 * Not installed.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tui.h"

/* A valid plan in the docs/FLOORPLAN.md format (rooms M, K, S), scale 0.5 m. */
static const char *const floor_rows[] = {
	"+------------------+-----------+-----------+",
	"|..................|...........|...........|",
	"|..o..o..o..o......|.....M.....|.....K.....|",
	"|..==========......|...........|...........|",
	"|..o..o..o..o......|....===....|...==......|",
	"|..................|....===....|...........|",
	"|..................+-----/-----+-----/-----+",
	"|..........................................|",
	"|..........................................|",
	"|..o..o..o..o........................o..o..|",
	"|..==========........................====..|",
	"|..o..o..o..o........................o..o..|",
	"|..........................................|",
	"|..............+--------/--------+.........|",
	"|..............|........S........|.........|",
	"+--------------+-----------------+---------+",
};
#define SCALE 0.5f

/* A floor bigger than any terminal: a grid of rooms with doors. */
#define BIG_W 120
#define BIG_H 60
static char big_cells[BIG_H][BIG_W + 1];
static const char *big_rows[BIG_H];

static void make_big_floor(void)
{
	for (int y = 0; y < BIG_H; y++) {
		for (int x = 0; x < BIG_W; x++) {
			bool vwall = x % 20 == 0 || x == BIG_W - 1;
			bool hwall = y % 15 == 0 || y == BIG_H - 1;
			char c = '.';
			if (vwall && hwall)
				c = '+';
			else if (vwall)
				c = y % 15 == 7 && x > 0 && x < BIG_W - 1 ? '/' : '|';
			else if (hwall)
				c = x % 20 == 10 && y > 0 && y < BIG_H - 1 ? '/' : '-';
			big_cells[y][x] = c;
		}
		big_cells[y][BIG_W] = '\0';
		big_rows[y] = big_cells[y];
	}
}

/* Metres (x east, y north) of the centre of cell (col, row). */
static void place(struct es_tui_person *p, unsigned rows, int col, int row)
{
	p->x = ((float)col + 0.5f) * SCALE;
	p->y = ((float)rows - 1 - (float)row + 0.5f) * SCALE;
}

int main(int argc, char **argv)
{
	bool big = argc == 3 && strcmp(argv[2], "big") == 0;
	if (argc != 2 && !big) {
		fprintf(stderr, "usage: tui-demo ACTIONS-FILE [big]\n");
		return 2;
	}
	FILE *log = fopen(argv[1], "w");
	if (!log) {
		fprintf(stderr, "tui-demo: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	setvbuf(log, NULL, _IOLBF, 0);
	setlocale(LC_ALL, "");

	struct es_tui_person people[] = {
		{ .id = 1, .name = "Alice", .flags = ES_TUI_IS_ME, .volume_db = 0 },
		{ .id = 2, .name = "Bob", .flags = ES_TUI_IS_TALKING, .volume_db = 0 },
		{ .id = 3, .name = "Carol", .flags = ES_TUI_IS_MUTED, .volume_db = 0 },
		{ .id = 4, .name = "Dave", .flags = ES_TUI_IS_FOCUS, .volume_db = 0 },
		{ .id = 5, .name = "Eve", .flags = ES_TUI_IS_MEETING, .volume_db = 0 },
		{ .id = 6, .name = "Frank", .flags = 0, .volume_db = 3.0f },
		{ .id = 7, .name = "\u00c9lodie \u5f20", .flags = 0, .volume_db = 0 }, /* UTF-8: Élodie 张 */
		/* a hostile name: escape sequence, right-to-left override, bad UTF-8 */
		{ .id = 8, .name = "Mallory\x1b[2J\u202eX\xff", .flags = 0, .volume_db = 0 },
	};
	const unsigned n = sizeof(people) / sizeof(people[0]);
	const unsigned rows = big ? BIG_H : sizeof(floor_rows) / sizeof(floor_rows[0]);
	if (big) {
		/* me far from the origin: the map must scroll to keep me in view */
		make_big_floor();
		place(&people[0], rows, 101, 50);
		place(&people[1], rows, 104, 50);
		place(&people[2], rows, 5, 5);
		place(&people[3], rows, 50, 20);
		place(&people[4], rows, 70, 40);
		place(&people[5], rows, 90, 10);
		place(&people[6], rows, 10, 10);
		place(&people[7], rows, 12, 10);
	} else {
		place(&people[0], rows, 10, 8);  /* me, 3 m from Bob */
		place(&people[1], rows, 16, 8);
		place(&people[2], rows, 30, 9);
		place(&people[3], rows, 5, 12);
		place(&people[4], rows, 26, 2);  /* in the meeting room */
		place(&people[5], rows, 38, 3);  /* in the kitchen */
		place(&people[6], rows, 40, 12);
		place(&people[7], rows, 20, 1);
	}
	/* the kitchen door is closed */
	static const struct es_tui_cell closed[] = { { 37, 6 } };
	static const struct es_tui_room rooms[] = { { "Mars", 'M', 25, 2 }, { "Kit", 'K', 37, 2 }, { "Stage", 'S', 24, 14 } };
	struct es_tui_view v = {
		.floor_rows = big ? big_rows : floor_rows,
		.floor_h = rows,
		.cell_m = SCALE,
		.closed_doors = big ? NULL : closed,
		.n_closed_doors = big ? 0 : 1,
		.people = people,
		.n_people = n,
		.my_level = 0.4f,
		.status = "connected to demo.example:4545",
		.live = true,
		.rooms = big ? NULL : rooms,
		.n_rooms = big ? 0 : 3,
	};

	struct es_tui *t = es_tui_new();
	if (!t) {
		fprintf(stderr, "tui-demo: cannot use the terminal: %s\n", strerror(errno));
		return 1;
	}
	if (es_tui_draw(t, &v) < 0)
		goto out;
	fprintf(log, "ready\n");

	for (;;) {
		struct pollfd p = { .fd = es_tui_fd(t), .events = POLLIN };
		if (poll(&p, 1, 100) < 0 && errno != EINTR)
			break;
		struct es_tui_action a;
		int r;
		while ((r = es_tui_poll_key(t, &a)) > 0) {
			struct es_tui_person *me = &people[0];
			if (a.type != ES_TUI_REDRAW) {
				if (a.person_id || a.name[0])
					fprintf(log, "%s %u %s\n", es_tui_action_name(a.type), a.person_id, a.name);
				else
					fprintf(log, "%s\n", es_tui_action_name(a.type));
			}
			switch (a.type) {
			case ES_TUI_WALK_N: me->y += SCALE; break;
			case ES_TUI_WALK_S: me->y -= SCALE; break;
			case ES_TUI_WALK_E: me->x += SCALE; break;
			case ES_TUI_WALK_W: me->x -= SCALE; break;
			case ES_TUI_MUTE: v.muted = !v.muted; break;
			case ES_TUI_TURN_LEFT: me->facing -= (float)M_PI / 4; break;
			case ES_TUI_TURN_RIGHT: me->facing += (float)M_PI / 4; break;
			case ES_TUI_FOCUS: me->flags ^= ES_TUI_IS_FOCUS; break;
			case ES_TUI_PTT_DOWN: v.talking = true; break;
			case ES_TUI_PTT_UP: v.talking = false; break;
			case ES_TUI_KNOCK: es_tui_message(t, "Knock knock."); break;
			case ES_TUI_GOTO:
				for (unsigned i = 1; i < n; i++) {
					if (people[i].id == a.person_id) {
						me->x = people[i].x + SCALE;
						me->y = people[i].y;
					}
				}
				break;
			case ES_TUI_VOLUME_UP:
			case ES_TUI_VOLUME_DOWN:
				for (unsigned i = 0; i < n; i++)
					if (people[i].id == a.person_id)
						people[i].volume_db += a.type == ES_TUI_VOLUME_UP ? 3 : -3;
				break;
			case ES_TUI_QUIT:
				goto out;
			default:
				break;
			}
			if (es_tui_draw(t, &v) < 0)
				goto out;
		}
		if (r < 0)
			break;
	}
out:
	es_tui_free(t);
	fprintf(log, "bye\n");
	fclose(log);
	return 0;
}
