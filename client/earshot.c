/* SPDX-License-Identifier: MIT */
/*
 * earshot: the Earshot client.  With --play/--record/--headless it runs
 * without a sound card on its own 20 ms clock (tests and bots); otherwise
 * it captures and plays through PortAudio, paced by the sound card.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <enet/enet.h>
#include <portaudio.h>

#include "earshot-mixer.h"
#include "session.h"
#include "wav.h"

#define TICK_NS 20000000LL

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct opts {
	const char *server, *name, *play, *record;
	double seconds; /* <= 0: until the play file ends, or forever */
	bool headless, muted, verbose;
	struct es_pos pos;
	unsigned jitter;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: earshot [OPTIONS]\n"
		"Join an Earshot office and talk to the colleagues within earshot.\n\n"
		"  -s, --server HOST[:PORT]  daemon address (default 127.0.0.1:7700)\n"
		"  -n, --name NAME           your name (default $USER)\n"
		"  -a, --at X,Y              where you sit on the floor, in metres\n"
		"  -f, --facing DEGREES      which way you face (0 = north, 90 = east)\n"
		"  -m, --muted               start muted\n"
		"      --play FILE.wav       headless: speak this WAV (16-bit PCM), then silence\n"
		"      --record FILE.wav     headless: write what you hear (48 kHz stereo)\n"
		"      --seconds S           headless: run for S seconds\n"
		"      --headless            no sound card, no terminal UI\n"
		"      --jitter TICKS        playout buffer depth in 20 ms ticks (default 2)\n"
		"  -v, --verbose             say what the connection is doing\n"
		"  -h, --help                show this help\n"
		"  -V, --version             show the version\n");
}

