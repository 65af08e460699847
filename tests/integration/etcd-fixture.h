/* SPDX-License-Identifier: MIT */
/*
 * The C side of tests/integration/etcdlib.py: a test program run by
 * `etcdlib.py PROGRAM` finds the cluster's endpoints in ES_ETCD_ENDPOINTS
 * and asks for faults by printing "@kill 0", "@start 0", "@stop-all",
 * "@start-all" on stdout; the fixture does it and answers one line on
 * stdin.  Without the fixture (no ES_ETCD_ENDPOINTS) the program skips.
 */
#ifndef EARSHOT_ETCD_FIXTURE_H
#define EARSHOT_ETCD_FIXTURE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "test.h"

static inline const char *fixture_endpoints(void)
{
	const char *ep = getenv("ES_ETCD_ENDPOINTS");
	if (!ep || !*ep) {
		fprintf(stderr, "no ES_ETCD_ENDPOINTS: run me through tests/integration/etcdlib.py; skipping\n");
		exit(EXIT_TEST_SKIP);
	}
	return ep;
}

/* Ask the fixture to do something; returns after it is done, with the
 * reply's words after "ok" in out (if not NULL). */
__attribute__((format(printf, 3, 4)))
static inline void fixture_ask(char *out, size_t cap, const char *fmt, ...)
{
	char cmd[256], reply[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int64_t t0 = es_now_ms();
	printf("@%s\n", cmd);
	fflush(stdout);
	if (!fgets(reply, sizeof(reply), stdin)) {
		fprintf(stderr, "fixture: no answer to '%s'\n", cmd);
		exit(1);
	}
	if (strncmp(reply, "ok", 2) != 0) {
		fprintf(stderr, "fixture: '%s' failed: %s", cmd, reply);
		exit(1);
	}
	test_log("fixture: %s done in %lld ms", cmd, (long long)(es_now_ms() - t0));
	if (out && cap) {
		const char *w = reply[2] == ' ' ? reply + 3 : "";
		size_t n = strcspn(w, "\n");
		if (n >= cap)
			n = cap - 1;
		memcpy(out, w, n);
		out[n] = 0;
	}
}

#define fixture_do(...) fixture_ask(NULL, 0, __VA_ARGS__)

#endif
