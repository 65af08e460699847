/* SPDX-License-Identifier: MIT */
/*
 * The server's life: its configuration, creating and freeing the ENet host,
 * the engine and the helper threads, and what it reports.  The rest of the
 * server lives beside this file, one concern each (server-private.h):
 *   envelope.c    what a peer is sent (sealed or plain) and how a sealed
 *                 envelope from one is opened
 *   handshake.c   the queue of message 1s, admission, refusals, seating
 *   office.c      what members ask: moves, doors, knocks, whispers, leaving;
 *                 a new floor plan applied (es_server_set_floor)
 *   presence.c    who is where, as each room shows it
 *   moderation.c  what an admin does (admin.c calls it)
 *   relocate.c    pure: who a new plan displaces and where they go
 *   tick.c        the 20 ms loop, its timing, ENet service, and where
 *                 each arriving message goes
 * Calls run down that list's layers: tick -> handshake, moderation ->
 * office -> presence -> envelope -> this file (the log).
 * The ENet front door (what an unauthenticated datagram can do) is
 * front-door.c.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <stdarg.h>

#include <sodium.h>

#include "server-private.h"
#include "enet-addr.h"

/* the mixer keeps bundles within budgets by the wire's sizes: they must agree */
_Static_assert(ES_ENGINE_VOICE_OVERHEAD == ES_BUNDLE_VOICE_HEADER, "voice entry size");
_Static_assert(ES_ENGINE_BUNDLE_OVERHEAD == ES_BUNDLE_HEADER + 1 + ES_CIPHER_OVERHEAD + 10 + 28,
	       "bundle overhead: header, sealing, ENet (RAW_UNSEQ_HEADER), IPv4 and UDP");
_Static_assert(ES_ENGINE_FORWARD_MAX == ES_BUNDLE_VOICES_MAX, "voices per bundle");
_Static_assert(ES_ENGINE_BUDGET_MIN_BPS == ES_DOWNLINK_MIN_KBPS * 1000 &&
		       ES_ENGINE_BUDGET_MAX_BPS == ES_DOWNLINK_MAX_KBPS * 1000 &&
		       ES_ENGINE_BUDGET_DEFAULT_BPS == ES_DOWNLINK_DEFAULT_KBPS * 1000,
	       "downlink budgets");
/*
 * ENet slots above max_people, so that arrivals over the limit still get a
 * slot long enough to be told "busy, retry after N s" (a refused slot is
 * free again one round trip later).  ENet allows 4095 peers per host.
 */
static size_t peer_slots(unsigned max_people)
{
	size_t slack = max_people / 2 < 256 ? 256 : max_people / 2;
	size_t n = max_people + slack;
	return n > ENET_PROTOCOL_MAXIMUM_PEER_ID ? ENET_PROTOCOL_MAXIMUM_PEER_ID : n;
}

void srv_logf(const char *level, const char *fmt, ...)
{
	char msg[ES_LOG_LINE_MAX];
	va_list ap;
	enum es_log_level lv = ES_LOG_INFO;
	if (es_log_level_parse(level, &lv) < 0)
		lv = ES_LOG_INFO;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	es_log(lv, "%s", msg);
}

void es_server_config_default(struct es_server_config *cfg)
{
	cfg->listen = "127.0.0.1:7700";
	cfg->max_people = 256;
	cfg->range_m = 15.0f;
	cfg->max_voices = 8;
	cfg->bitrate = 48000; /* as config.c and the docs say */
	cfg->complexity = 5;
	cfg->hooks = NULL;
	cfg->key_priv = NULL;
	cfg->peers_per_address = 64;
	cfg->handshakes_per_tick = 24;
	es_limits_default(&cfg->limits);
}

/*
 * The tick's decodes and encodes spread over one thread per CPU this
 * process may run on (its affinity, which a container or systemd's
 * CPUAffinity= narrows), at most 4: past that the tick's serial part (the
 * covers that pick shared mixes, the bundles' sealing) dominates.
 */
