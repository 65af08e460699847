/* SPDX-License-Identifier: MIT */
/*
 * What etcd costs a company of daemons (docs/CLUSTER.md, docs/BENCHMARKS.md):
 *   1. at rest: one daemon hosting N floors, nobody moving, over a window:
 *      its etcd calls and writes a second, and the Raft proposals etcd
 *      commits a second (server side, from the members' /metrics);
 *   2. at rest with people walking: P seats changing every 10 s;
 *   3. a batch of seats: S seats through the module (transactions of 127,
 *      fenced) against the same S seats as single puts, in the same run;
 *   4. claiming: the time one daemon takes to own N free floors.
 * Run against a fresh cluster:
 *   python3 tests/integration/etcdlib.py build/bench/bench-etcd [--window 10] [--floors 1,10,100]
 * Prints lines and, last, one JSON object.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "cluster.h"
#include "etcd.h"
#include "log.h"

static const char *endpoints;

struct body {
	char *p;
	size_t len;
};

static size_t collect(char *ptr, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	char *p = realloc(b->p, b->len + size * n + 1);
	if (!p)
		return 0;
	memcpy(p + b->len, ptr, size * n);
	b->p = p;
	b->len += size * n;
	b->p[b->len] = 0;
	return size * n;
}

/* A counter summed over its label sets, on one member (-1 if it cannot be read). */
static double metric_at(const char *url, const char *name)
{
	char u[512];
	snprintf(u, sizeof(u), "%s/metrics", url);
	CURL *c = curl_easy_init();
	struct body b = { 0 };
	curl_easy_setopt(c, CURLOPT_URL, u);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	double v = -1;
	if (curl_easy_perform(c) == CURLE_OK && b.p) {
		size_t nl = strlen(name);
		v = 0;
		char *save = NULL;
		for (char *line = strtok_r(b.p, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			if (strncmp(line, name, nl) == 0 && (line[nl] == ' ' || line[nl] == '{')) {
				char *sp = strrchr(line, ' ');
				v += sp ? strtod(sp + 1, NULL) : 0;
			}
		}
	}
	free(b.p);
	curl_easy_cleanup(c);
	return v;
}

/* The largest value over the members (the leader's counters lead). */
static double metric(const char *name)
{
	char *list = strdup(endpoints), *save = NULL;
	double best = -1;
	for (char *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
		double v = metric_at(u, name);
		if (v > best)
			best = v;
	}
	free(list);
	return best;
}

struct server {
	double proposals, puts, txns;
};

static struct server server_now(void)
{
	return (struct server){
		metric("etcd_server_proposals_committed_total"),
		metric("etcd_mvcc_put_total"),
		metric("etcd_mvcc_txn_total"),
	};
}

static void pump(struct es_cluster *c)
{
	struct es_cluster_event ev[64];
	while (es_cluster_poll(c, ev, 64) > 0) {
	}
}

static struct es_cluster_stats st(struct es_cluster *c)
{
	struct es_cluster_stats s;
	es_cluster_get_stats(c, &s);
	return s;
}

static struct es_cluster *daemon_with(const char *company, unsigned nfloors, char ***names_out)
{
	char **names = calloc(nfloors, sizeof(char *));
	for (unsigned i = 0; i < nfloors; i++) {
		names[i] = malloc(16);
		snprintf(names[i], 16, "floor%03u", i);
	}
	struct es_cluster_config cfg = {
		.endpoints = endpoints, .company = company, .daemon_id = "d1", .address = "127.0.0.1:7700",
		.capacity = 4000, .floors = (const char *const *)names, .n_floors = nfloors,
	};
	struct es_cluster *c = es_cluster_new(&cfg);
	if (!c) {
		fprintf(stderr, "bench-etcd: es_cluster_new: %s\n", strerror(errno));
		exit(1);
	}
	*names_out = names;
	return c;
}

static void free_names(char **names, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static bool wait_hosted(struct es_cluster *c, unsigned n, int ms)
{
	int64_t end = es_now_ms() + ms;
	while (es_now_ms() < end) {
		pump(c);
		if (st(c).floors_hosted >= n)
			return true;
		usleep(5000);
	}
	return false;
}

int main(int argc, char **argv)
{
	double window = 10;
	char floors_arg[128] = "1,10,100";
	unsigned seats_n = 1000, walkers = 1000;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--window") && i + 1 < argc)
			window = atof(argv[++i]);
		else if (!strcmp(argv[i], "--floors") && i + 1 < argc)
			snprintf(floors_arg, sizeof(floors_arg), "%s", argv[++i]);
		else if (!strcmp(argv[i], "--seats") && i + 1 < argc)
			seats_n = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--walkers") && i + 1 < argc)
			walkers = (unsigned)atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: bench-etcd [--window S] [--floors 1,10,100] [--seats N] [--walkers N]\n");
			return 2;
		}
	}
	endpoints = getenv("ES_ETCD_ENDPOINTS");
	if (!endpoints) {
		fprintf(stderr, "bench-etcd: no ES_ETCD_ENDPOINTS (run it through tests/integration/etcdlib.py)\n");
		return 77;
	}
	if (es_etcd_global_init() < 0)
		return 1;
	es_log_set_level(ES_LOG_WARN);
	char json[4096];
	size_t jl = (size_t)snprintf(json, sizeof(json), "{\"window_s\":%.1f,\"rest\":[", window);

	/* 1. at rest */
	double rest_base = -1, rest_last = 0;
	char list[128];
	snprintf(list, sizeof(list), "%s", floors_arg);
	bool first = true;
	char *lsave = NULL;
	for (char *tok = strtok_r(list, ",", &lsave); tok; tok = strtok_r(NULL, ",", &lsave)) {
		unsigned n = (unsigned)atoi(tok);
		char company[32], **names;
		snprintf(company, sizeof(company), "rest%u", n);
		int64_t t0 = es_now_ms();
		struct es_cluster *c = daemon_with(company, n, &names);
		if (!wait_hosted(c, n, 30000)) {
			fprintf(stderr, "bench-etcd: %u floors not hosted in 30 s\n", n);
			return 1;
		}
		int64_t claimed_ms = es_now_ms() - t0;
		struct es_cluster_stats s0 = st(c);
		usleep(3000000); /* past load_publish_ms: the registration's floor count is written */
		s0 = st(c);
		struct server v0 = server_now();
		int64_t w0 = es_now_ms();
		while (es_now_ms() - w0 < (int64_t)(window * 1000)) {
			pump(c);
			usleep(50000);
		}
		double secs = (double)(es_now_ms() - w0) / 1000.0;
		struct server v1 = server_now();
		struct es_cluster_stats s1 = st(c);
		double calls = (double)(s1.etcd_calls - s0.etcd_calls) / secs;
		double writes = (double)(s1.etcd_writes - s0.etcd_writes) / secs;
		double props = (v1.proposals - v0.proposals) / secs;
		if (rest_base < 0)
			rest_base = calls;
		rest_last = calls;
		printf("at rest, %3u floors: claimed in %lld ms (%llu claims); over %.1f s: %.2f calls/s (%.2f keepalives/s), "
			"%.2f writes/s; etcd committed %.2f proposals/s, %.2f puts/s, %.2f txns/s\n",
			n, (long long)claimed_ms, (unsigned long long)s1.claims, secs, calls,
			(double)(s1.keepalives - s0.keepalives) / secs, writes, props, (v1.puts - v0.puts) / secs,
			(v1.txns - v0.txns) / secs);
		jl += (size_t)snprintf(json + jl, sizeof(json) - jl,
			"%s{\"floors\":%u,\"claim_ms\":%lld,\"calls_s\":%.3f,\"writes_s\":%.3f,\"proposals_s\":%.3f}",
			first ? "" : ",", n, (long long)claimed_ms, calls, writes, props);
		first = false;
		es_cluster_free(c);
		free_names(names, n);
	}

	/* 2. people walking: each of `walkers` people moves once every 10 s */
	{
		char **names;
		struct es_cluster *c = daemon_with("walk", 1, &names);
		if (!wait_hosted(c, 1, 30000))
			return 1;
		usleep(1000000);
		struct es_cluster_stats s0 = st(c);
		struct server v0 = server_now();
		int64_t w0 = es_now_ms();
		unsigned moved = 0;
		while (es_now_ms() - w0 < (int64_t)(window * 1000)) {
			/* walkers / 10 people a second, in 20 ms steps as the tick would */
			double due = (double)(es_now_ms() - w0) / 1000.0 * walkers / 10.0;
			while (moved < due) {
				uint8_t key[32] = { (uint8_t)(moved % walkers), (uint8_t)((moved % walkers) >> 8) };
				if (es_cluster_seat(c, "floor000", key, (float)(moved % 50), 1.0f, 0.0f) < 0)
					return 1;
				moved++;
			}
			pump(c);
			usleep(20000);
		}
		double secs = (double)(es_now_ms() - w0) / 1000.0;
		struct server v1 = server_now();
		struct es_cluster_stats s1 = st(c);
		double props = (v1.proposals - v0.proposals) / secs;
		printf("walking, %u people each moving every 10 s: %.1f seat changes/s -> %.2f seat transactions/s, "
			"%.2f calls/s; etcd committed %.2f proposals/s\n", walkers, moved / secs,
			(double)(s1.seat_batches - s0.seat_batches) / secs, (double)(s1.etcd_calls - s0.etcd_calls) / secs, props);
		jl += (size_t)snprintf(json + jl, sizeof(json) - jl, "],\"walk\":{\"people\":%u,\"seat_changes_s\":%.2f,"
			"\"seat_txns_s\":%.3f,\"proposals_s\":%.3f},", walkers, moved / secs,
			(double)(s1.seat_batches - s0.seat_batches) / secs, props);
		es_cluster_free(c);
		free_names(names, 1);
	}

	/* 3. a batch of seats through the module, against single puts */
	{
		char **names;
		struct es_cluster *c = daemon_with("batch", 1, &names);
		if (!wait_hosted(c, 1, 30000))
			return 1;
		usleep(1200000); /* past a flush: the batch starts clean */
		struct es_cluster_stats s0 = st(c);
		struct server v0 = server_now();
		int64_t t0 = es_now_ns();
		for (unsigned i = 0; i < seats_n; i++) {
			uint8_t key[32] = { (uint8_t)i, (uint8_t)(i >> 8), 1 };
			if (es_cluster_seat(c, "floor000", key, (float)i, 2.0f, 0.0f) < 0)
				return 1;
		}
		int64_t queued_ns = es_now_ns() - t0;
		while (st(c).seats_written - s0.seats_written < seats_n) {
			pump(c);
			usleep(1000);
		}
		struct es_cluster_stats s1 = st(c);
		struct server v1 = server_now();
		/* from the first transaction to the last: the flush itself, not the wait for its interval */
		double batch_props = v1.proposals - v0.proposals;
		uint64_t txns = s1.seat_batches - s0.seat_batches;

		struct es_etcd *e = es_etcd_new(endpoints, 2000);
		char key[160];
		/* time the module's write path alone: the same seats again, as a forced flush would send them */
		struct server p0 = server_now();
		int64_t b0 = es_now_ns();
		for (unsigned i = 0; i < seats_n; i++) {
			snprintf(key, sizeof(key), "/earshot/batch/seats/floor000/single%05u", i);
			if (es_etcd_put(e, key, "1.00 2.00 0.000 0", 17, 0, NULL) < 0)
				return 1;
		}
		double single_ms = (double)(es_now_ns() - b0) / 1e6;
		struct server p1 = server_now();
		double single_props = p1.proposals - p0.proposals;
		/* the same number of seats as transactions of 127 puts, timed the same way */
		struct es_etcd_op ops[127];
		char keys[127][160];
		int64_t x0 = es_now_ns();
		for (unsigned i = 0; i < seats_n;) {
			unsigned m = 0;
			for (; m < 127 && i + m < seats_n; m++) {
				snprintf(keys[m], sizeof(keys[m]), "/earshot/batch/seats/floor000/txn%05u", i + m);
				ops[m] = (struct es_etcd_op){ .type = ES_ETCD_OP_PUT, .key = keys[m], .value = "1.00 2.00 0.000 0", .value_len = 17 };
			}
			struct es_etcd_txn t = { .success = ops, .n_success = m };
			if (es_etcd_txn(e, &t, NULL) != 1)
				return 1;
			i += m;
		}
		double txn_ms = (double)(es_now_ns() - x0) / 1e6;
		es_etcd_free(e);
		printf("seats, a batch of %u: queued in %.2f ms on the caller's thread; written in %llu transactions, "
			"%.0f proposals\n", seats_n, (double)queued_ns / 1e6, (unsigned long long)txns, batch_props);
		printf("seats, %u as single puts: %.1f ms, %.0f proposals; as transactions of 127: %.1f ms; ratio %.3f "
			"(time), %.3f (proposals)\n", seats_n, single_ms, single_props, txn_ms, txn_ms / single_ms,
			batch_props / (single_props > 0 ? single_props : 1));
		jl += (size_t)snprintf(json + jl, sizeof(json) - jl, "\"seats\":{\"n\":%u,\"queue_ms\":%.3f,\"txns\":%llu,"
			"\"proposals\":%.0f,\"single_ms\":%.1f,\"single_proposals\":%.0f,\"txn_ms\":%.1f,\"ratio_time\":%.4f},",
			seats_n, (double)queued_ns / 1e6, (unsigned long long)txns, batch_props, single_ms, single_props,
			txn_ms, txn_ms / single_ms);
		es_cluster_free(c);
		free_names(names, 1);
	}
	/* the ratio that matters at rest: calls a second with the most floors over the fewest */
	printf("at rest: calls/s with the most floors / with the fewest = %.3f\n", rest_base > 0 ? rest_last / rest_base : 0);
	jl += (size_t)snprintf(json + jl, sizeof(json) - jl, "\"rest_calls_ratio\":%.3f}", rest_base > 0 ? rest_last / rest_base : 0);
	printf("%s\n", json);
	return 0;
}
