/* SPDX-License-Identifier: MIT */
#include "config.h"
#include "line-source.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <math.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum setting_type {
	T_ADDR4,     /* host:port, IPv4, required */
	T_ADDR_OPT,  /* host:port, IPv4 or IPv6, empty = off */
	T_PATH,      /* any string up to PATH_MAX - 1, may be empty */
	T_DIR,       /* absolute path, not empty */
	T_UINT,
	T_FLOAT,
	T_ENROL,
	T_LOGLEVEL,
	T_RATE,      /* "20/s burst 60" (budget.h) */
	T_WORDS,     /* a string of [A-Za-z0-9._-:/,[]] (ids, URLs, lists), max = its buffer's size */
};

struct setting {
	const char *section;
	const char *key;
	const char *flag;       /* long option name */
	char short_opt;         /* 0 = none */
	enum setting_type type;
	size_t off;             /* offsetof(struct es_config, ...) */
	double min, max;        /* T_UINT, T_FLOAT */
	const char *meta;       /* for --help */
	const char *help;
};

#define OFF(f) offsetof(struct es_config, f)

/*
 * The one list of settings.  Adding a setting here gives it a file key, a
 * flag, validation and a --help line; earshotd.conf(5) and
 * docs/earshotd.conf.example are updated by hand.
 */
