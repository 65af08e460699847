/* SPDX-License-Identifier: MIT */
/*
 * earshotctl: send one command to a running earshotd through its admin
 * socket (<state_dir>/admin.sock, see daemon/admin.h) and print the reply.
 * Data lines go to stdout (an invite code, the people list), the closing
 * "ok: ..." text to stderr, so `CODE=$(earshotctl invite carol)` captures
 * just the code.  Exit 0 on "ok", 1 on "error: ..." (or no daemon), 2 on a
 * usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"

#define REPLY_TIMEOUT_MS 5000

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: earshotctl [--state-dir DIR | --config FILE | --socket PATH] COMMAND [ARGS]\n"
		"Tell a running earshotd what to do.\n\n"
		"Commands:\n"
		"  invite NAME [HOST:PORT] [TTL_HOURS]  print a one-time invite code for NAME\n"
		"  invite NAME --address A,B,C [TTL]    the same for a company's daemons (HOST:PORT each, at most 8):\n"
		"                                       the client keeps them all and tries the next when one is lost\n"
		"  people                               who is connected, where, with which flags\n"
		"  enrolled                             enrolled people and pending invites\n"
		"  load                                 the load ladder: level, what it sheds, ticks at each, steps\n"
		"  fingerprint                          the server key's fingerprint\n"
		"  mute NAME | unmute NAME              admin mute (sticks until unmuted)\n"
		"  move NAME X,Y [FACING]               move someone (metres, degrees)\n"
		"  remove NAME [--forget]               disconnect someone; --forget also un-enrols them\n"
		"  redirect NAME ADDRS [X,Y]            send someone to another daemon of the company, to sit where\n"
		"                                       they are (or at X,Y): ADDRS is HOST:PORT[,HOST:PORT...],\n"
		"                                       where to go first, then the company's others (at most 8)\n"
		"  close-room ROOM | open-room ROOM     close or open the doors of a room\n"
		"  cluster                              a company: daemons, floors, who hosts which, people here\n"
		"  drain [off]                          a company: hand this daemon's floors and people to others\n"
		"  help                                 the daemon's own list\n\n"
		"Options:\n"
		"  -d, --state-dir DIR   the daemon's state directory (default: as earshotd:\n"
		"                        [server] state_dir of %s, $STATE_DIRECTORY, or %s)\n"
		"  -c, --config FILE     read the state directory from this earshotd.conf\n"
		"  -s, --socket PATH     the admin socket itself\n"
		"  -h, --help            show this help\n\n"
		"Exit status: 0 ok, 1 the daemon said no (or is not running), 2 usage.\n",
		ES_CONFIG_DEFAULT_PATH, ES_CONFIG_DEFAULT_STATE_DIR);
}

/* The state directory as earshotd would find it: config file, then $STATE_DIRECTORY, then the default. */
static int find_state_dir(const char *config, char *out, size_t cap)
{
	struct es_config cfg;
	char *argv[] = {"earshotctl", "--config", (char *)config, NULL};
	FILE *quiet = config ? stderr : fopen("/dev/null", "w");
	int r = es_config_load(&cfg, config ? 3 : 1, argv, quiet ? quiet : stderr);
	if (quiet && quiet != stderr)
		fclose(quiet);
	if (r != 0) {
		if (config)
			return -EINVAL;
		es_config_defaults(&cfg); /* an unreadable /etc file: the daemon's defaults */
	}
	if (snprintf(out, cap, "%s", cfg.state_dir) >= (int)cap)
		return -ENAMETOOLONG;
	return 0;
}

/* Quote an argument that has blanks, as the daemon's splitter expects. */
static int append_arg(char *line, size_t cap, size_t *len, const char *arg, bool first)
{
	bool quote = strpbrk(arg, " \t") != NULL || arg[0] == 0;
	if (strpbrk(arg, "\"\n\r") || (quote && strchr(arg, '"')))
		return -EINVAL;
	int n = snprintf(line + *len, cap - *len, "%s%s%s%s", first ? "" : " ", quote ? "\"" : "", arg, quote ? "\"" : "");
	if (n < 0 || (size_t)n >= cap - *len)
		return -E2BIG;
	*len += (size_t)n;
	return 0;
}

