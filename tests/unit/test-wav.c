/* SPDX-License-Identifier: MIT */
/*
 * Sound files for --play and --record (client/audio-file.c, libsndfile):
 * every format a bot may be given (WAV 8/16/24/32-bit and float, FLAC, Ogg
 * Vorbis, AIFF, mono to 6 channels, 8 to 96 kHz) comes out as the same tone
 * at 48 kHz mono, of the right length and level; broken WAVs (a header cut
 * at every byte, lying sizes, odd chunks, formats that are not sound) are
 * refused with a reason that names the file, or read as far as they hold
 * sound; float NaN and overs become silence and full scale; the length cap
 * holds; the writer's WAV, FLAC and Ogg read back.  Under ASan every
 * refused byte pattern is also a bounds check of what we hand the library.
 */
#include <errno.h>
#include <math.h>
#include <sndfile.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio-file.h"
#include "test.h"

static char dir[] = "/tmp/es-audio-XXXXXX";

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

/* A canonical 44-byte-header PCM file with `frames` frames of a ramp. */
static size_t make_wav(uint8_t *b, uint16_t tag, uint16_t ch, uint32_t rate, uint16_t bits, uint32_t frames)
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

/* Decode from memory; on refusal the reason is there and nothing is handed out. */
static int decode(const uint8_t *b, size_t len, size_t *frames, int16_t **pcm_out)
{
	int16_t *pcm = NULL;
	char err[256] = "";
	*frames = 0;
	int r = es_audio_decode_mono48(b, len, ES_AUDIO_MAX_FRAMES, &pcm, frames, err, sizeof(err));
	if (r == 0) {
		check(pcm != NULL && *frames > 0);
	} else {
		check(pcm == NULL);
		check(err[0] != 0);
	}
	if (pcm_out)
		*pcm_out = pcm;
	else
		free(pcm);
	return r;
}

static void test_truncation(void)
{
	uint8_t good[44 + 400];
	size_t len = make_wav(good, 1, 2, 44100, 16, 100), frames;
	check_int_eq(decode(good, len, &frames, NULL), 0);
	/* 100 frames at 44.1 kHz are 109 at 48 kHz */
	check_int_eq(frames, 109);

	/* every cut inside the header is refused, on a tight heap copy */
	for (size_t cut = 0; cut < 44; cut++) {
		uint8_t *b = malloc(cut ? cut : 1);
		check(b);
		memcpy(b, good, cut);
		if (decode(b, cut, &frames, NULL) == 0) {
			fprintf(stderr, "header cut at %zu accepted\n", cut);
			exit(1);
		}
		free(b);
	}
	/* a cut in the samples keeps the whole frames that are there */
	for (size_t cut = 48; cut <= len; cut += 4) {
		uint8_t *b = malloc(cut);
		memcpy(b, good, cut);
		check_int_eq(decode(b, cut, &frames, NULL), 0);
		size_t want = ((cut - 44) / 4 * 48000 + 44099) / 44100;
		check_int_eq(frames, want);
		free(b);
	}
}

