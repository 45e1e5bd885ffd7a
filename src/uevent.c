/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uevent.c - the kobject uevent monitor: devices coming and going, as
 * the driver core tells user space.
 *
 * Every device the kernel adds to or removes from sysfs raises a
 * "kobject uevent": a datagram on a NETLINK_KOBJECT_UEVENT socket of
 * the form "ACTION@DEVPATH\0KEY=VALUE\0...", the keys including ACTION,
 * DEVPATH, SUBSYSTEM and a SEQNUM, plus what the subsystem adds:
 * INTERFACE and IFINDEX for a netdev, PCI_SLOT_NAME ("0000:00:03.0")
 * for a PCI function.  A hot-unplugged VF raises "remove" for its PCI
 * function (after "remove" for its netdev, if a kernel driver had one);
 * its return raises "add".  For a VF held through VFIO there is no
 * netdev and no rtnetlink message at all: this is the kernel's only
 * word on it besides the VFIO request (vfio.c).
 *
 * One socket per process, read by the control thread's loop.  Like
 * every source it only tells: an add or a remove becomes a signal for
 * the router (route.c), which knows the slots:
 *
 *   remove, net, INTERFACE (and IFINDEX)  -> GONE     (uevent-remove)
 *   add,    net, INTERFACE (and IFINDEX)  -> APPEARED (uevent-add)
 *   remove, pci, PCI_SLOT_NAME            -> GONE
 *   add,    pci, PCI_SLOT_NAME            -> APPEARED
 *   ENOBUFS                               -> LOST (uevent-remove)
 *
 * For a netdev the rtnetlink source usually reports the same removal;
 * the router lets both reach the slot, the first mark wins and the
 * later one is counted as dup_signals.
 *
 * What the kernel does, and what we do about it:
 *   - Multicast group 1 carries the kernel's own messages; group 2 is
 *     where udevd re-broadcasts them after processing, in its own
 *     "libudev" format (a magic header, then properties).  We listen on
 *     group 1 only: we want the event as early as possible and do not
 *     depend on udevd running (it does not in most guests and
 *     containers).  A libudev-format message reaching us anyway is
 *     counted and skipped.
 *   - Anyone with CAP_NET_ADMIN can send to group 1 as well.  The
 *     source address's nl_pid is set by the kernel and is 0 only for the
 *     kernel (a user socket cannot bind port id 0), so messages with
 *     another nl_pid are dropped and counted.  With SO_PASSCRED we also
 *     require the credentials' uid 0.  (Uevents injected through the
 *     kernel's own uevent socket, as container managers do, arrive with
 *     nl_pid 0 too; only a process privileged over this netns can do
 *     that, so we accept them as the kernel's word.)
 *   - Network namespaces: a netdev's uevents go only to the netns that
 *     owns the device.  Other uevents (pci, vfio, block...) go to every
 *     netns owned by the initial user namespace, and to no other.  The
 *     socket is opened when the control thread starts, in the netns the
 *     process is in at fsb_ctx_new(), the ports' netns.
 *   - SEQNUM is one global counter for all uevents of the machine.  A
 *     netns sees only some of them, so gaps are normal and tell nothing;
 *     they are counted for diagnosis only.  Loss shows as ENOBUFS.
 *   - Multicast netlink overflows (ENOBUFS) under a burst of events,
 *     e.g. a udevadm trigger or a flood of "change" events.  Then we say
 *     so (LOST) and keep listening; the router resyncs from what the
 *     kernel says now: netdevs from an rtnetlink dump, PCI functions
 *     from sysfs (fsb_uevent_pci_present).  A deep receive buffer makes
 *     all this rare.
 *   - Messages are at most a few KiB (the kernel builds them in 2 KiB
 *     of environment); a datagram larger than our buffer comes back
 *     with MSG_TRUNC and is counted and skipped, never half-parsed.
 *   - Anything malformed (no NUL at the end, no '@' header, a header
 *     that disagrees with ACTION/DEVPATH, a missing key, a key twice, a
 *     bad number, an oversized name) is counted, logged (rate-limited)
 *     with what was wrong, and skipped.
 *
 * "change", "move", "bind", "unbind", "online" and "offline" are parsed
 * and counted but say nothing to the router: a rename (move) is
 * followed by rtnetlink, and driver (un)binding of a VFIO device is the
 * VFIO request's business.  So a flood of change events stays cheap: it
 * never reaches a lock.
 */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <libmnl/libmnl.h>
