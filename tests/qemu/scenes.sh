# SPDX-License-Identifier: BSD-3-Clause
# scenes.sh - the headline scenes of the QEMU harness, for ours and for
# the kernel's net_failover (sourced after qemu-lib.sh; the tests and
# tests/bench/qemu-failover run them).
#
#   scene_run DIR SCENE WHO
#     SCENE  unplug | replug | migrate | migrate-fail | migrate-cancel
#     WHO    ours   | kernel
#
# The guest (qemu-lib.sh) has an e1000e primary with failover_pair_id
# and a virtio-net failover=on standby, both on their kernel drivers;
# the kernel's net_failover makes a master of the standby's virtio
# device and enslaves both.  In it:
#   ours    fsb-fwd txonly --check at 1,000 pps, --burst 1, --tx-retry on
#             fsb0,hold_down=1000,dev(af_packet,mac=M),dev(af_packet,iface=SB)
#           bound to the slave netdevs, not to the master.  Hold-down:
#           QEMU's e1000e comes up with its carrier on, restarts
#           autonegotiation when the driver resets it (carrier off
#           ~0.5 s later, on again ~1.2 s after that), and in between
#           takes frames it does not send (its ring fills, then
#           ENOBUFS) while the link reads up.  A second of hold-down
#           keeps TX off it until that is over.  The primary
#           is bound by MAC: the kernel gives a re-plugged e1000e a
#           name of its own (no udev in the guest), the master and the
#           standby carry the same MAC and are skipped (netdev.c), and
#           a migration's destination may put it in another slot.
#   kernel  fsb-seqsend at 1,000 pps on the failover master.
# The frames are counted at the host's sink, by path and sequence
# number, on the clock of QEMU's event log.
#
# Scenes, driven from the host over QMP:
#   unplug        device_del of the primary under traffic;
#   replug        that, then device_add of an e1000e on the same slot,
#                 netdev and MAC.  A new id and no failover_pair_id:
#                 QEMU 7.2 refuses the old id ("Duplicate ID") and a
#                 second primary for standby0 ("Cannot attach more than
#                 one primary device"); the kernel's net_failover
#                 enslaves it by its MAC, we adopt it by its MAC;
#   migrate       to a second QEMU (-incoming tcp): QEMU unplugs the
#                 primary (wait-unplug), copies, and the destination
#                 plugs it back;
#   migrate-fail  the same to a destination that refuses (another RAM
#                 size): the source plugs the primary back;
#   migrate-cancel  a slow migration (50 kB/s), cancelled 1 s after it
#                 goes active: the source plugs the primary back.
#
# scene_run writes DIR/result, one "key value" per line:
#   sent lost dups reordered silence_us   (sink; sent = max seq + 1)
#   gap_us        last frame on the primary's path -> first on the
#                 standby's, at the first switch away from the primary
#   del_us        device_del -> DEVICE_DELETED            (unplug, replug)
#   back_ms       device_add, or MIGRATION completed / failed, -> the
#                 first frame on the primary's path again
#   mig_total_ms mig_downtime_ms mig_setup_ms mig_ram_kb  (query-migrate)
#   wait_unplug_ms  MIGRATION wait-unplug -> the next status
#   fwd_rc        the guest sender's exit status
#   tx_errors     ours: frames the port accepted and dropped (fsb-fwd)
#   missing       the first ranges of sequence numbers never seen
# and returns 0, or 1 with the reason in DIR/why (the run itself
# failed: no guest, no traffic, an event that never came).

SCENE_PPS=1000

# SCENE_PRIMARY=virtio_pci (ours only): the primary is a virtio-net
# with failover_pair_id, and both devices are ours, driven from
# userspace through VFIO (setup A: a vIOMMU, fsb.skip=virtio_net, as in
# tests/qemu-virtio-pci.sh): the port is
#   fsb0,hold_down=500,dev(virtio_pci,addr=0000:02:00.0),
#        dev(virtio_pci,addr=0000:01:00.0,standby=1)
# Its re-plug is a virtio-net again.
_scene_vpci() { [ "${SCENE_PRIMARY:-e1000e}" = virtio_pci ] && [ "$1" = ours ]; }

