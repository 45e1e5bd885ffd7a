/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fake_pcidev.c - see fake_pcidev.h.  The common configuration is a
 * register model (a write to device_status 0 resets, FEATURES_OK can be
 * refused, queue registers follow queue_select); the rest of the BAR is
 * plain memory.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fake_pcidev.h"
#include "virtio_pci.h"

static int fake_cfg_read(struct fsb_pcidev *d, unsigned off, void *buf,
			 unsigned len)
{
	struct fake_pci *f = d->priv;
	if (off + len > sizeof(f->cfg))
		return -EINVAL;
	if (__atomic_load_n(&f->gone, __ATOMIC_RELAXED))
		memset(buf, 0xff, len);
	else
		memcpy(buf, f->cfg + off, len);
	return 0;
}

static int fake_cfg_write(struct fsb_pcidev *d, unsigned off, const void *buf,
			  unsigned len)
{
	struct fake_pci *f = d->priv;
	if (off + len > sizeof(f->cfg))
		return -EINVAL;
	if (!__atomic_load_n(&f->gone, __ATOMIC_RELAXED))
		memcpy(f->cfg + off, buf, len);
	return 0;
}

static uint64_t common_read(struct fake_pci *f, uint64_t off)
{
	uint16_t q = f->q_select < FAKE_QUEUES_MAX ? f->q_select : 0;
	switch (off) {
	case FSB_VPCI_DFSELECT: return f->dfselect;
	case FSB_VPCI_DF: return f->dfselect == 0 ? (uint32_t)f->dev_features :
		f->dfselect == 1 ? (uint32_t)(f->dev_features >> 32) : 0;
	case FSB_VPCI_GFSELECT: return f->gfselect;
	case FSB_VPCI_GF: return f->gfselect == 0 ? (uint32_t)f->drv_features :
		(uint32_t)(f->drv_features >> 32);
	case FSB_VPCI_MSIX_CONFIG: return FSB_VPCI_NO_VECTOR;
	case FSB_VPCI_NUM_QUEUES: return f->num_queues;
	case FSB_VPCI_STATUS:
		if (f->reset_reads) {
			if (f->reset_reads > 0)
				f->reset_reads--;
			return 0x01;    /* not 0 yet */
		}
		return __atomic_load_n(&f->status, __ATOMIC_RELAXED);
	case FSB_VPCI_CFG_GENERATION:
		return f->gen_churn ? f->generation++ : f->generation;
	case FSB_VPCI_Q_SELECT: return f->q_select;
	case FSB_VPCI_Q_SIZE: return f->q_size[q];
	case FSB_VPCI_Q_MSIX: return FSB_VPCI_NO_VECTOR;
	case FSB_VPCI_Q_ENABLE: return f->q_enable[q];
	case FSB_VPCI_Q_NOFF: return f->q_noff[q];
	case FSB_VPCI_Q_DESC: return f->q_desc[q];
	case FSB_VPCI_Q_AVAIL: return f->q_avail[q];
	case FSB_VPCI_Q_USED: return f->q_used[q];
	default: return 0;
	}
}

static void common_write(struct fake_pci *f, uint64_t off, uint64_t val)
{
	uint16_t q = f->q_select < FAKE_QUEUES_MAX ? f->q_select : 0;
	switch (off) {
	case FSB_VPCI_DFSELECT: f->dfselect = (uint32_t)val; break;
	case FSB_VPCI_GFSELECT: f->gfselect = (uint32_t)val; break;
	case FSB_VPCI_GF:
		if (f->gfselect == 0)
			f->drv_features = (f->drv_features & ~0xffffffffull) | (uint32_t)val;
		else if (f->gfselect == 1)
			f->drv_features = (f->drv_features & 0xffffffffull) | val << 32;
		break;
	case FSB_VPCI_STATUS:
		if (val == 0) {
			__atomic_store_n(&f->status, 0, __ATOMIC_RELAXED);
			f->drv_features = 0;
			memset(f->q_enable, 0, sizeof(f->q_enable));
			f->resets++;
			break;
		}
		if ((val & FSB_VIRTIO_S_FEATURES_OK) &&
		    (f->refuse_features_ok || (f->drv_features & ~f->dev_features)))
			val &= ~(uint64_t)FSB_VIRTIO_S_FEATURES_OK;
		__atomic_store_n(&f->status, (uint8_t)val, __ATOMIC_RELAXED);
		break;
	case FSB_VPCI_Q_SELECT: f->q_select = (uint16_t)val; break;
	case FSB_VPCI_Q_SIZE: f->q_size[q] = (uint16_t)val; break;
	case FSB_VPCI_Q_ENABLE: f->q_enable[q] = (uint16_t)val; break;
	case FSB_VPCI_Q_DESC: f->q_desc[q] = val; break;
	case FSB_VPCI_Q_AVAIL: f->q_avail[q] = val; break;
	case FSB_VPCI_Q_USED: f->q_used[q] = val; break;
	default: break;
	}
}

