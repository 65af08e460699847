/* SPDX-License-Identifier: MIT */
/* One daemon of a company: see company.h and docs/CLUSTER.md. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cluster.h"
#include "company.h"
#include "earshot-mixer.h"
#include "log.h"
#include "saver.h"
#include "server.h"
#include "service-private.h"
#include "stage.h"
#include "state.h"

#define EVENTS_PER_TICK 32
#define LOAD_EVERY_TICKS 50 /* the load is published once a second */
#define BALANCE_EVERY_TICKS 150 /* empty floors are spread over the daemons every 3 s */

#define REDEEMS_MAX 64
#define REDEEM_KEEP_MS 30000

/* An invite being redeemed in etcd for a joiner who is told to retry soon meanwhile. */
struct redeem {
	bool used, done;
	uint8_t hash[32], key[32];
	uint64_t ticket;
	int result;
	char name[ES_CLUSTER_TEXT_MAX + 1];
	uint64_t since_tick;
};

struct es_company {
	struct es_cluster *cl;
	char id[ES_CLUSTER_ID_MAX + 1];
	char address[ES_CLUSTER_ADDR_MAX + 1];
	unsigned nfloors;
	char floors[ES_COMPANY_FLOORS_MAX][65];
	float floor_h_m; /* one floor's height in the stacked plan */
	bool hosted[ES_COMPANY_FLOORS_MAX];
	bool draining;
	bool reachable;
	uint64_t ticks;
	struct es_company_stats st;
	struct redeem redeems[REDEEMS_MAX];
	struct es_stage *stage; /* the company-wide stage relay (stage.h) */
};

struct es_company *es_company_start(const struct es_config *cfg, const struct es_floor *floor)
{
	errno = 0;
	if (!cfg->cluster_etcd[0])
		return NULL;
	struct es_company *co = calloc(1, sizeof(*co));
	if (!co)
		return NULL;
	int n = es_config_floors(cfg, co->floors, ES_COMPANY_FLOORS_MAX);
	if (n <= 0) {
		es_log_error("[cluster] floors: '%s' is not a list of floor names", cfg->cluster_floors);
		free(co);
		errno = EINVAL;
		return NULL;
	}
	co->nfloors = (unsigned)n;
	co->floor_h_m = floor ? es_floor_height_m(floor) / (float)n : 0.0f;
	if (cfg->cluster_daemon_id[0])
		snprintf(co->id, sizeof(co->id), "%s", cfg->cluster_daemon_id);
	else if (gethostname(co->id, sizeof(co->id) - 1) < 0 || !co->id[0])
		snprintf(co->id, sizeof(co->id), "earshotd");
	snprintf(co->address, sizeof(co->address), "%s", cfg->cluster_address[0] ? cfg->cluster_address : cfg->listen.text);
	const char *fl[ES_COMPANY_FLOORS_MAX];
	for (unsigned i = 0; i < co->nfloors; i++)
		fl[i] = co->floors[i];
	char relay[ES_CLUSTER_ADDR_MAX + 1];
	co->stage = es_stage_new(cfg, co->id, co->address, co->nfloors, co->floor_h_m, relay, sizeof(relay));
	if (!co->stage) {
		int e = errno;
		free(co);
		errno = e;
		return NULL;
	}
	struct es_cluster_config cc = {
		.endpoints = cfg->cluster_etcd,
		.company = cfg->cluster_company,
		.daemon_id = co->id,
		.address = co->address,
		.relay_address = relay,
		.capacity = cfg->cluster_capacity ? cfg->cluster_capacity : cfg->max_people,
		.ttl_s = cfg->cluster_ttl_s,
		.floors = fl,
		.n_floors = co->nfloors,
	};
	co->cl = es_cluster_new(&cc);
	if (!co->cl) {
		int e = errno;
		es_log_error("cluster: cannot start (etcd %s, company %s, daemon %s): %s", cfg->cluster_etcd,
			     cfg->cluster_company, co->id, strerror(e));
		es_stage_free(co->stage);
		free(co);
		errno = e;
		return NULL;
	}
	co->reachable = true;
	co->st.floors = co->nfloors;
	es_log_info("cluster: daemon %s of company %s, %u floors of %.1f m, clients reach it at %s, etcd %s", co->id,
		    cfg->cluster_company, co->nfloors, (double)co->floor_h_m, co->address, cfg->cluster_etcd);
	return co;
}

