/* SPDX-License-Identifier: MIT */
/*
 * The admin socket (see admin.h).  The server's loop asks us for the fds
 * to wait on before each wait and hands them back when one reports; all of
 * it happens on the tick thread, so commands touch the server and the
 * state directly, without locks of their own.
 *
 * Bounding the work: each tick allows ACCEPTS_PER_TICK accepts and
 * CMDS_PER_TICK commands.  When the budget is spent, our fds are listed
 * with no events, so the loop does not wake for them until the next tick;
 * a connection that still holds complete lines asks for POLLOUT (always
 * ready) to be called back as soon as the budget allows.  A connection
 * with a reply still going out is not read from: a client that does not
 * read its replies stalls itself, nobody else.
 */
#include "admin.h"
#include "company.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "clock.h"
#include "earshot-crypto.h"
#include "earshot-mixer.h"
#include "earshot-proto.h"
#include "log.h"
#include "places.h"
#include "server-private.h" /* srv_redirect */
#include "server.h"
#include "service.h"
#include "state.h"

#define CONNS 4             /* admin connections at once */
#define ACCEPTS_PER_TICK 4
#define CMDS_PER_TICK 4
#define IDLE_MS 10000       /* a connection that says nothing for this long is closed */
#define OUT_CAP (128 * 1024) /* reply bytes per connection; longer lists are cut */
#define RESERVE 256          /* kept free for the final line */
#define MAX_ARGS 8

struct conn {
	int fd; /* -1: free */
	char in[ES_ADMIN_LINE_MAX + 1];
	size_t in_len;
	bool discarding; /* inside an over-long line: drop up to its newline */
	bool eof;        /* the client finished sending */
	char *out;       /* OUT_CAP bytes, allocated at start */
	size_t out_len, out_off;
	int64_t active_ms;
};

struct es_admin {
	struct es_admin_config cfg;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int lfd;
	struct conn conn[CONNS];
	uint64_t tick;
	unsigned cmds_left, accepts_left;
};

/* A reply being written: lines, then one final line that always fits. */
struct reply {
	char *buf;
	size_t cap, len;
	bool cut;
};