# The guest's side with our port on two virtio_pci devices.
scene_guest_vpci() {
	cat <<EOF
fsb-fwd --port "fsb0,hold_down=500,dev(virtio_pci,addr=0000:02:00.0),dev(virtio_pci,addr=0000:01:00.0,standby=1)" \\
	--forward-mode txonly --check --tx-rate $SCENE_PPS --burst 1 --tx-retry \\
	--promisc --port-mac 02:fb:00:00:00:01 --duration $1 --json > /tmp/fwd.json 2> /tmp/fwd.err &
EOF
	qemu_guest_stop_text
	cat <<'EOF'
grep -E "virtio_pci|active|VFIO|release|error|TX-errors|tx slot" /tmp/fwd.err | cut -c1-150 | tail -12
EOF
}

# qemu_start for the scene's guests: the e1000e primary on the kernel's
# drivers, or the virtio_pci setup
_scene_qemu_start() {  # NAME WHO RUN [QEMU ARGS...]
	_n=$1 _w=$2 _r=$3
	shift 3
	if _scene_vpci "$_w"; then
		QEMU_IOMMU=1 QEMU_APPEND="fsb.skip=virtio_net" \
			qemu_start "$SD" "$_n" "virtio-net-pci,iommu_platform=on" "$_r" "$@"
	else
		qemu_start "$SD" "$_n" e1000e "$_r" "$@"
	fi
}

# The guest's side.  $1: ours|kernel, $2: the bound on its seconds of traffic (scene_duration).
scene_guest() {
	if _scene_vpci "$1"; then
		scene_guest_vpci "$2"
		return
	fi
	cat <<'EOF'
echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6
echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6
drv() { d=$(readlink /sys/class/net/$1/device/driver 2>/dev/null); echo "${d##*/}"; }
for i in $(seq 300); do
	master=""; sb=""; pri=""
	for n in /sys/class/net/*; do
		case $(drv ${n##*/}) in
		virtio_net) if [ -e $n/master ]; then sb=${n##*/}; else master=${n##*/}; fi ;;
		e1000e) pri=${n##*/} ;;
		esac
	done
	[ -n "$master" ] && [ -n "$sb" ] && [ -n "$pri" ] && break
	sleep 0.1
done
echo "fsb-guest: master $master standby $sb primary $pri"
for n in /sys/class/net/*; do ip link set ${n##*/} up; done
EOF
	if [ "$1" = ours ]; then
		cat <<EOF
fsb-fwd --port "fsb0,hold_down=1000,dev(af_packet,mac=$QEMU_MAC),dev(af_packet,iface=\$sb)" \\
	--forward-mode txonly --check --tx-rate $SCENE_PPS --burst 1 --tx-retry \\
	--duration $2 --json > /tmp/fwd.json 2> /tmp/fwd.err &
EOF
		qemu_guest_stop_text
		cat <<'EOF'
grep -E "active|sends fail|error|refused|TX-errors" /tmp/fwd.err | cut -c1-150 | tail -12
EOF
	else
		cat <<EOF
fsb-seqsend \$master $SCENE_PPS $2 &
EOF
		qemu_guest_stop_text
	fi
}

# The guest's sender runs until the scene stops it (_scene_end): this
# is only its bound, in seconds.  A fixed length was outrun on a loaded
# machine, where TCG guests are slow to re-probe a primary: the traffic
# ended before the primary was back, and a correct run failed.
scene_duration() {
	case $1 in
	unplug|replug|migrate|migrate-fail|migrate-cancel) echo 60 ;;
	esac
}
# Seconds of traffic after the point a scene waits for (the standby
# carrying, or the primary back): the judged "during" or "after" phase.
SCENE_AFTER_S=${SCENE_AFTER_S:-3}

