/* SPDX-License-Identifier: MIT */
/*
 * The cluster module (daemon/cluster/cluster.h) against a real 3-member etcd
 * cluster (run by tests/integration/etcdlib.py):
 *   1. registration, and a SIGKILLed daemon's floors taken by another within
 *      its lease's TTL;
 *   2. four daemons claiming one floor at the same moment, twenty times:
 *      exactly one owns it each time;
 *   3. one invite redeemed by two daemons at the same moment, twenty times:
 *      used exactly once each time;
 *   4. seats written in fenced batches, a floor handed over with its seats;
 *   5. the etcd leader killed: nothing noticed;
 *   6. all of etcd down: requests fail fast, the module says unreachable,
 *      floors keep running, and all resumes when etcd is back.
 * The dead daemon of (1) is this program run again as "child".
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "etcd-fixture.h"
#include "etcd.h"
#include "log.h"

extern char **environ;

#define TTL_S 2

static const char *endpoints;
static char company[64];

struct daemon {
	struct es_cluster *c;
	char id[32];
	unsigned gained, lost, reachable, unreachable, resync;
	char last_gained[ES_CLUSTER_ID_MAX + 1];
	char last_lost_to[ES_CLUSTER_ID_MAX + 1];
	struct { uint64_t ticket; int result; char text[ES_CLUSTER_TEXT_MAX + 1]; } done[256];
	size_t ndone;
	unsigned records;
};

#define MAX_D 8
static struct daemon *live[MAX_D];

static void pump(struct daemon *d)
{
	struct es_cluster_event ev[64];
	size_t n;
	while ((n = es_cluster_poll(d->c, ev, 64)) > 0) {
		for (size_t i = 0; i < n; i++) {
			switch (ev[i].type) {
			case ES_CLUSTER_FLOOR_GAINED:
				d->gained++;
				snprintf(d->last_gained, sizeof(d->last_gained), "%s", ev[i].floor);
				break;
			case ES_CLUSTER_FLOOR_LOST:
				d->lost++;
				snprintf(d->last_lost_to, sizeof(d->last_lost_to), "%s", ev[i].daemon);
				break;
			case ES_CLUSTER_DONE:
				if (d->ndone < 256) {
					d->done[d->ndone].ticket = ev[i].ticket;
					d->done[d->ndone].result = ev[i].result;
					snprintf(d->done[d->ndone].text, sizeof(d->done[0].text), "%s", ev[i].text);
					d->ndone++;
				}
				break;
			case ES_CLUSTER_RECORD:
				d->records++;
				break;
			case ES_CLUSTER_UNREACHABLE:
				d->unreachable++;
				break;
			case ES_CLUSTER_REACHABLE:
				d->reachable++;
				break;
			case ES_CLUSTER_RESYNC:
				d->resync++;
				break;
			}
		}
	}
}

static void pump_all(void)
{
	for (int i = 0; i < MAX_D; i++)
		if (live[i])
			pump(live[i]);
}

/* Wait for cond (pumping every daemon's events), up to ms. */
#define WAIT(cond, ms) ({ \
	int64_t _end = es_now_ms() + (ms); \
	bool _ok = false; \
	while (!(_ok = (cond)) && es_now_ms() < _end) { \
		pump_all(); \
		usleep(5000); \
	} \
	pump_all(); \
	_ok || (cond); \
})

static struct es_cluster_config config(const char *comp, const char *id, const char *const *floors, size_t nf)
{
	static char addr[MAX_D * 2][32];
	static unsigned k;
	char *a = addr[k++ % (MAX_D * 2)];
	snprintf(a, 32, "127.0.0.1:%u", 7000 + k);
	return (struct es_cluster_config){
		.endpoints = endpoints, .company = comp, .daemon_id = id, .address = a, .capacity = 1000,
		.ttl_s = TTL_S, .call_timeout_ms = 1000, .floors = floors, .n_floors = nf,
		.seat_flush_ms = 200, .load_publish_ms = 200, .claim_step_ms = 300,
	};
}

static struct daemon *start(const struct es_cluster_config *cfg)
{
	struct daemon *d = calloc(1, sizeof(*d));
	check(d != NULL);
	snprintf(d->id, sizeof(d->id), "%s", cfg->daemon_id);
	d->c = es_cluster_new(cfg);
	check(d->c != NULL);
	for (int i = 0; i < MAX_D; i++) {
		if (!live[i]) {
			live[i] = d;
			return d;
		}
	}
	check(!"too many daemons");
	return NULL;
}

