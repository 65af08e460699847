/* SPDX-License-Identifier: MIT */
/*
 * ==== company: people on the floors of several daemons (--company) ==========
 *
 * The company's floors are copies of the built-in office stacked south
 * (daemon/company.h): floor k is the plan's k-th tile from the north, the
 * band (N-1-k)*H <= y < (N-k)*H (y grows north).  Person i is
 * on floor i mod --floors (or --per-floor N0,N1,... people on each), at a
 * desk of that floor, or once its desks are taken at a free place of its
 * open space (1 m apart); two of each floor's people stand on its stage
 * and talk all the time (the whole floor hears them), and a fraction
 * --talking of the others talk at their places, and a fraction --walkers
 * of them step 1 m to a free place of the open space and back every 2 s.
 * Everyone asks to sit exactly at their place (ES_PF_PLACE).
 *
 * A person first tries daemon i mod (number of --company addresses), as a
 * client with a list of addresses would (or with --home, one address a
 * floor, their floor's daemon: a client that remembers where its last
 * redirect sent it), and then does what the real client is to do in a
 * company (docs/CLUSTER.md):
 *  - a REDIRECT (the payload of handshake message 2, or sealed after
 *    admission) is followed at once to addr[0], with pos as the place; the
 *    other addresses join the list.  More than 4 in a row: wait 1 s.
 *  - BUSY: again after retry_after, at the same daemon.
 *  - the daemon is gone (ENet says disconnected, or no downlink for 1 s
 *    while someone was audible: the next address of the list at once; no
 *    answer to a cookie request, a connect and a handshake within 2 s: the
 *    next address after the real client's backoff, 125-250 ms doubling to
 *    4-8 s).  A daemon that was lost while in is tried last by this person
 *    for 10 s, and a redirect to it meanwhile is taken as "busy, retry in
 *    300-700 ms" (its floors' owner keys outlive it by the lease's TTL).
 *
 * Measured: the arrivals (admitted, redirects, busy answers, time from the
 * first attempt to the first audible downlink bundle: one carrying a voice
 * or a mix), and with --kill-pid, from the SIGKILL (sent here, so the
 * event and the clocks are the same) until each person who was hearing on
 * that daemon hears audio again after being admitted elsewhere: p50, p99,
 * and how many did not within --recover seconds; for everyone else, the
 * longest silence after the kill.  Single-threaded; every loop bounded in
 * count and time (--max-seconds).  The last line printed is one JSON object.
 */
#include <signal.h>
#include <sys/types.h>

#include "earshot-mixer.h"
#include "load.h"

#define MAX_SERVERS 16
#define ATTEMPT_NS 2000000000LL       /* cookie + connect + key + handshake unanswered this long (client/session.c: 2 s) */
#define BACKOFF_MIN_MS 250            /* then a jittered exponential backoff, as client/session.c */
#define BACKOFF_MAX_MS 8000
#define SILENCE_NS 1000000000LL       /* no downlink this long while someone was audible: the daemon is gone */
#define BAD_FOR_NS 10000000000LL      /* a daemon that failed is tried last for this long */
#define REDIRECTS_IN_ROW 4
#define WALK_EVERY_NS 2000000000LL    /* a walker steps 1 m and back every 2 s */

struct cserver {
	ENetAddress a;
	char text[ES_REDIRECT_ADDR_MAX + 1];
};

struct ccookie {
	uint8_t nonce[ES_COOKIE_NONCE_LEN];
	uint32_t cookie;
	bool have;
	int64_t at, asked;
};

struct cperson {
	int floor, desk; /* desk: index in the stacked plan, or -1 */
	bool talks;
	int srv;          /* the daemon we are at, or going to */
	int64_t next_try; /* C_IDLE: start then */
	int64_t attempt;  /* when this attempt began (cookie, connect, handshake) */
	int64_t t_first;  /* the very first attempt */
	int64_t t_first_audio, last_audio, t_joined;
	bool ever_joined, heard_here; /* heard_here: audible since this admission */
	int in_row;       /* redirects in a row */
	int bad;          /* the daemon that last failed this person (-1: none), tried last until bad_until */
	unsigned backoff_ms; /* after an attempt that failed: wait in [b/2, b], b doubling to a cap */
	int64_t bad_until;
	/* walkers: back and forth between two places every WALK_EVERY_NS */
	bool walks;
	float wx[2], wy[2];
	int64_t moved_unix_ms; /* the last move, wall clock (for the seats in etcd), 0 never */
	/* the kill */
	bool victim;
	int64_t t_lost, t_rejoined, t_back, max_gap;
	uint32_t redirects, busy, timeouts, losses;
};

static struct {
	struct cserver srv[MAX_SERVERS];
	int nsrv;
	struct ccookie *ck; /* [host][MAX_SERVERS] */
	struct cperson *cp;
	struct es_floor *plan;
	float floor_h;
	unsigned floors;
	int64_t now, t_kill;
	int kill_srv;
	struct {
		uint64_t redirects_hs, redirects_sealed, redirects_to_bad, busy, refused, timeouts_cookie, timeouts_attempt,
			lost_disconnect, lost_silence, starts, backoffs, hs2_bad, failed_attempts, welcome_closed, stalls;
		uint64_t refused_reason[256];
		uint64_t moves, moves_refused;
	} n;
	uint32_t rng;
} co = {.kill_srv = -1, .rng = 2463534242u};

static uint32_t co_rand(void)
{
	co.rng ^= co.rng << 13;
	co.rng ^= co.rng >> 17;
	co.rng ^= co.rng << 5;
	return co.rng;
}

