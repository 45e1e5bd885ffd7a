/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_netlink.c - the rtnetlink source, and the router's rules for it.
 *
 * The source on its own: crafted messages (malformed, truncated,
 * foreign, unknown attributes) become signals, or are counted and
 * dropped, with no context, no port and no thread.  Then the same
 * messages through the router: the slot is a ring slot given a netdev
 * binding by hand (af_packet has its own tests).  Real events come from
 * the kernel in a private network namespace (unshare), where the test
 * makes veth interfaces with iproute2.
 */
#include "config.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "helpers.h"
#include "netlink.h"
#include "route.h"

static struct fsb_ctx *ctx;
static struct fsb_mempool *mp;

static size_t put_link(char *buf, uint16_t type, int ifindex, unsigned flags,
		       const char *name, const uint8_t *mac, size_t maclen)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_index = ifindex;
	ifm->ifi_flags = flags;
	if (name)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	if (mac)
		mnl_attr_put(nlh, IFLA_ADDRESS, maclen, mac);
	mnl_attr_put_u32(nlh, 9999, 1);       /* unknown attribute */
	return nlh->nlmsg_len;
}

/* A NEWLINK too short for its ifinfomsg. */
static size_t put_short(char *buf)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_len = sizeof(*nlh) + 4;
	return nlh->nlmsg_len;
}

/* A NEWLINK whose name is oversized and not NUL-terminated. */
static size_t put_bigname(char *buf, int ifindex)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_index = ifindex;
	char big[40];
	memset(big, 'x', sizeof(big));
	mnl_attr_put(nlh, IFLA_IFNAME, sizeof(big), big);
	return nlh->nlmsg_len;
}

static struct fsb_port *bound_port(const char *name, const char *ifname,
				   struct fsb_bare **peers)
{
	char spec[128], r1[32], r2[32];
	snprintf(r1, sizeof(r1), "%s_p", name);
	snprintf(r2, sizeof(r2), "%s_s", name);
	peers[0] = ring_peer(ctx, r1, mp);
	peers[1] = ring_peer(ctx, r2, mp);
	snprintf(spec, sizeof(spec), "%s,hold_down=0,dev(ring,name=%s),dev(ring,name=%s)",
		 name, r1, r2);
	struct fsb_port *p = port_up(ctx, spec, mp, NULL);
	struct fsb_subdev *sd = fsb_port_subdev(p, 0);
	pthread_mutex_lock(&p->lock);
	sd->nd.used = true;
	snprintf(sd->nd.want_ifname, sizeof(sd->nd.want_ifname), "%s", ifname);
	snprintf(sd->nd.ifname, sizeof(sd->nd.ifname), "%s", ifname);
	sd->nd.ifindex = 4242;
	sd->nd.running = true;
	pthread_mutex_unlock(&p->lock);
	return p;
}

/* Signals as the source emits them. */
struct sigs {
	unsigned n;
	struct fsb_devsignal sig[16];
};

static void collect(void *arg, const struct fsb_devsignal *sig)
{
	struct sigs *l = arg;
	if (l->n < 16)
		l->sig[l->n++] = *sig;
}

/* The source alone: no context, no port, no thread; what it cannot
 * trust is counted and dropped, the rest says what the kernel said. */
static void test_source(void **state)
{
	(void)state;
	char buf[4096];
	struct sigs l = { 0 };
	uint64_t m0, b0, r0, m1, b1, r1;
	fsb_netlink_counters(&m0, &b0, &r0);

	size_t n = put_link(buf, RTM_DELLINK, 77, 0, "eth9", NULL, 0);
	fsb_netlink_process(buf, n, collect, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.sig[0].what, FSB_DEVSIG_GONE);
	assert_int_equal(l.sig[0].why, FSB_REASON_NETDEV_REMOVED);
	assert_int_equal(l.sig[0].source, FSB_DEVSIG_SRC_RTNETLINK);
	assert_int_equal(l.sig[0].id.ifindex, 77);
	assert_string_equal(l.sig[0].id.ifname, "eth9");
	assert_true(l.sig[0].when_ns > 0);

	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 7 };
	n = put_link(buf, RTM_NEWLINK, 5, IFF_UP | IFF_RUNNING, "vf5", mac, 6);
	fsb_netlink_process(buf, n, collect, &l);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.sig[1].what, FSB_DEVSIG_STATE);
	assert_true(l.sig[1].id.has_mac);
	assert_false(l.sig[1].id.has_perm_mac);
	assert_int_equal(l.sig[1].id.mac[5], 7);
	assert_true(fsb_netdev_running(&l.sig[1].id));

	/* truncated, too short, oversized name, wrong-length address:
	 * no signal from the first three, a STATE without the address
	 * from the last */
	fsb_netlink_process(buf, n - 8, collect, &l);
	fsb_netlink_process(buf, put_short(buf), collect, &l);
	fsb_netlink_process(buf, put_bigname(buf, 5), collect, &l);
	assert_int_equal(l.n, 2);
	n = put_link(buf, RTM_NEWLINK, 5, IFF_UP, "vf5", mac, 4);
	fsb_netlink_process(buf, n, collect, &l);
	assert_int_equal(l.n, 3);
	assert_false(l.sig[2].id.has_mac);
	assert_false(fsb_netdev_running(&l.sig[2].id));
	fsb_netlink_counters(&m1, &b1, &r1);
	assert_int_equal(b1 - b0, 3);
	assert_int_equal(r1, r0);
}

