/* SPDX-License-Identifier: MIT */
/*
 * es-load: many simulated people against one earshotd, from one process,
 * over the real protocol (cookie, ENet, Noise IK, sealed packets).  Voice
 * is pre-encoded Opus (encoded once at start, never in the loop).  Loopback
 * only; every loop is bounded in count and time.
 *
 *   es-load --server 127.0.0.1:7700 --pairs 50 --people 2000 --storm 1 --hold 10 [--roster]
 *   es-load --server 127.0.0.1:7700 --room --people 150 --talking 0.1 --storm 1 --hold 30
 *   es-load --company 127.0.0.1:7701,127.0.0.1:7702,127.0.0.1:7703 --floors 6 --people 1400 \
 *           --per-floor 100,100,100,500,100,500 --kill-pid PID --kill-addr 127.0.0.1:7702
 *
 * With --company, people on the floors of a company of several daemons,
 * following redirects and finding another daemon when theirs dies
 * (company.c; bench/company.sh drives it).
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
 * --metrics, the daemon's own tick figures; with --thin, everyone asks for
 * one server-rendered stream, so every listener costs the server a mix;
 * with --pid, its CPU time and resident memory.  The last line printed is one JSON object.
 */
#include <getopt.h>

#include "earshot-mixer.h"
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


/* What the command line asked for. */
struct opts {
	const char *srv, *metrics;
	int pairs, people, pid, convos, meeting;
	double storm, hold, max_s;
	bool near, room;
	bool desks; /* --office --desks: at the built-in office's desks (office_desks) */
	double talking_frac;
	bool churn; /* --churn: a compressed day (churn.c) */
	double duration, steady, report;
	unsigned tile_x, tile_y;
	struct company_opts co; /* --company */
};

