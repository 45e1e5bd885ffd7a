/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * netlink.c - the rtnetlink monitor: kernel netdevs coming and going.
 *
 * When a VF bound to its kernel driver (iavf, mlx5, ixgbevf) is
 * hot-unplugged, the kernel deletes its netdev and says so on rtnetlink
 * (RTM_DELLINK).  When it returns - on a migration's destination, often
 * under another name and always with another ifindex - it says
 * RTM_NEWLINK.  Carrier loss and `ip link set down` arrive as
 * RTM_NEWLINK with IFF_RUNNING/IFF_UP cleared.  DPDK's failsafe listens
 * to none of this (it waits for an RMV event that af_packet, tap and
 * virtio never raise), which is why it never fails over there.
 *
 * One socket per process, subscribed to RTMGRP_LINK, read by the control
 * thread's loop.  Like every source it only tells: each message becomes
 * a signal for the router (route.c), which knows the slots:
 *
 *   RTM_DELLINK  -> GONE  (netdev-removed), the device's ifindex and name
 *   RTM_NEWLINK  -> STATE, the device as it is now: the router turns it
 *                   into an appearance, a link change or a rename
 *   ENOBUFS      -> LOST: the router resyncs, with a dump from here
 *
 * Quirks handled here:
 *   - Multicast netlink can overflow (ENOBUFS) under a burst of events.
 *     Then what we would have learnt is lost, so we say so (LOST) and
 *     the router asks again: fsb_netlink_dump() lists every link.  We
 *     never stop listening.
 *   - Messages are parsed with libmnl, which checks each attribute's
 *     length and type: a truncated message, an oversized name or an
 *     address of the wrong length is counted and ignored, never trusted.
 *     Unknown attributes are skipped.
 *   - The socket sees only its network namespace: the one the process
 *     was in when the context was created.
 */
#include "config.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "fsb_private.h"
#include "netlink.h"
#include "nlmon.h"

static struct {
	struct fsb_nlmon sock;
	fsb_devsignal_fn fn;
	void *arg;
	_Atomic uint64_t msgs, bad, lost;
} mon;

#define NL_BUFLEN (64 * 1024)

/* ------------------------------------------------------------------ */
/* Parsing                                                             */
/* ------------------------------------------------------------------ */

static int link_attr_cb(const struct nlattr *attr, void *data)
{
	struct fsb_devid *id = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, IFLA_MAX) < 0)
		return MNL_CB_OK;              /* newer kernel: skip */
	switch (type) {
	case IFLA_IFNAME:
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0 ||
		    mnl_attr_get_payload_len(attr) > sizeof(id->ifname))
			return MNL_CB_ERROR;
		snprintf(id->ifname, sizeof(id->ifname), "%s",
			 mnl_attr_get_str(attr));
		break;
	case IFLA_ADDRESS:
		if (mnl_attr_get_payload_len(attr) == FSB_ETHER_ADDR_LEN) {
			memcpy(id->mac, mnl_attr_get_payload(attr), 6);
			id->has_mac = true;
		}
		break;
	case IFLA_PARENT_DEV_NAME:
	case IFLA_PARENT_DEV_BUS_NAME: {
		/* Since Linux 5.15.  Kept as "bus/device" until both are
		 * read; the PCI address is split out after the walk. */
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
			return MNL_CB_ERROR;
		const char *v = mnl_attr_get_str(attr);
		char *slash = strchr(id->parent, '/');
		char tmp[sizeof(id->parent)];
		if (type == IFLA_PARENT_DEV_BUS_NAME)
			snprintf(tmp, sizeof(tmp), "%s/%s", v,
				 slash ? slash + 1 : "");
		else
			snprintf(tmp, sizeof(tmp), "%.*s/%s",
				 slash ? (int)(slash - id->parent) : 0,
				 id->parent, v);
		memcpy(id->parent, tmp, sizeof(tmp));
		break;
	}
	case IFLA_PERM_ADDRESS:
		if (mnl_attr_get_payload_len(attr) == FSB_ETHER_ADDR_LEN) {
			static const uint8_t zero[6];
			memcpy(id->perm_mac, mnl_attr_get_payload(attr), 6);
			id->has_perm_mac = memcmp(id->perm_mac, zero, 6) != 0;
		}
		break;
	default:
		break;
	}
	return MNL_CB_OK;
}

int fsb_netlink_parse_link(const struct nlmsghdr *nlh, struct fsb_devid *id,
			   bool *del)
{
	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return 0;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct ifinfomsg))
		return -1;
	const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	memset(id, 0, sizeof(*id));
	id->ifindex = ifm->ifi_index;
	id->flags = ifm->ifi_flags;
	if (id->ifindex <= 0)
		return -1;
	if (mnl_attr_parse(nlh, sizeof(*ifm), link_attr_cb, id) != MNL_CB_OK)
		return -1;
	if (strcmp(id->parent, "/") == 0)
		id->parent[0] = '\0';
	if (strncmp(id->parent, "pci/", 4) == 0 &&
	    fsb_pci_addr_parse(id->parent + 4, id->pci_addr) < 0)
		id->pci_addr[0] = '\0';
	*del = nlh->nlmsg_type == RTM_DELLINK;
	return 1;
}

