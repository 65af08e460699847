/* SPDX-License-Identifier: MIT */
/*
 * Logging: one line per event with level, threshold, and the per-key rate
 * limiter with its suppressed count.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "test.h"

static int pipe_r = -1;

static const char *drain(void)
{
	static char buf[8192];
	ssize_t n = read(pipe_r, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

int main(void)
{
	int p[2];
	check(pipe2(p, O_NONBLOCK) == 0);
	pipe_r = p[0];
	es_log_set_fd(p[1]);
	unsetenv("JOURNAL_STREAM");

	enum es_log_level lv;
	check_int_eq(es_log_level_parse("debug", &lv), 0);
	check_int_eq(lv, ES_LOG_DEBUG);
	check_int_eq(es_log_level_parse("warning", &lv), 0);
	check_int_eq(lv, ES_LOG_WARN);
	check(es_log_level_parse("loud", &lv) < 0);

	es_log_set_level(ES_LOG_INFO);
	es_log_info("listening on %s", "127.0.0.1:7700");
	const char *out = drain();
	/* 2026-11-26T17:55:53.123Z earshotd[42] info: listening on ... */
	check(strlen(out) > 25 && out[4] == '-' && out[10] == 'T' && out[23] == 'Z');
	check(strstr(out, " earshotd["));
	check(strstr(out, "] info: listening on 127.0.0.1:7700\n"));
	check_int_eq(count_lines(out), 1);

	es_log_debug("hidden");
	check(strcmp(drain(), "") == 0);
	es_log_warn("trailing newline is dropped\n");
	check_int_eq(count_lines(drain()), 1);

	/* what people chose (names) cannot drive a terminal or forge a line */
	es_log_info("%s joined", "eve\x1b[2J\xc2\x9b" "31m\nforged: line \xe2\x80\xae!");
	out = drain();
	check_int_eq(count_lines(out), 1);
	check(strstr(out, "eve\\x1b[2J\\u009b31m\\x0aforged: line \\u202e! joined\n") != NULL);
	check(strchr(out, '\x1b') == NULL && strstr(out, "\xc2\x9b") == NULL);

	/* long lines are cut, still one line */
	char big[4000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	es_log_error("%s", big);
	out = drain();
	check_int_eq(count_lines(out), 1);
	check(strlen(out) <= ES_LOG_LINE_MAX);

	/* the rate limiter: zero-initialised = 5 at once, then 1 per 2 s */
	struct es_log_ratelimit rl = { 0 };
	uint64_t t = 1000000;
	int ok = 0;
	for (int i = 0; i < 100; i++)
		ok += es_log_rl(&rl, t, ES_LOG_WARN, "peer 3: tampered packet %d", i);
	check_int_eq(ok, 5);
	check_int_eq(count_lines(drain()), 5);
	check(!es_log_ratelimit_ok(&rl, t + 1999));
	/* 96 refused so far: the next allowed line says so */
	check(es_log_rl(&rl, t + 2000, ES_LOG_WARN, "peer 3: tampered packet again"));
	out = drain();
	check(strstr(out, "peer 3: tampered packet again (96 similar suppressed)\n"));
	check_int_eq(es_log_ratelimit_take_suppressed(&rl), 0);

	/* tokens come back at the set rate, up to the burst */
	t += 2000 + 60000;
	ok = 0;
	for (int i = 0; i < 20; i++)
		ok += es_log_ratelimit_ok(&rl, t);
	check_int_eq(ok, 5);
	/* a steady trickle faster than the rate: one per interval gets through */
	ok = 0;
	for (int i = 1; i <= 100; i++)
		ok += es_log_ratelimit_ok(&rl, t + (uint64_t)i * 500);
	check_int_eq(ok, 25);

	struct es_log_ratelimit custom;
	es_log_ratelimit_init(&custom, 1, 100);
	check(es_log_ratelimit_ok(&custom, 5));
	check(!es_log_ratelimit_ok(&custom, 50));
	check(es_log_ratelimit_ok(&custom, 105));
	/* a clock that goes back does not hand out tokens */
	check(!es_log_ratelimit_ok(&custom, 0));
	check_int_eq(es_log_ratelimit_take_suppressed(&custom), 2);

	es_log_set_fd(2);
	return 0;
}
