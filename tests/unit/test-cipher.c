/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "earshot-crypto.h"
#include "test.h"

static const uint8_t key[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
static const uint8_t ad[1] = { 0x10 };

/* Seal a packet with an explicit counter, as a sender at that point would. */
static int seal_at(struct es_cipher *tx, uint64_t n, uint8_t *pkt, size_t cap)
{
	uint8_t pt[4] = { (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24) };
	tx->send_next = n;
	return es_cipher_seal(tx, ad, sizeof(ad), pt, sizeof(pt), pkt, cap);
}

static int open_at(struct es_cipher *tx, struct es_cipher *rx, uint64_t n)
{
	uint8_t pkt[64], pt[64];
	int len = seal_at(tx, n, pkt, sizeof(pkt));
	check(len > 0);
	return es_cipher_open(rx, ad, sizeof(ad), pkt, (size_t)len, pt, sizeof(pt));
}

static void test_basic(void)
{
	struct es_cipher tx, rx;
	uint8_t pkt[64], pt[64];
	int n;

	es_cipher_init(&tx, key);
	es_cipher_init(&rx, key);
	n = es_cipher_seal(&tx, ad, sizeof(ad), (const uint8_t *)"hello", 5, pkt, sizeof(pkt));
	check_int_eq(n, 5 + ES_CIPHER_OVERHEAD);
	check_int_eq(tx.send_next, 1);
	/* counter 0, little-endian, in clear */
	for (int i = 0; i < 8; i++)
		check_int_eq(pkt[i], 0);

	/* tampering anywhere: header (counter), ciphertext, tag */
	for (int i = 0; i < n; i++) {
		pkt[i] ^= 0x01;
		check_int_eq(es_cipher_open(&rx, ad, sizeof(ad), pkt, (size_t)n, pt, sizeof(pt)), -EBADMSG);
		pkt[i] ^= 0x01;
	}
	/* wrong AD (message type) */
	check_int_eq(es_cipher_open(&rx, (const uint8_t *)"\x11", 1, pkt, (size_t)n, pt, sizeof(pt)), -EBADMSG);
	/* truncations */
	for (int len = 0; len < n; len++)
		check_int_eq(es_cipher_open(&rx, ad, sizeof(ad), pkt, (size_t)len, pt, sizeof(pt)), -EBADMSG);
	/* none of that moved the window */
	check_int_eq(rx.recv_top, 0);
	/* output too small */
	check_int_eq(es_cipher_open(&rx, ad, sizeof(ad), pkt, (size_t)n, pt, 4), -ENOSPC);
	check_int_eq(es_cipher_open(&rx, ad, sizeof(ad), pkt, (size_t)n, pt, sizeof(pt)), 5);
	check(memcmp(pt, "hello", 5) == 0);
	/* replay */
	memset(pt, 0xee, sizeof(pt));
	check_int_eq(es_cipher_open(&rx, ad, sizeof(ad), pkt, (size_t)n, pt, sizeof(pt)), -EALREADY);
	check(pt[0] == 0); /* plaintext of a refused packet is not left behind */
	/* seal needs room */
	check_int_eq(es_cipher_seal(&tx, ad, 1, pt, 5, pkt, 5 + ES_CIPHER_OVERHEAD - 1), -ENOSPC);
	check_int_eq(tx.send_next, 1); /* a failed seal burns no counter */
	/* empty payload is fine */
	n = es_cipher_seal(&tx, NULL, 0, NULL, 0, pkt, sizeof(pkt));
	check_int_eq(n, ES_CIPHER_OVERHEAD);
	check_int_eq(es_cipher_open(&rx, NULL, 0, pkt, (size_t)n, pt, 0), 0);

	/* a different key (another session) */
	struct es_cipher other;
	uint8_t k2[32];
	memcpy(k2, key, 32);
	k2[31] ^= 1;
	es_cipher_init(&other, k2);
	n = es_cipher_seal(&other, ad, 1, (const uint8_t *)"x", 1, pkt, sizeof(pkt));
	check_int_eq(es_cipher_open(&rx, ad, 1, pkt, (size_t)n, pt, sizeof(pt)), -EBADMSG);
	es_cipher_clear(&other);
	check_int_eq(other.recv_top, 0);
	check(sodium_is_zero(other.key, 32));
}

static void test_window(void)
{
	struct es_cipher tx, rx;
	es_cipher_init(&tx, key);
	es_cipher_init(&rx, key);

	/* out of order inside the window is fine, once each */
	check_int_eq(open_at(&tx, &rx, 10), 4);
	check_int_eq(open_at(&tx, &rx, 5), 4);
	check_int_eq(open_at(&tx, &rx, 0), 4);
	check_int_eq(open_at(&tx, &rx, 5), -EALREADY);
	check_int_eq(open_at(&tx, &rx, 10), -EALREADY);
	check_int_eq(open_at(&tx, &rx, 11), 4);

	/* jump ahead: newest = 3000 */
	uint64_t top = 3000;
	check_int_eq(open_at(&tx, &rx, top), 4);
	/* exact edges: newest - (W-1) is the oldest still tracked */
	check_int_eq(open_at(&tx, &rx, top - ES_REPLAY_WINDOW), -ESTALE);
	check_int_eq(open_at(&tx, &rx, top - ES_REPLAY_WINDOW + 1), 4);
	check_int_eq(open_at(&tx, &rx, top - ES_REPLAY_WINDOW + 1), -EALREADY);
	check_int_eq(open_at(&tx, &rx, top - 1), 4);
	check_int_eq(open_at(&tx, &rx, 11), -ESTALE); /* seen long ago */
	check_int_eq(open_at(&tx, &rx, 12), -ESTALE); /* never seen, too old */

	/* Bits from a previous lap of the bitmap must not leak into the new
	 * window: counter c and c + 2048 share a bit. */
	struct es_cipher rx2;
	es_cipher_init(&rx2, key);
	for (uint64_t i = 0; i < 64; i++)
		check_int_eq(open_at(&tx, &rx2, 1000 + i), 4);
	check_int_eq(open_at(&tx, &rx2, 1000 + ES_REPLAY_BITS + 63), 4);
	for (uint64_t i = 0; i < 63; i++)
		check_int_eq(open_at(&tx, &rx2, 1000 + ES_REPLAY_BITS + i), 4);

	/* advancing by exactly one word at a time, all accepted once */
	struct es_cipher rx3;
	es_cipher_init(&rx3, key);
	for (uint64_t i = 0; i < 5 * ES_REPLAY_BITS; i += 63)
		check_int_eq(open_at(&tx, &rx3, i), 4);
	uint64_t last = (5 * ES_REPLAY_BITS - 1) / 63 * 63;
	for (uint64_t k = 0; k < 31; k++)
		check_int_eq(open_at(&tx, &rx3, last - 63 * k), -EALREADY);

	/* a window of at least 64: everything 64 behind the newest accepted */
	struct es_cipher rx4;
	es_cipher_init(&rx4, key);
	check_int_eq(open_at(&tx, &rx4, 200), 4);
	for (uint64_t i = 200 - 64; i < 200; i++)
		check_int_eq(open_at(&tx, &rx4, i), 4);
}

static void test_limits(void)
{
	struct es_cipher tx, rx;
	uint8_t pkt[64];

	es_cipher_init(&tx, key);
	es_cipher_init(&rx, key);
	check(!es_cipher_rekey_due(&tx));
	tx.send_next = ES_CIPHER_REKEY_AFTER;
	check(es_cipher_rekey_due(&tx));
	check(seal_at(&tx, ES_CIPHER_REJECT_AFTER - 1, pkt, sizeof(pkt)) > 0);
	check_int_eq(tx.send_next, ES_CIPHER_REJECT_AFTER);
	check_int_eq(es_cipher_seal(&tx, NULL, 0, NULL, 0, pkt, sizeof(pkt)), -EKEYEXPIRED);
	check_int_eq(tx.send_next, ES_CIPHER_REJECT_AFTER);
	/* the highest usable counter opens; a forged header above it does not */
	check_int_eq(open_at(&tx, &rx, ES_CIPHER_REJECT_AFTER - 1), 4);
	uint8_t pt[64];
	int n = seal_at(&tx, 7, pkt, sizeof(pkt));
	for (int i = 0; i < 8; i++)
		pkt[i] = 0xff;
	check_int_eq(es_cipher_open(&rx, ad, 1, pkt, (size_t)n, pt, sizeof(pt)), -EBADMSG);
}

int main(void)
{
	check(sodium_init() >= 0);
	test_basic();
	test_window();
	test_limits();
	return 0;
}
