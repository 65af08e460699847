/* SPDX-License-Identifier: MIT */
/*
 * The server loop.  One thread: between ticks it waits on the ENet socket
 * with an absolute CLOCK_MONOTONIC deadline, drains what arrived, and at the
 * deadline runs the tick (engine, bundles, presence), flushes, and moves the
 * deadline on by exactly 20 ms, so ticks never drift.
 *
 * Nothing about a person exists before their HELLO is accepted: a connected
 * peer that has not joined holds only its ENet slot and its connect time,
 * and is reset after PREJOIN_MS.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <enet/enet.h>

#include "earshot-mixer.h"
#include "earshot-proto.h"
#include "log.h"
#include "server.h"

#define TICK_NS 20000000LL
#define PREJOIN_MS 2000
#define PRESENCE_EVERY 5   /* ticks between presence delta batches */
#define TALK_HOLD_TICKS 10 /* talking shows for 200 ms after the last frame */
#define PEER_SLACK 64      /* ENet slots above max_people, to answer "busy" */

struct person {
	bool used;
	ENetPeer *peer;
	char name[ES_NAME_MAX + 1];
	uint8_t name_len;
	struct es_pos pos;
	uint8_t flags;     /* ES_PF_* as last told by the client */
	bool talking;      /* as last announced */
	uint64_t last_voice_tick;
	bool dirty;        /* place or flags changed since last presence batch */
};

struct peer_slot {
	int64_t connected_ms;
	int person; /* -1 until joined */
};

#define RESET_SLOTS 1024
#define RESET_EVERY_MS 250

struct es_server {
	struct es_server_config cfg;
	/* last reset sent per hashed source address, to bound what we send */
	int64_t reset_at[RESET_SLOTS];
	ENetHost *host;
	struct es_engine *engine;
	struct person *people;
	struct peer_slot *slots;
	struct es_server_counters c;
	uint64_t tick;
	unsigned *leaves; /* ids left since the last presence batch */
	unsigned nleaves;
	uint8_t buf[ES_MSG_MAX];
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One line per event through daemon/log.h: timestamp, level, journal-aware. */
static void logf_(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(const char *level, const char *fmt, ...)
{
	char msg[ES_LOG_LINE_MAX];
	va_list ap;
	enum es_log_level lv = ES_LOG_INFO;
	if (es_log_level_parse(level, &lv) < 0)
		lv = ES_LOG_INFO;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	es_log(lv, "%s", msg);
}

void es_server_config_default(struct es_server_config *cfg)
{
	cfg->listen = "127.0.0.1:7700";
	cfg->max_people = 256;
	cfg->range_m = 15.0f;
	cfg->max_voices = 6;
	cfg->bitrate = 32000;
	cfg->complexity = 5;
	cfg->hooks = NULL;
}

/* "ADDR:PORT" with ADDR a dotted quad or a host name. */
static int parse_addr(const char *s, ENetAddress *a)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s || colon[1] == 0)
		return -EINVAL;
	char host[256];
	size_t hl = (size_t)(colon - s);
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = 0;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port <= 0 || port > 65535)
		return -EINVAL;
	if (enet_address_set_host_ip(a, host) != 0 && enet_address_set_host(a, host) != 0)
		return -EINVAL;
	a->port = (enet_uint16)port;
	return 0;
}

/*
 * Raw datagrams before ENet: traffic addressed to a peer slot that is not
 * connected is from a session this process does not have (we restarted):
 * answer with a reset so the client reconnects at once.  Returns 1 to
 * consume the datagram, 0 to let ENet handle it.
 */
/* ENet 1.3 hosts carry no user pointer; the daemon has exactly one host. */
static struct es_server *intercept_owner;

static int ENET_CALLBACK intercept(ENetHost *host, ENetEvent *event)
{
	(void)event;
	struct es_server *s = intercept_owner;
	int id = es_enet_peer_id(host->receivedData, host->receivedDataLength);
	if (id < 0 || id == 0xFFF || !s)
		return 0;
	if ((size_t)id < host->peerCount && host->peers[id].state != ENET_PEER_STATE_DISCONNECTED)
		return 0;
	uint32_t h = (host->receivedAddress.host * 2654435761u) ^ (host->receivedAddress.port * 40503u);
	int64_t *last = &s->reset_at[h % RESET_SLOTS];
	int64_t now = now_ns() / 1000000;
	if (now - *last >= RESET_EVERY_MS) {
		*last = now;
		ENetBuffer b = {.data = (void *)ES_RESET_MAGIC, .dataLength = ES_RESET_LEN};
		enet_socket_send(host->socket, &host->receivedAddress, &b, 1);
		s->c.resets_sent++;
	}
	return 1;
}

