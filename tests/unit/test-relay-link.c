/* SPDX-License-Identifier: MIT */
/*
 * The relay link host (daemon/relay.h) over real ENet on loopback, in one
 * process: two daemons holding the company key link up and carry voices
 * and offs both ways, sealed; a stranger who knows the company's public
 * key (it is public: every client pins it) but holds another static key
 * is refused at its msg1 and cannot inject a stage voice; junk before a
 * handshake is counted; a connect that never authenticates is reset.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <enet/enet.h>
#include <sodium.h>

#include "clock.h"
#include "earshot-crypto.h"
#include "earshot-proto.h"
#include "earshot-relay.h"
#include "relay.h"
#include "test.h"

struct seen {
	unsigned voices, offs, downs;
	char from[ES_RELAY_ID_MAX + 1];
	struct es_relay_voice last;
	uint8_t frame[ES_OPUS_MAX];
	uint16_t off_speaker;
};

static void on_voice(void *ud, unsigned link, const char *from, const struct es_relay_voice *v)
{
	(void)link;
	struct seen *s = ud;
	s->voices++;
	snprintf(s->from, sizeof(s->from), "%s", from);
	s->last = *v;
	memcpy(s->frame, v->opus, v->len);
	s->last.opus = s->frame;
}

static void on_off(void *ud, unsigned link, uint16_t speaker)
{
	(void)link;
	struct seen *s = ud;
	s->offs++;
	s->off_speaker = speaker;
}

static void on_down(void *ud, unsigned link)
{
	(void)link;
	((struct seen *)ud)->downs++;
}

static struct es_relay *ra, *rb;
static ENetHost *att;
static ENetPeer *att_peer;
static bool att_connected, att_got_hs2;
static uint8_t att_hs2[ES_NOISE_MSG2_MAX];
static size_t att_hs2_len;

static void pump_once(void)
{
	int64_t now = es_now_ms();
	es_relay_service(ra, now);
	es_relay_service(rb, now);
	if (att) {
		ENetEvent ev;
		while (enet_host_service(att, &ev, 0) > 0) {
			if (ev.type == ENET_EVENT_TYPE_CONNECT)
				att_connected = true;
			else if (ev.type == ENET_EVENT_TYPE_DISCONNECT)
				att_connected = false;
			else if (ev.type == ENET_EVENT_TYPE_RECEIVE) {
				if (ev.packet->dataLength > 1 && ev.packet->data[0] == ES_RELAY_PKT_HS2 &&
				    ev.packet->dataLength - 1 <= sizeof(att_hs2)) {
					att_got_hs2 = true;
					att_hs2_len = ev.packet->dataLength - 1;
					memcpy(att_hs2, ev.packet->data + 1, att_hs2_len);
				}
				enet_packet_destroy(ev.packet);
			}
		}
	}
	struct timespec ts = {0, 2000000};
	nanosleep(&ts, NULL);
}

/* Pump until cond holds or ms pass (a bound for a loaded machine: loopback needs a few ms). */
#define PUMP_UNTIL(cond, ms) do { \
	int64_t _end = es_now_ms() + (ms); \
	while (!(cond) && es_now_ms() < _end) \
		pump_once(); \
} while (0)

static void att_send(uint8_t type, const uint8_t *body, size_t len, bool reliable)
{
	uint8_t pkt[1 + ES_MSG_MAX];
	pkt[0] = type;
	memcpy(pkt + 1, body, len);
	ENetPacket *p = enet_packet_create(pkt, len + 1, reliable ? ENET_PACKET_FLAG_RELIABLE : ENET_PACKET_FLAG_UNSEQUENCED);
	check(p && enet_peer_send(att_peer, 0, p) == 0);
	enet_host_flush(att);
}

static void att_connect(uint16_t port)
{
	att_connected = false;
	ENetAddress a;
	check(enet_address_set_host_ip(&a, "127.0.0.1") == 0);
	a.port = port;
	att_peer = enet_host_connect(att, &a, 1, 0);
	check(att_peer != NULL);
	PUMP_UNTIL(att_connected, 5000);
	check(att_connected);
}

