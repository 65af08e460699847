/* SPDX-License-Identifier: MIT */
#include "service.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <limits.h>

#include "atomic-file.h"
#include "clock.h"
#include "earshot-crypto.h"
#include "earshot-mixer.h"
#include "earshot-proto.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "saver.h"
#include "company.h"
#include "service-private.h"
#include "state.h"

#define SAVE_INTERVAL_MS 1000
#define STATUS_EVERY_TICKS 500 /* 10 s */


/* sd_notify failures are harmless to the floor, but worth a (rate-limited) word */
void es_service_notified(struct es_service *svc, int r, const char *what)
{
	static struct es_log_ratelimit rl;
	if (r < 0)
		es_log_rl(&rl, es_notify_now_usec() / 1000, ES_LOG_WARN, "sd_notify %s: %s", what, strerror(-r));
}

/*
 * The state lock, taken on the tick thread (handshakes, joins, moves): how
 * long the tick waited for it is counted, and the waits over 1 ms.
 */
static void tick_state_lock(struct es_service *svc)
{
	int64_t t0 = es_now_ns();
	es_saver_lock(svc->saver);
	uint64_t ns = (uint64_t)(es_now_ns() - t0);
	svc->lock_wait_ns += ns;
	svc->lock_waits_slow += ns > 1000000;
}

/*
 * May this key join?  Enrolled keys may, once per handshake timestamp
 * (replay protection across restarts: the timestamp is saved); a new key
 * may enrol with a valid one-time invite, or, in open mode, under a name
 * nobody else holds.  Runs on the tick thread; the state lock is only
 * contended by the saver's copy.
 */
static int on_authorize(void *ud, const uint8_t key[32], const uint8_t ts[12], const char *name_in,
			const uint8_t *invite_secret, char *name_out)
{
	struct es_service *svc = ud;
	int r = 0;
	tick_state_lock(svc);
	struct es_person *p = es_state_find_key(svc->db, key);
	char cname[ES_STATE_NAME_MAX + 1];
	if (!p && svc->company && es_company_known(svc->company, key, cname, sizeof(cname))) {
		/* enrolled through another daemon of the company: known here from now on */
		struct es_person np = {0};
		memcpy(np.key, key, ES_STATE_KEY_LEN);
		snprintf(np.name, sizeof(np.name), "%s", cname);
		if (es_state_find_name(svc->db, cname) == NULL && es_state_put(svc->db, &np) == 0)
			p = es_state_find_key(svc->db, key);
	}
	if (p) {
		if (es_person_bump_timestamp(p, ts) < 0) {
			r = -ES_REFUSED_REPLAY;
			goto out;
		}
		snprintf(name_out, ES_NAME_MAX + 1, "%.*s", ES_NAME_MAX, p->name);
		goto out_dirty;
	}
	struct es_person np = {0};
	memcpy(np.key, key, ES_STATE_KEY_LEN);
	memcpy(np.last_ts, ts, ES_STATE_TS_LEN);
	np.last_seen = es_unix_now();
	if (invite_secret && svc->company) {
		/* a company's invites are used once, company-wide, in etcd (the joiner retries meanwhile) */
		char code[ES_INVITE_CODE_LEN + 1], cn[ES_CLUSTER_NAME_BUF];
		uint8_t h[32];
		es_state_invite_code(invite_secret, code);
		int c = es_state_invite_hash(code, h);
		sodium_memzero(code, sizeof(code));
		if (c == 0)
			c = es_company_redeem(svc->company, h, key, cn, sizeof(cn));
		if (c == -EAGAIN) {
			r = -EAGAIN;
			goto out;
		}
		if (c < 0 || !cn[0] || strlen(cn) > ES_STATE_NAME_MAX) {
			es_log_info("an invite was presented that is %s", c == -EKEYEXPIRED ? "expired" :
					c == -ENOTCONN ? "not checkable now (etcd unreachable)" : c == -EEXIST ?
					"for a name or key already enrolled" : "unknown or used");
			r = -ES_REFUSED_INVITE;
			goto out;
		}
		snprintf(np.name, sizeof(np.name), "%s", cn);
		es_log_info("%s enrolled with an invite (company-wide)", np.name);
	} else if (invite_secret) {
		char code[ES_INVITE_CODE_LEN + 1];
		es_state_invite_code(invite_secret, code);
		int c = es_state_invite_consume(svc->db, code, es_unix_now(), np.name);
		sodium_memzero(code, sizeof(code));
		if (c < 0) {
			es_log_info("an invite was presented that is %s", c == -ETIMEDOUT ? "expired" : "unknown or used");
			r = -ES_REFUSED_INVITE;
			goto out;
		}
		es_log_info("%s enrolled with an invite", np.name);
	} else if (svc->open_enrolment) {
		if (es_state_find_name(svc->db, name_in)) {
			r = -ES_REFUSED_NAME_TAKEN;
			goto out;
		}
		snprintf(np.name, sizeof(np.name), "%s", name_in);
		es_log_info("%s enrolled (open enrolment)", np.name);
	} else {
		r = -ES_REFUSED_UNKNOWN_KEY;
		goto out;
	}
	if (es_state_put(svc->db, &np) < 0) {
		r = -ES_REFUSED_UNKNOWN_KEY;
		goto out;
	}
	snprintf(name_out, ES_NAME_MAX + 1, "%.*s", ES_NAME_MAX, np.name);
	if (svc->company && !invite_secret) /* a redeemed invite enrolled them in etcd already */
		es_company_enrolled(svc->company, key, np.name);
out_dirty:
	es_saver_mark_dirty(svc->saver);
out:
	es_saver_unlock(svc->saver);
	return r;
}