#include <limits.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fsb_private.h"
#include "nlmon.h"
#include "uevent.h"

/* Group 1: the kernel's messages (group 2 is udevd's). */
#define UEV_GROUP_KERNEL 1
/* Kernel uevents fit in 2 KiB of environment plus the header; anything
 * larger than this is not one (MSG_TRUNC, counted). */
#define UEV_BUFLEN (16 * 1024)
/* Messages per loop turn: the watcher is level-triggered, so the loop
 * comes straight back for the rest, but a sync pass runs in between
 * and a flood of change events cannot hold a failover back. */
#define UEV_BUDGET 256
#define UEV_RCVBUF (4 << 20)

static struct {
	struct fsb_nlmon sock;
	fsb_devsignal_fn fn;
	void *arg;
	_Atomic uint64_t msgs, events, foreign, udev, bad, lost, seq_gaps;
	_Atomic uint64_t last_seq;
} mon;

/* ------------------------------------------------------------------ */
/* Parsing                                                             */
/* ------------------------------------------------------------------ */

static int parse_fail(struct fsb_uevent *ev, const char *why)
{
	ev->err = why;
	return -EBADMSG;
}

/* Decimal without sign, spaces or overflow. */
static bool parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static enum fsb_uevent_action action_of(const char *s)
{
	static const struct {
		const char *name;
		enum fsb_uevent_action a;
	} tab[] = {
		{ "add", FSB_UEVENT_ADD },
		{ "remove", FSB_UEVENT_REMOVE },
		{ "change", FSB_UEVENT_CHANGE },
		{ "move", FSB_UEVENT_MOVE },
	};
	for (unsigned i = 0; i < FSB_ARRAY_SIZE(tab); i++)
		if (strcmp(s, tab[i].name) == 0)
			return tab[i].a;
	return FSB_UEVENT_OTHER;
}

int fsb_uevent_parse(const void *buf, size_t len, struct fsb_uevent *ev)
{
	static const char udev_magic[] = "libudev";  /* 8 bytes with NUL */
	const char *p = buf, *end = p + len;

	memset(ev, 0, sizeof(*ev));
	if (len >= sizeof(udev_magic) &&
	    memcmp(p, udev_magic, sizeof(udev_magic)) == 0) {
		ev->err = "libudev-format message (udevd's), not the kernel's";
		return -ENOMSG;
	}
	if (len == 0)
		return parse_fail(ev, "empty message");
	if (p[len - 1] != '\0')
		return parse_fail(ev, "not NUL-terminated (truncated?)");

	/* "ACTION@DEVPATH" */
	const char *hdr = p, *at = strchr(hdr, '@');
	size_t hlen = strlen(hdr);
	if (!at || at == hdr || at[1] != '/')
		return parse_fail(ev, "no ACTION@DEVPATH header");
	size_t halen = (size_t)(at - hdr);

	const char *devpath = NULL, *action = NULL;
	bool have_seq = false;
	for (p = hdr + hlen + 1; p < end; p += strlen(p) + 1) {
		size_t flen = strlen(p);
		if (flen == 0)
			return parse_fail(ev, "empty field");
		const char *eq = strchr(p, '=');
		if (!eq || eq == p)
			return parse_fail(ev, "field without KEY=");
		size_t klen = (size_t)(eq - p);
		const char *val = eq + 1;
#define KEY_IS(k) (klen == sizeof(k) - 1 && memcmp(p, k, klen) == 0)
#define SET_ONCE(dst, k)                                                \
		do {                                                    \
			if (dst)                                        \
				return parse_fail(ev, "duplicate " k);  \
			dst = val;                                      \
		} while (0)
		if (KEY_IS("ACTION")) {
			SET_ONCE(action, "ACTION");
		} else if (KEY_IS("DEVPATH")) {
			SET_ONCE(devpath, "DEVPATH");
		} else if (KEY_IS("SUBSYSTEM")) {
			SET_ONCE(ev->subsystem, "SUBSYSTEM");
		} else if (KEY_IS("INTERFACE")) {
			SET_ONCE(ev->interface, "INTERFACE");
			size_t n = strlen(val);
			if (n == 0 || n > 15 || strchr(val, '/'))
				return parse_fail(ev, "bad INTERFACE");
		} else if (KEY_IS("PCI_SLOT_NAME")) {
			SET_ONCE(ev->pci_slot, "PCI_SLOT_NAME");
			size_t n = strlen(val);
			if (n == 0 || n > 15 || strchr(val, '/'))
				return parse_fail(ev, "bad PCI_SLOT_NAME");
		} else if (KEY_IS("IFINDEX")) {
			uint64_t v;
			if (ev->ifindex)
				return parse_fail(ev, "duplicate IFINDEX");
			if (!parse_u64(val, &v) || v == 0 || v > INT_MAX)
				return parse_fail(ev, "bad IFINDEX");
			ev->ifindex = (int)v;
		} else if (KEY_IS("SEQNUM")) {
			if (have_seq)
				return parse_fail(ev, "duplicate SEQNUM");
			if (!parse_u64(val, &ev->seqnum))
				return parse_fail(ev, "bad SEQNUM");
			have_seq = true;
		}
#undef SET_ONCE
#undef KEY_IS
	}
	if (!action)
		return parse_fail(ev, "no ACTION");
	if (!devpath)
		return parse_fail(ev, "no DEVPATH");
	if (!ev->subsystem)
		return parse_fail(ev, "no SUBSYSTEM");
	if (!have_seq)
		return parse_fail(ev, "no SEQNUM");
	if (strlen(action) != halen || memcmp(action, hdr, halen) != 0 ||
	    strcmp(devpath, at + 1) != 0)
		return parse_fail(ev, "header disagrees with ACTION/DEVPATH");
	ev->action_str = action;
	ev->devpath = devpath;
	ev->action = action_of(action);
	return 0;
}

