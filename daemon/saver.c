/* SPDX-License-Identifier: MIT */
#include "saver.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

struct es_saver {
	struct es_state_db *st;
	char *dir;
	unsigned interval_ms;
	pthread_t thread;
	pthread_mutex_t lock;   /* guards st and the fields below */
	pthread_cond_t wake;
	bool dirty, stopping;
	unsigned long saves, failures;
};

/* Format under the lock, write without it. */
static void save_now(struct es_saver *sv)
{
	size_t len;
	pthread_mutex_lock(&sv->lock);
	sv->dirty = false;
	char *text = es_state_format(sv->st, &len);
	bool rotate = es_state_rotate_ok(sv->st);
	pthread_mutex_unlock(&sv->lock);
	int r = text ? es_state_write(sv->dir, text, len, rotate) : -ENOMEM;
	free(text);
	pthread_mutex_lock(&sv->lock);
	if (r < 0) {
		sv->failures++;
		sv->dirty = true; /* try again next interval */
	} else {
		sv->saves++;
	}
	unsigned long failures = sv->failures;
	pthread_mutex_unlock(&sv->lock);
	if (r < 0 && (failures < 10 || failures % 100 == 0))
		es_log_error("state: cannot save to %s: %s (will retry)", sv->dir, strerror(-r));
}

static void *saver_main(void *arg)
{
	struct es_saver *sv = arg;
	pthread_mutex_lock(&sv->lock);
	for (;;) {
		while (!sv->dirty && !sv->stopping)
			pthread_cond_wait(&sv->wake, &sv->lock);
		if (sv->stopping)
			break;
		/* let a burst of changes gather, then save once */
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += sv->interval_ms / 1000;
		until.tv_nsec += (long)(sv->interval_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!sv->stopping && pthread_cond_timedwait(&sv->wake, &sv->lock, &until) != ETIMEDOUT)
			;
		if (sv->stopping)
			break;
		pthread_mutex_unlock(&sv->lock);
		save_now(sv);
		pthread_mutex_lock(&sv->lock);
	}
	bool dirty = sv->dirty;
	pthread_mutex_unlock(&sv->lock);
	if (dirty)
		save_now(sv);
	return NULL;
}

struct es_saver *es_saver_start(struct es_state_db *st, const char *dir, unsigned interval_ms)
{
	pthread_condattr_t ca;
	int e;
	struct es_saver *sv = calloc(1, sizeof(*sv));
	if (!sv)
		return NULL;
	sv->st = st;
	sv->interval_ms = interval_ms;
	sv->dir = strdup(dir);
	if (!sv->dir) {
		e = ENOMEM;
		goto err_free;
	}
	e = pthread_mutex_init(&sv->lock, NULL);
	if (e)
		goto err_dir;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	e = pthread_cond_init(&sv->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (e)
		goto err_mutex;
	e = pthread_create(&sv->thread, NULL, saver_main, sv);
	if (e)
		goto err_cond;
	return sv;

err_cond:
	pthread_cond_destroy(&sv->wake);
err_mutex:
	pthread_mutex_destroy(&sv->lock);
err_dir:
	free(sv->dir);
err_free:
	free(sv);
	errno = e;
	return NULL;
}

void es_saver_stop(struct es_saver *sv)
{
	if (!sv)
		return;
	pthread_mutex_lock(&sv->lock);
	sv->stopping = true;
	pthread_cond_signal(&sv->wake);
	pthread_mutex_unlock(&sv->lock);
	pthread_join(sv->thread, NULL);
	pthread_cond_destroy(&sv->wake);
	pthread_mutex_destroy(&sv->lock);
	free(sv->dir);
	free(sv);
}

void es_saver_lock(struct es_saver *sv)
{
	pthread_mutex_lock(&sv->lock);
}

void es_saver_unlock(struct es_saver *sv)
{
	pthread_mutex_unlock(&sv->lock);
}

void es_saver_mark_dirty(struct es_saver *sv)
{
	/* the caller holds sv->lock */
	sv->dirty = true;
	pthread_cond_signal(&sv->wake);
}

void es_saver_counts(struct es_saver *sv, unsigned long *saves, unsigned long *failures)
{
	pthread_mutex_lock(&sv->lock);
	*saves = sv->saves;
	*failures = sv->failures;
	pthread_mutex_unlock(&sv->lock);
}
