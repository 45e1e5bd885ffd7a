/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * af_packet.c - a sub-device on a kernel netdev (typically a VF bound to
 * iavf/mlx5/ixgbevf), through AF_PACKET sockets.
 *
 * Sockets.  One socket per queue index q < max(nb_rxq, nb_txq).  Queue
 * q's socket receives for rx queue q (when q < nb_rxq) and sends for tx
 * queue q (when q < nb_txq).  A socket that only sends is bound with
 * protocol 0: it registers no packet hook, so the kernel never queues
 * received frames to it.  Every fd is SOCK_CLOEXEC | SOCK_NONBLOCK.
 *
 * RX: TPACKET_V3.  V1/V2 rings are arrays of fixed-size frame slots with
 * one status word each: a 64-byte frame occupies a 2 KiB slot, and the
 * reader pays a status check (a cache miss) per frame.  V3 hands over
 * whole blocks: frames are packed back to back at their real size, so a
 * 128 KiB block holds ~900 small frames, and the reader checks one
 * status word per block.  A block goes to user space when it is full or
 * when the retire timer (1 ms here) fires, which bounds latency at low
 * rates.  We copy each frame into an fsb_buf (the ring memory is the
 * kernel's and must be handed back), then give the block back with a
 * release store of TP_STATUS_KERNEL.  The ring is sized from nb_rxd
 * frames of 2 KiB.  Nothing in it is trusted beyond bounds: a block
 * whose num_pkts/offsets cannot be right, or a frame whose
 * tp_mac + tp_snaplen runs past its block, is skipped and counted as
 * rx_missed with a rate-limited log; we never read outside the mapping.
 *
 * TX: batched sendmmsg(MSG_DONTWAIT) with PACKET_QDISC_BYPASS.  We
 * measured it against a TPACKET_V2 TX ring on a veth pair (2 vCPU,
 * kernel 6.18, one sender pinned, 21 interleaved pairs of 0.5 M frames,
 * batches of 32): ring/sendmmsg throughput ratio median 0.96 at 64 B
 * (1.66 vs 1.58 Mpps) and 0.90 at 1500 B (0.84 vs 0.72 Mpps).  The
 * ring is no faster: per frame the kernel builds an skb either way, and
 * the ring's zero copy is paid back by our copy into the ring.  And
 * sendmmsg's semantics are what a PMD needs: the kernel says at once how
 * many frames went, and what it refused stays the caller's.  With a TX
 * ring a frame's fate is decided later, and a dying device leaves frames
 * in SEND_REQUEST that would have to be reclaimed.  Qdisc bypass skips
 * the qdisc layer (a VF has its own queues; back-pressure then comes
 * back as ENOBUFS from the driver, which we treat like EAGAIN).
 *
 * PACKET_IGNORE_OUTGOING.  A packet socket bound to a device also sees
 * every frame *sent* on it, by any socket: without the flag, rx queue 1
 * would receive what tx queue 0 just sent, and a forwarding app would
 * loop.  Careful: with fanout the per-socket flag is ignored (the group's
 * hook replaces the socket's), so the group gets
 * PACKET_FANOUT_FLAG_IGNORE_OUTGOING as well.
 *
 * Fanout (nb_rxq > 1): PACKET_FANOUT_HASH over the rx sockets, so one
 * flow stays on one queue.  The group id comes from the kernel
 * (PACKET_FANOUT_FLAG_UNIQUEID on the first socket, then read back):
 * fanout ids are per netns and shared by every process, and a collision
 * with a group on another device fails with EINVAL.  No
 * PACKET_FANOUT_FLAG_DEFRAG: it hands the socket reassembled datagrams
 * larger than the MTU (and our buffers); fragments of one datagram
 * already hash alike, since the flow hash of a fragment uses only the
 * addresses.
 *
 * Promiscuous/allmulti/multicast through packet membership
 * (PACKET_ADD_MEMBERSHIP on queue 0's socket), never IFF_PROMISC: a
 * membership is reference-counted by the kernel, so we do not switch off
 * what tcpdump or another process switched on, and it dies with the
 * socket, so a crash or a removal leaves no interface stuck in
 * promiscuous mode and there is nothing to restore.
 *
 * Started or not.  Between configure and start, and after stop, each rx
 * socket carries a drop-all BPF filter, so the ring does not fill with
 * frames nobody asked for, while rx_burst may still drain what was
 * already there (the drain step of a planned detach).  A fanout socket
 * cannot be re-bound, so a filter is the only way to pause it.  tx_burst
 * refuses everything (returns 0) after stop.
 *
 * When the netdev disappears under us (VF hot-unplug, ip link del): the
 * kernel unhooks the sockets and drops their memberships, sets sk_err to
 * ENETDOWN (the next send reports it once) and forgets the ifindex (every
 * later send fails with ENXIO).  tx_burst then refuses the batch: what
 * was not sent stays the caller's (the tx contract), to be sent again on
 * the path the port fails over to.  We never block, spin or crash.
 *
 * Earlier than any message: on a hot-unplug the driver stops its queue
 * and drops its carrier ~13 ms after the request, and sends fail with
 * ENOBUFS from then on; the RTM_NEWLINK comes only when it has finished
 * closing, ~80 ms later (measured in a QEMU guest, e1000e).  So a call
 * whose sends all fail with a hard error, or a streak of ENOBUFS, tells
 * the port (fsb_subdev_tx_failing): the control thread reads the link
 * at once and fails over if it is down.  The datapath never decides.  The ring stays mapped: blocks
 * already handed over remain readable, and the retire timer hands over
 * the last partial block.  link_get asks by ifindex (what the sockets
 * are bound to), so a new device that takes the old name is never
 * mistaken for ours; it reports down when the index is gone.  The core
 * closes us (munmap, close) only after a QSBR grace period, so no burst
 * still holds the ring; the new device is adopted by a fresh probe.
 *
 * What the kernel does to frames we cannot undo here: with GRO/LRO on
 * (the default for most VF drivers), TCP arrives as super-frames up to
 * 64 KiB that do not fit an fsb_buf; they are dropped and counted as
 * rx_missed with a hint to run `ethtool -K IF gro off lro off`.  A
 * VLAN tag the device stripped (TP_STATUS_VLAN_VALID) is put back into
 * the frame, as DPDK's af_packet does without VLAN-strip offload.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "subdev.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef PACKET_FANOUT_FLAG_UNIQUEID
#define PACKET_FANOUT_FLAG_UNIQUEID 0x2000
#endif
#ifndef PACKET_FANOUT_FLAG_IGNORE_OUTGOING
#define PACKET_FANOUT_FLAG_IGNORE_OUTGOING 0x4000
#endif

#define AFP_FRAME_SIZE 2048u          /* nominal frame, for ring sizing */
#define AFP_BLOCK_SIZE (1u << 17)     /* 128 KiB: 64 nominal frames */
#define AFP_BLOCKS_MIN 4u
#define AFP_BLOCKS_MAX 512u           /* 64 MiB per rx queue */
#define AFP_RETIRE_MS 1u
#define AFP_TX_BATCH 64u              /* frames per sendmmsg */
#define AFP_TX_IOV (4u * AFP_TX_BATCH) /* room for chained buffers */
#define AFP_HDR3 ((uint32_t)sizeof(struct tpacket3_hdr))
#define AFP_VLAN_HLEN 4u
#define AFP_V3_ALIGN 8u               /* V3 frames: 8-byte aligned (the
					 * kernel's V3_ALIGNMENT), not
					 * TPACKET_ALIGNMENT */

/* A single read of ring memory the kernel wrote: bounds are checked on
 * the value read, never on a second fetch. */
#define AFP_RD(x) (*(const volatile __typeof__(x) *)&(x))

struct afp_rxq {
	/* Datapath. */
	struct fsb_mempool *pool;       /* from start; NULL = not started */
	uint8_t *ring;
	uint32_t block_size, block_nr;
	uint32_t blk;                   /* block being read (or next) */
	uint32_t left;                  /* frames left in it, when open */
	uint32_t off;                   /* offset of the next frame */
	bool open;                      /* blk is ours and being read */
	_Atomic uint64_t pkts, bytes, nombuf, bad;
	const char *name;               /* sd->name, for logs */
	uint16_t port_id, qid;          /* stamped into every buffer */
	/* Control side. */
	_Atomic uint64_t kdrops;        /* PACKET_STATISTICS tp_drops, summed */
	int fd;
	size_t ring_len;
} FSB_ALIGNED;

struct afp_txq {
	int fd;
	_Atomic bool enabled;           /* started; tx_burst refuses if not */
	_Atomic uint64_t pkts, bytes, errors;
	const char *name;               /* sd->name, for logs */
	struct fsb_subdev *sd;          /* for fsb_subdev_tx_failing() */
	/* Datapath only: consecutive calls whose sends all failed, and
	 * when the first of them failed. */
	unsigned fail_streak;
	uint64_t fail_ns;
	struct mmsghdr msg[AFP_TX_BATCH];
	struct iovec iov[AFP_TX_IOV];
} FSB_ALIGNED;

struct afp_priv {
	int ifindex;                    /* what the sockets are bound to */
	char ifname[IF_NAMESIZE];       /* name at probe, for logs */
	unsigned nrxq, ntxq, nsock;
	int fd[FSB_MAX_QUEUES];         /* per queue index; -1 = none */
	struct afp_rxq *rxq;            /* nrxq of them */
	struct afp_txq *txq;            /* ntxq of them */
	/* Memberships wanted; held on fd[0] while the sockets exist. */
	bool promisc, allmulti;
	uint8_t (*mc)[FSB_ETHER_ADDR_LEN];
	unsigned mc_n;
	/* link_get's ethtool answer, read when the link comes up */
	bool speed_known, full_duplex;
	uint32_t speed_mbps;
};

static const struct fsb_opt_desc afp_opts[] = {
	{ "iface", FSB_OPT_IFNAME, 0, 0 },
	{ "mac", FSB_OPT_MAC, 0, 0 },
	{ "pci", FSB_OPT_PCI, 0, 0 },
	{ "queues", FSB_OPT_UINT, 1, FSB_MAX_QUEUES },
	{ "admin_up", FSB_OPT_BOOL, 0, 0 },
	{ NULL, 0, 0, 0 },
};

static int afp_validate(const struct fsb_devspec *d, char *msg, size_t len)
{
	int n = (fsb_devspec_get(d, "iface") != NULL) +
		(fsb_devspec_get(d, "mac") != NULL) +
		(fsb_devspec_get(d, "pci") != NULL);
	if (n == 0) {
		snprintf(msg, len, "af_packet needs iface=, mac= or pci=");
		return -EINVAL;
	}
	if (n > 1) {
		snprintf(msg, len, "af_packet takes one of iface=, mac= and pci=");
		return -EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* ioctl helpers (control side)                                        */
/* ------------------------------------------------------------------ */

/*
 * A socket for interface ioctls with @ifr naming interface @ifindex (by
 * its current name: renames are followed).  Returns the fd, or -errno
 * (-ENODEV when the interface is gone).
 */
static int afp_ifreq(int ifindex, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	memset(ifr, 0, sizeof(*ifr));
	ifr->ifr_ifindex = ifindex;
	if (ioctl(s, SIOCGIFNAME, ifr) < 0) {
		int e = errno;
		close(s);
		return e == ENXIO ? -ENODEV : -e;
	}
	return s;
}

/* Refusals of a config change that mean "this device will not do it". */
/* A control socket and an ifreq naming @sd's bound interface, or -errno
 * (-ENODEV when not probed).  The caller closes the socket. */
static int afp_sd_ifreq(struct fsb_subdev *sd, struct ifreq *ifr)
{
	struct afp_priv *p = sd->priv;
	if (!p)
		return -ENODEV;
	return afp_ifreq(p->ifindex, ifr);
}

static int afp_cfg_err(int e)
{
	switch (e) {
	case EPERM:
	case EACCES:
	case EOPNOTSUPP:
	case EADDRNOTAVAIL:
	case EBUSY:
		return -ENOTSUP;
	default:
		return -e;
	}
}

/* ------------------------------------------------------------------ */
/* Probe                                                               */
/* ------------------------------------------------------------------ */

static int afp_probe(struct fsb_subdev *sd)
{
	struct fsb_netdev_bind *nd = &sd->nd;
	const char *iface = fsb_devspec_get(&sd->spec, "iface");
	const char *mac = fsb_devspec_get(&sd->spec, "mac");
	const char *pci = fsb_devspec_get(&sd->spec, "pci");

	/* Filled before the lookup: the router needs to know
	 * what we wait for even while the device is absent. */
	nd->used = true;
	nd->by_mac = mac != NULL;
	nd->by_pci = pci != NULL;
	if (mac) {
		if (fsb_mac_parse(mac, nd->want_mac) < 0)
			return -EINVAL;         /* the parser checked it */
	} else if (pci) {
		if (fsb_pci_addr_parse(pci, nd->want_pci) < 0)
			return -EINVAL;
	} else {
		snprintf(nd->want_ifname, sizeof(nd->want_ifname), "%s",
			 iface ? iface : "");
	}
	nd->ifindex = 0;

	struct fsb_devid info;
	memset(&info, 0, sizeof(info));
	int rc = fsb_netdev_find(nd, &info);
	if (rc < 0) {
		if (rc == -ENODEV)
			fsb_log(FSB_LOG_INFO, "%s: %s %s is not there (yet)",
				sd->name, mac ? "no interface with address" :
				pci ? "no interface on PCI device" : "interface",
				mac ? mac : pci ? nd->want_pci : nd->want_ifname);
		return rc;
	}
	if (info.ifindex <= 0)
		return -ENODEV;
	rc = fsb_netdev_claim(info.ifindex);
	if (rc < 0)
		return rc;

	struct afp_priv *p = calloc(1, sizeof(*p));
	if (!p) {
		fsb_netdev_release(info.ifindex);
		return -ENOMEM;
	}
	p->ifindex = info.ifindex;
	snprintf(p->ifname, sizeof(p->ifname), "%s", info.ifname);
	for (unsigned q = 0; q < FSB_MAX_QUEUES; q++)
		p->fd[q] = -1;
	sd->priv = p;

	nd->ifindex = info.ifindex;
	snprintf(nd->ifname, sizeof(nd->ifname), "%s", info.ifname);
	nd->running = fsb_netdev_running(&info);
	fsb_netdev_ident_record(nd, &info);
	fsb_log(FSB_LOG_INFO, "%s: af_packet on %s (ifindex %d)%s", sd->name,
		info.ifname, info.ifindex, nd->running ? "" : ", link down");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Configure: sockets and rings                                        */
/* ------------------------------------------------------------------ */

/* Log a failed socket step (a vanished device is not worth an error
 * line: the core waits for it to come back) and return -errno. */
static int afp_fail(struct fsb_subdev *sd, const char *what, unsigned q)
{
	int e = errno ? errno : EIO;
	fsb_log(e == ENODEV || e == ENXIO ? FSB_LOG_INFO : FSB_LOG_ERR,
		"%s: %s on queue %u: %s", sd->name, what, q, strerror(e));
	return -e;
}

static int afp_filter_drop_all(int fd, bool on)
{
	static struct sock_filter drop[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	if (on) {
		struct sock_fprog prog = { .len = 1, .filter = drop };
		return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
				  sizeof(prog));
	}
	int dummy = 0;
	if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &dummy,
		       sizeof(dummy)) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

/* Common socket options; @txd sizes the send buffer. */
static void afp_sock_tx_opts(struct fsb_subdev *sd, int fd, unsigned txd)
{
	int one = 1;
	if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one,
		       sizeof(one)) < 0)
		FSB_LOG_RL(FSB_LOG_WARNING, "%s: PACKET_QDISC_BYPASS: %s",
			   sd->name, strerror(errno));
	/* Frames in flight are charged to the socket until the driver
	 * completes them: let nb_txd of them be in flight.  FORCE needs
	 * CAP_NET_ADMIN; without it the sysctl cap applies. */
	int sndbuf = (int)(txd * AFP_FRAME_SIZE * 2);
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf,
		       sizeof(sndbuf)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
				 sizeof(sndbuf));
}

static int afp_bind(int fd, int ifindex, uint16_t proto)
{
	struct sockaddr_ll sll;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(proto);
	sll.sll_ifindex = ifindex;
	return bind(fd, (struct sockaddr *)&sll, sizeof(sll));
}

static void afp_ring_geometry(unsigned nb_rxd, struct tpacket_req3 *req)
{
	uint64_t bytes = (uint64_t)nb_rxd * AFP_FRAME_SIZE;
	uint64_t nr = (bytes + AFP_BLOCK_SIZE - 1) / AFP_BLOCK_SIZE;
	if (nr < AFP_BLOCKS_MIN)
		nr = AFP_BLOCKS_MIN;
	if (nr > AFP_BLOCKS_MAX)
		nr = AFP_BLOCKS_MAX;
	memset(req, 0, sizeof(*req));
	req->tp_block_size = AFP_BLOCK_SIZE;
	req->tp_block_nr = (unsigned)nr;
	req->tp_frame_size = AFP_FRAME_SIZE;
	req->tp_frame_nr = (unsigned)nr * (AFP_BLOCK_SIZE / AFP_FRAME_SIZE);
	req->tp_retire_blk_tov = AFP_RETIRE_MS;
}

/* Socket for rx (and tx) queue @q, with its V3 ring. */
static int afp_rx_open(struct fsb_subdev *sd, struct afp_priv *p, unsigned q)
{
	struct afp_rxq *rq = &p->rxq[q];
	/* Protocol 0 at creation: no packet hook until bind, when the
	 * filter and ring are in place. */
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return afp_fail(sd, "socket(AF_PACKET)", q);
	p->fd[q] = fd;
	rq->fd = fd;
	rq->name = sd->name;
	rq->port_id = sd->port_id;
	rq->qid = (uint16_t)q;

	if (afp_filter_drop_all(fd, true) < 0)
		return afp_fail(sd, "SO_ATTACH_FILTER", q);
	int v = TPACKET_V3;
	if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) < 0)
		return afp_fail(sd, "PACKET_VERSION(TPACKET_V3)", q);
	int one = 1;
	if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one,
		       sizeof(one)) < 0)
		fsb_log(FSB_LOG_WARNING,
			"%s: PACKET_IGNORE_OUTGOING: %s: rx will see our own tx",
			sd->name, strerror(errno));
	if (q < p->ntxq)
		afp_sock_tx_opts(sd, fd, sd->conf.nb_txd ? sd->conf.nb_txd : 1024);

	struct tpacket_req3 req;
	afp_ring_geometry(sd->conf.nb_rxd ? sd->conf.nb_rxd : 1024, &req);
	if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0)
		return afp_fail(sd, "PACKET_RX_RING", q);
	size_t len = (size_t)req.tp_block_size * req.tp_block_nr;
	void *ring = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_POPULATE, fd, 0);
	if (ring == MAP_FAILED)
		return afp_fail(sd, "mmap of the rx ring", q);
	rq->ring = ring;
	rq->ring_len = len;
	rq->block_size = req.tp_block_size;
	rq->block_nr = req.tp_block_nr;

	if (afp_bind(fd, p->ifindex, ETH_P_ALL) < 0)
		return afp_fail(sd, "bind", q);
	return 0;
}

