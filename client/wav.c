/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <speex/speex_resampler.h>

#include "wav.h"

#define WAV_MAX_BYTES (512u << 20) /* refuse files over 512 MiB */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static int fail(const char **err, const char *why, int code)
{
	if (err)
		*err = why;
	return code;
}

int es_wav_parse(const uint8_t *buf, size_t len, unsigned *rate, unsigned *channels, const uint8_t **pcm, size_t *frames,
		 const char **err)
{
	if (len < 12 || memcmp(buf, "RIFF", 4) != 0 || memcmp(buf + 8, "WAVE", 4) != 0)
		return fail(err, "not a RIFF/WAVE file", -EBADMSG);
	size_t off = 12;
	bool have_fmt = false;
	unsigned fmt_ch = 0, fmt_rate = 0;
	while (off + 8 <= len) {
		const uint8_t *ck = buf + off;
		uint32_t size = le32(ck + 4);
		size_t body = off + 8;
		if (memcmp(ck, "fmt ", 4) == 0) {
			if (size < 16 || size > len - body)
				return fail(err, "truncated fmt chunk", -EBADMSG);
			uint16_t tag = le16(buf + body);
			fmt_ch = le16(buf + body + 2);
			fmt_rate = le32(buf + body + 4);
			uint16_t bits = le16(buf + body + 14);
			/* WAVE_FORMAT_EXTENSIBLE carries PCM in its sub-format */
			if (tag == 0xFFFE && size >= 40)
				tag = le16(buf + body + 24);
			if (tag != 1)
				return fail(err, "only PCM WAV files are supported (not float or compressed)", -ENOTSUP);
			if (bits != 16)
				return fail(err, "only 16-bit samples are supported", -ENOTSUP);
			if (fmt_ch < 1 || fmt_ch > 2)
				return fail(err, "only mono or stereo files are supported", -ENOTSUP);
			if (fmt_rate < 8000 || fmt_rate > 192000)
				return fail(err, "sample rate outside 8000..192000 Hz", -ENOTSUP);
			have_fmt = true;
		} else if (memcmp(ck, "data", 4) == 0) {
			if (!have_fmt)
				return fail(err, "data chunk before fmt chunk", -EBADMSG);
			/* a writer that never fixed up its sizes: take what is there */
			size_t avail = len - body;
			size_t n = size > avail ? avail : size;
			*rate = fmt_rate;
			*channels = fmt_ch;
			*pcm = buf + body;
			*frames = n / (2u * fmt_ch);
			return 0;
		}
		if (size > len - body)
			break;
		off = body + size + (size & 1);
	}
	return fail(err, have_fmt ? "no data chunk" : "no fmt chunk", -EBADMSG);
}

int es_wav_load_mono48(const char *path, int16_t **out, size_t *frames, char *errbuf, size_t errlen)
{
	int r;
	uint8_t *buf = NULL;
	int16_t *mono = NULL;
	FILE *f = fopen(path, "rb");
	if (!f) {
		r = -errno;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	struct stat st;
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > WAV_MAX_BYTES) {
		snprintf(errbuf, errlen, "%s: not a regular file of at most 512 MiB", path);
		r = -EINVAL;
		goto err_close;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		r = -ENOMEM;
		snprintf(errbuf, errlen, "%s: out of memory", path);
		goto err_close;
	}
	size_t len = fread(buf, 1, (size_t)st.st_size, f);
	unsigned rate, ch;
	const uint8_t *pcm;
	size_t n;
	const char *why;
	r = es_wav_parse(buf, len, &rate, &ch, &pcm, &n, &why);
	if (r < 0) {
		snprintf(errbuf, errlen, "%s: %s", path, why);
		goto err_buf;
	}
	mono = malloc((n ? n : 1) * sizeof(*mono));
	if (!mono) {
		r = -ENOMEM;
		snprintf(errbuf, errlen, "%s: out of memory", path);
		goto err_buf;
	}
	for (size_t i = 0; i < n; i++) {
		int s = (int16_t)le16(pcm + 2 * ch * i);
		if (ch == 2)
			s = (s + (int16_t)le16(pcm + 2 * ch * i + 2)) / 2;
		mono[i] = (int16_t)s;
	}
	if (rate != 48000 && n > 0) {
		int e;
		SpeexResamplerState *rs = speex_resampler_init(1, rate, 48000, 5, &e);
		if (!rs) {
			r = -EINVAL;
			snprintf(errbuf, errlen, "%s: cannot resample from %u Hz: %s", path, rate, speex_resampler_strerror(e));
			goto err_mono;
		}
		size_t cap = (size_t)((double)n * 48000.0 / rate) + 64;
		int16_t *res = malloc(cap * sizeof(*res));
		if (!res) {
			speex_resampler_destroy(rs);
			r = -ENOMEM;
			goto err_mono;
		}
		spx_uint32_t in_len = (spx_uint32_t)n, out_len = (spx_uint32_t)cap;
		speex_resampler_process_int(rs, 0, mono, &in_len, res, &out_len);
		speex_resampler_destroy(rs);
		free(mono);
		mono = res;
		n = out_len;
	}
	free(buf);
	fclose(f);
	*out = mono;
	*frames = n;
	return 0;

err_mono:
	free(mono);
err_buf:
	free(buf);
err_close:
	fclose(f);
	return r;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void header(uint8_t h[44], uint32_t frames)
{
	uint32_t bytes = frames * 4;
	memcpy(h, "RIFF", 4);
	put32(h + 4, 36 + bytes);
	memcpy(h + 8, "WAVEfmt ", 8);
	put32(h + 16, 16);
	h[20] = 1, h[21] = 0;         /* PCM */
	h[22] = 2, h[23] = 0;         /* stereo */
	put32(h + 24, 48000);
	put32(h + 28, 48000 * 4);
	h[32] = 4, h[33] = 0;         /* block align */
	h[34] = 16, h[35] = 0;        /* bits */
	memcpy(h + 36, "data", 4);
	put32(h + 40, bytes);
}

int es_wav_writer_open(struct es_wav_writer *w, const char *path)
{
	w->frames = 0;
	w->f = fopen(path, "wb");
	if (!w->f)
		return -errno;
	uint8_t h[44];
	header(h, 0);
	if (fwrite(h, 1, sizeof(h), w->f) != sizeof(h)) {
		fclose(w->f);
		w->f = NULL;
		return -EIO;
	}
	return 0;
}

int es_wav_writer_write(struct es_wav_writer *w, const int16_t *stereo, size_t frames)
{
	uint8_t b[4 * 960];
	while (frames) {
		size_t n = frames > 960 ? 960 : frames;
		for (size_t i = 0; i < 2 * n; i++) {
			b[2 * i] = (uint8_t)stereo[i];
			b[2 * i + 1] = (uint8_t)((uint16_t)stereo[i] >> 8);
		}
		if (fwrite(b, 4, n, w->f) != n)
			return -EIO;
		w->frames += (uint32_t)n;
		stereo += 2 * n;
		frames -= n;
	}
	return 0;
}

int es_wav_writer_close(struct es_wav_writer *w)
{
	if (!w->f)
		return 0;
	uint8_t h[44];
	header(h, w->frames);
	int r = 0;
	if (fseek(w->f, 0, SEEK_SET) != 0 || fwrite(h, 1, sizeof(h), w->f) != sizeof(h))
		r = -EIO;
	if (fclose(w->f) != 0 && r == 0)
		r = -errno;
	w->f = NULL;
	return r;
}
