/* SPDX-License-Identifier: MIT */
/*
 * The relay link's messages (proto/earshot-relay.h): round trips, every
 * truncation and a trailing byte refused, bad lengths and ids refused,
 * and random bytes and mutations of good messages never crash the decoder
 * (each answer is 0 or a negative errno, and a voice's frame lies inside
 * the buffer).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "earshot-proto.h"
#include "earshot-relay.h"
#include "test.h"

static uint8_t buf[ES_RELAY_MSG_MAX + 16];

static void truncations(const struct es_relay_msg *m)
{
	int n = es_relay_encode(m, buf, sizeof(buf));
	check(n > 0);
	struct es_relay_msg out;
	for (int len = 0; len < n; len++)
		check_int_eq(es_relay_decode(&out, buf, (size_t)len), -EBADMSG);
	buf[n] = 0;
	check_int_eq(es_relay_decode(&out, buf, (size_t)n + 1), -EBADMSG);
	check_int_eq(es_relay_encode(m, buf, (size_t)n - 1), -ENOSPC);
}

static bool decode_sane(const uint8_t *b, size_t len)
{
	struct es_relay_msg m;
	int r = es_relay_decode(&m, b, len);
	if (r == 0 && m.type == ES_RELAY_VOICE)
		return m.u.voice.len >= 1 && m.u.voice.len <= ES_OPUS_MAX && m.u.voice.opus >= b &&
		       m.u.voice.opus + m.u.voice.len == b + len;
	return r == 0 || r == -EBADMSG || r == -EPROTONOSUPPORT;
}

int main(void)
{
	uint8_t opus[ES_OPUS_MAX];
	for (unsigned i = 0; i < sizeof(opus); i++)
		opus[i] = (uint8_t)(i * 7 + 3);
	struct es_relay_msg v = {.type = ES_RELAY_VOICE,
				 .u.voice = {.speaker = 4095, .seq = 0xfedcba98u, .flags = ES_RELAY_VOICE_PREROLL, .floor = 3,
					     .x_cm = 775, .y_cm = -5, .len = 61, .opus = opus}};
	struct es_relay_msg out;
	int n = es_relay_encode(&v, buf, sizeof(buf));
	check_int_eq(n, ES_RELAY_VOICE_HDR + 61);
	check_int_eq(es_relay_decode(&out, buf, (size_t)n), 0);
	check_int_eq(out.type, ES_RELAY_VOICE);
	check_int_eq(out.u.voice.speaker, 4095);
	check(out.u.voice.seq == 0xfedcba98u);
	check_int_eq(out.u.voice.flags, ES_RELAY_VOICE_PREROLL);
	check_int_eq(out.u.voice.floor, 3);
	check_int_eq(out.u.voice.x_cm, 775);
	check_int_eq(out.u.voice.y_cm, -5);
	check_int_eq(out.u.voice.len, 61);
	check(memcmp(out.u.voice.opus, opus, 61) == 0);
	truncations(&v);
	/* the largest frame, and none larger or empty */
	v.u.voice.len = ES_OPUS_MAX;
	check_int_eq(es_relay_encode(&v, buf, sizeof(buf)), ES_RELAY_MSG_MAX);
	check_int_eq(es_relay_decode(&out, buf, ES_RELAY_MSG_MAX), 0);
	v.u.voice.len = ES_OPUS_MAX + 1;
	check_int_eq(es_relay_encode(&v, buf, sizeof(buf)), -EINVAL);
	v.u.voice.len = 0;
	check_int_eq(es_relay_encode(&v, buf, sizeof(buf)), -EINVAL);
	/* a length field that says 0 or more than the frame cap, on the wire */
	v.u.voice.len = 10;
	n = es_relay_encode(&v, buf, sizeof(buf));
	buf[ES_RELAY_VOICE_HDR - 2] = 0;
	check_int_eq(es_relay_decode(&out, buf, (size_t)n - 10), -EBADMSG);
	buf[ES_RELAY_VOICE_HDR - 2] = 0xff;
	buf[ES_RELAY_VOICE_HDR - 1] = 0xff;
	check_int_eq(es_relay_decode(&out, buf, (size_t)n), -EBADMSG);

	struct es_relay_msg off = {.type = ES_RELAY_OFF, .u.off.speaker = 77};
	n = es_relay_encode(&off, buf, sizeof(buf));
	check_int_eq(n, 3);
	check_int_eq(es_relay_decode(&out, buf, (size_t)n), 0);
	check_int_eq(out.type, ES_RELAY_OFF);
	check_int_eq(out.u.off.speaker, 77);
	truncations(&off);
	/* unknown types: refused apart, to be counted apart */
	buf[0] = 0x12;
	check_int_eq(es_relay_decode(&out, buf, 3), -EPROTONOSUPPORT);
	struct es_relay_msg bad = {.type = 0x12};
	check_int_eq(es_relay_encode(&bad, buf, sizeof(buf)), -EINVAL);

	/* HELLO: a daemon id as the cluster allows it */
	char id[ES_RELAY_ID_MAX + 1];
	n = es_relay_hello_encode("daemon-1.eu_west", buf, sizeof(buf));
	check(n > 0);
	check_int_eq(es_relay_hello_decode(id, buf, (size_t)n), 0);
	check(strcmp(id, "daemon-1.eu_west") == 0);
	for (int len = 0; len < n; len++)
		check_int_eq(es_relay_hello_decode(id, buf, (size_t)len), -EBADMSG);
	buf[n] = 'x';
	check_int_eq(es_relay_hello_decode(id, buf, (size_t)n + 1), -EBADMSG);
	buf[0] = 2; /* another version */
	check_int_eq(es_relay_hello_decode(id, buf, (size_t)n), -EBADMSG);
	check_int_eq(es_relay_hello_encode("", buf, sizeof(buf)), -EINVAL);
	check_int_eq(es_relay_hello_encode("a/b", buf, sizeof(buf)), -EINVAL);
	check_int_eq(es_relay_hello_encode("a b", buf, sizeof(buf)), -EINVAL);
	char longid[ES_RELAY_ID_MAX + 2];
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = 0;
	check_int_eq(es_relay_hello_encode(longid, buf, sizeof(buf)), -EINVAL);
	longid[ES_RELAY_ID_MAX] = 0;
	check(es_relay_hello_encode(longid, buf, sizeof(buf)) == 2 + ES_RELAY_ID_MAX);
	check_int_eq(es_relay_hello_encode("abc", buf, 4), -ENOSPC);
	const uint8_t nul_id[] = {1, 3, 'a', 0, 'b'};
	check_int_eq(es_relay_hello_decode(id, nul_id, sizeof(nul_id)), -EBADMSG);

	/* random bytes and mutated good messages: never a crash, never a frame outside the buffer */
	uint32_t x = 0x9e3779b9u;
	unsigned accepted = 0;
	for (unsigned i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		size_t len = x % 96;
		if (i % 2) {
			v.u.voice.len = (uint16_t)(1 + x % 80);
			n = es_relay_encode(&v, buf, sizeof(buf));
			check(n > 0);
			len = (size_t)n;
			for (unsigned k = 0; k < 1 + x % 3; k++) {
				x ^= x << 13;
				x ^= x >> 17;
				x ^= x << 5;
				buf[x % len] ^= (uint8_t)(1u << (x >> 29));
			}
		} else {
			for (size_t k = 0; k < len; k++) {
				x ^= x << 13;
				x ^= x >> 17;
				x ^= x << 5;
				buf[k] = (uint8_t)x;
			}
			if (len)
				buf[0] = (uint8_t)(ES_RELAY_VOICE + x % 3);
		}
		check(decode_sane(buf, len));
		accepted += es_relay_decode(&out, buf, len) == 0;
		check(es_relay_hello_decode(id, buf, len) == 0 || es_relay_hello_decode(id, buf, len) == -EBADMSG);
	}
	test_log("relay messages: 200000 random and mutated inputs, %u accepted as well formed, none crashed", accepted);
	return 0;
}
