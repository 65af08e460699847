/* SPDX-License-Identifier: MIT */
/*
 * es_render_voice() at a rate below 48 kHz, for the engine's mixes under
 * load (stream.c).  Private to mixer/.
 */
#ifndef EARSHOT_RENDER_PRIVATE_H
#define EARSHOT_RENDER_PRIVATE_H

#include "earshot-mixer.h"

/*
 * es_render_voice() on n samples at ES_RATE / factor (n <= ES_FRAME, n >
 * ES_ITD_MAX): the same head, its delays in samples of this rate and its
 * filters' corners where they are at 48 kHz.  A state must stay at one
 * rate for life (its delays and history are in that rate's samples).
 */
void es_render_voice_at(struct es_voice_state *st, const float *mono, unsigned n, unsigned factor, float gain,
			float azimuth, float *acc);

#endif