/* Read the command line into *opt (and L's options).  0, or the exit code. */
static int parse_opts(int argc, char **argv, struct opts *opt)
{
	*opt = (struct opts){.srv = "127.0.0.1:7700", .storm = 1.0, .hold = 5.0, .max_s = 120, .near = true,
			     .talking_frac = 0.1, .duration = 1800, .steady = 60, .report = 10, .tile_x = 1, .tile_y = 1,
			     .co = {.kill_after_s = 5, .recover_s = 30}};
	static const struct option lo[] = {
		{"server", 1, NULL, 's'}, {"pairs", 1, NULL, 'p'}, {"people", 1, NULL, 'n'}, {"storm", 1, NULL, 'S'},
		{"hold", 1, NULL, 'H'}, {"pid", 1, NULL, 'P'}, {"office", 0, NULL, 'o'}, {"max-seconds", 1, NULL, 'M'},
		{"spread", 0, NULL, 'f'}, {"metrics", 1, NULL, 'm'}, {"roster", 0, NULL, 'R'},
		/* churn mode (a compressed day), see churn_run() */
		{"churn", 0, NULL, 'C'}, {"duration", 1, NULL, 'D'}, {"steady", 1, NULL, 'B'}, {"report", 1, NULL, 'T'},
		{"floor-tile-x", 1, NULL, 'X'}, {"floor-tile-y", 1, NULL, 'Y'}, {"name-prefix", 1, NULL, 'N'},
		/* a company of several daemons, see company.c */
		{"company", 1, NULL, 1000}, {"floors", 1, NULL, 1001}, {"per-floor", 1, NULL, 1002}, {"kill-pid", 1, NULL, 1003},
		{"kill-addr", 1, NULL, 1004}, {"kill-after", 1, NULL, 1005}, {"recover", 1, NULL, 1006}, {"places-out", 1, NULL, 1007}, {"walkers", 1, NULL, 1008}, {"home", 1, NULL, 1009}, {"silent-floors", 1, NULL, 1010},
		{"quiet-every", 1, NULL, 'q'}, {"quiet-for", 1, NULL, 'Q'}, {"room", 0, NULL, 'r'}, {"talking", 1, NULL, 't'}, {"desks", 0, NULL, 'd'}, {"thin", 0, NULL, 'h'},
		{0},
	};
	int o;
	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 's': opt->srv = optarg; break;
		case 'p': opt->pairs = atoi(optarg); break;
		case 'n': opt->people = atoi(optarg); break;
		case 'S': opt->storm = atof(optarg); break;
		case 'H': opt->hold = atof(optarg); break;
		case 'P': opt->pid = atoi(optarg); break;
		case 'o': opt->convos = 60; opt->meeting = 8; break;
		case 'M': opt->max_s = atof(optarg); break;
		case 'f': opt->near = false; break;
		case 'R': L.want_roster = true; break;
		case 'm': opt->metrics = optarg; break;
		case 'C': opt->churn = true; break;
		case 'D': opt->duration = atof(optarg); break;
		case 'B': opt->steady = atof(optarg); break;
		case 'T': opt->report = atof(optarg); break;
		case 'X': opt->tile_x = (unsigned)atoi(optarg); break;
		case 'Y': opt->tile_y = (unsigned)atoi(optarg); break;
		case 'N': L.churn_prefix = optarg; break;
		case 'q': L.quiet_every_s = atof(optarg); break;
		case 'Q': L.quiet_for_s = atof(optarg); break;
		case 'r': opt->room = true; break;
		case 'h': L.want_thin = true; break;
		case 't': opt->talking_frac = atof(optarg); break;
		case 'd': opt->desks = true; break;
		case 1000: opt->co.servers = optarg; break;
		case 1001: opt->co.floors = (unsigned)atoi(optarg); break;
		case 1002: opt->co.per_floor = optarg; break;
		case 1003: opt->co.kill_pid = atoi(optarg); break;
		case 1004: opt->co.kill_addr = optarg; break;
		case 1005: opt->co.kill_after_s = atof(optarg); break;
		case 1006: opt->co.recover_s = atof(optarg); break;
		case 1007: opt->co.places_out = optarg; break;
		case 1008: opt->co.walkers = atof(optarg); break;
		case 1009: opt->co.home = optarg; break;
		case 1010:
			for (char *q = optarg; *q;) {
				char *end;
				long k = strtol(q, &end, 10);
				if (end == q || k < 0 || k > 63) {
					fprintf(stderr, "es-load: --silent-floors K1,K2,... (0..63)\n");
					return 2;
				}
				opt->co.silent_floors |= 1ull << k;
				q = *end == ',' ? end + 1 : end;
				if (*end && *end != ',')
					break;
			}
			break;
		default:
			fprintf(stderr, "usage: es-load --server ADDR [--pairs P] [--people N] [--storm S] [--hold S] "
					"[--office [--desks [--floor-tile-x N] [--floor-tile-y N]]] [--spread] [--pid PID] [--max-seconds S]\n"
					"       es-load --server ADDR --room --people N [--talking F] [--thin] [--storm S] [--hold S] [--pid PID] [--metrics A]\n"
					"       es-load --server ADDR --churn --people N [--roster] [--steady S] [--duration S] "
					"[--report S] [--floor-tile-x N] [--floor-tile-y N] [--name-prefix P] [--quiet-every S --quiet-for S] [--max-seconds S]\n"
					"       es-load --company ADDR1,ADDR2,... --floors N --people P [--per-floor N0,N1,...] [--talking F] [--walkers F] [--home A0,A1,...] [--silent-floors K,...] [--storm S]\n"
					"               [--hold S] [--kill-pid PID --kill-addr ADDR [--kill-after S] [--recover S] [--places-out FILE]] [--max-seconds S]\n");
			return 2;
		}
	}
	if (opt->co.servers) {
		if (opt->pairs || opt->room || opt->churn || opt->convos || !(opt->talking_frac >= 0 && opt->talking_frac <= 1)) {
			fprintf(stderr, "es-load: --company is people only (no --pairs, --room, --office, --churn), --talking in [0, 1]\n");
			return 2;
		}
		L.company = true;
		L.want_place = true; /* everyone sits exactly at their place, as the real client after a redirect */
		opt->co.storm_s = opt->storm;
		opt->co.hold_s = opt->hold;
		opt->co.max_s = opt->max_s;
		opt->co.talking = opt->talking_frac;
		if (!opt->co.floors)
			opt->co.floors = 1;
	}
	if (opt->metrics && metrics_parse_addr(opt->metrics) < 0) {
		fprintf(stderr, "es-load: --metrics ADDR:PORT\n");
		return 2;
	}
	L.npeople = 2 * opt->pairs + opt->people;
	/* the office's activity grows with it: 60 conversations of three for 2,000 people */
	if (opt->convos && opt->people > 0)
		opt->convos = (60 * opt->people + 1999) / 2000;
	if (opt->room && (opt->pairs || opt->convos || opt->churn || !(opt->talking_frac > 0.0 && opt->talking_frac <= 1.0))) {
		fprintf(stderr, "es-load: --room is people only (no --pairs, --office, --churn), --talking in (0, 1]\n");
		return 2;
	}
	if (opt->desks && (!opt->convos || opt->pairs || opt->room || opt->churn || opt->tile_x < 1 || opt->tile_y < 1)) {
		fprintf(stderr, "es-load: --desks is with --office only (no --pairs, --room, --churn)\n");
		return 2;
	}
	if (L.npeople <= 0 || L.npeople > MAX_PEOPLE || opt->storm <= 0 || opt->hold < 0 || opt->max_s <= 0 || opt->max_s > 3600) {
		fprintf(stderr, "es-load: 1..%d people, positive times, at most an hour\n", MAX_PEOPLE);
		return 2;
	}
	return 0;
}

