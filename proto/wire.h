/* SPDX-License-Identifier: MIT */
/*
 * Bounds-checked little-endian cursors over plain buffers.  Every read and
 * write checks the remaining length first; a failed step latches the cursor
 * into an error state so a sequence of calls can be checked once at the end.
 */
#ifndef EARSHOT_WIRE_H
#define EARSHOT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct es_rd {
	const uint8_t *p;
	size_t left;
	bool bad;
};

struct es_wr {
	uint8_t *p;
	size_t left;
	size_t len;
	bool bad;
};

static inline void es_rd_init(struct es_rd *r, const uint8_t *buf, size_t len)
{
	r->p = buf;
	r->left = len;
	r->bad = false;
}

static inline const uint8_t *es_rd_take(struct es_rd *r, size_t n)
{
	if (r->bad || n > r->left) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *at = r->p;
	r->p += n;
	r->left -= n;
	return at;
}

static inline uint8_t es_rd_u8(struct es_rd *r)
{
	const uint8_t *b = es_rd_take(r, 1);
	return b ? b[0] : 0;
}

static inline uint16_t es_rd_u16(struct es_rd *r)
{
	const uint8_t *b = es_rd_take(r, 2);
	return b ? (uint16_t)(b[0] | b[1] << 8) : 0;
}

static inline uint32_t es_rd_u32(struct es_rd *r)
{
	const uint8_t *b = es_rd_take(r, 4);
	return b ? (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24 : 0;
}

static inline uint64_t es_rd_u64(struct es_rd *r)
{
	uint64_t lo = es_rd_u32(r);
	uint64_t hi = es_rd_u32(r);
	return lo | hi << 32;
}

static inline void es_wr_init(struct es_wr *w, uint8_t *buf, size_t cap)
{
	w->p = buf;
	w->left = cap;
	w->len = 0;
	w->bad = false;
}

static inline uint8_t *es_wr_take(struct es_wr *w, size_t n)
{
	if (w->bad || n > w->left) {
		w->bad = true;
		return NULL;
	}
	uint8_t *at = w->p;
	w->p += n;
	w->left -= n;
	w->len += n;
	return at;
}

static inline void es_wr_u8(struct es_wr *w, uint8_t v)
{
	uint8_t *b = es_wr_take(w, 1);
	if (b)
		b[0] = v;
}

static inline void es_wr_u16(struct es_wr *w, uint16_t v)
{
	uint8_t *b = es_wr_take(w, 2);
	if (b) {
		b[0] = (uint8_t)v;
		b[1] = (uint8_t)(v >> 8);
	}
}

static inline void es_wr_u32(struct es_wr *w, uint32_t v)
{
	uint8_t *b = es_wr_take(w, 4);
	if (b) {
		b[0] = (uint8_t)v;
		b[1] = (uint8_t)(v >> 8);
		b[2] = (uint8_t)(v >> 16);
		b[3] = (uint8_t)(v >> 24);
	}
}

static inline void es_wr_u64(struct es_wr *w, uint64_t v)
{
	es_wr_u32(w, (uint32_t)v);
	es_wr_u32(w, (uint32_t)(v >> 32));
}

static inline void es_wr_bytes(struct es_wr *w, const void *src, size_t n)
{
	uint8_t *b = es_wr_take(w, n);
	if (b && n)
		memcpy(b, src, n);
}

#endif