/*
 * The server's static key: <state_dir>/server.key, 64 hex digits of the
 * private key, mode 0600, made on first start and written atomically.
 */
static int server_key_load(const char *dir, struct es_keypair *kp)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/server.key", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		es_log_error("cannot make the state directory %s: %s", dir, strerror(errno));
		return -errno;
	}
	FILE *f = fopen(path, "r");
	if (f) {
		mode_t mode = 0;
		int pr = es_key_file_private(fileno(f), &mode);
		if (pr < 0) {
			fclose(f);
			if (pr == -EPERM)
				es_log_error("%s is readable or writable by group or others (mode %04o): whoever read it can "
					     "act as this server. If you are sure nobody did, 'chmod 600 %s' and start again; "
					     "otherwise move it away, and a new key is made (every client must then run "
					     "'earshot forget-server' and be invited again)", path, (unsigned)mode, path);
			else
				es_log_error("%s: %s", path, strerror(-pr));
			return pr;
		}
		char hex[80] = {0};
		uint8_t priv[32];
		size_t bin = 0;
		bool ok = fgets(hex, sizeof(hex), f) != NULL &&
			  sodium_hex2bin(priv, sizeof(priv), hex, strlen(hex), "\n", &bin, NULL) == 0 && bin == 32;
		fclose(f);
		int r = ok ? es_noise_keypair_from_private(kp, priv) : -EINVAL;
		sodium_memzero(priv, sizeof(priv));
		sodium_memzero(hex, sizeof(hex));
		if (r < 0)
			es_log_error("%s: not a server key (64 hex digits); move it away to make a new one", path);
		return r;
	}
	if (errno != ENOENT) {
		es_log_error("%s: %s", path, strerror(errno));
		return -errno;
	}
	es_noise_keypair(kp);
	char hex[66];
	sodium_bin2hex(hex, 65, kp->priv, 32);
	hex[64] = '\n';
	hex[65] = '\0';
	int r = es_write_atomic(dir, "server.key", hex, 65, 0600, NULL);
	sodium_memzero(hex, sizeof(hex));
	if (r < 0) {
		es_log_error("cannot write %s: %s", path, strerror(-r));
		return r;
	}
	es_log_info("made a new server key in %s", path);
	return 0;
}

/*
 * What is remembered of someone who joins: their last place and their own
 * desk.  The server decides where they sit and says so in one log line.
 */
