/* SPDX-License-Identifier: MIT */
/*
 * etcd v3 over the JSON gateway: one POST per call, failover round the
 * endpoints within one deadline.  See etcd.h for the contract.
 */
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "etcd-private.h"

struct es_etcd {
	struct es_etcd_endpoints ep;
	size_t cur;             /* the endpoint that answered last */
	unsigned timeout_ms;
	CURL *curl;
	struct curl_slist *headers;
	struct es_etcd_buf body;
	struct es_etcd_stats st;
};

/* ---- shared helpers (etcd-private.h) ------------------------------------ */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_rc;

static void global_init_once(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
	if (global_rc == 0 && sodium_init() < 0)
		global_rc = -EIO;
}

int es_etcd_global_init(void)
{
	pthread_once(&global_once, global_init_once);
	return global_rc;
}

void es_etcd_endpoints_clear(struct es_etcd_endpoints *ep)
{
	for (size_t i = 0; i < ep->n; i++)
		free(ep->url[i]);
	ep->n = 0;
}

int es_etcd_endpoints_parse(const char *s, struct es_etcd_endpoints *out)
{
	memset(out, 0, sizeof(*out));
	if (!s)
		return -EINVAL;
	const char *p = s;
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		const char *q = p;
		while (*q && *q != ',' && *q != ' ')
			q++;
		size_t len = (size_t)(q - p);
		/* http://h:p at least; no path, no TLS (the gateway over TLS would
		 * need certificates this project does not manage yet) */
		if (out->n == ES_ETCD_MAX_ENDPOINTS || len < 10 || len > 255 || strncmp(p, "http://", 7) != 0 ||
		    memchr(p + 7, '/', len - 7) || !memchr(p + 7, ':', len - 7)) {
			es_etcd_endpoints_clear(out);
			return -EINVAL;
		}
		out->url[out->n] = strndup(p, len);
		if (!out->url[out->n]) {
			es_etcd_endpoints_clear(out);
			return -ENOMEM;
		}
		out->n++;
		p = q;
	}
	return out->n ? 0 : -EINVAL;
}

struct json_object *es_etcd_json_b64(const void *buf, size_t len)
{
	size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char *s = malloc(cap);
	if (!s)
		return NULL;
	sodium_bin2base64(s, cap, buf, len, sodium_base64_VARIANT_ORIGINAL);
	struct json_object *o = json_object_new_string(s);
	free(s);
	return o;
}

int es_etcd_unb64(const char *s, char **out, size_t *len)
{
	size_t slen = strlen(s);
	char *b = malloc(slen / 4 * 3 + 4);
	if (!b)
		return -ENOMEM;
	size_t n = 0;
	const char *end = NULL;
	if (sodium_base642bin((unsigned char *)b, slen / 4 * 3 + 3, s, slen, NULL, &n, &end,
			sodium_base64_VARIANT_ORIGINAL) != 0 || end != s + slen) {
		free(b);
		return -EBADMSG;
	}
	b[n] = 0;
	*out = b;
	*len = n;
	return 0;
}

size_t es_etcd_prefix_end(const char *prefix, size_t plen, char *out)
{
	memcpy(out, prefix, plen);
	while (plen > 0) {
		unsigned char c = (unsigned char)out[plen - 1];
		if (c < 0xff) {
			out[plen - 1] = (char)(c + 1);
			return plen;
		}
		plen--;
	}
	return 0;
}

int es_etcd_json_key(struct json_object *req, const char *key, bool prefix)
{
	size_t klen = strlen(key);
	struct json_object *k = es_etcd_json_b64(key, klen);
	if (!k)
		return -ENOMEM;
	json_object_object_add(req, "key", k);
	if (!prefix)
		return 0;
	char *end = malloc(klen + 1);
	if (!end)
		return -ENOMEM;
	size_t elen = es_etcd_prefix_end(key, klen, end);
	struct json_object *r;
	if (elen == 0) {
		end[0] = 0;
		r = es_etcd_json_b64(end, 1);
	} else {
		r = es_etcd_json_b64(end, elen);
	}
	free(end);
	if (!r)
		return -ENOMEM;
	json_object_object_add(req, "range_end", r);
	return 0;
}

int64_t es_etcd_json_i64(struct json_object *o, const char *field)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, field, &v))
		return 0;
	/* json-c parses a string field as an int64 too */
	return json_object_get_int64(v);
}

