/* SPDX-License-Identifier: MIT */
/*
 * What the control socket (ctl.h) does in a running client, headless or
 * not: mute, unmute, toggle-mute, push-to-talk, and status.  One handler
 * for both, so `earshot mute` reaches a bot as it reaches a person.
 */
#ifndef EARSHOT_CLIENT_CONTROL_H
#define EARSHOT_CLIENT_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

#include "ctl.h"

struct es_session;

struct es_control {
	struct es_session *s;
	bool ptt_held;     /* ptt-down / ptt-up, for the loop that sends */
	const char *room;  /* the room we are in, or NULL (the caller keeps it current) */
};

/* An es_ctl_handler; user is a struct es_control. */
int es_control_handle(void *user, enum es_ctl_cmd cmd, char *reply, size_t len);

#endif
