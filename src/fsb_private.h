/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fsb_private.h - internals shared by src/, subdev/ and the tests.
 *
 * Sections:
 *   log.c      logging, rate limits, FSB_ASSERT
 *   ctx.c      process context, name tables
 *   spec.c     port-spec parser
 *   mempool.c  memfd-backed pools with per-thread caches
 *   the port's per-queue state (the port itself: port.h)
 *
 * The other internal headers, by layer (each includes only headers of
 * the layers before it; "make check" builds every header on its own):
 *   fsb_private.h, ring.h     this file; the MPMC ring under the pools
 *   loop.h                    the control thread's event loop
 *   devsignal.h               what a signal source reports
 *   nlmon.h, netlink.h,       the sources: netlink sockets, rtnetlink,
 *   uevent.h, sigbus.h,       kobject uevents, BAR faults, VFIO
 *   vfio.h                    device requests
 *   subdev.h (subdev/)        the sub-device ops table and the kinds
 *   port.h, qsbr.h, route.h   the port, its grace periods, the router
 */
#ifndef FSB_PRIVATE_H
#define FSB_PRIVATE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "announce_frame.h"
#include "fsb/fsb.h"

/*
 * Misuse of the API (a NULL handle, a queue id beyond the configured
 * count) is the caller's bug, not an error to return: with
 * --enable-debug (and in sanitizer builds) it aborts with one line that
 * names the call and the check; otherwise it costs nothing.
 */
