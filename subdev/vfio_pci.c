/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio_pci.c - a PCI device held through VFIO type1: the pcidev ops
 * (pcidev.h) over a VFIO device fd, DMA mapping, and taking the device
 * from whatever kernel driver has it.
 *
 * How a device is reached.  VFIO hands devices out by IOMMU group: the
 * group's node (/dev/vfio/N, N from the device's iommu_group link) is
 * attached to a container (/dev/vfio/vfio) that gets an IOMMU model,
 * here type1; the device fd then comes from the group by the device's
 * name.  One container per device: groups here hold one device each (a
 * guest's vIOMMU gives every root port its own), and a device's DMA
 * mappings then die with it.  The device fd's regions are config space
 * (read and written with pread/pwrite at the region's offset) and the
 * BARs (mmap()ed where VFIO allows it; else pread/pwrite too).  Every
 * mapped BAR is registered with the SIGBUS registry before the first
 * access: vfio-pci raises SIGBUS on a BAR access while memory decoding
 * is off, and a device that goes away may leave a mapping that faults.
 *
 * DMA.  The device sees what the container maps.  IOVA = VA where the
 * IOMMU's aperture (VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) covers the
 * range: user addresses sit near 2^47, so that takes a guest vIOMMU of
 * 48 address bits (design.md 6b).  Otherwise IOVAs are handed out
 * upwards from the start of the widest range (fsb_vfio_pci_iova_pick),
 * and the caller translates.
 *
 * Taking the device from the kernel's driver is pci_bind.c's.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "fsb_private.h"
#include "sigbus.h"
#include "vfio_pci.h"

#define ERR(...) do { if (err && errlen) snprintf(err, errlen, __VA_ARGS__); } while (0)
/* how long the group node may lag the bind (see fsb_vfio_pci_open) */
#define VFIO_NODE_WAIT_MS 2000

struct vfio_pci {
	int container, group, devfd;
	bool devfd_taken;               /* closed by the request source */
	uint64_t cfg_off;
	uint64_t bar_off[FSB_PCI_BARS];
	int bar_sigbus[FSB_PCI_BARS];
	size_t bar_maplen[FSB_PCI_BARS];
	struct vfio_iova_range range;   /* the aperture used */
	uint64_t iova_next;             /* when IOVA != VA */
	unsigned nmapped;               /* live DMA mappings */
};

/* ------------------------------------------------------------------ */
/* The pcidev ops                                                      */
/* ------------------------------------------------------------------ */

static int vp_cfg_read(struct fsb_pcidev *d, unsigned off, void *buf,
		       unsigned len)
{
	struct vfio_pci *p = d->priv;
	ssize_t n = pread(p->devfd, buf, len, (off_t)(p->cfg_off + off));
	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}

static int vp_cfg_write(struct fsb_pcidev *d, unsigned off, const void *buf,
			unsigned len)
{
	struct vfio_pci *p = d->priv;
	ssize_t n = pwrite(p->devfd, buf, len, (off_t)(p->cfg_off + off));
	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}

/* One register access: a volatile load or store on the mapped BAR, or
 * pread/pwrite on the device fd where VFIO gave no mapping. */
static int vp_mmio(struct fsb_pcidev *d, unsigned bar, uint64_t off,
		   unsigned width, uint64_t *val, bool write)
{
	struct vfio_pci *p = d->priv;
	if (bar >= FSB_PCI_BARS || off + width > d->bar_len[bar] ||
	    (width != 1 && width != 2 && width != 4 && width != 8))
		return -EINVAL;
	volatile uint8_t *a = d->bar_map[bar];
	if (!a) {
		off_t at = (off_t)(p->bar_off[bar] + off);
		if (!write)
			*val = 0;
		ssize_t n = write ? pwrite(p->devfd, val, width, at) :
			pread(p->devfd, val, width, at);
		return n == (ssize_t)width ? 0 : n < 0 ? -errno : -EIO;
	}
	fsb_pcidev_mmio_access(a + off, width, val, write);
	return 0;
}

static int vp_mmio_read(struct fsb_pcidev *d, unsigned bar, uint64_t off,
			unsigned width, uint64_t *val)
{
	return vp_mmio(d, bar, off, width, val, false);
}

static int vp_mmio_write(struct fsb_pcidev *d, unsigned bar, uint64_t off,
			 unsigned width, uint64_t val)
{
	return vp_mmio(d, bar, off, width, &val, true);
}

static const struct fsb_pcidev_ops vfio_pci_ops;

/* ------------------------------------------------------------------ */
/* Open, close                                                         */
/* ------------------------------------------------------------------ */

/* The aperture: the first IOVA range, or none known (then IOVA = VA). */
static void iova_ranges(struct vfio_pci *p)
{
	p->range.start = 0;
	p->range.end = UINT64_MAX;
	struct vfio_iommu_type1_info probe = { .argsz = sizeof(probe) };
	if (ioctl(p->container, VFIO_IOMMU_GET_INFO, &probe) < 0 ||
	    !(probe.flags & VFIO_IOMMU_INFO_CAPS) || probe.argsz <= sizeof(probe))
		return;
	struct vfio_iommu_type1_info *info = calloc(1, probe.argsz);
	if (!info)
		return;
	info->argsz = probe.argsz;
	if (ioctl(p->container, VFIO_IOMMU_GET_INFO, info) == 0) {
		uint32_t off = info->cap_offset;
		for (unsigned guard = 0; off && off + sizeof(struct vfio_info_cap_header) <=
		     info->argsz && guard < 16; guard++) {
			struct vfio_info_cap_header *h = (void *)((char *)info + off);
			if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE &&
			    off + sizeof(struct vfio_iommu_type1_info_cap_iova_range) +
			    sizeof(struct vfio_iova_range) <= info->argsz) {
				struct vfio_iommu_type1_info_cap_iova_range *r = (void *)h;
				/* the widest range: where VAs most likely fit */
				uint32_t n = r->nr_iovas;
				size_t room = (info->argsz - off - sizeof(*r)) /
					sizeof(struct vfio_iova_range);
				if (n > room)
					n = (uint32_t)room;
				for (uint32_t i = 0; i < n; i++)
					if (i == 0 || r->iova_ranges[i].end - r->iova_ranges[i].start >
					    p->range.end - p->range.start)
						p->range = r->iova_ranges[i];
				break;
			}
			off = h->next;
		}
	}
	free(info);
	p->iova_next = p->range.start ? p->range.start : 1ull << 20;
}

/* "Y" or "1" in a sysfs file. */
static bool sysfs_yes(const char *path)
{
	char c = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, &c, 1);
	close(fd);
	return n == 1 && (c == 'Y' || c == 'y' || c == '1');
}

