/* SPDX-License-Identifier: MIT */
/* The daemon's state file parser on anything: what parses formats and parses again to the same state. */
#include <stdlib.h>

#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct es_state_db *st = NULL;
	char why[256];
	if (es_state_parse(data, size, &st, why, sizeof(why)) < 0)
		return 0;
	size_t len;
	char *text = es_state_format(st, &len);
	if (!text)
		__builtin_trap();
	struct es_state_db *again = NULL;
	if (es_state_parse((const uint8_t *)text, len, &again, why, sizeof(why)) < 0 || !es_state_equal(st, again))
		__builtin_trap();
	free(text);
	es_state_free(again);
	es_state_free(st);
	return 0;
}
