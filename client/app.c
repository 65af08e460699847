/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <portaudio.h>

#include "clock.h"
#include "app.h"
#include "control.h"
#include "ctl.h"
#include "dsp.h"
#include "earshot-mixer.h"
#include "tui.h"

#define STEP_M 0.5f            /* one walk key: one floor cell of the default office */
#define VOLUME_STEP_DB 3.0f
#define REDRAW_EVERY 5         /* frames: the UI is drawn 10 times a second */

struct app {
	struct es_session *s;
	const struct es_app_opts *o;
	struct es_tui *tui;
	struct es_control ctl; /* the control socket's view of us (ptt_held too) */
	bool quit;
	int room;              /* the room we are in (-1 none), for "on stage" */
	float volume_db[ES_ROSTER_MAX];
	float level;
	bool voiced;
	bool ui_failed;
	char msg[160];
	char audio_msg[160]; /* while the audio device is lost */

	/* the devices */
	PaStream *st;
	PaDeviceIndex in, out;
	bool pa_jack_stale;    /* PortAudio's JACK client may belong to a JACK server that died */
	long out_buf;          /* samples the playback device buffers (its reported latency) */
	double loop_ms;        /* the device's reported round trip, less a frame */
	unsigned far_delay_ms; /* the echo delay the canceller starts from */
	/*
	 * A device that fails mid-session (unplugged): the session stays, the
	 * loop is paced by our own clock, and the audio is reopened, on the
	 * defaults if the device asked for is gone, with backoff.
	 */
	bool lost;
	unsigned retry_ms;
	int64_t retry_at, deadline;
	/* the echo canceller and the queues in front of it */
	struct es_dsp *dsp;
	bool q_known;
	long q_applied, q_cand;
	unsigned q_cand_ticks;
	int echo_delay;
	/* this tick's audio */
	int16_t mic[ES_FRAME], spk[2 * ES_FRAME], far[ES_FRAME];
	int64_t t_read;
	/* latency probes (-v): the first loud sample each way */
	bool heard_mic, heard_out;
	struct es_ctl_server *ctl_server;
};

/*
 * ALSA and JACK write their probing (a hundred lines without a sound card)
 * straight to stderr.  Unless -v, fd 2 goes to /dev/null while PortAudio
 * starts, opens or stops, and comes back for our own one clear line.
 */
static int quiet_begin(bool verbose)
{
	if (verbose)
		return -1;
	fflush(stderr);
	int saved = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (saved < 0 || null < 0 || dup2(null, STDERR_FILENO) < 0) {
		if (saved >= 0)
			close(saved);
		saved = -1;
	}
	if (null >= 0)
		close(null);
	return saved;
}

static void quiet_end(int saved)
{
	if (saved < 0)
		return;
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
}

static PaError pa_init_quiet(bool verbose)
{
	int q = quiet_begin(verbose);
	PaError e = Pa_Initialize();
	quiet_end(q);
	return e;
}

static void pa_term_quiet(bool verbose)
{
	int q = quiet_begin(verbose);
	Pa_Terminate();
	quiet_end(q);
}

static PaDeviceIndex find_device(const char *name, bool input)
{
	if (!name)
		return input ? Pa_GetDefaultInputDevice() : Pa_GetDefaultOutputDevice();
	char *end;
	long idx = strtol(name, &end, 10);
	if (*end == 0 && idx >= 0 && idx < Pa_GetDeviceCount())
		return (PaDeviceIndex)idx;
	for (PaDeviceIndex i = 0; i < Pa_GetDeviceCount(); i++) {
		const PaDeviceInfo *d = Pa_GetDeviceInfo(i);
		if (d && strstr(d->name, name) && (input ? d->maxInputChannels : d->maxOutputChannels) > 0)
			return i;
	}
	return paNoDevice;
}

int es_app_list_devices(bool verbose)
{
	if (pa_init_quiet(verbose) != paNoError) {
		fprintf(stderr, "earshot: cannot start audio\n");
		return 1;
	}
	int n = Pa_GetDeviceCount();
	if (n <= 0)
		printf("no audio devices\n");
	for (int i = 0; i < n; i++) {
		const PaDeviceInfo *d = Pa_GetDeviceInfo(i);
		printf("%2d  %-40s in %d out %d%s%s\n", i, d->name, d->maxInputChannels, d->maxOutputChannels,
		       i == Pa_GetDefaultInputDevice() ? "  [default input]" : "",
		       i == Pa_GetDefaultOutputDevice() ? "  [default output]" : "");
	}
	pa_term_quiet(verbose);
	return 0;
}

/* ---- what the keys do ------------------------------------------------------ */

static float my_x(const struct es_session *s)
{
	return (float)es_session_pos(s)->x_cm / 100.0f;
}

static float my_y(const struct es_session *s)
{
	return (float)es_session_pos(s)->y_cm / 100.0f;
}

