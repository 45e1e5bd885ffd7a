#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# qemu-virtio-pci-sigbus.sh - a real, kernel-raised SIGBUS on a dead BAR
# in a QEMU guest, two ways, each handled: the registry puts all-ones
# memory there, and nothing crashes.
#   vfio (setup A, a vIOMMU): FSB_TEST_VPCI_MEMOFF turns memory
#      decoding off in the primary's command register, through the VFIO
#      config region, under paced traffic.  vfio-pci revokes our BAR
#      mappings, and its fault handler raises SIGBUS at the datapath's
#      next doorbell store: the slot is told (sigbus), TX moves to the
#      standby.
#   uio (setup B, no IOMMU, huge pages): FSB_TEST_VPCI_KEEP_BAR keeps
#      the primary's old resourceN mappings after its surprise removal,
#      read every millisecond, as a datapath that still touched them.
#      On the re-plug the kernel's virtio-pci claims the range, which
#      revokes them (Linux >= 5.12 with IO_STRICT_DEVMEM, as Debian's
#      kernel is built), and the next read takes SIGBUS.  The port
#      meanwhile adopts the new device and TX returns to it.
# Counted from outside: the sink's sequence numbers and path changes.
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
FSB_QMP=${FSB_QMP:-$top_builddir/tests/tools/fsb-qmp}
FSB_UDPSINK=${FSB_UDPSINK:-$top_builddir/tests/tools/fsb-udpsink}
me=qemu-virtio-pci-sigbus
command -v qemu-system-x86_64 >/dev/null || {
	echo "$me: qemu-system-x86_64 not found (install qemu-system-x86): skipped"; exit 77; }
. "$top_srcdir/tests/qemu/qemu-lib.sh"
qemu_scene_begin
fail() { qemu_scene_fail "($how) $*"; }
qemu_image "$top_builddir" || { how=image; fail "no guest image"; }
qemu_ports

