#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Install into a scratch prefix, then build tests/ext/hello.c with
# `pkg-config --cflags --libs libfsb` alone and run it.  Also checks that
# the .so exports only fsb_* symbols under the LIBFSB_0 version node.
# Usage: install-check.sh SRCDIR BUILDDIR
set -e
src=$(cd "$1" && pwd); build=$(cd "$2" && pwd)
dest=$(mktemp -d); trap 'rm -rf "$dest"' EXIT
# Staged install, as a packager does it: DESTDIR, and pkg-config told
# that the tree lives under it (PKG_CONFIG_SYSROOT_DIR).
make -s -C "$build" install DESTDIR="$dest" >/dev/null 2>&1 ||
	{ make -C "$build" install DESTDIR="$dest"; exit 1; }
pcdir=$(dirname "$(find "$dest" -name libfsb.pc | head -1)")
export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$dest"
libdir=${pcdir%/pkgconfig}
prefix=$(pkg-config --variable=prefix libfsb)   # sysroot-prefixed
case "$prefix" in "$dest"*) ;; *) prefix="$dest$prefix" ;; esac
# shellcheck disable=SC2046
cc -o "$dest/hello" "$src/tests/ext/hello.c" $(pkg-config --cflags --libs libfsb)
LD_LIBRARY_PATH="$libdir" "$dest/hello"
bad=$(nm -D --defined-only "$libdir/libfsb.so" | awk '$2 ~ /[TDB]/ {print $3}' |
	grep -v '^fsb_' | grep -v '^LIBFSB_0$' || true)
if [ -n "$bad" ]; then
	echo "install-check: non-API symbols exported: $bad" >&2
	exit 1
fi
objdump -T "$libdir/libfsb.so" | grep -q 'LIBFSB_0.*fsb_port_open' ||
	{ echo "install-check: fsb_port_open not versioned LIBFSB_0" >&2; exit 1; }
test -f "$prefix/include/fsb/fsb.h" && test -x "$prefix/bin/fsb-fwd" &&
	test -f "$prefix/share/man/man8/fsb-fwd.8" && test -f "$prefix/share/man/man3/libfsb.3"
# fsb-drill from the install, with its helpers and topology found
# around it (a staged install: the configured paths do not exist yet)
test -x "$prefix/sbin/fsb-drill" && test -f "$prefix/share/man/man8/fsb-drill.8"
test -x "$prefix/bin/fsbctl" && test -f "$prefix/share/man/man8/fsbctl.8" ||
	{ echo "install-check: fsbctl or fsbctl(8) not installed" >&2; exit 1; }
# the completions where bash-completion looks (its pkg-config file's
# completionsdir, else under the prefix), one name per command
cdir=$(sed -n 's/^bashcompletiondir = //p' "$build/Makefile")
cdir=$(echo "$cdir" | sed "s|\$(datarootdir)|$prefix/share|; s|\${datarootdir}|$prefix/share|; s|\${prefix}|$prefix|")
case "$cdir" in "$dest"*) ;; *) cdir="$dest$cdir" ;; esac
for c in fsbctl fsb-fwd fsb-drill; do
	[ "$(readlink "$cdir/$c")" = fsb.bash-completion ] && [ -f "$cdir/fsb.bash-completion" ] ||
		{ echo "install-check: no bash completion for $c in $cdir" >&2; exit 1; }
done
"$prefix/sbin/fsb-drill" list | grep -q '^netns remove' ||
	{ echo "install-check: the installed fsb-drill does not list its scenarios" >&2; exit 1; }
if [ "$(id -u)" = 0 ]; then
	LD_LIBRARY_PATH="$libdir" "$prefix/sbin/fsb-drill" netns remove --standby af_packet \
		--out "$dest/drill" >"$dest/drill.out" 2>&1 ||
		{ cat "$dest/drill.out" >&2; echo "install-check: the installed fsb-drill failed" >&2; exit 1; }
	grep '^scenario remove' "$dest/drill.out"
fi
echo "install-check: ok ($(nm -D --defined-only "$libdir/libfsb.so" | grep -c ' T fsb_') API functions exported)"