static int fake_mmio_read(struct fsb_pcidev *d, unsigned bar, uint64_t off,
			  unsigned width, uint64_t *val)
{
	struct fake_pci *f = d->priv;
	if (bar != FAKE_BAR || off + width > FAKE_BAR_LEN)
		return -EINVAL;
	if (__atomic_load_n(&f->gone, __ATOMIC_RELAXED)) {
		*val = width == 8 ? UINT64_MAX : (1ull << (width * 8)) - 1;
		return 0;
	}
	if (off < FAKE_COMMON + FSB_VPCI_COMMON_LEN) {
		*val = common_read(f, off - FAKE_COMMON);
		return 0;
	}
	*val = 0;
	memcpy(val, f->bar + off, width);
	return 0;
}

static int fake_mmio_write(struct fsb_pcidev *d, unsigned bar, uint64_t off,
			   unsigned width, uint64_t val)
{
	struct fake_pci *f = d->priv;
	if (bar != FAKE_BAR || off + width > FAKE_BAR_LEN)
		return -EINVAL;
	if (__atomic_load_n(&f->gone, __ATOMIC_RELAXED))
		return 0;
	if (off < FAKE_COMMON + FSB_VPCI_COMMON_LEN) {
		common_write(f, off - FAKE_COMMON, val);
		return 0;
	}
	memcpy(f->bar + off, &val, width);
	return 0;
}

static int fake_dma_pick(struct fsb_pcidev *d, uint64_t va, uint64_t len,
			 uint64_t *iova)
{
	struct fake_pci *f = d->priv;
	(void)len;
	*iova = va + f->iova_off;
	return 0;
}

static int fake_dma_map(struct fsb_pcidev *d, void *va, uint64_t len,
			uint64_t iova)
{
	struct fake_pci *f = d->priv;
	(void)va;
	(void)len;
	(void)iova;
	if (f->dma_fail) {
		int rc = f->dma_fail;
		f->dma_fail = 0;
		return rc;
	}
	__atomic_fetch_add(&f->dma_maps, 1, __ATOMIC_RELAXED);
	return 0;
}

static int fake_dma_unmap(struct fsb_pcidev *d, uint64_t iova, uint64_t len)
{
	struct fake_pci *f = d->priv;
	(void)iova;
	(void)len;
	__atomic_fetch_sub(&f->dma_maps, 1, __ATOMIC_RELAXED);
	return 0;
}

/* as closing a VFIO container: every mapping goes with it */
static void fake_close(struct fsb_pcidev *d)
{
	struct fake_pci *f = d->priv;
	__atomic_fetch_add(&f->closes, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&f->dma_maps, 0, __ATOMIC_RELAXED);
}

static const struct fsb_pcidev_ops fake_ops = {
	.cfg_read = fake_cfg_read, .cfg_write = fake_cfg_write,
	.mmio_read = fake_mmio_read, .mmio_write = fake_mmio_write,
	.dma_pick = fake_dma_pick, .dma_map = fake_dma_map,
	.dma_unmap = fake_dma_unmap, .close = fake_close,
};

