/* SPDX-License-Identifier: MIT */
/*
 * es-load: many simulated people against one earshotd, from one process,
 * over the real protocol (cookie, ENet, Noise IK, sealed packets).  Voice
 * is pre-encoded Opus (encoded once at start, never in the loop).  Loopback
 * only; every loop is bounded in count and time.
 *
 *   es-load --server 127.0.0.1:7700 --pairs 50 --people 2000 --storm 1 --hold 10 [--roster]
 *   es-load --server 127.0.0.1:7700 --room --people 150 --talking 0.1 --storm 1 --hold 30
 *
 * Phases: the talking pairs join and talk; then --people arrivals connect,
 * spread evenly over --storm seconds, and stay --hold seconds (with
 * --office, some of them hold desk conversations that take turns, and
 * eight meet).  Measured: admitted, refused "busy" (and the retry-after
 * they were told), time to an answer and to the first mixed audio, frames
 * expected and received, and the pairs' loss during the storm.  With
 * --room, the --people are one room instead (a square grid 1.2 m apart, a
 * fraction --talking of them talking all the time, spread evenly), and what
 * is measured is the --hold seconds after they have all joined: the
 * daemon's CPU per participant per tick, its ticks, and the bundles every
 * one of them should get (each hears a talker within a few metres).  With
 * --metrics, the daemon's own tick figures; with --pid, its CPU time and
 * resident memory.  The last line printed is one JSON object.
 */
#include <getopt.h>

#include "load.h"

/* Who talks this tick: pairs always; conversations take turns every 5 s; the meeting every 4 s. */
static bool talking(const struct client *c, uint64_t tick)
{
	switch (c->role) {
	case R_PAIR:
	case R_ROOM:
		return true;
	case R_CONVO:
		return (int)((tick / 250 + (uint64_t)c->group) % 4) == c->turn;
	case R_MEETING:
		return (int)((tick / 200) % 8) == c->turn;
	default:
		return false;
	}
}


/* Each generator tick: which conversation members should hear someone until the next. */
static void convo_tick(uint64_t tick)
{
	if (!L.convo_expect)
		return;
	uint64_t phase = tick % 250;
	for (int i = 0; i < L.npeople; i++) {
		const struct client *c = &L.cl[i];
		L.convo_expect[i] = false;
		if (c->role != R_CONVO || c->st != C_JOINED || phase < 10 || phase >= 240)
			continue;
		int talker = (int)((tick / 250 + (uint64_t)c->group) % 4);
		if (talker < 3 && talker != c->turn) {
			L.convo_expect[i] = true;
			L.convo_exp[i]++;
		}
	}
}

static void gen_tick_late(int64_t late_ns)
{
	L.gen_ticks++;
	L.gen_late_max = late_ns > L.gen_late_max ? late_ns : L.gen_late_max;
	L.gen_late_10ms += late_ns > 10000000LL;
}

/* Where the time to an answer goes: start -> ENet connected -> server key -> answer (p50/p99 of each step, ms). */
static void answer_steps(int from)
{
	int64_t *v = calloc((size_t)L.npeople, sizeof(int64_t));
	if (!v || !L.t_connected || !L.t_key) {
		free(v);
		return;
	}
	double (*r)[2] = L.step_ms;
	for (int step = 0; step < 3; step++) {
		int n = 0;
		for (int i = from; i < L.npeople; i++) {
			const struct client *c = &L.cl[i];
			int64_t a = step == 0 ? c->t_start : step == 1 ? L.t_connected[i] : L.t_key[i];
			int64_t b = step == 0 ? L.t_connected[i] : step == 1 ? L.t_key[i] : c->t_answer;
			if (a && b)
				v[n++] = b - a;
		}
		r[step][0] = pct(v, n, 0.5);
		r[step][1] = pct(v, n, 0.99);
	}
	printf("answer steps (p50/p99 ms): connect %.0f/%.0f, server key %.0f/%.0f, handshake reply %.0f/%.0f\n", r[0][0],
	       r[0][1], r[1][0], r[1][1], r[2][0], r[2][1]);
	free(v);
}

