/* SPDX-License-Identifier: MIT */
/*
 * Earshot session crypto: the Noise IK handshake, the per-packet transport
 * cipher with its replay window, stateless connect cookies for ENet, and
 * invite codes.  Pure functions over caller buffers: no sockets, no clocks,
 * no files.  Where time matters the caller passes it in; randomness comes
 * from libsodium's randombytes_buf (call sodium_init() once before use).
 *
 * Errors are negative errno values.  Anything parsed from the network
 * returns -EBADMSG when it is malformed or fails authentication; no function
 * here aborts on bad input.  Secrets in caller-owned structs are wiped by the
 * matching _clear() function.
 */
#ifndef EARSHOT_CRYPTO_H
#define EARSHOT_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "earshot-enet.h" /* ENet's wire format and resets, once declared here */

#define ES_WUR __attribute__((warn_unused_result))

#define ES_KEY_LEN 32   /* X25519 keys, ChaCha20-Poly1305 keys */
#define ES_TAG_LEN 16   /* Poly1305 tag */
#define ES_HASH_LEN 64  /* BLAKE2b, Noise HASHLEN */

/* ------------------------------------------------------------------------ */
/* Keys */

struct es_keypair {
	uint8_t pub[ES_KEY_LEN];
	uint8_t priv[ES_KEY_LEN];
};

/* Fill kp with a fresh random X25519 key pair. */
void es_noise_keypair(struct es_keypair *kp);

/*
 * Derive kp from a stored private key (for example one loaded from a key
 * file by the caller).  Returns 0, or -EINVAL for a key whose public half is
 * degenerate.
 */
ES_WUR int es_noise_keypair_from_private(struct es_keypair *kp, const uint8_t priv[static ES_KEY_LEN]);

/* Wipe a key pair. */
void es_keypair_clear(struct es_keypair *kp);

/*
 * A short human-readable fingerprint of a public key for logs and pinning
 * prompts: 80 bits of a domain-separated BLAKE2b hash as four groups of four
 * base32 characters, "abcd-efgh-ijkl-mnop".  out must hold
 * ES_FINGERPRINT_LEN bytes (NUL included).
 */
#define ES_FINGERPRINT_LEN 20
void es_key_fingerprint(const uint8_t pub[static ES_KEY_LEN], char out[static ES_FINGERPRINT_LEN]);

/* ------------------------------------------------------------------------ */
/* Transport cipher */

/*
 * One direction of a session: a ChaCha20-Poly1305-IETF key, the counter of
 * the next packet to send and a sliding replay window over received
 * counters.  The nonce is 4 zero bytes followed by the 64-bit counter,
 * little-endian, as Noise's ChaChaPoly cipher encodes n.
 *
 * A sealed packet is [u64 counter LE][ciphertext][16-byte tag].  Each
 * es_cipher is used either for sealing or for opening: the send counter and
 * the window are independent.
 *
 * Fields are private; the struct is public only so that callers can embed it
 * without an allocation.
 */
#define ES_REPLAY_BITS 2048
#define ES_REPLAY_WINDOW (ES_REPLAY_BITS - 64) /* counters guaranteed tracked */
#define ES_CIPHER_OVERHEAD (8 + ES_TAG_LEN)
/* The caller should start a new handshake after this many packets ... */
#define ES_CIPHER_REKEY_AFTER (UINT64_C(1) << 60)
/* ... and sealing fails with -EKEYEXPIRED at this one (Noise reserves 2^64-1). */
#define ES_CIPHER_REJECT_AFTER (UINT64_MAX - 8192)

struct es_cipher {
	uint8_t key[ES_KEY_LEN];
	uint64_t send_next;  /* counter of the next sealed packet */
	uint64_t recv_top;   /* highest accepted counter + 1; 0: none yet */
	uint64_t recv_bitmap[ES_REPLAY_BITS / 64];
};

/* Start a cipher with key (copied; the caller keeps and wipes its copy). */
void es_cipher_init(struct es_cipher *c, const uint8_t key[static ES_KEY_LEN]);

/* Wipe the key and all counters. */
void es_cipher_clear(struct es_cipher *c);

/* True once the caller should rekey (ES_CIPHER_REKEY_AFTER packets sent). */
bool es_cipher_rekey_due(const struct es_cipher *c);

/*
 * Seal len bytes of plaintext pt, authenticating ad (adlen bytes, may be
 * NULL/0; Earshot passes the message type byte) into out (capacity cap).
 * Returns the packet length, len + ES_CIPHER_OVERHEAD; -ENOSPC if cap is too
 * small; -EMSGSIZE if len does not fit an int; -EKEYEXPIRED once the
 * counter has reached ES_CIPHER_REJECT_AFTER (rekey).  pt and out must not
 * overlap.
 */
