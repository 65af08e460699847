/* SPDX-License-Identifier: MIT */
/*
 * The office: what an admitted member asks for, once their sealed envelope
 * is opened (audio, moves, state, doors, knocks, whispers, the floor plan,
 * loss reports), within their request budget; and what happens when they
 * leave; what an admin imposes, told to them; and a new floor plan applied
 * (es_server_set_floor: relocate.h decides, this file moves people).
 * Doors change only through srv_door_change, whoever asks.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "relocate.h"
#include "server-private.h"

/* Tell the engine what a person's flags mean for the mix. */
void srv_apply_flags(struct es_server *s, unsigned id)
{
	const struct person *q = &s->people[id];
	unsigned f = (q->flags & ES_PF_MUTED || q->admin_muted ? ES_ENGINE_MUTED : 0) |
		     (q->flags & ES_PF_FOCUS ? ES_ENGINE_FOCUS : 0) | (q->flags & ES_PF_THIN ? ES_ENGINE_THIN : 0);
	int r = es_engine_set_flags(s->engine, id, f);
	if (r < 0)
		srv_logf("warn", "cannot set flags of #%u: %s", id, strerror(-r));
}

/*
 * Uplink loss, as the client needs it to tune its FEC: frames expected vs
 * received within talk spurts.  The sequence counts capture time, sent or
 * not, so the gap before a spurt's first frame (ES_UP_START), or any gap
 * longer than LINK_GAP_MAX frames, is silence, not loss.  Late frames count
 * as received (the jitter buffer may still use them).  Every LINK_FRAMES
 * expected frames (about 2 s of talking) the person is told the figure.
 */
#define LINK_FRAMES 100
#define LINK_GAP_MAX 10

static void count_uplink(struct es_server *s, unsigned id, uint32_t seq, uint8_t flags)
{
	struct person *q = &s->people[id];
	uint32_t ahead = seq - q->up_max_seq;
	if (!q->up_have || flags & ES_UP_START || (ahead > LINK_GAP_MAX && ahead < UINT32_MAX / 2)) {
		q->up_have = true;
		q->up_max_seq = seq;
		q->up_expected++;
		q->up_received++;
	} else if (ahead > 0 && ahead <= LINK_GAP_MAX) {
		q->up_max_seq = seq;
		q->up_expected += ahead;
		q->up_received++;
	} else if (q->up_received < q->up_expected) {
		q->up_received++; /* late or duplicate: cannot tell, and rare */
	}
	if (q->up_expected < LINK_FRAMES)
		return;
	struct es_msg m = {.type = ES_MSG_LINK};
	uint32_t lost = q->up_expected - q->up_received;
	m.u.link.loss_permille = (uint16_t)(lost * 1000u / q->up_expected);
	m.u.link.frames = (uint16_t)q->up_expected;
	(void)srv_send_msg(s, q->peer, &m);
	q->up_expected = q->up_received = 0;
}

/* Index of key among the admin-muted keys, or -1. */
int srv_muted_key_index(const struct es_server *s, const uint8_t key[32])
{
	for (unsigned i = 0; i < s->nmuted; i++)
		if (sodium_memcmp(s->muted_keys[i], key, 32) == 0)
			return (int)i;
	return -1;
}

/* Tell someone what an admin imposes on them (ES_MSG_ADMIN). */
void srv_tell_admin(struct es_server *s, unsigned id, uint8_t extra)
{
	struct person *q = &s->people[id];
	struct es_msg m = {.type = ES_MSG_ADMIN};
	m.u.admin.flags = (uint8_t)((q->admin_muted ? ES_ADMIN_MUTED : 0) | extra);
	m.u.admin.pos = q->pos;
	(void)srv_send_msg(s, q->peer, &m);
}

static void whisper_notice(struct es_server *s, unsigned to, unsigned from, bool on);

