#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# stress-no-grace.sh - the stress test's negative control, an expected
# failure (XFAIL_TESTS): the same detach/attach storm with the QSBR
# grace wait switched off must crash or lose frames.  If it passes, the
# stress test no longer tests the grace period (automake then reports
# XPASS, which fails the run).
: "${top_builddir:=.}"
FSB_STRESS_NO_GRACE=1 FSB_STRESS_CYCLES="${FSB_STRESS_CYCLES:-300}" \
	"$top_builddir/tests/stress"
rc=$?
echo "stress without grace wait: exit $rc (a crash is > 128)"
exit "$rc"
