/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_mempool.c - memfd-backed pools and their per-thread caches.
 *
 * Helper threads never call cmocka asserts (a failed assert longjmps
 * across threads): they count problems, and the test thread checks the
 * counts after pthread_join.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsb_private.h"
#include "hugepages.h"
#include "ring.h"

/* ------------------------------------------------------------------ */
/* Fixtures                                                            */
/* ------------------------------------------------------------------ */

static char last_log[512];
static unsigned n_err_logs;

static void capture_log(void *arg, enum fsb_log_level level, const char *msg)
{
	(void)arg;
	if (level <= FSB_LOG_ERR)
		n_err_logs++;
	snprintf(last_log, sizeof(last_log), "%s", msg);
}

static int setup(void **state)
{
	struct fsb_ctx *ctx = fsb_ctx_new();

	if (!ctx)
		return -1;
	last_log[0] = '\0';
	n_err_logs = 0;
	fsb_ctx_set_log(ctx, capture_log, NULL, FSB_LOG_DEBUG);
	*state = ctx;
	return 0;
}

static int teardown(void **state)
{
	fsb_ctx_free(*state);
	return 0;
}

/* Buffers in no cache: in the ring, or never handed out yet. */
static uint64_t ring_count(struct fsb_mempool *mp)
{
	return fsb_mpmc_count(mp->free_ring) + mp->n - atomic_load(&mp->fresh);
}

/* ------------------------------------------------------------------ */
/* Create, free, bad arguments                                         */
/* ------------------------------------------------------------------ */

static void test_create_free(void **state)
{
	struct fsb_ctx *ctx = *state;
	struct fsb_mempool *mp;

	mp = fsb_mempool_create(ctx, "pool0", 100, 2048, 32, -1);
	assert_non_null(mp);
	assert_string_equal(mp->name, "pool0");
	assert_int_equal(mp->n, 100);
	assert_int_equal(mp->data_room, 2048);
	assert_int_equal(mp->cache_size, 32);
	assert_int_equal(mp->flush_threshold, 48);
	assert_ptr_equal(ctx->pools[mp->id], mp);
	assert_int_equal(fsb_mempool_avail(mp), 100);
	assert_int_equal(fsb_mempool_free(mp), 0);

	/* The name is free again, and gens never repeat. */
	mp = fsb_mempool_create(ctx, "pool0", 1, 256, 0, 0);
	assert_non_null(mp);
	uint64_t gen = mp->gen;
	assert_int_equal(fsb_mempool_free(mp), 0);
	mp = fsb_mempool_create(ctx, "pool0", 1, 256, 0, -1);
	assert_non_null(mp);
	assert_true(mp->gen > gen);
	assert_int_equal(fsb_mempool_free(mp), 0);

	assert_int_equal(fsb_mempool_free(NULL), 0);
	for (unsigned i = 0; i < FSB_MAX_POOLS; i++)
		assert_null(ctx->pools[i]);
}

#define assert_create_fails(err, ...)                                   \
	do {                                                            \
		errno = 0;                                              \
		struct fsb_mempool *mp_ = fsb_mempool_create(__VA_ARGS__); \
		int errno_ = errno;                                     \
		assert_null(mp_);                                       \
		assert_int_equal(errno_, (err));                        \
	} while (0)

static void test_bad_args(void **state)
{
	struct fsb_ctx *ctx = *state;
	char longname[FSB_NAME_MAX + 1];

	memset(longname, 'a', FSB_NAME_MAX);
	longname[FSB_NAME_MAX] = '\0';           /* 32 chars: one too many */

	assert_create_fails(EINVAL, NULL, "p", 10, 2048, 0, -1);
	assert_create_fails(EINVAL, ctx, NULL, 10, 2048, 0, -1);
	assert_create_fails(EINVAL, ctx, "", 10, 2048, 0, -1);
	assert_create_fails(EINVAL, ctx, longname, 10, 2048, 0, -1);
	assert_create_fails(EINVAL, ctx, "p", 0, 2048, 0, -1);
	assert_create_fails(EINVAL, ctx, "p", (1u << 24) + 1, 2048, 0, -1);
	assert_create_fails(EINVAL, ctx, "p", 10, FSB_BUF_HEADROOM, 0, -1);
	assert_create_fails(EINVAL, ctx, "p", 10, 0, 0, -1);
	assert_create_fails(EINVAL, ctx, "p", 10, 2048,
			    FSB_MEMPOOL_CACHE_MAX + 1, -1);
	assert_create_fails(EINVAL, ctx, "p", 10, 2048, 0, -2);
	assert_create_fails(EINVAL, ctx, "p", 10, 2048, 0, INT_MAX);

	/* 31 chars, the maximum, and the limits of n/data_room/cache. */
	longname[FSB_NAME_MAX - 1] = '\0';
	struct fsb_mempool *mp = fsb_mempool_create(ctx, longname, 1,
						    FSB_BUF_HEADROOM + 1,
						    FSB_MEMPOOL_CACHE_MAX, -1);
	assert_non_null(mp);
	assert_int_equal(fsb_mempool_free(mp), 0);

	/* Duplicate name. */
	mp = fsb_mempool_create(ctx, "dup", 10, 2048, 0, -1);
	assert_non_null(mp);
	assert_create_fails(EEXIST, ctx, "dup", 10, 2048, 0, -1);
	assert_int_equal(fsb_mempool_free(mp), 0);

	/* 2^24 buffers of 64 KiB need far more than 4 regions of 1 GiB:
	 * ENOMEM, logged, before anything is mapped. */
	n_err_logs = 0;
	assert_create_fails(ENOMEM, ctx, "huge", 1u << 24, UINT16_MAX, 0, -1);
	assert_true(n_err_logs >= 1);
	assert_non_null(strstr(last_log, "regions"));

	/* A full pool table. */
	struct fsb_mempool *pools[FSB_MAX_POOLS];
	for (unsigned i = 0; i < FSB_MAX_POOLS; i++) {
		char name[16];
		snprintf(name, sizeof(name), "t%u", i);
		pools[i] = fsb_mempool_create(ctx, name, 1, 256, 0, -1);
		assert_non_null(pools[i]);
	}
	assert_create_fails(ENOSPC, ctx, "onemore", 1, 256, 0, -1);
	for (unsigned i = 0; i < FSB_MAX_POOLS; i++)
		assert_int_equal(fsb_mempool_free(pools[i]), 0);
}