void srv_person_leave(struct es_server *s, struct peer_slot *slot)
{
	es_cipher_clear(&slot->tx);
	es_cipher_clear(&slot->rx);
	if (slot->person < 0)
		return;
	unsigned id = (unsigned)slot->person;
	struct person *q = &s->people[id];
	srv_logf("info", "%s left (#%u)", q->name, id);
	es_places_leave(s->places, id, &q->desk);
	if (q->whisper_to >= 0)
		whisper_notice(s, (unsigned)q->whisper_to, id, false);
	for (unsigned i = 0; i < s->cfg.max_people; i++)
		if (s->people[i].used && s->people[i].whisper_to == (int)id)
			s->people[i].whisper_to = -1; /* the engine forgets whispers to the leaver */
	if (s->cfg.hooks && s->cfg.hooks->place)
		s->cfg.hooks->place(s->cfg.hooks->ud, slot->key, q->name, q->pos.x_cm, q->pos.y_cm, q->pos.facing);
	es_engine_remove(s->engine, id);
	if (q->budget_low)
		s->c.budget_reduced--;
	memset(q, 0, sizeof(*q));
	slot->person = -1;
	s->leaves[s->nleaves++] = id;
	s->c.leaves++;
	s->c.people--;
}

/*
 * Before a whisper or a knock reaches someone who gets no presence (a bot,
 * a headless client): who `from` is, so they are told a name, not
 * "someone".
 */
static void introduce(struct es_server *s, unsigned to, unsigned from)
{
	if (s->people[to].roster || !s->people[from].used)
		return;
	struct es_msg m = {.type = ES_MSG_PRESENCE};
	m.u.presence.count = 1;
	srv_presence_view(s, from, srv_closed_room(s->cfg.floor, &s->people[from].pos),
		      srv_closed_room(s->cfg.floor, &s->people[to].pos), ES_PRESENCE_JOIN, &m.u.presence.entry[0]);
	(void)srv_send_msg(s, s->people[to].peer, &m);
}

/* Tell `to` that `from` whispers to them now (or stopped). */
static void whisper_notice(struct es_server *s, unsigned to, unsigned from, bool on)
{
	if (to >= s->cfg.max_people || !s->people[to].used)
		return;
	if (on)
		introduce(s, to, from);
	struct es_msg m = {.type = ES_MSG_WHISPER, .u.whisper = {(int32_t)from, on ? 1 : 0}};
	(void)srv_send_msg(s, s->people[to].peer, &m);
}

/*
 * A move the floor allows (places.h): onto a cell one can stand on, not
 * into a room whose doors are all closed or that an admin locked, from
 * outside it (knock first), and not onto a desk someone sits at.
 */
static enum es_place_verdict move_check(const struct es_server *s, unsigned id, float x, float y)
{
	const struct person *q = &s->people[id];
	int from = s->cfg.floor ? es_floor_room_at(s->cfg.floor, pos_x(&q->pos), pos_y(&q->pos)) : -1;
	return es_places_check(s->places, (int)id, from, -1, x, y, false);
}

/* Someone is somewhere else now: mixer done by the caller; desk, presence and memory here. */
void srv_moved_to(struct es_server *s, unsigned id, const struct es_pos *pos)
{
	struct person *q = &s->people[id];
	q->pos = *pos;
	q->dirty = true;
	es_places_sit(s->places, id, &q->desk, pos_x(pos), pos_y(pos));
	const struct peer_slot *slot = q->peer->data;
	if (s->cfg.hooks && s->cfg.hooks->place)
		s->cfg.hooks->place(s->cfg.hooks->ud, slot->key, q->name, q->pos.x_cm, q->pos.y_cm, q->pos.facing);
}

