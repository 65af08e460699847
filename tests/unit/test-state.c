/* SPDX-License-Identifier: MIT */
/*
 * Persistent state: round trip through the file, text escaping, people and
 * invite rules, and that every truncation or corruption of a file is
 * detected, with a fall back to state.prev.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "state.h"
#include "test.h"

static struct es_person person(uint8_t id, const char *name, const char *desk)
{
	struct es_person p = { 0 };
	memset(p.key, id, sizeof(p.key));
	p.key[31] = 0xA5;
	snprintf(p.name, sizeof(p.name), "%s", name);
	snprintf(p.desk, sizeof(p.desk), "%s", desk);
	return p;
}

static struct es_state_db *sample(void)
{
	struct es_state_db *st = es_state_new();
	check(st);
	struct es_person a = person(1, "Alice", "D-12");
	a.has_place = true;
	a.x = 3.25f;
	a.y = -7.125f;
	a.facing = 1.5707964f;
	a.last_seen = 1795000000;
	for (int i = 0; i < ES_STATE_TS_LEN; i++)
		a.last_ts[i] = (uint8_t)(0x40 + i);
	check_int_eq(es_state_put(st, &a), 0);
	/* awkward names: spaces, %, a literal "-", UTF-8, and no desk */
	struct es_person b = person(2, "Bob van der Berg 100%", "");
	check_int_eq(es_state_put(st, &b), 0);
	struct es_person c = person(3, "-", "kitchen corner");
	c.admin_muted = true;
	check_int_eq(es_state_put(st, &c), 0);
	struct es_person d = person(4, "Zoë 李", "%41");
	d.has_place = true;
	d.x = 1e-7f;
	check_int_eq(es_state_put(st, &d), 0);
	char code[ES_INVITE_CODE_LEN + 1];
	check_int_eq(es_state_invite_create(st, "Carol", 1000, 3600, code), 0);
	return st;
}

static void test_people(void)
{
	struct es_state_db *st = sample();
	check_int_eq(es_state_person_count(st), 4);

	uint8_t key[32];
	memset(key, 2, 32);
	key[31] = 0xA5;
	struct es_person *b = es_state_find_key(st, key);
	check(b && strcmp(b->name, "Bob van der Berg 100%") == 0);
	check(es_state_find_name(st, "Alice") == es_state_person(st, 0));
	check(es_state_find_name(st, "alice") == NULL);

	/* update in place through the pointer and put back */
	b->has_place = true;
	b->x = 4;
	check_int_eq(es_state_put(st, b), 0);
	check_int_eq(es_state_person_count(st), 4);

	/* names and desks are unique, names are not empty nor control chars */
	struct es_person e = person(9, "Alice", "");
	check_int_eq(es_state_put(st, &e), -EEXIST);
	e = person(9, "Eve", "D-12");
	check_int_eq(es_state_put(st, &e), -EADDRINUSE);
	e = person(9, "", "");
	check_int_eq(es_state_put(st, &e), -EINVAL);
	e = person(9, "Ev\ne", "");
	check_int_eq(es_state_put(st, &e), -EINVAL);
	e = person(9, "Eve", "");
	e.has_place = true;
	e.x = NAN;
	check_int_eq(es_state_put(st, &e), -EINVAL);

	/* renaming oneself is fine */
	struct es_person a = *es_state_person(st, 0);
	snprintf(a.name, sizeof(a.name), "Alice B.");
	check_int_eq(es_state_put(st, &a), 0);
	check(es_state_find_name(st, "Alice B."));

	/* replay protection: strictly increasing timestamps */
	uint8_t ts[ES_STATE_TS_LEN];
	memcpy(ts, a.last_ts, sizeof(ts));
	struct es_person *pa = es_state_find_name(st, "Alice B.");
	check_int_eq(es_person_bump_timestamp(pa, ts), -EALREADY);
	ts[0]--;
	ts[11] = 0xff;
	check_int_eq(es_person_bump_timestamp(pa, ts), -EALREADY);
	ts[0] += 2;
	ts[11] = 0;
	check_int_eq(es_person_bump_timestamp(pa, ts), 0);
	check(memcmp(pa->last_ts, ts, sizeof(ts)) == 0);

	check_int_eq(es_state_remove(st, key), 0);
	check_int_eq(es_state_remove(st, key), -ENOENT);
	check_int_eq(es_state_person_count(st), 3);
	check(es_state_find_key(st, key) == NULL);
	es_state_free(st);
	es_state_free(NULL);
}

