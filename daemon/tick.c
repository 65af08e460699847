/* SPDX-License-Identifier: MIT */
/*
 * The server loop.  One thread: between ticks it waits on the ENet socket
 * with an absolute CLOCK_MONOTONIC deadline, drains what arrived, and at the
 * deadline runs the tick (engine, bundles, presence), flushes, and moves the
 * deadline on by exactly 20 ms, so ticks never drift.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <time.h>

#include "server-private.h"

/*
 * What arrives from a peer goes where: before the handshake to its queue
 * (handshake.c), after it opened (envelope.c) and to the office (office.c)
 * once the person is admitted.  Each drop is counted by cause.
 */
static void handle_packet(struct es_server *s, ENetPeer *peer, const ENetPacket *pkt)
{
	struct peer_slot *slot = peer->data;
	s->c.packets_in++;
	s->c.bytes_in += pkt->dataLength;
	if (pkt->dataLength > ES_MSG_MAX) {
		s->c.drop_oversize++;
		return;
	}
	struct es_msg m;
	int r = es_msg_decode(&m, pkt->data, pkt->dataLength);
	if (r < 0) {
		if (r == -EPROTONOSUPPORT)
			s->c.drop_unknown++;
		else
			s->c.drop_malformed++;
		return;
	}
	if (slot->st != SLOT_AUTHED) {
		srv_handshake_queue(s, peer, slot, &m);
		return;
	}
	r = srv_open_sealed(s, slot, pkt->data, pkt->dataLength);
	if (r < 0)
		return;
	r = es_msg_decode(&m, s->buf, (size_t)r);
	if (r < 0 || es_msg_is_plain(m.type)) {
		if (r == -EPROTONOSUPPORT)
			s->c.drop_unknown++;
		else
			s->c.drop_malformed++;
		return;
	}
	if (slot->person < 0) {
		s->c.drop_unjoined++;
		return;
	}
	srv_office_request(s, (unsigned)slot->person, &m);
}

static void handle_event(struct es_server *s, ENetEvent *ev)
{
	switch (ev->type) {
	case ENET_EVENT_TYPE_CONNECT:
		srv_on_connect(s, ev->peer);
		break;
	case ENET_EVENT_TYPE_RECEIVE:
		handle_packet(s, ev->peer, ev->packet);
		enet_packet_destroy(ev->packet);
		break;
	case ENET_EVENT_TYPE_DISCONNECT:
		srv_person_leave(s, ev->peer->data);
		((struct peer_slot *)ev->peer->data)->st = SLOT_IDLE;
		break;
	default:
		break;
	}
}

/*
 * enet_host_service walks every peer slot twice per call (to send, and
 * again after receiving at most 256 datagrams); with thousands of slots
 * that is the dearest thing this loop does.  So it is called deliberately:
 * at each tick and once between ticks (SERVICE_EVERY_NS), never once per
 * wake-up, and the events it queues are drained with
 * enet_host_check_events, which walks nothing.  The socket's receive
 * buffer holds what arrives in between.
 */
static void service(struct es_server *s)
{
	ENetEvent ev;
	s->in_frac = es_jitter_frac(es_now_ns() - (s->deadline_ns - TICK_NS), TICK_NS);
	for (int round = 0; round < 32; round++) {
		uint32_t before = s->host->totalReceivedPackets;
		/*
		 * No event pointer: given one, ENet stops its receive pass at
		 * the first connection it completes and returns it, so a join
		 * storm cost a whole walk of the peers per arrival (and at most
		 * 32 arrivals per service, the rest waiting 10 ms in the
		 * socket).  Without one it receives up to 256 datagrams and
		 * queues every event, drained below without walking.
		 */
		int r = enet_host_service(s->host, NULL, 0);
		if (r < 0)
			break;
		while (enet_host_check_events(s->host, &ev) > 0)
			handle_event(s, &ev);
		/* another round while the receive pass keeps finding a full batch */
		if (s->host->totalReceivedPackets - before < 200)
			break;
	}
	s->flushes++;
	s->last_service_ns = es_now_ns();
}