static void test_bad_files(void)
{
	uint8_t b[44 + 800];
	size_t len, frames;
	char err[256];
	int16_t *pcm = NULL;

	len = make_wav(b, 1, 0, 48000, 16, 100);
	check(decode(b, len, &frames, NULL) < 0);
	len = make_wav(b, 1, 1, 0, 16, 100);
	check(decode(b, len, &frames, NULL) < 0);
	len = make_wav(b, 1, 1, 1000, 16, 100); /* below 4 kHz: not speech */
	check(decode(b, len, &frames, NULL) < 0);
	len = make_wav(b, 1, 1, 0xffffffffu, 16, 100);
	check(decode(b, len, &frames, NULL) < 0);
	len = make_wav(b, 0x1234, 1, 48000, 16, 100); /* a format tag nobody knows */
	check(decode(b, len, &frames, NULL) < 0);
	len = make_wav(b, 1, 1, 48000, 16, 0); /* no samples at all */
	check_int_eq(es_audio_decode_mono48(b, len, ES_AUDIO_MAX_FRAMES, &pcm, &frames, err, sizeof(err)), -ENODATA);
	test_log("empty: %s", err);

	/* not RIFF, not WAVE, not sound */
	len = make_wav(b, 1, 1, 48000, 16, 10);
	memcpy(b, "RIFX", 4);
	check(decode(b, len, &frames, NULL) < 0);
	len = make_wav(b, 1, 1, 48000, 16, 10);
	memcpy(b + 8, "AVI ", 4);
	check(decode(b, len, &frames, NULL) < 0);
	const char text[] = "this is a text file that someone named hello.wav\n";
	check_int_eq(es_audio_decode_mono48((const uint8_t *)text, sizeof(text) - 1, ES_AUDIO_MAX_FRAMES, &pcm, &frames,
					    err, sizeof(err)), -EBADMSG);
	test_log("text: %s", err);

	/* fmt chunk claims more than the file has, or too little to hold the format */
	len = make_wav(b, 1, 1, 48000, 16, 100);
	put32(b + 16, 0x7ffffff0u);
	check(decode(b, len, &frames, NULL) < 0);
	put32(b + 16, 8);
	check(decode(b, len, &frames, NULL) < 0);

	/* data chunk claims 4 GiB: only what is there is used */
	len = make_wav(b, 1, 1, 48000, 16, 100);
	put32(b + 40, 0xffffffffu);
	check_int_eq(decode(b, len, &frames, NULL), 0);
	check_int_eq(frames, 100);
	/* RIFF size lies both ways: the chunks are what counts */
	len = make_wav(b, 1, 1, 48000, 16, 100);
	put32(b + 4, 4);
	check_int_eq(decode(b, len, &frames, NULL), 0);
	put32(b + 4, 0xffffffffu);
	check_int_eq(decode(b, len, &frames, NULL), 0);

	/* unknown chunks (odd-sized, with the pad byte) before fmt and data */
	uint8_t w[44 + 40], c[256];
	make_wav(w, 1, 1, 16000, 16, 20);
	size_t o = 12;
	memcpy(c, w, 12);
	memcpy(c + o, "junk", 4);
	put32(c + o + 4, 5);
	memcpy(c + o + 8, "abcde", 5);
	c[o + 13] = 0;
	o += 14;
	memcpy(c + o, w + 12, 24 + 48); /* fmt, data */
	o += 72;
	put32(c + 4, (uint32_t)o - 8);
	check_int_eq(decode(c, o, &frames, NULL), 0);
	check_int_eq(frames, 60);

	/* the cap: a file longer than asked is refused, not cut */
	len = make_wav(b, 1, 1, 48000, 16, 400);
	check_int_eq(es_audio_decode_mono48(b, len, 399, &pcm, &frames, err, sizeof(err)), -EFBIG);
	test_log("cap: %s", err);
	check_int_eq(es_audio_decode_mono48(b, len, 400, &pcm, &frames, err, sizeof(err)), 0);
	free(pcm);
	len = make_wav(b, 1, 1, 16000, 16, 100); /* resampled: 300 frames */
	check_int_eq(es_audio_decode_mono48(b, len, 299, &pcm, &frames, err, sizeof(err)), -EFBIG);
}

/* Float WAV with NaN, infinities and overs: silence and full scale, no UB. */
static void test_float_values(void)
{
	uint8_t b[44 + 6 * 4];
	float v[6] = {NAN, INFINITY, -INFINITY, 4.0f, -0.5f, 0.25f};
	make_wav(b, 3, 1, 48000, 32, 6);
	memcpy(b + 44, v, sizeof(v)); /* little-endian host */
	size_t frames;
	int16_t *pcm;
	check_int_eq(decode(b, sizeof(b), &frames, &pcm), 0);
	check_int_eq(frames, 6);
	test_log("float: %d %d %d %d %d %d", pcm[0], pcm[1], pcm[2], pcm[3], pcm[4], pcm[5]);
	check_int_eq(pcm[0], 0);
	check_int_eq(pcm[1], 32767);
	check_int_eq(pcm[2], -32767);
	check_int_eq(pcm[3], 32767);
	check_near(pcm[4], -16384, 2);
	check_near(pcm[5], 8192, 2);
	free(pcm);
}

