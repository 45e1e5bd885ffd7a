/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_virtio_pci.c - the modern virtio PCI transport against a fake
 * device (tests/fake_pcidev.c): the normal sequence, then every hostile
 * answer QEMU cannot give.  Each error must be one line that names what
 * was wrong, and nothing may crash or spin.
 *
 * Then the virtio_pci kind itself on the fake (fsb_vpci_test_open), in
 * a port with a ring standby: the datapath with device addresses that
 * are not ours (IOVA != VA: the test, playing the device, finds every
 * frame where the descriptors say), a device gone at runtime, and the
 * hostile devices at probe and configure, each one line with the port
 * on its standby.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_pcidev.h"
#include "physmem.h"
#include "fsb_private.h"
#include "helpers.h"
#include "hugepages.h"
#include "virtio_pci.h"
#include "virtqueue.h"

#define F(b) (1ull << (b))
#define WANT (F(FSB_VIRTIO_F_VERSION_1) | F(FSB_VIRTIO_F_ACCESS_PLATFORM) | \
	      F(5) | F(15) | F(16) | F(17) | F(22) | F(62))
#define REQUIRED (F(FSB_VIRTIO_F_VERSION_1) | F(FSB_VIRTIO_F_ACCESS_PLATFORM))

static struct fake_pci fk;
static struct fsb_vpci v;
static char err[256];

static int setup(void **state)
{
	(void)state;
	err[0] = '\0';
	return fake_pci_init(&fk);
}

static int teardown(void **state)
{
	(void)state;
	fake_pci_fini(&fk);
	return 0;
}

/* @rc, and an error line containing @what */
static void expect_err(int got, int rc, const char *what)
{
	if (got != rc || !strstr(err, what))
		fail_msg("got %d \"%s\", want %d and \"%s\"", got, err, rc, what);
	assert_null(strchr(err, '\n'));
}

static void test_normal(void **state)
{
	(void)state;
	assert_int_equal(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), 0);
	assert_true(v.common.present && v.notify.present && v.isr.present &&
		    v.device.present);
	assert_int_equal(v.notify_mult, FAKE_NOTIFY_MULT);
	assert_int_equal(v.num_queues, 3);
	uint16_t cmd;
	memcpy(&cmd, fk.cfg + FSB_PCI_COMMAND, 2);
	assert_int_equal(cmd & 6, 6);   /* memory + bus master */

	assert_int_equal(fsb_vpci_reset(&v, 100, err, sizeof(err)), 0);
	assert_int_equal(fk.resets, 1);
	assert_int_equal(fsb_vpci_negotiate(&v, WANT, REQUIRED, err, sizeof(err)), 0);
	assert_int_equal(v.features, fk.dev_features & WANT);
	assert_int_equal(fk.drv_features, v.features);
	assert_int_equal(fsb_vpci_status(&v), FSB_VIRTIO_S_ACK |
			 FSB_VIRTIO_S_DRIVER | FSB_VIRTIO_S_FEATURES_OK);

	uint8_t mac[6];
	assert_int_equal(fsb_vpci_cfg_read(&v, 0, mac, 6, err, sizeof(err)), 0);
	assert_memory_equal(mac, fk.bar + FAKE_DEVICE, 6);
	expect_err(fsb_vpci_cfg_read(&v, 0xffc, mac, 6, err, sizeof(err)),
		   -EINVAL, "past its 4096 bytes");

	unsigned size;
	uint64_t noff;
	assert_int_equal(fsb_vpci_queue_setup(&v, 0, 1024, 0x1000, 0x2000, 0x3000,
					      &size, &noff, err, sizeof(err)), 0);
	assert_int_equal(size, 256);    /* the device's maximum */
	assert_int_equal(noff, FAKE_NOTIFY);
	assert_int_equal(fk.q_enable[0], 1);
	assert_int_equal(fk.q_desc[0], 0x1000);
	assert_int_equal(fk.q_avail[0], 0x2000);
	assert_int_equal(fk.q_used[0], 0x3000);
	assert_int_equal(fsb_vpci_queue_setup(&v, 1, 100, 0x4000, 0x5000, 0x6000,
					      &size, &noff, err, sizeof(err)), 0);
	assert_int_equal(size, 64);     /* a power of two below the maximum */
	assert_int_equal(fk.q_size[1], 64);
	assert_int_equal(noff, FAKE_NOTIFY + FAKE_NOTIFY_MULT);
	/* fewer queues than asked */
	expect_err(fsb_vpci_queue_setup(&v, 3, 256, 0, 0, 0, &size, &noff, err,
					sizeof(err)), -ENOENT, "the device has 3");
	fsb_vpci_status_add(&v, FSB_VIRTIO_S_DRIVER_OK);
	assert_true(fsb_vpci_status(&v) & FSB_VIRTIO_S_DRIVER_OK);
	assert_false(fsb_vpci_gone(&v));
}

