/* SPDX-License-Identifier: MIT */
/*
 * es-probe: a hostile-but-honest test peer for earshotd, loopback only.
 *
 *   es-probe inject ADDR:PORT
 *       join as a real client (cookie, ENet connect, Noise IK), then send a
 *       replayed packet, a tampered packet and a packet sealed with the key
 *       of an earlier session, and check that the session still works
 *       (a MOVE comes back as our presence update).  Exit 0 if it does.
 *
 *   es-probe halfopen ADDR:PORT
 *       connect with a valid cookie and never start the handshake: exit 0
 *       if the daemon drops us within 4 s.
 *
 *   es-probe junk ADDR:PORT SECONDS PER_S
 *       join, then send malformed messages inside valid ENet packets (sealed
 *       and not) at PER_S a second; exit 0 if our session still works.
 *
 *   es-probe flood ADDR:PORT SECONDS CONNECTS_PER_S GARBAGE_PER_S
 *       send CONNECT-shaped ENet datagrams (valid layout, no valid cookie)
 *       from many source ports on 127.0.0.2..127.0.0.250, and random
 *       garbage, at the given rates.  Bounded in time and count.
 *
 * The attacks of issue 15 (tests/integration/test-hostile.py); each prints
 * what it sent and what came back, and leaves the judging to the test:
 *
 *   es-probe fragments ADDR:PORT huge|fresh|ahead|unreliable PEERS COMMANDS [authed]
 *       PEERS connections from 127.0.0.1 (a valid cookie each), each sending
 *       COMMANDS ENet commands, 50 to a datagram: "huge" announces one 32 MB
 *       packet and sends 1-byte fragments 4 KB apart (each touches a fresh
 *       page), "fresh" opens a new 2-byte packet with every command,
 *       "ahead" sends 1-byte reliable packets beyond a gap that never fills,
 *       "unreliable" 1-byte unreliable ones waiting for a reliable one that
 *       never comes.  "authed": after a full handshake, else before any.
 *   es-probe spoof ADDR:PORT VICTIM_IP:PORT SECONDS
 *       (root: raw sockets) every 50 ms, forged with the victim's source
 *       address: a CONNECT with a bad cookie and an ENet ping to another
 *       peer slot; and, forged from the daemon's address, a reset-shaped
 *       datagram with a random token to the victim.
 *   es-probe smallreset ADDR:PORT
 *       a 4-byte and an 8-byte datagram for a peer slot nobody holds: print
 *       the length of what comes back to each (0: nothing); then join, and
 *       count the resets a ping for our own slot's other session draws.
 *   es-probe cookies ADDR:PORT SECONDS PER_S
 *       cookie requests from 127.0.0.1 (another port than any client's).
 *   es-probe handshakes ADDR:PORT ADDR_A ADDR_B PER_ADDR BATCH
 *       handshake attempts (valid cookie, connect, a garbage message 1),
 *       BATCH at a time from ADDR_A, then from ADDR_B, and so on; count
 *       the refusals for rate.
 *   es-probe requests ADDR:PORT
 *       join, then 20,000 floor-plan requests, 2,000 door changes, and
 *       2,000 each of moves, state changes, knocks, whispers and volume
 *       changes; count what comes back.
 *   es-probe names ADDR:PORT
 *       try to join under names with C1 controls, invalid UTF-8 and bidi
 *       overrides (and one good non-ASCII name).
 *   es-probe watch ADDR:PORT SECONDS X,Y NAME
 *       join as NAME at X,Y with presence, and print every presence entry.
 *   es-probe redirector PORT KEYFILE SECONDS X,Y ADDR[,ADDR...]
 *       a daemon of a company that hosts nobody's floor (issue 18): it holds
 *       the company's key (KEYFILE: a daemon's server.key), proves it, and
 *       answers every handshake with ES_MSG_REDIRECT inside message 2 (in
 *       place of the WELCOME): go to the first ADDR, sit at X,Y (metres).
 *       Prints "redirector: handshake N at T ms" for each.
 *   es-probe fakeserver PORT busy|refused SECONDS
 *       a server that never proves its key: on every connect it says
 *       "busy, retry after 49.7 days" or "refused: unknown key".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <enet/enet.h>
#include <sodium.h>

#include "earshot-crypto.h"
#include "earshot-mixer.h"
#include "earshot-proto.h"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int parse_addr(const char *s, ENetAddress *a)
{
	char host[64];
	const char *c = strrchr(s, ':');
	if (!c || (size_t)(c - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(c - s));
	host[c - s] = 0;
	if (enet_address_set_host_ip(a, host) != 0)
		return -1;
	a->port = (enet_uint16)atoi(c + 1);
	return 0;
}

/* ---- a minimal real client ------------------------------------------------ */

struct probe {
	ENetHost *host;
	ENetPeer *peer;
	ENetAddress addr;
	struct es_keypair id;
	struct es_noise hs;
	struct es_cipher tx, rx;
	uint8_t nonce[ES_COOKIE_NONCE_LEN];
	uint32_t cookie;
	bool have_cookie;
	int my_id;
	unsigned resets; /* reset datagrams that reached this probe's socket */
};

static struct probe *the_probe;

static int ENET_CALLBACK probe_intercept(ENetHost *host, ENetEvent *ev)
{
	(void)ev;
	struct probe *p = the_probe;
	if (es_is_reset(host->receivedData, host->receivedDataLength)) {
		p->resets++;
		return 1;
	}
	if (!es_cookie_is_raw(host->receivedData, host->receivedDataLength))
		return 0;
	if (es_cookie_reply_parse(host->receivedData, host->receivedDataLength, p->nonce, &p->cookie) == 0)
		p->have_cookie = true;
	return 1;
}

/* Wait for one ENet event (up to ms). */
static int wait_event(struct probe *p, ENetEvent *ev, int ms)
{
	int64_t end = now_ms() + ms;
	while (now_ms() < end) {
		int r = enet_host_service(p->host, ev, 10);
		if (r != 0)
			return r;
	}
	return 0;
}

static int send_raw(struct probe *p, const uint8_t *b, size_t n, bool audio)
{
	ENetPacket *pk = enet_packet_create(b, n, audio ? ENET_PACKET_FLAG_UNSEQUENCED : ENET_PACKET_FLAG_RELIABLE);
	if (!pk || enet_peer_send(p->peer, audio ? ES_CHAN_AUDIO : ES_CHAN_CONTROL, pk) < 0)
		return -1;
	enet_host_flush(p->host);
	return 0;
}

/* Cookie, then ENet's connect, on p's host.  0 or -1. */
static int connect_peer(struct probe *p)
{
	p->have_cookie = false;
	randombytes_buf(p->nonce, sizeof(p->nonce));
	uint8_t req[ES_COOKIE_REQUEST_LEN];
	int n = es_cookie_request_build(p->nonce, req, sizeof(req));
	ENetBuffer b = {.data = req, .dataLength = (size_t)n};
	enet_socket_send(p->host->socket, &p->addr, &b, 1);
	ENetEvent ev;
	int64_t end = now_ms() + 2000;
	while (!p->have_cookie && now_ms() < end)
		enet_host_service(p->host, &ev, 10);
	if (!p->have_cookie) {
		fprintf(stderr, "probe: no cookie\n");
		return -1;
	}
	p->peer = enet_host_connect(p->host, &p->addr, ES_CHAN_COUNT, p->cookie);
	if (!p->peer || wait_event(p, &ev, 2000) <= 0 || ev.type != ENET_EVENT_TYPE_CONNECT) {
		fprintf(stderr, "probe: no connect\n");
		return -1;
	}
	enet_host_flush(p->host); /* our acknowledgement: the daemon's side is connected once it has it */
	return 0;
}

/*
 * Join with a name of any bytes (the HELLO is written by hand, so that
 * names es_msg_encode refuses can be tried), flags and place.  Returns 0
 * when welcomed, the ES_REFUSED_* reason when refused (proved inside
 * message 2, or plain), -1 on anything else.
 */
