/* SPDX-License-Identifier: MIT */
#include "hs-worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sodium.h>

struct es_hs_worker {
	struct es_keypair key;
	unsigned depth;
	struct es_hs_job *jobs;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t go;
	/* counters, job index = counter % depth */
	unsigned tail;   /* submitted; written by the tick thread under lock */
	unsigned worked; /* finished; written by the worker under lock */
	unsigned head;   /* released; tick thread only */
	bool stop;       /* under lock */
};

static void work(struct es_hs_worker *w, struct es_hs_job *j)
{
	int n;
	j->result = es_noise_responder_init(&j->hs, &w->key, (const uint8_t *)ES_NOISE_PROLOGUE,
					    sizeof(ES_NOISE_PROLOGUE) - 1);
	if (j->result < 0)
		return;
	n = es_noise_read_msg1(&j->hs, j->msg1, j->msg1_len, j->client, j->ts, j->payload, sizeof(j->payload));
	if (n < 0 || es_join_payload_decode(&j->jp, j->payload, (size_t)n) < 0) {
		es_noise_clear(&j->hs);
		j->result = -EBADMSG;
		return;
	}
	es_noise_make_ephemeral(&j->hs); /* message 2's key, made here rather than on the tick */
	j->result = 0;
}

static void *run(void *arg)
{
	struct es_hs_worker *w = arg;
	/* below the tick thread: where the two compete for one core, the tick
	 * wins (a join storm must never starve the audio of those already in);
	 * a thread's nice value applies to that thread alone on Linux */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (w->worked == w->tail && !w->stop)
			pthread_cond_wait(&w->go, &w->lock);
		if (w->stop)
			break;
		struct es_hs_job *j = &w->jobs[w->worked % w->depth];
		pthread_mutex_unlock(&w->lock);
		work(w, j);
		pthread_mutex_lock(&w->lock);
		w->worked++;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct es_hs_worker *es_hs_worker_new(const struct es_keypair *key, unsigned depth)
{
	if (!key || depth == 0) {
		errno = EINVAL;
		return NULL;
	}
	struct es_hs_worker *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	int e = ENOMEM;
	w->jobs = calloc(depth, sizeof(*w->jobs));
	if (!w->jobs)
		goto err_free;
	w->depth = depth;
	w->key = *key;
	if ((e = pthread_mutex_init(&w->lock, NULL)) != 0)
		goto err_jobs;
	if ((e = pthread_cond_init(&w->go, NULL)) != 0)
		goto err_lock;
	if ((e = pthread_create(&w->thread, NULL, run, w)) != 0)
		goto err_cond;
	pthread_setname_np(w->thread, "es-handshake"); /* for top -H and the soak's per-thread CPU */
	return w;

err_cond:
	pthread_cond_destroy(&w->go);
err_lock:
	pthread_mutex_destroy(&w->lock);
err_jobs:
	free(w->jobs);
err_free:
	sodium_memzero(&w->key, sizeof(w->key));
	free(w);
	errno = e;
	return NULL;
}

void es_hs_worker_free(struct es_hs_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->go);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->go);
	pthread_mutex_destroy(&w->lock);
	sodium_memzero(w->jobs, (size_t)w->depth * sizeof(*w->jobs));
	sodium_memzero(&w->key, sizeof(w->key));
	free(w->jobs);
	free(w);
}

struct es_hs_job *es_hs_worker_job(struct es_hs_worker *w)
{
	/* tail is only written by this thread: reading it without the lock is safe */
	if (w->tail - w->head >= w->depth)
		return NULL;
	return &w->jobs[w->tail % w->depth];
}

void es_hs_worker_submit(struct es_hs_worker *w)
{
	pthread_mutex_lock(&w->lock);
	w->tail++;
	pthread_cond_signal(&w->go);
	pthread_mutex_unlock(&w->lock);
}

struct es_hs_job *es_hs_worker_done(struct es_hs_worker *w)
{
	pthread_mutex_lock(&w->lock);
	unsigned worked = w->worked;
	pthread_mutex_unlock(&w->lock);
	return w->head != worked ? &w->jobs[w->head % w->depth] : NULL;
}

void es_hs_worker_release(struct es_hs_worker *w)
{
	struct es_hs_job *j = &w->jobs[w->head % w->depth];
	es_noise_clear(&j->hs);
	sodium_memzero(j, sizeof(*j));
	w->head++;
}

unsigned es_hs_worker_inflight(const struct es_hs_worker *w)
{
	return w->tail - w->head;
}
