#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# vhost-hostile.sh - our virtio_user frontend against a backend that
# breaks the vhost-user protocol (tests/tools/vhost-hostile), one fault
# per run.  The port has a second sub-device, a ring whose far end
# fsb-fwd counts (--peer), so "the port keeps forwarding" is measured
# outside the port:
#
#   vht0,hold_down=0,dev(virtio_user,path=SOCK),dev(ring,name=vhtR<pid>)
#
# fsb-fwd runs txonly --check (it also polls RX, so RX-ring faults are
# met too) for 3 s.  For each fault:
#   - the backend did misbehave (its MISBEHAVE line), else the run
#     proves nothing;
#   - fsb-fwd logged an error line naming the problem (a per-fault
#     pattern, case-insensitive);
#   - the virtio_user slot went down: an EVENT with reason broken (a
#     ring fault), broken or probe-failed (a handshake fault: the slot
#     never came up), session-closed for EOF mid-handshake;
#   - fsb-fwd did not crash or hang: exit 0 within its bound;
#   - the ring's far end received traffic after the fault;
#   - the backend saw at most 60 sessions in the 3 s (a frontend that
#     backs off, 10 ms doubling, makes ~8; one that reconnects at once
#     after every broken session hammers the backend: a failure).
# "corrupt" is different: the frame is well-formed for the ring, so the
# frontend must deliver it and fsb-fwd --check must count exactly one
# bad checksum (the check itself can fail).
#
#   sh tests/vhost-hostile.sh [FAULT...]     (as root; default: all)
# Environment: FSB_FWD (e.g. an ASan build's), VH_HOSTILE.
# Exit: 0 passed, 1 failed, 77 testpmd missing (it is not used here, but
# the vhost tests share one prerequisite check) or no virtio_user kind.
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
[ -n "${VH_HOSTILE:-}" ] && [ -x "$VH_HOSTILE" ] || {
	echo "error: tests/tools/vhost-hostile not built (make check builds it; or set VH_HOSTILE)" >&2
	exit 1
}

# The error line fsb-fwd must print, per fault (grep -Ei).
pattern() {
	case $1 in
	bad-used-id)      echo 'used.*(id|head)|(id|head).*(range|>=|invalid|bad)' ;;
	id-not-in-flight) echo 'in.?flight|not (pending|outstanding|posted)|twice|already (used|completed)' ;;
	used-len)         echo 'len' ;;
	used-idx-jump)    echo 'used.*(idx|index)|(idx|index).*(jump|ahead|range)' ;;
	short-reply)      echo 'size|short|length' ;;
	truncated-reply)  echo 'trunc|short|timeout|timed out|incomplete' ;;
	bad-flags)        echo 'flags' ;;
	bad-request)      echo 'request' ;;
	too-many-fds)     echo 'fd|ctrunc|descriptor' ;;
	no-fd)            echo 'fd|descriptor' ;;
	eof-handshake)    echo 'closed|eof|reset|hang|disconnect' ;;
	esac
}

