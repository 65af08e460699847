/* SPDX-License-Identifier: MIT */
/*
 * The server loop.  One thread: between ticks it waits on the ENet socket
 * with an absolute CLOCK_MONOTONIC deadline, drains what arrived, and at the
 * deadline runs the tick (engine, bundles, presence), flushes, and moves the
 * deadline on by exactly 20 ms, so ticks never drift.
 *
 * Nothing about a person exists before their HELLO is accepted: a connected
 * peer that has not joined holds only its ENet slot and its connect time,
 * and is reset after PREJOIN_MS.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <enet/enet.h>

#include <sodium.h>

#include "clock.h"
#include "earshot-crypto.h"
#include "earshot-mixer.h"
#include "earshot-proto.h"
#include "front-door.h"
#include "hs-worker.h"
#include "log.h"
#include "places.h"
#include "sender.h"
#include "server.h"

#define TICK_NS 20000000LL

/* the mixer keeps bundles within budgets by the wire's sizes: they must agree */
_Static_assert(ES_ENGINE_VOICE_OVERHEAD == ES_BUNDLE_VOICE_HEADER, "voice entry size");
_Static_assert(ES_ENGINE_BUNDLE_OVERHEAD == ES_BUNDLE_HEADER + 1 + ES_CIPHER_OVERHEAD + 10 + 28,
	       "bundle overhead: header, sealing, ENet (RAW_UNSEQ_HEADER), IPv4 and UDP");
_Static_assert(ES_ENGINE_FORWARD_MAX == ES_BUNDLE_VOICES_MAX, "voices per bundle");
_Static_assert(ES_ENGINE_BUDGET_MIN_BPS == ES_DOWNLINK_MIN_KBPS * 1000 &&
		       ES_ENGINE_BUDGET_MAX_BPS == ES_DOWNLINK_MAX_KBPS * 1000 &&
		       ES_ENGINE_BUDGET_DEFAULT_BPS == ES_DOWNLINK_DEFAULT_KBPS * 1000,
	       "downlink budgets");
#define PREJOIN_MS 2000
#define PREJOIN_QUEUED_MS 15000
#define PRESENCE_EVERY 5   /* ticks between presence delta batches */
#define TALK_HOLD_TICKS 10 /* talking shows for 200 ms after the last frame */
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

#define SERVICE_EVERY_NS 10000000LL /* ENet between ticks: once, halfway */
#define HS_MIN_PER_TICK 4       /* handshakes answered per tick, whatever the load */
#define HS_SLACK_NS 3000000LL   /* more only while this much of the tick is left */
/*
 * Presence batches and door changes go to everyone
 * (a sealed message and, at the flush, a datagram per person: 2-5 ms for
 * 500) and need not make the tick's deadline: they run after the tick while
 * this much of the period is left, or in the tick once they have waited a
 * presence period.
 */
#define AFTER_SLACK_NS 6000000LL
#define DOORS_PENDING_MAX 64
#define HS_WORKER_DEPTH 128     /* handshakes out with the worker at once */

struct person {
	bool used;
	ENetPeer *peer;
	char name[ES_NAME_MAX + 1];
	uint8_t name_len;
	struct es_pos pos;
	uint8_t flags;     /* ES_PF_* as last told by the client */
	bool admin_muted;  /* an admin muted them: their audio is dropped */
	bool talking;      /* as last announced */
	uint64_t last_voice_tick;
	/* uplink loss from AUDIO_UP sequence numbers, reported in ES_MSG_LINK */
	bool up_have;
	uint32_t up_max_seq;
	uint32_t up_expected, up_received;
	unsigned downlink_bps; /* the downlink budget they declared (or the default) */
	bool budget_low;   /* the budget in force is below it (they reported loss) */
	uint16_t down_seq; /* bundles sent to them: the client counts its downlink loss by it */
	bool dirty;        /* place or flags changed since last presence batch */
	bool announce;     /* joined since the last presence batch */
	/*
	 * What those outside a closed room see of someone in it (presence):
	 * the room they were in at the last batch (-1: none, or its doors
	 * were open), and the flags and place last told in that outside view.
	 */
	int meeting;
	uint8_t out_flags;
	struct es_pos out_pos;
	bool resync;       /* they changed rooms: send them everyone as their room now shows them */
	int desk;          /* the desk they sit at now (places.h), -1 none */
	bool roster;       /* wants presence (who is where) */
	int whisper_to;    /* person whispered to, -1 none */
	struct es_bucket budget[ES_REQ__COUNT]; /* what they may still ask (config limits.request) */
	uint32_t floor_sent; /* the plan version they were sent + 1; 0: none yet */
	struct es_log_ratelimit log_rl; /* their door changes in the log */
};

enum slot_state {
	SLOT_IDLE,      /* ENet connected, waiting for handshake message 1 */
	SLOT_QUEUED,    /* message 1 received, waiting for its turn */
	SLOT_WORKING,   /* message 1 with the handshake worker */
	SLOT_AUTHED,    /* handshake done: everything is sealed */
};

struct peer_slot {
	int64_t connected_ms;
	uint32_t gen; /* bumped at every connect: a worker's answer for an earlier connection is dropped */
	uint64_t authed_flush; /* s->flushes when the handshake reply was queued */
	int person; /* -1 until joined */
	enum slot_state st;
	uint8_t key[32];         /* the client's static key, once authed */
	struct es_cipher tx, rx; /* sealing to / opening from this peer */
	uint16_t msg1_len;
	uint8_t msg1[ES_NOISE_MSG1_MAX];
};

struct es_server {
	struct es_server_config cfg;
	int64_t deadline_ns; /* when the coming tick is due (CLOCK_MONOTONIC) */
	int32_t in_frac;     /* how far into the coming tick this service takes frames in (es_jitter_frac) */
	ENetHost *host;
	struct es_front_door *door; /* what every datagram meets before ENet */
	struct es_sender *sender; /* downlink audio off this thread; NULL: through ENet */
	struct es_hs_worker *hsw; /* message 1's X25519 off this thread; NULL: all here */
	struct es_engine *engine;
	struct person *people;
	struct peer_slot *slots;
	struct es_server_counters c;
	uint64_t tick;
	unsigned *leaves; /* ids left since the last presence batch */
	unsigned nleaves;
	uint8_t buf[ES_MSG_MAX];
	uint8_t sealed[ES_MSG_MAX + ES_CIPHER_OVERHEAD + 1];
	struct es_keypair key;
	struct es_places *places; /* desks (who sits, whose own), rooms an admin locked */
	char join_how[256];       /* how the last admit chose the place, for announce's log line */
	unsigned *hs_queue; /* ring of peer indices with a queued message 1 */
	int64_t last_service_ns;
	uint64_t flushes; /* ENet sends done (service or flush): has a queued reply left? */
	unsigned hs_head, hs_count;
	struct es_server_poll poll; /* extra fds (admin socket); fds NULL = none */
	uint8_t (*muted_keys)[32];  /* keys an admin muted, max_people of them */
	unsigned nmuted;
	/*
	 * Broadcasts after the tick (see after_tick): presence is due, door
	 * changes wait to be told.
	 */
	bool presence_due;
	uint64_t after_due_tick; /* the tick since which something waits; 0 = nothing */
	uint16_t doors_pending[DOORS_PENDING_MAX];
	unsigned ndoors_pending;
	uint32_t floor_version; /* bumped by every new plan: a FLOOR_GET is served once per version */
	/* presence batch scratch, max_people each (entries: twice that) */
	int *pres_room;           /* the closed room each person is in now, -1 none */
	uint8_t *pres_chg;        /* what changed: PRES_* */
	unsigned *pres_changed;   /* who changed */
	uint32_t *pres_order;     /* observers, by room then id */
	struct es_presence_entry *pres_e;
	/* per-tick maxima, two windows of TAIL_WINDOW ticks (the last slot: work) */
	uint64_t tail_max[2][ES_PHASE__COUNT + 1];
};

#define TAIL_WINDOW 500 /* 10 s of ticks */

