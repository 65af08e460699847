/* SPDX-License-Identifier: MIT */
/*
 * Control socket: server in this process, `earshot mute`-style clients in a
 * forked child (es_ctl_send blocks until the server answers).  Every
 * command, bad and over-long lines, pipelining, stale socket cleanup, a
 * second server, and directories that are not ours.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "test.h"

struct state {
	bool muted, ptt;
	int calls;
};

static int on_cmd(void *user, enum es_ctl_cmd cmd, char *reply, size_t len)
{
	struct state *st = user;
	st->calls++;
	switch (cmd) {
	case ES_CTL_MUTE:
		st->muted = true;
		break;
	case ES_CTL_UNMUTE:
		st->muted = false;
		break;
	case ES_CTL_TOGGLE_MUTE:
		st->muted = !st->muted;
		break;
	case ES_CTL_PTT_DOWN:
		st->ptt = true;
		return 0; /* empty reply: "ok" */
	case ES_CTL_PTT_UP:
		return -ENOTSUP; /* "error: ..." */
	case ES_CTL_STATUS:
		snprintf(reply, len, "%s name=alice server=test:4545 state=connected\nIGNORED",
			 st->muted ? "muted" : "unmuted");
		return 0;
	}
	snprintf(reply, len, "%s", st->muted ? "muted" : "unmuted");
	return 0;
}

static char path[108]; /* fits sun_path */

static void expect(const char *cmd, const char *want)
{
	char rep[ES_CTL_LINE_MAX];
	int r = es_ctl_send(NULL, cmd, rep, sizeof(rep), 0);
	if (r < 0 || strcmp(rep, want) != 0) {
		fprintf(stderr, "'%s' -> %d '%s', want '%s'\n", cmd, r, rep, want);
		exit(1);
	}
	check_int_eq(r, strlen(want));
}

static int raw_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	check(fd >= 0);
	check(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	return fd;
}

/* Read everything until EOF (the server closes) or `lines` lines. */
static size_t raw_read(int fd, char *buf, size_t len, int lines)
{
	size_t got = 0;
	while (got < len - 1) {
		ssize_t r = read(fd, buf + got, len - 1 - got);
		check(r >= 0);
		if (r == 0)
			break;
		got += (size_t)r;
		buf[got] = '\0';
		int nl = 0;
		for (size_t i = 0; i < got; i++)
			nl += buf[i] == '\n';
		if (lines && nl >= lines)
			break;
	}
	buf[got] = '\0';
	return got;
}

