#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# demo.sh - the README's demo, on an embedded default: a port with a
# ring primary ("vf") and a ring standby ("sb").  fsb-fwd sends
# sequence-numbered frames at 1 Mpps; the far end of each ring is a peer
# that counts on its own thread, outside the port.  At 2 s the primary is
# detached (a planned removal), at 4 s it is attached again; TX returns
# after hold_down=200 ms.  The report gives pps per path before, during
# and after, the time from each action to the first packet on the new
# path, and what was lost (sent - received at the peers).
#
# The netns/veth demo with a kernel VF replaces this one when the
# af_packet sub-device lands.
FWD="${1:-fsb-fwd}"
ncpu=$(nproc 2>/dev/null || echo 1)
pin=""
[ "$ncpu" -gt 1 ] && pin="--lcore-cpu $((ncpu - 1))"
echo "libfsb demo: planned detach and re-attach of the primary under traffic"
echo "  port: fsb0,hold_down=200,dev(ring,name=vf),dev(ring,name=sb)"
echo "  peers count what arrives at the far end of each ring"
echo
# shellcheck disable=SC2086
exec "$FWD" --port 'fsb0,hold_down=200,dev(ring,name=vf),dev(ring,name=sb)' \
	--peer 'ring,name=vf' --peer 'ring,name=sb' \
	--forward-mode txonly --tx-rate 1000000 --txd 32768 --rxd 32768 $pin \
	--duration 6 --stats-period 2 --schedule 2:detach:0,4:attach:0
