/* SPDX-License-Identifier: MIT */
/*
 * Decode on demand.
 *
 * With voices forwarded as the speakers' own frames, a speaker's frame is
 * decoded on the server only in ticks where some mix renders it (a thin
 * link, or a listener whose budget does not carry every voice it hears).
 * An Opus decoder carries state from frame to frame (SILK's LPC and pitch
 * memory, the resampler, CELT's overlap): fed a frame after skipping some,
 * its first output is built on stale state and can click.  So each speaker
 * keeps what its jitter buffer gave in the last WARM_FRAMES ticks.  A
 * decoder that ran recently enough is fed the frames it missed (the same
 * state as if it had never stopped); one that did not is reset and fed all
 * that is kept (a warm-up) before the frame the mix needs.  A talk spurt
 * that starts in a mix needs none: its decoder starts with it.
 */
#include <string.h>

#include "engine-private.h"

/* The k-th kept frame, oldest first: a ring, so remembering moves no bytes (every speaker, every tick). */
static struct past *kept(struct person *p, unsigned k)
{
	return &p->past[(p->past0 + k) % WARM_FRAMES];
}

void es_decode_remember(struct person *p)
{
	if (p->npast == WARM_FRAMES)
		p->past0 = (p->past0 + 1) % WARM_FRAMES; /* the oldest goes */
	else
		p->npast++;
	struct past *k = kept(p, p->npast - 1);
	k->what = (uint8_t)p->what;
	k->len = (uint16_t)(p->pkt ? p->pkt_len : 0);
	if (k->len)
		memcpy(k->data, p->pkt, k->len);
}

static int run(OpusDecoder *dec, uint8_t what, const uint8_t *data, size_t len, opus_int16 *out)
{
	if (what == ES_JB_FRAME && len)
		return opus_decode(dec, data, (opus_int32)len, out, ES_FRAME, 0);
	if (what == ES_JB_FEC && len)
		return opus_decode(dec, data, (opus_int32)len, out, ES_FRAME, 1);
	return opus_decode(dec, NULL, 0, out, ES_FRAME, 0);
}

void es_decode_speaker(struct es_engine *e, unsigned id, unsigned tick, struct es_scratch *w)
{
	struct person *p = &e->people[id];
	opus_int16 *pcm = w->dec16;
	/* the kept frames are those of ticks tick-npast .. tick-1 */
	unsigned first = tick - p->npast, from = 0;
	p->warm = 0;
	if (p->dec_tick + 1 != tick) {
		if (p->npast && p->dec_tick + 1 >= first && p->dec_tick < tick) {
			from = p->dec_tick + 1 - first; /* it stopped a moment ago: feed it what it missed */
		} else {
			/* too long ago (or never): start afresh, then warm up on what is kept */
			opus_decoder_ctl(p->dec, OPUS_RESET_STATE);
		}
		for (unsigned k = from; k < p->npast; k++) {
			const struct past *f = kept(p, k);
			(void)run(p->dec, f->what, f->data, f->len, pcm);
			p->warm++;
		}
	}
	int n = run(p->dec, (uint8_t)p->what, p->pkt, p->pkt ? p->pkt_len : 0, pcm);
	p->dec_tick = tick;
	if (n != ES_FRAME) {
		/* a corrupt frame: silence from this voice this tick */
		memset(p->pcm, 0, sizeof(p->pcm));
		return;
	}
	for (unsigned i = 0; i < ES_FRAME; i++)
		p->pcm[i] = pcm[i] * (1.0f / 32768.0f);
}
