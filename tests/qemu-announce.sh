#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# qemu-announce.sh - the announcements in a QEMU guest (issue 16), setup A
# of tests/qemu-virtio-pci.sh: our port on a virtio-net primary and its
# failover=on standby, both virtio_pci through VFIO, with announce= (and
# so GUEST_ANNOUNCE negotiated on both devices).  The sink keeps every
# frame that is not fsb-fwd's data in a pcap per path (fsb-udpsink
# --pcap), and tcpdump decodes them: our rounds are the RARP, the two
# gratuitous ARPs and the NA from the port's MAC (QEMU's own RARPs come
# from the device's MAC, and are told apart).
#   1. The first path at start: our own schedule's one round
#      (announce_rounds=1) on the primary's path.
#   2. QMP announce-self, 3 rounds, 300 and 600 ms apart: QEMU asks both
#      devices each round (ANNOUNCE in their status); we answer each
#      round with one round on the active path and acknowledge both:
#      the sink sees exactly 3 of our rounds on the primary's path, each
#      after QEMU's request.
#   3. A live migration (announce-rounds=3 on the destination): QEMU
#      unplugs the primary (we release it on the VFIO request), migrates,
#      and the destination's standby asks for an announcement; QEMU
#      schedules each next round only once we acknowledged the last, so
#      3 rounds seen after the migration means 3 requests answered and
#      at least 2 acknowledged.  They go out on the active path: the
#      standby's, until the primary, re-plugged on the destination,
#      takes TX back after hold-down; our switch back announces once
#      more, on the primary's path.  So 4 rounds after the migration in
#      all, the first on the standby's path, at least one (the switch
#      back) on the primary's.
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
FSB_QMP=${FSB_QMP:-$top_builddir/tests/tools/fsb-qmp}
FSB_UDPSINK=${FSB_UDPSINK:-$top_builddir/tests/tools/fsb-udpsink}
me=qemu-announce
command -v qemu-system-x86_64 >/dev/null || {
	echo "$me: qemu-system-x86_64 not found (install qemu-system-x86): skipped"; exit 77; }
command -v tcpdump >/dev/null || { echo "$me: FAIL: tcpdump not installed"; exit 1; }
. "$top_srcdir/tests/qemu/qemu-lib.sh"
qemu_scene_begin
fail() { qemu_scene_fail "$@"; }
qemu_image "$top_builddir" || fail "no guest image"
qemu_ports
qemu_sink "$d" || fail "the sink did not start"
PMAC=02:fb:00:00:00:01
guest='
touch /tmp/fwd.err
(tail -f /tmp/fwd.err | sed "s/^/fwd: /" > /dev/ttyS0) 2>/dev/null &
fsb-fwd --port "fsb0,hold_down=500,mac='"$PMAC"',announce=192.0.2.15;2001:db8::15,announce_rounds=1,dev(virtio_pci,addr=0000:02:00.0),dev(virtio_pci,addr=0000:01:00.0,standby=1)" \
	--forward-mode txonly --check --tx-rate 1000 --burst 1 --tx-retry \
	--promisc --port-mac '"$PMAC"' --duration 75 --json > /tmp/fwd.json 2> /tmp/fwd.err
echo "fsb-guest: fwd rc $?"
echo "fsb-guest: acks to slot 0: $(grep -c "announce acknowledged to slot 0" /tmp/fwd.err), to slot 1: $(grep -c "announce acknowledged to slot 1" /tmp/fwd.err)"
grep -E "announce req|active|release|error" /tmp/fwd.err | cut -c1-160 | tail -16
grep -o "\"announce_[a-z]*\":[0-9]*" /tmp/fwd.json | sed "s/^/fsb-guest: /"
'
export QEMU_IOMMU=1 QEMU_APPEND="fsb.skip=virtio_net"
qemu_start "$d" src "virtio-net-pci,iommu_platform=on" "$guest"
qemu_wait_event "$d" src FAILOVER_NEGOTIATED 90 > /dev/null ||
	fail "no FAILOVER_NEGOTIATED: our standby did not negotiate STANDBY"
qemu_wait_first "$d" vf 30 || fail "no frame on the primary's path"