/* Write a tone with libsndfile itself in `format`, then load it as --play does. */
static void tone_file(const char *name, int format, int rate, int channels, double seconds)
{
	char path[128], err[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	SF_INFO info = {.samplerate = rate, .channels = channels, .format = format};
	check(sf_format_check(&info));
	SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
	if (!sf) {
		fprintf(stderr, "%s: %s\n", name, sf_strerror(NULL));
		exit(1);
	}
	sf_count_t n = (sf_count_t)lrint(seconds * rate);
	float *x = malloc((size_t)n * (size_t)channels * sizeof(*x));
	check(x);
	for (sf_count_t i = 0; i < n; i++)
		for (int c = 0; c < channels; c++)
			x[i * channels + c] = (float)(0.3 * sin(2 * M_PI * 440 * (double)i / rate));
	check(sf_writef_float(sf, x, n) == n);
	check(sf_close(sf) == 0);
	free(x);

	int16_t *pcm = NULL;
	size_t frames = 0;
	int r = es_audio_load_mono48(path, &pcm, &frames, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", name, err);
		exit(1);
	}
	/* length: the file's duration at 48 kHz (lossy codecs may pad a little) */
	double want = seconds * 48000;
	/* level: the sine's RMS, 0.3 / sqrt(2) of full scale, away from the ends */
	double e = 0;
	size_t a = frames / 10, z = frames - frames / 10;
	for (size_t i = a; i < z; i++)
		e += (double)pcm[i] * pcm[i];
	double rms = sqrt(e / (double)(z - a)) / 32767;
	/* pitch: zero crossings over the middle stretch, 880 a second for 440 Hz */
	size_t zc = 0;
	for (size_t i = a + 1; i < z; i++)
		zc += (pcm[i - 1] < 0) != (pcm[i] < 0);
	double hz = zc / 2.0 / ((double)(z - a) / 48000);
	test_log("%-12s %6d Hz %d ch: %zu frames (want %.0f), rms %.3f, %.0f Hz", name, rate, channels, frames, want,
		 rms, hz);
	check(fabs((double)frames - want) <= 0.01 * want + 2048);
	check_near(rms, 0.3 / sqrt(2), 0.02);
	check_near(hz, 440, 5);
	free(pcm);
	check_int_eq(unlink(path), 0);
}

static void test_formats(void)
{
	tone_file("s16.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 48000, 1, 0.5);
	tone_file("u8.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_U8, 8000, 1, 0.5);
	tone_file("s24.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_24, 44100, 2, 0.5);
	tone_file("s32.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_32, 96000, 2, 0.5);
	tone_file("float.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 22050, 1, 0.5);
	tone_file("six.wav", SF_FORMAT_WAVEX | SF_FORMAT_PCM_16, 48000, 6, 0.5);
	tone_file("tone.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 44100, 2, 0.5);
	tone_file("tone.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 44100, 1, 1.0);
	tone_file("tone.aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_16, 16000, 1, 0.5);
}

static void test_files(void)
{
	char path[128], err[256];
	int16_t *pcm = NULL;
	size_t frames;

	/* a bad file's message names it; a missing one is ENOENT */
	snprintf(path, sizeof(path), "%s/in.wav", dir);
	uint8_t b[44 + 40];
	make_wav(b, 1, 1, 48000, 16, 20);
	FILE *f = fopen(path, "wb");
	check(f && fwrite(b, 1, 30, f) == 30 && fclose(f) == 0);
	check_int_eq(es_audio_load_mono48(path, &pcm, &frames, err, sizeof(err)), -EBADMSG);
	test_log("%s", err);
	check(strstr(err, "in.wav") != NULL);
	check_int_eq(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/missing.wav", dir);
	check_int_eq(es_audio_load_mono48(path, &pcm, &frames, err, sizeof(err)), -ENOENT);
	check(es_audio_load_mono48(dir, &pcm, &frames, err, sizeof(err)) < 0);
	test_log("%s", err);
}

/* The writer: WAV and FLAC give back every sample; Ogg the length and level. */
static void test_writer(void)
{
	const char *names[] = {"out.wav", "out.flac", "out.ogg", "out.raw-but-wav"};
	int16_t st[2 * 1500];
	for (int i = 0; i < 1500; i++) {
		st[2 * i] = (int16_t)lrint(8000 * sin(2 * M_PI * 440 * i / 48000.0));
		st[2 * i + 1] = (int16_t)(st[2 * i] / 2);
	}
	for (unsigned k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		char path[128], err[256];
		snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
		struct es_audio_writer *w = es_audio_writer_open(path, err, sizeof(err));
		check(w);
		check_int_eq(es_audio_writer_write(w, st, 1000), 0);
		check_int_eq(es_audio_writer_write(w, st + 2000, 500), 0);
		check_int_eq(es_audio_writer_close(w), 0);
		SF_INFO info = {0};
		SNDFILE *sf = sf_open(path, SFM_READ, &info);
		check(sf);
		test_log("%s: format %#x, %d Hz, %d ch, %lld frames", names[k], info.format, info.samplerate,
			 info.channels, (long long)info.frames);
		check_int_eq(info.samplerate, 48000);
		check_int_eq(info.channels, 2);
		int16_t back[2 * 1600];
		sf_count_t n = sf_readf_short(sf, back, 1600);
		check(sf_close(sf) == 0);
		bool lossless = k != 2;
		check_int_eq(info.format & SF_FORMAT_TYPEMASK,
			     k == 1 ? SF_FORMAT_FLAC : k == 2 ? SF_FORMAT_OGG : SF_FORMAT_WAV);
		if (lossless) {
			check_int_eq(n, 1500);
			check(memcmp(back, st, sizeof(st)) == 0);
		} else {
			check(n >= 1500 && n <= 1600);
		}
		check_int_eq(unlink(path), 0);
	}
	char err[256];
	char bad[160];
	snprintf(bad, sizeof(bad), "%s/no-such-dir/out.wav", dir);
	check(es_audio_writer_open(bad, err, sizeof(err)) == NULL);
	test_log("%s", err);
	check(strstr(err, "no-such-dir") != NULL);
}

int main(void)
{
	check(mkdtemp(dir));
	test_truncation();
	test_bad_files();
	test_float_values();
	test_formats();
	test_files();
	test_writer();
	check_int_eq(rmdir(dir), 0);
	return 0;
}
