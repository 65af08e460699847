/* SPDX-License-Identifier: MIT */
/*
 * Background saving of the persistent state, so the tick thread never
 * waits for a disk.  The tick thread changes the state under
 * es_saver_lock() and calls es_saver_mark_dirty(); a thread of the saver's
 * own wakes at most once per interval, formats the state under the lock
 * (the only time it holds it: well under a millisecond for thousands of
 * people), and writes and fsyncs it without the lock.  A burst of changes
 * (a join storm, people walking) costs one save per interval.
 */
#ifndef EARSHOT_SAVER_H
#define EARSHOT_SAVER_H

#include "state.h"

struct es_saver;

/*
 * Start saving st (borrowed: it must outlive the saver, and be changed only
 * under es_saver_lock) to dir, at most once every interval_ms.  NULL with
 * errno set on failure.
 */
struct es_saver *es_saver_start(struct es_state_db *st, const char *dir, unsigned interval_ms);

/* Save what is dirty now, stop the thread and free it.  NULL is a no-op. */
void es_saver_stop(struct es_saver *sv);

void es_saver_lock(struct es_saver *sv);
void es_saver_unlock(struct es_saver *sv);

/* Call after changing the state, still holding es_saver_lock(). */
void es_saver_mark_dirty(struct es_saver *sv);

/*
 * A state file this process did not write (an admin's edit, a restored
 * backup) is never overwritten: saves wait (the state stays dirty, with a
 * warning in the log) until a reload has read it and calls es_saver_adopt.
 *
 * es_saver_base: a malloc'd copy (*len bytes, no NUL) of the file as last written or loaded
 * (what a reload compares the file on disk with); NULL on ENOMEM.
 * es_saver_adopt: text (len bytes, a whole state file: copied) is what is on
 * disk now and has been merged into the state: compare with it from now on
 * and let saves overwrite it again.  Both with es_saver_lock held.
 */
char *es_saver_base(struct es_saver *sv, size_t *len);
void es_saver_adopt(struct es_saver *sv, const char *text, size_t len);

/* Saves done and failed so far (tests, logs). */
void es_saver_counts(struct es_saver *sv, unsigned long *saves, unsigned long *failures);

#endif
