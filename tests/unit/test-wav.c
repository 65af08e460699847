/* SPDX-License-Identifier: MIT */
/*
 * WAV reader/writer (client/wav.c) against malformed input: a good file cut
 * at every byte of its header, lying chunk sizes, formats we do not take
 * (8-bit, float, 0 or 3 channels, odd rates), unknown and odd-sized chunks,
 * extensible PCM; then load-and-resample to 48 kHz and the writer's size
 * fix-up.  Under ASan every rejected byte pattern is also a bounds check.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "wav.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

/* A canonical 44-byte-header file with `frames` frames of a ramp. */
static size_t make_wav(uint8_t *b, uint16_t tag, uint16_t ch, uint32_t rate, uint16_t bits,
		       uint32_t frames)
{
	uint32_t bytes = frames * ch * (bits / 8u);
	memcpy(b, "RIFF", 4);
	put32(b + 4, 36 + bytes);
	memcpy(b + 8, "WAVEfmt ", 8);
	put32(b + 16, 16);
	put16(b + 20, tag);
	put16(b + 22, ch);
	put32(b + 24, rate);
	put32(b + 28, rate * ch * (bits / 8u));
	put16(b + 32, (uint16_t)(ch * (bits / 8u)));
	put16(b + 34, bits);
	memcpy(b + 36, "data", 4);
	put32(b + 40, bytes);
	for (uint32_t i = 0; i < bytes / 2; i++)
		put16(b + 44 + 2 * i, (uint16_t)(int16_t)(i * 100));
	return 44 + bytes;
}

static int parse(const uint8_t *b, size_t len, const char **why)
{
	unsigned rate = 0, ch = 0;
	const uint8_t *pcm = NULL;
	size_t frames = 0;
	*why = NULL;
	int r = es_wav_parse(b, len, &rate, &ch, &pcm, &frames, why);
	if (r == 0) {
		/* whatever is accepted lies inside the buffer */
		check(pcm >= b && pcm + frames * ch * 2 <= b + len);
		check(ch >= 1 && ch <= 2);
	} else {
		check(r == -EBADMSG || r == -ENOTSUP);
		check(*why && **why);
	}
	return r;
}

static void test_truncation(void)
{
	uint8_t good[44 + 400];
	size_t len = make_wav(good, 1, 2, 44100, 16, 100);
	const char *why;
	check_int_eq(parse(good, len, &why), 0);

	/* every cut inside the header is rejected, on a tight heap copy */
	for (size_t cut = 0; cut < 44; cut++) {
		uint8_t *b = malloc(cut ? cut : 1);
		check(b);
		memcpy(b, good, cut);
		int r = parse(b, cut, &why);
		if (r == 0) {
			fprintf(stderr, "header cut at %zu accepted\n", cut);
			exit(1);
		}
		free(b);
	}
	/* a cut in the samples keeps the whole frames that are there */
	for (size_t cut = 44; cut <= len; cut++) {
		uint8_t *b = malloc(cut);
		memcpy(b, good, cut);
		unsigned rate, ch;
		const uint8_t *pcm;
		size_t frames;
		check_int_eq(es_wav_parse(b, cut, &rate, &ch, &pcm, &frames, &why), 0);
		check_int_eq(frames, (cut - 44) / 4);
		check_int_eq(rate, 44100);
		free(b);
	}
}

static void test_bad_formats(void)
{
	uint8_t b[44 + 800];
	const char *why;
	size_t len;

	len = make_wav(b, 1, 1, 48000, 8, 100);
	check_int_eq(parse(b, len, &why), -ENOTSUP);
	test_log("8-bit: %s", why);
	len = make_wav(b, 3, 1, 48000, 32, 100); /* IEEE float */
	check_int_eq(parse(b, len, &why), -ENOTSUP);
	test_log("float: %s", why);
	len = make_wav(b, 1, 1, 48000, 24, 100);
	check(parse(b, len, &why) < 0);
	len = make_wav(b, 1, 0, 48000, 16, 100);
	check(parse(b, len, &why) < 0);
	test_log("0 channels: %s", why);
	len = make_wav(b, 1, 3, 48000, 16, 100);
	check(parse(b, len, &why) < 0);
	len = make_wav(b, 1, 1, 0, 16, 100);
	check(parse(b, len, &why) < 0);
	len = make_wav(b, 1, 1, 4000, 16, 100);
	check(parse(b, len, &why) < 0);
	len = make_wav(b, 1, 1, 0xffffffffu, 16, 100);
	check(parse(b, len, &why) < 0);
	len = make_wav(b, 0x55, 1, 48000, 16, 100); /* MP3 */
	check(parse(b, len, &why) < 0);

	/* not RIFF, not WAVE */
	len = make_wav(b, 1, 1, 48000, 16, 10);
	memcpy(b, "RIFX", 4);
	check_int_eq(parse(b, len, &why), -EBADMSG);
	len = make_wav(b, 1, 1, 48000, 16, 10);
	memcpy(b + 8, "AVI ", 4);
	check_int_eq(parse(b, len, &why), -EBADMSG);

	/* every rate from 8 to 96 kHz that people use is taken */
	const unsigned rates[] = { 8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000 };
	for (unsigned i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		len = make_wav(b, 1, 1, rates[i], 16, 10);
		check_int_eq(parse(b, len, &why), 0);
	}
}

