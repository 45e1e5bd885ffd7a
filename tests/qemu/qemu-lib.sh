# SPDX-License-Identifier: BSD-3-Clause
# qemu-lib.sh - the QEMU harness, sourced by the guest tests and benches.
#
# One guest per qemu_start: q35, TCG, one vCPU (design.md 6b), the
# kernel and initramfs of guest-image.sh, a failover pair of NICs whose
# frames leave QEMU as UDP datagrams to fsb-udpsink on 127.0.0.1:
#
#   standby0  virtio-net-pci,failover=on        -> sink path "sb"
#   primary0  MODEL,failover_pair_id=standby0   -> sink path "vf"
#
# both with one MAC, each on its own pcie-root-port (hot-pluggable).
# Every QEMU has two QMP sockets: one for fsb-qmp's event log (events on
# the sink's clock), one for commands.  Every QEMU is stopped by its PID,
# and every wait is bounded.
#
# Needs: qemu-system-x86_64, and FSB_QMP, FSB_UDPSINK, QEMU_GUEST_KERNEL,
# QEMU_GUEST_INITRD set (qemu_image sets the last two).

QEMU=${QEMU:-qemu-system-x86_64}
QEMU_MAC=52:54:00:fb:00:01

# qemu_image BUILDDIR: build (or reuse) the guest image, cached in the
# build tree.
qemu_image() {
	set -- $(sh "$top_srcdir/tests/qemu/guest-image.sh" "$1/tests/qemu-cache" "$1") ||
		return 1
	QEMU_GUEST_KERNEL=$1
	QEMU_GUEST_INITRD=$2
}

# qemu_ports: two free UDP port pairs for the sink and QEMU's own ends
# (derived from the PID, checked with a bind by the sink itself).
qemu_ports() {
	base=$((20000 + ($$ % 10000) * 4))
	QP_SB=$base; QP_VF=$((base + 1))
	QP_SB_LOCAL=$((base + 2)); QP_VF_LOCAL=$((base + 3))
}

# qemu_sink DIR: start fsb-udpsink on the two paths; waits for READY.
qemu_sink() {
	"$FSB_UDPSINK" sb="$QP_SB" vf="$QP_VF" > "$1/sink.out" 2>&1 &
	QSINK_PID=$!
	for _i in $(seq 100); do
		grep -q READY "$1/sink.out" 2>/dev/null && return 0
		kill -0 "$QSINK_PID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$1/sink.out" >&2
	return 1
}

# qemu_sink_stop DIR: SIGTERM, then the SUMMARY line is in sink.out.
qemu_sink_stop() {
	kill -TERM "$QSINK_PID" 2>/dev/null
	wait "$QSINK_PID" 2>/dev/null
}

# qemu_start DIR MODEL RUN: boot a guest whose /init runs the shell text
# RUN; its serial console goes to DIR/serial.log, QMP events to
# DIR/events.log.
qemu_start() {
	_d=$1; _model=$2; _run=$(printf '%s\n' "$3" | base64 -w0)
	rm -f "$_d/serial.log" "$_d/events.log" "$_d/qmp-ev.sock" "$_d/qmp.sock"
	$QEMU -machine q35,accel=tcg -cpu max -m 512 -smp 1 \
		-nodefaults -no-user-config -display none -no-reboot \
		-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=0x2 \
		-device pcie-root-port,id=rp2,chassis=2,slot=2,bus=pcie.0,addr=0x3 \
		-netdev socket,id=n0,udp=127.0.0.1:"$QP_SB",localaddr=127.0.0.1:"$QP_SB_LOCAL" \
		-netdev socket,id=n1,udp=127.0.0.1:"$QP_VF",localaddr=127.0.0.1:"$QP_VF_LOCAL" \
		-device virtio-net-pci,netdev=n0,failover=on,id=standby0,mac=$QEMU_MAC,bus=rp1,romfile= \
		-device "$_model",netdev=n1,failover_pair_id=standby0,id=primary0,mac=$QEMU_MAC,bus=rp2,romfile= \
		-kernel "$QEMU_GUEST_KERNEL" -initrd "$QEMU_GUEST_INITRD" \
		-append "console=ttyS0 panic=-1 quiet fsb.run=$_run" \
		-serial file:"$_d/serial.log" \
		-qmp unix:"$_d/qmp-ev.sock",server=on,wait=off \
		-qmp unix:"$_d/qmp.sock",server=on,wait=off \
		-pidfile "$_d/qemu.pid" > "$_d/qemu.out" 2>&1 &
	QEMU_PID=$!
	"$FSB_QMP" "$_d/qmp-ev.sock" --log "$_d/events.log" 2>>"$_d/qemu.out" &
	QMPLOG_PID=$!
}

# qemu_cmd DIR CMD...: run QMP commands; their replies on stdout.
qemu_cmd() {
	_d=$1; shift
	timeout 30 "$FSB_QMP" "$_d/qmp.sock" "$@"
}

# qemu_wait_event DIR EVENT SECONDS [MATCH]: the log line (monotonic ns
# first) of the first EVENT whose JSON also contains MATCH, or fail.
qemu_wait_event() {
	_n=$(($3 * 20))
	for _i in $(seq "$_n"); do
		_l=$(grep "\"event\": \"$2\"" "$1/events.log" 2>/dev/null |
			grep -F -- "${4:-}" | head -1)
		[ -n "$_l" ] && { echo "$_l"; return 0; }
		kill -0 "$QEMU_PID" 2>/dev/null || break
		sleep 0.05
	done
	return 1
}

# qemu_wait_serial DIR TEXT SECONDS: wait for TEXT on the console.
qemu_wait_serial() {
	_n=$(($3 * 20))
	for _i in $(seq "$_n"); do
		grep -q -F -- "$2" "$1/serial.log" 2>/dev/null && return 0
		kill -0 "$QEMU_PID" 2>/dev/null || break
		sleep 0.05
	done
	return 1
}

# qemu_stop: the guest powers itself off; else it is killed, by PID.
qemu_stop() {
	for _i in $(seq 100); do
		kill -0 "$QEMU_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$QEMU_PID" 2>/dev/null
	wait "$QEMU_PID" 2>/dev/null
	kill "$QMPLOG_PID" 2>/dev/null
	wait "$QMPLOG_PID" 2>/dev/null
}
