/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <strings.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>
#include <sodium.h>

#include "atomic-file.h"
#include "earshot-proto.h"
#include "identity.h"
#include "line-source.h"

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int es_identity_dir(char *out, size_t cap)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	int n;
	if (xdg && xdg[0] == '/')
		n = snprintf(out, cap, "%s/earshot", xdg);
	else if (home && home[0])
		n = snprintf(out, cap, "%s/.config/earshot", home);
	else
		return -ENOENT;
	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	return mkdir_p(out, 0700);
}

/* Write text to dir/name atomically with the given mode. */
/* Replace dir/name in one step (common/atomic-file.h). */
static int write_atomic(const char *dir, const char *name, const char *text, mode_t mode)
{
	return es_write_atomic(dir, name, text, strlen(text), mode, NULL);
}

static int identity_read(const char *path, struct es_keypair *kp)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	mode_t mode = 0;
	int pr = es_key_file_private(fileno(f), &mode);
	if (pr < 0) {
		fclose(f);
		if (pr == -EPERM)
			fprintf(stderr,
				"earshot: %s is readable or writable by group or others (mode %04o): whoever read it "
				"can join as you. If you are sure nobody did, 'chmod 600 %s'; otherwise move it away "
				"(a new key is made, and the server's admin must invite you again)\n",
				path, (unsigned)mode, path);
		return pr;
	}
	char hex[80] = {0};
	uint8_t priv[32];
	size_t bin = 0;
	bool ok = fgets(hex, sizeof(hex), f) != NULL &&
		  sodium_hex2bin(priv, sizeof(priv), hex, strlen(hex), "\n", &bin, NULL) == 0 && bin == 32;
	fclose(f);
	int r = ok ? es_noise_keypair_from_private(kp, priv) : -EBADMSG;
	sodium_memzero(priv, sizeof(priv));
	sodium_memzero(hex, sizeof(hex));
	return r;
}

/*
 * A new key, made so that two clients starting at once with a fresh home
 * agree on one: each writes its own temporary file (a unique name, 0600,
 * synced) and link()s it to identity.key, which fails if the name exists;
 * the loser removes its temporary and loads the winner's key.  A file is
 * never seen half-written, and there is no shared temporary name for a
 * rename to lose.
 */
static int identity_create(const char *dir, const char *path, struct es_keypair *kp)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s/.identity.key.XXXXXX", dir) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = mkostemp(tmp, O_CLOEXEC); /* 0600 */
	if (fd < 0)
		return -errno;
	es_noise_keypair(kp);
	char line[66];
	sodium_bin2hex(line, 65, kp->priv, 32);
	line[64] = '\n';
	line[65] = 0;
	int r = write(fd, line, 65) == 65 && fsync(fd) == 0 ? 0 : -EIO;
	sodium_memzero(line, sizeof(line));
	close(fd);
	if (r == 0 && link(tmp, path) < 0)
		r = -errno;
	unlink(tmp);
	if (r == -EEXIST) {
		es_keypair_clear(kp);
		return identity_read(path, kp); /* another client made it first: theirs is ours */
	}
	if (r == 0) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			(void)fsync(dfd);
			close(dfd);
		}
	}
	return r;
}

int es_identity_load(const char *dir, struct es_keypair *kp)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/identity.key", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int r = identity_read(path, kp);
	if (r != -ENOENT)
		return r;
	return identity_create(dir, path, kp);
}

/* Read known_servers into buf (NUL-terminated); "" if missing. */
static int read_known(const char *dir, char *buf, size_t cap)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/known_servers", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	buf[0] = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	size_t n = fread(buf, 1, cap - 1, f);
	bool more = fgetc(f) != EOF;
	fclose(f);
	buf[n] = 0;
	return more ? -EFBIG : 0;
}

#define KNOWN_MAX (64 * 1024)

int es_known_server_get(const char *dir, const char *server, uint8_t pub[static 32])
{
	char *buf = malloc(KNOWN_MAX);
	if (!buf)
		return -ENOMEM;
	int r = read_known(dir, buf, KNOWN_MAX);
	if (r < 0)
		goto out;
	r = -ENOENT;
	size_t sl = strlen(server);
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, server, sl) != 0 || line[sl] != ' ')
			continue;
		size_t bin = 0;
		const char *hex = line + sl + 1;
		r = sodium_hex2bin(pub, 32, hex, strlen(hex), " ", &bin, NULL) == 0 && bin == 32 ? 0 : -EBADMSG;
		break;
	}
