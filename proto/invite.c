/* SPDX-License-Identifier: MIT */
/* Invite tokens and key fingerprints: text that people copy, paste and read. */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "earshot-crypto.h"
#include "earshot-proto.h"
#include "wire.h"

#define INVITE_VERSION 1
#define INVITE_VERSION_COMPANY 2 /* several daemons */
#define CHECK_LEN 4
#define PREFIX_LEN (sizeof(ES_INVITE_PREFIX) - 1)
_Static_assert(sizeof(ES_INVITE_PREFIX) == sizeof(ES_INVITE_PREFIX_V2), "one prefix length");
/* version, pub, secret, (port, host_len, host) x 8, n, name_len, name, check */
#define BIN_MAX (1 + ES_KEY_LEN + ES_INVITE_SECRET_LEN + ES_INVITE_ADDRS_MAX * (2 + 1 + ES_INVITE_HOST_MAX) + 1 + 1 + \
		 ES_INVITE_NAME_MAX + CHECK_LEN)

/* Hostname, IPv4 or bare IPv6 literal: letters, digits and ".-:". */
static bool host_ok(const char *h, size_t len)
{
	if (len == 0 || len > ES_INVITE_HOST_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
				c == '.' || c == '-' || c == ':'))
			return false;
	}
	return true;
}

/* Same rule as wire names (name.c). */
static bool name_ok(const char *n, size_t len)
{
	return len <= ES_INVITE_NAME_MAX && es_name_valid(n, len);
}

static void checksum(uint8_t out[static CHECK_LEN], const uint8_t *buf, size_t len)
{
	static const uint8_t key[] = "earshot invite v1";
	uint8_t h[16];

	crypto_generichash(h, sizeof(h), buf, len, key, sizeof(key) - 1);
	memcpy(out, h, CHECK_LEN);
}