/* Socket for a tx-only queue @q: protocol 0, so it receives nothing. */
static int afp_tx_open(struct fsb_subdev *sd, struct afp_priv *p, unsigned q)
{
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return afp_fail(sd, "socket(AF_PACKET)", q);
	p->fd[q] = fd;
	afp_sock_tx_opts(sd, fd, sd->conf.nb_txd ? sd->conf.nb_txd : 1024);
	if (afp_bind(fd, p->ifindex, 0) < 0)
		return afp_fail(sd, "bind", q);
	return 0;
}

static int afp_fanout(struct fsb_subdev *sd, struct afp_priv *p)
{
	const int type = PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_IGNORE_OUTGOING;
	int arg = (type | PACKET_FANOUT_FLAG_UNIQUEID) << 16;   /* id 0 */
	if (setsockopt(p->fd[0], SOL_PACKET, PACKET_FANOUT, &arg,
		       sizeof(arg)) < 0)
		return afp_fail(sd, "PACKET_FANOUT", 0);
	int got = 0;
	socklen_t len = sizeof(got);
	if (getsockopt(p->fd[0], SOL_PACKET, PACKET_FANOUT, &got, &len) < 0)
		return afp_fail(sd, "PACKET_FANOUT (read group id)", 0);
	unsigned id = (unsigned)got & 0xffff;
	for (unsigned q = 1; q < p->nrxq; q++) {
		arg = (int)(id | ((unsigned)type << 16));
		if (setsockopt(p->fd[q], SOL_PACKET, PACKET_FANOUT, &arg,
			       sizeof(arg)) < 0)
			return afp_fail(sd, "PACKET_FANOUT (join)", q);
	}
	fsb_log(FSB_LOG_DEBUG, "%s: %u rx queues in fanout group %u",
		sd->name, p->nrxq, id);
	return 0;
}

