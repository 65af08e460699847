/* SPDX-License-Identifier: MIT */
#include "sender.h"

#include "clock.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define MMSG_MAX 256 /* datagrams per sendmmsg call */

struct batch {
	uint8_t *arena;
	size_t used;
	unsigned n;
	struct mmsghdr *msg;
	struct iovec *iov;
	struct sockaddr_in *to;
};

struct es_sender {
	int fd;
	unsigned cap;
	size_t arena_cap;
	struct batch b[2];
	unsigned fill;   /* index of the batch the tick thread fills */
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t go, done;
	/* under lock */
	struct batch *pending; /* handed over, not yet sent: the sender's */
	bool stop;
	uint64_t datagrams, bytes, failed;
	/* tick thread only */
	struct es_sender_stats st;
};

static void send_batch(struct es_sender *x, struct batch *b, uint64_t *sent, uint64_t *bytes, uint64_t *failed)
{
	unsigned off = 0;
	while (off < b->n) {
		unsigned n = b->n - off > MMSG_MAX ? MMSG_MAX : b->n - off;
		int r = sendmmsg(x->fd, b->msg + off, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			(*failed)++; /* this datagram cannot go (full buffer, no route): skip it */
			off++;
			continue;
		}
		for (int i = 0; i < r; i++)
			*bytes += b->iov[off + (unsigned)i].iov_len;
		*sent += (unsigned)r;
		off += (unsigned)r;
	}
}

static void *run(void *arg)
{
	struct es_sender *x = arg;
	pthread_mutex_lock(&x->lock);
	for (;;) {
		while (!x->pending && !x->stop)
			pthread_cond_wait(&x->go, &x->lock);
		if (!x->pending)
			break;
		struct batch *b = x->pending;
		pthread_mutex_unlock(&x->lock);
		uint64_t sent = 0, bytes = 0, failed = 0;
		send_batch(x, b, &sent, &bytes, &failed);
		pthread_mutex_lock(&x->lock);
		x->datagrams += sent;
		x->bytes += bytes;
		x->failed += failed;
		x->pending = NULL;
		pthread_cond_signal(&x->done);
	}
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

static void batch_clear(struct batch *b)
{
	free(b->arena);
	free(b->msg);
	free(b->iov);
	free(b->to);
}

struct es_sender *es_sender_new(int fd, unsigned max_datagrams, size_t arena_bytes)
{
	if (max_datagrams == 0 || arena_bytes == 0) {
		errno = EINVAL;
		return NULL;
	}
	struct es_sender *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->fd = fd;
	x->cap = max_datagrams;
	x->arena_cap = arena_bytes;
	int e = ENOMEM;
	for (int i = 0; i < 2; i++) {
		struct batch *b = &x->b[i];
		b->arena = malloc(arena_bytes);
		b->msg = calloc(max_datagrams, sizeof(*b->msg));
		b->iov = calloc(max_datagrams, sizeof(*b->iov));
		b->to = calloc(max_datagrams, sizeof(*b->to));
		if (!b->arena || !b->msg || !b->iov || !b->to)
			goto err_batches;
	}
	if ((e = pthread_mutex_init(&x->lock, NULL)) != 0)
		goto err_batches;
	if ((e = pthread_cond_init(&x->go, NULL)) != 0)
		goto err_lock;
	if ((e = pthread_cond_init(&x->done, NULL)) != 0)
		goto err_go;
	if ((e = pthread_create(&x->thread, NULL, run, x)) != 0)
		goto err_done;
	x->started = true;
	pthread_setname_np(x->thread, "es-sender");
	return x;

err_done:
	pthread_cond_destroy(&x->done);
err_go:
	pthread_cond_destroy(&x->go);
err_lock:
	pthread_mutex_destroy(&x->lock);
err_batches:
	batch_clear(&x->b[0]);
	batch_clear(&x->b[1]);
	free(x);
	errno = e;
	return NULL;
}

void es_sender_free(struct es_sender *x)
{
	if (!x)
		return;
	pthread_mutex_lock(&x->lock);
	x->stop = true;
	pthread_cond_signal(&x->go);
	pthread_mutex_unlock(&x->lock);
	pthread_join(x->thread, NULL);
	pthread_cond_destroy(&x->done);
	pthread_cond_destroy(&x->go);
	pthread_mutex_destroy(&x->lock);
	batch_clear(&x->b[0]);
	batch_clear(&x->b[1]);
	free(x);
}

uint8_t *es_sender_reserve(struct es_sender *x, size_t len)
{
	struct batch *b = &x->b[x->fill];
	if (b->n >= x->cap || len > x->arena_cap - b->used)
		return NULL;
	return b->arena + b->used;
}

void es_sender_commit(struct es_sender *x, size_t len, uint32_t addr_be, uint16_t port)
{
	struct batch *b = &x->b[x->fill];
	unsigned i = b->n++;
	b->to[i] = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = addr_be};
	b->iov[i] = (struct iovec){.iov_base = b->arena + b->used, .iov_len = len};
	b->msg[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &b->to[i], .msg_namelen = sizeof(b->to[i]),
						  .msg_iov = &b->iov[i], .msg_iovlen = 1}};
	b->used += len;
}

void es_sender_submit(struct es_sender *x)
{
	struct batch *b = &x->b[x->fill];
	if (b->n == 0)
		return;
	pthread_mutex_lock(&x->lock);
	if (x->pending) {
		int64_t t0 = es_now_ns();
		while (x->pending)
			pthread_cond_wait(&x->done, &x->lock);
		x->st.waits++;
		x->st.wait_ns += (uint64_t)(es_now_ns() - t0);
	}
	x->pending = b;
	x->st.datagrams = x->datagrams;
	x->st.bytes = x->bytes;
	x->st.failed = x->failed;
	pthread_cond_signal(&x->go);
	pthread_mutex_unlock(&x->lock);
	x->st.batches++;
	x->fill ^= 1;
	struct batch *nb = &x->b[x->fill]; /* the sender finished it before it took b */
	nb->n = 0;
	nb->used = 0;
}

void es_sender_get_stats(const struct es_sender *x, struct es_sender_stats *st)
{
	*st = x->st;
}
