/* SPDX-License-Identifier: MIT */
#include "front-door.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "clock.h"
#include "earshot-proto.h"
#include "server.h"

#define HANDSHAKE_SETS 4096 /* of ES_ADDR_WAYS slots */
#define RESET_SLOTS 1024
#define RESET_EVERY_MS 250
/*
 * How far ahead of what ENet has delivered on a channel a reliable command
 * may be.  Whatever is ahead waits in ENet's queue until the gap before it
 * fills, which a hostile peer never does; ENet itself allows ~28,000.  A
 * client sends a few reliable messages a second (moves, mute, doors), so
 * a burst lost on the way leaves tens outstanding, not hundreds; above
 * the bound it is not acknowledged and comes again once the gap is gone.
 * Before the handshake a peer sends one message.
 */
#define AHEAD_AUTHED 128
#define AHEAD_PREJOIN 8
/* ... and fragmented packets (a client's never are, unless a very small MTU splits a large voice frame) */
#define FRAGMENT_AHEAD 16
#define FRAGMENTS_MAX 8 /* ES_UP_PACKET_MAX at ENet's smallest MTU (576) takes 3 */
/*
 * The packet bytes ENet may hold for one peer, queued or delivered and not
 * yet taken (its totalWaitingData counts every packet it allocated,
 * fragmented ones from their first fragment): about 50 of a client's
 * largest packets.  It bounds the bytes; the command checks above bound
 * the count, and so ENet's own bookkeeping (~200 bytes a packet), which
 * this does not see.
 */
#define WAITING_MAX (64 * 1024)

_Static_assert(1 + ES_NOISE_MSG1_MAX <= ES_UP_PACKET_MAX, "handshake message 1 fits the packet bound");
_Static_assert(ES_RESET_LEN <= 8, "a reset is no larger than ENet's smallest datagram (a ping)");

struct es_front_door {
	struct es_limits limits;
	struct es_server_counters *c;
	bool (*authed)(void *ud, const ENetPeer *peer);
	void *ud;
	uint8_t cookie_secret[ES_COOKIE_SECRET_LEN];
	uint8_t reset_key[ES_RESET_KEY_LEN];
	uint8_t reset_hash_key[crypto_shorthash_KEYBYTES];
	struct es_bucket cookies;        /* all addresses together */
	struct es_addr_buckets *handshakes;
	int64_t reset_at[RESET_SLOTS];   /* last reset per hashed address and port */
};

struct es_front_door *es_front_door_new(const struct es_front_door_config *cfg)
{
	if (!cfg->server_priv || !cfg->limits || !cfg->counters || !cfg->authed) {
		errno = EINVAL;
		return NULL;
	}
	struct es_front_door *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	uint8_t k[16];
	randombytes_buf(k, sizeof(k));
	d->handshakes = es_addr_buckets_new(HANDSHAKE_SETS, k);
	sodium_memzero(k, sizeof(k));
	if (!d->handshakes) {
		free(d);
		errno = ENOMEM;
		return NULL;
	}
	d->limits = *cfg->limits;
	d->c = cfg->counters;
	d->authed = cfg->authed;
	d->ud = cfg->ud;
	randombytes_buf(d->cookie_secret, sizeof(d->cookie_secret));
	randombytes_buf(d->reset_hash_key, sizeof(d->reset_hash_key));
	es_reset_key(cfg->server_priv, d->reset_key);
	return d;
}

void es_front_door_free(struct es_front_door *d)
{
	if (!d)
		return;
	es_addr_buckets_free(d->handshakes);
	sodium_memzero(d, sizeof(*d));
	free(d);
}

void es_front_door_attach(struct es_front_door *d, ENetHost *host)
{
	(void)d;
	/*
	 * ENet's defaults are 32 MB each, allocated as the announcements come.
	 * maximumPacketSize bounds what the daemon sends too (enet_peer_send
	 * refuses larger packets): a floor-plan piece or a presence batch is
	 * up to a sealed ES_MSG_MAX, so that is the host's bound, and what a
	 * client may send (ES_UP_PACKET_MAX) is checked per command above.
	 */
	host->maximumPacketSize = ES_MSG_MAX + 1 + ES_CIPHER_OVERHEAD;
	host->maximumWaitingData = WAITING_MAX;
}

