/* SPDX-License-Identifier: MIT */
/*
 * Earshot wire protocol: the messages client and daemon exchange inside ENet
 * packets, encoded to and decoded from plain byte buffers.  No I/O here.
 *
 * Every message starts with one type byte.  Integers are little-endian.
 * Positions are signed centimetres on the floor, facing is in tenths of a
 * degree (0 = +y, clockwise positive, so 900 faces +x).
 *
 * Decoding never aborts on bad input: it returns -EBADMSG for a malformed or
 * truncated message and -EPROTONOSUPPORT for an unknown type.  Decoded
 * payload pointers (names, Opus frames) borrow from the input buffer and are
 * valid only as long as it is.
 */
#ifndef EARSHOT_PROTO_H
#define EARSHOT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "earshot-enet.h" /* ENet's wire format and resets, once declared here */

/*
 * Version 2: bundles of up to 8 forwarded voices (ES_BUNDLE_VOICES_MAX), a
 * voice entry may be a concealment or carry FEC (ES_VOICE_FEC), HELLO
 * declares the downlink budget, and the client reports its downlink loss
 * (ES_MSG_LINK, c->s).  A version 1 client is refused with
 * ES_REFUSED_VERSION, which it reports as "update earshot".
 */
#define ES_PROTO_VERSION 2
/* bound into every Noise handshake hash: both sides must agree (unchanged
 * since version 1, so an old client reads the refusal instead of failing
 * the handshake) */
#define ES_NOISE_PROLOGUE "earshot/1"
#define ES_DEFAULT_PORT 7700

/* ENet channels. */
enum {
	ES_CHAN_CONTROL = 0, /* reliable, ordered */
	ES_CHAN_AUDIO = 1,   /* unsequenced, our own sequence numbers */
	ES_CHAN_COUNT = 2,
};

#define ES_NAME_MAX 32        /* bytes of UTF-8, no NUL on the wire */
#define ES_OPUS_MAX 1275      /* RFC 6716 maximum frame size */
#define ES_BUNDLE_VOICES_MAX 8
#define ES_PRESENCE_MAX 128   /* entries in one presence message (~6 KB) */
#define ES_MSG_MAX 8192       /* largest encoded message we ever build */
/* the largest message a client sends: an AUDIO_UP with a maximal Opus frame */
#define ES_UP_MSG_MAX (1 + 4 + 1 + 2 + ES_OPUS_MAX)
#define ES_FLOOR_CHUNK 4096   /* floor-plan bytes per ES_MSG_FLOOR */
#define ES_FLOOR_TEXT_MAX (4u << 20)
#define ES_DOORS_MAX 1024     /* door states in one ES_MSG_DOORS */
/* how near a door a person must stand to open or close it (ES_MSG_DOORS): the floor's ES_DOOR_REACH_M (earshot-mixer.h) */

