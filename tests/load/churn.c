/* SPDX-License-Identifier: MIT */
/*
 * ==== churn: a compressed office day (--churn) ==============================
 *
 * Everyone joins at a desk of the built-in office (tiled like the daemon's
 * --floor-tile-x/-y), holds still for --steady seconds (the baseline), then
 * for --duration seconds people leave and come back with the same key
 * (asking for no place, so the daemon must seat them where they left),
 * walk to colleagues, the kitchen and home, mute and unmute, and go to
 * meetings: knock, open the door, step in, close it, talk, and leave again.
 * Conversations take turns at desks and in meetings.  A person whose
 * session breaks (a daemon restart: its reset datagram, or a timeout)
 * rejoins after a short pause, as the real client does.  With
 * --quiet-every/--quiet-for the churn pauses regularly (a baseline measured
 * beside it); --name-prefix keeps the names apart from real clients'.  A
 * status line every --report seconds and at each phase change; the last
 * line is one JSON object.
 */
#include <enet/time.h>

#include "earshot-mixer.h"
#include "load.h"

enum activity { A_NONE, A_VISIT, A_MEETING };

struct churn_person {
	float home_x, home_y;
	float exp_x, exp_y;    /* where the daemon has us (our moves, corrected by its notices) */
	int64_t due;           /* next (re)join or next step of the activity */
	int64_t last_move;
	bool joined_before, returning, leaving, muted;
	enum activity act;
	int step, door, room;  /* meeting: which door and room */
	int talk_group, talk_turn;
	int64_t t_lost;        /* a session broke unasked: when */
};

struct churn_door {
	float x, y, out_x, out_y, in_x[8], in_y[8];
	int nin;
	unsigned room, index; /* index: the floor's own number for this door */
};

/* the churn's own state; what it shares with the rest of es-load is in L */
static struct {
	struct churn_person *cp;
	struct es_floor *floor;
	struct churn_door *doors;
	int ndoors;
	bool host_reset[MAX_PEOPLE / PER_HOST + 1];
	int64_t now;
	struct {
		uint64_t joins, returns, returns_placed, returns_moved, leaves, leaves_abrupt, moves, moves_corrected;
		uint64_t mutes, unmutes, knocks, doors_opened, doors_closed, meetings, lost, rejoined_after_loss;
		uint64_t busy, refused, stuck, resets_seen;
		int64_t max_rejoin_ns;
	} count;
	uint32_t rng;
} ch = {.rng = 12345};

static uint32_t churn_rand(void)
{
	ch.rng ^= ch.rng << 13;
	ch.rng ^= ch.rng >> 17;
	ch.rng ^= ch.rng << 5;
	return ch.rng;
}

static float churn_uniform(float a, float b)
{
	return a + (b - a) * (float)(churn_rand() % 100000) / 100000.0f;
}

static int ENET_CALLBACK churn_intercept(ENetHost *h, ENetEvent *ev)
{
	if (es_is_reset(h->receivedData, h->receivedDataLength)) {
		int i = host_of(h);
		if (i >= 0)
			ch.host_reset[i] = true; /* handled in the loop, not inside ENet's service */
		return 1;
	}
	return intercept(h, ev);
}

/* A walkable point in open space (no room) near (x, y), within r metres; false if none found. */
static bool open_point_near(float x, float y, float r, float *ox, float *oy)
{
	for (int k = 0; k < 40; k++) {
		float px = x + churn_uniform(-r, r), py = y + churn_uniform(-r, r);
		if (es_floor_walkable(ch.floor, px, py) && es_floor_room_at(ch.floor, px, py) < 0 && es_floor_door_at(ch.floor, px, py) < 0) {
			*ox = px;
			*oy = py;
			return true;
		}
	}
	return false;
}