int fsb_vfio_pci_group(const char *sysfs, const char *addr, char *node,
		       size_t len, bool *noiommu, char *err, size_t errlen)
{
	char path[PATH_MAX], link[PATH_MAX];
	*noiommu = false;
	snprintf(path, sizeof(path), "%s/module/vfio/parameters/"
		 "enable_unsafe_noiommu_mode", sysfs);
	bool unsafe = sysfs_yes(path);
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/iommu_group", sysfs, addr);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		int e = errno;
		if (unsafe)
			ERR("%s: no IOMMU group (%s), though VFIO's no-IOMMU mode "
			    "is on: is the device bound to vfio-pci?", addr,
			    strerror(e));
		else
			ERR("%s: no IOMMU group (%s): VFIO type1 needs an IOMMU (a "
			    "vIOMMU in a guest: -device intel-iommu and "
			    "intel_iommu=on); without one, driver=uio, or VFIO's "
			    "no-IOMMU mode (vfio enable_unsafe_noiommu_mode=1)",
			    addr, strerror(e));
		return e == ENOENT ? -ENODEV : -e;
	}
	link[n] = '\0';
	const char *grp = strrchr(link, '/');
	grp = grp ? grp + 1 : link;
	if (!*grp || strlen(grp) > 16 || strspn(grp, "0123456789") != strlen(grp)) {
		ERR("%s: odd IOMMU group name '%.16s'", addr, grp);
		return -EINVAL;
	}
	/* vfio gives a device with no IOMMU a group of its own, named
	 * "vfio-noiommu", whose node is noiommu-N */
	char name[32] = "";
	snprintf(path, sizeof(path), "%s/kernel/iommu_groups/%s/name", sysfs, grp);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t k = read(fd, name, sizeof(name) - 1);
		close(fd);
		name[k > 0 ? k : 0] = '\0';
		name[strcspn(name, "\n")] = '\0';
	}
	if (strcmp(name, "vfio-noiommu") == 0) {
		if (!unsafe) {
			ERR("%s: a no-IOMMU group, but VFIO's no-IOMMU mode is off",
			    addr);
			return -EPERM;
		}
		*noiommu = true;
		snprintf(node, len, "/dev/vfio/noiommu-%s", grp);
	} else {
		snprintf(node, len, "/dev/vfio/%s", grp);
	}
	return 0;
}