static const struct setting settings[] = {
	{ "server", "listen", "listen", 'l', T_ADDR4, OFF(listen), 0, 0, "ADDR:PORT",
	  "UDP address for clients (default " ES_CONFIG_DEFAULT_LISTEN ")" },
	{ "server", "floor_plan", "floor-plan", 0, T_PATH, OFF(floor_plan), 0, 0, "FILE",
	  "floor plan file; builtin = the built-in office (default), none = open space" },
	{ "server", "floor_tile_x", "floor-tile-x", 0, T_UINT, OFF(floor_tile_x), 1, 16, "N",
	  "repeat the floor plan N times east (default 1)" },
	{ "server", "floor_tile_y", "floor-tile-y", 0, T_UINT, OFF(floor_tile_y), 1, 16, "N",
	  "repeat the floor plan N times south (default 1)" },
	{ "server", "state_dir", "state-dir", 0, T_DIR, OFF(state_dir), 0, 0, "DIR",
	  "persistent state (default $STATE_DIRECTORY or " ES_CONFIG_DEFAULT_STATE_DIR ")" },
	{ "server", "max_people", "max-people", 'n', T_UINT, OFF(max_people), 1, 4000, "N",
	  "people admitted at once (default 2000)" },
	{ "audio", "range_m", "range", 'r', T_FLOAT, OFF(range_m), 1, 100, "METRES",
	  "hearing range (default 15)" },
	{ "audio", "max_voices", "max-voices", 0, T_UINT, OFF(max_voices), 1, 8, "N",
	  "voices one listener hears at most, forwarded or mixed (default 8)" },
	{ "audio", "bitrate", "bitrate", 0, T_UINT, OFF(bitrate), 6000, 256000, "BPS",
	  "Opus bitrate of each mix, bit/s (default 48000)" },
	{ "audio", "complexity", "complexity", 0, T_UINT, OFF(complexity), 0, 10, "N",
	  "Opus encoder complexity 0-10 (default 5)" },
	{ "audio", "mix_threads", "mix-threads", 0, T_UINT, OFF(mix_threads), 0, 16, "N",
	  "threads the tick decodes, plans, mixes and encodes on; 0 = one per CPU, at most 4 (default 0)" },
	{ "metrics", "listen", "metrics-listen", 0, T_ADDR_OPT, OFF(metrics), 0, 0, "ADDR:PORT",
	  "Prometheus /metrics over HTTP, empty = off (default " ES_CONFIG_DEFAULT_METRICS ")" },
	{ "security", "open_enrolment", "open-enrolment", 0, T_ENROL, OFF(enrol), 0, 0, "auto|on|off",
	  "let unknown keys enrol themselves; auto = only on loopback (default auto)" },
	{ "security", "invite_ttl_s", "invite-ttl", 0, T_UINT, OFF(invite_ttl_s), 60, 31536000, "SECONDS",
	  "default lifetime of an invite code (default 604800, 7 days)" },
	{ "limits", "cookie_replies", "limit-cookie-replies", 0, T_RATE, OFF(limits.cookies), 0, 0, "RATE",
	  "cookie replies, all addresses together (default 20000/s burst 20000)" },
	{ "limits", "handshakes_per_address", "limit-handshakes", 0, T_RATE, OFF(limits.handshakes), 0, 0, "RATE",
	  "handshakes from one address that proved it receives (default 20/s burst 60)" },
	{ "limits", "moves", "limit-moves", 0, T_RATE, OFF(limits.request[ES_REQ_MOVE]), 0, 0, "RATE",
	  "moves per person (default 50/s burst 100)" },
	{ "limits", "state_changes", "limit-state", 0, T_RATE, OFF(limits.request[ES_REQ_STATE]), 0, 0, "RATE",
	  "mute/focus changes per person (default 10/s burst 20)" },
	{ "limits", "doors", "limit-doors", 0, T_RATE, OFF(limits.request[ES_REQ_DOOR]), 0, 0, "RATE",
	  "door changes per person (default 2/s burst 6)" },
	{ "limits", "knocks", "limit-knocks", 0, T_RATE, OFF(limits.request[ES_REQ_KNOCK]), 0, 0, "RATE",
	  "knocks per person (default 1/s burst 3)" },
	{ "limits", "whispers", "limit-whispers", 0, T_RATE, OFF(limits.request[ES_REQ_WHISPER]), 0, 0, "RATE",
	  "whisper starts and stops per person (default 4/s burst 8)" },
	{ "limits", "volume_changes", "limit-volume", 0, T_RATE, OFF(limits.request[ES_REQ_VOLUME]), 0, 0, "RATE",
	  "personal volume changes per person (default 20/s burst 40)" },
	{ "log", "level", "log-level", 0, T_LOGLEVEL, OFF(log_level), 0, 0, "LEVEL",
	  "error, warn, info or debug (default info)" },
	{ "cluster", "etcd", "cluster-etcd", 0, T_WORDS, OFF(cluster_etcd), 0, sizeof(((struct es_config *)0)->cluster_etcd), "URLS",
	  "etcd client URLs, comma-separated: run as one daemon of a company (default: none, on its own)" },
	{ "cluster", "company", "cluster-company", 0, T_WORDS, OFF(cluster_company), 0, sizeof(((struct es_config *)0)->cluster_company), "NAME",
	  "the company's name in etcd (default earshot)" },
	{ "cluster", "daemon_id", "cluster-daemon-id", 0, T_WORDS, OFF(cluster_daemon_id), 0, sizeof(((struct es_config *)0)->cluster_daemon_id), "ID",
	  "this daemon's id, unique in the company (default: the host name)" },
	{ "cluster", "address", "cluster-address", 0, T_WORDS, OFF(cluster_address), 0, sizeof(((struct es_config *)0)->cluster_address), "HOST:PORT",
	  "where clients reach this daemon (default: [server] listen)" },
	{ "cluster", "relay", "cluster-relay", 0, T_WORDS, OFF(cluster_relay), 0, sizeof(((struct es_config *)0)->cluster_relay), "IP:PORT",
	  "the company-wide stage relay's UDP address, 0 for any free port (default: the client port + 1, or any free port if taken)" },
	{ "cluster", "floors", "cluster-floors", 0, T_WORDS, OFF(cluster_floors), 0, sizeof(((struct es_config *)0)->cluster_floors), "NAMES",
	  "the company's floors, comma-separated, the same on every daemon (default 1)" },
	{ "cluster", "capacity", "cluster-capacity", 0, T_UINT, OFF(cluster_capacity), 0, 4000, "N",
	  "people this daemon takes floors for (default: max_people)" },
	{ "cluster", "ttl_s", "cluster-ttl", 0, T_UINT, OFF(cluster_ttl_s), 1, 60, "SECONDS",
	  "a dead daemon's floors are taken over within this (default 3)" },
};
#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

