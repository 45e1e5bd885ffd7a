/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fsb-vfio-probe - drive one virtio-net PCI device through VFIO, end to
 * end, with the library's own VFIO and virtio transport code (the
 * QEMU harness runs it in a guest with a vIOMMU: tests/qemu-vfio.sh).
 *
 *   fsb-vfio-probe ADDR [--standby]
 *
 * It takes the device from the kernel's driver (fsb_pci_bind),
 * opens it (group, container, type1, BARs registered for SIGBUS),
 * attaches the modern transport, resets it, negotiates VERSION_1 and
 * ACCESS_PLATFORM (required under type1), MAC and STATUS (and STANDBY
 * with --standby), reads the MAC, places TX queue 1 in DMA-mapped
 * memory, sets DRIVER_OK, and sends one frame: a 64-byte frame with
 * fsb-fwd's sequence header (FSB1, seq 0) after a zeroed virtio-net
 * header, so the host's sink counts it as ours.  It waits, bounded, for
 * the device to return the descriptor, resets the device and lets it
 * go.  Each step prints one "vfio-probe: ..." line; exit 0 when the
 * frame went, 1 otherwise.
 *
 *   fsb-vfio-probe --hold ADDR
 *
 * The minimal VFIO holder, the anchor of tests/bench/qemu-hotplug: it
 * waits (60 s at most) for ADDR to appear, takes it to vfio-pci, opens
 * it, arms the device request eventfd, prints "vfio-probe: holding",
 * and blocks on the eventfd.  On the kernel's request it unmaps the
 * BARs and closes the device, group and container at once, and prints
 * how long that took.  Nothing else: what the kernel and QEMU need for
 * an unplug when userspace answers as fast as it can.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "fsb-check.h"
#include "fsb_private.h"
#include "vfio_pci.h"
#include "virtio_pci.h"

#define F(b) (1ull << (b))
#define QSZ 256u

static int die(const char *what, const char *err)
{
	printf("vfio-probe: FAIL: %s: %s\n", what, err);
	return 1;
}

