# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh
#
# vhost-lib.sh - shell functions shared by the vhost-user interop tests
# (tests/vhost-*.sh), tests/bench/vhost and the netns demo.  Source it
# after tests/netns-lib.sh, whose process helpers (ns_bg, ns_reap,
# ns_kill_all, wait_line, now_s) it uses; it runs nothing.
#
# The peer is DPDK testpmd with a net_vhost backend (design.md §4, §6):
#
#   dpdk-testpmd --lcores 0@0,1@0 --no-huge --no-pci -m 512
#       --file-prefix=UNIQUE --vdev 'net_vhost0,iface=SOCK,queues=N'
#       -- --total-num-mbufs=16384 --stats-period 1 --forward-mode=MODE
#
# - testpmd needs a main lcore and a forwarding lcore; both go on CPU
#   $VH_TP_CPU (0), our datapath on $VH_DP_CPU (1) with --lcore-cpu.
# - --stats-period 1: without it (or -i) testpmd reads stdin, which is
#   /dev/null here, and quits at once.  It prints NIC statistics every
#   second: tp_last reads the latest from its output while it runs.
# - --no-flush-rx: testpmd drains its RX queues when forwarding starts,
#   uncounted by its forward statistics; a frontend that connects first
#   (our server mode) has a ring of frames there already.
# - Every run is bounded by timeout -k and stopped by pid with SIGINT;
#   its final "Accumulated forward statistics" are printed then
#   (tp_acc).  tp_kill SIGKILLs testpmd itself (not timeout) for the
#   reconnect tests.
# - Each run gets a unique --file-prefix (removed afterwards from
#   /var/run/dpdk), each socket is removed before a server starts.
# - Names made here contain "vht" and our pid, so parallel runs and
#   other helpers' runs do not collide.
#
# Skips: only when dpdk-testpmd is not installed (exit 77; CI=true turns
# it into a failure) or when this tree has no virtio_user kind yet.

VH_TP_CPU=${VH_TP_CPU:-0}
VH_DP_CPU=${VH_DP_CPU:-1}
TESTPMD=${TESTPMD:-dpdk-testpmd}
VH_TAG=vht$$
VH_TMP=
VH_SEQ=0
VH_CLEANED=0
if [ "$(id -u)" = 0 ]; then
	VH_DPDK_RUN=/var/run/dpdk
else
	VH_DPDK_RUN=${XDG_RUNTIME_DIR:-/tmp}/dpdk
fi

vh_say() { echo "$*" >&2; }

# vh_find_tools: FSB_FWD, TESTPMD, VH_HOSTILE (optional); exit 77 when
# testpmd is missing, 1 when our own tools are.
vh_find_tools() {
	_here=$(cd "$(dirname "$0")" && pwd)
	if [ -z "${FSB_FWD:-}" ]; then
		for _c in "${top_builddir:+$top_builddir/src/fsb-fwd}" \
			  "$_here/../build/src/fsb-fwd" "$_here/../src/fsb-fwd" \
			  "$_here/../../src/fsb-fwd"; do
			[ -n "$_c" ] && [ -x "$_c" ] && [ -f "$_c" ] && { FSB_FWD=$_c; break; }
		done
	fi
	if [ -z "${FSB_FWD:-}" ] || [ ! -x "$FSB_FWD" ]; then
		vh_say "error: fsb-fwd not found (build it, or set FSB_FWD)"
		exit 1
	fi
	_b=$(cd "$(dirname "$FSB_FWD")/.." && pwd)
	if [ -z "${VH_HOSTILE:-}" ]; then
		for _c in "$_b/tests/tools/vhost-hostile" "$_here/tools/vhost-hostile"; do
			[ -x "$_c" ] && [ -f "$_c" ] && { VH_HOSTILE=$_c; break; }
		done
	fi
	if ! command -v "$TESTPMD" >/dev/null 2>&1; then
		echo "SKIP: DPDK testpmd ('$TESTPMD') is not installed (Debian: apt-get install dpdk-dev)"
		exit 77
	fi
	for _t in timeout taskset awk; do
		command -v $_t >/dev/null 2>&1 || { vh_say "error: '$_t' not found"; exit 1; }
	done
	if [ "$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)" -lt 2 ]; then
		VH_DP_CPU=0
	fi
	# Is the virtio_user kind built in?  A bogus option tells: "unknown
	# option for virtio_user" when it is, "unknown sub-device kind" when
	# it is not (nothing is started either way).
	_e=$("$FSB_FWD" --port "vhtprobe,dev(virtio_user,path=/nonexistent,vht_probe=1)" 2>&1)
	case $_e in
	*"unknown sub-device kind"*)
		echo "SKIP: this tree has no virtio_user sub-device kind yet: $_e"
		exit 77 ;;
	esac
	return 0
}