static void test_invites(void)
{
	struct es_state_db *st = es_state_new();
	char code[ES_INVITE_CODE_LEN + 1], code2[ES_INVITE_CODE_LEN + 1], name[ES_STATE_NAME_MAX + 1];
	check_int_eq(es_state_invite_create(st, "Dan", 100, 60, code), 0);
	check_int_eq(strlen(code), ES_INVITE_CODE_LEN);
	check_int_eq(es_state_invite_create(st, "Erin", 100, 10, code2), 0);
	check(strcmp(code, code2) != 0);
	check_int_eq(es_state_invite_count(st), 2);
	uint64_t people, invites; /* what the metrics read, from another thread */
	es_state_counts(st, &people, &invites);
	check_int_eq(people, 0);
	check_int_eq(invites, 2);

	check_int_eq(es_state_invite_consume(st, "AAAAAAAAAAAAAAAAAAAAAAAAAA", 120, name), -ENOENT);
	check_int_eq(es_state_invite_consume(st, "short", 120, name), -ENOENT);
	/* expired: refused and gone */
	check_int_eq(es_state_invite_consume(st, code2, 110, name), -ETIMEDOUT);
	check_int_eq(es_state_invite_consume(st, code2, 105, name), -ENOENT);
	/* case and dashes do not matter; one time only */
	char typed[64];
	snprintf(typed, sizeof(typed), "%.5s-%s", code, code + 5);
	for (char *c = typed; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	check_int_eq(es_state_invite_consume(st, typed, 120, name), 0);
	check(strcmp(name, "Dan") == 0);
	check_int_eq(es_state_invite_consume(st, code, 120, name), -ENOENT);
	check_int_eq(es_state_invite_count(st), 0);

	/* no invite for a name already enrolled; prune */
	struct es_person p = person(7, "Fay", "");
	check_int_eq(es_state_put(st, &p), 0);
	es_state_counts(st, &people, &invites);
	check_int_eq(people, 1);
	check_int_eq(invites, 0);
	check_int_eq(es_state_invite_create(st, "Fay", 100, 60, code), -EEXIST);
	check_int_eq(es_state_invite_create(st, "Gus", 100, 60, code), 0);
	check_int_eq(es_state_invite_create(st, "Hal", 100, 600, code), 0);
	check_int_eq(es_state_invite_prune(st, 200), 1);
	check(strcmp(es_state_invite(st, 0)->name, "Hal") == 0);
	es_state_free(st);
}

static void test_format_roundtrip(void)
{
	struct es_state_db *st = sample(), *back = NULL;
	size_t len;
	char why[160];
	char *text = es_state_format(st, &len);
	check(text);
	check(memcmp(text, "earshot-state 2\n", 16) == 0);
	check(strstr(text, " Bob%20van%20der%20Berg%20100%25 -\n"));
	check(strstr(text, " kitchen%20corner %2D admin-muted\n"));
	check(strstr(text, " %2541 Zo%C3%AB%20%E6%9D%8E -\n"));
	check_int_eq(es_state_parse((const uint8_t *)text, len, &back, why, sizeof(why)), 0);
	check(es_state_equal(st, back));
	check(strcmp(es_state_person(back, 3)->name, "Zoë 李") == 0);
	check(strcmp(es_state_person(back, 3)->desk, "%41") == 0);
	check(strcmp(es_state_person(back, 2)->name, "-") == 0);
	check(es_state_person(back, 1)->desk[0] == '\0');
	check(!es_state_person(back, 1)->has_place);
	check(es_state_person(back, 2)->admin_muted);
	check(!es_state_person(back, 3)->admin_muted);
	es_state_free(back);

	/* every truncation is detected */
	for (size_t cut = 0; cut < len; cut++) {
		int r = es_state_parse((const uint8_t *)text, cut, &back, why, sizeof(why));
		if (r != -EBADMSG) {
			fprintf(stderr, "truncation at %zu of %zu not detected (r=%d)\n", cut, len, r);
			exit(1);
		}
	}
	/* every single-bit flip is detected */
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			text[i] ^= (char)(1 << bit);
			int r = es_state_parse((const uint8_t *)text, len, &back, why, sizeof(why));
			text[i] ^= (char)(1 << bit);
			if (r != -EBADMSG) {
				fprintf(stderr, "flip of bit %d at %zu not detected (r=%d)\n", bit, i, r);
				exit(1);
			}
		}
	}
	/* appended garbage too */
	char *more = malloc(len + 8);
	memcpy(more, text, len);
	memcpy(more + len, "person\n", 7);
	check_int_eq(es_state_parse((const uint8_t *)more, len + 7, &back, why, sizeof(why)), -EBADMSG);
	free(more);
	free(text);
	es_state_free(st);
}

