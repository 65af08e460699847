/* SPDX-License-Identifier: MIT */
/*
 * Sound files for the headless client, through libsndfile: --play reads any
 * file the library reads (WAV of any sample width or float, FLAC, Ogg
 * Vorbis/Opus, AIFF, ...), mixed down to mono and resampled to the client's
 * 48 kHz; --record writes what the client hears as 48 kHz stereo, in the
 * format its name asks for (.flac, .ogg, else WAV 16-bit).
 *
 * Files come from anyone (a bot plays what people send it), so the reader
 * trusts nothing the header says: it reads until the library stops, caps the
 * result at max_frames, and turns NaN and out-of-range float samples into
 * silence and full scale.  A file it cannot read is refused with the
 * library's reason and the file's name, never played as noise.
 */
#ifndef EARSHOT_AUDIO_FILE_H
#define EARSHOT_AUDIO_FILE_H

#include <stddef.h>
#include <stdint.h>

#define ES_AUDIO_RATE 48000
/* the longest --play file: an hour at 48 kHz mono is 330 MiB of samples */
#define ES_AUDIO_MAX_FRAMES ((size_t)ES_AUDIO_RATE * 3600)
/* sample rates taken; outside them the resampler's ratio is not speech */
#define ES_AUDIO_MIN_RATE 4000
#define ES_AUDIO_MAX_RATE 384000

/*
 * Load the sound file at path as mono 48 kHz 16-bit.  *out is malloc'ed and
 * owned by the caller (also for 0 frames it is not: a file without sound is
 * refused).  Returns 0, or a negative errno with a message that names the
 * file in errbuf: -ENOENT and the like for the file system, -EBADMSG for a
 * file the library cannot read or that is damaged, -ENOTSUP for a rate or
 * channel count outside what is taken, -EFBIG beyond ES_AUDIO_MAX_FRAMES,
 * -ENODATA for a file without a sample.
 */
__attribute__((warn_unused_result)) int es_audio_load_mono48(const char *path, int16_t **out, size_t *frames,
							    char *errbuf, size_t errlen);

/*
 * The same for a file held in memory (buf is read, not kept), through
 * libsndfile's virtual I/O, with a cap of max_frames output frames: what a
 * fuzzer or a test gives the library.  Same results as above.
 */
__attribute__((warn_unused_result)) int es_audio_decode_mono48(const uint8_t *buf, size_t len, size_t max_frames,
							      int16_t **out, size_t *frames, char *errbuf,
							      size_t errlen);

/* A 48 kHz stereo writer; the container follows the name (above). */
struct es_audio_writer;

/*
 * Open path for writing (truncating it).  NULL with errno set and a message
 * in errbuf on failure.
 */
struct es_audio_writer *es_audio_writer_open(const char *path, char *errbuf, size_t errlen);

/* Append frames of interleaved stereo.  0 or -EIO. */
__attribute__((warn_unused_result)) int es_audio_writer_write(struct es_audio_writer *w, const int16_t *stereo,
							     size_t frames);

/* Finish the file (sizes, last pages) and free w.  0 or -EIO; NULL is 0. */
__attribute__((warn_unused_result)) int es_audio_writer_close(struct es_audio_writer *w);

#endif
