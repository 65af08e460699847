/* SPDX-License-Identifier: MIT */
/*
 * Configuration: defaults, file parsing, flags over the file, and that each
 * kind of broken setting is rejected with file, line, section and key.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "test.h"

static char errbuf[8192];

/* Parse `text` as a config file named "t.conf"; errors land in errbuf. */
static int parse(struct es_config *cfg, const char *text)
{
	FILE *err = fmemopen(errbuf, sizeof(errbuf), "w");
	check(err);
	es_config_defaults(cfg);
	int r = es_config_parse_string(cfg, "t.conf", text, err);
	fclose(err);
	return r;
}

static void expect_error(const char *text, const char *needle)
{
	struct es_config cfg;
	int r = parse(&cfg, text);
	if (r != -EINVAL || !strstr(errbuf, needle)) {
		fprintf(stderr, "config:\n%s\nexpected error containing '%s', got r=%d:\n%s\n", text, needle, r, errbuf);
		exit(1);
	}
}

static void test_defaults(void)
{
	struct es_config cfg;
	unsetenv("STATE_DIRECTORY");
	es_config_defaults(&cfg);
	check(strcmp(cfg.listen.text, "127.0.0.1:7700") == 0);
	check_int_eq(cfg.listen.port, 7700);
	check(cfg.listen.loopback);
	check(strcmp(cfg.metrics.text, "127.0.0.1:9770") == 0);
	check(strcmp(cfg.state_dir, "/var/lib/earshot") == 0);
	check(cfg.floor_plan[0] == '\0');
	check_int_eq(cfg.max_people, 2000);
	check_near(cfg.range_m, 15, 1e-6);
	check(es_config_open_enrolment(&cfg));

	setenv("STATE_DIRECTORY", "/var/lib/private/earshot:/other", 1);
	es_config_defaults(&cfg);
	check(strcmp(cfg.state_dir, "/var/lib/private/earshot") == 0);
	unsetenv("STATE_DIRECTORY");
}

static void test_addr(void)
{
	struct es_addr a;
	check_int_eq(es_addr_parse("10.1.2.3:7700", &a), 0);
	check(!a.loopback);
	check_int_eq(a.sa.ss_family, AF_INET);
	check_int_eq(es_addr_parse("[::1]:9770", &a), 0);
	check(a.loopback);
	check_int_eq(a.sa.ss_family, AF_INET6);
	check(strcmp(a.host, "::1") == 0);
	check_int_eq(es_addr_parse("localhost:0", &a), 0);
	check(a.loopback);
	check_int_eq(a.port, 0);
	check_int_eq(es_addr_parse("", &a), 0);
	check(a.text[0] == '\0');
	check_int_eq(es_addr_parse("127.0.0.1", &a), -EINVAL);
	check_int_eq(es_addr_parse("127.0.0.1:65536", &a), -EINVAL);
	check_int_eq(es_addr_parse("127.0.0.1:-1", &a), -EINVAL);
	check_int_eq(es_addr_parse("::1:80", &a), -EINVAL);
	check_int_eq(es_addr_parse("example.com:80", &a), -EINVAL);
	check_int_eq(es_addr_parse("[::1]80", &a), -EINVAL);
}

