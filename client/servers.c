/* SPDX-License-Identifier: MIT */
#include "servers.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

bool es_server_addr_ok(const char *a, size_t len)
{
	if (len == 0 || len > ES_SERVER_ADDR_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)a[i];
		if (c <= 0x20 || c >= 0x7f || c == ',')
			return false;
	}
	return true;
}

static int add_n(struct es_servers *l, const char *a, size_t len, bool force)
{
	if (!es_server_addr_ok(a, len))
		return -EINVAL;
	for (unsigned i = 0; i < l->n; i++)
		if (strlen(l->addr[i]) == len && memcmp(l->addr[i], a, len) == 0)
			return (int)i;
	unsigned at = l->n;
	if (l->n == ES_SERVERS_MAX) {
		if (!force)
			return -ENOSPC;
		at = ES_SERVERS_MAX - 1; /* the company's own address stays first */
	} else
		l->n++;
	memcpy(l->addr[at], a, len);
	l->addr[at][len] = 0;
	return (int)at;
}

int es_servers_parse(struct es_servers *l, const char *list)
{
	memset(l, 0, sizeof(*l));
	const char *p = list;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len) {
			int r = add_n(l, p, len, false);
			if (r < 0) {
				memset(l, 0, sizeof(*l));
				return r == -ENOSPC ? -E2BIG : r;
			}
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	return l->n ? 0 : -EINVAL;
}

int es_servers_find(const struct es_servers *l, const char *addr)
{
	for (unsigned i = 0; i < l->n; i++)
		if (strcmp(l->addr[i], addr) == 0)
			return (int)i;
	return -1;
}

int es_servers_add(struct es_servers *l, const char *addr, bool force)
{
	return add_n(l, addr, strlen(addr), force);
}

bool es_servers_lost(struct es_servers *l)
{
	if (l->n == 0)
		return true;
	l->cur = (l->cur + 1) % l->n;
	if (++l->tried < l->n)
		return false;
	l->tried = 0;
	return true;
}

void es_servers_ok(struct es_servers *l)
{
	l->tried = 0;
}

const char *es_servers_current(const struct es_servers *l)
{
	return l->n ? l->addr[l->cur] : "";
}

const char *es_servers_join(const struct es_servers *l, char *buf, size_t cap)
{
	size_t o = 0;
	if (cap)
		buf[0] = 0;
	for (unsigned i = 0; i < l->n && o < cap; i++) {
		int k = snprintf(buf + o, cap - o, "%s%s", i ? "," : "", l->addr[i]);
		if (k < 0)
			break;
		o += (size_t)k;
	}
	return buf;
}
