# SPDX-License-Identifier: BSD-3-Clause
# qemu-lib.sh - the QEMU harness, sourced by the guest tests and benches.
#
# A guest per qemu_start: q35, TCG, one vCPU (design.md 6b), the kernel
# and initramfs of guest-image.sh, a failover pair of NICs whose frames
# leave QEMU as UDP datagrams to fsb-udpsink on 127.0.0.1:
#
#   standby0  virtio-net-pci,failover=on        -> sink path "sb"
#   primary0  MODEL,failover_pair_id=standby0   -> sink path "vf"
#
# both with one MAC, each on its own pcie-root-port (hot-pluggable).
# Several QEMUs can run at once (a migration's source and destination):
# each has a NAME, and its files are DIR/NAME.*:
#   NAME.serial   its serial console
#   NAME.events   QMP events, each line "<CLOCK_MONOTONIC ns> <json>"
#                 (fsb-qmp --log: the sink's clock)
#   NAME.qmp      the QMP socket for commands (NAME.qmp-ev: the log's)
#   NAME.ctl      the guest's second serial port (ttyS1), a line channel
#                 from the host (qemu_guest_say): how a scene tells the
#                 guest's sender to stop once it has seen what it needs,
#                 instead of a fixed duration that a loaded machine
#                 outruns.  Every guest has it, so that a migration's
#                 source and destination have the same devices.
#   NAME.pid      the PID we started, which is what we stop
# Every QEMU is stopped by its PID, and every wait is bounded.
#
# Setups (environment, read by qemu_start):
#   QEMU_IOMMU=1   setup A: a vIOMMU (intel-iommu, interrupt remapping,
#                  48 address bits: user VAs sit near 2^47) and
#                  intel_iommu=on in the guest, for VFIO in the guest;
#                  the standby gets iommu_platform=on;
#   QEMU_IOMMU_AW  its address bits, 48 (default) or 39: then user VAs
#                  lie outside the aperture (IOVA != VA);
#                  QEMU_IOMMU unset: setup B, no IOMMU (kernel drivers, UIO)
#   QEMU_MEM       guest RAM in MiB (default 512; at most 1024)
#   QEMU_APPEND    more kernel arguments (hugepages=64, ...)
#
# Needs: qemu-system-x86_64, and FSB_QMP, FSB_UDPSINK, QEMU_GUEST_KERNEL,
# QEMU_GUEST_INITRD set (qemu_image sets the last two).

QEMU=${QEMU:-qemu-system-x86_64}
QEMU_MAC=52:54:00:fb:00:01

# qemu_scene_begin: for a guest test named $me: $d, a fresh directory
# (kept, and named, with QEMU_KEEP=1), emptied of every QEMU, logger and
# sink at exit; t_start for its "took N s" line.
qemu_scene_begin() {
	t_start=$(date +%s)
	d=$(mktemp -d /tmp/fsb-qemu.XXXXXX)
	[ -n "${QEMU_KEEP:-}" ] && echo "$me: keeping $d"
	trap 'qemu_kill_all "$d"; [ -n "${QEMU_KEEP:-}" ] || rm -rf "$d"' EXIT
}

# qemu_scene_fail MSG...: the line "$me: FAIL: MSG", then what tells why:
# the guest's console (kernel lines left out), QEMU's events and the
# sink's lines; exit 1.
qemu_scene_fail() {
	echo "$me: FAIL: $*"
	echo "--- serial"; grep -av '^\[' "$d/src.serial" 2>/dev/null | tail -30
	echo "--- events"; cut -c1-160 "$d/src.events" 2>/dev/null | grep -v NIC_RX
	echo "--- sink"; grep -v BUCKETS "$d/sink.out" 2>/dev/null
	exit 1
}

# qemu_wait_first DIR PATH SECONDS: wait for the sink's first frame on
# PATH (sb, vf) while guest "src" lives; fail (1) without it.
qemu_wait_first() {
	for _i in $(seq $(($3 * 20))); do
		grep -q "^FIRST $2" "$1/sink.out" && return 0
		qemu_alive "$1" src || break
		sleep 0.05
	done
	grep -q "^FIRST $2" "$1/sink.out"
}