int main(void)
{
	check(sodium_init() >= 0);
	check(enet_initialize() == 0);
	struct es_keypair company, stranger;
	es_noise_keypair(&company);
	es_noise_keypair(&stranger);

	struct seen sa = {0}, sb = {0};
	struct es_relay_config ca = {.listen = "127.0.0.1:0", .daemon_id = "alpha", .ud = &sa, .voice = on_voice,
				     .off = on_off, .down = on_down};
	struct es_relay_config cb = ca;
	cb.daemon_id = "bravo";
	cb.ud = &sb;
	ra = es_relay_new(&ca);
	rb = es_relay_new(&cb);
	check(ra && rb);
	check(es_relay_set_key(ra, company.priv) == 0);
	check(es_relay_set_key(rb, company.priv) == 0);
	char addr_a[64], addr_b[64];
	snprintf(addr_a, sizeof(addr_a), "127.0.0.1:%u", es_relay_port(ra));
	snprintf(addr_b, sizeof(addr_b), "127.0.0.1:%u", es_relay_port(rb));
	check(es_relay_port(ra) != 0 && es_relay_port(rb) != 0);

	/* the company's two daemons: alpha sorts first and connects */
	struct es_relay_peer pa[] = {{"bravo", addr_b}, {"badhost", "relay.example:7701"}};
	struct es_relay_peer pb[] = {{"alpha", addr_a}};
	es_relay_set_peers(ra, pa, 2, es_now_ms());
	es_relay_set_peers(rb, pb, 1, es_now_ms());
	PUMP_UNTIL(es_relay_links_up(ra) == 1 && es_relay_links_up(rb) == 1, 5000);
	check_int_eq(es_relay_links_up(ra), 1);
	check_int_eq(es_relay_links_up(rb), 1);
	struct es_relay_stats st;
	es_relay_get_stats(ra, &st);
	check_int_eq(st.bad_address, 1); /* a host name: no DNS on the tick */

	/* a voice each way, and an off */
	uint8_t opus[80];
	for (unsigned i = 0; i < sizeof(opus); i++)
		opus[i] = (uint8_t)(i ^ 0x5a);
	struct es_relay_msg v = {.type = ES_RELAY_VOICE,
				 .u.voice = {.speaker = 7, .seq = 1234, .flags = ES_RELAY_VOICE_QUIET, .floor = 1, .x_cm = 775,
					     .y_cm = 375, .len = sizeof(opus), .opus = opus}};
	check_int_eq(es_relay_send(ra, &v), 1);
	PUMP_UNTIL(sb.voices == 1, 5000);
	check_int_eq(sb.voices, 1);
	check(strcmp(sb.from, "alpha") == 0);
	check_int_eq(sb.last.seq, 1234);
	check_int_eq(sb.last.speaker, 7);
	check_int_eq(sb.last.floor, 1);
	check_int_eq(sb.last.x_cm, 775);
	check_int_eq(sb.last.len, sizeof(opus));
	check(memcmp(sb.frame, opus, sizeof(opus)) == 0);
	v.u.voice.speaker = 9;
	check_int_eq(es_relay_send(rb, &v), 1);
	PUMP_UNTIL(sa.voices == 1, 5000);
	check(sa.voices == 1 && strcmp(sa.from, "bravo") == 0 && sa.last.speaker == 9);
	struct es_relay_msg off = {.type = ES_RELAY_OFF, .u.off.speaker = 7};
	check_int_eq(es_relay_send(ra, &off), 1);
	PUMP_UNTIL(sb.offs == 1, 5000);
	check(sb.offs == 1 && sb.off_speaker == 7);

	/*
	 * A stranger that knows the company's public key but not its private
	 * one: its msg1 (its own static, the company key pinned) is refused,
	 * no msg2 comes back, and a voice sealed as if the link were up is
	 * never delivered.
	 */
	att = enet_host_create(NULL, 4, 1, 0, 0);
	check(att != NULL);
	att_connect(es_relay_port(rb));
	struct es_noise hs;
	uint8_t hello[ES_RELAY_HELLO_MAX], msg1[ES_NOISE_MSG1_MAX], ts[ES_TAI64N_LEN];
	int hn = es_relay_hello_encode("mallory", hello, sizeof(hello));
	check(hn > 0);
	es_timestamp_make(ts, (uint64_t)time(NULL), 0);
	check(es_noise_initiator_init(&hs, &stranger, company.pub, (const uint8_t *)ES_RELAY_PROLOGUE,
				      strlen(ES_RELAY_PROLOGUE)) == 0);
	int n1 = es_noise_write_msg1(&hs, ts, hello, (size_t)hn, msg1, sizeof(msg1));
	check(n1 > 0);
	att_send(ES_RELAY_PKT_HS1, msg1, (size_t)n1, true);
	es_relay_get_stats(rb, &st);
	uint64_t auth0 = st.drop_auth;
	PUMP_UNTIL(att_got_hs2 || (es_relay_get_stats(rb, &st), st.drop_auth > auth0), 5000);
	unsigned voices0 = sb.voices;
	if (att_got_hs2) {
		/* refused or not, go on as an attacker would: finish and inject */
		uint8_t payload[ES_NOISE_PAYLOAD_MAX];
		struct es_cipher tx, rx;
		if (es_noise_read_msg2(&hs, att_hs2, att_hs2_len, payload, sizeof(payload)) >= 0 &&
		    es_noise_split(&hs, &tx, &rx) == 0) {
			uint8_t plain[ES_RELAY_MSG_MAX], sealed[ES_RELAY_MSG_MAX + ES_ENVELOPE_OVERHEAD];
			v.u.voice.speaker = 66;
			int pn = es_relay_encode(&v, plain, sizeof(plain));
			int sn = es_envelope_seal(&tx, plain, (size_t)pn, sealed, sizeof(sealed));
			check(sn > 0);
			ENetPacket *p = enet_packet_create(sealed, (size_t)sn, ENET_PACKET_FLAG_RELIABLE);
			check(p && enet_peer_send(att_peer, 0, p) == 0);
			enet_host_flush(att);
		}
		PUMP_UNTIL(sb.voices > voices0, 1000);
	}
	es_relay_get_stats(rb, &st);
	test_log("stranger: msg2 %s, drop_auth %llu, voices injected %u", att_got_hs2 ? "received" : "not received",
		 (unsigned long long)st.drop_auth, sb.voices - voices0);
	check(!att_got_hs2);
	check_int_eq(st.drop_auth, auth0 + 1);
	check_int_eq(sb.voices, voices0);
	check_int_eq(es_relay_links_up(rb), 1); /* alpha's link is untouched */
	es_noise_clear(&hs);

	/* junk before any handshake: counted, dropped */
	if (att_connected)
		enet_peer_reset(att_peer);
	att_connect(es_relay_port(rb));
	uint64_t mal0 = st.drop_malformed;
	uint8_t junk[40];
	randombytes_buf(junk, sizeof(junk));
	att_send(ES_MSG_SEALED, junk, sizeof(junk), true);
	att_send(0x42, junk, sizeof(junk), true);
	PUMP_UNTIL((es_relay_get_stats(rb, &st), st.drop_malformed >= mal0 + 2), 5000);
	check(st.drop_malformed >= mal0 + 2);
	/* ... and a connect that never authenticates is reset (ES_RELAY_HS_TIMEOUT_MS) */
	uint64_t to0 = st.timeouts;
	PUMP_UNTIL((es_relay_get_stats(rb, &st), st.timeouts > to0), ES_RELAY_HS_TIMEOUT_MS + 5000);
	check(st.timeouts > to0);
	check_int_eq(es_relay_links_up(rb), 1);

	/* the company's link still carries voices */
	voices0 = sb.voices;
	v.u.voice.speaker = 8;
	check_int_eq(es_relay_send(ra, &v), 1);
	PUMP_UNTIL(sb.voices > voices0, 5000);
	check_int_eq(sb.voices, voices0 + 1);

	/*
	 * A msg1 from the company key naming alpha with a timestamp older than
	 * the one alpha's link was made with (a replay, or a copy of alpha
	 * from the past) is refused: it would replace alpha's live link.  The
	 * same msg1 with a fresh timestamp from a new daemon is answered.
	 */
	att_got_hs2 = false;
	if (att_connected)
		enet_peer_reset(att_peer);
	att_connect(es_relay_port(rb));
	es_relay_get_stats(rb, &st);
	auth0 = st.drop_auth;
	hn = es_relay_hello_encode("alpha", hello, sizeof(hello));
	es_timestamp_make(ts, 1000, 0);
	check(es_noise_initiator_init(&hs, &company, company.pub, (const uint8_t *)ES_RELAY_PROLOGUE,
				      strlen(ES_RELAY_PROLOGUE)) == 0);
	n1 = es_noise_write_msg1(&hs, ts, hello, (size_t)hn, msg1, sizeof(msg1));
	check(n1 > 0);
	att_send(ES_RELAY_PKT_HS1, msg1, (size_t)n1, true);
	PUMP_UNTIL(att_got_hs2 || (es_relay_get_stats(rb, &st), st.drop_auth > auth0), 5000);
	es_relay_get_stats(rb, &st);
	test_log("alpha's msg1 with an old timestamp: msg2 %s, drop_auth +%llu", att_got_hs2 ? "received" : "not received",
		 (unsigned long long)(st.drop_auth - auth0));
	check(!att_got_hs2);
	check_int_eq(st.drop_auth, auth0 + 1);
	check_int_eq(es_relay_links_up(rb), 1);
	es_noise_clear(&hs);
	if (att_connected)
		enet_peer_reset(att_peer);
	att_connect(es_relay_port(rb));
	hn = es_relay_hello_encode("charlie", hello, sizeof(hello));
	es_timestamp_make(ts, (uint64_t)time(NULL), 0);
	check(es_noise_initiator_init(&hs, &company, company.pub, (const uint8_t *)ES_RELAY_PROLOGUE,
				      strlen(ES_RELAY_PROLOGUE)) == 0);
	n1 = es_noise_write_msg1(&hs, ts, hello, (size_t)hn, msg1, sizeof(msg1));
	att_send(ES_RELAY_PKT_HS1, msg1, (size_t)n1, true);
	PUMP_UNTIL(att_got_hs2, 5000);
	check(att_got_hs2);
	check_int_eq(es_relay_links_up(rb), 2);
	es_noise_clear(&hs);

	/* bravo leaves the company: alpha drops the link, its voices end */
	es_relay_set_peers(ra, NULL, 0, es_now_ms());
	check_int_eq(es_relay_links_up(ra), 0);
	check_int_eq(sa.downs, 1);

	enet_host_destroy(att);
	es_relay_free(ra);
	es_relay_free(rb);
	es_keypair_clear(&company);
	es_keypair_clear(&stranger);
	enet_deinitialize();
	return 0;
}
