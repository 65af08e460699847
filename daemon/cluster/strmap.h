/* SPDX-License-Identifier: MIT */
/*
 * A string-keyed hash table of copied values, for the cluster's local
 * tables (the snapshot of etcd keys, queued seats).  Not thread-safe: the
 * owner locks.
 */
#ifndef EARSHOT_STRMAP_H
#define EARSHOT_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct es_strmap_entry {
	char *key;
	char *val;          /* NUL-terminated, val_len bytes before it */
	size_t val_len;
	int64_t mod_rev, lease, aux;
	struct es_strmap_entry *next;
};

struct es_strmap;

struct es_strmap *es_strmap_new(void);
void es_strmap_free(struct es_strmap *m);
void es_strmap_clear(struct es_strmap *m);
size_t es_strmap_count(const struct es_strmap *m);

/* Set key to a copy of val (len bytes).  Returns the entry, or NULL (ENOMEM). */
struct es_strmap_entry *es_strmap_put(struct es_strmap *m, const char *key, const char *val, size_t len);
struct es_strmap_entry *es_strmap_get(const struct es_strmap *m, const char *key);
/* Remove key: true if it was there. */
bool es_strmap_del(struct es_strmap *m, const char *key);

/* Iterate: it = NULL to start; NULL at the end.  No put/del meanwhile. */
struct es_strmap_entry *es_strmap_next(const struct es_strmap *m, size_t *bucket, struct es_strmap_entry *it);

/* Swap two maps' contents. */
void es_strmap_swap(struct es_strmap *a, struct es_strmap *b);

#endif