out:
	free(buf);
	return r;
}

/* Rewrite known_servers without server's line, plus a new one if pub. */
static int rewrite_known(const char *dir, const char *server, const uint8_t *pub, bool *found)
{
	char *buf = malloc(KNOWN_MAX), *out = malloc(KNOWN_MAX + 256);
	int r = -ENOMEM;
	if (!buf || !out)
		goto out;
	r = read_known(dir, buf, KNOWN_MAX);
	if (r < 0)
		goto out;
	out[0] = 0; /* forgetting the only server leaves nothing to copy */
	size_t sl = strlen(server), o = 0;
	*found = false;
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, server, sl) == 0 && line[sl] == ' ') {
			*found = true;
			continue;
		}
		o += (size_t)snprintf(out + o, KNOWN_MAX - o, "%s\n", line);
		if (o >= KNOWN_MAX) {
			r = -EFBIG;
			goto out;
		}
	}
	if (pub) {
		char hex[65];
		sodium_bin2hex(hex, sizeof(hex), pub, 32);
		snprintf(out + o, KNOWN_MAX + 256 - o, "%s %s\n", server, hex);
	}
	r = write_atomic(dir, "known_servers", out, 0600);
out:
	free(buf);
	free(out);
	return r;
}

int es_known_server_set(const char *dir, const char *server, const uint8_t pub[static 32])
{
	bool found;
	if (strlen(server) > 200 || strchr(server, ' ') || strchr(server, '\n'))
		return -EINVAL;
	return rewrite_known(dir, server, pub, &found);
}

int es_known_server_forget(const char *dir, const char *server)
{
	bool found;
	int r = rewrite_known(dir, server, NULL, &found);
	return r < 0 ? r : found ? 0 : -ENOENT;
}

/*
 * earshot.conf.  inih (as packaged) does not tell the handler its line, so
 * reading goes through our own reader that counts lines (the handler runs
 * right after its line was read), as daemon/config.c does.
 */
struct defaults_ctx {
	struct es_client_defaults *d;
	const char *name;
	struct es_line_source src; /* a FILE or a string, and the line numbers */
	int errors, first_err_line;
};

int es_downlink_parse(const char *v)
{
	char *end;
	errno = 0;
	long k = strtol(v, &end, 10);
	if (errno || end == v || *end || k < ES_DOWNLINK_MIN_KBPS || k > ES_DOWNLINK_MAX_KBPS)
		return -EINVAL;
	return (int)k;
}

static int parse_bool(const char *v)
{
	static const char *yes[] = {"yes", "true", "on", "1"}, *no[] = {"no", "false", "off", "0"};
	for (unsigned i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return 1;
		if (strcasecmp(v, no[i]) == 0)
			return 0;
	}
	return -1;
}

enum dkind { D_TEXT, D_BOOL, D_KBPS };
static const struct dsetting {
	const char *section, *key;
	enum dkind kind;
	size_t off, cap;
} dsettings[] = {
	{"client", "server", D_TEXT, offsetof(struct es_client_defaults, server), sizeof(((struct es_client_defaults *)0)->server)},
	{"client", "name", D_TEXT, offsetof(struct es_client_defaults, name), sizeof(((struct es_client_defaults *)0)->name)},
	{"client", "thin", D_BOOL, offsetof(struct es_client_defaults, thin), 0},
	{"client", "downlink", D_KBPS, offsetof(struct es_client_defaults, downlink), 0},
	{"audio", "input-device", D_TEXT, offsetof(struct es_client_defaults, input_device), sizeof(((struct es_client_defaults *)0)->input_device)},
	{"audio", "output-device", D_TEXT, offsetof(struct es_client_defaults, output_device), sizeof(((struct es_client_defaults *)0)->output_device)},
	{"audio", "echo-cancellation", D_BOOL, offsetof(struct es_client_defaults, aec), 0},
	{"keys", "push-to-talk", D_BOOL, offsetof(struct es_client_defaults, ptt), 0},
};
#define N_DSETTINGS (sizeof(dsettings) / sizeof(dsettings[0]))

