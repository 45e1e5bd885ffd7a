#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# qemu-virtio-pci.sh - our port on two virtio_pci sub-devices in a QEMU
# guest with a vIOMMU (setup A): a virtio-net failover=on standby and a
# virtio-net primary with failover_pair_id, both driven from userspace
# through VFIO.  No kernel net driver is loaded (fsb.skip=virtio_net),
# so ours is the only driver that can negotiate STANDBY.
#   1. STANDBY: our standby negotiates bit 62 (at its probe), QEMU says
#      FAILOVER_NEGOTIATED and plugs the primary; the kernel's virtio-pci
#      binds it, we take it (vfio-pci), and TX goes to it: from the
#      start when it was there before the port started, else after
#      hold-down; the sink sees our frames on the primary's path.
#   2. Planned unplug: device_del of the primary under traffic.  vfio-pci
#      asks for the device back (the VFIO request), the port moves TX,
#      drains and releases it, QEMU says DEVICE_DELETED well within the
#      kernel's 10 s re-ask, and the frames carry on on the standby.
#   3. Re-plug: device_add of a virtio-net on the same slot.  The
#      kernel's virtio-pci binds it first; we take it back (auto-bind),
#      and TX returns to it after hold-down.
# With "hold" as the first argument (tests/qemu-virtio-pci-hold.sh), the
# app holds on: FSB_TEST_VFIO_REQUEST_IGNORE=1 makes our handler ignore
# the kernel's first request; vfio-pci asks again 10 s later and that
# ask is answered: the handler releases, not a timer.  No re-plug then.
# That run also has a vIOMMU of 39 address bits: our addresses (near
# 2^47) lie outside its aperture, so the device sees our memory at
# addresses we chose (IOVA != VA, one offset per pool).
# With "uio" (tests/qemu-virtio-pci-uio.sh): setup B, no IOMMU, huge
# pages on the guest's command line; both sub-devices driver=uio
# (uio_pci_generic, physical addresses, pools --hugetlb).  No request
# then: the kernel removes the device and says so afterwards, so the
# unplug is a surprise: it is detected (the uevent "remove", or our
# 10 ms look at device_status) and TX moves; what the dead ring held is
# lost, at most its depth.  The re-plug loses nothing.  Last, with the
# huge pages taken away, a port that wants driver=uio is refused in one
# line.
# All counted from outside (sink sequence numbers, QMP events): no frame
# duplicated, none lost but at a surprise removal.
set -u
mode=${1:-replug}
: "${top_srcdir:=.}" "${top_builddir:=.}"
FSB_QMP=${FSB_QMP:-$top_builddir/tests/tools/fsb-qmp}
FSB_UDPSINK=${FSB_UDPSINK:-$top_builddir/tests/tools/fsb-udpsink}
me=qemu-virtio-pci
[ "$mode" = hold ] && me=qemu-virtio-pci-hold
[ "$mode" = uio ] && me=qemu-virtio-pci-uio
command -v qemu-system-x86_64 >/dev/null || {
	echo "$me: qemu-system-x86_64 not found (install qemu-system-x86): skipped"; exit 77; }
. "$top_srcdir/tests/qemu/qemu-lib.sh"
qemu_scene_begin
fail() { qemu_scene_fail "$@"; }
qemu_image "$top_builddir" || fail "no guest image"
qemu_ports
qemu_sink "$d" || fail "the sink did not start"
# The guest script: $knob and the options are filled in here, the rest
# runs in the guest.  The sender runs until the host says stop on ttyS1
# (qemu_guest_stop_text), once the last step has been seen; 90 s is
# only its bound.
drv=; fwdopt=; after=
if [ "$mode" = hold ]; then
	knob="FSB_TEST_VFIO_REQUEST_IGNORE=1 "; aw=39
elif [ "$mode" = uio ]; then
	knob=; aw=; drv=",driver=uio"; fwdopt="--hugetlb "
	# the refusal: no huge pages left, one line that says so
	after='
echo 0 > /proc/sys/vm/nr_hugepages
fsb-fwd --port "fsb1,dev(virtio_pci,addr=0000:01:00.0,driver=uio),dev(null)" \
	--forward-mode txonly --duration 1 2>&1 | grep -m1 "needs hugepages" |
	sed "s/^/fsb-guest: refused: /"
'
else
	knob=; aw=48
