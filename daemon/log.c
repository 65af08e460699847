/* SPDX-License-Identifier: MIT */
#include "log.h"

#include "earshot-proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = ES_LOG_INFO;
static atomic_int log_fd = 2;
/* -1 unknown, 0 plain stderr, 1 journal: decided on the first line. */
static atomic_int log_journal = -1;

static const char *const level_names[] = {
	[ES_LOG_ERROR] = "error",
	[ES_LOG_WARN] = "warn",
	[ES_LOG_INFO] = "info",
	[ES_LOG_DEBUG] = "debug",
};

/* syslog priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */
static const int level_prio[] = { 3, 4, 6, 7 };

void es_log_set_level(enum es_log_level level)
{
	if (level > ES_LOG_DEBUG)
		level = ES_LOG_DEBUG;
	atomic_store(&log_level, (int)level);
}

enum es_log_level es_log_get_level(void)
{
	return (enum es_log_level)atomic_load(&log_level);
}

void es_log_set_fd(int fd)
{
	atomic_store(&log_fd, fd);
	atomic_store(&log_journal, fd == 2 ? -1 : 0);
}

int es_log_level_parse(const char *name, enum es_log_level *level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level = (enum es_log_level)i;
			return 0;
		}
	}
	if (strcmp(name, "warning") == 0) {
		*level = ES_LOG_WARN;
		return 0;
	}
	return -EINVAL;
}

const char *es_log_level_name(enum es_log_level level)
{
	if ((unsigned)level > ES_LOG_DEBUG)
		return "?";
	return level_names[level];
}

/*
 * systemd sets JOURNAL_STREAM=dev:ino for a service whose stderr is the
 * journal; it is only ours if fd 2 still is that stream (a child that
 * inherited the variable may have redirected stderr).
 */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(2, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static void log_write(enum es_log_level level, const char *suffix, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void log_write(enum es_log_level level, const char *suffix, const char *fmt, va_list ap)
{
	char line[ES_LOG_LINE_MAX];
	size_t n = 0;
	int journal = atomic_load(&log_journal);

	if (journal < 0) {
		journal = stderr_is_journal() ? 1 : 0;
		atomic_store(&log_journal, journal);
	}

	if (journal) {
		n = (size_t)snprintf(line, sizeof(line), "<%d>%s: ", level_prio[level], level_names[level]);
	} else {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ earshotd[%ld] %s: ",
			ts.tv_nsec / 1000000L, (long)getpid(), level_names[level]);
	}
	if (n < sizeof(line)) {
		/*
		 * The message carries what people and the network chose (names,
		 * addresses an admin typed, room names): written escaped, so no
		 * line can hold a terminal control sequence or a forged line
		 * break (proto/name.c).
		 */
		char msg[ES_LOG_LINE_MAX];
		int r = vsnprintf(msg, sizeof(msg), fmt, ap);
		size_t ml = r < 0 ? 0 : (size_t)r < sizeof(msg) ? (size_t)r : sizeof(msg) - 1;
		while (ml > 0 && msg[ml - 1] == '\n')
			ml--;
		n += es_text_escape(msg, ml, line + n, sizeof(line) - n);
	}
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	if (suffix) {
		size_t sl = strlen(suffix);
		if (sl > sizeof(line) - 2 - n)
			sl = sizeof(line) - 2 - n;
		memcpy(line + n, suffix, sl);
		n += sl;
	}
	line[n++] = '\n';

	int fd = atomic_load(&log_fd);
	const char *p = line;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return; /* nowhere left to report it */
		}
		p += w;
		n -= (size_t)w;
	}
}

void es_log(enum es_log_level level, const char *fmt, ...)
{
	va_list ap;
	if ((unsigned)level > ES_LOG_DEBUG || (int)level > atomic_load(&log_level))
		return;
	va_start(ap, fmt);
	log_write(level, NULL, fmt, ap);
	va_end(ap);
}

void es_log_ratelimit_init(struct es_log_ratelimit *rl, uint32_t burst, uint32_t interval_ms)
{
	memset(rl, 0, sizeof(*rl));
	rl->burst = burst ? burst : 1;
	rl->interval_ms = interval_ms ? interval_ms : 1;
	rl->tokens = rl->burst;
}

bool es_log_ratelimit_ok(struct es_log_ratelimit *rl, uint64_t now_ms)
{
	if (rl->burst == 0) {
		rl->burst = ES_LOG_RL_BURST;
		rl->interval_ms = ES_LOG_RL_INTERVAL_MS;
		rl->tokens = rl->burst;
		rl->last_ms = now_ms;
	}
	if (now_ms < rl->last_ms)
		rl->last_ms = now_ms; /* clock went back: restart the interval */
	uint64_t add = (now_ms - rl->last_ms) / rl->interval_ms;
	if (add > 0) {
		uint64_t t = (uint64_t)rl->tokens + add;
		rl->tokens = t > rl->burst ? rl->burst : (uint32_t)t;
		/* keep the remainder, so a steady trickle still earns tokens */
		rl->last_ms += add * rl->interval_ms;
	}
	if (rl->tokens > 0) {
		rl->tokens--;
		return true;
	}
	if (rl->suppressed < UINT32_MAX)
		rl->suppressed++;
	return false;
}

uint32_t es_log_ratelimit_take_suppressed(struct es_log_ratelimit *rl)
{
	uint32_t n = rl->suppressed;
	rl->suppressed = 0;
	return n;
}

bool es_log_rl(struct es_log_ratelimit *rl, uint64_t now_ms, enum es_log_level level, const char *fmt, ...)
{
	char suffix[48];
	va_list ap;

	if (!es_log_ratelimit_ok(rl, now_ms))
		return false;
	if ((unsigned)level > ES_LOG_DEBUG || (int)level > atomic_load(&log_level))
		return true;
	uint32_t s = es_log_ratelimit_take_suppressed(rl);
	if (s > 0)
		snprintf(suffix, sizeof(suffix), " (%u similar suppressed)", s);
	va_start(ap, fmt);
	log_write(level, s > 0 ? suffix : NULL, fmt, ap);
	va_end(ap);
	return true;
}
