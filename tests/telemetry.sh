#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# telemetry.sh - the control socket (src/telemetry.c), read by tools we
# did not write, counted from outside:
#   1. Debian's own dpdk-telemetry.py, unchanged, against a running
#      fsb-fwd: every DPDK command gives JSON that parses, and the
#      counters agree with fsb-fwd's --json summary taken with the
#      traffic stopped (every slot detached: nothing moves);
#   2. the key sets of /ethdev/{info,stats,link_status} are those of a
#      live dpdk-testpmd (net_null0) asked the same, in this test;
#   3. /fsb/detach and /fsb/attach through the socket: a planned switch
#      and back, 0 lost at the ring peers; /fsb/events lists both
#      switches with reason admin, /fsb/port the active slot moving;
#   4. bad input: over 1 KiB, bytes outside ASCII, an unknown command,
#      bad or missing parameters, a port or slot that does not exist:
#      each the null reply, and the connection answers on; 64 clients
#      at once (32 served, the rest refused in words); a client that
#      never reads is dropped; the port forwards throughout (peers);
#   5. the socket is 0660 root in a 0700 directory, a second process
#      gets ...v2:1, and the socket goes at exit and at SIGINT;
#   6. access: group=G and a 0750 root:G directory: a non-root member
#      of G reads, and gets null for detach; a user outside G cannot
#      connect; the port keeps forwarding (peers).
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
FWD=${FSB_FWD:-$top_builddir/src/fsb-fwd}
# the system's python3 (another in root's PATH may be out of reach of
# the unprivileged users of the access checks)
PY=python3; [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
CLI="$PY $top_srcdir/tests/tele-client.py"
TESTPMD=${TESTPMD:-dpdk-testpmd}
me=telemetry
fails=0; n=0
ok() { n=$((n + 1)); echo "ok: $*"; }
bad() { n=$((n + 1)); fails=$((fails + 1)); echo "FAIL: $*"; }
skip() {
	echo "$me: $*: skipped"
	[ "${CI:-}" = true ] && { echo "$me: CI=true: a skip is a failure"; exit 1; }
	exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root (the access checks switch users)"
command -v dpdk-telemetry.py >/dev/null || skip "dpdk-telemetry.py not found (Debian: dpdk)"
command -v "$TESTPMD" >/dev/null || skip "$TESTPMD not found (Debian: dpdk-dev)"
command -v python3 >/dev/null || skip "python3 not found"

tmp=$(mktemp -d)
pfx=fsbt$$
tpfx=fsbtp$$
users=
cleanup() {
	[ -n "${fwd:-}" ] && kill -INT "$fwd" 2>/dev/null
	[ -n "${tp:-}" ] && kill "$tp" 2>/dev/null
	wait 2>/dev/null
	for u in $users; do userdel "$u" 2>/dev/null; done
	[ -n "$users" ] && groupdel "fsbtg$$" 2>/dev/null
	rm -rf "$tmp" "/var/run/dpdk/$pfx" "/var/run/dpdk/$pfx-2" "/var/run/dpdk/$tpfx"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# json FILE EXPR: a python expression over the reply's value (v)
val() {
	python3 -c 'import json, sys
line = [l for l in open(sys.argv[1]) if l.startswith("{")][-1]
d = json.loads(line)
v = list(d.values())[0]
print(eval(sys.argv[2]))' "$1" "$2"
}
tele() {  # tele PREFIX REQ: dpdk-telemetry.py, unchanged, one request
	echo "$2" | dpdk-telemetry.py -f "$1" 2>&1 | tail -1
}

# ---- a live testpmd: the key sets to match ----
(sleep 120 | "$TESTPMD" --lcores 0@0,1@0 --no-huge --no-pci -m 512 --file-prefix "$tpfx" \
	--vdev net_null0 -- -i --total-num-mbufs 4096 > "$tmp/tp.out" 2>&1) &
tp=$!

# ---- fsb-fwd: txonly into two rings, each counted by a peer ----
# 1 s after start both slots are detached: no path, nothing moves (the
# refused frames are made again later), the counters are still.
"$FWD" --port 'fsb0,hold_down=100,dev(ring,name=vf),dev(ring,name=sb)' \
	--peer 'ring,name=vf' --peer 'ring,name=sb' --forward-mode txonly \
	--tx-rate 20000 --txd 4096 --rxd 4096 --duration 30 --telemetry "prefix=$pfx" \
	--json > "$tmp/fwd.json" 2> "$tmp/fwd.err" &
fwd=$!
sock=/var/run/dpdk/$pfx/dpdk_telemetry.v2
# it names the socket once its port runs
for i in $(seq 200); do grep -q "control socket" "$tmp/fwd.err" && break; sleep 0.05; done
[ -S "$sock" ] || { cat "$tmp/fwd.err"; bad "no socket at $sock"; exit 1; }
grep -q "control socket $sock" "$tmp/fwd.err" && ok "fsb-fwd says where its socket is: $sock" ||
	bad "fsb-fwd did not name its socket"

# 5. mode, owner, directory; a second process gets :1
m=$(stat -c '%a %U' "$sock"); d=$(stat -c '%a' "/var/run/dpdk/$pfx")
[ "$m" = "660 root" ] && [ "$d" = 700 ] && ok "socket 0660 root, directory 0700" ||
	bad "socket '$m', directory '$d' (want 660 root, 700)"
"$FWD" --port 'fsb9,dev(null)' --forward-mode txonly --duration 1 --telemetry "prefix=$pfx" \
	> /dev/null 2> "$tmp/second.err"
grep -q "control socket $sock:1" "$tmp/second.err" && [ ! -e "$sock:1" ] &&
	ok "a second process gets $sock:1, removed at its exit" ||
	bad "second process: $(cat "$tmp/second.err" | head -3)"

# 1. dpdk-telemetry.py: each DPDK command parses
sleep 0.5
for c in / /info "/help,/ethdev/stats" /ethdev/list "/ethdev/info,0" "/ethdev/stats,0" \
	"/ethdev/xstats,0" "/ethdev/link_status,0"; do
	tele "$pfx" "$c" > "$tmp/r"
	if python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert list(d) == [sys.argv[2].split(",")[0]] and d[list(d)[0]] is not None' \
		"$tmp/r" "$c" 2>/dev/null; then
		ok "dpdk-telemetry.py $c: $(cut -c1-90 "$tmp/r")"
	else
		bad "dpdk-telemetry.py $c: $(cat "$tmp/r")"
	fi
done

# 3. a planned detach through the socket, then attach: TX moves and back
$CLI req "$sock" "/fsb/detach,0,0" "/fsb/port,0" > "$tmp/det"
[ "$(val "$tmp/det" 'v["active_slot"]')" = 1 ] && [ "$(val "$tmp/det" 'v["slots"][0]["state"]')" = absent ] &&
	grep -q '"/fsb/detach":{"port_id":0,"slot":0,"status":"ok"}' "$tmp/det" &&
	ok "/fsb/detach,0,0: ok; /fsb/port: slot 0 absent, TX on slot 1" ||
	bad "/fsb/detach: $(cat "$tmp/det")"
sleep 0.3
$CLI req "$sock" "/fsb/attach,0,0" > "$tmp/att"
for i in $(seq 40); do
	$CLI req "$sock" "/fsb/port,0" > "$tmp/port"
	[ "$(val "$tmp/port" 'v["active_slot"]')" = 0 ] && break
	sleep 0.05
done
grep -q '"status":"ok"' "$tmp/att" && [ "$(val "$tmp/port" 'v["active_slot"]')" = 0 ] &&
	ok "/fsb/attach,0,0: ok; TX back on slot 0 after hold-down" ||
	bad "/fsb/attach: $(cat "$tmp/att" "$tmp/port")"
$CLI req "$sock" "/fsb/events,0" > "$tmp/ev"
sw=$(val "$tmp/ev" '" ".join("%d>%d:%s" % (e["from_slot"], e["to_slot"], e["reason"]) for e in v if e["type"] == "active-change")')
case $sw in
*"0>1:admin 1>0:admin"*) ok "/fsb/events: the switches with their reasons: $sw" ;;
*) bad "/fsb/events: $sw" ;;
esac
$CLI req "$sock" "/fsb/events,0,2" > "$tmp/ev2"
[ "$(val "$tmp/ev2" 'len(v)')" = 2 ] && ok "/fsb/events,0,2: the last 2" || bad "/fsb/events,0,2: $(cat "$tmp/ev2")"

# 4. bad input: null replies, the connection answers on
big=$(head -c 2000 /dev/zero | tr '\0' a)
$CLI req "$sock" "/$big" '/ethdev/stats,\xff' '/ethdev/st\xc3\xa4ts,0' /nosuch /ethdev/stats \
	"/ethdev/stats,x" "/ethdev/stats,0,1" "/ethdev/stats,-1" "/ethdev/stats,63" \
	"/fsb/detach,0,7" "/fsb/detach,0" "/fsb/events,0,999" "/fsb/log_level,loud" \
	"/help,/nosuch" /info > "$tmp/bad" 2>&1
nulls=$(grep -c ':null}$' "$tmp/bad")
[ "$nulls" = 14 ] && tail -1 "$tmp/bad" | grep -q '"/info":{"version"' &&
	ok "14 bad requests: 14 null replies, then /info answers on the same connection" ||
	bad "bad input: $nulls null replies: $(cat "$tmp/bad")"
$CLI flood "$sock" 64 > "$tmp/flood" 2>&1
head -1 "$tmp/flood" | grep -q "hello 32 refused 32" && grep -q '"/info"' "$tmp/flood" &&
	ok "64 clients at once: $(head -1 "$tmp/flood") (at most 32); a served one answers on" ||
	bad "64 clients: $(cat "$tmp/flood")"
$CLI noread "$sock" 100000 > "$tmp/noread" 2>&1
grep -q dropped "$tmp/noread" && $CLI req "$sock" /info | grep -q '"/info"' &&
	ok "a client that never reads: $(cat "$tmp/noread"); others are served" ||
	bad "never-reading client: $(cat "$tmp/noread")"

# 6. access: a member of G reads and may not detach; others cannot connect
groupadd "fsbtg$$" && useradd -M -N -g nogroup -G "fsbtg$$" "fsbtm$$" &&
	useradd -M -N -g nogroup "fsbto$$" && users="fsbtm$$ fsbto$$"
rd=$tmp/run
mkdir -p "$rd" && chmod 0755 "$tmp" "$rd"
# the client where the unprivileged users can read it (the source
# tree may be under a private home)
cp "$top_srcdir/tests/tele-client.py" "$tmp/tc.py" && chmod 0644 "$tmp/tc.py"
UCLI="$PY $tmp/tc.py"
RUNTIME_DIRECTORY=$rd "$FWD" --port 'fsb0,dev(ring,name=a),dev(ring,name=b)' --peer 'ring,name=a' \
	--peer 'ring,name=b' --forward-mode txonly --tx-rate 5000 --duration 30 \
	--telemetry "prefix=acc,group=fsbtg$$" --json > "$tmp/acc.json" 2> "$tmp/acc.err" &
afwd=$!
asock=$rd/dpdk/acc/dpdk_telemetry.v2
for i in $(seq 200); do grep -q "control socket" "$tmp/acc.err" && break; sleep 0.05; done
ad=$(stat -c '%a %U %G' "$rd/dpdk/acc"); as=$(stat -c '%a %U %G' "$asock")
[ "$ad" = "750 root fsbtg$$" ] && [ "$as" = "660 root fsbtg$$" ] &&
	ok "group=G: directory $ad, socket $as" || bad "group=G: directory '$ad', socket '$as'"
setpriv --reuid "fsbtm$$" --regid nogroup --init-groups $UCLI req "$asock" "/ethdev/stats,0" \
	"/fsb/detach,0,0" "/fsb/stats_reset,0" "/fsb/log_level,debug" "/fsb/port,0" > "$tmp/mem" 2>&1
grep -q '"/ethdev/stats":{"ipackets"' "$tmp/mem" && grep -q '"/fsb/detach":null' "$tmp/mem" &&
	grep -q '"/fsb/stats_reset":null' "$tmp/mem" && grep -q '"/fsb/log_level":null' "$tmp/mem" &&
	grep -q '"active_slot":0' "$tmp/mem" &&
	ok "a member of G (uid $(id -u "fsbtm$$")): reads, and null for detach, stats_reset, log_level" ||
	bad "member of G: $(cat "$tmp/mem")"
setpriv --reuid "fsbto$$" --regid nogroup --init-groups $UCLI req "$asock" /info > "$tmp/oth" 2>&1 &&
	bad "a user outside G connected: $(cat "$tmp/oth")" ||
	ok "a user outside G cannot connect: $(tail -1 "$tmp/oth" | cut -c1-80)"
kill -INT "$afwd"; wait "$afwd"; arc=$?
[ "$arc" = 0 ] && [ ! -e "$asock" ] && ok "SIGINT: exit 0, the socket is gone" ||
	bad "SIGINT: exit $arc, socket $(ls -l "$asock" 2>&1)"
alost=$(sed -n 's/.*"lost":\([0-9]*\)}.*/\1/p' "$tmp/acc.json" | head -1)
[ "$alost" = 0 ] && ok "the access checks' port forwarded throughout: 0 lost at its peer" ||
	bad "access port: lost '$alost': $(cat "$tmp/acc.json" | cut -c1-300)"

# 2. key sets against a live testpmd
tsock=/var/run/dpdk/$tpfx/dpdk_telemetry.v2
for i in $(seq 200); do [ -S "$tsock" ] && break; sleep 0.05; done
for c in "/ethdev/info,0" "/ethdev/stats,0" "/ethdev/link_status,0"; do
	tele "$tpfx" "$c" > "$tmp/tk"
	tele "$pfx" "$c" > "$tmp/ok"
	kt=$(val "$tmp/tk" '" ".join(v)' 2>&1); ko=$(val "$tmp/ok" '" ".join(v)' 2>&1)
	[ -n "$kt" ] && [ "$kt" = "$ko" ] && ok "$c: the keys of testpmd's reply ($(echo "$kt" | wc -w))" ||
		bad "$c: keys differ: testpmd '$kt', ours '$ko'"
done

# 1. the counters, still (both slots detached), against the summary
$CLI req "$sock" "/fsb/detach,0,0" "/fsb/detach,0,1" > /dev/null
sleep 0.3
tele "$pfx" "/ethdev/stats,0" > "$tmp/st"
tele "$pfx" "/ethdev/xstats,0" > "$tmp/xs"
kill -INT "$fwd"; wait "$fwd"; rc=$?; fwd=
[ "$rc" = 0 ] && [ ! -e "$sock" ] && ok "fsb-fwd exit 0 at SIGINT; its socket is gone" ||
	bad "fsb-fwd exit $rc; socket $(ls -l "$sock" 2>&1)"
o_sum=$(sed -n 's/.*"ports":\[{[^}]*"tx_packets":\([0-9]*\),.*/\1/p' "$tmp/fwd.json")
o_tel=$(val "$tmp/st" 'v["opackets"]')
x_tel=$(val "$tmp/xs" 'v["sub0_tx_packets"] + v["sub1_tx_packets"]')
[ -n "$o_sum" ] && [ "$o_sum" = "$o_tel" ] && [ "$x_tel" = "$o_tel" ] && [ "$o_tel" -gt 0 ] &&
	ok "opackets $o_tel: dpdk-telemetry.py and fsb-fwd's summary agree (and the xstats' per-slot sum)" ||
	bad "opackets: telemetry '$o_tel', summary '$o_sum', per-slot '$x_tel'"
lost=$(sed -n 's/.*"lost":\([0-9]*\)}.*/\1/p' "$tmp/fwd.json" | head -1)
[ "$lost" = 0 ] && ok "0 lost at the peers through the socket's detach/attach and the bad input" ||
	bad "lost '$lost' at the peers: $(cut -c1-400 "$tmp/fwd.json")"

# cmocka-style totals, so that tests/summary.sh counts each case
echo "[  PASSED  ] $((n - fails)) test(s)."
[ "$fails" = 0 ] || echo "[  FAILED  ] $fails test(s)."
echo "$me: $((n - fails)) passed, $fails failed"
[ "$fails" = 0 ]
