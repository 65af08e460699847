/* SPDX-License-Identifier: MIT */
/*
 * The admin commands without a socket: es_admin_execute() against a real
 * server (on a loopback port, nobody connected), a real service (state in
 * a temporary directory) and the default floor plan, which the daemon does
 * not load yet, so rooms and doors are tested here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <enet/enet.h>

#include "admin.h"
#include "config.h"
#include "earshot-crypto.h"
#include "earshot-mixer.h"
#include "log.h"
#include "server.h"
#include "service.h"
#include "state.h"
#include "test.h"

static struct es_admin *admin;
static char reply[64 * 1024];

/* Run a command; returns its final line. */
static const char *cmd(const char *line)
{
	size_t n = es_admin_execute(admin, line, reply, sizeof(reply));
	check(n > 0 && reply[n - 1] == '\n');
	reply[n - 1] = 0;
	char *last = strrchr(reply, '\n');
	return last ? last + 1 : reply;
}

static bool starts(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) != 0) {
		test_log("expected '%s...', got '%s'", prefix, s);
		return false;
	}
	return true;
}

static bool room_doors_open(struct es_floor *f, const char *name, bool open)
{
	for (unsigned i = 0; i < es_floor_room_count(f); i++) {
		if (strcmp(es_floor_room_name(f, i), name) != 0)
			continue;
		const unsigned *doors;
		int n = es_floor_room_doors(f, i, &doors);
		check(n > 0);
		for (int k = 0; k < n; k++)
			if (es_floor_door_is_open(f, doors[k]) != open)
				return false;
		return true;
	}
	return false;
}

