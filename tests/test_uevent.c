/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_uevent.c - the kobject uevent monitor.
 *
 * The test runs in its own network and mount namespaces, with a sysfs
 * of its own, so the net uevents of the veths it makes (all named
 * uev*) reach its monitor and no other process's do.  Real events come
 * from the kernel (veth add/remove, "change" written to a uevent file);
 * forged ones are really sent to group 1 from a user socket.  There is
 * no PCI hotplug here, so PCI matching is fed crafted kernel-format
 * messages through the process entry, and the sysfs resync of a PCI
 * slot looks at a tmpfs laid over /sys/bus/pci/devices (private to our
 * mount namespace) where the test makes and removes the function.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "loop.h"
#include "route.h"
#include "uevent.h"

static struct fsb_ctx *ctx;
static struct fsb_mempool *mp;
static uint64_t seq = 1000000;

#define PCI_DIR "/sys/bus/pci/devices"

/* Build "HEADER\0KV\0KV\0..." from a NULL-terminated list. */
static size_t msg(char *buf, size_t cap, const char *first, ...)
{
	va_list ap;
	size_t n = 0;
	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *)) {
		size_t l = strlen(s) + 1;
		assert_true(n + l <= cap);
		memcpy(buf + n, s, l);
		n += l;
	}
	va_end(ap);
	return n;
}

/* A kernel-format pci event for @addr. */
static size_t pci_msg(char *buf, size_t cap, const char *action,
		      const char *addr, bool with_slot)
{
	char hdr[128], act[32], dp[128], sq[40], slot[40];
	snprintf(dp, sizeof(dp), "DEVPATH=/devices/pci0000:5e/%s", addr);
	snprintf(hdr, sizeof(hdr), "%s@/devices/pci0000:5e/%s", action, addr);
	snprintf(act, sizeof(act), "ACTION=%s", action);
	snprintf(sq, sizeof(sq), "SEQNUM=%llu", (unsigned long long)seq++);
	snprintf(slot, sizeof(slot), "PCI_SLOT_NAME=%s", addr);
	return msg(buf, cap, hdr, act, dp, "SUBSYSTEM=pci", "DRIVER=vfio-pci",
		   with_slot ? slot : sq, with_slot ? sq : NULL, NULL);
}

/* The monitor's counters, with the router's for its signals: marks
 * set and resyncs done. */
struct counts {
	uint64_t msgs, events, foreign, udev, bad, lost, seq_gaps;
	uint64_t marks, resyncs;
};

static struct counts counters(void)
{
	struct fsb_uevent_counters c;
	struct fsb_route_counters r;
	fsb_uevent_counters(&c);
	fsb_route_counters(FSB_DEVSIG_SRC_UEVENT, &r);
	return (struct counts){
		.msgs = c.msgs, .events = c.events, .foreign = c.foreign,
		.udev = c.udev, .bad = c.bad, .lost = c.lost,
		.seq_gaps = c.seq_gaps, .marks = r.marks, .resyncs = r.resyncs,
	};
}

/* A listener of our own on group 1, as the monitor has. */
static int listener(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
			NETLINK_KOBJECT_UEVENT);
	assert_true(fd >= 0);
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	int sz = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	struct timeval tv = { 2, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Read from @fd until a parsed net event (@action, @ifname) arrives;
 * its text is kept in @buf.  Fails the test after 2 s of silence. */
static void wait_net_event(int fd, const char *action, const char *ifname,
			   char *buf, size_t cap, struct fsb_uevent *ev)
{
	for (;;) {
		struct sockaddr_nl sa;
		socklen_t sl = sizeof(sa);
		ssize_t n = recvfrom(fd, buf, cap, 0, (struct sockaddr *)&sa, &sl);
		if (n < 0)
			fail_msg("no '%s' uevent for %s: %s", action, ifname,
				 strerror(errno));
		assert_int_equal(sa.nl_pid, 0);          /* the kernel's */
		int rc = fsb_uevent_parse(buf, (size_t)n, ev);
		if (rc < 0)
			fail_msg("a real uevent did not parse: %s", ev->err);
		if (strcmp(ev->action_str, action) == 0 &&
		    strcmp(ev->subsystem, "net") == 0 && ev->interface &&
		    strcmp(ev->interface, ifname) == 0)
			return;
	}
}

static int sysfs_ifindex(const char *ifname)
{
	char path[64];
	snprintf(path, sizeof(path), "/sys/class/net/%s/ifindex", ifname);
	FILE *f = fopen(path, "r");
	int v = -1;
	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static void veth(const char *a, const char *b)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "ip link del %s 2>/dev/null; "
		 "ip link add %s type veth peer name %s && "
		 "ip link set %s up && ip link set %s up", a, a, b, a, b);
	assert_int_equal(system(cmd), 0);
}

/* The kernel's operstate of @ifname is UP (linkwatch has looked). */
static bool oper_up(const char *ifname)
{
	char cmd[128], line[512] = "";
	snprintf(cmd, sizeof(cmd), "ip -o link show %s 2>/dev/null", ifname);
	FILE *f = popen(cmd, "r");
	if (!f)
		return false;
	bool up = fgets(line, sizeof(line), f) && strstr(line, " state UP ");
	pclose(f);
	return up;
}

