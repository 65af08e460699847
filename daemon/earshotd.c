/* SPDX-License-Identifier: MIT */
/* earshotd: the Earshot voice daemon. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <enet/enet.h>

#include "server.h"

static volatile int stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: earshotd [OPTIONS]\n"
		"Earshot voice daemon: mixes everyone's voice for each listener by where they sit.\n\n"
		"  -l, --listen ADDR:PORT   UDP address to listen on (default 127.0.0.1:7700)\n"
		"  -n, --max-people N       most people admitted at once (default 256)\n"
		"  -r, --range METRES       hearing range in open space (default 15)\n"
		"  -h, --help               show this help\n"
		"  -V, --version            show the version\n");
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

int main(int argc, char **argv)
{
	struct es_server_config cfg;
	es_server_config_default(&cfg);
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"max-people", required_argument, NULL, 'n'},
		{"range", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "l:n:r:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			cfg.listen = optarg;
			break;
		case 'n':
			if (parse_uint(optarg, 1, 4000, &cfg.max_people) < 0) {
				fprintf(stderr, "earshotd: --max-people: expected a number 1..4000, got '%s'\n", optarg);
				return 2;
			}
			break;
		case 'r': {
			char *end;
			float r = strtof(optarg, &end);
			if (*end || end == optarg || !(r >= 1.0f && r <= 100.0f)) {
				fprintf(stderr, "earshotd: --range: expected metres 1..100, got '%s'\n", optarg);
				return 2;
			}
			cfg.range_m = r;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("earshotd %s\n", EARSHOT_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "earshotd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (enet_initialize() != 0) {
		fprintf(stderr, "earshotd: cannot initialise ENet\n");
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct es_server *s = es_server_new(&cfg);
	if (!s) {
		enet_deinitialize();
		return 1;
	}
	fprintf(stderr, "earshotd: listening on %s (up to %u people); join with: earshot --server %s --name YOU\n",
		cfg.listen, cfg.max_people, cfg.listen);
	int r = es_server_run(s, &stop);
	struct es_server_counters k;
	es_server_get_counters(s, &k);
	fprintf(stderr,
		"earshotd: stopped: ticks %llu (late %llu), packets in %llu out %llu, dropped malformed %llu unknown %llu "
		"unjoined %llu oversize %llu late %llu, joins %llu, refused %llu\n",
		(unsigned long long)k.ticks, (unsigned long long)k.ticks_late, (unsigned long long)k.packets_in,
		(unsigned long long)k.packets_out, (unsigned long long)k.drop_malformed, (unsigned long long)k.drop_unknown,
		(unsigned long long)k.drop_unjoined, (unsigned long long)k.drop_oversize, (unsigned long long)k.drop_late,
		(unsigned long long)k.joins, (unsigned long long)k.refused_full);
	es_server_free(s);
	enet_deinitialize();
	return r < 0 ? 1 : 0;
}
