/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <enet/enet.h>
#include <opus.h>

#include <sodium.h>

#include "clock.h"
#include "earshot-mixer.h"
#include "playout.h"
#include "servers.h"
#include "session.h"
#include "enet-addr.h"

#define CONNECT_TIMEOUT_MS 2000
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 8000
#define COOKIE_RESEND_MS 250
/*
 * What arrives before the server has proved its key (BUSY, a plain
 * REFUSED) may come from anyone who can send to us: it is a hint to try
 * again later, never a final answer, and "later" is at most this.
 */
#define HINT_RETRY_MAX_MS 60000
/* ENet's defaults are 32 MB; nothing the server sends is larger than a sealed ES_MSG_MAX */
#define PACKET_MAX (ES_MSG_MAX + 1 + ES_CIPHER_OVERHEAD)
/* delivered but not yet taken, per peer: a receive pass of floor-plan pieces fits */
#define WAITING_MAX (1024 * 1024)
/*
 * Redirects in a row without being admitted before we stop following them
 * at once: daemons that send us round in a circle are something wrong
 * (placement flapping, a bad configuration), not a place to spin.
 */
#define REDIRECTS_IN_ROW_MAX 4
#define LOST_FRESH_MS 10000 /* a redirect to the daemon lost this recently is a "not yet" */
#define LOST_RETRY_MS 400   /* ... asked again after this (with jitter) */
#define LOST_NOT_YET_MAX 12 /* about 6 s of them: longer than any lease */
#define SOON_MS 1000        /* a BUSY's retry this short is "in a moment": it does not grow the backoff */

struct es_session {
	struct es_session_config cfg;
	char name[ES_NAME_MAX + 1];
	ENetHost *host;
	ENetPeer *peer;
	ENetAddress addr;
	/* the company's daemons (servers.h): the one in use, which to try next */
	struct es_servers servers;
	/* each address as last resolved (for which text): a host name is looked up once, not at every reconnect */
	ENetAddress resolved[ES_SERVERS_MAX];
	char resolved_for[ES_SERVERS_MAX][ES_SERVER_ADDR_MAX + 1];
	unsigned redirects_in_row; /* since the last WELCOME */
	int64_t redirected_ms;     /* when the last redirect arrived, -1 none since: its connect measures the wait */
	/*
	 * The daemon we last lost and when: a company's other daemons still
	 * name it as its floors' owner until its lease expires (seconds), so a
	 * redirect there soon after is a "not yet", not a place to go.
	 */
	char lost_addr[ES_SERVER_ADDR_MAX + 1];
	int64_t lost_ms;
	unsigned not_yet; /* redirects there taken as "not yet" since: after a few, it may live after all */
	int64_t last_pull_ns; /* when playback last took a frame: bundles' arrival is measured from it */
	enum es_session_state state;
	bool reset_pending;
	/* security */
	struct es_keypair id;
	uint8_t pinned[32];
	bool have_pin;
	uint8_t secret[ES_INVITE_SECRET_BYTES];
	bool have_secret;
	uint8_t cookie_nonce[ES_COOKIE_NONCE_LEN];
	bool cookie_wanted, cookie_ready;
	int64_t cookie_sent_ms;
	uint32_t cookie;
	struct es_noise hs;
	struct es_cipher tx, rx;
	bool authed;
	/* what a reset of this session must carry (from the sealed WELCOME); none: act on no reset */
	bool have_reset_token;
	uint8_t reset_token[ES_RESET_TOKEN_LEN];
	uint8_t sealed[ES_MSG_MAX + ES_ENVELOPE_OVERHEAD];
	/* the floor, when asked for */
	bool want_floor, floor_asked;
	char *floor_text;
	uint32_t floor_total, floor_have;
	struct es_floor *floor;
	int whisper_to, whisper_from;
	char event[160];
	bool event_new;
	uint8_t plain[ES_MSG_MAX];
	int64_t state_since_ms;
	int64_t retry_at_ms;
	unsigned backoff_ms;
	int my_id;
	struct es_pos pos;
	uint8_t flags;
	bool admin_muted; /* an admin muted us: nothing is sent until they unmute */
	uint32_t seq;
	bool sent_last;   /* the previous frame was sent: the next one continues a spurt */
	float loss_est;   /* percent: fast up, slow down over the server's reports */
	OpusEncoder *enc;
	struct es_playout *playout;
	uint64_t down_expected, down_received; /* playout counts at the last downlink report */
	struct es_person_view roster[ES_ROSTER_MAX];
	char status[768]; /* the key-change refusal alone is ~400 bytes, ~600 with a company's two addresses */
	char status_live[600]; /* es_session_status() while joined: the place now, whether the server answers */
	bool asked_place;  /* the first HELLO named a place (--at) */
	struct es_pos asked;
	bool move_pending; /* a move of ours the server has not confirmed (presence) or refused */
	int door_pending;  /* a door we asked to change, -1 none: the DOORS that follows says how it went */
	bool door_want;
	struct es_pos move_to;
	char move_done[120];
	struct es_session_stats st;
	uint8_t buf[ES_MSG_MAX];
	uint8_t opus[ES_OPUS_MAX];
};

