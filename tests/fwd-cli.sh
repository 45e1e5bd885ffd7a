#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# fsb-fwd: bad flags and specs exit 2 with the exact one-line error and
# start nothing; good runs print testpmd-style stats, JSON, and a ring
# failover report whose counts come from the peers.
FWD="${FSB_FWD:-./src/fsb-fwd}"
fails=0; n=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# expect_err "EXACT STDERR LINE" ARGS...
expect_err() {
	want="$1"; shift
	n=$((n + 1))
	"$FWD" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	got=$(cat "$tmp/err")
	if [ "$rc" -ne 2 ] || [ "$got" != "$want" ] || [ -s "$tmp/out" ]; then
		echo "FAIL: fsb-fwd $*"
		echo "  want rc 2: $want"
		echo "  got  rc $rc: $got"
		fails=$((fails + 1))
	else
		echo "ok: exit 2: $want"
	fi
}

expect_err "fsb-fwd: spec error at column 10: unknown sub-device kind (known: null, ring, af_packet, virtio_user, virtio_pci) near 'nope'" \
	--port 'fsb0,dev(nope)'
expect_err "fsb-fwd: spec error at column 9: unbalanced parentheses near '(null'" \
	--port 'fsb0,dev(null'
expect_err "fsb-fwd: spec error at column 15: unknown option for null near 'bogus=1'" \
	--port 'fsb0,dev(null,bogus=1)'
expect_err "fsb-fwd: spec error at column 6: number out of range (14..9600) near 'size=1'" \
	--bare 'null,size=1'
expect_err "fsb-fwd: unknown option '--frobnicate' (see --help)" --frobnicate
expect_err "fsb-fwd: option '--burst' needs a value" --port 'a,dev(null)' --burst
expect_err "fsb-fwd: --burst: 0 out of range (1..512)" --port 'a,dev(null)' --burst 0
expect_err "fsb-fwd: --burst: bad number '3x'" --port 'a,dev(null)' --burst 3x
expect_err "fsb-fwd: --forward-mode: unknown mode 'fast' (want io, txonly, rxonly or macswap)" \
	--port 'a,dev(null)' --forward-mode fast
expect_err "fsb-fwd: --duration: bad number of seconds '-1'" --port 'a,dev(null)' --duration -1
expect_err "fsb-fwd: no --port or --bare given (see --help)" --duration 1
expect_err "fsb-fwd: --schedule: unknown action 'explode' in '2:explode:0'" \
	--port 'a,dev(null)' --schedule 2:explode:0
expect_err "fsb-fwd: unexpected argument 'extra' (see --help)" --port 'a,dev(null)' extra
# a bad second spec: the first port is not started either (no output)
expect_err "fsb-fwd: spec error at column 15: duplicate option near 'hold_down=2'" \
	--port 'a,dev(null)' --port 'b,hold_down=1,hold_down=2,dev(null)'

expect_err "fsb-fwd: --check: --txpkts 60 is too small for the check header (min 62)" \
	--port 'a,dev(null)' --check --txpkts 60
expect_err "fsb-fwd: --tx-packets: 0 out of range (1..18446744073709551615)" \
	--port 'a,dev(null)' --tx-packets 0

# --check through a ring pair: every frame checked, none bad; exactly
# the --tx-packets budget sent per port
n=$((n + 1))
if "$FWD" --port 'a,dev(ring,name=fwdcli_chk)' --port 'b,dev(ring,name=fwdcli_chk)' \
	--forward-mode txonly --check --tx-packets 100000 --nb-queues 2 --duration 20 \
	--json >"$tmp/chk" 2>"$tmp/chk.err" &&
   grep -q '"fwd_tx":100000,' "$tmp/chk" &&
   grep -q '"check":{"rx_checked":200000,"rx_gaps":0,"rx_missing":0,"rx_reordered":0,"rx_dup":0,"rx_bad_csum":0,"rx_foreign":0,"rx_short":0' "$tmp/chk" &&
   grep -q '^  Check stream port 1 queue 1: ok [1-9]' "$tmp/chk.err"; then
	echo "ok: --check over a ring pair: 200000 frames checked, none bad"
else
	echo "FAIL: --check over a ring pair"; sed 's/^/  | /' "$tmp/chk" "$tmp/chk.err" | tail -20
	fails=$((fails + 1))
