/* SPDX-License-Identifier: MIT */
/*
 * The watch: one streaming POST /v3/watch on a thread of its own.  The
 * gateway answers a watch with newline-delimited JSON objects, one per
 * WatchResponse ({"result": {...}}) or one error ({"error": {...}}), for as
 * long as the connection lives.  The thread reads them through a curl
 * multi handle so that free and kick can wake it at once
 * (curl_multi_wakeup), and lists the prefix with an es_etcd of its own
 * when it has to start from nothing.
 */
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "etcd-private.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
#define MAX_EVENTS_PER_CALL 4096

struct es_etcd_watch {
	struct es_etcd_endpoints ep;
	size_t cur;
	char *prefix;
	unsigned timeout_ms;
	es_etcd_watch_fn *fn;
	void *arg;
	int64_t next_rev;        /* 0: list first */
	struct es_etcd *lister;

	CURLM *multi;
	CURL *easy;
	struct curl_slist *headers;
	pthread_t thread;
	atomic_bool stop;
	atomic_bool kick;

	/* the stream being read (watch thread only) */
	struct es_etcd_buf line;
	bool created;
	bool compacted;
	int stream_err;          /* why the stream ended, from its own answers */
	bool down;               /* DOWN reported, UP not yet */
};

static void report_down(struct es_etcd_watch *w, int err)
{
	if (w->down)
		return;
	w->down = true;
	w->fn(w->arg, ES_ETCD_WATCH_DOWN, err, NULL, 0, w->next_rev ? w->next_rev - 1 : 0);
}

static void deliver(struct es_etcd_watch *w, enum es_etcd_watch_status st, struct es_etcd_event *ev,
	size_t n, int64_t rev)
{
	w->fn(w->arg, st, 0, ev, n, rev);
}

/* One WatchResponse.  Returns false to end the stream. */
static bool on_result(struct es_etcd_watch *w, struct json_object *res)
{
	struct json_object *hdr, *evs;
	int64_t rev = json_object_object_get_ex(res, "header", &hdr) ? es_etcd_json_i64(hdr, "revision") : 0;
	if (es_etcd_json_bool(res, "canceled")) {
		int64_t crev = es_etcd_json_i64(res, "compact_revision");
		if (crev > 0) {
			w->compacted = true;
		} else {
			w->stream_err = -ECANCELED; /* e.g. the member lost its leader */
		}
		return false;
	}
	if (es_etcd_json_bool(res, "created")) {
		/* the creation's header is the store's revision now, but the events
		 * from next_rev up to it are still to come: do not move next_rev */
		w->created = true;
		w->down = false;
		w->fn(w->arg, ES_ETCD_WATCH_UP, 0, NULL, 0, w->next_rev - 1);
		return true;
	}
	if (!json_object_object_get_ex(res, "events", &evs) || !json_object_is_type(evs, json_type_array)) {
		/* a progress notification: everything up to rev has been sent */
		if (rev >= w->next_rev)
			w->next_rev = rev + 1;
		return true;
	}
	size_t n = json_object_array_length(evs);
	if (n == 0)
		return true;
	if (n > MAX_EVENTS_PER_CALL) {
		w->stream_err = -EBADMSG;
		return false;
	}
	struct es_etcd_event *ev = calloc(n, sizeof(*ev));
	if (!ev) {
		w->stream_err = -ENOMEM;
		return false;
	}
	int err = 0;
	size_t k = 0;
	for (; k < n; k++) {
		struct json_object *e = json_object_array_get_idx(evs, k), *kv, *t;
		if (!json_object_object_get_ex(e, "kv", &kv)) {
			err = -EBADMSG;
			break;
		}
		ev[k].type = ES_ETCD_EV_PUT;
		if (json_object_object_get_ex(e, "type", &t) && strcmp(json_object_get_string(t), "DELETE") == 0)
			ev[k].type = ES_ETCD_EV_DELETE;
		err = es_etcd_kv_parse(kv, &ev[k].kv);
		if (err < 0)
			break;
	}
	if (err == 0) {
		int64_t last = ev[n - 1].kv.mod_rev;
		deliver(w, ES_ETCD_WATCH_EVENTS, ev, n, last > rev ? last : rev);
		if (last >= w->next_rev)
			w->next_rev = last + 1;
	}
	for (size_t i = 0; i < k; i++)
		es_etcd_kv_clear(&ev[i].kv);
	free(ev);
	if (err < 0) {
		w->stream_err = err;
		return false;
	}
	return true;
}