void es_company_stop(struct es_company *co)
{
	if (!co)
		return;
	es_cluster_free(co->cl);
	es_stage_free(co->stage);
	free(co);
}

static int floor_index(const struct es_company *co, const char *name)
{
	for (unsigned i = 0; i < co->nfloors; i++)
		if (strcmp(co->floors[i], name) == 0)
			return (int)i;
	return -1;
}

int es_company_floor_at(const struct es_company *co, const struct es_pos *pos)
{
	if (!co || !(co->floor_h_m > 0.0f))
		return -1;
	float y = (float)pos->y_cm / 100.0f;
	if (y < 0.0f)
		return -1;
	unsigned band = (unsigned)(y / co->floor_h_m);
	/* y grows north and the plan's first tile is the northmost: floor k is band N-1-k */
	return band < co->nfloors ? (int)(co->nfloors - 1 - band) : -1;
}

/* The y band of floor k, in cm: y0 <= y < y1. */
static void floor_band(const struct es_company *co, unsigned k, int32_t *y0, int32_t *y1)
{
	unsigned band = co->nfloors - 1 - k;
	*y0 = (int32_t)lrintf((float)band * co->floor_h_m * 100.0f);
	*y1 = (int32_t)lrintf((float)(band + 1) * co->floor_h_m * 100.0f);
}

/* How many people stand on each floor here. */
static void floor_counts(const struct es_company *co, struct es_server *server, int *counts)
{
	int bands[ES_COMPANY_FLOORS_MAX];
	es_server_count_bands(server, (int32_t)lrintf(co->floor_h_m * 100.0f), co->nfloors, bands);
	for (unsigned k = 0; k < co->nfloors; k++)
		counts[k] = bands[co->nfloors - 1 - k];
}

/* The company's other live daemons' client addresses, after `first` (may be ""). */
static unsigned addresses(struct es_company *co, const char *first, char (*addr)[ES_REDIRECT_ADDR_MAX + 1], unsigned max)
{
	unsigned n = 0;
	if (first && first[0] && n < max)
		snprintf(addr[n++], ES_REDIRECT_ADDR_MAX + 1, "%s", first);
	struct es_cluster_daemon d[ES_REDIRECT_ADDRS_MAX * 2];
	size_t nd = es_cluster_daemons(co->cl, d, sizeof(d) / sizeof(d[0]));
	if (nd > sizeof(d) / sizeof(d[0]))
		nd = sizeof(d) / sizeof(d[0]);
	for (size_t i = 0; i < nd && n < max; i++) {
		if (d[i].self || !d[i].address[0] || (first && strcmp(d[i].address, first) == 0))
			continue;
		snprintf(addr[n++], ES_REDIRECT_ADDR_MAX + 1, "%s", d[i].address);
	}
	return n;
}

int es_company_address_list(struct es_company *co, char *out, size_t cap)
{
	char addr[ES_REDIRECT_ADDRS_MAX][ES_REDIRECT_ADDR_MAX + 1];
	unsigned n = addresses(co, co->address, addr, ES_REDIRECT_ADDRS_MAX);
	size_t len = 0;
	out[0] = 0;
	for (unsigned i = 0; i < n; i++) {
		int w = snprintf(out + len, cap - len, "%s%s", i ? "," : "", addr[i]);
		if (w < 0 || (size_t)w >= cap - len) {
			out[len] = 0;
			break;
		}
		len += (size_t)w;
	}
	return (int)n;
}

