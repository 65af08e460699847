/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "earshot-crypto.h"
#include "noise-private.h"
#include "test.h"

/*
 * Published test vector for Noise_IK_25519_ChaChaPoly_BLAKE2b from noise-c:
 * https://github.com/rweather/noise-c, tests/vector/noise-c-basic.txt
 * (commit ec5de2ca65b093234c82c45f47b46d19bfa912e4), entry
 * "Noise_IK_25519_ChaChaPoly_BLAKE2b".  Copied as hex, not reformatted.
 *
 * The vector's msg1 payload "Ludwig von Mises" (16 bytes) is read by our
 * framing as a 12-byte timestamp "Ludwig von M" followed by 4 bytes of
 * app payload "ises"; that changes nothing on the wire.
 */
static const char *v_prologue = "50726f6c6f677565313233";
static const char *v_init_static = "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1";
static const char *v_init_ephemeral = "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a";
static const char *v_init_remote_static = "31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62";
static const char *v_resp_static = "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893";
static const char *v_resp_ephemeral = "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b";
static const struct { const char *payload, *ciphertext; } v_msg[] = {
	{ "4c756477696720766f6e204d69736573",
	  "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944ba83a447b38c83e327ad936929812f624884847b7831e95e197b2f797088efdd232fe541af156ec6d0657602902a8c3ee64e470f4b6fcd9298ce0b56fe20f86e60d9d933ec6e103ffb09e6001d6abb64" },
	{ "4d757272617920526f746862617264",
	  "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f1448088439f069b267a06b3de3ecb1043bcb09807c6cd101f3826192a65f11ef3fe4317" },
	{ "462e20412e20486179656b", "cd54383060e7a28434cca27fb1cc524cfbabeb18181589df219d07" },
	{ "4361726c204d656e676572", "a856d3bf0246bfc476c655009cd1ed677b8dcc5b349ae8ef2a05f2" },
	{ "4a65616e2d426170746973746520536179", "49063084b2c51f098337cb8a13739ac848f907e67cfb2cc8a8b60586467aa02fc7" },
	{ "457567656e2042f6686d20766f6e2042617765726b", "8b9709d23b47e4639df7678d7a21741eba4ef1e9c60383001c7435549c20f9d56f30e935d3" },
};
static const char *v_handshake_hash =
	"00e51d2aac81a9b8ebe441d6af3e1c8efc0f030cc608332edcb42588ff6a0ce26415ddc106e95277a5e6d54132f1e5245976b89caf96d262f1fe5a7f0c55c078";

static size_t unhex(uint8_t *out, size_t cap, const char *hex)
{
	size_t n;
	check(sodium_hex2bin(out, cap, hex, strlen(hex), NULL, &n, NULL) == 0);
	return n;
}

#define PROLOGUE_MAX 32
struct parties {
	struct es_keypair is, rs;
	uint8_t prologue[PROLOGUE_MAX];
	size_t prologue_len;
	struct es_noise ini, resp;
};

static void vector_parties(struct parties *p)
{
	uint8_t priv[32], pub[32];

	p->prologue_len = unhex(p->prologue, sizeof(p->prologue), v_prologue);
	unhex(priv, 32, v_init_static);
	check_int_eq(es_noise_keypair_from_private(&p->is, priv), 0);
	unhex(priv, 32, v_resp_static);
	check_int_eq(es_noise_keypair_from_private(&p->rs, priv), 0);
	unhex(pub, 32, v_init_remote_static);
	check(memcmp(pub, p->rs.pub, 32) == 0);

	check_int_eq(es_noise_initiator_init(&p->ini, &p->is, p->rs.pub, p->prologue, p->prologue_len), 0);
	check_int_eq(es_noise_responder_init(&p->resp, &p->rs, p->prologue, p->prologue_len), 0);
	unhex(priv, 32, v_init_ephemeral);
	es_noise_set_ephemeral(&p->ini, priv);
	unhex(priv, 32, v_resp_ephemeral);
	es_noise_set_ephemeral(&p->resp, priv);
}

