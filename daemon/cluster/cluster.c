/* SPDX-License-Identifier: MIT */
/*
 * The cluster module's lifecycle and its thread (cluster.h).  The thread's
 * loop, in order of what must never be late:
 *
 *   1. the lease: renewed every TTL/3 (or, while etcd is unreachable,
 *      asked every ES_CLUSTER_PROBE_MS), taken and registered when there is
 *      none;
 *   2. the requests the daemon queued, each answered with a DONE event;
 *   3. the floors: what the watch saw change about ownership, and the
 *      free floors placement gives this daemon (cluster-floors.c);
 *   4. the seats batch and the load, when their intervals are up;
 *
 * then it sleeps until the next of those deadlines or until someone wakes
 * it (a request, a change in place/, a watch that lost its stream).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "clock.h"
#include "cluster-private.h"
#include "log.h"

/* ---- small shared helpers ------------------------------------------------ */

void es_cluster_hex(const uint8_t key[static 32], char out[static 65])
{
	static const char hx[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hx[key[i] >> 4];
		out[2 * i + 1] = hx[key[i] & 15];
	}
	out[64] = 0;
}

bool es_cluster_key(const struct es_cluster *c, char *k, size_t cap, const char *fmt, ...)
{
	int n = snprintf(k, cap, "%s", c->prefix);
	if (n < 0 || (size_t)n >= cap)
		return false;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(k + n, cap - (size_t)n, fmt, ap);
	va_end(ap);
	return m >= 0 && (size_t)m < cap - (size_t)n;
}

/* 1..64 bytes, printable, no '/' unless slash_ok */
bool es_cluster_valid_name(const char *s, bool slash_ok)
{
	size_t n = strnlen(s, ES_CLUSTER_ID_MAX + 1);
	if (n == 0 || n > ES_CLUSTER_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch == 0x7f || (ch == '/' && !slash_ok))
			return false;
	}
	return true;
}

static bool valid_ident(const char *s)
{
	size_t n = s ? strnlen(s, ES_CLUSTER_ID_MAX + 1) : 0;
	if (n == 0 || n > ES_CLUSTER_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

void es_cluster_stat_add(struct es_cluster *c, size_t offset, uint64_t n)
{
	pthread_mutex_lock(&c->st);
	*(uint64_t *)((char *)&c->stats + offset) += n;
	pthread_mutex_unlock(&c->st);
}

void es_cluster_wake(struct es_cluster *c)
{
	pthread_mutex_lock(&c->q);
	c->poke = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->q);
}

/* ---- events -------------------------------------------------------------- */

void es_cluster_emit(struct es_cluster *c, const struct es_cluster_event *ev)
{
	bool dropped = false;
	pthread_mutex_lock(&c->q);
	if (c->ev_n == ES_CLUSTER_EVENTS) {
		c->ev_overflow = true;
		dropped = true;
	} else {
		c->ev[(c->ev_head + c->ev_n) % ES_CLUSTER_EVENTS] = *ev;
		c->ev_n++;
	}
	uint64_t one = 1;
	/* a full counter (never: it is read to zero when the queue empties) would only make this fail */
	if (write(c->efd, &one, sizeof(one)) < 0) {
	}
	pthread_mutex_unlock(&c->q);
	if (dropped)
		ES_STAT_ADD(c, events_dropped, 1);
}

int es_cluster_fd(const struct es_cluster *c)
{
	return c->efd;
}

size_t es_cluster_poll(struct es_cluster *c, struct es_cluster_event *ev, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&c->q);
	if (c->ev_overflow && n < max) {
		memset(&ev[n], 0, sizeof(ev[n]));
		ev[n++].type = ES_CLUSTER_RESYNC;
		c->ev_overflow = false;
	}
	while (c->ev_n && n < max) {
		ev[n++] = c->ev[c->ev_head];
		c->ev_head = (c->ev_head + 1) % ES_CLUSTER_EVENTS;
		c->ev_n--;
	}
	if (!c->ev_n && !c->ev_overflow) {
		uint64_t v;
		if (read(c->efd, &v, sizeof(v)) < 0) {
			/* EAGAIN: nothing was signalled */
		}
	}
	pthread_mutex_unlock(&c->q);
	return n;
}

