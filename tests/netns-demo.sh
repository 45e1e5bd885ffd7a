#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# netns-demo.sh - the README demo (issues 5, 6): a kernel "VF" is deleted
# under traffic and re-created, and the report is counted from outside.
#
#   sh tests/netns-demo.sh [FSB-FWD]      (as root; or via bootstrap.sh demo)
#
# 1. Two netns, fsb-dut and fsb-peer, with two veth pairs: the "vf"
#    vfA <-> vfB and the standby sbA <-> sbB (tests/netns-lib.sh).
#    The standby is vhost-user when DPDK testpmd is installed (as in a
#    VM: a VF primary, a virtio standby):
#      fsb0,hold_down=200,dev(af_packet,iface=vfA),dev(virtio_user,path=SOCK)
#    testpmd runs the net_vhost backend on SOCK and forwards (io) what
#    it receives to a net_af_packet port on sbA, which is moved to the
#    root netns for it (as fsbvh<pid>), so the standby's frames still
#    reach sbB, where fsb-peer counts them with their sequence numbers;
#    testpmd's own counters are reported too.  Without testpmd (or with
#    STANDBY=af_packet) the standby is af_packet on sbA.
# 2. fsb-peer counts in fsb-peer on vfB and sbB (a packet socket, and the
#    sequence numbers fsb-fwd writes in every frame) and timestamps vfA's
#    link events with its own rtnetlink listener in fsb-dut.
# 3. fsb-fwd runs txonly at 200 kpps on
#      fsb0,hold_down=200,dev(af_packet,iface=vfA),dev(af_packet,iface=sbA)
#    with its datapath pinned to the last CPU.
# 4. At ~2.5 s vfA is deleted (its peer vfB goes with it); at ~5 s it is
#    re-created with the same MAC; fsb-fwd stops at 8 s.
# 5. Everything it made is removed (also on ^C or failure), and it prints
#    a before/during/after report, human-readable and as one JSON line:
#    pps per path, switchover time (vfA's removal -> first frame on sbB;
#    from the first rtnetlink message of the removal, which for `ip link
#    del` is an RTM_NEWLINK without IFF_UP just before the RTM_DELLINK,
#    and from the RTM_DELLINK), switch-back time (vfA's RTM_NEWLINK ->
#    first frame on vfB), the gap at each switch (last frame on the old
#    path -> first on the new), frames lost (sequence numbers never seen on any path), and frames
#    sent according to fsb-fwd's JSON.
#
# Environment: FSB_FWD, FSB_PEER (tools), RATE (pps, default 200000),
# NS_SUFFIX (netns name suffix), KEEP_LOGS=1 (keep the raw outputs),
# STANDBY=vhost|af_packet (default vhost when dpdk-testpmd exists),
# TESTPMD (default dpdk-testpmd).
# Exit status: 0 when traffic failed over and came back; 1 otherwise.
set -u
LC_ALL=C
export LC_ALL
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/netns-lib.sh
. "$here/netns-lib.sh"

# shellcheck disable=SC2034  # read by netns-lib.sh
[ -n "${1:-}" ] && FSB_FWD=$1
RATE=${RATE:-200000}
DUR=8
HOLD=200
T_DEL=2.5
T_ADD=5.0
TESTPMD=${TESTPMD:-dpdk-testpmd}
if [ -z "${STANDBY:-}" ]; then
	if command -v "$TESTPMD" >/dev/null 2>&1; then STANDBY=vhost; else STANDBY=af_packet; fi
fi
case $STANDBY in
vhost|af_packet) ;;
*) echo "netns-demo: STANDBY must be vhost or af_packet, not '$STANDBY'" >&2; exit 2 ;;
esac
TP_IF=fsbvh$$                   # sbA in the root netns (<= 15 chars)
TP_PREFIX=fsbdemo$$
TP_PID=

ns_find_tools || exit 1
if [ "$(id -u)" != 0 ]; then
	echo "netns-demo: run it as root: it creates network namespaces and packet sockets" >&2
	exit 1
fi

