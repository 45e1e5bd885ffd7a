#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# netns-failover.sh - af_packet + rtnetlink failover on netns/veth, for
# 'make check' (issue 5).  Needs root; exits 77 only when a network
# namespace cannot be created (run-one.sh turns that into a failure
# under CI=true).
#
# Every scenario runs fsb-fwd txonly (sequence numbers in every frame) in
# netns fsb-dut-t$$ on a port over vfA (the "vf") and sbA (the standby),
# and counts with fsb-peer on vfB/sbB in fsb-peer-t$$: what the port did
# is judged from outside (frames, sequence numbers, and fsb-peer's own
# rtnetlink timestamps), never from fsb-fwd's counters, except where a
# scenario is about fsb-fwd's output (EVENT lines, exit status).
#
# Bounds are generous sanity checks, not figures (those come from
# tests/bench/failover): traffic on the standby within 500 ms of the
# event, back on the vf within hold_down + 500 ms, and not before
# 0.9 x hold_down after the vf became usable again.
#
# Scenarios (one "ok:"/"FAIL:" line each, then cmocka-style "[  PASSED  ]
# N test(s)." lines, so that tests/summary.sh counts each scenario, and
# "netns-failover: N passed, N failed"):
#   invalid interface names   rejected with exit 2 and the name in the error
#   removal under traffic     continues on the standby, loss bounded
#   re-creation               returns to the vf after hold_down, 0 lost
#   carrier down/up           same, on carrier loss (peer end down)
#   10 flaps in 1 s           no ping-pong: at most 2 TX changes
#   primary absent at start   starts on the standby, adopts the vf later
#   re-adoption by mac=       vf comes back as vfC with the same MAC
#   rename while adopted      down/rename/up: used again; then deleting
#                             the renamed interface fails over
#   fsbctl                    the operator's view on the control socket:
#                             fsbctl detach/attach (a planned switch, 0
#                             lost at the peer), then a removal that
#                             'show events' lists with its reason and
#                             'show port' shows as the active path moving
#
# Environment: FSB_FWD, FSB_PEER, RATE (default 200000 pps),
# LOSS_MAX (frames lost at a removal, default 4096), NS_SUFFIX,
# KEEP_LOGS=1, ONLY="name ..." (run only these scenario functions).
set -u
LC_ALL=C
export LC_ALL
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/netns-lib.sh
. "$here/netns-lib.sh"

NS_SUFFIX=${NS_SUFFIX:--t$$}
ns_names
RATE=${RATE:-200000}
HOLD=200
LOSS_MAX=${LOSS_MAX:-4096}
SB_BOUND_US=500000
BACK_BOUND_US=$((HOLD * 1000 + 500000))
HOLD_MIN_US=$((HOLD * 900))
SPEC="fsb0,hold_down=$HOLD,dev(af_packet,iface=vfA),dev(af_packet,iface=sbA)"
SPEC_MAC="fsb0,hold_down=$HOLD,dev(af_packet,mac=$VF_MAC),dev(af_packet,iface=sbA)"

ns_find_tools || exit 1
pass=0
fail=0

# Probe once: exit 77 here if there is no netns at all.
ns_trap
ns_setup novf || exit 1
ns_del

# ---- scenario plumbing ----

# sc_begin NAME DESCRIPTION
sc_begin() {
	SC=$1 SC_DESC=$2 SC_BAD='' SC_INFO=''
	SC_DIR=$NS_TMP/$SC
	mkdir -p "$SC_DIR"
	PJ=$SC_DIR/peer.json FJ=$SC_DIR/fwd.json FE=$SC_DIR/fwd.err PE=$SC_DIR/peer.err
}