ES_WUR int es_cipher_seal(struct es_cipher *c, const uint8_t *ad, size_t adlen,
		const uint8_t *pt, size_t len, uint8_t *out, size_t cap);

/*
 * Open one packet.  The tag is verified before the replay window is looked
 * at or changed, so only authentic packets move the window.  Returns the
 * plaintext length written to out (capacity cap), or:
 *   -EBADMSG   truncated, tampered, wrong key (another session) or a counter
 *              no honest sender uses;
 *   -EALREADY  authentic, but this counter was already accepted (a replay or
 *              a network duplicate);
 *   -ESTALE    authentic, but older than the window (ES_REPLAY_WINDOW
 *              packets behind the newest): cannot tell if it was seen;
 *   -ENOSPC    out is too small.
 * On any error out holds no plaintext.
 */
ES_WUR int es_cipher_open(struct es_cipher *c, const uint8_t *ad, size_t adlen,
		const uint8_t *pkt, size_t len, uint8_t *out, size_t cap);

/* ------------------------------------------------------------------------ */
/* The sealed envelope */

/*
 * Every message after the handshake travels sealed, in one envelope:
 *
 *   [ES_MSG_SEALED][u64 counter LE][ciphertext][16-byte tag]
 *
 * the type byte authenticated as the associated data.  These are the only
 * functions that build or open one; the cipher's replay window and
 * counters are as for es_cipher_seal and es_cipher_open.
 */
#define ES_ENVELOPE_OVERHEAD (1 + ES_CIPHER_OVERHEAD)

struct es_msg;

/*
 * Seal len bytes of an encoded message msg with tx into out (capacity
 * cap).  Returns the envelope's length, len + ES_ENVELOPE_OVERHEAD, or an
 * error of es_cipher_seal (-ENOSPC, -EMSGSIZE, -EKEYEXPIRED).
 */
ES_WUR int es_envelope_seal(struct es_cipher *tx, const uint8_t *msg, size_t len, uint8_t *out, size_t cap);

/* Encode m (es_msg_encode) and seal it: its errors, or es_envelope_seal's. */
ES_WUR int es_envelope_seal_msg(struct es_cipher *tx, const struct es_msg *m, uint8_t *out, size_t cap);

/*
 * Open one envelope of len bytes (a whole ENet packet) with rx: returns
 * the length of the message written to out (capacity cap), or:
 *   -ENOMSG    not an envelope at all (empty, or another message type: a
 *              message in the clear);
 *   -EBADMSG   an envelope of no length or longer than ES_MSG_MAX, or one
 *              es_cipher_open finds truncated, tampered or of another key;
 *   -EALREADY, -ESTALE, -ENOSPC  as es_cipher_open.
 * On any error out holds no plaintext.
 */
ES_WUR int es_envelope_open(struct es_cipher *rx, const uint8_t *pkt, size_t len, uint8_t *out, size_t cap);

/* ------------------------------------------------------------------------ */
/* Noise_IK_25519_ChaChaPoly_BLAKE2b handshake */

/*
 * The client (initiator) knows the server's static public key in advance
 * (pinned, or from an invite).  Two messages:
 *
 *   msg1  c->s  e, es, s, ss  + payload [12-byte TAI64N timestamp][app data]
 *   msg2  s->c  e, ee, se     + payload [app data]
 *
 * after which es_noise_split() gives each side its send and receive cipher.
 *
 * Replay of msg1: anyone can resend a captured msg1 and the server would
 * answer it.  The timestamp inside it is authenticated by the client's
 * static key, so the server keeps, per client key, the greatest timestamp
 * it has accepted and rejects msg1 unless es_timestamp_newer(new, stored).
 * That store is the caller's: it must outlive sessions, and should be
 * persisted across daemon restarts (or the daemon must refuse timestamps
 * older than its start time), otherwise a restart reopens the replay.
 * A replayed msg1 can never complete a session (the attacker lacks the
 * ephemeral key), but it would make the server do work and could displace
 * the real client's session.
 *
 * struct es_noise is caller-owned; fields are private.  Any failing call
 * wipes the state, which then refuses every further step (-EINVAL) until
 * re-initialised: a handshake is never resumed after an error.
 */
