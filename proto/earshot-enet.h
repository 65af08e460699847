/* SPDX-License-Identifier: MIT */
/*
 * What travels on Earshot's UDP port besides Earshot's own messages: the
 * one home of ENet 1.3.17's wire format (enet/protocol.h, protocol.c) as
 * far as Earshot reads or writes it by hand, and the raw reset datagram
 * that travels beside it.  Pure functions over caller buffers, no ENet
 * headers needed: the daemon's and the client's host->intercept parse
 * with these, the daemon's sender thread and the test tools build with
 * them.  (The cookie datagrams and their MAC are in earshot-crypto.h.)
 *
 * Implemented in enet-wire.c (ENet datagrams) and reset.c (resets).
 * Multi-byte ENet fields are big-endian on the wire.
 */
#ifndef EARSHOT_ENET_H
#define EARSHOT_ENET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ES_ENET_WUR __attribute__((warn_unused_result))

/* ------------------------------------------------------------------------ */
/* The protocol header of every ENet datagram */

/*
 *   [u16 peer id | session << 12 | flags][u16 sent time, if flagged]
 *   [u32 checksum, if the host has one: no flag says so]
 *
 * The peer id is the receiver's slot for the sender (ENet's
 * outgoingPeerID on the sending side, the receiver's incomingPeerID);
 * ES_ENET_PEER_NONE for a CONNECT, which has no slot yet and then carries
 * no session bits.  A sent time asks for an acknowledgement.
 */
#define ES_ENET_PEER_NONE 0xFFF            /* ENET_PROTOCOL_MAXIMUM_PEER_ID */
#define ES_ENET_FLAG_COMPRESSED (1u << 14) /* ENET_PROTOCOL_HEADER_FLAG_COMPRESSED */
#define ES_ENET_FLAG_SENT_TIME (1u << 15)  /* ENET_PROTOCOL_HEADER_FLAG_SENT_TIME */
#define ES_ENET_SESSION_SHIFT 12           /* ENET_PROTOCOL_HEADER_SESSION_SHIFT */

struct es_enet_header {
	uint16_t peer_id;   /* 0..ES_ENET_PEER_NONE */
	uint8_t session;    /* 0..3 */
	bool compressed;
	bool sent_time;
	uint16_t sent_time_ms; /* when sent_time */
};

/*
 * Read the protocol header (not the checksum).  Returns its length (2, or
 * 4 with a sent time), or -EBADMSG if buf is shorter than that.
 */
ES_ENET_WUR int es_enet_header_parse(const uint8_t *buf, size_t len, struct es_enet_header *h);

/*
 * Write h as ENet would: the session bits only when peer_id is a slot
 * (below ES_ENET_PEER_NONE), the sent time only when h->sent_time, never
 * compressed.  Returns the length written (2 or 4), -EINVAL for a peer id
 * or session out of range, -ENOSPC if cap is too small.
 */
ES_ENET_WUR int es_enet_header_write(const struct es_enet_header *h, uint8_t *out, size_t cap);

/*
 * Classify a raw datagram as the daemon's intercept sees it: returns the
 * ENet peer id it is addressed to (0..4094), ES_ENET_PEER_NONE for a
 * connect (no peer yet), or -EBADMSG if it is too short to be ENet (less
 * than 4 bytes: no ENet datagram is shorter).
 */
int es_enet_peer_id(const uint8_t *buf, size_t len);

/* ------------------------------------------------------------------------ */
/* One unsequenced packet, as ENet sends it */

/*
 * The ES_ENET_UNSEQ_HEADER bytes ENet puts before data_len bytes sent
 * alone with enet_peer_send(..., ENET_PACKET_FLAG_UNSEQUENCED): a protocol
 * header without sent time (nothing asks for an acknowledgement), then one
 * SEND_UNSEQUENCED command on channel with the unsequenced group (the
 * sending peer's ++outgoingUnsequencedGroup).  The data follows.  Returns
 * ES_ENET_UNSEQ_HEADER; -EINVAL for a peer id or session out of range or
 * data_len over 65535; -ENOSPC if cap is too small.
 */
#define ES_ENET_UNSEQ_HEADER 10 /* ENetProtocolHeader without sentTime (2) + ENetProtocolSendUnsequenced (8) */
ES_ENET_WUR int es_enet_unseq_write(uint16_t peer_id, uint8_t session, uint8_t channel, uint16_t group,
				    size_t data_len, uint8_t *out, size_t cap);

/* ------------------------------------------------------------------------ */
/* Commands: a CONNECT, and the walk over a datagram's commands */

/*
 * Look at one raw UDP datagram as ENet 1.3.17 would.  A CONNECT is only
 * acted on as the first command of a datagram whose header peer id is
 * ENET_PROTOCOL_MAXIMUM_PEER_ID (0xFFF), so that is the only place looked
 * at.  checksum says whether the host has host->checksum set (ENet then
 * puts a 4-byte CRC after the header; there is no header flag for it).
 * Returns:
 *   1        a CONNECT: *data_out = its data field (host order), i.e. the
 *            value the client passed to enet_host_connect();
 *   0        not a CONNECT: let ENet handle it;
 *   -EBADMSG too short for an ENet header, a truncated CONNECT, or
 *            compressed (Earshot hosts never compress): drop it.
 */
ES_ENET_WUR int es_enet_connect_parse(const uint8_t *buf, size_t len, bool checksum, uint32_t *data_out);

