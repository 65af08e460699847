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
#include "earshot-crypto.h"
#include "earshot-mixer.h"
#include "earshot-proto.h"
#include "admin.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "saver.h"
#include "state.h"

#define SAVE_INTERVAL_MS 1000
#define STATUS_EVERY_TICKS 500 /* 10 s */
#define WHY_MAX (PATH_MAX + 256) /* one error line that names a file */

struct es_service {
	struct es_config cfg;
	int argc;
	char **argv;
	struct es_state_db *db;
	struct es_saver *saver;
	struct es_metrics *metrics;
	struct es_notify notify;
	struct es_metrics_snapshot snap;
	struct es_server_hooks hooks;
	volatile sig_atomic_t reload;
	uint64_t ticks;
	struct es_keypair key; /* the server's static key */
	bool open_enrolment;
	struct es_floor *floor;   /* owned; NULL: no plan ("none") */
	struct es_server *server; /* borrowed, for reloads (es_service_attach) */
	struct es_admin *admin;   /* borrowed, may be NULL */
	uint64_t reloads[2];      /* done, failed (metrics) */
};

/* sd_notify failures are harmless to the floor, but worth a (rate-limited) word */
static void notified(struct es_service *svc, int r, const char *what)
{
	static struct es_log_ratelimit rl;
	if (r < 0)
		es_log_rl(&rl, es_notify_now_usec() / 1000, ES_LOG_WARN, "sd_notify %s: %s", what, strerror(-r));
}

