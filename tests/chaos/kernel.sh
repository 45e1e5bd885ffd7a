#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# tests/chaos/kernel.sh - kernel chaos: a seeded random schedule of
# faults on real devices under traffic, counted from outside.
#
# The topology of tests/vhost-failover.sh: the primary is a veth "VF"
# (af_packet on vfA in netns fsb-dut-kc<pid>), the standby our
# virtio_user frontend on DPDK testpmd net_vhost (io) in the root netns,
# which forwards to the standby veth, so the standby's frames reach sbB:
#
#   fsb0,hold_down=50,dev(af_packet,iface=vfA),dev(virtio_user,path=SOCK)
#
# fsb-fwd sends txonly at $RATE pps with sequence numbers (a refused
# frame is sent again with its number); fsb-peer counts on vfB and sbB
# in fsb-peer-kc<pid>, with its own rtnetlink listener on the DUT netns.
# The faults, 0-50 ms apart, one at a time, drawn from CHAOS_SEED:
#
#   delete, re-create      ip link del vfA / add it again, same MAC
#   carrier-down, -up      the peer side (vfB) down / up
#   rename, rename-back    vfA -> vfR (down, renamed, up) and back
#   mac, mac-back          vfA's MAC changed and back
#   detach, attach         fsbctl detach/attach of slot 0 or 1 (the
#                          control socket: the public API)
#   testpmd-kill           testpmd SIGKILLed and started again (1 in 50)
#
# Checked:
#   - fsb-fwd neither crashes nor hangs (it runs through every fault, its
#     control socket answers to the end, exit 0 after SIGINT);
#   - no frame arrives twice; frames lost (sequence numbers never seen
#     at either peer) are at most one ring (1024) per surprise fault
#     (delete, carrier-down, testpmd-kill); the loss after each of
#     vfA's rtnetlink events, as fsb-peer attributes it, is reported;
#   - the xstats, read over the control socket every 10 ms, never go
#     backwards, and their set never changes;
#   - after the last fault, with everything back and vfB's carrier
#     dropped and raised once more, the primary carries frames again
#     within hold_down + CHAOS_SLACK_MS (default 50) of fsb-peer's own
#     timestamp of that carrier-up;
#   - no leak in fsb-fwd: fds and threads equal, maps within 4 lines
#     (anonymous PROT_NONE left out) and RSS within 8 MiB, between the
#     100th fault and the end, both with everything back.
# A failure prints the seed and the last 20 faults; CHAOS_SEED=N replays
# the schedule.
#
# Environment: CHAOS_EVENTS (default 500), CHAOS_SEED, RATE (default
# 20000), CHAOS_SLACK_MS, CHAOS_JSON=FILE (the figures as JSON).
#   sh tests/chaos/kernel.sh        (as root)
# Exit: 0 passed, 1 failed, 77 no testpmd or no netns.
set -u
LC_ALL=C
export LC_ALL
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC2034  # read by netns-lib.sh
NS_SUFFIX=-kc$$
# shellcheck source=tests/netns-lib.sh
. "$here/netns-lib.sh"
# shellcheck source=tests/vhost-lib.sh
. "$here/vhost-lib.sh"

vh_find_tools
ns_find_tools || exit 1
vh_init
RATE=${RATE:-20000}
EVENTS=${CHAOS_EVENTS:-500}
SLACK=${CHAOS_SLACK_MS:-50}
HOLD=50
DEPTH=1024
# (mawk's srand takes at most 2^31 - 1: a larger seed would be clamped)
SEED=${CHAOS_SEED:-$(( $(od -An -N4 -tu4 /dev/urandom | tr -d ' ') % 2147483647 ))}
case $SEED in ''|*[!0-9]*) echo "error: CHAOS_SEED must be a number below 2^31, not '$SEED'" >&2; exit 2 ;; esac
[ "$SEED" -lt 2147483647 ] || { echo "error: CHAOS_SEED must be below 2^31 - 1" >&2; exit 2; }
FSBCTL=${FSBCTL:-$(dirname "$FSB_FWD")/fsbctl}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
echo "chaos-kernel: seed $SEED (CHAOS_SEED=$SEED replays this schedule), $EVENTS faults, $RATE pps"

