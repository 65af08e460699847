/* SPDX-License-Identifier: MIT */
/*
 * earshotd persistent state: who is enrolled (public key, name, desk, last
 * place, last seen, newest handshake timestamp) and the pending one-time
 * invites.  Everything a restart must not forget, nothing per-tick.
 *
 * On disk: <dir>/state, a versioned line-based text file whose last line is
 * a BLAKE2b-256 checksum of everything before it, so a torn or corrupted
 * file is detected and never half-loaded:
 *
 *   earshot-state 2
 *   person <key hex64> <ts hex24> <last_seen> <x|-> <y|-> <facing|-> <desk> <name> <flags>
 *   invite <hash hex64> <expires> <name>
 *   checksum <blake2b-256 hex64 of all preceding bytes>
 *
 * flags is "-" or "admin-muted".  Version 1 files (written before admin
 * mutes were kept) have no flags field and still load.
 *
 * Text fields are percent-encoded (bytes <= 0x20, '%', 0x7f and above
 * 0x7e stay readable only as %XX); an empty text is "-".  Times are Unix
 * seconds.
 *
 * Saving writes <dir>/state.tmp, fsyncs it, renames the current state to
 * <dir>/state.prev, renames state.tmp to state and fsyncs the directory.  At
 * every instant, "state" or (if a crash fell between the two renames)
 * "state.prev" is a complete file, so a kill -9 or power cut at any moment
 * loses at most the save in progress.  Loading tries state, then
 * state.prev, and says why it fell back.
 *
 * Cost: one save is one write of the whole file (~150 bytes per person)
 * plus two fsyncs: well under a millisecond on tmpfs, a few milliseconds on
 * a disk.  That is cheap enough to do after each change, but not on the
 * tick thread and not once per tick: the daemon marks the state dirty and
 * saves at most once a second (and at shutdown), from outside the tick.
 *
 * Not thread-safe: one owner at a time.  (The struct is es_state_db
 * because proto owns struct es_state, the STATE message.)
 */
#ifndef EARSHOT_STATE_H
#define EARSHOT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ES_STATE_KEY_LEN 32
#define ES_STATE_TS_LEN 12          /* TAI64N handshake timestamp, big-endian */
#define ES_STATE_NAME_MAX 64        /* bytes, without the NUL */
#define ES_STATE_DESK_MAX 32
#define ES_INVITE_CODE_LEN 26 /* base32 of 16 random bytes */
#define ES_INVITE_SECRET_LEN 16
#define ES_STATE_MAX_PEOPLE 100000
#define ES_STATE_MAX_INVITES 10000

struct es_person {
	uint8_t key[ES_STATE_KEY_LEN];
	char name[ES_STATE_NAME_MAX + 1];
	char desk[ES_STATE_DESK_MAX + 1];   /* assigned desk label, empty = none */
	bool has_place;               /* x, y, facing are the last place */
	float x, y, facing;           /* metres, radians (0 = +y, clockwise) */
	int64_t last_seen;            /* Unix seconds, 0 = never */
	uint8_t last_ts[ES_STATE_TS_LEN];   /* greatest handshake timestamp accepted */
	bool admin_muted;             /* an admin muted them: holds across restarts */
};

struct es_pending_invite {
	uint8_t hash[32];             /* BLAKE2b-256 of the code; the code is not kept */
	char name[ES_STATE_NAME_MAX + 1];
	int64_t expires;              /* Unix seconds */
};

struct es_state_db;

/* An empty state, or NULL with errno set. */
struct es_state_db *es_state_new(void);
void es_state_free(struct es_state_db *st);

/*
 * Read <dir>/state (or, if it is missing or bad, <dir>/state.prev) into a
 * new state owned by the caller.  No file at all is an empty state.  dir is
 * made (0700) if it is missing, and made 0700 and the state files 0600 if
 * group or others could read them, with a warning that says so.
 * Returns 0, 1 if it had to fall back to state.prev (logged as a warning
 * with the reason), or -errno (-EBADMSG: both files exist and are bad;
 * *out is untouched then).
 */
__attribute__((warn_unused_result))
int es_state_load(const char *dir, struct es_state_db **out);

/*
 * Write st atomically as <dir>/state (see above); creates dir (0700) if it
 * does not exist.  0 or -errno; on failure the files on disk are as before
 * (an old state.tmp may remain and is overwritten next time).
 */
__attribute__((warn_unused_result))
int es_state_save(const struct es_state_db *st, const char *dir);

/*
 * es_state_save() in two halves, so a saver thread can format under the
 * owner's lock (a few hundred microseconds for thousands of people) and do
 * the slow part, write and fsync, without it.  es_state_write() writes
 * text (from es_state_format) as <dir>/state; rotate is
 * es_state_rotate_ok(st) at format time (false after a load that fell
 * back to state.prev because "state" was bad: the good copy is kept).
 */
__attribute__((warn_unused_result))
int es_state_write(const char *dir, const char *text, size_t len, bool rotate);
bool es_state_rotate_ok(const struct es_state_db *st);