static void stop(struct daemon *d)
{
	for (int i = 0; i < MAX_D; i++)
		if (live[i] == d)
			live[i] = NULL;
	es_cluster_free(d->c);
	free(d);
}

static struct es_cluster_stats stats(struct daemon *d)
{
	struct es_cluster_stats st;
	es_cluster_get_stats(d->c, &st);
	return st;
}

static size_t hosted(struct daemon *d)
{
	return stats(d).floors_hosted;
}

static int submit(struct daemon *d, const struct es_cluster_req *r, uint64_t *ticket)
{
	return es_cluster_submit(d->c, r, ticket);
}

/* The DONE of ticket on d: true and *result, once it came. */
static bool done(struct daemon *d, uint64_t ticket, int *result, char *text)
{
	for (size_t i = 0; i < d->ndone; i++) {
		if (d->done[i].ticket == ticket) {
			*result = d->done[i].result;
			if (text)
				strcpy(text, d->done[i].text);
			return true;
		}
	}
	return false;
}

static int request(struct daemon *d, const struct es_cluster_req *r, char *text)
{
	uint64_t t;
	int result = 0;
	check_int_eq(submit(d, r, &t), 0);
	check(WAIT(done(d, t, &result, text), 5000));
	return result;
}

static int owners_named(struct es_etcd *e, const char *comp, const char *daemon)
{
	char key[256];
	snprintf(key, sizeof(key), "/earshot/%s/place/owners/", comp);
	struct es_etcd_range r;
	int n = es_etcd_get(e, key, true, 0, 0, &r);
	int k = 0;
	for (int i = 0; i < n; i++)
		if (strstr(r.kvs[i].value, daemon))
			k++;
	es_etcd_range_clear(&r);
	return n < 0 ? n : k;
}

/* ---- 1. registration and a dead daemon's floors ----------------------------- */