ns_setup vf || exit 1
TP_IF=fsbkc$$
VH_EXTRA_CLEANUP='ip link del "$TP_IF" 2>/dev/null; ns_cleanup'
sb_to_root "$TP_IF" || { vh_fail "cannot move sbA to the root netns as $TP_IF"; vh_finish; exit 1; }
S=$VH_TMP/kc.sock
PFX=kc$$

tp_up() {
	rm -f "$S"
	TP_EAL="--vdev net_af_packet0,iface=$TP_IF" \
		tp_start kc_be "net_vhost0,iface=$S,queues=1" io "$VH_TP_CPU"
}
tp_up || { vh_fail "testpmd did not start"; vh_finish; exit 1; }
# A marker fsb-peer also watches: a veth (kcm, its peer kcmp, both in
# the DUT netns),
# brought up or down just before a fault that is not an event of vfA of
# its own (detach, attach, testpmd-kill), so that fsb-peer's per-event
# loss is that fault's and not the one before it.
{ ip -n "$DUT_NS" link add kcm type veth peer name kcmp &&
  ip -n "$DUT_NS" link set kcmp up; } || { vh_fail "cannot add the marker interface"; vh_finish; exit 1; }
mark_up=0
marker() {
	if [ "$mark_up" = 0 ]; then ip -n "$DUT_NS" link set kcm up; mark_up=1
	else ip -n "$DUT_NS" link set kcm down; mark_up=0; fi
	echo "$1" >>"$VH_TMP/markers"
}
: >"$VH_TMP/markers"
peer_start "$VH_TMP/peer" 86400 vfA vfR kcm || { vh_fail "fsb-peer did not start"; vh_finish; exit 1; }
SPEC="fsb0,hold_down=$HOLD,dev(af_packet,iface=vfA),dev(virtio_user,path=$S)"
VH_NETNS=$DUT_NS fwd_run_bg kc_fwd 86400 --port "$SPEC" --forward-mode txonly \
	--tx-rate "$RATE" --telemetry "prefix=$PFX"
wait_line "$VH_TMP/peer.err" '^FIRST .* vfB$' 15 "$FWD_PID" ||
	{ vh_fail "no frame on vfB within 15 s"; vh_dump kc_fwd; vh_finish; exit 1; }
wait_line "$VH_TMP/kc_fwd.err" '^fsb-fwd: control socket ' 10 "$FWD_PID" ||
	{ vh_fail "fsb-fwd printed no control socket"; vh_dump kc_fwd; vh_finish; exit 1; }
SOCK=$(sed -n 's/^fsb-fwd: control socket //p' "$VH_TMP/kc_fwd.err" | head -n 1)
# fsb-fwd itself: the wrapper chain is ip netns exec (timeout) -> taskset
# (execs fsb-fwd); take the deepest process of the chain
p=$FWD_PID
while c=$(pgrep -P "$p" | head -n 1) && [ -n "$c" ]; do p=$c; done
FPID=$p

# The xstats sampler: /ethdev/xstats,0 every 10 ms over the socket.
"$PY" - "$SOCK" "$VH_TMP/xstats.out" <<'EOF' &
import json, socket, sys, time
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(path)
s.recv(1024)
gauges = {"last_switch_downtime_us", "last_release_us"}
prev, names, n, bad = None, None, 0, []
with open(out, "w") as f:
    while True:
        try:
            s.send(b"/ethdev/xstats,0")
            r = s.recv(1 << 20)
        except OSError:
            break
        if not r:
            break
        v = json.loads(r.decode()).get("/ethdev/xstats")
        if v is None:
            break
        n += 1
        if names is None:
            names = list(v)
        elif list(v) != names:
            bad.append("the xstats set changed: %d names, was %d" % (len(v), len(names)))
            names = list(v)
        if prev:
            for k, x in v.items():
                if k in gauges or k not in prev:
                    continue
                if x < prev[k]:
                    bad.append("%s went backwards: %d after %d" % (k, x, prev[k]))
        prev = v
        f.seek(0)
        f.write("samples %d\n" % n)
        f.write("last %.3f\n" % time.monotonic())
        for b in bad[:20]:
            f.write("bad %s\n" % b)
        f.truncate()
        f.flush()
        time.sleep(0.01)
