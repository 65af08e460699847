/* SPDX-License-Identifier: MIT */
/*
 * A fork-join pool for the tick: es_pool_run() hands n independent items
 * (speakers to decode, mixes to render and encode) to the calling thread and
 * the pool's workers, and returns when every item is done.
 *
 * Items are claimed one at a time from a shared counter, so the split
 * follows what each item really costs, and a worker the kernel has not
 * scheduled (the machine is shared: the load generator, the sender) leaves
 * its share to the caller instead of holding the tick up: only an item
 * already claimed is waited for.  The counter carries the job's generation in
 * its high half, so a worker that wakes late for a finished job cannot claim
 * an item of the next one.
 *
 * A pool of one thread runs everything inline and starts no thread.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "pool.h"

struct worker {
	struct es_pool *pool;
	unsigned index; /* 1.. (0 is the caller) */
	pthread_t thread;
};

struct es_pool {
	unsigned threads;
	struct worker *w;
	pthread_mutex_t lock;
	pthread_cond_t go, done;
	/* under lock */
	uint32_t gen;
	bool stop;
	es_pool_fn fn;
	void *ctx;
	uint32_t n;
	/* claims: generation << 32 | next item; done: items finished this job */
	_Atomic uint64_t claim;
	_Atomic uint32_t finished;
};

/* Claim and run items of job `gen` until none is left; returns how many it ran. */
static unsigned drain(struct es_pool *p, uint32_t gen, es_pool_fn fn, void *ctx, uint32_t n, unsigned self)
{
	unsigned ran = 0;
	uint64_t c = atomic_load_explicit(&p->claim, memory_order_acquire);
	for (;;) {
		if ((uint32_t)(c >> 32) != gen || (uint32_t)c >= n)
			return ran;
		if (!atomic_compare_exchange_weak_explicit(&p->claim, &c, c + 1, memory_order_acq_rel,
							   memory_order_acquire))
			continue;
		fn(ctx, (uint32_t)c, self);
		ran++;
		if (atomic_fetch_add_explicit(&p->finished, 1, memory_order_acq_rel) + 1 == n) {
			pthread_mutex_lock(&p->lock);
			pthread_cond_signal(&p->done);
			pthread_mutex_unlock(&p->lock);
		}
		c = atomic_load_explicit(&p->claim, memory_order_acquire);
	}
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct es_pool *p = w->pool;
	uint32_t seen = 0;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->stop && p->gen == seen)
			pthread_cond_wait(&p->go, &p->lock);
		if (p->stop)
			break;
		seen = p->gen;
		es_pool_fn fn = p->fn;
		void *ctx = p->ctx;
		uint32_t n = p->n;
		pthread_mutex_unlock(&p->lock);
		drain(p, seen, fn, ctx, n, w->index);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct es_pool *es_pool_new(unsigned threads)
{
	if (threads < 1 || threads > ES_POOL_MAX) {
		errno = EINVAL;
		return NULL;
	}
	struct es_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->threads = 1;
	if (threads == 1)
		return p;
	int e;
	p->w = calloc(threads, sizeof(*p->w));
	if (!p->w) {
		e = ENOMEM;
		goto err;
	}
	if ((e = pthread_mutex_init(&p->lock, NULL)) != 0)
		goto err;
	if ((e = pthread_cond_init(&p->go, NULL)) != 0)
		goto err_lock;
	if ((e = pthread_cond_init(&p->done, NULL)) != 0)
		goto err_go;
	/* workers take no signals: the daemon's handlers belong to its main thread */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 1; i < threads; i++) {
		p->w[i].pool = p;
		p->w[i].index = i;
		if ((e = pthread_create(&p->w[i].thread, NULL, work, &p->w[i])) != 0)
			break;
		char name[16];
		snprintf(name, sizeof(name), "es-mix%u", i);
		pthread_setname_np(p->w[i].thread, name);
		p->threads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (p->threads == threads)
		return p;
	es_pool_free(p);
	errno = e;
	return NULL;

err_go:
	pthread_cond_destroy(&p->go);
err_lock:
	pthread_mutex_destroy(&p->lock);
err:
	free(p->w);
	free(p);
	errno = e;
	return NULL;
}

void es_pool_free(struct es_pool *p)
{
	if (!p)
		return;
	if (p->w) {
		pthread_mutex_lock(&p->lock);
		p->stop = true;
		pthread_cond_broadcast(&p->go);
		pthread_mutex_unlock(&p->lock);
		for (unsigned i = 1; i < p->threads; i++)
			pthread_join(p->w[i].thread, NULL);
		pthread_cond_destroy(&p->done);
		pthread_cond_destroy(&p->go);
		pthread_mutex_destroy(&p->lock);
		free(p->w);
	}
	free(p);
}

void es_pool_run(struct es_pool *p, es_pool_fn fn, void *ctx, unsigned n)
{
	if (n == 0)
		return;
	if (p->threads == 1 || n == 1) {
		for (unsigned i = 0; i < n; i++)
			fn(ctx, i, 0);
		return;
	}
	pthread_mutex_lock(&p->lock);
	uint32_t gen = ++p->gen;
	if (gen == 0) /* 0 is a worker's "seen nothing yet" */
		gen = ++p->gen;
	p->fn = fn;
	p->ctx = ctx;
	p->n = n;
	atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
	atomic_store_explicit(&p->claim, (uint64_t)gen << 32, memory_order_release);
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->lock);
	drain(p, gen, fn, ctx, n, 0);
	/* what is left is in a worker's hands: wait for it */
	if (atomic_load_explicit(&p->finished, memory_order_acquire) == n)
		return;
	pthread_mutex_lock(&p->lock);
	while (atomic_load_explicit(&p->finished, memory_order_acquire) != n)
		pthread_cond_wait(&p->done, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

static void pool_exec(void *ud, es_exec_fn fn, void *ctx, unsigned n)
{
	es_pool_run(ud, fn, ctx, n);
}

struct es_executor es_pool_executor(struct es_pool *p)
{
	return (struct es_executor){.ud = p, .run = pool_exec};
}
