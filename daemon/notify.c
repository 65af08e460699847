/* SPDX-License-Identifier: MIT */
#include "notify.h"

#include "clock.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

uint64_t es_notify_now_usec(void)
{
	return (uint64_t)es_now_ns() / 1000u;
}

void es_notify_init(struct es_notify *n)
{
	uint64_t usec = 0;
	const char *sock = getenv("NOTIFY_SOCKET");

	memset(n, 0, sizeof(*n));
	n->fd = -1;
	/* > 0 only if WATCHDOG_USEC is set and WATCHDOG_PID (if set) is us */
	if (sd_watchdog_enabled(0, &usec) > 0)
		n->watchdog_usec = usec;

	/* a path, or "@name" for the abstract namespace; not vsock (systemd
	 * in a VM talking to its host), which earshotd does not need */
	size_t len = sock ? strlen(sock) : 0;
	if (len < 2 || len >= sizeof(n->addr.sun_path) || (sock[0] != '/' && sock[0] != '@'))
		return;
	n->addr.sun_family = AF_UNIX;
	memcpy(n->addr.sun_path, sock, len);
	if (sock[0] == '@')
		n->addr.sun_path[0] = '\0';
	n->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (sock[0] == '/'));
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	n->enabled = n->fd >= 0;
}

void es_notify_clear(struct es_notify *n)
{
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
	n->enabled = false;
}

static int send_state(struct es_notify *n, const char *state)
{
	if (!n->enabled)
		return 0;
	ssize_t r = sendto(n->fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
		(const struct sockaddr *)&n->addr, n->addrlen);
	return r < 0 ? -errno : 0;
}

int es_notify_ready(struct es_notify *n, const char *status)
{
	char msg[256];
	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status ? status : "running");
	return send_state(n, msg);
}

int es_notify_reloading(struct es_notify *n)
{
	char msg[128];
	snprintf(msg, sizeof(msg), "RELOADING=1\nSTATUS=reloading configuration\nMONOTONIC_USEC=%llu",
		(unsigned long long)es_notify_now_usec());
	return send_state(n, msg);
}

int es_notify_stopping(struct es_notify *n)
{
	return send_state(n, "STOPPING=1\nSTATUS=stopping");
}

int es_notify_status(struct es_notify *n, const char *fmt, ...)
{
	char msg[8 + 200];
	va_list ap;
	if (!n->enabled)
		return 0;
	int k = snprintf(msg, sizeof(msg), "STATUS=");
	va_start(ap, fmt);
	vsnprintf(msg + k, sizeof(msg) - (size_t)k, fmt, ap);
	va_end(ap);
	return send_state(n, msg);
}

int es_notify_watchdog(struct es_notify *n, uint64_t now_usec)
{
	if (!n->enabled || n->watchdog_usec == 0)
		return 0;
	if (n->last_ping_usec != 0 && now_usec - n->last_ping_usec < n->watchdog_usec / 2)
		return 0;
	n->last_ping_usec = now_usec;
	int r = send_state(n, "WATCHDOG=1");
	return r < 0 ? r : 1;
}