static void defaults_error(struct defaults_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void defaults_error(struct defaults_ctx *c, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "earshot: %s:%d: ", c->name, c->src.cur_line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (c->errors++ == 0)
		c->first_err_line = c->src.cur_line;
}

static int on_ini(void *ud, const char *section, const char *key, const char *value)
{
	struct defaults_ctx *c = ud;
	for (size_t i = 0; i < N_DSETTINGS; i++) {
		const struct dsetting *s = &dsettings[i];
		if (strcmp(s->section, section) != 0 || strcmp(s->key, key) != 0)
			continue;
		char *field = (char *)c->d + s->off;
		if (s->kind == D_BOOL) {
			int b = parse_bool(value);
			if (b < 0)
				defaults_error(c, "[%s] %s: expected yes or no, got '%s'", section, key, value);
			else
				*(int *)(void *)field = b;
		} else if (s->kind == D_KBPS) {
			int k = es_downlink_parse(value);
			if (k < 0)
				defaults_error(c, "[%s] %s: expected kbit/s between %d and %d, got '%s'", section, key,
					       ES_DOWNLINK_MIN_KBPS, ES_DOWNLINK_MAX_KBPS, value);
			else
				*(int *)(void *)field = k;
		} else if (value[0] == '\0') {
			defaults_error(c, "[%s] %s: empty (leave the line out for the default)", section, key);
		} else if (strlen(value) >= s->cap) {
			defaults_error(c, "[%s] %s: longer than %zu bytes", section, key, s->cap - 1);
		} else {
			for (const char *p = value; *p; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f) {
					defaults_error(c, "[%s] %s: control characters in the value", section, key);
					return 1;
				}
			memcpy(field, value, strlen(value) + 1);
		}
		return 1; /* keep going: report every bad line at once */
	}
	bool known = false;
	for (size_t i = 0; i < N_DSETTINGS; i++)
		known |= strcmp(dsettings[i].section, section) == 0;
	if (section[0] == '\0')
		defaults_error(c, "%s: setting outside a section; expected [client], [audio] or [keys] first", key);
	else if (!known)
		defaults_error(c, "[%s]: unknown section (known: client, audio, keys)", section);
	else
		defaults_error(c, "[%s] %s: unknown setting (see earshot(1), FILES)", section, key);
	return 1;
}

static int defaults_run(struct defaults_ctx *c)
{
	c->src.next_line = 1;
	int r = ini_parse_stream(es_line_source_read, &c->src, on_ini, c);
	if (r < 0) {
		fprintf(stderr, "earshot: %s: cannot read: out of memory\n", c->name);
		return -ENOMEM;
	}
	/* inih returns the line of the first error, ours or its own (syntax) */
	if (r > 0 && (c->errors == 0 || r < c->first_err_line)) {
		fprintf(stderr, "earshot: %s:%d: syntax error: expected [section], key = value, or a ; or # comment\n",
			c->name, r);
		c->errors++;
	}
	return c->errors ? -EINVAL : 0;
}

int es_defaults_parse(const char *name, const char *text, struct es_client_defaults *d)
{
	struct defaults_ctx c = {.d = d, .name = name, .src.str = text};
	return defaults_run(&c);
}

int es_defaults_load(const char *dir, struct es_client_defaults *d)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/earshot.conf", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		int e = errno;
		fprintf(stderr, "earshot: cannot read %s: %s\n", path, strerror(e));
		return -e;
	}
	struct defaults_ctx c = {.d = d, .name = path, .src.f = f};
	int r = defaults_run(&c);
	fclose(f);
	return r;
}

int es_defaults_save(const char *dir, const struct es_client_defaults *d)
{
	char text[1024];
	size_t n = 0;
	const char *section = "";
	n += (size_t)snprintf(text, sizeof(text), "# written by 'earshot join'; edit freely (earshot(1), FILES)\n");
	for (size_t i = 0; i < N_DSETTINGS && n < sizeof(text); i++) {
		const struct dsetting *s = &dsettings[i];
		const char *field = (const char *)d + s->off;
		int b = s->kind != D_TEXT ? *(const int *)(const void *)field : 0;
		if (s->kind == D_TEXT ? field[0] == '\0' : s->kind == D_KBPS ? b <= 0 : b < 0)
			continue;
		if (strcmp(section, s->section) != 0) {
			section = s->section;
			n += (size_t)snprintf(text + n, sizeof(text) - n, "[%s]\n", section);
			if (n >= sizeof(text))
				break;
		}
		char num[16];
		snprintf(num, sizeof(num), "%d", b);
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s = %s\n", s->key,
				      s->kind == D_TEXT ? field : s->kind == D_KBPS ? num : b ? "yes" : "no");
	}
	if (n >= sizeof(text))
		return -ENAMETOOLONG;
	return write_atomic(dir, "earshot.conf", text, 0600);
}
