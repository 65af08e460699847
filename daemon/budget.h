/* SPDX-License-Identifier: MIT */
/*
 * Budgets: what a stranger or a member may cost the daemon per second.
 *
 * A rate is written the way an admin thinks of it ("20/s burst 60",
 * "30/min") and kept as a token bucket: burst tokens at most, refilled
 * at the rate.  Pure code, like proto/: the caller passes the time in
 * milliseconds of any monotonic clock, nothing here reads a clock, sleeps
 * or logs, so the parser can be fuzzed and the buckets tested with a
 * made-up clock.
 *
 * Two kinds of holders:
 *  - a struct es_bucket the caller embeds (one per person and request
 *    kind: a member's MOVEs, door changes, knocks ...);
 *  - struct es_addr_buckets, a fixed table keyed by IPv4 address for
 *    strangers (handshakes per address): sets of ES_ADDR_WAYS slots, the
 *    set chosen by a hash keyed with a secret, so nobody can choose
 *    addresses that share one.  A slot changes owner only once its bucket
 *    is full again; only when all slots of a set are held by addresses in
 *    debt does another address share one of their budgets.  Nobody can
 *    refill a bucket by alternating between colliding addresses (which an
 *    unkeyed table that reset a slot on a collision allowed).
 */
#ifndef EARSHOT_BUDGET_H
#define EARSHOT_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct es_rate {
	float count;    /* tokens per `per_s` seconds, > 0 */
	uint32_t per_s; /* 1 ("/s") or 60 ("/min") */
	float burst;    /* at most this many at once, >= 1 */
};                      /* no padding: rates compare with memcmp */

#define ES_RATE_TEXT_MAX 48

/*
 * Parse "N/s", "N/min", optionally followed by "burst M" (white space
 * between the parts is free): N a decimal number > 0 and at most 100000
 * per second, M a whole number 1..100000 (default: N, within those bounds).
 * Returns 0, or -EINVAL with *out unchanged.
 */
__attribute__((warn_unused_result)) int es_rate_parse(const char *text, struct es_rate *out);

/* Write r as es_rate_parse reads it back ("20/s burst 60"). Returns the length, or -ENOSPC. */
__attribute__((warn_unused_result)) int es_rate_format(const struct es_rate *r, char *out, size_t cap);

/* Tokens per millisecond. */
static inline double es_rate_per_ms(const struct es_rate *r)
{
	return (double)r->count / ((double)r->per_s * 1000.0);
}

/* A bucket; all zero is a full one (it is primed at its first use). */
struct es_bucket {
	float tokens;
	bool primed;
	int64_t at_ms; /* when tokens was last brought up to date */
};

/* Take one token at now_ms: true if there was one. */
bool es_bucket_take(struct es_bucket *b, const struct es_rate *r, int64_t now_ms);

/* Per-address buckets (strangers): `sets` (a power of two) of ES_ADDR_WAYS slots. */
#define ES_ADDR_WAYS 4
struct es_addr_buckets;

/* NULL with errno set.  key: 16 bytes of secret for the hash (copied). */
struct es_addr_buckets *es_addr_buckets_new(unsigned sets, const uint8_t key[16]);
void es_addr_buckets_free(struct es_addr_buckets *t);

/*
 * Take one token for ipv4 at now_ms under rate r: true if there was one.
 * An address finds its slot in its set, or takes a free one or one whose
 * bucket is full again; if every slot of the set is in debt, it shares one.
 */
bool es_addr_buckets_take(struct es_addr_buckets *t, uint32_t ipv4, const struct es_rate *r, int64_t now_ms);

/* The set an address falls in (tests). */
unsigned es_addr_buckets_set(const struct es_addr_buckets *t, uint32_t ipv4);

/*
 * What a member may ask of the daemon, each with a budget of its own
 * (es_server_config.request_rate).  Fetching the floor plan has none: it
 * is served once per session and plan version.
 */
enum es_request {
	ES_REQ_MOVE,
	ES_REQ_STATE,
	ES_REQ_DOOR,
	ES_REQ_KNOCK,
	ES_REQ_WHISPER,
	ES_REQ_VOLUME,
	ES_REQ_FLOOR_GET, /* no rate: once per plan version */
	ES_REQ__COUNT,
};

/* "move", "state", ... (metrics labels, logs). */
const char *es_request_name(enum es_request k);

/*
 * Every budget the daemon enforces ([limits] in earshotd.conf(5)):
 *   cookies     cookie replies, all addresses together: the reply is
 *               smaller than the request, so a forged request amplifies
 *               nothing, and a per-address budget would be one a forger
 *               spends for its victim; this one bounds the CPU only;
 *   handshakes  handshake messages 1 per address, counted only for
 *               addresses that proved they receive (a connect with a valid
 *               cookie), so nobody can spend another address's;
 *   request[k]  per session, each kind of request a member makes
 *               (ES_REQ_FLOOR_GET's entry is not used).
 */
struct es_limits {
	struct es_rate cookies;
	struct es_rate handshakes;
	struct es_rate request[ES_REQ__COUNT];
};

/* The defaults (docs/earshotd.conf.example says why each). */
void es_limits_default(struct es_limits *l);

#endif
