/* SPDX-License-Identifier: MIT */
/* The relay link host: see relay.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <enet/enet.h>
#include <sodium.h>

#include "earshot-crypto.h"
#include "earshot-proto.h"
#include "earshot-relay.h"
#include "log.h"
#include "relay.h"
#include "enet-addr.h"

enum link_state {
	LINK_FREE,      /* no ENet peer */
	LINK_CONNECTING, /* initiator: ENet connect sent */
	LINK_HS_SENT,   /* initiator: msg1 sent, waiting for msg2 */
	LINK_WAIT_HS1,  /* responder: connected, waiting for msg1 */
	LINK_UP,        /* authenticated: sealed both ways */
};

struct link {
	enum link_state st;
	bool initiator;
	char id[ES_RELAY_ID_MAX + 1]; /* the other daemon: expected (initiator) or proven (once up) */
	int64_t since_ms;
	struct es_noise hs;
	struct es_cipher tx, rx;
};

/* The greatest msg1 timestamp accepted from each daemon id (replays). */
struct seen {
	char id[ES_RELAY_ID_MAX + 1];
	uint8_t ts[ES_TAI64N_LEN];
};
#define SEEN_MAX 64

/* An initiator's wish: a daemon we connect to, and when we last tried. */
struct want {
	char id[ES_RELAY_ID_MAX + 1];
	ENetAddress addr;
	int64_t tried_ms;
	bool have_tried;
};

struct es_relay {
	struct es_relay_config cfg;
	char id[ES_RELAY_ID_MAX + 1];
	ENetHost *host;
	bool keyed;
	struct es_keypair key; /* the company key */
	struct link links[ES_RELAY_LINKS_MAX];
	struct want wants[ES_RELAY_LINKS_MAX];
	unsigned nwants;
	struct seen seen[SEEN_MAX];
	unsigned nseen;
	struct es_relay_stats st;
	uint8_t plain[ES_MSG_MAX];
	uint8_t sealed[ES_MSG_MAX + ES_ENVELOPE_OVERHEAD];
	struct es_log_ratelimit rl;
};

static const uint8_t prologue[] = ES_RELAY_PROLOGUE;
#define PROLOGUE_LEN (sizeof(prologue) - 1)

struct es_relay *es_relay_new(const struct es_relay_config *cfg)
{
	ENetAddress addr;
	size_t idlen = cfg->daemon_id ? strnlen(cfg->daemon_id, ES_RELAY_ID_MAX + 1) : 0;
	if (!cfg->listen || es_enet_parse_hostport(cfg->listen, &addr, ES_HOSTPORT_PORT0, 0) < 0 || !es_relay_id_valid(cfg->daemon_id, idlen)) {
		errno = EINVAL;
		return NULL;
	}
	struct es_relay *r = calloc(1, sizeof(*r));
	if (!r) {
		errno = ENOMEM;
		return NULL;
	}
	r->cfg = *cfg;
	memcpy(r->id, cfg->daemon_id, idlen);
	r->cfg.daemon_id = r->id;
	r->host = enet_host_create(&addr, ES_RELAY_LINKS_MAX, 1, 0, 0);
	if (!r->host) {
		free(r);
		errno = EADDRINUSE;
		return NULL;
	}
	r->host->duplicatePeers = 4; /* one daemon per address, and room for its restart */
	return r;
}

static void link_clear(struct link *l)
{
	es_noise_clear(&l->hs);
	es_cipher_clear(&l->tx);
	es_cipher_clear(&l->rx);
	memset(l, 0, sizeof(*l));
}

void es_relay_free(struct es_relay *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i < ES_RELAY_LINKS_MAX; i++)
		link_clear(&r->links[i]);
	enet_host_destroy(r->host);
	es_keypair_clear(&r->key);
	free(r);
}

int es_relay_set_key(struct es_relay *r, const uint8_t priv[static 32])
{
	if (es_noise_keypair_from_private(&r->key, priv) < 0)
		return -EINVAL;
	r->keyed = true;
	return 0;
}

