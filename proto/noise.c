/* SPDX-License-Identifier: MIT */
/*
 * Noise_IK_25519_ChaChaPoly_BLAKE2b (Noise revision 34), built from
 * libsodium: X25519 via crypto_scalarmult, BLAKE2b via crypto_generichash
 * (unkeyed: Noise's HMAC is RFC 2104 HMAC over the plain hash), and
 * ChaCha20-Poly1305-IETF with Noise's nonce encoding.  HASHLEN is 64, so h
 * and ck are 64 bytes and cipher keys are the first 32 bytes of HKDF output.
 *
 *   <- s
 *   ...
 *   -> e, es, s, ss
 *   <- e, ee, se
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <sodium.h>

#include "earshot-crypto.h"
#include "noise-private.h"

#define PROTOCOL_NAME "Noise_IK_25519_ChaChaPoly_BLAKE2b"
#define BLOCK_LEN 128 /* BLAKE2b block, for HMAC */

enum step {
	STEP_DEAD = 0,      /* cleared, failed or finished */
	STEP_WRITE_MSG1,    /* initiator */
	STEP_READ_MSG2,
	STEP_READ_MSG1,     /* responder */
	STEP_WRITE_MSG2,
	STEP_DONE,          /* ready to split */
};

static void hmac(uint8_t out[static ES_HASH_LEN], const uint8_t key[static ES_HASH_LEN],
		const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	uint8_t pad[BLOCK_LEN], inner[ES_HASH_LEN];
	crypto_generichash_state st;

	memset(pad, 0x36, sizeof(pad));
	for (size_t i = 0; i < ES_HASH_LEN; i++)
		pad[i] ^= key[i];
	crypto_generichash_init(&st, NULL, 0, ES_HASH_LEN);
	crypto_generichash_update(&st, pad, sizeof(pad));
	crypto_generichash_update(&st, a, alen);
	if (blen)
		crypto_generichash_update(&st, b, blen);
	crypto_generichash_final(&st, inner, ES_HASH_LEN);

	memset(pad, 0x5c, sizeof(pad));
	for (size_t i = 0; i < ES_HASH_LEN; i++)
		pad[i] ^= key[i];
	crypto_generichash_init(&st, NULL, 0, ES_HASH_LEN);
	crypto_generichash_update(&st, pad, sizeof(pad));
	crypto_generichash_update(&st, inner, sizeof(inner));
	crypto_generichash_final(&st, out, ES_HASH_LEN);

	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
	sodium_memzero(&st, sizeof(st));
}

/* Noise HKDF with two outputs. */
static void hkdf2(uint8_t out1[static ES_HASH_LEN], uint8_t out2[static ES_HASH_LEN],
		const uint8_t ck[static ES_HASH_LEN], const uint8_t *ikm, size_t ikm_len)
{
	static const uint8_t one = 1, two = 2;
	uint8_t prk[ES_HASH_LEN];

	hmac(prk, ck, ikm, ikm_len, NULL, 0);
	hmac(out1, prk, &one, 1, NULL, 0);
	hmac(out2, prk, out1, ES_HASH_LEN, &two, 1);
	sodium_memzero(prk, sizeof(prk));
}

static void mix_hash(struct es_noise *hs, const uint8_t *data, size_t len)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, ES_HASH_LEN);
	crypto_generichash_update(&st, hs->h, ES_HASH_LEN);
	if (len)
		crypto_generichash_update(&st, data, len);
	crypto_generichash_final(&st, hs->h, ES_HASH_LEN);
}

static void mix_key(struct es_noise *hs, const uint8_t dh[static ES_KEY_LEN])
{
	uint8_t temp_k[ES_HASH_LEN];

	hkdf2(hs->ck, temp_k, hs->ck, dh, ES_KEY_LEN);
	memcpy(hs->k, temp_k, ES_KEY_LEN);
	hs->n = 0;
	sodium_memzero(temp_k, sizeof(temp_k));
}

