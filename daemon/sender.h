/* SPDX-License-Identifier: MIT */
/*
 * The audio sender: a second thread that puts the tick's downlink
 * datagrams on the wire with sendmmsg, so the tick thread does not spend
 * ~5 us per listener in the kernel's UDP path (half of a 2,000-listener
 * tick, measured).
 *
 * Ownership.  There are two batches.  The tick thread fills one
 * (es_sender_reserve / es_sender_commit) and hands it over with
 * es_sender_submit; from then on the sender thread owns it until it has
 * sent it, and the tick thread fills the other.  If the sender has not
 * finished the previous batch when the next is submitted, submit waits for
 * it (back-pressure, counted) rather than drop a whole tick.  The batches
 * are handed over under one mutex, so everything written into a batch
 * before submit is visible to the sender.  The sender touches nothing but
 * its batches and the socket (sendmmsg on a UDP socket is safe beside the
 * tick thread's own sends on it); it never sees ENet or any key.
 */
#ifndef EARSHOT_SENDER_H
#define EARSHOT_SENDER_H

#include <stddef.h>
#include <stdint.h>

struct es_sender;

struct es_sender_stats {
	uint64_t datagrams, bytes; /* handed to the kernel */
	uint64_t failed;           /* sendmmsg refused (EAGAIN, ENOBUFS, ...): dropped */
	uint64_t batches, waits;   /* batches submitted; submits that waited for the previous */
	uint64_t wait_ns;          /* total time submit waited */
};

/*
 * Start the thread.  fd is borrowed (the ENet host's socket) and must
 * outlive the sender.  A batch holds up to max_datagrams datagrams and
 * arena_bytes bytes of them.  NULL with errno set on failure.
 */
struct es_sender *es_sender_new(int fd, unsigned max_datagrams, size_t arena_bytes);

/* Stop and join the thread (it finishes a batch it has begun) and free.  NULL is a no-op. */
void es_sender_free(struct es_sender *x);

/*
 * Room for one datagram of up to len bytes in the batch being filled, or
 * NULL if the batch is full (send it another way).  Tick thread only; the
 * pointer is valid until the next commit or submit.
 */
uint8_t *es_sender_reserve(struct es_sender *x, size_t len);

/* The datagram reserved last is len bytes long (<= reserved) and goes to addr_be:port. */
void es_sender_commit(struct es_sender *x, size_t len, uint32_t addr_be, uint16_t port);

/* Hand the batch being filled to the thread (nothing if it is empty). */
void es_sender_submit(struct es_sender *x);

/* Figures as of the last submit.  Tick thread only. */
void es_sender_get_stats(const struct es_sender *x, struct es_sender_stats *st);

#endif
