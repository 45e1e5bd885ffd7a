#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# abi-check.sh - the exported ABI is what we say it is: the functions
# the .so exports (nm), the ones src/libfsb.map lists and the ones
# <fsb/fsb.h> declares FSB_API are the same set, all at version
# LIBFSB_0.  A helper leaking out, a forgotten map entry or a declared
# function nobody defines each fail here with the names.
set -eu
: "${top_srcdir:=.}" "${top_builddir:=.}"
so="$top_builddir/src/.libs/libfsb.so"
[ -f "$so" ] || { echo "abi-check: $so not built"; exit 1; }
command -v nm >/dev/null || { echo "abi-check: nm not found (binutils)"; exit 1; }
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

nm -D --defined-only "$so" | awk '$2 == "T" || $2 == "D" || $2 == "B" { print $3 }' |
	sort > "$t/nm"
sed -n 's/^[[:space:]]*\(fsb_[a-z0-9_]*\);$/\1/p' "$top_srcdir/src/libfsb.map" | sort > "$t/map"
# FSB_API declarations: the name before the first '(' of each one
awk '/^FSB_API/ { d = 1; s = "" } d { s = s $0 } d && /\(/ {
	sub(/\(.*/, "", s); n = split(s, w, /[ *]+/); print w[n]; d = 0 }' \
	"$top_srcdir/src/fsb/fsb.h" | sort > "$t/hdr"

rc=0
if grep -v '@@LIBFSB_0$' "$t/nm" | grep -q .; then
	echo "abi-check: exported without version LIBFSB_0:"; grep -v '@@LIBFSB_0$' "$t/nm"; rc=1
fi
sed 's/@@LIBFSB_0$//' "$t/nm" > "$t/nm2"
cmp_sets() {
	if ! diff -u "$t/$1" "$t/$2" > "$t/diff"; then
		echo "abi-check: $3:"; grep '^[-+]fsb' "$t/diff"; rc=1
	fi
}
cmp_sets map nm2 "libfsb.map (-) and the .so's exports (+) differ"
cmp_sets hdr map "fsb.h's FSB_API functions (-) and libfsb.map (+) differ"
[ $rc -eq 0 ] && echo "abi-check: $(wc -l < "$t/map") functions, header = map = exports"
exit $rc