/* ------------------------------------------------------------------ */
/* Exhaustion                                                          */
/* ------------------------------------------------------------------ */

static void exhaust(struct fsb_ctx *ctx, unsigned cache_size)
{
	enum { N = 64 };
	struct fsb_buf *b[N + 1];
	struct fsb_mempool *mp;

	mp = fsb_mempool_create(ctx, "exh", N, 512, cache_size, -1);
	assert_non_null(mp);

	for (unsigned i = 0; i < N; i++) {
		b[i] = fsb_buf_alloc(mp);
		assert_non_null(b[i]);
		for (unsigned j = 0; j < i; j++)
			assert_ptr_not_equal(b[i], b[j]);
		assert_int_equal(fsb_mempool_avail(mp), N - i - 1);
	}
	errno = 0;
	assert_null(fsb_buf_alloc(mp));
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(fsb_buf_alloc_bulk(mp, b + N, 1), -ENOBUFS);
	fsb_buf_free_bulk(b, N);
	assert_int_equal(fsb_mempool_avail(mp), N);

	/* All or nothing. */
	assert_int_equal(fsb_buf_alloc_bulk(mp, b, N + 1), -ENOBUFS);
	assert_int_equal(fsb_mempool_avail(mp), N);
	assert_int_equal(fsb_buf_alloc_bulk(mp, b, 10), 0);
	assert_int_equal(fsb_mempool_avail(mp), N - 10);
	assert_int_equal(fsb_buf_alloc_bulk(mp, b + 10, N - 9), -ENOBUFS);
	assert_int_equal(fsb_mempool_avail(mp), N - 10);
	assert_int_equal(fsb_buf_alloc_bulk(mp, b + 10, N - 10), 0);
	assert_int_equal(fsb_mempool_avail(mp), 0);
	for (unsigned i = 0; i < N; i++)
		for (unsigned j = 0; j < i; j++)
			assert_ptr_not_equal(b[i], b[j]);
	assert_int_equal(fsb_buf_alloc_bulk(mp, b + N, 1), -ENOBUFS);
	assert_int_equal(fsb_buf_alloc_bulk(mp, b + N, 0), 0);

	/* Free one at a time, then everything is back. */
	for (unsigned i = 0; i < N; i++)
		fsb_buf_free(b[i]);
	assert_int_equal(fsb_mempool_avail(mp), N);
	assert_int_equal(fsb_mempool_free(mp), 0);
}

static void test_exhaustion(void **state)
{
	exhaust(*state, 8);
}

static void test_exhaustion_big_cache(void **state)
{
	/* A cache deeper than the pool: one thread may hold all of it. */
	exhaust(*state, 256);
}

static void test_no_cache(void **state)
{
	struct fsb_ctx *ctx = *state;

	exhaust(ctx, 0);

	struct fsb_mempool *mp = fsb_mempool_create(ctx, "nc", 16, 256, 0, -1);
	assert_non_null(mp);
	struct fsb_buf *b = fsb_buf_alloc(mp);
	assert_non_null(b);
	assert_int_equal(ring_count(mp), 15);
	fsb_buf_free(b);
	assert_int_equal(ring_count(mp), 16);   /* straight back to the ring */
	assert_null(mp->caches);
	assert_int_equal(fsb_mempool_free(mp), 0);
}

static void test_flush_threshold(void **state)
{
	enum { N = 1000, CACHE = 32 };
	static struct fsb_buf *b[N];
	struct fsb_mempool *mp;

	mp = fsb_mempool_create(*state, "flush", N, 256, CACHE, -1);
	assert_non_null(mp);
	assert_int_equal(fsb_buf_alloc_bulk(mp, b, N), 0);
	assert_int_equal(ring_count(mp), 0);
	fsb_buf_free_bulk(b, N);
	/* At most flush_threshold stay in this thread's cache. */
	assert_true(ring_count(mp) >= N - mp->flush_threshold);
	assert_int_equal(fsb_mempool_avail(mp), N);
	for (unsigned i = 0; i < N; i++) {
		b[i] = fsb_buf_alloc(mp);
		assert_non_null(b[i]);
	}
	for (unsigned i = 0; i < N; i++) {
		fsb_buf_free(b[i]);
		assert_true(ring_count(mp) + mp->flush_threshold >= i + 1);
	}
	assert_int_equal(fsb_mempool_avail(mp), N);
	assert_int_equal(fsb_mempool_free(mp), 0);
}

/* ------------------------------------------------------------------ */
/* Layout                                                              */
/* ------------------------------------------------------------------ */

