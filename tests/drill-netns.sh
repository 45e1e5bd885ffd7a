#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# drill-netns.sh - fsb-drill's netns half, end to end (issue 17):
#  1. bad arguments: exit 2, one line on stderr, nothing created;
#  2. every netns scenario once (the CI-sized drill), exit 0, every
#     verdict PASS; report.json parses and has the fields a reader
#     needs; timeline.svg parses as XML (xmllint) and renders
#     (rsvg-convert to PNG);
#  3. the verdict can fail: remove with a hold-down longer than the run
#     cannot meet its criteria, exit 1, with the reason;
#  4. SIGINT mid-run: exit 1, a partial report that says so, and none
#     of the drill's namespaces, veths, processes or sockets left.
# Needs root (netns), dpdk-testpmd, xmllint, rsvg-convert, python3
# (installed by tests/bootstrap.sh).
set -u
LC_ALL=C
export LC_ALL
: "${top_builddir:=build}"
DRILL=${FSB_DRILL:-$top_builddir/migration/fsb-drill}
# shellcheck source=tests/interrupt-lib.sh
. "$(dirname "$0")/interrupt-lib.sh"
pass=0 fail=0
ok() { echo "[       OK ] $*"; pass=$((pass + 1)); }
bad() { echo "[  FAILED  ] $*"; fail=$((fail + 1)); }

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
ip netns add fsb-drill-probe$$ 2>/dev/null || { echo "SKIP: no netns"; exit 77; }
ip netns del fsb-drill-probe$$
for t in dpdk-testpmd xmllint rsvg-convert python3; do
	command -v $t >/dev/null 2>&1 || { echo "SKIP: $t missing (tests/bootstrap.sh installs it)"; exit 77; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/drill-test.XXXXXX")
trap 'rm -rf "$T"' EXIT

# ---- 1. bad arguments ----
# (only the drill's own names: other tests make namespaces of their own
# while make check runs in parallel)
drill_ns() { ip netns list | grep -E '^fsb-(dut|peer)-d[0-9]+' | tr '\n' ' '; }
ns0=$(drill_ns)
badargs() {  # WANT-IN-MESSAGE ARGS...
	_w=$1; shift
	"$DRILL" "$@" >"$T/o" 2>"$T/e"
	_rc=$?
	_n=$(wc -l <"$T/e")
	if [ $_rc -eq 2 ] && [ "$_n" -eq 1 ] && grep -q "$_w" "$T/e" && [ ! -s "$T/o" ]; then
		ok "bad arguments '$*': exit 2: $(cat "$T/e")"
	else
		bad "bad arguments '$*': exit $_rc, $_n stderr lines (want 2 and one line naming '$_w'):"
		sed 's/^/    | /' "$T/e" "$T/o"
	fi
}
badargs 'no mode'
badargs "unknown mode 'frob'" frob
badargs "unknown netns scenario 'bogus'" netns bogus
badargs "given twice" netns remove remove
badargs "'0' is out of range\|0 is out of range" netns --runs 0
badargs "'abc' is not a whole number" netns --rate abc
badargs "'foo' is not vhost or af_packet" netns --standby foo
badargs "needs a value" netns --out
badargs "needs --standby vhost" netns backend-restart --standby af_packet
badargs "unknown option '--frob'" netns --frob
badargs "unknown qemu scenario 'bogus'" qemu bogus
badargs "option '--standby' is not for the qemu scenarios" qemu migrate --standby vhost
badargs "option '--anchor' is for the qemu scenarios" netns remove --anchor
badargs "'foo' is not af_packet or virtio_pci" qemu --primary foo
[ "$(drill_ns)" = "$ns0" ] && ok "bad arguments started nothing" ||
	bad "bad arguments left namespaces: $(drill_ns)"

# ---- 2. the drill, every netns scenario ----
"$DRILL" netns --out "$T/all" >"$T/all.out" 2>&1
rc=$?
sed 's/^/    | /' "$T/all.out"
[ $rc -eq 0 ] && ok "fsb-drill netns (all scenarios): exit 0" || bad "fsb-drill netns: exit $rc"
for sc in remove detach flap rename backend-restart all-down; do
	grep -q "^verdict $sc #1: PASS" "$T/all.out" && ok "verdict $sc: PASS" ||
		bad "verdict $sc: $(grep "^verdict $sc" "$T/all.out")"
done
if python3 - "$T/all/report.json" >"$T/py" 2>&1 <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
# the schema, not the verdicts (their own cases above judge those)
assert r["tool"] == "fsb-drill" and r["runs_total"] == 6, "top level"
assert r["pass"] == all(x["verdict"]["pass"] for x in r["runs"]), "top-level pass disagrees with the runs"
need = ["scenario", "variant", "run", "params", "paths", "phases", "frames", "switchovers",
        "longest_silence", "recovery_ms", "migration", "counters", "events", "criteria", "verdict"]
for run in r["runs"]:
    for k in need:
        assert k in run, "%s: no %s" % (run["scenario"], k)
    for ph in ("before", "during", "after"):
        assert ph in run["phases"], ph
    for k in ("sent", "received", "lost", "duplicated", "reordered", "port_dropped"):
        assert k in run["frames"], k
    assert run["frames"]["duplicated"] == 0, "duplicates"
    for s in run["switchovers"]:
        for k in ("t_s", "from", "to", "cause", "downtime_ms"):
            assert k in s, k
    assert isinstance(run["verdict"]["pass"], bool), run["verdict"]
    # from outside: the sink saw what the sender sent, less the loss
    f = run["frames"]
    assert f["received"] + f["lost"] >= f["sent"], f
byname = {x["scenario"]: x for x in r["runs"]}
assert byname["detach"]["frames"]["lost"] == 0, "a planned detach lost frames"
assert len(byname["remove"]["switchovers"]) >= 2, "remove: no switch and return"
for g in r["summary"]:
    for k in ("runs", "passed", "median_switchover_ms", "median_lost"):
        assert k in g, k
print("report.json: %d runs, fields present" % len(r["runs"]))
PY
then ok "$(cat "$T/py")"; else bad "report.json: $(tail -3 "$T/py")"; fi
if xmllint --noout "$T/all/timeline.svg" 2>"$T/x"; then ok "timeline.svg is well-formed XML"
else bad "timeline.svg: $(head -3 "$T/x")"; fi
if rsvg-convert -o "$T/all/timeline.png" "$T/all/timeline.svg" 2>"$T/x" && [ -s "$T/all/timeline.png" ]; then
	ok "timeline.svg renders (rsvg-convert: $(wc -c <"$T/all/timeline.png") bytes of PNG)"
else bad "rsvg-convert: $(head -3 "$T/x")"; fi

# the af_packet standby (no testpmd on the path)
"$DRILL" netns remove all-down --standby af_packet --out "$T/afp" >"$T/afp.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q '^scenario remove: PASS' "$T/afp.out" && grep -q '^scenario all-down: PASS' "$T/afp.out"; then
	ok "fsb-drill netns remove all-down --standby af_packet: exit 0, both PASS"
else
	bad "fsb-drill netns remove all-down --standby af_packet: exit $rc"
	sed 's/^/    | /' "$T/afp.out"
fi

# ---- 3. a verdict that cannot hold ----
"$DRILL" netns remove --hold-down 60000 --out "$T/fail" >"$T/fail.out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q '^verdict remove #1: FAIL: .*after' "$T/fail.out"; then
	ok "hold_down=60000: exit 1, $(grep '^verdict' "$T/fail.out")"
else
	bad "hold_down=60000: exit $rc (want 1 and a FAIL verdict naming the after phase)"
	sed 's/^/    | /' "$T/fail.out"
fi

# ---- 4. SIGINT mid-run ----
interrupt_run "$T/int.out" 'fsb-drill: remove #1' 10 3 "$DRILL" netns remove flap --out "$T/int"
dpid=$INT_PID rc=$INT_RC
left=""
ip netns list | grep -q -- "-d$dpid\b" && left="$left netns:$(ip netns list | grep -- "-d$dpid" | tr '\n' ' ')"
ip link show "fsbd$dpid" >/dev/null 2>&1 && left="$left veth:fsbd$dpid"
pgrep -f "fsbdrill$dpid" >/dev/null && left="$left testpmd"
pgrep -f "fsb-dut-d$dpid|fsb-peer-d$dpid" >/dev/null && left="$left processes:$(pgrep -f "fsb-dut-d$dpid|fsb-peer-d$dpid" | tr '\n' ' ')"
[ -e "/var/run/dpdk/fsbdrill$dpid" ] && left="$left /var/run/dpdk/fsbdrill$dpid"
ls -d "${TMPDIR:-/tmp}"/fsb-drill.* 2>/dev/null | while read -r d; do
	[ -e "$d/vhost.sock" ] && echo "$d" ; done >"$T/socks"
[ -s "$T/socks" ] && left="$left sockets:$(cat "$T/socks")"
if [ $rc -eq 1 ] && [ -z "$left" ] && grep -q 'interrupted' "$T/int/report.json" 2>/dev/null; then
	ok "SIGINT: exit 1, nothing left behind, partial report says interrupted"
else
	bad "SIGINT: exit $rc (want 1), left behind:${left:- nothing}, report: $(grep -c interrupted "$T/int/report.json" 2>/dev/null)"
	sed 's/^/    | /' "$T/int.out"
fi

echo "[  PASSED  ] $pass test(s)."
[ "$fail" -eq 0 ] || echo "[  FAILED  ] $fail test(s)."
echo "drill-netns: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
