/* SPDX-License-Identifier: MIT */
/* What etcd.c and etcd-watch.c share: endpoints, base64, the gateway's JSON. */
#ifndef EARSHOT_ETCD_PRIVATE_H
#define EARSHOT_ETCD_PRIVATE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd.h"

struct es_etcd_endpoints {
	char *url[ES_ETCD_MAX_ENDPOINTS];
	size_t n;
};

/* Split "http://a:1,http://b:2" (spaces around commas allowed).  0 or -EINVAL/-ENOMEM. */
int es_etcd_endpoints_parse(const char *s, struct es_etcd_endpoints *out);
void es_etcd_endpoints_clear(struct es_etcd_endpoints *ep);

/* Base64 (standard alphabet, padded) of len bytes: a json string object, or NULL. */
struct json_object *es_etcd_json_b64(const void *buf, size_t len);
/* Decode a base64 JSON string into a malloc'd, NUL-terminated buffer.  0 or -EBADMSG/-ENOMEM. */
int es_etcd_unb64(const char *s, char **out, size_t *len);

/* The range end of every key under prefix (plen bytes): written to out
 * (plen bytes of room); returns its length, 0 meaning "every key" (etcd's
 * "\0", which the caller sends as one zero byte). */
size_t es_etcd_prefix_end(const char *prefix, size_t plen, char *out);

/* Add "key" and "range_end" (for a prefix) to a request object.  0 or -ENOMEM. */
int es_etcd_json_key(struct json_object *req, const char *key, bool prefix);

/* A 64-bit field of o (the gateway sends them as strings, or leaves out zeros). */
int64_t es_etcd_json_i64(struct json_object *o, const char *field);
bool es_etcd_json_bool(struct json_object *o, const char *field);

/* Fill kv from a gateway "kv" object.  0 or -EBADMSG/-ENOMEM (kv is then cleared). */
int es_etcd_kv_parse(struct json_object *o, struct es_etcd_kv *kv);

/* A range answer ({"kvs": [...], "count", "more", "header"}) into *r.  0 or -errno. */
int es_etcd_range_parse(struct json_object *o, struct es_etcd_range *r);

/* The -errno for a gRPC status code in an error answer. */
int es_etcd_grpc_errno(int64_t code);

/* A growable byte buffer for curl's write callback, capped at ES_ETCD_BODY_MAX. */
#define ES_ETCD_BODY_MAX (64u << 20)
struct es_etcd_buf {
	char *p;
	size_t len, cap;
	bool overflow;
};
size_t es_etcd_buf_write(char *ptr, size_t size, size_t nmemb, void *arg);
void es_etcd_buf_clear(struct es_etcd_buf *b);

#endif