static void test_not_virtio(void **state)
{
	(void)state;
	uint16_t w = 0x8086;
	memcpy(fk.cfg + FSB_PCI_VENDOR_ID, &w, 2);
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EINVAL,
		   "not a virtio device (vendor 8086");
}

static void test_legacy_only(void **state)
{
	(void)state;
	uint16_t w = 0x1000;            /* transitional id, no modern caps */
	memcpy(fk.cfg + FSB_PCI_DEVICE_ID, &w, 2);
	w = 0;
	memcpy(fk.cfg + FSB_PCI_STATUS, &w, 2);
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EINVAL,
		   "legacy-only virtio device");
	/* caps listed, but none a common configuration */
	setup(state);
	fake_pci_cap(&fk, 0x40, 7, FAKE_BAR, 0, 16);
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EINVAL,
		   "legacy-only");
}

static void test_caps_hostile(void **state)
{
	(void)state;
	/* past the end of the BAR */
	fake_pci_cap(&fk, 0x68, FSB_VPCI_CAP_DEVICE, FAKE_BAR, 0x3f00, 0x200);
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EPROTO,
		   "device configuration structure (offset 0x3f00, 512 bytes) runs past the end of BAR 4");
	/* an offset that overflows with its length */
	fake_pci_cap(&fk, 0x68, FSB_VPCI_CAP_DEVICE, FAKE_BAR, 0xfffffff0u, 0x20);
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EPROTO,
		   "runs past the end of BAR 4");
	/* a BAR that is not there */
	fake_pci_cap(&fk, 0x68, FSB_VPCI_CAP_DEVICE, 2, 0, 0x100);
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EPROTO,
		   "in BAR 2, which is not a memory BAR");
	fake_pci_cap(&fk, 0x68, FSB_VPCI_CAP_DEVICE, 9, 0, 0x100);
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EPROTO,
		   "in BAR 9");
	fake_pci_cap(&fk, 0x68, FSB_VPCI_CAP_DEVICE, FAKE_BAR, FAKE_DEVICE, 0x1000);
	/* a common configuration too small for its registers */
	fake_pci_cap(&fk, 0x40, FSB_VPCI_CAP_COMMON, FAKE_BAR, 0, 0x20);
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EPROTO,
		   "common configuration structure is 32 bytes, less than 56");
	fake_pci_cap(&fk, 0x40, FSB_VPCI_CAP_COMMON, FAKE_BAR, 0, 0x1000);
	/* the ISR inside the queue registers */
	fake_pci_cap(&fk, 0x54, FSB_VPCI_CAP_ISR, FAKE_BAR, 0x10, 4);
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EPROTO,
		   "common configuration and ISR status structures overlap in BAR 4");
	fake_pci_cap(&fk, 0x54, FSB_VPCI_CAP_ISR, FAKE_BAR, FAKE_ISR, 0x1000);
	/* a notifications capability too short for its multiplier */
	fk.cfg[0x7c + 2] = 16;
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EPROTO,
		   "notifications capability is 16 bytes, less than 20");
	fk.cfg[0x7c + 2] = 20;
	/* a capability length past config space */
	fk.cfg[0x7c + 2] = 0xf0;
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EPROTO,
		   "capability at 0x7c has a bad length (240)");
	fk.cfg[0x7c + 2] = 20;
	/* a list that loops */
	fk.cfg[0x7c + 1] = 0x40;
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EPROTO,
		   "does not end");
	/* a pointer into the header, and an unaligned one */
	fk.cfg[0x7c + 1] = 0x10;
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EPROTO,
		   "pointer 0x10 is outside config space or unaligned");
	fk.cfg[0x7c + 1] = 0x81;
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EPROTO,
		   "pointer 0x81");
	fk.cfg[0x7c + 1] = 0;
	/* a second capability of a type is ignored (the first one counts) */
	fk.cfg[0x7c + 1] = 0x90;
	fake_pci_cap(&fk, 0x90, FSB_VPCI_CAP_DEVICE, FAKE_BAR, 0x3f00, 0x200);
	assert_int_equal(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), 0);
	assert_int_equal(v.device.off, FAKE_DEVICE);
	/* no notifications at all */
	fk.cfg[0x69] = 0;
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EPROTO,
		   "without a notifications structure");
}

