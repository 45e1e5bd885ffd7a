#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# qemu-migrate-fail.sh - the "migrate-fail" scene of tests/qemu/scenes.sh, for our port and
# for the kernel's net_failover (tests/qemu/scene-check.sh).
scene=migrate-fail
. "${top_srcdir:-.}/tests/qemu/scene-check.sh"