/*
 * A daemon's index by its host:port, added to the list if new.  -1 if not
 * an IPv4 host:port on loopback (a load generator sends nowhere else, even
 * when a redirect says so) or the list is full.
 */
static int server_index(const char *text)
{
	for (int i = 0; i < co.nsrv; i++)
		if (strcmp(co.srv[i].text, text) == 0)
			return i;
	if (co.nsrv >= MAX_SERVERS)
		return -1;
	char host[64];
	const char *colon = strrchr(text, ':');
	if (!colon || colon == text || (size_t)(colon - text) >= sizeof(host) || strlen(text) > ES_REDIRECT_ADDR_MAX)
		return -1;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = 0;
	struct cserver *s = &co.srv[co.nsrv];
	long port = strtol(colon + 1, NULL, 10);
	if (port <= 0 || port > 65535 || enet_address_set_host_ip(&s->a, host) != 0 || (ntohl(s->a.host) >> 24) != 127)
		return -1;
	s->a.port = (enet_uint16)port;
	snprintf(s->text, sizeof(s->text), "%s", text);
	return co.nsrv++;
}

static int server_of_addr(const ENetAddress *a)
{
	for (int i = 0; i < co.nsrv; i++)
		if (co.srv[i].a.host == a->host && co.srv[i].a.port == a->port)
			return i;
	return -1;
}

/* Has daemon s failed this person lately?  (Each person keeps their own view, as each real client does.) */
static bool is_bad(const struct cperson *p, int s)
{
	return p->bad == s && p->bad_until > co.now;
}

/* The next daemon for p to try after `from`: the next one it has no reason to avoid. */
static int next_server(const struct cperson *p, int from)
{
	for (int k = 1; k <= co.nsrv; k++) {
		int s = (from + k) % co.nsrv;
		if (!is_bad(p, s))
			return s;
	}
	return (from + 1) % co.nsrv;
}

static int ENET_CALLBACK co_intercept(ENetHost *h, ENetEvent *ev)
{
	(void)ev;
	if (!es_cookie_is_raw(h->receivedData, h->receivedDataLength))
		return 0;
	int i = host_of(h), s = server_of_addr(&h->receivedAddress);
	uint32_t c;
	if (i >= 0 && s >= 0) {
		struct ccookie *k = &co.ck[i * MAX_SERVERS + s];
		if (es_cookie_reply_parse(h->receivedData, h->receivedDataLength, k->nonce, &c) == 0) {
			k->cookie = c;
			k->have = true;
			k->at = now_ns();
		}
	}
	return 1;
}

static void ask_cookie_of(int host, int s)
{
	struct ccookie *k = &co.ck[host * MAX_SERVERS + s];
	if (k->asked && co.now - k->asked < 200000000LL)
		return; /* asked a moment ago */
	randombytes_buf(k->nonce, sizeof(k->nonce));
	uint8_t req[ES_COOKIE_REQUEST_LEN];
	int n = es_cookie_request_build(k->nonce, req, sizeof(req));
	if (n < 0)
		return;
	ENetBuffer b = {.data = req, .dataLength = (size_t)n};
	enet_socket_send(L.hosts[host].h->socket, &co.srv[s].a, &b, 1);
	k->asked = co.now;
}

/* Let go of the current peer: politely (the daemon is alive) or not at all (it is gone). */
static void drop_peer(struct client *c, bool polite)
{
	if (!c->peer)
		return;
	c->peer->data = NULL;
	if (polite)
		enet_peer_disconnect_now(c->peer, 0);
	else
		enet_peer_reset(c->peer);
	c->peer = NULL;
}

/* Try again at daemon s at time `at`. */
static void retry_at(struct client *c, int s, int64_t at)
{
	struct cperson *p = &co.cp[c - L.cl];
	if (L.reply_of)
		L.reply_of[c - L.cl].len = 0; /* a message 2 of this attempt still waiting to be read is stale now */
	c->st = C_IDLE;
	p->srv = s;
	p->next_try = at;
	p->attempt = 0;
	p->heard_here = false;
}

/*
 * This daemon failed us: gone (we were in: the next daemon at once) or not
 * answering an attempt (the next daemon after a jittered backoff that
 * doubles, as the real client's).
 */
static void failed_here(struct client *c, bool silence)
{
	struct cperson *p = &co.cp[c - L.cl];
	if (c->st == C_JOINED) {
		/* evidence it is gone: avoided for a while, and redirects to it are "busy" meanwhile.  A slow
		 * answer to an attempt is no such evidence (a daemon in a storm is slow, not gone): the next
		 * daemon then just sends us back to it */
		p->bad = p->srv;
		p->bad_until = co.now + BAD_FOR_NS;
	}
	int64_t wait_ms = 0;
	if (c->st != C_JOINED) {
		unsigned b = p->backoff_ms ? p->backoff_ms : BACKOFF_MIN_MS;
		wait_ms = b / 2 + co_rand() % (b / 2 + 1);
		p->backoff_ms = b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2;
	}
	if (c->st == C_JOINED) {
		p->losses++;
		if (co.t_kill && !p->t_lost)
			p->t_lost = co.now;
		if (silence)
			co.n.lost_silence++;
		else
			co.n.lost_disconnect++;
	}
	drop_peer(c, false);
	retry_at(c, next_server(p, p->srv), co.now + wait_ms * 1000000LL);
}

static void joined(struct client *c)
{
	struct cperson *p = &co.cp[c - L.cl];
	c->st = C_JOINED;
	p->ever_joined = true;
	p->t_joined = now_ns();
	p->in_row = 0;
	p->backoff_ms = BACKOFF_MIN_MS;
	p->heard_here = false;
	if (co.t_kill && p->t_lost && !p->t_rejoined)
		p->t_rejoined = p->t_joined;
}

