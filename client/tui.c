/* SPDX-License-Identifier: MIT */
/*
 * ncurses terminal UI.  Drawing is a full repaint of the virtual screen
 * from the view each time (erase + draw + refresh); curses turns that into
 * the few changed cells, so the main loop can simply call es_tui_draw()
 * whenever its state changed (a few times a second at most while people
 * talk) without the UI keeping a model of its own.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>
#include <wctype.h>

#include <curses.h>

#include "clock.h"
#include "tui.h"

enum {
	PAIR_TALK = 1,
	PAIR_MUTED,
	PAIR_ME,
	PAIR_WALL,
	PAIR_DOOR,
	PAIR_FOCUS,
	PAIR_MEETING,
	PAIR_BAR,
	PAIR_LEVEL,
};

enum prompt_kind { PROMPT_NONE, PROMPT_GOTO, PROMPT_WHISPER };

struct known {
	uint32_t id;
	unsigned flags;
	char name[ES_TUI_NAME_MAX];
};

struct es_tui {
	SCREEN *scr;
	bool color;

	struct known *people;  /* copy of the last view's people */
	unsigned n_people, cap_people;
	uint32_t selected;

	enum prompt_kind prompt;
	char input[ES_TUI_NAME_MAX];
	size_t input_len;
	char message[160];

	bool ptt;
	bool show_keys;        /* the '?' key overlay */
	int64_t ptt_last_ms;
};

static const char *const action_names[] = {
	[ES_TUI_NONE] = "none",
	[ES_TUI_WALK_N] = "walk-n",
	[ES_TUI_WALK_S] = "walk-s",
	[ES_TUI_WALK_E] = "walk-e",
	[ES_TUI_WALK_W] = "walk-w",
	[ES_TUI_TURN_LEFT] = "turn-left",
	[ES_TUI_TURN_RIGHT] = "turn-right",
	[ES_TUI_GOTO] = "goto",
	[ES_TUI_ENTER_LEAVE] = "enter-leave",
	[ES_TUI_DOOR] = "door",
	[ES_TUI_KNOCK] = "knock",
	[ES_TUI_FOCUS] = "focus",
	[ES_TUI_WHISPER] = "whisper",
	[ES_TUI_SELECT] = "select",
	[ES_TUI_VOLUME_UP] = "volume-up",
	[ES_TUI_VOLUME_DOWN] = "volume-down",
	[ES_TUI_MUTE] = "mute",
	[ES_TUI_PTT_DOWN] = "ptt-down",
	[ES_TUI_PTT_UP] = "ptt-up",
	[ES_TUI_QUIT] = "quit",
	[ES_TUI_REDRAW] = "redraw",
};

const char *es_tui_action_name(enum es_tui_action_type type)
{
	if ((unsigned)type >= sizeof(action_names) / sizeof(action_names[0]))
		return "unknown";
	return action_names[type];
}

struct es_tui *es_tui_new(void)
{
	struct es_tui *t;
	int err;

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		errno = ENOTTY;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		err = ENOMEM;
		goto err_out;
	}
	/* newterm, unlike initscr, returns NULL instead of exiting */
	t->scr = newterm(NULL, stdout, stdin);
	if (!t->scr) {
		err = ENOENT;
		goto err_free;
	}
	set_term(t->scr);
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	if (has_colors() && start_color() == OK) {
		t->color = true;
		use_default_colors();
		init_pair(PAIR_TALK, COLOR_GREEN, -1);
		init_pair(PAIR_MUTED, COLOR_RED, -1);
		init_pair(PAIR_ME, COLOR_BLACK, COLOR_CYAN);
		init_pair(PAIR_WALL, COLOR_WHITE, -1);
		init_pair(PAIR_DOOR, COLOR_YELLOW, -1);
		init_pair(PAIR_FOCUS, COLOR_MAGENTA, -1);
		init_pair(PAIR_MEETING, COLOR_BLUE, -1);
		init_pair(PAIR_BAR, COLOR_BLACK, COLOR_WHITE);
		init_pair(PAIR_LEVEL, COLOR_GREEN, -1);
	}
	return t;

err_free:
	free(t);
err_out:
	errno = err;
	return NULL;
}

void es_tui_free(struct es_tui *t)
{
	if (!t)
		return;
	set_term(t->scr);
	endwin();
	delscreen(t->scr);
	free(t->people);
	free(t);
}

int es_tui_fd(const struct es_tui *t)
{
	return STDIN_FILENO;
}

uint32_t es_tui_selected(const struct es_tui *t)
{
	return t ? t->selected : 0;
}

void es_tui_message(struct es_tui *t, const char *text)
{
	if (!t)
		return;
	snprintf(t->message, sizeof(t->message), "%s", text ? text : "");
}

