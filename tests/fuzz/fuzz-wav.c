/* SPDX-License-Identifier: MIT */
/* The client's WAV parser on anything: what it accepts must lie inside the buffer. */
#include "wav.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned rate, ch;
	const uint8_t *pcm;
	size_t frames;
	const char *why;
	if (es_wav_parse(data, size, &rate, &ch, &pcm, &frames, &why) < 0)
		return 0;
	if (pcm < data || pcm + frames * 2 * ch > data + size || ch < 1 || ch > 2)
		__builtin_trap();
	volatile uint8_t sink = 0;
	for (size_t i = 0; i < frames * 2 * ch; i++)
		sink ^= pcm[i];
	(void)sink;
	return 0;
}
