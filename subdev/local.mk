# SPDX-License-Identifier: BSD-3-Clause
# subdev/: one file per sub-device kind, behind the ops table in subdev.h.
src_libfsb_internal_la_SOURCES += \
	subdev/subdev.h \
	subdev/subdev.c \
	subdev/netdev.c \
	subdev/null.c \
	subdev/ring.c \
	subdev/af_packet.c \
	subdev/virtqueue.h \
	subdev/virtqueue.c \
	subdev/vhost_user.h \
	subdev/vhost_user.c \
	subdev/virtio_net.h \
	subdev/virtio_net.c \
	subdev/virtio_user.c \
	subdev/pcidev.h \
	subdev/pci_bind.c \
	subdev/virtio_pci.h \
	subdev/virtio_pci_modern.c \
	subdev/vfio_pci.h \
	subdev/vfio_pci.c \
	subdev/uio_pci.h \
	subdev/uio_pci.c \
	subdev/physmem.h \
	subdev/physmem.c \
	subdev/virtio_pci.c