static void test_reset_hostile(void **state)
{
	(void)state;
	assert_int_equal(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), 0);
	fk.reset_reads = 3;             /* slow, but it ends */
	assert_int_equal(fsb_vpci_reset(&v, 100, err, sizeof(err)), 0);
	fk.reset_reads = -1;            /* never */
	uint64_t t0 = fsb_now_ns();
	expect_err(fsb_vpci_reset(&v, 50, err, sizeof(err)), -EPROTO,
		   "did not leave reset within 50 ms");
	/* bounded: it gave up near its deadline (a generous bound) */
	assert_true(fsb_now_ns() - t0 < 2000000000ull);
}

static void test_features_hostile(void **state)
{
	(void)state;
	assert_int_equal(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), 0);
	fk.refuse_features_ok = true;
	expect_err(fsb_vpci_negotiate(&v, WANT, REQUIRED, err, sizeof(err)), -EPROTO,
		   "refused FEATURES_OK");
	assert_true(fk.status & FSB_VIRTIO_S_FAILED);
	fk.refuse_features_ok = false;
	/* under type1 a device that would bypass the IOMMU is refused */
	fk.dev_features &= ~F(FSB_VIRTIO_F_ACCESS_PLATFORM);
	assert_int_equal(fsb_vpci_reset(&v, 100, err, sizeof(err)), 0);
	expect_err(fsb_vpci_negotiate(&v, WANT, REQUIRED, err, sizeof(err)),
		   -ENOTSUP, "feature bit 33 (ACCESS_PLATFORM");
	fk.dev_features &= ~F(FSB_VIRTIO_F_VERSION_1);
	assert_int_equal(fsb_vpci_reset(&v, 100, err, sizeof(err)), 0);
	expect_err(fsb_vpci_negotiate(&v, WANT, REQUIRED, err, sizeof(err)),
		   -ENOTSUP, "feature bit 32 (VERSION_1");
}

static void test_generation_churn(void **state)
{
	(void)state;
	assert_int_equal(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), 0);
	fk.gen_churn = true;
	uint8_t mac[6];
	expect_err(fsb_vpci_cfg_read(&v, 0, mac, 6, err, sizeof(err)), -EPROTO,
		   "generation changed on each of 16 reads");
}

static void test_queues_hostile(void **state)
{
	(void)state;
	assert_int_equal(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), 0);
	unsigned size;
	uint64_t noff;
	fk.q_size[0] = 0;
	expect_err(fsb_vpci_queue_setup(&v, 0, 256, 0, 0, 0, &size, &noff, err,
					sizeof(err)), -EPROTO, "size 0 is 0 (no queue)");
	fk.q_size[0] = 100;
	expect_err(fsb_vpci_queue_setup(&v, 0, 256, 0, 0, 0, &size, &noff, err,
					sizeof(err)), -EPROTO, "size 100 is not a power of two");
	fk.q_size[0] = 256;
	fk.q_noff[0] = 0x4000;          /* x4: far outside the 4 KiB structure */
	expect_err(fsb_vpci_queue_setup(&v, 0, 256, 0, 0, 0, &size, &noff, err,
					sizeof(err)), -EPROTO,
		   "notify offset 0x10000 is outside the 4096-byte notifications structure");
	assert_int_equal(fk.q_enable[0], 0);    /* never enabled */
}