static void rp_vadd(struct reply *rp, bool final, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
static void rp_vadd(struct reply *rp, bool final, const char *fmt, va_list ap)
{
	size_t room = rp->cap - rp->len;
	if (!final)
		room = room > RESERVE ? room - RESERVE : 0;
	if (rp->cut && !final)
		return;
	if (room < 2) {
		rp->cut = true;
		return;
	}
	/*
	 * Every reply line is escaped as it is written: names, room names and
	 * the admin's own arguments echoed back reach a terminal, and none of
	 * them may carry a control sequence (an old enrolment may predate the
	 * name rule; see es_text_escape).
	 */
	char raw[1024], esc[sizeof(raw) * 6];
	int r = vsnprintf(raw, sizeof(raw), fmt, ap);
	size_t rl = r < 0 ? 0 : (size_t)r < sizeof(raw) ? (size_t)r : sizeof(raw) - 1;
	size_t n;
	if (final) {
		/* a final line is cut (at a character), never lost */
		n = es_text_escape(raw, rl, rp->buf + rp->len, room - 1);
	} else {
		n = es_text_escape(raw, rl, esc, sizeof(esc));
		if (n >= room - 1 || (size_t)r >= sizeof(raw)) {
			rp->buf[rp->len] = 0;
			rp->cut = true;
			return;
		}
		memcpy(rp->buf + rp->len, esc, n);
	}
	rp->len += n;
	rp->buf[rp->len++] = '\n';
	rp->buf[rp->len] = 0;
}

static void rp_line(struct reply *rp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rp_line(struct reply *rp, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rp_vadd(rp, false, fmt, ap);
	va_end(ap);
}

/* The final line: "ok[: ...]" or "error: ...". */
static void rp_final(struct reply *rp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rp_final(struct reply *rp, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rp_vadd(rp, true, fmt, ap);
	va_end(ap);
}

/* ---- commands ------------------------------------------------------------ */

/* Split on blanks; "double quotes" group words (names with spaces). */
static int split(char *line, char **argv, int max)
{
	int n = 0;
	char *p = line;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			return n;
		if (n == max)
			return -E2BIG;
		if (*p == '"') {
			char *end = strchr(p + 1, '"');
			if (!end)
				return -EINVAL;
			*end = 0;
			argv[n++] = p + 1;
			p = end + 1;
			if (*p && *p != ' ' && *p != '\t')
				return -EINVAL;
		} else {
			argv[n++] = p;
			while (*p && *p != ' ' && *p != '\t')
				p++;
		}
		if (*p)
			*p++ = 0;
	}
}

static void flags_text(uint8_t f, char *out, size_t cap)
{
	snprintf(out, cap, "%s%s%s%s%s", f & ES_PF_ADMIN_MUTED ? "admin-muted," : f & ES_PF_MUTED ? "muted," : "",
		 f & ES_PF_FOCUS ? "focus," : "", f & ES_PF_TALKING ? "talking," : "", f & ES_PF_THIN ? "thin," : "",
		 f ? "" : "-");
	size_t n = strlen(out);
	if (n > 1 && out[n - 1] == ',')
		out[n - 1] = 0;
}

static void cmd_people(struct es_admin *a, struct reply *rp)
{
	unsigned n = 0, max = es_server_max_people(a->cfg.server);
	for (unsigned i = 0; i < max; i++) {
		struct es_server_person p;
		if (!es_server_person(a->cfg.server, i, &p))
			continue;
		char f[64];
		flags_text(p.flags, f, sizeof(f));
		rp_line(rp, "#%u %s at %.2f,%.2f facing %u flags %s", p.id, p.name, p.pos.x_cm / 100.0,
			p.pos.y_cm / 100.0, p.pos.facing / 10u, f);
		n++;
	}
	if (rp->cut)
		rp_final(rp, "ok: %u connected (list cut short)", n);
	else
		rp_final(rp, "ok: %u connected", n);
}

static void utc_text(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (t <= 0 || !gmtime_r(&tt, &tm) || strftime(out, cap, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		snprintf(out, cap, "never");
}

struct enrolled_ctx {
	struct reply *rp;
	size_t invites;
};

static void enrolled_one(void *ud, const struct es_person *p, const struct es_pending_invite *v)
{
	struct enrolled_ctx *c = ud;
	char when[40];
	if (p) {
		char fp[ES_FINGERPRINT_LEN];
		es_key_fingerprint(p->key, fp);
		utc_text(p->last_seen, when, sizeof(when));
		char at[48] = "", desk[48] = "";
		if (p->has_place)
			snprintf(at, sizeof(at), " at %.2f,%.2f", (double)p->x, (double)p->y);
		if (p->desk[0])
			snprintf(desk, sizeof(desk), " desk %s", p->desk);
		rp_line(c->rp, "%s %s last seen %s%s%s%s", fp, p->name, when, at, desk, p->admin_muted ? " admin-muted" : "");
	} else {
		utc_text(v->expires, when, sizeof(when));
		rp_line(c->rp, "invite %s expires %s", v->name, when);
		c->invites++;
	}
}

static void cmd_enrolled(struct es_admin *a, struct reply *rp)
{
	struct enrolled_ctx c = {rp, 0};
	size_t n = es_service_enrolled(a->cfg.service, enrolled_one, &c);
	rp_final(rp, "ok: %zu enrolled, %zu invites pending%s", n, c.invites, rp->cut ? " (list cut short)" : "");
}

/* whoami: which daemon answers (earshotctl prints it with every command). */
static void cmd_whoami(struct es_admin *a, struct reply *rp)
{
	char fp[ES_FINGERPRINT_LEN], m[256];
	es_key_fingerprint(es_service_server_pub(a->cfg.service), fp);
	rp_final(rp, "ok: earshotd on %s, key %s, state %s, metrics %s", a->cfg.listen, fp,
		 es_service_state_dir(a->cfg.service), es_service_metrics_state(a->cfg.service, m, sizeof(m)));
}

static void cmd_fingerprint(struct es_admin *a, struct reply *rp)
{
	char fp[ES_FINGERPRINT_LEN];
	es_key_fingerprint(es_service_server_pub(a->cfg.service), fp);
	rp_line(rp, "%s", fp);
	rp_final(rp, "ok");
}

/* "HOST:PORT" (the last colon splits, so bare IPv6 works) into inv. */
static int parse_hostport(const char *s, struct es_invite *inv)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s || (size_t)(colon - s) > ES_INVITE_HOST_MAX)
		return -EINVAL;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (colon[1] == 0 || *end || port <= 0 || port > 65535)
		return -EINVAL;
	memcpy(inv->host, s, (size_t)(colon - s));
	inv->host[colon - s] = 0;
	inv->port = (uint16_t)port;
	return 0;
}

/*
 * HOST:PORT[,HOST:PORT...] into the invite: the first as its daemon, the
 * rest as the company's others (es2- tokens).  0, -EINVAL, -E2BIG.
 */
static int parse_addresses(const char *list, struct es_invite *inv)
{
	char one[ES_INVITE_HOST_MAX + 8];
	unsigned n = 0;
	for (const char *p = list;;) {
		size_t len = strcspn(p, ",");
		if (n == ES_INVITE_ADDRS_MAX)
			return -E2BIG;
		if (len == 0 || len >= sizeof(one))
			return -EINVAL;
		memcpy(one, p, len);
		one[len] = 0;
		struct es_invite tmp;
		if (parse_hostport(one, &tmp) < 0)
			return -EINVAL;
		if (n == 0) {
			memcpy(inv->host, tmp.host, sizeof(inv->host));
			inv->port = tmp.port;
		} else {
			memcpy(inv->more[n - 1].host, tmp.host, sizeof(inv->more[n - 1].host));
			inv->more[n - 1].port = tmp.port;
			inv->nmore = (uint8_t)n;
		}
		n++;
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

static void cmd_invite(struct es_admin *a, struct reply *rp, int argc, char **argv)
{
	if (argc < 2 || argc > 5) {
		rp_final(rp, "error: usage: invite NAME [--address] [HOST:PORT[,HOST:PORT...]] [TTL_HOURS]");
		return;
	}
	const char *name = argv[1], *addr = a->cfg.listen;
	/* a company: the invite names its daemons alive now, this one first */
	char company_addrs[8 * 96];
	struct es_company *co = es_service_company(a->cfg.service);
	if (co && es_company_address_list(co, company_addrs, sizeof(company_addrs)) > 0)
		addr = company_addrs;
	long hours = 0;
	for (int i = 2; i < argc; i++) {
		char *end;
		if (strcmp(argv[i], "--address") == 0 && i + 1 < argc) {
			addr = argv[++i];
			continue;
		}
		if (strchr(argv[i], ':')) {
			addr = argv[i];
			continue;
		}
		hours = strtol(argv[i], &end, 10);
		if (*end || hours < 1 || hours > 24 * 366) {
			rp_final(rp, "error: '%s' is neither HOST:PORT nor a lifetime in hours (1..8784)", argv[i]);
			return;
		}
	}
	struct es_invite inv;
	memset(&inv, 0, sizeof(inv));
	int pr = parse_addresses(addr, &inv);
	if (pr == -E2BIG) {
		rp_final(rp, "error: an invite names at most %d daemons", ES_INVITE_ADDRS_MAX);
		return;
	}
	if (pr < 0) {
		char shown[128];
		es_text_escape(addr, strlen(addr), shown, sizeof(shown));
		rp_final(rp, "error: '%s' is not HOST:PORT (or several, separated by commas)", shown);
		return;
	}
	if ((addr == a->cfg.listen || addr == company_addrs) && (strcmp(inv.host, "0.0.0.0") == 0 || strcmp(inv.host, "::") == 0)) {
		rp_final(rp, "error: earshotd listens on %s (every address): say which address people reach it at: "
			     "invite NAME HOST:PORT", addr);
		return;
	}
	if (strlen(name) == 0 || strlen(name) > ES_INVITE_NAME_MAX) {
		rp_final(rp, "error: a name is 1 to %d bytes", ES_INVITE_NAME_MAX);
		return;
	}
	snprintf(inv.name, sizeof(inv.name), "%s", name);
	memcpy(inv.server_pub, es_service_server_pub(a->cfg.service), sizeof(inv.server_pub));
	randombytes_buf(inv.secret, sizeof(inv.secret));
	char token[ES_INVITE_TEXT_MAX];
	int r = es_invite_encode(&inv, token, sizeof(token));
	if (r < 0) {
		es_invite_clear(&inv);
		rp_final(rp, "error: cannot make an invite for '%s' at %s: names are printable text, hosts letters, "
			     "digits, '.', '-' and ':'", name, addr);
		return;
	}
	r = es_service_invite_add(a->cfg.service, name, hours * 3600, inv.secret);
	es_invite_clear(&inv);
	switch (r) {
	case 0:
		break;
	case -EEXIST:
		rp_final(rp, "error: someone called '%s' is already enrolled ('remove \"%s\" --forget' first, or "
			     "choose another name)", name, name);
		goto out;
	case -E2BIG:
		rp_final(rp, "error: too many invites are pending; wait for some to be used or expire");
		goto out;
	default:
		rp_final(rp, "error: '%s' cannot be a name (control characters?)", name);
		goto out;
	}
	rp_line(rp, "%s", token);
	if (hours)
		rp_final(rp, "ok: a one-time invite for %s to %s, valid %ld h; they run: earshot join CODE", name, addr,
			 hours);
	else
		rp_final(rp, "ok: a one-time invite for %s to %s; they run: earshot join CODE", name, addr);
out:
	sodium_memzero(token, sizeof(token));
}

static int find(struct es_admin *a, struct reply *rp, const char *name)
{
	int id = es_server_find(a->cfg.server, name);
	if (id < 0)
		rp_final(rp, "error: nobody called '%s' is connected", name);
	return id;
}

/*
 * An admin mute is kept in the state with the person's key, so it holds
 * across reconnects and daemon restarts.  Someone enrolled but not
 * connected can be muted or unmuted too: it applies when they join.
 */
static void cmd_mute(struct es_admin *a, struct reply *rp, int argc, char **argv, bool mute)
{
	if (argc != 2) {
		rp_final(rp, "error: usage: %s NAME", argv[0]);
		return;
	}
	int id = es_server_find(a->cfg.server, argv[1]);
	if (id < 0) {
		uint8_t key[32];
		int r = es_service_set_admin_muted(a->cfg.service, argv[1], key, mute);
		if (r == 0)
			r = es_server_mute_key(a->cfg.server, key, mute);
		if (r == -ENOSPC)
			rp_final(rp, "error: cannot %s %s: too many people are muted", argv[0], argv[1]);
		else if (r < 0)
			rp_final(rp, "error: nobody called '%s' is connected or enrolled", argv[1]);
		else
			rp_final(rp, "ok: %s (not connected) is %s from their next join", argv[1],
				 mute ? "muted" : "unmuted");
		return;
	}
	int r = es_server_admin_mute(a->cfg.server, (unsigned)id, mute);
	if (r < 0) {
		rp_final(rp, "error: cannot %s %s: %s", argv[0], argv[1],
			 r == -ENOSPC ? "too many people are muted" : strerror(-r));
		return;
	}
	struct es_server_person sp;
	if (es_server_person(a->cfg.server, (unsigned)id, &sp) == 1)
		(void)es_service_set_admin_muted(a->cfg.service, NULL, sp.key, mute); /* -ENOENT: not enrolled (open hooks) */
	if (mute)
		rp_final(rp, "ok: %s is muted until 'unmute %s'", argv[1], argv[1]);
	else
		rp_final(rp, "ok: %s may speak again", argv[1]);
}

static int parse_xy(const char *s, double *x, double *y)
{
	char *end;
	*x = strtod(s, &end);
	if (end == s || *end != ',')
		return -EINVAL;
	const char *ys = end + 1;
	*y = strtod(ys, &end);
	if (end == ys || *end || !isfinite(*x) || !isfinite(*y) || fabs(*x) > 1e6 || fabs(*y) > 1e6)
		return -EINVAL;
	return 0;
}

static void cmd_move(struct es_admin *a, struct reply *rp, int argc, char **argv)
{
	double x, y, deg = 0;
	if (argc < 3 || argc > 4 || parse_xy(argv[2], &x, &y) < 0) {
		rp_final(rp, "error: usage: move NAME X,Y [FACING_DEGREES] (metres, e.g. move bob 3.5,12)");
		return;
	}
	if (argc == 4) {
		char *end;
		deg = strtod(argv[3], &end);
		if (end == argv[3] || *end || !isfinite(deg)) {
			rp_final(rp, "error: facing '%s' is not a number of degrees", argv[3]);
			return;
		}
	}
	int id = find(a, rp, argv[1]);
	if (id < 0)
		return;
	struct es_server_person p;
	if (!es_server_person(a->cfg.server, (unsigned)id, &p)) {
		rp_final(rp, "error: nobody called '%s' is connected", argv[1]);
		return;
	}
	struct es_pos pos = {(int32_t)lround(x * 100.0), (int32_t)lround(y * 100.0), p.pos.facing};
	if (argc == 4)
		pos.facing = (uint16_t)((int)lround(fmod(fmod(deg, 360.0) + 360.0, 360.0) * 10.0) % 3600);
	enum es_place_verdict why;
	int r = es_server_admin_move(a->cfg.server, (unsigned)id, &pos, &why);
	if (r < 0 && why != ES_PLACE_OK)
		rp_final(rp, "error: cannot move %s to %.2f,%.2f: %s", argv[1], x, y, es_place_verdict_text(why));
	else if (r < 0)
		rp_final(rp, "error: cannot move %s there: %s", argv[1], strerror(-r));
	else
		rp_final(rp, "ok: %s moved to %.2f,%.2f", argv[1], pos.x_cm / 100.0, pos.y_cm / 100.0);
}

static void cmd_remove(struct es_admin *a, struct reply *rp, int argc, char **argv)
{
	bool forget = argc == 3 && strcmp(argv[2], "--forget") == 0;
	if (argc < 2 || argc > 3 || (argc == 3 && !forget)) {
		rp_final(rp, "error: usage: remove NAME [--forget]");
		return;
	}
	const char *name = argv[1];
	int id = es_server_find(a->cfg.server, name);
	if (id < 0 && !forget) {
		rp_final(rp, "error: nobody called '%s' is connected (add --forget to un-enrol them)", name);
		return;
	}
	if (id >= 0 && es_server_admin_remove(a->cfg.server, (unsigned)id, ES_BYE_REMOVED) < 0) {
		rp_final(rp, "error: cannot remove %s", name);
		return;
	}
	if (!forget) {
		rp_final(rp, "ok: %s removed (they may join again; --forget un-enrols them)", name);
		return;
	}
	/* after the removal, so the place they leave is not written back */
	int r = es_service_forget(a->cfg.service, name, NULL);
	if (r < 0 && id < 0)
		rp_final(rp, "error: nobody called '%s' is connected or enrolled", name);
	else if (r < 0)
		rp_final(rp, "ok: %s removed; no enrolment to forget", name);
	else
		rp_final(rp, "ok: %s %sun-enrolled: their key needs a new invite to join again", name,
			 id >= 0 ? "removed and " : "(not connected) ");
}

/*
 * redirect NAME HOST:PORT[,HOST:PORT...] [X,Y]: send someone to another
 * daemon of the company (the first address; the rest are the company's
 * others, for their client's list), to sit where they are (or at X,Y, in
 * metres).  Each address must be something a client can hold: 1..95
 * printable bytes, no space; at most 8.
 */
static void cmd_redirect(struct es_admin *a, struct reply *rp, int argc, char **argv)
{
	double x = 0, y = 0;
	if (argc < 3 || argc > 4 || (argc == 4 && parse_xy(argv[3], &x, &y) < 0)) {
		rp_final(rp, "error: usage: redirect NAME HOST:PORT[,HOST:PORT...] [X,Y]");
		return;
	}
	char list[ES_ADMIN_LINE_MAX + 1];
	snprintf(list, sizeof(list), "%s", argv[2]);
	const char *addrs[ES_REDIRECT_ADDRS_MAX];
	unsigned n = 0;
	for (char *p = list;;) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = 0;
		if (n == ES_REDIRECT_ADDRS_MAX) {
			rp_final(rp, "error: at most %d addresses", ES_REDIRECT_ADDRS_MAX);
			return;
		}
		if (!srv_redirect_addr_ok(p) || !strchr(p, ':')) {
			char shown[64];
			es_text_escape(p, strlen(p), shown, sizeof(shown));
			rp_final(rp, "error: '%s' is not HOST:PORT (1 to %d printable bytes, no spaces, with a port)", shown,
				 ES_REDIRECT_ADDR_MAX);
			return;
		}
		addrs[n++] = p;
		if (!comma)
			break;
		p = comma + 1;
	}
	int id = es_server_find(a->cfg.server, argv[1]);
	if (id < 0) {
		rp_final(rp, "error: nobody called '%s' is connected", argv[1]);
		return;
	}
	int r;
	if (argc == 4) {
		struct es_server_person p;
		if (!es_server_person(a->cfg.server, (unsigned)id, &p)) {
			rp_final(rp, "error: nobody called '%s' is connected", argv[1]);
			return;
		}
		struct es_pos pos = {(int32_t)lround(x * 100.0), (int32_t)lround(y * 100.0), p.pos.facing};
		r = srv_redirect_to(a->cfg.server, (unsigned)id, ES_REDIRECT_MOVED, &pos, addrs, n);
	} else
		r = srv_redirect(a->cfg.server, (unsigned)id, ES_REDIRECT_MOVED, addrs, n);
	if (r < 0)
		rp_final(rp, "error: cannot redirect %s: %s", argv[1], strerror(-r));
	else
		rp_final(rp, "ok: %s sent to %s", argv[1], addrs[0]);
}

/*
 * The floor as the server has it now (a SIGHUP may replace it), read only:
 * rooms and desks are looked up here, doors change only through the
 * server (es_server_room_set).  NULL: no plan.
 */
static const struct es_floor *floor_of(const struct es_admin *a)
{
	return a->cfg.server ? es_server_floor(a->cfg.server) : NULL;
}

static int find_room(struct es_admin *a, struct reply *rp, const char *name)
{
	if (!floor_of(a)) {
		rp_final(rp, "error: this daemon has no floor plan loaded, so there are no rooms or doors");
		return -ENOENT;
	}
	unsigned n = es_floor_room_count(floor_of(a));
	for (unsigned i = 0; i < n; i++) {
		const char *rn = es_floor_room_name(floor_of(a), i);
		if (rn && strcmp(rn, name) == 0)
			return (int)i;
	}
	char list[200] = "";
	size_t len = 0;
	for (unsigned i = 0; i < n && len < sizeof(list) - 40; i++) {
		const char *rn = es_floor_room_name(floor_of(a), i);
		int k = snprintf(list + len, sizeof(list) - len, "%s'%s'", i ? ", " : "", rn ? rn : "?");
		if (k > 0)
			len += (size_t)k;
	}
	rp_final(rp, "error: no room called '%s' on the floor (rooms: %s)", name, n ? list : "none");
	return -ENOENT;
}

static void cmd_room(struct es_admin *a, struct reply *rp, int argc, char **argv, bool open)
{
	if (argc != 2) {
		rp_final(rp, "error: usage: %s ROOM", argv[0]);
		return;
	}
	int room = find_room(a, rp, argv[1]);
	if (room < 0)
		return;
	int nd = es_floor_room_doors(floor_of(a), (unsigned)room, NULL);
	/* the server's one door path: everyone's map is told, and a close is a lock */
	int r = es_server_room_set(a->cfg.server, (unsigned)room, open);
	struct es_company *co = es_service_company(a->cfg.service);
	if (r >= 0 && co)
		es_company_lock(co, (unsigned)room, !open, "admin"); /* every daemon of the company locks it too */
	if (r == -ENODEV)
		rp_final(rp, "error: room '%s' has no doors", argv[1]);
	else if (r < 0)
		rp_final(rp, "error: cannot %s '%s': %s", open ? "open" : "close", argv[1], strerror(-r));
	else if (open)
		rp_final(rp, "ok: opened the %d door%s of '%s'", nd, nd == 1 ? "" : "s", argv[1]);
	else
		rp_final(rp, "ok: closed the %d door%s of '%s'; only an admin opens it again (open-room)", nd,
			 nd == 1 ? "" : "s", argv[1]);
}

/* desk NAME LABEL: give someone enrolled a desk of their own ("-": none). */
static void cmd_desk(struct es_admin *a, struct reply *rp, int argc, char **argv)
{
	if (argc != 3) {
		rp_final(rp, "error: usage: desk NAME DESK (a desk label such as A3-4, or - for none)");
		return;
	}
	const char *label = strcmp(argv[2], "-") == 0 ? "" : argv[2];
	char was[64], holder[ES_NAME_MAX + 1];
	int r = es_service_set_desk(a->cfg.service, argv[1], label, was, sizeof(was), holder, sizeof(holder));
	if (r == -ENOENT) {
		rp_final(rp, "error: the floor has no desk '%s' (labels as in 'desks', e.g. A1-1)", argv[2]);
		return;
	}
	if (r == -ESRCH) {
		rp_final(rp, "error: nobody called '%s' is enrolled", argv[1]);
		return;
	}
	if (r == -EADDRINUSE) {
		rp_final(rp, "error: desk %s is %s's own: give %s another first ('desk \"%s\" OTHER')", label, holder,
			 holder, holder);
		return;
	}
	if (r < 0) {
		rp_final(rp, "error: %s", strerror(-r));
		return;
	}
	if (!label[0]) {
		rp_final(rp, "ok: %s has no desk of their own now%s%s", argv[1], was[0] ? " (was " : "", was[0] ? was : "");
		return;
	}
	int sitter = es_server_desk_sitter(a->cfg.server, label), id = es_server_find(a->cfg.server, argv[1]);
	const char *note = "";
	if (id >= 0 && sitter != id) {
		/* they are here: take them to it now, if nobody sits there */
		float x, y;
		int d = es_floor_desk_find(floor_of(a), label);
		struct es_server_person p;
		enum es_place_verdict why;
		if (d >= 0 && es_floor_desk(floor_of(a), (unsigned)d, &x, &y, NULL) == 0 &&
		    es_server_person(a->cfg.server, (unsigned)id, &p) == 1 &&
		    es_server_admin_move(a->cfg.server, (unsigned)id,
					 &(struct es_pos){(int32_t)lrintf(x * 100.0f), (int32_t)lrintf(y * 100.0f), p.pos.facing},
					 &why) == 0)
			note = "; moved there now";
		else
			note = "; someone sits there now, so they stay where they are";
	}
	rp_final(rp, "ok: desk %s is %s's own%s%s%s%s", label, argv[1], was[0] ? " (was " : "", was[0] ? was : "",
		 was[0] ? ")" : "", note);
}

struct desks_ctx {
	struct es_admin *a;
	struct reply *rp;
	size_t n;
};

static void desks_one(void *ud, const struct es_person *p, const struct es_pending_invite *v)
{
	struct desks_ctx *c = ud;
	if (!p || !p->desk[0])
		return;
	(void)v;
	int id = es_server_find(c->a->cfg.server, p->name), sitter = es_server_desk_sitter(c->a->cfg.server, p->desk);
	char who[ES_NAME_MAX + 16] = "";
	struct es_server_person sp;
	if (sitter >= 0 && sitter != id && es_server_person(c->a->cfg.server, (unsigned)sitter, &sp) == 1)
		snprintf(who, sizeof(who), ", %s sits there", sp.name);
	rp_line(c->rp, "%s %s (%s%s)", p->desk, p->name, id < 0 ? "away" : sitter == id ? "at it" : "here, elsewhere",
		who);
	c->n++;
}

/* desks: who has which desk of their own, and whether they sit at it. */
static void cmd_desks(struct es_admin *a, struct reply *rp)
{
	struct desks_ctx c = {a, rp, 0};
	(void)es_service_enrolled(a->cfg.service, desks_one, &c);
	unsigned total = floor_of(a) ? es_floor_desk_count(floor_of(a)) : 0;
	rp_final(rp, "ok: %zu of %u desks are someone's own%s", c.n, total, rp->cut ? " (list cut short)" : "");
}

/* The load ladder as it stands: where it is, what that sheds, how it got there. */
static void cmd_load(struct es_admin *a, struct reply *rp)
{
	struct es_server_counters c;
	es_server_get_counters(a->cfg.server, &c);
	rp_line(rp, "level %u: %s", c.load_level, es_engine_level_name(c.load_level));
	for (unsigned l = 0; l <= ES_ENGINE_LOAD_MAX; l++)
		rp_line(rp, "  ticks at level %u (%s): %llu", l, es_engine_level_name(l), (unsigned long long)c.level_ticks[l]);
	rp_line(rp, "steps up on the plan's estimate %llu, up on measured ticks %llu, down after calm %llu",
		(unsigned long long)c.load_steps[ES_ENGINE_STEP_ESTIMATE],
		(unsigned long long)c.load_steps[ES_ENGINE_STEP_MEASURED], (unsigned long long)c.load_steps[ES_ENGINE_STEP_CALM]);
	rp_line(rp, "last tick: plan estimated at %u us, %u encodes, largest bundle %u B; late ticks %llu of %llu",
		c.load_estimate_us, c.encodes, c.bundle_max, (unsigned long long)c.ticks_late, (unsigned long long)c.ticks);
	rp_final(rp, "ok: %u listeners below the downlink budget they declared (loss), %llu loss reports lowered one",
		 c.budget_reduced, (unsigned long long)c.budget_lowered);
}

/* Every line of text (each ending in a newline) as a reply line; text is cut up. */
static void rp_text(struct reply *rp, char *text)
{
	for (char *line = text, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;
		*nl = 0;
		rp_line(rp, "%s", line);
	}
}

/* cluster: the company as this daemon sees it (docs/CLUSTER.md) */
static void cmd_cluster(struct es_admin *a, struct reply *rp)
{
	struct es_company *co = es_service_company(a->cfg.service);
	if (!co) {
		rp_final(rp, "error: this daemon runs on its own (no [cluster] etcd in its config)");
		return;
	}
	char text[8192];
	es_company_describe(co, a->cfg.server, text, sizeof(text));
	rp_text(rp, text);
	rp_final(rp, "ok");
}

/* drain [off]: hand this daemon's floors to the others (their people follow), or take floors again */
static void cmd_drain(struct es_admin *a, struct reply *rp, int argc, char **argv)
{
	struct es_company *co = es_service_company(a->cfg.service);
	if (!co) {
		rp_final(rp, "error: this daemon runs on its own (no [cluster] etcd in its config): nothing to drain to");
		return;
	}
	bool on = true;
	if (argc == 2 && strcmp(argv[1], "off") == 0)
		on = false;
	else if (argc != 1) {
		rp_final(rp, "error: usage: drain [off]");
		return;
	}
	char text[4096];
	int r = es_company_drain(co, on, text, sizeof(text));
	rp_text(rp, text);
	if (r == -ENOTCONN)
		rp_final(rp, "error: etcd is unreachable: the floors stay here until it answers");
	else if (r == -ENOENT)
		rp_final(rp, "error: no other daemon can take this daemon's floors");
	else if (r < 0)
		rp_final(rp, "error: %s", strerror(-r));
	else
		rp_final(rp, on ? "ok: draining; the floors' people are sent to their new daemons" : "ok");
}

static void cmd_help(struct reply *rp)
{
	rp_line(rp, "invite NAME [HOST:PORT,...] [TTL_H]  a one-time invite code (default address: the listen address;");
	rp_line(rp, "                                     a company's daemons: --address A,B,C, at most 8)");
	rp_line(rp, "people                               who is connected: id, name, place, flags");
	rp_line(rp, "enrolled                             enrolled keys and pending invites");
	rp_line(rp, "fingerprint                          the server key's fingerprint");
	rp_line(rp, "whoami                               which daemon this is: listen address, key, state, metrics");
	rp_line(rp, "mute NAME / unmute NAME              admin mute: their audio is dropped until unmuted");
	rp_line(rp, "move NAME X,Y [FACING]               move someone (metres, degrees)");
	rp_line(rp, "remove NAME [--forget]               disconnect someone; --forget also un-enrols their key");
	rp_line(rp, "redirect NAME HOST:PORT[,...] [X,Y]  send someone to that daemon of the company, to sit where they are (or at X,Y)");
	rp_line(rp, "desk NAME DESK                       give someone a desk of their own (label, e.g. A3-4; - for none)");
	rp_line(rp, "desks                                who has which desk, and who sits at it now");
	rp_line(rp, "close-room ROOM / open-room ROOM     close (and lock) or open every door of a room");
	rp_line(rp, "load                                 the load ladder: level, what it sheds, ticks at each, steps");
	rp_line(rp, "cluster                              a company: its daemons, floors, who hosts which, people here");
	rp_line(rp, "drain [off]                          a company: hand this daemon's floors and people to the others");
	rp_final(rp, "ok");
}

size_t es_admin_execute(struct es_admin *a, const char *line, char *out, size_t cap)
{
	struct reply rp = {out, cap, 0, false};
	char buf[ES_ADMIN_LINE_MAX + 1], shown[ES_ADMIN_LINE_MAX + 1];
	if (cap < RESERVE + 1)
		return 0;
	out[0] = 0;
	snprintf(buf, sizeof(buf), "%s", line);
	/* what the log shows: no terminal escapes from a socket client */
	size_t n = strlen(buf);
	for (size_t i = 0; i <= n; i++)
		shown[i] = i < n && ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f) ? '?' : buf[i];
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = ' ';
	char *argv[MAX_ARGS];
	int argc = split(buf, argv, MAX_ARGS);
	if (argc < 0)
		rp_final(&rp, "error: %s", argc == -E2BIG ? "too many words" : "unbalanced double quote");
	else if (argc == 0)
		rp_final(&rp, "error: empty command (try 'help')");
	else if (strcmp(argv[0], "invite") == 0)
		cmd_invite(a, &rp, argc, argv);
	else if (strcmp(argv[0], "people") == 0 && argc == 1)
		cmd_people(a, &rp);
	else if (strcmp(argv[0], "load") == 0 && argc == 1)
		cmd_load(a, &rp);
	else if (strcmp(argv[0], "enrolled") == 0 && argc == 1)
		cmd_enrolled(a, &rp);
	else if (strcmp(argv[0], "fingerprint") == 0 && argc == 1)
		cmd_fingerprint(a, &rp);
	else if (strcmp(argv[0], "mute") == 0 || strcmp(argv[0], "unmute") == 0)
		cmd_mute(a, &rp, argc, argv, argv[0][0] == 'm');
	else if (strcmp(argv[0], "move") == 0)
		cmd_move(a, &rp, argc, argv);
	else if (strcmp(argv[0], "remove") == 0)
		cmd_remove(a, &rp, argc, argv);
	else if (strcmp(argv[0], "redirect") == 0)
		cmd_redirect(a, &rp, argc, argv);
	else if (strcmp(argv[0], "whoami") == 0 && argc == 1)
		cmd_whoami(a, &rp);
	else if (strcmp(argv[0], "desk") == 0)
		cmd_desk(a, &rp, argc, argv);
	else if (strcmp(argv[0], "desks") == 0 && argc == 1)
		cmd_desks(a, &rp);
	else if (strcmp(argv[0], "close-room") == 0 || strcmp(argv[0], "open-room") == 0)
		cmd_room(a, &rp, argc, argv, argv[0][0] == 'o');
	else if (strcmp(argv[0], "cluster") == 0 && argc == 1)
		cmd_cluster(a, &rp);
	else if (strcmp(argv[0], "drain") == 0)
		cmd_drain(a, &rp, argc, argv);
	else if (strcmp(argv[0], "help") == 0)
		cmd_help(&rp);
	else if (strcmp(argv[0], "people") == 0 || strcmp(argv[0], "enrolled") == 0 ||
		 strcmp(argv[0], "fingerprint") == 0 || strcmp(argv[0], "desks") == 0)
		rp_final(&rp, "error: '%s' takes no arguments", argv[0]);
	else
		rp_final(&rp, "error: unknown command '%.40s' (try 'help')", argv[0]);
	/* one log line: the command and how it ended (the reply's last line) */
	const char *last = rp.buf;
	for (size_t i = 0; i + 1 < rp.len; i++)
		if (rp.buf[i] == '\n')
			last = rp.buf + i + 1;
	int ll = (int)(rp.buf + rp.len - last) - 1;
	if (strcmp(shown, "whoami") != 0) /* earshotctl asks it with every command */
		es_log(strncmp(last, "ok", 2) == 0 ? ES_LOG_INFO : ES_LOG_WARN, "admin: %s -> %.*s", shown, ll > 0 ? ll : 0,
	       last);
	return rp.len;
}

/* ---- the socket ---------------------------------------------------------- */

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->in_len = c->out_len = c->out_off = 0;
	c->discarding = c->eof = false;
}

/* Send what is pending; false if the connection is gone. */
static bool conn_flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return true;
			conn_close(c);
			return false;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	return true;
}