struct es_server *es_server_new(const struct es_server_config *cfg)
{
	struct es_server *s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->cfg = *cfg;
	int err = ENOMEM;
	ENetAddress addr;
	if (cfg->max_people == 0 || cfg->max_people + PEER_SLACK > ENET_PROTOCOL_MAXIMUM_PEER_ID) {
		logf_("error", "max people must be 1..%d", ENET_PROTOCOL_MAXIMUM_PEER_ID - PEER_SLACK);
		err = EINVAL;
		goto err_free;
	}
	if (parse_addr(cfg->listen, &addr) < 0) {
		logf_("error", "bad listen address '%s' (expected ADDR:PORT)", cfg->listen);
		err = EINVAL;
		goto err_free;
	}
	struct es_engine_config ec;
	es_engine_config_default(&ec);
	ec.max_people = cfg->max_people;
	ec.ac.range_m = cfg->range_m;
	ec.ac.max_voices = cfg->max_voices;
	ec.bitrate = cfg->bitrate;
	ec.complexity = cfg->complexity;
	s->engine = es_engine_new(&ec);
	if (!s->engine) {
		err = errno;
		logf_("error", "cannot create the mixer: %s", strerror(err));
		goto err_free;
	}
	s->people = calloc(cfg->max_people, sizeof(*s->people));
	s->leaves = calloc(cfg->max_people, sizeof(*s->leaves));
	if (!s->people || !s->leaves)
		goto err_engine;
	size_t npeers = cfg->max_people + PEER_SLACK;
	s->slots = calloc(npeers, sizeof(*s->slots));
	if (!s->slots)
		goto err_engine;
	s->host = enet_host_create(&addr, npeers, ES_CHAN_COUNT, 0, 0);
	if (!s->host) {
		err = EADDRINUSE;
		logf_("error", "cannot listen on %s (in use, or not an address of this machine)", cfg->listen);
		goto err_engine;
	}
	intercept_owner = s;
	s->host->intercept = intercept;
	/* slots[i] belongs to host->peers[i] for the host's whole life */
	for (size_t i = 0; i < npeers; i++) {
		s->slots[i].person = -1;
		s->host->peers[i].data = &s->slots[i];
	}
	return s;

err_engine:
	free(s->slots);
	free(s->leaves);
	free(s->people);
	es_engine_free(s->engine);
err_free:
	free(s);
	errno = err;
	return NULL;
}

void es_server_free(struct es_server *s)
{
	if (!s)
		return;
	if (s->host)
		enet_host_destroy(s->host);
	if (intercept_owner == s)
		intercept_owner = NULL;
	es_engine_free(s->engine);
	free(s->slots);
	free(s->leaves);
	free(s->people);
	free(s);
}

void es_server_get_counters(const struct es_server *s, struct es_server_counters *c)
{
	*c = s->c;
}

static int send_msg(struct es_server *s, ENetPeer *peer, const struct es_msg *m)
{
	int n = es_msg_encode(m, s->buf, sizeof(s->buf));
	if (n < 0)
		return n;
	bool audio = m->type == ES_MSG_AUDIO_DOWN;
	ENetPacket *p = enet_packet_create(s->buf, (size_t)n, audio ? ENET_PACKET_FLAG_UNSEQUENCED : ENET_PACKET_FLAG_RELIABLE);
	if (!p)
		return -ENOMEM;
	if (enet_peer_send(peer, audio ? ES_CHAN_AUDIO : ES_CHAN_CONTROL, p) < 0) {
		enet_packet_destroy(p);
		return -EIO;
	}
	s->c.packets_out++;
	s->c.bytes_out += (uint64_t)n;
	return 0;
}