/* ---- reachability -------------------------------------------------------- */

int es_cluster_note(struct es_cluster *c, int r)
{
	int64_t now = es_now_ms();
	if (r < 0 && es_etcd_unreachable(r)) {
		if (!c->fail_since_ms)
			c->fail_since_ms = now;
		/* every member refused: nothing listens, say so now; timeouts and
		 * "no leader" may be an election: only once they have lasted */
		if (c->reachable && (r == -ECONNREFUSED || now - c->fail_since_ms >= c->unreachable_after_ms)) {
			c->reachable = false;
			c->down_since_ms = c->fail_since_ms;
			es_log_warn("cluster: %s: etcd unreachable (%s): floors keep running, placements wait", c->id, strerror(-r));
			pthread_mutex_lock(&c->st);
			c->stats.reachable = false;
			c->stats.unreachable++;
			pthread_mutex_unlock(&c->st);
			struct es_cluster_event ev = { .type = ES_CLUSTER_UNREACHABLE, .result = r };
			es_cluster_emit(c, &ev);
		}
		return r;
	}
	c->fail_since_ms = 0;
	if (!c->reachable) {
		c->reachable = true;
		int64_t down = now - c->down_since_ms;
		es_log_info("cluster: %s: etcd reachable again after %.1f s (%s)", c->id, (double)down / 1000.0,
			es_etcd_endpoint(c->etcd));
		pthread_mutex_lock(&c->st);
		c->stats.reachable = true;
		c->stats.unreachable_ms += (uint64_t)down;
		pthread_mutex_unlock(&c->st);
		struct es_cluster_event ev = { .type = ES_CLUSTER_REACHABLE };
		es_cluster_emit(c, &ev);
		/* the watches may be in their backoff: resume them now */
		es_etcd_watch_kick(c->w_place);
		es_etcd_watch_kick(c->w_office);
	}
	return r;
}

/* ---- the lease and the registration -------------------------------------- */

static char *registration_json(struct es_cluster *c, uint32_t load, uint32_t floors)
{
	struct json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "address", json_object_new_string(c->address));
	json_object_object_add(o, "relay", json_object_new_string(c->relay));
	json_object_object_add(o, "load", json_object_new_int64(load));
	json_object_object_add(o, "capacity", json_object_new_int64(c->capacity));
	json_object_object_add(o, "floors", json_object_new_int64(floors));
	json_object_object_add(o, "draining", json_object_new_boolean(c->draining));
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

/*
 * Put the registration under our lease.  The first time (create) only if
 * no live daemon holds this id: two daemons with one id would both believe
 * they own its floors.  An id held under our own lease is ours (a retried
 * call that had in fact succeeded).
 */
static int publish(struct es_cluster *c, bool create)
{
	char key[ES_CLUSTER_KEY_MAX];
	if (!es_cluster_key(c, key, sizeof(key), "place/daemons/%s", c->id))
		return -ENAMETOOLONG;
	uint32_t load = atomic_load(&c->load);
	uint32_t floors = (uint32_t)es_cluster_hosted_count(c);
	char *val = registration_json(c, load, floors);
	if (!val)
		return -ENOMEM;
	int r;
	struct es_etcd_op put = { .type = ES_ETCD_OP_PUT, .key = key, .value = val, .value_len = strlen(val), .lease = c->lease };
	if (create) {
		struct es_etcd_cmp absent = { .key = key, .target = ES_ETCD_CREATE, .op = ES_ETCD_EQ, .number = 0 };
		struct es_etcd_cmp mine = { .key = key, .target = ES_ETCD_LEASE, .op = ES_ETCD_EQ, .number = c->lease };
		struct es_etcd_txn t = { .cmp = &absent, .n_cmp = 1, .success = &put, .n_success = 1 };
		r = es_cluster_note(c, es_etcd_txn(c->etcd, &t, NULL));
		if (r == 0) {
			t.cmp = &mine;
			r = es_cluster_note(c, es_etcd_txn(c->etcd, &t, NULL));
			if (r == 0)
				r = -EEXIST;
		}
		r = r == 1 ? 0 : r;
	} else {
		/* a put bound to a lease that is gone fails (-ENOENT): no ghost registration */
		r = es_cluster_note(c, es_etcd_put(c->etcd, key, val, strlen(val), c->lease, NULL));
	}
	free(val);
	if (r == 0) {
		c->pub_load = load;
		c->pub_floors = floors;
		c->pub_draining = c->draining;
		ES_STAT_ADD(c, load_updates, 1);
	}
	return r;
}