static int churn_floor(unsigned tx, unsigned ty)
{
	struct es_floor *f = es_floor_default();
	if (!f)
		return -errno;
	if (tx > 1 || ty > 1) {
		ch.floor = es_floor_tile(f, tx, ty);
		es_floor_free(f);
		if (!ch.floor)
			return -errno;
	} else
		ch.floor = f;
	/* meeting-room doors: a spot just outside, spots inside within reach of the door (3 m) */
	unsigned nd = es_floor_door_count(ch.floor);
	ch.doors = calloc(nd ? nd : 1, sizeof(*ch.doors));
	if (!ch.doors)
		return -ENOMEM;
	float sc = es_floor_scale(ch.floor);
	for (unsigned d = 0; d < nd; d++) {
		struct churn_door *cd = &ch.doors[ch.ndoors];
		if (es_floor_door(ch.floor, d, &cd->x, &cd->y, &cd->room) < 0 || es_floor_room_kind(ch.floor, cd->room) != ES_ROOM_MEETING)
			continue;
		bool out = false;
		cd->nin = 0;
		for (int dist = 2; dist <= 5; dist++)
			for (int dir = 0; dir < 4; dir++) {
				float px = cd->x + sc * (float)(dir == 0 ? dist : dir == 1 ? -dist : 0);
				float py = cd->y + sc * (float)(dir == 2 ? dist : dir == 3 ? -dist : 0);
				if (!es_floor_walkable(ch.floor, px, py))
					continue;
				int r = es_floor_room_at(ch.floor, px, py);
				if (r < 0 && !out && es_floor_door_at(ch.floor, px, py) < 0) {
					cd->out_x = px;
					cd->out_y = py;
					out = true;
				} else if (r == (int)cd->room && cd->nin < 8 && es_floor_door_at(ch.floor, px, py) < 0) {
					cd->in_x[cd->nin] = px;
					cd->in_y[cd->nin] = py;
					cd->nin++;
				}
			}
		cd->index = d;
		if (out && cd->nin > 0)
			ch.ndoors++;
	}
	/* homes: the desks in order, then open space beyond them */
	unsigned ndesk = es_floor_desk_count(ch.floor);
	for (int i = 0; i < L.npeople; i++) {
		struct churn_person *p = &ch.cp[i];
		if ((unsigned)i < ndesk)
			es_floor_desk(ch.floor, (unsigned)i, &p->home_x, &p->home_y, NULL);
		else if (!open_point_near(es_floor_width_m(ch.floor) / 2, es_floor_height_m(ch.floor) / 2,
					  es_floor_width_m(ch.floor) / 2, &p->home_x, &p->home_y))
			return -ENOSPC;
		p->exp_x = p->home_x;
		p->exp_y = p->home_y;
		/* neighbours talk: desks in reading order, groups of 3, every second group a conversation */
		p->talk_group = (i / 3) % 2 == 0 ? i / 3 : -1;
		p->talk_turn = i % 3;
		L.cl[i].x = p->home_x;
		L.cl[i].y = p->home_y;
		L.cl[i].role = R_SILENT;
		if (L.churn_prefix)
			snprintf(L.cl[i].name, sizeof(L.cl[i].name), "%.4s%d", L.churn_prefix, i);
	}
	return 0;
}

static void churn_move(int i, float x, float y)
{
	struct es_msg m = {.type = ES_MSG_MOVE};
	m.u.move = (struct es_pos){(int32_t)lrintf(x * 100), (int32_t)lrintf(y * 100), (uint16_t)(churn_rand() % 3600)};
	if (send_sealed(&L.cl[i], &m, false) == 0) {
		ch.cp[i].exp_x = (float)m.u.move.x_cm / 100.0f;
		ch.cp[i].exp_y = (float)m.u.move.y_cm / 100.0f;
		ch.cp[i].last_move = ch.now;
		ch.count.moves++;
	}
}

static void churn_door(int i, int door, bool open)
{
	struct es_door_state ds = {(uint16_t)ch.doors[door].index, open};
	struct es_msg m = {.type = ES_MSG_DOORS, .u.doors = {1, &ds, NULL}};
	if (send_sealed(&L.cl[i], &m, false) == 0) {
		if (open)
			ch.count.doors_opened++;
		else
			ch.count.doors_closed++;
	}
}

static void churn_state(int i)
{
	struct es_msg m = {.type = ES_MSG_STATE, .u.state.flags = ch.cp[i].muted ? ES_PF_MUTED : 0};
	(void)send_sealed(&L.cl[i], &m, false);
}

