/* SPDX-License-Identifier: MIT */
/*
 * Stateless connect cookies, and just enough of ENet 1.3.17's wire format
 * (enet/protocol.h, protocol.c) to find the data field of a CONNECT.
 *
 * Raw datagrams (not ENet):
 *   request  "ESCK" 0x01 ver nonce[8] zero[48]          64 bytes
 *   reply    "ESCK" 0x02 ver nonce[8] cookie u32 LE     18 bytes
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "earshot-crypto.h"
#include "wire.h"

#define COOKIE_VERSION 1
enum { KIND_REQUEST = 1, KIND_REPLY = 2 };

static const uint8_t magic[4] = { 'E', 'S', 'C', 'K' };

bool es_cookie_is_raw(const uint8_t *buf, size_t len)
{
	return len >= sizeof(magic) && memcmp(buf, magic, sizeof(magic)) == 0;
}

static void wr_head(struct es_wr *w, uint8_t kind, const uint8_t nonce[static ES_COOKIE_NONCE_LEN])
{
	es_wr_bytes(w, magic, sizeof(magic));
	es_wr_u8(w, kind);
	es_wr_u8(w, COOKIE_VERSION);
	es_wr_bytes(w, nonce, ES_COOKIE_NONCE_LEN);
}

/* Check magic, kind and version; return the nonce pointer or NULL. */
static const uint8_t *rd_head(struct es_rd *r, uint8_t kind)
{
	const uint8_t *m = es_rd_take(r, sizeof(magic));
	uint8_t k = es_rd_u8(r);
	uint8_t v = es_rd_u8(r);
	const uint8_t *nonce = es_rd_take(r, ES_COOKIE_NONCE_LEN);
	if (r->bad || memcmp(m, magic, sizeof(magic)) != 0 || k != kind || v != COOKIE_VERSION)
		return NULL;
	return nonce;
}

int es_cookie_request_build(const uint8_t nonce[static ES_COOKIE_NONCE_LEN], uint8_t *out, size_t cap)
{
	struct es_wr w;

	if (cap < ES_COOKIE_REQUEST_LEN)
		return -ENOSPC;
	es_wr_init(&w, out, cap);
	wr_head(&w, KIND_REQUEST, nonce);
	size_t pad = ES_COOKIE_REQUEST_LEN - w.len;
	memset(es_wr_take(&w, pad), 0, pad); /* cannot fail: cap checked */
	return (int)w.len;
}

int es_cookie_request_parse(const uint8_t *buf, size_t len, uint8_t nonce[static ES_COOKIE_NONCE_LEN])
{
	struct es_rd r;

	if (len != ES_COOKIE_REQUEST_LEN)
		return -EBADMSG;
	es_rd_init(&r, buf, len);
	const uint8_t *n = rd_head(&r, KIND_REQUEST);
	if (!n)
		return -EBADMSG;
	/* Padding must be zero so that the format can grow later. */
	for (size_t i = 0; i < r.left; i++)
		if (r.p[i])
			return -EBADMSG;
	memcpy(nonce, n, ES_COOKIE_NONCE_LEN);
	return 0;
}

int es_cookie_reply_build(const uint8_t nonce[static ES_COOKIE_NONCE_LEN], uint32_t cookie,
		uint8_t *out, size_t cap)
{
	struct es_wr w;

	es_wr_init(&w, out, cap);
	wr_head(&w, KIND_REPLY, nonce);
	es_wr_u32(&w, cookie);
	return w.bad ? -ENOSPC : (int)w.len;
}

int es_cookie_reply_parse(const uint8_t *buf, size_t len, const uint8_t nonce[static ES_COOKIE_NONCE_LEN],
		uint32_t *cookie)
{
	struct es_rd r;

	if (len != ES_COOKIE_REPLY_LEN)
		return -EBADMSG;
	es_rd_init(&r, buf, len);
	const uint8_t *n = rd_head(&r, KIND_REPLY);
	uint32_t c = es_rd_u32(&r);
	if (!n || r.bad || sodium_memcmp(n, nonce, ES_COOKIE_NONCE_LEN) != 0)
		return -EBADMSG;
	*cookie = c;
	return 0;
}

uint32_t es_cookie_make(const uint8_t secret[static ES_COOKIE_SECRET_LEN], uint32_t ipv4, uint16_t port, uint64_t slot)
{
	static const char label[] = "earshot cookie v1";
	uint8_t in[sizeof(label) + 4 + 2 + 8], mac[16];
	struct es_wr w;

	/* Fixed-length input: label, address bytes as on the wire, port,
	 * slot.  Keyed BLAKE2b is a PRF; 32 bits is what ENet's data
	 * field carries, enough against blind spoofing. */
	es_wr_init(&w, in, sizeof(in));
	es_wr_bytes(&w, label, sizeof(label));
	es_wr_bytes(&w, &ipv4, 4);
	es_wr_u16(&w, port);
	es_wr_u64(&w, slot);
	crypto_generichash(mac, sizeof(mac), in, sizeof(in), secret, ES_COOKIE_SECRET_LEN);
	return (uint32_t)mac[0] | (uint32_t)mac[1] << 8 | (uint32_t)mac[2] << 16 | (uint32_t)mac[3] << 24;
}

int es_cookie_check(const uint8_t secret[static ES_COOKIE_SECRET_LEN], uint32_t ipv4, uint16_t port,
		uint64_t slot, uint32_t cookie)
{
	uint32_t cur = es_cookie_make(secret, ipv4, port, slot);
	uint32_t prev = es_cookie_make(secret, ipv4, port, slot - 1);
	/* Both always computed and compared: no timing hint of which slot. */
	int a = sodium_memcmp(&cur, &cookie, sizeof(cookie));
	int b = sodium_memcmp(&prev, &cookie, sizeof(cookie));
	return ((a == 0) | (b == 0)) ? 0 : -EACCES;
}