static attr_t pair(const struct es_tui *t, short p)
{
	return t->color ? COLOR_PAIR(p) : A_NORMAL;
}

/*
 * Names come from other people: characters that reorder the text around
 * them (bidi embeddings, overrides, isolates) could make one name look
 * like another, so they are shown as '?' like control characters.
 */
static bool bidi_control(wchar_t wc)
{
	return wc == 0x061c || (wc >= 0x200e && wc <= 0x200f) || (wc >= 0x202a && wc <= 0x202e) ||
	       (wc >= 0x2066 && wc <= 0x2069);
}

/*
 * Put UTF-8 text at (y, x), at most maxcols display columns, control and
 * undecodable bytes shown as '?'.  Returns the columns used.
 */
static int put_text(int y, int x, const char *s, int maxcols)
{
	mbstate_t st;
	int used = 0;
	size_t len = strlen(s);

	memset(&st, 0, sizeof(st));
	move(y, x);
	while (len && used < maxcols) {
		wchar_t wc;
		size_t n = mbrtowc(&wc, s, len, &st);
		if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
			memset(&st, 0, sizeof(st));
			wc = L'?';
			n = 1;
		}
		int w = wcwidth(wc);
		if (w < 0 || iswcntrl((wint_t)wc) || bidi_control(wc)) {
			wc = L'?';
			w = 1;
		}
		if (used + w > maxcols)
			break;
		addnwstr(&wc, 1);
		used += w;
		s += n;
		len -= n;
	}
	return used;
}

/* The letter that stands for a person on the map. */
static wchar_t initial(const char *name)
{
	mbstate_t st;
	wchar_t wc;
	memset(&st, 0, sizeof(st));
	size_t n = mbrtowc(&wc, name, strlen(name), &st);
	if (n == 0 || n == (size_t)-1 || n == (size_t)-2 || wcwidth(wc) != 1)
		return L'?';
	return (wchar_t)towupper((wint_t)wc);
}

static attr_t person_attr(const struct es_tui *t, unsigned flags)
{
	attr_t a = A_NORMAL;
	if (flags & ES_TUI_IS_ME)
		a |= pair(t, PAIR_ME) | A_BOLD | (t->color ? 0 : A_REVERSE);
	else if (flags & ES_TUI_IS_TALKING)
		a |= pair(t, PAIR_TALK) | A_BOLD;
	else if (flags & ES_TUI_IS_MUTED)
		a |= pair(t, PAIR_MUTED) | A_DIM;
	else if (flags & ES_TUI_IS_FOCUS)
		a |= pair(t, PAIR_FOCUS);
	else if (flags & ES_TUI_IS_MEETING)
		a |= pair(t, PAIR_MEETING);
	if ((flags & ES_TUI_IS_TALKING) && (flags & ES_TUI_IS_ME))
		a |= A_UNDERLINE;
	return a;
}

static int keep_people(struct es_tui *t, const struct es_tui_view *v)
{
	if (v->n_people > t->cap_people) {
		struct known *k = realloc(t->people, v->n_people * sizeof(*k));
		if (!k)
			return -ENOMEM;
		t->people = k;
		t->cap_people = v->n_people;
	}
	bool sel_found = false;
	for (unsigned i = 0; i < v->n_people; i++) {
		t->people[i].id = v->people[i].id;
		t->people[i].flags = v->people[i].flags;
		snprintf(t->people[i].name, sizeof(t->people[i].name), "%s",
			 v->people[i].name ? v->people[i].name : "?");
		if (v->people[i].id == t->selected)
			sel_found = true;
	}
	t->n_people = v->n_people;
	if (!sel_found)
		t->selected = 0;
	return 0;
}

static unsigned floor_width(const struct es_tui_view *v)
{
	unsigned w = 0;
	for (unsigned r = 0; r < v->floor_h; r++) {
		size_t l = v->floor_rows[r] ? strlen(v->floor_rows[r]) : 0;
		if (l > w)
			w = (unsigned)l;
	}
	return w;
}

/* Glyphs of the floor-plan format (docs/FLOORPLAN.md). */
static bool is_wall(char c)
{
	return c == '#' || c == '|' || c == '-' || c == '+';
}

static attr_t cell_attr(const struct es_tui *t, char c)
{
	if (is_wall(c))
		return pair(t, PAIR_WALL);
	if (c == '/')
		return pair(t, PAIR_DOOR) | A_BOLD;
	if (c >= 'A' && c <= 'Z') /* room letters: not to be taken for people */
		return pair(t, PAIR_MEETING) | A_DIM;
	return A_DIM; /* floor, desks, tables */
}

/*
 * What goes into the second column of a cell drawn two columns wide:
 * horizontal walls and tables stay continuous, the rest gets a gap.
 */
