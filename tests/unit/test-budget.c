/* SPDX-License-Identifier: MIT */
/*
 * Budgets (daemon/budget.h): rates as an admin writes them, buckets on a
 * made-up clock, and the per-address table under collisions: addresses of
 * one set each keep a budget while there are slots, share once there are
 * not, and going round them refills nothing (an unkeyed table that reset
 * the slot on a collision let them through without end).
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

/* Over t_ms of going round n addresses, how many tokens does the table grant? */
static int round_robin(struct es_addr_buckets *t, const uint32_t *a, int n, const struct es_rate *r, int tries,
		       int64_t t0, int64_t t_ms)
{
	int granted = 0;
	for (int i = 0; i < tries; i++)
		granted += es_addr_buckets_take(t, a[i % n], r, t0 + t_ms * i / tries);
	return granted;
}

/* n addresses that fall in the same set as a (under t's key), a first. */
static void same_set(const struct es_addr_buckets *t, uint32_t a, uint32_t *out, int n)
{
	out[0] = a;
	int k = 1;
	for (uint32_t x = 1; k < n && x < 100000000; x++) /* about 4,096 tries each */
		if (x != a && es_addr_buckets_set(t, x) == es_addr_buckets_set(t, a))
			out[k++] = x;
	check(k == n);
}

static void collisions(void)
{
	uint8_t key[16];
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)(i * 31 + 7);
	check(es_addr_buckets_new(1000, key) == NULL && errno == EINVAL);
	struct es_rate r = {20, 1, 60};
	const int budget = 60 + 20; /* one address, one second */
	uint32_t a[ES_ADDR_WAYS + 1];
	struct es_addr_buckets *t = es_addr_buckets_new(4096, key);
	check(t != NULL);
	same_set(t, 0x8f00007f /* 127.0.0.143 as ENet keeps it */, a, ES_ADDR_WAYS + 1);

	/* two addresses of one set: each has a budget of its own, and neither gets more */
	int two = round_robin(t, a, 2, &r, 600, 1000, 1000);
	test_log("two addresses of one set: %d of 600 granted in 1 s (each at most %d)", two, budget);
	check(two >= 2 * 60 && two <= 2 * budget + 2);

	/* five addresses of one set (four slots): the fifth shares, and going round refills nothing */
	struct es_addr_buckets *t2 = es_addr_buckets_new(4096, key);
	int five = round_robin(t2, a, ES_ADDR_WAYS + 1, &r, 1500, 1000, 1000);
	test_log("five addresses of one set: %d of 1500 granted in 1 s (at most %d)", five, ES_ADDR_WAYS * budget);
	check(five <= ES_ADDR_WAYS * budget + ES_ADDR_WAYS);

	/* a slot changes hands only once its bucket is full again */
	struct es_addr_buckets *t3 = es_addr_buckets_new(4096, key);
	for (int w = 0; w < ES_ADDR_WAYS; w++)
		for (int i = 0; i < 60; i++)
			check(es_addr_buckets_take(t3, a[w], &r, 5000));
	check(!es_addr_buckets_take(t3, a[ES_ADDR_WAYS], &r, 5000)); /* their debt, shared */
	check(!es_addr_buckets_take(t3, a[0], &r, 5000));
	check(es_addr_buckets_take(t3, a[ES_ADDR_WAYS], &r, 5000 + 3000)); /* full again: it may have one */
	int n = 1;
	while (es_addr_buckets_take(t3, a[ES_ADDR_WAYS], &r, 8000))
		n++;
	check_int_eq(n, 60);

	/* another key, other sets: which addresses collide is nobody's choice */
	key[0] ^= 1;
	struct es_addr_buckets *t4 = es_addr_buckets_new(4096, key);
	unsigned same = 0;
	for (uint32_t x = 1; x < 2000; x++)
		same += es_addr_buckets_set(t4, x) == es_addr_buckets_set(t, x);
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
