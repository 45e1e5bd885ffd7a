#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# qemu-replug.sh - the "replug" scene of tests/qemu/scenes.sh, for our port and
# for the kernel's net_failover (tests/qemu/scene-check.sh).
scene=replug
. "${top_srcdir:-.}/tests/qemu/scene-check.sh"