bad() { SC_BAD="$SC_BAD
    - $*"; }
info() { SC_INFO="${SC_INFO:+$SC_INFO, }$*"; }

# sc_traffic SPEC DURATION [novf] WATCH...: namespaces, fsb-peer, fsb-peer
# waiting for the first frame; SC_T0 = then.  Returns 1 if no traffic.
sc_traffic() {
	_st_spec=$1 _st_dur=$2
	shift 2
	_st_nv=vf
	if [ "${1:-}" = novf ]; then _st_nv=novf; shift; fi
	ns_setup $_st_nv || { bad "cannot set up the namespaces"; return 1; }
	peer_start "$SC_DIR/peer" "$((${_st_dur%.*} + 100))" "$@" || { bad "fsb-peer did not start"; return 1; }
	# fsb-fwd gets 90 s of headroom and is stopped by sc_stop (SIGINT:
	# final stats, exit 0) at the planned end, or later when the kernel
	# was slow to carry out an action (see at(); an `ip link del` took
	# 17 s once, with busy loops on both CPUs and another test's netns
	# teardown in parallel)
	SC_DUR=$_st_dur SC_LAST_DONE=0
	fwd_start "$SC_DIR/fwd" "$_st_spec" "$(fadd "$_st_dur" 90)"
	if ! wait_line "$PE" '^FIRST ' 10 "$FWD_PID"; then
		bad "no frame from fsb-fwd on vfB or sbB within 10 s"
		return 1
	fi
	SC_T0=$(now_s)
}

# at S CMD...: run CMD S seconds after the first frame.  Remembers when
# it finished: an `ip link add/del` can take seconds when other tests
# tear network namespaces down at the same time (the kernel's netns
# cleanup holds the locks it needs; 2.1 s seen in CI), and the
# scenario must still see what follows it.
at() {
	sleep_until "$(fadd "$SC_T0" "$1")"
	shift
	"$@" || bad "action failed: $*"
	SC_LAST_DONE=$(now_s)
}

# sc_stop: stop fsb-fwd at the planned end (SC_DUR after the first
# frame), but no sooner than 1.5 s after the last action finished; then
# stop fsb-peer.
sc_stop() {
	_end=$(fadd "$SC_T0" "$SC_DUR")
	_late=$(fadd "$SC_LAST_DONE" 1.5)
	_end=$(awk -v a="$_end" -v b="$_late" 'BEGIN { printf "%.6f", (a > b ? a : b) }')
	sleep_until "$_end"
	kill -INT "$FWD_PID" 2>/dev/null
	ns_reap "$FWD_PID"
	SC_FWD_RC=$?
	FWD_PID=''
	sleep 0.3
	ns_stop "$PEER_PID"
	SC_PEER_RC=$?
	PEER_PID=''
	[ "$SC_FWD_RC" = 0 ] || bad "fsb-fwd exited with status $SC_FWD_RC"
	[ "$SC_PEER_RC" = 0 ] || bad "fsb-peer exited with status $SC_PEER_RC"
	# a sink that could not keep up makes every loss figure wrong: say
	# so, rather than blame the port for frames the sink dropped
	_cd=$(pj_top "$SC_DIR/peer.json" capture_drops)
	[ "${_cd:-0}" = 0 ] || bad "the sink (fsb-peer) dropped $_cd frames (capture ring overflow): its counts are incomplete"
}

# sc_kill: stop whatever still runs (after a failed start).
sc_kill() {
	[ -n "${FWD_PID:-}" ] && ns_stop "$FWD_PID" 2>/dev/null
	[ -n "${PEER_PID:-}" ] && ns_stop "$PEER_PID" 2>/dev/null
	FWD_PID='' PEER_PID=''
}

sc_end() {
	sc_kill
	ns_del
	if [ -z "$SC_BAD" ]; then
		echo "ok: $SC_DESC${SC_INFO:+ ($SC_INFO)}"
		pass=$((pass + 1))
	else
		echo "FAIL: $SC_DESC$SC_BAD"
		[ -n "$SC_INFO" ] && echo "    measured: $SC_INFO"
		if [ -s "$PE" ]; then
			echo "    fsb-peer:"
			grep -v '^FIRST\|^PATH' "$PE" | sed 's/^/    | /' | tail -25
		fi
		if [ -s "$FE" ]; then
			echo "    fsb-fwd:"
			grep -E '^EVENT .*(active-change|subdev-link|port-link)|error|fsb-fwd:' "$FE" |
				sed 's/^/    | /' | tail -25
		fi
		fail=$((fail + 1))
	fi
}

# num_le NAME VALUE MAX: VALUE must be a number <= MAX.
num_le() {
	if [ -z "$2" ] || [ "$2" = null ]; then bad "$1: not measured (no such frame or event)"; return 1; fi
	awk -v v="$2" -v m="$3" 'BEGIN { exit !(v + 0 <= m + 0) }' || { bad "$1 = $2, above $3"; return 1; }
}
num_ge() {
	if [ -z "$2" ] || [ "$2" = null ]; then bad "$1: not measured (no such frame or event)"; return 1; fi
	awk -v v="$2" -v m="$3" 'BEGIN { exit !(v + 0 >= m + 0) }' || { bad "$1 = $2, below $3"; return 1; }
}
ms() { awk -v u="$1" 'BEGIN { if (u == "" || u == "null") print "?"; else printf "%.3f ms", u / 1000 }'; }

# lost frames: never seen on any path, including the tail that fsb-fwd
# sent after the last one fsb-peer saw.
total_lost() {
	_exp=$(pj_seq "$PJ" expected) _dis=$(pj_seq "$PJ" distinct) _sent=$(fwd_json "$FJ" fwd_tx)
	awk -v e="${_exp:-0}" -v d="${_dis:-0}" -v s="${_sent:-0}" 'BEGIN {
		l = e - d; if (s > e) l += s - e; printf "%.0f", l }'
}
tail_lost() {
	_exp=$(pj_seq "$PJ" expected) _sent=$(fwd_json "$FJ" fwd_tx)
	awk -v e="${_exp:-0}" -v s="${_sent:-0}" 'BEGIN { printf "%.0f", (s > e ? s - e : 0) }'
}

