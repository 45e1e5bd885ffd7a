# SPDX-License-Identifier: BSD-3-Clause
# tests/: cmocka units, the stress test, shell tests of the tools.
#
# Every test runs through tests/run-one.sh, which turns a skip into a
# failure under CI=true; tests/summary.sh then prints
# "N passed, N failed, N skipped" counting cmocka cases one by one.

LOG_COMPILER = $(SHELL) $(top_srcdir)/tests/run-one.sh
SH_LOG_COMPILER = $(SHELL) $(top_srcdir)/tests/run-one.sh
TEST_EXTENSIONS = .sh
AM_TESTS_ENVIRONMENT = \
	top_srcdir='$(top_srcdir)'; top_builddir='$(top_builddir)'; \
	FSB_FWD='$(abs_top_builddir)/src/fsb-fwd'; \
	FSB_PEER='$(abs_top_builddir)/migration/fsb-peer'; \
	VH_HOSTILE='$(abs_top_builddir)/tests/tools/vhost-hostile'; \
	export top_srcdir top_builddir FSB_FWD FSB_PEER VH_HOSTILE;

EXTRA_DIST += tests/run-one.sh tests/summary.sh tests/helpers.h \
	tests/bootstrap.sh tests/install-check.sh tests/ext/hello.c \
	tests/demo.sh tests/tsan.supp tests/bench/overhead \
	tests/bench/telemetry tests/bench/bench-lib.sh

if HAVE_CMOCKA
test_cflags = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(LIBEV_CFLAGS) $(MNL_CFLAGS)
test_ldadd = src/libfsb_internal.la $(CMOCKA_LIBS) $(PTHREAD_LIBS)

check_PROGRAMS += tests/test_spec tests/test_mempool tests/test_port tests/test_netlink
tests_test_spec_SOURCES = tests/test_spec.c
tests_test_spec_CFLAGS = $(test_cflags)
tests_test_spec_LDADD = $(test_ldadd)
tests_test_mempool_SOURCES = tests/test_mempool.c tests/hugepages.h
tests_test_mempool_CFLAGS = $(test_cflags)
tests_test_mempool_LDADD = $(test_ldadd)
tests_test_port_SOURCES = tests/test_port.c
tests_test_port_CFLAGS = $(test_cflags)
tests_test_port_LDADD = $(test_ldadd)
tests_test_netlink_SOURCES = tests/test_netlink.c
tests_test_netlink_CFLAGS = $(test_cflags) $(MNL_CFLAGS)
tests_test_netlink_LDADD = $(test_ldadd) $(MNL_LIBS)
TESTS += tests/test_spec tests/test_mempool tests/test_port tests/test_netlink

check_PROGRAMS += tests/test_telemetry
tests_test_telemetry_SOURCES = tests/test_telemetry.c
tests_test_telemetry_CFLAGS = $(test_cflags)
tests_test_telemetry_LDADD = $(test_ldadd)
TESTS += tests/test_telemetry

check_PROGRAMS += tests/test_announce
tests_test_announce_SOURCES = tests/test_announce.c
tests_test_announce_CFLAGS = $(test_cflags)
tests_test_announce_LDADD = $(test_ldadd)
TESTS += tests/test_announce
check_PROGRAMS += tests/test_physmem
tests_test_physmem_SOURCES = tests/test_physmem.c
tests_test_physmem_CFLAGS = $(test_cflags)
tests_test_physmem_LDADD = $(test_ldadd)
TESTS += tests/test_physmem
check_PROGRAMS += tests/test_vfio
tests_test_vfio_SOURCES = tests/test_vfio.c
tests_test_vfio_CFLAGS = $(test_cflags)
tests_test_vfio_LDADD = $(test_ldadd)
TESTS += tests/test_vfio
check_PROGRAMS += tests/test_sigbus
tests_test_sigbus_SOURCES = tests/test_sigbus.c
tests_test_sigbus_CFLAGS = $(test_cflags)
tests_test_sigbus_LDADD = $(test_ldadd)
TESTS += tests/test_sigbus

check_PROGRAMS += tests/test_af_packet
tests_test_af_packet_SOURCES = tests/test_af_packet.c
tests_test_af_packet_CFLAGS = $(test_cflags)
tests_test_af_packet_LDADD = $(test_ldadd)
TESTS += tests/test_af_packet

