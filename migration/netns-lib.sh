# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh
#
# netns-lib.sh - shell functions shared by the netns demo, the netns
# failover tests and tests/bench/failover.  Source it; it runs nothing.
#
# The topology (design.md §6, issue 5):
#
#     netns $DUT_NS (fsb-dut)              netns $PEER_NS (fsb-peer)
#     vfA  02:fb:00:00:00:0a  <--veth-->   vfB  02:fb:00:00:01:0a   the "vf"
#     sbA  02:fb:00:00:00:0b  <--veth-->   sbB  02:fb:00:00:01:0b   the standby
#
# The port under test runs in $DUT_NS on vfA/sbA; fsb-peer counts in
# $PEER_NS on vfB/sbB and listens to rtnetlink in $DUT_NS.  Deleting vfA
# deletes vfB with it; vf_add re-creates both, with the same addresses.
#
# Names: NS_SUFFIX (default empty) is appended to both netns names, so
# parallel runs do not collide (interface names are per netns).  Call
# ns_names after changing it.  IPv6 is disabled in both namespaces so
# the kernel sends no DAD/MLD/RS frames: every frame on vfB/sbB is the
# port's.
#
# Cleanup: ns_trap installs traps that kill the background processes
# started with ns_bg (by pid) and delete both namespaces.  ns_setup first
# deletes leftovers of a crashed run with the same names; a leftover
# process still inside one keeps only the old, now anonymous, netns
# alive, which does not disturb the new one.
#
# ifindex: the DUT-side interfaces get explicit ifindexes (sbA 50, each
# vf_add the next of 100, 101, ...: a re-created vf gets a new one, as a
# real VF does).  Reason: the kernel's linkwatch treats an operstate
# change as urgent only when ifindex != iflink (or the qdisc is
# changing).  In two fresh netns the two ends of a veth get the same
# ifindex, so the first carrier-up of a new veth is "not urgent" and
# linkwatch sends its RTM_NEWLINK up to 1 s late (measured: 0.5-1 s),
# which a real VF (carrier after open) does not suffer.
#
# Skips: ns_setup exits 77 only when `ip netns add` fails (not root, no
# netns support).  Anything failing after that is a failure, not a skip.

NS_SUFFIX=${NS_SUFFIX:-}
VF_MAC=02:fb:00:00:00:0a
SB_MAC=02:fb:00:00:00:0b
VFB_MAC=02:fb:00:00:01:0a
SBB_MAC=02:fb:00:00:01:0b
NS_PIDS=
NS_TMP=
NS_CLEANED=0
NS_IFX=100

ns_names() {
	DUT_NS="fsb-dut$NS_SUFFIX"
	PEER_NS="fsb-peer$NS_SUFFIX"
}
ns_names

# CPUs: the datapath alone on the last CPU, everything else on CPU 0
# (design.md §6, CPU placement).  One CPU: no pinning.
NS_NCPU=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc 2>/dev/null || echo 1)
if [ "$NS_NCPU" -gt 1 ]; then
	DP_CPU=${DP_CPU:-$((NS_NCPU - 1))}
	CTL_CPU=${CTL_CPU:-0}
	NS_PIN="taskset -c $CTL_CPU"
	NS_LCORE="--lcore-cpu $DP_CPU"
else
	DP_CPU=${DP_CPU:-0}
	CTL_CPU=${CTL_CPU:-0}
	NS_PIN=
	NS_LCORE=
fi

ns_skip() {
	echo "SKIP: $*"
	exit 77
}

ns_say() {
	echo "$*" >&2
}

# Seconds since the epoch with a fraction (GNU date).
now_s() {
	date +%s.%N
}

# sleep_until T: sleep until epoch time T (fractional); at once if past.
sleep_until() {
	_d=$(awk -v t="$1" -v n="$(now_s)" 'BEGIN { d = t - n; if (d < 0) d = 0; printf "%.3f", d }')
	# in the background + wait: a trapped ^C/TERM is handled at once,
	# not after the sleep
	[ "$_d" = 0.000 ] || { sleep "$_d" & wait $!; }
}

# add S1 S2: prints S1 + S2
fadd() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a + b }'
}

# ---- the tools ----