static void go_to(struct app *a, float x, float y, float facing)
{
	const struct es_floor *f = es_session_floor(a->s);
	if (f && !es_floor_walkable(f, x, y)) {
		snprintf(a->msg, sizeof(a->msg), "something is in the way");
		return;
	}
	float deg = facing * 180.0f / (float)M_PI;
	deg = fmodf(fmodf(deg, 360.0f) + 360.0f, 360.0f);
	struct es_pos p = {(int32_t)lrintf(x * 100.0f), (int32_t)lrintf(y * 100.0f), (uint16_t)((int)lrintf(deg * 10.0f) % 3600)};
	es_session_move(a->s, &p);
}

static float my_facing(const struct es_session *s)
{
	return (float)es_session_pos(s)->facing * (float)M_PI / 1800.0f;
}

/* A free spot beside (x, y): the first walkable of a few around it. */
static bool spot_near(const struct es_floor *f, float x, float y, float r, float *ox, float *oy)
{
	for (int k = 0; k < 16; k++) {
		float ang = (float)k * (float)M_PI / 8.0f;
		float px = x + r * sinf(ang), py = y + r * cosf(ang);
		if (!f || es_floor_walkable(f, px, py)) {
			*ox = px, *oy = py;
			return true;
		}
	}
	return false;
}

static void enter_or_leave(struct app *a)
{
	const struct es_floor *f = es_session_floor(a->s);
	float x = my_x(a->s), y = my_y(a->s), dx, dy;
	unsigned room;
	if (!f || es_floor_door_near(f, x, y, &dx, &dy, &room) < 0) {
		snprintf(a->msg, sizeof(a->msg), "no door within reach");
		return;
	}
	bool inside = es_floor_room_at(f, x, y) == (int)room;
	/* step through: to the first walkable spot beyond the door on the other side */
	for (float r = 1.0f; r <= 2.5f; r += 0.5f)
		for (int k = 0; k < 8; k++) {
			float ang = (float)k * (float)M_PI / 4.0f;
			float px = dx + r * sinf(ang), py = dy + r * cosf(ang);
			bool in = es_floor_room_at(f, px, py) == (int)room;
			if (es_floor_walkable(f, px, py) && in != inside) {
				/* say what the server did, not what we hope: confirmed by presence, or refused */
				char done[96];
				snprintf(done, sizeof(done), "%s %s", inside ? "left" : "entered", es_floor_room_name(f, room));
				float deg = fmodf(fmodf(ang * 180.0f / (float)M_PI, 360.0f) + 360.0f, 360.0f);
				struct es_pos p = {(int32_t)lrintf(px * 100.0f), (int32_t)lrintf(py * 100.0f),
						   (uint16_t)((int)lrintf(deg * 10.0f) % 3600)};
				es_session_move_say(a->s, &p, done);
				snprintf(a->msg, sizeof(a->msg), "%s %s...", inside ? "leaving" : "walking into",
					 es_floor_room_name(f, room));
				return;
			}
		}
}

static int person_index(uint32_t tui_id)
{
	return tui_id ? (int)tui_id - 1 : -1;
}