/* Send the floor plan's text in pieces, to one person who asked for it. */
void srv_send_floor(struct es_server *s, ENetPeer *peer)
{
	if (!s->cfg.floor)
		return;
	size_t len;
	const char *text = es_floor_to_text(s->cfg.floor, &len);
	if (!text || len == 0 || len > ES_FLOOR_TEXT_MAX)
		return;
	for (size_t off = 0; off < len; off += ES_FLOOR_CHUNK) {
		size_t n = len - off < ES_FLOOR_CHUNK ? len - off : ES_FLOOR_CHUNK;
		struct es_msg m = {.type = ES_MSG_FLOOR};
		m.u.floor = (struct es_floor_chunk){(uint32_t)len, (uint32_t)off, (uint16_t)n, (const uint8_t *)text + off};
		(void)srv_send_msg(s, peer, &m);
	}
	/* doors as they are now, not as the text first drew them */
	unsigned nd = es_floor_door_count(s->cfg.floor);
	static struct es_door_state ds[ES_DOORS_MAX];
	for (unsigned i = 0; i < nd;) {
		unsigned k = 0;
		for (; k < ES_DOORS_MAX && i < nd; k++, i++)
			ds[k] = (struct es_door_state){(uint16_t)i, es_floor_door_is_open(s->cfg.floor, i)};
		struct es_msg m = {.type = ES_MSG_DOORS, .u.doors = {(uint16_t)k, ds, NULL}};
		(void)srv_send_msg(s, peer, &m);
	}
}

/* Tell everyone the doors that changed since the last time, as they are now. */
void srv_broadcast_doors(struct es_server *s)
{
	struct es_door_state st[DOORS_PENDING_MAX];
	unsigned n = 0, nd = s->cfg.floor ? es_floor_door_count(s->cfg.floor) : 0;
	for (unsigned i = 0; i < s->ndoors_pending; i++)
		if (s->doors_pending[i] < nd)
			st[n++] = (struct es_door_state){s->doors_pending[i], es_floor_door_is_open(s->cfg.floor, s->doors_pending[i])};
	s->ndoors_pending = 0;
	if (n == 0)
		return;
	struct es_msg m = {.type = ES_MSG_DOORS, .u.doors = {(uint16_t)n, st, NULL}};
	srv_broadcast(s, &m, -1);
}

/*
 * One request of kind k from person id, within their budget?  What is over
 * it is dropped, counted, and logged at most a few lines every 2 s for the
 * whole floor (a member flooding requests must not flood the log either).
 */
static bool request_ok(struct es_server *s, unsigned id, enum es_request k)
{
	struct person *q = &s->people[id];
	int64_t now = es_now_ns() / 1000000;
	if (es_bucket_take(&q->budget[k], &s->cfg.limits.request[k], now))
		return true;
	s->c.requests_refused[k]++;
	static struct es_log_ratelimit rl;
	es_log_rl(&rl, (uint64_t)now, ES_LOG_WARN, "%s (#%u) asks too often (%s): refused", q->name, id,
		  es_request_name(k));
	return false;
}

/* The floor plan, once per session and plan version: asking again costs them nothing and us 4 MB at most. */
static void handle_floor_get(struct es_server *s, unsigned id)
{
	struct person *q = &s->people[id];
	if (q->floor_sent == s->floor_version + 1) {
		s->c.requests_refused[ES_REQ_FLOOR_GET]++;
		return;
	}
	q->floor_sent = s->floor_version + 1;
	srv_send_floor(s, q->peer);
}

/*
 * The one way a door changes, whoever asks (a person, an admin): the
 * floor's state, and everyone's map after the tick (after_tick), as it is
 * then.  False if it was already so.
 */
bool srv_door_change(struct es_server *s, unsigned door, bool open)
{
	struct es_floor *f = s->cfg.floor;
	if (!f || es_floor_door_is_open(f, door) == open || es_floor_door_set_open(f, door, open) < 0)
		return false;
	s->c.doors_changed++;
	for (unsigned i = 0; i < s->ndoors_pending; i++)
		if (s->doors_pending[i] == door)
			return true;
	if (s->ndoors_pending == DOORS_PENDING_MAX)
		srv_broadcast_doors(s);
	s->doors_pending[s->ndoors_pending++] = (uint16_t)door;
	if (!s->after_due_tick)
		s->after_due_tick = s->tick ? s->tick : 1;
	return true;
}