# Locate fsb-fwd and fsb-peer: FSB_FWD / FSB_PEER from the environment
# (make check sets FSB_FWD), else next to the build's fsb-fwd, else
# the tree's build/ directory.  Sets FSB_FWD and FSB_PEER or fails.
ns_find_tools() {
	_here=$(cd "$(dirname "$0")" && pwd)
	if [ -z "${FSB_FWD:-}" ]; then
		for _c in "${top_builddir:+$top_builddir/src/fsb-fwd}" \
			  "$_here/../build/src/fsb-fwd" "$_here/../../build/src/fsb-fwd" \
			  "$_here/../src/fsb-fwd" "$_here/../../src/fsb-fwd"; do
			[ -n "$_c" ] && [ -x "$_c" ] && [ -f "$_c" ] && { FSB_FWD=$_c; break; }
		done
	fi
	[ -n "${FSB_FWD:-}" ] || FSB_FWD=$(command -v fsb-fwd 2>/dev/null)
	if [ -z "${FSB_FWD:-}" ] || [ ! -x "$FSB_FWD" ]; then
		echo "error: fsb-fwd not found (build it, or set FSB_FWD)" >&2
		return 1
	fi
	if [ -z "${FSB_PEER:-}" ]; then
		_b=$(cd "$(dirname "$FSB_FWD")/.." 2>/dev/null && pwd)
		for _c in "${top_builddir:+$top_builddir/migration/fsb-peer}" \
			  "$_b/migration/fsb-peer" "$_here/../migration/fsb-peer" \
			  "$_here/../build/migration/fsb-peer"; do
			[ -n "$_c" ] && [ -x "$_c" ] && [ -f "$_c" ] && { FSB_PEER=$_c; break; }
		done
	fi
	if [ -z "${FSB_PEER:-}" ] || [ ! -x "$FSB_PEER" ]; then
		echo "error: fsb-peer not found (make migration/fsb-peer in the build directory, or set FSB_PEER)" >&2
		return 1
	fi
	command -v ip >/dev/null 2>&1 || { echo "error: 'ip' (iproute2) not found" >&2; return 1; }
	return 0
}

# ---- namespaces and links ----

# Delete our namespaces, tolerating their absence.
ns_del() {
	ip netns del "$DUT_NS" 2>/dev/null
	ip netns del "$PEER_NS" 2>/dev/null
	return 0
}

# ns_setup vf|novf: fresh namespaces with both pairs up, or only the
# standby pair.  Exit 77 only when a netns cannot be created.
ns_setup() {
	ns_del
	if ! _e=$(ip netns add "$DUT_NS" 2>&1); then
		ns_skip "cannot create a network namespace ($_e): needs root and netns support"
	fi
	NS_CLEANED=0
	NS_IFX=100
	ip netns add "$PEER_NS" || { echo "error: ip netns add $PEER_NS failed" >&2; return 1; }
	for _n in "$DUT_NS" "$PEER_NS"; do
		# shellcheck disable=SC2016
		ip netns exec "$_n" sh -c '
			for k in all default; do
				echo 1 >/proc/sys/net/ipv6/conf/$k/disable_ipv6
			done' 2>/dev/null
		ip -n "$_n" link set lo up
	done
	if ! { ip -n "$DUT_NS" link add sbA index 50 address "$SB_MAC" type veth \
			peer name sbB address "$SBB_MAC" netns "$PEER_NS" &&
	       ip -n "$PEER_NS" link set sbB up &&
	       ip -n "$DUT_NS" link set sbA up; }; then
		echo "error: cannot create the sbA/sbB veth pair" >&2
		return 1
	fi
	if [ "$1" = vf ]; then
		vf_add vfA "$VF_MAC" || return 1
	fi
	return 0
}

# vf_add NAME MAC: (re-)create the vf pair: NAME (e.g. vfA) in the DUT
# netns with MAC (e.g. $VF_MAC), vfB in the peer netns; both
# up; NAME gets the next DUT ifindex (see above).  The DUT side is set up last: its RTM_NEWLINK comes first, its
# carrier-up one `ip` run later.
vf_add() {
	_name=$1 _mac=$2
	if ! { ip -n "$DUT_NS" link add "$_name" index "$NS_IFX" address "$_mac" type veth \
			peer name vfB address "$VFB_MAC" netns "$PEER_NS" &&
	       NS_IFX=$((NS_IFX + 1)) &&
	       ip -n "$PEER_NS" link set vfB up &&
	       ip -n "$DUT_NS" link set "$_name" up; }; then
		echo "error: cannot create the $_name/vfB veth pair" >&2
		return 1
	fi
}

