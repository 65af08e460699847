/* SPDX-License-Identifier: MIT */
/*
 * Metrics: the HTTP server on a free loopback port, every metric with HELP
 * and TYPE, and values that move after a new snapshot is published.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "earshot-proto.h"
#include "log.h"
#include "metrics.h"
#include "test.h"

/* GET path from 127.0.0.1:port; returns the whole response (malloc'd). */
static char *http_get(uint16_t port, const char *path)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	check(fd >= 0);
	struct timeval tv = { 5, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	check(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	char req[256];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);
	check(write(fd, req, (size_t)n) == n);
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (len + 1 >= cap)
			buf = realloc(buf, cap *= 2);
		ssize_t r = read(fd, buf + len, cap - len - 1);
		check(r >= 0);
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	close(fd);
	return buf;
}

/* The value of the sample line that starts with `series` followed by a space. */
static double value_of(const char *text, const char *series)
{
	size_t sl = strlen(series);
	for (const char *p = text; (p = strstr(p, series)); p += sl) {
		if ((p == text || p[-1] == '\n') && p[sl] == ' ')
			return strtod(p + sl + 1, NULL);
	}
	fprintf(stderr, "series %s not found\n", series);
	exit(1);
}

int main(void)
{
	struct es_addr addr;
	struct es_metrics_snapshot s = { 0 };
	char line[256];

	check_int_eq(es_addr_parse("127.0.0.1:0", &addr), 0);
	struct es_metrics *m = es_metrics_start(&addr);
	check(m);
	uint16_t port = es_metrics_port(m);
	check(port != 0);

	/* a second server on the same port fails cleanly */
	struct es_addr same;
	snprintf(line, sizeof(line), "127.0.0.1:%u", port);
	check_int_eq(es_addr_parse(line, &same), 0);
	int devnull = open("/dev/null", O_WRONLY);
	es_log_set_fd(devnull);
	errno = 0;
	check(es_metrics_start(&same) == NULL);
	es_log_set_fd(2);

	char *resp = http_get(port, "/metrics");
	check(strncmp(resp, "HTTP/1.1 200", 12) == 0);
	check(strstr(resp, "text/plain; version=0.0.4"));
	for (const char *const *name = es_metrics_names; *name; name++) {
		snprintf(line, sizeof(line), "# HELP %s ", *name);
		if (!strstr(resp, line)) {
			fprintf(stderr, "missing: %s\n", line);
			return 1;
		}
		snprintf(line, sizeof(line), "# TYPE %s ", *name);
		check(strstr(resp, line));
	}
	static const char *const reasons[] = { "malformed", "unknown_type", "tampered", "replayed", "stale",
		"unauthenticated", "rate_limited", "cookie", "oversize", "late" };
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		snprintf(line, sizeof(line), "earshot_packets_dropped_total{reason=\"%s\"}", reasons[i]);
		check_near(value_of(resp, line), 0, 0);
	}
	check_near(value_of(resp, "earshot_plans{kind=\"silent\"}"), 0, 0);
	check_near(value_of(resp, "earshot_plans{kind=\"forward\"}"), 0, 0);
	check_near(value_of(resp, "earshot_plans{kind=\"mix\"}"), 0, 0);
	check_near(value_of(resp, "earshot_people_connected"), 0, 0);
	check_near(value_of(resp, "earshot_tick_duration_seconds_count"), 0, 0);
	free(resp);

	/* change everything, publish, and see each value move */
	s.people_connected = 42;
	s.people_talking = 5;
	s.people_muted = 7;
	for (int i = 0; i < 100; i++)
		es_metrics_observe_tick(&s, 0.003);
	es_metrics_observe_tick(&s, 0.5); /* beyond the last bucket */
	s.ticks_late_total = 1;
	s.packets_in_total = 1000;
	s.packets_out_total = 900;
	s.bytes_in_total = 123456;
	s.bytes_out_total = 654321;
	s.packets_dropped_total[ES_DROP_TAMPERED] = 3;
	s.packets_dropped_total[ES_DROP_LATE] = 4;
	s.handshakes_total = 40;
	s.handshake_failures_total[ES_HS_FAIL_REPLAYED] = 2;
	s.admissions_refused_total = 11;
	s.plans[ES_PLAN_SILENT] = 30;
	s.plans[ES_PLAN_FORWARD] = 8;
	s.plans[ES_PLAN_MIX] = 4;
	s.encodes_per_tick = 3;
	s.degradation_level = 2;
	s.people_enrolled = 30;
	s.invites_pending = 4;
	es_metrics_publish(m, &s);

	resp = http_get(port, "/metrics");
	check_near(value_of(resp, "earshot_people_connected"), 42, 0);
	check_near(value_of(resp, "earshot_people_talking"), 5, 0);
	check_near(value_of(resp, "earshot_people_muted"), 7, 0);
	check_near(value_of(resp, "earshot_people_enrolled"), 30, 0);
	check_near(value_of(resp, "earshot_invites_pending"), 4, 0);
	{
		char bi[128];
		snprintf(bi, sizeof(bi), "earshot_build_info{version=\"%s\",protocol=\"%d\"}", EARSHOT_VERSION,
			 ES_PROTO_VERSION);
		check_near(value_of(resp, bi), 1, 0);
	}
	check_near(value_of(resp, "earshot_ticks_total"), 101, 0);
	check_near(value_of(resp, "earshot_ticks_late_total"), 1, 0);
	check_near(value_of(resp, "earshot_tick_duration_seconds_bucket{le=\"0.002\"}"), 0, 0);
	check_near(value_of(resp, "earshot_tick_duration_seconds_bucket{le=\"0.005\"}"), 100, 0);
	check_near(value_of(resp, "earshot_tick_duration_seconds_bucket{le=\"0.25\"}"), 100, 0);
	check_near(value_of(resp, "earshot_tick_duration_seconds_bucket{le=\"+Inf\"}"), 101, 0);
	check_near(value_of(resp, "earshot_tick_duration_seconds_count"), 101, 0);
	check_near(value_of(resp, "earshot_tick_duration_seconds_sum"), 0.8, 1e-9);
	check_near(value_of(resp, "earshot_packets_in_total"), 1000, 0);
	check_near(value_of(resp, "earshot_packets_out_total"), 900, 0);
	check_near(value_of(resp, "earshot_bytes_in_total"), 123456, 0);
	check_near(value_of(resp, "earshot_bytes_out_total"), 654321, 0);
	check_near(value_of(resp, "earshot_packets_dropped_total{reason=\"tampered\"}"), 3, 0);
	check_near(value_of(resp, "earshot_packets_dropped_total{reason=\"late\"}"), 4, 0);
	check_near(value_of(resp, "earshot_packets_dropped_total{reason=\"cookie\"}"), 0, 0);
	check_near(value_of(resp, "earshot_handshakes_total"), 40, 0);
	check_near(value_of(resp, "earshot_handshake_failures_total{reason=\"replayed\"}"), 2, 0);
	check_near(value_of(resp, "earshot_admissions_refused_total"), 11, 0);
	check_near(value_of(resp, "earshot_plans{kind=\"silent\"}"), 30, 0);
	check_near(value_of(resp, "earshot_plans{kind=\"forward\"}"), 8, 0);
	check_near(value_of(resp, "earshot_plans{kind=\"mix\"}"), 4, 0);
	check_near(value_of(resp, "earshot_encodes_per_tick"), 3, 0);
	check_near(value_of(resp, "earshot_degradation_level"), 2, 0);
	free(resp);

	resp = http_get(port, "/nothing");
	check(strncmp(resp, "HTTP/1.1 404", 12) == 0);
	free(resp);

	/* a cut buffer reports the length it needs */
	char small[64];
	size_t need = es_metrics_format(&s, small, sizeof(small));
	check(need > sizeof(small));
	check_int_eq(strlen(small), sizeof(small) - 1);
	char *big = malloc(need + 1);
	check_int_eq(es_metrics_format(&s, big, need + 1), need);
	check_int_eq(strlen(big), need);
	free(big);

	es_metrics_stop(m);
	es_metrics_stop(NULL);

	/* off means off: an empty address is refused */
	struct es_addr off;
	check_int_eq(es_addr_parse("", &off), 0);
	check(es_metrics_start(&off) == NULL);

	/* IPv6 loopback, if the machine has it */
	check_int_eq(es_addr_parse("[::1]:0", &addr), 0);
	es_log_set_fd(devnull);
	m = es_metrics_start(&addr);
	es_log_set_fd(2);
	if (m) {
		check(es_metrics_port(m) != 0);
		es_metrics_stop(m);
	}
	return 0;
}