/* Tell one person how a door is (their request was refused: their map shows the truth again). */
static void tell_door(struct es_server *s, unsigned id, unsigned door)
{
	struct es_door_state st = {(uint16_t)door, es_floor_door_is_open(s->cfg.floor, door)};
	struct es_msg m = {.type = ES_MSG_DOORS, .u.doors = {1, &st, NULL}};
	(void)srv_send_msg(s, s->people[id].peer, &m);
}

/*
 * Open or close a door: whoever stands within reach of it (ES_DOOR_REACH_M) may,
 * unless an admin closed the room (a lock only an admin lifts).
 */
static void handle_door(struct es_server *s, unsigned id, const struct es_doors *d)
{
	struct es_floor *f = s->cfg.floor;
	struct person *q = &s->people[id];
	if (!f || d->count != 1) {
		s->c.drop_malformed++;
		return;
	}
	struct es_door_state st = es_doors_at(d, 0);
	unsigned room;
	if (es_floor_door(f, st.door, NULL, NULL, &room) < 0) {
		s->c.drop_malformed++;
		return;
	}
	if (!es_floor_door_in_reach(f, st.door, pos_x(&q->pos), pos_y(&q->pos)) || es_places_room_locked(s->places, room)) {
		s->c.doors_refused++;
		tell_door(s, id, st.door);
		return;
	}
	if (srv_door_change(s, st.door, st.open))
		es_log_rl(&q->log_rl, (uint64_t)(es_now_ns() / 1000000), ES_LOG_INFO, "%s %s a door of %s", q->name,
			  st.open ? "opened" : "closed", es_floor_room_name(f, room));
}

/* A knock on a room reaches the people inside it (within the knocker's budget). */
static void handle_knock(struct es_server *s, unsigned id, uint16_t room)
{
	if (!s->cfg.floor || room >= es_floor_room_count(s->cfg.floor)) {
		s->c.drop_malformed++;
		return;
	}
	s->c.knocks++;
	struct es_msg m = {.type = ES_MSG_KNOCK, .u.knock = {room, (uint16_t)id}};
	for (unsigned i = 0; i < s->cfg.max_people; i++) {
		struct person *o = &s->people[i];
		if (o->used && es_floor_room_at(s->cfg.floor, (float)o->pos.x_cm / 100.0f, (float)o->pos.y_cm / 100.0f) ==
				       (int)room) {
			introduce(s, i, id);
			(void)srv_send_msg(s, o->peer, &m);
		}
	}
}

static void handle_whisper(struct es_server *s, unsigned id, int32_t to)
{
	struct person *q = &s->people[id];
	if (to >= 0 && ((unsigned)to >= s->cfg.max_people || !s->people[to].used || (unsigned)to == id)) {
		s->c.drop_malformed++;
		return;
	}
	if (es_engine_whisper(s->engine, id, to) < 0) {
		s->c.drop_malformed++;
		return;
	}
	if (q->whisper_to >= 0 && q->whisper_to != to)
		whisper_notice(s, (unsigned)q->whisper_to, id, false);
	if (to >= 0)
		whisper_notice(s, (unsigned)to, id, true);
	q->whisper_to = to;
}