static void declare_floors(struct es_cluster *c)
{
	for (size_t i = 0; i < c->n_floors; i++) {
		char key[ES_CLUSTER_KEY_MAX];
		if (!es_cluster_key(c, key, sizeof(key), "place/floors/%s", c->floors[i]))
			continue;
		struct es_etcd_cmp absent = { .key = key, .target = ES_ETCD_CREATE, .op = ES_ETCD_EQ, .number = 0 };
		struct es_etcd_op put = { .type = ES_ETCD_OP_PUT, .key = key, .value = "", .value_len = 0 };
		struct es_etcd_txn t = { .cmp = &absent, .n_cmp = 1, .success = &put, .n_success = 1 };
		if (es_cluster_note(c, es_etcd_txn(c->etcd, &t, NULL)) < 0)
			return;
	}
	c->floors_declared = true;
}

static void lease_lost(struct es_cluster *c, const char *why)
{
	es_log_warn("cluster: lease %llx of daemon %s %s: registering again", (unsigned long long)c->lease, c->id, why);
	c->lease = 0;
	c->registered = false;
	pthread_mutex_lock(&c->st);
	c->stats.registered = false;
	c->stats.leases_lost++;
	pthread_mutex_unlock(&c->st);
	es_cluster_floors_lease_lost(c);
}

static void registration_step(struct es_cluster *c, int64_t now)
{
	if (c->lease && now >= c->next_keepalive_ms) {
		int64_t ttl = 0;
		int r = es_cluster_note(c, es_etcd_lease_keepalive(c->etcd, c->lease, &ttl));
		ES_STAT_ADD(c, keepalives, 1);
		if (r == -ENOENT) {
			lease_lost(c, "expired");
		} else if (r < 0) {
			c->next_keepalive_ms = now + ES_CLUSTER_PROBE_MS;
		} else {
			c->next_keepalive_ms = now + c->ttl_s * 1000 / 3;
		}
	}
	if (!c->lease && now >= c->next_register_ms) {
		int r = es_cluster_note(c, es_etcd_lease_grant(c->etcd, c->ttl_s, &c->lease, NULL));
		if (r < 0) {
			c->lease = 0;
			c->next_register_ms = now + ES_CLUSTER_PROBE_MS;
			return;
		}
		c->next_keepalive_ms = now + c->ttl_s * 1000 / 3;
	}
	if (c->lease && !c->registered && now >= c->next_register_ms) {
		int r = publish(c, true);
		if (r == 0) {
			c->registered = true;
			pthread_mutex_lock(&c->st);
			c->stats.registered = true;
			pthread_mutex_unlock(&c->st);
			es_log_info("cluster: daemon %s registered in company %s at %s (lease %llx, ttl %u s)", c->id,
				c->company, c->address, (unsigned long long)c->lease, c->ttl_s);
		} else if (r == -EEXIST) {
			/* another live daemon has this id; its lease may be a dead
			 * incarnation of ours that expires within the TTL */
			es_log_error("cluster: daemon id %s is registered by another live daemon; retrying", c->id);
			c->next_register_ms = now + c->ttl_s * 1000 / 2;
		} else if (r == -ENOENT) {
			lease_lost(c, "vanished before registration");
		} else {
			c->next_register_ms = now + ES_CLUSTER_PROBE_MS;
		}
	}
	if (c->registered && !c->floors_declared)
		declare_floors(c);
}

