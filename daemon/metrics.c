/* SPDX-License-Identifier: MIT */
#include "metrics.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "earshot-proto.h"
#include "log.h"

const double es_tick_buckets[ES_TICK_BUCKETS] = {
	0.0005, 0.001, 0.002, 0.005, 0.010, 0.015, 0.020, 0.030, 0.050, 0.100, 0.250,
};

const char *const es_tick_phase_names[ES_TICK_PHASES] = {
	"service", "handshake", "engine", "send", "presence", "flush", "idle_service", "idle_handshake", "idle_presence", "late",
	"tick_cpu",
};

static const char *const drop_names[ES_DROP__COUNT] = {
	[ES_DROP_MALFORMED] = "malformed",
	[ES_DROP_UNKNOWN_TYPE] = "unknown_type",
	[ES_DROP_TAMPERED] = "tampered",
	[ES_DROP_REPLAYED] = "replayed",
	[ES_DROP_STALE] = "stale",
	[ES_DROP_UNAUTHENTICATED] = "unauthenticated",
	[ES_DROP_RATE_LIMITED] = "rate_limited",
	[ES_DROP_COOKIE] = "cookie",
	[ES_DROP_OVERSIZE] = "oversize",
	[ES_DROP_LATE] = "late",
	[ES_DROP_FRAGMENT] = "fragment",
	[ES_DROP_ENET_COMMAND] = "enet_command",
};

static const char *const hs_fail_names[ES_HS_FAIL__COUNT] = {
	[ES_HS_FAIL_MALFORMED] = "malformed",
	[ES_HS_FAIL_DECRYPT] = "decrypt",
	[ES_HS_FAIL_UNKNOWN_KEY] = "unknown_key",
	[ES_HS_FAIL_REPLAYED] = "replayed",
	[ES_HS_FAIL_BAD_INVITE] = "bad_invite",
	[ES_HS_FAIL_TIMEOUT] = "timeout",
	[ES_HS_FAIL_RATE_LIMITED] = "rate_limited",
};

static const char *const plan_names[ES_PLAN__COUNT] = {
	[ES_PLAN_SILENT] = "silent",
	[ES_PLAN_FORWARD] = "forward",
	[ES_PLAN_MIX] = "mix",
};

const char *const es_metrics_names[] = {
	"earshot_people_connected",
	"earshot_people_talking",
	"earshot_people_muted",
	"earshot_people_enrolled",
	"earshot_invites_pending",
	"earshot_build_info",
	"earshot_ticks_total",
	"earshot_ticks_late_total",
	"earshot_tick_duration_seconds",
	"earshot_tick_phase_seconds_total",
	"earshot_late_tick_phase_seconds_total",
	"earshot_tick_phase_max_seconds",
	"earshot_tick_max_seconds",
	"earshot_state_lock_wait_seconds_total",
	"earshot_state_lock_waits_slow_total",
	"earshot_engine_work_total",
	"earshot_degradation_level_ticks_total",
	"earshot_packets_in_total",
	"earshot_packets_out_total",
	"earshot_bytes_in_total",
	"earshot_bytes_out_total",
	"earshot_packets_dropped_total",
	"earshot_handshakes_total",
	"earshot_handshake_failures_total",
	"earshot_admissions_refused_total",
	"earshot_plans",
	"earshot_encodes_per_tick",
	"earshot_degradation_level",
	"earshot_load_steps_total",
	"earshot_load_estimate_seconds",
	"earshot_uplink_frames_recovered_total",
	"earshot_downlink_budget_lowered_total",
	"earshot_downlink_budget_reduced",
	"earshot_bundle_max_bytes",
	"earshot_reloads_total",
	"earshot_people_relocated_total",
	"earshot_requests_refused_total",
	"earshot_resets_sent_total",
	"earshot_sends_failed_total",
	"earshot_cluster_member",
	"earshot_cluster_etcd_reachable",
	"earshot_cluster_etcd_outages_total",
	"earshot_cluster_floors_hosted",
	"earshot_cluster_floors_changed_total",
	"earshot_cluster_joins_waiting_total",
	"earshot_cluster_etcd_writes_total",
	"earshot_redirects_total",
	"earshot_stage_relay_frames_total",
	"earshot_stage_relay_dropped_total",
	"earshot_stage_relay_links",
	"earshot_stage_relay_voices",
	NULL,
};