# lost_from TYPE IFNAME: frames lost after the first TYPE event of
# IFNAME, to the end (tail included); empty if there is no peer JSON.
lost_from() {
	_lf=$(pj_lost_between "$PJ" "$1" "$2" none none 2>/dev/null)
	[ -n "$_lf" ] && awk -v a="$_lf" -v b="$(tail_lost)" 'BEGIN { printf "%.0f", a + b }'
}

# ---- scenarios ----

sc_invalid_names() {
	sc_begin invalid "invalid interface names are rejected, naming them"
	# the kernel's dev_valid_name(): 1..15 bytes, not "." or "..", no
	# '/', ':' or white space
	for _n in abcdefghijklmnop 'a/b' 'a:b' '..' 'a b'; do
		"$FSB_FWD" --port "fsb0,dev(af_packet,iface=$_n),dev(null)" --duration 0.2 \
			>"$SC_DIR/out" 2>"$SC_DIR/err"
		_rc=$?
		if [ $_rc -ne 2 ] || [ -s "$SC_DIR/out" ] || ! grep -qF -- "$_n" "$SC_DIR/err"; then
			bad "iface='$_n': want exit 2 and an error naming it; got exit $_rc: $(head -n 1 "$SC_DIR/err" | head -c 200)"
		fi
	done
	[ -z "$SC_BAD" ] && info "5 names, exit 2, e.g. $(head -n 1 "$SC_DIR/err")"
	sc_end
}

sc_removal() {
	sc_begin removal "removal under traffic -> continues on the standby"
	if sc_traffic "$SPEC" 4 vfA; then
		at 1.0 vf_del vfA
		sc_stop
		_td=$(pj_event "$PJ" dellink vfA 1 t_us)
		_p3=$(pj_event "$PJ" dellink vfA 1 first_fsb_us sbB)
		num_le "first frame on sbB after vfA's DELLINK (us)" "$_p3" $SB_BOUND_US
		if [ -n "$_td" ]; then
			_a=$(awk -v t="$_td" 'BEGIN { printf "%.3f", t / 1e6 + 0.3 }')
			_b=$(awk -v t="$_td" 'BEGIN { printf "%.3f", t / 1e6 + 1.8 }')
			_pps=$(pj_pps "$PJ" sbB "$_a" "$_b")
			num_ge "pps on sbB 0.3-1.8 s after the removal" "$_pps" "$((RATE * 8 / 10))"
		fi
		_lost=$(total_lost)
		num_le "frames lost" "$_lost" "$LOSS_MAX"
		info "sbB $(ms "$_p3") after DELLINK, ${_pps:-?} pps on sbB, lost $_lost"
	fi
	sc_end
}

