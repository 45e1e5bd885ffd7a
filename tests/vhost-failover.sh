#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# vhost-failover.sh - failover end to end onto a vhost-user standby
# (issue 6): the primary is a kernel "VF" (veth vfA in a netns, the
# af_packet kind), the standby our virtio_user frontend talking to DPDK
# testpmd net_vhost in the root netns:
#
#   fsb0,hold_down=200,dev(af_packet,iface=vfA),dev(virtio_user,path=SOCK)
#
# testpmd forwards (io) what its net_vhost port receives to a
# net_af_packet port on the standby veth's near end (moved to the root
# netns, as in the README demo), so the standby's frames reach sbB.
# fsb-fwd runs txonly at $RATE pps for 8 s (longer when the kernel is
# slow to carry out an action) in netns fsb-dut-vht<pid>;
# fsb-peer counts on vfB (the primary's peer) and sbB (the standby's) in
# fsb-peer-vht<pid>; at ~2.5 s vfA is deleted, at ~5 s re-created.
#
# Everything is judged from what does not lag under load: the kernel's
# receive timestamps and the sequence numbers fsb-peer sees, the
# rtnetlink events its own listener stamps on the same clock, and
# testpmd's final counts.  (testpmd's once-a-second print lagged by more
# than a second while other tests shared the two CPUs, and a check that
# read it failed although the switch-back was on time.)
#   - before vfA's removal no frame reached sbB: TX was on the primary;
#   - after the removal frames reach sbB, at >= RATE/10 pps while vfA
#     is gone (a generous bound: the standby carries the traffic);
#   - after vfA's RTM_NEWLINK frames reach vfB again, and the last frame
#     on sbB comes no later than 100 ms after the first one back on vfB
#     (frames still in testpmd's rings), none later;
#   - testpmd's final count of frames from our standby covers what sbB
#     saw of ours;
#   - fsb-fwd reports TX moving to slot 1 and back to slot 0, exit 0.
#
#   sh tests/vhost-failover.sh        (as root)
# Exit: 0 passed, 1 failed, 77 no testpmd or no netns.
set -u
LC_ALL=C
export LC_ALL
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC2034  # read by netns-lib.sh
NS_SUFFIX=-vht$$
# shellcheck source=tests/netns-lib.sh
. "$here/netns-lib.sh"
# shellcheck source=tests/vhost-lib.sh
. "$here/vhost-lib.sh"

vh_find_tools
ns_find_tools || exit 1
vh_init
VH_EXTRA_CLEANUP=ns_cleanup
RATE=${RATE:-200000}
HOLD=200

ns_setup vf || exit 1
TP_IF=fsbvf$$
VH_EXTRA_CLEANUP='ip link del "$TP_IF" 2>/dev/null; ns_cleanup'
sb_to_root "$TP_IF" || { vh_fail "cannot move sbA to the root netns as $TP_IF"; vh_finish; exit 1; }
S=$VH_TMP/fo.sock
rm -f "$S"
TP_EAL="--vdev net_af_packet0,iface=$TP_IF" \
	tp_start fo_be "net_vhost0,iface=$S,queues=1" io "$VH_TP_CPU" ||
	{ vh_fail "backend did not start"; vh_finish; exit 1; }
peer_start "$VH_TMP/peer" 120 vfA || { vh_fail "fsb-peer did not start"; vh_finish; exit 1; }
SPEC="fsb0,hold_down=$HOLD,dev(af_packet,iface=vfA),dev(virtio_user,path=$S)"
t0=$(now_s)
# fsb-fwd runs until we stop it: at 8 s, or 1.5 s after the last action
# finished when the kernel was slow to carry it out (an `ip link add`
# took 3.8 s while other tests tore namespaces down)
VH_NETNS=$DUT_NS fwd_run_bg fo_fwd 90 --port "$SPEC" --forward-mode txonly \
	--tx-rate "$RATE" --stats-period 1
at() { sleep_until "$(fadd "$t0" "$1")"; }
why=
wait_line "$VH_TMP/peer.err" '^FIRST .* vfB$' 10 "$FWD_PID" || why="$why no frame on vfB within 10 s;"
# the standby's session is up before the deletion (else the test would
# measure a reconnect, not a failover)
wait_line "$VH_TMP/fo_fwd.err" 'EVENT .*slot 1.*(started|link up)' 5 "$FWD_PID" ||
	vh_say "note: no 'slot 1 started/link up' EVENT seen before the deletion"
at 2.5
vf_del vfA || why="$why ip link del vfA failed;"
at 5.0
vf_add vfA "$VF_MAC" || why="$why re-creating vfA failed;"
t_done=$(now_s)
t_end=$(fadd "$t0" 8)
awk -v a="$t_end" -v b="$(fadd "$t_done" 1.5)" 'BEGIN { exit !(b > a) }' && t_end=$(fadd "$t_done" 1.5)
sleep_until "$t_end"
kill -INT "$FWD_PID" 2>/dev/null
ns_reap "$FWD_PID"
rc=$?
vh_sleep 0.3
ns_stop "$PEER_PID"
tp_settle
tp_stop fo_be
tp_rx=$(tp_port fo_be 0 RX)
[ -n "$tp_rx" ] || tp_rx=$(tp_count fo_be RX)