static char stretch_fill(char c, char next)
{
	if (c == '#' && next == '#')
		return '#';
	if ((c == '-' || c == '+' || c == '#') && (next == '-' || next == '+' || next == '#' || next == '/'))
		return '-';
	if (c == '/' && (next == '-' || next == '+'))
		return '-';
	if (c == '=' && next == '=')
		return '=';
	return ' ';
}

static bool door_closed(const struct es_tui_view *v, int col, int row)
{
	for (unsigned i = 0; i < v->n_closed_doors; i++)
		if (v->closed_doors[i].col == col && v->closed_doors[i].row == row)
			return true;
	return false;
}

static int clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* The person marked ME, or NULL. */
static const struct es_tui_person *find_me(const struct es_tui_view *v)
{
	for (unsigned i = 0; i < v->n_people; i++)
		if (v->people[i].flags & ES_TUI_IS_ME)
			return &v->people[i];
	return NULL;
}

/* x east, y north, row 0 at the top (north): mixer/floor.c's convention */
static void cell_of(const struct es_tui_view *v, float x, float y, int *cx, int *cy)
{
	float m = v->cell_m > 0 ? v->cell_m : 1.0f;
	*cx = (int)floorf(x / m);
	*cy = (int)v->floor_h - 1 - (int)floorf(y / m);
}

/*
 * Which way I face: an arrow in the cell ahead of me (8 directions), only
 * over empty floor so it never hides a wall, a door or a person.
 */
static void draw_facing(struct es_tui *t, float facing, int y, int x, int by, int bx, int bh,
			int bw, int zoom)
{
	/* diagonals as arrows, never '/' or '\\' (a door is '/'); without UTF-8, the nearest of four */
	static const wchar_t arrows[8] = { L'\u2191', L'\u2197', L'\u2192', L'\u2198',
					   L'\u2193', L'\u2199', L'\u2190', L'\u2196' };
	static const wchar_t ascii[8] = { L'^', L'>', L'>', L'v', L'v', L'<', L'<', L'^' };
	static const int dcol[8] = { 0, 1, 1, 1, 0, -1, -1, -1 };
	static const int drow[8] = { -1, -1, 0, 1, 1, 1, 0, -1 };
	if (!isfinite(facing))
		return;
	float turns = facing / (2.0f * (float)M_PI);
	int k = ((int)lroundf((turns - floorf(turns)) * 8.0f)) % 8;
	int ay = y + drow[k], ax = x + dcol[k] * zoom;
	if (ay < by || ay >= by + bh || ax < bx || ax >= bx + bw)
		return;
	chtype under = mvinch(ay, ax) & A_CHARTEXT;
	if (under != '.' && under != ' ')
		return;
	wchar_t wc[2] = { MB_CUR_MAX > 1 ? arrows[k] : ascii[k], 0 };
	attrset(pair(t, PAIR_ME) | A_BOLD | (t->color ? 0 : A_REVERSE));
	mvaddnwstr(ay, ax, wc, 1);
	attrset(A_NORMAL);
}

/* Columns s takes on screen: wide characters 2, bytes that are not UTF-8 1 (put_text shows '?'). */
static int text_cols(const char *s)
{
	mbstate_t st;
	memset(&st, 0, sizeof(st));
	int cols = 0;
	size_t len = strlen(s);
	while (len > 0) {
		wchar_t wc;
		size_t n = mbrtowc(&wc, s, len, &st);
		if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
			memset(&st, 0, sizeof(st));
			n = 1;
			cols++;
		} else {
			int cw = wcwidth(wc);
			cols += cw > 0 ? cw : 1;
		}
		s += n;
		len -= n;
	}
	return cols;
}

/*
 * The legend under the map: the glyphs, then every room as "X Name".  When
 * that is wider than the map (the built-in office's seven rooms take 100
 * columns, the map at 80x24 has 53), the first rooms keep their names while
 * the rest still fit as bare letters, whose names are written on the map
 * itself: "o desk = table / door # closed | O Orion  L V K S F G".  So the
 * line is shortened, never cut in the middle of a name.
 */
static void legend_text(const struct es_tui_view *v, int w, char *out, size_t cap)
{
	static const char glyphs[] = "o desk = table / door # closed";
	for (int named = (int)v->n_rooms; named >= 0; named--) {
		size_t n = (size_t)snprintf(out, cap, "%s", glyphs);
		for (unsigned i = 0; i < v->n_rooms && n < cap; i++) {
			const char *sep = i == 0 ? " | " : (int)i <= named ? "  " : " ";
			if ((int)i < named)
				n += (size_t)snprintf(out + n, cap - n, "%s%c %s", sep, v->rooms[i].letter,
						      v->rooms[i].name ? v->rooms[i].name : "?");
			else
				n += (size_t)snprintf(out + n, cap - n, "%s%c", sep, v->rooms[i].letter);
		}
		if (n < cap && text_cols(out) <= w)
			return;
	}
	snprintf(out, cap, "%s", glyphs); /* narrower still: put_text cuts it */
}