static void on_join(void *ud, const uint8_t key[32], const char *name, struct es_seat_memory *mem)
{
	struct es_service *svc = ud;
	(void)name;
	tick_state_lock(svc);
	struct es_person *p = es_state_find_key(svc->db, key);
	if (p) {
		if (p->has_place && isfinite(p->x) && isfinite(p->y) && fabsf(p->x) < 1e6f && fabsf(p->y) < 1e6f) {
			mem->has_place = true;
			mem->pos.x_cm = (int32_t)lrintf(p->x * 100.0f);
			mem->pos.y_cm = (int32_t)lrintf(p->y * 100.0f);
			long dd = lrintf(p->facing * 1800.0f / (float)M_PI);
			mem->pos.facing = (uint16_t)(((dd % 3600) + 3600) % 3600);
		}
		snprintf(mem->desk, sizeof(mem->desk), "%s", p->desk);
		p->last_seen = es_unix_now();
		es_saver_mark_dirty(svc->saver);
	}
	es_saver_unlock(svc->saver);
	if (svc->company) {
		/* where their floor's last owner had them (fresher than what this daemon saw), their desk */
		struct es_pos pos;
		if (es_company_seat_of(svc->company, key, &pos)) {
			mem->has_place = true;
			mem->pos = pos;
		}
		if (!mem->desk[0])
			(void)es_company_desk_of(svc->company, key, mem->desk, sizeof(mem->desk));
	}
}

static int on_where(void *ud, const struct es_pos *pos, struct es_redirect *rd)
{
	struct es_service *svc = ud;
	return svc->company ? es_company_where(svc->company, pos, rd) : 0;
}

/* The server gave someone a desk of their own at their first join. */
static void on_desk(void *ud, const uint8_t key[32], const char *label)
{
	struct es_service *svc = ud;
	tick_state_lock(svc);
	struct es_person *p = es_state_find_key(svc->db, key);
	if (p && !p->desk[0] && strlen(label) <= ES_STATE_DESK_MAX) {
		snprintf(p->desk, sizeof(p->desk), "%s", label);
		es_saver_mark_dirty(svc->saver);
	}
	es_saver_unlock(svc->saver);
	if (svc->company)
		es_company_desk(svc->company, key, label);
}

void es_service_sync_desks(struct es_service *svc)
{
	if (!svc->server)
		return;
	es_server_desks_disown_all(svc->server);
	es_saver_lock(svc->saver);
	size_t n = es_state_person_count(svc->db);
	for (size_t i = 0; i < n; i++) {
		const struct es_person *p = es_state_person_const(svc->db, i);
		if (p->desk[0])
			(void)es_server_desk_own(svc->server, p->desk, true); /* -ENOENT: fixed by the next reload */
	}
	es_saver_unlock(svc->saver);
}

int es_service_set_desk(struct es_service *svc, const char *name, const char *label, char *was, size_t wl,
			char *holder, size_t hl)
{
	int r = 0;
	was[0] = holder[0] = 0;
	if (label[0] && (!svc->floor || es_floor_desk_find(svc->floor, label) < 0))
		return -ENOENT;
	es_saver_lock(svc->saver);
	struct es_person *p = es_state_find_name(svc->db, name);
	if (!p) {
		r = -ESRCH;
		goto out;
	}
	size_t n = es_state_person_count(svc->db);
	for (size_t i = 0; label[0] && i < n; i++) {
		const struct es_person *o = es_state_person_const(svc->db, i);
		if (o != p && strcmp(o->desk, label) == 0) {
			snprintf(holder, hl, "%s", o->name);
			r = -EADDRINUSE;
			goto out;
		}
	}
	snprintf(was, wl, "%s", p->desk);
	snprintf(p->desk, sizeof(p->desk), "%s", label);
	es_saver_mark_dirty(svc->saver);
	if (svc->company)
		es_company_desk(svc->company, p->key, label); /* queued: never waits */
out:
	es_saver_unlock(svc->saver);
	if (r == 0 && svc->server) {
		if (was[0])
			(void)es_server_desk_own(svc->server, was, false);
		if (label[0])
			(void)es_server_desk_own(svc->server, label, true);
	}
	return r;
}

static void on_place(void *ud, const uint8_t key[32], const char *name, int32_t x_cm, int32_t y_cm, uint16_t facing)
{
	struct es_service *svc = ud;
	(void)name;

	tick_state_lock(svc);
	struct es_person *p = es_state_find_key(svc->db, key);
	if (p) {
		p->has_place = true;
		p->x = (float)x_cm / 100.0f;
		p->y = (float)y_cm / 100.0f;
		p->facing = (float)facing * (float)M_PI / 1800.0f;
		p->last_seen = es_unix_now();
		es_saver_mark_dirty(svc->saver);
	}
	es_saver_unlock(svc->saver);
	if (svc->company)
		es_company_seat(svc->company, key, x_cm, y_cm, facing);
}

