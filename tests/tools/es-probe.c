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
 */
#include <arpa/inet.h>
#include <errno.h>
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
};

static struct probe *the_probe;

static int ENET_CALLBACK probe_intercept(ENetHost *host, ENetEvent *ev)
{
	(void)ev;
	struct probe *p = the_probe;
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

/* Seal m with c into out; returns the length. */
static int seal(struct es_cipher *c, const struct es_msg *m, uint8_t *out, size_t cap)
{
	uint8_t plain[ES_MSG_MAX];
	int n = es_msg_encode(m, plain, sizeof(plain));
	if (n < 0)
		return n;
	static const uint8_t ad = ES_MSG_SEALED;
	out[0] = ES_MSG_SEALED;
	int k = es_cipher_seal(c, &ad, 1, plain, (size_t)n, out + 1, cap - 1);
	return k < 0 ? k : k + 1;
}

static int join(struct probe *p, const char *name)
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
	if (wait_event(p, &ev, 2000) <= 0 || ev.type != ENET_EVENT_TYPE_CONNECT) {
		fprintf(stderr, "probe: no connect\n");
		return -1;
	}
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
	struct es_join_payload jp = {.hello = {ES_PROTO_VERSION, ES_PF_ROSTER, {0, 0, 0}, (uint8_t)strlen(name), name}};
	uint8_t payload[ES_NOISE_PAYLOAD_MAX], msg1[ES_NOISE_MSG1_MAX], ts[ES_TAI64N_LEN];
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	es_timestamp_make(ts, (uint64_t)rt.tv_sec, (uint32_t)rt.tv_nsec);
	int pn = es_join_payload_encode(&jp, payload, sizeof(payload));
	if (pn < 0 || es_noise_initiator_init(&p->hs, &p->id, server_pub, (const uint8_t *)ES_NOISE_PROLOGUE,
					      sizeof(ES_NOISE_PROLOGUE) - 1) < 0)
		return -1;
	n = es_noise_write_msg1(&p->hs, ts, payload, (size_t)pn, msg1, sizeof(msg1));
	uint8_t out[ES_MSG_MAX];
	struct es_msg h1 = {.type = ES_MSG_HANDSHAKE1, .u.blob = {(uint16_t)n, msg1}};
	int on = es_msg_encode(&h1, out, sizeof(out));
	if (n < 0 || on < 0 || send_raw(p, out, (size_t)on, false) < 0)
		return -1;
	if (wait_event(p, &ev, 3000) <= 0 || ev.type != ENET_EVENT_TYPE_RECEIVE ||
	    es_msg_decode(&m, ev.packet->data, ev.packet->dataLength) < 0 || m.type != ES_MSG_HANDSHAKE2) {
		fprintf(stderr, "probe: no handshake reply\n");
		return -1;
	}
	uint8_t w[ES_NOISE_PAYLOAD_MAX];
	n = es_noise_read_msg2(&p->hs, m.u.blob.data, m.u.blob.len, w, sizeof(w));
	enet_packet_destroy(ev.packet);
	struct es_msg wm;
	if (n < 0 || es_msg_decode(&wm, w, (size_t)n) < 0 || wm.type != ES_MSG_WELCOME ||
	    es_noise_split(&p->hs, &p->tx, &p->rx) < 0) {
		fprintf(stderr, "probe: handshake failed\n");
		return -1;
	}
	p->my_id = wm.u.welcome.id;
	return 0;
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
		if (es_msg_decode(&m, ev.packet->data, ev.packet->dataLength) > 0 && m.type == ES_MSG_SEALED) {
			static const uint8_t ad = ES_MSG_SEALED;
			int n = es_cipher_open(&p->rx, &ad, 1, m.u.blob.data, m.u.blob.len, plain, sizeof(plain));
			if (n > 0 && es_msg_decode(&m, plain, (size_t)n) > 0 && m.type == ES_MSG_PRESENCE)
				for (unsigned i = 0; i < m.u.presence.count; i++)
					hit |= m.u.presence.entry[i].id == p->my_id && m.u.presence.entry[i].pos.x_cm == x_cm;
		}
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
	int n = seal(with, &mv, out, sizeof(out));
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
	int tn = seal(&p.tx, &mv, t, sizeof(t));
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
	static const uint8_t ad = ES_MSG_SEALED;
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
				out[0] = ES_MSG_SEALED;
				int k = es_cipher_seal(&p.tx, &ad, 1, buf, n, out + 1, sizeof(out) - 1);
				if (k > 0)
					send_raw(&p, out, (size_t)k + 1, true);
				sealed_bad++;
				break;
			}
			default: { /* sealed, a real type with lying lengths */
				uint8_t in[8] = {ES_MSG_AUDIO_UP, 1, 2, 3, 4, 0, 0xFF, 0xFF};
				if (sent % 2)
					in[0] = ES_MSG_DOORS, in[1] = 0xFF, in[2] = 0xFF;
				out[0] = ES_MSG_SEALED;
				int k = es_cipher_seal(&p.tx, &ad, 1, in, sizeof(in), out + 1, sizeof(out) - 1);
				if (k > 0)
					send_raw(&p, out, (size_t)k + 1, true);
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
	size_t o = 0;
	uint16_t peer = 0xFFF | 0x8000; /* ENET_PROTOCOL_HEADER_FLAG_SENT_TIME */
	b[o++] = (uint8_t)(peer >> 8), b[o++] = (uint8_t)peer;
	b[o++] = 0x12, b[o++] = 0x34; /* sent time */
	b[o++] = 2 | 0x80;             /* CONNECT | ACKNOWLEDGE */
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
	fprintf(stderr, "usage: es-probe inject ADDR:PORT | flood ADDR:PORT SECONDS CONNECTS/S GARBAGE/S\n");
	return 2;
}