static struct fsb_port *pci_port(const char *name, const char *addr,
				 struct fsb_bare **pe)
{
	char spec[160], r1[32], r2[32];
	snprintf(r1, sizeof(r1), "%s_p", name);
	snprintf(r2, sizeof(r2), "%s_s", name);
	pe[0] = ring_peer(ctx, r1, mp);
	pe[1] = ring_peer(ctx, r2, mp);
	snprintf(spec, sizeof(spec),
		 "%s,hold_down=0,dev(ring,name=%s),dev(ring,name=%s)",
		 name, r1, r2);
	struct fsb_port *p = port_up(ctx, spec, mp, NULL);
	pthread_mutex_lock(&p->lock);
	snprintf(fsb_port_subdev(p, 0)->pci_addr,
		 sizeof(fsb_port_subdev(p, 0)->pci_addr), "%s", addr);
	pthread_mutex_unlock(&p->lock);
	assert_int_equal(active_slot(p), 0);
	return p;
}

static void ports_close(struct fsb_port *p, struct fsb_bare **pe, unsigned n)
{
	fsb_port_close(p);
	for (unsigned i = 0; i < n; i++)
		fsb_bare_close(pe[i]);
}

static enum fsb_reason slot_reason(struct fsb_port *p, unsigned k)
{
	struct fsb_slot_info si;
	fsb_port_slot_info(p, k, &si);
	return si.last_reason;
}

static void dump_reasons(struct fsb_port *p)
{
	struct fsb_xstat_name names[256];
	uint64_t vals[256];
	int n = fsb_port_xstats_names(p, names, 256);
	fsb_port_xstats_get(p, vals, 256);
	for (int i = 0; i < n && i < 256; i++)
		if (vals[i] && strncmp(names[i].name, "sub", 3))
			fprintf(stderr, "  %s = %llu\n", names[i].name,
				(unsigned long long)vals[i]);
}

/* Sum of every switch_reason_* xstat. */
static uint64_t reasons_sum(struct fsb_port *p)
{
	struct fsb_xstat_name names[256];
	uint64_t vals[256], sum = 0;
	int n = fsb_port_xstats_names(p, names, 256);
	fsb_port_xstats_get(p, vals, 256);
	for (int i = 0; i < n && i < 256; i++)
		if (strncmp(names[i].name, "switch_reason_", 14) == 0)
			sum += vals[i];
	return sum;
}

static bool slot_parsed(struct fsb_port *p, unsigned k)
{
	struct fsb_slot_info si;
	fsb_port_slot_info(p, k, &si);
	return si.state == FSB_SUBDEV_PARSED;
}

/* ------------------------------------------------------------------ */