#ifdef FSB_DEBUG
#define FSB_ASSERT(cond)                                                 \
	(FSB_LIKELY(cond) ? (void)0 : fsb_assert_fail(#cond, __func__))
#else
#define FSB_ASSERT(cond) ((void)0)
#endif
void fsb_assert_fail(const char *cond, const char *func)
	__attribute__((noreturn, cold));

#define FSB_LIKELY(x) __builtin_expect(!!(x), 1)
#define FSB_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define FSB_CACHE_LINE 64
#define FSB_ALIGNED __attribute__((aligned(FSB_CACHE_LINE)))
#define FSB_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define FSB_MAX_PORTS 64
#define FSB_MAX_POOLS 64

struct fsb_subdev;

/* ================================================================== */
/* ctx.c                                                               */
/* ================================================================== */

struct fsb_ctx {
	pthread_mutex_t lock;          /* ports[], pools[] */
	pthread_cond_t ref_cond;       /* a port's ext_refs went down */
	struct fsb_telemetry *tele;    /* the control socket, or NULL */
	fsb_log_fn log_fn;
	void *log_arg;
	_Atomic int log_level;
	struct fsb_port *ports[FSB_MAX_PORTS];
	struct fsb_mempool *pools[FSB_MAX_POOLS];
};

/* The process's context, or NULL.  Set by fsb_ctx_new. */
extern struct fsb_ctx *fsb_global_ctx;

/* ================================================================== */
/* log.c                                                               */
/* ================================================================== */

/* The default sink: "fsb: LEVEL: msg" on stderr. */
void fsb_log_default(void *arg, enum fsb_log_level level, const char *msg);

/* Log through the context's sink; a no-op without a context or when
 * @level is above the threshold. */
void fsb_log(enum fsb_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Rate-limited logging for event storms (the datapath uses notes,
 * below): at most
 * @burst messages per @interval_ms per call site; the number suppressed
 * is reported with the next message that passes.
 */
struct fsb_ratelimit {
	_Atomic uint64_t window_start_ns;
	_Atomic unsigned printed;
	_Atomic unsigned suppressed;
};
#define FSB_LOG_RL(level, ...)                                          \
	do {                                                            \
		static struct fsb_ratelimit rl__;                       \
		fsb_log_ratelimited(&rl__, 10, 1000, level, __VA_ARGS__); \
	} while (0)
void fsb_log_ratelimited(struct fsb_ratelimit *rl, unsigned burst,
			 unsigned interval_ms, enum fsb_log_level level,
			 const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/*
 * Notes from the datapath.  A burst never formats a line (snprintf and
 * the sink's write are not for the fast path), so a datapath condition
 * (a corrupt ring entry, a refused frame) is a note: the burst stores
 * its numbers and counts it, and the control thread formats and logs it
 * after its next loop turn, at most once a second per note, with how
 * many times it happened since the last line.
 *
 *   FSB_DP_NOTE(level, subject, err, fmt, ...)
 *
 * @subject (a sub-device's name) is copied, at most 39 bytes; @fmt
 * takes it (%s) and then up to four unsigned long long (%llu), the
 * variadic arguments, in that order (checked by the compiler); @err,
 * when not 0, is an errno appended as ": strerror".  Raising is
 * lock-free and allocation-free; it wakes the control loop only when
 * the note was not already pending.  Concurrent raises of one note from
 * two queues may mix their numbers; the count is exact.
 */
struct fsb_dp_note {
	enum fsb_log_level level;       /* constant */
	const char *fmt;                /* constant */
	_Atomic uint64_t count;         /* datapath */
	_Atomic uint64_t subject[5];    /* a copy: its owner may be gone by
					 * the time the note is logged */
	_Atomic uint64_t arg[4];
	_Atomic int err;
	_Atomic bool pending;           /* raised since the last report */
	_Atomic bool listed;            /* in the registry */
	struct fsb_dp_note *next;       /* registry, pushed once */
	uint64_t reported;              /* control thread: count logged */
	uint64_t last_ns;               /* control thread: last line */
};
#define FSB_DP_NOTE(lvl_, subj_, err_, fmt_, ...)                        \
	do {                                                             \
		static struct fsb_dp_note n__ = { .level = (lvl_),       \
						  .fmt = (fmt_) };       \
		if (0)                                                   \
			fsb_dp_note_fmt_check(fmt_, (subj_), ##__VA_ARGS__); \
		const unsigned long long a__[4] = { __VA_ARGS__ };     \
		fsb_dp_note_raise(&n__, (subj_), (err_), a__);           \
	} while (0)
void fsb_dp_note_raise(struct fsb_dp_note *n, const char *subject, int err,
		       const unsigned long long a[4])
	__attribute__((cold, noinline));
/* Never called: lets the compiler check a note's format. */
static inline __attribute__((format(printf, 1, 2)))
void fsb_dp_note_fmt_check(const char *fmt, ...)
{
	(void)fmt;
}

/* The control thread: log the notes raised since the last call (rate
 * limited).  Returns when a held-back note is due (CLOCK_MONOTONIC ns),
 * or 0 when none is. */
uint64_t fsb_dp_notes_report(void);

/* How a raise wakes the control thread (ctl.c installs the loop's
 * wake; async-signal-safe).  NULL: no wake. */
void fsb_dp_notes_set_wake(void (*wake)(void));

/*
 * The library's clock: CLOCK_MONOTONIC, plus a warp that only tests
 * set (log.c).  A test moves time forward with it instead of waiting
 * out a hold-down or a rate limit, then wakes the loop: every deadline
 * (hold-down, close retry, note) is computed from this clock.
 */
extern _Atomic uint64_t fsb_clock_warp_ns;
static inline uint64_t fsb_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec +
	       atomic_load_explicit(&fsb_clock_warp_ns, memory_order_relaxed);
}

/*
 * Add to a counter that one thread writes and others read: a relaxed
 * load and store, no locked RMW on the fast path.
 */
static inline void fsb_counter_add(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
			      memory_order_relaxed);
}

static inline uint64_t fsb_counter_read(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* "a1:b2:..." -> 0, or -EINVAL. */
int fsb_mac_parse(const char *s, uint8_t mac[FSB_ETHER_ADDR_LEN]);
/* Parse a PCI address "DDDD:BB:DD.F" or "BB:DD.F" (domain 0) into the
 * kernel's form "dddd:bb:dd.f" (lower case, as sysfs and uevents write
 * it).  0, or -EINVAL with @out untouched. */
int fsb_pci_addr_parse(const char *s, char out[16]);
void fsb_mac_format(const uint8_t mac[FSB_ETHER_ADDR_LEN], char out[18]);

/* ================================================================== */
/* spec.c                                                              */
/* ================================================================== */

#define FSB_SPEC_MAX_KV 16
#define FSB_KIND_MAX 16
#define FSB_KEY_MAX 32

struct fsb_kv {
	char key[FSB_KEY_MAX];
	char val[FSB_SPEC_VALUE_MAX + 1];
	unsigned col;                   /* column of the key, from 1 */
};

enum fsb_opt_type {
	FSB_OPT_STR = 0,    /* any non-empty string */
	FSB_OPT_UINT,       /* decimal, within [min, max] */
	FSB_OPT_BOOL,       /* 0 or 1 */
	FSB_OPT_MAC,        /* xx:xx:xx:xx:xx:xx */
	FSB_OPT_IFNAME,     /* a Linux interface name */
	FSB_OPT_PATH,       /* a filesystem path */
	FSB_OPT_NAME,       /* [A-Za-z0-9_]{1,31} */
	FSB_OPT_PCI,        /* a PCI address: [DDDD:]BB:DD.F, hex */
};

/* One option a kind accepts, for the spec parser. */
struct fsb_opt_desc {
	const char *name;
	enum fsb_opt_type type;
	uint64_t min, max;  /* FSB_OPT_UINT */
};

/* One dev(...) group: the kind and its options, validated. */
struct fsb_devspec {
	char kind[FSB_KIND_MAX];
	unsigned nkv;
	struct fsb_kv kv[FSB_SPEC_MAX_KV];
	char text[FSB_SPEC_MAX];        /* "KIND,opt=v" as written */
	unsigned col;
};

/* What the spec parser knows of a sub-device kind. */
struct fsb_kind_spec {
	const char *kind;
	const struct fsb_opt_desc *opts;  /* terminated by name == NULL */
	/* Cross-option checks after each option was validated; NULL ok.
	 * Returns 0 or -EINVAL with a message in @msg. */
	int (*validate)(const struct fsb_devspec *d, char *msg, size_t len);
};

/* Every compiled-in kind's, NULL-terminated.  Defined by the layer that
 * owns the kinds (subdev/subdev.c); the parser only reads it, so it
 * includes nothing of that layer. */
extern const struct fsb_kind_spec *const fsb_kind_specs[];

struct fsb_spec {
	char name[FSB_NAME_MAX];
	bool has_mac;
	uint8_t mac[FSB_ETHER_ADDR_LEN];
	uint32_t hold_down_ms;
	uint32_t stall_ms;                  /* TX stall watchdog; 0 = off */
	struct fsb_announce_cfg announce;   /* announce=, announce_* */
	unsigned ndev;
	struct fsb_devspec dev[FSB_MAX_SUBDEVS];
};

#define FSB_HOLD_DOWN_DEFAULT_MS 100
#define FSB_HOLD_DOWN_MAX_MS 3600000u
/* A device that leaves TX descriptors unused this long is stalled: the
 * kernel's TX watchdog waits seconds (it resets the device), we only
 * move TX, so a short wait is cheap; and more than a few watch periods
 * (10 ms), so one late look of a busy device's thread is not a stall. */
#define FSB_STALL_DEFAULT_MS 50
#define FSB_STALL_MAX_MS 60000u

/*
 * Parse a whole port spec.  Returns 0, or -EINVAL with @err holding
 * "spec error at column N: MESSAGE near 'TOKEN'".
 */
int fsb_spec_parse(const char *s, struct fsb_spec *out, char *err,
		   size_t errlen);

/* Parse the inside of one dev() group ("KIND,opt=v,...") on its own,
 * as for --bare.  Same error contract; columns count within @s. */
int fsb_devspec_parse(const char *s, struct fsb_devspec *out, char *err,
		      size_t errlen);

/* The value of @key in @d, or NULL. */
const char *fsb_devspec_get(const struct fsb_devspec *d, const char *key);
/* Same, as an unsigned with default @def (values were range-checked). */
uint64_t fsb_devspec_get_u64(const struct fsb_devspec *d, const char *key,
			     uint64_t def);

/* ================================================================== */
/* mempool.c                                                           */
/* ================================================================== */

#define FSB_MEMPOOL_MAX_REGIONS 4
#define FSB_MEMPOOL_CACHE_MAX 512

struct fsb_mpmc;

struct fsb_mempool {
	char name[FSB_NAME_MAX];
	unsigned id;                    /* index in ctx->pools */
	uint64_t gen;                   /* unique for the process lifetime */
	unsigned n;
	uint32_t elt_size;
	uint16_t data_room;
	unsigned cache_size;
	unsigned flush_threshold;
	int numa_node;
	unsigned nregions;
	struct fsb_mem_region regions[FSB_MEMPOOL_MAX_REGIONS];
	struct fsb_mpmc *free_ring;     /* buffers not in any cache */
	/* Elements [0, fresh) have been handed out at least once; the
	 * rest were never touched (see mempool.c, "Untouched until used").
	 * per_region: elements per region. */
	_Atomic unsigned fresh;
	unsigned per_region;
	/* Hugetlb layout: elements are laid out per huge page of elt_page
	 * bytes, per_page to a page, so none straddles a page boundary
	 * (a device without an IOMMU sees each page at its own physical
	 * address).  0: one flat array per region. */
	uint64_t elt_page;
	unsigned per_page;
	unsigned flags;                 /* FSB_MEMPOOL_F_* */
	pthread_mutex_t caches_lock;    /* caches list */
	struct fsb_mcache *caches;      /* per-thread caches, linked */
};

/* Pool-element header size: struct fsb_buf rounded to a cache line. */
#define FSB_BUF_HDR_SIZE \
	((sizeof(struct fsb_buf) + FSB_CACHE_LINE - 1) & ~(size_t)(FSB_CACHE_LINE - 1))

/* A copy of one live pool's identity and memory (fsb_mempool_snapshot). */
struct fsb_pool_snap {
	unsigned id;
	uint64_t gen;
	char name[FSB_NAME_MAX];
	uint64_t elt_page;              /* huge page layout (mempool.c), or 0 */
	unsigned nregions;
	struct fsb_mem_region regions[FSB_MEMPOOL_MAX_REGIONS];
};

/* Every live pool, for a vhost-user memory table.  Safe with ctx->lock
 * held (takes only the pools' own registry lock).  Returns the count of
 * live pools; fills at most @max.  *@epoch gets the pool epoch as of
 * the copy: while fsb_mempool_epoch() still says the same, no pool was
 * created since, so every pool is in the copy. */
int fsb_mempool_snapshot(struct fsb_pool_snap *out, unsigned max,
			 uint64_t *epoch);

/*
 * A device that DMAs into pool memory through an IOMMU (virtio_pci over
 * VFIO) must have every pool mapped before one of its buffers can reach
 * it, including pools the application creates while the port runs.  A
 * listener is told of each live pool (@added) and of each one freed
 * (@removed: only once every buffer is back, so none is at a device),
 * synchronously and under the pool registry's lock, so its callbacks
 * never run concurrently with each other.  fsb_mempool_listen calls
 * @added for every pool live now; afterwards fsb_mempool_create returns
 * a pool only after every listener was told.
 * *@epoch (optional) is kept equal to fsb_mempool_epoch() for as long as
 * the listener was told of every pool created: the datapath's one-load
 * check that no pool is unknown (virtio_net.c).  Callbacks must not
 * create or free pools.
 */
struct fsb_mempool_listener {
	/* 0, or -errno: this pool is unknown to the listener (the epoch
	 * then stays behind, and the datapath checks every buffer) */
	int (*added)(void *arg, const struct fsb_pool_snap *p);
	void (*removed)(void *arg, const struct fsb_pool_snap *p);
	void *arg;
	uint64_t *epoch;
	struct fsb_mempool_listener *next;
};
void fsb_mempool_listen(struct fsb_mempool_listener *l);

/*
 * The default huge page size in bytes (0: the kernel has none), and in
 * *@free_pages (optional) how many are free and not reserved by another
 * mapping now (/proc/meminfo: HugePages_Free still counts pages others
 * reserved but have not touched, HugePages_Rsvd).
 */
uint64_t fsb_hugepage_info(unsigned long *free_pages);
void fsb_mempool_unlisten(struct fsb_mempool_listener *l);

/* The next pool's gen: moves whenever a pool is created.  One relaxed
 * load, for the datapath: a buffer's pool was created before the buffer
 * reached this thread, so its creation is visible here. */
extern _Atomic uint64_t fsb_mempool_gen_next;
static inline uint64_t fsb_mempool_epoch(void)
{
	return atomic_load_explicit(&fsb_mempool_gen_next, memory_order_relaxed);
}

/* True when @p points into one of @mp's regions (tests, sanity). */
bool fsb_mempool_owns(const struct fsb_mempool *mp, const void *p);

/* Reset a buffer to its pristine state (headroom, length 0). */
static inline void fsb_buf_reset(struct fsb_buf *b)
{
	b->next = NULL;
	b->pkt_len = 0;
	b->data_len = 0;
	b->data_off = b->buf_len > FSB_BUF_HEADROOM ? FSB_BUF_HEADROOM : 0;
	b->nb_segs = 1;
	b->port = UINT16_MAX;
	b->queue = 0;
}

/* ================================================================== */
/* The port's queues (the rest of the port is in port.h)               */
/* ================================================================== */

struct fsb_slot;

/*
 * Frames the control thread hands to one tx queue (the announcements,
 * migration/announce.c): a single-producer single-consumer ring.  The
 * producer is the control side under port->lock; the consumer is
 * whoever holds the queue: its TX thread inside fsb_tx_burst, or a
 * claimer (an RX burst, or the control thread) that took the offline
 * queue with FSB_QSBR_CLAIMED.  On its own cache line, so that the
 * bursts' look at head and tail does not share the line qs is
 * written on.
 */
#define FSB_INJECT_SLOTS 64
struct fsb_inject_ent {
	struct fsb_buf *b;
	const struct fsb_subdev *sd;    /* the path it was made for */
	uint64_t gen;                   /* the port's tx_gen it is for */
};
struct fsb_inject {
	_Atomic uint32_t head;          /* producer: next slot to fill */
	_Atomic uint32_t tail;          /* consumer: next slot to send */
	_Atomic uint64_t sent;          /* consumer-owned counters */
	_Atomic uint64_t failed;
	struct fsb_inject_ent ent[FSB_INJECT_SLOTS];
} FSB_ALIGNED;

/*
 * Addresses a TX burst saw the port use (announce=learn): the burst
 * is the producer, the control thread the consumer.  @last keeps a
 * burst from pushing the same address frame after frame.
 */
#define FSB_LEARN_SLOTS 8
struct fsb_learn_box {
	_Atomic uint32_t head, tail;
	struct fsb_learn_ent {
		struct fsb_announce_addr addr;
		uint8_t src[FSB_ETHER_ADDR_LEN]; /* the frame's source MAC */
	} a[FSB_LEARN_SLOTS];
	struct fsb_announce_addr last;  /* producer only */
	bool has_last;
} FSB_ALIGNED;

/* Per tx queue, on its own cache line: written by the datapath. */
struct fsb_txq {
	/* The sub-device TX goes to, published by the control side
	 * with release; NULL = no usable path. */
	_Atomic(struct fsb_subdev *) active;
	/* QSBR: the epoch seen at the end of the last burst, or
	 * FSB_QSBR_OFFLINE, or FSB_QSBR_CLAIMED. */
	_Atomic uint64_t qs;
	_Atomic uint64_t no_path;       /* tx_no_path, datapath-owned */
	struct fsb_inject inj;
	struct fsb_learn_box learn;
} FSB_ALIGNED;

struct fsb_rxq {
	_Atomic uint64_t qs;
	unsigned rr;                    /* next slot to poll first */
	struct fsb_mempool *pool;
} FSB_ALIGNED;

#define FSB_QSBR_OFFLINE UINT64_MAX
/* An offline tx queue that someone other than its TX thread holds for
 * a moment, to send the queue's inject frames (qsbr.h). */
#define FSB_QSBR_CLAIMED (UINT64_MAX - 1)

#endif /* FSB_PRIVATE_H */
