/* SPDX-License-Identifier: MIT */
#include "saver.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"

#define TAIL_LEN (9 + 64 + 1)

struct es_saver {
	struct es_state_db *st;
	char *dir;
	unsigned interval_ms;
	pthread_t thread;
	pthread_mutex_t lock;   /* guards st and the fields below */
	pthread_cond_t wake;
	bool dirty, stopping;
	unsigned long saves, failures;
	/*
	 * The file as this process last wrote (or, at start, loaded) it: its
	 * checksum line, to notice that someone else replaced it, and its
	 * text, the base a reload compares an edited file with.
	 */
	char tail[TAIL_LEN];
	bool have_tail, foreign_warned;
	char *base;
	size_t base_len;
	unsigned long foreign_skips;
};

/* The last line of a state file, "checksum <hex64>\n", is its fingerprint. */
static bool file_tail(const char *dir, char tail[TAIL_LEN])
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/state", dir) >= (int)sizeof(path))
		return false;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	off_t end = lseek(fd, 0, SEEK_END);
	bool ok = end >= TAIL_LEN && pread(fd, tail, TAIL_LEN, end - TAIL_LEN) == TAIL_LEN;
	close(fd);
	return ok;
}

/* Someone other than this process put <dir>/state there (under the lock). */
static bool replaced_by_someone_else(struct es_saver *sv)
{
	char now[TAIL_LEN];
	bool have = file_tail(sv->dir, now);
	if (!have)
		return false; /* no file (or a torn one): ours to write */
	return !sv->have_tail || memcmp(now, sv->tail, TAIL_LEN) != 0;
}

/*
 * Format under the lock, write without it.  A state file that someone else
 * put there (an admin's edit, a restored backup) is not overwritten: it is
 * loaded by the next SIGHUP (es_saver_adopt) or the next start.
 */
static void save_now(struct es_saver *sv)
{
	size_t len;
	pthread_mutex_lock(&sv->lock);
	if (replaced_by_someone_else(sv)) {
		bool warn = !sv->foreign_warned;
		sv->foreign_warned = true;
		sv->foreign_skips++;
		pthread_mutex_unlock(&sv->lock);
		if (warn)
			es_log_warn("state: %s/state was replaced by someone else; not overwriting it: send SIGHUP to "
				    "load its enrolments (changes since are kept in memory until then)", sv->dir);
		return; /* still dirty: saved after the reload */
	}
	sv->dirty = false;
	char *text = es_state_format(sv->st, &len);
	bool rotate = es_state_rotate_ok(sv->st);
	pthread_mutex_unlock(&sv->lock);
	int r = text ? es_state_write(sv->dir, text, len, rotate) : -ENOMEM;
	pthread_mutex_lock(&sv->lock);
	if (r < 0) {
		sv->failures++;
		sv->dirty = true; /* try again next interval */
		free(text);
	} else {
		sv->saves++;
		memcpy(sv->tail, text + len - TAIL_LEN, TAIL_LEN);
		sv->have_tail = true;
		free(sv->base);
		sv->base = text;
		sv->base_len = len;
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
	/* the file as loaded is the base until the first save */
	sv->have_tail = file_tail(dir, sv->tail);
	sv->base = es_state_format(st, &sv->base_len);
	if (!sv->base) {
		e = ENOMEM;
		goto err_dir;
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
	pthread_setname_np(sv->thread, "es-saver");
	return sv;

err_cond:
	pthread_cond_destroy(&sv->wake);
err_mutex:
	pthread_mutex_destroy(&sv->lock);
err_dir:
	free(sv->base);
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
	free(sv->base);
	free(sv->dir);
	free(sv);
}

char *es_saver_base(struct es_saver *sv, size_t *len)
{
	/* the caller holds sv->lock */
	char *copy = malloc(sv->base_len ? sv->base_len : 1);
	if (copy) {
		memcpy(copy, sv->base, sv->base_len);
		*len = sv->base_len;
	}
	return copy;
}

void es_saver_adopt(struct es_saver *sv, const char *text, size_t len)
{
	/* the caller holds sv->lock */
	char *copy = malloc(len ? len : 1);
	if (copy && len >= TAIL_LEN) {
		memcpy(copy, text, len);
		free(sv->base);
		sv->base = copy;
		sv->base_len = len;
		memcpy(sv->tail, text + len - TAIL_LEN, TAIL_LEN);
		sv->have_tail = true;
	} else {
		free(copy);
	}
	sv->foreign_warned = false;
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
