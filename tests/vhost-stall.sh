#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# vhost-stall.sh - a backend that stops consuming without closing: the
# TX stall watchdog fails over, and hold-down brings TX back once the
# backend consumes again.
#
# The primary is our virtio_user frontend talking to DPDK testpmd
# (net_vhost, interactive: -i) in the root netns, which forwards (io)
# what it receives to a net_af_packet port on the standby veth's near
# end, so the primary's frames reach sbB; the standby is a kernel "VF"
# (af_packet on vfA), whose frames reach vfB:
#
#   fsb0,hold_down=200,dev(virtio_user,path=SOCK),dev(af_packet,iface=vfA)
#
# fsb-fwd runs txonly at $RATE pps in netns fsb-dut-vst<pid>; fsb-peer
# counts on vfB and sbB.  Each run: once frames flow on sbB, testpmd is
# told "stop" (it stops polling; the socket stays open, as a switch that
# removes a port does for up to a second), and 1.5 s later "start".
# Judged from outside (fsb-peer's sequence numbers and receive times):
#   - TX moves to the standby: fsb-peer's path change sbB -> vfB, whose
#     gap (the primary's last frame to the standby's first) is at most
#     stall_ms + 1 s (a generous bound: the watchdog's own figure is
#     stall_ms + 10 ms and the rest is the machine);
#   - after "start" it comes back: path change vfB -> sbB, and fsb-fwd's
#     active-change back to slot 0 comes >= hold_down after slot 0's
#     link-up;
#   - the frames lost (sequence numbers never seen) are at most one ring
#     (queue_size 512: what the stalled ring held; testpmd flushes its
#     queues at "start"), and none is seen twice; a last run with
#     testpmd --no-flush-rx loses none: the ring's frames arrive late;
#   - fsb-fwd reports the failover with reason stalled (EVENT line and
#     the switch_reason_stalled xstat), exit 0.
# RUNS=N repeats the scenario and prints the medians (the closing-note
# figure: RUNS=5).
#
#   sh tests/vhost-stall.sh        (as root)
# Exit: 0 passed, 1 failed, 77 no testpmd or no netns.
set -u
LC_ALL=C
export LC_ALL
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC2034  # read by netns-lib.sh
NS_SUFFIX=-vst$$
# shellcheck source=tests/netns-lib.sh
. "$here/netns-lib.sh"
# shellcheck source=tests/vhost-lib.sh
. "$here/vhost-lib.sh"

vh_find_tools
ns_find_tools || exit 1
vh_init
VH_EXTRA_CLEANUP=ns_cleanup
RATE=${RATE:-20000}
RUNS=${RUNS:-1}
HOLD=200
STALL=${STALL:-50}
QSIZE=512

ns_setup vf || exit 1
TP_IF=fsbst$$
VH_EXTRA_CLEANUP='ip link del "$TP_IF" 2>/dev/null; ns_cleanup'
sb_to_root "$TP_IF" || { vh_fail "cannot move sbA to the root netns as $TP_IF"; vh_finish; exit 1; }
S=$VH_TMP/st.sock

