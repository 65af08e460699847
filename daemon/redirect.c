/* SPDX-License-Identifier: MIT */
/*
 * Sending an admitted person to another daemon of the company
 * (ES_MSG_REDIRECT, docs/CLUSTER.md): their floor is hosted there, or an
 * admin sends them.  Tick thread only, like the rest of the office.
 */
#include <errno.h>
#include <string.h>

#include "server-private.h"

bool srv_redirect_addr_ok(const char *a)
{
	size_t n = strnlen(a, ES_REDIRECT_ADDR_MAX + 1);
	if (n == 0 || n > ES_REDIRECT_ADDR_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)a[i] < 0x21 || (unsigned char)a[i] > 0x7e || a[i] == ',')
			return false;
	return true;
}

int srv_redirect(struct es_server *s, unsigned id, uint8_t reason, const char *const *addrs, unsigned naddr)
{
	if (id >= s->cfg.max_people || !s->people[id].used)
		return -ENOENT;
	/* where they are now: they join there */
	return srv_redirect_to(s, id, reason, &s->people[id].pos, addrs, naddr);
}

int srv_redirect_to(struct es_server *s, unsigned id, uint8_t reason, const struct es_pos *pos,
		    const char *const *addrs, unsigned naddr)
{
	if (id >= s->cfg.max_people || !s->people[id].used)
		return -ENOENT;
	if (naddr == 0 || naddr > ES_REDIRECT_ADDRS_MAX || reason < ES_REDIRECT_ELSEWHERE || reason > ES_REDIRECT_WALK ||
	    pos->facing >= 3600)
		return -EINVAL;
	struct person *q = &s->people[id];
	struct es_msg m = {.type = ES_MSG_REDIRECT};
	struct es_redirect *rd = &m.u.redirect;
	rd->reason = reason;
	rd->pos = *pos;
	rd->naddr = (uint8_t)naddr;
	for (unsigned i = 0; i < naddr; i++) {
		if (!addrs[i] || !srv_redirect_addr_ok(addrs[i]))
			return -EINVAL;
		memcpy(rd->addr[i], addrs[i], strlen(addrs[i]) + 1);
	}
	ENetPeer *peer = q->peer;
	struct peer_slot *slot = peer->data;
	/* reliable, on the control channel: it leaves before the disconnect that follows it */
	int r = srv_send_msg(s, peer, &m);
	if (r < 0)
		return r;
	char name[ES_NAME_MAX + 1];
	memcpy(name, q->name, sizeof(name));
	struct es_pos at = *pos;
	srv_person_leave(s, slot);
	slot->st = SLOT_IDLE;
	/* after what is queued (the REDIRECT) has been sent and acknowledged */
	enet_peer_disconnect_later(peer, 0);
	s->c.redirects++;
	srv_logf("info", "%s (#%u) redirected to %s (reason %u, %u address%s), to sit at %.2f,%.2f", name, id, rd->addr[0],
		 reason, naddr, naddr == 1 ? "" : "es", at.x_cm / 100.0, at.y_cm / 100.0);
	return 0;
}