check_PROGRAMS += tests/test_uevent
tests_test_uevent_SOURCES = tests/test_uevent.c
tests_test_uevent_CFLAGS = $(test_cflags)
tests_test_uevent_LDADD = $(test_ldadd)
TESTS += tests/test_uevent
check_PROGRAMS += tests/test_virtqueue tests/test_virtio_user tests/test_vhost_user
tests_test_vhost_user_SOURCES = tests/test_vhost_user.c
tests_test_vhost_user_CFLAGS = $(test_cflags)
tests_test_vhost_user_LDADD = $(test_ldadd)
tests_test_virtqueue_SOURCES = tests/test_virtqueue.c
tests_test_virtqueue_CFLAGS = $(test_cflags)
tests_test_virtqueue_LDADD = $(test_ldadd)
tests_test_virtio_user_SOURCES = tests/test_virtio_user.c
tests_test_virtio_user_CFLAGS = $(test_cflags)
tests_test_virtio_user_LDADD = $(test_ldadd)
TESTS += tests/test_virtqueue tests/test_virtio_user tests/test_vhost_user
# the virtio PCI transport against a fake device (tests/fake_pcidev.c)
check_PROGRAMS += tests/test_virtio_pci
tests_test_virtio_pci_SOURCES = tests/test_virtio_pci.c tests/fake_pcidev.c \
	tests/fake_pcidev.h tests/hugepages.h
tests_test_virtio_pci_CFLAGS = $(test_cflags)
tests_test_virtio_pci_LDADD = $(test_ldadd)
TESTS += tests/test_virtio_pci
endif

check_PROGRAMS += tests/stress
tests_stress_SOURCES = tests/stress.c
tests_stress_CFLAGS = $(AM_CFLAGS) $(LIBEV_CFLAGS)
tests_stress_LDADD = src/libfsb_internal.la $(PTHREAD_LIBS)
TESTS += tests/stress
# its negative control must fail; the exported ABI is the declared one;
# the includes run one way
TESTS += tests/stress-no-grace.sh tests/abi-check.sh tests/include-check.sh
XFAIL_TESTS = tests/stress-no-grace.sh
EXTRA_DIST += tests/stress-no-grace.sh tests/abi-check.sh tests/include-check.sh

TESTS += tests/fwd-cli.sh tests/telemetry.sh tests/completion.sh tests/fsbctl.sh
EXTRA_DIST += tests/fwd-cli.sh tests/telemetry.sh tests/tele-client.py tests/completion.sh \
	tests/fsbctl.sh

# the QEMU harness (tests/qemu/): its QMP client, its host-side sink,
# and the guest scenes
TESTS += tests/drill-qemu.sh tests/qemu-vfio.sh tests/qemu-virtio-pci.sh \
	tests/qemu-virtio-pci-hold.sh tests/qemu-virtio-pci-mq.sh tests/qemu-virtio-pci-uio.sh \
	tests/qemu-virtio-pci-sigbus.sh tests/qemu-announce.sh
EXTRA_DIST += tests/drill-qemu.sh tests/qemu-vfio.sh tests/qemu-virtio-pci.sh \
	tests/qemu-virtio-pci-hold.sh tests/qemu-virtio-pci-mq.sh tests/qemu-virtio-pci-uio.sh \
	tests/qemu-virtio-pci-sigbus.sh tests/qemu-announce.sh \
	tests/qemu/qemu-lib.sh tests/qemu/scenes.sh \
	tests/qemu/guest-image.sh \
	tests/qemu/guest-init.sh tests/bench/qemu-failover \
	tests/bench/qemu-hotplug
AM_TESTS_ENVIRONMENT += FSB_QMP='$(abs_top_builddir)/tests/tools/fsb-qmp'; \
	FSB_UDPSINK='$(abs_top_builddir)/tests/tools/fsb-udpsink'; \
	export FSB_QMP FSB_UDPSINK;
noinst_PROGRAMS += tests/tools/fsb-qmp tests/tools/fsb-udpsink \
	tests/tools/fsb-seqsend
