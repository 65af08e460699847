/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <enet/enet.h>
#include <opus.h>

#include "earshot-mixer.h"
#include "playout.h"
#include "session.h"

#define CONNECT_TIMEOUT_MS 2000
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 8000

struct es_session {
	struct es_session_config cfg;
	char name[ES_NAME_MAX + 1];
	ENetHost *host;
	ENetPeer *peer;
	ENetAddress addr;
	enum es_session_state state;
	bool reset_pending;
	int64_t state_since_ms;
	int64_t retry_at_ms;
	unsigned backoff_ms;
	int my_id;
	struct es_pos pos;
	uint8_t flags;
	uint32_t seq;
	OpusEncoder *enc;
	struct es_playout *playout;
	struct es_person_view roster[ES_ROSTER_MAX];
	char status[160];
	struct es_session_stats st;
	uint8_t buf[ES_MSG_MAX];
	uint8_t opus[ES_OPUS_MAX];
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

static int parse_server(const char *str, ENetAddress *a)
{
	const char *colon = strrchr(str, ':');
	char host[256];
	long port = ES_DEFAULT_PORT;
	size_t hl = colon ? (size_t)(colon - str) : strlen(str);
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, str, hl);
	host[hl] = 0;
	if (colon) {
		char *end;
		port = strtol(colon + 1, &end, 10);
		if (*end || port <= 0 || port > 65535)
			return -EINVAL;
	}
	if (enet_address_set_host_ip(a, host) != 0 && enet_address_set_host(a, host) != 0)
		return -EINVAL;
	a->port = (enet_uint16)port;
	return 0;
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
	if (!s || !es_is_reset(host->receivedData, host->receivedDataLength))
		return 0;
	if (host->receivedAddress.host != s->addr.host || host->receivedAddress.port != s->addr.port)
		return 1; /* not from our server: ignore it */
	if (s->peer && (s->state == ES_SESSION_JOINED || s->state == ES_SESSION_JOINING)) {
		s->reset_pending = true;
	}
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
	if (parse_server(cfg->server, &s->addr) < 0) {
		fprintf(stderr, "earshot: bad server address '%s' (expected HOST[:PORT])\n", cfg->server);
		goto err_free;
	}
	int e;
	s->enc = opus_encoder_create(ES_RATE, 1, OPUS_APPLICATION_VOIP, &e);
	if (e != OPUS_OK) {
		err = ENOMEM;
		goto err_free;
	}
	if (opus_encoder_ctl(s->enc, OPUS_SET_BITRATE(cfg->bitrate)) != OPUS_OK ||
	    opus_encoder_ctl(s->enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE)) != OPUS_OK ||
	    opus_encoder_ctl(s->enc, OPUS_SET_INBAND_FEC(1)) != OPUS_OK ||
	    opus_encoder_ctl(s->enc, OPUS_SET_PACKET_LOSS_PERC(10)) != OPUS_OK) {
		err = EINVAL;
		goto err_enc;
	}
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
	for (unsigned i = 0; i < OWNERS; i++)
		if (!owners[i].host) {
			owners[i].host = s->host;
			owners[i].s = s;
			s->host->intercept = intercept;
			break;
		}
	s->pos = cfg->pos;
	s->flags = cfg->flags;
	s->my_id = -1;
	s->backoff_ms = BACKOFF_MIN_MS;
	s->state = ES_SESSION_BACKOFF;
	s->retry_at_ms = now_ms();
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
	bool audio = m->type == ES_MSG_AUDIO_UP;
	ENetPacket *p = enet_packet_create(s->buf, (size_t)n, audio ? ENET_PACKET_FLAG_UNSEQUENCED : ENET_PACKET_FLAG_RELIABLE);
	if (!p)
		return -ENOMEM;
	if (enet_peer_send(s->peer, audio ? ES_CHAN_AUDIO : ES_CHAN_CONTROL, p) < 0) {
		enet_packet_destroy(p);
		return -EIO;
	}
	s->st.bytes_sent += (uint64_t)n;
	return 0;
}

/* Jittered exponential backoff: uniform in [b/2, b], b doubling to a cap. */
static void backoff(struct es_session *s, unsigned at_least_ms, const char *why)
{
	if (s->peer) {
		enet_peer_reset(s->peer);
		s->peer = NULL;
	}
	unsigned b = s->backoff_ms;
	unsigned wait = b / 2 + (unsigned)(rand() % (int)(b / 2 + 1));
	if (wait < at_least_ms)
		wait = at_least_ms;
	s->backoff_ms = b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2;
	s->state = ES_SESSION_BACKOFF;
	s->retry_at_ms = now_ms() + wait;
	s->my_id = -1;
	for (unsigned i = 0; i < ES_ROSTER_MAX; i++)
		s->roster[i].present = false;
	es_playout_reset(s->playout);
	set_status(s, "%s; trying again in %.1f s", why, wait / 1000.0);
}

