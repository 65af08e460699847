/* SPDX-License-Identifier: MIT */
/*
 * SIGHUP: the settings, the floor plan and the enrolments, read again and
 * applied between two ticks (see es_service_request_reload, earshotd(8)).
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "admin.h"
#include "clock.h"
#include "earshot-mixer.h"
#include "earshot-proto.h"
#include "log.h"
#include "saver.h"
#include "server.h"
#include "service-private.h"
#include "state.h"

int es_service_floor_load(const struct es_config *conf, struct es_floor **out, char *why, size_t whylen)
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
		int e = errno;
		free(text);
		if (!f) {
			if (e == EBADMSG)
				snprintf(why, whylen, "%s:%d:%d: %s", conf->floor_plan, fe.line, fe.col, fe.msg);
			else
				snprintf(why, whylen, "[server] floor_plan: %s: %s", conf->floor_plan, strerror(e));
			return -e;
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

void es_service_floor_describe(const struct es_floor *f, const char *what)
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
 * Desk assignments (a person's desk label in the state) that the floor
 * does not have: remapped to the desk the person sits at now (where a new
 * plan may just have moved them) if nobody else is assigned it, else
 * dropped.  Without a floor plan nothing is checked (the assignments wait
 * for a plan).  Under the state lock.  Returns how many changed.
 */
static unsigned fix_desk_assignments(struct es_service *svc, const struct es_floor *f)
{
	unsigned changed = 0;
	size_t n = es_state_person_count(svc->db);
	for (size_t i = 0; i < n; i++) {
		struct es_person *p = es_state_person(svc->db, i);
		if (!p->desk[0] || es_floor_desk_find(f, p->desk) >= 0)
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
	int r = es_service_floor_load(nc, &nf, why, sizeof(why));
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
	es_service_floor_describe(nf, "reload: now on ");
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
	es_state_invite_prune(svc->db, es_unix_now());
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
	/* an admin mute set or lifted in the file holds for those here now, too */
	for (unsigned id = 0; changed && svc->server && id < es_server_max_people(svc->server); id++) {
		struct es_server_person sp;
		if (es_server_person(svc->server, id, &sp) != 1)
			continue;
		es_saver_lock(svc->saver);
		const struct es_person *p = es_state_find_key(svc->db, sp.key);
		int want = p ? p->admin_muted : -1;
		es_saver_unlock(svc->saver);
		bool have = sp.flags & ES_PF_ADMIN_MUTED;
		if (want >= 0 && (bool)want != have && es_server_admin_mute(svc->server, id, want) == 0)
			es_log_info("reload: %s is %s by an admin", sp.name, want ? "muted" : "unmuted");
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
void es_service_reload(struct es_service *svc)
{
	struct es_config nc;
	int64_t t0 = es_now_ns();
	es_service_notified(svc, es_notify_reloading(&svc->notify), "RELOADING");
	int r = es_config_load(&nc, svc->argc, svc->argv, stderr);
	if (r != 0) {
		es_log_error("reload: configuration has errors (above); keeping the running one");
		svc->reloads[1]++;
		es_service_notified(svc, es_notify_ready(&svc->notify, "running; last reload failed"), "READY");
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
		 nc.bitrate != svc->cfg.bitrate || nc.complexity != svc->cfg.complexity ||
		 nc.mix_threads != svc->cfg.mix_threads)
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
	svc->cfg.mix_threads = keep.mix_threads;
	memcpy(svc->cfg.state_dir, keep.state_dir, sizeof(keep.state_dir));
	svc->open_enrolment = es_config_open_enrolment(&svc->cfg);
	if (svc->server && memcmp(&nc.limits, &keep.limits, sizeof(nc.limits)) != 0) {
		es_server_set_limits(svc->server, &nc.limits); /* [limits] apply at once */
		es_log_info("reload: [limits] changed");
	}
	if (metrics_changed)
		es_service_metrics_restart(svc);
	if (reload_enrolments(svc) < 0)
		failed = true;
	/* after both: a new plan or an edited state file may name desks that are not there */
	if (svc->floor) {
		es_saver_lock(svc->saver);
		if (fix_desk_assignments(svc, svc->floor))
			es_saver_mark_dirty(svc->saver);
		es_saver_unlock(svc->saver);
	}
	es_service_sync_desks(svc); /* own desks as the state and the plan now say */
	svc->reloads[failed]++;
	es_log_info("reloaded %s in %.1f ms%s", nc.config_path[0] ? nc.config_path : "(no config file: defaults and flags)",
		    (double)(es_now_ns() - t0) / 1e6,
		    failed ? " (with errors, above: what failed to load is kept as it was)" : "");
	es_service_notified(svc, es_notify_ready(&svc->notify, failed ? "running; last reload had errors" :
							     "running; configuration reloaded"), "READY");
}

