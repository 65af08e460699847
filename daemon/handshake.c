/* SPDX-License-Identifier: MIT */
/*
 * The handshake: message 1s queued for their turn, answered here or by the
 * worker thread (hs-worker.h), authorised, admitted and seated; the
 * refusals (plain before any Diffie-Hellman, proved after it); connected
 * peers that never finish are reaped.  Nothing about a person exists before
 * their handshake is accepted.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "relocate.h"
#include "server-private.h"

static int free_person_id(const struct es_server *s)
{
	for (unsigned i = 0; i < s->cfg.max_people; i++)
		if (!s->people[i].used)
			return (int)i;
	return -1;
}

/*
 * Refused before any Diffie-Hellman (message 1 unreadable, over the rate):
 * said in the clear, so the client can take it only as a hint.
 */
static void refuse(struct es_server *s, ENetPeer *peer, uint8_t reason)
{
	if (reason < 8)
		s->c.refused[reason]++;
	struct es_msg m = {.type = ES_MSG_REFUSED, .u.refused.reason = reason};
	(void)srv_send_msg(s, peer, &m);
	enet_peer_disconnect_later(peer, 0);
}

/*
 * Refused after message 1 was read (not enrolled, a used invite, a replay,
 * a name taken, another version): the refusal is message 2's payload, so
 * the client knows it comes from the server it pinned and may believe it
 * (a plain REFUSED anyone could forge).  hs is cleared.
 */
static void refuse_proved(struct es_server *s, ENetPeer *peer, struct es_noise *hs, uint8_t reason)
{
	struct es_msg r = {.type = ES_MSG_REFUSED, .u.refused.reason = reason};
	uint8_t rb[8], reply[ES_NOISE_MSG2_MAX];
	int n = es_msg_encode(&r, rb, sizeof(rb));
	n = n < 0 ? n : es_noise_write_msg2(hs, rb, (size_t)n, reply, sizeof(reply));
	es_noise_clear(hs);
	if (n < 0) {
		refuse(s, peer, reason);
		return;
	}
	if (reason < 8)
		s->c.refused[reason]++;
	struct es_msg m2 = {.type = ES_MSG_HANDSHAKE2, .u.blob = {(uint16_t)n, reply}};
	(void)srv_send_msg(s, peer, &m2);
	enet_peer_disconnect_later(peer, 0);
}

static void busy(struct es_server *s, ENetPeer *peer, bool soon)
{
	struct es_msg m = {.type = ES_MSG_BUSY};
	/* jitter the retry so refused people do not come back in lockstep */
	if (soon) {
		/* a company's floor without an owner yet: it will have one in a moment */
		s->c.busy_no_owner++;
		m.u.busy.retry_after_ms = 300 + randombytes_uniform(400);
	} else {
		s->c.refused_full++;
		m.u.busy.retry_after_ms = 2000 + randombytes_uniform(3000);
	}
	(void)srv_send_msg(s, peer, &m);
	enet_peer_disconnect_later(peer, 0);
}

/*
 * Where a newcomer sits, in this order: where the HELLO asked (--at), their
 * remembered place, their own desk, a new desk of their own, the nearest
 * free place.  Each must pass the same check as a walk (places.h: on the
 * floor, walkable, not in a closed or locked room, not at a desk someone
 * sits at or that is someone else's own).  `how` gets the reason for the
 * join's log line, so the log says what was done and why, once.
 */