sc_recreate() {
	sc_begin recreate "re-creation -> returns to the vf after hold_down, 0 lost"
	if sc_traffic "$SPEC" 4.5 vfA; then
		at 1.0 vf_del vfA
		at 2.5 vf_add vfA "$VF_MAC"
		sc_stop
		_p3=$(pj_event "$PJ" dellink vfA 1 first_fsb_us sbB)
		_tn=$(pj_event "$PJ" newlink vfA 1 t_us)
		_p4=$(pj_event "$PJ" newlink vfA 1 first_fsb_us vfB)
		_p4u=$(pj_event_after "$PJ" newlink vfA carrier-up vfA first_fsb_us vfB)
		num_le "first frame on sbB after DELLINK (us)" "$_p3" $SB_BOUND_US
		num_le "first frame on vfB after NEWLINK (us)" "$_p4" $BACK_BOUND_US
		num_ge "first frame on vfB after carrier-up (us, hold_down respected)" "$_p4u" $HOLD_MIN_US
		_lb=$(lost_from newlink vfA)
		num_le "frames lost at the return (make-before-break)" "$_lb" 0
		# the standby goes quiet once the vf is back
		_sl=$(pj_iface "$PJ" sbB last_fsb_us)
		if [ -n "$_tn" ] && [ -n "$_p4" ] && [ "$_p4" != null ]; then
			_lim=$(awk -v t="$_tn" -v p="$_p4" 'BEGIN { printf "%.0f", t + p + 100000 }')
			num_le "last frame on sbB (us, <= 100 ms after the return)" "$_sl" "$_lim"
		fi
		_pc=$(pj_top "$PJ" path_changes)
		num_le "path changes seen by the peer" "$_pc" 2
		info "sbB $(ms "$_p3") after DELLINK, vfB $(ms "$_p4") after NEWLINK ($(ms "$_p4u") after carrier-up), lost at return $_lb"
	fi
	sc_end
}

sc_carrier() {
	sc_begin carrier "carrier down/up -> standby, then back after hold_down"
	if sc_traffic "$SPEC" 4.5 vfA; then
		at 1.0 vf_carrier_down
		at 2.5 vf_carrier_up
		sc_stop
		_p3=$(pj_event "$PJ" carrier-down vfA 1 first_fsb_us sbB)
		_p4=$(pj_event_after "$PJ" carrier-down vfA carrier-up vfA first_fsb_us vfB)
		num_le "first frame on sbB after carrier-down (us)" "$_p3" $SB_BOUND_US
		num_le "first frame on vfB after carrier-up (us)" "$_p4" $BACK_BOUND_US
		num_ge "first frame on vfB after carrier-up (us, hold_down respected)" "$_p4" $HOLD_MIN_US
		_lb=$(lost_from carrier-up vfA)
		num_le "frames lost at the return" "$_lb" 0
		_lost=$(total_lost)
		num_le "frames lost" "$_lost" "$LOSS_MAX"
		_pc=$(pj_top "$PJ" path_changes)
		num_le "path changes seen by the peer" "$_pc" 2
		info "sbB $(ms "$_p3") after carrier-down, vfB $(ms "$_p4") after carrier-up, lost $_lost (at return $_lb)"
	fi
	sc_end
}

flap10() {
	_f0=$(now_s)
	_i=0
	while [ $_i -lt 10 ]; do
		vf_carrier_down || return 1
		sleep 0.04
		vf_carrier_up || return 1
		sleep 0.04
		_i=$((_i + 1))
	done
	FLAPS_TOOK=$(awk -v a="$_f0" -v b="$(now_s)" 'BEGIN { printf "%.2f", b - a }')
}

