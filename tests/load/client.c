/* SPDX-License-Identifier: MIT */
/*
 * es-load's protocol client: many simulated people on a few ENet hosts,
 * each through cookie, connect, server key, Noise IK and sealed packets,
 * as the real client does; pre-encoded voice.  The handshakes' X25519 work
 * waits in rings and is done in the slack of a tick (answer_keys).
 */
#include "load.h"

struct load L = {.measure_start = -1, .measure_end = -1, .step_ms = {{-1, -1}, {-1, -1}, {-1, -1}}};

int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int host_of(ENetHost *h)
{
	for (int i = 0; i < L.nhosts; i++)
		if (L.hosts[i].h == h)
			return i;
	return -1;
}

int ENET_CALLBACK intercept(ENetHost *h, ENetEvent *ev)
{
	(void)ev;
	if (!es_cookie_is_raw(h->receivedData, h->receivedDataLength))
		return 0;
	int i = host_of(h);
	uint32_t c;
	if (i >= 0 && es_cookie_reply_parse(h->receivedData, h->receivedDataLength, L.hosts[i].nonce, &c) == 0) {
		L.hosts[i].cookie = c;
		L.hosts[i].have_cookie = true;
		L.hosts[i].cookie_at = now_ns();
	}
	return 1;
}

void ask_cookie(struct host *ho)
{
	randombytes_buf(ho->nonce, sizeof(ho->nonce));
	uint8_t req[ES_COOKIE_REQUEST_LEN];
	int n = es_cookie_request_build(ho->nonce, req, sizeof(req));
	ENetBuffer b = {.data = req, .dataLength = (size_t)n};
	enet_socket_send(ho->h->socket, &L.server, &b, 1);
}

/* Speech-like test voice: noise shaped into syllables, encoded once. */
int make_frames(void)
{
	int e;
	OpusEncoder *enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &e);
	if (e != OPUS_OK)
		return -1;
	opus_encoder_ctl(enc, OPUS_SET_BITRATE(24000));
	opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(1));
	opus_encoder_ctl(enc, OPUS_SET_PACKET_LOSS_PERC(10));
	int16_t pcm[960];
	uint32_t rng = 12345;
	double ph = 0;
	for (int f = 0; f < FRAMES; f++) {
		for (int i = 0; i < 960; i++) {
			double t = (f * 960 + i) / 48000.0;
			double env = 0.5 + 0.5 * sin(2 * M_PI * 4.0 * t); /* ~4 syllables a second */
			rng = rng * 1664525u + 1013904223u;
			double noise = ((double)(rng >> 16) / 32768.0 - 1.0) * 0.3;
			ph += 2 * M_PI * (140.0 + 30.0 * sin(2 * M_PI * 0.5 * t)) / 48000.0;
			pcm[i] = (int16_t)(8000.0 * env * (0.7 * sin(ph) + noise));
		}
		L.frame_len[f] = opus_encode(enc, pcm, 960, L.frames[f], ES_OPUS_MAX);
		if (L.frame_len[f] <= 0)
			return -1;
	}
	opus_encoder_destroy(enc);
	return 0;
}

static int send_plain(struct client *c, const struct es_msg *m)
{
	uint8_t b[ES_MSG_MAX];
	int n = es_msg_encode(m, b, sizeof(b));
	if (n < 0)
		return n;
	ENetPacket *p = enet_packet_create(b, (size_t)n, ENET_PACKET_FLAG_RELIABLE);
	return p && enet_peer_send(c->peer, ES_CHAN_CONTROL, p) == 0 ? 0 : -EIO;
}

int send_sealed(struct client *c, const struct es_msg *m, bool audio)
{
	uint8_t out[ES_MSG_MAX + ES_ENVELOPE_OVERHEAD];
	int k = es_envelope_seal_msg(&c->tx, m, out, sizeof(out));
	if (k < 0)
		return k;
	ENetPacket *p = enet_packet_create(out, (size_t)k, audio ? ENET_PACKET_FLAG_UNSEQUENCED : ENET_PACKET_FLAG_RELIABLE);
	return p && enet_peer_send(c->peer, audio ? ES_CHAN_AUDIO : ES_CHAN_CONTROL, p) == 0 ? 0 : -EIO;
}