static void test_vector(void)
{
	struct parties p;
	uint8_t payload[64], expect[256], out[256], got[256], ts[12], client_pub[32], hash[64];
	size_t plen, elen;
	int n;

	vector_parties(&p);

	/* msg1: timestamp = first 12 payload bytes, app payload = the rest */
	plen = unhex(payload, sizeof(payload), v_msg[0].payload);
	elen = unhex(expect, sizeof(expect), v_msg[0].ciphertext);
	n = es_noise_write_msg1(&p.ini, payload, payload + 12, plen - 12, out, sizeof(out));
	check_int_eq(n, elen);
	check(memcmp(out, expect, elen) == 0);
	n = es_noise_read_msg1(&p.resp, out, (size_t)n, client_pub, ts, got, sizeof(got));
	check_int_eq(n, plen - 12);
	check(memcmp(ts, payload, 12) == 0);
	check(memcmp(got, payload + 12, plen - 12) == 0);
	check(memcmp(client_pub, p.is.pub, 32) == 0);

	/* msg2 */
	plen = unhex(payload, sizeof(payload), v_msg[1].payload);
	elen = unhex(expect, sizeof(expect), v_msg[1].ciphertext);
	n = es_noise_write_msg2(&p.resp, payload, plen, out, sizeof(out));
	check_int_eq(n, elen);
	check(memcmp(out, expect, elen) == 0);
	n = es_noise_read_msg2(&p.ini, out, (size_t)n, got, sizeof(got));
	check_int_eq(n, plen);
	check(memcmp(got, payload, plen) == 0);

	/* handshake hash, both sides */
	elen = unhex(expect, sizeof(expect), v_handshake_hash);
	check_int_eq(es_noise_handshake_hash(&p.ini, hash), 0);
	check(memcmp(hash, expect, 64) == 0);
	check_int_eq(es_noise_handshake_hash(&p.resp, hash), 0);
	check(memcmp(hash, expect, 64) == 0);

	/* Transport messages: Noise nonces 0, 1, ... and no AD.  Our packet
	 * is [u64 counter LE][Noise ciphertext], so the vector's ciphertext
	 * must appear right after the counter. */
	struct es_cipher isend, irecv, rsend, rrecv;
	check_int_eq(es_noise_split(&p.ini, &isend, &irecv), 0);
	check_int_eq(es_noise_split(&p.resp, &rsend, &rrecv), 0);
	for (size_t i = 2; i < sizeof(v_msg) / sizeof(v_msg[0]); i++) {
		bool from_init = (i % 2) == 0;
		struct es_cipher *tx = from_init ? &isend : &rsend, *rx = from_init ? &rrecv : &irecv;
		uint64_t counter = tx->send_next;
		plen = unhex(payload, sizeof(payload), v_msg[i].payload);
		elen = unhex(expect, sizeof(expect), v_msg[i].ciphertext);
		n = es_cipher_seal(tx, NULL, 0, payload, plen, out, sizeof(out));
		check_int_eq(n, 8 + elen);
		check_int_eq(out[0], counter);
		check(memcmp(out + 8, expect, elen) == 0);
		check_int_eq(es_cipher_open(rx, NULL, 0, out, (size_t)n, got, sizeof(got)), plen);
		check(memcmp(got, payload, plen) == 0);
	}
	/* split wiped the handshake state */
	check_int_eq(es_noise_split(&p.ini, &isend, &irecv), -EINVAL);
}

/* A full random handshake, as client and daemon will run it. */
static void handshake(struct es_keypair *cs, struct es_keypair *ss, struct es_cipher c[2], struct es_cipher s[2])
{
	struct es_noise ini, resp;
	uint8_t m1[ES_NOISE_MSG1_MAX], m2[ES_NOISE_MSG2_MAX], ts[12], ts_got[12], pub[32], pl[16];
	int n1, n2;

	es_timestamp_make(ts, 1764180000, 5);
	check_int_eq(es_noise_initiator_init(&ini, cs, ss->pub, (const uint8_t *)"earshot/1", 9), 0);
	check_int_eq(es_noise_responder_init(&resp, ss, (const uint8_t *)"earshot/1", 9), 0);
	n1 = es_noise_write_msg1(&ini, ts, (const uint8_t *)"hi", 2, m1, sizeof(m1));
	check_int_eq(n1, ES_NOISE_MSG1_MIN + 2);
	check_int_eq(es_noise_read_msg1(&resp, m1, (size_t)n1, pub, ts_got, pl, sizeof(pl)), 2);
	check(memcmp(pub, cs->pub, 32) == 0 && memcmp(ts, ts_got, 12) == 0 && memcmp(pl, "hi", 2) == 0);
	n2 = es_noise_write_msg2(&resp, NULL, 0, m2, sizeof(m2));
	check_int_eq(n2, ES_NOISE_MSG2_MIN);
	check_int_eq(es_noise_read_msg2(&ini, m2, (size_t)n2, pl, sizeof(pl)), 0);
	check_int_eq(es_noise_split(&ini, &c[0], &c[1]), 0);
	check_int_eq(es_noise_split(&resp, &s[0], &s[1]), 0);
}

