/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
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
#include "identity.h"

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

int es_identity_load(const char *dir, struct es_keypair *kp)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/identity.key", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	FILE *f = fopen(path, "r");
	if (f) {
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
	if (errno != ENOENT)
		return -errno;
	es_noise_keypair(kp);
	char line[66];
	sodium_bin2hex(line, 65, kp->priv, 32);
	line[64] = '\n';
	line[65] = 0;
	int r = write_atomic(dir, "identity.key", line, 0600);
	sodium_memzero(line, sizeof(line));
	return r;
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

static int on_ini(void *ud, const char *section, const char *key, const char *value)
{
	struct es_client_defaults *d = ud;
	if (strcmp(section, "client") != 0)
		return 1; /* other sections belong to other parts of the client */
	if (strcmp(key, "server") == 0)
		snprintf(d->server, sizeof(d->server), "%s", value);
	else if (strcmp(key, "name") == 0)
		snprintf(d->name, sizeof(d->name), "%s", value);
	return 1;
}

int es_defaults_load(const char *dir, struct es_client_defaults *d)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/earshot.conf", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int r = ini_parse(path, on_ini, d);
	if (r == -1)
		return errno == ENOENT ? 0 : -errno;
	if (r != 0) {
		fprintf(stderr, "earshot: %s:%d: cannot parse this line\n", path, r);
		return -EINVAL;
	}
	return 0;
}

int es_defaults_save(const char *dir, const struct es_client_defaults *d)
{
	char text[512];
	snprintf(text, sizeof(text), "# written by 'earshot join'; edit freely\n[client]\nserver = %s\nname = %s\n",
		 d->server, d->name);
	return write_atomic(dir, "earshot.conf", text, 0600);
}