static void start_connect(struct es_session *s)
{
	s->peer = enet_host_connect(s->host, &s->addr, ES_CHAN_COUNT, 0);
	if (!s->peer) {
		backoff(s, 0, "cannot start a connection");
		return;
	}
	s->state = ES_SESSION_CONNECTING;
	s->state_since_ms = now_ms();
	set_status(s, "connecting to %s", s->cfg.server);
}

static void on_connected(struct es_session *s)
{
	enet_peer_throttle_configure(s->peer, 5000, ENET_PEER_PACKET_THROTTLE_SCALE, 0);
	s->peer->packetThrottle = ENET_PEER_PACKET_THROTTLE_SCALE;
	/* a dead link is noticed in 2-4 s; a restarted server says so at once
	 * with a reset datagram (see intercept) */
	enet_peer_timeout(s->peer, 0, 2000, 4000);
	struct es_msg m = {.type = ES_MSG_HELLO};
	m.u.hello = (struct es_hello){ES_PROTO_VERSION, s->flags, s->pos, (uint8_t)strlen(s->name), s->name};
	if (send_msg(s, &m) < 0) {
		backoff(s, 0, "cannot send hello");
		return;
	}
	s->state = ES_SESSION_JOINING;
	s->state_since_ms = now_ms();
	set_status(s, "joining as %s", s->name);
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
			break;
		case ES_PRESENCE_LEAVE:
			v->present = false;
			break;
		}
	}
}

static void on_packet(struct es_session *s, const ENetPacket *pkt)
{
	s->st.packets_received++;
	s->st.bytes_received += pkt->dataLength;
	if (pkt->dataLength > 0 && pkt->data[0] == ES_MSG_AUDIO_DOWN) {
		if (s->state == ES_SESSION_JOINED)
			es_playout_push(s->playout, pkt->data, pkt->dataLength);
		return;
	}
	struct es_msg m;
	if (es_msg_decode(&m, pkt->data, pkt->dataLength) < 0) {
		s->st.malformed++;
		return;
	}
	switch (m.type) {
	case ES_MSG_WELCOME:
		s->my_id = m.u.welcome.id;
		s->pos = m.u.welcome.pos;
		s->state = ES_SESSION_JOINED;
		s->backoff_ms = BACKOFF_MIN_MS;
		s->st.joins++;
		set_status(s, "joined %s as %s (#%d) at %.2f,%.2f", s->cfg.server, s->name, s->my_id, s->pos.x_cm / 100.0,
			   s->pos.y_cm / 100.0);
		break;
	case ES_MSG_BUSY:
		s->st.busy++;
		backoff(s, m.u.busy.retry_after_ms, "server busy");
		break;
	case ES_MSG_BYE:
		s->st.reconnects++;
		backoff(s, 0, m.u.bye.reason == ES_BYE_RESTART ? "server restarting" :
			      m.u.bye.reason == ES_BYE_REMOVED ? "removed by an admin" : "server said goodbye");
		break;
	case ES_MSG_PRESENCE:
		roster_apply(s, &m.u.presence);
		break;
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
			backoff(s, 0, "connection lost");
			break;
		default:
			break;
		}
	}
}

static void housekeeping(struct es_session *s)
{
	int64_t t = now_ms();
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
	case ES_SESSION_JOINING:
		if (t - s->state_since_ms > CONNECT_TIMEOUT_MS)
			backoff(s, 0, "no answer from the server");
		break;
	case ES_SESSION_JOINED:
		break;
	}
}

int es_session_step(struct es_session *s, const int16_t *mic, bool voiced, int16_t *out)
{
	es_session_service(s);
	housekeeping(s);
	if (s->state == ES_SESSION_JOINED && mic && voiced && !(s->flags & ES_PF_MUTED)) {
		int n = opus_encode(s->enc, mic, ES_FRAME, s->opus, sizeof(s->opus));
		if (n > 0) {
			struct es_msg m = {.type = ES_MSG_AUDIO_UP};
			m.u.up = (struct es_audio_up){s->seq, ES_PF_TALKING, (uint16_t)n, s->opus};
			if (send_msg(s, &m) == 0)
				s->st.frames_sent++;
		}
	}
	/* the sequence counts time, sent or not, so the server sees gaps as gaps */
	s->seq++;
	int audible = es_playout_pull(s->playout, out);
	enet_host_flush(s->host);
	return audible;
}

void es_session_move(struct es_session *s, const struct es_pos *pos)
{
	s->pos = *pos;
	struct es_msg m = {.type = ES_MSG_MOVE, .u.move = *pos};
	if (s->state == ES_SESSION_JOINED)
		(void)send_msg(s, &m);
}

void es_session_set_flags(struct es_session *s, uint8_t flags)
{
	s->flags = flags & (ES_PF_MUTED | ES_PF_FOCUS | ES_PF_THIN);
	struct es_msg m = {.type = ES_MSG_STATE, .u.state.flags = s->flags};
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

const char *es_session_status(const struct es_session *s)
{
	return s->status;
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
	struct es_playout_stats ps;
	es_playout_get_stats(s->playout, &ps);
	st->bundles = ps.bundles;
	st->played = ps.played;
	st->lost = ps.lost;
	st->concealed = ps.concealed;
	st->malformed += ps.malformed;
}