/* Send one encoded control message to everyone joined, sharing one packet. */
static void broadcast(struct es_server *s, const struct es_msg *m, int except)
{
	int n = es_msg_encode(m, s->buf, sizeof(s->buf));
	if (n < 0)
		return;
	ENetPacket *p = enet_packet_create(s->buf, (size_t)n, ENET_PACKET_FLAG_RELIABLE);
	if (!p)
		return;
	for (unsigned i = 0; i < s->cfg.max_people; i++) {
		struct person *q = &s->people[i];
		if (!q->used || (int)i == except)
			continue;
		if (enet_peer_send(q->peer, ES_CHAN_CONTROL, p) == 0) {
			s->c.packets_out++;
			s->c.bytes_out += (uint64_t)n;
		}
	}
	if (p->referenceCount == 0)
		enet_packet_destroy(p);
}

static float pos_facing_rad(const struct es_pos *p)
{
	return (float)p->facing * (float)M_PI / 1800.0f;
}

/* Tell the engine what a person's flags mean for the mix. */
static void apply_flags(struct es_server *s, unsigned id)
{
	const struct person *q = &s->people[id];
	unsigned f = (q->flags & ES_PF_MUTED ? ES_ENGINE_MUTED : 0) | (q->flags & ES_PF_FOCUS ? ES_ENGINE_FOCUS : 0);
	int r = es_engine_set_flags(s->engine, id, f);
	if (r < 0)
		logf_("warn", "cannot set flags of #%u: %s", id, strerror(-r));
}

static void presence_join_entry(const struct person *q, unsigned id, struct es_presence_entry *e)
{
	e->id = (uint16_t)id;
	e->kind = ES_PRESENCE_JOIN;
	e->flags = (uint8_t)(q->flags | (q->talking ? ES_PF_TALKING : 0));
	e->pos = q->pos;
	e->name_len = q->name_len;
	e->name = q->name;
}

/* Tell a newcomer who is already here, in batches. */
static void send_roster(struct es_server *s, unsigned to)
{
	struct es_msg m = {.type = ES_MSG_PRESENCE};
	struct es_presence *p = &m.u.presence;
	p->count = 0;
	for (unsigned i = 0; i < s->cfg.max_people; i++) {
		if (!s->people[i].used)
			continue;
		presence_join_entry(&s->people[i], i, &p->entry[p->count++]);
		if (p->count == ES_PRESENCE_MAX) {
			(void)send_msg(s, s->people[to].peer, &m);
			p->count = 0;
		}
	}
	if (p->count)
		(void)send_msg(s, s->people[to].peer, &m);
}

static void handle_hello(struct es_server *s, ENetPeer *peer, struct peer_slot *slot, const struct es_hello *h)
{
	if (slot->person >= 0) {
		s->c.drop_malformed++; /* a second HELLO: ignore */
		return;
	}
	if (h->version != ES_PROTO_VERSION) {
		struct es_msg bye = {.type = ES_MSG_BYE, .u.bye.reason = ES_BYE_PROTOCOL};
		(void)send_msg(s, peer, &bye);
		enet_peer_disconnect_later(peer, 0);
		return;
	}
	int id = -1;
	for (unsigned i = 0; i < s->cfg.max_people; i++)
		if (!s->people[i].used) {
			id = (int)i;
			break;
		}
	if (id < 0) {
		s->c.refused_full++;
		struct es_msg busy = {.type = ES_MSG_BUSY};
		/* jitter the retry so refused people do not come back in lockstep */
		busy.u.busy.retry_after_ms = 2000 + (uint32_t)(rand() % 3000);
		(void)send_msg(s, peer, &busy);
		enet_peer_disconnect_later(peer, 0);
		return;
	}
	struct person *q = &s->people[id];
	struct es_pos pos = h->pos;
	if (s->cfg.hooks && s->cfg.hooks->join) {
		char name[ES_NAME_MAX + 1];
		memcpy(name, h->name, h->name_len);
		name[h->name_len] = 0;
		s->cfg.hooks->join(s->cfg.hooks->ud, name, &pos.x_cm, &pos.y_cm, &pos.facing);
	}
	int r = es_engine_add(s->engine, (unsigned)id, (float)pos.x_cm / 100.0f, (float)pos.y_cm / 100.0f,
			      pos_facing_rad(&pos));
	if (r < 0) {
		logf_("warn", "cannot add %.*s: %s", h->name_len, h->name, strerror(-r));
		enet_peer_disconnect_later(peer, 0);
		return;
	}
	memset(q, 0, sizeof(*q));
	q->used = true;
	q->peer = peer;
	memcpy(q->name, h->name, h->name_len);
	q->name[h->name_len] = 0;
	q->name_len = h->name_len;
	q->pos = pos;
	q->flags = h->flags & (ES_PF_MUTED | ES_PF_FOCUS | ES_PF_THIN);
	apply_flags(s, (unsigned)id);
	slot->person = id;
	s->c.joins++;
	s->c.people++;

	struct es_msg w = {.type = ES_MSG_WELCOME};
	w.u.welcome = (struct es_welcome){ES_PROTO_VERSION, (uint16_t)id, q->pos};
	(void)send_msg(s, peer, &w);
	send_roster(s, (unsigned)id);
	struct es_msg j = {.type = ES_MSG_PRESENCE};
	j.u.presence.count = 1;
	presence_join_entry(q, (unsigned)id, &j.u.presence.entry[0]);
	broadcast(s, &j, id);
	logf_("info", "%s joined as #%d at %.2f,%.2f (%u here)", q->name, id, q->pos.x_cm / 100.0, q->pos.y_cm / 100.0,
	      s->c.people);
}

