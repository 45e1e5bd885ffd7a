# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh
#
# bench-lib.sh - what tests/bench/overhead and tests/bench/telemetry
# share: finding the tools, the work directory and cleanup, bounded runs,
# the clock, one fsb-fwd arm, one interactive testpmd arm, and a pair of
# arms in alternating order with one retry per arm.  Each bench keeps its
# own arms' specifics, its report and its header essay (the method is
# described there).  Source it after setting me, PAIRS, DUR, DP_CPU,
# CTL_CPU, TESTPMD, KEEP_LOGS, BURST and NB_MBUFS; it defines functions
# and sources tests/netns-lib.sh and tests/vhost-lib.sh (their process
# helpers and testpmd's interactive sessions, tpi_*); it runs nothing.
# shellcheck disable=SC2034,SC2154  # variables set by, and for, the bench

die() { echo "$me: error: $*" >&2; exit 1; }
say() { echo "$*" >&2; }

# bench_check_args: PAIRS a positive integer, DUR a positive number.
check_secs() {
	awk -v x="$2" 'BEGIN { exit !(x ~ /^[0-9]+(\.[0-9]+)?$/ && x > 0) }' ||
		die "$1 must be a positive number of seconds, not '$2'"
}
bench_check_args() {
	case $PAIRS in ''|*[!0-9]*|0) die "PAIRS must be a positive integer, not '$PAIRS'";; esac
	check_secs DUR "$DUR"
}

# ---- tools ----

# bench_find_tools: FSB_FWD (this tree's build: $abs_top_builddir,
# $top_builddir, the source tree or its build/; else PATH, else
# /work/build/src/fsb-fwd), TESTPMD (missing = error: the benches
# compare against DPDK in the same run and do not skip), timeout,
# taskset, awk, and two distinct online CPUs.  Sets scriptdir.
bench_find_tools() {
	scriptdir=$(cd "$(dirname "$0")" && pwd)
	if [ -z "${FSB_FWD:-}" ]; then
		for c in "${abs_top_builddir:-}/src/fsb-fwd" \
			 "${top_builddir:+$top_builddir/src/fsb-fwd}" \
			 "$scriptdir/../../src/fsb-fwd" "$scriptdir/../../build/src/fsb-fwd"; do
			case $c in /src/fsb-fwd|'') continue;; esac
			if [ -x "$c" ] && [ -f "$c" ]; then FSB_FWD=$c; break; fi
		done
	fi
	if [ -z "${FSB_FWD:-}" ]; then
		if command -v fsb-fwd >/dev/null 2>&1; then
			FSB_FWD=$(command -v fsb-fwd)
		else
			FSB_FWD=/work/build/src/fsb-fwd
		fi
	fi
	[ -x "$FSB_FWD" ] || command -v "$FSB_FWD" >/dev/null 2>&1 ||
		die "fsb-fwd not found or not executable: $FSB_FWD (build it, or set FSB_FWD)"
	command -v "$TESTPMD" >/dev/null 2>&1 ||
		die "DPDK testpmd not found: '$TESTPMD' (Debian: apt-get install dpdk-dev, or set TESTPMD); this bench compares against DPDK in the same run and does not skip"
	for t in timeout taskset awk; do
		command -v $t >/dev/null 2>&1 || die "'$t' not found"
	done
	ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
	[ "$DP_CPU" -lt "$ncpu" ] && [ "$CTL_CPU" -lt "$ncpu" ] && [ "$DP_CPU" != "$CTL_CPU" ] ||
		die "need two distinct online CPUs DP_CPU=$DP_CPU and CTL_CPU=$CTL_CPU (have $ncpu)"
}

# testpmd's interactive sessions (tpi_*) and process helpers
# shellcheck source=tests/netns-lib.sh
. "$(cd "$(dirname "$0")" && pwd)/../netns-lib.sh"
# shellcheck source=tests/vhost-lib.sh
. "$(cd "$(dirname "$0")" && pwd)/../vhost-lib.sh"
# EAL (22.11) makes its directories in $RUNTIME_DIRECTORY/dpdk when that
# is set (systemd's RuntimeDirectory=), as src/telemetry.c does;
# vhost-lib.sh knows only /var/run and XDG_RUNTIME_DIR.
[ -n "${RUNTIME_DIRECTORY:-}" ] && VH_DPDK_RUN=$RUNTIME_DIRECTORY/dpdk

