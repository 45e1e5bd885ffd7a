/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio_pci.h - a PCI device held through VFIO type1 (vfio_pci.c),
 * internal: the pcidev ops over a VFIO device fd, DMA mapping, and
 * taking a device from the kernel driver that has it.
 */
#ifndef FSB_VFIO_PCI_H
#define FSB_VFIO_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devsignal.h"
#include "pcidev.h"

/*
 * Open @addr (bound to vfio-pci) into @d: its group into a container of
 * its own with the type1 IOMMU, its device fd, config space, and each
 * memory BAR mmap()ed and registered with the SIGBUS registry (@notify,
 * @name: the slot to tell) before anything touches it.  0 or -errno,
 * the reason in @err; nothing is left open on failure.
 */
int fsb_vfio_pci_open(struct fsb_pcidev *d, const char *addr,
		      const struct fsb_slot_notify *notify, const char *name,
		      char *err, size_t errlen);

/*
 * The VFIO group node of @addr, from the sysfs tree at @sysfs ("/sys";
 * a test gives its own): "/dev/vfio/N" for an IOMMU group, or, for the
 * group VFIO's no-IOMMU mode gives a device (named "vfio-noiommu"),
 * "/dev/vfio/noiommu-N" with *@noiommu set: then nothing is mapped for
 * the device and it sees physical addresses.  0; -ENODEV (no group);
 * -EPERM (a no-IOMMU group while the mode is off); -EINVAL; -errno;
 * the reason in @err.
 */
int fsb_vfio_pci_group(const char *sysfs, const char *addr, char *node,
		       size_t len, bool *noiommu, char *err, size_t errlen);

/*
 * The device fd, for the VFIO request source, whose close is what
 * releases the device: fsb_vfio_pci_close() then leaves it open, and
 * the caller closes it after fsb_vfio_pci_close() (a BAR still mapped
 * would keep the device held).  @d keeps using it until then.
 */
int fsb_vfio_pci_devfd_take(struct fsb_pcidev *d);

/* Unregister and unmap the BARs (idempotent): after it, and the device
 * fd's close, the device is released; the DMA mappings stay until
 * fsb_vfio_pci_close. */
void fsb_vfio_pci_bars_unmap(struct fsb_pcidev *d);

/* Unregister and unmap the BARs, close the device (unless taken), the
 * group and the container (which drops every DMA mapping). */
void fsb_vfio_pci_close(struct fsb_pcidev *d);

/*
 * Where the device is to see [@va, @va + @len): *@iova = @va when the
 * IOMMU's aperture covers it, else a fresh 2 MiB-aligned block of the
 * aperture (never handed out again while the container is open).
 * Nothing is mapped.  0, -EINVAL (@len 0), -ENOSPC (no room).
 */
int fsb_vfio_pci_iova_pick(struct fsb_pcidev *d, uint64_t va, uint64_t len,
			   uint64_t *iova);

/* Map [@va, @va + @len) for the device at @iova.  0 or the ioctl's -errno. */
int fsb_vfio_pci_dma_map_at(struct fsb_pcidev *d, void *va, uint64_t len,
			    uint64_t iova);

/*
 * Let the device read and write [@va, @va + @len): *@iova gets the
 * address to give it (= @va when the IOMMU's aperture covers it).
 * 0, -ENOSPC (no room in the aperture), or the ioctl's -errno.
 */
int fsb_vfio_pci_dma_map(struct fsb_pcidev *d, void *va, uint64_t len,
			 uint64_t *iova);
int fsb_vfio_pci_dma_unmap(struct fsb_pcidev *d, uint64_t iova, uint64_t len);

#endif /* FSB_VFIO_PCI_H */