static void on_action(struct app *a, const struct es_tui_action *act)
{
	const struct es_floor *f = es_session_floor(a->s);
	float x = my_x(a->s), y = my_y(a->s), face = my_facing(a->s);
	unsigned n;
	const struct es_person_view *roster = es_session_roster(a->s, &n);
	int who = person_index(act->person_id);
	bool present = who >= 0 && (unsigned)who < n && roster[who].present;
	float dx, dy;
	unsigned room;
	switch (act->type) {
	case ES_TUI_WALK_N: go_to(a, x, y + STEP_M, 0.0f); break;
	case ES_TUI_WALK_S: go_to(a, x, y - STEP_M, (float)M_PI); break;
	case ES_TUI_WALK_E: go_to(a, x + STEP_M, y, (float)M_PI_2); break;
	case ES_TUI_WALK_W: go_to(a, x - STEP_M, y, -(float)M_PI_2); break;
	case ES_TUI_TURN_LEFT: go_to(a, x, y, face - (float)M_PI_4); break;
	case ES_TUI_TURN_RIGHT: go_to(a, x, y, face + (float)M_PI_4); break;
	case ES_TUI_GOTO:
		if (present) {
			float px = (float)roster[who].pos.x_cm / 100.0f, py = (float)roster[who].pos.y_cm / 100.0f, ox, oy;
			if (spot_near(f, px, py, 1.0f, &ox, &oy)) {
				go_to(a, ox, oy, atan2f(px - ox, py - oy));
				snprintf(a->msg, sizeof(a->msg), "went to %s", roster[who].name);
			}
		}
		break;
	case ES_TUI_ENTER_LEAVE: enter_or_leave(a); break;
	case ES_TUI_DOOR: {
		int d = es_floor_door_near(f, x, y, &dx, &dy, &room);
		if (d < 0) {
			snprintf(a->msg, sizeof(a->msg), "no door within reach");
			break;
		}
		bool open = !es_floor_door_is_open(f, (unsigned)d);
		es_session_door(a->s, (unsigned)d, open);
		snprintf(a->msg, sizeof(a->msg), "asking to %s the door of %s...", open ? "open" : "close",
			 es_floor_room_name(f, room));
		break;
	}
	case ES_TUI_KNOCK:
		if (es_floor_door_near(f, x, y, &dx, &dy, &room) >= 0) {
			es_session_knock(a->s, room);
			snprintf(a->msg, sizeof(a->msg), "knocking on %s...", es_floor_room_name(f, room));
		} else
			snprintf(a->msg, sizeof(a->msg), "no door within reach");
		break;
	case ES_TUI_FOCUS:
		es_session_set_flags(a->s, es_session_flags(a->s) ^ ES_PF_FOCUS);
		break;
	case ES_TUI_WHISPER:
		if (present) {
			bool stop = es_session_whisper_to(a->s) == who;
			es_session_whisper(a->s, stop ? -1 : who);
			snprintf(a->msg, sizeof(a->msg), stop ? "stopped whispering" : "whispering to %s", roster[who].name);
		}
		break;
	case ES_TUI_VOLUME_UP:
	case ES_TUI_VOLUME_DOWN:
		if (present) {
			float v = a->volume_db[who] + (act->type == ES_TUI_VOLUME_UP ? VOLUME_STEP_DB : -VOLUME_STEP_DB);
			v = v > 12.0f ? 12.0f : v < -60.0f ? -60.0f : v;
			a->volume_db[who] = v;
			es_session_volume(a->s, (unsigned)who, v <= -60.0f ? 0.0f : powf(10.0f, v / 20.0f));
		}
		break;
	case ES_TUI_MUTE:
		es_session_set_flags(a->s, es_session_flags(a->s) ^ ES_PF_MUTED);
		break;
	case ES_TUI_PTT_DOWN: a->ctl.ptt_held = true; break;
	case ES_TUI_PTT_UP: a->ctl.ptt_held = false; break;
	case ES_TUI_QUIT: a->quit = true; break;
	default: break;
	}
}