static void emit(void *ud, const struct es_engine_out *out)
{
	struct es_server *s = ud;
	if (out->listener >= s->cfg.max_people)
		return; /* a remote stage voice (ES_ENGINE_DEAF): never a listener */
	struct person *q = &s->people[out->listener];
	if (!q->used)
		return;
	struct es_msg m = {.type = ES_MSG_AUDIO_DOWN};
	struct es_audio_down *d = &m.u.down;
	d->tick = (uint32_t)s->tick;
	d->seq = q->down_seq++;
	d->nvoices = (uint8_t)out->nvoices; /* ES_ENGINE_FORWARD_MAX == ES_BUNDLE_VOICES_MAX */
	for (unsigned i = 0; i < d->nvoices; i++) {
		float az = out->voice[i].azimuth * 1800.0f / (float)M_PI;
		d->voice[i] = (struct es_bundle_voice){
			.speaker = (uint16_t)out->voice[i].speaker,
			.seq = out->voice[i].seq,
			.gain_q = es_gain_to_q(out->voice[i].gain),
			.azimuth = (int16_t)lrintf(fmaxf(-1800.0f, fminf(1800.0f, az))),
			.flags = out->voice[i].flags & ES_ENGINE_VOICE_FEC ? ES_VOICE_FEC : 0,
			.len = (uint16_t)out->voice[i].len,
			.opus = out->voice[i].opus,
		};
	}
	d->mix_len = (uint16_t)out->mix_len;
	d->mix = out->mix;
	d->mix_stream = out->mix_stream;
	d->mix_flags = out->mix_mirror ? ES_MIX_MIRROR : 0;
	int64_t t0 = es_now_ns();
	(void)srv_send_audio(s, q->peer, &m);
	s->c.phase_ns[ES_PHASE_SEND] += (uint64_t)(es_now_ns() - t0);
}

/*
 * The broadcasts that need not make the tick's deadline: door changes and
 * the presence batch, then (between ticks) a flush so they leave now.  In
 * the tick, its own flush follows.
 */
static void after_tick(struct es_server *s, bool flush)
{
	if (s->ndoors_pending)
		srv_broadcast_doors(s);
	if (s->presence_due)
		srv_presence_batch(s);
	s->presence_due = false;
	s->after_due_tick = 0;
	if (flush) {
		enet_host_flush(s->host);
		s->flushes++;
	}
}

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int tick(struct es_server *s)
{
	int64_t start = es_now_ns(), cpu0 = thread_cpu_ns();
	s->tick++;
	s->c.ticks++;
	service(s); /* ENet's own timers (acks, timeouts) run on every tick */
	int64_t t1 = es_now_ns();
	s->c.phase_ns[ES_PHASE_SERVICE] += (uint64_t)(t1 - start);
	srv_run_handshakes(s);
	int64_t t2 = es_now_ns();
	s->c.phase_ns[ES_PHASE_HANDSHAKE] += (uint64_t)(t2 - t1);
	uint64_t send0 = s->c.phase_ns[ES_PHASE_SEND];
	int r = es_engine_tick(s->engine, emit, s);
	int64_t t3 = es_now_ns();
	s->c.phase_ns[ES_PHASE_ENGINE] += (uint64_t)(t3 - t2) - (s->c.phase_ns[ES_PHASE_SEND] - send0);
	if (s->sender) {
		/* the bundles leave while presence and ENet's flush run here */
		es_sender_submit(s->sender);
		int64_t t = es_now_ns();
		s->c.phase_ns[ES_PHASE_SEND] += (uint64_t)(t - t3);
		t3 = t;
	}
	if (r < 0) {
		static struct es_log_ratelimit rl; /* a failing codec would fail every tick */
		es_log_rl(&rl, (uint64_t)(es_now_ns() / 1000000), ES_LOG_ERROR, "mixer tick failed: %s", strerror(-r));
	}
	/* what found no slack after the ticks of a whole presence period runs here */
	if (s->after_due_tick && s->tick - s->after_due_tick >= PRESENCE_EVERY)
		after_tick(s, false);
	if (s->tick % PRESENCE_EVERY == 0)
		s->presence_due = true;
	if (s->presence_due && !s->after_due_tick)
		s->after_due_tick = s->tick;
	/* a walk of the peers, and the timeout it counts is read right after the drop (test-security) */
	if (s->tick % 10 == 0)
		srv_reap_prejoin(s);
	int64_t t4 = es_now_ns();
	s->c.phase_ns[ES_PHASE_PRESENCE] += (uint64_t)(t4 - t3);
	enet_host_flush(s->host);
	s->flushes++;
	s->c.phase_ns[ES_PHASE_FLUSH] += (uint64_t)(es_now_ns() - t4);
	s->c.phase_ns[ES_PHASE_TICK_CPU] += (uint64_t)(thread_cpu_ns() - cpu0);
	/* the engine sheds quality (complexity, sample rate, voices per mix) as
	 * its share of the tick nears the budget, and restores it when it falls */
	int64_t work_us = (es_now_ns() - start) / 1000;
	es_engine_report_tick_us(s->engine, (unsigned)(work_us > 1000000 ? 1000000 : work_us));
	s->c.load_level = es_engine_load_level(s->engine);
	struct es_engine_stats es;
	es_engine_get_stats(s->engine, &es);
	s->c.engine_work[ES_ENGINE_WORK_DECODES] += es.decodes;
	s->c.engine_work[ES_ENGINE_WORK_ENCODES] += es.encodes;
	s->c.engine_work[ES_ENGINE_WORK_WARMUPS] = es.warmups;
	s->c.engine_work[ES_ENGINE_WORK_PERSONAL] += es.streams_personal;
	s->c.engine_work[ES_ENGINE_WORK_SHARED] += es.streams_shared;
	s->c.engine_work[ES_ENGINE_WORK_LISTENERS_MIX] += es.listeners_mix;
	s->c.engine_work[ES_ENGINE_WORK_FORWARDED] += es.forwarded;
	s->c.engine_work[ES_ENGINE_WORK_OVER_BUDGET] += es.listeners_budget;
	s->c.level_ticks[es.load_level < 4 ? es.load_level : 3]++;
	for (unsigned i = 0; i < ES_ENGINE_STEP__COUNT; i++)
		s->c.load_steps[i] = es.steps[i];
	s->c.load_estimate_us = es.estimate_us;
	s->c.uplink_fec = es.frames_fec;
	s->c.uplink_plc = es.frames_plc;
	s->c.bundle_max = es.bytes_max;
	if (s->cfg.hooks && s->cfg.hooks->tick) {
		s->c.plan_silent = es.listeners_silent;
		s->c.plan_forward = es.listeners_forward;
		s->c.plan_mix = es.listeners_mix;
		s->c.encodes = es.encodes;
		s->cfg.hooks->tick(s->cfg.hooks->ud, &s->c, (uint64_t)(es_now_ns() - start));
	}
	return 0;
}

