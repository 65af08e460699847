/* SPDX-License-Identifier: MIT */
/*
 * Floor plans: parse the text format (docs/FLOORPLAN.md), precompute what the
 * mixer asks on every tick, and answer it without allocating.
 *
 * Parsing builds, once, a class byte and a room id per cell, and per room a
 * list of its doors with their inside and outside cell centres.  A path query
 * is then O(1) for two people in one room and otherwise one walk along the
 * cells of a straight line per door (pair) tried; rooms have few doors.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "earshot-mixer.h"

enum cell_class {
	CELL_FLOOR = 0, /* '.', ' ', 'o', room letters */
	CELL_TABLE,     /* '=': acoustically floor, not walkable */
	CELL_WALL,      /* '#', '|', '-', '+' */
	CELL_DOOR,      /* '/' */
};

struct room {
	char letter;
	enum es_room_kind kind;
	char name[ES_FLOOR_NAME_MAX];
	unsigned seed_col, seed_row;
	unsigned door_first, door_count; /* into door_idx */
};

struct door {
	unsigned col, row;
	unsigned room;
	bool open;
	bool init_open;
	float x, y;   /* centre of the door cell, metres */
	float ox, oy; /* centre of the cell just outside, metres */
};

struct desk {
	unsigned col, row;
	float x, y;
	char label[ES_FLOOR_LABEL_MAX];
	int line, lcol; /* where the label was given (parse errors only) */
};

struct es_floor {
	unsigned cols, rows;
	float scale, inv_scale;
	float door_db, door_gain;
	char name[ES_FLOOR_NAME_MAX];
	char *cells;      /* rows * (cols + 1): each row NUL-terminated */
	uint8_t *cls;     /* rows * cols, enum cell_class */
	int16_t *room_of; /* rows * cols, -1 = open space */
	int32_t *rect_of; /* rows * cols: wall-free rectangle the cell is in, -1 for walls and doors */
	unsigned first_letter[26]; /* cell index of each letter's first cell, or UINT_MAX */
	struct room *rooms;
	unsigned nrooms;
	struct door *doors;
	unsigned ndoors;
	unsigned *door_idx; /* doors grouped by room */
	struct desk *desks;
	unsigned ndesks;
	unsigned *desk_sorted; /* desk indices sorted by label */
	char *text;
	size_t text_len;
	int grid_line; /* text line of grid row 0 (parse errors only) */
};

static const char *const kind_names[] = {
	[ES_ROOM_OPEN] = "open",
	[ES_ROOM_MEETING] = "meeting",
	[ES_ROOM_FOCUS] = "focus",
	[ES_ROOM_KITCHEN] = "kitchen",
	[ES_ROOM_STAGE] = "stage",
};

const char *es_room_kind_name(enum es_room_kind kind)
{
	if ((unsigned)kind >= sizeof(kind_names) / sizeof(kind_names[0]))
		return NULL;
	return kind_names[kind];
}

/* ---- errors and tokens --------------------------------------------------- */

