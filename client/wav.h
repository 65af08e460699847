/* SPDX-License-Identifier: MIT */
/* WAV files for the headless client: read any 16-bit PCM, write 48 kHz stereo. */
#ifndef EARSHOT_WAV_H
#define EARSHOT_WAV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Parse a RIFF/WAVE file held in memory: 16-bit PCM, 1 or 2 channels, 8000
 * to 192000 Hz.  Unknown chunks are skipped.  On success *pcm points into
 * buf (interleaved little-endian int16, unaligned: read bytewise) and the
 * function returns 0; on bad input -EBADMSG or -ENOTSUP with a reason in
 * err (err may be NULL).
 */
__attribute__((warn_unused_result)) int es_wav_parse(const uint8_t *buf, size_t len, unsigned *rate, unsigned *channels,
						    const uint8_t **pcm, size_t *frames, const char **err);

/*
 * Load a WAV file and convert it to mono at 48 kHz (channels averaged,
 * resampled with speexdsp).  *out is malloc'ed and owned by the caller.
 * Returns 0, or a negative errno with a message in errbuf.
 */
__attribute__((warn_unused_result)) int es_wav_load_mono48(const char *path, int16_t **out, size_t *frames, char *errbuf,
							  size_t errlen);

/* A 48 kHz stereo 16-bit writer; sizes are fixed up at close. */
struct es_wav_writer {
	FILE *f;
	uint32_t frames;
};

__attribute__((warn_unused_result)) int es_wav_writer_open(struct es_wav_writer *w, const char *path);
__attribute__((warn_unused_result)) int es_wav_writer_write(struct es_wav_writer *w, const int16_t *stereo, size_t frames);
__attribute__((warn_unused_result)) int es_wav_writer_close(struct es_wav_writer *w);

#endif
