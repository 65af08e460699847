/* SPDX-License-Identifier: MIT */
#include "atomic-file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int es_write_atomic(const char *dir, const char *name, const void *data, size_t len, mode_t mode, const char *prev)
{
	char tmp[NAME_MAX + 1];
	int r, fd = -1;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", name) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	/*
	 * A temporary left by a crash keeps the mode it was made with (or one
	 * someone gave it): truncating it would write a secret into a file
	 * others may read.  Remove it and make a new one, exclusively, with
	 * our mode; O_NOFOLLOW and O_EXCL also refuse a link planted there.
	 */
	if (unlinkat(dirfd, tmp, 0) < 0 && errno != ENOENT) {
		r = -errno;
		goto err_dir;
	}
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		r = -errno;
		goto err_dir;
	}
	r = write_all(fd, data, len);
	if (r < 0)
		goto err_unlink;
	if (fsync(fd) < 0) {
		r = -errno;
		goto err_unlink;
	}
	r = close(fd);
	fd = -1;
	if (r < 0) {
		r = -errno;
		goto err_unlink;
	}
	if (prev && renameat(dirfd, name, dirfd, prev) < 0 && errno != ENOENT) {
		r = -errno;
		goto err_unlink;
	}
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		r = -errno;
		goto err_unlink;
	}
	r = fsync(dirfd) < 0 ? -errno : 0;
	close(dirfd);
	return r;

err_unlink:
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmp, 0);
err_dir:
	close(dirfd);
	return r;
}

int es_key_file_private(int fd, mode_t *mode_out)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	*mode_out = st.st_mode & 07777;
	return st.st_mode & 077 ? -EPERM : 0;
}