static void test_layout(void **state)
{
	enum { N = 33, ROOM = 2000 };
	struct fsb_buf *b[N];
	struct fsb_mempool *mp;

	mp = fsb_mempool_create(*state, "lay", N, ROOM, 4, -1);
	assert_non_null(mp);
	assert_int_equal(mp->elt_size % FSB_CACHE_LINE, 0);
	assert_true(mp->elt_size >= FSB_BUF_HDR_SIZE + ROOM);
	assert_true(FSB_BUF_HDR_SIZE >= sizeof(struct fsb_buf));
	assert_int_equal(FSB_BUF_HDR_SIZE % FSB_CACHE_LINE, 0);

	assert_int_equal(fsb_buf_alloc_bulk(mp, b, N), 0);
	for (unsigned i = 0; i < N; i++) {
		assert_ptr_equal(b[i]->pool, mp);
		assert_int_equal((uintptr_t)b[i] % FSB_CACHE_LINE, 0);
		assert_ptr_equal(b[i]->buf_addr,
				 (char *)b[i] + FSB_BUF_HDR_SIZE);
		assert_int_equal((uintptr_t)b[i]->buf_addr % FSB_CACHE_LINE, 0);
		assert_int_equal(b[i]->buf_len, ROOM);
		assert_int_equal(b[i]->data_off, 128);
		assert_int_equal(b[i]->data_off, FSB_BUF_HEADROOM);
		assert_int_equal(b[i]->data_len, 0);
		assert_int_equal(b[i]->pkt_len, 0);
		assert_int_equal(b[i]->nb_segs, 1);
		assert_null(b[i]->next);
		assert_ptr_equal(fsb_buf_data(b[i]),
				 (char *)b[i]->buf_addr + 128);
		assert_int_equal((uintptr_t)fsb_buf_data(b[i]) %
				 FSB_CACHE_LINE, 0);
		assert_int_equal(fsb_buf_tailroom(b[i]), ROOM - 128);
		/* The whole data room is ours and inside the pool. */
		memset(b[i]->buf_addr, 0xa5, b[i]->buf_len);
		assert_true(fsb_mempool_owns(mp, b[i]));
		assert_true(fsb_mempool_owns(mp, (char *)b[i]->buf_addr +
					     b[i]->buf_len - 1));
	}
	/* Elements do not overlap. */
	for (unsigned i = 0; i < N; i++)
		for (unsigned j = 0; j < N; j++)
			if (i != j)
				assert_true((char *)b[i] + mp->elt_size <=
					    (char *)b[j] ||
					    (char *)b[j] + mp->elt_size <=
					    (char *)b[i]);
	/* Headers survived the data writes of the neighbours. */
	for (unsigned i = 0; i < N; i++)
		assert_ptr_equal(b[i]->pool, mp);
	fsb_buf_free_bulk(b, N);
	assert_int_equal(fsb_mempool_free(mp), 0);
}

static void test_reset_on_alloc(void **state)
{
	struct fsb_mempool *mp = fsb_mempool_create(*state, "rst", 1, 512, 4, -1);
	assert_non_null(mp);

	struct fsb_buf *b = fsb_buf_alloc(mp);
	assert_non_null(b);
	b->data_off = 0;
	b->data_len = 60;
	b->pkt_len = 60;
	b->nb_segs = 3;
	b->port = 7;
	b->queue = 2;
	fsb_buf_free(b);

	struct fsb_buf *b2 = fsb_buf_alloc(mp);
	assert_ptr_equal(b2, b);                /* n = 1 */
	assert_int_equal(b2->data_off, FSB_BUF_HEADROOM);
	assert_int_equal(b2->data_len, 0);
	assert_int_equal(b2->pkt_len, 0);
	assert_int_equal(b2->nb_segs, 1);
	assert_int_equal(b2->port, UINT16_MAX);
	assert_int_equal(b2->queue, 0);
	assert_int_equal(b2->buf_len, 512);
	fsb_buf_free(b2);
	assert_int_equal(fsb_mempool_free(mp), 0);
}

/* ------------------------------------------------------------------ */
/* Regions                                                             */
/* ------------------------------------------------------------------ */

static void test_regions(void **state)
{
	enum { N = 300 };
	struct fsb_mem_region r[FSB_MEMPOOL_MAX_REGIONS];
	struct fsb_buf *b[N];
	struct fsb_mempool *mp;
	uint64_t total = 0;
	int nr;

	mp = fsb_mempool_create(*state, "reg", N, 2048, 16, 0);
	assert_non_null(mp);

	nr = fsb_mempool_regions(mp, NULL, 0);
	assert_true(nr >= 1 && nr <= FSB_MEMPOOL_MAX_REGIONS);
	assert_int_equal(nr, 1);                /* a small pool is one region */
	assert_int_equal(fsb_mempool_regions(mp, r, FSB_ARRAY_SIZE(r)), nr);

	for (int i = 0; i < nr; i++) {
		struct stat st;

		assert_true(r[i].fd >= 0);
		assert_true(fcntl(r[i].fd, F_GETFD) & FD_CLOEXEC);
		assert_int_equal(fstat(r[i].fd, &st), 0);
		assert_true((uint64_t)st.st_size >= r[i].offset + r[i].size);
		assert_non_null(r[i].addr);
		total += r[i].size;
	}
	assert_true(total >= (uint64_t)N * mp->elt_size);

	assert_int_equal(fsb_buf_alloc_bulk(mp, b, N), 0);
	for (unsigned i = 0; i < N; i++) {
		assert_true(fsb_mempool_owns(mp, b[i]));
		assert_true(fsb_mempool_owns(mp, (char *)b[i] + mp->elt_size - 1));
	}
	int local;
	assert_false(fsb_mempool_owns(mp, &local));
	assert_false(fsb_mempool_owns(mp, NULL));
	assert_false(fsb_mempool_owns(mp, (char *)r[0].addr + r[0].size));

	/* Shareable: a second mapping of the fd, as a vhost-user backend
	 * makes it, sees and makes the same bytes. */
	struct fsb_buf *x = b[N / 2];
	uint64_t off = r[0].offset;
	void *peer = mmap(NULL, r[0].size, PROT_READ | PROT_WRITE, MAP_SHARED,
			  r[0].fd, (off_t)off);
	assert_true(peer != MAP_FAILED);
	uintptr_t rel = (uintptr_t)fsb_buf_data(x) - (uintptr_t)r[0].addr;
	assert_true(rel < r[0].size);
	memcpy((char *)peer + rel, "vhost-user", 11);
	assert_string_equal((char *)fsb_buf_data(x), "vhost-user");
	memcpy(fsb_buf_data(x), "from pool", 10);
	assert_string_equal((char *)peer + rel, "from pool");
	assert_int_equal(munmap(peer, r[0].size), 0);

	fsb_buf_free_bulk(b, N);
	assert_int_equal(fsb_mempool_free(mp), 0);
}

/* Pages of @r that are in memory (mincore: for a memfd, allocated in
 * its page cache). */
static unsigned resident_pages(const struct fsb_mem_region *r)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t npg = (r->size + (size_t)pg - 1) / (size_t)pg;
	unsigned char *vec = calloc(npg, 1);
	assert_non_null(vec);
	assert_int_equal(mincore(r->addr, r->size, vec), 0);
	unsigned n = 0;
	for (size_t i = 0; i < npg; i++)
		n += vec[i] & 1;
	free(vec);
	return n;
}