static void person_leave(struct es_server *s, struct peer_slot *slot)
{
	if (slot->person < 0)
		return;
	unsigned id = (unsigned)slot->person;
	struct person *q = &s->people[id];
	logf_("info", "%s left (#%u)", q->name, id);
	if (s->cfg.hooks && s->cfg.hooks->place)
		s->cfg.hooks->place(s->cfg.hooks->ud, q->name, q->pos.x_cm, q->pos.y_cm, q->pos.facing);
	es_engine_remove(s->engine, id);
	memset(q, 0, sizeof(*q));
	slot->person = -1;
	s->leaves[s->nleaves++] = id;
	s->c.leaves++;
	s->c.people--;
}

static void handle_packet(struct es_server *s, ENetPeer *peer, const ENetPacket *pkt)
{
	struct peer_slot *slot = peer->data;
	s->c.packets_in++;
	s->c.bytes_in += pkt->dataLength;
	if (pkt->dataLength > ES_MSG_MAX) {
		s->c.drop_oversize++;
		return;
	}
	struct es_msg m;
	int r = es_msg_decode(&m, pkt->data, pkt->dataLength);
	if (r < 0) {
		if (r == -EPROTONOSUPPORT)
			s->c.drop_unknown++;
		else
			s->c.drop_malformed++;
		return;
	}
	if (m.type == ES_MSG_HELLO) {
		handle_hello(s, peer, slot, &m.u.hello);
		return;
	}
	if (slot->person < 0) {
		s->c.drop_unjoined++;
		return;
	}
	unsigned id = (unsigned)slot->person;
	struct person *q = &s->people[id];
	switch (m.type) {
	case ES_MSG_AUDIO_UP:
		if (q->flags & ES_PF_MUTED)
			break; /* a muted client should send nothing; be sure */
		r = es_engine_push(s->engine, id, m.u.up.seq, m.u.up.opus, m.u.up.len);
		if (r == -EALREADY)
			s->c.drop_late++;
		else if (r == -EMSGSIZE)
			s->c.drop_oversize++;
		else if (r == 0)
			q->last_voice_tick = s->tick;
		break;
	case ES_MSG_MOVE:
		if (es_engine_move(s->engine, id, (float)m.u.move.x_cm / 100.0f, (float)m.u.move.y_cm / 100.0f,
				   pos_facing_rad(&m.u.move)) == 0) {
			q->pos = m.u.move;
			q->dirty = true;
			if (s->cfg.hooks && s->cfg.hooks->place)
				s->cfg.hooks->place(s->cfg.hooks->ud, q->name, q->pos.x_cm, q->pos.y_cm, q->pos.facing);
		} else
			s->c.drop_malformed++;
		break;
	case ES_MSG_STATE:
		q->flags = m.u.state.flags & (ES_PF_MUTED | ES_PF_FOCUS | ES_PF_THIN);
		apply_flags(s, id);
		q->dirty = true;
		break;
	default:
		s->c.drop_unknown++; /* a server-to-client type from a client */
		break;
	}
}

