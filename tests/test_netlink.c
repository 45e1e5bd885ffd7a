/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_netlink.c - the rtnetlink monitor.
 *
 * Crafted messages (malformed, truncated, foreign, unknown attributes)
 * go through the same path as received ones; real ones come from the
 * kernel in a private network namespace (unshare), where the test makes
 * veth interfaces with iproute2.  The slot under test is a ring slot
 * given a netdev binding by hand, so the monitor is tested on its own;
 * the af_packet kind has its own tests.
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
	fsb_netlink_process(ctx, buf, n);
	/* truncated: header claims more than there is */
	n = put_link(buf, RTM_NEWLINK, 4242, 0, "vfcraft", NULL, 0);
	fsb_netlink_process(ctx, buf, n - 8);
	/* too short for an ifinfomsg */
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_len = sizeof(*nlh) + 4;
	fsb_netlink_process(ctx, buf, nlh->nlmsg_len);
	/* name attribute not NUL-terminated / oversized */
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_index = 4242;
	char big[40];
	memset(big, 'x', sizeof(big));
	mnl_attr_put(nlh, IFLA_IFNAME, sizeof(big), big);
	fsb_netlink_process(ctx, buf, nlh->nlmsg_len);
	/* an address of the wrong length is ignored, not trusted */
	static const uint8_t mac4[4] = { 1, 2, 3, 4 };
	n = put_link(buf, RTM_NEWLINK, 4242, IFF_UP | IFF_RUNNING, "vfcraft", mac4, 4);
	fsb_netlink_process(ctx, buf, n);
	fsb_netlink_counters(&m1, &b1, &r1);
	assert_true(b1 - b0 >= 3);
	t_sleep_ms(50);
	assert_int_equal(active_slot(p), 0);     /* still on the primary */

	/* carrier loss on our interface: link down, TX moves */
	n = put_link(buf, RTM_NEWLINK, 4242, IFF_UP, "vfcraft", NULL, 0);
	fsb_netlink_process(ctx, buf, n);
	assert_true(WAIT_UNTIL(active_slot(p) == 1, 2000));
	assert_int_equal(xstat(p, "switch_reason_link_down"), 1);
	/* carrier back (ring's own link is up): TX returns */
	n = put_link(buf, RTM_NEWLINK, 4242, IFF_UP | IFF_RUNNING, "vfcraft", NULL, 0);
	fsb_netlink_process(ctx, buf, n);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 2000));

	/* rename is followed: same ifindex, new name; no switch */
	n = put_link(buf, RTM_NEWLINK, 4242, IFF_UP | IFF_RUNNING, "vfrenamed", NULL, 0);
	fsb_netlink_process(ctx, buf, n);
	pthread_mutex_lock(&p->lock);
	assert_string_equal(fsb_port_subdev(p, 0)->nd.ifname, "vfrenamed");
	pthread_mutex_unlock(&p->lock);

	/* deletion: gone, TX moves at once */
	n = put_link(buf, RTM_DELLINK, 4242, 0, "vfrenamed", NULL, 0);
	fsb_netlink_process(ctx, buf, n);
	assert_true(WAIT_UNTIL(active_slot(p) == 1, 2000));
	assert_int_equal(xstat(p, "switch_reason_netdev_removed"), 1);
	struct fsb_slot_info si;
	assert_true(WAIT_UNTIL((fsb_port_slot_info(p, 0, &si), si.state == FSB_SUBDEV_PARSED), 2000));
	/* a new interface under the wanted name: adopted */
	n = put_link(buf, RTM_NEWLINK, 4343, IFF_UP | IFF_RUNNING, "vfcraft", NULL, 0);
	fsb_netlink_process(ctx, buf, n);
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
	struct fsb_netdev_info nd = { .ifindex = 3, .has_addr = true,
				      .addr = { 2, 0, 0, 0, 0, 9 } };
	assert_true(fsb_netdev_match(&b, &nd));
	/* a permanent address takes precedence over the current one */
	nd.has_perm = true;
	memcpy(nd.perm, (uint8_t[]){ 2, 0, 0, 0, 0, 8 }, 6);
	assert_false(fsb_netdev_match(&b, &nd));
	b.want_mac[5] = 8;
	assert_true(fsb_netdev_match(&b, &nd));
	struct fsb_netdev_bind c = { .used = true, .want_ifname = "vf0" };
	struct fsb_netdev_info n2 = { .ifindex = 3, .ifname = "vf0" };
	assert_true(fsb_netdev_match(&c, &n2));
	snprintf(n2.ifname, sizeof(n2.ifname), "vf00");
	assert_false(fsb_netdev_match(&c, &n2));
	c.used = false;
	assert_false(fsb_netdev_match(&c, &n2));
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
	struct fsb_netdev_info info;
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
	struct fsb_netdev_info info;
	assert_int_equal(fsb_netdev_find(&want, &info), 0);
	pthread_mutex_lock(&p->lock);
	fsb_port_subdev(p, 0)->nd.ifindex = info.ifindex;
	pthread_mutex_unlock(&p->lock);
	t_sleep_ms(50);
	uint64_t m0, b0, r0, m1, b1, r1;
	fsb_netlink_counters(&m0, &b0, &r0);

	/* A tiny receive buffer, and the control thread kept from reading
	 * (it needs ctx->lock to process): the flood overflows it. */
	assert_int_equal(fsb_netlink_test_rcvbuf(2048), 0);
	pthread_mutex_lock(&ctx->lock);
	assert_int_equal(system("for i in $(seq 100); do ip link set fsbnlF mtu $((1000 + i)); done; "
				"ip link del fsbnlE"), 0);
	pthread_mutex_unlock(&ctx->lock);

	assert_true(WAIT_UNTIL(active_slot(p) == 1, 3000));
	fsb_netlink_counters(&m1, &b1, &r1);
	assert_true(r1 > r0);                 /* it did resync */
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
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_crafted),
		cmocka_unit_test(test_real_events),
		cmocka_unit_test(test_enobufs_resync),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	fsb_ctx_free(ctx);
	return rc;
}
