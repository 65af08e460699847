/* SPDX-License-Identifier: MIT */
/*
 * Earshot daemon logging: one line per event on stderr, with a level, and a
 * per-key rate limiter for warnings that a single peer can trigger at will
 * (malformed packets, failed handshakes): a misbehaving client must not be
 * able to turn the log into the bottleneck of the tick loop.
 *
 * Lines look like
 *   2026-11-26T17:55:53.123Z earshotd[4242] warn: peer 3: tampered packet
 * When stderr is connected to the journal ($JOURNAL_STREAM), the timestamp
 * and name are left out and a "<N>" syslog priority prefix is written
 * instead, so journald records the level and its own timestamp.
 *
 * Each line is formatted into a stack buffer (no malloc) and written with a
 * single write(2), so lines from several threads do not interleave.  Lines
 * longer than ES_LOG_LINE_MAX are truncated.
 */
#ifndef EARSHOT_LOG_H
#define EARSHOT_LOG_H

#include <stdbool.h>
#include <stdint.h>

#define ES_LOG_LINE_MAX 1024

enum es_log_level {
	ES_LOG_ERROR = 0,
	ES_LOG_WARN = 1,
	ES_LOG_INFO = 2,
	ES_LOG_DEBUG = 3,
};

/* Only events at `level` or more severe are written.  Default: ES_LOG_INFO. */
void es_log_set_level(enum es_log_level level);
enum es_log_level es_log_get_level(void);

/* Write to `fd` instead of 2 (tests).  The fd stays owned by the caller. */
void es_log_set_fd(int fd);

/* "error", "warn", "info", "debug" -> level.  0, or -EINVAL if unknown. */
__attribute__((warn_unused_result))
int es_log_level_parse(const char *name, enum es_log_level *level);
const char *es_log_level_name(enum es_log_level level);

/* Log one event.  A trailing newline in fmt is not needed (and is dropped). */
__attribute__((format(printf, 2, 3)))
void es_log(enum es_log_level level, const char *fmt, ...);

#define es_log_error(...) es_log(ES_LOG_ERROR, __VA_ARGS__)
#define es_log_warn(...)  es_log(ES_LOG_WARN, __VA_ARGS__)
#define es_log_info(...)  es_log(ES_LOG_INFO, __VA_ARGS__)
#define es_log_debug(...) es_log(ES_LOG_DEBUG, __VA_ARGS__)

/*
 * Token bucket for one key (one peer, one source address).  Caller-owned
 * storage, e.g. inside the per-peer struct.  An all-zero bucket is valid and
 * uses the defaults (burst ES_LOG_RL_BURST, one token every
 * ES_LOG_RL_INTERVAL_MS), so per-peer buckets need no init call; use
 * es_log_ratelimit_init() for other rates.
 */
#define ES_LOG_RL_BURST 5
#define ES_LOG_RL_INTERVAL_MS 2000

struct es_log_ratelimit {
	uint64_t last_ms;     /* time of the last refill */
	uint32_t tokens;
	uint32_t burst;       /* 0 = defaults, bucket not yet primed */
	uint32_t interval_ms;
	uint32_t suppressed;  /* events refused since the last allowed one */
};

void es_log_ratelimit_init(struct es_log_ratelimit *rl, uint32_t burst, uint32_t interval_ms);

/*
 * true if an event at now_ms (any monotonic millisecond clock) may be logged;
 * false (and the suppressed count goes up) if the bucket is empty.  No
 * syscalls, no allocation: safe on the tick path.
 */
bool es_log_ratelimit_ok(struct es_log_ratelimit *rl, uint64_t now_ms);

/* The number of events refused since the last call; resets it to 0. */
uint32_t es_log_ratelimit_take_suppressed(struct es_log_ratelimit *rl);

/*
 * Rate-limited log: if the bucket allows it, writes the line, followed by
 * " (N similar suppressed)" when earlier events were refused.  Returns true
 * if the line was written (or would have been, below the level threshold).
 */
__attribute__((format(printf, 4, 5)))
bool es_log_rl(struct es_log_ratelimit *rl, uint64_t now_ms, enum es_log_level level, const char *fmt, ...);

#endif
