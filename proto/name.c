/* SPDX-License-Identifier: MIT */
/*
 * People's names, and any text that reaches an admin's terminal or the log.
 *
 * A name is chosen by whoever joins and is shown to every admin: it must
 * not be able to drive the terminal it is printed on.  UTF-8 is decoded
 * strictly (no overlong forms, no surrogates, nothing above U+10FFFF), so a
 * byte sequence that some terminal would read as a C1 control (U+009B is
 * CSI, an escape sequence in one character) cannot hide in a malformed
 * encoding either.
 */
#include <stdio.h>
#include <string.h>

#include "earshot-proto.h"

/*
 * Decode one UTF-8 character at s (n > 0 bytes left).  Returns its length
 * (1-4) and the code point in *cp, or 0 for a byte that does not start a
 * well-formed character (RFC 3629).
 */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	size_t len;
	uint32_t v, min;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2, v = c & 0x1F, min = 0x80;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3, v = c & 0x0F, min = 0x800;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4, v = c & 0x07, min = 0x10000;
	else
		return 0; /* a continuation byte, an overlong lead (C0, C1) or beyond U+10FFFF */
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return len;
}

/*
 * Characters no name may hold: controls (C0, DEL, C1), the bidirectional
 * formatting characters (embeddings, overrides, isolates and the marks:
 * they make a name read as something else, or reorder the text after it),
 * and the line and paragraph separators.
 */
static bool cp_forbidden(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x061C || cp == 0x200E || cp == 0x200F ||
	       (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

bool es_name_valid(const char *name, size_t len)
{
	if (!name || len == 0 || len > ES_NAME_MAX)
		return false;
	const unsigned char *s = (const unsigned char *)name;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t k = utf8_next(s + i, len - i, &cp);
		if (k == 0 || cp_forbidden(cp))
			return false;
		i += k;
	}
	return true;
}

size_t es_text_escape(const char *in, size_t len, char *out, size_t cap)
{
	if (cap == 0)
		return 0;
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		uint32_t cp = 0;
		size_t k = utf8_next(s + i, len - i, &cp);
		char esc[12];
		const char *piece = (const char *)s + i;
		size_t plen = k;
		if (k == 0) {
			snprintf(esc, sizeof(esc), "\\x%02x", s[i]);
			piece = esc, plen = 4, k = 1;
		} else if (cp < 0x20 || cp == 0x7F) {
			snprintf(esc, sizeof(esc), "\\x%02x", (unsigned)cp);
			piece = esc, plen = 4;
		} else if (cp_forbidden(cp)) {
			snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
			piece = esc, plen = 6;
		} else if (cp == '\\') {
			piece = "\\\\", plen = 2;
		}
		if (o + plen >= cap)
			break; /* cut at a character, never inside one or an escape */
		memcpy(out + o, piece, plen);
		o += plen;
		i += k;
	}
	out[o] = 0;
	return o;
}