void srv_office_request(struct es_server *s, unsigned id, struct es_msg *m)
{
	struct person *q = &s->people[id];
	int r;
	switch (m->type) {
	case ES_MSG_AUDIO_UP:
		if (q->flags & ES_PF_MUTED || q->admin_muted)
			break; /* a muted client should send nothing; be sure */
		r = es_engine_push(s->engine, id, m->u.up.seq, m->u.up.opus, m->u.up.len,
				   (m->u.up.flags & ES_UP_PREROLL ? ES_ENGINE_UP_PREROLL : 0) |
					   (m->u.up.flags & ES_UP_QUIET ? ES_ENGINE_UP_QUIET : 0),
				   s->in_frac);
		if (r == -EALREADY)
			s->c.drop_late++;
		else if (r == -EMSGSIZE)
			s->c.drop_oversize++;
		else if (r == 0)
			q->last_voice_tick = s->tick;
		if (r == 0 && s->stage.voice)
			srv_stage_tap(s, id, &m->u.up); /* the company-wide stage (stage.h) */
		/* last: a report is sealed through s->buf, where this frame is */
		count_uplink(s, id, m->u.up.seq, m->u.up.flags);
		break;
	case ES_MSG_MOVE:
		if (!request_ok(s, id, ES_REQ_MOVE))
			break;
		if (move_check(s, id, pos_x(&m->u.move), pos_y(&m->u.move)) != ES_PLACE_OK ||
		    (r = srv_move_elsewhere(s, id, &m->u.move)) < 0) {
			s->c.moves_refused++;
			srv_tell_admin(s, id, ES_ADMIN_REFUSED); /* you are still here */
			break;
		}
		if (r > 0)
			break; /* another daemon's floor: they were sent there */
		if (es_engine_move(s->engine, id, pos_x(&m->u.move), pos_y(&m->u.move), pos_facing_rad(&m->u.move)) == 0)
			srv_moved_to(s, id, &m->u.move);
		else
			s->c.drop_malformed++;
		break;
	case ES_MSG_STATE:
		if (!request_ok(s, id, ES_REQ_STATE))
			break;
		q->flags = m->u.state.flags & (ES_PF_MUTED | ES_PF_FOCUS | ES_PF_THIN);
		srv_apply_flags(s, id);
		q->dirty = true;
		break;
	case ES_MSG_DOORS:
		if (request_ok(s, id, ES_REQ_DOOR))
			handle_door(s, id, &m->u.doors);
		break;
	case ES_MSG_KNOCK:
		if (request_ok(s, id, ES_REQ_KNOCK))
			handle_knock(s, id, m->u.knock.room);
		break;
	case ES_MSG_WHISPER:
		if (request_ok(s, id, ES_REQ_WHISPER))
			handle_whisper(s, id, m->u.whisper.to);
		break;
	case ES_MSG_VOLUME:
		if (!request_ok(s, id, ES_REQ_VOLUME))
			break;
		if (m->u.volume.speaker >= s->cfg.max_people ||
		    es_engine_set_volume(s->engine, id, m->u.volume.speaker, es_gain_from_q(m->u.volume.gain_q)) < 0)
			s->c.drop_malformed++;
		break;
	case ES_MSG_FLOOR_GET:
		handle_floor_get(s, id);
		break;
	case ES_MSG_LINK: {
		/* the client's downlink: lower its budget while it loses */
		unsigned before = es_engine_budget(s->engine, id);
		int now = es_engine_report_loss(s->engine, id, m->u.link.loss_permille);
		if (now >= 0 && (unsigned)now < before)
			s->c.budget_lowered++;
		bool low = now >= 0 && (unsigned)now < q->downlink_bps;
		if (low != q->budget_low)
			s->c.budget_reduced = s->c.budget_reduced + (low ? 1u : 0u) - (q->budget_low ? 1u : 0u);
		q->budget_low = low;
		break;
	}
	default:
		s->c.drop_unknown++; /* a server-to-client type from a client */
		break;
	}
}

/* ==== a new floor plan (SIGHUP) ==== */

/* Someone other than `self` stands on the cell (c,r) of the floor (a relocate.h crowd over the people here). */
bool srv_cell_taken(const void *ud, unsigned self, unsigned c, unsigned r)
{
	const struct es_server *s = ud;
	for (unsigned i = 0; i < s->cfg.max_people; i++) {
		const struct person *o = &s->people[i];
		unsigned oc, orow;
		if (i != self && o->used &&
		    es_floor_cell_at(s->cfg.floor, (float)o->pos.x_cm / 100.0f, (float)o->pos.y_cm / 100.0f, &oc, &orow) == 0 &&
		    oc == c && orow == r)
			return true;
	}
	return false;
}