/* Libraries, the pre-encoded voice, the server's address, the people and their hosts.  0, or the exit code. */
static int setup(const struct opts *opt)
{
	if (sodium_init() < 0 || enet_initialize() != 0 || make_frames() < 0)
		return 1;
	char host[64];
	const char *colon = strrchr(opt->srv, ':');
	if (!colon || (size_t)(colon - opt->srv) >= sizeof(host))
		return 2;
	memcpy(host, opt->srv, (size_t)(colon - opt->srv));
	host[colon - opt->srv] = 0;
	if (enet_address_set_host_ip(&L.server, host) != 0)
		return 2;
	L.server.port = (enet_uint16)atoi(colon + 1); /* unused with --company: company.c has its list */

	L.nhosts = (L.npeople + PER_HOST - 1) / PER_HOST;
	L.hosts = calloc((size_t)L.nhosts, sizeof(*L.hosts));
	L.cl = calloc((size_t)L.npeople, sizeof(*L.cl));
	L.t_connected = calloc((size_t)L.npeople, sizeof(*L.t_connected));
	L.t_key = calloc((size_t)L.npeople, sizeof(*L.t_key));
	L.key_of = calloc((size_t)L.npeople, sizeof(*L.key_of));
	L.key_ring = calloc((size_t)L.npeople, sizeof(*L.key_ring));
	L.reply_of = calloc((size_t)L.npeople, sizeof(*L.reply_of));
	if (opt->convos) {
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
		/* in a company a person may be leaving one daemon while joining another: two slots each */
		L.hosts[i].h = enet_host_create(&a, L.company ? 2 * PER_HOST : PER_HOST, ES_CHAN_COUNT, 0, 0);
		if (!L.hosts[i].h) {
			fprintf(stderr, "es-load: cannot create host %d\n", i);
			return 1;
		}
		L.hosts[i].h->intercept = intercept;
		L.hosts[i].addr = a.host;
	}
	return 0;
}

