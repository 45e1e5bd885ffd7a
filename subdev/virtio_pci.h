/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio_pci.h - the virtio 1.x modern PCI transport (virtio spec 4.1),
 * driver side, on a struct fsb_pcidev (internal).
 *
 * What the virtio_pci kind needs from a device before any ring exists:
 * where its structures are (the vendor capabilities), a reset that ends,
 * features both sides accept, device config read consistently, and each
 * queue placed and enabled.  Nothing here knows VFIO from a fake device
 * (pcidev.h), or rings from PCI (virtqueue.h).
 *
 * The device is not trusted.  Every capability is checked against its
 * BAR (offset + length inside it, no overflow, no two structures
 * overlapping) before the first access; a reset that does not end, a
 * queue size of 0 or not a power of two, fewer queues than asked and a
 * config generation that never settles are errors that name what was
 * wrong, in one line, in the caller's buffer.  Reads of all-ones from
 * the common configuration mean the device is gone (a surprise removal
 * reads so on PCI): -ENODEV, never a spin.
 */
#ifndef FSB_VIRTIO_PCI_H
#define FSB_VIRTIO_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pcidev.h"

#define FSB_VIRTIO_PCI_VENDOR 0x1af4

/* Vendor capability cfg_type (4.1.4) */
#define FSB_VPCI_CAP_COMMON 1
#define FSB_VPCI_CAP_NOTIFY 2
#define FSB_VPCI_CAP_ISR 3
#define FSB_VPCI_CAP_DEVICE 4

/* Common configuration layout (4.1.4.3) */
#define FSB_VPCI_DFSELECT 0x00
#define FSB_VPCI_DF 0x04
#define FSB_VPCI_GFSELECT 0x08
#define FSB_VPCI_GF 0x0c
#define FSB_VPCI_MSIX_CONFIG 0x10
#define FSB_VPCI_NUM_QUEUES 0x12
#define FSB_VPCI_STATUS 0x14
#define FSB_VPCI_CFG_GENERATION 0x15
#define FSB_VPCI_Q_SELECT 0x16
#define FSB_VPCI_Q_SIZE 0x18
#define FSB_VPCI_Q_MSIX 0x1a
#define FSB_VPCI_Q_ENABLE 0x1c
#define FSB_VPCI_Q_NOFF 0x1e
#define FSB_VPCI_Q_DESC 0x20
#define FSB_VPCI_Q_AVAIL 0x28
#define FSB_VPCI_Q_USED 0x30
#define FSB_VPCI_COMMON_LEN 0x38

/* Device status (2.1) */
#define FSB_VIRTIO_S_ACK 0x01
#define FSB_VIRTIO_S_DRIVER 0x02
#define FSB_VIRTIO_S_DRIVER_OK 0x04
#define FSB_VIRTIO_S_FEATURES_OK 0x08
#define FSB_VIRTIO_S_NEEDS_RESET 0x40
#define FSB_VIRTIO_S_FAILED 0x80

/* Feature bits the transport itself cares about */
#define FSB_VIRTIO_F_VERSION_1 32
#define FSB_VIRTIO_F_ACCESS_PLATFORM 33

#define FSB_VPCI_NO_VECTOR 0xffff

struct fsb_vpci_cap {
	bool present;
	uint8_t bar;
	uint64_t off, len;
};

struct fsb_vpci {
	struct fsb_pcidev *dev;
	uint16_t device_id;
	struct fsb_vpci_cap common, notify, isr, device;
	uint32_t notify_mult;           /* notify_off_multiplier */
	uint16_t num_queues;            /* what the device has */
	uint64_t features;              /* negotiated */
};

/*
 * Find and check the device's virtio structures (vendor capabilities)
 * and enable memory decoding and bus mastering in its command register
 * (neither vfio-pci nor QEMU does it, and QEMU drops DMA while bus
 * mastering is off).  0; -ENODEV (gone: config reads all-ones); -EINVAL
 * (not virtio, legacy only: what we do not drive); -EPROTO (the device
 * describes itself in a way no device may: a bad capability, a
 * structure past its BAR or overlapping another).  @err says which.
 *
 * Throughout, -EPROTO means the device broke the virtio specification
 * (the port records the slot as "broken"), as for a vhost-user backend.
 */
int fsb_vpci_attach(struct fsb_vpci *v, struct fsb_pcidev *d, char *err,
		    size_t errlen);

/* The device status register; 0xff when the device is gone. */
uint8_t fsb_vpci_status(struct fsb_vpci *v);

/* OR @bits into the status (FAILED on an error, DRIVER_OK at the end). */
void fsb_vpci_status_add(struct fsb_vpci *v, uint8_t bits);

/*
 * Reset: write 0 and wait, at most @timeout_ms, for it to read 0.
 * 0, -ENODEV (gone), -EPROTO (it never left reset: @err says so).
 */
int fsb_vpci_reset(struct fsb_vpci *v, unsigned timeout_ms, char *err,
		   size_t errlen);

/*
 * ACKNOWLEDGE, DRIVER, then features: accept what the device offers of
 * @wanted; every bit of @required must be among them.  Then FEATURES_OK,
 * read back.  On success v->features holds the result.  0; -ENODEV;
 * -ENOTSUP (a required feature missing: @err names it); -EPROTO (the
 * device refused FEATURES_OK for features it offered).  On an error the status gets FAILED.
 */
int fsb_vpci_negotiate(struct fsb_vpci *v, uint64_t wanted, uint64_t required,
		       char *err, size_t errlen);

/*
 * Read @len bytes of device configuration at @off, consistently: the
 * config generation is read before and after and the read retried while
 * it moves (at most 16 times).  0; -ENODEV; -EINVAL (outside the
 * device structure); -EPROTO (the generation never settled: @err).
 */
int fsb_vpci_cfg_read(struct fsb_vpci *v, unsigned off, void *buf,
		      unsigned len, char *err, size_t errlen);

/* The device's size of queue @q (selects it): 0; -ENODEV; -ENOENT (no
 * such queue); -EPROTO (0 or not a power of two: @err says which). */
int fsb_vpci_queue_max(struct fsb_vpci *v, uint16_t q, unsigned *size,
		       char *err, size_t errlen);

/*
 * Queue @q: its size is min(the device's, @max_size), which must be a
 * power of two; place its rings at the given bus addresses, enable it
 * and return where to kick it.  *@size gets the size used.  0;
 * -ENODEV; -ENOENT (no such queue); -EPROTO (a size of 0 or not a power
 * of two, a notify offset outside its structure: @err says which).
 */
int fsb_vpci_queue_setup(struct fsb_vpci *v, uint16_t q, unsigned max_size,
			 uint64_t desc, uint64_t avail, uint64_t used,
			 unsigned *size, uint64_t *notify_off, char *err,
			 size_t errlen);

/* Is the device gone (its common configuration reads all-ones)? */
bool fsb_vpci_gone(struct fsb_vpci *v);

/*
 * Tests only: when set, the virtio_pci kind gets its device here (a fake
 * behind the same pcidev ops, tests/fake_pcidev.c) instead of binding
 * and opening it through VFIO; there is no device request then.
 */
extern int (*fsb_vpci_test_open)(struct fsb_pcidev *d, const char *addr,
				 char *err, size_t errlen);

#endif /* FSB_VIRTIO_PCI_H */