static void client_side(void)
{
	char buf[1024];

	expect("status", "unmuted name=alice server=test:4545 state=connected");
	expect("mute", "muted");
	expect("status", "muted name=alice server=test:4545 state=connected");
	expect("unmute", "unmuted");
	expect("toggle-mute", "muted");
	expect("toggle-mute", "unmuted");
	expect("ptt-down", "ok");
	expect("ptt-up", "error: Operation not supported");
	expect("shout", "error: unknown command (mute, unmute, toggle-mute, status, ptt-down, ptt-up)");
	expect("  mute \r", "muted");
	expect("unmute", "unmuted");

	/* the sender refuses what cannot be one line */
	char longcmd[ES_CTL_LINE_MAX + 8];
	memset(longcmd, 'a', sizeof(longcmd) - 1);
	longcmd[sizeof(longcmd) - 1] = '\0';
	check(es_ctl_send(NULL, longcmd, buf, sizeof(buf), 0) == -EINVAL);
	check(es_ctl_send(NULL, "mute\nunmute", buf, sizeof(buf), 0) == -EINVAL);
	check(es_ctl_send(NULL, "", buf, sizeof(buf), 0) == -EINVAL);

	/* a raw over-long line: one error reply, the rest of it skipped */
	int fd = raw_connect();
	char big[ES_CTL_LINE_MAX + 600];
	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	check(send(fd, big, sizeof(big), MSG_NOSIGNAL) == sizeof(big));
	check(send(fd, "status\n", 7, MSG_NOSIGNAL) == 7);
	raw_read(fd, buf, sizeof(buf), 2);
	check(strcmp(buf, "error: line too long\n"
			  "unmuted name=alice server=test:4545 state=connected\n") == 0);
	close(fd);

	/* exactly the longest line allowed is parsed (as an unknown command) */
	fd = raw_connect();
	memset(big, 'y', ES_CTL_LINE_MAX - 1);
	big[ES_CTL_LINE_MAX - 1] = '\n';
	check(send(fd, big, ES_CTL_LINE_MAX, MSG_NOSIGNAL) == ES_CTL_LINE_MAX);
	raw_read(fd, buf, sizeof(buf), 1);
	check(strncmp(buf, "error: unknown command", 22) == 0);
	close(fd);

	/* pipelined commands on one connection; empty and binary lines */
	fd = raw_connect();
	const char pipe_in[] = "mute\nstatus\n\nmu\001te\nunmute\n";
	check(send(fd, pipe_in, sizeof(pipe_in) - 1, MSG_NOSIGNAL) == sizeof(pipe_in) - 1);
	raw_read(fd, buf, sizeof(buf), 5);
	check(strcmp(buf, "muted\n"
			  "muted name=alice server=test:4545 state=connected\n"
			  "error: empty command\n"
			  "error: control characters in command\n"
			  "unmuted\n") == 0);
	close(fd);

	/* a last command without newline, then EOF (printf mute | nc -U) */
	fd = raw_connect();
	check(send(fd, "toggle-mute", 11, MSG_NOSIGNAL) == 11);
	shutdown(fd, SHUT_WR);
	raw_read(fd, buf, sizeof(buf), 0);
	check(strcmp(buf, "muted\n") == 0);
	close(fd);

	/* the whole `earshot mute` command: reply on out, exit status */
	FILE *out = tmpfile(), *err = tmpfile();
	check(out && err);
	check_int_eq(es_ctl_command_main("toggle-mute", out, err), ES_CTL_EXIT_OK);
	check_int_eq(es_ctl_command_main("ptt-up", out, err), ES_CTL_EXIT_ERROR);
	check_int_eq(es_ctl_command_main("dance", out, err), ES_CTL_EXIT_USAGE);
	check_int_eq(es_ctl_command_main("toggle-mute", out, err), ES_CTL_EXIT_OK);
	rewind(out);
	rewind(err);
	char o[256] = "", e[512] = "";
	check(fread(o, 1, sizeof(o) - 1, out) > 0);
	check(fread(e, 1, sizeof(e) - 1, err) > 0);
	check(strcmp(o, "unmuted\nmuted\n") == 0);
	check(strstr(e, "earshot: error: Operation not supported\n") != NULL);
	check(strstr(e, "'dance' is not a control command") != NULL);
	fclose(out);
	fclose(err);

	/* more idle connections than slots: the newest still gets answered */
	int idle[ES_CTL_MAX_CONNS + 2];
	for (unsigned i = 0; i < ES_CTL_MAX_CONNS + 2; i++)
		idle[i] = raw_connect();
	usleep(100 * 1000); /* let the server accept them all */
	expect("unmute", "unmuted");
	for (unsigned i = 0; i < ES_CTL_MAX_CONNS + 2; i++)
		close(idle[i]);
	_exit(0); /* the server object is the parent's; no leak report from here */
}

static void serve_until_child_exits(struct es_ctl_server *s, struct state *st, pid_t pid)
{
	int status;
	for (int spins = 0; spins < 1000; spins++) {
		struct pollfd p = { .fd = es_ctl_server_fd(s), .events = POLLIN };
		int r = poll(&p, 1, 20);
		check(r >= 0);
		check(es_ctl_server_handle(s, on_cmd, st) >= 0);
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			check(WIFEXITED(status));
			check_int_eq(WEXITSTATUS(status), 0);
			return;
		}
	}
	check(!"client child did not finish");
}

static char tmpl[] = "/tmp/es-ctl-XXXXXX";
static pid_t main_pid;

/* A failed check exits: leave no temporary tree behind (parent only). */
static void cleanup(void)
{
	char p[400];
	if (getpid() != main_pid || !tmpl[0])
		return;
	static const char *const files[] = { "earshot/ctl", "other.sock" };
	for (unsigned i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s/%s", tmpl, files[i]);
		unlink(p);
	}
	static const char *const dirs[] = { "earshot", "elsewhere" };
	for (unsigned i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s/%s", tmpl, dirs[i]);
		if (rmdir(p) < 0)
			unlink(p); /* the symlink case */
	}
	rmdir(tmpl);
}

