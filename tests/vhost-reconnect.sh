#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# vhost-reconnect.sh - the vhost-user backend dies and comes back (issue
# 6): testpmd net_vhost (rxonly) is SIGKILLed under our txonly traffic,
# its socket file is left behind as a crash leaves it, and a new testpmd
# is started on the same path 1 s later.  Expected, counted from
# outside:
#   - fsb-fwd prints an EVENT with reason session-closed, then one with
#     session-restored, for the virtio_user slot;
#   - the new testpmd receives our traffic (traffic resumed on the same
#     port handle: one fsb-fwd process, one port, never re-opened);
#   - fsb-fwd's periodic statistics never go backwards;
#   - fsb-fwd exits 0.
# Then the same with our socket in server mode (server=1) and testpmd as
# a client (client=1) that is killed and restarted: our listener takes
# the new connection.
#
#   sh tests/vhost-reconnect.sh        (as root)
# Exit: 0 passed, 1 failed, 77 testpmd missing.
set -u
LC_ALL=C
export LC_ALL
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/netns-lib.sh
. "$here/netns-lib.sh"
# shellcheck source=tests/vhost-lib.sh
. "$here/vhost-lib.sh"

vh_find_tools
vh_init

# reconnect NAME SERVER(0|1)
reconnect() {
	rn=$1 _srv=$2
	S=$VH_TMP/$rn.sock
	rm -f "$S"
	if [ "$_srv" = 1 ]; then
		vdev="net_vhost0,iface=$S,client=1,queues=1"
		spec="vht0,dev(virtio_user,path=$S,server=1)"
		fwd_run_bg "${rn}_fwd" 40 --port "$spec" --forward-mode txonly \
			--tx-rate 500000 --duration 9 --stats-period 0.5
		i=0
		while [ ! -S "$S" ] && [ $i -lt 100 ]; do vh_sleep 0.1; i=$((i + 1)); done
		tp_start "${rn}_be1" "$vdev" rxonly "$VH_TP_CPU" || { vh_fail "$rn: backend"; return; }
	else
		vdev="net_vhost0,iface=$S,queues=1"
		spec="vht0,dev(virtio_user,path=$S)"
		tp_start "${rn}_be1" "$vdev" rxonly "$VH_TP_CPU" || { vh_fail "$rn: backend"; return; }
		fwd_run_bg "${rn}_fwd" 40 --port "$spec" --forward-mode txonly \
			--tx-rate 500000 --duration 9 --stats-period 0.5
	fi
	f=${rn}_fwd
	why=
	# traffic reaches the first backend
	i=0
	while [ "$(tp_last "${rn}_be1" RX)" = 0 ] && [ $i -lt 100 ]; do vh_sleep 0.1; i=$((i + 1)); done
	rx1=$(tp_last "${rn}_be1" RX)
	[ "$rx1" -gt 0 ] || why="$why the first testpmd received nothing in 10 s;"
	tp_kill "${rn}_be1"
	t_kill=$(now_s)
	vh_sleep 1
	[ "$_srv" = 1 ] || rm -f "$S"           # a restarted server removes it too
	tp_start "${rn}_be2" "$vdev" rxonly "$VH_TP_CPU" || why="$why the second testpmd did not start;"
	i=0
	while [ "$(tp_last "${rn}_be2" RX)" = 0 ] && [ $i -lt 100 ] && kill -0 "$FWD_PID" 2>/dev/null; do
		vh_sleep 0.1; i=$((i + 1))
	done
	t_back=$(now_s)
	ns_reap "$FWD_PID"
	rc=$?
	tp_settle
	tp_stop "${rn}_be2"
	rx2=$(tp_count "${rn}_be2" RX)
	[ "$rc" = 0 ] || why="$why fsb-fwd exit $rc;"
	[ "${rx2:-0}" -gt 0 ] || why="$why the restarted testpmd received nothing;"
	closed=$(grep -n 'EVENT .*session-closed' "$VH_TMP/$f.err" | head -n 1 | cut -d: -f1)
	restored=$(grep -n 'EVENT .*session-restored' "$VH_TMP/$f.err" | tail -n 1 | cut -d: -f1)
	[ -n "$closed" ] || why="$why no session-closed EVENT;"
	[ -n "$restored" ] || why="$why no session-restored EVENT;"
	[ -n "$closed" ] && [ -n "$restored" ] && [ "$restored" -lt "$closed" ] &&
		why="$why session-restored came before session-closed;"
	mono=$(fwd_monotone "$f") || why="$why stats went backwards: $mono;"
	nsamp=$(grep -c 'TX-packets:' "$VH_TMP/$f.err")
	[ "$nsamp" -ge 10 ] || why="$why only $nsamp stats samples;"
	ports=$(grep -c '^Port [0-9]*: ' "$VH_TMP/$f.err")
	[ "$ports" = 1 ] || why="$why $ports port lines (want one port, opened once);"
	gap=$(awk -v a="$t_kill" -v b="$t_back" 'BEGIN { printf "%.2f", b - a }')
	if [ -z "$why" ]; then
		vh_ok "$rn: backend SIGKILLed after $rx1 frames, restarted 1 s later: $rx2 frames reached it (traffic back ${gap} s after the kill), session-closed then session-restored, $nsamp stats samples monotone"
		grep -E 'EVENT .*session-(closed|restored)' "$VH_TMP/$f.err" | sed 's/^/    /'
	else
		vh_fail "$rn:$why"
		vh_dump "$f" "${rn}_be1" "${rn}_be2"
	fi
}

reconnect client 0
reconnect server 1
vh_finish