#define ES_TAI64N_LEN 12
#define ES_NOISE_PAYLOAD_MAX 256 /* application bytes in msg1 or msg2 */
#define ES_NOISE_MSG1_MIN (ES_KEY_LEN + ES_KEY_LEN + ES_TAG_LEN + ES_TAI64N_LEN + ES_TAG_LEN)
#define ES_NOISE_MSG1_MAX (ES_NOISE_MSG1_MIN + ES_NOISE_PAYLOAD_MAX)
#define ES_NOISE_MSG2_MIN (ES_KEY_LEN + ES_TAG_LEN)
#define ES_NOISE_MSG2_MAX (ES_NOISE_MSG2_MIN + ES_NOISE_PAYLOAD_MAX)

struct es_noise {
	uint8_t ck[ES_HASH_LEN];
	uint8_t h[ES_HASH_LEN];
	uint8_t k[ES_KEY_LEN];
	uint64_t n;
	struct es_keypair s, e;
	uint8_t rs[ES_KEY_LEN];
	uint8_t re[ES_KEY_LEN];
	uint8_t step;
	bool initiator;
};

/*
 * Start a handshake as the client: s is our static key pair, server_pub the
 * server's static public key, prologue (may be NULL/0) is bound into the
 * handshake hash and must match the server's byte for byte (Earshot uses a
 * protocol/version label).  s is copied.  Returns 0 or -EINVAL.
 */
ES_WUR int es_noise_initiator_init(struct es_noise *hs, const struct es_keypair *s,
		const uint8_t server_pub[static ES_KEY_LEN], const uint8_t *prologue, size_t prologue_len);

/* Start a handshake as the server with its static key pair s (copied). */
ES_WUR int es_noise_responder_init(struct es_noise *hs, const struct es_keypair *s,
		const uint8_t *prologue, size_t prologue_len);

/*
 * Client: write msg1 carrying timestamp ts and len bytes of app payload
 * (0..ES_NOISE_PAYLOAD_MAX) into out.  Generates the ephemeral key.
 * Returns the message length; -EINVAL (wrong step), -EMSGSIZE (payload too
 * long), -ENOSPC (cap too small).
 */
ES_WUR int es_noise_write_msg1(struct es_noise *hs, const uint8_t ts[static ES_TAI64N_LEN],
		const uint8_t *payload, size_t len, uint8_t *out, size_t cap);

/*
 * Server: read msg1.  On success returns the app payload length (copied to
 * payload, capacity cap) and gives the client's static public key in
 * client_pub and its timestamp in ts.  Nothing else is touched: the caller
 * must now check client_pub against its allowlist and ts against the stored
 * greatest timestamp for that key, and only then write msg2 and change any
 * session or room state.  Returns -EBADMSG for anything malformed or
 * unauthentic, -ENOBUFS if the payload is longer than cap, -EINVAL for the
 * wrong step.
 */
ES_WUR int es_noise_read_msg1(struct es_noise *hs, const uint8_t *buf, size_t len,
		uint8_t client_pub[static ES_KEY_LEN], uint8_t ts[static ES_TAI64N_LEN],
		uint8_t *payload, size_t cap);

/*
 * Server, after read_msg1: make the ephemeral key pair msg2 will carry now
 * (one X25519), e.g. on a worker thread; write_msg2 otherwise makes it.
 */
void es_noise_make_ephemeral(struct es_noise *hs);

/* Server: write msg2 with len bytes of app payload.  Errors as write_msg1. */
ES_WUR int es_noise_write_msg2(struct es_noise *hs, const uint8_t *payload, size_t len,
		uint8_t *out, size_t cap);

/* Client: read msg2.  Returns the payload length; errors as read_msg1. */
ES_WUR int es_noise_read_msg2(struct es_noise *hs, const uint8_t *buf, size_t len,
		uint8_t *payload, size_t cap);

/*
 * After msg2 (either side): copy the handshake hash, which both sides share
 * and which identifies the session (channel binding).  Returns 0 or -EINVAL.
 */
ES_WUR int es_noise_handshake_hash(const struct es_noise *hs, uint8_t out[static ES_HASH_LEN]);

/*
 * After msg2 (either side): derive the transport ciphers for our sending and
 * our receiving direction, then wipe hs.  Returns 0 or -EINVAL.
 */
ES_WUR int es_noise_split(struct es_noise *hs, struct es_cipher *send, struct es_cipher *recv);

/* Wipe a handshake state (any step). */
void es_noise_clear(struct es_noise *hs);

/*
 * TAI64N timestamps: 8 bytes big-endian 2^62 + seconds, 4 bytes big-endian
 * nanoseconds; later times compare greater as plain bytes.  unix_sec and
 * nsec come from the caller's clock (CLOCK_REALTIME: it must survive a
 * reboot, unlike CLOCK_MONOTONIC).  nsec >= 10^9 is clamped.
 */