static void set_event(struct es_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* How long since the server last said anything (ENet pings included), ms. */
static uint32_t quiet_ms(const struct es_session *s)
{
	uint32_t d = enet_time_get() - s->peer->lastReceiveTime;
	return d > 86400000u ? 0 : d; /* lastReceiveTime a hair in the future: not quiet */
}

/*
 * In-band FEC follows the uplink loss the server reports (ES_MSG_LINK): a
 * report above the current estimate is taken at once, a lower one pulls it
 * down by a third of the difference (about 6 s to halve while talking), so
 * one lucky window does not strip protection.  Opus spends bits on FEC in
 * proportion to the loss it is told; at a clean link it spends none.
 * Before the first report: FEC_START_PERC.
 */
#define FEC_START_PERC 10
#define FEC_MAX_PERC 50

static void on_link(struct es_session *s, const struct es_link *l)
{
	float loss = (float)l->loss_permille / 10.0f;
	if (loss >= s->loss_est)
		s->loss_est = loss;
	else
		s->loss_est -= (s->loss_est - loss) / 2.0f;
	if (s->loss_est < 0.5f)
		s->loss_est = loss;
	int perc = (int)ceilf(s->loss_est - 0.05f);
	perc = perc > FEC_MAX_PERC ? FEC_MAX_PERC : perc < 0 ? 0 : perc;
	s->st.link_reports++;
	s->st.up_loss_permille = l->loss_permille;
	if ((unsigned)perc == s->st.fec_loss_perc)
		return;
	if (opus_encoder_ctl(s->enc, OPUS_SET_PACKET_LOSS_PERC(perc)) != OPUS_OK ||
	    opus_encoder_ctl(s->enc, OPUS_SET_INBAND_FEC(perc > 0)) != OPUS_OK)
		return;
	s->st.fec_loss_perc = (unsigned)perc;
	if (s->cfg.verbose)
		fprintf(stderr, "earshot: uplink loss %.1f %% over %u frames: FEC for %d %%\n", loss, l->frames, perc);
}

static void set_status(struct es_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_status(struct es_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->status, sizeof(s->status), fmt, ap);
	va_end(ap);
	if (s->cfg.verbose)
		fprintf(stderr, "earshot: %s\n", s->status);
}

/* ENet 1.3 hosts carry no user pointer: map ours back to its session. */
#define OWNERS 16
static struct {
	ENetHost *host;
	struct es_session *s;
} owners[OWNERS];

/* A reset from our server: it does not know us (it restarted). */
static int ENET_CALLBACK intercept(ENetHost *host, ENetEvent *event)
{
	struct es_session *s = NULL;
	for (unsigned i = 0; i < OWNERS && !s; i++)
		if (owners[i].host == host)
			s = owners[i].s;
	if (!s)
		return 0;
	bool from_server = host->receivedAddress.host == s->addr.host && host->receivedAddress.port == s->addr.port;
	if (es_cookie_is_raw(host->receivedData, host->receivedDataLength)) {
		uint32_t c;
		if (from_server && s->cookie_wanted &&
		    es_cookie_reply_parse(host->receivedData, host->receivedDataLength, s->cookie_nonce, &c) == 0) {
			s->cookie = c;
			s->cookie_wanted = false;
			s->cookie_ready = true;
		}
		return 1;
	}
	if (!es_is_reset(host->receivedData, host->receivedDataLength))
		return 0;
	/*
	 * Anyone can send this shape from the server's address: only the
	 * token the server sealed into our WELCOME makes it a reset of our
	 * session.  Before the WELCOME there is nothing to check it against,
	 * and a connection that is not answered gives up by itself.
	 */
	if (from_server && s->peer && s->state == ES_SESSION_JOINED && s->have_reset_token &&
	    es_reset_check(host->receivedData, host->receivedDataLength, s->reset_token) == 0)
		s->reset_pending = true;
	else
		s->st.resets_ignored++;
	(void)event;
	return 1;
}

struct es_session *es_session_new(const struct es_session_config *cfg)
{
	struct es_session *s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	int err = EINVAL;
	s->cfg = *cfg;
	size_t nl = strlen(cfg->name);
	if (nl == 0 || nl > ES_NAME_MAX) {
		fprintf(stderr, "earshot: a name is 1 to %d bytes\n", ES_NAME_MAX);
		goto err_free;
	}
	memcpy(s->name, cfg->name, nl + 1);
	s->cfg.name = s->name;
	int lr = es_servers_parse(&s->servers, cfg->server);
	if (lr < 0) {
		fprintf(stderr, "earshot: bad server address list '%s' (expected HOST[:PORT], or several separated by "
				"commas, at most %d, each 1 to %d printable bytes without spaces)\n",
			cfg->server, ES_SERVERS_MAX, ES_SERVER_ADDR_MAX);
		goto err_free;
	}
	/* each is checked for form now; the first, the company's, is resolved too (the others when they are tried) */
	for (unsigned i = 0; i < s->servers.n; i++) {
		const char *a = s->servers.addr[i];
		int pr = es_enet_parse_hostport(a, &s->addr, ES_HOSTPORT_NAMES | ES_HOSTPORT_DEFAULT_PORT, ES_DEFAULT_PORT);
		if (pr == 0) {
			s->resolved[i] = s->addr;
			memcpy(s->resolved_for[i], a, strlen(a) + 1);
		}
		if (pr == -EHOSTUNREACH && i > 0)
			continue;
		if (pr == -EHOSTUNREACH) {
			const char *colon = strrchr(a, ':');
			fprintf(stderr, "earshot: cannot resolve the server's host name '%.*s' (from '%s'): check the spelling, "
					"or the network and DNS\n", colon ? (int)(colon - a) : (int)strlen(a), a, a);
			err = EHOSTUNREACH;
			goto err_free;
		}
		if (pr < 0) {
			fprintf(stderr, "earshot: bad server address '%s' (expected HOST[:PORT])\n", a);
			goto err_free;
		}
	}
	(void)es_enet_parse_hostport(s->servers.addr[0], &s->addr, ES_HOSTPORT_NAMES | ES_HOSTPORT_DEFAULT_PORT, ES_DEFAULT_PORT);
	s->redirected_ms = -1;
	int e;
	s->enc = opus_encoder_create(ES_RATE, 1, OPUS_APPLICATION_VOIP, &e);
	if (e != OPUS_OK) {
		err = ENOMEM;
		goto err_free;
	}
	if (opus_encoder_ctl(s->enc, OPUS_SET_BITRATE(cfg->bitrate)) != OPUS_OK ||
	    opus_encoder_ctl(s->enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE)) != OPUS_OK ||
	    opus_encoder_ctl(s->enc, OPUS_SET_INBAND_FEC(1)) != OPUS_OK ||
	    opus_encoder_ctl(s->enc, OPUS_SET_PACKET_LOSS_PERC(FEC_START_PERC)) != OPUS_OK) {
		err = EINVAL;
		goto err_enc;
	}
	if (!cfg->identity) {
		fprintf(stderr, "earshot: no identity key\n");
		goto err_enc;
	}
	s->loss_est = FEC_START_PERC;
	s->st.fec_loss_perc = FEC_START_PERC;
	s->id = *cfg->identity;
	if (cfg->pinned) {
		memcpy(s->pinned, cfg->pinned, 32);
		s->have_pin = true;
	}
	if (cfg->invite_secret) {
		memcpy(s->secret, cfg->invite_secret, sizeof(s->secret));
		s->have_secret = true;
	}
	s->cfg.identity = NULL;
	s->cfg.pinned = NULL;
	s->cfg.invite_secret = NULL;
	s->playout = es_playout_new(cfg->jitter);
	if (!s->playout) {
		err = errno;
		goto err_enc;
	}
	s->host = enet_host_create(NULL, 1, ES_CHAN_COUNT, 0, 0);
	if (!s->host) {
		fprintf(stderr, "earshot: cannot create a UDP socket\n");
		err = EIO;
		goto err_playout;
	}
	s->host->maximumPacketSize = PACKET_MAX;
	s->host->maximumWaitingData = WAITING_MAX;
	for (unsigned i = 0; i < OWNERS; i++)
		if (!owners[i].host) {
			owners[i].host = s->host;
			owners[i].s = s;
			s->host->intercept = intercept;
			break;
		}
	s->pos = cfg->pos;
	s->flags = cfg->flags;
	s->asked_place = cfg->flags & ES_PF_PLACE;
	s->asked = cfg->pos;
	s->my_id = -1;
	s->whisper_to = s->whisper_from = -1;
	s->door_pending = -1;
	s->backoff_ms = BACKOFF_MIN_MS;
	s->state = ES_SESSION_BACKOFF;
	s->retry_at_ms = es_now_ms();
	set_status(s, "starting");
	return s;

err_playout:
	es_playout_free(s->playout);
err_enc:
	opus_encoder_destroy(s->enc);
err_free:
	free(s);
	errno = err;
	return NULL;
}

