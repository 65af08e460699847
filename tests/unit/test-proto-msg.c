/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "earshot-proto.h"
#include "test.h"

static uint8_t buf[ES_MSG_MAX];
static uint8_t opus_a[100], opus_b[60], opus_mix[200];

/* Encode, decode, re-encode: the bytes must be identical. */
static int roundtrip(const struct es_msg *m, struct es_msg *out)
{
	int n = es_msg_encode(m, buf, sizeof(buf));
	check(n > 0);
	check_int_eq(es_msg_decode(out, buf, (size_t)n), n);
	check_int_eq(out->type, m->type);
	uint8_t again[ES_MSG_MAX];
	int n2 = es_msg_encode(out, again, sizeof(again));
	check_int_eq(n2, n);
	check(memcmp(again, buf, (size_t)n) == 0);
	return n;
}

/* Every strict prefix must be rejected, and so must one trailing byte. */
static void truncations(const struct es_msg *m)
{
	int n = es_msg_encode(m, buf, sizeof(buf));
	check(n > 0);
	struct es_msg out;
	for (int len = 0; len < n; len++) {
		int r = es_msg_decode(&out, buf, (size_t)len);
		if (r != -EBADMSG) {
			test_log("type %s accepted truncation to %d of %d (r=%d)", es_msg_type_name(m->type), len, n, r);
			check(0);
		}
	}
	buf[n] = 0;
	check_int_eq(es_msg_decode(&out, buf, (size_t)n + 1), -EBADMSG);
	/* and no encode into a buffer one byte short */
	check_int_eq(es_msg_encode(m, buf, (size_t)n - 1), -ENOSPC);
}

static struct es_msg samples[18];
static struct es_door_state doors_in[3] = {{1, 1}, {7, 0}, {4095, 1}};
static uint8_t floor_text[100];