int es_company_where(struct es_company *co, const struct es_pos *pos, struct es_redirect *rd)
{
	int k = es_company_floor_at(co, pos);
	if (k < 0 || co->hosted[k])
		return 0;
	struct es_cluster_floor f;
	int r = es_cluster_floor_owner(co->cl, co->floors[k], &f);
	if (r == 1 || (r == 0 && strcmp(f.owner, co->id) == 0))
		return 0; /* ours (the FLOOR_GAINED event, its seats read, is on its way): seat them here */
	if (r < 0 || !f.address[0]) {
		co->st.busy_no_owner++;
		return -EAGAIN;
	}
	memset(rd, 0, sizeof(*rd));
	rd->reason = ES_REDIRECT_ELSEWHERE;
	rd->pos = *pos;
	rd->naddr = (uint8_t)addresses(co, f.address, rd->addr, ES_REDIRECT_ADDRS_MAX);
	co->st.redirects++;
	return 1;
}

int es_company_known(struct es_company *co, const uint8_t key[32], char *name, size_t cap)
{
	char hex[65];
	es_cluster_hex(key, hex);
	return es_cluster_record_get(co->cl, ES_CLUSTER_REC_PERSON, hex, name, cap) == 0 && name[0];
}

bool es_company_muted(struct es_company *co, const uint8_t key[32])
{
	char hex[65], by[ES_CLUSTER_TEXT_MAX + 1];
	es_cluster_hex(key, hex);
	return es_cluster_record_get(co->cl, ES_CLUSTER_REC_MUTE, hex, by, sizeof(by)) == 0;
}

struct desk_find {
	const char *hex;
	char *label;
	size_t cap;
	int found;
};

static void desk_find_one(void *arg, const char *id, const char *text)
{
	struct desk_find *df = arg;
	if (!df->found && strcmp(text, df->hex) == 0) {
		snprintf(df->label, df->cap, "%s", id);
		df->found = 1;
	}
}

int es_company_desk_of(struct es_company *co, const uint8_t key[32], char *label, size_t cap)
{
	char hex[65];
	es_cluster_hex(key, hex);
	struct desk_find df = {hex, label, cap, 0};
	es_cluster_record_each(co->cl, ES_CLUSTER_REC_DESK, desk_find_one, &df);
	return df.found;
}

int es_company_seat_of(struct es_company *co, const uint8_t key[32], struct es_pos *pos)
{
	for (unsigned k = 0; k < co->nfloors; k++) {
		float x, y, facing;
		if (!co->hosted[k] || es_cluster_seat_get(co->cl, co->floors[k], key, &x, &y, &facing) < 0)
			continue;
		if (!isfinite(x) || !isfinite(y) || !isfinite(facing) || fabsf(x) > 1e6f || fabsf(y) > 1e6f)
			continue;
		pos->x_cm = (int32_t)lrintf(x * 100.0f);
		pos->y_cm = (int32_t)lrintf(y * 100.0f);
		long dd = lrintf(facing * 1800.0f / (float)M_PI);
		pos->facing = (uint16_t)(((dd % 3600) + 3600) % 3600);
		return 1;
	}
	return 0;
}

static void submit(struct es_company *co, const struct es_cluster_req *req, const char *what)
{
	int r = es_cluster_submit(co->cl, req, NULL);
	if (r < 0)
		es_log_warn("cluster: cannot queue %s: %s", what, strerror(-r));
}

void es_company_enrolled(struct es_company *co, const uint8_t key[32], const char *name)
{
	struct es_cluster_req q = {.type = ES_CLUSTER_ENROL};
	memcpy(q.key, key, 32);
	snprintf(q.name, sizeof(q.name), "%s", name);
	submit(co, &q, "an enrolment");
}

void es_company_desk(struct es_company *co, const uint8_t key[32], const char *label)
{
	struct es_cluster_req q = {.type = ES_CLUSTER_DESK};
	memcpy(q.key, key, 32);
	snprintf(q.desk, sizeof(q.desk), "%s", label);
	submit(co, &q, "a desk");
}

