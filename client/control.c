/* SPDX-License-Identifier: MIT */
#include "control.h"

#include <stdio.h>

#include "earshot-proto.h"
#include "session.h"

static const char *state_word(enum es_session_state st)
{
	switch (st) {
	case ES_SESSION_CONNECTING: return "connecting";
	case ES_SESSION_JOINING: return "joining";
	case ES_SESSION_JOINED: return "joined";
	case ES_SESSION_BACKOFF: return "reconnecting";
	case ES_SESSION_FAILED: return "failed";
	}
	return "?";
}

/*
 * Replies are one line (ctl.h).  Status is tab-separated key=value fields
 * after the mute word, which `earshot status` prints for people or as
 * JSON; names and rooms cannot hold a tab (the server refuses controls).
 */
int es_control_handle(void *user, enum es_ctl_cmd cmd, char *reply, size_t len)
{
	struct es_control *c = user;
	uint8_t f = es_session_flags(c->s);
	switch (cmd) {
	case ES_CTL_MUTE: f |= ES_PF_MUTED; break;
	case ES_CTL_UNMUTE: f &= (uint8_t)~ES_PF_MUTED; break;
	case ES_CTL_TOGGLE_MUTE: f ^= ES_PF_MUTED; break;
	case ES_CTL_PTT_DOWN: c->ptt_held = true; break;
	case ES_CTL_PTT_UP: c->ptt_held = false; break;
	case ES_CTL_STATUS: break;
	}
	if (cmd == ES_CTL_MUTE || cmd == ES_CTL_UNMUTE || cmd == ES_CTL_TOGGLE_MUTE)
		es_session_set_flags(c->s, f);
	f = es_session_flags(c->s);
	const char *mute = f & ES_PF_MUTED ? "muted" : "unmuted";
	if (cmd != ES_CTL_STATUS) {
		snprintf(reply, len, "%s", mute);
		return 0;
	}
	struct es_session_stats st;
	es_session_get_stats(c->s, &st);
	const struct es_pos *p = es_session_pos(c->s);
	char servers[8 * 96];
	snprintf(reply, len,
		 "%s\tserver=%s\tname=%s\tstate=%s\tlive=%s\tx=%.2f\ty=%.2f\troom=%s\tloss=%.1f\tfec=%u\tjitter=%u"
		 "\tservers=%s\tredirects=%llu\tredirect_wait_ms=%u",
		 mute, es_session_server(c->s), es_session_name(c->s), state_word(es_session_state(c->s)),
		 es_session_live(c->s) ? "yes" : "no", p->x_cm / 100.0, p->y_cm / 100.0, c->room ? c->room : "",
		 st.link_reports ? st.up_loss_permille / 10.0 : -1.0, st.fec_loss_perc, st.jitter_depth,
		 es_session_servers(c->s, servers, sizeof(servers)), (unsigned long long)st.redirects, st.redirect_wait_ms);
	return 0;
}