void es_timestamp_make(uint8_t out[static ES_TAI64N_LEN], uint64_t unix_sec, uint32_t nsec);

/* True if a is strictly later than b. */
bool es_timestamp_newer(const uint8_t a[static ES_TAI64N_LEN], const uint8_t b[static ES_TAI64N_LEN]);

/* ------------------------------------------------------------------------ */
/* Stateless connect cookies for ENet */

/*
 * ENet has no connect cookie, so spoofed CONNECTs can fill every peer slot.
 * Before connecting, the client sends a raw "cookie request" datagram to the
 * server port; the server's host->intercept answers with a raw "cookie
 * reply" holding a 32-bit MAC over the client's address and a coarse time
 * slot, computed under a server secret and stored nowhere.  The client
 * passes the cookie as the `data` argument of enet_host_connect(); the
 * intercept drops every CONNECT whose data is not a valid cookie for the
 * sender's address in the current or previous slot.  Only a sender that
 * receives at its source address can connect.
 *
 * Both raw datagrams start with the magic "ESCK": 'E' = 0x45 sets ENet's
 * COMPRESSED header flag, and Earshot hosts have no compressor, so ENet
 * would drop such a datagram anyway: it can never be genuine ENet traffic.
 * The request is padded to ES_COOKIE_REQUEST_LEN so that the reply is
 * smaller than the request: no amplification.
 *
 * Addresses are as ENet stores them: ipv4 in network byte order (the value
 * of ENetAddress.host), port in host order.
 *
 * The cookie binds the source port, so the client must send its request
 * from the socket its CONNECT will come from: enet_socket_send() on its
 * ENet host's host->socket, catching the reply in that host's intercept.
 * Server intercept, in outline (slot from the daemon's clock):
 *
 *   buf = host->receivedData, len = host->receivedDataLength,
 *   a = host->receivedAddress
 *   if es_cookie_is_raw(buf, len):
 *       if es_cookie_request_parse(buf, len, nonce) == 0:
 *           send es_cookie_reply_build(nonce, es_cookie_make(secret,
 *               a.host, a.port, slot)) to a (rate-limited)
 *       return 1                                  (consumed)
 *   switch es_enet_connect_parse(buf, len, host->checksum != NULL, &data):
 *       1:  return es_cookie_check(secret, a.host, a.port, slot, data)
 *                  == 0 ? 0 : 1                   (let ENet connect, or drop)
 *       0:  return 0                              (ENet's business)
 *       <0: return 1                              (drop)
 *
 * This does not replace capping duplicatePeers or resetting peers that
 * have not finished the Noise handshake within ~2 s: a host that can
 * receive at its address still gets a slot.
 */
#define ES_COOKIE_SECRET_LEN 32
#define ES_COOKIE_NONCE_LEN 8
#define ES_COOKIE_REQUEST_LEN 64
#define ES_COOKIE_REPLY_LEN 18
#define ES_COOKIE_SLOT_SEC 30 /* a cookie lives 30..60 s */

/* The slot for a time in seconds (any clock the server uses consistently). */
static inline uint64_t es_cookie_slot(uint64_t now_sec)
{
	return now_sec / ES_COOKIE_SLOT_SEC;
}

/* Client: build a request carrying a random nonce (echoed in the reply). */
ES_WUR int es_cookie_request_build(const uint8_t nonce[static ES_COOKIE_NONCE_LEN], uint8_t *out, size_t cap);

/* Server: parse a request.  Returns 0 and the nonce, or -EBADMSG. */
ES_WUR int es_cookie_request_parse(const uint8_t *buf, size_t len, uint8_t nonce[static ES_COOKIE_NONCE_LEN]);

/* Server: build the reply for nonce and cookie.  Returns length or -ENOSPC. */
ES_WUR int es_cookie_reply_build(const uint8_t nonce[static ES_COOKIE_NONCE_LEN], uint32_t cookie,
		uint8_t *out, size_t cap);

/*
 * Client: parse a reply.  Returns 0 and the cookie if the reply echoes
 * nonce (our request), -EBADMSG otherwise.
 */
ES_WUR int es_cookie_reply_parse(const uint8_t *buf, size_t len, const uint8_t nonce[static ES_COOKIE_NONCE_LEN],
		uint32_t *cookie);

/* True if a datagram starts with the cookie magic (request or reply). */
bool es_cookie_is_raw(const uint8_t *buf, size_t len);

/* Server: the cookie for an address in a slot. */
uint32_t es_cookie_make(const uint8_t secret[static ES_COOKIE_SECRET_LEN], uint32_t ipv4, uint16_t port, uint64_t slot);