/* MixKey(DH(priv, pub)); fails on a low-order public key (all-zero output). */
static int mix_dh(struct es_noise *hs, const uint8_t priv[static ES_KEY_LEN], const uint8_t pub[static ES_KEY_LEN])
{
	uint8_t dh[ES_KEY_LEN];
	int ret = 0;

	if (crypto_scalarmult(dh, priv, pub) != 0)
		ret = -EBADMSG;
	else
		mix_key(hs, dh);
	sodium_memzero(dh, sizeof(dh));
	return ret;
}

static void nonce_of(uint8_t nonce[static 12], uint64_t n)
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

/* EncryptAndHash: out gets len + 16 bytes.  A key is always set here (IK
 * mixes es before the first encryption). */
static void encrypt_and_hash(struct es_noise *hs, const uint8_t *pt, size_t len, uint8_t *out)
{
	uint8_t nonce[12];
	unsigned long long clen;

	nonce_of(nonce, hs->n++);
	crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, pt, len, hs->h, ES_HASH_LEN, NULL, nonce, hs->k);
	mix_hash(hs, out, (size_t)clen);
}

static int decrypt_and_hash(struct es_noise *hs, const uint8_t *ct, size_t len, uint8_t *out)
{
	uint8_t nonce[12];

	nonce_of(nonce, hs->n++);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, ct, len, hs->h, ES_HASH_LEN, nonce, hs->k) != 0)
		return -EBADMSG;
	mix_hash(hs, ct, len);
	return 0;
}

static void init_symmetric(struct es_noise *hs, const uint8_t *prologue, size_t prologue_len)
{
	/* The name is shorter than HASHLEN: h = name zero-padded. */
	memset(hs->h, 0, ES_HASH_LEN);
	memcpy(hs->h, PROTOCOL_NAME, sizeof(PROTOCOL_NAME) - 1);
	memcpy(hs->ck, hs->h, ES_HASH_LEN);
	mix_hash(hs, prologue, prologue_len);
}

void es_noise_keypair(struct es_keypair *kp)
{
	randombytes_buf(kp->priv, ES_KEY_LEN);
	crypto_scalarmult_base(kp->pub, kp->priv);
}

int es_noise_keypair_from_private(struct es_keypair *kp, const uint8_t priv[static ES_KEY_LEN])
{
	memmove(kp->priv, priv, ES_KEY_LEN);
	if (crypto_scalarmult_base(kp->pub, kp->priv) != 0) {
		es_keypair_clear(kp);
		return -EINVAL;
	}
	return 0;
}

void es_keypair_clear(struct es_keypair *kp)
{
	sodium_memzero(kp, sizeof(*kp));
}

void es_noise_clear(struct es_noise *hs)
{
	sodium_memzero(hs, sizeof(*hs)); /* step becomes STEP_DEAD */
}

int es_noise_initiator_init(struct es_noise *hs, const struct es_keypair *s,
		const uint8_t server_pub[static ES_KEY_LEN], const uint8_t *prologue, size_t prologue_len)
{
	es_noise_clear(hs);
	if (!prologue && prologue_len)
		return -EINVAL;
	hs->initiator = true;
	hs->s = *s;
	memcpy(hs->rs, server_pub, ES_KEY_LEN);
	init_symmetric(hs, prologue, prologue_len);
	mix_hash(hs, hs->rs, ES_KEY_LEN); /* pre-message <- s */
	hs->step = STEP_WRITE_MSG1;
	return 0;
}

int es_noise_responder_init(struct es_noise *hs, const struct es_keypair *s,
		const uint8_t *prologue, size_t prologue_len)
{
	es_noise_clear(hs);
	if (!prologue && prologue_len)
		return -EINVAL;
	hs->initiator = false;
	hs->s = *s;
	init_symmetric(hs, prologue, prologue_len);
	mix_hash(hs, hs->s.pub, ES_KEY_LEN);
	hs->step = STEP_READ_MSG1;
	return 0;
}

void es_noise_set_ephemeral(struct es_noise *hs, const uint8_t priv[static ES_KEY_LEN])
{
	memcpy(hs->e.priv, priv, ES_KEY_LEN);
	crypto_scalarmult_base(hs->e.pub, hs->e.priv);
}

void es_noise_make_ephemeral(struct es_noise *hs)
{
	es_noise_keypair(&hs->e);
}

