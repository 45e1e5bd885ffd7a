/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio_pci_modern.c - the virtio 1.x modern PCI transport, driver side
 * (virtio spec 4.1; see virtio_pci.h).
 *
 * A modern virtio PCI device describes itself with vendor-specific PCI
 * capabilities (cap id 0x09): each names a structure type (common
 * configuration, notifications, ISR, device configuration), the BAR it
 * lives in, and its offset and length there.  The spec lets a device
 * list a type more than once; a driver uses the first it understands.
 * A device with none of them is legacy-only (the I/O-port interface of
 * virtio 0.9), which we do not drive.
 *
 * Nothing the device says is used before it is checked:
 *   - the capability walk is bounded (48 entries, the most 256 bytes of
 *     config space can hold), each pointer lies inside config space and
 *     is dword-aligned, each capability fits in config space;
 *   - each structure lies inside its BAR (offset + length, without
 *     overflow), is large enough for what we read from it, and does not
 *     overlap another one in the same BAR (a device that put the ISR
 *     inside the queue registers would have us ack interrupts by
 *     programming queues);
 *   - a queue's notify offset times the multiplier stays inside the
 *     notify structure.
 * The common configuration is read through the pcidev ops, so a fake
 * device can answer the way a hostile one would; a read of all-ones from
 * it means the device went away.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fsb_private.h"
#include "virtio_pci.h"

#define VPCI_CAP_WALK_MAX 48
#define VPCI_GEN_RETRIES 16

#define ERR(...) do { if (err && errlen) snprintf(err, errlen, __VA_ARGS__); } while (0)

static uint64_t common_rd(struct fsb_vpci *v, unsigned off, unsigned width)
{
	return fsb_pcidev_rd(v->dev, v->common.bar, v->common.off + off, width);
}

static void common_wr(struct fsb_vpci *v, unsigned off, unsigned width,
		      uint64_t val)
{
	fsb_pcidev_wr(v->dev, v->common.bar, v->common.off + off, width, val);
}

uint8_t fsb_vpci_status(struct fsb_vpci *v)
{
	return (uint8_t)common_rd(v, FSB_VPCI_STATUS, 1);
}

void fsb_vpci_status_add(struct fsb_vpci *v, uint8_t bits)
{
	uint8_t s = fsb_vpci_status(v);
	if (s != 0xff)
		common_wr(v, FSB_VPCI_STATUS, 1, (uint8_t)(s | bits));
}

bool fsb_vpci_gone(struct fsb_vpci *v)
{
	/* num_queues and status read together as one all-ones dword only
	 * from a device that is not there (status 0xff is not a state a
	 * live device reports: FAILED with every other bit). */
	return common_rd(v, FSB_VPCI_NUM_QUEUES, 2) == 0xffff &&
	       fsb_vpci_status(v) == 0xff;
}

/* ------------------------------------------------------------------ */
/* Capabilities                                                        */
/* ------------------------------------------------------------------ */

static const char *const cap_name[] = {
	[FSB_VPCI_CAP_COMMON] = "common configuration",
	[FSB_VPCI_CAP_NOTIFY] = "notifications",
	[FSB_VPCI_CAP_ISR] = "ISR status",
	[FSB_VPCI_CAP_DEVICE] = "device configuration",
};

/* Is @c inside its BAR, and at least @need bytes? */
static int cap_check(struct fsb_vpci *v, unsigned type,
		     const struct fsb_vpci_cap *c, uint64_t need, char *err,
		     size_t errlen)
{
	uint64_t bar_len = c->bar < FSB_PCI_BARS ? v->dev->bar_len[c->bar] : 0;
	if (c->bar >= FSB_PCI_BARS || bar_len == 0) {
		ERR("%s: virtio %s structure in BAR %u, which is not a memory BAR",
		    v->dev->addr, cap_name[type], c->bar);
		return -EPROTO;
	}
	if (c->len < need) {
		ERR("%s: virtio %s structure is %llu bytes, less than %llu",
		    v->dev->addr, cap_name[type], (unsigned long long)c->len,
		    (unsigned long long)need);
		return -EPROTO;
	}
	if (c->off > bar_len || c->len > bar_len - c->off) {
		ERR("%s: virtio %s structure (offset 0x%llx, %llu bytes) runs "
		    "past the end of BAR %u (%llu bytes)", v->dev->addr,
		    cap_name[type], (unsigned long long)c->off,
		    (unsigned long long)c->len, c->bar,
		    (unsigned long long)bar_len);
		return -EPROTO;
	}
	return 0;
}