void es_company_mute(struct es_company *co, const uint8_t key[32], bool on, const char *by)
{
	struct es_cluster_req q = {.type = ES_CLUSTER_MUTE, .on = on};
	memcpy(q.key, key, 32);
	snprintf(q.by, sizeof(q.by), "%s", by);
	submit(co, &q, "an admin mute");
}

void es_company_seat(struct es_company *co, const uint8_t key[32], int32_t x_cm, int32_t y_cm, uint16_t facing)
{
	struct es_pos p = {x_cm, y_cm, facing};
	int k = es_company_floor_at(co, &p);
	if (k < 0 || !co->hosted[k])
		return;
	int r = es_cluster_seat(co->cl, co->floors[k], key, (float)x_cm / 100.0f, (float)y_cm / 100.0f,
				(float)facing * (float)M_PI / 1800.0f);
	if (r < 0)
		es_log_warn("cluster: cannot queue a seat: %s", strerror(-r));
}

void es_company_invite_add(struct es_company *co, const uint8_t hash[32], const char *name, int64_t expires)
{
	struct es_cluster_req q = {.type = ES_CLUSTER_INVITE_ADD, .expires = expires};
	memcpy(q.hash, hash, 32);
	snprintf(q.name, sizeof(q.name), "%s", name);
	submit(co, &q, "an invite");
}

int es_company_redeem(struct es_company *co, const uint8_t hash[32], const uint8_t key[32], char *name, size_t cap)
{
	struct redeem *free_slot = NULL;
	for (unsigned i = 0; i < REDEEMS_MAX; i++) {
		struct redeem *r = &co->redeems[i];
		if (!r->used) {
			free_slot = free_slot ? free_slot : r;
			continue;
		}
		if (memcmp(r->hash, hash, 32) != 0 || sodium_memcmp(r->key, key, 32) != 0)
			continue;
		if (!r->done)
			return -EAGAIN;
		int res = r->result;
		snprintf(name, cap, "%s", r->name);
		sodium_memzero(r, sizeof(*r));
		return res;
	}
	if (!co->reachable)
		return -ENOTCONN;
	if (!free_slot)
		return -EAGAIN; /* many redeems at once: come back in a moment */
	struct es_cluster_req q = {.type = ES_CLUSTER_INVITE_REDEEM};
	memcpy(q.hash, hash, 32);
	memcpy(q.key, key, 32);
	int r = es_cluster_submit(co->cl, &q, &free_slot->ticket);
	if (r < 0)
		return r == -EAGAIN ? -EAGAIN : r;
	free_slot->used = true;
	free_slot->done = false;
	memcpy(free_slot->hash, hash, 32);
	memcpy(free_slot->key, key, 32);
	free_slot->since_tick = co->ticks;
	return -EAGAIN;
}

static void redeem_done(struct es_company *co, const struct es_cluster_event *e)
{
	for (unsigned i = 0; i < REDEEMS_MAX; i++) {
		struct redeem *r = &co->redeems[i];
		if (r->used && !r->done && r->ticket == e->ticket) {
			r->done = true;
			r->result = e->result;
			snprintf(r->name, sizeof(r->name), "%s", e->text);
			r->since_tick = co->ticks;
			return;
		}
	}
}

static void redeems_expire(struct es_company *co)
{
	for (unsigned i = 0; i < REDEEMS_MAX; i++) {
		struct redeem *r = &co->redeems[i];
		if (r->used && co->ticks - r->since_tick > REDEEM_KEEP_MS / 20)
			sodium_memzero(r, sizeof(*r)); /* the joiner gave up; a DONE after this is dropped */
	}
}

/* ---- events --------------------------------------------------------------- */

static int key_from_hex(const char *hex, uint8_t key[32])
{
	size_t bin_len;
	return strlen(hex) == 64 && sodium_hex2bin(key, 32, hex, 64, NULL, &bin_len, NULL) == 0 && bin_len == 32 ? 0 : -1;
}

