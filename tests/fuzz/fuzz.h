/* SPDX-License-Identifier: MIT */
/*
 * Shared by the fuzz harnesses and the corpus generator: the libFuzzer
 * entry point and the fixed keys that make handshakes reproducible (fixed
 * ephemerals are for fuzzing only, see noise-private.h).
 */
#ifndef EARSHOT_FUZZ_H
#define EARSHOT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "earshot-crypto.h"
#include "noise-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_PROLOGUE ((const uint8_t *)"earshot-fuzz")
#define FUZZ_PROLOGUE_LEN 12

static inline void fuzz_key(uint8_t out[32], uint8_t seed)
{
	for (int i = 0; i < 32; i++)
		out[i] = (uint8_t)(seed + 13 * i);
}

/* Client and server static keys, client and server ephemerals. */
static inline void fuzz_keys(struct es_keypair *cs, struct es_keypair *ss, uint8_t ce[32], uint8_t se[32])
{
	uint8_t priv[32];

	if (sodium_init() < 0)
		__builtin_trap();
	fuzz_key(priv, 1);
	if (es_noise_keypair_from_private(cs, priv) < 0)
		__builtin_trap();
	fuzz_key(priv, 2);
	if (es_noise_keypair_from_private(ss, priv) < 0)
		__builtin_trap();
	fuzz_key(ce, 3);
	fuzz_key(se, 4);
}

static inline void fuzz_cipher_key(uint8_t key[32])
{
	fuzz_key(key, 5);
}

#endif
