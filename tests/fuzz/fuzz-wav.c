/* SPDX-License-Identifier: MIT */
/*
 * The client's --play reader on anything: the bytes go to libsndfile through
 * its virtual I/O (sf_open_virtual), exactly as a file would, and what comes
 * back must be inside the cap, and every sample must be read without a fault.
 * The cap is small so that a few bytes of FLAC that claim hours of sound
 * cost the fuzzer nothing.
 */
#include <errno.h>
#include <stdlib.h>

#include "audio-file.h"

#define FUZZ_MAX_FRAMES (ES_AUDIO_RATE * 2)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int16_t *pcm = NULL;
	size_t frames = 0;
	char err[256] = "";
	int r = es_audio_decode_mono48(data, size, FUZZ_MAX_FRAMES, &pcm, &frames, err, sizeof(err));
	if (r < 0) {
		/* refused with a reason, and nothing handed out */
		if (!err[0] || pcm || (r != -EBADMSG && r != -ENOTSUP && r != -EFBIG && r != -ENODATA && r != -ENOMEM &&
				       r != -EINVAL))
			__builtin_trap();
		return 0;
	}
	if (!pcm || frames == 0 || frames > FUZZ_MAX_FRAMES)
		__builtin_trap();
	volatile int16_t sink = 0;
	for (size_t i = 0; i < frames; i++)
		sink ^= pcm[i];
	(void)sink;
	free(pcm);
	return 0;
}