# vf_del NAME: delete NAME (e.g. vfA), and vfB with it.
vf_del() {
	ip -n "$DUT_NS" link del "$1"
}

# vf_carrier_down / vf_carrier_up: vfB down/up; vfA loses/regains its
# carrier (IFF_RUNNING) while staying admin up.
vf_carrier_down() {
	ip -n "$PEER_NS" link set vfB down
}
vf_carrier_up() {
	ip -n "$PEER_NS" link set vfB up
}

# vf_rename OLD NEW: down, rename, up (a veth cannot be renamed while up).
vf_rename() {
	ip -n "$DUT_NS" link set "$1" down &&
	ip -n "$DUT_NS" link set "$1" name "$2" &&
	ip -n "$DUT_NS" link set "$2" up
}

# sb_to_root NAME: move the standby's near end sbA from the DUT netns to
# the root netns as NAME (<= 15 characters), IPv6 off (no router
# solicitations among the counted frames), up.  There a DPDK testpmd
# net_af_packet port sends the frames its net_vhost port received from
# our virtio_user standby on to sbB, where fsb-peer counts them: the
# vhost-user standby path seen from outside.  Delete NAME to undo (sbB
# goes with it).
sb_to_root() {
	ip link del "$1" 2>/dev/null
	ip -n "$DUT_NS" link set sbA netns 1 &&
	ip link set sbA name "$1" &&
	{ sysctl -qw "net.ipv6.conf.$1.disable_ipv6=1" 2>/dev/null || :; } &&
	ip link set "$1" up
}

# ---- background processes and cleanup ----

# ns_bg OUT ERR CMD...: run CMD in the background with stdin from
# /dev/null; NS_BG_PID is its pid (also remembered for cleanup).
ns_bg() {
	_o=$1 _e=$2
	shift 2
	"$@" </dev/null >"$_o" 2>"$_e" &
	NS_BG_PID=$!
	NS_PIDS="$NS_PIDS $NS_BG_PID"
}

# ns_reap PID: wait for PID and forget it; returns its status.
ns_reap() {
	wait "$1"
	_rc=$?
	_np=
	for _p in $NS_PIDS; do [ "$_p" = "$1" ] || _np="$_np $_p"; done
	NS_PIDS=$_np
	return $_rc
}

# ns_stop PID: SIGINT, then wait (bounded by the tool's own timeout).
ns_stop() {
	kill -INT "$1" 2>/dev/null
	ns_reap "$1"
}

# ns_kill_all: SIGINT every process ns_bg started, SIGKILL what is still
# there 3 s later, and reap them all.
ns_kill_all() {
	for _p in $NS_PIDS; do
		kill -INT "$_p" 2>/dev/null
	done
	for _p in $NS_PIDS; do
		_i=0
		while kill -0 "$_p" 2>/dev/null && [ $_i -lt 30 ]; do
			sleep 0.1
			_i=$((_i + 1))
		done
		kill -KILL "$_p" 2>/dev/null
		wait "$_p" 2>/dev/null
	done
	NS_PIDS=
}

ns_cleanup() {
	[ "$NS_CLEANED" = 1 ] && return 0
	NS_CLEANED=1
	ns_kill_all
	ns_del
	if [ -n "$NS_TMP" ] && [ "${KEEP_LOGS:-0}" != 1 ]; then
		rm -rf "$NS_TMP"
	fi
	return 0
}

# ns_trap: cleanup on exit and on ^C/TERM/HUP; makes NS_TMP.
ns_trap() {
	NS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/fsb-netns.XXXXXX") || exit 1
	trap 'ns_cleanup' EXIT
	trap 'ns_cleanup; exit 130' INT TERM HUP
}