static void test_good_file(void)
{
	struct es_config cfg;
	int r = parse(&cfg,
		"; comment\n"
		"# another\n"
		"[server]\n"
		"listen = 0.0.0.0:7800\n"
		"floor_plan = /srv/office.plan\n"
		"state_dir = /tmp/es\n"
		"max_people = 500\n"
		"\n"
		"[audio]\n"
		"range_m = 12.5 ; inline comment\n"
		"max_voices = 8\n"
		"bitrate = 24000\n"
		"complexity = 3\n"
		"mix_threads = 2\n"
		"[metrics]\n"
		"listen =\n"
		"[security]\n"
		"open_enrolment = auto\n"
		"invite_ttl_s = 3600\n"
		"[log]\n"
		"level = debug\n");
	if (r != 0)
		fprintf(stderr, "%s", errbuf);
	check_int_eq(r, 0);
	check_int_eq(cfg.listen.port, 7800);
	check(!cfg.listen.loopback);
	check(!es_config_open_enrolment(&cfg)); /* auto, not loopback */
	check(strcmp(cfg.floor_plan, "/srv/office.plan") == 0);
	check(strcmp(cfg.state_dir, "/tmp/es") == 0);
	check_int_eq(cfg.max_people, 500);
	check_near(cfg.range_m, 12.5, 1e-6);
	check_int_eq(cfg.max_voices, 8);
	check_int_eq(cfg.bitrate, 24000);
	check_int_eq(cfg.complexity, 3);
	check_int_eq(cfg.mix_threads, 2);
	check(cfg.metrics.text[0] == '\0');
	check_int_eq(cfg.invite_ttl_s, 3600);
	check_int_eq(cfg.log_level, ES_LOG_DEBUG);

	/* the dump reads back to the same settings */
	char dump[4096];
	FILE *f = fmemopen(dump, sizeof(dump), "w");
	es_config_dump(&cfg, f);
	fclose(f);
	struct es_config again;
	FILE *err = fmemopen(errbuf, sizeof(errbuf), "w");
	es_config_defaults(&again);
	r = es_config_parse_string(&again, "dump", dump, err);
	fclose(err);
	check_int_eq(r, 0);
	check(strcmp(again.listen.text, cfg.listen.text) == 0);
	check_near(again.range_m, cfg.range_m, 1e-6);
	check_int_eq(again.log_level, cfg.log_level);
}

static void test_bad_files(void)
{
	/* the example from the spec, down to the line number */
	expect_error("[server]\nlisten = 127.0.0.1:7700\n\n\n\n\n\n\n\n\n[audio]\nrange_m = abc\n",
		"t.conf:12: [audio] range_m: expected a number between 1 and 100, got 'abc'");
	expect_error("[audio]\nrange_m = 0.5\n", "t.conf:2: [audio] range_m: expected a number between 1 and 100, got '0.5'");
	expect_error("[audio]\nrange_m = 15m\n", "t.conf:2: [audio] range_m:");
	expect_error("[audio]\nrange_m = nan\n", "t.conf:2: [audio] range_m:");
	expect_error("[audio]\nrange_m =\n", "t.conf:2: [audio] range_m:");
	expect_error("[server]\nmax_people = -3\n", "t.conf:2: [server] max_people: expected a whole number between 1 and 4000, got '-3'");
	expect_error("[server]\nmax_people = 0\n", "t.conf:2: [server] max_people:");
	expect_error("[server]\nmax_people = 99999999999999999999\n", "t.conf:2: [server] max_people:");
	expect_error("[audio]\ncomplexity = 11\n", "t.conf:2: [audio] complexity:");
	expect_error("[audio]\nmix_threads = 17\n", "t.conf:2: [audio] mix_threads: expected a whole number between 0 and 16, got '17'");
	expect_error("[audio]\nbitrate = 24k\n", "t.conf:2: [audio] bitrate:");
	expect_error("[server]\nlisten = 127.0.0.1\n", "t.conf:2: [server] listen: expected an IPv4 address");
	expect_error("[server]\nlisten = [::1]:7700\n", "t.conf:2: [server] listen: expected an IPv4 address");
	expect_error("[server]\nlisten =\n", "t.conf:2: [server] listen:");
	expect_error("[metrics]\nlisten = nowhere:x\n", "t.conf:2: [metrics] listen:");
	expect_error("[server]\nstate_dir = relative/dir\n", "t.conf:2: [server] state_dir: expected an absolute");
	expect_error("[security]\nopen_enrolment = maybe\n", "t.conf:2: [security] open_enrolment: expected auto, on or off, got 'maybe'");
	expect_error("[log]\nlevel = loud\n", "t.conf:2: [log] level:");
	/* unknown keys and sections are errors, not silently ignored */
	expect_error("[server]\n\nlisen = 127.0.0.1:7700\n", "t.conf:3: [server] lisen: unknown setting");
	expect_error("[audio]\nlisten = 127.0.0.1:7700\n", "t.conf:2: [audio] listen: unknown setting");
	expect_error("[sever]\nlisten = 127.0.0.1:7700\n", "t.conf:2: [sever]: unknown section");
	expect_error("listen = 127.0.0.1:7700\n", "t.conf:1: listen: setting outside a section");
	/* syntax */
	expect_error("[server]\nlisten 127.0.0.1\n", "t.conf:2: syntax error");
	expect_error("[server]\nlisten 127.0.0.1:7700\n", "t.conf:2: [server] listen 127.0.0.1: unknown setting");
	expect_error("[server\n", "t.conf:1: syntax error");
	/* several errors are all reported */
	expect_error("[audio]\nrange_m = x\nmax_voices = 0\n", "t.conf:3: [audio] max_voices:");
	expect_error("[audio]\nrange_m = x\nmax_voices = 0\n", "t.conf:2: [audio] range_m:");
}