static void redirected(struct client *c, const struct es_redirect *rd)
{
	struct cperson *p = &co.cp[c - L.cl];
	int64_t t = now_ns();
	int first = -1;
	for (unsigned i = 0; i < rd->naddr && i < ES_REDIRECT_ADDRS_MAX; i++) {
		int s = server_index(rd->addr[i]);
		if (i == 0)
			first = s;
	}
	p->redirects++;
	drop_peer(c, true);
	c->x = (float)rd->pos.x_cm / 100.0f;
	c->y = (float)rd->pos.y_cm / 100.0f;
	if (first < 0) {
		retry_at(c, next_server(p, p->srv), t + 500000000LL);
		return;
	}
	if (is_bad(p, first)) {
		/* sent to the daemon that just failed us: its floors' keys outlive it by the lease's TTL */
		co.n.redirects_to_bad++;
		retry_at(c, next_server(p, first), t + 300000000LL + (int64_t)(co_rand() % 400) * 1000000LL);
		return;
	}
	if (++p->in_row > REDIRECTS_IN_ROW) {
		co.n.backoffs++;
		p->in_row = 0;
		retry_at(c, first, t + 1000000000LL);
		return;
	}
	retry_at(c, first, t);
}

void company_hs2(struct client *c, const uint8_t *payload, int n)
{
	struct es_msg m;
	if (es_msg_decode(&m, payload, (size_t)n) < 0) {
		co.n.hs2_bad++;
		c->st = C_FAILED;
		return;
	}
	if (m.type == ES_MSG_WELCOME && !c->peer) {
		co.n.welcome_closed++; /* the daemon closed before we read its welcome: again, there */
		retry_at(c, co.cp[c - L.cl].srv, now_ns() + 200000000LL);
	} else if (m.type == ES_MSG_WELCOME) {
		joined(c);
	} else if (m.type == ES_MSG_REFUSED) {
		c->st = C_REFUSED; /* proved: from the daemon itself */
		company_refused(c, m.u.refused.reason);
	} else if (m.type == ES_MSG_REDIRECT) {
		co.n.redirects_hs++;
		redirected(c, &m.u.redirect);
	} else {
		co.n.hs2_bad++;
		c->st = C_FAILED;
	}
}

void company_sealed(struct client *c, const uint8_t *plain, int n, int64_t t)
{
	struct es_msg m;
	if (plain[0] != ES_MSG_AUDIO_DOWN && plain[0] != ES_MSG_REDIRECT && plain[0] != ES_MSG_ADMIN)
		return;
	if (es_msg_decode(&m, plain, (size_t)n) < 0)
		return;
	struct cperson *p = &co.cp[c - L.cl];
	if (m.type == ES_MSG_ADMIN) {
		if (m.u.admin.flags & (ES_ADMIN_REFUSED | ES_ADMIN_MOVED)) {
			/* a move refused (or an admin's): the daemon says where we are */
			co.n.moves_refused += (m.u.admin.flags & ES_ADMIN_REFUSED) != 0;
			c->x = (float)m.u.admin.pos.x_cm / 100.0f;
			c->y = (float)m.u.admin.pos.y_cm / 100.0f;
		}
		return;
	}
	if (m.type == ES_MSG_REDIRECT) {
		co.n.redirects_sealed++;
		if (c->st == C_JOINED && co.t_kill && !p->t_lost)
			p->t_lost = t; /* moved: silent from now until heard again */
		redirected(c, &m.u.redirect);
		return;
	}
	if (c->st != C_JOINED || (m.u.down.nvoices == 0 && m.u.down.mix_len == 0))
		return;
	if (co.t_kill && t > co.t_kill && p->last_audio && t - p->last_audio > p->max_gap)
		p->max_gap = t - p->last_audio;
	p->last_audio = t;
	p->heard_here = true;
	if (!p->t_first_audio)
		p->t_first_audio = t;
	if (co.t_kill && p->victim && !p->t_back && p->t_rejoined)
		p->t_back = t;
}

void company_busy(struct client *c)
{
	struct cperson *p = &co.cp[c - L.cl];
	p->busy++;
	co.n.busy++;
	drop_peer(c, true);
	retry_at(c, p->srv, now_ns() + (int64_t)c->retry_ms * 1000000LL);
}

/* As the real client (client/session.c): "too often", a replay or an unreadable handshake: again in 1 s; the rest is final. */
void company_refused(struct client *c, uint8_t reason)
{
	co.n.refused++;
	co.n.refused_reason[reason]++;
	drop_peer(c, true);
	if (reason == ES_REFUSED_RATE || reason == ES_REFUSED_REPLAY || reason == ES_REFUSED_BAD_HANDSHAKE)
		retry_at(c, co.cp[c - L.cl].srv, now_ns() + 1000000000LL);
}

static void co_start(struct client *c)
{
	struct cperson *p = &co.cp[c - L.cl];
	struct ccookie *k = &co.ck[c->host * MAX_SERVERS + p->srv];
	if (!p->attempt)
		p->attempt = co.now;
	if (!k->have || co.now - k->at > 25000000000LL) {
		ask_cookie_of(c->host, p->srv);
		return; /* started when it comes (or the attempt times out) */
	}
	c->t_start = co.now;
	c->t_answer = 0; /* its handshake reply is read in the slack, like the first */
	if (!p->t_first)
		p->t_first = co.now;
	c->peer = enet_host_connect(L.hosts[c->host].h, &co.srv[p->srv].a, ES_CHAN_COUNT, k->cookie);
	if (!c->peer) {
		p->next_try = co.now + 100000000LL; /* no free peer slot on this host yet: not the daemon's fault */
		p->attempt = 0;
		return;
	}
	c->peer->data = c;
	c->st = C_CONNECTING;
	co.n.starts++;
}

