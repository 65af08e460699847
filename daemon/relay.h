/* SPDX-License-Identifier: MIT */
/*
 * The relay link host (docs/CLUSTER.md, "The company-wide stage relay"): a
 * second ENet host of the daemon, on its own UDP port, whose peers are the
 * company's other daemons only.  One link per pair of daemons: the daemon
 * whose id sorts first connects, the other answers; once up a link carries
 * messages both ways.
 *
 * Every daemon of a company holds the same static key, the company key
 * (<state_dir>/server.key).  A link is the clients' Noise IK handshake under
 * the relay's prologue (proto/earshot-relay.h): the initiator's static is
 * the company key and it pins the company key as the responder's, so each
 * side proves it holds the company's private key; a responder refuses any
 * initiator whose static is another key, before anything else is touched.
 * A msg1 whose timestamp is not newer than the last accepted from that
 * daemon id is refused (a replay cannot complete a session anyway, but
 * could displace the live link).  Then every message is sealed with
 * es_cipher and its replay window, as on the clients' path.
 *
 * Nothing waits: connects, handshakes and sends are queued on ENet and
 * leave at the next service or flush.  A link not up within
 * ES_RELAY_HS_TIMEOUT_MS is reset (so junk connects hold a slot no longer).
 * Bad input of any kind is counted (es_relay_stats) and dropped.
 *
 * Threads: one.  Everything here runs on the caller's thread (the daemon's
 * tick thread); the callbacks run inside es_relay_service.
 */
#ifndef EARSHOT_DAEMON_RELAY_H
#define EARSHOT_DAEMON_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "earshot-relay.h"

#define ES_RELAY_LINKS_MAX 32        /* ENet peer slots: other daemons, and strangers being refused */
#define ES_RELAY_HS_TIMEOUT_MS 2000  /* a link not authenticated by then is reset */
#define ES_RELAY_RETRY_MS 1000       /* an initiator reconnects a lost link after this */
#define ES_RELAY_ADDR_MAX 96

struct es_relay;

struct es_relay_config {
	const char *listen;    /* "IPv4:PORT" to bind; port 0: any free port (es_relay_port says which) */
	const char *daemon_id; /* this daemon's id in the company (copied) */
	void *ud;
	/* a message from an authenticated daemon; link identifies it while it is up; v->opus is borrowed */
	void (*voice)(void *ud, unsigned link, const char *from, const struct es_relay_voice *v);
	void (*off)(void *ud, unsigned link, uint16_t speaker);
	/* the link went down (lost, reset, replaced): whatever came over it ends */
	void (*down)(void *ud, unsigned link);
};

/* Bind and listen.  NULL and errno: EINVAL (a bad setting), EADDRINUSE, ENOMEM. */
struct es_relay *es_relay_new(const struct es_relay_config *cfg);
void es_relay_free(struct es_relay *r);

/*
 * The company key's private half (copied, wiped at free): until it is set
 * the relay connects to nobody and answers no handshake.  0 or -EINVAL.
 */
__attribute__((warn_unused_result)) int es_relay_set_key(struct es_relay *r, const uint8_t priv[static 32]);

/* The port it listens on, and its socket (readable: call es_relay_service). */
uint16_t es_relay_port(const struct es_relay *r);
int es_relay_fd(const struct es_relay *r);

/*
 * The company's other live daemons as the cluster sees them now.  Links to
 * daemons that left are closed; a link to each new one whose id sorts
 * after ours is opened (retried every ES_RELAY_RETRY_MS while down).  An
 * address that is not "IPv4:PORT" is skipped and counted (no DNS on the
 * tick).
 */
struct es_relay_peer {
	const char *id;
	const char *address;
};
void es_relay_set_peers(struct es_relay *r, const struct es_relay_peer *peers, size_t n, int64_t now_ms);

/* Take in what arrived (callbacks), reset links stuck in their handshake, send what is queued. */
void es_relay_service(struct es_relay *r, int64_t now_ms);

/*
 * Seal m to every linked daemon and send it now (a voice unsequenced, the
 * rest reliable).  Returns how many daemons it went to, or -EINVAL (m does
 * not encode).
 */
int es_relay_send(struct es_relay *r, const struct es_relay_msg *m);

/* Links up now. */
unsigned es_relay_links_up(const struct es_relay *r);

struct es_relay_stats {
	unsigned links_up;
	uint64_t handshakes;       /* links authenticated, both roles */
	uint64_t sent, received;   /* relay messages */
	uint64_t drop_auth;        /* handshakes refused: another static key, a bad or replayed msg1, a bad msg2 */
	uint64_t drop_seal;        /* sealed packets that did not open (tampered, another key, replayed) */
	uint64_t drop_malformed;   /* packets or messages that do not parse, or come before the handshake */
	uint64_t drop_unknown;     /* relay messages of a type we do not know */
	uint64_t timeouts;         /* links reset for not authenticating in time */
	uint64_t bad_address;      /* peers skipped: an address that is not IPv4:PORT */
	uint64_t send_failed;
};
void es_relay_get_stats(const struct es_relay *r, struct es_relay_stats *st);

#endif
