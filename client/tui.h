/* SPDX-License-Identifier: MIT */
/*
 * The terminal UI (ncurses), driven by the client's main loop: it owns the
 * screen and the keyboard, and nothing else.  The main loop hands it a view
 * (a snapshot of what to show) whenever something changed, polls it for
 * high-level actions when stdin is readable, and does the actions itself.
 *
 * Screen: a status bar (connection, mute, input level), the floor plan
 * scrolled to keep "me" in the middle with room names written on it and a
 * one-line legend under it (desk, table, door, closed door, the room
 * letters), a panel listing people with their
 * state (right of the map when the terminal is wide enough, else under it),
 * a message/prompt line and a help line.  Works from 80x24 up; KEY_RESIZE
 * is handled.  The UI keeps no model: after any action (ES_TUI_REDRAW
 * included: resize, a prompt being typed) the main loop draws again.
 *
 * Keys: arrows walk, < > turn, g go to someone's desk (name prompt, Tab
 * completes), e enter/leave room, d door, k knock, f focus, w whisper
 * (prompt), Tab / Shift-Tab select a person, + - volume of the selected
 * person, m mute, space push-to-talk, ? (h, F1) all keys, Ctrl-L redraw,
 * q quit.
 *
 * Push-to-talk: terminals report no key release, so the TUI sends
 * ES_TUI_PTT_DOWN on the first space and ES_TUI_PTT_UP once no space
 * (auto-repeat included) has arrived for ES_TUI_PTT_RELEASE_MS; call
 * es_tui_poll_key() at least every 100 ms while talking (the main loop's
 * tick does).
 */
#ifndef EARSHOT_CLIENT_TUI_H
#define EARSHOT_CLIENT_TUI_H

#include <stdbool.h>
#include <stdint.h>

#define ES_TUI_NAME_MAX 64
#define ES_TUI_PTT_RELEASE_MS 700 /* longer than the usual auto-repeat delay */

enum es_tui_person_flags {
	ES_TUI_IS_TALKING = 1u << 0,
	ES_TUI_IS_MUTED = 1u << 1,
	ES_TUI_IS_FOCUS = 1u << 2,    /* do-not-disturb */
	ES_TUI_IS_MEETING = 1u << 3,  /* in a meeting room */
	ES_TUI_IS_ME = 1u << 4,
	ES_TUI_IS_WHISPER = 1u << 5,  /* whispering to me / me to them */
};

struct es_tui_person {
	uint32_t id;           /* non-zero, stable */
	const char *name;      /* UTF-8 */
	float x, y;            /* metres, x east, y north (mixer/floor.c's convention) */
	unsigned flags;        /* enum es_tui_person_flags */
	float volume_db;       /* my personal volume for them, 0 = unchanged */
	float facing;          /* radians, 0 = north, clockwise (es_azimuth()); drawn for me */
};

struct es_tui_cell {
	uint16_t col, row;
};

/* A named room: its name is written on the map from the cell of its letter, and listed in the legend. */
struct es_tui_room {
	const char *name;
	char letter;
	uint16_t col, row; /* the letter's cell */
};

struct es_tui_view {
	/*
	 * The floor as text: rows of cells, one char each, cell_m metres
	 * square, row 0 the northmost (es_floor_row(), es_floor_scale()).
	 * Glyphs as in docs/FLOORPLAN.md: # | - + walls, / doors, = tables,
	 * o desks, A..Z room letters; anything printable is drawn as is.
	 */
	const char *const *floor_rows;
	unsigned floor_h;
	float cell_m;
	/* doors ('/' cells) that are closed now; drawn as a red '#' */
	const struct es_tui_cell *closed_doors;
	unsigned n_closed_doors;
	const struct es_tui_person *people;
	unsigned n_people;
	float my_level;        /* input level 0..1 */
	bool muted;
	bool talking;          /* we are sending (voice detected or PTT) */
	const char *status;    /* connection state, e.g. "connected to host:4545" */
	bool live;             /* the server answers: "LIVE" shows only then */
	const struct es_tui_room *rooms; /* NULL: no names on the map, a legend without rooms */
	unsigned n_rooms;
	const char *notice;    /* a line that stays while it holds ("you are on stage: ..."), or NULL */
	const char *help;      /* NULL: the default key help */
};

enum es_tui_action_type {
	ES_TUI_NONE = 0,
	ES_TUI_WALK_N, ES_TUI_WALK_S, ES_TUI_WALK_E, ES_TUI_WALK_W,
	ES_TUI_TURN_LEFT, ES_TUI_TURN_RIGHT,
	ES_TUI_GOTO,           /* person_id, name: go to their desk */
	ES_TUI_ENTER_LEAVE,    /* enter the room I stand at / leave the one I am in */
	ES_TUI_DOOR,           /* open/close the door of my room (or the nearest) */
	ES_TUI_KNOCK,
	ES_TUI_FOCUS,          /* toggle focus / do-not-disturb */
	ES_TUI_WHISPER,        /* person_id, name: whisper to them (again: stop) */
	ES_TUI_SELECT,         /* person_id is now selected (0: none) */
	ES_TUI_VOLUME_UP,      /* person_id: the selected person */
	ES_TUI_VOLUME_DOWN,
	ES_TUI_MUTE,           /* toggle mute */
	ES_TUI_PTT_DOWN,
	ES_TUI_PTT_UP,
	ES_TUI_QUIT,
	ES_TUI_REDRAW,         /* size, prompt or message changed: call es_tui_draw() */
};

struct es_tui_action {
	enum es_tui_action_type type;
	uint32_t person_id;            /* GOTO, WHISPER, SELECT, VOLUME_* */
	char name[ES_TUI_NAME_MAX];    /* GOTO, WHISPER: that person's name */
};

struct es_tui;

/*
 * Take over the terminal on stdin/stdout (curses newterm, no echo, keypad,
 * non-blocking input).  Call setlocale(LC_ALL, "") first for UTF-8 names.
 * Returns NULL with errno ENOTTY (stdin/stdout not a terminal), ENOENT (no
 * terminfo for $TERM) or ENOMEM.
 */
struct es_tui *es_tui_new(void) __attribute__((warn_unused_result));

/* Give the terminal back as it was.  NULL is a no-op. */
void es_tui_free(struct es_tui *t);

/* The fd to poll for input (stdin). */
int es_tui_fd(const struct es_tui *t);

/*
 * Draw the view.  Nothing in *view is kept after the call (names are
 * copied for selection and prompts).  Returns 0 or -EINVAL / -ENOMEM.
 */
int es_tui_draw(struct es_tui *t, const struct es_tui_view *view)
	__attribute__((warn_unused_result));

/*
 * A transient line under the map ("Knocking on Meeting 2...") until the
 * next message or prompt; NULL clears it.  Copied; shown at the next draw.
 */
void es_tui_message(struct es_tui *t, const char *text);

/*
 * Read pending keys and return the next action: 1 with *out filled, 0 when
 * there is none (keys used by a prompt or unknown keys), -errno on error.
 * Never blocks.  Call it until it returns 0 when es_tui_fd() is readable.
 */
int es_tui_poll_key(struct es_tui *t, struct es_tui_action *out)
	__attribute__((warn_unused_result));

/* "walk-n", "goto", ... for logs and tests. */
const char *es_tui_action_name(enum es_tui_action_type type);

/* The selected person's id, 0 for none. */
uint32_t es_tui_selected(const struct es_tui *t);

#endif