void start(struct client *c)
{
	struct host *ho = &L.hosts[c->host];
	c->t_start = now_ns();
	c->peer = enet_host_connect(ho->h, &L.server, ES_CHAN_COUNT, ho->cookie);
	if (!c->peer) {
		c->st = C_FAILED;
		return;
	}
	c->peer->data = c;
	c->st = C_CONNECTING;
}

static void on_key(struct client *c, const struct es_server_key *k)
{
	struct es_pos pos = {(int32_t)lrintf(c->x * 100), (int32_t)lrintf(c->y * 100), 0};
	struct es_join_payload jp = {.hello = {ES_PROTO_VERSION, (uint8_t)((L.want_roster ? ES_PF_ROSTER : 0) | (L.want_place ? ES_PF_PLACE : 0) | (L.want_thin ? ES_PF_THIN : 0)), pos, (uint8_t)strlen(c->name), c->name}};
	uint8_t payload[ES_NOISE_PAYLOAD_MAX], msg1[ES_NOISE_MSG1_MAX], ts[ES_TAI64N_LEN];
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	es_timestamp_make(ts, (uint64_t)rt.tv_sec, (uint32_t)rt.tv_nsec);
	int pn = es_join_payload_encode(&jp, payload, sizeof(payload));
	int n = -1;
	if (pn > 0 && es_noise_initiator_init(&c->hs, &c->id, k->key, (const uint8_t *)ES_NOISE_PROLOGUE,
					      sizeof(ES_NOISE_PROLOGUE) - 1) == 0)
		n = es_noise_write_msg1(&c->hs, ts, payload, (size_t)pn, msg1, sizeof(msg1));
	struct es_msg m = {.type = ES_MSG_HANDSHAKE1, .u.blob = {(uint16_t)(n > 0 ? n : 0), msg1}};
	if (n <= 0 || send_plain(c, &m) < 0) {
		c->st = C_FAILED;
		return;
	}
	c->st = C_HS_SENT;
}

/*
 * Read handshake message 2: joined (its payload a WELCOME), or in a company
 * perhaps sent elsewhere (a REDIRECT in its place).
 */
static void hs2_read(struct client *c, const uint8_t *msg2, size_t len)
{
	uint8_t w[ES_NOISE_PAYLOAD_MAX];
	int n = es_noise_read_msg2(&c->hs, msg2, len, w, sizeof(w));
	if (n < 0 || es_noise_split(&c->hs, &c->tx, &c->rx) < 0)
		c->st = C_FAILED;
	else if (L.company)
		company_hs2(c, w, n);
	else
		c->st = C_JOINED;
}

