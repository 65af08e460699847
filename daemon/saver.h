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

/* Saves done and failed so far (tests, logs). */
void es_saver_counts(struct es_saver *sv, unsigned long *saves, unsigned long *failures);

#endif