static void co_service(void)
{
	ENetEvent ev;
	for (int i = 0; i < L.nhosts; i++) {
		while (enet_host_service(L.hosts[i].h, &ev, 0) > 0) {
			struct client *c = ev.peer ? ev.peer->data : NULL;
			switch (ev.type) {
			case ENET_EVENT_TYPE_CONNECT:
				if (c) {
					connected(c, ev.peer);
					/* as the real client (client/session.c): gone after 2-4 s without an acknowledgement */
					enet_peer_timeout(ev.peer, 0, 2000, 4000);
				}
				break;
			case ENET_EVENT_TYPE_RECEIVE:
				if (c)
					on_receive(c, ev.packet->data, ev.packet->dataLength);
				enet_packet_destroy(ev.packet);
				break;
			case ENET_EVENT_TYPE_DISCONNECT:
				if (c) {
					c->peer = NULL;
					co.now = now_ns();
					/* a message 2 waiting to be read (a redirect, then the daemon closes) is the answer */
					bool answered = c->st == C_HS_SENT && L.reply_of && L.reply_of[c - L.cl].len;
					if (!answered && (c->st == C_JOINED || c->st == C_CONNECTING || c->st == C_WAIT_KEY ||
							  c->st == C_HS_SENT))
						failed_here(c, false);
				}
				break;
			default:
				break;
			}
		}
	}
}

/* Places: each floor's desks, then free places of its open space 1 m apart; two on its stage. */
static int place(const struct company_opts *o, int *per_floor)
{
	struct es_floor *one = es_floor_default();
	if (!one)
		return -ENOMEM;
	co.floor_h = es_floor_height_m(one);
	co.plan = o->floors > 1 ? es_floor_tile(one, 1, o->floors) : es_floor_clone(one);
	es_floor_free(one);
	if (!co.plan)
		return -ENOMEM;
	int nf = (int)o->floors, rc = 0;
	/* the spots of each floor: stage (2), desks, open space */
	int cap = 2 + (int)es_floor_desk_count(co.plan) + 4000;
	float *sx = calloc((size_t)nf * (size_t)cap, sizeof(float)), *sy = calloc((size_t)nf * (size_t)cap, sizeof(float));
	int *sd = calloc((size_t)nf * (size_t)cap, sizeof(int)), *ns = calloc((size_t)nf, sizeof(int)),
	    *used = calloc((size_t)nf, sizeof(int));
	if (!sx || !sy || !sd || !ns || !used) {
		rc = -ENOMEM;
		goto out;
	}
	float W = es_floor_width_m(co.plan), Htot = es_floor_height_m(co.plan);
#define ADD(k, X, Y, D) do { if (ns[k] < cap) { sx[(k) * cap + ns[k]] = (X); sy[(k) * cap + ns[k]] = (Y); sd[(k) * cap + ns[k]] = (D); ns[k]++; } } while (0)
	for (int pass = 0; pass < 3; pass++) {
		if (pass == 1) {
			for (unsigned d = 0; d < es_floor_desk_count(co.plan); d++) {
				float x, y;
				if (es_floor_desk(co.plan, d, &x, &y, NULL) < 0)
					continue;
				int k = nf - 1 - (int)(y / co.floor_h); /* floor k: the k-th tile from the north */
				if (k >= 0 && k < nf)
					ADD(k, x, y, (int)d);
			}
			continue;
		}
		/* pass 0: two cells of each floor's stage; pass 2: open space, 1 m apart */
		int on_stage[64] = {0};
		for (float y = 0.5f; y < Htot; y += 1.0f)
			for (float x = 0.5f; x < W; x += 1.0f) {
				int k = nf - 1 - (int)(y / co.floor_h); /* floor k: the k-th tile from the north */
				if (k >= nf || !es_floor_walkable(co.plan, x, y) || es_floor_desk_at(co.plan, x, y) >= 0)
					continue;
				int r = es_floor_room_at(co.plan, x, y);
				if (pass == 0 && r >= 0 && es_floor_room_kind(co.plan, (unsigned)r) == ES_ROOM_STAGE &&
				    es_floor_door_at(co.plan, x, y) < 0 && k < 64 && on_stage[k] < 2) {
					ADD(k, x, y, -1);
					on_stage[k]++;
				} else if (pass == 2 && r < 0 && es_floor_door_near(co.plan, x, y, NULL, NULL, NULL) < 0) {
					ADD(k, x, y, -1);
				}
			}
	}
#undef ADD
	int i = 0;
	for (int k = 0; k < nf; k++)
		for (int j = 0; j < per_floor[k]; j++, i++) {
			struct client *c = &L.cl[i];
			struct cperson *p = &co.cp[i];
			if (used[k] >= ns[k]) {
				fprintf(stderr, "es-load: floor %d has %d places, fewer than %d people\n", k, ns[k], per_floor[k]);
				rc = -ENOSPC;
				goto out;
			}
			int s = used[k]++;
			p->floor = k;
			c->x = sx[k * cap + s];
			c->y = sy[k * cap + s];
			p->desk = sd[k * cap + s];
			/* the first two stand on the stage: the whole floor hears them */
			p->talks = j < 2 || (o->talking > 0 && floor((j + 1) * o->talking) > floor(j * o->talking));
			if (o->silent_floors && k < 64 && (o->silent_floors >> k) & 1)
				p->talks = false; /* --silent-floors: nobody on this floor talks, not even on its stage */
			c->role = p->talks ? R_ROOM : R_SILENT;
			/* walkers (not on the stage): to a free place of the open space 1 m away and back */
			if (j >= 2 && o->walkers > 0 && floor((j + 1) * o->walkers) > floor(j * o->walkers)) {
				static const float d[4][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}};
				for (int q = 0; q < 4 && !p->walks; q++) {
					float x2 = c->x + d[q][0], y2 = c->y + d[q][1];
					if (nf - 1 - (int)(y2 / co.floor_h) == k && es_floor_walkable(co.plan, x2, y2) &&
					    es_floor_room_at(co.plan, x2, y2) < 0 && es_floor_desk_at(co.plan, x2, y2) < 0) {
						p->walks = true;
						p->wx[0] = c->x;
						p->wy[0] = c->y;
						p->wx[1] = x2;
						p->wy[1] = y2;
					}
				}
			}
		}
