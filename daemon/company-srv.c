/* SPDX-License-Identifier: MIT */
/*
 * The server's side of a company (company.h): send the people of a floor
 * this daemon no longer hosts to the daemon that does.  Tick thread only.
 */
#include <errno.h>
#include <string.h>

#include "server-private.h"

int es_server_redirect_area(struct es_server *s, int32_t y0_cm, int32_t y1_cm, uint8_t reason, const char *const *addrs,
			    unsigned naddr)
{
	if (naddr == 0 || naddr > ES_REDIRECT_ADDRS_MAX)
		return -EINVAL;
	int n = 0;
	for (unsigned id = 0; id < s->cfg.max_people; id++) {
		struct person *q = &s->people[id];
		if (!q->used || q->pos.y_cm < y0_cm || q->pos.y_cm >= y1_cm)
			continue;
		if (srv_redirect(s, id, reason, addrs, naddr) == 0)
			n++;
	}
	return n;
}

void es_server_count_bands(const struct es_server *s, int32_t band_cm, unsigned nbands, int *counts)
{
	for (unsigned k = 0; k < nbands; k++)
		counts[k] = 0;
	if (band_cm <= 0)
		return;
	for (unsigned id = 0; id < s->cfg.max_people; id++) {
		const struct person *q = &s->people[id];
		if (!q->used || q->pos.y_cm < 0)
			continue;
		unsigned k = (unsigned)(q->pos.y_cm / band_cm);
		if (k < nbands)
			counts[k]++;
	}
}