void fsb_vfio_pci_bars_unmap(struct fsb_pcidev *d)
{
	struct vfio_pci *p = d ? d->priv : NULL;
	if (!p)
		return;
	for (unsigned i = 0; i < FSB_PCI_BARS; i++) {
		if (p->bar_sigbus[i] >= 0)
			fsb_sigbus_unregister(p->bar_sigbus[i]);
		p->bar_sigbus[i] = -1;
		if (d->bar_map[i])
			munmap((void *)d->bar_map[i], p->bar_maplen[i]);
		d->bar_map[i] = NULL;
	}
}

void fsb_vfio_pci_close(struct fsb_pcidev *d)
{
	struct vfio_pci *p = d ? d->priv : NULL;
	if (!p)
		return;
	fsb_vfio_pci_bars_unmap(d);
	if (p->devfd >= 0 && !p->devfd_taken)
		close(p->devfd);
	if (p->group >= 0)
		close(p->group);
	if (p->container >= 0)
		close(p->container);
	free(p);
	d->priv = NULL;
}

int fsb_vfio_pci_devfd_take(struct fsb_pcidev *d)
{
	struct vfio_pci *p = d->priv;
	p->devfd_taken = true;
	return p->devfd;
}

int fsb_vfio_pci_open(struct fsb_pcidev *d, const char *addr,
		      const struct fsb_slot_notify *notify, const char *name,
		      char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->addr, sizeof(d->addr), "%s", addr);
	struct vfio_pci *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->container = p->group = p->devfd = -1;
	for (unsigned i = 0; i < FSB_PCI_BARS; i++)
		p->bar_sigbus[i] = -1;
	d->ops = &vfio_pci_ops;
	d->priv = p;
	d->driver = "vfio-pci";

	char path[PATH_MAX];
	bool noiommu = false;
	int rc = fsb_vfio_pci_group("/sys", addr, path, sizeof(path), &noiommu,
				    err, errlen);
	if (rc < 0) {
		fsb_vfio_pci_close(d);
		return rc;
	}
	const char *grp = strrchr(path, '/') + 1;
	/* no IOMMU: the device sees physical addresses (physmem.h), and
	 * nothing is mapped for it */
	d->phys = noiommu;
	const char *step = "";