bool es_etcd_json_bool(struct json_object *o, const char *field)
{
	struct json_object *v;
	return o && json_object_object_get_ex(o, field, &v) && json_object_get_boolean(v);
}

void es_etcd_kv_clear(struct es_etcd_kv *kv)
{
	if (!kv)
		return;
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

int es_etcd_kv_parse(struct json_object *o, struct es_etcd_kv *kv)
{
	memset(kv, 0, sizeof(*kv));
	struct json_object *k, *v;
	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "key", &k) ||
	    !json_object_is_type(k, json_type_string))
		return -EBADMSG;
	size_t klen;
	int r = es_etcd_unb64(json_object_get_string(k), &kv->key, &klen);
	if (r < 0)
		return r;
	if (strlen(kv->key) != klen) { /* a NUL inside a key: not one of ours */
		es_etcd_kv_clear(kv);
		return -EBADMSG;
	}
	if (json_object_object_get_ex(o, "value", &v)) {
		if (!json_object_is_type(v, json_type_string)) {
			es_etcd_kv_clear(kv);
			return -EBADMSG;
		}
		r = es_etcd_unb64(json_object_get_string(v), &kv->value, &kv->value_len);
		if (r < 0) {
			es_etcd_kv_clear(kv);
			return r;
		}
	} else {
		kv->value = calloc(1, 1);
		if (!kv->value) {
			es_etcd_kv_clear(kv);
			return -ENOMEM;
		}
	}
	kv->create_rev = es_etcd_json_i64(o, "create_revision");
	kv->mod_rev = es_etcd_json_i64(o, "mod_revision");
	kv->version = es_etcd_json_i64(o, "version");
	kv->lease = es_etcd_json_i64(o, "lease");
	return 0;
}

void es_etcd_range_clear(struct es_etcd_range *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		es_etcd_kv_clear(&r->kvs[i]);
	free(r->kvs);
	memset(r, 0, sizeof(*r));
}

int es_etcd_range_parse(struct json_object *o, struct es_etcd_range *r)
{
	memset(r, 0, sizeof(*r));
	struct json_object *hdr, *kvs;
	if (json_object_object_get_ex(o, "header", &hdr))
		r->revision = es_etcd_json_i64(hdr, "revision");
	r->count = es_etcd_json_i64(o, "count");
	r->more = es_etcd_json_bool(o, "more");
	if (!json_object_object_get_ex(o, "kvs", &kvs))
		return 0;
	if (!json_object_is_type(kvs, json_type_array))
		return -EBADMSG;
	size_t n = json_object_array_length(kvs);
	if (n == 0)
		return 0;
	r->kvs = calloc(n, sizeof(*r->kvs));
	if (!r->kvs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int e = es_etcd_kv_parse(json_object_array_get_idx(kvs, i), &r->kvs[i]);
		if (e < 0) {
			es_etcd_range_clear(r);
			return e;
		}
		r->n = i + 1;
	}
	return 0;
}

int es_etcd_grpc_errno(int64_t code)
{
	switch (code) {
	case 1: return -ECANCELED;
	case 3: return -EINVAL;
	case 4: return -ETIMEDOUT;      /* "etcdserver: request timed out": may have been applied */
	case 5: return -ENOENT;
	case 6: return -EEXIST;
	case 7: return -EACCES;
	case 8: return -ENOSPC;
	case 11: return -ERANGE;
	case 12: return -ENOSYS;
	case 14: return -EAGAIN;        /* unavailable: no leader, leader changed, stopping */
	case 16: return -EACCES;
	default: return -EPROTO;
	}
}

bool es_etcd_unreachable(int err)
{
	switch (err) {
	case -ECONNREFUSED: case -ETIMEDOUT: case -ECONNRESET: case -EHOSTUNREACH:
	case -EAGAIN: case -ENETUNREACH: case -EIO:
		return true;
	default:
		return false;
	}
}

size_t es_etcd_buf_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct es_etcd_buf *b = arg;
	size_t n = size * nmemb;
	if (b->len + n + 1 > ES_ETCD_BODY_MAX) {
		b->overflow = true;
		return 0; /* curl stops the transfer: CURLE_WRITE_ERROR */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	b->p[b->len] = 0;
	return n;
}