__attribute__((format(printf, 4, 5)))
static int fail(struct es_floor_error *err, int line, int col, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		err->line = line;
		err->col = col;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

#define MAX_TOKENS 12

struct tok {
	const char *s;
	size_t len;
	int col;     /* 1-based */
	bool quoted; /* s/len exclude the quotes */
};

struct line {
	const char *s;
	size_t len; /* without '\n' and a trailing '\r' */
	int no;     /* 1-based */
};

/* Split a legend or header line into tokens; "..." is one token.  Returns the count or -EBADMSG. */
static int tokenize(const struct line *ln, struct tok *t, struct es_floor_error *err)
{
	int n = 0;
	size_t i = 0;
	while (i < ln->len) {
		char c = ln->s[i];
		if (c == ' ' || c == '\t') {
			i++;
			continue;
		}
		if (n == MAX_TOKENS)
			return fail(err, ln->no, (int)i + 1, "too many words on this line");
		t[n].col = (int)i + 1;
		if (c == '"') {
			size_t j = i + 1;
			while (j < ln->len && ln->s[j] != '"')
				j++;
			if (j >= ln->len)
				return fail(err, ln->no, (int)i + 1, "unterminated quoted name");
			t[n].s = ln->s + i + 1;
			t[n].len = j - i - 1;
			t[n].quoted = true;
			i = j + 1;
			if (i < ln->len && ln->s[i] != ' ' && ln->s[i] != '\t')
				return fail(err, ln->no, (int)i + 1, "expected a space after the quoted name");
		} else {
			size_t j = i;
			while (j < ln->len && ln->s[j] != ' ' && ln->s[j] != '\t')
				j++;
			t[n].s = ln->s + i;
			t[n].len = j - i;
			t[n].quoted = false;
			i = j;
		}
		n++;
	}
	return n;
}

static bool tok_is(const struct tok *t, const char *word)
{
	return !t->quoted && t->len == strlen(word) && memcmp(t->s, word, t->len) == 0;
}

/* A non-negative decimal integer below `limit`. */
static int tok_uint(const struct tok *t, unsigned limit, unsigned *out)
{
	if (t->quoted || t->len == 0 || t->len > 9)
		return -EINVAL;
	unsigned v = 0;
	for (size_t i = 0; i < t->len; i++) {
		if (t->s[i] < '0' || t->s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(t->s[i] - '0');
	}
	if (v >= limit)
		return -ERANGE;
	*out = v;
	return 0;
}

/* A plain decimal number (no exponent, no hex, no inf/nan). */
static int tok_float(const struct tok *t, float *out)
{
	char buf[32];
	if (t->quoted || t->len == 0 || t->len >= sizeof(buf))
		return -EINVAL;
	bool digit = false;
	for (size_t i = 0; i < t->len; i++) {
		char c = t->s[i];
		if (c >= '0' && c <= '9')
			digit = true;
		else if (!(c == '.' || (i == 0 && (c == '-' || c == '+'))))
			return -EINVAL;
	}
	if (!digit)
		return -EINVAL;
	memcpy(buf, t->s, t->len);
	buf[t->len] = '\0';
	char *end;
	double v = strtod(buf, &end);
	if (*end != '\0' || !isfinite(v))
		return -EINVAL;
	*out = (float)v;
	return 0;
}

static bool label_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '-' || c == '.';
}

static int tok_label(const struct tok *t, char out[ES_FLOOR_LABEL_MAX])
{
	if (t->quoted || t->len == 0 || t->len >= ES_FLOOR_LABEL_MAX)
		return -EINVAL;
	for (size_t i = 0; i < t->len; i++)
		if (!label_char(t->s[i]))
			return -EINVAL;
	memcpy(out, t->s, t->len);
	out[t->len] = '\0';
	return 0;
}

static int tok_name(const struct tok *t, char out[ES_FLOOR_NAME_MAX])
{
	if (!t->quoted || t->len >= ES_FLOOR_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < t->len; i++)
		if ((unsigned char)t->s[i] < 0x20 || t->s[i] == 0x7f)
			return -EINVAL;
	memcpy(out, t->s, t->len);
	out[t->len] = '\0';
	return 0;
}

/* ---- grid helpers -------------------------------------------------------- */

static int cell_class_of(char c)
{
	switch (c) {
	case '.': case ' ': case 'o':
		return CELL_FLOOR;
	case '=':
		return CELL_TABLE;
	case '#': case '|': case '-': case '+':
		return CELL_WALL;
	case '/':
		return CELL_DOOR;
	default:
		if (c >= 'A' && c <= 'Z')
			return CELL_FLOOR;
		return -1;
	}
}

static inline char cell_char(const struct es_floor *f, unsigned col, unsigned row)
{
	return f->cells[(size_t)row * (f->cols + 1) + col];
}

static inline size_t cell_index(const struct es_floor *f, unsigned col, unsigned row)
{
	return (size_t)row * f->cols + col;
}

void es_floor_cell_center(const struct es_floor *f, unsigned col, unsigned row, float *x, float *y)
{
	*x = ((float)col + 0.5f) * f->scale;
	*y = ((float)f->rows - (float)row - 0.5f) * f->scale;
}

/* Grid coordinates (u east, v down, in cells) of a point in metres. */
static inline void to_grid(const struct es_floor *f, float x, float y, float *u, float *v)
{
	*u = x * f->inv_scale;
	*v = (float)f->rows - y * f->inv_scale;
}

int es_floor_cell_at(const struct es_floor *f, float x, float y, unsigned *col, unsigned *row)
{
	float u, v;
	to_grid(f, x, y, &u, &v);
	if (!(u >= 0.0f && u < (float)f->cols && v >= 0.0f && v < (float)f->rows))
		return -ERANGE;
	unsigned c = (unsigned)u, r = (unsigned)v;
	/* float rounding at the far edges */
	if (c >= f->cols || r >= f->rows)
		return -ERANGE;
	if (col)
		*col = c;
	if (row)
		*row = r;
	return 0;
}

/* ---- parsing ------------------------------------------------------------- */

static void floor_free_parts(struct es_floor *f)
{
	free(f->cells);
	free(f->cls);
	free(f->room_of);
	free(f->rect_of);
	free(f->rooms);
	free(f->doors);
	free(f->door_idx);
	free(f->desks);
	free(f->desk_sorted);
	free(f->text);
}

void es_floor_free(struct es_floor *f)
{
	if (!f)
		return;
	floor_free_parts(f);
	free(f);
}

/* Split the text into lines.  Returns the count, or -EBADMSG on a NUL byte. */
static int split_lines(const char *text, size_t len, struct line **out, struct es_floor_error *err)
{
	size_t n = 1;
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\n')
			n++;
	struct line *ls = calloc(n, sizeof(*ls));
	if (!ls)
		return -ENOMEM;
	size_t k = 0, start = 0;
	int line = 1, col = 1;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && text[i] == '\0') {
			free(ls);
			return fail(err, line, col, "NUL byte in plan text");
		}
		if (i == len || text[i] == '\n') {
			size_t l = i - start;
			if (l > 0 && text[start + l - 1] == '\r')
				l--;
			ls[k].s = text + start;
			ls[k].len = l;
			ls[k].no = line;
			k++;
			start = i + 1;
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	/* a final newline does not start a line */
	if (k > 1 && ls[k - 1].len == 0 && len > 0 && text[len - 1] == '\n')
		k--;
	*out = ls;
	return (int)k;
}

static bool line_blank_or_comment(const struct line *ln)
{
	for (size_t i = 0; i < ln->len; i++) {
		char c = ln->s[i];
		if (c == ' ' || c == '\t')
			continue;
		return c == '#';
	}
	return true;
}

struct room_line {
	int line;
	int col_letter, col_at;
	bool has_at;
};

/* Flood-fill one room from its seed through floor and table cells. */
static int fill_room(struct es_floor *f, unsigned ri, const struct room_line *rl, uint32_t *stack,
		     struct es_floor_error *err)
{
	struct room *r = &f->rooms[ri];
	int seed_line = f->grid_line + (int)r->seed_row, seed_col = (int)r->seed_col + 1;
	size_t si = cell_index(f, r->seed_col, r->seed_row);
	if (f->room_of[si] >= 0)
		return fail(err, rl->line, rl->has_at ? rl->col_at : rl->col_letter,
			    "room '%c' \"%s\" is the same area as room \"%s\"", r->letter, r->name,
			    f->rooms[f->room_of[si]].name);
	size_t sp = 0;
	stack[sp++] = (uint32_t)si;
	f->room_of[si] = (int16_t)ri;
	while (sp > 0) {
		uint32_t ci = stack[--sp];
		unsigned col = ci % f->cols, row = ci / f->cols;
		if (col == 0 || row == 0 || col == f->cols - 1 || row == f->rows - 1)
			return fail(err, seed_line, seed_col,
				    "room '%c' is not closed: its area reaches the edge of the plan at line %d column %u",
				    r->letter, f->grid_line + (int)row, col + 1);
		char ch = cell_char(f, col, row);
		if (ch >= 'A' && ch <= 'Z' && ch != r->letter)
			return fail(err, seed_line, seed_col,
				    "room '%c' is not closed: its area runs into letter '%c' at line %d column %u",
				    r->letter, ch, f->grid_line + (int)row, col + 1);
		static const int dc[4] = { 1, -1, 0, 0 }, dr[4] = { 0, 0, 1, -1 };
		for (int k = 0; k < 4; k++) {
			unsigned nc = col + (unsigned)dc[k], nr = row + (unsigned)dr[k];
			size_t ni = cell_index(f, nc, nr);
			uint8_t cl = f->cls[ni];
			if (cl == CELL_WALL || cl == CELL_DOOR)
				continue;
			if (f->room_of[ni] == (int16_t)ri)
				continue;
			if (f->room_of[ni] >= 0)
				return fail(err, seed_line, seed_col,
					    "room '%c' is not closed: its area runs into room \"%s\" at line %d column %u",
					    r->letter, f->rooms[f->room_of[ni]].name, f->grid_line + (int)nr, nc + 1);
			f->room_of[ni] = (int16_t)ri;
			stack[sp++] = (uint32_t)ni;
		}
	}
	return 0;
}

static int parse_grid(struct es_floor *f, const struct line *ls, int nlines, int *pos, struct es_floor_error *err)
{
	int first = *pos, end = -1;
	for (int i = first; i < nlines; i++) {
		if (ls[i].len == 3 && memcmp(ls[i].s, "end", 3) == 0) {
			end = i;
			break;
		}
	}
	if (end < 0)
		return fail(err, ls[nlines - 1].no + 1, 1, "grid without an 'end' line");
	unsigned rows = (unsigned)(end - first);
	if (rows == 0)
		return fail(err, ls[end].no, 1, "empty grid");
	if (rows > ES_FLOOR_MAX_ROWS)
		return fail(err, ls[first + ES_FLOOR_MAX_ROWS].no, 1, "plan too big: more than %d rows",
			    ES_FLOOR_MAX_ROWS);
	unsigned cols = 0;
	for (int i = first; i < end; i++) {
		if (ls[i].len > ES_FLOOR_MAX_COLS)
			return fail(err, ls[i].no, ES_FLOOR_MAX_COLS + 1, "plan too big: more than %d columns",
				    ES_FLOOR_MAX_COLS);
		if (ls[i].len > cols)
			cols = (unsigned)ls[i].len;
	}
	/* trailing blanks are not part of the plan's width */
	unsigned used = 0;
	for (int i = first; i < end; i++) {
		size_t l = ls[i].len;
		while (l > 0 && ls[i].s[l - 1] == ' ')
			l--;
		if (l > used)
			used = (unsigned)l;
	}
	cols = used;
	if (cols == 0)
		return fail(err, ls[first].no, 1, "empty grid");
	f->rows = rows;
	f->cols = cols;
	f->grid_line = ls[first].no;
	size_t ncell = (size_t)rows * cols;
	f->cells = malloc((size_t)rows * (cols + 1));
	f->cls = malloc(ncell);
	f->room_of = malloc(ncell * sizeof(*f->room_of));
	if (!f->cells || !f->cls || !f->room_of)
		return -ENOMEM;
	for (unsigned i = 0; i < 26; i++)
		f->first_letter[i] = UINT_MAX;
	for (unsigned r = 0; r < rows; r++) {
		const struct line *ln = &ls[first + (int)r];
		char *row = f->cells + (size_t)r * (cols + 1);
		for (unsigned c = 0; c < cols; c++) {
			char ch = c < ln->len ? ln->s[c] : ' ';
			int cl = cell_class_of(ch);
			if (cl < 0) {
				if ((unsigned char)ch >= 0x21 && (unsigned char)ch < 0x7f)
					return fail(err, ln->no, (int)c + 1, "unknown character '%c' in the grid", ch);
				return fail(err, ln->no, (int)c + 1, "unknown character 0x%02x in the grid",
					    (unsigned char)ch);
			}
			row[c] = ch;
			if (ch >= 'A' && ch <= 'Z' && f->first_letter[ch - 'A'] == UINT_MAX)
				f->first_letter[ch - 'A'] = (unsigned)cell_index(f, c, r);
			f->cls[cell_index(f, c, r)] = (uint8_t)cl;
			f->room_of[cell_index(f, c, r)] = -1;
		}
		row[cols] = '\0';
	}
	*pos = end + 1;
	return 0;
}

static int desk_label_cmp(const void *a, const void *b)
{
	const struct desk *da = *(const struct desk *const *)a, *db = *(const struct desk *const *)b;
	int c = strcmp(da->label, db->label);
	if (c)
		return c;
	/* the later definition sorts last, so it is the one reported */
	if (da->line != db->line)
		return da->line < db->line ? -1 : 1;
	return da->lcol < db->lcol ? -1 : da->lcol > db->lcol;
}

static int parse_legend(struct es_floor *f, const struct line *ls, int nlines, int pos, struct room_line *rlines,
			int *desk_of_cell, struct es_floor_error *err)
{
	struct tok t[MAX_TOKENS];
	for (int i = pos; i < nlines; i++) {
		const struct line *ln = &ls[i];
		if (line_blank_or_comment(ln))
			continue;
		int n = tokenize(ln, t, err);
		if (n < 0)
			return n;
		if (tok_is(&t[0], "room")) {
			/* room L "Name" kind [at COL ROW] */
			if (n != 4 && n != 7)
				return fail(err, ln->no, t[0].col, "expected: room LETTER \"Name\" KIND [at COL ROW]");
			if (f->nrooms == ES_FLOOR_MAX_ROOMS)
				return fail(err, ln->no, t[0].col, "too many rooms (max %d)", ES_FLOOR_MAX_ROOMS);
			struct room *r = &f->rooms[f->nrooms];
			struct room_line *rl = &rlines[f->nrooms];
			if (t[1].quoted || t[1].len != 1 || t[1].s[0] < 'A' || t[1].s[0] > 'Z')
				return fail(err, ln->no, t[1].col, "a room letter is one of A-Z");
			r->letter = t[1].s[0];
			if (tok_name(&t[2], r->name) < 0)
				return fail(err, ln->no, t[2].col, "a room name is quoted, printable, at most %d bytes",
					    ES_FLOOR_NAME_MAX - 1);
			int kind = -1;
			for (unsigned k = 0; k < sizeof(kind_names) / sizeof(kind_names[0]); k++)
				if (tok_is(&t[3], kind_names[k]))
					kind = (int)k;
			if (kind < 0)
				return fail(err, ln->no, t[3].col,
					    "unknown room kind (open, meeting, focus, kitchen or stage)");
			r->kind = (enum es_room_kind)kind;
			rl->line = ln->no;
			rl->col_letter = t[1].col;
			rl->has_at = n == 7;
			if (rl->has_at) {
				rl->col_at = t[4].col;
				if (!tok_is(&t[4], "at"))
					return fail(err, ln->no, t[4].col, "expected 'at COL ROW'");
				if (tok_uint(&t[5], f->cols, &r->seed_col) < 0)
					return fail(err, ln->no, t[5].col, "column outside the grid (0..%u)", f->cols - 1);
				if (tok_uint(&t[6], f->rows, &r->seed_row) < 0)
					return fail(err, ln->no, t[6].col, "row outside the grid (0..%u)", f->rows - 1);
				if (cell_char(f, r->seed_col, r->seed_row) != r->letter)
					return fail(err, ln->no, t[4].col, "grid cell %u %u is not the letter '%c'",
						    r->seed_col, r->seed_row, r->letter);
			} else {
				unsigned first = f->first_letter[r->letter - 'A'];
				if (first == UINT_MAX)
					return fail(err, ln->no, t[1].col, "room letter '%c' is not in the grid",
						    r->letter);
				r->seed_col = first % f->cols;
				r->seed_row = first / f->cols;
			}
			f->nrooms++;
		} else if (tok_is(&t[0], "desk")) {
			/* desk LABEL COL ROW */
			if (n != 4)
				return fail(err, ln->no, t[0].col, "expected: desk LABEL COL ROW");
			char label[ES_FLOOR_LABEL_MAX];
			unsigned c, r;
			if (tok_label(&t[1], label) < 0)
				return fail(err, ln->no, t[1].col, "a desk label is 1-%d of A-Z a-z 0-9 _ - .",
					    ES_FLOOR_LABEL_MAX - 1);
			if (tok_uint(&t[2], f->cols, &c) < 0)
				return fail(err, ln->no, t[2].col, "column outside the grid (0..%u)", f->cols - 1);
			if (tok_uint(&t[3], f->rows, &r) < 0)
				return fail(err, ln->no, t[3].col, "row outside the grid (0..%u)", f->rows - 1);
			if (cell_char(f, c, r) != 'o')
				return fail(err, ln->no, t[2].col, "grid cell %u %u is not a desk 'o'", c, r);
			int d = desk_of_cell[cell_index(f, c, r)];
			if (f->desks[d].label[0])
				return fail(err, ln->no, t[2].col, "desk at %u %u already has the label %s", c, r,
					    f->desks[d].label);
			memcpy(f->desks[d].label, label, sizeof(label));
			f->desks[d].line = ln->no;
			f->desks[d].lcol = t[1].col;
		} else if (tok_is(&t[0], "desks")) {
			/* desks PREFIX COL0 ROW0 COL1 ROW1 [FIRST] */
			if (n != 6 && n != 7)
				return fail(err, ln->no, t[0].col, "expected: desks PREFIX COL0 ROW0 COL1 ROW1 [FIRST]");
			char prefix[ES_FLOOR_LABEL_MAX];
			unsigned c0, r0, c1, r1, num = 1;
			if (tok_label(&t[1], prefix) < 0 || t[1].len > ES_FLOOR_LABEL_MAX - 8)
				return fail(err, ln->no, t[1].col, "a desk prefix is 1-%d of A-Z a-z 0-9 _ - .",
					    ES_FLOOR_LABEL_MAX - 8);
			if (tok_uint(&t[2], f->cols, &c0) < 0 || tok_uint(&t[4], f->cols, &c1) < 0 || c1 < c0)
				return fail(err, ln->no, t[2].col, "columns outside the grid or in the wrong order");
			if (tok_uint(&t[3], f->rows, &r0) < 0 || tok_uint(&t[5], f->rows, &r1) < 0 || r1 < r0)
				return fail(err, ln->no, t[3].col, "rows outside the grid or in the wrong order");
			if (n == 7 && tok_uint(&t[6], 1000000, &num) < 0)
				return fail(err, ln->no, t[6].col, "the first number is 0..999999");
			unsigned named = 0;
			for (unsigned r = r0; r <= r1; r++) {
				for (unsigned c = c0; c <= c1; c++) {
					if (cell_char(f, c, r) != 'o')
						continue;
					int d = desk_of_cell[cell_index(f, c, r)];
					if (f->desks[d].label[0])
						return fail(err, ln->no, t[1].col, "desk at %u %u already has the label %s",
							    c, r, f->desks[d].label);
					char tmp[64];
					int l = snprintf(tmp, sizeof(tmp), "%s%u", prefix, num++);
					if (l < 0 || l >= ES_FLOOR_LABEL_MAX)
						return fail(err, ln->no, t[1].col, "desk label too long");
					memcpy(f->desks[d].label, tmp, (size_t)l + 1);
					f->desks[d].line = ln->no;
					f->desks[d].lcol = t[1].col;
					named++;
				}
			}
			if (named == 0)
				return fail(err, ln->no, t[2].col, "no desk 'o' in this rectangle");
		} else if (tok_is(&t[0], "door")) {
			/* door COL ROW open|closed */
			unsigned c, r;
			if (n != 4)
				return fail(err, ln->no, t[0].col, "expected: door COL ROW open|closed");
			if (tok_uint(&t[1], f->cols, &c) < 0)
				return fail(err, ln->no, t[1].col, "column outside the grid (0..%u)", f->cols - 1);
			if (tok_uint(&t[2], f->rows, &r) < 0)
				return fail(err, ln->no, t[2].col, "row outside the grid (0..%u)", f->rows - 1);
			if (cell_char(f, c, r) != '/')
				return fail(err, ln->no, t[1].col, "grid cell %u %u is not a door '/'", c, r);
			bool open;
			if (tok_is(&t[3], "open"))
				open = true;
			else if (tok_is(&t[3], "closed"))
				open = false;
			else
				return fail(err, ln->no, t[3].col, "a door is open or closed");
			/* doors are numbered later; remember the state in the cell's room slot */
			f->room_of[cell_index(f, c, r)] = open ? -1 : -2;
		} else {
			return fail(err, ln->no, t[0].col, "unknown legend line (room, desk, desks or door)");
		}
	}
	return 0;
}

static int parse_header(struct es_floor *f, const struct line *ls, int nlines, int *pos, struct es_floor_error *err)
{
	struct tok t[MAX_TOKENS];
	bool magic = false, have_scale = false;
	for (int i = *pos; i < nlines; i++) {
		const struct line *ln = &ls[i];
		if (line_blank_or_comment(ln))
			continue;
		int n = tokenize(ln, t, err);
		if (n < 0)
			return n;
		if (!magic) {
			if (n != 2 || !tok_is(&t[0], "earshot-floor"))
				return fail(err, ln->no, t[0].col, "a plan starts with 'earshot-floor 1'");
			if (!tok_is(&t[1], "1"))
				return fail(err, ln->no, t[1].col, "unsupported plan version (this reads 1)");
			magic = true;
		} else if (tok_is(&t[0], "scale")) {
			if (n != 2 || tok_float(&t[1], &f->scale) < 0 || !(f->scale >= 0.1f && f->scale <= 10.0f))
				return fail(err, ln->no, n > 1 ? t[1].col : t[0].col,
					    "bad scale: metres per cell, a number from 0.1 to 10");
			have_scale = true;
		} else if (tok_is(&t[0], "name")) {
			if (n != 2 || tok_name(&t[1], f->name) < 0)
				return fail(err, ln->no, n > 1 ? t[1].col : t[0].col,
					    "expected: name \"Floor name\" (printable, at most %d bytes)",
					    ES_FLOOR_NAME_MAX - 1);
		} else if (tok_is(&t[0], "door-loss")) {
			if (n != 2 || tok_float(&t[1], &f->door_db) < 0 || !(f->door_db >= 0.0f && f->door_db <= 60.0f))
				return fail(err, ln->no, n > 1 ? t[1].col : t[0].col,
					    "bad door-loss: decibels, 0 to 60");
		} else if (tok_is(&t[0], "grid")) {
			if (n != 1)
				return fail(err, ln->no, t[1].col, "nothing may follow 'grid' on its line");
			if (!have_scale)
				return fail(err, ln->no, t[0].col, "missing 'scale' line before the grid");
			*pos = i + 1;
			return 0;
		} else {
			return fail(err, ln->no, t[0].col, "unknown header line (scale, name, door-loss or grid)");
		}
	}
	if (!magic)
		return fail(err, 1, 1, "empty plan");
	return fail(err, ls[nlines - 1].no + 1, 1, "no grid in the plan");
}

/* Where a door's two sides are: 0 if it sits in a wall, with (dc,dr) pointing across it. */
static int door_axis(const struct es_floor *f, unsigned c, unsigned r, int *dc, int *dr)
{
	if (c == 0 || r == 0 || c + 1 >= f->cols || r + 1 >= f->rows)
		return -1;
#define SOLID(cc, rr) (f->cls[cell_index(f, (cc), (rr))] == CELL_WALL || f->cls[cell_index(f, (cc), (rr))] == CELL_DOOR)
	bool we = SOLID(c - 1, r) && SOLID(c + 1, r), ns = SOLID(c, r - 1) && SOLID(c, r + 1);
	bool we_open = !SOLID(c - 1, r) && !SOLID(c + 1, r), ns_open = !SOLID(c, r - 1) && !SOLID(c, r + 1);
#undef SOLID
	if (we && ns_open) {
		*dc = 0;
		*dr = 1;
		return 0;
	}
	if (ns && we_open) {
		*dc = 1;
		*dr = 0;
		return 0;
	}
	return -1;
}

/*
 * Cover the cells that let sound through with wall-free rectangles, greedily:
 * from the first free cell in reading order, as far east as possible, then as
 * far south as the whole span allows.  A rectangle is convex, so two points
 * in the same one see each other without walking the line; on an open-plan
 * floor most pairs of desks share one big rectangle.
 */
static int build_rects(struct es_floor *f)
{
	size_t ncell = (size_t)f->rows * f->cols;
	f->rect_of = malloc(ncell * sizeof(*f->rect_of));
	if (!f->rect_of)
		return -ENOMEM;
	for (size_t i = 0; i < ncell; i++)
		f->rect_of[i] = -1;
	int32_t id = 0;
#define FREE(c, r) (f->cls[cell_index(f, (c), (r))] <= CELL_TABLE && f->rect_of[cell_index(f, (c), (r))] < 0)
	for (unsigned r = 0; r < f->rows; r++) {
		for (unsigned c = 0; c < f->cols; c++) {
			if (!FREE(c, r))
				continue;
			unsigned c1 = c;
			while (c1 + 1 < f->cols && FREE(c1 + 1, r))
				c1++;
			unsigned r1 = r;
			for (;;) {
				if (r1 + 1 >= f->rows)
					break;
				unsigned k = c;
				while (k <= c1 && FREE(k, r1 + 1))
					k++;
				if (k <= c1)
					break;
				r1++;
			}
			for (unsigned rr = r; rr <= r1; rr++)
				for (unsigned cc = c; cc <= c1; cc++)
					f->rect_of[cell_index(f, cc, rr)] = id;
			id++;
		}
	}
#undef FREE
	return 0;
}

static int build_doors(struct es_floor *f, struct es_floor_error *err)
{
	unsigned nd = 0;
	for (unsigned r = 0; r < f->rows; r++)
		for (unsigned c = 0; c < f->cols; c++)
			if (f->cls[cell_index(f, c, r)] == CELL_DOOR)
				nd++;
	if (nd > ES_FLOOR_MAX_DOORS) {
		unsigned k = 0;
		for (unsigned r = 0; r < f->rows; r++)
			for (unsigned c = 0; c < f->cols; c++)
				if (f->cls[cell_index(f, c, r)] == CELL_DOOR && ++k > ES_FLOOR_MAX_DOORS)
					return fail(err, f->grid_line + (int)r, (int)c + 1, "too many doors (max %d)",
						    ES_FLOOR_MAX_DOORS);
	}
	f->doors = calloc(nd ? nd : 1, sizeof(*f->doors));
	f->door_idx = calloc(nd ? nd : 1, sizeof(*f->door_idx));
	if (!f->doors || !f->door_idx)
		return -ENOMEM;
	for (unsigned r = 0; r < f->rows; r++) {
		for (unsigned c = 0; c < f->cols; c++) {
			size_t ci = cell_index(f, c, r);
			if (f->cls[ci] != CELL_DOOR)
				continue;
			int line = f->grid_line + (int)r, col = (int)c + 1;
			int dc, dr;
			if (door_axis(f, c, r, &dc, &dr) < 0)
				return fail(err, line, col, "door is not in a wall (walls on two opposite sides, floor on the other two)");
			size_t a = cell_index(f, c - (unsigned)dc, r - (unsigned)dr);
			size_t b = cell_index(f, c + (unsigned)dc, r + (unsigned)dr);
			int ra = f->room_of[a], rb = f->room_of[b];
			if (ra < 0 && rb < 0)
				return fail(err, line, col, "door does not lead into a room (no room letter on either side)");
			if (ra == rb)
				return fail(err, line, col, "room \"%s\" is on both sides of this door: is its wall open somewhere?",
					    f->rooms[ra].name);
			if (ra >= 0 && rb >= 0)
				return fail(err, line, col,
					    "door between rooms \"%s\" and \"%s\": a door leads from a room to open floor (is a wall missing?)",
					    f->rooms[ra].name, f->rooms[rb].name);
			struct door *d = &f->doors[f->ndoors];
			int sgn = ra >= 0 ? 1 : -1; /* outside is at +sgn*(dc,dr) */
			d->col = c;
			d->row = r;
			d->room = (unsigned)(ra >= 0 ? ra : rb);
			/* parse_legend left -2 here for a door line saying "closed" */
			d->open = d->init_open = f->room_of[ci] != -2;
			es_floor_cell_center(f, c, r, &d->x, &d->y);
			es_floor_cell_center(f, (unsigned)((int)c + sgn * dc), (unsigned)((int)r + sgn * dr), &d->ox, &d->oy);
			f->room_of[ci] = (int16_t)d->room;
			f->ndoors++;
		}
	}
	/* group by room: counting sort keeps reading order within a room */
	for (unsigned i = 0; i < f->ndoors; i++)
		f->rooms[f->doors[i].room].door_count++;
	unsigned acc = 0;
	for (unsigned i = 0; i < f->nrooms; i++) {
		f->rooms[i].door_first = acc;
		acc += f->rooms[i].door_count;
		f->rooms[i].door_count = 0;
	}
	for (unsigned i = 0; i < f->ndoors; i++) {
		struct room *rm = &f->rooms[f->doors[i].room];
		f->door_idx[rm->door_first + rm->door_count++] = i;
	}
	return 0;
}

static int parse_into(struct es_floor *f, const char *text, size_t len, struct es_floor_error *err)
{
	struct line *ls = NULL;
	int *desk_of_cell = NULL;
	struct room_line *rlines = NULL;
	uint32_t *stack = NULL;
	struct desk **by_label = NULL;
	int ret;

	f->door_db = 10.0f;
	snprintf(f->name, sizeof(f->name), "Office");
	if (len == 0)
		return fail(err, 1, 1, "empty plan");
	if (len > ES_FLOOR_MAX_TEXT)
		return fail(err, 1, 1, "plan too big: more than %u bytes", ES_FLOOR_MAX_TEXT);
	f->text = malloc(len + 1);
	if (!f->text)
		return -ENOMEM;
	memcpy(f->text, text, len);
	f->text[len] = '\0';
	f->text_len = len;

	int nlines = split_lines(f->text, len, &ls, err);
	if (nlines < 0)
		return nlines;
	int pos = 0;
	ret = parse_header(f, ls, nlines, &pos, err);
	if (ret < 0)
		goto out;
	f->inv_scale = 1.0f / f->scale;
	f->door_gain = powf(10.0f, -f->door_db / 20.0f);
	ret = parse_grid(f, ls, nlines, &pos, err);
	if (ret < 0)
		goto out;

	/* desks: one per 'o', in reading order */
	size_t ncell = (size_t)f->rows * f->cols;
	desk_of_cell = malloc(ncell * sizeof(*desk_of_cell));
	f->desks = calloc(ES_FLOOR_MAX_DESKS, sizeof(*f->desks));
	f->rooms = calloc(ES_FLOOR_MAX_ROOMS, sizeof(*f->rooms));
	rlines = calloc(ES_FLOOR_MAX_ROOMS, sizeof(*rlines));
	stack = malloc(ncell * sizeof(*stack));
	if (!desk_of_cell || !f->desks || !f->rooms || !rlines || !stack) {
		ret = -ENOMEM;
		goto out;
	}
	for (unsigned r = 0; r < f->rows; r++) {
		for (unsigned c = 0; c < f->cols; c++) {
			desk_of_cell[cell_index(f, c, r)] = -1;
			if (cell_char(f, c, r) != 'o')
				continue;
			if (f->ndesks == ES_FLOOR_MAX_DESKS) {
				ret = fail(err, f->grid_line + (int)r, (int)c + 1, "plan too big: more than %d desks",
					   ES_FLOOR_MAX_DESKS);
				goto out;
			}
			struct desk *d = &f->desks[f->ndesks];
			d->col = c;
			d->row = r;
			es_floor_cell_center(f, c, r, &d->x, &d->y);
			desk_of_cell[cell_index(f, c, r)] = (int)f->ndesks++;
		}
	}

	ret = parse_legend(f, ls, nlines, pos, rlines, desk_of_cell, err);
	if (ret < 0)
		goto out;

	/* door states were parked in room_of as -2 (closed); fills skip doors, so they survive */
	for (unsigned i = 0; i < f->nrooms; i++) {
		ret = fill_room(f, i, &rlines[i], stack, err);
		if (ret < 0)
			goto out;
	}
	/* every letter must lie in the area of a room line with that letter */
	for (unsigned r = 0; r < f->rows; r++) {
		for (unsigned c = 0; c < f->cols; c++) {
			char ch = cell_char(f, c, r);
			if (ch < 'A' || ch > 'Z')
				continue;
			int ri = f->room_of[cell_index(f, c, r)];
			if (ri >= 0)
				continue; /* a fill checked the letter is its own */
			bool any = false;
			for (unsigned i = 0; i < f->nrooms; i++)
				any |= f->rooms[i].letter == ch;
			ret = any ? fail(err, f->grid_line + (int)r, (int)c + 1,
					 "letter '%c' is outside every room '%c' area: a separate room needs its own room line with 'at %u %u'",
					 ch, ch, c, r)
				  : fail(err, f->grid_line + (int)r, (int)c + 1,
					 "room letter '%c' has no room line in the legend", ch);
			goto out;
		}
	}
	ret = build_doors(f, err);
	if (ret < 0)
		goto out;
	ret = build_rects(f);
	if (ret < 0)
		goto out;

	/* every desk labelled, no label twice */
	for (unsigned i = 0; i < f->ndesks; i++) {
		if (!f->desks[i].label[0]) {
			ret = fail(err, f->grid_line + (int)f->desks[i].row, (int)f->desks[i].col + 1,
				   "desk without a label: add a 'desk' or 'desks' line for it");
			goto out;
		}
	}
	f->desk_sorted = malloc((f->ndesks ? f->ndesks : 1) * sizeof(*f->desk_sorted));
	by_label = malloc((f->ndesks ? f->ndesks : 1) * sizeof(*by_label));
	if (!f->desk_sorted || !by_label) {
		ret = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < f->ndesks; i++)
		by_label[i] = &f->desks[i];
	qsort(by_label, f->ndesks, sizeof(*by_label), desk_label_cmp);
	for (unsigned i = 0; i < f->ndesks; i++) {
		f->desk_sorted[i] = (unsigned)(by_label[i] - f->desks);
		if (i > 0 && strcmp(by_label[i - 1]->label, by_label[i]->label) == 0) {
			ret = fail(err, by_label[i]->line, by_label[i]->lcol, "duplicate desk label %s (also on line %d)",
				   by_label[i]->label, by_label[i - 1]->line);
			goto out;
		}
	}
	ret = 0;
out:
	free(by_label);
	free(stack);
	free(rlines);
	free(desk_of_cell);
	free(ls);
	return ret;
}

struct es_floor *es_floor_parse(const char *text, size_t len, struct es_floor_error *err)
{
	struct es_floor_error dummy;
	if (!err)
		err = &dummy;
	memset(err, 0, sizeof(*err));
	if (!text && len) {
		fail(err, 1, 1, "no text");
		errno = EINVAL;
		return NULL;
	}
	struct es_floor *f = calloc(1, sizeof(*f));
	if (!f)
		goto err_alloc;
	int ret = parse_into(f, text, len, err);
	if (ret < 0) {
		es_floor_free(f);
		if (ret == -ENOMEM)
			goto err_alloc;
		errno = -ret;
		return NULL;
	}
	return f;

err_alloc:
	fail(err, 0, 0, "out of memory");
	errno = ENOMEM;
	return NULL;
}

/* ---- getters ------------------------------------------------------------- */

const char *es_floor_to_text(const struct es_floor *f, size_t *len)
{
	if (len)
		*len = f->text_len;
	return f->text;
}

const char *es_floor_name(const struct es_floor *f) { return f->name; }
float es_floor_scale(const struct es_floor *f) { return f->scale; }
unsigned es_floor_cols(const struct es_floor *f) { return f->cols; }
unsigned es_floor_rows(const struct es_floor *f) { return f->rows; }
float es_floor_width_m(const struct es_floor *f) { return (float)f->cols * f->scale; }
float es_floor_height_m(const struct es_floor *f) { return (float)f->rows * f->scale; }
float es_floor_door_gain(const struct es_floor *f) { return f->door_gain; }

const char *es_floor_row(const struct es_floor *f, unsigned row)
{
	if (row >= f->rows)
		return NULL;
	return f->cells + (size_t)row * (f->cols + 1);
}

bool es_floor_walkable(const struct es_floor *f, float x, float y)
{
	unsigned c, r;
	if (es_floor_cell_at(f, x, y, &c, &r) < 0)
		return false;
	uint8_t cl = f->cls[cell_index(f, c, r)];
	return cl == CELL_FLOOR || cl == CELL_DOOR;
}

unsigned es_floor_room_count(const struct es_floor *f) { return f->nrooms; }

int es_floor_room_at(const struct es_floor *f, float x, float y)
{
	unsigned c, r;
	if (es_floor_cell_at(f, x, y, &c, &r) < 0)
		return -1;
	return f->room_of[cell_index(f, c, r)];
}

const char *es_floor_room_name(const struct es_floor *f, unsigned room)
{
	return room < f->nrooms ? f->rooms[room].name : NULL;
}

int es_floor_room_kind(const struct es_floor *f, unsigned room)
{
	return room < f->nrooms ? (int)f->rooms[room].kind : -EINVAL;
}

int es_floor_room_doors(const struct es_floor *f, unsigned room, const unsigned **doors)
{
	if (room >= f->nrooms)
		return -EINVAL;
	if (doors)
		*doors = f->door_idx + f->rooms[room].door_first;
	return (int)f->rooms[room].door_count;
}

int es_floor_room_close(struct es_floor *f, unsigned room)
{
	if (room >= f->nrooms)
		return -EINVAL;
	const struct room *r = &f->rooms[room];
	for (unsigned i = 0; i < r->door_count; i++)
		f->doors[f->door_idx[r->door_first + i]].open = false;
	return 0;
}

unsigned es_floor_door_count(const struct es_floor *f) { return f->ndoors; }

int es_floor_door_set_open(struct es_floor *f, unsigned door, bool open)
{
	if (door >= f->ndoors)
		return -EINVAL;
	f->doors[door].open = open;
	return 0;
}

bool es_floor_door_is_open(const struct es_floor *f, unsigned door)
{
	return door < f->ndoors && f->doors[door].open;
}

bool es_floor_room_open_door(const struct es_floor *f, unsigned room)
{
	if (room >= f->nrooms)
		return false;
	const struct room *r = &f->rooms[room];
	for (unsigned i = 0; i < r->door_count; i++)
		if (f->doors[f->door_idx[r->door_first + i]].open)
			return true;
	return false;
}

bool es_floor_room_closed(const struct es_floor *f, unsigned room)
{
	return room < f->nrooms && f->rooms[room].door_count > 0 && !es_floor_room_open_door(f, room);
}

bool es_floor_door_in_reach(const struct es_floor *f, unsigned door, float x, float y)
{
	float dx, dy;
	return es_floor_door(f, door, &dx, &dy, NULL) == 0 && hypotf(dx - x, dy - y) <= ES_DOOR_REACH_M;
}

int es_floor_door_near(const struct es_floor *f, float x, float y, float *dx, float *dy, unsigned *room)
{
	int best = -1;
	float bd = ES_DOOR_REACH_M;
	for (unsigned i = 0; f && i < es_floor_door_count(f); i++) {
		float px, py;
		unsigned r;
		if (es_floor_door(f, i, &px, &py, &r) < 0)
			continue;
		float d = hypotf(px - x, py - y);
		if (d <= bd) {
			bd = d;
			best = (int)i;
			if (dx)
				*dx = px;
			if (dy)
				*dy = py;
			if (room)
				*room = r;
		}
	}
	return best;
}

int es_floor_door(const struct es_floor *f, unsigned door, float *x, float *y, unsigned *room)
{
	if (door >= f->ndoors)
		return -EINVAL;
	if (x)
		*x = f->doors[door].x;
	if (y)
		*y = f->doors[door].y;
	if (room)
		*room = f->doors[door].room;
	return 0;
}

int es_floor_desk_at(const struct es_floor *f, float x, float y)
{
	unsigned c, r;
	if (!f || es_floor_cell_at(f, x, y, &c, &r) < 0)
		return -1;
	/* desks are in reading order too */
	unsigned lo = 0, hi = f->ndesks;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct desk *d = &f->desks[mid];
		if (d->row < r || (d->row == r && d->col < c))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->ndesks && f->desks[lo].row == r && f->desks[lo].col == c ? (int)lo : -1;
}

int es_floor_door_at(const struct es_floor *f, float x, float y)
{
	unsigned c, r;
	if (es_floor_cell_at(f, x, y, &c, &r) < 0 || f->cls[cell_index(f, c, r)] != CELL_DOOR)
		return -1;
	/* doors are in reading order: binary search on (row, col) */
	unsigned lo = 0, hi = f->ndoors;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct door *d = &f->doors[mid];
		if (d->row < r || (d->row == r && d->col < c))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->ndoors ? (int)lo : -1;
}

unsigned es_floor_desk_count(const struct es_floor *f) { return f->ndesks; }

int es_floor_desk(const struct es_floor *f, unsigned desk, float *x, float *y, const char **label)
{
	if (desk >= f->ndesks)
		return -EINVAL;
	if (x)
		*x = f->desks[desk].x;
	if (y)
		*y = f->desks[desk].y;
	if (label)
		*label = f->desks[desk].label;
	return 0;
}

int es_floor_desk_find(const struct es_floor *f, const char *label)
{
	if (!label)
		return -ENOENT;
	unsigned lo = 0, hi = f->ndesks;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		int c = strcmp(f->desks[f->desk_sorted[mid]].label, label);
		if (c == 0)
			return (int)f->desk_sorted[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}

/* ---- acoustic paths ------------------------------------------------------ */

static inline float dist(float ax, float ay, float bx, float by)
{
	float dx = ax - bx, dy = ay - by;
	return sqrtf(dx * dx + dy * dy);
}

/*
 * Is the straight line between two points (metres) free of wall and door
 * cells?  The cells holding the two end points do not count: people stand
 * in them.  The line is clipped to the grid first (outside there are no
 * walls), then walked cell by cell (Amanatides-Woo): each step crosses one
 * cell edge, so the walk is 4-connected and cannot slip through a diagonal
 * gap between two wall cells, and it takes at most |dcol| + |drow| steps.
 */
/* Cell column or row of a grid coordinate; -1 or n when outside (no float-to-int overflow). */
static inline int grid_coord(float u, unsigned n)
{
	if (!(u >= 0.0f))
		return -1;
	if (u >= (float)n)
		return (int)n;
	return (int)u;
}

static bool line_clear(const struct es_floor *f, float x0, float y0, float x1, float y1)
{
	/* walk in one canonical direction, so that A hears B exactly when B hears A
	 * even where the line runs through a cell corner */
	if (x1 < x0 || (x1 == x0 && y1 < y0)) {
		float t = x0;
		x0 = x1;
		x1 = t;
		t = y0;
		y0 = y1;
		y1 = t;
	}
	float u0, v0, u1, v1;
	to_grid(f, x0, y0, &u0, &v0);
	to_grid(f, x1, y1, &u1, &v1);
	int ec = grid_coord(u1, f->cols), er = grid_coord(v1, f->rows);
	int sc = grid_coord(u0, f->cols), sr = grid_coord(v0, f->rows);
	/* both ends in one wall-free rectangle: nothing to walk */
	if (sc >= 0 && sr >= 0 && ec >= 0 && er >= 0 && sc < (int)f->cols && ec < (int)f->cols && sr < (int)f->rows &&
	    er < (int)f->rows) {
		int32_t a = f->rect_of[(size_t)sr * f->cols + (size_t)sc];
		if (a >= 0 && a == f->rect_of[(size_t)er * f->cols + (size_t)ec])
			return true;
	}

	/* Liang-Barsky clip to [0,cols] x [0,rows] */
	float du = u1 - u0, dv = v1 - v0, t0 = 0.0f, t1 = 1.0f;
	const float p[4] = { -du, du, -dv, dv };
	const float q[4] = { u0, (float)f->cols - u0, v0, (float)f->rows - v0 };
	for (int i = 0; i < 4; i++) {
		if (p[i] == 0.0f) {
			if (q[i] < 0.0f)
				return true; /* parallel and outside */
			continue;
		}
		float r = q[i] / p[i];
		if (p[i] < 0.0f) {
			if (r > t1)
				return true;
			if (r > t0)
				t0 = r;
		} else {
			if (r < t0)
				return true;
			if (r < t1)
				t1 = r;
		}
	}
	float cu0 = u0 + t0 * du, cv0 = v0 + t0 * dv, cu1 = u0 + t1 * du, cv1 = v0 + t1 * dv;
	int cx = (int)floorf(cu0), cy = (int)floorf(cv0);
	int lx = (int)floorf(cu1), ly = (int)floorf(cv1);
	/* the clipped ends may sit exactly on the far border */
	if (cx >= (int)f->cols) cx = (int)f->cols - 1;
	if (cy >= (int)f->rows) cy = (int)f->rows - 1;
	if (lx >= (int)f->cols) lx = (int)f->cols - 1;
	if (ly >= (int)f->rows) ly = (int)f->rows - 1;
	if (cx < 0) cx = 0;
	if (cy < 0) cy = 0;
	if (lx < 0) lx = 0;
	if (ly < 0) ly = 0;

	int stepx = du > 0.0f ? 1 : -1, stepy = dv > 0.0f ? 1 : -1;
	float tdx = du != 0.0f ? fabsf(1.0f / du) : INFINITY;
	float tdy = dv != 0.0f ? fabsf(1.0f / dv) : INFINITY;
	/* t measured along the original segment, from the clipped start */
	float tmx = du > 0.0f ? ((float)(cx + 1) - cu0) * tdx : du < 0.0f ? (cu0 - (float)cx) * tdx : INFINITY;
	float tmy = dv > 0.0f ? ((float)(cy + 1) - cv0) * tdy : dv < 0.0f ? (cv0 - (float)cy) * tdy : INFINITY;
	int n = abs(lx - cx) + abs(ly - cy);
	for (int i = 0;; i++) {
		if (!(cx == sc && cy == sr) && !(cx == ec && cy == er)) {
			uint8_t cl = f->cls[(size_t)cy * f->cols + (size_t)cx];
			if (cl == CELL_WALL || cl == CELL_DOOR)
				return false;
		}
		if (i >= n)
			break;
		if (tmx < tmy) {
			cx += stepx;
			tmx += tdx;
		} else {
			cy += stepy;
			tmy += tdy;
		}
		if (cx < 0 || cy < 0 || cx >= (int)f->cols || cy >= (int)f->rows)
			break;
	}
	return true;
}

float es_floor_path(const struct es_floor *f, float sx, float sy, float lx, float ly,
		    float *ax, float *ay, float *path_len_m)
{
	float gain = 0.0f, len = dist(sx, sy, lx, ly), bx = sx, by = sy;
	if (!(isfinite(sx) && isfinite(sy) && isfinite(lx) && isfinite(ly)))
		goto out;
	int rs = es_floor_room_at(f, sx, sy), rl = es_floor_room_at(f, lx, ly);
	if (rs == rl) {
		if (rs >= 0 || line_clear(f, sx, sy, lx, ly))
			gain = 1.0f;
		goto out;
	}
	float best = INFINITY;
	if (rs >= 0 && rl >= 0) {
		const struct room *a = &f->rooms[rs], *b = &f->rooms[rl];
		for (unsigned i = 0; i < a->door_count; i++) {
			const struct door *da = &f->doors[f->door_idx[a->door_first + i]];
			if (!da->open)
				continue;
			float la = dist(sx, sy, da->x, da->y);
			for (unsigned j = 0; j < b->door_count; j++) {
				const struct door *db = &f->doors[f->door_idx[b->door_first + j]];
				if (!db->open)
					continue;
				float l = la + dist(da->x, da->y, db->x, db->y) + dist(db->x, db->y, lx, ly);
				if (l < best && line_clear(f, da->ox, da->oy, db->ox, db->oy)) {
					best = l;
					bx = db->x;
					by = db->y;
				}
			}
		}
		if (best < INFINITY) {
			gain = f->door_gain * f->door_gain;
			len = best;
		}
		goto out;
	}
	/* one of them inside a room, the other in open space */
	const struct room *r = &f->rooms[rs >= 0 ? rs : rl];
	float ix = rs >= 0 ? sx : lx, iy = rs >= 0 ? sy : ly; /* the one inside */
	float ox = rs >= 0 ? lx : sx, oy = rs >= 0 ? ly : sy; /* the one outside */
	for (unsigned i = 0; i < r->door_count; i++) {
		const struct door *d = &f->doors[f->door_idx[r->door_first + i]];
		if (!d->open)
			continue;
		float l = dist(ix, iy, d->x, d->y) + dist(d->x, d->y, ox, oy);
		if (l < best && line_clear(f, d->ox, d->oy, ox, oy)) {
			best = l;
			bx = d->x;
			by = d->y;
		}
	}
	if (best < INFINITY) {
		gain = f->door_gain;
		len = best;
	}
out:
	if (ax)
		*ax = bx;
	if (ay)
		*ay = by;
	if (path_len_m)
		*path_len_m = len;
	return gain;
}

/* ---- copies and tiles ---------------------------------------------------- */

struct sbuf {
	char *s;
	size_t len, cap;
	int err;
};

__attribute__((format(printf, 2, 3)))
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	if (b->err)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = -EINVAL;
			return;
		}
		if (b->s && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap : 4096;
		while (cap <= b->len + (size_t)n)
			cap *= 2;
		if (cap > 2 * (size_t)ES_FLOOR_MAX_TEXT) {
			b->err = -E2BIG;
			return;
		}
		char *s = realloc(b->s, cap);
		if (!s) {
			b->err = -ENOMEM;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

struct es_floor *es_floor_clone(const struct es_floor *f)
{
	struct es_floor *c = es_floor_parse(f->text, f->text_len, NULL);
	if (!c)
		return NULL;
	for (unsigned i = 0; i < f->ndoors; i++)
		c->doors[i].open = f->doors[i].open;
	return c;
}

/*
 * A tiled plan is generated as text and parsed, so that es_floor_to_text()
 * of the result is a plan a client can parse to the same floor.  Every room
 * gets an explicit seed ('at'), every desk its own 'desk' line.
 */
struct es_floor *es_floor_tile(const struct es_floor *f, unsigned nx, unsigned ny)
{
	struct sbuf b = { 0 };
	struct es_floor *t;
	int ret;

	if (nx == 0 || ny == 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((unsigned long long)f->cols * nx > ES_FLOOR_MAX_COLS || (unsigned long long)f->rows * ny > ES_FLOOR_MAX_ROWS ||
	    (unsigned long long)f->ndesks * nx * ny > ES_FLOOR_MAX_DESKS ||
	    (unsigned long long)f->nrooms * nx * ny > ES_FLOOR_MAX_ROOMS ||
	    (unsigned long long)f->ndoors * nx * ny > ES_FLOOR_MAX_DOORS) {
		errno = E2BIG;
		return NULL;
	}
	sb_printf(&b, "earshot-floor 1\n");
	if (nx == 1 && ny == 1)
		sb_printf(&b, "name \"%s\"\n", f->name);
	else
		sb_printf(&b, "name \"%.*s %ux%u\"\n", ES_FLOOR_NAME_MAX - 24, f->name, nx, ny);
	sb_printf(&b, "scale %.9g\ndoor-loss %.9g\ngrid\n", (double)f->scale, (double)f->door_db);
	for (unsigned ty = 0; ty < ny; ty++)
		for (unsigned r = 0; r < f->rows; r++) {
			for (unsigned tx = 0; tx < nx; tx++)
				sb_printf(&b, "%s", es_floor_row(f, r));
			sb_printf(&b, "\n");
		}
	sb_printf(&b, "end\n");
	for (unsigned ty = 0; ty < ny; ty++) {
		for (unsigned tx = 0; tx < nx; tx++) {
			unsigned k = ty * nx + tx, oc = tx * f->cols, orow = ty * f->rows;
			for (unsigned i = 0; i < f->nrooms; i++) {
				const struct room *r = &f->rooms[i];
				if (k == 0)
					sb_printf(&b, "room %c \"%s\" %s at %u %u\n", r->letter, r->name,
						  kind_names[r->kind], r->seed_col, r->seed_row);
				else
					sb_printf(&b, "room %c \"%.*s %u\" %s at %u %u\n", r->letter,
						  ES_FLOOR_NAME_MAX - 12, r->name, k + 1, kind_names[r->kind],
						  r->seed_col + oc, r->seed_row + orow);
			}
			for (unsigned i = 0; i < f->ndesks; i++) {
				const struct desk *d = &f->desks[i];
				if (k == 0)
					sb_printf(&b, "desk %s %u %u\n", d->label, d->col, d->row);
				else
					sb_printf(&b, "desk %s.%u %u %u\n", d->label, k, d->col + oc, d->row + orow);
			}
			for (unsigned i = 0; i < f->ndoors; i++) {
				const struct door *d = &f->doors[i];
				if (!d->open)
					sb_printf(&b, "door %u %u closed\n", d->col + oc, d->row + orow);
			}
		}
	}
	if (b.err) {
		ret = b.err;
		goto err_text;
	}
	struct es_floor_error err;
	t = es_floor_parse(b.s, b.len, &err);
	if (!t) {
		/* a label too long or made twice by the suffix */
		ret = errno == ENOMEM ? -ENOMEM : -EINVAL;
		goto err_text;
	}
	free(b.s);
	return t;

err_text:
	free(b.s);
	errno = -ret;
	return NULL;
}
