/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio.c - the VFIO device request: the kernel asks us to let go.
 *
 * A device bound to vfio-pci and driven from userspace (a VF, or the
 * VM's virtio-net device over VFIO) cannot simply vanish: while any
 * process holds its device fd, the kernel must not tear it down.  So
 * when the device is to be removed (a QEMU device_del before a live
 * migration, an unbind, a PF driver unload taking its VFs with it),
 * vfio's unregister path does not remove it at once.  It asks:
 *
 *   - It calls the driver's request hook (vfio_pci_core_request), which
 *     signals the eventfd userspace registered for the request IRQ, and
 *     then waits on a completion that fires when the last user of the
 *     device is gone (wait_for_completion_timeout, 10 s).
 *   - If the wait times out it asks again, with a counter, every 10 s,
 *     for ever; the kernel log says "Relaying device request to user
 *     (#10)" every tenth time.  A signal to the waiting task does not
 *     end the loop: it only switches to an uninterruptible wait and logs
 *     "Device is currently in use, task ... blocked until device is
 *     released".
 *   - Without a registered eventfd it logs "No device request channel
 *     registered, blocked until released by user" once and just waits.
 *
 * Meanwhile whoever removes the device waits too: in a guest, QEMU's
 * migration sits in "wait-unplug" until the guest lets the VF go.
 * Measured in a QEMU 7.2 guest: the unplug completes 0.10 s after
 * device_del when the application releases on the request, and 25 s
 * later when it holds on (it was killed then).  Holding on is not
 * "safe": it is a migration that does not happen.
 *
 * "Release" means closing the device fd: the completion fires when the
 * device's last reference goes, which is the close of the last fd that
 * the VFIO_GROUP_GET_DEVICE_FD (or cdev open) returned - mmaps of its
 * BARs hold references too, so they go first.  Disarming the eventfd,
 * stopping DMA, or resetting the device does not count.
 *
 * The request is an IRQ index of its own, VFIO_PCI_REQ_IRQ_INDEX, armed
 * like any other with VFIO_DEVICE_SET_IRQS and a struct vfio_irq_set:
 * argsz (header plus data), flags DATA_EVENTFD | ACTION_TRIGGER, the
 * index, start 0, count 1 and the eventfd as a s32 in data[].  Disarming
 * is DATA_NONE | ACTION_TRIGGER with count 0.  The kernel signals with
 * eventfd_signal(.., 1), so the counter we read says how many times it
 * asked since we last looked.
 *
 * What DPDK's EAL does badly here: its interrupt thread gets the request
 * and runs the PCI bus's hot-unplug handler, which for VFIO only raises
 * RTE_DEV_EVENT_REMOVE to whatever the application registered - and only
 * if the application enabled device-event handling at all.  Nothing
 * moves the traffic, nothing closes the fd: failsafe does not listen to
 * that event, and an application that does must not detach from inside
 * the callback (it runs on the interrupt thread that the detach needs),
 * so the device stays held and the kernel keeps asking.
 *
 * Here the request is a *planned* removal, like an admin detach: the
 * callback only reads the eventfd and tells the slot RELEASE
 * (reason vfio-request); the sync routine moves TX to the standby first,
 * waits out a QSBR grace period, stops the device, drains what it had
 * received, waits again, and closes, which lands in fsb_vfio_req_close()
 * and closes the device fd.  Nothing is refused and nothing dropped.
 * The time from the eventfd read to the close is logged and returned by
 * fsb_vfio_req_close(); the kind hands it to the port, which keeps it as
 * its last_release_us.  Grace waits are bounded (an idle queue never
 * holds the release); if one times out the close is retried and the
 * kernel keeps waiting for it: the sync routine says so in the log.
 *
 * Repeated requests before the release are one removal: the mark is
 * already set (dup_signals).  After the release the eventfd is closed,
 * so the kernel's re-asks of a device we no longer hold cannot reach us.
 *
 * A test knob, FSB_TEST_VFIO_REQUEST_IGNORE=N in the environment, makes
 * the first N requests of each device read, counted and logged, but not
 * acted on: an application that holds on.  The guest test shows with it
 * that the kernel asks again 10 s later and that the second ask is
 * answered (the handler, not a timer, releases the device).
 *
 * The ioctl and the close go through a seam (fsb_vfio_set_ops): there is
 * no /dev/vfio on the machines the tests run on, and a plain eventfd
 * stands in for the kernel.
 */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "fsb_private.h"
#include "loop.h"
#include "vfio.h"

struct fsb_vfio_req {
	ev_io io;                       /* first: the callback's handle */
	int devfd;                      /* -1 once released */
	int efd;                        /* request eventfd */
	bool watching;
	struct fsb_slot_notify notify;  /* the owning slot's */
	char name[FSB_NAME_MAX + 8];    /* the sub-device's, for logs */
	/* Written by the loop's callback, read at close. */
	_Atomic uint64_t req_ns;        /* receipt of the first request */
	_Atomic uint64_t requests;      /* kernel asks, summed */
	uint64_t ignore;                /* the test knob (see above) */
};

/* ------------------------------------------------------------------ */
/* The seam                                                            */
/* ------------------------------------------------------------------ */

static int os_set_irqs(int devfd, const struct vfio_irq_set *req)
{
	return ioctl(devfd, VFIO_DEVICE_SET_IRQS, req) < 0 ? -errno : 0;
}

static int os_close_device(int devfd)
{
	/* close(2) releases the fd even when it reports EINTR: no retry. */
	return close(devfd) < 0 ? -errno : 0;
}

const struct fsb_vfio_ops fsb_vfio_os_ops = {
	.set_irqs = os_set_irqs,
	.close_device = os_close_device,
};

static _Atomic(const struct fsb_vfio_ops *) vfio_ops = &fsb_vfio_os_ops;

void fsb_vfio_set_ops(const struct fsb_vfio_ops *ops)
{
	atomic_store(&vfio_ops, ops ? ops : &fsb_vfio_os_ops);
}

static const struct fsb_vfio_ops *ops_get(void)
{
	return atomic_load(&vfio_ops);
}

/* ------------------------------------------------------------------ */
/* The request                                                         */
/* ------------------------------------------------------------------ */

int fsb_vfio_req_build(void *buf, size_t len, int efd)
{
	size_t argsz = sizeof(struct vfio_irq_set) +
		       (efd >= 0 ? sizeof(int32_t) : 0);
	if (!buf || len < argsz)
		return -ENOSPC;
	memset(buf, 0, argsz);
	struct vfio_irq_set *req = buf;
	req->argsz = (uint32_t)argsz;
	req->index = VFIO_PCI_REQ_IRQ_INDEX;
	req->start = 0;
	if (efd >= 0) {
		int32_t fd = efd;
		req->flags = VFIO_IRQ_SET_DATA_EVENTFD |
			     VFIO_IRQ_SET_ACTION_TRIGGER;
		req->count = 1;
		memcpy(req->data, &fd, sizeof(fd));
	} else {
		req->flags = VFIO_IRQ_SET_DATA_NONE |
			     VFIO_IRQ_SET_ACTION_TRIGGER;
		req->count = 0;
	}
	return (int)argsz;
}

/* Arm (@efd >= 0) or disarm (@efd < 0) @devfd's request IRQ. */
static int req_set(int devfd, int efd)
{
	union {
		struct vfio_irq_set hdr;
		unsigned char bytes[FSB_VFIO_REQ_MAX];
	} u;
	int n = fsb_vfio_req_build(&u, sizeof(u), efd);
	if (n < 0)
		return n;
	return ops_get()->set_irqs(devfd, &u.hdr);
}

/*
 * The loop's callback (loop lock held): read the counter and mark.  No
 * port lock, no ctx lock, no work: the sync routine does the release.
 */
static void on_request(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	struct fsb_vfio_req *r = (struct fsb_vfio_req *)w;
	uint64_t n = 0;
	if (read(r->efd, &n, sizeof(n)) != (ssize_t)sizeof(n) || n == 0)
		return;         /* EAGAIN: someone else read it; nothing new */
	uint64_t zero = 0;
	atomic_compare_exchange_strong(&r->req_ns, &zero, fsb_now_ns());
	uint64_t before = atomic_fetch_add(&r->requests, n);
	if (before + n <= r->ignore) {
		fsb_log(FSB_LOG_WARNING, "%s: VFIO device request #%llu ignored "
			"(FSB_TEST_VFIO_REQUEST_IGNORE=%llu)", r->name,
			(unsigned long long)(before + n),
			(unsigned long long)r->ignore);
		return;
	}
	if (before > r->ignore)
		FSB_LOG_RL(FSB_LOG_WARNING,
			   "%s: the kernel asks again for the VFIO device "
			   "(request #%llu); its release is still pending",
			   r->name, (unsigned long long)(before + n));
	fsb_slot_notify_call(&r->notify, FSB_DEVSIG_RELEASE,
			     FSB_REASON_VFIO_REQUEST);
}

struct fsb_vfio_req *fsb_vfio_req_open(int devfd, const char *name,
				       const struct fsb_slot_notify *notify)
{
	if (devfd < 0 || !name) {
		errno = EINVAL;
		return NULL;
	}
	struct ev_loop *loop = fsb_loop();
	if (!loop) {
		errno = ENOTCONN;       /* no control thread: no context */
		return NULL;
	}
	struct fsb_vfio_req *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->devfd = devfd;
	if (notify)
		r->notify = *notify;
	snprintf(r->name, sizeof(r->name), "%s", name);
	const char *knob = getenv("FSB_TEST_VFIO_REQUEST_IGNORE");
	if (knob)
		r->ignore = strtoull(knob, NULL, 10);
	r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->efd < 0) {
		int e = errno;
		free(r);
		errno = e;
		return NULL;
	}
	int rc = req_set(devfd, r->efd);
	if (rc < 0) {
		fsb_log(FSB_LOG_ERR, "%s: arming the VFIO device request "
			"failed: %s", r->name, strerror(-rc));
		close(r->efd);
		free(r);
		errno = -rc;
		return NULL;
	}
	ev_io_init(&r->io, on_request, r->efd, EV_READ);
	fsb_loop_lock();
	ev_io_start(loop, &r->io);
	r->watching = true;
	fsb_loop_unlock();
	fsb_loop_wake();
	return r;
}

uint64_t fsb_vfio_req_close(struct fsb_vfio_req *r)
{
	if (!r)
		return 0;
	struct ev_loop *loop = fsb_loop();
	/* Under the loop lock the callback is not running and, once
	 * stopped, will not run again: r may go after this. */
	fsb_loop_lock();
	if (r->watching && loop)
		ev_io_stop(loop, &r->io);
	r->watching = false;
	fsb_loop_unlock();
	fsb_loop_wake();

	/* Disarm before the eventfd goes, so the kernel holds no
	 * reference to an eventfd nobody reads; a failure here (device
	 * already half gone) does not stop the release. */
	int rc = req_set(r->devfd, -1);
	if (rc < 0)
		fsb_log(FSB_LOG_INFO, "%s: disarming the VFIO device request "
			"failed: %s (releasing anyway)", r->name, strerror(-rc));
	close(r->efd);
	r->efd = -1;

	rc = ops_get()->close_device(r->devfd);
	uint64_t done = fsb_now_ns();
	r->devfd = -1;
	if (rc < 0)
		fsb_log(FSB_LOG_WARNING, "%s: closing the VFIO device fd: %s",
			r->name, strerror(-rc));

	uint64_t t = atomic_load(&r->req_ns), us = 0;
	if (t) {
		us = done > t ? (done - t) / 1000 : 0;
		uint64_t asks = atomic_load(&r->requests);
		fsb_log(FSB_LOG_NOTICE, "%s: released the VFIO device %llu.%02llu "
			"ms after the kernel's first request (%llu request%s)",
			r->name, (unsigned long long)(us / 1000),
			(unsigned long long)(us % 1000 / 10),
			(unsigned long long)asks, asks == 1 ? "" : "s");
		if (us == 0)
			us = 1;         /* 0 says "no request" */
	}
	free(r);
	return us;
}

int fsb_vfio_req_devfd(const struct fsb_vfio_req *r)
{
	return r ? r->devfd : -1;
}

uint64_t fsb_vfio_req_count(const struct fsb_vfio_req *r)
{
	return r ? atomic_load(&((struct fsb_vfio_req *)r)->requests) : 0;
}