static void say_goodbye(struct es_server *s, uint8_t reason)
{
	struct es_msg bye = {.type = ES_MSG_BYE, .u.bye.reason = reason};
	for (unsigned i = 0; i < s->cfg.max_people; i++)
		if (s->people[i].used) {
			(void)srv_send_msg(s, s->people[i].peer, &bye);
			enet_peer_disconnect_later(s->people[i].peer, 0);
		}
	enet_host_flush(s->host);
	/* give the disconnects up to 300 ms to be acknowledged */
	int64_t until = es_now_ns() + 300000000LL;
	ENetEvent ev;
	while (s->c.people > 0 && es_now_ns() < until) {
		if (enet_host_service(s->host, &ev, 10) > 0 && ev.type == ENET_EVENT_TYPE_DISCONNECT)
			srv_person_leave(s, ev.peer->data);
		else if (ev.type == ENET_EVENT_TYPE_RECEIVE)
			enet_packet_destroy(ev.packet);
	}
}

/*
 * Where the tail goes: a late tick is rare (a few in 10,000 on a quiet
 * machine) and the cumulative phase times hide it, so the phases of each
 * late tick are summed apart, and each phase's largest single tick is kept
 * over a window.  A copy of ten counters per tick.
 */
/* Note d against slot i (a phase, or ES_PHASE__COUNT: the work) in this window; the max of both windows. */
static uint64_t tail_note(struct es_server *s, unsigned i, uint64_t d)
{
	uint64_t *m = s->tail_max[(s->tick / TAIL_WINDOW) & 1];
	if (d > m[i])
		m[i] = d;
	return s->tail_max[0][i] > s->tail_max[1][i] ? s->tail_max[0][i] : s->tail_max[1][i];
}

static void tail_account(struct es_server *s, const uint64_t before[ES_PHASE__COUNT], uint64_t work_ns, bool late)
{
	if (s->tick % TAIL_WINDOW == 0)
		memset(s->tail_max[(s->tick / TAIL_WINDOW) & 1], 0, sizeof(s->tail_max[0]));
	for (unsigned i = 0; i < ES_PHASE__COUNT; i++) {
		uint64_t d = s->c.phase_ns[i] - before[i];
		if (late)
			s->c.late_phase_ns[i] += d;
		s->c.phase_max_ns[i] = tail_note(s, i, d);
	}
	s->c.work_max_ns = tail_note(s, ES_PHASE__COUNT, work_ns);
}

