/* SPDX-License-Identifier: MIT */
/*
 * Names (proto/name.c): what may be a name, and how any text is written
 * for a terminal or a log.
 */
#include <string.h>

#include "earshot-proto.h"
#include "test.h"

static bool valid(const char *s)
{
	return es_name_valid(s, strlen(s));
}

static const char *esc(const char *s)
{
	static char out[256];
	es_text_escape(s, strlen(s), out, sizeof(out));
	return out;
}

int main(void)
{
	check(valid("alice"));
	check(valid("Bob Smith"));
	check(valid("Zo\xc3\xab"));                 /* ë */
	check(valid("\xe6\x9d\x8e\xe9\x9b\xb7"));   /* CJK */
	check(valid("\xf0\x9f\x98\x80"));           /* an emoji, 4 bytes */
	check(valid("\xc2\xa0x"));                  /* U+00A0: the first after C1 */
	check(valid("abcdefghijklmnopqrstuvwxyz012345")); /* 32 bytes */
	check(!valid("abcdefghijklmnopqrstuvwxyz0123456"));
	check(!es_name_valid("", 0));
	check(!es_name_valid(NULL, 3));
	check(!es_name_valid("a\0b", 3));
	static const char *const bad[] = {
		"\x1b[31m", "a\tb", "a\x7f", "a\xc2\x80", "a\xc2\x9b", "a\xc2\x9f",  /* C0, DEL, C1 */
		"\xe2\x80\xaa", "\xe2\x80\xae", "\xe2\x81\xa6", "\xe2\x81\xa9",          /* embeddings, overrides, isolates */
		"\xe2\x80\x8e", "\xe2\x80\x8f", "\xd8\x9c",                           /* LRM, RLM, ALM */
		"\xe2\x80\xa8", "\xe2\x80\xa9",                                       /* line, paragraph separators */
		"\xff", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf",   /* not UTF-8, overlong */
		"\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",               /* surrogate, > U+10FFFF */
		"a\xc3", "a\xe6\x9d", "\x80x",                                        /* cut short, lone continuation */
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (valid(bad[i])) {
			test_log("bad name %u accepted", i);
			check(0);
		}

	/* escaping: what a name may hold passes as it is, the rest is spelled out */
	check(strcmp(esc("Zo\xc3\xab \xe6\x9d\x8e"), "Zo\xc3\xab \xe6\x9d\x8e") == 0);
	check(strcmp(esc("\x1b[31mred"), "\\x1b[31mred") == 0);
	check(strcmp(esc("a\xc2\x9b" "1m"), "a\\u009b1m") == 0);
	check(strcmp(esc("x\xe2\x80\xaegpj.exe"), "x\\u202egpj.exe") == 0);
	check(strcmp(esc("a\xffz"), "a\\xffz") == 0);
	check(strcmp(esc("a\xc0\xafz"), "a\\xc0\\xafz") == 0);
	check(strcmp(esc("two\nlines"), "two\\x0alines") == 0);
	check(strcmp(esc("back\\slash"), "back\\\\slash") == 0);
	/* cut at a character or an escape, never inside one */
	char small[6];
	check_int_eq(es_text_escape("ab\x1b", 3, small, sizeof(small)), 2);
	check(strcmp(small, "ab") == 0);
	check_int_eq(es_text_escape("a\xe6\x9d\x8e", 4, small, 4), 1);
	check(strcmp(small, "a") == 0);
	check_int_eq(es_text_escape("abc", 3, small, 0), 0);
	printf("names: ok\n");
	return 0;
}
