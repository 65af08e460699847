/* SPDX-License-Identifier: MIT */
/*
 * Presence: who is where, talking or muted, sent as deltas every
 * PRESENCE_EVERY ticks to those who asked for it, each as their room shows
 * it (closed rooms keep their meetings to themselves).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server-private.h"

/* Flags as presence shows them: the client's, talking, and an admin's mute. */
uint8_t srv_presence_flags(const struct person *q)
{
	return (uint8_t)(q->flags | (q->talking ? ES_PF_TALKING : 0) |
			 (q->admin_muted ? ES_PF_MUTED | ES_PF_ADMIN_MUTED : 0));
}

/*
 * Presence and closed rooms.  Whoever is in a room whose doors are all
 * closed is, to everyone outside that room, "in a meeting" (ES_PF_MEETING)
 * and nothing else: not talking, muted or in focus, and no update at all
 * while only those change, so that not even the timing of who talks leaks
 * out.  Their place still shows (the room they are in).  Those inside the
 * same room see each other as they are.  The view depends on the
 * observer's room, so a batch is built once per room that has observers
 * in it, plus once for everyone else.
 */
int srv_closed_room(const struct es_floor *f, const struct es_pos *p)
{
	if (!f)
		return -1;
	int room = es_floor_room_at(f, pos_x(p), pos_y(p));
	/* a room without doors is not a meeting room */
	return room >= 0 && es_floor_room_closed(f, (unsigned)room) ? room : -1;
}

/* Subject i (in closed room `room`, or -1) as an observer in closed room `from` (or -1) sees them. */
void srv_presence_view(const struct es_server *s, unsigned i, int room, int from, uint8_t kind,
			  struct es_presence_entry *e)
{
	const struct person *q = &s->people[i];
	*e = (struct es_presence_entry){
		.id = (uint16_t)i,
		.kind = kind,
		.flags = room >= 0 && room != from ? ES_PF_MEETING : srv_presence_flags(q),
		.pos = q->pos,
	};
	if (kind == ES_PRESENCE_JOIN) {
		e->name_len = q->name_len;
		e->name = q->name;
	}
}

/* Send n entries to one person, ES_PRESENCE_MAX a message. */
static void send_presence(struct es_server *s, unsigned to, const struct es_presence_entry *e, unsigned n)
{
	struct es_msg m = {.type = ES_MSG_PRESENCE};
	for (unsigned off = 0; off < n; off += ES_PRESENCE_MAX) {
		unsigned k = n - off < ES_PRESENCE_MAX ? n - off : ES_PRESENCE_MAX;
		memcpy(m.u.presence.entry, e + off, k * sizeof(*e));
		m.u.presence.count = (uint8_t)k;
		(void)srv_send_msg(s, s->people[to].peer, &m);
	}
}

/* Tell someone who is here, as their room shows it (a newcomer; someone who changed rooms). */
void srv_send_roster(struct es_server *s, unsigned to)
{
	int from = srv_closed_room(s->cfg.floor, &s->people[to].pos);
	unsigned n = 0;
	for (unsigned i = 0; i < s->cfg.max_people; i++)
		if (s->people[i].used)
			srv_presence_view(s, i, srv_closed_room(s->cfg.floor, &s->people[i].pos), from, ES_PRESENCE_JOIN,
				      &s->pres_e[n++]);
	send_presence(s, to, s->pres_e, n);
}

enum {
	PRES_NEW = 1,  /* joined: a JOIN entry */
	PRES_TRUE = 2, /* changed as those who see them as they are see it */
	PRES_OUT = 4,  /* changed as those outside their closed room see it */
};

/* Heapsort: in place and without malloc (glibc's qsort may allocate), on the tick thread. */
static void sift(uint32_t *a, size_t root, size_t n)
{
	for (size_t child; (child = 2 * root + 1) < n; root = child) {
		if (child + 1 < n && a[child + 1] > a[child])
			child++;
		if (a[root] >= a[child])
			return;
		uint32_t t = a[root];
		a[root] = a[child];
		a[child] = t;
	}
}

static void sort_u32(uint32_t *a, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift(a, i, n);
	for (size_t end = n; end > 1; end--) {
		uint32_t t = a[0];
		a[0] = a[end - 1];
		a[end - 1] = t;
		sift(a, 0, end - 1);
	}
}