void es_etcd_buf_clear(struct es_etcd_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* ---- the client --------------------------------------------------------- */

struct es_etcd *es_etcd_new(const char *endpoints, unsigned timeout_ms)
{
	int r = es_etcd_global_init();
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	struct es_etcd *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	r = es_etcd_endpoints_parse(endpoints, &e->ep);
	if (r < 0) {
		free(e);
		errno = -r;
		return NULL;
	}
	e->timeout_ms = timeout_ms ? timeout_ms : ES_ETCD_TIMEOUT_MS;
	e->curl = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	/* libcurl would wait up to a second for "100 Continue" before sending a
	 * body over 1 KB (a batch of seats); the gateway never asks for it */
	if (h)
		e->headers = curl_slist_append(h, "Expect:");
	if (!e->curl || !e->headers) {
		if (!e->headers)
			curl_slist_free_all(h);
		es_etcd_free(e);
		errno = ENOMEM;
		return NULL;
	}
	return e;
}

void es_etcd_free(struct es_etcd *e)
{
	if (!e)
		return;
	if (e->curl)
		curl_easy_cleanup(e->curl);
	curl_slist_free_all(e->headers);
	es_etcd_buf_clear(&e->body);
	es_etcd_endpoints_clear(&e->ep);
	free(e);
}

void es_etcd_set_timeout(struct es_etcd *e, unsigned timeout_ms)
{
	e->timeout_ms = timeout_ms ? timeout_ms : ES_ETCD_TIMEOUT_MS;
}

const char *es_etcd_endpoint(const struct es_etcd *e)
{
	return e->ep.url[e->cur];
}

void es_etcd_get_stats(const struct es_etcd *e, struct es_etcd_stats *st)
{
	*st = e->st;
}

static int curl_errno(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST: return -EHOSTUNREACH;
	case CURLE_OUT_OF_MEMORY: return -ENOMEM;
	case CURLE_GOT_NOTHING: case CURLE_RECV_ERROR: case CURLE_SEND_ERROR: case CURLE_PARTIAL_FILE:
		return -ECONNRESET;
	default: return -EIO;
	}
}

/*
 * One HTTP answer into *out (200) or an -errno.  An error answer from the
 * gateway is {"error": "...", "code": N, "message": "..."}.
 */
static int answer(struct es_etcd *e, long status, struct json_object **out)
{
	if (e->body.overflow)
		return -EBADMSG;
	struct json_object *o = e->body.len ? json_tokener_parse(e->body.p) : NULL;
	if (status == 200) {
		if (!o || !json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			return -EBADMSG;
		}
		*out = o;
		return 0;
	}
	int r;
	struct json_object *c;
	if (o && json_object_object_get_ex(o, "code", &c))
		r = es_etcd_grpc_errno(json_object_get_int64(c));
	else if (status == 503 || status == 502)
		r = -EAGAIN;
	else
		r = -EPROTO;
	json_object_put(o);
	return r;
}

/*
 * POST req to path on the endpoints in turn until one answers or the
 * deadline passes.  On 0, *out is the parsed answer (the caller puts it).
 *
 * The order of attempts: the endpoint that answered last, then the others
 * round the list.  A refused or reset connection moves on at once.  An
 * "unavailable" answer (a member without a leader, mid-election) also
 * moves on; when a whole round saw only such answers and time is left, the
 * next round starts after a short pause, because an election ends within
 * about one election timeout.  If every endpoint refused the connection,
 * the call fails at once: nothing is listening, waiting will not help.
 */
