/* SPDX-License-Identifier: MIT */
/*
 * The interactive client: the sound card paces a 20 ms loop of capture ->
 * clean voice (echo cancellation, noise suppression, gain, voice
 * detection) -> session -> playback, with the mute control socket and the
 * terminal UI served in between, never blocking the audio.
 */
#ifndef EARSHOT_APP_H
#define EARSHOT_APP_H

#include <stdbool.h>
#include <signal.h>

#include "session.h"

struct es_app_opts {
	bool ui;        /* draw the terminal UI (stdout is a terminal) */
	bool aec;       /* echo cancellation (default on) */
	bool ptt;       /* push-to-talk: send only while the key is held */
	bool verbose;
	double seconds; /* > 0: stop after this long (tests) */
	const char *input_device, *output_device; /* NULL: the defaults */
	const char *ctl_path; /* NULL: the per-user default */
	volatile sig_atomic_t *stop;
};

/* Run until quit, stop or seconds.  0 fine, 1 audio failure, 2 no device, 3 session failed. */
int es_app_run(struct es_session *s, const struct es_app_opts *o);

/* --list-devices: print the audio devices PortAudio sees.  Exit status. */
int es_app_list_devices(bool verbose);

#endif