# ---- work directory, cleanup ----

# bench_extra_cleanup: a bench may redefine it (after sourcing this);
# called last by cleanup.
bench_extra_cleanup() { :; }

cleanup() {
	if [ -n "$child" ]; then
		# TERM, not INT: INT may be ignored when we were started in
		# the background.  timeout passes it on; both tools stop
		# cleanly on it.
		kill -TERM "$child" 2>/dev/null
		wait "$child" 2>/dev/null
		child=
	fi
	ns_kill_all
	rm -rf "${VH_DPDK_RUN:?}"/"$VH_TAG"-* 2>/dev/null
	bench_extra_cleanup
}

# bench_init: work (kept: the raw results stay there), results, the
# counters and the traps.
bench_init() {
	work=$(mktemp -d "${TMPDIR:-/tmp}/fsb-$me.XXXXXX") || die "mktemp failed"
	VH_TMP=$work
	results=$work/results
	: >"$results"
	child=
	failures=0
	retries=0
	trap 'cleanup; say "$me: interrupted; partial results in $work"; exit 130' INT TERM HUP
	trap 'cleanup' EXIT
}

# Run "$@" bounded by $1 seconds (SIGINT, then SIGKILL 5 s later), stdin
# from /dev/null, stdout/stderr to $2.out/.err.  In the background so a
# ^C reaches the trap at once; "exec" so that $! is timeout itself (with
# traps set, dash would otherwise put a subshell in between).  Returns
# timeout's status (124 = stopped by the SIGINT, how testpmd runs end).
run_bounded() {
	_t=$1 _log=$2
	shift 2
	(exec timeout -s INT -k 5 "$_t" "$@" </dev/null >"$_log.out" 2>"$_log.err") &
	child=$!
	wait "$child"
	_rc=$?
	child=
	return $_rc
}

# ---- clock ----

# bench_clock: ghz and ghz_src.
bench_clock() {
	ghz='' ghz_src=''
	if command -v perf >/dev/null 2>&1; then
		pout=$(perf stat -x, -e cycles,task-clock -- taskset -c "$DP_CPU" \
			awk 'BEGIN { for (i = 0; i < 30000000; i++) s += i }' 2>&1 >/dev/null)
		ghz=$(printf '%s\n' "$pout" | awk -F, '
			$3 ~ /^cycles/ && $1 ~ /^[0-9]+$/ { c = $1 }
			$3 ~ /^task-clock/ && $1 ~ /^[0-9.]+$/ { t = $1 * 1e6 }  # msec -> ns
			END { if (c > 0 && t > 0) printf "%.3f", c / t }')
		[ -n "$ghz" ] && ghz_src="perf stat -e cycles (spin on CPU $DP_CPU)"
	fi
	if [ -z "$ghz" ]; then
		ghz=$(awk -F: -v cpu="$DP_CPU" '
			/^processor/ { p = $2 + 0 }
			/^cpu MHz/ { m[p] = $2 + 0; any = $2 + 0 }
			END { x = (cpu in m) ? m[cpu] : any; if (x > 0) printf "%.3f", x / 1000 }' /proc/cpuinfo)
		[ -n "$ghz" ] && ghz_src="/proc/cpuinfo cpu MHz of CPU $DP_CPU (perf cannot count cycles here)"
	fi
	if [ -z "$ghz" ]; then
		ghz=0 ghz_src="unknown (no perf cycles, no cpu MHz): cycles not reported"
	fi
}

# ---- one arm ----

# fwd_arm MODE LOG FSB-FWD-ARGS...: fsb-fwd FSB-FWD-ARGS in forward mode
# MODE, its datapath on $DP_CPU, the rest on $CTL_CPU, for $DUR s with
# --json; output in LOG.out/.err.  Sets arm_pps (fwd_tx or fwd_rx /
# duration_s) and arm_dur (duration_s), or returns 1 with the reason in
# LOG.err.
fwd_arm() {
	_fa_mode=$1 _fa_log=$2
	shift 2
	_fa_bound=$(awk -v d="$DUR" 'BEGIN { printf "%d", d + 15 }')
	run_bounded "$_fa_bound" "$_fa_log" taskset -c "$CTL_CPU" "$FSB_FWD" "$@" \
		--forward-mode "$_fa_mode" --burst $BURST --total-num-mbufs $NB_MBUFS \
		--lcore-cpu "$DP_CPU" --duration "$DUR" --json
	_fa_rc=$?
	if [ $_fa_rc -ne 0 ]; then
		echo "fsb-fwd exited with status $_fa_rc" >>"$_fa_log.err"
		return 1
	fi
	case $_fa_mode in txonly) _fa_f=fwd_tx;; *) _fa_f=fwd_rx;; esac
	# No jq: the JSON is one line; take "field":number with sed.
	_fa_n=$(sed -n "s/.*\"$_fa_f\":\([0-9][0-9]*\).*/\1/p" "$_fa_log.out" | head -n 1)
	_fa_d=$(sed -n 's/.*"duration_s":\([0-9.][0-9.]*\).*/\1/p' "$_fa_log.out" | head -n 1)
	if [ -z "$_fa_n" ] || [ -z "$_fa_d" ]; then
		echo "no $_fa_f/duration_s in fsb-fwd's JSON" >>"$_fa_log.err"
		return 1
	fi
	arm_dur=$_fa_d
	arm_pps=$(awk -v n="$_fa_n" -v d="$_fa_d" 'BEGIN { if (n > 0 && d > 0) printf "%.0f", n / d }')
	[ -n "$arm_pps" ] || { echo "zero packets or duration" >>"$_fa_log.err"; return 1; }
}