/*
 * A new plan: who must move is decided first and without side effects
 * (relocate.h: classify, then plan), then applied here in the planner's
 * order: mixer, remembered place, their client, presence at the next
 * batch, the log.
 */
int es_server_set_floor(struct es_server *s, struct es_floor *f)
{
	const struct es_floor *old = s->cfg.floor;
	unsigned n = s->cfg.max_people;
	struct es_relocate_person *rp = calloc(n, sizeof(*rp));
	struct es_relocate_step *steps = calloc(n, sizeof(*steps));
	if (!rp || !steps) {
		free(rp);
		free(steps);
		return -ENOMEM;
	}
	/* first see who keeps their place, so that those who must move are
	 * sent only to desks and cells nobody keeps */
	for (unsigned i = 0; i < n; i++) {
		const struct person *q = &s->people[i];
		rp[i] = (struct es_relocate_person){.used = q->used, .x_cm = q->pos.x_cm, .y_cm = q->pos.y_cm, .own = -1};
		if (q->used)
			rp[i].why = (uint8_t)es_relocate_classify(old, f, pos_x(&q->pos), pos_y(&q->pos), q->desk, &rp[i].own);
	}
	/* desks owned and rooms locked carry over by label and name; who sits where is seen again */
	if (es_places_set_floor(s->places, f) < 0) {
		free(rp);
		free(steps);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n; i++) {
		struct person *q = &s->people[i];
		q->desk = -1;
		if (q->used && rp[i].why == ES_RELOC_STAYS)
			es_places_sit(s->places, i, &q->desk, pos_x(&q->pos), pos_y(&q->pos));
	}
	s->cfg.floor = f;
	s->ndoors_pending = 0; /* the old floor's doors: everyone is sent the new plan's below */
	es_engine_set_floor(s->engine, f); /* rooms are looked up again here */
	unsigned nsteps = es_relocate_plan(s->places, f, rp, n, steps);
	int moved = 0;
	for (unsigned k = 0; k < nsteps; k++) {
		const struct es_relocate_step *st = &steps[k];
		struct person *q = &s->people[st->id];
		const char *why = es_relocate_why_text((enum es_relocate_why)st->why);
		q->desk = st->desk;
		if (st->outcome == ES_RELOC_NOWHERE) {
			srv_logf("warn", "reload: %s %s, and the new floor has no free place to move them to", q->name, why);
			continue;
		}
		if (st->outcome == ES_RELOC_IN_PLACE) {
			srv_logf("info", "reload: %s %s; stays at %.2f,%.2f, the nearest free place", q->name, why,
				 (double)st->from_x, (double)st->from_y);
			continue;
		}
		struct es_pos pos = {st->x_cm, st->y_cm, q->pos.facing};
		if (es_engine_move(s->engine, st->id, st->x, st->y, pos_facing_rad(&pos)) < 0) {
			es_places_leave(s->places, st->id, &q->desk); /* the mixer would not: they stay where they were */
			continue;
		}
		q->pos = pos;
		q->dirty = true;
		const char *label = NULL;
		if (st->desk >= 0)
			(void)es_floor_desk(f, (unsigned)st->desk, NULL, NULL, &label);
		srv_logf("info", "reload: %s %s; moved from %.2f,%.2f to %.2f,%.2f%s%s", q->name, why, (double)st->from_x,
			 (double)st->from_y, (double)st->x, (double)st->y, label ? " at desk " : "", label ? label : "");
		struct peer_slot *slot = q->peer->data;
		if (s->cfg.hooks && s->cfg.hooks->place)
			s->cfg.hooks->place(s->cfg.hooks->ud, slot->key, q->name, q->pos.x_cm, q->pos.y_cm, q->pos.facing);
		srv_tell_admin(s, st->id, ES_ADMIN_MOVED);
		moved++;
	}
	/* clients that draw the floor get the new plan and its doors */
	s->floor_version++;
	for (unsigned i = 0; f && i < n; i++)
		if (s->people[i].used && s->people[i].roster) {
			s->people[i].floor_sent = s->floor_version + 1;
			srv_send_floor(s, s->people[i].peer);
		}
	s->c.relocated += (uint64_t)moved;
	free(rp);
	free(steps);
	return moved;
}

