/* SPDX-License-Identifier: MIT */
/*
 * The etcd client (daemon/cluster/etcd.h) against a real 3-member cluster
 * (run by tests/integration/etcdlib.py): every call, failover past a dead
 * and a silent endpoint, a hostile gateway, the leader killed mid-traffic
 * without a failed call, and all of etcd down: calls fail fast, the watch says so, and both
 * resume when etcd is back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "etcd-fixture.h"
#include "etcd.h"

static char prefix[64];

static const char *K(const char *suffix)
{
	static char buf[8][256];
	static unsigned i;
	char *b = buf[i++ % 8];
	snprintf(b, 256, "%s%s", prefix, suffix);
	return b;
}

/* ---- a watch that records what it is told -------------------------------- */

struct seen {
	pthread_mutex_t lock;
	unsigned snapshots, ups, downs;
	int last_down_err;
	unsigned puts, deletes;
	unsigned snapshot_keys;
	int64_t last_rev;
	bool out_of_order;
	char last_key[256];
};

static void on_watch(void *arg, enum es_etcd_watch_status st, int err, const struct es_etcd_event *ev,
	size_t n, int64_t rev)
{
	struct seen *s = arg;
	pthread_mutex_lock(&s->lock);
	switch (st) {
	case ES_ETCD_WATCH_SNAPSHOT:
		s->snapshots++;
		s->snapshot_keys = (unsigned)n;
		s->last_rev = rev;
		break;
	case ES_ETCD_WATCH_EVENTS:
		for (size_t i = 0; i < n; i++) {
			if (ev[i].kv.mod_rev <= s->last_rev)
				s->out_of_order = true; /* a duplicate or a step back */
			s->last_rev = ev[i].kv.mod_rev;
			if (ev[i].type == ES_ETCD_EV_PUT)
				s->puts++;
			else
				s->deletes++;
			snprintf(s->last_key, sizeof(s->last_key), "%s", ev[i].kv.key);
		}
		break;
	case ES_ETCD_WATCH_UP:
		s->ups++;
		break;
	case ES_ETCD_WATCH_DOWN:
		s->downs++;
		s->last_down_err = err;
		break;
	}
	pthread_mutex_unlock(&s->lock);
}

static unsigned seen_get(struct seen *s, unsigned *field)
{
	pthread_mutex_lock(&s->lock);
	unsigned v = *field;
	pthread_mutex_unlock(&s->lock);
	return v;
}

/* Wait until *field >= want (the event, not a sleep), up to ms. */
static bool seen_wait(struct seen *s, unsigned *field, unsigned want, int ms)
{
	int64_t end = es_now_ms() + ms;
	while (es_now_ms() < end) {
		if (seen_get(s, field) >= want)
			return true;
		usleep(5000);
	}
	return seen_get(s, field) >= want;
}

/* ---- the calls ----------------------------------------------------------- */