/* Is this key muted by an admin (kept in the state)? */
static bool on_admin_muted(void *ud, const uint8_t key[32])
{
	struct es_service *svc = ud;
	tick_state_lock(svc);
	const struct es_person *p = es_state_find_key(svc->db, key);
	bool muted = p && p->admin_muted;
	es_saver_unlock(svc->saver);
	return muted || (svc->company && es_company_muted(svc->company, key));
}

int es_service_set_admin_muted(struct es_service *svc, const char *name, uint8_t *key, bool muted)
{
	es_saver_lock(svc->saver);
	struct es_person *p = name ? es_state_find_name(svc->db, name) : es_state_find_key(svc->db, key);
	if (p && name && key)
		memcpy(key, p->key, ES_STATE_KEY_LEN);
	if (p && p->admin_muted != muted) {
		p->admin_muted = muted;
		es_saver_mark_dirty(svc->saver);
	}
	uint8_t pk[ES_STATE_KEY_LEN];
	if (p)
		memcpy(pk, p->key, sizeof(pk));
	es_saver_unlock(svc->saver);
	if (p && svc->company)
		es_company_mute(svc->company, pk, muted, "admin");
	return p ? 0 : -ENOENT;
}

void es_service_metrics_restart(struct es_service *svc)
{
	es_metrics_stop(svc->metrics);
	svc->metrics = NULL;
	if (!svc->cfg.metrics.text[0])
		return;
	svc->metrics_error[0] = 0;
	svc->metrics = es_metrics_start(&svc->cfg.metrics);
	if (!svc->metrics) {
		/* one warning line: voice comes first, and earshotctl shows it too */
		snprintf(svc->metrics_error, sizeof(svc->metrics_error), "cannot serve metrics on %s: %s",
			 svc->cfg.metrics.text, errno == EADDRINUSE ? "the port is in use" : strerror(errno));
		es_log_warn("metrics: %s; running without metrics", svc->metrics_error);
	} else
		es_log_info("metrics on http://%s/metrics", svc->cfg.metrics.text);
}