static void on_connect(struct es_server *s, ENetPeer *peer)
{
	/* voice must not be throttled: our own loss handling is FEC and PLC */
	enet_peer_throttle_configure(peer, 5000, ENET_PEER_PACKET_THROTTLE_SCALE, 0);
	peer->packetThrottle = ENET_PEER_PACKET_THROTTLE_SCALE;
	enet_peer_timeout(peer, 0, 3000, 6000);
	struct peer_slot *slot = peer->data;
	slot->connected_ms = now_ns() / 1000000;
	slot->person = -1;
}

static void service(struct es_server *s)
{
	ENetEvent ev;
	int r;
	while ((r = enet_host_service(s->host, &ev, 0)) > 0) {
		switch (ev.type) {
		case ENET_EVENT_TYPE_CONNECT:
			on_connect(s, ev.peer);
			break;
		case ENET_EVENT_TYPE_RECEIVE:
			handle_packet(s, ev.peer, ev.packet);
			enet_packet_destroy(ev.packet);
			break;
		case ENET_EVENT_TYPE_DISCONNECT:
			person_leave(s, ev.peer->data);
			break;
		default:
			break;
		}
	}
}

struct emit_ctx {
	struct es_server *s;
};

static void emit(void *ud, const struct es_engine_out *out)
{
	struct es_server *s = ud;
	struct person *q = &s->people[out->listener];
	if (!q->used)
		return;
	struct es_msg m = {.type = ES_MSG_AUDIO_DOWN};
	struct es_audio_down *d = &m.u.down;
	d->tick = (uint32_t)s->tick;
	d->nvoices = (uint8_t)(out->nvoices > ES_BUNDLE_VOICES_MAX ? ES_BUNDLE_VOICES_MAX : out->nvoices);
	for (unsigned i = 0; i < d->nvoices; i++) {
		float az = out->voice[i].azimuth * 1800.0f / (float)M_PI;
		d->voice[i] = (struct es_bundle_voice){
			.speaker = (uint16_t)out->voice[i].speaker,
			.seq = out->voice[i].seq,
			.gain_q = es_gain_to_q(out->voice[i].gain),
			.azimuth = (int16_t)lrintf(fmaxf(-1800.0f, fminf(1800.0f, az))),
			.len = (uint16_t)out->voice[i].len,
			.opus = out->voice[i].opus,
		};
	}
	d->mix_len = (uint16_t)out->mix_len;
	d->mix = out->mix;
	(void)send_msg(s, q->peer, &m);
}

/* Presence deltas: places and flags that changed, talking edges, leaves. */
static void presence_batch(struct es_server *s)
{
	struct es_msg m = {.type = ES_MSG_PRESENCE};
	struct es_presence *p = &m.u.presence;
	p->count = 0;
	for (unsigned i = 0; i < s->nleaves; i++) {
		p->entry[p->count++] = (struct es_presence_entry){.id = (uint16_t)s->leaves[i], .kind = ES_PRESENCE_LEAVE};
		if (p->count == ES_PRESENCE_MAX) {
			broadcast(s, &m, -1);
			p->count = 0;
		}
	}
	s->nleaves = 0;
	s->c.talking = s->c.muted = 0;
	for (unsigned i = 0; i < s->cfg.max_people; i++) {
		struct person *q = &s->people[i];
		if (!q->used)
			continue;
		bool talking = !(q->flags & ES_PF_MUTED) && q->last_voice_tick && s->tick - q->last_voice_tick < TALK_HOLD_TICKS;
		s->c.talking += talking;
		s->c.muted += !!(q->flags & ES_PF_MUTED);
		if (talking != q->talking) {
			q->talking = talking;
			q->dirty = true;
		}
		if (!q->dirty)
			continue;
		q->dirty = false;
		p->entry[p->count++] = (struct es_presence_entry){
			.id = (uint16_t)i,
			.kind = ES_PRESENCE_UPDATE,
			.flags = (uint8_t)(q->flags | (q->talking ? ES_PF_TALKING : 0)),
			.pos = q->pos,
		};
		if (p->count == ES_PRESENCE_MAX) {
			broadcast(s, &m, -1);
			p->count = 0;
		}
	}
	if (p->count)
		broadcast(s, &m, -1);
}