/* The router's rtnetlink rules, on crafted messages. */
static void test_crafted(void **state)
{
	(void)state;
	struct fsb_bare *pe[2];
	struct fsb_port *p = bound_port("nl1", "vfcraft", pe);
	char buf[4096];
	uint64_t m0, b0, r0, m1, b1, r1;
	fsb_netlink_counters(&m0, &b0, &r0);

	/* foreign interface going away: nothing happens */
	size_t n = put_link(buf, RTM_DELLINK, 77, 0, "eth9", NULL, 0);
	fsb_netlink_process(buf, n, fsb_route_signal, ctx);
	/* truncated: header claims more than there is */
	n = put_link(buf, RTM_NEWLINK, 4242, 0, "vfcraft", NULL, 0);
	fsb_netlink_process(buf, n - 8, fsb_route_signal, ctx);
	/* too short for an ifinfomsg */
	fsb_netlink_process(buf, put_short(buf), fsb_route_signal, ctx);
	/* name attribute not NUL-terminated / oversized */
	fsb_netlink_process(buf, put_bigname(buf, 4242), fsb_route_signal, ctx);
	/* an address of the wrong length is ignored, not trusted */
	static const uint8_t mac4[4] = { 1, 2, 3, 4 };
	n = put_link(buf, RTM_NEWLINK, 4242, IFF_UP | IFF_RUNNING, "vfcraft", mac4, 4);
	fsb_netlink_process(buf, n, fsb_route_signal, ctx);
	fsb_netlink_counters(&m1, &b1, &r1);
	assert_true(b1 - b0 >= 3);
	t_sleep_ms(50);
	assert_int_equal(active_slot(p), 0);     /* still on the primary */

	/* carrier loss on our interface: link down, TX moves */
	n = put_link(buf, RTM_NEWLINK, 4242, IFF_UP, "vfcraft", NULL, 0);
	fsb_netlink_process(buf, n, fsb_route_signal, ctx);
	assert_true(WAIT_UNTIL(active_slot(p) == 1, 2000));
	assert_int_equal(xstat(p, "switch_reason_link_down"), 1);
	/* carrier back (ring's own link is up): TX returns */
	n = put_link(buf, RTM_NEWLINK, 4242, IFF_UP | IFF_RUNNING, "vfcraft", NULL, 0);
	fsb_netlink_process(buf, n, fsb_route_signal, ctx);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 2000));

	/* rename is followed: same ifindex, new name; no switch */
	n = put_link(buf, RTM_NEWLINK, 4242, IFF_UP | IFF_RUNNING, "vfrenamed", NULL, 0);
	fsb_netlink_process(buf, n, fsb_route_signal, ctx);
	pthread_mutex_lock(&p->lock);
	assert_string_equal(fsb_port_subdev(p, 0)->nd.ifname, "vfrenamed");
	pthread_mutex_unlock(&p->lock);

	/* deletion: gone, TX moves at once */
	n = put_link(buf, RTM_DELLINK, 4242, 0, "vfrenamed", NULL, 0);
	fsb_netlink_process(buf, n, fsb_route_signal, ctx);
	assert_true(WAIT_UNTIL(active_slot(p) == 1, 2000));
	assert_int_equal(xstat(p, "switch_reason_netdev_removed"), 1);
	struct fsb_slot_info si;
	assert_true(WAIT_UNTIL((fsb_port_slot_info(p, 0, &si), si.state == FSB_SUBDEV_PARSED), 2000));
	/* a new interface under the wanted name: adopted */
	n = put_link(buf, RTM_NEWLINK, 4343, IFF_UP | IFF_RUNNING, "vfcraft", NULL, 0);
	fsb_netlink_process(buf, n, fsb_route_signal, ctx);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 2000));
	assert_int_equal(xstat(p, "switch_reason_netdev_added"), 1);

	fsb_port_close(p);
	fsb_bare_close(pe[0]);
	fsb_bare_close(pe[1]);
}