int main(void)
{
	char dir[300], buf[256];
	struct stat st;
	check(mkdtemp(tmpl));
	main_pid = getpid();
	atexit(cleanup);

	/* default path: XDG runtime dir, else /tmp/earshot-$UID */
	unsetenv("XDG_RUNTIME_DIR");
	check(es_ctl_default_path(buf, sizeof(buf)) > 0);
	char want[64];
	snprintf(want, sizeof(want), "/tmp/earshot-%lu/ctl", (unsigned long)geteuid());
	check(strcmp(buf, want) == 0);
	setenv("XDG_RUNTIME_DIR", "relative/dir", 1);
	check(es_ctl_default_path(buf, sizeof(buf)) > 0 && strcmp(buf, want) == 0);
	check(es_ctl_default_path(buf, 10) == -ENAMETOOLONG);
	setenv("XDG_RUNTIME_DIR", tmpl, 1);
	check(es_ctl_default_path(path, sizeof(path)) > 0);
	snprintf(dir, sizeof(dir), "%s/earshot", tmpl);
	snprintf(buf, sizeof(buf), "%s/earshot/ctl", tmpl);
	check(strcmp(path, buf) == 0);

	enum es_ctl_cmd c;
	check(es_ctl_cmd_parse("toggle-mute", &c) == 0 && c == ES_CTL_TOGGLE_MUTE);
	check(es_ctl_cmd_parse("Mute", &c) == -EINVAL);
	check(strcmp(es_ctl_cmd_name(ES_CTL_PTT_UP), "ptt-up") == 0);
	check(es_ctl_cmd_name((enum es_ctl_cmd)99) == NULL);

	/* nobody running yet */
	check(es_ctl_send(NULL, "status", buf, sizeof(buf), 0) == -ENOENT);
	FILE *devnull = fopen("/dev/null", "w");
	check(devnull);
	check_int_eq(es_ctl_command_main("status", devnull, devnull), ES_CTL_EXIT_NOT_RUNNING);
	fclose(devnull);

	/* a too-open directory of ours is tightened */
	check(mkdir(dir, 0755) == 0);
	struct es_ctl_server *s = es_ctl_server_open(NULL);
	check(s);
	check(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	check(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600);
	check(es_ctl_server_fd(s) >= 0);

	/* a second client on the same socket is refused */
	errno = 0;
	check(es_ctl_server_open(NULL) == NULL && errno == EADDRINUSE);

	struct state state = { 0 };
	pid_t pid = fork();
	check(pid >= 0);
	if (pid == 0)
		client_side();
	serve_until_child_exits(s, &state, pid);
	test_log("control commands handled: %d", state.calls);
	check(!state.muted && state.ptt);
	check_int_eq(state.calls, 19);

	es_ctl_server_free(s);
	check(lstat(path, &st) < 0 && errno == ENOENT);
	es_ctl_server_free(NULL);

	/* stale socket of a crashed client: refused connection, then cleaned up */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	check(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	close(fd);
	check(lstat(path, &st) == 0 && S_ISSOCK(st.st_mode));
	check(es_ctl_send(NULL, "status", buf, sizeof(buf), 0) == -ECONNREFUSED);
	s = es_ctl_server_open(NULL);
	check(s);

	/* a client that never serves its socket: senders time out, do not hang */
	int q[64], nq = 0;
	for (; nq < 64; nq++) {
		q[nq] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		check(q[nq] >= 0);
		if (connect(q[nq], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			check(errno == EAGAIN);
			close(q[nq]);
			break;
		}
	}
	check(nq < 64); /* the backlog filled up */
	check(es_ctl_send(NULL, "status", buf, sizeof(buf), 150) == -ETIMEDOUT);
	/* and one that is stuck with the backlog full still counts as running */
	errno = 0;
	check(es_ctl_server_open(NULL) == NULL && errno == EADDRINUSE);
	for (int i = 0; i < nq; i++)
		close(q[i]);
	es_ctl_server_free(s);

	/* something else at the path is not ours to delete */
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	check(fd >= 0);
	close(fd);
	errno = 0;
	check(es_ctl_server_open(NULL) == NULL && errno == EEXIST);
	check(es_ctl_send(NULL, "status", buf, sizeof(buf), 0) == -EPERM);
	check(unlink(path) == 0);

	/* a symlinked directory is refused */
	char real[320];
	snprintf(real, sizeof(real), "%s/elsewhere", tmpl);
	check(mkdir(real, 0700) == 0);
	check(rmdir(dir) == 0);
	check(symlink(real, dir) == 0);
	errno = 0;
	check(es_ctl_server_open(NULL) == NULL && errno == EPERM);
	check(unlink(dir) == 0);
	check(rmdir(real) == 0);

	/* a directory owned by someone else (only root can set that up) */
	if (geteuid() == 0) {
		check(mkdir(dir, 0700) == 0);
		check(chown(dir, 65534, 65534) == 0);
		errno = 0;
		check(es_ctl_server_open(NULL) == NULL && errno == EPERM);
		check(es_ctl_send(NULL, "status", buf, sizeof(buf), 0) == -EPERM);
		check(rmdir(dir) == 0);
	} else {
		test_log("not root: foreign-owner directory case skipped");
	}

	/* an explicit path works too */
	snprintf(buf, sizeof(buf), "%s/other.sock", tmpl);
	s = es_ctl_server_open(buf);
	check(s);
	es_ctl_server_free(s);

	check(rmdir(tmpl) == 0);
	tmpl[0] = '\0'; /* gone: nothing for cleanup() to do */
	return 0;
}