/* The floor in the box (y0, x0, h, w), scrolled so that I am in the middle. */
static void draw_map(struct es_tui *t, const struct es_tui_view *v, int y0, int x0, int h, int w)
{
	int fw = (int)floor_width(v), fh = (int)v->floor_h;
	if (h <= 0 || w <= 0)
		return;
	/* the last row of the box: what the glyphs mean, and the rooms' letters */
	if (h >= 8 && fh > 0) {
		h--;
		char legend[512];
		legend_text(v, w, legend, sizeof(legend));
		attrset(A_DIM);
		put_text(y0 + h, x0, legend, w);
		attrset(A_NORMAL);
	}
	/* cells are twice as tall as wide: two columns per floor cell if it fits */
	int zoom = fw * 2 <= w ? 2 : 1;
	int vw = w / zoom, vh = h;

	int mx = fw / 2, my = fh / 2;
	const struct es_tui_person *me = find_me(v);
	if (me)
		cell_of(v, me->x, me->y, &mx, &my);
	/* origin: centred on me, clamped to the floor; small floors are centred */
	int ox = fw <= vw ? -(vw - fw) / 2 : clampi(mx - vw / 2, 0, fw - vw);
	int oy = fh <= vh ? -(vh - fh) / 2 : clampi(my - vh / 2, 0, fh - vh);

	for (int r = 0; r < vh; r++) {
		int fy = oy + r;
		if (fy < 0 || fy >= fh || !v->floor_rows[fy])
			continue;
		const char *row = v->floor_rows[fy];
		int rl = (int)strlen(row);
		for (int c = 0; c < vw; c++) {
			int fx = ox + c;
			if (fx < 0 || fx >= rl)
				continue;
			char ch = row[fx];
			if ((unsigned char)ch < 0x20 || (unsigned char)ch > 0x7e)
				ch = '?';
			char next = fx + 1 < rl ? row[fx + 1] : ' ';
			attr_t a = cell_attr(t, ch);
			if (ch == '/' && door_closed(v, fx, fy)) {
				ch = '#'; /* a closed door blocks like a wall, in door colour */
				a = pair(t, PAIR_MUTED) | A_BOLD;
			}
			mvaddch(y0 + r, x0 + c * zoom, (chtype)(unsigned char)ch | a);
			if (zoom == 2) {
				char fill = stretch_fill(row[fx], next);
				mvaddch(y0 + r, x0 + c * zoom + 1,
					(chtype)(unsigned char)fill | cell_attr(t, fill));
			}
		}
	}

	/* room names from their letter, over the room's own floor only */
	for (unsigned i = 0; i < v->n_rooms; i++) {
		const struct es_tui_room *rm = &v->rooms[i];
		int fy = rm->row, sy = fy - oy;
		if (!rm->name || sy < 0 || sy >= vh || fy >= fh || !v->floor_rows[fy])
			continue;
		const char *row = v->floor_rows[fy];
		int rl = (int)strlen(row);
		attrset(pair(t, PAIR_MEETING) | A_BOLD);
		for (int k = 0; rm->name[k]; k++) {
			int fx = rm->col + k, sx = fx - ox;
			if (fx >= rl || (k > 0 && row[fx] != '.' && row[fx] != ' ') || sx >= vw)
				break;
			unsigned char ch = (unsigned char)rm->name[k];
			if (sx >= 0)
				mvaddch(y0 + sy, x0 + sx * zoom, ch >= 0x20 && ch < 0x7f ? ch : '?');
		}
		attrset(A_NORMAL);
	}

	/* people on top: others first, then talkers, then me */
	for (int pass = 0; pass < 3; pass++) {
		for (unsigned i = 0; i < v->n_people; i++) {
			const struct es_tui_person *p = &v->people[i];
			int want = (p->flags & ES_TUI_IS_ME) ? 2 : (p->flags & ES_TUI_IS_TALKING) ? 1 : 0;
			if (want != pass)
				continue;
			int cx, cy;
			cell_of(v, p->x, p->y, &cx, &cy);
			int sx = cx - ox, sy = cy - oy;
			if (sx < 0 || sx >= vw || sy < 0 || sy >= vh || p->x < 0 || p->y < 0)
				continue;
			attr_t a = person_attr(t, p->flags);
			if (p->id == t->selected)
				a |= A_UNDERLINE;
			wchar_t wc[2] = { initial(p->name ? p->name : "?"), 0 };
			attrset(a);
			mvaddnwstr(y0 + sy, x0 + sx * zoom, wc, 1);
			attrset(A_NORMAL);
			if (p->flags & ES_TUI_IS_ME)
				draw_facing(t, p->facing, y0 + sy, x0 + sx * zoom, y0, x0, h, vw * zoom, zoom);
		}
	}
}