static void test_gone(void **state)
{
	(void)state;
	assert_int_equal(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), 0);
	fk.gone = true;
	assert_true(fsb_vpci_gone(&v));
	assert_int_equal(fsb_vpci_status(&v), 0xff);
	expect_err(fsb_vpci_reset(&v, 1000, err, sizeof(err)), -ENODEV, "gone");
	expect_err(fsb_vpci_negotiate(&v, WANT, REQUIRED, err, sizeof(err)),
		   -ENODEV, "gone");
	uint8_t mac[6];
	expect_err(fsb_vpci_cfg_read(&v, 0, mac, 6, err, sizeof(err)), -ENODEV,
		   "gone");
	unsigned size;
	uint64_t noff;
	expect_err(fsb_vpci_queue_setup(&v, 0, 256, 0, 0, 0, &size, &noff, err,
					sizeof(err)), -ENODEV, "gone");
	fsb_vpci_status_add(&v, FSB_VIRTIO_S_FAILED);   /* no write to a gone one */
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -ENODEV,
		   "config space reads all-ones");
}

/* ------------------------------------------------------------------ */
/* The kind on the fake                                                */
/* ------------------------------------------------------------------ */

#define KIOVA (1ull << 44)      /* where the fake device sees our memory */

static struct fake_pci kf;
static struct {
	pthread_mutex_t lock;
	char line[64][200];
	unsigned n;
} klog = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void klog_cb(void *arg, enum fsb_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	if (getenv("FSB_TEST_LOG"))
		fprintf(stderr, "log: %s\n", msg);
	pthread_mutex_lock(&klog.lock);
	if (klog.n < 64)
		snprintf(klog.line[klog.n++], sizeof(klog.line[0]), "%s", msg);
	pthread_mutex_unlock(&klog.lock);
}

/* The line that contains @what; it must be one line. */
static bool klogged(const char *what)
{
	bool found = false;
	pthread_mutex_lock(&klog.lock);
	for (unsigned i = 0; i < klog.n && !found; i++)
		found = strstr(klog.line[i], what) && !strchr(klog.line[i], '\n');
	pthread_mutex_unlock(&klog.lock);
	return found;
}

static int kind_open(struct fsb_pcidev *d, const char *addr, char *e, size_t len)
{
	(void)e;
	(void)len;
	*d = kf.dev;
	snprintf(d->addr, sizeof(d->addr), "%s", addr);
	return 0;
}

static int kind_setup(void **state)
{
	if (fake_pci_init(&kf) < 0)
		return -1;
	kf.iova_off = KIOVA;
	kf.bar[FAKE_DEVICE + 6] = 1;    /* VIRTIO_NET_S_LINK_UP */
	fsb_vpci_test_open = kind_open;
	klog.n = 0;
	t_setup(state);
	struct env *e = *state;
	fsb_ctx_set_log(e->ctx, klog_cb, NULL, FSB_LOG_INFO);
	return 0;
}

static int kind_teardown(void **state)
{
	int rc = t_teardown(state);
	fsb_vpci_test_open = NULL;
	fake_pci_fini(&kf);
	return rc;
}

/* The device's view of queue @q: our addresses, less its offset. */
static void *kva(uint64_t iova)
{
	assert_true(iova >= KIOVA);
	return (void *)(uintptr_t)(iova - KIOVA);
}

/*
 * The device's side of one received frame: it takes the first buffer
 * posted on RX queue 0 (seen through @view, the device's addresses to
 * ours), writes a 12-byte header and 60 bytes of @fill, and marks it
 * used.  The port must hand exactly that buffer to the app.
 */
static void device_rx_one(struct fsb_port *p, void *(*view)(uint64_t),
			  uint8_t fill)
{
	struct fsb_vring_desc *rd = view(kf.q_desc[0]);
	struct fsb_vring_avail *ra = view(kf.q_avail[0]);
	struct fsb_vring_used *ru = view(kf.q_used[0]);
	assert_true(__atomic_load_n(&ra->idx, __ATOMIC_ACQUIRE) > 0);
	uint16_t rid = ra->ring[0];
	assert_int_equal(rd[rid].flags, FSB_VRING_DESC_F_WRITE);
	uint8_t *rb = view(rd[rid].addr);
	memset(rb, 0, 12);
	memset(rb + 12, fill, 60);
	ru->ring[0].id = rid;
	ru->ring[0].len = 72;
	__atomic_store_n(&ru->idx, 1, __ATOMIC_RELEASE);
	struct fsb_buf *b[8];
	uint16_t n = 0;
	assert_true(WAIT_UNTIL((n = t_rx(p, b, 8)) > 0, 1000));
	assert_int_equal(n, 1);
	assert_int_equal(b[0]->data_len, 60);
	assert_int_equal(((uint8_t *)fsb_buf_data(b[0]))[59], fill);
	assert_ptr_equal((uint8_t *)fsb_buf_data(b[0]) - 12, rb);
	fsb_buf_free(b[0]);
}