static void draw(struct app *a)
{
	static struct es_tui_person people[ES_ROSTER_MAX];
	static const char *rows[ES_FLOOR_MAX_ROWS];
	static struct es_tui_cell closed[ES_DOORS_MAX];
	unsigned n, np = 0, nc = 0;
	const struct es_person_view *roster = es_session_roster(a->s, &n);
	const struct es_floor *f = es_session_floor(a->s);
	int me = es_session_my_id(a->s);
	for (unsigned i = 0; i < n; i++) {
		if (!roster[i].present)
			continue;
		float x = (float)roster[i].pos.x_cm / 100.0f, y = (float)roster[i].pos.y_cm / 100.0f;
		unsigned fl = 0;
		fl |= roster[i].flags & ES_PF_TALKING ? ES_TUI_IS_TALKING : 0;
		fl |= roster[i].flags & ES_PF_MUTED ? ES_TUI_IS_MUTED : 0;
		fl |= roster[i].flags & ES_PF_FOCUS ? ES_TUI_IS_FOCUS : 0;
		fl |= (int)i == me ? ES_TUI_IS_ME : 0;
		fl |= (int)i == es_session_whisper_to(a->s) || (int)i == es_session_whisper_from(a->s) ? ES_TUI_IS_WHISPER : 0;
		int room = f ? es_floor_room_at(f, x, y) : -1;
		if (roster[i].flags & ES_PF_MEETING ||
		    (room >= 0 && es_floor_room_kind(f, (unsigned)room) == ES_ROOM_MEETING))
			fl |= ES_TUI_IS_MEETING; /* behind a closed door the server says only this */
		people[np++] = (struct es_tui_person){i + 1, roster[i].name, x, y, fl, a->volume_db[i],
						     (float)roster[i].pos.facing * (float)M_PI / 1800.0f};
	}
	static struct es_tui_room rooms[26];
	static const struct es_floor *rooms_of;
	static unsigned nrooms;
	unsigned h = 0;
	if (f && f != rooms_of) {
		/* each room's letter cell, once per plan: where its name is written on the map */
		rooms_of = f;
		nrooms = 0;
		for (unsigned r = 0; r < es_floor_rows(f) && nrooms < 26; r++) {
			const char *row = es_floor_row(f, r);
			for (unsigned c = 0; row && row[c] && nrooms < 26; c++) {
				float cx, cy;
				es_floor_cell_center(f, c, r, &cx, &cy);
				int room = row[c] >= 'A' && row[c] <= 'Z' ? es_floor_room_at(f, cx, cy) : -1;
				if (room >= 0)
					rooms[nrooms++] = (struct es_tui_room){es_floor_room_name(f, (unsigned)room), row[c],
									      (uint16_t)c, (uint16_t)r};
			}
		}
	}
	if (f) {
		h = es_floor_rows(f);
		for (unsigned r = 0; r < h && r < ES_FLOOR_MAX_ROWS; r++)
			rows[r] = es_floor_row(f, r);
		for (unsigned d = 0; d < es_floor_door_count(f) && nc < ES_DOORS_MAX; d++) {
			float x, y;
			unsigned col, row;
			if (!es_floor_door_is_open(f, d) && es_floor_door(f, d, &x, &y, NULL) == 0 &&
			    es_floor_cell_at(f, x, y, &col, &row) == 0)
				closed[nc++] = (struct es_tui_cell){(uint16_t)col, (uint16_t)row};
		}
	}
	uint8_t fl = es_session_flags(a->s);
	struct es_session_stats st;
	es_session_get_stats(a->s, &st);
	static char status[700], where[96];
	/* where we are now (not where we joined), the room, and whether the server answers */
	int room = f ? es_floor_room_at(f, my_x(a->s), my_y(a->s)) : -1;
	where[0] = 0;
	if (es_session_state(a->s) == ES_SESSION_JOINED)
		snprintf(where, sizeof(where), "%s at %.1f,%.1f%s%s%s", es_session_name(a->s), my_x(a->s), my_y(a->s),
			 room >= 0 ? " in " : "", room >= 0 ? es_floor_room_name(f, (unsigned)room) : "",
			 es_session_live(a->s) ? "" : " | NO ANSWER from the server");
	const char *conn = where[0] ? where : es_session_status(a->s);
	if (a->audio_msg[0])
		snprintf(status, sizeof(status), "%s | %s", a->audio_msg, conn);
	else if (st.link_reports)
		snprintf(status, sizeof(status), "%s | loss %.1f%% fec %u%%", conn, st.up_loss_permille / 10.0,
			 st.fec_loss_perc);
	else
		snprintf(status, sizeof(status), "%s", conn);
	bool stage = room >= 0 && es_floor_room_kind(f, (unsigned)room) == ES_ROOM_STAGE;
	static const char stage_notice[] = "You are on stage: the whole floor hears you";
	if (room != a->room) {
		a->room = room;
		a->ctl.room = room >= 0 ? es_floor_room_name(f, (unsigned)room) : NULL;
		if (stage)
			snprintf(a->msg, sizeof(a->msg), "%s", stage_notice);
	}
	struct es_tui_view v = {
		.floor_rows = f ? rows : NULL, .floor_h = h, .cell_m = f ? es_floor_scale(f) : 1.0f,
		.closed_doors = closed, .n_closed_doors = nc, .people = people, .n_people = np,
		.my_level = a->level, .muted = fl & ES_PF_MUTED, .talking = a->voiced,
		.status = status, .help = NULL, .live = es_session_live(a->s),
		.rooms = f ? rooms : NULL, .n_rooms = f ? nrooms : 0, .notice = stage ? stage_notice : NULL,
	};
	const char *ev = es_session_event(a->s);
	if (ev)
		snprintf(a->msg, sizeof(a->msg), "%s", ev);
	if (a->msg[0]) {
		es_tui_message(a->tui, a->msg);
		a->msg[0] = 0;
	}
	if (es_tui_draw(a->tui, &v) < 0)
		a->ui_failed = true;
}

/* Index of the first sample at about -10 dBFS, or -1. */
static int first_loud(const int16_t *pcm, int frames, int channels)
{
	for (int i = 0; i < frames; i++)
		for (int c = 0; c < channels; c++)
			if (abs(pcm[i * channels + c]) > 10000)
				return i;
	return -1;
}

/*
 * Open and start a duplex stream on the devices asked for or, with
 * fallback, on the defaults when those are gone (an unplugged headset).
 * 0, or a PortAudio error with *why set; paNoDevice when there is none.
 */
static PaError open_audio(const struct es_app_opts *o, bool fallback, PaStream **st, PaDeviceIndex *pin,
			  PaDeviceIndex *pout)
{
	PaDeviceIndex in = find_device(o->input_device, true), out = find_device(o->output_device, false);
	if (fallback && in == paNoDevice)
		in = Pa_GetDefaultInputDevice();
	if (fallback && out == paNoDevice)
		out = Pa_GetDefaultOutputDevice();
	*pin = in, *pout = out;
	if (in == paNoDevice || out == paNoDevice)
		return paNoDevice;
	PaStreamParameters ip = {.device = in, .channelCount = 1, .sampleFormat = paInt16,
				 .suggestedLatency = Pa_GetDeviceInfo(in)->defaultLowInputLatency};
	PaStreamParameters op = {.device = out, .channelCount = 2, .sampleFormat = paInt16,
				 .suggestedLatency = Pa_GetDeviceInfo(out)->defaultLowOutputLatency};
	int q = quiet_begin(o->verbose);
	PaError e = Pa_OpenStream(st, &ip, &op, ES_RATE, ES_FRAME, paNoFlag, NULL, NULL);
	if (e != paNoError) {
		*st = NULL;
		quiet_end(q);
		return e;
	}
	if ((e = Pa_StartStream(*st)) != paNoError) {
		Pa_CloseStream(*st);
		*st = NULL;
	}
	quiet_end(q);
	return e;
}