tests_tools_fsb_qmp_SOURCES = tests/tools/fsb-qmp.c
tests_tools_fsb_seqsend_SOURCES = tests/tools/fsb-seqsend.c src/fsb-check.h
# a virtio-net device driven through VFIO end to end, in the guest
noinst_PROGRAMS += tests/tools/fsb-vfio-probe
tests_tools_fsb_vfio_probe_SOURCES = tests/tools/fsb-vfio-probe.c
tests_tools_fsb_vfio_probe_LDADD = src/libfsb_internal.la $(PTHREAD_LIBS)
tests_tools_fsb_seqsend_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src
tests_tools_fsb_udpsink_SOURCES = tests/tools/fsb-udpsink.c src/fsb-check.h
tests_tools_fsb_udpsink_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src
TESTS += tests/netns-failover.sh tests/netns-announce.sh tests/drill-netns.sh
EXTRA_DIST += tests/netns-lib.sh tests/interrupt-lib.sh tests/netns-failover.sh \
	tests/netns-announce.sh tests/drill-netns.sh \
	tests/bench/failover

# 'make check-summary': the one closing line CI reads.
check-summary:
	@$(SHELL) $(top_srcdir)/tests/summary.sh $(top_builddir)
.PHONY: check-summary

# Chaos: a seeded random fault schedule under traffic (issue 19).
check_PROGRAMS += tests/chaos/chaos
tests_chaos_chaos_SOURCES = tests/chaos/chaos.c
tests_chaos_chaos_CFLAGS = $(AM_CFLAGS) $(LIBEV_CFLAGS) $(MNL_CFLAGS)
tests_chaos_chaos_LDADD = src/libfsb_internal.la $(PTHREAD_LIBS)
TESTS += tests/chaos/chaos tests/chaos/kernel.sh
EXTRA_DIST += tests/chaos/kernel.sh tests/bench/chaos

# vhost-user interop against DPDK testpmd (net_vhost), and a hostile
# vhost-user backend of our own for the frontend's error paths.
check_PROGRAMS += tests/tools/vhost-hostile
tests_tools_vhost_hostile_SOURCES = tests/tools/vhost-hostile.c
tests_tools_vhost_hostile_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/src
TESTS += tests/vhost-interop.sh tests/vhost-reconnect.sh \
	tests/vhost-failover.sh tests/vhost-hostile.sh tests/vhost-stall.sh
EXTRA_DIST += tests/vhost-lib.sh tests/vhost-interop.sh \
	tests/vhost-reconnect.sh tests/vhost-failover.sh tests/vhost-hostile.sh \
	tests/vhost-stall.sh \
	tests/bench/vhost

# Fuzz targets.  The replay driver runs every seed (and any reproducer
# added to the corpus) through the parsers in every 'make check', with
# the normal compiler; --enable-fuzz (CC=clang) also builds the
# libFuzzer binaries:  tests/fuzz/fuzz_vhost tests/fuzz/corpus/vhost,
# tests/fuzz/fuzz_vpci tests/fuzz/corpus/vpci
check_PROGRAMS += tests/fuzz/replay_vhost
tests_fuzz_replay_vhost_SOURCES = tests/fuzz/replay.c tests/fuzz/fuzz_vhost.c
tests_fuzz_replay_vhost_LDADD = src/libfsb_internal.la $(PTHREAD_LIBS)
TESTS += tests/fuzz/replay_vhost
check_PROGRAMS += tests/fuzz/replay_vpci
tests_fuzz_replay_vpci_SOURCES = tests/fuzz/replay.c tests/fuzz/fuzz_vpci.c \
	tests/fake_pcidev.c
tests_fuzz_replay_vpci_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests \
	-DFUZZ_TARGET=\"vpci\"
tests_fuzz_replay_vpci_LDADD = src/libfsb_internal.la $(PTHREAD_LIBS)
TESTS += tests/fuzz/replay_vpci
EXTRA_DIST += tests/fuzz/corpus
if FSB_FUZZ
noinst_PROGRAMS += tests/fuzz/fuzz_vhost tests/fuzz/fuzz_vpci
tests_fuzz_fuzz_vhost_SOURCES = tests/fuzz/fuzz_vhost.c
tests_fuzz_fuzz_vhost_CFLAGS = $(AM_CFLAGS) $(FUZZ_CFLAGS)
tests_fuzz_fuzz_vhost_LDFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_vhost_LDADD = src/libfsb_internal.la $(PTHREAD_LIBS)
tests_fuzz_fuzz_vpci_SOURCES = tests/fuzz/fuzz_vpci.c tests/fake_pcidev.c
tests_fuzz_fuzz_vpci_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_fuzz_fuzz_vpci_CFLAGS = $(AM_CFLAGS) $(FUZZ_CFLAGS)
tests_fuzz_fuzz_vpci_LDFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_vpci_LDADD = src/libfsb_internal.la $(PTHREAD_LIBS)
endif