static struct es_pos seat(struct es_server *s, unsigned id, const struct es_hello *h, const struct es_seat_memory *mem,
			  int *own, bool *new_desk, char *how, size_t hl)
{
	const struct es_floor *f = s->cfg.floor;
	struct es_pos pos = h->pos;
	size_t n = 0;
	how[0] = 0;
	*new_desk = false;
	*own = f && mem->desk[0] ? es_floor_desk_find(f, mem->desk) : -1;
	if (*own >= 0 && !es_places_owned(s->places, (unsigned)*own))
		es_places_own(s->places, (unsigned)*own, true);
	if (h->flags & ES_PF_PLACE) {
		enum es_place_verdict v = es_places_check(s->places, (int)id, -1, *own, pos_x(&pos), pos_y(&pos), true);
		if (v == ES_PLACE_OK) {
			snprintf(how, hl, "where they asked");
			return pos;
		}
		n += (size_t)snprintf(how, hl, "asked for %.2f,%.2f: %s; ", pos_x(&pos), pos_y(&pos), es_place_verdict_text(v));
	}
	if (mem->has_place) {
		struct es_pos m = mem->pos;
		if (!(h->flags & ES_PF_PLACE) && h->pos.facing)
			m.facing = h->pos.facing; /* --facing without --at */
		enum es_place_verdict v = es_places_check(s->places, (int)id, -1, *own, pos_x(&m), pos_y(&m), true);
		if (v == ES_PLACE_OK) {
			snprintf(how + n, hl - n, "back at their place");
			return m;
		}
		if (n < hl)
			n += (size_t)snprintf(how + n, hl - n, "their place %.2f,%.2f is %s; ", pos_x(&m), pos_y(&m),
					      es_place_verdict_text(v));
	}
	pos.facing = h->pos.facing;
	if (n >= hl)
		n = hl - 1;
	float x, y;
	const char *label = NULL;
	if (*own >= 0 && es_floor_desk(f, (unsigned)*own, &x, &y, &label) == 0 &&
	    es_places_check(s->places, (int)id, -1, *own, x, y, true) == ES_PLACE_OK) {
		snprintf(how + n, hl - n, "at their desk %s", label);
		goto at;
	}
	if (*own < 0 && f) {
		int d = es_places_free_desk(s->places);
		if (d >= 0 && es_floor_desk(f, (unsigned)d, &x, &y, &label) == 0) {
			*own = d;
			*new_desk = true;
			es_places_own(s->places, (unsigned)d, true);
			snprintf(how + n, hl - n, "at desk %s, now their own", label);
			goto at;
		}
	}
	int fd;
	float nx = f ? es_floor_width_m(f) / 2 : 0, ny = f ? es_floor_height_m(f) / 2 : 0;
	if (*own >= 0)
		(void)es_floor_desk(f, (unsigned)*own, &nx, &ny, NULL);
	struct es_relocate_crowd crowd = {s, srv_cell_taken};
	if (f && es_relocate_find_place(s->places, f, &crowd, id, -1, nx, ny, &x, &y, &fd)) {
		snprintf(how + n, hl - n, "%s", *own >= 0 ? "their desk is taken: at the nearest free place" :
							    "no desk is free: at the nearest free place");
		goto at;
	}
	snprintf(how + n, hl - n, "%s", f ? "the floor is full" : "open space");
	return pos;
at:
	pos.x_cm = (int32_t)lrintf(x * 100.0f);
	pos.y_cm = (int32_t)lrintf(y * 100.0f);
	return pos;
}

/*
 * Admit an authenticated person: room state exists from here on.  Returns
 * the person id, or a negative errno.  The caller sends the WELCOME.
 */