/* A body that is well checksummed but malformed is still rejected. */
static void test_malformed_body(void)
{
	static const char *const bodies[] = {
		"earshot-state 3\n",
		"earshot-state 1\nperson 00\n",
		/* version 1 has no flags field; version 2 must have a known one */
		"earshot-state 1\nperson 0101010101010101010101010101010101010101010101010101010101010101 000000000000000000000000 0 - - - - Al -\n",
		"earshot-state 2\nperson 0101010101010101010101010101010101010101010101010101010101010101 000000000000000000000000 0 - - - - Al\n",
		"earshot-state 2\nperson 0101010101010101010101010101010101010101010101010101010101010101 000000000000000000000000 0 - - - - Al muted\n",
		"earshot-state 2\nperson 0101010101010101010101010101010101010101010101010101010101010101 000000000000000000000000 0 - - - - Al - -\n",
		"earshot-state 1\nfrobnicate\n",
		"earshot-state 1\nperson 0101010101010101010101010101010101010101010101010101010101010101 000000000000000000000000 0 - - - - -\n",
		"earshot-state 1\nperson 0101010101010101010101010101010101010101010101010101010101010101 000000000000000000000000 0 1 - - - Al\n",
		"earshot-state 1\nperson 0101010101010101010101010101010101010101010101010101010101010101 000000000000000000000000 0 - - - - Al%0A\n",
		"earshot-state 1\nperson 0101010101010101010101010101010101010101010101010101010101010101 000000000000000000000000 0 - - - - Al\n"
		"person 0101010101010101010101010101010101010101010101010101010101010101 000000000000000000000000 0 - - - - Bo\n",
		"earshot-state 1\ninvite 01 5 Al\n",
	};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		uint8_t sum[32];
		char hex[65], buf[1024], why[160];
		struct es_state_db *st = NULL;
		crypto_generichash(sum, 32, (const uint8_t *)bodies[i], strlen(bodies[i]), NULL, 0);
		sodium_bin2hex(hex, sizeof(hex), sum, 32);
		int n = snprintf(buf, sizeof(buf), "%schecksum %s\n", bodies[i], hex);
		int r = es_state_parse((const uint8_t *)buf, (size_t)n, &st, why, sizeof(why));
		if (r != -EBADMSG) {
			fprintf(stderr, "body %zu accepted:\n%s", i, buf);
			exit(1);
		}
	}
	/* and a good minimal one is accepted */
	const char *ok = "earshot-state 1\nperson 0101010101010101010101010101010101010101010101010101010101010101 000000000000000000000000 0 - - - - Al\n";
	uint8_t sum[32];
	char hex[65], buf[1024], why[160];
	struct es_state_db *st = NULL;
	crypto_generichash(sum, 32, (const uint8_t *)ok, strlen(ok), NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), sum, 32);
	int n = snprintf(buf, sizeof(buf), "%schecksum %s\n", ok, hex);
	check_int_eq(es_state_parse((const uint8_t *)buf, (size_t)n, &st, why, sizeof(why)), 0);
	check_int_eq(es_state_person_count(st), 1);
	check(!es_state_person(st, 0)->admin_muted);
	es_state_free(st);
	/* a version 2 person muted by an admin */
	ok = "earshot-state 2\nperson 0101010101010101010101010101010101010101010101010101010101010101 000000000000000000000000 0 - - - - Al admin-muted\n";
	crypto_generichash(sum, 32, (const uint8_t *)ok, strlen(ok), NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), sum, 32);
	n = snprintf(buf, sizeof(buf), "%schecksum %s\n", ok, hex);
	check_int_eq(es_state_parse((const uint8_t *)buf, (size_t)n, &st, why, sizeof(why)), 0);
	check(es_state_person(st, 0)->admin_muted);
	es_state_free(st);
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	check(fd >= 0);
	check(write(fd, data, len) == (ssize_t)len);
	close(fd);
}