# ---- temp dir, background processes, cleanup ----

vh_cleanup() {
	[ "$VH_CLEANED" = 1 ] && return 0
	VH_CLEANED=1
	ns_kill_all
	rm -rf "${VH_DPDK_RUN:?}"/"$VH_TAG"-* 2>/dev/null
	[ -n "${VH_EXTRA_CLEANUP:-}" ] && eval "$VH_EXTRA_CLEANUP"
	if [ -n "$VH_TMP" ]; then
		if [ "${KEEP_LOGS:-0}" = 1 ]; then
			vh_say "logs kept in $VH_TMP"
		else
			rm -rf "$VH_TMP"
		fi
	fi
	return 0
}

# vh_init: temp dir (sockets live there too) and traps.
vh_init() {
	VH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/fsb-$VH_TAG.XXXXXX") || exit 1
	trap 'vh_cleanup' EXIT
	trap 'vh_cleanup; exit 130' INT TERM HUP
}

# vh_sleep S: sleep in the background so a trapped signal acts at once.
vh_sleep() { sleep "$1" & wait $!; }

# ---- testpmd, the net_vhost backend (or a net_virtio_user frontend) ----

# tp_start NAME VDEV MODE CPUS [EXTRA testpmd args after --]: start
# testpmd with --vdev VDEV in forward mode MODE on lcores 0@CPU,1@CPU
# (CPUS: one CPU number); output in $VH_TMP/NAME.out/.err; sets
# TP_PID_NAME (the timeout(1) process).  Waits until forwarding started.
# TP_EAL: more EAL arguments (split on blanks), e.g. a second --vdev.
tp_start() {
	_n=$1 _vdev=$2 _mode=$3 _cpu=$4
	shift 4
	VH_SEQ=$((VH_SEQ + 1))
	_pfx=$VH_TAG-$_n-$VH_SEQ
	rm -rf "${VH_DPDK_RUN:?}/$_pfx"
	# shellcheck disable=SC2086  # TP_EAL is a list of arguments
	ns_bg "$VH_TMP/$_n.out" "$VH_TMP/$_n.err" \
		timeout -s INT -k 5 "${TP_BOUND:-120}" "$TESTPMD" --lcores "0@$_cpu,1@$_cpu" \
		--no-huge --no-pci -m 512 --file-prefix="$_pfx" --vdev "$_vdev" ${TP_EAL:-} -- \
		--total-num-mbufs=16384 --stats-period 1 --no-flush-rx --forward-mode="$_mode" "$@"
	eval "TP_PID_$_n=$NS_BG_PID"
	if ! wait_line "$VH_TMP/$_n.out" 'packet forwarding - ports=' 20 "$NS_BG_PID"; then
		vh_say "error: testpmd $_n did not start forwarding; it said:"
		tail -n 15 "$VH_TMP/$_n.out" "$VH_TMP/$_n.err" | sed 's/^/  | /' >&2
		return 1
	fi
}

# tp_pid NAME: the timeout(1) pid of testpmd NAME.
tp_pid() { eval "echo \${TP_PID_$1:-}"; }