static void load_step(struct es_cluster *c, int64_t now)
{
	if (!c->registered || !c->reachable || now < c->next_load_ms)
		return;
	uint32_t load = atomic_load(&c->load);
	uint32_t step = c->capacity / 100 ? c->capacity / 100 : 1;
	uint32_t diff = load > c->pub_load ? load - c->pub_load : c->pub_load - load;
	if (diff < step && es_cluster_hosted_count(c) == c->pub_floors && c->draining == c->pub_draining)
		return;
	int r = publish(c, false);
	if (r == -ENOENT)
		lease_lost(c, "was gone at a load update");
	c->next_load_ms = now + c->load_publish_ms;
}

/* ---- requests ------------------------------------------------------------ */

/* Put a request back at the head of the queue.  False if the queue filled meanwhile. */
static bool requeue_head(struct es_cluster *c, const struct es_cluster_req *r, uint64_t ticket, int64_t at, uint8_t tries)
{
	bool ok = false;
	pthread_mutex_lock(&c->q);
	if (c->req_n < ES_CLUSTER_QUEUE) {
		c->req_head = (c->req_head + ES_CLUSTER_QUEUE - 1) % ES_CLUSTER_QUEUE;
		c->req[c->req_head] = *r;
		c->req_ticket[c->req_head] = ticket;
		c->req_at[c->req_head] = at;
		c->req_tries[c->req_head] = tries;
		c->req_n++;
		ok = true;
	}
	pthread_mutex_unlock(&c->q);
	return ok;
}

/*
 * The queued requests, oldest first.  One that meets a passing failure
 * (an election: etcd answers "no leader" or not in time, but not every
 * member refuses) goes back to the head and is tried again 100 ms later,
 * for up to ES_CLUSTER_RETRY_MS, so a member dying is not noticed by the
 * admin either.  With etcd unreachable every request fails at once.
 */
static void requests_step(struct es_cluster *c, int64_t now)
{
	if (now < c->req_retry_ms)
		return;
	for (int budget = 64; budget > 0; budget--) {
		struct es_cluster_req r;
		uint64_t ticket;
		int64_t at;
		uint8_t tries;
		pthread_mutex_lock(&c->q);
		if (!c->req_n) {
			pthread_mutex_unlock(&c->q);
			return;
		}
		r = c->req[c->req_head];
		ticket = c->req_ticket[c->req_head];
		at = c->req_at[c->req_head];
		tries = c->req_tries[c->req_head];
		c->req_head = (c->req_head + 1) % ES_CLUSTER_QUEUE;
		c->req_n--;
		pthread_mutex_unlock(&c->q);

		struct es_cluster_event ev = { .type = ES_CLUSTER_DONE, .ticket = ticket };
		if (!c->reachable)
			ev.result = -ENOTCONN; /* fail fast: etcd is not there */
		else if (!c->registered)
			ev.result = -EAGAIN;   /* a lease being taken again: passing */
		else
			ev.result = es_cluster_run_request(c, &r, tries > 0, ev.text, sizeof(ev.text));
		if (!c->reachable && es_etcd_unreachable(ev.result))
			ev.result = -ENOTCONN; /* this very call found etcd gone */
		bool passing = ev.result == -EAGAIN || (es_etcd_unreachable(ev.result) && ev.result != -ENOTCONN);
		if (passing && c->reachable && es_now_ms() - at < ES_CLUSTER_RETRY_MS &&
		    requeue_head(c, &r, ticket, at, tries < 255 ? tries + 1 : tries)) {
			c->req_retry_ms = es_now_ms() + 100;
			return;
		}
		ES_STAT_ADD(c, requests, 1);
		if (ev.result < 0)
			ES_STAT_ADD(c, requests_failed, 1);
		es_cluster_emit(c, &ev);
	}
}