# tpi_arm MODE LOG EAL [BEFORE [AFTER]]: testpmd -i with --lcores
# '0@CTL_CPU,1@DP_CPU', the EAL arguments EAL (one string, split on
# blanks), forward mode MODE on port 0 (LOG is $work/NAME, NAME a shell
# word: tpi_* keeps NAME.out, .err and .in in $VH_TMP = $work).
# "start", 0.3 s later "show port stats 0", DUR s later again, "stop",
# "quit".  BEFORE NAME LOG (a function) runs once testpmd is up, before
# "start"; AFTER NAME LOG right after the second show; either failing
# fails the arm.  Then checks that testpmd forwarded on exactly one
# port, port 0.  Returns 1 with the reason in LOG.why.  The pps is
# tpi_arm_pps's.
tpi_arm() {
	_ta_mode=$1 _ta_log=$2 _ta_eal=$3 _ta_before=${4:-} _ta_after=${5:-}
	_ta_name=$(basename "$_ta_log")
	TP_BOUND=$(awk -v d="$DUR" 'BEGIN { printf "%d", d + 30 }')
	if ! tpi_start "$_ta_name" "0@$CTL_CPU,1@$DP_CPU" "$_ta_eal" \
		--forward-mode="$_ta_mode" --burst=$BURST --nb-cores=1 --port-topology=loop 2>>"$_ta_log.why"; then
		tpi_stop "$_ta_name"
		return 1
	fi
	_ta_ok=1
	if [ -n "$_ta_before" ] && ! "$_ta_before" "$_ta_name" "$_ta_log"; then
		tpi_stop "$_ta_name"
		return 1
	fi
	tpi_cmd "$_ta_name" start &&
	vh_sleep 0.3 &&
	tpi_cmd "$_ta_name" "show port stats 0" &&
	vh_sleep "$DUR" &&
	tpi_cmd "$_ta_name" "show port stats 0" || _ta_ok=0
	if [ -n "$_ta_after" ] && ! "$_ta_after" "$_ta_name" "$_ta_log"; then
		tpi_stop "$_ta_name"
		return 1
	fi
	tpi_stop "$_ta_name" || _ta_ok=0
	if [ $_ta_ok = 0 ]; then
		echo "testpmd ended early or did not quit (see its output)" >>"$_ta_log.why"
		return 1
	fi
	# Same checks whatever the arm: exactly one forwarding port, port 0.
	grep -q 'packet forwarding - ports=1 ' "$_ta_log.out" &&
		grep -q 'RX P=0/Q=0 .*-> TX P=0/Q=0' "$_ta_log.out" || {
		echo "testpmd did not forward on exactly one port (port 0)" >>"$_ta_log.why"
		return 1
	}
}