# one_run N [--no-flush-rx]: one stop/start cycle; appends "gap_ms
# back_ms lost" to $VH_TMP/figures.  testpmd drops what its queues hold
# at "start" unless told --no-flush-rx: then the frames the stalled ring
# held are forwarded late, and none may be lost (or seen twice).
one_run() {
	_r=$1 _nf=${2:-}
	rm -f "$S"
	# shellcheck disable=SC2086  # _nf is one optional argument
	tpi_start "be$_r" "0@$VH_TP_CPU,1@$VH_TP_CPU" \
		"--vdev net_vhost0,iface=$S,queues=1 --vdev net_af_packet0,iface=$TP_IF" \
		--forward-mode=io $_nf ||
		{ vh_fail "run $_r: testpmd did not start"; return 1; }
	# (its output is a file, block-buffered: the first frame on sbB
	# below says that it forwards)
	tpi_cmd "be$_r" start || { vh_fail "run $_r: testpmd did not take 'start'"; tpi_stop "be$_r"; return 1; }
	peer_start "$VH_TMP/peer$_r" 60 vfA || { vh_fail "run $_r: fsb-peer did not start"; tpi_stop "be$_r"; return 1; }
	SPEC="fsb0,hold_down=$HOLD,stall_ms=$STALL,dev(virtio_user,path=$S,queue_size=$QSIZE),dev(af_packet,iface=vfA)"
	VH_NETNS=$DUT_NS fwd_run_bg "fwd$_r" 60 --port "$SPEC" --forward-mode txonly \
		--tx-rate "$RATE" --stats-period 1 --no-telemetry
	why=
	wait_line "$VH_TMP/peer$_r.err" '^FIRST .* sbB$' 15 "$FWD_PID" || why="$why no frame on sbB (the primary, via testpmd) within 15 s;"
	vh_sleep 1
	tpi_cmd "be$_r" stop || why="$why testpmd did not take 'stop';"
	# 1.5 s stopped: the watchdog moves TX within stall_ms
	vh_sleep 1.5
	tpi_cmd "be$_r" start || why="$why testpmd did not take 'start';"
	# back after hold-down; 1.5 s more to see it
	wait_line "$VH_TMP/fwd$_r.err" 'EVENT .*active-change: .*slot 1 -> slot 0' 10 "$FWD_PID" ||
		why="$why no active-change back to slot 0 within 10 s of 'start';"
	vh_sleep 1
	kill -INT "$FWD_PID" 2>/dev/null
	ns_reap "$FWD_PID"
	rc=$?
	vh_sleep 0.3
	ns_stop "$PEER_PID"
	tpi_stop "be$_r"
	P=$VH_TMP/peer$_r.json
	E=$VH_TMP/fwd$_r.err
	[ "$rc" = 0 ] || why="$why fsb-fwd exit $rc;"
	# fsb-peer's path changes: {"at_us":..,"from":"sbB","to":"vfB","gap_us":..}
	gap=$(awk -v f=sbB -v t=vfB "$PJ_AWK"'
		index($0, "{\"at_us\":") == 1 && jval($0, "from") == f && jval($0, "to") == t {
			printf "%.1f\n", jval($0, "gap_us") / 1000; exit }' "$P")
	back_at=$(awk -v f=vfB -v t=sbB "$PJ_AWK"'
		index($0, "{\"at_us\":") == 1 && jval($0, "from") == f && jval($0, "to") == t {
			print jval($0, "at_us"); exit }' "$P")
	lost=$(pj_seq "$P" lost)
	dups=$(pj_seq "$P" dups)
	case $gap in
	''|null) why="$why fsb-peer saw no path change from sbB to vfB (no failover seen from outside);" ;;
	*) awk -v g="$gap" -v s="$STALL" 'BEGIN { exit !(g > s + 1000) }' &&
		why="$why the failover took $gap ms from the primary's last frame (want <= stall_ms + 1000);" ;;
	esac
	case $back_at in ''|null) why="$why fsb-peer saw no path change back to sbB after 'start';" ;; esac
	case $lost in
	''|null) why="$why fsb-peer reported no loss figure;" ;;
	*) [ "$lost" -le "$QSIZE" ] || why="$why $lost frames lost, more than one ring ($QSIZE);"
	   [ -z "$_nf" ] || [ "$lost" = 0 ] || why="$why $lost frames lost although testpmd kept what the ring held (--no-flush-rx);" ;;
	esac
	[ "${dups:-0}" = 0 ] || why="$why $dups frames seen twice;"
	# fsb-fwd's own account: the reason, and hold-down on the way back
	grep -q 'EVENT .*active-change: .*slot 0 -> slot 1.*stalled' "$E" ||
		why="$why no active-change to slot 1 with reason stalled;"
	st=$(fwd_val "fwd$_r" switch_reason_stalled)
	case $st in ''|0|null) why="$why xstat switch_reason_stalled is '${st:-}';" ;; esac
	t_back=$(awk '/EVENT .*active-change: .*slot 1 -> slot 0/ { print $2; exit }' "$E")
	t_up=$(awk -v b="${t_back:-0}" '/EVENT .*slot 0: link up/ && $2 <= b { t = $2 } END { print t }' "$E")
	back_ms=
	if [ -n "$t_up" ] && [ -n "$t_back" ]; then
		back_ms=$(awk -v a="$t_up" -v b="$t_back" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
		awk -v x="$back_ms" -v h="$HOLD" 'BEGIN { exit !(x < h - 1) }' &&
			why="$why TX came back $back_ms ms after slot 0's link-up (hold_down $HOLD);"
	else
		why="$why no 'slot 0 link up' or no return EVENT line;"
	fi
	unsent=$(sed -n 's/.*: \([0-9]*\) tx frames the vhost-user backend never took.*/\1/p' "$E" | head -n 1)
	if [ -z "$why" ]; then
		vh_ok "run $_r${_nf:+ ($_nf)}: testpmd 'stop' -> TX on the standby after $gap ms (from the primary's last frame; stall_ms $STALL); 'start' -> back $back_ms ms after the link-up (hold_down $HOLD); lost $lost (a ring is $QSIZE), duplicates 0${unsent:+, $unsent dropped at a reset}"
		grep -E 'EVENT .*(active-change|slot 0: link)|stalled|never took' "$E" | sed 's/^/    /'
		[ -n "$_nf" ] || echo "$gap $back_ms $lost" >>"$VH_TMP/figures"
	else
		vh_fail "run $_r:$why"
		vh_dump "fwd$_r" "be$_r"
		tail -n 20 "$VH_TMP/peer$_r.err" | sed 's/^/  | /'
	fi
}

r=1
while [ "$r" -le "$RUNS" ]; do
	one_run "$r"
	r=$((r + 1))
done
# and once with testpmd keeping its queues: the ring's frames come late
one_run nf --no-flush-rx
if [ "$RUNS" -gt 1 ] && [ -s "$VH_TMP/figures" ]; then
	med() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
	n=$(wc -l <"$VH_TMP/figures")
	echo "medians over $n runs: failover $(cut -d' ' -f1 "$VH_TMP/figures" | med) ms," \
		"back after link-up $(cut -d' ' -f2 "$VH_TMP/figures" | med) ms," \
		"lost $(cut -d' ' -f3 "$VH_TMP/figures" | med) (max $(cut -d' ' -f3 "$VH_TMP/figures" | sort -n | tail -n 1))"
fi
vh_finish
