# SPDX-License-Identifier: BSD-3-Clause
# interrupt-lib.sh - sourced by the tests that check what a ^C leaves
# behind (drill-netns.sh, drill-qemu.sh).
#
# interrupt_run OUT PATTERN WAIT-S AFTER-S CMD...: start CMD (output to
# OUT) with SIGINT at its default, wait up to WAIT-S seconds for PATTERN
# in OUT, AFTER-S seconds more, then SIGINT it and wait for it.  Sets
# INT_PID (the ids the command named its things by) and INT_RC (its
# exit status).
#
# Why python: a shell starts a background command with SIGINT ignored,
# and bash cannot trap a signal ignored at its start; restore the
# default first, as a terminal's ^C would find it.
interrupt_run() {
	_ir_out=$1 _ir_pat=$2 _ir_wait=$3 _ir_after=$4
	shift 4
	python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' "$@" >"$_ir_out" 2>&1 &
	INT_PID=$!
	_ir_i=0
	while ! grep -q "$_ir_pat" "$_ir_out" && [ "$_ir_i" -lt $((_ir_wait * 10)) ]; do
		sleep 0.1; _ir_i=$((_ir_i + 1))
	done
	sleep "$_ir_after"
	kill -INT "$INT_PID"
	wait "$INT_PID"
	INT_RC=$?
}
