/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <arpa/inet.h>
#include <enet/enet.h>
#include <sodium.h>

#include "earshot-crypto.h"
#include "earshot-proto.h"
#include "test.h"

/* The constants in cookie.c mirror ENet's packed structs. */
_Static_assert(sizeof(ENetProtocolConnect) == 48, "ENetProtocolConnect size");
_Static_assert(offsetof(ENetProtocolConnect, data) == 44, "ENetProtocolConnect.data offset");
_Static_assert(ENET_PROTOCOL_HEADER_FLAG_COMPRESSED == 1 << 14, "compressed flag");
_Static_assert(ENET_PROTOCOL_HEADER_FLAG_SENT_TIME == 1 << 15, "sent-time flag");
/* ... and so do the walker's command sizes (ENet's commandSizes[]) */
_Static_assert(sizeof(ENetProtocolAcknowledge) == 8, "ack");
_Static_assert(sizeof(ENetProtocolVerifyConnect) == 44, "verify connect");
_Static_assert(sizeof(ENetProtocolDisconnect) == 8, "disconnect");
_Static_assert(sizeof(ENetProtocolPing) == 4, "ping");
_Static_assert(sizeof(ENetProtocolSendReliable) == 6, "send reliable");
_Static_assert(sizeof(ENetProtocolSendUnreliable) == 8, "send unreliable");
_Static_assert(sizeof(ENetProtocolSendUnsequenced) == 8, "send unsequenced");
_Static_assert(sizeof(ENetProtocolSendFragment) == 24, "send fragment");
_Static_assert(sizeof(ENetProtocolBandwidthLimit) == 12, "bandwidth limit");
_Static_assert(sizeof(ENetProtocolThrottleConfigure) == 16, "throttle configure");
_Static_assert((int)ENET_PROTOCOL_COMMAND_SEND_UNRELIABLE_FRAGMENT == (int)ES_ENET_CMD_SEND_UNRELIABLE_FRAGMENT, "numbers");
_Static_assert((int)ENET_PROTOCOL_COMMAND_COUNT == (int)ES_ENET_CMD__COUNT, "command count");

/*
 * Captured from ENet 1.3.17 (Debian libenet 1.3.17): a client host's first
 * datagram after enet_host_connect(host, 127.0.0.1:port, 2, 0x12345678) and
 * enet_host_flush(), received on a plain UDP socket.  Header 0x8fff =
 * SENT_TIME | peer 0xFFF, sentTime, then the CONNECT command (0x82 =
 * CONNECT | ACKNOWLEDGE), data 0x12345678 in the last 4 bytes.
 */
static const uint8_t captured_connect[52] = {
	0x8f, 0xff, 0x8d, 0x71, 0x82, 0xff, 0x00, 0x01, 0x00, 0x00, 0xff, 0xff,
	0x00, 0x00, 0x05, 0x78, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x13, 0x88,
	0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x5d, 0x60, 0x38, 0xc6,
	0x12, 0x34, 0x56, 0x78,
};

/* Build a CONNECT datagram from protocol.h the way protocol.c does. */
static size_t build_connect(uint8_t *buf, bool sent_time, bool checksum, uint32_t data)
{
	size_t off = 0;
	uint16_t peer = ENET_PROTOCOL_MAXIMUM_PEER_ID | (sent_time ? ENET_PROTOCOL_HEADER_FLAG_SENT_TIME : 0);
	buf[off++] = (uint8_t)(peer >> 8);
	buf[off++] = (uint8_t)peer;
	if (sent_time) {
		buf[off++] = 0x12;
		buf[off++] = 0x34;
	}
	if (checksum) {
		memset(buf + off, 0xcc, 4);
		off += 4;
	}
	ENetProtocolConnect c;
	memset(&c, 0, sizeof(c));
	c.header.command = ENET_PROTOCOL_COMMAND_CONNECT | ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE;
	c.header.channelID = 0xFF;
	c.header.reliableSequenceNumber = htons(1);
	c.outgoingPeerID = htons(0);
	c.mtu = htonl(1400);
	c.channelCount = htonl(2);
	c.connectID = htonl(0xdeadbeef);
	c.data = htonl(data);
	memcpy(buf + off, &c, sizeof(c));
	return off + sizeof(c);
}

