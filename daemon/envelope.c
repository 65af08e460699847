/* SPDX-License-Identifier: MIT */
/*
 * What leaves the server for a peer, and how a sealed envelope from one is
 * opened.  Messages are plain before the handshake and sealed after it
 * (proto/'s es_envelope_seal and es_envelope_open, in frame_for and
 * srv_open_sealed); the one datagram built in ENet's own wire format
 * (send_audio) gets its header from es_enet_unseq_write.
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
	int k = es_envelope_seal(&slot->tx, s->buf, (size_t)n, s->sealed, sizeof(s->sealed));
	if (k < 0)
		return k;
	*out = s->sealed;
	return k;
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

static int send_audio(struct es_server *s, ENetPeer *peer, const struct es_msg *m)
{
	struct peer_slot *slot = peer->data;
	const uint8_t *bytes;
	int n = frame_for(s, slot, m, &bytes);
	if (n < 0)
		return n;
	size_t total = ES_ENET_UNSEQ_HEADER + (size_t)n;
	uint8_t *d;
	/* until ENet has sent the handshake reply, audio queues behind it in
	 * ENet, or the sender thread could deliver it first */
	if (!s->sender || slot->st != SLOT_AUTHED || slot->authed_flush == s->flushes ||
	    peer->state != ENET_PEER_STATE_CONNECTED || total > peer->mtu || !(d = es_sender_reserve(s->sender, total)))
		return queue_enet(s, peer, bytes, n, true);
	/* ENet's session field is 2 bits: a connected peer's is always within it */
	if (es_enet_unseq_write(peer->outgoingPeerID, peer->outgoingSessionID, ES_CHAN_AUDIO,
				(uint16_t)(peer->outgoingUnsequencedGroup + 1), (size_t)n, d, total) < 0)
		return queue_enet(s, peer, bytes, n, true); /* nothing reserved is kept until a commit */
	peer->outgoingUnsequencedGroup++;
	memcpy(d + ES_ENET_UNSEQ_HEADER, bytes, (size_t)n);
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
 * length, or a negative errno, counted by cause (in the clear, replayed,
 * stale, forged).
 */
int srv_open_sealed(struct es_server *s, struct peer_slot *slot, const uint8_t *pkt, size_t len)
{
	int r = es_envelope_open(&slot->rx, pkt, len, s->buf, sizeof(s->buf));
	if (r < 0) {
		if (r == -ENOMSG)
			s->c.drop_unjoined++; /* plain traffic after the handshake */
		else if (r == -EALREADY)
			s->c.drop_replayed++;
		else if (r == -ESTALE)
			s->c.drop_stale++;
		else
			s->c.drop_tampered++;
	}
	return r;
}
