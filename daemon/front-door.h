/* SPDX-License-Identifier: MIT */
/*
 * The front door: every datagram from the internet meets this before ENet
 * does (the server's host->intercept), and it bounds what a stranger can
 * cost before proving anything.
 *
 *  - Cookie requests are answered statelessly (earshot-crypto.h), within
 *    one budget for all addresses together (es_limits.cookies).
 *  - A CONNECT is let through only with a valid cookie for its source
 *    address and port; a CONNECT without one is dropped in silence: never
 *    answered with a reset, which a forger would aim at someone else.
 *  - Traffic for a session this process does not have (it restarted, or
 *    the slot is someone else's now) is answered with a reset carrying the
 *    session's token (earshot-proto.h, ES_RESET_LEN), never larger than
 *    the datagram that caused it and at most one per RESET_EVERY_MS per
 *    address and port.
 *  - Traffic for a connected peer has its ENet commands read first
 *    (es_enet_walk): a peer that has not finished its handshake may send
 *    no fragments at all (its one message, handshake 1, always fits a
 *    datagram), nobody may send unreliable sequenced commands (Earshot
 *    clients never do) or reliable ones far ahead of what ENet has
 *    delivered, and fragments of an authenticated peer must belong to a
 *    packet no longer than a client's largest message (ES_UP_MSG_MAX,
 *    sealed) and start close to the delivered sequence.  Each of those
 *    would have ENet allocate memory that stays until the peer leaves:
 *    a 25-byte fragment command announcing a 32 MB packet touched a fresh
 *    page.  A refused command cuts the datagram there (ENet acts on what
 *    came before it, as when one of its own checks fails), and an honest
 *    sender, not acknowledged, sends it again later.
 *  - The host itself is bounded too (es_front_door_attach): no packet
 *    larger than the largest message either side sends, and at most
 *    64 KiB of packet data held per peer (ENet counts a fragmented packet
 *    in full from its first fragment; 32 MB each was the default).
 *
 * Handshakes are rate-limited per address (es_limits.handshakes) only
 * once an address has proved it receives (a connected peer), in a table
 * of its own (budget.h), so forged cookie requests spend nobody's budget.
 *
 * Tick thread only, like the ENet host it guards.  Refusals are counted
 * in the server's counters (server.h).
 */
#ifndef EARSHOT_FRONT_DOOR_H
#define EARSHOT_FRONT_DOOR_H

#include <stdbool.h>
#include <stdint.h>

#include <enet/enet.h>

#include "budget.h"
#include "earshot-crypto.h"
#include "earshot-proto.h"

struct es_server_counters;

struct es_front_door_config {
	const uint8_t *server_priv;          /* 32 bytes: the reset key derives from it (copied) */
	const struct es_limits *limits;      /* copied */
	struct es_server_counters *counters; /* borrowed: refusals are counted there */
	/* has the peer finished its handshake?  (its data is the server's) */
	bool (*authed)(void *ud, const ENetPeer *peer);
	void *ud;
};

struct es_front_door;

/* NULL with errno set. */
struct es_front_door *es_front_door_new(const struct es_front_door_config *cfg);
void es_front_door_free(struct es_front_door *d);

/* Bound the host's packet size and waiting data.  Call once, after creating it. */
void es_front_door_attach(struct es_front_door *d, ENetHost *host);

/*
 * The body of host->intercept for the received datagram: 1 if consumed
 * (answered or dropped), 0 to let ENet handle it, perhaps shortened
 * (host->receivedDataLength) where a command was refused.
 */
int es_front_door_intercept(struct es_front_door *d, ENetHost *host);

/* Use these budgets from now on (a reload); copied.  Buckets keep their tokens. */
void es_front_door_set_limits(struct es_front_door *d, const struct es_limits *l);

/* May this address (which proved it receives) start one more handshake now? */
bool es_front_door_handshake_ok(struct es_front_door *d, uint32_t ipv4);

/* The token a reset of this peer's session will carry: the WELCOME hands it over. */
void es_front_door_reset_token(const struct es_front_door *d, const ENetPeer *peer,
			       uint8_t out[static ES_RESET_TOKEN_LEN]);

/* The largest packet a client may send, sealed (fragmented packets are held to it). */
#define ES_UP_PACKET_MAX (1 + ES_CIPHER_OVERHEAD + ES_UP_MSG_MAX)

#endif