void es_session_free(struct es_session *s)
{
	if (!s)
		return;
	if (s->peer && s->peer->state == ENET_PEER_STATE_CONNECTED) {
		enet_peer_disconnect_now(s->peer, 0);
		enet_host_flush(s->host);
	}
	for (unsigned i = 0; i < OWNERS; i++)
		if (owners[i].s == s)
			owners[i].host = NULL, owners[i].s = NULL;
	enet_host_destroy(s->host);
	es_playout_free(s->playout);
	opus_encoder_destroy(s->enc);
	es_floor_free(s->floor);
	free(s->floor_text);
	es_keypair_clear(&s->id);
	es_noise_clear(&s->hs);
	es_cipher_clear(&s->tx);
	es_cipher_clear(&s->rx);
	sodium_memzero(s->secret, sizeof(s->secret));
	free(s);
}

int es_session_fd(const struct es_session *s)
{
	return s->host->socket;
}

static int send_msg(struct es_session *s, const struct es_msg *m)
{
	if (!s->peer || s->peer->state != ENET_PEER_STATE_CONNECTED)
		return -ENOTCONN;
	int n = es_msg_encode(m, s->buf, sizeof(s->buf));
	if (n < 0)
		return n;
	const uint8_t *bytes = s->buf;
	if (s->authed) {
		n = es_envelope_seal(&s->tx, s->buf, (size_t)n, s->sealed, sizeof(s->sealed));
		if (n < 0)
			return n;
		bytes = s->sealed;
	} else if (!es_msg_is_plain(m->type))
		return -EPERM; /* nothing but the handshake leaves in the clear */
	bool audio = m->type == ES_MSG_AUDIO_UP;
	ENetPacket *p = enet_packet_create(bytes, (size_t)n, audio ? ENET_PACKET_FLAG_UNSEQUENCED : ENET_PACKET_FLAG_RELIABLE);
	if (!p)
		return -ENOMEM;
	if (enet_peer_send(s->peer, audio ? ES_CHAN_AUDIO : ES_CHAN_CONTROL, p) < 0) {
		enet_packet_destroy(p);
		return -EIO;
	}
	s->st.bytes_sent += (uint64_t)n;
	return 0;
}

/* Leave the connection as it is (if any) and forget everything of it. */
static void drop_connection(struct es_session *s)
{
	if (s->peer) {
		enet_peer_reset(s->peer);
		s->peer = NULL;
	}
	s->authed = false;
	s->have_reset_token = false;
	s->floor_asked = false;
	s->whisper_from = -1;
	s->cookie_wanted = s->cookie_ready = false;
	es_noise_clear(&s->hs);
	es_cipher_clear(&s->tx);
	es_cipher_clear(&s->rx);
	s->state = ES_SESSION_BACKOFF;
	s->my_id = -1;
	for (unsigned i = 0; i < ES_ROSTER_MAX; i++)
		s->roster[i].present = false;
	es_playout_session_end(s->playout); /* what is queued still plays: a redirect costs less silence */
}

/* Jittered exponential backoff: uniform in [b/2, b], b doubling to a cap. */
static void backoff(struct es_session *s, unsigned at_least_ms, const char *why)
{
	drop_connection(s);
	unsigned b = s->backoff_ms;
	unsigned wait = b / 2 + (unsigned)(rand() % (int)(b / 2 + 1));
	if (wait < at_least_ms)
		wait = at_least_ms;
	s->backoff_ms = b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2;
	s->retry_at_ms = es_now_ms() + wait;
	set_status(s, "%s; trying again in %.1f s", why, wait / 1000.0);
}

static void start_connect(struct es_session *s);

/*
 * Connect to the address in use now, at once: after a redirect (not a
 * failure) or to the next daemon of the list within a round (servers.h).
 * The connection is started here, not at the next step, so nothing but
 * the network stands between the cause and the new attempt.
 */
static void connect_now(struct es_session *s, const char *why)
{
	drop_connection(s);
	s->retry_at_ms = es_now_ms();
	set_status(s, "%s; connecting to %s now", why, es_servers_current(&s->servers));
	start_connect(s);
}

/*
 * The daemon in use is lost (gone, silent, unreachable): try the next one
 * of the list at once, the lost one last; back off only when a whole
 * round of them failed.  With one address: the backoff, as always.
 */
static void lost(struct es_session *s, const char *why)
{
	if (s->state == ES_SESSION_JOINED) {
		/* a daemon we were on went away (not a failed attempt, which may be the network) */
		snprintf(s->lost_addr, sizeof(s->lost_addr), "%s", es_servers_current(&s->servers));
		s->lost_ms = es_now_ms();
		s->not_yet = 0;
	}
	char w[ES_SERVER_ADDR_MAX + 200];
	if (s->servers.n > 1)
		snprintf(w, sizeof(w), "%s (%s)", why, es_servers_current(&s->servers));
	else
		snprintf(w, sizeof(w), "%s", why);
	if (es_servers_lost(&s->servers))
		backoff(s, 0, w);
	else
		connect_now(s, w);
}

/* Give up for good (the user must act): say why. */
static void fail(struct es_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct es_session *s, const char *fmt, ...)
{
	backoff(s, 0, "stopped");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->status, sizeof(s->status), fmt, ap);
	va_end(ap);
	s->state = ES_SESSION_FAILED;
	fprintf(stderr, "earshot: %s\n", s->status);
}

/*
 * Step one of connecting: ask the server for a cookie from our ENet
 * socket (the cookie is bound to our address and port); the reply comes
 * back through intercept, and only then do we send ENet's CONNECT.
 */
static int send_cookie_request(struct es_session *s)
{
	uint8_t req[ES_COOKIE_REQUEST_LEN];
	int n = es_cookie_request_build(s->cookie_nonce, req, sizeof(req));
	if (n < 0)
		return n;
	ENetBuffer b = {.data = req, .dataLength = (size_t)n};
	s->cookie_sent_ms = es_now_ms();
	return enet_socket_send(s->host->socket, &s->addr, &b, 1) < 0 ? -EIO : 0;
}

