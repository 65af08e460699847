/* SPDX-License-Identifier: MIT */
/* es_join_payload_decode (the HELLO inside handshake message 1) on anything. */
#include "earshot-proto.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t again[512];
	struct es_join_payload p;
	if (es_join_payload_decode(&p, data, size) < 0)
		return 0;
	/* what decodes re-encodes to the same bytes */
	int n = es_join_payload_encode(&p, again, sizeof(again));
	if (n < 0 || (size_t)n != size || memcmp(again, data, size) != 0)
		__builtin_trap();
	return 0;
}
