/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio_pci.c - the virtio_pci sub-device: a virtio-net PCI device
 * (a VM's virtio NIC, a virtio-class VF) driven from userspace through
 * VFIO type1.
 *
 *   dev(virtio_pci,addr=DDDD:BB:DD.F,standby=0|1,queue_size=N,mac=M)
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
 * is what makes QEMU plug the failover primary.  One queue pair for
 * now: RX queue 0, TX queue 1, a 12-byte header.  MRG_RXBUF,
 * EVENT_IDX and IN_ORDER when offered (the rings do both; a frame that
 * would span RX buffers is dropped and counted: our buffers hold a
 * full frame); MQ and the control queue come with multi-queue.
 *
 * Memory.  Ring memory and every live mempool region are mapped for
 * DMA at start, IOVA = VA (the descriptors carry process addresses, as
 * for vhost-user).  A pool created while the port runs is mapped before
 * fsb_mempool_create returns it (a mempool listener), and unmapped when
 * freed.  An aperture that does not cover them (a vIOMMU with 39
 * address bits) is refused with one line naming the fix.
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
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "subdev.h"
#include "vfio.h"
#include "vfio_pci.h"
#include "virtio_net.h"
#include "virtio_pci.h"

#define VP_QSIZE_DEFAULT 256
#define VP_RESET_MS 1000
#define VP_F(b) (1ull << (b))
#define VP_F_MAC 5
#define VP_F_MRG_RXBUF 15
#define VP_F_STATUS 16
#define VP_F_EVENT_IDX 29
#define VP_F_IN_ORDER 35
#define VP_F_STANDBY 62
#define VP_HDR_LEN 12

struct vp_dev {
	struct fsb_subdev *sd;
	struct fsb_pcidev pci;
	struct fsb_vpci v;
	struct fsb_vfio_req *req;
	uint64_t want, required;
	bool negotiated;                /* FEATURES_OK, queues not set yet */
	bool started, used_before;
	bool gone_marked;               /* all-ones seen and told */
	unsigned qsize[2];              /* RX, TX */
	void *ring_mem;
	size_t ring_len, ring_off_tx;
	struct vp_kick {                /* a queue's doorbell and index */
		volatile uint16_t *db;
		uint16_t idx;
	} kick_ctx[2];
	struct fsb_vnet_rxq *rxq;
	struct fsb_vnet_txq *txq;
	uint64_t known_gen[FSB_MAX_POOLS];
	uint64_t table_epoch;
	struct vp_dma {                 /* what the IOMMU maps for the device */
		uint64_t iova, len;
		int pool;               /* its pool's id, -1 for the rings */
	} dma[FSB_MAX_POOLS * FSB_MEMPOOL_MAX_REGIONS + 1];
	unsigned ndma;
	struct fsb_mempool_listener pools;
	bool listening;
	int dma_err;                    /* a pool created after start failed */
	uint8_t mac[FSB_ETHER_ADDR_LEN];
};

static const struct fsb_opt_desc vp_opts[] = {
	{ "addr", FSB_OPT_PCI, 0, 0 },
	{ "standby", FSB_OPT_BOOL, 0, 0 },
	{ "queues", FSB_OPT_UINT, 1, 1 },
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

/* BARs unmapped and the container closed first: the device is released
 * only when its fd is closed and nothing maps it any more. */
static void vp_free(struct vp_dev *d)
{
	fsb_vfio_pci_close(&d->pci);
	if (d->req) {
		uint64_t us = fsb_vfio_req_close(d->req);
		if (us)
			d->sd->release_us = us;
		d->req = NULL;
	}
	free(d);
}

static int vp_probe(struct fsb_subdev *sd)
{
	char err[256] = "", drv[64];
	const char *addr = fsb_devspec_get(&sd->spec, "addr");
	/* before the lookup: the router needs it while the device is away */
	if (fsb_pci_addr_parse(addr, sd->pci_addr) < 0)
		return -EINVAL;
	if (fsb_vfio_pci_driver(sd->pci_addr, drv, sizeof(drv)) < 0) {
		fsb_log(FSB_LOG_INFO, "%s: PCI device %s is not there (yet)",
			sd->name, sd->pci_addr);
		return -ENODEV;
	}
	int rc = fsb_vfio_pci_bind(sd->pci_addr, "virtio-pci", err, sizeof(err));
	if (rc < 0)
		goto fail;
	struct vp_dev *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->sd = sd;
	rc = fsb_vfio_pci_open(&d->pci, sd->pci_addr, &sd->notify, sd->name,
			       err, sizeof(err));
	if (rc < 0) {
		free(d);
		goto fail;
	}
	int devfd = fsb_vfio_pci_devfd_take(&d->pci);
	d->req = fsb_vfio_req_open(devfd, sd->name, &sd->notify);
	if (!d->req) {
		rc = -errno;
		snprintf(err, sizeof(err), "%s: cannot arm the VFIO device "
			 "request: %s", sd->pci_addr, strerror(errno));
		vp_free(d);
		close(devfd);           /* still ours: the source did not take it */
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
	d->required = VP_F(FSB_VIRTIO_F_VERSION_1) | VP_F(FSB_VIRTIO_F_ACCESS_PLATFORM);
	d->want = d->required | VP_F(VP_F_MAC) | VP_F(VP_F_STATUS) |
		VP_F(VP_F_MRG_RXBUF) | VP_F(VP_F_EVENT_IDX) | VP_F(VP_F_IN_ORDER) |
		(fsb_devspec_get_u64(&sd->spec, "standby", 0) ? VP_F(VP_F_STANDBY) : 0);
	if (rc == 0)
		rc = fsb_vpci_negotiate(&d->v, d->want, d->required, err, sizeof(err));
	if (rc < 0) {
		vp_free(d);
		goto fail;
	}
	d->negotiated = true;
	const char *mac = fsb_devspec_get(&sd->spec, "mac");
	if (mac)
		fsb_mac_parse(mac, d->mac);
	else if (!(d->v.features & VP_F(VP_F_MAC)) ||
		 fsb_vpci_cfg_read(&d->v, 0, d->mac, 6, err, sizeof(err)) < 0) {
		/* locally administered, unicast, random */
		if (getrandom(d->mac, sizeof(d->mac), 0) != sizeof(d->mac)) {
			uint64_t t = fsb_now_ns();
			memcpy(d->mac, &t, sizeof(d->mac));
		}
		d->mac[0] = (uint8_t)((d->mac[0] & 0xfc) | 0x02);
	}
	sd->priv = d;
	fsb_log(FSB_LOG_INFO, "%s: virtio_pci on %s: features 0x%llx%s",
		sd->name, sd->pci_addr, (unsigned long long)d->v.features,
		d->v.features & VP_F(VP_F_STANDBY) ? " (STANDBY)" : "");
	return 0;
fail:
	fsb_log(rc == -ENODEV ? FSB_LOG_INFO : FSB_LOG_ERR, "%s: %s", sd->name,
		err[0] ? err : strerror(-rc));
	return rc;
}

static void vp_rings_free(struct vp_dev *d)
{
	if (d->rxq) {
		fsb_vq_reclaim(&d->rxq->vq, fsb_vnet_buf_free, NULL);
		fsb_vq_fini(&d->rxq->vq);
		free(d->rxq);
		d->rxq = NULL;
	}
	if (d->txq) {
		fsb_vq_reclaim(&d->txq->vq, fsb_vnet_buf_free, NULL);
		fsb_vq_fini(&d->txq->vq);
		free(d->txq);
		d->txq = NULL;
	}
	if (d->ring_mem)
		munmap(d->ring_mem, d->ring_len);
	d->ring_mem = NULL;
}

/* Unmap what @pool (-1: the rings; FSB_MAX_POOLS: everything) had
 * mapped.  Under live_lock (a listener's callback) or with no listener. */
static void vp_dma_unmap(struct vp_dev *d, int pool)
{
	unsigned k = 0;
	for (unsigned i = 0; i < d->ndma; i++) {
		if (pool == FSB_MAX_POOLS || d->dma[i].pool == pool)
			fsb_vfio_pci_dma_unmap(&d->pci, d->dma[i].iova, d->dma[i].len);
		else
			d->dma[k++] = d->dma[i];
	}
	d->ndma = k;
}

static void vp_dma_unmap_all(struct vp_dev *d)
{
	if (d->listening) {
		fsb_mempool_unlisten(&d->pools);
		d->listening = false;
	}
	vp_dma_unmap(d, FSB_MAX_POOLS);
	memset(d->known_gen, 0, sizeof(d->known_gen));
	d->table_epoch = 0;
}

static void vp_close(struct fsb_subdev *sd)
{
	struct vp_dev *d = sd->priv;
	if (!d)
		return;
	char err[128];
	if (!fsb_vpci_gone(&d->v))
		fsb_vpci_reset(&d->v, VP_RESET_MS, err, sizeof(err));
	vp_dma_unmap_all(d);
	vp_rings_free(d);
	vp_free(d);
	sd->priv = NULL;
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

/* Lay out both rings on zeroed memory, as the features negotiated ask:
 * the device starts from index 0. */
static int vp_rings_init(struct vp_dev *d)
{
	bool eidx = d->v.features & VP_F(VP_F_EVENT_IDX);
	bool ino = d->v.features & VP_F(VP_F_IN_ORDER);
	memset(d->ring_mem, 0, d->ring_len);
	int rc = fsb_vq_init(&d->rxq->vq, d->ring_mem, (uint16_t)d->qsize[0],
			     true, eidx, ino, d->sd->name);
	if (rc == 0)
		rc = fsb_vq_init(&d->txq->vq, (char *)d->ring_mem + d->ring_off_tx,
				 (uint16_t)d->qsize[1], false, eidx, ino,
				 d->sd->name);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < 2; i++) {
		struct fsb_vq *vq = i ? &d->txq->vq : &d->rxq->vq;
		vq->on_broken = vp_on_broken;
		vq->broken_arg = d;
	}
	d->rxq->mrg = d->v.features & VP_F(VP_F_MRG_RXBUF);
	return 0;
}

static int vp_configure(struct fsb_subdev *sd)
{
	struct vp_dev *d = sd->priv;
	if (sd->conf.nb_rxq > 1 || sd->conf.nb_txq > 1) {
		fsb_log(FSB_LOG_ERR, "%s: %u queues wanted, virtio_pci drives one "
			"queue pair for now", sd->name,
			sd->conf.nb_rxq > sd->conf.nb_txq ? sd->conf.nb_rxq :
			sd->conf.nb_txq);
		return -EINVAL;
	}
	vp_rings_free(d);
	unsigned want = (unsigned)fsb_devspec_get_u64(&sd->spec, "queue_size",
						      VP_QSIZE_DEFAULT);
	char err[256];
	for (unsigned i = 0; i < 2; i++) {
		unsigned max;
		int rc = fsb_vpci_queue_max(&d->v, (uint16_t)i, &max, err, sizeof(err));
		if (rc < 0) {
			fsb_log(FSB_LOG_ERR, "%s: %s", sd->name, err);
			return rc;
		}
		d->qsize[i] = want < max ? want : max;
		if (d->qsize[i] != want)
			fsb_log(FSB_LOG_INFO, "%s: %s queue: %u entries (the "
				"device's maximum; queue_size=%u)", sd->name,
				i ? "tx" : "rx", d->qsize[i], want);
	}
	size_t rx_len = fsb_vq_mem_size((uint16_t)d->qsize[0]);
	d->ring_off_tx = rx_len;
	d->ring_len = rx_len + fsb_vq_mem_size((uint16_t)d->qsize[1]);
	d->ring_mem = mmap(NULL, d->ring_len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (d->ring_mem == MAP_FAILED) {
		d->ring_mem = NULL;
		return -ENOMEM;
	}
	size_t qs = (sizeof(struct fsb_vnet_rxq) + FSB_CACHE_LINE - 1) &
		~(size_t)(FSB_CACHE_LINE - 1);
	size_t ts = (sizeof(struct fsb_vnet_txq) + FSB_CACHE_LINE - 1) &
		~(size_t)(FSB_CACHE_LINE - 1);
	d->rxq = aligned_alloc(FSB_CACHE_LINE, qs);
	d->txq = aligned_alloc(FSB_CACHE_LINE, ts);
	if (!d->rxq || !d->txq) {
		vp_rings_free(d);
		return -ENOMEM;
	}
	memset(d->rxq, 0, sizeof(*d->rxq));
	memset(d->txq, 0, sizeof(*d->txq));
	int rc = vp_rings_init(d);
	if (rc < 0) {
		vp_rings_free(d);
		return rc;
	}
	d->rxq->port_id = sd->port_id;
	d->rxq->qid = 0;
	d->rxq->hdr_len = d->txq->hdr_len = VP_HDR_LEN;
	d->txq->known_gen = d->known_gen;
	d->txq->table_epoch = &d->table_epoch;
	sd->rxq[0] = sd->conf.nb_rxq ? d->rxq : NULL;
	sd->txq[0] = sd->conf.nb_txq ? d->txq : NULL;
	return 0;
}

/* Map @len bytes at @va for the device, IOVA = VA. */
static int vp_dma_map(struct vp_dev *d, void *va, uint64_t len, int pool)
{
	uint64_t iova;
	int rc = fsb_vfio_pci_dma_map(&d->pci, va, len, &iova);
	if (rc == 0 && iova != (uint64_t)(uintptr_t)va) {
		fsb_vfio_pci_dma_unmap(&d->pci, iova, len);
		fsb_log(FSB_LOG_ERR, "%s: the IOMMU's aperture does not cover "
			"our memory at %p: virtio_pci needs IOVA = VA (in a "
			"guest: intel-iommu,aw-bits=48)", d->sd->name, va);
		return -ENOTSUP;
	}
	if (rc < 0) {
		fsb_log(FSB_LOG_ERR, "%s: VFIO_IOMMU_MAP_DMA of %llu bytes at %p: %s",
			d->sd->name, (unsigned long long)len, va, strerror(-rc));
		return rc;
	}
	d->dma[d->ndma].iova = iova;
	d->dma[d->ndma].len = len;
	d->dma[d->ndma++].pool = pool;
	return 0;
}

/*
 * The mempool listener (fsb_private.h): every pool, live at start or
 * created while the port runs, is mapped before fsb_mempool_create
 * returns it, so none of its buffers can reach the device unmapped.
 * Only then is it known to TX (known_gen); a pool that could not be
 * mapped stays unknown, and TX drops its buffers and counts them.
 */
static void vp_pool_added(void *arg, const struct fsb_pool_snap *p)
{
	struct vp_dev *d = arg;
	for (unsigned i = 0; i < p->nregions; i++) {
		d->dma_err = vp_dma_map(d, p->regions[i].addr, p->regions[i].size,
					(int)p->id);
		if (d->dma_err < 0) {
			vp_dma_unmap(d, (int)p->id);
			return;
		}
	}
	__atomic_store_n(&d->known_gen[p->id], p->gen, __ATOMIC_RELAXED);
}

static void vp_pool_removed(void *arg, const struct fsb_pool_snap *p)
{
	struct vp_dev *d = arg;
	__atomic_store_n(&d->known_gen[p->id], 0, __ATOMIC_RELAXED);
	vp_dma_unmap(d, (int)p->id);
}

/* Map the ring memory and every live pool's regions for the device. */
static int vp_dma_map_all(struct vp_dev *d)
{
	vp_dma_unmap_all(d);
	int rc = vp_dma_map(d, d->ring_mem, d->ring_len, -1);
	if (rc < 0)
		return rc;
	d->dma_err = 0;
	d->pools.added = vp_pool_added;
	d->pools.removed = vp_pool_removed;
	d->pools.arg = d;
	d->pools.epoch = &d->table_epoch;
	fsb_mempool_listen(&d->pools);
	d->listening = true;
	/* a pool live now that could not be mapped fails the start; one
	 * created later is refused to TX (above) */
	rc = d->dma_err;
	if (rc < 0)
		vp_dma_unmap_all(d);
	return rc;
}

static int vp_start(struct fsb_subdev *sd)
{
	struct vp_dev *d = sd->priv;
	char err[256];
	int rc;
	if (!sd->rx_pool[0] && sd->conf.nb_rxq) {
		fsb_log(FSB_LOG_ERR, "%s: rx queue 0 has no mempool", sd->name);
		return -EINVAL;
	}
	if (!d->negotiated) {
		/* a restart: the device was reset at stop */
		rc = fsb_vpci_reset(&d->v, VP_RESET_MS, err, sizeof(err));
		if (rc == 0)
			rc = fsb_vpci_negotiate(&d->v, d->want, d->required, err,
						sizeof(err));
		if (rc < 0) {
			fsb_log(FSB_LOG_ERR, "%s: %s", sd->name, err);
			return rc;
		}
		d->negotiated = true;
	}
	if (d->used_before) {
		fsb_vq_reclaim(&d->rxq->vq, fsb_vnet_buf_free, NULL);
		fsb_vq_reclaim(&d->txq->vq, fsb_vnet_buf_free, NULL);
		/* fresh rings: the device starts from index 0 again */
		fsb_vq_fini(&d->rxq->vq);
		fsb_vq_fini(&d->txq->vq);
		if ((rc = vp_rings_init(d)) < 0)
			return rc;
	}
	if ((rc = vp_dma_map_all(d)) < 0)
		return rc;
	if (sd->conf.nb_rxq) {
		d->rxq->pool = sd->rx_pool[0];
		d->rxq->cap = sd->rx_pool[0]->data_room - FSB_BUF_HEADROOM + VP_HDR_LEN;
		if (__atomic_load_n(&d->known_gen[d->rxq->pool->id],
				    __ATOMIC_RELAXED) != d->rxq->pool->gen) {
			fsb_log(FSB_LOG_ERR, "%s: rx queue 0's mempool is not a live "
				"pool (freed?)", sd->name);
			return -EINVAL;
		}
	}
	for (unsigned i = 0; i < 2; i++) {
		struct fsb_vq *vq = i ? &d->txq->vq : &d->rxq->vq;
		unsigned size;
		uint64_t noff;
		rc = fsb_vpci_queue_setup(&d->v, (uint16_t)i, d->qsize[i],
					  (uintptr_t)fsb_vq_desc_addr(vq),
					  (uintptr_t)fsb_vq_avail_addr(vq),
					  (uintptr_t)fsb_vq_used_addr(vq),
					  &size, &noff, err, sizeof(err));
		if (rc < 0) {
			fsb_log(FSB_LOG_ERR, "%s: %s", sd->name, err);
			return rc;
		}
		volatile uint8_t *bar = d->pci.bar_map[d->v.notify.bar];
		if (!bar) {
			fsb_log(FSB_LOG_ERR, "%s: the notify BAR %u cannot be mapped",
				sd->name, d->v.notify.bar);
			return -ENOTSUP;
		}
		d->kick_ctx[i].db = (volatile uint16_t *)(bar + noff);
		d->kick_ctx[i].idx = (uint16_t)i;
		vq->kick = vp_kick;
		vq->kick_arg = (void *)&d->kick_ctx[i];
	}
	d->used_before = true;
	if (sd->conf.nb_rxq)
		fsb_vnet_rx_refill(d->rxq);
	fsb_vpci_status_add(&d->v, FSB_VIRTIO_S_DRIVER_OK);
	d->negotiated = false;          /* the next start renegotiates */
	d->started = true;
	return 0;
}

static void vp_stop(struct fsb_subdev *sd)
{
	struct vp_dev *d = sd->priv;
	char err[128];
	d->started = false;
	/* Reset: from now on the device touches none of our memory.  The
	 * datapath may still poll the rings until the port's grace period
	 * ends: they stay mapped in this process. */
	if (!fsb_vpci_gone(&d->v))
		fsb_vpci_reset(&d->v, VP_RESET_MS, err, sizeof(err));
}

/* ------------------------------------------------------------------ */
/* Info and config                                                     */
/* ------------------------------------------------------------------ */

static unsigned vp_rx_pending(struct fsb_subdev *sd)
{
	struct vp_dev *d = sd->priv;
	return d && d->rxq ? fsb_vq_used_count(&d->rxq->vq) : 0;
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
			d->gone_marked = true;
			fsb_log(FSB_LOG_WARNING, "%s: %s reads all-ones: the device "
				"is gone", sd->name, sd->pci_addr);
			fsb_subdev_notify(sd, FSB_DEVSIG_GONE, FSB_REASON_LINK_DOWN);
		}
		return 0;
	}
	l->up = true;
	if (d->v.features & VP_F(VP_F_STATUS)) {
		uint16_t st = 0;
		char err[128];
		if (fsb_vpci_cfg_read(&d->v, 6, &st, 2, err, sizeof(err)) < 0)
			l->up = false;
		else
			l->up = st & 1;
	}
	return 0;
}

static int vp_stats_get(struct fsb_subdev *sd, struct fsb_subdev_stats *st)
{
	struct vp_dev *d = sd->priv;
	memset(st, 0, sizeof(*st));
	if (d && d->rxq && d->txq)
		fsb_vnet_stats_add(d->rxq, d->txq, st);
	return 0;
}

static int vp_stats_reset(struct fsb_subdev *sd)
{
	struct vp_dev *d = sd->priv;
	if (d && d->rxq && d->txq)
		fsb_vnet_stats_reset(d->rxq, d->txq);
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

/* Without the control queue the device filters on its own MAC (or not
 * at all): nothing to set, nothing to pretend.  The port counts these
 * as replay_enotsup. */
static int vp_mac_set(struct fsb_subdev *sd, const uint8_t mac[6])
{
	(void)sd;
	(void)mac;
	return -ENOTSUP;
}

static int vp_mtu_set(struct fsb_subdev *sd, uint16_t mtu)
{
	(void)sd;
	(void)mtu;
	return -ENOTSUP;
}

static int vp_flag_set(struct fsb_subdev *sd, bool on)
{
	(void)sd;
	(void)on;
	return -ENOTSUP;
}

static int vp_mc_list_set(struct fsb_subdev *sd,
			  const uint8_t (*macs)[FSB_ETHER_ADDR_LEN], unsigned n)
{
	(void)sd;
	(void)macs;
	(void)n;
	return -ENOTSUP;
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
	.link_get = vp_link_get,
	.stats_get = vp_stats_get,
	.stats_reset = vp_stats_reset,
	.mac_get = vp_mac_get,
	.mac_set = vp_mac_set,
	.mtu_set = vp_mtu_set,
	.promisc_set = vp_flag_set,
	.allmulti_set = vp_flag_set,
	.mc_list_set = vp_mc_list_set,
};
