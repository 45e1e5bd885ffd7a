#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# qemu-virtio-pci-mq.sh - virtio_pci with two queue pairs in a QEMU guest
# with a vIOMMU: a virtio-net with mq=on on a multi-queue tap, driven by
# fsb-fwd (txonly --check, 2 queues) through VFIO.  Our driver must
# negotiate MQ and the control queue and send MQ_VQ_PAIRS_SET 2: QEMU
# serves a second queue pair only after it.  Counted from outside, on
# the host's side of the tap: frames of both queues arrive (the sender's
# queue is in each frame's sequence header), every frame the port sent
# among them, and queue 0's sequence has no gap and no duplicate.
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
FSB_QMP=${FSB_QMP:-$top_builddir/tests/tools/fsb-qmp}
FSB_UDPSINK=${FSB_UDPSINK:-$top_builddir/tests/tools/fsb-udpsink}
me=qemu-virtio-pci-mq
command -v qemu-system-x86_64 >/dev/null || {
	echo "$me: qemu-system-x86_64 not found (install qemu-system-x86): skipped"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "$me: needs root (a tap): skipped"; exit 77; }
. "$top_srcdir/tests/qemu/qemu-lib.sh"
t_start=$(date +%s)

d=$(mktemp -d /tmp/fsb-qemu.XXXXXX)
tap=fsbmq$$
[ -n "${QEMU_KEEP:-}" ] && echo "$me: keeping $d"
trap 'qemu_kill_all "$d"; kill "$QSINK_PID" 2>/dev/null; ip link del "$tap" 2>/dev/null; [ -n "${QEMU_KEEP:-}" ] || rm -rf "$d"' EXIT
fail() {
	echo "$me: FAIL: $*"
	echo "--- serial"; grep -av '^\[' "$d/src.serial" 2>/dev/null | tail -30
	echo "--- sink"; grep -v BUCKETS "$d/sink.out" 2>/dev/null
	exit 1
}
qemu_image "$top_builddir" || fail "no guest image"
qemu_ports
ip tuntap add dev "$tap" mode tap multi_queue || fail "cannot create a multi-queue tap"
ip link set "$tap" up
"$FSB_UDPSINK" mq="tap:$tap" > "$d/sink.out" 2>&1 &
QSINK_PID=$!
for i in $(seq 100); do grep -q READY "$d/sink.out" && break; sleep 0.05; done
grep -q READY "$d/sink.out" || fail "the sink did not start"
guest='
fsb-fwd --port "mq0,dev(virtio_pci,addr=0000:03:00.0,queues=2)" --nb-queues 2 \
	--forward-mode txonly --check --tx-rate 1000 --burst 1 --tx-retry \
	--tx-packets 3000 --duration 12 --json > /tmp/fwd.json 2> /tmp/fwd.err
echo "fsb-guest: fwd rc $?"
grep -E "virtio_pci|error" /tmp/fwd.err | cut -c1-160 | tail -8; cut -c1-300 /tmp/fwd.json
'
QEMU_IOMMU=1 QEMU_APPEND="fsb.skip=virtio_net" \
	qemu_start "$d" src "virtio-net-pci,iommu_platform=on" "$guest" \
	-device pcie-root-port,id=rp3,chassis=3,slot=3,bus=pcie.0,addr=0x4 \
	-netdev tap,id=t0,ifname="$tap",script=no,downscript=no,queues=2,vhost=off \
	-device virtio-net-pci,netdev=t0,mq=on,vectors=6,iommu_platform=on,bus=rp3,id=mq0,mac=02:fb:00:00:00:09,romfile=
qemu_wait_serial "$d" src "fsb-guest: fwd rc" 120 || fail "fsb-fwd did not finish"
qemu_stop "$d" src
kill -TERM "$QSINK_PID"; wait "$QSINK_PID" 2>/dev/null
grep -a "fsb-guest:\|mq0" "$d/src.serial" | grep -v "^\[" | sed "s/^/$me: guest: /" | tail -10
sum=$(sed -n 's/^SUMMARY //p' "$d/sink.out")
num() { echo "$sum" | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
qs=$(echo "$sum" | sed -n 's/.*"queues":\[\([0-9,]*\)\].*/\1/p')
q0=${qs%%,*}; q1=$(echo "$qs" | cut -d, -f2 -s)
echo "$me: at the host's tap: queue 0 $q0 frames, queue 1 ${q1:-0} frames; queue 0 lost $(num lost), dups $(num dups)"
grep -q "fsb-guest: fwd rc 0" "$d/src.serial" || fail "fsb-fwd failed in the guest"
grep -aq "2 queue pairs, control queue" "$d/src.serial" ||
	fail "the device did not offer 2 queue pairs and a control queue"
[ "${q0:-0}" -gt 0 ] || fail "nothing from queue 0"
[ "${q1:-0}" -gt 0 ] || fail "nothing from queue 1: the second queue pair was not enabled"
[ "$(num lost)" = 0 ] || fail "$(num lost) frames of queue 0 lost"
[ "$(num dups)" = 0 ] || fail "duplicates"
# every frame the port sent reached the tap, on one queue or the other
sent=$(grep -a '"forward_mode"' "$d/src.serial" | sed -n 's/.*"tx_packets":\([0-9]*\).*/\1/p' | head -1)
[ -n "$sent" ] || fail "no JSON summary from fsb-fwd"
[ $((q0 + q1)) = "$sent" ] || fail "the port sent $sent frames, the tap saw $((q0 + q1))"
echo "$me: the port sent $sent frames, the tap saw all of them, on both queue pairs"
echo "$me: took $(( $(date +%s) - t_start )) s"
echo "$me: PASS"