static void churn_joined(int i, const struct es_welcome *w)
{
	struct churn_person *p = &ch.cp[i];
	struct client *c = &L.cl[i];
	float x = (float)w->pos.x_cm / 100.0f, y = (float)w->pos.y_cm / 100.0f;
	if (p->returning) {
		ch.count.returns++;
		if (fabsf(x - p->exp_x) < 0.015f && fabsf(y - p->exp_y) < 0.015f)
			ch.count.returns_placed++;
		else {
			ch.count.returns_moved++;
			if (ch.count.returns_moved <= 5)
				fprintf(stderr, "es-load: %s came back at %.2f,%.2f, left at %.2f,%.2f\n", c->name, x, y, p->exp_x, p->exp_y);
		}
	} else
		ch.count.joins++;
	if (p->t_lost) {
		int64_t took = ch.now - p->t_lost;
		ch.count.rejoined_after_loss++;
		if (took > ch.count.max_rejoin_ns)
			ch.count.max_rejoin_ns = took;
		p->t_lost = 0;
	}
	p->exp_x = x;
	p->exp_y = y;
	p->joined_before = true;
	p->returning = false;
	p->act = A_NONE;
	p->due = ch.now + (int64_t)(churn_uniform(1, 10) * 1e9);
	if (p->muted)
		churn_state(i); /* a client that was muted stays muted */
}

static void churn_receive(int i, const uint8_t *data, size_t len)
{
	struct client *c = &L.cl[i];
	struct es_msg m;
	if (es_msg_decode(&m, data, len) < 0)
		return;
	if (m.type == ES_MSG_HANDSHAKE2) {
		uint8_t w[ES_NOISE_PAYLOAD_MAX];
		struct es_msg wm;
		int n = es_noise_read_msg2(&c->hs, m.u.blob.data, m.u.blob.len, w, sizeof(w));
		if (n < 0 || es_noise_split(&c->hs, &c->tx, &c->rx) < 0 || es_msg_decode(&wm, w, (size_t)n) < 0 ||
		    wm.type != ES_MSG_WELCOME) {
			c->st = C_FAILED;
			return;
		}
		c->st = C_JOINED;
		c->t_answer = ch.now;
		c->seq = 0;
		churn_joined(i, &wm.u.welcome);
		return;
	}
	if (m.type == ES_MSG_SEALED && c->st == C_JOINED) {
		uint8_t plain[ES_MSG_MAX];
		int n = es_envelope_open(&c->rx, data, len, plain, sizeof(plain));
		struct es_msg in;
		if (n > 0 && plain[0] == ES_MSG_AUDIO_DOWN)
			c->frames_rx++;
		else if (n > 0 && plain[0] == ES_MSG_DOORS && es_msg_decode(&in, plain, (size_t)n) >= 0) {
			for (unsigned k = 0; k < in.u.doors.count; k++) {
				struct es_door_state d = es_doors_at(&in.u.doors, k);
				if (es_floor_door_set_open(ch.floor, d.door, d.open) < 0)
					break; /* not a door of our floor: a different plan or tiling */
			}
		}
		else if (n > 0 && plain[0] == ES_MSG_ADMIN && es_msg_decode(&in, plain, (size_t)n) >= 0) {
			/* a move the floor refused: the daemon says where we still are */
			ch.cp[i].exp_x = (float)in.u.admin.pos.x_cm / 100.0f;
			ch.cp[i].exp_y = (float)in.u.admin.pos.y_cm / 100.0f;
			ch.count.moves_corrected++;
		}
		return;
	}
	on_receive(c, data, len);
}