_scene_why() { echo "$*" > "$SD/why"; return 1; }
_res() { echo "$1 $2" >> "$SD/result"; }
# _ev_ns NAME EVENT [MATCH]: the time of the first such logged event
_ev_ns() {
	grep "\"event\": \"$2\"" "$SD/$1.events" 2>/dev/null | grep -F -- "${3:-}" |
		head -1 | cut -d' ' -f1
}
# _path_after FROM TO T: the time of the first path change FROM -> TO
# after T (sink clock); and its gap in us as the second word
_path_after() {
	awk -v f="$1" -v t="$2" -v after="$3" \
		'$1 == "PATH" && $2 == f && $3 == t && $4 > after { print $4, $5; exit }' \
		"$SD/sink.out"
}
_sum() { sed -n "s/^SUMMARY .*\"$1\":\([0-9]*\).*/\1/p" "$SD/sink.out"; }
_qm() { sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" "$SD/query-migrate.out" | head -1; }

# _wait_vf SECONDS: until our frames reach the primary's path
_wait_vf() {
	for _i in $(seq $(($1 * 20))); do
		grep -q "^FIRST vf" "$SD/sink.out" && return 0
		sleep 0.05
	done
	return 1
}

scene_run() {
	SD=$1; _scene=$2; _who=$3
	rm -f "$SD/result" "$SD/why" "$SD"/*.serial "$SD"/*.events "$SD/sink.out"
	: > "$SD/result"
	_dur=$(scene_duration "$_scene")
	[ -n "$_dur" ] || _scene_why "unknown scene $_scene" || return 1
	qemu_ports
	qemu_sink "$SD" || _scene_why "the sink did not start" || return 1
	_scene_qemu_start src "$_who" "$(scene_guest "$_who" "$_dur")"
	if ! scene_"$(echo "$_scene" | tr - _)"; then
		qemu_kill_all "$SD"
		qemu_sink_stop "$SD"
		return 1
	fi
	qemu_sink_stop "$SD"
	_res sent $(($(_sum max_seq) + 1))
	_res lost "$(_sum lost)"
	_res dups "$(_sum dups)"
	_res reordered "$(_sum reordered)"
	_res silence_us "$(_sum longest_silence_us)"
	_g=$(_path_after vf sb 0)
	_res gap_us "${_g#* }"
	_rc=$(sed -n 's/.*fsb-guest: fwd rc \([0-9]*\).*/\1/p' "$SD"/*.serial | head -1)
	_res fwd_rc "${_rc:-none}"
	# ours: what the port accepted and dropped (fsb-fwd's final stats)
	_te=$(sed -n 's/.*TX-errors: *\([0-9]*\).*/\1/p' "$SD"/*.serial | tail -1)
	[ -n "$_te" ] && _res tx_errors "$_te"
	_res missing "$(sed -n 's/^SUMMARY .*"missing":"\([^"]*\)".*/\1/p' "$SD/sink.out")"
	return 0
}

# Boot, and wait for our frames on the primary's path.
_scene_boot() {
	qemu_wait_event "$SD" src FAILOVER_NEGOTIATED 90 > /dev/null ||
		_scene_why "no FAILOVER_NEGOTIATED: the guest did not negotiate STANDBY" ||
		return 1
	_wait_vf 60 || _scene_why "no frame on the primary's path" || return 1
	sleep 1
}

# device_del primary0 and wait for QEMU to say it is gone.
_scene_del() {
	qemu_cmd "$SD" src '{"execute":"device_del","arguments":{"id":"primary0"}}' \
		> "$SD/del.out" || _scene_why "device_del: $(cat "$SD/del.out")" || return 1
	_t0=$(cut -d' ' -f1 "$SD/del.out")
	_l=$(qemu_wait_event "$SD" src DEVICE_DELETED 30 '"device": "primary0"') ||
		_scene_why "no DEVICE_DELETED for primary0" || return 1
	_res del_us $(( (${_l%% *} - _t0) / 1000 ))
}

# SCENE_AFTER_S seconds more of traffic, then stop the guest's sender on
# QEMU NAME, wait for its final counts, and stop that QEMU.
_scene_end() {
	sleep "$SCENE_AFTER_S"
	qemu_guest_say "$SD" "$1" stop ||
		_scene_why "cannot reach the guest's control port ($1.ctl)" || return 1
	qemu_wait_serial "$SD" "$1" "fsb-guest: fwd rc" 90 ||
		_scene_why "the guest's sender did not finish" || return 1
	qemu_stop "$SD" "$1"
}

scene_unplug() {
	_scene_boot && _scene_del && _scene_end src
}

scene_replug() {
	_scene_boot && _scene_del || return 1
	sleep 1.5
	_drv='"e1000e"'
	_scene_vpci "$_who" && _drv='"virtio-net-pci","iommu_platform":true'
	qemu_cmd "$SD" src "{\"execute\":\"device_add\",\"arguments\":{\"driver\":$_drv,\"netdev\":\"n1\",\"id\":\"primary1\",\"mac\":\"$QEMU_MAC\",\"bus\":\"rp2\",\"romfile\":\"\"}}" \
		> "$SD/add.out" || _scene_why "device_add: $(cat "$SD/add.out")" || return 1
	_t0=$(cut -d' ' -f1 "$SD/add.out")
	for _i in $(seq 400); do
		_b=$(_path_after sb vf "$_t0")
		[ -n "$_b" ] && break
		sleep 0.05
	done
	[ -n "$_b" ] || _scene_why "no frame on the re-plugged primary's path" || return 1
	_res back_ms $(( (${_b%% *} - _t0) / 1000000 ))
	_scene_end src
}

# _scene_migrate DST-EXTRA-ARGS...: migrate src -> dst; the outcome
# (completed, failed or cancelled) in $_mig_status, its time in $_mig_t.
# SCENE_MIG_BW (bytes/s, default 4 GiB/s) caps the copy; with
# SCENE_MIG_CANCEL=1 the migration is cancelled (migrate_cancel) 1 s
# after it goes active (the primary is unplugged by then).
_scene_migrate() {
	_scene_qemu_start dst "$_who" "$(scene_guest x 0)" \
		-incoming tcp:127.0.0.1:"$QP_MIG" "$@"
	# The destination answers QMP only from its main loop, after its
	# -incoming listener exists; a bare connect would take the one
	# connection QEMU accepts for the migration itself.
	for _i in $(seq 200); do
		[ -S "$SD/dst.qmp" ] && qemu_cmd "$SD" dst query-status 2>/dev/null |
			grep -q inmigrate && break
		qemu_alive "$SD" dst || break
		sleep 0.05
	done
	qemu_cmd "$SD" src \
		'{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"events","state":true}]}}' \
		"{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"max-bandwidth\":${SCENE_MIG_BW:-4294967296},\"downtime-limit\":300}}" \
		"{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"tcp:127.0.0.1:$QP_MIG\"}}" \
		> "$SD/migrate.out" || _scene_why "migrate: $(tail -1 "$SD/migrate.out")" || return 1
	if [ "${SCENE_MIG_CANCEL:-0}" = 1 ]; then
		qemu_wait_event "$SD" src MIGRATION 120 '"status": "active"' > /dev/null ||
			_scene_why "the migration never went active" || return 1
		sleep 1
		qemu_cmd "$SD" src migrate_cancel > "$SD/cancel.out" ||
			_scene_why "migrate_cancel: $(cat "$SD/cancel.out")" || return 1
	fi
	_l=""
	for _i in $(seq 2400); do
		_l=$(grep '"event": "MIGRATION"' "$SD/src.events" |
			grep -E '"status": "(completed|failed|cancelled)"' | head -1)
		[ -n "$_l" ] && break
		qemu_alive "$SD" src || break
		sleep 0.05
	done
	[ -n "$_l" ] || _scene_why "the migration neither completed nor failed" ||
		return 1
	_mig_t=${_l%% *}
	case $_l in
	*completed*) _mig_status=completed ;;
	*cancelled*) _mig_status=cancelled ;;
	*) _mig_status=failed ;;
	esac
	qemu_cmd "$SD" src query-migrate > "$SD/query-migrate.out"
	_wu=$(_ev_ns src MIGRATION '"status": "wait-unplug"')
	if [ -n "$_wu" ]; then
		_next=$(grep '"event": "MIGRATION"' "$SD/src.events" |
			awk -v t="$_wu" '$1 > t { print $1; exit }')
		[ -n "$_next" ] && _res wait_unplug_ms $(( (_next - _wu) / 1000000 ))
	fi
	_res mig_total_ms "$(_qm total-time)"
	_res mig_downtime_ms "$(_qm downtime)"
	_res mig_setup_ms "$(_qm setup-time)"
	_tr=$(_qm transferred)
	_res mig_ram_kb $(( ${_tr:-0} / 1024 ))
}

