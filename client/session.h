/* SPDX-License-Identifier: MIT */
/*
 * The client's session with the daemon: connecting, joining, staying joined
 * (reconnecting by itself with jittered exponential backoff), the roster of
 * who is where, and one 20 ms audio step that sends the microphone frame and
 * produces the speaker frame.  The caller owns the clock: it calls
 * es_session_step() once per 20 ms, paced by a timer or by the sound card.
 */
#ifndef EARSHOT_SESSION_H
#define EARSHOT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "earshot-crypto.h"
#include "earshot-proto.h"

#define ES_ROSTER_MAX 4096

enum es_session_state {
	ES_SESSION_CONNECTING,
	ES_SESSION_JOINING,
	ES_SESSION_JOINED,
	ES_SESSION_BACKOFF, /* waiting to try again (lost, refused or busy) */
	ES_SESSION_FAILED,  /* will not try again: see es_session_status() */
};

struct es_person_view {
	bool present;
	char name[ES_NAME_MAX + 1];
	struct es_pos pos;
	uint8_t flags;
};

struct es_session_config {
	/*
	 * HOST:PORT, or the company's daemons "HOST:PORT,HOST:PORT" (at most
	 * 8): the first is tried first; a lost one is followed by the next at
	 * once (servers.h).  Every one must present the pinned key.
	 */
	const char *server;
	const char *name;
	struct es_pos pos;
	uint8_t flags;      /* ES_PF_MUTED etc. at start */
	unsigned jitter;    /* playout depth, ticks */
	const struct es_keypair *identity; /* ours; copied */
	const uint8_t *pinned;  /* the server key we trust, or NULL: trust on first use */
	const uint8_t *invite_secret; /* 16 bytes to redeem an invite, or NULL */
	/* called once when a server key is first seen (trust on first use) */
	void (*pin)(void *ud, const uint8_t key[32]);
	void *pin_ud;
	int bitrate;
	unsigned downlink_kbps; /* declared in HELLO: 0 the server's default, else ES_DOWNLINK_MIN_KBPS..MAX */
	bool verbose;
};

struct es_session;

/* Returns NULL with errno set and a message on stderr. */
struct es_session *es_session_new(const struct es_session_config *cfg);
void es_session_free(struct es_session *s);

/* The ENet socket, to wait on between steps. */
int es_session_fd(const struct es_session *s);

/* Handle whatever arrived on the network; call whenever the fd is readable. */
void es_session_service(struct es_session *s);

/*
 * One 20 ms step: mic (960 mono samples, or NULL for nothing to send),
 * voiced (false: the frame is not sent), out (960 stereo frames, always
 * written; NULL: this tick's playback was already taken with
 * es_session_pull()).  Returns 1 if out carries something audible.
 */
int es_session_step(struct es_session *s, const int16_t *mic, bool voiced, int16_t *out);

/*
 * As es_session_step, but when voice has just started, first send the
 * npre frames of pre-roll (oldest first, 960 samples each) under the
 * sequence numbers they were captured at, so first syllables are not lost.
 * They are marked as pre-roll, and those with quiet[i] set (may be NULL)
 * as having nothing above the noise floor, which the server may skip to
 * start the spurt on time.
 */
int es_session_step_preroll(struct es_session *s, const int16_t *mic, bool voiced, const int16_t *const *pre,
			    const bool *quiet, unsigned npre, int16_t *out);

/*
 * This tick's playback (960 stereo frames), taken before the capture is
 * processed so the echo canceller's reference can include it; then call
 * es_session_step*() with out NULL.  Returns 1 if audible.
 */
int es_session_pull(struct es_session *s, int16_t *out);

/* The floor plan: asked for once joined (es_session_want_floor), NULL until complete. */
struct es_floor;
void es_session_want_floor(struct es_session *s);
const struct es_floor *es_session_floor(const struct es_session *s);

/* Office actions (sent at once if joined). */
void es_session_door(struct es_session *s, unsigned door, bool open);
void es_session_knock(struct es_session *s, unsigned room);
void es_session_whisper(struct es_session *s, int to); /* -1 stops */
int es_session_whisper_to(const struct es_session *s);  /* whom I whisper to, -1 */
int es_session_whisper_from(const struct es_session *s); /* who whispers to me, -1 */
void es_session_volume(struct es_session *s, unsigned speaker, float gain);

/* The next thing to tell the user ("Bob knocks on Orion"), or NULL. */
const char *es_session_event(struct es_session *s);

/* Walk to a place / change flags; sent at once if joined, kept for rejoin. */
void es_session_move(struct es_session *s, const struct es_pos *pos);
/*
 * The same, and once the server confirms the move (presence shows us
 * there) the event `done` ("entered Orion"); a refusal is always an event
 * (and our place is set back to where the server has us).  done may be NULL.
 */
void es_session_move_say(struct es_session *s, const struct es_pos *pos, const char *done);
void es_session_set_flags(struct es_session *s, uint8_t flags);
uint8_t es_session_flags(const struct es_session *s);

enum es_session_state es_session_state(const struct es_session *s);
const char *es_session_server(const struct es_session *s); /* HOST:PORT of the daemon in use now */
/* Every daemon address known, "A,B,C" (given, then learnt from redirects), into buf; returns buf. */
const char *es_session_servers(const struct es_session *s, char *buf, size_t cap);
const char *es_session_name(const struct es_session *s);
/* Human line; while joined, built anew: the place now and whether the server answers. */
const char *es_session_status(struct es_session *s);
/* Joined and the server answered within the last 2.5 s. */
bool es_session_live(const struct es_session *s);
int es_session_my_id(const struct es_session *s);           /* -1 if not joined */
const struct es_pos *es_session_pos(const struct es_session *s);
const struct es_person_view *es_session_roster(const struct es_session *s, unsigned *n);

struct es_session_stats {
	uint64_t frames_sent, bytes_sent, bytes_received, packets_received;
	uint64_t joins, reconnects, busy;
	uint64_t redirects;        /* ES_MSG_REDIRECT followed (sealed, or in place of the WELCOME) */
	unsigned redirect_wait_ms; /* the last one: from its arrival to the connection to where it sent us */
	uint64_t resets_ignored; /* reset-shaped datagrams without our session's token */
	uint64_t hints;          /* plain REFUSED answers, taken as hints to retry */
	uint64_t bundles, played, lost, concealed, malformed;
	/* everything on the wire, as ENet counts it (UDP payloads) */
	uint64_t udp_sent_bytes, udp_sent_datagrams, udp_received_bytes, udp_received_datagrams;
	/* the uplink as the server last reported it (ES_MSG_LINK), and our FEC for it */
	uint64_t link_reports;
	unsigned up_loss_permille; /* last report */
	unsigned fec_loss_perc;    /* what the encoder is told to protect against (0: FEC off) */
	/* the downlink as we report it to the server (ES_MSG_LINK, c->s), which lowers our budget while we lose */
	uint64_t down_reports;
	unsigned down_loss_permille; /* last report */
	unsigned jitter_depth;     /* the playout buffer's target depth now, 20 ms ticks */
};
void es_session_get_stats(const struct es_session *s, struct es_session_stats *st);

#endif
