#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# fsbctl.sh - every fsbctl command against a running fsb-fwd, human and
# -j output, and its exit codes: 0 ok, 1 no socket or a refusal, 2 a
# usage error with one line.  The socket's own behaviour is
# tests/telemetry.sh's; a real failover seen through fsbctl is the
# fsbctl scenario of tests/netns-failover.sh.
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
FWD=${FSB_FWD:-$top_builddir/src/fsb-fwd}
CTL=${FSBCTL:-$top_builddir/src/fsbctl}
me=fsbctl
fails=0; n=0
tmp=$(mktemp -d)
pfx=fsbctl$$
cleanup() {
	[ -n "${fwd:-}" ] && kill -INT "$fwd" 2>/dev/null && wait "$fwd"
	rm -rf "$tmp" "/var/run/dpdk/$pfx"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# t WANT-RC GREP-ERE DESC CMD...: run fsbctl; its exit status must be
# WANT-RC and its output (stdout and stderr) match GREP-ERE
t() {
	want=$1 re=$2 desc=$3; shift 3
	"$CTL" "$@" > "$tmp/out" 2>&1
	rc=$?
	n=$((n + 1))
	if [ "$rc" = "$want" ] && grep -Eq -- "$re" "$tmp/out"; then
		echo "ok: $desc: exit $rc"
	else
		fails=$((fails + 1))
		echo "FAIL: $desc: exit $rc (want $want), output:"
		sed 's/^/    | /' "$tmp/out" | head -20
	fi
}
json() {  # json DESC CMD...: -j output parses as one JSON value
	desc=$1; shift
	n=$((n + 1))
	if "$CTL" -j "$@" > "$tmp/j" 2>&1 &&
	   python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$tmp/j" 2>/dev/null; then
		echo "ok: -j $desc parses"
	else
		fails=$((fails + 1)); echo "FAIL: -j $desc: $(head -c 300 "$tmp/j")"
	fi
}

"$FWD" --port 'fsb0,hold_down=100,dev(ring,name=a),dev(ring,name=b)' --peer 'ring,name=a' \
	--peer 'ring,name=b' --forward-mode txonly --tx-rate 2000 --duration 60 \
	--telemetry "prefix=$pfx" > /dev/null 2> "$tmp/fwd.err" &
fwd=$!
for i in $(seq 200); do grep -q "control socket" "$tmp/fwd.err" && break; sleep 0.05; done
F="-f $pfx"

t 0 'fsb0 +yes +UP +0 +2' "show ports" $F show ports
t 0 'SLOT +KIND.*' "show port" $F show port 0
t 0 'TX-packets: [1-9]' "show stats" $F show stats 0
t 0 'switch_reason_admin +0' "show xstats" $F show xstats 0
t 0 'port 0 slot 0: detached' "detach 0 0" $F detach 0 0
t 0 'already' "detach 0 0 again" $F detach 0 0
t 0 'slot 0 -> 1.*admin' "show events: the planned switch" $F show events 0
t 0 'absent' "show port: slot 0 absent" $F show port 0
t 0 'port 0 slot 0: attached' "attach 0 0" $F attach 0 0
t 0 '' "stats reset 0" $F stats reset 0
t 0 'notice' "log level" $F log level
t 0 'debug' "log level debug" $F log level debug
t 0 'notice' "log level notice" $F log level notice
t 0 'slot 1' "watch, 3 samples" $F watch 0 -i 0.2 -c 3
t 0 "$pfx +live .*fsb-fwd" "list" list
t 0 '"tx_pps"' "watch -j, 2 samples" $F -j watch 0 -i 0.2 -c 2
json "show ports" $F show ports
json "show port" $F show port 0
json "show stats" $F show stats 0
json "show xstats" $F show xstats 0
json "show events" $F show events 0 -n 5
t 0 "fsb0 +yes" "-s SOCKET" -s "/var/run/dpdk/$pfx/dpdk_telemetry.v2" show ports
# refusals and runtime errors: 1
t 1 'refused|no such' "show port 9 (no such port)" $F show port 9
t 1 'refused|no such' "detach 0 7 (no such slot)" $F detach 0 7
t 1 '.' "a prefix with no socket" -f nosuch$$ show ports
t 1 '.' "a socket path that does not exist" -s "$tmp/nosock" show ports
# usage: 2, one line
t 2 'port' "show port x" $F show port x
t 2 '.' "show port (no number)" $F show port
t 2 '.' "an unknown command" $F frobnicate
t 2 '.' "-f and -s together" -f a -s b show ports
t 2 '.' "watch -i 0.01" $F watch 0 -i 0.01
t 2 '.' "show events -n 0" $F show events 0 -n 0
t 0 'Usage|usage' "--help" --help

# cmocka-style totals, so that tests/summary.sh counts each case
echo "[  PASSED  ] $((n - fails)) test(s)."
[ "$fails" = 0 ] || echo "[  FAILED  ] $fails test(s)."
echo "$me: $((n - fails)) passed, $fails failed"
[ "$fails" = 0 ]