/*
 * A port "vk" on the fake device (virtio_pci at 0000:02:00.0 with the
 * extra options @opts, "" or ",driver=uio") with a ring standby whose
 * far end @peer is called @peer_name, hold_down=0, up and sending on
 * the fake device.
 */
static struct fsb_port *kind_port_up(struct env *e, const char *peer_name,
				     const char *opts, struct fsb_bare **peer)
{
	char spec[256];
	*peer = ring_peer(e->ctx, peer_name, e->mp);
	snprintf(spec, sizeof(spec), "vk,hold_down=0,dev(virtio_pci,"
		 "addr=0000:02:00.0%s),dev(ring,name=%s)", opts, peer_name);
	struct fsb_port *p = port_up(e->ctx, spec, e->mp, NULL);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 2000));
	return p;
}

static void test_kind_datapath(void **state)
{
	struct env *e = *state;
	struct fsb_bare *peer;
	struct fsb_port *p = kind_port_up(e, "vk1", "", &peer);
	assert_true(klogged("IOVA != VA"));
	/* the rings and the port's pool (and the peer's) are mapped */
	assert_true(__atomic_load_n(&kf.dma_maps, __ATOMIC_RELAXED) >= 2);
	assert_int_equal(kf.q_enable[0], 1);
	assert_int_equal(kf.q_enable[1], 1);

	/* TX: 8 frames; the device finds each behind its descriptor, after
	 * a zeroed 12-byte header */
	uint64_t seq = 100;
	assert_int_equal(send_seq(p, e->mp, &seq, 8), 8);
	struct fsb_vring_desc *desc = kva(kf.q_desc[1]);
	struct fsb_vring_avail *av = kva(kf.q_avail[1]);
	struct fsb_vring_used *us = kva(kf.q_used[1]);
	uint16_t qs = kf.q_size[1];
	assert_int_equal(__atomic_load_n(&av->idx, __ATOMIC_ACQUIRE), 8);
	for (unsigned i = 0; i < 8; i++) {
		uint16_t id = av->ring[i % qs];
		assert_true(id < qs);
		const uint8_t *h = kva(desc[id].addr);
		static const uint8_t zero[12];
		assert_memory_equal(h, zero, 12);
		assert_int_equal(desc[id].len, 12 + 64);
		uint64_t got;
		memcpy(&got, h + 12, 8);
		assert_int_equal(got, 100 + i);
		us->ring[i].id = id;
		us->ring[i].len = 0;
	}
	__atomic_store_n(&us->idx, 8, __ATOMIC_RELEASE);
	/* the doorbell rang for queue 1 (notify offset 1 * multiplier) */
	uint16_t db;
	memcpy(&db, kf.bar + FAKE_NOTIFY + 1 * FAKE_NOTIFY_MULT, 2);
	assert_int_equal(db, 1);

	/* RX: the device writes one frame into the first posted buffer */
	device_rx_one(p, kva, 0xab);

	/* a pool created now is mapped before it is ours, and its frames
	 * go out at its own device addresses */
	int maps = __atomic_load_n(&kf.dma_maps, __ATOMIC_RELAXED);
	struct fsb_mempool *late = fsb_mempool_create(e->ctx, "late", 64, 2048, 0, -1);
	assert_non_null(late);
	assert_true(__atomic_load_n(&kf.dma_maps, __ATOMIC_RELAXED) > maps);
	seq = 500;
	assert_int_equal(send_seq(p, late, &seq, 1), 1);
	uint16_t id = av->ring[8 % qs];
	uint64_t got;
	memcpy(&got, (uint8_t *)kva(desc[id].addr) + 12, 8);
	assert_int_equal(got, 500);
	struct fsb_stats st;
	assert_int_equal(fsb_port_stats_get(p, &st), 0);
	assert_int_equal(st.oerrors, 0);

	/* a pool the IOMMU refused: its frames never reach the device at
	 * an address it cannot use; they are dropped and counted */
	kf.dma_fail = -ENOSPC;
	struct fsb_mempool *bad = fsb_mempool_create(e->ctx, "bad", 64, 2048, 0, -1);
	assert_non_null(bad);
	uint16_t before = av->idx;
	seq = 900;
	assert_int_equal(send_seq(p, bad, &seq, 1), 1);
	assert_int_equal(av->idx, before);
	assert_int_equal(fsb_port_stats_get(p, &st), 0);
	assert_int_equal(st.oerrors, 1);
	assert_int_equal(fsb_mempool_free(bad), 0);

	fsb_port_close(p);
	fsb_bare_close(peer);
	/* the device was reset, everything unmapped, the device let go */
	assert_int_equal(kf.status, 0);
	assert_int_equal(__atomic_load_n(&kf.dma_maps, __ATOMIC_RELAXED), 0);
	assert_int_equal(kf.closes, 1);
	assert_int_equal(fsb_mempool_free(late), 0);
}