static int afp_member(struct afp_priv *p, int op, unsigned short type,
		      const uint8_t *addr)
{
	struct packet_mreq mr;
	memset(&mr, 0, sizeof(mr));
	mr.mr_ifindex = p->ifindex;
	mr.mr_type = type;
	if (addr) {
		mr.mr_alen = FSB_ETHER_ADDR_LEN;
		memcpy(mr.mr_address, addr, FSB_ETHER_ADDR_LEN);
	}
	if (setsockopt(p->fd[0], SOL_PACKET, op, &mr, sizeof(mr)) < 0) {
		/* Dropping what the kernel already dropped (the device went
		 * away and took the memberships with it) is done. */
		if (op == PACKET_DROP_MEMBERSHIP &&
		    (errno == EADDRNOTAVAIL || errno == ENODEV))
			return 0;
		return -errno;
	}
	return 0;
}

static bool mac_in(const uint8_t (*l)[FSB_ETHER_ADDR_LEN], unsigned n,
		   const uint8_t *a)
{
	for (unsigned i = 0; i < n; i++)
		if (memcmp(l[i], a, FSB_ETHER_ADDR_LEN) == 0)
			return true;
	return false;
}

/* Take the memberships we want on a fresh fd[0]. */
static void afp_members_apply(struct fsb_subdev *sd, struct afp_priv *p)
{
	int rc;
	if (p->promisc &&
	    (rc = afp_member(p, PACKET_ADD_MEMBERSHIP, PACKET_MR_PROMISC, NULL)) < 0)
		fsb_log(FSB_LOG_WARNING, "%s: promisc: %s", sd->name,
			strerror(-rc));
	if (p->allmulti &&
	    (rc = afp_member(p, PACKET_ADD_MEMBERSHIP, PACKET_MR_ALLMULTI, NULL)) < 0)
		fsb_log(FSB_LOG_WARNING, "%s: allmulti: %s", sd->name,
			strerror(-rc));
	for (unsigned i = 0; i < p->mc_n; i++) {
		if (mac_in((const uint8_t (*)[6])p->mc, i, p->mc[i]))
			continue;
		rc = afp_member(p, PACKET_ADD_MEMBERSHIP, PACKET_MR_MULTICAST,
				p->mc[i]);
		if (rc < 0)
			fsb_log(FSB_LOG_WARNING, "%s: multicast: %s", sd->name,
				strerror(-rc));
	}
}

