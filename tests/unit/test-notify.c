/* SPDX-License-Identifier: MIT */
/*
 * sd_notify wrapper: messages reach $NOTIFY_SOCKET, the watchdog is pinged
 * at most every WatchdogUSec/2, and without systemd nothing is sent.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"
#include "test.h"

static int sock = -1;

/* Next datagram, or "" if none is waiting. */
static const char *recv_msg(void)
{
	static char buf[512];
	ssize_t n = recv(sock, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return buf;
}

int main(void)
{
	struct es_notify n;
	char dir[] = "/tmp/test-notify-XXXXXX", path[64];

	/* not under systemd: no-ops */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	es_notify_init(&n);
	check(!n.enabled);
	check_int_eq(es_notify_ready(&n, "x"), 0);
	check_int_eq(es_notify_watchdog(&n, 1000000), 0);

	check(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/notify", dir);
	sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	check(sock >= 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	check(bind(sock, (struct sockaddr *)&sa, sizeof(sa)) == 0);

	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("NOTIFY_SOCKET", path, 1);
	setenv("WATCHDOG_USEC", "10000000", 1);
	setenv("WATCHDOG_PID", pid, 1);
	es_notify_init(&n);
	check(n.enabled);
	check_int_eq(n.watchdog_usec, 10000000);

	check_int_eq(es_notify_ready(&n, "listening on 127.0.0.1:7700"), 0);
	check(strcmp(recv_msg(), "READY=1\nSTATUS=listening on 127.0.0.1:7700") == 0);

	/* first ping at once, then not before 5 s have passed */
	uint64_t t = 1000000000;
	check_int_eq(es_notify_watchdog(&n, t), 1);
	check(strcmp(recv_msg(), "WATCHDOG=1") == 0);
	int sent = 0;
	for (uint64_t dt = 20000; dt < 4999999; dt += 20000)
		sent += es_notify_watchdog(&n, t + dt);
	check_int_eq(sent, 0);
	check(strcmp(recv_msg(), "") == 0);
	check_int_eq(es_notify_watchdog(&n, t + 5000000), 1);
	check(strcmp(recv_msg(), "WATCHDOG=1") == 0);

	check_int_eq(es_notify_reloading(&n), 0);
	check(strncmp(recv_msg(), "RELOADING=1\nSTATUS=reloading configuration\nMONOTONIC_USEC=", 58) == 0);
	check_int_eq(es_notify_status(&n, "%d people", 42), 0);
	check(strcmp(recv_msg(), "STATUS=42 people") == 0);
	check_int_eq(es_notify_stopping(&n), 0);
	check(strcmp(recv_msg(), "STOPPING=1\nSTATUS=stopping") == 0);

	/* a watchdog meant for another process is not ours */
	es_notify_clear(&n);
	setenv("WATCHDOG_PID", "1", 1);
	es_notify_init(&n);
	check_int_eq(n.watchdog_usec, 0);
	check_int_eq(es_notify_watchdog(&n, t), 0);

	/* a reader that does not keep up never blocks the sender */
	es_notify_clear(&n);
	unsetenv("WATCHDOG_PID");
	es_notify_init(&n);
	int dropped = 0;
	for (int i = 0; i < 1000; i++)
		dropped += es_notify_status(&n, "flood %d", i) == -EAGAIN;
	check(dropped > 0);
	while (recv_msg()[0])
		;
	check_int_eq(es_notify_stopping(&n), 0);
	check(strcmp(recv_msg(), "STOPPING=1\nSTATUS=stopping") == 0);
	es_notify_clear(&n);

	/* the abstract namespace */
	int asock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un aa = { .sun_family = AF_UNIX };
	char aname[64];
	snprintf(aname, sizeof(aname), "@earshot-test-notify-%ld", (long)getpid());
	memcpy(aa.sun_path + 1, aname + 1, strlen(aname) - 1);
	check(bind(asock, (struct sockaddr *)&aa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(aname))) == 0);
	setenv("NOTIFY_SOCKET", aname, 1);
	es_notify_init(&n);
	check(n.enabled);
	check_int_eq(es_notify_ready(&n, "abstract"), 0);
	char buf[64];
	ssize_t got = recv(asock, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	check(got > 0);
	buf[got] = '\0';
	check(strcmp(buf, "READY=1\nSTATUS=abstract") == 0);
	es_notify_clear(&n);
	close(asock);

	close(sock);
	unlink(path);
	rmdir(dir);
	return 0;
}