static void test_roundtrip_and_old_session(void)
{
	struct es_keypair cs, ss;
	struct es_cipher c[2], s[2], c2[2], s2[2];
	uint8_t pkt[64], pt[64];
	int n;

	es_noise_keypair(&cs);
	es_noise_keypair(&ss);
	handshake(&cs, &ss, c, s);
	n = es_cipher_seal(&c[0], (const uint8_t *)"\x10", 1, (const uint8_t *)"voice", 5, pkt, sizeof(pkt));
	check_int_eq(es_cipher_open(&s[1], (const uint8_t *)"\x10", 1, pkt, (size_t)n, pt, sizeof(pt)), 5);
	n = es_cipher_seal(&s[0], NULL, 0, (const uint8_t *)"mix", 3, pkt, sizeof(pkt));
	check_int_eq(es_cipher_open(&c[1], NULL, 0, pkt, (size_t)n, pt, sizeof(pt)), 3);

	/* Same keys, new handshake: a packet of the old session is refused
	 * as unauthentic, although its counter is fresh for the new one. */
	handshake(&cs, &ss, c2, s2);
	n = es_cipher_seal(&c[0], NULL, 0, (const uint8_t *)"old", 3, pkt, sizeof(pkt));
	check_int_eq(es_cipher_open(&s2[1], NULL, 0, pkt, (size_t)n, pt, sizeof(pt)), -EBADMSG);
	/* and the directions are distinct keys: a client's own packet
	 * reflected back to it does not open */
	n = es_cipher_seal(&c2[0], NULL, 0, (const uint8_t *)"echo", 4, pkt, sizeof(pkt));
	check_int_eq(es_cipher_open(&c2[1], NULL, 0, pkt, (size_t)n, pt, sizeof(pt)), -EBADMSG);
	check_int_eq(es_cipher_open(&s2[1], NULL, 0, pkt, (size_t)n, pt, sizeof(pt)), 4);
}