uint16_t es_relay_port(const struct es_relay *r)
{
	ENetAddress a;
	if (enet_socket_get_address(r->host->socket, &a) < 0)
		return 0;
	return a.port;
}

int es_relay_fd(const struct es_relay *r)
{
	return r->host->socket;
}

static unsigned link_index(const struct es_relay *r, const ENetPeer *peer)
{
	return (unsigned)(peer - r->host->peers);
}

/* Drop a link: the peer goes now, what came over it ends. */
static void link_drop(struct es_relay *r, unsigned i, bool tell)
{
	struct link *l = &r->links[i];
	bool was_up = l->st == LINK_UP;
	if (l->st != LINK_FREE)
		enet_peer_disconnect_now(&r->host->peers[i], 0);
	link_clear(l);
	if (was_up && tell && r->cfg.down)
		r->cfg.down(r->cfg.ud, i);
}

static int find_link(const struct es_relay *r, const char *id)
{
	for (unsigned i = 0; i < ES_RELAY_LINKS_MAX; i++)
		if (r->links[i].st != LINK_FREE && strcmp(r->links[i].id, id) == 0)
			return (int)i;
	return -1;
}

static void send_raw(struct es_relay *r, ENetPeer *peer, uint8_t type, const uint8_t *body, size_t len)
{
	uint8_t pkt[1 + ES_NOISE_MSG1_MAX];
	if (len + 1 > sizeof(pkt)) {
		r->st.send_failed++;
		return;
	}
	pkt[0] = type;
	memcpy(pkt + 1, body, len);
	ENetPacket *p = enet_packet_create(pkt, len + 1, ENET_PACKET_FLAG_RELIABLE);
	if (!p || enet_peer_send(peer, 0, p) < 0) {
		if (p)
			enet_packet_destroy(p);
		r->st.send_failed++;
	}
}

static void timestamp_now(uint8_t ts[static ES_TAI64N_LEN])
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	es_timestamp_make(ts, (uint64_t)now.tv_sec, (uint32_t)now.tv_nsec);
}

/* Initiator, connected: msg1 with the company key as our static, the company key pinned as theirs. */
static void start_handshake(struct es_relay *r, unsigned i)
{
	struct link *l = &r->links[i];
	uint8_t hello[ES_RELAY_HELLO_MAX], msg1[ES_NOISE_MSG1_MAX], ts[ES_TAI64N_LEN];
	int hn = es_relay_hello_encode(r->id, hello, sizeof(hello));
	timestamp_now(ts);
	int n = hn < 0 ? hn : es_noise_initiator_init(&l->hs, &r->key, r->key.pub, prologue, PROLOGUE_LEN);
	if (n == 0)
		n = es_noise_write_msg1(&l->hs, ts, hello, (size_t)hn, msg1, sizeof(msg1));
	if (n < 0) {
		r->st.send_failed++;
		link_drop(r, i, true);
		return;
	}
	send_raw(r, &r->host->peers[i], ES_RELAY_PKT_HS1, msg1, (size_t)n);
	l->st = LINK_HS_SENT;
}

static bool seen_newer(struct es_relay *r, const char *id, const uint8_t ts[static ES_TAI64N_LEN])
{
	for (unsigned k = 0; k < r->nseen; k++) {
		if (strcmp(r->seen[k].id, id) != 0)
			continue;
		if (!es_timestamp_newer(ts, r->seen[k].ts))
			return false;
		memcpy(r->seen[k].ts, ts, ES_TAI64N_LEN);
		return true;
	}
	unsigned k = r->nseen < SEEN_MAX ? r->nseen++ : (unsigned)randombytes_uniform(SEEN_MAX);
	snprintf(r->seen[k].id, sizeof(r->seen[k].id), "%s", id);
	memcpy(r->seen[k].ts, ts, ES_TAI64N_LEN);
	return true;
}