/*
 * Presence deltas: places and flags that changed, talking edges, leaves,
 * to those who asked for presence at join (a UI draws it; bots need not),
 * each as their room shows it (see closed_room).
 */
void srv_presence_batch(struct es_server *s)
{
	unsigned nchanged = 0, nobs = 0;
	s->c.talking = s->c.muted = 0;
	for (unsigned i = 0; i < s->cfg.max_people; i++) {
		struct person *q = &s->people[i];
		if (!q->used)
			continue;
		bool muted = q->flags & ES_PF_MUTED || q->admin_muted;
		bool talking = !muted && q->last_voice_tick && s->tick - q->last_voice_tick < TALK_HOLD_TICKS;
		s->c.talking += talking;
		s->c.muted += muted;
		if (talking != q->talking) {
			q->talking = talking;
			q->dirty = true;
		}
		int room = srv_closed_room(s->cfg.floor, &q->pos);
		s->pres_room[i] = room;
		uint8_t out_flags = room >= 0 ? ES_PF_MEETING : srv_presence_flags(q);
		bool out_changed = out_flags != q->out_flags || q->pos.x_cm != q->out_pos.x_cm ||
				   q->pos.y_cm != q->out_pos.y_cm || q->pos.facing != q->out_pos.facing;
		uint8_t chg = 0;
		if (q->announce)
			chg = PRES_NEW | PRES_TRUE | PRES_OUT;
		else {
			/* out of a meeting (walked out, a door opened): those outside saw only "meeting" */
			if (q->dirty || (room < 0 && out_changed))
				chg |= PRES_TRUE;
			if (out_changed)
				chg |= PRES_OUT;
			if (q->roster && room != q->meeting)
				q->resync = true;
		}
		s->pres_chg[i] = chg;
		if (chg)
			s->pres_changed[nchanged++] = i;
		q->announce = q->dirty = false;
		q->meeting = room;
		q->out_flags = out_flags;
		q->out_pos = q->pos;
		if (q->roster)
			s->pres_order[nobs++] = (uint32_t)(room + 1) << 16 | i;
	}
	if (nchanged || s->nleaves) {
		/* observers grouped by their room (most are in none: one group) */
		sort_u32(s->pres_order, nobs);
		for (unsigned g = 0; g < nobs;) {
			int from = (int)(s->pres_order[g] >> 16) - 1;
			unsigned end = g;
			while (end < nobs && s->pres_order[end] >> 16 == s->pres_order[g] >> 16)
				end++;
			unsigned n = 0;
			for (unsigned k = 0; k < s->nleaves; k++)
				s->pres_e[n++] = (struct es_presence_entry){.id = (uint16_t)s->leaves[k], .kind = ES_PRESENCE_LEAVE};
			for (unsigned k = 0; k < nchanged; k++) {
				unsigned i = s->pres_changed[k];
				int room = s->pres_room[i];
				bool outside = room >= 0 && room != from;
				if (s->pres_chg[i] & (outside ? PRES_OUT : PRES_TRUE))
					srv_presence_view(s, i, room, from,
						      s->pres_chg[i] & PRES_NEW ? ES_PRESENCE_JOIN : ES_PRESENCE_UPDATE,
						      &s->pres_e[n++]);
			}
			/* each message is built once and sealed for every observer of the group */
			struct es_msg m = {.type = ES_MSG_PRESENCE};
			for (unsigned off = 0; off < n; off += ES_PRESENCE_MAX) {
				unsigned k = n - off < ES_PRESENCE_MAX ? n - off : ES_PRESENCE_MAX;
				memcpy(m.u.presence.entry, s->pres_e + off, k * sizeof(*s->pres_e));
				m.u.presence.count = (uint8_t)k;
				for (unsigned o = g; o < end; o++)
					(void)srv_send_msg(s, s->people[s->pres_order[o] & 0xFFFF].peer, &m);
			}
			g = end;
		}
	}
	s->nleaves = 0;
	for (unsigned o = 0; o < nobs; o++) {
		unsigned i = s->pres_order[o] & 0xFFFF;
		if (s->people[i].resync) {
			s->people[i].resync = false;
			srv_send_roster(s, i);
		}
	}
}
