#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# netns-announce.sh - the announcements after each switch, read by
# tcpdump in the peer netns (issue 16).  Needs root and tcpdump; exits
# 77 only when a network namespace cannot be created.
#
# The topology is netns-lib.sh's: fsb-fwd in the DUT netns on a port over
# vfA (the "vf") and sbA (the standby), tcpdump on vfB and sbB in the peer
# netns.  tcpdump, a decoder we did not write, must parse every frame
# that is not fsb-fwd's data as one of ours: the RARP, the gratuitous ARP
# request and reply for 192.0.2.10, the unsolicited NA (override flag)
# for 2001:db8::10 with a good ICMPv6 checksum, all from the port's MAC.
# IPv6 is off in both netns, so the kernel sends nothing of its own.
#
# Scenarios (one "ok:"/"FAIL:" line each):
#   off          announce=off: nothing but data on either path
#   switches     removal, then return after hold-down, then a planned
#                detach: on the new path each time, the 3 scheduled
#                rounds (50 and 100 ms apart, within generous bounds),
#                the first no later than 1 ms after the first data frame
#                on that path (both from the capture)
#   rx-only      an RX-only application (fsb-fwd rxonly) announces too
#   backend      a vhost-user standby (virtio_user -> DPDK testpmd net_vhost
#                -> io -> net_af_packet -> sbB) alone on the port: testpmd
#                is killed (SIGKILL) and restarted; after session-restored
#                the rounds go out through the new backend, ahead of the
#                data
#
# Environment: FSB_FWD, FSB_PEER, NS_SUFFIX, KEEP_LOGS=1.
set -u
LC_ALL=C
export LC_ALL
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/netns-lib.sh
. "$here/netns-lib.sh"

NS_SUFFIX=${NS_SUFFIX:--a$$}
ns_names
RATE=5000
ANN="announce=192.0.2.10;2001:db8::10,announce_rounds=3,announce_initial=50,announce_step=50,announce_max=200"
ns_find_tools || exit 1
if ! command -v tcpdump >/dev/null 2>&1; then
	echo "FAIL: tcpdump is not installed (the README's install step installs it)"
	exit 1
fi
pass=0
fail=0
ns_trap
ns_setup novf || exit 1
ns_del