/* A device that reads all-ones while started is gone: the link reads
 * down, the port moves to its standby, one line says why. */
static void test_kind_gone(void **state)
{
	struct env *e = *state;
	struct fsb_bare *peer;
	struct fsb_port *p = kind_port_up(e, "vk2", "", &peer);
	__atomic_store_n(&kf.gone, true, __ATOMIC_RELAXED);
	struct fsb_link l;
	fsb_port_link_get(p, &l);       /* an app asks: the kind reads */
	assert_true(WAIT_UNTIL(active_slot(p) == 1, 2000));
	assert_true(klogged("0000:02:00.0 reads all-ones: the device is gone"));
	fsb_port_close(p);
	fsb_bare_close(peer);
}

/*
 * Removed with nobody to tell (UIO): the BAR reads what the bus gives,
 * zeroes in QEMU.  The control thread's 10 ms look at device_status
 * sees it, without any call of ours: the port moves to its standby,
 * for reason device-lost, with one line.
 */
static void test_kind_status_lost(void **state)
{
	struct env *e = *state;
	struct fsb_bare *peer;
	struct fsb_port *p = kind_port_up(e, "vk5", "", &peer);
	assert_int_equal(kf.status, 0x0f);
	/* a while started: the looks find what we left */
	usleep(50000);
	assert_int_equal(active_slot(p), 0);
	__atomic_store_n(&kf.status, 0, __ATOMIC_RELAXED);
	assert_true(WAIT_UNTIL(active_slot(p) == 1, 2000));
	assert_true(klogged("0000:02:00.0 device_status reads 0x00, not the 0x0f "
			    "we left: the device is gone"));
	struct fsb_slot_info si;
	fsb_port_slot_info(p, 0, &si);
	assert_int_equal(si.last_reason, FSB_REASON_DEVICE_LOST);
	assert_string_equal(fsb_reason_name(si.last_reason), "device-lost");
	fsb_port_close(p);
	fsb_bare_close(peer);
}

/* Hostile at probe (never leaves reset) or configure (fewer queues than
 * asked): one line each, the port runs on its standby. */
static void test_kind_hostile(void **state)
{
	struct env *e = *state;
	struct fsb_bare *peer = ring_peer(e->ctx, "vk3", e->mp);
	/* 1. never leaves reset */
	kf.reset_reads = -1;
	struct fsb_port *p = port_up(e->ctx,
		"vk,dev(virtio_pci,addr=0000:02:00.0),dev(ring,name=vk3)", e->mp, NULL);
	assert_int_equal(active_slot(p), 1);
	assert_true(klogged("the device did not leave reset within 1000 ms"));
	struct fsb_slot_info si;
	fsb_port_slot_info(p, 0, &si);
	assert_int_equal(si.state, FSB_SUBDEV_PARSED);
	assert_int_equal(si.last_reason, FSB_REASON_BROKEN);
	fsb_port_close(p);
	/* 2. one queue only */
	fake_pci_reset(&kf);
	kf.iova_off = KIOVA;
	kf.num_queues = 1;
	p = port_up(e->ctx,
		"vk,dev(virtio_pci,addr=0000:02:00.0),dev(ring,name=vk3)", e->mp, NULL);
	assert_int_equal(active_slot(p), 1);
	assert_true(klogged("0000:02:00.0: queue 1 asked for, the device has 1"));
	fsb_port_slot_info(p, 0, &si);
	assert_int_equal(si.last_reason, FSB_REASON_BROKEN);
	fsb_port_close(p);
	/* 3. two queue pairs from a device without MQ */
	fake_pci_reset(&kf);
	kf.iova_off = KIOVA;
	char err2[FSB_ERRMSG_MAX];
	p = fsb_port_open(e->ctx,
		"vk,dev(virtio_pci,addr=0000:02:00.0,queues=2),dev(ring,name=vk3)",
		err2, sizeof(err2));
	assert_non_null(p);
	struct fsb_port_conf pc = { .nb_rxq = 2, .nb_txq = 2 };
	/* (the ring standby's end has one queue: whatever the port makes
	 * of that, the kind said why it cannot) */
	fsb_port_configure(p, &pc);
	assert_true(klogged("2 queue pairs wanted, the device has 1 (it does not "
			    "offer MQ)"));
	fsb_port_close(p);
	fsb_bare_close(peer);
}