/*
 * --office --desks: everyone at a desk of the built-in office, tiled like the
 * daemon's --floor-tile-x/-y, in the floor's desk order (along the rows of
 * each cluster, neighbours 1.5-2 m apart), taken in groups of eight.  The
 * conversations of three sit at the first three desks of groups spread
 * evenly over the occupied desks; the meeting of eight fills the group
 * midway between the first two conversations'.  Everyone asks to sit exactly
 * there (ES_PF_PLACE).  -ENOSPC if there are fewer desks than people.
 */
static int office_desks(unsigned tx, unsigned ty, int convos, int meeting)
{
	struct es_floor *f = es_floor_default(), *t = f;
	if (f && (tx > 1 || ty > 1)) {
		t = es_floor_tile(f, tx, ty);
		es_floor_free(f);
	}
	if (!t)
		return -ENOMEM;
	int ndesk = (int)es_floor_desk_count(t), tables = L.npeople / 8, rc = 0;
	if (ndesk < L.npeople || convos + 1 > tables) {
		rc = -ENOSPC;
		goto out;
	}
	int spacing = tables / convos, meet_table = spacing / 2;
	for (int k = 0; k < L.npeople; k++) {
		struct client *c = &L.cl[k];
		if (es_floor_desk(t, (unsigned)k, &c->x, &c->y, NULL) < 0) {
			rc = -EINVAL;
			goto out;
		}
		int table = k / 8, seat = k % 8;
		c->role = R_SILENT;
		if (table % spacing == 0 && table / spacing < convos && seat < 3) {
			c->role = R_CONVO;
			c->group = table / spacing;
			c->turn = seat;
		} else if (meeting && table == meet_table && spacing >= 2) {
			c->role = R_MEETING;
			c->turn = seat;
		}
	}
	L.want_place = true;
out:
	es_floor_free(t);
	return rc;
}

/*
 * Roles and places: pairs 30 m apart from each other (beyond earshot),
 * newcomers near a pair (they hear it) or spread over the floor.  Then
 * every host asks for its cookie.  0, or the exit code.
 */
static int place_people(const struct opts *opt)
{
	srand(7);
	int side = (int)ceil(sqrt(opt->pairs > 0 ? opt->pairs : 1));
	for (int i = 0; i < L.npeople; i++) {
		struct client *c = &L.cl[i];
		c->host = i / PER_HOST;
		es_noise_keypair(&c->id);
		snprintf(c->name, sizeof(c->name), "p%d", i);
		if (i < 2 * opt->pairs) {
			int p = i / 2;
			c->role = R_PAIR;
			c->group = p;
			c->x = (float)(p % side) * 30.0f + (float)(i % 2) * 1.5f;
			c->y = (float)(p / side) * 30.0f;
		} else {
			int k = i - 2 * opt->pairs;
			if (opt->near && opt->pairs > 0) {
				int p = k % opt->pairs;
				float ang = (float)k * 2.399963f, r = 2.0f + 2.0f * (float)(k % 3);
				c->x = (float)(p % side) * 30.0f + r * cosf(ang);
				c->y = (float)(p / side) * 30.0f + r * sinf(ang);
			} else {
				/* a desk floor: 2 m grid, 100 m wide */
				c->x = (float)(k % 50) * 2.0f;
				c->y = 200.0f + (float)(k / 50) * 2.0f;
			}
			if (opt->room) {
				/* one room: a square grid 1.2 m apart; every 1/F-th person talks */
				int rside = (int)ceil(sqrt((double)opt->people));
				c->x = 10.0f + (float)(k % rside) * 1.2f;
				c->y = 10.0f + (float)(k / rside) * 1.2f;
				c->role = floor((k + 1) * opt->talking_frac) > floor(k * opt->talking_frac) ? R_ROOM : R_SILENT;
			}
			if (opt->convos && k < opt->convos * 3) { /* 60 conversations of 3 */
				c->role = R_CONVO;
				c->group = k / 3;
				c->turn = k % 3;
				c->x = (float)(c->group % 10) * 10.0f + (float)c->turn;
				c->y = 200.0f + (float)(c->group / 10) * 10.0f;
			} else if (opt->meeting && k >= opt->convos * 3 && k < opt->convos * 3 + opt->meeting) {
				c->role = R_MEETING;
				c->turn = k - opt->convos * 3;
				c->x = 150.0f + (float)(c->turn % 4);
				c->y = 150.0f + (float)(c->turn / 4);
			}
		}
	}
	if (opt->desks && office_desks(opt->tile_x, opt->tile_y, opt->convos, opt->meeting) < 0) {
		fprintf(stderr, "es-load: --desks: the built-in office tiled %ux%u has fewer desks than %d people\n", opt->tile_x,
			opt->tile_y, L.npeople);
		return 2;
	}
	for (int i = 0; i < L.nhosts && !L.company; i++) /* a company's cookies are per daemon (company.c) */
		ask_cookie(&L.hosts[i]);
	return 0;
}