static void reap_prejoin(struct es_server *s)
{
	int64_t now_ms = now_ns() / 1000000;
	for (size_t i = 0; i < s->host->peerCount; i++) {
		ENetPeer *peer = &s->host->peers[i];
		struct peer_slot *slot = &s->slots[i];
		if (peer->state == ENET_PEER_STATE_DISCONNECTED || slot->person >= 0)
			continue;
		if (peer->state == ENET_PEER_STATE_CONNECTED && now_ms - slot->connected_ms > PREJOIN_MS) {
			s->c.drop_unjoined++;
			enet_peer_reset(peer);
		}
	}
}

static int tick(struct es_server *s)
{
	int64_t start = now_ns();
	s->tick++;
	s->c.ticks++;
	service(s); /* ENet's own timers (acks, timeouts) run on every tick */
	int r = es_engine_tick(s->engine, emit, s);
	if (r < 0) {
		static struct es_log_ratelimit rl; /* a failing codec would fail every tick */
		es_log_rl(&rl, (uint64_t)(now_ns() / 1000000), ES_LOG_ERROR, "mixer tick failed: %s", strerror(-r));
	}
	if (s->tick % PRESENCE_EVERY == 0)
		presence_batch(s);
	if (s->tick % 50 == 0)
		reap_prejoin(s);
	enet_host_flush(s->host);
	if (s->cfg.hooks && s->cfg.hooks->tick) {
		struct es_engine_stats es;
		es_engine_get_stats(s->engine, &es);
		s->c.plan_silent = es.listeners_silent;
		s->c.plan_forward = es.listeners_forward;
		s->c.plan_mix = es.listeners_mix;
		s->c.encodes = es.encodes;
		s->cfg.hooks->tick(s->cfg.hooks->ud, &s->c, (uint64_t)(now_ns() - start));
	}
	return 0;
}

static void say_goodbye(struct es_server *s, uint8_t reason)
{
	struct es_msg bye = {.type = ES_MSG_BYE, .u.bye.reason = reason};
	for (unsigned i = 0; i < s->cfg.max_people; i++)
		if (s->people[i].used) {
			(void)send_msg(s, s->people[i].peer, &bye);
			enet_peer_disconnect_later(s->people[i].peer, 0);
		}
	enet_host_flush(s->host);
	/* give the disconnects up to 300 ms to be acknowledged */
	int64_t until = now_ns() + 300000000LL;
	ENetEvent ev;
	while (s->c.people > 0 && now_ns() < until) {
		if (enet_host_service(s->host, &ev, 10) > 0 && ev.type == ENET_EVENT_TYPE_DISCONNECT)
			person_leave(s, ev.peer->data);
		else if (ev.type == ENET_EVENT_TYPE_RECEIVE)
			enet_packet_destroy(ev.packet);
	}
}

int es_server_run(struct es_server *s, volatile int *stop)
{
	int64_t deadline = now_ns() + TICK_NS;
	struct pollfd pfd = {.fd = s->host->socket, .events = POLLIN};
	while (!*stop) {
		int64_t now = now_ns();
		if (now >= deadline) {
			int r = tick(s);
			if (r < 0)
				return r;
			deadline += TICK_NS;
			int64_t after = now_ns();
			if (after > deadline) {
				s->c.ticks_late++;
				/* more than a few ticks behind: start again from now rather than burst */
				if (after - deadline > 5 * TICK_NS)
					deadline = after + TICK_NS;
			}
			continue;
		}
		int64_t wait = deadline - now;
		struct timespec ts = {.tv_sec = wait / 1000000000LL, .tv_nsec = wait % 1000000000LL};
		int pr = ppoll(&pfd, 1, &ts, NULL);
		if (pr < 0 && errno != EINTR)
			return -errno;
		if (pr > 0)
			service(s);
	}
	say_goodbye(s, ES_BYE_RESTART);
	return 0;
}
