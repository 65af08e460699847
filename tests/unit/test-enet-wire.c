/* SPDX-License-Identifier: MIT */
/*
 * ENet's wire format as proto/enet-wire.c reads and writes it, held
 * against ENet itself: its header constants, and two real hosts on
 * loopback, one of which receives an unsequenced datagram built by
 * es_enet_unseq_write as if its own peer had sent it.
 */
#include <errno.h>
#include <string.h>

#include <enet/enet.h>
#include <sodium.h>

#include "earshot-enet.h"
#include "earshot-proto.h"
#include "test.h"

_Static_assert(ES_ENET_PEER_NONE == ENET_PROTOCOL_MAXIMUM_PEER_ID, "peer id bits");
_Static_assert(ES_ENET_FLAG_COMPRESSED == ENET_PROTOCOL_HEADER_FLAG_COMPRESSED, "compressed flag");
_Static_assert(ES_ENET_FLAG_SENT_TIME == ENET_PROTOCOL_HEADER_FLAG_SENT_TIME, "sent time flag");
_Static_assert(ES_ENET_SESSION_SHIFT == ENET_PROTOCOL_HEADER_SESSION_SHIFT, "session bits");
_Static_assert((int)ES_ENET_CMD_SEND_UNSEQUENCED == (int)ENET_PROTOCOL_COMMAND_SEND_UNSEQUENCED, "command number");
_Static_assert((int)ES_ENET_CMD_PING == (int)ENET_PROTOCOL_COMMAND_PING, "command number");
_Static_assert(ES_ENET_CMD_FLAG_ACKNOWLEDGE == ENET_PROTOCOL_COMMAND_FLAG_ACKNOWLEDGE, "command flag");
_Static_assert(ES_ENET_CMD_FLAG_UNSEQUENCED == ENET_PROTOCOL_COMMAND_FLAG_UNSEQUENCED, "command flag");
_Static_assert(ES_ENET_UNSEQ_HEADER == 2 + sizeof(ENetProtocolSendUnsequenced), "unsequenced header");

static void test_header(void)
{
	struct es_enet_header h = {.peer_id = 0x123, .session = 2, .sent_time = true, .sent_time_ms = 0xBEEF}, g;
	uint8_t b[8];
	check_int_eq(es_enet_header_write(&h, b, 3), -ENOSPC);
	check_int_eq(es_enet_header_write(&h, b, sizeof(b)), 4);
	check(b[0] == (0x80 | 0x20 | 0x01) && b[1] == 0x23 && b[2] == 0xBE && b[3] == 0xEF);
	check_int_eq(es_enet_header_parse(b, 4, &g), 4);
	check(g.peer_id == 0x123 && g.session == 2 && g.sent_time && !g.compressed && g.sent_time_ms == 0xBEEF);
	check_int_eq(es_enet_header_parse(b, 3, &g), -EBADMSG); /* the sent time cut off */
	check_int_eq(es_enet_peer_id(b, 4), 0x123);
	check_int_eq(es_enet_peer_id(b, 3), -EBADMSG);

	/* no sent time: 2 bytes; a CONNECT's header (no slot yet) carries no session */
	h = (struct es_enet_header){.peer_id = ES_ENET_PEER_NONE, .session = 3};
	check_int_eq(es_enet_header_write(&h, b, 2), 2);
	check(b[0] == 0x0F && b[1] == 0xFF);
	check_int_eq(es_enet_header_parse(b, 2, &g), 2);
	check(g.peer_id == ES_ENET_PEER_NONE && g.session == 0 && !g.sent_time);
	check_int_eq(es_enet_header_parse(b, 1, &g), -EBADMSG);
	b[2] = b[3] = 0;
	check_int_eq(es_enet_peer_id(b, 4), ES_ENET_PEER_NONE);
	/* the flags are read, and nothing writes "compressed" */
	b[0] = 0x40 | 0x30;
	check_int_eq(es_enet_header_parse(b, 2, &g), 2);
	check(g.compressed && g.session == 3 && g.peer_id == 0x0FF);
	/* out of range */
	h = (struct es_enet_header){.peer_id = 0x1000};
	check_int_eq(es_enet_header_write(&h, b, sizeof(b)), -EINVAL);
	h = (struct es_enet_header){.peer_id = 1, .session = 4};
	check_int_eq(es_enet_header_write(&h, b, sizeof(b)), -EINVAL);
}