EOF
SAMPLER=$!
NS_PIDS="$NS_PIDS $SAMPLER"

# fsb-fwd's resources: fds threads maps rss_kib
res() {
	printf '%s %s %s %s\n' "$(ls "/proc/$FPID/fd" 2>/dev/null | wc -l)" \
		"$(ls "/proc/$FPID/task" 2>/dev/null | wc -l)" \
		"$(awk '!($2 == "---p" && NF == 5)' "/proc/$FPID/maps" 2>/dev/null | wc -l)" \
		"$(awk '/^VmRSS:/ { print $2 }' "/proc/$FPID/status" 2>/dev/null)"
}

# The harness's view of the devices.
present=1 name=vfA carrier=1 macd=0 det0=0 det1=0
EVLOG=$VH_TMP/events
: >"$EVLOG"
t0=$(now_s)
log_ev() { echo "$(awk -v a="$(now_s)" -v b="$t0" 'BEGIN { printf "%9.3f", a - b }') $*" >>"$EVLOG"; }
fsbctl_do() { "$FSBCTL" -s "$SOCK" "$@" >/dev/null 2>&1; }
n_sur=0 n_ok=0 why=
# restore_all: every device back, attached, named vfA, its MAC
restore_all() {
	[ "$present" = 1 ] || { vf_add vfA "$VF_MAC" && present=1 && name=vfA && macd=0; }
	[ "$name" = vfA ] || { vf_rename vfR vfA && name=vfA; }
	[ "$macd" = 0 ] || { ip -n "$DUT_NS" link set vfA address "$VF_MAC" && macd=0; }
	[ "$carrier" = 1 ] || { vf_carrier_up && carrier=1; }
	[ "$det0" = 0 ] || { fsbctl_do attach 0 0 && det0=0; }
	[ "$det1" = 0 ] || { fsbctl_do attach 0 1 && det1=0; }
	[ -n "$(tp_pid kc_be)" ] || tp_up
}

