/* SPDX-License-Identifier: MIT */
/*
 * Which daemon should take a free floor: a pure function of the snapshot
 * every daemon holds, so that all of them reach the same answer without
 * talking to each other, and each claims only the floors it is first
 * choice for (docs/CLUSTER.md, "Placement").
 *
 * For each free floor, in name order, the daemons that take floors are
 * ordered by their projected load over their capacity (load + floor_weight
 * per floor they own or have just been given in this same pass), those
 * already at capacity after the others, ties broken by a hash of the floor
 * and the daemon's id (rendezvous hashing, so ties do not all fall on the
 * same daemon).  The first in that order is the floor's first choice and
 * its projected load grows by floor_weight before the next floor: six free
 * floors over three equal daemons go two to each, not six to one.
 *
 * No clocks, no I/O, no allocation beyond the caller's arrays.
 */
#ifndef EARSHOT_PLACEMENT_H
#define EARSHOT_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

struct es_place_daemon {
	const char *id;
	uint32_t load;       /* people it hosts */
	uint32_t capacity;   /* people it can host; 0 takes no floor */
	uint32_t floors;     /* floors it owns */
	int draining;        /* takes no floor */
};

#define ES_PLACE_NONE UINT32_MAX

/*
 * floors: the free floors' names, sorted (strcmp).  For each, rank[i] is
 * self's position in that floor's order (0: first choice), or ES_PLACE_NONE
 * if self takes no floor (draining, no capacity, not in d); first[i] (may
 * be NULL) is the index in d of the first choice (ES_PLACE_NONE: nobody
 * can take it).  Returns 0, or -EINVAL (more than 4096 daemons).
 */
int es_place_rank(const struct es_place_daemon *d, size_t nd, const char *const *floors, size_t nf,
	const char *self, uint32_t floor_weight, uint32_t *rank, uint32_t *first);

/* The rendezvous hash of (floor, daemon id): 64 bits of FNV-1a. */
uint64_t es_place_hash(const char *floor, const char *id);

#endif
