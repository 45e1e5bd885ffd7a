#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# bootstrap.sh - the README's two commands.  On a fresh Debian 12
# machine, as root, it installs what is missing, runs autoreconf,
# configures and builds in ./build, then:
#
#   sh tests/bootstrap.sh demo    run the netns/veth failover demo (root):
#                                 fsb-drill netns remove, vhost standby
#   sh tests/bootstrap.sh check   build and run the tests; the last line is
#                                 "N passed, N failed, N skipped"
#
# It only does what is needed: packages already there are not
# reinstalled, and an up-to-date build is not redone.
set -e
cd "$(dirname "$0")/.."
top=$(pwd)
what="${1:-}"
case "$what" in
demo|check) ;;
*) echo "usage: sh tests/bootstrap.sh demo|check" >&2; exit 2 ;;
esac

# Build and test dependencies (Debian package names).  DPDK is a test
# peer only, never linked: dpdk-dev ships dpdk-testpmd (the vhost-user
# backend of the interop tests and of the demo's standby), dpdk ships
# dpdk-telemetry.py.  procps: pgrep and sysctl in the test scripts.
# qemu-system-x86 and busybox-static: the QEMU guest harness
# (tests/qemu/; its kernel is fetched with apt-get download, never
# installed).  tcpdump: a frame decoder we did not write reads the
# announcements back (tests/test_announce, tests/netns-announce.sh).
# librsvg2-bin (rsvg-convert) and libxml2-utils (xmllint): the drill's
# timeline.svg must render and parse (tests/drill-netns.sh); python3
# reads its report.json there (DPDK's scripts need it anyway).
# bash-completion: make install puts the completions of fsbctl, fsb-fwd
# and fsb-drill where its pkg-config file says; tests/completion.sh
# drives them through its loader.
# CI proves this list in a fresh Debian chroot
# (.ci/fresh-chroot).
PKGS="build-essential autoconf automake libtool pkg-config libev-dev
libnuma-dev libmnl-dev libcmocka-dev iproute2 procps lcov dpdk dpdk-dev
qemu-system-x86 busybox-static tcpdump librsvg2-bin libxml2-utils python3
bash-completion"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "bootstrap: missing packages:$missing (run as root, or install them)" >&2
		exit 1
	fi
	echo "bootstrap: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq $missing >/dev/null
fi

if [ ! -x configure ] || [ configure.ac -nt configure ] ||
   [ -n "$(find m4 -name 'fsb_*.m4' -newer configure 2>/dev/null)" ]; then
	echo "bootstrap: autoreconf"
	autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi
mkdir -p build
cd build
if [ ! -f Makefile ] || [ ../configure -nt Makefile ]; then
	echo "bootstrap: configure"
	../configure -q
fi
echo "bootstrap: make"
make -s -j"$(nproc)" >/dev/null

case "$what" in
demo)
	# the migration drill's surprise-removal scenario, with the
	# vhost-user standby behind DPDK testpmd, as in a VM
	exec bash "$top/build/migration/fsb-drill" netns remove --standby vhost \
		--out "$top/build/drill-demo"
	;;
check)
	rc=0
	make -s -j"$(nproc)" check >/dev/null 2>&1 || rc=$?
	for log in $(find tests -name '*.log' ! -name test-suite.log | sort); do
		res=$(sed -n 's/^:test-result: //p' "${log%.log}.trs" 2>/dev/null)
		echo "  $res: $log"
		[ "$res" = PASS ] || {
			# which cases failed (the tail below may not reach
			# back to them), then the log's end
			grep -E '^\[  FAILED  \] ' "$log" | head -20 | sed 's/^/    ! /'
			sed 's/^/    | /' "$log" | tail -40
		}
	done
	sh "$top/tests/summary.sh" . || rc=1
	exit "$rc"
	;;
esac
