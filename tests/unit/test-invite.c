/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "earshot-crypto.h"
#include "test.h"

static void sample(struct es_invite *inv)
{
	memset(inv, 0, sizeof(*inv));
	strcpy(inv->host, "office.example.com");
	inv->port = 7700;
	for (int i = 0; i < 32; i++)
		inv->server_pub[i] = (uint8_t)(i * 7 + 1);
	for (int i = 0; i < 16; i++)
		inv->secret[i] = (uint8_t)(0xa0 + i);
	strcpy(inv->name, "Zoë");
}

static void same(const struct es_invite *a, const struct es_invite *b)
{
	check(strcmp(a->host, b->host) == 0);
	check(strcmp(a->name, b->name) == 0);
	check_int_eq(a->port, b->port);
	check(memcmp(a->server_pub, b->server_pub, 32) == 0);
	check(memcmp(a->secret, b->secret, 16) == 0);
}

static void test_roundtrip(void)
{
	struct es_invite inv, out;
	char text[ES_INVITE_TEXT_MAX], padded[ES_INVITE_TEXT_MAX + 8];

	sample(&inv);
	int n = es_invite_encode(&inv, text, sizeof(text));
	check(n > 4);
	check(strncmp(text, "es1-", 4) == 0);
	check_int_eq(strlen(text), n);
	for (int i = 4; i < n; i++) /* copy-paste safe: base64url only */
		check(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", text[i]));
	check_int_eq(es_invite_decode(&out, text, (size_t)n), 0);
	same(&inv, &out);

	/* whitespace around it, as pasted from a chat window */
	snprintf(padded, sizeof(padded), "  %s\r\n", text);
	check_int_eq(es_invite_decode(&out, padded, strlen(padded)), 0);
	same(&inv, &out);

	/* cap exactly large enough, and one short */
	check_int_eq(es_invite_encode(&inv, text, (size_t)n + 1), n);
	check_int_eq(es_invite_encode(&inv, text, (size_t)n), -ENOSPC);

	/* largest invite fits the documented maximum */
	memset(inv.host, 'h', ES_INVITE_HOST_MAX);
	inv.host[ES_INVITE_HOST_MAX] = 0;
	memset(inv.name, 'n', ES_INVITE_NAME_MAX);
	inv.name[ES_INVITE_NAME_MAX] = 0;
	n = es_invite_encode(&inv, text, sizeof(text));
	check(n > 0 && n < ES_INVITE_TEXT_MAX);
	check_int_eq(es_invite_decode(&out, text, (size_t)n), 0);
	same(&inv, &out);

	/* IPv4 and IPv6 literals */
	sample(&inv);
	strcpy(inv.host, "192.0.2.7");
	n = es_invite_encode(&inv, text, sizeof(text));
	check_int_eq(es_invite_decode(&out, text, (size_t)n), 0);
	same(&inv, &out);
	strcpy(inv.host, "2001:db8::1");
	n = es_invite_encode(&inv, text, sizeof(text));
	check_int_eq(es_invite_decode(&out, text, (size_t)n), 0);
	same(&inv, &out);
	es_invite_clear(&out);
	check(sodium_is_zero(out.secret, 16));
}

/* A company's invite (version 2): every daemon kept, in order; version 1 still read. */
static void test_company(void)
{
	struct es_invite inv, out;
	char text[ES_INVITE_TEXT_MAX];

	sample(&inv);
	strcpy(inv.more[0].host, "b.example.com");
	inv.more[0].port = 7701;
	strcpy(inv.more[1].host, "192.0.2.9");
	inv.more[1].port = 7702;
	inv.nmore = 2;
	int n = es_invite_encode(&inv, text, sizeof(text));
	check(n > 4 && strncmp(text, "es2-", 4) == 0);
	check_int_eq(es_invite_decode(&out, text, (size_t)n), 0);
	same(&inv, &out);
	check_int_eq(out.nmore, 2);
	check(strcmp(out.more[0].host, "b.example.com") == 0 && out.more[0].port == 7701);
	check(strcmp(out.more[1].host, "192.0.2.9") == 0 && out.more[1].port == 7702);
	/* no other daemon: version 1, as before, for clients that know only it */
	inv.nmore = 0;
	n = es_invite_encode(&inv, text, sizeof(text));
	check(strncmp(text, "es1-", 4) == 0);
	check_int_eq(es_invite_decode(&out, text, (size_t)n), 0);
	check_int_eq(out.nmore, 0);
	/* the largest: eight daemons of 64-byte names fit the documented maximum */
	memset(inv.host, 'h', ES_INVITE_HOST_MAX);
	inv.host[ES_INVITE_HOST_MAX] = 0;
	memset(inv.name, 'n', ES_INVITE_NAME_MAX);
	inv.name[ES_INVITE_NAME_MAX] = 0;
	inv.nmore = ES_INVITE_ADDRS_MAX - 1;
	for (unsigned i = 0; i < inv.nmore; i++) {
		memset(inv.more[i].host, (char)('a' + i), ES_INVITE_HOST_MAX);
		inv.more[i].host[ES_INVITE_HOST_MAX] = 0;
		inv.more[i].port = (uint16_t)(7000 + i);
	}
	n = es_invite_encode(&inv, text, sizeof(text));
	check(n > 0 && n < ES_INVITE_TEXT_MAX);
	check_int_eq(es_invite_decode(&out, text, (size_t)n), 0);
	check_int_eq(out.nmore, ES_INVITE_ADDRS_MAX - 1);
	check(strcmp(out.more[6].host, inv.more[6].host) == 0 && out.more[6].port == 7006);
	/* too many, a bad one, port 0: refused */
	inv.nmore = ES_INVITE_ADDRS_MAX;
	check_int_eq(es_invite_encode(&inv, text, sizeof(text)), -EINVAL);
	sample(&inv);
	inv.nmore = 1;
	strcpy(inv.more[0].host, "bad host");
	inv.more[0].port = 1;
	check_int_eq(es_invite_encode(&inv, text, sizeof(text)), -EINVAL);
	strcpy(inv.more[0].host, "b");
	inv.more[0].port = 0;
	check_int_eq(es_invite_encode(&inv, text, sizeof(text)), -EINVAL);
	/* every single-character change and truncation of a version 2 token is caught */
	inv.more[0].port = 9;
	n = es_invite_encode(&inv, text, sizeof(text));
	check(n > 0);
	char bad[ES_INVITE_TEXT_MAX];
	for (int i = 0; i < n; i++) {
		memcpy(bad, text, (size_t)n);
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		check_int_eq(es_invite_decode(&out, bad, (size_t)n), -EBADMSG);
	}
	for (int len = 0; len < n; len++)
		check_int_eq(es_invite_decode(&out, text, (size_t)len), -EBADMSG);
	/* a version 2 body under the version 1 prefix: refused */
	memcpy(bad, text, (size_t)n);
	bad[2] = '1';
	check_int_eq(es_invite_decode(&out, bad, (size_t)n), -EBADMSG);
}

static void test_bad(void)
{
	struct es_invite inv, out;
	char text[ES_INVITE_TEXT_MAX], bad[ES_INVITE_TEXT_MAX * 2];

	sample(&inv);
	strcpy(inv.host, "bad host");
	check_int_eq(es_invite_encode(&inv, text, sizeof(text)), -EINVAL);
	sample(&inv);
	inv.host[0] = 0;
	check_int_eq(es_invite_encode(&inv, text, sizeof(text)), -EINVAL);
	sample(&inv);
	strcpy(inv.name, "tab\tname");
	check_int_eq(es_invite_encode(&inv, text, sizeof(text)), -EINVAL);
	sample(&inv);
	inv.port = 0;
	check_int_eq(es_invite_encode(&inv, text, sizeof(text)), -EINVAL);

	sample(&inv);
	int n = es_invite_encode(&inv, text, sizeof(text));
	check(n > 0);
	/* every single-character change is caught (checksum or format) */
	for (int i = 0; i < n; i++) {
		memcpy(bad, text, (size_t)n);
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		check_int_eq(es_invite_decode(&out, bad, (size_t)n), -EBADMSG);
		check(out.port == 0 && sodium_is_zero(out.secret, 16)); /* nothing half-decoded */
	}
	/* every truncation */
	for (int len = 0; len < n; len++)
		check_int_eq(es_invite_decode(&out, text, (size_t)len), -EBADMSG);
	/* junk in the middle, wrong prefix, overlong input */
	memcpy(bad, text, (size_t)n);
	bad[10] = ' ';
	check_int_eq(es_invite_decode(&out, bad, (size_t)n), -EBADMSG);
	memcpy(bad, text, (size_t)n);
	bad[2] = '2';
	check_int_eq(es_invite_decode(&out, bad, (size_t)n), -EBADMSG);
	memset(bad, 'A', sizeof(bad));
	memcpy(bad, "es1-", 4);
	check_int_eq(es_invite_decode(&out, bad, sizeof(bad)), -EBADMSG);
	check_int_eq(es_invite_decode(&out, "es1-", 4), -EBADMSG);
	check_int_eq(es_invite_decode(&out, "", 0), -EBADMSG);
	/* valid base64 and checksum but a wrong version: build one by hand */
	{
		uint8_t bin[64];
		size_t blen = 0;
		bin[blen++] = 2; /* version */
		memset(bin + blen, 0, 48); /* server_pub, secret */
		blen += 48;
		bin[blen++] = 1;
		bin[blen++] = 0; /* port 1 */
		bin[blen++] = 1;
		bin[blen++] = 'h';
		bin[blen++] = 1;
		bin[blen++] = 'n';
		uint8_t h[16];
		crypto_generichash(h, sizeof(h), bin, blen, (const uint8_t *)"earshot invite v1", 17);
		memcpy(bin + blen, h, 4);
		blen += 4;
		memcpy(bad, "es1-", 4);
		sodium_bin2base64(bad + 4, sizeof(bad) - 4, bin, blen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		check_int_eq(es_invite_decode(&out, bad, strlen(bad)), -EBADMSG);
		bin[0] = 1; /* and the same with version 1 decodes */
		crypto_generichash(h, sizeof(h), bin, blen - 4, (const uint8_t *)"earshot invite v1", 17);
		memcpy(bin + blen - 4, h, 4);
		sodium_bin2base64(bad + 4, sizeof(bad) - 4, bin, blen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		check_int_eq(es_invite_decode(&out, bad, strlen(bad)), 0);
		check(strcmp(out.host, "h") == 0 && strcmp(out.name, "n") == 0 && out.port == 1);
	}
}

static void test_fingerprint(void)
{
	uint8_t pub[32] = {0};
	char a[ES_FINGERPRINT_LEN], b[ES_FINGERPRINT_LEN];

	es_key_fingerprint(pub, a);
	check_int_eq(strlen(a), ES_FINGERPRINT_LEN - 1);
	check(a[4] == '-' && a[9] == '-' && a[14] == '-');
	for (int i = 0; i < ES_FINGERPRINT_LEN - 1; i++)
		if (i % 5 != 4)
			check(strchr("abcdefghijklmnopqrstuvwxyz234567", a[i]) && a[i]);
	es_key_fingerprint(pub, b);
	check(strcmp(a, b) == 0);
	pub[31] = 1;
	es_key_fingerprint(pub, b);
	check(strcmp(a, b) != 0);
	test_log("fingerprint of the zero key: %s", a);
}

int main(void)
{
	check(sodium_init() >= 0);
	test_roundtrip();
	test_bad();
	test_company();
	test_fingerprint();
	return 0;
}