# $1: the QEMU that carries on; the primary comes back there
_scene_back() {
	for _i in $(seq 600); do
		_b=$(_path_after sb vf "$_mig_t")
		[ -n "$_b" ] && break
		qemu_alive "$SD" "$1" || break
		sleep 0.05
	done
	[ -n "$_b" ] && _res back_ms $(( (${_b%% *} - _mig_t) / 1000000 ))
	# why not, for the reason: the QEMU that should carry on is gone
	# (its last line), or it runs and no frame at all came after the
	# migration ended (a guest that stopped sending), or only the
	# standby's
	_scene_back_why=""
	if [ -z "$_b" ]; then
		if ! qemu_alive "$SD" "$1"; then
			# a guest that powered itself off (its run ended) or
			# panicked (panic=-1 and -no-reboot) exits QEMU
			# without a word on stderr: its SHUTDOWN event and
			# console say which
			_sd=$(grep -o '"event": "SHUTDOWN".*"reason": "[a-z-]*"' "$SD/$1.events" 2>/dev/null |
				grep -o '"reason": "[a-z-]*"' | head -1)
			_con=$(grep -v '^ *$' "$SD/$1.serial" 2>/dev/null | tail -3 | cut -c1-120 | tr '\n' '|')
			_scene_back_why=" (QEMU $1 exited: ${_sd:-no SHUTDOWN event}; its console ends: ${_con:-nothing}; its stderr: $(tail -1 "$SD/$1.out" 2>/dev/null))"
		else
			_last=$(grep -E '^(FIRST|PATH|MARK)' "$SD/sink.out" | tail -1)
			_scene_back_why=" (QEMU $1 runs; the sink's last line: ${_last:-none}; $(qemu_cmd "$SD" "$1" query-status 2>/dev/null | grep -o '"status": "[a-z-]*"' | head -1))"
		fi
	fi
	return 0
}