fi
guest='
echo "fsb-guest: pci $(ls /sys/bus/pci/devices | tr "\n" " ")"
'"$knob"'fsb-fwd --port "fsb0,hold_down=500,dev(virtio_pci,addr=0000:02:00.0'"$drv"'),dev(virtio_pci,addr=0000:01:00.0,standby=1'"$drv"')" \
	--forward-mode txonly --check --tx-rate 1000 --burst 1 --tx-retry '"$fwdopt"'\
	--promisc --port-mac 02:fb:00:00:00:01 --duration 90 --json > /tmp/fwd.json 2> /tmp/fwd.err &
'"$(qemu_guest_stop_text)"'
grep -E "virtio_pci|active|VFIO|release|error|TX-|auto|bound|hold|IOVA|gone|tx slot|dup_signals|hugepages" /tmp/fwd.err | cut -c1-160 | tail -24
'"$after"
if [ "$mode" = uio ]; then
	# setup B: no vIOMMU; 64 huge pages of 2 MiB for the pools and rings
	QEMU_APPEND="fsb.skip=virtio_net hugepages=64" \
		qemu_start "$d" src "virtio-net-pci" "$guest"
else
	QEMU_IOMMU=1 QEMU_IOMMU_AW=$aw QEMU_APPEND="fsb.skip=virtio_net" \
		qemu_start "$d" src "virtio-net-pci,iommu_platform=on" "$guest"
fi
neg=$(qemu_wait_event "$d" src FAILOVER_NEGOTIATED 90) ||
	fail "no FAILOVER_NEGOTIATED: our standby did not negotiate STANDBY"
qemu_wait_first "$d" vf 30 || fail "no frame on the primary's path"
# rx_filter ID: what QEMU's device was told over our control queue (the
# port's MAC and promiscuous mode, replayed to each device it adopts)
rx_filter() {
	qemu_cmd "$d" src "{\"execute\":\"query-rx-filter\",\"arguments\":{\"name\":\"$1\"}}" > "$d/rxf.out" 2>&1
	grep -q '"main-mac": "02:fb:00:00:00:01"' "$d/rxf.out" &&
		grep -q '"promiscuous": true' "$d/rxf.out" ||
		fail "$1 was not given the port's MAC and promiscuous mode: $(cat "$d/rxf.out")"
	echo "$me: $1: MAC 02:fb:00:00:00:01 and promiscuous, over the control queue"
}
rx_filter standby0
rx_filter primary0
sleep 1
qemu_cmd "$d" src '{"execute":"device_del","arguments":{"id":"primary0"}}' > "$d/del.out" ||
	fail "device_del: $(cat "$d/del.out")"
t0=$(cut -d' ' -f1 "$d/del.out")
ev=$(qemu_wait_event "$d" src DEVICE_DELETED 40 '"device": "primary0"') ||
	fail "no DEVICE_DELETED for primary0: the device was not released"
if [ "$mode" != hold ]; then
	# 3. Re-plug: a new id, no failover_pair_id (QEMU 7.2 refuses both
	# again, see scenes.sh); the same slot, netdev and MAC.
	sleep 1
	kill -USR1 "$QSINK_PID"         # the sink splits the loss here
	ip=',"iommu_platform":true'
	[ "$mode" = uio ] && ip=
	qemu_cmd "$d" src "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-net-pci\",\"netdev\":\"n1\",\"id\":\"primary1\",\"mac\":\"$QEMU_MAC\",\"bus\":\"rp2\",\"romfile\":\"\"$ip}}" \
		> "$d/add.out" || fail "device_add: $(cat "$d/add.out")"
	t_add=$(cut -d' ' -f1 "$d/add.out")
	for i in $(seq 400); do
		awk -v t="$t_add" '$1 == "PATH" && $2 == "sb" && $3 == "vf" && $4 > t { f = 1 } END { exit !f }' \
			"$d/sink.out" && break
		qemu_alive "$d" src || break
		sleep 0.05
	done
	rx_filter primary1