static int join_raw(struct probe *p, const uint8_t *name, size_t nlen, uint8_t flags, struct es_pos pos)
{
	ENetEvent ev;
	if (connect_peer(p) < 0)
		return -1;
	/* SERVER_KEY, then handshake */
	if (wait_event(p, &ev, 2000) <= 0 || ev.type != ENET_EVENT_TYPE_RECEIVE) {
		fprintf(stderr, "probe: no server key\n");
		return -1;
	}
	struct es_msg m;
	if (es_msg_decode(&m, ev.packet->data, ev.packet->dataLength) < 0 || m.type != ES_MSG_SERVER_KEY) {
		fprintf(stderr, "probe: expected the server key\n");
		return -1;
	}
	uint8_t server_pub[32];
	memcpy(server_pub, m.u.server_key.key, 32);
	enet_packet_destroy(ev.packet);
	/* payload: [hello_len][HELLO: type, version, flags, x, y, facing, name_len, name, downlink][secret_len 0] */
	uint8_t payload[ES_NOISE_PAYLOAD_MAX], msg1[ES_NOISE_MSG1_MAX], ts[ES_TAI64N_LEN];
	if (nlen > 64)
		return -1;
	size_t o = 1;
	payload[o++] = ES_MSG_HELLO;
	payload[o++] = ES_PROTO_VERSION & 0xFF, payload[o++] = ES_PROTO_VERSION >> 8;
	payload[o++] = flags;
	for (int i = 0; i < 4; i++)
		payload[o++] = (uint8_t)((uint32_t)pos.x_cm >> (8 * i));
	for (int i = 0; i < 4; i++)
		payload[o++] = (uint8_t)((uint32_t)pos.y_cm >> (8 * i));
	payload[o++] = (uint8_t)pos.facing, payload[o++] = (uint8_t)(pos.facing >> 8);
	payload[o++] = (uint8_t)nlen;
	memcpy(payload + o, name, nlen);
	o += nlen;
	payload[o++] = 0, payload[o++] = 0; /* downlink budget (protocol 2): the daemon's default */
	payload[0] = (uint8_t)(o - 1);
	payload[o++] = 0;
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	es_timestamp_make(ts, (uint64_t)rt.tv_sec, (uint32_t)rt.tv_nsec);
	if (es_noise_initiator_init(&p->hs, &p->id, server_pub, (const uint8_t *)ES_NOISE_PROLOGUE,
				    sizeof(ES_NOISE_PROLOGUE) - 1) < 0)
		return -1;
	int n = es_noise_write_msg1(&p->hs, ts, payload, o, msg1, sizeof(msg1));
	uint8_t out[ES_MSG_MAX];
	struct es_msg h1 = {.type = ES_MSG_HANDSHAKE1, .u.blob = {(uint16_t)(n > 0 ? n : 0), msg1}};
	int on = es_msg_encode(&h1, out, sizeof(out));
	if (n < 0 || on < 0 || send_raw(p, out, (size_t)on, false) < 0)
		return -1;
	if (wait_event(p, &ev, 3000) <= 0 || ev.type != ENET_EVENT_TYPE_RECEIVE ||
	    es_msg_decode(&m, ev.packet->data, ev.packet->dataLength) < 0) {
		fprintf(stderr, "probe: no handshake reply\n");
		return -1;
	}
	if (m.type == ES_MSG_REFUSED) { /* in the clear (a daemon from before proved refusals) */
		int reason = m.u.refused.reason;
		enet_packet_destroy(ev.packet);
		return reason > 0 ? reason : -1;
	}
	if (m.type != ES_MSG_HANDSHAKE2) {
		enet_packet_destroy(ev.packet);
		fprintf(stderr, "probe: no handshake reply\n");
		return -1;
	}
	uint8_t w[ES_NOISE_PAYLOAD_MAX];
	n = es_noise_read_msg2(&p->hs, m.u.blob.data, m.u.blob.len, w, sizeof(w));
	enet_packet_destroy(ev.packet);
	struct es_msg wm;
	if (n < 0 || es_msg_decode(&wm, w, (size_t)n) < 0) {
		fprintf(stderr, "probe: handshake failed\n");
		return -1;
	}
	if (wm.type == ES_MSG_REFUSED)
		return wm.u.refused.reason > 0 ? wm.u.refused.reason : -1;
	if (wm.type != ES_MSG_WELCOME || es_noise_split(&p->hs, &p->tx, &p->rx) < 0) {
		fprintf(stderr, "probe: handshake failed\n");
		return -1;
	}
	p->my_id = wm.u.welcome.id;
	return 0;
}

static int join(struct probe *p, const char *name)
{
	int r = join_raw(p, (const uint8_t *)name, strlen(name), ES_PF_ROSTER, (struct es_pos){0, 0, 0});
	if (r > 0)
		fprintf(stderr, "probe: refused, reason %d\n", r);
	return r == 0 ? 0 : -1;
}

/* Wait until a presence update says we are at x_cm. */
static bool see_self_at(struct probe *p, int32_t x_cm, int ms)
{
	int64_t end = now_ms() + ms;
	ENetEvent ev;
	while (now_ms() < end) {
		if (enet_host_service(p->host, &ev, 10) <= 0 || ev.type != ENET_EVENT_TYPE_RECEIVE)
			continue;
		struct es_msg m;
		uint8_t plain[ES_MSG_MAX];
		bool hit = false;
		int n = es_envelope_open(&p->rx, ev.packet->data, ev.packet->dataLength, plain, sizeof(plain));
		if (n > 0 && es_msg_decode(&m, plain, (size_t)n) > 0 && m.type == ES_MSG_PRESENCE)
			for (unsigned i = 0; i < m.u.presence.count; i++)
				hit |= m.u.presence.entry[i].id == p->my_id && m.u.presence.entry[i].pos.x_cm == x_cm;
		enet_packet_destroy(ev.packet);
		if (hit)
			return true;
	}
	return false;
}

static int move_to(struct probe *p, int32_t x_cm, struct es_cipher *with, uint8_t *copy, int *copy_len)
{
	struct es_msg mv = {.type = ES_MSG_MOVE, .u.move = {x_cm, 0, 0}};
	uint8_t out[ES_MSG_MAX + 64];
	int n = es_envelope_seal_msg(with, &mv, out, sizeof(out));
	if (n < 0)
		return n;
	if (copy) {
		memcpy(copy, out, (size_t)n);
		*copy_len = n;
	}
	return send_raw(p, out, (size_t)n, false);
}

static int inject(const char *server)
{
	struct probe p = {0};
	the_probe = &p;
	if (parse_addr(server, &p.addr) < 0)
		return 2;
	es_noise_keypair(&p.id);
	p.host = enet_host_create(NULL, 1, ES_CHAN_COUNT, 0, 0);
	p.host->intercept = probe_intercept;
	int fails = 0;

	/* session 1: join, keep its sending key, leave */
	if (join(&p, "probe") < 0)
		return 1;
	struct es_cipher old_tx = p.tx;
	old_tx.send_next += 1000; /* counters the server has not seen from it */
	enet_peer_disconnect_now(p.peer, 0);
	enet_host_flush(p.host);
	usleep(300000);

	/* session 2 */
	if (join(&p, "probe") < 0)
		return 1;
	printf("probe: joined as #%d\n", p.my_id);
	uint8_t replay[ES_MSG_MAX + 64];
	int replay_len = 0;
	if (move_to(&p, 100, &p.tx, replay, &replay_len) < 0 || !see_self_at(&p, 100, 3000)) {
		printf("FAIL: a valid sealed move was not applied\n");
		return 1;
	}
	/* 1. the same packet again: a replay */
	send_raw(&p, replay, (size_t)replay_len, false);
	/* 2. a tampered packet: one flipped ciphertext byte */
	uint8_t t[ES_MSG_MAX + 64];
	struct es_msg mv = {.type = ES_MSG_MOVE, .u.move = {300, 0, 0}};
	int tn = es_envelope_seal_msg(&p.tx, &mv, t, sizeof(t));
	t[tn - 20] ^= 0x40;
	send_raw(&p, t, (size_t)tn, false);
	/* 3. a packet sealed with the first session's key */
	move_to(&p, 400, &old_tx, NULL, NULL);
	/* none of those may have moved us; a fresh valid move must */
	if (see_self_at(&p, 300, 500) || see_self_at(&p, 400, 500)) {
		printf("FAIL: a bad packet was applied\n");
		fails++;
	}
	if (move_to(&p, 500, &p.tx, NULL, NULL) < 0 || !see_self_at(&p, 500, 3000)) {
		printf("FAIL: the session did not go on after the bad packets\n");
		fails++;
	} else
		printf("probe: the session goes on after a replayed, a tampered and an old-session packet\n");
	enet_peer_disconnect_now(p.peer, 0);
	enet_host_flush(p.host);
	enet_host_destroy(p.host);
	return fails ? 1 : 0;
}