static void test_lying_sizes(void)
{
	uint8_t b[44 + 400];
	const char *why;
	size_t len;

	/* fmt chunk claims more than the file has */
	len = make_wav(b, 1, 1, 48000, 16, 100);
	put32(b + 16, 0x7ffffff0u);
	check(parse(b, len, &why) < 0);
	put32(b + 16, 0xffffffffu);
	check(parse(b, len, &why) < 0);
	/* fmt chunk too small to hold the format */
	put32(b + 16, 8);
	check(parse(b, len, &why) < 0);

	/* data chunk claims 4 GiB: only what is there is used */
	len = make_wav(b, 1, 1, 48000, 16, 100);
	put32(b + 40, 0xffffffffu);
	unsigned rate, ch;
	const uint8_t *pcm;
	size_t frames;
	check_int_eq(es_wav_parse(b, len, &rate, &ch, &pcm, &frames, &why), 0);
	check_int_eq(frames, 100);
	/* an odd data size (a broken writer) rounds down to whole frames */
	put32(b + 40, 199);
	check_int_eq(es_wav_parse(b, len, &rate, &ch, &pcm, &frames, &why), 0);
	check_int_eq(frames, 99);

	/* RIFF size lies both ways: the chunks are what counts */
	len = make_wav(b, 1, 1, 48000, 16, 100);
	put32(b + 4, 4);
	check_int_eq(parse(b, len, &why), 0);
	put32(b + 4, 0xffffffffu);
	check_int_eq(parse(b, len, &why), 0);
}

/* Unknown chunks before fmt and data (LIST, odd-sized junk with its pad byte). */
static void test_chunks(void)
{
	uint8_t b[1024];
	uint8_t w[44 + 40];
	const char *why;
	make_wav(w, 1, 1, 16000, 16, 20);

	size_t o = 0;
	memcpy(b, w, 12);
	o = 12;
	memcpy(b + o, "LIST", 4);
	put32(b + o + 4, 5); /* odd: followed by one pad byte */
	memcpy(b + o + 8, "abcde", 5);
	b[o + 13] = 0;
	o += 14;
	memcpy(b + o, w + 12, 24); /* fmt */
	o += 24;
	memcpy(b + o, "junk", 4);
	put32(b + o + 4, 3);
	memcpy(b + o + 8, "xyz", 3);
	b[o + 11] = 0;
	o += 12;
	memcpy(b + o, w + 36, 8 + 40); /* data */
	o += 48;
	unsigned rate, ch;
	const uint8_t *pcm;
	size_t frames;
	check_int_eq(es_wav_parse(b, o, &rate, &ch, &pcm, &frames, &why), 0);
	check_int_eq(rate, 16000);
	check_int_eq(frames, 20);
	check(memcmp(pcm, w + 44, 40) == 0);

	/* data before fmt */
	memcpy(b, w, 12);
	memcpy(b + 12, w + 36, 48);
	memcpy(b + 60, w + 12, 24);
	check_int_eq(parse(b, 84, &why), -EBADMSG);
	/* fmt only, no data */
	check_int_eq(parse(w, 36, &why), -EBADMSG);
	/* an unknown chunk whose size runs past the end */
	memcpy(b, w, 12);
	memcpy(b + 12, "junk", 4);
	put32(b + 16, 0xfffffff0u);
	memcpy(b + 20, w + 12, 24 + 48);
	check(parse(b, 20 + 72, &why) < 0);

	/* WAVE_FORMAT_EXTENSIBLE with the PCM sub-format */
	memcpy(b, w, 12);
	memcpy(b + 12, "fmt ", 4);
	put32(b + 16, 40);
	memcpy(b + 20, w + 20, 16);
	put16(b + 20, 0xfffe);
	put16(b + 36, 22);
	put16(b + 38, 16);
	put32(b + 40, 4); /* channel mask */
	memset(b + 44, 0, 16);
	put16(b + 44, 1); /* KSDATAFORMAT_SUBTYPE_PCM */
	memcpy(b + 60, w + 36, 48);
	check_int_eq(parse(b, 108, &why), 0);
	put16(b + 44, 3); /* float sub-format */
	check_int_eq(parse(b, 108, &why), -ENOTSUP);
}