ns_trap
# the vhost standby's extras: testpmd (by pid), sbA moved to the root
# netns, testpmd's runtime directory
trap 'tp_cleanup; ns_cleanup' EXIT
trap 'tp_cleanup; ns_cleanup; exit 130' INT TERM HUP
# shellcheck disable=SC2317  # called from the traps
tp_cleanup() {
	if [ -n "$TP_PID" ]; then
		kill -INT "$TP_PID" 2>/dev/null
		wait "$TP_PID" 2>/dev/null
		TP_PID=
	fi
	ip link del "$TP_IF" 2>/dev/null
	rm -rf "/var/run/dpdk/$TP_PREFIX"
	return 0
}
if [ "$STANDBY" = vhost ]; then
	SOCK=$NS_TMP/vhost.sock
	SPEC="fsb0,hold_down=$HOLD,dev(af_packet,iface=vfA),dev(virtio_user,path=$SOCK)"
	SB_DESC="vhost-user: fsb-fwd -> testpmd net_vhost -> io -> net_af_packet on $TP_IF -> sbB"
else
	SPEC="fsb0,hold_down=$HOLD,dev(af_packet,iface=vfA),dev(af_packet,iface=sbA)"
	SB_DESC="af_packet on sbA -> sbB"
fi

echo "libfsb demo: a kernel VF (veth vfA) deleted under traffic, then re-created"
echo "  netns $DUT_NS:  fsb-fwd --port '$SPEC'"
echo "                 txonly, $RATE pps, ${DUR} s${NS_LCORE:+, datapath on CPU $DP_CPU}"
echo "  standby path:  $SB_DESC"
echo "  netns $PEER_NS: fsb-peer counts on vfB (the vf's peer) and sbB (the standby's)"
echo "  at ~${T_DEL} s: ip link del vfA;  at ~${T_ADD} s: vfA re-created, same MAC"
echo

ns_setup vf || exit 1
P=$NS_TMP/peer F=$NS_TMP/fwd T=$NS_TMP/testpmd
if [ "$STANDBY" = vhost ]; then
	# sbA to the root netns, where testpmd's af_packet port uses it
	if ! sb_to_root "$TP_IF"; then
		echo "netns-demo: cannot move sbA to the root netns as $TP_IF" >&2
		exit 1
	fi
	rm -rf "/var/run/dpdk/$TP_PREFIX" "$SOCK"
	# shellcheck disable=SC2086
	timeout -s INT -k 5 $((DUR + 30)) $NS_PIN "$TESTPMD" --lcores "0@$CTL_CPU,1@$CTL_CPU" \
		--no-huge --no-pci -m 512 --file-prefix="$TP_PREFIX" \
		--vdev "net_vhost0,iface=$SOCK,queues=1" --vdev "net_af_packet0,iface=$TP_IF" -- \
		--total-num-mbufs=16384 --stats-period 1 --no-flush-rx --forward-mode=io \
		</dev/null >"$T.out" 2>"$T.err" &
	TP_PID=$!
	if ! wait_line "$T.out" 'packet forwarding - ports=2' 20 "$TP_PID"; then
		echo "netns-demo: testpmd (net_vhost backend) did not start; it said:" >&2
		tail -n 15 "$T.out" "$T.err" | sed 's/^/  | /' >&2
		exit 1
	fi
fi
peer_start "$P" 60 vfA || exit 1
fwd_start "$F" "$SPEC" "$DUR"
if ! wait_line "$P.err" '^FIRST .* vfB$' 10 "$FWD_PID"; then
	echo "netns-demo: no frame from fsb-fwd on vfB within 10 s; fsb-fwd said:" >&2
	sed 's/^/  | /' "$F.err" "$F.json" >&2
	exit 1
fi
stamp() {
	awk -v a="$FWD_T0" -v b="$(now_s)" 'BEGIN { printf "[%5.2f s]", b - a }'
}
echo "$(stamp) traffic flows on vfB"
sleep_until "$(fadd "$FWD_T0" "$T_DEL")"
vf_del vfA && echo "$(stamp) ip -n $DUT_NS link del vfA" || echo "$(stamp) deleting vfA FAILED"
sleep_until "$(fadd "$FWD_T0" "$T_ADD")"
vf_add vfA "$VF_MAC" && echo "$(stamp) vfA re-created (address $VF_MAC) and up" || echo "$(stamp) re-creating vfA FAILED"
ns_reap "$FWD_PID"
fwd_rc=$?
echo "$(stamp) fsb-fwd exited with status $fwd_rc"
sleep 0.3
ns_stop "$PEER_PID"
peer_rc=$?
tp_rx='' tp_tx=''
if [ -n "$TP_PID" ]; then
	kill -INT "$TP_PID" 2>/dev/null
	wait "$TP_PID" 2>/dev/null
	TP_PID=
	# "Forward statistics for port 0" (net_vhost: RX from us) and
	# "port 1" (net_af_packet: TX towards sbB)
	tp_rx=$(awk '/Forward statistics for port 0/ { on = 1 } on && $1 == "RX-packets:" { print $2; exit }' "$T.out")
	tp_tx=$(awk '/Forward statistics for port 1/ { on = 1 } on && $1 == "TX-packets:" { print $2; exit }' "$T.out")
