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
};

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

#endif /* FSB_PCIDEV_H */