static void on_tick(void *ud, const struct es_server_counters *c, uint64_t work_ns)
{
	struct es_service *svc = ud;
	struct es_metrics_snapshot *m = &svc->snap;

	svc->ticks++;
	m->people_connected = c->people;
	m->people_talking = c->talking;
	m->people_muted = c->muted;
	m->plans[ES_PLAN_SILENT] = c->plan_silent;
	m->plans[ES_PLAN_FORWARD] = c->plan_forward;
	m->plans[ES_PLAN_MIX] = c->plan_mix;
	m->encodes_per_tick = c->encodes;
	m->degradation_level = c->load_level;
	es_state_counts(svc->db, &m->people_enrolled, &m->invites_pending); /* atomic: no lock on the tick */
	es_metrics_observe_tick(m, (double)work_ns / 1e9);
	_Static_assert(ES_TICK_PHASES == ES_PHASE__COUNT, "metrics and server disagree on the tick phases");
	for (unsigned i = 0; i < ES_TICK_PHASES; i++)
		m->tick_phase_seconds[i] = (double)c->phase_ns[i] / 1e9;
	m->ticks_late_total = c->ticks_late;
	for (unsigned i = 0; i < ES_TICK_PHASES; i++) {
		m->late_tick_phase_seconds[i] = (double)c->late_phase_ns[i] / 1e9;
		m->tick_phase_max_seconds[i] = (double)c->phase_max_ns[i] / 1e9;
	}
	m->tick_max_seconds = (double)c->work_max_ns / 1e9;
	m->state_lock_wait_seconds = (double)svc->lock_wait_ns / 1e9;
	m->state_lock_waits_slow = svc->lock_waits_slow;
	_Static_assert(ES_ENGINE_WORK__COUNT == 8, "metrics and server disagree on the engine's work");
	for (unsigned i = 0; i < ES_ENGINE_WORK__COUNT; i++)
		m->engine_work_total[i] = c->engine_work[i];
	for (unsigned i = 0; i < 4; i++)
		m->level_ticks_total[i] = c->level_ticks[i];
	for (unsigned i = 0; i < 3; i++)
		m->load_steps_total[i] = c->load_steps[i];
	m->load_estimate_seconds = (double)c->load_estimate_us / 1e6;
	m->uplink_recovered_total[0] = c->uplink_fec;
	m->uplink_recovered_total[1] = c->uplink_plc;
	m->downlink_budget_lowered_total = c->budget_lowered;
	m->downlink_budget_reduced = c->budget_reduced;
	m->bundle_max_bytes = c->bundle_max;
	m->packets_in_total = c->packets_in;
	m->packets_out_total = c->packets_out;
	m->bytes_in_total = c->bytes_in;
	m->bytes_out_total = c->bytes_out;
	m->packets_dropped_total[ES_DROP_MALFORMED] = c->drop_malformed;
	m->packets_dropped_total[ES_DROP_UNKNOWN_TYPE] = c->drop_unknown;
	m->packets_dropped_total[ES_DROP_UNAUTHENTICATED] = c->drop_unjoined + c->drop_nosession;
	m->packets_dropped_total[ES_DROP_OVERSIZE] = c->drop_oversize;
	m->packets_dropped_total[ES_DROP_LATE] = c->drop_late;
	m->packets_dropped_total[ES_DROP_TAMPERED] = c->drop_tampered;
	m->packets_dropped_total[ES_DROP_REPLAYED] = c->drop_replayed;
	m->packets_dropped_total[ES_DROP_STALE] = c->drop_stale;
	m->packets_dropped_total[ES_DROP_RATE_LIMITED] = c->drop_rate;
	m->packets_dropped_total[ES_DROP_COOKIE] = c->drop_cookie;
	m->packets_dropped_total[ES_DROP_FRAGMENT] = c->drop_fragment;
	m->packets_dropped_total[ES_DROP_ENET_COMMAND] = c->drop_enet;
	_Static_assert(ES_REQUEST_KINDS == ES_REQ__COUNT, "metrics and budgets disagree on the request kinds");
	for (unsigned i = 0; i < ES_REQ__COUNT; i++)
		m->requests_refused_total[i] = c->requests_refused[i];
	m->resets_sent_total = c->resets_sent;
	m->redirects_total = c->redirects;
	m->sends_failed_total = c->send_failed;
	m->handshakes_total = c->handshakes;
	m->handshake_failures_total[ES_HS_FAIL_MALFORMED] = c->refused[ES_REFUSED_BAD_HANDSHAKE] + c->refused[ES_REFUSED_VERSION];
	m->handshake_failures_total[ES_HS_FAIL_UNKNOWN_KEY] = c->refused[ES_REFUSED_UNKNOWN_KEY] + c->refused[ES_REFUSED_NAME_TAKEN];
	m->handshake_failures_total[ES_HS_FAIL_REPLAYED] = c->refused[ES_REFUSED_REPLAY];
	m->handshake_failures_total[ES_HS_FAIL_BAD_INVITE] = c->refused[ES_REFUSED_INVITE];
	m->handshake_failures_total[ES_HS_FAIL_RATE_LIMITED] = c->refused[ES_REFUSED_RATE];
	m->handshake_failures_total[ES_HS_FAIL_TIMEOUT] = c->prejoin_timeouts;
	m->admissions_refused_total = c->refused_full;
	m->reloads_total[0] = svc->reloads[0];
	m->reloads_total[1] = svc->reloads[1];
	m->people_relocated_total = c->relocated;
	m->cluster_joins_waiting_total = c->busy_no_owner;
	if (svc->company && svc->ticks % 50 == 0) {
		struct es_company_stats cs;
		es_company_get_stats(svc->company, &cs);
		m->cluster_member = 1;
		m->cluster_etcd_reachable = cs.reachable;
		m->cluster_etcd_outages_total = cs.outages;
		m->cluster_floors_hosted = cs.floors_hosted;
		m->cluster_floors_changed_total[0] = cs.floors_gained;
		m->cluster_floors_changed_total[1] = cs.floors_lost;
		m->cluster_etcd_writes_total = cs.etcd_writes;
	}
	es_company_stage_metrics(svc->company, m);
	es_metrics_publish(svc->metrics, m);

	uint64_t now = es_notify_now_usec();
	es_service_notified(svc, es_notify_watchdog(&svc->notify, now), "WATCHDOG");
	if (svc->ticks % STATUS_EVERY_TICKS == 0)
		es_service_notified(svc, es_notify_status(&svc->notify, "%u people, %u talking", c->people, c->talking), "STATUS");
	es_company_tick(svc->company, svc, c->people);
	es_service_reload_poll(svc); /* a reload read off this thread: swap it in */
	if (svc->reload && !svc->reload_job) {
		svc->reload = 0;
		es_service_reload_start(svc);
	}
}