/* An idle pool costs nothing to migrate: creation writes no element,
 * and a pool touches only as many pages as the traffic ever held. */
static void test_untouched_until_used(void **state)
{
	enum { N = 4096 };
	struct fsb_mem_region r;
	struct fsb_buf *b[64];
	struct fsb_mempool *mp = fsb_mempool_create(*state, "lazy", N, 2048, 32, -1);
	assert_non_null(mp);
	assert_int_equal(fsb_mempool_regions(mp, &r, 1), 1);
	/* hugetlb pages are reserved whole at mmap time: residency says
	 * nothing there, the rest of the test still holds */
	bool count = !r.hugetlb;
	if (count)
		assert_int_equal(resident_pages(&r), 0);
	assert_int_equal(fsb_mempool_avail(mp), N);
	/* 100 rounds of 64 buffers: the same few pages every time */
	for (int round = 0; round < 100; round++) {
		assert_int_equal(fsb_buf_alloc_bulk(mp, b, 64), 0);
		for (int i = 0; i < 64; i++) {
			assert_ptr_equal(b[i]->pool, mp);
			assert_int_equal(b[i]->buf_len, 2048);
			memset(fsb_buf_data(b[i]), 0xa5, 64);
		}
		fsb_buf_free_bulk(b, 64);
	}
	unsigned elt_pages = (unsigned)((64 + 32 * 3 / 2 + 1) *
		(FSB_BUF_HDR_SIZE + 2048) / 4096 + 2);
	if (count)
		assert_true(resident_pages(&r) <= elt_pages);
	assert_int_equal(fsb_mempool_avail(mp), N);
	/* and every element is still there to be had, each once */
	struct fsb_buf **all = calloc(N, sizeof(*all));
	assert_non_null(all);
	assert_int_equal(fsb_buf_alloc_bulk(mp, all, N), 0);
	assert_int_equal(fsb_mempool_avail(mp), 0);
	assert_null(fsb_buf_alloc(mp));
	for (unsigned i = 0; i < N; i++) {
		assert_true((char *)all[i] >= (char *)r.addr &&
			    (char *)all[i] < (char *)r.addr + r.size);
		for (unsigned j = i + 1; j < N && j < i + 8; j++)
			assert_ptr_not_equal(all[i], all[j]);
	}
	fsb_buf_free_bulk(all, N);
	free(all);
	assert_int_equal(fsb_mempool_avail(mp), N);
	assert_int_equal(fsb_mempool_free(mp), 0);
}

/*
 * FSB_MEMPOOL_F_HUGETLB: no pool without huge pages (and one line that
 * says so), every region on them otherwise; and in a pool on huge
 * pages no buffer, header to tailroom, crosses a page boundary, which
 * is what lets a device without an IOMMU see each one at a physical
 * address.  Sets vm.nr_hugepages (root; CI is) and puts it back.
 */
static void test_hugetlb_required(void **state)
{
	int lk = hugepages_lock();
	assert_true(lk >= 0);
	long saved = nr_hugepages(-1);
	assert_true(saved >= 0);
	assert_int_equal(nr_hugepages(0), 0);
	struct fsb_mempool *mp;
	errno = 0;
	mp = fsb_mempool_create_flags(*state, "huge0", 64, 2048, 0, -1,
				      FSB_MEMPOOL_F_HUGETLB);
	/* pages another process holds would still count as free here:
	 * none may be free */
	assert_null(mp);
	assert_int_equal(errno, ENOMEM);
	assert_non_null(strstr(last_log, "mempool huge0 needs hugepages"));
	mp = fsb_mempool_create_flags(*state, "huge0", 64, 2048, 0, -1, 0x80);
	assert_null(mp);
	assert_int_equal(errno, EINVAL);

	enum { N = 2500, ROOM = 2048 };
	/* tests alongside may take free pages for their pools: more, and
	 * again, until ours has its 3 */
	mp = NULL;
	for (long more = 6; !mp && more <= 30; more += 6) {
		if (nr_hugepages(hugepages_total() + more) < 0) {
			nr_hugepages(saved);
			hugepages_unlock(lk);
			fail_msg("cannot reserve huge pages (vm.nr_hugepages)");
		}
		mp = fsb_mempool_create_flags(*state, "huge1", N, ROOM, 0, -1,
					      FSB_MEMPOOL_F_HUGETLB);
	}
	if (!mp)
		nr_hugepages(saved);
	assert_non_null(mp);
	struct fsb_mem_region r;
	assert_int_equal(fsb_mempool_regions(mp, &r, 1), 1);
	assert_true(r.hugetlb);
	assert_int_equal(mp->elt_page, 2u << 20);
	assert_int_equal(r.size % mp->elt_page, 0);
	struct fsb_buf **all = calloc(N, sizeof(*all));
	assert_non_null(all);
	assert_int_equal(fsb_buf_alloc_bulk(mp, all, N), 0);
	unsigned per_page[8] = { 0 };
	for (unsigned i = 0; i < N; i++) {
		uintptr_t lo = (uintptr_t)all[i] - (uintptr_t)r.addr;
		uintptr_t hi = (uintptr_t)all[i]->buf_addr + all[i]->buf_len - 1 -
			(uintptr_t)r.addr;
		assert_true(hi < r.size);
		assert_int_equal(lo / mp->elt_page, hi / mp->elt_page);
		per_page[lo / mp->elt_page]++;
	}
	/* as many to a page as fit */
	assert_int_equal(per_page[0], (2u << 20) / mp->elt_size);
	fsb_buf_free_bulk(all, N);
	free(all);
	/* more than is free: refused, with the count */
	struct fsb_mempool *big = fsb_mempool_create_flags(*state, "huge2", 200000,
							   ROOM, 0, -1,
							   FSB_MEMPOOL_F_HUGETLB);
	assert_null(big);
	assert_int_equal(errno, ENOMEM);
	assert_non_null(strstr(last_log, "needs hugepages"));
	assert_non_null(strstr(last_log, "free"));
	assert_int_equal(fsb_mempool_free(mp), 0);
	nr_hugepages(saved);
	hugepages_unlock(lk);
}