# qemu_image BUILDDIR: build (or reuse) the guest image, cached in the
# build tree.
qemu_image() {
	set -- $(sh "$top_srcdir/tests/qemu/guest-image.sh" "$1/tests/qemu-cache" "$1") ||
		return 1
	QEMU_GUEST_KERNEL=$1
	QEMU_GUEST_INITRD=$2
}

# qemu_ports: UDP ports for the sink (QP_SB, QP_VF), QEMU's own local
# ends (two QEMUs may run at once: QP_LOCAL is a base, 4 per QEMU), and
# a TCP port for migration (QP_MIG); derived from the PID, checked by
# the binds themselves.
qemu_ports() {
	base=$((20000 + ($$ % 4000) * 10))
	QP_SB=$base; QP_VF=$((base + 1))
	QP_LOCAL=$((base + 2)); QP_MIG=$((base + 9))
	QP_NEXT=0
}

# qemu_sink DIR: start fsb-udpsink on the two paths; waits for READY.
# Silences count from the first frame on the primary's path (--after).
qemu_sink() {
	"$FSB_UDPSINK" --after vf --pcap "$1" sb="$QP_SB" vf="$QP_VF" > "$1/sink.out" 2>&1 &
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

# qemu_start DIR NAME MODEL RUN [QEMU ARGS...]: boot a guest whose /init
# runs the shell text RUN.  Extra arguments go to QEMU (-incoming ...).
qemu_start() {
	_d=$1; _n=$2; _model=$3; _run=$(printf '%s\n' "$4" | base64 -w0)
	shift 4
	_l0=$((QP_LOCAL + QP_NEXT)); _l1=$((_l0 + 1)); QP_NEXT=$((QP_NEXT + 2))
	rm -f "$_d/$_n".serial "$_d/$_n".events "$_d/$_n".qmp "$_d/$_n".qmp-ev "$_d/$_n".ctl
	_iommu=""; _kargs=${QEMU_APPEND:+ $QEMU_APPEND}
	_vopt=""
	if [ -n "${QEMU_IOMMU:-}" ]; then
		_iommu="-device intel-iommu,intremap=on,aw-bits=${QEMU_IOMMU_AW:-48}"
		_kargs="$_kargs intel_iommu=on"
		# virtio devices behind the vIOMMU (a driver must then
		# accept ACCESS_PLATFORM)
		_vopt=",iommu_platform=on"
	fi
	# Paused (-S) until the event log is connected: QMP does not replay
	# events, and a loaded machine once connected the logger after
	# the guest's FAILOVER_NEGOTIATED.  Not a migration's destination:
	# it must run on when the migration completes.
	_paused=-S
	case " $* " in *" -incoming "*) _paused= ;; esac
	$QEMU -machine q35,accel=tcg -cpu max -m "${QEMU_MEM:-512}" -smp 1 \
		$_paused $_iommu \
		-nodefaults -no-user-config -display none -no-reboot \
		-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=0x2 \
		-device pcie-root-port,id=rp2,chassis=2,slot=2,bus=pcie.0,addr=0x3 \
		-netdev socket,id=n0,udp=127.0.0.1:"$QP_SB",localaddr=127.0.0.1:"$_l0" \
		-netdev socket,id=n1,udp=127.0.0.1:"$QP_VF",localaddr=127.0.0.1:"$_l1" \
		-device virtio-net-pci,netdev=n0,failover=on,id=standby0,mac=$QEMU_MAC,bus=rp1,romfile=$_vopt \
		-device "$_model",netdev=n1,failover_pair_id=standby0,id=primary0,mac=$QEMU_MAC,bus=rp2,romfile= \
		-kernel "$QEMU_GUEST_KERNEL" -initrd "$QEMU_GUEST_INITRD" \
		-append "console=ttyS0 panic=-1 quiet$_kargs fsb.run=$_run" \
		-serial file:"$_d/$_n.serial" \
		-chardev socket,id=ctl,path="$_d/$_n.ctl",server=on,wait=off \
		-device isa-serial,chardev=ctl,id=ctl0 \
		-qmp unix:"$_d/$_n.qmp-ev",server=on,wait=off \
		-qmp unix:"$_d/$_n.qmp",server=on,wait=off \
		"$@" > "$_d/$_n.out" 2>&1 &
	echo $! > "$_d/$_n.pid"
	"$FSB_QMP" "$_d/$_n.qmp-ev" --log "$_d/$_n.events" 2>>"$_d/$_n.out" &
	echo $! > "$_d/$_n.logpid"
	[ -n "$_paused" ] || return 0
	for _i in $(seq 1200); do
		grep -q FSB_QMP_CONNECTED "$_d/$_n.events" 2>/dev/null && break
		kill -0 "$(cat "$_d/$_n.logpid")" 2>/dev/null || break
		sleep 0.05
	done
	grep -q FSB_QMP_CONNECTED "$_d/$_n.events" 2>/dev/null ||
		echo "qemu_start: the event log of $_n did not connect" >&2
	qemu_cmd "$_d" "$_n" '{"execute":"cont"}' > /dev/null
}

