/* SPDX-License-Identifier: MIT */
/*
 * es_floor_parse on anything.  What parses must keep its text, answer every
 * query without crashing, give path factors in [0,1] that are the same in
 * both directions, with a path never shorter than the straight line, and
 * survive clone and tile.  Wiring (tests/fuzz/meson.build): link mixer_dep
 * for the replay program, and mixer/floor.c + mixer/floor-default.c for the
 * libFuzzer build; corpus in tests/fuzz/corpus/floor/.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "earshot-mixer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t mix32(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x7feb352dU;
	h ^= h >> 15;
	h *= 0x846ca68bU;
	h ^= h >> 16;
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct es_floor_error err;
	struct es_floor *f = es_floor_parse((const char *)data, size, &err);
	if (!f) {
		if (err.line < 0 || err.col < 0 || memchr(err.msg, '\0', sizeof(err.msg)) == NULL)
			__builtin_trap();
		return 0;
	}
	size_t len;
	const char *text = es_floor_to_text(f, &len);
	if (len != size || memcmp(text, data, size) != 0)
		__builtin_trap();

	unsigned cols = es_floor_cols(f), rows = es_floor_rows(f);
	if (cols == 0 || rows == 0 || cols > ES_FLOOR_MAX_COLS || rows > ES_FLOOR_MAX_ROWS)
		__builtin_trap();
	for (unsigned r = 0; r < rows; r++)
		if (strlen(es_floor_row(f, r)) != cols)
			__builtin_trap();
	for (unsigned i = 0; i < es_floor_desk_count(f); i++) {
		float x, y;
		const char *label;
		if (es_floor_desk(f, i, &x, &y, &label) < 0 || es_floor_desk_find(f, label) != (int)i)
			__builtin_trap();
	}
	for (unsigned i = 0; i < es_floor_room_count(f); i++) {
		const unsigned *doors;
		int n = es_floor_room_doors(f, i, &doors);
		if (n < 0 || es_room_kind_name(es_floor_room_kind(f, i)) == NULL)
			__builtin_trap();
		for (int k = 0; k < n; k++) {
			unsigned room;
			float x, y;
			if (es_floor_door(f, doors[k], &x, &y, &room) < 0 || room != i ||
			    es_floor_room_at(f, x, y) != (int)i || es_floor_door_at(f, x, y) != (int)doors[k])
				__builtin_trap();
		}
	}

	/* paths between points spread over (and a little beyond) the plan */
	float w = es_floor_width_m(f), h = es_floor_height_m(f);
	uint32_t seed = (uint32_t)size;
	for (size_t i = 0; i < size && i < 256; i++)
		seed = mix32(seed ^ data[i]);
	for (int q = 0; q < 64; q++) {
		if (q == 32 && es_floor_door_count(f) > 0)
			if (es_floor_door_set_open(f, seed % es_floor_door_count(f), false) < 0)
				__builtin_trap();
		float p[4];
		for (int k = 0; k < 4; k++) {
			seed = mix32(seed + 0x9e3779b9U);
			p[k] = ((float)(seed % 1200) / 1000.0f - 0.1f) * (k % 2 ? h : w);
		}
		float ax, ay, len1, len2;
		float g1 = es_floor_path(f, p[0], p[1], p[2], p[3], &ax, &ay, &len1);
		float g2 = es_floor_path(f, p[2], p[3], p[0], p[1], NULL, NULL, &len2);
		float straight = hypotf(p[0] - p[2], p[1] - p[3]);
		if (!(g1 >= 0.0f && g1 <= 1.0f) || g1 != g2 || !(len1 >= straight * 0.9999f - 1e-4f) ||
		    !isfinite(ax) || !isfinite(ay))
			__builtin_trap();
	}

	struct es_floor *c = es_floor_clone(f);
	if (!c || es_floor_desk_count(c) != es_floor_desk_count(f))
		__builtin_trap();
	es_floor_free(c);
	struct es_floor *t = es_floor_tile(f, 2, 1);
	if (t && (es_floor_desk_count(t) != 2 * es_floor_desk_count(f) ||
		  es_floor_room_count(t) != 2 * es_floor_room_count(f) || es_floor_cols(t) != 2 * cols))
		__builtin_trap();
	es_floor_free(t);
	es_floor_free(f);
	return 0;
}
