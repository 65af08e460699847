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

#include <sodium.h>

#include "earshot-crypto.h"
#include "earshot-mixer.h"
#include "earshot-proto.h"
#include "log.h"
#include "server.h"

#define TICK_NS 20000000LL
#define PREJOIN_MS 2000
#define PREJOIN_QUEUED_MS 15000
#define PRESENCE_EVERY 5   /* ticks between presence delta batches */
#define TALK_HOLD_TICKS 10 /* talking shows for 200 ms after the last frame */
/*
 * ENet slots above max_people, so that arrivals over the limit still get a
 * slot long enough to be told "busy, retry after N s" (a refused slot is
 * free again one round trip later).  ENet allows 4095 peers per host.
 */
static size_t peer_slots(unsigned max_people)
{
	size_t slack = max_people / 2 < 256 ? 256 : max_people / 2;
	size_t n = max_people + slack;
	return n > ENET_PROTOCOL_MAXIMUM_PEER_ID ? ENET_PROTOCOL_MAXIMUM_PEER_ID : n;
}

#define SERVICE_EVERY_NS 10000000LL /* ENet between ticks: once, halfway */
#define HS_MIN_PER_TICK 4       /* handshakes answered per tick, whatever the load */
#define HS_SLACK_NS 3000000LL   /* more only while this much of the tick is left */

struct person {
	bool used;
	ENetPeer *peer;
	char name[ES_NAME_MAX + 1];
	uint8_t name_len;
	struct es_pos pos;
	uint8_t flags;     /* ES_PF_* as last told by the client */
	bool admin_muted;  /* an admin muted them: their audio is dropped */
	bool talking;      /* as last announced */
	uint64_t last_voice_tick;
	bool dirty;        /* place or flags changed since last presence batch */
	bool announce;     /* joined since the last presence batch */
	int desk;          /* floor desk held while here, -1 none */
	bool roster;       /* wants presence (who is where) */
	int whisper_to;    /* person whispered to, -1 none */
	int64_t last_knock_ms;
};

enum slot_state {
	SLOT_IDLE,      /* ENet connected, waiting for handshake message 1 */
	SLOT_QUEUED,    /* message 1 received, waiting for its turn */
	SLOT_AUTHED,    /* handshake done: everything is sealed */
};

struct peer_slot {
	int64_t connected_ms;
	int person; /* -1 until joined */
	enum slot_state st;
	uint8_t key[32];         /* the client's static key, once authed */
	struct es_cipher tx, rx; /* sealing to / opening from this peer */
	uint16_t msg1_len;
	uint8_t msg1[ES_NOISE_MSG1_MAX];
};

/* Per-address token buckets for cookie replies and handshakes. */
#define RATE_SLOTS 4096
struct bucket {
	uint32_t host;
	float tokens;
	int64_t at_ms;
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
	uint8_t sealed[ES_MSG_MAX + ES_CIPHER_OVERHEAD + 1];
	struct es_keypair key;
	uint8_t cookie_secret[ES_COOKIE_SECRET_LEN];
	struct bucket rate[RATE_SLOTS];
	uint8_t *desk_taken; /* per floor desk: someone sits there now */
	unsigned ndesks;
	unsigned *hs_queue; /* ring of peer indices with a queued message 1 */
	int64_t last_service_ns;
	unsigned hs_head, hs_count;
	struct es_server_poll poll; /* extra fds (admin socket); fds NULL = none */
	uint8_t (*muted_keys)[32];  /* keys an admin muted, max_people of them */
	unsigned nmuted;
};

#define HS_RATE 20.0f  /* handshakes per second and address, sustained */
#define HS_BURST 60.0f

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
	cfg->key_priv = NULL;
	cfg->peers_per_address = 64;
	cfg->handshakes_per_tick = 24;
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

/* Take one token from addr's bucket (rate/s, burst); false if empty. */
static bool rate_ok(struct es_server *s, uint32_t host, float rate, float burst)
{
	struct bucket *b = &s->rate[(host * 2654435761u) >> 20 & (RATE_SLOTS - 1)];
	int64_t now = now_ns() / 1000000;
	if (b->host != host || b->at_ms == 0) {
		b->host = host;
		b->tokens = burst;
		b->at_ms = now;
	}
	b->tokens += (float)(now - b->at_ms) * rate / 1000.0f;
	if (b->tokens > burst)
		b->tokens = burst;
	b->at_ms = now;
	if (b->tokens < 1.0f)
		return false;
	b->tokens -= 1.0f;
	return true;
}

/* A reset datagram to a, at most one per RESET_EVERY_MS per address. */
static void send_reset(struct es_server *s, ENetHost *host, const ENetAddress *a)
{
	uint32_t h = (a->host * 2654435761u) ^ (a->port * 40503u);
	int64_t *last = &s->reset_at[h % RESET_SLOTS];
	int64_t now = now_ns() / 1000000;
	if (now - *last < RESET_EVERY_MS)
		return;
	*last = now;
	ENetBuffer b = {.data = (void *)ES_RESET_MAGIC, .dataLength = ES_RESET_LEN};
	enet_socket_send(host->socket, a, &b, 1);
	s->c.resets_sent++;
}

/*
 * Raw datagrams, before ENet sees them:
 *  - cookie requests are answered statelessly (see earshot-crypto.h);
 *  - a CONNECT is let through only with a valid cookie for its source
 *    address, so a sender that cannot receive there never takes a slot;
 *  - traffic for a peer slot that is not connected is from a session this
 *    process does not have (we restarted): answer with a reset so the
 *    client reconnects at once.
 * Returns 1 to consume the datagram, 0 to let ENet handle it.
 */