void on_receive(struct client *c, const uint8_t *data, size_t len)
{
	struct es_msg m;
	if (es_msg_decode(&m, data, len) < 0)
		return;
	int64_t t = now_ns();
	switch (m.type) {
	case ES_MSG_SERVER_KEY:
		if (c->st == C_WAIT_KEY && L.t_key && !L.t_key[c - L.cl])
			L.t_key[c - L.cl] = t;
		if (c->st == C_WAIT_KEY && L.key_ring && L.key_count < L.npeople) { /* a full ring: answered now */
			int i = (int)(c - L.cl);
			L.key_of[i] = m.u.server_key;
			L.key_ring[(L.key_head + L.key_count++) % L.npeople] = i;
			return;
		}
		if (c->st == C_WAIT_KEY)
			on_key(c, &m.u.server_key);
		return;
	case ES_MSG_HANDSHAKE2: {
		if (L.reply_of && L.key_ring && L.key_count < L.npeople && c->st == C_HS_SENT && !c->t_answer &&
		    m.u.blob.len <= sizeof(L.reply_of[0].b)) {
			int i = (int)(c - L.cl);
			c->t_answer = t; /* answered now; read in the slack (answer_keys) */
			L.reply_of[i].len = m.u.blob.len;
			memcpy(L.reply_of[i].b, m.u.blob.data, m.u.blob.len);
			L.key_ring[(L.key_head + L.key_count++) % L.npeople] = i;
			return;
		}
		hs2_read(c, m.u.blob.data, m.u.blob.len);
		c->t_answer = t;
		return;
	}
	case ES_MSG_BUSY:
		c->st = C_BUSY;
		c->t_answer = t;
		c->retry_ms = m.u.busy.retry_after_ms;
		if (L.company)
			company_busy(c);
		return;
	case ES_MSG_REFUSED:
		c->st = C_REFUSED;
		c->t_answer = t;
		if (L.company)
			company_refused(c, m.u.refused.reason);
		return;
	case ES_MSG_SEALED: {
		uint8_t plain[ES_MSG_MAX];
		int n = es_envelope_open(&c->rx, data, len, plain, sizeof(plain));
		if (n > 0 && L.company)
			company_sealed(c, plain, n, t);
		if (n > 0 && plain[0] == ES_MSG_AUDIO_DOWN) {
			if (L.convo_expect && L.convo_expect[c - L.cl])
				L.convo_rx[c - L.cl]++; /* capped at the ticks counted, below */
			c->frames_rx++;
			if (!c->t_first_audio)
				c->t_first_audio = t;
			if (t >= L.window_start && t < L.window_end)
				c->frames_rx_window++;
			if (L.measure_start >= 0 && t >= L.measure_start && t < L.measure_end) {
				c->down_bytes_m += len;
				c->down_max_m = len > c->down_max_m ? (uint16_t)len : c->down_max_m;
			}
		}
		return;
	}
	default:
		return;
	}
}

void connected(struct client *c, ENetPeer *peer)
{
	/* ENet's packet throttle off: it would drop voice frames on its own */
	enet_peer_throttle_configure(peer, 5000, ENET_PEER_PACKET_THROTTLE_SCALE, 0);
	peer->packetThrottle = ENET_PEER_PACKET_THROTTLE_SCALE;
	c->st = C_WAIT_KEY;
}

void service_all(void)
{
	ENetEvent ev;
	for (int i = 0; i < L.nhosts; i++) {
		while (enet_host_service(L.hosts[i].h, &ev, 0) > 0) {
			struct client *c = ev.peer ? ev.peer->data : NULL;
			switch (ev.type) {
			case ENET_EVENT_TYPE_CONNECT:
				if (c) {
					connected(c, ev.peer);
					if (L.t_connected && !L.t_connected[c - L.cl])
						L.t_connected[c - L.cl] = now_ns();
				}
				break;
			case ENET_EVENT_TYPE_RECEIVE:
				if (c)
					on_receive(c, ev.packet->data, ev.packet->dataLength);
				enet_packet_destroy(ev.packet);
				break;
			case ENET_EVENT_TYPE_DISCONNECT:
				if (c && c->st != C_BUSY && c->st != C_REFUSED)
					c->st = C_FAILED;
				if (c)
					c->peer = NULL;
				break;
			default:
				break;
			}
		}
	}
}


/* Answer deferred server keys and read deferred handshake replies until `until` (at least two a call, so they always progress). */
void answer_keys(int64_t until)
{
	for (int done = 0; L.key_count > 0 && (done < 2 || now_ns() < until); done++) {
		int i = L.key_ring[L.key_head];
		L.key_head = (L.key_head + 1) % L.npeople;
		L.key_count--;
		struct client *c = &L.cl[i];
		if (c->st == C_WAIT_KEY && c->peer)
			on_key(c, &L.key_of[i]);
		else if (c->st == C_HS_SENT && (c->peer || L.company) && L.reply_of && L.reply_of[i].len) {
			/* in a company the daemon may have closed already: a redirect's message 2 is read all the same */
			hs2_read(c, L.reply_of[i].b, L.reply_of[i].len);
			L.reply_of[i].len = 0;
		}
	}
}

