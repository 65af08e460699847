/* SPDX-License-Identifier: MIT */
/*
 * The control socket: how `earshot mute` (run from a desktop keyboard
 * shortcut) reaches the client that is running in a terminal.
 *
 * A per-user Unix stream socket at $XDG_RUNTIME_DIR/earshot/ctl, or
 * /tmp/earshot-$UID/ctl without XDG_RUNTIME_DIR.  The directory is 0700 and
 * must be owned by us (refused otherwise, also when it is a symlink); the
 * socket is 0600 and both ends check the peer's uid (SO_PEERCRED).
 *
 * Protocol: the client writes one command line ("mute\n"), the server
 * answers one line and keeps the connection for further lines until the
 * client closes.  Lines are at most ES_CTL_LINE_MAX bytes including the
 * newline; a longer line gets "error: line too long" and is skipped up to
 * its newline.  Unknown commands get "error: unknown command".
 *
 * Commands: mute, unmute, toggle-mute, status, ptt-down, ptt-up.  Replies
 * come from the running client's callback, e.g. "muted" or
 * "unmuted name=alice server=example.org:4545 state=connected".
 */
#ifndef EARSHOT_CLIENT_CTL_H
#define EARSHOT_CLIENT_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define ES_CTL_LINE_MAX 1024  /* one command or reply line, with '\n' (a status names up to 8 daemons) */
#define ES_CTL_MAX_CONNS 8    /* concurrent control connections */

enum es_ctl_cmd {
	ES_CTL_MUTE,
	ES_CTL_UNMUTE,
	ES_CTL_TOGGLE_MUTE,
	ES_CTL_STATUS,
	ES_CTL_PTT_DOWN,
	ES_CTL_PTT_UP,
};

/* "mute", "toggle-mute", ...; NULL for an unknown value. */
const char *es_ctl_cmd_name(enum es_ctl_cmd cmd);

/* Parse a command word (no newline); 0 and *cmd, or -EINVAL. */
int es_ctl_cmd_parse(const char *word, enum es_ctl_cmd *cmd)
	__attribute__((warn_unused_result));

/*
 * The default socket path into buf: $XDG_RUNTIME_DIR/earshot/ctl, or
 * /tmp/earshot-$UID/ctl when XDG_RUNTIME_DIR is unset, empty or relative.
 * Returns the length, or -ENAMETOOLONG (also when it would not fit in
 * sockaddr_un).  Touches nothing on disk.
 */
int es_ctl_default_path(char *buf, size_t len) __attribute__((warn_unused_result));

/* ---- server side: inside the running client ---------------------------- */

struct es_ctl_server;

/*
 * Called for each well-formed command.  Write the reply line (no newline;
 * it is cut at the first newline and to ES_CTL_LINE_MAX - 1 bytes) into
 * reply[0..reply_len); an empty reply is sent as "ok".  Return >= 0, or
 * -errno to send "error: <strerror>" instead.
 */
typedef int (*es_ctl_handler)(void *user, enum es_ctl_cmd cmd, char *reply, size_t reply_len);

/*
 * Create the directory (0700) if needed, check its owner and mode, remove a
 * stale socket left by a crashed client, bind and listen (non-blocking).
 * path NULL means es_ctl_default_path(); it is copied (the socket is
 * unlinked at es_ctl_server_free()).  Returns NULL and errno:
 * EADDRINUSE when another client answers on the socket, EPERM when the
 * directory or an existing socket belongs to someone else or is too open,
 * EEXIST when something that is not a socket sits at the path.
 */
struct es_ctl_server *es_ctl_server_open(const char *path) __attribute__((warn_unused_result));

/*
 * One fd for the main loop's poll(): readable when a connection or a
 * command is waiting; then call es_ctl_server_handle().  Owned by s.
 */
int es_ctl_server_fd(const struct es_ctl_server *s);

/*
 * Accept, read and answer whatever is ready, never blocking; cb runs for
 * each command.  Returns the number of commands handled (>= 0) or -errno
 * for a failure of the listening socket itself.
 */
int es_ctl_server_handle(struct es_ctl_server *s, es_ctl_handler cb, void *user)
	__attribute__((warn_unused_result));

/* Close all connections, unlink the socket.  NULL is a no-op. */
void es_ctl_server_free(struct es_ctl_server *s);

/* ---- client side: `earshot mute` ---------------------------------------- */

/*
 * Send one command line to the running client at path (NULL = default) and
 * read its one-line reply into reply (NUL-terminated, newline stripped;
 * reply may be NULL).  Blocks for at most timeout_ms (0 = 2000).
 * Returns the reply length, -ENOENT/-ECONNREFUSED when no client runs,
 * -EPERM when the socket or its directory is not ours, -ETIMEDOUT,
 * -EINVAL for a cmd with a newline or longer than a line.  A reply that
 * starts with "error:" is still a successful exchange.
 */
int es_ctl_send(const char *path, const char *cmd, char *reply, size_t reply_len,
		unsigned timeout_ms) __attribute__((warn_unused_result));

/*
 * All of `earshot mute` (and unmute, toggle-mute, status, ptt-down,
 * ptt-up): send cmd to the running client at the default path, print its
 * reply to out, or a clear message to err, and return the exit status:
 * ES_CTL_EXIT_OK, ES_CTL_EXIT_ERROR (an "error:" reply, a failure),
 * ES_CTL_EXIT_USAGE (not a control command), ES_CTL_EXIT_NOT_RUNNING.
 */
#define ES_CTL_EXIT_OK 0
#define ES_CTL_EXIT_ERROR 1
#define ES_CTL_EXIT_USAGE 2
#define ES_CTL_EXIT_NOT_RUNNING 3 /* as `systemctl status` says of a stopped unit */
int es_ctl_command_main(const char *cmd, FILE *out, FILE *err);
/* The same; json: a status is printed as one JSON object (for scripts). */
int es_ctl_command_main_json(const char *cmd, bool json, FILE *out, FILE *err);
/* Print a status reply (tab-separated key=value fields after the mute word) for people, or as JSON. */
void es_ctl_status_print(const char *reply, bool json, FILE *out);

#endif
