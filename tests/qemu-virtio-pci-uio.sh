#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# virtio_pci over UIO, no IOMMU (setup B): see qemu-virtio-pci.sh.
exec sh "${top_srcdir:-.}/tests/qemu-virtio-pci.sh" uio
