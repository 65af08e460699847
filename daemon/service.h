/* SPDX-License-Identifier: MIT */
/*
 * The service layer of earshotd: what turns the server loop into a daemon
 * an admin can run all year.  It owns the persistent state (and its saver
 * thread), the metrics server and the systemd notifications, and plugs into
 * the server through struct es_server_hooks:
 *
 *   tick  -> publish a metrics snapshot, ping the watchdog, run a pending
 *            SIGHUP reload, refresh STATUS=
 *   join  -> put a returning person back at their remembered place
 *   place -> remember where people are (saved in the background)
 *
 * Until the secure sessions land, people are known by name only: their
 * state key is BLAKE2b("earshot name-only v0", name).  With handshakes the
 * join hook will get the real public key instead.
 */
#ifndef EARSHOT_SERVICE_H
#define EARSHOT_SERVICE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "server.h"

struct es_service;

/*
 * Load the state from cfg->state_dir (refuses to start if it is corrupt
 * beyond state.prev), start the saver thread and, if configured, the
 * metrics server (a metrics port in use is logged, not fatal: voice comes
 * first).  argc/argv are kept (borrowed) for SIGHUP reloads.  NULL with
 * errno set, after logging why.
 */
struct es_service *es_service_start(const struct es_config *cfg, int argc, char **argv);

/* Final save, stop the threads, free (the floor too: free the server first).  NULL is a no-op. */
void es_service_stop(struct es_service *svc);

/*
 * The floor plan as configured (loaded by es_service_start: a plan that
 * does not parse fails the start with FILE:LINE:COL logged), for
 * es_server_config.floor and the admin socket.  Owned by the service;
 * after a SIGHUP that loads a new plan it is another one, handed to the
 * attached server and admin.  NULL: no plan ("none").
 */
struct es_floor *es_service_floor(struct es_service *svc);

/*
 * The server and admin socket a reload acts on (new floor plan, removed
 * enrolments).  Borrowed; admin may be NULL.  Call es_service_attach(svc,
 * NULL, NULL) before freeing them.
 */
struct es_admin;
void es_service_attach(struct es_service *svc, struct es_server *server, struct es_admin *admin);

/* Hooks for es_server_config.hooks; valid until es_service_stop(). */
const struct es_server_hooks *es_service_hooks(struct es_service *svc);

/* The server's static key pair (private, public): 32 bytes each, valid until stop. */
const uint8_t *es_service_server_key(const struct es_service *svc);
const uint8_t *es_service_server_pub(const struct es_service *svc);

/*
 * For the admin socket (tick thread).  Each takes the state lock briefly;
 * changes are saved in the background like every other state change.
 *
 * es_service_invite_add: register a one-time invite for name whose 16-byte
 * secret the caller chose, valid ttl_s seconds (0: the configured
 * [security] invite_ttl_s).  0, -EEXIST (someone enrolled has that name),
 * -E2BIG (too many pending), -EINVAL (bad name).
 *
 * es_service_enrolled: call fn for every enrolled person, then for every
 * pending invite (person NULL), under the lock: fn must not block or call
 * back into the service.  Returns the number of people.
 *
 * es_service_forget: un-enrol the person called name; their key goes to
 * key_out (may be NULL).  0 or -ENOENT.
 */
__attribute__((warn_unused_result))
int es_service_invite_add(struct es_service *svc, const char *name, int64_t ttl_s, const uint8_t secret[16]);
struct es_person;
struct es_pending_invite;
size_t es_service_enrolled(struct es_service *svc,
			   void (*fn)(void *ud, const struct es_person *p, const struct es_pending_invite *v), void *ud);
__attribute__((warn_unused_result))
int es_service_forget(struct es_service *svc, const char *name, uint8_t key_out[32]);

/*
 * Remember (or clear) an admin mute of the person enrolled under name (their
 * key is then written to key, if not NULL), or with key if name is NULL;
 * saved with the state, so it holds across restarts.  The server asks for
 * it at every join (hooks->admin_muted).  0 or -ENOENT (nobody enrolled
 * like that).
 */
int es_service_set_admin_muted(struct es_service *svc, const char *name, uint8_t *key, bool muted);

/*
 * Own desks.  es_service_set_desk: give the person enrolled as name the
 * desk `label` ("" takes their desk away); their former desk's label goes
 * to was.  0, -ENOENT (no such desk on the floor), -ESRCH (nobody enrolled
 * so), -EADDRINUSE (the desk is holder's own).  es_service_sync_desks: tell
 * the attached server every desk that is someone's own (after a start or
 * a reload).
 */
__attribute__((warn_unused_result))
int es_service_set_desk(struct es_service *svc, const char *name, const char *label, char *was, size_t wl,
			char *holder, size_t hl);
void es_service_sync_desks(struct es_service *svc);

/* Where metrics are served ("http://ADDR/metrics", "off", or "NOT SERVED: why") into buf. */
const char *es_service_metrics_state(const struct es_service *svc, char *buf, size_t len);
const char *es_service_state_dir(const struct es_service *svc);

/* READY=1 with a status line; STOPPING=1.  No-ops outside systemd. */
void es_service_ready(struct es_service *svc, const char *status);
void es_service_stopping(struct es_service *svc);

/*
 * Ask for a reload (SIGHUP): async-signal-safe.  After the next tick it
 * re-reads the config file, applies what can change live (log level,
 * metrics address, enrolment mode), loads the floor plan again and swaps
 * it in if it changed (people whose place vanished are moved), loads the
 * enrolments if someone else changed the state file, and logs which
 * changed settings wait for a restart (listen address, max_people,
 * state_dir, [audio]).  A part that fails to load is kept as it was,
 * logged, and counted (earshot_reloads_total{result="failed"}).
 */
void es_service_request_reload(struct es_service *svc);

/*
 * --check-config: cfg was parsed; check the files it names (floor plan
 * readable, state directory usable, state file loadable).  Prints problems
 * on err and "configuration OK" on out.  0 or -errno.
 */
__attribute__((warn_unused_result))
int es_service_check(const struct es_config *cfg, FILE *out, FILE *err);

/* One daemon of a company (company.h), or NULL: on its own. */
struct es_company;
struct es_company *es_service_company(struct es_service *svc);

#endif