static void test_match(void **state)
{
	(void)state;
	struct fsb_netdev_bind b = { .used = true, .by_mac = true,
				     .want_mac = { 2, 0, 0, 0, 0, 9 } };
	struct fsb_devid nd = { .ifindex = 3, .has_mac = true,
				.mac = { 2, 0, 0, 0, 0, 9 } };
	assert_true(fsb_netdev_match(&b, &nd));
	/* a permanent address takes precedence over the current one */
	nd.has_perm_mac = true;
	memcpy(nd.perm_mac, (uint8_t[]){ 2, 0, 0, 0, 0, 8 }, 6);
	assert_false(fsb_netdev_match(&b, &nd));
	b.want_mac[5] = 8;
	assert_true(fsb_netdev_match(&b, &nd));
	struct fsb_netdev_bind c = { .used = true, .want_ifname = "vf0" };
	struct fsb_devid n2 = { .ifindex = 3, .ifname = "vf0" };
	assert_true(fsb_netdev_match(&c, &n2));
	snprintf(n2.ifname, sizeof(n2.ifname), "vf00");
	assert_false(fsb_netdev_match(&c, &n2));
	c.used = false;
	assert_false(fsb_netdev_match(&c, &n2));

	/* by name, confirmed by who had the name at the first bind */
	struct fsb_netdev_bind nm = { .used = true, .want_ifname = "eth2" };
	struct fsb_devid vf = { .ifindex = 4, .ifname = "eth2",
				.has_perm_mac = true, .perm_mac = { 0x52, 0x54, 0, 0xfb, 0, 1 },
				.pci_addr = "0000:02:00.0", .parent = "pci/0000:02:00.0" };
	assert_true(fsb_netdev_match(&nm, &vf));
	fsb_netdev_ident_record(&nm, &vf);
	vf.ifindex = 7;                 /* back, same device: adopted */
	assert_true(fsb_netdev_match(&nm, &vf));
	struct fsb_devid other = vf;    /* another NIC took the name */
	other.perm_mac[5] = 2;
	assert_false(fsb_netdev_match(&nm, &other));
	other = vf;                     /* same MAC, another slot */
	snprintf(other.pci_addr, sizeof(other.pci_addr), "0000:03:00.0");
	assert_false(fsb_netdev_match(&nm, &other));
	other = vf;                     /* a device that says nothing */
	other.has_perm_mac = false;
	other.pci_addr[0] = '\0';
	assert_true(fsb_netdev_match(&nm, &other));
	/* a second record does not overwrite the first */
	fsb_netdev_ident_record(&nm, &(struct fsb_devid){ .ifname = "eth2" });
	assert_true(nm.ident_has_perm);

	/* by PCI address, whatever the name */
	struct fsb_netdev_bind bp = { .used = true, .by_pci = true };
	assert_int_equal(fsb_pci_addr_parse("02:00.0", bp.want_pci), 0);
	assert_string_equal(bp.want_pci, "0000:02:00.0");
	snprintf(vf.ifname, sizeof(vf.ifname), "eth9");
	assert_true(fsb_netdev_match(&bp, &vf));
	vf.pci_addr[0] = '\0';
	assert_false(fsb_netdev_match(&bp, &vf));
	/* no parent (veth): not a failover pair's member */
	assert_false(fsb_netdev_failover_member(&n2));
}

