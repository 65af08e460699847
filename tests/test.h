/* SPDX-License-Identifier: MIT */
/*
 * Minimal assert macros for plain C test programs.  A failed check prints
 * where and why and exits 1; exit 77 means "skip" to meson.
 */
#ifndef EARSHOT_TEST_H
#define EARSHOT_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define EXIT_TEST_SKIP 77

#define check(expr) do { \
	if (!(expr)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr); \
		exit(1); \
	} \
} while (0)

#define check_int_eq(a, b) do { \
	long long _a = (long long)(a), _b = (long long)(b); \
	if (_a != _b) { \
		fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b, _a, _b); \
		exit(1); \
	} \
} while (0)

#define check_near(a, b, tol) do { \
	double _a = (double)(a), _b = (double)(b), _t = (double)(tol); \
	if (!(fabs(_a - _b) <= _t)) { \
		fprintf(stderr, "%s:%d: %s ~ %s failed: %g vs %g (tol %g)\n", __FILE__, __LINE__, #a, #b, _a, _b, _t); \
		exit(1); \
	} \
} while (0)

#define test_log(...) do { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } while (0)

#endif