# The schedule: one awk generator, seeded, prints "gap_ms roll" lines.
awk -v seed="$SEED" -v n="$EVENTS" 'BEGIN { srand(seed); for (i = 0; i < n; i++) printf "%d %d\n", int(rand() * 51), int(rand() * 1000) }' >"$VH_TMP/schedule"
i=0
while read -r gap roll; do
	i=$((i + 1))
	[ "$gap" -gt 0 ] && sleep "$(awk -v g="$gap" 'BEGIN { printf "%.3f", g / 1000 }')"
	kill -0 "$FWD_PID" 2>/dev/null || { why="$why fsb-fwd died during fault $i;"; break; }
	# weights: carrier 30 %, delete 20 %, rename 15 %, mac 15 %,
	# detach/attach 18 %, testpmd kill 2 %
	if [ "$roll" -lt 300 ]; then k=carrier
	elif [ "$roll" -lt 500 ]; then k=delete
	elif [ "$roll" -lt 650 ]; then k=rename
	elif [ "$roll" -lt 800 ]; then k=mac
	elif [ "$roll" -lt 980 ]; then k=detach
	else k=testpmd; fi
	rc=0
	case $k in
	carrier)
		if [ "$present" = 0 ]; then log_ev "re-create vfA"; vf_add vfA "$VF_MAC" || rc=$?; present=1; name=vfA
		elif [ "$carrier" = 1 ]; then log_ev "carrier-down"; vf_carrier_down || rc=$?; carrier=0; n_sur=$((n_sur + 1))
		else log_ev "carrier-up"; vf_carrier_up || rc=$?; carrier=1; fi ;;
	delete)
		if [ "$present" = 1 ]; then log_ev "delete $name"; vf_del "$name" || rc=$?; present=0; macd=0; carrier=1; n_sur=$((n_sur + 1))
		else log_ev "re-create vfA"; vf_add vfA "$VF_MAC" || rc=$?; present=1; name=vfA; fi ;;
	rename)
		if [ "$present" = 0 ]; then log_ev "re-create vfA"; vf_add vfA "$VF_MAC" || rc=$?; present=1; name=vfA
		elif [ "$name" = vfA ]; then log_ev "rename vfA vfR"; vf_rename vfA vfR || rc=$?; name=vfR
		else log_ev "rename vfR vfA"; vf_rename vfR vfA || rc=$?; name=vfA; fi ;;
	mac)
		if [ "$present" = 0 ]; then log_ev "mac: (no device)"
		elif [ "$macd" = 0 ]; then log_ev "mac $name 02:00:00:c4:05:01"; ip -n "$DUT_NS" link set "$name" address 02:00:00:c4:05:01 || rc=$?; macd=1
		else log_ev "mac-back $name"; ip -n "$DUT_NS" link set "$name" address "$VF_MAC" || rc=$?; macd=0; fi ;;
	detach)
		sl=$((roll % 2))
		marker admin
		if [ "$sl" = 0 ] && [ "$det0" = 0 ]; then log_ev "detach 0"; fsbctl_do detach 0 0 || rc=$?; det0=1
		elif [ "$sl" = 0 ]; then log_ev "attach 0"; fsbctl_do attach 0 0 || rc=$?; det0=0
		elif [ "$det1" = 0 ]; then log_ev "detach 1"; fsbctl_do detach 0 1 || rc=$?; det1=1
		else log_ev "attach 1"; fsbctl_do attach 0 1 || rc=$?; det1=0; fi ;;
	testpmd)
		log_ev "testpmd-kill"; marker testpmd; tp_kill kc_be; n_sur=$((n_sur + 1))
		tp_up || rc=$?
		marker testpmd-up ;;
	esac
	# an attach of a device that is gone is refused (the slot stays
	# absent): the harness's view follows
	[ "$rc" = 0 ] || {
		log_ev "  (rc $rc)"
		case $k in detach) if [ "$det0" = 0 ] && [ "$sl" = 0 ]; then det0=1; elif [ "$sl" = 1 ] && [ "$det1" = 0 ]; then det1=1; fi ;; esac
	}
	eval "cnt_$k=\$((\${cnt_$k:-0} + 1))"
	n_ok=$i
	if [ "$i" = 100 ]; then
		restore_all
		sleep 1
		R100=$(res)
	fi
done <"$VH_TMP/schedule"

# The end: everything back, then one more carrier drop and raise, whose
# carrier-up fsb-peer stamps: the primary must carry frames within
# hold_down + slack of it.
restore_all
sleep 1
vf_carrier_down; sleep 0.3
log_ev "final carrier-up"
vf_carrier_up
sleep 1.5
REND=$(res)
# no hang: the control socket still answers (the sampler's last reply
# is fresh) and fsb-fwd runs
last=$(sed -n 's/^last //p' "$VH_TMP/xstats.out" 2>/dev/null)
"$PY" -c 'import sys, time; sys.exit(0 if time.monotonic() - float(sys.argv[1]) < 5 else 1)' "${last:-0}" ||
	why="$why the control socket stopped answering (a hang of the control thread?);"
