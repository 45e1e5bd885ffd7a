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
 * thread's libev loop.  Like every signal source it only marks slots:
 *
 *   DELLINK of a bound ifindex          -> gone      (netdev-removed)
 *   NEWLINK, bound, running changed     -> link up/down
 *   NEWLINK, bound, name changed        -> follow the rename (no mark)
 *   NEWLINK, unbound, matches the spec  -> appeared  (netdev-added)
 *
 * "Matches" is by name for iface=, and for mac= by the permanent address
 * (IFLA_PERM_ADDRESS) where the device has one, else the current one:
 * that survives udev renames and migration, where names and PCI
 * addresses change.  veth has no permanent address.
 *
 * Quirks handled here:
 *   - Multicast netlink can overflow (ENOBUFS) under a burst of events.
 *     Then the state we would have learnt is lost, so we resync: dump
 *     every link and treat the dump as a fresh set of NEWLINKs, and mark
 *     gone every bound slot whose ifindex is no longer there.  We never
 *     stop listening.
 *   - Messages are parsed with libmnl, which checks each attribute's
 *     length and type: a truncated message, an oversized name or an
 *     address of the wrong length is counted and ignored, never trusted.
 *     Unknown attributes are skipped.  Interfaces we do not own are the
 *     common case and cost one comparison per netdev slot.
 *   - The socket sees only its network namespace: the one the process
 *     was in at fsb_ctx_new().
 */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "netlink.h"
#include "port.h"

static struct {
	struct fsb_nlmon sock;
	_Atomic uint64_t msgs, bad, resyncs;
} mon;

#define NL_BUFLEN (64 * 1024)

/* ------------------------------------------------------------------ */
/* Parsing                                                             */
/* ------------------------------------------------------------------ */

static int link_attr_cb(const struct nlattr *attr, void *data)
{
	struct fsb_netdev_info *nd = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, IFLA_MAX) < 0)
		return MNL_CB_OK;              /* newer kernel: skip */
	switch (type) {
	case IFLA_IFNAME:
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0 ||
		    mnl_attr_get_payload_len(attr) > sizeof(nd->ifname))
			return MNL_CB_ERROR;
		snprintf(nd->ifname, sizeof(nd->ifname), "%s",
			 mnl_attr_get_str(attr));
		break;
	case IFLA_ADDRESS:
		if (mnl_attr_get_payload_len(attr) == FSB_ETHER_ADDR_LEN) {
			memcpy(nd->addr, mnl_attr_get_payload(attr), 6);
			nd->has_addr = true;
		}
		break;
	case IFLA_PERM_ADDRESS:
		if (mnl_attr_get_payload_len(attr) == FSB_ETHER_ADDR_LEN) {
			static const uint8_t zero[6];
			memcpy(nd->perm, mnl_attr_get_payload(attr), 6);
			nd->has_perm = memcmp(nd->perm, zero, 6) != 0;
		}
		break;
	default:
		break;
	}
	return MNL_CB_OK;
}

/*
 * Parse one RTM_NEWLINK/RTM_DELLINK into @nd.  Returns 1 for a link
 * message, 0 for another type, -1 for a malformed one.
 */
int fsb_netlink_parse_link(const struct nlmsghdr *nlh,
			   struct fsb_netdev_info *nd, bool *del)
{
	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return 0;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct ifinfomsg))
		return -1;
	const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	memset(nd, 0, sizeof(*nd));
	nd->ifindex = ifm->ifi_index;
	nd->flags = ifm->ifi_flags;
	if (nd->ifindex <= 0)
		return -1;
	if (mnl_attr_parse(nlh, sizeof(*ifm), link_attr_cb, nd) != MNL_CB_OK)
		return -1;
	*del = nlh->nlmsg_type == RTM_DELLINK;
	return 1;
}

bool fsb_netdev_match(const struct fsb_netdev_bind *b,
		      const struct fsb_netdev_info *nd)
{
	if (!b->used)
		return false;
	if (b->by_mac) {
		if (nd->has_perm)
			return memcmp(nd->perm, b->want_mac, 6) == 0;
		return nd->has_addr && memcmp(nd->addr, b->want_mac, 6) == 0;
	}
	return nd->ifname[0] && strcmp(nd->ifname, b->want_ifname) == 0;
}

