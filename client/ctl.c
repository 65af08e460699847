/* SPDX-License-Identifier: MIT */
/*
 * Control socket.  The server multiplexes its listening socket and up to
 * ES_CTL_MAX_CONNS connections behind one epoll fd, so the client's main
 * loop polls a single descriptor and never blocks on a slow shortcut
 * process: every read and write here is non-blocking, and a peer that
 * cannot take a 256-byte reply at once is dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ctl.h"

#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path))

static const char *const cmd_names[] = {
	[ES_CTL_MUTE] = "mute",
	[ES_CTL_UNMUTE] = "unmute",
	[ES_CTL_TOGGLE_MUTE] = "toggle-mute",
	[ES_CTL_STATUS] = "status",
	[ES_CTL_PTT_DOWN] = "ptt-down",
	[ES_CTL_PTT_UP] = "ptt-up",
};
#define N_CMDS (sizeof(cmd_names) / sizeof(cmd_names[0]))

const char *es_ctl_cmd_name(enum es_ctl_cmd cmd)
{
	if ((unsigned)cmd >= N_CMDS)
		return NULL;
	return cmd_names[cmd];
}

int es_ctl_cmd_parse(const char *word, enum es_ctl_cmd *cmd)
{
	if (!word)
		return -EINVAL;
	for (unsigned i = 0; i < N_CMDS; i++) {
		if (strcmp(word, cmd_names[i]) == 0) {
			if (cmd)
				*cmd = (enum es_ctl_cmd)i;
			return 0;
		}
	}
	return -EINVAL;
}

int es_ctl_default_path(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	/* The XDG spec says to ignore a relative value. */
	if (xdg && xdg[0] == '/')
		n = snprintf(buf, len, "%s/earshot/ctl", xdg);
	else
		n = snprintf(buf, len, "/tmp/earshot-%lu/ctl", (unsigned long)geteuid());
	if (n < 0 || (size_t)n >= len || (size_t)n >= SUN_PATH_MAX)
		return -ENAMETOOLONG;
	return n;
}

static int resolve(const char *path, char *buf, size_t len)
{
	if (!path)
		return es_ctl_default_path(buf, len);
	size_t n = strlen(path);
	if (n == 0)
		return -EINVAL;
	if (n >= len || n >= SUN_PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	return (int)n;
}

/* The directory part of path into dir ("." when there is none). */
static void dir_of(const char *path, char *dir, size_t len)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	if (!slash) {
		snprintf(dir, len, ".");
		return;
	}
	if (n == 0)
		n = 1; /* "/ctl" */
	if (n >= len)
		n = len - 1;
	memcpy(dir, path, n);
	dir[n] = '\0';
}

/*
 * The socket's directory must be a real directory owned by us.  The server
 * creates it and tightens its mode; a client only checks.  A directory in
 * /tmp owned by someone else is exactly the attack this refuses.
 */