void fake_pci_cap(struct fake_pci *f, unsigned at, uint8_t type, uint8_t bar,
		  uint32_t off, uint32_t len)
{
	uint8_t *c = f->cfg + at;
	c[0] = FSB_PCI_CAP_ID_VNDR;
	c[2] = type == FSB_VPCI_CAP_NOTIFY ? 20 : 16;
	c[3] = type;
	c[4] = bar;
	memcpy(c + 8, &off, 4);
	memcpy(c + 12, &len, 4);
	if (type == FSB_VPCI_CAP_NOTIFY) {
		uint32_t m = FAKE_NOTIFY_MULT;
		memcpy(c + 16, &m, 4);
	}
}

int fake_pci_init(struct fake_pci *f)
{
	memset(f, 0, sizeof(*f));
	f->bar_fd = memfd_create("fake-bar", MFD_CLOEXEC);
	if (f->bar_fd < 0)
		return -errno;
	if (ftruncate(f->bar_fd, FAKE_BAR_LEN) < 0)
		return -errno;
	f->bar = mmap(NULL, FAKE_BAR_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
		      f->bar_fd, 0);
	if (f->bar == MAP_FAILED)
		return -errno;
	fake_pci_reset(f);
	return 0;
}

void fake_pci_reset(struct fake_pci *f)
{
	int fd = f->bar_fd;
	uint8_t *bar = f->bar;
	memset(f, 0, sizeof(*f));
	f->bar_fd = fd;
	f->bar = bar;
	memset(f->bar, 0, FAKE_BAR_LEN);
	uint16_t w = FSB_VIRTIO_PCI_VENDOR;
	memcpy(f->cfg + FSB_PCI_VENDOR_ID, &w, 2);
	w = 0x1041;                     /* modern virtio-net */
	memcpy(f->cfg + FSB_PCI_DEVICE_ID, &w, 2);
	w = FSB_PCI_STATUS_CAP_LIST;
	memcpy(f->cfg + FSB_PCI_STATUS, &w, 2);
	f->cfg[FSB_PCI_CAPABILITY_LIST] = 0x40;
	fake_pci_cap(f, 0x40, FSB_VPCI_CAP_COMMON, FAKE_BAR, FAKE_COMMON, 0x1000);
	f->cfg[0x41] = 0x54;
	fake_pci_cap(f, 0x54, FSB_VPCI_CAP_ISR, FAKE_BAR, FAKE_ISR, 0x1000);
	f->cfg[0x55] = 0x68;
	fake_pci_cap(f, 0x68, FSB_VPCI_CAP_DEVICE, FAKE_BAR, FAKE_DEVICE, 0x1000);
	f->cfg[0x69] = 0x7c;
	fake_pci_cap(f, 0x7c, FSB_VPCI_CAP_NOTIFY, FAKE_BAR, FAKE_NOTIFY, 0x1000);
	f->dev_features = 1ull << FSB_VIRTIO_F_VERSION_1 |
			  1ull << FSB_VIRTIO_F_ACCESS_PLATFORM |
			  1ull << 5 | 1ull << 15 | 1ull << 16;
	f->num_queues = 3;
	for (unsigned q = 0; q < FAKE_QUEUES_MAX; q++) {
		f->q_size[q] = 256;
		f->q_noff[q] = (uint16_t)q;
	}
	static const uint8_t mac[6] = { 0x52, 0x54, 0, 0xfb, 0, 1 };
	memcpy(f->bar + FAKE_DEVICE, mac, 6);
	f->dev.ops = &fake_ops;
	f->dev.priv = f;
	strcpy(f->dev.addr, "0000:02:00.0");
	f->dev.bar_len[FAKE_BAR] = FAKE_BAR_LEN;
	f->dev.bar_map[FAKE_BAR] = f->bar;
}

void fake_pci_fini(struct fake_pci *f)
{
	if (f->bar && f->bar != MAP_FAILED)
		munmap(f->bar, FAKE_BAR_LEN);
	if (f->bar_fd > 0)
		close(f->bar_fd);
	f->bar = NULL;
}