static void flags_text(unsigned f, float vol, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s%s%s%s%s%s",
			 f & ES_TUI_IS_TALKING ? " talking" : "",
			 f & ES_TUI_IS_MUTED ? " muted" : "",
			 f & ES_TUI_IS_FOCUS ? " focus" : "",
			 f & ES_TUI_IS_MEETING ? " meeting" : "",
			 f & ES_TUI_IS_WHISPER ? " whisper" : "",
			 f & ES_TUI_IS_ME ? " (you)" : "");
	if (vol != 0.0f && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " %+.0fdB", vol);
}

/* The people list in the box; the selected one is kept in view. */
static void draw_panel(struct es_tui *t, const struct es_tui_view *v, int y0, int x0, int h, int w)
{
	if (h <= 0 || w < 8)
		return;
	char title[48];
	snprintf(title, sizeof(title), "People (%u)", v->n_people);
	attrset(A_BOLD);
	put_text(y0, x0, title, w);
	attrset(A_NORMAL);
	int rows = h - 1;
	int sel = -1;
	for (unsigned i = 0; i < v->n_people; i++)
		if (v->people[i].id == t->selected)
			sel = (int)i;
	int first = 0;
	if (sel >= rows)
		first = sel - rows + 1;
	for (int r = 0; r < rows && first + r < (int)v->n_people; r++) {
		const struct es_tui_person *p = &v->people[first + r];
		int y = y0 + 1 + r, x = x0;
		bool is_sel = p->id == t->selected;
		attrset(is_sel ? A_REVERSE : A_NORMAL);
		mvaddstr(y, x, is_sel ? ">" : " ");
		attrset(person_attr(t, p->flags));
		wchar_t wc[2] = { initial(p->name ? p->name : "?"), 0 };
		mvaddnwstr(y, x + 1, wc, 1);
		attrset(is_sel ? A_REVERSE : A_NORMAL);
		if (p->flags & ES_TUI_IS_TALKING)
			attron(A_BOLD);
		char st[96];
		flags_text(p->flags, p->volume_db, st, sizeof(st));
		int room = w - 3;
		int stw = (int)strlen(st);
		/* names get what the state words leave, but at least 8 columns */
		int namew = room - stw;
		if (namew < 8)
			namew = room < 8 ? room : 8;
		int used = put_text(y, x + 3, p->name ? p->name : "?", namew);
		if (used + 3 < w)
			put_text(y, x + 3 + used, st, w - 3 - used);
		attrset(A_NORMAL);
	}
	if (first + rows < (int)v->n_people) {
		attrset(A_DIM);
		put_text(y0 + h - 1, x0 + w - 6, " more", 5);
		attrset(A_NORMAL);
	}
}

static void draw_bar(struct es_tui *t, const struct es_tui_view *v, int cols)
{
	attrset(pair(t, PAIR_BAR) | (t->color ? 0 : A_REVERSE));
	mvhline(0, 0, ' ', cols);
	int x = put_text(0, 0, " earshot ", cols);
	/* the status text gets what the meter (21 columns at the right) leaves */
	int room = cols - 21 - 1 - x;
	if (v->status && room > 0)
		x += put_text(0, x, v->status, room);
	attrset(A_NORMAL);

	/* right end: mute state and input meter, 21 columns */
	int mx = cols - 21;
	if (mx <= x)
		return;
	if (v->muted) {
		attrset(pair(t, PAIR_MUTED) | A_BOLD | A_REVERSE);
		mvaddstr(0, mx, " MUTED ");
	} else if (v->talking && v->live) {
		attrset(pair(t, PAIR_TALK) | A_BOLD | A_REVERSE);
		mvaddstr(0, mx, " LIVE  ");
	} else {
		attrset(pair(t, PAIR_BAR) | (t->color ? 0 : A_REVERSE));
		mvaddstr(0, mx, " mic   ");
	}
	float l = v->my_level < 0 ? 0 : v->my_level > 1 ? 1 : v->my_level;
	int bars = (int)(l * 12.0f + 0.5f);
	attrset(A_NORMAL);
	mvaddch(0, mx + 7, '[');
	for (int i = 0; i < 12; i++) {
		attrset(i < bars ? (pair(t, i < 9 ? PAIR_LEVEL : PAIR_MUTED) | A_BOLD) : A_DIM);
		mvaddch(0, mx + 8 + i, i < bars ? '|' : ' ');
	}
	attrset(A_NORMAL);
	mvaddch(0, mx + 20, ']');
}