/* ------------------------------------------------------------------ */
/* What the kernel says now                                            */
/* ------------------------------------------------------------------ */

/* A name that is one path component. */
static bool component_ok(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n < 16 && !strchr(s, '/') && strcmp(s, ".") &&
	       strcmp(s, "..");
}

int fsb_uevent_pci_present(const char *addr)
{
	char path[64];
	if (!component_ok(addr))
		return -EINVAL;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", addr);
	if (access(path, F_OK) == 0)
		return 1;
	return errno == ENOENT ? 0 : -errno;
}

/* ------------------------------------------------------------------ */
/* Signals                                                             */
/* ------------------------------------------------------------------ */

/* An add or remove of a netdev or a PCI function -> one signal. */
static void event_signal(const struct fsb_uevent *ev, fsb_devsignal_fn fn,
			 void *arg)
{
	bool rm = ev->action == FSB_UEVENT_REMOVE;
	struct fsb_devsignal sig = {
		.what = rm ? FSB_DEVSIG_GONE : FSB_DEVSIG_APPEARED,
		.why = rm ? FSB_REASON_UEVENT_REMOVE : FSB_REASON_UEVENT_ADD,
		.source = FSB_DEVSIG_SRC_UEVENT, .when_ns = fsb_now_ns(),
	};
	if (strcmp(ev->subsystem, "pci") == 0) {
		/* PCI_SLOT_NAME, else the last DEVPATH component */
		const char *slash = strrchr(ev->devpath, '/');
		const char *pci = ev->pci_slot ? ev->pci_slot : slash + 1;
		if (!component_ok(pci))
			return;
		snprintf(sig.id.pci_addr, sizeof(sig.id.pci_addr), "%s", pci);
	} else if (strcmp(ev->subsystem, "net") == 0 && ev->interface) {
		snprintf(sig.id.ifname, sizeof(sig.id.ifname), "%s",
			 ev->interface);
		sig.id.ifindex = ev->ifindex;
	} else {
		return;
	}
	fn(arg, &sig);
}