# tp_stop NAME: SIGINT (timeout passes it on), wait; testpmd prints its
# final statistics.  Returns 0 when it ended by our SIGINT.  Seen here:
# testpmd 22.11 sometimes hangs in its SIGINT path (no statistics, then
# timeout's SIGKILL) when the SIGINT lands while it is still handling
# the frontend's disconnect; callers give that ~1.5 s first (tp_settle).
tp_stop() {
	_p=$(tp_pid "$1")
	[ -n "$_p" ] || return 1
	kill -INT "$_p" 2>/dev/null
	ns_reap "$_p"
	_rc=$?
	eval "TP_PID_$1="
	[ $_rc = 0 ] || [ $_rc = 130 ] || [ $_rc = 124 ]
}

# tp_settle: after our frontend went away, before tp_stop.
tp_settle() { vh_sleep 1.5; }

# tp_kill NAME: SIGKILL testpmd itself (the child of timeout), as a
# crashing backend; its socket file stays behind.
tp_kill() {
	_p=$(tp_pid "$1")
	_c=$(pgrep -P "$_p" 2>/dev/null)
	[ -n "$_c" ] && kill -KILL "$_c"
	ns_reap "$_p" 2>/dev/null      # no "Killed" from the shell
	eval "TP_PID_$1="
}

# tp_acc NAME RX|TX [packets|dropped]: from the final "Accumulated
# forward statistics" block of testpmd NAME ("" when absent).
tp_acc() {
	awk -v k="$2-${3:-packets}:" '
		/Accumulated forward statistics/ { on = 1; next }
		on && /\+\+\+\+\+\+\+\+\+\+\+\+\+\+\+\+\+\+\+\+\+\+\+\+/ { on = 0 }
		on { for (i = 1; i < NF; i++) if ($i == k) v = $(i + 1) }
		END { print v }' "$VH_TMP/$1.out"
}

# tp_port NAME PORT RX|TX: RX-/TX-packets of port PORT in the final
# "Forward statistics for port PORT" block of testpmd NAME ("" when
# absent: testpmd hung on SIGINT).
tp_port() {
	awk -v p="$2" -v k="$3-packets:" '
		/Forward statistics for port/ { for (i = 1; i < NF; i++) if ($i == "port") on = ($(i + 1) == p) }
		/Accumulated forward statistics/ { on = 0 }
		on && $1 == k { print $2; exit }' "$VH_TMP/$1.out"
}

# tp_count NAME RX|TX: tp_acc, or when testpmd hung on SIGINT and
# printed no final statistics, its last periodic NIC statistics (after
# tp_settle, printed after the traffic ended, so just as final).
tp_count() {
	_v=$(tp_acc "$1" "$2")
	[ -n "$_v" ] || _v=$(tp_last "$1" "$2")
	echo "$_v"
}

# tp_last NAME RX|TX: the latest periodic NIC statistics RX-/TX-packets
# of testpmd NAME while it runs (0 before the first block).
tp_last() {
	awk -v k="$2-packets:" '$1 == k { v = $2 } END { print v + 0 }' "$VH_TMP/$1.out"
}

