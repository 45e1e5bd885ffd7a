/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * route.c - the router: which slot a device signal concerns.
 *
 * The system-wide sources (rtnetlink, kobject uevents) know devices,
 * not slots.  This file is the only code that matches their signals to
 * slots, and the only one besides the kind itself that touches a
 * slot's netdev binding (subdev.h): it unbinds a device that went away,
 * follows a rename, keeps the binding's running flag as rtnetlink last
 * said.  It then sets a mark on the slot (fsb_port_mark); the sync
 * routine does the rest.
 *
 * Each source names devices its own way, and the rules follow it:
 *
 *   rtnetlink, by ifindex (unique within our netns):
 *     GONE of a bound ifindex        -> unbind, GONE (netdev-removed)
 *     STATE of a bound ifindex       -> follow a rename; a change of
 *                                       IFF_UP && IFF_RUNNING is a
 *                                       LINK_UP or LINK_DOWN
 *     STATE of an unbound device the -> APPEARED (netdev-added), unless
 *     slot wants (name or MAC)          another slot claimed it
 *
 *   uevent, by name (the IFINDEX it may carry only rejects stale ones):
 *     GONE of the slot's name        -> GONE (uevent-remove), also when
 *                                       rtnetlink has just unbound it,
 *                                       never when the name is bound to
 *                                       another ifindex by now (a stale
 *                                       event must not retire the device
 *                                       that replaced it)
 *     APPEARED of the wanted name    -> APPEARED (uevent-add), for an
 *                                       unbound by-name slot; a by-MAC
 *                                       one is rtnetlink's (a uevent
 *                                       does not carry the address)
 *     GONE/APPEARED of the slot's PCI address -> the same, on the slot
 *
 * A netdev removal usually arrives from both: the first mark wins the
 * reason and the second counts as dup_signals (port.h).
 *
 * LOST: a source overflowed (ENOBUFS) and what it would have said is
 * gone.  One resync serves both: an rtnetlink dump is routed as fresh
 * STATE signals (appearances, link changes, renames); a bound slot
 * whose ifindex is not in it is gone; a PCI slot whose function is
 * missing from sysfs is gone, and one we retired for that reason whose
 * function is back has appeared.  Reasons are the lost source's (a
 * uevent resync says uevent-remove/uevent-add).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "netlink.h"
#include "port.h"
#include "route.h"
#include "uevent.h"

static struct {
	_Atomic uint64_t signals, marks, resyncs;
} counters[FSB_DEVSIG_SRC_COUNT];

struct resync;

/* How to route: the signal, and whose counters apply (the lost
 * source's, during a resync, which also rides along). */
struct route {
	const struct fsb_devsignal *sig;
	enum fsb_devsig_source src;
	const struct resync *rs;
};

typedef void (*slot_fn)(struct fsb_port *port, struct fsb_slot *s,
			const struct route *r);

/* @fn for every slot of every open port, each port's lock held.  The
 * caller holds ctx->lock. */
static void slots_each(struct fsb_ctx *ctx, slot_fn fn, const struct route *r)
{
	for (unsigned i = 0; i < FSB_MAX_PORTS; i++) {
		struct fsb_port *port = ctx->ports[i];
		if (!port)
			continue;
		pthread_mutex_lock(&port->lock);
		FSB_FOREACH_SLOT(port, s)
			fn(port, s, r);
		pthread_mutex_unlock(&port->lock);
	}
}

static void slot_mark(struct fsb_port *port, struct fsb_slot *s,
		      const struct route *r, enum fsb_devsig_what what,
		      enum fsb_reason why, const char *dev)
{
	atomic_fetch_add(&counters[r->src].marks, 1);
	if (r->src == FSB_DEVSIG_SRC_UEVENT && dev)
		/* rate-limited: a udevadm trigger is a storm of adds */
		FSB_LOG_RL(FSB_LOG_INFO, "%s: uevent: %s %s", s->sd.name, dev,
			   what == FSB_DEVSIG_GONE ? "removed" : "added");
	fsb_port_mark(port, (unsigned)s->sd.slot, what, why);
}