enum es_msg_type {
	ES_MSG_HELLO = 0x01,      /* c->s: join with a name and a place */
	ES_MSG_WELCOME = 0x02,    /* s->c: admitted, here is your id and place */
	ES_MSG_BUSY = 0x03,       /* s->c: not admitted now, retry after */
	ES_MSG_MOVE = 0x04,       /* c->s: walk to a place / turn */
	ES_MSG_STATE = 0x05,      /* c->s: muted, focus, ... */
	ES_MSG_PRESENCE = 0x06,   /* s->c: who is where, deltas */
	ES_MSG_BYE = 0x07,        /* s->c: you are being disconnected, why */
	/* before authentication, in the clear: */
	ES_MSG_SERVER_KEY = 0x08, /* s->c: the server's static public key */
	ES_MSG_HANDSHAKE1 = 0x09, /* c->s: Noise IK message 1 (carries HELLO) */
	ES_MSG_HANDSHAKE2 = 0x0A, /* s->c: Noise IK message 2 (carries WELCOME) */
	ES_MSG_REFUSED = 0x0B,    /* s->c: not admitted, and why */
	ES_MSG_ADMIN = 0x0C,      /* s->c: an admin muted, unmuted or moved you */
	ES_MSG_AUDIO_UP = 0x10,   /* c->s: one 20 ms mono Opus frame */
	ES_MSG_AUDIO_DOWN = 0x11, /* s->c: what this listener hears this tick */
	ES_MSG_FLOOR = 0x12,      /* s->c: a piece of the floor plan's text */
	ES_MSG_DOORS = 0x13,      /* s->c: door states; c->s: open or close one door */
	ES_MSG_KNOCK = 0x14,      /* c->s: knock on a room; s->c: someone knocks */
	ES_MSG_WHISPER = 0x15,    /* c->s: whisper to someone (or stop); s->c: who whispers to you */
	ES_MSG_VOLUME = 0x16,     /* c->s: hear one person louder or softer */
	ES_MSG_FLOOR_GET = 0x17,  /* c->s: send me the floor plan (no body) */
	ES_MSG_LINK = 0x18,       /* s->c: how your uplink arrives here; c->s: how the downlink arrives (loss) */
	ES_MSG_REDIRECT = 0x19,   /* s->c, sealed: your floor is on another daemon of the company: go there */
	/* after authentication everything else travels inside this: */
	ES_MSG_SEALED = 0x80,     /* [0x80][u64 counter][ciphertext][tag] */
};

enum es_refused_reason {
	ES_REFUSED_UNKNOWN_KEY = 1, /* not enrolled and no valid invite */
	ES_REFUSED_INVITE = 2,      /* the invite is unknown, used or expired */
	ES_REFUSED_REPLAY = 3,      /* handshake older than one already seen */
	ES_REFUSED_NAME_TAKEN = 4,  /* open enrolment: that name is someone else's */
	ES_REFUSED_BAD_HANDSHAKE = 5, /* could not be read: wrong server key? */
	ES_REFUSED_RATE = 6,        /* too many attempts from this address */
	ES_REFUSED_VERSION = 7,     /* protocol version not supported */
};

/* Person state flags (HELLO, STATE, PRESENCE). */
enum {
	ES_PF_MUTED = 1u << 0,
	ES_PF_FOCUS = 1u << 1,
	ES_PF_TALKING = 1u << 2, /* presence only: set by the server */
	ES_PF_THIN = 1u << 3,    /* wants one server-rendered stream */
	ES_PF_PLACE = 1u << 4,   /* HELLO only: sit exactly where I said, not at my remembered place or a free desk */
	ES_PF_ROSTER = 1u << 5,  /* HELLO only: send me who is where (a UI wants it; a bot may not) */
	ES_PF_ADMIN_MUTED = 1u << 4, /* presence only: muted by an admin */
	/*
	 * presence only: in a closed room, seen from outside it; the other
	 * flags (talking, muted, ...) are then not shown
	 */
	ES_PF_MEETING = 1u << 5,
};

enum es_bye_reason {
	ES_BYE_SHUTDOWN = 1,
	ES_BYE_RESTART = 2,
	ES_BYE_REMOVED = 3,
	ES_BYE_PROTOCOL = 4,
	ES_BYE_REPLACED = 5, /* the same key joined again from elsewhere */
};

struct es_pos {
	int32_t x_cm;
	int32_t y_cm;
	uint16_t facing; /* decidegrees, 0..3599 */
};

/*
 * The downlink budget a client declares at join, kbit/s: every bundle it is
 * sent stays within it (IP, UDP, ENet and sealing included).  0: the
 * server's default.  At most ES_DOWNLINK_MAX_KBPS; ES_PF_THIN asks for one
 * mixed stream of at most 40 kbit/s instead.
 */
#define ES_DOWNLINK_DEFAULT_KBPS 320
#define ES_DOWNLINK_MIN_KBPS 64
#define ES_DOWNLINK_MAX_KBPS 1000

struct es_hello {
	uint16_t version;
	uint8_t flags;
	struct es_pos pos;
	uint8_t name_len;
	const char *name; /* borrowed, not NUL-terminated */
	/*
	 * Version 2 on: kbit/s, 0 or ES_DOWNLINK_MIN_KBPS..ES_DOWNLINK_MAX_KBPS.
	 * A version 1 HELLO has no such field and decodes with 0, so the server
	 * can read its version and refuse it clearly.
	 */
	uint16_t downlink_kbps;
};

