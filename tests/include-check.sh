#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# include-check.sh - the internal headers stand alone, the includes of
# src/ and subdev/ have no cycle, and they run one way through the
# layers:
#
#   base     fsb/fsb.h, fsb_private.h, log, ctx*, spec, ring, mempool,
#            migration/announce_frame   (frames and the option, pure)
#   loop     loop                       (the control thread's event loop)
#   source   devsignal, nlmon, netlink, uevent, sigbus, vfio
#   subdev   subdev/*                   (the ops table and the kinds)
#   port     port, sync, qsbr, burst, replay, stats, route, bare,
#            migration/announce         (the announcer: the port's own)
#   ctl      ctl, telemetry             (the two threads of the control side)
#   top      ctx.c, fsb-fwd.c           (they start and stop everything),
#            migration/fsb-peer, drill_report (fsb-drill's tools: libc only),
#            fsbctl                     (the control socket's client: libc only)
#
# A file may include headers of its own layer and of layers before it,
# never after.  Modules are files without their extension (x.c and x.h
# are one module), so a cycle is one between modules.  tsort(1) finds
# cycles; awk checks the layers.  Prints each include that breaks a rule.
set -eu
: "${top_srcdir:=.}" "${top_builddir:=.}"
top_builddir=$(cd "$top_builddir" && pwd)
cd "$top_srcdir"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

layer() {
	case "$1" in
	src/fsb/fsb|src/fsb_private|src/log|src/spec|src/ring|src/mempool|src/fsb-check|migration/announce_frame) echo 0 ;;
	src/loop) echo 1 ;;
	src/devsignal|src/nlmon|src/netlink|src/uevent|src/sigbus|src/vfio) echo 2 ;;
	subdev/*) echo 3 ;;
	src/port|src/sync|src/qsbr|src/burst|src/replay|src/stats|src/route|src/bare|migration/announce) echo 4 ;;
	src/ctl|src/telemetry) echo 5 ;;
	src/ctx|src/fsb-fwd|src/fsbctl|migration/fsb-peer|migration/drill_report) echo 6 ;;
	*) echo "?" ;;
	esac
}

# "#include "x.h"" resolves as the compiler does here: the including
# file's directory, then -I src, then -I subdev (config.h is generated).
resolve() {
	dir=$1; inc=$2
	for d in "$dir" src subdev migration; do
		[ -f "$d/$inc" ] && { echo "$d/${inc%.h}"; return; }
	done
	echo "?"
}

rc=0
: > "$t/edges"
for f in src/*.c src/*.h src/fsb/*.h subdev/*.c subdev/*.h migration/*.c migration/*.h; do
	from="${f%.*}"
	lf=$(layer "$from")
	[ "$lf" = "?" ] && { echo "include-check: $f: no layer (add it to tests/include-check.sh)"; rc=1; continue; }
	for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
		[ "$inc" = config.h ] && continue
		to=$(resolve "$(dirname "$f")" "$inc")
		[ "$to" = "?" ] && { echo "include-check: $f: cannot find $inc"; rc=1; continue; }
		[ "$to" = "$from" ] && continue
		echo "$from $to" >> "$t/edges"
		lt=$(layer "$to")
		if [ "$lt" -gt "$lf" ]; then
			echo "include-check: $f (layer $lf) includes $inc (layer $lt): against the layers"
			rc=1
		fi
	done
done
if ! tsort "$t/edges" > /dev/null 2> "$t/loop"; then
	echo "include-check: an include cycle:"; cat "$t/loop"; rc=1
fi

# every internal header compiles on its own
CC=${CC:-cc}
for h in src/*.h subdev/*.h migration/*.h; do
	printf '#include "config.h"\n#include "%s"\n' "$(basename "$h")" > "$t/h.c"
	if ! $CC -std=gnu11 -fsyntax-only -Wall -I"$top_builddir" -Isrc -Isubdev -Imigration \
		-I"$(dirname "$h")" "$t/h.c" 2> "$t/err"; then
		echo "include-check: $h does not compile on its own:"; head -5 "$t/err"; rc=1
	fi
done
[ $rc -eq 0 ] && echo "include-check: $(sort -u "$t/edges" | wc -l) module includes, no cycle, one way through the layers; every header stands alone"
exit $rc