/* Say something about the devices: in the UI, and on stderr unless that is the UI's terminal. */
static void audio_note(struct app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void audio_note(struct app *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->audio_msg, sizeof(a->audio_msg), fmt, ap);
	va_end(ap);
	snprintf(a->msg, sizeof(a->msg), "%s", a->audio_msg);
	if (!a->tui || !isatty(STDERR_FILENO))
		fprintf(stderr, "earshot: %s\n", a->audio_msg);
}

#define AUDIO_RETRY_MIN_MS 500
#define AUDIO_RETRY_MAX_MS 8000

/*
 * Wait until a whole frame can be read (or written) without blocking.  A
 * blocking read on a device that vanished (a headset pulled, the sound
 * server gone) may never return, so we sleep for about the time the
 * missing samples take and look again; no progress for AUDIO_STALL_MS
 * means the device is gone.  paNoError when ready, paTimedOut when
 * stalled, another PortAudio error if PortAudio says so.
 */
#define AUDIO_STALL_MS 500
#define QUEUE_SHIFT_MIN 24   /* samples: smaller moves are left to the canceller */
#define QUEUE_HOLD_TICKS 2   /* a move must hold this long (a period in flight is not one) */
#define QUEUE_SETTLE_TICKS 10 /* the first ticks fill the queues: not a move */

static PaError wait_io(PaStream *st, bool input, struct es_session *s)
{
	int64_t t0 = es_now_ns();
	for (;;) {
		long n = input ? Pa_GetStreamReadAvailable(st) : Pa_GetStreamWriteAvailable(st);
		if (n < 0)
			return (PaError)n;
		if (n >= ES_FRAME)
			return paNoError;
		int64_t now = es_now_ns();
		if (now - t0 > AUDIO_STALL_MS * 1000000LL)
			return paTimedOut;
		/* the missing samples' time, at least 1 ms: one or two wake-ups a frame */
		int64_t wait = (int64_t)(ES_FRAME - n) * 1000000000LL / ES_RATE;
		if (wait < 1000000)
			wait = 1000000;
		/*
		 * Meanwhile take in what the server sends as it arrives: the
		 * playout buffer learns from true arrival times how little it
		 * may hold (one bundle, when they come steadily early enough).
		 */
		struct timespec ts = {(time_t)(wait / 1000000000LL), (long)(wait % 1000000000LL)};
		struct pollfd pf = {.fd = es_session_fd(s), .events = POLLIN};
		if (ppoll(&pf, 1, &ts, NULL) > 0)
			es_session_service(s);
	}
}

/* The stream failed: close it, say so, and retry soon (the loop keeps the session going). */
static void audio_lost(struct app *a, PaError e, const char *dir)
{
	Pa_AbortStream(a->st);
	Pa_CloseStream(a->st);
	a->st = NULL;
	a->lost = true;
	a->deadline = es_now_ns();
	a->retry_at = a->deadline + AUDIO_RETRY_MIN_MS * 1000000LL;
	audio_note(a, "audio %s failed (%s): the device is gone? Still connected; trying again", dir, Pa_GetErrorText(e));
}

/* Open the devices asked for at start.  0, or the exit code after saying why not. */
static int audio_start(struct app *a)
{
	const struct es_app_opts *o = a->o;
	PaError e = open_audio(o, false, &a->st, &a->in, &a->out);
	if (e == paNoDevice) {
		PaDeviceIndex in = a->in, out = a->out;
		if ((o->input_device && in == paNoDevice) || (o->output_device && out == paNoDevice))
			fprintf(stderr, "earshot: no audio device matches '%s' (see earshot --list-devices)\n",
				in == paNoDevice ? (o->input_device ? o->input_device : "default input")
						 : (o->output_device ? o->output_device : "default output"));
		else
			fprintf(stderr, "earshot: no %s audio device found. Connect a headset or microphone, or use "
					"--headless (with --play/--record) to run without one.\n",
				in == paNoDevice ? (out == paNoDevice ? "input or output" : "input") : "output");
		return 2;
	}
	if (e != paNoError) {
		fprintf(stderr, "earshot: cannot open the audio device: %s\n", Pa_GetErrorText(e));
		return 2;
	}
	return 0;
}

