/* SPDX-License-Identifier: MIT */
/*
 * es_state_parse on any bytes (the state file is read back after crashes and
 * by hand edits); what parses must format and parse back to the same state.
 * The checksum would stop nearly every mutation at the door, so inputs
 * starting with '+' get a correct checksum line appended to the rest: that
 * is how the body parser behind it gets fuzzed.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct es_state_db *a = NULL, *b = NULL;
	char why[160];
	size_t len;

	uint8_t *fixed = NULL;
	if (size > 0 && data[0] == '+') {
		uint8_t sum[32];
		char hex[65];
		fixed = malloc(size - 1 + 9 + 64 + 1);
		if (!fixed)
			return 0;
		memcpy(fixed, data + 1, size - 1);
		crypto_generichash(sum, sizeof(sum), data + 1, size - 1, NULL, 0);
		sodium_bin2hex(hex, sizeof(hex), sum, sizeof(sum));
		memcpy(fixed + size - 1, "checksum ", 9);
		memcpy(fixed + size - 1 + 9, hex, 64);
		fixed[size - 1 + 9 + 64] = '\n';
		data = fixed;
		size = size - 1 + 9 + 64 + 1;
	}
	int r = es_state_parse(data, size, &a, why, sizeof(why));
	free(fixed);
	if (r < 0)
		return 0;
	char *text = es_state_format(a, &len);
	if (!text || es_state_parse((const uint8_t *)text, len, &b, why, sizeof(why)) < 0 || !es_state_equal(a, b))
		__builtin_trap();
	free(text);
	es_state_free(a);
	es_state_free(b);
	return 0;
}