sc_flaps() {
	sc_begin flaps "10 carrier flaps in 1 s -> no ping-pong (hold_down holds)"
	if sc_traffic "$SPEC" 5 vfA; then
		FLAPS_TOOK='?'
		at 1.0 flap10
		sc_stop
		_ac=$(fwd_active_changes "$FE")
		num_le "fsb-fwd EVENT active-change lines (slot -> slot)" "$_ac" 2
		_pc=$(pj_top "$PJ" path_changes)
		num_le "path changes seen by the peer" "$_pc" 2
		_nd=$(pj_count "$PJ" carrier-down vfA)
		_nu=$(pj_count "$PJ" carrier-up vfA)
		_p4=$(pj_event_last "$PJ" carrier-up vfA first_fsb_us vfB)
		num_ge "first frame on vfB after the last carrier-up (us, hold_down)" "$_p4" $HOLD_MIN_US
		num_le "first frame on vfB after the last carrier-up (us)" "$_p4" $BACK_BOUND_US
		_vl=$(pj_iface "$PJ" vfB last_fsb_us) _sl=$(pj_iface "$PJ" sbB last_fsb_us)
		awk -v v="$_vl" -v s="$_sl" 'BEGIN { exit !(v != "null" && v + 0 > s + 0) }' ||
			bad "traffic did not end on vfB (last vfB $_vl us, last sbB $_sl us)"
		info "flaps took ${FLAPS_TOOK} s, $_nd carrier-down/$_nu carrier-up seen, $_ac TX changes, $_pc path changes, back on vfB $(ms "$_p4") after the last carrier-up"
	fi
	sc_end
}

sc_absent() {
	sc_begin absent "primary absent at start -> starts on the standby, adopts the vf"
	if sc_traffic "$SPEC" 4 novf vfA; then
		at 1.0 vf_add vfA "$VF_MAC"
		sc_stop
		_tn=$(pj_event "$PJ" newlink vfA 1 t_us)
		_sf=$(pj_iface "$PJ" sbB first_fsb_us)
		num_le "first frame on sbB (us) before vfA appeared" "$_sf" "${_tn:-0}"
		_p4=$(pj_event "$PJ" newlink vfA 1 first_fsb_us vfB)
		num_le "first frame on vfB after NEWLINK (us)" "$_p4" $BACK_BOUND_US
		_lb=$(lost_from newlink vfA)
		num_le "frames lost at the adoption" "$_lb" 0
		info "vfB $(ms "$_p4") after NEWLINK, lost $_lb"
	fi
	sc_end
}

sc_mac() {
	sc_begin mac "re-adoption by mac= after the vf comes back as vfC"
	if sc_traffic "$SPEC_MAC" 4.5 vfA vfC; then
		at 1.0 vf_del vfA
		at 2.5 vf_add vfC "$VF_MAC"
		at 3.5 sh -c "ip -n '$DUT_NS' -br link >'$SC_DIR/links'"
		sc_stop
		_p3=$(pj_event "$PJ" dellink vfA 1 first_fsb_us sbB)
		_p4=$(pj_event "$PJ" newlink vfC 1 first_fsb_us vfB)
		num_le "first frame on sbB after vfA's DELLINK (us)" "$_p3" $SB_BOUND_US
		num_le "first frame on vfB after vfC's NEWLINK (us)" "$_p4" $BACK_BOUND_US
		_lb=$(lost_from newlink vfC)
		num_le "frames lost at the return" "$_lb" 0
		info "sbB $(ms "$_p3") after DELLINK of vfA, vfB $(ms "$_p4") after NEWLINK of vfC"
		[ -n "$SC_BAD" ] && bad "links in $DUT_NS 1 s after vfC came (which has $VF_MAC?):
$(sed 's/^/        /' "$SC_DIR/links")"
	fi
	sc_end
}

