/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * physmem.c - physical addresses from /proc/self/pagemap (see
 * physmem.h).
 *
 * One pread of 8 bytes per 4 KiB page asked about.  This is control
 * path only: a pool's regions are translated once, when a device that
 * needs physical addresses is given them, never per packet.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "physmem.h"

#define PM_PAGE 4096ull
#define PM_PRESENT (1ull << 63)
#define PM_PFN_MASK ((1ull << 55) - 1)

static int pagemap_entry(int fd, uintptr_t va, uint64_t *e)
{
	off_t off = (off_t)(va / PM_PAGE * sizeof(uint64_t));
	ssize_t n = pread(fd, e, sizeof(*e), off);
	if (n != (ssize_t)sizeof(*e))
		return n < 0 ? -errno : -EIO;
	if (!(*e & PM_PRESENT))
		return -ENOENT;
	if (!(*e & PM_PFN_MASK))
		return -EPERM;
	return 0;
}

int fsb_physmem_contig(const void *va, size_t len, uint64_t *pa)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	uintptr_t a = (uintptr_t)va;
	uint64_t e;
	int rc = pagemap_entry(fd, a, &e);
	if (rc == 0) {
		uint64_t first = (e & PM_PFN_MASK) * PM_PAGE;
		*pa = first + a % PM_PAGE;
		uintptr_t page0 = a - a % PM_PAGE;
		/* each following page must sit right after the one before */
		for (uintptr_t p = page0 + PM_PAGE; len && p < a + len; p += PM_PAGE) {
			rc = pagemap_entry(fd, p, &e);
			if (rc < 0)
				break;
			if ((e & PM_PFN_MASK) * PM_PAGE != first + (p - page0)) {
				rc = -ERANGE;
				break;
			}
		}
	}
	close(fd);
	return rc;
}

int fsb_physmem_addr(const void *va, uint64_t *pa)
{
	return fsb_physmem_contig(va, 1, pa);
}
