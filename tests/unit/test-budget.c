/* SPDX-License-Identifier: MIT */
/*
 * Budgets (daemon/budget.h): rates as an admin writes them, buckets on a
 * made-up clock, and the per-address table under collisions: two addresses
 * that share a slot share one budget, and alternating between them refills
 * nothing (an unkeyed table that reset the slot on a collision let them
 * through without end).
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "budget.h"
#include "test.h"

static void rates(void)
{
	struct es_rate r;
	char t[ES_RATE_TEXT_MAX + 1];
	check_int_eq(es_rate_parse("20/s burst 60", &r), 0);
	check(r.count == 20 && r.per_s == 1 && r.burst == 60);
	check_near(es_rate_per_ms(&r), 0.02, 1e-9);
	check_int_eq(es_rate_parse("  30 / min  ", &r), 0);
	check(r.count == 30 && r.per_s == 60 && r.burst == 30);
	check_int_eq(es_rate_parse("0.5/s", &r), 0);
	check(r.burst == 1); /* at least one */
	check_int_eq(es_rate_parse("2.5/s burst 4", &r), 0);
	check_int_eq(es_rate_format(&r, t, sizeof(t)), (int)strlen("2.5/s burst 4"));
	check(strcmp(t, "2.5/s burst 4") == 0);
	check_int_eq(es_rate_format(&r, t, 5), -ENOSPC);
	static const char *const bad[] = {"", "20", "20/", "/s", "20/h", "-1/s", "0/s", "0.0001/s", "1e3/s", "inf/s",
					  "nan/s", "0x10/s", "20/s burst", "20/s burst 0", "20/s burst -1",
					  "20/s burst 1000000", "20/s bursty 4", "20/s burst 4 x", "200000/s",
					  "1.2.3/s", "20/s burst 1.5", "5/min burst 9999999"};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct es_rate keep = {7, 1, 7};
		r = keep;
		if (es_rate_parse(bad[i], &r) != -EINVAL) {
			test_log("'%s' parsed", bad[i]);
			check(0);
		}
		check(r.count == 7 && r.burst == 7); /* unchanged */
	}
	/* what it writes reads back the same, for odd counts too */
	static const char *const odd[] = {"7/min", "0.001/s burst 1", "100000/s burst 100000", "6000000/min", "1.1/s"};
	for (unsigned i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		struct es_rate a, b;
		check_int_eq(es_rate_parse(odd[i], &a), 0);
		check(es_rate_format(&a, t, sizeof(t)) > 0);
		check_int_eq(es_rate_parse(t, &b), 0);
		check(memcmp(&a, &b, sizeof(a)) == 0);
	}
	struct es_limits l;
	es_limits_default(&l);
	for (unsigned k = 0; k < ES_REQ__COUNT; k++) {
		check(l.request[k].count > 0 && l.request[k].burst >= 1);
		check(strcmp(es_request_name((enum es_request)k), "?") != 0);
	}
}

static void buckets(void)
{
	struct es_rate r = {10, 1, 3}; /* 10/s burst 3 */
	struct es_bucket b = {0};
	for (int i = 0; i < 3; i++)
		check(es_bucket_take(&b, &r, 1000));
	check(!es_bucket_take(&b, &r, 1000));
	check(!es_bucket_take(&b, &r, 1099)); /* 0.99 of a token */
	check(es_bucket_take(&b, &r, 1100));
	check(!es_bucket_take(&b, &r, 1100));
	check(!es_bucket_take(&b, &r, 900)); /* a clock that went back earns nothing */
	/* a long pause refills to the burst, not beyond */
	int n = 0;
	while (es_bucket_take(&b, &r, 100000))
		n++;
	check_int_eq(n, 3);
}

/* Over t_ms of alternating between a and b, how many tokens does the table grant? */
static int alternate(struct es_addr_buckets *t, uint32_t a, uint32_t b, const struct es_rate *r, int tries, int64_t t_ms)
{
	int granted = 0;
	for (int i = 0; i < tries; i++)
		granted += es_addr_buckets_take(t, i % 2 ? b : a, r, 1000 + t_ms * i / tries);
	return granted;
}

static void collisions(void)
{
	uint8_t key[16];
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)(i * 31 + 7);
	struct es_addr_buckets *t = es_addr_buckets_new(4096, key);
	check(t != NULL);
	check(es_addr_buckets_new(1000, key) == NULL && errno == EINVAL);
	/* the old table's pair no longer needs to collide ... */
	uint32_t a = 0x8f00007f; /* 127.0.0.143 as ENet stores it (network order) */
	uint32_t b = 0x010d007f; /* 127.0.13.1 */
	/* ... so find one that does under this key */
	uint32_t c = 0;
	for (uint32_t x = 1; !c && x < 10000000; x++) /* about 4,096 tries */
		if (x != a && es_addr_buckets_slot(t, x) == es_addr_buckets_slot(t, a))
			c = x;
	check(c != 0);
	struct es_rate r = {20, 1, 60};
	/* 600 attempts alternating over 1 s: two addresses sharing a slot get one budget */
	int shared = alternate(t, a, c, &r, 600, 1000);
	test_log("colliding pair: %d of 600 granted in 1 s (one budget: at most 60 + 20)", shared);
	check(shared <= 60 + 20 + 1);
	/* a pair that does not share a slot: each its own budget, never more */
	struct es_addr_buckets *t2 = es_addr_buckets_new(4096, key);
	if (es_addr_buckets_slot(t2, a) != es_addr_buckets_slot(t2, b)) {
		int apart = alternate(t2, a, b, &r, 600, 1000);
		test_log("distinct pair: %d of 600 granted in 1 s (at most 2 x 80)", apart);
		check(apart <= 2 * (60 + 20) + 2 && apart >= 2 * 60);
	}
	/* a slot changes hands only once its bucket is full again */
	struct es_addr_buckets *t3 = es_addr_buckets_new(4096, key);
	for (int i = 0; i < 60; i++)
		check(es_addr_buckets_take(t3, a, &r, 5000));
	check(!es_addr_buckets_take(t3, c, &r, 5000)); /* a's debt, shared */
	check(!es_addr_buckets_take(t3, a, &r, 5000));
	check(es_addr_buckets_take(t3, c, &r, 5000 + 3000)); /* full again: c may have it */
	int n = 1;
	while (es_addr_buckets_take(t3, c, &r, 8000))
		n++;
	check_int_eq(n, 60);
	/* another key, other slots: which addresses collide is nobody's choice */
	key[0] ^= 1;
	struct es_addr_buckets *t4 = es_addr_buckets_new(4096, key);
	unsigned same = 0;
	for (uint32_t x = 1; x < 2000; x++)
		same += es_addr_buckets_slot(t4, x) == es_addr_buckets_slot(t, x);
	check(same < 20);
	es_addr_buckets_free(t);
	es_addr_buckets_free(t2);
	es_addr_buckets_free(t3);
	es_addr_buckets_free(t4);
	es_addr_buckets_free(NULL);
}

int main(void)
{
	check(sodium_init() >= 0);
	rates();
	buckets();
	collisions();
	printf("budgets: ok\n");
	return 0;
}
