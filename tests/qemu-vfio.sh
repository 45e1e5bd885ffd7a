#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# qemu-vfio.sh - a virtio-net PCI device driven from userspace through
# VFIO in a QEMU guest with a vIOMMU (setup A of tests/qemu/qemu-lib.sh),
# with the library's own code (subdev/vfio_pci.c, virtio_pci_modern.c)
# in tests/tools/fsb-vfio-probe:
#   - the kernel's virtio-pci driver has the device at boot; we take it
#     (driver_override, unbind, drivers_probe) and it ends on vfio-pci;
#   - the group, a type1 container, the BARs; the modern transport
#     attaches, resets and negotiates VERSION_1, ACCESS_PLATFORM (QEMU
#     refuses FEATURES_OK without it behind a vIOMMU) and STANDBY;
#   - one frame sent from DMA-mapped memory (IOVA = VA: aw-bits=48)
#     arrives at the host's sink, on the standby's path, with our
#     sequence header: counted from outside.
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
FSB_QMP=${FSB_QMP:-$top_builddir/tests/tools/fsb-qmp}
FSB_UDPSINK=${FSB_UDPSINK:-$top_builddir/tests/tools/fsb-udpsink}
me=qemu-vfio
command -v qemu-system-x86_64 >/dev/null || {
	echo "$me: qemu-system-x86_64 not found (install qemu-system-x86): skipped"; exit 77; }
. "$top_srcdir/tests/qemu/qemu-lib.sh"
t_start=$(date +%s)

d=$(mktemp -d /tmp/fsb-qemu.XXXXXX)
trap 'qemu_kill_all "$d"; [ -n "${QEMU_KEEP:-}" ] || rm -rf "$d"' EXIT
fail() {
	echo "$me: FAIL: $*"
	echo "--- serial"; grep -v '^\[' "$d/src.serial" 2>/dev/null | tail -25
	echo "--- sink"; cat "$d/sink.out" 2>/dev/null | grep -v BUCKETS
	exit 1
}
qemu_image "$top_builddir" || fail "no guest image"
qemu_ports
qemu_sink "$d" || fail "the sink did not start"
guest='
for p in /sys/bus/pci/devices/*; do
	[ "$(cat $p/vendor)" = 0x1af4 ] && addr=${p##*/}
done
echo "fsb-guest: virtio device $addr"
fsb-vfio-probe "$addr" --standby
echo "fsb-guest: fwd rc $?"
'
QEMU_IOMMU=1 qemu_start "$d" src e1000e "$guest"
qemu_wait_serial "$d" src "fsb-guest: fwd rc" 90 || fail "the probe did not finish"
qemu_stop "$d" src
qemu_sink_stop "$d"
s=$d/src.serial
grep -a "vfio-probe:" "$s" | sed "s/^/$me: /"
grep -q "fsb-guest: fwd rc 0" "$s" || fail "fsb-vfio-probe failed"
grep -q "vfio-probe: .* driver before: virtio-pci" "$s" ||
	fail "the kernel's virtio-pci did not have the device at boot"
grep -q "vfio-probe: .* driver now: vfio-pci" "$s" || fail "not taken to vfio-pci"
grep -q "vfio-probe: features .*(STANDBY)" "$s" || fail "STANDBY not negotiated"
grep -q "vfio-probe: tx done" "$s" || fail "the device did not return the buffer"
grep -q "^FIRST sb" "$d/sink.out" || fail "the frame never reached the sink"
ours=$(sed -n 's/.*{"name":"sb","frames":[0-9]*,"ours":\([0-9]*\).*/\1/p' "$d/sink.out")
[ "$ours" = 1 ] || fail "the sink counted $ours of our frames on the standby's path, not 1"
echo "$me: took $(( $(date +%s) - t_start )) s"
echo "$me: PASS"