/* Close every socket, unmap every ring, free the queue objects. */
static void afp_queues_free(struct fsb_subdev *sd, struct afp_priv *p)
{
	for (unsigned q = 0; q < FSB_MAX_QUEUES; q++) {
		sd->rxq[q] = NULL;
		sd->txq[q] = NULL;
	}
	if (p->rxq) {
		for (unsigned q = 0; q < p->nrxq; q++)
			if (p->rxq[q].ring)
				munmap(p->rxq[q].ring, p->rxq[q].ring_len);
		free(p->rxq);
		p->rxq = NULL;
	}
	free(p->txq);
	p->txq = NULL;
	for (unsigned q = 0; q < FSB_MAX_QUEUES; q++) {
		if (p->fd[q] >= 0)
			close(p->fd[q]);
		p->fd[q] = -1;
	}
	p->nrxq = p->ntxq = p->nsock = 0;
}

static int afp_configure(struct fsb_subdev *sd)
{
	struct afp_priv *p = sd->priv;
	unsigned nrx = sd->conf.nb_rxq, ntx = sd->conf.nb_txq;
	unsigned nq = nrx > ntx ? nrx : ntx;
	uint64_t limit = fsb_devspec_get_u64(&sd->spec, "queues", 0);
	int rc;

	if (!p)
		return -ENODEV;
	if (nrx < 1 || ntx < 1 || nq > FSB_MAX_QUEUES)
		return -EINVAL;
	if (limit && nq != limit) {
		fsb_log(FSB_LOG_ERR,
			"%s: af_packet on %s has queues=%u, but the port asks "
			"for %u rx and %u tx queues", sd->name, p->ifname,
			(unsigned)limit, nrx, ntx);
		return -EINVAL;
	}
	afp_queues_free(sd, p);

	p->rxq = aligned_alloc(FSB_CACHE_LINE, sizeof(*p->rxq) * nrx);
	p->txq = aligned_alloc(FSB_CACHE_LINE, sizeof(*p->txq) * ntx);
	if (!p->rxq || !p->txq) {
		afp_queues_free(sd, p);
		return -ENOMEM;
	}
	memset(p->rxq, 0, sizeof(*p->rxq) * nrx);
	memset(p->txq, 0, sizeof(*p->txq) * ntx);
	for (unsigned q = 0; q < nrx; q++)
		p->rxq[q].fd = -1;
	p->nrxq = nrx;
	p->ntxq = ntx;
	p->nsock = nq;

	for (unsigned q = 0; q < nq; q++) {
		errno = 0;
		rc = q < nrx ? afp_rx_open(sd, p, q) : afp_tx_open(sd, p, q);
		if (rc < 0)
			goto fail;
	}
	if (nrx > 1 && (rc = afp_fanout(sd, p)) < 0)
		goto fail;

	for (unsigned q = 0; q < ntx; q++) {
		struct afp_txq *tq = &p->txq[q];
		tq->fd = p->fd[q];
		tq->name = sd->name;
		tq->sd = sd;
		atomic_init(&tq->enabled, false);
		/* No name, no control, no flags, ever: set once here, so a
		 * burst writes only each frame's iov and iovlen (the kernel
		 * writes back msg_len alone). */
		memset(tq->msg, 0, sizeof(tq->msg));
	}
	afp_members_apply(sd, p);
	for (unsigned q = 0; q < FSB_MAX_QUEUES; q++) {
		sd->rxq[q] = q < nrx ? (void *)&p->rxq[q] : NULL;
		sd->txq[q] = q < ntx ? (void *)&p->txq[q] : NULL;
	}
	return 0;
fail:
	afp_queues_free(sd, p);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Start / stop / close                                                */
/* ------------------------------------------------------------------ */

/*
 * admin_up=1 (the default): the netdev we drive is up.  A re-plugged VF
 * comes back administratively down, and in a guest without a network
 * manager nothing else brings it up: the slot would wait for ever.  We
 * never take it down again (stop, close): the kernel's own stack, or a
 * failover master, may use it too.  A failure is logged, not fatal: the
 * link simply stays down until someone brings it up.
 */
static void afp_admin_up(struct fsb_subdev *sd, struct afp_priv *p)
{
	struct ifreq ifr;
	int s = afp_ifreq(p->ifindex, &ifr);
	if (s < 0)
		return;         /* gone: the router says so */
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) == 0)
			fsb_log(FSB_LOG_NOTICE, "%s: %s was down: brought it up "
				"(admin_up=0 leaves it to you)", sd->name,
				ifr.ifr_name);
		else
			fsb_log(FSB_LOG_WARNING, "%s: bringing %s up: %s",
				sd->name, ifr.ifr_name, strerror(errno));
	}
	close(s);
}