static int64_t unix_now(void)
{
	return (int64_t)time(NULL);
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
	es_saver_lock(svc->saver);
	struct es_person *p = es_state_find_key(svc->db, key);
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
	np.last_seen = unix_now();
	if (invite_secret) {
		char code[ES_INVITE_CODE_LEN + 1];
		es_state_invite_code(invite_secret, code);
		int c = es_state_invite_consume(svc->db, code, unix_now(), np.name);
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

static void on_join(void *ud, const uint8_t key[32], const char *name, int32_t *x_cm, int32_t *y_cm, uint16_t *facing)
{
	struct es_service *svc = ud;

	es_saver_lock(svc->saver);
	struct es_person *p = es_state_find_key(svc->db, key);
	if (p) {
		/*
		 * The protocol has no "no preference" place yet: a HELLO at the
		 * origin facing north is what a client sends when not told
		 * where to sit, so that is when the remembered place is used.
		 */
		if (p->has_place && *x_cm == 0 && *y_cm == 0 && *facing == 0) {
			*x_cm = (int32_t)lrintf(p->x * 100.0f);
			*y_cm = (int32_t)lrintf(p->y * 100.0f);
			long dd = lrintf(p->facing * 1800.0f / (float)M_PI);
			*facing = (uint16_t)(((dd % 3600) + 3600) % 3600);
			es_log_info("%s is back: at their place %.2f,%.2f", name, (double)p->x, (double)p->y);
		}
		p->last_seen = unix_now();
		es_saver_mark_dirty(svc->saver);
	} else {
		struct es_person np = { 0 };
		memcpy(np.key, key, ES_STATE_KEY_LEN);
		snprintf(np.name, sizeof(np.name), "%s", name);
		np.last_seen = unix_now();
		np.has_place = true;
		np.x = (float)*x_cm / 100.0f;
		np.y = (float)*y_cm / 100.0f;
		np.facing = (float)*facing * (float)M_PI / 1800.0f;
		int r = es_state_put(svc->db, &np);
		if (r < 0)
			es_log_warn("state: cannot remember %s: %s", name, strerror(-r));
		else
			es_saver_mark_dirty(svc->saver);
	}
	es_saver_unlock(svc->saver);
}

static void on_place(void *ud, const uint8_t key[32], const char *name, int32_t x_cm, int32_t y_cm, uint16_t facing)
{
	struct es_service *svc = ud;
	(void)name;

	es_saver_lock(svc->saver);
	struct es_person *p = es_state_find_key(svc->db, key);
	if (p) {
		p->has_place = true;
		p->x = (float)x_cm / 100.0f;
		p->y = (float)y_cm / 100.0f;
		p->facing = (float)facing * (float)M_PI / 1800.0f;
		p->last_seen = unix_now();
		es_saver_mark_dirty(svc->saver);
	}
	es_saver_unlock(svc->saver);
}

/* Is this key muted by an admin (kept in the state)? */
static bool on_admin_muted(void *ud, const uint8_t key[32])
{
	struct es_service *svc = ud;
	es_saver_lock(svc->saver);
	const struct es_person *p = es_state_find_key(svc->db, key);
	bool muted = p && p->admin_muted;
	es_saver_unlock(svc->saver);
	return muted;
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
	es_saver_unlock(svc->saver);
	return p ? 0 : -ENOENT;
}

static void metrics_restart(struct es_service *svc)
{
	es_metrics_stop(svc->metrics);
	svc->metrics = NULL;
	if (!svc->cfg.metrics.text[0])
		return;
	svc->metrics = es_metrics_start(&svc->cfg.metrics);
	if (!svc->metrics)
		es_log_error("metrics: cannot serve on %s: %s; running without metrics",
			svc->cfg.metrics.text, strerror(errno));
	else
		es_log_info("metrics on http://%s/metrics", svc->cfg.metrics.text);
}

/*
 * The floor as configured: the plan file, or the built-in office ("" or
 * "builtin"), repeated as configured; "none" is open space everywhere
 * (*out NULL).  0, or -errno with why set to one line naming the file,
 * line and column ("FILE:LINE:COL: reason").  Reads a file of at most
 * ES_FLOOR_MAX_TEXT bytes: run at start, for --check-config, and on SIGHUP.
 */
static int floor_load(const struct es_config *conf, struct es_floor **out, char *why, size_t whylen)
{
	struct es_floor *f = NULL;
	int r = 0;
	*out = NULL;
	if (strcmp(conf->floor_plan, "none") == 0)
		return 0;
	if (conf->floor_plan[0] && strcmp(conf->floor_plan, "builtin") != 0) {
		FILE *fp = fopen(conf->floor_plan, "rbe");
		if (!fp) {
			r = -errno;
			snprintf(why, whylen, "[server] floor_plan: %s: %s", conf->floor_plan, strerror(errno));
			return r;
		}
		char *text = malloc(ES_FLOOR_MAX_TEXT + 1);
		size_t n = text ? fread(text, 1, ES_FLOOR_MAX_TEXT + 1, fp) : 0;
		r = !text ? -ENOMEM : ferror(fp) ? -EIO : 0;
		fclose(fp);
		if (r < 0) {
			free(text);
			snprintf(why, whylen, "[server] floor_plan: %s: %s", conf->floor_plan,
				 r == -EIO ? "read error" : "out of memory");
			return r;
		}
		if (n > ES_FLOOR_MAX_TEXT) {
			free(text);
			snprintf(why, whylen, "[server] floor_plan: %s: larger than %u bytes", conf->floor_plan, ES_FLOOR_MAX_TEXT);
			return -EFBIG;
		}
		struct es_floor_error fe = {0};
		f = es_floor_parse(text, n, &fe);
		free(text);
		if (!f) {
			r = -errno;
			if (errno == EBADMSG)
				snprintf(why, whylen, "%s:%d:%d: %s", conf->floor_plan, fe.line, fe.col, fe.msg);
			else
				snprintf(why, whylen, "[server] floor_plan: %s: %s", conf->floor_plan, strerror(errno));
			return r;
		}
	} else if (!(f = es_floor_default())) {
		r = -errno;
		snprintf(why, whylen, "cannot build the built-in office: %s", strerror(errno));
		return r;
	}
	if (conf->floor_tile_x > 1 || conf->floor_tile_y > 1) {
		struct es_floor *t = es_floor_tile(f, conf->floor_tile_x, conf->floor_tile_y);
		es_floor_free(f);
		if (!t) {
			r = -errno;
			snprintf(why, whylen, "cannot tile the floor %ux%u: %s", conf->floor_tile_x, conf->floor_tile_y,
				 strerror(errno));
			return r;
		}
		f = t;
	}
	*out = f;
	return 0;
}

static void floor_describe(const struct es_floor *f, const char *what)
{
	if (!f)
		es_log_info("%sno floor plan: open space everywhere, no walls, no desks", what);
	else
		es_log_info("%sfloor '%s': %.0f x %.0f m, %u desks, %u rooms, %u doors", what, es_floor_name(f),
			    es_floor_width_m(f), es_floor_height_m(f), es_floor_desk_count(f), es_floor_room_count(f),
			    es_floor_door_count(f));
}

/* Same plan (the text, tiling included, is the whole of it)? */
static bool floor_same(const struct es_floor *a, const struct es_floor *b)
{
	size_t la, lb;
	if (!a || !b)
		return a == b;
	const char *ta = es_floor_to_text(a, &la), *tb = es_floor_to_text(b, &lb);
	return ta && tb && la == lb && memcmp(ta, tb, la) == 0;
}

/*
 * Desk assignments (a person's desk label in the state) that the new floor
 * no longer has: remapped to the desk the person sits at now if the
 * reload moved them to one that nobody else is assigned, else dropped.
 * Under the state lock.  Returns how many changed.
 */
static unsigned fix_desk_assignments(struct es_service *svc, const struct es_floor *f)
{
	unsigned changed = 0;
	size_t n = es_state_person_count(svc->db);
	for (size_t i = 0; i < n; i++) {
		struct es_person *p = es_state_person(svc->db, i);
		if (!p->desk[0] || (f && es_floor_desk_find(f, p->desk) >= 0))
			continue;
		char was[sizeof(p->desk)];
		memcpy(was, p->desk, sizeof(was));
		p->desk[0] = '\0';
		const char *label = NULL;
		int d = p->has_place ? es_floor_desk_at(f, p->x, p->y) : -1;
		if (d >= 0 && es_floor_desk(f, (unsigned)d, NULL, NULL, &label) == 0 && label &&
		    strlen(label) <= ES_STATE_DESK_MAX) {
			bool assigned = false;
			for (size_t k = 0; k < n && !assigned; k++)
				assigned = strcmp(es_state_person_const(svc->db, k)->desk, label) == 0;
			if (!assigned)
				snprintf(p->desk, sizeof(p->desk), "%s", label);
		}
		if (p->desk[0])
			es_log_info("reload: %s's desk %s is gone; their desk is now %s", p->name, was, p->desk);
		else
			es_log_info("reload: %s's desk %s is gone; they have no assigned desk now", p->name, was);
		changed++;
	}
	return changed;
}

/*
 * SIGHUP: read the floor plan again and, if it changed, swap it in between
 * two ticks (this runs on the tick thread, after a tick): the mixer, the
 * admin socket and the server use the new one from the next tick on;
 * people whose place vanished are moved (es_server_set_floor).  A plan
 * that does not load leaves the floor as it is.  0 or -errno (logged).
 */
static int reload_floor(struct es_service *svc, const struct es_config *nc)
{
	char why[WHY_MAX];
	struct es_floor *nf = NULL;
	int r = floor_load(nc, &nf, why, sizeof(why));
	if (r < 0) {
		es_log_error("reload: %s; keeping the floor plan in use", why);
		return r;
	}
	if (floor_same(nf, svc->floor)) {
		es_floor_free(nf);
		return 0;
	}
	int moved = 0;
	if (svc->server) {
		moved = es_server_set_floor(svc->server, nf);
		if (moved < 0) {
			es_log_error("reload: cannot switch to the new floor plan: %s; keeping the one in use",
				     strerror(-moved));
			es_floor_free(nf);
			return moved;
		}
	}
	es_admin_set_floor(svc->admin, nf);
	es_floor_free(svc->floor);
	svc->floor = nf;
	floor_describe(nf, "reload: now on ");
	es_saver_lock(svc->saver);
	if (fix_desk_assignments(svc, nf))
		es_saver_mark_dirty(svc->saver);
	es_saver_unlock(svc->saver);
	if (moved)
		es_log_info("reload: %d %s moved because the new plan took their place", moved,
			    moved == 1 ? "person was" : "people were");
	return 0;
}

/*
 * SIGHUP: the enrolments in <state_dir>/state, if someone other than this
 * daemon changed the file (an admin's edit or a restored backup; the saver
 * does not overwrite such a file, see saver.h).  The file decides who is
 * enrolled, under which name and desk, and which invites are pending;
 * what only the daemon knows stays as it is in memory (places, last seen,
 * the newest handshake timestamps).  Changes since the daemon last wrote
 * the file are told apart by comparing with that version (the base):
 *
 *   key in the file, not in the base: enrolled by the admin -> added
 *   key in the base, not in the file: removed by the admin -> un-enrolled,
 *       and disconnected with "removed by an admin" if connected
 *   key in memory, in neither: enrolled since the last save -> kept
 *
 * A file that does not load (bad checksum, unparsable) changes nothing and
 * is an error.  0, or -errno (logged).
 */
static int reload_enrolments(struct es_service *svc)
{
	char path[PATH_MAX], why[160];
	uint8_t *data = NULL;
	size_t len = 0;
	struct es_state_db *disk = NULL, *base = NULL;
	uint8_t (*gone)[ES_STATE_KEY_LEN] = NULL; /* keys to disconnect */
	size_t gone_n = 0, gone_cap = 0;
	int r;

	if (snprintf(path, sizeof(path), "%s/state", svc->cfg.state_dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	FILE *f = fopen(path, "rbe");
	if (!f) {
		if (errno == ENOENT)
			return 0; /* nothing saved yet: nothing to read */
		r = -errno;
		es_log_error("reload: %s: %s; enrolments unchanged", path, strerror(errno));
		return r;
	}
	struct stat st;
	r = fstat(fileno(f), &st) < 0 ? -errno : st.st_size > (64 << 20) ? -EFBIG : 0;
	if (r == 0 && !(data = malloc((size_t)st.st_size + 1)))
		r = -ENOMEM;
	if (r == 0) {
		len = fread(data, 1, (size_t)st.st_size, f);
		if (ferror(f))
			r = -EIO;
	}
	fclose(f);
	if (r == 0 && (r = es_state_parse(data, len, &disk, why, sizeof(why))) < 0)
		es_log_error("reload: %s: %s; enrolments unchanged", path, why);
	else if (r < 0)
		es_log_error("reload: %s: %s; enrolments unchanged", path, strerror(-r));
	if (r < 0)
		goto out;

	es_saver_lock(svc->saver);
	size_t blen = 0;
	char *btext = es_saver_base(svc->saver, &blen);
	if (!btext || es_state_parse((const uint8_t *)btext, blen, &base, why, sizeof(why)) < 0) {
		free(btext);
		es_saver_unlock(svc->saver);
		es_log_error("reload: cannot compare the enrolments with the last saved state; enrolments unchanged");
		r = -ENOMEM;
		goto out;
	}
	free(btext);
	if (es_state_equal(disk, base)) {
		es_saver_unlock(svc->saver);
		goto out; /* the file is the daemon's own */
	}
	unsigned added = 0, removed = 0, changed = 0;
	/* removed by the admin (kept if enrolled since the last save) */
	gone_cap = es_state_person_count(svc->db);
	gone = calloc(gone_cap ? gone_cap : 1, sizeof(*gone));
	if (!gone) {
		es_saver_unlock(svc->saver);
		es_log_error("reload: out of memory; enrolments unchanged");
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < es_state_person_count(svc->db);) {
		struct es_person *p = es_state_person(svc->db, i);
		if (es_state_find_key(disk, p->key) || !es_state_find_key(base, p->key)) {
			i++;
			continue;
		}
		uint8_t key[ES_STATE_KEY_LEN];
		memcpy(key, p->key, sizeof(key));
		es_log_info("reload: %s is no longer enrolled", p->name);
		if (es_state_remove(svc->db, key) < 0) {
			i++; /* cannot happen: the key was just found */
			continue;
		}
		if (gone_n < gone_cap)
			memcpy(gone[gone_n++], key, ES_STATE_KEY_LEN);
		removed++;
		sodium_memzero(key, sizeof(key));
	}
	/* added or changed by the admin */
	for (size_t i = 0; i < es_state_person_count(disk); i++) {
		const struct es_person *d = es_state_person_const(disk, i);
		struct es_person *m = es_state_find_key(svc->db, d->key);
		struct es_person np;
		if (m) {
			if (strcmp(m->name, d->name) == 0 && strcmp(m->desk, d->desk) == 0 &&
			    m->admin_muted == d->admin_muted)
				continue;
			np = *m;
			memcpy(np.name, d->name, sizeof(np.name));
			memcpy(np.desk, d->desk, sizeof(np.desk));
			np.admin_muted = d->admin_muted;
			changed++;
		} else if (!es_state_find_key(base, d->key)) {
			np = *d;
			added++;
		} else {
			continue; /* un-enrolled here since the last save: stays so */
		}
		int pr = es_state_put(svc->db, &np);
		if (pr < 0)
			es_log_warn("reload: cannot take %s from %s: %s", d->name, path,
				    pr == -EEXIST ? "someone else has that name" :
				    pr == -EADDRINUSE ? "someone else has that desk" : strerror(-pr));
		else if (!m)
			es_log_info("reload: %s is enrolled", d->name);
		sodium_memzero(&np, sizeof(np));
	}
	/* invites: the file's, and those made since the last save */
	es_state_invite_prune(svc->db, unix_now());
	unsigned inv_before = (unsigned)es_state_invite_count(svc->db);
	struct es_state_db *merged = es_state_new();
	unsigned lost = 0;
	if (merged) {
		for (size_t i = 0; i < es_state_invite_count(svc->db); i++) {
			const struct es_pending_invite *v = es_state_invite(svc->db, i);
			bool in_base = false;
			for (size_t k = 0; k < es_state_invite_count(base) && !in_base; k++)
				in_base = sodium_memcmp(es_state_invite(base, k)->hash, v->hash, 32) == 0;
			if (!in_base && es_state_invite_put(merged, v) < 0)
				lost++;
		}
		for (size_t i = 0; i < es_state_invite_count(disk); i++)
			if (es_state_invite_put(merged, es_state_invite(disk, i)) < 0)
				lost++;
		if (lost)
			es_log_warn("reload: %u pending invites could not be kept (too many, or out of memory)", lost);
		es_state_invites_replace(svc->db, merged);
		es_state_free(merged);
	}
	es_saver_adopt(svc->saver, (const char *)data, len);
	es_saver_mark_dirty(svc->saver);
	unsigned inv_after = (unsigned)es_state_invite_count(svc->db);
	es_saver_unlock(svc->saver);
	es_log_info("reload: enrolments from %s: %u added, %u removed, %u changed; %u invites pending (was %u)", path,
		    added, removed, changed, inv_after, inv_before);
	/*
	 * Disconnect the removed after the lock is released: a leave saves
	 * the person's place through the hooks, which take the lock.
	 */
	for (size_t g = 0; svc->server && g < gone_n; g++) {
		for (unsigned id = 0; id < es_server_max_people(svc->server); id++) {
			struct es_server_person sp;
			if (es_server_person(svc->server, id, &sp) == 1 && sodium_memcmp(sp.key, gone[g], 32) == 0 &&
			    es_server_admin_remove(svc->server, id, ES_BYE_REMOVED) == 0)
				es_log_info("reload: disconnected %s: removed by an admin (no longer enrolled)", sp.name);
		}
	}
out:
	if (gone)
		sodium_memzero(gone, gone_cap * sizeof(*gone));
	free(gone);
	es_state_free(disk);
	es_state_free(base);
	free(data);
	return r;
}

/* SIGHUP, run from the tick: reading a few small files is the only I/O here. */
static void reload(struct es_service *svc)
{
	struct es_config nc;
	notified(svc, es_notify_reloading(&svc->notify), "RELOADING");
	int r = es_config_load(&nc, svc->argc, svc->argv, stderr);
	if (r != 0) {
		es_log_error("reload: configuration has errors (above); keeping the running one");
		svc->reloads[1]++;
		notified(svc, es_notify_ready(&svc->notify, "running; last reload failed"), "READY");
		return;
	}
	if (nc.log_level != svc->cfg.log_level)
		es_log_set_level(nc.log_level);
	bool metrics_changed = strcmp(nc.metrics.text, svc->cfg.metrics.text) != 0;
	const char *restart = NULL;
	if (strcmp(nc.listen.text, svc->cfg.listen.text) != 0)
		restart = "[server] listen";
	else if (nc.max_people != svc->cfg.max_people)
		restart = "[server] max_people";
	else if (strcmp(nc.state_dir, svc->cfg.state_dir) != 0)
		restart = "[server] state_dir";
	else if (nc.range_m != svc->cfg.range_m || nc.max_voices != svc->cfg.max_voices ||
		 nc.bitrate != svc->cfg.bitrate || nc.complexity != svc->cfg.complexity)
		restart = "[audio]";
	if (restart)
		es_log_warn("reload: %s changed; it takes effect at the next restart", restart);
	bool failed = false;
	if (reload_floor(svc, &nc) < 0) {
		failed = true;
		/* the plan in use stays; so do the settings that name it */
		memcpy(nc.floor_plan, svc->cfg.floor_plan, sizeof(nc.floor_plan));
		nc.floor_tile_x = svc->cfg.floor_tile_x;
		nc.floor_tile_y = svc->cfg.floor_tile_y;
	}
	/* keep what needs a restart, take the rest */
	struct es_config keep = svc->cfg;
	svc->cfg = nc;
	svc->cfg.listen = keep.listen;
	svc->cfg.max_people = keep.max_people;
	svc->cfg.range_m = keep.range_m;
	svc->cfg.max_voices = keep.max_voices;
	svc->cfg.bitrate = keep.bitrate;
	svc->cfg.complexity = keep.complexity;
	memcpy(svc->cfg.state_dir, keep.state_dir, sizeof(keep.state_dir));
	svc->open_enrolment = es_config_open_enrolment(&svc->cfg);
	if (metrics_changed)
		metrics_restart(svc);
	if (reload_enrolments(svc) < 0)
		failed = true;
	svc->reloads[failed]++;
	es_log_info("reloaded %s%s", nc.config_path[0] ? nc.config_path : "(no config file: defaults and flags)",
		    failed ? " (with errors, above: what failed to load is kept as it was)" : "");
	notified(svc, es_notify_ready(&svc->notify, failed ? "running; last reload had errors" :
							     "running; configuration reloaded"), "READY");
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
	es_metrics_observe_tick(m, (double)work_ns / 1e9);
	m->ticks_late_total = c->ticks_late;
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
	es_metrics_publish(svc->metrics, m);

	uint64_t now = es_notify_now_usec();
	notified(svc, es_notify_watchdog(&svc->notify, now), "WATCHDOG");
	if (svc->ticks % STATUS_EVERY_TICKS == 0)
		notified(svc, es_notify_status(&svc->notify, "%u people, %u talking", c->people, c->talking), "STATUS");
	if (svc->reload) {
		svc->reload = 0;
		reload(svc);
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
	r = floor_load(cfg, &svc->floor, why, sizeof(why));
	if (r < 0) {
		e = -r;
		es_log_error("%s", why);
		goto err_free;
	}
	floor_describe(svc->floor, "");
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
	metrics_restart(svc);

	if (server_key_load(cfg->state_dir, &svc->key) < 0) {
		e = EINVAL;
		goto err_saver;
	}
	char fp[ES_FINGERPRINT_LEN];
	es_key_fingerprint(svc->key.pub, fp);
	svc->open_enrolment = es_config_open_enrolment(cfg);
	es_log_info("server key fingerprint %s; enrolment %s", fp,
		    svc->open_enrolment ? "OPEN: any key that connects is enrolled" : "by invite only");
	svc->hooks = (struct es_server_hooks){
		.ud = svc, .tick = on_tick, .authorize = on_authorize, .join = on_join, .place = on_place,
		.admin_muted = on_admin_muted,
	};
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
	es_metrics_stop(svc->metrics);
	es_saver_stop(svc->saver); /* the final save */
	es_notify_clear(&svc->notify);
	es_state_free(svc->db);
	es_keypair_clear(&svc->key);
	es_floor_free(svc->floor);
	free(svc);
}

struct es_floor *es_service_floor(struct es_service *svc)
{
	return svc->floor;
}

void es_service_attach(struct es_service *svc, struct es_server *server, struct es_admin *admin)
{
	svc->server = server;
	svc->admin = admin;
}

int es_service_invite_add(struct es_service *svc, const char *name, int64_t ttl_s, const uint8_t secret[16])
{
	if (ttl_s <= 0)
		ttl_s = svc->cfg.invite_ttl_s;
	es_saver_lock(svc->saver);
	int r = es_state_invite_add(svc->db, name, unix_now(), ttl_s, secret);
	if (r == 0)
		es_saver_mark_dirty(svc->saver);
	es_saver_unlock(svc->saver);
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
		r = es_state_remove(svc->db, key);
		if (r == 0) {
			if (key_out)
				memcpy(key_out, key, sizeof(key));
			es_saver_mark_dirty(svc->saver);
		}
	}
	es_saver_unlock(svc->saver);
	return r;
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
	notified(svc, es_notify_ready(&svc->notify, status), "READY");
}

void es_service_stopping(struct es_service *svc)
{
	notified(svc, es_notify_stopping(&svc->notify), "STOPPING");
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
		r = floor_load(cfg, &f, why, sizeof(why));
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
