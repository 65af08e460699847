/* SPDX-License-Identifier: MIT */
/*
 * The budgets' parser and buckets (daemon/budget.h) on any input: a rate
 * that parses writes back to itself; under any clock, a bucket grants at
 * most its burst plus what its rate earned; so does each slot of the
 * per-address table (a set of them at most ES_ADDR_WAYS times that),
 * whatever addresses collide in it.
 *
 * Input: [text up to the first NUL][0][clock and address steps].
 */
#include <string.h>

#include <sodium.h>

#include "budget.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SETS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[ES_RATE_TEXT_MAX + 8];
	const uint8_t *nul = memchr(data, 0, size);
	size_t tl = nul ? (size_t)(nul - data) : size;
	if (tl >= sizeof(text))
		return 0;
	memcpy(text, data, tl);
	text[tl] = 0;
	struct es_rate r;
	if (es_rate_parse(text, &r) < 0)
		return 0;
	if (!(r.count >= 0.001f) || (r.per_s != 1 && r.per_s != 60) || !(r.burst >= 1.0f) || r.burst > 100000.0f ||
	    (double)r.count / r.per_s > 100000.0)
		__builtin_trap();
	char out[ES_RATE_TEXT_MAX + 1];
	struct es_rate back;
	if (es_rate_format(&r, out, sizeof(out)) < 0 || es_rate_parse(out, &back) < 0 || memcmp(&r, &back, sizeof(r)) != 0)
		__builtin_trap();

	/* steps: [dt ms][address] pairs */
	static const uint8_t key[16] = {1, 2, 3};
	static struct es_addr_buckets *t;
	if (sodium_init() < 0)
		__builtin_trap();
	es_addr_buckets_free(t);
	t = es_addr_buckets_new(SETS, key);
	if (!t)
		__builtin_trap();
	struct es_bucket b = {0};
	int64_t now = 1000, start = now;
	double granted = 0, set_granted[SETS] = {0};
	const uint8_t *p = nul ? nul + 1 : data + size;
	for (; p + 2 <= data + size; p += 2) {
		now += p[0] * 7;
		granted += es_bucket_take(&b, &r, now);
		uint32_t addr = p[1];
		set_granted[es_addr_buckets_set(t, addr)] += es_addr_buckets_take(t, addr, &r, now);
	}
	double earned = (double)r.burst + (double)(now - start) * es_rate_per_ms(&r) + 1e-3;
	if (granted > earned)
		__builtin_trap();
	for (unsigned i = 0; i < SETS; i++) /* each slot of a set is one bucket, never refilled by a collision */
		if (set_granted[i] > ES_ADDR_WAYS * earned)
			__builtin_trap();
	return 0;
}
