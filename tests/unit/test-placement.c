/* SPDX-License-Identifier: MIT */
/* Placement (daemon/cluster/placement.h): every daemon reaches the same answer
 * from the same snapshot, free floors spread by load, draining and full
 * daemons step aside, ties do not all fall on one daemon. */
#include <stdio.h>
#include <string.h>

#include "placement.h"
#include "test.h"

/* The first choice for each floor as seen by each daemon must agree, and
 * each floor must have exactly one daemon at rank 0. */
static void consistent(const struct es_place_daemon *d, size_t nd, const char *const *f, size_t nf, uint32_t w,
	uint32_t *first)
{
	uint32_t rank[64], fst[64];
	for (size_t i = 0; i < nf; i++)
		first[i] = ES_PLACE_NONE;
	for (size_t j = 0; j < nd; j++) {
		check_int_eq(es_place_rank(d, nd, f, nf, d[j].id, w, rank, fst), 0);
		for (size_t i = 0; i < nf; i++) {
			if (j == 0)
				first[i] = fst[i];
			check_int_eq(fst[i], first[i]); /* the same answer everywhere */
			if (rank[i] == 0)
				check_int_eq(first[i], j); /* rank 0 is the first choice */
		}
	}
}

int main(void)
{
	const char *floors[] = { "f1", "f2", "f3", "f4", "f5", "f6" };
	uint32_t first[64], rank[64];

	/* three equal daemons, six free floors: two each */
	struct es_place_daemon d[3] = {
		{ .id = "a", .capacity = 500 }, { .id = "b", .capacity = 500 }, { .id = "c", .capacity = 500 },
	};
	consistent(d, 3, floors, 6, 50, first);
	unsigned per[3] = { 0 };
	for (int i = 0; i < 6; i++)
		per[first[i]]++;
	check(per[0] == 2 && per[1] == 2 && per[2] == 2);
	/* every daemon has a distinct rank for each floor: 0, 1 and 2 */
	for (int i = 0; i < 6; i++) {
		unsigned seen = 0;
		for (int j = 0; j < 3; j++) {
			check_int_eq(es_place_rank(d, 3, floors, 6, d[j].id, 50, rank, NULL), 0);
			check(rank[i] < 3);
			seen |= 1u << rank[i];
		}
		check_int_eq(seen, 7);
	}

	/* a busy daemon gets less: b has 400 of 500 people */
	d[1].load = 400;
	consistent(d, 3, floors, 6, 50, first);
	memset(per, 0, sizeof(per));
	for (int i = 0; i < 6; i++)
		per[first[i]]++;
	check(per[1] == 0 && per[0] + per[2] == 6);

	/* capacity is relative: a daemon twice as big takes about twice the floors */
	const char *twelve[] = { "g01", "g02", "g03", "g04", "g05", "g06", "g07", "g08", "g09", "g10", "g11", "g12" };
	d[1].load = 0;
	d[2].capacity = 1000;
	consistent(d, 3, twelve, 12, 50, first);
	memset(per, 0, sizeof(per));
	for (int i = 0; i < 12; i++)
		per[first[i]]++;
	test_log("12 floors over capacities 500, 500, 1000: %u %u %u", per[0], per[1], per[2]);
	check(per[2] >= 5 && per[2] <= 7 && per[0] >= 2 && per[1] >= 2);
	d[2].capacity = 500;

	/* floors already owned count as weight */
	d[0].floors = 4;
	consistent(d, 3, floors, 2, 50, first);
	check(first[0] != 0 && first[1] != 0);
	d[0].floors = 0;

	/* draining and capacity-0 daemons take nothing and have no rank */
	d[0].draining = 1;
	d[1].capacity = 0;
	check_int_eq(es_place_rank(d, 3, floors, 6, "a", 50, rank, first), 0);
	for (int i = 0; i < 6; i++)
		check(rank[i] == ES_PLACE_NONE && first[i] == 2);
	check_int_eq(es_place_rank(d, 3, floors, 6, "b", 50, rank, NULL), 0);
	check_int_eq(rank[0], ES_PLACE_NONE);
	check_int_eq(es_place_rank(d, 3, floors, 6, "c", 50, rank, NULL), 0);
	for (int i = 0; i < 6; i++)
		check_int_eq(rank[i], 0);
	/* a daemon not in the snapshot (not registered yet) claims nothing */
	check_int_eq(es_place_rank(d, 3, floors, 6, "zz", 50, rank, NULL), 0);
	check_int_eq(rank[0], ES_PLACE_NONE);
	/* nobody can take it */
	d[2].draining = 1;
	check_int_eq(es_place_rank(d, 3, floors, 1, "c", 50, rank, first), 0);
	check(rank[0] == ES_PLACE_NONE && first[0] == ES_PLACE_NONE);

	/* everyone full: still placed, on the least full */
	struct es_place_daemon full[2] = { { .id = "x", .capacity = 10, .load = 30 }, { .id = "y", .capacity = 10, .load = 20 } };
	consistent(full, 2, floors, 1, 50, first);
	check_int_eq(first[0], 1);
	/* one with room goes before any over capacity, even if its ratio is worse: none is */
	struct es_place_daemon mix[2] = { { .id = "x", .capacity = 100, .load = 99 }, { .id = "y", .capacity = 10, .load = 10 } };
	consistent(mix, 2, floors, 1, 0, first);
	check_int_eq(first[0], 0);

	/* the same daemons in another order: the same choices */
	struct es_place_daemon e1[4] = { { "p", 0, 100, 0, 0 }, { "q", 0, 100, 0, 0 }, { "r", 0, 100, 0, 0 }, { "s", 0, 100, 0, 0 } };
	struct es_place_daemon e2[4] = { e1[2], e1[0], e1[3], e1[1] };
	uint32_t f1[6], f2[6];
	consistent(e1, 4, floors, 6, 50, f1);
	consistent(e2, 4, floors, 6, 50, f2);
	for (int i = 0; i < 6; i++)
		check(strcmp(e1[f1[i]].id, e2[f2[i]].id) == 0);

	/* ties spread: one free floor at a time, 3000 floors over 3 equal daemons */
	unsigned count[3] = { 0 };
	struct es_place_daemon t[3] = { { .id = "daemon-1", .capacity = 100 }, { .id = "daemon-2", .capacity = 100 }, { .id = "daemon-3", .capacity = 100 } };
	for (int i = 0; i < 3000; i++) {
		char name[16];
		snprintf(name, sizeof(name), "floor-%d", i);
		const char *one[1] = { name };
		check_int_eq(es_place_rank(t, 3, one, 1, "daemon-1", 50, rank, first), 0);
		count[first[0]]++;
	}
	test_log("ties over 3 daemons: %u %u %u of 3000", count[0], count[1], count[2]);
	for (int j = 0; j < 3; j++)
		check(count[j] > 850 && count[j] < 1150);
	return 0;
}