static int check_dir(const char *dir, bool create)
{
	struct stat st;

	if (create && mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (lstat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
		return -EPERM;
	if (st.st_mode & 077) {
		if (!create)
			return -EPERM;
		if (chmod(dir, 0700) < 0)
			return -errno;
	}
	return 0;
}

static int sockaddr_for(const char *path, struct sockaddr_un *sa)
{
	size_t n = strlen(path);
	if (n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}

static bool peer_is_us(int fd)
{
	struct ucred cr;
	socklen_t l = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0 || l != sizeof(cr))
		return false;
	return cr.uid == geteuid();
}

/* ---- server ------------------------------------------------------------- */

struct conn {
	int fd;                 /* -1: free */
	size_t len;
	bool discard;           /* inside an over-long line: drop up to '\n' */
	unsigned long age;      /* accept order, to drop the oldest when full */
	char buf[ES_CTL_LINE_MAX + 1]; /* + 1: room for the NUL of a last line */
};

struct es_ctl_server {
	int lfd, epfd;
	unsigned long accepted;
	char path[SUN_PATH_MAX];
	struct conn c[ES_CTL_MAX_CONNS];
};

/* Something at path: a live server (refuse), a stale socket (remove), other (refuse). */
static int clear_stale(const char *path)
{
	struct stat st;
	struct sockaddr_un sa;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	if (st.st_uid != geteuid())
		return -EPERM;
	r = sockaddr_for(path, &sa);
	if (r < 0)
		return r;
	/* non-blocking: a live client with a full backlog answers EAGAIN, not a hang */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	close(fd);
	if (r == 0 || e == EAGAIN)
		return -EADDRINUSE;
	if (e != ECONNREFUSED)
		return -e;
	/* Nobody listens: a client crashed and left it behind. */
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

struct es_ctl_server *es_ctl_server_open(const char *path)
{
	struct es_ctl_server *s;
	struct sockaddr_un sa;
	char dir[SUN_PATH_MAX];
	int r;

	s = calloc(1, sizeof(*s));
	if (!s) {
		r = -ENOMEM;
		goto err_out;
	}
	s->lfd = s->epfd = -1;
	for (unsigned i = 0; i < ES_CTL_MAX_CONNS; i++)
		s->c[i].fd = -1;

	r = resolve(path, s->path, sizeof(s->path));
	if (r < 0)
		goto err_free;
	dir_of(s->path, dir, sizeof(dir));
	r = check_dir(dir, true);
	if (r < 0)
		goto err_free;
	r = clear_stale(s->path);
	if (r < 0)
		goto err_free;
	r = sockaddr_for(s->path, &sa);
	if (r < 0)
		goto err_free;

	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0) {
		r = -errno;
		goto err_free;
	}
	if (bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		goto err_close;
	}
	/* The 0700 directory already keeps others out; this is belt and braces. */
	if (chmod(s->path, 0600) < 0 || listen(s->lfd, ES_CTL_MAX_CONNS) < 0) {
		r = -errno;
		goto err_unlink;
	}
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		r = -errno;
		goto err_unlink;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 0 };
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev) < 0) {
		r = -errno;
		goto err_epoll;
	}
	return s;

err_epoll:
	close(s->epfd);
err_unlink:
	unlink(s->path);
err_close:
	close(s->lfd);
err_free:
	free(s);
err_out:
	errno = -r;
	return NULL;
}

int es_ctl_server_fd(const struct es_ctl_server *s)
{
	return s ? s->epfd : -EINVAL;
}

static void conn_close(struct es_ctl_server *s, struct conn *c)
{
	if (c->fd < 0)
		return;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->len = 0;
	c->discard = false;
}

/* Send one reply line at once or give up on the peer. */
static bool conn_reply(struct es_ctl_server *s, struct conn *c, const char *text)
{
	char out[ES_CTL_LINE_MAX];
	size_t n = strcspn(text, "\r\n");
	if (n > sizeof(out) - 1)
		n = sizeof(out) - 1;
	memcpy(out, text, n);
	out[n++] = '\n';
	ssize_t w = send(c->fd, out, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w != (ssize_t)n) {
		conn_close(s, c);
		return false;
	}
	return true;
}

/* One complete line (without '\n'); false if the connection went away. */
static bool conn_line(struct es_ctl_server *s, struct conn *c, char *line, size_t len,
		      es_ctl_handler cb, void *user, int *handled)
{
	char reply[ES_CTL_LINE_MAX];
	enum es_ctl_cmd cmd;

	while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	while (len && (line[0] == ' ' || line[0] == '\t')) {
		line++;
		len--;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];
		if (ch < 0x20 || ch == 0x7f)
			return conn_reply(s, c, "error: control characters in command");
	}
	line[len] = '\0';
	if (len == 0)
		return conn_reply(s, c, "error: empty command");
	if (es_ctl_cmd_parse(line, &cmd) < 0)
		return conn_reply(s, c, "error: unknown command (mute, unmute, toggle-mute, "
					"status, ptt-down, ptt-up)");

	reply[0] = '\0';
	int r = cb ? cb(user, cmd, reply, sizeof(reply) - 1) : -ENOSYS;
	reply[sizeof(reply) - 1] = '\0';
	(*handled)++;
	if (r < 0) {
		char err[ES_CTL_LINE_MAX];
		snprintf(err, sizeof(err), "error: %s", strerror(-r));
		return conn_reply(s, c, err);
	}
	return conn_reply(s, c, reply[0] ? reply : "ok");
}

/*
 * Read what is there, answer every complete line.  An over-long line is
 * answered once and then skipped up to its newline rather than closing at
 * once: closing a Unix socket with unread input resets the peer, which
 * would lose the error reply.  A per-call read budget keeps one peer
 * flooding bytes from holding the main loop.
 */
