/* SPDX-License-Identifier: MIT */
/* The company-wide stage: see stage.h and docs/CLUSTER.md. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cluster.h"
#include "earshot-mixer.h"
#include "log.h"
#include "metrics.h"
#include "relay.h"
#include "stage.h"

#define LOCAL_MAX 32         /* stage speakers here whose frames go out (an ES_RELAY_OFF follows each) */
#define PEERS_EVERY_TICKS 25 /* the company's daemons are looked at twice a second */
#define DAEMONS_MAX 64

/* A stage speaker here, relayed out. */
struct local {
	bool used;
	unsigned id;
	int64_t last_ms;
};

/* A remote stage speaker, a voice of our engine in slot index. */
struct remote {
	bool used;
	unsigned link;
	uint16_t speaker;
	int64_t last_ms;
};

struct es_stage {
	struct es_relay *relay;
	struct es_server *server; /* tapped; NULL not yet */
	bool keyed;
	unsigned nfloors;
	int32_t floor_h_cm;
	bool hosted[ES_COMPANY_FLOORS_MAX];
	uint64_t ticks;
	struct local local[LOCAL_MAX];
	struct remote remote[ES_SERVER_STAGE_VOICES];
	struct es_stage_stats st;
};

/*
 * The company's floors are its plan's tiles from the north (company.h):
 * floor k is the y band N-1-k of floor_h_cm each.
 */
static int32_t band_y0(const struct es_stage *st, unsigned k)
{
	return (int32_t)(st->nfloors - 1 - k) * st->floor_h_cm;
}

/* ---- out: a frame from someone on a stage here ---------------------------- */

static void send_off(struct es_stage *st, unsigned id)
{
	struct es_relay_msg m = {.type = ES_RELAY_OFF, .u.off.speaker = (uint16_t)id};
	int n = es_relay_send(st->relay, &m);
	if (n > 0)
		st->st.offs_out += (uint64_t)n;
}

static void on_tap(void *ud, unsigned id, const struct es_pos *pos, const struct es_audio_up *up)
{
	struct es_stage *st = ud;
	if (st->floor_h_cm <= 0 || pos->y_cm < 0 || up->len == 0 || id > UINT16_MAX)
		return;
	unsigned band = (unsigned)(pos->y_cm / st->floor_h_cm);
	if (band >= st->nfloors)
		return;
	unsigned k = st->nfloors - 1 - band;
	int64_t now = es_now_ms();
	struct local *free_l = NULL, *l = NULL;
	for (unsigned i = 0; i < LOCAL_MAX && !l; i++) {
		if (st->local[i].used && st->local[i].id == id)
			l = &st->local[i];
		else if (!st->local[i].used && !free_l)
			free_l = &st->local[i];
	}
	if (!l && free_l) {
		l = free_l;
		*l = (struct local){.used = true, .id = id};
	}
	if (l)
		l->last_ms = now;
	struct es_relay_msg m = {
		.type = ES_RELAY_VOICE,
		.u.voice = {
			.speaker = (uint16_t)id,
			.seq = up->seq,
			.flags = (uint8_t)((up->flags & ES_UP_PREROLL ? ES_RELAY_VOICE_PREROLL : 0) |
					   (up->flags & ES_UP_QUIET ? ES_RELAY_VOICE_QUIET : 0)),
			.floor = (uint8_t)k,
			.x_cm = pos->x_cm,
			.y_cm = pos->y_cm - band_y0(st, k),
			.len = up->len,
			.opus = up->opus,
		},
	};
	int n = es_relay_send(st->relay, &m);
	if (n > 0)
		st->st.frames_out += (uint64_t)n;
}

/* Those who stepped off the stage, left, or fell silent for long: an OFF each. */
static void locals_check(struct es_stage *st, int64_t now)
{
	for (unsigned i = 0; i < LOCAL_MAX; i++) {
		struct local *l = &st->local[i];
		struct es_pos pos;
		if (!l->used)
			continue;
		if (!es_server_on_stage(st->server, l->id, &pos) || now - l->last_ms > ES_STAGE_IDLE_MS) {
			send_off(st, l->id);
			l->used = false;
		}
	}
}

/* ---- in: a relayed frame ------------------------------------------------ */

static void remote_end(struct es_stage *st, unsigned slot)
{
	if (!st->remote[slot].used)
		return;
	st->remote[slot].used = false;
	if (st->server)
		es_server_stage_voice_remove(st->server, slot);
}

static int remote_find(const struct es_stage *st, unsigned link, uint16_t speaker)
{
	for (unsigned i = 0; i < ES_SERVER_STAGE_VOICES; i++)
		if (st->remote[i].used && st->remote[i].link == link && st->remote[i].speaker == speaker)
			return (int)i;
	return -1;
}

