/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * devsignal.h - what a signal source reports about a device (internal).
 *
 * Sources tell; they never act.  A source that watches the whole system
 * (rtnetlink: netlink.c, kobject uevents: uevent.c) parses what the
 * kernel says into a struct fsb_devsignal and hands it to a callback:
 * the router (route.c), which alone matches it to the slots it
 * concerns.  A source that already belongs to one slot (a BAR's SIGBUS,
 * a VFIO device request, a vhost-user session) calls that slot's
 * notifier, which the port installed, with just the what and the why.
 * Neither kind of source includes a port header or writes port state.
 *
 * The header is named devsignal.h, not signal.h: -I$(top_srcdir)/src
 * would shadow <signal.h>.
 */
#ifndef FSB_DEVSIGNAL_H
#define FSB_DEVSIGNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "fsb/fsb.h"

/*
 * What happened.  The first seven are also the marks a slot can carry
 * (port.h): a source's word, which the sync routine acts on.
 */
enum fsb_devsig_what {
	FSB_DEVSIG_GONE = 0,    /* the device went away */
	FSB_DEVSIG_LINK_DOWN,
	FSB_DEVSIG_LINK_UP,
	FSB_DEVSIG_APPEARED,    /* a device came (back) */
	FSB_DEVSIG_RELEASE,     /* let the device go, the planned way (a
				 * VFIO device request): TX first, drain,
				 * then close */
	FSB_DEVSIG_TX_FAILED,   /* the datapath: sends on this device fail
				 * and make no progress (a hard error, or
				 * a streak of ENOBUFS).  Not a verdict:
				 * the sync routine asks the device's link
				 * at once and fails over only if it reads
				 * down.  The kind stores when the failing
				 * began in sd->tx_fail_ns first. */
	FSB_DEVSIG_STEP,        /* a kind's step that went on without the
				 * caller finished (a vhost-user setup
				 * waiting on a slow backend: probe or
				 * start said -EINPROGRESS): bring the
				 * slot up again.  Not a verdict and
				 * no reason of its own. */
	FSB_DEVSIG_MARKS,       /* (count of the above) */

	/* Router only: */
	FSB_DEVSIG_STATE = FSB_DEVSIG_MARKS,
				/* a netdev as it is now (RTM_NEWLINK, a
				 * line of a dump): whether that is an
				 * appearance, a link change or a rename
				 * depends on what we hold, so the router
				 * decides */
	FSB_DEVSIG_LOST,        /* the source lost events (ENOBUFS): ask
				 * the kernel what is there now */
};

/* Who says so: each source names devices its own way (see route.c). */
enum fsb_devsig_source {
	FSB_DEVSIG_SRC_RTNETLINK = 0,   /* by ifindex, within our netns */
	FSB_DEVSIG_SRC_UEVENT,          /* by name (netdev) or PCI address */
	FSB_DEVSIG_SRC_COUNT,
};

/* A device as a source describes it; fields it does not know are zero
 * or "". */
struct fsb_devid {
	int ifindex;
	char ifname[16];
	unsigned flags;                 /* IFF_* (rtnetlink) */
	bool has_mac, has_perm_mac;
	uint8_t mac[FSB_ETHER_ADDR_LEN];
	uint8_t perm_mac[FSB_ETHER_ADDR_LEN]; /* IFLA_PERM_ADDRESS */
	char pci_addr[16];              /* "dddd:bb:dd.f" (uevent; rtnetlink:
					 * IFLA_PARENT_DEV_NAME of a "pci"
					 * parent) */
	char parent[48];                /* rtnetlink: "BUS/DEVICE" of the
					 * netdev's parent, "" if none */
};

struct fsb_devsignal {
	enum fsb_devsig_what what;
	enum fsb_reason why;
	enum fsb_devsig_source source;
	uint64_t when_ns;               /* receipt, CLOCK_MONOTONIC */
	struct fsb_devid id;
};

/* A system-wide source's sink (the router).  Called on the control
 * thread, or in a test's thread, never in a signal handler. */
typedef void (*fsb_devsignal_fn)(void *arg, const struct fsb_devsignal *sig);

/*
 * A slot's notifier, for sources that belong to one slot.  @fn is
 * async-signal-safe (atomics and an eventfd write: the SIGBUS handler
 * calls it) and may be called from any thread.  @fn == NULL: nobody to
 * tell (a bare sub-device).
 */
struct fsb_slot_notify {
	void (*fn)(void *arg, enum fsb_devsig_what what, enum fsb_reason why);
	void *arg;
};

static inline void fsb_slot_notify_call(const struct fsb_slot_notify *n,
					enum fsb_devsig_what what,
					enum fsb_reason why)
{
	if (n && n->fn)
		n->fn(n->arg, what, why);
}

#endif /* FSB_DEVSIGNAL_H */
