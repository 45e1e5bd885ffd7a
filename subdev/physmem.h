/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * physmem.h - physical addresses of our own memory, for a device that
 * has no IOMMU in front of it (UIO, VFIO no-IOMMU: issue 15; internal).
 *
 * Without an IOMMU a device addresses host memory by its physical
 * address.  Linux tells a process where its pages are through
 * /proc/self/pagemap, one 64-bit entry per 4 KiB virtual page: bit 63
 * "present", bits 0-54 the page frame number, which reads as 0 unless
 * the caller has CAP_SYS_ADMIN (since 4.2).  A frame number is only as
 * stable as the page under it: ordinary memory may be migrated or
 * swapped, so only pinned hugetlb memory (never swapped; not migrated
 * while mapped and pinned) may be given to a device this way, and only
 * a range that is physically contiguous may be given as one buffer.
 */
#ifndef FSB_PHYSMEM_H
#define FSB_PHYSMEM_H

#include <stddef.h>
#include <stdint.h>

/*
 * The physical address of the byte at @va, in *@pa.  0; -ENOENT (the
 * page is not present: touch it first); -EPERM (frame numbers hidden:
 * not CAP_SYS_ADMIN); -errno (pagemap could not be read).
 */
int fsb_physmem_addr(const void *va, uint64_t *pa);

/*
 * Is [@va, @va + @len) one physically contiguous range?  *@pa gets the
 * physical address of @va.  0 (contiguous); -ERANGE (it is not: a
 * device must not be given it as one buffer); the errors above.
 */
int fsb_physmem_contig(const void *va, size_t len, uint64_t *pa);

#endif /* FSB_PHYSMEM_H */