static bool nd_running(const struct fsb_netdev_info *nd)
{
	return (nd->flags & IFF_UP) && (nd->flags & IFF_RUNNING);
}

/* ------------------------------------------------------------------ */
/* Claims                                                              */
/* ------------------------------------------------------------------ */

/*
 * Interfaces bound by some netdev sub-device, process-wide.  A failover
 * pair shares one MAC (the port replays its address onto every
 * sub-device, as the hypervisor does for a VF and its virtio standby),
 * so adoption by mac= must never pick an interface another slot holds.
 */
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

/* ------------------------------------------------------------------ */
/* Dumps                                                               */
/* ------------------------------------------------------------------ */

typedef void (*link_fn)(const struct fsb_netdev_info *nd, void *arg);

struct dump_arg {
	link_fn fn;
	void *arg;
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_arg *da = data;
	struct fsb_netdev_info nd;
	bool del;
	int r = fsb_netlink_parse_link(nlh, &nd, &del);
	if (r < 0)
		atomic_fetch_add(&mon.bad, 1);
	else if (r > 0 && !del)
		da->fn(&nd, da->arg);
	return MNL_CB_OK;
}

/* Dump every link of this netns through @fn, on a short-lived socket so
 * that the reply never mixes with the monitor's multicast stream. */
static int links_dump(link_fn fn, void *arg)
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
	struct dump_arg da = { fn, arg };
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

struct find_arg {
	const struct fsb_netdev_bind *b;
	struct fsb_netdev_info *out;
	bool found;
};

static void find_fn(const struct fsb_netdev_info *nd, void *arg)
{
	struct find_arg *fa = arg;
	if (!fa->found && fsb_netdev_match(fa->b, nd) &&
	    !fsb_netdev_claimed(nd->ifindex)) {
		*fa->out = *nd;
		fa->found = true;
	}
}

int fsb_netdev_find(const struct fsb_netdev_bind *b,
		    struct fsb_netdev_info *out)
{
	struct find_arg fa = { b, out, false };
	int rc = links_dump(find_fn, &fa);
	if (rc < 0)
		return rc;
	return fa.found ? 0 : -ENODEV;
}

/* ------------------------------------------------------------------ */
/* Dispatch to slots                                                   */
/* ------------------------------------------------------------------ */

/* The bound interface of slot @k is gone (port->lock held). */
static void bind_gone(struct fsb_port *port, unsigned k)
{
	struct fsb_netdev_bind *b = &port->slot[k].sd.nd;
	b->ifindex = 0;
	b->running = false;
	fsb_port_mark(port->id, (int)k, FSB_MARK_GONE, FSB_REASON_NETDEV_REMOVED);
}

/*
 * Call @fn for every netdev slot of every port, with that port's lock
 * held (the sync routine reads and writes the same bindings).  Runs on
 * the control thread with ctx->lock held.
 */
typedef void (*slot_fn)(struct fsb_port *port, unsigned k,
			struct fsb_netdev_bind *b, void *arg);

struct netdev_each {
	slot_fn fn;
	void *arg;
};

static void netdev_slot_filter(struct fsb_port *port, unsigned k, void *arg)
{
	const struct netdev_each *ne = arg;
	if (port->slot[k].sd.nd.used)
		ne->fn(port, k, &port->slot[k].sd.nd, ne->arg);
}

static void netdev_slots_each(struct fsb_ctx *ctx, slot_fn fn, void *arg)
{
	struct netdev_each ne = { fn, arg };
	fsb_port_slots_each(ctx, netdev_slot_filter, &ne);
}

struct link_arg {
	const struct fsb_netdev_info *nd;
	bool del;
};

/* Route one link event to a netdev slot it concerns. */
static void link_event_slot(struct fsb_port *port, unsigned k,
			    struct fsb_netdev_bind *b, void *arg)
{
	const struct link_arg *la = arg;
	const struct fsb_netdev_info *nd = la->nd;