static int afp_start(struct fsb_subdev *sd)
{
	struct afp_priv *p = sd->priv;
	if (!p || !p->rxq)
		return -EINVAL;
	int mtu = 0;
	struct ifreq ifr;
	int s = afp_ifreq(p->ifindex, &ifr);
	if (s >= 0) {
		if (ioctl(s, SIOCGIFMTU, &ifr) == 0)
			mtu = ifr.ifr_mtu;
		close(s);
	}
	for (unsigned q = 0; q < p->nrxq; q++) {
		struct fsb_mempool *mp = sd->rx_pool[q];
		if (!mp) {
			fsb_log(FSB_LOG_ERR, "%s: rx queue %u has no pool",
				sd->name, q);
			return -EINVAL;
		}
		unsigned room = mp->data_room > FSB_BUF_HEADROOM ?
			mp->data_room - FSB_BUF_HEADROOM : 0;
		if (mtu > 0 && (unsigned)mtu + ETH_HLEN + AFP_VLAN_HLEN > room)
			fsb_log(FSB_LOG_WARNING,
				"%s: %s has MTU %d but pool '%s' holds %u-byte "
				"frames: longer frames are dropped (rx_missed)",
				sd->name, p->ifname, mtu, mp->name, room);
	}
	if (fsb_devspec_get_u64(&sd->spec, "admin_up", 1))
		afp_admin_up(sd, p);
	for (unsigned q = 0; q < p->nrxq; q++) {
		p->rxq[q].pool = sd->rx_pool[q];
		if (afp_filter_drop_all(p->rxq[q].fd, false) < 0) {
			int rc = afp_fail(sd, "SO_DETACH_FILTER", q);
			for (unsigned i = 0; i <= q; i++)
				afp_filter_drop_all(p->rxq[i].fd, true);
			return rc;
		}
	}
	for (unsigned q = 0; q < p->nsock; q++) {
		/* A socket bound while the device was down carries a stale
		 * ENETDOWN; reading SO_ERROR clears it. */
		int err = 0;
		socklen_t len = sizeof(err);
		(void)getsockopt(p->fd[q], SOL_SOCKET, SO_ERROR, &err, &len);
	}
	for (unsigned q = 0; q < p->ntxq; q++)
		atomic_store_explicit(&p->txq[q].enabled, true,
				      memory_order_release);
	return 0;
}

static void afp_stop(struct fsb_subdev *sd)
{
	struct afp_priv *p = sd->priv;
	if (!p || !p->rxq)
		return;
	for (unsigned q = 0; q < p->ntxq; q++)
		atomic_store_explicit(&p->txq[q].enabled, false,
				      memory_order_release);
	/* Nothing new enters the rings; what is there may be drained. */
	for (unsigned q = 0; q < p->nrxq; q++)
		if (afp_filter_drop_all(p->rxq[q].fd, true) < 0)
			fsb_log(FSB_LOG_WARNING, "%s: pausing rx queue %u: %s",
				sd->name, q, strerror(errno));
}

static void afp_close(struct fsb_subdev *sd)
{
	struct afp_priv *p = sd->priv;
	if (!p)
		return;
	afp_queues_free(sd, p);
	fsb_netdev_release(p->ifindex);
	free(p->mc);
	free(p);
	sd->priv = NULL;
	/* No longer bound; want_* stay for the router. */
	sd->nd.ifindex = 0;
	sd->nd.running = false;
}

/* ------------------------------------------------------------------ */
/* RX                                                                  */
/* ------------------------------------------------------------------ */

static inline struct tpacket_block_desc *afp_blk(const struct afp_rxq *rq,
						 uint32_t i)
{
	return (struct tpacket_block_desc *)(rq->ring +
					     (size_t)i * rq->block_size);
}

/* Give the current block back to the kernel and step to the next.
 * num_pkts is zeroed first so that rx_pending() can count the frames of
 * the block the kernel is filling (it zeroes it again when it opens a
 * block). */
static inline void afp_blk_release(struct afp_rxq *rq)
{
	struct tpacket_block_desc *bd = afp_blk(rq, rq->blk);
	__atomic_store_n(&bd->hdr.bh1.num_pkts, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL,
			 __ATOMIC_RELEASE);
	rq->open = false;
	rq->left = 0;
	rq->blk = rq->blk + 1 == rq->block_nr ? 0 : rq->blk + 1;
}

/*
 * Open the next block if the kernel handed it over.  Returns false when
 * it did not.  A block whose header cannot be right is released at once
 * and counted in @bad.
 */
static bool afp_blk_open(struct afp_rxq *rq, unsigned *bad)
{
	struct tpacket_block_desc *bd = afp_blk(rq, rq->blk);
	uint32_t st = __atomic_load_n(&bd->hdr.bh1.block_status,
				      __ATOMIC_ACQUIRE);
	if (!(st & TP_STATUS_USER))
		return false;
	uint32_t num = AFP_RD(bd->hdr.bh1.num_pkts);
	uint32_t first = AFP_RD(bd->hdr.bh1.offset_to_first_pkt);
	uint32_t bs = rq->block_size;
	if (num == 0) {
		afp_blk_release(rq);
		return true;
	}
	if (first < sizeof(*bd) || first > bs - AFP_HDR3 ||
	    num > (bs - first) / TPACKET_ALIGN(AFP_HDR3)) {
		FSB_DP_NOTE(FSB_LOG_WARNING, rq->name, 0,
			    "%s: rx block %llu is inconsistent (num_pkts %llu, "
			    "first at %llu, block %llu bytes): skipped",
			    (unsigned long long)rq->blk, (unsigned long long)num, (unsigned long long)first, (unsigned long long)bs);
		(*bad)++;
		afp_blk_release(rq);
		return true;
	}
	rq->open = true;
	rq->left = num;
	rq->off = first;
	return true;
}

/*
 * Copy the frame at rq->off into @b and step past it.  Returns true when
 * @b now holds a frame; false when the frame was skipped (counted in
 * @bad).  Every offset and length is checked against the block.
 */
static inline bool afp_frame_take(struct afp_rxq *rq, struct fsb_buf *b,
				  uint64_t *bytes, unsigned *bad)
{
	uint8_t *blk = (uint8_t *)afp_blk(rq, rq->blk);
	uint32_t bs = rq->block_size, off = rq->off;
	const struct tpacket3_hdr *h = (const void *)(blk + off);

	/* afp_blk_open and the step below keep off <= bs - AFP_HDR3. */
	uint32_t next = AFP_RD(h->tp_next_offset);
	uint32_t snap = AFP_RD(h->tp_snaplen);
	uint32_t len = AFP_RD(h->tp_len);
	uint32_t status = AFP_RD(h->tp_status);
	uint32_t mac = AFP_RD(h->tp_mac);

	rq->left--;
	if (rq->left) {
		if (next < AFP_HDR3 || (next & (AFP_V3_ALIGN - 1)) ||
		    next > bs - AFP_HDR3 - off) {
			FSB_DP_NOTE(FSB_LOG_WARNING, rq->name, 0,
				    "%s: rx block %llu: frame at %llu has next "
				    "offset %llu: %llu frames skipped",
				    (unsigned long long)rq->blk, (unsigned long long)off, (unsigned long long)next, (unsigned long long)rq->left);
			*bad += rq->left;
			rq->left = 0;
		} else {
			rq->off = off + next;
		}
	}
	if (mac < AFP_HDR3 || (uint64_t)off + mac + snap > bs) {
		FSB_DP_NOTE(FSB_LOG_WARNING, rq->name, 0,
			    "%s: rx block %llu: frame at %llu (mac %llu, snaplen "
			    "%llu) runs past the block: skipped",
			    (unsigned long long)rq->blk, (unsigned long long)off, (unsigned long long)mac, (unsigned long long)snap);
		(*bad)++;
		return false;
	}
	bool vlan = (status & TP_STATUS_VLAN_VALID) && snap >= 2 * ETH_ALEN;
	uint32_t total = snap + (vlan ? AFP_VLAN_HLEN : 0);
	uint32_t room = b->buf_len > b->data_off ?
		(uint32_t)(b->buf_len - b->data_off) : 0;
	if (snap < len || total > room) {
		FSB_DP_NOTE(FSB_LOG_WARNING, rq->name, 0,
			    "%s: %llu-byte frame does not fit a %llu-byte buffer: "
			    "dropped (GRO/LRO on? ethtool -K IF gro off lro off)",
			    (unsigned long long)len, (unsigned long long)room);
		(*bad)++;
		return false;
	}
	const uint8_t *src = (const uint8_t *)h + mac;
	uint8_t *dst = fsb_buf_data(b);
	if (vlan) {
		uint16_t tpid = (status & TP_STATUS_VLAN_TPID_VALID) ?
			AFP_RD(h->hv1.tp_vlan_tpid) : ETH_P_8021Q;
		uint16_t tci = (uint16_t)AFP_RD(h->hv1.tp_vlan_tci);
		uint8_t tag[AFP_VLAN_HLEN] = {
			(uint8_t)(tpid >> 8), (uint8_t)tpid,
			(uint8_t)(tci >> 8), (uint8_t)tci,
		};
		memcpy(dst, src, 2 * ETH_ALEN);
		memcpy(dst + 2 * ETH_ALEN, tag, AFP_VLAN_HLEN);
		memcpy(dst + 2 * ETH_ALEN + AFP_VLAN_HLEN, src + 2 * ETH_ALEN,
		       snap - 2 * ETH_ALEN);
	} else {
		memcpy(dst, src, snap);
	}
	b->data_len = (uint16_t)total;
	b->pkt_len = total;
	b->port = rq->port_id;
	b->queue = rq->qid;
	*bytes += total;
	return true;
}

