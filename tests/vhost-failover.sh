#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# vhost-failover.sh - failover end to end onto a vhost-user standby
# (issue 6): the primary is a kernel "VF" (veth vfA in a netns, the
# af_packet kind), the standby our virtio_user frontend talking to DPDK
# testpmd net_vhost (rxonly) in the root netns:
#
#   fsb0,hold_down=200,dev(af_packet,iface=vfA),dev(virtio_user,path=SOCK)
#
# fsb-fwd runs txonly at $RATE pps for 8 s in netns fsb-dut-vht<pid>;
# fsb-peer counts on vfB (the primary's peer) in fsb-peer-vht<pid>; at
# ~2.5 s vfA is deleted, at ~5 s re-created.  Counted from outside:
#   - before the deletion testpmd receives (almost) nothing: TX is on
#     the primary;
#   - between the deletion and the re-creation testpmd's RX-packets
#     grow by at least half of what 1.5 s of traffic is (its stats are
#     printed once a second);
#   - after the re-creation frames reach vfB again (fsb-peer, first
#     frame after vfA's RTM_NEWLINK), and testpmd's count stops growing;
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
S=$VH_TMP/fo.sock
rm -f "$S"
tp_start fo_be "net_vhost0,iface=$S,queues=1" rxonly "$VH_TP_CPU" || { vh_fail "backend did not start"; vh_finish; exit 1; }
peer_start "$VH_TMP/peer" 30 vfA || { vh_fail "fsb-peer did not start"; vh_finish; exit 1; }
SPEC="fsb0,hold_down=$HOLD,dev(af_packet,iface=vfA),dev(virtio_user,path=$S)"
t0=$(now_s)
VH_NETNS=$DUT_NS fwd_run_bg fo_fwd 40 --port "$SPEC" --forward-mode txonly \
	--tx-rate "$RATE" --duration 8 --stats-period 1
at() { sleep_until "$(fadd "$t0" "$1")"; }
why=
wait_line "$VH_TMP/peer.err" '^FIRST .* vfB$' 10 "$FWD_PID" || why="$why no frame on vfB within 10 s;"
# the standby's session is up before the deletion (else the test would
# measure a reconnect, not a failover)
wait_line "$VH_TMP/fo_fwd.err" 'EVENT .*slot 1.*(started|link up)' 5 "$FWD_PID" ||
	vh_say "note: no 'slot 1 started/link up' EVENT seen before the deletion"
at 2.5
rx_before=$(tp_last fo_be RX)
vf_del vfA || why="$why ip link del vfA failed;"
at 5.0
rx_during=$(tp_last fo_be RX)
vf_add vfA "$VF_MAC" || why="$why re-creating vfA failed;"
at 6.5
rx_back1=$(tp_last fo_be RX)
ns_reap "$FWD_PID"
rc=$?
rx_back2=$(tp_last fo_be RX)
vh_sleep 0.3
ns_stop "$PEER_PID"
tp_settle
tp_stop fo_be
rx_total=$(tp_count fo_be RX)

grew=$((rx_during - rx_before))
min=$(awk -v r="$RATE" 'BEGIN { printf "%d", r * 1.5 / 2 }')
[ "$rc" = 0 ] || why="$why fsb-fwd exit $rc;"
[ "$grew" -ge "$min" ] || why="$why testpmd RX grew by $grew while vfA was gone (want >= $min);"
[ "$rx_before" -le $((grew / 20)) ] || why="$why testpmd already had $rx_before frames before the deletion;"
back=$(pj_event "$VH_TMP/peer.json" newlink vfA 1 first_fsb_us vfB)
case $back in ''|null) why="$why no frame on vfB after vfA came back;" ;; esac
late=$((rx_back2 - rx_back1))
[ "$late" -le $((RATE / 10)) ] || why="$why testpmd still received $late frames well after the switch-back;"
to1=$(grep -c 'EVENT .*active-change: .*-> slot 1' "$VH_TMP/fo_fwd.err")
to0=$(grep -c 'EVENT .*active-change: .*slot 1 -> slot 0' "$VH_TMP/fo_fwd.err")
[ "$to1" -ge 1 ] && [ "$to0" -ge 1 ] || why="$why active-change events: $to1 to slot 1, $to0 back to slot 0;"
if [ -z "$why" ]; then
	vh_ok "failover onto vhost-user: testpmd RX $rx_before before, +$grew while vfA was gone, +$late after it was back ($rx_total in all); frames on vfB again $(awk -v u="$back" 'BEGIN { printf "%.1f", u / 1000 }') ms after the NEWLINK"
	grep -E 'EVENT .*active-change' "$VH_TMP/fo_fwd.err" | sed 's/^/    /'
else
	vh_fail "failover:$why"
	vh_dump fo_fwd fo_be
	tail -n 20 "$VH_TMP/peer.err" | sed 's/^/  | /'
fi
vh_finish