static void test_kv(struct es_etcd *e)
{
	int64_t rev1 = 0, rev2 = 0;
	check_int_eq(es_etcd_put(e, K("kv/a"), "one", 3, 0, &rev1), 0);
	check(rev1 > 0);
	const uint8_t bin[5] = { 0, 0xff, 'x', 0, 7 };
	check_int_eq(es_etcd_put(e, K("kv/b"), bin, sizeof(bin), 0, &rev2), 0);
	check(rev2 > rev1);
	check_int_eq(es_etcd_put(e, K("kv0"), "outside", 7, 0, NULL), 0); /* not under "kv/" */

	struct es_etcd_range r;
	check_int_eq(es_etcd_get(e, K("kv/a"), false, 0, 0, &r), 1);
	check(strcmp(r.kvs[0].key, K("kv/a")) == 0);
	check(r.kvs[0].value_len == 3 && memcmp(r.kvs[0].value, "one", 3) == 0);
	check_int_eq(r.kvs[0].create_rev, rev1);
	check_int_eq(r.kvs[0].version, 1);
	es_etcd_range_clear(&r);

	check_int_eq(es_etcd_get(e, K("kv/b"), false, 0, 0, &r), 1);
	check(r.kvs[0].value_len == sizeof(bin) && memcmp(r.kvs[0].value, bin, sizeof(bin)) == 0);
	es_etcd_range_clear(&r);

	check_int_eq(es_etcd_get(e, K("kv/none"), false, 0, 0, &r), 0);
	check(r.revision >= rev2);
	es_etcd_range_clear(&r);

	check_int_eq(es_etcd_get(e, K("kv/"), true, 0, 0, &r), 2);
	check(strcmp(r.kvs[0].key, K("kv/a")) == 0 && strcmp(r.kvs[1].key, K("kv/b")) == 0);
	es_etcd_range_clear(&r);
	check_int_eq(es_etcd_get(e, K("kv/"), true, 0, 1, &r), 1);
	check(r.more && r.count == 2);
	es_etcd_range_clear(&r);

	/* the value as it was at rev1: history is there until compacted */
	check_int_eq(es_etcd_put(e, K("kv/a"), "two", 3, 0, NULL), 0);
	check_int_eq(es_etcd_get(e, K("kv/a"), false, rev1, 0, &r), 1);
	check(memcmp(r.kvs[0].value, "one", 3) == 0);
	es_etcd_range_clear(&r);

	check_int_eq(es_etcd_delete(e, K("kv/"), true, NULL), 2);
	check_int_eq(es_etcd_delete(e, K("kv/a"), false, NULL), 0);
	check_int_eq(es_etcd_get(e, K("kv0"), false, 0, 0, &r), 1); /* a prefix delete stops at its prefix */
	es_etcd_range_clear(&r);
	check_int_eq(es_etcd_put(e, "", "x", 1, 0, NULL), -EINVAL);
	test_log("kv: ok");
}

static void test_get_all(struct es_etcd *e)
{
	/* 1,234 keys in batches of 100 puts a transaction, then read in pages of 100 */
	enum { N = 1234 };
	static char keys[N][96];
	struct es_etcd_op ops[100];
	for (int i = 0; i < N; i += 100) {
		int m = N - i < 100 ? N - i : 100;
		for (int j = 0; j < m; j++) {
			snprintf(keys[i + j], sizeof(keys[0]), "%sall/%05d", prefix, i + j);
			ops[j] = (struct es_etcd_op){ .type = ES_ETCD_OP_PUT, .key = keys[i + j], .value = "v", .value_len = 1 };
		}
		struct es_etcd_txn t = { .success = ops, .n_success = (size_t)m };
		check_int_eq(es_etcd_txn(e, &t, NULL), 1);
	}
	struct es_etcd_range r;
	check_int_eq(es_etcd_get_all(e, K("all/"), 100, &r), N);
	for (int i = 0; i < N; i++)
		check(strcmp(r.kvs[i].key, keys[i]) == 0);
	es_etcd_range_clear(&r);
	check_int_eq(es_etcd_delete(e, K("all/"), true, NULL), N);
	check_int_eq(es_etcd_get_all(e, K("all/"), 100, &r), 0);
	es_etcd_range_clear(&r);
	test_log("get_all: ok (%d keys in pages of 100)", N);
}

static void test_lease(struct es_etcd *e)
{
	int64_t id = 0, ttl = 0;
	check_int_eq(es_etcd_lease_grant(e, 3, &id, &ttl), 0);
	check(id != 0 && ttl == 3);
	check_int_eq(es_etcd_put(e, K("lease/x"), "held", 4, id, NULL), 0);
	check_int_eq(es_etcd_lease_keepalive(e, id, &ttl), 0);
	check(ttl == 3);
	struct es_etcd_range r;
	check_int_eq(es_etcd_get(e, K("lease/x"), false, 0, 0, &r), 1);
	check_int_eq(r.kvs[0].lease, id);
	es_etcd_range_clear(&r);
	check_int_eq(es_etcd_lease_revoke(e, id), 0);
	check_int_eq(es_etcd_get(e, K("lease/x"), false, 0, 0, &r), 0); /* gone with the lease */
	es_etcd_range_clear(&r);
	check_int_eq(es_etcd_lease_keepalive(e, id, &ttl), -ENOENT);
	check_int_eq(es_etcd_lease_revoke(e, id), -ENOENT);
	check_int_eq(es_etcd_put(e, K("lease/y"), "x", 1, id, NULL), -ENOENT);
	check_int_eq(es_etcd_lease_grant(e, 0, &id, NULL), -EINVAL);

	/* a lease nobody keeps alive expires by itself, and its key with it */
	check_int_eq(es_etcd_lease_grant(e, 1, &id, NULL), 0);
	check_int_eq(es_etcd_put(e, K("lease/z"), "x", 1, id, NULL), 0);
	int64_t t0 = es_now_ms();
	int n = 1;
	while (n == 1 && es_now_ms() - t0 < 10000) {
		usleep(50000);
		n = es_etcd_get(e, K("lease/z"), false, 0, 0, &r);
		es_etcd_range_clear(&r);
	}
	check_int_eq(n, 0);
	test_log("lease: ok (a 1 s lease's key gone after %lld ms)", (long long)(es_now_ms() - t0));
}

