/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_vpci.c - libFuzzer target for what a virtio PCI device tells us:
 * its capability list and structures (fsb_vpci_attach), its device
 * configuration (fsb_vpci_cfg_read) and its queues
 * (fsb_vpci_queue_setup), on the fake device of tests/fake_pcidev.c.
 *
 * Input:
 *   byte 0   behaviour: bit 0 config generation churns, bit 1 FEATURES_OK
 *            refused, bit 2 the device goes after attach, bits 3-4 reads
 *            before a reset completes (0..3)
 *   byte 1   the capability pointer (0x34)
 *   byte 2   number of queues the device has
 *   then up to 192 bytes of config space from 0x40 (the capabilities),
 *   then per queue (u16 size, u16 notify offset), then
 *   (u16 offset, u8 length) pairs of device configuration reads.
 *
 * Invariants (abort on violation):
 *   - an accepted device has common, notify and device structures,
 *     each inside its BAR, none overlapping another;
 *   - a refusal leaves one terminated line without a newline;
 *   - an accepted queue has a power-of-two size no larger than asked,
 *     and a doorbell inside the notify structure;
 *   - an accepted config read lies inside the device structure.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_pcidev.h"
#include "virtio_pci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s " \
	"(%s:%d)\n", #c, __FILE__, __LINE__); abort(); } } while (0)

static void check_err(const char *err)
{
	CHECK(memchr(err, '\0', 256) != NULL);
	CHECK(err[0] != '\0');
	CHECK(strchr(err, '\n') == NULL);
}

static void check_cap(const struct fake_pci *f, const struct fsb_vpci_cap *c)
{
	if (!c->present)
		return;
	CHECK(c->bar < FSB_PCI_BARS);
	CHECK(f->dev.bar_len[c->bar] > 0);
	CHECK(c->off <= f->dev.bar_len[c->bar]);
	CHECK(c->len <= f->dev.bar_len[c->bar] - c->off);
}

static int overlap(const struct fsb_vpci_cap *a, const struct fsb_vpci_cap *b)
{
	return a->present && b->present && a->bar == b->bar &&
	       a->off < b->off + b->len && b->off < a->off + a->len;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static struct fake_pci f;
	static int ready;
	if (!ready) {
		if (fake_pci_init(&f) < 0)
			abort();
		ready = 1;
	}
	fake_pci_reset(&f);
	if (n < 3)
		return 0;
	uint8_t flags = d[0];
	f.cfg[FSB_PCI_CAPABILITY_LIST] = d[1];
	f.num_queues = d[2];
	d += 3;
	n -= 3;
	size_t k = n < 192 ? n : 192;
	memcpy(f.cfg + 0x40, d, k);
	d += k;
	n -= k;
	for (unsigned q = 0; q < FAKE_QUEUES_MAX && n >= 4; q++, d += 4, n -= 4) {
		memcpy(&f.q_size[q], d, 2);
		memcpy(&f.q_noff[q], d + 2, 2);
	}
	f.gen_churn = flags & 1;
	f.refuse_features_ok = flags & 2;
	f.reset_reads = (flags >> 3) & 3;

	struct fsb_vpci v;
	char err[256];
	memset(err, 0, sizeof(err));
	if (fsb_vpci_attach(&v, &f.dev, err, sizeof(err)) < 0) {
		check_err(err);
		return 0;
	}
	CHECK(v.common.present && v.notify.present && v.device.present);
	CHECK(v.common.len >= FSB_VPCI_COMMON_LEN);
	check_cap(&f, &v.common);
	check_cap(&f, &v.notify);
	check_cap(&f, &v.isr);
	check_cap(&f, &v.device);
	const struct fsb_vpci_cap *all[] = { &v.common, &v.notify, &v.isr, &v.device };
	for (unsigned i = 0; i < 4; i++)
		for (unsigned j = i + 1; j < 4; j++)
			CHECK(!overlap(all[i], all[j]));
	if (flags & 4)
		f.gone = 1;

	memset(err, 0, sizeof(err));
	if (fsb_vpci_reset(&v, 5, err, sizeof(err)) < 0)
		check_err(err);
	memset(err, 0, sizeof(err));
	if (fsb_vpci_negotiate(&v, ~0ull, 1ull << FSB_VIRTIO_F_VERSION_1, err,
			       sizeof(err)) < 0)
		check_err(err);
	for (unsigned q = 0; q < 4; q++) {
		unsigned size = 0, max = 64u << q;
		uint64_t noff = 0;
		memset(err, 0, sizeof(err));
		int rc = fsb_vpci_queue_setup(&v, (uint16_t)q, max, 0, 0, 0, &size,
					      &noff, err, sizeof(err));
		if (rc < 0) {
			check_err(err);
			continue;
		}
		CHECK(size && !(size & (size - 1)));
		CHECK(size <= max);
		CHECK(noff >= v.notify.off && noff + 2 <= v.notify.off + v.notify.len);
	}
	for (; n >= 3; d += 3, n -= 3) {
		uint16_t off;
		memcpy(&off, d, 2);
		uint8_t buf[256];
		memset(err, 0, sizeof(err));
		if (fsb_vpci_cfg_read(&v, off, buf, d[2], err, sizeof(err)) < 0)
			check_err(err);
		else
			CHECK((uint64_t)off + d[2] <= v.device.len);
	}
	return 0;
}
