/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * netdev.c - binding a sub-device to a kernel netdev: which interface
 * a kind wants, which one it holds, and who else holds which.
 *
 * A netdev-backed kind (af_packet) names its device by name (iface=),
 * by MAC address (mac=) or by the PCI address of its parent (pci=).
 *
 * By MAC it matches the permanent address (IFLA_PERM_ADDRESS) where the
 * device has one, else the current one: that survives udev renames and
 * migration, where names and PCI addresses change (veth has no
 * permanent address).  In a guest with the kernel's net_failover the
 * MAC is ambiguous: the failover master, its virtio standby and the VF
 * all carry the same permanent address.  The master and the standby
 * share one parent device (the virtio device, whose net/ directory then
 * holds two netdevs); a VF has a parent of its own.  So matching by MAC
 * skips any netdev whose parent holds more than one: what is left is
 * the VF, under whatever name it comes back.
 *
 * By PCI address (rtnetlink's IFLA_PARENT_DEV_NAME, Linux >= 5.15) it
 * finds the device in a slot, whatever its name: a VF re-plugged into
 * the same slot, or the slot a migration's destination uses.
 *
 * By name it adopts what has the name, but a name is only a name: a
 * device that took it while ours was away (no udev in a guest hands out
 * eth0, eth1... in probe order) is not ours.  At the first bind we
 * record the permanent MAC and the PCI address the device had, and a
 * later device under the name must have the same ones to be adopted.
 *
 * A failover pair shares one MAC (the port replays its address onto
 * every sub-device, as the hypervisor does for a VF and its virtio
 * standby), so adoption by MAC must never pick an interface another
 * slot holds: each bound ifindex is claimed here, process-wide, from
 * probe to close.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <linux/if.h>
#include <stdio.h>
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

bool fsb_netdev_failover_member(const struct fsb_devid *id)
{
	char path[128];
	if (id->parent[0])
		snprintf(path, sizeof(path), "/sys/bus/%.*s/devices/%s/net",
			 (int)(strchr(id->parent, '/') ?
			       strchr(id->parent, '/') - id->parent : 0),
			 id->parent, strchr(id->parent, '/') ?
			 strchr(id->parent, '/') + 1 : id->parent);
	else if (id->ifname[0])
		snprintf(path, sizeof(path), "/sys/class/net/%s/device/net",
			 id->ifname);
	else
		return false;
	DIR *d = opendir(path);
	if (!d)
		return false;           /* no parent: not a pair's */
	unsigned n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 1;
}

void fsb_netdev_ident_record(struct fsb_netdev_bind *b,
			     const struct fsb_devid *id)
{
	if (b->ident_set || b->by_mac || b->by_pci)
		return;
	b->ident_set = true;
	b->ident_has_perm = id->has_perm_mac;
	memcpy(b->ident_perm_mac, id->perm_mac, sizeof(b->ident_perm_mac));
	snprintf(b->ident_pci, sizeof(b->ident_pci), "%s", id->pci_addr);
}

/* Is @id, which has our name, the device the name belonged to? */
static bool ident_confirmed(const struct fsb_netdev_bind *b,
			    const struct fsb_devid *id)
{
	if (!b->ident_set)
		return true;
	bool ok = true;
	if (b->ident_has_perm && id->has_perm_mac)
		ok = memcmp(b->ident_perm_mac, id->perm_mac, 6) == 0;
	if (ok && b->ident_pci[0] && id->pci_addr[0])
		ok = strcmp(b->ident_pci, id->pci_addr) == 0;
	if (!ok)
		FSB_LOG_RL(FSB_LOG_NOTICE, "%s (ifindex %d) has the name we "
			   "bound but not the permanent MAC or PCI address "
			   "of the device we bound: not adopted", id->ifname,
			   id->ifindex);
	return ok;
}

bool fsb_netdev_match(const struct fsb_netdev_bind *b,
		      const struct fsb_devid *id)
{
	if (!b->used)
		return false;
	if (b->by_pci)
		return id->pci_addr[0] && strcmp(id->pci_addr, b->want_pci) == 0;
	if (b->by_mac) {
		bool same = id->has_perm_mac ?
			memcmp(id->perm_mac, b->want_mac, 6) == 0 :
			id->has_mac && memcmp(id->mac, b->want_mac, 6) == 0;
		return same && !fsb_netdev_failover_member(id);
	}
	return id->ifname[0] && strcmp(id->ifname, b->want_ifname) == 0 &&
	       ident_confirmed(b, id);
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
