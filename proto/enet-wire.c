/* SPDX-License-Identifier: MIT */
/*
 * ENet 1.3.17's wire format (enet/protocol.h, protocol.c), the parts
 * Earshot reads or writes by hand: the protocol header, one unsequenced
 * packet, a CONNECT's data field, and the walk over a datagram's commands
 * (earshot-enet.h).
 */
#include <errno.h>
#include <string.h>

#include "earshot-enet.h"
#include "wire.h"

#define ENET_CMD_MASK 0x0F
#define ENET_CONNECT_LEN 48     /* sizeof(ENetProtocolConnect) */
#define ENET_CONNECT_DATA_AT 44 /* offsetof(ENetProtocolConnect, data) */

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int es_enet_header_parse(const uint8_t *buf, size_t len, struct es_enet_header *h)
{
	if (len < 2)
		return -EBADMSG;
	uint16_t v = be16(buf);
	*h = (struct es_enet_header){
		.peer_id = v & ES_ENET_PEER_NONE,
		.session = (uint8_t)((v >> ES_ENET_SESSION_SHIFT) & 3),
		.compressed = (v & ES_ENET_FLAG_COMPRESSED) != 0,
		.sent_time = (v & ES_ENET_FLAG_SENT_TIME) != 0,
	};
	if (!h->sent_time)
		return 2;
	if (len < 4)
		return -EBADMSG;
	h->sent_time_ms = be16(buf + 2);
	return 4;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

int es_enet_header_write(const struct es_enet_header *h, uint8_t *out, size_t cap)
{
	if (h->peer_id > ES_ENET_PEER_NONE || h->session > 3)
		return -EINVAL;
	size_t n = h->sent_time ? 4 : 2;
	if (cap < n)
		return -ENOSPC;
	uint16_t v = h->peer_id;
	/* ENet: "if (peer->outgoingPeerID < ENET_PROTOCOL_MAXIMUM_PEER_ID)" */
	if (h->peer_id < ES_ENET_PEER_NONE)
		v |= (uint16_t)(h->session << ES_ENET_SESSION_SHIFT);
	if (h->sent_time)
		v |= ES_ENET_FLAG_SENT_TIME;
	put16(out, v);
	if (h->sent_time)
		put16(out + 2, h->sent_time_ms);
	return (int)n;
}

int es_enet_peer_id(const uint8_t *buf, size_t len)
{
	struct es_enet_header h;
	/* no ENet datagram is shorter than a header and a command header */
	if (len < 4 || es_enet_header_parse(buf, len, &h) < 0)
		return -EBADMSG;
	return h.peer_id;
}

int es_enet_unseq_write(uint16_t peer_id, uint8_t session, uint8_t channel, uint16_t group, size_t data_len,
			uint8_t *out, size_t cap)
{
	if (data_len > UINT16_MAX || peer_id > ES_ENET_PEER_NONE || session > 3)
		return -EINVAL;
	if (cap < ES_ENET_UNSEQ_HEADER)
		return -ENOSPC;
	struct es_enet_header h = {.peer_id = peer_id, .session = session};
	int n = es_enet_header_write(&h, out, cap);
	if (n < 0)
		return n;
	uint8_t *c = out + n;
	c[0] = ES_ENET_CMD_SEND_UNSEQUENCED | ES_ENET_CMD_FLAG_UNSEQUENCED;
	c[1] = channel;
	put16(c + 2, 0); /* reliable sequence number: none */
	put16(c + 4, group);
	put16(c + 6, (uint16_t)data_len);
	return ES_ENET_UNSEQ_HEADER;
}

int es_enet_connect_parse(const uint8_t *buf, size_t len, bool checksum, uint32_t *data_out)
{
	struct es_rd r;

	es_rd_init(&r, buf, len);
	const uint8_t *h = es_rd_take(&r, 2);
	if (!h)
		return -EBADMSG;
	uint16_t peer = (uint16_t)(h[0] << 8 | h[1]);
	if (peer & ES_ENET_FLAG_COMPRESSED)
		return -EBADMSG;
	/* ENet reads commands for an unknown sender only under peer id
	 * 0xFFF, and then only a CONNECT as the very first command. */
	if ((peer & ES_ENET_PEER_NONE) != ES_ENET_PEER_NONE)
		return 0;
	if (peer & ES_ENET_FLAG_SENT_TIME)
		es_rd_take(&r, 2);
	if (checksum)
		es_rd_take(&r, 4);
	const uint8_t *cmd = es_rd_take(&r, 1);
	if (!cmd)
		return -EBADMSG;
	if ((cmd[0] & ENET_CMD_MASK) != ES_ENET_CMD_CONNECT)
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

int es_enet_walk_init(struct es_enet_walk *w, const uint8_t *buf, size_t len, bool checksum)
{
	*w = (struct es_enet_walk){.buf = buf, .len = len, .done = true};
	if (len < 2)
		return -EBADMSG;
	uint16_t peer = be16(buf);
	if (peer & ES_ENET_FLAG_COMPRESSED)
		return -EBADMSG;
	size_t header = (peer & ES_ENET_FLAG_SENT_TIME ? 4 : 2) + (checksum ? 4 : 0);
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
