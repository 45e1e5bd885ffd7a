/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uio_pci.h - a PCI device held through uio_pci_generic (uio_pci.c),
 * internal: the pcidev ops over sysfs config and resourceN mappings,
 * for a device with no IOMMU in front of it (d->phys).
 */
#ifndef FSB_UIO_PCI_H
#define FSB_UIO_PCI_H

#include <stddef.h>

#include "devsignal.h"
#include "pcidev.h"

/*
 * Open @addr (bound to uio_pci_generic: fsb_pci_bind) into @d: its
 * config file, each memory BAR mmap()ed from resourceN and registered
 * with the SIGBUS registry (@notify, @name: the slot to tell) before
 * anything touches it, and memory decoding and bus master on.  0 or
 * -errno, the reason in @err; nothing is left open on failure.
 * d->ops->close undoes it (bus master off).
 */
int fsb_uio_pci_open(struct fsb_pcidev *d, const char *addr,
		     const struct fsb_slot_notify *notify, const char *name,
		     char *err, size_t errlen);

#endif /* FSB_UIO_PCI_H */