static void test_parse(void **state)
{
	(void)state;
	char b[1024];
	struct fsb_uevent ev;
	size_t n;

	n = msg(b, sizeof(b), "remove@/devices/virtual/net/uevX",
		"ACTION=remove", "DEVPATH=/devices/virtual/net/uevX",
		"SUBSYSTEM=net", "INTERFACE=uevX", "IFINDEX=7", "SEQNUM=42",
		"SOMETHING_NEW=1", NULL);
	assert_int_equal(fsb_uevent_parse(b, n, &ev), 0);
	assert_int_equal(ev.action, FSB_UEVENT_REMOVE);
	assert_string_equal(ev.action_str, "remove");
	assert_string_equal(ev.devpath, "/devices/virtual/net/uevX");
	assert_string_equal(ev.subsystem, "net");
	assert_string_equal(ev.interface, "uevX");
	assert_null(ev.pci_slot);
	assert_int_equal(ev.ifindex, 7);
	assert_int_equal(ev.seqnum, 42);

	n = pci_msg(b, sizeof(b), "add", "0000:5e:00.1", true);
	assert_int_equal(fsb_uevent_parse(b, n, &ev), 0);
	assert_int_equal(ev.action, FSB_UEVENT_ADD);
	assert_string_equal(ev.pci_slot, "0000:5e:00.1");
	assert_null(ev.interface);
	n = msg(b, sizeof(b), "bind@/devices/x", "ACTION=bind", "DEVPATH=/devices/x",
		"SUBSYSTEM=pci", "SEQNUM=1", NULL);
	assert_int_equal(fsb_uevent_parse(b, n, &ev), 0);
	assert_int_equal(ev.action, FSB_UEVENT_OTHER);

	/* Table of bad messages: what must be refused, and why. */
	static const struct {
		const char *text;       /* '|' stands for NUL */
		int rc;
		const char *why;
	} bad[] = {
		{ "", -EBADMSG, "empty message" },
		{ "add@/d|ACTION=add|DEVPATH=/d|SUBSYSTEM=net|SEQNUM=1", -EBADMSG,
		  "not NUL-terminated (truncated?)" },
		{ "add /d|ACTION=add|DEVPATH=/d|SUBSYSTEM=net|SEQNUM=1|", -EBADMSG,
		  "no ACTION@DEVPATH header" },
		{ "add@d|ACTION=add|DEVPATH=d|SUBSYSTEM=net|SEQNUM=1|", -EBADMSG,
		  "no ACTION@DEVPATH header" },
		{ "@/d|ACTION=add|DEVPATH=/d|SUBSYSTEM=net|SEQNUM=1|", -EBADMSG,
		  "no ACTION@DEVPATH header" },
		{ "add@/d|DEVPATH=/d|SUBSYSTEM=net|SEQNUM=1|", -EBADMSG, "no ACTION" },
		{ "add@/d|ACTION=add|SUBSYSTEM=net|SEQNUM=1|", -EBADMSG, "no DEVPATH" },
		{ "add@/d|ACTION=add|DEVPATH=/d|SEQNUM=1|", -EBADMSG, "no SUBSYSTEM" },
		{ "add@/d|ACTION=add|DEVPATH=/d|SUBSYSTEM=net|", -EBADMSG, "no SEQNUM" },
		{ "add@/d|ACTION=add|DEVPATH=/d|SUBSYSTEM=net|SEQNUM=1x|", -EBADMSG,
		  "bad SEQNUM" },
		{ "add@/d|ACTION=add|DEVPATH=/d|SUBSYSTEM=net|SEQNUM=99999999999999999999999|",
		  -EBADMSG, "bad SEQNUM" },
		{ "add@/d|ACTION=add|DEVPATH=/d|SUBSYSTEM=net|SEQNUM=|", -EBADMSG,
		  "bad SEQNUM" },
		{ "add@/d|ACTION=add|DEVPATH=/d|SUBSYSTEM=net|SEQNUM=1|SEQNUM=2|",
		  -EBADMSG, "duplicate SEQNUM" },
		{ "add@/d|ACTION=add|ACTION=remove|DEVPATH=/d|SUBSYSTEM=net|SEQNUM=1|",
		  -EBADMSG, "duplicate ACTION" },
		{ "add@/d|ACTION=add|DEVPATH=/d|SUBSYSTEM=net|SUBSYSTEM=pci|SEQNUM=1|",
		  -EBADMSG, "duplicate SUBSYSTEM" },
		{ "add@/d|ACTION=remove|DEVPATH=/d|SUBSYSTEM=net|SEQNUM=1|", -EBADMSG,
		  "header disagrees with ACTION/DEVPATH" },
		{ "add@/d|ACTION=add|DEVPATH=/e|SUBSYSTEM=net|SEQNUM=1|", -EBADMSG,
		  "header disagrees with ACTION/DEVPATH" },
		{ "add@/d|ACTION=add||DEVPATH=/d|SUBSYSTEM=net|SEQNUM=1|", -EBADMSG,
		  "empty field" },
		{ "add@/d|ACTION=add|garbage|DEVPATH=/d|SUBSYSTEM=net|SEQNUM=1|", -EBADMSG,
		  "field without KEY=" },
		{ "add@/d|ACTION=add|=x|DEVPATH=/d|SUBSYSTEM=net|SEQNUM=1|", -EBADMSG,
		  "field without KEY=" },
		{ "add@/d|ACTION=add|DEVPATH=/d|SUBSYSTEM=net|INTERFACE=0123456789abcdef|SEQNUM=1|",
		  -EBADMSG, "bad INTERFACE" },
		{ "add@/d|ACTION=add|DEVPATH=/d|SUBSYSTEM=net|INTERFACE=a/b|SEQNUM=1|",
		  -EBADMSG, "bad INTERFACE" },
		{ "add@/d|ACTION=add|DEVPATH=/d|SUBSYSTEM=net|INTERFACE=|SEQNUM=1|",
		  -EBADMSG, "bad INTERFACE" },
		{ "add@/d|ACTION=add|DEVPATH=/d|SUBSYSTEM=net|IFINDEX=0|SEQNUM=1|",
		  -EBADMSG, "bad IFINDEX" },
		{ "add@/d|ACTION=add|DEVPATH=/d|SUBSYSTEM=net|IFINDEX=-3|SEQNUM=1|",
		  -EBADMSG, "bad IFINDEX" },
		{ "add@/d|ACTION=add|DEVPATH=/d|SUBSYSTEM=net|IFINDEX=4294967297|SEQNUM=1|",
		  -EBADMSG, "bad IFINDEX" },
		{ "add@/d|ACTION=add|DEVPATH=/d|SUBSYSTEM=pci|PCI_SLOT_NAME=../../x|SEQNUM=1|",
		  -EBADMSG, "bad PCI_SLOT_NAME" },
		{ "libudev|\xfe\xed\xca\xfe....", -ENOMSG,
		  "libudev-format message (udevd's), not the kernel's" },
	};
	for (unsigned i = 0; i < FSB_ARRAY_SIZE(bad); i++) {
		size_t l = strlen(bad[i].text);
		memcpy(b, bad[i].text, l);
		for (size_t j = 0; j < l; j++)
			if (b[j] == '|')
				b[j] = '\0';
		int rc = fsb_uevent_parse(b, l, &ev);
		if (rc != bad[i].rc || !ev.err || strcmp(ev.err, bad[i].why))
			fail_msg("vector %u: rc %d (want %d), err '%s' (want '%s')",
				 i, rc, bad[i].rc, ev.err ? ev.err : "(null)",
				 bad[i].why);
	}
	/* every prefix of a good message is refused, never over-read */
	n = msg(b, sizeof(b), "remove@/devices/virtual/net/uevX",
		"ACTION=remove", "DEVPATH=/devices/virtual/net/uevX",
		"SUBSYSTEM=net", "INTERFACE=uevX", "SEQNUM=42", NULL);
	for (size_t l = 0; l < n; l++) {
		char *copy = malloc(l ? l : 1);   /* exact size: ASan sees over-reads */
		memcpy(copy, b, l);
		assert_int_equal(fsb_uevent_parse(copy, l, &ev), -EBADMSG);
		free(copy);
	}
}