# wait_line FILE REGEX TIMEOUT_S [PID]: wait until a line of FILE
# matches REGEX (grep -E); fails on timeout or when PID has exited.
wait_line() {
	_end=$(fadd "$(now_s)" "$3")
	while ! grep -Eq "$2" "$1" 2>/dev/null; do
		if [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null; then
			grep -Eq "$2" "$1" 2>/dev/null && return 0
			return 1
		fi
		awk -v e="$_end" -v n="$(now_s)" 'BEGIN { exit !(n > e) }' && return 1
		sleep 0.02
	done
	return 0
}

# peer_start BASE DURATION WATCH-IF... : fsb-peer on vfB and sbB in
# the peer netns, watching the given interfaces in the DUT netns;
# JSON to BASE.json, live lines to BASE.err.  Waits for "ready".
peer_start() {
	_ps_base=$1 _ps_dur=$2
	shift 2
	_ps_w=
	for _ps_x in "$@"; do _ps_w="$_ps_w --watch $_ps_x"; done
	# shellcheck disable=SC2086
	ns_bg "$_ps_base.json" "$_ps_base.err" $NS_PIN "$FSB_PEER" --ns "$PEER_NS" \
		--iface vfB --iface sbB --watch-ns "$DUT_NS" $_ps_w \
		--duration "$_ps_dur" --json
	PEER_PID=$NS_BG_PID
	wait_line "$_ps_base.err" '^fsb-peer: ready' 5 "$PEER_PID" || {
		echo "error: fsb-peer did not start:" >&2
		sed 's/^/  | /' "$_ps_base.err" >&2
		return 1
	}
}

# fwd_start BASE SPEC DURATION [EXTRA fsb-fwd ARGS]: fsb-fwd txonly at
# $RATE pps in the DUT netns, its datapath thread alone on $DP_CPU and
# its other threads (main, control) on $CTL_CPU, as bench/overhead
# does (design.md §6, CPU placement); JSON to BASE.json, human
# lines and EVENTs to BASE.err.  FWD_T0 = the epoch time it was started.
fwd_start() {
	_fs_base=$1 _fs_spec=$2 _fs_dur=$3
	shift 3
	_fs_bound=$(awk -v d="$_fs_dur" 'BEGIN { printf "%d", d + 20 }')
	# shellcheck disable=SC2034  # for the caller
	FWD_T0=$(now_s)
	# shellcheck disable=SC2086
	ns_bg "$_fs_base.json" "$_fs_base.err" ip netns exec "$DUT_NS" \
		timeout -s INT -k 5 "$_fs_bound" $NS_PIN "$FSB_FWD" --port "$_fs_spec" \
		--forward-mode txonly --tx-rate "${RATE:-200000}" $NS_LCORE \
		--duration "$_fs_dur" --json "$@"
	# shellcheck disable=SC2034  # for the caller
	FWD_PID=$NS_BG_PID
}

# ---- reading fsb-peer's JSON (awk, no jq) ----
#
# fsb-peer prints one JSON object, one array element per line: a line
# per iface ({"name":...), per event ({"t_us":...,"type":...) and per
# path change; the "seq" object on one line.  PJ_AWK has the helpers:
#   jval(s, key)   value of "key": in s (number, null, bool, or the
#                  string without quotes); "" if absent
#   jobj(s, key)   the flat {...} object after "key":
#   jarr(s, key, a) splits the flat [...] array after "key": into a[1..n]
PJ_AWK='
function jval(s, key,   i, r) {
	i = index(s, "\"" key "\":")
	if (!i) return ""
	r = substr(s, i + length(key) + 3)
	if (substr(r, 1, 1) == "\"") { r = substr(r, 2); return substr(r, 1, index(r, "\"") - 1) }
	match(r, /^[^,}\]]*/)
	return substr(r, 1, RLENGTH)
}
function jobj(s, key,   i, r) {
	i = index(s, "\"" key "\":{")
	if (!i) return ""
	r = substr(s, i + length(key) + 3)
	return substr(r, 1, index(r, "}"))
}
function jarr(s, key, a,   i, r) {
	i = index(s, "\"" key "\":[")
	if (!i) return 0
	r = substr(s, i + length(key) + 4)
	r = substr(r, 1, index(r, "]") - 1)
	return split(r, a, ",")
}
'

# pj_iface FILE IFACE KEY: a field of an iface line.
pj_iface() {
	awk -v n="$2" -v k="$3" "$PJ_AWK"'
		index($0, "{\"name\":\"" n "\"") == 1 { print jval($0, k); exit }' "$1"
}

# pj_seq FILE KEY: a field of the "seq" object.
pj_seq() {
	awk -v k="$2" "$PJ_AWK"'
		index($0, "\"seq\":{") == 1 { print jval(jobj($0, "seq"), k); exit }' "$1"
}

# pj_top FILE KEY: a top-level field (first lines).
pj_top() {
	awk -v k="$2" "$PJ_AWK"'
		{ v = jval($0, k); if (v != "") { print v; exit } }' "$1"
}