struct es_welcome {
	uint16_t version;
	uint16_t id;
	struct es_pos pos;
	/*
	 * The token a reset for this session will carry (see ES_RESET_LEN),
	 * appended on the wire; has_reset false: none (a daemon from before
	 * it), and the client then acts on no reset at all.
	 */
	bool has_reset;
	uint8_t reset_token[6]; /* ES_RESET_TOKEN_LEN */
};

struct es_busy {
	uint32_t retry_after_ms;
};

struct es_state {
	uint8_t flags;
};

struct es_bye {
	uint8_t reason;
};

enum es_presence_kind {
	ES_PRESENCE_JOIN = 1,   /* full entry: name, place, flags */
	ES_PRESENCE_UPDATE = 2, /* place and flags changed */
	ES_PRESENCE_LEAVE = 3,  /* id only */
};

struct es_presence_entry {
	uint16_t id;
	uint8_t kind;
	uint8_t flags;
	struct es_pos pos;
	uint8_t name_len;
	const char *name; /* borrowed; JOIN only */
};

struct es_presence {
	uint8_t count;
	struct es_presence_entry entry[ES_PRESENCE_MAX];
};

/*
 * AUDIO_UP only: the first frame sent after frames that were not (a talk
 * spurt starts): the gap in sequence numbers before it is silence, not loss.
 */
#define ES_UP_START (1u << 7)
/*
 * AUDIO_UP only: held back by the voice detector and sent late, in a burst
 * with the frame that set it off (pre-roll).  Its lateness is not the
 * network's: the receiver leaves it out of its jitter estimate.
 */
#define ES_UP_PREROLL (1u << 6)
/* AUDIO_UP pre-roll only: nothing above the noise floor; the receiver may skip it. */
#define ES_UP_QUIET (1u << 5)

struct es_audio_up {
	uint32_t seq;
	uint8_t flags; /* ES_PF_TALKING when voice detected; ES_UP_START, ES_UP_PREROLL, ES_UP_QUIET */
	uint16_t len;
	const uint8_t *opus; /* borrowed */
};

/*
 * One forwarded voice in a downlink bundle: the speaker's own Opus frame with
 * the gain and direction this listener should render it at.
 *
 * The server's jitter buffer may have no frame of a speaker for this tick
 * while the speaker goes on.  Then the entry still comes, so the client
 * keeps the voice in place instead of fading it out and in again:
 * - len 0: conceal (opus_decode with no data: PLC);
 * - flags ES_VOICE_FEC: the frame lost was followed by this one, which is
 *   the speaker's next frame: decode its in-band FEC (decode_fec 1).  The
 *   same frame comes again, plain, in the next bundle.
 * On the wire the flag is the top bit of the length field.
 */
#define ES_VOICE_FEC 1u
struct es_bundle_voice {
	uint16_t speaker;
	uint16_t seq;     /* low 16 bits of the speaker's frame sequence */
	uint16_t gain_q;  /* linear gain, Q12 (4096 = 1.0) */
	int16_t azimuth;  /* decidegrees, -1800..1800, + is to the right */
	uint8_t flags;    /* ES_VOICE_FEC */
	uint16_t len;     /* 0: conceal */
	const uint8_t *opus; /* borrowed; NULL when len is 0 */
};
/* Bytes of one voice entry on the wire besides its Opus frame. */
#define ES_BUNDLE_VOICE_HEADER 10
/* Bytes of an AUDIO_DOWN message besides its voices and mix frame. */
#define ES_BUNDLE_HEADER 14

enum {
	ES_MIX_MIRROR = 1u << 0, /* swap the decoded mix's left and right */
};