static void test_enet_parse(void)
{
	uint8_t buf[128];
	uint32_t data = 0;
	size_t n;

	check_int_eq(es_enet_connect_parse(captured_connect, sizeof(captured_connect), false, &data), 1);
	check_int_eq(data, 0x12345678);
	for (size_t len = 0; len < sizeof(captured_connect); len++)
		check_int_eq(es_enet_connect_parse(captured_connect, len, false, &data), -EBADMSG);

	for (int st = 0; st < 2; st++)
		for (int ck = 0; ck < 2; ck++) {
			n = build_connect(buf, st, ck, 0xa1b2c3d4);
			data = 0;
			check_int_eq(es_enet_connect_parse(buf, n, ck, &data), 1);
			check_int_eq(data, 0xa1b2c3d4);
			/* trailing commands after the CONNECT do not matter */
			memcpy(buf + n, "\x85\xff\x00\x02", 4); /* a PING */
			check_int_eq(es_enet_connect_parse(buf, n + 4, ck, &data), 1);
			check_int_eq(es_enet_connect_parse(buf, n - 1, ck, &data), -EBADMSG);
		}

	/* session bits in the header do not hide a CONNECT */
	n = build_connect(buf, true, false, 7);
	buf[0] |= 0x30;
	check_int_eq(es_enet_connect_parse(buf, n, false, &data), 1);
	check_int_eq(data, 7);

	/* compressed: refused outright */
	n = build_connect(buf, true, false, 7);
	buf[0] |= 0x40;
	check_int_eq(es_enet_connect_parse(buf, n, false, &data), -EBADMSG);

	/* a datagram for a connected peer (id 5) is not a CONNECT, even if
	 * its first command byte says CONNECT: ENet would refuse it there */
	n = build_connect(buf, true, false, 7);
	buf[0] = 0x80;
	buf[1] = 0x05;
	check_int_eq(es_enet_connect_parse(buf, n, false, &data), 0);

	/* peer 0xFFF with some other command first: ENet ignores it */
	n = build_connect(buf, true, false, 7);
	buf[4] = ENET_PROTOCOL_COMMAND_PING | ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE;
	check_int_eq(es_enet_connect_parse(buf, n, false, &data), 0);
	buf[4] = ENET_PROTOCOL_COMMAND_VERIFY_CONNECT | ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE;
	check_int_eq(es_enet_connect_parse(buf, n, false, &data), 0);

	/* header only, or nothing */
	check_int_eq(es_enet_connect_parse(buf, 0, false, &data), -EBADMSG);
	check_int_eq(es_enet_connect_parse(buf, 1, false, &data), -EBADMSG);
	check_int_eq(es_enet_connect_parse(buf, 4, false, &data), -EBADMSG);

	/* our raw datagrams can never pass for ENet: they parse as compressed */
	uint8_t req[ES_COOKIE_REQUEST_LEN], nonce[8] = {0};
	check_int_eq(es_cookie_request_build(nonce, req, sizeof(req)), ES_COOKIE_REQUEST_LEN);
	check_int_eq(es_enet_connect_parse(req, sizeof(req), false, &data), -EBADMSG);
	check(!es_cookie_is_raw(captured_connect, sizeof(captured_connect)));
}