/* A link is up with daemon id: an older link with the same daemon (it restarted, or both connected) goes. */
static void link_up(struct es_relay *r, unsigned i)
{
	struct link *l = &r->links[i];
	for (unsigned k = 0; k < ES_RELAY_LINKS_MAX; k++)
		if (k != i && r->links[k].st != LINK_FREE && strcmp(r->links[k].id, l->id) == 0)
			link_drop(r, k, true);
	l->st = LINK_UP;
	r->st.handshakes++;
	es_log_info("relay: link to daemon %s up (%s)", l->id, l->initiator ? "we connected" : "it connected");
}

/* Responder: msg1 must come from the company key, carry a valid daemon id and a fresh timestamp. */
static void on_hs1(struct es_relay *r, unsigned i, const uint8_t *buf, size_t len, int64_t now_ms)
{
	struct link *l = &r->links[i];
	uint8_t their[32], ts[ES_TAI64N_LEN], payload[ES_NOISE_PAYLOAD_MAX];
	char id[ES_RELAY_ID_MAX + 1];
	if (l->st != LINK_WAIT_HS1 || !r->keyed) {
		r->st.drop_malformed++;
		return;
	}
	int n = es_noise_responder_init(&l->hs, &r->key, prologue, PROLOGUE_LEN);
	if (n == 0)
		n = es_noise_read_msg1(&l->hs, buf, len, their, ts, payload, sizeof(payload));
	if (n < 0 || sodium_memcmp(their, r->key.pub, 32) != 0 || es_relay_hello_decode(id, payload, (size_t)n) < 0 ||
	    strcmp(id, r->id) == 0 || !seen_newer(r, id, ts)) {
		r->st.drop_auth++;
		es_log_rl(&r->rl, (uint64_t)now_ms, ES_LOG_WARN,
			  "relay: refused a link: %s", n < 0 ? "a bad handshake" : "not the company key, a bad id or a replay");
		link_drop(r, i, false);
		return;
	}
	uint8_t hello[ES_RELAY_HELLO_MAX], msg2[ES_NOISE_MSG2_MAX];
	int hn = es_relay_hello_encode(r->id, hello, sizeof(hello));
	int m = hn < 0 ? hn : es_noise_write_msg2(&l->hs, hello, (size_t)hn, msg2, sizeof(msg2));
	if (m < 0 || es_noise_split(&l->hs, &l->tx, &l->rx) < 0) {
		r->st.send_failed++;
		link_drop(r, i, false);
		return;
	}
	send_raw(r, &r->host->peers[i], ES_RELAY_PKT_HS2, msg2, (size_t)m);
	snprintf(l->id, sizeof(l->id), "%s", id);
	link_up(r, i);
}

/* Initiator: msg2 proves the responder holds the company key; its id must be the daemon we meant. */
static void on_hs2(struct es_relay *r, unsigned i, const uint8_t *buf, size_t len)
{
	struct link *l = &r->links[i];
	uint8_t payload[ES_NOISE_PAYLOAD_MAX];
	char id[ES_RELAY_ID_MAX + 1];
	if (l->st != LINK_HS_SENT) {
		r->st.drop_malformed++;
		return;
	}
	int n = es_noise_read_msg2(&l->hs, buf, len, payload, sizeof(payload));
	if (n < 0 || es_relay_hello_decode(id, payload, (size_t)n) < 0 || strcmp(id, l->id) != 0 ||
	    es_noise_split(&l->hs, &l->tx, &l->rx) < 0) {
		r->st.drop_auth++;
		link_drop(r, i, false);
		return;
	}
	link_up(r, i);
}