static void make_samples(void)
{
	memset(opus_a, 0xA5, sizeof(opus_a));
	memset(opus_b, 0x5A, sizeof(opus_b));
	memset(opus_mix, 0x33, sizeof(opus_mix));
	samples[0].type = ES_MSG_HELLO;
	samples[0].u.hello = (struct es_hello){ES_PROTO_VERSION, ES_PF_MUTED, {-150, 450, 900}, 5, "alice", 300};
	samples[1].type = ES_MSG_WELCOME;
	samples[1].u.welcome = (struct es_welcome){.version = ES_PROTO_VERSION, .id = 42, .pos = {100, -200, 3599}};
	samples[2].type = ES_MSG_BUSY;
	samples[2].u.busy.retry_after_ms = 4321;
	samples[3].type = ES_MSG_MOVE;
	samples[3].u.move = (struct es_pos){INT32_MIN, INT32_MAX, 1};
	samples[4].type = ES_MSG_STATE;
	samples[4].u.state.flags = ES_PF_FOCUS;
	samples[5].type = ES_MSG_BYE;
	samples[5].u.bye.reason = ES_BYE_RESTART;
	samples[6].type = ES_MSG_PRESENCE;
	struct es_presence *p = &samples[6].u.presence;
	p->count = 3;
	p->entry[0] = (struct es_presence_entry){7, ES_PRESENCE_JOIN, ES_PF_TALKING, {1, 2, 3}, 3, "bob"};
	p->entry[1] = (struct es_presence_entry){8, ES_PRESENCE_UPDATE, ES_PF_MUTED, {4, 5, 6}, 0, NULL};
	p->entry[2] = (struct es_presence_entry){9, ES_PRESENCE_LEAVE, 0, {0, 0, 0}, 0, NULL};
	samples[7].type = ES_MSG_AUDIO_UP;
	samples[7].u.up = (struct es_audio_up){0xdeadbeef, ES_PF_TALKING, sizeof(opus_a), opus_a};
	samples[8].type = ES_MSG_AUDIO_DOWN;
	struct es_audio_down *d = &samples[8].u.down;
	d->tick = 77;
	d->seq = 65535;
	d->nvoices = 2;
	d->voice[0] = (struct es_bundle_voice){.speaker = 1, .seq = 2, .gain_q = 4096, .azimuth = -900,
					      .len = sizeof(opus_a), .opus = opus_a};
	d->voice[1] = (struct es_bundle_voice){.speaker = 3, .seq = 4, .gain_q = 100, .azimuth = 1800,
					      .len = sizeof(opus_b), .opus = opus_b};
	d->mix_len = sizeof(opus_mix);
	d->mix = opus_mix;
	d->mix_stream = 0x01020304;
	d->mix_flags = ES_MIX_MIRROR;
	memset(floor_text, 'x', sizeof(floor_text));
	samples[9].type = ES_MSG_FLOOR;
	samples[9].u.floor = (struct es_floor_chunk){1000, 900, 100, floor_text};
	samples[10].type = ES_MSG_DOORS;
	samples[10].u.doors = (struct es_doors){3, doors_in, NULL};
	samples[11].type = ES_MSG_KNOCK;
	samples[11].u.knock = (struct es_knock){3, 9};
	samples[12].type = ES_MSG_WHISPER;
	samples[12].u.whisper = (struct es_whisper){-1, 0};
	samples[13].type = ES_MSG_VOLUME;
	samples[13].u.volume = (struct es_volume){5, 8192};
	samples[14].type = ES_MSG_ADMIN;
	samples[14].u.admin = (struct es_admin_notice){ES_ADMIN_MUTED | ES_ADMIN_MOVED, {3000, -50, 1800}};
	samples[15].type = ES_MSG_LINK;
	samples[15].u.link = (struct es_link){125, 50};
	/* a full bundle: eight voices, one concealed (no frame), one carrying the next frame for its FEC */
	samples[16].type = ES_MSG_AUDIO_DOWN;
	d = &samples[16].u.down;
	d->tick = 78;
	d->seq = 1;
	d->nvoices = ES_BUNDLE_VOICES_MAX;
	for (unsigned i = 0; i < ES_BUNDLE_VOICES_MAX; i++)
		d->voice[i] = (struct es_bundle_voice){.speaker = (uint16_t)(10 + i), .seq = (uint16_t)i, .gain_q = 2048,
						      .azimuth = (int16_t)(-1800 + 450 * (int)i), .len = sizeof(opus_b), .opus = opus_b};
	d->voice[3].len = 0;
	d->voice[3].opus = NULL;
	d->voice[5].flags = ES_VOICE_FEC;
	samples[17].type = ES_MSG_REDIRECT;
	samples[17].u.redirect = (struct es_redirect){.reason = ES_REDIRECT_MOVED, .pos = {2500, 7400, 900}, .naddr = 2};
	strcpy(samples[17].u.redirect.addr[0], "127.0.0.1:47002");
	strcpy(samples[17].u.redirect.addr[1], "[::1]:47003");
}


