/* SPDX-License-Identifier: MIT */
/* es_msg_decode on anything; what decodes must re-encode to the same bytes. */
#include "earshot-proto.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t again[ES_MSG_MAX];
	struct es_msg m;

	int n = es_msg_decode(&m, data, size);
	if (n < 0)
		return 0;
	if ((size_t)n != size)
		__builtin_trap();
	int e = es_msg_encode(&m, again, sizeof(again));
	if (e != n || memcmp(again, data, size) != 0)
		__builtin_trap();
	return 0;
}