static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/test-config-XXXXXX");
	check(path);
	int fd = mkstemp(path);
	check(fd >= 0);
	check(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	return path;
}

static int load(struct es_config *cfg, char **argv)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	FILE *err = fmemopen(errbuf, sizeof(errbuf), "w");
	int r = es_config_load(cfg, argc, argv, err);
	fclose(err);
	return r;
}

static void test_load(void)
{
	struct es_config cfg;
	int r;
	char *path = write_tmp("[audio]\nrange_m = 20\nmax_voices = 4\n[server]\nmax_people = 100\n");

	/* flags override the file, whatever their order relative to --config */
	char *a1[] = { "earshotd", "--range=30", "--config", path, "-n", "7", NULL };
	check_int_eq(load(&cfg, a1), 0);
	check_near(cfg.range_m, 30, 1e-6);
	check_int_eq(cfg.max_voices, 4);
	check_int_eq(cfg.max_people, 7);
	check(strcmp(cfg.config_path, path) == 0);
	check(!cfg.check_only);

	/* every setting has a flag */
	char *a2[] = { "earshotd", "-c", path, "--listen=127.0.0.2:1", "--floor-plan=/x", "--state-dir=/y",
		"--max-voices=3", "--bitrate=16000", "--complexity=0", "--metrics-listen=", "--open-enrolment=off",
		"--invite-ttl=60", "--log-level=warn", "--check-config", NULL };
	check_int_eq(load(&cfg, a2), 0);
	check_int_eq(cfg.listen.port, 1);
	check(strcmp(cfg.floor_plan, "/x") == 0);
	check(strcmp(cfg.state_dir, "/y") == 0);
	check_int_eq(cfg.max_voices, 3);
	check_int_eq(cfg.bitrate, 16000);
	check_int_eq(cfg.complexity, 0);
	check(cfg.metrics.text[0] == '\0');
	check_int_eq(cfg.enrol, ES_ENROL_OFF);
	check_int_eq(cfg.invite_ttl_s, 60);
	check_int_eq(cfg.log_level, ES_LOG_WARN);
	check(cfg.check_only);

	/* a bad flag names the flag */
	char *a3[] = { "earshotd", "-c", path, "--range", "abc", NULL };
	check_int_eq(load(&cfg, a3), -EINVAL);
	check(strstr(errbuf, "--range: expected a number between 1 and 100, got 'abc'"));

	char *a4[] = { "earshotd", "-c", path, "--bogus", NULL };
	check_int_eq(load(&cfg, a4), -EINVAL);
	check(strstr(errbuf, "unknown option '--bogus'"));

	char *a5[] = { "earshotd", "-c", path, "stray", NULL };
	check_int_eq(load(&cfg, a5), -EINVAL);
	check(strstr(errbuf, "unexpected argument 'stray'"));

	char *a6[] = { "earshotd", "--config", NULL };
	check_int_eq(load(&cfg, a6), -EINVAL);
	check(strstr(errbuf, "needs a value"));

	/* a missing explicit file is an error */
	char *a7[] = { "earshotd", "--config", "/nonexistent/earshotd.conf", NULL };
	check_int_eq(load(&cfg, a7), -EINVAL);
	check(strstr(errbuf, "/nonexistent/earshotd.conf: cannot open config file"));

	/* a bad file names the real path and line */
	char *bad = write_tmp("[server]\nmax_people = lots\n");
	char *a8[] = { "earshotd", "--config", bad, NULL };
	check_int_eq(load(&cfg, a8), -EINVAL);
	char want[128];
	snprintf(want, sizeof(want), "%s:2: [server] max_people:", bad);
	check(strstr(errbuf, want));
	unlink(bad);
	free(bad);

	/* --help and --version ask to exit with success */
	fflush(stdout);
	char *a9[] = { "earshotd", "--version", NULL };
	check_int_eq(load(&cfg, a9), ES_CONFIG_EXIT);
	char *a10[] = { "earshotd", "-h", NULL };
	check_int_eq(load(&cfg, a10), ES_CONFIG_EXIT);

	/* check: missing floor plan */
	char *a11[] = { "earshotd", "-c", path, "--floor-plan=/nonexistent.plan", "--state-dir=/tmp", NULL };
	r = load(&cfg, a11);
	if (r) fprintf(stderr, "%s", errbuf);
	check_int_eq(r, 0);
	FILE *err = fmemopen(errbuf, sizeof(errbuf), "w");
	check(es_config_check(&cfg, err) < 0);
	fclose(err);
	check(strstr(errbuf, "floor_plan: /nonexistent.plan"));

	char *a12[] = { "earshotd", "-c", path, "--floor-plan", path, "--state-dir=/tmp", NULL };
	check_int_eq(load(&cfg, a12), 0);
	err = fmemopen(errbuf, sizeof(errbuf), "w");
	check_int_eq(es_config_check(&cfg, err), 0);
	fclose(err);

	unlink(path);
	free(path);
}

