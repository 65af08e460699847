/* SPDX-License-Identifier: MIT */
/*
 * Stateless connect cookies (ENet's side of the CONNECT they ride in is
 * read in enet-wire.c).
 *
 * Raw datagrams (not ENet):
 *   request  "ESCK" 0x01 ver nonce[8] zero[48]          64 bytes
 *   reply    "ESCK" 0x02 ver nonce[8] cookie u32 LE     18 bytes
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "earshot-crypto.h"
#include "wire.h"

#define COOKIE_VERSION 1
enum { KIND_REQUEST = 1, KIND_REPLY = 2 };

static const uint8_t magic[4] = { 'E', 'S', 'C', 'K' };

bool es_cookie_is_raw(const uint8_t *buf, size_t len)
{
	return len >= sizeof(magic) && memcmp(buf, magic, sizeof(magic)) == 0;
}

static void wr_head(struct es_wr *w, uint8_t kind, const uint8_t nonce[static ES_COOKIE_NONCE_LEN])
{
	es_wr_bytes(w, magic, sizeof(magic));
	es_wr_u8(w, kind);
	es_wr_u8(w, COOKIE_VERSION);
	es_wr_bytes(w, nonce, ES_COOKIE_NONCE_LEN);
}

/* Check magic, kind and version; return the nonce pointer or NULL. */
static const uint8_t *rd_head(struct es_rd *r, uint8_t kind)
{
	const uint8_t *m = es_rd_take(r, sizeof(magic));
	uint8_t k = es_rd_u8(r);
	uint8_t v = es_rd_u8(r);
	const uint8_t *nonce = es_rd_take(r, ES_COOKIE_NONCE_LEN);
	if (r->bad || memcmp(m, magic, sizeof(magic)) != 0 || k != kind || v != COOKIE_VERSION)
		return NULL;
	return nonce;
}

int es_cookie_request_build(const uint8_t nonce[static ES_COOKIE_NONCE_LEN], uint8_t *out, size_t cap)
{
	struct es_wr w;

	if (cap < ES_COOKIE_REQUEST_LEN)
		return -ENOSPC;
	es_wr_init(&w, out, cap);
	wr_head(&w, KIND_REQUEST, nonce);
	size_t pad = ES_COOKIE_REQUEST_LEN - w.len;
	memset(es_wr_take(&w, pad), 0, pad); /* cannot fail: cap checked */
	return (int)w.len;
}

int es_cookie_request_parse(const uint8_t *buf, size_t len, uint8_t nonce[static ES_COOKIE_NONCE_LEN])
{
	struct es_rd r;

	if (len != ES_COOKIE_REQUEST_LEN)
		return -EBADMSG;
	es_rd_init(&r, buf, len);
	const uint8_t *n = rd_head(&r, KIND_REQUEST);
	if (!n)
		return -EBADMSG;
	/* Padding must be zero so that the format can grow later. */
	for (size_t i = 0; i < r.left; i++)
		if (r.p[i])
			return -EBADMSG;
	memcpy(nonce, n, ES_COOKIE_NONCE_LEN);
	return 0;
}

int es_cookie_reply_build(const uint8_t nonce[static ES_COOKIE_NONCE_LEN], uint32_t cookie,
		uint8_t *out, size_t cap)
{
	struct es_wr w;

	es_wr_init(&w, out, cap);
	wr_head(&w, KIND_REPLY, nonce);
	es_wr_u32(&w, cookie);
	return w.bad ? -ENOSPC : (int)w.len;
}

int es_cookie_reply_parse(const uint8_t *buf, size_t len, const uint8_t nonce[static ES_COOKIE_NONCE_LEN],
		uint32_t *cookie)
{
	struct es_rd r;

	if (len != ES_COOKIE_REPLY_LEN)
		return -EBADMSG;
	es_rd_init(&r, buf, len);
	const uint8_t *n = rd_head(&r, KIND_REPLY);
	uint32_t c = es_rd_u32(&r);
	if (!n || r.bad || sodium_memcmp(n, nonce, ES_COOKIE_NONCE_LEN) != 0)
		return -EBADMSG;
	*cookie = c;
	return 0;
}

uint32_t es_cookie_make(const uint8_t secret[static ES_COOKIE_SECRET_LEN], uint32_t ipv4, uint16_t port, uint64_t slot)
{
	static const char label[] = "earshot cookie v1";
	uint8_t in[sizeof(label) + 4 + 2 + 8], mac[16];
	struct es_wr w;

	/* Fixed-length input: label, address bytes as on the wire, port,
	 * slot.  Keyed BLAKE2b is a PRF; 32 bits is what ENet's data
	 * field carries, enough against blind spoofing. */
	es_wr_init(&w, in, sizeof(in));
	es_wr_bytes(&w, label, sizeof(label));
	es_wr_bytes(&w, &ipv4, 4);
	es_wr_u16(&w, port);
	es_wr_u64(&w, slot);
	crypto_generichash(mac, sizeof(mac), in, sizeof(in), secret, ES_COOKIE_SECRET_LEN);
	return (uint32_t)mac[0] | (uint32_t)mac[1] << 8 | (uint32_t)mac[2] << 16 | (uint32_t)mac[3] << 24;
}

int es_cookie_check(const uint8_t secret[static ES_COOKIE_SECRET_LEN], uint32_t ipv4, uint16_t port,
		uint64_t slot, uint32_t cookie)
{
	uint32_t cur = es_cookie_make(secret, ipv4, port, slot);
	uint32_t prev = es_cookie_make(secret, ipv4, port, slot - 1);
	/* Both always computed and compared: no timing hint of which slot. */
	int a = sodium_memcmp(&cur, &cookie, sizeof(cookie));
	int b = sodium_memcmp(&prev, &cookie, sizeof(cookie));
	return ((a == 0) | (b == 0)) ? 0 : -EACCES;
}