static void churn_service(void)
{
	ENetEvent ev;
	for (int h = 0; h < L.nhosts; h++) {
		while (enet_host_service(L.hosts[h].h, &ev, 0) > 0) {
			struct client *c = ev.peer ? ev.peer->data : NULL;
			int i = c ? (int)(c - L.cl) : -1;
			switch (ev.type) {
			case ENET_EVENT_TYPE_CONNECT:
				if (c)
					connected(c, ev.peer);
				break;
			case ENET_EVENT_TYPE_RECEIVE:
				if (c && c->peer == ev.peer)
					churn_receive(i, ev.packet->data, ev.packet->dataLength);
				enet_packet_destroy(ev.packet);
				break;
			case ENET_EVENT_TYPE_DISCONNECT:
				if (!c || c->peer != ev.peer)
					break;
				c->peer = NULL;
				ev.peer->data = NULL;
				if (ch.cp[i].leaving) {
					c->st = C_IDLE; /* our own goodbye; cp[i].due says when we return */
				} else if (c->st == C_BUSY || c->st == C_REFUSED) {
					/* the loop schedules the retry */
				} else {
					if (c->st == C_JOINED && !ch.cp[i].t_lost) {
						ch.count.lost++;
						ch.cp[i].t_lost = ch.now;
					}
					c->st = C_FAILED;
					/* a restarted daemon has a new cookie secret */
					L.hosts[h].have_cookie = false;
				}
				break;
			default:
				break;
			}
		}
	}
}

static void churn_drop(int i, int64_t pause_ns)
{
	struct client *c = &L.cl[i];
	if (c->peer) {
		c->peer->data = NULL;
		enet_peer_reset(c->peer);
		c->peer = NULL;
	}
	c->st = C_IDLE;
	ch.cp[i].leaving = false;
	ch.cp[i].due = ch.now + pause_ns;
}

/* Join again: with no place asked for, so the daemon seats us where we left. */
static void churn_start(int i)
{
	struct client *c = &L.cl[i];
	struct churn_person *p = &ch.cp[i];
	p->leaving = false;
	p->returning = p->joined_before;
	c->x = p->returning ? 0 : p->home_x;
	c->y = p->returning ? 0 : p->home_y;
	c->t_answer = 0;
	start(c);
	if (c->st == C_FAILED) /* no free ENet slot on this host yet */
		churn_drop(i, 500000000LL);
}

/* One step of what a joined person is doing. */
static void churn_act(int i, bool churning)
{
	struct churn_person *p = &ch.cp[i];
	if (ch.now < p->due)
		return;
	if (!churning) {
		/* the baseline: when the churn starts, people start doing things over its first 30 s, not all at once */
		p->due = ch.now + (int64_t)(churn_uniform(1, 30) * 1e9);
		return;
	}
	if (p->act == A_MEETING) {
		struct churn_door *cd = &ch.doors[p->door];
		int64_t next = 700000000LL;
		switch (p->step++) {
		case 0: /* at the door: knock if it is shut (as far as the daemon's door messages told us) */
			if (!es_floor_door_is_open(ch.floor, cd->index)) {
				struct es_msg m = {.type = ES_MSG_KNOCK, .u.knock = {(uint16_t)cd->room, 0}};
				if (send_sealed(&L.cl[i], &m, false) == 0)
					ch.count.knocks++;
			}
			next = 1200000000LL;
			break;
		case 1:
			churn_door(i, p->door, true);
			break;
		case 2: {
			int k = (int)(churn_rand() % (unsigned)cd->nin);
			churn_move(i, cd->in_x[k], cd->in_y[k]);
			break;
		}
		case 3:
			churn_door(i, p->door, false);
			next = (int64_t)(churn_uniform(40, 150) * 1e9); /* the meeting */
			break;
		case 4:
			churn_door(i, p->door, true);
			break;
		case 5:
			churn_move(i, cd->out_x, cd->out_y);
			break;
		case 6:
			churn_door(i, p->door, false);
			break;
		default:
			churn_move(i, p->home_x, p->home_y);
			p->act = A_NONE;
			next = (int64_t)(churn_uniform(5, 60) * 1e9);
			break;
		}
		p->due = ch.now + next;
		return;
	}
	if (p->act == A_VISIT) { /* the chat is over: back to the desk */
		churn_move(i, p->home_x, p->home_y);
		p->act = A_NONE;
		p->due = ch.now + (int64_t)(churn_uniform(5, 60) * 1e9);
		return;
	}
	/* idle at a desk: what next (a person acts about every 30 s on average) */
	unsigned r = churn_rand() % 100;
	int64_t next = (int64_t)(churn_uniform(10, 50) * 1e9);
	if (p->muted && r < 50)
		r = 50; /* the muted unmute again, soon: half of what they do next */
	if (r < 15 && ch.now - p->last_move > 1000000000LL) {
		/* leave; one in four without a goodbye (a laptop lid), the rest say it */
		ch.count.leaves++;
		p->leaving = true;
		int64_t away = (int64_t)(churn_uniform(5, 60) * 1e9);
		if (churn_rand() % 4 == 0) {
			ch.count.leaves_abrupt++;
			churn_drop(i, away);
		} else {
			enet_peer_disconnect(L.cl[i].peer, 0);
			p->due = ch.now + away;
		}
		return;
	} else if (r < 45) {
		int j = (int)(churn_rand() % (unsigned)L.npeople);
		float x, y;
		if (open_point_near(ch.cp[j].home_x, ch.cp[j].home_y, 1.5f, &x, &y)) {
			churn_move(i, x, y);
			p->act = A_VISIT;
			next = (int64_t)(churn_uniform(10, 60) * 1e9);
		}
	} else if (r < 60) {
		p->muted = !p->muted;
		churn_state(i);
		if (p->muted)
			ch.count.mutes++;
		else
			ch.count.unmutes++;
	} else if (r < 75 && ch.ndoors > 0) {
		p->act = A_MEETING;
		p->step = 0;
		p->door = (int)(churn_rand() % (unsigned)ch.ndoors);
		ch.count.meetings++;
		churn_move(i, ch.doors[p->door].out_x, ch.doors[p->door].out_y);
		next = 1000000000LL;
	} else if (r < 80) {
		churn_move(i, p->home_x, p->home_y); /* stand up, sit down: a small move */
	}
	p->due = ch.now + next;
}