static int hold(const char *arg)
{
	char addr[16], err[256] = "", drv[64] = "";
	if (fsb_pci_addr_parse(arg, addr) < 0) {
		fprintf(stderr, "fsb-vfio-probe: bad PCI address '%s'\n", arg);
		return 2;
	}
	for (int i = 0; i < 600 && fsb_pci_driver(addr, drv, sizeof(drv)) < 0; i++) {
		struct timespec ts = { 0, 100000000 };
		nanosleep(&ts, NULL);
	}
	if (fsb_pci_bind(addr, "vfio-pci", "virtio-pci", err, sizeof(err)) < 0)
		return die("bind", err);
	struct fsb_pcidev d;
	if (fsb_vfio_pci_open(&d, addr, NULL, "holder", err, sizeof(err)) < 0)
		return die("open", err);
	int devfd = fsb_vfio_pci_devfd_take(&d);
	int efd = eventfd(0, EFD_CLOEXEC);
	struct { struct vfio_irq_set s; int32_t fd; } req = {
		.s = { .argsz = sizeof(req), .flags = VFIO_IRQ_SET_DATA_EVENTFD |
		       VFIO_IRQ_SET_ACTION_TRIGGER, .index = VFIO_PCI_REQ_IRQ_INDEX,
		       .start = 0, .count = 1 },
		.fd = efd,
	};
	if (efd < 0 || ioctl(devfd, VFIO_DEVICE_SET_IRQS, &req) < 0)
		return die("arm the request", strerror(errno));
	printf("vfio-probe: holding %s\n", addr);
	fflush(stdout);
	uint64_t n;
	if (read(efd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return die("read the request", strerror(errno));
	uint64_t t0 = fsb_now_ns();
	fsb_vfio_pci_close(&d);
	close(devfd);
	uint64_t us = (fsb_now_ns() - t0) / 1000;
	close(efd);
	printf("vfio-probe: released %llu us after the request\n",
	       (unsigned long long)us);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--hold") == 0)
		return hold(argv[2]);
	if (argc < 2) {
		fprintf(stderr, "usage: fsb-vfio-probe ADDR [--standby] | --hold ADDR\n");
		return 2;
	}
	char addr[16], err[256] = "";
	if (fsb_pci_addr_parse(argv[1], addr) < 0) {
		fprintf(stderr, "fsb-vfio-probe: bad PCI address '%s'\n", argv[1]);
		return 2;
	}
	int standby = argc > 2 && strcmp(argv[2], "--standby") == 0;
	char drv[64];
	fsb_pci_driver(addr, drv, sizeof(drv));
	printf("vfio-probe: %s driver before: %s\n", addr, drv[0] ? drv : "none");
	if (fsb_pci_bind(addr, "vfio-pci", "virtio-pci", err, sizeof(err)) < 0)
		return die("bind", err);
	fsb_pci_driver(addr, drv, sizeof(drv));
	printf("vfio-probe: %s driver now: %s\n", addr, drv);

	struct fsb_pcidev d;
	if (fsb_vfio_pci_open(&d, addr, NULL, "probe", err, sizeof(err)) < 0)
		return die("open", err);
	struct fsb_vpci v;
	if (fsb_vpci_attach(&v, &d, err, sizeof(err)) < 0)
		return die("attach", err);
	printf("vfio-probe: device %04x, %u queues, common in BAR %u, notify "
	       "multiplier %u\n", v.device_id, v.num_queues, v.common.bar,
	       v.notify_mult);
	if (fsb_vpci_reset(&v, 1000, err, sizeof(err)) < 0)
		return die("reset", err);
	uint64_t want = F(FSB_VIRTIO_F_VERSION_1) | F(FSB_VIRTIO_F_ACCESS_PLATFORM) |
		F(5) | F(16) | (standby ? F(62) : 0);
	if (fsb_vpci_negotiate(&v, want, F(FSB_VIRTIO_F_VERSION_1) |
			       F(FSB_VIRTIO_F_ACCESS_PLATFORM), err, sizeof(err)) < 0)
		return die("negotiate", err);
	printf("vfio-probe: features 0x%llx%s\n", (unsigned long long)v.features,
	       v.features & F(62) ? " (STANDBY)" : "");
	uint8_t mac[6];
	if (fsb_vpci_cfg_read(&v, 0, mac, 6, err, sizeof(err)) < 0)
		return die("config", err);
	printf("vfio-probe: mac %02x:%02x:%02x:%02x:%02x:%02x\n", mac[0], mac[1],
	       mac[2], mac[3], mac[4], mac[5]);

	/* TX queue 1: descriptors, avail, used, then one buffer, in one
	 * DMA-mapped 64 KiB area */
	size_t len = 1 << 16;
	uint8_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (mem == MAP_FAILED)
		return die("mmap", "no memory");
	memset(mem, 0, len);
	uint64_t iova;
	int rc = fsb_vfio_pci_dma_map(&d, mem, len, &iova);
	if (rc < 0) {
		snprintf(err, sizeof(err), "%s", strerror(-rc));
		return die("VFIO_IOMMU_MAP_DMA", err);
	}
	printf("vfio-probe: DMA map %p -> iova 0x%llx (%s)\n", (void *)mem,
	       (unsigned long long)iova, iova == (uint64_t)(uintptr_t)mem ?
	       "IOVA = VA" : "allocated");
	uint64_t desc = 0, avail = 16 * QSZ, used = 8192, buf = 16384;
	unsigned size;
	uint64_t noff;
	if (fsb_vpci_queue_setup(&v, 1, QSZ, iova + desc, iova + avail, iova + used,
				 &size, &noff, err, sizeof(err)) < 0)
		return die("queue 1", err);
	fsb_vpci_status_add(&v, FSB_VIRTIO_S_DRIVER_OK);
	printf("vfio-probe: queue 1 size %u, doorbell BAR %u + 0x%llx, status 0x%02x\n",
	       size, v.notify.bar, (unsigned long long)noff, fsb_vpci_status(&v));

	/* virtio-net header (12 bytes, all zero), then the frame */
	uint8_t *fr = mem + buf + 12;
	static const uint8_t dst[6] = { 2, 0, 0, 0, 0, 2 };
	memcpy(fr, dst, 6);
	memcpy(fr + 6, mac, 6);
	fr[12] = 0x08;
	fr[14] = 0x45;
	struct seq_hdr h = { SEQ_MAGIC, 0, 0, 0 };
	memcpy(fr + HDR_LEN, &h, sizeof(h));
	struct { uint64_t addr; uint32_t len; uint16_t flags, next; } *dt = (void *)(mem + desc);
	dt[0].addr = iova + buf;
	dt[0].len = 12 + 64;
	uint16_t *av = (uint16_t *)(mem + avail);   /* flags, idx, ring[] */
	av[0] = 1;                                  /* no interrupts */
	av[2] = 0;
	__atomic_store_n(&av[1], 1, __ATOMIC_SEQ_CST);
	volatile uint8_t *bar = d.bar_map[v.notify.bar];
	if (bar)
		*(volatile uint16_t *)(bar + noff) = 1;
	else
		fsb_pcidev_wr(&d, v.notify.bar, noff, 2, 1);
	volatile uint16_t *uidx = (uint16_t *)(mem + used + 2);
	for (int i = 0; i < 1000 && __atomic_load_n(uidx, __ATOMIC_ACQUIRE) != 1; i++) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	int ok = __atomic_load_n(uidx, __ATOMIC_ACQUIRE) == 1;
	printf("vfio-probe: tx %s\n", ok ? "done: the device returned the buffer" :
	       "FAILED: the device did not return the buffer within 1 s");

	fsb_vpci_reset(&v, 1000, err, sizeof(err));
	fsb_vfio_pci_dma_unmap(&d, iova, len);
	fsb_vfio_pci_close(&d);
	printf("vfio-probe: released\n");
	return ok ? 0 : 1;
}
