/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio.h - the VFIO device-request source (vfio.c), internal.
 *
 * A sub-device kind that drives a device through VFIO hands its device
 * fd to fsb_vfio_req_open() once it has it (probe) and calls
 * fsb_vfio_req_close() when it lets the device go (close).  In between,
 * a kernel request to release the device tells the kind's slot RELEASE
 * (reason vfio-request); the port's sync routine then
 * retires the slot the planned way, and its close releases the device.
 *
 * The two kernel operations go through a seam (struct fsb_vfio_ops), so
 * tests can stand in for the kernel with a plain eventfd.
 */
#ifndef FSB_VFIO_H
#define FSB_VFIO_H

#include <linux/vfio.h>
#include <stddef.h>
#include <stdint.h>

#include "devsignal.h"

/*
 * The kernel as this file sees it.  Both return 0 or -errno.
 *   set_irqs:     VFIO_DEVICE_SET_IRQS on @devfd with @req (req->argsz
 *                 bytes, eventfds in req->data[]);
 *   close_device: close(@devfd), which is what releases the device.
 */
struct fsb_vfio_ops {
	int (*set_irqs)(int devfd, const struct vfio_irq_set *req);
	int (*close_device)(int devfd);
};

/* The real ones: ioctl(2) and close(2). */
extern const struct fsb_vfio_ops fsb_vfio_os_ops;

/* Replace the seam (tests); NULL restores fsb_vfio_os_ops.  Not while a
 * request source is open. */
void fsb_vfio_set_ops(const struct fsb_vfio_ops *ops);

/* Room for a request with one eventfd: the header and one s32. */
#define FSB_VFIO_REQ_MAX (sizeof(struct vfio_irq_set) + sizeof(int32_t))

/*
 * Build the VFIO_DEVICE_SET_IRQS request for the device-request IRQ
 * (VFIO_PCI_REQ_IRQ_INDEX, start 0) into @buf (@len bytes, aligned for
 * struct vfio_irq_set).
 *   @efd >= 0: arm: DATA_EVENTFD | ACTION_TRIGGER, count 1, data = @efd;
 *   @efd <  0: disarm: DATA_NONE | ACTION_TRIGGER, count 0, no data.
 * Returns the request's size (its argsz), or -ENOSPC when @len is short.
 */
int fsb_vfio_req_build(void *buf, size_t len, int efd);

struct fsb_vfio_req;

/*
 * Take the device fd @devfd of sub-device @name and arm its request
 * IRQ: a fresh eventfd, handed to the kernel through the seam and
 * watched by the control loop.  A request becomes a RELEASE through
 * @notify (copied; NULL: nobody to tell).  Returns a handle, or NULL
 * with errno set (@devfd is then still the caller's; nothing else is
 * left behind).
 */
struct fsb_vfio_req *fsb_vfio_req_open(int devfd, const char *name,
				       const struct fsb_slot_notify *notify);

/*
 * Release the device: stop watching, disarm, close the eventfd and the
 * device fd (through the seam).  Returns 0, or when a request had
 * arrived, the microseconds from its receipt to the release (at least
 * 1; also logged).  NULL is a no-op.  Never blocks on the control loop
 * beyond its lock.
 */
uint64_t fsb_vfio_req_close(struct fsb_vfio_req *r);

/* The device fd (-1 after close), and kernel requests seen so far. */
int fsb_vfio_req_devfd(const struct fsb_vfio_req *r);
uint64_t fsb_vfio_req_count(const struct fsb_vfio_req *r);

#endif