/* Real net uevents from the kernel parse, and the monitor sees them. */
static void test_real_events(void **state)
{
	(void)state;
	int fd = listener();
	char buf[8192];
	struct fsb_uevent ev;
	struct counts c0 = counters();

	veth("uevR0", "uevR1");
	wait_net_event(fd, "add", "uevR0", buf, sizeof(buf), &ev);
	assert_int_equal(ev.action, FSB_UEVENT_ADD);
	assert_string_equal(ev.subsystem, "net");
	assert_string_equal(ev.devpath, "/devices/virtual/net/uevR0");
	assert_true(ev.seqnum > 0);
	assert_int_equal(ev.ifindex, sysfs_ifindex("uevR0"));
	uint64_t s_add = ev.seqnum;
	int idx = ev.ifindex;

	assert_int_equal(system("ip link del uevR0"), 0);
	wait_net_event(fd, "remove", "uevR0", buf, sizeof(buf), &ev);
	assert_int_equal(ev.action, FSB_UEVENT_REMOVE);
	assert_string_equal(ev.devpath, "/devices/virtual/net/uevR0");
	assert_int_equal(ev.ifindex, idx);
	assert_true(ev.seqnum > s_add);
	close(fd);

	/* The monitor got them as well (veth add + remove, both ends, and
	 * their queues), none malformed and none refused. */
	assert_true(WAIT_UNTIL(counters().events >= c0.events + 4, 2000));
	struct counts c1 = counters();
	assert_int_equal(c1.bad, c0.bad);
	assert_int_equal(c1.foreign, c0.foreign);
	assert_int_equal(c1.resyncs, c0.resyncs);
}

/* A real netdev sub-device: remove retires it, add brings it back;
 * rtnetlink reports the same removal, and only one switch happens. */
static void test_netdev_remove_add(void **state)
{
	(void)state;
	struct fsb_bare *pe[1];
	veth("uevA", "uevB");
	pe[0] = ring_peer(ctx, "uev1_s", mp);
	struct fsb_port *p = port_up(ctx, "uev1,hold_down=0,"
				     "dev(af_packet,iface=uevA),dev(ring,name=uev1_s)",
				     mp, NULL);
	assert_int_equal(active_slot(p), 0);

	static const char *const down_reasons[] = {
		"switch_reason_uevent_remove", "switch_reason_netdev_removed",
		"switch_reason_link_down",
	};
	static const char *const up_reasons[] = {
		"switch_reason_uevent_add", "switch_reason_netdev_added",
		"switch_reason_link_up",
	};
	for (int round = 0; round < 2; round++) {
		/* let the last round's stragglers (carrier, peer up) be
		 * consumed: a mark still pending would lend its reason */
		t_sleep_ms(100);
		uint64_t sw = xstat(p, "switchovers"), all = reasons_sum(p);
		uint64_t dup = xstat(p, "dup_signals");
		uint64_t before[3];
		for (unsigned i = 0; i < 3; i++)
			before[i] = xstat(p, down_reasons[i]);
		struct counts c0 = counters();
		if (round == 1) {
			/* Both monitors' messages queued before either
			 * is read: the control thread is parked in a
			 * sync pass waiting for ctx->lock, so the next loop
			 * turn reads both sockets and both marks are
			 * pending at one sync: the second is a dup. */
			pthread_mutex_lock(&ctx->lock);
			fsb_loop_wake();
			t_sleep_ms(50);
		}
		assert_int_equal(system("ip link del uevA"), 0);
		if (round == 1)
			pthread_mutex_unlock(&ctx->lock);
		assert_true(WAIT_UNTIL(active_slot(p) == 1, 3000));
		assert_true(WAIT_UNTIL(slot_parsed(p, 0), 2000));
		assert_true(WAIT_UNTIL(counters().events > c0.events, 2000));
		assert_int_equal(xstat(p, "switchovers"), sw + 1);
		unsigned which = 0;
		for (unsigned i = 0; i < 3; i++)
			which += xstat(p, down_reasons[i]) - before[i];
		if (which != 1)
			dump_reasons(p);
		/* one switch, counted under one reason, one of these */
		assert_int_equal(reasons_sum(p), all + 1);
		assert_int_equal(which, 1);
		enum fsb_reason r = slot_reason(p, 0);
		assert_true(r == FSB_REASON_UEVENT_REMOVE ||
			    r == FSB_REASON_NETDEV_REMOVED ||
			    r == FSB_REASON_LINK_DOWN);
		if (round == 1)
			assert_true(xstat(p, "dup_signals") > dup);
		fprintf(stderr, "  round %d: retired by %s, dup_signals +%llu\n",
			round, fsb_reason_name(r),
			(unsigned long long)(xstat(p, "dup_signals") - dup));

		/* back: uevent-add or netdev-added (or its carrier).  A
		 * veth is RUNNING as soon as it is up, before the kernel's
		 * linkwatch has looked at its carrier (operstate unknown
		 * counts as up), and not RUNNING once it has, until its peer
		 * is up too: a re-adopted veth may read up, down, up.  So
		 * we count once the kernel's operstate is final, and every
		 * return beyond the first must follow a down the kernel
		 * reported. */
		uint64_t up0 = 0, down0 = 0;
		for (unsigned i = 0; i < 3; i++) {
			up0 += xstat(p, up_reasons[i]);
			down0 += xstat(p, down_reasons[i]);
		}
		veth("uevA", "uevB");
		assert_true(WAIT_UNTIL(oper_up("uevA"), 3000));
		assert_true(WAIT_UNTIL(active_slot(p) == 0, 3000));
		t_sleep_ms(50);
		assert_int_equal(active_slot(p), 0);
		uint64_t up1 = 0, down1 = 0;
		for (unsigned i = 0; i < 3; i++) {
			up1 += xstat(p, up_reasons[i]);
			down1 += xstat(p, down_reasons[i]);
		}
		if (up1 != up0 + 1 + (down1 - down0))
			dump_reasons(p);
		assert_int_equal(up1, up0 + 1 + (down1 - down0));
		if (down1 != down0)
			fprintf(stderr, "  round %d: the kernel said down %llu time(s) "
				"while the veth came up\n", round,
				(unsigned long long)(down1 - down0));
	}
	ports_close(p, pe, 1);
	assert_int_equal(system("ip link del uevA"), 0);
}