static int64_t now_ms(void)
{
	return es_now_ns() / 1000000;
}

static void token_for(const struct es_front_door *d, uint32_t ipv4, uint16_t port, unsigned peer_id, unsigned session,
		      uint8_t out[static ES_RESET_TOKEN_LEN])
{
	es_reset_token(d->reset_key, ipv4, port, (uint16_t)peer_id, (uint8_t)session, out);
}

void es_front_door_reset_token(const struct es_front_door *d, const ENetPeer *peer,
			       uint8_t out[static ES_RESET_TOKEN_LEN])
{
	/* what the client's datagrams carry: our slot for it and the session it expects us to check */
	token_for(d, peer->address.host, peer->address.port, peer->incomingPeerID, peer->incomingSessionID & 3, out);
}

/*
 * A reset for the session a datagram of len bytes was addressed to: only
 * if it is at least as long as the reset, at most one per RESET_EVERY_MS
 * per address and port (keyed hash: nobody picks the addresses that share
 * a slot).
 */
static void send_reset(struct es_front_door *d, ENetHost *host, const uint8_t *buf, size_t len)
{
	const ENetAddress *a = &host->receivedAddress;
	if (len < ES_RESET_LEN)
		return;
	uint8_t in[6], h[crypto_shorthash_BYTES];
	memcpy(in, &a->host, 4);
	in[4] = (uint8_t)(a->port >> 8), in[5] = (uint8_t)a->port;
	crypto_shorthash(h, in, sizeof(in), d->reset_hash_key);
	int64_t *last = &d->reset_at[(h[0] | (unsigned)h[1] << 8) % RESET_SLOTS];
	int64_t now = now_ms();
	if (*last && now - *last < RESET_EVERY_MS)
		return;
	*last = now;
	struct es_enet_header eh;
	uint8_t token[ES_RESET_TOKEN_LEN], reset[ES_RESET_LEN];
	if (es_enet_header_parse(buf, len, &eh) < 0)
		return;
	token_for(d, a->host, a->port, eh.peer_id, eh.session, token);
	if (es_reset_build(token, reset, sizeof(reset)) != ES_RESET_LEN)
		return;
	ENetBuffer b = {.data = reset, .dataLength = ES_RESET_LEN};
	enet_socket_send(host->socket, a, &b, 1);
	d->c->resets_sent++;
}

static int cookie_request(struct es_front_door *d, ENetHost *host, uint64_t slot)
{
	const ENetAddress *a = &host->receivedAddress;
	uint8_t nonce[ES_COOKIE_NONCE_LEN], reply[ES_COOKIE_REPLY_LEN];
	if (es_cookie_request_parse(host->receivedData, host->receivedDataLength, nonce) < 0) {
		d->c->drop_cookie++;
		return 1;
	}
	if (!es_bucket_take(&d->cookies, &d->limits.cookies, now_ms())) {
		d->c->drop_rate++;
		return 1;
	}
	int n = es_cookie_reply_build(nonce, es_cookie_make(d->cookie_secret, a->host, a->port, slot), reply, sizeof(reply));
	if (n > 0) {
		ENetBuffer b = {.data = reply, .dataLength = (size_t)n};
		enet_socket_send(host->socket, a, &b, 1);
		d->c->cookies_sent++;
	}
	return 1;
}

/* How far seq is ahead of what ENet delivered last (0: that one again; > 0x8000: behind). */
static unsigned ahead_of(uint16_t seq, uint16_t delivered)
{
	return (uint16_t)(seq - delivered);
}

/*
 * Read the commands of a datagram for a connected peer; where one is
 * refused, cut the datagram there.  Returns 1 to drop it whole, 0 to let
 * ENet have (what is left of) it.
 */