int es_cluster_submit(struct es_cluster *c, const struct es_cluster_req *req, uint64_t *ticket)
{
	int r = es_cluster_check_request(req);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->q);
	if (c->req_n == ES_CLUSTER_QUEUE) {
		pthread_mutex_unlock(&c->q);
		return -EAGAIN;
	}
	size_t i = (c->req_head + c->req_n) % ES_CLUSTER_QUEUE;
	c->req[i] = *req;
	c->req_ticket[i] = ++c->next_ticket;
	c->req_at[i] = es_now_ms();
	c->req_tries[i] = 0;
	if (ticket)
		*ticket = c->next_ticket;
	c->req_n++;
	c->poke = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->q);
	return 0;
}

void es_cluster_set_load(struct es_cluster *c, uint32_t people)
{
	atomic_store(&c->load, people);
}

/* ---- the thread ---------------------------------------------------------- */

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static void *cluster_main(void *arg)
{
	struct es_cluster *c = arg;
	for (;;) {
		int64_t now = es_now_ms();
		pthread_mutex_lock(&c->q);
		bool stop = c->stop, probe = c->probe;
		c->probe = false;
		pthread_mutex_unlock(&c->q);
		if (stop)
			break;
		if (probe && c->lease)
			c->next_keepalive_ms = now; /* a watch lost its stream: is etcd there? */

		registration_step(c, now);
		requests_step(c, es_now_ms());
		if (c->registered && c->reachable)
			es_cluster_floors_step(c, es_now_ms());
		now = es_now_ms();
		if (now >= c->next_seat_ms) {
			es_cluster_seats_flush(c, false);
			c->next_seat_ms = now + c->seat_flush_ms;
		}
		load_step(c, now);
		struct es_etcd_stats es;
		es_etcd_get_stats(c->etcd, &es);
		pthread_mutex_lock(&c->st);
		c->stats.etcd_calls = es.calls;
		c->stats.etcd_writes = es.writes;
		c->stats.etcd_failovers = es.failovers;
		pthread_mutex_unlock(&c->st);

		/* sleep until the next deadline, or a wake-up */
		now = es_now_ms();
		int64_t until = now + 1000;
		if (c->lease)
			until = min64(until, c->next_keepalive_ms);
		else
			until = min64(until, c->next_register_ms);
		if (c->lease && !c->registered)
			until = min64(until, c->next_register_ms);
		until = min64(until, c->next_seat_ms);
		if (c->next_claim_ms)
			until = min64(until, c->next_claim_ms);
		bool retry_wait = now < c->req_retry_ms;
		if (retry_wait)
			until = min64(until, c->req_retry_ms);
		if (until < now + 1)
			until = now + 1;
		pthread_mutex_lock(&c->q);
		if (!c->poke && !c->stop && (!c->req_n || retry_wait)) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			int64_t wait = until - now;
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&c->wake, &c->q, &ts);
		}
		c->poke = false;
		pthread_mutex_unlock(&c->q);
	}
	/* leaving: seats first (they need the lease), then the lease itself */
	if (c->reachable && c->lease) {
		es_cluster_seats_flush(c, true);
		int r = es_etcd_lease_revoke(c->etcd, c->lease);
		es_log_info("cluster: daemon %s left company %s%s", c->id, c->company,
			r == 0 ? "" : " (the lease could not be revoked: its floors are free after its TTL)");
	}
	return NULL;
}

/* ---- lifecycle ----------------------------------------------------------- */

static bool valid_addr(const char *s)
{
	size_t n = s ? strnlen(s, ES_CLUSTER_ADDR_MAX + 1) : 0;
	return n > 0 && n <= ES_CLUSTER_ADDR_MAX && strchr(s, ':') && es_cluster_valid_name(s, false);
}