static void start_connect(struct es_session *s)
{
	const char *to = es_servers_current(&s->servers);
	if (s->redirected_ms >= 0) {
		/* what a redirect cost before we went: 0 unless something made us wait */
		s->st.redirect_wait_ms = (unsigned)(es_now_ms() - s->redirected_ms);
		s->redirected_ms = -1;
	}
	unsigned i = s->servers.cur;
	if (strcmp(s->resolved_for[i], to) != 0) {
		/* new here (a redirect named it), or not resolvable at start: look it up now, once */
		if (es_enet_parse_hostport(to, &s->resolved[i], ES_HOSTPORT_NAMES | ES_HOSTPORT_DEFAULT_PORT, ES_DEFAULT_PORT) < 0) {
			lost(s, "cannot resolve the address");
			return;
		}
		memcpy(s->resolved_for[i], to, strlen(to) + 1);
	}
	s->addr = s->resolved[i];
	randombytes_buf(s->cookie_nonce, sizeof(s->cookie_nonce));
	s->cookie_wanted = true;
	s->cookie_ready = false;
	if (send_cookie_request(s) < 0) {
		lost(s, "cannot reach the server");
		return;
	}
	s->state = ES_SESSION_CONNECTING;
	s->state_since_ms = es_now_ms();
	set_status(s, "connecting to %s", to);
}

static void connect_with_cookie(struct es_session *s)
{
	s->cookie_ready = false;
	s->peer = enet_host_connect(s->host, &s->addr, ES_CHAN_COUNT, s->cookie);
	if (!s->peer)
		lost(s, "cannot start a connection");
}

static void on_connected(struct es_session *s)
{
	enet_peer_throttle_configure(s->peer, 5000, ENET_PEER_PACKET_THROTTLE_SCALE, 0);
	s->peer->packetThrottle = ENET_PEER_PACKET_THROTTLE_SCALE;
	/* a dead link is noticed in 2-4 s; a restarted server says so at once
	 * with a reset datagram (see intercept) */
	enet_peer_timeout(s->peer, 0, 1000, 3000); /* a dead daemon noticed in 1-1.5 s: a company's others are tried at once */
	enet_peer_ping_interval(s->peer, 1000); /* keep-alive: about 0.5 kbit/s with the server's */
	/* the server speaks first: its key (ES_MSG_SERVER_KEY) */
	s->state = ES_SESSION_JOINING;
	s->state_since_ms = es_now_ms();
	set_status(s, "securing the connection to %s", es_servers_current(&s->servers));
}

/* The server's key arrived: check it against our pin, then handshake. */
static void on_server_key(struct es_session *s, const struct es_server_key *k)
{
	char fp[ES_FINGERPRINT_LEN], pfp[ES_FINGERPRINT_LEN];
	es_key_fingerprint(k->key, fp);
	if (s->have_pin && sodium_memcmp(s->pinned, k->key, 32) != 0) {
		es_key_fingerprint(s->pinned, pfp);
		/* every daemon of a company holds its key: the pin is kept under the first address, the company's */
		const char *at = es_servers_current(&s->servers), *company = s->servers.addr[0];
		bool other = strcmp(at, company) != 0;
		fail(s,
		     "REFUSING TO CONNECT: the server at %s presents key %s, but you trust %s for it%s%s%s. "
		     "If the server was reinstalled or its key replaced, check the new fingerprint with its admin "
		     "('earshotctl fingerprint' on the server), then run 'earshot forget-server %s' and connect again. "
		     "Otherwise someone may be impersonating the server.",
		     at, fp, pfp, other ? " (as for every daemon of " : "", other ? company : "", other ? ")" : "", company);
		return;
	}
	if (!s->have_pin) {
		memcpy(s->pinned, k->key, 32);
		s->have_pin = true;
		fprintf(stderr, "earshot: trusting %s with key %s from now on (first use)\n", s->servers.addr[0], fp);
		if (s->cfg.pin)
			s->cfg.pin(s->cfg.pin_ud, k->key);
	}
	struct es_join_payload jp = {
		.hello = {ES_PROTO_VERSION, s->flags, s->pos, (uint8_t)strlen(s->name), s->name, (uint16_t)s->cfg.downlink_kbps}};
	if (s->have_secret) {
		jp.has_secret = true;
		memcpy(jp.secret, s->secret, sizeof(jp.secret));
	}
	uint8_t payload[ES_NOISE_PAYLOAD_MAX], msg1[ES_NOISE_MSG1_MAX], ts[ES_TAI64N_LEN];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	es_timestamp_make(ts, (uint64_t)now.tv_sec, (uint32_t)now.tv_nsec);
	int pn = es_join_payload_encode(&jp, payload, sizeof(payload));
	sodium_memzero(&jp, sizeof(jp));
	int n = pn < 0 ? pn :
		es_noise_initiator_init(&s->hs, &s->id, s->pinned, (const uint8_t *)ES_NOISE_PROLOGUE,
					sizeof(ES_NOISE_PROLOGUE) - 1);
	if (n >= 0)
		n = es_noise_write_msg1(&s->hs, ts, payload, (size_t)pn, msg1, sizeof(msg1));
	sodium_memzero(payload, sizeof(payload));
	struct es_msg m = {.type = ES_MSG_HANDSHAKE1};
	m.u.blob = (struct es_blob){(uint16_t)(n > 0 ? n : 0), msg1};
	if (n < 0 || send_msg(s, &m) < 0) {
		backoff(s, 0, "cannot start the handshake");
		return;
	}
	set_status(s, "joining as %s", s->name);
}

static void on_welcome(struct es_session *s, const struct es_welcome *w)
{
	s->have_reset_token = w->has_reset;
	if (w->has_reset)
		memcpy(s->reset_token, w->reset_token, sizeof(s->reset_token));
	s->my_id = w->id;
	s->pos = w->pos;
	/* after a reconnect, come back exactly here */
	s->flags |= ES_PF_PLACE;
	s->admin_muted = false; /* the server says again right after, if it still holds */
	s->state = ES_SESSION_JOINED;
	s->backoff_ms = BACKOFF_MIN_MS;
	s->redirects_in_row = 0;
	es_servers_ok(&s->servers);
	s->st.joins++;
	if (s->have_secret) {
		/* an invite works once: it is spent now */
		sodium_memzero(s->secret, sizeof(s->secret));
		s->have_secret = false;
	}
	set_status(s, "joined %s as %s (#%d) at %.2f,%.2f", es_servers_current(&s->servers), s->name, s->my_id, s->pos.x_cm / 100.0,
		   s->pos.y_cm / 100.0);
	if (s->asked_place && (s->asked.x_cm != w->pos.x_cm || s->asked.y_cm != w->pos.y_cm))
		fprintf(stderr, "earshot: you asked to sit at %.2f,%.2f, but that is not a free place (outside the floor, a "
				"wall or a table, a closed room, or someone's desk): the server seated you at %.2f,%.2f\n",
			s->asked.x_cm / 100.0, s->asked.y_cm / 100.0, w->pos.x_cm / 100.0, w->pos.y_cm / 100.0);
	s->asked_place = false; /* a reconnect asks for where we are, which the server gave */
	s->move_pending = false;
}

