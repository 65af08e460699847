/* SPDX-License-Identifier: MIT */
/*
 * What the daemon's host->intercept parses: ENet protocol headers (peer
 * id and session), CONNECTs, the commands of any other ENet datagram
 * (es_enet_walk), raw cookie datagrams; and what the client's does: resets
 * and their tokens.
 */
#include <errno.h>

#include "earshot-proto.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t secret[ES_COOKIE_SECRET_LEN] = { 7 };
	static const uint8_t my_nonce[ES_COOKIE_NONCE_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint8_t nonce[ES_COOKIE_NONCE_LEN], out[ES_COOKIE_REQUEST_LEN];
	uint32_t v;

	if (sodium_init() < 0)
		__builtin_trap();
	for (int ck = 0; ck < 2; ck++) {
		int r = es_enet_connect_parse(data, size, ck, &v);
		if (r != 0 && r != 1 && r != -EBADMSG)
			__builtin_trap();
		/* a raw cookie datagram must never pass for ENet */
		if (es_cookie_is_raw(data, size) && r != -EBADMSG)
			__builtin_trap();
		if (r == 1) {
			int c = es_cookie_check(secret, 0x0100007f, 4242, 1000, v);
			if (c != 0 && c != -EACCES)
				__builtin_trap();
		}
	}
	if (es_cookie_request_parse(data, size, nonce) == 0) {
		/* the server's answer: rebuild both and compare */
		if (es_cookie_request_build(nonce, out, sizeof(out)) != (int)size || memcmp(out, data, size) != 0)
			__builtin_trap();
		uint32_t c = es_cookie_make(secret, 0x0100007f, 4242, 1000);
		int n = es_cookie_reply_build(nonce, c, out, sizeof(out));
		if (n != ES_COOKIE_REPLY_LEN || n >= (int)size)
			__builtin_trap();
	}
	if (es_cookie_reply_parse(data, size, my_nonce, &v) == 0) {
		if (es_cookie_reply_build(my_nonce, v, out, sizeof(out)) != (int)size || memcmp(out, data, size) != 0)
			__builtin_trap();
	}

	/* the header: read back as written, and as es_enet_peer_id reads it */
	struct es_enet_header h;
	int hl = es_enet_header_parse(data, size, &h);
	if (hl != -EBADMSG && hl != 2 && hl != 4)
		__builtin_trap();
	if (hl > 0) {
		uint8_t hb[4];
		int id = es_enet_peer_id(data, size);
		if (h.peer_id > ES_ENET_PEER_NONE || h.session > 3 || (size >= 4 && id != h.peer_id) ||
		    (size < 4 && id != -EBADMSG) || hl != (h.sent_time ? 4 : 2))
			__builtin_trap();
		bool compressed = h.compressed;
		h.compressed = false;
		if (es_enet_header_write(&h, hb, sizeof(hb)) != hl)
			__builtin_trap();
		/* the same bytes, but for the compressed flag and a CONNECT's session bits, which ENet ignores */
		uint16_t mask = (uint16_t)~ES_ENET_FLAG_COMPRESSED;
		if (h.peer_id == ES_ENET_PEER_NONE)
			mask &= (uint16_t)~(3u << ES_ENET_SESSION_SHIFT);
		uint16_t was = (uint16_t)(data[0] << 8 | data[1]), now = (uint16_t)(hb[0] << 8 | hb[1]);
		if ((was & mask) != now || (hl == 4 && memcmp(hb + 2, data + 2, 2) != 0) ||
		    compressed != ((was & ES_ENET_FLAG_COMPRESSED) != 0))
			__builtin_trap();
		/* an unsequenced packet for that peer: one command, the data after it */
		uint8_t u[ES_ENET_UNSEQ_HEADER + 16];
		size_t dl = size < 16 ? size : 16;
		if (es_enet_unseq_write(h.peer_id, h.session, data[0], (uint16_t)size, dl, u, sizeof(u)) != ES_ENET_UNSEQ_HEADER)
			__builtin_trap();
		memcpy(u + ES_ENET_UNSEQ_HEADER, data, dl);
		struct es_enet_walk uw;
		struct es_enet_cmd uc;
		if (es_enet_walk_init(&uw, u, ES_ENET_UNSEQ_HEADER + dl, false) != 0 || es_enet_walk_next(&uw, &uc) != 1 ||
		    uc.type != ES_ENET_CMD_SEND_UNSEQUENCED || uc.data_len != dl || uc.channel != data[0] ||
		    es_enet_walk_next(&uw, &uc) != 0)
			__builtin_trap();
	} else if (size >= 4 || (size >= 2 && !(data[0] & 0x80))) {
		__builtin_trap(); /* only a header cut short is refused */
	}

	/* the walker: commands in order, inside the datagram, each at least a command header */
	for (int ck = 0; ck < 2; ck++) {
		struct es_enet_walk w;
		struct es_enet_cmd c;
		if (es_enet_walk_init(&w, data, size, ck) < 0)
			continue;
		size_t end = (data[0] & 0x80 ? 4 : 2) + (ck ? 4 : 0);
		while (es_enet_walk_next(&w, &c) > 0) {
			if (c.offset != end || c.size < 4 || c.size > size - c.offset || c.type == 0 ||
			    c.type >= ES_ENET_CMD__COUNT || (data[c.offset] & 0x0F) != c.type)
				__builtin_trap();
			end = c.offset + c.size;
		}
		if (es_enet_walk_next(&w, &c) != 0) /* the end stays the end */
			__builtin_trap();
	}

	/* resets: the shape, and a token that matches only itself */
	static const uint8_t priv[32] = {9};
	static uint8_t key[ES_RESET_KEY_LEN];
	if (!key[0] && !key[1])
		es_reset_key(priv, key);
	uint8_t token[ES_RESET_TOKEN_LEN] = {0}, r[ES_RESET_LEN];
	if (size >= ES_RESET_TOKEN_LEN + 4) {
		uint32_t ip;
		memcpy(&ip, data, 4);
		es_reset_token(key, ip, (uint16_t)(data[4] | data[5] << 8), (uint16_t)(data[6] | data[7] << 8), data[8], token);
	}
	int rc = es_reset_check(data, size, token);
	if ((rc == -EBADMSG) != !es_is_reset(data, size) || (rc != 0 && rc != -EACCES && rc != -EBADMSG))
		__builtin_trap();
	if (rc == 0 && memcmp(data + 2, token, ES_RESET_TOKEN_LEN) != 0)
		__builtin_trap();
	if (es_reset_build(token, r, sizeof(r)) != ES_RESET_LEN || es_reset_check(r, sizeof(r), token) != 0 ||
	    es_enet_connect_parse(r, sizeof(r), false, &v) != -EBADMSG || es_cookie_is_raw(r, sizeof(r)))
		__builtin_trap();
	return 0;
}
