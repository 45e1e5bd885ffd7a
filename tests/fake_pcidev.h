/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fake_pcidev.h - a fake virtio-net PCI device behind the pcidev ops
 * (subdev/pcidev.h), for the hostile-device tests QEMU cannot play.
 *
 * It starts as QEMU 7.2 lays out a modern virtio-net-pci: one 16 KiB
 * memory BAR 4 holding the common configuration at 0x0, the ISR at
 * 0x1000, the device configuration at 0x2000 and the notifications at
 * 0x3000 (multiplier 4), described by four vendor capabilities at 0x40,
 * 0x54, 0x68 and 0x7c.  A test then bends what it needs: a capability
 * (fake_pci_cap), a register's behaviour (the fields below), or the
 * whole device (gone: everything reads all-ones).  The BAR is a memfd
 * mapping, so a test can also truncate it for a real SIGBUS.
 */
#ifndef FSB_FAKE_PCIDEV_H
#define FSB_FAKE_PCIDEV_H

#include <stdbool.h>
#include <stdint.h>

#include "pcidev.h"

#define FAKE_BAR 4
#define FAKE_BAR_LEN 0x4000u
#define FAKE_COMMON 0x0000u
#define FAKE_ISR 0x1000u
#define FAKE_DEVICE 0x2000u
#define FAKE_NOTIFY 0x3000u
#define FAKE_NOTIFY_MULT 4u
#define FAKE_QUEUES_MAX 16

struct fake_pci {
	struct fsb_pcidev dev;
	uint8_t cfg[FSB_PCI_CFG_SPACE];
	int bar_fd;
	uint8_t *bar;
	/* behaviour */
	uint64_t dev_features;          /* offered */
	bool refuse_features_ok;
	int reset_reads;                /* status reads non-zero this many
					 * times after a reset; -1: forever */
	bool gen_churn;                 /* each generation read moves it */
	bool gone;
	uint16_t num_queues;
	uint16_t q_size[FAKE_QUEUES_MAX];
	uint16_t q_noff[FAKE_QUEUES_MAX];
	/* what the driver did */
	uint8_t status;
	uint8_t generation;
	uint32_t dfselect, gfselect;
	uint64_t drv_features;
	uint16_t q_select;
	uint16_t q_enable[FAKE_QUEUES_MAX];
	uint64_t q_desc[FAKE_QUEUES_MAX], q_avail[FAKE_QUEUES_MAX],
		 q_used[FAKE_QUEUES_MAX];
	unsigned resets;
	/* DMA: the device sees memory at VA + iova_off (0: IOVA = VA) */
	uint64_t iova_off;
	int dma_maps;                   /* live mappings */
	int dma_fail;                   /* -errno for the next map, once */
	unsigned closes;
};

/* A fresh device as described above: 3 queues of 256, VERSION_1 | MAC |
 * STATUS | MRG_RXBUF | ACCESS_PLATFORM offered.  0 or -errno. */
int fake_pci_init(struct fake_pci *f);
void fake_pci_fini(struct fake_pci *f);
/* Back to the fresh device, keeping the BAR's mapping (fuzzing). */
void fake_pci_reset(struct fake_pci *f);

/* Rewrite the vendor capability at config offset @at. */
void fake_pci_cap(struct fake_pci *f, unsigned at, uint8_t type, uint8_t bar,
		  uint32_t off, uint32_t len);

#endif /* FSB_FAKE_PCIDEV_H */
