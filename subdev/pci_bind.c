/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pci_bind.c - which kernel driver has a PCI device, and taking the
 * device for a userspace driver (vfio-pci, uio_pci_generic).
 *
 * A device that appears (at boot, or re-plugged) is bound to the
 * kernel's own driver first: virtio-pci for a virtio NIC.  fsb_pci_bind()
 * takes it race-free: driver_override = the driver we want first (from
 * then on no other driver can bind it), then unbind from the current
 * driver, then drivers_probe, then wait, bounded, for the binding.  An
 * operator who binds it elsewhere afterwards takes it from us: the open
 * fails, the slot stays down and the port on its standby, and the log
 * says which driver has it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsb_private.h"
#include "pcidev.h"

#define ERR(...) do { if (err && errlen) snprintf(err, errlen, __VA_ARGS__); } while (0)
#define BIND_WAIT_MS 2000

static int sysfs_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, val, strlen(val));
	int e = n < 0 ? errno : 0;
	close(fd);
	return n < 0 ? -e : 0;
}

int fsb_pci_driver(const char *addr, char *drv, size_t len)
{
	char path[PATH_MAX], link[PATH_MAX];
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", addr);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		drv[0] = '\0';
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", addr);
		return access(path, F_OK) == 0 ? 0 : -ENODEV;
	}
	link[n] = '\0';
	const char *base = strrchr(link, '/');
	snprintf(drv, len, "%s", base ? base + 1 : link);
	return 0;
}

int fsb_pci_bind(const char *addr, const char *want, const char *auto_drv,
		 char *err, size_t errlen)
{
	char drv[64], path[PATH_MAX];
	int rc = fsb_pci_driver(addr, drv, sizeof(drv));
	if (rc < 0) {
		ERR("%s: no such PCI device", addr);
		return rc;
	}
	if (strcmp(drv, want) == 0)
		return 0;
	/* Ours to take only from the driver the kernel binds by itself: a
	 * device someone bound elsewhere stays where they put it. */
	if (drv[0] && (!auto_drv || strcmp(drv, auto_drv) != 0)) {
		ERR("%s: bound to %s, which is not ours to take (bind it to "
		    "%s, or unbind it, for the port to use it)", addr, drv, want);
		return -EBUSY;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", addr);
	if ((rc = sysfs_write(path, want)) < 0) {
		ERR("%s: cannot set driver_override: %s", addr, strerror(-rc));
		return rc;
	}
	if (drv[0]) {
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", addr);
		rc = sysfs_write(path, addr);
		if (rc < 0 && rc != -ENODEV) {
			ERR("%s: cannot unbind it from %s: %s", addr, drv, strerror(-rc));
			return rc;
		}
	}
	rc = sysfs_write("/sys/bus/pci/drivers_probe", addr);
	if (rc < 0 && rc != -ENODEV && rc != -EBUSY) {
		ERR("%s: drivers_probe: %s (is %s loaded?)", addr, strerror(-rc), want);
		return rc;
	}
	unsigned retries = 0;
	for (unsigned ms = 0; ms < BIND_WAIT_MS; ms += 5) {
		if (fsb_pci_driver(addr, drv, sizeof(drv)) < 0) {
			ERR("%s: the device went away while we took it", addr);
			return -ENODEV;
		}
		if (strcmp(drv, want) == 0) {
			fsb_log(FSB_LOG_INFO, "%s: bound to %s", addr, want);
			return 0;
		}
		if (drv[0] && retries < 3) {
			/* A probe the kernel began before our override (a
			 * device just plugged: its "add" starts one) bound
			 * its own driver after our unbind.  The override
			 * holds now: once more. */
			retries++;
			snprintf(path, sizeof(path),
				 "/sys/bus/pci/devices/%s/driver/unbind", addr);
			sysfs_write(path, addr);
			sysfs_write("/sys/bus/pci/drivers_probe", addr);
			continue;
		}
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
	/* not yet: a loaded machine can take longer (the port probes
	 * again, backing off, then waits for the device to appear anew) */
	ERR("%s: not bound to %s after %u ms (driver: %s; is the %s module "
	    "loaded?)", addr, want, BIND_WAIT_MS, drv[0] ? drv : "none", want);
	return -EAGAIN;
}

