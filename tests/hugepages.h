/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hugepages.h - tests that need huge pages reserve them through
 * vm.nr_hugepages (root; CI is) and put the old value back.  The
 * setting is system-wide, and make check runs tests in parallel, so
 * whoever changes it holds an flock on one file for as long as its
 * assertions depend on it.
 */
#ifndef FSB_TEST_HUGEPAGES_H
#define FSB_TEST_HUGEPAGES_H

#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>

/* vm.nr_hugepages: read (@set < 0), or set; -1 when it cannot be. */
static inline long nr_hugepages(long set)
{
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", set < 0 ? "re" : "we");
	long v = -1;
	if (!f)
		return -1;
	if (set < 0) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
	} else {
		v = fprintf(f, "%ld\n", set) > 0 ? set : -1;
	}
	return fclose(f) == 0 ? v : -1;
}

/* HugePages_Total: persistent and surplus pages, in use or not. */
static inline long hugepages_total(void)
{
	long t = -1;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		sscanf(line, "HugePages_Total: %ld", &t);
	fclose(f);
	return t;
}

/* Take (and, with the fd, give back) the system's huge pages. */
static inline int hugepages_lock(void)
{
	int fd = open("/tmp/fsb-test-hugepages.lock", O_RDWR | O_CREAT | O_CLOEXEC,
		      0600);
	if (fd >= 0 && flock(fd, LOCK_EX) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static inline void hugepages_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

#endif /* FSB_TEST_HUGEPAGES_H */