/* ENet header fields (big-endian on the wire), from enet/protocol.h. */
#define ENET_MAX_PEER_ID 0xFFF
#define ENET_FLAG_COMPRESSED (1u << 14)
#define ENET_FLAG_SENT_TIME (1u << 15)
#define ENET_CMD_MASK 0x0F
#define ENET_CMD_CONNECT 2
#define ENET_CONNECT_LEN 48     /* sizeof(ENetProtocolConnect) */
#define ENET_CONNECT_DATA_AT 44 /* offsetof(ENetProtocolConnect, data) */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int es_enet_connect_parse(const uint8_t *buf, size_t len, bool checksum, uint32_t *data_out)
{
	struct es_rd r;

	es_rd_init(&r, buf, len);
	const uint8_t *h = es_rd_take(&r, 2);
	if (!h)
		return -EBADMSG;
	uint16_t peer = (uint16_t)(h[0] << 8 | h[1]);
	if (peer & ENET_FLAG_COMPRESSED)
		return -EBADMSG;
	/* ENet reads commands for an unknown sender only under peer id
	 * 0xFFF, and then only a CONNECT as the very first command. */
	if ((peer & ENET_MAX_PEER_ID) != ENET_MAX_PEER_ID)
		return 0;
	if (peer & ENET_FLAG_SENT_TIME)
		es_rd_take(&r, 2);
	if (checksum)
		es_rd_take(&r, 4);
	const uint8_t *cmd = es_rd_take(&r, 1);
	if (!cmd)
		return -EBADMSG;
	if ((cmd[0] & ENET_CMD_MASK) != ENET_CMD_CONNECT)
		return 0;
	/* ENet ignores a command cut short; so do we, but say so. */
	if (r.left < ENET_CONNECT_LEN - 1)
		return -EBADMSG;
	*data_out = be32(cmd + ENET_CONNECT_DATA_AT);
	return 1;
}

/* ENet 1.3.17's commandSizes[]: the fixed part of each command; 0 = none */
static const uint8_t command_size[ES_ENET_CMD__COUNT] = {
	[ES_ENET_CMD_ACKNOWLEDGE] = 8,
	[ES_ENET_CMD_CONNECT] = 48,
	[ES_ENET_CMD_VERIFY_CONNECT] = 44,
	[ES_ENET_CMD_DISCONNECT] = 8,
	[ES_ENET_CMD_PING] = 4,
	[ES_ENET_CMD_SEND_RELIABLE] = 6,
	[ES_ENET_CMD_SEND_UNRELIABLE] = 8,
	[ES_ENET_CMD_SEND_FRAGMENT] = 24,
	[ES_ENET_CMD_SEND_UNSEQUENCED] = 8,
	[ES_ENET_CMD_BANDWIDTH_LIMIT] = 12,
	[ES_ENET_CMD_THROTTLE_CONFIGURE] = 16,
	[ES_ENET_CMD_SEND_UNRELIABLE_FRAGMENT] = 24,
};

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

int es_enet_walk_init(struct es_enet_walk *w, const uint8_t *buf, size_t len, bool checksum)
{
	*w = (struct es_enet_walk){.buf = buf, .len = len, .done = true};
	if (len < 2)
		return -EBADMSG;
	uint16_t peer = be16(buf);
	if (peer & ENET_FLAG_COMPRESSED)
		return -EBADMSG;
	size_t header = (peer & ENET_FLAG_SENT_TIME ? 4 : 2) + (checksum ? 4 : 0);
	if (len < header)
		return -EBADMSG;
	w->at = header;
	w->done = false;
	return 0;
}

int es_enet_walk_next(struct es_enet_walk *w, struct es_enet_cmd *c)
{
	if (w->done || w->len - w->at < 4)
		goto end;
	const uint8_t *p = w->buf + w->at;
	unsigned type = p[0] & ENET_CMD_MASK;
	if (type >= ES_ENET_CMD__COUNT || command_size[type] == 0 || w->len - w->at < command_size[type])
		goto end;
	*c = (struct es_enet_cmd){.type = (uint8_t)type, .channel = p[1], .reliable_seq = be16(p + 2), .offset = w->at,
				  .size = command_size[type]};
	switch (type) {
	case ES_ENET_CMD_SEND_RELIABLE:
		c->data_len = be16(p + 4);
		break;
	case ES_ENET_CMD_SEND_UNRELIABLE:
	case ES_ENET_CMD_SEND_UNSEQUENCED:
		c->data_len = be16(p + 6);
		break;
	case ES_ENET_CMD_SEND_FRAGMENT:
	case ES_ENET_CMD_SEND_UNRELIABLE_FRAGMENT:
		c->start_seq = be16(p + 4);
		c->data_len = be16(p + 6);
		c->fragment_count = be32(p + 8);
		c->fragment_number = be32(p + 12);
		c->total_length = be32(p + 16);
		c->fragment_offset = be32(p + 20);
		break;
	default:
		break;
	}
	/* ENet takes the data after the fixed part; data past the end is an
	 * error there, and it acts on nothing after it */
	if (c->data_len > w->len - w->at - c->size)
		goto end;
	c->size += c->data_len;
	w->at += c->size;
	return 1;
end:
	w->done = true;
	return 0;
}
