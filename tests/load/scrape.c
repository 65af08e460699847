/* SPDX-License-Identifier: MIT */
#include <netinet/in.h>
#include <sys/socket.h>

#include "load.h"

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

static struct {
	char host[64];
	int port;
	struct scrape before, after;
	double enc_sum, lvl_sum, enc_max, lvl_max; /* gauges sampled between the scrapes */
	int samples;
} met;

int metrics_parse_addr(const char *a)
{
	const char *colon = strrchr(a, ':');
	if (!colon || (size_t)(colon - a) >= sizeof(met.host))
		return -EINVAL;
	memcpy(met.host, a, (size_t)(colon - a));
	met.host[colon - a] = 0;
	met.port = atoi(colon + 1);
	return met.port > 0 && met.port < 65536 ? 0 : -EINVAL;
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
	if (!met.port)
		return;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return;
	struct timeval tv = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)met.port)};
	size_t len = 0;
	if (inet_pton(AF_INET, met.host, &sa.sin_addr) == 1 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
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
void metrics_sample(uint64_t tick)
{
	if (!met.port || tick % 250 != 0)
		return;
	struct scrape sc;
	scrape(&sc);
	if (!sc.ok)
		return;
	met.samples++;
	met.enc_sum += sc.encodes;
	met.lvl_sum += sc.level;
	met.enc_max = sc.encodes > met.enc_max ? sc.encodes : met.enc_max;
	met.lvl_max = sc.level > met.lvl_max ? sc.level : met.lvl_max;
}

/* Upper bound (ms) of the histogram bucket holding quantile p of the ticks between the scrapes. */
static double metrics_quantile(double p)
{
	if (met.before.nb != met.after.nb || met.after.nb == 0)
		return -1;
	double total = met.after.cum[met.after.nb - 1] - met.before.cum[met.before.nb - 1];
	if (total <= 0)
		return -1;
	for (int b = 0; b < met.after.nb; b++)
		if (met.after.cum[b] - met.before.cum[b] >= p * total)
			return isinf(met.after.le[b]) ? 1e9 : met.after.le[b] * 1e3;
	return -1;
}

/* ,"daemon_...": the daemon's figures for the JSON (nothing without --metrics). */
void metrics_report(void)
{
	if (!met.before.ok || !met.after.ok)
		return;
	double ticks = met.after.ticks - met.before.ticks, late = met.after.late - met.before.late;
	double mean_ms = ticks > 0 ? (met.after.sum - met.before.sum) / ticks * 1e3 : 0;
	double p50 = metrics_quantile(0.5), p99 = metrics_quantile(0.99);
	printf("daemon metrics: %.0f ticks, %.0f late (%.1f %%); tick work mean %.2f ms, p50 <= %g ms, p99 <= %g ms; "
	       "encodes/tick mean %.0f max %.0f; load level mean %.2f max %.0f; handshakes %.0f, busy %.0f\n",
	       ticks, late, ticks > 0 ? 100 * late / ticks : 0, mean_ms, p50, p99,
	       met.samples ? met.enc_sum / met.samples : met.after.encodes, met.enc_max,
	       met.samples ? met.lvl_sum / met.samples : met.after.level, met.lvl_max, met.after.handshakes - met.before.handshakes,
	       met.after.busy - met.before.busy);
	printf("generator: %.1f %% of a core\n", 100 * (met.after.self_cpu - met.before.self_cpu) / (met.after.at - met.before.at));
	for (int i = 0; i < met.after.nphase && i < met.before.nphase; i++)
		printf("  tick phase %-10s %.3f ms per tick\n", met.after.phase_name[i],
		       ticks > 0 ? (met.after.phase[i] - met.before.phase[i]) / ticks * 1e3 : 0);
}

void metrics_json(void)
{
	if (!met.before.ok || !met.after.ok)
		return;
	double ticks = met.after.ticks - met.before.ticks;
	printf(",\"daemon_ticks\":%.0f,\"daemon_ticks_late\":%.0f,\"daemon_tick_ms_mean\":%.3f,\"daemon_tick_ms_p50\":%g,"
	       "\"daemon_tick_ms_p99\":%g,\"daemon_encodes_per_tick\":%.1f,\"daemon_encodes_max\":%.0f,"
	       "\"daemon_load_level\":%.2f,\"daemon_load_level_max\":%.0f,\"daemon_handshakes\":%.0f",
	       ticks, met.after.late - met.before.late, ticks > 0 ? (met.after.sum - met.before.sum) / ticks * 1e3 : 0, metrics_quantile(0.5),
	       metrics_quantile(0.99), met.samples ? met.enc_sum / met.samples : met.after.encodes, met.enc_max,
	       met.samples ? met.lvl_sum / met.samples : met.after.level, met.lvl_max, met.after.handshakes - met.before.handshakes);
	printf(",\"load_cpu_core\":%.3f", (met.after.self_cpu - met.before.self_cpu) / (met.after.at - met.before.at));
	for (int i = 0; i < met.after.nphase && i < met.before.nphase; i++)
		printf(",\"daemon_phase_ms_%s\":%.3f", met.after.phase_name[i],
		       ticks > 0 ? (met.after.phase[i] - met.before.phase[i]) / ticks * 1e3 : 0);
}

void metrics_mark_start(void)
{
	scrape(&met.before);
}

void metrics_restart(void)
{
	scrape(&met.before);
	met.samples = 0;
	met.enc_sum = met.lvl_sum = met.enc_max = met.lvl_max = 0;
}

void metrics_mark_end(void)
{
	scrape(&met.after);
}