# tp_pps NAME Rx|Tx: median "Throughput (since last show)" pps over the
# periodic blocks with a non-zero value, the first one dropped (ramp).
tp_pps() {
	awk -v k="$2-pps:" '
		$1 == k && $2 + 0 > 0 { s[n++] = $2 + 0 }
		END {
			m = 0
			for (i = 1; i < n; i++) v[m++] = s[i]
			if (m < 1) { print 0; exit }
			for (i = 1; i < m; i++)
				for (j = i; j > 0 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
			printf "%.0f\n", (m % 2) ? v[(m - 1) / 2] : (v[m / 2 - 1] + v[m / 2]) / 2
		}' "$VH_TMP/$1.out"
}

# ---- testpmd in interactive mode: counters read at times we choose ----
#
# For the benches.  testpmd's --stats-period print comes every ~2 s
# instead of every second on this VM, later still under load, so a bench
# that counted those prints failed for want of samples.  Instead testpmd
# runs with -i and reads commands from a FIFO; we send "show port stats
# P" at the start and at the end of the window we measure, and testpmd
# itself computes "Throughput (since last show)" from its own counters
# and its own clock between the two.  Nothing is read from its output
# until it has exited (its stdout to a file is block-buffered), so
# nothing depends on when a print lands either.

# tpi_start NAME LCORES EAL APP-ARGS...: (NAME: letters, digits, _)
# testpmd -i with --lcores
# LCORES, --no-huge --no-pci -m 512, a unique --file-prefix and the EAL
# arguments EAL (one string, split on blanks: e.g. a --vdev), then
# APP-ARGS after "-- -i --total-num-mbufs=16384"; output in
# $VH_TMP/NAME.out/.err.  Waits for its first prompt.
tpi_start() {
	_n=$1 _lc=$2 _e=$3
	shift 3
	VH_SEQ=$((VH_SEQ + 1))
	_pfx=$VH_TAG-$_n-$VH_SEQ
	rm -rf "${VH_DPDK_RUN:?}/$_pfx"
	rm -f "$VH_TMP/$_n.in"
	mkfifo "$VH_TMP/$_n.in" || return 1
	# a writer that holds the FIFO open between our commands, so testpmd
	# never reads an end of file
	sleep "${TP_BOUND:-120}" >"$VH_TMP/$_n.in" &
	eval "TPI_HOLD_$_n=$!"
	NS_PIDS="$NS_PIDS $!"
	# shellcheck disable=SC2086  # EAL is a list of arguments
	timeout -s INT -k 5 "${TP_BOUND:-120}" "$TESTPMD" --lcores "$_lc" --no-huge --no-pci -m 512 \
		--file-prefix="$_pfx" $_e -- -i --total-num-mbufs=16384 "$@" \
		<"$VH_TMP/$_n.in" >"$VH_TMP/$_n.out" 2>"$VH_TMP/$_n.err" &
	eval "TP_PID_$_n=$!"
	eval "TPI_PFX_$_n=$_pfx"
	NS_PIDS="$NS_PIDS $!"
	if ! wait_line "$VH_TMP/$_n.out" '^testpmd> ' 30 "$!"; then
		vh_say "error: testpmd $_n did not come up; it said:"
		tail -n 15 "$VH_TMP/$_n.out" "$VH_TMP/$_n.err" | sed 's/^/  | /' >&2
		return 1
	fi
}

# tpi_cmd NAME COMMAND: one command line to testpmd NAME; fails when it
# is no longer running (the write is bounded: a FIFO without a reader
# would block it).
tpi_cmd() {
	_p=$(tp_pid "$1")
	[ -n "$_p" ] && kill -0 "$_p" 2>/dev/null || return 1
	timeout 5 sh -c 'printf "%s\n" "$2" >"$1"' tpi "$VH_TMP/$1.in" "$2"
}

# tpi_stop NAME: "stop" (final forward statistics), "quit", then wait
# for it.  Returns 0 when it quit by itself.
tpi_stop() {
	tpi_cmd "$1" stop
	tpi_cmd "$1" quit
	_p=$(tp_pid "$1")
	_h=$(eval "echo \${TPI_HOLD_$1:-}")
	_st=1
	if [ -n "$_p" ]; then
		_i=0
		while kill -0 "$_p" 2>/dev/null && [ $_i -lt 100 ]; do vh_sleep 0.1; _i=$((_i + 1)); done
		kill -INT "$_p" 2>/dev/null
		ns_reap "$_p"
		_st=$?
	fi
	[ -n "$_h" ] && { kill "$_h" 2>/dev/null; ns_reap "$_h" 2>/dev/null; }
	rm -rf "${VH_DPDK_RUN:?}/$(eval "echo \${TPI_PFX_$1:-none}")" "$VH_TMP/$1.in"
	eval "TP_PID_$1= TPI_HOLD_$1="
	return $_st
}

# tpi_pps NAME PORT Rx|Tx: the "Throughput (since last show)" pps of
# the last "show port stats PORT" of testpmd NAME, over the time since
# the show before it; "" when there were fewer than two.
tpi_pps() {
	awk -v p="$2" -v k="$3-pps:" '
		/NIC statistics for port/ { on = 0; for (i = 1; i < NF; i++) if ($i == "port" && $(i + 1) == p) { on = 1; n++ } }
		on && $1 == k { v = $2 }
		END { if (n >= 2) print v + 0 }' "$VH_TMP/$1.out"
}

# ---- fsb-fwd ----

# fwd_run_bg NAME BOUND_S ARGS...: fsb-fwd ARGS with its datapath on
# $VH_DP_CPU and the rest on $VH_TP_CPU, --json to NAME.json, human
# output and EVENT lines to NAME.err; FWD_PID.  ${VH_NETNS} runs it in
# that netns.
fwd_run_bg() {
	_n=$1 _b=$2
	shift 2
	if [ -n "${VH_NETNS:-}" ]; then
		ns_bg "$VH_TMP/$_n.json" "$VH_TMP/$_n.err" ip netns exec "$VH_NETNS" \
			timeout -s INT -k 5 "$_b" taskset -c "$VH_TP_CPU" "$FSB_FWD" \
			--lcore-cpu "$VH_DP_CPU" --json "$@"
	else
		ns_bg "$VH_TMP/$_n.json" "$VH_TMP/$_n.err" \
			timeout -s INT -k 5 "$_b" taskset -c "$VH_TP_CPU" "$FSB_FWD" \
			--lcore-cpu "$VH_DP_CPU" --json "$@"
	fi
	# shellcheck disable=SC2034  # for the caller
	FWD_PID=$NS_BG_PID
}

# fwd_val NAME KEY: the first value of "KEY": in fsb-fwd NAME's JSON.
fwd_val() {
	sed -n "s/.*\"$2\":\([0-9.a-z-]*\).*/\1/p" "$VH_TMP/$1.json" | head -n 1
}

# fwd_monotone NAME: fsb-fwd NAME's periodic NIC statistics never went
# backwards (RX-packets, TX-packets, per port).  Prints the offender.
fwd_monotone() {
	awk '
		/NIC statistics for port/ { for (i = 1; i < NF; i++) if ($i == "port") p = $(i + 1) }
		$1 == "RX-packets:" || $1 == "TX-packets:" {
			k = p "/" $1; v = $2 + 0; n[k]++
			if ((k in last) && v < last[k]) { printf "%s went back from %d to %d (sample %d)\n", k, last[k], v, n[k]; bad = 1 }
			last[k] = v
		}
		END { exit bad }' "$VH_TMP/$1.err"
}

# ---- results ----

VH_PASS=0
VH_FAIL=0
# vh_check NAME CONDITION-TEXT STATUS: one "ok:"/"FAIL:" line.
vh_ok() { echo "ok: $*"; VH_PASS=$((VH_PASS + 1)); }
vh_fail() { echo "FAIL: $*"; VH_FAIL=$((VH_FAIL + 1)); }

# vh_dump NAME...: the tails of logs, for a failure.
vh_dump() {
	for _n in "$@"; do
		for _f in "$VH_TMP/$_n".out "$VH_TMP/$_n".err "$VH_TMP/$_n".json; do
			[ -s "$_f" ] || continue
			echo "  --- $(basename "$_f") (last 25 lines)"
			tail -n 25 "$_f" | sed 's/^/  | /'
		done
	done
}

# vh_finish: summary line; exit status.
vh_finish() {
	echo "$0: $VH_PASS checks passed, $VH_FAIL failed"
	[ "$VH_FAIL" = 0 ]
}