/* --churn: the compressed day, then goodbye.  The exit code. */
static int run_churn(const struct opts *opt)
{
	if (opt->duration <= 0 || opt->steady < 0 || opt->report <= 0 || opt->tile_x < 1 || opt->tile_y < 1 ||
	    opt->steady + opt->duration + 120 > opt->max_s || L.quiet_for_s < 0 || (L.quiet_every_s > 0 && L.quiet_for_s >= L.quiet_every_s)) {
		fprintf(stderr, "es-load: --churn needs positive times and --max-seconds above steady + duration + 120\n");
		return 2;
	}
	/* the churn answers server keys and handshake replies as they come
	 * (its loop has no slack phase): no deferred-answer ring */
	free(L.key_ring);
	L.key_ring = NULL;
	int rc = churn_run(opt->steady, opt->duration, opt->report, opt->max_s, opt->tile_x, opt->tile_y);
	for (int i = 0; i < L.npeople; i++)
		if (L.cl[i].peer)
			enet_peer_disconnect_now(L.cl[i].peer, 0);
	for (int i = 0; i < L.nhosts; i++)
		enet_host_destroy(L.hosts[i].h);
	free(L.cl);
	free(L.hosts);
	return rc;
}

/* What a storm, office or room run leaves for its report. */
struct storm_run {
	int64_t t0, storm_at, room_at;
	uint64_t room_ticks, expected_pair_ticks;
	double cpu0, cpu1, wall;
	long rss0, rss1;
};

/*
 * The storm (or office, or room): the pairs join and talk, then the
 * arrivals come over --storm seconds and stay --hold seconds, one tick
 * every 20 ms, the handshakes' work in each tick's slack.
 */
