/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio_pci.c - the virtio_pci sub-device: a virtio-net PCI device
 * (a VM's virtio NIC, a virtio-class VF) driven from userspace through
 * VFIO type1.
 *
 *   dev(virtio_pci,addr=DDDD:BB:DD.F,standby=0|1,queues=N,queue_size=N,mac=M)
 *
 * The pieces: vfio_pci.c takes the device from the kernel's driver and
 * opens it (BARs registered with the SIGBUS registry before any access),
 * virtio_pci_modern.c finds and checks its structures and negotiates,
 * virtqueue.c lays out and checks the rings, virtio_net.c moves the
 * packets.  This file puts them in the order a sub-device's life needs.
 *
 * Probe.  A device that is not there is not an error: QEMU hides a
 * failover primary until a driver negotiates STANDBY on its standby, and
 * a hot-plugged VF comes later.  The slot waits; the uevent "add" for
 * addr= (route.c) tells it to probe again.  The kernel's virtio-pci
 * driver has the device by then: we take it (driver_override,
 * unbind, drivers_probe; see vfio_pci.c) and open it, reset it, and
 * negotiate, so that a device we cannot drive fails here, with a line
 * that says why.  The VFIO device-request eventfd is armed at probe: a
 * request is a planned release (TX moves first, RX is drained, the
 * device fd closed), carried out by the port's sync routine.
 *
 * Features: VERSION_1 and, under type1, ACCESS_PLATFORM are required
 * (a device that bypassed the IOMMU would DMA to addresses that mean
 * nothing to it; QEMU refuses FEATURES_OK without it behind a vIOMMU);
 * MAC and STATUS when offered; STANDBY (bit 62) with standby=1, which
 * is what makes QEMU plug the failover primary.  MRG_RXBUF, EVENT_IDX
 * and IN_ORDER when offered (the rings do both; a frame that would span
 * RX buffers is dropped and counted: our buffers hold a full frame).
 * The control queue (CTRL_VQ) with CTRL_RX, CTRL_MAC_ADDR and MQ: the
 * port's MAC, promiscuous, all-multicast and multicast list go to the
 * device there, and queues=N > 1 asks for N queue pairs (RX 2q, TX
 * 2q+1, control after the device's last pair).  GUEST_ANNOUNCE too when
 * the port announces (announce=): the hypervisor's request after a
 * migration is answered with a round of the port's announcements and
 * ANNOUNCE_ACK (vp_announce_pending).  Control requests are
 * synchronous and bounded (1 s); a device that does not answer is
 * broken.
 *
 * Memory.  Ring memory and every live mempool region are mapped for
 * DMA at start.  Where the IOMMU's aperture covers our addresses the
 * device sees them as they are (IOVA = VA, as for vhost-user); where it
 * does not (a vIOMMU with 39 address bits, user addresses near 2^47),
 * each pool gets one block of the aperture as large as the span of its
 * regions, so one offset per pool translates any of its buffers: one
 * add per packet, from a table indexed by the buffer's pool id.  A pool
 * created while the port runs is mapped before fsb_mempool_create
 * returns it (a mempool listener), and unmapped when freed.
 *
 * Stop resets the device: from then on it touches no memory of ours;
 * what it held is reclaimed at the next start or at close.  Close
 * releases the device (the request source closes the device fd), and
 * records how long a kernel request waited for it.
 *
 * Link: the device's STATUS config field (LINK_UP) while started; a
 * device whose common configuration reads all-ones is gone: its link
 * reads down (the port fails over), and its BAR's SIGBUS, the uevent
 * "remove" or the VFIO request mark it gone or released.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "physmem.h"
#include "subdev.h"
#include "uio_pci.h"
#include "vfio.h"
#include "vfio_pci.h"
#include "virtio_net.h"
#include "virtio_pci.h"

#define VP_QSIZE_DEFAULT 256
#define VP_CTRL_QSIZE 64
#define VP_RESET_MS 1000
#define VP_CTRL_MS 1000
#define VP_WATCH_NS 10000000ull         /* device_status, every 10 ms */
#define VP_F(b) (1ull << (b))
#define VP_F_MTU 3
#define VP_F_MAC 5
#define VP_F_MRG_RXBUF 15
#define VP_F_STATUS 16
#define VP_F_CTRL_VQ 17
#define VP_F_CTRL_RX 18
#define VP_F_GUEST_ANNOUNCE 21
#define VP_F_MQ 22
#define VP_F_CTRL_MAC_ADDR 23
#define VP_F_EVENT_IDX 29
#define VP_F_IN_ORDER 35
#define VP_F_STANDBY 62
#define VP_HDR_LEN 12
/* device configuration (virtio 1.x 5.1.4) */
#define VP_CFG_MAC 0
#define VP_CFG_STATUS 6
#define VP_S_LINK_UP 1
#define VP_S_ANNOUNCE 2
#define VP_CFG_MAX_QP 8
#define VP_CFG_MTU 10
/* control classes and commands (5.1.6.5) */
#define VP_CTRL_RX 0
#define VP_CTRL_RX_PROMISC 0
#define VP_CTRL_RX_ALLMULTI 1
#define VP_CTRL_MAC 1
#define VP_CTRL_MAC_TABLE_SET 0
#define VP_CTRL_MAC_ADDR_SET 1
#define VP_CTRL_ANNOUNCE 3
#define VP_CTRL_ANNOUNCE_ACK 0
#define VP_CTRL_MQ 4
#define VP_CTRL_MQ_VQ_PAIRS_SET 0
/* the control request buffer: one page after the rings */
#define VP_CBUF_LEN 4096
#define VP_CBUF_ACK 4032
#define VP_NVQ (2 * FSB_MAX_QUEUES + 1)

struct vp_kick {                        /* a queue's doorbell and index */
	volatile uint16_t *db;
	uint16_t idx;
};

struct vp_dev {
	struct fsb_subdev *sd;
	struct fsb_pcidev pci;
	struct fsb_vpci v;
	struct fsb_vfio_req *req;
	uint64_t want, required;
	bool negotiated;                /* FEATURES_OK, queues not set yet */
	bool started, used_before;
	bool gone_marked;               /* all-ones seen and told */
	uint8_t status_set;             /* device_status as we left it */
	struct fsb_vnet_watchdog wd;    /* TX stall (virtio_net.h) */
	uint64_t started_ns;
	uint64_t memoff_ns;             /* test knob: memory decoding off at */
	bool stopped;                   /* reset by stop, not started since */
	unsigned max_qp;                /* the device's queue pairs */
	unsigned nqp;                   /* queue pairs configured */
	unsigned nvq;                   /* our virtqueues: 2 * nqp (+ control) */
	struct vp_vq {                  /* ours, in the order above */
		uint16_t index;         /* the device's queue number */
		unsigned size;
		size_t off;             /* in ring_mem */
		struct fsb_vq *vq;
		struct vp_kick kick;
	} q[VP_NVQ];
	struct fsb_vnet_rxq *rxq[FSB_MAX_QUEUES];
	struct fsb_vnet_txq *txq[FSB_MAX_QUEUES];
	struct fsb_vq *cvq;             /* the control queue, or NULL */
	void *ring_mem;
	size_t ring_len, cbuf_off;
	uint64_t ring_iova;             /* where the device sees ring_mem */
	uint64_t known_gen[FSB_MAX_POOLS];
	uint64_t table_epoch;
	int64_t pool_off[FSB_MAX_POOLS]; /* device address - VA, per pool */
	bool translate;                 /* some pool is not IOVA = VA */
	struct vp_dma {                 /* what the IOMMU maps for the device */
		uint64_t iova, len;
		int pool;               /* its pool's id, -1 for the rings */
	} dma[FSB_MAX_POOLS * FSB_MEMPOOL_MAX_REGIONS + 1];
	unsigned ndma;
	struct fsb_mempool_listener pools;
	bool listening;
	int dma_err;                    /* the last pool mapping's */
	/* no IOMMU (pci.phys): physical addresses, per pool and for the
	 * rings (on huge pages of 1 << ring_shift bytes) */
	struct fsb_vnet_phys phys[FSB_MAX_POOLS];
	uint64_t *ring_pa;
	unsigned ring_shift;
	uint16_t max_mtu;               /* VIRTIO_NET_F_MTU, else 0 */
	uint8_t mac[FSB_ETHER_ADDR_LEN];
};

static const struct fsb_opt_desc vp_opts[] = {
	{ "addr", FSB_OPT_PCI, 0, 0 },
	{ "driver", FSB_OPT_STR, 0, 0 },
	{ "standby", FSB_OPT_BOOL, 0, 0 },
	{ "queues", FSB_OPT_UINT, 1, FSB_MAX_QUEUES },
	{ "queue_size", FSB_OPT_UINT, 2, 32768 },
	{ "mac", FSB_OPT_MAC, 0, 0 },
	{ NULL, 0, 0, 0 },
};

static int vp_validate(const struct fsb_devspec *d, char *msg, size_t len)
{
	if (!fsb_devspec_get(d, "addr")) {
		snprintf(msg, len, "virtio_pci needs addr=DDDD:BB:DD.F");
		return -EINVAL;
	}
	const char *drv = fsb_devspec_get(d, "driver");
	if (drv && strcmp(drv, "vfio") != 0 && strcmp(drv, "uio") != 0) {
		snprintf(msg, len, "virtio_pci driver=%s: expected vfio or uio", drv);
		return -EINVAL;
	}
	uint64_t qs = fsb_devspec_get_u64(d, "queue_size", VP_QSIZE_DEFAULT);
	if (qs & (qs - 1)) {
		snprintf(msg, len, "virtio_pci queue_size=%llu is not a power of two",
			 (unsigned long long)qs);
		return -EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Probe, close                                                        */
/* ------------------------------------------------------------------ */

/*
 * The device is released when its fd is closed and nothing maps it any
 * more: BARs first, then the device fd (the request source's), and only
 * then our rings, the group and the container.  Closing the container unpins and
 * unmaps every page we gave the device (tens of MB of 4 KiB pages: in
 * the guest test it took 8-10 ms of the kernel's time); the kernel's
 * removal does not wait for that, so neither should it.  The device was
 * reset (by us at stop, and by vfio-pci at the close), so nothing DMAs
 * in between.
 */
static void vp_release(struct vp_dev *d)
{
	if (d->req) {
		fsb_vfio_pci_bars_unmap(&d->pci);
		uint64_t us = fsb_vfio_req_close(d->req);
		if (us)
			d->sd->release_us = us;
		d->req = NULL;
	}
}

static void vp_free(struct vp_dev *d)
{
	vp_release(d);
	d->pci.ops->close(&d->pci);
	free(d);
}

int (*fsb_vpci_test_open)(struct fsb_pcidev *d, const char *addr, char *err,
			  size_t errlen);

/* Bind and open the device, arm its request: @d->pci and @d->req. */
static int vp_open(struct vp_dev *d, char *err, size_t errlen)
{
	struct fsb_subdev *sd = d->sd;
	const char *drv = fsb_devspec_get(&sd->spec, "driver");
	if (drv && strcmp(drv, "uio") == 0) {
		/* no request to arm: the kernel removes a UIO device first
		 * and says so afterwards */
		const char *keep = getenv("FSB_TEST_VPCI_KEEP_BAR");
		char now[64] = "";
		for (unsigned ms = 0; keep && *keep == '1' && ms < 3000; ms += 5) {
			/* the re-plug race's test (uio_pci.c): the kernel's
			 * driver claims the range before we take the device */
			if (fsb_pci_driver(sd->pci_addr, now, sizeof(now)) < 0 ||
			    strcmp(now, "virtio-pci") == 0 ||
			    strcmp(now, "uio_pci_generic") == 0)
				break;
			struct timespec ts = { 0, 5000000 };
			nanosleep(&ts, NULL);
		}
		int rc = fsb_pci_bind(sd->pci_addr, "uio_pci_generic", "virtio-pci",
				      err, errlen);
		return rc < 0 ? rc : fsb_uio_pci_open(&d->pci, sd->pci_addr,
						      &sd->notify, sd->name,
						      err, errlen);
	}
	int rc = fsb_pci_bind(sd->pci_addr, "vfio-pci", "virtio-pci", err, errlen);
	if (rc < 0)
		return rc;
	rc = fsb_vfio_pci_open(&d->pci, sd->pci_addr, &sd->notify, sd->name,
			       err, errlen);
	if (rc < 0)
		return rc;
	int devfd = fsb_vfio_pci_devfd_take(&d->pci);
	d->req = fsb_vfio_req_open(devfd, sd->name, &sd->notify);
	if (!d->req) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot arm the VFIO device request: %s",
			 sd->pci_addr, strerror(errno));
		fsb_vfio_pci_close(&d->pci);
		close(devfd);           /* still ours: the source did not take it */
		return rc;
	}
	return 0;
}

static int vp_probe(struct fsb_subdev *sd)
{
	char err[256] = "", drv[64];
	const char *addr = fsb_devspec_get(&sd->spec, "addr");
	/* before the lookup: the router needs it while the device is away */
	if (fsb_pci_addr_parse(addr, sd->pci_addr) < 0)
		return -EINVAL;
	if (!fsb_vpci_test_open && fsb_pci_driver(sd->pci_addr, drv, sizeof(drv)) < 0) {
		fsb_log(FSB_LOG_INFO, "%s: PCI device %s is not there (yet)",
			sd->name, sd->pci_addr);
		return -ENODEV;
	}
	struct vp_dev *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->sd = sd;
	int rc = fsb_vpci_test_open ?
		fsb_vpci_test_open(&d->pci, sd->pci_addr, err, sizeof(err)) :
		vp_open(d, err, sizeof(err));
	if (rc < 0) {
		free(d);
		goto fail;
	}
	rc = fsb_vpci_attach(&d->v, &d->pci, err, sizeof(err));
	if (rc == 0 && d->v.device_id != 0x1041 && d->v.device_id != 0x1000) {
		snprintf(err, sizeof(err), "%s: virtio device %04x is not a "
			 "network device", sd->pci_addr, d->v.device_id);
		rc = -EINVAL;
	}
	if (rc == 0)
		rc = fsb_vpci_reset(&d->v, VP_RESET_MS, err, sizeof(err));
	/* ACCESS_PLATFORM: required behind an IOMMU (the device must go
	 * through it); without one, taken when offered (the platform's
	 * translation is then the identity) */
	d->required = VP_F(FSB_VIRTIO_F_VERSION_1) |
		(d->pci.phys ? 0 : VP_F(FSB_VIRTIO_F_ACCESS_PLATFORM));
	d->want = d->required | VP_F(FSB_VIRTIO_F_ACCESS_PLATFORM) | VP_F(VP_F_MAC) | VP_F(VP_F_STATUS) | VP_F(VP_F_MTU) |
		VP_F(VP_F_MRG_RXBUF) | VP_F(VP_F_EVENT_IDX) | VP_F(VP_F_IN_ORDER) |
		VP_F(VP_F_CTRL_VQ) | VP_F(VP_F_CTRL_RX) | VP_F(VP_F_MQ) |
		VP_F(VP_F_CTRL_MAC_ADDR) |
		(sd->announce ? VP_F(VP_F_GUEST_ANNOUNCE) : 0) |
		(fsb_devspec_get_u64(&sd->spec, "standby", 0) ? VP_F(VP_F_STANDBY) : 0);
	if (rc == 0)
		rc = fsb_vpci_negotiate(&d->v, d->want, d->required, err, sizeof(err));
	uint64_t f = d->v.features;
	/* CTRL_RX, MQ, CTRL_MAC_ADDR and GUEST_ANNOUNCE live on the
	 * control queue: a device that offers them without it offers
	 * nothing (the driver must not accept them, 5.1.3.1) */
	const uint64_t on_cvq = VP_F(VP_F_CTRL_RX) | VP_F(VP_F_MQ) |
		VP_F(VP_F_CTRL_MAC_ADDR) | VP_F(VP_F_GUEST_ANNOUNCE);
	if (rc == 0 && !(f & VP_F(VP_F_CTRL_VQ)) && (f & on_cvq)) {
		d->want &= ~on_cvq;
		rc = fsb_vpci_reset(&d->v, VP_RESET_MS, err, sizeof(err));
		if (rc == 0)
			rc = fsb_vpci_negotiate(&d->v, d->want, d->required, err,
						sizeof(err));
		f = d->v.features;
	}
	d->max_qp = 1;
	if (rc == 0 && (f & VP_F(VP_F_MQ))) {
		uint16_t mq = 0;
		rc = fsb_vpci_cfg_read(&d->v, VP_CFG_MAX_QP, &mq, 2, err, sizeof(err));
		/* its queues: 2 per pair and the control queue after them */
		if (rc == 0 && (mq == 0 || 2u * mq + 1 > d->v.num_queues)) {
			snprintf(err, sizeof(err), "%s: the device offers MQ with "
				 "%u queue pairs and has %u queues", sd->pci_addr,
				 mq, d->v.num_queues);
			rc = -EPROTO;
		}
		d->max_qp = mq;
	}
	if (rc == 0 && (f & VP_F(VP_F_MTU)))
		rc = fsb_vpci_cfg_read(&d->v, VP_CFG_MTU, &d->max_mtu, 2, err,
				       sizeof(err));
	if (rc < 0) {
		vp_free(d);
		goto fail;
	}
	d->negotiated = true;
	const char *mac = fsb_devspec_get(&sd->spec, "mac");
	if (mac)
		fsb_mac_parse(mac, d->mac);
	else if (!(f & VP_F(VP_F_MAC)) ||
		 fsb_vpci_cfg_read(&d->v, VP_CFG_MAC, d->mac, 6, err, sizeof(err)) < 0) {
		/* locally administered, unicast, random */
		if (getrandom(d->mac, sizeof(d->mac), 0) != sizeof(d->mac)) {
			uint64_t t = fsb_now_ns();
			memcpy(d->mac, &t, sizeof(d->mac));
		}
		d->mac[0] = (uint8_t)((d->mac[0] & 0xfc) | 0x02);
	}
	sd->priv = d;
	fsb_log(FSB_LOG_NOTICE, "%s: virtio_pci on %s: features 0x%llx, %u queue "
		"pair%s%s%s", sd->name, sd->pci_addr, (unsigned long long)f,
		d->max_qp, d->max_qp == 1 ? "" : "s",
		f & VP_F(VP_F_CTRL_VQ) ? ", control queue" : "",
		f & VP_F(VP_F_STANDBY) ? " (STANDBY)" : "");
	return 0;
fail:
	fsb_log(rc == -ENODEV ? FSB_LOG_INFO : FSB_LOG_ERR, "%s: %s", sd->name,
		err[0] ? err : strerror(-rc));
	return rc;
}

static void vp_rings_free(struct vp_dev *d)
{
	for (unsigned i = 0; i < d->nvq; i++) {
		struct fsb_vq *vq = d->q[i].vq;
		if (!vq || !vq->slot)
			continue;
		fsb_vq_reclaim(vq, fsb_vnet_buf_free, NULL);
		fsb_vq_fini(vq);
	}
	for (unsigned q = 0; q < FSB_MAX_QUEUES; q++) {
		free(d->rxq[q]);
		free(d->txq[q]);
		d->rxq[q] = NULL;
		d->txq[q] = NULL;
	}
	free(d->cvq);
	d->cvq = NULL;
	memset(d->q, 0, sizeof(d->q));
	d->nvq = 0;
	if (d->ring_mem)
		munmap(d->ring_mem, d->ring_len);
	d->ring_mem = NULL;
	free(d->ring_pa);
	d->ring_pa = NULL;
}

/* ------------------------------------------------------------------ */
/* DMA                                                                 */
/* ------------------------------------------------------------------ */

/* Unmap what @pool (-1: the rings; FSB_MAX_POOLS: everything) had
 * mapped.  Under live_lock (a listener's callback) or with no listener. */
static void vp_dma_unmap(struct vp_dev *d, int pool)
{
	unsigned k = 0;
	for (unsigned i = 0; i < d->ndma; i++) {
		if (pool == FSB_MAX_POOLS || d->dma[i].pool == pool)
			fsb_pcidev_dma_unmap(&d->pci, d->dma[i].iova, d->dma[i].len);
		else
			d->dma[k++] = d->dma[i];
	}
	d->ndma = k;
}

static void vp_phys_forget(struct vp_dev *d, unsigned id);

/* @closing: the container is about to close, which drops every
 * mapping at once; one by one, each unmap would cost an IOTLB flush
 * (in a guest, a trap to the vIOMMU), on the kernel's removal path. */
static void vp_dma_unmap_all(struct vp_dev *d, bool closing)
{
	if (d->listening) {
		fsb_mempool_unlisten(&d->pools);
		d->listening = false;
	}
	if (closing)
		d->ndma = 0;
	vp_dma_unmap(d, FSB_MAX_POOLS);
	for (unsigned i = 0; i < FSB_MAX_POOLS; i++)
		vp_phys_forget(d, i);
	memset(d->known_gen, 0, sizeof(d->known_gen));
	memset(d->pool_off, 0, sizeof(d->pool_off));
	d->table_epoch = 0;
}

/*
 * Map [lo, hi) as @n regions (va, len) for the device, with one
 * offset: *@off = device address - VA for all of them.  IOVA = VA when
 * the aperture covers the span, else one block of it.
 */
static int vp_dma_map_span(struct vp_dev *d, const struct fsb_mem_region *r,
			   unsigned n, int pool, int64_t *off)
{
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	for (unsigned i = 0; i < n; i++) {
		uintptr_t a = (uintptr_t)r[i].addr;
		if (a < lo)
			lo = a;
		if (a + r[i].size > hi)
			hi = a + r[i].size;
	}
	uint64_t base;
	int rc = fsb_pcidev_dma_pick(&d->pci, lo, hi - lo, &base);
	if (rc < 0) {
		fsb_log(FSB_LOG_ERR, "%s: no room in the IOMMU's aperture for %llu "
			"bytes at %p", d->sd->name, (unsigned long long)(hi - lo),
			(void *)lo);
		return rc;
	}
	*off = (int64_t)(base - lo);
	for (unsigned i = 0; i < n; i++) {
		uint64_t iova = (uintptr_t)r[i].addr + (uint64_t)*off;
		rc = fsb_pcidev_dma_map(&d->pci, r[i].addr, r[i].size, iova);
		if (rc < 0) {
			fsb_log(FSB_LOG_ERR, "%s: VFIO_IOMMU_MAP_DMA of %llu bytes "
				"at %p: %s", d->sd->name,
				(unsigned long long)r[i].size, r[i].addr,
				strerror(-rc));
			vp_dma_unmap(d, pool);
			return rc;
		}
		d->dma[d->ndma].iova = iova;
		d->dma[d->ndma].len = r[i].size;
		d->dma[d->ndma++].pool = pool;
	}
	return 0;
}

/*
 * The mempool listener (fsb_private.h): every pool, live at start or
 * created while the port runs, is mapped before fsb_mempool_create
 * returns it, so none of its buffers can reach the device unmapped.
 * Its offset is published before its gen: TX uses a pool only once it
 * is known.  A pool that could not be mapped stays unknown, and TX
 * drops its buffers and counts them.
 */
/*
 * No IOMMU: the device is to see the pool at physical addresses.  Only
 * a pool on huge pages laid out per page (mempool.c) qualifies: locked
 * (pinned: never swapped, and migration leaves locked hugetlb pages
 * alone), and translated once, page by page, here.
 */
static int vp_phys_pool(struct vp_dev *d, const struct fsb_pool_snap *p)
{
	const char *why = NULL;
	for (unsigned i = 0; i < p->nregions && !why; i++)
		if (!p->regions[i].hugetlb || !p->elt_page)
			why = "is not on hugepages";
	if (why) {
		unsigned long nfree = 0;
		uint64_t page = fsb_hugepage_info(&nfree);
		fsb_log(FSB_LOG_ERR, "%s: virtio_pci driver=uio needs hugepages: "
			"mempool %s %s (%s)", d->sd->name, p->name, why,
			!page || !nfree ? "none free" :
			"create it with FSB_MEMPOOL_F_HUGETLB");
		return -ENOTSUP;
	}
	unsigned shift = (unsigned)__builtin_ctzll(p->elt_page);
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	for (unsigned i = 0; i < p->nregions; i++) {
		uintptr_t a = (uintptr_t)p->regions[i].addr;
		lo = a < lo ? a : lo;
		hi = a + p->regions[i].size > hi ? a + p->regions[i].size : hi;
	}
	size_t npages = (hi - lo + p->elt_page - 1) >> shift;
	if (npages > (1u << 20)) {
		fsb_log(FSB_LOG_ERR, "%s: mempool %s spans %zu huge pages of "
			"address space: too sparse to translate", d->sd->name,
			p->name, npages);
		return -E2BIG;
	}
	uint64_t *pa = calloc(npages, sizeof(*pa));
	if (!pa)
		return -ENOMEM;
	int rc = 0;
	for (unsigned i = 0; i < p->nregions && rc == 0; i++) {
		const struct fsb_mem_region *r = &p->regions[i];
		if (mlock(r->addr, r->size) < 0) {
			rc = -errno;
			fsb_log(FSB_LOG_ERR, "%s: cannot pin mempool %s (mlock of "
				"%llu bytes): %s", d->sd->name, p->name,
				(unsigned long long)r->size, strerror(errno));
			break;
		}
		for (uint64_t o = 0; o < r->size && rc == 0; o += p->elt_page) {
			const char *va = (const char *)r->addr + o;
			/* mlock faulted it in (a sanitizer's mlock does not: a
			 * read does, without dirtying it) */
			(void)*(const volatile char *)va;
			rc = fsb_physmem_addr(va, &pa[((uintptr_t)va - lo) >> shift]);
			if (rc < 0)
				fsb_log(FSB_LOG_ERR, "%s: no physical address for "
					"mempool %s: %s%s", d->sd->name, p->name,
					strerror(-rc), rc == -EPERM ?
					" (pagemap needs CAP_SYS_ADMIN)" : "");
		}
	}
	if (rc < 0) {
		free(pa);
		return rc;
	}
	vp_phys_forget(d, p->id);
	d->phys[p->id].lo = lo;
	d->phys[p->id].shift = shift;
	d->phys[p->id].pa = pa;
	return 0;
}

static int vp_pool_added(void *arg, const struct fsb_pool_snap *p)
{
	struct vp_dev *d = arg;
	int64_t off = 0;
	if (d->pci.phys) {
		int rc = vp_phys_pool(d, p);
		if (rc < 0) {
			if (!d->dma_err)
				d->dma_err = rc;
			return rc;
		}
		/* the table before the gen: TX uses a pool once it is known */
		__atomic_store_n(&d->known_gen[p->id], p->gen, __ATOMIC_RELEASE);
		return 0;
	}
	int rc = vp_dma_map_span(d, p->regions, p->nregions, (int)p->id, &off);
	if (rc < 0) {
		/* the first error fails a start; later, the pool stays
		 * unknown and the epoch behind: TX checks every buffer */
		if (!d->dma_err)
			d->dma_err = rc;
		return rc;
	}
	if (off && !d->translate)
		fsb_log(FSB_LOG_NOTICE, "%s: the IOMMU's aperture does not cover our "
			"addresses: the device sees our memory at addresses we "
			"chose (IOVA != VA)", d->sd->name);
	__atomic_store_n(&d->pool_off[p->id], off, __ATOMIC_RELAXED);
	if (off && !d->translate) {
		/* from now on TX translates (a pool IOVA != VA among pools
		 * that were not): published before the pool is known */
		d->translate = true;
		for (unsigned q = 0; q < d->nqp; q++)
			__atomic_store_n(&d->txq[q]->iova_off, d->pool_off,
					 __ATOMIC_RELEASE);
	}
	__atomic_store_n(&d->known_gen[p->id], p->gen, __ATOMIC_RELEASE);
	return 0;
}

static void vp_phys_forget(struct vp_dev *d, unsigned id)
{
	free((void *)d->phys[id].pa);
	memset(&d->phys[id], 0, sizeof(d->phys[id]));
}

static void vp_pool_removed(void *arg, const struct fsb_pool_snap *p)
{
	struct vp_dev *d = arg;
	__atomic_store_n(&d->known_gen[p->id], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&d->pool_off[p->id], 0, __ATOMIC_RELAXED);
	/* every buffer of it is back: no burst reads its table */
	if (d->pci.phys)
		vp_phys_forget(d, p->id);
	else
		vp_dma_unmap(d, (int)p->id);
}

/* Map the ring memory and every live pool's regions for the device. */
static int vp_dma_map_all(struct vp_dev *d)
{
	vp_dma_unmap_all(d, false);
	d->translate = false;
	for (unsigned q = 0; q < d->nqp; q++)
		__atomic_store_n(&d->txq[q]->iova_off, NULL, __ATOMIC_RELAXED);
	if (!d->pci.phys) {
		struct fsb_mem_region ring = { .addr = d->ring_mem, .size = d->ring_len };
		int64_t off;
		int rc = vp_dma_map_span(d, &ring, 1, -1, &off);
		if (rc < 0)
			return rc;
		d->ring_iova = (uintptr_t)d->ring_mem + (uint64_t)off;
	}
	d->dma_err = 0;
	d->pools.added = vp_pool_added;
	d->pools.removed = vp_pool_removed;
	d->pools.arg = d;
	d->pools.epoch = &d->table_epoch;
	fsb_mempool_listen(&d->pools);
	d->listening = true;
	/* a pool live now that could not be mapped fails the start; one
	 * created later is refused to TX (above) */
	int rc = d->dma_err;
	if (rc < 0)
		vp_dma_unmap_all(d, false);
	return rc;
}

static uint64_t vp_ring_iova(const struct vp_dev *d, const void *p)
{
	uint64_t off = (uint64_t)((const char *)p - (const char *)d->ring_mem);
	if (d->ring_pa)
		return d->ring_pa[off >> d->ring_shift] +
			(off & ((1ull << d->ring_shift) - 1));
	return d->ring_iova + off;
}

/* ------------------------------------------------------------------ */
/* The control queue                                                   */
/* ------------------------------------------------------------------ */

static const char *vp_ctrl_name(uint8_t cls, uint8_t cmd)
{
	switch (cls << 8 | cmd) {
	case VP_CTRL_RX << 8 | VP_CTRL_RX_PROMISC: return "RX_PROMISC";
	case VP_CTRL_RX << 8 | VP_CTRL_RX_ALLMULTI: return "RX_ALLMULTI";
	case VP_CTRL_MAC << 8 | VP_CTRL_MAC_TABLE_SET: return "MAC_TABLE_SET";
	case VP_CTRL_MAC << 8 | VP_CTRL_MAC_ADDR_SET: return "MAC_ADDR_SET";
	case VP_CTRL_MQ << 8 | VP_CTRL_MQ_VQ_PAIRS_SET: return "MQ_VQ_PAIRS_SET";
	case VP_CTRL_ANNOUNCE << 8 | VP_CTRL_ANNOUNCE_ACK: return "ANNOUNCE_ACK";
	default: return "?";
	}
}

/*
 * One control request (5.1.6.5): class, command, data; the device
 * answers OK (0) or ERR (1) in the ack byte.  Only while started (the
 * device reads its queues after DRIVER_OK); before, 0: the port replays
 * its configuration at every start.  0, -EIO (the device said ERR),
 * -ETIMEDOUT or -EPROTO (it broke the queue: the device is marked
 * broken).
 */
static int vp_ctrl(struct vp_dev *d, uint8_t cls, uint8_t cmd,
		   const void *data, size_t len)
{
	if (!d->cvq)
		return -ENOTSUP;
	if (!d->started)
		return 0;
	if (fsb_vpci_gone(&d->v))
		return -ENODEV;
	uint8_t *buf = (uint8_t *)d->ring_mem + d->cbuf_off;
	buf[0] = cls;
	buf[1] = cmd;
	if (len)
		memcpy(buf + 2, data, len);
	volatile uint8_t *ack = buf + VP_CBUF_ACK;
	*ack = 0xff;
	int rc = fsb_vq_ctrl_call(d->cvq, vp_ring_iova(d, buf), (uint32_t)(2 + len),
				  vp_ring_iova(d, (void *)ack), 1, VP_CTRL_MS);
	if (rc < 0) {
		fsb_log(FSB_LOG_ERR, "%s: control request %s: %s", d->sd->name,
			vp_ctrl_name(cls, cmd), rc == -ETIMEDOUT ?
			"no answer within 1 s (the device is broken)" :
			"the device broke the control queue");
		fsb_subdev_notify(d->sd, FSB_DEVSIG_GONE, FSB_REASON_BROKEN);
		return -EPROTO;
	}
	if (*ack != 0) {
		fsb_log(FSB_LOG_WARNING, "%s: control request %s refused by the "
			"device (ack %u)", d->sd->name, vp_ctrl_name(cls, cmd), *ack);
		return -EIO;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Configure, start, stop                                              */
/* ------------------------------------------------------------------ */

/* One 16-bit store of the queue's index to its doorbell (virtio 4.1.5.2):
 * in a VM, one exit to the hypervisor; asked for only when the device
 * wants it (virtqueue.h). */
static void vp_kick(void *arg)
{
	struct vp_kick *k = arg;
	*k->db = k->idx;
}

static void vp_on_broken(void *arg, enum fsb_vq_fault f)
{
	(void)f;
	struct vp_dev *d = arg;
	fsb_subdev_notify(d->sd, FSB_DEVSIG_GONE, FSB_REASON_BROKEN);
}

/* Lay every ring out on zeroed memory, as the features negotiated ask:
 * the device starts from index 0. */
static int vp_rings_init(struct vp_dev *d)
{
	bool eidx = d->v.features & VP_F(VP_F_EVENT_IDX);
	bool ino = d->v.features & VP_F(VP_F_IN_ORDER);
	memset(d->ring_mem, 0, d->ring_len);
	for (unsigned i = 0; i < d->nvq; i++) {
		struct vp_vq *q = &d->q[i];
		/* RX queues (even, below the control queue) are the device's
		 * to write */
		bool rx = i < 2 * d->nqp && !(i & 1);
		int rc = fsb_vq_init(q->vq, (char *)d->ring_mem + q->off,
				     (uint16_t)q->size, rx, eidx, ino, d->sd->name);
		if (rc < 0)
			return rc;
		q->vq->on_broken = vp_on_broken;
		q->vq->broken_arg = d;
	}
	for (unsigned p = 0; p < d->nqp; p++)
		d->rxq[p]->mrg = d->v.features & VP_F(VP_F_MRG_RXBUF);
	return 0;
}

static void *vp_qalloc(size_t size)
{
	size_t n = (size + FSB_CACHE_LINE - 1) & ~(size_t)(FSB_CACHE_LINE - 1);
	void *p = aligned_alloc(FSB_CACHE_LINE, n);
	if (p)
		memset(p, 0, size);
	return p;
}

static int vp_configure(struct fsb_subdev *sd)
{
	struct vp_dev *d = sd->priv;
	vp_rings_free(d);
	unsigned nqp = sd->conf.nb_rxq > sd->conf.nb_txq ? sd->conf.nb_rxq :
		sd->conf.nb_txq;
	uint64_t f = d->v.features;
	uint64_t qopt = fsb_devspec_get_u64(&sd->spec, "queues", 0);
	if (qopt && nqp > qopt) {
		fsb_log(FSB_LOG_ERR, "%s: %u queue pairs wanted, queues=%llu",
			sd->name, nqp, (unsigned long long)qopt);
		return -EINVAL;
	}
	/* the device steers a flow's RX to the queue its TX came from
	 * (5.1.6.5.5): every pair it may use must have RX buffers */
	if (nqp > 1 && sd->conf.nb_rxq != sd->conf.nb_txq) {
		fsb_log(FSB_LOG_ERR, "%s: %u rx and %u tx queues: virtio_pci "
			"needs as many of each once it uses more than one pair",
			sd->name, sd->conf.nb_rxq, sd->conf.nb_txq);
		return -EINVAL;
	}
	if (nqp > d->max_qp) {
		fsb_log(FSB_LOG_ERR, "%s: %u queue pairs wanted, the device has "
			"%u%s", sd->name, nqp, d->max_qp, f & VP_F(VP_F_MQ) ? "" :
			" (it does not offer MQ)");
		return -EINVAL;
	}
	d->nqp = nqp;
	bool ctrl = f & VP_F(VP_F_CTRL_VQ);
	d->nvq = 2 * nqp + (ctrl ? 1 : 0);
	unsigned want = (unsigned)fsb_devspec_get_u64(&sd->spec, "queue_size",
						      VP_QSIZE_DEFAULT);
	char err[256];
	size_t off = 0;
	/* No IOMMU: the rings go on huge pages, none across a page (the
	 * pages are not physically contiguous with each other) */
	uint64_t page = 0;
	unsigned long nfree = 0;
	if (d->pci.phys) {
		page = fsb_hugepage_info(&nfree);
		if (!page || !nfree) {
			fsb_log(FSB_LOG_ERR, "%s: virtio_pci driver=uio needs "
				"hugepages: none free (for its rings)", sd->name);
			d->nvq = 0;
			return -ENOMEM;
		}
	}
	for (unsigned i = 0; i < d->nvq; i++) {
		struct vp_vq *q = &d->q[i];
		bool is_ctrl = i == 2 * nqp;
		q->index = (uint16_t)(is_ctrl ? (f & VP_F(VP_F_MQ) ? 2u * d->max_qp : 2u) : i);
		unsigned max, cap = is_ctrl ? VP_CTRL_QSIZE : want;
		int rc = fsb_vpci_queue_max(&d->v, q->index, &max, err, sizeof(err));
		if (rc < 0) {
			/* a queue its features promise and num_queues denies */
			fsb_log(FSB_LOG_ERR, "%s: %s", sd->name, err);
			d->nvq = 0;
			return rc == -ENOENT ? -EPROTO : rc;
		}
		q->size = cap < max ? cap : max;
		if (q->size != cap && i < 2)
			fsb_log(FSB_LOG_INFO, "%s: %s queues: %u entries (the "
				"device's maximum; queue_size=%u)", sd->name,
				i ? "tx" : "rx", q->size, want);
		size_t sz = fsb_vq_mem_size((uint16_t)q->size);
		if (page && off / page != (off + sz - 1) / page)
			off = (off + page - 1) / page * page;
		if (page && sz > page) {
			fsb_log(FSB_LOG_ERR, "%s: a ring of %u entries does not fit "
				"one huge page: use a smaller queue_size", sd->name,
				q->size);
			d->nvq = 0;
			return -EINVAL;
		}
		q->off = off;
		off += sz;
	}
	if (page && off / page != (off + VP_CBUF_LEN - 1) / page)
		off = (off + page - 1) / page * page;
	d->cbuf_off = off;
	d->ring_len = off + VP_CBUF_LEN;
	if (page)
		d->ring_len = (d->ring_len + page - 1) / page * page;
	d->ring_mem = mmap(NULL, d->ring_len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | (page ? MAP_HUGETLB : 0),
			   -1, 0);
	if (d->ring_mem == MAP_FAILED) {
		if (page)
			fsb_log(FSB_LOG_ERR, "%s: virtio_pci driver=uio needs "
				"hugepages: %zu kB for its rings: %s", sd->name,
				d->ring_len >> 10, strerror(errno));
		d->ring_mem = NULL;
		d->nvq = 0;
		return -ENOMEM;
	}
	if (page) {
		/* pinned, and each page's physical address once */
		size_t n = d->ring_len / page;
		d->ring_shift = (unsigned)__builtin_ctzll(page);
		d->ring_pa = calloc(n, sizeof(*d->ring_pa));
		int rc = d->ring_pa ? 0 : -ENOMEM;
		if (rc == 0 && mlock(d->ring_mem, d->ring_len) < 0)
			rc = -errno;
		for (size_t i = 0; rc == 0 && i < n; i++) {
			/* (faulted in by mlock, but not under a sanitizer) */
			*((volatile char *)d->ring_mem + i * page) = 0;
			rc = fsb_physmem_addr((char *)d->ring_mem + i * page,
					      &d->ring_pa[i]);
		}
		if (rc < 0) {
			fsb_log(FSB_LOG_ERR, "%s: no physical address for the "
				"rings: %s%s", sd->name, strerror(-rc), rc == -EPERM ?
				" (pagemap needs CAP_SYS_ADMIN)" : "");
			vp_rings_free(d);
			return rc;
		}
	}
	for (unsigned p = 0; p < nqp; p++) {
		d->rxq[p] = vp_qalloc(sizeof(struct fsb_vnet_rxq));
		d->txq[p] = vp_qalloc(sizeof(struct fsb_vnet_txq));
		if (!d->rxq[p] || !d->txq[p])
			goto nomem;
		d->q[2 * p].vq = &d->rxq[p]->vq;
		d->q[2 * p + 1].vq = &d->txq[p]->vq;
	}
	if (ctrl) {
		d->cvq = vp_qalloc(sizeof(struct fsb_vq));
		if (!d->cvq)
			goto nomem;
		d->q[2 * nqp].vq = d->cvq;
	}
	int rc = vp_rings_init(d);
	if (rc < 0) {
		vp_rings_free(d);
		return rc;
	}
	for (unsigned p = 0; p < nqp; p++) {
		struct fsb_vnet_rxq *rq = d->rxq[p];
		struct fsb_vnet_txq *tq = d->txq[p];
		rq->port_id = sd->port_id;
		rq->qid = (uint16_t)p;
		rq->hdr_len = tq->hdr_len = VP_HDR_LEN;
		tq->known_gen = d->known_gen;
		tq->table_epoch = &d->table_epoch;
		tq->phys = d->pci.phys ? d->phys : NULL;
		sd->rxq[p] = p < sd->conf.nb_rxq ? rq : NULL;
		sd->txq[p] = p < sd->conf.nb_txq ? tq : NULL;
	}
	return 0;
nomem:
	vp_rings_free(d);
	return -ENOMEM;
}

static int vp_start(struct fsb_subdev *sd)
{
	struct vp_dev *d = sd->priv;
	char err[256];
	int rc;
	for (unsigned p = 0; p < sd->conf.nb_rxq; p++)
		if (!sd->rx_pool[p]) {
			fsb_log(FSB_LOG_ERR, "%s: rx queue %u has no mempool",
				sd->name, p);
			return -EINVAL;
		}
	if (!d->negotiated) {
		/* a restart: the device was reset at stop */
		rc = fsb_vpci_reset(&d->v, VP_RESET_MS, err, sizeof(err));
		uint64_t had = d->v.features;
		if (rc == 0)
			rc = fsb_vpci_negotiate(&d->v, d->want, d->required, err,
						sizeof(err));
		if (rc == 0 && d->v.features != had) {
			/* the queues were laid out for the old ones */
			snprintf(err, sizeof(err), "%s: the device offers other "
				 "features than at probe (0x%llx, was 0x%llx)",
				 sd->pci_addr, (unsigned long long)d->v.features,
				 (unsigned long long)had);
			rc = -EPROTO;
		}
		if (rc < 0) {
			fsb_log(FSB_LOG_ERR, "%s: %s", sd->name, err);
			return rc;
		}
		d->negotiated = true;
	}
	if (d->used_before) {
		/* fresh rings: the device starts from index 0 again */
		for (unsigned i = 0; i < d->nvq; i++) {
			fsb_vq_reclaim(d->q[i].vq, fsb_vnet_buf_free, NULL);
			fsb_vq_fini(d->q[i].vq);
		}
		if ((rc = vp_rings_init(d)) < 0)
			return rc;
	}
	if ((rc = vp_dma_map_all(d)) < 0)
		return rc;
	for (unsigned p = 0; p < d->nqp; p++) {
		if (p >= sd->conf.nb_rxq)
			continue;
		struct fsb_vnet_rxq *rq = d->rxq[p];
		rq->pool = sd->rx_pool[p];
		rq->cap = rq->pool->data_room - FSB_BUF_HEADROOM + VP_HDR_LEN;
		if (__atomic_load_n(&d->known_gen[rq->pool->id],
				    __ATOMIC_RELAXED) != rq->pool->gen) {
			fsb_log(FSB_LOG_ERR, "%s: rx queue %u's mempool is not a "
				"live pool (freed?)", sd->name, p);
			return -EINVAL;
		}
		rq->iova_off = d->pool_off[rq->pool->id];
		rq->phys = d->pci.phys ? &d->phys[rq->pool->id] : NULL;
	}
	volatile uint8_t *bar = d->pci.bar_map[d->v.notify.bar];
	if (!bar) {
		fsb_log(FSB_LOG_ERR, "%s: the notify BAR %u cannot be mapped",
			sd->name, d->v.notify.bar);
		return -ENOTSUP;
	}
	for (unsigned i = 0; i < d->nvq; i++) {
		struct vp_vq *q = &d->q[i];
		unsigned size;
		uint64_t noff;
		rc = fsb_vpci_queue_setup(&d->v, q->index, q->size,
					  vp_ring_iova(d, fsb_vq_desc_addr(q->vq)),
					  vp_ring_iova(d, fsb_vq_avail_addr(q->vq)),
					  vp_ring_iova(d, fsb_vq_used_addr(q->vq)),
					  &size, &noff, err, sizeof(err));
		if (rc == 0 && size != q->size) {
			snprintf(err, sizeof(err), "%s: queue %u: the device now "
				 "takes %u entries, not the %u it took at configure",
				 sd->pci_addr, q->index, size, q->size);
			rc = -EPROTO;
		}
		if (rc < 0) {
			fsb_log(FSB_LOG_ERR, "%s: %s", sd->name, err);
			return rc;
		}
		q->kick.db = (volatile uint16_t *)(bar + noff);
		q->kick.idx = q->index;
		q->vq->kick = vp_kick;
		q->vq->kick_arg = &q->kick;
	}
	d->used_before = true;
	/* DRIVER_OK before the first buffers: a driver may not notify the
	 * device before it (virtio 1.x 3.1.1), and a kick it dropped would
	 * never come again (the RX ring would stay full) */
	fsb_vpci_status_add(&d->v, FSB_VIRTIO_S_DRIVER_OK);
	d->status_set = FSB_VIRTIO_S_ACK | FSB_VIRTIO_S_DRIVER |
		FSB_VIRTIO_S_FEATURES_OK | FSB_VIRTIO_S_DRIVER_OK;
	d->gone_marked = false;
	fsb_vnet_watchdog_reset(&d->wd);
	d->started_ns = fsb_now_ns();
	/* test knob FSB_TEST_VPCI_MEMOFF=ADDR@MS (vp_watch) */
	const char *knob = getenv("FSB_TEST_VPCI_MEMOFF");
	const char *at = knob ? strchr(knob, '@') : NULL;
	d->memoff_ns = at && (size_t)(at - knob) == strlen(sd->pci_addr) &&
		strncasecmp(knob, sd->pci_addr, (size_t)(at - knob)) == 0 ?
		d->started_ns + strtoull(at + 1, NULL, 10) * 1000000ull : 0;
	for (unsigned p = 0; p < sd->conf.nb_rxq; p++)
		fsb_vnet_rx_refill(d->rxq[p]);
	d->negotiated = false;          /* the next start renegotiates */
	d->started = true;
	d->stopped = false;
	if (d->nqp > 1) {
		uint16_t n = (uint16_t)d->nqp;
		rc = vp_ctrl(d, VP_CTRL_MQ, VP_CTRL_MQ_VQ_PAIRS_SET, &n, 2);
		if (rc < 0) {
			fsb_log(FSB_LOG_ERR, "%s: the device did not take %u queue "
				"pairs", sd->name, d->nqp);
			d->started = false;
			return rc;
		}
	}
	return 0;
}

static void vp_stop(struct fsb_subdev *sd)
{
	struct vp_dev *d = sd->priv;
	char err[128];
	d->started = false;
	d->stopped = true;
	/* Reset: from now on the device touches none of our memory.  The
	 * datapath may still poll the rings until the port's grace period
	 * ends: they stay mapped in this process. */
	if (!fsb_vpci_gone(&d->v))
		fsb_vpci_reset(&d->v, VP_RESET_MS, err, sizeof(err));
	/* TX left this slot a grace period ago: what the TX rings hold
	 * is ours again; frames the device never used are dropped and
	 * counted (tx_errors), once */
	unsigned unsent = 0;
	for (unsigned p = 0; p < d->nqp; p++)
		if (d->txq[p])
			unsent += fsb_vnet_tx_reclaim_unsent(d->txq[p]);
	if (unsent)
		fsb_log(FSB_LOG_NOTICE, "%s: %u tx frames the device never "
			"took were dropped (tx_errors)", sd->name, unsent);
}

static void vp_close(struct fsb_subdev *sd)
{
	struct vp_dev *d = sd->priv;
	if (!d)
		return;
	char err[128];
	/* stopped: reset then, and untouched since */
	if (!d->stopped && !fsb_vpci_gone(&d->v))
		fsb_vpci_reset(&d->v, VP_RESET_MS, err, sizeof(err));
	vp_dma_unmap_all(d, true);
	/* the device first (reset: it touches none of our memory), our
	 * rings and buffers after */
	vp_release(d);
	vp_rings_free(d);
	vp_free(d);
	sd->priv = NULL;
}

/* ------------------------------------------------------------------ */
/* Info and config                                                     */
/* ------------------------------------------------------------------ */

static unsigned vp_rx_pending(struct fsb_subdev *sd)
{
	struct vp_dev *d = sd->priv;
	unsigned n = 0;
	for (unsigned p = 0; d && p < d->nqp; p++)
		n += fsb_vq_used_count(&d->rxq[p]->vq);
	return n;
}

static unsigned vp_tx_pending(struct fsb_subdev *sd)
{
	struct vp_dev *d = sd->priv;
	unsigned n = 0;
	if (!d || !d->started || d->gone_marked)
		return 0;
	for (unsigned p = 0; p < d->nqp && p < sd->conf.nb_txq; p++)
		n += fsb_vnet_tx_pending(d->txq[p]);
	return n;
}

/*
 * The device is gone, as its own registers say: mark it (once; a
 * source that told first makes this a dup_signal), and put all-ones
 * memory over our BAR mappings at once.  A UIO mapping outlives the
 * device (uio_pci.c): a device plugged in later may get the same bus
 * address, and no doorbell store of ours may reach it.
 */
static void vp_lost(struct vp_dev *d)
{
	d->gone_marked = true;
	/* (not with the re-plug race's test knob: uio_pci.c) */
	const char *keep = getenv("FSB_TEST_VPCI_KEEP_BAR");
	if (d->pci.ops->bars_revoke && !(keep && *keep == '1'))
		d->pci.ops->bars_revoke(&d->pci);
	fsb_subdev_notify(d->sd, FSB_DEVSIG_GONE, FSB_REASON_DEVICE_LOST);
}

/*
 * The control thread's look at the device, every 10 ms while started
 * (subdev.h watch): device_status must read what we left there.  Under
 * UIO the kernel removes the device first and tells afterwards, and
 * reads of a BAR nothing decodes any more return whatever the bus
 * returns: all-ones on real hardware, zeroes in QEMU.  Either differs
 * from ACK|DRIVER|FEATURES_OK|DRIVER_OK.  A device that asks for a
 * reset (NEEDS_RESET) is there but broken.  One 1-byte read: in a VM,
 * one exit to the hypervisor per 10 ms.
 */
static uint64_t vp_watch(struct fsb_subdev *sd, uint64_t now)
{
	struct vp_dev *d = sd->priv;
	if (!d || !d->started || d->gone_marked)
		return 0;
	if (d->memoff_ns && now >= d->memoff_ns) {
		/* Test knob FSB_TEST_VPCI_MEMOFF=ADDR@N: N ms after the
		 * start of the device at ADDR, turn memory decoding off in
		 * its command register, as a
		 * device that fell off the bus reads.  Under VFIO the kernel
		 * then revokes our BAR mappings and its fault handler raises
		 * SIGBUS at the datapath's next doorbell store: the registry
		 * remaps, the slot is told (sigbus), the port fails over.
		 * Our own look waits for the next round, so that the
		 * datapath meets the dead BAR first. */
		d->memoff_ns = 0;
		uint16_t cmd = 0;
		if (fsb_pcidev_cfg_read(&d->pci, FSB_PCI_COMMAND, &cmd, 2) == 0) {
			cmd &= (uint16_t)~FSB_PCI_COMMAND_MEMORY;
			fsb_pcidev_cfg_write(&d->pci, FSB_PCI_COMMAND, &cmd, 2);
			fsb_log(FSB_LOG_WARNING, "%s: FSB_TEST_VPCI_MEMOFF: memory "
				"decoding of %s turned off", sd->name, sd->pci_addr);
		}
		return now + VP_WATCH_NS;
	}
	uint8_t st = fsb_vpci_status(&d->v);
	if (st == d->status_set) {
		/* there, as we left it: is it using what we give it? */
		uint64_t next = fsb_vnet_watchdog_run(&d->wd, sd, d->txq,
			sd->conf.nb_txq < d->nqp ? sd->conf.nb_txq : d->nqp, now);
		return next && next < now + VP_WATCH_NS ? next : now + VP_WATCH_NS;
	}
	if (st != 0xff && (st & FSB_VIRTIO_S_NEEDS_RESET) &&
	    (st & ~FSB_VIRTIO_S_NEEDS_RESET) == d->status_set) {
		fsb_log(FSB_LOG_ERR, "%s: %s asks for a reset (DEVICE_NEEDS_RESET): "
			"broken", sd->name, sd->pci_addr);
		d->gone_marked = true;
		fsb_subdev_notify(sd, FSB_DEVSIG_GONE, FSB_REASON_BROKEN);
		return 0;
	}
	if (st == 0xff && fsb_vpci_gone(&d->v))
		fsb_log(FSB_LOG_WARNING, "%s: %s reads all-ones: the device "
			"is gone", sd->name, sd->pci_addr);
	else
		fsb_log(FSB_LOG_WARNING, "%s: %s device_status reads 0x%02x, "
			"not the 0x%02x we left: the device is gone", sd->name,
			sd->pci_addr, st, d->status_set);
	vp_lost(d);
	return 0;
}

/* The device's LINK_UP (config status, bit 0) while started.  A device
 * whose common configuration reads all-ones is gone, as a PCI driver
 * tells surprise removal: its link reads down, so the port fails over
 * on that alone, and it is marked gone (once: the mark is a flag, and
 * a source that saw the removal first makes this a dup_signal). */
static int vp_link_get(struct fsb_subdev *sd, struct fsb_link *l)
{
	struct vp_dev *d = sd->priv;
	memset(l, 0, sizeof(*l));
	if (!d || !d->started)
		return 0;
	if (fsb_vpci_gone(&d->v)) {
		if (!d->gone_marked) {
			fsb_log(FSB_LOG_WARNING, "%s: %s reads all-ones: the device "
				"is gone", sd->name, sd->pci_addr);
			vp_lost(d);
		}
		return 0;
	}
	l->up = !fsb_vnet_watchdog_stalled(&d->wd);
	if (l->up && (d->v.features & VP_F(VP_F_STATUS))) {
		uint16_t st = 0;
		char err[128];
		if (fsb_vpci_cfg_read(&d->v, VP_CFG_STATUS, &st, 2, err,
				      sizeof(err)) < 0)
			l->up = false;
		else
			l->up = st & VP_S_LINK_UP;
	}
	return 0;
}

/*
 * GUEST_ANNOUNCE (5.1.6.5.4): after a migration (or QMP announce-self)
 * the device sets ANNOUNCE in its status and waits for the driver to
 * announce its addresses and acknowledge; only then does the
 * hypervisor schedule its next round.  The port's announcer
 * (migration/announce.c) asks on each control pass, sends a round on
 * the port's active path, and acknowledges once it went out.  One
 * config read; no config interrupt is needed.
 */
static bool vp_announce_pending(struct fsb_subdev *sd)
{
	struct vp_dev *d = sd->priv;
	if (!d || !d->started || !d->cvq || d->gone_marked ||
	    !(d->v.features & VP_F(VP_F_GUEST_ANNOUNCE)) ||
	    !(d->v.features & VP_F(VP_F_STATUS)))
		return false;
	uint16_t st = 0;
	char err[128];
	if (fsb_vpci_cfg_read(&d->v, VP_CFG_STATUS, &st, 2, err,
			      sizeof(err)) < 0 || st == 0xffff)
		return false;
	return st & VP_S_ANNOUNCE;
}

static int vp_announce_ack(struct fsb_subdev *sd)
{
	struct vp_dev *d = sd->priv;
	if (!d)
		return -ENODEV;
	return vp_ctrl(d, VP_CTRL_ANNOUNCE, VP_CTRL_ANNOUNCE_ACK, NULL, 0);
}

static int vp_stats_get(struct fsb_subdev *sd, struct fsb_subdev_stats *st)
{
	struct vp_dev *d = sd->priv;
	memset(st, 0, sizeof(*st));
	for (unsigned p = 0; d && p < d->nqp; p++)
		fsb_vnet_stats_add(d->rxq[p], d->txq[p], st);
	return 0;
}

static int vp_stats_reset(struct fsb_subdev *sd)
{
	struct vp_dev *d = sd->priv;
	for (unsigned p = 0; d && p < d->nqp; p++)
		fsb_vnet_stats_reset(d->rxq[p], d->txq[p]);
	return 0;
}

static int vp_mac_get(struct fsb_subdev *sd, uint8_t mac[6])
{
	struct vp_dev *d = sd->priv;
	if (!d)
		return -ENODEV;
	memcpy(mac, d->mac, 6);
	return 0;
}

/* The control queue carries these; a device without it (or without
 * the feature) filters as it likes, and we do not pretend: -ENOTSUP,
 * which the port counts as replay_enotsup. */
static int vp_mac_set(struct fsb_subdev *sd, const uint8_t mac[6])
{
	struct vp_dev *d = sd->priv;
	if (!(d->v.features & VP_F(VP_F_CTRL_MAC_ADDR)))
		return -ENOTSUP;
	int rc = vp_ctrl(d, VP_CTRL_MAC, VP_CTRL_MAC_ADDR_SET, mac, 6);
	if (rc == 0)
		memcpy(d->mac, mac, 6);
	return rc;
}

/* virtio-net has no MTU to program: what limits a frame is our RX
 * buffers and, with VIRTIO_NET_F_MTU, the device's maximum. */
static int vp_mtu_set(struct fsb_subdev *sd, uint16_t mtu)
{
	struct vp_dev *d = sd->priv;
	if (d->max_mtu && mtu > d->max_mtu) {
		fsb_log(FSB_LOG_ERR, "%s: MTU %u is above the device's maximum %u",
			sd->name, mtu, d->max_mtu);
		return -EINVAL;
	}
	for (unsigned p = 0; p < sd->conf.nb_rxq && p < d->nqp; p++) {
		struct fsb_vnet_rxq *rq = d->rxq[p];
		/* a frame with a VLAN tag must fit one buffer */
		if (rq->pool && (uint32_t)mtu + 18 + VP_HDR_LEN > rq->cap) {
			fsb_log(FSB_LOG_ERR, "%s: MTU %u does not fit rx queue "
				"%u's buffers (%u bytes)", sd->name, mtu, p,
				rq->cap - VP_HDR_LEN);
			return -EINVAL;
		}
	}
	return 0;
}

static int vp_rx_mode(struct fsb_subdev *sd, uint8_t cmd, bool on)
{
	struct vp_dev *d = sd->priv;
	if (!(d->v.features & VP_F(VP_F_CTRL_RX)))
		return -ENOTSUP;
	uint8_t v = on;
	return vp_ctrl(d, VP_CTRL_RX, cmd, &v, 1);
}

static int vp_promisc_set(struct fsb_subdev *sd, bool on)
{
	return vp_rx_mode(sd, VP_CTRL_RX_PROMISC, on);
}

static int vp_allmulti_set(struct fsb_subdev *sd, bool on)
{
	return vp_rx_mode(sd, VP_CTRL_RX_ALLMULTI, on);
}

/* MAC_TABLE_SET: no extra unicast entries, then the multicast ones
 * (each table a 32-bit count and the addresses). */
static int vp_mc_list_set(struct fsb_subdev *sd,
			  const uint8_t (*macs)[FSB_ETHER_ADDR_LEN], unsigned n)
{
	struct vp_dev *d = sd->priv;
	if (!(d->v.features & VP_F(VP_F_CTRL_RX)))
		return -ENOTSUP;
	uint8_t t[8 + FSB_ETHER_ADDR_LEN * FSB_MC_ADDR_MAX];
	if (n > FSB_MC_ADDR_MAX)
		return -EINVAL;
	uint32_t zero = 0, cnt = n;
	memcpy(t, &zero, 4);
	memcpy(t + 4, &cnt, 4);
	if (n)
		memcpy(t + 8, macs, (size_t)n * FSB_ETHER_ADDR_LEN);
	return vp_ctrl(d, VP_CTRL_MAC, VP_CTRL_MAC_TABLE_SET, t,
		       8 + (size_t)n * FSB_ETHER_ADDR_LEN);
}

const struct fsb_subdev_ops fsb_subdev_virtio_pci_ops = {
	.desc = { "virtio_pci", vp_opts, vp_validate },
	.probe = vp_probe,
	.configure = vp_configure,
	.start = vp_start,
	.stop = vp_stop,
	.close = vp_close,
	.rx_burst = fsb_vnet_rx_burst,
	.tx_burst = fsb_vnet_tx_burst,
	.rx_pending = vp_rx_pending,
	.tx_pending = vp_tx_pending,
	.link_get = vp_link_get,
	.watch = vp_watch,
	.announce_pending = vp_announce_pending,
	.announce_ack = vp_announce_ack,
	.stats_get = vp_stats_get,
	.stats_reset = vp_stats_reset,
	.mac_get = vp_mac_get,
	.mac_set = vp_mac_set,
	.mtu_set = vp_mtu_set,
	.promisc_set = vp_promisc_set,
	.allmulti_set = vp_allmulti_set,
	.mc_list_set = vp_mc_list_set,
};