static void on_refused(struct es_session *s, uint8_t reason);

/*
 * ES_MSG_REDIRECT, sealed or inside message 2, so from a daemon holding
 * the company's key: our floor is on another daemon.  Learn every address
 * it names, take its place as ours (we join there exactly: ES_PF_PLACE),
 * and go to the first at once: a redirect is not a failure, so no backoff,
 * unless daemons keep sending us on without ever admitting us.
 */
static void on_redirect(struct es_session *s, const struct es_redirect *r)
{
	if (!es_server_addr_ok(r->addr[0], strlen(r->addr[0]))) {
		s->st.malformed++;
		backoff(s, 0, "the server redirected us to an address that cannot be one");
		return;
	}
	char why[ES_SERVER_ADDR_MAX * 2 + 120];
	snprintf(why, sizeof(why), "%s sent us to %s", es_servers_current(&s->servers), r->addr[0]);
	if (s->lost_addr[0] && strcmp(r->addr[0], s->lost_addr) == 0 && es_now_ms() - s->lost_ms < LOST_FRESH_MS &&
	    s->not_yet++ < LOST_NOT_YET_MAX) {
		/* to the daemon that just died: its floors move once its lease expires; ask here again soon */
		if (s->peer && s->peer->state == ENET_PEER_STATE_CONNECTED) {
			enet_peer_disconnect_now(s->peer, 0);
			s->peer = NULL;
		}
		s->st.busy++;
		s->pos = r->pos;
		s->flags |= ES_PF_PLACE;
		unsigned b = s->backoff_ms;
		backoff(s, LOST_RETRY_MS + (unsigned)(rand() % 300), "sent to the daemon we just lost: its floor has not moved yet");
		s->backoff_ms = b; /* a "not yet", asked again as soon each time */
		return;
	}
	for (unsigned i = 1; i < r->naddr; i++)
		(void)es_servers_add(&s->servers, r->addr[i], false); /* a bad or surplus one is left out */
	int to = es_servers_add(&s->servers, r->addr[0], true);
	/* the daemon removes us from its floor and closes: say we go (it frees the slot at once), then go */
	if (s->peer && s->peer->state == ENET_PEER_STATE_CONNECTED) {
		enet_peer_disconnect_now(s->peer, 0);
		s->peer = NULL;
	}
	s->st.redirects++;
	s->redirects_in_row++;
	s->pos = r->pos;
	s->flags |= ES_PF_PLACE;
	s->asked_place = false;
	s->move_pending = false;
	s->servers.cur = (unsigned)to;
	es_servers_ok(&s->servers);
	if (s->redirects_in_row > REDIRECTS_IN_ROW_MAX) {
		/* a loop (placement flapping, a misconfigured company): slow down, as for a failure */
		fprintf(stderr, "earshot: redirected %u times in a row without being admitted: something is wrong with "
				"the daemons' placement; backing off\n", s->redirects_in_row);
		backoff(s, 0, why);
		return;
	}
	set_event(s, "moved to %s", r->addr[0]);
	s->redirected_ms = es_now_ms();
	connect_now(s, why);
}

static void on_handshake2(struct es_session *s, const struct es_blob *b)
{
	uint8_t payload[ES_NOISE_PAYLOAD_MAX];
	int n = es_noise_read_msg2(&s->hs, b->data, b->len, payload, sizeof(payload));
	struct es_msg w;
	bool read = n >= 0 && es_msg_decode(&w, payload, (size_t)n) >= 0;
	if (read && w.type == ES_MSG_REFUSED) {
		/* message 2 verified under the key we pinned: the server itself says no */
		es_noise_clear(&s->hs);
		on_refused(s, w.u.refused.reason);
		return;
	}
	if (read && w.type == ES_MSG_REDIRECT) {
		/*
		 * Verified under the pinned key too: a daemon of the company that
		 * does not host our floor says which does, instead of admitting us.
		 * No session keys: this connection is over.
		 */
		es_noise_clear(&s->hs);
		on_redirect(s, &w.u.redirect);
		return;
	}
	if (!read || w.type != ES_MSG_WELCOME || es_noise_split(&s->hs, &s->tx, &s->rx) < 0) {
		backoff(s, 0, "the server's handshake reply did not verify");
		return;
	}
	es_noise_clear(&s->hs);
	s->authed = true;
	on_welcome(s, &w.u.welcome);
}

/*
 * A REFUSED in the clear: it came before the server proved its key, so
 * anyone could have sent it.  Say what it claims and try again later;
 * only a refusal inside message 2 (on_refused) is an answer.
 */
static void on_refused_hint(struct es_session *s, uint8_t reason)
{
	static const char *const claims[] = {
		[ES_REFUSED_UNKNOWN_KEY] = "does not know this device's key",
		[ES_REFUSED_INVITE] = "refuses the invite",
		[ES_REFUSED_REPLAY] = "saw an older handshake of ours",
		[ES_REFUSED_NAME_TAKEN] = "says the name is taken",
		[ES_REFUSED_BAD_HANDSHAKE] = "could not read our handshake",
		[ES_REFUSED_RATE] = "says we try too often",
		[ES_REFUSED_VERSION] = "speaks another version",
	};
	const char *claim = reason < sizeof(claims) / sizeof(claims[0]) && claims[reason] ? claims[reason] : "refused us";
	s->st.hints++;
	char why[160];
	snprintf(why, sizeof(why), "the server %s (unverified: not yet proved to be %s)", claim, es_servers_current(&s->servers));
	backoff(s, 1000, why);
}

static void on_refused(struct es_session *s, uint8_t reason)
{
	switch (reason) {
	case ES_REFUSED_UNKNOWN_KEY:
		fail(s, "the server at %s does not know this device's key and is invite-only: ask its admin for an "
			"invite ('earshotctl invite NAME') and run 'earshot join CODE'", es_servers_current(&s->servers));
		break;
	case ES_REFUSED_INVITE:
		fail(s, "the invite was refused: it is unknown, already used or expired; ask for a new one");
		break;
	case ES_REFUSED_NAME_TAKEN:
		fail(s, "the name '%s' belongs to someone else's key on %s: choose another with --name", s->name,
		     es_servers_current(&s->servers));
		break;
	case ES_REFUSED_VERSION:
		fail(s, "the server at %s speaks another protocol version: update earshot", es_servers_current(&s->servers));
		break;
	case ES_REFUSED_REPLAY:
		backoff(s, 1000, "the server saw an older handshake of ours (is the clock right?)");
		break;
	default:
		backoff(s, 1000, "the server refused the handshake");
		break;
	}
}