static void test_txn(struct es_etcd *e)
{
	const char *k = K("txn/owner");
	/* create only if absent: the first wins, the second sees the winner */
	struct es_etcd_cmp absent = { .key = k, .target = ES_ETCD_CREATE, .op = ES_ETCD_EQ, .number = 0 };
	struct es_etcd_op put_a = { .type = ES_ETCD_OP_PUT, .key = k, .value = "a", .value_len = 1 };
	struct es_etcd_op put_b = { .type = ES_ETCD_OP_PUT, .key = k, .value = "b", .value_len = 1 };
	struct es_etcd_op get = { .type = ES_ETCD_OP_GET, .key = k };
	struct es_etcd_txn t = { .cmp = &absent, .n_cmp = 1, .success = &put_a, .n_success = 1, .failure = &get, .n_failure = 1 };
	struct es_etcd_txn_result res;
	check_int_eq(es_etcd_txn(e, &t, &res), 1);
	check(res.succeeded && res.revision > 0 && res.n == 1);
	int64_t created = res.revision;
	es_etcd_txn_result_clear(&res);
	t.success = &put_b;
	check_int_eq(es_etcd_txn(e, &t, &res), 0);
	check(!res.succeeded && res.n == 1 && res.r[0].range.n == 1);
	check(memcmp(res.r[0].range.kvs[0].value, "a", 1) == 0);
	check_int_eq(res.r[0].range.kvs[0].create_rev, created);
	es_etcd_txn_result_clear(&res);

	/* compare mod_revision (a fence) and value */
	struct es_etcd_cmp mod = { .key = k, .target = ES_ETCD_MOD, .op = ES_ETCD_EQ, .number = created };
	t = (struct es_etcd_txn){ .cmp = &mod, .n_cmp = 1, .success = &put_b, .n_success = 1 };
	check_int_eq(es_etcd_txn(e, &t, NULL), 1);
	check_int_eq(es_etcd_txn(e, &t, NULL), 0); /* the put moved mod_revision */
	struct es_etcd_cmp val = { .key = k, .target = ES_ETCD_VALUE, .op = ES_ETCD_EQ, .value = "b", .value_len = 1 };
	struct es_etcd_op del = { .type = ES_ETCD_OP_DELETE, .key = k };
	t = (struct es_etcd_txn){ .cmp = &val, .n_cmp = 1, .success = &del, .n_success = 1 };
	check_int_eq(es_etcd_txn(e, &t, &res), 1);
	check_int_eq(res.r[0].deleted, 1);
	es_etcd_txn_result_clear(&res);
	val.value = "a";
	check_int_eq(es_etcd_txn(e, &t, NULL), 0);
	/* version > 0 is "exists"; LESS/GREATER work on numbers */
	struct es_etcd_cmp exists = { .key = k, .target = ES_ETCD_VERSION, .op = ES_ETCD_GT, .number = 0 };
	t = (struct es_etcd_txn){ .cmp = &exists, .n_cmp = 1 };
	check_int_eq(es_etcd_txn(e, &t, NULL), 0);
	/* too many operations is refused here, before etcd sees it */
	static struct es_etcd_op many[ES_ETCD_MAX_TXN_OPS + 1];
	for (size_t i = 0; i < ES_ETCD_MAX_TXN_OPS + 1; i++)
		many[i] = put_a;
	t = (struct es_etcd_txn){ .success = many, .n_success = ES_ETCD_MAX_TXN_OPS + 1 };
	check_int_eq(es_etcd_txn(e, &t, NULL), -E2BIG);
	/* the same key twice in one txn: etcd refuses it (InvalidArgument) */
	t.n_success = 2;
	check_int_eq(es_etcd_txn(e, &t, NULL), -EINVAL);
	test_log("txn: ok");
}