/* Connect with a valid cookie, say nothing, and see how soon we are dropped. */
static int halfopen(const char *server)
{
	struct probe p = {0};
	the_probe = &p;
	if (parse_addr(server, &p.addr) < 0)
		return 2;
	p.host = enet_host_create(NULL, 1, ES_CHAN_COUNT, 0, 0);
	p.host->intercept = probe_intercept;
	randombytes_buf(p.nonce, sizeof(p.nonce));
	uint8_t req[ES_COOKIE_REQUEST_LEN];
	int n = es_cookie_request_build(p.nonce, req, sizeof(req));
	ENetBuffer b = {.data = req, .dataLength = (size_t)n};
	enet_socket_send(p.host->socket, &p.addr, &b, 1);
	ENetEvent ev;
	int64_t end = now_ms() + 2000;
	while (!p.have_cookie && now_ms() < end)
		enet_host_service(p.host, &ev, 10);
	p.peer = enet_host_connect(p.host, &p.addr, ES_CHAN_COUNT, p.cookie);
	if (wait_event(&p, &ev, 2000) <= 0 || ev.type != ENET_EVENT_TYPE_CONNECT)
		return 1;
	int64_t t0 = now_ms();
	end = t0 + 8000;
	int rc = 1;
	while (now_ms() < end) {
		if (enet_host_service(p.host, &ev, 10) > 0) {
			if (ev.type == ENET_EVENT_TYPE_DISCONNECT) {
				printf("probe: a silent peer was dropped after %lld ms\n", (long long)(now_ms() - t0));
				rc = now_ms() - t0 <= 4000 ? 0 : 1;
				break;
			}
			if (ev.type == ENET_EVENT_TYPE_RECEIVE)
				enet_packet_destroy(ev.packet);
		}
	}
	if (rc && now_ms() >= end)
		printf("probe: a silent peer was still connected after 8 s\n");
	enet_host_destroy(p.host);
	return rc;
}

/*
 * Junk from an authenticated peer: random bytes inside valid ENet packets,
 * sealed packets whose inner message is malformed, sealed messages with
 * impossible fields, at `rate` a second for `seconds`; then check that our
 * own session still works.  Prints how many of each kind were sent.
 */
static int junk(const char *server, double seconds, double rate)
{
	struct probe p = {0};
	the_probe = &p;
	if (parse_addr(server, &p.addr) < 0 || seconds <= 0 || seconds > 120 || rate <= 0 || rate > 50000)
		return 2;
	es_noise_keypair(&p.id);
	p.host = enet_host_create(NULL, 1, ES_CHAN_COUNT, 0, 0);
	p.host->intercept = probe_intercept;
	if (join(&p, "junk") < 0)
		return 1;
	uint64_t raw = 0, sealed_bad = 0, shaped = 0;
	uint8_t buf[600], out[ES_MSG_MAX + 64];
	int64_t start = now_ms(), end = start + (int64_t)(seconds * 1000);
	uint64_t sent = 0;
	while (now_ms() < end) {
		double t = (double)(now_ms() - start) / 1000.0;
		while ((double)sent < t * rate) {
			size_t n = 1 + (size_t)(random() % 500);
			randombytes_buf(buf, n);
			switch (sent % 3) {
			case 0: /* random bytes, unsealed, after the handshake */
				buf[0] = (uint8_t)(random() % 0x20);
				send_raw(&p, buf, n, true);
				raw++;
				break;
			case 1: { /* sealed, but the inside is random */
				int k = es_envelope_seal(&p.tx, buf, n, out, sizeof(out));
				if (k > 0)
					send_raw(&p, out, (size_t)k, true);
				sealed_bad++;
				break;
			}
			default: { /* sealed, a real type with lying lengths */
				uint8_t in[8] = {ES_MSG_AUDIO_UP, 1, 2, 3, 4, 0, 0xFF, 0xFF};
				if (sent % 2)
					in[0] = ES_MSG_DOORS, in[1] = 0xFF, in[2] = 0xFF;
				int k = es_envelope_seal(&p.tx, in, sizeof(in), out, sizeof(out));
				if (k > 0)
					send_raw(&p, out, (size_t)k, true);
				shaped++;
				break;
			}
			}
			sent++;
		}
		ENetEvent ev;
		while (enet_host_service(p.host, &ev, 0) > 0)
			if (ev.type == ENET_EVENT_TYPE_RECEIVE)
				enet_packet_destroy(ev.packet);
		usleep(2000);
	}
	printf("probe: junk sent: %llu unsealed, %llu sealed with a random inside, %llu sealed with lying fields\n",
	       (unsigned long long)raw, (unsigned long long)sealed_bad, (unsigned long long)shaped);
	int rc = 0;
	if (move_to(&p, 700, &p.tx, NULL, NULL) < 0 || !see_self_at(&p, 700, 3000)) {
		printf("FAIL: the junk sender's own session broke\n");
		rc = 1;
	} else
		printf("probe: the session still works after the junk\n");
	enet_peer_disconnect_now(p.peer, 0);
	enet_host_flush(p.host);
	enet_host_destroy(p.host);
	return rc;
}

/* ---- flood ---------------------------------------------------------------- */

#define FLOOD_SOCKS 256

/* A 52-byte ENet 1.3.17 CONNECT: header with sentTime, then the command. */
static size_t connect_shaped(uint8_t *b, uint32_t data)
{
	struct es_enet_header h = {.peer_id = ES_ENET_PEER_NONE, .sent_time = true, .sent_time_ms = 0x1234};
	size_t o = (size_t)es_enet_header_write(&h, b, 4);
	b[o++] = ES_ENET_CMD_CONNECT | ES_ENET_CMD_FLAG_ACKNOWLEDGE;
	b[o++] = 0xFF;                 /* channel */
	b[o++] = 0, b[o++] = 1;        /* reliable sequence number */
	uint32_t f[11] = {0, 1400, 32768, 2, 0, 0, 5000, 2, 2, (uint32_t)random(), data};
	b[o++] = 0, b[o++] = 0;        /* outgoingPeerID */
	b[o++] = 0xFF, b[o++] = 0xFF;  /* session ids */
	for (int i = 1; i < 11; i++) { /* mtu .. data, big-endian */
		uint32_t v = htonl(f[i]);
		memcpy(b + o, &v, 4);
		o += 4;
	}
	return o;
}

