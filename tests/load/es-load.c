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
 * --metrics, the daemon's own tick figures; with --thin, everyone asks for
 * one server-rendered stream, so every listener costs the server a mix;
 * with --pid, its CPU time and resident memory.  The last line printed is one JSON object.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <enet/enet.h>
#include <opus.h>
#include <sodium.h>

#include "earshot-crypto.h"
#include "earshot-proto.h"

#define TICK_NS 20000000LL
#define MAX_PEOPLE 8000
#define PER_HOST 40      /* simulated people per ENet host (one source address) */
#define FRAMES 250       /* 5 s of pre-encoded voice, looped */

enum cstate { C_IDLE, C_CONNECTING, C_WAIT_KEY, C_HS_SENT, C_JOINED, C_BUSY, C_REFUSED, C_FAILED };

enum role { R_SILENT, R_PAIR, R_CONVO, R_MEETING, R_ROOM };

struct client {
	enum cstate st;
	enum role role;
	int host;
	ENetPeer *peer;
	struct es_keypair id;
	struct es_noise hs;
	struct es_cipher tx, rx;
	float x, y;
	int group;       /* conversation or pair index */
	int turn;        /* position in the group's speaking order */
	uint32_t seq;
	int64_t t_start, t_answer, t_first_audio;
	uint64_t frames_rx, frames_rx_window;
	uint64_t down_bytes_m; /* audio bundles' bytes (sealed, as ENet delivers them) in the measured span */
	uint16_t down_max_m;   /* the largest of them */
	uint32_t retry_ms;
	char name[16];
};

struct host {
	ENetHost *h;
	uint32_t addr; /* network order */
	uint8_t nonce[ES_COOKIE_NONCE_LEN];
	uint32_t cookie;
	bool have_cookie;
	int64_t cookie_at;
};

static struct client *cl;
static struct host *hosts;
static int nhosts, npeople;
static ENetAddress server;
static uint8_t frames[FRAMES][ES_OPUS_MAX];
static int frame_len[FRAMES];
static int64_t window_start, window_end; /* the storm, for the pairs' loss */
static int64_t measure_start = -1, measure_end = -1; /* the span after the arrivals: downlink per listener */
static bool want_roster;             /* every simulated person asks for presence, as a UI does */
static bool want_thin; /* --thin: everyone asks for one server-rendered stream (a mix each) */
static int64_t *t_connected, *t_key; /* per person: ENet connected, server key received (0: not yet) */
/*
 * Server keys received and not yet answered with handshake message 1
 * (~0.1 ms of X25519 each): answered in the slack after the voices are
 * sent, so a storm's handshakes do not make the talkers' frames late.
 */
static struct es_server_key *key_of;
static int *key_ring, key_head, key_count;
/* the same for handshake message 2 (two X25519 to read): its bytes wait here */
struct reply_buf {
	uint16_t len;
	uint8_t b[ES_NOISE_MSG2_MAX];
};
static struct reply_buf *reply_of;
/*
 * Office-day loss: a conversation member should get a bundle every tick
 * while another member of the group talks.  Counted only away from turn
 * changes (10 ticks either side), where who talks is unambiguous.
 */
static bool *convo_expect;          /* per person: this tick counts */
static uint32_t *convo_exp, *convo_rx; /* per person: ticks counted, bundles received in them */
static uint64_t convo_expected, convo_received;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int host_of(ENetHost *h)
{
	for (int i = 0; i < nhosts; i++)
		if (hosts[i].h == h)
			return i;
	return -1;
}

static int ENET_CALLBACK intercept(ENetHost *h, ENetEvent *ev)
{
	(void)ev;
	if (!es_cookie_is_raw(h->receivedData, h->receivedDataLength))
		return 0;
	int i = host_of(h);
	uint32_t c;
	if (i >= 0 && es_cookie_reply_parse(h->receivedData, h->receivedDataLength, hosts[i].nonce, &c) == 0) {
		hosts[i].cookie = c;
		hosts[i].have_cookie = true;
		hosts[i].cookie_at = now_ns();
	}
	return 1;
}

static void ask_cookie(struct host *ho)
{
	randombytes_buf(ho->nonce, sizeof(ho->nonce));
	uint8_t req[ES_COOKIE_REQUEST_LEN];
	int n = es_cookie_request_build(ho->nonce, req, sizeof(req));
	ENetBuffer b = {.data = req, .dataLength = (size_t)n};
	enet_socket_send(ho->h->socket, &server, &b, 1);
}

/* Speech-like test voice: noise shaped into syllables, encoded once. */
static int make_frames(void)
{
	int e;
	OpusEncoder *enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &e);
	if (e != OPUS_OK)
		return -1;
	opus_encoder_ctl(enc, OPUS_SET_BITRATE(24000));
	opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(1));
	opus_encoder_ctl(enc, OPUS_SET_PACKET_LOSS_PERC(10));
	int16_t pcm[960];
	uint32_t rng = 12345;
	double ph = 0;
	for (int f = 0; f < FRAMES; f++) {
		for (int i = 0; i < 960; i++) {
			double t = (f * 960 + i) / 48000.0;
			double env = 0.5 + 0.5 * sin(2 * M_PI * 4.0 * t); /* ~4 syllables a second */
			rng = rng * 1664525u + 1013904223u;
			double noise = ((double)(rng >> 16) / 32768.0 - 1.0) * 0.3;
			ph += 2 * M_PI * (140.0 + 30.0 * sin(2 * M_PI * 0.5 * t)) / 48000.0;
			pcm[i] = (int16_t)(8000.0 * env * (0.7 * sin(ph) + noise));
		}
		frame_len[f] = opus_encode(enc, pcm, 960, frames[f], ES_OPUS_MAX);
		if (frame_len[f] <= 0)
			return -1;
	}
	opus_encoder_destroy(enc);
	return 0;
}

static int send_plain(struct client *c, const struct es_msg *m)
{
	uint8_t b[ES_MSG_MAX];
	int n = es_msg_encode(m, b, sizeof(b));
	if (n < 0)
		return n;
	ENetPacket *p = enet_packet_create(b, (size_t)n, ENET_PACKET_FLAG_RELIABLE);
	return p && enet_peer_send(c->peer, ES_CHAN_CONTROL, p) == 0 ? 0 : -EIO;
}

static int send_sealed(struct client *c, const struct es_msg *m, bool audio)
{
	uint8_t plain[ES_MSG_MAX], out[ES_MSG_MAX + 64];
	int n = es_msg_encode(m, plain, sizeof(plain));
	if (n < 0)
		return n;
	static const uint8_t ad = ES_MSG_SEALED;
	out[0] = ES_MSG_SEALED;
	int k = es_cipher_seal(&c->tx, &ad, 1, plain, (size_t)n, out + 1, sizeof(out) - 1);
	if (k < 0)
		return k;
	ENetPacket *p = enet_packet_create(out, (size_t)k + 1, audio ? ENET_PACKET_FLAG_UNSEQUENCED : ENET_PACKET_FLAG_RELIABLE);
	return p && enet_peer_send(c->peer, audio ? ES_CHAN_AUDIO : ES_CHAN_CONTROL, p) == 0 ? 0 : -EIO;
}

static void start(struct client *c)
{
	struct host *ho = &hosts[c->host];
	c->t_start = now_ns();
	c->peer = enet_host_connect(ho->h, &server, ES_CHAN_COUNT, ho->cookie);
	if (!c->peer) {
		c->st = C_FAILED;
		return;
	}
	c->peer->data = c;
	c->st = C_CONNECTING;
}