static int admit(struct es_server *s, ENetPeer *peer, struct peer_slot *slot, const char *name,
		 const struct es_hello *h)
{
	int id = free_person_id(s);
	if (id < 0)
		return -EBUSY;
	struct person *q = &s->people[id];
	struct es_seat_memory mem = {0};
	if (s->cfg.hooks && s->cfg.hooks->join)
		s->cfg.hooks->join(s->cfg.hooks->ud, slot->key, name, &mem);
	int own;
	bool new_desk;
	char how[256];
	struct es_pos pos = seat(s, (unsigned)id, h, &mem, &own, &new_desk, how, sizeof(how));
	if (s->cfg.hooks && s->cfg.hooks->where) {
		/* a company: is their floor here? (a desk just made theirs stays theirs) */
		int w = s->cfg.hooks->where(s->cfg.hooks->ud, &pos, &s->redirect);
		if (w != 0) {
			const char *label = NULL;
			if (new_desk && es_floor_desk(s->cfg.floor, (unsigned)own, NULL, NULL, &label) == 0 &&
			    s->cfg.hooks->desk)
				s->cfg.hooks->desk(s->cfg.hooks->ud, slot->key, label);
			if (w > 0)
				srv_logf("info", "%s: their place %.2f,%.2f is on a floor hosted at %s: sent there", name,
					 pos_x(&pos), pos_y(&pos), s->redirect.addr[0]);
			else
				srv_logf("info", "%s: their place %.2f,%.2f is on a floor without a daemon yet: retry soon",
					 name, pos_x(&pos), pos_y(&pos));
			return w > 0 ? -EREMOTE : -EAGAIN;
		}
	}
	int r = es_engine_add(s->engine, (unsigned)id, pos_x(&pos), pos_y(&pos), pos_facing_rad(&pos));
	if (r < 0) {
		if (new_desk)
			es_places_own(s->places, (unsigned)own, false);
		srv_logf("warn", "cannot add %s: %s", name, strerror(-r));
		return r;
	}
	memset(q, 0, sizeof(*q));
	q->used = true;
	q->peer = peer;
	size_t nl = strlen(name);
	memcpy(q->name, name, nl + 1);
	q->name_len = (uint8_t)nl;
	q->pos = pos;
	q->flags = h->flags & (ES_PF_MUTED | ES_PF_FOCUS | ES_PF_THIN);
	q->admin_muted = srv_muted_key_index(s, slot->key) >= 0 ||
			 (s->cfg.hooks && s->cfg.hooks->admin_muted && s->cfg.hooks->admin_muted(s->cfg.hooks->ud, slot->key));
	q->desk = -1;
	q->whisper_to = -1;
	q->meeting = -1;
	q->roster = h->flags & ES_PF_ROSTER;
	es_places_sit(s->places, (unsigned)id, &q->desk, pos_x(&pos), pos_y(&pos));
	srv_apply_flags(s, (unsigned)id);
	/* decoded and range-checked with the HELLO; 0 is the default */
	if (es_engine_set_budget(s->engine, (unsigned)id, h->downlink_kbps * 1000u) < 0)
		srv_logf("warn", "%s: downlink budget %u kbit/s refused", name, h->downlink_kbps);
	q->downlink_bps = es_engine_budget(s->engine, (unsigned)id);
	const char *label = NULL;
	if (new_desk && es_floor_desk(s->cfg.floor, (unsigned)own, NULL, NULL, &label) == 0 && s->cfg.hooks &&
	    s->cfg.hooks->desk)
		s->cfg.hooks->desk(s->cfg.hooks->ud, slot->key, label);
	/* remember the place from the first moment, not only after a move or a
	 * leave: a newcomer who just sits there must find it again after a crash */
	if (s->cfg.hooks && s->cfg.hooks->place)
		s->cfg.hooks->place(s->cfg.hooks->ud, slot->key, name, pos.x_cm, pos.y_cm, pos.facing);
	slot->person = id;
	s->c.joins++;
	s->c.people++;
	snprintf(s->join_how, sizeof(s->join_how), "%s", how);
	return id;
}

/* Someone new is here: tell them who else is, and everyone else about them. */
static void announce(struct es_server *s, unsigned id)
{
	struct person *q = &s->people[id];
	if (q->roster)
		srv_send_roster(s, id);
	/* everyone else hears of the newcomer in the next presence batch: one
	 * message for many joins, not one per join (a join storm is N^2 otherwise) */
	q->announce = true;
	if (q->admin_muted)
		srv_tell_admin(s, id, 0); /* an admin's mute outlasts a reconnect */
	srv_logf("info", "%s joined as #%u at %.2f,%.2f, %s (%u here)", q->name, id, q->pos.x_cm / 100.0,
	      q->pos.y_cm / 100.0, s->join_how, s->c.people);
}

/*
 * A company's daemon that does not host the joiner's floor answers message
 * 1 with a message 2 whose payload is ES_MSG_REDIRECT (s->redirect) in place
 * of the WELCOME: only this client can read where its floor is.  As many of
 * the addresses as fit the payload; then the connection closes.
 */
static void redirect_in_msg2(struct es_server *s, ENetPeer *peer, struct es_noise *hs)
{
	uint8_t reply[ES_NOISE_MSG2_MAX], rbuf[ES_NOISE_PAYLOAD_MAX];
	struct es_msg m = {.type = ES_MSG_REDIRECT, .u.redirect = s->redirect};
	int rn;
	while ((rn = es_msg_encode(&m, rbuf, sizeof(rbuf))) == -ENOSPC && m.u.redirect.naddr > 1)
		m.u.redirect.naddr--;
	int n = rn < 0 ? rn : es_noise_write_msg2(hs, rbuf, (size_t)rn, reply, sizeof(reply));
	es_noise_clear(hs);
	if (n >= 0) {
		struct es_msg m2 = {.type = ES_MSG_HANDSHAKE2, .u.blob = {(uint16_t)n, reply}};
		(void)srv_send_msg(s, peer, &m2);
		s->c.redirects++;
	} else
		s->c.handshake_failures++;
	enet_peer_disconnect_later(peer, 0);
}