int main(void)
{
	make_samples();
	struct es_msg out;
	for (unsigned i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		roundtrip(&samples[i], &out);
		truncations(&samples[i]);
	}
	/* the new office messages carry what was put in */
	roundtrip(&samples[10], &out);
	check_int_eq(es_doors_at(&out.u.doors, 2).door, 4095);
	check_int_eq(es_doors_at(&out.u.doors, 1).open, 0);
	roundtrip(&samples[12], &out);
	check_int_eq(out.u.whisper.to, -1);
	/* a floor chunk that claims to run past the plan's end */
	struct es_msg fl = samples[9];
	fl.u.floor.offset = 950;
	check_int_eq(es_msg_encode(&fl, buf, sizeof(buf)), -EINVAL);
	int fn = es_msg_encode(&samples[9], buf, sizeof(buf));
	buf[5] = 0xEE; /* offset 900 -> 0xEE84: past total */
	check_int_eq(es_msg_decode(&out, buf, (size_t)fn), -EBADMSG);
	/* a door state that is neither open nor closed */
	fn = es_msg_encode(&samples[10], buf, sizeof(buf));
	buf[fn - 1] = 2;
	check_int_eq(es_msg_decode(&out, buf, (size_t)fn), -EBADMSG);
	/* a volume over 4x */
	uint8_t vol[5] = {ES_MSG_VOLUME, 1, 0, 0x01, 0x41};
	check_int_eq(es_msg_decode(&out, vol, sizeof(vol)), -EBADMSG);

	/* a redirect: where to go, the other daemons, the place; no empty or spaced address, no unknown reason */
	roundtrip(&samples[17], &out);
	check(!es_msg_is_plain(ES_MSG_REDIRECT));
	check_int_eq(out.u.redirect.naddr, 2);
	check(strcmp(out.u.redirect.addr[1], "[::1]:47003") == 0);
	check_int_eq(out.u.redirect.pos.y_cm, 7400);
	struct es_msg bad_rd = samples[17];
	bad_rd.u.redirect.addr[1][0] = 0;
	check_int_eq(es_msg_encode(&bad_rd, buf, sizeof(buf)), -EINVAL);
	bad_rd = samples[17];
	bad_rd.u.redirect.naddr = 0;
	check_int_eq(es_msg_encode(&bad_rd, buf, sizeof(buf)), -EINVAL);
	fn = es_msg_encode(&samples[17], buf, sizeof(buf));
	buf[fn - 3] = ' ';
	check_int_eq(es_msg_decode(&out, buf, (size_t)fn), -EBADMSG);
	fn = es_msg_encode(&samples[17], buf, sizeof(buf));
	buf[1] = 9; /* reason */
	check_int_eq(es_msg_decode(&out, buf, (size_t)fn), -EBADMSG);

	/* the uplink report: fields round-trip, loss over 100 % and an empty window are refused */
	roundtrip(&samples[15], &out);
	check_int_eq(out.u.link.loss_permille, 125);
	check_int_eq(out.u.link.frames, 50);
	check(!es_msg_is_plain(ES_MSG_LINK));
	uint8_t lk[5] = {ES_MSG_LINK, 0xE9, 0x03, 10, 0}; /* 1001 permille */
	check_int_eq(es_msg_decode(&out, lk, sizeof(lk)), -EBADMSG);
	lk[1] = 0xE8; /* 1000: all lost is a fine report */
	check_int_eq(es_msg_decode(&out, lk, sizeof(lk)), (int)sizeof(lk));
	lk[3] = 0;
	check_int_eq(es_msg_decode(&out, lk, sizeof(lk)), -EBADMSG);
	struct es_msg bad_link = samples[15];
	bad_link.u.link.loss_permille = 1001;
	check_int_eq(es_msg_encode(&bad_link, buf, sizeof(buf)), -EINVAL);

	/* a WELCOME with the session's reset token: it comes back; a piece of one is nothing */
	struct es_msg wt = samples[1];
	wt.u.welcome.has_reset = true;
	memcpy(wt.u.welcome.reset_token, "\x01\x02\x03\x04\x05\x06", ES_RESET_TOKEN_LEN);
	int wn = roundtrip(&wt, &out);
	check(out.u.welcome.has_reset && memcmp(out.u.welcome.reset_token, "\x01\x02\x03\x04\x05\x06", 6) == 0);
	check_int_eq(out.u.welcome.id, 42);
	for (int len = wn - ES_RESET_TOKEN_LEN + 1; len < wn; len++)
		check_int_eq(es_msg_decode(&out, buf, (size_t)len), -EBADMSG);
	check_int_eq(es_msg_decode(&out, buf, (size_t)(wn - ES_RESET_TOKEN_LEN)), wn - ES_RESET_TOKEN_LEN);
	check(!out.u.welcome.has_reset); /* a daemon from before the token */
	/* names: C1 controls, invalid UTF-8 and bidi overrides are refused on the wire */
	static const char *const bad_names[] = {"a\xc2\x9b" "1", "a\xc2\x85", "a\xff", "a\xc0\xaf", "a\xe2\x80\xae",
						"a\xe2\x81\xa6", "a\xed\xa0\x80", "a\xf4\x90\x80\x80", "a\x7f", "a\xe2\x80"};
	for (unsigned i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		struct es_msg h = samples[0];
		h.u.hello.name = bad_names[i];
		h.u.hello.name_len = (uint8_t)strlen(bad_names[i]);
		check_int_eq(es_msg_encode(&h, buf, sizeof(buf)), -EINVAL);
		uint8_t raw[64] = {ES_MSG_HELLO, 1, 0, 0};
		size_t rl = 4 + 10;
		raw[rl++] = h.u.hello.name_len;
		memcpy(raw + rl, h.u.hello.name, h.u.hello.name_len);
		rl += h.u.hello.name_len;
		check_int_eq(es_msg_decode(&out, raw, rl), -EBADMSG);
	}
	struct es_msg good = samples[0];
	good.u.hello.name = "Zo\xc3\xab \xe6\x9d\x8e \xf0\x9f\x98\x80";
	good.u.hello.name_len = (uint8_t)strlen(good.u.hello.name);
	roundtrip(&good, &out);

	/* decoded fields are the ones encoded */
	roundtrip(&samples[0], &out);
	check(out.u.hello.name_len == 5 && memcmp(out.u.hello.name, "alice", 5) == 0);
	check_int_eq(out.u.hello.pos.x_cm, -150);
	check_int_eq(out.u.hello.downlink_kbps, 300);
	/* a version 1 HELLO has no budget: it still decodes, so the server can refuse its version clearly */
	struct es_msg old = samples[0];
	old.u.hello.version = 1;
	int on = es_msg_encode(&old, buf, sizeof(buf));
	check_int_eq(on, es_msg_encode(&samples[0], buf + 100, sizeof(buf) - 100) - 2);
	check_int_eq(es_msg_decode(&out, buf, (size_t)on), on);
	check_int_eq(out.u.hello.version, 1);
	check_int_eq(out.u.hello.downlink_kbps, 0);
	/* a budget out of range, both ways */
	struct es_msg bad_dl = samples[0];
	bad_dl.u.hello.downlink_kbps = ES_DOWNLINK_MIN_KBPS - 1;
	check_int_eq(es_msg_encode(&bad_dl, buf, sizeof(buf)), -EINVAL);
	bad_dl.u.hello.downlink_kbps = 0; /* the server's default */
	check(es_msg_encode(&bad_dl, buf, sizeof(buf)) > 0);
	on = es_msg_encode(&samples[0], buf, sizeof(buf));
	buf[on - 2] = (ES_DOWNLINK_MAX_KBPS + 1) & 0xff;
	buf[on - 1] = (ES_DOWNLINK_MAX_KBPS + 1) >> 8;
	check_int_eq(es_msg_decode(&out, buf, (size_t)on), -EBADMSG);
	roundtrip(&samples[8], &out);
	check_int_eq(out.u.down.voice[0].azimuth, -900);
	check_int_eq(out.u.down.voice[1].len, sizeof(opus_b));
	check(memcmp(out.u.down.mix, opus_mix, sizeof(opus_mix)) == 0);

	roundtrip(&samples[14], &out);
	check_int_eq(out.u.admin.flags, ES_ADMIN_MUTED | ES_ADMIN_MOVED);
	check_int_eq(out.u.admin.pos.x_cm, 3000);
	check_int_eq(out.u.admin.pos.y_cm, -50);
	check_int_eq(out.u.admin.pos.facing, 1800);
	check(!es_msg_is_plain(ES_MSG_ADMIN)); /* only ever sealed */
	/* admin flags nobody defined, on the wire and to the encoder */
	int an = es_msg_encode(&samples[14], buf, sizeof(buf));
	check(an > 0);
	buf[1] = 0x80;
	check_int_eq(es_msg_decode(&out, buf, (size_t)an), -EBADMSG);
	struct es_msg bad_admin = samples[14];
	bad_admin.u.admin.flags = 0x08;
	check_int_eq(es_msg_encode(&bad_admin, buf, sizeof(buf)), -EINVAL);

	/* unknown type and empty input */
	uint8_t junk[4] = {0xEE, 1, 2, 3};
	check_int_eq(es_msg_decode(&out, junk, sizeof(junk)), -EPROTONOSUPPORT);
	check_int_eq(es_msg_decode(&out, junk, 0), -EBADMSG);

	/* length fields that lie: a name longer than the cap, a control byte */
	int n = es_msg_encode(&samples[0], buf, sizeof(buf));
	check(n > 0);
	buf[n - 8] = ES_NAME_MAX + 1; /* name_len byte sits before "alice" and the budget */
	check_int_eq(es_msg_decode(&out, buf, (size_t)n), -EBADMSG);
	n = es_msg_encode(&samples[0], buf, sizeof(buf));
	buf[n - 1] = '\n';
	check_int_eq(es_msg_decode(&out, buf, (size_t)n), -EBADMSG);
	/* facing out of range */
	n = es_msg_encode(&samples[3], buf, sizeof(buf));
	buf[n - 1] = 0xFF;
	check_int_eq(es_msg_decode(&out, buf, (size_t)n), -EBADMSG);
	/* presence count over the cap */
	n = es_msg_encode(&samples[6], buf, sizeof(buf));
	buf[1] = ES_PRESENCE_MAX + 1;
	check_int_eq(es_msg_decode(&out, buf, (size_t)n), -EBADMSG);
	/* bundle with too many voices, and a concealment (length 0) that claims FEC */
	n = es_msg_encode(&samples[8], buf, sizeof(buf));
	buf[7] = ES_BUNDLE_VOICES_MAX + 1;
	check_int_eq(es_msg_decode(&out, buf, (size_t)n), -EBADMSG);
	n = es_msg_encode(&samples[8], buf, sizeof(buf));
	buf[8 + 8] = 0;
	buf[8 + 9] = 0x80;
	check_int_eq(es_msg_decode(&out, buf, (size_t)n), -EBADMSG);
	/* the full bundle: eight voices, the concealment and the FEC frame as they were */
	roundtrip(&samples[16], &out);
	check_int_eq(out.u.down.nvoices, ES_BUNDLE_VOICES_MAX);
	check_int_eq(out.u.down.voice[3].len, 0);
	check(out.u.down.voice[3].opus == NULL && out.u.down.voice[3].flags == 0);
	check_int_eq(out.u.down.voice[5].flags, ES_VOICE_FEC);
	check_int_eq(out.u.down.voice[5].len, sizeof(opus_b));
	check_int_eq(out.u.down.voice[7].azimuth, 1350);
	check_int_eq(out.u.down.seq, 1);
	struct es_msg nine = samples[16];
	nine.u.down.nvoices = ES_BUNDLE_VOICES_MAX + 1;
	check_int_eq(es_msg_encode(&nine, buf, sizeof(buf)), -EINVAL);
	nine = samples[16];
	nine.u.down.voice[3].flags = ES_VOICE_FEC; /* FEC of no frame */
	check_int_eq(es_msg_encode(&nine, buf, sizeof(buf)), -EINVAL);
	/* audio up with no payload, and with one over the Opus maximum */
	uint8_t up[8 + ES_OPUS_MAX + 1] = {ES_MSG_AUDIO_UP};
	check_int_eq(es_msg_decode(&out, up, 8), -EBADMSG); /* len 0 */
	up[6] = (ES_OPUS_MAX + 1) & 0xff;
	up[7] = (ES_OPUS_MAX + 1) >> 8;
	check_int_eq(es_msg_decode(&out, up, sizeof(up)), -EBADMSG);
	up[6] = ES_OPUS_MAX & 0xff;
	up[7] = ES_OPUS_MAX >> 8;
	check_int_eq(es_msg_decode(&out, up, sizeof(up) - 1), (int)sizeof(up) - 1);

	/* encoder refuses invalid messages */
	struct es_msg bad = samples[0];
	bad.u.hello.name_len = 0;
	check_int_eq(es_msg_encode(&bad, buf, sizeof(buf)), -EINVAL);

	/* gain helpers */
	check_int_eq(es_gain_to_q(1.0f), 4096);
	check_int_eq(es_gain_to_q(-1.0f), 0);
	check_int_eq(es_gain_to_q(NAN), 0);
	check_int_eq(es_gain_to_q(1e9f), 65535);
	check_near(es_gain_from_q(2048), 0.5, 1e-6);
	printf("proto msg: ok\n");
	return 0;
}