static int flood(const char *server, double seconds, double cps, double gps)
{
	ENetAddress a;
	if (parse_addr(server, &a) < 0 || seconds <= 0 || seconds > 120 || cps < 0 || cps > 50000 || gps < 0 || gps > 50000)
		return 2;
	int socks[FLOOD_SOCKS];
	for (int i = 0; i < FLOOD_SOCKS; i++) {
		socks[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = 0};
		src.sin_addr.s_addr = htonl(0x7F000002u + (uint32_t)(i % 249)); /* 127.0.0.2 .. 127.0.0.250 */
		if (socks[i] < 0 || bind(socks[i], (struct sockaddr *)&src, sizeof(src)) < 0) {
			perror("probe: bind");
			return 1;
		}
	}
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(a.port), .sin_addr.s_addr = a.host};
	int64_t start = now_ms(), end = start + (int64_t)(seconds * 1000);
	uint64_t sent_c = 0, sent_g = 0;
	uint8_t buf[1500];
	while (now_ms() < end) {
		double t = (double)(now_ms() - start) / 1000.0;
		while ((double)sent_c < t * cps) {
			size_t n = connect_shaped(buf, (uint32_t)random());
			sendto(socks[sent_c % FLOOD_SOCKS], buf, n, 0, (struct sockaddr *)&dst, sizeof(dst));
			sent_c++;
		}
		while ((double)sent_g < t * gps) {
			size_t n = 1 + (size_t)(random() % 600);
			randombytes_buf(buf, n);
			sendto(socks[(sent_g * 7) % FLOOD_SOCKS], buf, n, 0, (struct sockaddr *)&dst, sizeof(dst));
			sent_g++;
		}
		/* drain whatever comes back (nothing should), then pace */
		for (int i = 0; i < FLOOD_SOCKS; i++)
			while (recv(socks[i], buf, sizeof(buf), 0) > 0)
				;
		usleep(2000);
	}
	printf("probe: flood sent %llu connect-shaped and %llu garbage datagrams in %.1f s\n", (unsigned long long)sent_c,
	       (unsigned long long)sent_g, (double)(now_ms() - start) / 1000.0);
	for (int i = 0; i < FLOOD_SOCKS; i++)
		close(socks[i]);
	return 0;
}

/* ---- issue 15: the attacks of a hostile internet ------------------------- */

static struct probe *probes[64];
static unsigned nprobes;

static int ENET_CALLBACK probes_intercept(ENetHost *host, ENetEvent *ev)
{
	(void)ev;
	for (unsigned i = 0; i < nprobes; i++)
		if (probes[i]->host == host) {
			the_probe = probes[i];
			return probe_intercept(host, ev);
		}
	return 0;
}

/* A probe with a host of its own (its own port), bound to src (NULL: 127.0.0.1, any port). */
static struct probe *probe_new(const char *server, const char *src, size_t peers)
{
	struct probe *p = calloc(1, sizeof(*p));
	if (!p || parse_addr(server, &p->addr) < 0 || nprobes == sizeof(probes) / sizeof(probes[0]))
		return NULL;
	ENetAddress bind = {.host = 0, .port = 0};
	if (enet_address_set_host_ip(&bind, src ? src : "127.0.0.1") != 0)
		return NULL;
	es_noise_keypair(&p->id);
	p->host = enet_host_create(&bind, peers, ES_CHAN_COUNT, 0, 0);
	if (!p->host)
		return NULL;
	p->host->intercept = probes_intercept;
	probes[nprobes++] = p;
	the_probe = p;
	return p;
}

/* The datagram header ENet writes for p's peer: its id and session, with a sent time. */
static size_t enet_header(const ENetPeer *peer, uint8_t *b)
{
	struct es_enet_header h = {.peer_id = peer->outgoingPeerID, .session = peer->outgoingSessionID & 3,
				   .sent_time = true, .sent_time_ms = 0x1234};
	return (size_t)es_enet_header_write(&h, b, 4);
}

static void be16put(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8), b[1] = (uint8_t)v;
}

static void be32put(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24), b[1] = (uint8_t)(v >> 16), b[2] = (uint8_t)(v >> 8), b[3] = (uint8_t)v;
}

/* One SEND_FRAGMENT command with one byte of data (25 bytes). */
static size_t fragment_cmd(uint8_t *b, uint16_t start, uint32_t count, uint32_t number, uint32_t total, uint32_t offset)
{
	b[0] = ES_ENET_CMD_SEND_FRAGMENT | ES_ENET_CMD_FLAG_ACKNOWLEDGE;
	b[1] = 0;        /* channel */
	be16put(b + 2, (uint16_t)(start + number));
	be16put(b + 4, start);
	be16put(b + 6, 1);
	be32put(b + 8, count);
	be32put(b + 12, number);
	be32put(b + 16, total);
	be32put(b + 20, offset);
	b[24] = 0xAB;
	return 25;
}

static void drain(struct probe *p)
{
	ENetEvent ev;
	while (enet_host_service(p->host, &ev, 0) > 0)
		if (ev.type == ENET_EVENT_TYPE_RECEIVE)
			enet_packet_destroy(ev.packet);
}

/* One SEND_RELIABLE (or SEND_UNRELIABLE) command with one byte of data, at reliable sequence seq. */
static size_t send_cmd(uint8_t *b, bool reliable, uint16_t seq, uint16_t unreliable_seq)
{
	size_t o = 0;
	b[o++] = (uint8_t)(reliable ? ES_ENET_CMD_SEND_RELIABLE | ES_ENET_CMD_FLAG_ACKNOWLEDGE : ES_ENET_CMD_SEND_UNRELIABLE);
	b[o++] = 0;
	be16put(b + o, seq), o += 2;
	if (!reliable)
		be16put(b + o, unreliable_seq), o += 2;
	be16put(b + o, 1), o += 2;
	b[o++] = 0xCD;
	return o;
}

static int fragments(const char *server, const char *mode, int npeers, long commands, bool authed)
{
	bool huge = strcmp(mode, "huge") == 0, ahead = strcmp(mode, "ahead") == 0;
	bool unreliable = strcmp(mode, "unreliable") == 0;
	if ((!huge && !ahead && !unreliable && strcmp(mode, "fresh") != 0) || npeers < 1 || npeers > 32 || commands < 1 ||
	    commands > 200000)
		return 2;
	struct probe *ps[32];
	for (int i = 0; i < npeers; i++) {
		char name[24];
		snprintf(name, sizeof(name), "frag%d-%04x", i, (unsigned)randombytes_uniform(65536));
		if (!(ps[i] = probe_new(server, NULL, 1)))
			return 1;
		the_probe = ps[i];
		if (authed ? join(ps[i], name) < 0 : connect_peer(ps[i]) < 0) {
			printf("probe: peer %d could not %s\n", i, authed ? "join" : "connect");
			return 1;
		}
	}
	/*
	 * ENet has delivered reliable 1 on channel 0 of an authenticated peer
	 * (its handshake message): start beyond anything delivered.
	 */
	for (int k = 0; k < 10; k++) /* the acknowledgements reach the daemon */
		for (int i = 0; i < npeers; i++)
			drain(ps[i]), usleep(1000);
	uint16_t start = authed ? 40 : 10;
	uint64_t dgrams = 0, cmds = 0;
	int64_t t0 = now_ms();
	uint8_t b[1400];
	const uint32_t total_huge = 32u << 20;
	for (long k = 0; k < commands;) {
		for (int i = 0; i < npeers; i++) {
			size_t o = enet_header(ps[i]->peer, b);
			long kk = k;
			for (int c = 0; c < 50 && kk < commands; c++, kk++) {
				if (huge)
					o += fragment_cmd(b + o, start, total_huge / 4096, (uint32_t)kk, total_huge, (uint32_t)kk * 4096);
				else if (ahead) /* each waits for the gap before it, which never fills */
					o += send_cmd(b + o, true, (uint16_t)(start + kk % 20000), 0);
				else if (unreliable) /* each waits for a reliable one that never comes */
					o += send_cmd(b + o, false, (uint16_t)(start + kk % 20000 / 1000), (uint16_t)(kk % 1000 + 1));
				else /* the smallest packet there is: all the cost is ENet's own bookkeeping */
					o += fragment_cmd(b + o, (uint16_t)(start + kk), 2, 0, 2, 0);
			}
			ENetBuffer eb = {.data = b, .dataLength = o};
			enet_socket_send(ps[i]->host->socket, &ps[i]->addr, &eb, 1);
			dgrams++;
			cmds += (uint64_t)(kk - k);
		}
		k += 50;
		/* about 8,000 datagrams a second: what the daemon's socket buffer takes */
		if (dgrams % 16 == 0)
			usleep(2000);
	}
	printf("probe: fragments (%s, %s): %llu commands in %llu datagrams from %d peers in %lld ms\n", mode,
	       authed ? "after the handshake" : "before any handshake", (unsigned long long)cmds,
	       (unsigned long long)dgrams, npeers, (long long)(now_ms() - t0));
	for (int i = 0; i < npeers; i++)
		drain(ps[i]);
	return 0;
}

