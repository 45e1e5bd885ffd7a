/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pcidev.h - how a PCI-backed kind reaches its device (internal).
 *
 * A userspace PCI driver touches its device in three ways: config space
 * (capabilities, the command register), device memory behind a BAR, and
 * DMA into memory the device may address.  Under VFIO the first goes
 * through the device fd's config region, the second through an mmap of
 * a BAR region (registered with the SIGBUS registry before the first
 * access), the third through the container's DMA map.  A test builds
 * the same object on a fake device (tests/fake_pcidev.c): a memfd BAR
 * and a config space in memory, with device behaviour behind the
 * register accessors, so that the hostile cases QEMU cannot produce (a
 * capability past its BAR, a device that never leaves reset) run through
 * exactly the code the real driver runs.
 *
 * Register accesses on the control path go through the ops (the fake
 * needs to see them); the datapath's doorbell is a direct pointer into
 * the mapped BAR (fsb_pcidev_bar_ptr), one store per kick.
 *
 * Every accessor returns 0 or -errno.  A device that is gone reads as
 * all-ones, as PCI does: the caller checks, it is not an error here.
 */
#ifndef FSB_PCIDEV_H
#define FSB_PCIDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FSB_PCI_BARS 6

/* Config space (what a driver reads; PCI 3.0). */
#define FSB_PCI_VENDOR_ID 0x00
#define FSB_PCI_DEVICE_ID 0x02
#define FSB_PCI_COMMAND 0x04
#define FSB_PCI_COMMAND_MEMORY 0x2
#define FSB_PCI_COMMAND_MASTER 0x4
#define FSB_PCI_STATUS 0x06
#define FSB_PCI_STATUS_CAP_LIST 0x10
#define FSB_PCI_CAPABILITY_LIST 0x34
#define FSB_PCI_CAP_ID_VNDR 0x09
#define FSB_PCI_CFG_SPACE 256   /* what the capability walk may use */

struct fsb_pcidev;

struct fsb_pcidev_ops {
	/* Config space, @len bytes at @off (little-endian as on the bus). */
	int (*cfg_read)(struct fsb_pcidev *d, unsigned off, void *buf,
			unsigned len);
	int (*cfg_write)(struct fsb_pcidev *d, unsigned off, const void *buf,
			 unsigned len);
	/* A register in BAR @bar: @width is 1, 2, 4 or 8 bytes. */
	int (*mmio_read)(struct fsb_pcidev *d, unsigned bar, uint64_t off,
			 unsigned width, uint64_t *val);
	int (*mmio_write)(struct fsb_pcidev *d, unsigned bar, uint64_t off,
			  unsigned width, uint64_t val);
	/* DMA: where the device is to see [@va, @va + @len) (IOVA = VA
	 * when it can), then map it there; unmap.  0 or -errno. */
	int (*dma_pick)(struct fsb_pcidev *d, uint64_t va, uint64_t len,
			uint64_t *iova);
	int (*dma_map)(struct fsb_pcidev *d, void *va, uint64_t len,
		       uint64_t iova);
	int (*dma_unmap)(struct fsb_pcidev *d, uint64_t iova, uint64_t len);
	/* Let the device go (BARs unmapped, fds closed). */
	void (*close)(struct fsb_pcidev *d);
	/* The device is gone: put all-ones memory over every mapped BAR
	 * now (the SIGBUS registry's), so that no store of ours reaches a
	 * device that gets the same bus address later.  The mappings stay
	 * until close.  Optional. */
	void (*bars_revoke)(struct fsb_pcidev *d);
};

/*
 * A PCI device as a kind holds it.  bar_len[i] == 0: BAR i is absent or
 * not memory.  bar_map[i]: where it is mapped in this process (NULL when
 * it is not mappable), for direct datapath stores only.
 */
