/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uio_pci.c - a PCI device held through uio_pci_generic: the pcidev
 * ops (pcidev.h) over sysfs, for guests with no IOMMU.
 *
 * What UIO gives.  uio_pci_generic only enables the device and offers
 * its legacy interrupt through /dev/uioN; we poll, so we never open it.
 * Config space is /sys/bus/pci/devices/ADDR/config (pread/pwrite: the
 * kernel lets root read and write all of it), and each memory BAR is
 * /sys/bus/pci/devices/ADDR/resourceN, mmap()ed whole.  Bus mastering,
 * which DMA needs, is ours to turn on in the command register, and off
 * again at close.
 *
 * What UIO does not give.  No IOMMU stands between the device and
 * memory: the device is given physical addresses (d->phys; physmem.h),
 * so only pinned hugetlb memory may reach it, and a device that goes
 * wrong can write anywhere.  And no request: the kernel removes the
 * device first and says so afterwards (the uevent "remove"), and since
 * Linux 5.12 it no longer unmaps a resourceN mapping when the device
 * goes (the mapping is of the iomem address range, not of the device):
 * reads of the dead BAR return whatever the bus returns, and the
 * mapping is revoked only when a driver claims the same range later (a
 * re-plugged device bound to virtio-pci), after which the next access
 * faults with SIGBUS.  So every BAR is registered with the SIGBUS
 * registry before the first access, and a kind that learns the device
 * is gone revokes our mappings itself at once (bars_revoke), before a
 * re-plugged device can take the address.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "fsb_private.h"
#include "sigbus.h"
#include "uio_pci.h"

#define ERR(...) do { if (err && errlen) snprintf(err, errlen, __VA_ARGS__); } while (0)
#define IORESOURCE_MEM 0x200ull

struct uio_pci {
	int cfg;                        /* the config file */
	int bar_sigbus[FSB_PCI_BARS];
};

static int up_cfg_read(struct fsb_pcidev *d, unsigned off, void *buf,
		       unsigned len)
{
	struct uio_pci *p = d->priv;
	ssize_t n = pread(p->cfg, buf, len, (off_t)off);
	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}

static int up_cfg_write(struct fsb_pcidev *d, unsigned off, const void *buf,
			unsigned len)
{
	struct uio_pci *p = d->priv;
	ssize_t n = pwrite(p->cfg, buf, len, (off_t)off);
	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}

/* A register: a volatile load or store on the mapped BAR. */
static int up_mmio(struct fsb_pcidev *d, unsigned bar, uint64_t off,
		   unsigned width, uint64_t *val, bool write)
{
	if (bar >= FSB_PCI_BARS || !d->bar_map[bar] || off + width > d->bar_len[bar] ||
	    (width != 1 && width != 2 && width != 4 && width != 8))
		return -EINVAL;
	volatile uint8_t *a = d->bar_map[bar] + off;
	fsb_pcidev_mmio_access(a, width, val, write);
	return 0;
}

static int up_mmio_read(struct fsb_pcidev *d, unsigned bar, uint64_t off,
			unsigned width, uint64_t *val)
{
	return up_mmio(d, bar, off, width, val, false);
}

static int up_mmio_write(struct fsb_pcidev *d, unsigned bar, uint64_t off,
			 unsigned width, uint64_t val)
{
	return up_mmio(d, bar, off, width, &val, true);
}

/* No IOMMU: nothing to map (d->phys; the kind gives physical addresses). */
static int up_dma_pick(struct fsb_pcidev *d, uint64_t va, uint64_t len,
		       uint64_t *iova)
{
	(void)d; (void)va; (void)len; (void)iova;
	return -ENOTSUP;
}

static int up_dma_map(struct fsb_pcidev *d, void *va, uint64_t len,
		      uint64_t iova)
{
	(void)d; (void)va; (void)len; (void)iova;
	return -ENOTSUP;
}

static int up_dma_unmap(struct fsb_pcidev *d, uint64_t iova, uint64_t len)
{
	(void)d; (void)iova; (void)len;
	return -ENOTSUP;
}

static void up_bars_revoke(struct fsb_pcidev *d)
{
	struct uio_pci *p = d->priv;
	for (unsigned i = 0; p && i < FSB_PCI_BARS; i++)
		if (p->bar_sigbus[i] >= 0)
			fsb_sigbus_revoke(p->bar_sigbus[i]);
}