static void conn_read(struct es_ctl_server *s, struct conn *c, es_ctl_handler cb, void *user,
		      int *handled)
{
	for (int budget = 16; budget > 0; budget--) {
		ssize_t r = read(c->fd, c->buf + c->len, ES_CTL_LINE_MAX - c->len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_close(s, c);
			return;
		}
		if (r == 0) {
			/* a last line without '\n' (printf mute | nc -U) still counts */
			if (c->len && !c->discard && conn_line(s, c, c->buf, c->len, cb, user, handled))
				c->len = 0;
			conn_close(s, c);
			return;
		}
		c->len += (size_t)r;

		char *nl;
		while (c->fd >= 0 && (nl = memchr(c->buf, '\n', c->len))) {
			size_t l = (size_t)(nl - c->buf);
			char line[ES_CTL_LINE_MAX];
			memcpy(line, c->buf, l);
			memmove(c->buf, nl + 1, c->len - l - 1);
			c->len -= l + 1;
			if (c->discard) {
				c->discard = false; /* the tail of the long line */
				continue;
			}
			if (!conn_line(s, c, line, l, cb, user, handled))
				return;
		}
		if (c->fd < 0)
			return;
		if (c->len == ES_CTL_LINE_MAX) {
			if (!c->discard && !conn_reply(s, c, "error: line too long"))
				return;
			c->discard = true;
			c->len = 0;
		}
	}
}

static struct conn *conn_slot(struct es_ctl_server *s)
{
	struct conn *oldest = &s->c[0];
	for (unsigned i = 0; i < ES_CTL_MAX_CONNS; i++) {
		if (s->c[i].fd < 0)
			return &s->c[i];
		if (s->c[i].age < oldest->age)
			oldest = &s->c[i];
	}
	/* full: an idle shortcut process must not lock the mute key out */
	conn_close(s, oldest);
	return oldest;
}

static int accept_all(struct es_ctl_server *s, es_ctl_handler cb, void *user, int *handled)
{
	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				return 0; /* transient; the backlog waits */
			return -errno;
		}
		if (!peer_is_us(fd)) {
			close(fd);
			continue;
		}
		struct conn *c = conn_slot(s);
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)(c - s->c) + 1 };
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->len = 0;
		c->discard = false;
		c->age = ++s->accepted;
		/* the command is usually there already */
		conn_read(s, c, cb, user, handled);
	}
}

int es_ctl_server_handle(struct es_ctl_server *s, es_ctl_handler cb, void *user)
{
	struct epoll_event evs[ES_CTL_MAX_CONNS + 1];
	int handled = 0, n, r;

	if (!s)
		return -EINVAL;
	n = epoll_wait(s->epfd, evs, ES_CTL_MAX_CONNS + 1, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		uint32_t id = evs[i].data.u32;
		if (id == 0)
			continue;
		struct conn *c = &s->c[id - 1];
		if (c->fd >= 0)
			conn_read(s, c, cb, user, &handled);
	}
	/* accept last, so a slot freed above can be reused at once */
	for (int i = 0; i < n; i++) {
		if (evs[i].data.u32 == 0) {
			r = accept_all(s, cb, user, &handled);
			if (r < 0)
				return r;
		}
	}
	return handled;
}

void es_ctl_server_free(struct es_ctl_server *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < ES_CTL_MAX_CONNS; i++)
		conn_close(s, &s->c[i]);
	close(s->epfd);
	close(s->lfd);
	unlink(s->path);
	free(s);
}

/* ---- client ------------------------------------------------------------- */

static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - es_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = events };
		int r = poll(&p, 1, (int)left);
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