static void on_sealed(struct es_relay *r, unsigned i, const uint8_t *buf, size_t len)
{
	struct link *l = &r->links[i];
	if (l->st != LINK_UP) {
		r->st.drop_malformed++;
		return;
	}
	int n = es_envelope_open(&l->rx, buf, len, r->plain, sizeof(r->plain));
	if (n < 0) {
		r->st.drop_seal++;
		return;
	}
	struct es_relay_msg m;
	int d = es_relay_decode(&m, r->plain, (size_t)n);
	if (d < 0) {
		if (d == -EPROTONOSUPPORT)
			r->st.drop_unknown++;
		else
			r->st.drop_malformed++;
		return;
	}
	r->st.received++;
	if (m.type == ES_RELAY_VOICE && r->cfg.voice)
		r->cfg.voice(r->cfg.ud, i, l->id, &m.u.voice);
	else if (m.type == ES_RELAY_OFF && r->cfg.off)
		r->cfg.off(r->cfg.ud, i, m.u.off.speaker);
}

static void on_packet(struct es_relay *r, unsigned i, const ENetPacket *p, int64_t now_ms)
{
	if (p->dataLength < 1 || p->dataLength > sizeof(r->sealed)) {
		r->st.drop_malformed++;
		return;
	}
	switch (p->data[0]) {
	case ES_RELAY_PKT_HS1:
		on_hs1(r, i, p->data + 1, p->dataLength - 1, now_ms);
		break;
	case ES_RELAY_PKT_HS2:
		on_hs2(r, i, p->data + 1, p->dataLength - 1);
		break;
	case ES_MSG_SEALED:
		on_sealed(r, i, p->data, p->dataLength);
		break;
	default:
		r->st.drop_malformed++;
		break;
	}
}

static void on_event(struct es_relay *r, ENetEvent *ev, int64_t now_ms)
{
	unsigned i = link_index(r, ev->peer);
	if (i >= ES_RELAY_LINKS_MAX)
		return;
	struct link *l = &r->links[i];
	switch (ev->type) {
	case ENET_EVENT_TYPE_CONNECT:
		/* voice must not be throttled: a late or lost frame is concealed at the far end */
		enet_peer_throttle_configure(ev->peer, 5000, ENET_PEER_PACKET_THROTTLE_SCALE, 0);
		ev->peer->packetThrottle = ENET_PEER_PACKET_THROTTLE_SCALE;
		/* a daemon that died (or restarted) is noticed in seconds, not ENet's default 30 */
		enet_peer_timeout(ev->peer, 32, 2000, 5000);
		if (l->st == LINK_CONNECTING) {
			start_handshake(r, i);
		} else {
			link_clear(l);
			l->st = LINK_WAIT_HS1;
			l->since_ms = now_ms;
		}
		break;
	case ENET_EVENT_TYPE_RECEIVE:
		on_packet(r, i, ev->packet, now_ms);
		enet_packet_destroy(ev->packet);
		break;
	case ENET_EVENT_TYPE_DISCONNECT:
		if (l->st == LINK_UP)
			es_log_info("relay: link to daemon %s down", l->id);
		if (l->st == LINK_UP && r->cfg.down)
			r->cfg.down(r->cfg.ud, i);
		link_clear(l);
		break;
	default:
		break;
	}
}

