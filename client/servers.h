/* SPDX-License-Identifier: MIT */
/*
 * The daemons of a company the client knows: the addresses the user gave
 * (--server A,B,C or `server =` in earshot.conf) and those redirects named
 * (ES_MSG_REDIRECT), at most ES_SERVERS_MAX, each once, the first given
 * first.  Which one is in use now, and which to try next when it is lost:
 * round robin from the lost one, so the lost one comes last, with a
 * backoff only after a whole round failed.  Pure: strings and numbers.
 *
 * The first address is the company's: the pinned key (known_servers) is
 * kept under it, and every address here must present that same key.
 */
#ifndef EARSHOT_CLIENT_SERVERS_H
#define EARSHOT_CLIENT_SERVERS_H

#include <stdbool.h>
#include <stddef.h>

#define ES_SERVERS_MAX 8     /* = ES_REDIRECT_ADDRS_MAX */
#define ES_SERVER_ADDR_MAX 95 /* bytes of one HOST:PORT, = ES_REDIRECT_ADDR_MAX */

struct es_servers {
	unsigned n;
	char addr[ES_SERVERS_MAX][ES_SERVER_ADDR_MAX + 1];
	unsigned cur;   /* the one in use (or about to be tried) */
	unsigned tried; /* addresses that failed in a row in this round */
};

/* One address as it may be listed: 1..95 printable bytes, no space, no comma. */
bool es_server_addr_ok(const char *a, size_t len);

/*
 * The user's list, "HOST:PORT,HOST:PORT" (empty items between commas are
 * skipped, a repeated address kept once).  0; -EINVAL for an item that is
 * not es_server_addr_ok or no item at all (l is then empty); -E2BIG for
 * more than ES_SERVERS_MAX distinct addresses.  cur is the first.
 */
int es_servers_parse(struct es_servers *l, const char *list) __attribute__((warn_unused_result));

/* Index of addr in the list, or -1. */
int es_servers_find(const struct es_servers *l, const char *addr);

/*
 * Add addr if it is not listed yet.  Returns its index, -EINVAL for a bad
 * address, -ENOSPC when the list is full; with `force` a full list gives
 * up its last entry for it (never the first, the company's).
 */
int es_servers_add(struct es_servers *l, const char *addr, bool force);

/*
 * The daemon in use was lost (a disconnect, a timeout, no answer): move to
 * the next one.  Returns true when that completes a round (every address
 * failed in a row): the caller backs off before trying again; false: try
 * the next one at once.  With one address every loss completes a round.
 */
bool es_servers_lost(struct es_servers *l);

/* Admitted (or sent on by a redirect): a new round starts. */
void es_servers_ok(struct es_servers *l);

/* The address in use. */
const char *es_servers_current(const struct es_servers *l);

/* "A,B,C" into buf (cut at cap); returns buf. */
const char *es_servers_join(const struct es_servers *l, char *buf, size_t cap);

#endif
