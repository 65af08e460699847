/* SPDX-License-Identifier: MIT */
/*
 * The sealed envelope (earshot-crypto.h): the one place that knows how a
 * message travels once the handshake is done.
 */
#include <errno.h>

#include "earshot-crypto.h"
#include "earshot-proto.h"

/* the type byte is authenticated too: a sealed packet cannot be relabelled */
static const uint8_t envelope_ad = ES_MSG_SEALED;

int es_envelope_seal(struct es_cipher *tx, const uint8_t *msg, size_t len, uint8_t *out, size_t cap)
{
	if (cap < 1)
		return -ENOSPC;
	out[0] = ES_MSG_SEALED;
	int k = es_cipher_seal(tx, &envelope_ad, 1, msg, len, out + 1, cap - 1);
	return k < 0 ? k : k + 1;
}

int es_envelope_seal_msg(struct es_cipher *tx, const struct es_msg *m, uint8_t *out, size_t cap)
{
	uint8_t plain[ES_MSG_MAX];
	int n = es_msg_encode(m, plain, sizeof(plain));
	if (n < 0)
		return n;
	return es_envelope_seal(tx, plain, (size_t)n, out, cap);
}

int es_envelope_open(struct es_cipher *rx, const uint8_t *pkt, size_t len, uint8_t *out, size_t cap)
{
	if (len < 1 || pkt[0] != ES_MSG_SEALED)
		return -ENOMSG;
	/* the bounds es_msg_decode puts on an ES_MSG_SEALED */
	if (len - 1 == 0 || len - 1 > ES_MSG_MAX - 1)
		return -EBADMSG;
	return es_cipher_open(rx, &envelope_ad, 1, pkt + 1, len - 1, out, cap);
}