kill -0 "$FWD_PID" 2>/dev/null || why="$why fsb-fwd was gone before the end;"
kill -INT "$FWD_PID" 2>/dev/null
ns_reap "$FWD_PID"
rc=$?
sleep 0.3
ns_stop "$PEER_PID"
kill "$SAMPLER" 2>/dev/null
tp_stop kc_be
P=$VH_TMP/peer.json
[ "$rc" = 0 ] || why="$why fsb-fwd exit $rc (crash or hang);"
edrop=$(pj_top "$P" events_dropped)
[ "${edrop:-0}" = 0 ] || why="$why fsb-peer dropped $edrop link events (its table is full): the per-fault figures are incomplete;"
lost=$(pj_seq "$P" lost)
dups=$(pj_seq "$P" dups)
expected=$(pj_seq "$P" expected)
[ "${dups:-x}" = 0 ] || why="$why ${dups:-?} frames arrived twice;"
txerr=$(fwd_val kc_fwd tx_errors)
# what was lost and not counted as dropped by the port
case $lost in
''|null) why="$why fsb-peer reported no loss figure;"; unacc=? ;;
*) unacc=$((lost - ${txerr:-0})); [ "$unacc" -ge 0 ] || unacc=0
   [ "$lost" -le $((DEPTH * (n_sur + 1 + 3 * ${cnt_testpmd:-0}))) ] ||
	why="$why $lost frames lost, more than a ring ($DEPTH) per surprise fault ($n_sur) and 3 more per testpmd kill (${cnt_testpmd:-0});" ;;
esac
back=$(pj_event_last "$P" carrier-up vfA first_fsb_us vfB)
case $back in
''|null) why="$why no frame on vfB after the final carrier-up;" ;;
*) awk -v b="$back" -v h="$HOLD" -v s="$SLACK" 'BEGIN { exit !(b / 1000 > h + s) }' &&
	why="$why the primary carried frames $(awk -v b="$back" 'BEGIN { printf "%.1f", b / 1000 }') ms after the final carrier-up (want <= hold_down $HOLD + $SLACK);" ;;
esac
grep '^bad ' "$VH_TMP/xstats.out" 2>/dev/null | head -n 3 | while read -r _ l; do echo "  xstats: $l"; done
grep -q '^bad ' "$VH_TMP/xstats.out" 2>/dev/null && why="$why the xstats went backwards or changed (above);"
samples=$(sed -n 's/^samples //p' "$VH_TMP/xstats.out" 2>/dev/null)
[ "${samples:-0}" -gt 0 ] || why="$why the xstats sampler read nothing;"
if [ -n "${R100:-}" ]; then
	set -- $R100; f0=$1 t0r=$2 m0=$3 r0=$4
	set -- $REND; f1=$1 t1=$2 m1=$3 r1=$4
	[ "$f0" = "$f1" ] || why="$why fsb-fwd's fds: $f0 after 100 faults, $f1 at the end;"
	[ "$t0r" = "$t1" ] || why="$why fsb-fwd's threads: $t0r after 100 faults, $t1 at the end;"
	[ $((m1 - m0)) -le 4 ] && [ $((m0 - m1)) -le 4 ] || why="$why fsb-fwd's maps: $m0 lines after 100 faults, $m1 at the end;"
	[ $((r1 - r0)) -le 8192 ] || why="$why fsb-fwd's RSS: $r0 KiB after 100 faults, $r1 at the end;"