static void test_regions_many(void **state)
{
	/* 64 KiB elements: 16368 fit in 1 GiB.  Two full regions and one
	 * more element make three regions; only the headers are touched
	 * (a page per element, 128 MiB). */
	const unsigned per = (1u << 30) / (FSB_BUF_HDR_SIZE + UINT16_MAX + 1);
	struct fsb_mem_region r[FSB_MEMPOOL_MAX_REGIONS];
	struct fsb_mempool *mp;

	mp = fsb_mempool_create(*state, "big2", 2 * per, UINT16_MAX, 0, -1);
	assert_non_null(mp);
	assert_int_equal(mp->elt_size, FSB_BUF_HDR_SIZE + UINT16_MAX + 1);
	assert_int_equal(fsb_mempool_regions(mp, r, FSB_ARRAY_SIZE(r)), 2);
	assert_int_equal(fsb_mempool_free(mp), 0);

	mp = fsb_mempool_create(*state, "big3", 2 * per + 1, UINT16_MAX, 0, -1);
	assert_non_null(mp);
	memset(r, 0xff, sizeof(r));
	/* max = 1 copies one region and still returns the count. */
	assert_int_equal(fsb_mempool_regions(mp, r, 1), 3);
	assert_true(r[0].fd >= 0);
	assert_int_equal(r[1].fd, -1);          /* not written */
	assert_int_equal(fsb_mempool_regions(mp, r, FSB_ARRAY_SIZE(r)), 3);
	uint64_t total = 0;
	for (unsigned i = 0; i < 3; i++) {
		assert_true(r[i].size <= (1ull << 30));
		assert_true(r[i].fd >= 0);
		for (unsigned j = 0; j < i; j++)
			assert_true(r[i].fd != r[j].fd);
		total += r[i].size;
	}
	assert_true(total >= (uint64_t)(2 * per + 1) * mp->elt_size);
	/* The last element sits alone in the third region. */
	struct fsb_buf *b[1];
	assert_int_equal(fsb_buf_alloc_bulk(mp, b, 1), 0);
	assert_ptr_equal(b[0], r[0].addr);      /* FIFO ring: first element */
	fsb_buf_free(b[0]);
	assert_int_equal(fsb_mempool_free(mp), 0);
}

/* ------------------------------------------------------------------ */
/* -EBUSY, chains, mixed pools                                         */
/* ------------------------------------------------------------------ */

static void test_ebusy(void **state)
{
	struct fsb_mempool *mp = fsb_mempool_create(*state, "busy", 8, 256, 4, -1);
	assert_non_null(mp);

	struct fsb_buf *b = fsb_buf_alloc(mp);
	assert_non_null(b);
	assert_int_equal(fsb_mempool_free(mp), -EBUSY);
	/* Nothing was freed: the pool still works. */
	assert_ptr_equal(((struct fsb_ctx *)*state)->pools[mp->id], mp);
	struct fsb_buf *c = fsb_buf_alloc(mp);
	assert_non_null(c);
	c->data_len = 1;
	fsb_buf_free(c);
	assert_int_equal(fsb_mempool_avail(mp), 7);
	fsb_buf_free(b);
	assert_int_equal(fsb_mempool_free(mp), 0);
}

static void test_chain_free(void **state)
{
	struct fsb_ctx *ctx = *state;
	struct fsb_mempool *a = fsb_mempool_create(ctx, "ca", 8, 256, 2, -1);
	struct fsb_mempool *z = fsb_mempool_create(ctx, "cz", 8, 256, 0, -1);
	struct fsb_buf *s[4];

	assert_non_null(a);
	assert_non_null(z);
	assert_int_equal(fsb_buf_alloc_bulk(a, s, 3), 0);
	s[3] = fsb_buf_alloc(z);
	assert_non_null(s[3]);
	s[0]->next = s[1];
	s[1]->next = s[3];                      /* a segment from another pool */
	s[3]->next = s[2];
	s[0]->nb_segs = 4;
	fsb_buf_free(s[0]);
	assert_int_equal(fsb_mempool_avail(a), 8);
	assert_int_equal(fsb_mempool_avail(z), 8);

	fsb_buf_free(NULL);
	fsb_buf_free_bulk(NULL, 0);

	/* Chains inside a bulk free. */
	assert_int_equal(fsb_buf_alloc_bulk(a, s, 4), 0);
	s[1]->next = s[2];
	s[2]->next = s[3];
	struct fsb_buf *v[2] = { s[0], s[1] };
	fsb_buf_free_bulk(v, 2);
	assert_int_equal(fsb_mempool_avail(a), 8);

	assert_int_equal(fsb_mempool_free(a), 0);
	assert_int_equal(fsb_mempool_free(z), 0);
}

static void test_mixed_bulk_free(void **state)
{
	struct fsb_ctx *ctx = *state;
	struct fsb_mempool *p1 = fsb_mempool_create(ctx, "m1", 64, 256, 8, -1);
	struct fsb_mempool *p2 = fsb_mempool_create(ctx, "m2", 64, 1024, 0, -1);
	struct fsb_mempool *p3 = fsb_mempool_create(ctx, "m3", 64, 512, 16, -1);
	struct fsb_buf *v[100];
	unsigned n = 0;

	assert_non_null(p1);
	assert_non_null(p2);
	assert_non_null(p3);
	for (unsigned i = 0; i < 30; i++) {
		struct fsb_mempool *mp = i % 5 < 2 ? p1 : i % 5 < 4 ? p2 : p3;
		v[n] = fsb_buf_alloc(mp);
		assert_non_null(v[n]);
		n++;
		if (i % 7 == 0)
			v[n++] = NULL;
	}
	assert_true(fsb_mempool_avail(p1) < 64);
	assert_true(fsb_mempool_avail(p2) < 64);
	assert_true(fsb_mempool_avail(p3) < 64);
	fsb_buf_free_bulk(v, n);
	assert_int_equal(fsb_mempool_avail(p1), 64);
	assert_int_equal(fsb_mempool_avail(p2), 64);
	assert_int_equal(fsb_mempool_avail(p3), 64);

	/* Long runs of one pool, longer than any cache. */
	assert_int_equal(fsb_buf_alloc_bulk(p1, v, 50), 0);
	assert_int_equal(fsb_buf_alloc_bulk(p3, v + 50, 50), 0);
	fsb_buf_free_bulk(v, 100);
	assert_int_equal(fsb_mempool_avail(p1), 64);
	assert_int_equal(fsb_mempool_avail(p3), 64);

	assert_int_equal(fsb_mempool_free(p1), 0);
	assert_int_equal(fsb_mempool_free(p2), 0);
	assert_int_equal(fsb_mempool_free(p3), 0);
}

