# SPDX-License-Identifier: BSD-3-Clause
# scene-check.sh - one headline scene as a `make check` test, for ours
# and for the kernel's net_failover (sourced by tests/qemu-SCENE.sh with
# $scene set).
#
# Each runs once, ours first.  What is checked, from outside (the sink's
# sequence numbers, QEMU's events):
#   - both runs went through: the guest booted, negotiated STANDBY, the
#     frames reached the primary's path, every QMP step and event came;
#   - ours: the sender exited 0, nothing accepted and dropped by the
#     port, at most 64 frames lost at the sink (see below), none
#     duplicated; the primary came back where the scene brings it
#     back;
#   - the kernel's: the sender exited 0 (its figures are the anchor).
# Both runs' figures are printed side by side; tests/bench/qemu-failover
# runs them interleaved, several times, for the medians.
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
FSB_QMP=${FSB_QMP:-$top_builddir/tests/tools/fsb-qmp}
FSB_UDPSINK=${FSB_UDPSINK:-$top_builddir/tests/tools/fsb-udpsink}
me=qemu-$scene
command -v qemu-system-x86_64 >/dev/null || {
	echo "$me: qemu-system-x86_64 not found (install qemu-system-x86): skipped"; exit 77; }
. "$top_srcdir/tests/qemu/qemu-lib.sh"
. "$top_srcdir/tests/qemu/scenes.sh"

d=$(mktemp -d /tmp/fsb-qemu.XXXXXX)
[ -n "${QEMU_KEEP:-}" ] && echo "$me: keeping $d"
trap 'qemu_kill_all "$d/ours"; qemu_kill_all "$d/kernel"; [ -n "${QEMU_KEEP:-}" ] || rm -rf "$d"' EXIT
show() {
	for f in "$1"/*.serial; do
		[ -f "$f" ] || continue
		echo "--- $f"; grep -v '^\[' "$f" | tail -25
	done
	echo "--- events"; cat "$1"/*.events 2>/dev/null | cut -c1-160 | tail -20
	echo "--- qemu and fsb-qmp"; cat "$1"/*.out 2>/dev/null | grep -v "^\(READY\|PATH\|FIRST\|SUMMARY\|BUCKETS\)" | tail -10
	echo "--- sink"; grep -v "^FIRST" "$1/sink.out" 2>/dev/null | tail -8
}
fail() { echo "$me: FAIL: $*"; exit 1; }

qemu_image "$top_builddir" || fail "no guest image"
t0=$(date +%s)
for who in ours kernel; do
	mkdir -p "$d/$who"
	if ! scene_run "$d/$who" "$scene" "$who"; then
		show "$d/$who"
		fail "$who: $(cat "$d/$who/why")"
	fi
done
t1=$(date +%s)

printf '%s: %-16s %12s %12s\n' "$me" "" ours kernel
for k in sent lost missing tx_errors dups reordered gap_us silence_us del_us back_ms \
	 wait_unplug_ms mig_total_ms mig_downtime_ms mig_ram_kb fwd_rc; do
	o=$(scene_get "$d/ours" $k); n=$(scene_get "$d/kernel" $k)
	[ -z "$o$n" ] && continue
	printf '%s: %-16s %12s %12s\n' "$me" "$k" "${o:--}" "${n:--}"
done
echo "$me: both runs took $((t1 - t0)) s"

g() { scene_get "$d/$1" "$2"; }
[ "$(g kernel fwd_rc)" = 0 ] || { show "$d/kernel"; fail "the kernel's sender failed"; }
[ "$(g ours fwd_rc)" = 0 ] || { show "$d/ours"; fail "fsb-fwd failed in the guest"; }
[ "$(g ours dups)" = 0 ] || { show "$d/ours"; fail "ours: $(g ours dups) frames duplicated"; }
# Goal 0 (the bench's medians are 0).  But a removal can take frames
# that the driver accepted: e1000e's remove() sets its "down" bit and
# cancels its timers and work before it unregisters the netdev, and in
# that window its xmit frees every frame and returns OK, with the
# carrier still on and nothing counted (the kernel's net_failover,
# sending through the same driver, lost up to 10 per run here).  The
# window is time, so it grows with the host's load: the sink's bound is
# generous, and what must be exactly 0 is what the port itself accepted
# and dropped (tx_errors: ~90 per removal before issue 13).
[ "$(g ours tx_errors)" = 0 ] ||
	{ show "$d/ours"; fail "ours: the port accepted and dropped $(g ours tx_errors) frames"; }
[ "$(g ours lost)" -le 64 ] ||
	{ show "$d/ours"; fail "ours: $(g ours lost) frames lost ($(g ours missing))"; }
[ "$(g ours sent)" -gt $(( $(scene_duration "$scene") * SCENE_PPS / 4 )) ] ||
	{ show "$d/ours"; fail "ours: only $(g ours sent) frames sent"; }
echo "$me: PASS"
