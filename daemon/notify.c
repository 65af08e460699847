/* SPDX-License-Identifier: MIT */
#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>
#include <time.h>

uint64_t es_notify_now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void es_notify_init(struct es_notify *n)
{
	uint64_t usec = 0;
	const char *sock = getenv("NOTIFY_SOCKET");

	n->enabled = sock && sock[0];
	n->watchdog_usec = 0;
	n->last_ping_usec = 0;
	/* > 0 only if WATCHDOG_USEC is set and WATCHDOG_PID (if set) is us */
	if (sd_watchdog_enabled(0, &usec) > 0)
		n->watchdog_usec = usec;
}

/* sd_notify: > 0 sent, 0 not under systemd, < 0 -errno */
static int send_state(struct es_notify *n, const char *state)
{
	if (!n->enabled)
		return 0;
	int r = sd_notify(0, state);
	return r < 0 ? r : 0;
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