static bool caps_overlap(const struct fsb_vpci_cap *a,
			 const struct fsb_vpci_cap *b)
{
	return a->present && b->present && a->bar == b->bar &&
	       a->off < b->off + b->len && b->off < a->off + a->len;
}

int fsb_vpci_attach(struct fsb_vpci *v, struct fsb_pcidev *d, char *err,
		    size_t errlen)
{
	memset(v, 0, sizeof(*v));
	v->dev = d;
	uint16_t vendor = 0, status = 0;
	uint8_t ptr = 0;
	if (fsb_pcidev_cfg_read(d, FSB_PCI_VENDOR_ID, &vendor, 2) < 0 ||
	    fsb_pcidev_cfg_read(d, FSB_PCI_DEVICE_ID, &v->device_id, 2) < 0 ||
	    fsb_pcidev_cfg_read(d, FSB_PCI_STATUS, &status, 2) < 0 ||
	    fsb_pcidev_cfg_read(d, FSB_PCI_CAPABILITY_LIST, &ptr, 1) < 0) {
		ERR("%s: cannot read its PCI config space", d->addr);
		return -EIO;
	}
	if (vendor == 0xffff) {
		ERR("%s: the device is gone (config space reads all-ones)", d->addr);
		return -ENODEV;
	}
	if (vendor != FSB_VIRTIO_PCI_VENDOR ||
	    v->device_id < 0x1000 || v->device_id > 0x107f) {
		ERR("%s: not a virtio device (vendor %04x, device %04x)", d->addr,
		    vendor, v->device_id);
		return -EINVAL;
	}

	struct fsb_vpci_cap *slot[] = {
		[FSB_VPCI_CAP_COMMON] = &v->common, [FSB_VPCI_CAP_NOTIFY] = &v->notify,
		[FSB_VPCI_CAP_ISR] = &v->isr, [FSB_VPCI_CAP_DEVICE] = &v->device,
	};
	unsigned walked = 0;
	ptr = (status & FSB_PCI_STATUS_CAP_LIST) ? ptr : 0;
	while (ptr) {
		uint8_t c[20];
		if (++walked > VPCI_CAP_WALK_MAX) {
			ERR("%s: its PCI capability list does not end (a loop?)",
			    d->addr);
			return -EPROTO;
		}
		if (ptr < 0x40 || (ptr & 3) || ptr > FSB_PCI_CFG_SPACE - 4) {
			ERR("%s: PCI capability pointer 0x%02x is outside config "
			    "space or unaligned", d->addr, ptr);
			return -EPROTO;
		}
		if (fsb_pcidev_cfg_read(d, ptr, c, 4) < 0) {
			ERR("%s: cannot read the capability at 0x%02x", d->addr, ptr);
			return -EIO;
		}
		uint8_t next = c[1];
		if (c[0] == FSB_PCI_CAP_ID_VNDR) {
			uint8_t len = c[2];
			if (len < 16 || ptr + (unsigned)len > FSB_PCI_CFG_SPACE) {
				ERR("%s: virtio capability at 0x%02x has a bad "
				    "length (%u)", d->addr, ptr, len);
				return -EPROTO;
			}
			unsigned rd = len < sizeof(c) ? len : sizeof(c);
			if (fsb_pcidev_cfg_read(d, ptr, c, rd) < 0) {
				ERR("%s: cannot read the capability at 0x%02x",
				    d->addr, ptr);
				return -EIO;
			}
			uint8_t type = c[3];
			if (type >= FSB_VPCI_CAP_COMMON && type <= FSB_VPCI_CAP_DEVICE &&
			    !slot[type]->present) {
				struct fsb_vpci_cap *k = slot[type];
				uint32_t off, clen;
				memcpy(&off, c + 8, 4);
				memcpy(&clen, c + 12, 4);
				k->present = true;
				k->bar = c[4];
				k->off = off;
				k->len = clen;
				if (type == FSB_VPCI_CAP_NOTIFY) {
					if (len < 20) {
						ERR("%s: virtio notifications capability "
						    "is %u bytes, less than 20", d->addr, len);
						return -EPROTO;
					}
					memcpy(&v->notify_mult, c + 16, 4);
				}
			}
		}
		ptr = next;
	}

	if (!v->common.present) {
		ERR("%s: legacy-only virtio device (no virtio 1.x common "
		    "configuration capability): not supported", d->addr);
		return -EINVAL;
	}
	if (!v->notify.present || !v->device.present) {
		ERR("%s: virtio device without a %s structure", d->addr,
		    !v->notify.present ? "notifications" : "device configuration");
		return -EPROTO;
	}
	int rc;
	if ((rc = cap_check(v, FSB_VPCI_CAP_COMMON, &v->common,
			    FSB_VPCI_COMMON_LEN, err, errlen)) < 0 ||
	    (rc = cap_check(v, FSB_VPCI_CAP_NOTIFY, &v->notify, 2, err, errlen)) < 0 ||
	    (rc = cap_check(v, FSB_VPCI_CAP_DEVICE, &v->device, 1, err, errlen)) < 0 ||
	    (v->isr.present &&
	     (rc = cap_check(v, FSB_VPCI_CAP_ISR, &v->isr, 1, err, errlen)) < 0))
		return rc;
	const struct fsb_vpci_cap *all[] = { &v->common, &v->notify, &v->isr, &v->device };
	static const unsigned types[] = { FSB_VPCI_CAP_COMMON, FSB_VPCI_CAP_NOTIFY,
					  FSB_VPCI_CAP_ISR, FSB_VPCI_CAP_DEVICE };
	for (unsigned i = 0; i < 4; i++)
		for (unsigned j = i + 1; j < 4; j++)
			if (caps_overlap(all[i], all[j])) {
				ERR("%s: virtio %s and %s structures overlap in "
				    "BAR %u", d->addr, cap_name[types[i]],
				    cap_name[types[j]], all[i]->bar);
				return -EPROTO;
			}

	/* Memory decoding and bus mastering: ours to switch on. */
	uint16_t cmd = 0;
	if (fsb_pcidev_cfg_read(d, FSB_PCI_COMMAND, &cmd, 2) < 0)
		return -EIO;
	if ((cmd & (FSB_PCI_COMMAND_MEMORY | FSB_PCI_COMMAND_MASTER)) !=
	    (FSB_PCI_COMMAND_MEMORY | FSB_PCI_COMMAND_MASTER)) {
		cmd |= FSB_PCI_COMMAND_MEMORY | FSB_PCI_COMMAND_MASTER;
		if (fsb_pcidev_cfg_write(d, FSB_PCI_COMMAND, &cmd, 2) < 0) {
			ERR("%s: cannot enable memory decoding and bus mastering",
			    d->addr);
			return -EIO;
		}
	}
	if (fsb_vpci_gone(v)) {
		ERR("%s: the device is gone (its common configuration reads "
		    "all-ones)", d->addr);
		return -ENODEV;
	}
	v->num_queues = (uint16_t)common_rd(v, FSB_VPCI_NUM_QUEUES, 2);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Status, features                                                    */
/* ------------------------------------------------------------------ */

int fsb_vpci_reset(struct fsb_vpci *v, unsigned timeout_ms, char *err,
		   size_t errlen)
{
	common_wr(v, FSB_VPCI_STATUS, 1, 0);
	uint64_t deadline = fsb_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (unsigned spin = 0;; spin++) {
		uint8_t s = fsb_vpci_status(v);
		if (s == 0)
			return 0;
		if (s == 0xff && fsb_vpci_gone(v)) {
			ERR("%s: the device is gone (reads all-ones)", v->dev->addr);
			return -ENODEV;
		}
		if (fsb_now_ns() >= deadline) {
			ERR("%s: the device did not leave reset within %u ms "
			    "(status 0x%02x)", v->dev->addr, timeout_ms, s);
			return -EPROTO;
		}
		/* The spec lets a reset take a while: back off, do not spin
		 * a CPU on a register read that may trap to a hypervisor. */
		struct timespec ts = { 0, spin < 10 ? 10000 : 1000000 };
		nanosleep(&ts, NULL);
	}
}

static uint64_t features_read(struct fsb_vpci *v)
{
	common_wr(v, FSB_VPCI_DFSELECT, 4, 0);
	uint64_t lo = common_rd(v, FSB_VPCI_DF, 4);
	common_wr(v, FSB_VPCI_DFSELECT, 4, 1);
	uint64_t hi = common_rd(v, FSB_VPCI_DF, 4);
	return lo | hi << 32;
}

int fsb_vpci_negotiate(struct fsb_vpci *v, uint64_t wanted, uint64_t required,
		       char *err, size_t errlen)
{
	fsb_vpci_status_add(v, FSB_VIRTIO_S_ACK);
	fsb_vpci_status_add(v, FSB_VIRTIO_S_DRIVER);
	uint64_t dev = features_read(v);
	if (fsb_vpci_gone(v)) {
		ERR("%s: the device is gone (reads all-ones)", v->dev->addr);
		return -ENODEV;
	}
	uint64_t missing = required & ~dev;
	if (missing) {
		unsigned bit = (unsigned)__builtin_ctzll(missing);
		ERR("%s: the device does not offer feature bit %u%s", v->dev->addr,
		    bit, bit == FSB_VIRTIO_F_VERSION_1 ? " (VERSION_1: legacy only?)" :
		    bit == FSB_VIRTIO_F_ACCESS_PLATFORM ?
		    " (ACCESS_PLATFORM: it would bypass the IOMMU)" : "");
		fsb_vpci_status_add(v, FSB_VIRTIO_S_FAILED);
		return -ENOTSUP;
	}
	uint64_t acc = dev & wanted;
	common_wr(v, FSB_VPCI_GFSELECT, 4, 0);
	common_wr(v, FSB_VPCI_GF, 4, (uint32_t)acc);
	common_wr(v, FSB_VPCI_GFSELECT, 4, 1);
	common_wr(v, FSB_VPCI_GF, 4, (uint32_t)(acc >> 32));
	fsb_vpci_status_add(v, FSB_VIRTIO_S_FEATURES_OK);
	uint8_t s = fsb_vpci_status(v);
	if (s == 0xff && fsb_vpci_gone(v)) {
		ERR("%s: the device is gone (reads all-ones)", v->dev->addr);
		return -ENODEV;
	}
	if (!(s & FSB_VIRTIO_S_FEATURES_OK)) {
		ERR("%s: the device refused FEATURES_OK for features 0x%llx",
		    v->dev->addr, (unsigned long long)acc);
		fsb_vpci_status_add(v, FSB_VIRTIO_S_FAILED);
		return -EPROTO;
	}
	v->features = acc;
	/* again: a device may size its queues by the features (QEMU's
	 * virtio-net adds the second and later pairs for MQ only here) */
	v->num_queues = (uint16_t)common_rd(v, FSB_VPCI_NUM_QUEUES, 2);
	return 0;
}

int fsb_vpci_cfg_read(struct fsb_vpci *v, unsigned off, void *buf,
		      unsigned len, char *err, size_t errlen)
{
	if ((uint64_t)off + len > v->device.len) {
		ERR("%s: device configuration read at %u+%u is past its %llu "
		    "bytes", v->dev->addr, off, len,
		    (unsigned long long)v->device.len);
		return -EINVAL;
	}
	uint8_t *p = buf;
	for (unsigned tries = 0; tries < VPCI_GEN_RETRIES; tries++) {
		uint8_t g0 = (uint8_t)common_rd(v, FSB_VPCI_CFG_GENERATION, 1);
		for (unsigned i = 0; i < len; i++)
			p[i] = (uint8_t)fsb_pcidev_rd(v->dev, v->device.bar,
						      v->device.off + off + i, 1);
		uint8_t g1 = (uint8_t)common_rd(v, FSB_VPCI_CFG_GENERATION, 1);
		if (g0 == g1) {
			if (g0 == 0xff && fsb_vpci_gone(v)) {
				ERR("%s: the device is gone (reads all-ones)",
				    v->dev->addr);
				return -ENODEV;
			}
			return 0;
		}
	}
	ERR("%s: the device configuration generation changed on each of %u "
	    "reads", v->dev->addr, VPCI_GEN_RETRIES);
	return -EPROTO;
}

/* ------------------------------------------------------------------ */
/* Queues                                                              */
/* ------------------------------------------------------------------ */

int fsb_vpci_queue_max(struct fsb_vpci *v, uint16_t q, unsigned *size,
		       char *err, size_t errlen)
{
	if (q >= v->num_queues) {
		ERR("%s: queue %u asked for, the device has %u", v->dev->addr,
		    q, v->num_queues);
		return -ENOENT;
	}
	common_wr(v, FSB_VPCI_Q_SELECT, 2, q);
	unsigned dev_size = (unsigned)common_rd(v, FSB_VPCI_Q_SIZE, 2);
	if (dev_size == 0xffff && fsb_vpci_gone(v)) {
		ERR("%s: the device is gone (reads all-ones)", v->dev->addr);
		return -ENODEV;
	}
	if (dev_size == 0 || (dev_size & (dev_size - 1))) {
		ERR("%s: queue %u: the device's size %u is %s", v->dev->addr, q,
		    dev_size, dev_size ? "not a power of two" : "0 (no queue)");
		return -EPROTO;
	}
	if (dev_size < 2) {
		ERR("%s: queue %u: the device's size is 1 (we need at least 2)",
		    v->dev->addr, q);
		return -ENOTSUP;
	}
	*size = dev_size;
	return 0;
}

int fsb_vpci_queue_setup(struct fsb_vpci *v, uint16_t q, unsigned max_size,
			 uint64_t desc, uint64_t avail, uint64_t used,
			 unsigned *size, uint64_t *notify_off, char *err,
			 size_t errlen)
{
	unsigned dev_size;
	int rc = fsb_vpci_queue_max(v, q, &dev_size, err, errlen);
	if (rc < 0)
		return rc;
	unsigned sz = dev_size;
	while (sz > max_size && sz > 1)
		sz >>= 1;
	common_wr(v, FSB_VPCI_Q_SIZE, 2, sz);
	common_wr(v, FSB_VPCI_Q_MSIX, 2, FSB_VPCI_NO_VECTOR);
	common_wr(v, FSB_VPCI_Q_DESC, 8, desc);
	common_wr(v, FSB_VPCI_Q_AVAIL, 8, avail);
	common_wr(v, FSB_VPCI_Q_USED, 8, used);
	uint64_t noff = common_rd(v, FSB_VPCI_Q_NOFF, 2) * (uint64_t)v->notify_mult;
	if (noff + 2 > v->notify.len) {
		ERR("%s: queue %u: its notify offset 0x%llx is outside the %llu-"
		    "byte notifications structure", v->dev->addr, q,
		    (unsigned long long)noff, (unsigned long long)v->notify.len);
		return -EPROTO;
	}
	common_wr(v, FSB_VPCI_Q_ENABLE, 2, 1);
	*size = sz;
	*notify_off = v->notify.off + noff;
	return 0;
}