/* The voice processing, tuned to the stream's reported latencies.  0, or the exit code. */
static int voice_start(struct app *a)
{
	const PaStreamInfo *si = Pa_GetStreamInfo(a->st);
	a->out_buf = si ? lround(si->outputLatency * ES_RATE) : 0;
	struct es_dsp_opts dopt;
	es_dsp_opts_default(&dopt);
	dopt.aec = a->o->aec;
	a->loop_ms = si ? (si->inputLatency + si->outputLatency) * 1000.0 - 10.0 : 0.0;
	dopt.far_delay_ms = a->loop_ms > 0 ? (unsigned)a->loop_ms : 0;
	if (dopt.far_delay_ms > ES_DSP_MAX_FAR_DELAY_MS)
		dopt.far_delay_ms = ES_DSP_MAX_FAR_DELAY_MS;
	dopt.track_delay = true; /* what the device reports is often not where the echo is */
	a->dsp = es_dsp_new(ES_RATE, ES_FRAME, &dopt);
	if (!a->dsp) {
		fprintf(stderr, "earshot: cannot start the voice processing: %s\n", strerror(errno));
		return 1;
	}
	a->far_delay_ms = dopt.far_delay_ms;
	return 0;
}

/* The control socket ('earshot mute'), then the terminal UI; either may be missing. */
static void controls_start(struct app *a)
{
	a->ctl_server = es_ctl_server_open(a->o->ctl_path);
	if (!a->ctl_server)
		fprintf(stderr, "earshot: no mute control socket (%s): 'earshot mute' will not reach this client\n",
			errno == EADDRINUSE ? "another earshot is running" : strerror(errno));
	if (a->o->verbose) {
		const PaStreamInfo *si = Pa_GetStreamInfo(a->st);
		fprintf(stderr, "earshot: audio started at monotonic %lld ns (%s / %s), latency in %.1f ms out %.1f ms, "
				"echo delay assumed %u ms\n",
			(long long)es_now_ns(), Pa_GetDeviceInfo(a->in)->name, Pa_GetDeviceInfo(a->out)->name,
			si ? si->inputLatency * 1000 : -1.0, si ? si->outputLatency * 1000 : -1.0, a->far_delay_ms);
	}
	if (a->o->ui) {
		es_session_want_floor(a->s);
		a->tui = es_tui_new();
		if (!a->tui)
			fprintf(stderr, "earshot: no terminal UI: %s\n", strerror(errno));
	}
}

/* The device is lost and its retry is due: look for it (or the default) again, with backoff. */
static void audio_reopen(struct app *a)
{
	const struct es_app_opts *o = a->o;
	/*
	 * PortAudio lists devices only when initialised: start it
	 * again to see what is there now.  Not with its JACK host
	 * API up: if the JACK server is what went away, its
	 * Terminate asserts (pa_jack.c) and takes us down; the
	 * devices we know are tried again instead.
	 */
	PaError e = paNoError;
	if (Pa_HostApiTypeIdToHostApiIndex(paJACK) < 0) {
		pa_term_quiet(o->verbose);
		e = pa_init_quiet(o->verbose);
	} else {
		a->pa_jack_stale = true;
	}
	if (e == paNoError)
		e = open_audio(o, true, &a->st, &a->in, &a->out);
	if (e == paNoError) {
		a->lost = false;
		a->audio_msg[0] = 0;
		a->retry_ms = AUDIO_RETRY_MIN_MS;
		es_dsp_reset(a->dsp);
		a->q_known = false;
		memset(a->far, 0, sizeof(a->far));
		a->echo_delay = -1;
		const PaStreamInfo *si = Pa_GetStreamInfo(a->st);
		a->out_buf = si ? lround(si->outputLatency * ES_RATE) : 0;
		audio_note(a, "audio back on %s / %s", Pa_GetDeviceInfo(a->in)->name, Pa_GetDeviceInfo(a->out)->name);
		a->audio_msg[0] = 0;
	} else {
		audio_note(a, "audio device lost: %s; still connected, trying %s again in %.1f s",
			   e == paNoDevice ? "no device" : Pa_GetErrorText(e),
			   o->input_device || o->output_device ? "it (or the default)" : "the default",
			   a->retry_ms / 1000.0);
		a->retry_at = es_now_ns() + (int64_t)a->retry_ms * 1000000LL;
		a->retry_ms = a->retry_ms * 2 > AUDIO_RETRY_MAX_MS ? AUDIO_RETRY_MAX_MS : a->retry_ms * 2;
	}
}

/*
 * The loop delay is what waits in the playback queue plus what
 * waits in the capture queue: capture backlog minus free
 * playback space, up to a constant, whatever the device's
 * period phase (a period moves as much out of one as into the
 * other; both are read at once so that holds).  When it changes
 * and stays changed (an underflow, a late tick), move the
 * canceller's far end by exactly as much: its filter stays
 * right, where re-learning would take seconds.
 */
