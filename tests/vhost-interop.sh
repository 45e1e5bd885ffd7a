#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# vhost-interop.sh - our virtio_user frontend against DPDK testpmd's
# net_vhost backend (issue 6), counted from outside: testpmd's own
# counters, and the sequence numbers and checksums fsb-fwd --check puts
# in every frame.  Scenarios:
#
#   tx      fsb-fwd txonly (1 M packets) -> testpmd rxonly: testpmd's
#           RX-packets equals what our tx_burst accepted
#   rx      testpmd txonly -> fsb-fwd rxonly (>= 1 M): our RX equals
#           testpmd's TX-packets (testpmd is stopped first, then us)
#   io64, io1500
#           fsb-fwd txonly --check -> testpmd io -> back to us: no bad
#           checksum, nothing reordered or duplicated per queue; testpmd
#           received all we sent, we received all it sent, and every
#           gap we saw is a frame testpmd counted as dropped
#   mq      the same loop with 2 queue pairs (queues=2 on both sides):
#           both queues carry checked traffic
#   server  our socket in server mode (server=1), testpmd connects as a
#           client (client=1): counts as in tx
#
# Datapath placement: testpmd's two lcores on CPU 0, fsb-fwd's datapath
# on CPU 1 (its other threads on CPU 0).  Each scenario has its own
# socket and testpmd --file-prefix; everything is bounded by timeout.
#
#   sh tests/vhost-interop.sh [SCENARIO...]     (as root; default: all)
#
# Exit: 0 all checks passed, 1 a check failed, 77 testpmd missing.
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
N=${VH_PACKETS:-1000000}

# tx: fsb-fwd txonly -> testpmd rxonly
sc_tx() {
	S=$VH_TMP/tx.sock
	rm -f "$S"
	tp_start tx_be "net_vhost0,iface=$S,queues=1" rxonly "$VH_TP_CPU" || { vh_fail "tx: backend"; return; }
	fwd_run_bg tx_fwd 90 --port "vht0,dev(virtio_user,path=$S)" \
		--forward-mode txonly --tx-packets "$N" --duration 60
	ns_reap "$FWD_PID"
	rc=$?
	tp_settle
	tp_stop tx_be
	sent=$(fwd_val tx_fwd fwd_tx) got=$(tp_count tx_be RX)
	if [ "$rc" = 0 ] && [ "${sent:-0}" = "$N" ] && [ "${got:-x}" = "$sent" ]; then
		vh_ok "tx: fsb-fwd sent $sent, testpmd received $got"
	else
		vh_fail "tx: fsb-fwd exit $rc, sent ${sent:-?} (want $N), testpmd received ${got:-?}"
		vh_dump tx_fwd tx_be
	fi
}

# rx: testpmd txonly -> fsb-fwd rxonly
sc_rx() {
	S=$VH_TMP/rx.sock
	rm -f "$S"
	tp_start rx_be "net_vhost0,iface=$S,queues=1" txonly "$VH_TP_CPU" || { vh_fail "rx: backend"; return; }
	fwd_run_bg rx_fwd 90 --port "vht0,dev(virtio_user,path=$S)" \
		--forward-mode rxonly --duration 60 --stats-period 1
	# until testpmd has sent more than N (its periodic count), 40 s max
	i=0
	while [ "$(tp_last rx_be TX)" -le "$N" ] && [ $i -lt 400 ] && kill -0 "$FWD_PID" 2>/dev/null; do
		vh_sleep 0.1; i=$((i + 1))
	done
	tp_stop rx_be
	vh_sleep 1
	kill -INT "$FWD_PID" 2>/dev/null
	ns_reap "$FWD_PID"
	rc=$?
	sent=$(tp_count rx_be TX) got=$(fwd_val rx_fwd fwd_rx)
	if [ "$rc" = 0 ] && [ "${sent:-0}" -ge "$N" ] && [ "${got:-x}" = "$sent" ]; then
		vh_ok "rx: testpmd sent $sent, fsb-fwd received $got"
	else
		vh_fail "rx: fsb-fwd exit $rc, testpmd sent ${sent:-?} (want >= $N), fsb-fwd received ${got:-?}"
		vh_dump rx_fwd rx_be
	fi
}