/* ------------------------------------------------------------------ */
/* Per-thread caches and thread exit                                   */
/* ------------------------------------------------------------------ */

struct cache_thread {
	struct fsb_mempool *mp;
	pthread_barrier_t *bar;
	unsigned avail_inside;
	uint64_t ring_inside;
	unsigned errors;
};

static void *cache_thread_main(void *p)
{
	struct cache_thread *t = p;
	struct fsb_buf *b[16];

	if (fsb_buf_alloc_bulk(t->mp, b, 16) != 0)
		t->errors++;
	else
		fsb_buf_free_bulk(b, 16);
	struct fsb_buf *x = fsb_buf_alloc(t->mp);
	if (!x)
		t->errors++;
	fsb_buf_free(x);
	t->avail_inside = fsb_mempool_avail(t->mp);
	t->ring_inside = fsb_mpmc_count(t->mp->free_ring);
	/* Let the test thread look while our cache holds buffers. */
	pthread_barrier_wait(t->bar);
	pthread_barrier_wait(t->bar);
	return NULL;
}

static void test_thread_cache(void **state)
{
	enum { N = 200 };
	struct fsb_mempool *mp = fsb_mempool_create(*state, "thr", N, 1024, 32, -1);
	pthread_barrier_t bar;
	pthread_t th;

	assert_non_null(mp);
	pthread_barrier_init(&bar, NULL, 2);
	struct cache_thread t = { .mp = mp, .bar = &bar };
	assert_int_equal(pthread_create(&th, NULL, cache_thread_main, &t), 0);
	pthread_barrier_wait(&bar);

	/* The thread's cache holds some, and they are counted. */
	assert_int_equal(t.errors, 0);
	assert_int_equal(t.avail_inside, N);
	assert_true(t.ring_inside < N);
	assert_true(ring_count(mp) < N);
	assert_int_equal(fsb_mempool_avail(mp), N);

	pthread_barrier_wait(&bar);
	assert_int_equal(pthread_join(th, NULL), 0);
	pthread_barrier_destroy(&bar);

	/* The exit flush put every buffer back into the ring. */
	assert_int_equal(ring_count(mp), N);
	assert_int_equal(fsb_mempool_avail(mp), N);
	assert_null(mp->caches);
	assert_int_equal(fsb_mempool_free(mp), 0);
}

/*
 * The pool is freed (and its id reused by a new pool) while a thread
 * still holds a cache of it; the thread then uses the new pool and
 * exits.  Neither path may follow the stale cache pointer (ASan).
 */
static void *stale_thread_main(void *p)
{
	struct cache_thread *t = p;
	struct fsb_buf *b[8];

	if (fsb_buf_alloc_bulk(t->mp, b, 8) != 0)
		t->errors++;
	else
		fsb_buf_free_bulk(b, 8);
	pthread_barrier_wait(t->bar);           /* main frees the pool */
	pthread_barrier_wait(t->bar);           /* ... and makes another */
	if (fsb_buf_alloc_bulk(t->mp, b, 8) != 0)
		t->errors++;
	else
		fsb_buf_free_bulk(b, 8);
	t->ring_inside = fsb_mpmc_count(t->mp->free_ring);
	return NULL;
}

static void test_thread_stale_cache(void **state)
{
	struct fsb_ctx *ctx = *state;
	struct fsb_mempool *mp = fsb_mempool_create(ctx, "stale", 64, 256, 16, -1);
	pthread_barrier_t bar;
	pthread_t th;

	assert_non_null(mp);
	pthread_barrier_init(&bar, NULL, 2);
	struct cache_thread t = { .mp = mp, .bar = &bar };
	assert_int_equal(pthread_create(&th, NULL, stale_thread_main, &t), 0);
	pthread_barrier_wait(&bar);

	unsigned id = mp->id;
	uint64_t gen = mp->gen;
	assert_true(ring_count(mp) < 64);       /* some sit in its cache */
	assert_int_equal(fsb_mempool_free(mp), 0);

	mp = fsb_mempool_create(ctx, "stale2", 64, 256, 16, -1);
	assert_non_null(mp);
	assert_int_equal(mp->id, id);           /* same slot, new gen */
	assert_true(mp->gen != gen);
	t.mp = mp;
	pthread_barrier_wait(&bar);
	assert_int_equal(pthread_join(th, NULL), 0);
	pthread_barrier_destroy(&bar);

	assert_int_equal(t.errors, 0);
	assert_true(t.ring_inside < 64);
	assert_int_equal(ring_count(mp), 64);
	assert_int_equal(fsb_mempool_avail(mp), 64);
	assert_int_equal(fsb_mempool_free(mp), 0);
}

/*
 * A thread exits while its table still points at a cache of a freed
 * pool whose slot a new pool took.  The exit flush must recognise the
 * stale entry by gen and leave it alone (ASan: no use after free).
 */
static void *idle_thread_main(void *p)
{
	struct cache_thread *t = p;
	struct fsb_buf *b[8];

	if (fsb_buf_alloc_bulk(t->mp, b, 8) != 0)
		t->errors++;
	else
		fsb_buf_free_bulk(b, 8);
	pthread_barrier_wait(t->bar);           /* main frees, recreates */
	pthread_barrier_wait(t->bar);
	return NULL;                            /* exit flush runs now */
}

