/* SPDX-License-Identifier: MIT */
#include "audio-file.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sndfile.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <speex/speex_resampler.h>

#define CHUNK 1024 /* frames read from the library at a time */

/* What is decoded so far: mono 48 kHz, growing to at most max. */
struct pcm {
	int16_t *s;
	size_t n, cap, max;
};

static int16_t to_s16(float x)
{
	if (!(x == x)) /* NaN: a float file may hold anything */
		return 0;
	if (x >= 1.0f)
		return 32767;
	if (x <= -1.0f)
		return -32767;
	return (int16_t)lrintf(x * 32767.0f);
}

static int pcm_append(struct pcm *p, const float *x, size_t n)
{
	if (n > p->max - p->n)
		return -EFBIG;
	if (p->n + n > p->cap) {
		size_t cap = p->cap ? p->cap : 48000;
		while (cap < p->n + n)
			cap *= 2;
		if (cap > p->max)
			cap = p->max;
		int16_t *s = realloc(p->s, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		p->s = s;
		p->cap = cap;
	}
	for (size_t i = 0; i < n; i++)
		p->s[p->n + i] = to_s16(x[i]);
	p->n += n;
	return 0;
}

/* Resample n mono frames (or pass them through at 48 kHz) and append them. */
static int feed(struct pcm *p, SpeexResamplerState *rs, const float *in, size_t n)
{
	float out[4 * CHUNK];
	if (!rs)
		return pcm_append(p, in, n);
	while (n > 0) {
		spx_uint32_t in_len = (spx_uint32_t)n, out_len = (spx_uint32_t)(sizeof(out) / sizeof(out[0]));
		if (speex_resampler_process_float(rs, 0, in, &in_len, out, &out_len) != RESAMPLER_ERR_SUCCESS)
			return -EINVAL;
		int r = pcm_append(p, out, out_len);
		if (r < 0)
			return r;
		if (in_len == 0 && out_len == 0)
			return -EINVAL; /* no progress: never loop forever */
		in += in_len;
		n -= in_len;
	}
	return 0;
}

/*
 * Read everything the library gives, mix it down, resample it.  The header's
 * frame count is not trusted (a damaged or hostile file lies, a stream does
 * not know): reading stops where the library stops, or at the cap.
 */
static int decode(SNDFILE *sf, const SF_INFO *info, const char *name, size_t max_frames, int16_t **out,
		  size_t *frames, char *err, size_t errlen)
{
	int r;
	SpeexResamplerState *rs = NULL;
	struct pcm p = {.max = max_frames};
	float *buf = NULL, mono[CHUNK];

	if (info->samplerate < ES_AUDIO_MIN_RATE || info->samplerate > ES_AUDIO_MAX_RATE) {
		snprintf(err, errlen, "%s: sample rate %d Hz is outside %d..%d Hz", name, info->samplerate,
			 ES_AUDIO_MIN_RATE, ES_AUDIO_MAX_RATE);
		return -ENOTSUP;
	}
	if (info->channels < 1) {
		snprintf(err, errlen, "%s: %d channels", name, info->channels);
		return -ENOTSUP;
	}
	size_t ch = (size_t)info->channels; /* the library caps it (1024) */
	buf = malloc(CHUNK * ch * sizeof(*buf));
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	if (info->samplerate != ES_AUDIO_RATE) {
		int e;
		rs = speex_resampler_init(1, (spx_uint32_t)info->samplerate, ES_AUDIO_RATE, 5, &e);
		if (!rs) {
			snprintf(err, errlen, "%s: cannot resample from %d Hz: %s", name, info->samplerate,
				 speex_resampler_strerror(e));
			r = -ENOTSUP;
			goto err_buf;
		}
		/* the first output sample is the first input sample: no leading silence */
		speex_resampler_skip_zeros(rs);
	}
	/* normalised floats whatever the file holds: 8..32-bit, float, compressed */
	sf_command(sf, SFC_SET_NORM_FLOAT, NULL, SF_TRUE);
	uint64_t in_frames = 0;
	for (;;) {
		sf_count_t got = sf_readf_float(sf, buf, CHUNK);
		if (got <= 0)
			break;
		for (sf_count_t i = 0; i < got; i++) {
			float s = 0;
			for (size_t c = 0; c < ch; c++) {
				float x = buf[(size_t)i * ch + c];
				s += x == x ? x : 0.0f;
			}
			mono[i] = s / (float)ch;
		}
		in_frames += (uint64_t)got;
		r = feed(&p, rs, mono, (size_t)got);
		if (r < 0)
			goto err_feed;
	}
	if (sf_error(sf) != SF_ERR_NO_ERROR) {
		snprintf(err, errlen, "%s: damaged after %.2f s: %s", name, (double)in_frames / info->samplerate,
			 sf_strerror(sf));
		r = -EBADMSG;
		goto err_pcm;
	}
	if (rs) {
		/* push the resampler's tail out, then keep exactly the input's duration */
		float zeros[CHUNK] = {0};
		size_t tail = speex_resampler_get_input_latency(rs);
		while (tail > 0) {
			size_t n = tail < CHUNK ? tail : CHUNK;
			r = feed(&p, rs, zeros, n);
			if (r < 0 && r != -EFBIG)
				goto err_feed;
			tail -= n;
		}
		uint64_t want = (in_frames * ES_AUDIO_RATE + (uint64_t)info->samplerate - 1) / (uint64_t)info->samplerate;
		if (p.n > want)
			p.n = (size_t)want;
		if (want > max_frames) {
			r = -EFBIG;
			goto err_feed;
		}
	}
	if (p.n == 0) {
		snprintf(err, errlen, "%s: the file holds no sound", name);
		r = -ENODATA;
		goto err_pcm;
	}
	if (rs)
		speex_resampler_destroy(rs);
	free(buf);
	*out = p.s;
	*frames = p.n;
	return 0;

err_feed:
	if (r == -EFBIG)
		snprintf(err, errlen, "%s: longer than %.2f s; cut it shorter", name, (double)max_frames / ES_AUDIO_RATE);
	else if (r == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", name);
	else
		snprintf(err, errlen, "%s: cannot resample from %d Hz", name, info->samplerate);
err_pcm:
	free(p.s);
	if (rs)
		speex_resampler_destroy(rs);
err_buf:
	free(buf);
	return r;
}

/*
 * libsndfile's virtual I/O, over a buffer in memory or over a file whose
 * descriptor stays ours.  Not sf_open_fd(): on a failed open the library
 * closes the descriptor even when told not to (seen with 1.2.0), so the
 * caller could not know whether to close it.  With our own I/O the fd is
 * opened and closed here, once, and a file and a fuzzer's bytes reach the
 * library the same way.
 */
struct vio {
	const uint8_t *buf; /* memory, or NULL: fd */
	int fd;
	sf_count_t len, pos;
};

static sf_count_t vio_len(void *ud)
{
	struct vio *v = ud;
	struct stat st;
	if (v->buf)
		return v->len;
	return fstat(v->fd, &st) == 0 ? (sf_count_t)st.st_size : -1;
}

static sf_count_t vio_seek(sf_count_t off, int whence, void *ud)
{
	struct vio *v = ud;
	sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? v->pos : vio_len(v);
	/* no wrap: a hostile header may ask for any offset */
	if (base < 0 || (off > 0 && base > INT64_MAX - off) || base + off < 0)
		return -1;
	v->pos = base + off;
	return v->pos;
}

static sf_count_t vio_read(void *ptr, sf_count_t count, void *ud)
{
	struct vio *v = ud;
	if (count <= 0)
		return 0;
	if (v->buf) {
		if (v->pos >= v->len)
			return 0;
		sf_count_t n = v->len - v->pos < count ? v->len - v->pos : count;
		memcpy(ptr, v->buf + v->pos, (size_t)n);
		v->pos += n;
		return n;
	}
	sf_count_t got = 0;
	while (got < count) {
		ssize_t n = pread(v->fd, (uint8_t *)ptr + got, (size_t)(count - got), (off_t)(v->pos + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	v->pos += got;
	return got;
}

static sf_count_t vio_write(const void *ptr, sf_count_t count, void *ud)
{
	struct vio *v = ud;
	if (v->buf || count <= 0)
		return 0;
	sf_count_t put = 0;
	while (put < count) {
		ssize_t n = pwrite(v->fd, (const uint8_t *)ptr + put, (size_t)(count - put), (off_t)(v->pos + put));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		put += n;
	}
	v->pos += put;
	return put;
}

static sf_count_t vio_tell(void *ud)
{
	return ((struct vio *)ud)->pos;
}

static SF_VIRTUAL_IO vio_ops = {vio_len, vio_seek, vio_read, vio_write, vio_tell};

/* A file the library does not open: its own words, and what it does read. */
static void cannot_read(char *err, size_t errlen, const char *name)
{
	snprintf(err, errlen, "%s: cannot read this sound file: %s (WAV, FLAC, Ogg, AIFF and the other formats "
		 "of libsndfile are read)", name, sf_strerror(NULL));
}

static int open_and_decode(struct vio *v, const char *name, size_t max_frames, int16_t **out, size_t *frames,
			   char *errbuf, size_t errlen)
{
	SF_INFO info = {0};
	SNDFILE *sf = sf_open_virtual(&vio_ops, SFM_READ, &info, v);
	if (!sf) {
		cannot_read(errbuf, errlen, name);
		return -EBADMSG;
	}
	int r = decode(sf, &info, name, max_frames, out, frames, errbuf, errlen);
	sf_close(sf);
	return r;
}

int es_audio_load_mono48(const char *path, int16_t **out, size_t *frames, char *errbuf, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not hang us: refused below */
	if (fd < 0) {
		int e = errno;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(errbuf, errlen, "%s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	struct vio v = {.fd = fd};
	int r = open_and_decode(&v, path, ES_AUDIO_MAX_FRAMES, out, frames, errbuf, errlen);
	close(fd);
	return r;
}

int es_audio_decode_mono48(const uint8_t *buf, size_t len, size_t max_frames, int16_t **out, size_t *frames,
			   char *errbuf, size_t errlen)
{
	static const uint8_t empty[1];
	struct vio v = {.buf = len ? buf : empty, .fd = -1, .len = (sf_count_t)len};
	return open_and_decode(&v, "(memory)", max_frames, out, frames, errbuf, errlen);
}

struct es_audio_writer {
	SNDFILE *sf;
	struct vio v; /* its fd is ours, closed after the library's close */
};

/* The container a name asks for; WAV for any other name. */
static int format_for(const char *path)
{
	const char *dot = strrchr(path, '.');
	if (dot && strchr(dot, '/') == NULL) {
		if (strcasecmp(dot, ".flac") == 0)
			return SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
		if (strcasecmp(dot, ".ogg") == 0 || strcasecmp(dot, ".oga") == 0)
			return SF_FORMAT_OGG | SF_FORMAT_VORBIS;
		if (strcasecmp(dot, ".opus") == 0)
			return SF_FORMAT_OGG | SF_FORMAT_OPUS;
	}
	return SF_FORMAT_WAV | SF_FORMAT_PCM_16;
}

struct es_audio_writer *es_audio_writer_open(const char *path, char *errbuf, size_t errlen)
{
	int e;
	struct es_audio_writer *w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(errbuf, errlen, "%s: out of memory", path);
		return NULL;
	}
	SF_INFO info = {.samplerate = ES_AUDIO_RATE, .channels = 2, .format = format_for(path)};
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		e = errno;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(e));
		goto err_free;
	}
	w->v = (struct vio){.fd = fd};
	w->sf = sf_open_virtual(&vio_ops, SFM_WRITE, &info, &w->v);
	if (!w->sf) {
		e = EIO;
		snprintf(errbuf, errlen, "%s: cannot write this format: %s", path, sf_strerror(NULL));
		close(fd);
		goto err_free;
	}
	/* a WAV's sizes are right after every write: a killed bot leaves a whole file */
	if ((info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_WAV)
		sf_command(w->sf, SFC_SET_UPDATE_HEADER_AUTO, NULL, SF_TRUE);
	return w;

err_free:
	free(w);
	errno = e;
	return NULL;
}

int es_audio_writer_write(struct es_audio_writer *w, const int16_t *stereo, size_t frames)
{
	return sf_writef_short(w->sf, stereo, (sf_count_t)frames) == (sf_count_t)frames ? 0 : -EIO;
}

int es_audio_writer_close(struct es_audio_writer *w)
{
	if (!w)
		return 0;
	int r = sf_close(w->sf) == 0 ? 0 : -EIO;
	if (close(w->v.fd) < 0 && r == 0)
		r = -EIO;
	free(w);
	return r;
}