/* Where a remote stage speaker stands here: the same place on the first floor hosted here. */
static int remote_place(const struct es_stage *st, const struct es_relay_voice *v, float *x, float *y)
{
	int k = -1;
	for (unsigned i = 0; i < st->nfloors && k < 0; i++)
		if (st->hosted[i])
			k = (int)i;
	if (k < 0 || v->y_cm < 0 || v->y_cm >= st->floor_h_cm || v->x_cm < 0)
		return -ENOENT;
	*x = (float)v->x_cm / 100.0f;
	*y = (float)(v->y_cm + band_y0(st, (unsigned)k)) / 100.0f;
	return 0;
}

static void on_voice(void *ud, unsigned link, const char *from, const struct es_relay_voice *v)
{
	struct es_stage *st = ud;
	if (!st->server)
		return;
	int slot = remote_find(st, link, v->speaker);
	if (slot < 0) {
		float x = 0, y = 0;
		for (unsigned i = 0; i < ES_SERVER_STAGE_VOICES && slot < 0; i++)
			if (!st->remote[i].used)
				slot = (int)i;
		if (slot < 0 || remote_place(st, v, &x, &y) < 0 || es_server_stage_voice_add(st->server, (unsigned)slot, x, y) < 0) {
			st->st.drop_no_slot++;
			return;
		}
		st->remote[slot] = (struct remote){.used = true, .link = link, .speaker = v->speaker};
		es_log_info("stage: a voice from the stage of floor %u on daemon %s is heard here, from (%.2f, %.2f)",
			    v->floor + 1u, from, (double)x, (double)y);
	}
	st->remote[slot].last_ms = es_now_ms();
	unsigned flags = (v->flags & ES_RELAY_VOICE_PREROLL ? ES_ENGINE_UP_PREROLL : 0) |
			 (v->flags & ES_RELAY_VOICE_QUIET ? ES_ENGINE_UP_QUIET : 0);
	if (es_server_stage_voice_push(st->server, (unsigned)slot, v->seq, flags, v->opus, v->len) == 0)
		st->st.frames_in++;
	else
		st->st.drop_late++;
}

static void on_off(void *ud, unsigned link, uint16_t speaker)
{
	struct es_stage *st = ud;
	st->st.offs_in++;
	int slot = remote_find(st, link, speaker);
	if (slot >= 0)
		remote_end(st, (unsigned)slot);
}

static void on_down(void *ud, unsigned link)
{
	struct es_stage *st = ud;
	for (unsigned i = 0; i < ES_SERVER_STAGE_VOICES; i++)
		if (st->remote[i].used && st->remote[i].link == link)
			remote_end(st, i);
}

static void on_ready(void *ud)
{
	struct es_stage *st = ud;
	es_relay_service(st->relay, es_now_ms());
}

/* ---- life ----------------------------------------------------------------- */

/* "host:port" split; host may be empty.  0 or -EINVAL. */
static int split(const char *a, char *host, size_t cap, long *port)
{
	const char *colon = strrchr(a, ':');
	if (!colon || (size_t)(colon - a) >= cap)
		return -EINVAL;
	memcpy(host, a, (size_t)(colon - a));
	host[colon - a] = 0;
	char *end;
	*port = strtol(colon + 1, &end, 10);
	return *end || colon[1] == 0 || *port < 0 || *port > 65535 ? -EINVAL : 0;
}

struct es_stage *es_stage_new(const struct es_config *cfg, const char *id, const char *client_address, unsigned nfloors,
			      float floor_h_m, char *publish, size_t cap)
{
	char lhost[96], chost[96], bind[128];
	long lport, cport;
	if (split(cfg->listen.text, lhost, sizeof(lhost), &lport) < 0 || split(client_address, chost, sizeof(chost), &cport) < 0) {
		es_log_error("stage relay: cannot tell the relay's address from %s and %s", cfg->listen.text, client_address);
		errno = EINVAL;
		return NULL;
	}
	const char *rc = cfg->cluster_relay;
	if (!rc[0])
		snprintf(bind, sizeof(bind), "%s:%ld", lhost, lport + 1 > 65535 ? 0 : lport + 1);
	else if (strcmp(rc, "0") == 0)
		snprintf(bind, sizeof(bind), "%s:0", lhost);
	else
		snprintf(bind, sizeof(bind), "%s", rc);
	struct es_stage *st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->nfloors = nfloors < ES_COMPANY_FLOORS_MAX ? nfloors : ES_COMPANY_FLOORS_MAX;
	st->floor_h_cm = (int32_t)lrintf(floor_h_m * 100.0f);
	struct es_relay_config rcfg = {
		.listen = bind, .daemon_id = id, .ud = st, .voice = on_voice, .off = on_off, .down = on_down,
	};
	st->relay = es_relay_new(&rcfg);
	if (!st->relay && !rc[0] && errno == EADDRINUSE) {
		/* the default taken (by another daemon's client port, say): any free port, published all the same */
		es_log_warn("stage relay: %s is in use; listening on any free port instead (set [cluster] relay)", bind);
		snprintf(bind, sizeof(bind), "%s:0", lhost);
		st->relay = es_relay_new(&rcfg);
	}
	if (!st->relay) {
		int e = errno;
		es_log_error("[cluster] relay: cannot listen on %s (an IPv4:PORT of this machine, free): %s", bind, strerror(e));
		free(st);
		errno = e;
		return NULL;
	}
	char bhost[96];
	long bport;
	const char *host = split(bind, bhost, sizeof(bhost), &bport) == 0 && bhost[0] && strcmp(bhost, "0.0.0.0") != 0
				   ? bhost
				   : chost;
	snprintf(publish, cap, "%s:%u", host, (unsigned)es_relay_port(st->relay));
	es_log_info("stage relay: listening on %s, other daemons reach it at %s", bind, publish);
	return st;
}

