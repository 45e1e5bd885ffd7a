/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mempool.c - packet-buffer pools carved from memfd memory, with
 * per-thread caches.
 *
 * Why memfd.  A vhost-user backend reads and writes our buffers in its
 * own address space.  SET_MEM_TABLE hands it one fd per region, and it
 * maps size + offset bytes of each fd from file offset 0.  Anonymous
 * memory has no fd to hand over, so every pool is fd-backed from the
 * start, and any buffer can later go to any virtio_user sub-device
 * without a copy.  Each region is its own memfd mapped from offset 0,
 * so (fd, 0, size) is exactly one memory-table entry.  Hugetlb memfd is
 * tried first when /proc/meminfo shows enough free huge pages (fewer
 * TLB misses, for the backend too).  Plain memfd is used otherwise, and
 * also when the hugetlb mapping fails because another process took the
 * pages in the meantime.
 *
 * Why few large regions.  The vhost-user memory table carries at most 8
 * regions, and they must cover every pool a port's buffers come from.
 * So a pool is carved into as few regions as possible: one region holds
 * up to 1 GiB, a pool has at most FSB_MEMPOOL_MAX_REGIONS, and creation
 * fails with ENOMEM rather than fragment further.  NUMA binding
 * (numa_tonode_memory) comes before the first touch, because a policy
 * steers only pages that are not faulted in yet.
 *
 * Element layout: [struct fsb_buf padded to FSB_BUF_HDR_SIZE][data room],
 * rounded up to a cache line.  No element straddles two regions.  Where
 * the system has huge pages, elements are laid out per huge page (the
 * tail of each page left unused, under one element's size), so none
 * straddles a page boundary either: a device with no IOMMU in front of
 * it sees each huge page at its own physical address, and the pages of
 * a region are not physically contiguous.  This is how a buffer never
 * crosses a physical discontinuity: by construction, not by checking.
 * FSB_MEMPOOL_F_HUGETLB makes hugetlb memory a requirement.
 *
 * The cache.  The free list is a bounded MPMC ring (ring.h).  It costs
 * one CAS per object: fine for refills, too much per packet.  So each
 * thread that touches a pool gets its own cache for it, a LIFO stack of
 * up to flush_threshold = 1.5 * cache_size pointers, as in DPDK:
 *   - alloc pops, and an empty cache refills cache_size from the ring;
 *   - free pushes, and a cache above flush_threshold flushes back down
 *     to cache_size.
 * The fast path is a TLS lookup, a load and a store: no lock, no
 * syscall, no locked instruction.  A thread finds its caches through a
 * static __thread table indexed by pool id, holding (gen, cache).  The
 * gen is compared first, so an entry left over from a freed pool whose
 * id was reused is never followed.  A cache's length is atomic only so
 * that fsb_mempool_avail() and fsb_mempool_free() can sum it from other
 * threads.  The owner stores it with release order (a plain store on
 * x86).  The freeing thread loads it with acquire order, so the owner's
 * last writes to the cache happen before the free().
 *
 * Thread exit.  A datapath thread that exits with buffers in its caches
 * would strand them, and the pool could never be freed (-EBUSY).  So a
 * pthread key destructor flushes the exiting thread's caches back into
 * their rings, then frees the caches.  It may race with
 * fsb_mempool_free() of the same pool.  Both therefore take live_lock,
 * and the destructor touches only caches whose pool (id, gen) is still
 * in the live table.  fsb_mempool_free() removes the gen first, and
 * only then frees anything, including caches that other threads' tables
 * still point at.
 *
 * Key destructors do not run for the main thread at exit(), so its
 * caches simply stay counted until fsb_mempool_free() frees them.
 *
 * Untouched until used.  Creation writes no element: a header written
 * is a page faulted in and dirtied, and a live migration copies every
 * dirty page of the guest (a 16384-buffer pool is 36 MiB; it made a
 * guest's migration send 28 MB more and take 140 ms longer).  Elements
 * [0, fresh) have been handed out at least once and live in the ring or
 * a cache; the rest are carved, header and all, only when the ring runs
 * dry, on the refill path (never per packet).  Freed buffers go back to
 * the ring and are reused first, so a pool touches only as many pages
 * as the traffic ever held at once.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <numa.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fsb_private.h"
#include "ring.h"

#define FSB_MEMPOOL_N_MAX (1u << 24)
#define FSB_REGION_SIZE_MAX (1ull << 30)

static inline uint64_t fsb_round_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) / align * align;
}

