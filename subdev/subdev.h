/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * subdev.h - the one ops table every sub-device kind implements.
 *
 * Life of a sub-device (ordered states, see enum fsb_subdev_state):
 *
 *   parsed --probe--> probed --configure--> configured --start--> started
 *      ^                                                            |
 *      +---------------------- close <------- stop <----------------+
 *
 * - probe:     find the device (interface, socket, ring name); no queues.
 * - configure: create sd->conf.nb_rxq/nb_txq queues in sd->rxq[]/txq[].
 *              A kind that cannot provide that many returns -EINVAL and
 *              logs the limit; it never remaps silently.
 * - start:     bind rx queues to sd->rx_pool[] and begin moving packets.
 * - stop:      stop moving packets; queues stay allocated.
 * - close:     undo configure and probe; free every queue.  After close
 *              the datapath must not touch sd->rxq/txq (the core's QSBR
 *              guarantees that before calling it).
 *
 * Burst functions take the queue object, not the sub-device, so the
 * port's fast path is one load and one indirect call.  rx_burst stamps
 * every buffer it returns with sd->port_id and the queue id, in the pass
 * it already makes over the buffers: the port then needs no second pass
 * (that pass was most of the layer's RX cost).  tx_burst follows
 * the DPDK convention: it returns how many it accepted and the rest stay
 * the caller's.
 *
 * Config ops (mac_set, mtu_set, ...) return 0, -ENOTSUP when the kind
 * cannot do it, or another -errno.  -ENOTSUP is not an error to the port.
 *
 * Errors follow libev's classes: environment -> return code; misuse ->
 * assert; device failure -> mark the sub-device gone/broken and go on.
 */
#ifndef FSB_SUBDEV_H
#define FSB_SUBDEV_H

#include "devsignal.h"
#include "fsb_private.h"

struct fsb_subdev_conf {
	uint16_t nb_rxq, nb_txq;
	uint16_t nb_rxd, nb_txd;
};

/* Counters a kind reports; the core folds them (stats.c). */
struct fsb_subdev_stats {
	uint64_t rx_packets, tx_packets;
	uint64_t rx_bytes, tx_bytes;
	uint64_t rx_missed, tx_errors, rx_nombuf;
};

struct fsb_subdev;

struct fsb_subdev_ops {
	/* The kind's name and options, for the spec parser (spec.c). */
	struct fsb_kind_spec desc;

	/* -EAGAIN from probe: the device is there but not ready yet (a
	 * driver bind or a device node that lags a hot-plug on a loaded
	 * machine); the port probes again, backing off, instead of waiting
	 * for an appearance that already happened.  Any other error waits
	 * for the device to (re)appear.
	 *
	 * -EINPROGRESS from probe or start: the step goes on without the
	 * caller (a vhost-user exchange waiting on a slow backend, which
	 * must not hold the control thread for its whole deadline).  The
	 * slot stays where it is, and the kind marks FSB_DEVSIG_STEP when
	 * the step is done; the sync routine then calls the op again,
	 * which returns the step's outcome.  Calls in between return
	 * -EINPROGRESS again; close and release end the step first. */
	int (*probe)(struct fsb_subdev *sd);
	int (*configure)(struct fsb_subdev *sd);
	int (*start)(struct fsb_subdev *sd);
	void (*stop)(struct fsb_subdev *sd);
	void (*close)(struct fsb_subdev *sd);
	/* The slot leaves for good (port close, admin detach, bare close):
	 * drop what a kind keeps beyond close, such as a vhost-user
	 * session that reconnects while the slot waits.  NULL ok. */
	void (*release)(struct fsb_subdev *sd);

	uint16_t (*rx_burst)(void *rxq, struct fsb_buf **bufs, uint16_t n);
	uint16_t (*tx_burst)(void *txq, struct fsb_buf **bufs, uint16_t n);

	/* Packets waiting in the rx queues (for the drain step of a
	 * planned detach); NULL = the kind cannot tell (treated as 0). */
	unsigned (*rx_pending)(struct fsb_subdev *sd);
	/* Packets handed to the device that it has not taken yet (a
	 * virtqueue's published, unused descriptors), for the step of a
	 * planned detach that lets them go out before the stop; NULL = it
	 * has none (the kernel took them: af_packet) or cannot tell. */
	unsigned (*tx_pending)(struct fsb_subdev *sd);

	int (*link_get)(struct fsb_subdev *sd, struct fsb_link *l);
	/* Optional.  The control thread calls it while the sub-device is
	 * started, at the time it last returned (the first time at once),
	 * with the port's lock held: a look at the device that only
	 * marks (fsb_subdev_notify), for a device whose removal nothing
	 * else reports in time.  Returns when to look next (ns,
	 * fsb_now_ns() clock), 0 for never. */
	uint64_t (*watch)(struct fsb_subdev *sd, uint64_t now);
	/* Optional: a device that asks its driver to announce the MAC
	 * (virtio's GUEST_ANNOUNCE: the hypervisor's request after a
	 * migration).  announce_pending says whether it asks now;
	 * announce_ack, called once the announcements went out, tells
	 * the device (VIRTIO_NET_CTRL_ANNOUNCE_ACK), which then clears its
	 * request.  Control thread, port->lock held; 0 or -errno. */
	bool (*announce_pending)(struct fsb_subdev *sd);
	int (*announce_ack)(struct fsb_subdev *sd);
	int (*stats_get)(struct fsb_subdev *sd, struct fsb_subdev_stats *st);
	int (*stats_reset)(struct fsb_subdev *sd);

	int (*mac_get)(struct fsb_subdev *sd, uint8_t mac[FSB_ETHER_ADDR_LEN]);
	int (*mac_set)(struct fsb_subdev *sd,
		       const uint8_t mac[FSB_ETHER_ADDR_LEN]);
	int (*mtu_set)(struct fsb_subdev *sd, uint16_t mtu);
	int (*promisc_set)(struct fsb_subdev *sd, bool on);
	int (*allmulti_set)(struct fsb_subdev *sd, bool on);
	int (*mc_list_set)(struct fsb_subdev *sd,
			   const uint8_t (*macs)[FSB_ETHER_ADDR_LEN],
			   unsigned n);
};

/*
 * Ops that can be forced to -ENOTSUP by the ring kind's test hook,
 * one bit each.
 */
enum fsb_subdev_op_bit {
	FSB_OP_MAC_SET = 1u << 0,
	FSB_OP_MTU_SET = 1u << 1,
	FSB_OP_PROMISC_SET = 1u << 2,
	FSB_OP_ALLMULTI_SET = 1u << 3,
	FSB_OP_MC_LIST_SET = 1u << 4,
	FSB_OP_PROBE = 1u << 5,
	FSB_OP_CONFIGURE = 1u << 6,
	FSB_OP_START = 1u << 7,
	FSB_OP_STATS_GET = 1u << 8,
};

/*
 * Binding of a sub-device to a kernel netdev, for kinds backed by one
 * (af_packet; netdev.c).  The kind fills want_* from its spec in
 * probe(), and ifindex/ifname/running once it found and claimed the
 * device; close() clears ifindex.  In between the router (src/route.c,
 * control thread, port lock held) is the only other writer: it clears
 * ifindex and running when the device goes, follows renames in ifname,
 * and keeps running as rtnetlink last said.  Everyone else reads.
 */
struct fsb_netdev_bind {
	bool used;                      /* this sub-device is a netdev */
	bool by_mac;                    /* adopt by want_mac, any name */
	bool by_pci;                    /* adopt by want_pci, any name */
	char want_ifname[16];           /* iface= (by name) */
	uint8_t want_mac[FSB_ETHER_ADDR_LEN]; /* mac=: permanent, else current */
	char want_pci[16];              /* pci=: the parent's PCI address */
	/* By name: who the name belonged to when we first bound it (its
	 * permanent MAC, its PCI address, where it had them).  A device
	 * that later takes the name is adopted only if it has the same. */
	bool ident_set, ident_has_perm;
	uint8_t ident_perm_mac[FSB_ETHER_ADDR_LEN];
	char ident_pci[16];
	int ifindex;                    /* bound interface, 0 = none */
	char ifname[16];                /* its current name */
	bool running;                   /* IFF_UP && IFF_RUNNING, last seen */
};

/* ---- netdev.c ---- */

/* Bind @ifindex to one sub-device process-wide: 0, -EBUSY when taken
 * (a racing probe: retried on the next event) or -ENOSPC.  Released at
 * close. */
int fsb_netdev_claim(int ifindex);
void fsb_netdev_release(int ifindex);
/* Is @ifindex bound by some sub-device? */
bool fsb_netdev_claimed(int ifindex);

/*
 * Does @id match what @b wants: by name (confirmed by the identity
 * recorded at the first bind), by permanent-else-current address
 * (never a net_failover master or standby: see netdev.c), or by the
 * PCI address of its parent?
 */
bool fsb_netdev_match(const struct fsb_netdev_bind *b,
		      const struct fsb_devid *id);

/* Record @id as who @b's name belongs to (first bind only). */
void fsb_netdev_ident_record(struct fsb_netdev_bind *b,
			     const struct fsb_devid *id);

/*
 * Is @id one of a net_failover pair's own netdevs (the master or its
 * standby)?  Both sit on one parent device (the virtio device), which
 * then holds two netdevs; a primary (VF) has its own.  Reads sysfs.
 */
bool fsb_netdev_failover_member(const struct fsb_devid *id);

/* Is the device @id describes IFF_UP and IFF_RUNNING? */
bool fsb_netdev_running(const struct fsb_devid *id);

/*
 * Look the wanted device up now (an rtnetlink dump of the current
 * netns), skipping interfaces another sub-device has claimed.  Returns
 * 0 and fills @out, -ENODEV when absent, or another -errno.  Used by
 * probe(), which then claims what it found.
 */
int fsb_netdev_find(const struct fsb_netdev_bind *b, struct fsb_devid *out);

/*
 * A sub-device.  Embedded in a port slot (or a bare handle) and kept for
 * the port's lifetime; probe..close come and go inside it.
 */
struct fsb_subdev {
	const struct fsb_subdev_ops *ops;
	struct fsb_devspec spec;
	char name[FSB_NAME_MAX + 8];    /* "fsb0.1" for logs */
	uint16_t port_id;
	int slot;
	struct fsb_subdev_conf conf;
	struct fsb_mempool *rx_pool[FSB_MAX_QUEUES];
	void *rxq[FSB_MAX_QUEUES];
	void *txq[FSB_MAX_QUEUES];
	void *priv;                     /* the kind's, from probe to close */
	struct fsb_netdev_bind nd;      /* netdev kinds only */
	char pci_addr[16];              /* "DDDD:BB:DD.F" for PCI-backed kinds, else "" */
	/* The port answers announce requests (announce= is not off): a
	 * kind whose device can ask for them negotiates it (virtio's
	 * GUEST_ANNOUNCE); set by the port before probe. */
	bool announce;
	/* The TX stall watchdog's limit (stall_ms=, 0 = off; 0 for a bare
	 * sub-device, which has no port to fail over): a kind whose device
	 * consumes descriptors reports its link down, reason stalled, when
	 * TX descriptors stay unused this long (virtio_net.h).  Set by the
	 * port before probe. */
	uint32_t stall_ms;

	/* How the kind's own sources (a session, a BAR, a VFIO request)
	 * tell the port: installed by the port before probe, never
	 * changed after; fn == NULL for a bare sub-device. */
	struct fsb_slot_notify notify;
	/* Set by close() when it released a device the kernel asked for
	 * (VFIO): microseconds from the request to the release.  The port
	 * takes it for its last_release_us and clears it. */
	uint64_t release_us;
	/* When sends on this device began to fail (CLOCK_MONOTONIC ns, 0 =
	 * they do not): set once per failing streak by the kind's
	 * tx_burst, with a compare-and-swap from 0, before it raises
	 * FSB_DEVSIG_TX_FAILED; taken and cleared by the sync routine.  A
	 * failover it causes counts its downtime from here, not from the
	 * later rtnetlink message. */
	_Atomic uint64_t tx_fail_ns;

	/* Test hooks (ring kind): ops forced to -ENOTSUP, link forced
	 * down.  Atomic because tests flip them while traffic runs. */
	_Atomic unsigned test_enotsup;
	_Atomic bool test_link_down;
};

/*
 * The sub-device's link after a link signal: the kind's answer, and for
 * a netdev-bound one also what rtnetlink last said (the kind's ioctl
 * can read a carrier that the kernel has already announced lost).
 * Returns the kind's link_get() result.  (Right after start the kind's
 * own answer is the fresh one: it has just bound the device.)
 */
int fsb_subdev_link_get(struct fsb_subdev *sd, struct fsb_link *l);

/*
 * For tx_burst: sends fail and make no progress.  Records when the
 * streak began (the first call wins) and raises FSB_DEVSIG_TX_FAILED.
 * Async-signal-safe and lock-free; costs a vDSO clock read and an
 * eventfd write, so a kind calls it at the start of a streak and then
 * rarely (af_packet: every 256th failed call), never per frame.
 */
void fsb_subdev_tx_failing(struct fsb_subdev *sd, uint64_t since_ns);

/* Tell the port (the slot's notifier; nothing for a bare sub-device). */
static inline void fsb_subdev_notify(struct fsb_subdev *sd,
				     enum fsb_devsig_what what,
				     enum fsb_reason why)
{
	fsb_slot_notify_call(&sd->notify, what, why);
}

/* The kind named @kind, or NULL. */
const struct fsb_subdev_ops *fsb_subdev_kind_find(const char *kind);

/*
 * Initialise @sd from a validated devspec (state "parsed").  Never fails:
 * the spec was already checked against the kind's options.
 */
void fsb_subdev_init(struct fsb_subdev *sd, const struct fsb_devspec *d,
		     uint16_t port_id, int slot, const char *port_name);

/* Kinds. */
extern const struct fsb_subdev_ops fsb_subdev_null_ops;
extern const struct fsb_subdev_ops fsb_subdev_ring_ops;
extern const struct fsb_subdev_ops fsb_subdev_af_packet_ops;
extern const struct fsb_subdev_ops fsb_subdev_virtio_user_ops;
extern const struct fsb_subdev_ops fsb_subdev_virtio_pci_ops;

/*
 * Ring kind test hook: force the ops in @enotsup_mask (FSB_OP_* bits) to
 * return -ENOTSUP, and force the link down (@link_down).  A link change
 * is signalled to the port like a real one (link-down/link-up).
 */
void fsb_ring_test_hook(struct fsb_subdev *sd, unsigned enotsup_mask,
			bool link_down);

/* Ring kind test hook: every tx_burst waits this long between getting
 * its queue and touching it (0 = off). */
extern _Atomic uint32_t fsb_ring_test_tx_delay_ns;

/* Ring kind: the config last applied to this end (tests of replay). */
struct fsb_ring_config {
	uint8_t mac[FSB_ETHER_ADDR_LEN];
	uint16_t mtu;
	bool promisc, allmulti;
	unsigned mc_count;
	uint8_t mc_first[FSB_ETHER_ADDR_LEN]; /* the list's first address */
	unsigned applied;      /* ops that succeeded, FSB_OP_* bits */
};
int fsb_ring_config_get(struct fsb_subdev *sd, struct fsb_ring_config *c);

/* Ring kind with bar=1: the memfd behind its fake BAR (owned by the
 * ring; valid from probe to close), or -ENODEV.  Truncating it makes
 * the next burst fault on the BAR (SIGBUS, sigbus.c). */
int fsb_ring_test_bar_fd(struct fsb_subdev *sd);
/* Ring kind with bar=1: probe kills its BAR right after registering it,
 * so probe's first read of it faults (a device gone during probe). */
extern _Atomic bool fsb_ring_test_bar_dead_at_probe;
/* Test: the next N ring probes return -EAGAIN (there, not ready yet). */
extern _Atomic unsigned fsb_ring_test_probe_eagain;

#endif /* FSB_SUBDEV_H */