int es_server_run(struct es_server *s, volatile int *stop)
{
	s->deadline_ns = es_now_ns() + TICK_NS;
	struct pollfd pfd[2 + ES_SERVER_POLL_MAX] = {{.fd = s->host->socket, .events = POLLIN}};
	/* room for what arrives between two services: ~10 ms of a full floor */
	enet_socket_set_option(s->host->socket, ENET_SOCKOPT_RCVBUF, 8 << 20);
	enet_socket_set_option(s->host->socket, ENET_SOCKOPT_SNDBUF, 8 << 20);
	while (!*stop) {
		int64_t now = es_now_ns();
		if (now >= s->deadline_ns) {
			uint64_t before[ES_PHASE__COUNT];
			memcpy(before, s->c.phase_ns, sizeof(before));
			s->c.phase_ns[ES_PHASE_LATE] += (uint64_t)(now - s->deadline_ns);
			int r = tick(s);
			if (r < 0)
				return r;
			s->deadline_ns += TICK_NS;
			int64_t after = es_now_ns();
			bool late = after > s->deadline_ns;
			tail_account(s, before, (uint64_t)(after - now), late);
			if (late) {
				s->c.ticks_late++;
				/* more than a few ticks behind: start again from now rather than burst */
				if (after - s->deadline_ns > 5 * TICK_NS)
					s->deadline_ns = after + TICK_NS;
			}
			continue;
		}
		if (s->after_due_tick && s->deadline_ns - now > AFTER_SLACK_NS) {
			after_tick(s, true);
			uint64_t d = (uint64_t)(es_now_ns() - now);
			s->c.phase_ns[ES_PHASE_IDLE_PRESENCE] += d;
			/* between ticks, so not in tail_account: its largest here */
			s->c.phase_max_ns[ES_PHASE_IDLE_PRESENCE] = tail_note(s, ES_PHASE_IDLE_PRESENCE, d);
			continue;
		}
		if (now - s->last_service_ns >= SERVICE_EVERY_NS) {
			service(s);
			s->c.phase_ns[ES_PHASE_IDLE_SERVICE] += (uint64_t)(s->last_service_ns - now);
			continue;
		}
		int64_t wait = s->deadline_ns - now;
		if (wait > HS_SLACK_NS && srv_handshake_step(s)) {
			/* answered now, sent by the next service or tick flush (no walk per handshake) */
			s->c.phase_ns[ES_PHASE_IDLE_HANDSHAKE] += (uint64_t)(es_now_ns() - now);
			continue;
		}
		int64_t next_service = s->last_service_ns + SERVICE_EVERY_NS - now;
		if (next_service < wait)
			wait = next_service;
		struct timespec ts = {.tv_sec = wait / 1000000000LL, .tv_nsec = wait % 1000000000LL};
		unsigned nx = s->poll.fds ? s->poll.fds(s->poll.ud, s->tick, pfd + 1, ES_SERVER_POLL_MAX) : 0;
		if (nx > ES_SERVER_POLL_MAX)
			nx = ES_SERVER_POLL_MAX;
		/* the stage relay's socket (stage.h): a relayed frame goes into the engine as it comes */
		bool relay = s->stage.fd >= 0 && s->stage.ready;
		if (relay)
			pfd[1 + nx] = (struct pollfd){.fd = s->stage.fd, .events = POLLIN};
		int pr = ppoll(pfd + 1, nx + relay, &ts, NULL); /* the ENet socket waits for its turn */
		if (pr < 0 && errno != EINTR)
			return -errno;
		bool extra = false;
		for (unsigned i = 1; pr > 0 && i <= nx; i++)
			extra |= pfd[i].revents != 0;
		if (extra)
			s->poll.ready(s->poll.ud, s->tick, pfd + 1, nx);
		if (relay && pr > 0 && pfd[1 + nx].revents)
			s->stage.ready(s->stage.ud);
	}
	say_goodbye(s, ES_BYE_RESTART);
	return 0;
}

void es_server_set_poll(struct es_server *s, const struct es_server_poll *p)
{
	if (p && p->fds && p->ready)
		s->poll = *p;
	else
		s->poll = (struct es_server_poll){0};
}