#define STEP(s, expr) do { step = (s); if ((expr) < 0) { rc = -errno; goto fail; } } while (0)
	STEP("open /dev/vfio/vfio", p->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC));
	if (ioctl(p->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
		ERR("%s: unknown VFIO API version", addr);
		fsb_vfio_pci_close(d);
		return -ENOTSUP;
	}
	/*
	 * The group's node can lag the bind: the kernel makes the driver
	 * link before it calls vfio-pci's probe, which creates the group
	 * (and its devtmpfs node), and fsb_pci_bind returns on the link.
	 * A device just hot-plugged into a loaded guest showed the window
	 * (ENOENT, and the re-plugged primary was never used).  Wait for
	 * the node as the bind waits for the link.
	 */
	for (unsigned ms = 0;; ms += 5) {
		p->group = open(path, O_RDWR | O_CLOEXEC);
		if (p->group >= 0 || errno != ENOENT || ms >= VFIO_NODE_WAIT_MS)
			break;
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
	if (p->group < 0 && errno == ENOENT) {
		/* bound, and still no node: not ready yet (the port
		 * probes again) */
		ERR("%s: %s did not appear within %u ms of the bind",
		    addr, path, VFIO_NODE_WAIT_MS);
		fsb_vfio_pci_close(d);
		return -EAGAIN;
	}
	STEP(path, p->group);
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	STEP("VFIO_GROUP_GET_STATUS", ioctl(p->group, VFIO_GROUP_GET_STATUS, &gs));
	if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		ERR("%s: its IOMMU group %s is not viable (another device in it "
		    "is not bound to vfio-pci)", addr, grp);
		fsb_vfio_pci_close(d);
		return -EBUSY;
	}
	STEP("VFIO_GROUP_SET_CONTAINER", ioctl(p->group, VFIO_GROUP_SET_CONTAINER, &p->container));
	int type = noiommu ? VFIO_NOIOMMU_IOMMU :
		ioctl(p->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0 ?
		VFIO_TYPE1v2_IOMMU : VFIO_TYPE1_IOMMU;
	STEP(noiommu ? "VFIO_SET_IOMMU (no-IOMMU)" : "VFIO_SET_IOMMU (type1)",
	     ioctl(p->container, VFIO_SET_IOMMU, type));
	STEP("VFIO_GROUP_GET_DEVICE_FD", p->devfd = ioctl(p->group, VFIO_GROUP_GET_DEVICE_FD, addr));
	if (noiommu)
		fsb_log(FSB_LOG_WARNING, "%s: VFIO no-IOMMU mode: the device sees "
			"physical addresses and can reach all of memory (untested "
			"on real kernels: Debian's are built without it)", addr);
	else
		iova_ranges(p);

	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	STEP("config region info", ioctl(p->devfd, VFIO_DEVICE_GET_REGION_INFO, &ri));
	p->cfg_off = ri.offset;
	for (unsigned i = 0; i < FSB_PCI_BARS; i++) {
		struct vfio_region_info bi = { .argsz = sizeof(bi), .index = VFIO_PCI_BAR0_REGION_INDEX + i };
		if (ioctl(p->devfd, VFIO_DEVICE_GET_REGION_INFO, &bi) < 0 || bi.size == 0)
			continue;
		/* memory BARs only: an I/O BAR has no mmap and we do not
		 * use port I/O (legacy virtio) */
		uint32_t bar_reg = 0;
		if (pread(p->devfd, &bar_reg, 4, (off_t)(p->cfg_off + 0x10 + 4 * i)) == 4 &&
		    (bar_reg & 1))
			continue;
		d->bar_len[i] = bi.size;
		p->bar_off[i] = bi.offset;
		if (!(bi.flags & VFIO_REGION_INFO_FLAG_MMAP))
			continue;
		void *m = mmap(NULL, bi.size, PROT_READ | PROT_WRITE, MAP_SHARED,
			       p->devfd, (off_t)bi.offset);
		if (m == MAP_FAILED)
			continue;       /* pread/pwrite then */
		p->bar_maplen[i] = bi.size;
		int h = fsb_sigbus_register(m, bi.size, notify, name);
		if (h < 0) {
			munmap(m, bi.size);
			ERR("%s: cannot register BAR %u with the SIGBUS registry: %s",
			    addr, i, strerror(-h));
			fsb_vfio_pci_close(d);
			return h;
		}
		p->bar_sigbus[i] = h;
		d->bar_map[i] = m;
	}
#undef STEP
	return 0;
fail:
	ERR("%s: %s: %s", addr, step, strerror(-rc));
	fsb_vfio_pci_close(d);
	return rc;
}

int fsb_vfio_pci_iova_pick(struct fsb_pcidev *d, uint64_t va, uint64_t len,
			   uint64_t *iova)
{
	struct vfio_pci *p = d->priv;
	if (len == 0)
		return -EINVAL;
	if (va >= p->range.start && va <= p->range.end &&
	    len - 1 <= p->range.end - va) {
		*iova = va;             /* IOVA = VA: it fits the aperture */
		return 0;
	}
	/* nothing mapped: what was handed out is free again (a restart
	 * remaps everything; blocks of pools freed while running come
	 * back only then) */
	if (p->nmapped == 0)
		p->iova_next = p->range.start ? p->range.start : 1ull << 20;
	uint64_t align = 1ull << 21;
	uint64_t io = (p->iova_next + align - 1) & ~(align - 1);
	if (io < p->range.start || io > p->range.end || len - 1 > p->range.end - io)
		return -ENOSPC;
	p->iova_next = io + len;
	*iova = io;
	return 0;
}

int fsb_vfio_pci_dma_map_at(struct fsb_pcidev *d, void *va, uint64_t len,
			    uint64_t iova)
{
	struct vfio_pci *p = d->priv;
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uint64_t)(uintptr_t)va, .iova = iova, .size = len,
	};
	if (ioctl(p->container, VFIO_IOMMU_MAP_DMA, &m) < 0)
		return -errno;
	p->nmapped++;
	return 0;
}

