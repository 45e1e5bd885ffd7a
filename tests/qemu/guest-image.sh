#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# guest-image.sh - the QEMU guest's kernel and initramfs, from Debian
# packages only (design.md 6b), cached by their inputs.
#
# Usage: guest-image.sh OUTDIR BUILDDIR
#   OUTDIR     where vmlinuz and initrd.gz go (and the cache key)
#   BUILDDIR   the build tree whose fsb-fwd, fsb-seqsend, fsb-vfio-probe
#              (and fsb-peer) go in
#
# What goes in:
#   - the kernel that linux-image-amd64 depends on, fetched with
#     `apt-get download` and unpacked with `dpkg -x` (never installed on
#     the host);
#   - the modules the scenarios need, with everything their depends=
#     lines name, loaded by /init in dependency order (busybox insmod:
#     no depmod needed);
#   - busybox from busybox-static, as /bin/busybox with its applets;
#   - our programs with the libraries ldd lists and the loader: the
#     guest runs the same Debian 12 userland as this host;
#   - /init (guest-init.sh), which mounts what a guest needs, loads the
#     modules, brings lo up and runs the command given on the kernel's
#     command line as fsb.run=... (base64, so any shell text fits), then
#     powers off.  Its output goes to the serial console.
#
# The key is the kernel package's version, busybox's, and the checksums
# of every file we put in: a second run with the same inputs reuses the
# image (`make check` twice does not rebuild it).  Prints OUTDIR's two
# paths on success.
set -eu
out=${1:?usage: guest-image.sh OUTDIR BUILDDIR}
build=${2:?usage: guest-image.sh OUTDIR BUILDDIR}
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "guest-image: $*" >&2; exit 1; }

# Modules, roots only: their dependencies come from depends=.
MODULES="virtio_pci virtio_net e1000e uio_pci_generic vfio-pci vfio_iommu_type1"

command -v apt-get >/dev/null || die "apt-get not found (a Debian host is needed)"
[ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 ||
	die "/bin/busybox not found (install busybox-static)"
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	sed -n 's/.*Depends: \(linux-image-6\.[^ ]*-amd64\)$/\1/p' | head -1)
[ -n "$kpkg" ] || die "no kernel package behind linux-image-amd64 (apt-get update?)"
kver=$(apt-cache policy "$kpkg" | sed -n 's/.*Candidate: //p')
bbver=$(dpkg-query -W -f '${Version}' busybox-static 2>/dev/null || echo unknown)

fwd=$build/src/.libs/fsb-fwd
[ -x "$fwd" ] || fwd=$build/src/fsb-fwd
[ -x "$fwd" ] && [ -f "$fwd" ] || die "$build/src/fsb-fwd not built"
peer=$build/migration/fsb-peer
seqsend=$build/tests/tools/fsb-seqsend
[ -x "$seqsend" ] || die "$seqsend not built"
vprobe=$build/tests/tools/fsb-vfio-probe
[ -x "$vprobe" ] || die "$vprobe not built"
bins="$fwd $seqsend $vprobe"
[ -x "$peer" ] && bins="$bins $peer"

mkdir -p "$out"
key=$( { echo "$kpkg $kver $bbver $MODULES"
	 cat "$here/guest-init.sh" "$0"
	 for b in $bins; do cat "$b"; ldd "$b"; done
	 ls "$build"/src/.libs/libfsb.so* 2>/dev/null | xargs -r cat; } |
	sha256sum | cut -c1-16)
if [ -f "$out/key" ] && [ "$(cat "$out/key")" = "$key" ] &&
   [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.gz" ]; then
	echo "$out/vmlinuz $out/initrd.gz"
	exit 0
fi

t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
# The .deb is cached next to the image: it is 70 MB.
deb=$(ls "$out"/"${kpkg}"_*.deb 2>/dev/null | head -1 || true)
if [ -z "$deb" ]; then
	(cd "$out" && apt-get download "$kpkg" >/dev/null 2>"$t/apt.err") ||
		{ cat "$t/apt.err" >&2; die "apt-get download $kpkg failed"; }
	deb=$(ls "$out"/"${kpkg}"_*.deb | head -1)
fi
dpkg -x "$deb" "$t/k"
vmlinuz=$(ls "$t"/k/boot/vmlinuz-* | head -1)
moddir=$(ls -d "$t"/k/lib/modules/* | head -1)

root=$t/root
mkdir -p "$root/bin" "$root/sbin" "$root/etc" "$root/proc" "$root/sys" \
	"$root/dev" "$root/tmp" "$root/run" "$root/mnt" "$root/lib/fsb" "$root/var/run"
cp /bin/busybox "$root/bin/busybox"
for a in $(/bin/busybox --list); do
	[ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
done

# Modules in load order: depth-first over depends=, each once.
order=""
modfile() { find "$moddir" -name "$1.ko" | head -1; }
# (sh has no locals: the file is looked up again after the recursion)
visit() {
	case " $order " in *" $1 "*) return 0;; esac
	[ -n "$(modfile "$1")" ] || return 0        # built in
	for d in $(tr '\0' '\n' < "$(modfile "$1")" | sed -n 's/^depends=//p' |
		   tr ',' ' '); do
		visit "$d"
	done
	order="$order $1"
	cp "$(modfile "$1")" "$root/lib/fsb/$1.ko"
}
for m in $MODULES; do visit "$m"; done
echo "$order" > "$root/lib/fsb/modules.order"

# Our programs and their libraries, at the paths ldd gives (the loader
# first); the in-tree libfsb.so comes from the build's .libs.
copy_lib() {
	[ -f "$1" ] || return 0
	mkdir -p "$root$(dirname "$1")"
	[ -e "$root$1" ] || cp -L "$1" "$root$1"
}
for b in $bins; do
	cp "$b" "$root/bin/$(basename "$b")"
	LD_LIBRARY_PATH=$build/src/.libs ldd "$b" | while read -r l; do
		case $l in
		*"=> "/*) p=${l#*=> }; copy_lib "${p%% (*}" ;;
		/*) copy_lib "${l%% (*}" ;;
		esac
	done
done
for so in "$build"/src/.libs/libfsb.so*; do
	[ -e "$so" ] && cp -P "$so" "$root/lib/"
done
cp "$here/guest-init.sh" "$root/init"
chmod 755 "$root/init"

# busybox's cpio writes newc, which is what the kernel unpacks
(cd "$root" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) |
	gzip -1 > "$t/initrd.gz"
cp "$vmlinuz" "$out/vmlinuz"
mv "$t/initrd.gz" "$out/initrd.gz"
echo "$key" > "$out/key"
echo "$out/vmlinuz $out/initrd.gz"
