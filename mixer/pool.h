/* SPDX-License-Identifier: MIT */
/*
 * A fork-join pool for the tick (pool.c).  Private to mixer/.
 */
#ifndef EARSHOT_POOL_H
#define EARSHOT_POOL_H
#include <stdbool.h>
#include <stdint.h>
#include "earshot-mixer.h"

#define ES_POOL_MAX ES_ENGINE_THREADS_MAX

struct es_pool;

/* One item of a job; `worker` is 0 for the caller, 1.. for the pool's threads. */
typedef void (*es_pool_fn)(void *ctx, unsigned item, unsigned worker);

/* `threads` counts the caller: 1 starts no thread.  NULL and errno on failure. */
struct es_pool *es_pool_new(unsigned threads);
void es_pool_free(struct es_pool *p);

/*
 * Run fn on items 0..n-1, each exactly once, on the caller and the workers;
 * returns when all are done.  Items must not depend on each other.
 */
void es_pool_run(struct es_pool *p, es_pool_fn fn, void *ctx, unsigned n);
#endif