/* PCI addresses, as pci= and later addr= take them. */
static void test_pci_addr(void **state)
{
	(void)state;
	char out[16];
	static const char *const good[][2] = {
		{ "0000:02:00.0", "0000:02:00.0" }, { "02:00.0", "0000:02:00.0" },
		{ "ABCD:Ef:1f.7", "abcd:ef:1f.7" }, { "1:2:3.4", "0001:02:03.4" },
	};
	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(fsb_pci_addr_parse(good[i][0], out), 0);
		assert_string_equal(out, good[i][1]);
	}
	static const char *const bad[] = {
		"", "02:00", "0000:02:00.0.", "0000:02:00.8", "0000:02:20.0",
		"00000:02:00.0", "0000:102:00.0", "0000.02:00:0", "0000:02:00:0",
		"g0:00.0", "0000:02:00.0x", ":02:00.0", "0000:02:00.", "1:2:3:4.5",
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(out, "untouched");
		assert_int_equal(fsb_pci_addr_parse(bad[i], out), -EINVAL);
		assert_string_equal(out, "untouched");
	}
	/* rtnetlink's parent attributes (Linux >= 5.15) */
	char buf[512];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_index = 5;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, "eth2");
	mnl_attr_put_strz(nlh, IFLA_PARENT_DEV_NAME, "0000:02:00.0");
	mnl_attr_put_strz(nlh, IFLA_PARENT_DEV_BUS_NAME, "pci");
	struct fsb_devid id;
	bool del;
	assert_int_equal(fsb_netlink_parse_link(nlh, &id, &del), 1);
	assert_string_equal(id.parent, "pci/0000:02:00.0");
	assert_string_equal(id.pci_addr, "0000:02:00.0");
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_index = 6;
	mnl_attr_put_strz(nlh, IFLA_PARENT_DEV_BUS_NAME, "virtio");
	mnl_attr_put_strz(nlh, IFLA_PARENT_DEV_NAME, "virtio0");
	assert_int_equal(fsb_netlink_parse_link(nlh, &id, &del), 1);
	assert_string_equal(id.parent, "virtio/virtio0");
	assert_string_equal(id.pci_addr, "");
	/* not a string: the message is malformed */
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_index = 6;
	mnl_attr_put(nlh, IFLA_PARENT_DEV_NAME, 3, "abc");
	assert_int_equal(fsb_netlink_parse_link(nlh, &id, &del), -1);
}

/* Real kernel events in our private netns. */
static void test_real_events(void **state)
{
	(void)state;
	struct fsb_bare *pe[2];
	struct fsb_port *p = bound_port("nl2", "fsbnlA", pe);
	/* the binding is fake (ifindex 4242); bind it to a real veth */
	assert_int_equal(system("ip link add fsbnlA type veth peer name fsbnlB && "
				"ip link set fsbnlA up && ip link set fsbnlB up"), 0);
	struct fsb_netdev_bind want = { .used = true, .want_ifname = "fsbnlA" };
	struct fsb_devid info;
	assert_int_equal(fsb_netdev_find(&want, &info), 0);
	assert_true(info.ifindex > 0);
	struct fsb_netdev_bind miss = { .used = true, .want_ifname = "nosuchif0" };
	assert_int_equal(fsb_netdev_find(&miss, &info), -ENODEV);
	assert_int_equal(fsb_netdev_find(&want, &info), 0);
	pthread_mutex_lock(&p->lock);
	fsb_port_subdev(p, 0)->nd.ifindex = info.ifindex;
	pthread_mutex_unlock(&p->lock);

	/* carrier: the peer end goes down */
	assert_int_equal(system("ip link set fsbnlB down"), 0);
	assert_true(WAIT_UNTIL(active_slot(p) == 1, 2000));
	assert_int_equal(system("ip link set fsbnlB up"), 0);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 2000));
	/* deletion, then re-creation under the same name */
	uint64_t sw = xstat(p, "switchovers");
	assert_int_equal(system("ip link del fsbnlA"), 0);
	assert_true(WAIT_UNTIL(active_slot(p) == 1, 2000));
	/* the kernel downs a netdev before deleting it: the first signal
	 * (link-down) moves TX, the DELLINK then retires the slot */
	assert_int_equal(xstat(p, "switchovers"), sw + 1);
	struct fsb_slot_info si;
	assert_true(WAIT_UNTIL((fsb_port_slot_info(p, 0, &si), si.state == FSB_SUBDEV_PARSED), 2000));
	/* netdev-removed, or link-down when both marks were pending at
	 * one sync (the first mark's reason wins), or uevent-remove when
	 * the uevent monitor (same netns) marked it first */
	assert_true(si.last_reason == FSB_REASON_NETDEV_REMOVED ||
		    si.last_reason == FSB_REASON_LINK_DOWN ||
		    si.last_reason == FSB_REASON_UEVENT_REMOVE);
	assert_int_equal(system("ip link add fsbnlA type veth peer name fsbnlB && "
				"ip link set fsbnlA up && ip link set fsbnlB up"), 0);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 2000));
	/* one fail-back for the carrier test, one for the re-creation
	 * (noticed by rtnetlink or the uevent monitor, first wins) */
	assert_int_equal(xstat(p, "switch_reason_netdev_added") +
			 xstat(p, "switch_reason_uevent_add") +
			 xstat(p, "switch_reason_link_up"), 2);
	/* a real netdev kind binds on probe; the ring stand-in is rebound */
	assert_int_equal(fsb_netdev_find(&want, &info), 0);
	pthread_mutex_lock(&p->lock);
	fsb_port_subdev(p, 0)->nd.ifindex = info.ifindex;
	fsb_port_subdev(p, 0)->nd.running = true;
	pthread_mutex_unlock(&p->lock);
	/* a flood of events: the monitor keeps up or resyncs, never stops */
	assert_int_equal(system("for i in $(seq 200); do ip link set fsbnlA mtu $((1000 + i)); done"), 0);
	assert_int_equal(system("ip link del fsbnlA"), 0);
	assert_true(WAIT_UNTIL(active_slot(p) == 1, 3000));
	fsb_port_close(p);
	fsb_bare_close(pe[0]);
	fsb_bare_close(pe[1]);
}