/*
 * Answer one queued handshake message 1.  Cheap checks come first (room
 * for one more), the Diffie-Hellman work after; nothing about the person
 * exists until the handshake and the authorisation both succeed.
 */
static void handshake_finish(struct es_server *s, ENetPeer *peer, struct peer_slot *slot, struct es_noise *hs,
			     const uint8_t client[32], const uint8_t ts[ES_TAI64N_LEN], struct es_join_payload *jp);

static void handshake(struct es_server *s, ENetPeer *peer, struct peer_slot *slot)
{
	slot->st = SLOT_IDLE;
	if (free_person_id(s) < 0) {
		busy(s, peer, false);
		return;
	}
	s->c.handshakes++;
	struct es_noise hs;
	uint8_t client[32], ts[ES_TAI64N_LEN], payload[ES_NOISE_PAYLOAD_MAX];
	struct es_join_payload jp;
	int n;
	if (es_noise_responder_init(&hs, &s->key, (const uint8_t *)ES_NOISE_PROLOGUE, sizeof(ES_NOISE_PROLOGUE) - 1) < 0 ||
	    (n = es_noise_read_msg1(&hs, slot->msg1, slot->msg1_len, client, ts, payload, sizeof(payload))) < 0 ||
	    es_join_payload_decode(&jp, payload, (size_t)n) < 0) {
		s->c.handshake_failures++;
		es_noise_clear(&hs);
		sodium_memzero(payload, sizeof(payload));
		refuse(s, peer, ES_REFUSED_BAD_HANDSHAKE);
		return;
	}
	handshake_finish(s, peer, slot, &hs, client, ts, &jp);
	/* the decrypted payload holds the invite secret too, not only jp (the worker's job is wiped at release) */
	sodium_memzero(&jp, sizeof(jp));
	sodium_memzero(payload, sizeof(payload));
}

/*
 * The rest of a handshake once message 1 has been read (here or by the
 * worker): version, authorisation, admission, message 2.  hs is cleared.
 */
static void handshake_finish(struct es_server *s, ENetPeer *peer, struct peer_slot *slot, struct es_noise *hs,
			     const uint8_t client[32], const uint8_t ts[ES_TAI64N_LEN], struct es_join_payload *jp)
{
	uint8_t reply[ES_NOISE_MSG2_MAX];
	int n;
	if (jp->hello.version != ES_PROTO_VERSION) {
		s->c.handshake_failures++;
		refuse_proved(s, peer, hs, ES_REFUSED_VERSION);
		return;
	}
	char asked[ES_NAME_MAX + 1], name[ES_NAME_MAX + 1];
	memcpy(asked, jp->hello.name, jp->hello.name_len);
	asked[jp->hello.name_len] = 0;
	memcpy(name, asked, sizeof(name));
	if (s->cfg.hooks && s->cfg.hooks->authorize) {
		int r = s->cfg.hooks->authorize(s->cfg.hooks->ud, client, ts, asked, jp->has_secret ? jp->secret : NULL, name);
		if (r == -EAGAIN) {
			/* a company's invite is being checked in etcd: come back in a moment */
			sodium_memzero(jp, sizeof(*jp));
			es_noise_clear(hs);
			busy(s, peer, true);
			return;
		}
		if (r < 0) {
			s->c.refused_auth++;
			srv_logf("info", "refused a key asking to be '%s': reason %d", asked, -r);
			sodium_memzero(jp, sizeof(*jp));
			refuse_proved(s, peer, hs, (uint8_t)-r);
			return;
		}
	}
	sodium_memzero(jp->secret, sizeof(jp->secret)); /* spent; the HELLO is still needed */
	/* the same key again (a reconnect the old session has not noticed): the new session wins */
	for (size_t i = 0; i < s->host->peerCount; i++) {
		struct peer_slot *o = &s->slots[i];
		/* public keys: a plain look at 8 bytes first (see find_key in state.c) */
		if (o != slot && o->st == SLOT_AUTHED && memcmp(o->key, client, 8) == 0 &&
		    sodium_memcmp(o->key, client, 32) == 0) {
			struct es_msg bye = {.type = ES_MSG_BYE, .u.bye.reason = ES_BYE_REPLACED};
			(void)srv_send_msg(s, &s->host->peers[i], &bye);
			srv_person_leave(s, o);
			o->st = SLOT_IDLE;
			enet_peer_disconnect_later(&s->host->peers[i], 0);
			s->c.replaced++;
		}
	}
	memcpy(slot->key, client, 32);
	int id = admit(s, peer, slot, name, &jp->hello);
	if (id == -EREMOTE) {
		redirect_in_msg2(s, peer, hs);
		return;
	}
	if (id < 0) {
		es_noise_clear(hs);
		if (id == -EBUSY || id == -EAGAIN)
			busy(s, peer, id == -EAGAIN);
		else
			enet_peer_disconnect_later(peer, 0);
		return;
	}
	struct es_msg w = {.type = ES_MSG_WELCOME};
	w.u.welcome = (struct es_welcome){.version = ES_PROTO_VERSION, .id = (uint16_t)id, .pos = s->people[id].pos,
					  .has_reset = true};
	/* inside message 2: only this client learns what a reset of its session will carry */
	es_front_door_reset_token(s->door, peer, w.u.welcome.reset_token);
	uint8_t wbuf[64];
	int wn = es_msg_encode(&w, wbuf, sizeof(wbuf));
	n = wn < 0 ? wn : es_noise_write_msg2(hs, wbuf, (size_t)wn, reply, sizeof(reply));
	if (n < 0 || es_noise_split(hs, &slot->tx, &slot->rx) < 0) {
		s->c.handshake_failures++;
		es_noise_clear(hs);
		srv_person_leave(s, slot);
		enet_peer_disconnect_later(peer, 0);
		return;
	}
	es_noise_clear(hs);
	struct es_msg m2 = {.type = ES_MSG_HANDSHAKE2, .u.blob = {(uint16_t)n, reply}};
	(void)srv_send_msg(s, peer, &m2); /* still in the clear: slot is not yet AUTHED */
	slot->st = SLOT_AUTHED;
	slot->authed_flush = s->flushes;
	announce(s, (unsigned)id);
}

