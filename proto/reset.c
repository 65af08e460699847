/* SPDX-License-Identifier: MIT */
/*
 * Resets the client can check (earshot-enet.h, ES_RESET_LEN): the datagram,
 * and the keyed token that binds one to a session the daemon no longer has.
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "earshot-crypto.h"
#include "earshot-proto.h"
#include "wire.h"

_Static_assert(ES_RESET_TOKEN_LEN == sizeof(((struct es_welcome *)0)->reset_token), "the WELCOME carries a whole token");
_Static_assert(ES_RESET_LEN == 2 + ES_RESET_TOKEN_LEN, "a reset is its magic and its token");

static const uint8_t magic[2] = {'E', 'R'};

int es_reset_build(const uint8_t token[static ES_RESET_TOKEN_LEN], uint8_t *out, size_t cap)
{
	if (cap < ES_RESET_LEN)
		return -ENOSPC;
	memcpy(out, magic, sizeof(magic));
	memcpy(out + sizeof(magic), token, ES_RESET_TOKEN_LEN);
	return ES_RESET_LEN;
}

int es_is_reset(const uint8_t *buf, size_t len)
{
	return len == ES_RESET_LEN && memcmp(buf, magic, sizeof(magic)) == 0;
}

int es_reset_check(const uint8_t *buf, size_t len, const uint8_t token[static ES_RESET_TOKEN_LEN])
{
	if (!es_is_reset(buf, len))
		return -EBADMSG;
	return sodium_memcmp(buf + sizeof(magic), token, ES_RESET_TOKEN_LEN) == 0 ? 0 : -EACCES;
}

void es_reset_key(const uint8_t priv[static ES_KEY_LEN], uint8_t key[static ES_RESET_KEY_LEN])
{
	static const char label[] = "earshot reset key v1";
	/* a one-way, domain-separated function of the static key: the same
	 * after every restart, and it tells nothing about the key itself */
	crypto_generichash(key, ES_RESET_KEY_LEN, (const uint8_t *)label, sizeof(label), priv, ES_KEY_LEN);
}

void es_reset_token(const uint8_t key[static ES_RESET_KEY_LEN], uint32_t ipv4, uint16_t port, uint16_t peer_id,
		    uint8_t session, uint8_t out[static ES_RESET_TOKEN_LEN])
{
	static const char label[] = "earshot reset v1";
	uint8_t in[sizeof(label) + 4 + 2 + 2 + 1], mac[16];
	struct es_wr w;

	/* fixed-length input, as for the cookie: label, address bytes as on
	 * the wire, port, the ENet peer slot (12 bits) and session (2 bits) */
	es_wr_init(&w, in, sizeof(in));
	es_wr_bytes(&w, label, sizeof(label));
	es_wr_bytes(&w, &ipv4, 4);
	es_wr_u16(&w, port);
	es_wr_u16(&w, (uint16_t)(peer_id & 0x0FFF));
	es_wr_u8(&w, (uint8_t)(session & 3));
	crypto_generichash(mac, sizeof(mac), in, sizeof(in), key, ES_RESET_KEY_LEN);
	memcpy(out, mac, ES_RESET_TOKEN_LEN);
	sodium_memzero(mac, sizeof(mac));
}
