#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# drill-qemu.sh - fsb-drill's QEMU half, end to end (issue 17): every
# QEMU scenario (unplug, replug, migrate, migrate-fail, migrate-cancel)
# once for our port and once for the kernel's net_failover (--anchor),
# in TCG guests of the harness (tests/qemu/).  It replaces the four
# scene tests that ran the same scenes before the drill existed, with
# their checks now the drill's criteria, from outside (the sink's
# sequence numbers, QEMU's events):
#   - ours: the guest's sender exited 0, the port accepted and dropped
#     nothing, at most 64 frames lost at the sink (e1000e's remove() can
#     take frames that its driver accepted, see design.md 6b), none
#     duplicated, traffic on the primary before, on the standby while it
#     is gone, and back on the primary where the scene brings it back;
#   - the kernel's (the anchor): its run went through and its sender
#     exited 0; its verdict is shown, not required.
# Then report.json has every run, and timeline.svg parses and renders.
# Then our virtio_pci primary (VFIO in the guest) through a live
# migration.  Last, SIGINT while a guest runs leaves nothing.
# Prints the drill's summary and "drill-qemu: took N s" (CI sums the
# QEMU time).
set -u
LC_ALL=C
export LC_ALL
: "${top_builddir:=build}"
DRILL=${FSB_DRILL:-$top_builddir/migration/fsb-drill}
# shellcheck source=tests/interrupt-lib.sh
. "$(dirname "$0")/interrupt-lib.sh"
me=drill-qemu
command -v qemu-system-x86_64 >/dev/null ||
	{ echo "$me: qemu-system-x86_64 not found (install qemu-system-x86): skipped"; exit 77; }