static size_t net_msg(char *buf, size_t cap, const char *action,
		      const char *ifname, int ifindex)
{
	char hdr[96], act[32], dp[96], sq[40], in[32], ix[32];
	snprintf(hdr, sizeof(hdr), "%s@/devices/virtual/net/%s", action, ifname);
	snprintf(act, sizeof(act), "ACTION=%s", action);
	snprintf(dp, sizeof(dp), "DEVPATH=/devices/virtual/net/%s", ifname);
	snprintf(in, sizeof(in), "INTERFACE=%s", ifname);
	snprintf(ix, sizeof(ix), "IFINDEX=%d", ifindex);
	snprintf(sq, sizeof(sq), "SEQNUM=%llu", (unsigned long long)seq++);
	return msg(buf, cap, hdr, act, dp, "SUBSYSTEM=net", in, ix, sq, NULL);
}

/* Netdev matching on its own (a ring slot given a binding by hand, as
 * test_netlink does): stale and foreign events mark nothing; a remove
 * after rtnetlink unbound the slot still reaches the slot's marks (the
 * dup_signals contract); add adopts only an unbound, unclaimed name. */
static void test_netdev_crafted(void **state)
{
	(void)state;
	struct fsb_bare *pe[2];
	struct fsb_port *p = pci_port("uev8", "", pe);
	struct fsb_subdev *sd = fsb_port_subdev(p, 0);
	pthread_mutex_lock(&p->lock);
	sd->nd.used = true;
	snprintf(sd->nd.want_ifname, sizeof(sd->nd.want_ifname), "uevC");
	snprintf(sd->nd.ifname, sizeof(sd->nd.ifname), "uevC");
	sd->nd.ifindex = 4242;
	sd->nd.running = true;
	pthread_mutex_unlock(&p->lock);
	char b[1024];
	size_t n;
	struct counts c0 = counters();

	n = net_msg(b, sizeof(b), "remove", "uevC", 999);   /* stale */
	assert_int_equal(fsb_uevent_process(b, n, 0, fsb_route_signal, ctx), 0);
	n = net_msg(b, sizeof(b), "remove", "uevD", 4242);  /* not ours */
	assert_int_equal(fsb_uevent_process(b, n, 0, fsb_route_signal, ctx), 0);
	n = net_msg(b, sizeof(b), "add", "uevC", 4343);     /* we are bound */
	assert_int_equal(fsb_uevent_process(b, n, 0, fsb_route_signal, ctx), 0);
	assert_int_equal(counters().marks, c0.marks);
	t_sleep_ms(50);
	assert_int_equal(active_slot(p), 0);

	n = net_msg(b, sizeof(b), "remove", "uevC", 4242);
	assert_int_equal(fsb_uevent_process(b, n, 0, fsb_route_signal, ctx), 0);
	assert_true(WAIT_UNTIL(active_slot(p) == 1, 2000));
	assert_true(WAIT_UNTIL(slot_parsed(p, 0), 2000));
	assert_int_equal(xstat(p, "switch_reason_uevent_remove"), 1);
	/* as rtnetlink's DELLINK leaves it: unbound, name kept */
	pthread_mutex_lock(&p->lock);
	sd->nd.ifindex = 0;
	pthread_mutex_unlock(&p->lock);
	uint64_t m1 = counters().marks;
	assert_int_equal(fsb_uevent_process(b, n, 0, fsb_route_signal, ctx), 0);
	assert_int_equal(counters().marks, m1 + 1);
	t_sleep_ms(50);
	assert_int_equal(active_slot(p), 1);
	assert_int_equal(xstat(p, "switchovers"), 1);

	/* a claimed ifindex is another slot's: not adopted */
	assert_int_equal(fsb_netdev_claim(5000), 0);
	n = net_msg(b, sizeof(b), "add", "uevC", 5000);
	assert_int_equal(fsb_uevent_process(b, n, 0, fsb_route_signal, ctx), 0);
	assert_int_equal(counters().marks, m1 + 1);
	fsb_netdev_release(5000);
	n = net_msg(b, sizeof(b), "add", "uevC", 5001);
	assert_int_equal(fsb_uevent_process(b, n, 0, fsb_route_signal, ctx), 0);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 2000));
	assert_int_equal(xstat(p, "switch_reason_uevent_add"), 1);
	ports_close(p, pe, 2);
}