int fsb_uevent_process(const void *buf, size_t len, uint32_t sender_pid,
		       fsb_devsignal_fn fn, void *arg)
{
	atomic_fetch_add(&mon.msgs, 1);
	if (sender_pid != 0) {
		atomic_fetch_add(&mon.foreign, 1);
		FSB_LOG_RL(FSB_LOG_WARNING,
			   "uevent: message from user space (port id %u) ignored",
			   sender_pid);
		return -EPERM;
	}
	struct fsb_uevent ev;
	int rc = fsb_uevent_parse(buf, len, &ev);
	if (rc == -ENOMSG) {
		atomic_fetch_add(&mon.udev, 1);
		return rc;
	}
	if (rc < 0) {
		atomic_fetch_add(&mon.bad, 1);
		FSB_LOG_RL(FSB_LOG_WARNING,
			   "uevent: malformed message ignored (%zu bytes): %s",
			   len, ev.err);
		return rc;
	}
	atomic_fetch_add(&mon.events, 1);
	uint64_t prev = atomic_exchange(&mon.last_seq, ev.seqnum);
	if (prev && ev.seqnum != prev + 1)
		atomic_fetch_add(&mon.seq_gaps, 1);
	if (ev.action == FSB_UEVENT_ADD || ev.action == FSB_UEVENT_REMOVE)
		event_signal(&ev, fn, arg);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The socket                                                          */
/* ------------------------------------------------------------------ */

/* ENOBUFS: say so; the router asks the kernel what is there now. */
static void events_lost(void)
{
	atomic_fetch_add(&mon.lost, 1);
	atomic_store(&mon.last_seq, 0);
	FSB_LOG_RL(FSB_LOG_WARNING,
		   "uevent: events were lost (ENOBUFS); resyncing from the kernel's current state");
	struct fsb_devsignal sig = {
		.what = FSB_DEVSIG_LOST, .why = FSB_REASON_UEVENT_REMOVE,
		.source = FSB_DEVSIG_SRC_UEVENT, .when_ns = fsb_now_ns(),
	};
	mon.fn(mon.arg, &sig);
}

/* Deferred from the watcher: control thread, loop lock released. */
static void drain(void *arg)
{
	(void)arg;
	int fd = fsb_nlmon_fd(&mon.sock);
	for (unsigned i = 0; i < UEV_BUDGET; i++) {
		struct sockaddr_nl sa;
		union {
			char b[CMSG_SPACE(sizeof(struct ucred))];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov = { mon.sock.buf, mon.sock.buflen };
		struct msghdr mh = {
			.msg_name = &sa, .msg_namelen = sizeof(sa),
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf.b, .msg_controllen = sizeof(cbuf.b),
		};
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				events_lost();
				continue;
			}
			if (errno != EAGAIN)
				FSB_LOG_RL(FSB_LOG_WARNING, "uevent: recvmsg: %s",
					   strerror(errno));
			return;
		}
		uint32_t pid = sa.nl_pid;
		if (mh.msg_namelen != sizeof(sa) || sa.nl_family != AF_NETLINK)
			pid = UINT32_MAX;       /* cannot tell: not trusted */
		/* Credentials: uid 0 (and nl_pid 0) or it is not ours. */
		const struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		if (pid == 0) {
			if (!c || c->cmsg_level != SOL_SOCKET ||
			    c->cmsg_type != SCM_CREDENTIALS ||
			    c->cmsg_len < CMSG_LEN(sizeof(struct ucred))) {
				pid = UINT32_MAX;
			} else {
				struct ucred cr;
				memcpy(&cr, CMSG_DATA(c), sizeof(cr));
				if (cr.uid != 0)
					pid = UINT32_MAX;
			}
		}
		if (mh.msg_flags & MSG_TRUNC) {
			atomic_fetch_add(&mon.msgs, 1);
			atomic_fetch_add(pid ? &mon.foreign : &mon.bad, 1);
			FSB_LOG_RL(FSB_LOG_WARNING,
				   "uevent: oversized message (%zd bytes) ignored",
				   n);
			continue;
		}
		fsb_uevent_process(mon.sock.buf, (size_t)n, pid, mon.fn, mon.arg);
	}
}

int fsb_uevent_start(fsb_devsignal_fn fn, void *arg)
{
	mon.fn = fn;
	mon.arg = arg;
	atomic_store(&mon.last_seq, 0);
	/* credentials on: only the kernel's messages are taken */
	return fsb_nlmon_open(&mon.sock, NETLINK_KOBJECT_UEVENT,
			      UEV_GROUP_KERNEL, UEV_BUFLEN, UEV_RCVBUF, true,
			      drain, NULL);
}

void fsb_uevent_stop(void)
{
	fsb_nlmon_close(&mon.sock);
}

int fsb_uevent_test_rcvbuf(int bytes)
{
	return fsb_nlmon_rcvbuf(&mon.sock, bytes);
}

void fsb_uevent_counters(struct fsb_uevent_counters *c)
{
	c->msgs = atomic_load(&mon.msgs);
	c->events = atomic_load(&mon.events);
	c->foreign = atomic_load(&mon.foreign);
	c->udev = atomic_load(&mon.udev);
	c->bad = atomic_load(&mon.bad);
	c->lost = atomic_load(&mon.lost);
	c->seq_gaps = atomic_load(&mon.seq_gaps);
}
