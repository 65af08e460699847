/* SPDX-License-Identifier: MIT */
/*
 * "HOST:PORT" into an ENetAddress: the one parser of the daemon's listen
 * address, the relay's addresses and the client's daemons.  Header-only:
 * only programs that link ENet include it (proto itself does not).
 */
#ifndef EARSHOT_ENET_ADDR_H
#define EARSHOT_ENET_ADDR_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <enet/enet.h>

enum {
	ES_HOSTPORT_NAMES = 1u << 0,        /* a host name is looked up (DNS: never on the tick thread) */
	ES_HOSTPORT_PORT0 = 1u << 1,        /* port 0 (any free port) is allowed */
	ES_HOSTPORT_DEFAULT_PORT = 1u << 2, /* no ":PORT": the default port */
};

/*
 * 0, -EINVAL (not HOST:PORT, a name without ES_HOSTPORT_NAMES, a port out
 * of range), or -EHOSTUNREACH (well formed, but no such host).
 */
static inline int es_enet_parse_hostport(const char *s, ENetAddress *a, unsigned flags, unsigned default_port)
{
	const char *colon = strrchr(s, ':');
	if (colon && (colon == s || colon[1] == 0))
		return -EINVAL;
	if (!colon && !(flags & ES_HOSTPORT_DEFAULT_PORT))
		return -EINVAL;
	char host[256];
	size_t hl = colon ? (size_t)(colon - s) : strlen(s);
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = 0;
	long port = (long)default_port;
	if (colon) {
		char *end;
		port = strtol(colon + 1, &end, 10);
		if (*end || port < ((flags & ES_HOSTPORT_PORT0) ? 0 : 1) || port > 65535)
			return -EINVAL;
	}
	if (enet_address_set_host_ip(a, host) != 0) {
		if (!(flags & ES_HOSTPORT_NAMES))
			return -EINVAL;
		if (enet_address_set_host(a, host) != 0)
			return -EHOSTUNREACH;
	}
	a->port = (enet_uint16)port;
	return 0;
}

#endif