/* The first complete line in c->in, or NULL. */
static char *conn_line(struct conn *c, size_t *consumed)
{
	char *nl = memchr(c->in, '\n', c->in_len);
	if (!nl)
		return NULL;
	*nl = 0;
	if (nl > c->in && nl[-1] == '\r')
		nl[-1] = 0;
	*consumed = (size_t)(nl - c->in) + 1;
	return c->in;
}

/* Run complete lines while the budget lasts and no reply is waiting. */
static void conn_run(struct es_admin *a, struct conn *c)
{
	size_t used;
	char *line;
	while (c->fd >= 0 && c->out_len == 0 && a->cmds_left > 0 && (line = conn_line(c, &used))) {
		a->cmds_left--;
		c->out_len = es_admin_execute(a, line, c->out, OUT_CAP);
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
		conn_flush(c);
	}
	if (c->fd >= 0 && c->in_len == sizeof(c->in) - 1 && !memchr(c->in, '\n', c->in_len)) {
		/* a line longer than we take: refuse it and skip to its end */
		c->in_len = 0;
		c->discarding = true;
		struct reply rp = {c->out + c->out_len, OUT_CAP - c->out_len, 0, false};
		rp_final(&rp, "error: line too long (at most %d bytes)", ES_ADMIN_LINE_MAX);
		c->out_len += rp.len;
		es_log_warn("admin: refused a command line longer than %d bytes", ES_ADMIN_LINE_MAX);
		conn_flush(c);
	}
	if (c->fd >= 0 && c->eof && c->out_len == 0 && !memchr(c->in, '\n', c->in_len))
		conn_close(c); /* said all it had to say, and heard every answer */
}