struct es_service *es_service_start(const struct es_config *cfg, int argc, char **argv)
{
	int r, e;
	struct es_service *svc = calloc(1, sizeof(*svc));
	if (!svc)
		return NULL;
	svc->cfg = *cfg;
	svc->argc = argc;
	svc->argv = argv;
	es_notify_init(&svc->notify);

	char why[WHY_MAX];
	r = es_service_floor_load(cfg, &svc->floor, why, sizeof(why));
	if (r < 0) {
		e = -r;
		es_log_error("%s", why);
		goto err_free;
	}
	es_service_floor_describe(svc->floor, "");
	r = es_state_load(cfg->state_dir, &svc->db);
	if (r < 0) {
		e = -r;
		es_log_error("cannot load the state from %s: %s", cfg->state_dir, strerror(e));
		goto err_free;
	}
	es_log_info("state: %zu people enrolled, %zu invites pending (%s)", es_state_person_count(svc->db),
		es_state_invite_count(svc->db), cfg->state_dir);
	svc->saver = es_saver_start(svc->db, cfg->state_dir, SAVE_INTERVAL_MS);
	if (!svc->saver) {
		e = errno;
		es_log_error("cannot start the state saver: %s", strerror(e));
		goto err_db;
	}
	es_service_metrics_restart(svc);

	if (server_key_load(cfg->state_dir, &svc->key) < 0) {
		e = EINVAL;
		goto err_saver;
	}
	char fp[ES_FINGERPRINT_LEN];
	es_key_fingerprint(svc->key.pub, fp);
	svc->open_enrolment = es_config_open_enrolment(cfg);
	es_log_info("server key fingerprint %s; enrolment %s", fp,
		    svc->open_enrolment ? "OPEN: any key that connects is enrolled" : "by invite only");
	if (svc->open_enrolment && cfg->enrol == ES_ENROL_AUTO)
		/* the daemon cannot see a port forward, an SSH tunnel or a proxy in front of it */
		es_log_warn("enrolment is open because %s is a loopback address: anything that forwards "
			    "traffic to it (a port forward, a tunnel, a proxy) opens this office to everyone it "
			    "reaches; set [security] open_enrolment = off (--open-enrolment off) to require invites",
			    cfg->listen.text);
	svc->hooks = (struct es_server_hooks){
		.ud = svc, .tick = on_tick, .authorize = on_authorize, .join = on_join, .desk = on_desk, .place = on_place,
		.admin_muted = on_admin_muted, .where = on_where,
	};
	svc->company = es_company_start(cfg, svc->floor);
	if (!svc->company && errno) {
		e = errno;
		goto err_saver;
	}
	return svc;

err_saver:
	es_metrics_stop(svc->metrics);
	es_saver_stop(svc->saver);
err_db:
	es_state_free(svc->db);
err_free:
	es_floor_free(svc->floor);
	es_notify_clear(&svc->notify);
	free(svc);
	errno = e;
	return NULL;
}

void es_service_stop(struct es_service *svc)
{
	if (!svc)
		return;
	es_service_reload_cancel(svc);
	es_company_stop(svc->company); /* leave the company: our floors are free for the others at once */
	es_metrics_stop(svc->metrics);
	es_saver_stop(svc->saver); /* the final save */
	es_notify_clear(&svc->notify);
	es_state_free(svc->db);
	es_keypair_clear(&svc->key);
	es_floor_free(svc->floor);
	free(svc);
}

struct es_company *es_service_company(struct es_service *svc)
{
	return svc->company;
}

struct es_floor *es_service_floor(struct es_service *svc)
{
	return svc->floor;
}

void es_service_attach(struct es_service *svc, struct es_server *server, struct es_admin *admin)
{
	svc->server = server;
	svc->admin = admin;
	es_service_sync_desks(svc);
}