void es_config_defaults(struct es_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	int r = es_addr_parse(ES_CONFIG_DEFAULT_LISTEN, &cfg->listen);
	r |= es_addr_parse(ES_CONFIG_DEFAULT_METRICS, &cfg->metrics);
	(void)r; /* constants, checked by the unit test */
	snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s", ES_CONFIG_DEFAULT_STATE_DIR);
	/* systemd's StateDirectory= sets a colon-separated list; ours is the first */
	const char *sd = getenv("STATE_DIRECTORY");
	if (sd && sd[0] == '/') {
		size_t n = strcspn(sd, ":");
		if (n < sizeof(cfg->state_dir))
			snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%.*s", (int)n, sd);
	}
	cfg->max_people = 2000;
	cfg->range_m = 15.0f;
	cfg->max_voices = 8;
	cfg->bitrate = 48000;
	cfg->floor_tile_x = 1;
	cfg->floor_tile_y = 1;
	cfg->complexity = 5;
	cfg->enrol = ES_ENROL_AUTO;
	cfg->invite_ttl_s = 7 * 24 * 3600;
	cfg->log_level = ES_LOG_INFO;
	es_limits_default(&cfg->limits);
	snprintf(cfg->cluster_company, sizeof(cfg->cluster_company), "earshot");
	snprintf(cfg->cluster_floors, sizeof(cfg->cluster_floors), "1");
	cfg->cluster_ttl_s = 3;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return false;
}

int es_addr_parse(const char *text, struct es_addr *out)
{
	char host[64];
	const char *port_s;
	size_t hl;

	memset(out, 0, sizeof(*out));
	if (text[0] == '\0')
		return 0;
	if (strlen(text) >= sizeof(out->text))
		return -EINVAL;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		hl = (size_t)(close - text - 1);
		if (hl == 0 || hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, text + 1, hl);
		port_s = close + 2;
	} else {
		const char *colon = strrchr(text, ':');
		if (!colon || strchr(text, ':') != colon)
			return -EINVAL;
		hl = (size_t)(colon - text);
		if (hl == 0 || hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, text, hl);
		port_s = colon + 1;
	}
	host[hl] = '\0';

	char *end;
	errno = 0;
	if (port_s[0] < '0' || port_s[0] > '9')
		return -EINVAL;
	unsigned long port = strtoul(port_s, &end, 10);
	if (errno || *end != '\0' || port > 65535)
		return -EINVAL;

	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");

	struct sockaddr_in *in = (struct sockaddr_in *)&out->sa;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->sa;
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		out->salen = sizeof(*in);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		out->salen = sizeof(*in6);
	} else {
		memset(out, 0, sizeof(*out));
		return -EINVAL;
	}
	snprintf(out->text, sizeof(out->text), "%s", text);
	snprintf(out->host, sizeof(out->host), "%s", host);
	out->port = (uint16_t)port;
	out->loopback = is_loopback(&out->sa);
	return 0;
}

static const char *const enrol_names[] = {
	[ES_ENROL_AUTO] = "auto", [ES_ENROL_ON] = "on", [ES_ENROL_OFF] = "off",
};

/*
 * Set one setting from its text.  On failure, writes the reason ("expected
 * ..., got '...'") into why and returns -EINVAL; cfg is unchanged then.
 */