static void test_thread_exit_after_pool_free(void **state)
{
	struct fsb_ctx *ctx = *state;
	struct fsb_mempool *mp = fsb_mempool_create(ctx, "gone", 64, 256, 16, -1);
	pthread_barrier_t bar;
	pthread_t th;

	assert_non_null(mp);
	pthread_barrier_init(&bar, NULL, 2);
	struct cache_thread t = { .mp = mp, .bar = &bar };
	assert_int_equal(pthread_create(&th, NULL, idle_thread_main, &t), 0);
	pthread_barrier_wait(&bar);
	unsigned id = mp->id;
	assert_int_equal(fsb_mempool_free(mp), 0);
	mp = fsb_mempool_create(ctx, "new", 64, 256, 16, -1);
	assert_non_null(mp);
	assert_int_equal(mp->id, id);
	pthread_barrier_wait(&bar);
	assert_int_equal(pthread_join(th, NULL), 0);
	pthread_barrier_destroy(&bar);

	assert_int_equal(t.errors, 0);
	assert_int_equal(ring_count(mp), 64);   /* nothing foreign pushed */
	assert_int_equal(fsb_mempool_avail(mp), 64);
	assert_int_equal(fsb_mempool_free(mp), 0);
}

/* A thread exits holding buffers: its cache is flushed, the buffers it
 * holds stay out until another thread frees them. */
struct holder_thread {
	struct fsb_mempool *mp;
	struct fsb_buf *held[4];
	int rc;
};

static void *holder_thread_main(void *p)
{
	struct holder_thread *t = p;

	t->rc = fsb_buf_alloc_bulk(t->mp, t->held, 4);
	return NULL;
}

static void test_thread_exit_holding(void **state)
{
	struct fsb_mempool *mp = fsb_mempool_create(*state, "hold", 32, 256, 8, -1);
	struct holder_thread t = { .mp = mp };
	pthread_t th;

	assert_non_null(mp);
	assert_int_equal(pthread_create(&th, NULL, holder_thread_main, &t), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(t.rc, 0);
	/* It refilled 8 and took 4; the other 4 came back at exit. */
	assert_int_equal(ring_count(mp), 28);
	assert_int_equal(fsb_mempool_avail(mp), 28);
	assert_int_equal(fsb_mempool_free(mp), -EBUSY);
	fsb_buf_free(t.held[0]);
	assert_int_equal(fsb_mempool_free(mp), -EBUSY);
	fsb_buf_free_bulk(t.held + 1, 3);
	assert_int_equal(fsb_mempool_avail(mp), 32);
	assert_int_equal(fsb_mempool_free(mp), 0);
}

/* ------------------------------------------------------------------ */
/* Two threads hammering (also run under TSan)                         */
/* ------------------------------------------------------------------ */

#define HAMMER_ITERS 1000000u
#define HAMMER_HELD 48

struct hammer {
	struct fsb_mempool *mp;
	struct fsb_spsc *out, *in;      /* to and from the peer */
	_Atomic unsigned *done;
	uint64_t tag;
	unsigned long errors, allocs, nobufs;
};

static bool hammer_take(struct hammer *h, struct fsb_buf *b)
{
	if (b->udata64 != 0 || b->data_off != FSB_BUF_HEADROOM ||
	    b->data_len != 0 || b->next || b->pool != h->mp) {
		h->errors++;
		return false;
	}
	b->udata64 = h->tag;
	h->allocs++;
	return true;
}

static void hammer_give(struct hammer *h, struct fsb_buf *b)
{
	if (b->udata64 != h->tag)
		h->errors++;
	b->udata64 = 0;
}

/* Free what the peer sent us; returns how many. */
static unsigned hammer_drain(struct hammer *h)
{
	struct fsb_buf *v[32];
	void *obj[32];
	unsigned k = fsb_spsc_dequeue(h->in, obj, 32);

	for (unsigned i = 0; i < k; i++) {
		v[i] = obj[i];
		hammer_give(h, v[i]);   /* the sender tagged it ours */
	}
	fsb_buf_free_bulk(v, k);
	return k;
}

static void *hammer_main(void *p)
{
	struct hammer *h = p;
	struct fsb_buf *held[HAMMER_HELD + 8];
	unsigned nheld = 0;

	for (unsigned i = 0; i < HAMMER_ITERS; i++) {
		/* Take: single or bulk. */
		if (i & 1) {
			struct fsb_buf *b = fsb_buf_alloc(h->mp);
			if (b && hammer_take(h, b))
				held[nheld++] = b;
			else if (!b)
				h->nobufs++;
		} else {
			unsigned k = 1 + (i >> 1) % 8;
			if (fsb_buf_alloc_bulk(h->mp, held + nheld, k) == 0) {
				for (unsigned j = 0; j < k; j++)
					hammer_take(h, held[nheld + j]);
				nheld += k;
			} else {
				h->nobufs++;
			}
		}
		/* Give: some to the peer, the rest freed here. */
		if (nheld && (i & 3) == 0) {
			struct fsb_buf *b = held[nheld - 1];
			void *obj = b;
			b->udata64 = h->tag ^ 3;  /* now the peer's */
			if (fsb_spsc_enqueue(h->out, &obj, 1) == 1)
				nheld--;
			else
				b->udata64 = h->tag;
		}
		if (nheld > HAMMER_HELD || (i & 7) == 5) {
			unsigned k = nheld / 2 + 1;
			if (k > nheld)
				k = nheld;
			for (unsigned j = 0; j < k; j++)
				hammer_give(h, held[nheld - k + j]);
			if (k == 1)
				fsb_buf_free(held[nheld - 1]);
			else
				fsb_buf_free_bulk(held + nheld - k, k);
			nheld -= k;
		}
		hammer_drain(h);
	}
	for (unsigned j = 0; j < nheld; j++)
		hammer_give(h, held[j]);
	fsb_buf_free_bulk(held, nheld);

	/* The peer may still send until it is done too. */
	atomic_fetch_add(h->done, 1);
	while (atomic_load(h->done) < 2)
		hammer_drain(h);
	while (hammer_drain(h))
		;
	return NULL;
}

static void test_hammer(void **state)
{
	enum { N = 128 };
	struct fsb_mempool *mp = fsb_mempool_create(*state, "ham", N, 256, 32, -1);
	_Atomic unsigned done = 0;
	struct fsb_spsc *r01 = fsb_spsc_new(64), *r10 = fsb_spsc_new(64);
	struct hammer h[2] = {
		{ .mp = mp, .out = r01, .in = r10, .done = &done, .tag = 0x1111 },
		{ .mp = mp, .out = r10, .in = r01, .done = &done, .tag = 0x1112 },
	};
	pthread_t th[2];

	assert_non_null(mp);
	assert_non_null(r01);
	assert_non_null(r10);
	/* Tags differ in bit 0 and bit 1: tag ^ 3 is the peer's tag. */
	assert_int_equal(h[0].tag ^ 3, h[1].tag);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer_main,
						&h[i]), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);

	for (int i = 0; i < 2; i++) {
		assert_int_equal(h[i].errors, 0);
		/* Both made progress, though the pool (N = 128 < what two
		 * threads can hold) runs dry now and then. */
		assert_true(h[i].allocs >= HAMMER_ITERS / 4);
	}
	assert_int_equal(fsb_spsc_count(r01), 0);
	assert_int_equal(fsb_spsc_count(r10), 0);
	/* Conservation: both threads exited, their caches were flushed. */
	assert_int_equal(ring_count(mp), N);
	assert_int_equal(fsb_mempool_avail(mp), N);
	assert_null(mp->caches);
	assert_int_equal(fsb_mempool_free(mp), 0);
	fsb_spsc_free(r01);
	fsb_spsc_free(r10);
}