int es_ctl_send(const char *path, const char *cmd, char *reply, size_t reply_len,
		unsigned timeout_ms)
{
	char p[SUN_PATH_MAX], dir[SUN_PATH_MAX], line[ES_CTL_LINE_MAX], in[ES_CTL_LINE_MAX];
	struct sockaddr_un sa;
	struct stat st;
	size_t n, got = 0;
	int fd, r;

	if (reply && reply_len)
		reply[0] = '\0';
	if (!cmd)
		return -EINVAL;
	n = strlen(cmd);
	if (n == 0 || n > ES_CTL_LINE_MAX - 1 || strchr(cmd, '\n'))
		return -EINVAL;
	r = resolve(path, p, sizeof(p));
	if (r < 0)
		return r;
	dir_of(p, dir, sizeof(dir));
	r = check_dir(dir, false);
	if (r < 0)
		return r;
	if (lstat(p, &st) < 0)
		return -errno;
	if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
		return -EPERM;
	r = sockaddr_for(p, &sa);
	if (r < 0)
		return r;

	int64_t deadline = es_now_ms() + (timeout_ms ? timeout_ms : 2000);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/*
	 * A Unix socket connects at once or, with the listener's backlog full,
	 * fails with EAGAIN without queueing: retry until the deadline.
	 */
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			r = -errno;
			goto err_close;
		}
		if (es_now_ms() >= deadline) {
			r = -ETIMEDOUT;
			goto err_close;
		}
		poll(NULL, 0, 10);
	}
	if (!peer_is_us(fd)) {
		r = -EPERM;
		goto err_close;
	}

	memcpy(line, cmd, n);
	line[n++] = '\n';
	for (size_t off = 0; off < n;) {
		ssize_t w = send(fd, line + off, n - off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				r = -errno;
				goto err_close;
			}
			r = wait_fd(fd, POLLOUT, deadline);
			if (r < 0)
				goto err_close;
			continue;
		}
		off += (size_t)w;
	}

	for (;;) {
		if (memchr(in, '\n', got))
			break;
		if (got == sizeof(in)) {
			r = -EBADMSG;
			goto err_close;
		}
		r = wait_fd(fd, POLLIN, deadline);
		if (r < 0)
			goto err_close;
		ssize_t rd = read(fd, in + got, sizeof(in) - got);
		if (rd < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			r = -errno;
			goto err_close;
		}
		if (rd == 0) {
			r = -ECONNRESET;
			goto err_close;
		}
		got += (size_t)rd;
	}
	close(fd);

	n = (size_t)((char *)memchr(in, '\n', got) - in);
	if (reply && reply_len) {
		size_t c = n < reply_len - 1 ? n : reply_len - 1;
		memcpy(reply, in, c);
		reply[c] = '\0';
	}
	return (int)n;

err_close:
	close(fd);
	return r;
}

/* One field of a status reply ("key=value" between tabs) into buf; "" when missing. */
static const char *status_field(const char *reply, const char *key, char *buf, size_t len)
{
	size_t kl = strlen(key);
	buf[0] = 0;
	for (const char *p = strchr(reply, '\t'); p; p = strchr(p + 1, '\t')) {
		if (strncmp(p + 1, key, kl) == 0 && p[1 + kl] == '=') {
			const char *v = p + 2 + kl, *end = strchr(v, '\t');
			size_t n = end ? (size_t)(end - v) : strlen(v);
			if (n >= len)
				n = len - 1;
			memcpy(buf, v, n);
			buf[n] = 0;
			break;
		}
	}
	return buf;
}

static void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