struct es_cluster *es_cluster_new(const struct es_cluster_config *cfg)
{
	if (!cfg || !cfg->endpoints || !valid_ident(cfg->company) || !valid_ident(cfg->daemon_id) ||
	    !valid_addr(cfg->address) || (cfg->relay_address && !valid_addr(cfg->relay_address)) ||
	    cfg->capacity == 0 || cfg->ttl_s > 3600) {
		errno = EINVAL;
		return NULL;
	}
	for (size_t i = 0; i < cfg->n_floors; i++) {
		if (!cfg->floors[i] || !es_cluster_valid_name(cfg->floors[i], false)) {
			errno = EINVAL;
			return NULL;
		}
	}
	int r = es_etcd_global_init();
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	struct es_cluster *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	snprintf(c->company, sizeof(c->company), "%s", cfg->company);
	snprintf(c->id, sizeof(c->id), "%s", cfg->daemon_id);
	snprintf(c->address, sizeof(c->address), "%s", cfg->address);
	snprintf(c->relay, sizeof(c->relay), "%s", cfg->relay_address ? cfg->relay_address : cfg->address);
	snprintf(c->prefix, sizeof(c->prefix), "/earshot/%s/", cfg->company);
	c->capacity = cfg->capacity;
	c->ttl_s = cfg->ttl_s ? cfg->ttl_s : 3;
	if (c->ttl_s < 2)
		c->ttl_s = 2; /* renewed every TTL/3: below 2 s that is under a round of a loaded etcd */
	c->call_timeout_ms = cfg->call_timeout_ms ? cfg->call_timeout_ms : ES_ETCD_TIMEOUT_MS;
	c->floor_weight = cfg->floor_weight ? cfg->floor_weight : 50;
	c->claim_step_ms = cfg->claim_step_ms ? cfg->claim_step_ms : 1000;
	c->seat_flush_ms = cfg->seat_flush_ms ? cfg->seat_flush_ms : 1000;
	c->load_publish_ms = cfg->load_publish_ms ? cfg->load_publish_ms : 2000;
	c->unreachable_after_ms = cfg->unreachable_after_ms ? cfg->unreachable_after_ms : 3000;
	c->no_claims = cfg->no_claims;
	c->claim_at_once = cfg->claim_at_once;
	c->reachable = true; /* until a call says otherwise: the first failure is the one logged */
	c->stats.reachable = true;
	c->efd = -1;
	atomic_init(&c->load, 0);
	pthread_mutex_init(&c->snap, NULL);
	pthread_mutex_init(&c->q, NULL);
	pthread_mutex_init(&c->st, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->wake, &ca);
	pthread_condattr_destroy(&ca);

	r = -ENOMEM;
	c->endpoints = strdup(cfg->endpoints);
	c->floors = cfg->n_floors ? calloc(cfg->n_floors, sizeof(char *)) : NULL;
	if (!c->endpoints || (cfg->n_floors && !c->floors))
		goto err;
	for (size_t i = 0; i < cfg->n_floors; i++) {
		if (!(c->floors[i] = strdup(cfg->floors[i])))
			goto err;
		c->n_floors = i + 1;
	}
	c->daemons = es_strmap_new();
	c->floorset = es_strmap_new();
	c->owners = es_strmap_new();
	c->office = es_strmap_new();
	c->hosting = es_strmap_new();
	c->seats = es_strmap_new();
	c->pending_seats = es_strmap_new();
	c->free_since = es_strmap_new();
	c->given_away = es_strmap_new();
	c->req = calloc(ES_CLUSTER_QUEUE, sizeof(*c->req));
	c->req_ticket = calloc(ES_CLUSTER_QUEUE, sizeof(*c->req_ticket));
	c->req_at = calloc(ES_CLUSTER_QUEUE, sizeof(*c->req_at));
	c->req_tries = calloc(ES_CLUSTER_QUEUE, sizeof(*c->req_tries));
	c->ev = calloc(ES_CLUSTER_EVENTS, sizeof(*c->ev));
	if (!c->daemons || !c->floorset || !c->owners || !c->office || !c->hosting || !c->seats ||
	    !c->pending_seats || !c->free_since || !c->given_away || !c->req || !c->req_ticket || !c->req_at || !c->req_tries || !c->ev)
		goto err;
	c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->efd < 0) {
		r = -errno;
		goto err;
	}
	c->etcd = es_etcd_new(c->endpoints, c->call_timeout_ms);
	if (!c->etcd) {
		r = -errno;
		goto err;
	}
	char key[ES_CLUSTER_KEY_MAX];
	es_cluster_key(c, key, sizeof(key), "place/");
	c->w_place = es_etcd_watch_new(c->endpoints, c->call_timeout_ms, key, 0, es_cluster_on_place, c);
	if (!c->w_place) {
		r = -errno;
		goto err;
	}
	es_cluster_key(c, key, sizeof(key), "office/");
	c->w_office = es_etcd_watch_new(c->endpoints, c->call_timeout_ms, key, 0, es_cluster_on_office, c);
	if (!c->w_office) {
		r = -errno;
		goto err_watch;
	}
	r = -pthread_create(&c->thread, NULL, cluster_main, c);
	if (r < 0)
		goto err_thread;
	return c;