static void roster_apply(struct es_session *s, const struct es_presence *p)
{
	for (unsigned i = 0; i < p->count; i++) {
		const struct es_presence_entry *e = &p->entry[i];
		if (e->id >= ES_ROSTER_MAX)
			continue;
		struct es_person_view *v = &s->roster[e->id];
		switch (e->kind) {
		case ES_PRESENCE_JOIN:
			v->present = true;
			memcpy(v->name, e->name, e->name_len);
			v->name[e->name_len] = 0;
			v->pos = e->pos;
			v->flags = e->flags;
			break;
		case ES_PRESENCE_UPDATE:
			if (v->present) {
				v->pos = e->pos;
				v->flags = e->flags;
			}
			if ((int)e->id == s->my_id && s->move_pending && e->pos.x_cm == s->move_to.x_cm &&
			    e->pos.y_cm == s->move_to.y_cm) {
				s->move_pending = false; /* the server has us there: now it is true */
				if (s->move_done[0])
					set_event(s, "%s", s->move_done);
			}
			break;
		case ES_PRESENCE_LEAVE:
			v->present = false;
			break;
		}
	}
}

/* An admin muted, unmuted or moved us: always worth a line on stderr. */
static void on_admin(struct es_session *s, const struct es_admin_notice *a)
{
	bool muted = a->flags & ES_ADMIN_MUTED;
	if (muted != s->admin_muted)
		fprintf(stderr, "earshot: %s\n", muted ? "an admin muted you: nothing you say is heard until they unmute you" :
							"an admin unmuted you");
	s->admin_muted = muted;
	if (a->flags & ES_ADMIN_MOVED) {
		s->pos = a->pos; /* our place now, and where a rejoin puts us */
		s->move_pending = false;
		fprintf(stderr, "earshot: an admin moved you to %.2f,%.2f\n", s->pos.x_cm / 100.0, s->pos.y_cm / 100.0);
	}
	if (a->flags & ES_ADMIN_REFUSED) {
		/* our own move, refused: we are where the server says, not where we hoped */
		s->pos = a->pos;
		s->move_pending = false;
		set_event(s, "the server kept you at %.2f,%.2f: that place is closed to you (a wall, a closed room: knock "
			     "with k, or a desk someone sits at)", s->pos.x_cm / 100.0, s->pos.y_cm / 100.0);
	}
}

static void set_event(struct es_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_event(struct es_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->event, sizeof(s->event), fmt, ap);
	va_end(ap);
	s->event_new = true;
	if (s->cfg.verbose)
		fprintf(stderr, "earshot: %s\n", s->event);
}

/* Pieces of the plan text arrive in order on the reliable channel. */
static void on_floor_chunk(struct es_session *s, const struct es_floor_chunk *c)
{
	if (c->offset == 0) {
		free(s->floor_text);
		s->floor_text = malloc(c->total ? c->total : 1);
		s->floor_total = c->total;
		s->floor_have = 0;
	}
	if (!s->floor_text || c->total != s->floor_total || c->offset != s->floor_have) {
		s->st.malformed++;
		return;
	}
	memcpy(s->floor_text + c->offset, c->data, c->len);
	s->floor_have += c->len;
	if (s->floor_have < s->floor_total)
		return;
	struct es_floor_error fe;
	struct es_floor *f = es_floor_parse(s->floor_text, s->floor_total, &fe);
	free(s->floor_text);
	s->floor_text = NULL;
	if (!f) {
		set_event(s, "the server's floor plan does not parse (line %d: %s)", fe.line, fe.msg);
		return;
	}
	es_floor_free(s->floor);
	s->floor = f;
}

static void on_packet(struct es_session *s, const ENetPacket *pkt)
{
	s->st.packets_received++;
	s->st.bytes_received += pkt->dataLength;
	struct es_msg m;
	if (es_msg_decode(&m, pkt->data, pkt->dataLength) < 0) {
		s->st.malformed++;
		return;
	}
	if (m.type != ES_MSG_SEALED) {
		/* in the clear: only the steps before the session keys exist */
		if (s->authed) {
			s->st.malformed++;
			return;
		}
		switch (m.type) {
		case ES_MSG_SERVER_KEY:
			if (s->state == ES_SESSION_JOINING)
				on_server_key(s, &m.u.server_key);
			break;
		case ES_MSG_HANDSHAKE2:
			on_handshake2(s, &m.u.blob);
			break;
		case ES_MSG_REFUSED:
			on_refused_hint(s, m.u.refused.reason);
			break;
		case ES_MSG_BUSY:
			/* unauthenticated too: a fake "retry in 49 days" must not hold us */
			s->st.busy++;
			{
				unsigned b = s->backoff_ms;
				backoff(s, m.u.busy.retry_after_ms < HINT_RETRY_MAX_MS ? m.u.busy.retry_after_ms : HINT_RETRY_MAX_MS,
					"server busy");
				/* "in a moment" (a company's floor between owners): asked again that soon each time, not ever later */
				if (m.u.busy.retry_after_ms <= SOON_MS)
					s->backoff_ms = b;
			}
			break;
		default:
			s->st.malformed++;
			break;
		}
		return;
	}
	if (!s->authed) {
		s->st.malformed++;
		return;
	}
	int n = es_envelope_open(&s->rx, pkt->data, pkt->dataLength, s->plain, sizeof(s->plain));
	if (n < 0 || es_msg_decode(&m, s->plain, (size_t)n) < 0) {
		s->st.malformed++;
		return;
	}
	switch (m.type) {
	case ES_MSG_AUDIO_DOWN:
		if (s->state == ES_SESSION_JOINED)
			es_playout_push(s->playout, s->plain, (size_t)n,
					s->last_pull_ns ? es_jitter_frac(es_now_ns() - s->last_pull_ns, (int64_t)ES_FRAME * 1000000000 / ES_RATE) : ES_JE_ONE);
		break;
	case ES_MSG_BYE:
		if (m.u.bye.reason == ES_BYE_REMOVED) {
			/* coming straight back would undo the admin's decision */
			fail(s, "removed from %s by an admin; run earshot again to rejoin (if you still may)",
			     es_servers_current(&s->servers));
			break;
		}
		s->st.reconnects++;
		if (m.u.bye.reason == ES_BYE_REPLACED)
			backoff(s, 0, "this identity joined from elsewhere");
		else /* this daemon stops or restarts: another of the company may take us now */
			lost(s, m.u.bye.reason == ES_BYE_RESTART ? "server restarting" : "server said goodbye");
		break;
	case ES_MSG_ADMIN:
		on_admin(s, &m.u.admin);
		break;
	case ES_MSG_REDIRECT:
		on_redirect(s, &m.u.redirect);
		break;
	case ES_MSG_LINK:
		on_link(s, &m.u.link);
		break;
	case ES_MSG_PRESENCE:
		roster_apply(s, &m.u.presence);
		break;
	case ES_MSG_FLOOR:
		on_floor_chunk(s, &m.u.floor);
		break;
	case ES_MSG_DOORS:
		for (unsigned i = 0; s->floor && i < m.u.doors.count; i++) {
			struct es_door_state d = es_doors_at(&m.u.doors, i);
			if (es_floor_door_set_open(s->floor, d.door, d.open) < 0) {
				s->st.malformed++;
				continue;
			}
			if (s->door_pending == (int)d.door) {
				unsigned room = 0;
				(void)es_floor_door(s->floor, d.door, NULL, NULL, &room);
				const char *rn = es_floor_room_name(s->floor, room);
				if ((bool)d.open == s->door_want)
					set_event(s, "the door of %s is %s", rn ? rn : "the room", d.open ? "open" : "closed");
				else
					set_event(s, "the door of %s stays %s: an admin closed the room, or you are out of reach",
						  rn ? rn : "the room", d.open ? "open" : "closed");
				s->door_pending = -1;
			}
		}
		break;
	case ES_MSG_KNOCK: {
		const char *room = s->floor ? es_floor_room_name(s->floor, m.u.knock.room) : NULL;
		const char *who = m.u.knock.from < ES_ROSTER_MAX && s->roster[m.u.knock.from].present ?
					  s->roster[m.u.knock.from].name : "someone";
		set_event(s, "%s knocks on %s", who, room ? room : "the door");
		break;
	}
	case ES_MSG_WHISPER: {
		int from = m.u.whisper.to;
		const char *who = from >= 0 && from < ES_ROSTER_MAX && s->roster[from].present ? s->roster[from].name : "someone";
		if (m.u.whisper.on) {
			s->whisper_from = from;
			set_event(s, "%s whispers to you", who);
		} else if (s->whisper_from == from) {
			s->whisper_from = -1;
			set_event(s, "%s stopped whispering", who);
		}
		break;
	}
	default:
		s->st.malformed++;
		break;
	}
}