/*
 * Test knob FSB_TEST_VPCI_KEEP_BAR=1 (the guest test of the re-plug
 * race; never in production): at close the BAR mappings are not
 * unmapped but handed to a thread that keeps reading them every
 * millisecond, as a datapath that still touched the old mapping would.
 * They are registered again with nobody to tell (the slot has moved on).
 * When a driver claims the range on a re-plug, the kernel revokes the
 * mapping, the next read takes a real SIGBUS, the registry puts all-ones
 * there, and the thread says so, unmaps, and ends (after 60 s without a
 * fault, it ends too).
 */
struct up_keeper {
	char addr[16];
	uint64_t t0;
	unsigned n;
	struct { volatile uint8_t *map; size_t len; int h; unsigned bar; } b[FSB_PCI_BARS];
};

static void *up_keeper_main(void *arg)
{
	struct up_keeper *k = arg;
	unsigned faulted = FSB_PCI_BARS;
	for (unsigned ms = 0; ms < 60000 && faulted == FSB_PCI_BARS; ms++) {
		for (unsigned i = 0; i < k->n && faulted == FSB_PCI_BARS; i++)
			if (*(volatile uint32_t *)k->b[i].map == UINT32_MAX)
				faulted = i;    /* remapped to all-ones */
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	if (faulted < FSB_PCI_BARS)
		fsb_log(FSB_LOG_WARNING, "FSB_TEST_VPCI_KEEP_BAR: the old mapping of "
			"%s BAR %u took SIGBUS %llu ms after its close (the range "
			"was claimed again); the registry put all-ones there",
			k->addr, k->b[faulted].bar,
			(unsigned long long)((fsb_now_ns() - k->t0) / 1000000));
	else
		fsb_log(FSB_LOG_WARNING, "FSB_TEST_VPCI_KEEP_BAR: the old mapping of "
			"%s never faulted in 60 s", k->addr);
	for (unsigned i = 0; i < k->n; i++) {
		fsb_sigbus_unregister(k->b[i].h);
		munmap((void *)k->b[i].map, k->b[i].len);
	}
	free(k);
	return NULL;
}

/* 0: kept (the mappings are the keeper's now); -errno: unmap them. */
static int up_keep(struct fsb_pcidev *d, struct uio_pci *p)
{
	struct up_keeper *k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	snprintf(k->addr, sizeof(k->addr), "%s", d->addr);
	k->t0 = fsb_now_ns();
	for (unsigned i = 0; i < FSB_PCI_BARS; i++) {
		if (!d->bar_map[i])
			continue;
		fsb_sigbus_unregister(p->bar_sigbus[i]);
		p->bar_sigbus[i] = -1;
		k->b[k->n].map = d->bar_map[i];
		k->b[k->n].len = d->bar_len[i];
		k->b[k->n].bar = i;
		k->b[k->n].h = fsb_sigbus_register((void *)d->bar_map[i],
						   d->bar_len[i], NULL, "kept");
		k->n++;
		d->bar_map[i] = NULL;
	}
	pthread_t t;
	if (pthread_create(&t, NULL, up_keeper_main, k) != 0) {
		for (unsigned i = 0; i < k->n; i++) {
			fsb_sigbus_unregister(k->b[i].h);
			munmap((void *)k->b[i].map, k->b[i].len);
		}
		free(k);
		return -EAGAIN;
	}
	pthread_detach(t);
	fsb_log(FSB_LOG_WARNING, "FSB_TEST_VPCI_KEEP_BAR: %s's BAR mappings kept "
		"and read every millisecond", d->addr);
	return 0;
}

static void up_close(struct fsb_pcidev *d)
{
	struct uio_pci *p = d->priv;
	if (!p)
		return;
	const char *keep = getenv("FSB_TEST_VPCI_KEEP_BAR");
	if (keep && *keep == '1')
		up_keep(d, p);
	for (unsigned i = 0; i < FSB_PCI_BARS; i++) {
		if (p->bar_sigbus[i] >= 0)
			fsb_sigbus_unregister(p->bar_sigbus[i]);
		if (d->bar_map[i])
			munmap((void *)d->bar_map[i], d->bar_len[i]);
		d->bar_map[i] = NULL;
	}
	if (p->cfg >= 0) {
		/* no more DMA from it: bus master off (the kind reset it
		 * already; a device that is gone ignores this) */
		uint16_t cmd;
		if (pread(p->cfg, &cmd, 2, FSB_PCI_COMMAND) == 2 && cmd != 0xffff) {
			cmd &= (uint16_t)~FSB_PCI_COMMAND_MASTER;
			if (pwrite(p->cfg, &cmd, 2, FSB_PCI_COMMAND) != 2)
				fsb_log(FSB_LOG_DEBUG, "%s: bus master stays on",
					d->addr);
		}
		close(p->cfg);
	}
	free(p);
	d->priv = NULL;
}

static const struct fsb_pcidev_ops uio_pci_ops = {
	.cfg_read = up_cfg_read, .cfg_write = up_cfg_write,
	.mmio_read = up_mmio_read, .mmio_write = up_mmio_write,
	.dma_pick = up_dma_pick, .dma_map = up_dma_map,
	.dma_unmap = up_dma_unmap, .close = up_close,
	.bars_revoke = up_bars_revoke,
};

int fsb_uio_pci_open(struct fsb_pcidev *d, const char *addr,
		     const struct fsb_slot_notify *notify, const char *name,
		     char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->addr, sizeof(d->addr), "%s", addr);
	struct uio_pci *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cfg = -1;
	for (unsigned i = 0; i < FSB_PCI_BARS; i++)
		p->bar_sigbus[i] = -1;
	d->ops = &uio_pci_ops;
	d->priv = p;
	d->phys = true;
	d->driver = "uio_pci_generic";

	char path[PATH_MAX];
	int rc;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", addr);
	p->cfg = open(path, O_RDWR | O_CLOEXEC);
	if (p->cfg < 0) {
		rc = -errno;
		ERR("%s: %s: %s", addr, path, strerror(-rc));
		goto fail;
	}
	/* "start end flags" per resource, BARs first */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource", addr);
	FILE *f = fopen(path, "re");
	if (!f) {
		rc = -errno;
		ERR("%s: %s: %s", addr, path, strerror(-rc));
		goto fail;
	}
	uint64_t start[FSB_PCI_BARS] = { 0 }, end[FSB_PCI_BARS] = { 0 },
		 flags[FSB_PCI_BARS] = { 0 };
	for (unsigned i = 0; i < FSB_PCI_BARS; i++)
		if (fscanf(f, "%" SCNx64 " %" SCNx64 " %" SCNx64, &start[i], &end[i],
			   &flags[i]) != 3)
			break;
	fclose(f);
	for (unsigned i = 0; i < FSB_PCI_BARS; i++) {
		/* memory BARs only: legacy virtio's I/O BAR is not ours */
		if (!(flags[i] & IORESOURCE_MEM) || !start[i] || end[i] < start[i])
			continue;
		uint64_t len = end[i] - start[i] + 1;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource%u",
			 addr, i);
		int fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;       /* not mappable (I/O, or an odd BAR) */
		void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);              /* the mapping holds the range */
		if (m == MAP_FAILED)
			continue;
		d->bar_len[i] = len;
		int h = fsb_sigbus_register(m, len, notify, name);
		if (h < 0) {
			munmap(m, len);
			d->bar_len[i] = 0;
			rc = h;
			ERR("%s: cannot register BAR %u with the SIGBUS registry: %s",
			    addr, i, strerror(-h));
			goto fail;
		}
		p->bar_sigbus[i] = h;
		d->bar_map[i] = m;
	}
	/* memory decoding for the BARs, bus master for DMA */
	uint16_t cmd = 0;
	if ((rc = up_cfg_read(d, FSB_PCI_COMMAND, &cmd, 2)) < 0 ||
	    cmd == 0xffff) {
		ERR("%s: config space unreadable: the device is gone", addr);
		rc = rc < 0 ? rc : -ENODEV;
		goto fail;
	}
	cmd |= FSB_PCI_COMMAND_MEMORY | FSB_PCI_COMMAND_MASTER;
	if ((rc = up_cfg_write(d, FSB_PCI_COMMAND, &cmd, 2)) < 0) {
		ERR("%s: cannot enable memory and bus master: %s", addr,
		    strerror(-rc));
		goto fail;
	}
	return 0;
fail:
	up_close(d);
	return rc;
}