static pid_t spawn_child(const char *comp, const char *id)
{
	pid_t pid;
	char *argv[] = { "/proc/self/exe", "child", (char *)comp, (char *)id, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, 2, 1); /* its stdout is not the fixture's channel */
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	check(n > 0);
	self[n] = 0;
	argv[0] = self;
	check(posix_spawn(&pid, self, &fa, NULL, argv, environ) == 0);
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

static int child_main(const char *comp, const char *id)
{
	static const char *const floors[] = { "f1", "f2", "f3", "f4" };
	struct es_cluster_config cfg = config(comp, id, floors, 4);
	struct es_cluster *c = es_cluster_new(&cfg);
	if (!c)
		return 1;
	for (;;) { /* until SIGKILL: a daemon that dies without a word */
		struct es_cluster_event ev[16];
		es_cluster_poll(c, ev, 16);
		usleep(20000);
	}
}

static void test_dead_daemon(struct es_etcd *e)
{
	char comp[80];
	snprintf(comp, sizeof(comp), "%s-dead", company);
	pid_t pid = spawn_child(comp, "doomed");
	/* it takes every floor: nobody else is there */
	int64_t t0 = es_now_ms();
	while (owners_named(e, comp, "\"doomed\"") < 4 && es_now_ms() - t0 < 10000)
		usleep(20000);
	check_int_eq(owners_named(e, comp, "\"doomed\""), 4);

	struct es_cluster_config cfg = config(comp, "survivor", NULL, 0);
	struct daemon *s = start(&cfg);
	struct es_cluster_daemon ds[4];
	check(WAIT(es_cluster_daemons(s->c, ds, 4) == 2, 5000));
	check(strcmp(ds[0].id, "doomed") == 0 && !ds[0].self && ds[0].capacity == 1000);
	check(strcmp(ds[1].id, "survivor") == 0 && ds[1].self && strstr(ds[1].address, "127.0.0.1:"));
	check(WAIT(es_cluster_daemons(s->c, ds, 4) == 2 && ds[0].floors == 4, 5000)); /* its registration says 4 */
	struct es_cluster_floor fl[8];
	check_int_eq(es_cluster_floors(s->c, fl, 8), 4);
	for (int i = 0; i < 4; i++)
		check(strcmp(fl[i].owner, "doomed") == 0 && !fl[i].hosted);
	check_int_eq(es_cluster_floor_owner(s->c, "f2", &fl[0]), 0);
	check(strcmp(fl[0].owner, "doomed") == 0 && fl[0].address[0]);
	check_int_eq(hosted(s), 0);

	kill(pid, SIGKILL);
	int64_t killed = es_now_ms();
	waitpid(pid, NULL, 0);
	/* the lease expires within its TTL after the last renewal; the
	 * survivor is the first choice for every floor, so it claims at once.
	 * Bound: TTL + etcd's expiry sweep (500 ms) + margin for a loaded
	 * machine; the time it took is printed */
	check(WAIT(hosted(s) == 4 && s->gained == 4, TTL_S * 1000 + 4000));
	int64_t took = es_now_ms() - killed;
	test_log("dead daemon: its 4 floors hosted by the survivor %lld ms after SIGKILL (lease TTL %d s)",
		(long long)took, TTL_S);
	check(took <= TTL_S * 1000 + 4000);
	check_int_eq(s->gained, 4);
	check(WAIT(es_cluster_daemons(s->c, ds, 4) == 1, 3000));
	check(strcmp(ds[0].id, "survivor") == 0 && ds[0].self);
	check(WAIT(es_cluster_daemons(s->c, ds, 4) == 1 && ds[0].floors == 4, 3000)); /* its registration says so */
	check_int_eq(owners_named(e, comp, "\"survivor\""), 4);
	check_int_eq(es_cluster_floor_owner(s->c, "f3", NULL), 1);
	stop(s);
	/* a daemon that leaves revokes its lease: its floors are free at once */
	check(WAIT(owners_named(e, comp, "\"survivor\"") == 0, 2000));
	test_log("dead daemon: ok");
}

/* ---- 2. contention for one floor -------------------------------------------- */

static void test_contention(struct es_etcd *e)
{
	char comp[80];
	snprintf(comp, sizeof(comp), "%s-race", company);
	struct daemon *d[4];
	for (int i = 0; i < 4; i++) {
		char id[16];
		snprintf(id, sizeof(id), "racer%d", i);
		struct es_cluster_config cfg = config(comp, id, NULL, 0);
		cfg.claim_at_once = true; /* all claim at once: only the transaction decides */
		d[i] = start(&cfg);
	}
	struct es_cluster_daemon ds[8];
	for (int i = 0; i < 4; i++)
		check(WAIT(es_cluster_daemons(d[i]->c, ds, 8) == 4, 5000));
	enum { ROUNDS = 20 };
	uint64_t claims_before = 0;
	for (int i = 0; i < 4; i++)
		claims_before += stats(d[i]).claims;
	for (int round = 0; round < ROUNDS; round++) {
		char floor[32], key[256];
		snprintf(floor, sizeof(floor), "r%02d", round);
		snprintf(key, sizeof(key), "/earshot/%s/place/floors/%s", comp, floor);
		unsigned before = 0;
		for (int i = 0; i < 4; i++)
			before += d[i]->gained;
		check_int_eq(es_etcd_put(e, key, "", 0, 0, NULL), 0);
		unsigned gained;
		check(WAIT((gained = d[0]->gained + d[1]->gained + d[2]->gained + d[3]->gained) > before, 5000));
		/* give every loser time to have claimed and lost (or, if the
		 * guard were broken, to have gained too) */
		usleep(150000);
		pump_all();
		gained = d[0]->gained + d[1]->gained + d[2]->gained + d[3]->gained - before;
		int owner = -1, owners = 0;
		for (int i = 0; i < 4; i++) {
			if (es_cluster_floor_owner(d[i]->c, floor, NULL) == 1) {
				owner = i;
				owners++;
			}
		}
		if (gained != 1 || owners != 1)
			test_log("round %d: %u daemons gained %s, %d host it", round, gained, floor, owners);
		check_int_eq(gained, 1);
		check_int_eq(owners, 1);
		/* and the key in etcd names it */
		snprintf(key, sizeof(key), "/earshot/%s/place/owners/%s", comp, floor);
		struct es_etcd_range r;
		check_int_eq(es_etcd_get(e, key, false, 0, 0, &r), 1);
		char want[48];
		snprintf(want, sizeof(want), "\"daemon\":\"%s\"", d[owner]->id);
		check(strstr(r.kvs[0].value, want) != NULL);
		es_etcd_range_clear(&r);
	}
	uint64_t claims = 0;
	for (int i = 0; i < 4; i++)
		claims += stats(d[i]).claims;
	claims -= claims_before;
	unsigned lost = d[0]->lost + d[1]->lost + d[2]->lost + d[3]->lost;
	test_log("contention: %d floors, %llu claim transactions (%.1f per floor), one owner each, %u lost", ROUNDS,
		(unsigned long long)claims, (double)claims / ROUNDS, lost);
	check_int_eq(lost, 0);
	/* the race was real: more claims than floors */
	check(claims > ROUNDS);
	for (int i = 0; i < 4; i++)
		stop(d[i]);
	test_log("contention: ok");
}

/* ---- 3. one invite, two redeemers ------------------------------------------- */

static void test_invite_race(void)
{
	char comp[80];
	snprintf(comp, sizeof(comp), "%s-invite", company);
	struct es_cluster_config cx = config(comp, "x", NULL, 0), cy = config(comp, "y", NULL, 0);
	struct daemon *x = start(&cx), *y = start(&cy);
	check(WAIT(stats(x).registered && stats(y).registered, 5000));
	enum { ROUNDS = 20 };
	int by_x = 0, by_y = 0;
	for (int round = 0; round < ROUNDS; round++) {
		struct es_cluster_req add = { .type = ES_CLUSTER_INVITE_ADD, .expires = time(NULL) + 600 };
		snprintf(add.name, sizeof(add.name), "guest%02d", round);
		add.hash[0] = (uint8_t)round;
		add.hash[1] = 0x1e;
		check_int_eq(request(x, &add, NULL), 0);
		check_int_eq(request(x, &add, NULL), -EEXIST); /* one invite per code */

		struct es_cluster_req rx = { .type = ES_CLUSTER_INVITE_REDEEM }, ry = rx;
		memcpy(rx.hash, add.hash, 32);
		memcpy(ry.hash, add.hash, 32);
		rx.key[0] = ry.key[0] = (uint8_t)round;
		rx.key[1] = 'x';
		ry.key[1] = 'y';
		uint64_t tx, ty;
		/* both at once: each daemon's thread reads the invite and commits */
		check_int_eq(submit(x, &rx, &tx), 0);
		check_int_eq(submit(y, &ry, &ty), 0);
		int ax = 1, ay = 1;
		char nx[ES_CLUSTER_TEXT_MAX + 1] = "", ny[ES_CLUSTER_TEXT_MAX + 1] = "";
		check(WAIT(done(x, tx, &ax, nx) && done(y, ty, &ay, ny), 5000));
		if ((ax == 0) == (ay == 0))
			test_log("round %d: x %d, y %d", round, ax, ay);
		check((ax == 0) != (ay == 0)); /* exactly once */
		check(ax == 0 ? ay == -ENOENT : ax == -ENOENT);
		check(strcmp(ax == 0 ? nx : ny, add.name) == 0);
		by_x += ax == 0;
		by_y += ay == 0;
		/* the one who got in is enrolled under the invite's name, company-wide */
		char hex[65], text[ES_CLUSTER_TEXT_MAX + 1];
		es_cluster_hex(ax == 0 ? rx.key : ry.key, hex);
		check(WAIT(es_cluster_record_get(x->c, ES_CLUSTER_REC_PERSON, hex, text, sizeof(text)) == 0 &&
			es_cluster_record_get(y->c, ES_CLUSTER_REC_PERSON, hex, text, sizeof(text)) == 0, 3000));
		check(strcmp(text, add.name) == 0);
		es_cluster_hex(ax == 0 ? ry.key : rx.key, hex);
		check_int_eq(es_cluster_record_get(y->c, ES_CLUSTER_REC_PERSON, hex, text, sizeof(text)), -ENOENT);
		/* and a third try is refused too */
		check_int_eq(request(y, &ry, NULL), ay == 0 ? 0 : -ENOENT); /* the winner again: idempotent */
	}
	test_log("invite race: %d rounds, redeemed once each (%d by x, %d by y)", ROUNDS, by_x, by_y);

	/* the other records, through one daemon, seen by the other */
	uint8_t key[32] = { 0xab, 0xcd };
	char hex[65], text[ES_CLUSTER_TEXT_MAX + 1];
	es_cluster_hex(key, hex);
	struct es_cluster_req r = { .type = ES_CLUSTER_ENROL, .name = "dora" };
	memcpy(r.key, key, 32);
	check_int_eq(request(x, &r, NULL), 0);
	check_int_eq(request(x, &r, NULL), 0); /* the same again: already so */
	struct es_cluster_req r2 = r;
	r2.key[0] = 1;
	check_int_eq(request(y, &r2, NULL), -EEXIST); /* the name is taken */
	struct es_cluster_req dk = { .type = ES_CLUSTER_DESK, .desk = "D7" };
	memcpy(dk.key, key, 32);
	check_int_eq(request(y, &dk, NULL), 0);
	struct es_cluster_req dk2 = dk;
	dk2.key[0] = 0x01; /* not enrolled */
	check_int_eq(request(y, &dk2, NULL), -ENOENT);
	struct es_cluster_req mu = { .type = ES_CLUSTER_MUTE, .on = true, .by = "admin" };
	memcpy(mu.key, key, 32);
	check_int_eq(request(x, &mu, NULL), 0);
	struct es_cluster_req lk = { .type = ES_CLUSTER_LOCK, .floor = "f1", .room = "boardroom", .on = true };
	check_int_eq(request(y, &lk, NULL), 0);
	check(WAIT(es_cluster_record_get(y->c, ES_CLUSTER_REC_MUTE, hex, text, sizeof(text)) == 0, 3000));
	check(strcmp(text, "admin") == 0);
	check(WAIT(es_cluster_record_get(x->c, ES_CLUSTER_REC_DESK, "D7", text, sizeof(text)) == 0, 3000));
	check(strcmp(text, hex) == 0);
	check(WAIT(es_cluster_record_get(x->c, ES_CLUSTER_REC_LOCK, "f1/boardroom", text, sizeof(text)) == 0, 3000));
	check(strcmp(text, "y") == 0);
	check_int_eq(request(y, &r, NULL), 0); /* idempotent */
	struct es_cluster_req fg = { .type = ES_CLUSTER_FORGET };
	memcpy(fg.key, key, 32);
	check_int_eq(request(y, &fg, NULL), 0);
	check(WAIT(es_cluster_record_get(x->c, ES_CLUSTER_REC_PERSON, hex, text, sizeof(text)) == -ENOENT &&
		es_cluster_record_get(x->c, ES_CLUSTER_REC_MUTE, hex, text, sizeof(text)) == -ENOENT &&
		es_cluster_record_get(x->c, ES_CLUSTER_REC_DESK, "D7", text, sizeof(text)) == -ENOENT, 3000));
	check_int_eq(request(y, &fg, NULL), -ENOENT);
	/* an expired invite */
	struct es_cluster_req old = { .type = ES_CLUSTER_INVITE_ADD, .name = "late", .expires = time(NULL) + 1 };
	old.hash[0] = 0xee;
	check_int_eq(request(x, &old, NULL), 0);
	usleep(2100000);
	struct es_cluster_req use = { .type = ES_CLUSTER_INVITE_REDEEM };
	memcpy(use.hash, old.hash, 32);
	check_int_eq(request(y, &use, NULL), -EKEYEXPIRED);
	check_int_eq(request(y, &use, NULL), -ENOENT);
	struct es_cluster_req bad = { .type = ES_CLUSTER_LOCK, .floor = "a/b", .room = "x" };
	check_int_eq(es_cluster_submit(x->c, &bad, NULL), -EINVAL);
	check(x->records > 0 && y->records > 0);
	stop(x);
	stop(y);
	test_log("records: ok");
}

/* ---- 4. seats and handover ------------------------------------------------- */

static void test_seats_handover(void)
{
	char comp[80];
	snprintf(comp, sizeof(comp), "%s-seats", company);
	static const char *const floors[] = { "lobby" };
	struct es_cluster_config ca = config(comp, "a", floors, 1);
	struct daemon *a = start(&ca);
	check(WAIT(hosted(a) == 1, 5000));
	struct es_cluster_config cb = config(comp, "b", NULL, 0);
	cb.no_claims = true;
	struct daemon *b = start(&cb);
	struct es_cluster_daemon ds[4];
	check(WAIT(es_cluster_daemons(a->c, ds, 4) == 2, 5000));

	/* a second daemon with a's id is refused while a lives: two daemons
	 * under one id would both believe they own its floors */
	struct es_cluster_config dup = config(comp, "a", NULL, 0);
	struct daemon *a2 = start(&dup);
	usleep(1000000);
	pump_all();
	check(!stats(a2).registered);
	check_int_eq(hosted(a2), 0);
	check_int_eq(a2->gained, 0);
	stop(a2);
	check(stats(a).registered);
	check_int_eq(hosted(a), 1);

	enum { N = 300 };
	for (int i = 0; i < N; i++) {
		uint8_t key[32] = { (uint8_t)i, (uint8_t)(i >> 8), 0x5e };
		check_int_eq(es_cluster_seat(a->c, "lobby", key, (float)i, 2.5f, 0.5f), 0);
	}
	check(WAIT(stats(a).seats_written >= N, 5000));
	struct es_cluster_stats st = stats(a);
	test_log("seats: %llu written in %llu transactions", (unsigned long long)st.seats_written,
		(unsigned long long)st.seat_batches);
	check(st.seat_batches >= 3 && st.seat_batches <= 6); /* 127 a transaction, and a batch or two more if the interval cut it */

	struct es_cluster_req h = { .type = ES_CLUSTER_HANDOVER, .floor = "lobby", .daemon = "b" };
	check_int_eq(request(a, &h, NULL), 0);
	check(WAIT(hosted(b) == 1 && hosted(a) == 0 && a->lost == 1 && b->gained == 1, 5000));
	check(strcmp(a->last_lost_to, "b") == 0);
	check_int_eq(b->gained, 1);
	float x, y, f;
	uint8_t key[32] = { 7, 0, 0x5e };
	check_int_eq(es_cluster_seat_get(b->c, "lobby", key, &x, &y, &f), 0);
	check_near(x, 7.0, 0.01);
	check_near(y, 2.5, 0.01);
	/* a's seat for a floor it no longer has is not written */
	check_int_eq(es_cluster_seat(a->c, "lobby", key, 99.0f, 0, 0), 0);
	check(WAIT(stats(a).seats_dropped >= 1, 3000));
	check_int_eq(es_cluster_seat_get(b->c, "lobby", key, &x, &y, &f), 0);
	check_near(x, 7.0, 0.01);
	/* b releases it: free for placement, and a takes it back */
	struct es_cluster_req rel = { .type = ES_CLUSTER_RELEASE, .floor = "lobby" };
	check_int_eq(request(b, &rel, NULL), 0);
	check(WAIT(hosted(a) == 1, 5000));
	check_int_eq(es_cluster_seat_get(a->c, "lobby", key, &x, &y, &f), 0);
	check_near(x, 7.0, 0.01);
	/* draining: the registration says so (placement then gives it nothing),
	 * and a floor it releases is not claimed back by it */
	struct es_cluster_req dr = { .type = ES_CLUSTER_DRAIN, .on = true };
	check_int_eq(request(a, &dr, NULL), 0);
	check(WAIT(es_cluster_daemons(b->c, ds, 4) == 2 && ds[0].draining && !ds[1].draining, 3000));
	check_int_eq(request(a, &rel, NULL), 0);
	usleep(500000);
	pump_all();
	check_int_eq(hosted(a), 0);
	check_int_eq(es_cluster_floor_owner(a->c, "lobby", NULL), -ENOENT);
	stop(b);
	stop(a);
	test_log("seats and handover: ok");
}

/* ---- 5 and 6. etcd in trouble ----------------------------------------------- */

static void test_etcd_trouble(struct es_etcd *e)
{
	char comp[80];
	snprintf(comp, sizeof(comp), "%s-trouble", company);
	static const char *const floors[] = { "t1", "t2" };
	struct es_cluster_config ca = config(comp, "steady", floors, 2);
	struct daemon *a = start(&ca);
	check(WAIT(hosted(a) == 2, 5000));
	uint8_t key[32] = { 0x77 };
	struct es_cluster_req enrol = { .type = ES_CLUSTER_ENROL, .name = "erin" };
	memcpy(enrol.key, key, 32);
	check_int_eq(request(a, &enrol, NULL), 0);
	char hex[65], text[ES_CLUSTER_TEXT_MAX + 1];
	es_cluster_hex(key, hex);
	check(WAIT(es_cluster_record_get(a->c, ES_CLUSTER_REC_PERSON, hex, text, sizeof(text)) == 0, 3000));

	/* the leader killed: an election, and nothing is noticed, for two lease lifetimes */
	char killed[32];
	fixture_ask(killed, sizeof(killed), "kill-leader");
	int leader = atoi(killed);
	struct es_cluster_req mute = { .type = ES_CLUSTER_MUTE, .on = true };
	memcpy(mute.key, key, 32);
	int64_t t0 = es_now_ms();
	while (es_now_ms() - t0 < 2 * TTL_S * 1000) {
		check_int_eq(request(a, &mute, NULL), 0);
		check_int_eq(es_cluster_seat(a->c, "t1", key, 1, 2, 0), 0);
		usleep(200000);
	}
	struct es_cluster_stats st = stats(a);
	test_log("leader (member %d) killed: unreachable %llu, leases lost %llu, floors %llu, lost %u, etcd failovers %llu",
		leader, (unsigned long long)st.unreachable, (unsigned long long)st.leases_lost,
		(unsigned long long)st.floors_hosted, a->lost, (unsigned long long)st.etcd_failovers);
	check_int_eq(st.unreachable, 0);
	check_int_eq(a->unreachable, 0);
	check_int_eq(st.leases_lost, 0);
	check_int_eq(a->lost, 0);
	check_int_eq(st.floors_hosted, 2);
	fixture_do("start %d", leader);

	/* all of etcd down */
	uint64_t written = stats(a).seats_written;
	fixture_do("stop-all");
	int64_t down_at = es_now_ms();
	/* noticed within a keepalive period (TTL/3) plus a call's budget, or
	 * at once when a watch loses its stream */
	check(WAIT(a->unreachable == 1, TTL_S * 1000 + 2000));
	test_log("all down: the module said unreachable after %lld ms", (long long)(es_now_ms() - down_at));
	check(!stats(a).reachable);
	check_int_eq(stats(a).unreachable, 1);
	/* requests fail fast */
	uint64_t t;
	int64_t asked = es_now_ms();
	check_int_eq(submit(a, &mute, &t), 0);
	int result = 0;
	check(WAIT(done(a, t, &result, NULL), 3000));
	int64_t took = es_now_ms() - asked;
	test_log("all down: a request failed with %d in %lld ms", result, (long long)took);
	check_int_eq(result, -ENOTCONN);
	check(took < 1000 + 1000); /* at most one call's budget, and margin */
	/* the floors keep running; the snapshot still answers; seats wait */
	check_int_eq(es_cluster_seat(a->c, "t2", key, 5, 6, 0), 0);
	usleep((TTL_S + 1) * 1000000); /* longer than the lease: nothing may be given up */
	pump_all();
	check_int_eq(hosted(a), 2);
	check_int_eq(a->lost, 0);
	check_int_eq(a->unreachable, 1); /* one event, not one per failed call */
	check_int_eq(es_cluster_record_get(a->c, ES_CLUSTER_REC_PERSON, hex, text, sizeof(text)), 0);
	check(strcmp(text, "erin") == 0);

	fixture_do("start-all");
	int64_t up_at = es_now_ms();
	check(WAIT(a->reachable == 1, 10000));
	test_log("all back: reachable again %lld ms after etcd was", (long long)(es_now_ms() - up_at));
	check(stats(a).reachable);
	check(WAIT(stats(a).seats_written > written, 5000)); /* the seat that waited */
	check_int_eq(request(a, &mute, NULL), 0);
	check_int_eq(hosted(a), 2);
	check_int_eq(a->lost, 0);
	/* the seat written while etcd was down is in etcd now */
	char sk[256];
	snprintf(sk, sizeof(sk), "/earshot/%s/seats/t2/%s", comp, hex);
	struct es_etcd_range r;
	check(WAIT(es_etcd_get(e, sk, false, 0, 0, &r) == 1 || (es_etcd_range_clear(&r), false), 3000));
	check(strncmp(r.kvs[0].value, "5.00 6.00", 9) == 0);
	es_etcd_range_clear(&r);
	check_int_eq(owners_named(e, comp, "\"steady\""), 2);
	stop(a);
	test_log("etcd trouble: ok");
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "child") == 0) {
		endpoints = getenv("ES_ETCD_ENDPOINTS");
		return child_main(argv[2], argv[3]);
	}
	endpoints = fixture_endpoints();
	check(es_etcd_global_init() == 0);
	es_log_set_level(ES_LOG_INFO);
	snprintf(company, sizeof(company), "t%d", (int)getpid());
	struct es_etcd *e = es_etcd_new(endpoints, 2000);
	check(e != NULL);
	test_dead_daemon(e);
	test_contention(e);
	test_invite_race();
	test_seats_handover();
	test_etcd_trouble(e);
	es_etcd_free(e);
	return 0;
}
