/* SPDX-License-Identifier: MIT */
/*
 * es-rogue: a member who does what the real client never would, so that the
 * server's own promises can be checked without the client's help.  Loopback
 * only, bounded in time.
 *
 *   es-rogue ADDR:PORT NAME X,Y SECONDS [--tone HZ | --play WAV] [--fec PERC] [--thin] [ACTION ...]
 *
 * Joins as NAME at X,Y on the real protocol (cookie, ENet, Noise IK, sealed
 * packets), exactly there (ES_PF_PLACE), with presence.  With --tone it
 * talks from the start: a sine of HZ at -10 dBFS, Opus-encoded, one frame
 * every 20 ms, flagged as talking; and it never stops for a mute, its own
 * (ACTION mute) or an admin's (ES_MSG_ADMIN is read and printed, never
 * obeyed).  --play talks a WAV file instead, every frame (no voice detection),
 * then silence.  --fec PERC: the encoder's in-band FEC for PERC % loss
 * (default 0: none), fixed whatever the server reports.  --start-at MS:
 * once joined, wait until CLOCK_MONOTONIC reaches MS (milliseconds) and
 * start talking and timing there, so that several rogues share one
 * timeline (SECONDS then counts from there too).  Every ACTION is T:VERB[=ARG], done T seconds after the join:
 *
 *   mute unmute focus unfocus   the STATE flags it tells the server
 *   talk quiet                  start or stop sending audio
 *   whisper=NAME  whisper=-     whisper to NAME (by presence), or stop
 *   knock=ROOM*N                N knocks on the room named ROOM, at once
 *   volume=NAME*GAIN            hear NAME at GAIN (0..4) for itself alone
 *   door=open|close             the door of the built-in office nearest it
 *   move=X,Y                    walk there
 *   mark=LABEL                  only a phase boundary
 *
 * What it hears is counted per phase (a phase ends at each action): per
 * speaker, the forwarded frames (voice entries with Opus data) and their
 * mean gain, and the mixed frames; knocks, whispers and admin notices are
 * printed as they come.  Lines on stdout:
 *
 *   rogue: joined as #ID at monotonic MS
 *   rogue: starts at monotonic MS
 *   phase LABEL heard NAME frames N gain G azimuth DEG
 *   phase LABEL mix frames N
 *   knock from NAME on ROOM | whisper from NAME on|off | admin flags F |
 *   door N open|closed
 *   rogue: sent N audio frames
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <enet/enet.h>
#include <opus.h>
#include <sodium.h>

#include "earshot-crypto.h"
#include "earshot-mixer.h"
#include "earshot-proto.h"
#include "audio-file.h"

#define MAX_IDS 256
#define MAX_ACTIONS 32

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct rogue {
	ENetHost *host;
	ENetPeer *peer;
	ENetAddress addr;
	struct es_keypair id;
	struct es_noise hs;
	struct es_cipher tx, rx;
	uint8_t nonce[ES_COOKIE_NONCE_LEN];
	uint32_t cookie;
	bool have_cookie;
	int my_id;
	uint8_t flags; /* what the STATE says: ES_PF_MUTED, ES_PF_FOCUS, ES_PF_THIN */
	double x, y;
	char names[MAX_IDS][ES_NAME_MAX + 1];
	/* this phase */
	unsigned long frames[MAX_IDS];
	double gain[MAX_IDS];
	double azimuth[MAX_IDS]; /* degrees, + to the right of where it faces (north) */
	unsigned long mix_frames;
};

static struct rogue R;