# tpi_arm_pps MODE LOG: arm_pps = the second "show port stats 0"'s
# Throughput (since last show), Tx-pps for txonly, else Rx-pps; or
# returns 1 with the reason in LOG.why.
tpi_arm_pps() {
	case $1 in txonly) _tp_key=Tx;; *) _tp_key=Rx;; esac
	arm_pps=$(tpi_pps "$(basename "$2")" 0 "$_tp_key")
	case $arm_pps in
	''|0) echo "no $_tp_key-pps in the second 'show port stats 0' (${arm_pps:-none})" >>"$2.why"
		arm_pps=
		return 1 ;;
	esac
}

# ---- a pair ----

# bench_pair COMP I TOOL MODE A B: runs ${TOOL}_arm A MODE LOG and
# ${TOOL}_arm B MODE LOG, A first in odd pairs, B first in even ones; an
# arm function sets arm_pps and may set arm_note (appended to the
# progress line) and arm_info (words appended to the results line; B's
# are kept).  An arm that fails is run once more; when it fails twice
# the pair is counted in failures and left out.  Appends "COMP I FIRST
# PPS_A PPS_B [B's arm_info]" to $results.
bench_pair() {
	_bp_comp=$1 _bp_i=$2 _bp_tool=$3 _bp_m=$4 _bp_a=$5 _bp_b=$6
	if [ $((_bp_i % 2)) -eq 1 ]; then _bp_order="$_bp_a $_bp_b"; else _bp_order="$_bp_b $_bp_a"; fi
	_bp_pa='' _bp_pb='' _bp_ok=1 _bp_note='' _bp_info=''
	for _bp_arm in $_bp_order; do
		_bp_lg=$work/${_bp_comp}_${_bp_i}_$_bp_arm
		arm_pps=
		_bp_try=1
		while :; do
			arm_note='' arm_info=''
			if ${_bp_tool}_arm "$_bp_arm" "$_bp_m" "$_bp_lg"; then
				if [ "$_bp_arm" = "$_bp_a" ]; then
					_bp_pa=$arm_pps
				else
					_bp_pb=$arm_pps _bp_note=$arm_note _bp_info=$arm_info
				fi
				[ "$KEEP_LOGS" = 1 ] || rm -f "$_bp_lg.out" "$_bp_lg.err" "$_bp_lg.why" "$_bp_lg.poll" "$_bp_lg.poll.err"
				break
			fi
			say "$me: $_bp_comp pair $_bp_i: $_bp_arm arm FAILED (try $_bp_try), see $_bp_lg.out/.err:"
			tail -n 5 "$_bp_lg.why" "$_bp_lg.err" "$_bp_lg.out" "$_bp_lg.poll" "$_bp_lg.poll.err" 2>/dev/null | sed 's/^/    /' >&2
			retries=$((retries + 1))
			[ $_bp_try = 2 ] && { _bp_ok=0; break; }
			_bp_try=2
			for _bp_x in out err why poll poll.err; do mv "$_bp_lg.$_bp_x" "$_bp_lg.try1.$_bp_x" 2>/dev/null; done
		done
	done
	if [ $_bp_ok = 1 ]; then
		echo "$_bp_comp $_bp_i ${_bp_order%% *} $_bp_pa $_bp_pb${_bp_info:+ $_bp_info}" >>"$results"
		awk -v c="$_bp_comp" -v i="$_bp_i" -v n="$PAIRS" -v a="$_bp_pa" -v b="$_bp_pb" -v o="${_bp_order%% *}" \
		    -v na="$_bp_a" -v nb="$_bp_b" -v note="$_bp_note" 'BEGIN {
			printf "  %-7s pair %2d/%d (%-7s first): %s %7.2f Mpps, %s %7.2f Mpps, added %+7.3f ns/pkt%s\n",
				c, i, n, o, na, a / 1e6, nb, b / 1e6, 1e9 / b - 1e9 / a, note }' >&2
	else
		failures=$((failures + 1))
	fi
}

# ---- report ----

# BENCH_AWK: awk functions for the reports.
#   sort(a, n)     sorts a[0..n-1] in place
#   q(a, n, p)     quantile p of sorted a[0..n-1], linear interpolation
#                  (R type 7); 0 when n is 0
BENCH_AWK='
function sort(a, n,   i, j, t) {
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
}
function q(a, n, p,   h, lo) {
	if (n == 0) return 0
	h = (n - 1) * p; lo = int(h)
	return (lo + 1 < n) ? a[lo] + (h - lo) * (a[lo + 1] - a[lo]) : a[lo]
}
'
