/* SPDX-License-Identifier: MIT */
/* es-load's sampling: percentiles of its measurements, the daemon's CPU and memory from /proc. */
#include "load.h"

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

double pct(int64_t *v, int n, double p)
{
	if (n == 0)
		return -1;
	qsort(v, (size_t)n, sizeof(*v), cmp_i64);
	int i = (int)ceil(p * n) - 1;
	return (double)v[i < 0 ? 0 : i >= n ? n - 1 : i] / 1e6;
}

/* The daemon's CPU seconds and resident KiB from /proc. */
void proc_usage(int pid, double *cpu_s, long *rss_kib)
{
	char path[64], buf[1024];
	*cpu_s = -1;
	*rss_kib = -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (f) {
		if (fgets(buf, sizeof(buf), f)) {
			char *p = strrchr(buf, ')');
			unsigned long ut, st;
			if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
				*cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
		}
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (f) {
		while (fgets(buf, sizeof(buf), f))
			if (sscanf(buf, "VmRSS: %ld", rss_kib) == 1)
				break;
		fclose(f);
	}
}

