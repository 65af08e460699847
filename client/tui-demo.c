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
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tui.h"

static const char *const floor_rows[] = {
	"##########################################",
	"#.........#..........#...................#",
	"#..desk...#..........#....Meeting 1......#",
	"#.........+..........+...................#",
	"#.........#..........#...................#",
	"######-####..........#####-###############",
	"#........................................#",
	"#........................................#",
	"#..................Kitchen...............#",
	"#........................................#",
	"#####+#########################+##########",
	"#.............#..........................#",
	"#..Quiet......#...........Stage..........#",
	"#.............#..........................#",
	"##########################################",
};

/* A floor bigger than any terminal: a grid of 20 m rooms with doors. */
#define BIG_W 120
#define BIG_H 60
static char big_cells[BIG_H][BIG_W + 1];
static const char *big_rows[BIG_H];

static void make_big_floor(void)
{
	for (int y = 0; y < BIG_H; y++) {
		for (int x = 0; x < BIG_W; x++) {
			bool wall = x == 0 || y == 0 || x == BIG_W - 1 || y == BIG_H - 1 ||
				    x % 20 == 0 || y % 15 == 0;
			bool door = wall && ((x % 20 == 0 && y % 15 == 7) || (y % 15 == 0 && x % 20 == 10)) &&
				    x > 0 && y > 0 && x < BIG_W - 1 && y < BIG_H - 1;
			big_cells[y][x] = door ? '+' : wall ? '#' : '.';
		}
		big_cells[y][BIG_W] = '\0';
		big_rows[y] = big_cells[y];
	}
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
		{ 1, "Alice", 5.5f, 7.5f, ES_TUI_IS_ME, 0 },
		{ 2, "Bob", 8.5f, 7.5f, ES_TUI_IS_TALKING, 0 },
		{ 3, "Carol", 20.5f, 8.5f, ES_TUI_IS_MUTED, 0 },
		{ 4, "Dave", 4.5f, 12.5f, ES_TUI_IS_FOCUS, 0 },
		{ 5, "Eve", 30.5f, 2.5f, ES_TUI_IS_MEETING, 0 },
		{ 6, "Frank", 14.5f, 2.5f, 0, 3.0f },
	};
	const unsigned n = sizeof(people) / sizeof(people[0]);
	if (big) {
		/* me far from the origin: the map must scroll to keep me in view */
		make_big_floor();
		people[0].x = 101.5f, people[0].y = 50.5f;
		people[1].x = 104.5f, people[1].y = 50.5f;
	}
	struct es_tui_view v = {
		.floor_rows = big ? big_rows : floor_rows,
		.floor_h = big ? BIG_H : sizeof(floor_rows) / sizeof(floor_rows[0]),
		.cell_m = 1.0f,
		.people = people,
		.n_people = n,
		.my_level = 0.4f,
		.status = "connected to demo.example:4545",
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
			case ES_TUI_WALK_N: me->y -= 1; break;
			case ES_TUI_WALK_S: me->y += 1; break;
			case ES_TUI_WALK_E: me->x += 1; break;
			case ES_TUI_WALK_W: me->x -= 1; break;
			case ES_TUI_MUTE: v.muted = !v.muted; break;
			case ES_TUI_FOCUS: me->flags ^= ES_TUI_IS_FOCUS; break;
			case ES_TUI_PTT_DOWN: v.talking = true; break;
			case ES_TUI_PTT_UP: v.talking = false; break;
			case ES_TUI_KNOCK: es_tui_message(t, "Knock knock."); break;
			case ES_TUI_GOTO:
				for (unsigned i = 1; i < n; i++) {
					if (people[i].id == a.person_id) {
						me->x = people[i].x + 1;
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