out:
	free(sx);
	free(sy);
	free(sd);
	free(ns);
	free(used);
	return rc;
}

static void pcts(int64_t *v, int n, double *p50, double *p99, double *max)
{
	*p50 = pct(v, n, 0.5);
	*p99 = pct(v, n, 0.99);
	*max = -1;
	for (int i = 0; i < n; i++)
		*max = (double)v[i] / 1e6 > *max ? (double)v[i] / 1e6 : *max;
}

static void write_places(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "es-load: %s: %s\n", path, strerror(errno));
		return;
	}
	for (int i = 0; i < L.npeople; i++) {
		const struct client *c = &L.cl[i];
		const struct cperson *p = &co.cp[i];
		char hex[65];
		sodium_bin2hex(hex, sizeof(hex), c->id.pub, 32);
		const char *label = "-";
		if (p->desk >= 0)
			(void)es_floor_desk(co.plan, (unsigned)p->desk, NULL, NULL, &label);
		fprintf(f, "%s %s %d %.2f %.2f %s %s %d %.3f\n", c->name, hex, p->floor, c->x, c->y,
			c->st == C_JOINED ? co.srv[p->srv].text : "-", label, p->talks, (double)p->moved_unix_ms / 1e3);
	}
	fclose(f);
}

int company_run(const struct company_opts *o)
{
	int rc = 0;
	if (o->floors < 1 || o->floors > 64) {
		fprintf(stderr, "es-load: --floors 1..64\n");
		return 2;
	}
	int *per_floor = calloc(o->floors, sizeof(int));
	if (!per_floor)
		return 1;
	if (o->per_floor) {
		const char *q = o->per_floor;
		int total = 0;
		for (unsigned k = 0; k < o->floors; k++) {
			char *end;
			long v = strtol(q, &end, 10);
			if (end == q || v < 0 || v > MAX_PEOPLE || (k + 1 < o->floors && *end != ',')) {
				fprintf(stderr, "es-load: --per-floor: %u counts, comma-separated\n", o->floors);
				free(per_floor);
				return 2;
			}
			per_floor[k] = (int)v;
			total += (int)v;
			q = end + 1;
		}
		if (total != L.npeople) {
			fprintf(stderr, "es-load: --per-floor adds up to %d, not --people %d\n", total, L.npeople);
			free(per_floor);
			return 2;
		}
	} else {
		for (int i = 0; i < L.npeople; i++)
			per_floor[i % (int)o->floors]++;
	}
	/* the daemons */
	char list[1024];
	snprintf(list, sizeof(list), "%s", o->servers);
	for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (server_index(t) < 0) {
			fprintf(stderr, "es-load: --company: '%s' is not a loopback IPv4 host:port (at most %d)\n", t, MAX_SERVERS);
			free(per_floor);
			return 2;
		}
	int nfirst = co.nsrv;
	if (nfirst < 1) {
		fprintf(stderr, "es-load: --company ADDR1[,ADDR2...]\n");
		free(per_floor);
		return 2;
	}
	if (o->kill_pid && (!o->kill_addr || (co.kill_srv = server_index(o->kill_addr)) < 0)) {
		fprintf(stderr, "es-load: --kill-pid needs --kill-addr HOST:PORT\n");
		free(per_floor);
		return 2;
	}
	co.floors = o->floors;
	co.cp = calloc((size_t)L.npeople, sizeof(*co.cp));
	co.ck = calloc((size_t)L.nhosts * MAX_SERVERS, sizeof(*co.ck));
	if (!co.cp || !co.ck) {
		free(per_floor);
		return 1;
	}
	if (place(o, per_floor) < 0) {
		free(per_floor);
		return 2;
	}
	free(per_floor);
	for (int i = 0; i < L.nhosts; i++)
		L.hosts[i].h->intercept = co_intercept;

	int64_t t0 = now_ns(), deadline = t0 + TICK_NS, hard_end = t0 + (int64_t)(o->max_s * 1e9);
	int64_t settled = -1, kill_at = -1, end_at = -1, settle_bound = t0 + (int64_t)((o->storm_s + 30) * 1e9);
	/* --home: each floor's daemon, where a person who remembers their last redirect goes first */
	int home[64];
	for (unsigned k = 0; k < 64; k++)
		home[k] = -1;
	if (o->home) {
		snprintf(list, sizeof(list), "%s", o->home);
		unsigned k = 0;
		for (char *save = NULL, *t = strtok_r(list, ",", &save); t && k < o->floors; t = strtok_r(NULL, ",", &save))
			home[k++] = server_index(t);
		if (k != o->floors) {
			fprintf(stderr, "es-load: --home: one daemon address a floor (%u)\n", o->floors);
			return 2;
		}
	}
	for (int i = 0; i < L.npeople; i++) {
		co.cp[i].bad = -1;
		int first = home[co.cp[i].floor] >= 0 ? home[co.cp[i].floor] : i % nfirst;
		retry_at(&L.cl[i], first, t0 + (int64_t)(o->storm_s * 1e9 * i / L.npeople));
	}
	uint64_t tick = 0;
	int64_t prev_tick = 0;
	int victims = 0, on_killed = 0, survivors = 0;
	double storm_in_s = -1;
	fprintf(stderr, "es-load: %d people over %u floors, arriving at %d daemons within %.1f s\n", L.npeople, o->floors,
		nfirst, o->storm_s);
	while ((co.now = now_ns()) < hard_end) {
		int64_t t = co.now;
		if (t < deadline) {
			answer_keys(deadline - TICK_NS / 4);
			co_service();
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
			continue;
		}
		deadline += TICK_NS;
		tick++;
		if (prev_tick && t - prev_tick > 200000000LL) {
			/* the generator itself stalled (its talkers too): a silence meanwhile says nothing of the daemons */
			co.n.stalls++;
			for (int i = 0; i < L.npeople; i++)
				if (co.cp[i].heard_here && co.cp[i].last_audio < t)
					co.cp[i].last_audio = t;
		}
		prev_tick = t;
		L.gen_ticks++;
		L.gen_late_max = t - (deadline - TICK_NS) > L.gen_late_max ? t - (deadline - TICK_NS) : L.gen_late_max;
		L.gen_late_10ms += t - (deadline - TICK_NS) > 10000000LL;
		co_service();
		co.now = t = now_ns();
		int in = 0, hearing = 0;
		for (int i = 0; i < L.npeople; i++) {
			struct client *c = &L.cl[i];
			struct cperson *p = &co.cp[i];
			switch (c->st) {
			case C_IDLE:
				if (t >= p->next_try) {
					if (p->attempt && t - p->attempt > ATTEMPT_NS) {
						co.n.timeouts_cookie++;
						p->timeouts++;
						failed_here(c, false);
					} else {
						co_start(c);
					}
				}
				break;
			case C_CONNECTING:
			case C_WAIT_KEY:
			case C_HS_SENT:
				if (t - p->attempt > ATTEMPT_NS) {
					co.n.timeouts_attempt++;
					p->timeouts++;
					failed_here(c, false);
				}
				break;
			case C_JOINED:
				in++;
				hearing += p->last_audio && t - p->last_audio < SILENCE_NS;
				if (p->heard_here && t - p->last_audio > SILENCE_NS)
					failed_here(c, true);
				break;
			case C_FAILED:
				/* our side of an attempt failed (a message 2 we could not read): again at once, counted */
				co.n.failed_attempts++;
				drop_peer(c, true);
				retry_at(c, p->srv, t + 100000000LL);
				break;
			case C_BUSY: /* company_busy has set the retry: not reached */
			case C_REFUSED:
			default:
				break;
			}
		}
		/* everyone in and hearing (or the bound): the arrivals are over */
		if (settled < 0 && (t >= settle_bound || (in == L.npeople && hearing == L.npeople))) {
			settled = t;
			storm_in_s = (double)(t - t0) / 1e9;
			fprintf(stderr, "es-load: %d of %d in, %d hearing, %.1f s after the first arrival\n", in, L.npeople, hearing,
				storm_in_s);
			int at[MAX_SERVERS] = {0};
			for (int i = 0; i < L.npeople; i++)
				at[co.cp[i].srv] += L.cl[i].st == C_JOINED;
			for (int s = 0; s < co.nsrv; s++)
				fprintf(stderr, "es-load:   at %s: %d\n", co.srv[s].text, at[s]);
			fflush(stderr);
			if (o->places_out)
				write_places(o->places_out); /* for the admin's acts before the kill */
			if (o->kill_pid)
				kill_at = t + (int64_t)(o->kill_after_s * 1e9);
			else
				end_at = t + (int64_t)(o->hold_s * 1e9);
		}
		if (kill_at >= 0 && !co.t_kill && t >= kill_at) {
			if (o->places_out)
				write_places(o->places_out);
			for (int i = 0; i < L.npeople; i++) {
				struct client *c = &L.cl[i];
				struct cperson *p = &co.cp[i];
				bool here = c->st == C_JOINED && p->srv == co.kill_srv;
				on_killed += here;
				p->victim = here && p->last_audio && t - p->last_audio < SILENCE_NS;
				victims += p->victim;
				survivors += !here && c->st == C_JOINED && p->last_audio && t - p->last_audio < SILENCE_NS;
				p->max_gap = 0;
			}
			struct timespec rt;
			clock_gettime(CLOCK_REALTIME, &rt);
			co.t_kill = now_ns();
			if (kill(o->kill_pid, SIGKILL) < 0) {
				fprintf(stderr, "es-load: kill %d: %s\n", o->kill_pid, strerror(errno));
				rc = 1;
				break;
			}
			printf("killed pid %d (%s) at unix %.3f: %d people on it, %d of them hearing; %d hearing elsewhere\n",
			       o->kill_pid, co.srv[co.kill_srv].text, (double)rt.tv_sec + rt.tv_nsec / 1e9, on_killed, victims,
			       survivors);
			fflush(stdout);
			end_at = co.t_kill + (int64_t)(o->recover_s * 1e9);
		}
		if (co.t_kill && t < end_at) {
			int back = 0;
			for (int i = 0; i < L.npeople; i++)
				back += co.cp[i].victim && co.cp[i].t_back;
			if (back == victims && t - co.t_kill > (int64_t)(o->hold_s * 1e9))
				end_at = t; /* all back, and the survivors watched for --hold seconds */
		}
		if (end_at >= 0 && t >= end_at)
			break;
		/* walkers, each on its own phase; a place the daemon refuses comes back in an ES_MSG_ADMIN */
		for (int i = 0; i < L.npeople; i++) {
			struct client *c = &L.cl[i];
			struct cperson *p = &co.cp[i];
			if (!p->walks || c->st != C_JOINED || (tick + (uint64_t)i) % (WALK_EVERY_NS / TICK_NS) != 0)
				continue;
			int to = fabsf(c->x - p->wx[0]) < 0.01f && fabsf(c->y - p->wy[0]) < 0.01f;
			struct es_msg m = {.type = ES_MSG_MOVE};
			m.u.move = (struct es_pos){(int32_t)lrintf(p->wx[to] * 100), (int32_t)lrintf(p->wy[to] * 100), 0};
			if (send_sealed(c, &m, false) == 0) {
				c->x = p->wx[to];
				c->y = p->wy[to];
				struct timespec rt;
				clock_gettime(CLOCK_REALTIME, &rt);
				p->moved_unix_ms = (int64_t)rt.tv_sec * 1000 + rt.tv_nsec / 1000000;
				co.n.moves++;
			}
		}
		/* voices */
		for (int i = 0; i < L.npeople; i++) {
			struct client *c = &L.cl[i];
			if (c->st != C_JOINED || !co.cp[i].talks)
				continue;
			int f = (int)(c->seq % FRAMES);
			struct es_msg m = {.type = ES_MSG_AUDIO_UP};
			m.u.up = (struct es_audio_up){c->seq, ES_PF_TALKING, (uint16_t)L.frame_len[f], L.frames[f]};
			send_sealed(c, &m, true);
			c->seq++;
		}
		for (int i = 0; i < L.nhosts; i++)
			enet_host_flush(L.hosts[i].h);
	}

	/* ---- the report ---- */
	int64_t *v = calloc((size_t)L.npeople, sizeof(int64_t));
	if (!v)
		return 1;
	int admitted = 0, heard = 0, nv = 0, refused = 0;
	int per_srv[MAX_SERVERS] = {0};
	uint64_t red = 0, busy = 0;
	for (int i = 0; i < L.npeople; i++) {
		const struct cperson *p = &co.cp[i];
		admitted += p->ever_joined;
		refused += L.cl[i].st == C_REFUSED;
		red += p->redirects;
		busy += p->busy;
		if (p->t_first_audio && p->t_first) {
			heard++;
			v[nv++] = p->t_first_audio - p->t_first;
		}
		if (L.cl[i].st == C_JOINED)
			per_srv[p->srv]++;
	}
	double fa50, fa99, famax;
	pcts(v, nv, &fa50, &fa99, &famax);
	printf("arrivals %d over %.1f s at %d daemons: admitted %d, refused for good %d, heard anyone %d (in and hearing %.1f s after the first)\n",
	       L.npeople, o->storm_s, nfirst, admitted, refused, heard, storm_in_s);
	printf("time from the first attempt to first audio: p50 %.0f ms, p99 %.0f ms, max %.0f ms\n", fa50, fa99, famax);
	printf("redirects %llu (in message 2 %llu, sealed %llu, to a daemon that had failed %llu), busy %llu, backoffs %llu, "
	       "attempts %llu, timeouts: waiting for a cookie %llu, in the handshake %llu\n",
	       (unsigned long long)red, (unsigned long long)co.n.redirects_hs, (unsigned long long)co.n.redirects_sealed,
	       (unsigned long long)co.n.redirects_to_bad, (unsigned long long)busy, (unsigned long long)co.n.backoffs,
	       (unsigned long long)co.n.starts, (unsigned long long)co.n.timeouts_cookie,
	       (unsigned long long)co.n.timeouts_attempt);
	if (co.n.failed_attempts || co.n.welcome_closed)
		printf("attempts failed on our side %llu, welcomes read after the daemon had closed %llu\n",
		       (unsigned long long)co.n.failed_attempts, (unsigned long long)co.n.welcome_closed);
	if (co.n.hs2_bad)
		printf("handshake message 2 with a payload neither WELCOME, REDIRECT nor REFUSED: %llu\n", (unsigned long long)co.n.hs2_bad);
	for (int r = 0; r < 256; r++)
		if (co.n.refused_reason[r])
			printf("refused with reason %d (a retry in 1 s for 3, 5, 6): %llu\n", r, (unsigned long long)co.n.refused_reason[r]);
	printf("people at each daemon at the end:");
	for (int s = 0; s < co.nsrv; s++)
		printf(" %s %d", co.srv[s].text, per_srv[s]);
	printf("\n");
	double b50 = -1, b99 = -1, bmax = -1, l50 = -1, l99 = -1, lmax = -1, r50 = -1, r99 = -1, rmax = -1, g50 = -1, g99 = -1,
	       gmax = -1;
	int back = 0, never = 0, lost_elsewhere = 0;
	if (co.t_kill) {
		nv = 0;
		for (int i = 0; i < L.npeople; i++)
			if (co.cp[i].victim && co.cp[i].t_back)
				v[nv++] = co.cp[i].t_back - co.t_kill;
		back = nv;
		never = victims - back;
		pcts(v, nv, &b50, &b99, &bmax);
		nv = 0;
		for (int i = 0; i < L.npeople; i++)
			if (co.cp[i].victim && co.cp[i].t_lost)
				v[nv++] = co.cp[i].t_lost - co.t_kill;
		pcts(v, nv, &l50, &l99, &lmax);
		nv = 0;
		for (int i = 0; i < L.npeople; i++)
			if (co.cp[i].victim && co.cp[i].t_rejoined)
				v[nv++] = co.cp[i].t_rejoined - co.t_kill;
		pcts(v, nv, &r50, &r99, &rmax);
		nv = 0;
		for (int i = 0; i < L.npeople; i++) {
			const struct cperson *p = &co.cp[i];
			if (p->victim || !p->ever_joined || p->t_first_audio == 0 || p->srv == co.kill_srv)
				continue;
			lost_elsewhere += p->t_lost != 0;
			int64_t gap = p->max_gap;
			if (L.cl[i].st == C_JOINED && p->last_audio && now_ns() - p->last_audio > gap)
				gap = now_ns() - p->last_audio;
			v[nv++] = gap;
		}
		pcts(v, nv, &g50, &g99, &gmax);
		printf("after the kill, its %d hearing people: lost it after p50 %.0f ms, p99 %.0f ms; admitted elsewhere p50 %.0f ms, "
		       "p99 %.0f ms; hear audio again p50 %.0f ms, p99 %.0f ms, max %.0f ms; %d back, %d not within %.0f s\n",
		       victims, l50, l99, r50, r99, b50, b99, bmax, back, never, o->recover_s);
		/* where those not back were at the end: which state, at which daemon */
		int stuck[C_FAILED + 1][MAX_SERVERS] = {{0}};
		for (int i = 0; i < L.npeople; i++)
			if (co.cp[i].victim && !co.cp[i].t_back)
				stuck[L.cl[i].st][co.cp[i].srv]++;
		for (int st = 0; st <= C_FAILED; st++)
			for (int sv = 0; sv < co.nsrv; sv++)
				if (stuck[st][sv])
					printf("not back: %d in state %d at %s\n", stuck[st][sv], st, co.srv[sv].text);
		printf("everyone else (%d hearing): longest silence after the kill p50 %.0f ms, p99 %.0f ms, max %.0f ms; %d lost their daemon\n",
		       nv, g50, g99, gmax, lost_elsewhere);
	}
	printf("generator ticks: %llu, %llu started over 10 ms late, latest %.1f ms; %llu stalls over 200 ms (silences excused)\n",
	       (unsigned long long)L.gen_ticks, (unsigned long long)L.gen_late_10ms, (double)L.gen_late_max / 1e6,
	       (unsigned long long)co.n.stalls);
	printf("walkers' moves %llu, refused by the daemon %llu\n", (unsigned long long)co.n.moves,
	       (unsigned long long)co.n.moves_refused);
	printf("lost a daemon while in: %llu by disconnect, %llu by 1 s of silence\n", (unsigned long long)co.n.lost_disconnect,
	       (unsigned long long)co.n.lost_silence);
	printf("{\"people\":%d,\"floors\":%u,\"daemons\":%d,\"storm_s\":%.1f,\"admitted\":%d,\"refused\":%d,\"heard\":%d,"
	       "\"settled_s\":%.1f,\"first_audio_ms_p50\":%.1f,\"first_audio_ms_p99\":%.1f,\"first_audio_ms_max\":%.1f,"
	       "\"redirects\":%llu,\"redirects_to_failed\":%llu,\"busy\":%llu,\"timeouts\":%llu",
	       L.npeople, o->floors, nfirst, o->storm_s, admitted, refused, heard, storm_in_s, fa50, fa99, famax,
	       (unsigned long long)red, (unsigned long long)co.n.redirects_to_bad, (unsigned long long)busy,
	       (unsigned long long)(co.n.timeouts_cookie + co.n.timeouts_attempt));
	if (co.t_kill)
		printf(",\"killed_people\":%d,\"killed_hearing\":%d,\"lost_ms_p50\":%.1f,\"lost_ms_p99\":%.1f,"
		       "\"rejoined_ms_p50\":%.1f,\"rejoined_ms_p99\":%.1f,\"back_ms_p50\":%.1f,\"back_ms_p99\":%.1f,"
		       "\"back_ms_max\":%.1f,\"back\":%d,\"never_back\":%d,\"recover_bound_s\":%.0f,\"others\":%d,"
		       "\"others_gap_ms_p99\":%.1f,\"others_gap_ms_max\":%.1f,\"others_lost\":%d",
		       on_killed, victims, l50, l99, r50, r99, b50, b99, bmax, back, never, o->recover_s, nv, g99, gmax,
		       lost_elsewhere);
	printf(",\"gen_ticks_late_10ms\":%llu,\"gen_late_ms_max\":%.1f,\"gen_stalls\":%llu,\"lost_disconnect\":%llu,"
	       "\"lost_silence\":%llu}\n", (unsigned long long)L.gen_late_10ms, (double)L.gen_late_max / 1e6,
	       (unsigned long long)co.n.stalls, (unsigned long long)co.n.lost_disconnect, (unsigned long long)co.n.lost_silence);
	free(v);
	for (int i = 0; i < L.npeople; i++)
		drop_peer(&L.cl[i], true);
	for (int i = 0; i < L.nhosts; i++) {
		enet_host_flush(L.hosts[i].h);
		enet_host_destroy(L.hosts[i].h);
	}
	es_floor_free(co.plan);
	free(co.cp);
	free(co.ck);
	return rc;
}
