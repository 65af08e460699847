/* SPDX-License-Identifier: MIT */
/* Send an admitted person to another daemon of the company. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "server-private.h"

int srv_redirect(struct es_server *s, unsigned id, uint8_t reason, const char *const *addrs, unsigned naddr)
{
	if (id >= s->cfg.max_people || !s->people[id].used || naddr == 0 || naddr > ES_REDIRECT_ADDRS_MAX)
		return -EINVAL;
	ENetPeer *peer = s->people[id].peer;
	struct peer_slot *slot = peer->data;
	struct es_msg m = {.type = ES_MSG_REDIRECT};
	m.u.redirect.reason = reason;
	m.u.redirect.pos = s->people[id].pos;
	m.u.redirect.naddr = (uint8_t)naddr;
	for (unsigned i = 0; i < naddr; i++)
		snprintf(m.u.redirect.addr[i], sizeof(m.u.redirect.addr[i]), "%s", addrs[i]);
	int r = srv_send_msg(s, peer, &m);
	s->c.redirects++;
	srv_person_leave(s, slot);
	slot->st = SLOT_IDLE;
	enet_peer_disconnect_later(peer, 0);
	return r < 0 ? r : 0;
}
