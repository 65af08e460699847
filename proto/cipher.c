/* SPDX-License-Identifier: MIT */
/*
 * Transport packets: ChaCha20-Poly1305-IETF under a per-direction key with
 * an explicit 64-bit counter, and a WireGuard-style sliding bitmap against
 * replays.  The bitmap has ES_REPLAY_BITS bits in 64-bit words; when the
 * newest counter moves forward, whole words that fall out of the window are
 * cleared, so one word is always partly stale and the guaranteed window is
 * ES_REPLAY_WINDOW = ES_REPLAY_BITS - 64 counters.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <sodium.h>

#include "earshot-crypto.h"
#include "wire.h"

#define WORDS (ES_REPLAY_BITS / 64)

void es_cipher_init(struct es_cipher *c, const uint8_t key[static ES_KEY_LEN])
{
	memset(c, 0, sizeof(*c));
	memcpy(c->key, key, ES_KEY_LEN);
}

void es_cipher_clear(struct es_cipher *c)
{
	sodium_memzero(c, sizeof(*c));
}

bool es_cipher_rekey_due(const struct es_cipher *c)
{
	return c->send_next >= ES_CIPHER_REKEY_AFTER;
}

/* Noise ChaChaPoly: 32 bits of zeros, then n little-endian. */
static void make_nonce(uint8_t nonce[static 12], uint64_t n)
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

int es_cipher_seal(struct es_cipher *c, const uint8_t *ad, size_t adlen,
		const uint8_t *pt, size_t len, uint8_t *out, size_t cap)
{
	uint8_t nonce[12];
	unsigned long long clen;

	if (len > INT_MAX - ES_CIPHER_OVERHEAD)
		return -EMSGSIZE;
	if (cap < len + ES_CIPHER_OVERHEAD)
		return -ENOSPC;
	if (c->send_next >= ES_CIPHER_REJECT_AFTER)
		return -EKEYEXPIRED;

	uint64_t n = c->send_next++;
	struct es_wr w;
	es_wr_init(&w, out, 8);
	es_wr_u64(&w, n);
	make_nonce(nonce, n);
	crypto_aead_chacha20poly1305_ietf_encrypt(out + 8, &clen, pt, len, ad, adlen, NULL, nonce, c->key);
	return (int)(clen + 8);
}

/* Where the bit for counter n lives. */
static uint64_t *window_word(struct es_cipher *c, uint64_t n, uint64_t *mask)
{
	*mask = UINT64_C(1) << (n % 64);
	return &c->recv_bitmap[(n / 64) % WORDS];
}

static int window_check(struct es_cipher *c, uint64_t n)
{
	uint64_t mask;

	if (n >= c->recv_top)
		return 0; /* newer than anything seen */
	if (c->recv_top - 1 - n >= ES_REPLAY_WINDOW)
		return -ESTALE;
	/* window_word() sets mask: call it before reading mask (the two
	 * operands of & are unsequenced). */
	uint64_t word = *window_word(c, n, &mask);
	return (word & mask) ? -EALREADY : 0;
}

static void window_accept(struct es_cipher *c, uint64_t n)
{
	uint64_t mask;

	if (n >= c->recv_top) {
		/* Clear the words between the old newest and n: they last held
		 * counters 2048 or more behind, now out of the window. */
		uint64_t from = c->recv_top ? (c->recv_top - 1) / 64 + 1 : 0;
		uint64_t to = n / 64;
		if (to >= from) {
			uint64_t count = to - from + 1;
			if (count > WORDS)
				count = WORDS;
			for (uint64_t i = 0; i < count; i++)
				c->recv_bitmap[(from + i) % WORDS] = 0;
		}
		c->recv_top = n + 1;
	}
	uint64_t *word = window_word(c, n, &mask);
	*word |= mask;
}

int es_cipher_open(struct es_cipher *c, const uint8_t *ad, size_t adlen,
		const uint8_t *pkt, size_t len, uint8_t *out, size_t cap)
{
	uint8_t nonce[12];
	unsigned long long plen;
	struct es_rd r;

	if (len < ES_CIPHER_OVERHEAD || len - ES_CIPHER_OVERHEAD > INT_MAX)
		return -EBADMSG;
	if (cap < len - ES_CIPHER_OVERHEAD)
		return -ENOSPC;
	es_rd_init(&r, pkt, len);
	uint64_t n = es_rd_u64(&r);
	if (n >= ES_CIPHER_REJECT_AFTER)
		return -EBADMSG;

	/* Authenticate first: a forged packet must not learn or move the
	 * window, and only authentic packets report -EALREADY/-ESTALE. */
	make_nonce(nonce, n);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &plen, NULL, pkt + 8, len - 8, ad, adlen, nonce, c->key) != 0)
		return -EBADMSG;

	int ret = window_check(c, n);
	if (ret < 0) {
		sodium_memzero(out, plen);
		return ret;
	}
	window_accept(c, n);
	return (int)plen;
}