/* ---- forged sources (root) ---- */

static int raw_send(int fd, uint32_t sip, uint16_t sport, uint32_t dip, uint16_t dport, const uint8_t *d, size_t len)
{
	uint8_t pkt[1600];
	if (len > sizeof(pkt) - 28)
		return -1;
	struct iphdr *ip = (struct iphdr *)(void *)pkt;
	struct udphdr *udp = (struct udphdr *)(void *)(pkt + 20);
	memset(pkt, 0, 28);
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons((uint16_t)(28 + len));
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->saddr = sip;
	ip->daddr = dip;
	udp->source = htons(sport);
	udp->dest = htons(dport);
	udp->len = htons((uint16_t)(8 + len));
	udp->check = 0; /* none: allowed over IPv4 */
	memcpy(pkt + 28, d, len);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = dip};
	return sendto(fd, pkt, 28 + len, 0, (struct sockaddr *)&to, sizeof(to)) < 0 ? -1 : 0;
}

static size_t connect_shaped(uint8_t *b, uint32_t data);

static int spoof(const char *server, const char *victim, double seconds)
{
	ENetAddress srv, vic;
	if (parse_addr(server, &srv) < 0 || parse_addr(victim, &vic) < 0 || seconds <= 0 || seconds > 60)
		return 2;
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0) {
		perror("probe: raw socket (needs root)");
		return 77;
	}
	uint64_t connects = 0, pings = 0, resets = 0;
	int64_t end = now_ms() + (int64_t)(seconds * 1000);
	uint8_t b[64];
	while (now_ms() < end) {
		/* 1. a CONNECT with a bad cookie "from" the victim: once answered with a reset */
		size_t n = connect_shaped(b, (uint32_t)random());
		if (raw_send(fd, vic.host, vic.port, srv.host, srv.port, b, n) == 0)
			connects++;
		/* 2. an ENet ping "from" the victim to some other slot or session: a reset for that one */
		struct es_enet_header h = {.peer_id = (uint16_t)(random() % 64), .session = (uint8_t)(random() % 4),
					   .sent_time = true, .sent_time_ms = 0x1234};
		uint8_t ping[8] = {[4] = ES_ENET_CMD_PING | ES_ENET_CMD_FLAG_ACKNOWLEDGE, 0xFF, 0, 1};
		if (es_enet_header_write(&h, ping, sizeof(ping)) != 4)
			break;
		if (raw_send(fd, vic.host, vic.port, srv.host, srv.port, ping, sizeof(ping)) == 0)
			pings++;
		/* 3. a reset-shaped datagram "from" the daemon, with a token of our own */
		uint8_t r[ES_RESET_LEN] = {'E', 'R'};
		randombytes_buf(r + 2, sizeof(r) - 2);
		if (raw_send(fd, srv.host, srv.port, vic.host, vic.port, r, sizeof(r)) == 0)
			resets++;
		usleep(50000);
	}
	close(fd);
	printf("probe: forged %llu connects and %llu pings from %s, %llu resets to it\n", (unsigned long long)connects,
	       (unsigned long long)pings, victim, (unsigned long long)resets);
	return 0;
}

/* The length of the first datagram that comes back on fd within ms (0: none). */
static ssize_t reply_len(int fd, int ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	uint8_t b[2048];
	if (poll(&pfd, 1, ms) <= 0)
		return 0;
	return recv(fd, b, sizeof(b), 0);
}

static int smallreset(const char *server)
{
	ENetAddress srv;
	if (parse_addr(server, &srv) < 0)
		return 2;
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(srv.port), .sin_addr.s_addr = srv.host};
	/* two sockets: the daemon resets one address and port at most every 250 ms */
	int a = socket(AF_INET, SOCK_DGRAM, 0), b8 = socket(AF_INET, SOCK_DGRAM, 0);
	uint8_t four[4] = {0x00, 0x05, 0x12, 0x34};                         /* peer 5, nothing else */
	uint8_t eight[8] = {0x80, 0x05, 0x12, 0x34, ES_ENET_CMD_PING | ES_ENET_CMD_FLAG_ACKNOWLEDGE, 0xFF, 0, 1}; /* peer 5: a ping */
	sendto(a, four, sizeof(four), 0, (struct sockaddr *)&dst, sizeof(dst));
	sendto(b8, eight, sizeof(eight), 0, (struct sockaddr *)&dst, sizeof(dst));
	ssize_t r4 = reply_len(a, 500), r8 = reply_len(b8, 500);
	printf("probe: a 4-byte datagram drew %zd bytes, an 8-byte one %zd bytes\n", r4, r8);
	/* a CONNECT with a cookie that is not one, from a third socket */
	int c = socket(AF_INET, SOCK_DGRAM, 0);
	uint8_t con[64];
	size_t cn = connect_shaped(con, 0x12345678);
	sendto(c, con, cn, 0, (struct sockaddr *)&dst, sizeof(dst));
	printf("probe: a CONNECT with a bad cookie drew %zd bytes\n", reply_len(c, 500));
	close(a);
	close(b8);
	close(c);
	/*
	 * A member's own slot, from its own address and port, but for another
	 * session of that slot (what a client sends that missed a restart
	 * whose slot went to its own rejoin): the front door answers with a
	 * reset rather than leaving ENet to ignore it.
	 */
	char name[24];
	snprintf(name, sizeof(name), "stale-%04x", (unsigned)randombytes_uniform(65536));
	struct probe *p = probe_new(server, NULL, 1);
	if (!p || join(p, name) < 0) {
		printf("probe: could not join\n");
		return 1;
	}
	struct es_enet_header h = {.peer_id = p->peer->outgoingPeerID, .session = (p->peer->outgoingSessionID + 1) & 3,
				   .sent_time = true, .sent_time_ms = 0x1234};
	uint8_t ping[8] = {[4] = ES_ENET_CMD_PING | ES_ENET_CMD_FLAG_ACKNOWLEDGE, 0xFF, 0, 1};
	if (es_enet_header_write(&h, ping, sizeof(ping)) != 4)
		return 1;
	ENetBuffer eb = {.data = ping, .dataLength = sizeof(ping)};
	enet_socket_send(p->host->socket, &p->addr, &eb, 1);
	for (int64_t end = now_ms() + 1000; now_ms() < end && !p->resets;)
		drain(p), usleep(5000);
	printf("probe: a ping for our slot's other session drew %u resets\n", p->resets);
	return 0;
}

static int cookies(const char *server, double seconds, double per_s)
{
	ENetAddress srv;
	if (parse_addr(server, &srv) < 0 || seconds <= 0 || seconds > 60 || per_s <= 0 || per_s > 50000)
		return 2;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(srv.port), .sin_addr.s_addr = srv.host};
	uint8_t req[ES_COOKIE_REQUEST_LEN], nonce[ES_COOKIE_NONCE_LEN] = {0}, buf[64];
	uint64_t sent = 0, answered = 0;
	int64_t start = now_ms(), end = start + (int64_t)(seconds * 1000);
	while (now_ms() < end) {
		double t = (double)(now_ms() - start) / 1000.0;
		while ((double)sent < t * per_s) {
			if (es_cookie_request_build(nonce, req, sizeof(req)) > 0 &&
			    sendto(fd, req, sizeof(req), 0, (struct sockaddr *)&dst, sizeof(dst)) > 0)
				sent++;
		}
		while (recv(fd, buf, sizeof(buf), 0) > 0)
			answered++;
		usleep(2000);
	}
	printf("probe: %llu cookie requests, %llu answered\n", (unsigned long long)sent, (unsigned long long)answered);
	close(fd);
	return 0;
}