static unsigned auto_threads(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	int n = CPU_COUNT(&set);
	return n < 1 ? 1 : n > 4 ? 4 : (unsigned)n;
}

/* ENet 1.3 hosts carry no user pointer; the daemon has exactly one host. */
static struct es_server *intercept_owner;

/* Raw datagrams, before ENet sees them: the front door's (front-door.h). */
static int ENET_CALLBACK intercept(ENetHost *host, ENetEvent *event)
{
	(void)event;
	struct es_server *s = intercept_owner;
	return s && s->door ? es_front_door_intercept(s->door, host) : 0;
}

static bool slot_authed(void *ud, const ENetPeer *peer)
{
	(void)ud;
	const struct peer_slot *slot = peer->data;
	return slot && slot->st == SLOT_AUTHED;
}

struct es_server *es_server_new(const struct es_server_config *cfg)
{
	struct es_server *s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->cfg = *cfg;
	s->stage.fd = -1;
	int err = ENOMEM;
	ENetAddress addr;
	if (cfg->max_people == 0 || cfg->max_people + 64 > ENET_PROTOCOL_MAXIMUM_PEER_ID) {
		srv_logf("error", "max people must be 1..%d", ENET_PROTOCOL_MAXIMUM_PEER_ID - 64);
		err = EINVAL;
		goto err_free;
	}
	if (es_enet_parse_hostport(cfg->listen, &addr, ES_HOSTPORT_NAMES, 0) < 0) {
		srv_logf("error", "bad listen address '%s' (expected ADDR:PORT)", cfg->listen);
		err = EINVAL;
		goto err_free;
	}
	struct es_engine_config ec;
	es_engine_config_default(&ec);
	ec.max_people = cfg->max_people + ES_SERVER_STAGE_VOICES; /* the rest: remote stage voices (stage.h) */
	ec.ac.range_m = cfg->range_m;
	ec.ac.max_voices = cfg->max_voices;
	ec.bitrate = cfg->bitrate;
	ec.complexity = cfg->complexity;
	ec.mirror_mixes = true; /* the downlink carries ES_MIX_MIRROR and the client swaps */
	ec.threads = cfg->mix_threads ? cfg->mix_threads : auto_threads();
	s->pool = es_pool_new(ec.threads);
	if (!s->pool) {
		err = errno;
		srv_logf("error", "cannot start %u mixing threads: %s", ec.threads, strerror(err));
		goto err_free;
	}
	ec.exec = es_pool_executor(s->pool);
	s->engine = es_engine_new(&ec);
	if (!s->engine) {
		err = errno;
		srv_logf("error", "cannot create the mixer: %s", strerror(err));
		goto err_free;
	}
	srv_logf("info", "mixing on %u thread%s", ec.threads, ec.threads == 1 ? "" : "s");
	es_engine_set_floor(s->engine, cfg->floor);
	s->places = es_places_new(cfg->floor);
	if (!s->places)
		goto err_engine;
	s->people = calloc(cfg->max_people, sizeof(*s->people));
	s->leaves = calloc(cfg->max_people, sizeof(*s->leaves));
	if (!s->people || !s->leaves)
		goto err_engine;
	size_t npeers = peer_slots(cfg->max_people);
	s->slots = calloc(npeers, sizeof(*s->slots));
	s->hs_queue = calloc(npeers, sizeof(*s->hs_queue));
	s->muted_keys = calloc(cfg->max_people, sizeof(*s->muted_keys));
	s->pres_room = calloc(cfg->max_people, sizeof(*s->pres_room));
	s->pres_chg = calloc(cfg->max_people, sizeof(*s->pres_chg));
	s->pres_changed = calloc(cfg->max_people, sizeof(*s->pres_changed));
	s->pres_order = calloc(cfg->max_people, sizeof(*s->pres_order));
	s->pres_e = calloc(2 * (size_t)cfg->max_people, sizeof(*s->pres_e));
	if (!s->slots || !s->hs_queue || !s->muted_keys || !s->pres_room || !s->pres_chg || !s->pres_changed ||
	    !s->pres_order || !s->pres_e)
		goto err_engine;
	if (!cfg->key_priv || es_noise_keypair_from_private(&s->key, cfg->key_priv) < 0) {
		srv_logf("error", "no usable server key");
		err = EINVAL;
		goto err_engine;
	}
	struct es_front_door_config dc = {.server_priv = s->key.priv, .limits = &cfg->limits, .counters = &s->c,
					  .authed = slot_authed, .ud = s};
	s->door = es_front_door_new(&dc);
	if (!s->door)
		goto err_engine;
	s->host = enet_host_create(&addr, npeers, ES_CHAN_COUNT, 0, 0);
	if (!s->host) {
		err = EADDRINUSE;
		srv_logf("error", "cannot listen on %s (in use, or not an address of this machine)", cfg->listen);
		goto err_engine;
	}
	es_front_door_attach(s->door, s->host);
	intercept_owner = s;
	s->host->intercept = intercept;
	s->host->duplicatePeers = cfg->peers_per_address ? cfg->peers_per_address : 64;
	/* slots[i] belongs to host->peers[i] for the host's whole life */
	for (size_t i = 0; i < npeers; i++) {
		s->slots[i].person = -1;
		s->host->peers[i].data = &s->slots[i];
	}
	/* a bundle is ~130 B on an office day, at most ES_MSG_MAX: what does
	 * not fit in the batch goes through ENet as before */
	/* EARSHOTD_NO_SENDER, EARSHOTD_NO_HS_WORKER: for measuring what each thread brings */
	if (!getenv("EARSHOTD_NO_HS_WORKER")) {
		s->hsw = es_hs_worker_new(&s->key, HS_WORKER_DEPTH);
		if (!s->hsw)
			srv_logf("warn", "no handshake worker (%s): handshakes run on the tick thread", strerror(errno));
	}
	if (!getenv("EARSHOTD_NO_SENDER")) {
		s->sender = es_sender_new(s->host->socket, cfg->max_people, (size_t)cfg->max_people * 1024);
		if (!s->sender)
			srv_logf("warn", "no sender thread (%s): audio goes through ENet on the tick thread", strerror(errno));
	}
	return s;

err_engine:
	es_front_door_free(s->door);
	es_places_free(s->places);
	free(s->pres_room);
	free(s->pres_chg);
	free(s->pres_changed);
	free(s->pres_order);
	free(s->pres_e);
	es_keypair_clear(&s->key);
	free(s->muted_keys);
	free(s->hs_queue);
	free(s->slots);
	free(s->leaves);
	free(s->people);
	es_engine_free(s->engine);
err_free:
	es_pool_free(s->pool); /* after the engine that runs on it */
	free(s);
	errno = err;
	return NULL;
}

void es_server_free(struct es_server *s)
{
	if (!s)
		return;
	es_sender_free(s->sender); /* before the socket it sends on */
	es_hs_worker_free(s->hsw);
	if (s->host)
		enet_host_destroy(s->host);
	if (intercept_owner == s)
		intercept_owner = NULL;
	es_front_door_free(s->door);
	es_engine_free(s->engine);
	es_pool_free(s->pool);
	if (s->slots)
		sodium_memzero(s->slots, peer_slots(s->cfg.max_people) * sizeof(*s->slots));
	es_keypair_clear(&s->key);
	free(s->muted_keys);
	es_places_free(s->places);
	free(s->hs_queue);
	free(s->pres_room);
	free(s->pres_chg);
	free(s->pres_changed);
	free(s->pres_order);
	free(s->pres_e);
	free(s->slots);
	free(s->leaves);
	free(s->people);
	free(s);
}

void es_server_get_counters(const struct es_server *s, struct es_server_counters *c)
{
	*c = s->c;
}

const struct es_floor *es_server_floor(const struct es_server *s)
{
	return s->cfg.floor;
}

void es_server_set_limits(struct es_server *s, const struct es_limits *l)
{
	s->cfg.limits = *l;
	es_front_door_set_limits(s->door, l);
}