static void test_unseq_bytes(void)
{
	uint8_t d[ES_ENET_UNSEQ_HEADER + 3];
	check_int_eq(es_enet_unseq_write(5, 1, ES_CHAN_AUDIO, 0x0102, 3, d, ES_ENET_UNSEQ_HEADER - 1), -ENOSPC);
	check_int_eq(es_enet_unseq_write(5, 4, ES_CHAN_AUDIO, 0x0102, 3, d, sizeof(d)), -EINVAL);
	check_int_eq(es_enet_unseq_write(5, 1, ES_CHAN_AUDIO, 0x0102, 65536, d, sizeof(d)), -EINVAL);
	check_int_eq(es_enet_unseq_write(5, 1, ES_CHAN_AUDIO, 0x0102, 3, d, sizeof(d)), ES_ENET_UNSEQ_HEADER);
	/* what daemon/server.c's send_audio wrote by hand */
	static const uint8_t want[ES_ENET_UNSEQ_HEADER] = {0x10, 0x05, 9 | 0x40, ES_CHAN_AUDIO, 0, 0, 0x01, 0x02, 0, 3};
	check(memcmp(d, want, sizeof(want)) == 0);
	memcpy(d + ES_ENET_UNSEQ_HEADER, "abc", 3);
	struct es_enet_walk w;
	struct es_enet_cmd c;
	check_int_eq(es_enet_walk_init(&w, d, sizeof(d), false), 0);
	check_int_eq(es_enet_walk_next(&w, &c), 1);
	check(c.type == ES_ENET_CMD_SEND_UNSEQUENCED && c.channel == ES_CHAN_AUDIO && c.offset == 2 && c.data_len == 3 &&
	      c.size == sizeof(d) - 2);
	check_int_eq(es_enet_walk_next(&w, &c), 0);
}

/* What host b's intercept saw last, for comparing with ENet's own datagrams. */
static uint8_t seen[2048];
static size_t seen_len;

static int capture(ENetHost *host, ENetEvent *event)
{
	(void)event;
	if (host->receivedDataLength <= sizeof(seen)) {
		memcpy(seen, host->receivedData, host->receivedDataLength);
		seen_len = host->receivedDataLength;
	}
	return 0;
}

/* Service both hosts for up to ms; returns the first RECEIVE on b (packet in *ev) or 0. */
static int pump(ENetHost *a, ENetHost *b, int ms, ENetEvent *got)
{
	for (int i = 0; i < ms; i++) {
		ENetEvent ev;
		while (enet_host_service(a, &ev, 0) > 0)
			if (ev.type == ENET_EVENT_TYPE_RECEIVE)
				enet_packet_destroy(ev.packet);
		while (enet_host_service(b, &ev, 1) > 0)
			if (ev.type == ENET_EVENT_TYPE_RECEIVE) {
				if (got) {
					*got = ev;
					return 1;
				}
				enet_packet_destroy(ev.packet);
			}
	}
	return 0;
}

static int send_built(ENetHost *a, ENetPeer *pa, uint8_t session, const char *data)
{
	uint8_t d[64];
	size_t n = strlen(data);
	uint16_t group = ++pa->outgoingUnsequencedGroup;
	check_int_eq(es_enet_unseq_write(pa->outgoingPeerID, session, ES_CHAN_AUDIO, group, n, d, sizeof(d)),
		     ES_ENET_UNSEQ_HEADER);
	memcpy(d + ES_ENET_UNSEQ_HEADER, data, n);
	ENetBuffer buf = {.data = d, .dataLength = ES_ENET_UNSEQ_HEADER + n};
	return enet_socket_send(a->socket, &pa->address, &buf, 1);
}