/* Someone enrolled through another daemon: enrol them here too. */
static void apply_person(struct es_service *svc, const char *hex, const char *name)
{
	uint8_t key[32];
	if (key_from_hex(hex, key) < 0 || !name[0] || strlen(name) > ES_STATE_NAME_MAX)
		return;
	es_saver_lock(svc->saver);
	if (!es_state_find_key(svc->db, key) && !es_state_find_name(svc->db, name)) {
		struct es_person np = {0};
		memcpy(np.key, key, 32);
		snprintf(np.name, sizeof(np.name), "%s", name);
		if (es_state_put(svc->db, &np) == 0) {
			es_saver_mark_dirty(svc->saver);
			svc->company->st.records_applied++;
		}
	}
	es_saver_unlock(svc->saver);
}

/* Someone un-enrolled through another daemon: forget them here too (their own desk freed). */
static void forget_person(struct es_service *svc, const char *hex)
{
	uint8_t key[32];
	if (key_from_hex(hex, key) < 0)
		return;
	char desk[ES_STATE_DESK_MAX + 1] = "";
	es_saver_lock(svc->saver);
	struct es_person *p = es_state_find_key(svc->db, key);
	bool gone = false;
	if (p) {
		snprintf(desk, sizeof(desk), "%s", p->desk);
		gone = es_state_remove(svc->db, key) == 0;
		if (gone)
			es_saver_mark_dirty(svc->saver);
	}
	es_saver_unlock(svc->saver);
	if (gone) {
		svc->company->st.records_applied++;
		if (desk[0] && svc->server)
			(void)es_server_desk_own(svc->server, desk, false);
	}
}

/* A room an admin of any daemon locked ("plan/r<index>": the rooms of the one company plan) or opened. */
static void apply_lock(struct es_service *svc, const char *id, bool locked)
{
	unsigned room;
	char tail;
	if (sscanf(id, "plan/r%u%c", &room, &tail) != 1 || !svc->server)
		return;
	if (es_server_room_locked(svc->server, room) == locked)
		return;
	if (es_server_room_set(svc->server, room, !locked) >= 0) {
		svc->company->st.records_applied++;
		const struct es_floor *f = es_server_floor(svc->server);
		es_log_info("cluster: room '%s' %s by an admin of the company", f ? es_floor_room_name(f, room) : "?",
			    locked ? "closed and locked" : "opened");
	}
}

void es_company_lock(struct es_company *co, unsigned room, bool locked, const char *by)
{
	struct es_cluster_req q = {.type = ES_CLUSTER_LOCK, .on = locked};
	snprintf(q.floor, sizeof(q.floor), "plan");
	snprintf(q.room, sizeof(q.room), "r%u", room);
	snprintf(q.by, sizeof(q.by), "%s", by);
	submit(co, &q, "a room's lock");
}

void es_company_forget(struct es_company *co, const uint8_t key[32])
{
	struct es_cluster_req q = {.type = ES_CLUSTER_FORGET};
	memcpy(q.key, key, 32);
	submit(co, &q, "an un-enrolment");
}

static void apply_desk(struct es_service *svc, const char *label, const char *hex, bool deleted)
{
	uint8_t key[32];
	if (deleted || key_from_hex(hex, key) < 0 || strlen(label) > ES_STATE_DESK_MAX)
		return;
	es_saver_lock(svc->saver);
	struct es_person *p = es_state_find_key(svc->db, key);
	bool changed = p && strcmp(p->desk, label) != 0;
	if (changed) {
		snprintf(p->desk, sizeof(p->desk), "%s", label);
		es_saver_mark_dirty(svc->saver);
	}
	es_saver_unlock(svc->saver);
	if (changed && svc->server) {
		(void)es_server_desk_own(svc->server, label, true);
		svc->company->st.records_applied++;
	}
}