void es_ctl_status_print(const char *reply, bool json, FILE *out)
{
	static const char *const keys[] = {"server", "name", "state", "live", "x", "y", "room", "loss", "fec", "jitter",
					   "redirects", "redirect_wait_ms"};
	char v[12][96], servers[8 * 96];
	for (unsigned i = 0; i < 12; i++)
		status_field(reply, keys[i], v[i], sizeof(v[i]));
	status_field(reply, "servers", servers, sizeof(servers));
	bool muted = strncmp(reply, "muted", 5) == 0;
	if (!strchr(reply, '\t')) { /* an older client: the mute word only */
		if (json)
			fprintf(out, "{\"muted\": %s}\n", muted ? "true" : "false");
		else
			fprintf(out, "%s\n", reply);
		return;
	}
	double loss = atof(v[7]);
	if (json) {
		fprintf(out, "{\"muted\": %s, \"server\": ", muted ? "true" : "false");
		json_string(out, v[0]);
		fprintf(out, ", \"name\": ");
		json_string(out, v[1]);
		fprintf(out, ", \"state\": ");
		json_string(out, v[2]);
		fprintf(out, ", \"server_answers\": %s, \"x\": %s, \"y\": %s, \"room\": ", strcmp(v[3], "yes") == 0 ? "true" : "false",
			v[4][0] ? v[4] : "null", v[5][0] ? v[5] : "null");
		if (v[6][0])
			json_string(out, v[6]);
		else
			fputs("null", out);
		fprintf(out, ", \"uplink_loss_percent\": ");
		if (loss >= 0 && v[7][0])
			fprintf(out, "%s", v[7]);
		else
			fputs("null", out);
		fprintf(out, ", \"fec_percent\": %s, \"jitter_ticks\": %s", v[8][0] ? v[8] : "null",
			v[9][0] ? v[9] : "null");
		/* the company's daemons this client knows (a client from before them: the one server) */
		fputs(", \"servers\": [", out);
		const char *list = servers[0] ? servers : v[0];
		for (const char *p = list; *p;) {
			const char *comma = strchr(p, ',');
			char one[96];
			size_t n = comma ? (size_t)(comma - p) : strlen(p);
			snprintf(one, sizeof(one), "%.*s", (int)(n < sizeof(one) ? n : sizeof(one) - 1), p);
			if (p != list)
				fputs(", ", out);
			json_string(out, one);
			p += n;
			if (*p == ',')
				p++;
		}
		fprintf(out, "], \"redirects\": %s, \"redirect_wait_ms\": %s}\n", v[10][0] ? v[10] : "null",
			v[11][0] ? v[11] : "null");
		return;
	}
	fprintf(out, "%s\n", muted ? "muted" : "unmuted");
	fprintf(out, "server:     %s as %s\n", v[0], v[1]);
	if (strchr(servers, ','))
		fprintf(out, "daemons:    %s (redirected %s times)\n", servers, v[10][0] ? v[10] : "0");
	fprintf(out, "connection: %s%s\n", v[2],
		strcmp(v[2], "joined") == 0 ? (strcmp(v[3], "yes") == 0 ? ", the server answers" : ", NO ANSWER from the server") : "");
	fprintf(out, "place:      %s,%s%s%s\n", v[4], v[5], v[6][0] ? " in " : "", v[6]);
	if (loss >= 0 && v[7][0])
		fprintf(out, "uplink:     %s %% lost, FEC for %s %%\n", v[7], v[8]);
	else
		fprintf(out, "uplink:     no report yet (the server reports while you talk), FEC for %s %%\n", v[8]);
	fprintf(out, "jitter:     playout buffer %s ticks (%d ms)\n", v[9], atoi(v[9]) * 20);
}

int es_ctl_command_main(const char *cmd, FILE *out, FILE *err)
{
	return es_ctl_command_main_json(cmd, false, out, err);
}

int es_ctl_command_main_json(const char *cmd, bool json, FILE *out, FILE *err)
{
	char path[SUN_PATH_MAX], reply[ES_CTL_LINE_MAX];
	enum es_ctl_cmd c;

	if (es_ctl_cmd_parse(cmd, &c) < 0) {
		fprintf(err, "earshot: '%s' is not a control command (mute, unmute, toggle-mute, "
			     "status, ptt-down, ptt-up)\n", cmd ? cmd : "");
		return ES_CTL_EXIT_USAGE;
	}
	int r = es_ctl_default_path(path, sizeof(path));
	if (r < 0) {
		fprintf(err, "earshot: no usable control socket path: %s\n", strerror(-r));
		return ES_CTL_EXIT_ERROR;
	}
	r = es_ctl_send(path, cmd, reply, sizeof(reply), 0);
	if (r == -ENOENT || r == -ECONNREFUSED) {
		fprintf(err, "earshot: not running (nothing answers on %s)\n", path);
		return ES_CTL_EXIT_NOT_RUNNING;
	}
	if (r == -EPERM) {
		fprintf(err, "earshot: refusing %s: it or its directory is not yours, or is open "
			     "to others\n", path);
		return ES_CTL_EXIT_ERROR;
	}
	if (r < 0) {
		fprintf(err, "earshot: %s: %s\n", path, strerror(-r));
		return ES_CTL_EXIT_ERROR;
	}
	if (strncmp(reply, "error:", 6) == 0) {
		fprintf(err, "earshot: %s\n", reply);
		return ES_CTL_EXIT_ERROR;
	}
	if (c == ES_CTL_STATUS)
		es_ctl_status_print(reply, json, out);
	else
		fprintf(out, "%s\n", reply);
	return ES_CTL_EXIT_OK;
}