# pj_event FILE TYPE IFNAME NTH KEY [SUBKEY]: field KEY (or KEY.SUBKEY,
# e.g. first_fsb_us sbB) of the NTH (1-based) event TYPE of IFNAME;
# "" when there is no such event.
pj_event() {
	awk -v t="$2" -v n="$3" -v nth="$4" -v k="$5" -v sk="${6:-}" "$PJ_AWK"'
		index($0, "{\"t_us\":") == 1 && jval($0, "type") == t && jval($0, "ifname") == n {
			if (++c == nth) { print (sk == "" ? jval($0, k) : jval(jobj($0, k), sk)); exit }
		}' "$1"
}

# pj_event_after FILE A-TYPE A-IF TYPE IFNAME KEY [SUBKEY]: like
# pj_event, for the first TYPE event of IFNAME after the first A-TYPE
# event of A-IF (e.g. the carrier-up that follows a newlink).
pj_event_after() {
	awk -v at="$2" -v an="$3" -v t="$4" -v n="$5" -v k="$6" -v sk="${7:-}" "$PJ_AWK"'
		index($0, "{\"t_us\":") == 1 {
			ty = jval($0, "type"); nm = jval($0, "ifname")
			if (on && ty == t && nm == n) { print (sk == "" ? jval($0, k) : jval(jobj($0, k), sk)); exit }
			if (ty == at && nm == an) on = 1
		}' "$1"
}

# pj_event_last FILE TYPE IFNAME KEY [SUBKEY]: like pj_event, for the
# last TYPE event of IFNAME.
pj_event_last() {
	awk -v t="$2" -v n="$3" -v k="$4" -v sk="${5:-}" "$PJ_AWK"'
		index($0, "{\"t_us\":") == 1 && jval($0, "type") == t && jval($0, "ifname") == n {
			v = (sk == "" ? jval($0, k) : jval(jobj($0, k), sk)); got = 1
		}
		END { if (got) print v }' "$1"
}

# pj_lost_between FILE FROM-TYPE FROM-IF TO-TYPE TO-IF: the seq numbers
# lost "after" every event from the first FROM event (included) to the
# first TO event after it (excluded; to the end if there is none).
pj_lost_between() {
	awk -v ft="$2" -v fi="$3" -v tt="$4" -v ti="$5" "$PJ_AWK"'
		index($0, "{\"t_us\":") == 1 {
			ty = jval($0, "type"); n = jval($0, "ifname")
			if (on && ty == tt && n == ti) on = 0
			if (!on && !done && ty == ft && n == fi) { on = 1; done = 1 }
			if (on) s += jval($0, "lost_after")
		}
		END { print s + 0 }' "$1"
}

# pj_count FILE TYPE IFNAME: how many TYPE events of IFNAME.
pj_count() {
	awk -v t="$2" -v n="$3" "$PJ_AWK"'
		index($0, "{\"t_us\":") == 1 && jval($0, "type") == t && (n == "" || jval($0, "ifname") == n) { c++ }
		END { print c + 0 }' "$1"
}

# pj_pps FILE IFACE FROM_S TO_S: mean pps of IFACE over the 100 ms
# buckets that lie wholly inside [FROM_S, TO_S] (fsb-peer's clock).
pj_pps() {
	awk -v n="$2" -v a="$3" -v b="$4" "$PJ_AWK"'
		index($0, "{\"name\":\"" n "\"") == 1 {
			m = jarr($0, "buckets", bk)
			w = 0.1; s = 0; c = 0
			for (i = 1; i <= m; i++) {
				lo = (i - 1) * w; hi = i * w
				if (lo >= a - 1e-9 && hi <= b + 1e-9) { s += bk[i]; c++ }
			}
			if (c) printf "%.0f\n", s / (c * w); else print "null"
			exit
		}' "$1"
}

# fwd_json FILE KEY: the first value of KEY in fsb-fwd's JSON.
fwd_json() {
	awk -v k="$2" "$PJ_AWK"'{ v = jval($0, k); if (v != "") { print v; exit } }' "$1"
}

# fwd_active_changes FILE: EVENT active-change lines from one slot to
# another (the start, "none -> slot 0", is not a change).
fwd_active_changes() {
	grep -c 'EVENT [0-9.]* active-change: .*tx slot [0-9]* -> slot [0-9]*' "$1" 2>/dev/null
}