static int setting_apply(struct es_config *cfg, const struct setting *s, const char *value, char *why, size_t whylen)
{
	char *p = (char *)cfg + s->off;
	char *end;

	switch (s->type) {
	case T_ADDR4:
	case T_ADDR_OPT: {
		struct es_addr a;
		if (es_addr_parse(value, &a) < 0 || (s->type == T_ADDR4 && a.sa.ss_family != AF_INET)) {
			snprintf(why, whylen, "expected %s, got '%s'",
				s->type == T_ADDR4 ? "an IPv4 address and port like 127.0.0.1:7700"
				                   : "an address and port like 127.0.0.1:9770 or [::1]:9770, or nothing",
				value);
			return -EINVAL;
		}
		memcpy(p, &a, sizeof(a));
		return 0;
	}
	case T_PATH:
	case T_DIR:
		if (strlen(value) >= PATH_MAX) {
			snprintf(why, whylen, "expected a path shorter than %d bytes", PATH_MAX);
			return -EINVAL;
		}
		if (s->type == T_DIR && value[0] != '/') {
			snprintf(why, whylen, "expected an absolute directory path, got '%s'", value);
			return -EINVAL;
		}
		memcpy(p, value, strlen(value) + 1);
		return 0;
	case T_UINT: {
		unsigned long v;
		errno = 0;
		v = strtoul(value, &end, 10);
		if (value[0] < '0' || value[0] > '9' || errno || *end != '\0' || v < s->min || v > s->max) {
			snprintf(why, whylen, "expected a whole number between %.0f and %.0f, got '%s'", s->min, s->max, value);
			return -EINVAL;
		}
		*(unsigned *)p = (unsigned)v;
		return 0;
	}
	case T_FLOAT: {
		double v;
		errno = 0;
		v = strtod(value, &end);
		if (value[0] == '\0' || end == value || errno || *end != '\0' || !isfinite(v) || v < s->min || v > s->max) {
			snprintf(why, whylen, "expected a number between %g and %g, got '%s'", s->min, s->max, value);
			return -EINVAL;
		}
		*(float *)p = (float)v;
		return 0;
	}
	case T_ENROL:
		for (unsigned i = 0; i < 3; i++) {
			if (strcmp(value, enrol_names[i]) == 0) {
				*(enum es_enrol_mode *)p = (enum es_enrol_mode)i;
				return 0;
			}
		}
		snprintf(why, whylen, "expected auto, on or off, got '%s'", value);
		return -EINVAL;
	case T_LOGLEVEL: {
		enum es_log_level lv;
		if (es_log_level_parse(value, &lv) < 0) {
			snprintf(why, whylen, "expected error, warn, info or debug, got '%s'", value);
			return -EINVAL;
		}
		*(enum es_log_level *)p = lv;
		return 0;
	}
	case T_WORDS: {
		size_t n = strlen(value);
		if (n >= (size_t)s->max) {
			snprintf(why, whylen, "expected at most %.0f bytes, got %zu", s->max - 1, n);
			return -EINVAL;
		}
		for (size_t i = 0; i < n; i++)
			if (!isalnum((unsigned char)value[i]) && !strchr("._-:/,[]", value[i])) {
				snprintf(why, whylen, "expected letters, digits and ._-:/,[] only, got '%s'", value);
				return -EINVAL;
			}
		memcpy(p, value, n + 1);
		return 0;
	}
	case T_RATE:
		if (es_rate_parse(value, (struct es_rate *)(void *)p) < 0) {
			snprintf(why, whylen, "expected a rate like 20/s or 30/min, optionally followed by burst N "
				 "(at most 100000/s, burst 1 to 100000), got '%s'", value);
			return -EINVAL;
		}
		return 0;
	}
	snprintf(why, whylen, "internal error: unknown setting type");
	return -EINVAL;
}

/* ---- INI file ----------------------------------------------------------- */

/*
 * inih (as packaged, INI_HANDLER_LINENO=0) does not tell the handler which
 * line it is on, so reading goes through our own reader, which counts lines;
 * the handler is always called right after its line was read.
 */
struct ini_ctx {
	struct es_config *cfg;
	const char *name;
	FILE *err;
	struct es_line_source src; /* a FILE or a string, and the line numbers */
	int errors;
	int first_err_line;
};

static int config_ini_handler(void *user, const char *section, const char *key, const char *value)
{
	struct ini_ctx *c = user;
	char why[PATH_MAX + 160];

	for (size_t i = 0; i < N_SETTINGS; i++) {
		const struct setting *s = &settings[i];
		if (strcmp(s->section, section) != 0 || strcmp(s->key, key) != 0)
			continue;
		int bad;
		bool comment_inside = false;
		for (size_t k = 1; value[k] && !comment_inside; k++)
			comment_inside = value[k] == ';' && isspace((unsigned char)value[k - 1]);
		if (value[0] == ';' || value[0] == '#' || comment_inside) {
			/* written back as "key = value", a leading ';' or '#', or a ';'
			 * after a space, reads as a comment: such a value could never
			 * be saved, so refuse it now */
			snprintf(why, sizeof(why), "a value may not start with ';' or '#' or have a ';' after white space (it reads as a comment)");
			bad = -EINVAL;
		} else if (strlen(key) + strlen(value) + 4 >= INI_MAX_LINE) {
			/* inih reads at most INI_MAX_LINE bytes a line: longer (or
			 * continued) values would not read back as written */
			snprintf(why, sizeof(why), "longer than one line of this file can hold (%d bytes): use a shorter value",
				 INI_MAX_LINE - 5 - (int)strlen(key));
			bad = -EINVAL;
		} else
			bad = setting_apply(c->cfg, s, value, why, sizeof(why));
		if (bad < 0) {
			fprintf(c->err, "%s:%d: [%s] %s: %s\n", c->name, c->src.cur_line, section, key, why);
			if (c->errors++ == 0)
				c->first_err_line = c->src.cur_line;
		}
		return 1; /* keep going: report every bad line at once */
	}

	bool section_known = false;
	for (size_t i = 0; i < N_SETTINGS; i++)
		section_known |= strcmp(settings[i].section, section) == 0;
	if (section[0] == '\0')
		fprintf(c->err, "%s:%d: %s: setting outside a section; expected [server], [audio], [metrics], [security], [limits], [log] or [cluster] first\n",
			c->name, c->src.cur_line, key);
	else if (!section_known)
		fprintf(c->err, "%s:%d: [%s]: unknown section (known: server, audio, metrics, security, limits, log, cluster)\n",
			c->name, c->src.cur_line, section);
	else
		fprintf(c->err, "%s:%d: [%s] %s: unknown setting\n", c->name, c->src.cur_line, section, key);
	if (c->errors++ == 0)
		c->first_err_line = c->src.cur_line;
	return 1;
}