scene_migrate() {
	_scene_boot && _scene_migrate || return 1
	[ "$_mig_status" = completed ] ||
		_scene_why "the migration failed: $(grep -o '"error-desc": "[^"]*"' "$SD/query-migrate.out")" ||
		return 1
	qemu_cmd "$SD" src quit > /dev/null
	qemu_stop "$SD" src 10
	_scene_back dst
	[ -n "$_b" ] || _scene_why "the primary never carried frames on the destination$_scene_back_why" ||
		return 1
	_scene_end dst
}

# _scene_src_again STATUS WHY: the migration ended STATUS and the source
# runs on: stop the destination, and the primary must carry frames
# again on the source
_scene_src_again() {
	[ "$_mig_status" = "$1" ] || _scene_why "$2 (it ended $_mig_status)" || return 1
	qemu_stop "$SD" dst 1
	_scene_back src
	[ -n "$_b" ] || _scene_why "the primary never carried frames again on the source$_scene_back_why" ||
		return 1
	_scene_end src
}

scene_migrate_fail() {
	# a destination with another RAM size refuses the RAM section
	_scene_boot && _scene_migrate -m 256 &&
		_scene_src_again failed "the migration to a refusing destination did not fail"
}

scene_migrate_cancel() {
	# a copy slow enough to be cancelled while it runs (the guest's RAM
	# is mostly zero pages, which cost a few bytes each); the settings
	# must not outlive the scene (a drill runs many in one shell)
	SCENE_MIG_BW=50000 SCENE_MIG_CANCEL=1
	_scene_boot && _scene_migrate &&
		_scene_src_again cancelled "the migration was not cancelled"
	_r=$?
	unset SCENE_MIG_BW SCENE_MIG_CANCEL
	return $_r
}

# scene_get DIR KEY: a value of DIR/result
scene_get() {
	sed -n "s/^$2 //p" "$1/result" | head -1
}