/*
 * Take back the oldest handshake the worker has read, if any, and finish
 * it, unless its connection went away meanwhile (gen).  Returns false if
 * none was ready.
 */
static bool handshake_collect(struct es_server *s)
{
	struct es_hs_job *j = s->hsw ? es_hs_worker_done(s->hsw) : NULL;
	if (!j)
		return false;
	ENetPeer *peer = &s->host->peers[j->peer];
	struct peer_slot *slot = &s->slots[j->peer];
	if (slot->gen == j->gen && slot->st == SLOT_WORKING && peer->state == ENET_PEER_STATE_CONNECTED) {
		slot->st = SLOT_IDLE;
		if (j->result < 0) {
			s->c.handshake_failures++;
			refuse(s, peer, ES_REFUSED_BAD_HANDSHAKE);
		} else if (free_person_id(s) < 0)
			busy(s, peer, false);
		else
			handshake_finish(s, peer, slot, &j->hs, j->client, j->ts, &j->jp);
	}
	es_hs_worker_release(s->hsw);
	return true;
}

/* Answer the oldest queued handshake, if any.  Returns false if none. */
static bool handshake_one(struct es_server *s)
{
	size_t npeers = s->host->peerCount;
	while (s->hs_count) {
		struct es_hs_job *j = NULL;
		if (s->hsw && !(j = es_hs_worker_job(s->hsw)))
			return false; /* the worker has enough: the queue waits */
		unsigned i = s->hs_queue[s->hs_head];
		s->hs_head = (unsigned)((s->hs_head + 1) % npeers);
		s->hs_count--;
		ENetPeer *peer = &s->host->peers[i];
		struct peer_slot *slot = &s->slots[i];
		if (slot->st != SLOT_QUEUED || peer->state != ENET_PEER_STATE_CONNECTED)
			continue;
		if (!j) {
			handshake(s, peer, slot);
			return true;
		}
		if (free_person_id(s) < 0) {
			slot->st = SLOT_IDLE;
			busy(s, peer, false);
			return true;
		}
		s->c.handshakes++;
		j->peer = i;
		j->gen = slot->gen;
		j->msg1_len = slot->msg1_len;
		memcpy(j->msg1, slot->msg1, slot->msg1_len);
		slot->st = SLOT_WORKING;
		es_hs_worker_submit(s->hsw);
		return true;
	}
	return false;
}