	if (b->ifindex && b->ifindex == nd->ifindex) {
		if (la->del) {
			bind_gone(port, k);
			return;
		}
		if (nd->ifname[0] && strcmp(b->ifname, nd->ifname)) {
			fsb_log(FSB_LOG_NOTICE, "%s: %s renamed to %s; following it",
				port->slot[k].sd.name, b->ifname, nd->ifname);
			snprintf(b->ifname, sizeof(b->ifname), "%s", nd->ifname);
		}
		bool run = nd_running(nd);
		if (run != b->running) {
			b->running = run;
			fsb_port_mark(port->id, (int)k,
				      run ? FSB_MARK_LINK_UP : FSB_MARK_LINK_DOWN,
				      run ? FSB_REASON_LINK_UP : FSB_REASON_LINK_DOWN);
		}
	} else if (!la->del && !b->ifindex && fsb_netdev_match(b, nd) &&
		   !fsb_netdev_claimed(nd->ifindex)) {
		fsb_port_mark(port->id, (int)k, FSB_MARK_APPEARED,
			      FSB_REASON_NETDEV_ADDED);
	}
}

static void link_event(struct fsb_ctx *ctx, const struct fsb_netdev_info *nd,
		       bool del)
{
	struct link_arg la = { nd, del };
	netdev_slots_each(ctx, link_event_slot, &la);
}

#define RESYNC_MAX_LINKS 4096

struct resync_arg {
	struct fsb_ctx *ctx;
	int seen[RESYNC_MAX_LINKS];
	unsigned nseen;
};

static void resync_fn(const struct fsb_netdev_info *nd, void *arg)
{
	struct resync_arg *ra = arg;
	if (ra->nseen < RESYNC_MAX_LINKS)
		ra->seen[ra->nseen++] = nd->ifindex;
	link_event(ra->ctx, nd, false);
}

static void resync_gone_slot(struct fsb_port *port, unsigned k,
			     struct fsb_netdev_bind *b, void *arg)
{
	const struct resync_arg *ra = arg;
	if (!b->ifindex)
		return;
	for (unsigned s = 0; s < ra->nseen; s++)
		if (ra->seen[s] == b->ifindex)
			return;
	bind_gone(port, k);
}

/* After ENOBUFS: rebuild what we know from a dump. */
static void resync(struct fsb_ctx *ctx)
{
	struct resync_arg *ra = calloc(1, sizeof(*ra));
	if (!ra)
		return;
	ra->ctx = ctx;
	atomic_fetch_add(&mon.resyncs, 1);
	FSB_LOG_RL(FSB_LOG_WARNING,
		   "rtnetlink: events were lost (ENOBUFS); resyncing from a link dump");
	if (links_dump(resync_fn, ra) < 0) {
		free(ra);
		return;
	}
	/* bound slots whose interface is not in the dump: gone */
	if (ra->nseen < RESYNC_MAX_LINKS)
		netdev_slots_each(ctx, resync_gone_slot, ra);
	free(ra);
}

static int monitor_cb(const struct nlmsghdr *nlh, void *data)
{
	struct fsb_ctx *ctx = data;
	struct fsb_netdev_info nd;
	bool del;
	atomic_fetch_add(&mon.msgs, 1);
	int r = fsb_netlink_parse_link(nlh, &nd, &del);
	if (r < 0) {
		atomic_fetch_add(&mon.bad, 1);
		FSB_LOG_RL(FSB_LOG_WARNING,
			   "rtnetlink: malformed link message ignored (type %u, len %u)",
			   nlh->nlmsg_type, nlh->nlmsg_len);
	} else if (r > 0) {
		link_event(ctx, &nd, del);
	}
	return MNL_CB_OK;
}

/* Process a buffer of netlink messages as the monitor would (tests feed
 * crafted buffers through here). */
