/* SPDX-License-Identifier: MIT */
/*
 * The relay link between two daemons of a company (docs/CLUSTER.md, "The
 * company-wide stage relay"): what travels in one ENet packet on a relay
 * host.  Pure encode/decode over caller buffers, like earshot-proto.h.
 *
 * A packet is one of:
 *
 *   [ES_RELAY_PKT_HS1][Noise IK msg1]   initiator -> responder; payload a HELLO
 *   [ES_RELAY_PKT_HS2][Noise IK msg2]   responder -> initiator; payload a HELLO
 *   [ES_MSG_SEALED][u64 counter][ciphertext][tag]   es_envelope_seal of a
 *                                        relay message below, once the
 *                                        handshake is done
 *
 * The handshake is the clients' Noise IK (earshot-crypto.h) under its own
 * prologue, ES_RELAY_PROLOGUE, so that a client's msg1 is never a daemon's
 * and the other way round.  Every daemon of a company holds the company's
 * static key: the initiator's static is the company key, and a responder
 * accepts only an initiator whose static is the company's public key.
 *
 * HELLO: [u8 version = 1][u8 id_len][id]: the sender's daemon id, 1 to
 * ES_RELAY_ID_MAX bytes of [A-Za-z0-9._-] (the cluster's id rule).
 *
 * Relay messages (sealed), little-endian:
 *
 *   ES_RELAY_VOICE  [type][u16 speaker][u32 seq][u8 flags][u8 floor]
 *                   [i32 x_cm][i32 y_cm][u16 len][len bytes of Opus]
 *       one stage speaker's own uplink frame, as the client sent it (never
 *       decoded or re-encoded).  speaker: their id on the sending daemon;
 *       seq and flags (ES_RELAY_VOICE_*) as in their AUDIO_UP; floor: the
 *       company floor (index in [cluster] floors) of the stage; x_cm, y_cm:
 *       where they stand relative to that floor's own plan (y from the
 *       floor's south edge, as in the plan itself).  len 1..ES_OPUS_MAX.
 *   ES_RELAY_OFF    [type][u16 speaker]
 *       that speaker left the stage (or the daemon).
 */
#ifndef EARSHOT_RELAY_H
#define EARSHOT_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ES_RELAY_PROLOGUE "earshot-relay/1"
#define ES_RELAY_VERSION 1
#define ES_RELAY_ID_MAX 64

enum {
	ES_RELAY_PKT_HS1 = 0x01,
	ES_RELAY_PKT_HS2 = 0x02,
	/* sealed: ES_MSG_SEALED (0x80), the clients' envelope */
};

enum es_relay_type {
	ES_RELAY_VOICE = 0x10,
	ES_RELAY_OFF = 0x11,
};

/* ES_RELAY_VOICE flags: the uplink's own, so the receiver's jitter buffer treats the frame alike */
#define ES_RELAY_VOICE_PREROLL 1u
#define ES_RELAY_VOICE_QUIET 2u

#define ES_RELAY_VOICE_HDR (1 + 2 + 4 + 1 + 1 + 4 + 4 + 2)
#define ES_RELAY_MSG_MAX (ES_RELAY_VOICE_HDR + 1275)
#define ES_RELAY_HELLO_MAX (2 + ES_RELAY_ID_MAX)

struct es_relay_voice {
	uint16_t speaker;
	uint32_t seq;
	uint8_t flags;
	uint8_t floor;
	int32_t x_cm, y_cm;
	uint16_t len;
	const uint8_t *opus; /* decode: points into the buffer decoded */
};

struct es_relay_msg {
	uint8_t type; /* enum es_relay_type */
	union {
		struct es_relay_voice voice;
		struct {
			uint16_t speaker;
		} off;
	} u;
};

/*
 * Encode m into out (capacity cap): the length, -ENOSPC (cap too small),
 * -EINVAL (unknown type, a voice of length 0 or over ES_OPUS_MAX).
 */
__attribute__((warn_unused_result)) int es_relay_encode(const struct es_relay_msg *m, uint8_t *out, size_t cap);

/*
 * Decode one message of exactly len bytes: 0, -EPROTONOSUPPORT (unknown
 * type), -EBADMSG (truncated, trailing bytes, a bad length).  A voice's
 * opus points into buf.
 */
__attribute__((warn_unused_result)) int es_relay_decode(struct es_relay_msg *m, const uint8_t *buf, size_t len);

/* A daemon id as the cluster allows it: 1..ES_RELAY_ID_MAX of [A-Za-z0-9._-]. */
bool es_relay_id_valid(const char *id, size_t len);

/* HELLO: encode id (NUL-terminated): length, -EINVAL (bad id), -ENOSPC. */
__attribute__((warn_unused_result)) int es_relay_hello_encode(const char *id, uint8_t *out, size_t cap);
/* HELLO: decode into id (ES_RELAY_ID_MAX + 1 bytes, NUL-terminated): 0 or -EBADMSG. */
__attribute__((warn_unused_result)) int es_relay_hello_decode(char id[static ES_RELAY_ID_MAX + 1], const uint8_t *buf, size_t len);

#endif