struct es_audio_down {
	uint32_t tick;
	uint16_t seq;     /* this listener's bundles, counted: the client measures its downlink loss from it */
	uint8_t nvoices;
	struct es_bundle_voice voice[ES_BUNDLE_VOICES_MAX];
	uint32_t mix_stream; /* identity of the mix stream: a change means reset the decoder */
	uint8_t mix_flags;   /* ES_MIX_* */
	uint16_t mix_len; /* 0: no mixed stream in this bundle */
	const uint8_t *mix; /* borrowed; stereo Opus */
};

struct es_floor_chunk {
	uint32_t total;  /* length of the whole plan text */
	uint32_t offset; /* where this piece goes */
	uint16_t len;
	const uint8_t *data; /* borrowed */
};

struct es_door_state {
	uint16_t door;
	uint8_t open;
};

struct es_doors {
	uint16_t count; /* c->s: exactly 1 */
	const struct es_door_state *door; /* encode: the states to send */
	const uint8_t *raw; /* decode: the validated entries, borrowed; read with es_doors_at() */
};

/* Entry i (< count) of a decoded ES_MSG_DOORS. */
struct es_door_state es_doors_at(const struct es_doors *d, unsigned i);

struct es_knock {
	uint16_t room;
	uint16_t from; /* s->c only: who knocks (c->s: ignored, 0) */
};

struct es_whisper {
	int32_t to;    /* c->s: person id, or -1 to stop; s->c: the whisperer's id */
	uint8_t on;    /* s->c: whispering to you now or stopped */
};

struct es_volume {
	uint16_t speaker;
	uint16_t gain_q; /* Q12, 0 .. 4.0 */
};

/*
 * ES_MSG_LINK, s->c: the uplink as the server measured it from the client's
 * AUDIO_UP sequence numbers, over the last `frames` frames expected while
 * talking (gaps between talk spurts are not loss).  The client tunes its
 * in-band FEC to it.
 * ES_MSG_LINK, c->s (version 2): the downlink as the client measured it,
 * bundles lost or late of `frames` expected while it was hearing someone.
 * The server lowers the listener's budget while it loses.
 */
struct es_link {
	uint16_t loss_permille; /* 0..1000 */
	uint16_t frames;        /* how many frames the figure is over, > 0 */
};

struct es_server_key {
	uint16_t version;
	uint8_t key[32];
};

struct es_refused {
	uint8_t reason;
};

/*
 * What an admin imposes on a person (ES_MSG_ADMIN), sent when it changes
 * and again after each join while it holds.  ES_ADMIN_MUTED: the server
 * drops their audio until an admin unmutes them, whatever the client's own
 * mute says.  ES_ADMIN_MOVED: pos is the place the admin moved them to
 * (the client should take it as its own); without it pos is just where the
 * server has them.  ES_ADMIN_REFUSED: the server refused the client's own
 * move (a wall, a closed room, a taken desk); pos is where it still has them.
 */
enum {
	ES_ADMIN_MUTED = 1u << 0,
	ES_ADMIN_MOVED = 1u << 1,
	ES_ADMIN_REFUSED = 1u << 2,
};

/*
 * ES_MSG_REDIRECT (s->c, sealed, then the daemon closes): in a company of
 * several daemons (docs/CLUSTER.md) the client's floor is hosted by another
 * daemon, or is being moved to one.  addr[0] is where to go now (host:port);
 * the rest are other live daemons of the company, for the client's list of
 * addresses to try when it must reconnect.  pos is where the client is on
 * the company's floors: it joins there (ES_PF_PLACE).  A redirect is not a
 * failure: the client connects at once, with no backoff.  With no owner for
 * the floor yet the daemon answers ES_MSG_BUSY instead.  The server key
 * stays the same: every daemon of a company holds the company's key.
 */
#define ES_REDIRECT_ADDRS_MAX 8
#define ES_REDIRECT_ADDR_MAX 95 /* bytes of one host:port */
enum es_redirect_reason {
	ES_REDIRECT_ELSEWHERE = 1, /* your floor is hosted there */
	ES_REDIRECT_DRAIN = 2,     /* this daemon is drained: your floor moved there */
	ES_REDIRECT_MOVED = 3,     /* your floor moved there (failover, placement) */
	ES_REDIRECT_WALK = 4,      /* you walked to a floor hosted there */
};
struct es_redirect {
	uint8_t reason;
	struct es_pos pos;
	uint8_t naddr; /* 1..ES_REDIRECT_ADDRS_MAX */
	char addr[ES_REDIRECT_ADDRS_MAX][ES_REDIRECT_ADDR_MAX + 1]; /* NUL-terminated, non-empty */
};