int es_service_invite_add(struct es_service *svc, const char *name, int64_t ttl_s, const uint8_t secret[16])
{
	if (ttl_s <= 0)
		ttl_s = svc->cfg.invite_ttl_s;
	es_saver_lock(svc->saver);
	int r = es_state_invite_add(svc->db, name, es_unix_now(), ttl_s, secret);
	if (r == 0)
		es_saver_mark_dirty(svc->saver);
	es_saver_unlock(svc->saver);
	if (r == 0 && svc->company) {
		char code[ES_INVITE_CODE_LEN + 1];
		uint8_t h[32];
		es_state_invite_code(secret, code);
		if (es_state_invite_hash(code, h) == 0)
			es_company_invite_add(svc->company, h, name, es_unix_now() + ttl_s);
		sodium_memzero(code, sizeof(code));
	}
	return r;
}

size_t es_service_enrolled(struct es_service *svc,
			   void (*fn)(void *ud, const struct es_person *p, const struct es_pending_invite *v), void *ud)
{
	es_saver_lock(svc->saver);
	size_t n = es_state_person_count(svc->db);
	for (size_t i = 0; i < n; i++)
		fn(ud, es_state_person_const(svc->db, i), NULL);
	size_t ni = es_state_invite_count(svc->db);
	for (size_t i = 0; i < ni; i++)
		fn(ud, NULL, es_state_invite(svc->db, i));
	es_saver_unlock(svc->saver);
	return n;
}

int es_service_forget(struct es_service *svc, const char *name, uint8_t key_out[32])
{
	int r = -ENOENT;
	es_saver_lock(svc->saver);
	struct es_person *p = es_state_find_name(svc->db, name);
	if (p) {
		uint8_t key[ES_STATE_KEY_LEN];
		memcpy(key, p->key, sizeof(key));
		char desk[sizeof(p->desk)];
		memcpy(desk, p->desk, sizeof(desk));
		r = es_state_remove(svc->db, key);
		if (r == 0 && desk[0] && svc->server)
			(void)es_server_desk_own(svc->server, desk, false); /* free for the next newcomer */
		if (r == 0) {
			if (key_out)
				memcpy(key_out, key, sizeof(key));
			es_saver_mark_dirty(svc->saver);
			if (svc->company)
				es_company_forget(svc->company, key); /* queued: never waits */
		}
	}
	es_saver_unlock(svc->saver);
	return r;
}

const char *es_service_metrics_state(const struct es_service *svc, char *buf, size_t len)
{
	if (svc->metrics_error[0])
		snprintf(buf, len, "NOT SERVED: %s", svc->metrics_error);
	else if (svc->cfg.metrics.text[0])
		snprintf(buf, len, "http://%s/metrics", svc->cfg.metrics.text);
	else
		snprintf(buf, len, "off");
	return buf;
}

const char *es_service_state_dir(const struct es_service *svc)
{
	return svc->cfg.state_dir;
}

const uint8_t *es_service_server_key(const struct es_service *svc)
{
	return svc->key.priv;
}

const uint8_t *es_service_server_pub(const struct es_service *svc)
{
	return svc->key.pub;
}

const struct es_server_hooks *es_service_hooks(struct es_service *svc)
{
	return &svc->hooks;
}

void es_service_ready(struct es_service *svc, const char *status)
{
	es_service_notified(svc, es_notify_ready(&svc->notify, status), "READY");
}

void es_service_stopping(struct es_service *svc)
{
	es_service_notified(svc, es_notify_stopping(&svc->notify), "STOPPING");
}

void es_service_request_reload(struct es_service *svc)
{
	svc->reload = 1;
}

int es_service_check(const struct es_config *cfg, FILE *out, FILE *err)
{
	int r = es_config_check(cfg, err);
	if (r == 0) {
		char why[WHY_MAX];
		struct es_floor *f = NULL;
		r = es_service_floor_load(cfg, &f, why, sizeof(why));
		if (r < 0)
			fprintf(err, "%s\n", why);
		es_floor_free(f);
	}
	if (r == 0) {
		/* warnings (a fall back to state.prev) and errors only */
		struct es_state_db *db = NULL;
		enum es_log_level lv = es_log_get_level();
		es_log_set_level(ES_LOG_WARN);
		int s = es_state_load(cfg->state_dir, &db);
		es_log_set_level(lv);
		if (s < 0) {
			fprintf(err, "[server] state_dir: %s: the state cannot be loaded: %s\n", cfg->state_dir, strerror(-s));
			r = s;
		}
		es_state_free(db);
	}
	if (r == 0)
		fprintf(out, "%s: configuration OK\n", cfg->config_path[0] ? cfg->config_path : "(defaults)");
	return r;
}