static void apply_mute(struct es_service *svc, const char *hex, bool on)
{
	uint8_t key[32];
	if (key_from_hex(hex, key) < 0)
		return;
	es_saver_lock(svc->saver);
	struct es_person *p = es_state_find_key(svc->db, key);
	if (p && p->admin_muted != on) {
		p->admin_muted = on;
		es_saver_mark_dirty(svc->saver);
	}
	es_saver_unlock(svc->saver);
	if (!svc->server)
		return;
	/* connected here: muted now; else at their next join */
	unsigned max = es_server_max_people(svc->server);
	for (unsigned id = 0; id < max; id++) {
		struct es_server_person sp;
		if (es_server_person(svc->server, id, &sp) == 1 && sodium_memcmp(sp.key, key, 32) == 0) {
			if (es_server_admin_mute(svc->server, id, on) < 0)
				es_log_warn("cluster: cannot apply an admin mute: too many muted");
			svc->company->st.records_applied++;
			return;
		}
	}
	if (es_server_mute_key(svc->server, key, on) < 0)
		es_log_warn("cluster: cannot keep an admin mute: too many muted");
}

static void floor_lost(struct es_service *svc, struct es_company *co, const struct es_cluster_event *ev)
{
	int k = floor_index(co, ev->floor);
	if (k < 0)
		return;
	co->hosted[k] = false;
	co->st.floors_lost++;
	char addr[ES_REDIRECT_ADDRS_MAX][ES_REDIRECT_ADDR_MAX + 1];
	unsigned n = addresses(co, ev->address, addr, ES_REDIRECT_ADDRS_MAX);
	es_log_info("cluster: floor %s is %s%s now; its people go there", ev->floor, ev->daemon[0] ? "on " : "without an owner",
		    ev->daemon);
	if (!svc->server || n == 0)
		return;
	const char *a[ES_REDIRECT_ADDRS_MAX];
	for (unsigned i = 0; i < n; i++)
		a[i] = addr[i];
	int32_t y0, y1;
	floor_band(co, (unsigned)k, &y0, &y1);
	int moved = es_server_redirect_area(svc->server, y0, y1, co->draining ? ES_REDIRECT_DRAIN : ES_REDIRECT_MOVED, a, n);
	if (moved > 0) {
		co->st.redirects += (uint64_t)moved;
		es_log_info("cluster: %d people of floor %s sent to %s", moved, ev->floor, addr[0]);
	}
}

static void resync_person(void *arg, const char *id, const char *text)
{
	apply_person(arg, id, text);
}

static void resync_mute(void *arg, const char *id, const char *text)
{
	(void)text;
	apply_mute(arg, id, true);
}

/*
 * Placement gives a free floor to the least loaded daemon, so the first
 * daemon of a company to start takes every floor.  Spread them: a daemon
 * hosting more than its share (the floors over the daemons taking floors,
 * rounded up) hands each floor with nobody on it to the daemon with the
 * fewest floors, while that one has less than its share.  A floor with
 * people on it stays (moving them is a drain's job, with an admin's say).
 */
static void balance(struct es_company *co, struct es_service *svc)
{
	if (co->draining || !co->reachable || !svc->server)
		return;
	struct es_cluster_daemon d[64];
	size_t nd = es_cluster_daemons(co->cl, d, 64);
	if (nd > 64)
		nd = 64;
	unsigned takers = 0, hosted = 0;
	for (size_t i = 0; i < nd; i++)
		takers += !d[i].draining && d[i].capacity > 0;
	for (unsigned k = 0; k < co->nfloors; k++)
		hosted += co->hosted[k];
	if (takers < 2)
		return;
	unsigned share = (co->nfloors + takers - 1) / takers;
	if (hosted <= share)
		return;
	int counts[ES_COMPANY_FLOORS_MAX];
	floor_counts(co, svc->server, counts);
	for (unsigned k = co->nfloors; k-- > 0 && hosted > share;) {
		if (!co->hosted[k] || counts[k] > 0)
			continue;
		int best = -1;
		for (size_t i = 0; i < nd; i++)
			if (!d[i].self && !d[i].draining && d[i].capacity > 0 && d[i].floors < share &&
			    (best < 0 || d[i].floors < d[best].floors))
				best = (int)i;
		if (best < 0)
			return;
		struct es_cluster_req h = {.type = ES_CLUSTER_HANDOVER};
		snprintf(h.floor, sizeof(h.floor), "%s", co->floors[k]);
		snprintf(h.daemon, sizeof(h.daemon), "%s", d[best].id);
		if (es_cluster_submit(co->cl, &h, NULL) < 0)
			return;
		es_log_info("cluster: floor %s is empty and %s hosts %u floors (share %u): handing it to %s", co->floors[k],
			    co->id, hosted, share, d[best].id);
		d[best].floors++;
		hosted--;
		co->st.balanced++;
	}
}