static void track_queues(struct app *a, uint64_t t)
{
	long ib = Pa_GetStreamReadAvailable(a->st), wa = Pa_GetStreamWriteAvailable(a->st);
	if (ib < 0 || wa < 0 || t < QUEUE_SETTLE_TICKS)
		return;
	long q = ib - wa;
	if (!a->q_known) {
		a->q_known = true;
		a->q_applied = a->q_cand = q;
	} else if (labs(q - a->q_cand) >= QUEUE_SHIFT_MIN) {
		a->q_cand = q, a->q_cand_ticks = 1;
	} else if (++a->q_cand_ticks >= QUEUE_HOLD_TICKS && labs(a->q_cand - a->q_applied) >= QUEUE_SHIFT_MIN) {
		es_dsp_shift_far(a->dsp, (int)(a->q_cand - a->q_applied));
		if (a->o->verbose)
			fprintf(stderr, "earshot: audio queues moved the echo by %+.1f ms at tick %llu\n",
				(a->q_cand - a->q_applied) * 1000.0 / ES_RATE, (unsigned long long)t);
		a->q_applied = a->q_cand;
	}
}

/*
 * This tick's capture into a->mic: from the device, which paces the loop,
 * or silence on our own absolute 20 ms deadline while it is lost.  False
 * if the device failed just now (the tick is over).
 */
static bool capture(struct app *a, uint64_t t)
{
	if (a->lost) {
		/* no sound card to pace us */
		a->deadline += 20000000LL;
		struct timespec ts = {(time_t)(a->deadline / 1000000000LL), (long)(a->deadline % 1000000000LL)};
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !*a->o->stop)
			;
		a->t_read = es_now_ns();
		memset(a->mic, 0, sizeof(a->mic));
		return true;
	}
	PaError e = wait_io(a->st, true, a->s);
	if (e == paNoError || e == paInputOverflowed)
		e = Pa_ReadStream(a->st, a->mic, ES_FRAME);
	a->t_read = es_now_ns();
	if (e != paNoError && e != paInputOverflowed) {
		audio_lost(a, e, "input");
		return false;
	}
	if (e == paInputOverflowed && a->o->verbose)
		fprintf(stderr, "earshot: capture overflowed at tick %llu\n", (unsigned long long)t);
	track_queues(a, t);
	return true;
}

/* -v: when the first loud sound was captured, for end-to-end latency measurements. */
static void probe_capture(struct app *a)
{
	if (!a->o->verbose || a->heard_mic || first_loud(a->mic, ES_FRAME, 1) < 0)
		return;
	a->heard_mic = true;
	fprintf(stderr, "earshot: first loud capture at monotonic %lld ns\n",
		(long long)(a->t_read - (ES_FRAME - first_loud(a->mic, ES_FRAME, 1)) * 1000000000LL / ES_RATE));
}

/* -v: when the first loud sound will leave the speaker (what waits in the device's queue first). */
static void probe_playback(struct app *a)
{
	if (!a->o->verbose || a->heard_out)
		return;
	int i = first_loud(a->spk, ES_FRAME, 2);
	long avail = Pa_GetStreamWriteAvailable(a->st);
	if (i >= 0 && avail >= 0) {
		a->heard_out = true;
		long queued = a->out_buf > avail ? a->out_buf - avail : 0;
		fprintf(stderr, "earshot: first loud playback at monotonic %lld ns\n",
			(long long)(es_now_ns() + (queued + i) * 1000000000LL / ES_RATE));
	}
}

/*
 * The session's side of a tick: what to play (a->spk), and the capture
 * through the canceller, the voice detector (or push-to-talk) and its
 * pre-roll to the server.
 */
static void voice_tick(struct app *a, uint64_t t)
{
	const struct es_app_opts *o = a->o;
	bool have_audio = !a->lost;
	/*
	 * This tick's playback first: it goes into the canceller's
	 * reference too.  It cannot be in this capture yet, but it gives
	 * the reference a frame of headroom: when the loop delay shrinks
	 * (a device queue drains), the reference can move with it.
	 */
	es_session_pull(a->s, a->spk);
	for (unsigned i = 0; i < ES_FRAME; i++)
		a->far[i] = (int16_t)((a->spk[2 * i] + a->spk[2 * i + 1]) / 2);
	/* keep processing while muted, so the echo canceller stays adapted */
	bool voiced = false;
	int npre = 0;
	if (have_audio) {
		npre = es_dsp_process(a->dsp, a->mic, a->far, &voiced);
		if (es_dsp_echo_delay(a->dsp) != a->echo_delay) {
			a->echo_delay = es_dsp_echo_delay(a->dsp);
			if (o->verbose)
				fprintf(stderr, "earshot: echo measured %.1f ms after playback (device reports %.1f ms) at tick %llu; "
						"far end delayed %.1f ms\n", a->echo_delay * 1000.0 / ES_RATE, a->loop_ms + 10.0,
					(unsigned long long)t, es_dsp_far_delay(a->dsp) * 1000.0 / ES_RATE);
		}
		if (o->ptt)
			voiced = a->ctl.ptt_held, npre = 0;
	}
	a->voiced = voiced && !(es_session_flags(a->s) & ES_PF_MUTED);
	a->level = have_audio ? es_dsp_level(a->dsp) : 0.0f;
	const int16_t *pre[8];
	bool quiet[8];
	unsigned np = npre > 0 ? (unsigned)(npre > 8 ? 8 : npre) : 0;
	for (unsigned i = 0; i < np; i++)
		pre[i] = es_dsp_preroll(a->dsp, i), quiet[i] = es_dsp_preroll_quiet(a->dsp, i);
	es_session_step_preroll(a->s, a->mic, voiced, pre, quiet, np, NULL);
}

