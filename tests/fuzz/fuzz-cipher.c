/* SPDX-License-Identifier: MIT */
/*
 * es_cipher_open.  First byte picks the mode:
 *   0  the rest is a sequence of packets, each [u16 LE length][bytes],
 *      opened by one receiver (raw bytes almost never authenticate)
 *   1  the rest is a sequence of 3-byte steps [dir][u16 LE distance]: a
 *      sender seals a packet at newest + distance (dir even) or newest -
 *      distance (dir odd), the receiver opens it, and the result must match
 *      a naive model of the replay window
 *   2  the rest is a sequence of packets as in 0, opened as sealed
 *      envelopes (es_envelope_open), each also sealed and opened again
 */
#include <errno.h>

#include "earshot-proto.h"
#include "fuzz.h"

#define MODEL_MAX 8192

static uint8_t key[32];

/* The next [u16 LE length][bytes] of the input (the length cut to what is left), or NULL at its end. */
static const uint8_t *next_packet(const uint8_t **in, size_t *left, size_t *len)
{
	if (*left < 2)
		return NULL;
	const uint8_t *p = *in + 2;
	*len = (size_t)((*in)[0] | (*in)[1] << 8);
	*left -= 2;
	if (*len > *left)
		*len = *left;
	*in = p + *len;
	*left -= *len;
	return p;
}

static void raw(const uint8_t *in, size_t left)
{
	struct es_cipher rx;
	uint8_t out[65536];

	es_cipher_init(&rx, key);
	const uint8_t *p;
	size_t len;
	while ((p = next_packet(&in, &left, &len))) {
		int n = es_cipher_open(&rx, NULL, 0, p, len, out, sizeof(out));
		if (n >= 0 && (size_t)n + ES_CIPHER_OVERHEAD != len)
			__builtin_trap();
	}
}

static void envelopes(const uint8_t *in, size_t left)
{
	struct es_cipher rx, tx, rx2;
	static uint8_t out[65536], pkt[65536 + ES_ENVELOPE_OVERHEAD];

	es_cipher_init(&rx, key);
	es_cipher_init(&tx, key);
	es_cipher_init(&rx2, key);
	const uint8_t *p;
	size_t len;
	while ((p = next_packet(&in, &left, &len))) {
		int n = es_envelope_open(&rx, p, len, out, sizeof(out));
		if (n >= 0 && (size_t)n + ES_ENVELOPE_OVERHEAD != len)
			__builtin_trap();
		if (n < 0 && n != -ENOMSG && n != -EBADMSG && n != -EALREADY && n != -ESTALE)
			__builtin_trap();
		if ((n == -ENOMSG) != (len == 0 || p[0] != ES_MSG_SEALED))
			__builtin_trap();
		/* whatever it was, sealed it opens to itself */
		int k = es_envelope_seal(&tx, p, len, pkt, sizeof(pkt));
		if (k != (int)(len + ES_ENVELOPE_OVERHEAD) || pkt[0] != ES_MSG_SEALED)
			__builtin_trap();
		int m = es_envelope_open(&rx2, pkt, (size_t)k, out, sizeof(out));
		if (len + ES_ENVELOPE_OVERHEAD > ES_MSG_MAX ? m != -EBADMSG : (m != (int)len || memcmp(out, p, len) != 0))
			__builtin_trap();
	}
}

static void modelled(const uint8_t *p, size_t left)
{
	static uint64_t seen[MODEL_MAX];
	size_t nseen = 0;
	uint64_t newest = 0;
	bool any = false;
	struct es_cipher tx, rx;
	uint8_t pkt[64], out[64];

	es_cipher_init(&tx, key);
	es_cipher_init(&rx, key);
	for (; left >= 3 && nseen < MODEL_MAX; p += 3, left -= 3) {
		uint64_t d = (uint64_t)(p[1] | p[2] << 8), n;
		if (p[0] & 1)
			n = d > newest ? 0 : newest - d;
		else
			n = newest + d;

		int expect = 0;
		if (any && n <= newest) {
			if (newest - n >= ES_REPLAY_WINDOW)
				expect = -ESTALE;
			for (size_t i = 0; i < nseen && expect == 0; i++)
				if (seen[i] == n)
					expect = -EALREADY;
		}
		tx.send_next = n;
		int len = es_cipher_seal(&tx, p, 1, p, 3, pkt, sizeof(pkt));
		if (len != 3 + ES_CIPHER_OVERHEAD)
			__builtin_trap();
		int got = es_cipher_open(&rx, p, 1, pkt, (size_t)len, out, sizeof(out));
		if (got != (expect ? expect : 3))
			__builtin_trap();
		if (got == 3) {
			if (memcmp(out, p, 3) != 0)
				__builtin_trap();
			seen[nseen++] = n;
			if (!any || n > newest)
				newest = n;
			any = true;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (sodium_init() < 0)
		__builtin_trap();
	fuzz_cipher_key(key);
	if (size < 1)
		return 0;
	if (data[0] == 0)
		raw(data + 1, size - 1);
	else if (data[0] == 1)
		modelled(data + 1, size - 1);
	else if (data[0] == 2)
		envelopes(data + 1, size - 1);
	return 0;
}