static int ini_run(struct ini_ctx *c)
{
	c->src.next_line = 1;
	int r = ini_parse_stream(es_line_source_read, &c->src, config_ini_handler, c);
	if (r < 0) {
		fprintf(c->err, "%s: cannot read: out of memory\n", c->name);
		return -ENOMEM;
	}
	/* inih returns the line of the first error, ours or its own (syntax) */
	if (r > 0 && (c->errors == 0 || r < c->first_err_line)) {
		fprintf(c->err, "%s:%d: syntax error: expected [section], key = value, or a ; comment\n", c->name, r);
		c->errors++;
	}
	return c->errors ? -EINVAL : 0;
}

int es_config_parse_string(struct es_config *cfg, const char *name, const char *text, FILE *err)
{
	struct ini_ctx c = { .cfg = cfg, .name = name, .err = err, .src.str = text };
	return ini_run(&c);
}

static int config_parse_file(struct es_config *cfg, const char *path, bool explicit, FILE *err)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = errno;
		if (e == ENOENT && !explicit)
			return 0;
		fprintf(err, "%s: cannot open config file: %s\n", path, strerror(e));
		return -e;
	}
	snprintf(cfg->config_path, sizeof(cfg->config_path), "%s", path);
	struct ini_ctx c = { .cfg = cfg, .name = path, .err = err, .src.f = f };
	int r = ini_run(&c);
	if (r == 0 && ferror(f)) {
		fprintf(err, "%s: read error\n", path);
		r = -EIO;
	}
	fclose(f);
	return r;
}

/* ---- command line ------------------------------------------------------- */

enum {
	OPT_HELP = 'h',
	OPT_VERSION = 'V',
	OPT_CONFIG = 'c',
	OPT_CHECK = 0x100,
	OPT_SETTING = 0x200, /* + index into settings[] */
};

void es_config_usage(FILE *out, const char *argv0)
{
	fprintf(out,
		"Usage: %s [OPTION]...\n"
		"The Earshot voice daemon: one UDP port, one mix per listener.\n\n"
		"  -c, --config=FILE        config file (default " ES_CONFIG_DEFAULT_PATH ");\n"
		"                           flags below override its settings\n"
		"      --check-config       check the configuration and floor plan, then exit\n"
		"  -h, --help               show this help and exit\n"
		"  -V, --version            show the version and exit\n\n"
		"Settings (file section and key in brackets):\n", argv0);
	for (size_t i = 0; i < N_SETTINGS; i++) {
		const struct setting *s = &settings[i];
		char left[64];
		snprintf(left, sizeof(left), "--%s=%s", s->flag, s->meta);
		if (s->short_opt)
			fprintf(out, "  -%c, ", s->short_opt);
		else
			fprintf(out, "      ");
		fprintf(out, "%-24s %s\n%33s[%s] %s\n", left, s->help, "", s->section, s->key);
	}
	fprintf(out, "\nSee earshotd(8) and earshotd.conf(5).\n");
}