/* With nothing else to say: who is selected, how far, what the keys do. */
static void selected_line(struct es_tui *t, const struct es_tui_view *v, int y, int cols)
{
	const struct es_tui_person *sel = NULL, *me = find_me(v);
	for (unsigned i = 0; i < v->n_people; i++)
		if (v->people[i].id == t->selected)
			sel = &v->people[i];
	if (!sel)
		return;
	char st[96], line[256];
	flags_text(sel->flags, sel->volume_db, st, sizeof(st));
	if (me) {
		float d = hypotf(sel->x - me->x, sel->y - me->y);
		snprintf(line, sizeof(line), "%s, %.1f m%s%s  (+/- volume, w whisper, g go)",
			 sel->name ? sel->name : "?", d, st[0] ? "," : "", st);
	} else {
		snprintf(line, sizeof(line), "%s%s%s", sel->name ? sel->name : "?", st[0] ? "," : "", st);
	}
	attrset(A_BOLD);
	put_text(y, 0, line, cols);
	attrset(A_NORMAL);
}

/* Every key, in a box over the map: '?' shows it, any key hides it. */
static void draw_keys(int rows, int cols)
{
	static const char *const lines[] = {
		"Keys",
		"",
		"arrows     walk",
		"< >        turn left / right",
		"g          go to someone's desk (Tab completes the name)",
		"e          enter / leave the room here",
		"d          open / close the door",
		"k          knock",
		"f          focus: hear only whispers and the stage",
		"w          whisper to someone (again: stop)",
		"Tab S-Tab  select a person",
		"+ -        their volume, for me only",
		"m          mute / unmute",
		"space      push to talk (hold)",
		"Ctrl-L     redraw",
		"q          quit",
		"",
		"any key closes this",
	};
	const int n = (int)(sizeof(lines) / sizeof(lines[0]));
	int w = 0;
	for (int i = 0; i < n; i++)
		if ((int)strlen(lines[i]) > w)
			w = (int)strlen(lines[i]);
	w += 4;
	int h = n + 2;
	if (w > cols)
		w = cols;
	if (h > rows - 2)
		h = rows - 2;
	int y0 = (rows - h) / 2, x0 = (cols - w) / 2;
	for (int y = 0; y < h; y++)
		mvhline(y0 + y, x0, ' ', w);
	attrset(A_BOLD);
	mvaddch(y0, x0, ACS_ULCORNER);
	mvhline(y0, x0 + 1, ACS_HLINE, w - 2);
	mvaddch(y0, x0 + w - 1, ACS_URCORNER);
	mvaddch(y0 + h - 1, x0, ACS_LLCORNER);
	mvhline(y0 + h - 1, x0 + 1, ACS_HLINE, w - 2);
	mvaddch(y0 + h - 1, x0 + w - 1, ACS_LRCORNER);
	mvvline(y0 + 1, x0, ACS_VLINE, h - 2);
	mvvline(y0 + 1, x0 + w - 1, ACS_VLINE, h - 2);
	attrset(A_NORMAL);
	for (int i = 0; i < n && i < h - 2; i++) {
		if (i == 0)
			attrset(A_BOLD);
		put_text(y0 + 1 + i, x0 + 2, lines[i], w - 4);
		attrset(A_NORMAL);
	}
}

static const char *default_help =
	"arrows walk  <> turn  g go to  e room  d door  k knock  f focus  "
	"w whisper  Tab select  +- volume  m mute  ? all keys  q quit";
static const char *short_help = /* fits 79 columns */
	"arrows walk g goto e room d door k knock f focus w whisper +- vol m mute ? q";