/* ------------------------------------------------------------------ */
/* Per-thread caches                                                   */
/* ------------------------------------------------------------------ */

/*
 * One thread's cache for one pool.  Only the owner thread touches
 * objs[]; others read len (fsb_mempool_avail) or free the whole cache
 * (fsb_mempool_free, thread exit).
 */
struct fsb_mcache {
	struct fsb_mcache *next;        /* pool->caches, under caches_lock */
	struct fsb_mempool *pool;
	unsigned size;                  /* refill and flush-down target */
	unsigned flush_threshold;       /* flush when len goes above it */
	_Atomic unsigned len;           /* owner stores, release */
	struct fsb_buf *objs[];         /* flush_threshold + 1 slots */
};

struct fsb_mcache_ref {
	uint64_t gen;                   /* pool gen the cache belongs to */
	struct fsb_mcache *cache;       /* valid only while gen matches */
};

static __thread struct fsb_mcache_ref mcache_tls[FSB_MAX_POOLS];

/* Live pools by id: the gen, or 0.  Guards thread-exit flushes against
 * fsb_mempool_free(). */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t live_gen[FSB_MAX_POOLS];
static struct fsb_mempool *live_pool[FSB_MAX_POOLS];

_Atomic uint64_t fsb_mempool_gen_next = 1;

static pthread_once_t mcache_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t mcache_key;
static bool mcache_key_ok;

/* Element @i, its header written now (its first use). */
static struct fsb_buf *fsb_elt_init(struct fsb_mempool *mp, unsigned i)
{
	struct fsb_mem_region *r = &mp->regions[i / mp->per_region];
	uint64_t j = i % mp->per_region;
	uint64_t off = mp->elt_page ?
		j / mp->per_page * mp->elt_page + j % mp->per_page * mp->elt_size :
		j * mp->elt_size;
	struct fsb_buf *b = (struct fsb_buf *)((char *)r->addr + off);
	memset(b, 0, sizeof(*b));
	b->buf_addr = (char *)b + FSB_BUF_HDR_SIZE;
	b->buf_len = mp->data_room;
	b->pool = mp;
	return b;
}

/* Up to @n never-used elements; any thread, lock-free. */
static unsigned fsb_fresh_get(struct fsb_mempool *mp, struct fsb_buf **objs,
			      unsigned n)
{
	unsigned got = 0;
	unsigned i = atomic_load_explicit(&mp->fresh, memory_order_relaxed);
	while (got < n && i < mp->n) {
		unsigned k = n - got < mp->n - i ? n - got : mp->n - i;
		if (!atomic_compare_exchange_weak_explicit(&mp->fresh, &i, i + k,
							   memory_order_relaxed,
							   memory_order_relaxed))
			continue;       /* i was reloaded */
		for (unsigned j = 0; j < k; j++)
			objs[got++] = fsb_elt_init(mp, i + j);
		i += k;
	}
	return got;
}

static unsigned fsb_ring_get(struct fsb_mempool *mp, struct fsb_buf **objs,
			     unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		struct fsb_buf *b = fsb_mpmc_pop(mp->free_ring);
		if (!b)
			break;
		objs[i] = b;
	}
	if (FSB_UNLIKELY(i < n))
		i += fsb_fresh_get(mp, objs + i, n - i);
	return i;
}

/* The ring holds at least mp->n entries, so a put never finds it full
 * unless a buffer was freed twice. */
static void fsb_ring_put(struct fsb_mempool *mp, struct fsb_buf *const *objs,
			 unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		bool ok = fsb_mpmc_push(mp->free_ring, objs[i]);
		assert(ok && "mempool ring overflow: buffer freed twice?");
		(void)ok;
	}
}