/* ------------------------------------------------------------------ */
/* Listeners (a device mapping pool memory for DMA)                    */
/* ------------------------------------------------------------------ */

struct told {
	unsigned added, removed;
	uint64_t gen[FSB_MAX_POOLS];
	void *region0[FSB_MAX_POOLS];
};

static int told_refuse;          /* added() fails for this many */

static int told_added(void *arg, const struct fsb_pool_snap *p)
{
	struct told *t = arg;
	t->added++;
	if (told_refuse) {
		told_refuse--;
		return -ENOSPC;
	}
	t->gen[p->id] = p->gen;
	t->region0[p->id] = p->regions[0].addr;
	return 0;
}

static void told_removed(void *arg, const struct fsb_pool_snap *p)
{
	struct told *t = arg;
	t->removed++;
	t->gen[p->id] = 0;
}

/* Told of the pools live at listen, of a new one before create returns
 * it, of a freed one; the epoch follows fsb_mempool_epoch() exactly
 * while it was told of every pool, and nothing after unlisten. */
static void test_listener(void **state)
{
	struct fsb_ctx *ctx = *state;
	struct fsb_mempool *a = fsb_mempool_create(ctx, "la", 16, 512, 0, -1);
	assert_non_null(a);
	struct told t = { 0 };
	uint64_t epoch = 0;
	struct fsb_mempool_listener l = {
		.added = told_added, .removed = told_removed, .arg = &t,
		.epoch = &epoch,
	};
	fsb_mempool_listen(&l);
	assert_int_equal(t.added, 1);
	assert_int_equal(t.gen[a->id], a->gen);
	assert_ptr_equal(t.region0[a->id], a->regions[0].addr);
	assert_int_equal(epoch, fsb_mempool_epoch());

	struct fsb_mempool *b = fsb_mempool_create(ctx, "lb", 16, 512, 0, -1);
	assert_non_null(b);
	assert_int_equal(t.added, 2);           /* told before it was ours */
	assert_int_equal(t.gen[b->id], b->gen);
	assert_int_equal(epoch, fsb_mempool_epoch());

	unsigned bid = b->id;
	assert_int_equal(fsb_mempool_free(b), 0);
	assert_int_equal(t.removed, 1);
	assert_int_equal(t.gen[bid], 0);

	/* a pool the listener could not take: the epoch stays behind (the
	 * datapath checks every buffer from then on) */
	told_refuse = 1;
	struct fsb_mempool *r = fsb_mempool_create(ctx, "lr", 16, 512, 0, -1);
	assert_non_null(r);
	assert_int_equal(t.added, 3);
	assert_true(epoch != fsb_mempool_epoch());
	assert_int_equal(fsb_mempool_free(r), 0);
	assert_int_equal(t.removed, 2);

	fsb_mempool_unlisten(&l);
	struct fsb_mempool *c = fsb_mempool_create(ctx, "lc", 16, 512, 0, -1);
	assert_non_null(c);
	assert_int_equal(t.added, 3);
	assert_true(epoch != fsb_mempool_epoch()); /* not told: TX checks */
	assert_int_equal(fsb_mempool_free(c), 0);
	assert_int_equal(fsb_mempool_free(a), 0);
	assert_int_equal(t.removed, 2);
}

/* fsb_ctx_free() frees pools that are complete and leaves busy ones. */
static void test_ctx_free_pools(void **state)
{
	struct fsb_ctx *ctx = fsb_ctx_new();
	int err = errno;

	assert_null(ctx);                       /* the fixture's exists */
	assert_int_equal(err, EEXIST);
	struct fsb_mempool *mp = fsb_mempool_create(*state, "left", 8, 256,
						    4, -1);
	assert_non_null(mp);
	fsb_buf_free(fsb_buf_alloc(mp));        /* give this thread a cache */
	/* teardown frees pool and cache in fsb_ctx_free (LSan: no leak). */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_create_free),
		T(test_bad_args),
		T(test_exhaustion),
		T(test_exhaustion_big_cache),
		T(test_no_cache),
		T(test_flush_threshold),
		T(test_layout),
		T(test_reset_on_alloc),
		T(test_regions),
		T(test_untouched_until_used),
		T(test_hugetlb_required),
		T(test_regions_many),
		T(test_ebusy),
		T(test_chain_free),
		T(test_mixed_bulk_free),
		T(test_thread_cache),
		T(test_thread_stale_cache),
		T(test_thread_exit_after_pool_free),
		T(test_thread_exit_holding),
		T(test_hammer),
		T(test_listener),
		T(test_ctx_free_pools),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
