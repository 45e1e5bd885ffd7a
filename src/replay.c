/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * replay.c - the port's config shadow: what the admin set (MAC, MTU,
 * promiscuous, all-multicast, the multicast list), applied to the
 * started sub-devices now and replayed onto every one that (re)starts.
 *
 * Each item stands alone: -ENOTSUP from a sub-device on one item never
 * stops the others (DPDK's failsafe aborts its whole re-sync there),
 * and is counted in replay_enotsup.  The admin link state is not part
 * of the shadow: it is not operational state.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "port.h"

/* Apply @fn to every started slot; -ENOTSUP from a slot is tolerated. */
static int config_apply(struct fsb_port *port,
			int (*apply)(struct fsb_port *, struct fsb_slot *))
{
	int err = 0;
	FSB_FOREACH_SLOT(port, s) {
		if (fsb_slot_state(s) < FSB_SUBDEV_STARTED)
			continue;
		int rc = apply(port, s);
		if (rc == -ENOTSUP)
			atomic_fetch_add(&port->replay_enotsup, 1);
		else if (rc < 0 && !err)
			err = rc;
	}
	return err;
}

static int apply_mac(struct fsb_port *p, struct fsb_slot *s)
{
	return s->sd.ops->mac_set ? s->sd.ops->mac_set(&s->sd, p->mac) : -ENOTSUP;
}

static int apply_mtu(struct fsb_port *p, struct fsb_slot *s)
{
	return s->sd.ops->mtu_set ? s->sd.ops->mtu_set(&s->sd, p->mtu) : -ENOTSUP;
}

static int apply_promisc(struct fsb_port *p, struct fsb_slot *s)
{
	return s->sd.ops->promisc_set ?
		s->sd.ops->promisc_set(&s->sd, p->promisc) : -ENOTSUP;
}

static int apply_allmulti(struct fsb_port *p, struct fsb_slot *s)
{
	return s->sd.ops->allmulti_set ?
		s->sd.ops->allmulti_set(&s->sd, p->allmulti) : -ENOTSUP;
}

static int apply_mc_list(struct fsb_port *p, struct fsb_slot *s)
{
	return s->sd.ops->mc_list_set ?
		s->sd.ops->mc_list_set(&s->sd,
				       (const uint8_t (*)[FSB_ETHER_ADDR_LEN])p->mc_list,
				       p->mc_count) : -ENOTSUP;
}

static void replay_item(struct fsb_port *port, struct fsb_slot *s,
			const char *what, int rc)
{
	if (rc == -ENOTSUP) {
		atomic_fetch_add(&port->replay_enotsup, 1);
		fsb_log(FSB_LOG_INFO, "%s: %s not supported; skipped",
			s->sd.name, what);
	} else if (rc < 0) {
		fsb_log(FSB_LOG_WARNING, "%s: replaying %s failed: %s",
			s->sd.name, what, strerror(-rc));
	}
}

/*
 * Replay the config shadow onto a sub-device that just started.  Each
 * item stands alone: -ENOTSUP on one never stops the others (DPDK's
 * failsafe aborts its whole re-sync there).  The admin link state is
 * deliberately not replayed: it is not operational state.
 */
void fsb_port_config_replay(struct fsb_port *port, struct fsb_slot *s)
{
	const struct fsb_subdev_ops *o = s->sd.ops;
	if (port->mac_set)
		replay_item(port, s, "mac", o->mac_set ?
			    o->mac_set(&s->sd, port->mac) : -ENOTSUP);
	if (port->mtu)
		replay_item(port, s, "mtu", o->mtu_set ?
			    o->mtu_set(&s->sd, port->mtu) : -ENOTSUP);
	if (port->promisc)
		replay_item(port, s, "promisc", o->promisc_set ?
			    o->promisc_set(&s->sd, true) : -ENOTSUP);
	if (port->allmulti)
		replay_item(port, s, "allmulti", o->allmulti_set ?
			    o->allmulti_set(&s->sd, true) : -ENOTSUP);
	if (port->mc_count)
		replay_item(port, s, "mc list", apply_mc_list(port, s));
}

void fsb_port_mac_adopt(struct fsb_port *port)
{
	if (port->mac_set)
		return;
	FSB_FOREACH_SLOT(port, s) {
		if (fsb_slot_state(s) < FSB_SUBDEV_PROBED || !s->sd.ops->mac_get)
			continue;
		if (s->sd.ops->mac_get(&s->sd, port->mac) == 0) {
			port->mac_set = true;
			return;
		}
	}
}

/* The shadow is updated first: it is what every returning sub-device
 * gets, whatever the started ones answer now. */
int fsb_port_mac_set(struct fsb_port *port, const uint8_t mac[6])
{
	FSB_ASSERT(port != NULL);
	if (!mac || (mac[0] & 1))
		return -EINVAL;     /* multicast/NULL is not a port address */
	pthread_mutex_lock(&port->lock);
	memcpy(port->mac, mac, 6);
	port->mac_set = true;
	int rc = config_apply(port, apply_mac);
	pthread_mutex_unlock(&port->lock);
	return rc;
}

int fsb_port_mtu_set(struct fsb_port *port, uint16_t mtu)
{
	FSB_ASSERT(port != NULL);
	if (mtu < 68)
		return -EINVAL;
	pthread_mutex_lock(&port->lock);
	port->mtu = mtu;
	int rc = config_apply(port, apply_mtu);
	pthread_mutex_unlock(&port->lock);
	return rc;
}

int fsb_port_promisc_set(struct fsb_port *port, bool on)
{
	FSB_ASSERT(port != NULL);
	pthread_mutex_lock(&port->lock);
	port->promisc = on;
	int rc = config_apply(port, apply_promisc);
	pthread_mutex_unlock(&port->lock);
	return rc;
}

int fsb_port_allmulti_set(struct fsb_port *port, bool on)
{
	FSB_ASSERT(port != NULL);
	pthread_mutex_lock(&port->lock);
	port->allmulti = on;
	int rc = config_apply(port, apply_allmulti);
	pthread_mutex_unlock(&port->lock);
	return rc;
}

int fsb_port_mc_addr_list_set(struct fsb_port *port,
			      const uint8_t (*macs)[FSB_ETHER_ADDR_LEN],
			      unsigned n)
{
	FSB_ASSERT(port != NULL);
	if (n > FSB_MC_ADDR_MAX || (n && !macs))
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (!(macs[i][0] & 1))
			return -EINVAL;     /* a unicast address */
	pthread_mutex_lock(&port->lock);
	if (n)
		memcpy(port->mc_list, macs, (size_t)n * FSB_ETHER_ADDR_LEN);
	port->mc_count = n;
	int rc = config_apply(port, apply_mc_list);
	pthread_mutex_unlock(&port->lock);
	return rc;
}