static int call(struct es_etcd *e, const char *path, struct json_object *req, bool write,
	struct json_object **out)
{
	*out = NULL;
	e->st.calls++;
	if (write)
		e->st.writes++;
	const char *body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	if (!body)
		return -ENOMEM;
	int64_t deadline = es_now_ms() + e->timeout_ms;
	int err = -ETIMEDOUT;
	int soft = 0; /* the first failure that was not a refused connection */
	size_t n = e->ep.n;
	char url[320];
	for (unsigned round = 0; round < 32; round++) {
		bool retry_round = false;
		for (size_t i = 0; i < n; i++) {
			int64_t left = deadline - es_now_ms();
			if (left <= 0)
				goto out_unreachable;
			/* leave room for another member unless this is the last one to try */
			int64_t attempt = (i + 1 < n) ? left / 2 : left;
			if (attempt < 20)
				attempt = left < 20 ? left : 20;
			size_t k = e->cur;
			snprintf(url, sizeof(url), "%s%s", e->ep.url[k], path);
			e->body.len = 0;
			e->body.overflow = false;
			CURL *c = e->curl;
			curl_easy_setopt(c, CURLOPT_URL, url);
			curl_easy_setopt(c, CURLOPT_HTTPHEADER, e->headers);
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
			curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, es_etcd_buf_write);
			curl_easy_setopt(c, CURLOPT_WRITEDATA, &e->body);
			curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)attempt);
			curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)attempt);
			curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
			curl_easy_setopt(c, CURLOPT_PROXY, ""); /* never an http_proxy from the environment */
			e->st.attempts++;
			CURLcode cc = curl_easy_perform(c);
			if (cc == CURLE_OK) {
				long status = 0;
				curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
				err = answer(e, status, out);
				if (err != -EAGAIN) {
					if (err < 0 && !es_etcd_unreachable(err))
						e->st.errors++;
					if (err == -ETIMEDOUT)
						e->st.unreachable++;
					return err;
				}
				retry_round = true;
			} else {
				err = curl_errno(cc);
				if (err == -ENOMEM)
					return err;
			}
			if (err != -ECONNREFUSED && !soft)
				soft = err;
			/* this member did not serve us: the next one, from now on */
			e->cur = (e->cur + 1) % n;
			e->st.failovers++;
		}
		if (!retry_round)
			break;
		int64_t left = deadline - es_now_ms();
		if (left <= 30)
			break;
		struct timespec ts = { 0, 25 * 1000000L };
		nanosleep(&ts, NULL);
	}
out_unreachable:
	e->st.unreachable++;
	/* -ECONNREFUSED only if nothing listened anywhere: a member that timed
	 * out or had no leader says etcd is there but busy (an election) */
	return soft ? soft : err;
}

/* An answer that arrived but does not parse is etcd's error too: counted. */
static int bad(struct es_etcd *e, int r)
{
	if (r == -EBADMSG)
		e->st.errors++;
	return r;
}

static struct json_object *new_req(void)
{
	return json_object_new_object();
}

static void add_i64(struct json_object *o, const char *field, int64_t v)
{
	char s[24];
	snprintf(s, sizeof(s), "%lld", (long long)v);
	json_object_object_add(o, field, json_object_new_string(s));
}

int es_etcd_lease_grant(struct es_etcd *e, int64_t ttl_s, int64_t *id, int64_t *granted_ttl)
{
	if (ttl_s <= 0)
		return -EINVAL;
	struct json_object *req = new_req(), *resp;
	if (!req)
		return -ENOMEM;
	add_i64(req, "TTL", ttl_s);
	int r = call(e, "/v3/lease/grant", req, true, &resp);
	json_object_put(req);
	if (r < 0)
		return r;
	*id = es_etcd_json_i64(resp, "ID");
	if (granted_ttl)
		*granted_ttl = es_etcd_json_i64(resp, "TTL");
	r = bad(e, *id ? 0 : -EBADMSG);
	json_object_put(resp);
	return r;
}

int es_etcd_lease_keepalive(struct es_etcd *e, int64_t id, int64_t *ttl)
{
	struct json_object *req = new_req(), *resp;
	if (!req)
		return -ENOMEM;
	add_i64(req, "ID", id);
	/* a bidirectional stream in gRPC; one request body is one renewal */
	int r = call(e, "/v3/lease/keepalive", req, false, &resp);
	json_object_put(req);
	if (r < 0)
		return r;
	struct json_object *res;
	if (!json_object_object_get_ex(resp, "result", &res)) {
		json_object_put(resp);
		return bad(e, -EBADMSG);
	}
	int64_t t = es_etcd_json_i64(res, "TTL");
	json_object_put(resp);
	if (ttl)
		*ttl = t;
	return t > 0 ? 0 : -ENOENT; /* an expired or unknown lease is renewed to TTL 0 */
}

int es_etcd_lease_revoke(struct es_etcd *e, int64_t id)
{
	struct json_object *req = new_req(), *resp;
	if (!req)
		return -ENOMEM;
	add_i64(req, "ID", id);
	int r = call(e, "/v3/lease/revoke", req, true, &resp);
	json_object_put(req);
	if (r < 0)
		return r;
	json_object_put(resp);
	return 0;
}