static bool on_line(struct es_etcd_watch *w, const char *s, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	if (!tok) {
		w->stream_err = -ENOMEM;
		return false;
	}
	struct json_object *o = json_tokener_parse_ex(tok, s, (int)len);
	bool ok = false;
	struct json_object *v;
	if (!o || !json_object_is_type(o, json_type_object)) {
		w->stream_err = -EBADMSG;
	} else if (json_object_object_get_ex(o, "result", &v)) {
		ok = on_result(w, v);
	} else if (json_object_object_get_ex(o, "error", &v)) {
		int64_t code = es_etcd_json_i64(v, "grpc_code");
		if (!code)
			code = es_etcd_json_i64(v, "code");
		w->stream_err = es_etcd_grpc_errno(code);
	} else {
		w->stream_err = -EBADMSG;
	}
	json_object_put(o);
	json_tokener_free(tok);
	return ok;
}

static size_t stream_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct es_etcd_watch *w = arg;
	size_t n = size * nmemb;
	if (es_etcd_buf_write(ptr, size, nmemb, &w->line) != n) {
		w->stream_err = -EBADMSG;
		return 0;
	}
	/* every complete line is one message */
	size_t start = 0;
	for (size_t i = 0; i < w->line.len; i++) {
		if (w->line.p[i] != '\n')
			continue;
		if (i > start && !on_line(w, w->line.p + start, i - start))
			return 0; /* ends the transfer: CURLE_WRITE_ERROR */
		start = i + 1;
	}
	memmove(w->line.p, w->line.p + start, w->line.len - start);
	w->line.len -= start;
	return n;
}

/* Sleep ms, or less if stopped or kicked.  Returns true if kicked. */
static bool nap(struct es_etcd_watch *w, int ms)
{
	int64_t until = es_now_ms() + ms;
	while (!atomic_load(&w->stop)) {
		if (atomic_exchange(&w->kick, false))
			return true;
		int64_t left = until - es_now_ms();
		if (left <= 0)
			return false;
		curl_multi_poll(w->multi, NULL, 0, (int)left, NULL);
	}
	return false;
}

/* List the prefix and deliver it as one SNAPSHOT.  0 or -errno. */
static int list(struct es_etcd_watch *w)
{
	struct es_etcd_range all;
	int r = es_etcd_get_all(w->lister, w->prefix, 0, &all);
	if (r < 0)
		return r;
	struct es_etcd_event *ev = all.n ? calloc(all.n, sizeof(*ev)) : NULL;
	if (all.n && !ev) {
		es_etcd_range_clear(&all);
		return -ENOMEM;
	}
	for (size_t i = 0; i < all.n; i++) {
		ev[i].type = ES_ETCD_EV_PUT;
		ev[i].kv = all.kvs[i]; /* borrowed: freed with all */
	}
	w->next_rev = all.revision + 1;
	deliver(w, ES_ETCD_WATCH_SNAPSHOT, ev, all.n, all.revision);
	free(ev);
	es_etcd_range_clear(&all);
	return 0;
}

/* One stream, from connect until it ends.  Returns why it ended (-errno). */
static int stream(struct es_etcd_watch *w)
{
	struct json_object *req = json_object_new_object(), *cr = json_object_new_object();
	if (!req || !cr || es_etcd_json_key(cr, w->prefix, true) < 0) {
		json_object_put(req);
		json_object_put(cr);
		return -ENOMEM;
	}
	char s[24];
	snprintf(s, sizeof(s), "%lld", (long long)w->next_rev);
	json_object_object_add(cr, "start_revision", json_object_new_string(s));
	json_object_object_add(cr, "progress_notify", json_object_new_boolean(1));
	json_object_object_add(req, "create_request", cr);
	const char *body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);

	char url[320];
	snprintf(url, sizeof(url), "%s/v3/watch", w->ep.url[w->cur]);
	CURL *c = w->easy;
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, w->headers);
	curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, stream_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)w->timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	/* a member whose machine vanishes sends no FIN: TCP keepalive notices */
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 2L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 1L);
	json_object_put(req);

	w->line.len = 0;
	w->line.overflow = false;
	w->created = false;
	w->compacted = false;
	w->stream_err = 0;
	curl_multi_add_handle(w->multi, c);
	int64_t started = es_now_ms();
	int err = 0;
	for (;;) {
		int running = 0;
		curl_multi_perform(w->multi, &running);
		if (!running)
			break;
		if (atomic_load(&w->stop) || atomic_exchange(&w->kick, false)) {
			err = -ECANCELED;
			break;
		}
		/* connected but never created: a member that hangs */
		if (!w->created && es_now_ms() - started > (int64_t)w->timeout_ms) {
			err = -ETIMEDOUT;
			break;
		}
		curl_multi_poll(w->multi, NULL, 0, 250, NULL);
	}
	if (!err) {
		int left;
		CURLMsg *m;
		CURLcode cc = CURLE_OK;
		while ((m = curl_multi_info_read(w->multi, &left)))
			if (m->msg == CURLMSG_DONE)
				cc = m->data.result;
		long status = 0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		if (w->stream_err)
			err = w->stream_err;
		else if (w->compacted)
			err = -ERANGE;
		else if (cc == CURLE_COULDNT_CONNECT)
			err = -ECONNREFUSED;
		else if (cc == CURLE_OPERATION_TIMEDOUT)
			err = -ETIMEDOUT;
		else if (status != 200 && status != 0)
			err = -EPROTO;
		else
			err = -ECONNRESET; /* the stream just ended: the member went away */
	}
	curl_multi_remove_handle(w->multi, c);
	if (w->compacted)
		err = -ERANGE;
	return err;
}