# qemu_alive DIR NAME
qemu_alive() {
	kill -0 "$(cat "$1/$2.pid" 2>/dev/null)" 2>/dev/null
}

# qemu_cmd DIR NAME CMD...: run QMP commands; their replies on stdout,
# each "<sent ns> <json>".
qemu_cmd() {
	_d=$1; _n=$2; shift 2
	timeout 30 "$FSB_QMP" "$_d/$_n.qmp" "$@"
}

# qemu_wait_event DIR NAME EVENT SECONDS [MATCH]: the log line
# (monotonic ns first) of the first EVENT whose JSON also contains
# MATCH, or fail.
qemu_wait_event() {
	_n=$(($4 * 20))
	for _i in $(seq "$_n"); do
		_l=$(grep "\"event\": \"$3\"" "$1/$2.events" 2>/dev/null |
			grep -F -- "${5:-}" | head -1)
		[ -n "$_l" ] && { echo "$_l"; return 0; }
		qemu_alive "$1" "$2" || break
		sleep 0.05
	done
	return 1
}

# qemu_guest_say DIR NAME TEXT: one line to the guest's ttyS1 (NAME.ctl).
qemu_guest_say() {
	timeout 10 python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
s.close()' "$1/$2.ctl" "$3"
}

# qemu_guest_stop_text: guest shell text for the end of a sender
# started in the background just before it (its $! is taken here): a
# line on ttyS1 (qemu_guest_say DIR NAME stop) SIGINTs it, it prints
# its final counts and exits 0 (fsb-fwd, fsb-seqsend), and the console
# says "fsb-guest: fwd rc N".  The sender's --duration is then only a
# bound: a fixed length was outrun on a loaded machine, where TCG guests
# are slow to boot and re-probe, and a correct run failed.
qemu_guest_stop_text() {
	cat <<'EOF'
snd=$!
(read -r l < /dev/ttyS1; kill -INT $snd) 2>/dev/null &
wait $snd
echo "fsb-guest: fwd rc $?"
EOF
}

# qemu_wait_serial DIR NAME TEXT SECONDS: wait for TEXT on the console.
qemu_wait_serial() {
	_n=$(($4 * 20))
	for _i in $(seq "$_n"); do
		grep -q -F -- "$3" "$1/$2.serial" 2>/dev/null && return 0
		qemu_alive "$1" "$2" || break
		sleep 0.05
	done
	grep -q -F -- "$3" "$1/$2.serial" 2>/dev/null
}

# qemu_stop DIR NAME [WAIT]: the guest powers itself off within WAIT
# seconds (default 5); else it is killed, by PID.
qemu_stop() {
	_p=$(cat "$1/$2.pid" 2>/dev/null)
	for _i in $(seq $((${3:-5} * 20))); do
		kill -0 "$_p" 2>/dev/null || break
		sleep 0.05
	done
	[ -n "$_p" ] && kill -KILL "$_p" 2>/dev/null
	[ -n "$_p" ] && wait "$_p" 2>/dev/null
	_p=$(cat "$1/$2.logpid" 2>/dev/null)
	[ -n "$_p" ] && kill "$_p" 2>/dev/null
	[ -n "$_p" ] && wait "$_p" 2>/dev/null
	rm -f "$1/$2.pid" "$1/$2.logpid"
}

# qemu_kill_all DIR: every QEMU and logger of DIR, and the sink (traps).
qemu_kill_all() {
	for _f in "$1"/*.pid "$1"/*.logpid; do
		[ -f "$_f" ] && kill -KILL "$(cat "$_f")" 2>/dev/null
	done
	[ -n "${QSINK_PID:-}" ] && kill "$QSINK_PID" 2>/dev/null
	return 0
}