static bool exists(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static void test_files(void)
{
	char dir[] = "/tmp/test-state-XXXXXX";
	char sub[600], path[700];
	struct es_state_db *st = sample(), *back = NULL;
	check(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/lib", dir);

	/* nothing there yet: empty state */
	check_int_eq(es_state_load(sub, &back), 0);
	check_int_eq(es_state_person_count(back), 0);
	es_state_free(back);

	/* save creates the directory; round trip */
	check_int_eq(es_state_save(st, sub), 0);
	check(exists(sub, "state"));
	check(!exists(sub, "state.tmp"));
	check_int_eq(es_state_load(sub, &back), 0);
	check(es_state_equal(st, back));
	struct es_state_db *first = back; /* what the first save wrote */

	/* second save keeps the first as state.prev */
	struct es_person z = person(42, "Zed", "");
	check_int_eq(es_state_put(st, &z), 0);
	check_int_eq(es_state_save(st, sub), 0);
	check(exists(sub, "state.prev"));

	/* truncate "state": load says so and uses state.prev */
	snprintf(path, sizeof(path), "%s/state", sub);
	check(truncate(path, 100) == 0);
	check_int_eq(es_state_load(sub, &back), 1);
	check(es_state_equal(first, back));
	/* a save after such a fall back keeps the good state.prev */
	check_int_eq(es_state_save(back, sub), 0);
	es_state_free(back);
	check(truncate(path, 50) == 0);
	check_int_eq(es_state_load(sub, &back), 1);
	check(es_state_equal(first, back));
	es_state_free(back);

	/* "state" missing (crash between the renames): state.prev */
	check(unlink(path) == 0);
	check_int_eq(es_state_load(sub, &back), 1);
	check(es_state_equal(first, back));
	es_state_free(back);

	/* both bad: refuse, do not start empty */
	write_file(sub, "state", "garbage\n", 8);
	write_file(sub, "state.prev", "earshot-state 1\n", 16);
	back = NULL;
	check_int_eq(es_state_load(sub, &back), -EBADMSG);
	check(back == NULL);

	/* a stale state.tmp from a crash is ignored and overwritten */
	write_file(sub, "state.tmp", "half a fi", 9);
	check_int_eq(es_state_save(st, sub), 0);
	check(!exists(sub, "state.tmp"));
	check_int_eq(es_state_load(sub, &back), 0);
	check(es_state_equal(st, back));
	es_state_free(back);

	/* cleanup */
	const char *names[] = { "state", "state.prev", "state.tmp" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", sub, names[i]);
		unlink(path);
	}
	rmdir(sub);
	rmdir(dir);
	es_state_free(first);
	es_state_free(st);
}

static mode_t mode_of(const char *dir, const char *name)
{
	char path[700];
	struct stat st;
	snprintf(path, sizeof(path), "%s%s%s", dir, name ? "/" : "", name ? name : "");
	check(stat(path, &st) == 0);
	return st.st_mode & 07777;
}

/*
 * The state directory is the daemon's alone: made 0700, and a directory or
 * state file that group or others could read (a quick start's mkdir -p under
 * umask 022, a backup copied back) is tightened at load, with a warning.
 */
static void test_modes(int log_fd)
{
	char dir[] = "/tmp/test-state-XXXXXX", sub[600], path[700];
	struct es_state_db *st = sample(), *back = NULL;
	check(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/lib", dir);

	/* a load makes a missing directory 0700, whatever the umask */
	mode_t um = umask(0);
	check_int_eq(es_state_load(sub, &back), 0);
	umask(um);
	es_state_free(back);
	check_int_eq(mode_of(sub, NULL), 0700);
	check_int_eq(es_state_save(st, sub), 0);
	check_int_eq(mode_of(sub, "state"), 0600);
	check_int_eq(es_state_save(st, sub), 0);
	check_int_eq(mode_of(sub, "state.prev"), 0600);

	/* open to others: tightened at the next load, and said */
	check(chmod(sub, 0755) == 0);
	snprintf(path, sizeof(path), "%s/state", sub);
	check(chmod(path, 0644) == 0);
	snprintf(path, sizeof(path), "%s/state.prev", sub);
	check(chmod(path, 0640) == 0);
	check(ftruncate(log_fd, 0) == 0 && lseek(log_fd, 0, SEEK_SET) == 0);
	check_int_eq(es_state_load(sub, &back), 0);
	check(es_state_equal(st, back));
	es_state_free(back);
	check_int_eq(mode_of(sub, NULL), 0700);
	check_int_eq(mode_of(sub, "state"), 0600);
	check_int_eq(mode_of(sub, "state.prev"), 0600);
	char logbuf[4096] = {0};
	check(pread(log_fd, logbuf, sizeof(logbuf) - 1, 0) > 0);
	if (getenv("TEST_VERBOSE"))
		fputs(logbuf, stderr);
	check(strstr(logbuf, "was mode 0755, open to everyone on this machine; made it 0700"));
	check(strstr(logbuf, "state was mode 0644"));
	check(strstr(logbuf, "state.prev was mode 0640, open to its group; made it 0600"));

	/* already tight: not a word */
	check(ftruncate(log_fd, 0) == 0);
	check_int_eq(es_state_load(sub, &back), 0);
	es_state_free(back);
	memset(logbuf, 0, sizeof(logbuf));
	check(pread(log_fd, logbuf, sizeof(logbuf) - 1, 0) >= 0);
	check(strstr(logbuf, "mode") == NULL);

	unlink(path);
	snprintf(path, sizeof(path), "%s/state", sub);
	unlink(path);
	rmdir(sub);
	rmdir(dir);
	es_state_free(st);
}

int main(void)
{
	int devnull = open("/dev/null", O_WRONLY);
	if (!getenv("TEST_VERBOSE"))
		es_log_set_fd(devnull);
	check(sodium_init() >= 0);
	test_people();
	test_invites();
	test_format_roundtrip();
	test_malformed_body();
	test_files();
	/* the log goes to a file the mode test reads back */
	char logpath[] = "/tmp/test-state-log-XXXXXX";
	int log_fd = mkstemp(logpath);
	check(log_fd >= 0);
	unlink(logpath);
	es_log_set_fd(log_fd);
	test_modes(log_fd);
	close(log_fd);
	return 0;
}