/* Time to an answer (ms) of those answered busy and of those admitted, p50 and p99 each. */
static void answers_by_outcome(int from, double out[4])
{
	int64_t *v = calloc((size_t)L.npeople, sizeof(int64_t));
	for (int k = 0; k < 4; k++)
		out[k] = -1;
	if (!v)
		return;
	for (int pass = 0; pass < 2; pass++) {
		int n = 0;
		for (int i = from; i < L.npeople; i++)
			if (L.cl[i].t_answer && L.cl[i].st == (pass ? C_JOINED : C_BUSY))
				v[n++] = L.cl[i].t_answer - L.cl[i].t_start;
		out[2 * pass] = pct(v, n, 0.5);
		out[2 * pass + 1] = pct(v, n, 0.99);
	}
	free(v);
}


int main(int argc, char **argv)
{
	const char *srv = "127.0.0.1:7700", *metrics = NULL;
	int pairs = 0, people = 0, pid = 0, convos = 0, meeting = 0;
	double storm = 1.0, hold = 5.0, max_s = 120;
	bool near = true, room = false;
	double talking_frac = 0.1;
	static const struct option lo[] = {
		{"server", 1, NULL, 's'}, {"pairs", 1, NULL, 'p'}, {"people", 1, NULL, 'n'}, {"storm", 1, NULL, 'S'},
		{"hold", 1, NULL, 'H'}, {"pid", 1, NULL, 'P'}, {"office", 0, NULL, 'o'}, {"max-seconds", 1, NULL, 'M'},
		{"spread", 0, NULL, 'f'}, {"metrics", 1, NULL, 'm'}, {"roster", 0, NULL, 'R'},
		/* churn mode (a compressed day), see churn_run() */
		{"churn", 0, NULL, 'C'}, {"duration", 1, NULL, 'D'}, {"steady", 1, NULL, 'B'}, {"report", 1, NULL, 'T'},
		{"floor-tile-x", 1, NULL, 'X'}, {"floor-tile-y", 1, NULL, 'Y'}, {"name-prefix", 1, NULL, 'N'},
		{"quiet-every", 1, NULL, 'q'}, {"quiet-for", 1, NULL, 'Q'}, {"room", 0, NULL, 'r'}, {"talking", 1, NULL, 't'},
		{0},
	};
	bool churn = false;
	double duration = 1800, steady = 60, report = 10;
	unsigned tile_x = 1, tile_y = 1;
	int o;
	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 's': srv = optarg; break;
		case 'p': pairs = atoi(optarg); break;
		case 'n': people = atoi(optarg); break;
		case 'S': storm = atof(optarg); break;
		case 'H': hold = atof(optarg); break;
		case 'P': pid = atoi(optarg); break;
		case 'o': convos = 60; meeting = 8; break;
		case 'M': max_s = atof(optarg); break;
		case 'f': near = false; break;
		case 'R': L.want_roster = true; break;
		case 'm': metrics = optarg; break;
		case 'C': churn = true; break;
		case 'D': duration = atof(optarg); break;
		case 'B': steady = atof(optarg); break;
		case 'T': report = atof(optarg); break;
		case 'X': tile_x = (unsigned)atoi(optarg); break;
		case 'Y': tile_y = (unsigned)atoi(optarg); break;
		case 'N': L.churn_prefix = optarg; break;
		case 'q': L.quiet_every_s = atof(optarg); break;
		case 'Q': L.quiet_for_s = atof(optarg); break;
		case 'r': room = true; break;
		case 't': talking_frac = atof(optarg); break;
		default:
			fprintf(stderr, "usage: es-load --server ADDR [--pairs P] [--people N] [--storm S] [--hold S] "
					"[--office] [--spread] [--pid PID] [--max-seconds S]\n"
					"       es-load --server ADDR --room --people N [--talking F] [--storm S] [--hold S] [--pid PID] [--metrics A]\n"
					"       es-load --server ADDR --churn --people N [--roster] [--steady S] [--duration S] "
					"[--report S] [--floor-tile-x N] [--floor-tile-y N] [--name-prefix P] [--quiet-every S --quiet-for S] [--max-seconds S]\n");
			return 2;
		}
	}
	if (metrics && metrics_parse_addr(metrics) < 0) {
		fprintf(stderr, "es-load: --metrics ADDR:PORT\n");
		return 2;
	}
	L.npeople = 2 * pairs + people;
	/* the office's activity grows with it: 60 conversations of three for 2,000 people */
	if (convos && people > 0)
		convos = (60 * people + 1999) / 2000;
	if (room && (pairs || convos || churn || !(talking_frac > 0.0 && talking_frac <= 1.0))) {
		fprintf(stderr, "es-load: --room is people only (no --pairs, --office, --churn), --talking in (0, 1]\n");
		return 2;
	}
	if (L.npeople <= 0 || L.npeople > MAX_PEOPLE || storm <= 0 || hold < 0 || max_s <= 0 || max_s > 3600) {
		fprintf(stderr, "es-load: 1..%d people, positive times, at most an hour\n", MAX_PEOPLE);
		return 2;
	}
	if (sodium_init() < 0 || enet_initialize() != 0 || make_frames() < 0)
		return 1;
	char host[64];
	const char *colon = strrchr(srv, ':');
	if (!colon || (size_t)(colon - srv) >= sizeof(host))
		return 2;
	memcpy(host, srv, (size_t)(colon - srv));
	host[colon - srv] = 0;
	if (enet_address_set_host_ip(&L.server, host) != 0)
		return 2;
	L.server.port = (enet_uint16)atoi(colon + 1);

	L.nhosts = (L.npeople + PER_HOST - 1) / PER_HOST;
	L.hosts = calloc((size_t)L.nhosts, sizeof(*L.hosts));
	L.cl = calloc((size_t)L.npeople, sizeof(*L.cl));
	L.t_connected = calloc((size_t)L.npeople, sizeof(*L.t_connected));
	L.t_key = calloc((size_t)L.npeople, sizeof(*L.t_key));
	L.key_of = calloc((size_t)L.npeople, sizeof(*L.key_of));
	L.key_ring = calloc((size_t)L.npeople, sizeof(*L.key_ring));
	L.reply_of = calloc((size_t)L.npeople, sizeof(*L.reply_of));
	if (convos) {
		L.convo_expect = calloc((size_t)L.npeople, sizeof(*L.convo_expect));
		L.convo_exp = calloc((size_t)L.npeople, sizeof(*L.convo_exp));
		L.convo_rx = calloc((size_t)L.npeople, sizeof(*L.convo_rx));
		if (!L.convo_exp || !L.convo_rx) {
			free(L.convo_expect);
			L.convo_expect = NULL;
		}
	}
	if (!L.key_of || !L.key_ring || !L.reply_of) {
		free(L.reply_of);
		L.reply_of = NULL;
		free(L.key_of);
		free(L.key_ring);
		L.key_of = NULL;
		L.key_ring = NULL;
	}
	for (int i = 0; i < L.nhosts; i++) {
		ENetAddress a = {.host = htonl(0x7F000000u + 10u + (uint32_t)(i % 240)), .port = 0};
		L.hosts[i].h = enet_host_create(&a, PER_HOST, ES_CHAN_COUNT, 0, 0);
		if (!L.hosts[i].h) {
			fprintf(stderr, "es-load: cannot create host %d\n", i);
			return 1;
		}
		L.hosts[i].h->intercept = intercept;
		L.hosts[i].addr = a.host;
	}
	/* roles and places: pairs 30 m apart from each other (beyond earshot),
	 * newcomers near a pair (they hear it) or spread over the floor */
	srand(7);
	int side = (int)ceil(sqrt(pairs > 0 ? pairs : 1));
	for (int i = 0; i < L.npeople; i++) {
		struct client *c = &L.cl[i];
		c->host = i / PER_HOST;
		es_noise_keypair(&c->id);
		snprintf(c->name, sizeof(c->name), "p%d", i);
		if (i < 2 * pairs) {
			int p = i / 2;
			c->role = R_PAIR;
			c->group = p;
			c->x = (float)(p % side) * 30.0f + (float)(i % 2) * 1.5f;
			c->y = (float)(p / side) * 30.0f;
		} else {
			int k = i - 2 * pairs;
			if (near && pairs > 0) {
				int p = k % pairs;
				float ang = (float)k * 2.399963f, r = 2.0f + 2.0f * (float)(k % 3);
				c->x = (float)(p % side) * 30.0f + r * cosf(ang);
				c->y = (float)(p / side) * 30.0f + r * sinf(ang);
			} else {
				/* a desk floor: 2 m grid, 100 m wide */
				c->x = (float)(k % 50) * 2.0f;
				c->y = 200.0f + (float)(k / 50) * 2.0f;
			}
			if (room) {
				/* one room: a square grid 1.2 m apart; every 1/F-th person talks */
				int rside = (int)ceil(sqrt((double)people));
				c->x = 10.0f + (float)(k % rside) * 1.2f;
				c->y = 10.0f + (float)(k / rside) * 1.2f;
				c->role = floor((k + 1) * talking_frac) > floor(k * talking_frac) ? R_ROOM : R_SILENT;
			}
			if (convos && k < convos * 3) { /* 60 conversations of 3 */
				c->role = R_CONVO;
				c->group = k / 3;
				c->turn = k % 3;
				c->x = (float)(c->group % 10) * 10.0f + (float)c->turn;
				c->y = 200.0f + (float)(c->group / 10) * 10.0f;
			} else if (meeting && k >= convos * 3 && k < convos * 3 + meeting) {
				c->role = R_MEETING;
				c->turn = k - convos * 3;
				c->x = 150.0f + (float)(c->turn % 4);
				c->y = 150.0f + (float)(c->turn / 4);
			}
		}
	}
	for (int i = 0; i < L.nhosts; i++)
		ask_cookie(&L.hosts[i]);
	if (churn) {
		if (duration <= 0 || steady < 0 || report <= 0 || tile_x < 1 || tile_y < 1 || steady + duration + 120 > max_s ||
		    L.quiet_for_s < 0 || (L.quiet_every_s > 0 && L.quiet_for_s >= L.quiet_every_s)) {
			fprintf(stderr, "es-load: --churn needs positive times and --max-seconds above steady + duration + 120\n");
			return 2;
		}
		/* the churn answers server keys and handshake replies as they come
		 * (its loop has no slack phase): no deferred-answer ring */
		free(L.key_ring);
		L.key_ring = NULL;
		int rc = churn_run(steady, duration, report, max_s, tile_x, tile_y);
		for (int i = 0; i < L.npeople; i++)
			if (L.cl[i].peer)
				enet_peer_disconnect_now(L.cl[i].peer, 0);
		for (int i = 0; i < L.nhosts; i++)
			enet_host_destroy(L.hosts[i].h);
		free(L.cl);
		free(L.hosts);
		return rc;
	}

	int64_t t0 = now_ns(), deadline = t0 + TICK_NS, hard_end = t0 + (int64_t)(max_s * 1e9);
	int64_t storm_at = -1, end_at = -1, room_settle = -1, room_at = -1;
	uint64_t room_ticks = 0;
	uint64_t tick = 0, expected_pair_ticks = 0;
	int started = 0;
	double cpu0 = -1, cpu1 = -1;
	long rss1 = -1, rss0 = -1;
	while (now_ns() < hard_end) {
		int64_t t = now_ns();
		if (t < deadline) {
			answer_keys(deadline - TICK_NS / 4);
			service_all();
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
			continue;
		}
		deadline += TICK_NS;
		tick++;
		if (storm_at >= 0)
			gen_tick_late(t - (deadline - TICK_NS));
		service_all();
		/* refresh cookies before they age out (30..60 s) */
		for (int i = 0; i < L.nhosts; i++)
			if (!L.hosts[i].have_cookie || t - L.hosts[i].cookie_at > 25000000000LL) {
				if (tick % 10 == 0)
					ask_cookie(&L.hosts[i]);
			}
		/* phase 1: the pairs join at once; phase 2 (storm) once they all talk */
		int pairs_joined = 0;
		for (int i = 0; i < 2 * pairs; i++)
			pairs_joined += L.cl[i].st == C_JOINED;
		for (int i = 0; i < 2 * pairs; i++)
			if (L.cl[i].st == C_IDLE && L.hosts[L.cl[i].host].have_cookie) {
				start(&L.cl[i]);
				started++;
			}
		if (storm_at < 0 && pairs_joined == 2 * pairs && (pairs == 0 || tick > 100)) {
			storm_at = t;
			L.window_start = t;
			L.window_end = t + (int64_t)(storm * 1e9);
			if (pid)
				proc_usage(pid, &cpu0, &rss0);
			metrics_mark_start();
			fprintf(stderr, "es-load: %d pairs talking; storm of %d over %.1f s\n", pairs, people, storm);
		}
		if (storm_at >= 0) {
			double frac = (double)(t - storm_at) / (storm * 1e9);
			int due = 2 * pairs + (int)((frac > 1 ? 1 : frac) * people);
			for (int i = 2 * pairs; i < due && i < L.npeople; i++)
				if (L.cl[i].st == C_IDLE && L.hosts[L.cl[i].host].have_cookie) {
					start(&L.cl[i]);
					started++;
				}
			if (t >= L.window_start && t < L.window_end)
				expected_pair_ticks++;
			if (room) {
				/*
				 * One room: measure once everyone has joined (or 5 s after the
				 * arrivals, whoever is in by then), one second later, for --hold
				 * seconds: the room as it talks, not the joins.
				 */
				int in = 0;
				for (int i = 0; i < L.npeople; i++)
					in += L.cl[i].st == C_JOINED;
				if (room_settle < 0 && frac >= 1 && (in == L.npeople || t - storm_at > (int64_t)((storm + 5) * 1e9)))
					room_settle = t + 1000000000LL;
				if (room_at < 0 && room_settle >= 0 && t >= room_settle) {
					room_at = t;
					L.window_start = t;
					L.window_end = t + (int64_t)(hold * 1e9);
					if (pid)
						proc_usage(pid, &cpu0, &rss0);
					metrics_restart();
					end_at = L.window_end;
					L.measure_start = L.window_start;
					L.measure_end = L.window_end;
					fprintf(stderr, "es-load: %d of %d in the room; measuring %.0f s\n", in, L.npeople, hold);
				}
				if (room_at >= 0 && t < L.window_end)
					room_ticks++;
			} else if (end_at < 0 && frac >= 1) {
				end_at = t + (int64_t)(hold * 1e9);
				L.measure_start = t;
				L.measure_end = end_at;
			}
			if (end_at >= 0 && t >= end_at)
				break;
		}
		if (storm_at >= 0)
			metrics_sample(tick);
		if (end_at >= 0 && L.convo_expect)
			convo_tick(tick); /* measured once everyone has arrived */
		/* voices */
		for (int i = 0; i < L.npeople; i++) {
			struct client *c = &L.cl[i];
			if (c->st != C_JOINED || !talking(c, tick))
				continue;
			int f = (int)(c->seq % FRAMES);
			struct es_msg m = {.type = ES_MSG_AUDIO_UP};
			m.u.up = (struct es_audio_up){c->seq, ES_PF_TALKING, (uint16_t)L.frame_len[f], L.frames[f]};
			send_sealed(c, &m, true);
			c->seq++;
		}
		for (int i = 0; i < L.nhosts; i++)
			enet_host_flush(L.hosts[i].h);
	}
	if (pid)
		proc_usage(pid, &cpu1, &rss1);
	metrics_mark_end();
	double wall = (double)(now_ns() - (room_at > 0 ? room_at : storm_at > 0 ? storm_at : t0)) / 1e9;

	/* results */
	int admitted = 0, busy = 0, refused = 0, failed = 0, pending = 0, answered_late = 0;
	int64_t *ans = calloc((size_t)L.npeople, sizeof(int64_t)), *ttfa = calloc((size_t)L.npeople, sizeof(int64_t));
	int nans = 0, nttfa = 0, heard = 0;
	uint64_t min_retry = UINT64_MAX, max_retry = 0;
	for (int i = 2 * pairs; i < L.npeople; i++) {
		struct client *c = &L.cl[i];
		switch (c->st) {
		case C_JOINED: admitted++; break;
		case C_BUSY: busy++; break;
		case C_REFUSED: refused++; break;
		case C_FAILED: failed++; break;
		default: pending++; break;
		}
		if (c->t_answer) {
			ans[nans++] = c->t_answer - c->t_start;
			answered_late += c->t_answer - c->t_start > 1000000000LL;
		}
		if (c->st == C_BUSY) {
			min_retry = c->retry_ms < min_retry ? c->retry_ms : min_retry;
			max_retry = c->retry_ms > max_retry ? c->retry_ms : max_retry;
		}
		if (c->t_first_audio) {
			ttfa[nttfa++] = c->t_first_audio - c->t_start;
			heard++;
		}
	}
	uint64_t pair_rx = 0;
	int pairs_ok = 0;
	for (int i = 0; i < 2 * pairs; i++) {
		pair_rx += L.cl[i].frames_rx_window;
		pairs_ok += L.cl[i].st == C_JOINED;
	}
	double pair_expected = (double)expected_pair_ticks * 2 * pairs;
	double pair_loss = pair_expected > 0 ? 1.0 - (double)pair_rx / pair_expected : 0;
	if (pair_loss < 0)
		pair_loss = 0; /* a tick's bundle can land just inside the window edge */
	double a50 = pct(ans, nans, 0.5), a99 = pct(ans, nans, 0.99);
	double f50 = pct(ttfa, nttfa, 0.5), f99 = pct(ttfa, nttfa, 0.99);
	printf("arrivals %d: admitted %d, busy %d (retry after %llu..%llu ms), refused %d, failed %d, no answer %d\n",
	       people, admitted, busy, busy ? (unsigned long long)min_retry : 0ULL, (unsigned long long)max_retry, refused,
	       failed, pending);
	printf("time to an answer: p50 %.0f ms, p99 %.0f ms (%d over 1 s)\n", a50, a99, answered_late);
	printf("time to first audio: p50 %.0f ms, p99 %.0f ms (%d heard anyone)\n", f50, f99, heard);
	printf("pairs already talking: %d of %d still in; frames %llu of %.0f expected during the storm: loss %.3f %%\n",
	       pairs_ok, 2 * pairs, (unsigned long long)pair_rx, pair_expected, 100 * pair_loss);
	double cpu = cpu1 >= 0 && cpu0 >= 0 ? (cpu1 - cpu0) / wall : -1;
	if (pid)
		printf("daemon: %.1f %% of a core over %.1f s, resident %ld KiB (was %ld)\n", 100 * cpu, wall, rss1, rss0);
	metrics_report();
	double abo[4];
	answers_by_outcome(2 * pairs, abo);
	answer_steps(2 * pairs);
	for (int i = 0; L.convo_expect && i < L.npeople; i++) {
		L.convo_expected += L.convo_exp[i];
		L.convo_received += L.convo_rx[i] < L.convo_exp[i] ? L.convo_rx[i] : L.convo_exp[i];
	}
	int room_talkers = 0, room_in = 0;
	uint64_t room_rx = 0;
	for (int i = 0; room && i < L.npeople; i++) {
		room_talkers += L.cl[i].role == R_ROOM;
		room_in += L.cl[i].st == C_JOINED;
		room_rx += L.cl[i].frames_rx_window < room_ticks ? L.cl[i].frames_rx_window : room_ticks;
	}
	double room_exp = (double)room_ticks * room_in;
	double room_us = cpu >= 0 && room_in > 0 ? cpu * 20000.0 / room_in : -1;
	/* what each listener who heard anyone was sent, over the measured span */
	double *down = calloc((size_t)L.npeople, sizeof(double)), down_span = (double)(L.measure_end - L.measure_start) / 1e9;
	int ndown = 0, down_max = 0;
	for (int i = 0; down && L.measure_start >= 0 && down_span > 0 && i < L.npeople; i++)
		if (L.cl[i].down_bytes_m) {
			down[ndown++] = (double)L.cl[i].down_bytes_m * 8.0 / down_span / 1000.0;
			down_max = L.cl[i].down_max_m > down_max ? L.cl[i].down_max_m : down_max;
		}
	double dk50 = -1, dk99 = -1;
	if (ndown) {
		int64_t *dv = calloc((size_t)ndown, sizeof(int64_t));
		for (int i = 0; dv && i < ndown; i++)
			dv[i] = (int64_t)(down[i] * 1e6); /* pct() reads /1e6 */
		if (dv) {
			dk50 = pct(dv, ndown, 0.5);
			dk99 = pct(dv, ndown, 0.99);
		}
		free(dv);
		printf("downlink per listener (%d who heard anyone, %.0f s): p50 %.1f kbit/s, p99 %.1f kbit/s of sealed bundles "
		       "(ENet, UDP and IP add ~38 B a bundle); largest %d B\n", ndown, down_span, dk50, dk99, down_max);
	}
	free(down);
	if (room)
		printf("room: %d people (%d in), %d talking; daemon %.2f us of CPU per participant per tick; bundles %llu of %.0f "
		       "expected: loss %.3f %%\n",
		       L.npeople, room_in, room_talkers, room_us, (unsigned long long)room_rx, room_exp,
		       room_exp > 0 ? 100.0 * (1.0 - (double)room_rx / room_exp) : 0.0);
	if (L.convo_expected)
		printf("conversations: %llu bundles of %llu expected: loss %.3f %%\n", (unsigned long long)L.convo_received,
		       (unsigned long long)L.convo_expected, 100.0 * (1.0 - (double)L.convo_received / (double)L.convo_expected));
	printf("generator ticks: %llu, %llu started over 10 ms late, latest %.1f ms\n", (unsigned long long)L.gen_ticks,
	       (unsigned long long)L.gen_late_10ms, (double)L.gen_late_max / 1e6);
	printf("answered busy: p50 %.0f ms, p99 %.0f ms; admitted: p50 %.0f ms, p99 %.0f ms\n", abo[0], abo[1], abo[2], abo[3]);
	printf("{\"arrivals\":%d,\"pairs\":%d,\"admitted\":%d,\"busy\":%d,\"refused\":%d,\"failed\":%d,\"no_answer\":%d,"
	       "\"answer_ms_p50\":%.1f,\"answer_ms_p99\":%.1f,\"answered_over_1s\":%d,\"first_audio_ms_p50\":%.1f,"
	       "\"first_audio_ms_p99\":%.1f,\"heard\":%d,\"pair_loss_pct\":%.3f,\"retry_min_ms\":%llu,\"retry_max_ms\":%llu,"
	       "\"daemon_cpu_core\":%.3f,\"daemon_rss_kib\":%ld,\"seconds\":%.1f",
	       people, pairs, admitted, busy, refused, failed, pending, a50, a99, answered_late, f50, f99, heard,
	       100 * pair_loss, busy ? (unsigned long long)min_retry : 0ULL, (unsigned long long)max_retry, cpu, rss1, wall);
	printf(",\"busy_answer_ms_p50\":%.1f,\"busy_answer_ms_p99\":%.1f,\"admitted_answer_ms_p50\":%.1f,"
	       "\"admitted_answer_ms_p99\":%.1f", abo[0], abo[1], abo[2], abo[3]);
	printf(",\"step_connect_ms_p50\":%.1f,\"step_connect_ms_p99\":%.1f,\"step_key_ms_p50\":%.1f,\"step_key_ms_p99\":%.1f,"
	       "\"step_reply_ms_p50\":%.1f,\"step_reply_ms_p99\":%.1f", L.step_ms[0][0], L.step_ms[0][1], L.step_ms[1][0], L.step_ms[1][1],
	       L.step_ms[2][0], L.step_ms[2][1]);
	if (L.convo_expected)
		printf(",\"convo_expected\":%llu,\"convo_received\":%llu,\"convo_loss_pct\":%.3f",
		       (unsigned long long)L.convo_expected, (unsigned long long)L.convo_received,
		       100.0 * (1.0 - (double)L.convo_received / (double)L.convo_expected));
	if (room)
		printf(",\"room_people\":%d,\"room_in\":%d,\"room_talking\":%d,\"room_us_per_person_tick\":%.2f,"
		       "\"room_bundle_loss_pct\":%.3f",
		       L.npeople, room_in, room_talkers, room_us,
		       room_exp > 0 ? 100.0 * (1.0 - (double)room_rx / room_exp) : 0.0);
	printf(",\"down_listeners\":%d,\"down_kbps_p50\":%.1f,\"down_kbps_p99\":%.1f,\"down_bundle_max\":%d", ndown, dk50,
	       dk99, down_max);
	printf(",\"gen_ticks_late_10ms\":%llu,\"gen_late_ms_max\":%.1f", (unsigned long long)L.gen_late_10ms,
	       (double)L.gen_late_max / 1e6);
	metrics_json();
	printf("}\n");
	for (int i = 0; i < L.npeople; i++)
		if (L.cl[i].peer)
			enet_peer_disconnect_now(L.cl[i].peer, 0);
	for (int i = 0; i < L.nhosts; i++) {
		enet_host_flush(L.hosts[i].h);
		enet_host_destroy(L.hosts[i].h);
	}
	free(ans);
	free(ttfa);
	free(L.cl);
	free(L.hosts);
	return 0;
}