static void test_raw(void)
{
	uint8_t nonce[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, got[8], req[128], rep[64];
	uint32_t cookie = 0;

	check_int_eq(es_cookie_request_build(nonce, req, ES_COOKIE_REQUEST_LEN - 1), -ENOSPC);
	int n = es_cookie_request_build(nonce, req, sizeof(req));
	check_int_eq(n, ES_COOKIE_REQUEST_LEN);
	check(es_cookie_is_raw(req, (size_t)n));
	check_int_eq(es_cookie_request_parse(req, (size_t)n, got), 0);
	check(memcmp(got, nonce, 8) == 0);
	check_int_eq(es_cookie_request_parse(req, (size_t)n - 1, got), -EBADMSG);
	req[n] = 0;
	check_int_eq(es_cookie_request_parse(req, (size_t)n + 1, got), -EBADMSG);
	for (int i = 0; i < n; i++) {
		if (i >= 6 && i < 14)
			continue; /* nonce bytes: any value is valid */
		req[i] ^= 0x20;
		check_int_eq(es_cookie_request_parse(req, (size_t)n, got), -EBADMSG);
		req[i] ^= 0x20;
	}

	int m = es_cookie_reply_build(nonce, 0xcafef00d, rep, sizeof(rep));
	check_int_eq(m, ES_COOKIE_REPLY_LEN);
	check(m < n); /* no amplification */
	check_int_eq(es_cookie_reply_parse(rep, (size_t)m, nonce, &cookie), 0);
	check_int_eq(cookie, 0xcafef00d);
	/* a reply to someone else's request, or a request taken as reply */
	uint8_t other[8] = { 9 };
	check_int_eq(es_cookie_reply_parse(rep, (size_t)m, other, &cookie), -EBADMSG);
	check_int_eq(es_cookie_reply_parse(req, ES_COOKIE_REPLY_LEN, nonce, &cookie), -EBADMSG);
	check_int_eq(es_cookie_request_parse(rep, (size_t)m, got), -EBADMSG);
	check_int_eq(es_cookie_reply_parse(rep, (size_t)m - 1, nonce, &cookie), -EBADMSG);
	check_int_eq(es_cookie_reply_build(nonce, 1, rep, ES_COOKIE_REPLY_LEN - 1), -ENOSPC);
}

static void test_cookie(void)
{
	uint8_t secret[32], secret2[32];
	uint32_t ip = htonl(0xc0a80105); /* 192.168.1.5 as in ENetAddress */
	uint16_t port = 40000;
	uint64_t slot = es_cookie_slot(1764180000);

	randombytes_buf(secret, sizeof(secret));
	memcpy(secret2, secret, 32);
	secret2[0] ^= 1;
	uint32_t c = es_cookie_make(secret, ip, port, slot);
	check_int_eq(es_cookie_make(secret, ip, port, slot), c); /* deterministic */
	check_int_eq(es_cookie_check(secret, ip, port, slot, c), 0);
	check_int_eq(es_cookie_check(secret, ip, port, slot + 1, c), 0);  /* previous slot */
	check_int_eq(es_cookie_check(secret, ip, port, slot + 2, c), -EACCES); /* expired */
	check_int_eq(es_cookie_check(secret, ip, port, slot - 1, c), -EACCES); /* future */
	check_int_eq(es_cookie_check(secret, ip ^ htonl(1), port, slot, c), -EACCES);
	check_int_eq(es_cookie_check(secret, ip, port + 1, slot, c), -EACCES);
	check_int_eq(es_cookie_check(secret2, ip, port, slot, c), -EACCES);
	check_int_eq(es_cookie_check(secret, ip, port, slot, c ^ 0x80000000u), -EACCES);
	check_int_eq(es_cookie_check(secret, ip, port, slot, 0), c == 0 ? 0 : -EACCES);

	/* end to end: the cookie travels as CONNECT data */
	uint8_t buf[128];
	uint32_t data;
	size_t n = build_connect(buf, true, false, c);
	check_int_eq(es_enet_connect_parse(buf, n, false, &data), 1);
	check_int_eq(es_cookie_check(secret, ip, port, slot, data), 0);
	check_int_eq(es_enet_connect_parse(captured_connect, sizeof(captured_connect), false, &data), 1);
	check_int_eq(es_cookie_check(secret, ip, port, slot, data), data == c ? 0 : -EACCES);
	check(es_cookie_slot(29) == 0 && es_cookie_slot(30) == 1);
}

/* The commands of a datagram for a peer, exactly as far as ENet reads them. */
static void test_enet_walk(void)
{
	uint8_t b[256];
	size_t o = 0;
	b[o++] = 0x80 | 0x10, b[o++] = 0x05; /* sent time, session 1, peer 5 */
	b[o++] = 0x12, b[o++] = 0x34;
	ENetProtocolAcknowledge ack = {.header = {ENET_PROTOCOL_COMMAND_ACKNOWLEDGE, 0xFF, htons(1)}};
	memcpy(b + o, &ack, sizeof(ack)), o += sizeof(ack);
	ENetProtocolSendReliable rel = {.header = {ENET_PROTOCOL_COMMAND_SEND_RELIABLE | 0x80, 0, htons(7)},
					.dataLength = htons(3)};
	memcpy(b + o, &rel, sizeof(rel)), o += sizeof(rel);
	memcpy(b + o, "abc", 3), o += 3;
	ENetProtocolSendFragment fr = {.header = {ENET_PROTOCOL_COMMAND_SEND_FRAGMENT | 0x80, 1, htons(9)},
				       .startSequenceNumber = htons(8), .dataLength = htons(2),
				       .fragmentCount = htonl(3), .fragmentNumber = htonl(1),
				       .totalLength = htonl(1000), .fragmentOffset = htonl(500)};
	memcpy(b + o, &fr, sizeof(fr)), o += sizeof(fr);
	b[o++] = 1, b[o++] = 2;
	size_t full = o;

	struct es_enet_walk w;
	struct es_enet_cmd c;
	check_int_eq(es_enet_walk_init(&w, b, full, false), 0);
	check_int_eq(es_enet_walk_next(&w, &c), 1);
	check(c.type == ES_ENET_CMD_ACKNOWLEDGE && c.offset == 4 && c.size == 8 && c.channel == 0xFF);
	check_int_eq(es_enet_walk_next(&w, &c), 1);
	check(c.type == ES_ENET_CMD_SEND_RELIABLE && c.offset == 12 && c.size == 9 && c.reliable_seq == 7 &&
	      c.data_len == 3);
	check_int_eq(es_enet_walk_next(&w, &c), 1);
	check(c.type == ES_ENET_CMD_SEND_FRAGMENT && c.offset == 21 && c.size == 26 && c.channel == 1 &&
	      c.start_seq == 8 && c.fragment_count == 3 && c.fragment_number == 1 && c.total_length == 1000 &&
	      c.fragment_offset == 500 && c.data_len == 2);
	check_int_eq(es_enet_walk_next(&w, &c), 0);
	check_int_eq(es_enet_walk_next(&w, &c), 0); /* stays at the end */

	/* data running past the end: ENet acts on nothing from that command on */
	check_int_eq(es_enet_walk_init(&w, b, full - 1, false), 0);
	check_int_eq(es_enet_walk_next(&w, &c), 1);
	check_int_eq(es_enet_walk_next(&w, &c), 1);
	check_int_eq(es_enet_walk_next(&w, &c), 0);
	/* a fixed part cut short, a command header cut short */
	for (size_t len = 4; len < full; len++) {
		int n = 0;
		check_int_eq(es_enet_walk_init(&w, b, len, false), 0);
		while (es_enet_walk_next(&w, &c) > 0) {
			check(c.offset + c.size <= len);
			n++;
		}
		check(n == (len >= full ? 3 : len >= 21 ? 2 : len >= 12 ? 1 : 0));
	}
	/* an unknown command ends it, as in ENet */
	uint8_t u[16] = {0x80, 0x05, 0, 0, 13, 0, 0, 0, 5, 0, 0, 1};
	check_int_eq(es_enet_walk_init(&w, u, 12, false), 0);
	check_int_eq(es_enet_walk_next(&w, &c), 0);
	/* without the sent time the header is 2 bytes; a checksum adds 4 */
	uint8_t p[10] = {0x00, 0x05, ENET_PROTOCOL_COMMAND_PING | 0x80, 0xFF, 0, 1};
	check_int_eq(es_enet_walk_init(&w, p, 6, false), 0);
	check_int_eq(es_enet_walk_next(&w, &c), 1);
	check(c.type == ES_ENET_CMD_PING && c.offset == 2);
	check_int_eq(es_enet_walk_init(&w, p, 5, true), -EBADMSG);
	/* compressed, or shorter than a header */
	p[0] = 0x40;
	check_int_eq(es_enet_walk_init(&w, p, 6, false), -EBADMSG);
	check_int_eq(es_enet_walk_init(&w, p, 1, false), -EBADMSG);
	check_int_eq(es_enet_walk_next(&w, &c), 0);
}

/* Resets: small, bound to a session, checked in constant time. */
static void test_reset(void)
{
	uint8_t priv[32], key[ES_RESET_KEY_LEN], key2[ES_RESET_KEY_LEN], t[ES_RESET_TOKEN_LEN], t2[ES_RESET_TOKEN_LEN];
	for (int i = 0; i < 32; i++)
		priv[i] = (uint8_t)(i * 7 + 1);
	es_reset_key(priv, key);
	es_reset_key(priv, key2);
	check(memcmp(key, key2, sizeof(key)) == 0); /* a restarted daemon makes the same tokens */
	check(memcmp(key, priv, sizeof(key)) != 0);
	uint32_t ip = htonl(0x7f000001);
	es_reset_token(key, ip, 40000, 17, 2, t);
	es_reset_token(key, ip, 40000, 17, 2, t2);
	check(memcmp(t, t2, sizeof(t)) == 0);
	/* every input counts */
	es_reset_token(key, ip ^ htonl(1), 40000, 17, 2, t2);
	check(memcmp(t, t2, sizeof(t)) != 0);
	es_reset_token(key, ip, 40001, 17, 2, t2);
	check(memcmp(t, t2, sizeof(t)) != 0);
	es_reset_token(key, ip, 40000, 18, 2, t2);
	check(memcmp(t, t2, sizeof(t)) != 0);
	es_reset_token(key, ip, 40000, 17, 3, t2);
	check(memcmp(t, t2, sizeof(t)) != 0);
	priv[0] ^= 1;
	es_reset_key(priv, key2);
	es_reset_token(key2, ip, 40000, 17, 2, t2);
	check(memcmp(t, t2, sizeof(t)) != 0);

	uint8_t r[16];
	check_int_eq(es_reset_build(t, r, 7), -ENOSPC);
	check_int_eq(es_reset_build(t, r, sizeof(r)), ES_RESET_LEN);
	check(ES_RESET_LEN <= 8); /* never more than ENet's smallest datagram, a ping */
	check(es_is_reset(r, ES_RESET_LEN));
	check_int_eq(es_reset_check(r, ES_RESET_LEN, t), 0);
	r[ES_RESET_LEN - 1] ^= 1;
	check(es_is_reset(r, ES_RESET_LEN));
	check_int_eq(es_reset_check(r, ES_RESET_LEN, t), -EACCES);
	check_int_eq(es_reset_check(r, ES_RESET_LEN - 1, t), -EBADMSG);
	check_int_eq(es_reset_check(r, ES_RESET_LEN + 1, t), -EBADMSG);
	/* not ENet, not a cookie */
	uint32_t data;
	check_int_eq(es_enet_connect_parse(r, ES_RESET_LEN, false, &data), -EBADMSG);
	check(!es_cookie_is_raw(r, ES_RESET_LEN));
}

int main(void)
{
	check(sodium_init() >= 0);
	test_enet_walk();
	test_reset();
	test_enet_parse();
	test_raw();
	test_cookie();
	return 0;
}