void es_company_tick(struct es_company *co, struct es_service *svc, unsigned people)
{
	if (!co)
		return;
	co->ticks++;
	if (co->ticks % LOAD_EVERY_TICKS == 1)
		es_cluster_set_load(co->cl, people);
	if (co->ticks % BALANCE_EVERY_TICKS == 0) {
		balance(co, svc);
		redeems_expire(co);
	}
	struct es_cluster_event ev[EVENTS_PER_TICK];
	size_t n = es_cluster_poll(co->cl, ev, EVENTS_PER_TICK);
	for (size_t i = 0; i < n; i++) {
		const struct es_cluster_event *e = &ev[i];
		int k;
		switch (e->type) {
		case ES_CLUSTER_FLOOR_GAINED:
			k = floor_index(co, e->floor);
			if (k >= 0 && !co->hosted[k]) {
				co->hosted[k] = true;
				co->st.floors_gained++;
				es_log_info("cluster: hosting floor %s", e->floor);
			}
			break;
		case ES_CLUSTER_FLOOR_LOST:
			floor_lost(svc, co, e);
			break;
		case ES_CLUSTER_RECORD:
			if (e->record == ES_CLUSTER_REC_PERSON && !e->deleted)
				apply_person(svc, e->id, e->text);
			else if (e->record == ES_CLUSTER_REC_PERSON)
				forget_person(svc, e->id);
			else if (e->record == ES_CLUSTER_REC_LOCK)
				apply_lock(svc, e->id, !e->deleted);
			else if (e->record == ES_CLUSTER_REC_DESK)
				apply_desk(svc, e->id, e->text, e->deleted);
			else if (e->record == ES_CLUSTER_REC_MUTE)
				apply_mute(svc, e->id, !e->deleted);
			break;
		case ES_CLUSTER_UNREACHABLE:
			co->reachable = false;
			co->st.outages++;
			break;
		case ES_CLUSTER_REACHABLE:
			co->reachable = true;
			break;
		case ES_CLUSTER_RESYNC:
			es_cluster_record_each(co->cl, ES_CLUSTER_REC_PERSON, resync_person, svc);
			es_cluster_record_each(co->cl, ES_CLUSTER_REC_MUTE, resync_mute, svc);
			break;
		case ES_CLUSTER_DONE:
			redeem_done(co, e);
			break;
		}
	}
	es_stage_tick(co->stage, svc->server, svc->key.priv, co->cl, co->hosted);
}

/* ---- drain and the admin's view ----------------------------------------------- */