/* Unlink @c from its pool's list. */
static void fsb_mcache_unlink(struct fsb_mempool *mp, struct fsb_mcache *c)
{
	pthread_mutex_lock(&mp->caches_lock);
	for (struct fsb_mcache **pp = &mp->caches; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	pthread_mutex_unlock(&mp->caches_lock);
}

/*
 * Key destructor, run in an exiting thread (never the main thread at
 * exit()).  @arg is that thread's mcache_tls.  Flushes every cache of a
 * still-live pool into its ring and frees it; entries of freed pools
 * are dropped without being followed.
 */
static void fsb_mcache_thread_exit(void *arg)
{
	struct fsb_mcache_ref *tls = arg;

	pthread_mutex_lock(&live_lock);
	for (unsigned i = 0; i < FSB_MAX_POOLS; i++) {
		struct fsb_mcache_ref *ref = &tls[i];

		if (ref->gen && live_gen[i] == ref->gen) {
			struct fsb_mcache *c = ref->cache;
			struct fsb_mempool *mp = c->pool;
			unsigned len = atomic_load_explicit(&c->len,
							    memory_order_relaxed);

			fsb_ring_put(mp, c->objs, len);
			atomic_store_explicit(&c->len, 0, memory_order_release);
			fsb_mcache_unlink(mp, c);
			free(c);
		}
		ref->gen = 0;
		ref->cache = NULL;
	}
	pthread_mutex_unlock(&live_lock);
}

static void fsb_mcache_key_init(void)
{
	int rc = pthread_key_create(&mcache_key, fsb_mcache_thread_exit);

	if (rc) {
		fsb_log(FSB_LOG_ERR,
			"mempool: pthread_key_create: %s; per-thread caches off",
			strerror(rc));
		return;
	}
	mcache_key_ok = true;
}

/*
 * Slow path: give the calling thread a cache for @mp and record it in
 * @ref.  Returns NULL when that fails (no key, no memory); the caller
 * then goes straight to the ring, which is always correct.
 */
static struct fsb_mcache *fsb_mcache_create(struct fsb_mempool *mp,
					    struct fsb_mcache_ref *ref)
{
	struct fsb_mcache *c;
	size_t sz;

	pthread_once(&mcache_key_once, fsb_mcache_key_init);
	if (!mcache_key_ok)
		return NULL;

	sz = fsb_round_up(sizeof(*c) + (mp->flush_threshold + 1) *
			  sizeof(c->objs[0]), FSB_CACHE_LINE);
	c = aligned_alloc(FSB_CACHE_LINE, sz);
	if (!c)
		return NULL;
	c->pool = mp;
	c->size = mp->cache_size;
	c->flush_threshold = mp->flush_threshold;
	atomic_init(&c->len, 0);

	/* Any non-NULL value arms the destructor; setting it again after a
	 * destructor pass re-arms it (glibc re-runs destructors). */
	if (pthread_setspecific(mcache_key, mcache_tls)) {
		free(c);
		return NULL;
	}

	pthread_mutex_lock(&mp->caches_lock);
	c->next = mp->caches;
	mp->caches = c;
	pthread_mutex_unlock(&mp->caches_lock);

	ref->cache = c;
	ref->gen = mp->gen;
	return c;
}

/* The calling thread's cache for @mp, or NULL to use the ring. */
static inline struct fsb_mcache *fsb_mcache_get(struct fsb_mempool *mp)
{
	struct fsb_mcache_ref *ref;

	if (mp->cache_size == 0)
		return NULL;
	ref = &mcache_tls[mp->id];
	/* The gen before the pointer: a stale entry is never followed. */
	if (FSB_LIKELY(ref->gen == mp->gen))
		return ref->cache;
	return fsb_mcache_create(mp, ref);
}

/* Return @n buffers of @mp through the calling thread's cache. */
static void fsb_mempool_put(struct fsb_mempool *mp, struct fsb_buf *const *bufs,
			    unsigned n)
{
	struct fsb_mcache *c = fsb_mcache_get(mp);
	unsigned len;

	if (!c) {
		fsb_ring_put(mp, bufs, n);
		return;
	}
	len = atomic_load_explicit(&c->len, memory_order_relaxed);
	while (n) {
		unsigned k = c->flush_threshold + 1 - len;

		if (k > n)
			k = n;
		memcpy(&c->objs[len], bufs, k * sizeof(bufs[0]));
		len += k;
		bufs += k;
		n -= k;
		if (len > c->flush_threshold) {
			fsb_ring_put(mp, &c->objs[c->size], len - c->size);
			len = c->size;
		}
	}
	atomic_store_explicit(&c->len, len, memory_order_release);
}

/* ------------------------------------------------------------------ */
/* Datapath API                                                        */
/* ------------------------------------------------------------------ */

struct fsb_buf *fsb_buf_alloc(struct fsb_mempool *mp)
{
	struct fsb_mcache *c = fsb_mcache_get(mp);
	struct fsb_buf *b;

	if (FSB_LIKELY(c != NULL)) {
		unsigned len = atomic_load_explicit(&c->len,
						    memory_order_relaxed);

		if (FSB_UNLIKELY(len == 0)) {
			len = fsb_ring_get(mp, c->objs, c->size);
			if (len == 0) {
				errno = ENOBUFS;
				return NULL;
			}
		}
		b = c->objs[--len];
		atomic_store_explicit(&c->len, len, memory_order_release);
	} else {
		b = fsb_mpmc_pop(mp->free_ring);
		if (!b && fsb_fresh_get(mp, &b, 1) == 0)
			b = NULL;
		if (!b) {
			errno = ENOBUFS;
			return NULL;
		}
	}
	fsb_buf_reset(b);
	return b;
}

int fsb_buf_alloc_bulk(struct fsb_mempool *mp, struct fsb_buf **bufs,
		       unsigned n)
{
	struct fsb_mcache *c = fsb_mcache_get(mp);
	unsigned got = 0;

	if (FSB_LIKELY(c != NULL)) {
		unsigned len = atomic_load_explicit(&c->len,
						    memory_order_relaxed);

		while (got < n) {
			unsigned k;

			if (len == 0) {
				len = fsb_ring_get(mp, c->objs, c->size);
				if (len == 0)
					break;
			}
			k = n - got < len ? n - got : len;
			while (k--)
				bufs[got++] = c->objs[--len];
		}
		atomic_store_explicit(&c->len, len, memory_order_release);
	} else {
		got = fsb_ring_get(mp, bufs, n);
	}

	if (FSB_UNLIKELY(got < n)) {
		fsb_mempool_put(mp, bufs, got);
		return -ENOBUFS;
	}
	for (unsigned i = 0; i < n; i++)
		fsb_buf_reset(bufs[i]);
	return 0;
}

void fsb_buf_free(struct fsb_buf *b)
{
	while (b) {
		/* Read next first: once put, b may be someone else's. */
		struct fsb_buf *next = b->next;

		fsb_mempool_put(b->pool, &b, 1);
		b = next;
	}
}

/* Runs of unchained buffers from one pool go back in one put. */
void fsb_buf_free_bulk(struct fsb_buf **bufs, unsigned n)
{
	unsigned i = 0;

	while (i < n) {
		struct fsb_buf *b = bufs[i];
		unsigned j;

		if (!b || b->next) {
			fsb_buf_free(b);
			i++;
			continue;
		}
		for (j = i + 1; j < n; j++)
			if (!bufs[j] || bufs[j]->pool != b->pool || bufs[j]->next)
				break;
		fsb_mempool_put(b->pool, &bufs[i], j - i);
		i = j;
	}
}

/* ------------------------------------------------------------------ */
/* Counting and introspection                                          */
/* ------------------------------------------------------------------ */

/* Ring count plus every cache's length.  Exact when the pool is quiet.
 * Acquire loads: see the essay (fsb_mempool_free relies on it). */
static uint64_t fsb_mempool_count(const struct fsb_mempool *mp)
{
	/* Cast for the lock only: counting changes nothing. */
	struct fsb_mempool *m = (struct fsb_mempool *)mp;
	uint64_t sum = fsb_mpmc_count(m->free_ring) +
		(mp->n - atomic_load_explicit(&m->fresh, memory_order_acquire));

	pthread_mutex_lock(&m->caches_lock);
	for (struct fsb_mcache *c = m->caches; c; c = c->next)
		sum += atomic_load_explicit(&c->len, memory_order_acquire);
	pthread_mutex_unlock(&m->caches_lock);
	return sum;
}

unsigned fsb_mempool_avail(const struct fsb_mempool *mp)
{
	uint64_t sum = fsb_mempool_count(mp);

	/* A flush in flight is briefly counted in both places. */
	return sum > mp->n ? mp->n : (unsigned)sum;
}

int fsb_mempool_regions(const struct fsb_mempool *mp, struct fsb_mem_region *r,
			unsigned max)
{
	unsigned k = mp->nregions < max ? mp->nregions : max;

	if (k)
		memcpy(r, mp->regions, k * sizeof(*r));
	return (int)mp->nregions;
}

static struct fsb_mempool_listener *listeners; /* under live_lock */

static void pool_snap_fill(struct fsb_pool_snap *o, const struct fsb_mempool *mp)
{
	o->id = mp->id;
	o->gen = mp->gen;
	memcpy(o->name, mp->name, sizeof(o->name));
	o->elt_page = mp->elt_page;
	o->nregions = mp->nregions;
	memcpy(o->regions, mp->regions, mp->nregions * sizeof(mp->regions[0]));
}

static void pool_tell(const struct fsb_mempool *mp, bool added)
{
	struct fsb_pool_snap snap;

	if (!listeners)
		return;
	pool_snap_fill(&snap, mp);
	for (struct fsb_mempool_listener *l = listeners; l; l = l->next) {
		if (!added) {
			l->removed(l->arg, &snap);
			continue;
		}
		/* told of (and taken) every pool up to this one: the
		 * epoch moves on */
		if (l->added(l->arg, &snap) == 0 && l->epoch &&
		    __atomic_load_n(l->epoch, __ATOMIC_RELAXED) == mp->gen)
			__atomic_store_n(l->epoch, mp->gen + 1, __ATOMIC_RELAXED);
	}
}

static int snapshot_locked(struct fsb_pool_snap *out, unsigned max,
			   uint64_t *epoch)
{
	unsigned n = 0;

	*epoch = atomic_load_explicit(&fsb_mempool_gen_next, memory_order_relaxed);
	for (unsigned i = 0; i < FSB_MAX_POOLS; i++) {
		struct fsb_mempool *mp = live_pool[i];

		if (!mp || live_gen[i] != mp->gen)
			continue;
		if (n < max)
			pool_snap_fill(&out[n], mp);
		n++;
	}
	return (int)n;
}

void fsb_mempool_listen(struct fsb_mempool_listener *l)
{
	struct fsb_pool_snap snap;
	bool all = true;

	pthread_mutex_lock(&live_lock);
	l->next = listeners;
	listeners = l;
	for (unsigned i = 0; i < FSB_MAX_POOLS; i++) {
		struct fsb_mempool *mp = live_pool[i];

		if (!mp || live_gen[i] != mp->gen)
			continue;
		pool_snap_fill(&snap, mp);
		all &= l->added(l->arg, &snap) == 0;
	}
	if (l->epoch && all)
		__atomic_store_n(l->epoch, atomic_load_explicit(&fsb_mempool_gen_next,
								memory_order_relaxed),
				 __ATOMIC_RELAXED);
	pthread_mutex_unlock(&live_lock);
}

/* Once this returns, no callback of @l runs or will run. */
void fsb_mempool_unlisten(struct fsb_mempool_listener *l)
{
	pthread_mutex_lock(&live_lock);
	for (struct fsb_mempool_listener **pp = &listeners; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	pthread_mutex_unlock(&live_lock);
}

/*
 * Copy every live pool's id, gen and regions into @out (at most @max
 * pools); returns the number of live pools (which may exceed @max).
 * *@epoch gets fsb_mempool_gen_next as of the copy.
 * Takes only live_lock, never ctx->lock: the control thread calls it
 * from a sync pass, with ctx->lock already held (virtio_user's memory
 * table).
 */
int fsb_mempool_snapshot(struct fsb_pool_snap *out, unsigned max,
			 uint64_t *epoch)
{
	pthread_mutex_lock(&live_lock);
	int n = snapshot_locked(out, max, epoch);
	pthread_mutex_unlock(&live_lock);
	return n;
}


/* True when @p points into one of @mp's regions. */
bool fsb_mempool_owns(const struct fsb_mempool *mp, const void *p)
{
	uintptr_t a = (uintptr_t)p;

	for (unsigned i = 0; i < mp->nregions; i++) {
		uintptr_t lo = (uintptr_t)mp->regions[i].addr;

		if (a >= lo && a - lo < mp->regions[i].size)
			return true;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* Memory                                                              */
/* ------------------------------------------------------------------ */

struct fsb_hugeinfo {
	uint64_t page_size;     /* Hugepagesize, bytes; 0 = none free */
	uint64_t free_bytes;    /* free, unreserved huge pages, left to use */
};

/* (fsb_private.h) HugePages_Free still counts pages other mappings
 * reserved but have not touched yet: those are not ours to plan with. */
uint64_t fsb_hugepage_info(unsigned long *free_pages)
{
	unsigned long long kb = 0, nfree = 0, rsvd = 0;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "re");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			if (!strncmp(line, "Hugepagesize:", 13))
				sscanf(line + 13, "%llu", &kb);
			else if (!strncmp(line, "HugePages_Free:", 15))
				sscanf(line + 15, "%llu", &nfree);
			else if (!strncmp(line, "HugePages_Rsvd:", 15))
				sscanf(line + 15, "%llu", &rsvd);
		}
		fclose(f);
	}
	if (free_pages)
		*free_pages = nfree > rsvd ? (unsigned long)(nfree - rsvd) : 0;
	return (uint64_t)kb * 1024;
}

static void fsb_huge_probe(struct fsb_hugeinfo *hi)
{
	unsigned long nfree = 0;
	uint64_t page = fsb_hugepage_info(&nfree);
	hi->page_size = nfree ? page : 0;
	hi->free_bytes = nfree ? nfree * page : 0;
}

/*
 * memfd_create + ftruncate + mmap(MAP_SHARED) of @size bytes into @r.
 * Returns 0, or -errno with @what naming the call that failed.
 */
static int fsb_region_try(struct fsb_mem_region *r, const char *name,
			  uint64_t size, unsigned flags, const char **what)
{
	void *addr;
	int fd, err;

	*what = "memfd_create";
	fd = memfd_create(name, MFD_CLOEXEC | flags);
	if (fd < 0)
		return -errno;
	*what = "ftruncate";
	if (ftruncate(fd, (off_t)size) < 0)
		goto fail;
	*what = "mmap";
	addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (addr == MAP_FAILED)
		goto fail;
	r->fd = fd;
	r->offset = 0;
	r->size = size;
	r->addr = addr;
	r->hugetlb = flags & MFD_HUGETLB;
	return 0;
fail:
	err = -errno;
	close(fd);
	return err;
}

/*
 * Map region @idx of pool @pool_name, at least @len bytes: hugetlb when
 * @hi says the pages are there, plain memfd otherwise or on failure.
 * Binds it to @numa_node (>= 0) before anything touches it.
 * Returns 0, or -errno (logged).
 */
static int fsb_region_map(struct fsb_mem_region *r, const char *pool_name,
			  unsigned idx, uint64_t len, struct fsb_hugeinfo *hi,
			  int numa_node, bool require_huge)
{
	char name[FSB_NAME_MAX + 16];
	const char *what;
	uint64_t size;
	int rc;

	snprintf(name, sizeof(name), "fsb-%s-%u", pool_name, idx);

	if (hi->page_size) {
		size = fsb_round_up(len, hi->page_size);
		if (size <= hi->free_bytes) {
			rc = fsb_region_try(r, name, size, MFD_HUGETLB, &what);
			if (rc == 0) {
				hi->free_bytes -= size;
				goto bind;
			}
			if (require_huge) {
				fsb_log(FSB_LOG_ERR, "mempool %s needs hugepages: "
					"hugetlb %s of %llu bytes: %s", pool_name,
					what, (unsigned long long)size,
					strerror(-rc));
				return -ENOMEM;
			}
			fsb_log(FSB_LOG_INFO,
				"mempool %s: hugetlb %s of %llu bytes: %s; "
				"using plain memfd", pool_name, what,
				(unsigned long long)size, strerror(-rc));
		}
	}
	if (require_huge) {
		/* checked for the whole pool before the first region: only
		 * a race with another process gets here */
		fsb_log(FSB_LOG_ERR, "mempool %s needs hugepages: %llu bytes "
			"more than are free", pool_name,
			(unsigned long long)fsb_round_up(len, hi->page_size ?
							  hi->page_size : 1));
		return -ENOMEM;
	}

	size = fsb_round_up(len, (uint64_t)sysconf(_SC_PAGESIZE));
	rc = fsb_region_try(r, name, size, 0, &what);
	if (rc < 0) {
		fsb_log(FSB_LOG_ERR, "mempool %s: %s of %llu bytes: %s",
			pool_name, what, (unsigned long long)size,
			strerror(-rc));
		return rc;
	}
bind:
	if (numa_node >= 0 && numa_available() >= 0)
		numa_tonode_memory(r->addr, r->size, numa_node);
	return 0;
}

static void fsb_region_unmap(struct fsb_mem_region *r)
{
	munmap(r->addr, r->size);
	close(r->fd);
}

/* -EINVAL unless @node is -1 or a node this machine has. */
static int fsb_numa_check(int node)
{
	if (node < -1)
		return -EINVAL;
	if (node == -1)
		return 0;
	if (numa_available() < 0)
		return node == 0 ? 0 : -EINVAL;
	return node <= numa_max_node() ? 0 : -EINVAL;
}

/*
 * Carve the regions (their elements are written at first use: see
 * "Untouched until used").
 * Returns 0 or -errno; on error the regions mapped so far stay in
 * mp->regions[0..nregions) for the caller to unmap.
 */
static int fsb_mempool_populate(struct fsb_mempool *mp)
{
	struct fsb_hugeinfo hi;
	bool require_huge = mp->flags & FSB_MEMPOOL_F_HUGETLB;

	fsb_huge_probe(&hi);
	/* Where huge pages exist, lay elements out per page, whichever
	 * memory a region ends up on: then a pool that got hugetlb memory
	 * can be given to a device by physical address. */
	mp->elt_page = 0;
	mp->per_page = 0;
	if (hi.page_size && hi.page_size >= mp->elt_size &&
	    hi.page_size <= FSB_REGION_SIZE_MAX) {
		mp->elt_page = hi.page_size;
		mp->per_page = (unsigned)(hi.page_size / mp->elt_size);
	}
	uint64_t per_region = mp->elt_page ?
		FSB_REGION_SIZE_MAX / mp->elt_page * mp->per_page :
		FSB_REGION_SIZE_MAX / mp->elt_size;
	uint64_t nregions = (mp->n + per_region - 1) / per_region;
	unsigned left = mp->n;

	if (nregions > FSB_MEMPOOL_MAX_REGIONS) {
		fsb_log(FSB_LOG_ERR,
			"mempool %s: %u x %u bytes needs %llu regions of 1 GiB, "
			"more than %u", mp->name, mp->n, mp->elt_size,
			(unsigned long long)nregions, FSB_MEMPOOL_MAX_REGIONS);
		return -ENOMEM;
	}

	if (require_huge) {
		uint64_t need = 0;
		for (unsigned i = 0, l = mp->n; i < nregions; i++) {
			unsigned cnt = l < per_region ? l : (unsigned)per_region;
			need += mp->elt_page ? (cnt + mp->per_page - 1) /
				mp->per_page * mp->elt_page : 0;
			l -= cnt;
		}
		if (!mp->elt_page || need > hi.free_bytes) {
			if (!hi.page_size)
				fsb_log(FSB_LOG_ERR, "mempool %s needs hugepages: "
					"none free (vm.nr_hugepages, or "
					"hugepages= on the kernel command line)",
					mp->name);
			else
				fsb_log(FSB_LOG_ERR, "mempool %s needs hugepages: "
					"%llu of %llu kB needed, %llu free",
					mp->name, (unsigned long long)
					((need + hi.page_size - 1) / hi.page_size),
					(unsigned long long)(hi.page_size >> 10),
					(unsigned long long)(hi.free_bytes /
							     hi.page_size));
			return -ENOMEM;
		}
	}
	for (unsigned i = 0; i < nregions; i++) {
		unsigned cnt = left < per_region ? left : (unsigned)per_region;
		struct fsb_mem_region *r = &mp->regions[i];
		uint64_t len = mp->elt_page ?
			(uint64_t)(cnt + mp->per_page - 1) / mp->per_page * mp->elt_page :
			(uint64_t)cnt * mp->elt_size;
		int rc;

		rc = fsb_region_map(r, mp->name, i, len, &hi, mp->numa_node,
				    require_huge);
		if (rc < 0)
			return rc;
		mp->nregions++;
		/* No element is written here: see "Untouched until
		 * used". */
		left -= cnt;
	}
	mp->per_region = (unsigned)per_region;
	atomic_init(&mp->fresh, 0);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Create and free                                                     */
/* ------------------------------------------------------------------ */

/* With ctx->lock held: -EEXIST if @name is taken, -ENOSPC if no slot is
 * free, else the free slot's index. */
static int fsb_mempool_slot_find(struct fsb_ctx *ctx, const char *name)
{
	int slot = -ENOSPC;

	for (unsigned i = 0; i < FSB_MAX_POOLS; i++) {
		if (!ctx->pools[i]) {
			if (slot < 0)
				slot = (int)i;
		} else if (!strcmp(ctx->pools[i]->name, name)) {
			return -EEXIST;
		}
	}
	return slot;
}

/* Undo everything fsb_mempool_create() did before registration. */
static void fsb_mempool_destroy(struct fsb_mempool *mp)
{
	for (unsigned i = 0; i < mp->nregions; i++)
		fsb_region_unmap(&mp->regions[i]);
	if (mp->free_ring)
		fsb_mpmc_free(mp->free_ring);
	pthread_mutex_destroy(&mp->caches_lock);
	free(mp);
}

struct fsb_mempool *fsb_mempool_create(struct fsb_ctx *ctx, const char *name,
				       unsigned n, uint16_t data_room,
				       unsigned cache_size, int numa_node)
{
	return fsb_mempool_create_flags(ctx, name, n, data_room, cache_size,
					numa_node, 0);
}

struct fsb_mempool *fsb_mempool_create_flags(struct fsb_ctx *ctx,
					     const char *name, unsigned n,
					     uint16_t data_room,
					     unsigned cache_size, int numa_node,
					     unsigned flags)
{
	struct fsb_mempool *mp;
	size_t name_len;
	int rc, slot;

	if (!ctx || !name || n == 0 || n > FSB_MEMPOOL_N_MAX ||
	    (flags & ~FSB_MEMPOOL_F_HUGETLB) ||
	    data_room <= FSB_BUF_HEADROOM ||
	    cache_size > FSB_MEMPOOL_CACHE_MAX ||
	    fsb_numa_check(numa_node) < 0) {
		errno = EINVAL;
		return NULL;
	}
	name_len = strnlen(name, FSB_NAME_MAX);
	if (name_len == 0 || name_len >= FSB_NAME_MAX) {
		errno = EINVAL;
		return NULL;
	}

	/* Cheap early check, so a clash costs no memory; repeated below. */
	pthread_mutex_lock(&ctx->lock);
	rc = fsb_mempool_slot_find(ctx, name);
	pthread_mutex_unlock(&ctx->lock);
	if (rc < 0) {
		errno = -rc;
		return NULL;
	}

	mp = calloc(1, sizeof(*mp));
	if (!mp)
		return NULL;
	memcpy(mp->name, name, name_len + 1);
	mp->n = n;
	mp->data_room = data_room;
	mp->elt_size = (uint32_t)fsb_round_up(FSB_BUF_HDR_SIZE + data_room,
					      FSB_CACHE_LINE);
	mp->cache_size = cache_size;
	mp->flush_threshold = cache_size * 3 / 2;
	mp->numa_node = numa_node;
	mp->flags = flags;
	pthread_mutex_init(&mp->caches_lock, NULL);

	mp->free_ring = fsb_mpmc_new(n);
	if (!mp->free_ring) {
		rc = -errno;
		goto fail;
	}
	rc = fsb_mempool_populate(mp);
	if (rc < 0)
		goto fail;

	pthread_mutex_lock(&ctx->lock);
	slot = fsb_mempool_slot_find(ctx, name);
	if (slot < 0) {
		pthread_mutex_unlock(&ctx->lock);
		rc = slot;
		goto fail;
	}
	mp->id = (unsigned)slot;
	/* gen under live_lock: a snapshot's epoch then covers exactly the
	 * pools it lists (fsb_mempool_snapshot) */
	pthread_mutex_lock(&live_lock);
	mp->gen = atomic_fetch_add_explicit(&fsb_mempool_gen_next, 1,
					    memory_order_relaxed);
	live_gen[mp->id] = mp->gen;
	live_pool[mp->id] = mp;
	pool_tell(mp, true);
	pthread_mutex_unlock(&live_lock);
	ctx->pools[mp->id] = mp;
	pthread_mutex_unlock(&ctx->lock);
	return mp;

fail:
	fsb_mempool_destroy(mp);
	errno = -rc;
	return NULL;
}

/* Threads that keep a cache of @mp need not be told: their stale
 * table entries are recognised by gen. */
int fsb_mempool_free(struct fsb_mempool *mp)
{
	struct fsb_ctx *ctx = fsb_global_ctx;
	struct fsb_mcache *c, *next;

	if (!mp)
		return 0;

	pthread_mutex_lock(&live_lock);
	if (fsb_mempool_count(mp) != mp->n) {
		pthread_mutex_unlock(&live_lock);
		return -EBUSY;
	}
	/* From here on, no exiting thread touches our caches. */
	live_gen[mp->id] = 0;
	live_pool[mp->id] = NULL;
	pool_tell(mp, false);
	pthread_mutex_unlock(&live_lock);

	if (ctx) {
		pthread_mutex_lock(&ctx->lock);
		if (ctx->pools[mp->id] == mp)
			ctx->pools[mp->id] = NULL;
		pthread_mutex_unlock(&ctx->lock);
	}

	for (c = mp->caches; c; c = next) {
		next = c->next;
		free(c);
	}
	mp->caches = NULL;
	if (mcache_tls[mp->id].gen == mp->gen) {
		mcache_tls[mp->id].gen = 0;
		mcache_tls[mp->id].cache = NULL;
	}
	fsb_mempool_destroy(mp);
	return 0;
}