fi
# a last stretch of traffic where the scene ended, then the stop
sleep 2
qemu_guest_say "$d" src stop || fail "cannot reach the guest's control port (src.ctl)"
qemu_wait_serial "$d" src "fsb-guest: fwd rc" 90 || fail "fsb-fwd did not finish"
[ -z "$after" ] || qemu_wait_serial "$d" src "fsb-guest: rc" 60 || fail "the guest did not finish"
qemu_stop "$d" src
qemu_sink_stop "$d"
grep -a "fsb-guest:\|fsb0" "$d/src.serial" | grep -v "^\[" | sed "s/^/$me: guest: /" | tail -24
sum=$(sed -n 's/^SUMMARY //p' "$d/sink.out")
num() { echo "$sum" | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
del_us=$(( (${ev%% *} - t0) / 1000 ))
echo "$me: FAILOVER_NEGOTIATED -> first frame on the primary: $(( ($(sed -n 's/^FIRST vf //p' "$d/sink.out") - ${neg%% *}) / 1000000 )) ms"
echo "$me: device_del -> DEVICE_DELETED $del_us us"
echo "$me: sent $(($(num max_seq) + 1)), lost $(num lost), dups $(num dups), reordered $(num reordered), longest silence $(num longest_silence_us) us"
grep -q "fsb-guest: fwd rc 0" "$d/src.serial" || fail "fsb-fwd failed in the guest"
if [ "$mode" = hold ]; then
	# vfio-pci re-asks every 10 s; the first ask was ignored
	grep -aq "VFIO device request #1 ignored" "$d/src.serial" ||
		fail "the test knob did not hold the first request"
	grep -aq "after the kernel's first request (2 requests)" "$d/src.serial" ||
		fail "the release did not follow the kernel's second request"
	grep -aq "the IOMMU's aperture does not cover our addresses" "$d/src.serial" ||
		fail "a 39-bit aperture, and yet IOVA = VA?"
	[ "$del_us" -ge 9500000 ] && [ "$del_us" -lt 25000000 ] ||
		fail "device_del -> DEVICE_DELETED took $del_us us: not the kernel's 10 s re-ask"
elif [ "$mode" = uio ]; then
	grep -aq "needs hugepages: none free" "$d/src.serial" ||
		fail "no one-line refusal without huge pages"
	echo "$me: $(grep -a 'fsb-guest: refused:' "$d/src.serial" | cut -c1-160)"
else
	[ "$del_us" -lt 5000000 ] || fail "the release took $del_us us: the request was not answered"
fi
[ "$(num dups)" = 0 ] || fail "duplicates"
if [ "$mode" = uio ]; then
	# a surprise: what the dead TX ring held (256 entries) may be lost,
	# nothing at the re-plug
	[ "$(num lost_before_mark)" -le 256 ] ||
		fail "$(num lost_before_mark) frames lost at the surprise removal: more than the dead ring held"
	[ "$(num lost_after_mark)" = 0 ] || fail "$(num lost_after_mark) frames lost at the re-plug"
	won=$(grep -a "tx slot 0 -> slot 1" "$d/src.serial" | head -1 | sed -n 's/.*(\([a-z-]*\)).*/\1/p')
	[ -n "$won" ] || fail "no switch to the standby in the guest's log"
	echo "$me: removal detected by $won"
	ev_del=${ev%% *}
	first_sb=$(awk -v t="$t0" '$1 == "PATH" && $2 == "vf" && $3 == "sb" && $4 > t { print $4; exit }' "$d/sink.out")
	[ -n "$first_sb" ] && echo "$me: DEVICE_DELETED -> first frame on the standby: $(( (first_sb - ev_del) / 1000 )) us (negative: before QEMU said so)"
else
	[ "$(num lost)" = 0 ] || fail "$(num lost) frames lost ($(echo "$sum" | sed -n 's/.*"missing":"\([^"]*\)".*/\1/p'))"
fi
# The primary carried our frames (from the start when QEMU plugged it
# before the port started, else after hold-down), then the standby.
grep -q "^FIRST vf" "$d/sink.out" || fail "TX never reached the primary"
sw=$(awk -v t="$t0" '$1 == "PATH" && $2 == "vf" && $3 == "sb" && $4 > t { print $5; exit }' "$d/sink.out")
[ -n "$sw" ] || fail "TX did not move to the standby after device_del"
echo "$me: the primary carried TX $(grep -q '^PATH sb vf' "$d/sink.out" &&
	echo 'after hold-down' || echo 'from the start'); switch gap at unplug $sw us"
if [ "$mode" != hold ]; then
	back=$(awk -v t="$t_add" '$1 == "PATH" && $2 == "sb" && $3 == "vf" && $4 > t { print $4; exit }' "$d/sink.out")
	[ -n "$back" ] || fail "TX did not return to the re-plugged primary"
	echo "$me: device_add -> TX back on the primary: $(( (back - t_add) / 1000000 )) ms (hold-down 500 ms)"
	echo "$me: lost at unplug $(num lost_before_mark), at re-plug $(num lost_after_mark)"
fi
echo "$me: took $(( $(date +%s) - t_start )) s"
echo "$me: PASS"