static void on_key(struct client *c, const struct es_server_key *k)
{
	struct es_pos pos = {(int32_t)lrintf(c->x * 100), (int32_t)lrintf(c->y * 100), 0};
	struct es_join_payload jp = {.hello = {ES_PROTO_VERSION, (uint8_t)((want_roster ? ES_PF_ROSTER : 0) | (want_thin ? ES_PF_THIN : 0)), pos, (uint8_t)strlen(c->name), c->name}};
	uint8_t payload[ES_NOISE_PAYLOAD_MAX], msg1[ES_NOISE_MSG1_MAX], ts[ES_TAI64N_LEN];
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	es_timestamp_make(ts, (uint64_t)rt.tv_sec, (uint32_t)rt.tv_nsec);
	int pn = es_join_payload_encode(&jp, payload, sizeof(payload));
	int n = -1;
	if (pn > 0 && es_noise_initiator_init(&c->hs, &c->id, k->key, (const uint8_t *)ES_NOISE_PROLOGUE,
					      sizeof(ES_NOISE_PROLOGUE) - 1) == 0)
		n = es_noise_write_msg1(&c->hs, ts, payload, (size_t)pn, msg1, sizeof(msg1));
	struct es_msg m = {.type = ES_MSG_HANDSHAKE1, .u.blob = {(uint16_t)(n > 0 ? n : 0), msg1}};
	if (n <= 0 || send_plain(c, &m) < 0) {
		c->st = C_FAILED;
		return;
	}
	c->st = C_HS_SENT;
}

static void on_receive(struct client *c, const uint8_t *data, size_t len)
{
	struct es_msg m;
	if (es_msg_decode(&m, data, len) < 0)
		return;
	int64_t t = now_ns();
	switch (m.type) {
	case ES_MSG_SERVER_KEY:
		if (c->st == C_WAIT_KEY && t_key && !t_key[c - cl])
			t_key[c - cl] = t;
		if (c->st == C_WAIT_KEY && key_ring) {
			int i = (int)(c - cl);
			key_of[i] = m.u.server_key;
			key_ring[(key_head + key_count++) % npeople] = i;
			return;
		}
		if (c->st == C_WAIT_KEY)
			on_key(c, &m.u.server_key);
		return;
	case ES_MSG_HANDSHAKE2: {
		if (reply_of && key_ring && c->st == C_HS_SENT && !c->t_answer && m.u.blob.len <= sizeof(reply_of[0].b)) {
			int i = (int)(c - cl);
			c->t_answer = t; /* answered now; read in the slack (answer_keys) */
			reply_of[i].len = m.u.blob.len;
			memcpy(reply_of[i].b, m.u.blob.data, m.u.blob.len);
			key_ring[(key_head + key_count++) % npeople] = i;
			return;
		}
		uint8_t w[ES_NOISE_PAYLOAD_MAX];
		int n = es_noise_read_msg2(&c->hs, m.u.blob.data, m.u.blob.len, w, sizeof(w));
		if (n < 0 || es_noise_split(&c->hs, &c->tx, &c->rx) < 0) {
			c->st = C_FAILED;
			return;
		}
		c->st = C_JOINED;
		c->t_answer = t;
		return;
	}
	case ES_MSG_BUSY:
		c->st = C_BUSY;
		c->t_answer = t;
		c->retry_ms = m.u.busy.retry_after_ms;
		return;
	case ES_MSG_REFUSED:
		c->st = C_REFUSED;
		c->t_answer = t;
		return;
	case ES_MSG_SEALED: {
		uint8_t plain[ES_MSG_MAX];
		static const uint8_t ad = ES_MSG_SEALED;
		int n = es_cipher_open(&c->rx, &ad, 1, m.u.blob.data, m.u.blob.len, plain, sizeof(plain));
		if (n > 0 && plain[0] == ES_MSG_AUDIO_DOWN) {
			if (convo_expect && convo_expect[c - cl])
				convo_rx[c - cl]++; /* capped at the ticks counted, below */
			c->frames_rx++;
			if (!c->t_first_audio)
				c->t_first_audio = t;
			if (t >= window_start && t < window_end)
				c->frames_rx_window++;
			if (measure_start >= 0 && t >= measure_start && t < measure_end) {
				c->down_bytes_m += len;
				c->down_max_m = len > c->down_max_m ? (uint16_t)len : c->down_max_m;
			}
		}
		return;
	}
	default:
		return;
	}
}

static void service_all(void)
{
	ENetEvent ev;
	for (int i = 0; i < nhosts; i++) {
		while (enet_host_service(hosts[i].h, &ev, 0) > 0) {
			struct client *c = ev.peer ? ev.peer->data : NULL;
			switch (ev.type) {
			case ENET_EVENT_TYPE_CONNECT:
				if (c) {
					enet_peer_throttle_configure(ev.peer, 5000, ENET_PEER_PACKET_THROTTLE_SCALE, 0);
					ev.peer->packetThrottle = ENET_PEER_PACKET_THROTTLE_SCALE;
					c->st = C_WAIT_KEY;
					if (t_connected && !t_connected[c - cl])
						t_connected[c - cl] = now_ns();
				}
				break;
			case ENET_EVENT_TYPE_RECEIVE:
				if (c)
					on_receive(c, ev.packet->data, ev.packet->dataLength);
				enet_packet_destroy(ev.packet);
				break;
			case ENET_EVENT_TYPE_DISCONNECT:
				if (c && c->st != C_BUSY && c->st != C_REFUSED)
					c->st = C_FAILED;
				if (c)
					c->peer = NULL;
				break;
			default:
				break;
			}
		}
	}
}

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

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(int64_t *v, int n, double p)
{
	if (n == 0)
		return -1;
	qsort(v, (size_t)n, sizeof(*v), cmp_i64);
	int i = (int)ceil(p * n) - 1;
	return (double)v[i < 0 ? 0 : i >= n ? n - 1 : i] / 1e6;
}