int main(void)
{
	char dir[] = "/tmp/es-test-admin-XXXXXX";
	check(mkdtemp(dir) != NULL);
	check(enet_initialize() == 0);
	es_log_set_level(ES_LOG_WARN);

	/* someone enrolled before names were checked: a C1 control (CSI) and a bidi override in the name */
	struct es_state_db *db = es_state_new();
	struct es_person legacy = {.last_seen = 1};
	memset(legacy.key, 0x42, sizeof(legacy.key));
	snprintf(legacy.name, sizeof(legacy.name), "old\xc2\x9b" "2J\xe2\x80\xae" "eve");
	check(db && es_state_put(db, &legacy) == 0 && es_state_save(db, dir) == 0);
	es_state_free(db);

	struct es_config conf;
	es_config_defaults(&conf);
	snprintf(conf.state_dir, sizeof(conf.state_dir), "%s", dir);
	conf.metrics.text[0] = 0;
	struct es_service *svc = es_service_start(&conf, 0, NULL);
	check(svc != NULL);

	struct es_server_config cfg;
	es_server_config_default(&cfg);
	cfg.max_people = 8;
	cfg.hooks = es_service_hooks(svc);
	cfg.key_priv = es_service_server_key(svc);
	struct es_floor *floor = es_floor_default();
	check(floor != NULL);
	cfg.floor = floor; /* the admin looks rooms up on the server's floor, as in earshotd */
	char listen[32];
	struct es_server *s = NULL;
	for (int tries = 0; !s && tries < 20; tries++) {
		snprintf(listen, sizeof(listen), "127.0.0.1:%d", 20000 + (int)(((unsigned)getpid() * 7919u + (unsigned)tries * 104729u) % 40000));
		cfg.listen = listen;
		s = es_server_new(&cfg);
	}
	check(s != NULL);
	es_service_attach(svc, s, NULL);
	struct es_admin_config ac = {.state_dir = dir, .listen = listen, .server = s, .service = svc};
	admin = es_admin_start(&ac);
	check(admin != NULL);
	char sock[300];
	snprintf(sock, sizeof(sock), "%s/admin.sock", dir);
	check(access(sock, F_OK) == 0);

	/* reading */
	check(strcmp(cmd("help"), "ok") == 0);
	check(strcmp(cmd("people"), "ok: 0 connected") == 0);
	check(starts(cmd("people now"), "error: 'people' takes no arguments"));
	check(strcmp(cmd("fingerprint"), "ok") == 0);
	char fp[ES_FINGERPRINT_LEN];
	es_key_fingerprint(es_service_server_pub(svc), fp);
	check(strncmp(reply, fp, strlen(fp)) == 0);

	/* invites: the token names this server, its key, the name */
	check(starts(cmd("invite carol"), "ok: a one-time invite for carol"));
	struct es_invite inv;
	check(es_invite_decode(&inv, reply, strcspn(reply, "\n")) == 0);
	check(strcmp(inv.name, "carol") == 0 && strcmp(inv.host, "127.0.0.1") == 0);
	check(memcmp(inv.server_pub, es_service_server_pub(svc), 32) == 0);
	char want[40];
	snprintf(want, sizeof(want), "%u", inv.port);
	check(strstr(listen, want) != NULL);
	check(starts(cmd("invite \"Bob Smith\" office.example.com:7700 48"), "ok: a one-time invite for Bob Smith to office.example.com:7700, valid 48 h"));
	check(es_invite_decode(&inv, reply, strcspn(reply, "\n")) == 0);
	check(strcmp(inv.name, "Bob Smith") == 0 && strcmp(inv.host, "office.example.com") == 0 && inv.port == 7700);
	es_invite_clear(&inv);
	check(starts(cmd("invite"), "error: usage: invite NAME"));
	check(starts(cmd("invite dave nowhere"), "error: 'nowhere' is neither HOST:PORT"));
	check(starts(cmd("invite dave host:0"), "error: 'host:0' is not HOST:PORT"));
	/* a company's daemons: an es2- token naming them all, the first first */
	check(starts(cmd("invite erin --address a.example:7700,b.example:7701,192.0.2.3:7702 2"),
		     "ok: a one-time invite for erin to a.example:7700,b.example:7701,192.0.2.3:7702, valid 2 h"));
	check(strncmp(reply, "es2-", 4) == 0);
	check(es_invite_decode(&inv, reply, strcspn(reply, "\n")) == 0);
	check(strcmp(inv.host, "a.example") == 0 && inv.port == 7700 && inv.nmore == 2);
	check(strcmp(inv.more[0].host, "b.example") == 0 && inv.more[0].port == 7701);
	check(strcmp(inv.more[1].host, "192.0.2.3") == 0 && inv.more[1].port == 7702);
	es_invite_clear(&inv);
	check(starts(cmd("invite frank a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8,i:9"), "error: an invite names at most 8 daemons"));
	check(starts(cmd("invite frank a:1,,b:2"), "error: 'a:1,,b:2' is not HOST:PORT (or several"));
	check(starts(cmd("invite frank a:1,b:0"), "error: 'a:1,b:0' is not HOST:PORT"));
	check(starts(cmd("invite \"dave"), "error: unbalanced double quote"));
	check(starts(cmd("invite abcdefghijklmnopqrstuvwxyz0123456789"), "error: a name is 1 to 32 bytes"));
	check(starts(cmd("enrolled"), "ok: 1 enrolled, 3 invites pending"));
	/* the legacy name is listed, escaped: nothing raw reaches the admin's terminal */
	check(strstr(reply, " old\\u009b2J\\u202eeve last seen ") != NULL);
	check(strstr(reply, "\xc2\x9b") == NULL && strstr(reply, "\xe2\x80\xae") == NULL);
	check(strstr(reply, "invite Bob Smith expires ") != NULL);

	/* moderation of people who are not here */
	check(strcmp(cmd("mute bob"), "error: nobody called 'bob' is connected or enrolled") == 0);
	check(strcmp(cmd("unmute \"Bob Smith\""), "error: nobody called 'Bob Smith' is connected or enrolled") == 0);
	check(starts(cmd("move bob 1,2"), "error: nobody called 'bob' is connected"));
	check(starts(cmd("move bob here"), "error: usage: move NAME X,Y"));
	check(starts(cmd("move bob 1,2 north"), "error: facing 'north' is not a number"));
	check(starts(cmd("remove bob"), "error: nobody called 'bob' is connected (add --forget"));
	check(starts(cmd("remove bob --now"), "error: usage: remove NAME [--forget]"));
	check(starts(cmd("remove bob --forget"), "error: nobody called 'bob' is connected or enrolled"));
	/* redirect: every address checked before anyone is looked up, each refusal says why */
	check(starts(cmd("redirect bob"), "error: usage: redirect NAME HOST:PORT[,HOST:PORT...] [X,Y]"));
	check(starts(cmd("redirect bob a:1 north"), "error: usage: redirect NAME"));
	check(starts(cmd("redirect bob a:1 1,2"), "error: nobody called 'bob' is connected"));
	check(starts(cmd("redirect bob 127.0.0.1:7702"), "error: nobody called 'bob' is connected"));
	check(starts(cmd("redirect bob 127.0.0.1:7702,b:1,c:1,d:1,e:1,f:1,g:1,h:1"), "error: nobody called 'bob'"));
	check(starts(cmd("redirect bob 127.0.0.1:7702,b:1,c:1,d:1,e:1,f:1,g:1,h:1,i:1"), "error: at most 8 addresses"));
	check(starts(cmd("redirect bob nohost"), "error: 'nohost' is not HOST:PORT"));
	check(starts(cmd("redirect bob a:1,,b:2"), "error: '' is not HOST:PORT"));
	check(starts(cmd("redirect bob \"a :1\""), "error: 'a :1' is not HOST:PORT"));
	check(starts(cmd("redirect bob a:1,\x7f:1"), "error: "));
	{
		char longaddr[160] = "redirect bob ";
		memset(longaddr + 13, 'h', 94);
		memcpy(longaddr + 13 + 94, ":1", 3); /* 96 bytes */
		check(starts(cmd(longaddr), "error: 'hhhh"));
		longaddr[13 + 94] = 0;
		memcpy(longaddr + 13 + 93, ":1", 3); /* 95 bytes: allowed */
		check(starts(cmd(longaddr), "error: nobody called 'bob'"));
	}

	/* rooms and doors */
	check(room_doors_open(floor, "Booth 1", true));
	check(starts(cmd("close-room \"Booth 1\""), "ok: closed the"));
	check(room_doors_open(floor, "Booth 1", false));
	check(room_doors_open(floor, "Orion", true)); /* only that room */
	check(starts(cmd("open-room \"Booth 1\""), "ok: opened the"));
	check(room_doors_open(floor, "Booth 1", true));
	check(starts(cmd("close-room Attic"), "error: no room called 'Attic' on the floor (rooms: 'Orion', "));
	check(starts(cmd("close-room"), "error: usage: close-room ROOM"));
	/* an admin's close is a lock that the server keeps (people cannot open it) */
	check(starts(cmd("close-room Orion"), "ok: closed the 1 door of 'Orion'; only an admin opens it again"));
	int orion = -1;
	for (unsigned i = 0; i < es_floor_room_count(floor); i++)
		if (strcmp(es_floor_room_name(floor, i), "Orion") == 0)
			orion = (int)i;
	check(orion >= 0 && es_server_room_locked(s, (unsigned)orion));
	check(starts(cmd("open-room Orion"), "ok: opened"));
	check(!es_server_room_locked(s, (unsigned)orion));

	/* own desks: only for people enrolled, only desks the floor has */
	check(strcmp(cmd("desks"), "ok: 0 of 240 desks are someone's own") == 0);
	check(starts(cmd("desk bob A1-1"), "error: nobody called 'bob' is enrolled"));
	check(starts(cmd("desk bob Z9-9"), "error: the floor has no desk 'Z9-9'"));
	check(starts(cmd("desk bob"), "error: usage: desk NAME DESK"));

	/* odd input */
	check(strcmp(cmd(""), "error: empty command (try 'help')") == 0);
	check(strcmp(cmd("frobnicate x"), "error: unknown command 'frobnicate' (try 'help')") == 0);
	check(starts(cmd("mute \x1b[31mbob"), "error: nobody called '"));
	/* what comes back is escaped: an admin's terminal sees no control sequence (C0 never arrives: blanks) */
	check(starts(cmd("mute \"eve\xc2\x9b" "2J\xe2\x80\xae\""), "error: nobody called 'eve\\u009b2J\\u202e'"));
	check(starts(cmd("invite \"eve\xc2\x9b\""), "error: cannot make an invite")); /* and no such name enrols */
	check(starts(cmd("a b c d e f g h i"), "error: too many words"));

	es_admin_stop(admin);
	check(access(sock, F_OK) < 0 && errno == ENOENT);
	es_service_attach(svc, NULL, NULL);
	es_server_free(s);
	es_floor_free(floor);
	es_service_stop(svc);
	enet_deinitialize();
	char rm[128];
	snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
	check(system(rm) == 0);
	printf("admin commands: ok\n");
	return 0;
}
