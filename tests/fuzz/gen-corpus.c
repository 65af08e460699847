/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpora: small valid and invalid samples for each
 * harness, made with the same fixed keys as the harnesses so that the
 * valid ones really are valid.  Run by hand when formats change:
 *   build/tests/fuzz/fuzz-gen-corpus tests/fuzz/corpus
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "earshot-proto.h"
#include "fuzz.h"

static const char *root;

static void put(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", root, dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* mode byte + body */
static void put_mode(const char *dir, const char *name, uint8_t mode, const void *buf, size_t len)
{
	uint8_t tmp[4096];
	tmp[0] = mode;
	memcpy(tmp + 1, buf, len);
	put(dir, name, tmp, len + 1);
}

static void msg(void)
{
	static uint8_t opus[80];
	uint8_t buf[ES_MSG_MAX];
	struct es_msg m[6];
	int n;

	memset(opus, 0x5a, sizeof(opus));
	memset(m, 0, sizeof(m));
	m[0].type = ES_MSG_HELLO;
	m[0].u.hello = (struct es_hello){ES_PROTO_VERSION, ES_PF_MUTED, {-150, 450, 900}, 5, "alice"};
	m[1].type = ES_MSG_MOVE;
	m[1].u.move = (struct es_pos){10, -20, 1800};
	m[2].type = ES_MSG_PRESENCE;
	m[2].u.presence.count = 3;
	m[2].u.presence.entry[0] = (struct es_presence_entry){7, ES_PRESENCE_JOIN, ES_PF_TALKING, {1, 2, 3}, 3, "bob"};
	m[2].u.presence.entry[1] = (struct es_presence_entry){8, ES_PRESENCE_UPDATE, 0, {4, 5, 6}, 0, NULL};
	m[2].u.presence.entry[2] = (struct es_presence_entry){9, ES_PRESENCE_LEAVE, 0, {0, 0, 0}, 0, NULL};
	m[3].type = ES_MSG_AUDIO_UP;
	m[3].u.up = (struct es_audio_up){42, ES_PF_TALKING, sizeof(opus), opus};
	m[4].type = ES_MSG_AUDIO_DOWN;
	m[4].u.down.tick = 9;
	m[4].u.down.nvoices = 1;
	m[4].u.down.voice[0] = (struct es_bundle_voice){1, 2, 4096, -900, sizeof(opus), opus};
	m[4].u.down.mix_len = sizeof(opus);
	m[4].u.down.mix = opus;
	m[5].type = ES_MSG_BUSY;
	m[5].u.busy.retry_after_ms = 3000;
	for (int i = 0; i < 6; i++) {
		char name[32];
		n = es_msg_encode(&m[i], buf, sizeof(buf));
		if (n < 0)
			exit(1);
		snprintf(name, sizeof(name), "valid-%s", es_msg_type_name(m[i].type));
		put("msg", name, buf, (size_t)n);
		snprintf(name, sizeof(name), "truncated-%s", es_msg_type_name(m[i].type));
		put("msg", name, buf, (size_t)n - 1);
	}
	put("msg", "unknown-type", "\x7f\x00", 2);
	put("msg", "empty", "", 0);
}

static void noise(void)
{
	struct es_keypair cs, ss;
	uint8_t ce[32], se[32], ts[ES_TAI64N_LEN], pub[32], pl[64];
	uint8_t m1[ES_NOISE_MSG1_MAX], m2[ES_NOISE_MSG2_MAX];
	struct es_noise c, s;

	fuzz_keys(&cs, &ss, ce, se);
	memset(ts, 0, sizeof(ts)); /* as the harness's fixed client */
	if (es_noise_initiator_init(&c, &cs, ss.pub, FUZZ_PROLOGUE, FUZZ_PROLOGUE_LEN) < 0 ||
			es_noise_responder_init(&s, &ss, FUZZ_PROLOGUE, FUZZ_PROLOGUE_LEN) < 0)
		exit(1);
	es_noise_set_ephemeral(&c, ce);
	es_noise_set_ephemeral(&s, se);
	int n1 = es_noise_write_msg1(&c, ts, NULL, 0, m1, sizeof(m1));
	if (n1 < 0 || es_noise_read_msg1(&s, m1, (size_t)n1, pub, ts, pl, sizeof(pl)) < 0)
		exit(1);
	int n2 = es_noise_write_msg2(&s, (const uint8_t *)"welcome", 7, m2, sizeof(m2));
	if (n2 < 0 || es_noise_read_msg2(&c, m2, (size_t)n2, pl, sizeof(pl)) != 7)
		exit(1);
	put_mode("noise", "msg1-valid", 0, m1, (size_t)n1);
	put_mode("noise", "msg1-truncated", 0, m1, (size_t)n1 - 1);
	m1[40] ^= 1;
	put_mode("noise", "msg1-tampered", 0, m1, (size_t)n1);
	put_mode("noise", "msg2-valid", 1, m2, (size_t)n2);
	put_mode("noise", "msg2-short", 1, m2, ES_NOISE_MSG2_MIN - 1);
	put_mode("noise", "whole-empty", 2, "", 0);
	put_mode("noise", "whole-hello", 2, "hello", 5);
	memset(pl, 'x', sizeof(pl));
	put_mode("noise", "whole-64", 2, pl, sizeof(pl));
}

static void cipher(void)
{
	uint8_t key[32], pkt[64], buf[256];
	struct es_cipher tx;
	size_t o = 0;

	fuzz_cipher_key(key);
	es_cipher_init(&tx, key);
	for (int i = 0; i < 3; i++) {
		int n = es_cipher_seal(&tx, NULL, 0, (const uint8_t *)"abc", 3, pkt, sizeof(pkt));
		buf[o++] = (uint8_t)n;
		buf[o++] = 0;
		memcpy(buf + o, pkt, (size_t)n);
		o += (size_t)n;
	}
	put_mode("cipher", "raw-three-valid", 0, buf, o);
	/* the first packet again: a replay */
	memcpy(buf + o, buf, 2 + 3 + ES_CIPHER_OVERHEAD);
	put_mode("cipher", "raw-replay", 0, buf, o + 2 + 3 + ES_CIPHER_OVERHEAD);
	put_mode("cipher", "raw-short", 0, "\x05\x00\x01\x02\x03\x04\x05", 7);
	/* modelled steps: forward 1, forward 2, back 1, back 1 (replay),
	 * jump 3000, back 2000 (stale), back 1983 (oldest kept) */
	static const uint8_t steps[] = {
		0, 1, 0, 0, 2, 0, 1, 1, 0, 1, 1, 0,
		0, 0xb8, 0x0b, 1, 0xd0, 0x07, 1, 0xbf, 0x07,
	};
	put_mode("cipher", "model-edges", 1, steps, sizeof(steps));

	/* envelopes: two valid, the first again (a replay), one in the clear, one cut short */
	es_cipher_init(&tx, key);
	o = 0;
	for (int i = 0; i < 2; i++) {
		int n = es_envelope_seal(&tx, (const uint8_t *)"\x07\x01", 2, pkt, sizeof(pkt));
		buf[o++] = (uint8_t)n;
		buf[o++] = 0;
		memcpy(buf + o, pkt, (size_t)n);
		o += (size_t)n;
	}
	memcpy(buf + o, buf, 2 + 2 + ES_ENVELOPE_OVERHEAD);
	o += 2 + 2 + ES_ENVELOPE_OVERHEAD;
	memcpy(buf + o, "\x02\x00\x07\x01\x05\x00\x80\x01\x02\x03\x04", 11);
	o += 11;
	put_mode("cipher", "envelope-valid-replay-plain-short", 2, buf, o);
}

static void invite(void)
{
	struct es_invite inv;
	char text[ES_INVITE_TEXT_MAX];

	memset(&inv, 0, sizeof(inv));
	strcpy(inv.host, "office.example.com");
	inv.port = 7700;
	fuzz_key(inv.server_pub, 9);
	memset(inv.secret, 0x42, sizeof(inv.secret));
	strcpy(inv.name, "alice");
	int n = es_invite_encode(&inv, text, sizeof(text));
	if (n < 0)
		exit(1);
	put("invite", "valid", text, (size_t)n);
	put("invite", "truncated", text, (size_t)n - 3);
	text[n / 2] = text[n / 2] == 'A' ? 'B' : 'A';
	put("invite", "damaged", text, (size_t)n);
	strcpy(inv.host, "2001:db8::1");
	n = es_invite_encode(&inv, text, sizeof(text));
	put("invite", "valid-ipv6", text, (size_t)n);
	put("invite", "prefix-only", "es1-", 4);
}

static void enet(void)
{
	/* The CONNECT captured from ENet 1.3.17 (see tests/unit/test-cookie.c). */
	static const uint8_t connect[52] = {
		0x8f, 0xff, 0x8d, 0x71, 0x82, 0xff, 0x00, 0x01, 0x00, 0x00, 0xff, 0xff,
		0x00, 0x00, 0x05, 0x78, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x13, 0x88,
		0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x5d, 0x60, 0x38, 0xc6,
		0x12, 0x34, 0x56, 0x78,
	};
	static const uint8_t nonce[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint8_t buf[128];

	put("enet-connect", "connect-captured", connect, sizeof(connect));
	put("enet-connect", "connect-truncated", connect, sizeof(connect) - 1);
	memcpy(buf, connect, sizeof(connect));
	buf[0] |= 0x40;
	put("enet-connect", "connect-compressed", buf, sizeof(connect));
	/* no sent time: header is 2 bytes */
	memcpy(buf, "\x0f\xff", 2);
	memcpy(buf + 2, connect + 4, 48);
	put("enet-connect", "connect-no-senttime", buf, 50);
	/* an ACK to a connected peer */
	put("enet-connect", "ack-peer1", "\x80\x01\x00\x10\x01\x00\x00\x01\x00\x01\x00\x10", 12);
	int n = es_cookie_request_build(nonce, buf, sizeof(buf));
	put("enet-connect", "cookie-request", buf, (size_t)n);
	n = es_cookie_reply_build(nonce, 0xdeadbeef, buf, sizeof(buf));
	put("enet-connect", "cookie-reply", buf, (size_t)n);
	put("enet-connect", "empty", "", 0);
	/* a downlink bundle's header as the daemon's sender writes it, and its data */
	n = es_enet_unseq_write(5, 1, ES_CHAN_AUDIO, 0x0102, 4, buf, sizeof(buf));
	memcpy(buf + n, "\x80\x01\x02\x03", 4);
	put("enet-connect", "unsequenced-peer5", buf, (size_t)n + 4);
}

int main(int argc, char **argv)
{
	if (argc != 2 || sodium_init() < 0) {
		fprintf(stderr, "usage: %s CORPUS_ROOT\n", argv[0]);
		return 2;
	}
	root = argv[1];
	mkdir(root, 0755);
	msg();
	noise();
	cipher();
	invite();
	enet();
	return 0;
}

/* The generator links no harness; satisfy fuzz.h's declaration. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)data;
	(void)size;
	return 0;
}
