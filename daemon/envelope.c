/* SPDX-License-Identifier: MIT */
/*
 * What leaves the server for a peer, and how a sealed envelope from one is
 * opened.  Messages are plain before the handshake and sealed after it;
 * sealing and opening by hand happen only here (frame_for, srv_open_sealed),
 * and so does the one datagram built in ENet's own wire format (send_audio).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server-private.h"

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

/*
 * Seal (or, before the handshake, frame) m and queue it to peer.  0 or a
 * negative errno; a failure is counted (send_failed) here, so the callers
 * that can do nothing about one (a broadcast, a notice) may ignore it.
 */
int srv_send_msg(struct es_server *s, ENetPeer *peer, const struct es_msg *m)
{
	const uint8_t *bytes;
	int n = frame_for(s, peer->data, m, &bytes);
	if (n >= 0)
		n = queue_enet(s, peer, bytes, n, m->type == ES_MSG_AUDIO_DOWN);
	if (n < 0)
		s->c.send_failed++;
	return n;
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

/* A bundle to a listener: as srv_send_msg, failures counted in send_failed. */
int srv_send_audio(struct es_server *s, ENetPeer *peer, const struct es_msg *m)
{
	int r = send_audio(s, peer, m);
	if (r < 0)
		s->c.send_failed++;
	return r;
}


/* Send a control message to everyone joined: each peer has its own key. */
void srv_broadcast(struct es_server *s, const struct es_msg *m, int except)
{
	for (unsigned i = 0; i < s->cfg.max_people; i++) {
		struct person *q = &s->people[i];
		if (q->used && (int)i != except)
			(void)srv_send_msg(s, q->peer, m);
	}
}

/*
 * Open a sealed envelope from an authenticated peer into s->buf: its
 * length, or a negative errno, counted by cause (replayed, stale, forged).
 * The one place the server opens the envelope by hand (proto/ will own it).
 */
int srv_open_sealed(struct es_server *s, struct peer_slot *slot, const struct es_msg *m)
{
	static const uint8_t ad = ES_MSG_SEALED;
	int r = es_cipher_open(&slot->rx, &ad, 1, m->u.blob.data, m->u.blob.len, s->buf, sizeof(s->buf));
	if (r < 0) {
		if (r == -EALREADY)
			s->c.drop_replayed++;
		else if (r == -ESTALE)
			s->c.drop_stale++;
		else
			s->c.drop_tampered++;
	}
	return r;
}