void fsb_netlink_process(struct fsb_ctx *ctx, const void *buf, size_t len)
{
	const struct nlmsghdr *nlh = buf;
	int left = (int)len;
	pthread_mutex_lock(&ctx->lock);
	/* Walk the messages ourselves: mnl_cb_run() stops silently at a
	 * truncated one, and we want it counted. */
	while (mnl_nlmsg_ok(nlh, left)) {
		if (nlh->nlmsg_type >= NLMSG_MIN_TYPE)
			monitor_cb(nlh, ctx);
		nlh = mnl_nlmsg_next(nlh, &left);
	}
	if (left > 0) {
		atomic_fetch_add(&mon.bad, 1);
		FSB_LOG_RL(FSB_LOG_WARNING,
			   "rtnetlink: %d trailing bytes of a truncated message ignored",
			   left);
	}
	pthread_mutex_unlock(&ctx->lock);
}

/* Deferred from on_readable: runs on the control thread, loop lock
 * released, so it may take ctx->lock and the port locks. */
static void drain(struct fsb_ctx *ctx)
{
	for (;;) {
		ssize_t n = recv(fsb_nlmon_fd(&mon.sock), mon.sock.buf, mon.sock.buflen,
				 MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				pthread_mutex_lock(&ctx->lock);
				resync(ctx);
				pthread_mutex_unlock(&ctx->lock);
				continue;
			}
			if (errno != EAGAIN)
				FSB_LOG_RL(FSB_LOG_WARNING, "rtnetlink: recv: %s",
					   strerror(errno));
			return;
		}
		if (n == 0)
			return;
		fsb_netlink_process(ctx, mon.sock.buf, (size_t)n);
	}
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	fsb_ctl_defer(drain);
}

int fsb_nlmon_open(struct fsb_nlmon *m, struct ev_loop *loop, int bus,
		   unsigned groups, size_t buflen, int rcvbuf, bool passcred,
		   void (*cb)(struct ev_loop *, struct ev_io *, int))
{
	int e;
	memset(m, 0, sizeof(*m));
	m->buflen = buflen;
	m->buf = malloc(buflen);
	m->io = malloc(sizeof(*m->io));
	if (!m->buf || !m->io) {
		e = ENOMEM;
		goto fail;
	}
	m->nl = mnl_socket_open2(bus, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!m->nl || mnl_socket_bind(m->nl, groups, MNL_SOCKET_AUTOPID) < 0) {
		e = errno;
		goto fail;
	}
	int fd = mnl_socket_get_fd(m->nl), one = 1;
	if (passcred &&
	    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
		e = errno;
		goto fail;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	ev_io_init(m->io, cb, fd, EV_READ);
	ev_io_start(loop, m->io);
	return 0;
fail:
	fsb_nlmon_close(m, NULL);
	return -e;
}

void fsb_nlmon_close(struct fsb_nlmon *m, struct ev_loop *loop)
{
	if (m->nl) {
		if (loop && m->io && ev_is_active(m->io))
			ev_io_stop(loop, m->io);
		mnl_socket_close(m->nl);
		m->nl = NULL;
	}
	free(m->io);
	m->io = NULL;
	free(m->buf);
	m->buf = NULL;
}

int fsb_nlmon_fd(const struct fsb_nlmon *m)
{
	return m->nl ? mnl_socket_get_fd(m->nl) : -1;
}

int fsb_nlmon_rcvbuf(struct fsb_nlmon *m, int bytes)
{
	if (!m->nl)
		return -ENOTCONN;
	return setsockopt(mnl_socket_get_fd(m->nl), SOL_SOCKET, SO_RCVBUFFORCE,
			  &bytes, sizeof(bytes)) < 0 ? -errno : 0;
}

int fsb_netlink_start(struct fsb_ctx *ctx, struct ev_loop *loop)
{
	(void)ctx;
	return fsb_nlmon_open(&mon.sock, loop, NETLINK_ROUTE, RTMGRP_LINK,
			      NL_BUFLEN, 4 << 20, false, on_readable);
}

void fsb_netlink_stop(struct ev_loop *loop)
{
	fsb_nlmon_close(&mon.sock, loop);
}

int fsb_netlink_test_rcvbuf(int bytes)
{
	return fsb_nlmon_rcvbuf(&mon.sock, bytes);
}

void fsb_netlink_counters(uint64_t *msgs, uint64_t *bad, uint64_t *resyncs)
{
	*msgs = atomic_load(&mon.msgs);
	*bad = atomic_load(&mon.bad);
	*resyncs = atomic_load(&mon.resyncs);
}