/* [cluster]: off by default; a company's floors list and address are checked */
static void test_cluster(void)
{
	struct es_config cfg;
	char names[ES_COMPANY_FLOORS_MAX][65];
	check_int_eq(parse(&cfg, ""), 0);
	check_int_eq(es_config_floors(&cfg, names, ES_COMPANY_FLOORS_MAX), 0); /* on its own */
	check_int_eq(parse(&cfg, "[cluster]\netcd = http://127.0.0.1:2379\nfloors = ground,first,roof-2\n"), 0);
	check_int_eq(es_config_floors(&cfg, names, ES_COMPANY_FLOORS_MAX), 3);
	check(strcmp(names[2], "roof-2") == 0);
	check(strcmp(cfg.cluster_company, "earshot") == 0 && cfg.cluster_ttl_s == 3);
	static const char *const bad_lists[] = {"a,,b", "a,a", ",a", "a,", "a b", "x/y"};
	for (unsigned i = 0; i < sizeof(bad_lists) / sizeof(bad_lists[0]); i++) {
		char text[200];
		snprintf(text, sizeof(text), "[cluster]\netcd = http://127.0.0.1:2379\nfloors = %s\n", bad_lists[i]);
		if (parse(&cfg, text) == 0)
			check_int_eq(es_config_floors(&cfg, names, ES_COMPANY_FLOORS_MAX), -EINVAL);
	}
	check_int_eq(parse(&cfg, "[cluster]\netcd = http://127.0.0.1:2379\nfloors = 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17\n"), 0);
	check_int_eq(es_config_floors(&cfg, names, ES_COMPANY_FLOORS_MAX), -EINVAL); /* at most 16 */
	expect_error("[cluster]\netcd = http://x y\n", "[cluster] etcd: expected letters, digits");
	expect_error("[cluster]\nttl_s = 0\n", "[cluster] ttl_s");
	/* a company stacks its floors: no tiling south beside it; listen 0.0.0.0 needs an address */
	check_int_eq(parse(&cfg, "[server]\nlisten = 0.0.0.0:7700\nfloor_tile_y = 2\nstate_dir = /tmp\n"
			       "[cluster]\netcd = http://127.0.0.1:2379\n"), 0);
	FILE *err = fmemopen(errbuf, sizeof(errbuf), "w");
	check(es_config_check(&cfg, err) < 0);
	fclose(err);
	check(strstr(errbuf, "floor_tile_y") && strstr(errbuf, "[cluster] address"));
}

int main(void)
{
	test_defaults();
	test_cluster();
	test_addr();
	test_good_file();
	test_bad_files();
	test_load();
	return 0;
}
