/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_virtio_pci.c - the modern virtio PCI transport against a fake
 * device (tests/fake_pcidev.c): the normal sequence, then every hostile
 * answer QEMU cannot give.  Each error must be one line that names what
 * was wrong, and nothing may crash or spin.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fake_pcidev.h"
#include "fsb_private.h"
#include "virtio_pci.h"

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
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EINVAL,
		   "device configuration structure (offset 0x3f00, 512 bytes) runs past the end of BAR 4");
	/* an offset that overflows with its length */
	fake_pci_cap(&fk, 0x68, FSB_VPCI_CAP_DEVICE, FAKE_BAR, 0xfffffff0u, 0x20);
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EINVAL,
		   "runs past the end of BAR 4");
	/* a BAR that is not there */
	fake_pci_cap(&fk, 0x68, FSB_VPCI_CAP_DEVICE, 2, 0, 0x100);
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EINVAL,
		   "in BAR 2, which is not a memory BAR");
	fake_pci_cap(&fk, 0x68, FSB_VPCI_CAP_DEVICE, 9, 0, 0x100);
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EINVAL,
		   "in BAR 9");
	fake_pci_cap(&fk, 0x68, FSB_VPCI_CAP_DEVICE, FAKE_BAR, FAKE_DEVICE, 0x1000);
	/* a common configuration too small for its registers */
	fake_pci_cap(&fk, 0x40, FSB_VPCI_CAP_COMMON, FAKE_BAR, 0, 0x20);
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EINVAL,
		   "common configuration structure is 32 bytes, less than 56");
	fake_pci_cap(&fk, 0x40, FSB_VPCI_CAP_COMMON, FAKE_BAR, 0, 0x1000);
	/* the ISR inside the queue registers */
	fake_pci_cap(&fk, 0x54, FSB_VPCI_CAP_ISR, FAKE_BAR, 0x10, 4);
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EINVAL,
		   "common configuration and ISR status structures overlap in BAR 4");
	fake_pci_cap(&fk, 0x54, FSB_VPCI_CAP_ISR, FAKE_BAR, FAKE_ISR, 0x1000);
	/* a notifications capability too short for its multiplier */
	fk.cfg[0x7c + 2] = 16;
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EINVAL,
		   "notifications capability is 16 bytes, less than 20");
	fk.cfg[0x7c + 2] = 20;
	/* a capability length past config space */
	fk.cfg[0x7c + 2] = 0xf0;
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EINVAL,
		   "capability at 0x7c has a bad length (240)");
	fk.cfg[0x7c + 2] = 20;
	/* a list that loops */
	fk.cfg[0x7c + 1] = 0x40;
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EINVAL,
		   "does not end");
	/* a pointer into the header, and an unaligned one */
	fk.cfg[0x7c + 1] = 0x10;
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EINVAL,
		   "pointer 0x10 is outside config space or unaligned");
	fk.cfg[0x7c + 1] = 0x81;
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EINVAL,
		   "pointer 0x81");
	fk.cfg[0x7c + 1] = 0;
	/* a second capability of a type is ignored (the first one counts) */
	fk.cfg[0x7c + 1] = 0x90;
	fake_pci_cap(&fk, 0x90, FSB_VPCI_CAP_DEVICE, FAKE_BAR, 0x3f00, 0x200);
	assert_int_equal(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), 0);
	assert_int_equal(v.device.off, FAKE_DEVICE);
	/* no notifications at all */
	fk.cfg[0x69] = 0;
	expect_err(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), -EINVAL,
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
	expect_err(fsb_vpci_reset(&v, 50, err, sizeof(err)), -ETIMEDOUT,
		   "did not leave reset within 50 ms");
	/* bounded: it gave up near its deadline (a generous bound) */
	assert_true(fsb_now_ns() - t0 < 2000000000ull);
}

static void test_features_hostile(void **state)
{
	(void)state;
	assert_int_equal(fsb_vpci_attach(&v, &fk.dev, err, sizeof(err)), 0);
	fk.refuse_features_ok = true;
	expect_err(fsb_vpci_negotiate(&v, WANT, REQUIRED, err, sizeof(err)), -EIO,
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
	expect_err(fsb_vpci_cfg_read(&v, 0, mac, 6, err, sizeof(err)), -EAGAIN,
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
					sizeof(err)), -EINVAL, "size 0 is 0 (no queue)");
	fk.q_size[0] = 100;
	expect_err(fsb_vpci_queue_setup(&v, 0, 256, 0, 0, 0, &size, &noff, err,
					sizeof(err)), -EINVAL, "size 100 is not a power of two");
	fk.q_size[0] = 256;
	fk.q_noff[0] = 0x4000;          /* x4: far outside the 4 KiB structure */
	expect_err(fsb_vpci_queue_setup(&v, 0, 256, 0, 0, 0, &size, &noff, err,
					sizeof(err)), -EINVAL,
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