static bool churn_talking(int i, uint64_t tick)
{
	const struct churn_person *p = &ch.cp[i];
	if (p->muted)
		return false;
	if (p->act == A_MEETING && p->step >= 3 && p->step <= 4)
		return (tick / 200 + (uint64_t)i) % 5 == 0;
	if (p->act == A_VISIT)
		return (tick / 250 + (uint64_t)i) % 3 == 0;
	if (p->act == A_NONE && p->talk_group >= 0)
		return (int)((tick / 250 + (uint64_t)p->talk_group) % 4) == p->talk_turn;
	return false;
}

int churn_run(double steady_s, double duration_s, double report_s, double max_s, unsigned tx, unsigned ty)
{
	ch.cp = calloc((size_t)L.npeople, sizeof(*ch.cp));
	if (!ch.cp)
		return 1;
	int r = churn_floor(tx, ty);
	if (r < 0) {
		fprintf(stderr, "es-load: the floor: %s\n", strerror(-r));
		return 1;
	}
	for (int h = 0; h < L.nhosts; h++)
		L.hosts[h].h->intercept = churn_intercept;
	fprintf(stderr, "es-load: churn: %d people, %d meeting-room doors, %u desks\n", L.npeople, ch.ndoors,
		es_floor_desk_count(ch.floor));
	int64_t t0 = now_ns(), deadline = t0 + TICK_NS, hard_end = t0 + (int64_t)(max_s * 1e9);
	int64_t all_in = -1, churn_at = -1, churn_end = -1, next_report = t0 + (int64_t)(report_s * 1e9);
	uint64_t tick = 0, frames_tx = 0, frames_rx_last = 0;
	int joined = 0;
	const char *phase = "joining";
	while (now_ns() < hard_end) {
		int64_t t = now_ns();
		if (t < deadline) {
			churn_service();
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
			continue;
		}
		deadline += TICK_NS;
		if (t - deadline > 5 * TICK_NS)
			deadline = t + TICK_NS; /* we fell behind: do not burst */
		tick++;
		ch.now = t;
		churn_service();
		for (int h = 0; h < L.nhosts; h++) {
			if (ch.host_reset[h]) {
				/*
				 * The daemon does not know a session from this address (it
				 * restarted), or a cookie of ours is stale.  The datagram does
				 * not say which of the people sharing this socket it means: a
				 * session that heard nothing from the daemon for 1.5 s is dead
				 * (a live one hears at least ENet's ping acknowledgements,
				 * twice a second); a connect older than 1.5 s used a stale
				 * cookie.  The daemon repeats the reset while the dead talk.
				 */
				ch.host_reset[h] = false;
				L.hosts[h].have_cookie = false;
				ch.count.resets_seen++;
				ENetHost *eh = L.hosts[h].h;
				for (int i = h * PER_HOST; i < L.npeople && i < (h + 1) * PER_HOST; i++) {
					struct client *c = &L.cl[i];
					bool dead = false;
					if (c->st == C_JOINED && c->peer)
						dead = ENET_TIME_DIFFERENCE(eh->serviceTime, c->peer->lastReceiveTime) > 1500;
					else if (c->st == C_CONNECTING || c->st == C_WAIT_KEY || c->st == C_HS_SENT)
						dead = t - c->t_start > 1500000000LL;
					if (!dead)
						continue;
					if (c->st == C_JOINED && !ch.cp[i].leaving && !ch.cp[i].t_lost) {
						ch.count.lost++;
						ch.cp[i].t_lost = t;
					}
					churn_drop(i, (int64_t)(churn_uniform(0.05f, 0.5f) * 1e9));
				}
			}
			if ((!L.hosts[h].have_cookie || t - L.hosts[h].cookie_at > 25000000000LL) && tick % 10 == (uint64_t)h % 10)
				ask_cookie(&L.hosts[h]);
		}
		/*
		 * Quiet windows: the last --quiet-for seconds of every --quiet-every
		 * of the churn, nobody joins, leaves, walks, mutes or touches a door;
		 * the conversations go on.  A baseline measured in the same minutes
		 * as the churn, under whatever else the machine is doing then.
		 */
		bool quiet = false;
		if (churn_at >= 0 && L.quiet_every_s > 0)
			quiet = fmod((double)(t - churn_at) / 1e9, L.quiet_every_s) >= L.quiet_every_s - L.quiet_for_s;
		if (churn_at >= 0 && strcmp(phase, quiet ? "quiet" : "churn") != 0) {
			phase = quiet ? "quiet" : "churn";
			next_report = t;
		}
		joined = 0;
		for (int i = 0; i < L.npeople; i++) {
			struct client *c = &L.cl[i];
			struct churn_person *p = &ch.cp[i];
			switch (c->st) {
			case C_IDLE:
				if (quiet && p->joined_before && !p->t_lost) {
					/* away stays away until the quiet window ends; then back over 30 s, not at once */
					if (t >= p->due)
						p->due = t + (int64_t)(churn_uniform(1, 30) * 1e9);
					break;
				}
				if (t >= p->due && L.hosts[c->host].have_cookie)
					churn_start(i);
				break;
			case C_FAILED:
				churn_drop(i, (int64_t)(churn_uniform(0.2f, 1.0f) * 1e9));
				break;
			case C_BUSY:
				ch.count.busy++;
				churn_drop(i, (int64_t)c->retry_ms * 1000000LL);
				break;
			case C_REFUSED:
				ch.count.refused++;
				churn_drop(i, 2000000000LL);
				break;
			case C_CONNECTING:
			case C_WAIT_KEY:
			case C_HS_SENT:
				if (t - c->t_start > 10000000000LL) { /* no answer in 10 s: try again */
					ch.count.stuck++;
					churn_drop(i, 0);
				}
				break;
			case C_JOINED:
				if (!p->leaving) {
					joined++;
					churn_act(i, churn_at >= 0 && !quiet);
				}
				break;
			}
		}
		if (all_in < 0 && joined == L.npeople) {
			all_in = t;
			fprintf(stderr, "es-load: all %d joined after %.1f s; steady for %.0f s\n", L.npeople, (double)(t - t0) / 1e9,
				steady_s);
			phase = "steady";
			next_report = t;
		}
		if (all_in >= 0 && churn_at < 0 && t - all_in >= (int64_t)(steady_s * 1e9)) {
			churn_at = t;
			churn_end = t + (int64_t)(duration_s * 1e9);
			phase = "churn";
			fprintf(stderr, "es-load: churn starts, for %.0f s\n", duration_s);
			next_report = t; /* a status line now: a reader sees the phase change at once */
		}
		if (churn_end >= 0 && t >= churn_end)
			break;
		for (int i = 0; i < L.npeople; i++) {
			struct client *c = &L.cl[i];
			if (c->st != C_JOINED || ch.cp[i].leaving || !churn_talking(i, tick))
				continue;
			int f = (int)(c->seq % FRAMES);
			struct es_msg m = {.type = ES_MSG_AUDIO_UP};
			m.u.up = (struct es_audio_up){c->seq, ES_PF_TALKING, (uint16_t)L.frame_len[f], L.frames[f]};
			if (send_sealed(c, &m, true) == 0)
				frames_tx++;
			c->seq++;
		}
		for (int h = 0; h < L.nhosts; h++)
			enet_host_flush(L.hosts[h].h);
		if (t >= next_report) {
			next_report += (int64_t)(report_s * 1e9);
			uint64_t rx = 0;
			for (int i = 0; i < L.npeople; i++)
				rx += L.cl[i].frames_rx;
			printf("churn t=%.0f phase=%s joined=%d joins=%llu returns=%llu placed=%llu moved=%llu leaves=%llu "
			       "moves=%llu corrected=%llu mutes=%llu meetings=%llu knocks=%llu doors=%llu lost=%llu busy=%llu "
			       "refused=%llu stuck=%llu rx_per_s=%.0f\n",
			       (double)(t - t0) / 1e9, phase, joined, (unsigned long long)ch.count.joins, (unsigned long long)ch.count.returns,
			       (unsigned long long)ch.count.returns_placed, (unsigned long long)ch.count.returns_moved,
			       (unsigned long long)ch.count.leaves, (unsigned long long)ch.count.moves, (unsigned long long)ch.count.moves_corrected,
			       (unsigned long long)ch.count.mutes, (unsigned long long)ch.count.meetings, (unsigned long long)ch.count.knocks,
			       (unsigned long long)(ch.count.doors_opened + ch.count.doors_closed), (unsigned long long)ch.count.lost,
			       (unsigned long long)ch.count.busy, (unsigned long long)ch.count.refused, (unsigned long long)ch.count.stuck,
			       (double)(rx - frames_rx_last) / report_s);
			fflush(stdout);
			frames_rx_last = rx;
		}
	}
	bool done = churn_end >= 0 && now_ns() >= churn_end;
	printf("{\"churn\":%s,\"people\":%d,\"joined\":%d,\"seconds\":%.1f,\"joins\":%llu,\"returns\":%llu,"
	       "\"returns_placed\":%llu,\"returns_moved\":%llu,\"leaves\":%llu,\"leaves_abrupt\":%llu,\"moves\":%llu,"
	       "\"moves_corrected\":%llu,\"mutes\":%llu,\"unmutes\":%llu,\"meetings\":%llu,\"knocks\":%llu,"
	       "\"doors_opened\":%llu,\"doors_closed\":%llu,\"lost\":%llu,\"rejoined_after_loss\":%llu,"
	       "\"max_rejoin_ms\":%.0f,\"resets_seen\":%llu,\"busy\":%llu,\"refused\":%llu,\"stuck\":%llu,"
	       "\"frames_tx\":%llu}\n",
	       done ? "true" : "false", L.npeople, joined, (double)(now_ns() - t0) / 1e9, (unsigned long long)ch.count.joins,
	       (unsigned long long)ch.count.returns, (unsigned long long)ch.count.returns_placed, (unsigned long long)ch.count.returns_moved,
	       (unsigned long long)ch.count.leaves, (unsigned long long)ch.count.leaves_abrupt, (unsigned long long)ch.count.moves,
	       (unsigned long long)ch.count.moves_corrected, (unsigned long long)ch.count.mutes, (unsigned long long)ch.count.unmutes,
	       (unsigned long long)ch.count.meetings, (unsigned long long)ch.count.knocks, (unsigned long long)ch.count.doors_opened,
	       (unsigned long long)ch.count.doors_closed, (unsigned long long)ch.count.lost, (unsigned long long)ch.count.rejoined_after_loss,
	       (double)ch.count.max_rejoin_ns / 1e6, (unsigned long long)ch.count.resets_seen, (unsigned long long)ch.count.busy,
	       (unsigned long long)ch.count.refused, (unsigned long long)ch.count.stuck, (unsigned long long)frames_tx);
	fflush(stdout);
	es_floor_free(ch.floor);
	free(ch.doors);
	free(ch.cp);
	return done ? 0 : 1;
}