/* One line per event through daemon/log.h: timestamp, level, journal-aware. */
static void logf_(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(const char *level, const char *fmt, ...)
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

/* "ADDR:PORT" with ADDR a dotted quad or a host name. */
static int parse_addr(const char *s, ENetAddress *a)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s || colon[1] == 0)
		return -EINVAL;
	char host[256];
	size_t hl = (size_t)(colon - s);
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = 0;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port <= 0 || port > 65535)
		return -EINVAL;
	if (enet_address_set_host_ip(a, host) != 0 && enet_address_set_host(a, host) != 0)
		return -EINVAL;
	a->port = (enet_uint16)port;
	return 0;
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
	int err = ENOMEM;
	ENetAddress addr;
	if (cfg->max_people == 0 || cfg->max_people + 64 > ENET_PROTOCOL_MAXIMUM_PEER_ID) {
		logf_("error", "max people must be 1..%d", ENET_PROTOCOL_MAXIMUM_PEER_ID - 64);
		err = EINVAL;
		goto err_free;
	}
	if (parse_addr(cfg->listen, &addr) < 0) {
		logf_("error", "bad listen address '%s' (expected ADDR:PORT)", cfg->listen);
		err = EINVAL;
		goto err_free;
	}
	struct es_engine_config ec;
	es_engine_config_default(&ec);
	ec.max_people = cfg->max_people;
	ec.ac.range_m = cfg->range_m;
	ec.ac.max_voices = cfg->max_voices;
	ec.bitrate = cfg->bitrate;
	ec.complexity = cfg->complexity;
	ec.mirror_mixes = true; /* the downlink carries ES_MIX_MIRROR and the client swaps */
	ec.threads = cfg->mix_threads ? cfg->mix_threads : auto_threads();
	s->engine = es_engine_new(&ec);
	if (!s->engine) {
		err = errno;
		logf_("error", "cannot create the mixer: %s", strerror(err));
		goto err_free;
	}
	logf_("info", "mixing on %u thread%s", ec.threads, ec.threads == 1 ? "" : "s");
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
		logf_("error", "no usable server key");
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
		logf_("error", "cannot listen on %s (in use, or not an address of this machine)", cfg->listen);
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
			logf_("warn", "no handshake worker (%s): handshakes run on the tick thread", strerror(errno));
	}
	if (!getenv("EARSHOTD_NO_SENDER")) {
		s->sender = es_sender_new(s->host->socket, cfg->max_people, (size_t)cfg->max_people * 1024);
		if (!s->sender)
			logf_("warn", "no sender thread (%s): audio goes through ENet on the tick thread", strerror(errno));
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

/*
 * Encode m for peer: in the clear before the handshake (only the types
 * es_msg_is_plain allows), sealed with the peer's key after it.  Returns
 * the bytes to send (in s->buf or s->sealed) and their length.
 */
static int frame_for(struct es_server *s, struct peer_slot *slot, const struct es_msg *m, const uint8_t **out)
{
	int n = es_msg_encode(m, s->buf, sizeof(s->buf));
	if (n < 0)
		return n;
	if (slot->st != SLOT_AUTHED) {
		if (!es_msg_is_plain(m->type))
			return -EPERM;
		*out = s->buf;
		return n;
	}
	static const uint8_t ad = ES_MSG_SEALED;
	s->sealed[0] = ES_MSG_SEALED;
	int k = es_cipher_seal(&slot->tx, &ad, 1, s->buf, (size_t)n, s->sealed + 1, sizeof(s->sealed) - 1);
	if (k < 0)
		return k;
	*out = s->sealed;
	return k + 1;
}

static int queue_enet(struct es_server *s, ENetPeer *peer, const uint8_t *bytes, int n, bool audio)
{
	ENetPacket *p = enet_packet_create(bytes, (size_t)n, audio ? ENET_PACKET_FLAG_UNSEQUENCED : ENET_PACKET_FLAG_RELIABLE);
	if (!p)
		return -ENOMEM;
	if (enet_peer_send(peer, audio ? ES_CHAN_AUDIO : ES_CHAN_CONTROL, p) < 0) {
		enet_packet_destroy(p);
		return -EIO;
	}
	s->c.packets_out++;
	s->c.bytes_out += (uint64_t)n;
	return 0;
}

static int send_msg(struct es_server *s, ENetPeer *peer, const struct es_msg *m)
{
	const uint8_t *bytes;
	int n = frame_for(s, peer->data, m, &bytes);
	if (n < 0)
		return n;
	return queue_enet(s, peer, bytes, n, m->type == ES_MSG_AUDIO_DOWN);
}

/*
 * A downlink bundle goes out as exactly the datagram ENet would send for
 * enet_peer_send(..., ENET_PACKET_FLAG_UNSEQUENCED) of it alone: protocol
 * header (peer id and session, no sent time: nothing in it asks for an
 * acknowledgement), one SEND_UNSEQUENCED command with the peer's next
 * unsequenced group, then the sealed bundle.  The client's ENet takes it
 * like any other.  The peer's group counter is ENet state and is only
 * touched here, on the tick thread that owns the host; the sender thread
 * gets finished bytes and an address (sender.h).  Anything that does not
 * fit one datagram of the peer's MTU, or the batch, goes through ENet.
 */
#define RAW_UNSEQ_HEADER 10 /* ENetProtocolHeader without sentTime (2) + ENetProtocolSendUnsequenced (8) */

static int send_audio(struct es_server *s, ENetPeer *peer, const struct es_msg *m)
{
	struct peer_slot *slot = peer->data;
	const uint8_t *bytes;
	int n = frame_for(s, slot, m, &bytes);
	if (n < 0)
		return n;
	size_t total = RAW_UNSEQ_HEADER + (size_t)n;
	uint8_t *d;
	/* until ENet has sent the handshake reply, audio queues behind it in
	 * ENet, or the sender thread could deliver it first */
	if (!s->sender || slot->st != SLOT_AUTHED || slot->authed_flush == s->flushes ||
	    peer->state != ENET_PEER_STATE_CONNECTED || total > peer->mtu || !(d = es_sender_reserve(s->sender, total)))
		return queue_enet(s, peer, bytes, n, true);
	uint16_t id = peer->outgoingPeerID;
	if (peer->outgoingPeerID < ENET_PROTOCOL_MAXIMUM_PEER_ID)
		id |= (uint16_t)(peer->outgoingSessionID << ENET_PROTOCOL_HEADER_SESSION_SHIFT);
	uint16_t group = ++peer->outgoingUnsequencedGroup;
	d[0] = (uint8_t)(id >> 8);
	d[1] = (uint8_t)id;
	d[2] = ENET_PROTOCOL_COMMAND_SEND_UNSEQUENCED | ENET_PROTOCOL_COMMAND_FLAG_UNSEQUENCED;
	d[3] = ES_CHAN_AUDIO;
	d[4] = d[5] = 0; /* reliable sequence number: none */
	d[6] = (uint8_t)(group >> 8);
	d[7] = (uint8_t)group;
	d[8] = (uint8_t)((unsigned)n >> 8);
	d[9] = (uint8_t)n;
	memcpy(d + RAW_UNSEQ_HEADER, bytes, (size_t)n);
	es_sender_commit(s->sender, total, peer->address.host, peer->address.port);
	s->c.packets_out++;
	s->c.bytes_out += (uint64_t)n;
	return 0;
}

/* Send a control message to everyone joined: each peer has its own key. */
static void broadcast(struct es_server *s, const struct es_msg *m, int except)
{
	for (unsigned i = 0; i < s->cfg.max_people; i++) {
		struct person *q = &s->people[i];
		if (q->used && (int)i != except)
			(void)send_msg(s, q->peer, m);
	}
}

static float pos_facing_rad(const struct es_pos *p)
{
	return (float)p->facing * (float)M_PI / 1800.0f;
}

/* Tell the engine what a person's flags mean for the mix. */
static void apply_flags(struct es_server *s, unsigned id)
{
	const struct person *q = &s->people[id];
	unsigned f = (q->flags & ES_PF_MUTED || q->admin_muted ? ES_ENGINE_MUTED : 0) |
		     (q->flags & ES_PF_FOCUS ? ES_ENGINE_FOCUS : 0) | (q->flags & ES_PF_THIN ? ES_ENGINE_THIN : 0);
	int r = es_engine_set_flags(s->engine, id, f);
	if (r < 0)
		logf_("warn", "cannot set flags of #%u: %s", id, strerror(-r));
}

/* Flags as presence shows them: the client's, talking, and an admin's mute. */
static uint8_t presence_flags(const struct person *q)
{
	return (uint8_t)(q->flags | (q->talking ? ES_PF_TALKING : 0) |
			 (q->admin_muted ? ES_PF_MUTED | ES_PF_ADMIN_MUTED : 0));
}

/*
 * Presence and closed rooms.  Whoever is in a room whose doors are all
 * closed is, to everyone outside that room, "in a meeting" (ES_PF_MEETING)
 * and nothing else: not talking, muted or in focus, and no update at all
 * while only those change, so that not even the timing of who talks leaks
 * out.  Their place still shows (the room they are in).  Those inside the
 * same room see each other as they are.  The view depends on the
 * observer's room, so a batch is built once per room that has observers
 * in it, plus once for everyone else.
 */
static int closed_room(const struct es_floor *f, const struct es_pos *p)
{
	if (!f)
		return -1;
	int room = es_floor_room_at(f, (float)p->x_cm / 100.0f, (float)p->y_cm / 100.0f);
	if (room < 0)
		return -1;
	const unsigned *doors;
	int nd = es_floor_room_doors(f, (unsigned)room, &doors);
	if (nd <= 0)
		return -1; /* a room without doors is not a meeting room */
	for (int i = 0; i < nd; i++)
		if (es_floor_door_is_open(f, doors[i]))
			return -1;
	return room;
}

/* Subject i (in closed room `room`, or -1) as an observer in closed room `from` (or -1) sees them. */
static void presence_view(const struct es_server *s, unsigned i, int room, int from, uint8_t kind,
			  struct es_presence_entry *e)
{
	const struct person *q = &s->people[i];
	*e = (struct es_presence_entry){
		.id = (uint16_t)i,
		.kind = kind,
		.flags = room >= 0 && room != from ? ES_PF_MEETING : presence_flags(q),
		.pos = q->pos,
	};
	if (kind == ES_PRESENCE_JOIN) {
		e->name_len = q->name_len;
		e->name = q->name;
	}
}

/* Send n entries to one person, ES_PRESENCE_MAX a message. */
static void send_presence(struct es_server *s, unsigned to, const struct es_presence_entry *e, unsigned n)
{
	struct es_msg m = {.type = ES_MSG_PRESENCE};
	for (unsigned off = 0; off < n; off += ES_PRESENCE_MAX) {
		unsigned k = n - off < ES_PRESENCE_MAX ? n - off : ES_PRESENCE_MAX;
		memcpy(m.u.presence.entry, e + off, k * sizeof(*e));
		m.u.presence.count = (uint8_t)k;
		(void)send_msg(s, s->people[to].peer, &m);
	}
}

/* Tell someone who is here, as their room shows it (a newcomer; someone who changed rooms). */
static void send_roster(struct es_server *s, unsigned to)
{
	int from = closed_room(s->cfg.floor, &s->people[to].pos);
	unsigned n = 0;
	for (unsigned i = 0; i < s->cfg.max_people; i++)
		if (s->people[i].used)
			presence_view(s, i, closed_room(s->cfg.floor, &s->people[i].pos), from, ES_PRESENCE_JOIN,
				      &s->pres_e[n++]);
	send_presence(s, to, s->pres_e, n);
}

static int free_person_id(const struct es_server *s)
{
	for (unsigned i = 0; i < s->cfg.max_people; i++)
		if (!s->people[i].used)
			return (int)i;
	return -1;
}

/*
 * Refused before any Diffie-Hellman (message 1 unreadable, over the rate):
 * said in the clear, so the client can take it only as a hint.
 */
static void refuse(struct es_server *s, ENetPeer *peer, uint8_t reason)
{
	if (reason < 8)
		s->c.refused[reason]++;
	struct es_msg m = {.type = ES_MSG_REFUSED, .u.refused.reason = reason};
	(void)send_msg(s, peer, &m);
	enet_peer_disconnect_later(peer, 0);
}

/*
 * Refused after message 1 was read (not enrolled, a used invite, a replay,
 * a name taken, another version): the refusal is message 2's payload, so
 * the client knows it comes from the server it pinned and may believe it
 * (a plain REFUSED anyone could forge).  hs is cleared.
 */
static void refuse_proved(struct es_server *s, ENetPeer *peer, struct es_noise *hs, uint8_t reason)
{
	struct es_msg r = {.type = ES_MSG_REFUSED, .u.refused.reason = reason};
	uint8_t rb[8], reply[ES_NOISE_MSG2_MAX];
	int n = es_msg_encode(&r, rb, sizeof(rb));
	n = n < 0 ? n : es_noise_write_msg2(hs, rb, (size_t)n, reply, sizeof(reply));
	es_noise_clear(hs);
	if (n < 0) {
		refuse(s, peer, reason);
		return;
	}
	if (reason < 8)
		s->c.refused[reason]++;
	struct es_msg m2 = {.type = ES_MSG_HANDSHAKE2, .u.blob = {(uint16_t)n, reply}};
	(void)send_msg(s, peer, &m2);
	enet_peer_disconnect_later(peer, 0);
}

static void busy(struct es_server *s, ENetPeer *peer)
{
	s->c.refused_full++;
	struct es_msg m = {.type = ES_MSG_BUSY};
	/* jitter the retry so refused people do not come back in lockstep */
	m.u.busy.retry_after_ms = 2000 + randombytes_uniform(3000);
	(void)send_msg(s, peer, &m);
	enet_peer_disconnect_later(peer, 0);
}

static void person_leave(struct es_server *s, struct peer_slot *slot);
static void whisper_notice(struct es_server *s, unsigned to, unsigned from, bool on);

/* Index of key among the admin-muted keys, or -1. */
static int muted_key_index(const struct es_server *s, const uint8_t key[32])
{
	for (unsigned i = 0; i < s->nmuted; i++)
		if (sodium_memcmp(s->muted_keys[i], key, 32) == 0)
			return (int)i;
	return -1;
}

/* Tell someone what an admin imposes on them (ES_MSG_ADMIN). */
static void tell_admin(struct es_server *s, unsigned id, uint8_t extra)
{
	struct person *q = &s->people[id];
	struct es_msg m = {.type = ES_MSG_ADMIN};
	m.u.admin.flags = (uint8_t)((q->admin_muted ? ES_ADMIN_MUTED : 0) | extra);
	m.u.admin.pos = q->pos;
	(void)send_msg(s, q->peer, &m);
}

/*
 * Uplink loss, as the client needs it to tune its FEC: frames expected vs
 * received within talk spurts.  The sequence counts capture time, sent or
 * not, so the gap before a spurt's first frame (ES_UP_START), or any gap
 * longer than LINK_GAP_MAX frames, is silence, not loss.  Late frames count
 * as received (the jitter buffer may still use them).  Every LINK_FRAMES
 * expected frames (about 2 s of talking) the person is told the figure.
 */
#define LINK_FRAMES 100
#define LINK_GAP_MAX 10

static void count_uplink(struct es_server *s, unsigned id, uint32_t seq, uint8_t flags)
{
	struct person *q = &s->people[id];
	uint32_t ahead = seq - q->up_max_seq;
	if (!q->up_have || flags & ES_UP_START || (ahead > LINK_GAP_MAX && ahead < UINT32_MAX / 2)) {
		q->up_have = true;
		q->up_max_seq = seq;
		q->up_expected++;
		q->up_received++;
	} else if (ahead > 0 && ahead <= LINK_GAP_MAX) {
		q->up_max_seq = seq;
		q->up_expected += ahead;
		q->up_received++;
	} else if (q->up_received < q->up_expected) {
		q->up_received++; /* late or duplicate: cannot tell, and rare */
	}
	if (q->up_expected < LINK_FRAMES)
		return;
	struct es_msg m = {.type = ES_MSG_LINK};
	uint32_t lost = q->up_expected - q->up_received;
	m.u.link.loss_permille = (uint16_t)(lost * 1000u / q->up_expected);
	m.u.link.frames = (uint16_t)q->up_expected;
	(void)send_msg(s, q->peer, &m);
	q->up_expected = q->up_received = 0;
}

static float pos_x(const struct es_pos *p)
{
	return (float)p->x_cm / 100.0f;
}

static float pos_y(const struct es_pos *p)
{
	return (float)p->y_cm / 100.0f;
}

static bool find_place(const struct es_server *s, const struct es_floor *f, unsigned self, int own, float x, float y,
		       float *ox, float *oy, int *odesk);

/*
 * Where a newcomer sits, in this order: where the HELLO asked (--at), their
 * remembered place, their own desk, a new desk of their own, the nearest
 * free place.  Each must pass the same check as a walk (places.h: on the
 * floor, walkable, not in a closed or locked room, not at a desk someone
 * sits at or that is someone else's own).  `how` gets the reason for the
 * join's log line, so the log says what was done and why, once.
 */
static struct es_pos seat(struct es_server *s, unsigned id, const struct es_hello *h, const struct es_seat_memory *mem,
			  int *own, bool *new_desk, char *how, size_t hl)
{
	const struct es_floor *f = s->cfg.floor;
	struct es_pos pos = h->pos;
	size_t n = 0;
	how[0] = 0;
	*new_desk = false;
	*own = f && mem->desk[0] ? es_floor_desk_find(f, mem->desk) : -1;
	if (*own >= 0 && !es_places_owned(s->places, (unsigned)*own))
		es_places_own(s->places, (unsigned)*own, true);
	if (h->flags & ES_PF_PLACE) {
		enum es_place_verdict v = es_places_check(s->places, (int)id, -1, *own, pos_x(&pos), pos_y(&pos), true);
		if (v == ES_PLACE_OK) {
			snprintf(how, hl, "where they asked");
			return pos;
		}
		n += (size_t)snprintf(how, hl, "asked for %.2f,%.2f: %s; ", pos_x(&pos), pos_y(&pos), es_place_verdict_text(v));
	}
	if (mem->has_place) {
		struct es_pos m = mem->pos;
		if (!(h->flags & ES_PF_PLACE) && h->pos.facing)
			m.facing = h->pos.facing; /* --facing without --at */
		enum es_place_verdict v = es_places_check(s->places, (int)id, -1, *own, pos_x(&m), pos_y(&m), true);
		if (v == ES_PLACE_OK) {
			snprintf(how + n, hl - n, "back at their place");
			return m;
		}
		if (n < hl)
			n += (size_t)snprintf(how + n, hl - n, "their place %.2f,%.2f is %s; ", pos_x(&m), pos_y(&m),
					      es_place_verdict_text(v));
	}
	pos.facing = h->pos.facing;
	if (n >= hl)
		n = hl - 1;
	float x, y;
	const char *label = NULL;
	if (*own >= 0 && es_floor_desk(f, (unsigned)*own, &x, &y, &label) == 0 &&
	    es_places_check(s->places, (int)id, -1, *own, x, y, true) == ES_PLACE_OK) {
		snprintf(how + n, hl - n, "at their desk %s", label);
		goto at;
	}
	if (*own < 0 && f) {
		int d = es_places_free_desk(s->places);
		if (d >= 0 && es_floor_desk(f, (unsigned)d, &x, &y, &label) == 0) {
			*own = d;
			*new_desk = true;
			es_places_own(s->places, (unsigned)d, true);
			snprintf(how + n, hl - n, "at desk %s, now their own", label);
			goto at;
		}
	}
	int fd;
	float nx = f ? es_floor_width_m(f) / 2 : 0, ny = f ? es_floor_height_m(f) / 2 : 0;
	if (*own >= 0)
		(void)es_floor_desk(f, (unsigned)*own, &nx, &ny, NULL);
	if (f && find_place(s, f, id, -1, nx, ny, &x, &y, &fd)) {
		snprintf(how + n, hl - n, "%s", *own >= 0 ? "their desk is taken: at the nearest free place" :
							    "no desk is free: at the nearest free place");
		goto at;
	}
	snprintf(how + n, hl - n, "%s", f ? "the floor is full" : "open space");
	return pos;
at:
	pos.x_cm = (int32_t)lrintf(x * 100.0f);
	pos.y_cm = (int32_t)lrintf(y * 100.0f);
	return pos;
}

/*
 * Admit an authenticated person: room state exists from here on.  Returns
 * the person id, or a negative errno.  The caller sends the WELCOME.
 */
static int admit(struct es_server *s, ENetPeer *peer, struct peer_slot *slot, const char *name,
		 const struct es_hello *h)
{
	int id = free_person_id(s);
	if (id < 0)
		return -EBUSY;
	struct person *q = &s->people[id];
	struct es_seat_memory mem = {0};
	if (s->cfg.hooks && s->cfg.hooks->join)
		s->cfg.hooks->join(s->cfg.hooks->ud, slot->key, name, &mem);
	int own;
	bool new_desk;
	char how[256];
	struct es_pos pos = seat(s, (unsigned)id, h, &mem, &own, &new_desk, how, sizeof(how));
	int r = es_engine_add(s->engine, (unsigned)id, pos_x(&pos), pos_y(&pos), pos_facing_rad(&pos));
	if (r < 0) {
		if (new_desk)
			es_places_own(s->places, (unsigned)own, false);
		logf_("warn", "cannot add %s: %s", name, strerror(-r));
		return r;
	}
	memset(q, 0, sizeof(*q));
	q->used = true;
	q->peer = peer;
	size_t nl = strlen(name);
	memcpy(q->name, name, nl + 1);
	q->name_len = (uint8_t)nl;
	q->pos = pos;
	q->flags = h->flags & (ES_PF_MUTED | ES_PF_FOCUS | ES_PF_THIN);
	q->admin_muted = muted_key_index(s, slot->key) >= 0 ||
			 (s->cfg.hooks && s->cfg.hooks->admin_muted && s->cfg.hooks->admin_muted(s->cfg.hooks->ud, slot->key));
	q->desk = -1;
	q->whisper_to = -1;
	q->meeting = -1;
	q->roster = h->flags & ES_PF_ROSTER;
	es_places_sit(s->places, (unsigned)id, &q->desk, pos_x(&pos), pos_y(&pos));
	apply_flags(s, (unsigned)id);
	/* decoded and range-checked with the HELLO; 0 is the default */
	if (es_engine_set_budget(s->engine, (unsigned)id, h->downlink_kbps * 1000u) < 0)
		logf_("warn", "%s: downlink budget %u kbit/s refused", name, h->downlink_kbps);
	q->downlink_bps = es_engine_budget(s->engine, (unsigned)id);
	const char *label = NULL;
	if (new_desk && es_floor_desk(s->cfg.floor, (unsigned)own, NULL, NULL, &label) == 0 && s->cfg.hooks &&
	    s->cfg.hooks->desk)
		s->cfg.hooks->desk(s->cfg.hooks->ud, slot->key, label);
	/* remember the place from the first moment, not only after a move or a
	 * leave: a newcomer who just sits there must find it again after a crash */
	if (s->cfg.hooks && s->cfg.hooks->place)
		s->cfg.hooks->place(s->cfg.hooks->ud, slot->key, name, pos.x_cm, pos.y_cm, pos.facing);
	slot->person = id;
	s->c.joins++;
	s->c.people++;
	snprintf(s->join_how, sizeof(s->join_how), "%s", how);
	return id;
}

/* Someone new is here: tell them who else is, and everyone else about them. */
static void announce(struct es_server *s, unsigned id)
{
	struct person *q = &s->people[id];
	if (q->roster)
		send_roster(s, id);
	/* everyone else hears of the newcomer in the next presence batch: one
	 * message for many joins, not one per join (a join storm is N^2 otherwise) */
	q->announce = true;
	if (q->admin_muted)
		tell_admin(s, id, 0); /* an admin's mute outlasts a reconnect */
	logf_("info", "%s joined as #%u at %.2f,%.2f, %s (%u here)", q->name, id, q->pos.x_cm / 100.0,
	      q->pos.y_cm / 100.0, s->join_how, s->c.people);
}

/*
 * Answer one queued handshake message 1.  Cheap checks come first (room
 * for one more), the Diffie-Hellman work after; nothing about the person
 * exists until the handshake and the authorisation both succeed.
 */
static void handshake_finish(struct es_server *s, ENetPeer *peer, struct peer_slot *slot, struct es_noise *hs,
			     const uint8_t client[32], const uint8_t ts[ES_TAI64N_LEN], struct es_join_payload *jp);

static void handshake(struct es_server *s, ENetPeer *peer, struct peer_slot *slot)
{
	slot->st = SLOT_IDLE;
	if (free_person_id(s) < 0) {
		busy(s, peer);
		return;
	}
	s->c.handshakes++;
	struct es_noise hs;
	uint8_t client[32], ts[ES_TAI64N_LEN], payload[ES_NOISE_PAYLOAD_MAX];
	struct es_join_payload jp;
	int n;
	if (es_noise_responder_init(&hs, &s->key, (const uint8_t *)ES_NOISE_PROLOGUE, sizeof(ES_NOISE_PROLOGUE) - 1) < 0 ||
	    (n = es_noise_read_msg1(&hs, slot->msg1, slot->msg1_len, client, ts, payload, sizeof(payload))) < 0 ||
	    es_join_payload_decode(&jp, payload, (size_t)n) < 0) {
		s->c.handshake_failures++;
		es_noise_clear(&hs);
		sodium_memzero(payload, sizeof(payload));
		refuse(s, peer, ES_REFUSED_BAD_HANDSHAKE);
		return;
	}
	handshake_finish(s, peer, slot, &hs, client, ts, &jp);
	/* the decrypted payload holds the invite secret too, not only jp (the worker's job is wiped at release) */
	sodium_memzero(&jp, sizeof(jp));
	sodium_memzero(payload, sizeof(payload));
}

/*
 * The rest of a handshake once message 1 has been read (here or by the
 * worker): version, authorisation, admission, message 2.  hs is cleared.
 */
static void handshake_finish(struct es_server *s, ENetPeer *peer, struct peer_slot *slot, struct es_noise *hs,
			     const uint8_t client[32], const uint8_t ts[ES_TAI64N_LEN], struct es_join_payload *jp)
{
	uint8_t reply[ES_NOISE_MSG2_MAX];
	int n;
	if (jp->hello.version != ES_PROTO_VERSION) {
		s->c.handshake_failures++;
		refuse_proved(s, peer, hs, ES_REFUSED_VERSION);
		return;
	}
	char asked[ES_NAME_MAX + 1], name[ES_NAME_MAX + 1];
	memcpy(asked, jp->hello.name, jp->hello.name_len);
	asked[jp->hello.name_len] = 0;
	memcpy(name, asked, sizeof(name));
	if (s->cfg.hooks && s->cfg.hooks->authorize) {
		int r = s->cfg.hooks->authorize(s->cfg.hooks->ud, client, ts, asked, jp->has_secret ? jp->secret : NULL, name);
		if (r < 0) {
			s->c.refused_auth++;
			logf_("info", "refused a key asking to be '%s': reason %d", asked, -r);
			sodium_memzero(jp, sizeof(*jp));
			refuse_proved(s, peer, hs, (uint8_t)-r);
			return;
		}
	}
	sodium_memzero(jp->secret, sizeof(jp->secret)); /* spent; the HELLO is still needed */
	/* the same key again (a reconnect the old session has not noticed): the new session wins */
	for (size_t i = 0; i < s->host->peerCount; i++) {
		struct peer_slot *o = &s->slots[i];
		/* public keys: a plain look at 8 bytes first (see find_key in state.c) */
		if (o != slot && o->st == SLOT_AUTHED && memcmp(o->key, client, 8) == 0 &&
		    sodium_memcmp(o->key, client, 32) == 0) {
			struct es_msg bye = {.type = ES_MSG_BYE, .u.bye.reason = ES_BYE_REPLACED};
			(void)send_msg(s, &s->host->peers[i], &bye);
			person_leave(s, o);
			o->st = SLOT_IDLE;
			enet_peer_disconnect_later(&s->host->peers[i], 0);
			s->c.replaced++;
		}
	}
	memcpy(slot->key, client, 32);
	int id = admit(s, peer, slot, name, &jp->hello);
	if (id < 0) {
		es_noise_clear(hs);
		if (id == -EBUSY)
			busy(s, peer);
		else
			enet_peer_disconnect_later(peer, 0);
		return;
	}
	struct es_msg w = {.type = ES_MSG_WELCOME};
	w.u.welcome = (struct es_welcome){.version = ES_PROTO_VERSION, .id = (uint16_t)id, .pos = s->people[id].pos,
					  .has_reset = true};
	/* inside message 2: only this client learns what a reset of its session will carry */
	es_front_door_reset_token(s->door, peer, w.u.welcome.reset_token);
	uint8_t wbuf[64];
	int wn = es_msg_encode(&w, wbuf, sizeof(wbuf));
	n = wn < 0 ? wn : es_noise_write_msg2(hs, wbuf, (size_t)wn, reply, sizeof(reply));
	if (n < 0 || es_noise_split(hs, &slot->tx, &slot->rx) < 0) {
		s->c.handshake_failures++;
		es_noise_clear(hs);
		person_leave(s, slot);
		enet_peer_disconnect_later(peer, 0);
		return;
	}
	es_noise_clear(hs);
	struct es_msg m2 = {.type = ES_MSG_HANDSHAKE2, .u.blob = {(uint16_t)n, reply}};
	(void)send_msg(s, peer, &m2); /* still in the clear: slot is not yet AUTHED */
	slot->st = SLOT_AUTHED;
	slot->authed_flush = s->flushes;
	announce(s, (unsigned)id);
}

/*
 * Take back the oldest handshake the worker has read, if any, and finish
 * it, unless its connection went away meanwhile (gen).  Returns false if
 * none was ready.
 */
static bool handshake_collect(struct es_server *s)
{
	struct es_hs_job *j = s->hsw ? es_hs_worker_done(s->hsw) : NULL;
	if (!j)
		return false;
	ENetPeer *peer = &s->host->peers[j->peer];
	struct peer_slot *slot = &s->slots[j->peer];
	if (slot->gen == j->gen && slot->st == SLOT_WORKING && peer->state == ENET_PEER_STATE_CONNECTED) {
		slot->st = SLOT_IDLE;
		if (j->result < 0) {
			s->c.handshake_failures++;
			refuse(s, peer, ES_REFUSED_BAD_HANDSHAKE);
		} else if (free_person_id(s) < 0)
			busy(s, peer);
		else
			handshake_finish(s, peer, slot, &j->hs, j->client, j->ts, &j->jp);
	}
	es_hs_worker_release(s->hsw);
	return true;
}

/* Answer the oldest queued handshake, if any.  Returns false if none. */
static bool handshake_one(struct es_server *s)
{
	size_t npeers = s->host->peerCount;
	while (s->hs_count) {
		struct es_hs_job *j = NULL;
		if (s->hsw && !(j = es_hs_worker_job(s->hsw)))
			return false; /* the worker has enough: the queue waits */
		unsigned i = s->hs_queue[s->hs_head];
		s->hs_head = (unsigned)((s->hs_head + 1) % npeers);
		s->hs_count--;
		ENetPeer *peer = &s->host->peers[i];
		struct peer_slot *slot = &s->slots[i];
		if (slot->st != SLOT_QUEUED || peer->state != ENET_PEER_STATE_CONNECTED)
			continue;
		if (!j) {
			handshake(s, peer, slot);
			return true;
		}
		if (free_person_id(s) < 0) {
			slot->st = SLOT_IDLE;
			busy(s, peer);
			return true;
		}
		s->c.handshakes++;
		j->peer = i;
		j->gen = slot->gen;
		j->msg1_len = slot->msg1_len;
		memcpy(j->msg1, slot->msg1, slot->msg1_len);
		slot->st = SLOT_WORKING;
		es_hs_worker_submit(s->hsw);
		return true;
	}
	return false;
}

/* One step of handshake work in the slack: finish one the worker read, or start one.  False if nothing to do. */
static bool handshake_step(struct es_server *s)
{
	return handshake_collect(s) || handshake_one(s);
}

/*
 * Handshakes cost ~0.2 ms of X25519 each.  A few are answered every tick
 * whatever the load, so joins always progress; the rest are answered
 * between ticks while the next deadline is far enough away (see
 * es_server_run), so a join storm uses the tick's slack and never delays
 * the audio of people already talking.
 */
static void run_handshakes(struct es_server *s)
{
	unsigned budget = s->cfg.handshakes_per_tick ? s->cfg.handshakes_per_tick : HS_MIN_PER_TICK;
	if (budget > HS_MIN_PER_TICK)
		budget = HS_MIN_PER_TICK;
	if (s->hsw) {
		/* finishing costs two X25519 here; handing over costs a copy */
		while (budget && handshake_collect(s))
			budget--;
		while (handshake_one(s))
			;
		return;
	}
	while (budget-- && handshake_one(s))
		;
}

static void person_leave(struct es_server *s, struct peer_slot *slot)
{
	es_cipher_clear(&slot->tx);
	es_cipher_clear(&slot->rx);
	if (slot->person < 0)
		return;
	unsigned id = (unsigned)slot->person;
	struct person *q = &s->people[id];
	logf_("info", "%s left (#%u)", q->name, id);
	es_places_leave(s->places, id, &q->desk);
	if (q->whisper_to >= 0)
		whisper_notice(s, (unsigned)q->whisper_to, id, false);
	for (unsigned i = 0; i < s->cfg.max_people; i++)
		if (s->people[i].used && s->people[i].whisper_to == (int)id)
			s->people[i].whisper_to = -1; /* the engine forgets whispers to the leaver */
	if (s->cfg.hooks && s->cfg.hooks->place)
		s->cfg.hooks->place(s->cfg.hooks->ud, slot->key, q->name, q->pos.x_cm, q->pos.y_cm, q->pos.facing);
	es_engine_remove(s->engine, id);
	if (q->budget_low)
		s->c.budget_reduced--;
	memset(q, 0, sizeof(*q));
	slot->person = -1;
	s->leaves[s->nleaves++] = id;
	s->c.leaves++;
	s->c.people--;
}

/*
 * Before a whisper or a knock reaches someone who gets no presence (a bot,
 * a headless client): who `from` is, so they are told a name, not
 * "someone".
 */
static void introduce(struct es_server *s, unsigned to, unsigned from)
{
	if (s->people[to].roster || !s->people[from].used)
		return;
	struct es_msg m = {.type = ES_MSG_PRESENCE};
	m.u.presence.count = 1;
	presence_view(s, from, closed_room(s->cfg.floor, &s->people[from].pos),
		      closed_room(s->cfg.floor, &s->people[to].pos), ES_PRESENCE_JOIN, &m.u.presence.entry[0]);
	(void)send_msg(s, s->people[to].peer, &m);
}

/* Tell `to` that `from` whispers to them now (or stopped). */
static void whisper_notice(struct es_server *s, unsigned to, unsigned from, bool on)
{
	if (to >= s->cfg.max_people || !s->people[to].used)
		return;
	if (on)
		introduce(s, to, from);
	struct es_msg m = {.type = ES_MSG_WHISPER, .u.whisper = {(int32_t)from, on ? 1 : 0}};
	(void)send_msg(s, s->people[to].peer, &m);
}

/*
 * A move the floor allows (places.h): onto a cell one can stand on, not
 * into a room whose doors are all closed or that an admin locked, from
 * outside it (knock first), and not onto a desk someone sits at.
 */
static enum es_place_verdict move_check(const struct es_server *s, unsigned id, float x, float y)
{
	const struct person *q = &s->people[id];
	int from = s->cfg.floor ? es_floor_room_at(s->cfg.floor, pos_x(&q->pos), pos_y(&q->pos)) : -1;
	return es_places_check(s->places, (int)id, from, -1, x, y, false);
}

/* Someone is somewhere else now: mixer done by the caller; desk, presence and memory here. */
static void moved_to(struct es_server *s, unsigned id, const struct es_pos *pos)
{
	struct person *q = &s->people[id];
	q->pos = *pos;
	q->dirty = true;
	es_places_sit(s->places, id, &q->desk, pos_x(pos), pos_y(pos));
	const struct peer_slot *slot = q->peer->data;
	if (s->cfg.hooks && s->cfg.hooks->place)
		s->cfg.hooks->place(s->cfg.hooks->ud, slot->key, q->name, q->pos.x_cm, q->pos.y_cm, q->pos.facing);
}

/* Send the floor plan's text in pieces, to one person who asked for it. */
static void send_floor(struct es_server *s, ENetPeer *peer)
{
	if (!s->cfg.floor)
		return;
	size_t len;
	const char *text = es_floor_to_text(s->cfg.floor, &len);
	if (!text || len == 0 || len > ES_FLOOR_TEXT_MAX)
		return;
	for (size_t off = 0; off < len; off += ES_FLOOR_CHUNK) {
		size_t n = len - off < ES_FLOOR_CHUNK ? len - off : ES_FLOOR_CHUNK;
		struct es_msg m = {.type = ES_MSG_FLOOR};
		m.u.floor = (struct es_floor_chunk){(uint32_t)len, (uint32_t)off, (uint16_t)n, (const uint8_t *)text + off};
		(void)send_msg(s, peer, &m);
	}
	/* doors as they are now, not as the text first drew them */
	unsigned nd = es_floor_door_count(s->cfg.floor);
	static struct es_door_state ds[ES_DOORS_MAX];
	for (unsigned i = 0; i < nd;) {
		unsigned k = 0;
		for (; k < ES_DOORS_MAX && i < nd; k++, i++)
			ds[k] = (struct es_door_state){(uint16_t)i, es_floor_door_is_open(s->cfg.floor, i)};
		struct es_msg m = {.type = ES_MSG_DOORS, .u.doors = {(uint16_t)k, ds, NULL}};
		(void)send_msg(s, peer, &m);
	}
}

/* Tell everyone the doors that changed since the last time, as they are now. */
static void broadcast_doors(struct es_server *s)
{
	struct es_door_state st[DOORS_PENDING_MAX];
	unsigned n = 0, nd = s->cfg.floor ? es_floor_door_count(s->cfg.floor) : 0;
	for (unsigned i = 0; i < s->ndoors_pending; i++)
		if (s->doors_pending[i] < nd)
			st[n++] = (struct es_door_state){s->doors_pending[i], es_floor_door_is_open(s->cfg.floor, s->doors_pending[i])};
	s->ndoors_pending = 0;
	if (n == 0)
		return;
	struct es_msg m = {.type = ES_MSG_DOORS, .u.doors = {(uint16_t)n, st, NULL}};
	broadcast(s, &m, -1);
}

/*
 * One request of kind k from person id, within their budget?  What is over
 * it is dropped, counted, and logged at most a few lines every 2 s for the
 * whole floor (a member flooding requests must not flood the log either).
 */
static bool request_ok(struct es_server *s, unsigned id, enum es_request k)
{
	struct person *q = &s->people[id];
	int64_t now = es_now_ns() / 1000000;
	if (es_bucket_take(&q->budget[k], &s->cfg.limits.request[k], now))
		return true;
	s->c.requests_refused[k]++;
	static struct es_log_ratelimit rl;
	es_log_rl(&rl, (uint64_t)now, ES_LOG_WARN, "%s (#%u) asks too often (%s): refused", q->name, id,
		  es_request_name(k));
	return false;
}

/* The floor plan, once per session and plan version: asking again costs them nothing and us 4 MB at most. */
static void handle_floor_get(struct es_server *s, unsigned id)
{
	struct person *q = &s->people[id];
	if (q->floor_sent == s->floor_version + 1) {
		s->c.requests_refused[ES_REQ_FLOOR_GET]++;
		return;
	}
	q->floor_sent = s->floor_version + 1;
	send_floor(s, q->peer);
}

/*
 * The one way a door changes, whoever asks (a person, an admin): the
 * floor's state, and everyone's map after the tick (after_tick), as it is
 * then.  False if it was already so.
 */
static bool door_change(struct es_server *s, unsigned door, bool open)
{
	struct es_floor *f = s->cfg.floor;
	if (!f || es_floor_door_is_open(f, door) == open || es_floor_door_set_open(f, door, open) < 0)
		return false;
	s->c.doors_changed++;
	for (unsigned i = 0; i < s->ndoors_pending; i++)
		if (s->doors_pending[i] == door)
			return true;
	if (s->ndoors_pending == DOORS_PENDING_MAX)
		broadcast_doors(s);
	s->doors_pending[s->ndoors_pending++] = (uint16_t)door;
	if (!s->after_due_tick)
		s->after_due_tick = s->tick ? s->tick : 1;
	return true;
}

/* Tell one person how a door is (their request was refused: their map shows the truth again). */
static void tell_door(struct es_server *s, unsigned id, unsigned door)
{
	struct es_door_state st = {(uint16_t)door, es_floor_door_is_open(s->cfg.floor, door)};
	struct es_msg m = {.type = ES_MSG_DOORS, .u.doors = {1, &st, NULL}};
	(void)send_msg(s, s->people[id].peer, &m);
}

/*
 * Open or close a door: whoever stands within reach of it (3 m) may,
 * unless an admin closed the room (a lock only an admin lifts).
 */
static void handle_door(struct es_server *s, unsigned id, const struct es_doors *d)
{
	struct es_floor *f = s->cfg.floor;
	struct person *q = &s->people[id];
	if (!f || d->count != 1) {
		s->c.drop_malformed++;
		return;
	}
	struct es_door_state st = es_doors_at(d, 0);
	float x, y;
	unsigned room;
	if (es_floor_door(f, st.door, &x, &y, &room) < 0) {
		s->c.drop_malformed++;
		return;
	}
	if (hypotf(x - pos_x(&q->pos), y - pos_y(&q->pos)) > 3.0f || es_places_room_locked(s->places, room)) {
		s->c.doors_refused++;
		tell_door(s, id, st.door);
		return;
	}
	if (door_change(s, st.door, st.open))
		es_log_rl(&q->log_rl, (uint64_t)(es_now_ns() / 1000000), ES_LOG_INFO, "%s %s a door of %s", q->name,
			  st.open ? "opened" : "closed", es_floor_room_name(f, room));
}

/* A knock on a room reaches the people inside it (within the knocker's budget). */
static void handle_knock(struct es_server *s, unsigned id, uint16_t room)
{
	if (!s->cfg.floor || room >= es_floor_room_count(s->cfg.floor)) {
		s->c.drop_malformed++;
		return;
	}
	s->c.knocks++;
	struct es_msg m = {.type = ES_MSG_KNOCK, .u.knock = {room, (uint16_t)id}};
	for (unsigned i = 0; i < s->cfg.max_people; i++) {
		struct person *o = &s->people[i];
		if (o->used && es_floor_room_at(s->cfg.floor, (float)o->pos.x_cm / 100.0f, (float)o->pos.y_cm / 100.0f) ==
				       (int)room) {
			introduce(s, i, id);
			(void)send_msg(s, o->peer, &m);
		}
	}
}

static void handle_whisper(struct es_server *s, unsigned id, int32_t to)
{
	struct person *q = &s->people[id];
	if (to >= 0 && ((unsigned)to >= s->cfg.max_people || !s->people[to].used || (unsigned)to == id)) {
		s->c.drop_malformed++;
		return;
	}
	if (es_engine_whisper(s->engine, id, to) < 0) {
		s->c.drop_malformed++;
		return;
	}
	if (q->whisper_to >= 0 && q->whisper_to != to)
		whisper_notice(s, (unsigned)q->whisper_to, id, false);
	if (to >= 0)
		whisper_notice(s, (unsigned)to, id, true);
	q->whisper_to = to;
}

static void handle_packet(struct es_server *s, ENetPeer *peer, const ENetPacket *pkt)
{
	struct peer_slot *slot = peer->data;
	s->c.packets_in++;
	s->c.bytes_in += pkt->dataLength;
	if (pkt->dataLength > ES_MSG_MAX) {
		s->c.drop_oversize++;
		return;
	}
	struct es_msg m;
	int r = es_msg_decode(&m, pkt->data, pkt->dataLength);
	if (r < 0) {
		if (r == -EPROTONOSUPPORT)
			s->c.drop_unknown++;
		else
			s->c.drop_malformed++;
		return;
	}
	if (slot->st != SLOT_AUTHED) {
		/* before the handshake only message 1 is accepted, once */
		if (m.type != ES_MSG_HANDSHAKE1 || slot->st != SLOT_IDLE) {
			s->c.drop_unjoined++;
			return;
		}
		if (m.u.blob.len > sizeof(slot->msg1)) {
			s->c.drop_oversize++;
			return;
		}
		if (s->c.people + s->hs_count + (s->hsw ? es_hs_worker_inflight(s->hsw) : 0) >= s->cfg.max_people) {
			busy(s, peer); /* full, counting those already queued: say so at once, no X25519 */
			return;
		}
		if (!es_front_door_handshake_ok(s->door, peer->address.host)) {
			s->c.drop_rate++;
			refuse(s, peer, ES_REFUSED_RATE);
			return;
		}
		memcpy(slot->msg1, m.u.blob.data, m.u.blob.len);
		slot->msg1_len = m.u.blob.len;
		slot->st = SLOT_QUEUED;
		size_t npeers = s->host->peerCount;
		s->hs_queue[(s->hs_head + s->hs_count) % npeers] = (unsigned)(peer - s->host->peers);
		s->hs_count++;
		return;
	}
	if (m.type != ES_MSG_SEALED) {
		s->c.drop_unjoined++; /* plain traffic after the handshake */
		return;
	}
	static const uint8_t ad = ES_MSG_SEALED;
	r = es_cipher_open(&slot->rx, &ad, 1, m.u.blob.data, m.u.blob.len, s->buf, sizeof(s->buf));
	if (r < 0) {
		if (r == -EALREADY)
			s->c.drop_replayed++;
		else if (r == -ESTALE)
			s->c.drop_stale++;
		else
			s->c.drop_tampered++;
		return;
	}
	r = es_msg_decode(&m, s->buf, (size_t)r);
	if (r < 0 || es_msg_is_plain(m.type)) {
		if (r == -EPROTONOSUPPORT)
			s->c.drop_unknown++;
		else
			s->c.drop_malformed++;
		return;
	}
	if (slot->person < 0) {
		s->c.drop_unjoined++;
		return;
	}
	unsigned id = (unsigned)slot->person;
	struct person *q = &s->people[id];
	switch (m.type) {
	case ES_MSG_AUDIO_UP:
		if (q->flags & ES_PF_MUTED || q->admin_muted)
			break; /* a muted client should send nothing; be sure */
		r = es_engine_push(s->engine, id, m.u.up.seq, m.u.up.opus, m.u.up.len,
				   (m.u.up.flags & ES_UP_PREROLL ? ES_ENGINE_UP_PREROLL : 0) |
					   (m.u.up.flags & ES_UP_QUIET ? ES_ENGINE_UP_QUIET : 0),
				   s->in_frac);
		if (r == -EALREADY)
			s->c.drop_late++;
		else if (r == -EMSGSIZE)
			s->c.drop_oversize++;
		else if (r == 0)
			q->last_voice_tick = s->tick;
		/* last: a report is sealed through s->buf, where this frame is */
		count_uplink(s, id, m.u.up.seq, m.u.up.flags);
		break;
	case ES_MSG_MOVE:
		if (!request_ok(s, id, ES_REQ_MOVE))
			break;
		if (move_check(s, id, pos_x(&m.u.move), pos_y(&m.u.move)) != ES_PLACE_OK) {
			s->c.moves_refused++;
			tell_admin(s, id, ES_ADMIN_REFUSED); /* you are still here */
			break;
		}
		if (es_engine_move(s->engine, id, pos_x(&m.u.move), pos_y(&m.u.move), pos_facing_rad(&m.u.move)) == 0)
			moved_to(s, id, &m.u.move);
		else
			s->c.drop_malformed++;
		break;
	case ES_MSG_STATE:
		if (!request_ok(s, id, ES_REQ_STATE))
			break;
		q->flags = m.u.state.flags & (ES_PF_MUTED | ES_PF_FOCUS | ES_PF_THIN);
		apply_flags(s, id);
		q->dirty = true;
		break;
	case ES_MSG_DOORS:
		if (request_ok(s, id, ES_REQ_DOOR))
			handle_door(s, id, &m.u.doors);
		break;
	case ES_MSG_KNOCK:
		if (request_ok(s, id, ES_REQ_KNOCK))
			handle_knock(s, id, m.u.knock.room);
		break;
	case ES_MSG_WHISPER:
		if (request_ok(s, id, ES_REQ_WHISPER))
			handle_whisper(s, id, m.u.whisper.to);
		break;
	case ES_MSG_VOLUME:
		if (!request_ok(s, id, ES_REQ_VOLUME))
			break;
		if (m.u.volume.speaker >= s->cfg.max_people ||
		    es_engine_set_volume(s->engine, id, m.u.volume.speaker, es_gain_from_q(m.u.volume.gain_q)) < 0)
			s->c.drop_malformed++;
		break;
	case ES_MSG_FLOOR_GET:
		handle_floor_get(s, id);
		break;
	case ES_MSG_LINK: {
		/* the client's downlink: lower its budget while it loses */
		unsigned before = es_engine_budget(s->engine, id);
		int now = es_engine_report_loss(s->engine, id, m.u.link.loss_permille);
		if (now >= 0 && (unsigned)now < before)
			s->c.budget_lowered++;
		bool low = now >= 0 && (unsigned)now < q->downlink_bps;
		if (low != q->budget_low)
			s->c.budget_reduced = s->c.budget_reduced + (low ? 1u : 0u) - (q->budget_low ? 1u : 0u);
		q->budget_low = low;
		break;
	}
	default:
		s->c.drop_unknown++; /* a server-to-client type from a client */
		break;
	}
}

static void on_connect(struct es_server *s, ENetPeer *peer)
{
	/* voice must not be throttled: our own loss handling is FEC and PLC */
	enet_peer_throttle_configure(peer, 5000, ENET_PEER_PACKET_THROTTLE_SCALE, 0);
	peer->packetThrottle = ENET_PEER_PACKET_THROTTLE_SCALE;
	enet_peer_timeout(peer, 0, 3000, 6000);
	/* a silent client costs only pings: ours every 2 s, theirs every 1 s */
	enet_peer_ping_interval(peer, 2000);
	struct peer_slot *slot = peer->data;
	slot->gen++;
	slot->connected_ms = es_now_ns() / 1000000;
	slot->person = -1;
	slot->st = SLOT_IDLE;
	/* the client checks this against the key it pinned before it says anything */
	struct es_msg k = {.type = ES_MSG_SERVER_KEY, .u.server_key.version = ES_PROTO_VERSION};
	memcpy(k.u.server_key.key, s->key.pub, 32);
	(void)send_msg(s, peer, &k);
}

static void handle_event(struct es_server *s, ENetEvent *ev)
{
	switch (ev->type) {
	case ENET_EVENT_TYPE_CONNECT:
		on_connect(s, ev->peer);
		break;
	case ENET_EVENT_TYPE_RECEIVE:
		handle_packet(s, ev->peer, ev->packet);
		enet_packet_destroy(ev->packet);
		break;
	case ENET_EVENT_TYPE_DISCONNECT:
		person_leave(s, ev->peer->data);
		((struct peer_slot *)ev->peer->data)->st = SLOT_IDLE;
		break;
	default:
		break;
	}
}

/*
 * enet_host_service walks every peer slot twice per call (to send, and
 * again after receiving at most 256 datagrams); with thousands of slots
 * that is the dearest thing this loop does.  So it is called deliberately:
 * at each tick and once between ticks (SERVICE_EVERY_NS), never once per
 * wake-up, and the events it queues are drained with
 * enet_host_check_events, which walks nothing.  The socket's receive
 * buffer holds what arrives in between.
 */
static void service(struct es_server *s)
{
	ENetEvent ev;
	s->in_frac = es_jitter_frac(es_now_ns() - (s->deadline_ns - TICK_NS), TICK_NS);
	for (int round = 0; round < 32; round++) {
		uint32_t before = s->host->totalReceivedPackets;
		/*
		 * No event pointer: given one, ENet stops its receive pass at
		 * the first connection it completes and returns it, so a join
		 * storm cost a whole walk of the peers per arrival (and at most
		 * 32 arrivals per service, the rest waiting 10 ms in the
		 * socket).  Without one it receives up to 256 datagrams and
		 * queues every event, drained below without walking.
		 */
		int r = enet_host_service(s->host, NULL, 0);
		if (r < 0)
			break;
		while (enet_host_check_events(s->host, &ev) > 0)
			handle_event(s, &ev);
		/* another round while the receive pass keeps finding a full batch */
		if (s->host->totalReceivedPackets - before < 200)
			break;
	}
	s->flushes++;
	s->last_service_ns = es_now_ns();
}

struct emit_ctx {
	struct es_server *s;
};

static void emit(void *ud, const struct es_engine_out *out)
{
	struct es_server *s = ud;
	struct person *q = &s->people[out->listener];
	if (!q->used)
		return;
	struct es_msg m = {.type = ES_MSG_AUDIO_DOWN};
	struct es_audio_down *d = &m.u.down;
	d->tick = (uint32_t)s->tick;
	d->seq = q->down_seq++;
	d->nvoices = (uint8_t)out->nvoices; /* ES_ENGINE_FORWARD_MAX == ES_BUNDLE_VOICES_MAX */
	for (unsigned i = 0; i < d->nvoices; i++) {
		float az = out->voice[i].azimuth * 1800.0f / (float)M_PI;
		d->voice[i] = (struct es_bundle_voice){
			.speaker = (uint16_t)out->voice[i].speaker,
			.seq = out->voice[i].seq,
			.gain_q = es_gain_to_q(out->voice[i].gain),
			.azimuth = (int16_t)lrintf(fmaxf(-1800.0f, fminf(1800.0f, az))),
			.flags = out->voice[i].flags & ES_ENGINE_VOICE_FEC ? ES_VOICE_FEC : 0,
			.len = (uint16_t)out->voice[i].len,
			.opus = out->voice[i].opus,
		};
	}
	d->mix_len = (uint16_t)out->mix_len;
	d->mix = out->mix;
	d->mix_stream = out->mix_stream;
	d->mix_flags = out->mix_mirror ? ES_MIX_MIRROR : 0;
	int64_t t0 = es_now_ns();
	(void)send_audio(s, q->peer, &m);
	s->c.phase_ns[ES_PHASE_SEND] += (uint64_t)(es_now_ns() - t0);
}

enum {
	PRES_NEW = 1,  /* joined: a JOIN entry */
	PRES_TRUE = 2, /* changed as those who see them as they are see it */
	PRES_OUT = 4,  /* changed as those outside their closed room see it */
};

/* Heapsort: in place and without malloc (glibc's qsort may allocate), on the tick thread. */
static void sift(uint32_t *a, size_t root, size_t n)
{
	for (size_t child; (child = 2 * root + 1) < n; root = child) {
		if (child + 1 < n && a[child + 1] > a[child])
			child++;
		if (a[root] >= a[child])
			return;
		uint32_t t = a[root];
		a[root] = a[child];
		a[child] = t;
	}
}

static void sort_u32(uint32_t *a, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift(a, i, n);
	for (size_t end = n; end > 1; end--) {
		uint32_t t = a[0];
		a[0] = a[end - 1];
		a[end - 1] = t;
		sift(a, 0, end - 1);
	}
}

/*
 * Presence deltas: places and flags that changed, talking edges, leaves,
 * to those who asked for presence at join (a UI draws it; bots need not),
 * each as their room shows it (see closed_room).
 */
static void presence_batch(struct es_server *s)
{
	unsigned nchanged = 0, nobs = 0;
	s->c.talking = s->c.muted = 0;
	for (unsigned i = 0; i < s->cfg.max_people; i++) {
		struct person *q = &s->people[i];
		if (!q->used)
			continue;
		bool muted = q->flags & ES_PF_MUTED || q->admin_muted;
		bool talking = !muted && q->last_voice_tick && s->tick - q->last_voice_tick < TALK_HOLD_TICKS;
		s->c.talking += talking;
		s->c.muted += muted;
		if (talking != q->talking) {
			q->talking = talking;
			q->dirty = true;
		}
		int room = closed_room(s->cfg.floor, &q->pos);
		s->pres_room[i] = room;
		uint8_t out_flags = room >= 0 ? ES_PF_MEETING : presence_flags(q);
		bool out_changed = out_flags != q->out_flags || q->pos.x_cm != q->out_pos.x_cm ||
				   q->pos.y_cm != q->out_pos.y_cm || q->pos.facing != q->out_pos.facing;
		uint8_t chg = 0;
		if (q->announce)
			chg = PRES_NEW | PRES_TRUE | PRES_OUT;
		else {
			/* out of a meeting (walked out, a door opened): those outside saw only "meeting" */
			if (q->dirty || (room < 0 && out_changed))
				chg |= PRES_TRUE;
			if (out_changed)
				chg |= PRES_OUT;
			if (q->roster && room != q->meeting)
				q->resync = true;
		}
		s->pres_chg[i] = chg;
		if (chg)
			s->pres_changed[nchanged++] = i;
		q->announce = q->dirty = false;
		q->meeting = room;
		q->out_flags = out_flags;
		q->out_pos = q->pos;
		if (q->roster)
			s->pres_order[nobs++] = (uint32_t)(room + 1) << 16 | i;
	}
	if (nchanged || s->nleaves) {
		/* observers grouped by their room (most are in none: one group) */
		sort_u32(s->pres_order, nobs);
		for (unsigned g = 0; g < nobs;) {
			int from = (int)(s->pres_order[g] >> 16) - 1;
			unsigned end = g;
			while (end < nobs && s->pres_order[end] >> 16 == s->pres_order[g] >> 16)
				end++;
			unsigned n = 0;
			for (unsigned k = 0; k < s->nleaves; k++)
				s->pres_e[n++] = (struct es_presence_entry){.id = (uint16_t)s->leaves[k], .kind = ES_PRESENCE_LEAVE};
			for (unsigned k = 0; k < nchanged; k++) {
				unsigned i = s->pres_changed[k];
				int room = s->pres_room[i];
				bool outside = room >= 0 && room != from;
				if (s->pres_chg[i] & (outside ? PRES_OUT : PRES_TRUE))
					presence_view(s, i, room, from,
						      s->pres_chg[i] & PRES_NEW ? ES_PRESENCE_JOIN : ES_PRESENCE_UPDATE,
						      &s->pres_e[n++]);
			}
			/* each message is built once and sealed for every observer of the group */
			struct es_msg m = {.type = ES_MSG_PRESENCE};
			for (unsigned off = 0; off < n; off += ES_PRESENCE_MAX) {
				unsigned k = n - off < ES_PRESENCE_MAX ? n - off : ES_PRESENCE_MAX;
				memcpy(m.u.presence.entry, s->pres_e + off, k * sizeof(*s->pres_e));
				m.u.presence.count = (uint8_t)k;
				for (unsigned o = g; o < end; o++)
					(void)send_msg(s, s->people[s->pres_order[o] & 0xFFFF].peer, &m);
			}
			g = end;
		}
	}
	s->nleaves = 0;
	for (unsigned o = 0; o < nobs; o++) {
		unsigned i = s->pres_order[o] & 0xFFFF;
		if (s->people[i].resync) {
			s->people[i].resync = false;
			send_roster(s, i);
		}
	}
}

static void reap_prejoin(struct es_server *s)
{
	int64_t now_ms = es_now_ns() / 1000000;
	for (size_t i = 0; i < s->host->peerCount; i++) {
		ENetPeer *peer = &s->host->peers[i];
		struct peer_slot *slot = &s->slots[i];
		if (peer->state == ENET_PEER_STATE_DISCONNECTED || slot->person >= 0)
			continue;
		/* a handshake waiting in our queue is our delay, not theirs: give it longer */
		int64_t limit = slot->st == SLOT_QUEUED || slot->st == SLOT_WORKING ? PREJOIN_QUEUED_MS : PREJOIN_MS;
		if (peer->state == ENET_PEER_STATE_CONNECTED && now_ms - slot->connected_ms > limit) {
			s->c.prejoin_timeouts++;
			enet_peer_disconnect_now(peer, 0); /* tells the peer, then frees the slot */
		}
	}
}

/*
 * The broadcasts that need not make the tick's deadline: door changes and
 * the presence batch, then (between ticks) a flush so they leave now.  In
 * the tick, its own flush follows.
 */
static void after_tick(struct es_server *s, bool flush)
{
	if (s->ndoors_pending)
		broadcast_doors(s);
	if (s->presence_due)
		presence_batch(s);
	s->presence_due = false;
	s->after_due_tick = 0;
	if (flush) {
		enet_host_flush(s->host);
		s->flushes++;
	}
}

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int tick(struct es_server *s)
{
	int64_t start = es_now_ns(), cpu0 = thread_cpu_ns();
	s->tick++;
	s->c.ticks++;
	service(s); /* ENet's own timers (acks, timeouts) run on every tick */
	int64_t t1 = es_now_ns();
	s->c.phase_ns[ES_PHASE_SERVICE] += (uint64_t)(t1 - start);
	run_handshakes(s);
	int64_t t2 = es_now_ns();
	s->c.phase_ns[ES_PHASE_HANDSHAKE] += (uint64_t)(t2 - t1);
	uint64_t send0 = s->c.phase_ns[ES_PHASE_SEND];
	int r = es_engine_tick(s->engine, emit, s);
	int64_t t3 = es_now_ns();
	s->c.phase_ns[ES_PHASE_ENGINE] += (uint64_t)(t3 - t2) - (s->c.phase_ns[ES_PHASE_SEND] - send0);
	if (s->sender) {
		/* the bundles leave while presence and ENet's flush run here */
		es_sender_submit(s->sender);
		int64_t t = es_now_ns();
		s->c.phase_ns[ES_PHASE_SEND] += (uint64_t)(t - t3);
		t3 = t;
	}
	if (r < 0) {
		static struct es_log_ratelimit rl; /* a failing codec would fail every tick */
		es_log_rl(&rl, (uint64_t)(es_now_ns() / 1000000), ES_LOG_ERROR, "mixer tick failed: %s", strerror(-r));
	}
	/* what found no slack after the ticks of a whole presence period runs here */
	if (s->after_due_tick && s->tick - s->after_due_tick >= PRESENCE_EVERY)
		after_tick(s, false);
	if (s->tick % PRESENCE_EVERY == 0)
		s->presence_due = true;
	if (s->presence_due && !s->after_due_tick)
		s->after_due_tick = s->tick;
	/* a walk of the peers, and the timeout it counts is read right after the drop (test-security) */
	if (s->tick % 10 == 0)
		reap_prejoin(s);
	int64_t t4 = es_now_ns();
	s->c.phase_ns[ES_PHASE_PRESENCE] += (uint64_t)(t4 - t3);
	enet_host_flush(s->host);
	s->flushes++;
	s->c.phase_ns[ES_PHASE_FLUSH] += (uint64_t)(es_now_ns() - t4);
	s->c.phase_ns[ES_PHASE_TICK_CPU] += (uint64_t)(thread_cpu_ns() - cpu0);
	/* the engine sheds quality (complexity, sample rate, voices per mix) as
	 * its share of the tick nears the budget, and restores it when it falls */
	int64_t work_us = (es_now_ns() - start) / 1000;
	es_engine_report_tick_us(s->engine, (unsigned)(work_us > 1000000 ? 1000000 : work_us));
	s->c.load_level = es_engine_load_level(s->engine);
	struct es_engine_stats es;
	es_engine_get_stats(s->engine, &es);
	s->c.engine_work[ES_ENGINE_WORK_DECODES] += es.decodes;
	s->c.engine_work[ES_ENGINE_WORK_ENCODES] += es.encodes;
	s->c.engine_work[ES_ENGINE_WORK_WARMUPS] = es.warmups;
	s->c.engine_work[ES_ENGINE_WORK_PERSONAL] += es.streams_personal;
	s->c.engine_work[ES_ENGINE_WORK_SHARED] += es.streams_shared;
	s->c.engine_work[ES_ENGINE_WORK_LISTENERS_MIX] += es.listeners_mix;
	s->c.engine_work[ES_ENGINE_WORK_FORWARDED] += es.forwarded;
	s->c.engine_work[ES_ENGINE_WORK_OVER_BUDGET] += es.listeners_budget;
	s->c.level_ticks[es.load_level < 4 ? es.load_level : 3]++;
	for (unsigned i = 0; i < ES_ENGINE_STEP__COUNT; i++)
		s->c.load_steps[i] = es.steps[i];
	s->c.load_estimate_us = es.estimate_us;
	s->c.uplink_fec = es.frames_fec;
	s->c.uplink_plc = es.frames_plc;
	s->c.bundle_max = es.bytes_max;
	if (s->cfg.hooks && s->cfg.hooks->tick) {
		s->c.plan_silent = es.listeners_silent;
		s->c.plan_forward = es.listeners_forward;
		s->c.plan_mix = es.listeners_mix;
		s->c.encodes = es.encodes;
		s->cfg.hooks->tick(s->cfg.hooks->ud, &s->c, (uint64_t)(es_now_ns() - start));
	}
	return 0;
}

static void say_goodbye(struct es_server *s, uint8_t reason)
{
	struct es_msg bye = {.type = ES_MSG_BYE, .u.bye.reason = reason};
	for (unsigned i = 0; i < s->cfg.max_people; i++)
		if (s->people[i].used) {
			(void)send_msg(s, s->people[i].peer, &bye);
			enet_peer_disconnect_later(s->people[i].peer, 0);
		}
	enet_host_flush(s->host);
	/* give the disconnects up to 300 ms to be acknowledged */
	int64_t until = es_now_ns() + 300000000LL;
	ENetEvent ev;
	while (s->c.people > 0 && es_now_ns() < until) {
		if (enet_host_service(s->host, &ev, 10) > 0 && ev.type == ENET_EVENT_TYPE_DISCONNECT)
			person_leave(s, ev.peer->data);
		else if (ev.type == ENET_EVENT_TYPE_RECEIVE)
			enet_packet_destroy(ev.packet);
	}
}

/*
 * Where the tail goes: a late tick is rare (a few in 10,000 on a quiet
 * machine) and the cumulative phase times hide it, so the phases of each
 * late tick are summed apart, and each phase's largest single tick is kept
 * over a window.  A copy of ten counters per tick.
 */
/* Note d against slot i (a phase, or ES_PHASE__COUNT: the work) in this window; the max of both windows. */
static uint64_t tail_note(struct es_server *s, unsigned i, uint64_t d)
{
	uint64_t *m = s->tail_max[(s->tick / TAIL_WINDOW) & 1];
	if (d > m[i])
		m[i] = d;
	return s->tail_max[0][i] > s->tail_max[1][i] ? s->tail_max[0][i] : s->tail_max[1][i];
}

static void tail_account(struct es_server *s, const uint64_t before[ES_PHASE__COUNT], uint64_t work_ns, bool late)
{
	if (s->tick % TAIL_WINDOW == 0)
		memset(s->tail_max[(s->tick / TAIL_WINDOW) & 1], 0, sizeof(s->tail_max[0]));
	for (unsigned i = 0; i < ES_PHASE__COUNT; i++) {
		uint64_t d = s->c.phase_ns[i] - before[i];
		if (late)
			s->c.late_phase_ns[i] += d;
		s->c.phase_max_ns[i] = tail_note(s, i, d);
	}
	s->c.work_max_ns = tail_note(s, ES_PHASE__COUNT, work_ns);
}

int es_server_run(struct es_server *s, volatile int *stop)
{
	s->deadline_ns = es_now_ns() + TICK_NS;
	struct pollfd pfd[1 + ES_SERVER_POLL_MAX] = {{.fd = s->host->socket, .events = POLLIN}};
	/* room for what arrives between two services: ~10 ms of a full floor */
	enet_socket_set_option(s->host->socket, ENET_SOCKOPT_RCVBUF, 8 << 20);
	enet_socket_set_option(s->host->socket, ENET_SOCKOPT_SNDBUF, 8 << 20);
	while (!*stop) {
		int64_t now = es_now_ns();
		if (now >= s->deadline_ns) {
			uint64_t before[ES_PHASE__COUNT];
			memcpy(before, s->c.phase_ns, sizeof(before));
			s->c.phase_ns[ES_PHASE_LATE] += (uint64_t)(now - s->deadline_ns);
			int r = tick(s);
			if (r < 0)
				return r;
			s->deadline_ns += TICK_NS;
			int64_t after = es_now_ns();
			bool late = after > s->deadline_ns;
			tail_account(s, before, (uint64_t)(after - now), late);
			if (late) {
				s->c.ticks_late++;
				/* more than a few ticks behind: start again from now rather than burst */
				if (after - s->deadline_ns > 5 * TICK_NS)
					s->deadline_ns = after + TICK_NS;
			}
			continue;
		}
		if (s->after_due_tick && s->deadline_ns - now > AFTER_SLACK_NS) {
			after_tick(s, true);
			uint64_t d = (uint64_t)(es_now_ns() - now);
			s->c.phase_ns[ES_PHASE_IDLE_PRESENCE] += d;
			/* between ticks, so not in tail_account: its largest here */
			s->c.phase_max_ns[ES_PHASE_IDLE_PRESENCE] = tail_note(s, ES_PHASE_IDLE_PRESENCE, d);
			continue;
		}
		if (now - s->last_service_ns >= SERVICE_EVERY_NS) {
			service(s);
			s->c.phase_ns[ES_PHASE_IDLE_SERVICE] += (uint64_t)(s->last_service_ns - now);
			continue;
		}
		int64_t wait = s->deadline_ns - now;
		if (wait > HS_SLACK_NS && handshake_step(s)) {
			/* answered now, sent by the next service or tick flush (no walk per handshake) */
			s->c.phase_ns[ES_PHASE_IDLE_HANDSHAKE] += (uint64_t)(es_now_ns() - now);
			continue;
		}
		int64_t next_service = s->last_service_ns + SERVICE_EVERY_NS - now;
		if (next_service < wait)
			wait = next_service;
		struct timespec ts = {.tv_sec = wait / 1000000000LL, .tv_nsec = wait % 1000000000LL};
		unsigned nx = s->poll.fds ? s->poll.fds(s->poll.ud, s->tick, pfd + 1, ES_SERVER_POLL_MAX) : 0;
		if (nx > ES_SERVER_POLL_MAX)
			nx = ES_SERVER_POLL_MAX;
		int pr = ppoll(pfd + 1, nx, &ts, NULL); /* the ENet socket waits for its turn */
		if (pr < 0 && errno != EINTR)
			return -errno;
		bool extra = false;
		for (unsigned i = 1; pr > 0 && i <= nx; i++)
			extra |= pfd[i].revents != 0;
		if (extra)
			s->poll.ready(s->poll.ud, s->tick, pfd + 1, nx);
	}
	say_goodbye(s, ES_BYE_RESTART);
	return 0;
}

/* ==== moderation (the admin socket, daemon/admin.c) ====================== */

void es_server_set_poll(struct es_server *s, const struct es_server_poll *p)
{
	if (p && p->fds && p->ready)
		s->poll = *p;
	else
		s->poll = (struct es_server_poll){0};
}

unsigned es_server_max_people(const struct es_server *s)
{
	return s->cfg.max_people;
}

int es_server_person(const struct es_server *s, unsigned id, struct es_server_person *out)
{
	if (id >= s->cfg.max_people || !s->people[id].used)
		return 0;
	const struct person *q = &s->people[id];
	const struct peer_slot *slot = q->peer->data;
	out->id = id;
	memcpy(out->name, q->name, sizeof(out->name));
	memcpy(out->key, slot->key, 32);
	out->pos = q->pos;
	out->flags = presence_flags(q);
	return 1;
}

int es_server_find(const struct es_server *s, const char *name)
{
	for (unsigned i = 0; i < s->cfg.max_people; i++)
		if (s->people[i].used && strcmp(s->people[i].name, name) == 0)
			return (int)i;
	return -ENOENT;
}

int es_server_mute_key(struct es_server *s, const uint8_t key[32], bool muted)
{
	int k = muted_key_index(s, key);
	if (muted && k < 0) {
		if (s->nmuted >= s->cfg.max_people)
			return -ENOSPC;
		memcpy(s->muted_keys[s->nmuted++], key, 32);
	} else if (!muted && k >= 0) {
		memcpy(s->muted_keys[k], s->muted_keys[--s->nmuted], 32);
	}
	return 0;
}

int es_server_admin_mute(struct es_server *s, unsigned id, bool muted)
{
	if (id >= s->cfg.max_people || !s->people[id].used)
		return -ENOENT;
	struct person *q = &s->people[id];
	const struct peer_slot *slot = q->peer->data;
	int r = es_server_mute_key(s, slot->key, muted);
	if (r < 0)
		return r;
	q->admin_muted = muted;
	apply_flags(s, id);
	q->dirty = true;
	tell_admin(s, id, 0);
	return 0;
}

int es_server_admin_move(struct es_server *s, unsigned id, const struct es_pos *pos, enum es_place_verdict *why)
{
	*why = ES_PLACE_OK;
	if (id >= s->cfg.max_people || !s->people[id].used)
		return -ENOENT;
	if (pos->facing >= 3600)
		return -EINVAL;
	/* an admin may put someone into a closed room (a meeting), never into a wall, a table or onto a taken desk */
	int room = s->cfg.floor ? es_floor_room_at(s->cfg.floor, pos_x(pos), pos_y(pos)) : -1;
	*why = es_places_check(s->places, (int)id, room, -1, pos_x(pos), pos_y(pos), false);
	if (*why != ES_PLACE_OK)
		return -EINVAL;
	int r = es_engine_move(s->engine, id, pos_x(pos), pos_y(pos), pos_facing_rad(pos));
	if (r < 0)
		return r;
	moved_to(s, id, pos);
	tell_admin(s, id, ES_ADMIN_MOVED);
	return 0;
}

int es_server_room_set(struct es_server *s, unsigned room, bool open)
{
	struct es_floor *f = s->cfg.floor;
	if (!f || room >= es_floor_room_count(f))
		return -ENOENT;
	const unsigned *doors;
	int nd = es_floor_room_doors(f, room, &doors);
	if (nd <= 0)
		return -ENODEV;
	/* an admin's close is a lock: people inside stay, nobody opens it but an admin */
	es_places_lock_room(s->places, room, !open);
	int changed = 0;
	for (int i = 0; i < nd; i++)
		changed += door_change(s, doors[i], open);
	return changed;
}

bool es_server_room_locked(const struct es_server *s, unsigned room)
{
	return es_places_room_locked(s->places, room);
}

int es_server_desk_own(struct es_server *s, const char *label, bool owned)
{
	int d = s->cfg.floor ? es_floor_desk_find(s->cfg.floor, label) : -ENOENT;
	if (d < 0)
		return -ENOENT;
	es_places_own(s->places, (unsigned)d, owned);
	return 0;
}

void es_server_desks_disown_all(struct es_server *s)
{
	es_places_disown_all(s->places);
}

int es_server_desk_sitter(const struct es_server *s, const char *label)
{
	int d = s->cfg.floor ? es_floor_desk_find(s->cfg.floor, label) : -1;
	return d < 0 ? -1 : es_places_occupant(s->places, (unsigned)d);
}

int es_server_admin_remove(struct es_server *s, unsigned id, uint8_t bye_reason)
{
	if (id >= s->cfg.max_people || !s->people[id].used)
		return -ENOENT;
	ENetPeer *peer = s->people[id].peer;
	struct peer_slot *slot = peer->data;
	struct es_msg bye = {.type = ES_MSG_BYE, .u.bye.reason = bye_reason};
	(void)send_msg(s, peer, &bye);
	person_leave(s, slot);
	slot->st = SLOT_IDLE;
	enet_peer_disconnect_later(peer, 0);
	return 0;
}

/* ==== a new floor plan (SIGHUP) =========================================== */

#define RELOCATE_GREEDY_MAX 16

static const char *room_name_at(const struct es_floor *f, float x, float y)
{
	int room = f ? es_floor_room_at(f, x, y) : -1;
	return room < 0 ? NULL : es_floor_room_name(f, (unsigned)room);
}

/* Someone other than `self` stands on the cell (c,r) of f. */
static bool cell_taken(const struct es_server *s, const struct es_floor *f, unsigned self, unsigned c, unsigned r)
{
	for (unsigned i = 0; i < s->cfg.max_people; i++) {
		const struct person *o = &s->people[i];
		unsigned oc, orow;
		if (i != self && o->used &&
		    es_floor_cell_at(f, (float)o->pos.x_cm / 100.0f, (float)o->pos.y_cm / 100.0f, &oc, &orow) == 0 &&
		    oc == c && orow == r)
			return true;
	}
	return false;
}

/*
 * Where to put someone whose place vanished: `own` (their desk on the new
 * floor, -1 none) if it is free, else the nearest free desk, else the
 * nearest free walkable cell, searched in growing squares around where
 * they were.  Only places one may walk into count (not behind a closed
 * door).  -1 desk and false if the floor has no such place at all.
 */
static bool find_place(const struct es_server *s, const struct es_floor *f, unsigned self, int own, float x, float y,
		       float *ox, float *oy, int *odesk)
{
	float dx, dy;
	*odesk = -1;
	if (own >= 0 && es_places_occupant(s->places, (unsigned)own) < 0 &&
	    es_floor_desk(f, (unsigned)own, &dx, &dy, NULL) == 0) {
		*ox = dx, *oy = dy, *odesk = own;
		return true;
	}
	float best = INFINITY;
	for (unsigned i = 0; i < es_places_desk_count(s->places); i++) {
		/* nobody's own desk but theirs: the others are kept for their owners */
		if (es_places_occupant(s->places, i) >= 0 || (es_places_owned(s->places, i) && (int)i != own) ||
		    es_floor_desk(f, i, &dx, &dy, NULL) < 0 || !es_places_enterable(s->places, dx, dy))
			continue;
		float d = hypotf(dx - x, dy - y);
		if (d < best)
			best = d, *ox = dx, *oy = dy, *odesk = (int)i;
	}
	if (*odesk >= 0)
		return true;
	/* the cell nearest to (x,y), clamped into the grid */
	float sc = es_floor_scale(f);
	long cols = (long)es_floor_cols(f), rows = (long)es_floor_rows(f);
	long c0 = isfinite(x) ? lrintf(x / sc - 0.5f) : 0;
	long r0 = isfinite(y) ? rows - 1 - lrintf(y / sc - 0.5f) : 0;
	c0 = c0 < 0 ? 0 : c0 >= cols ? cols - 1 : c0;
	r0 = r0 < 0 ? 0 : r0 >= rows ? rows - 1 : r0;
	long maxr = cols > rows ? cols : rows;
	for (long rad = 0; rad <= maxr; rad++) {
		bool found = false;
		/* the ring of this radius only: its top and bottom rows, then its sides */
		for (long k = 0; k < (rad ? 8 * rad : 1); k++) {
			long side = 2 * rad + 1, r, c;
			if (k < side)
				r = r0 - rad, c = c0 - rad + k;
			else if (k < 2 * side)
				r = r0 + rad, c = c0 - rad + (k - side);
			else if (k < 2 * side + (side - 2))
				r = r0 - rad + 1 + (k - 2 * side), c = c0 - rad;
			else
				r = r0 - rad + 1 + (k - 2 * side - (side - 2)), c = c0 + rad;
			if (r < 0 || c < 0 || r >= rows || c >= cols)
				continue;
			float cx, cy;
			es_floor_cell_center(f, (unsigned)c, (unsigned)r, &cx, &cy);
			if (!es_floor_walkable(f, cx, cy) || es_floor_door_at(f, cx, cy) >= 0 || es_floor_desk_at(f, cx, cy) >= 0 ||
			    !es_places_enterable(s->places, cx, cy) ||
			    cell_taken(s, f, self, (unsigned)c, (unsigned)r))
				continue;
			float d = hypotf(cx - x, cy - y);
			if (d < best)
				best = d, *ox = cx, *oy = cy, found = true;
		}
		if (found) /* a ring further out cannot be nearer by more than a cell: good enough */
			return true;
	}
	return false;
}

int es_server_set_floor(struct es_server *s, struct es_floor *f)
{
	const struct es_floor *old = s->cfg.floor;
	int *own = calloc(s->cfg.max_people, sizeof(*own));
	uint8_t *why = calloc(s->cfg.max_people, 1);
	if (!own || !why) {
		free(own);
		free(why);
		return -ENOMEM;
	}
	enum { STAYS, WALL, DESK_GONE, DESK_MOVED, ROOM_GONE };
	static const char *const reason[] = {"", "is now a wall, a table or outside the floor",
					     "was at a desk that is gone", "was at a desk that moved",
					     "was in a room that is gone or changed"};
	/*
	 * First see who keeps their place, so that those who must move are
	 * sent only to desks and cells nobody keeps.
	 */
	for (unsigned i = 0; i < s->cfg.max_people; i++) {
		struct person *q = &s->people[i];
		own[i] = -1;
		if (!q->used)
			continue;
		float x = (float)q->pos.x_cm / 100.0f, y = (float)q->pos.y_cm / 100.0f;
		int od = q->desk >= 0 ? q->desk : es_floor_desk_at(old, x, y);
		const char *label = NULL;
		if (od >= 0 && old)
			(void)es_floor_desk(old, (unsigned)od, NULL, NULL, &label);
		own[i] = f && label ? es_floor_desk_find(f, label) : -1;
		const char *ro = room_name_at(old, x, y), *rn = room_name_at(f, x, y);
		if (!f)
			why[i] = STAYS;
		else if (!es_floor_walkable(f, x, y))
			why[i] = WALL;
		else if (label && own[i] < 0)
			why[i] = DESK_GONE;
		else if (label && es_floor_desk_at(f, x, y) != own[i])
			why[i] = DESK_MOVED;
		else if ((ro || rn) && (!ro || !rn || strcmp(ro, rn) != 0))
			why[i] = ROOM_GONE;
		else
			why[i] = STAYS;
	}
	/* desks owned and rooms locked carry over by label and name; who sits where is seen again */
	if (es_places_set_floor(s->places, f) < 0) {
		free(own);
		free(why);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < s->cfg.max_people; i++) {
		struct person *q = &s->people[i];
		q->desk = -1;
		if (q->used && why[i] == STAYS)
			es_places_sit(s->places, i, &q->desk, pos_x(&q->pos), pos_y(&q->pos));
	}
	s->cfg.floor = f;
	s->ndoors_pending = 0; /* the old floor's doors: everyone is sent the new plan's below */
	es_engine_set_floor(s->engine, f); /* rooms are looked up again here */
	/*
	 * Nearest first: of those still to move, the one whose best place is
	 * nearest goes first (their own desk counts as nearest of all), so
	 * one who must move far does not take the desk right next to another.
	 * Beyond RELOCATE_GREEDY_MAX of them (a very different plan), in id
	 * order: the greedy choice costs movers^2 x desks.
	 */
	unsigned left = 0;
	for (unsigned i = 0; i < s->cfg.max_people; i++)
		left += s->people[i].used && why[i] != STAYS;
	bool greedy = left <= RELOCATE_GREEDY_MAX;
	int moved = 0;
	while (left > 0) {
		int pick = -1, pdesk = -1;
		float pbest = INFINITY, px = 0, py = 0;
		for (unsigned i = 0; i < s->cfg.max_people; i++) {
			struct person *q = &s->people[i];
			if (!q->used || why[i] == STAYS)
				continue;
			float x = (float)q->pos.x_cm / 100.0f, y = (float)q->pos.y_cm / 100.0f, nx, ny;
			int desk;
			if (!find_place(s, f, i, own[i], x, y, &nx, &ny, &desk)) {
				logf_("warn", "reload: %s %s, and the new floor has no free place to move them to",
				      q->name, reason[why[i]]);
				q->desk = -1;
				why[i] = STAYS;
				left--;
				continue;
			}
			float dist = desk >= 0 && desk == own[i] ? -1.0f : hypotf(nx - x, ny - y);
			if (dist < pbest) {
				pick = (int)i, pbest = dist, px = nx, py = ny, pdesk = desk;
				if (!greedy)
					break;
			}
		}
		if (pick < 0)
			break;
		unsigned i = (unsigned)pick;
		struct person *q = &s->people[i];
		float x = (float)q->pos.x_cm / 100.0f, y = (float)q->pos.y_cm / 100.0f;
		unsigned cause = why[i];
		why[i] = STAYS;
		left--;
		q->desk = -1;
		struct es_pos pos = {(int32_t)lrintf(px * 100.0f), (int32_t)lrintf(py * 100.0f), q->pos.facing};
		if (pos.x_cm == q->pos.x_cm && pos.y_cm == q->pos.y_cm) {
			/* the room around them went, the spot is fine and no desk is free */
			logf_("info", "reload: %s %s; stays at %.2f,%.2f, the nearest free place", q->name, reason[cause],
			      (double)x, (double)y);
			es_places_sit(s->places, i, &q->desk, x, y);
			continue;
		}
		if (es_engine_move(s->engine, i, px, py, pos_facing_rad(&pos)) < 0)
			continue;
		q->pos = pos;
		es_places_sit(s->places, i, &q->desk, px, py);
		q->dirty = true;
		const char *label = NULL;
		if (pdesk >= 0)
			(void)es_floor_desk(f, (unsigned)pdesk, NULL, NULL, &label);
		logf_("info", "reload: %s %s; moved from %.2f,%.2f to %.2f,%.2f%s%s", q->name, reason[cause], (double)x,
		      (double)y, (double)px, (double)py, label ? " at desk " : "", label ? label : "");
		struct peer_slot *slot = q->peer->data;
		if (s->cfg.hooks && s->cfg.hooks->place)
			s->cfg.hooks->place(s->cfg.hooks->ud, slot->key, q->name, q->pos.x_cm, q->pos.y_cm, q->pos.facing);
		tell_admin(s, i, ES_ADMIN_MOVED);
		moved++;
	}
	/* clients that draw the floor get the new plan and its doors */
	s->floor_version++;
	for (unsigned i = 0; f && i < s->cfg.max_people; i++)
		if (s->people[i].used && s->people[i].roster) {
			s->people[i].floor_sent = s->floor_version + 1;
			send_floor(s, s->people[i].peer);
		}
	s->c.relocated += (uint64_t)moved;
	free(own);
	free(why);
	return moved;
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