void es_stage_free(struct es_stage *st)
{
	if (!st)
		return;
	/* the server, tapped, is freed before the service and its company (earshotd.c): not touched here */
	es_relay_free(st->relay);
	free(st);
}

static void follow_daemons(struct es_stage *st, struct es_cluster *cl, int64_t now)
{
	struct es_cluster_daemon d[DAEMONS_MAX];
	size_t nd = es_cluster_daemons(cl, d, DAEMONS_MAX);
	if (nd > DAEMONS_MAX)
		nd = DAEMONS_MAX;
	struct es_relay_peer p[DAEMONS_MAX];
	size_t np = 0;
	for (size_t i = 0; i < nd; i++)
		if (!d[i].self && d[i].relay[0])
			p[np++] = (struct es_relay_peer){.id = d[i].id, .address = d[i].relay};
	es_relay_set_peers(st->relay, p, np, now);
}

void es_stage_tick(struct es_stage *st, struct es_server *server, const uint8_t key_priv[static 32], struct es_cluster *cl,
		   const bool *hosted)
{
	if (!st)
		return;
	int64_t now = es_now_ms();
	if (!st->keyed) {
		if (es_relay_set_key(st->relay, key_priv) < 0) {
			es_log_error("stage relay: the company key is not usable");
			return;
		}
		st->keyed = true;
	}
	if (server && server != st->server) {
		st->server = server;
		struct es_stage_tap t = {.ud = st, .voice = on_tap, .fd = es_relay_fd(st->relay), .ready = on_ready};
		es_server_set_stage_tap(server, &t);
	}
	memcpy(st->hosted, hosted, st->nfloors * sizeof(bool));
	if (st->ticks++ % PEERS_EVERY_TICKS == 0)
		follow_daemons(st, cl, now);
	es_relay_service(st->relay, now);
	for (unsigned i = 0; i < ES_SERVER_STAGE_VOICES; i++)
		if (st->remote[i].used && now - st->remote[i].last_ms > ES_STAGE_IDLE_MS)
			remote_end(st, i);
	if (st->server)
		locals_check(st, now);
}

void es_stage_get_stats(const struct es_stage *st, struct es_stage_stats *out)
{
	*out = st->st;
	struct es_relay_stats rs;
	es_relay_get_stats(st->relay, &rs);
	out->links_up = rs.links_up;
	out->drop_auth = rs.drop_auth;
	out->drop_seal = rs.drop_seal;
	out->drop_malformed = rs.drop_malformed;
	out->drop_unknown = rs.drop_unknown;
	out->timeouts = rs.timeouts;
	out->voices_in = 0;
	for (unsigned i = 0; i < ES_SERVER_STAGE_VOICES; i++)
		out->voices_in += st->remote[i].used;
}

size_t es_stage_describe(const struct es_stage *st, char *out, size_t cap)
{
	struct es_stage_stats s;
	es_stage_get_stats(st, &s);
	int n = snprintf(out, cap,
			 "stage relay: %u links, %u remote voices; frames out %llu in %llu; offs out %llu in %llu; "
			 "dropped: auth %llu seal %llu malformed %llu unknown %llu timeouts %llu no_slot %llu late %llu\n",
			 s.links_up, s.voices_in, (unsigned long long)s.frames_out, (unsigned long long)s.frames_in,
			 (unsigned long long)s.offs_out, (unsigned long long)s.offs_in, (unsigned long long)s.drop_auth,
			 (unsigned long long)s.drop_seal, (unsigned long long)s.drop_malformed,
			 (unsigned long long)s.drop_unknown, (unsigned long long)s.timeouts,
			 (unsigned long long)s.drop_no_slot, (unsigned long long)s.drop_late);
	return n < 0 || cap == 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

void es_stage_metrics(const struct es_stage *st, struct es_metrics_snapshot *m)
{
	struct es_stage_stats s;
	es_stage_get_stats(st, &s);
	m->stage_relay_frames_total[0] = s.frames_out;
	m->stage_relay_frames_total[1] = s.frames_in;
	const uint64_t drops[6] = {s.drop_auth, s.drop_seal, s.drop_malformed, s.drop_unknown, s.timeouts, s.drop_no_slot};
	memcpy(m->stage_relay_dropped_total, drops, sizeof(drops));
	m->stage_relay_links = s.links_up;
	m->stage_relay_voices = s.voices_in;
}