static int put_fields(struct json_object *req, const char *key, const void *value, size_t len, int64_t lease)
{
	if (es_etcd_json_key(req, key, false) < 0)
		return -ENOMEM;
	struct json_object *v = es_etcd_json_b64(value ? value : "", value ? len : 0);
	if (!v)
		return -ENOMEM;
	json_object_object_add(req, "value", v);
	if (lease)
		add_i64(req, "lease", lease);
	return 0;
}

int es_etcd_put(struct es_etcd *e, const char *key, const void *value, size_t len, int64_t lease, int64_t *rev)
{
	if (!key || !*key)
		return -EINVAL;
	struct json_object *req = new_req(), *resp;
	if (!req)
		return -ENOMEM;
	int r = put_fields(req, key, value, len, lease);
	if (r == 0)
		r = call(e, "/v3/kv/put", req, true, &resp);
	json_object_put(req);
	if (r < 0)
		return r;
	if (rev) {
		struct json_object *hdr;
		*rev = json_object_object_get_ex(resp, "header", &hdr) ? es_etcd_json_i64(hdr, "revision") : 0;
	}
	json_object_put(resp);
	return 0;
}

static int range_fields(struct json_object *req, const char *key, bool prefix, int64_t rev, int64_t limit)
{
	if (es_etcd_json_key(req, key, prefix) < 0)
		return -ENOMEM;
	if (rev)
		add_i64(req, "revision", rev);
	if (limit)
		add_i64(req, "limit", limit);
	return 0;
}

int es_etcd_get(struct es_etcd *e, const char *key, bool prefix, int64_t rev, int64_t limit,
	struct es_etcd_range *out)
{
	memset(out, 0, sizeof(*out));
	if (!key || (!prefix && !*key))
		return -EINVAL;
	struct json_object *req = new_req(), *resp;
	if (!req)
		return -ENOMEM;
	int r = range_fields(req, key, prefix, rev, limit);
	if (r == 0)
		r = call(e, "/v3/kv/range", req, false, &resp);
	json_object_put(req);
	if (r < 0)
		return r;
	r = bad(e, es_etcd_range_parse(resp, out));
	json_object_put(resp);
	return r < 0 ? r : (int)out->n;
}

/* One page of [from, end) (raw bytes; elen 0: to the end of the keyspace). */
static int range_page(struct es_etcd *e, const char *from, size_t flen, const char *end, size_t elen,
	int64_t rev, int64_t limit, struct es_etcd_range *pg)
{
	struct json_object *req = new_req(), *resp;
	struct json_object *k = es_etcd_json_b64(from, flen);
	struct json_object *re = elen ? es_etcd_json_b64(end, elen) : es_etcd_json_b64("", 1);
	if (!req || !k || !re) {
		json_object_put(req);
		json_object_put(k);
		json_object_put(re);
		return -ENOMEM;
	}
	json_object_object_add(req, "key", k);
	json_object_object_add(req, "range_end", re);
	add_i64(req, "limit", limit);
	if (rev)
		add_i64(req, "revision", rev);
	int r = call(e, "/v3/kv/range", req, false, &resp);
	json_object_put(req);
	if (r < 0)
		return r;
	r = bad(e, es_etcd_range_parse(resp, pg));
	json_object_put(resp);
	return r;
}

int es_etcd_get_all(struct es_etcd *e, const char *prefix, size_t page, struct es_etcd_range *out)
{
	memset(out, 0, sizeof(*out));
	if (!page)
		page = 500;
	size_t plen = strlen(prefix);
	char *end = malloc(plen + 1);
	char *from = malloc(plen + 1);
	if (!end || !from) {
		free(end);
		free(from);
		return -ENOMEM;
	}
	size_t elen = es_etcd_prefix_end(prefix, plen, end);
	memcpy(from, prefix, plen);
	size_t flen = plen;
	struct es_etcd_range acc = { 0 };
	int r;
	for (;;) {
		/* every page at the first page's revision: one consistent picture */
		struct es_etcd_range pg;
		r = range_page(e, from, flen, end, elen, acc.revision, (int64_t)page, &pg);
		if (r < 0)
			break;
		if (!acc.revision)
			acc.revision = pg.revision;
		if (pg.n) {
			struct es_etcd_kv *kvs = realloc(acc.kvs, (acc.n + pg.n) * sizeof(*kvs));
			if (!kvs) {
				es_etcd_range_clear(&pg);
				r = -ENOMEM;
				break;
			}
			acc.kvs = kvs;
			memcpy(acc.kvs + acc.n, pg.kvs, pg.n * sizeof(*kvs));
			acc.n += pg.n;
			/* the next page starts just after the last key: that key
			 * followed by one zero byte is the smallest key above it */
			const char *last = acc.kvs[acc.n - 1].key;
			size_t ll = strlen(last);
			char *nf = realloc(from, ll + 1);
			if (!nf) {
				free(pg.kvs);
				r = -ENOMEM;
				break;
			}
			from = nf;
			memcpy(from, last, ll);
			from[ll] = 0;
			flen = ll + 1;
		}
		bool more = pg.more && pg.n;
		free(pg.kvs); /* the kvs themselves now belong to acc */
		if (!more)
			break;
	}
	free(from);
	free(end);
	if (r < 0) {
		es_etcd_range_clear(&acc);
		return r;
	}
	acc.count = (int64_t)acc.n;
	*out = acc;
	return (int)acc.n;
}

