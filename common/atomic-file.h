/* SPDX-License-Identifier: MIT */
/*
 * Replacing a small file so that a crash or power cut at any moment leaves
 * either the whole old file or the whole new one, never a mixture: write
 * <dir>/<name>.tmp, fsync it, rename it over <dir>/<name>, fsync the
 * directory (so the rename itself is durable).  Shared by the daemon (state,
 * server key) and the client (identity key, pinned servers).
 */
#ifndef EARSHOT_ATOMIC_FILE_H
#define EARSHOT_ATOMIC_FILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Write len bytes of data as <dir>/<name> (mode for a new file; the
 * temporary is made afresh with it, O_EXCL, after removing any stale one,
 * so a secret is never readable by others, not even half-written).  dir must exist.  If prev is not NULL, the current
 * <dir>/<name> (if any) is first renamed to <dir>/<prev>, which keeps the
 * last complete file: between the two renames only <prev> exists, and a
 * reader must then fall back to it.  0 or -errno; on failure the temporary
 * is removed and <name> (and <prev>) are as before, except that a failure
 * of the final directory fsync is reported after the renames happened.
 */
__attribute__((warn_unused_result))
int es_write_atomic(const char *dir, const char *name, const void *data, size_t len, mode_t mode, const char *prev);

/*
 * A key file must be for its owner alone.  0 if the open file fd grants
 * group or others nothing; -EPERM if it does (its mode in *mode_out), and
 * whoever read it could act as its owner: the caller refuses it and says
 * how to fix that.  -errno if fstat fails.
 */
__attribute__((warn_unused_result))
int es_key_file_private(int fd, mode_t *mode_out);

#endif