int es_tui_draw(struct es_tui *t, const struct es_tui_view *v)
{
	int rows, cols, r;

	if (!t || !v || (v->floor_h && !v->floor_rows) || (v->n_people && !v->people) ||
	    (v->n_closed_doors && !v->closed_doors))
		return -EINVAL;
	r = keep_people(t, v);
	if (r < 0)
		return r;
	set_term(t->scr);
	getmaxyx(stdscr, rows, cols);
	erase();
	if (rows < 6 || cols < 30) {
		put_text(0, 0, "earshot: terminal too small", cols);
		refresh();
		return 0;
	}

	draw_bar(t, v, cols);

	int body_y = 1, body_h = rows - 3;
	/* the people panel: right of the map when wide, under it when narrow */
	if (cols >= 70) {
		int pw = cols / 3 < 26 ? 26 : cols / 3 > 40 ? 40 : cols / 3;
		int mw = cols - pw - 1;
		draw_map(t, v, body_y, 0, body_h, mw);
		attrset(A_DIM);
		mvvline(body_y, mw, ACS_VLINE, body_h);
		attrset(A_NORMAL);
		draw_panel(t, v, body_y, mw + 1, body_h, pw);
	} else {
		int ph = body_h / 3 < 3 ? 3 : body_h / 3;
		draw_map(t, v, body_y, 0, body_h - ph, cols);
		draw_panel(t, v, body_y + body_h - ph, 0, ph, cols);
	}

	/* message or prompt line */
	if (t->prompt != PROMPT_NONE) {
		char line[160];
		snprintf(line, sizeof(line), "%s: %s", t->prompt == PROMPT_GOTO ? "Go to" : "Whisper to",
			 t->input);
		attrset(A_BOLD);
		int used = put_text(rows - 2, 0, line, cols - 1);
		attrset(A_REVERSE);
		mvaddch(rows - 2, used, ' '); /* the cursor */
		attrset(A_NORMAL);
	} else if (t->message[0]) {
		put_text(rows - 2, 0, t->message, cols);
	} else if (v->notice) {
		attrset(pair(t, PAIR_TALK) | A_BOLD);
		put_text(rows - 2, 0, v->notice, cols);
		attrset(A_NORMAL);
	} else {
		selected_line(t, v, rows - 2, cols);
	}

	if (t->show_keys)
		draw_keys(rows, cols);

	const char *help = v->help ? v->help : (int)strlen(default_help) <= cols ? default_help : short_help;
	attrset(A_DIM);
	put_text(rows - 1, 0, help, cols - 1);
	attrset(A_NORMAL);
	refresh();
	return 0;
}

/* ---- input -------------------------------------------------------------- */

/* Case-insensitive: exact name first, else a unique prefix; NULL if none. */
static const struct known *match_name(const struct es_tui *t, const char *s, bool *ambiguous)
{
	const struct known *hit = NULL;
	size_t n = strlen(s);
	unsigned hits = 0;

	*ambiguous = false;
	if (n == 0)
		return NULL;
	for (unsigned i = 0; i < t->n_people; i++)
		if (!(t->people[i].flags & ES_TUI_IS_ME) && strcasecmp(t->people[i].name, s) == 0)
			return &t->people[i];
	for (unsigned i = 0; i < t->n_people; i++) {
		if (t->people[i].flags & ES_TUI_IS_ME)
			continue;
		if (strncasecmp(t->people[i].name, s, n) == 0) {
			if (!hit)
				hit = &t->people[i];
			hits++;
		}
	}
	if (hits > 1) {
		*ambiguous = true;
		return NULL;
	}
	return hit;
}

static void start_prompt(struct es_tui *t, enum prompt_kind k)
{
	t->prompt = k;
	t->input[0] = '\0';
	t->input_len = 0;
	/* whisper defaults to the selected person */
	if (k == PROMPT_WHISPER && t->selected) {
		for (unsigned i = 0; i < t->n_people; i++) {
			if (t->people[i].id == t->selected) {
				snprintf(t->input, sizeof(t->input), "%s", t->people[i].name);
				t->input_len = strlen(t->input);
			}
		}
	}
}

/* A key while a prompt is open; 1 with *out when the prompt completes. */
static int prompt_key(struct es_tui *t, int key, struct es_tui_action *out)
{
	bool amb;
	const struct known *k;

	switch (key) {
	case 27: /* Esc */
		t->prompt = PROMPT_NONE;
		t->message[0] = '\0';
		return 0;
	case KEY_BACKSPACE: case 127: case 8:
		/* drop one UTF-8 character */
		while (t->input_len > 0) {
			unsigned char c = (unsigned char)t->input[--t->input_len];
			if ((c & 0xc0) != 0x80)
				break;
		}
		t->input[t->input_len] = '\0';
		return 0;
	case '\t':
		k = match_name(t, t->input, &amb);
		if (k) {
			snprintf(t->input, sizeof(t->input), "%s", k->name);
			t->input_len = strlen(t->input);
		}
		return 0;
	case '\r': case '\n': case KEY_ENTER: {
		enum prompt_kind kind = t->prompt;
		t->prompt = PROMPT_NONE;
		k = match_name(t, t->input, &amb);
		if (!k) {
			snprintf(t->message, sizeof(t->message), "%s '%.60s'",
				 amb ? "More than one person matches" : "Nobody called", t->input);
			return 0;
		}
		memset(out, 0, sizeof(*out));
		out->type = kind == PROMPT_GOTO ? ES_TUI_GOTO : ES_TUI_WHISPER;
		out->person_id = k->id;
		snprintf(out->name, sizeof(out->name), "%s", k->name);
		t->message[0] = '\0';
		return 1;
	}
	default:
		/* printable bytes, UTF-8 included; keypad codes are ignored */
		if (key >= 0x20 && key <= 0xff && key != 0x7f && t->input_len + 1 < sizeof(t->input)) {
			t->input[t->input_len++] = (char)key;
			t->input[t->input_len] = '\0';
		}
		return 0;
	}
}

