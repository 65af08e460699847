/* SPDX-License-Identifier: MIT */
/*
 * Moderation: what the admin socket (admin.c) may do to people and rooms:
 * look them up, mute (by key, across reconnects), move, remove, lock and
 * unlock rooms, and keep own desks.  Tick thread only.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "server-private.h"

unsigned es_server_max_people(const struct es_server *s)
{
	return s->cfg.max_people;
}

int es_server_person(const struct es_server *s, unsigned id, struct es_server_person *out)
{
	if (id >= s->cfg.max_people || !s->people[id].used)
		return 0;
	const struct person *q = &s->people[id];
	const struct peer_slot *slot = q->peer->data;
	out->id = id;
	memcpy(out->name, q->name, sizeof(out->name));
	memcpy(out->key, slot->key, 32);
	out->pos = q->pos;
	out->flags = srv_presence_flags(q);
	return 1;
}

int es_server_find(const struct es_server *s, const char *name)
{
	for (unsigned i = 0; i < s->cfg.max_people; i++)
		if (s->people[i].used && strcmp(s->people[i].name, name) == 0)
			return (int)i;
	return -ENOENT;
}

int es_server_mute_key(struct es_server *s, const uint8_t key[32], bool muted)
{
	int k = srv_muted_key_index(s, key);
	if (muted && k < 0) {
		if (s->nmuted >= s->cfg.max_people)
			return -ENOSPC;
		memcpy(s->muted_keys[s->nmuted++], key, 32);
	} else if (!muted && k >= 0) {
		memcpy(s->muted_keys[k], s->muted_keys[--s->nmuted], 32);
	}
	return 0;
}

int es_server_admin_mute(struct es_server *s, unsigned id, bool muted)
{
	if (id >= s->cfg.max_people || !s->people[id].used)
		return -ENOENT;
	struct person *q = &s->people[id];
	const struct peer_slot *slot = q->peer->data;
	int r = es_server_mute_key(s, slot->key, muted);
	if (r < 0)
		return r;
	q->admin_muted = muted;
	srv_apply_flags(s, id);
	q->dirty = true;
	srv_tell_admin(s, id, 0);
	return 0;
}

int es_server_admin_move(struct es_server *s, unsigned id, const struct es_pos *pos, enum es_place_verdict *why)
{
	*why = ES_PLACE_OK;
	if (id >= s->cfg.max_people || !s->people[id].used)
		return -ENOENT;
	if (pos->facing >= 3600)
		return -EINVAL;
	/* an admin may put someone into a closed room (a meeting), never into a wall, a table or onto a taken desk */
	int room = s->cfg.floor ? es_floor_room_at(s->cfg.floor, pos_x(pos), pos_y(pos)) : -1;
	*why = es_places_check(s->places, (int)id, room, -1, pos_x(pos), pos_y(pos), false);
	if (*why != ES_PLACE_OK)
		return -EINVAL;
	int r = srv_move_elsewhere(s, id, pos);
	if (r != 0)
		return r > 0 ? 0 : r; /* sent to the daemon of that floor, or -EAGAIN: it has none yet */
	r = es_engine_move(s->engine, id, pos_x(pos), pos_y(pos), pos_facing_rad(pos));
	if (r < 0)
		return r;
	srv_moved_to(s, id, pos);
	srv_tell_admin(s, id, ES_ADMIN_MOVED);
	return 0;
}

int es_server_room_set(struct es_server *s, unsigned room, bool open)
{
	struct es_floor *f = s->cfg.floor;
	if (!f || room >= es_floor_room_count(f))
		return -ENOENT;
	const unsigned *doors;
	int nd = es_floor_room_doors(f, room, &doors);
	if (nd <= 0)
		return -ENODEV;
	/* an admin's close is a lock: people inside stay, nobody opens it but an admin */
	es_places_lock_room(s->places, room, !open);
	int changed = 0;
	for (int i = 0; i < nd; i++)
		changed += srv_door_change(s, doors[i], open);
	return changed;
}

bool es_server_room_locked(const struct es_server *s, unsigned room)
{
	return es_places_room_locked(s->places, room);
}

int es_server_desk_own(struct es_server *s, const char *label, bool owned)
{
	int d = s->cfg.floor ? es_floor_desk_find(s->cfg.floor, label) : -ENOENT;
	if (d < 0)
		return -ENOENT;
	es_places_own(s->places, (unsigned)d, owned);
	return 0;
}

void es_server_desks_disown_all(struct es_server *s)
{
	es_places_disown_all(s->places);
}

int es_server_desk_sitter(const struct es_server *s, const char *label)
{
	int d = s->cfg.floor ? es_floor_desk_find(s->cfg.floor, label) : -1;
	return d < 0 ? -1 : es_places_occupant(s->places, (unsigned)d);
}

int es_server_admin_remove(struct es_server *s, unsigned id, uint8_t bye_reason)
{
	if (id >= s->cfg.max_people || !s->people[id].used)
		return -ENOENT;
	ENetPeer *peer = s->people[id].peer;
	struct peer_slot *slot = peer->data;
	struct es_msg bye = {.type = ES_MSG_BYE, .u.bye.reason = bye_reason};
	(void)srv_send_msg(s, peer, &bye);
	srv_person_leave(s, slot);
	slot->st = SLOT_IDLE;
	enet_peer_disconnect_later(peer, 0);
	return 0;
}
