/* SPDX-License-Identifier: MIT */
/*
 * The sealed envelope (proto/envelope.c): byte for byte what the hand-built
 * envelopes were, the type byte authenticated, and every way an envelope
 * can be refused telling the caller which.
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "earshot-crypto.h"
#include "earshot-proto.h"
#include "test.h"

static const uint8_t key[32] = {3, 1, 4, 1, 5, 9, 2, 6};

/* The envelope as the daemon, client and tools wrote it by hand before. */
static int seal_by_hand(struct es_cipher *tx, const uint8_t *pt, size_t len, uint8_t *out, size_t cap)
{
	static const uint8_t ad = ES_MSG_SEALED;
	out[0] = ES_MSG_SEALED;
	int k = es_cipher_seal(tx, &ad, 1, pt, len, out + 1, cap - 1);
	return k < 0 ? k : k + 1;
}

static void test_same_bytes(void)
{
	struct es_cipher a, b, rx;
	uint8_t p1[128], p2[128], pt[128];
	struct es_msg m = {.type = ES_MSG_MOVE, .u.move = {120, -40, 900}};
	uint8_t enc[64];
	int n = es_msg_encode(&m, enc, sizeof(enc));
	check(n > 0);

	es_cipher_init(&a, key);
	es_cipher_init(&b, key);
	es_cipher_init(&rx, key);
	for (int i = 0; i < 3; i++) {
		int x = seal_by_hand(&a, enc, (size_t)n, p1, sizeof(p1));
		int y = i == 1 ? es_envelope_seal_msg(&b, &m, p2, sizeof(p2)) : es_envelope_seal(&b, enc, (size_t)n, p2, sizeof(p2));
		check_int_eq(x, n + ES_ENVELOPE_OVERHEAD);
		check_int_eq(y, x);
		check(memcmp(p1, p2, (size_t)x) == 0);
		/* and what es_msg_decode makes of it is what the old openers took */
		struct es_msg d;
		check_int_eq(es_msg_decode(&d, p2, (size_t)y), y);
		check(d.type == ES_MSG_SEALED && d.u.blob.len == y - 1);
		check_int_eq(es_envelope_open(&rx, p2, (size_t)y, pt, sizeof(pt)), n);
		check(memcmp(pt, enc, (size_t)n) == 0);
	}
}

static void test_refused(void)
{
	struct es_cipher tx, rx, other;
	uint8_t pkt[ES_MSG_MAX + 64], pt[ES_MSG_MAX];
	es_cipher_init(&tx, key);
	es_cipher_init(&rx, key);

	int n = es_envelope_seal(&tx, (const uint8_t *)"hello", 5, pkt, sizeof(pkt));
	check_int_eq(n, 5 + ES_ENVELOPE_OVERHEAD);
	check(pkt[0] == ES_MSG_SEALED);
	/* not an envelope: told apart from a bad one, so a caller can count plain traffic */
	check_int_eq(es_envelope_open(&rx, pkt, 0, pt, sizeof(pt)), -ENOMSG);
	pkt[0] = ES_MSG_HELLO;
	check_int_eq(es_envelope_open(&rx, pkt, (size_t)n, pt, sizeof(pt)), -ENOMSG);
	pkt[0] = ES_MSG_SEALED;
	/* the type byte alone, truncated, tampered */
	check_int_eq(es_envelope_open(&rx, pkt, 1, pt, sizeof(pt)), -EBADMSG);
	for (int len = 2; len < n; len++)
		check_int_eq(es_envelope_open(&rx, pkt, (size_t)len, pt, sizeof(pt)), -EBADMSG);
	pkt[n - 1] ^= 1;
	check_int_eq(es_envelope_open(&rx, pkt, (size_t)n, pt, sizeof(pt)), -EBADMSG);
	pkt[n - 1] ^= 1;
	/* too small an out: nothing, and the window has not moved */
	check_int_eq(es_envelope_open(&rx, pkt, (size_t)n, pt, 4), -ENOSPC);
	check_int_eq(es_envelope_open(&rx, pkt, (size_t)n, pt, sizeof(pt)), 5);
	check(memcmp(pt, "hello", 5) == 0);
	/* the same envelope again: a replay */
	check_int_eq(es_envelope_open(&rx, pkt, (size_t)n, pt, sizeof(pt)), -EALREADY);

	/* the type byte is authenticated: a packet sealed under another type cannot be relabelled */
	static const uint8_t up = ES_MSG_AUDIO_UP;
	pkt[0] = ES_MSG_SEALED;
	int k = es_cipher_seal(&tx, &up, 1, (const uint8_t *)"x", 1, pkt + 1, sizeof(pkt) - 1);
	check(k > 0);
	check_int_eq(es_envelope_open(&rx, pkt, (size_t)k + 1, pt, sizeof(pt)), -EBADMSG);
	/* another session's key */
	es_cipher_init(&other, (const uint8_t[32]){9});
	n = es_envelope_seal(&other, (const uint8_t *)"x", 1, pkt, sizeof(pkt));
	check_int_eq(es_envelope_open(&rx, pkt, (size_t)n, pt, sizeof(pt)), -EBADMSG);

	/* longer than any message: refused before any crypto, as es_msg_decode refuses it */
	memset(pt, 'a', sizeof(pt));
	n = es_envelope_seal(&tx, pt, ES_MSG_MAX - 1 - ES_CIPHER_OVERHEAD, pkt, sizeof(pkt));
	check_int_eq(n, ES_MSG_MAX);
	check_int_eq(es_envelope_open(&rx, pkt, (size_t)n, pt, sizeof(pt)), ES_MSG_MAX - 1 - ES_CIPHER_OVERHEAD);
	n = es_envelope_seal(&tx, pt, ES_MSG_MAX - ES_CIPHER_OVERHEAD, pkt, sizeof(pkt));
	check_int_eq(n, ES_MSG_MAX + 1);
	check_int_eq(es_envelope_open(&rx, pkt, (size_t)n, pt, sizeof(pt)), -EBADMSG);

	/* sealing into too little room */
	check_int_eq(es_envelope_seal(&tx, pt, 1, pkt, 0), -ENOSPC);
	check_int_eq(es_envelope_seal(&tx, pt, 1, pkt, ES_ENVELOPE_OVERHEAD), -ENOSPC);
	struct es_msg bad = {.type = 0x7F};
	check_int_eq(es_envelope_seal_msg(&tx, &bad, pkt, sizeof(pkt)), -EINVAL);
}

int main(void)
{
	check(sodium_init() >= 0);
	test_same_bytes();
	test_refused();
	return 0;
}