/* Up to @n buffers: one bulk allocation, else one by one. */
static inline unsigned afp_bufs_get(struct fsb_mempool *mp,
				    struct fsb_buf **b, unsigned n)
{
	if (FSB_LIKELY(fsb_buf_alloc_bulk(mp, b, n) == 0))
		return n;
	unsigned i = 0;
	while (i < n && (b[i] = fsb_buf_alloc(mp)) != NULL)
		i++;
	return i;
}

static uint16_t afp_rx_burst(void *q, struct fsb_buf **bufs, uint16_t n)
{
	struct afp_rxq *rq = q;
	struct fsb_mempool *mp = rq->pool;
	unsigned got = 0, bad = 0;
	uint64_t bytes = 0;

	if (FSB_UNLIKELY(!mp))
		return 0;
	while (got < n) {
		if (!rq->open) {
			if (!afp_blk_open(rq, &bad))
				break;
			continue;
		}
		if (rq->left == 0) {
			afp_blk_release(rq);
			continue;
		}
		unsigned want = n - got < rq->left ? n - got : rq->left;
		unsigned have = afp_bufs_get(mp, bufs + got, want);
		if (FSB_UNLIKELY(have == 0)) {
			/* Keep our place: the frame waits for a buffer. */
			fsb_counter_add(&rq->nombuf, 1);
			break;
		}
		unsigned used = 0;
		while (used < have && rq->left)
			used += afp_frame_take(rq, bufs[got + used], &bytes,
					       &bad);
		if (used < have)
			fsb_buf_free_bulk(bufs + got + used, have - used);
		got += used;
		/* Hand a finished block back now, not on the next call. */
		if (rq->left == 0)
			afp_blk_release(rq);
	}
	if (got) {
		fsb_counter_add(&rq->pkts, got);
		fsb_counter_add(&rq->bytes, bytes);
	}
	if (FSB_UNLIKELY(bad))
		fsb_counter_add(&rq->bad, bad);
	return (uint16_t)got;
}

/* Frames in the rings, handed over or being filled (approximate: the
 * block being read counts whole until it is handed back). */