/* The daemon's CPU seconds and resident KiB from /proc. */
static void proc_usage(int pid, double *cpu_s, long *rss_kib)
{
	char path[64], buf[1024];
	*cpu_s = -1;
	*rss_kib = -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (f) {
		if (fgets(buf, sizeof(buf), f)) {
			char *p = strrchr(buf, ')');
			unsigned long ut, st;
			if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
				*cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
		}
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (f) {
		while (fgets(buf, sizeof(buf), f))
			if (sscanf(buf, "VmRSS: %ld", rss_kib) == 1)
				break;
		fclose(f);
	}
}

/*
 * The daemon's own figures, scraped from its Prometheus endpoint (--metrics
 * ADDR:PORT, the daemon's --metrics-listen) before and after the measured
 * span.  Counters are differenced; the tick histogram's buckets give p50
 * and p99 (upper bound of the bucket they fall in); gauges are also sampled
 * every few seconds in between (mean and max).
 */
#define MET_BUCKETS 12
#define MET_PHASES 16
struct scrape {
	bool ok;
	double ticks, late, sum, encodes, level, handshakes, busy, connected;
	double le[MET_BUCKETS], cum[MET_BUCKETS]; /* cumulative; last = +Inf */
	int nb;
	double phase[MET_PHASES]; /* earshot_tick_phase_seconds_total, if the daemon has it */
	char phase_name[MET_PHASES][16];
	int nphase;
	double self_cpu, at; /* the generator's own CPU seconds, and when (s) */
};

static char met_host[64];
static int met_port;
static struct scrape met0, met1;
static double met_enc_sum, met_lvl_sum, met_enc_max, met_lvl_max;
static int met_samples;

static int metrics_parse_addr(const char *a)
{
	const char *colon = strrchr(a, ':');
	if (!colon || (size_t)(colon - a) >= sizeof(met_host))
		return -EINVAL;
	memcpy(met_host, a, (size_t)(colon - a));
	met_host[colon - a] = 0;
	met_port = atoi(colon + 1);
	return met_port > 0 && met_port < 65536 ? 0 : -EINVAL;
}

/* One GET /metrics with a 1 s timeout each way; the text is parsed into sc. */
static void scrape(struct scrape *sc)
{
	static char buf[1 << 16];
	memset(sc, 0, sizeof(*sc));
	struct timespec cpu;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
	sc->self_cpu = (double)cpu.tv_sec + (double)cpu.tv_nsec / 1e9;
	sc->at = (double)now_ns() / 1e9;
	if (!met_port)
		return;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return;
	struct timeval tv = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)met_port)};
	size_t len = 0;
	if (inet_pton(AF_INET, met_host, &sa.sin_addr) == 1 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		static const char req[] = "GET /metrics HTTP/1.0\r\nHost: earshotd\r\n\r\n";
		if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)sizeof(req) - 1) {
			for (int i = 0; i < 64 && len < sizeof(buf) - 1; i++) {
				ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
				if (n <= 0)
					break;
				len += (size_t)n;
			}
		}
	}
	close(fd);
	buf[len] = 0;
	char *body = strstr(buf, "\r\n\r\n");
	if (!body)
		return;
	for (char *line = body + 4, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		double v, le;
		char ph[16];
		if (line[0] == '#')
			continue;
		if (sscanf(line, "earshot_ticks_total %lf", &v) == 1)
			sc->ticks = v, sc->ok = true;
		else if (sscanf(line, "earshot_ticks_late_total %lf", &v) == 1)
			sc->late = v;
		else if (sscanf(line, "earshot_tick_duration_seconds_sum %lf", &v) == 1)
			sc->sum = v;
		else if (sscanf(line, "earshot_encodes_per_tick %lf", &v) == 1)
			sc->encodes = v;
		else if (sscanf(line, "earshot_degradation_level %lf", &v) == 1)
			sc->level = v;
		else if (sscanf(line, "earshot_handshakes_total %lf", &v) == 1)
			sc->handshakes = v;
		else if (sscanf(line, "earshot_admissions_refused_total %lf", &v) == 1)
			sc->busy = v;
		else if (sscanf(line, "earshot_people_connected %lf", &v) == 1)
			sc->connected = v;
		else if (sc->nb < MET_BUCKETS && sscanf(line, "earshot_tick_duration_seconds_bucket{le=\"%lf\"} %lf", &le, &v) == 2)
			sc->le[sc->nb] = le, sc->cum[sc->nb++] = v;
		else if (sc->nb < MET_BUCKETS && sscanf(line, "earshot_tick_duration_seconds_bucket{le=\"+Inf\"} %lf", &v) == 1)
			sc->le[sc->nb] = INFINITY, sc->cum[sc->nb++] = v;
		else if (sc->nphase < MET_PHASES &&
			 sscanf(line, "earshot_tick_phase_seconds_total{phase=\"%15[a-z_]\"} %lf", ph, &v) == 2) {
			snprintf(sc->phase_name[sc->nphase], sizeof(sc->phase_name[0]), "%s", ph);
			sc->phase[sc->nphase++] = v;
		}
	}
}

/* Gauges in between: call every tick, samples every 5 s. */
static void metrics_sample(uint64_t tick)
{
	if (!met_port || tick % 250 != 0)
		return;
	struct scrape sc;
	scrape(&sc);
	if (!sc.ok)
		return;
	met_samples++;
	met_enc_sum += sc.encodes;
	met_lvl_sum += sc.level;
	met_enc_max = sc.encodes > met_enc_max ? sc.encodes : met_enc_max;
	met_lvl_max = sc.level > met_lvl_max ? sc.level : met_lvl_max;
}

/* Upper bound (ms) of the histogram bucket holding quantile p of the ticks between the scrapes. */
static double metrics_quantile(double p)
{
	if (met0.nb != met1.nb || met1.nb == 0)
		return -1;
	double total = met1.cum[met1.nb - 1] - met0.cum[met0.nb - 1];
	if (total <= 0)
		return -1;
	for (int b = 0; b < met1.nb; b++)
		if (met1.cum[b] - met0.cum[b] >= p * total)
			return isinf(met1.le[b]) ? 1e9 : met1.le[b] * 1e3;
	return -1;
}

/* ,"daemon_...": the daemon's figures for the JSON (nothing without --metrics). */
static void metrics_report(void)
{
	if (!met0.ok || !met1.ok)
		return;
	double ticks = met1.ticks - met0.ticks, late = met1.late - met0.late;
	double mean_ms = ticks > 0 ? (met1.sum - met0.sum) / ticks * 1e3 : 0;
	double p50 = metrics_quantile(0.5), p99 = metrics_quantile(0.99);
	printf("daemon metrics: %.0f ticks, %.0f late (%.1f %%); tick work mean %.2f ms, p50 <= %g ms, p99 <= %g ms; "
	       "encodes/tick mean %.0f max %.0f; load level mean %.2f max %.0f; handshakes %.0f, busy %.0f\n",
	       ticks, late, ticks > 0 ? 100 * late / ticks : 0, mean_ms, p50, p99,
	       met_samples ? met_enc_sum / met_samples : met1.encodes, met_enc_max,
	       met_samples ? met_lvl_sum / met_samples : met1.level, met_lvl_max, met1.handshakes - met0.handshakes,
	       met1.busy - met0.busy);
	printf("generator: %.1f %% of a core\n", 100 * (met1.self_cpu - met0.self_cpu) / (met1.at - met0.at));
	for (int i = 0; i < met1.nphase && i < met0.nphase; i++)
		printf("  tick phase %-10s %.3f ms per tick\n", met1.phase_name[i],
		       ticks > 0 ? (met1.phase[i] - met0.phase[i]) / ticks * 1e3 : 0);
}

static void metrics_json(void)
{
	if (!met0.ok || !met1.ok)
		return;
	double ticks = met1.ticks - met0.ticks;
	printf(",\"daemon_ticks\":%.0f,\"daemon_ticks_late\":%.0f,\"daemon_tick_ms_mean\":%.3f,\"daemon_tick_ms_p50\":%g,"
	       "\"daemon_tick_ms_p99\":%g,\"daemon_encodes_per_tick\":%.1f,\"daemon_encodes_max\":%.0f,"
	       "\"daemon_load_level\":%.2f,\"daemon_load_level_max\":%.0f,\"daemon_handshakes\":%.0f",
	       ticks, met1.late - met0.late, ticks > 0 ? (met1.sum - met0.sum) / ticks * 1e3 : 0, metrics_quantile(0.5),
	       metrics_quantile(0.99), met_samples ? met_enc_sum / met_samples : met1.encodes, met_enc_max,
	       met_samples ? met_lvl_sum / met_samples : met1.level, met_lvl_max, met1.handshakes - met0.handshakes);
	printf(",\"load_cpu_core\":%.3f", (met1.self_cpu - met0.self_cpu) / (met1.at - met0.at));
	for (int i = 0; i < met1.nphase && i < met0.nphase; i++)
		printf(",\"daemon_phase_ms_%s\":%.3f", met1.phase_name[i],
		       ticks > 0 ? (met1.phase[i] - met0.phase[i]) / ticks * 1e3 : 0);
}