void es_session_service(struct es_session *s)
{
	ENetEvent ev;
	while (enet_host_service(s->host, &ev, 0) > 0) {
		switch (ev.type) {
		case ENET_EVENT_TYPE_CONNECT:
			on_connected(s);
			break;
		case ENET_EVENT_TYPE_RECEIVE:
			on_packet(s, ev.packet);
			enet_packet_destroy(ev.packet);
			break;
		case ENET_EVENT_TYPE_DISCONNECT:
			s->peer = NULL; /* ENet already reset it */
			if (s->state == ES_SESSION_JOINED)
				s->st.reconnects++;
			lost(s, "connection lost");
			break;
		default:
			break;
		}
	}
}

static void housekeeping(struct es_session *s)
{
	int64_t t = es_now_ms();
	if (s->reset_pending) {
		s->reset_pending = false;
		if (s->state == ES_SESSION_JOINED)
			s->st.reconnects++;
		s->backoff_ms = BACKOFF_MIN_MS;
		backoff(s, 0, "the server restarted");
	}
	switch (s->state) {
	case ES_SESSION_BACKOFF:
		if (t >= s->retry_at_ms)
			start_connect(s);
		break;
	case ES_SESSION_CONNECTING:
		if (s->cookie_ready)
			connect_with_cookie(s);
		else if (s->cookie_wanted && t - s->cookie_sent_ms >= COOKIE_RESEND_MS)
			send_cookie_request(s); /* lost on the way, or the answer was: ask again */
		/* fall through */
	case ES_SESSION_JOINING:
		if (t - s->state_since_ms > CONNECT_TIMEOUT_MS && s->state != ES_SESSION_BACKOFF)
			lost(s, "no answer from the server");
		break;
	case ES_SESSION_JOINED:
	case ES_SESSION_FAILED:
		break;
	}
}

static void send_voice(struct es_session *s, const int16_t *pcm, uint32_t seq, uint8_t flags)
{
	int n = opus_encode(s->enc, pcm, ES_FRAME, s->opus, sizeof(s->opus));
	if (n <= 0)
		return;
	struct es_msg m = {.type = ES_MSG_AUDIO_UP};
	m.u.up = (struct es_audio_up){seq, (uint8_t)(ES_PF_TALKING | flags), (uint16_t)n, s->opus};
	if (send_msg(s, &m) == 0)
		s->st.frames_sent++;
}

/* Muted (by us or by an admin) means nothing leaves the machine. */
static bool may_send(const struct es_session *s)
{
	return s->state == ES_SESSION_JOINED && !(s->flags & ES_PF_MUTED) && !s->admin_muted;
}

int es_session_step_preroll(struct es_session *s, const int16_t *mic, bool voiced, const int16_t *const *pre,
			    const bool *quiet, unsigned npre, int16_t *out)
{
	if (voiced && may_send(s))
		for (unsigned i = 0; i < npre; i++) {
			send_voice(s, pre[i], s->seq - npre + i,
				   (uint8_t)(ES_UP_PREROLL | (i == 0 && !s->sent_last ? ES_UP_START : 0) |
					     (quiet && quiet[i] ? ES_UP_QUIET : 0)));
			s->sent_last = true;
		}
	return es_session_step(s, mic, voiced, out);
}

/*
 * The downlink, as the server needs it to keep our bundles within what the
 * link carries: bundles lost or late of those expected while we heard
 * someone (the bundles carry the server's count), every DOWN_REPORT_FRAMES
 * of them (about two seconds of hearing).
 */
#define DOWN_REPORT_FRAMES 100

static void report_downlink(struct es_session *s)
{
	if (s->state != ES_SESSION_JOINED)
		return;
	struct es_playout_stats ps;
	es_playout_get_stats(s->playout, &ps);
	uint64_t exp = ps.down_expected - s->down_expected, got = ps.down_received - s->down_received;
	if (exp < DOWN_REPORT_FRAMES)
		return;
	uint64_t lost = got >= exp ? 0 : exp - got;
	struct es_msg m = {.type = ES_MSG_LINK};
	m.u.link.loss_permille = (uint16_t)(lost >= exp ? 1000 : lost * 1000 / exp);
	m.u.link.frames = (uint16_t)(exp > 65535 ? 65535 : exp);
	if (send_msg(s, &m) == 0) {
		s->st.down_reports++;
		s->st.down_loss_permille = m.u.link.loss_permille;
	}
	s->down_expected = ps.down_expected;
	s->down_received = ps.down_received;
}