static void test_real_enet(void)
{
	check_int_eq(enet_initialize(), 0);
	ENetAddress any = {.host = ENET_HOST_ANY, .port = 0}, at;
	enet_address_set_host_ip(&any, "127.0.0.1");
	ENetHost *a = enet_host_create(&any, 4, ES_CHAN_COUNT, 0, 0);
	ENetHost *b = enet_host_create(NULL, 1, ES_CHAN_COUNT, 0, 0);
	check(a && b);
	check_int_eq(enet_socket_get_address(a->socket, &at), 0);
	at.host = any.host;
	ENetPeer *pb = enet_host_connect(b, &at, ES_CHAN_COUNT, 0);
	check(pb != NULL);
	/* connected both ways, and quiet (acknowledgements flushed) */
	for (int i = 0; i < 5000 && !(pb->state == ENET_PEER_STATE_CONNECTED && a->connectedPeers == 1); i++)
		pump(a, b, 1, NULL);
	check(pb->state == ENET_PEER_STATE_CONNECTED);
	ENetPeer *pa = &a->peers[0];
	check(pa->state == ENET_PEER_STATE_CONNECTED);
	pump(a, b, 100, NULL);

	/* ENet's own unsequenced datagram is the one es_enet_unseq_write describes */
	b->intercept = capture;
	int same = 0;
	for (int tries = 0; tries < 20 && !same; tries++) {
		ENetPacket *p = enet_packet_create("voice", 5, ENET_PACKET_FLAG_UNSEQUENCED);
		check_int_eq(enet_peer_send(pa, ES_CHAN_AUDIO, p), 0);
		enet_host_flush(a);
		ENetEvent ev;
		seen_len = 0;
		check_int_eq(pump(a, b, 2000, &ev), 1);
		check(ev.channelID == ES_CHAN_AUDIO && ev.packet->dataLength == 5);
		enet_packet_destroy(ev.packet);
		/* only a datagram of that command alone can match (ENet may add an acknowledgement) */
		if (seen_len != ES_ENET_UNSEQ_HEADER + 5)
			continue;
		uint8_t want[ES_ENET_UNSEQ_HEADER + 5];
		check_int_eq(es_enet_unseq_write(pa->outgoingPeerID, pa->outgoingSessionID, ES_CHAN_AUDIO,
						 pa->outgoingUnsequencedGroup, 5, want, sizeof(want)),
			     ES_ENET_UNSEQ_HEADER);
		memcpy(want + ES_ENET_UNSEQ_HEADER, "voice", 5);
		check(memcmp(seen, want, sizeof(want)) == 0);
		same = 1;
	}
	check(same);
	b->intercept = NULL;

	/* and ENet takes one built here as its peer's own */
	ENetEvent ev;
	check(send_built(a, pa, pa->outgoingSessionID, "built") > 0);
	check_int_eq(pump(a, b, 2000, &ev), 1);
	check(ev.channelID == ES_CHAN_AUDIO && ev.packet->dataLength == 5 && memcmp(ev.packet->data, "built", 5) == 0);
	enet_packet_destroy(ev.packet);
	/* ... but not one for another session of that slot */
	check(send_built(a, pa, (uint8_t)((pa->outgoingSessionID + 1) & 3), "stale") > 0);
	check_int_eq(pump(a, b, 200, &ev), 0);

	enet_host_destroy(b);
	enet_host_destroy(a);
	enet_deinitialize();
}

int main(void)
{
	check(sodium_init() >= 0);
	test_header();
	test_unseq_bytes();
	test_real_enet();
	return 0;
}