static void put_n(struct es_etcd *e, const char *what, int n)
{
	char key[128];
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%swatch/%s%d", prefix, what, i);
		check_int_eq(es_etcd_put(e, key, "v", 1, 0, NULL), 0);
	}
}

static void test_watch(struct es_etcd *e, const char *ep)
{
	put_n(e, "pre", 3);
	struct seen s = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct es_etcd_watch *w = es_etcd_watch_new(ep, 1000, K("watch/"), 0, on_watch, &s);
	check(w != NULL);
	check(seen_wait(&s, &s.ups, 1, 5000));
	check_int_eq(seen_get(&s, &s.snapshots), 1);
	check_int_eq(seen_get(&s, &s.snapshot_keys), 3);
	put_n(e, "a", 5);
	check_int_eq(es_etcd_delete(e, K("watch/pre0"), false, NULL), 1);
	check(seen_wait(&s, &s.puts, 5, 5000));
	check(seen_wait(&s, &s.deletes, 1, 5000));
	/* a kicked stream resumes where it stopped: nothing lost, nothing twice */
	es_etcd_watch_kick(w);
	put_n(e, "b", 5);
	check(seen_wait(&s, &s.ups, 2, 5000));
	check(seen_wait(&s, &s.puts, 10, 5000));
	usleep(100000);
	check_int_eq(seen_get(&s, &s.puts), 10);
	check(!s.out_of_order);
	es_etcd_watch_free(w);

	/* resume from a revision: only what happened since */
	struct es_etcd_range r;
	check_int_eq(es_etcd_get(e, K("watch/a0"), false, 0, 0, &r), 1);
	int64_t from = r.kvs[0].mod_rev;
	es_etcd_range_clear(&r);
	struct seen s2 = { .lock = PTHREAD_MUTEX_INITIALIZER };
	w = es_etcd_watch_new(ep, 1000, K("watch/"), from, on_watch, &s2);
	check(w != NULL);
	/* a0..a4, the delete of pre0, b0..b4 */
	check(seen_wait(&s2, &s2.puts, 10, 5000));
	check(seen_wait(&s2, &s2.deletes, 1, 5000));
	check_int_eq(seen_get(&s2, &s2.snapshots), 0);
	es_etcd_watch_free(w);

	/* from a revision compacted away: it lists again instead */
	int64_t rev;
	check_int_eq(es_etcd_put(e, K("watch/c"), "v", 1, 0, &rev), 0);
	check_int_eq(es_etcd_compact(e, rev), 0);
	struct seen s3 = { .lock = PTHREAD_MUTEX_INITIALIZER };
	w = es_etcd_watch_new(ep, 1000, K("watch/"), from, on_watch, &s3);
	check(w != NULL);
	check(seen_wait(&s3, &s3.snapshots, 1, 5000));
	check_int_eq(seen_get(&s3, &s3.snapshot_keys), 2 + 10 + 1); /* pre1, pre2, a*, b*, c */
	check_int_eq(seen_get(&s3, &s3.puts), 0);
	put_n(e, "d", 1);
	check(seen_wait(&s3, &s3.puts, 1, 5000));
	es_etcd_watch_free(w);
	test_log("watch: ok");
}

/* ---- failover ------------------------------------------------------------ */

static int listen_silent(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	check(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 16) == 0);
	socklen_t len = sizeof(a);
	check(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	*port = ntohs(a.sin_port);
	return fd; /* the kernel accepts connections; nobody ever answers */
}

static int closed_port(void)
{
	int port, fd = listen_silent(&port);
	close(fd);
	return port;
}