int es_invite_encode(const struct es_invite *inv, char *out, size_t cap)
{
	uint8_t bin[BIN_MAX];
	struct es_wr w;
	int ret;

	size_t hlen = strnlen(inv->host, sizeof(inv->host));
	size_t nlen = strnlen(inv->name, sizeof(inv->name));
	if (!host_ok(inv->host, hlen) || !name_ok(inv->name, nlen) || inv->port == 0 ||
	    inv->nmore > ES_INVITE_ADDRS_MAX - 1)
		return -EINVAL;
	for (unsigned i = 0; i < inv->nmore; i++)
		if (!host_ok(inv->more[i].host, strnlen(inv->more[i].host, sizeof(inv->more[i].host))) ||
		    inv->more[i].port == 0)
			return -EINVAL;

	es_wr_init(&w, bin, sizeof(bin));
	es_wr_u8(&w, inv->nmore ? INVITE_VERSION_COMPANY : INVITE_VERSION);
	es_wr_bytes(&w, inv->server_pub, ES_KEY_LEN);
	es_wr_bytes(&w, inv->secret, ES_INVITE_SECRET_LEN);
	es_wr_u16(&w, inv->port);
	es_wr_u8(&w, (uint8_t)hlen);
	es_wr_bytes(&w, inv->host, hlen);
	if (inv->nmore) {
		es_wr_u8(&w, inv->nmore);
		for (unsigned i = 0; i < inv->nmore; i++) {
			size_t ml = strnlen(inv->more[i].host, sizeof(inv->more[i].host));
			es_wr_u16(&w, inv->more[i].port);
			es_wr_u8(&w, (uint8_t)ml);
			es_wr_bytes(&w, inv->more[i].host, ml);
		}
	}
	es_wr_u8(&w, (uint8_t)nlen);
	es_wr_bytes(&w, inv->name, nlen);
	uint8_t *check = es_wr_take(&w, CHECK_LEN);
	if (w.bad) { /* cannot happen: BIN_MAX covers the maxima */
		ret = -EINVAL;
		goto out;
	}
	checksum(check, bin, w.len - CHECK_LEN);

	size_t b64 = sodium_base64_ENCODED_LEN(w.len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	if (cap < PREFIX_LEN + b64) { /* b64 counts the NUL */
		ret = -ENOSPC;
		goto out;
	}
	memcpy(out, inv->nmore ? ES_INVITE_PREFIX_V2 : ES_INVITE_PREFIX, PREFIX_LEN);
	sodium_bin2base64(out + PREFIX_LEN, cap - PREFIX_LEN, bin, w.len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	ret = (int)strlen(out);
out:
	sodium_memzero(bin, sizeof(bin));
	return ret;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int es_invite_decode(struct es_invite *inv, const char *text, size_t len)
{
	uint8_t bin[BIN_MAX], check[CHECK_LEN];
	size_t blen;
	struct es_rd r;
	int ret = -EBADMSG;

	memset(inv, 0, sizeof(*inv));
	while (len && is_space(text[0])) {
		text++;
		len--;
	}
	while (len && is_space(text[len - 1]))
		len--;
	if (len <= PREFIX_LEN || len >= ES_INVITE_TEXT_MAX)
		return -EBADMSG;
	/* the prefix says the version, and the version byte must agree */
	unsigned version = memcmp(text, ES_INVITE_PREFIX, PREFIX_LEN) == 0	  ? INVITE_VERSION :
			   memcmp(text, ES_INVITE_PREFIX_V2, PREFIX_LEN) == 0 ? INVITE_VERSION_COMPANY :
										0;
	if (!version)
		return -EBADMSG;
	text += PREFIX_LEN;
	len -= PREFIX_LEN;
	/* sodium_base642bin wants the whole input to be base64: a stray
	 * character in the middle makes it fail (end pointer short of len). */
	const char *end;
	if (sodium_base642bin(bin, sizeof(bin), text, len, NULL, &blen, &end,
			sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 || end != text + len)
		goto out;
	if (blen < CHECK_LEN)
		goto out;
	checksum(check, bin, blen - CHECK_LEN);
	if (sodium_memcmp(check, bin + blen - CHECK_LEN, CHECK_LEN) != 0)
		goto out;

	es_rd_init(&r, bin, blen - CHECK_LEN);
	if (es_rd_u8(&r) != version)
		goto out;
	const uint8_t *pub = es_rd_take(&r, ES_KEY_LEN);
	const uint8_t *secret = es_rd_take(&r, ES_INVITE_SECRET_LEN);
	inv->port = es_rd_u16(&r);
	uint8_t hlen = es_rd_u8(&r);
	const char *host = (const char *)es_rd_take(&r, hlen);
	if (version == INVITE_VERSION_COMPANY) {
		uint8_t n = es_rd_u8(&r);
		if (r.bad || n == 0 || n > ES_INVITE_ADDRS_MAX - 1)
			goto out;
		for (unsigned i = 0; i < n; i++) {
			uint16_t port = es_rd_u16(&r);
			uint8_t ml = es_rd_u8(&r);
			const char *mh = (const char *)es_rd_take(&r, ml);
			if (r.bad || port == 0 || !host_ok(mh, ml))
				goto out;
			memcpy(inv->more[i].host, mh, ml);
			inv->more[i].port = port;
		}
		inv->nmore = n;
	}
	uint8_t nlen = es_rd_u8(&r);
	const char *name = (const char *)es_rd_take(&r, nlen);
	if (r.bad || r.left != 0 || inv->port == 0 || !host_ok(host, hlen) || !name_ok(name, nlen))
		goto out;
	memcpy(inv->server_pub, pub, ES_KEY_LEN);
	memcpy(inv->secret, secret, ES_INVITE_SECRET_LEN);
	memcpy(inv->host, host, hlen);
	memcpy(inv->name, name, nlen);
	ret = 0;
out:
	if (ret < 0)
		es_invite_clear(inv);
	sodium_memzero(bin, sizeof(bin));
	return ret;
}

void es_invite_clear(struct es_invite *inv)
{
	sodium_memzero(inv, sizeof(*inv));
}

void es_key_fingerprint(const uint8_t pub[static ES_KEY_LEN], char out[static ES_FINGERPRINT_LEN])
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	static const uint8_t key[] = "earshot fingerprint v1";
	uint8_t h[16];
	size_t o = 0;

	/* 80 bits = 16 base32 characters, read 5 bits at a time. */
	crypto_generichash(h, sizeof(h), pub, ES_KEY_LEN, key, sizeof(key) - 1);
	for (unsigned i = 0; i < 16; i++) {
		unsigned bit = i * 5, byte = bit / 8, shift = bit % 8;
		unsigned v = (unsigned)h[byte] << 8 | h[byte + 1];
		if (i && i % 4 == 0)
			out[o++] = '-';
		out[o++] = alphabet[(v >> (11 - shift)) & 31];
	}
	out[o] = '\0';
}