int es_config_load(struct es_config *cfg, int argc, char **argv, FILE *err)
{
	struct option opts[N_SETTINGS + 5];
	size_t n = 0;
	const char *config_path = ES_CONFIG_DEFAULT_PATH;
	bool config_explicit = false;
	int errors = 0;
	int r;
	/* flags are applied after the file: remember (setting, value) pairs */
	struct { const struct setting *s; const char *value; } *later = NULL;
	size_t n_later = 0;
	const char *argv0 = argc > 0 && argv[0] ? argv[0] : "earshotd";

	es_config_defaults(cfg);

	later = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*later));
	if (!later) {
		fprintf(err, "out of memory\n");
		return -EINVAL;
	}

	opts[n++] = (struct option){ "help", no_argument, NULL, OPT_HELP };
	opts[n++] = (struct option){ "version", no_argument, NULL, OPT_VERSION };
	opts[n++] = (struct option){ "config", required_argument, NULL, OPT_CONFIG };
	opts[n++] = (struct option){ "check-config", no_argument, NULL, OPT_CHECK };
	for (size_t i = 0; i < N_SETTINGS; i++)
		opts[n++] = (struct option){ settings[i].flag, required_argument, NULL, OPT_SETTING + (int)i };
	opts[n] = (struct option){ 0 };

	optind = 0; /* GNU: full reset, so a reload can parse again */
	opterr = 0;
	for (;;) {
		int c = getopt_long(argc, argv, ":hVc:l:n:r:", opts, NULL);
		if (c == -1)
			break;
		switch (c) {
		case OPT_HELP:
			es_config_usage(stdout, argv0);
			free(later);
			return ES_CONFIG_EXIT;
		case OPT_VERSION:
			printf("earshotd %s\n", EARSHOT_VERSION);
			free(later);
			return ES_CONFIG_EXIT;
		case OPT_CONFIG:
			config_path = optarg;
			config_explicit = true;
			break;
		case OPT_CHECK:
			cfg->check_only = true;
			break;
		case ':':
			fprintf(err, "%s: option '%s' needs a value\n", argv0, argv[optind - 1]);
			errors++;
			break;
		case '?':
			if (optopt)
				fprintf(err, "%s: unknown option '-%c' (see --help)\n", argv0, optopt);
			else
				fprintf(err, "%s: unknown option '%s' (see --help)\n", argv0, argv[optind - 1]);
			errors++;
			break;
		default:
			for (size_t i = 0; i < N_SETTINGS; i++)
				if (settings[i].short_opt && c == settings[i].short_opt)
					c = OPT_SETTING + (int)i;
			if (c >= OPT_SETTING && c < OPT_SETTING + (int)N_SETTINGS) {
				later[n_later].s = &settings[c - OPT_SETTING];
				later[n_later].value = optarg;
				n_later++;
			}
			break;
		}
	}
	if (optind < argc) {
		fprintf(err, "%s: unexpected argument '%s' (see --help)\n", argv0, argv[optind]);
		errors++;
	}

	bool check_only = cfg->check_only;
	r = config_parse_file(cfg, config_path, config_explicit, err);
	if (r < 0)
		errors++;
	cfg->check_only = check_only;

	for (size_t i = 0; i < n_later; i++) {
		char why[PATH_MAX + 160];
		if (setting_apply(cfg, later[i].s, later[i].value, why, sizeof(why)) < 0) {
			fprintf(err, "--%s: %s\n", later[i].s->flag, why);
			errors++;
		}
	}
	free(later);
	return errors ? -EINVAL : 0;
}

/* ---- checks that touch the filesystem ----------------------------------- */