static void test_failover(const char *ep)
{
	char list[1024];
	int silent_port, silent = listen_silent(&silent_port);
	/* a dead endpoint, then a silent one, then the real ones */
	snprintf(list, sizeof(list), "http://127.0.0.1:%d,http://127.0.0.1:%d,%s", closed_port(), silent_port, ep);
	struct es_etcd *e = es_etcd_new(list, 1000);
	check(e != NULL);
	int64_t t0 = es_now_ms();
	check_int_eq(es_etcd_put(e, K("fo/x"), "v", 1, 0, NULL), 0);
	int64_t took = es_now_ms() - t0;
	struct es_etcd_stats st;
	es_etcd_get_stats(e, &st);
	check(st.failovers == 2 && st.attempts == 3);
	/* the silent one cost at most half of what was left of 1 s */
	test_log("failover: past a refused and a silent endpoint in %lld ms", (long long)took);
	check(took < 1000 + 500);
	/* and the next call goes straight to the one that answered */
	check_int_eq(es_etcd_put(e, K("fo/x"), "w", 1, 0, NULL), 0);
	es_etcd_get_stats(e, &st);
	check_int_eq(st.attempts, 4);
	es_etcd_free(e);

	/* only silent: the call gives up at its deadline */
	snprintf(list, sizeof(list), "http://127.0.0.1:%d", silent_port);
	e = es_etcd_new(list, 300);
	t0 = es_now_ms();
	int r = es_etcd_put(e, K("fo/y"), "v", 1, 0, NULL);
	took = es_now_ms() - t0;
	check_int_eq(r, -ETIMEDOUT);
	check(es_etcd_unreachable(r));
	check(took >= 250 && took < 300 + 700); /* its budget, and not much more on a loaded machine */
	es_etcd_free(e);
	close(silent);

	check(es_etcd_new("", 100) == NULL && errno == EINVAL);
	check(es_etcd_new("https://x:1", 100) == NULL && errno == EINVAL);
	check(es_etcd_new("http://x:1/path", 100) == NULL && errno == EINVAL);
	test_log("failover: ok");
}

/* ---- a hostile gateway ---------------------------------------------------- */

/* A one-connection-at-a-time HTTP server that answers each request with the
 * next canned reply and closes: what a broken or malicious endpoint sends. */
struct fake {
	int fd, port;
	const char *const *replies;
	size_t n;
	pthread_t th;
};

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	for (size_t i = 0; i < f->n; i++) {
		int c = accept(f->fd, NULL, NULL);
		if (c < 0)
			return NULL;
		char buf[8192];
		size_t got = 0;
		/* the request: headers, then a body of Content-Length bytes */
		for (;;) {
			ssize_t k = read(c, buf + got, sizeof(buf) - 1 - got);
			if (k <= 0)
				break;
			got += (size_t)k;
			buf[got] = 0;
			char *end = strstr(buf, "\r\n\r\n");
			char *cl = strcasestr(buf, "content-length:");
			if (end && (!cl || strlen(end + 4) >= (size_t)atoi(cl + 15)))
				break;
		}
		if (write(c, f->replies[i], strlen(f->replies[i])) < 0) {
		}
		close(c);
	}
	return NULL;
}

static void fake_start(struct fake *f, const char *const *replies, size_t n)
{
	f->fd = listen_silent(&f->port);
	f->replies = replies;
	f->n = n;
	check(pthread_create(&f->th, NULL, fake_main, f) == 0);
}

static void fake_stop(struct fake *f)
{
	shutdown(f->fd, SHUT_RDWR);
	close(f->fd);
	pthread_join(f->th, NULL);
}

#define OK200(body) "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" body

