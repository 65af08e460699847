/* SPDX-License-Identifier: MIT */
/* earshotd: the Earshot voice daemon. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <enet/enet.h>

#include "admin.h"
#include "config.h"
#include "earshot-mixer.h"
#include "log.h"
#include "server.h"
#include "service.h"

static volatile int stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static struct es_service *service; /* for the SIGHUP handler */

static void on_sighup(int sig)
{
	(void)sig;
	if (service)
		es_service_request_reload(service);
}

int main(int argc, char **argv)
{
	/* settings: config file, then flags (daemon/config.h) */
	struct es_config conf;
	int cr = es_config_load(&conf, argc, argv, stderr);
	if (cr == ES_CONFIG_EXIT)
		return 0;
	if (cr < 0)
		return 1;
	es_log_set_level(conf.log_level);
	if (conf.check_only)
		return es_service_check(&conf, stdout, stderr) < 0 ? 1 : 0;

	struct es_server_config cfg;
	es_server_config_default(&cfg);
	cfg.listen = conf.listen.text;
	cfg.max_people = conf.max_people;
	cfg.range_m = conf.range_m;
	cfg.max_voices = conf.max_voices;
	cfg.bitrate = (int)conf.bitrate;
	cfg.complexity = (int)conf.complexity;
	cfg.mix_threads = conf.mix_threads;
	cfg.limits = conf.limits;

	/* state, metrics, systemd (daemon/service.h) */
	service = es_service_start(&conf, argc, argv);
	if (!service)
		return 1;
	/* the service owns the floor (a SIGHUP may replace it) */
	struct es_floor *floor = es_service_floor(service);
	cfg.floor = floor;
	cfg.hooks = es_service_hooks(service);
	cfg.key_priv = es_service_server_key(service);

	if (enet_initialize() != 0) {
		fprintf(stderr, "earshotd: cannot initialise ENet\n");
		es_service_stop(service);
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	struct sigaction hup = {.sa_handler = on_sighup, .sa_flags = SA_RESTART};
	sigemptyset(&hup.sa_mask);
	sigaction(SIGHUP, &hup, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct es_server *s = es_server_new(&cfg);
	if (!s) {
		enet_deinitialize();
		es_service_stop(service);
		return 1;
	}
	/* earshotctl's socket; the daemon runs without it rather than not at all,
	 * unless another daemon is serving the same state directory */
	struct es_admin_config ac = {.state_dir = conf.state_dir, .listen = cfg.listen, .server = s, .service = service};
	struct es_admin *admin = es_admin_start(&ac);
	if (!admin && errno == EADDRINUSE) {
		es_server_free(s);
		enet_deinitialize();
		es_service_stop(service);
		return 1;
	}
	es_service_attach(service, s, admin);
	es_log_info("listening on %s (up to %u people); join with: earshot --server %s --name YOU",
		cfg.listen, cfg.max_people, cfg.listen);
	char status[128];
	snprintf(status, sizeof(status), "listening on %s", cfg.listen);
	es_service_ready(service, status);
	int r = es_server_run(s, &stop);
	es_service_stopping(service);
	es_service_attach(service, NULL, NULL);
	es_admin_stop(admin);
	struct es_server_counters k;
	es_server_get_counters(s, &k);
	es_log_info(
		"stopped: ticks %llu (late %llu), packets in %llu out %llu, dropped malformed %llu unknown %llu "
		"unjoined %llu oversize %llu late %llu, joins %llu, refused %llu",
		(unsigned long long)k.ticks, (unsigned long long)k.ticks_late, (unsigned long long)k.packets_in,
		(unsigned long long)k.packets_out, (unsigned long long)k.drop_malformed, (unsigned long long)k.drop_unknown,
		(unsigned long long)k.drop_unjoined, (unsigned long long)k.drop_oversize, (unsigned long long)k.drop_late,
		(unsigned long long)k.joins, (unsigned long long)k.refused_full);
	es_server_free(s);
	enet_deinitialize();
	es_service_stop(service); /* final state save */
	service = NULL;
	return r < 0 ? 1 : 0;
}
