/* SPDX-License-Identifier: MIT */
/*
 * sd_notify(3) for earshotd under systemd (Type=notify, WatchdogSec=):
 * READY=1 once the socket is bound and state loaded, WATCHDOG=1 from the
 * tick loop, RELOADING=1 / READY=1 around a SIGHUP reload, STOPPING=1 on
 * the way out, STATUS= lines for `systemctl status`.
 *
 * Outside systemd ($NOTIFY_SOCKET unset) every call is a cheap no-op, so the
 * daemon calls them unconditionally.
 *
 * Messages go out on a non-blocking datagram socket of our own rather than
 * through sd_notify(3): sd_notify sends on a blocking socket, and a unix
 * datagram queue holds only ~10 messages, so a PID 1 that is slow to read
 * would stall the tick thread that pings the watchdog.  A message that does
 * not fit is dropped (-EAGAIN); the next ping comes half an interval later.
 * libsystemd still parses $WATCHDOG_USEC / $WATCHDOG_PID.
 */
#ifndef EARSHOT_NOTIFY_H
#define EARSHOT_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

struct es_notify {
	bool enabled;              /* $NOTIFY_SOCKET is set and usable */
	int fd;                    /* -1 when not enabled */
	struct sockaddr_un addr;
	socklen_t addrlen;
	uint64_t watchdog_usec;    /* WatchdogSec in microseconds, 0 = off */
	uint64_t last_ping_usec;   /* CLOCK_MONOTONIC of the last WATCHDOG=1 */
};

/*
 * Read the environment ($NOTIFY_SOCKET, $WATCHDOG_USEC, $WATCHDOG_PID) and
 * open the socket.  Caller-owned storage; release with es_notify_clear().
 * Always succeeds: if the socket cannot be made, notifications are off.
 */
void es_notify_init(struct es_notify *n);
void es_notify_clear(struct es_notify *n);

/* READY=1 plus a STATUS line.  0 or -errno (harmless: log and go on). */
__attribute__((warn_unused_result))
int es_notify_ready(struct es_notify *n, const char *status);

/*
 * RELOADING=1 with MONOTONIC_USEC (as Type=notify-reload expects); follow
 * with es_notify_ready() when the reload is done.
 */
__attribute__((warn_unused_result))
int es_notify_reloading(struct es_notify *n);

__attribute__((warn_unused_result))
int es_notify_stopping(struct es_notify *n);

/* STATUS=<printf>; at most 200 bytes. */
__attribute__((warn_unused_result, format(printf, 2, 3)))
int es_notify_status(struct es_notify *n, const char *fmt, ...);

/*
 * Call from the tick loop with CLOCK_MONOTONIC microseconds: sends
 * WATCHDOG=1 if half the watchdog interval has passed since the last ping,
 * so a stalled tick loop (not just a live process) trips the watchdog.
 * Returns 1 if it pinged, 0 if not due (the common case: two loads and a
 * compare, no syscall), -errno on a send failure.
 */
__attribute__((warn_unused_result))
int es_notify_watchdog(struct es_notify *n, uint64_t now_usec);

/* The current CLOCK_MONOTONIC in microseconds. */
uint64_t es_notify_now_usec(void);

#endif
