#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# completion.sh - the bash completion of fsbctl, fsb-fwd and fsb-drill
# (src/fsb.bash-completion), loaded the way a shell loads it: by
# bash-completion's own loader, from a completions directory laid out
# as make install lays it out (the file, and a link per command).
# fsbctl's ports and slots come from a live fsb-fwd's control socket.
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
me=completion
BC=/usr/share/bash-completion/bash_completion
skip() {
	echo "$me: $*: skipped"
	[ "${CI:-}" = true ] && { echo "$me: CI=true: a skip is a failure"; exit 1; }
	exit 77
}
[ -r "$BC" ] || skip "bash-completion not installed ($BC)"
command -v bash >/dev/null || skip "no bash"
fails=0; n=0
tmp=$(mktemp -d)
pfx=fsbc$$
cleanup() {
	[ -n "${fwd:-}" ] && kill -INT "$fwd" 2>/dev/null && wait "$fwd"
	rm -rf "$tmp" "/var/run/dpdk/$pfx"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

d=$tmp/bc/completions
mkdir -p "$d" "$tmp/bin"
cp "$top_srcdir/src/fsb.bash-completion" "$d/"
for c in fsbctl fsb-fwd fsb-drill; do ln -s fsb.bash-completion "$d/$c"; done
ln -s "$(cd "$top_builddir/src" && pwd)/fsbctl" "$tmp/bin/fsbctl"
ln -s "$(cd "$top_builddir/src" && pwd)/fsb-fwd" "$tmp/bin/fsb-fwd"

"$top_builddir/src/fsb-fwd" --port 'fsb0,dev(ring,name=a),dev(null)' --peer 'ring,name=a' \
	--forward-mode txonly --tx-rate 1000 --duration 30 --telemetry "prefix=$pfx" \
	> /dev/null 2> "$tmp/fwd.err" &
fwd=$!
for i in $(seq 100); do grep -q "control socket" "$tmp/fwd.err" && break; sleep 0.05; done

# comp WANT WORD...: complete the last WORD of the line (the loader
# finds the command's file by its name); WANT must be the replies
comp() {
	want=$1; shift
	got=$(BASH_COMPLETION_USER_DIR=$tmp/bc PATH="$tmp/bin:$PATH" bash -c '
		. "$1"; shift
		__load_completion "$1" || { echo "no completion for $1"; exit 1; }
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		f=$(complete -p "$1" | sed -n "s/.*-F \([^ ]*\).*/\1/p")
		"$f" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
		printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' sh "$BC" "$@")
	n=$((n + 1))
	if [ "$got" = "$want" ]; then
		echo "ok: '$*' -> $got"
	else
		echo "FAIL: '$*' -> '$got', want '$want'"; fails=$((fails + 1))
	fi
}

comp "port ports " fsbctl show p
comp "events " fsbctl show e
comp "$pfx " fsbctl -f "$pfx"
comp "0 " fsbctl -f "$pfx" show port ""
comp "0 1 " fsbctl -f "$pfx" detach 0 ""
comp "debug " fsbctl log level d
comp "io macswap rxonly txonly " fsb-fwd --forward-mode ""
comp "--telemetry " fsb-fwd --tele
comp "migrate migrate-cancel migrate-fail " fsb-drill qemu mig
comp "af_packet virtio_pci " fsb-drill qemu --primary ""
comp "all-down " fsb-drill netns remove all

# cmocka-style totals, so that tests/summary.sh counts each case
echo "[  PASSED  ] $((n - fails)) test(s)."
[ "$fails" = 0 ] || echo "[  FAILED  ] $fails test(s)."
echo "$me: $((n - fails)) passed, $fails failed"
[ "$fails" = 0 ]