err_thread:
	es_etcd_watch_free(c->w_office);
err_watch:
	es_etcd_watch_free(c->w_place);
err:
	c->w_place = c->w_office = NULL;
	c->thread = 0;
	/* nothing started: free as es_cluster_free would, without joining */
	es_etcd_free(c->etcd);
	if (c->efd >= 0)
		close(c->efd);
	for (size_t i = 0; i < c->n_floors; i++)
		free(c->floors[i]);
	free(c->floors);
	free(c->endpoints);
	es_strmap_free(c->daemons);
	es_strmap_free(c->floorset);
	es_strmap_free(c->owners);
	es_strmap_free(c->office);
	es_strmap_free(c->hosting);
	es_strmap_free(c->seats);
	es_strmap_free(c->pending_seats);
	es_strmap_free(c->free_since);
	es_strmap_free(c->given_away);
	free(c->req);
	free(c->req_ticket);
	free(c->req_at);
	free(c->req_tries);
	free(c->ev);
	pthread_mutex_destroy(&c->snap);
	pthread_mutex_destroy(&c->q);
	pthread_mutex_destroy(&c->st);
	pthread_cond_destroy(&c->wake);
	free(c);
	errno = -r;
	return NULL;
}

void es_cluster_free(struct es_cluster *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->q);
	c->stop = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->q);
	pthread_join(c->thread, NULL);
	/* the watches call into the snapshot: stop them before it goes */
	es_etcd_watch_free(c->w_place);
	es_etcd_watch_free(c->w_office);
	es_etcd_free(c->etcd);
	close(c->efd);
	for (size_t i = 0; i < c->n_floors; i++)
		free(c->floors[i]);
	free(c->floors);
	free(c->endpoints);
	es_strmap_free(c->daemons);
	es_strmap_free(c->floorset);
	es_strmap_free(c->owners);
	es_strmap_free(c->office);
	es_strmap_free(c->hosting);
	es_strmap_free(c->seats);
	es_strmap_free(c->pending_seats);
	es_strmap_free(c->free_since);
	es_strmap_free(c->given_away);
	free(c->req);
	free(c->req_ticket);
	free(c->req_at);
	free(c->req_tries);
	free(c->ev);
	pthread_mutex_destroy(&c->snap);
	pthread_mutex_destroy(&c->q);
	pthread_mutex_destroy(&c->st);
	pthread_cond_destroy(&c->wake);
	free(c);
}

void es_cluster_get_stats(struct es_cluster *c, struct es_cluster_stats *st)
{
	pthread_mutex_lock(&c->st);
	*st = c->stats;
	pthread_mutex_unlock(&c->st);
	st->floors_hosted = es_cluster_hosted_count(c);
}
