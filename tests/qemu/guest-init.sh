#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# guest-init.sh - /init of the test guest (tests/qemu/guest-image.sh).
#
# Mounts what a guest needs, loads the harness's modules in dependency
# order (but those listed in fsb.skip=), brings lo up, then runs the shell text passed base64-encoded as
# fsb.run=... on the kernel command line, and powers the guest off.
# Lines for the host start with "fsb-guest:" on the serial console:
#   fsb-guest: up <uptime s>       before the command runs
#   fsb-guest: rc <status>         after it
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || mdev -s
mkdir -p /dev/pts /dev/hugepages
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
# fsb.skip=a,b: modules not to load (a scene where no kernel driver
# may negotiate with a device before ours does)
skip=$(sed -n 's/.*fsb\.skip=\([^ ]*\).*/\1/p' /proc/cmdline | tr ',' ' ')
for m in $(cat /lib/fsb/modules.order); do
	case " $skip " in *" $m "*) continue ;; esac
	insmod "/lib/fsb/$m.ko" 2>/dev/null ||
		echo "fsb-guest: insmod $m failed"
done
ip link set lo up
run=$(sed -n 's/.*fsb\.run=\([^ ]*\).*/\1/p' /proc/cmdline)
echo "fsb-guest: up $(cut -d' ' -f1 /proc/uptime)"
if [ -n "$run" ]; then
	echo "$run" | base64 -d > /tmp/run.sh
	sh /tmp/run.sh
	echo "fsb-guest: rc $?"
else
	echo "fsb-guest: rc 0"
fi
poweroff -f