/*
 * Parse / format the file format in memory (the fuzzer and the tests use
 * these).  es_state_parse returns -EBADMSG with a reason in why.
 * es_state_format returns a malloc'd buffer the caller frees, or NULL.
 */
__attribute__((warn_unused_result))
int es_state_parse(const uint8_t *buf, size_t len, struct es_state_db **out, char *why, size_t whylen);
__attribute__((warn_unused_result))
char *es_state_format(const struct es_state_db *st, size_t *len);

/* Deep equality (tests). */
bool es_state_equal(const struct es_state_db *a, const struct es_state_db *b);

/* ---- people -------------------------------------------------------------- */

size_t es_state_person_count(const struct es_state_db *st);
/*
 * How many people are enrolled and how many invites are kept (not used, not
 * yet pruned: an expired one leaves at the next invite or reload), as of
 * the owner's last change.  The one call that any thread may make without
 * the owner's lock (the tick thread's metrics): the counts are atomic.
 */
void es_state_counts(const struct es_state_db *st, uint64_t *people, uint64_t *invites);

/* The i-th person, i < count.  Pointers stay valid until the next add/remove. */
struct es_person *es_state_person(struct es_state_db *st, size_t i);
const struct es_person *es_state_person_const(const struct es_state_db *st, size_t i);

/* By key (constant-time compare of each key) or by exact name; NULL if none. */
struct es_person *es_state_find_key(struct es_state_db *st, const uint8_t key[static ES_STATE_KEY_LEN]);
struct es_person *es_state_find_name(struct es_state_db *st, const char *name);

/*
 * Add p, or replace the person with the same key.  Names must be unique
 * (-EEXIST if another key has it) and non-empty; desk labels too, when set
 * (-EADDRINUSE).  -E2BIG beyond ES_STATE_MAX_PEOPLE, -EINVAL for a bad field
 * (control characters, too long).  The person is copied.
 */
__attribute__((warn_unused_result))
int es_state_put(struct es_state_db *st, const struct es_person *p);

/* Remove by key: 0 or -ENOENT. */
__attribute__((warn_unused_result))
int es_state_remove(struct es_state_db *st, const uint8_t key[static ES_STATE_KEY_LEN]);

/*
 * Replay protection: if ts is strictly greater than p->last_ts (big-endian
 * compare), store it and return 0; else -EALREADY (a replayed or stale
 * handshake) and leave p unchanged.
 */
__attribute__((warn_unused_result))
int es_person_bump_timestamp(struct es_person *p, const uint8_t ts[static ES_STATE_TS_LEN]);

/* ---- invites ------------------------------------------------------------- */

/*
 * Create a one-time invite for `name` valid until now + ttl_s.  The code
 * (ES_INVITE_CODE_LEN base32 characters and a NUL) is written to code_out;
 * only its hash is kept.  0, -EEXIST if someone enrolled has that name,
 * -E2BIG if too many invites are pending, -EINVAL for a bad name.
 */
__attribute__((warn_unused_result))
int es_state_invite_create(struct es_state_db *st, const char *name, int64_t now, int64_t ttl_s,
	char code_out[static ES_INVITE_CODE_LEN + 1]);

/*
 * Use an invite: if `code` matches a pending invite that has not expired,
 * remove it, copy its name to name_out and return 0.  -ENOENT for an
 * unknown (or already used) code, -ETIMEDOUT for an expired one (which is
 * removed too).  Enrolling the key is the caller's next step (es_state_put).
 */
__attribute__((warn_unused_result))
int es_state_invite_consume(struct es_state_db *st, const char *code, int64_t now,
	char name_out[static ES_STATE_NAME_MAX + 1]);

/*
 * Register a one-time invite whose secret the caller chose (an invite token
 * carries these 16 bytes; see proto's es_invite).  Same errors as create.
 */
__attribute__((warn_unused_result))
int es_state_invite_add(struct es_state_db *st, const char *name, int64_t now, int64_t ttl_s,
	const uint8_t secret[static ES_INVITE_SECRET_LEN]);

/* The code a secret stands for, as es_state_invite_consume() takes it. */
/* BLAKE2b-256 of a code as typed (case and '-' / ' ' separators do not matter): 0, or -ENOENT not a code. */
int es_state_invite_hash(const char *code, uint8_t hash[32]);
void es_state_invite_code(const uint8_t secret[static ES_INVITE_SECRET_LEN], char code_out[static ES_INVITE_CODE_LEN + 1]);

/* Add a copy of v unless an invite with its hash is pending.  0, -E2BIG, -EINVAL, -ENOMEM. */
__attribute__((warn_unused_result))
int es_state_invite_put(struct es_state_db *st, const struct es_pending_invite *v);

/* Swap the pending invites of st and from (a reload's merged list). */
void es_state_invites_replace(struct es_state_db *st, struct es_state_db *from);

/* Drop expired invites; returns how many. */
size_t es_state_invite_prune(struct es_state_db *st, int64_t now);
size_t es_state_invite_count(const struct es_state_db *st);
const struct es_pending_invite *es_state_invite(const struct es_state_db *st, size_t i);

#endif