/* ---- handshakes from two addresses ---- */

static int handshakes(const char *server, const char *a, const char *b, int per_addr, int batch)
{
	if (per_addr < 1 || per_addr > 2000 || batch < 1 || batch > 50)
		return 2;
	const char *src[2] = {a, b};
	struct probe *ps[2];
	for (int k = 0; k < 2; k++) {
		if (!(ps[k] = probe_new(server, src[k], (size_t)batch))) {
			printf("probe: cannot bind %s (loopback only)\n", src[k]);
			return 1;
		}
		/* one cookie per socket: it binds the address and port, not the peer */
		ps[k]->peer = NULL;
		uint8_t req[ES_COOKIE_REQUEST_LEN];
		randombytes_buf(ps[k]->nonce, sizeof(ps[k]->nonce));
		int n = es_cookie_request_build(ps[k]->nonce, req, sizeof(req));
		ENetBuffer eb = {.data = req, .dataLength = (size_t)n};
		enet_socket_send(ps[k]->host->socket, &ps[k]->addr, &eb, 1);
		ENetEvent ev;
		int64_t end = now_ms() + 2000;
		while (!ps[k]->have_cookie && now_ms() < end)
			enet_host_service(ps[k]->host, &ev, 10);
		if (!ps[k]->have_cookie) {
			printf("probe: no cookie for %s\n", src[k]);
			return 1;
		}
	}
	int sent[2] = {0}, rate[2] = {0}, other[2] = {0}, lost[2] = {0};
	int64_t t0 = now_ms();
	uint8_t junk[ES_NOISE_MSG1_MIN + 8], out[ES_NOISE_MSG1_MIN + 16];
	while (sent[0] < per_addr || sent[1] < per_addr) {
		for (int k = 0; k < 2; k++) {
			struct probe *p = ps[k];
			int want = per_addr - sent[k] < batch ? per_addr - sent[k] : batch;
			ENetPeer *peer[50];
			bool answered[50] = {0};
			for (int i = 0; i < want; i++)
				peer[i] = enet_host_connect(p->host, &p->addr, ES_CHAN_COUNT, p->cookie);
			int connected = 0, done = 0;
			int64_t end = now_ms() + 3000;
			ENetEvent ev;
			while (done < want && now_ms() < end) {
				if (enet_host_service(p->host, &ev, 5) <= 0)
					continue;
				int i = 0;
				while (i < want && peer[i] != ev.peer)
					i++;
				if (i == want)
					continue;
				if (ev.type == ENET_EVENT_TYPE_CONNECT) {
					connected++;
				} else if (ev.type == ENET_EVENT_TYPE_RECEIVE) {
					struct es_msg m;
					int dr = es_msg_decode(&m, ev.packet->data, ev.packet->dataLength);
					if (dr > 0 && m.type == ES_MSG_SERVER_KEY) {
						/* as a client does: message 1 once the server has said its key */
						randombytes_buf(junk, sizeof(junk));
						struct es_msg h1 = {.type = ES_MSG_HANDSHAKE1, .u.blob = {sizeof(junk), junk}};
						int on = es_msg_encode(&h1, out, sizeof(out));
						ENetPacket *pk = enet_packet_create(out, (size_t)on, ENET_PACKET_FLAG_RELIABLE);
						enet_peer_send(ev.peer, ES_CHAN_CONTROL, pk);
						enet_host_flush(p->host);
					} else if (!answered[i] && dr > 0 && m.type == ES_MSG_REFUSED) {
						answered[i] = true;
						done++;
						if (m.u.refused.reason == ES_REFUSED_RATE)
							rate[k]++;
						else
							other[k]++;
					}
					enet_packet_destroy(ev.packet);
				} else if (ev.type == ENET_EVENT_TYPE_DISCONNECT && !answered[i]) {
					answered[i] = true;
					done++;
					lost[k]++;
				}
			}
			for (int i = 0; i < want; i++) {
				if (!answered[i])
					lost[k]++;
				/* tell the daemon, or these hold its per-address peer slots until they time out */
				enet_peer_disconnect_now(peer[i], 0);
			}
			sent[k] += want;
			(void)connected;
		}
	}
	printf("probe: handshakes in %lld ms: from %s %d, %d refused for rate, %d otherwise, %d unanswered; "
	       "from %s %d, %d refused for rate, %d otherwise, %d unanswered\n",
	       (long long)(now_ms() - t0), a, sent[0], rate[0], other[0], lost[0], b, sent[1], rate[1], other[1], lost[1]);
	return 0;
}

/* ---- a member's costly requests ---- */

static int send_sealed(struct probe *p, const struct es_msg *m)
{
	uint8_t out[ES_MSG_MAX + 64];
	int n = es_envelope_seal_msg(&p->tx, m, out, sizeof(out));
	if (n < 0)
		return n;
	ENetPacket *pk = enet_packet_create(out, (size_t)n, ENET_PACKET_FLAG_RELIABLE);
	return pk && enet_peer_send(p->peer, ES_CHAN_CONTROL, pk) == 0 ? 0 : -1;
}

struct rx_counts {
	uint64_t msgs, bytes, floor_bytes, floor_total;
	char *floor_text;
};

static void receive(struct probe *p, struct rx_counts *rc, int ms)
{
	ENetEvent ev;
	int64_t end = now_ms() + ms;
	while (now_ms() < end) {
		if (enet_host_service(p->host, &ev, 5) <= 0 || ev.type != ENET_EVENT_TYPE_RECEIVE)
			continue;
		struct es_msg m;
		uint8_t plain[ES_MSG_MAX];
		rc->msgs++;
		rc->bytes += ev.packet->dataLength;
		int n = es_envelope_open(&p->rx, ev.packet->data, ev.packet->dataLength, plain, sizeof(plain));
		if (n > 0 && es_msg_decode(&m, plain, (size_t)n) > 0 && m.type == ES_MSG_FLOOR) {
			rc->floor_bytes += m.u.floor.len;
			if (!rc->floor_text && m.u.floor.offset == 0 && m.u.floor.total <= ES_FLOOR_TEXT_MAX) {
				rc->floor_text = calloc(1, m.u.floor.total + 1);
				rc->floor_total = m.u.floor.total;
			}
			if (rc->floor_text && m.u.floor.total == rc->floor_total)
				memcpy(rc->floor_text + m.u.floor.offset, m.u.floor.data, m.u.floor.len);
		}
		enet_packet_destroy(ev.packet);
	}
}

