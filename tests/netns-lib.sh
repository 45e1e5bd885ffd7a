# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh
#
# netns-lib.sh - the netns topology of the tests, the demo and the
# benches is fsb-drill's (migration/netns-lib.sh); tests/*.sh and
# tests/bench/* source it through here.
for _nl in "$(dirname "$0")/../migration/netns-lib.sh" "$(dirname "$0")/../../migration/netns-lib.sh"; do
	[ -r "$_nl" ] && break
done
# shellcheck source=migration/netns-lib.sh
. "$_nl"
