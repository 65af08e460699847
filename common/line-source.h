/* SPDX-License-Identifier: MIT */
/*
 * A line reader for inih's ini_parse_stream over a FILE or a string that
 * knows the line number of the chunk it returned last (inih reports only
 * its own count, which a value continued over lines can throw off).
 * Shared by earshotd.conf and the client's earshot.conf.
 */
#ifndef EARSHOT_LINE_SOURCE_H
#define EARSHOT_LINE_SOURCE_H

#include <stdio.h>

struct es_line_source {
	FILE *f;         /* source: a FILE, or else the string */
	const char *str;
	int cur_line;    /* line of the chunk last returned */
	int next_line;   /* line of the next chunk (start at 1) */
};

/* inih's reader: stream points at a struct es_line_source. */
char *es_line_source_read(char *buf, int num, void *stream);

#endif
