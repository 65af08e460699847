/* SPDX-License-Identifier: MIT */
/*
 * earshot.conf: every setting reads, flags-style booleans, and each kind of
 * mistake is refused with FILE:LINE and what is wrong; `earshot join`
 * writes the file back without losing the other settings.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "identity.h"
#include "test.h"

static char errbuf[4096];

/* Parse text with stderr captured into errbuf. */
static int parse(const char *text, struct es_client_defaults *d)
{
	fflush(stderr);
	FILE *tmp = tmpfile();
	check(tmp != NULL);
	int saved = dup(STDERR_FILENO);
	dup2(fileno(tmp), STDERR_FILENO);
	int r = es_defaults_parse("earshot.conf", text, d);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	size_t n = fread(errbuf, 1, sizeof(errbuf) - 1, tmp);
	errbuf[n] = 0;
	fclose(tmp);
	return r;
}

static void fresh(struct es_client_defaults *d)
{
	memset(d, 0, sizeof(*d));
	d->aec = d->ptt = d->thin = -1;
}

static void bad(const char *text, const char *want)
{
	struct es_client_defaults d;
	fresh(&d);
	check_int_eq(parse(text, &d), -EINVAL);
	if (!strstr(errbuf, want)) {
		fprintf(stderr, "expected '%s' in: %s\n", want, errbuf);
		check(0);
	}
}

int main(void)
{
	struct es_client_defaults d;
	fresh(&d);
	check_int_eq(parse("# my settings\n[client]\nserver = office.example:7700\nname = Ada Lovelace\nthin = no\n"
			   "\n[audio]\ninput-device = USB Headset\noutput-device = 3\necho-cancellation = off\n"
			   "[keys]\npush-to-talk = yes ; hold space\n", &d), 0);
	check(strcmp(d.server, "office.example:7700") == 0);
	check(strcmp(d.name, "Ada Lovelace") == 0);
	check(strcmp(d.input_device, "USB Headset") == 0);
	check(strcmp(d.output_device, "3") == 0);
	check_int_eq(d.aec, 0);
	check_int_eq(d.ptt, 1);
	check_int_eq(d.thin, 0);
	check_int_eq(errbuf[0], 0);

	/* what is not said stays unset */
	fresh(&d);
	check_int_eq(parse("[client]\nname = bob\n", &d), 0);
	check_int_eq(d.aec, -1);
	check_int_eq(d.server[0], 0);

	bad("[client]\nname = bob\n\n[audio]\necho-cancellation = maybe\n", "earshot.conf:5: [audio] echo-cancellation: expected yes or no, got 'maybe'");
	bad("[client]\nnmae = bob\n", "earshot.conf:2: [client] nmae: unknown setting");
	bad("[sound]\ninput-device = x\n", "earshot.conf:2: [sound]: unknown section");
	bad("server = x:1\n", "earshot.conf:1: server: setting outside a section");
	bad("[client]\nserver\n", "earshot.conf:2: syntax error");
	bad("[client]\nname =\n", "earshot.conf:2: [client] name: empty");
	char longname[300] = "[client]\nname = ";
	memset(longname + strlen(longname), 'x', 100);
	strcat(longname, "\n");
	bad(longname, "earshot.conf:2: [client] name: longer than 63 bytes");
	/* every bad line at once */
	bad("[client]\nthin = 2\n[keys]\npush-to-talk = often\n", "earshot.conf:4: [keys] push-to-talk");
	check(strstr(errbuf, "earshot.conf:2: [client] thin") != NULL);

	/* written back (as 'earshot join' does) and read again: nothing lost */
	char dir[] = "/tmp/es-conf-XXXXXX";
	check(mkdtemp(dir) != NULL);
	fresh(&d);
	check_int_eq(parse("[client]\nserver = a:1\nname = ann\n[audio]\ninput-device = Mic 2\necho-cancellation = no\n"
			   "[keys]\npush-to-talk = on\n", &d), 0);
	snprintf(d.server, sizeof(d.server), "b:2");
	check_int_eq(es_defaults_save(dir, &d), 0);
	struct es_client_defaults e;
	fresh(&e);
	check_int_eq(es_defaults_load(dir, &e), 0);
	check(strcmp(e.server, "b:2") == 0 && strcmp(e.name, "ann") == 0 && strcmp(e.input_device, "Mic 2") == 0);
	check_int_eq(e.aec, 0);
	check_int_eq(e.ptt, 1);
	check_int_eq(e.thin, -1);
	char path[64];
	snprintf(path, sizeof(path), "%s/earshot.conf", dir);
	unlink(path);
	/* no file at all is fine */
	fresh(&e);
	check_int_eq(es_defaults_load(dir, &e), 0);
	rmdir(dir);
	return 0;
}