static void write_file(const char *path, const uint8_t *b, size_t len)
{
	FILE *f = fopen(path, "wb");
	check(f);
	check(fwrite(b, 1, len, f) == len);
	check(fclose(f) == 0);
}

static void test_load_and_write(void)
{
	char dir[] = "/tmp/es-wav-XXXXXX", path[64], err[256];
	check(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/in.wav", dir);

	/* 1 s of 440 Hz at 16 kHz stereo -> 1 s at 48 kHz mono */
	const uint32_t n = 16000;
	uint8_t *b = malloc(44 + n * 4);
	check(b);
	make_wav(b, 1, 2, 16000, 16, n);
	for (uint32_t i = 0; i < n; i++) {
		int16_t s = (int16_t)lrint(10000 * sin(2 * M_PI * 440 * i / 16000.0));
		put16(b + 44 + 4 * i, (uint16_t)s);
		put16(b + 44 + 4 * i + 2, (uint16_t)s);
	}
	write_file(path, b, 44 + n * 4);
	int16_t *mono = NULL;
	size_t frames = 0;
	check_int_eq(es_wav_load_mono48(path, &mono, &frames, err, sizeof(err)), 0);
	test_log("16 kHz, 16000 frames -> 48 kHz, %zu frames", frames);
	check(frames >= 48000 - 480 && frames <= 48000);
	double e = 0;
	for (size_t i = 4800; i < 43200; i++)
		e += (double)mono[i] * mono[i];
	check_near(sqrt(e / 38400), 10000 / sqrt(2), 300);
	free(mono);

	/* a bad file gives a message that names it */
	write_file(path, b, 30);
	check(es_wav_load_mono48(path, &mono, &frames, err, sizeof(err)) < 0);
	test_log("%s", err);
	check(strstr(err, "in.wav") != NULL);
	snprintf(path, sizeof(path), "%s/missing.wav", dir);
	check(es_wav_load_mono48(path, &mono, &frames, err, sizeof(err)) == -ENOENT);
	free(b);

	/* writer: sizes are right after close, and the result parses back */
	snprintf(path, sizeof(path), "%s/out.wav", dir);
	struct es_wav_writer w;
	check_int_eq(es_wav_writer_open(&w, path), 0);
	int16_t st[2 * 1000];
	for (int i = 0; i < 2000; i++)
		st[i] = (int16_t)(i * 7 - 5000);
	check_int_eq(es_wav_writer_write(&w, st, 1000), 0);
	check_int_eq(es_wav_writer_write(&w, st, 500), 0);
	check_int_eq(es_wav_writer_close(&w), 0);
	FILE *f = fopen(path, "rb");
	check(f);
	uint8_t out[44 + 6000];
	size_t got = fread(out, 1, sizeof(out), f);
	fclose(f);
	check_int_eq(got, 44 + 1500 * 4);
	unsigned rate, ch;
	const uint8_t *pcm;
	const char *why;
	check_int_eq(es_wav_parse(out, got, &rate, &ch, &pcm, &frames, &why), 0);
	check_int_eq(rate, 48000);
	check_int_eq(ch, 2);
	check_int_eq(frames, 1500);
	check_int_eq((uint32_t)out[4] | out[5] << 8 | out[6] << 16 | (uint32_t)out[7] << 24, 36 + 6000);
	check_int_eq((int16_t)(pcm[2 * 1999] | pcm[2 * 1999 + 1] << 8), st[1999]);
	check_int_eq(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/in.wav", dir);
	check_int_eq(unlink(path), 0);
	check_int_eq(rmdir(dir), 0);
}

int main(void)
{
	test_truncation();
	test_bad_formats();
	test_lying_sizes();
	test_chunks();
	test_load_and_write();
	return 0;
}
