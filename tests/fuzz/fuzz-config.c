/* SPDX-License-Identifier: MIT */
/*
 * es_config_parse_string on any text: errors, never a crash; whatever it
 * accepts dumps to a file that parses to the same settings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct es_config a, b;
	char dump[8192];

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	es_config_defaults(&a);
	int r = es_config_parse_string(&a, "fuzz.conf", text, devnull);
	free(text);
	if (r < 0)
		return 0;
	FILE *f = fmemopen(dump, sizeof(dump), "w");
	if (!f)
		return 0;
	es_config_dump(&a, f);
	fclose(f);
	es_config_defaults(&b);
	if (es_config_parse_string(&b, "dump", dump, devnull) < 0 || strcmp(a.listen.text, b.listen.text) != 0 ||
			strcmp(a.metrics.text, b.metrics.text) != 0 || a.max_people != b.max_people ||
			a.range_m != b.range_m || a.enrol != b.enrol || a.log_level != b.log_level ||
			strcmp(a.floor_plan, b.floor_plan) != 0 || memcmp(&a.limits, &b.limits, sizeof(a.limits)) != 0)
		__builtin_trap();
	return 0;
}