static bool have_ephemeral(const struct es_noise *hs)
{
	static const uint8_t zero[ES_KEY_LEN];
	return sodium_memcmp(hs->e.pub, zero, ES_KEY_LEN) != 0;
}

int es_noise_write_msg1(struct es_noise *hs, const uint8_t ts[static ES_TAI64N_LEN],
		const uint8_t *payload, size_t len, uint8_t *out, size_t cap)
{
	uint8_t pt[ES_TAI64N_LEN + ES_NOISE_PAYLOAD_MAX];
	int ret;

	if (hs->step != STEP_WRITE_MSG1 || (!payload && len))
		return -EINVAL;
	if (len > ES_NOISE_PAYLOAD_MAX)
		return -EMSGSIZE;
	size_t total = ES_NOISE_MSG1_MIN + len;
	if (cap < total)
		return -ENOSPC;

	if (!have_ephemeral(hs))
		es_noise_keypair(&hs->e);
	uint8_t *p = out;
	/* e */
	memcpy(p, hs->e.pub, ES_KEY_LEN);
	mix_hash(hs, p, ES_KEY_LEN);
	p += ES_KEY_LEN;
	/* es */
	ret = mix_dh(hs, hs->e.priv, hs->rs);
	if (ret < 0)
		goto err;
	/* s */
	encrypt_and_hash(hs, hs->s.pub, ES_KEY_LEN, p);
	p += ES_KEY_LEN + ES_TAG_LEN;
	/* ss */
	ret = mix_dh(hs, hs->s.priv, hs->rs);
	if (ret < 0)
		goto err;
	/* payload: timestamp, then app data */
	memcpy(pt, ts, ES_TAI64N_LEN);
	if (len)
		memcpy(pt + ES_TAI64N_LEN, payload, len);
	encrypt_and_hash(hs, pt, ES_TAI64N_LEN + len, p);
	sodium_memzero(pt, sizeof(pt));

	hs->step = STEP_READ_MSG2;
	return (int)total;

err:
	/* A low-order server key: nothing sensible can follow. */
	es_noise_clear(hs);
	return -EINVAL;
}

int es_noise_read_msg1(struct es_noise *hs, const uint8_t *buf, size_t len,
		uint8_t client_pub[static ES_KEY_LEN], uint8_t ts[static ES_TAI64N_LEN],
		uint8_t *payload, size_t cap)
{
	uint8_t pt[ES_TAI64N_LEN + ES_NOISE_PAYLOAD_MAX];
	int ret = -EBADMSG;

	if (hs->step != STEP_READ_MSG1)
		return -EINVAL;
	if (len < ES_NOISE_MSG1_MIN || len > ES_NOISE_MSG1_MAX)
		goto err;
	size_t plen = len - ES_NOISE_MSG1_MIN;
	if (plen > cap) {
		ret = -ENOBUFS;
		goto err;
	}

	const uint8_t *p = buf;
	/* e */
	memcpy(hs->re, p, ES_KEY_LEN);
	mix_hash(hs, hs->re, ES_KEY_LEN);
	p += ES_KEY_LEN;
	/* es */
	if (mix_dh(hs, hs->s.priv, hs->re) < 0)
		goto err;
	/* s */
	if (decrypt_and_hash(hs, p, ES_KEY_LEN + ES_TAG_LEN, hs->rs) < 0)
		goto err;
	p += ES_KEY_LEN + ES_TAG_LEN;
	/* ss */
	if (mix_dh(hs, hs->s.priv, hs->rs) < 0)
		goto err;
	/* payload */
	if (decrypt_and_hash(hs, p, ES_TAI64N_LEN + plen + ES_TAG_LEN, pt) < 0)
		goto err;

	memcpy(client_pub, hs->rs, ES_KEY_LEN);
	memcpy(ts, pt, ES_TAI64N_LEN);
	if (plen)
		memcpy(payload, pt + ES_TAI64N_LEN, plen);
	sodium_memzero(pt, sizeof(pt));
	hs->step = STEP_WRITE_MSG2;
	return (int)plen;

err:
	sodium_memzero(pt, sizeof(pt));
	es_noise_clear(hs);
	return ret;
}