fi
sent=$(fwd_val kc_fwd fwd_tx)
refused=$(fwd_val kc_fwd fwd_tx_dropped)
# The loss fsb-peer attributes to each event, per kind.  fsb-peer
# attributes a lost number to the event after which the frames around
# it arrived: while no path carries anything (the VF gone and testpmd
# restarting) a loss shows up at the event that brought a path back.
# So per event only the largest bound is held (4 rings: a testpmd
# SIGKILL loses its own RX ring and the buffers it holds), and in all
# a ring per surprise fault and 3 more per testpmd kill.  Events from a
# testpmd kill to 1 s after its restart are held to the total only
# (a second marker says when the restart is done): testpmd drops
# what it takes while its own ports come up (seen: up to 13 rings'
# worth in such a window in a 10,000-fault run; not our loss to bound).  (The
# in-process harness attributes by sequence number and holds planned
# faults to 0.)
awk -v mk="$VH_TMP/markers" -v depth="$DEPTH" '
	BEGIN { while ((getline l < mk) > 0) m[++nm] = l }
	index($0, "{\"t_us\":") == 1 {
		t = $0; sub(/.*"type":"/, "", t); sub(/".*/, "", t)
		f = $0; sub(/.*"ifname":"/, "", f); sub(/".*/, "", f)
		l = $0; sub(/.*"lost_after":/, "", l); sub(/[,}].*/, "", l)
		ts = $0; sub(/^\{"t_us":/, "", ts); sub(/,.*/, "", ts); ts += 0
		if (f == "kcm") {
			if (t != "carrier-up" && t != "carrier-down") next
			k = m[++im]; if (k == "") k = "marker"
			if (k == "testpmd") { tk = ts; tup = 0 }
			if (k == "testpmd-up") tup = ts
		} else {
			k = t
		}
		bound = 4 * depth
		# from a testpmd kill to 1 s after its restart, testpmd drops
		# what it takes while its own ports come up: those losses are
		# its own (they count in the total bound, not per event)
		if (tk && k != "testpmd" && (!tup || ts - tup < 1000000)) { k = k "(testpmd restarting)"; bound = 1e18 }
		n[k]++; s[k] += l; if (l + 0 > w[k]) w[k] = l + 0
		if (l + 0 > bound) { bad++; if (!first) first = sprintf("%s of %s lost %d (at most %d)", t, f, l, bound) }
	}
	END {
		for (k in n) printf "%s %d events, %d lost (worst %d); ", k, n[k], s[k], w[k]
		printf "\n%s\n", bad ? bad " events over their bound, the first: " first : ""
	}' "$P" >"$VH_TMP/per"
per=$(head -n 1 "$VH_TMP/per")
over=$(sed -n 2p "$VH_TMP/per")
[ -z "$over" ] || why="$why $over;"
echo "chaos-kernel: $n_ok faults (seed $SEED): carrier ${cnt_carrier:-0}, delete/re-create ${cnt_delete:-0}, rename ${cnt_rename:-0}, mac ${cnt_mac:-0}, detach/attach ${cnt_detach:-0}, testpmd-kill ${cnt_testpmd:-0}"
echo "chaos-kernel: frames: sent (accepted) ${sent:-?}, expected at the peers ${expected:-?}, lost ${lost:-?} (of them counted as dropped by the port, tx_errors: ${txerr:-?}; not counted: $unacc; $n_sur surprise faults, a ring is $DEPTH), duplicates ${dups:-?}; refusals (each retry counted) ${refused:-?}"
echo "chaos-kernel: per event (fsb-peer): $per"
echo "chaos-kernel: primary back $(awk -v b="${back:-0}" 'BEGIN { printf "%.1f", b / 1000 }') ms after the final carrier-up (hold_down $HOLD); ${samples:-0} xstats samples"
echo "chaos-kernel: fsb-fwd resources after 100 faults -> at the end (fds threads maps rss_kib): ${R100:-?} -> ${REND:-?}"
if [ -n "${CHAOS_JSON:-}" ]; then
	printf '{"chaos":"kernel","seed":%s,"faults":%s,"sent":%s,"lost":%s,"unaccounted":%s,"dups":%s,"refused":%s,"tx_errors":%s,"surprise":%s,"back_ms":%s,"res100":"%s","res_end":"%s"}\n' \
		"$SEED" "$n_ok" "${sent:-null}" "${lost:-null}" "$unacc" "${dups:-null}" "${refused:-null}" "${txerr:-null}" \
		"$n_sur" "$(awk -v b="${back:-0}" 'BEGIN { printf "%.1f", b / 1000 }')" "${R100:-}" "${REND:-}" >"$CHAOS_JSON"
fi
if [ -z "$why" ]; then
	vh_ok "kernel chaos: $n_ok faults, 0 duplicates, $lost lost at $n_sur surprise faults, primary back within hold_down + $SLACK ms, no leak"
else
	vh_fail "kernel chaos (seed $SEED):$why"
	echo "  the last 20 faults:"
	tail -n 20 "$EVLOG" | sed 's/^/    /'
	vh_dump kc_fwd
fi
vh_finish