int fsb_vfio_pci_dma_map(struct fsb_pcidev *d, void *va, uint64_t len,
			 uint64_t *iova)
{
	int rc = fsb_vfio_pci_iova_pick(d, (uint64_t)(uintptr_t)va, len, iova);
	return rc < 0 ? rc : fsb_vfio_pci_dma_map_at(d, va, len, *iova);
}

int fsb_vfio_pci_dma_unmap(struct fsb_pcidev *d, uint64_t iova, uint64_t len)
{
	struct vfio_pci *p = d->priv;
	struct vfio_iommu_type1_dma_unmap u = {
		.argsz = sizeof(u), .iova = iova, .size = len,
	};
	if (ioctl(p->container, VFIO_IOMMU_UNMAP_DMA, &u) < 0)
		return -errno;
	if (p->nmapped)
		p->nmapped--;
	return 0;
}

static int vp_dma_pick(struct fsb_pcidev *d, uint64_t va, uint64_t len,
		       uint64_t *iova)
{
	return fsb_vfio_pci_iova_pick(d, va, len, iova);
}

/* A gone device: all-ones over our BAR mappings now (sigbus.h). */
static void vp_bars_revoke(struct fsb_pcidev *d)
{
	struct vfio_pci *p = d->priv;
	for (unsigned i = 0; p && i < FSB_PCI_BARS; i++)
		if (p->bar_sigbus[i] >= 0)
			fsb_sigbus_revoke(p->bar_sigbus[i]);
}

static const struct fsb_pcidev_ops vfio_pci_ops = {
	.cfg_read = vp_cfg_read, .cfg_write = vp_cfg_write,
	.mmio_read = vp_mmio_read, .mmio_write = vp_mmio_write,
	.dma_pick = vp_dma_pick, .dma_map = fsb_vfio_pci_dma_map_at,
	.dma_unmap = fsb_vfio_pci_dma_unmap, .close = fsb_vfio_pci_close,
	.bars_revoke = vp_bars_revoke,
};
