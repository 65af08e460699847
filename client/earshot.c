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
#include <unistd.h>

#include <enet/enet.h>
#include <portaudio.h>

#include <sodium.h>

#include "clock.h"
#include "earshot-crypto.h"
#include "earshot-mixer.h"
#include "app.h"
#include "control.h"
#include "ctl.h"
#include "identity.h"
#include "servers.h"
#include "session.h"
#include "audio-file.h"

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
	bool headless, muted, verbose, no_ui, no_aec, ptt, list_devices, thin, roster;
	int aec_set, ptt_set, thin_set; /* from the command line: -1 not said, 0 off, 1 on */
	const char *input_device, *output_device;
	bool place; /* --at given: sit exactly there */
	struct es_pos pos;
	unsigned jitter;
	int downlink; /* kbit/s, 0: not said */
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: earshot [OPTIONS]\n"
		"       earshot join INVITE-CODE [--name NAME]\n"
		"       earshot mute | unmute | toggle-mute | status   (talk to the running client)\n"
		"       earshot forget-server HOST:PORT\n"
		"Join an Earshot office and talk to the colleagues within earshot.\n\n"
		"  -s, --server HOST[:PORT]  daemon address (default 127.0.0.1:7700); a company's daemons:\n"
		"                            HOST:PORT,HOST:PORT,... (at most 8; the key is pinned under the first)\n"
		"  -n, --name NAME           your name (default $USER)\n"
		"  -a, --at X,Y              where you sit on the floor, in metres\n"
		"  -f, --facing DEGREES      which way you face (0 = north, 90 = east)\n"
		"  -m, --muted               start muted\n"
		"      --play FILE           headless: speak this sound file (WAV, FLAC, Ogg...), then silence\n"
		"      --record FILE         headless: write what you hear (48 kHz stereo; .flac, .ogg, else WAV)\n"
		"      --seconds S           headless: run for S seconds\n"
		"      --headless            no sound card, no terminal UI (exit 4 if it never joined)\n"
		"      --jitter TICKS        smallest playout buffer, 20 ms ticks (default 1; it grows with jitter)\n"
		"      --input-device NAME   capture from this device (number or part of its name)\n"
		"      --output-device NAME  play to this device\n"
		"      --list-devices        list the audio devices and exit\n"
		"      --no-ui               no terminal UI (just the audio)\n"
		"      --no-aec, --aec       no echo cancellation (headphones) / with it (the default)\n"
		"      --ptt, --no-ptt       push-to-talk: send only while the space key is held / not\n"
		"      --thin, --no-thin     a thin link: ask for one server-rendered stream (<= 40 kbit/s) / not\n"
		"      --downlink KBPS       what this link can receive, kbit/s (64..1000, default 200): the server\n"
		"                            forwards as many voices as fit and mixes the rest\n"
		"      --roster              headless: receive who is where too (the UI always does)\n"
		"  -v, --verbose             say what the connection is doing\n"
		"  -h, --help                show this help\n"
		"  -V, --version             show the version\n"
		"Defaults come from $XDG_CONFIG_HOME/earshot/earshot.conf (else ~/.config/earshot/);\n"
		"options override them.  See earshot(1).\n");
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
	enum { OPT_PLAY = 1000, OPT_RECORD, OPT_SECONDS, OPT_HEADLESS, OPT_JITTER, OPT_IN, OPT_OUT, OPT_LIST, OPT_NOUI,
	       OPT_NOAEC, OPT_PTT, OPT_THIN, OPT_ROSTER, OPT_AEC, OPT_NOPTT, OPT_NOTHIN, OPT_DOWNLINK };
	static const struct option lo[] = {
		{"server", required_argument, NULL, 's'}, {"name", required_argument, NULL, 'n'},
		{"at", required_argument, NULL, 'a'},     {"facing", required_argument, NULL, 'f'},
		{"muted", no_argument, NULL, 'm'},        {"play", required_argument, NULL, OPT_PLAY},
		{"record", required_argument, NULL, OPT_RECORD}, {"seconds", required_argument, NULL, OPT_SECONDS},
		{"headless", no_argument, NULL, OPT_HEADLESS},   {"jitter", required_argument, NULL, OPT_JITTER},
		{"input-device", required_argument, NULL, OPT_IN}, {"output-device", required_argument, NULL, OPT_OUT},
		{"list-devices", no_argument, NULL, OPT_LIST},   {"no-ui", no_argument, NULL, OPT_NOUI},
		{"no-aec", no_argument, NULL, OPT_NOAEC},        {"ptt", no_argument, NULL, OPT_PTT},
		{"thin", no_argument, NULL, OPT_THIN},          {"roster", no_argument, NULL, OPT_ROSTER},
		{"aec", no_argument, NULL, OPT_AEC},            {"no-ptt", no_argument, NULL, OPT_NOPTT},
		{"no-thin", no_argument, NULL, OPT_NOTHIN},     {"downlink", required_argument, NULL, OPT_DOWNLINK},
		{"verbose", no_argument, NULL, 'v'},      {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},      {0},
	};
	o->server = "127.0.0.1:7700";
	o->name = getenv("USER") ? getenv("USER") : "me";
	o->jitter = 1;
	o->aec_set = o->ptt_set = o->thin_set = -1;
	int c;
	char *end;
	while ((c = getopt_long(argc, argv, "s:n:a:f:mvhV", lo, NULL)) != -1) {
		switch (c) {
		case 's': o->server = optarg; break;
		case 'n': o->name = optarg; break;
		case 'a':
			o->place = true;
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
		case OPT_IN: o->input_device = optarg; break;
		case OPT_OUT: o->output_device = optarg; break;
		case OPT_LIST: o->list_devices = true; break;
		case OPT_NOUI: o->no_ui = true; break;
		case OPT_NOAEC: o->aec_set = 0; break;
		case OPT_AEC: o->aec_set = 1; break;
		case OPT_PTT: o->ptt_set = 1; break;
		case OPT_NOPTT: o->ptt_set = 0; break;
		case OPT_THIN: o->thin_set = 1; break;
		case OPT_NOTHIN: o->thin_set = 0; break;
		case OPT_DOWNLINK:
			o->downlink = es_downlink_parse(optarg);
			if (o->downlink < 0) {
				fprintf(stderr, "earshot: --downlink: expected kbit/s between %d and %d, got '%s'\n",
					ES_DOWNLINK_MIN_KBPS, ES_DOWNLINK_MAX_KBPS, optarg);
				return -EINVAL;
			}
			break;
		case OPT_ROSTER: o->roster = true; break;
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
	/* the plan names the rooms in what it says ("dan knocks on Orion"), as the UI's does */
	es_session_want_floor(s);
	if (o->play) {
		int r = es_audio_load_mono48(o->play, &play, &play_frames, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "earshot: --play: %s\n", err);
			return 2;
		}
	}
	struct es_audio_writer *w = NULL;
	if (o->record) {
		w = es_audio_writer_open(o->record, err, sizeof(err));
		if (!w) {
			fprintf(stderr, "earshot: --record: %s\n", err);
			free(play);
			return 2;
		}
	}
	uint64_t ticks_total = o->seconds > 0 ? (uint64_t)llround(o->seconds * 50.0) : 0;
	int16_t mic[ES_FRAME], out[2 * ES_FRAME];
	int64_t deadline = es_now_ns() + TICK_NS;
	/* every running client answers `earshot mute` and `status`, a bot too */
	struct es_control ctl = {.s = s};
	struct es_ctl_server *cs = es_ctl_server_open(NULL);
	if (!cs)
		fprintf(stderr, "earshot: no control socket (%s): 'earshot mute' will not reach this client\n",
			errno == EADDRINUSE ? "another earshot is running" : strerror(errno));
	struct pollfd pfd[2] = {{.fd = es_session_fd(s), .events = POLLIN},
				{.fd = cs ? es_ctl_server_fd(cs) : -1, .events = POLLIN}};
	int rc = 0;
	bool ever_joined = false;
	enum es_session_state said = (enum es_session_state)-1;
	bool said_live = true;
	uint64_t tick = 0, play_done_tick = 0;
	if (o->verbose && w)
		fprintf(stderr, "earshot: recording starts at monotonic %lld ns\n", (long long)deadline - TICK_NS);
	while (!stop) {
		int64_t now = es_now_ns();
		if (now < deadline) {
			int64_t wait = deadline - now;
			struct timespec ts = {.tv_sec = wait / 1000000000LL, .tv_nsec = wait % 1000000000LL};
			if (ppoll(pfd, 2, &ts, NULL) > 0) {
				if (pfd[0].revents)
					es_session_service(s);
				if (pfd[1].revents && es_ctl_server_handle(cs, es_control_handle, &ctl) < 0 && o->verbose)
					fprintf(stderr, "earshot: control socket: %s\n", strerror(errno));
			}
			continue;
		}
		deadline += TICK_NS;
		if (es_session_state(s) == ES_SESSION_FAILED) {
			rc = 3;
			break;
		}
		/* each change of state in one line, without -v too (-v says more, from the session) */
		enum es_session_state now_st = es_session_state(s);
		bool live = es_session_live(s);
		if (!o->verbose && (now_st != said || (now_st == ES_SESSION_JOINED && live != said_live)) &&
		    (now_st == ES_SESSION_JOINED || (now_st == ES_SESSION_BACKOFF && said != (enum es_session_state)-1) ||
		     (now_st == ES_SESSION_CONNECTING && said == (enum es_session_state)-1))) {
			fprintf(stderr, "earshot: %s\n", es_session_status(s));
			said = now_st;
			said_live = live;
		}
		bool joined = now_st == ES_SESSION_JOINED;
		ever_joined |= joined;
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
		if (w && es_audio_writer_write(w, out, ES_FRAME) < 0) {
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
	if (es_audio_writer_close(w) < 0) {
		fprintf(stderr, "earshot: --record: cannot finish %s\n", o->record);
		rc = 1;
	}
	es_ctl_server_free(cs);
	free(play);
	if (rc == 0 && !ever_joined && !stop) {
		fprintf(stderr, "earshot: never joined %s: %s\n", o->server, es_session_status(s));
		rc = 4;
	}
	return rc;
}

struct pin_ctx {
	const char *dir, *server;
};

static void save_pin(void *ud, const uint8_t key[32])
{
	struct pin_ctx *pc = ud;
	int r = es_known_server_set(pc->dir, pc->server, key);
	if (r < 0)
		fprintf(stderr, "earshot: cannot remember the server key in %s/known_servers: %s\n", pc->dir, strerror(-r));
}

/* Wait (up to 10 s) for the session to be joined or to fail. */
static int wait_joined(struct es_session *s)
{
	int16_t out[2 * ES_FRAME];
	int64_t end = es_now_ns() + 10 * 1000000000LL;
	struct pollfd pfd = {.fd = es_session_fd(s), .events = POLLIN};
	while (!stop && es_now_ns() < end) {
		enum es_session_state st = es_session_state(s);
		if (st == ES_SESSION_JOINED)
			return 0;
		if (st == ES_SESSION_FAILED)
			return -EACCES;
		struct timespec ts = {0, 20000000};
		ppoll(&pfd, 1, &ts, NULL);
		es_session_step(s, NULL, false, out);
	}
	return -ETIMEDOUT;
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0 || enet_initialize() != 0) {
		fprintf(stderr, "earshot: cannot initialise libsodium or ENet\n");
		return 1;
	}
	char dir[4096];
	int r = es_identity_dir(dir, sizeof(dir));
	if (r < 0) {
		fprintf(stderr, "earshot: no configuration directory (set HOME or XDG_CONFIG_HOME): %s\n", strerror(-r));
		return 1;
	}
	/* subcommands that need no session */
	if (argc == 2 && (strcmp(argv[1], "mute") == 0 || strcmp(argv[1], "unmute") == 0 ||
			  strcmp(argv[1], "toggle-mute") == 0 || strcmp(argv[1], "status") == 0 ||
			  strcmp(argv[1], "ptt-down") == 0 || strcmp(argv[1], "ptt-up") == 0))
		return es_ctl_command_main(argv[1], stdout, stderr);
	if (argc == 3 && strcmp(argv[1], "status") == 0 && strcmp(argv[2], "--json") == 0)
		return es_ctl_command_main_json("status", true, stdout, stderr);
	if (argc >= 2 && strcmp(argv[1], "forget-server") == 0) {
		if (argc != 3) {
			fprintf(stderr, "usage: earshot forget-server HOST:PORT\n");
			return 2;
		}
		r = es_known_server_forget(dir, argv[2]);
		if (r < 0) {
			fprintf(stderr, "earshot: %s: %s\n", argv[2], r == -ENOENT ? "no key pinned for it" : strerror(-r));
			return 1;
		}
		printf("earshot: forgot the key of %s; it will be trusted again on first use\n", argv[2]);
		return 0;
	}
	struct es_invite inv;
	bool joining = false;
	char server_buf[ES_SERVERS_MAX * (ES_SERVER_ADDR_MAX + 1)];
	if (argc >= 2 && strcmp(argv[1], "join") == 0) {
		if (argc < 3 || es_invite_decode(&inv, argv[2], strlen(argv[2])) < 0) {
			fprintf(stderr, "earshot: join: that is not an invite code (they start with '%s' or '%s'); copy the "
					"whole code\n", ES_INVITE_PREFIX, ES_INVITE_PREFIX_V2);
			return 2;
		}
		joining = true;
		/* every daemon of the company the invite names, its first first */
		int o = snprintf(server_buf, sizeof(server_buf), "%s:%u", inv.host, inv.port);
		for (unsigned i = 0; i < inv.nmore && o > 0 && (size_t)o < sizeof(server_buf); i++)
			o += snprintf(server_buf + o, sizeof(server_buf) - (size_t)o, ",%s:%u", inv.more[i].host,
				      inv.more[i].port);
		/* the remaining options apply as usual */
		argv[2] = argv[0];
		argc -= 2;
		argv += 2;
	}
	bool verbose_arg = false;
	for (int i = 1; i < argc; i++)
		verbose_arg |= strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--list-devices") == 0)
			return es_app_list_devices(verbose_arg);
	struct es_client_defaults defs = {.aec = -1, .ptt = -1, .thin = -1};
	if (es_defaults_load(dir, &defs) < 0)
		return 2;
	struct opts o = {0};
	r = parse_opts(argc, argv, &o);
	if (r != 0)
		return r > 0 ? 0 : 2;
	/* earshot.conf fills in what the command line did not say */
	bool server_given = false, name_given = false;
	for (int i = 1; i < argc; i++) {
		server_given |= !strcmp(argv[i], "--server") || !strcmp(argv[i], "-s") || !strncmp(argv[i], "--server=", 9);
		name_given |= !strcmp(argv[i], "--name") || !strcmp(argv[i], "-n") || !strncmp(argv[i], "--name=", 7);
	}
	if (!server_given && defs.server[0])
		o.server = defs.server;
	if (!name_given && defs.name[0])
		o.name = defs.name;
	if (!o.input_device && defs.input_device[0])
		o.input_device = defs.input_device;
	if (!o.output_device && defs.output_device[0])
		o.output_device = defs.output_device;
	o.no_aec = !(o.aec_set >= 0 ? o.aec_set : defs.aec >= 0 ? defs.aec : 1);
	o.ptt = o.ptt_set >= 0 ? o.ptt_set : defs.ptt > 0;
	o.thin = o.thin_set >= 0 ? o.thin_set : defs.thin > 0;
	if (!o.downlink && defs.downlink > 0)
		o.downlink = defs.downlink;
	char name_buf[ES_INVITE_NAME_MAX + 1];
	if (joining) {
		o.server = server_buf;
		/* a copy: the invite is wiped, name and all, once it is spent */
		snprintf(name_buf, sizeof(name_buf), "%s", inv.name);
		if (!name_given)
			o.name = name_buf;
	}
	/*
	 * Several daemons of one company hold one key: it is pinned (and
	 * checked) under the first address given, the company's.
	 */
	struct es_servers list;
	if (es_servers_parse(&list, o.server) < 0) {
		fprintf(stderr, "earshot: bad server address list '%s' (expected HOST[:PORT], or several separated by "
				"commas, at most %d, each 1 to %d printable bytes without spaces)\n",
			o.server, ES_SERVERS_MAX, ES_SERVER_ADDR_MAX);
		if (joining)
			es_invite_clear(&inv);
		return 2;
	}
	const char *company = list.addr[0];
	struct es_keypair id;
	r = es_identity_load(dir, &id);
	if (r < 0) {
		fprintf(stderr, "earshot: cannot load or make the identity key in %s: %s\n", dir, strerror(-r));
		return 1;
	}
	uint8_t pinned[32];
	bool have_pin;
	if (joining) {
		/*
		 * The invite names the server's key: pin it before connecting,
		 * unless we trust another key for that address already.  An
		 * invite is text anyone can hand over; replacing a pin is the
		 * user's decision, made with forget-server, as for a server that
		 * presents a new key.
		 */
		r = es_known_server_get(dir, company, pinned);
		if (r == 0 && sodium_memcmp(pinned, inv.server_pub, 32) != 0) {
			char fp_inv[ES_FINGERPRINT_LEN], fp_pin[ES_FINGERPRINT_LEN];
			es_key_fingerprint(inv.server_pub, fp_inv);
			es_key_fingerprint(pinned, fp_pin);
			fprintf(stderr,
				"earshot: REFUSING THE INVITE: it says the server at %s has key %s, but you trust %s for it.\n"
				"If the server was reinstalled or its key replaced, check the new fingerprint with its admin "
				"('earshotctl fingerprint' on the server), then run 'earshot forget-server %s' and use the "
				"invite again. Otherwise the invite may not come from your server's admin.\n",
				company, fp_inv, fp_pin, company);
			es_invite_clear(&inv);
			es_keypair_clear(&id);
			return 1;
		}
		if (r < 0 && r != -ENOENT) {
			fprintf(stderr, "earshot: %s/known_servers is damaged (%s): fix or remove it\n", dir, strerror(-r));
			es_invite_clear(&inv);
			es_keypair_clear(&id);
			return 1;
		}
		memcpy(pinned, inv.server_pub, 32);
		have_pin = true;
		if (r == -ENOENT) {
			r = es_known_server_set(dir, company, pinned);
			if (r < 0)
				fprintf(stderr, "earshot: cannot save the server key: %s\n", strerror(-r));
		}
	} else {
		r = es_known_server_get(dir, company, pinned);
		if (r < 0 && r != -ENOENT) {
			fprintf(stderr, "earshot: %s/known_servers is damaged (%s): fix or remove it\n", dir, strerror(-r));
			return 1;
		}
		have_pin = r == 0;
	}
	srand((unsigned)es_now_ns());
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct pin_ctx pc = {dir, company};
	struct es_session_config cfg = {
		.server = o.server, .name = o.name, .pos = o.pos,
		.flags = (o.muted ? ES_PF_MUTED : 0) | (o.place ? ES_PF_PLACE : 0) | (o.thin ? ES_PF_THIN : 0) |
			 (o.headless && !o.roster ? 0 : ES_PF_ROSTER), .jitter = o.jitter, .bitrate = 24000, .verbose = o.verbose,
		.downlink_kbps = (unsigned)o.downlink,
		.identity = &id, .pinned = have_pin ? pinned : NULL,
		.invite_secret = joining ? inv.secret : NULL,
		.pin = save_pin, .pin_ud = &pc,
	};
	struct es_session *s = es_session_new(&cfg);
	es_keypair_clear(&id);
	if (!s) {
		enet_deinitialize();
		return 2;
	}
	int rc;
	if (joining) {
		r = wait_joined(s);
		es_invite_clear(&inv);
		/*
		 * The name the server admitted us under: our own roster entry.  A
		 * device already enrolled keeps its name, whatever the invite says
		 * (the server ignores an invite for a key it knows).
		 */
		char actual[ES_NAME_MAX + 1] = "";
		for (int64_t until = es_now_ns() + 3000000000LL; r == 0 && !actual[0] && es_now_ns() < until;) {
			int16_t pcm[2 * ES_FRAME];
			struct timespec ts = {0, 20000000};
			nanosleep(&ts, NULL);
			es_session_step(s, NULL, false, pcm);
			unsigned n;
			const struct es_person_view *ro = es_session_roster(s, &n);
			int me = es_session_my_id(s);
			if (me >= 0 && (unsigned)me < n && ro[me].present)
				snprintf(actual, sizeof(actual), "%s", ro[me].name);
		}
		if (r == 0 && actual[0] && strcmp(actual, o.name) != 0) {
			fprintf(stderr, "earshot: this device is already enrolled on %s as %s; the invite (for %s) was not "
					"used, and earshot.conf keeps name = %s\n", o.server, actual, o.name, actual);
			struct es_client_defaults d = defs;
			snprintf(d.server, sizeof(d.server), "%s", o.server);
			snprintf(d.name, sizeof(d.name), "%s", actual);
			if (es_defaults_save(dir, &d) < 0)
				fprintf(stderr, "earshot: cannot save %s/earshot.conf\n", dir);
			rc = 1;
		} else if (r == 0) {
			struct es_client_defaults d = defs; /* keep the other settings */
			snprintf(d.server, sizeof(d.server), "%s", o.server);
			snprintf(d.name, sizeof(d.name), "%s", o.name);
			if (es_defaults_save(dir, &d) < 0)
				fprintf(stderr, "earshot: joined, but cannot save %s/earshot.conf\n", dir);
			printf("earshot: enrolled on %s as %s; from now on just run 'earshot'\n", o.server, o.name);
			rc = 0;
		} else {
			fprintf(stderr, "earshot: could not join: %s\n", es_session_status(s));
			rc = r == -EACCES ? 3 : 1;
		}
	} else if (o.headless)
		rc = run_headless(s, &o);
	else {
		struct es_app_opts ao = {
			.ui = !o.no_ui && isatty(STDOUT_FILENO) && isatty(STDIN_FILENO), .aec = !o.no_aec, .ptt = o.ptt,
			.verbose = o.verbose, .seconds = o.seconds, .input_device = o.input_device,
			.output_device = o.output_device, .stop = &stop,
		};
		rc = es_app_run(s, &ao);
	}
	if (rc == 3)
		fprintf(stderr, "earshot: %s\n", es_session_status(s));
	if (o.verbose) {
		struct es_session_stats k;
		es_session_get_stats(s, &k);
		fprintf(stderr, "earshot: sent %llu frames (%llu B), received %llu packets (%llu B), bundles %llu played %llu "
				"lost %llu concealed %llu, joins %llu\n",
			(unsigned long long)k.frames_sent, (unsigned long long)k.bytes_sent, (unsigned long long)k.packets_received,
			(unsigned long long)k.bytes_received, (unsigned long long)k.bundles, (unsigned long long)k.played,
			(unsigned long long)k.lost, (unsigned long long)k.concealed, (unsigned long long)k.joins);
		fprintf(stderr, "earshot: udp sent %llu B in %llu datagrams, received %llu B in %llu datagrams\n",
			(unsigned long long)k.udp_sent_bytes, (unsigned long long)k.udp_sent_datagrams,
			(unsigned long long)k.udp_received_bytes, (unsigned long long)k.udp_received_datagrams);
		fprintf(stderr, "earshot: uplink reports %llu, last loss %.1f %%, fec %u %%\n",
			(unsigned long long)k.link_reports, k.up_loss_permille / 10.0, k.fec_loss_perc);
	}
	es_session_free(s);
	enet_deinitialize();
	return rc;
}