# run HOW: one guest; the sink's SUMMARY is left in $d/sink.out
run() {
	how=$1
	qemu_sink "$d" || fail "the sink did not start"
	if [ "$how" = vfio ]; then
		knob="FSB_TEST_VPCI_MEMOFF=0000:02:00.0@3000"; drv=; opt=; dur=8
	else
		knob="FSB_TEST_VPCI_KEEP_BAR=1"; drv=",driver=uio"; opt="--hugetlb"; dur=14
	fi
	guest='
'"$knob"' fsb-fwd --port "fsb0,hold_down=500,dev(virtio_pci,addr=0000:02:00.0'"$drv"'),dev(virtio_pci,addr=0000:01:00.0,standby=1'"$drv"')" \
	--forward-mode txonly --check --tx-rate 1000 --burst 1 --tx-retry '"$opt"' \
	--duration '"$dur"' > /tmp/fwd.out 2> /tmp/fwd.err
echo "fsb-guest: fwd rc $?"
cat /tmp/fwd.out /tmp/fwd.err | grep -E "sigbus|SIGBUS|KEEP_BAR|MEMOFF|tx slot|gone|error" | cut -c1-200 | tail -12
'
	if [ "$how" = vfio ]; then
		QEMU_IOMMU=1 QEMU_APPEND="fsb.skip=virtio_net" \
			qemu_start "$d" src "virtio-net-pci,iommu_platform=on" "$guest"
	else
		QEMU_APPEND="fsb.skip=virtio_net hugepages=64" \
			qemu_start "$d" src "virtio-net-pci" "$guest"
	fi
	qemu_wait_event "$d" src FAILOVER_NEGOTIATED 90 >/dev/null ||
		fail "no FAILOVER_NEGOTIATED"
	qemu_wait_first "$d" vf 30 || fail "no frame on the primary's path"
	if [ "$how" = uio ]; then
		sleep 1
		qemu_cmd "$d" src '{"execute":"device_del","arguments":{"id":"primary0"}}' > "$d/del.out" ||
			fail "device_del: $(cat "$d/del.out")"
		qemu_wait_event "$d" src DEVICE_DELETED 40 '"device": "primary0"' >/dev/null ||
			fail "no DEVICE_DELETED"
		sleep 1
		kill -USR1 "$QSINK_PID"
		qemu_cmd "$d" src "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-net-pci\",\"netdev\":\"n1\",\"id\":\"primary1\",\"mac\":\"$QEMU_MAC\",\"bus\":\"rp2\",\"romfile\":\"\"}}" \
			> "$d/add.out" || fail "device_add: $(cat "$d/add.out")"
		t_add=$(cut -d' ' -f1 "$d/add.out")
	fi
	qemu_wait_serial "$d" src "fsb-guest: fwd rc" 120 || fail "fsb-fwd did not finish"
	qemu_stop "$d" src
	qemu_sink_stop "$d"
	grep -a "fsb-guest:\|fsb0\|KEEP_BAR\|sigbus" "$d/src.serial" | grep -v "^\[" |
		sed "s/^/$me: $how: guest: /" | tail -14
	grep -q "fsb-guest: fwd rc 0" "$d/src.serial" || fail "fsb-fwd failed in the guest"
	sum=$(sed -n 's/^SUMMARY //p' "$d/sink.out")
	num() { echo "$sum" | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
	[ "$(num dups)" = 0 ] || fail "duplicates"
	gap=$(awk '$1 == "PATH" && $2 == "vf" && $3 == "sb" { print $5; exit }' "$d/sink.out")
	[ -n "$gap" ] || fail "TX never moved to the standby"
	if [ "$how" = vfio ]; then
		grep -aq "sigbus: BAR of fsb0.0 .* faulted at .*; remapped to all-ones" "$d/src.serial" ||
			fail "no SIGBUS on the primary's BAR"
		grep -aq "tx slot 0 -> slot 1 (sigbus)" "$d/src.serial" ||
			fail "the switch to the standby was not for sigbus"
		[ "$(num lost)" -le 256 ] || fail "$(num lost) lost: more than the dead ring held"
		dt=$(grep -a "tx slot 0 -> slot 1 (sigbus)" "$d/src.serial" | sed -n 's/.*downtime \([0-9]*\) us.*/\1/p' | head -1)
		echo "$me: vfio: SIGBUS -> TX on the standby ${dt:-?} us (the port's downtime), gap at the sink $gap us, lost $(num lost)"
	else
		grep -aq "FSB_TEST_VPCI_KEEP_BAR: the old mapping of 0000:02:00.0 BAR [0-9] took SIGBUS" "$d/src.serial" ||
			fail "the kept mapping never took SIGBUS: the re-plug did not revoke it"
		grep -aq "sigbus: BAR of kept .* faulted at .*; remapped to all-ones" "$d/src.serial" ||
			fail "the registry did not remap the kept mapping"
		back=$(awk -v t="$t_add" '$1 == "PATH" && $2 == "sb" && $3 == "vf" && $4 > t { print $4; exit }' "$d/sink.out")
		[ -n "$back" ] || fail "TX did not return to the re-plugged primary"
		[ "$(num lost_after_mark)" = 0 ] || fail "$(num lost_after_mark) lost at the re-plug"
		[ "$(num lost_before_mark)" -le 256 ] || fail "$(num lost_before_mark) lost at the removal: more than the dead ring held"
		ms=$(grep -a "took SIGBUS" "$d/src.serial" | sed -n 's/.*took SIGBUS \([0-9]*\) ms.*/\1/p' | head -1)
		echo "$me: uio: the old mapping took SIGBUS $ms ms after its close; TX back on the new primary $(( (back - t_add) / 1000000 )) ms after device_add; lost at removal $(num lost_before_mark), at re-plug 0"
	fi
	rm -f "$d"/src.* "$d/sink.out"
}
run vfio
run uio
echo "$me: took $(( $(date +%s) - t_start )) s"
echo "$me: PASS"
