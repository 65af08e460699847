/* SPDX-License-Identifier: MIT */
/* CLOCK_MONOTONIC now, for deadlines and intervals. */
#ifndef EARSHOT_CLOCK_H
#define EARSHOT_CLOCK_H
#include <stdint.h>
#include <time.h>

static inline int64_t es_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline int64_t es_now_ms(void)
{
	return es_now_ns() / 1000000;
}
#endif