static bool is_final(const char *line)
{
	return strcmp(line, "ok") == 0 || strncmp(line, "ok: ", 4) == 0 || strncmp(line, "error: ", 7) == 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"state-dir", required_argument, NULL, 'd'}, {"config", required_argument, NULL, 'c'},
		{"socket", required_argument, NULL, 's'},    {"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *state_dir = NULL, *config = NULL, *sock = NULL;
	int c;
	/* '+': stop at the command, so "remove bob --forget" keeps its flag */
	while ((c = getopt_long(argc, argv, "+d:c:s:h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': state_dir = optarg; break;
		case 'c': config = optarg; break;
		case 's': sock = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	/* whoami first: every command says which daemon answered (address, key, state, metrics) */
	char line[ES_ADMIN_LINE_MAX + 2 + 8] = "whoami\n";
	size_t len = 7;
	for (int i = optind; i < argc; i++) {
		int r = append_arg(line, 7 + ES_ADMIN_LINE_MAX + 1, &len, argv[i], i == optind);
		if (r < 0) {
			fprintf(stderr, "earshotctl: %s\n", r == -E2BIG ? "the command is too long" :
						"arguments cannot contain newlines or double quotes");
			return 2;
		}
	}
	line[len++] = '\n';

	char dir[4096], path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	if (sock) {
		if (snprintf(path, sizeof(path), "%s", sock) >= (int)sizeof(path)) {
			fprintf(stderr, "earshotctl: socket path too long\n");
			return 2;
		}
	} else {
		if (state_dir)
			snprintf(dir, sizeof(dir), "%s", state_dir);
		else if (find_state_dir(config, dir, sizeof(dir)) < 0) {
			fprintf(stderr, "earshotctl: cannot read the state directory from %s (above)\n", config);
			return 2;
		}
		if (snprintf(path, sizeof(path), "%s/%s", dir, ES_ADMIN_SOCKET_NAME) >= (int)sizeof(path)) {
			fprintf(stderr, "earshotctl: %s: path too long for a socket\n", dir);
			return 2;
		}
		/* nothing there and nothing said: the quick start's state directory, as ./quickstart run uses it */
		const char *xs = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
		char qs[4096] = "";
		if (xs && xs[0] == '/')
			snprintf(qs, sizeof(qs), "%s/earshot", xs);
		else if (home && home[0])
			snprintf(qs, sizeof(qs), "%s/.local/state/earshot", home);
		char qpath[sizeof(path)];
		if (!state_dir && !config && access(path, F_OK) < 0 && qs[0] &&
		    snprintf(qpath, sizeof(qpath), "%s/%s", qs, ES_ADMIN_SOCKET_NAME) < (int)sizeof(qpath) &&
		    access(qpath, F_OK) == 0)
			memcpy(path, qpath, sizeof(path));
	}

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("earshotctl: socket");
		return 1;
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		if (e == ENOENT)
			fprintf(stderr, "earshotctl: earshotd is not running (no socket at %s)%s\n", path,
				state_dir || sock ? "" : "; give its state directory with --state-dir");
		else if (e == ECONNREFUSED || e == ENOTSOCK)
			fprintf(stderr, "earshotctl: earshotd is not running (nothing answers on %s)\n", path);
		else if (e == EACCES)
			fprintf(stderr, "earshotctl: %s: permission denied: run as the user earshotd runs as (or root)\n", path);
		else
			fprintf(stderr, "earshotctl: %s: %s\n", path, strerror(e));
		close(fd);
		return 1;
	}
	for (size_t off = 0; off < len;) {
		ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "earshotctl: lost the connection to earshotd: %s\n", strerror(errno));
			close(fd);
			return 1;
		}
		off += (size_t)n;
	}
	shutdown(fd, SHUT_WR);

	/* print lines as they come; the last one says how it went */
	static char buf[256 * 1024];
	size_t have = 0;
	int rc = -1;
	bool who_said = false;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	while (rc < 0) {
		if (poll(&pfd, 1, REPLY_TIMEOUT_MS) == 0) {
			fprintf(stderr, "earshotctl: earshotd did not answer within %d s\n", REPLY_TIMEOUT_MS / 1000);
			rc = 1;
			break;
		}
		ssize_t n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "earshotctl: earshotd closed the connection without an answer\n");
			rc = 1;
			break;
		}
		have += (size_t)n;
		char *start = buf, *nl;
		while (rc < 0 && (nl = memchr(start, '\n', have - (size_t)(start - buf)))) {
			*nl = 0;
			if (!who_said && is_final(start)) {
				/* the whoami reply: which daemon answers */
				who_said = true;
				if (strncmp(start, "ok: ", 4) == 0)
					fprintf(stderr, "earshotctl: answered by %s\n", start + 4);
			} else if (strcmp(start, "ok") == 0)
				rc = 0;
			else if (is_final(start) && start[0] == 'o') {
				fprintf(stderr, "%s\n", start + 4);
				rc = 0;
			} else if (is_final(start)) {
				fprintf(stderr, "earshotctl: %s\n", start + 7);
				rc = strncmp(start, "error: usage:", 13) == 0 ? 2 : 1; /* ADMIN.md: 2 for usage */
			} else
				printf("%s\n", start);
			start = nl + 1;
		}
		have -= (size_t)(start - buf);
		memmove(buf, start, have);
		if (have == sizeof(buf) - 1) /* one enormous line: show it as it is */
			have = 0;
	}
	close(fd);
	return rc;
}