struct es_admin_notice {
	uint8_t flags;
	struct es_pos pos;
};

/* Handshake messages and sealed packets carry opaque bytes. */
struct es_blob {
	uint16_t len;
	const uint8_t *data; /* borrowed */
};

struct es_msg {
	uint8_t type;
	union {
		struct es_hello hello;
		struct es_welcome welcome;
		struct es_busy busy;
		struct es_pos move;
		struct es_state state;
		struct es_presence presence;
		struct es_bye bye;
		struct es_audio_up up;
		struct es_audio_down down;
		struct es_server_key server_key;
		struct es_refused refused;
		struct es_admin_notice admin;
		struct es_blob blob; /* HANDSHAKE1, HANDSHAKE2, SEALED */
		struct es_floor_chunk floor;
		struct es_doors doors;
		struct es_knock knock;
		struct es_whisper whisper;
		struct es_volume volume;
		struct es_link link;
		struct es_redirect redirect;
	} u;
};

/*
 * Encode m into buf (capacity cap).  Returns the encoded length, -ENOSPC if
 * it does not fit, -EINVAL if m itself is invalid (a length over its cap).
 */
__attribute__((warn_unused_result)) int es_msg_encode(const struct es_msg *m, uint8_t *buf, size_t cap);

/*
 * Decode one message from buf.  On success returns the number of bytes
 * consumed (always len: trailing bytes are an error).  Pointers in *m borrow
 * from buf.  Returns -EBADMSG or -EPROTONOSUPPORT on bad input; *m is then
 * unspecified.
 */
__attribute__((warn_unused_result)) int es_msg_decode(struct es_msg *m, const uint8_t *buf, size_t len);

/* True for the types that may (and must) travel in the clear. */
int es_msg_is_plain(uint8_t type);

/*
 * The application payload of Noise message 1: the HELLO, and optionally the
 * 16-byte secret of an invite being redeemed.  Encoded as
 * [u8 hello_len][hello][u8 secret_len (0 or 16)][secret].
 */
#define ES_INVITE_SECRET_BYTES 16
struct es_join_payload {
	struct es_hello hello;
	bool has_secret;
	uint8_t secret[ES_INVITE_SECRET_BYTES];
};

__attribute__((warn_unused_result)) int es_join_payload_encode(const struct es_join_payload *p, uint8_t *buf, size_t cap);
__attribute__((warn_unused_result)) int es_join_payload_decode(struct es_join_payload *p, const uint8_t *buf, size_t len);

/*
 * Names: 1..ES_NAME_MAX bytes of well-formed UTF-8 holding no control
 * character (C0, DEL, C1), no bidirectional formatting character (U+061C,
 * U+200E-200F, U+202A-202E, U+2066-2069) and no line or paragraph separator
 * (U+2028-2029).  The one rule for the wire, invites and enrolments.
 */
bool es_name_valid(const char *name, size_t len);

/*
 * Text for a terminal or a log: copy len bytes of in to out (cap bytes,
 * always NUL-terminated when cap > 0), writing what es_name_valid refuses
 * as an escape instead (a byte that is not UTF-8 or a C0 control or DEL as
 * \xNN, the other refused characters as \uNNNN, a backslash as \\).
 * Cut short at a character boundary if out is too small.  Returns the
 * length written.
 */
size_t es_text_escape(const char *in, size_t len, char *out, size_t cap);

/* A short constant name for a message type, for logs. */
const char *es_msg_type_name(uint8_t type);

/* Q12 gain helpers, saturating. */
uint16_t es_gain_to_q(float gain);
float es_gain_from_q(uint16_t q);

#endif