static void cycle_selection(struct es_tui *t, int dir, struct es_tui_action *out)
{
	int n = (int)t->n_people, cur = -1;
	for (int i = 0; i < n; i++)
		if (t->people[i].id == t->selected)
			cur = i;
	uint32_t next = 0;
	for (int step = 1; step <= n; step++) {
		int i = cur < 0 ? (dir > 0 ? step - 1 : n - step) : ((cur + dir * step) % n + n) % n;
		if (!(t->people[i].flags & ES_TUI_IS_ME)) {
			next = t->people[i].id;
			break;
		}
	}
	t->selected = next;
	memset(out, 0, sizeof(*out));
	out->type = ES_TUI_SELECT;
	out->person_id = next;
	for (int i = 0; i < n; i++)
		if (t->people[i].id == next)
			snprintf(out->name, sizeof(out->name), "%s", t->people[i].name);
}

int es_tui_poll_key(struct es_tui *t, struct es_tui_action *out)
{
	if (!t || !out)
		return -EINVAL;
	set_term(t->scr);
	memset(out, 0, sizeof(*out));

	for (;;) {
		int key = getch();
		if (key == ERR)
			break;
		if (key == KEY_RESIZE) {
			out->type = ES_TUI_REDRAW;
			return 1;
		}
		if (t->show_keys) {
			/* any key closes the overlay, and only does that */
			t->show_keys = false;
			out->type = ES_TUI_REDRAW;
			return 1;
		}
		if (key == ' ' && t->prompt == PROMPT_NONE) {
			t->ptt_last_ms = es_now_ms();
			if (!t->ptt) {
				t->ptt = true;
				out->type = ES_TUI_PTT_DOWN;
				return 1;
			}
			continue; /* auto-repeat of a held key */
		}
		if (t->prompt != PROMPT_NONE) {
			/* the prompt line changed: have the main loop draw it */
			if (!prompt_key(t, key, out))
				out->type = ES_TUI_REDRAW;
			return 1;
		}
		enum es_tui_action_type a = ES_TUI_NONE;
		switch (key) {
		case KEY_UP: a = ES_TUI_WALK_N; break;
		case KEY_DOWN: a = ES_TUI_WALK_S; break;
		case KEY_RIGHT: a = ES_TUI_WALK_E; break;
		case KEY_LEFT: a = ES_TUI_WALK_W; break;
		case '<': case ',': a = ES_TUI_TURN_LEFT; break;
		case '>': case '.': a = ES_TUI_TURN_RIGHT; break;
		case 'g': start_prompt(t, PROMPT_GOTO); a = ES_TUI_REDRAW; break;
		case 'w': start_prompt(t, PROMPT_WHISPER); a = ES_TUI_REDRAW; break;
		case 'e': a = ES_TUI_ENTER_LEAVE; break;
		case 'd': a = ES_TUI_DOOR; break;
		case 'k': a = ES_TUI_KNOCK; break;
		case 'f': a = ES_TUI_FOCUS; break;
		case 'm': a = ES_TUI_MUTE; break;
		case 'q': a = ES_TUI_QUIT; break;
		case '\t': cycle_selection(t, +1, out); return 1;
		case KEY_BTAB: cycle_selection(t, -1, out); return 1;
		case '+': case '=':
		case '-': case '_':
			if (!t->selected) {
				es_tui_message(t, "Select someone with Tab first");
				a = ES_TUI_REDRAW;
				break;
			}
			a = (key == '+' || key == '=') ? ES_TUI_VOLUME_UP : ES_TUI_VOLUME_DOWN;
			out->person_id = t->selected;
			for (unsigned i = 0; i < t->n_people; i++)
				if (t->people[i].id == t->selected)
					snprintf(out->name, sizeof(out->name), "%s", t->people[i].name);
			break;
		case '?': case 'h': case KEY_F(1):
			t->show_keys = true;
			a = ES_TUI_REDRAW;
			break;
		case 12: /* Ctrl-L */
			clearok(curscr, TRUE);
			a = ES_TUI_REDRAW;
			break;
		default:
			continue;
		}
		out->type = a;
		return 1;
	}

	if (t->ptt && es_now_ms() - t->ptt_last_ms >= ES_TUI_PTT_RELEASE_MS) {
		t->ptt = false;
		out->type = ES_TUI_PTT_UP;
		return 1;
	}
	return 0;
}