int es_session_step(struct es_session *s, const int16_t *mic, bool voiced, int16_t *out)
{
	es_session_service(s);
	housekeeping(s);
	if (s->state == ES_SESSION_JOINED && s->want_floor && !s->floor_asked) {
		struct es_msg g = {.type = ES_MSG_FLOOR_GET};
		s->floor_asked = send_msg(s, &g) == 0;
	}
	bool send = mic && voiced && may_send(s);
	if (send)
		send_voice(s, mic, s->seq, s->sent_last ? 0 : ES_UP_START);
	s->sent_last = send;
	/* the sequence counts time, sent or not, so the server sees gaps as gaps */
	s->seq++;
	int audible = 0;
	if (out) {
		audible = es_playout_pull(s->playout, out);
		s->last_pull_ns = es_now_ns();
	}
	report_downlink(s);
	enet_host_flush(s->host);
	return audible;
}

int es_session_pull(struct es_session *s, int16_t *out)
{
	es_session_service(s); /* what arrived this tick plays this tick */
	int audible = es_playout_pull(s->playout, out);
	s->last_pull_ns = es_now_ns();
	return audible;
}

void es_session_move(struct es_session *s, const struct es_pos *pos)
{
	es_session_move_say(s, pos, NULL);
}

void es_session_move_say(struct es_session *s, const struct es_pos *pos, const char *done)
{
	s->pos = *pos;
	struct es_msg m = {.type = ES_MSG_MOVE, .u.move = *pos};
	if (s->state == ES_SESSION_JOINED && send_msg(s, &m) == 0) {
		s->move_pending = true;
		s->move_to = *pos;
		snprintf(s->move_done, sizeof(s->move_done), "%s", done ? done : "");
	}
}

bool es_session_live(const struct es_session *s)
{
	if (s->state != ES_SESSION_JOINED || !s->peer)
		return false;
	/* the server pings every 2 s and acknowledges ours (every 1 s): 2.5 s of nothing is a silent server */
	return quiet_ms(s) < 2500;
}

void es_session_set_flags(struct es_session *s, uint8_t flags)
{
	s->flags = (flags & (ES_PF_MUTED | ES_PF_FOCUS | ES_PF_THIN)) | (s->flags & ES_PF_PLACE);
	struct es_msg m = {.type = ES_MSG_STATE, .u.state.flags = s->flags & (ES_PF_MUTED | ES_PF_FOCUS | ES_PF_THIN)};
	if (s->state == ES_SESSION_JOINED)
		(void)send_msg(s, &m);
	enet_host_flush(s->host);
}

uint8_t es_session_flags(const struct es_session *s)
{
	return s->flags;
}

enum es_session_state es_session_state(const struct es_session *s)
{
	return s->state;
}

const char *es_session_server(const struct es_session *s)
{
	return es_servers_current(&s->servers);
}

const char *es_session_servers(const struct es_session *s, char *buf, size_t cap)
{
	return es_servers_join(&s->servers, buf, cap);
}

const char *es_session_name(const struct es_session *s)
{
	return s->name;
}

const char *es_session_status(struct es_session *s)
{
	if (s->state != ES_SESSION_JOINED)
		return s->status;
	/* joined: where we are now (not where we joined), and whether the server still answers */
	uint32_t quiet = s->peer ? quiet_ms(s) : 0;
	snprintf(s->status_live, sizeof(s->status_live), "joined %s as %s (#%d) at %.2f,%.2f%s", es_servers_current(&s->servers), s->name,
		 s->my_id, s->pos.x_cm / 100.0, s->pos.y_cm / 100.0, es_session_live(s) ? "" : "; no answer from the server");
	if (!es_session_live(s) && quiet < 3600000u) {
		size_t n = strlen(s->status_live);
		snprintf(s->status_live + n, sizeof(s->status_live) - n, " for %.0f s", quiet / 1000.0);
	}
	return s->status_live;
}

int es_session_my_id(const struct es_session *s)
{
	return s->my_id;
}

const struct es_pos *es_session_pos(const struct es_session *s)
{
	return &s->pos;
}

const struct es_person_view *es_session_roster(const struct es_session *s, unsigned *n)
{
	*n = ES_ROSTER_MAX;
	return s->roster;
}

void es_session_get_stats(const struct es_session *s, struct es_session_stats *st)
{
	*st = s->st;
	st->udp_sent_bytes = s->host->totalSentData;
	st->udp_sent_datagrams = s->host->totalSentPackets;
	st->udp_received_bytes = s->host->totalReceivedData;
	st->udp_received_datagrams = s->host->totalReceivedPackets;
	struct es_playout_stats ps;
	es_playout_get_stats(s->playout, &ps);
	st->bundles = ps.bundles;
	st->played = ps.played;
	st->lost = ps.lost;
	st->concealed = ps.concealed;
	st->jitter_depth = ps.depth;
	st->malformed += ps.malformed;
}

void es_session_want_floor(struct es_session *s)
{
	s->want_floor = true;
}

const struct es_floor *es_session_floor(const struct es_session *s)
{
	return s->floor;
}

void es_session_door(struct es_session *s, unsigned door, bool open)
{
	struct es_door_state d = {(uint16_t)door, open ? 1 : 0};
	struct es_msg m = {.type = ES_MSG_DOORS, .u.doors = {1, &d, NULL}};
	if (s->state == ES_SESSION_JOINED && send_msg(s, &m) == 0) {
		s->door_pending = (int)door;
		s->door_want = open;
	}
}

void es_session_knock(struct es_session *s, unsigned room)
{
	struct es_msg m = {.type = ES_MSG_KNOCK, .u.knock = {(uint16_t)room, 0}};
	if (s->state == ES_SESSION_JOINED)
		(void)send_msg(s, &m);
}

void es_session_whisper(struct es_session *s, int to)
{
	struct es_msg m = {.type = ES_MSG_WHISPER, .u.whisper = {to < 0 ? -1 : to, 0}};
	if (s->state == ES_SESSION_JOINED && send_msg(s, &m) == 0)
		s->whisper_to = to < 0 ? -1 : to;
}

int es_session_whisper_to(const struct es_session *s)
{
	return s->whisper_to;
}

int es_session_whisper_from(const struct es_session *s)
{
	return s->whisper_from;
}

void es_session_volume(struct es_session *s, unsigned speaker, float gain)
{
	struct es_msg m = {.type = ES_MSG_VOLUME, .u.volume = {(uint16_t)speaker, es_gain_to_q(gain)}};
	if (s->state == ES_SESSION_JOINED)
		(void)send_msg(s, &m);
}

const char *es_session_event(struct es_session *s)
{
	if (!s->event_new)
		return NULL;
	s->event_new = false;
	return s->event;
}