int es_config_check(const struct es_config *cfg, FILE *err)
{
	struct stat st;
	int r = 0;

	if (cfg->floor_plan[0]) {
		if (stat(cfg->floor_plan, &st) < 0) {
			r = -errno;
			fprintf(err, "[server] floor_plan: %s: %s\n", cfg->floor_plan, strerror(errno));
		} else if (!S_ISREG(st.st_mode)) {
			r = -EINVAL;
			fprintf(err, "[server] floor_plan: %s: not a regular file\n", cfg->floor_plan);
		} else if (access(cfg->floor_plan, R_OK) < 0) {
			r = -errno;
			fprintf(err, "[server] floor_plan: %s: %s\n", cfg->floor_plan, strerror(errno));
		}
	}
	if (stat(cfg->state_dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			r = -ENOTDIR;
			fprintf(err, "[server] state_dir: %s: not a directory\n", cfg->state_dir);
		} else if (access(cfg->state_dir, W_OK | X_OK) < 0 && !cfg->check_only) {
			r = -errno;
			fprintf(err, "[server] state_dir: %s: %s\n", cfg->state_dir, strerror(errno));
		}
	} else if (errno != ENOENT) {
		r = -errno;
		fprintf(err, "[server] state_dir: %s: %s\n", cfg->state_dir, strerror(errno));
	}
	/* a missing state_dir is created by es_state_save() */
	if (cfg->cluster_etcd[0]) {
		char names[ES_COMPANY_FLOORS_MAX][65];
		if (es_config_floors(cfg, names, ES_COMPANY_FLOORS_MAX) < 0) {
			r = -EINVAL;
			fprintf(err, "[cluster] floors: expected 1 to %d distinct names of letters, digits and ._- "
				"(at most 64 bytes each), comma-separated, got '%s'\n", ES_COMPANY_FLOORS_MAX, cfg->cluster_floors);
		}
		if (cfg->floor_tile_y > 1) {
			r = -EINVAL;
			fprintf(err, "[server] floor_tile_y: a company stacks its floors south: leave it at 1 with [cluster] etcd\n");
		}
		struct es_addr a;
		if (cfg->cluster_address[0] && es_addr_parse(cfg->cluster_address, &a) < 0) {
			r = -EINVAL;
			fprintf(err, "[cluster] address: expected host:port, got '%s'\n", cfg->cluster_address);
		}
		if (!cfg->cluster_address[0] && (cfg->listen.sa.ss_family != AF_INET ||
		    ((const struct sockaddr_in *)&cfg->listen.sa)->sin_addr.s_addr == 0 || cfg->listen.port == 0)) {
			r = -EINVAL;
			fprintf(err, "[cluster] address: [server] listen %s is not an address clients can reach: set it\n",
				cfg->listen.text);
		}
		if (!cfg->cluster_company[0]) {
			r = -EINVAL;
			fprintf(err, "[cluster] company: may not be empty\n");
		}
	}
	if (cfg->metrics.text[0] && !cfg->metrics.loopback)
		fprintf(err, "warning: [metrics] listen: %s is not a loopback address; "
			"the metrics are readable by anyone who can reach it\n", cfg->metrics.text);
	return r;
}

int es_config_floors(const struct es_config *cfg, char names[][65], unsigned max)
{
	if (!cfg->cluster_etcd[0])
		return 0;
	unsigned n = 0;
	const char *p = cfg->cluster_floors;
	for (;;) {
		size_t len = strcspn(p, ",");
		if (len == 0 || len > 64 || n >= max)
			return -EINVAL;
		for (size_t i = 0; i < len; i++)
			if (!isalnum((unsigned char)p[i]) && !strchr("._-", p[i]))
				return -EINVAL;
		memcpy(names[n], p, len);
		names[n][len] = 0;
		for (unsigned k = 0; k < n; k++)
			if (strcmp(names[k], names[n]) == 0)
				return -EINVAL;
		n++;
		if (!p[len])
			return (int)n;
		p += len + 1;
	}
}

bool es_config_open_enrolment(const struct es_config *cfg)
{
	switch (cfg->enrol) {
	case ES_ENROL_ON:
		return true;
	case ES_ENROL_OFF:
		return false;
	case ES_ENROL_AUTO:
	default:
		return cfg->listen.loopback;
	}
}

void es_config_dump(const struct es_config *cfg, FILE *out)
{
	const char *last = "";
	for (size_t i = 0; i < N_SETTINGS; i++) {
		const struct setting *s = &settings[i];
		const char *p = (const char *)cfg + s->off;
		if (strcmp(last, s->section) != 0) {
			fprintf(out, "%s[%s]\n", i ? "\n" : "", s->section);
			last = s->section;
		}
		fprintf(out, "%s = ", s->key);
		switch (s->type) {
		case T_ADDR4:
		case T_ADDR_OPT:
			fprintf(out, "%s\n", ((const struct es_addr *)p)->text);
			break;
		case T_PATH:
		case T_DIR:
		case T_WORDS:
			fprintf(out, "%s\n", p);
			break;
		case T_UINT:
			fprintf(out, "%u\n", *(const unsigned *)p);
			break;
		case T_FLOAT:
			fprintf(out, "%g\n", *(const float *)p);
			break;
		case T_ENROL:
			fprintf(out, "%s\n", enrol_names[*(const enum es_enrol_mode *)p]);
			break;
		case T_LOGLEVEL:
			fprintf(out, "%s\n", es_log_level_name(*(const enum es_log_level *)p));
			break;
		case T_RATE: {
			char t[ES_RATE_TEXT_MAX + 1];
			fprintf(out, "%s\n", es_rate_format((const struct es_rate *)(const void *)p, t, sizeof(t)) < 0 ? "?" : t);
			break;
		}
		}
	}
}