/* ------------------------------------------------------------------ */
/* No IOMMU: physical addresses (driver=uio, VFIO no-IOMMU)            */
/* ------------------------------------------------------------------ */

static long hp_saved = -1;
static int hp_lock = -1;

/* The fake device without an IOMMU, and huge pages for the test's
 * pool (taken before t_setup creates it: it prefers hugetlb). */
static int phys_setup(void **state)
{
	hp_lock = hugepages_lock();
	hp_saved = nr_hugepages(-1);
	if (hp_lock < 0 || hp_saved < 0)
		return -1;
	/* Tests running alongside may take free pages for their own
	 * pools between our reservation and our pool: reserve more and
	 * try again until the pool is on them. */
	int rc = -1;
	for (long more = 24; more <= 96; more += 24) {
		if (nr_hugepages(hugepages_total() + more) < 0)
			return -1;
		rc = kind_setup(state);
		struct env *e = *state;
		struct fsb_mem_region r;
		if (rc == 0 && fsb_mempool_regions(e->mp, &r, 1) == 1 && r.hugetlb)
			break;
		kind_teardown(state);
		rc = -1;
	}
	kf.iova_off = 0;
	kf.dev.phys = true;
	return rc;
}

static int phys_teardown(void **state)
{
	int rc = kind_teardown(state);
	nr_hugepages(hp_saved);
	hugepages_unlock(hp_lock);
	return rc;
}

/* The device's view: a physical address back to our VA, by asking
 * pagemap about every huge page mapped in this process. */
static void *pva(uint64_t pa)
{
	const uint64_t page = 2u << 20;
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	void *va = NULL;
	assert_non_null(f);
	while (!va && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx", &lo, &hi) != 2 ||
		    (!strstr(line, "huge") && !strstr(line, "memfd:fsb")))
			continue;
		for (unsigned long a = lo; a + page <= hi && !va; a += page) {
			uint64_t p;
			if (fsb_physmem_addr((void *)a, &p) == 0 && pa - p < page)
				va = (char *)a + (pa - p);
		}
	}
	fclose(f);
	assert_non_null(va);
	return va;
}

/*
 * A device with no IOMMU sees physical addresses: the rings and every
 * buffer are given at the physical address of their bytes, on pinned
 * huge pages; a frame goes out and one comes in through them.  A pool
 * not on huge pages is refused with one line: at start (the port runs
 * on its standby), and after it (its frames are dropped and counted).
 */