fi

n=$((n + 1))
if "$FWD" --help | grep -q -- '--forward-mode' && "$FWD" --version | grep -q '^fsb-fwd (libfsb) '; then
	echo "ok: --help/--version"
else
	echo "FAIL: --help/--version"; fails=$((fails + 1))
fi

# txonly on null for 1 s, with periodic stats and a JSON summary
n=$((n + 1))
if "$FWD" --port 'fsb0,dev(null)' --forward-mode txonly --duration 1 \
	--stats-period 0.5 --json >"$tmp/json" 2>"$tmp/human" &&
   grep -q 'Throughput (since last show)' "$tmp/human" &&
   grep -q 'Tx-pps:' "$tmp/human" &&
   grep -q '"forward_mode":"txonly"' "$tmp/json" &&
   grep -q '"xstats":{"switchovers":0' "$tmp/json" &&
   [ "$(wc -l <"$tmp/json")" -eq 1 ]; then
	echo "ok: txonly run, stats block and JSON"
else
	echo "FAIL: txonly run"; cat "$tmp/human" "$tmp/json"; fails=$((fails + 1))
fi

# SIGINT prints the final stats and exits 0
n=$((n + 1))
"$FWD" --port 'fsb0,dev(null)' --forward-mode rxonly >"$tmp/int" 2>&1 &
pid=$!
sleep 1
kill -INT "$pid"
wait "$pid"; rc=$?
if [ "$rc" -eq 0 ] && grep -q 'Accumulated forward statistics' "$tmp/int"; then
	echo "ok: SIGINT -> final stats, exit 0"
else
	echo "FAIL: SIGINT rc=$rc"; cat "$tmp/int"; fails=$((fails + 1))
fi

# planned detach/attach under txonly, counted at the ring peers
n=$((n + 1))
"$FWD" --port 'fsb0,hold_down=200,dev(ring,name=vf),dev(ring,name=sb)' \
	--peer 'ring,name=vf' --peer 'ring,name=sb' --forward-mode txonly \
	--tx-rate 200000 --txd 32768 --rxd 32768 --lcore-cpu 1 --duration 3 --schedule 1:detach:0,2:attach:0 --json >"$tmp/dj" 2>"$tmp/dh"
rc=$?
if [ "$rc" -eq 0 ] && grep -q '"lost":0}' "$tmp/dj" && grep -q '"refused":0,' "$tmp/dj" &&
   grep -q 'EVENT .* tx slot 0 -> slot 1 (admin)' "$tmp/dh" &&
   grep -q 'EVENT .* tx slot 1 -> slot 0 (admin)' "$tmp/dh"; then
	echo "ok: planned detach/attach: 0 lost, 0 refused"
else
	echo "FAIL: detach demo rc=$rc"; cat "$tmp/dh" "$tmp/dj"; fails=$((fails + 1))
fi

# --tx-retry: io from a null source into a port that has no path for a
# second (its only slot detached): with the flag, what the port refused
# is held and sent once the path is back (at most the last burst is
# still held at the stop and counted refused); without it, a second of
# the source's frames is refused and freed.
for retry in "" --tx-retry; do
	n=$((n + 1))
	"$FWD" --port 'x,dev(ring,name=rr)' --port 'y,dev(null)' --peer 'ring,name=rr' \
		--forward-mode io --duration 3 --schedule 1:detach:0,2:attach:0 \
		$retry --json >"$tmp/rj" 2>"$tmp/rh"
	rc=$?
	refused=$(sed -n 's/.*"refused":\([0-9]*\),.*/\1/p' "$tmp/rj")
	if [ "$rc" -eq 0 ] && [ -n "$refused" ] &&
	   { { [ -n "$retry" ] && [ "$refused" -le 32 ]; } ||
	     { [ -z "$retry" ] && [ "$refused" -gt 1000 ]; }; }; then
		echo "ok: io ${retry:-without --tx-retry}: $refused refused"
	else
		echo "FAIL: io ${retry:-without --tx-retry}: rc=$rc refused=$refused"
		cat "$tmp/rh" "$tmp/rj"; fails=$((fails + 1))
	fi
done

echo "fwd-cli: $((n - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