/* PCI functions: matched by PCI_SLOT_NAME (or the DEVPATH's last
 * component), case-insensitively; only the kernel is believed. */
static void test_pci_crafted(void **state)
{
	(void)state;
	struct fsb_bare *pe[2];
	struct fsb_port *p = pci_port("uev2", "0000:5E:00.1", pe);
	char b[1024];
	size_t n;

	/* not ours: another function, another action, user space */
	n = pci_msg(b, sizeof(b), "remove", "0000:5e:00.2", true);
	assert_int_equal(fsb_uevent_process(b, n, 0, fsb_route_signal, ctx), 0);
	n = pci_msg(b, sizeof(b), "change", "0000:5e:00.1", true);
	assert_int_equal(fsb_uevent_process(b, n, 0, fsb_route_signal, ctx), 0);
	n = pci_msg(b, sizeof(b), "remove", "0000:5e:00.1", true);
	assert_int_equal(fsb_uevent_process(b, n, 4321, fsb_route_signal, ctx), -EPERM);
	t_sleep_ms(50);
	assert_int_equal(active_slot(p), 0);
	assert_int_equal(xstat(p, "switchovers"), 0);

	/* the kernel's remove: gone, TX moves */
	assert_int_equal(fsb_uevent_process(b, n, 0, fsb_route_signal, ctx), 0);
	assert_true(WAIT_UNTIL(active_slot(p) == 1, 2000));
	assert_true(WAIT_UNTIL(slot_parsed(p, 0), 2000));
	assert_int_equal(xstat(p, "switch_reason_uevent_remove"), 1);
	assert_int_equal(slot_reason(p, 0), FSB_REASON_UEVENT_REMOVE);

	/* add, matched by DEVPATH alone: back */
	n = pci_msg(b, sizeof(b), "add", "0000:5e:00.1", false);
	assert_int_equal(fsb_uevent_process(b, n, 0, fsb_route_signal, ctx), 0);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 2000));
	assert_int_equal(xstat(p, "switch_reason_uevent_add"), 1);
	assert_int_equal(slot_reason(p, 0), FSB_REASON_UEVENT_ADD);
	ports_close(p, pe, 2);
}

/* Forged messages really sent to group 1 from user space (we are
 * root): delivered, and refused by the monitor. */
static void test_forged(void **state)
{
	(void)state;
	struct fsb_bare *pe[2];
	struct fsb_port *p = pci_port("uev3", "0000:5e:00.3", pe);
	int lfd = listener();
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
	assert_true(fd >= 0);
	struct sockaddr_nl me = { .nl_family = AF_NETLINK };
	assert_int_equal(bind(fd, (struct sockaddr *)&me, sizeof(me)), 0);
	struct sockaddr_nl grp = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	struct counts c0 = counters();

	char b[1024];
	size_t n = pci_msg(b, sizeof(b), "remove", "0000:5e:00.3", true);
	assert_int_equal(sendto(fd, b, n, 0, (struct sockaddr *)&grp, sizeof(grp)),
			 (ssize_t)n);
	/* it really went out on group 1, from a non-zero port id */
	struct sockaddr_nl from;
	socklen_t fl = sizeof(from);
	char rb[2048];
	ssize_t got;
	do {
		got = recvfrom(lfd, rb, sizeof(rb), 0, (struct sockaddr *)&from, &fl);
		assert_true(got > 0);
	} while (from.nl_pid == 0);             /* skip the kernel's own */
	assert_int_equal(got, (ssize_t)n);
	assert_true(WAIT_UNTIL(counters().foreign >= c0.foreign + 1, 2000));

	/* an oversized one (MSG_TRUNC at the monitor): refused too */
	static char big[20000];
	memset(big, 'x', sizeof(big));
	memcpy(big, b, n);
	assert_int_equal(sendto(fd, big, sizeof(big), 0, (struct sockaddr *)&grp,
				sizeof(grp)), (ssize_t)sizeof(big));
	assert_true(WAIT_UNTIL(counters().foreign >= c0.foreign + 2, 2000));
	t_sleep_ms(50);
	assert_int_equal(active_slot(p), 0);
	assert_int_equal(xstat(p, "switchovers"), 0);
	struct counts c1 = counters();
	assert_int_equal(c1.marks, c0.marks);
	close(fd);
	close(lfd);
	ports_close(p, pe, 2);
}