static void *watch_main(void *arg)
{
	struct es_etcd_watch *w = arg;
	int backoff = 0;
	while (!atomic_load(&w->stop)) {
		if (backoff && nap(w, backoff))
			backoff = 0;
		if (atomic_load(&w->stop))
			break;
		if (w->next_rev == 0) {
			int r = list(w);
			if (r < 0) {
				report_down(w, r);
				backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
				if (backoff > BACKOFF_MAX_MS)
					backoff = BACKOFF_MAX_MS;
				continue;
			}
		}
		int err = stream(w);
		if (atomic_load(&w->stop))
			break;
		if (err == -ERANGE) {
			/* compacted past where we were: start over from a listing */
			w->next_rev = 0;
			backoff = 0;
			continue;
		}
		bool was_created = w->created;
		if (err != -ECANCELED || !was_created) {
			/* not our own kick: this member failed us; another next time */
			w->cur = (w->cur + 1) % w->ep.n;
		}
		report_down(w, err);
		if (err == -ECANCELED) {
			backoff = 0; /* kicked: at once */
		} else {
			backoff = (was_created || !backoff) ? BACKOFF_MIN_MS : backoff * 2;
			if (backoff > BACKOFF_MAX_MS)
				backoff = BACKOFF_MAX_MS;
		}
	}
	return NULL;
}

struct es_etcd_watch *es_etcd_watch_new(const char *endpoints, unsigned timeout_ms, const char *prefix,
	int64_t start_rev, es_etcd_watch_fn *fn, void *arg)
{
	if (!prefix || !fn || start_rev < 0) {
		errno = EINVAL;
		return NULL;
	}
	int r = es_etcd_global_init();
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	struct es_etcd_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	r = es_etcd_endpoints_parse(endpoints, &w->ep);
	if (r < 0)
		goto err;
	r = -ENOMEM;
	w->prefix = strdup(prefix);
	w->timeout_ms = timeout_ms ? timeout_ms : ES_ETCD_TIMEOUT_MS;
	w->fn = fn;
	w->arg = arg;
	w->next_rev = start_rev;
	w->lister = es_etcd_new(endpoints, w->timeout_ms);
	w->multi = curl_multi_init();
	w->easy = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	struct curl_slist *h2 = h ? curl_slist_append(h, "Expect:") : NULL;
	/* gRPC metadata through the gateway: a member without a leader cancels
	 * the watch instead of leaving it silent (clientv3's WithRequireLeader) */
	w->headers = h2 ? curl_slist_append(h2, "Grpc-Metadata-hasleader: true") : NULL;
	if (!w->headers)
		curl_slist_free_all(h2 ? h2 : h);
	if (!w->prefix || !w->lister || !w->multi || !w->easy || !w->headers)
		goto err;
	atomic_init(&w->stop, false);
	atomic_init(&w->kick, false);
	r = -pthread_create(&w->thread, NULL, watch_main, w);
	if (r < 0)
		goto err;
	return w;
err:
	es_etcd_endpoints_clear(&w->ep);
	free(w->prefix);
	es_etcd_free(w->lister);
	if (w->easy)
		curl_easy_cleanup(w->easy);
	if (w->multi)
		curl_multi_cleanup(w->multi);
	curl_slist_free_all(w->headers);
	free(w);
	errno = -r;
	return NULL;
}

void es_etcd_watch_kick(struct es_etcd_watch *w)
{
	atomic_store(&w->kick, true);
	curl_multi_wakeup(w->multi);
}

void es_etcd_watch_free(struct es_etcd_watch *w)
{
	if (!w)
		return;
	atomic_store(&w->stop, true);
	curl_multi_wakeup(w->multi);
	pthread_join(w->thread, NULL);
	curl_easy_cleanup(w->easy);
	curl_multi_cleanup(w->multi);
	curl_slist_free_all(w->headers);
	es_etcd_free(w->lister);
	es_etcd_buf_clear(&w->line);
	es_etcd_endpoints_clear(&w->ep);
	free(w->prefix);
	free(w);
}