/*
 * The commands of one raw ENet 1.3.17 datagram, read exactly as ENet's
 * own loop reads them (protocol.c, enet_protocol_handle_incoming_commands),
 * so that a host->intercept can see every command ENet would act on
 * before it does: a reader that stopped earlier than ENet would let
 * through what it never looked at.
 *
 *   struct es_enet_walk w;
 *   struct es_enet_cmd c;
 *   if (es_enet_walk_init(&w, buf, len, checksum) == 0)
 *       while (es_enet_walk_next(&w, &c) > 0)
 *           ...c.offset is where the command starts in buf...
 */
enum {
	ES_ENET_CMD_ACKNOWLEDGE = 1,
	ES_ENET_CMD_CONNECT = 2,
	ES_ENET_CMD_VERIFY_CONNECT = 3,
	ES_ENET_CMD_DISCONNECT = 4,
	ES_ENET_CMD_PING = 5,
	ES_ENET_CMD_SEND_RELIABLE = 6,
	ES_ENET_CMD_SEND_UNRELIABLE = 7,
	ES_ENET_CMD_SEND_FRAGMENT = 8,
	ES_ENET_CMD_SEND_UNSEQUENCED = 9,
	ES_ENET_CMD_BANDWIDTH_LIMIT = 10,
	ES_ENET_CMD_THROTTLE_CONFIGURE = 11,
	ES_ENET_CMD_SEND_UNRELIABLE_FRAGMENT = 12,
	ES_ENET_CMD__COUNT = 13,
};
/* the high bits of the command byte */
#define ES_ENET_CMD_FLAG_ACKNOWLEDGE (1u << 7) /* ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE */
#define ES_ENET_CMD_FLAG_UNSEQUENCED (1u << 6) /* ENET_PROTOCOL_COMMAND_FLAG_UNSEQUENCED */

struct es_enet_walk {
	const uint8_t *buf;
	size_t len, at;
	bool done;
};

struct es_enet_cmd {
	uint8_t type;          /* ES_ENET_CMD_* (the low 4 bits of the command byte) */
	uint8_t channel;       /* 0xFF: the peer itself (ping, disconnect, ...) */
	uint16_t reliable_seq;
	size_t offset;         /* where the command starts in the datagram */
	size_t size;           /* its length, data included */
	uint16_t data_len;     /* SEND_* only */
	/* SEND_FRAGMENT and SEND_UNRELIABLE_FRAGMENT only */
	uint16_t start_seq;
	uint32_t fragment_count, fragment_number, total_length, fragment_offset;
};

/*
 * Start reading a datagram addressed to a peer (not a CONNECT: see
 * es_enet_connect_parse); checksum as there.  0, or -EBADMSG if it is
 * shorter than its header or compressed (Earshot hosts have no
 * compressor: ENet ignores those).
 */
ES_ENET_WUR int es_enet_walk_init(struct es_enet_walk *w, const uint8_t *buf, size_t len, bool checksum);

/*
 * The next command: 1 and *c filled in; 0 where ENet's loop stops (the
 * end, an unknown or cut-off command, data that runs past the end: ENet
 * acts on nothing from there on).
 */
ES_ENET_WUR int es_enet_walk_next(struct es_enet_walk *w, struct es_enet_cmd *c);

/* ------------------------------------------------------------------------ */
/* Resets */

/*
 * A reset: a raw (non-ENet) datagram the daemon sends to an address that
 * sends it ENet traffic for a session it does not have, so that after a
 * restart a client learns at once that it must reconnect instead of
 * waiting for ENet's timeout.
 *
 *   [0x45 'E'][0x52 'R'][token 6]        ES_RESET_LEN = 8 bytes
 *
 * 'E' sets ENet's "compressed" header flag, and Earshot hosts have no
 * compressor: it can never pass for ENet traffic.  The daemon sends one
 * only in answer to a datagram at least as long (ENet's smallest, a ping,
 * is 8 bytes), so it amplifies nothing; never in answer to a CONNECT.
 *
 * Anyone can send a datagram that looks like this, so a client acts on a
 * reset only if its token is the one the server handed it inside the
 * sealed WELCOME (es_welcome.reset_token).  The token is a MAC, under a key
 * derived from the server's static private key (es_reset_key in
 * earshot-crypto.h), over what the daemon can still read in the datagram
 * after a restart: the client's address and port, and the ENet peer slot
 * and session the datagram is addressed to.  A forger who makes the daemon
 * reset some other slot or session, or a forged address, gets a token that
 * fits no session; one who could read the victim's traffic could also cut
 * it.  A token becomes public once it is used (it travels in the clear)
 * and would fit again only a later session on the same address, port,
 * slot and session number.
 */
#define ES_RESET_LEN 8
#define ES_RESET_TOKEN_LEN 6

/* Write a reset carrying token into out (cap >= ES_RESET_LEN).  Returns ES_RESET_LEN or -ENOSPC. */
ES_ENET_WUR int es_reset_build(const uint8_t token[static ES_RESET_TOKEN_LEN], uint8_t *out, size_t cap);

/*
 * Look at a raw datagram: -EBADMSG if it is not a reset at all; 0 if it is
 * one and carries token (compared in constant time); -EACCES if it is a
 * reset for some other session (or a forgery).
 */
ES_ENET_WUR int es_reset_check(const uint8_t *buf, size_t len, const uint8_t token[static ES_RESET_TOKEN_LEN]);

/* True if buf has the shape of a reset (whatever its token). */
int es_is_reset(const uint8_t *buf, size_t len);

#endif