/* Truncated and garbage messages: counted, skipped, nothing marked. */
static void test_garbage(void **state)
{
	(void)state;
	struct fsb_bare *pe[2];
	struct fsb_port *p = pci_port("uev6", "0000:5e:00.6", pe);
	struct counts c0 = counters();
	char b[1024];
	size_t n = pci_msg(b, sizeof(b), "remove", "0000:5e:00.6", true);
	for (size_t cut = 1; cut < n; cut += 7)
		assert_int_equal(fsb_uevent_process(b, n - cut, 0, fsb_route_signal, ctx), -EBADMSG);
	unsigned nbad = 0;
	for (size_t cut = 1; cut < n; cut += 7)
		nbad++;
	srand(7);
	for (unsigned i = 0; i < 200; i++) {
		size_t l = (size_t)(rand() % 300);
		for (size_t j = 0; j < l; j++)
			b[j] = (char)(rand() % 4 ? 'A' + rand() % 26 : rand() % 3 ? '\0' : '@');
		int rc = fsb_uevent_process(b, l, 0, fsb_route_signal, ctx);
		assert_true(rc == -EBADMSG || rc == 0);
		nbad += rc == -EBADMSG;
	}
	memcpy(b, "libudev\0\xfe\xed\xca\xfe", 12);
	assert_int_equal(fsb_uevent_process(b, 12, 0, fsb_route_signal, ctx), -ENOMSG);
	struct counts c1 = counters();
	assert_int_equal(c1.bad - c0.bad, nbad);
	assert_int_equal(c1.udev - c0.udev, 1);
	assert_int_equal(c1.marks, c0.marks);
	t_sleep_ms(50);
	assert_int_equal(active_slot(p), 0);
	ports_close(p, pe, 2);
}

/* A real flood of change events: the monitor keeps up (or resyncs) and
 * still retires the interface when it goes. */
static void test_flood(void **state)
{
	(void)state;
	struct fsb_bare *pe[1];
	veth("uevF", "uevG");
	pe[0] = ring_peer(ctx, "uev7_s", mp);
	struct fsb_port *p = port_up(ctx, "uev7,hold_down=0,"
				     "dev(af_packet,iface=uevF),dev(ring,name=uev7_s)",
				     mp, NULL);
	struct counts c0 = counters();
	uint64_t t0 = fsb_now_ns();
	assert_int_equal(system("for i in $(seq 2000); do "
				"echo change > /sys/class/net/uevF/uevent; done"), 0);
	uint64_t t1 = fsb_now_ns();
	assert_true(WAIT_UNTIL(counters().events >= c0.events + 2000 ||
			       counters().resyncs > c0.resyncs, 3000));
	struct counts c1 = counters();
	fprintf(stderr, "  flood: 2000 change events in %.0f ms; monitor saw %llu, "
		"%llu resyncs, %llu seq gaps\n", (double)(t1 - t0) / 1e6,
		(unsigned long long)(c1.events - c0.events),
		(unsigned long long)(c1.resyncs - c0.resyncs),
		(unsigned long long)(c1.seq_gaps - c0.seq_gaps));
	assert_int_equal(c1.bad, c0.bad);
	assert_int_equal(active_slot(p), 0);
	assert_int_equal(system("ip link del uevF"), 0);
	assert_true(WAIT_UNTIL(active_slot(p) == 1, 3000));
	ports_close(p, pe, 1);
}

/*
 * ENOBUFS: a tiny receive buffer and the control thread held off (the
 * loop lock: it cannot even run its callbacks) while a flood and the
 * removals happen.  The resync still sees them: the netdev (rtnetlink
 * may win that one), and the PCI function and a netdev binding nothing
 * else knows of (the reasons must be ours).  Then arrivals hidden by
 * another overflow are found the same way.  Afterwards the monitor
 * still listens.
 */