int es_noise_write_msg2(struct es_noise *hs, const uint8_t *payload, size_t len,
		uint8_t *out, size_t cap)
{
	if (hs->step != STEP_WRITE_MSG2 || (!payload && len))
		return -EINVAL;
	if (len > ES_NOISE_PAYLOAD_MAX)
		return -EMSGSIZE;
	size_t total = ES_NOISE_MSG2_MIN + len;
	if (cap < total)
		return -ENOSPC;

	if (!have_ephemeral(hs))
		es_noise_keypair(&hs->e);
	uint8_t *p = out;
	/* e */
	memcpy(p, hs->e.pub, ES_KEY_LEN);
	mix_hash(hs, p, ES_KEY_LEN);
	p += ES_KEY_LEN;
	/* ee, se; both peer keys were checked in read_msg1 */
	if (mix_dh(hs, hs->e.priv, hs->re) < 0 || mix_dh(hs, hs->e.priv, hs->rs) < 0) {
		es_noise_clear(hs);
		return -EINVAL;
	}
	encrypt_and_hash(hs, payload, len, p);
	hs->step = STEP_DONE;
	return (int)total;
}

int es_noise_read_msg2(struct es_noise *hs, const uint8_t *buf, size_t len,
		uint8_t *payload, size_t cap)
{
	uint8_t pt[ES_NOISE_PAYLOAD_MAX];
	int ret = -EBADMSG;

	if (hs->step != STEP_READ_MSG2)
		return -EINVAL;
	if (len < ES_NOISE_MSG2_MIN || len > ES_NOISE_MSG2_MAX)
		goto err;
	size_t plen = len - ES_NOISE_MSG2_MIN;
	if (plen > cap) {
		ret = -ENOBUFS;
		goto err;
	}

	/* e */
	memcpy(hs->re, buf, ES_KEY_LEN);
	mix_hash(hs, hs->re, ES_KEY_LEN);
	/* ee, se */
	if (mix_dh(hs, hs->e.priv, hs->re) < 0 || mix_dh(hs, hs->s.priv, hs->re) < 0)
		goto err;
	if (decrypt_and_hash(hs, buf + ES_KEY_LEN, plen + ES_TAG_LEN, pt) < 0)
		goto err;
	if (plen)
		memcpy(payload, pt, plen);
	sodium_memzero(pt, sizeof(pt));
	hs->step = STEP_DONE;
	return (int)plen;

err:
	sodium_memzero(pt, sizeof(pt));
	es_noise_clear(hs);
	return ret;
}

int es_noise_handshake_hash(const struct es_noise *hs, uint8_t out[static ES_HASH_LEN])
{
	if (hs->step != STEP_DONE)
		return -EINVAL;
	memcpy(out, hs->h, ES_HASH_LEN);
	return 0;
}

int es_noise_split(struct es_noise *hs, struct es_cipher *send, struct es_cipher *recv)
{
	uint8_t k1[ES_HASH_LEN], k2[ES_HASH_LEN];

	if (hs->step != STEP_DONE)
		return -EINVAL;
	hkdf2(k1, k2, hs->ck, NULL, 0);
	/* k1 protects initiator -> responder, k2 the other way. */
	es_cipher_init(send, hs->initiator ? k1 : k2);
	es_cipher_init(recv, hs->initiator ? k2 : k1);
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	es_noise_clear(hs);
	return 0;
}

void es_timestamp_make(uint8_t out[static ES_TAI64N_LEN], uint64_t unix_sec, uint32_t nsec)
{
	uint64_t label = (UINT64_C(1) << 62) + unix_sec;

	if (nsec > 999999999u)
		nsec = 999999999u;
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(label >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)(nsec >> (24 - 8 * i));
}

bool es_timestamp_newer(const uint8_t a[static ES_TAI64N_LEN], const uint8_t b[static ES_TAI64N_LEN])
{
	/* Big-endian fields: byte order is time order.  Not secret, so a
	 * plain memcmp is fine. */
	return memcmp(a, b, ES_TAI64N_LEN) > 0;
}