static int guard_commands(struct es_front_door *d, ENetHost *host, ENetPeer *peer)
{
	struct es_enet_walk w;
	struct es_enet_cmd c;
	if (es_enet_walk_init(&w, host->receivedData, host->receivedDataLength, host->checksum != NULL) < 0) {
		d->c->drop_malformed++;
		return 1;
	}
	size_t first = w.at;
	bool authed = d->authed(d->ud, peer);
	unsigned ahead_max = authed ? AHEAD_AUTHED : AHEAD_PREJOIN;
	while (es_enet_walk_next(&w, &c) > 0) {
		bool fragment = c.type == ES_ENET_CMD_SEND_FRAGMENT || c.type == ES_ENET_CMD_SEND_UNRELIABLE_FRAGMENT;
		bool refuse = false;
		if (c.type == ES_ENET_CMD_SEND_UNRELIABLE || c.type == ES_ENET_CMD_SEND_UNRELIABLE_FRAGMENT) {
			refuse = true; /* queued by their reliable sequence; an Earshot client never sends them */
		} else if ((c.type == ES_ENET_CMD_SEND_RELIABLE || fragment) && c.channel < peer->channelCount) {
			uint16_t delivered = peer->channels[c.channel].incomingReliableSequenceNumber;
			unsigned a = ahead_of(fragment ? c.start_seq : c.reliable_seq, delivered);
			if (a < 0x8000 && a > (fragment ? FRAGMENT_AHEAD : ahead_max))
				refuse = true;
			if (fragment && (!authed || c.total_length > ES_UP_PACKET_MAX || c.fragment_count > FRAGMENTS_MAX))
				refuse = true;
		}
		if (!refuse)
			continue;
		if (fragment)
			d->c->drop_fragment++;
		else
			d->c->drop_enet++;
		if (c.offset == first)
			return 1; /* nothing before it */
		/* ENet acts on the commands before this one, as when one of its own checks fails */
		host->receivedDataLength = c.offset;
		return 0;
	}
	return 0;
}

int es_front_door_intercept(struct es_front_door *d, ENetHost *host)
{
	const uint8_t *buf = host->receivedData;
	size_t len = host->receivedDataLength;
	const ENetAddress *a = &host->receivedAddress;
	uint64_t slot = es_cookie_slot((uint64_t)(es_now_ns() / 1000000000LL));
	if (es_cookie_is_raw(buf, len))
		return cookie_request(d, host, slot);
	uint32_t data;
	int c = es_enet_connect_parse(buf, len, host->checksum != NULL, &data);
	if (c < 0) {
		d->c->drop_malformed++;
		return 1;
	}
	if (c == 1) {
		if (es_cookie_check(d->cookie_secret, a->host, a->port, slot, data) == 0)
			return 0;
		/*
		 * No reset: the source may be forged (a victim's address and
		 * port), and a client that lost its cookie to a restart just
		 * asks for another after its connect times out.
		 */
		d->c->drop_cookie++;
		return 1;
	}
	/*
	 * Everything else is ENet traffic for an existing peer.  Mirror the
	 * checks ENet makes before it silently ignores a datagram, so that
	 * junk is counted rather than vanishing.
	 */
	int id = es_enet_peer_id(buf, len);
	struct es_enet_header h;
	if (id < 0 || id == ES_ENET_PEER_NONE || (size_t)id >= host->peerCount || es_enet_header_parse(buf, len, &h) < 0) {
		d->c->drop_malformed++; /* only a CONNECT may come without a peer */
		return 1;
	}
	ENetPeer *peer = &host->peers[id];
	if (peer->state != ENET_PEER_STATE_DISCONNECTED && peer->state != ENET_PEER_STATE_ZOMBIE) {
		if (peer->address.host != a->host || peer->address.port != a->port ||
		    (peer->outgoingPeerID < ES_ENET_PEER_NONE && h.session != peer->incomingSessionID)) {
			/* that slot is someone else's now (often: we restarted and it was
			 * given to whoever rejoined first): the sender must reconnect */
			d->c->drop_nosession++;
			send_reset(d, host, buf, len);
			return 1;
		}
		return guard_commands(d, host, peer);
	}
	/* a session this process does not have: tell the sender to reconnect */
	d->c->drop_nosession++;
	send_reset(d, host, buf, len);
	return 1;
}

bool es_front_door_handshake_ok(struct es_front_door *d, uint32_t ipv4)
{
	return es_addr_buckets_take(d->handshakes, ipv4, &d->limits.handshakes, now_ms());
}

void es_front_door_set_limits(struct es_front_door *d, const struct es_limits *l)
{
	d->limits = *l;
}