static void test_enobufs_resync(void **state)
{
	(void)state;
	struct fsb_bare *pe[3];
	veth("uevE", "uevH");
	pe[0] = ring_peer(ctx, "uev4_s", mp);
	struct fsb_port *p = port_up(ctx, "uev4,hold_down=0,"
				     "dev(af_packet,iface=uevE),dev(ring,name=uev4_s)",
				     mp, NULL);
	assert_int_equal(mkdir(PCI_DIR "/0000:5e:00.5", 0755), 0);
	struct fsb_port *q = pci_port("uev5", "0000:5e:00.5", pe + 1);
	/* and a netdev binding only this monitor can resolve: an
	 * interface rtnetlink will never say anything about */
	struct fsb_bare *pg[2];
	struct fsb_port *g = pci_port("uev9", "", pg);
	struct fsb_subdev *gsd = fsb_port_subdev(g, 0);
	pthread_mutex_lock(&g->lock);
	gsd->nd.used = true;
	snprintf(gsd->nd.want_ifname, sizeof(gsd->nd.want_ifname), "uevGhost");
	snprintf(gsd->nd.ifname, sizeof(gsd->nd.ifname), "uevGhost");
	gsd->nd.ifindex = 4747;
	pthread_mutex_unlock(&g->lock);
	t_sleep_ms(50);
	struct counts c0 = counters();

	assert_int_equal(fsb_uevent_test_rcvbuf(1024), 0);
	fsb_loop_lock();
	assert_int_equal(system("for i in $(seq 100); do "
				"echo change > /sys/class/net/uevE/uevent; done; "
				"ip link del uevE"), 0);
	assert_int_equal(rmdir(PCI_DIR "/0000:5e:00.5"), 0);
	fsb_loop_unlock();
	assert_true(WAIT_UNTIL(counters().resyncs > c0.resyncs, 3000));
	assert_true(WAIT_UNTIL(active_slot(p) == 1, 3000));
	assert_true(WAIT_UNTIL(slot_parsed(p, 0), 2000));
	assert_true(WAIT_UNTIL(active_slot(q) == 1, 3000));
	assert_int_equal(xstat(q, "switch_reason_uevent_remove"), 1);
	assert_int_equal(slot_reason(q, 0), FSB_REASON_UEVENT_REMOVE);
	assert_true(WAIT_UNTIL(active_slot(g) == 1, 3000));
	assert_int_equal(xstat(g, "switch_reason_uevent_remove"), 1);
	fprintf(stderr, "  enobufs: netdev slot retired by %s\n",
		fsb_reason_name(slot_reason(p, 0)));

	/* The function returns, and another overflow hides its arrival:
	 * the next resync brings it back. */
	assert_int_equal(mkdir(PCI_DIR "/0000:5e:00.5", 0755), 0);
	veth("uevE2", "uevH2");
	/* the ghost slot now wants uevE2, which exists already: rtnetlink
	 * said so before it was wanted, so only the resync can tell */
	t_sleep_ms(50);
	pthread_mutex_lock(&g->lock);
	gsd->nd.ifindex = 0;
	snprintf(gsd->nd.want_ifname, sizeof(gsd->nd.want_ifname), "uevE2");
	pthread_mutex_unlock(&g->lock);
	struct counts c1 = counters();
	fsb_loop_lock();
	assert_int_equal(system("for i in $(seq 100); do "
				"echo change > /sys/class/net/uevE2/uevent; done"), 0);
	fsb_loop_unlock();
	assert_true(WAIT_UNTIL(counters().resyncs > c1.resyncs, 3000));
	assert_true(WAIT_UNTIL(active_slot(q) == 0, 3000));
	assert_int_equal(xstat(q, "switch_reason_uevent_add"), 1);
	assert_true(WAIT_UNTIL(active_slot(g) == 0, 3000));
	assert_int_equal(xstat(g, "switch_reason_uevent_add"), 1);

	/* and it keeps listening: a real add is read and acted on */
	assert_int_equal(fsb_uevent_test_rcvbuf(4 << 20), 0);
	struct counts c2 = counters();
	veth("uevE", "uevH");
	assert_true(WAIT_UNTIL(counters().events >= c2.events + 2, 3000));
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 3000));
	assert_int_equal(counters().bad, c0.bad);
	ports_close(p, pe, 1);
	ports_close(q, pe + 1, 2);
	ports_close(g, pg, 2);
	assert_int_equal(system("ip link del uevE; ip link del uevE2"), 0);
}

int main(void)
{
	/* Our own network and mount namespaces: real interfaces without
	 * touching the host's, and their uevents only.  Only "cannot
	 * create a netns" is a skip (77). */
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) {
		fprintf(stderr, "test_uevent: unshare: %s: skipped (needs root)\n",
			strerror(errno));
		return 77;
	}
	/* A sysfs of this netns (as ip-netns-exec does), and a scratch
	 * /sys/bus/pci/devices for the PCI resync, both in our mount ns. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    umount2("/sys", MNT_DETACH) < 0 ||
	    mount("sysfs", "/sys", "sysfs", 0, NULL) < 0 ||
	    mount("tmpfs", PCI_DIR, "tmpfs", 0, "size=64k") < 0) {
		fprintf(stderr, "test_uevent: remounting /sys: %s\n",
			strerror(errno));
		return 1;
	}
	FILE *f = fopen("/proc/sys/net/ipv6/conf/default/disable_ipv6", "w");
	if (f) {
		fputs("1", f);
		fclose(f);
	}
	if (system("ip link set lo up") != 0) {
		fprintf(stderr, "test_uevent: iproute2 missing\n");
		return 1;
	}
	ctx = fsb_ctx_new();
	if (!ctx)
		return 1;
	fsb_ctx_set_log(ctx, NULL, NULL, FSB_LOG_ERR);
	mp = fsb_mempool_create(ctx, "uev", 4096, 2048, 32, -1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_real_events),
		cmocka_unit_test(test_netdev_remove_add),
		cmocka_unit_test(test_netdev_crafted),
		cmocka_unit_test(test_pci_crafted),
		cmocka_unit_test(test_forged),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_flood),
		cmocka_unit_test(test_enobufs_resync),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	fsb_ctx_free(ctx);
	return rc;
}