/* One link message -> one signal. */
static void link_signal(const struct nlmsghdr *nlh, enum fsb_reason state_why,
			fsb_devsignal_fn fn, void *arg)
{
	struct fsb_devsignal sig = {
		.source = FSB_DEVSIG_SRC_RTNETLINK, .when_ns = fsb_now_ns(),
	};
	bool del;
	int r = fsb_netlink_parse_link(nlh, &sig.id, &del);
	if (r < 0) {
		atomic_fetch_add(&mon.bad, 1);
		FSB_LOG_RL(FSB_LOG_WARNING,
			   "rtnetlink: malformed link message ignored (type %u, len %u)",
			   nlh->nlmsg_type, nlh->nlmsg_len);
		return;
	}
	if (r == 0)
		return;
	sig.what = del ? FSB_DEVSIG_GONE : FSB_DEVSIG_STATE;
	sig.why = del ? FSB_REASON_NETDEV_REMOVED : state_why;
	fn(arg, &sig);
}

void fsb_netlink_process(const void *buf, size_t len, fsb_devsignal_fn fn,
			 void *arg)
{
	const struct nlmsghdr *nlh = buf;
	int left = (int)len;
	/* Walk the messages ourselves: mnl_cb_run() stops silently at a
	 * truncated one, and we want it counted. */
	while (mnl_nlmsg_ok(nlh, left)) {
		if (nlh->nlmsg_type >= NLMSG_MIN_TYPE) {
			atomic_fetch_add(&mon.msgs, 1);
			link_signal(nlh, FSB_REASON_NETDEV_ADDED, fn, arg);
		}
		nlh = mnl_nlmsg_next(nlh, &left);
	}
	if (left > 0) {
		atomic_fetch_add(&mon.bad, 1);
		FSB_LOG_RL(FSB_LOG_WARNING,
			   "rtnetlink: %d trailing bytes of a truncated message ignored",
			   left);
	}
}

/* ------------------------------------------------------------------ */
/* Dumps                                                               */
/* ------------------------------------------------------------------ */

struct dump_arg {
	enum fsb_reason why;
	fsb_devsignal_fn fn;
	void *arg;
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct dump_arg *da = data;
	if (nlh->nlmsg_type == RTM_NEWLINK)
		link_signal(nlh, da->why, da->fn, da->arg);
	return MNL_CB_OK;
}

int fsb_netlink_dump(enum fsb_reason why, fsb_devsignal_fn fn, void *arg)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl)
		return -errno;
	int rc = 0;
	char *buf = malloc(NL_BUFLEN);
	if (!buf) {
		mnl_socket_close(nl);
		return -ENOMEM;
	}
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		goto out;
	}
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	unsigned seq = (unsigned)time(NULL);
	nlh->nlmsg_seq = seq;
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		rc = -errno;
		goto out;
	}
	unsigned portid = mnl_socket_get_portid(nl);
	struct dump_arg da = { why, fn, arg };
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, NL_BUFLEN);
		if (n < 0) {
			rc = -errno;
			break;
		}
		int r = mnl_cb_run(buf, (size_t)n, seq, portid, dump_cb, &da);
		if (r == MNL_CB_STOP)
			break;
		if (r < 0) {
			rc = -errno;
			break;
		}
	}
out:
	free(buf);
	mnl_socket_close(nl);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The monitor                                                         */
/* ------------------------------------------------------------------ */

/* Deferred from the watcher: control thread, loop lock released. */
static void drain(void *arg)
{
	(void)arg;
	for (;;) {
		ssize_t n = recv(fsb_nlmon_fd(&mon.sock), mon.sock.buf,
				 mon.sock.buflen, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				atomic_fetch_add(&mon.lost, 1);
				FSB_LOG_RL(FSB_LOG_WARNING,
					   "rtnetlink: events were lost (ENOBUFS); resyncing from a link dump");
				struct fsb_devsignal sig = {
					.what = FSB_DEVSIG_LOST,
					.why = FSB_REASON_NETDEV_REMOVED,
					.source = FSB_DEVSIG_SRC_RTNETLINK,
					.when_ns = fsb_now_ns(),
				};
				mon.fn(mon.arg, &sig);
				continue;
			}
			if (errno != EAGAIN)
				FSB_LOG_RL(FSB_LOG_WARNING, "rtnetlink: recv: %s",
					   strerror(errno));
			return;
		}
		if (n == 0)
			return;
		fsb_netlink_process(mon.sock.buf, (size_t)n, mon.fn, mon.arg);
	}
}

int fsb_netlink_start(fsb_devsignal_fn fn, void *arg)
{
	mon.fn = fn;
	mon.arg = arg;
	return fsb_nlmon_open(&mon.sock, NETLINK_ROUTE, RTMGRP_LINK, NL_BUFLEN,
			      4 << 20, false, drain, NULL);
}

void fsb_netlink_stop(void)
{
	fsb_nlmon_close(&mon.sock);
}

int fsb_netlink_test_rcvbuf(int bytes)
{
	return fsb_nlmon_rcvbuf(&mon.sock, bytes);
}

void fsb_netlink_counters(uint64_t *msgs, uint64_t *bad, uint64_t *lost)
{
	*msgs = atomic_load(&mon.msgs);
	*bad = atomic_load(&mon.bad);
	*lost = atomic_load(&mon.lost);
}
