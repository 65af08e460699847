/* SPDX-License-Identifier: MIT */
/*
 * The handshake readers with fixed keys.  First byte picks the mode:
 *   0  server reads the rest as msg1
 *   1  client (having sent its fixed msg1) reads the rest as msg2
 *   2  the rest is an app payload: a whole handshake must carry it both
 *      ways, or refuse it when it is too long
 */
#include <errno.h>

#include "fuzz.h"

static struct es_keypair cs, ss;
static uint8_t ce[32], se[32];
static struct es_noise client_after_msg1;

static void setup(void)
{
	static bool done;
	uint8_t ts[ES_TAI64N_LEN] = {0}, m1[ES_NOISE_MSG1_MAX];

	if (done)
		return;
	done = true;
	fuzz_keys(&cs, &ss, ce, se);
	if (es_noise_initiator_init(&client_after_msg1, &cs, ss.pub, FUZZ_PROLOGUE, FUZZ_PROLOGUE_LEN) < 0)
		__builtin_trap();
	es_noise_set_ephemeral(&client_after_msg1, ce);
	if (es_noise_write_msg1(&client_after_msg1, ts, NULL, 0, m1, sizeof(m1)) < 0)
		__builtin_trap();
}

static void whole(const uint8_t *pl, size_t len)
{
	struct es_noise c, s;
	struct es_cipher cc[2], sc[2];
	uint8_t ts[ES_TAI64N_LEN] = {1}, ts2[ES_TAI64N_LEN], pub[32];
	uint8_t m1[ES_NOISE_MSG1_MAX], m2[ES_NOISE_MSG2_MAX], got[ES_NOISE_PAYLOAD_MAX];

	if (es_noise_initiator_init(&c, &cs, ss.pub, FUZZ_PROLOGUE, FUZZ_PROLOGUE_LEN) < 0 ||
			es_noise_responder_init(&s, &ss, FUZZ_PROLOGUE, FUZZ_PROLOGUE_LEN) < 0)
		__builtin_trap();
	es_noise_set_ephemeral(&c, ce);
	es_noise_set_ephemeral(&s, se);
	int n1 = es_noise_write_msg1(&c, ts, pl, len, m1, sizeof(m1));
	if (len > ES_NOISE_PAYLOAD_MAX) {
		if (n1 != -EMSGSIZE)
			__builtin_trap();
		return;
	}
	if (n1 < 0 || es_noise_read_msg1(&s, m1, (size_t)n1, pub, ts2, got, sizeof(got)) != (int)len ||
			memcmp(got, pl, len) != 0 || memcmp(pub, cs.pub, 32) != 0)
		__builtin_trap();
	int n2 = es_noise_write_msg2(&s, pl, len, m2, sizeof(m2));
	if (n2 < 0 || es_noise_read_msg2(&c, m2, (size_t)n2, got, sizeof(got)) != (int)len || memcmp(got, pl, len) != 0)
		__builtin_trap();
	if (es_noise_split(&c, &cc[0], &cc[1]) < 0 || es_noise_split(&s, &sc[0], &sc[1]) < 0 ||
			memcmp(cc[0].key, sc[1].key, 32) != 0 || memcmp(cc[1].key, sc[0].key, 32) != 0)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct es_noise hs;
	uint8_t pub[32], ts[ES_TAI64N_LEN], pl[ES_NOISE_PAYLOAD_MAX];
	int n;

	setup();
	if (size < 1)
		return 0;
	switch (data[0]) {
	case 0:
		if (es_noise_responder_init(&hs, &ss, FUZZ_PROLOGUE, FUZZ_PROLOGUE_LEN) < 0)
			__builtin_trap();
		n = es_noise_read_msg1(&hs, data + 1, size - 1, pub, ts, pl, sizeof(pl));
		if (n > (int)sizeof(pl) || (n < 0 && n != -EBADMSG))
			__builtin_trap();
		es_noise_clear(&hs);
		break;
	case 1: {
		struct es_cipher a, b;
		hs = client_after_msg1;
		n = es_noise_read_msg2(&hs, data + 1, size - 1, pl, sizeof(pl));
		if (n > (int)sizeof(pl) || (n < 0 && n != -EBADMSG))
			__builtin_trap();
		if (n >= 0 && es_noise_split(&hs, &a, &b) < 0)
			__builtin_trap();
		es_noise_clear(&hs);
		break;
	}
	case 2:
		whole(data + 1, size - 1);
		break;
	}
	return 0;
}
