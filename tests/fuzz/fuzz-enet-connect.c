/* SPDX-License-Identifier: MIT */
/* What the daemon's host->intercept parses: ENet CONNECTs and raw cookie datagrams. */
#include <errno.h>

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
	return 0;
}