# rounds FILE FROM_NS [TO_NS]: our rounds in a path's pcap between two
# CLOCK_MONOTONIC times, as "N T1 T2 ..." (each round's first frame, ns;
# a round starts with its RARP, so two rounds back to back are two);
# a frame from our MAC that tcpdump does not read as one of ours, or a
# round that is not exactly RARP + GARP request + GARP reply + NA, is a
# failure (printed as "BAD ...").
rounds() {
	tcpdump -r "$1" -tt -nn -e -vv 2>/dev/null | awk -v mac="$PMAC" -v from="$2" -v to="${3:-9e99}" '
	function emit(   f, k, t) {
		if (line == "") return
		split(line, f, " ")
		t = f[1] * 1e9
		if (f[2] != mac || t < from || t >= to) { line = ""; return }
		if (index(line, "Reverse Request who-is " mac " tell " mac)) k = "rarp"
		else if (index(line, "Request who-has 192.0.2.15 tell 192.0.2.15,")) k = "req"
		else if (index(line, "Reply 192.0.2.15 is-at " mac ",")) k = "rep"
		else if (index(line, "neighbor advertisement") && index(line, "tgt is 2001:db8::15, Flags [override]") &&
			 index(line, "icmp6 sum ok")) k = "na"
		else { bad = bad " unreadable:" substr(line, 1, 80) }
		if (k != "") {
			if (!n || k == "rarp") { n++; rt[n] = t }
			c[n, k]++
		}
		line = ""
	}
	/^[ \t]/ { line = line " " $0; next }
	{ emit(); line = $0 }
	END {
		emit()
		for (i = 1; i <= n; i++)
			if (c[i, "rarp"] != 1 || c[i, "req"] != 1 || c[i, "rep"] != 1 || c[i, "na"] != 1)
				bad = bad sprintf(" round %d: rarp %d req %d rep %d na %d", i,
					c[i, "rarp"], c[i, "req"], c[i, "rep"], c[i, "na"])
		if (bad != "") { print "BAD" bad; exit }
		printf "%d", n
		for (i = 1; i <= n; i++) printf " %.0f", rt[i]
		print ""
	}'
}

# 1. the start
sleep 1
r=$(rounds "$d/vf.pcap" 0)
case $r in BAD*) fail "start: $r" ;; esac
[ "${r%% *}" = 1 ] || fail "start: ${r%% *} rounds on the primary's path, want 1 (announce_rounds=1)"
echo "$me: start: 1 round on the primary's path"

# 2. announce-self
qemu_cmd "$d" src '{"execute":"announce-self","arguments":{"initial":300,"max":900,"rounds":3,"step":300}}' \
	> "$d/ann.out" || fail "announce-self: $(cat "$d/ann.out")"
t_ann=$(cut -d' ' -f1 "$d/ann.out")
sleep 3
r=$(rounds "$d/vf.pcap" "$t_ann")
case $r in BAD*) fail "announce-self: $r" ;; esac
[ "${r%% *}" = 3 ] || fail "announce-self: ${r%% *} of our rounds on the primary's path, want 3 ($r)"
rs=$(rounds "$d/sb.pcap" "$t_ann")
[ "${rs%% *}" = 0 ] || fail "announce-self: ${rs%% *} rounds on the standby's path, which carries nothing"
qr=$(tcpdump -r "$d/vf.pcap" -tt -nn -e 2>/dev/null | awk -v m="$QEMU_MAC" -v from="$t_ann" \
	'$2 == m && $1 * 1e9 >= from && /Reverse Request/ { n++ } END { print n + 0 }')
echo "$me: announce-self: 3 rounds from QEMU ($qr RARPs from the device's MAC), 3 of ours on the primary's path, request to round $(echo "$r" | awk -v t="$t_ann" '{ printf "%.0f", ($2 - t) / 1e6 }') ms after the command"

# 3. a migration; the destination announces 3 rounds, 50 ms and more apart
qemu_start "$d" dst "virtio-net-pci,iommu_platform=on" "$guest" -incoming tcp:127.0.0.1:"$QP_MIG"
for i in $(seq 200); do
	[ -S "$d/dst.qmp" ] && qemu_cmd "$d" dst query-status 2>/dev/null | grep -q inmigrate && break
	qemu_alive "$d" dst || break
	sleep 0.05