static int requests(const char *server)
{
	struct probe *p = probe_new(server, NULL, 1);
	if (!p || join(p, "greedy") < 0)
		return 1;
	struct rx_counts rc = {0};
	struct es_msg get = {.type = ES_MSG_FLOOR_GET};
	send_sealed(p, &get);
	enet_host_flush(p->host);
	receive(p, &rc, 1500);
	if (!rc.floor_text || rc.floor_bytes < rc.floor_total) {
		printf("probe: no floor plan came (%llu bytes)\n", (unsigned long long)rc.floor_bytes);
		return 1;
	}
	struct es_floor_error fe;
	struct es_floor *f = es_floor_parse(rc.floor_text, rc.floor_total, &fe);
	float dx, dy;
	unsigned room;
	if (!f || es_floor_door_count(f) == 0 || es_floor_door(f, 0, &dx, &dy, &room) < 0) {
		printf("probe: the floor has no door to play with\n");
		return 1;
	}
	/* stand on the door, within reach of it */
	struct es_msg mv = {.type = ES_MSG_MOVE, .u.move = {(int32_t)lrintf(dx * 100), (int32_t)lrintf(dy * 100), 0}};
	send_sealed(p, &mv);
	receive(p, &rc, 300);
	uint64_t plan = rc.floor_total;
	rc.floor_bytes = 0;
	rc.msgs = rc.bytes = 0;
	int64_t t0 = now_ms();
	uint64_t sent = 0;
	for (int i = 0; i < 20000; i++) {
		send_sealed(p, &get);
		sent++;
		if (i < 2000) {
			struct es_door_state ds = {0, (uint8_t)(i & 1)};
			struct es_msg dm = {.type = ES_MSG_DOORS, .u.doors = {1, &ds, NULL}};
			struct es_msg m2 = {.type = ES_MSG_MOVE, .u.move = {mv.u.move.x_cm, mv.u.move.y_cm, (uint16_t)(i % 3600)}};
			struct es_msg st = {.type = ES_MSG_STATE, .u.state.flags = (uint8_t)(i & 1 ? ES_PF_FOCUS : 0)};
			struct es_msg kn = {.type = ES_MSG_KNOCK, .u.knock = {(uint16_t)room, 0}};
			struct es_msg wh = {.type = ES_MSG_WHISPER, .u.whisper = {-1, 0}};
			struct es_msg vo = {.type = ES_MSG_VOLUME, .u.volume = {(uint16_t)(p->my_id + 1), (uint16_t)(4096 + i)}};
			send_sealed(p, &dm), send_sealed(p, &m2), send_sealed(p, &st), send_sealed(p, &kn);
			send_sealed(p, &wh), send_sealed(p, &vo);
			sent += 6;
		}
		if (i % 200 == 0)
			drain(p); /* let ENet send what queued (its window) */
	}
	receive(p, &rc, 4000);
	printf("probe: %llu requests sent in %lld ms; got back %llu messages, %llu bytes, %llu bytes of floor plan "
	       "(the plan is %llu bytes)\n",
	       (unsigned long long)sent, (long long)(now_ms() - t0), (unsigned long long)rc.msgs,
	       (unsigned long long)rc.bytes, (unsigned long long)rc.floor_bytes, (unsigned long long)plan);
	es_floor_free(f);
	free(rc.floor_text);
	enet_peer_disconnect_now(p->peer, 0);
	enet_host_flush(p->host);
	return 0;
}

/* ---- names ---- */

static int names(const char *server)
{
	static const struct {
		const char *what;
		const char *bytes;
	} bad[] = {
		{"a C1 control (CSI, U+009B)", "eve\xc2\x9b" "31m"},
		{"a C1 control (U+0085)", "eve\xc2\x85x"},
		{"invalid UTF-8 (a lone 0xff)", "eve\xff"},
		{"invalid UTF-8 (an overlong '/')", "eve\xc0\xaf"},
		{"a right-to-left override (U+202E)", "eve\xe2\x80\xae" "gpj.exe"},
		{"a right-to-left isolate (U+2067)", "eve\xe2\x81\xa7x"},
		{"a line separator (U+2028)", "eve\xe2\x80\xa8x"},
	};
	int joined = 0;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct probe *p = probe_new(server, NULL, 1);
		if (!p)
			return 1;
		int r = join_raw(p, (const uint8_t *)bad[i].bytes, strlen(bad[i].bytes), 0, (struct es_pos){0, 0, 0});
		printf("probe: a name with %s: %s", bad[i].what, r == 0 ? "JOINED" : r > 0 ? "refused" : "no answer");
		if (r > 0)
			printf(" (reason %d)", r);
		printf("\n");
		joined += r == 0;
		if (r == 0) {
			enet_peer_disconnect_now(p->peer, 0);
			enet_host_flush(p->host);
		}
	}
	struct probe *p = probe_new(server, NULL, 1);
	const char *good = "Zo\xc3\xab \xe6\x9d\x8e"; /* "Zoë 李" */
	int r = p ? join_raw(p, (const uint8_t *)good, strlen(good), 0, (struct es_pos){0, 0, 0}) : -1;
	printf("probe: a good non-ASCII name: %s\n", r == 0 ? "joined" : "NOT JOINED");
	if (r == 0) {
		enet_peer_disconnect_now(p->peer, 0);
		enet_host_flush(p->host);
	}
	printf("probe: %d bad names joined\n", joined);
	return 0;
}

/* ---- presence as one person sees it ---- */

static int watch(const char *server, double seconds, const char *at, const char *name)
{
	double x, y;
	if (sscanf(at, "%lf,%lf", &x, &y) != 2 || seconds <= 0 || seconds > 60)
		return 2;
	struct probe *p = probe_new(server, NULL, 1);
	if (!p)
		return 1;
	int r = join_raw(p, (const uint8_t *)name, strlen(name), ES_PF_ROSTER | ES_PF_PLACE,
			 (struct es_pos){(int32_t)lrint(x * 100), (int32_t)lrint(y * 100), 0});
	if (r != 0) {
		printf("probe: watcher could not join (%d)\n", r);
		return 1;
	}
	printf("probe: watching as #%d from %.2f,%.2f\n", p->my_id, x, y);
	int64_t t0 = now_ms(), end = t0 + (int64_t)(seconds * 1000);
	ENetEvent ev;
	while (now_ms() < end) {
		if (enet_host_service(p->host, &ev, 10) <= 0 || ev.type != ENET_EVENT_TYPE_RECEIVE)
			continue;
		struct es_msg m;
		uint8_t plain[ES_MSG_MAX];
		int n = es_envelope_open(&p->rx, ev.packet->data, ev.packet->dataLength, plain, sizeof(plain));
		if (n > 0 && es_msg_decode(&m, plain, (size_t)n) > 0 && m.type == ES_MSG_PRESENCE)
			for (unsigned i = 0; i < m.u.presence.count; i++) {
				const struct es_presence_entry *e = &m.u.presence.entry[i];
				printf("presence t=%lld id=%u kind=%u flags=%u name=%.*s\n", (long long)(now_ms() - t0),
				       e->id, e->kind, e->flags, e->kind == ES_PRESENCE_JOIN ? e->name_len : 1,
				       e->kind == ES_PRESENCE_JOIN ? e->name : "-");
			}
		enet_packet_destroy(ev.packet);
	}
	enet_peer_disconnect_now(p->peer, 0);
	enet_host_flush(p->host);
	return 0;
}

/* ---- a server that never proves its key ---- */

static int ENET_CALLBACK fake_intercept(ENetHost *host, ENetEvent *ev)
{
	(void)ev;
	uint8_t nonce[ES_COOKIE_NONCE_LEN], reply[ES_COOKIE_REPLY_LEN];
	if (!es_cookie_is_raw(host->receivedData, host->receivedDataLength))
		return 0;
	if (es_cookie_request_parse(host->receivedData, host->receivedDataLength, nonce) == 0) {
		int n = es_cookie_reply_build(nonce, 0, reply, sizeof(reply));
		ENetBuffer b = {.data = reply, .dataLength = (size_t)n};
		enet_socket_send(host->socket, &host->receivedAddress, &b, 1);
	}
	return 1;
}

static int fakeserver(int port, const char *mode, double seconds)
{
	bool busy = strcmp(mode, "busy") == 0;
	if ((!busy && strcmp(mode, "refused") != 0) || port <= 0 || port > 65535 || seconds <= 0 || seconds > 60)
		return 2;
	ENetAddress a = {.port = (enet_uint16)port};
	enet_address_set_host_ip(&a, "127.0.0.1");
	ENetHost *h = enet_host_create(&a, 8, ES_CHAN_COUNT, 0, 0);
	if (!h)
		return 1;
	h->intercept = fake_intercept;
	printf("fake: listening\n");
	int connects = 0;
	int64_t t0 = now_ms(), end = t0 + (int64_t)(seconds * 1000);
	ENetEvent ev;
	while (now_ms() < end) {
		if (enet_host_service(h, &ev, 10) <= 0)
			continue;
		if (ev.type == ENET_EVENT_TYPE_CONNECT) {
			connects++;
			printf("fake: connect %d at %lld ms\n", connects, (long long)(now_ms() - t0));
			struct es_msg m = {.type = busy ? ES_MSG_BUSY : ES_MSG_REFUSED};
			if (busy)
				m.u.busy.retry_after_ms = UINT32_MAX; /* 49.7 days */
			else
				m.u.refused.reason = ES_REFUSED_UNKNOWN_KEY;
			uint8_t out[16];
			int n = es_msg_encode(&m, out, sizeof(out));
			enet_peer_send(ev.peer, ES_CHAN_CONTROL, enet_packet_create(out, (size_t)n, ENET_PACKET_FLAG_RELIABLE));
			enet_peer_disconnect_later(ev.peer, 0);
		} else if (ev.type == ENET_EVENT_TYPE_RECEIVE)
			enet_packet_destroy(ev.packet);
	}
	printf("fake: %d connects\n", connects);
	enet_host_destroy(h);
	return 0;
}

