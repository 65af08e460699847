/* SPDX-License-Identifier: MIT */
/*
 * A fork-join pool for the mixer's tick (pool.c): the daemon's threads, and
 * its signal policy (workers block every signal: the handlers belong to the
 * main thread).  The mixer starts no thread; it is handed this pool as an
 * executor (es_pool_executor, struct es_executor in earshot-mixer.h).
 * bench/ and the tests link it (pool_dep) for the same.
 *
 * es_pool_new, es_pool_free and es_pool_run are called from one thread
 * (the tick's).
 */
#ifndef EARSHOT_POOL_H
#define EARSHOT_POOL_H
#include <stdbool.h>
#include <stdint.h>
#include "earshot-mixer.h"

#define ES_POOL_MAX ES_ENGINE_THREADS_MAX

struct es_pool;

/* One item of a job; `worker` is 0 for the caller, 1.. for the pool's threads. */
typedef es_exec_fn es_pool_fn;

/* `threads` counts the caller: 1 starts no thread.  NULL and errno on failure.  es_pool_free(NULL) is a no-op. */
struct es_pool *es_pool_new(unsigned threads);
void es_pool_free(struct es_pool *p);

/*
 * Run fn on items 0..n-1, each exactly once, on the caller and the workers;
 * returns when all are done.  Items must not depend on each other.
 */
void es_pool_run(struct es_pool *p, es_pool_fn fn, void *ctx, unsigned n);

/* p as the engine's executor (es_engine_config.exec): borrowed, keep p alive until the engine is freed. */
struct es_executor es_pool_executor(struct es_pool *p);
#endif