static int ENET_CALLBACK intercept(ENetHost *host, ENetEvent *event)
{
	(void)event;
	struct es_server *s = intercept_owner;
	const uint8_t *buf = host->receivedData;
	size_t len = host->receivedDataLength;
	const ENetAddress *a = &host->receivedAddress;
	if (!s)
		return 0;
	uint64_t slot = es_cookie_slot((uint64_t)(now_ns() / 1000000000LL));
	if (es_cookie_is_raw(buf, len)) {
		uint8_t nonce[ES_COOKIE_NONCE_LEN], reply[ES_COOKIE_REPLY_LEN];
		if (es_cookie_request_parse(buf, len, nonce) < 0) {
			s->c.drop_cookie++;
			return 1;
		}
		if (!rate_ok(s, a->host, 50.0f, 100.0f)) {
			s->c.drop_rate++;
			return 1;
		}
		int n = es_cookie_reply_build(nonce, es_cookie_make(s->cookie_secret, a->host, a->port, slot), reply,
					      sizeof(reply));
		if (n > 0) {
			ENetBuffer b = {.data = reply, .dataLength = (size_t)n};
			enet_socket_send(host->socket, a, &b, 1);
			s->c.cookies_sent++;
		}
		return 1;
	}
	uint32_t data;
	int c = es_enet_connect_parse(buf, len, host->checksum != NULL, &data);
	if (c < 0) {
		s->c.drop_malformed++;
		return 1;
	}
	if (c == 1) {
		if (es_cookie_check(s->cookie_secret, a->host, a->port, slot, data) == 0)
			return 0;
		s->c.drop_cookie++;
		/* a cookie from before a restart: say so, so the client fetches a new one */
		send_reset(s, host, a);
		return 1;
	}
	/*
	 * Everything else is ENet traffic for an existing peer.  Mirror the
	 * checks ENet makes before it silently ignores a datagram, so that
	 * junk is counted rather than vanishing.
	 */
	int id = es_enet_peer_id(buf, len);
	if (id < 0 || id == 0xFFF || (size_t)id >= host->peerCount) {
		s->c.drop_malformed++; /* only a CONNECT may come without a peer */
		return 1;
	}
	ENetPeer *peer = &host->peers[id];
	if (peer->state != ENET_PEER_STATE_DISCONNECTED && peer->state != ENET_PEER_STATE_ZOMBIE) {
		unsigned session = ((unsigned)buf[0] >> 4) & 3;
		if (peer->address.host != a->host || peer->address.port != a->port ||
		    (peer->outgoingPeerID < ENET_PROTOCOL_MAXIMUM_PEER_ID && session != peer->incomingSessionID)) {
			/* that slot is someone else's now (often: we restarted and it was
			 * given to whoever rejoined first): the sender must reconnect */
			s->c.drop_nosession++;
			send_reset(s, host, a);
			return 1;
		}
		return 0;
	}
	/* a session this process does not have: tell the sender to reconnect */
	s->c.drop_nosession++;
	send_reset(s, host, a);
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
	if (cfg->max_people == 0 || cfg->max_people + 64 > ENET_PROTOCOL_MAXIMUM_PEER_ID) {
		logf_("error", "max people must be 1..%d", ENET_PROTOCOL_MAXIMUM_PEER_ID - 64);
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
	ec.mirror_mixes = true; /* the downlink carries ES_MIX_MIRROR and the client swaps */
	s->engine = es_engine_new(&ec);
	if (!s->engine) {
		err = errno;
		logf_("error", "cannot create the mixer: %s", strerror(err));
		goto err_free;
	}
	es_engine_set_floor(s->engine, cfg->floor);
	s->ndesks = cfg->floor ? es_floor_desk_count(cfg->floor) : 0;
	s->desk_taken = calloc(s->ndesks ? s->ndesks : 1, 1);
	if (!s->desk_taken)
		goto err_engine;
	s->people = calloc(cfg->max_people, sizeof(*s->people));
	s->leaves = calloc(cfg->max_people, sizeof(*s->leaves));
	if (!s->people || !s->leaves)
		goto err_engine;
	size_t npeers = peer_slots(cfg->max_people);
	s->slots = calloc(npeers, sizeof(*s->slots));
	s->hs_queue = calloc(npeers, sizeof(*s->hs_queue));
	s->muted_keys = calloc(cfg->max_people, sizeof(*s->muted_keys));
	if (!s->slots || !s->hs_queue || !s->muted_keys)
		goto err_engine;
	if (!cfg->key_priv || es_noise_keypair_from_private(&s->key, cfg->key_priv) < 0) {
		logf_("error", "no usable server key");
		err = EINVAL;
		goto err_engine;
	}
	randombytes_buf(s->cookie_secret, sizeof(s->cookie_secret));
	s->host = enet_host_create(&addr, npeers, ES_CHAN_COUNT, 0, 0);
	if (!s->host) {
		err = EADDRINUSE;
		logf_("error", "cannot listen on %s (in use, or not an address of this machine)", cfg->listen);
		goto err_engine;
	}
	intercept_owner = s;
	s->host->intercept = intercept;
	s->host->duplicatePeers = cfg->peers_per_address ? cfg->peers_per_address : 64;
	/* slots[i] belongs to host->peers[i] for the host's whole life */
	for (size_t i = 0; i < npeers; i++) {
		s->slots[i].person = -1;
		s->host->peers[i].data = &s->slots[i];
	}
	return s;

err_engine:
	free(s->desk_taken);
	es_keypair_clear(&s->key);
	free(s->muted_keys);
	free(s->hs_queue);
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
	if (s->slots)
		sodium_memzero(s->slots, peer_slots(s->cfg.max_people) * sizeof(*s->slots));
	es_keypair_clear(&s->key);
	sodium_memzero(s->cookie_secret, sizeof(s->cookie_secret));
	free(s->muted_keys);
	free(s->desk_taken);
	free(s->hs_queue);
	free(s->slots);
	free(s->leaves);
	free(s->people);
	free(s);
}

void es_server_get_counters(const struct es_server *s, struct es_server_counters *c)
{
	*c = s->c;
}

/*
 * Encode m for peer: in the clear before the handshake (only the types
 * es_msg_is_plain allows), sealed with the peer's key after it.  Returns
 * the bytes to send (in s->buf or s->sealed) and their length.
 */
static int frame_for(struct es_server *s, struct peer_slot *slot, const struct es_msg *m, const uint8_t **out)
{
	int n = es_msg_encode(m, s->buf, sizeof(s->buf));
	if (n < 0)
		return n;
	if (slot->st != SLOT_AUTHED) {
		if (!es_msg_is_plain(m->type))
			return -EPERM;
		*out = s->buf;
		return n;
	}
	static const uint8_t ad = ES_MSG_SEALED;
	s->sealed[0] = ES_MSG_SEALED;
	int k = es_cipher_seal(&slot->tx, &ad, 1, s->buf, (size_t)n, s->sealed + 1, sizeof(s->sealed) - 1);
	if (k < 0)
		return k;
	*out = s->sealed;
	return k + 1;
}

static int send_msg(struct es_server *s, ENetPeer *peer, const struct es_msg *m)
{
	const uint8_t *bytes;
	int n = frame_for(s, peer->data, m, &bytes);
	if (n < 0)
		return n;
	bool audio = m->type == ES_MSG_AUDIO_DOWN;
	ENetPacket *p = enet_packet_create(bytes, (size_t)n, audio ? ENET_PACKET_FLAG_UNSEQUENCED : ENET_PACKET_FLAG_RELIABLE);
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

/* Send a control message to everyone joined: each peer has its own key. */
static void broadcast(struct es_server *s, const struct es_msg *m, int except)
{
	for (unsigned i = 0; i < s->cfg.max_people; i++) {
		struct person *q = &s->people[i];
		if (q->used && (int)i != except)
			(void)send_msg(s, q->peer, m);
	}
}

/* Presence goes to those who asked for it at join (a UI draws it; bots need not). */
static void broadcast_presence(struct es_server *s, const struct es_msg *m)
{
	for (unsigned i = 0; i < s->cfg.max_people; i++) {
		struct person *q = &s->people[i];
		if (q->used && q->roster)
			(void)send_msg(s, q->peer, m);
	}
}

static float pos_facing_rad(const struct es_pos *p)
{
	return (float)p->facing * (float)M_PI / 1800.0f;
}

/* Tell the engine what a person's flags mean for the mix. */
static void apply_flags(struct es_server *s, unsigned id)
{
	const struct person *q = &s->people[id];
	unsigned f = (q->flags & ES_PF_MUTED || q->admin_muted ? ES_ENGINE_MUTED : 0) |
		     (q->flags & ES_PF_FOCUS ? ES_ENGINE_FOCUS : 0) | (q->flags & ES_PF_THIN ? ES_ENGINE_THIN : 0);
	int r = es_engine_set_flags(s->engine, id, f);
	if (r < 0)
		logf_("warn", "cannot set flags of #%u: %s", id, strerror(-r));
}

/* Flags as presence shows them: the client's, talking, and an admin's mute. */
static uint8_t presence_flags(const struct person *q)
{
	return (uint8_t)(q->flags | (q->talking ? ES_PF_TALKING : 0) |
			 (q->admin_muted ? ES_PF_MUTED | ES_PF_ADMIN_MUTED : 0));
}

static void presence_join_entry(const struct person *q, unsigned id, struct es_presence_entry *e)
{
	e->id = (uint16_t)id;
	e->kind = ES_PRESENCE_JOIN;
	e->flags = presence_flags(q);
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

static int free_person_id(const struct es_server *s)
{
	for (unsigned i = 0; i < s->cfg.max_people; i++)
		if (!s->people[i].used)
			return (int)i;
	return -1;
}

static void refuse(struct es_server *s, ENetPeer *peer, uint8_t reason)
{
	if (reason < 8)
		s->c.refused[reason]++;
	struct es_msg m = {.type = ES_MSG_REFUSED, .u.refused.reason = reason};
	(void)send_msg(s, peer, &m);
	enet_peer_disconnect_later(peer, 0);
}

static void busy(struct es_server *s, ENetPeer *peer)
{
	s->c.refused_full++;
	struct es_msg m = {.type = ES_MSG_BUSY};
	/* jitter the retry so refused people do not come back in lockstep */
	m.u.busy.retry_after_ms = 2000 + randombytes_uniform(3000);
	(void)send_msg(s, peer, &m);
	enet_peer_disconnect_later(peer, 0);
}

static void person_leave(struct es_server *s, struct peer_slot *slot);
static void whisper_notice(struct es_server *s, unsigned to, unsigned from, bool on);

/* Index of key among the admin-muted keys, or -1. */
static int muted_key_index(const struct es_server *s, const uint8_t key[32])
{
	for (unsigned i = 0; i < s->nmuted; i++)
		if (sodium_memcmp(s->muted_keys[i], key, 32) == 0)
			return (int)i;
	return -1;
}

/* Tell someone what an admin imposes on them (ES_MSG_ADMIN). */
static void tell_admin(struct es_server *s, unsigned id, uint8_t extra)
{
	struct person *q = &s->people[id];
	struct es_msg m = {.type = ES_MSG_ADMIN};
	m.u.admin.flags = (uint8_t)((q->admin_muted ? ES_ADMIN_MUTED : 0) | extra);
	m.u.admin.pos = q->pos;
	(void)send_msg(s, q->peer, &m);
}

/*
 * Admit an authenticated person: room state exists from here on.  Returns
 * the person id, or a negative errno.  The caller sends the WELCOME.
 */
static int admit(struct es_server *s, ENetPeer *peer, struct peer_slot *slot, const char *name,
		 const struct es_hello *h)
{
	int id = free_person_id(s);
	if (id < 0)
		return -EBUSY;
	struct person *q = &s->people[id];
	struct es_pos pos = h->pos;
	if (s->cfg.hooks && s->cfg.hooks->join)
		s->cfg.hooks->join(s->cfg.hooks->ud, slot->key, name, &pos.x_cm, &pos.y_cm, &pos.facing);
	if (h->flags & ES_PF_PLACE)
		pos = h->pos; /* they said where: that wins over memory */
	int desk = -1;
	if (!(h->flags & ES_PF_PLACE) && pos.x_cm == 0 && pos.y_cm == 0 && pos.facing == 0) {
		/* no place asked for and none remembered: the first free desk */
		for (unsigned i = 0; i < s->ndesks && desk < 0; i++)
			if (!s->desk_taken[i])
				desk = (int)i;
		float dx, dy;
		if (desk >= 0 && es_floor_desk(s->cfg.floor, (unsigned)desk, &dx, &dy, NULL) == 0) {
			pos.x_cm = (int32_t)lrintf(dx * 100.0f);
			pos.y_cm = (int32_t)lrintf(dy * 100.0f);
		} else
			desk = -1;
	}
	int r = es_engine_add(s->engine, (unsigned)id, (float)pos.x_cm / 100.0f, (float)pos.y_cm / 100.0f,
			      pos_facing_rad(&pos));
	if (r < 0) {
		logf_("warn", "cannot add %s: %s", name, strerror(-r));
		return r;
	}
	memset(q, 0, sizeof(*q));
	q->used = true;
	q->peer = peer;
	size_t nl = strlen(name);
	memcpy(q->name, name, nl + 1);
	q->name_len = (uint8_t)nl;
	q->pos = pos;
	q->flags = h->flags & (ES_PF_MUTED | ES_PF_FOCUS | ES_PF_THIN);
	q->admin_muted = muted_key_index(s, slot->key) >= 0;
	q->desk = desk;
	q->whisper_to = -1;
	q->roster = h->flags & ES_PF_ROSTER;
	if (desk >= 0)
		s->desk_taken[desk] = 1;
	apply_flags(s, (unsigned)id);
	/* remember the place from the first moment, not only after a move or a
	 * leave: a newcomer who just sits there must find it again after a crash */
	if (s->cfg.hooks && s->cfg.hooks->place)
		s->cfg.hooks->place(s->cfg.hooks->ud, slot->key, name, pos.x_cm, pos.y_cm, pos.facing);
	slot->person = id;
	s->c.joins++;
	s->c.people++;
	return id;
}

/* Someone new is here: tell them who else is, and everyone else about them. */
static void announce(struct es_server *s, unsigned id)
{
	struct person *q = &s->people[id];
	if (q->roster)
		send_roster(s, id);
	/* everyone else hears of the newcomer in the next presence batch: one
	 * message for many joins, not one per join (a join storm is N^2 otherwise) */
	q->announce = true;
	if (q->admin_muted)
		tell_admin(s, id, 0); /* an admin's mute outlasts a reconnect */
	logf_("info", "%s joined as #%u at %.2f,%.2f (%u here)", q->name, id, q->pos.x_cm / 100.0, q->pos.y_cm / 100.0,
	      s->c.people);
}

/*
 * Answer one queued handshake message 1.  Cheap checks come first (room
 * for one more), the Diffie-Hellman work after; nothing about the person
 * exists until the handshake and the authorisation both succeed.
 */
static void handshake(struct es_server *s, ENetPeer *peer, struct peer_slot *slot)
{
	slot->st = SLOT_IDLE;
	if (free_person_id(s) < 0) {
		busy(s, peer);
		return;
	}
	s->c.handshakes++;
	struct es_noise hs;
	uint8_t client[32], ts[ES_TAI64N_LEN], payload[ES_NOISE_PAYLOAD_MAX], reply[ES_NOISE_MSG2_MAX];
	struct es_join_payload jp;
	int n;
	if (es_noise_responder_init(&hs, &s->key, (const uint8_t *)ES_NOISE_PROLOGUE, sizeof(ES_NOISE_PROLOGUE) - 1) < 0 ||
	    (n = es_noise_read_msg1(&hs, slot->msg1, slot->msg1_len, client, ts, payload, sizeof(payload))) < 0 ||
	    es_join_payload_decode(&jp, payload, (size_t)n) < 0) {
		s->c.handshake_failures++;
		es_noise_clear(&hs);
		refuse(s, peer, ES_REFUSED_BAD_HANDSHAKE);
		return;
	}
	if (jp.hello.version != ES_PROTO_VERSION) {
		s->c.handshake_failures++;
		es_noise_clear(&hs);
		refuse(s, peer, ES_REFUSED_VERSION);
		return;
	}
	char asked[ES_NAME_MAX + 1], name[ES_NAME_MAX + 1];
	memcpy(asked, jp.hello.name, jp.hello.name_len);
	asked[jp.hello.name_len] = 0;
	memcpy(name, asked, sizeof(name));
	if (s->cfg.hooks && s->cfg.hooks->authorize) {
		int r = s->cfg.hooks->authorize(s->cfg.hooks->ud, client, ts, asked, jp.has_secret ? jp.secret : NULL, name);
		if (r < 0) {
			s->c.refused_auth++;
			logf_("info", "refused a key asking to be '%s': reason %d", asked, -r);
			es_noise_clear(&hs);
			sodium_memzero(&jp, sizeof(jp));
			refuse(s, peer, (uint8_t)-r);
			return;
		}
	}
	sodium_memzero(jp.secret, sizeof(jp.secret)); /* spent; the HELLO is still needed */
	/* the same key again (a reconnect the old session has not noticed): the new session wins */
	for (size_t i = 0; i < s->host->peerCount; i++) {
		struct peer_slot *o = &s->slots[i];
		if (o != slot && o->st == SLOT_AUTHED && sodium_memcmp(o->key, client, 32) == 0) {
			struct es_msg bye = {.type = ES_MSG_BYE, .u.bye.reason = ES_BYE_REPLACED};
			(void)send_msg(s, &s->host->peers[i], &bye);
			person_leave(s, o);
			o->st = SLOT_IDLE;
			enet_peer_disconnect_later(&s->host->peers[i], 0);
			s->c.replaced++;
		}
	}
	memcpy(slot->key, client, 32);
	int id = admit(s, peer, slot, name, &jp.hello);
	if (id < 0) {
		es_noise_clear(&hs);
		if (id == -EBUSY)
			busy(s, peer);
		else
			enet_peer_disconnect_later(peer, 0);
		return;
	}
	struct es_msg w = {.type = ES_MSG_WELCOME};
	w.u.welcome = (struct es_welcome){ES_PROTO_VERSION, (uint16_t)id, s->people[id].pos};
	uint8_t wbuf[64];
	int wn = es_msg_encode(&w, wbuf, sizeof(wbuf));
	n = wn < 0 ? wn : es_noise_write_msg2(&hs, wbuf, (size_t)wn, reply, sizeof(reply));
	if (n < 0 || es_noise_split(&hs, &slot->tx, &slot->rx) < 0) {
		s->c.handshake_failures++;
		es_noise_clear(&hs);
		person_leave(s, slot);
		enet_peer_disconnect_later(peer, 0);
		return;
	}
	es_noise_clear(&hs);
	struct es_msg m2 = {.type = ES_MSG_HANDSHAKE2, .u.blob = {(uint16_t)n, reply}};
	(void)send_msg(s, peer, &m2); /* still in the clear: slot is not yet AUTHED */
	slot->st = SLOT_AUTHED;
	announce(s, (unsigned)id);
}

/* Answer the oldest queued handshake, if any.  Returns false if none. */
static bool handshake_one(struct es_server *s)
{
	size_t npeers = s->host->peerCount;
	while (s->hs_count) {
		unsigned i = s->hs_queue[s->hs_head];
		s->hs_head = (unsigned)((s->hs_head + 1) % npeers);
		s->hs_count--;
		ENetPeer *peer = &s->host->peers[i];
		if (s->slots[i].st == SLOT_QUEUED && peer->state == ENET_PEER_STATE_CONNECTED) {
			handshake(s, peer, &s->slots[i]);
			return true;
		}
	}
	return false;
}

/*
 * Handshakes cost ~0.2 ms of X25519 each.  A few are answered every tick
 * whatever the load, so joins always progress; the rest are answered
 * between ticks while the next deadline is far enough away (see
 * es_server_run), so a join storm uses the tick's slack and never delays
 * the audio of people already talking.
 */
static void run_handshakes(struct es_server *s)
{
	unsigned budget = s->cfg.handshakes_per_tick ? s->cfg.handshakes_per_tick : HS_MIN_PER_TICK;
	if (budget > HS_MIN_PER_TICK)
		budget = HS_MIN_PER_TICK;
	while (budget-- && handshake_one(s))
		;
}

static void person_leave(struct es_server *s, struct peer_slot *slot)
{
	es_cipher_clear(&slot->tx);
	es_cipher_clear(&slot->rx);
	if (slot->person < 0)
		return;
	unsigned id = (unsigned)slot->person;
	struct person *q = &s->people[id];
	logf_("info", "%s left (#%u)", q->name, id);
	if (q->desk >= 0 && (unsigned)q->desk < s->ndesks)
		s->desk_taken[q->desk] = 0;
	if (q->whisper_to >= 0)
		whisper_notice(s, (unsigned)q->whisper_to, id, false);
	for (unsigned i = 0; i < s->cfg.max_people; i++)
		if (s->people[i].used && s->people[i].whisper_to == (int)id)
			s->people[i].whisper_to = -1; /* the engine forgets whispers to the leaver */
	if (s->cfg.hooks && s->cfg.hooks->place)
		s->cfg.hooks->place(s->cfg.hooks->ud, slot->key, q->name, q->pos.x_cm, q->pos.y_cm, q->pos.facing);
	es_engine_remove(s->engine, id);
	memset(q, 0, sizeof(*q));
	slot->person = -1;
	s->leaves[s->nleaves++] = id;
	s->c.leaves++;
	s->c.people--;
}

/* Tell `to` that `from` whispers to them now (or stopped). */
static void whisper_notice(struct es_server *s, unsigned to, unsigned from, bool on)
{
	if (to >= s->cfg.max_people || !s->people[to].used)
		return;
	struct es_msg m = {.type = ES_MSG_WHISPER, .u.whisper = {(int32_t)from, on ? 1 : 0}};
	(void)send_msg(s, s->people[to].peer, &m);
}

/*
 * A move the floor allows: onto a cell one can stand on, and not into a
 * room whose doors are all closed from outside it (knock first).
 */
static bool move_allowed(const struct es_server *s, const struct person *q, float x, float y)
{
	const struct es_floor *f = s->cfg.floor;
	if (!f)
		return true;
	if (!es_floor_walkable(f, x, y))
		return false;
	int to = es_floor_room_at(f, x, y);
	int from = es_floor_room_at(f, (float)q->pos.x_cm / 100.0f, (float)q->pos.y_cm / 100.0f);
	if (to < 0 || to == from)
		return true;
	const unsigned *doors;
	int nd = es_floor_room_doors(f, (unsigned)to, &doors);
	for (int i = 0; i < nd; i++)
		if (es_floor_door_is_open(f, doors[i]))
			return true;
	return false;
}

/* Send the floor plan's text in pieces, to one person who asked for it. */
static void send_floor(struct es_server *s, ENetPeer *peer)
{
	if (!s->cfg.floor)
		return;
	size_t len;
	const char *text = es_floor_to_text(s->cfg.floor, &len);
	if (!text || len == 0 || len > ES_FLOOR_TEXT_MAX)
		return;
	for (size_t off = 0; off < len; off += ES_FLOOR_CHUNK) {
		size_t n = len - off < ES_FLOOR_CHUNK ? len - off : ES_FLOOR_CHUNK;
		struct es_msg m = {.type = ES_MSG_FLOOR};
		m.u.floor = (struct es_floor_chunk){(uint32_t)len, (uint32_t)off, (uint16_t)n, (const uint8_t *)text + off};
		(void)send_msg(s, peer, &m);
	}
	/* doors as they are now, not as the text first drew them */
	unsigned nd = es_floor_door_count(s->cfg.floor);
	static struct es_door_state ds[ES_DOORS_MAX];
	for (unsigned i = 0; i < nd;) {
		unsigned k = 0;
		for (; k < ES_DOORS_MAX && i < nd; k++, i++)
			ds[k] = (struct es_door_state){(uint16_t)i, es_floor_door_is_open(s->cfg.floor, i)};
		struct es_msg m = {.type = ES_MSG_DOORS, .u.doors = {(uint16_t)k, ds, NULL}};
		(void)send_msg(s, peer, &m);
	}
}

/* Open or close a door: whoever stands within reach of it (3 m) may. */
static void handle_door(struct es_server *s, unsigned id, const struct es_doors *d)
{
	struct es_floor *f = s->cfg.floor;
	struct person *q = &s->people[id];
	if (!f || d->count != 1) {
		s->c.drop_malformed++;
		return;
	}
	struct es_door_state st = es_doors_at(d, 0);
	float x, y;
	unsigned room;
	if (es_floor_door(f, st.door, &x, &y, &room) < 0 ||
	    hypotf(x - (float)q->pos.x_cm / 100.0f, y - (float)q->pos.y_cm / 100.0f) > 3.0f) {
		s->c.moves_refused++;
		return;
	}
	if (es_floor_door_is_open(f, st.door) == (bool)st.open || es_floor_door_set_open(f, st.door, st.open) < 0)
		return;
	s->c.doors_changed++;
	logf_("info", "%s %s a door of %s", q->name, st.open ? "opened" : "closed", es_floor_room_name(f, room));
	struct es_msg m = {.type = ES_MSG_DOORS, .u.doors = {1, &st, NULL}};
	broadcast(s, &m, -1);
}

/* A knock on a room reaches the people inside it; at most one a second each. */
static void handle_knock(struct es_server *s, unsigned id, uint16_t room)
{
	struct person *q = &s->people[id];
	int64_t now = now_ns() / 1000000;
	if (!s->cfg.floor || room >= es_floor_room_count(s->cfg.floor) || now - q->last_knock_ms < 1000) {
		s->c.drop_malformed++;
		return;
	}
	q->last_knock_ms = now;
	s->c.knocks++;
	struct es_msg m = {.type = ES_MSG_KNOCK, .u.knock = {room, (uint16_t)id}};
	for (unsigned i = 0; i < s->cfg.max_people; i++) {
		struct person *o = &s->people[i];
		if (o->used && es_floor_room_at(s->cfg.floor, (float)o->pos.x_cm / 100.0f, (float)o->pos.y_cm / 100.0f) ==
				       (int)room)
			(void)send_msg(s, o->peer, &m);
	}
}

static void handle_whisper(struct es_server *s, unsigned id, int32_t to)
{
	struct person *q = &s->people[id];
	if (to >= 0 && ((unsigned)to >= s->cfg.max_people || !s->people[to].used || (unsigned)to == id)) {
		s->c.drop_malformed++;
		return;
	}
	if (es_engine_whisper(s->engine, id, to) < 0) {
		s->c.drop_malformed++;
		return;
	}
	if (q->whisper_to >= 0 && q->whisper_to != to)
		whisper_notice(s, (unsigned)q->whisper_to, id, false);
	if (to >= 0)
		whisper_notice(s, (unsigned)to, id, true);
	q->whisper_to = to;
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
	if (slot->st != SLOT_AUTHED) {
		/* before the handshake only message 1 is accepted, once */
		if (m.type != ES_MSG_HANDSHAKE1 || slot->st != SLOT_IDLE) {
			s->c.drop_unjoined++;
			return;
		}
		if (m.u.blob.len > sizeof(slot->msg1)) {
			s->c.drop_oversize++;
			return;
		}
		if (s->c.people + s->hs_count >= s->cfg.max_people) {
			busy(s, peer); /* full, counting those already queued: say so at once, no X25519 */
			return;
		}
		if (!rate_ok(s, peer->address.host, HS_RATE, HS_BURST)) {
			s->c.drop_rate++;
			refuse(s, peer, ES_REFUSED_RATE);
			return;
		}
		memcpy(slot->msg1, m.u.blob.data, m.u.blob.len);
		slot->msg1_len = m.u.blob.len;
		slot->st = SLOT_QUEUED;
		size_t npeers = s->host->peerCount;
		s->hs_queue[(s->hs_head + s->hs_count) % npeers] = (unsigned)(peer - s->host->peers);
		s->hs_count++;
		return;
	}
	if (m.type != ES_MSG_SEALED) {
		s->c.drop_unjoined++; /* plain traffic after the handshake */
		return;
	}
	static const uint8_t ad = ES_MSG_SEALED;
	r = es_cipher_open(&slot->rx, &ad, 1, m.u.blob.data, m.u.blob.len, s->buf, sizeof(s->buf));
	if (r < 0) {
		if (r == -EALREADY)
			s->c.drop_replayed++;
		else if (r == -ESTALE)
			s->c.drop_stale++;
		else
			s->c.drop_tampered++;
		return;
	}
	r = es_msg_decode(&m, s->buf, (size_t)r);
	if (r < 0 || es_msg_is_plain(m.type)) {
		if (r == -EPROTONOSUPPORT)
			s->c.drop_unknown++;
		else
			s->c.drop_malformed++;
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
		if (q->flags & ES_PF_MUTED || q->admin_muted)
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
		if (!move_allowed(s, q, (float)m.u.move.x_cm / 100.0f, (float)m.u.move.y_cm / 100.0f)) {
			s->c.moves_refused++;
			tell_admin(s, id, ES_ADMIN_MOVED); /* you are still here */
			break;
		}
		if (es_engine_move(s->engine, id, (float)m.u.move.x_cm / 100.0f, (float)m.u.move.y_cm / 100.0f,
				   pos_facing_rad(&m.u.move)) == 0) {
			q->pos = m.u.move;
			q->dirty = true;
			if (s->cfg.hooks && s->cfg.hooks->place)
				s->cfg.hooks->place(s->cfg.hooks->ud, slot->key, q->name, q->pos.x_cm, q->pos.y_cm, q->pos.facing);
		} else
			s->c.drop_malformed++;
		break;
	case ES_MSG_STATE:
		q->flags = m.u.state.flags & (ES_PF_MUTED | ES_PF_FOCUS | ES_PF_THIN);
		apply_flags(s, id);
		q->dirty = true;
		break;
	case ES_MSG_DOORS:
		handle_door(s, id, &m.u.doors);
		break;
	case ES_MSG_KNOCK:
		handle_knock(s, id, m.u.knock.room);
		break;
	case ES_MSG_WHISPER:
		handle_whisper(s, id, m.u.whisper.to);
		break;
	case ES_MSG_VOLUME:
		if (m.u.volume.speaker >= s->cfg.max_people ||
		    es_engine_set_volume(s->engine, id, m.u.volume.speaker, es_gain_from_q(m.u.volume.gain_q)) < 0)
			s->c.drop_malformed++;
		break;
	case ES_MSG_FLOOR_GET:
		send_floor(s, peer);
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
	/* a silent client costs only pings: ours every 2 s, theirs every 1 s */
	enet_peer_ping_interval(peer, 2000);
	struct peer_slot *slot = peer->data;
	slot->connected_ms = now_ns() / 1000000;
	slot->person = -1;
	slot->st = SLOT_IDLE;
	/* the client checks this against the key it pinned before it says anything */
	struct es_msg k = {.type = ES_MSG_SERVER_KEY, .u.server_key.version = ES_PROTO_VERSION};
	memcpy(k.u.server_key.key, s->key.pub, 32);
	(void)send_msg(s, peer, &k);
}

static void handle_event(struct es_server *s, ENetEvent *ev)
{
	switch (ev->type) {
	case ENET_EVENT_TYPE_CONNECT:
		on_connect(s, ev->peer);
		break;
	case ENET_EVENT_TYPE_RECEIVE:
		handle_packet(s, ev->peer, ev->packet);
		enet_packet_destroy(ev->packet);
		break;
	case ENET_EVENT_TYPE_DISCONNECT:
		person_leave(s, ev->peer->data);
		((struct peer_slot *)ev->peer->data)->st = SLOT_IDLE;
		break;
	default:
		break;
	}
}

/*
 * enet_host_service walks every peer slot twice per call (to send, and
 * again after receiving at most 256 datagrams); with thousands of slots
 * that is the dearest thing this loop does.  So it is called deliberately:
 * at each tick and once between ticks (SERVICE_EVERY_NS), never once per
 * wake-up, and the events it queues are drained with
 * enet_host_check_events, which walks nothing.  The socket's receive
 * buffer holds what arrives in between.
 */
static void service(struct es_server *s)
{
	ENetEvent ev;
	for (int round = 0; round < 32; round++) {
		uint32_t before = s->host->totalReceivedPackets;
		int r = enet_host_service(s->host, &ev, 0);
		if (r < 0)
			break;
		if (r > 0)
			handle_event(s, &ev);
		while (enet_host_check_events(s->host, &ev) > 0)
			handle_event(s, &ev);
		/* another round while the receive pass keeps finding a full batch */
		if (r == 0 && s->host->totalReceivedPackets - before < 200)
			break;
	}
	s->last_service_ns = now_ns();
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
	d->mix_stream = out->mix_stream;
	d->mix_flags = out->mix_mirror ? ES_MIX_MIRROR : 0;
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
			broadcast_presence(s, &m);
			p->count = 0;
		}
	}
	s->nleaves = 0;
	s->c.talking = s->c.muted = 0;
	for (unsigned i = 0; i < s->cfg.max_people; i++) {
		struct person *q = &s->people[i];
		if (!q->used)
			continue;
		bool muted = q->flags & ES_PF_MUTED || q->admin_muted;
		bool talking = !muted && q->last_voice_tick && s->tick - q->last_voice_tick < TALK_HOLD_TICKS;
		s->c.talking += talking;
		s->c.muted += muted;
		if (talking != q->talking) {
			q->talking = talking;
			q->dirty = true;
		}
		if (q->announce) {
			q->announce = q->dirty = false;
			presence_join_entry(q, i, &p->entry[p->count++]);
			if (p->count == ES_PRESENCE_MAX) {
				broadcast_presence(s, &m);
				p->count = 0;
			}
			continue;
		}
		if (!q->dirty)
			continue;
		q->dirty = false;
		p->entry[p->count++] = (struct es_presence_entry){
			.id = (uint16_t)i,
			.kind = ES_PRESENCE_UPDATE,
			.flags = presence_flags(q),
			.pos = q->pos,
		};
		if (p->count == ES_PRESENCE_MAX) {
			broadcast_presence(s, &m);
			p->count = 0;
		}
	}
	if (p->count)
		broadcast_presence(s, &m);
}

static void reap_prejoin(struct es_server *s)
{
	int64_t now_ms = now_ns() / 1000000;
	for (size_t i = 0; i < s->host->peerCount; i++) {
		ENetPeer *peer = &s->host->peers[i];
		struct peer_slot *slot = &s->slots[i];
		if (peer->state == ENET_PEER_STATE_DISCONNECTED || slot->person >= 0)
			continue;
		/* a handshake waiting in our queue is our delay, not theirs: give it longer */
		int64_t limit = slot->st == SLOT_QUEUED ? PREJOIN_QUEUED_MS : PREJOIN_MS;
		if (peer->state == ENET_PEER_STATE_CONNECTED && now_ms - slot->connected_ms > limit) {
			s->c.prejoin_timeouts++;
			enet_peer_disconnect_now(peer, 0); /* tells the peer, then frees the slot */
		}
	}
}

static int tick(struct es_server *s)
{
	int64_t start = now_ns();
	s->tick++;
	s->c.ticks++;
	service(s); /* ENet's own timers (acks, timeouts) run on every tick */
	run_handshakes(s);
	int r = es_engine_tick(s->engine, emit, s);
	if (r < 0) {
		static struct es_log_ratelimit rl; /* a failing codec would fail every tick */
		es_log_rl(&rl, (uint64_t)(now_ns() / 1000000), ES_LOG_ERROR, "mixer tick failed: %s", strerror(-r));
	}
	if (s->tick % PRESENCE_EVERY == 0)
		presence_batch(s);
	if (s->tick % 10 == 0)
		reap_prejoin(s);
	enet_host_flush(s->host);
	/* the engine sheds quality (complexity, sample rate, voices per mix) as
	 * its share of the tick nears the budget, and restores it when it falls */
	int64_t work_us = (now_ns() - start) / 1000;
	es_engine_report_tick_us(s->engine, (unsigned)(work_us > 1000000 ? 1000000 : work_us));
	s->c.load_level = es_engine_load_level(s->engine);
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
	struct pollfd pfd[1 + ES_SERVER_POLL_MAX] = {{.fd = s->host->socket, .events = POLLIN}};
	/* room for what arrives between two services: ~10 ms of a full floor */
	enet_socket_set_option(s->host->socket, ENET_SOCKOPT_RCVBUF, 8 << 20);
	enet_socket_set_option(s->host->socket, ENET_SOCKOPT_SNDBUF, 8 << 20);
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
		if (now - s->last_service_ns >= SERVICE_EVERY_NS) {
			service(s);
			continue;
		}
		int64_t wait = deadline - now;
		if (s->hs_count && wait > HS_SLACK_NS) {
			/* answered now, sent by the next service or tick flush (no walk per handshake) */
			handshake_one(s);
			continue;
		}
		int64_t next_service = s->last_service_ns + SERVICE_EVERY_NS - now;
		if (next_service < wait)
			wait = next_service;
		struct timespec ts = {.tv_sec = wait / 1000000000LL, .tv_nsec = wait % 1000000000LL};
		unsigned nx = s->poll.fds ? s->poll.fds(s->poll.ud, s->tick, pfd + 1, ES_SERVER_POLL_MAX) : 0;
		if (nx > ES_SERVER_POLL_MAX)
			nx = ES_SERVER_POLL_MAX;
		int pr = ppoll(pfd + 1, nx, &ts, NULL); /* the ENet socket waits for its turn */
		if (pr < 0 && errno != EINTR)
			return -errno;
		bool extra = false;
		for (unsigned i = 1; pr > 0 && i <= nx; i++)
			extra |= pfd[i].revents != 0;
		if (extra)
			s->poll.ready(s->poll.ud, s->tick, pfd + 1, nx);
	}
	say_goodbye(s, ES_BYE_RESTART);
	return 0;
}

/* ==== moderation (the admin socket, daemon/admin.c) ====================== */

void es_server_set_poll(struct es_server *s, const struct es_server_poll *p)
{
	if (p && p->fds && p->ready)
		s->poll = *p;
	else
		s->poll = (struct es_server_poll){0};
}

unsigned es_server_max_people(const struct es_server *s)
{
	return s->cfg.max_people;
}

int es_server_person(const struct es_server *s, unsigned id, struct es_server_person *out)
{
	if (id >= s->cfg.max_people || !s->people[id].used)
		return 0;
	const struct person *q = &s->people[id];
	const struct peer_slot *slot = q->peer->data;
	out->id = id;
	memcpy(out->name, q->name, sizeof(out->name));
	memcpy(out->key, slot->key, 32);
	out->pos = q->pos;
	out->flags = presence_flags(q);
	return 1;
}

int es_server_find(const struct es_server *s, const char *name)
{
	for (unsigned i = 0; i < s->cfg.max_people; i++)
		if (s->people[i].used && strcmp(s->people[i].name, name) == 0)
			return (int)i;
	return -ENOENT;
}

int es_server_admin_mute(struct es_server *s, unsigned id, bool muted)
{
	if (id >= s->cfg.max_people || !s->people[id].used)
		return -ENOENT;
	struct person *q = &s->people[id];
	const struct peer_slot *slot = q->peer->data;
	int k = muted_key_index(s, slot->key);
	if (muted && k < 0) {
		if (s->nmuted >= s->cfg.max_people)
			return -ENOSPC;
		memcpy(s->muted_keys[s->nmuted++], slot->key, 32);
	} else if (!muted && k >= 0) {
		memcpy(s->muted_keys[k], s->muted_keys[--s->nmuted], 32);
	}
	q->admin_muted = muted;
	apply_flags(s, id);
	q->dirty = true;
	tell_admin(s, id, 0);
	return 0;
}

int es_server_admin_move(struct es_server *s, unsigned id, const struct es_pos *pos)
{
	if (id >= s->cfg.max_people || !s->people[id].used)
		return -ENOENT;
	if (pos->facing >= 3600)
		return -EINVAL;
	struct person *q = &s->people[id];
	int r = es_engine_move(s->engine, id, (float)pos->x_cm / 100.0f, (float)pos->y_cm / 100.0f, pos_facing_rad(pos));
	if (r < 0)
		return r;
	q->pos = *pos;
	q->dirty = true;
	struct peer_slot *slot = q->peer->data;
	if (s->cfg.hooks && s->cfg.hooks->place)
		s->cfg.hooks->place(s->cfg.hooks->ud, slot->key, q->name, q->pos.x_cm, q->pos.y_cm, q->pos.facing);
	tell_admin(s, id, ES_ADMIN_MOVED);
	return 0;
}

int es_server_admin_remove(struct es_server *s, unsigned id, uint8_t bye_reason)
{
	if (id >= s->cfg.max_people || !s->people[id].used)
		return -ENOENT;
	ENetPeer *peer = s->people[id].peer;
	struct peer_slot *slot = peer->data;
	struct es_msg bye = {.type = ES_MSG_BYE, .u.bye.reason = bye_reason};
	(void)send_msg(s, peer, &bye);
	person_leave(s, slot);
	slot->st = SLOT_IDLE;
	enet_peer_disconnect_later(peer, 0);
	return 0;
}