static void conn_read(struct conn *c)
{
	for (;;) {
		size_t room = sizeof(c->in) - 1 - c->in_len;
		char tmp[256];
		char *dst = c->discarding ? tmp : c->in + c->in_len;
		size_t want = c->discarding ? sizeof(tmp) : room;
		if (want == 0)
			return;
		ssize_t n = recv(c->fd, dst, want, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_close(c);
			return;
		}
		if (n == 0) {
			c->eof = true;
			return;
		}
		if (c->discarding) {
			char *nl = memchr(tmp, '\n', (size_t)n);
			if (nl) {
				c->discarding = false;
				size_t rest = (size_t)(tmp + n - (nl + 1));
				if (rest > room)
					rest = room;
				memcpy(c->in, nl + 1, rest);
				c->in_len = rest;
			}
			continue;
		}
		c->in_len += (size_t)n;
	}
}

static bool peer_allowed(int fd)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return false;
	return uc.uid == 0 || uc.uid == geteuid();
}

static void accept_some(struct es_admin *a)
{
	while (a->accepts_left > 0) {
		int fd = accept4(a->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or a connection that went away */
		a->accepts_left--;
		if (!peer_allowed(fd)) {
			es_log_warn("admin: refused a connection from another user");
			close(fd);
			continue;
		}
		struct conn *c = NULL;
		for (unsigned i = 0; i < CONNS && !c; i++)
			if (a->conn[i].fd < 0)
				c = &a->conn[i];
		if (!c) {
			static const char busy[] = "error: too many admin connections; try again\n";
			char sink[ES_ADMIN_LINE_MAX];
			(void)!send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
			/* what it already sent, unread, would turn our close into a reset that loses the answer */
			(void)!recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
			shutdown(fd, SHUT_WR);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->active_ms = es_now_ms();
	}
}

static void new_tick(struct es_admin *a, uint64_t tick)
{
	if (tick != a->tick) {
		a->tick = tick;
		a->cmds_left = CMDS_PER_TICK;
		a->accepts_left = ACCEPTS_PER_TICK;
	}
}

static unsigned poll_fds(void *ud, uint64_t tick, struct pollfd *fds, unsigned max)
{
	struct es_admin *a = ud;
	new_tick(a, tick);
	unsigned n = 0;
	int64_t now = es_now_ms();
	if (n < max)
		fds[n++] = (struct pollfd){.fd = a->lfd, .events = a->accepts_left ? POLLIN : 0};
	for (unsigned i = 0; i < CONNS && n < max; i++) {
		struct conn *c = &a->conn[i];
		if (c->fd < 0)
			continue;
		if (now - c->active_ms > IDLE_MS) {
			conn_close(c);
			continue;
		}
		short ev = 0;
		if (c->out_len)
			ev = POLLOUT;
		else if (a->cmds_left && memchr(c->in, '\n', c->in_len))
			ev = POLLOUT; /* lines waiting for budget: call back at once */
		else if (a->cmds_left && !c->eof)
			ev = POLLIN;
		fds[n++] = (struct pollfd){.fd = c->fd, .events = ev};
	}
	return n;
}

static void poll_ready(void *ud, uint64_t tick, const struct pollfd *fds, unsigned n)
{
	struct es_admin *a = ud;
	new_tick(a, tick);
	for (unsigned i = 0; i < n; i++) {
		if (!fds[i].revents)
			continue;
		if (fds[i].fd == a->lfd) {
			accept_some(a);
			continue;
		}
		struct conn *c = NULL;
		for (unsigned k = 0; k < CONNS && !c; k++)
			if (a->conn[k].fd == fds[i].fd)
				c = &a->conn[k];
		if (!c)
			continue;
		c->active_ms = es_now_ms();
		if (fds[i].revents & POLLNVAL) {
			conn_close(c);
			continue;
		}
		if (c->out_len && !conn_flush(c))
			continue;
		if (fds[i].revents & (POLLIN | POLLHUP | POLLERR) && c->out_len == 0)
			conn_read(c);
		if (c->fd >= 0)
			conn_run(a, c);
	}
}

/*
 * Make path ours: nothing there, or a socket of ours that nobody answers
 * on (left by a daemon that died), which is removed.
 */
static int claim_path(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) {
		es_log_error("admin: %s exists and is not a socket of this user: not touching it; move it away", path);
		return -EEXIST;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	close(fd);
	if (r == 0 || e == EAGAIN) {
		es_log_error("admin: another earshotd answers on %s: is it running with the same state directory?", path);
		return -EADDRINUSE;
	}
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	es_log_info("admin: removed a stale socket %s", path);
	return 0;
}

struct es_admin *es_admin_start(const struct es_admin_config *cfg)
{
	int e = ENOMEM;
	struct es_admin *a = calloc(1, sizeof(*a));
	if (!a)
		goto err;
	a->cfg = *cfg;
	a->lfd = -1;
	for (unsigned i = 0; i < CONNS; i++) {
		a->conn[i].fd = -1;
		a->conn[i].out = malloc(OUT_CAP);
		if (!a->conn[i].out)
			goto err_free;
	}
	if (snprintf(a->path, sizeof(a->path), "%s/%s", cfg->state_dir, ES_ADMIN_SOCKET_NAME) >= (int)sizeof(a->path)) {
		es_log_error("admin: the state directory path is too long for a socket (%zu bytes at most)",
			     sizeof(a->path) - sizeof(ES_ADMIN_SOCKET_NAME) - 1);
		e = ENAMETOOLONG;
		goto err_free;
	}
	int r = claim_path(a->path);
	if (r < 0) {
		e = -r;
		goto err_free;
	}
	a->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (a->lfd < 0) {
		e = errno;
		goto err_log;
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, a->path, strlen(a->path) + 1);
	/* born 0600: no window in which another user could connect */
	mode_t old = umask(0177);
	r = bind(a->lfd, (struct sockaddr *)&sa, sizeof(sa));
	e = errno;
	umask(old);
	if (r < 0)
		goto err_close;
	if (chmod(a->path, 0600) < 0 || listen(a->lfd, 8) < 0) {
		e = errno;
		unlink(a->path);
		goto err_close;
	}
	struct es_server_poll p = {.ud = a, .fds = poll_fds, .ready = poll_ready};
	es_server_set_poll(cfg->server, &p);
	es_log_info("admin: listening on %s (earshotctl)", a->path);
	return a;

err_close:
	close(a->lfd);
err_log:
	es_log_error("admin: cannot listen on %s: %s", a->path, strerror(e));
err_free:
	for (unsigned i = 0; i < CONNS; i++)
		free(a->conn[i].out);
	free(a);
err:
	errno = e;
	return NULL;
}

void es_admin_stop(struct es_admin *a)
{
	if (!a)
		return;
	es_server_set_poll(a->cfg.server, NULL);
	for (unsigned i = 0; i < CONNS; i++) {
		conn_close(&a->conn[i]);
		free(a->conn[i].out);
	}
	if (a->lfd >= 0) {
		close(a->lfd);
		unlink(a->path);
	}
	free(a);
}

