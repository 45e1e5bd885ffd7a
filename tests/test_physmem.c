/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_physmem.c - physical addresses from /proc/self/pagemap: a
 * touched page has one, an untouched one has none, offsets inside a
 * page carry over, and a range is called contiguous exactly when its
 * pages' own addresses say so.  Needs CAP_SYS_ADMIN (root: CI is);
 * without it every frame number reads 0 and the test says so.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "physmem.h"

#define PG 4096u
#define NPG 16u

static void test_addr(void **state)
{
	(void)state;
	uint8_t *m = mmap(NULL, NPG * PG, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	uint64_t pa, pb;
	/* never touched: no page, no address */
	assert_int_equal(fsb_physmem_addr(m, &pa), -ENOENT);
	for (unsigned i = 0; i < NPG; i++)
		m[i * PG] = (uint8_t)i;
	int rc = fsb_physmem_addr(m, &pa);
	if (rc == -EPERM && geteuid() != 0) {
		/* a non-root run: frame numbers are hidden, as documented */
		munmap(m, NPG * PG);
		skip();
	}
	assert_int_equal(rc, 0);
	assert_int_equal(pa % PG, 0);
	/* an offset inside the page carries over */
	assert_int_equal(fsb_physmem_addr(m + 100, &pb), 0);
	assert_int_equal(pb, pa + 100);
	/* within one page a range is always contiguous */
	assert_int_equal(fsb_physmem_contig(m + 8, PG - 8, &pb), 0);
	assert_int_equal(pb, pa + 8);
	/* across pages: contiguous exactly when each page follows the one
	 * before, as the pages' own addresses say */
	uint64_t p[NPG];
	for (unsigned i = 0; i < NPG; i++)
		assert_int_equal(fsb_physmem_addr(m + i * PG, &p[i]), 0);
	for (unsigned n = 2; n <= NPG; n++) {
		bool contig = true;
		for (unsigned i = 1; i < n; i++)
			contig &= p[i] == p[0] + i * PG;
		rc = fsb_physmem_contig(m + 1, n * PG - 1, &pb);
		assert_int_equal(rc, contig ? 0 : -ERANGE);
		assert_int_equal(pb, p[0] + 1);
	}
	/* a page given back is gone again */
	assert_int_equal(madvise(m + PG, PG, MADV_DONTNEED), 0);
	assert_int_equal(fsb_physmem_contig(m, 2 * PG, &pb), -ENOENT);
	munmap(m, NPG * PG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