struct fsb_pcidev {
	const struct fsb_pcidev_ops *ops;
	void *priv;
	char addr[16];                  /* "dddd:bb:dd.f", for logs */
	uint64_t bar_len[FSB_PCI_BARS];
	volatile uint8_t *bar_map[FSB_PCI_BARS];
	/* No IOMMU in front of the device (UIO, VFIO no-IOMMU): it sees
	 * host physical addresses, the dma ops are not used, and only
	 * pinned hugetlb memory may be given to it (physmem.h). */
	bool phys;
	const char *driver;             /* "vfio-pci", "uio_pci_generic" */
};

/* One load or store of @width bytes (1, 2, 4, 8) at @a, in a BAR
 * mapping: what a register access is once the BAR is mapped. */
static inline void fsb_pcidev_mmio_access(volatile uint8_t *a, unsigned width,
					  uint64_t *val, bool write)
{
	if (write) {
		switch (width) {
		case 1: *a = (uint8_t)*val; break;
		case 2: *(volatile uint16_t *)a = (uint16_t)*val; break;
		case 4: *(volatile uint32_t *)a = (uint32_t)*val; break;
		default: *(volatile uint64_t *)a = *val; break;
		}
	} else {
		switch (width) {
		case 1: *val = *a; break;
		case 2: *val = *(volatile uint16_t *)a; break;
		case 4: *val = *(volatile uint32_t *)a; break;
		default: *val = *(volatile uint64_t *)a; break;
		}
	}
}

static inline int fsb_pcidev_cfg_read(struct fsb_pcidev *d, unsigned off,
				      void *buf, unsigned len)
{
	return d->ops->cfg_read(d, off, buf, len);
}

static inline int fsb_pcidev_cfg_write(struct fsb_pcidev *d, unsigned off,
				       const void *buf, unsigned len)
{
	return d->ops->cfg_write(d, off, buf, len);
}

/* A register of BAR @bar; a failed access reads as all-ones (gone). */
static inline uint64_t fsb_pcidev_rd(struct fsb_pcidev *d, unsigned bar,
				     uint64_t off, unsigned width)
{
	uint64_t v;
	if (d->ops->mmio_read(d, bar, off, width, &v) < 0)
		return width == 8 ? UINT64_MAX : (1ull << (width * 8)) - 1;
	return v;
}

static inline int fsb_pcidev_wr(struct fsb_pcidev *d, unsigned bar,
				uint64_t off, unsigned width, uint64_t val)
{
	return d->ops->mmio_write(d, bar, off, width, val);
}

static inline int fsb_pcidev_dma_pick(struct fsb_pcidev *d, uint64_t va,
				      uint64_t len, uint64_t *iova)
{
	return d->ops->dma_pick(d, va, len, iova);
}

static inline int fsb_pcidev_dma_map(struct fsb_pcidev *d, void *va,
				     uint64_t len, uint64_t iova)
{
	return d->ops->dma_map(d, va, len, iova);
}

static inline int fsb_pcidev_dma_unmap(struct fsb_pcidev *d, uint64_t iova,
				       uint64_t len)
{
	return d->ops->dma_unmap(d, iova, len);
}

/* Taking the device from the kernel (pci_bind.c). */
/* The driver bound to PCI device @addr into @drv ("" when none).
 * 0, or -ENODEV when there is no such device. */
int fsb_pci_driver(const char *addr, char *drv, size_t len);

/*
 * Make sure driver @want ("vfio-pci", "uio_pci_generic") drives @addr: driver_override first, then unbind
 * from the current driver, drivers_probe, and a bounded wait.  Only a
 * device with no driver or with @auto_drv (the kernel driver that binds
 * such a device by itself when it appears, "virtio-pci" for ours) is
 * taken: any other driver was the operator's choice.  0; -ENODEV (no
 * such device); -EBUSY (another driver has it: @err names it);
 * -EAGAIN (@want did not bind it in time: not ready, or not loaded?); -errno.
 */
int fsb_pci_bind(const char *addr, const char *want, const char *auto_drv,
		 char *err, size_t errlen);

#endif /* FSB_PCIDEV_H */
