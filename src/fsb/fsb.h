/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * <fsb/fsb.h> - libfsb, a failsafe bonding port.
 *
 * One logical port stays up while the sub-device under it (an SR-IOV VF,
 * typically) is removed and returned; a fallback sub-device carries the
 * traffic meanwhile.  The API is shaped like a DPDK PMD: bursts of packet
 * buffers taken from a mempool.
 *
 * Return conventions (the kernel's and systemd's sd-* libraries'; not
 * libmnl's, which returns -1 and sets errno):
 *   - functions returning int return 0 (or a count) on success and a
 *     negative errno value on failure; errno is left alone;
 *   - functions returning a pointer return NULL on failure and set errno.
 *
 * Errors are of three classes, as in libev:
 *   - the environment (a device, memory, a peer) -> the return code;
 *   - misuse (a NULL handle, a queue id not configured, a port used
 *     after close) -> undefined; builds configured with --enable-debug
 *     (and the sanitizer builds) abort with a message naming the call;
 *   - a sub-device failing or vanishing -> not an error at all: the
 *     port fails over and says so in its events and xstats.
 *
 * Each function is documented here, once; the .c files only explain
 * how.
 *
 * Threading:
 *   - fsb_rx_burst()/fsb_tx_burst() on one queue must be called by one
 *     thread at a time; different queues may be driven by different
 *     threads concurrently.  They take no lock and make no syscall of
 *     their own (a sub-device kind may, e.g. af_packet's TX kick).
 *   - Every other call is thread-safe with respect to the burst calls.
 *     Control calls (configure, start, stop, attach, detach, set_*) on the
 *     same port must not race each other; call them from one thread.
 *   - Callbacks (log, events) may call the read-only getters (stats,
 *     xstats, link, info) but must not close, stop or reconfigure a port.
 *   - fork() is not supported while a port is open.
 */
#ifndef FSB_FSB_H
#define FSB_FSB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FSB_API __attribute__((visibility("default")))

/** Library version as a string, e.g. "0.1.0". */
FSB_API const char *fsb_version(void);

/* ------------------------------------------------------------------ */
/* Limits                                                              */
/* ------------------------------------------------------------------ */

#define FSB_MAX_SUBDEVS      8    /**< dev() groups per port */
#define FSB_MAX_QUEUES       16   /**< rx (and tx) queues per port */
#define FSB_NAME_MAX         32   /**< port/pool names, incl. NUL */
#define FSB_SPEC_MAX         4096 /**< whole spec string, bytes */
#define FSB_SPEC_VALUE_MAX   255  /**< one option value, bytes */
#define FSB_ERRMSG_MAX       256  /**< room for any error line */
#define FSB_BUF_HEADROOM     128  /**< default headroom, bytes */
#define FSB_ETHER_ADDR_LEN   6
#define FSB_MC_ADDR_MAX      128  /**< multicast addresses per port */

/* ------------------------------------------------------------------ */
/* Library context (one per process)                                   */
/* ------------------------------------------------------------------ */

struct fsb_ctx;

/** Log levels; the numbers are syslog's. */
enum fsb_log_level {
	FSB_LOG_ERR = 3,
	FSB_LOG_WARNING = 4,
	FSB_LOG_NOTICE = 5,
	FSB_LOG_INFO = 6,
	FSB_LOG_DEBUG = 7,
};

/**
 * Log callback.  @msg is one line without a trailing newline.  Called
 * from whichever thread logs (control thread, or the caller's); it must
 * be thread-safe.  Datapath and event-storm messages are rate-limited
 * before they reach it.
 */
typedef void (*fsb_log_fn)(void *arg, enum fsb_log_level level,
			   const char *msg);

/**
 * Create the process's library context.
 *
 * Returns the context, or NULL with errno:
 *   EEXIST - a context already exists in this process;
 *   ENOMEM, or the errno of a failed thread/event-loop setup.
 * The default log sink prints "fsb: LEVEL: msg" to stderr at NOTICE
 * and above.
 */
FSB_API struct fsb_ctx *fsb_ctx_new(void);

/** Close every port still open, stop the control thread, free @ctx. */
FSB_API void fsb_ctx_free(struct fsb_ctx *ctx);

/**
 * Replace the log sink (NULL restores the default) and set the level
 * threshold: messages above @max_level are not formatted at all.
 */
FSB_API void fsb_ctx_set_log(struct fsb_ctx *ctx, fsb_log_fn fn, void *arg,
			     enum fsb_log_level max_level);

/**
 * The control socket: DPDK telemetry v2's wire protocol, so that
 * dpdk-telemetry.py, Telegraf's dpdk input and fsbctl(8) read and steer
 * the process's ports.  A SOCK_SEQPACKET unix socket served by a thread
 * of its own (never the datapath's, never the control thread's).  Off
 * until this is called; our tools call it by default.
 *
 * @opts: NULL, or "key=value" items separated by ',':
 *   prefix=NAME      the socket is RUNDIR/dpdk/NAME/dpdk_telemetry.v2
 *                    (default "fsb"); RUNDIR is $RUNTIME_DIRECTORY, else
 *                    /var/run for root, else $XDG_RUNTIME_DIR or /tmp.
 *                    A second process of the prefix gets ...v2:1, ...
 *   path=PATH        the socket's path itself (its directory must exist)
 *   group=G          (or telemetry_group=G) the socket is 0660 and its
 *                    directory 0750, group G: G's members may read;
 *                    otherwise 0660/0700 (the owner and root only)
 *   clients=N        at most N clients at once (1..256, default 32)
 * Commands that change state (attach, detach, stats reset, log level)
 * are served only to root and to the process's own user.
 *
 * Returns 0, or -errno with one line in @err (when not NULL):
 *   -EINVAL a bad option; -EEXIST already started; -EPERM a directory
 *   that is world-writable; a socket or thread error.
 */
FSB_API int fsb_ctx_telemetry_start(struct fsb_ctx *ctx, const char *opts,
				    char *err, size_t errlen);

/** Close the control socket (unlinked) and its clients; no-op if off. */
FSB_API void fsb_ctx_telemetry_stop(struct fsb_ctx *ctx);

/** The control socket's path, or NULL while it is off. */
FSB_API const char *fsb_ctx_telemetry_path(const struct fsb_ctx *ctx);

/* ------------------------------------------------------------------ */
/* Packet buffers and mempools                                         */
/* ------------------------------------------------------------------ */

struct fsb_mempool;

/**
 * A packet buffer.  The struct sits at the start of its pool element;
 * the data room follows it, starting with the headroom:
 *
 *   [struct fsb_buf][ headroom | data ............ | tailroom ]
 *                   ^buf_addr  ^buf_addr + data_off
 *
 * Fields are public so that the burst path needs no calls; only the
 * library writes pool and buf_addr.
 */
struct fsb_buf {
	void *buf_addr;            /**< start of the data room */
	struct fsb_mempool *pool;  /**< owning pool */
	struct fsb_buf *next;      /**< next segment (chains come later) */
	uint32_t pkt_len;          /**< total length of all segments */
	uint16_t data_len;         /**< bytes of data in this segment */
	uint16_t data_off;         /**< data start, from buf_addr */
	uint16_t buf_len;          /**< size of the data room */
	uint16_t port;             /**< port id that received it */
	uint16_t nb_segs;          /**< segments in the chain, >= 1 */
	uint16_t queue;            /**< rx queue that received it */
	uint64_t udata64;          /**< free for the application */
};

/** Pointer to the first data byte of @b. */
static inline void *fsb_buf_data(const struct fsb_buf *b)
{
	return (char *)b->buf_addr + b->data_off;
}

/** Bytes available after the data, within the data room. */
static inline uint16_t fsb_buf_tailroom(const struct fsb_buf *b)
{
	return (uint16_t)(b->buf_len - b->data_off - b->data_len);
}

/**
 * One memory region backing a pool: all buffers of the pool live in
 * these, so a vhost-user memory table can be built from them.
 * The mapping at @addr covers file offset @offset .. @offset+@size of @fd.
 */
struct fsb_mem_region {
	int fd;            /**< memfd; owned by the pool, do not close */
	uint64_t offset;   /**< offset of @addr within the file */
	uint64_t size;     /**< bytes */
	void *addr;        /**< where it is mapped in this process */
	bool hugetlb;      /**< backed by hugetlb pages */
};

/**
 * Create a pool of @n buffers with @data_room bytes each (headroom
 * included: data_room must exceed FSB_BUF_HEADROOM).
 *
 * @cache_size: per-thread cache depth (0 = none, at most 512).
 * @numa_node:  node to bind the memory to, or -1 for the caller's.
 *
 * Memory comes from memfd (hugetlb memfd when the system has free huge
 * pages, plain memfd otherwise) in at most a few large regions.
 * Thread-safe.  Returns the pool, or NULL with errno:
 *   EINVAL - NULL @ctx, name not 1..31 bytes, n not 1..2^24, data_room
 *            not above FSB_BUF_HEADROOM, cache_size above 512, or no
 *            such NUMA node;
 *   EEXIST - a live pool has that name;
 *   ENOSPC - 64 pools exist already;
 *   ENOMEM - out of memory, or more than 4 regions would be needed;
 *   the errno of memfd_create/ftruncate/mmap (logged).
 */
FSB_API struct fsb_mempool *fsb_mempool_create(struct fsb_ctx *ctx,
					       const char *name, unsigned n,
					       uint16_t data_room,
					       unsigned cache_size,
					       int numa_node);

/** fsb_mempool_create_flags(): every region on hugetlb pages, or no pool. */
#define FSB_MEMPOOL_F_HUGETLB 0x1u

/**
 * fsb_mempool_create() with @flags (0 or FSB_MEMPOOL_F_HUGETLB).  With
 * FSB_MEMPOOL_F_HUGETLB a pool that cannot have every region on hugetlb
 * pages is not created: NULL with errno ENOMEM, and the log says what is
 * missing (how many huge pages are free, how many it needs).  A device
 * with no IOMMU in front of it (virtio_pci driver=uio) addresses
 * buffers by physical address and takes only such pools.  In a hugetlb
 * pool no buffer straddles a huge page boundary.  Other errors as
 * fsb_mempool_create(); EINVAL also for an unknown flag.
 */
FSB_API struct fsb_mempool *fsb_mempool_create_flags(struct fsb_ctx *ctx,
						     const char *name,
						     unsigned n,
						     uint16_t data_room,
						     unsigned cache_size,
						     int numa_node,
						     unsigned flags);

/**
 * Free the pool.  Every buffer must be back, in the pool or in some
 * thread's cache; otherwise returns -EBUSY and frees nothing.  Returns 0
 * (also for NULL).  No thread may use @mp concurrently or afterwards;
 * threads that merely keep a cache of it need not be told.
 */
FSB_API int fsb_mempool_free(struct fsb_mempool *mp);

/** A buffer reset to headroom FSB_BUF_HEADROOM, length 0; NULL with
 *  errno ENOBUFS when the pool and this thread's cache are empty (other
 *  threads' caches may still hold some).  No lock, no syscall. */
FSB_API struct fsb_buf *fsb_buf_alloc(struct fsb_mempool *mp);

/** Allocate exactly @n buffers or none: returns 0 or -ENOBUFS (with
 *  whatever was taken given back).  No lock. */
FSB_API int fsb_buf_alloc_bulk(struct fsb_mempool *mp, struct fsb_buf **bufs,
			       unsigned n);

/** Return @b and every segment chained after it to their pools.  NULL
 *  is a no-op.  No lock. */
FSB_API void fsb_buf_free(struct fsb_buf *b);

/** Free @n buffers, which may belong to different pools; chains are
 *  followed and NULL entries skipped. */
FSB_API void fsb_buf_free_bulk(struct fsb_buf **bufs, unsigned n);

/** Buffers in the pool and in every thread's cache: exact when no
 *  thread allocates or frees meanwhile, otherwise approximate (never
 *  above n).  Takes a lock: not for the datapath. */
FSB_API unsigned fsb_mempool_avail(const struct fsb_mempool *mp);

/**
 * Copy up to @max regions into @r; returns the pool's region count
 * (which may exceed @max).
 */
FSB_API int fsb_mempool_regions(const struct fsb_mempool *mp,
				struct fsb_mem_region *r, unsigned max);

/* ------------------------------------------------------------------ */
/* Reasons and events                                                  */
/* ------------------------------------------------------------------ */

/**
 * Why a sub-device changed state.  One enum for events, logs and
 * xstats (switch_reason_<name with '_' for '-'>).  Values are ABI.
 */
enum fsb_reason {
	FSB_REASON_ADMIN = 0,       /* "admin" */
	FSB_REASON_NETDEV_REMOVED,  /* "netdev-removed" */
	FSB_REASON_NETDEV_ADDED,    /* "netdev-added" */
	FSB_REASON_LINK_DOWN,       /* "link-down" */
	FSB_REASON_LINK_UP,         /* "link-up" */
	FSB_REASON_UEVENT_REMOVE,   /* "uevent-remove" */
	FSB_REASON_UEVENT_ADD,      /* "uevent-add" */
	FSB_REASON_VFIO_REQUEST,    /* "vfio-request" */
	FSB_REASON_SIGBUS,          /* "sigbus" */
	FSB_REASON_SESSION_CLOSED,  /* "session-closed" */
	FSB_REASON_SESSION_RESTORED,/* "session-restored" */
	FSB_REASON_BROKEN,          /* "broken": peer violated the protocol */
	FSB_REASON_PROBE_FAILED,    /* "probe-failed" */
	FSB_REASON_DEVICE_LOST,     /* "device-lost": the device's own
				     * registers say it is gone */
	FSB_REASON_STALLED,         /* "stalled": the device stopped using
				     * TX descriptors (stall_ms) */
	FSB_REASON_COUNT
};

/** "netdev-removed" etc.; "unknown" for out-of-range values. */
FSB_API const char *fsb_reason_name(enum fsb_reason r);

/** Ordered sub-device states: each implies the ones before it. */
enum fsb_subdev_state {
	FSB_SUBDEV_ABSENT = 0,
	FSB_SUBDEV_PARSED,
	FSB_SUBDEV_PROBED,
	FSB_SUBDEV_CONFIGURED,
	FSB_SUBDEV_STARTED,
};

/** "absent", "parsed", "probed", "configured", "started". */
FSB_API const char *fsb_subdev_state_name(enum fsb_subdev_state s);

enum fsb_event_type {
	FSB_EVENT_SUBDEV_STATE = 0, /**< slot moved between states */
	FSB_EVENT_ACTIVE_CHANGE,    /**< TX moved from_slot -> to_slot */
	FSB_EVENT_PORT_LINK,        /**< port link up/down (link_up) */
	FSB_EVENT_SUBDEV_LINK,      /**< a slot's operational link changed */
};

/** "subdev-state", "active-change", "port-link", "subdev-link". */
FSB_API const char *fsb_event_type_name(enum fsb_event_type t);

struct fsb_event {
	enum fsb_event_type type;
	enum fsb_reason reason;
	uint16_t port_id;
	int slot;                     /**< sub-device slot, or -1 */
	enum fsb_subdev_state old_state, new_state; /* SUBDEV_STATE */
	int from_slot, to_slot;       /**< ACTIVE_CHANGE; -1 = no path */
	bool link_up;                 /**< PORT_LINK, SUBDEV_LINK */
	uint64_t downtime_us;         /**< ACTIVE_CHANGE: signal->publish */
	uint64_t time_ns;             /**< CLOCK_MONOTONIC */
};

/**
 * Event callback.  Called on the control thread (or inside the call
 * that caused it, for synchronous admin calls), never concurrently
 * with itself for one port.  See the threading note at the top.
 */
typedef void (*fsb_event_fn)(void *arg, const struct fsb_event *ev);

/**
 * Format @ev as one line ("port 0 slot 1: started -> configured (admin)").
 * Returns what snprintf would.
 */
FSB_API int fsb_event_format(const struct fsb_event *ev, char *buf,
			     size_t len);

/* ------------------------------------------------------------------ */
/* Ports                                                               */
/* ------------------------------------------------------------------ */

struct fsb_port;

/**
 * Open a port from a spec string (grammar in the user guide,
 * docs/guide.md, and libfsb(3)):
 *
 *   fsb0,hold_down=200,dev(ring,name=a),dev(null)
 *
 * Nothing is probed or started yet.  On a bad spec returns NULL with
 * errno EINVAL and, when @err is not NULL, writes the one-line message
 *   "spec error at column N: MESSAGE near 'TOKEN'"
 * into @err (at most @errlen bytes, always terminated).  Other errno:
 * EEXIST (port name in use), ENOMEM, ENOSPC (too many ports).
 */
FSB_API struct fsb_port *fsb_port_open(struct fsb_ctx *ctx, const char *spec,
				       char *err, size_t errlen);

/**
 * Check a spec string without opening anything.  Returns 0, or -EINVAL
 * with the message written to @err as for fsb_port_open().
 */
FSB_API int fsb_spec_check(const char *spec, char *err, size_t errlen);

/** Stop (if started) and close the port; every slot is closed. */
FSB_API void fsb_port_close(struct fsb_port *port);

FSB_API uint16_t fsb_port_id(const struct fsb_port *port);
FSB_API const char *fsb_port_name(const struct fsb_port *port);

struct fsb_port_conf {
	uint16_t nb_rxq;   /**< 1..FSB_MAX_QUEUES */
	uint16_t nb_txq;   /**< 1..FSB_MAX_QUEUES */
	uint16_t nb_rxd;   /**< rx descriptors per queue, 0 = 1024 */
	uint16_t nb_txd;   /**< tx descriptors per queue, 0 = 1024 */
};

/**
 * Set the queue counts.  Every present sub-device is probed and
 * configured; one that cannot provide the queues fails with an error
 * naming the limit (-EINVAL, logged).  Port must be stopped.
 */
FSB_API int fsb_port_configure(struct fsb_port *port,
			       const struct fsb_port_conf *conf);

/** Give rx queue @qid its pool.  After configure, before start. */
FSB_API int fsb_rx_queue_setup(struct fsb_port *port, uint16_t qid,
			       struct fsb_mempool *mp);

/**
 * Start the port: every present sub-device is started, and TX goes to
 * the best usable one at once (no hold-down at start).  A sub-device
 * that fails to start is reported (probe-failed) and skipped: the port
 * starts as long as the spec was valid.  Returns 0, -EINVAL (not
 * configured, a queue without a pool) or -EALREADY.
 */
FSB_API int fsb_port_start(struct fsb_port *port);

/**
 * Stop the port: every sub-device is stopped (not closed) and bursts
 * return 0 afterwards.  As in DPDK, call it after the threads driving
 * the queues stopped polling.
 */
FSB_API int fsb_port_stop(struct fsb_port *port);

/** Install the event callback (NULL removes it). */
FSB_API void fsb_port_set_event_cb(struct fsb_port *port, fsb_event_fn fn,
				   void *arg);

/**
 * Receive up to @n buffers on rx queue @qid, polling every started
 * sub-device (round-robin).  Each buffer's port and queue are set.
 * Returns the count; the caller owns the buffers.
 */
FSB_API uint16_t fsb_rx_burst(struct fsb_port *port, uint16_t qid,
			      struct fsb_buf **bufs, uint16_t n);

/**
 * Send up to @n buffers on tx queue @qid through the active sub-device.
 * Returns how many were accepted; those belong to the library now.
 * Refused buffers (bufs[ret..n-1]) remain the caller's.  With no usable
 * sub-device, accepts nothing and counts tx_no_path.  While an
 * announcement (announce=) that the active path refused waits to be
 * sent, accepts nothing: the port's frames never overtake the path's
 * announcements, and the caller's are handed back, not dropped.
 */
FSB_API uint16_t fsb_tx_burst(struct fsb_port *port, uint16_t qid,
			      struct fsb_buf **bufs, uint16_t n);

/**
 * QSBR: a queue whose thread stops polling (idle, sleeping in epoll, or
 * busy making control calls such as fsb_port_detach) must say so, or
 * detaches wait for it until the grace bound (1 s, logged and counted
 * as grace_timeouts; the sub-device's close is then deferred, never
 * forced).  Call offline before going idle, from the polling thread;
 * @qid covers rx and tx queue @qid, so a thread that polls only one
 * direction of a queue number while another thread polls the other
 * must not call it (let both idle first).  Every queue starts offline and its
 * next burst brings it back online by itself; fsb_queue_online() does
 * it explicitly.  Returns 0 or -EINVAL.
 */
FSB_API int fsb_queue_offline(struct fsb_port *port, uint16_t qid);
FSB_API int fsb_queue_online(struct fsb_port *port, uint16_t qid);

/* Basic stats: never go backwards across removals and resets. */
struct fsb_stats {
	uint64_t ipackets, opackets;
	uint64_t ibytes, obytes;
	uint64_t imissed;   /**< dropped by a sub-device on RX */
	uint64_t ierrors;
	uint64_t oerrors;   /**< accepted for TX but dropped later */
	uint64_t rx_nombuf; /**< RX failed for want of buffers */
};

FSB_API int fsb_port_stats_get(struct fsb_port *port, struct fsb_stats *st);
/** Zero what fsb_port_stats_get() and the xstats report. */
FSB_API int fsb_port_stats_reset(struct fsb_port *port);

struct fsb_xstat_name {
	char name[64];
};

/**
 * The xstats names, a constant set for the port's lifetime:
 * switchovers, switch_reason_<reason>, dup_signals,
 * last_switch_downtime_us, tx_no_path, grace_timeouts, replay_enotsup,
 * last_release_us (from a VFIO device request to the release of the
 * device, last time; a gauge like last_switch_downtime_us),
 * then per slot i (position in the spec): sub<i>_rx_packets,
 * sub<i>_tx_packets, sub<i>_rx_bytes, sub<i>_tx_bytes, sub<i>_rx_missed,
 * sub<i>_tx_errors, sub<i>_rx_nombuf (0 until the slot first comes up;
 * a slot keeps its totals while absent: nothing goes backwards).
 *
 * Returns the number of xstats; fills at most @max entries.
 */
FSB_API int fsb_port_xstats_names(struct fsb_port *port,
				  struct fsb_xstat_name *names, unsigned max);

/** Values in the same order as the names; same return as above. */
FSB_API int fsb_port_xstats_get(struct fsb_port *port, uint64_t *values,
				unsigned max);

struct fsb_link {
	bool up;
	uint32_t speed_mbps;  /**< 0 = unknown */
	bool full_duplex;
};

/** The port's link: up while some sub-device is usable. */
FSB_API int fsb_port_link_get(struct fsb_port *port, struct fsb_link *l);

struct fsb_port_info {
	char name[FSB_NAME_MAX];
	uint16_t port_id;
	uint16_t nb_rxq, nb_txq;
	unsigned nb_slots;          /**< dev() groups in the spec */
	int active_slot;            /**< slot carrying TX, -1 = none */
	uint32_t hold_down_ms;
	uint8_t mac[FSB_ETHER_ADDR_LEN];
	uint16_t mtu;
	bool promisc, allmulti, started;
};

FSB_API int fsb_port_info_get(struct fsb_port *port,
			      struct fsb_port_info *info);

struct fsb_slot_info {
	char kind[16];              /**< "null", "ring", ... */
	char spec[FSB_SPEC_MAX];    /**< the dev(...) text as given */
	enum fsb_subdev_state state;
	bool link_up;
	bool active;                /**< carries TX now */
	enum fsb_reason last_reason;
};

/** Describe slot @slot; -ENOENT when out of range. */
FSB_API int fsb_port_slot_info(struct fsb_port *port, unsigned slot,
			       struct fsb_slot_info *info);

/**
 * Admin calls.  The port keeps the value (its config shadow) and
 * replays it onto every sub-device that (re)starts, item by item; a
 * sub-device's -ENOTSUP is tolerated (counted in replay_enotsup).  A
 * started sub-device that refuses with another error makes the call
 * return that error; the shadow keeps the new value all the same, and
 * the sub-device gets it again on its next restart.
 *
 * mac_set: -EINVAL for a multicast address; mtu_set: -EINVAL below 68.
 * mc_addr_list_set: the multicast addresses to receive (at most
 * FSB_MC_ADDR_MAX; @n == 0 clears the list), -EINVAL for a unicast one
 * or too many.
 */
FSB_API int fsb_port_mac_set(struct fsb_port *port,
			     const uint8_t mac[FSB_ETHER_ADDR_LEN]);
FSB_API int fsb_port_mtu_set(struct fsb_port *port, uint16_t mtu);
FSB_API int fsb_port_promisc_set(struct fsb_port *port, bool on);
FSB_API int fsb_port_allmulti_set(struct fsb_port *port, bool on);
FSB_API int fsb_port_mc_addr_list_set(struct fsb_port *port,
				      const uint8_t (*macs)[FSB_ETHER_ADDR_LEN],
				      unsigned n);

/**
 * Planned removal of slot @slot: TX moves off it first, nothing sent is
 * refused or dropped, then it is stopped and closed.  Returns 0,
 * -ENOENT (no such slot) or -EALREADY (already absent).
 */
FSB_API int fsb_port_detach(struct fsb_port *port, unsigned slot);

/**
 * Bring slot @slot back: probe, configure, replay config, start; it
 * rejoins at its priority.  Returns 0, -ENOENT, -EALREADY, or the
 * sub-device's error (the slot stays absent, and attach may be retried).
 * 0 also when the sub-device's bring-up goes on without the caller (a
 * vhost-user backend slow to answer its handshake): the slot is
 * attached and comes up, with its events, once the device has answered.
 */
FSB_API int fsb_port_attach(struct fsb_port *port, unsigned slot);

/* ------------------------------------------------------------------ */
/* Bare sub-devices (no failsafe layer), for overhead comparisons      */
/* ------------------------------------------------------------------ */

struct fsb_bare;

/**
 * Open one sub-device from a "KIND,opt=val,..." string (the inside of a
 * dev() group) and drive it with no failsafe layer.  Errors as for
 * fsb_port_open().  Returns the handle, probed and configured with
 * @conf's queues, or NULL with errno.
 */
FSB_API struct fsb_bare *fsb_bare_open(struct fsb_ctx *ctx, const char *spec,
				       const struct fsb_port_conf *conf,
				       char *err, size_t errlen);
FSB_API int fsb_bare_rx_queue_setup(struct fsb_bare *b, uint16_t qid,
				    struct fsb_mempool *mp);
FSB_API int fsb_bare_start(struct fsb_bare *b);
FSB_API uint16_t fsb_bare_rx_burst(struct fsb_bare *b, uint16_t qid,
				   struct fsb_buf **bufs, uint16_t n);
FSB_API uint16_t fsb_bare_tx_burst(struct fsb_bare *b, uint16_t qid,
				   struct fsb_buf **bufs, uint16_t n);
FSB_API int fsb_bare_stats_get(struct fsb_bare *b, struct fsb_stats *st);
FSB_API void fsb_bare_close(struct fsb_bare *b);

#ifdef __cplusplus
}
#endif
#endif /* FSB_FSB_H */
