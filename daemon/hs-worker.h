/* SPDX-License-Identifier: MIT */
/*
 * The handshake worker: a thread that does the first, expensive half of
 * answering a Noise IK message 1 (read it: two X25519; make the ephemeral
 * key for message 2: one more), so that a join storm's Diffie-Hellman work
 * runs beside the tick instead of in it.  The tick thread keeps everything
 * that touches state (the allowlist, admission, the person, ENet) and the
 * last two X25519 of message 2, whose payload (the WELCOME) depends on
 * admission.
 *
 * Ownership.  Jobs live in a ring of `depth`.  The tick thread takes a free
 * job (es_hs_worker_job), fills its input and hands it over
 * (es_hs_worker_submit); from then the worker owns it until it has filled
 * the output; the tick thread gets it back in order (es_hs_worker_done),
 * uses it and gives it up (es_hs_worker_release, which wipes it).  The
 * hand-overs are under one mutex, which orders the job's contents.  The
 * worker touches nothing but its jobs and its copy of the server key.
 */
#ifndef EARSHOT_HS_WORKER_H
#define EARSHOT_HS_WORKER_H

#include <stdint.h>

#include "earshot-crypto.h"
#include "earshot-proto.h"

struct es_hs_job {
	/* in (tick thread) */
	unsigned peer;    /* the caller's: which connection */
	uint32_t gen;     /* the caller's: which incarnation of it */
	uint16_t msg1_len;
	uint8_t msg1[ES_NOISE_MSG1_MAX];
	/* out (worker): result 0 and the rest filled, or a negative errno */
	int result;
	struct es_noise hs; /* ready for es_noise_write_msg2, ephemeral key made */
	uint8_t client[32];
	uint8_t ts[ES_TAI64N_LEN];
	uint8_t payload[ES_NOISE_PAYLOAD_MAX];
	struct es_join_payload jp; /* decoded; its name points into payload */
};

struct es_hs_worker;

/* Start the thread with a copy of the server's key pair.  NULL with errno set. */
struct es_hs_worker *es_hs_worker_new(const struct es_keypair *key, unsigned depth);

/* Stop and join the thread, wipe every job and the key, free.  NULL is a no-op. */
void es_hs_worker_free(struct es_hs_worker *w);

/* A free job to fill, or NULL if depth jobs are out.  Tick thread only. */
struct es_hs_job *es_hs_worker_job(struct es_hs_worker *w);

/* Hand over the job es_hs_worker_job gave. */
void es_hs_worker_submit(struct es_hs_worker *w);

/* The oldest finished job, or NULL.  It stays the caller's until released. */
struct es_hs_job *es_hs_worker_done(struct es_hs_worker *w);

/* Wipe and free the job es_hs_worker_done gave. */
void es_hs_worker_release(struct es_hs_worker *w);

/* Jobs submitted and not yet released. */
unsigned es_hs_worker_inflight(const struct es_hs_worker *w);

#endif
