/* SPDX-License-Identifier: MIT */
/*
 * kill -9 during a storm of state writes.  A child process loads the state
 * (as a restarting daemon would) and then saves new versions in a tight
 * loop, acknowledging each completed save over a pipe; the parent SIGKILLs
 * it at a random moment.  After every kill the state must load, be exactly
 * one of the versions the child wrote, and be no older than the last save
 * the child saw complete.  Repeated ITERATIONS times, bounded in time.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "state.h"
#include "test.h"

#define ITERATIONS 200
#define TIME_LIMIT_S 60

/* Version k of the state: its size varies with k, so kills land in writes
 * of different lengths; every field carries k so versions differ. */
static struct es_state_db *gen(uint64_t k)
{
	struct es_state_db *st = es_state_new();
	check(st);
	unsigned n = 1 + (unsigned)((k * 37) % 400);
	for (unsigned i = 0; i < n; i++) {
		struct es_person p = { 0 };
		memcpy(p.key, &i, sizeof(i));
		p.key[31] = 0x5A;
		snprintf(p.name, sizeof(p.name), "person %u of version %llu", i, (unsigned long long)k);
		if (i % 3 == 0)
			snprintf(p.desk, sizeof(p.desk), "D-%u", i);
		p.has_place = i % 2 == 0;
		p.x = (float)k * 0.25f + (float)i;
		p.y = -(float)i;
		p.facing = (float)(k % 7);
		p.last_seen = (int64_t)k; /* person 0 says which version this is */
		memcpy(p.last_ts + 4, &k, sizeof(k));
		check_int_eq(es_state_put(st, &p), 0);
	}
	return st;
}

static uint64_t version_of(struct es_state_db *st)
{
	if (es_state_person_count(st) == 0)
		return 0;
	return (uint64_t)es_state_person(st, 0)->last_seen;
}

static void child(const char *dir, int ack_fd)
{
	struct es_state_db *st = NULL;
	if (es_state_load(dir, &st) < 0)
		_exit(3);
	uint64_t k = version_of(st);
	es_state_free(st);
	for (;;) {
		st = gen(++k);
		if (es_state_save(st, dir) < 0)
			_exit(4);
		es_state_free(st);
		if (write(ack_fd, &k, sizeof(k)) != sizeof(k))
			_exit(5);
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
	char dir[] = "/tmp/test-state-kill-XXXXXX";
	int devnull = open("/dev/null", O_WRONLY);
	check(mkdtemp(dir));
	es_log_set_fd(devnull);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());

	uint64_t acked = 0, fallbacks = 0, advanced = 0;
	double t0 = now_s();
	int it;
	for (it = 0; it < ITERATIONS && now_s() - t0 < TIME_LIMIT_S; it++) {
		int p[2];
		check(pipe2(p, O_CLOEXEC) == 0);
		pid_t pid = fork();
		check(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			child(dir, p[1]);
			_exit(0);
		}
		close(p[1]);
		/* 0-30 ms: from before the first save to many saves in */
		struct timespec d = { 0, (long)(rand() % 30000) * 1000L };
		nanosleep(&d, NULL);
		check(kill(pid, SIGKILL) == 0);
		int status;
		check(waitpid(pid, &status, 0) == pid);
		if (!WIFSIGNALED(status)) {
			fprintf(stderr, "child exited by itself: status %d\n", status);
			return 1;
		}
		uint64_t k, before = acked;
		while (read(p[0], &k, sizeof(k)) == sizeof(k))
			acked = k;
		close(p[0]);

		struct es_state_db *st = NULL;
		int r = es_state_load(dir, &st);
		if (r < 0) {
			fprintf(stderr, "iteration %d: state fails to load: %s\n", it, strerror(-r));
			return 1;
		}
		fallbacks += r == 1;
		uint64_t v = version_of(st);
		if (v < acked || v > acked + 1) {
			fprintf(stderr, "iteration %d: loaded version %llu, last completed save %llu\n",
				it, (unsigned long long)v, (unsigned long long)acked);
			return 1;
		}
		if (v > 0) {
			struct es_state_db *want = gen(v);
			if (!es_state_equal(st, want)) {
				fprintf(stderr, "iteration %d: loaded state is not version %llu as written\n",
					it, (unsigned long long)v);
				return 1;
			}
			es_state_free(want);
		}
		es_state_free(st);
		advanced += acked > before;
		/* the next child continues from what is on disk */
		acked = v;
	}

	test_log("%d kills in %.1f s; %llu saves completed in all; %llu kills interrupted a child that had saved; "
		"%llu loads fell back to state.prev",
		it, now_s() - t0, (unsigned long long)acked, (unsigned long long)advanced, (unsigned long long)fallbacks);
	check(it >= 50);
	check(acked > 0);

	const char *names[] = { "state", "state.prev", "state.tmp" };
	for (size_t i = 0; i < 3; i++) {
		char path[128];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	return 0;
}