/* Answer deferred server keys and read deferred handshake replies until `until` (at least two a call, so they always progress). */
static void answer_keys(int64_t until)
{
	for (int done = 0; key_count > 0 && (done < 2 || now_ns() < until); done++) {
		int i = key_ring[key_head];
		key_head = (key_head + 1) % npeople;
		key_count--;
		struct client *c = &cl[i];
		if (c->st == C_WAIT_KEY && c->peer)
			on_key(c, &key_of[i]);
		else if (c->st == C_HS_SENT && c->peer && reply_of && reply_of[i].len) {
			uint8_t w[ES_NOISE_PAYLOAD_MAX];
			int n = es_noise_read_msg2(&c->hs, reply_of[i].b, reply_of[i].len, w, sizeof(w));
			reply_of[i].len = 0;
			c->st = n < 0 || es_noise_split(&c->hs, &c->tx, &c->rx) < 0 ? C_FAILED : C_JOINED;
		}
	}
}

/* Each generator tick: which conversation members should hear someone until the next. */
static void convo_tick(uint64_t tick)
{
	if (!convo_expect)
		return;
	uint64_t phase = tick % 250;
	for (int i = 0; i < npeople; i++) {
		const struct client *c = &cl[i];
		convo_expect[i] = false;
		if (c->role != R_CONVO || c->st != C_JOINED || phase < 10 || phase >= 240)
			continue;
		int talker = (int)((tick / 250 + (uint64_t)c->group) % 4);
		if (talker < 3 && talker != c->turn) {
			convo_expect[i] = true;
			convo_exp[i]++;
		}
	}
}

/* The generator's own punctuality: how late its ticks (the voices it sends) start. */
static int64_t gen_late_max;
static uint64_t gen_late_10ms, gen_ticks;

static void gen_tick_late(int64_t late_ns)
{
	gen_ticks++;
	gen_late_max = late_ns > gen_late_max ? late_ns : gen_late_max;
	gen_late_10ms += late_ns > 10000000LL;
}

static double step_ms[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};