# loop NAME LEN PACKETS QUEUES: fsb-fwd txonly --check through testpmd io
loop() {
	lp=$1 _len=$2 _pk=$3 _q=$4
	S=$VH_TMP/$lp.sock
	rm -f "$S"
	if [ "$_q" = 1 ]; then
		tp_start "${lp}_be" "net_vhost0,iface=$S,queues=1" io "$VH_TP_CPU" || { vh_fail "$lp: backend"; return; }
		spec="vht0,dev(virtio_user,path=$S)"
	else
		tp_start "${lp}_be" "net_vhost0,iface=$S,queues=$_q" io "$VH_TP_CPU" \
			--rxq "$_q" --txq "$_q" || { vh_fail "$lp: backend"; return; }
		spec="vht0,dev(virtio_user,path=$S,queues=$_q)"
	fi
	fwd_run_bg "${lp}_fwd" 90 --port "$spec" --nb-queues "$_q" --forward-mode txonly \
		--check --txpkts "$_len" --tx-packets "$_pk" --duration 60
	ns_reap "$FWD_PID"
	rc=$?
	tp_settle
	tp_stop "${lp}_be"
	f=${lp}_fwd b=${lp}_be
	sent=$(fwd_val "$f" fwd_tx) back=$(fwd_val "$f" rx_checked)
	bad=$(fwd_val "$f" rx_bad_csum) reord=$(fwd_val "$f" rx_reordered)
	dup=$(fwd_val "$f" rx_dup) miss=$(fwd_val "$f" rx_missing)
	foreign=$(fwd_val "$f" rx_foreign) short=$(fwd_val "$f" rx_short)
	trx=$(tp_count "$b" RX) ttx=$(tp_count "$b" TX) tdrop=$(tp_acc "$b" TX dropped)
	# io: what testpmd received and did not send, it dropped
	[ -n "$tdrop" ] || tdrop=$((trx - ttx))
	why=
	[ "$rc" = 0 ] || why="$why fsb-fwd exit $rc;"
	[ "${sent:-0}" = "$_pk" ] || why="$why sent ${sent:-?} != $_pk;"
	[ "${bad:-x}" = 0 ] && [ "${reord:-x}" = 0 ] && [ "${dup:-x}" = 0 ] &&
		[ "${foreign:-x}" = 0 ] && [ "${short:-x}" = 0 ] ||
		why="$why bad_csum ${bad:-?} reordered ${reord:-?} dup ${dup:-?} foreign ${foreign:-?} short ${short:-?};"
	[ "${trx:-x}" = "${sent:-y}" ] || why="$why testpmd RX ${trx:-?} != sent ${sent:-?};"
	[ "${ttx:-x}" = "${back:-y}" ] || why="$why testpmd TX ${ttx:-?} != checked at us ${back:-?};"
	[ "${miss:-x}" -le "${tdrop:-0}" ] 2>/dev/null || why="$why gaps ${miss:-?} > testpmd TX-dropped ${tdrop:-?};"
	awk -v b="${back:-0}" -v s="${sent:-1}" 'BEGIN { exit !(b >= s / 2) }' ||
		why="$why fewer than half came back (${back:-0} of ${sent:-?});"
	if [ "$_q" -gt 1 ]; then
		qs=$(grep -c '^  Check stream port [0-9]* queue [0-9]*: ok [1-9]' "$VH_TMP/$f.err" 2>/dev/null)
		# the final stats block lists each stream once more
		nq=$(grep '^  Check stream' "$VH_TMP/$f.err" | sed -n 's/.* queue \([0-9]*\): ok [1-9].*/\1/p' | sort -u | wc -l)
		[ "$nq" = "$_q" ] || why="$why streams with traffic: $nq, want $_q ($qs lines);"
	fi
	if [ -z "$why" ]; then
		vh_ok "$lp: ${_len} B x $_q queue(s): sent $sent, testpmd RX $trx / TX $ttx (dropped $tdrop), checked $back, gaps $miss, bad 0, reordered 0, dup 0"
	else
		vh_fail "$lp:$why"
		vh_dump "$f" "$b"
	fi
}

sc_io64() { loop io64 64 "$N" 1; }
sc_io1500() { loop io1500 1500 $((N / 4)) 1; }
sc_mq() { loop mq 64 "$N" 2; }

# server: our socket listens, testpmd connects as a client
sc_server() {
	S=$VH_TMP/server.sock
	rm -f "$S"
	fwd_run_bg srv_fwd 90 --port "vht0,dev(virtio_user,path=$S,server=1)" \
		--forward-mode txonly --tx-packets "$N" --duration 60
	i=0
	while [ ! -S "$S" ] && [ $i -lt 100 ] && kill -0 "$FWD_PID" 2>/dev/null; do
		vh_sleep 0.1; i=$((i + 1))
	done
	if [ ! -S "$S" ]; then
		vh_fail "server: fsb-fwd made no socket at $S within 10 s"
		vh_dump srv_fwd
		return
	fi
	tp_start srv_be "net_vhost0,iface=$S,client=1,queues=1" rxonly "$VH_TP_CPU" ||
		{ vh_fail "server: backend"; return; }
	ns_reap "$FWD_PID"
	rc=$?
	tp_settle
	tp_stop srv_be
	sent=$(fwd_val srv_fwd fwd_tx) got=$(tp_count srv_be RX)
	if [ "$rc" = 0 ] && [ "${sent:-0}" = "$N" ] && [ "${got:-x}" = "$sent" ]; then
		vh_ok "server: testpmd (client=1) connected to our server=1 socket; we sent $sent, it received $got"
	else
		vh_fail "server: fsb-fwd exit $rc, sent ${sent:-?} (want $N), testpmd received ${got:-?}"
		vh_dump srv_fwd srv_be
	fi
}

scen=${*:-tx rx io64 io1500 mq server}
for s in $scen; do
	case $s in
	tx|rx|io64|io1500|mq|server) "sc_$s" ;;
	*) vh_fail "unknown scenario '$s'" ;;
	esac
done
vh_finish