static void unbind(struct fsb_netdev_bind *b)
{
	b->ifindex = 0;
	b->running = false;
}

/* ------------------------------------------------------------------ */
/* rtnetlink                                                           */
/* ------------------------------------------------------------------ */

static void rtnl_slot(struct fsb_port *port, struct fsb_slot *s,
		      const struct route *r)
{
	const struct fsb_devsignal *sig = r->sig;
	struct fsb_netdev_bind *b = &s->sd.nd;
	if (!b->used)
		return;
	if (b->ifindex && b->ifindex == sig->id.ifindex) {
		if (sig->what == FSB_DEVSIG_GONE) {
			unbind(b);
			slot_mark(port, s, r, FSB_DEVSIG_GONE, sig->why, NULL);
			return;
		}
		if (sig->id.ifname[0] && strcmp(b->ifname, sig->id.ifname)) {
			fsb_log(FSB_LOG_NOTICE, "%s: %s renamed to %s; following it",
				s->sd.name, b->ifname, sig->id.ifname);
			snprintf(b->ifname, sizeof(b->ifname), "%s", sig->id.ifname);
		}
		bool run = fsb_netdev_running(&sig->id);
		if (run != b->running) {
			b->running = run;
			slot_mark(port, s, r,
				  run ? FSB_DEVSIG_LINK_UP : FSB_DEVSIG_LINK_DOWN,
				  run ? FSB_REASON_LINK_UP : FSB_REASON_LINK_DOWN,
				  NULL);
		}
	} else if (sig->what == FSB_DEVSIG_STATE && !b->ifindex &&
		   fsb_netdev_match(b, &sig->id) &&
		   !fsb_netdev_claimed(sig->id.ifindex)) {
		slot_mark(port, s, r, FSB_DEVSIG_APPEARED, sig->why, NULL);
	}
}

/* ------------------------------------------------------------------ */
/* uevent                                                              */
/* ------------------------------------------------------------------ */

static void uevent_slot(struct fsb_port *port, struct fsb_slot *s,
			const struct route *r)
{
	const struct fsb_devsignal *sig = r->sig;
	const struct fsb_devid *id = &sig->id;
	struct fsb_subdev *sd = &s->sd;
	const struct fsb_netdev_bind *b = &sd->nd;
	bool gone = sig->what == FSB_DEVSIG_GONE;

	if (id->ifname[0] && b->used) {
		if (gone) {
			/* Ours (or ours until rtnetlink unbound it a
			 * moment ago), unless a new device took the name. */
			if (b->ifname[0] && strcmp(b->ifname, id->ifname) == 0 &&
			    !(b->ifindex && id->ifindex &&
			      b->ifindex != id->ifindex))
				slot_mark(port, s, r, FSB_DEVSIG_GONE, sig->why,
					  id->ifname);
		} else if (!b->ifindex && !b->by_mac && !b->by_pci &&
			   strcmp(b->want_ifname, id->ifname) == 0 &&
			   !(id->ifindex && fsb_netdev_claimed(id->ifindex))) {
			slot_mark(port, s, r, FSB_DEVSIG_APPEARED, sig->why,
				  id->ifname);
		}
	}
	if (id->pci_addr[0] && sd->pci_addr[0] &&
	    strcasecmp(sd->pci_addr, id->pci_addr) == 0)
		slot_mark(port, s, r, sig->what, sig->why, id->pci_addr);
}

/* ------------------------------------------------------------------ */
/* Resync                                                              */
/* ------------------------------------------------------------------ */

#define RESYNC_MAX_LINKS 4096

struct resync {
	struct fsb_ctx *ctx;
	enum fsb_devsig_source src;
	enum fsb_reason gone_why, added_why;
	int seen[RESYNC_MAX_LINKS];
	unsigned nseen;
};