fi

sent=$(fwd_json "$F.json" fwd_tx)
echo
echo "fsb-fwd's events (its own view; times from its start):"
grep -E '^EVENT .*(active-change|subdev-link|port-link)' "$F.err" | sed 's/^/  /'
[ "$fwd_rc" = 0 ] || { echo "fsb-fwd failed; its output:"; sed 's/^/  | /' "$F.err" | tail -20; }
[ "$peer_rc" = 0 ] || { echo "fsb-peer failed; its output:"; sed 's/^/  | /' "$P.err" | tail -20; }

if [ "$STANDBY" = vhost ]; then
	echo
	echo "testpmd (the vhost-user backend, its own counters): received ${tp_rx:-?} frames from our virtio_user standby, forwarded ${tp_tx:-?} to sbB"
fi
awk -v sent="${sent:-}" -v hold="$HOLD" -v rate="$RATE" -v dur="$DUR" \
    -v standby="$STANDBY" -v tp_rx="${tp_rx:-}" \
    -v spec="$SPEC" -v fwd_rc="$fwd_rc" -v peer_rc="$peer_rc" \
    -v dut="$DUT_NS" -v peerns="$PEER_NS" "$PJ_AWK"'
function pps(name, a, b,   m, i, s, c, lo, hi) {
	if (!(name in bline) || a == "" || b == "" || b <= a) return "null"
	m = jarr(bline[name], "buckets", bk); s = 0; c = 0
	for (i = 1; i <= m; i++) {
		lo = (i - 1) * 0.1; hi = i * 0.1
		if (lo >= a - 1e-9 && hi <= b + 1e-9) { s += bk[i]; c++ }
	}
	return c ? sprintf("%.0f", s / (c * 0.1)) : "null"
}
function ms(us) { return us == "" || us == "null" ? "null" : sprintf("%.3f", us / 1000) }
index($0, "{\"name\":") == 1 { n = jval($0, "name"); bline[n] = $0 }
index($0, "\"seq\":{") == 1 { seq = jobj($0, "seq") }
index($0, "{\"t_us\":") == 1 {
	ne++; et[ne] = jval($0, "t_us") / 1e6; ty[ne] = jval($0, "type"); en[ne] = jval($0, "ifname")
	ei[ne] = jval($0, "ifindex"); la[ne] = jval($0, "lost_after")
	fs[ne] = jval(jobj($0, "first_fsb_us"), "sbB"); fv[ne] = jval(jobj($0, "first_fsb_us"), "vfB")
}
index($0, "{\"at_us\":") == 1 {
	nc++; ca[nc] = jval($0, "at_us") / 1e6; cf[nc] = jval($0, "from"); ct[nc] = jval($0, "to"); cg[nc] = jval($0, "gap_us")
}
index($0, "\"path_changes\":") { changes = jval($0, "path_changes"); drops = jval($0, "capture_drops") }
END {
	# the removal: from the first carrier-down/dellink of vfA to its
	# newlink; the return: from the newlink on
	for (k = 1; k <= ne; k++) if (en[k] == "vfA") {
		if (!rm && (ty[k] == "carrier-down" || ty[k] == "dellink")) rm = k
		if (rm && !del && ty[k] == "dellink") del = k
		if (del && !nw && ty[k] == "newlink") nw = k
		if (nw && !up && k > nw && ty[k] == "carrier-up") up = k
	}
	lost_rm = 0; lost_back = 0
	for (k = 1; k <= ne; k++) {
		if (rm && k >= rm && (!nw || k < nw)) lost_rm += la[k]
		if (nw && k >= nw) lost_back += la[k]
	}
	# the gaps at the two path changes fsb-peer saw: last frame on the
	# old path -> first frame on the new one
	gap_rm = ""; gap_back = ""
	for (c = 1; c <= nc; c++) {
		if (rm && gap_rm == "" && cf[c] == "vfB" && ct[c] == "sbB" && ca[c] >= et[rm] - 0.01) gap_rm = cg[c]
		if (nw && gap_back == "" && cf[c] == "sbB" && ct[c] == "vfB" && ca[c] >= et[nw]) gap_back = cg[c]
	}
	expected = jval(seq, "expected") + 0; distinct = jval(seq, "distinct") + 0
	dups = jval(seq, "dups") + 0
	lost = expected - distinct; tail = 0
	if (sent != "" && sent + 0 > expected) { tail = sent - expected; lost += tail; lost_back += tail }
	vfirst = jval(bline["vfB"], "first_fsb_us"); vfirst = (vfirst == "null" || vfirst == "") ? "" : vfirst / 1e6
	l1 = jval(bline["vfB"], "last_fsb_us"); l2 = jval(bline["sbB"], "last_fsb_us")
	last = (l1 != "null" && l1 + 0 > l2 + 0) ? l1 / 1e6 : (l2 != "null" ? l2 / 1e6 : "")
	tb0 = vfirst == "" ? "" : vfirst + 0.2; tb1 = rm ? et[rm] - 0.1 : ""
	td0 = del ? et[del] + 0.2 : ""; td1 = nw ? et[nw] - 0.1 : ""
	ta0 = up ? et[up] + hold / 1000 + 0.3 : (nw ? et[nw] + hold / 1000 + 0.3 : ""); ta1 = last == "" ? "" : last - 0.2
	# P3 from the removal'"'"'s first message: `ip link del` sends RTM_NEWLINK
	# without IFF_UP (dev_close) just before RTM_DELLINK, and a port may
	# switch on the first; from the DELLINK it is given too.
	p3 = rm ? fs[rm] : "null"; p3d = del ? fs[del] : "null"
	p4 = nw ? fv[nw] : "null"; p4u = up ? fv[up] : "null"
	if (p3 == "") p3 = "null"; if (p3d == "") p3d = "null"
	if (p4 == "") p4 = "null"; if (p4u == "") p4u = "null"

	printf "\n=== report: counted by fsb-peer on vfB/sbB in netns %s (packet socket,\n", peerns
	printf "    sequence numbers in the frames), not by the port; event times from\n"
	printf "    fsb-peer'"'"'s own rtnetlink listener in %s; one clock (CLOCK_MONOTONIC) ===\n", dut
	printf "timeline (s, fsb-peer clock):\n"
	nt = 0
	if (vfirst != "") { tt[++nt] = vfirst; tx[nt] = "first frame on vfB" }
	for (k = 1; k <= ne; k++) {
		tt[++nt] = et[k]; tx[nt] = en[k] " " ty[k]
		if (ty[k] == "dellink") tx[nt] = tx[nt] " (RTM_DELLINK, ifindex " ei[k] ")"
		if (ty[k] == "newlink") tx[nt] = tx[nt] " (RTM_NEWLINK, new ifindex " ei[k] ")"
		if (k == rm && p3 != "null") { tt[++nt] = et[k] + p3 / 1e6; tx[nt] = sprintf("first frame on sbB: %+.3f ms after vfA'"'"'s first removal message", p3 / 1000) }
		if (k == nw && p4 != "null") { tt[++nt] = et[k] + p4 / 1e6; tx[nt] = sprintf("first frame on vfB again: %+.3f ms after the NEWLINK", p4 / 1000) }
	}
	for (i = 2; i <= nt; i++)
		for (j = i; j > 1 && tt[j - 1] > tt[j]; j--) {
			x = tt[j]; tt[j] = tt[j - 1]; tt[j - 1] = x
			x = tx[j]; tx[j] = tx[j - 1]; tx[j - 1] = x
		}
	for (i = 1; i <= nt; i++) printf "  %7.3f  %s\n", tt[i], tx[i]
	printf "pps per path (100 ms buckets wholly inside each window):\n"
	printf "  %-7s %-17s %10s %10s\n", "phase", "window (s)", "vfB pps", "sbB pps"
	ph[1] = "before"; a[1] = tb0; b[1] = tb1
	ph[2] = "during"; a[2] = td0; b[2] = td1
	ph[3] = "after";  a[3] = ta0; b[3] = ta1
	for (i = 1; i <= 3; i++) {
		pv[i] = pps("vfB", a[i], b[i]); psb[i] = pps("sbB", a[i], b[i])
		if (a[i] == "" || b[i] == "" || b[i] <= a[i]) { printf "  %-7s %-17s %10s %10s\n", ph[i], "(none)", "-", "-"; continue }
		printf "  %-7s %6.2f - %-8.2f %10s %10s\n", ph[i], a[i], b[i], pv[i], psb[i]
	}
	printf "switchover  (vfA removal -> first frame on sbB): %s\n", p3 == "null" ? "NONE: no frame on sbB after the deletion" : sprintf("%.3f ms from the first rtnetlink message of the removal (%s); %s from the RTM_DELLINK", p3 / 1000, ty[rm] == "dellink" ? "the RTM_DELLINK" : "RTM_NEWLINK without IFF_UP", p3d == "null" ? "-" : sprintf("%.3f ms", p3d / 1000))
	printf "switch-back (vfA NEWLINK -> first frame on vfB): %s\n", p4 == "null" ? "NONE: no frame on vfB after the re-creation" : sprintf("%.3f ms (hold_down %.0f ms; %.3f ms after carrier-up)", p4 / 1000, hold, p4u == "null" ? -1 : p4u / 1000)
	printf "frames: sent %s (fsb-fwd JSON fwd_tx), seen %.0f distinct, lost %.0f (%.0f at the removal, %.0f at the return%s), duplicates %.0f\n",
		sent == "" ? "?" : sent, distinct, lost, lost_rm, lost_back, tail ? sprintf(", %.0f never seen at the end", tail) : "", dups
	printf "gap seen by the peer at each switch (last frame on the old path -> first on the new): %s at the switchover, %s at the switch-back\n",
		(gap_rm == "" || gap_rm == "null") ? "-" : sprintf("%.3f ms", gap_rm / 1000), (gap_back == "" || gap_back == "null") ? "-" : sprintf("%.3f ms", gap_back / 1000)
	printf "path changes seen by the peer: %s; capture drops: %s\n", changes, drops

	ok = (p3 != "null" && p4 != "null" && fwd_rc == 0 && peer_rc == 0)
	if (standby == "vhost" && !(tp_rx + 0 > 0)) ok = 0
	printf "{\"demo\":\"netns-failover\",\"ok\":%s,\"standby\":\"%s\",\"testpmd_rx\":%s,\"port\":\"%s\",\"tx_rate_pps\":%.0f,\"duration_s\":%.0f,\"hold_down_ms\":%.0f,", ok ? "true" : "false", standby, tp_rx == "" ? "null" : tp_rx, spec, rate, dur, hold
	printf "\"sent\":%s,\"received_distinct\":%.0f,\"lost\":%.0f,\"lost_at_removal\":%.0f,\"lost_at_return\":%.0f,\"duplicates\":%.0f,", sent == "" ? "null" : sent, distinct, lost, lost_rm, lost_back, dups
	printf "\"switchover_us\":%s,\"switchover_from_dellink_us\":%s,\"switchback_us\":%s,\"switchback_from_carrier_up_us\":%s,\"switchover_gap_us\":%s,\"switchback_gap_us\":%s,\"path_changes\":%s,\"capture_drops\":%s,", p3, p3d, p4, p4u, (gap_rm == "" ? "null" : gap_rm), (gap_back == "" ? "null" : gap_back), changes, drops
	printf "\"phases\":{"
	for (i = 1; i <= 3; i++)
		printf "%s\"%s\":{\"from_s\":%s,\"to_s\":%s,\"vfB_pps\":%s,\"sbB_pps\":%s}", (i > 1 ? "," : ""), ph[i],
			a[i] == "" ? "null" : sprintf("%.2f", a[i]), b[i] == "" ? "null" : sprintf("%.2f", b[i]), pv[i], psb[i]
	printf "},\"events\":["
	for (k = 1; k <= ne; k++)
		printf "%s{\"t_s\":%.6f,\"type\":\"%s\",\"ifname\":\"%s\"}", (k > 1 ? "," : ""), et[k], ty[k], en[k]
	printf "],\"fsb_fwd_exit\":%.0f}\n", fwd_rc
	exit ok ? 0 : 1
}' "$P.json"
rc=$?
[ "${KEEP_LOGS:-0}" = 1 ] && echo "raw outputs kept in $NS_TMP"
exit $rc