/*
 * Server: 0 if cookie is valid for the address in slot or slot - 1,
 * -EACCES if not.  Constant time in the cookie.
 */
ES_WUR int es_cookie_check(const uint8_t secret[static ES_COOKIE_SECRET_LEN], uint32_t ipv4, uint16_t port,
		uint64_t slot, uint32_t cookie);

/* ------------------------------------------------------------------------ */
/* Reset tokens (the reset datagram is described in earshot-proto.h) */

#define ES_RESET_KEY_LEN 32

/*
 * Server: the key resets are made under, derived from its static private
 * key, so that a restarted daemon (same key file) still makes the tokens
 * it handed out before.  key is the caller's to wipe.
 */
void es_reset_key(const uint8_t priv[static ES_KEY_LEN], uint8_t key[static ES_RESET_KEY_LEN]);

/*
 * Server: the token of the session that ENet knows by the client's address
 * (ipv4 as ENetAddress.host, port in host order), the server-side peer slot
 * (0..4094) and the 2-bit ENet session id, which is what a datagram for it
 * carries in its header.  Put in the WELCOME, and in any reset answering
 * such a datagram.  6 bytes (ES_RESET_TOKEN_LEN): a blind forger needs
 * about 2^47 tries per session.
 */
void es_reset_token(const uint8_t key[static ES_RESET_KEY_LEN], uint32_t ipv4, uint16_t port, uint16_t peer_id,
		uint8_t session, uint8_t out[static 6]);

/* ------------------------------------------------------------------------ */
/* Invite codes */

/*
 * An invite lets a new person enrol their key: it names the server (host
 * text and port), pins the server's static public key and carries a 16-byte
 * one-time secret that the server checks (and then forgets) when the new
 * key first presents it, plus the name the person was invited as.
 *
 * Text form: "es1-" + base64url (no padding) of
 *   [version 1][server_pub 32][secret 16][port u16 LE]
 *   [host_len u8][host][name_len u8][name][check 4]
 * where check is the first 4 bytes of a BLAKE2b hash of everything before it
 * (catches copy-paste damage; it is not a MAC).
 *
 * A company on several daemons (docs/CLUSTER.md), which all hold its key:
 * "es2-" + base64url of
 *   [version 2][server_pub 32][secret 16][port u16 LE][host_len u8][host]
 *   [n u8, 1..7][n x (port u16 LE, host_len u8, host)]
 *   [name_len u8][name][check 4]
 * the first daemon as in version 1, then the company's others.  An invite
 * with no other daemon is encoded as version 1, which every client reads;
 * both decode.
 */
#define ES_INVITE_PREFIX "es1-"
#define ES_INVITE_PREFIX_V2 "es2-"
#define ES_INVITE_SECRET_LEN 16
#define ES_INVITE_HOST_MAX 64 /* hostname, IPv4 or IPv6 literal */
#define ES_INVITE_NAME_MAX 32 /* = ES_NAME_MAX */
#define ES_INVITE_ADDRS_MAX 8 /* daemons named, the first included */
#define ES_INVITE_TEXT_MAX 1024 /* longest token, NUL included (eight daemons of 64-byte names: ~840) */

struct es_invite_addr {
	char host[ES_INVITE_HOST_MAX + 1]; /* NUL-terminated */
	uint16_t port;
};

struct es_invite {
	char host[ES_INVITE_HOST_MAX + 1]; /* NUL-terminated: the first daemon */
	uint16_t port;
	uint8_t nmore; /* the company's other daemons, 0..ES_INVITE_ADDRS_MAX - 1 */
	struct es_invite_addr more[ES_INVITE_ADDRS_MAX - 1];
	uint8_t server_pub[ES_KEY_LEN];
	uint8_t secret[ES_INVITE_SECRET_LEN];
	char name[ES_INVITE_NAME_MAX + 1]; /* NUL-terminated, UTF-8 */
};

/*
 * Encode inv as a NUL-terminated token into out (capacity cap, at most
 * ES_INVITE_TEXT_MAX needed).  Returns strlen, -EINVAL for a bad host, name
 * or port 0, -ENOSPC if cap is too small.
 */
ES_WUR int es_invite_encode(const struct es_invite *inv, char *out, size_t cap);

/*
 * Decode a token (len bytes, need not be NUL-terminated; surrounding
 * whitespace from copy-paste is ignored).  Returns 0, or -EBADMSG for
 * anything that is not a valid token.
 */
ES_WUR int es_invite_decode(struct es_invite *inv, const char *text, size_t len);

/* Wipe the invite's secret. */
void es_invite_clear(struct es_invite *inv);

#endif
