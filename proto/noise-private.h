/* SPDX-License-Identifier: MIT */
/*
 * Internal to proto/: hooks for test vectors and fuzzers only.  Daemon and
 * client code must not include this.
 */
#ifndef EARSHOT_NOISE_PRIVATE_H
#define EARSHOT_NOISE_PRIVATE_H

#include "earshot-crypto.h"

/*
 * Use a fixed ephemeral private key instead of a random one for the next
 * write_msg1/write_msg2 on hs (after _init).  Deterministic ephemerals are
 * only safe for reproducing published test vectors.
 */
void es_noise_set_ephemeral(struct es_noise *hs, const uint8_t priv[static ES_KEY_LEN]);

#endif
