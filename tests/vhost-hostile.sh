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
# slow-reply is a backend that is slow, not broken: see slow() below.
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
	# reply_timeout=1000: a truncated reply must end within the run
	fwd_run_bg "f_$_m" 30 --port "vht0,hold_down=0,dev(virtio_user,path=$S,reply_timeout=1000),dev(ring,name=$R)" \
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

# slow TIMEOUT: a backend that answers GET_FEATURES right but after 3 s
# (vhost-hostile --mode slow-reply), with reply_timeout=TIMEOUT ("" =
# the default, 5000 ms).  The port has two ring slots besides:
#
#   vhs0,hold_down=0,dev(virtio_user,path=SOCK[,reply_timeout=T]),
#        dev(ring,name=A),dev(ring,name=B)
#
# The backend starts 0.5 s after the traffic (our client reconnects to
# it), and fsb-fwd --schedule detaches ring A at 2.0 s, while the
# handshake waits for its reply.  Judged:
#   - the detach is carried out at once (TX moves from slot 1 to slot 2
#     within 0.5 s of the call): the wait holds neither the port's lock
#     nor the control thread;
#   - every frame sent reached a ring peer or the backend (the ring
#     peers carry everything while the virtio_user slot is not up);
#   - default: the session survives the 3 s wait and TX moves to it
#     (slot 0), the backend receives frames; reply_timeout=1000: it is
#     dropped with a line naming GET_FEATURES and the 1000 ms waited,
#     and TX never moves to it.
slow() {
	_t=$1
	_m=slow${_t:-default}
	S=$VH_TMP/$_m.sock
	rm -f "$S"
	RA=vhsA$$ RB=vhsB$$
	# the backend comes 0.5 s after the traffic started: its slow
	# handshake runs in the middle of forwarding, as a re-plugged or
	# restarted backend's does
	fwd_run_bg "f_$_m" 30 --port "vhs0,hold_down=0,dev(virtio_user,path=$S${_t:+,reply_timeout=$_t}),dev(ring,name=$RA),dev(ring,name=$RB)" \
		--peer "ring,name=$RA" --peer "ring,name=$RB" --forward-mode txonly --check \
		--tx-rate 20000 --duration 7 --schedule 2.0:detach:1 --stats-period 1
	wait_line "$VH_TMP/f_$_m.err" 'active-change' 15 "$FWD_PID" || { vh_fail "$_m: fsb-fwd did not start forwarding"; vh_dump "f_$_m"; return; }
	vh_sleep 0.5
	ns_bg "$VH_TMP/h_$_m.json" "$VH_TMP/h_$_m.err" timeout -s INT -k 5 30 \
		taskset -c "$VH_TP_CPU" "$VH_HOSTILE" --socket "$S" --mode slow-reply \
		--delay-ms 3000 --duration 20
	hpid=$NS_BG_PID
	wait_line "$VH_TMP/h_$_m.err" 'ready' 15 "$hpid" || { vh_fail "$_m: vhost-hostile did not start"; vh_dump "h_$_m"; return; }
	ns_reap "$FWD_PID"
	rc=$?
	kill -INT "$hpid" 2>/dev/null
	ns_reap "$hpid"
	f=$VH_TMP/f_$_m.err
	why=
	[ "$rc" = 0 ] || why="$why fsb-fwd exit status $rc (crash or hang);"
	grep -q 'MISBEHAVE' "$VH_TMP/h_$_m.err" || why="$why the backend never delayed a reply;"
	t_det=$(awk '/EVENT .*active-change: .*slot 1 -> slot 2/ { print $2; exit }' "$f")
	t_act=$(sed -n 's/^action 0: detach slot 1 at \([0-9.]*\) s.*/\1/p' "$f" | head -n 1)
	case $t_det in
	'') why="$why no active-change from slot 1 to slot 2 (the scheduled detach);" ;;
	*) awk -v t="$t_det" -v a="${t_act:-2.0}" 'BEGIN { exit !(t > a + 0.5) }' &&
		why="$why the detach called at ${t_act:-?} s was carried out at $t_det s (held up by the slow handshake);" ;;
	esac
	# every frame sent reached a ring peer or the backend
	h_rx=$(sed -n 's/.*"rx_frames":\([0-9]*\).*/\1/p' "$VH_TMP/h_$_m.json")
	sent=$(sed -n 's/.*"sent":\([0-9]*\),"refused".*/\1/p' "$VH_TMP/f_$_m.json")
	at_peers=$(sed -n 's/.*"received_at_peers":\([0-9]*\).*/\1/p' "$VH_TMP/f_$_m.json")
	miss=$(( ${sent:-0} - ${at_peers:-0} - ${h_rx:-0} ))
	[ -n "$sent" ] && [ "$sent" -gt 0 ] && [ "$miss" = 0 ] ||
		why="$why of ${sent:-?} frames sent, ${at_peers:-?} reached the ring peers and ${h_rx:-?} the backend ($miss unaccounted);"
	if [ -z "$_t" ]; then
		grep -Eq 'EVENT .*active-change: .*-> slot 0' "$f" ||
			why="$why TX never moved to the slow backend's slot once it answered;"
		[ "${h_rx:-0}" -gt 0 ] || why="$why the backend received nothing from us;"
		line=$(grep -E 'handshake .* done after' "$f" | head -n 1)
	else
		line=$(grep -E "no reply to GET_FEATURES after $_t ms" "$f" | head -n 1)
		[ -n "$line" ] || why="$why no line naming GET_FEATURES and the $_t ms waited;"
		grep -Eq 'EVENT .*active-change: .*-> slot 0' "$f" &&
			why="$why TX moved to the slot whose handshake timed out;"
	fi
	if [ -z "$why" ]; then
		vh_ok "$_m: the detach called at $t_act s, in the slow handshake, done at $t_det s; of $sent frames sent the ring peers got $at_peers, the backend ${h_rx:-0}, 0 unaccounted; fsb-fwd said: $line"
	else
		vh_fail "$_m:$why"
		vh_dump "f_$_m" "h_$_m"
	fi
}

faults=${*:-bad-used-id id-not-in-flight used-len used-idx-jump corrupt short-reply truncated-reply bad-flags bad-request too-many-fds no-fd eof-handshake slow-reply}
for m in $faults; do
	if [ "$m" = slow-reply ]; then
		slow ""
		slow 1000
	else
		hostile "$m"
	fi
done
vh_finish
