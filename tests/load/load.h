/* SPDX-License-Identifier: MIT */
/*
 * es-load's pieces (see es-load.c for what it does): the protocol client
 * (client.c), /proc sampling and percentiles (sample.c), the daemon's
 * Prometheus figures (scrape.c), the churn scenario (churn.c), and the
 * storm, office and room scenarios with main (es-load.c).  Everything they
 * share is in one struct load, L: the simulated people, their hosts and
 * what the scenarios measure.  Single-threaded.
 */
#ifndef ES_LOAD_H
#define ES_LOAD_H

#include <errno.h>
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

struct reply_buf {
	uint16_t len;
	uint8_t b[ES_NOISE_MSG2_MAX];
};

struct load {
	struct client *cl;
	struct host *hosts;
	int nhosts, npeople;
	ENetAddress server;
	uint8_t frames[FRAMES][ES_OPUS_MAX];
	int frame_len[FRAMES];
	int64_t window_start, window_end; /* the storm, for the pairs' loss */
	int64_t measure_start, measure_end; /* the span after the arrivals: downlink per listener */
	bool want_roster;             /* every simulated person asks for presence, as a UI does */
	bool want_thin;               /* --thin: everyone asks for one server-rendered stream (a mix each) */
	bool want_place;              /* --desks: ask to sit exactly at our desk (ES_PF_PLACE) */
	int64_t *t_connected, *t_key; /* per person: ENet connected, server key received (0: not yet) */
	/*
	 * Server keys received and not yet answered with handshake message 1
	 * (~0.1 ms of X25519 each): answered in the slack after the voices are
	 * sent, so a storm's handshakes do not make the talkers' frames late.
	 */
	struct es_server_key *key_of;
	int *key_ring, key_head, key_count;
	/* the same for handshake message 2 (two X25519 to read): its bytes wait here */
	struct reply_buf *reply_of;
	/*
	 * Office-day loss: a conversation member should get a bundle every tick
	 * while another member of the group talks.  Counted only away from turn
	 * changes (10 ticks either side), where who talks is unambiguous.
	 */
	bool *convo_expect;          /* per person: this tick counts */
	uint32_t *convo_exp, *convo_rx; /* per person: ticks counted, bundles received in them */
	uint64_t convo_expected, convo_received;
	/* the generator's own punctuality: how late its ticks (the voices it sends) start */
	int64_t gen_late_max;
	uint64_t gen_late_10ms, gen_ticks;
	double step_ms[3][2]; /* answer_steps(): p50/p99 of each step to an answer, ms */
	/* churn options */
	double quiet_every_s, quiet_for_s; /* --quiet-every/--quiet-for: baseline windows inside the churn */
	const char *churn_prefix; /* --name-prefix: names are PREFIX0, PREFIX1, ... (at most 4 characters of it) instead of p0, p1, ... */
	bool company; /* --company: several daemons (company.c); the handshake's answers go to company_* below */
};
extern struct load L;

/* client.c: the protocol client */
int64_t now_ns(void);
int host_of(ENetHost *h);
int ENET_CALLBACK intercept(ENetHost *h, ENetEvent *ev);
void ask_cookie(struct host *ho);
int make_frames(void);
int send_sealed(struct client *c, const struct es_msg *m, bool audio);
void start(struct client *c);
void on_receive(struct client *c, const uint8_t *data, size_t len);
/* ENet says c's peer is connected: it now waits for the server's key. */
void connected(struct client *c, ENetPeer *peer);
void service_all(void);
void answer_keys(int64_t until);

/* sample.c: percentiles and the daemon's /proc figures */
double pct(int64_t *v, int n, double p);
void proc_usage(int pid, double *cpu_s, long *rss_kib);

/* scrape.c: the daemon's Prometheus figures (--metrics) */
int metrics_parse_addr(const char *a);
void metrics_mark_start(void);   /* scrape the "before" figures */
void metrics_restart(void);      /* the same, and forget the gauges sampled so far */
void metrics_mark_end(void);     /* scrape the "after" figures */
void metrics_sample(uint64_t tick);
void metrics_report(void);
void metrics_json(void);

/* churn.c: a compressed office day (--churn) */
int churn_run(double steady_s, double duration_s, double report_s, double max_s, unsigned tx, unsigned ty);

/* company.c: people on the floors of a company of several daemons (--company) */
struct company_opts {
	const char *servers;   /* ADDR1,ADDR2,...: the daemons a person may reach first */
	unsigned floors;       /* the company's floors: copies of the built-in office stacked south */
	const char *per_floor; /* N0,N1,...: people on each floor (NULL: --people spread i mod floors) */
	const char *home;      /* ADDR0,ADDR1,...: each floor's daemon, tried first (NULL: daemon i mod n) */
	double storm_s, hold_s, max_s, talking;
	double walkers;        /* fraction who walk (to a free place 1 m away and back every 2 s) */
	uint64_t silent_floors; /* bit k: nobody on floor k talks (what do they hear of the others?) */
	int kill_pid;          /* SIGKILL this daemon (--kill-pid) ... */
	const char *kill_addr; /* ... which clients reach at this address ... */
	double kill_after_s;   /* ... this long after everyone is in and hearing */
	double recover_s;      /* the bound for coming back after the kill */
	const char *places_out; /* where everyone is (when all are in, and at the kill): name keyhex floor x y daemon desk talks moved-unix-s */
};
int company_run(const struct company_opts *o);
/* client.c's hooks into it: the payload of handshake message 2, a sealed message, a busy answer */
void company_hs2(struct client *c, const uint8_t *payload, int n);
void company_sealed(struct client *c, const uint8_t *plain, int n, int64_t t);
void company_busy(struct client *c);
void company_refused(struct client *c, uint8_t reason);

#endif
