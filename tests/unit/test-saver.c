/* SPDX-License-Identifier: MIT */
/*
 * The background saver: a burst of changes becomes few saves, the last
 * change is always on disk after stop, and the lock protects the state.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "saver.h"
#include "test.h"

int main(void)
{
	char dir[] = "/tmp/test-saver-XXXXXX";
	check(mkdtemp(dir));
	es_log_set_fd(open("/dev/null", O_WRONLY));
	struct es_state_db *st = es_state_new();
	check(st);
	struct es_saver *sv = es_saver_start(st, dir, 50);
	check(sv);

	/* 1000 changes in a burst */
	for (int i = 0; i < 1000; i++) {
		struct es_person p = { 0 };
		memcpy(p.key, &i, sizeof(i));
		snprintf(p.name, sizeof(p.name), "p%d", i);
		es_saver_lock(sv);
		check_int_eq(es_state_put(st, &p), 0);
		es_saver_mark_dirty(sv);
		es_saver_unlock(sv);
		if (i % 100 == 0)
			usleep(10000);
	}
	usleep(200000);
	unsigned long saves, failures;
	es_saver_counts(sv, &saves, &failures);
	check_int_eq(failures, 0);
	check(saves >= 1 && saves <= 10);

	/* one more change right before stop is saved by stop */
	struct es_person last = { 0 };
	memset(last.key, 0xee, sizeof(last.key));
	snprintf(last.name, sizeof(last.name), "last");
	es_saver_lock(sv);
	check_int_eq(es_state_put(st, &last), 0);
	es_saver_mark_dirty(sv);
	es_saver_unlock(sv);
	es_saver_stop(sv);
	es_saver_stop(NULL);

	struct es_state_db *back = NULL;
	check_int_eq(es_state_load(dir, &back), 0);
	check(es_state_equal(st, back));
	check_int_eq(es_state_person_count(back), 1001);
	es_state_free(back);

	/*
	 * A state file someone else put there is not overwritten, not even by
	 * the final save, until it has been adopted (a SIGHUP's reload).
	 */
	sv = es_saver_start(st, dir, 20);
	check(sv);
	struct es_state_db *other = es_state_new();
	check(other);
	struct es_person o = { 0 };
	memset(o.key, 0x0b, sizeof(o.key));
	snprintf(o.name, sizeof(o.name), "edited");
	check_int_eq(es_state_put(other, &o), 0);
	size_t olen;
	char *otext = es_state_format(other, &olen);
	check(otext);
	check_int_eq(es_state_write(dir, otext, olen, true), 0);
	es_saver_lock(sv);
	es_saver_mark_dirty(sv);
	es_saver_unlock(sv);
	usleep(150000);
	check_int_eq(es_state_load(dir, &back), 0);
	check(es_state_equal(other, back)); /* still the edited file */
	es_state_free(back);
	es_saver_lock(sv);
	size_t blen;
	char *base = es_saver_base(sv, &blen);
	check(base && blen > 0 && !memmem(base, blen, "edited", 6)); /* the base is what this saver wrote */
	free(base);
	es_saver_adopt(sv, otext, olen);
	base = es_saver_base(sv, &blen);
	check(base && blen == olen && memcmp(base, otext, olen) == 0);
	free(base);
	es_saver_mark_dirty(sv);
	es_saver_unlock(sv);
	es_saver_stop(sv);
	check_int_eq(es_state_load(dir, &back), 0);
	check(es_state_equal(st, back)); /* adopted: saved over again */
	es_state_free(back);
	es_state_free(other);
	free(otext);
	es_state_free(st);

	char path[128];
	snprintf(path, sizeof(path), "%s/state", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/state.prev", dir);
	unlink(path);
	rmdir(dir);
	return 0;
}