/* ---- a company daemon that sends everyone elsewhere ---- */

static int redirector(int port, const char *keyfile, double seconds, const char *at, const char *addrs)
{
	char hex[80] = "";
	uint8_t priv[32];
	FILE *f = fopen(keyfile, "r");
	if (!f || !fgets(hex, sizeof(hex), f) || sodium_hex2bin(priv, 32, hex, strlen(hex), "\n", NULL, NULL) != 0) {
		fprintf(stderr, "redirector: cannot read a key from %s\n", keyfile);
		if (f)
			fclose(f);
		return 2;
	}
	fclose(f);
	struct es_keypair kp;
	double x, y;
	char *end;
	x = strtod(at, &end);
	if (es_noise_keypair_from_private(&kp, priv) < 0 || *end != ',' || port <= 0 || port > 65535 || seconds <= 0 ||
	    seconds > 120)
		return 2;
	y = strtod(end + 1, &end);
	struct es_msg rd = {.type = ES_MSG_REDIRECT};
	rd.u.redirect.reason = ES_REDIRECT_ELSEWHERE;
	rd.u.redirect.pos = (struct es_pos){(int32_t)lround(x * 100), (int32_t)lround(y * 100), 0};
	for (const char *p = addrs; *p && rd.u.redirect.naddr < ES_REDIRECT_ADDRS_MAX;) {
		size_t n = strcspn(p, ",");
		if (n == 0 || n > ES_REDIRECT_ADDR_MAX)
			return 2;
		memcpy(rd.u.redirect.addr[rd.u.redirect.naddr++], p, n);
		p += n + (p[n] == ',');
	}
	uint8_t payload[ES_NOISE_PAYLOAD_MAX];
	int pn = es_msg_encode(&rd, payload, sizeof(payload));
	if (pn < 0) {
		fprintf(stderr, "redirector: the REDIRECT does not fit in message 2 (%d)\n", pn);
		return 2;
	}
	ENetAddress a = {.port = (enet_uint16)port};
	enet_address_set_host_ip(&a, "127.0.0.1");
	ENetHost *h = enet_host_create(&a, 8, ES_CHAN_COUNT, 0, 0);
	if (!h)
		return 1;
	h->intercept = fake_intercept;
	printf("redirector: listening\n");
	int handshakes = 0;
	int64_t t0 = now_ms(), end_ms = t0 + (int64_t)(seconds * 1000);
	ENetEvent ev;
	while (now_ms() < end_ms) {
		if (enet_host_service(h, &ev, 10) <= 0)
			continue;
		if (ev.type == ENET_EVENT_TYPE_CONNECT) {
			/* the company's key, as every daemon of it says first */
			struct es_msg k = {.type = ES_MSG_SERVER_KEY, .u.server_key.version = ES_PROTO_VERSION};
			memcpy(k.u.server_key.key, kp.pub, 32);
			uint8_t out[64];
			int n = es_msg_encode(&k, out, sizeof(out));
			enet_peer_send(ev.peer, ES_CHAN_CONTROL, enet_packet_create(out, (size_t)n, ENET_PACKET_FLAG_RELIABLE));
		} else if (ev.type == ENET_EVENT_TYPE_RECEIVE) {
			struct es_msg m;
			if (es_msg_decode(&m, ev.packet->data, ev.packet->dataLength) >= 0 && m.type == ES_MSG_HANDSHAKE1) {
				struct es_noise hs;
				uint8_t cpub[32], ts[ES_TAI64N_LEN], in[ES_NOISE_PAYLOAD_MAX], msg2[ES_NOISE_MSG2_MAX];
				int n = es_noise_responder_init(&hs, &kp, (const uint8_t *)ES_NOISE_PROLOGUE,
								sizeof(ES_NOISE_PROLOGUE) - 1);
				if (n >= 0)
					n = es_noise_read_msg1(&hs, m.u.blob.data, m.u.blob.len, cpub, ts, in, sizeof(in));
				if (n >= 0)
					n = es_noise_write_msg2(&hs, payload, (size_t)pn, msg2, sizeof(msg2));
				es_noise_clear(&hs);
				if (n >= 0) {
					struct es_msg r = {.type = ES_MSG_HANDSHAKE2, .u.blob = {(uint16_t)n, msg2}};
					uint8_t out[ES_NOISE_MSG2_MAX + 8];
					int k = es_msg_encode(&r, out, sizeof(out));
					if (k > 0)
						enet_peer_send(ev.peer, ES_CHAN_CONTROL,
							       enet_packet_create(out, (size_t)k, ENET_PACKET_FLAG_RELIABLE));
					/* as a daemon does after it: close once the reply is out */
					enet_peer_disconnect_later(ev.peer, 0);
					printf("redirector: handshake %d at %lld ms\n", ++handshakes, (long long)(now_ms() - t0));
				}
			}
			enet_packet_destroy(ev.packet);
		}
	}
	printf("redirector: %d handshakes\n", handshakes);
	es_keypair_clear(&kp);
	enet_host_destroy(h);
	return 0;
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0 || enet_initialize() != 0)
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && strcmp(argv[1], "inject") == 0)
		return inject(argv[2]);
	if (argc == 5 && strcmp(argv[1], "junk") == 0)
		return junk(argv[2], atof(argv[3]), atof(argv[4]));
	if (argc == 3 && strcmp(argv[1], "halfopen") == 0)
		return halfopen(argv[2]);
	if (argc == 6 && strcmp(argv[1], "flood") == 0)
		return flood(argv[2], atof(argv[3]), atof(argv[4]), atof(argv[5]));
	if ((argc == 6 || argc == 7) && strcmp(argv[1], "fragments") == 0)
		return fragments(argv[2], argv[3], atoi(argv[4]), atol(argv[5]), argc == 7 && strcmp(argv[6], "authed") == 0);
	if (argc == 5 && strcmp(argv[1], "spoof") == 0)
		return spoof(argv[2], argv[3], atof(argv[4]));
	if (argc == 3 && strcmp(argv[1], "smallreset") == 0)
		return smallreset(argv[2]);
	if (argc == 5 && strcmp(argv[1], "cookies") == 0)
		return cookies(argv[2], atof(argv[3]), atof(argv[4]));
	if (argc == 7 && strcmp(argv[1], "handshakes") == 0)
		return handshakes(argv[2], argv[3], argv[4], atoi(argv[5]), atoi(argv[6]));
	if (argc == 3 && strcmp(argv[1], "requests") == 0)
		return requests(argv[2]);
	if (argc == 3 && strcmp(argv[1], "names") == 0)
		return names(argv[2]);
	if (argc == 6 && strcmp(argv[1], "watch") == 0)
		return watch(argv[2], atof(argv[3]), argv[4], argv[5]);
	if (argc == 7 && strcmp(argv[1], "redirector") == 0)
		return redirector(atoi(argv[2]), argv[3], atof(argv[4]), argv[5], argv[6]);
	if (argc == 5 && strcmp(argv[1], "fakeserver") == 0)
		return fakeserver(atoi(argv[2]), argv[3], atof(argv[4]));
	fprintf(stderr, "usage: es-probe inject|halfopen|junk|flood|fragments|spoof|smallreset|cookies|handshakes|"
			"requests|names|watch|fakeserver|redirector ... (see the top of es-probe.c)\n");
	return 2;
}