static void run_storm(const struct opts *opt, struct storm_run *r)
{
	*r = (struct storm_run){.t0 = now_ns(), .storm_at = -1, .room_at = -1, .cpu0 = -1, .cpu1 = -1, .rss0 = -1, .rss1 = -1};
	int64_t deadline = r->t0 + TICK_NS, hard_end = r->t0 + (int64_t)(opt->max_s * 1e9);
	int64_t end_at = -1, room_settle = -1;
	uint64_t tick = 0;
	int started = 0;
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
		if (r->storm_at >= 0)
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
		for (int i = 0; i < 2 * opt->pairs; i++)
			pairs_joined += L.cl[i].st == C_JOINED;
		for (int i = 0; i < 2 * opt->pairs; i++)
			if (L.cl[i].st == C_IDLE && L.hosts[L.cl[i].host].have_cookie) {
				start(&L.cl[i]);
				started++;
			}
		if (r->storm_at < 0 && pairs_joined == 2 * opt->pairs && (opt->pairs == 0 || tick > 100)) {
			r->storm_at = t;
			L.window_start = t;
			L.window_end = t + (int64_t)(opt->storm * 1e9);
			if (opt->pid)
				proc_usage(opt->pid, &r->cpu0, &r->rss0);
			metrics_mark_start();
			fprintf(stderr, "es-load: %d pairs talking; storm of %d over %.1f s\n", opt->pairs, opt->people, opt->storm);
		}
		if (r->storm_at >= 0) {
			double frac = (double)(t - r->storm_at) / (opt->storm * 1e9);
			int due = 2 * opt->pairs + (int)((frac > 1 ? 1 : frac) * opt->people);
			for (int i = 2 * opt->pairs; i < due && i < L.npeople; i++)
				if (L.cl[i].st == C_IDLE && L.hosts[L.cl[i].host].have_cookie) {
					start(&L.cl[i]);
					started++;
				}
			if (t >= L.window_start && t < L.window_end)
				r->expected_pair_ticks++;
			if (opt->room || opt->desks) {
				/*
				 * One room (and the office at desks): measure once everyone has
				 * joined (or 5 s after the arrivals, whoever is in by then), one
				 * second later, for --hold seconds: the room as it talks, not the
				 * joins.
				 */
				int in = 0;
				for (int i = 0; i < L.npeople; i++)
					in += L.cl[i].st == C_JOINED;
				if (room_settle < 0 && frac >= 1 && (in == L.npeople || t - r->storm_at > (int64_t)((opt->storm + 5) * 1e9)))
					room_settle = t + 1000000000LL;
				if (r->room_at < 0 && room_settle >= 0 && t >= room_settle) {
					r->room_at = t;
					L.window_start = t;
					L.window_end = t + (int64_t)(opt->hold * 1e9);
					if (opt->pid)
						proc_usage(opt->pid, &r->cpu0, &r->rss0);
					metrics_restart();
					end_at = L.window_end;
					L.measure_start = L.window_start;
					L.measure_end = L.window_end;
					fprintf(stderr, "es-load: %d of %d in; measuring %.0f s\n", in, L.npeople, opt->hold);
				}
				if (r->room_at >= 0 && t < L.window_end)
					r->room_ticks++;
			} else if (end_at < 0 && frac >= 1) {
				end_at = t + (int64_t)(opt->hold * 1e9);
				L.measure_start = t;
				L.measure_end = end_at;
			}
			if (end_at >= 0 && t >= end_at)
				break;
		}
		if (r->storm_at >= 0)
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
	if (opt->pid)
		proc_usage(opt->pid, &r->cpu1, &r->rss1);
	metrics_mark_end();
	r->wall = (double)(now_ns() - (r->room_at > 0 ? r->room_at : r->storm_at > 0 ? r->storm_at : r->t0)) / 1e9;
}