int es_etcd_delete(struct es_etcd *e, const char *key, bool prefix, int64_t *rev)
{
	if (!key || (!prefix && !*key))
		return -EINVAL;
	struct json_object *req = new_req(), *resp;
	if (!req)
		return -ENOMEM;
	int r = es_etcd_json_key(req, key, prefix) < 0 ? -ENOMEM : 0;
	if (r == 0)
		r = call(e, "/v3/kv/deleterange", req, true, &resp);
	json_object_put(req);
	if (r < 0)
		return r;
	struct json_object *hdr;
	if (rev)
		*rev = json_object_object_get_ex(resp, "header", &hdr) ? es_etcd_json_i64(hdr, "revision") : 0;
	int64_t n = es_etcd_json_i64(resp, "deleted");
	json_object_put(resp);
	return n > INT32_MAX ? INT32_MAX : (int)n;
}

int es_etcd_compact(struct es_etcd *e, int64_t rev)
{
	struct json_object *req = new_req(), *resp;
	if (!req)
		return -ENOMEM;
	add_i64(req, "revision", rev);
	int r = call(e, "/v3/kv/compaction", req, true, &resp);
	json_object_put(req);
	if (r < 0)
		return r;
	json_object_put(resp);
	return 0;
}

/* ---- transactions ------------------------------------------------------- */

static const char *target_name[] = {
	[ES_ETCD_CREATE] = "CREATE", [ES_ETCD_MOD] = "MOD", [ES_ETCD_VERSION] = "VERSION",
	[ES_ETCD_VALUE] = "VALUE", [ES_ETCD_LEASE] = "LEASE",
};
static const char *target_field[] = {
	[ES_ETCD_CREATE] = "create_revision", [ES_ETCD_MOD] = "mod_revision", [ES_ETCD_VERSION] = "version",
	[ES_ETCD_VALUE] = "value", [ES_ETCD_LEASE] = "lease",
};
static const char *cmp_name[] = {
	[ES_ETCD_EQ] = "EQUAL", [ES_ETCD_NE] = "NOT_EQUAL", [ES_ETCD_LT] = "LESS", [ES_ETCD_GT] = "GREATER",
};

static struct json_object *txn_ops(const struct es_etcd_op *ops, size_t n)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; a && i < n; i++) {
		const struct es_etcd_op *op = &ops[i];
		struct json_object *o = json_object_new_object(), *inner = json_object_new_object();
		int r = (o && inner && op->key) ? 0 : -EINVAL;
		if (r == 0) {
			switch (op->type) {
			case ES_ETCD_OP_GET:
				r = range_fields(inner, op->key, op->prefix, 0, 0);
				json_object_object_add(o, "request_range", inner);
				break;
			case ES_ETCD_OP_PUT:
				r = put_fields(inner, op->key, op->value, op->value_len, op->lease);
				json_object_object_add(o, "request_put", inner);
				break;
			case ES_ETCD_OP_DELETE:
				r = es_etcd_json_key(inner, op->key, op->prefix);
				json_object_object_add(o, "request_delete_range", inner);
				break;
			default:
				r = -EINVAL;
				json_object_put(inner);
			}
			inner = NULL;
		}
		json_object_put(inner);
		if (r < 0) {
			json_object_put(o);
			json_object_put(a);
			return NULL;
		}
		json_object_array_add(a, o);
	}
	return a;
}

void es_etcd_txn_result_clear(struct es_etcd_txn_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		es_etcd_range_clear(&r->r[i].range);
	free(r->r);
	memset(r, 0, sizeof(*r));
}