for t in xmllint rsvg-convert python3; do
	command -v $t >/dev/null 2>&1 || { echo "SKIP: $t missing (tests/bootstrap.sh installs it)"; exit 77; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/drill-qemu.XXXXXX")
[ -n "${QEMU_KEEP:-}" ] && echo "$me: keeping $T"
trap '[ -n "${QEMU_KEEP:-}" ] || rm -rf "$T"' EXIT
pass=0 fail=0
ok() { echo "[       OK ] $*"; pass=$((pass + 1)); }
bad() { echo "[  FAILED  ] $*"; fail=$((fail + 1)); }

t0=$(date +%s)
keep=; [ -n "${QEMU_KEEP:-}" ] && keep=--keep
"$DRILL" qemu --anchor $keep --out "$T/q" >"$T/out" 2>&1
rc=$?
t1=$(date +%s)
sed 's/^/    | /' "$T/out"
[ $rc -eq 0 ] && ok "fsb-drill qemu --anchor: exit 0" || bad "fsb-drill qemu --anchor: exit $rc"
for sc in unplug replug migrate migrate-fail migrate-cancel; do
	grep -q "^scenario $sc/fsb: PASS" "$T/out" && ok "$sc, our port: PASS" ||
		bad "$sc, our port: $(grep "^verdict $sc/fsb" "$T/out")"
done
if python3 - "$T/q/report.json" >"$T/py" 2>&1 <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
runs = r["runs"]
assert len(runs) == 10, "%d runs, want 10" % len(runs)
notes = []
for run in runs:
    name = "%s/%s" % (run["scenario"], run["variant"])
    for k in ("phases", "frames", "switchovers", "longest_silence", "events", "verdict", "counters"):
        assert k in run, "%s: no %s" % (name, k)
    # ours went through (the drill says so when the harness failed);
    # the anchor is the kernel's, judged and shown: a run of it that
    # failed is a figure (seen once: the kernel's traffic stopped on
    # the destination of a migration under load), not our failure
    gone = [w for w in run["verdict"]["reasons"]
            if w.startswith(("the run did not go through", "interrupted"))]
    if run["variant"] == "kernel":
        notes += ["note: the anchor's %s: %s" % (name, w) for w in gone]
        continue
    assert not gone, "%s: %s" % (name, gone[0])
    assert run["counters"].get("fwd_exit") == 0, "%s: the guest's sender failed" % name
    if run["scenario"].startswith("migrate"):
        assert run["migration"] is not None and "total_ms" in run["migration"] or \
               run["scenario"] != "migrate", "%s: no query-migrate figures" % name
        kinds = [e["kind"] for e in run["events"] if e["source"] == "qmp"]
        assert "MIGRATION" in kinds, "%s: no MIGRATION event" % name
for n in notes:
    print(n)
print("report.json: %d runs, ours each went through" % len(runs))
PY
then grep '^note:' "$T/py" | sed "s/^/$me: /"; ok "$(tail -1 "$T/py")"
else bad "report.json: $(tail -3 "$T/py")"; fi
xmllint --noout "$T/q/timeline.svg" 2>"$T/x" && ok "timeline.svg is well-formed XML" ||
	bad "timeline.svg: $(head -3 "$T/x")"
rsvg-convert -o "$T/q/timeline.png" "$T/q/timeline.svg" 2>"$T/x" && [ -s "$T/q/timeline.png" ] &&
	ok "timeline.svg renders" || bad "rsvg-convert: $(head -3 "$T/x")"

sed -n '/^scenario  *variant/,$p' "$T/out" | sed "s/^/$me: /"

# Our virtio_pci primary (VFIO in the guest, a vIOMMU) through a live
# migration (its unplug and re-plug are tests/qemu-virtio-pci.sh's; its
# failed and cancelled migrations run with fsb-drill, not in CI's QEMU
# budget of 10 minutes).
t2=$(date +%s)
"$DRILL" qemu migrate --primary virtio_pci $keep --out "$T/v" >"$T/vout" 2>&1
rc=$?
t3=$(date +%s)
sed 's/^/    | /' "$T/vout"
[ $rc -eq 0 ] && ok "fsb-drill qemu migrate --primary virtio_pci: exit 0" ||
	bad "fsb-drill qemu --primary virtio_pci: exit $rc"
for sc in migrate; do
	grep -q "^scenario $sc/fsb: PASS" "$T/vout" && ok "$sc, virtio_pci primary: PASS" ||
		bad "$sc, virtio_pci primary: $(grep "^verdict $sc/fsb" "$T/vout")"
done
sed -n '/^scenario  *variant/,/^(medians/p' "$T/vout" | sed "s/^/$me: virtio_pci: /"
# SIGINT while a guest runs: exit 1, a partial report that says so,
# and no QEMU, QMP logger or sink of the drill left.
t4=$(date +%s)
interrupt_run "$T/int.out" 'fsb-drill: unplug #1' 60 5 "$DRILL" qemu unplug replug --out "$T/int"
rc=$INT_RC
t5=$(date +%s)
left=$(pgrep -af "$T/int" | grep -v pgrep || true)
if [ $rc -eq 1 ] && [ -z "$left" ] && grep -q 'interrupted' "$T/int/report.json" 2>/dev/null; then
	ok "SIGINT mid-guest: exit 1, no QEMU, logger or sink left, partial report says interrupted"
else
	bad "SIGINT mid-guest: exit $rc (want 1), left: ${left:-nothing}"
	sed 's/^/    | /' "$T/int.out"
fi
# a run that did not go through kept its files: the guests' last lines
for f in "$T"/q/runs/*/*.serial "$T"/v/runs/*/*.serial; do
	[ -f "$f" ] || continue
	echo "    --- ${f#"$T"/}"
	grep -av '^\[' "$f" | tail -25 | sed 's/^/    | /'
	echo "    --- ${f#"$T"/}: QEMU's own output"
	tail -5 "${f%.serial}.out" 2>/dev/null | sed 's/^/    | /'
done
echo "$me: took $((t1 - t0 + t3 - t2 + t5 - t4)) s"
echo "[  PASSED  ] $pass test(s)."
[ "$fail" -eq 0 ] || echo "[  FAILED  ] $fail test(s)."
echo "$me: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