void es_metrics_observe_tick(struct es_metrics_snapshot *s, double seconds)
{
	unsigned b = 0;
	while (b < ES_TICK_BUCKETS && seconds > es_tick_buckets[b])
		b++;
	s->tick_bucket[b]++;
	s->tick_seconds_sum += seconds;
	s->ticks_total++;
}

struct out {
	char *buf;
	size_t size, len;
};

__attribute__((format(printf, 2, 3)))
static void out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	size_t room = o->len < o->size ? o->size - o->len : 0;
	va_start(ap, fmt);
	int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

static void head(struct out *o, const char *name, const char *type, const char *help)
{
	out_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(struct out *o, const char *name, const char *type, const char *help, uint64_t v)
{
	head(o, name, type, help);
	out_printf(o, "%s %llu\n", name, (unsigned long long)v);
}

static void labelled(struct out *o, const char *name, const char *type, const char *help, const char *label,
	const char *const *values, const uint64_t *v, unsigned n)
{
	head(o, name, type, help);
	for (unsigned i = 0; i < n; i++)
		out_printf(o, "%s{%s=\"%s\"} %llu\n", name, label, values[i], (unsigned long long)v[i]);
}

size_t es_metrics_format(const struct es_metrics_snapshot *s, char *buf, size_t size)
{
	struct out o = { buf, size, 0 };
	if (size > 0)
		buf[0] = '\0';

	one(&o, "earshot_people_connected", "gauge", "People with an authenticated session.", s->people_connected);
	one(&o, "earshot_people_talking", "gauge", "People whose voice reached the mixer in the last tick.", s->people_talking);
	one(&o, "earshot_people_muted", "gauge", "Connected people who are muted.", s->people_muted);
	one(&o, "earshot_people_enrolled", "gauge", "People enrolled (keys on the allowlist), connected or not.",
	    s->people_enrolled);
	one(&o, "earshot_invites_pending", "gauge",
	    "Invites made and not yet used (an expired one counts until the next invite or reload).",
	    s->invites_pending);
	head(&o, "earshot_build_info", "gauge", "Always 1; the labels say which earshotd and wire protocol this is.");
	out_printf(&o, "earshot_build_info{version=\"%s\",protocol=\"%d\"} 1\n", EARSHOT_VERSION, ES_PROTO_VERSION);

	one(&o, "earshot_ticks_total", "counter", "Mixer ticks run (one per 20 ms).", s->ticks_total);
	one(&o, "earshot_ticks_late_total", "counter", "Ticks that started or finished after their deadline.", s->ticks_late_total);

	head(&o, "earshot_tick_duration_seconds", "histogram", "Work time of one tick.");
	uint64_t cum = 0;
	for (unsigned b = 0; b < ES_TICK_BUCKETS; b++) {
		cum += s->tick_bucket[b];
		out_printf(&o, "earshot_tick_duration_seconds_bucket{le=\"%g\"} %llu\n", es_tick_buckets[b], (unsigned long long)cum);
	}
	cum += s->tick_bucket[ES_TICK_BUCKETS];
	out_printf(&o, "earshot_tick_duration_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
	out_printf(&o, "earshot_tick_duration_seconds_sum %.9g\n", s->tick_seconds_sum);
	out_printf(&o, "earshot_tick_duration_seconds_count %llu\n", (unsigned long long)cum);

	head(&o, "earshot_tick_phase_seconds_total", "counter",
		"Tick thread time by phase (late: how long after its deadline each tick started).");
	for (unsigned i = 0; i < ES_TICK_PHASES; i++)
		out_printf(&o, "earshot_tick_phase_seconds_total{phase=\"%s\"} %.9g\n", es_tick_phase_names[i],
			s->tick_phase_seconds[i]);
	head(&o, "earshot_late_tick_phase_seconds_total", "counter",
		"Tick thread time by phase, in the ticks that ended after their deadline only.");
	for (unsigned i = 0; i < ES_TICK_PHASES; i++)
		out_printf(&o, "earshot_late_tick_phase_seconds_total{phase=\"%s\"} %.9g\n", es_tick_phase_names[i],
			s->late_tick_phase_seconds[i]);
	head(&o, "earshot_tick_phase_max_seconds", "gauge", "The most one tick spent in each phase in the last 10-20 s.");
	for (unsigned i = 0; i < ES_TICK_PHASES; i++)
		out_printf(&o, "earshot_tick_phase_max_seconds{phase=\"%s\"} %.9g\n", es_tick_phase_names[i],
			s->tick_phase_max_seconds[i]);
	head(&o, "earshot_tick_max_seconds", "gauge", "The longest tick's work in the last 10-20 s.");
	out_printf(&o, "earshot_tick_max_seconds %.9g\n", s->tick_max_seconds);
	head(&o, "earshot_state_lock_wait_seconds_total", "counter",
		"Time the tick thread waited for the state lock (held while the saver copies the state).");
	out_printf(&o, "earshot_state_lock_wait_seconds_total %.9g\n", s->state_lock_wait_seconds);
	one(&o, "earshot_state_lock_waits_slow_total", "counter", "Waits for the state lock over 1 ms.",
		s->state_lock_waits_slow);
	static const char *const work_names[8] = {"decodes", "encodes", "warmups", "streams_personal",
						  "streams_shared", "listeners_mix", "forwarded", "over_budget"};
	labelled(&o, "earshot_engine_work_total", "counter", "The mixer's work summed over ticks, by kind.", "kind",
		work_names, s->engine_work_total, 8);
	static const char *const level_names[4] = {"0", "1", "2", "3"};
	labelled(&o, "earshot_degradation_level_ticks_total", "counter", "Ticks run at each load shedding level.",
		"level", level_names, s->level_ticks_total, 4);

	one(&o, "earshot_packets_in_total", "counter", "UDP packets received.", s->packets_in_total);
	one(&o, "earshot_packets_out_total", "counter", "UDP packets sent.", s->packets_out_total);
	one(&o, "earshot_bytes_in_total", "counter", "Bytes received.", s->bytes_in_total);
	one(&o, "earshot_bytes_out_total", "counter", "Bytes sent.", s->bytes_out_total);
	labelled(&o, "earshot_packets_dropped_total", "counter", "Packets dropped, by reason.", "reason",
		drop_names, s->packets_dropped_total, ES_DROP__COUNT);

	one(&o, "earshot_handshakes_total", "counter", "Handshakes completed.", s->handshakes_total);
	labelled(&o, "earshot_handshake_failures_total", "counter", "Handshakes refused, by reason.", "reason",
		hs_fail_names, s->handshake_failures_total, ES_HS_FAIL__COUNT);
	one(&o, "earshot_admissions_refused_total", "counter", "Joins answered \"busy, retry later\".",
		s->admissions_refused_total);

	labelled(&o, "earshot_plans", "gauge",
		"Listeners by plan in the last tick: silent (nothing sent), forward (one voice's packet), mix (encoded).",
		"kind", plan_names, s->plans, ES_PLAN__COUNT);
	one(&o, "earshot_encodes_per_tick", "gauge", "Opus encodes in the last tick.", s->encodes_per_tick);
	one(&o, "earshot_degradation_level", "gauge",
		"Load shedding level: 0 full quality, 1 mixes at complexity 2, 2 mixes at 16 kHz, 3 mixes at 8 kHz and at most 4 voices each.",
		s->degradation_level);
	static const char *const step_names[3] = {"estimate", "measured", "calm"};
	labelled(&o, "earshot_load_steps_total", "counter",
		"Load level changes: up because the plan's estimate did not fit, up because measured ticks did not keep up, down after calm.",
		"cause", step_names, s->load_steps_total, 3);
	static const char *const recovered_names[2] = {"fec", "concealed"};
	labelled(&o, "earshot_uplink_frames_recovered_total", "counter",
		"Speakers' frames lost on the way here, rebuilt from the next frame's in-band FEC or concealed.", "how",
		recovered_names, s->uplink_recovered_total, 2);
	head(&o, "earshot_load_estimate_seconds", "gauge", "The last tick's plan as the load guard priced it.");
	out_printf(&o, "earshot_load_estimate_seconds %.9g\n", s->load_estimate_seconds);
	one(&o, "earshot_downlink_budget_lowered_total", "counter", "Downlink loss reports that lowered a listener's budget.",
		s->downlink_budget_lowered_total);
	one(&o, "earshot_downlink_budget_reduced", "gauge", "Listeners whose budget in force is below what they declared.",
		s->downlink_budget_reduced);
	one(&o, "earshot_bundle_max_bytes", "gauge", "The largest bundle of the last tick, bytes on the link.",
		s->bundle_max_bytes);
	static const char *const reload_results[2] = {"ok", "failed"};
	labelled(&o, "earshot_reloads_total", "counter",
		"SIGHUP reloads; failed: the config, the floor plan or the enrolments did not load and were kept.",
		"result", reload_results, s->reloads_total, 2);
	one(&o, "earshot_people_relocated_total", "counter",
		"People moved because a reloaded floor plan took their place.", s->people_relocated_total);
	static const char *const request_names[ES_REQUEST_KINDS] = {"move", "state", "door", "knock", "whisper",
								    "volume", "floor_get"};
	labelled(&o, "earshot_requests_refused_total", "counter",
		"Members' requests refused: over their per-session budget, or the floor plan asked for again.", "kind",
		request_names, s->requests_refused_total, ES_REQUEST_KINDS);
	one(&o, "earshot_resets_sent_total", "counter",
		"Resets sent to addresses that talk to a session this daemon does not have.", s->resets_sent_total);
	one(&o, "earshot_sends_failed_total", "counter",
		"Messages and audio bundles that could not be sealed or queued to a peer (dropped, the peer keeps its session).",
		s->sends_failed_total);
	one(&o, "earshot_cluster_member", "gauge", "1: this daemon is one of a company's ([cluster] etcd), 0: on its own.",
		s->cluster_member);
	one(&o, "earshot_cluster_etcd_reachable", "gauge",
		"A company's daemon: etcd answered its last call (0: floors keep running, placements wait).",
		s->cluster_etcd_reachable);
	one(&o, "earshot_cluster_etcd_outages_total", "counter", "Times etcd stopped answering this daemon.",
		s->cluster_etcd_outages_total);
	one(&o, "earshot_cluster_floors_hosted", "gauge", "The company's floors this daemon hosts now.",
		s->cluster_floors_hosted);
	static const char *const floor_changes[2] = {"gained", "lost"};
	labelled(&o, "earshot_cluster_floors_changed_total", "counter",
		"Floors this daemon began or stopped hosting (start, failover, balance, drain).", "change", floor_changes,
		s->cluster_floors_changed_total, 2);
	one(&o, "earshot_cluster_joins_waiting_total", "counter",
		"Joins told to retry in a moment: their floor had no owner yet, or their invite was being checked in etcd.",
		s->cluster_joins_waiting_total);
	one(&o, "earshot_cluster_etcd_writes_total", "counter", "Writes this daemon made to etcd.",
		s->cluster_etcd_writes_total);
	one(&o, "earshot_redirects_total", "counter",
		"People sent to another daemon of the company (ES_MSG_REDIRECT: their floor is there, or an admin sent them).",
		s->redirects_total);
	static const char *const relay_dirs[2] = {"out", "in"};
	labelled(&o, "earshot_stage_relay_frames_total", "counter",
		"Stage speakers' frames relayed to the company's other daemons (one per daemon sent to), and taken in from them.",
		"direction", relay_dirs, s->stage_relay_frames_total, 2);
	static const char *const relay_drops[6] = {"auth", "seal", "malformed", "unknown", "timeout", "no_slot"};
	labelled(&o, "earshot_stage_relay_dropped_total", "counter",
		"Stage relay input refused: a handshake not from the company key, a packet that did not open, did not parse or "
		"of an unknown type, a link not authenticated in time, a voice with no slot or no floor here.",
		"reason", relay_drops, s->stage_relay_dropped_total, 6);
	one(&o, "earshot_stage_relay_links", "gauge", "Stage relay links up to the company's other daemons.",
		s->stage_relay_links);
	one(&o, "earshot_stage_relay_voices", "gauge", "Remote stage voices heard here now.", s->stage_relay_voices);
	return o.len;
}

/* ---- server -------------------------------------------------------------- */

struct es_metrics {
	struct MHD_Daemon *mhd;
	uint16_t port;
	pthread_mutex_t lock;
	struct es_metrics_snapshot snap; /* under lock */
};

void es_metrics_publish(struct es_metrics *m, const struct es_metrics_snapshot *s)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	memcpy(&m->snap, s, sizeof(*s));
	pthread_mutex_unlock(&m->lock);
}

static enum MHD_Result queue_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	enum MHD_Result r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	struct es_metrics *m = cls;
	struct es_metrics_snapshot snap;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return queue_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
	if (*upload_data_size != 0)
		return MHD_NO;
	if (strcmp(url, "/") == 0)
		return queue_text(conn, MHD_HTTP_OK, "earshotd: metrics at /metrics\n");
	if (strcmp(url, "/metrics") != 0)
		return queue_text(conn, MHD_HTTP_NOT_FOUND, "not found; metrics at /metrics\n");

	pthread_mutex_lock(&m->lock);
	memcpy(&snap, &m->snap, sizeof(snap));
	pthread_mutex_unlock(&m->lock);

	size_t need = es_metrics_format(&snap, NULL, 0);
	char *text = malloc(need + 1);
	if (!text)
		return queue_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
	size_t len = es_metrics_format(&snap, text, need + 1);
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
	enum MHD_Result r = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return r;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];
	vsnprintf(line, sizeof(line), fmt, ap);
	es_log_warn("metrics: %s", line);
}

struct es_metrics *es_metrics_start(const struct es_addr *addr)
{
	struct es_metrics *m;
	int e;

	if (!addr || addr->salen == 0) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	e = pthread_mutex_init(&m->lock, NULL);
	if (e) {
		errno = e;
		goto err_free;
	}

	struct sockaddr_storage sa = addr->sa;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	if (sa.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->mhd = MHD_start_daemon(flags, addr->port, NULL, NULL, handle, m,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)8,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)5,
		MHD_OPTION_END);
	if (!m->mhd) {
		/* MHD does not say why; the usual reason is the port */
		e = errno ? errno : EADDRINUSE;
		es_log_error("metrics: cannot listen on %s", addr->text);
		goto err_mutex;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_BIND_PORT);
	m->port = info ? info->port : addr->port;
	return m;

err_mutex:
	pthread_mutex_destroy(&m->lock);
	errno = e;
err_free:
	e = errno;
	free(m);
	errno = e;
	return NULL;
}

void es_metrics_stop(struct es_metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->mhd);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

uint16_t es_metrics_port(const struct es_metrics *m)
{
	return m->port;
}