static int txn_parse(struct json_object *resp, const struct es_etcd_op *ops, size_t nops,
	struct es_etcd_txn_result *res)
{
	struct json_object *hdr, *rs;
	if (json_object_object_get_ex(resp, "header", &hdr))
		res->revision = es_etcd_json_i64(hdr, "revision");
	res->succeeded = es_etcd_json_bool(resp, "succeeded");
	if (!json_object_object_get_ex(resp, "responses", &rs))
		return nops == 0 ? 0 : -EBADMSG;
	if (!json_object_is_type(rs, json_type_array) || json_object_array_length(rs) != nops)
		return -EBADMSG;
	res->r = calloc(nops ? nops : 1, sizeof(*res->r));
	if (!res->r)
		return -ENOMEM;
	res->n = nops;
	for (size_t i = 0; i < nops; i++) {
		struct json_object *o = json_object_array_get_idx(rs, i), *v;
		res->r[i].type = ops[i].type;
		if (ops[i].type == ES_ETCD_OP_GET) {
			if (!json_object_object_get_ex(o, "response_range", &v))
				return -EBADMSG;
			int e = es_etcd_range_parse(v, &res->r[i].range);
			if (e < 0)
				return e;
		} else if (ops[i].type == ES_ETCD_OP_DELETE) {
			if (!json_object_object_get_ex(o, "response_delete_range", &v))
				return -EBADMSG;
			res->r[i].deleted = es_etcd_json_i64(v, "deleted");
		}
	}
	return 0;
}

int es_etcd_txn(struct es_etcd *e, const struct es_etcd_txn *t, struct es_etcd_txn_result *res)
{
	if (res)
		memset(res, 0, sizeof(*res));
	if (t->n_success > ES_ETCD_MAX_TXN_OPS || t->n_failure > ES_ETCD_MAX_TXN_OPS)
		return -E2BIG;
	struct json_object *req = new_req(), *cmps = json_object_new_array(), *resp;
	int r = (req && cmps) ? 0 : -ENOMEM;
	for (size_t i = 0; r == 0 && i < t->n_cmp; i++) {
		const struct es_etcd_cmp *c = &t->cmp[i];
		struct json_object *o = json_object_new_object();
		if (!o || !c->key || (unsigned)c->target > ES_ETCD_LEASE || (unsigned)c->op > ES_ETCD_GT) {
			json_object_put(o);
			r = o ? -EINVAL : -ENOMEM;
			break;
		}
		json_object_array_add(cmps, o);
		if (es_etcd_json_key(o, c->key, false) < 0) {
			r = -ENOMEM;
			break;
		}
		json_object_object_add(o, "target", json_object_new_string(target_name[c->target]));
		json_object_object_add(o, "result", json_object_new_string(cmp_name[c->op]));
		if (c->target == ES_ETCD_VALUE) {
			struct json_object *v = es_etcd_json_b64(c->value ? c->value : "", c->value ? c->value_len : 0);
			if (!v) {
				r = -ENOMEM;
				break;
			}
			json_object_object_add(o, "value", v);
		} else {
			add_i64(o, target_field[c->target], c->number);
		}
	}
	if (r == 0) {
		json_object_object_add(req, "compare", cmps);
		cmps = NULL;
		struct json_object *s = txn_ops(t->success, t->n_success);
		struct json_object *f = txn_ops(t->failure, t->n_failure);
		if (!s || !f) {
			json_object_put(s);
			json_object_put(f);
			r = -EINVAL;
		} else {
			json_object_object_add(req, "success", s);
			json_object_object_add(req, "failure", f);
			r = call(e, "/v3/kv/txn", req, true, &resp);
		}
	}
	json_object_put(cmps);
	json_object_put(req);
	if (r < 0)
		return r;
	struct es_etcd_txn_result tmp = { 0 };
	struct es_etcd_txn_result *out = res ? res : &tmp;
	out->succeeded = es_etcd_json_bool(resp, "succeeded");
	bool ok = out->succeeded;
	r = bad(e, txn_parse(resp, ok ? t->success : t->failure, ok ? t->n_success : t->n_failure, out));
	json_object_put(resp);
	if (r < 0) {
		es_etcd_txn_result_clear(out);
		return r;
	}
	if (!res)
		es_etcd_txn_result_clear(&tmp);
	return ok ? 1 : 0;
}
