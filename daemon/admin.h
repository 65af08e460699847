/* SPDX-License-Identifier: MIT */
/*
 * The admin socket: <state_dir>/admin.sock, a Unix stream socket (mode
 * 0600, only this user and root may talk to it) on which earshotctl sends
 * one command per line and reads the reply: zero or more data lines, then
 * exactly one line that is "ok", "ok: TEXT" or "error: TEXT".  Data lines
 * never look like that last line.  Commands (see docs/ADMIN.md):
 *
 *   invite NAME [HOST:PORT] [TTL_HOURS]   people   enrolled   fingerprint
 *   mute NAME   unmute NAME   move NAME X,Y [FACING]   remove NAME [--forget]
 *   close-room ROOM   open-room ROOM   help
 *
 * A name with spaces is given in double quotes.
 *
 * It runs on the daemon's tick thread through the server's poll hook
 * (es_server_set_poll): everything is non-blocking, allocated at start,
 * and bounded per tick (a few accepted connections and a few commands per
 * tick, lines of at most ES_ADMIN_LINE_MAX bytes, at most a handful of
 * connections at once, idle ones closed after a few seconds).  Every
 * command is logged in one line with its outcome.
 */
#ifndef EARSHOT_ADMIN_H
#define EARSHOT_ADMIN_H

#include <stddef.h>

struct es_server;
struct es_service;
struct es_floor;

#define ES_ADMIN_SOCKET_NAME "admin.sock"
#define ES_ADMIN_LINE_MAX 512 /* bytes in one command line, newline excluded */

struct es_admin_config {
	const char *state_dir;       /* the socket is <state_dir>/admin.sock */
	const char *listen;          /* "ADDR:PORT": the address invites carry by default */
	struct es_server *server;    /* borrowed, must outlive the admin */
	struct es_service *service;  /* borrowed, must outlive the admin */
};

struct es_admin;

/*
 * Make the socket and attach it to cfg->server's loop.  A socket file left
 * by a daemon that died is replaced; NULL with errno set (and a logged
 * reason) if the path is held by a live daemon (EADDRINUSE), is not a
 * socket of this user (EEXIST), or cannot be made.  cfg is copied, the
 * strings in it are borrowed.
 */
struct es_admin *es_admin_start(const struct es_admin_config *cfg);

/* Detach, close every connection, remove the socket.  NULL is a no-op. */
void es_admin_stop(struct es_admin *a);

/*
 * Run one command line (no newline) as if it came from the socket and
 * write the reply lines, newline-terminated and NUL-terminated, into out.
 * Returns the reply's length.  Tick thread only.
 */
size_t es_admin_execute(struct es_admin *a, const char *line, char *out, size_t cap);

#endif
