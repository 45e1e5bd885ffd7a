/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * netdev.c - binding a sub-device to a kernel netdev: which interface
 * a kind wants, which one it holds, and who else holds which.
 *
 * A netdev-backed kind (af_packet) names its device by name (iface=)
 * or by MAC address (mac=).  By MAC it matches the permanent address
 * (IFLA_PERM_ADDRESS) where the device has one, else the current one:
 * that survives udev renames and migration, where names and PCI
 * addresses change (veth has no permanent address).
 *
 * A failover pair shares one MAC (the port replays its address onto
 * every sub-device, as the hypervisor does for a VF and its virtio
 * standby), so adoption by MAC must never pick an interface another
 * slot holds: each bound ifindex is claimed here, process-wide, from
 * probe to close.
 */
#include "config.h"

#include <errno.h>
#include <linux/if.h>
#include <pthread.h>
#include <string.h>

#include "netlink.h"
#include "subdev.h"

#define MAX_CLAIMS 256
static pthread_mutex_t claims_lock = PTHREAD_MUTEX_INITIALIZER;
static int claims[MAX_CLAIMS];

bool fsb_netdev_claimed(int ifindex)
{
	bool found = false;
	pthread_mutex_lock(&claims_lock);
	for (unsigned i = 0; i < MAX_CLAIMS && !found; i++)
		found = claims[i] == ifindex;
	pthread_mutex_unlock(&claims_lock);
	return found;
}

int fsb_netdev_claim(int ifindex)
{
	int rc = -ENOSPC;
	pthread_mutex_lock(&claims_lock);
	for (unsigned i = 0; i < MAX_CLAIMS; i++)
		if (claims[i] == ifindex) {
			pthread_mutex_unlock(&claims_lock);
			return -EBUSY;
		}
	for (unsigned i = 0; i < MAX_CLAIMS; i++)
		if (!claims[i]) {
			claims[i] = ifindex;
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&claims_lock);
	return rc;
}

void fsb_netdev_release(int ifindex)
{
	pthread_mutex_lock(&claims_lock);
	for (unsigned i = 0; i < MAX_CLAIMS; i++)
		if (claims[i] == ifindex)
			claims[i] = 0;
	pthread_mutex_unlock(&claims_lock);
}

bool fsb_netdev_match(const struct fsb_netdev_bind *b,
		      const struct fsb_devid *id)
{
	if (!b->used)
		return false;
	if (b->by_mac) {
		if (id->has_perm_mac)
			return memcmp(id->perm_mac, b->want_mac, 6) == 0;
		return id->has_mac && memcmp(id->mac, b->want_mac, 6) == 0;
	}
	return id->ifname[0] && strcmp(id->ifname, b->want_ifname) == 0;
}

bool fsb_netdev_running(const struct fsb_devid *id)
{
	return (id->flags & IFF_UP) && (id->flags & IFF_RUNNING);
}

struct find_arg {
	const struct fsb_netdev_bind *b;
	struct fsb_devid *out;
	bool found;
};

static void find_fn(void *arg, const struct fsb_devsignal *sig)
{
	struct find_arg *fa = arg;
	if (!fa->found && fsb_netdev_match(fa->b, &sig->id) &&
	    !fsb_netdev_claimed(sig->id.ifindex)) {
		*fa->out = sig->id;
		fa->found = true;
	}
}

int fsb_netdev_find(const struct fsb_netdev_bind *b, struct fsb_devid *out)
{
	struct find_arg fa = { b, out, false };
	int rc = fsb_netlink_dump(FSB_REASON_NETDEV_ADDED, find_fn, &fa);
	if (rc < 0)
		return rc;
	return fa.found ? 0 : -ENODEV;
}