done
qemu_cmd "$d" dst '{"execute":"migrate-set-parameters","arguments":{"announce-initial":50,"announce-max":550,"announce-rounds":3,"announce-step":100}}' \
	> "$d/dstp.out" || fail "dst migrate-set-parameters: $(cat "$d/dstp.out")"
qemu_cmd "$d" src \
	'{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"events","state":true}]}}' \
	'{"execute":"migrate-set-parameters","arguments":{"max-bandwidth":4294967296,"downtime-limit":300}}' \
	"{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"tcp:127.0.0.1:$QP_MIG\"}}" \
	> "$d/migrate.out" || fail "migrate: $(tail -1 "$d/migrate.out")"
l=$(qemu_wait_event "$d" src MIGRATION 240 '"status": "completed"') ||
	fail "the migration did not complete: $(grep MIGRATION "$d/src.events" | tail -2)"
t_mig=${l%% *}
qemu_cmd "$d" src quit > /dev/null
qemu_stop "$d" src 10
# the primary comes back on the destination, TX returns to it
back=
for i in $(seq 600); do
	back=$(awk -v t="$t_mig" '$1 == "PATH" && $2 == "sb" && $3 == "vf" && $4 > t { print $4; exit }' "$d/sink.out")
	[ -n "$back" ] && break
	qemu_alive "$d" dst || break
	sleep 0.05
done
[ -n "$back" ] || fail "TX did not return to the primary on the destination"
# QEMU's rounds may still be coming (each waits for our ack): up to 10 s
# for the 4th of ours, then 1.5 s more in which no 5th may come
for i in $(seq 100); do
	n4=$(( $(rounds "$d/sb.pcap" "$t_mig" | cut -d' ' -f1 | tr -dc 0-9) + \
	       $(rounds "$d/vf.pcap" "$t_mig" | cut -d' ' -f1 | tr -dc 0-9) ))
	[ "$n4" -ge 4 ] && break
	sleep 0.1
done
sleep 1.5
r=$(rounds "$d/sb.pcap" "$t_mig")
case $r in BAD*) fail "migration (standby's path): $r" ;; esac
# the primary's path carries nothing from the unplug to the switch back
rb=$(rounds "$d/vf.pcap" "$t_mig")
case $rb in BAD*) fail "migration (primary's path): $rb" ;; esac
ns=${r%% *} nv=${rb%% *}
[ "$ns" -ge 1 ] || fail "migration: no round of ours on the standby's path after the migration"
[ "$nv" -ge 1 ] || fail "the switch back to the primary: no round on its path"
[ $((ns + nv)) = 4 ] ||
	fail "migration: $ns + $nv of our rounds after it, want 4: QEMU's 3, each waiting for our ack, and the switch back's ($r / $rb)"
echo "$me: migration: $ns of our rounds on the standby's path (the first $(echo "$r" | awk -v t="$t_mig" '{ printf "%.0f", ($2 - t) / 1e6 }') ms after completion), $nv on the primary's (the switch back, $(( (back - t_mig) / 1000000 )) ms after completion, and QEMU's rounds that came after it)"
qemu_wait_serial "$d" dst "fsb-guest: fwd rc" 120 || fail "fsb-fwd did not finish"
qemu_stop "$d" dst
qemu_sink_stop "$d"
grep -a "fsb-guest:\|announce" "$d/dst.serial" | grep -v "^\[" | sed "s/^/$me: guest: /" | tail -16
grep -q "fsb-guest: fwd rc 0" "$d/dst.serial" || fail "fsb-fwd failed in the guest"
acks=$(sed -n 's/.*fsb-guest: acks to slot 0: \([0-9]*\), to slot 1: \([0-9]*\).*/\1 \2/p' "$d/dst.serial")
[ "$acks" = "3 6" ] || fail "acknowledgements to slots 0 and 1: '$acks', want 3 and 3 + 3 (announce-self, then the migration)"
sum=$(sed -n 's/^SUMMARY //p' "$d/sink.out")
echo "$me: sink: $(echo "$sum" | sed -n 's/.*"lost":\([0-9]*\).*/lost \1/p'), $(echo "$sum" | sed -n 's/.*"dups":\([0-9]*\).*/dups \1/p')"
echo "$me: took $(( $(date +%s) - t_start )) s"
echo "$me: PASS"
