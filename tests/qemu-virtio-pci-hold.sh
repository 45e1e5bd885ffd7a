#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The app holds on to the VFIO device: see qemu-virtio-pci.sh.
exec sh "${top_srcdir:-.}/tests/qemu-virtio-pci.sh" hold