/* ---- sending someone to another daemon of the company (ES_MSG_REDIRECT, docs/CLUSTER.md) ---- */

bool srv_redirect_addr_ok(const char *a)
{
	size_t n = strnlen(a, ES_REDIRECT_ADDR_MAX + 1);
	if (n == 0 || n > ES_REDIRECT_ADDR_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)a[i] < 0x21 || (unsigned char)a[i] > 0x7e || a[i] == ',')
			return false;
	return true;
}

int srv_redirect(struct es_server *s, unsigned id, uint8_t reason, const char *const *addrs, unsigned naddr)
{
	if (id >= s->cfg.max_people || !s->people[id].used)
		return -ENOENT;
	/* where they are now: they join there */
	return srv_redirect_to(s, id, reason, &s->people[id].pos, addrs, naddr);
}

int srv_redirect_to(struct es_server *s, unsigned id, uint8_t reason, const struct es_pos *pos,
		    const char *const *addrs, unsigned naddr)
{
	if (id >= s->cfg.max_people || !s->people[id].used)
		return -ENOENT;
	if (naddr == 0 || naddr > ES_REDIRECT_ADDRS_MAX || reason < ES_REDIRECT_ELSEWHERE || reason > ES_REDIRECT_WALK ||
	    pos->facing >= 3600)
		return -EINVAL;
	struct person *q = &s->people[id];
	struct es_msg m = {.type = ES_MSG_REDIRECT};
	struct es_redirect *rd = &m.u.redirect;
	rd->reason = reason;
	rd->pos = *pos;
	rd->naddr = (uint8_t)naddr;
	for (unsigned i = 0; i < naddr; i++) {
		if (!addrs[i] || !srv_redirect_addr_ok(addrs[i]))
			return -EINVAL;
		memcpy(rd->addr[i], addrs[i], strlen(addrs[i]) + 1);
	}
	ENetPeer *peer = q->peer;
	struct peer_slot *slot = peer->data;
	/* reliable, on the control channel: it leaves before the disconnect that follows it */
	int r = srv_send_msg(s, peer, &m);
	if (r < 0)
		return r;
	char name[ES_NAME_MAX + 1];
	memcpy(name, q->name, sizeof(name));
	struct es_pos at = *pos;
	srv_person_leave(s, slot);
	slot->st = SLOT_IDLE;
	/* after what is queued (the REDIRECT) has been sent and acknowledged */
	enet_peer_disconnect_later(peer, 0);
	s->c.redirects++;
	srv_logf("info", "%s (#%u) redirected to %s (reason %u, %u address%s), to sit at %.2f,%.2f", name, id, rd->addr[0],
		 reason, naddr, naddr == 1 ? "" : "es", at.x_cm / 100.0, at.y_cm / 100.0);
	return 0;
}

int srv_move_elsewhere(struct es_server *s, unsigned id, const struct es_pos *to)
{
	if (!s->cfg.hooks || !s->cfg.hooks->where)
		return 0;
	struct es_redirect rd;
	int w = s->cfg.hooks->where(s->cfg.hooks->ud, to, &rd);
	if (w == 0)
		return 0;
	if (w < 0)
		return -EAGAIN;
	/* taking the lift to a floor another daemon hosts: they go there, at the place they asked for */
	struct person *q = &s->people[id];
	srv_logf("info", "%s goes to %.2f,%.2f on another daemon's floor: sent to %s", q->name, pos_x(to), pos_y(to),
		 rd.addr[0]);
	const char *a[ES_REDIRECT_ADDRS_MAX];
	for (unsigned i = 0; i < rd.naddr; i++)
		a[i] = rd.addr[i];
	return srv_redirect_to(s, id, ES_REDIRECT_WALK, to, a, rd.naddr) == 0 ? 1 : -EIO;
}
