#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# qemu-unplug.sh - the "unplug" scene of tests/qemu/scenes.sh, for our port and
# for the kernel's net_failover (tests/qemu/scene-check.sh).
scene=unplug
. "${top_srcdir:-.}/tests/qemu/scene-check.sh"