/* One step of handshake work in the slack: finish one the worker read, or start one.  False if nothing to do. */
bool srv_handshake_step(struct es_server *s)
{
	return handshake_collect(s) || handshake_one(s);
}

/*
 * Handshakes cost ~0.2 ms of X25519 each.  A few are answered every tick
 * whatever the load, so joins always progress; the rest are answered
 * between ticks while the next deadline is far enough away (see
 * es_server_run), so a join storm uses the tick's slack and never delays
 * the audio of people already talking.
 */
void srv_run_handshakes(struct es_server *s)
{
	unsigned budget = s->cfg.handshakes_per_tick ? s->cfg.handshakes_per_tick : HS_MIN_PER_TICK;
	if (budget > HS_MIN_PER_TICK)
		budget = HS_MIN_PER_TICK;
	if (s->hsw) {
		/* finishing costs two X25519 here; handing over costs a copy */
		while (budget && handshake_collect(s))
			budget--;
		while (handshake_one(s))
			;
		return;
	}
	while (budget-- && handshake_one(s))
		;
}

/*
 * Before the handshake only message 1 is accepted, once: queued for its
 * turn (run_handshakes), or refused at once when the floor is full or the
 * address asks too often (no X25519 spent on either).
 */
void srv_handshake_queue(struct es_server *s, ENetPeer *peer, struct peer_slot *slot, const struct es_msg *m)
{
	if (m->type != ES_MSG_HANDSHAKE1 || slot->st != SLOT_IDLE) {
		s->c.drop_unjoined++;
		return;
	}
	if (m->u.blob.len > sizeof(slot->msg1)) {
		s->c.drop_oversize++;
		return;
	}
	if (s->c.people + s->hs_count + (s->hsw ? es_hs_worker_inflight(s->hsw) : 0) >= s->cfg.max_people) {
		busy(s, peer, false); /* full, counting those already queued: say so at once, no X25519 */
		return;
	}
	if (!es_front_door_handshake_ok(s->door, peer->address.host)) {
		s->c.drop_rate++;
		refuse(s, peer, ES_REFUSED_RATE);
		return;
	}
	memcpy(slot->msg1, m->u.blob.data, m->u.blob.len);
	slot->msg1_len = m->u.blob.len;
	slot->st = SLOT_QUEUED;
	size_t npeers = s->host->peerCount;
	s->hs_queue[(s->hs_head + s->hs_count) % npeers] = (unsigned)(peer - s->host->peers);
	s->hs_count++;
}

void srv_on_connect(struct es_server *s, ENetPeer *peer)
{
	/* voice must not be throttled: our own loss handling is FEC and PLC */
	enet_peer_throttle_configure(peer, 5000, ENET_PEER_PACKET_THROTTLE_SCALE, 0);
	peer->packetThrottle = ENET_PEER_PACKET_THROTTLE_SCALE;
	enet_peer_timeout(peer, 0, 3000, 6000);
	/* a silent client costs only pings: ours every 2 s, theirs every 1 s */
	enet_peer_ping_interval(peer, 2000);
	struct peer_slot *slot = peer->data;
	slot->gen++;
	slot->connected_ms = es_now_ns() / 1000000;
	slot->person = -1;
	slot->st = SLOT_IDLE;
	/* the client checks this against the key it pinned before it says anything */
	struct es_msg k = {.type = ES_MSG_SERVER_KEY, .u.server_key.version = ES_PROTO_VERSION};
	memcpy(k.u.server_key.key, s->key.pub, 32);
	(void)srv_send_msg(s, peer, &k);
}

void srv_reap_prejoin(struct es_server *s)
{
	int64_t now_ms = es_now_ns() / 1000000;
	for (size_t i = 0; i < s->host->peerCount; i++) {
		ENetPeer *peer = &s->host->peers[i];
		struct peer_slot *slot = &s->slots[i];
		if (peer->state == ENET_PEER_STATE_DISCONNECTED || slot->person >= 0)
			continue;
		/* a handshake waiting in our queue is our delay, not theirs: give it longer */
		int64_t limit = slot->st == SLOT_QUEUED || slot->st == SLOT_WORKING ? PREJOIN_QUEUED_MS : PREJOIN_MS;
		if (peer->state == ENET_PEER_STATE_CONNECTED && now_ms - slot->connected_ms > limit) {
			s->c.prejoin_timeouts++;
			enet_peer_disconnect_now(peer, 0); /* tells the peer, then frees the slot */
		}
	}
}