static int parse_at(const char *s, struct es_pos *pos)
{
	char *end;
	double x = strtod(s, &end);
	if (end == s || *end != ',')
		return -EINVAL;
	const char *ys = end + 1;
	double y = strtod(ys, &end);
	if (end == ys || *end || !isfinite(x) || !isfinite(y) || fabs(x) > 1e6 || fabs(y) > 1e6)
		return -EINVAL;
	pos->x_cm = (int32_t)lround(x * 100.0);
	pos->y_cm = (int32_t)lround(y * 100.0);
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum { OPT_PLAY = 1000, OPT_RECORD, OPT_SECONDS, OPT_HEADLESS, OPT_JITTER };
	static const struct option lo[] = {
		{"server", required_argument, NULL, 's'}, {"name", required_argument, NULL, 'n'},
		{"at", required_argument, NULL, 'a'},     {"facing", required_argument, NULL, 'f'},
		{"muted", no_argument, NULL, 'm'},        {"play", required_argument, NULL, OPT_PLAY},
		{"record", required_argument, NULL, OPT_RECORD}, {"seconds", required_argument, NULL, OPT_SECONDS},
		{"headless", no_argument, NULL, OPT_HEADLESS},   {"jitter", required_argument, NULL, OPT_JITTER},
		{"verbose", no_argument, NULL, 'v'},      {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},      {0},
	};
	o->server = "127.0.0.1:7700";
	o->name = getenv("USER") ? getenv("USER") : "me";
	o->jitter = 2;
	int c;
	char *end;
	while ((c = getopt_long(argc, argv, "s:n:a:f:mvhV", lo, NULL)) != -1) {
		switch (c) {
		case 's': o->server = optarg; break;
		case 'n': o->name = optarg; break;
		case 'a':
			if (parse_at(optarg, &o->pos) < 0) {
				fprintf(stderr, "earshot: --at: expected X,Y in metres (e.g. 3.0,4.5), got '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case 'f': {
			double d = strtod(optarg, &end);
			if (end == optarg || *end || !isfinite(d)) {
				fprintf(stderr, "earshot: --facing: expected degrees, got '%s'\n", optarg);
				return -EINVAL;
			}
			d = fmod(fmod(d, 360.0) + 360.0, 360.0);
			o->pos.facing = (uint16_t)((int)lround(d * 10.0) % 3600);
			break;
		}
		case 'm': o->muted = true; break;
		case OPT_PLAY: o->play = optarg; o->headless = true; break;
		case OPT_RECORD: o->record = optarg; o->headless = true; break;
		case OPT_SECONDS:
			o->seconds = strtod(optarg, &end);
			if (end == optarg || *end || !(o->seconds > 0 && o->seconds <= 86400 * 7)) {
				fprintf(stderr, "earshot: --seconds: expected a positive number, got '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case OPT_HEADLESS: o->headless = true; break;
		case OPT_JITTER: {
			long j = strtol(optarg, &end, 10);
			if (*end || j < 1 || j > 12) {
				fprintf(stderr, "earshot: --jitter: expected 1..12 ticks, got '%s'\n", optarg);
				return -EINVAL;
			}
			o->jitter = (unsigned)j;
			break;
		}
		case 'v': o->verbose = true; break;
		case 'h': usage(stdout); return 1;
		case 'V': printf("earshot %s\n", EARSHOT_VERSION); return 1;
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "earshot: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * Headless: our own absolute 20 ms deadline.  The play file starts when we
 * are admitted; the recording covers exactly --seconds of wall time from
 * start, one frame per tick, so its length is exact.
 */
static int run_headless(struct es_session *s, const struct opts *o)
{
	int16_t *play = NULL;
	size_t play_frames = 0, play_pos = 0;
	char err[256];
	if (o->play) {
		int r = es_wav_load_mono48(o->play, &play, &play_frames, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "earshot: --play: %s\n", err);
			return 2;
		}
	}
	struct es_wav_writer w = {0};
	if (o->record) {
		int r = es_wav_writer_open(&w, o->record);
		if (r < 0) {
			fprintf(stderr, "earshot: --record: %s: %s\n", o->record, strerror(-r));
			free(play);
			return 2;
		}
	}
	uint64_t ticks_total = o->seconds > 0 ? (uint64_t)llround(o->seconds * 50.0) : 0;
	int16_t mic[ES_FRAME], out[2 * ES_FRAME];
	int64_t deadline = now_ns() + TICK_NS;
	struct pollfd pfd = {.fd = es_session_fd(s), .events = POLLIN};
	int rc = 0;
	uint64_t tick = 0, play_done_tick = 0;
	if (o->verbose && w.f)
		fprintf(stderr, "earshot: recording starts at monotonic %lld ns\n", (long long)deadline - TICK_NS);
	while (!stop) {
		int64_t now = now_ns();
		if (now < deadline) {
			int64_t wait = deadline - now;
			struct timespec ts = {.tv_sec = wait / 1000000000LL, .tv_nsec = wait % 1000000000LL};
			if (ppoll(&pfd, 1, &ts, NULL) > 0)
				es_session_service(s);
			continue;
		}
		deadline += TICK_NS;
		bool joined = es_session_state(s) == ES_SESSION_JOINED;
		bool voiced = false;
		if (joined && play && play_pos < play_frames) {
			if (play_pos == 0 && o->verbose)
				fprintf(stderr, "earshot: playing starts at monotonic %lld ns\n", (long long)now);
			size_t n = play_frames - play_pos < ES_FRAME ? play_frames - play_pos : ES_FRAME;
			memcpy(mic, play + play_pos, n * sizeof(*mic));
			memset(mic + n, 0, (ES_FRAME - n) * sizeof(*mic));
			play_pos += n;
			voiced = true;
			if (play_pos >= play_frames)
				play_done_tick = tick;
		}
		es_session_step(s, voiced ? mic : NULL, voiced, out);
		if (w.f && es_wav_writer_write(&w, out, ES_FRAME) < 0) {
			fprintf(stderr, "earshot: --record: write failed\n");
			rc = 1;
			break;
		}
		tick++;
		if (ticks_total && tick >= ticks_total)
			break;
		/* without --seconds, a play-only run ends half a second after the file */
		if (!ticks_total && play && play_pos >= play_frames && tick > play_done_tick + 25)
			break;
	}
	if (w.f && es_wav_writer_close(&w) < 0) {
		fprintf(stderr, "earshot: --record: cannot finish %s\n", o->record);
		rc = 1;
	}
	free(play);
	return rc;
}

/* Index of the first frame whose sample reaches about -10 dBFS, or -1. */
static int first_loud(const int16_t *pcm, int frames, int channels)
{
	for (int i = 0; i < frames; i++)
		for (int c = 0; c < channels; c++)
			if (abs(pcm[i * channels + c]) > 10000)
				return i;
	return -1;
}

/* With a sound card: blocking PortAudio I/O paces the loop. */
static int run_device(struct es_session *s, const struct opts *o)
{
	PaError e = Pa_Initialize();
	if (e != paNoError) {
		fprintf(stderr, "earshot: cannot start audio: %s\n", Pa_GetErrorText(e));
		return 2;
	}
	int rc = 0;
	PaDeviceIndex in = Pa_GetDefaultInputDevice(), outd = Pa_GetDefaultOutputDevice();
	if (in == paNoDevice || outd == paNoDevice) {
		fprintf(stderr, "earshot: no %s audio device found. Connect a headset or microphone, or use --headless "
				"(with --play/--record) to run without one.\n",
			in == paNoDevice ? (outd == paNoDevice ? "input or output" : "input") : "output");
		rc = 2;
		goto out_term;
	}
	PaStreamParameters ip = {.device = in, .channelCount = 1, .sampleFormat = paInt16,
				 .suggestedLatency = Pa_GetDeviceInfo(in)->defaultLowInputLatency};
	PaStreamParameters op = {.device = outd, .channelCount = 2, .sampleFormat = paInt16,
				 .suggestedLatency = Pa_GetDeviceInfo(outd)->defaultLowOutputLatency};
	PaStream *st;
	e = Pa_OpenStream(&st, &ip, &op, ES_RATE, ES_FRAME, paNoFlag, NULL, NULL);
	if (e != paNoError) {
		fprintf(stderr, "earshot: cannot open the audio device: %s\n", Pa_GetErrorText(e));
		rc = 2;
		goto out_term;
	}
	if ((e = Pa_StartStream(st)) != paNoError) {
		fprintf(stderr, "earshot: cannot start the audio device: %s\n", Pa_GetErrorText(e));
		rc = 2;
		goto out_close;
	}
	if (o->verbose)
		fprintf(stderr, "earshot: audio started at monotonic %lld ns (%s / %s)\n", (long long)now_ns(),
			Pa_GetDeviceInfo(in)->name, Pa_GetDeviceInfo(outd)->name);
	int16_t mic[ES_FRAME], out[2 * ES_FRAME];
	uint64_t ticks = o->seconds > 0 ? (uint64_t)llround(o->seconds * 50.0) : 0;
	/*
	 * With -v, note when the first loud sound is captured and when the
	 * first loud sound will leave the speakers, on CLOCK_MONOTONIC: two
	 * clients' notes give mouth-to-ear latency (tests use a click).
	 */
	const PaStreamInfo *si = Pa_GetStreamInfo(st);
	long out_buf = si ? lround(si->outputLatency * ES_RATE) : 0;
	bool heard_mic = false, heard_out = false;
	for (uint64_t t = 0; !stop && (!ticks || t < ticks); t++) {
		e = Pa_ReadStream(st, mic, ES_FRAME);
		int64_t t_read = now_ns();
		if (e != paNoError && e != paInputOverflowed) {
			fprintf(stderr, "earshot: audio input failed: %s\n", Pa_GetErrorText(e));
			rc = 1;
			break;
		}
		if (o->verbose && !heard_mic) {
			int i = first_loud(mic, ES_FRAME, 1);
			if (i >= 0) {
				heard_mic = true;
				fprintf(stderr, "earshot: first loud capture at monotonic %lld ns\n",
					(long long)(t_read - (ES_FRAME - i) * 1000000000LL / ES_RATE));
			}
		}
		es_session_step(s, mic, true, out);
		if (o->verbose && !heard_out) {
			int i = first_loud(out, ES_FRAME, 2);
			long avail = Pa_GetStreamWriteAvailable(st);
			if (i >= 0 && avail >= 0) {
				heard_out = true;
				long queued = out_buf > avail ? out_buf - avail : 0;
				fprintf(stderr, "earshot: first loud playback at monotonic %lld ns\n",
					(long long)(now_ns() + (queued + i) * 1000000000LL / ES_RATE));
			}
		}
		e = Pa_WriteStream(st, out, ES_FRAME);
		if (e != paNoError && e != paOutputUnderflowed) {
			fprintf(stderr, "earshot: audio output failed: %s\n", Pa_GetErrorText(e));
			rc = 1;
			break;
		}
	}
	Pa_StopStream(st);
out_close:
	Pa_CloseStream(st);
out_term:
	Pa_Terminate();
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	int r = parse_opts(argc, argv, &o);
	if (r != 0)
		return r > 0 ? 0 : 2;
	if (enet_initialize() != 0) {
		fprintf(stderr, "earshot: cannot initialise ENet\n");
		return 1;
	}
	srand((unsigned)now_ns());
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct es_session_config cfg = {
		.server = o.server, .name = o.name, .pos = o.pos,
		.flags = o.muted ? ES_PF_MUTED : 0, .jitter = o.jitter, .bitrate = 24000, .verbose = o.verbose,
	};
	struct es_session *s = es_session_new(&cfg);
	if (!s) {
		enet_deinitialize();
		return 2;
	}
	int rc = o.headless ? run_headless(s, &o) : run_device(s, &o);
	if (o.verbose) {
		struct es_session_stats k;
		es_session_get_stats(s, &k);
		fprintf(stderr, "earshot: sent %llu frames (%llu B), received %llu packets (%llu B), bundles %llu played %llu "
				"lost %llu concealed %llu, joins %llu\n",
			(unsigned long long)k.frames_sent, (unsigned long long)k.bytes_sent, (unsigned long long)k.packets_received,
			(unsigned long long)k.bytes_received, (unsigned long long)k.bundles, (unsigned long long)k.played,
			(unsigned long long)k.lost, (unsigned long long)k.concealed, (unsigned long long)k.joins);
	}
	es_session_free(s);
	enet_deinitialize();
	return rc;
}