/* One line of the dump: a fresh STATE, routed as rtnetlink's. */
static void resync_link(void *arg, const struct fsb_devsignal *sig)
{
	struct resync *rs = arg;
	if (rs->nseen < RESYNC_MAX_LINKS)
		rs->seen[rs->nseen++] = sig->id.ifindex;
	struct route r = { sig, rs->src, rs };
	slots_each(rs->ctx, rtnl_slot, &r);
}

static void resync_slot(struct fsb_port *port, struct fsb_slot *s,
			const struct route *r)
{
	const struct resync *rs = r->rs;
	struct fsb_netdev_bind *b = &s->sd.nd;

	/* a bound interface missing from the dump (a full dump only) */
	if (b->used && b->ifindex && rs->nseen < RESYNC_MAX_LINKS) {
		bool seen = false;
		for (unsigned i = 0; i < rs->nseen && !seen; i++)
			seen = rs->seen[i] == b->ifindex;
		if (!seen) {
			unbind(b);
			slot_mark(port, s, r, FSB_DEVSIG_GONE, rs->gone_why,
				  b->ifname);
		}
	}
	if (s->sd.pci_addr[0]) {
		int present = fsb_uevent_pci_present(s->sd.pci_addr);
		if (present == 0 && !s->gone)
			slot_mark(port, s, r, FSB_DEVSIG_GONE, rs->gone_why,
				  s->sd.pci_addr);
		/* Only what we took away: a slot gone for another reason
		 * (a VFIO request, a SIGBUS) while the function is still
		 * there must stay gone. */
		else if (present == 1 && s->gone &&
			 s->last_reason == FSB_REASON_UEVENT_REMOVE)
			slot_mark(port, s, r, FSB_DEVSIG_APPEARED,
				  rs->added_why, s->sd.pci_addr);
	}
}

static void resync(struct fsb_ctx *ctx, const struct fsb_devsignal *lost)
{
	struct resync *rs = calloc(1, sizeof(*rs));
	if (!rs) {
		FSB_LOG_RL(FSB_LOG_ERR, "resync after lost events: %s",
			   strerror(ENOMEM));
		return;
	}
	atomic_fetch_add(&counters[lost->source].resyncs, 1);
	rs->ctx = ctx;
	rs->src = lost->source;
	rs->gone_why = lost->why;
	rs->added_why = lost->why == FSB_REASON_UEVENT_REMOVE ?
		FSB_REASON_UEVENT_ADD : FSB_REASON_NETDEV_ADDED;
	int rc = fsb_netlink_dump(rs->added_why, resync_link, rs);
	if (rc < 0) {
		/* without the dump nothing can be said about netdevs */
		FSB_LOG_RL(FSB_LOG_WARNING, "resync: link dump failed: %s",
			   strerror(-rc));
		rs->nseen = RESYNC_MAX_LINKS;
	}
	struct route r = { lost, rs->src, rs };
	slots_each(ctx, resync_slot, &r);
	free(rs);
}

/* ------------------------------------------------------------------ */
/* Entry                                                               */
/* ------------------------------------------------------------------ */

void fsb_route_signal(void *arg, const struct fsb_devsignal *sig)
{
	struct fsb_ctx *ctx = arg;
	if ((unsigned)sig->source >= FSB_DEVSIG_SRC_COUNT)
		return;
	atomic_fetch_add(&counters[sig->source].signals, 1);
	struct route r = { sig, sig->source, NULL };
	pthread_mutex_lock(&ctx->lock);
	if (sig->what == FSB_DEVSIG_LOST)
		resync(ctx, sig);
	else
		slots_each(ctx, sig->source == FSB_DEVSIG_SRC_RTNETLINK ?
			   rtnl_slot : uevent_slot, &r);
	pthread_mutex_unlock(&ctx->lock);
}

void fsb_route_counters(enum fsb_devsig_source src,
			struct fsb_route_counters *c)
{
	memset(c, 0, sizeof(*c));
	if ((unsigned)src >= FSB_DEVSIG_SRC_COUNT)
		return;
	c->signals = atomic_load(&counters[src].signals);
	c->marks = atomic_load(&counters[src].marks);
	c->resyncs = atomic_load(&counters[src].resyncs);
}
