/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "line-source.h"

char *es_line_source_read(char *buf, int num, void *stream)
{
	struct es_line_source *c = stream;
	size_t n = 0;

	if (num < 2)
		return NULL;
	if (c->f) {
		if (!fgets(buf, num, c->f))
			return NULL;
		n = strlen(buf);
	} else {
		if (*c->str == '\0')
			return NULL;
		while (n < (size_t)num - 1 && c->str[n] != '\0') {
			buf[n] = c->str[n];
			if (c->str[n++] == '\n')
				break;
		}
		buf[n] = '\0';
		c->str += n;
	}
	c->cur_line = c->next_line;
	if (n > 0 && buf[n - 1] == '\n')
		c->next_line++;
	return buf;
}