static int parse_addr(const char *s, ENetAddress *a)
{
	char host[64];
	const char *c = strrchr(s, ':');
	if (!c || (size_t)(c - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(c - s));
	host[c - s] = 0;
	if (enet_address_set_host_ip(a, host) != 0)
		return -1;
	a->port = (enet_uint16)atoi(c + 1);
	return 0;
}

static int ENET_CALLBACK intercept(ENetHost *host, ENetEvent *ev)
{
	(void)ev;
	if (!es_cookie_is_raw(host->receivedData, host->receivedDataLength))
		return 0;
	if (es_cookie_reply_parse(host->receivedData, host->receivedDataLength, R.nonce, &R.cookie) == 0)
		R.have_cookie = true;
	return 1;
}

static int wait_event(ENetEvent *ev, int ms)
{
	int64_t end = now_ms() + ms;
	while (now_ms() < end) {
		int r = enet_host_service(R.host, ev, 10);
		if (r != 0)
			return r;
	}
	return 0;
}

static int send_msg(const struct es_msg *m)
{
	uint8_t plain[ES_MSG_MAX], out[ES_MSG_MAX + 64];
	int n = es_msg_encode(m, plain, sizeof(plain));
	if (n < 0)
		return n;
	static const uint8_t ad = ES_MSG_SEALED;
	out[0] = ES_MSG_SEALED;
	int k = es_cipher_seal(&R.tx, &ad, 1, plain, (size_t)n, out + 1, sizeof(out) - 1);
	if (k < 0)
		return k;
	bool audio = m->type == ES_MSG_AUDIO_UP;
	ENetPacket *pk = enet_packet_create(out, (size_t)k + 1, audio ? ENET_PACKET_FLAG_UNSEQUENCED : ENET_PACKET_FLAG_RELIABLE);
	if (!pk)
		return -1;
	if (enet_peer_send(R.peer, audio ? ES_CHAN_AUDIO : ES_CHAN_CONTROL, pk) < 0) {
		enet_packet_destroy(pk);
		return -1;
	}
	return 0;
}

/* Cookie, ENet connect, Noise IK with a HELLO at (x, y); 0 when welcomed. */
static int join(const char *name, uint8_t flags)
{
	ENetEvent ev;
	randombytes_buf(R.nonce, sizeof(R.nonce));
	uint8_t req[ES_COOKIE_REQUEST_LEN];
	int n = es_cookie_request_build(R.nonce, req, sizeof(req));
	ENetBuffer b = {.data = req, .dataLength = (size_t)n};
	int64_t end = now_ms() + 3000;
	while (!R.have_cookie && now_ms() < end) {
		enet_socket_send(R.host->socket, &R.addr, &b, 1);
		int64_t step = now_ms() + 300;
		while (!R.have_cookie && now_ms() < step)
			enet_host_service(R.host, &ev, 10);
	}
	if (!R.have_cookie) {
		fprintf(stderr, "rogue: no cookie\n");
		return -1;
	}
	R.peer = enet_host_connect(R.host, &R.addr, ES_CHAN_COUNT, R.cookie);
	if (!R.peer || wait_event(&ev, 3000) <= 0 || ev.type != ENET_EVENT_TYPE_CONNECT) {
		fprintf(stderr, "rogue: no connect\n");
		return -1;
	}
	enet_host_flush(R.host);
	if (wait_event(&ev, 3000) <= 0 || ev.type != ENET_EVENT_TYPE_RECEIVE) {
		fprintf(stderr, "rogue: no server key\n");
		return -1;
	}
	struct es_msg m;
	if (es_msg_decode(&m, ev.packet->data, ev.packet->dataLength) < 0 || m.type != ES_MSG_SERVER_KEY) {
		enet_packet_destroy(ev.packet);
		fprintf(stderr, "rogue: expected the server key\n");
		return -1;
	}
	uint8_t server_pub[32];
	memcpy(server_pub, m.u.server_key.key, 32);
	enet_packet_destroy(ev.packet);

	struct es_join_payload jp = {.hello = {.version = ES_PROTO_VERSION,
					       .flags = flags,
					       .pos = {(int32_t)lrint(R.x * 100), (int32_t)lrint(R.y * 100), 0},
					       .name_len = (uint8_t)strlen(name),
					       .name = name}};
	uint8_t payload[ES_NOISE_PAYLOAD_MAX], msg1[ES_NOISE_MSG1_MAX], ts[ES_TAI64N_LEN], out[ES_MSG_MAX];
	int pn = es_join_payload_encode(&jp, payload, sizeof(payload));
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	es_timestamp_make(ts, (uint64_t)rt.tv_sec, (uint32_t)rt.tv_nsec);
	if (pn < 0 || es_noise_initiator_init(&R.hs, &R.id, server_pub, (const uint8_t *)ES_NOISE_PROLOGUE,
					      sizeof(ES_NOISE_PROLOGUE) - 1) < 0)
		return -1;
	n = es_noise_write_msg1(&R.hs, ts, payload, (size_t)pn, msg1, sizeof(msg1));
	struct es_msg h1 = {.type = ES_MSG_HANDSHAKE1, .u.blob = {(uint16_t)(n > 0 ? n : 0), msg1}};
	int on = es_msg_encode(&h1, out, sizeof(out));
	if (n < 0 || on < 0)
		return -1;
	ENetPacket *pk = enet_packet_create(out, (size_t)on, ENET_PACKET_FLAG_RELIABLE);
	if (!pk || enet_peer_send(R.peer, ES_CHAN_CONTROL, pk) < 0)
		return -1;
	enet_host_flush(R.host);
	if (wait_event(&ev, 5000) <= 0 || ev.type != ENET_EVENT_TYPE_RECEIVE ||
	    es_msg_decode(&m, ev.packet->data, ev.packet->dataLength) < 0) {
		fprintf(stderr, "rogue: no handshake reply\n");
		return -1;
	}
	if (m.type == ES_MSG_BUSY || m.type == ES_MSG_REFUSED) {
		printf("rogue: not admitted (%s)\n", es_msg_type_name(m.type));
		enet_packet_destroy(ev.packet);
		return -1;
	}
	uint8_t w[ES_NOISE_PAYLOAD_MAX];
	n = m.type == ES_MSG_HANDSHAKE2 ? es_noise_read_msg2(&R.hs, m.u.blob.data, m.u.blob.len, w, sizeof(w)) : -1;
	enet_packet_destroy(ev.packet);
	struct es_msg wm;
	if (n < 0 || es_msg_decode(&wm, w, (size_t)n) < 0 || wm.type != ES_MSG_WELCOME ||
	    es_noise_split(&R.hs, &R.tx, &R.rx) < 0) {
		fprintf(stderr, "rogue: handshake failed\n");
		return -1;
	}
	R.my_id = wm.u.welcome.id;
	return 0;
}

static const char *name_of(unsigned id)
{
	static char buf[16];
	if (id < MAX_IDS && R.names[id][0])
		return R.names[id];
	snprintf(buf, sizeof(buf), "#%u", id);
	return buf;
}

static int id_of(const char *name)
{
	for (unsigned i = 0; i < MAX_IDS; i++)
		if (R.names[i][0] && strcmp(R.names[i], name) == 0)
			return (int)i;
	return -1;
}

static void end_phase(const char *label)
{
	for (unsigned i = 0; i < MAX_IDS; i++)
		if (R.frames[i])
			printf("phase %s heard %s frames %lu gain %.4f azimuth %.1f\n", label, name_of(i), R.frames[i],
			       R.gain[i] / (double)R.frames[i], R.azimuth[i] / (double)R.frames[i]);
	printf("phase %s mix frames %lu\n", label, R.mix_frames);
	fflush(stdout);
	memset(R.frames, 0, sizeof(R.frames));
	memset(R.gain, 0, sizeof(R.gain));
	memset(R.azimuth, 0, sizeof(R.azimuth));
	R.mix_frames = 0;
}

static void on_message(const struct es_msg *m, const struct es_floor *floor)
{
	switch (m->type) {
	case ES_MSG_PRESENCE:
		for (unsigned i = 0; i < m->u.presence.count; i++) {
			const struct es_presence_entry *e = &m->u.presence.entry[i];
			if (e->id < MAX_IDS && e->kind == ES_PRESENCE_JOIN) {
				memcpy(R.names[e->id], e->name, e->name_len);
				R.names[e->id][e->name_len] = 0;
			}
		}
		break;
	case ES_MSG_AUDIO_DOWN:
		for (unsigned i = 0; i < m->u.down.nvoices; i++) {
			const struct es_bundle_voice *v = &m->u.down.voice[i];
			if (v->speaker < MAX_IDS && v->len > 0 && !(v->flags & ES_VOICE_FEC)) {
				R.frames[v->speaker]++;
				R.gain[v->speaker] += es_gain_from_q(v->gain_q);
				R.azimuth[v->speaker] += v->azimuth / 10.0;
			}
		}
		if (m->u.down.mix_len)
			R.mix_frames++;
		break;
	case ES_MSG_KNOCK: {
		const char *room = floor ? es_floor_room_name(floor, m->u.knock.room) : NULL;
		printf("knock from %s on %s\n", name_of(m->u.knock.from), room ? room : "?");
		break;
	}
	case ES_MSG_WHISPER:
		printf("whisper from %s %s\n", m->u.whisper.to >= 0 ? name_of((unsigned)m->u.whisper.to) : "?",
		       m->u.whisper.on ? "on" : "off");
		break;
	case ES_MSG_DOORS:
		for (unsigned i = 0; i < m->u.doors.count; i++) {
			struct es_door_state st = es_doors_at(&m->u.doors, i);
			printf("door %u %s\n", st.door, st.open ? "open" : "closed");
		}
		break;
	case ES_MSG_ADMIN:
		printf("admin flags %u (ignored)\n", m->u.admin.flags);
		break;
	default:
		break;
	}
	fflush(stdout);
}

static void service(int ms, const struct es_floor *floor)
{
	ENetEvent ev;
	int64_t end = now_ms() + ms;
	do {
		int wait = (int)(end - now_ms());
		if (enet_host_service(R.host, &ev, (enet_uint32)(wait > 0 ? wait : 0)) <= 0)
			continue;
		if (ev.type == ENET_EVENT_TYPE_DISCONNECT) {
			printf("rogue: disconnected\n");
			exit(3);
		}
		if (ev.type != ENET_EVENT_TYPE_RECEIVE)
			continue;
		struct es_msg m;
		uint8_t plain[ES_MSG_MAX];
		if (es_msg_decode(&m, ev.packet->data, ev.packet->dataLength) > 0 && m.type == ES_MSG_SEALED) {
			static const uint8_t ad = ES_MSG_SEALED;
			int n = es_cipher_open(&R.rx, &ad, 1, m.u.blob.data, m.u.blob.len, plain, sizeof(plain));
			if (n > 0 && es_msg_decode(&m, plain, (size_t)n) > 0)
				on_message(&m, floor);
		}
		enet_packet_destroy(ev.packet);
	} while (now_ms() < end);
}

struct action {
	double t;
	char verb[16];
	char arg[64];
	bool done;
};

static void send_state(void)
{
	struct es_msg m = {.type = ES_MSG_STATE, .u.state.flags = R.flags};
	send_msg(&m);
}

/* Do one action; false if it is not understood. */
static bool act(const struct action *a, const struct es_floor *floor, bool *talking)
{
	struct es_msg m = {0};
	if (!strcmp(a->verb, "mute") || !strcmp(a->verb, "unmute")) {
		R.flags = (uint8_t)(a->verb[0] == 'm' ? R.flags | ES_PF_MUTED : R.flags & ~ES_PF_MUTED);
		send_state();
	} else if (!strcmp(a->verb, "focus") || !strcmp(a->verb, "unfocus")) {
		R.flags = (uint8_t)(a->verb[0] == 'f' ? R.flags | ES_PF_FOCUS : R.flags & ~ES_PF_FOCUS);
		send_state();
	} else if (!strcmp(a->verb, "talk") || !strcmp(a->verb, "quiet")) {
		*talking = a->verb[0] == 't';
	} else if (!strcmp(a->verb, "whisper")) {
		int to = strcmp(a->arg, "-") == 0 ? -1 : id_of(a->arg);
		if (to < 0 && strcmp(a->arg, "-") != 0) {
			fprintf(stderr, "rogue: whisper: nobody called %s in presence\n", a->arg);
			return false;
		}
		m.type = ES_MSG_WHISPER;
		m.u.whisper.to = to;
		send_msg(&m);
	} else if (!strcmp(a->verb, "knock")) {
		char room[64];
		int count = 1;
		snprintf(room, sizeof(room), "%s", a->arg);
		char *star = strchr(room, '*');
		if (star) {
			*star = 0;
			count = atoi(star + 1);
		}
		int idx = -1;
		for (unsigned i = 0; floor && i < es_floor_room_count(floor); i++)
			if (strcmp(es_floor_room_name(floor, i), room) == 0)
				idx = (int)i;
		if (idx < 0 || count < 1 || count > 100)
			return false;
		m.type = ES_MSG_KNOCK;
		m.u.knock.room = (uint16_t)idx;
		for (int i = 0; i < count; i++)
			send_msg(&m);
	} else if (!strcmp(a->verb, "volume")) {
		char who[64];
		snprintf(who, sizeof(who), "%s", a->arg);
		char *star = strchr(who, '*');
		if (!star)
			return false;
		*star = 0;
		int id = id_of(who);
		if (id < 0)
			return false;
		m.type = ES_MSG_VOLUME;
		m.u.volume = (struct es_volume){(uint16_t)id, es_gain_to_q((float)atof(star + 1))};
		send_msg(&m);
	} else if (!strcmp(a->verb, "door")) {
		unsigned best = 0, room;
		float bd = 1e9f, x, y;
		for (unsigned i = 0; floor && i < es_floor_door_count(floor); i++)
			if (es_floor_door(floor, i, &x, &y, &room) == 0 && hypotf(x - (float)R.x, y - (float)R.y) < bd) {
				bd = hypotf(x - (float)R.x, y - (float)R.y);
				best = i;
			}
		if (!floor || bd > 1e8f)
			return false;
		struct es_door_state st = {(uint16_t)best, (uint8_t)(strcmp(a->arg, "open") == 0)};
		m.type = ES_MSG_DOORS;
		m.u.doors = (struct es_doors){1, &st, NULL};
		printf("rogue: asks to %s door %u, %.2f m away\n", a->arg, best, (double)bd);
		send_msg(&m);
	} else if (!strcmp(a->verb, "move")) {
		double x, y;
		if (sscanf(a->arg, "%lf,%lf", &x, &y) != 2)
			return false;
		R.x = x, R.y = y;
		m.type = ES_MSG_MOVE;
		m.u.move = (struct es_pos){(int32_t)lrint(x * 100), (int32_t)lrint(y * 100), 0};
		send_msg(&m);
	} else if (strcmp(a->verb, "mark") != 0) {
		return false;
	}
	enet_host_flush(R.host);
	return true;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: es-rogue ADDR:PORT NAME X,Y SECONDS [--tone HZ] [--thin] [T:VERB[=ARG] ...]\n");
		return 2;
	}
	double seconds = atof(argv[4]), tone = 0;
	int fec = 0;
	long long start_at = 0;
	int16_t *wav = NULL;
	size_t wav_frames = 0, wav_at = 0;
	if (sscanf(argv[3], "%lf,%lf", &R.x, &R.y) != 2 || !(seconds > 0 && seconds <= 120) ||
	    strlen(argv[2]) > ES_NAME_MAX)
		return 2;
	struct action acts[MAX_ACTIONS];
	unsigned nacts = 0;
	uint8_t hello_flags = ES_PF_ROSTER | ES_PF_PLACE;
	for (int i = 5; i < argc; i++) {
		if (!strcmp(argv[i], "--tone") && i + 1 < argc) {
			tone = atof(argv[++i]);
		} else if (!strcmp(argv[i], "--play") && i + 1 < argc) {
			char err[200];
			if (es_audio_load_mono48(argv[++i], &wav, &wav_frames, err, sizeof(err)) < 0) {
				fprintf(stderr, "rogue: %s\n", err);
				return 2;
			}
		} else if (!strcmp(argv[i], "--start-at") && i + 1 < argc) {
			start_at = atoll(argv[++i]);
		} else if (!strcmp(argv[i], "--fec") && i + 1 < argc) {
			fec = atoi(argv[++i]);
			if (fec < 0 || fec > 100)
				return 2;
		} else if (!strcmp(argv[i], "--thin")) {
			hello_flags |= ES_PF_THIN;
			R.flags |= ES_PF_THIN;
		} else {
			struct action *a = &acts[nacts];
			char verb[96] = "";
			if (nacts == MAX_ACTIONS || sscanf(argv[i], "%lf:%95s", &a->t, verb) != 2) {
				fprintf(stderr, "rogue: bad action '%s'\n", argv[i]);
				return 2;
			}
			char *eq = strchr(verb, '=');
			snprintf(a->arg, sizeof(a->arg), "%s", eq ? eq + 1 : "");
			if (eq)
				*eq = 0;
			snprintf(a->verb, sizeof(a->verb), "%s", verb);
			a->done = false;
			nacts++;
		}
	}
	if (enet_initialize() != 0 || sodium_init() < 0 || parse_addr(argv[1], &R.addr) < 0)
		return 2;
	struct es_floor *floor = es_floor_default();
	int err;
	OpusEncoder *enc = opus_encoder_create(ES_RATE, 1, OPUS_APPLICATION_VOIP, &err);
	if (!enc)
		return 2;
	opus_encoder_ctl(enc, OPUS_SET_BITRATE(24000));
	opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(fec > 0));
	opus_encoder_ctl(enc, OPUS_SET_PACKET_LOSS_PERC(fec));
	es_noise_keypair(&R.id);
	ENetAddress bind = {.host = 0, .port = 0};
	enet_address_set_host_ip(&bind, "127.0.0.1");
	R.host = enet_host_create(&bind, 1, ES_CHAN_COUNT, 0, 0);
	if (!R.host)
		return 2;
	R.host->intercept = intercept;
	if (join(argv[2], hello_flags) < 0)
		return 1;
	printf("rogue: joined as #%d at monotonic %lld ms\n", R.my_id, (long long)now_ms());
	fflush(stdout);

	bool talking = tone > 0 || wav;
	uint32_t seq = 0;
	unsigned long sent = 0;
	bool start = true;
	double phase = 0;
	int16_t pcm[ES_FRAME];
	uint8_t opus[1275];
	char label[80] = "start";
	if (start_at > now_ms() + 60000) {
		fprintf(stderr, "rogue: --start-at is more than a minute away\n");
		return 2;
	}
	if (start_at > now_ms())
		service((int)(start_at - now_ms()), floor); /* presence comes in meanwhile */
	/* actions are timed from here: just after the join, or the shared start */
	int64_t t0 = start_at ? start_at : now_ms(), next = t0 > now_ms() ? t0 : now_ms();
	printf("rogue: starts at monotonic %lld ms\n", (long long)t0);
	fflush(stdout);
	while (now_ms() - t0 < (int64_t)(seconds * 1000)) {
		double t = (double)(now_ms() - t0) / 1000.0;
		for (unsigned i = 0; i < nacts; i++) {
			if (acts[i].done || acts[i].t > t)
				continue;
			acts[i].done = true;
			end_phase(label);
			snprintf(label, sizeof(label), "%s%s%s", acts[i].verb, acts[i].arg[0] ? "=" : "", acts[i].arg);
			if (!act(&acts[i], floor, &talking))
				fprintf(stderr, "rogue: action %s=%s not done\n", acts[i].verb, acts[i].arg);
		}
		if (talking) {
			for (int k = 0; k < ES_FRAME; k++) {
				if (wav) {
					pcm[k] = wav_at < wav_frames ? wav[wav_at] : 0;
					wav_at++;
					continue;
				}
				pcm[k] = (int16_t)lrint(10362.0 * sin(phase));
				phase += 2 * M_PI * tone / ES_RATE;
			}
			phase = fmod(phase, 2 * M_PI);
			int n = opus_encode(enc, pcm, ES_FRAME, opus, sizeof(opus));
			struct es_msg m = {.type = ES_MSG_AUDIO_UP};
			m.u.up = (struct es_audio_up){seq++, (uint8_t)(ES_PF_TALKING | (start ? ES_UP_START : 0)),
						      (uint16_t)(n > 0 ? n : 0), opus};
			if (n > 0 && send_msg(&m) == 0) {
				sent++;
				start = false;
			}
			enet_host_flush(R.host);
		} else {
			start = true;
		}
		next += 20;
		int64_t wait = next - now_ms();
		service(wait > 0 ? (int)wait : 0, floor);
	}
	end_phase(label);
	printf("rogue: sent %lu audio frames\n", sent);
	enet_peer_disconnect_now(R.peer, 0);
	enet_host_flush(R.host);
	enet_host_destroy(R.host);
	es_floor_free(floor);
	opus_encoder_destroy(enc);
	free(wav);
	return 0;
}
