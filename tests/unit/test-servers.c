/* SPDX-License-Identifier: MIT */
/*
 * The client's list of a company's daemons (client/servers.h): parsed from
 * --server A,B,C, each once, at most 8, the first first; redirects add to
 * it without ever pushing out the first (the company's, under which the
 * key is pinned); a lost daemon is followed by the next at once, the lost
 * one last, and only a whole round of failures asks for a backoff.
 */
#include <errno.h>
#include <string.h>

#include "servers.h"
#include "test.h"

static void test_parse(void)
{
	struct es_servers l;
	char buf[1024];
	check_int_eq(es_servers_parse(&l, "a:1"), 0);
	check_int_eq(l.n, 1);
	check(strcmp(es_servers_current(&l), "a:1") == 0);
	/* repeated ones kept once, in the order first given; empty items skipped */
	check_int_eq(es_servers_parse(&l, "a:1,b:2,,a:1,c:3,b:2,"), 0);
	check_int_eq(l.n, 3);
	check(strcmp(es_servers_join(&l, buf, sizeof(buf)), "a:1,b:2,c:3") == 0);
	check_int_eq(l.cur, 0);
	/* eight distinct: fine; nine: refused, not cut */
	check_int_eq(es_servers_parse(&l, "a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1,a:1"), 0);
	check_int_eq(l.n, 8);
	check_int_eq(es_servers_parse(&l, "a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1,i:1"), -E2BIG);
	check_int_eq(l.n, 0);
	/* bad items */
	check_int_eq(es_servers_parse(&l, ""), -EINVAL);
	check_int_eq(es_servers_parse(&l, ",,"), -EINVAL);
	check_int_eq(es_servers_parse(&l, "a:1,b 2"), -EINVAL);
	check_int_eq(es_servers_parse(&l, "a:1,b\t2"), -EINVAL);
	check_int_eq(es_servers_parse(&l, "a:1,\x7f:2"), -EINVAL);
	char longest[200];
	memset(longest, 'h', 93);
	memcpy(longest + 93, ":1", 3); /* 95 bytes */
	check_int_eq(es_servers_parse(&l, longest), 0);
	memset(longest, 'h', 94);
	memcpy(longest + 94, ":1", 3); /* 96 bytes */
	check_int_eq(es_servers_parse(&l, longest), -EINVAL);
	check(!es_server_addr_ok("a,b", 3));
	check(es_server_addr_ok("[::1]:7700", 10));
}

static void test_add(void)
{
	struct es_servers l;
	check_int_eq(es_servers_parse(&l, "a:1,b:2"), 0);
	check_int_eq(es_servers_add(&l, "b:2", false), 1);
	check_int_eq(es_servers_add(&l, "c:3", false), 2);
	check_int_eq(es_servers_find(&l, "c:3"), 2);
	check_int_eq(es_servers_find(&l, "d:4"), -1);
	check_int_eq(es_servers_add(&l, "", false), -EINVAL);
	check_int_eq(es_servers_add(&l, "x y:1", true), -EINVAL);
	for (char c = 'd'; c <= 'h'; c++) {
		char a[4] = {c, ':', '1', 0};
		check(es_servers_add(&l, a, false) >= 0);
	}
	check_int_eq(l.n, 8);
	check_int_eq(es_servers_add(&l, "i:1", false), -ENOSPC);
	/* a redirect's target always finds room, never in place of the company's first address */
	check_int_eq(es_servers_add(&l, "i:1", true), 7);
	check(strcmp(l.addr[0], "a:1") == 0 && strcmp(l.addr[7], "i:1") == 0);
	check_int_eq(es_servers_add(&l, "j:1", true), 7);
	check(strcmp(l.addr[0], "a:1") == 0);
}

static void test_round_robin(void)
{
	struct es_servers l;
	/* one address: every loss is a whole round (the backoff, as always) */
	check_int_eq(es_servers_parse(&l, "a:1"), 0);
	check(es_servers_lost(&l));
	check(es_servers_lost(&l));
	check(strcmp(es_servers_current(&l), "a:1") == 0);

	/* three: on c lost, a then b at once, c last; the round over, a backoff; then again from c */
	check_int_eq(es_servers_parse(&l, "a:1,b:1,c:1"), 0);
	l.cur = 2; /* on c (a redirect sent us there) */
	es_servers_ok(&l);
	check(!es_servers_lost(&l));
	check(strcmp(es_servers_current(&l), "a:1") == 0);
	check(!es_servers_lost(&l));
	check(strcmp(es_servers_current(&l), "b:1") == 0);
	check(es_servers_lost(&l)); /* a, b and c all failed in a row: back off */
	check(strcmp(es_servers_current(&l), "c:1") == 0);
	check(!es_servers_lost(&l));
	check(strcmp(es_servers_current(&l), "a:1") == 0);
	/* admitted on a: a new round; losing a tries b, c, then a last */
	es_servers_ok(&l);
	const char *want[] = {"b:1", "c:1", "a:1"};
	for (unsigned i = 0; i < 3; i++) {
		bool round = es_servers_lost(&l);
		check(round == (i == 2));
		check(strcmp(es_servers_current(&l), want[i]) == 0);
	}
}

int main(void)
{
	test_parse();
	test_add();
	test_round_robin();
	return 0;
}