# fsb-peer's view, one clock (its JSON: t_us of events, *_fsb_us of
# frames, from its start)
P=$VH_TMP/peer.json
t_rm=$(pj_event "$P" dellink vfA 1 t_us)
t_new=$(pj_event "$P" newlink vfA 1 t_us)
sb_first=$(pj_iface "$P" sbB first_fsb_us)
sb_last=$(pj_iface "$P" sbB last_fsb_us)
sb_frames=$(pj_iface "$P" sbB fsb_frames)
over=$(pj_event "$P" dellink vfA 1 first_fsb_us sbB)
back=$(pj_event "$P" newlink vfA 1 first_fsb_us vfB)
lost=$(pj_seq "$P" lost)
[ "$rc" = 0 ] || why="$why fsb-fwd exit $rc;"
case "$t_rm$t_new" in *null*|'') t_rm= ;; esac
if [ -z "$t_rm" ] || [ -z "$t_new" ]; then
	why="$why fsb-peer saw no RTM_DELLINK or no RTM_NEWLINK of vfA;"
else
	# first sbB frame relative to the removal; the carrier-down that
	# `ip link del` sends just before its DELLINK may come first
	t_rm0=$(pj_event "$P" carrier-down vfA 1 t_us)
	case $t_rm0 in ''|null) t_rm0=$t_rm ;; esac
	case $sb_first in
	''|null) why="$why no frame of ours reached sbB (the standby) at all;" ;;
	*) awk -v f="$sb_first" -v r="$t_rm0" 'BEGIN { exit !(f < r) }' &&
		why="$why a frame reached sbB $(awk -v f="$sb_first" -v r="$t_rm0" 'BEGIN { printf "%.1f", (r - f) / 1000 }') ms before vfA's removal (TX was not on the primary);" ;;
	esac
	case $over in ''|null) why="$why no frame on sbB after vfA's RTM_DELLINK;" ;; esac
	# pps on sbB while vfA was gone: 100 ms buckets from 0.2 s after the
	# DELLINK to 0.1 s before the NEWLINK
	during=$(pj_pps "$P" sbB "$(awk -v t="$t_rm" 'BEGIN { printf "%.3f", t / 1e6 + 0.2 }')" \
		"$(awk -v t="$t_new" 'BEGIN { printf "%.3f", t / 1e6 - 0.1 }')")
	case $during in ''|null) during=0 ;; esac
	[ "$during" -ge $((RATE / 10)) ] || why="$why sbB saw $during pps while vfA was gone (want >= $((RATE / 10)));"
	case $back in
	''|null) why="$why no frame on vfB after vfA came back;" ;;
	*)	# the last frame on the standby vs the first back on vfB
		late=$(awk -v l="$sb_last" -v n="$t_new" -v b="$back" 'BEGIN { printf "%.1f", (l - (n + b)) / 1000 }')
		awk -v x="$late" 'BEGIN { exit !(x > 100) }' &&
			why="$why sbB still received frames $late ms after the first frame back on vfB;" ;;
	esac
fi
case $tp_rx in
''|*[!0-9]*) why="$why testpmd printed no count of what it received;" ;;
*) [ "$tp_rx" -ge "${sb_frames:-0}" ] && [ "$tp_rx" -gt 0 ] ||
	why="$why testpmd received $tp_rx frames from our standby but sbB saw ${sb_frames:-?} of ours;" ;;
esac
to1=$(grep -c 'EVENT .*active-change: .*-> slot 1' "$VH_TMP/fo_fwd.err")
to0=$(grep -c 'EVENT .*active-change: .*slot 1 -> slot 0' "$VH_TMP/fo_fwd.err")
[ "$to1" -ge 1 ] && [ "$to0" -ge 1 ] || why="$why active-change events: $to1 to slot 1, $to0 back to slot 0;"
if [ -z "$why" ]; then
	vh_ok "failover onto vhost-user: sbB (via testpmd) got its first frame $(awk -v u="$over" 'BEGIN { printf "%.3f", u / 1000 }') ms after vfA's RTM_DELLINK, $during pps while vfA was gone, its last at $late ms from the first frame back on vfB, which came $(awk -v u="$back" 'BEGIN { printf "%.1f", u / 1000 }') ms after the NEWLINK (hold_down $HOLD); testpmd received $tp_rx, sbB saw $sb_frames of ours; $lost lost in all"
	grep -E 'EVENT .*active-change' "$VH_TMP/fo_fwd.err" | sed 's/^/    /'
else
	vh_fail "failover:$why"
	vh_dump fo_fwd fo_be
	tail -n 20 "$VH_TMP/peer.err" | sed 's/^/  | /'
fi
vh_finish