static void test_hostile_gateway(void)
{
	static const char *const replies[] = {
		OK200("not json!"),
		OK200("{\"kvs\": \"x\"}"),
		OK200("{\"kvs\": [{\"key\": \"!!!\"}]}"),
		OK200("{\"kvs\": [{\"key\": \"YQBi\"}]}"),          /* "a\0b": a NUL inside a key */
		OK200("{\"kvs\": [{\"key\": \"YQ==\", \"value\": 7}]}"),
		OK200("[1, 2, 3]"),
		"HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n{\"error\":\"lease\",\"code\":5}",
		"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n{\"error\":\"x\",\"code\":3}",
		"HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\n<html>",
		OK200("{\"succeeded\": true, \"responses\": []}"),   /* a txn of one op with no answer */
		OK200("{\"result\": {}}"),                            /* a keepalive without a TTL: the lease is gone */
		/* unavailable, then a good answer: retried within the deadline */
		"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n{\"error\":\"no leader\",\"code\":14}",
		OK200("{\"header\": {\"revision\": \"7\"}, \"kvs\": [{\"key\": \"YQ==\", \"value\": \"Yg==\", \"mod_revision\": \"7\"}], \"count\": \"1\"}"),
	};
	struct fake f;
	fake_start(&f, replies, sizeof(replies) / sizeof(replies[0]));
	char ep[64];
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", f.port);
	struct es_etcd *e = es_etcd_new(ep, 2000);
	struct es_etcd_range r;
	for (int i = 0; i < 6; i++) {
		check_int_eq(es_etcd_get(e, "a", false, 0, 0, &r), -EBADMSG);
		check(r.n == 0 && r.kvs == NULL);
	}
	int64_t ttl;
	check_int_eq(es_etcd_lease_keepalive(e, 1, &ttl), -ENOENT);
	check_int_eq(es_etcd_get(e, "a", false, 0, 0, &r), -EINVAL);
	check_int_eq(es_etcd_get(e, "a", false, 0, 0, &r), -EPROTO);
	struct es_etcd_op put = { .type = ES_ETCD_OP_PUT, .key = "a", .value = "b", .value_len = 1 };
	struct es_etcd_txn t = { .success = &put, .n_success = 1 };
	struct es_etcd_txn_result res;
	check_int_eq(es_etcd_txn(e, &t, &res), -EBADMSG);
	check(res.n == 0 && res.r == NULL);
	check_int_eq(es_etcd_lease_keepalive(e, 1, &ttl), -ENOENT);
	check_int_eq(es_etcd_get(e, "a", false, 0, 0, &r), 1);
	check(strcmp(r.kvs[0].key, "a") == 0 && strcmp(r.kvs[0].value, "b") == 0 && r.revision == 7);
	es_etcd_range_clear(&r);
	struct es_etcd_stats st;
	es_etcd_get_stats(e, &st);
	check_int_eq(st.errors, 10); /* every bad answer counted (a keepalive to TTL 0 is an answer, not an error) */
	es_etcd_free(e);
	fake_stop(&f);

	/* a watch stream that sends garbage: DOWN with the reason, and it tries again */
	static const char *const wreplies[] = {
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"
		"{\"result\": {\"header\": {\"revision\": \"3\"}, \"created\": true}}\n{garbage\n",
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"
		"{\"result\": {\"header\": {\"revision\": \"3\"}, \"created\": true}}\n"
		"{\"result\": {\"header\": {\"revision\": \"4\"}, \"events\": [{\"kv\": {\"key\": \"L3c=\", \"mod_revision\": \"4\"}}]}}\n"
		"{\"result\": {\"events\": [{\"kv\": 5}]}}\n",
	};
	fake_start(&f, wreplies, 2);
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", f.port);
	struct seen s = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct es_etcd_watch *w = es_etcd_watch_new(ep, 1000, "/w", 2, on_watch, &s);
	check(w != NULL);
	check(seen_wait(&s, &s.puts, 1, 5000)); /* the good event of the second stream */
	check(seen_wait(&s, &s.downs, 2, 5000));
	pthread_mutex_lock(&s.lock);
	check(s.ups == 2 && s.last_down_err == -EBADMSG && strcmp(s.last_key, "/w") == 0);
	pthread_mutex_unlock(&s.lock);
	es_etcd_watch_free(w);
	fake_stop(&f);
	test_log("hostile gateway: ok (every bad answer refused with -EBADMSG or its code, and counted)");
}

/* ---- faults -------------------------------------------------------------- */

struct traffic {
	const char *ep;
	atomic_bool stop;
	unsigned ok, failed;
	int first_err;
};

static void *traffic_main(void *arg)
{
	struct traffic *t = arg;
	struct es_etcd *e = es_etcd_new(t->ep, 2000);
	char key[128];
	for (unsigned i = 0; !atomic_load(&t->stop); i++) {
		snprintf(key, sizeof(key), "%straffic/%u", prefix, i % 50);
		int r = es_etcd_put(e, key, "v", 1, 0, NULL);
		struct es_etcd_range rg = { 0 };
		if (r == 0)
			r = es_etcd_get(e, key, false, 0, 0, &rg) == 1 ? 0 : -EPROTO;
		es_etcd_range_clear(&rg);
		if (r == 0) {
			t->ok++;
		} else {
			if (!t->failed)
				t->first_err = r;
			t->failed++;
		}
		usleep(2000);
	}
	es_etcd_free(e);
	return NULL;
}