/* This tick's playback to the device.  False if the device failed just now. */
static bool playback(struct app *a, uint64_t t)
{
	PaError e = wait_io(a->st, false, a->s);
	if (e == paNoError || e == paOutputUnderflowed)
		e = Pa_WriteStream(a->st, a->spk, ES_FRAME);
	if (e != paNoError && e != paOutputUnderflowed) {
		audio_lost(a, e, "output");
		return false;
	}
	if (e == paOutputUnderflowed && a->o->verbose)
		fprintf(stderr, "earshot: playback underflowed at tick %llu\n", (unsigned long long)t);
	return true;
}

/* Between frames: the control socket and the keyboard, without blocking; the UI redrawn. */
static void controls_tick(struct app *a, uint64_t t)
{
	struct pollfd pf[2] = {{.fd = a->ctl_server ? es_ctl_server_fd(a->ctl_server) : -1, .events = POLLIN},
			       {.fd = a->tui ? es_tui_fd(a->tui) : -1, .events = POLLIN}};
	if (poll(pf, 2, 0) > 0) {
		if (pf[0].revents && es_ctl_server_handle(a->ctl_server, es_control_handle, &a->ctl) < 0 && a->o->verbose)
			fprintf(stderr, "earshot: control socket: %s\n", strerror(errno));
		struct es_tui_action act;
		while (a->tui && es_tui_poll_key(a->tui, &act) > 0)
			on_action(a, &act);
	} else if (a->tui) {
		struct es_tui_action act; /* push-to-talk release is a timeout inside the UI */
		while (es_tui_poll_key(a->tui, &act) > 0)
			on_action(a, &act);
	}
	if (a->tui && t % REDRAW_EVERY == 0)
		draw(a);
}

/*
 * One tick a frame, paced by the sound card (or our own clock while it is
 * lost): capture, the session's voice step, playback, then the controls.
 * A device that fails drops the rest of that tick and is reopened later;
 * the session goes on throughout.
 */
int es_app_run(struct es_session *s, const struct es_app_opts *o)
{
	struct app a = {.s = s, .o = o, .ctl = {.s = s}, .room = -1, .echo_delay = -1, .retry_ms = AUDIO_RETRY_MIN_MS};
	PaError e = pa_init_quiet(o->verbose);
	if (e != paNoError) {
		fprintf(stderr, "earshot: cannot start audio: %s\n", Pa_GetErrorText(e));
		return 2;
	}
	int rc = audio_start(&a);
	if (rc)
		goto out_term;
	rc = voice_start(&a);
	if (rc)
		goto out_close;
	controls_start(&a);
	uint64_t ticks = o->seconds > 0 ? (uint64_t)llround(o->seconds * 50.0) : 0;
	for (uint64_t t = 0; !*o->stop && !a.quit && (!ticks || t < ticks); t++) {
		if (es_session_state(s) == ES_SESSION_FAILED) {
			rc = 3;
			break;
		}
		if (a.lost && es_now_ns() >= a.retry_at)
			audio_reopen(&a);
		bool have_audio = !a.lost;
		if (!capture(&a, t))
			continue;
		probe_capture(&a);
		voice_tick(&a, t);
		if (have_audio)
			probe_playback(&a);
		if (have_audio && !playback(&a, t))
			continue;
		controls_tick(&a, t);
	}
	es_tui_free(a.tui);
	es_ctl_server_free(a.ctl_server);
	es_dsp_free(a.dsp);
out_close:
	if (a.st) {
		Pa_StopStream(a.st);
		Pa_CloseStream(a.st);
	}
out_term:
	/*
	 * PortAudio's JACK host API crashes in Pa_Terminate (jack_deactivate
	 * on a dead server) when the JACK server it joined went away: skip it
	 * then; we are about to exit and the system cleans up.
	 */
	if (!a.pa_jack_stale)
		pa_term_quiet(o->verbose);
	return rc;
}
