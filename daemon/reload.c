/* SPDX-License-Identifier: MIT */
/*
 * SIGHUP: the settings, the floor plan and the enrolments, read again and
 * applied between two ticks (see es_service_request_reload, earshotd(8)).
 *
 * The reading and parsing (the config file, the plan, the state file) run
 * on a reload thread of their own, started from the tick hook; the tick
 * thread only takes the prepared result once the thread is done and swaps
 * it in (es_service_reload_poll): no file is read on the tick thread.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

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
	/* a company's floors: copies of the plan stacked south (company.h) */
	char names[ES_COMPANY_FLOORS_MAX][65];
	int nfloors = es_config_floors(conf, names, ES_COMPANY_FLOORS_MAX);
	if (nfloors < 0) {
		es_floor_free(f);
		snprintf(why, whylen, "[cluster] floors: '%s' is not a list of 1 to %d distinct floor names", conf->cluster_floors,
			 ES_COMPANY_FLOORS_MAX);
		return -EINVAL;
	}
	unsigned ty = conf->floor_tile_y * (nfloors > 0 ? (unsigned)nfloors : 1u);
	if (conf->floor_tile_x > 1 || ty > 1) {
		struct es_floor *t = es_floor_tile(f, conf->floor_tile_x, ty);
		es_floor_free(f);
		if (!t) {
			r = -errno;
			snprintf(why, whylen, "cannot tile the floor %ux%u: %s", conf->floor_tile_x, ty,
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

/*
 * One reload: what the reload thread read and parsed, handed to the tick
 * thread whole.  The thread writes every field but `state` before moving
 * it from RUNNING to DONE; the tick thread reads none before it sees DONE.
 * A daemon that stops while the thread still reads (a plan on a stuck
 * network file system, a FIFO) does not wait for it: the tick thread moves
 * RUNNING to ABANDONED and the thread, finding it so, frees the job itself.
 */
enum { JOB_RUNNING, JOB_DONE, JOB_ABANDONED };
struct es_reload_job {
	pthread_t thread;
	bool threaded;
	_Atomic int state;
	/* in, set before the thread starts */
	int argc;
	char **argv;
	char state_dir[PATH_MAX];
	int64_t t0;
	struct es_config running;   /* the settings in force: [cluster] is kept from them (restart only) */
	/* out */
	bool cluster_changed;       /* [cluster] differs in the file: kept as it runs */
	int config_r;               /* es_config_load: 0, or the config has errors (printed on stderr) */
	struct es_config nc;
	int floor_r;                /* es_service_floor_load of nc's plan; <0: floor_why */
	struct es_floor *floor;     /* owned by the job until taken */
	char floor_why[WHY_MAX];
	int state_r;                /* 0 read and parsed, 1 no state file, <0: state_why */
	char state_path[PATH_MAX];
	char state_why[160];
	uint8_t *state_data;        /* the file as read (state_len bytes) */
	size_t state_len;
	struct es_state_db *disk;   /* parsed from it */
};

static void job_free(struct es_reload_job *j)
{
	if (!j)
		return;
	es_floor_free(j->floor);
	es_state_free(j->disk);
	free(j->state_data);
	free(j);
}

/* <state_dir>/state read and parsed, off the tick thread. */
static void read_state(struct es_reload_job *j)
{
	if (snprintf(j->state_path, sizeof(j->state_path), "%s/state", j->state_dir) >= (int)sizeof(j->state_path)) {
		j->state_r = -ENAMETOOLONG;
		snprintf(j->state_why, sizeof(j->state_why), "%s", strerror(ENAMETOOLONG));
		return;
	}
	FILE *f = fopen(j->state_path, "rbe");
	if (!f) {
		j->state_r = errno == ENOENT ? 1 : -errno; /* nothing saved yet: nothing to read */
		snprintf(j->state_why, sizeof(j->state_why), "%s", strerror(errno));
		return;
	}
	struct stat st;
	int r = fstat(fileno(f), &st) < 0 ? -errno : st.st_size > (64 << 20) ? -EFBIG : 0;
	if (r == 0 && !(j->state_data = malloc((size_t)st.st_size + 1)))
		r = -ENOMEM;
	if (r == 0) {
		j->state_len = fread(j->state_data, 1, (size_t)st.st_size, f);
		if (ferror(f))
			r = -EIO;
	}
	fclose(f);
	if (r < 0)
		snprintf(j->state_why, sizeof(j->state_why), "%s", strerror(-r));
	else if ((r = es_state_parse(j->state_data, j->state_len, &j->disk, j->state_why, sizeof(j->state_why))) > 0)
		r = 0;
	j->state_r = r;
}

/* The reading half of a reload: the config, then the plan it names, then the state file. */
static void *reload_read(void *arg)
{
	struct es_reload_job *j = arg;
	j->config_r = es_config_load(&j->nc, j->argc, j->argv, stderr);
	if (j->config_r == 0) {
		/* a company's floors and place in it change only with a restart: the plan is stacked as it runs */
		const struct es_config *o = &j->running;
		j->cluster_changed = strcmp(j->nc.cluster_etcd, o->cluster_etcd) || strcmp(j->nc.cluster_company, o->cluster_company) ||
				     strcmp(j->nc.cluster_daemon_id, o->cluster_daemon_id) ||
				     strcmp(j->nc.cluster_address, o->cluster_address) ||
				     strcmp(j->nc.cluster_floors, o->cluster_floors) ||
				     j->nc.cluster_capacity != o->cluster_capacity || j->nc.cluster_ttl_s != o->cluster_ttl_s;
		memcpy(j->nc.cluster_etcd, o->cluster_etcd, sizeof(o->cluster_etcd));
		memcpy(j->nc.cluster_company, o->cluster_company, sizeof(o->cluster_company));
		memcpy(j->nc.cluster_daemon_id, o->cluster_daemon_id, sizeof(o->cluster_daemon_id));
		memcpy(j->nc.cluster_address, o->cluster_address, sizeof(o->cluster_address));
		memcpy(j->nc.cluster_floors, o->cluster_floors, sizeof(o->cluster_floors));
		j->nc.cluster_capacity = o->cluster_capacity;
		j->nc.cluster_ttl_s = o->cluster_ttl_s;
	}
	if (j->config_r == 0)
		j->floor_r = es_service_floor_load(&j->nc, &j->floor, j->floor_why, sizeof(j->floor_why));
	read_state(j);
	int running = JOB_RUNNING;
	if (!atomic_compare_exchange_strong_explicit(&j->state, &running, JOB_DONE, memory_order_acq_rel,
						     memory_order_acquire))
		job_free(j); /* abandoned: the daemon is stopping and no longer wants it */
	return NULL;
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
 * two ticks (this runs on the tick thread, after a tick; the reload thread
 * read and parsed it): the mixer, the
 * admin socket and the server use the new one from the next tick on;
 * people whose place vanished are moved (es_server_set_floor).  A plan
 * that does not load leaves the floor as it is.  0 or -errno (logged).
 */
static int reload_floor(struct es_service *svc, struct es_reload_job *j)
{
	struct es_floor *nf = j->floor;
	int r = j->floor_r;
	j->floor = NULL; /* the service's now, or freed here */
	if (r < 0) {
		es_log_error("reload: %s; keeping the floor plan in use", j->floor_why);
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
static int reload_enrolments(struct es_service *svc, struct es_reload_job *j)
{
	char why[160];
	const char *path = j->state_path;
	const uint8_t *data = j->state_data;
	size_t len = j->state_len;
	struct es_state_db *disk = j->disk, *base = NULL;
	uint8_t (*gone)[ES_STATE_KEY_LEN] = NULL; /* keys to disconnect */
	size_t gone_n = 0, gone_cap = 0;
	int r = j->state_r;

	if (r == 1)
		return 0; /* nothing saved yet: nothing to read */
	if (r == -ENAMETOOLONG)
		return r;
	if (r < 0) {
		es_log_error("reload: %s: %s; enrolments unchanged", path, j->state_why);
		return r;
	}

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
	es_state_free(base);
	return r; /* disk and data are the job's, freed with it */
}

/* The swapping half of a reload, on the tick thread: what the reload thread prepared, applied. */
static void reload_apply(struct es_service *svc, struct es_reload_job *j)
{
	struct es_config nc = j->nc;
	int64_t t0 = j->t0;
	int r = j->config_r;
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
	if (!restart && j->cluster_changed)
		restart = "[cluster]";
	if (restart)
		es_log_warn("reload: %s changed; it takes effect at the next restart", restart);
	bool failed = false;
	if (reload_floor(svc, j) < 0) {
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
	if (reload_enrolments(svc, j) < 0)
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

/*
 * SIGHUP, from the tick hook: start reading on a thread of its own (it
 * takes no signal: the handlers belong to the main thread).  If no thread
 * can be started, the reading runs here, as it did before there was one.
 */
void es_service_reload_start(struct es_service *svc)
{
	es_service_notified(svc, es_notify_reloading(&svc->notify), "RELOADING");
	es_log_info("reload: reading the configuration, the floor plan and the enrolments");
	struct es_reload_job *j = calloc(1, sizeof(*j));
	if (!j) {
		es_log_error("reload: out of memory; nothing reloaded");
		svc->reloads[1]++;
		es_service_notified(svc, es_notify_ready(&svc->notify, "running; last reload failed"), "READY");
		return;
	}
	j->argc = svc->argc;
	j->argv = svc->argv;
	j->t0 = es_now_ns();
	snprintf(j->state_dir, sizeof(j->state_dir), "%s", svc->cfg.state_dir);
	j->running = svc->cfg;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int e = pthread_create(&j->thread, NULL, reload_read, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e == 0) {
		j->threaded = true;
		pthread_setname_np(j->thread, "es-reload");
	} else {
		es_log_warn("reload: no reload thread (%s): reading on the tick thread", strerror(e));
		reload_read(j);
	}
	svc->reload_job = j;
	es_service_reload_poll(svc);
}

void es_service_reload_poll(struct es_service *svc)
{
	struct es_reload_job *j = svc->reload_job;
	if (!j || atomic_load_explicit(&j->state, memory_order_acquire) != JOB_DONE)
		return;
	if (j->threaded)
		pthread_join(j->thread, NULL);
	svc->reload_job = NULL;
	reload_apply(svc, j);
	job_free(j);
}

void es_service_reload_cancel(struct es_service *svc)
{
	struct es_reload_job *j = svc->reload_job;
	if (!j)
		return;
	svc->reload_job = NULL;
	int running = JOB_RUNNING;
	if (j->threaded && atomic_compare_exchange_strong_explicit(&j->state, &running, JOB_ABANDONED,
								   memory_order_acq_rel, memory_order_acquire)) {
		pthread_detach(j->thread); /* still reading: it frees the job when it is done */
		es_log_warn("reload: stopping while the reload still reads its files; not waiting for it");
		return;
	}
	if (j->threaded)
		pthread_join(j->thread, NULL);
	job_free(j);
}