SC_BAD=''
bad() { SC_BAD="$SC_BAD
    - $*"; }
sc_end() {
	ns_kill_all
	ns_del
	if [ -z "$SC_BAD" ]; then
		echo "ok: $1"
		pass=$((pass + 1))
	else
		echo "FAIL: $1$SC_BAD"
		fail=$((fail + 1))
	fi
	SC_BAD=''
}

# cap_start IFACE FILE: tcpdump on IFACE in the peer netns, each packet
# written at once (-U: a capture whose interface is deleted keeps what it
# saw); returns once it listens.
# A 64 MiB capture buffer (-B, the default is 2 MiB): tcpdump, descheduled
# under a loaded make check (QEMU guests, testpmd), must not drop frames.
cap_start() {
	ns_bg "$2.out" "$2.err" ip netns exec "$PEER_NS" tcpdump -i "$1" -U -s 128 \
		-B 65536 -w "$2"
	wait_line "$2.err" 'listening on' 10 "$NS_BG_PID" ||
		{ bad "tcpdump on $1 did not start: $(cat "$2.err")"; return 1; }
}

# cap_read FILE: one line per frame: "TIME KIND", KIND one of rarp,
# garp-req, garp-rep, na, data, other; tcpdump -vv's continuation lines
# are joined to their frame's.
cap_read() {
	tcpdump -r "$1" -tt -nn -e -vv 2>/dev/null | awk -v mac="$VF_MAC" '
	function emit() {
		if (line == "") return
		split(line, f, " ")
		k = "other"
		if (index(line, "198.18.0.1.9 > 198.18.0.2.9"))
			k = "data"
		else if (f[2] != mac)
			k = "other"
		else if (index(line, "Reverse Request who-is " mac " tell " mac))
			k = "rarp"
		else if (index(line, "Request who-has 192.0.2.10 tell 192.0.2.10,"))
			k = "garp-req"
		else if (index(line, "Reply 192.0.2.10 is-at " mac ","))
			k = "garp-rep"
		else if (index(line, "neighbor advertisement") &&
			 index(line, "tgt is 2001:db8::10, Flags [override]") &&
			 index(line, "icmp6 sum ok") && index(line, "> ff02::1:"))
			k = "na"
		print f[1], k
		line = ""
	}
	/^[ \t]/ { line = line " " $0; next }
	{ emit(); line = $0 }
	END { emit() }'
}

# check_rounds NAME FILE FROM [TO]: the announcements in FILE from epoch
# time FROM to TO (default: the end): 3 rounds of exactly rarp, garp-req, garp-rep, na; the gaps; the
# first one against the first data frame after FROM.  Sets R_LEAD_US.
check_rounds() {
	_cr=$(cap_read "$2" | awk -v from="$3" -v to="${4:-9e99}" '
	$1 < from || $1 >= to { next }
	$2 == "other" { other++; next }
	$2 == "data" { if (!d0) d0 = $1; next }
	{
		if (!n || $1 - last > 0.02) { n++; t[n] = $1 }
		c[n, $2]++
		last = $1
		if (!a0) a0 = $1
	}
	END {
		err = ""
		if (other) err = err sprintf(" %d frames tcpdump did not read as ours;", other)
		if (n != 3) err = err sprintf(" %d rounds, want 3;", n)
		for (i = 1; i <= n; i++)
			if (c[i, "rarp"] != 1 || c[i, "garp-req"] != 1 || c[i, "garp-rep"] != 1 || c[i, "na"] != 1)
				err = err sprintf(" round %d: rarp %d garp-req %d garp-rep %d na %d;", i,
					c[i, "rarp"], c[i, "garp-req"], c[i, "garp-rep"], c[i, "na"])
		g1 = (t[2] - t[1]) * 1000; g2 = (t[3] - t[2]) * 1000
		if (n == 3 && (g1 < 45 || g1 > 450)) err = err sprintf(" gap 1 %.1f ms, want 50;", g1)
		if (n == 3 && (g2 < 90 || g2 > 500)) err = err sprintf(" gap 2 %.1f ms, want 100;", g2)
		lead = d0 ? (a0 - d0) * 1e6 : 0
		if (d0 && a0 - d0 > 0.001) err = err sprintf(" first announcement %.0f us after the first data frame;", lead)
		# a gap to a round that never came is "-", not a number
		printf "%s|%.0f|%s|%s\n", err, lead, n >= 2 ? sprintf("%.1f", g1) : "-",
			n >= 3 ? sprintf("%.1f", g2) : "-"
	}')
	_err=${_cr%%|*}
	_rest=${_cr#*|}
	R_LEAD_US=${_rest%%|*}
	R_GAPS=${_rest#*|}
	[ -z "$_err" ] || bad "$1:$_err"
}

now() { now_s; }

# ---- off ----
ns_setup vf || exit 1
D=$NS_TMP/off
mkdir -p "$D"
cap_start sbB "$D/sb.pcap" && cap_start vfB "$D/vf.pcap" && {
	fwd_start "$D/fwd" "fsb0,hold_down=200,mac=$VF_MAC,dev(af_packet,iface=vfA),dev(af_packet,iface=sbA)" 3
	sleep 1
	vf_del vfA
	sleep 1
	ns_reap "$FWD_PID" || bad "fsb-fwd failed: $(tail -3 "$D/fwd.err")"
	sleep 0.2
	for f in sb vf; do
		_k=$(cap_read "$D/$f.pcap" | awk '$2 != "data" { n++ } END { print n + 0 }')
		_d=$(cap_read "$D/$f.pcap" | awk '$2 == "data" { n++ } END { print n + 0 }')
		[ "$_k" = 0 ] || bad "$f: $_k frames other than data with announce=off"
		[ "$_d" -gt 100 ] || bad "$f: only $_d data frames"
	done
}
sc_end "announce=off: nothing but data on either path"

# ---- switches: removal, return, planned detach ----
ns_setup vf || exit 1
D=$NS_TMP/sw
mkdir -p "$D"
cap_start sbB "$D/sb.pcap" && {
	fwd_start "$D/fwd" "fsb0,hold_down=500,mac=$VF_MAC,$ANN,dev(af_packet,iface=vfA),dev(af_packet,iface=sbA)" 5.5 \
		--schedule 4.5:detach:0
	sleep 1
	T_DEL=$(now)
	vf_del vfA
	sleep 1
	# the vf returns: vfB listens before vfA comes up
	if ip -n "$DUT_NS" link add vfA index 200 address "$VF_MAC" type veth \
		peer name vfB address "$VFB_MAC" netns "$PEER_NS" &&
	   ip -n "$PEER_NS" link set vfB up && cap_start vfB "$D/vf.pcap"; then
		T_ADD=$(now)
		ip -n "$DUT_NS" link set vfA up
	else
		bad "cannot re-create the vf"
	fi
	ns_reap "$FWD_PID" || bad "fsb-fwd failed: $(tail -3 "$D/fwd.err")"
	sleep 0.3
	# the detach at 4.5 s of fsb-fwd's run: the sb capture after T_ADD
	# + 1 s (the return's frames are on vfB)
	check_rounds "removal (sbB)" "$D/sb.pcap" "$T_DEL" "$T_ADD"
	LEAD_DEL=$R_LEAD_US GAPS_DEL=$R_GAPS
	check_rounds "return (vfB)" "$D/vf.pcap" "$T_ADD"
	LEAD_ADD=$R_LEAD_US GAPS_ADD=$R_GAPS
	# sbB is silent from the return (hold-down 0.5 s after T_ADD) to
	# the detach (fsb-fwd's 4.5 s, about 2.4 s after T_ADD)
	check_rounds "planned detach (sbB)" "$D/sb.pcap" "$(fadd "$T_ADD" 1.2)"
	LEAD_DET=$R_LEAD_US
	echo "    first announcement minus first data frame, us: removal $LEAD_DEL, return $LEAD_ADD, detach ${LEAD_DET:-?}; round gaps ms: removal $GAPS_DEL, return $GAPS_ADD"
}
sc_end "removal, return and planned detach: 3 rounds on the new path, first ahead of the data"

# ---- rx-only ----
ns_setup vf || exit 1
D=$NS_TMP/rx
mkdir -p "$D"
cap_start sbB "$D/sb.pcap" && {
	ns_bg "$D/fwd.json" "$D/fwd.err" ip netns exec "$DUT_NS" timeout -s INT 30 "$FSB_FWD" \
		--port "fsb0,hold_down=200,mac=$VF_MAC,$ANN,dev(af_packet,iface=vfA),dev(af_packet,iface=sbA)" \
		--forward-mode rxonly --duration 2.5 --json
	FWD_PID=$NS_BG_PID
	sleep 1
	T_DEL=$(now)
	vf_del vfA
	ns_reap "$FWD_PID" || bad "fsb-fwd failed: $(tail -3 "$D/fwd.err")"
	sleep 0.3
	check_rounds "rx-only removal (sbB)" "$D/sb.pcap" "$T_DEL"
}
sc_end "an RX-only application announces on the new path"

# ---- backend: virtio_user's session restored ----
TESTPMD=${TESTPMD:-dpdk-testpmd}
TP_IF=fsban$$
TP_PREFIX=fsb-announce-$$
tp_start() {
	rm -f "$SOCK"
	ns_bg "$D/tp$1.out" "$D/tp$1.err" timeout -s INT -k 5 60 $NS_PIN "$TESTPMD" \
		--lcores "0@$CTL_CPU,1@$CTL_CPU" --no-huge --no-pci -m 512 \
		--file-prefix="$TP_PREFIX" --vdev "net_vhost0,iface=$SOCK,queues=1" \
		--vdev "net_af_packet0,iface=$TP_IF" -- --total-num-mbufs=16384 --stats-period 1 \
		--no-flush-rx --forward-mode=io
	wait_line "$D/tp$1.out" 'packet forwarding - ports=2' 20 "$NS_BG_PID" ||
		{ bad "testpmd did not start: $(tail -3 "$D/tp$1.out" "$D/tp$1.err")"; return 1; }
}
ns_setup novf || exit 1
D=$NS_TMP/backend
mkdir -p "$D"
SOCK=$D/vhost.sock
if ! command -v "$TESTPMD" >/dev/null 2>&1; then
	bad "$TESTPMD is not installed (the README's install step installs dpdk)"
elif sb_to_root "$TP_IF" && cap_start sbB "$D/sb.pcap" && tp_start 1; then
	ns_bg "$D/fwd.json" "$D/fwd.err" ip netns exec "$DUT_NS" timeout -s INT 60 "$FSB_FWD" \
		--port "fsb0,mac=$VF_MAC,$ANN,dev(virtio_user,path=$SOCK)" \
		--forward-mode txonly --tx-rate "$RATE" --duration 50 --json
	FWD_PID=$NS_BG_PID
	sleep 2
	pkill -KILL -f "file-prefix=$TP_PREFIX" 2>/dev/null
	sleep 1
	T_RE=$(now)
	# fsb-fwd runs until the session is restored and its three rounds
	# (150 ms) are out: a fixed duration once ended before the third
	# when a loaded machine took ~3 s to restart testpmd
	tp_start 2 && {
		wait_line "$D/fwd.err" "session-restored" 30 "$FWD_PID" ||
			bad "no session-restored in fsb-fwd's events"
		sleep 1
		ns_stop "$FWD_PID" || bad "fsb-fwd failed: $(tail -3 "$D/fwd.err")"
		sleep 0.3
		_nb=$SC_BAD
		check_rounds "after the backend's restart (sbB)" "$D/sb.pcap" "$T_RE"
		echo "    first announcement minus first data frame after the restart: $R_LEAD_US us"
		# what to look at when a round is missing: did the port send
		# it (or count it failed), or did the path to the capture
		# (testpmd) lose it?
		[ "$SC_BAD" = "$_nb" ] || echo "    the port's counts: $(grep -o '"announce_[a-z]*":[0-9]*' "$D/fwd.json" | tr '\n' ' ')"
	}
fi
pkill -INT -f "file-prefix=$TP_PREFIX" 2>/dev/null
ip link del "$TP_IF" 2>/dev/null
rm -rf "/var/run/dpdk/$TP_PREFIX"
sc_end "vhost-user backend restarted: the rounds follow session-restored"

echo "netns-announce: $pass passed, $fail failed"
[ "$fail" = 0 ]