static unsigned afp_rx_pending(struct fsb_subdev *sd)
{
	struct afp_priv *p = sd->priv;
	unsigned n = 0;
	if (!p || !p->rxq)
		return 0;
	for (unsigned q = 0; q < p->nrxq; q++) {
		const struct afp_rxq *rq = &p->rxq[q];
		uint32_t cap = rq->block_size / TPACKET_ALIGN(AFP_HDR3);
		for (uint32_t i = 0; rq->ring && i < rq->block_nr; i++) {
			struct tpacket_block_desc *bd = afp_blk(rq, i);
			uint32_t num = __atomic_load_n(&bd->hdr.bh1.num_pkts,
						       __ATOMIC_ACQUIRE);
			n += num < cap ? num : cap;
		}
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* TX                                                                  */
/* ------------------------------------------------------------------ */

/* Drop bufs[0..k) as tx errors: they are accepted, never sent. */
static void afp_tx_drop(struct afp_txq *tq, struct fsb_buf **bufs, unsigned k)
{
	fsb_buf_free_bulk(bufs, k);
	fsb_counter_add(&tq->errors, k);
}

/*
 * A call whose sends failed (nothing went).  A hard error (the device
 * is going or gone) says so at once; ENOBUFS is ordinary back-pressure
 * until it lasts AFP_TX_ENOBUFS_STREAK calls.  Either way the port is
 * told at the start of the streak, then every AFP_TX_FAIL_REMARK calls
 * (a check that found the link up may be early), never per frame.
 */
#define AFP_TX_ENOBUFS_STREAK 8u
#define AFP_TX_FAIL_REMARK 256u
static void afp_tx_failed(struct afp_txq *tq, bool hard)
{
	unsigned n = ++tq->fail_streak;
	if (n == 1)
		tq->fail_ns = fsb_now_ns();
	unsigned first = hard ? 1 : AFP_TX_ENOBUFS_STREAK;
	if (n == first || (n > first && (n - first) % AFP_TX_FAIL_REMARK == 0))
		fsb_subdev_tx_failing(tq->sd, tq->fail_ns);
}

static uint16_t afp_tx_burst(void *q, struct fsb_buf **bufs, uint16_t n)
{
	struct afp_txq *tq = q;
	unsigned done = 0, sent = 0;
	uint64_t bytes = 0;

	if (FSB_UNLIKELY(!atomic_load_explicit(&tq->enabled,
					       memory_order_acquire)))
		return 0;
	while (done < n) {
		unsigned k = 0, iov = 0;
		while (k < AFP_TX_BATCH && done + k < n) {
			struct fsb_buf *b = bufs[done + k];
			unsigned segs = 0;
			for (const struct fsb_buf *s = b; s; s = s->next)
				segs++;
			if (iov + segs > AFP_TX_IOV)
				break;
			struct msghdr *mh = &tq->msg[k].msg_hdr;
			mh->msg_iov = &tq->iov[iov];
			mh->msg_iovlen = segs;
			for (const struct fsb_buf *s = b; s; s = s->next) {
				tq->iov[iov].iov_base = fsb_buf_data(s);
				tq->iov[iov].iov_len = s->data_len;
				iov++;
			}
			k++;
		}
		if (FSB_UNLIKELY(k == 0)) {
			/* One chain longer than AFP_TX_IOV segments. */
			FSB_DP_NOTE(FSB_LOG_WARNING, tq->name, 0,
				    "%s: a buffer chain of more than %llu "
				    "segments was dropped", (unsigned long long)AFP_TX_IOV);
			afp_tx_drop(tq, bufs + done, 1);
			done++;
			continue;
		}
		int r = sendmmsg(tq->fd, tq->msg, k, MSG_DONTWAIT);
		if (FSB_LIKELY(r > 0)) {
			for (int i = 0; i < r; i++)
				bytes += bufs[done + i]->pkt_len;
			fsb_buf_free_bulk(bufs + done, (unsigned)r);
			done += (unsigned)r;
			sent += (unsigned)r;
			/* A short count: the next call reports why. */
			continue;
		}
		int e = r == 0 ? EAGAIN : errno;
		switch (e) {
		case EAGAIN:
#if EWOULDBLOCK != EAGAIN
		case EWOULDBLOCK:
#endif
		case ENOMEM:
		case EINTR:
			/* Back-pressure: the rest stays the caller's. */
			goto out;
		case ENOBUFS:
			/* The driver's queue is stopped: back-pressure, or
			 * the device is going (its carrier went first).
			 * The rest stays the caller's; a streak makes the
			 * port look at the link. */
			if (!sent)
				afp_tx_failed(tq, false);
			goto out;
		case EMSGSIZE:
		case EINVAL:
			/* This one frame is wrong (too long for the MTU,
			 * shorter than a link header): drop it, go on. */
			FSB_DP_NOTE(FSB_LOG_WARNING, tq->name, e,
				    "%s: a %llu-byte frame was refused and "
				    "dropped", (unsigned long long)bufs[done]->pkt_len);
			afp_tx_drop(tq, bufs + done, 1);
			done++;
			continue;
		default:
			/* ENETDOWN, ENXIO, ENODEV, EIO, ...: the device is
			 * going or gone, and nothing of the rest was sent.
			 * Refuse it: it stays the caller's, to send again
			 * on the path the port fails over to. */
			FSB_DP_NOTE(FSB_LOG_NOTICE, tq->name, e,
				    "%s: tx failed, %llu frames refused",
				    (unsigned long long)(n - done));
			if (!sent)
				afp_tx_failed(tq, true);
			goto out;
		}
	}
out:
	if (sent) {
		tq->fail_streak = 0;
		fsb_counter_add(&tq->pkts, sent);
		fsb_counter_add(&tq->bytes, bytes);
	}
	return (uint16_t)done;
}

/* ------------------------------------------------------------------ */
/* Link, stats                                                         */
/* ------------------------------------------------------------------ */

static int afp_link_get(struct fsb_subdev *sd, struct fsb_link *l)
{
	struct afp_priv *p = sd->priv;
	memset(l, 0, sizeof(*l));
	/* The router clears nd.ifindex when our device goes. */
	if (!p || sd->nd.ifindex != p->ifindex)
		return 0;
	struct ifreq ifr;
	int s = afp_ifreq(p->ifindex, &ifr);
	if (s < 0)
		return 0;               /* gone: link down */
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0)
		l->up = (ifr.ifr_flags & (IFF_UP | IFF_RUNNING)) ==
			(IFF_UP | IFF_RUNNING);
	/*
	 * Speed and duplex only when the link comes up, then cached.  The
	 * ethtool ioctl takes the RTNL lock, and a device being removed
	 * holds it for as long as its driver takes to close (~80 ms for
	 * an e1000e in a guest): asked then, to check whether failing
	 * sends mean a dead link, it blocked the control thread, and the
	 * failover, until the removal was over.  SIOCGIFFLAGS reads under
	 * RCU and never waits.
	 */
	if (l->up && !p->speed_known) {
		struct ethtool_cmd ec;
		memset(&ec, 0, sizeof(ec));
		ec.cmd = ETHTOOL_GSET;
		ifr.ifr_data = (void *)&ec;
		if (ioctl(s, SIOCETHTOOL, &ifr) == 0) {
			uint32_t speed = ethtool_cmd_speed(&ec);
			p->speed_mbps = speed == (uint32_t)SPEED_UNKNOWN ? 0 : speed;
			p->full_duplex = ec.duplex == DUPLEX_FULL;
		}
		p->speed_known = true;
	}
	if (!l->up)
		p->speed_known = false;
	l->speed_mbps = l->up ? p->speed_mbps : 0;
	l->full_duplex = l->up && p->full_duplex;
	close(s);
	return 0;
}

/* Fold the kernel's ring drops into rq->kdrops: PACKET_STATISTICS
 * resets its counters on every read, so each read is accumulated. */
static void afp_kdrops_fold(struct afp_rxq *rq)
{
	struct tpacket_stats_v3 ks;
	socklen_t len = sizeof(ks);
	memset(&ks, 0, sizeof(ks));
	if (getsockopt(rq->fd, SOL_PACKET, PACKET_STATISTICS, &ks, &len) == 0 &&
	    ks.tp_drops)
		atomic_fetch_add(&rq->kdrops, ks.tp_drops);
}

static int afp_stats_get(struct fsb_subdev *sd, struct fsb_subdev_stats *st)
{
	struct afp_priv *p = sd->priv;
	memset(st, 0, sizeof(*st));
	if (!p || !p->rxq)
		return 0;
	for (unsigned q = 0; q < p->nrxq; q++) {
		struct afp_rxq *rq = &p->rxq[q];
		afp_kdrops_fold(rq);
		st->rx_packets += fsb_counter_read(&rq->pkts);
		st->rx_bytes += fsb_counter_read(&rq->bytes);
		st->rx_nombuf += fsb_counter_read(&rq->nombuf);
		st->rx_missed += fsb_counter_read(&rq->bad) +
			atomic_load(&rq->kdrops);
	}
	for (unsigned q = 0; q < p->ntxq; q++) {
		struct afp_txq *tq = &p->txq[q];
		st->tx_packets += fsb_counter_read(&tq->pkts);
		st->tx_bytes += fsb_counter_read(&tq->bytes);
		st->tx_errors += fsb_counter_read(&tq->errors);
	}
	return 0;
}

static int afp_stats_reset(struct fsb_subdev *sd)
{
	struct afp_priv *p = sd->priv;
	if (!p || !p->rxq)
		return 0;
	for (unsigned q = 0; q < p->nrxq; q++) {
		struct afp_rxq *rq = &p->rxq[q];
		afp_kdrops_fold(rq);            /* drain the kernel's count */
		atomic_store(&rq->pkts, 0);
		atomic_store(&rq->bytes, 0);
		atomic_store(&rq->nombuf, 0);
		atomic_store(&rq->bad, 0);
		atomic_store(&rq->kdrops, 0);
	}
	for (unsigned q = 0; q < p->ntxq; q++) {
		atomic_store(&p->txq[q].pkts, 0);
		atomic_store(&p->txq[q].bytes, 0);
		atomic_store(&p->txq[q].errors, 0);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Config ops                                                          */
/* ------------------------------------------------------------------ */

static int afp_mac_get(struct fsb_subdev *sd, uint8_t mac[FSB_ETHER_ADDR_LEN])
{
	struct ifreq ifr;
	int s = afp_sd_ifreq(sd, &ifr);
	if (s < 0)
		return s;
	int rc = ioctl(s, SIOCGIFHWADDR, &ifr) < 0 ? -errno : 0;
	close(s);
	if (rc == 0)
		memcpy(mac, ifr.ifr_hwaddr.sa_data, FSB_ETHER_ADDR_LEN);
	return rc;
}

static int afp_mac_set(struct fsb_subdev *sd,
		       const uint8_t mac[FSB_ETHER_ADDR_LEN])
{
	struct ifreq ifr;
	int s = afp_sd_ifreq(sd, &ifr);
	if (s < 0)
		return s;
	int rc = 0;
	if (ioctl(s, SIOCGIFHWADDR, &ifr) == 0 &&
	    memcmp(ifr.ifr_hwaddr.sa_data, mac, FSB_ETHER_ADDR_LEN) == 0)
		goto out;               /* already so: touch nothing */
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, mac, FSB_ETHER_ADDR_LEN);
	if (ioctl(s, SIOCSIFHWADDR, &ifr) < 0)
		rc = afp_cfg_err(errno);
out:
	close(s);
	return rc;
}

static int afp_mtu_set(struct fsb_subdev *sd, uint16_t mtu)
{
	struct ifreq ifr;
	int s = afp_sd_ifreq(sd, &ifr);
	if (s < 0)
		return s;
	int rc = 0;
	if (ioctl(s, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu == mtu)
		goto out;
	ifr.ifr_mtu = mtu;
	if (ioctl(s, SIOCSIFMTU, &ifr) < 0)
		rc = afp_cfg_err(errno);
out:
	close(s);
	return rc;
}

/* Membership flag @type on or off; @cur is what we hold. */
static int afp_flag_set(struct fsb_subdev *sd, bool *cur, unsigned short type,
			bool on)
{
	struct afp_priv *p = sd->priv;
	if (!p)
		return -ENODEV;
	if (*cur == on)
		return 0;
	if (p->nsock) {
		int rc = afp_member(p, on ? PACKET_ADD_MEMBERSHIP :
				    PACKET_DROP_MEMBERSHIP, type, NULL);
		if (rc < 0)
			return rc;
	}
	*cur = on;                      /* else taken at configure */
	return 0;
}

static int afp_promisc_set(struct fsb_subdev *sd, bool on)
{
	struct afp_priv *p = sd->priv;
	return p ? afp_flag_set(sd, &p->promisc, PACKET_MR_PROMISC, on) : -ENODEV;
}

static int afp_allmulti_set(struct fsb_subdev *sd, bool on)
{
	struct afp_priv *p = sd->priv;
	return p ? afp_flag_set(sd, &p->allmulti, PACKET_MR_ALLMULTI, on) :
		-ENODEV;
}

/* Replace the multicast list: leave what is no longer wanted, join
 * what is new (a group in both is never left, even for a moment). */
static int afp_mc_list_set(struct fsb_subdev *sd,
			   const uint8_t (*macs)[FSB_ETHER_ADDR_LEN], unsigned n)
{
	struct afp_priv *p = sd->priv;
	if (!p)
		return -ENODEV;
	uint8_t (*nl)[FSB_ETHER_ADDR_LEN] = NULL;
	if (n) {
		nl = malloc((size_t)n * FSB_ETHER_ADDR_LEN);
		if (!nl)
			return -ENOMEM;
		memcpy(nl, macs, (size_t)n * FSB_ETHER_ADDR_LEN);
	}
	const uint8_t (*ol)[FSB_ETHER_ADDR_LEN] = (const uint8_t (*)[6])p->mc;
	const uint8_t (*cl)[FSB_ETHER_ADDR_LEN] = (const uint8_t (*)[6])nl;
	int rc = 0;
	if (p->nsock) {
		for (unsigned i = 0; i < p->mc_n; i++)
			if (!mac_in(ol, i, ol[i]) && !mac_in(cl, n, ol[i]))
				(void)afp_member(p, PACKET_DROP_MEMBERSHIP,
						 PACKET_MR_MULTICAST, ol[i]);
		for (unsigned i = 0; i < n; i++) {
			if (mac_in(cl, i, cl[i]) || mac_in(ol, p->mc_n, cl[i]))
				continue;
			int r = afp_member(p, PACKET_ADD_MEMBERSHIP,
					   PACKET_MR_MULTICAST, cl[i]);
			if (r < 0 && rc == 0)
				rc = r;
		}
	}
	free(p->mc);
	p->mc = nl;
	p->mc_n = n;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Test hook                                                           */
/* ------------------------------------------------------------------ */

int fsb_af_packet_test_corrupt(struct fsb_subdev *sd, uint16_t qid, int how);

/*
 * Tests only (declared in tests/test_af_packet.c): damage the block rx
 * queue @qid will open next, once the kernel handed it over, as a broken
 * kernel or a stray write would:
 *   1: its first frame's snaplen runs past the block;
 *   2: num_pkts larger than the block can hold;
 *   3: offset_to_first_pkt outside the block;
 *   4: its first frame's next offset is misaligned (and the block says
 *      it holds at least two frames, so that the offset is followed:
 *      under load the kernel retires blocks holding a single frame).
 * Call it from the thread that polls @qid, between bursts.  Returns 0,
 * -EAGAIN when no block is handed over yet, -EINVAL otherwise.
 */
int fsb_af_packet_test_corrupt(struct fsb_subdev *sd, uint16_t qid, int how)
{
	struct afp_priv *p = sd->priv;
	if (!p || !p->rxq || qid >= p->nrxq || sd->ops != &fsb_subdev_af_packet_ops)
		return -EINVAL;
	struct afp_rxq *rq = &p->rxq[qid];
	if (rq->open)
		return -EINVAL;
	struct tpacket_block_desc *bd = afp_blk(rq, rq->blk);
	if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) &
	      TP_STATUS_USER) || bd->hdr.bh1.num_pkts == 0)
		return -EAGAIN;
	struct tpacket3_hdr *h = (void *)((uint8_t *)bd +
					  bd->hdr.bh1.offset_to_first_pkt);
	switch (how) {
	case 1:
		h->tp_snaplen = rq->block_size;
		break;
	case 2:
		bd->hdr.bh1.num_pkts = 0xffffffffu;
		break;
	case 3:
		bd->hdr.bh1.offset_to_first_pkt = rq->block_size + 64;
		break;
	case 4:
		h->tp_next_offset = 3;
		if (bd->hdr.bh1.num_pkts < 2)
			bd->hdr.bh1.num_pkts = 2;
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

const struct fsb_subdev_ops fsb_subdev_af_packet_ops = {
	.desc = { .kind = "af_packet", .opts = afp_opts, .validate = afp_validate },
	.probe = afp_probe,
	.configure = afp_configure,
	.start = afp_start,
	.stop = afp_stop,
	.close = afp_close,
	.rx_burst = afp_rx_burst,
	.tx_burst = afp_tx_burst,
	.rx_pending = afp_rx_pending,
	.link_get = afp_link_get,
	.stats_get = afp_stats_get,
	.stats_reset = afp_stats_reset,
	.mac_get = afp_mac_get,
	.mac_set = afp_mac_set,
	.mtu_set = afp_mtu_set,
	.promisc_set = afp_promisc_set,
	.allmulti_set = afp_allmulti_set,
	.mc_list_set = afp_mc_list_set,
};