sc_rename() {
	sc_begin rename "rename while adopted (down, vfA -> vfR, up) -> still used"
	if sc_traffic "$SPEC" 4.5 vfA vfR; then
		at 1.0 vf_rename vfA vfR
		at 2.5 vf_del vfR
		sc_stop
		[ "$(pj_count "$PJ" rename vfR)" -ge 1 ] || bad "fsb-peer saw no rename to vfR"
		_p4=$(pj_event_after "$PJ" rename vfR carrier-up vfR first_fsb_us vfB)
		num_le "first frame on vfB after vfR is up (us)" "$_p4" $BACK_BOUND_US
		_p3=$(pj_event "$PJ" dellink vfR 1 first_fsb_us sbB)
		num_le "first frame on sbB after vfR's DELLINK (us)" "$_p3" $SB_BOUND_US
		info "vfB $(ms "$_p4") after vfR up, sbB $(ms "$_p3") after vfR deleted"
	fi
	sc_end
}

# fsbctl FSBCTL-ARGS: the operator's client on this run's socket
FSBCTL=${FSBCTL:-$(dirname "$FSB_FWD")/fsbctl}
ctl() { "$FSBCTL" -s "$SC_SOCK" "$@"; }
# wait_active SLOT: until the socket says TX is on SLOT (5 s)
wait_active() {
	for _i in $(seq 100); do
		ctl -j show port 0 2>/dev/null | grep -q "\"active_slot\":$1," && return 0
		sleep 0.05
	done
	return 1
}

sc_fsbctl() {
	sc_begin fsbctl "fsbctl on the control socket: a planned detach/attach (0 lost), then a removal it reports"
	if sc_traffic "$SPEC" 5 vfA; then
		wait_line "$FE" '^fsb-fwd: control socket ' 5 "$FWD_PID" || bad "fsb-fwd named no control socket"
		SC_SOCK=$(sed -n 's/^fsb-fwd: control socket //p' "$FE" | head -1)
		at 0.8 ctl detach 0 0
		wait_active 1 || bad "TX not on slot 1 after 'fsbctl detach 0 0'"
		at 1.6 ctl attach 0 0
		wait_active 0 || bad "TX not back on slot 0 after 'fsbctl attach 0 0'"
		at 2.8 vf_del vfA
		wait_active 1 || bad "TX not on slot 1 after the removal, says fsbctl"
		ctl show port 0 > "$SC_DIR/port" 2>&1
		ctl show events 0 > "$SC_DIR/events" 2>&1
		ctl -j show events 0 > "$SC_DIR/events.json" 2>&1
		sc_stop
		# the planned switches: admin, both ways; the removal's with
		# its reason; the port table marks the standby active
		grep -q 'slot 0 -> 1.*admin' "$SC_DIR/events" || bad "show events: no planned switch 0 -> 1 (admin)"
		grep -q 'slot 1 -> 0' "$SC_DIR/events" || bad "show events: no return 1 -> 0"
		_why=$(grep 'active-change.*slot 0 -> 1' "$SC_DIR/events" | tail -1 | awk '{ print $NF }')
		case $_why in
		netdev-removed|link-down|uevent-remove) ;;
		*) bad "show events: the removal's switch says '$_why'" ;;
		esac
		grep -Eq '^ +1 .*\*' "$SC_DIR/port" || bad "show port: slot 1 not marked active"
		# loss counted at the peer: none before the removal
		_lr=$(lost_from dellink vfA)
		_lost=$(total_lost)
		_lp=$(( ${_lost:-0} - ${_lr:-0} ))
		num_le "frames lost by the planned detach/attach through fsbctl" "$_lp" 0
		num_le "frames lost" "$_lost" "$LOSS_MAX"
		info "events: planned 0 -> 1 -> 0 (admin), removal 0 -> 1 ($_why); lost: $_lp planned, $_lost in all"
		[ -n "$SC_BAD" ] && { sed 's/^/    | /' "$SC_DIR/events" "$SC_DIR/port"; }
	fi
	sc_end
}

ALL="sc_invalid_names sc_removal sc_recreate sc_carrier sc_flaps sc_absent sc_mac sc_rename sc_fsbctl"
for s in ${ONLY:-$ALL}; do
	FWD_PID='' PEER_PID=''
	"$s"
done

# cmocka-style totals, so that tests/summary.sh counts each scenario
echo "[  PASSED  ] $pass test(s)."
[ "$fail" -eq 0 ] || echo "[  FAILED  ] $fail test(s)."
echo "netns-failover: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