/* Where the time to an answer goes: start -> ENet connected -> server key -> answer (p50/p99 of each step, ms). */
static void answer_steps(int from)
{
	int64_t *v = calloc((size_t)npeople, sizeof(int64_t));
	if (!v || !t_connected || !t_key) {
		free(v);
		return;
	}
	double (*r)[2] = step_ms;
	for (int step = 0; step < 3; step++) {
		int n = 0;
		for (int i = from; i < npeople; i++) {
			const struct client *c = &cl[i];
			int64_t a = step == 0 ? c->t_start : step == 1 ? t_connected[i] : t_key[i];
			int64_t b = step == 0 ? t_connected[i] : step == 1 ? t_key[i] : c->t_answer;
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
	int64_t *v = calloc((size_t)npeople, sizeof(int64_t));
	for (int k = 0; k < 4; k++)
		out[k] = -1;
	if (!v)
		return;
	for (int pass = 0; pass < 2; pass++) {
		int n = 0;
		for (int i = from; i < npeople; i++)
			if (cl[i].t_answer && cl[i].st == (pass ? C_JOINED : C_BUSY))
				v[n++] = cl[i].t_answer - cl[i].t_start;
		out[2 * pass] = pct(v, n, 0.5);
		out[2 * pass + 1] = pct(v, n, 0.99);
	}
	free(v);
}

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

static struct churn_person *cp;
static struct es_floor *cfloor;
static struct churn_door *cdoors;
static int ncdoors;
static bool host_reset[MAX_PEOPLE / PER_HOST + 1];
static int64_t churn_now;
static double quiet_every_s, quiet_for_s; /* --quiet-every/--quiet-for: baseline windows inside the churn */
static const char *churn_prefix; /* --name-prefix: names are PREFIX0, PREFIX1, ... (at most 4 characters of it) instead of p0, p1, ... */

static struct {
	uint64_t joins, returns, returns_placed, returns_moved, leaves, leaves_abrupt, moves, moves_corrected;
	uint64_t mutes, unmutes, knocks, doors_opened, doors_closed, meetings, lost, rejoined_after_loss;
	uint64_t busy, refused, stuck, resets_seen;
	int64_t max_rejoin_ns;
} cs;

static uint32_t crng = 12345;
static uint32_t churn_rand(void)
{
	crng ^= crng << 13;
	crng ^= crng >> 17;
	crng ^= crng << 5;
	return crng;
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
			host_reset[i] = true; /* handled in the loop, not inside ENet's service */
		return 1;
	}
	return intercept(h, ev);
}

/* A walkable point in open space (no room) near (x, y), within r metres; false if none found. */
static bool open_point_near(float x, float y, float r, float *ox, float *oy)
{
	for (int k = 0; k < 40; k++) {
		float px = x + churn_uniform(-r, r), py = y + churn_uniform(-r, r);
		if (es_floor_walkable(cfloor, px, py) && es_floor_room_at(cfloor, px, py) < 0 && es_floor_door_at(cfloor, px, py) < 0) {
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
		cfloor = es_floor_tile(f, tx, ty);
		es_floor_free(f);
		if (!cfloor)
			return -errno;
	} else
		cfloor = f;
	/* meeting-room doors: a spot just outside, spots inside within reach of the door (3 m) */
	unsigned nd = es_floor_door_count(cfloor);
	cdoors = calloc(nd ? nd : 1, sizeof(*cdoors));
	if (!cdoors)
		return -ENOMEM;
	float sc = es_floor_scale(cfloor);
	for (unsigned d = 0; d < nd; d++) {
		struct churn_door *cd = &cdoors[ncdoors];
		if (es_floor_door(cfloor, d, &cd->x, &cd->y, &cd->room) < 0 || es_floor_room_kind(cfloor, cd->room) != ES_ROOM_MEETING)
			continue;
		bool out = false;
		cd->nin = 0;
		for (int dist = 2; dist <= 5; dist++)
			for (int dir = 0; dir < 4; dir++) {
				float px = cd->x + sc * (float)(dir == 0 ? dist : dir == 1 ? -dist : 0);
				float py = cd->y + sc * (float)(dir == 2 ? dist : dir == 3 ? -dist : 0);
				if (!es_floor_walkable(cfloor, px, py))
					continue;
				int r = es_floor_room_at(cfloor, px, py);
				if (r < 0 && !out && es_floor_door_at(cfloor, px, py) < 0) {
					cd->out_x = px;
					cd->out_y = py;
					out = true;
				} else if (r == (int)cd->room && cd->nin < 8 && es_floor_door_at(cfloor, px, py) < 0) {
					cd->in_x[cd->nin] = px;
					cd->in_y[cd->nin] = py;
					cd->nin++;
				}
			}
		cd->index = d;
		if (out && cd->nin > 0)
			ncdoors++;
	}
	/* homes: the desks in order, then open space beyond them */
	unsigned ndesk = es_floor_desk_count(cfloor);
	for (int i = 0; i < npeople; i++) {
		struct churn_person *p = &cp[i];
		if ((unsigned)i < ndesk)
			es_floor_desk(cfloor, (unsigned)i, &p->home_x, &p->home_y, NULL);
		else if (!open_point_near(es_floor_width_m(cfloor) / 2, es_floor_height_m(cfloor) / 2,
					  es_floor_width_m(cfloor) / 2, &p->home_x, &p->home_y))
			return -ENOSPC;
		p->exp_x = p->home_x;
		p->exp_y = p->home_y;
		/* neighbours talk: desks in reading order, groups of 3, every second group a conversation */
		p->talk_group = (i / 3) % 2 == 0 ? i / 3 : -1;
		p->talk_turn = i % 3;
		cl[i].x = p->home_x;
		cl[i].y = p->home_y;
		cl[i].role = R_SILENT;
		if (churn_prefix)
			snprintf(cl[i].name, sizeof(cl[i].name), "%.4s%d", churn_prefix, i);
	}
	return 0;
}

static void churn_move(int i, float x, float y)
{
	struct es_msg m = {.type = ES_MSG_MOVE};
	m.u.move = (struct es_pos){(int32_t)lrintf(x * 100), (int32_t)lrintf(y * 100), (uint16_t)(churn_rand() % 3600)};
	if (send_sealed(&cl[i], &m, false) == 0) {
		cp[i].exp_x = (float)m.u.move.x_cm / 100.0f;
		cp[i].exp_y = (float)m.u.move.y_cm / 100.0f;
		cp[i].last_move = churn_now;
		cs.moves++;
	}
}

static void churn_door(int i, int door, bool open)
{
	struct es_door_state ds = {(uint16_t)cdoors[door].index, open};
	struct es_msg m = {.type = ES_MSG_DOORS, .u.doors = {1, &ds, NULL}};
	if (send_sealed(&cl[i], &m, false) == 0) {
		if (open)
			cs.doors_opened++;
		else
			cs.doors_closed++;
	}
}

static void churn_state(int i)
{
	struct es_msg m = {.type = ES_MSG_STATE, .u.state.flags = cp[i].muted ? ES_PF_MUTED : 0};
	(void)send_sealed(&cl[i], &m, false);
}

static void churn_joined(int i, const struct es_welcome *w)
{
	struct churn_person *p = &cp[i];
	struct client *c = &cl[i];
	float x = (float)w->pos.x_cm / 100.0f, y = (float)w->pos.y_cm / 100.0f;
	if (p->returning) {
		cs.returns++;
		if (fabsf(x - p->exp_x) < 0.015f && fabsf(y - p->exp_y) < 0.015f)
			cs.returns_placed++;
		else {
			cs.returns_moved++;
			if (cs.returns_moved <= 5)
				fprintf(stderr, "es-load: %s came back at %.2f,%.2f, left at %.2f,%.2f\n", c->name, x, y, p->exp_x, p->exp_y);
		}
	} else
		cs.joins++;
	if (p->t_lost) {
		int64_t took = churn_now - p->t_lost;
		cs.rejoined_after_loss++;
		if (took > cs.max_rejoin_ns)
			cs.max_rejoin_ns = took;
		p->t_lost = 0;
	}
	p->exp_x = x;
	p->exp_y = y;
	p->joined_before = true;
	p->returning = false;
	p->act = A_NONE;
	p->due = churn_now + (int64_t)(churn_uniform(1, 10) * 1e9);
	if (p->muted)
		churn_state(i); /* a client that was muted stays muted */
}

static void churn_receive(int i, const uint8_t *data, size_t len)
{
	struct client *c = &cl[i];
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
		c->t_answer = churn_now;
		c->seq = 0;
		churn_joined(i, &wm.u.welcome);
		return;
	}
	if (m.type == ES_MSG_SEALED && c->st == C_JOINED) {
		uint8_t plain[ES_MSG_MAX];
		static const uint8_t ad = ES_MSG_SEALED;
		int n = es_cipher_open(&c->rx, &ad, 1, m.u.blob.data, m.u.blob.len, plain, sizeof(plain));
		struct es_msg in;
		if (n > 0 && plain[0] == ES_MSG_AUDIO_DOWN)
			c->frames_rx++;
		else if (n > 0 && plain[0] == ES_MSG_DOORS && es_msg_decode(&in, plain, (size_t)n) >= 0) {
			for (unsigned k = 0; k < in.u.doors.count; k++) {
				struct es_door_state d = es_doors_at(&in.u.doors, k);
				if (es_floor_door_set_open(cfloor, d.door, d.open) < 0)
					break; /* not a door of our floor: a different plan or tiling */
			}
		}
		else if (n > 0 && plain[0] == ES_MSG_ADMIN && es_msg_decode(&in, plain, (size_t)n) >= 0) {
			/* a move the floor refused: the daemon says where we still are */
			cp[i].exp_x = (float)in.u.admin.pos.x_cm / 100.0f;
			cp[i].exp_y = (float)in.u.admin.pos.y_cm / 100.0f;
			cs.moves_corrected++;
		}
		return;
	}
	on_receive(c, data, len);
}

static void churn_service(void)
{
	ENetEvent ev;
	for (int h = 0; h < nhosts; h++) {
		while (enet_host_service(hosts[h].h, &ev, 0) > 0) {
			struct client *c = ev.peer ? ev.peer->data : NULL;
			int i = c ? (int)(c - cl) : -1;
			switch (ev.type) {
			case ENET_EVENT_TYPE_CONNECT:
				if (c) {
					enet_peer_throttle_configure(ev.peer, 5000, ENET_PEER_PACKET_THROTTLE_SCALE, 0);
					ev.peer->packetThrottle = ENET_PEER_PACKET_THROTTLE_SCALE;
					c->st = C_WAIT_KEY;
				}
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
				if (cp[i].leaving) {
					c->st = C_IDLE; /* our own goodbye; cp[i].due says when we return */
				} else if (c->st == C_BUSY || c->st == C_REFUSED) {
					/* the loop schedules the retry */
				} else {
					if (c->st == C_JOINED && !cp[i].t_lost) {
						cs.lost++;
						cp[i].t_lost = churn_now;
					}
					c->st = C_FAILED;
					/* a restarted daemon has a new cookie secret */
					hosts[h].have_cookie = false;
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
	struct client *c = &cl[i];
	if (c->peer) {
		c->peer->data = NULL;
		enet_peer_reset(c->peer);
		c->peer = NULL;
	}
	c->st = C_IDLE;
	cp[i].leaving = false;
	cp[i].due = churn_now + pause_ns;
}

/* Join again: with no place asked for, so the daemon seats us where we left. */
static void churn_start(int i)
{
	struct client *c = &cl[i];
	struct churn_person *p = &cp[i];
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
	struct churn_person *p = &cp[i];
	if (churn_now < p->due)
		return;
	if (!churning) {
		/* the baseline: when the churn starts, people start doing things over its first 30 s, not all at once */
		p->due = churn_now + (int64_t)(churn_uniform(1, 30) * 1e9);
		return;
	}
	if (p->act == A_MEETING) {
		struct churn_door *cd = &cdoors[p->door];
		int64_t next = 700000000LL;
		switch (p->step++) {
		case 0: /* at the door: knock if it is shut (as far as the daemon's door messages told us) */
			if (!es_floor_door_is_open(cfloor, cd->index)) {
				struct es_msg m = {.type = ES_MSG_KNOCK, .u.knock = {(uint16_t)cd->room, 0}};
				if (send_sealed(&cl[i], &m, false) == 0)
					cs.knocks++;
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
		p->due = churn_now + next;
		return;
	}
	if (p->act == A_VISIT) { /* the chat is over: back to the desk */
		churn_move(i, p->home_x, p->home_y);
		p->act = A_NONE;
		p->due = churn_now + (int64_t)(churn_uniform(5, 60) * 1e9);
		return;
	}
	/* idle at a desk: what next (a person acts about every 30 s on average) */
	unsigned r = churn_rand() % 100;
	int64_t next = (int64_t)(churn_uniform(10, 50) * 1e9);
	if (p->muted && r < 50)
		r = 50; /* the muted unmute again, soon: half of what they do next */
	if (r < 15 && churn_now - p->last_move > 1000000000LL) {
		/* leave; one in four without a goodbye (a laptop lid), the rest say it */
		cs.leaves++;
		p->leaving = true;
		int64_t away = (int64_t)(churn_uniform(5, 60) * 1e9);
		if (churn_rand() % 4 == 0) {
			cs.leaves_abrupt++;
			churn_drop(i, away);
		} else {
			enet_peer_disconnect(cl[i].peer, 0);
			p->due = churn_now + away;
		}
		return;
	} else if (r < 45) {
		int j = (int)(churn_rand() % (unsigned)npeople);
		float x, y;
		if (open_point_near(cp[j].home_x, cp[j].home_y, 1.5f, &x, &y)) {
			churn_move(i, x, y);
			p->act = A_VISIT;
			next = (int64_t)(churn_uniform(10, 60) * 1e9);
		}
	} else if (r < 60) {
		p->muted = !p->muted;
		churn_state(i);
		if (p->muted)
			cs.mutes++;
		else
			cs.unmutes++;
	} else if (r < 75 && ncdoors > 0) {
		p->act = A_MEETING;
		p->step = 0;
		p->door = (int)(churn_rand() % (unsigned)ncdoors);
		cs.meetings++;
		churn_move(i, cdoors[p->door].out_x, cdoors[p->door].out_y);
		next = 1000000000LL;
	} else if (r < 80) {
		churn_move(i, p->home_x, p->home_y); /* stand up, sit down: a small move */
	}
	p->due = churn_now + next;
}

static bool churn_talking(int i, uint64_t tick)
{
	const struct churn_person *p = &cp[i];
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

static int churn_run(double steady_s, double duration_s, double report_s, double max_s, unsigned tx, unsigned ty)
{
	cp = calloc((size_t)npeople, sizeof(*cp));
	if (!cp)
		return 1;
	int r = churn_floor(tx, ty);
	if (r < 0) {
		fprintf(stderr, "es-load: the floor: %s\n", strerror(-r));
		return 1;
	}
	for (int h = 0; h < nhosts; h++)
		hosts[h].h->intercept = churn_intercept;
	fprintf(stderr, "es-load: churn: %d people, %d meeting-room doors, %u desks\n", npeople, ncdoors,
		es_floor_desk_count(cfloor));
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
		churn_now = t;
		churn_service();
		for (int h = 0; h < nhosts; h++) {
			if (host_reset[h]) {
				/*
				 * The daemon does not know a session from this address (it
				 * restarted), or a cookie of ours is stale.  The datagram does
				 * not say which of the people sharing this socket it means: a
				 * session that heard nothing from the daemon for 1.5 s is dead
				 * (a live one hears at least ENet's ping acknowledgements,
				 * twice a second); a connect older than 1.5 s used a stale
				 * cookie.  The daemon repeats the reset while the dead talk.
				 */
				host_reset[h] = false;
				hosts[h].have_cookie = false;
				cs.resets_seen++;
				ENetHost *eh = hosts[h].h;
				for (int i = h * PER_HOST; i < npeople && i < (h + 1) * PER_HOST; i++) {
					struct client *c = &cl[i];
					bool dead = false;
					if (c->st == C_JOINED && c->peer)
						dead = ENET_TIME_DIFFERENCE(eh->serviceTime, c->peer->lastReceiveTime) > 1500;
					else if (c->st == C_CONNECTING || c->st == C_WAIT_KEY || c->st == C_HS_SENT)
						dead = t - c->t_start > 1500000000LL;
					if (!dead)
						continue;
					if (c->st == C_JOINED && !cp[i].leaving && !cp[i].t_lost) {
						cs.lost++;
						cp[i].t_lost = t;
					}
					churn_drop(i, (int64_t)(churn_uniform(0.05f, 0.5f) * 1e9));
				}
			}
			if ((!hosts[h].have_cookie || t - hosts[h].cookie_at > 25000000000LL) && tick % 10 == (uint64_t)h % 10)
				ask_cookie(&hosts[h]);
		}
		/*
		 * Quiet windows: the last --quiet-for seconds of every --quiet-every
		 * of the churn, nobody joins, leaves, walks, mutes or touches a door;
		 * the conversations go on.  A baseline measured in the same minutes
		 * as the churn, under whatever else the machine is doing then.
		 */
		bool quiet = false;
		if (churn_at >= 0 && quiet_every_s > 0)
			quiet = fmod((double)(t - churn_at) / 1e9, quiet_every_s) >= quiet_every_s - quiet_for_s;
		if (churn_at >= 0 && strcmp(phase, quiet ? "quiet" : "churn") != 0) {
			phase = quiet ? "quiet" : "churn";
			next_report = t;
		}
		joined = 0;
		for (int i = 0; i < npeople; i++) {
			struct client *c = &cl[i];
			struct churn_person *p = &cp[i];
			switch (c->st) {
			case C_IDLE:
				if (quiet && p->joined_before && !p->t_lost) {
					/* away stays away until the quiet window ends; then back over 30 s, not at once */
					if (t >= p->due)
						p->due = t + (int64_t)(churn_uniform(1, 30) * 1e9);
					break;
				}
				if (t >= p->due && hosts[c->host].have_cookie)
					churn_start(i);
				break;
			case C_FAILED:
				churn_drop(i, (int64_t)(churn_uniform(0.2f, 1.0f) * 1e9));
				break;
			case C_BUSY:
				cs.busy++;
				churn_drop(i, (int64_t)c->retry_ms * 1000000LL);
				break;
			case C_REFUSED:
				cs.refused++;
				churn_drop(i, 2000000000LL);
				break;
			case C_CONNECTING:
			case C_WAIT_KEY:
			case C_HS_SENT:
				if (t - c->t_start > 10000000000LL) { /* no answer in 10 s: try again */
					cs.stuck++;
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
		if (all_in < 0 && joined == npeople) {
			all_in = t;
			fprintf(stderr, "es-load: all %d joined after %.1f s; steady for %.0f s\n", npeople, (double)(t - t0) / 1e9,
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
		for (int i = 0; i < npeople; i++) {
			struct client *c = &cl[i];
			if (c->st != C_JOINED || cp[i].leaving || !churn_talking(i, tick))
				continue;
			int f = (int)(c->seq % FRAMES);
			struct es_msg m = {.type = ES_MSG_AUDIO_UP};
			m.u.up = (struct es_audio_up){c->seq, ES_PF_TALKING, (uint16_t)frame_len[f], frames[f]};
			if (send_sealed(c, &m, true) == 0)
				frames_tx++;
			c->seq++;
		}
		for (int h = 0; h < nhosts; h++)
			enet_host_flush(hosts[h].h);
		if (t >= next_report) {
			next_report += (int64_t)(report_s * 1e9);
			uint64_t rx = 0;
			for (int i = 0; i < npeople; i++)
				rx += cl[i].frames_rx;
			printf("churn t=%.0f phase=%s joined=%d joins=%llu returns=%llu placed=%llu moved=%llu leaves=%llu "
			       "moves=%llu corrected=%llu mutes=%llu meetings=%llu knocks=%llu doors=%llu lost=%llu busy=%llu "
			       "refused=%llu stuck=%llu rx_per_s=%.0f\n",
			       (double)(t - t0) / 1e9, phase, joined, (unsigned long long)cs.joins, (unsigned long long)cs.returns,
			       (unsigned long long)cs.returns_placed, (unsigned long long)cs.returns_moved,
			       (unsigned long long)cs.leaves, (unsigned long long)cs.moves, (unsigned long long)cs.moves_corrected,
			       (unsigned long long)cs.mutes, (unsigned long long)cs.meetings, (unsigned long long)cs.knocks,
			       (unsigned long long)(cs.doors_opened + cs.doors_closed), (unsigned long long)cs.lost,
			       (unsigned long long)cs.busy, (unsigned long long)cs.refused, (unsigned long long)cs.stuck,
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
	       done ? "true" : "false", npeople, joined, (double)(now_ns() - t0) / 1e9, (unsigned long long)cs.joins,
	       (unsigned long long)cs.returns, (unsigned long long)cs.returns_placed, (unsigned long long)cs.returns_moved,
	       (unsigned long long)cs.leaves, (unsigned long long)cs.leaves_abrupt, (unsigned long long)cs.moves,
	       (unsigned long long)cs.moves_corrected, (unsigned long long)cs.mutes, (unsigned long long)cs.unmutes,
	       (unsigned long long)cs.meetings, (unsigned long long)cs.knocks, (unsigned long long)cs.doors_opened,
	       (unsigned long long)cs.doors_closed, (unsigned long long)cs.lost, (unsigned long long)cs.rejoined_after_loss,
	       (double)cs.max_rejoin_ns / 1e6, (unsigned long long)cs.resets_seen, (unsigned long long)cs.busy,
	       (unsigned long long)cs.refused, (unsigned long long)cs.stuck, (unsigned long long)frames_tx);
	fflush(stdout);
	es_floor_free(cfloor);
	free(cdoors);
	free(cp);
	return done ? 0 : 1;
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
		{"thin", 0, NULL, 'h'}, {0},
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
		case 'R': want_roster = true; break;
		case 'm': metrics = optarg; break;
		case 'C': churn = true; break;
		case 'D': duration = atof(optarg); break;
		case 'B': steady = atof(optarg); break;
		case 'T': report = atof(optarg); break;
		case 'X': tile_x = (unsigned)atoi(optarg); break;
		case 'Y': tile_y = (unsigned)atoi(optarg); break;
		case 'N': churn_prefix = optarg; break;
		case 'q': quiet_every_s = atof(optarg); break;
		case 'Q': quiet_for_s = atof(optarg); break;
		case 'r': room = true; break;
		case 't': talking_frac = atof(optarg); break;
		case 'h': want_thin = true; break;
		default:
			fprintf(stderr, "usage: es-load --server ADDR [--pairs P] [--people N] [--storm S] [--hold S] "
					"[--office] [--spread] [--pid PID] [--max-seconds S]\n"
					"       es-load --server ADDR --room --people N [--talking F] [--thin] [--storm S] [--hold S] [--pid PID] [--metrics A]\n"
					"       es-load --server ADDR --churn --people N [--roster] [--steady S] [--duration S] "
					"[--report S] [--floor-tile-x N] [--floor-tile-y N] [--name-prefix P] [--quiet-every S --quiet-for S] [--max-seconds S]\n");
			return 2;
		}
	}
	if (metrics && metrics_parse_addr(metrics) < 0) {
		fprintf(stderr, "es-load: --metrics ADDR:PORT\n");
		return 2;
	}
	npeople = 2 * pairs + people;
	/* the office's activity grows with it: 60 conversations of three for 2,000 people */
	if (convos && people > 0)
		convos = (60 * people + 1999) / 2000;
	if (room && (pairs || convos || churn || !(talking_frac > 0.0 && talking_frac <= 1.0))) {
		fprintf(stderr, "es-load: --room is people only (no --pairs, --office, --churn), --talking in (0, 1]\n");
		return 2;
	}
	if (npeople <= 0 || npeople > MAX_PEOPLE || storm <= 0 || hold < 0 || max_s <= 0 || max_s > 3600) {
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
	if (enet_address_set_host_ip(&server, host) != 0)
		return 2;
	server.port = (enet_uint16)atoi(colon + 1);

	nhosts = (npeople + PER_HOST - 1) / PER_HOST;
	hosts = calloc((size_t)nhosts, sizeof(*hosts));
	cl = calloc((size_t)npeople, sizeof(*cl));
	t_connected = calloc((size_t)npeople, sizeof(*t_connected));
	t_key = calloc((size_t)npeople, sizeof(*t_key));
	key_of = calloc((size_t)npeople, sizeof(*key_of));
	key_ring = calloc((size_t)npeople, sizeof(*key_ring));
	reply_of = calloc((size_t)npeople, sizeof(*reply_of));
	if (convos) {
		convo_expect = calloc((size_t)npeople, sizeof(*convo_expect));
		convo_exp = calloc((size_t)npeople, sizeof(*convo_exp));
		convo_rx = calloc((size_t)npeople, sizeof(*convo_rx));
		if (!convo_exp || !convo_rx) {
			free(convo_expect);
			convo_expect = NULL;
		}
	}
	if (!key_of || !key_ring || !reply_of) {
		free(reply_of);
		reply_of = NULL;
		free(key_of);
		free(key_ring);
		key_of = NULL;
		key_ring = NULL;
	}
	for (int i = 0; i < nhosts; i++) {
		ENetAddress a = {.host = htonl(0x7F000000u + 10u + (uint32_t)(i % 240)), .port = 0};
		hosts[i].h = enet_host_create(&a, PER_HOST, ES_CHAN_COUNT, 0, 0);
		if (!hosts[i].h) {
			fprintf(stderr, "es-load: cannot create host %d\n", i);
			return 1;
		}
		hosts[i].h->intercept = intercept;
		hosts[i].addr = a.host;
	}
	/* roles and places: pairs 30 m apart from each other (beyond earshot),
	 * newcomers near a pair (they hear it) or spread over the floor */
	srand(7);
	int side = (int)ceil(sqrt(pairs > 0 ? pairs : 1));
	for (int i = 0; i < npeople; i++) {
		struct client *c = &cl[i];
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
	for (int i = 0; i < nhosts; i++)
		ask_cookie(&hosts[i]);
	if (churn) {
		if (duration <= 0 || steady < 0 || report <= 0 || tile_x < 1 || tile_y < 1 || steady + duration + 120 > max_s ||
		    quiet_for_s < 0 || (quiet_every_s > 0 && quiet_for_s >= quiet_every_s)) {
			fprintf(stderr, "es-load: --churn needs positive times and --max-seconds above steady + duration + 120\n");
			return 2;
		}
		/* the churn answers server keys and handshake replies as they come
		 * (its loop has no slack phase): no deferred-answer ring */
		free(key_ring);
		key_ring = NULL;
		int rc = churn_run(steady, duration, report, max_s, tile_x, tile_y);
		for (int i = 0; i < npeople; i++)
			if (cl[i].peer)
				enet_peer_disconnect_now(cl[i].peer, 0);
		for (int i = 0; i < nhosts; i++)
			enet_host_destroy(hosts[i].h);
		free(cl);
		free(hosts);
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
		for (int i = 0; i < nhosts; i++)
			if (!hosts[i].have_cookie || t - hosts[i].cookie_at > 25000000000LL) {
				if (tick % 10 == 0)
					ask_cookie(&hosts[i]);
			}
		/* phase 1: the pairs join at once; phase 2 (storm) once they all talk */
		int pairs_joined = 0;
		for (int i = 0; i < 2 * pairs; i++)
			pairs_joined += cl[i].st == C_JOINED;
		for (int i = 0; i < 2 * pairs; i++)
			if (cl[i].st == C_IDLE && hosts[cl[i].host].have_cookie) {
				start(&cl[i]);
				started++;
			}
		if (storm_at < 0 && pairs_joined == 2 * pairs && (pairs == 0 || tick > 100)) {
			storm_at = t;
			window_start = t;
			window_end = t + (int64_t)(storm * 1e9);
			if (pid)
				proc_usage(pid, &cpu0, &rss0);
			scrape(&met0);
			fprintf(stderr, "es-load: %d pairs talking; storm of %d over %.1f s\n", pairs, people, storm);
		}
		if (storm_at >= 0) {
			double frac = (double)(t - storm_at) / (storm * 1e9);
			int due = 2 * pairs + (int)((frac > 1 ? 1 : frac) * people);
			for (int i = 2 * pairs; i < due && i < npeople; i++)
				if (cl[i].st == C_IDLE && hosts[cl[i].host].have_cookie) {
					start(&cl[i]);
					started++;
				}
			if (t >= window_start && t < window_end)
				expected_pair_ticks++;
			if (room) {
				/*
				 * One room: measure once everyone has joined (or 5 s after the
				 * arrivals, whoever is in by then), one second later, for --hold
				 * seconds: the room as it talks, not the joins.
				 */
				int in = 0;
				for (int i = 0; i < npeople; i++)
					in += cl[i].st == C_JOINED;
				if (room_settle < 0 && frac >= 1 && (in == npeople || t - storm_at > (int64_t)((storm + 5) * 1e9)))
					room_settle = t + 1000000000LL;
				if (room_at < 0 && room_settle >= 0 && t >= room_settle) {
					room_at = t;
					window_start = t;
					window_end = t + (int64_t)(hold * 1e9);
					if (pid)
						proc_usage(pid, &cpu0, &rss0);
					scrape(&met0);
					met_samples = 0;
					met_enc_sum = met_lvl_sum = met_enc_max = met_lvl_max = 0;
					end_at = window_end;
					measure_start = window_start;
					measure_end = window_end;
					fprintf(stderr, "es-load: %d of %d in the room; measuring %.0f s\n", in, npeople, hold);
				}
				if (room_at >= 0 && t < window_end)
					room_ticks++;
			} else if (end_at < 0 && frac >= 1) {
				end_at = t + (int64_t)(hold * 1e9);
				measure_start = t;
				measure_end = end_at;
			}
			if (end_at >= 0 && t >= end_at)
				break;
		}
		if (storm_at >= 0)
			metrics_sample(tick);
		if (end_at >= 0 && convo_expect)
			convo_tick(tick); /* measured once everyone has arrived */
		/* voices */
		for (int i = 0; i < npeople; i++) {
			struct client *c = &cl[i];
			if (c->st != C_JOINED || !talking(c, tick))
				continue;
			int f = (int)(c->seq % FRAMES);
			struct es_msg m = {.type = ES_MSG_AUDIO_UP};
			m.u.up = (struct es_audio_up){c->seq, ES_PF_TALKING, (uint16_t)frame_len[f], frames[f]};
			send_sealed(c, &m, true);
			c->seq++;
		}
		for (int i = 0; i < nhosts; i++)
			enet_host_flush(hosts[i].h);
	}
	if (pid)
		proc_usage(pid, &cpu1, &rss1);
	scrape(&met1);
	double wall = (double)(now_ns() - (room_at > 0 ? room_at : storm_at > 0 ? storm_at : t0)) / 1e9;

	/* results */
	int admitted = 0, busy = 0, refused = 0, failed = 0, pending = 0, answered_late = 0;
	int64_t *ans = calloc((size_t)npeople, sizeof(int64_t)), *ttfa = calloc((size_t)npeople, sizeof(int64_t));
	int nans = 0, nttfa = 0, heard = 0;
	uint64_t min_retry = UINT64_MAX, max_retry = 0;
	for (int i = 2 * pairs; i < npeople; i++) {
		struct client *c = &cl[i];
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
		pair_rx += cl[i].frames_rx_window;
		pairs_ok += cl[i].st == C_JOINED;
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
	for (int i = 0; convo_expect && i < npeople; i++) {
		convo_expected += convo_exp[i];
		convo_received += convo_rx[i] < convo_exp[i] ? convo_rx[i] : convo_exp[i];
	}
	int room_talkers = 0, room_in = 0;
	uint64_t room_rx = 0;
	for (int i = 0; room && i < npeople; i++) {
		room_talkers += cl[i].role == R_ROOM;
		room_in += cl[i].st == C_JOINED;
		room_rx += cl[i].frames_rx_window < room_ticks ? cl[i].frames_rx_window : room_ticks;
	}
	double room_exp = (double)room_ticks * room_in;
	double room_us = cpu >= 0 && room_in > 0 ? cpu * 20000.0 / room_in : -1;
	/* what each listener who heard anyone was sent, over the measured span */
	double *down = calloc((size_t)npeople, sizeof(double)), down_span = (double)(measure_end - measure_start) / 1e9;
	int ndown = 0, down_max = 0;
	for (int i = 0; down && measure_start >= 0 && down_span > 0 && i < npeople; i++)
		if (cl[i].down_bytes_m) {
			down[ndown++] = (double)cl[i].down_bytes_m * 8.0 / down_span / 1000.0;
			down_max = cl[i].down_max_m > down_max ? cl[i].down_max_m : down_max;
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
		       npeople, room_in, room_talkers, room_us, (unsigned long long)room_rx, room_exp,
		       room_exp > 0 ? 100.0 * (1.0 - (double)room_rx / room_exp) : 0.0);
	if (convo_expected)
		printf("conversations: %llu bundles of %llu expected: loss %.3f %%\n", (unsigned long long)convo_received,
		       (unsigned long long)convo_expected, 100.0 * (1.0 - (double)convo_received / (double)convo_expected));
	printf("generator ticks: %llu, %llu started over 10 ms late, latest %.1f ms\n", (unsigned long long)gen_ticks,
	       (unsigned long long)gen_late_10ms, (double)gen_late_max / 1e6);
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
	       "\"step_reply_ms_p50\":%.1f,\"step_reply_ms_p99\":%.1f", step_ms[0][0], step_ms[0][1], step_ms[1][0], step_ms[1][1],
	       step_ms[2][0], step_ms[2][1]);
	if (convo_expected)
		printf(",\"convo_expected\":%llu,\"convo_received\":%llu,\"convo_loss_pct\":%.3f",
		       (unsigned long long)convo_expected, (unsigned long long)convo_received,
		       100.0 * (1.0 - (double)convo_received / (double)convo_expected));
	if (room)
		printf(",\"room_people\":%d,\"room_in\":%d,\"room_talking\":%d,\"room_us_per_person_tick\":%.2f,"
		       "\"room_bundle_loss_pct\":%.3f",
		       npeople, room_in, room_talkers, room_us,
		       room_exp > 0 ? 100.0 * (1.0 - (double)room_rx / room_exp) : 0.0);
	printf(",\"down_listeners\":%d,\"down_kbps_p50\":%.1f,\"down_kbps_p99\":%.1f,\"down_bundle_max\":%d", ndown, dk50,
	       dk99, down_max);
	printf(",\"gen_ticks_late_10ms\":%llu,\"gen_late_ms_max\":%.1f", (unsigned long long)gen_late_10ms,
	       (double)gen_late_max / 1e6);
	metrics_json();
	printf("}\n");
	for (int i = 0; i < npeople; i++)
		if (cl[i].peer)
			enet_peer_disconnect_now(cl[i].peer, 0);
	for (int i = 0; i < nhosts; i++) {
		enet_host_flush(hosts[i].h);
		enet_host_destroy(hosts[i].h);
	}
	free(ans);
	free(ttfa);
	free(cl);
	free(hosts);
	return 0;
}