/* Events lost to ENOBUFS: the monitor resyncs from a dump and still
 * notices that our interface went away; it never stops listening. */
static void test_enobufs_resync(void **state)
{
	(void)state;
	struct fsb_bare *pe[2];
	struct fsb_port *p = bound_port("nl3", "fsbnlE", pe);
	assert_int_equal(system("ip link add fsbnlE type veth peer name fsbnlF && "
				"ip link set fsbnlE up && ip link set fsbnlF up"), 0);
	struct fsb_netdev_bind want = { .used = true, .want_ifname = "fsbnlE" };
	struct fsb_devid info;
	assert_int_equal(fsb_netdev_find(&want, &info), 0);
	pthread_mutex_lock(&p->lock);
	fsb_port_subdev(p, 0)->nd.ifindex = info.ifindex;
	pthread_mutex_unlock(&p->lock);
	t_sleep_ms(50);
	uint64_t m0, b0, r0, m1, b1, r1;
	fsb_netlink_counters(&m0, &b0, &r0);

	/* A tiny receive buffer, and the control thread kept from reading
	 * (its drain hands the first message to the router, which waits
	 * for ctx->lock): the flood overflows it. */
	assert_int_equal(fsb_netlink_test_rcvbuf(2048), 0);
	pthread_mutex_lock(&ctx->lock);
	assert_int_equal(system("for i in $(seq 100); do ip link set fsbnlF mtu $((1000 + i)); done; "
				"ip link del fsbnlE"), 0);
	pthread_mutex_unlock(&ctx->lock);

	assert_true(WAIT_UNTIL(active_slot(p) == 1, 3000));
	fsb_netlink_counters(&m1, &b1, &r1);
	assert_true(r1 > r0);                 /* it lost events, said so */
	struct fsb_route_counters rc;
	fsb_route_counters(FSB_DEVSIG_SRC_RTNETLINK, &rc);
	assert_true(rc.resyncs >= r1 - r0);   /* and the router resynced */
	struct fsb_slot_info si;
	assert_true(WAIT_UNTIL((fsb_port_slot_info(p, 0, &si), si.state == FSB_SUBDEV_PARSED), 2000));
	/* and it still listens: the interface comes back, it is adopted */
	assert_int_equal(fsb_netlink_test_rcvbuf(4 << 20), 0);
	assert_int_equal(system("ip link add fsbnlE type veth peer name fsbnlF && "
				"ip link set fsbnlE up && ip link set fsbnlF up"), 0);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 3000));
	fsb_port_close(p);
	fsb_bare_close(pe[0]);
	fsb_bare_close(pe[1]);
	assert_int_equal(system("ip link del fsbnlE"), 0);
}

int main(void)
{
	/* Our own network namespace: real interfaces without touching the
	 * host's.  Only "cannot create a netns" is a skip (77). */
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "test_netlink: unshare(CLONE_NEWNET): %s: skipped\n",
			strerror(errno));
		return 77;
	}
	if (system("ip link set lo up") != 0) {
		fprintf(stderr, "test_netlink: iproute2 missing\n");
		return 1;
	}
	ctx = fsb_ctx_new();
	if (!ctx)
		return 1;
	fsb_ctx_set_log(ctx, NULL, NULL, FSB_LOG_ERR);
	mp = fsb_mempool_create(ctx, "nl", 4096, 2048, 32, -1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_pci_addr),
		cmocka_unit_test(test_crafted),
		cmocka_unit_test(test_real_events),
		cmocka_unit_test(test_enobufs_resync),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	fsb_ctx_free(ctx);
	return rc;
}