/* A storm run's results: the lines the scripts read, the JSON object last.  The exit code. */
static int report(const struct opts *opt, const struct storm_run *r)
{
	int admitted = 0, busy = 0, refused = 0, failed = 0, pending = 0, answered_late = 0;
	int64_t *ans = calloc((size_t)L.npeople, sizeof(int64_t)), *ttfa = calloc((size_t)L.npeople, sizeof(int64_t));
	int nans = 0, nttfa = 0, heard = 0;
	uint64_t min_retry = UINT64_MAX, max_retry = 0;
	for (int i = 2 * opt->pairs; i < L.npeople; i++) {
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
	for (int i = 0; i < 2 * opt->pairs; i++) {
		pair_rx += L.cl[i].frames_rx_window;
		pairs_ok += L.cl[i].st == C_JOINED;
	}
	double pair_expected = (double)r->expected_pair_ticks * 2 * opt->pairs;
	double pair_loss = pair_expected > 0 ? 1.0 - (double)pair_rx / pair_expected : 0;
	if (pair_loss < 0)
		pair_loss = 0; /* a tick's bundle can land just inside the window edge */
	double a50 = pct(ans, nans, 0.5), a99 = pct(ans, nans, 0.99);
	double f50 = pct(ttfa, nttfa, 0.5), f99 = pct(ttfa, nttfa, 0.99);
	printf("arrivals %d: admitted %d, busy %d (retry after %llu..%llu ms), refused %d, failed %d, no answer %d\n",
	       opt->people, admitted, busy, busy ? (unsigned long long)min_retry : 0ULL, (unsigned long long)max_retry, refused,
	       failed, pending);
	printf("time to an answer: p50 %.0f ms, p99 %.0f ms (%d over 1 s)\n", a50, a99, answered_late);
	printf("time to first audio: p50 %.0f ms, p99 %.0f ms (%d heard anyone)\n", f50, f99, heard);
	printf("pairs already talking: %d of %d still in; frames %llu of %.0f expected during the storm: loss %.3f %%\n",
	       pairs_ok, 2 * opt->pairs, (unsigned long long)pair_rx, pair_expected, 100 * pair_loss);
	double cpu = r->cpu1 >= 0 && r->cpu0 >= 0 ? (r->cpu1 - r->cpu0) / r->wall : -1;
	if (opt->pid)
		printf("daemon: %.1f %% of a core over %.1f s, resident %ld KiB (was %ld)\n", 100 * cpu, r->wall, r->rss1, r->rss0);
	metrics_report();
	double abo[4];
	answers_by_outcome(2 * opt->pairs, abo);
	answer_steps(2 * opt->pairs);
	for (int i = 0; L.convo_expect && i < L.npeople; i++) {
		L.convo_expected += L.convo_exp[i];
		L.convo_received += L.convo_rx[i] < L.convo_exp[i] ? L.convo_rx[i] : L.convo_exp[i];
	}
	int room_talkers = 0, room_in = 0;
	uint64_t room_rx = 0;
	for (int i = 0; opt->room && i < L.npeople; i++) {
		room_talkers += L.cl[i].role == R_ROOM;
		room_in += L.cl[i].st == C_JOINED;
		room_rx += L.cl[i].frames_rx_window < r->room_ticks ? L.cl[i].frames_rx_window : r->room_ticks;
	}
	double room_exp = (double)r->room_ticks * room_in;
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
	if (opt->room)
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
	       opt->people, opt->pairs, admitted, busy, refused, failed, pending, a50, a99, answered_late, f50, f99, heard,
	       100 * pair_loss, busy ? (unsigned long long)min_retry : 0ULL, (unsigned long long)max_retry, cpu, r->rss1, r->wall);
	printf(",\"busy_answer_ms_p50\":%.1f,\"busy_answer_ms_p99\":%.1f,\"admitted_answer_ms_p50\":%.1f,"
	       "\"admitted_answer_ms_p99\":%.1f", abo[0], abo[1], abo[2], abo[3]);
	printf(",\"step_connect_ms_p50\":%.1f,\"step_connect_ms_p99\":%.1f,\"step_key_ms_p50\":%.1f,\"step_key_ms_p99\":%.1f,"
	       "\"step_reply_ms_p50\":%.1f,\"step_reply_ms_p99\":%.1f", L.step_ms[0][0], L.step_ms[0][1], L.step_ms[1][0], L.step_ms[1][1],
	       L.step_ms[2][0], L.step_ms[2][1]);
	if (L.convo_expected)
		printf(",\"convo_expected\":%llu,\"convo_received\":%llu,\"convo_loss_pct\":%.3f",
		       (unsigned long long)L.convo_expected, (unsigned long long)L.convo_received,
		       100.0 * (1.0 - (double)L.convo_received / (double)L.convo_expected));
	if (opt->room)
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

int main(int argc, char **argv)
{
	struct opts opt;
	int rc = parse_opts(argc, argv, &opt);
	if (rc == 0)
		rc = setup(&opt);
	if (rc)
		return rc;
	rc = place_people(&opt);
	if (rc)
		return rc;
	if (L.company)
		return company_run(&opt.co);
	if (opt.churn)
		return run_churn(&opt);
	struct storm_run r;
	run_storm(&opt, &r);
	return report(&opt, &r);
}
