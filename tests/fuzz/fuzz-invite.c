/* SPDX-License-Identifier: MIT */
/* es_invite_decode on any text; what decodes must re-encode and decode the same. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct es_invite a, b;
	char text[ES_INVITE_TEXT_MAX], fp[ES_FINGERPRINT_LEN];

	if (sodium_init() < 0)
		__builtin_trap();
	if (es_invite_decode(&a, (const char *)data, size) < 0)
		return 0;
	int n = es_invite_encode(&a, text, sizeof(text));
	if (n <= 0 || es_invite_decode(&b, text, (size_t)n) < 0 ||
			strcmp(a.host, b.host) != 0 || strcmp(a.name, b.name) != 0 || a.port != b.port ||
			memcmp(a.server_pub, b.server_pub, 32) != 0 || memcmp(a.secret, b.secret, 16) != 0 ||
			a.nmore != b.nmore)
		__builtin_trap();
	for (unsigned i = 0; i < a.nmore; i++)
		if (strcmp(a.more[i].host, b.more[i].host) != 0 || a.more[i].port != b.more[i].port)
			__builtin_trap();
	es_key_fingerprint(a.server_pub, fp);
	if (strlen(fp) != ES_FINGERPRINT_LEN - 1)
		__builtin_trap();
	return 0;
}