hostile() {
	_m=$1
	S=$VH_TMP/$_m.sock
	R=vhtR$$
	rm -f "$S"
	ns_bg "$VH_TMP/h_$_m.json" "$VH_TMP/h_$_m.err" timeout -s INT -k 5 30 \
		taskset -c "$VH_TP_CPU" "$VH_HOSTILE" --socket "$S" --mode "$_m" --after 2000 --duration 20
	hpid=$NS_BG_PID
	wait_line "$VH_TMP/h_$_m.err" 'ready' 15 "$hpid" || { vh_fail "$_m: vhost-hostile did not start"; vh_dump "h_$_m"; return; }
	fwd_run_bg "f_$_m" 30 --port "vht0,hold_down=0,dev(virtio_user,path=$S),dev(ring,name=$R)" \
		--peer "ring,name=$R" --forward-mode txonly --check --tx-rate 100000 --duration 3 \
		--stats-period 1
	ns_reap "$FWD_PID"
	rc=$?
	kill -INT "$hpid" 2>/dev/null
	ns_reap "$hpid"
	f=$VH_TMP/f_$_m.err
	why=
	# >= 128: killed by a signal (a crash), 124: timeout had to stop it
	[ "$rc" = 0 ] || why="$why fsb-fwd exit status $rc (crash or hang);"
	grep -q 'MISBEHAVE' "$VH_TMP/h_$_m.err" || {
		if [ "$_m" = no-fd ]; then
			echo "  note: no-fd: the frontend never asked for an fd-carrying reply (GET_INFLIGHT_FD); only robustness is checked"
		else
			why="$why the backend never got to misbehave (the session did not get that far);"
		fi
	}
	peer_rx=$(sed -n 's/.*"peers":\[{[^]]*"rx_packets":\([0-9]*\).*/\1/p' "$VH_TMP/f_$_m.json" | head -n 1)
	h_rx=$(sed -n 's/.*"rx_frames":\([0-9]*\).*/\1/p' "$VH_TMP/h_$_m.json")
	if [ "$_m" = corrupt ] || { [ "$_m" = no-fd ] && ! grep -q MISBEHAVE "$VH_TMP/h_$_m.err"; }; then
		# nothing wrong on the TX side: virtio_user stays the path
		[ "${h_rx:-0}" -gt 0 ] || why="$why the backend received nothing from us;"
	else
		[ "${peer_rx:-0}" -gt 0 ] || why="$why the ring's far end received nothing (the port stopped forwarding);"
	fi
	sessions=$(sed -n 's/.*"sessions":\([0-9]*\).*/\1/p' "$VH_TMP/h_$_m.json")
	[ "${sessions:-0}" -le 60 ] || why="$why $sessions sessions in 3 s (a reconnect storm);"
	if [ "$_m" = corrupt ]; then
		bad=$(fwd_val "f_$_m" rx_bad_csum)
		[ "${bad:-x}" = 1 ] || why="$why rx_bad_csum ${bad:-?}, want exactly 1;"
	else
		pat=$(pattern "$_m")
		line=$(grep -v '^EVENT' "$f" | grep -Ei "$pat" | grep -Eiv '^ *(Check|RX-|TX-|Rx-pps|Tx-pps)' | head -n 1)
		if [ "$_m" = no-fd ] && ! grep -q MISBEHAVE "$VH_TMP/h_$_m.err"; then
			line=
		elif [ -z "$line" ]; then
			why="$why no error line matching /$pat/;"
		fi
		if [ "$_m" = eof-handshake ]; then
			# the backend hangs up before the slot is up: the
			# start fails (probe-failed) or the session is closed
			grep -Eq 'EVENT .*slot 0.*(session-closed|probe-failed)' "$f" ||
				why="$why no session-closed/probe-failed EVENT for slot 0;"
		elif [ "$_m" != no-fd ] || grep -q MISBEHAVE "$VH_TMP/h_$_m.err"; then
			# a fault in the rings: broken; in the handshake the
			# slot never comes up: broken or probe-failed
			case $_m in
			bad-used-id|id-not-in-flight|used-len|used-idx-jump) ev='broken' ;;
			*) ev='broken|probe-failed' ;;
			esac
			grep -Eq "EVENT .*slot 0.*($ev)" "$f" || why="$why no EVENT with reason $ev for slot 0;"
		fi
	fi
	if [ -z "$why" ]; then
		vh_ok "$_m: exit 0, ring peer got $peer_rx frames, backend got ${h_rx:-?}, backend sessions ${sessions:-?}${line:+; fsb-fwd said: $line}"
	else
		vh_fail "$_m:$why"
		vh_dump "f_$_m" "h_$_m"
	fi
	line=
}

faults=${*:-bad-used-id id-not-in-flight used-len used-idx-jump corrupt short-reply truncated-reply bad-flags bad-request too-many-fds no-fd eof-handshake}
for m in $faults; do
	hostile "$m"
done
vh_finish