static void test_kind_phys(void **state)
{
	struct env *e = *state;
	struct fsb_mem_region r;
	assert_int_equal(fsb_mempool_regions(e->mp, &r, 1), 1);
	assert_true(r.hugetlb);
	struct fsb_bare *peer;
	struct fsb_port *p = kind_port_up(e, "vk4", ",driver=uio", &peer);
	/* no IOMMU, nothing mapped through one */
	assert_int_equal(__atomic_load_n(&kf.dma_maps, __ATOMIC_RELAXED), 0);
	/* the rings are where their physical addresses say */
	struct fsb_vring_avail *av = pva(kf.q_avail[1]);
	struct fsb_vring_desc *desc = pva(kf.q_desc[1]);
	uint64_t ring_pa;
	assert_int_equal(fsb_physmem_addr(desc, &ring_pa), 0);
	assert_int_equal(ring_pa, kf.q_desc[1]);
	uint64_t seq = 700;
	assert_int_equal(send_seq(p, e->mp, &seq, 8), 8);
	uint16_t qs = kf.q_size[1];
	assert_int_equal(__atomic_load_n(&av->idx, __ATOMIC_ACQUIRE), 8);
	for (unsigned i = 0; i < 8; i++) {
		uint16_t id = av->ring[i % qs];
		const uint8_t *h = pva(desc[id].addr);
		uint64_t got, pa;
		memcpy(&got, h + 12, 8);
		assert_int_equal(got, 700 + i);
		/* the whole frame is one physical run */
		assert_int_equal(fsb_physmem_contig(h, desc[id].len, &pa), 0);
		assert_int_equal(pa, desc[id].addr);
	}
	/* RX: the device writes a frame at a posted buffer's address */
	device_rx_one(p, pva, 0xcd);

	/* a pool off huge pages, created now: never given to the device */
	assert_true(nr_hugepages(0) == 0);  /* the free ones go */
	struct fsb_mempool *plain = fsb_mempool_create(e->ctx, "plain", 64,
						       2048, 0, -1);
	assert_non_null(plain);
	assert_int_equal(fsb_mempool_regions(plain, &r, 1), 1);
	assert_false(r.hugetlb);
	assert_true(klogged("virtio_pci driver=uio needs hugepages: mempool plain "
			    "is not on hugepages (none free)"));
	uint16_t before = av->idx;
	seq = 900;
	assert_int_equal(send_seq(p, plain, &seq, 1), 1);
	assert_int_equal(av->idx, before);
	struct fsb_stats st;
	assert_int_equal(fsb_port_stats_get(p, &st), 0);
	assert_int_equal(st.oerrors, 1);
	fsb_port_close(p);

	/* and with it live at start: the start is refused, the standby
	 * carries the port */
	klog.n = 0;
	fake_pci_reset(&kf);
	kf.dev.phys = true;
	/* rings need huge pages too: without any free, configure says so */
	p = port_up(e->ctx, "vk,dev(virtio_pci,addr=0000:02:00.0,driver=uio),"
		    "dev(ring,name=vk4)", e->mp, NULL);
	assert_int_equal(active_slot(p), 1);
	assert_true(klogged("virtio_pci driver=uio needs hugepages: none free "
			    "(for its rings)"));
	fsb_port_close(p);
	/* with pages for the rings, the plain pool is what is refused */
	/* (pages in use became surplus: count them from meminfo) */
	unsigned long nfree = 0;
	long held = hugepages_total();
	assert_true(nr_hugepages(held + 8) == held + 8);
	fsb_hugepage_info(&nfree);
	assert_true(nfree >= 1);
	klog.n = 0;
	fake_pci_reset(&kf);
	kf.dev.phys = true;
	p = port_up(e->ctx, "vk,dev(virtio_pci,addr=0000:02:00.0,driver=uio),"
		    "dev(ring,name=vk4)", e->mp, NULL);
	assert_int_equal(active_slot(p), 1);
	assert_true(klogged("virtio_pci driver=uio needs hugepages: mempool plain "
			    "is not on hugepages (create it with "
			    "FSB_MEMPOOL_F_HUGETLB)"));
	fsb_port_close(p);
	fsb_bare_close(peer);
	assert_int_equal(fsb_mempool_free(plain), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_normal),
		T(test_not_virtio),
		T(test_legacy_only),
		T(test_caps_hostile),
		T(test_reset_hostile),
		T(test_features_hostile),
		T(test_generation_churn),
		T(test_queues_hostile),
		T(test_gone),
#undef T
		cmocka_unit_test_setup_teardown(test_kind_datapath, kind_setup,
						kind_teardown),
		cmocka_unit_test_setup_teardown(test_kind_gone, kind_setup,
						kind_teardown),
		cmocka_unit_test_setup_teardown(test_kind_hostile, kind_setup,
						kind_teardown),
		cmocka_unit_test_setup_teardown(test_kind_status_lost, kind_setup,
						kind_teardown),
		cmocka_unit_test_setup_teardown(test_kind_phys, phys_setup,
						phys_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