void es_relay_set_peers(struct es_relay *r, const struct es_relay_peer *peers, size_t n, int64_t now_ms)
{
	/* links to daemons that left */
	for (unsigned i = 0; i < ES_RELAY_LINKS_MAX; i++) {
		struct link *l = &r->links[i];
		if (l->st == LINK_FREE || l->st == LINK_WAIT_HS1)
			continue;
		bool still = false;
		for (size_t k = 0; k < n && !still; k++)
			still = strcmp(peers[k].id, l->id) == 0;
		if (!still)
			link_drop(r, i, true);
	}
	/* whom we connect to: those after us */
	struct want old[ES_RELAY_LINKS_MAX];
	unsigned nold = r->nwants;
	memcpy(old, r->wants, sizeof(old));
	r->nwants = 0;
	for (size_t k = 0; k < n && r->nwants < ES_RELAY_LINKS_MAX; k++) {
		if (!peers[k].id || strcmp(peers[k].id, r->id) <= 0 || strlen(peers[k].id) > ES_RELAY_ID_MAX)
			continue;
		struct want *w = &r->wants[r->nwants];
		memset(w, 0, sizeof(*w));
		if (es_enet_parse_hostport(peers[k].address, &w->addr, ES_HOSTPORT_PORT0, 0) < 0 || w->addr.port == 0) {
			r->st.bad_address++;
			continue;
		}
		snprintf(w->id, sizeof(w->id), "%s", peers[k].id);
		for (unsigned o = 0; o < nold; o++)
			if (strcmp(old[o].id, w->id) == 0 && old[o].addr.host == w->addr.host && old[o].addr.port == w->addr.port) {
				w->tried_ms = old[o].tried_ms;
				w->have_tried = old[o].have_tried;
			}
		r->nwants++;
	}
	if (!r->keyed)
		return;
	for (unsigned k = 0; k < r->nwants; k++) {
		struct want *w = &r->wants[k];
		if (find_link(r, w->id) >= 0 || (w->have_tried && now_ms - w->tried_ms < ES_RELAY_RETRY_MS))
			continue;
		w->have_tried = true;
		w->tried_ms = now_ms;
		ENetPeer *peer = enet_host_connect(r->host, &w->addr, 1, 0);
		if (!peer) {
			r->st.send_failed++;
			continue;
		}
		unsigned i = link_index(r, peer);
		link_clear(&r->links[i]);
		r->links[i].st = LINK_CONNECTING;
		r->links[i].initiator = true;
		r->links[i].since_ms = now_ms;
		memcpy(r->links[i].id, w->id, sizeof(w->id));
	}
}

void es_relay_service(struct es_relay *r, int64_t now_ms)
{
	ENetEvent ev;
	for (int round = 0; round < 8; round++) {
		uint32_t before = r->host->totalReceivedPackets;
		if (enet_host_service(r->host, NULL, 0) < 0)
			break;
		while (enet_host_check_events(r->host, &ev) > 0)
			on_event(r, &ev, now_ms);
		if (r->host->totalReceivedPackets - before < 200)
			break;
	}
	for (unsigned i = 0; i < ES_RELAY_LINKS_MAX; i++) {
		struct link *l = &r->links[i];
		if (l->st != LINK_FREE && l->st != LINK_UP && now_ms - l->since_ms > ES_RELAY_HS_TIMEOUT_MS) {
			r->st.timeouts++;
			link_drop(r, i, false);
		}
	}
}

int es_relay_send(struct es_relay *r, const struct es_relay_msg *m)
{
	int n = es_relay_encode(m, r->plain, sizeof(r->plain));
	if (n < 0)
		return -EINVAL;
	int sent = 0;
	for (unsigned i = 0; i < ES_RELAY_LINKS_MAX; i++) {
		struct link *l = &r->links[i];
		if (l->st != LINK_UP)
			continue;
		int k = es_envelope_seal(&l->tx, r->plain, (size_t)n, r->sealed, sizeof(r->sealed));
		ENetPacket *p = k < 0 ? NULL
				      : enet_packet_create(r->sealed, (size_t)k,
							   m->type == ES_RELAY_VOICE ? ENET_PACKET_FLAG_UNSEQUENCED
										     : ENET_PACKET_FLAG_RELIABLE);
		if (!p || enet_peer_send(&r->host->peers[i], 0, p) < 0) {
			if (p)
				enet_packet_destroy(p);
			r->st.send_failed++;
			continue;
		}
		sent++;
	}
	if (sent) {
		r->st.sent += (uint64_t)sent;
		enet_host_flush(r->host);
	}
	return sent;
}

unsigned es_relay_links_up(const struct es_relay *r)
{
	unsigned n = 0;
	for (unsigned i = 0; i < ES_RELAY_LINKS_MAX; i++)
		n += r->links[i].st == LINK_UP;
	return n;
}

void es_relay_get_stats(const struct es_relay *r, struct es_relay_stats *st)
{
	*st = r->st;
	st->links_up = es_relay_links_up(r);
}
