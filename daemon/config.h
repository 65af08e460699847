/* SPDX-License-Identifier: MIT */
/*
 * earshotd configuration: every setting, its default, and where it came
 * from.  Settings are read from an INI file (earshotd.conf(5)) and then from
 * command-line flags, which override the file.  The same table drives both,
 * so every file setting has a flag and the same validation and error text.
 *
 * Errors name the file, line, section and key, e.g.
 *   /etc/earshot/earshotd.conf:12: [audio] range_m: expected a number between 1 and 100, got 'abc'
 *   --range-m: expected a number between 1 and 100, got 'abc'
 */
#ifndef EARSHOT_CONFIG_H
#define EARSHOT_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "budget.h"
#include "log.h"

#define ES_CONFIG_DEFAULT_PATH "/etc/earshot/earshotd.conf"
#define ES_CONFIG_DEFAULT_STATE_DIR "/var/lib/earshot"
#define ES_CONFIG_DEFAULT_LISTEN "127.0.0.1:7700"
#define ES_CONFIG_DEFAULT_METRICS "127.0.0.1:9770"

/* es_config_load(): --help or --version was handled, exit with success. */
#define ES_CONFIG_EXIT 1

#define ES_ADDR_STR_MAX 80

/* A parsed "host:port" (IPv4, "[IPv6]:port", or "localhost:port"). */
struct es_addr {
	char text[ES_ADDR_STR_MAX];  /* as written, empty = not set / off */
	char host[64];               /* numeric host without brackets */
	uint16_t port;
	struct sockaddr_storage sa;  /* ready for bind() */
	socklen_t salen;
	bool loopback;               /* 127.0.0.0/8 or ::1 */
};

enum es_enrol_mode {
	ES_ENROL_AUTO = 0, /* open only when listening on loopback */
	ES_ENROL_ON,       /* anyone who connects is enrolled (development) */
	ES_ENROL_OFF,      /* invite codes only */
};

struct es_config {
	/* [server] */
	struct es_addr listen;           /* IPv4 only: ENet 1.3 has no IPv6 */
	char floor_plan[PATH_MAX];       /* empty = built-in office */
	char state_dir[PATH_MAX];
	unsigned max_people;
	unsigned floor_tile_x, floor_tile_y; /* the plan repeated east and south */
	/* [audio] */
	float range_m;                   /* hearing range, metres */
	unsigned max_voices;             /* voices in one mix at most */
	unsigned bitrate;                /* downlink Opus bitrate, bit/s */
	unsigned complexity;             /* Opus encoder complexity 0..10 */
	unsigned mix_threads;            /* threads the tick mixes on, 0: one per CPU (at most 4) */
	/* [metrics] */
	struct es_addr metrics;          /* text empty = metrics off */
	/* [security] */
	enum es_enrol_mode enrol;
	unsigned invite_ttl_s;           /* default lifetime of an invite */
	/* [limits] */
	struct es_limits limits;
	/* [log] */
	enum es_log_level log_level;
	/*
	 * [cluster] (docs/CLUSTER.md): etcd empty = one daemon on its own, as
	 * always.  Set, this daemon is one of a company's daemons: every
	 * daemon has the same floors list and floor plan (each floor is a copy
	 * of the plan, stacked south) and the same server key.
	 */
	char cluster_etcd[512];          /* etcd client URLs, comma-separated */
	char cluster_company[65];        /* the company's key prefix in etcd */
	char cluster_daemon_id[65];      /* unique in the company; empty: the host name */
	char cluster_address[96];        /* host:port clients reach this daemon at; empty: [server] listen */
	char cluster_relay[96];          /* the stage relay's IPv4:port; empty: the client port + 1; "0": any free port */
	char cluster_floors[512];        /* the company's floors, comma-separated names */
	unsigned cluster_capacity;       /* people this daemon hosts at most; 0: max_people */
	unsigned cluster_ttl_s;          /* a dead daemon's floors are free within this (lease TTL) */

	/* not settings: how this configuration was obtained */
	char config_path[PATH_MAX];      /* file read, empty if none */
	bool check_only;                 /* --check-config */
};

/* Fill in every default (and $STATE_DIRECTORY, if systemd set it). */
void es_config_defaults(struct es_config *cfg);

/*
 * Parse argv, read the config file (--config PATH, default
 * ES_CONFIG_DEFAULT_PATH; a missing default file is fine, a missing
 * explicit one is an error), then apply the flags over the file.
 * cfg is filled in from scratch (callers may keep the previous one for
 * SIGHUP and compare).  argv is not modified; getopt state is reset, so
 * the call may be repeated on reload.
 *
 * Returns 0 to run (cfg->check_only says --check-config was given),
 * ES_CONFIG_EXIT after printing --help or --version to stdout, or -EINVAL
 * after printing every problem found to `err` (which stays the caller's).
 */
__attribute__((warn_unused_result))
int es_config_load(struct es_config *cfg, int argc, char **argv, FILE *err);

/*
 * Read settings from an INI text over cfg (what es_config_load does with
 * the file).  `name` is used in error messages.  0 or -EINVAL.
 */
__attribute__((warn_unused_result))
int es_config_parse_string(struct es_config *cfg, const char *name, const char *text, FILE *err);

/*
 * Checks that need the filesystem, for --check-config and start-up: the
 * floor plan (if any) is a readable regular file, the state directory
 * exists or can be created.  Validating the plan's content is the
 * floor-plan parser's job; the daemon calls it after this.  0 or -errno,
 * with a message on err.
 */
__attribute__((warn_unused_result))
int es_config_check(const struct es_config *cfg, FILE *err);

/*
 * The [cluster] floors list split: up to max names of 1..64 bytes
 * [A-Za-z0-9._-] each, written to names[i] (65 bytes each).  Returns how
 * many (0 without [cluster] etcd), or -EINVAL.
 */
#define ES_COMPANY_FLOORS_MAX 16
int es_config_floors(const struct es_config *cfg, char names[][65], unsigned max);

/* Whether unknown keys may enrol themselves, with "auto" resolved. */
bool es_config_open_enrolment(const struct es_config *cfg);

/*
 * Parse "host:port": "127.0.0.1:7700", "[::1]:9770", "localhost:7700",
 * "0.0.0.0:7700".  Port 0 is allowed (tests: any free port).  An empty
 * string gives an empty (off) address.  0 or -EINVAL.
 */
__attribute__((warn_unused_result))
int es_addr_parse(const char *text, struct es_addr *out);

/* Write the settings in effect as an INI file (for --check-config -v, logs). */
void es_config_dump(const struct es_config *cfg, FILE *out);

/* The --help text. */
void es_config_usage(FILE *out, const char *argv0);

#endif