int es_company_drain(struct es_company *co, bool on, char *out, size_t cap)
{
	size_t len = 0;
	out[0] = 0;
	struct es_cluster_req q = {.type = ES_CLUSTER_DRAIN, .on = on};
	int r = es_cluster_submit(co->cl, &q, NULL);
	if (r < 0)
		return r;
	co->draining = on;
	if (!on) {
		snprintf(out, cap, "%s takes floors again\n", co->id);
		return 0;
	}
	struct es_cluster_daemon d[64];
	size_t nd = es_cluster_daemons(co->cl, d, 64);
	if (nd > 64)
		nd = 64;
	/* each hosted floor to the least loaded other daemon, counting what it is given here */
	uint32_t given[64] = {0};
	int moved = 0;
	for (unsigned k = 0; k < co->nfloors; k++) {
		if (!co->hosted[k])
			continue;
		int best = -1;
		double best_load = 0;
		for (size_t i = 0; i < nd; i++) {
			if (d[i].self || d[i].draining || !d[i].capacity)
				continue;
			double l = ((double)d[i].load + 50.0 * (d[i].floors + given[i])) / d[i].capacity;
			if (best < 0 || l < best_load) {
				best = (int)i;
				best_load = l;
			}
		}
		if (best < 0) {
			if (len < cap)
				len += (size_t)snprintf(out + len, cap - len, "floor %s: no other daemon can take it\n", co->floors[k]);
			continue;
		}
		given[best]++;
		struct es_cluster_req h = {.type = ES_CLUSTER_HANDOVER};
		snprintf(h.floor, sizeof(h.floor), "%s", co->floors[k]);
		snprintf(h.daemon, sizeof(h.daemon), "%s", d[best].id);
		r = es_cluster_submit(co->cl, &h, NULL);
		if (len < cap)
			len += (size_t)snprintf(out + len, cap - len, "floor %s -> %s (%s)%s%s\n", co->floors[k], d[best].id,
						d[best].address, r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
		moved += r == 0;
	}
	return moved ? 0 : -ENOENT;
}

size_t es_company_describe(struct es_company *co, struct es_server *server, char *out, size_t cap)
{
	size_t len = 0;
	int people_per_floor[ES_COMPANY_FLOORS_MAX] = {0};
	if (server)
		floor_counts(co, server, people_per_floor);
#define OUT(...) do { if (len < cap) len += (size_t)snprintf(out + len, cap - len, __VA_ARGS__); } while (0)
	struct es_cluster_stats cs;
	es_cluster_get_stats(co->cl, &cs);
	OUT("company daemon %s at %s: etcd %s%s\n", co->id, co->address, cs.reachable ? "reachable" : "UNREACHABLE",
	    co->draining ? ", draining" : "");
	struct es_cluster_daemon d[64];
	size_t nd = es_cluster_daemons(co->cl, d, 64);
	OUT("daemons (%zu):\n", nd);
	for (size_t i = 0; i < nd && i < 64; i++)
		OUT("  %-16s %-22s %u/%u people, %u floors%s%s\n", d[i].id, d[i].address, d[i].load, d[i].capacity,
		    d[i].floors, d[i].draining ? ", draining" : "", d[i].self ? "  (this one)" : "");
	OUT("floors (%u):\n", co->nfloors);
	for (unsigned k = 0; k < co->nfloors; k++) {
		struct es_cluster_floor f = {0};
		int r = es_cluster_floor_owner(co->cl, co->floors[k], &f);
		if (co->hosted[k])
			OUT("  %-16s here, %d people\n", co->floors[k], people_per_floor[k]);
		else
			OUT("  %-16s %s%s\n", co->floors[k], r < 0 ? "no owner" : f.owner, r < 0 ? "" : "");
	}
	if (len < cap)
		len += es_stage_describe(co->stage, out + len, cap - len);
#undef OUT
	return len;
}

void es_company_get_stats(struct es_company *co, struct es_company_stats *st)
{
	struct es_cluster_stats cs;
	es_cluster_get_stats(co->cl, &cs);
	*st = co->st;
	st->reachable = cs.reachable;
	st->outages = cs.unreachable;
	st->etcd_writes = cs.etcd_writes;
	st->seats_written = cs.seats_written;
	st->floors_hosted = 0;
	for (unsigned k = 0; k < co->nfloors; k++)
		st->floors_hosted += co->hosted[k];
}

void es_company_stage_metrics(struct es_company *co, struct es_metrics_snapshot *m)
{
	if (co)
		es_stage_metrics(co->stage, m);
}