static void test_member_killed(struct es_etcd *e, const char *ep)
{
	struct seen s = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct es_etcd_watch *w = es_etcd_watch_new(ep, 1000, K("traffic/"), 0, on_watch, &s);
	check(w != NULL && seen_wait(&s, &s.ups, 1, 5000));
	struct traffic t = { .ep = ep };
	pthread_t th;
	check(pthread_create(&th, NULL, traffic_main, &t) == 0);
	usleep(300000);
	/* the leader: an election under the traffic, and the clients that were
	 * talking to it move to another member */
	char killed[32];
	fixture_ask(killed, sizeof(killed), "kill-leader");
	usleep(1000000);
	unsigned ok_after_kill = t.ok;
	usleep(500000);
	atomic_store(&t.stop, true);
	pthread_join(th, NULL);
	test_log("leader killed: %u calls ok, %u failed (first %d); watch downs %u ups %u", t.ok, t.failed,
		t.first_err, seen_get(&s, &s.downs), seen_get(&s, &s.ups));
	check_int_eq(t.failed, 0);
	check(t.ok > ok_after_kill);
	/* the watch moved to a live member and saw every put since */
	struct es_etcd_range r;
	check(es_etcd_get(e, K("traffic/"), true, 0, 0, &r) >= 0);
	int64_t newest = 0;
	for (size_t i = 0; i < r.n; i++)
		if (r.kvs[i].mod_rev > newest)
			newest = r.kvs[i].mod_rev;
	es_etcd_range_clear(&r);
	int64_t end = es_now_ms() + 5000;
	while (es_now_ms() < end) {
		pthread_mutex_lock(&s.lock);
		bool caught_up = s.last_rev >= newest;
		pthread_mutex_unlock(&s.lock);
		if (caught_up)
			break;
		usleep(10000);
	}
	check(s.last_rev >= newest);
	check(!s.out_of_order);
	check(seen_get(&s, &s.puts) >= t.ok);
	es_etcd_watch_free(w);
	fixture_do("start %d", atoi(killed));
	test_log("leader killed: ok");
}

static void test_all_down(const char *ep)
{
	struct es_etcd *e = es_etcd_new(ep, 1000);
	struct seen s = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct es_etcd_watch *w = es_etcd_watch_new(ep, 1000, K("down/"), 0, on_watch, &s);
	check(w != NULL && seen_wait(&s, &s.ups, 1, 5000));
	check_int_eq(es_etcd_put(e, K("down/before"), "v", 1, 0, NULL), 0);
	check(seen_wait(&s, &s.puts, 1, 5000));

	fixture_do("stop-all");
	int64_t t0 = es_now_ms();
	int r = es_etcd_put(e, K("down/x"), "v", 1, 0, NULL);
	int64_t took = es_now_ms() - t0;
	test_log("all down: put failed with %d (%s) in %lld ms", r, strerror(-r), (long long)took);
	check(r < 0 && es_etcd_unreachable(r));
	check(took < 1000 + 500); /* never longer than the call's budget */
	int64_t id;
	check(es_etcd_unreachable(es_etcd_lease_grant(e, 5, &id, NULL)));
	check(seen_wait(&s, &s.downs, 1, 5000));

	fixture_do("start-all");
	/* the watch comes back by itself (backoff at most 2 s) */
	check(seen_wait(&s, &s.ups, 2, 10000));
	check_int_eq(es_etcd_put(e, K("down/after"), "v", 1, 0, NULL), 0);
	check(seen_wait(&s, &s.puts, 2, 5000));
	check(strcmp(s.last_key, K("down/after")) == 0);
	es_etcd_watch_free(w);
	es_etcd_free(e);
	test_log("all down: ok");
}

int main(void)
{
	const char *ep = fixture_endpoints();
	check(es_etcd_global_init() == 0);
	snprintf(prefix, sizeof(prefix), "/test-etcd-client/%d/", (int)getpid());
	struct es_etcd *e = es_etcd_new(ep, 2000);
	check(e != NULL);
	test_kv(e);
	test_get_all(e);
	test_lease(e);
	test_txn(e);
	test_watch(e, ep);
	test_failover(ep);
	test_hostile_gateway();
	test_member_killed(e, ep);
	test_all_down(ep);
	struct es_etcd_stats st;
	es_etcd_get_stats(e, &st);
	test_log("client: %llu calls, %llu attempts, %llu failovers", (unsigned long long)st.calls,
		(unsigned long long)st.attempts, (unsigned long long)st.failovers);
	es_etcd_free(e);
	return 0;
}