static void test_negative(void)
{
	struct parties p;
	uint8_t m1[ES_NOISE_MSG1_MAX], m2[ES_NOISE_MSG2_MAX], ts[12], pub[32], pl[ES_NOISE_PAYLOAD_MAX];
	int n1, n2;

	es_timestamp_make(ts, 1, 0);
	vector_parties(&p);
	n1 = es_noise_write_msg1(&p.ini, ts, NULL, 0, m1, sizeof(m1));
	check(n1 > 0);
	/* write again: wrong step */
	check_int_eq(es_noise_write_msg1(&p.ini, ts, NULL, 0, m1, sizeof(m1)), -EINVAL);

	/* every single-bit flip and every truncation of msg1 is refused */
	for (int i = 0; i < n1 * 8; i++) {
		struct es_noise r;
		check_int_eq(es_noise_responder_init(&r, &p.rs, p.prologue, p.prologue_len), 0);
		m1[i / 8] ^= (uint8_t)(1 << (i % 8));
		check_int_eq(es_noise_read_msg1(&r, m1, (size_t)n1, pub, ts, pl, sizeof(pl)), -EBADMSG);
		m1[i / 8] ^= (uint8_t)(1 << (i % 8));
		/* a failed read wipes the state */
		check_int_eq(es_noise_read_msg1(&r, m1, (size_t)n1, pub, ts, pl, sizeof(pl)), -EINVAL);
	}
	for (int len = 0; len < n1; len++) {
		struct es_noise r;
		check_int_eq(es_noise_responder_init(&r, &p.rs, p.prologue, p.prologue_len), 0);
		check_int_eq(es_noise_read_msg1(&r, m1, (size_t)len, pub, ts, pl, sizeof(pl)), -EBADMSG);
	}
	/* wrong server key, wrong prologue */
	{
		struct es_noise r;
		struct es_keypair other;
		es_noise_keypair(&other);
		check_int_eq(es_noise_responder_init(&r, &other, p.prologue, p.prologue_len), 0);
		check_int_eq(es_noise_read_msg1(&r, m1, (size_t)n1, pub, ts, pl, sizeof(pl)), -EBADMSG);
		check_int_eq(es_noise_responder_init(&r, &p.rs, (const uint8_t *)"x", 1), 0);
		check_int_eq(es_noise_read_msg1(&r, m1, (size_t)n1, pub, ts, pl, sizeof(pl)), -EBADMSG);
	}
	/* low-order ephemeral (all zero) is refused */
	{
		struct es_noise r;
		uint8_t bad[ES_NOISE_MSG1_MAX];
		memcpy(bad, m1, (size_t)n1);
		memset(bad, 0, 32);
		check_int_eq(es_noise_responder_init(&r, &p.rs, p.prologue, p.prologue_len), 0);
		check_int_eq(es_noise_read_msg1(&r, bad, (size_t)n1, pub, ts, pl, sizeof(pl)), -EBADMSG);
	}
	/* payload too large for the caller's buffer */
	{
		struct es_noise i2, r;
		uint8_t big[10] = {0}, m[ES_NOISE_MSG1_MAX];
		check_int_eq(es_noise_initiator_init(&i2, &p.is, p.rs.pub, NULL, 0), 0);
		int n = es_noise_write_msg1(&i2, ts, big, sizeof(big), m, sizeof(m));
		check(n > 0);
		check_int_eq(es_noise_responder_init(&r, &p.rs, NULL, 0), 0);
		check_int_eq(es_noise_read_msg1(&r, m, (size_t)n, pub, ts, pl, 9), -ENOBUFS);
		check_int_eq(es_noise_write_msg1(&i2, ts, big, sizeof(big), m, sizeof(m)), -EINVAL);
		check_int_eq(es_noise_initiator_init(&i2, &p.is, p.rs.pub, NULL, 0), 0);
		check_int_eq(es_noise_write_msg1(&i2, ts, big, ES_NOISE_PAYLOAD_MAX + 1, m, sizeof(m)), -EMSGSIZE);
		check_int_eq(es_noise_write_msg1(&i2, ts, big, sizeof(big), m, ES_NOISE_MSG1_MIN + 9), -ENOSPC);
	}

	/* the good msg1 still reads; then tamper with msg2 */
	check_int_eq(es_noise_read_msg1(&p.resp, m1, (size_t)n1, pub, ts, pl, sizeof(pl)), 0);
	check_int_eq(es_noise_split(&p.resp, NULL, NULL), -EINVAL); /* not finished */
	n2 = es_noise_write_msg2(&p.resp, NULL, 0, m2, sizeof(m2));
	check(n2 > 0);
	struct es_noise saved = p.ini;
	for (int i = 0; i < n2 * 8; i++) {
		p.ini = saved;
		m2[i / 8] ^= (uint8_t)(1 << (i % 8));
		check_int_eq(es_noise_read_msg2(&p.ini, m2, (size_t)n2, pl, sizeof(pl)), -EBADMSG);
		m2[i / 8] ^= (uint8_t)(1 << (i % 8));
	}
	p.ini = saved;
	check_int_eq(es_noise_read_msg2(&p.ini, m2, (size_t)n2 - 1, pl, sizeof(pl)), -EBADMSG);
	p.ini = saved;
	check_int_eq(es_noise_read_msg2(&p.ini, m2, (size_t)n2, pl, sizeof(pl)), 0);
	es_noise_clear(&p.ini);
	es_noise_clear(&saved);
}

static void test_timestamps(void)
{
	uint8_t a[12], b[12];

	es_timestamp_make(a, 1764180000, 1);
	es_timestamp_make(b, 1764180000, 0);
	check(es_timestamp_newer(a, b));
	check(!es_timestamp_newer(b, a));
	check(!es_timestamp_newer(a, a)); /* equal is a replay */
	es_timestamp_make(b, 1764179999, 999999999);
	check(es_timestamp_newer(a, b));
	es_timestamp_make(b, 1764180001, 0);
	check(es_timestamp_newer(b, a));
	/* TAI64 label: 2^62 + seconds */
	es_timestamp_make(a, 0, 2000000000u);
	check_int_eq(a[0], 0x40);
	check_int_eq(a[7], 0);
	check_int_eq(a[8], 0x3b); /* nsec clamped to 999999999 = 0x3b9ac9ff */
	check_int_eq(a[11], 0xff);
}

int main(void)
{
	check(sodium_init() >= 0);
	test_vector();
	test_roundtrip_and_old_session();
	test_negative();
	test_timestamps();
	return 0;
}
