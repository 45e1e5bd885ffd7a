/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fsb-peer - the outside counter of the netns failover tests, demo and
 * bench (design.md §6, "Measure from outside").
 *
 * It sits in the peer netns at the far end of the veth pairs whose near
 * ends are a port's sub-devices, and counts what arrives on each listed
 * interface, with the sequence numbers fsb-fwd's txonly writes after a
 * 42-byte Eth/IPv4/UDP header (struct seq_hdr, magic "FSB1").  Frames
 * without that header (DPDK testpmd's txonly, kernel noise) are counted
 * too, so timing works for any sender; loss is computed for ours only.
 * Optionally an rtnetlink listener in the DUT netns timestamps
 * RTM_NEWLINK/RTM_DELLINK and IFF_RUNNING changes of the watched
 * interfaces: those are the t0s of switchover and switch-back.  All
 * times are CLOCK_MONOTONIC, so event and capture times compare.
 *
 * How it measures, and why:
 *  - One AF_PACKET socket for the whole peer netns, not bound to an
 *    interface; frames are mapped to --iface slots by sll_ifindex.  The
 *    veth peer of a deleted "vf" is deleted with it and comes back with
 *    a new ifindex: a socket bound to the old one would be dead, and a
 *    re-bind after the RTM_NEWLINK would miss the first frames on the
 *    new interface.  An unbound socket sees them from the first one.
 *    PACKET_IGNORE_OUTGOING (and a pkttype check) keeps our own netns's
 *    transmissions out.  A TPACKET_V3 ring (recvmmsg() as a fallback)
 *    and a BPF snap length of SNAP bytes keep the capture at ~1-2 % of a
 *    CPU at 200 kpps: it shares CPU 0 with the control thread of the
 *    port under test, and a heavier capture (recvmmsg: ~25 %) was seen
 *    to delay that thread, i.e. to inflate what it measures.
 *  - Frame times are the kernel's receive timestamps (SO_TIMESTAMPNS,
 *    CLOCK_REALTIME) converted to CLOCK_MONOTONIC with an offset sampled
 *    every loop, so they do not depend on when this process got to read
 *    the frame.  Event times are taken by a listener thread at SCHED_FIFO
 *    (when allowed) right after recv(): it preempts the control thread of
 *    the port under test, which wakes up on the same netlink message.
 *  - Because an event can be posted after frames that followed it were
 *    already counted, each interface keeps its last RING_SZ frames; a new
 *    event looks back into them for the first frame at or after it.
 *  - Loss = (max_seq + 1) - distinct seq numbers seen on any path.  Each
 *    event gets the seq numbers lost "after" it: those above the highest
 *    seq received before the event and up to that of the next event
 *    (frames queued in a deleted interface's ring are lost there).
 *  - Path changes: the path is the interface of the last PATH_RUN
 *    consecutive new frames with our header (a sequence number above
 *    every one seen so far: the old path's stragglers, which a backend
 *    like testpmd forwards after the new path's first frames, are not a
 *    switch back to it); each change records the gap
 *    from the old path's last frame to the new one's first.  Silences:
 *    the longest times with no frame on any path, overall and per event
 *    window (up to the next event).
 *
 * Output: human lines (FIRST/EVENT/PATH live, a summary at the end) and,
 * with --json, one JSON object laid out one array element per line
 * (a line per iface, per event, per path change), so that the shell
 * scripts can read it with awk.
 * Usage: see usage() below.  Exit status: 0 (SIGINT/SIGTERM included),
 * 1 on a runtime failure, 2 on a bad flag.
 *
 * Test tool only: libc and the kernel headers, nothing else.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* what fsb-fwd's txonly writes after the UDP header: struct seq_hdr,
 * SEQ_MAGIC ("FSB1", host order), HDR_LEN */
#include "fsb-check.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

#define MAX_IFACES 8
#define MAX_WATCH 8
#define MAX_EVENTS 65536     /* a chaos run of 10,000 faults makes ~16,000 */
#define MAX_CHANGES 256
#define MAX_PORTS 8                   /* seq_hdr.port values tracked */
#define MAX_LINKTAB 1024                /* rtnetlink link table */
#define MAX_GAPS_OUT 64               /* gaps listed in the output */
#define RING_SZ 65536u                /* recent frames kept per iface */
#define BATCH 64                      /* frames per recvmmsg (fallback) */
/* The capture ring must ride out a stalled sink: a loaded 2-core CI
 * machine deschedules it for hundreds of ms.  The kernel retires a
 * block when it is full or RING_TOV_MS after it was opened, whichever
 * comes first, so the ring holds RING_BLOCKS x RING_TOV_MS of traffic
 * at any rate that fills no block sooner (1 MiB per 20 ms: 50 MB/s,
 * ~250 kpps of 128-byte snaps): 2.5 s.  With 1 ms blocks (as before)
 * it held 64 ms, and a stall dropped frames that the loss figure then
 * blamed on the port.  Frame times are the kernel's, so a later hand
 * over costs no precision. */
#define RING_BLOCK (1u << 20)         /* TPACKET_V3 block: 1 MiB */
#define RING_BLOCKS 128               /* 128 MiB of capture ring */
#define RING_TOV_MS 20                /* a block is handed over within 20 ms */
#define SNAP 128                      /* bytes copied per frame */
#define PATH_RUN 16                   /* consecutive frames = path change */
#define MAX_BUCKETS 8640000u          /* one day of 10 ms buckets */
#define SEQ_CAP_BITS (1ull << 30)     /* 128 MiB per bitmap */

/* ---- options ---- */

static struct {
	const char *ns, *watch_ns;
	const char *ifnames[MAX_IFACES];
	unsigned nif;
	const char *watch[MAX_WATCH];
	unsigned nwatch;
	double duration;
	bool json, rt;
	uint64_t bucket_ns;           /* --bucket-ms */
	const char *records;          /* --records FILE */
	FILE *out;                    /* human output */
} opt = { .rt = true, .bucket_ns = 100000000ull };
#define BUCKET_NS opt.bucket_ns

/* ---- state of the capture (packet thread only, unless noted) ---- */

struct bits {
	uint64_t *w;
	uint64_t nwords;
};

struct rec {
	uint64_t ts;
	int64_t seq;                  /* seq of the tracked port, else -1 */
	int64_t runmax;               /* max such seq on this iface so far */
	bool fsb;                     /* carried a seq_hdr */
};

struct iface {
	const char *name;
	uint64_t frames, fsb, other, bytes;
	uint64_t first_ns, last_ns, first_fsb_ns, last_fsb_ns;  /* 0 = none */
	uint64_t *buckets;            /* all frames per 100 ms */
	size_t nbuckets;
	bool have_seq;
	uint64_t seq_min, seq_max, distinct, dups;
	struct bits seen[MAX_PORTS];
	int64_t runmax;
	struct rec *ring;
	uint64_t nrec;
	unsigned pend_any, pend_fsb;  /* oldest event maybe unresolved */
};

struct event {
	/* written by the listener thread before it publishes nposted */
	uint64_t ts;
	char type[16], ifname[IFNAMSIZ], oldname[IFNAMSIZ];
	int ifindex;
	bool resync;
	/* packet thread only */
	uint64_t first_any[MAX_IFACES], first_fsb[MAX_IFACES];  /* 0 = none */
	int64_t boundary;             /* max tracked seq received before ts */
	bool approx;                  /* the look-back ran out of ring */
};

struct change {
	uint64_t ts;                  /* first frame on the new path */
	uint64_t prev;                /* last one on the old path before it */
	int from, to;
};

static struct iface ifs[MAX_IFACES];
static struct event events[MAX_EVENTS];
static _Atomic unsigned nposted;      /* listener -> packet thread */
static _Atomic unsigned events_dropped;
static unsigned nseen;
/* The longest silences between two consecutive frames, over every
 * path together: the outage as the peer saw it.  [0]: frames with our
 * seq_hdr, [1]: any frame. */
#define NSIL 3
struct silence {
	uint64_t from, to;            /* to = 0: still silent at the end */
	int from_if, to_if;
};
static struct silence sil[2][NSIL];
/* Every silence of at least SIL_MIN_NS, to give each event the longest
 * one in its window (the outage after it, stalls included). */
#define SIL_MIN_NS 200000ull
#define MAX_SILS 65536
static struct {
	uint64_t from, to;
} *sils[2];
static unsigned nsils[2];
static uint64_t sils_overflow[2];
static uint64_t sil_last[2];
static int sil_last_if[2];
static struct change changes[MAX_CHANGES];
static unsigned nchanges, nchanges_total;
static int path_cur = -1, path_cand = -1;
static unsigned path_cnt;
static uint64_t path_cand_ts, path_cand_prev;

static struct bits gseen[MAX_PORTS];
static uint64_t gdistinct[MAX_PORTS], gdups[MAX_PORTS];
/* first arrivals below the highest seq already seen of their port: a
 * frame that left the old path after the new path's first ones */
static uint64_t greordered[MAX_PORTS];
static int64_t gmax[MAX_PORTS] = { -1, -1, -1, -1, -1, -1, -1, -1 };
static int track_port = -1;
static uint64_t bad_port, out_of_range, unknown_if, capture_drops, short_frames;

static uint64_t start_ns;
static int64_t rt_off;                /* CLOCK_REALTIME - CLOCK_MONOTONIC, ns */
static volatile sig_atomic_t got_signal;
static _Atomic bool stop_listener;
static bool rt_ok;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- small helpers ---- */

static uint64_t ts_ns(clockid_t c)
{
	struct timespec t;
	clock_gettime(c, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static uint64_t mono_ns(void)
{
	return ts_ns(CLOCK_MONOTONIC);
}

static void sample_rt_off(void)
{
	uint64_t a = mono_ns(), r = ts_ns(CLOCK_REALTIME), b = mono_ns();
	rt_off = (int64_t)r - (int64_t)(a + (b - a) / 2);
}

static double rel_s(uint64_t t)
{
	return t >= start_ns ? (double)(t - start_ns) / 1e9 : -(double)(start_ns - t) / 1e9;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&out_lock);
	va_start(ap, fmt);
	vfprintf(opt.out, fmt, ap);
	va_end(ap);
	fflush(opt.out);
	pthread_mutex_unlock(&out_lock);
}

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...)
{
	va_list ap;
	fputs("fsb-peer: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: fsb-peer [--ns NETNS] --iface IF [--iface IF ...]\n"
"                [--watch-ns NETNS] [--watch IF ...] [--duration S] [--json]\n"
"                [--bucket-ms MS] [--records FILE]\n"
"\n"
"Count, from outside, the frames a port sends: per interface packets,\n"
"first/last time, per-bucket counts, and fsb-fwd's sequence numbers (loss,\n"
"duplicates); timestamp link events of watched interfaces with its own\n"
"rtnetlink listener, and give the first frame on each interface after\n"
"each event.  All times are CLOCK_MONOTONIC.\n"
"\n"
"  --ns NETNS        capture in this netns (/var/run/netns/NETNS, or a\n"
"                    path); default: the current one\n"
"  --iface IF        count frames received on IF (up to %d); IF need not\n"
"                    exist yet, and may be deleted and re-created\n"
"  --watch-ns NETNS  netns of the watched interfaces (default: current)\n"
"  --watch IF        report dellink, newlink, carrier-down, carrier-up\n"
"                    and rename of IF (up to %d; '*' = every interface);\n"
"                    a watched interface stays watched across renames\n"
"  --duration S      stop after S seconds (default: at SIGINT/SIGTERM)\n"
"  --json            print the result as one JSON object on stdout\n"
"                    (human lines go to stderr)\n"
"  --no-rt           do not run the listener thread at SCHED_FIFO\n"
"  --bucket-ms MS    width of the count buckets (1..1000, default 100)\n"
"  --records FILE    also write the result as fsb-drill records (one\n"
"                    per line, absolute CLOCK_MONOTONIC ns) to FILE\n"
"  -h, --help        this help\n"
"\n"
"Live lines (human stream): 'fsb-peer: ready start_mono_ns=N ...' once\n"
"the sockets are open, then FIRST, EVENT and PATH lines as they happen.\n",
		MAX_IFACES, MAX_WATCH);
}

static bool bits_test(const struct bits *b, uint64_t i)
{
	uint64_t wi = i >> 6;
	return wi < b->nwords && (b->w[wi] >> (i & 63)) & 1;
}

/* 1: was set, 0: newly set, -1: out of range or no memory */
static int bits_test_set(struct bits *b, uint64_t i)
{
	if (i >= SEQ_CAP_BITS)
		return -1;
	uint64_t wi = i >> 6;
	if (wi >= b->nwords) {
		uint64_t n = b->nwords ? b->nwords : 1024;
		while (n <= wi)
			n *= 2;
		if (n > SEQ_CAP_BITS / 64)
			n = SEQ_CAP_BITS / 64;
		uint64_t *w = realloc(b->w, n * sizeof(*w));
		if (!w)
			return -1;
		memset(w + b->nwords, 0, (n - b->nwords) * sizeof(*w));
		b->w = w;
		b->nwords = n;
	}
	uint64_t m = 1ull << (i & 63);
	int old = (b->w[wi] & m) != 0;
	b->w[wi] |= m;
	return old;
}

/* ---- netns ---- */

static int ns_enter(const char *ns)
{
	char path[PATH_MAX];
	if (strchr(ns, '/'))
		snprintf(path, sizeof(path), "%s", ns);
	else
		snprintf(path, sizeof(path), "/var/run/netns/%s", ns);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(1, "cannot open netns '%s' (%s): %s", ns, path, strerror(errno));
	int saved = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (saved < 0)
		die(1, "cannot open /proc/self/ns/net: %s", strerror(errno));
	if (setns(fd, CLONE_NEWNET) < 0)
		die(1, "setns to netns '%s': %s", ns, strerror(errno));
	close(fd);
	return saved;
}

static void ns_leave(int saved)
{
	if (saved < 0)
		return;
	if (setns(saved, CLONE_NEWNET) < 0)
		die(1, "setns back to the original netns: %s", strerror(errno));
	close(saved);
}

/* ---- events (posted by the listener thread) ---- */

static void post_event(uint64_t ts, const char *type, const char *name,
		       const char *old, int ifindex, bool resync)
{
	unsigned n = atomic_load_explicit(&nposted, memory_order_relaxed);
	if (n >= MAX_EVENTS) {
		atomic_fetch_add(&events_dropped, 1);
		return;
	}
	struct event *e = &events[n];
	e->ts = ts;
	snprintf(e->type, sizeof(e->type), "%s", type);
	snprintf(e->ifname, sizeof(e->ifname), "%s", name);
	snprintf(e->oldname, sizeof(e->oldname), "%s", old ? old : "");
	e->ifindex = ifindex;
	e->resync = resync;
	atomic_store_explicit(&nposted, n + 1, memory_order_release);
	say("EVENT %.6f %s %s%s%s%s\n", rel_s(ts), type, name,
	    old ? " (was " : "", old ? old : "", old ? ")" : "");
	if (resync)
		say("  (found by a resync dump after ENOBUFS: time is the dump's)\n");
}

/* ---- rtnetlink listener ---- */

struct link {
	bool used, running, watched;
	int ifindex;
	unsigned gen;
	char name[IFNAMSIZ];
};

static struct link links[MAX_LINKTAB];
static int nl_fd = -1;
static unsigned nl_gen;
static bool nl_dumping;
static uint64_t nl_enobufs;

static bool name_watched(const char *name)
{
	for (unsigned i = 0; i < opt.nwatch; i++)
		if (strcmp(opt.watch[i], "*") == 0 || strcmp(opt.watch[i], name) == 0)
			return true;
	return false;
}

static struct link *link_find(int ifindex)
{
	for (unsigned i = 0; i < MAX_LINKTAB; i++)
		if (links[i].used && links[i].ifindex == ifindex)
			return &links[i];
	return NULL;
}

static struct link *link_alloc(void)
{
	for (unsigned i = 0; i < MAX_LINKTAB; i++)
		if (!links[i].used) {
			memset(&links[i], 0, sizeof(links[i]));
			links[i].used = true;
			return &links[i];
		}
	return NULL;
}

static int nl_request_dump(void)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifi));
	req.nh.nlmsg_type = RTM_GETLINK;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nh.nlmsg_seq = ++nl_gen;
	req.ifi.ifi_family = AF_UNSPEC;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	if (sendto(nl_fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	nl_dumping = true;
	return 0;
}

/* One RTM_NEWLINK/RTM_DELLINK.  initial: the start-up dump, which only
 * fills the table.  Attributes are length-checked; unknown ones skipped. */
static void nl_link_msg(uint64_t ts, const struct nlmsghdr *nh, bool initial)
{
	if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
		return;
	const struct ifinfomsg *ifi = NLMSG_DATA(nh);
	if (ifi->ifi_family == AF_BRIDGE)
		return;
	char name[IFNAMSIZ] = "";
	int alen = (int)IFLA_PAYLOAD(nh);
	for (const struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
		if (a->rta_type == IFLA_IFNAME) {
			size_t l = RTA_PAYLOAD(a);
			if (l > IFNAMSIZ - 1)
				l = IFNAMSIZ - 1;
			memcpy(name, RTA_DATA(a), l);
			name[l] = '\0';
			name[strnlen(name, l)] = '\0';
		}
	}
	bool resync = nl_dumping && (nh->nlmsg_flags & NLM_F_MULTI) && !initial;
	struct link *l = link_find(ifi->ifi_index);

	if (nh->nlmsg_type == RTM_DELLINK) {
		const char *n = name[0] ? name : (l ? l->name : "");
		if ((l && l->watched) || (!l && name_watched(n)))
			post_event(ts, "dellink", n, NULL, ifi->ifi_index, false);
		if (l)
			l->used = false;
		return;
	}
	bool run = (ifi->ifi_flags & IFF_RUNNING) != 0;
	if (!l) {
		l = link_alloc();
		if (!l)
			return;
		l->ifindex = ifi->ifi_index;
		snprintf(l->name, sizeof(l->name), "%s", name);
		l->watched = name_watched(name);
		l->gen = nl_gen;
		if (initial) {
			l->running = run;
			return;
		}
		if (l->watched)
			post_event(ts, "newlink", l->name, NULL, l->ifindex, resync);
	} else if (name[0] && strcmp(name, l->name) != 0) {
		char old[IFNAMSIZ];
		snprintf(old, sizeof(old), "%s", l->name);
		snprintf(l->name, sizeof(l->name), "%s", name);
		if (!l->watched)
			l->watched = name_watched(name);
		if (l->watched && !initial)
			post_event(ts, "rename", l->name, old, l->ifindex, resync);
	}
	l->gen = nl_gen;
	if (run != l->running) {
		l->running = run;
		if (l->watched && !initial)
			post_event(ts, run ? "carrier-up" : "carrier-down", l->name,
				   NULL, l->ifindex, resync);
	}
}

/* Reads what is queued.  Returns 1 when a dump finished, 0 when the
 * socket is drained, -1 on a hard error. */
static int nl_read(bool initial)
{
	static char buf[65536] __attribute__((aligned(8)));
	int done = 0;
	for (;;) {
		ssize_t n = recv(nl_fd, buf, sizeof(buf), MSG_DONTWAIT);
		uint64_t ts = mono_ns();
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return done;
			if (errno == ENOBUFS) {
				/* Events were lost: resync from a dump and
				 * report differences, marked resync. */
				nl_enobufs++;
				say("fsb-peer: rtnetlink ENOBUFS: resync with a link dump\n");
				if (!nl_dumping)
					nl_request_dump();
				continue;
			}
			say("fsb-peer: rtnetlink recv: %s\n", strerror(errno));
			return -1;
		}
		int len = (int)n;
		for (const struct nlmsghdr *nh = (const struct nlmsghdr *)buf; NLMSG_OK(nh, len);
		     nh = NLMSG_NEXT(nh, len)) {
			if (nh->nlmsg_type == NLMSG_DONE) {
				if (nl_dumping && !initial) {
					for (unsigned i = 0; i < MAX_LINKTAB; i++) {
						struct link *l = &links[i];
						if (l->used && l->gen != nl_gen) {
							if (l->watched)
								post_event(ts, "dellink", l->name, NULL,
									   l->ifindex, true);
							l->used = false;
						}
					}
				}
				nl_dumping = false;
				done = 1;
			} else if (nh->nlmsg_type == NLMSG_ERROR) {
				if (nl_dumping) {
					nl_dumping = false;
					done = 1;
				}
			} else if (nh->nlmsg_type == RTM_NEWLINK || nh->nlmsg_type == RTM_DELLINK) {
				nl_link_msg(ts, nh, initial);
			}
		}
	}
}

static void nl_open(void)
{
	nl_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (nl_fd < 0)
		die(1, "rtnetlink socket: %s", strerror(errno));
	int sz = 4 << 20;
	if (setsockopt(nl_fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(nl_fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	if (bind(nl_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die(1, "rtnetlink bind: %s", strerror(errno));
	if (nl_request_dump() < 0)
		die(1, "rtnetlink dump: %s", strerror(errno));
	uint64_t limit = mono_ns() + 2000000000ull;
	while (nl_dumping) {
		struct pollfd p = { nl_fd, POLLIN, 0 };
		if (mono_ns() > limit)
			die(1, "rtnetlink: no answer to the link dump");
		poll(&p, 1, 100);
		if (nl_read(true) < 0)
			die(1, "rtnetlink: the link dump failed");
	}
}

static void *nl_main(void *arg)
{
	(void)arg;
	if (opt.rt) {
		struct sched_param sp = { .sched_priority = 10 };
		rt_ok = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
	}
	while (!atomic_load(&stop_listener)) {
		struct pollfd p = { nl_fd, POLLIN, 0 };
		int r = poll(&p, 1, 100);
		if (r > 0 && nl_read(false) < 0)
			break;
	}
	return NULL;
}

/* ---- capture ---- */

static int pkt_fd = -1, ioc_fd = -1;
static struct {
	int ifindex, slot;
} ifmap[64];
static unsigned nifmap, ifmap_next;

static int name_slot(const char *name)
{
	for (unsigned i = 0; i < opt.nif; i++)
		if (strcmp(opt.ifnames[i], name) == 0)
			return (int)i;
	return -1;
}

/* ifindex -> --iface slot (-1: not ours).  Names are looked up in the
 * capture netns through ioc_fd, which was created there. */
static int slot_of(int ifindex)
{
	for (unsigned i = 0; i < nifmap; i++)
		if (ifmap[i].ifindex == ifindex)
			return ifmap[i].slot;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_ifindex = ifindex;
	if (ioctl(ioc_fd, SIOCGIFNAME, &ifr) < 0)
		return -1;              /* gone already: do not cache */
	int slot = name_slot(ifr.ifr_name);
	unsigned k;
	if (nifmap < 64) {
		k = nifmap++;
	} else {
		k = ifmap_next;
		ifmap_next = (ifmap_next + 1) % 64;
	}
	ifmap[k].ifindex = ifindex;
	ifmap[k].slot = slot;
	return slot;
}

/* TPACKET_V3 capture ring: no syscall and no copy per frame, which
 * keeps this tool light on the CPU it shares with the control thread of
 * the port under test.  recvmmsg() is the fallback. */
static uint8_t *ring_map;
static unsigned ring_cur;

static void ring_setup(void)
{
	int v = TPACKET_V3;
	if (setsockopt(pkt_fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) < 0)
		return;
	struct tpacket_req3 req;
	memset(&req, 0, sizeof(req));
	req.tp_block_size = RING_BLOCK;
	req.tp_block_nr = RING_BLOCKS;
	req.tp_frame_size = 2048;
	req.tp_frame_nr = RING_BLOCK / 2048 * RING_BLOCKS;
	req.tp_retire_blk_tov = RING_TOV_MS;
	if (setsockopt(pkt_fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0)
		goto fallback;
	void *m = mmap(NULL, (size_t)RING_BLOCK * RING_BLOCKS, PROT_READ | PROT_WRITE,
		       MAP_SHARED, pkt_fd, 0);
	if (m == MAP_FAILED)
		goto fallback;
	ring_map = m;
	return;
fallback:
	fprintf(stderr, "fsb-peer: note: no TPACKET_V3 ring (%s): using recvmmsg\n", strerror(errno));
	v = TPACKET_V1;
	setsockopt(pkt_fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v));
}

static void pkt_open(void)
{
	pkt_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));
	if (pkt_fd < 0)
		die(1, "packet socket: %s (need root or CAP_NET_RAW)", strerror(errno));
	int one = 1, sz = 32 << 20;
	setsockopt(pkt_fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	if (setsockopt(pkt_fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(pkt_fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(pkt_fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0)
		die(1, "SO_TIMESTAMPNS: %s", strerror(errno));
	/* Copy SNAP bytes of each frame, not the whole frame. */
	struct sock_filter snap[] = { BPF_STMT(BPF_RET | BPF_K, SNAP) };
	struct sock_fprog prog = { 1, snap };
	setsockopt(pkt_fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
	ring_setup();
	ioc_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (ioc_fd < 0)
		ioc_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (ioc_fd < 0)
		die(1, "ioctl socket: %s", strerror(errno));
}

static void path_frame(int slot, uint64_t ts)
{
	if (slot == path_cur) {
		path_cand = -1;
		path_cnt = 0;
		return;
	}
	if (slot != path_cand) {
		path_cand = slot;
		path_cnt = 0;
		path_cand_ts = ts;
		/* the old path's last frame before this one: the gap */
		path_cand_prev = path_cur >= 0 ? ifs[path_cur].last_fsb_ns : 0;
	}
	if (++path_cnt < PATH_RUN)
		return;
	if (path_cur >= 0)
		nchanges_total++;
	if (nchanges < MAX_CHANGES)
		changes[nchanges++] = (struct change){ path_cand_ts, path_cand_prev, path_cur, slot };
	say("PATH %.6f %s -> %s", rel_s(path_cand_ts),
	    path_cur >= 0 ? ifs[path_cur].name : "none", ifs[slot].name);
	if (path_cand_prev)
		say(" (gap %.3f ms)", path_cand_ts > path_cand_prev ?
		    (double)(path_cand_ts - path_cand_prev) / 1e6 : 0.0);
	say("\n");
	path_cur = slot;
	path_cand = -1;
	path_cnt = 0;
}

static void sil_add(int k, uint64_t from, uint64_t to, int from_if, int to_if)
{
	if (!to)
		return;
	uint64_t g = to - from;
	if (g >= SIL_MIN_NS) {
		if (!sils[k])
			sils[k] = calloc(MAX_SILS, sizeof(*sils[k]));
		if (sils[k] && nsils[k] < MAX_SILS) {
			sils[k][nsils[k]].from = from;
			sils[k][nsils[k]].to = to;
			nsils[k]++;
		} else {
			sils_overflow[k]++;
		}
	}
	for (int i = 0; i < NSIL; i++) {
		struct silence *s = &sil[k][i];
		if (s->from && (s->to - s->from) >= g)
			continue;
		memmove(&sil[k][i + 1], &sil[k][i], (NSIL - 1 - i) * sizeof(*s));
		*s = (struct silence){ from, to, from_if, to_if };
		return;
	}
}

static void sil_frame(int k, int slot, uint64_t ts)
{
	if (sil_last[k] && ts > sil_last[k])
		sil_add(k, sil_last[k], ts, sil_last_if[k], slot);
	if (ts > sil_last[k]) {
		sil_last[k] = ts;
		sil_last_if[k] = slot;
	}
}

static void on_frame(int slot, uint64_t ts, const uint8_t *p, size_t caplen, size_t len)
{
	struct iface *f = &ifs[slot];
	f->frames++;
	f->bytes += len;
	if (!f->first_ns) {
		f->first_ns = ts;
		say("FIRST %.6f %s\n", rel_s(ts), f->name);
	}
	if (ts > f->last_ns)
		f->last_ns = ts;
	uint64_t bk = ts > start_ns ? (ts - start_ns) / BUCKET_NS : 0;
	if (bk < MAX_BUCKETS) {
		if (bk >= f->nbuckets) {
			size_t n = f->nbuckets ? f->nbuckets : 256;
			while (n <= bk)
				n *= 2;
			uint64_t *b = realloc(f->buckets, n * sizeof(*b));
			if (b) {
				memset(b + f->nbuckets, 0, (n - f->nbuckets) * sizeof(*b));
				f->buckets = b;
				f->nbuckets = n;
			}
		}
		if (bk < f->nbuckets)
			f->buckets[bk]++;
	}

	int64_t tseq = -1;
	bool is_fsb = false;
	struct seq_hdr h;
	if (caplen >= HDR_LEN + sizeof(h)) {
		memcpy(&h, p + HDR_LEN, sizeof(h));
		is_fsb = h.magic == SEQ_MAGIC;
	} else {
		short_frames++;
	}
	sil_frame(1, slot, ts);
	if (is_fsb) {
		/* new traffic, not an old path's straggler (a frame testpmd
		 * forwarded late) nor a duplicate: only new traffic moves
		 * the path (path_frame) */
		bool fresh = true;
		sil_frame(0, slot, ts);
		f->fsb++;
		if (!f->first_fsb_ns)
			f->first_fsb_ns = ts;
		if (ts > f->last_fsb_ns)
			f->last_fsb_ns = ts;
		if (h.port >= MAX_PORTS) {
			bad_port++;
		} else {
			int r = bits_test_set(&f->seen[h.port], h.seq);
			if (r < 0) {
				out_of_range++;
			} else {
				if (r)
					f->dups++;
				else
					f->distinct++;
				if (!f->have_seq || h.seq < f->seq_min)
					f->seq_min = h.seq;
				if (!f->have_seq || h.seq > f->seq_max)
					f->seq_max = h.seq;
				f->have_seq = true;
				r = bits_test_set(&gseen[h.port], h.seq);
				if (r > 0)
					gdups[h.port]++;
				else if (r == 0)
					gdistinct[h.port]++;
				if (r == 0 && (int64_t)h.seq < gmax[h.port])
					greordered[h.port]++;
				fresh = r == 0 && (int64_t)h.seq > gmax[h.port];
				if ((int64_t)h.seq > gmax[h.port])
					gmax[h.port] = (int64_t)h.seq;
				if (track_port < 0)
					track_port = h.port;
				if (h.port == track_port) {
					tseq = (int64_t)h.seq;
					if (tseq > f->runmax)
						f->runmax = tseq;
				}
			}
		}
		if (fresh)
			path_frame(slot, ts);
	} else {
		f->other++;
	}

	struct rec *rc = &f->ring[f->nrec % RING_SZ];
	*rc = (struct rec){ ts, tseq, f->runmax, is_fsb };
	f->nrec++;

	/* first frame at or after each known event */
	while (f->pend_any < nseen && events[f->pend_any].ts <= ts) {
		if (!events[f->pend_any].first_any[slot])
			events[f->pend_any].first_any[slot] = ts;
		f->pend_any++;
	}
	if (is_fsb) {
		while (f->pend_fsb < nseen && events[f->pend_fsb].ts <= ts) {
			if (!events[f->pend_fsb].first_fsb[slot])
				events[f->pend_fsb].first_fsb[slot] = ts;
			f->pend_fsb++;
		}
	}
	/* a frame counted late that arrived before a recent event */
	if (tseq >= 0)
		for (unsigned k = nseen; k-- > 0 && events[k].ts > ts;)
			if (tseq > events[k].boundary)
				events[k].boundary = tseq;
}

/* Take in the events the listener posted: look back into each ring for
 * frames that arrived at or after the event but were counted before. */
static void absorb_events(void)
{
	unsigned n = atomic_load_explicit(&nposted, memory_order_acquire);
	for (; nseen < n; nseen++) {
		struct event *e = &events[nseen];
		e->boundary = -1;
		for (unsigned i = 0; i < opt.nif; i++) {
			struct iface *f = &ifs[i];
			uint64_t cnt = f->nrec < RING_SZ ? f->nrec : RING_SZ;
			uint64_t fa = 0, ff = 0;
			int64_t bnd = -2;
			for (uint64_t j = 0; j < cnt; j++) {
				const struct rec *r = &f->ring[(f->nrec - 1 - j) % RING_SZ];
				if (r->ts >= e->ts) {
					fa = r->ts;
					if (r->fsb)
						ff = r->ts;
				} else {
					bnd = r->runmax;
					break;
				}
			}
			if (bnd == -2) {
				if (cnt == RING_SZ) {
					e->approx = true;
					bnd = f->ring[(f->nrec - RING_SZ) % RING_SZ].runmax;
				} else {
					bnd = -1;
				}
			}
			e->first_any[i] = fa;
			e->first_fsb[i] = ff;
			if (bnd > e->boundary)
				e->boundary = bnd;
		}
	}
}

static void frame_in(int ifindex, int pkttype, uint64_t ts, uint64_t now,
		     const uint8_t *p, size_t caplen, size_t len)
{
	if (pkttype == PACKET_OUTGOING)
		return;
	/* no stamp, or one from the future of a clock step: now */
	if (!ts || ts > now)
		ts = now;
	if (ts < start_ns)              /* queued before "ready" */
		return;
	int slot = slot_of(ifindex);
	if (slot < 0) {
		unknown_if++;
		return;
	}
	on_frame(slot, ts, p, caplen < SNAP ? caplen : SNAP, len);
}

/* Hands back at most 8 blocks, then lets the caller look at events. */
static void read_ring(void)
{
	for (int k = 0; k < 8; k++) {
		struct tpacket_block_desc *bd =
			(struct tpacket_block_desc *)(ring_map + (size_t)ring_cur * RING_BLOCK);
		if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
			return;
		uint64_t now = mono_ns();
		uint32_t n = bd->hdr.bh1.num_pkts;
		const uint8_t *fp = (const uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt;
		for (uint32_t i = 0; i < n; i++) {
			const struct tpacket3_hdr *h = (const struct tpacket3_hdr *)fp;
			const struct sockaddr_ll *sll = (const struct sockaddr_ll *)
				(fp + TPACKET_ALIGN(sizeof(struct tpacket3_hdr)));
			int64_t rt = (int64_t)h->tp_sec * 1000000000ll + h->tp_nsec;
			frame_in(sll->sll_ifindex, sll->sll_pkttype, rt ? (uint64_t)(rt - rt_off) : 0,
				 now, fp + h->tp_mac, h->tp_snaplen, h->tp_len);
			fp += h->tp_next_offset;
		}
		__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		ring_cur = (ring_cur + 1) % RING_BLOCKS;
	}
}

static void read_frames(void)
{
	if (ring_map) {
		read_ring();
		return;
	}
	static uint8_t bufs[BATCH][SNAP];
	static struct sockaddr_ll sll[BATCH];
	static char cmsgs[BATCH][CMSG_SPACE(sizeof(struct timespec)) + 64];
	static struct iovec iov[BATCH];
	static struct mmsghdr m[BATCH];

	for (unsigned i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){ bufs[i], SNAP };
		memset(&m[i], 0, sizeof(m[i]));
		m[i].msg_hdr.msg_name = &sll[i];
		m[i].msg_hdr.msg_namelen = sizeof(sll[i]);
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
		m[i].msg_hdr.msg_control = cmsgs[i];
		m[i].msg_hdr.msg_controllen = sizeof(cmsgs[i]);
	}
	int n = recvmmsg(pkt_fd, m, BATCH, MSG_DONTWAIT | MSG_TRUNC, NULL);
	if (n <= 0)
		return;
	uint64_t now = mono_ns();
	for (int i = 0; i < n; i++) {
		uint64_t ts = 0;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m[i].msg_hdr); c;
		     c = CMSG_NXTHDR(&m[i].msg_hdr, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
				struct timespec t;
				memcpy(&t, CMSG_DATA(c), sizeof(t));
				int64_t rt = (int64_t)t.tv_sec * 1000000000ll + t.tv_nsec;
				ts = (uint64_t)(rt - rt_off);
			}
		}
		size_t len = m[i].msg_len;
		frame_in(sll[i].sll_ifindex, sll[i].sll_pkttype, ts, now, bufs[i],
			 len < SNAP ? len : SNAP, len);
	}
}

static void read_drops(void)
{
	struct tpacket_stats st;
	socklen_t l = sizeof(st);
	if (getsockopt(pkt_fd, SOL_PACKET, PACKET_STATISTICS, &st, &l) == 0)
		capture_drops += st.tp_drops;
}

/* ---- results ---- */

static uint64_t count_missing(int port, int64_t lo, int64_t hi)
{
	uint64_t n = 0;
	if (port < 0)
		return 0;
	for (int64_t s = lo < 0 ? 0 : lo; s <= hi; s++)
		if (!bits_test(&gseen[port], (uint64_t)s))
			n++;
	return n;
}

/* The longest silence (k: 0 fsb frames, 1 any) overlapping [a, b). */
static uint64_t longest_silence(int k, uint64_t a, uint64_t b)
{
	uint64_t best = 0;
	for (unsigned i = 0; i < nsils[k]; i++) {
		uint64_t f = sils[k][i].from, t = sils[k][i].to;
		if (t > a && f < b && t - f > best)
			best = t - f;
	}
	return best;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_us_or_null(FILE *f, uint64_t t, uint64_t from)
{
	if (t)
		fprintf(f, "%.1f", t >= from ? (double)(t - from) / 1e3 : -(double)(from - t) / 1e3);
	else
		fprintf(f, "null");
}

/* --records FILE: what fsb-drill-report reads (migration/drill_report.c
 * documents the format).  One record per line, fields separated by
 * spaces, every time in absolute CLOCK_MONOTONIC ns so that records of
 * other tools on the same machine line up with these; interface names
 * have no spaces (valid_ifname). */
static void write_records(uint64_t end_ns, size_t nb, uint64_t expected, uint64_t distinct,
			  uint64_t lost, uint64_t dups, uint64_t reordered)
{
	FILE *f = fopen(opt.records, "w");
	if (!f) {
		say("fsb-peer: cannot write %s: %s\n", opt.records, strerror(errno));
		return;
	}
	fprintf(f, "# fsb-peer records\n");
	fprintf(f, "sink fsb-peer start_ns=%" PRIu64 " end_ns=%" PRIu64 " bucket_ns=%" PRIu64
		" capture_drops=%" PRIu64 "\n", start_ns, end_ns, (uint64_t)BUCKET_NS, capture_drops);
	for (unsigned i = 0; i < opt.nif; i++) {
		struct iface *fi = &ifs[i];
		fprintf(f, "path %s frames=%" PRIu64 " fsb=%" PRIu64 " first_ns=%" PRIu64
			" last_ns=%" PRIu64 "\n", fi->name, fi->frames, fi->fsb,
			fi->first_fsb_ns, fi->last_fsb_ns);
		fprintf(f, "buckets %s", fi->name);
		for (size_t k = 0; k < nb; k++)
			fprintf(f, " %" PRIu64, k < fi->nbuckets ? fi->buckets[k] : 0);
		fputc('\n', f);
	}
	fprintf(f, "seq expected=%" PRIu64 " distinct=%" PRIu64 " lost=%" PRIu64 " dups=%" PRIu64
		" reordered=%" PRIu64 "\n", expected, distinct, lost, dups, reordered);
	unsigned ne = atomic_load(&nposted);
	if (ne > MAX_EVENTS)
		ne = MAX_EVENTS;
	for (unsigned k = 0; k < ne; k++)
		fprintf(f, "event %" PRIu64 " link %s %s\n", events[k].ts, events[k].type,
			events[k].ifname);
	for (unsigned c = 0; c < nchanges; c++)
		fprintf(f, "change %" PRIu64 " %s %s %" PRIu64 "\n", changes[c].ts,
			changes[c].from >= 0 ? ifs[changes[c].from].name : "-",
			ifs[changes[c].to].name, changes[c].prev);
	for (int i = 0; i < NSIL && sil[0][i].from; i++)
		fprintf(f, "silence %" PRIu64 " %" PRIu64 " %s %s\n", sil[0][i].from, sil[0][i].to,
			ifs[sil[0][i].from_if].name, ifs[sil[0][i].to_if].name);
	if (fclose(f) != 0)
		say("fsb-peer: writing %s failed: %s\n", opt.records, strerror(errno));
}

static void report(uint64_t end_ns)
{
	double dur = (double)(end_ns - start_ns) / 1e9;
	size_t nb = (size_t)((end_ns - start_ns) / BUCKET_NS) + 1;
	if (nb > MAX_BUCKETS)
		nb = MAX_BUCKETS;

	/* seq totals over every port seen */
	uint64_t expected = 0, distinct = 0, dups = 0, reordered = 0;
	for (int p = 0; p < MAX_PORTS; p++) {
		if (gmax[p] >= 0)
			expected += (uint64_t)gmax[p] + 1;
		distinct += gdistinct[p];
		dups += gdups[p];
		reordered += greordered[p];
	}
	uint64_t lost = expected - distinct;

	/* lost seq numbers after each event (tracked port) */
	unsigned ne = nseen;
	uint64_t lost_after[MAX_EVENTS];
	int64_t b[MAX_EVENTS];
	int64_t run = -1;
	for (unsigned k = 0; k < ne; k++) {
		if (events[k].boundary > run)
			run = events[k].boundary;
		b[k] = run;
	}
	int64_t tmax = track_port >= 0 ? gmax[track_port] : -1;
	uint64_t lost_before = ne ? count_missing(track_port, 0, b[0]) : 0;
	for (unsigned k = 0; k < ne; k++) {
		int64_t hi = k + 1 < ne ? b[k + 1] : tmax;
		lost_after[k] = count_missing(track_port, b[k] + 1, hi);
	}

	/* gaps of the tracked port */
	int64_t gap_lo[MAX_GAPS_OUT], gap_hi[MAX_GAPS_OUT];
	unsigned ngaps = 0;
	uint64_t gaps_total = 0;
	for (int64_t s = 0; s <= tmax; s++) {
		if (bits_test(&gseen[track_port], (uint64_t)s))
			continue;
		int64_t e = s;
		while (e + 1 <= tmax && !bits_test(&gseen[track_port], (uint64_t)(e + 1)))
			e++;
		if (ngaps < MAX_GAPS_OUT) {
			gap_lo[ngaps] = s;
			gap_hi[ngaps] = e;
			ngaps++;
		}
		gaps_total++;
		s = e;
	}

	/* human */
	say("fsb-peer: %.3f s; capture in netns %s", dur, opt.ns ? opt.ns : "(current)");
	if (opt.nwatch)
		say(", events from netns %s", opt.watch_ns ? opt.watch_ns : "(current)");
	say("; start_mono_ns=%" PRIu64 "\n", start_ns);
	for (unsigned i = 0; i < opt.nif; i++) {
		struct iface *f = &ifs[i];
		say("  %-15s %10" PRIu64 " frames (%" PRIu64 " fsb, %" PRIu64 " other)",
		    f->name, f->frames, f->fsb, f->other);
		if (f->frames)
			say(", first %.3f s, last %.3f s", rel_s(f->first_ns), rel_s(f->last_ns));
		if (f->have_seq)
			say(", seq %" PRIu64 "..%" PRIu64 ", distinct %" PRIu64 ", dups %" PRIu64,
			    f->seq_min, f->seq_max, f->distinct, f->dups);
		say("\n");
	}
	say("  seq: expected %" PRIu64 " (max_seq+1), distinct %" PRIu64 ", lost %" PRIu64
	    ", duplicates %" PRIu64 "%s\n", expected, distinct, lost, dups,
	    dups ? " (a frame seen twice: on two paths, or twice on one)" : "");
	if (gaps_total) {
		say("  gaps (port %d): %" PRIu64 ":", track_port, gaps_total);
		for (unsigned g = 0; g < ngaps && g < 8; g++)
			say(" %" PRId64 "-%" PRId64, gap_lo[g], gap_hi[g]);
		say("%s\n", gaps_total > 8 ? " ..." : "");
	}
	for (unsigned k = 0; k < ne; k++) {
		struct event *e = &events[k];
		say("  event %.6f %s %s:", rel_s(e->ts), e->type, e->ifname);
		for (unsigned i = 0; i < opt.nif; i++) {
			uint64_t t = e->first_fsb[i] ? e->first_fsb[i] : e->first_any[i];
			if (t)
				say(" %s +%.3f ms%s", ifs[i].name, (double)(t - e->ts) / 1e6,
				    e->first_fsb[i] ? "" : " (non-fsb)");
			else
				say(" %s -", ifs[i].name);
		}
		uint64_t wend = k + 1 < ne ? events[k + 1].ts : end_ns;
		uint64_t sl = longest_silence(0, e->ts, wend);
		if (!sl)
			sl = longest_silence(1, e->ts, wend);
		say("; lost after %" PRIu64 "%s", lost_after[k], e->approx ? " (approx)" : "");
		if (sl)
			say("; longest silence after it %.3f ms", (double)sl / 1e6);
		say("\n");
	}
	if (nchanges) {
		say("  path:");
		for (unsigned c = 0; c < nchanges; c++)
			say(" %.3f %s->%s", rel_s(changes[c].ts),
			    changes[c].from >= 0 ? ifs[changes[c].from].name : "none",
			    ifs[changes[c].to].name);
		say(" (%u changes)\n", nchanges_total);
		for (unsigned c = 0; c < nchanges; c++)
			if (changes[c].prev)
				say("  gap at the change at %.3f s: %.3f ms from the last frame on %s to the first on %s\n",
				    rel_s(changes[c].ts), changes[c].ts > changes[c].prev ?
				    (double)(changes[c].ts - changes[c].prev) / 1e6 : 0.0,
				    ifs[changes[c].from].name, ifs[changes[c].to].name);
	}
	for (int k = 0; k < 2; k++) {
		if (!sil[k][0].from)
			continue;
		say("  longest silences (%s, all paths):", k ? "any frame" : "fsb frames");
		for (int i = 0; i < NSIL && sil[k][i].from; i++)
			say(" %.3f ms at %.3f s (%s -> %s)", (double)(sil[k][i].to - sil[k][i].from) / 1e6,
			    rel_s(sil[k][i].from), ifs[sil[k][i].from_if].name, ifs[sil[k][i].to_if].name);
		say("\n");
	}
	for (int k = 0; k < 2; k++)
		if (sil_last[k] && end_ns > sil_last[k])
			say("  silent at the end (%s): %.3f ms since the last one, on %s\n",
			    k ? "any frame" : "fsb frames", (double)(end_ns - sil_last[k]) / 1e6,
			    ifs[sil_last_if[k]].name);
	say("  capture: %" PRIu64 " dropped by the kernel, %" PRIu64
	    " frames on other interfaces, %" PRIu64 " short, %" PRIu64
	    " bad port, %" PRIu64 " seq out of range; rtnetlink ENOBUFS %" PRIu64
	    "; listener %s\n", capture_drops, unknown_if, short_frames, bad_port,
	    out_of_range, nl_enobufs,
	    opt.nwatch ? (rt_ok ? "SCHED_FIFO" : "SCHED_OTHER") : "off");
	if (atomic_load(&events_dropped))
		say("  %u events dropped (more than %d)\n", atomic_load(&events_dropped), MAX_EVENTS);

	if (opt.records)
		write_records(end_ns, nb, expected, distinct, lost, dups, reordered);
	if (!opt.json)
		return;
	FILE *f = stdout;
	fprintf(f, "{\"tool\":\"fsb-peer\",\"start_mono_ns\":%" PRIu64 ",\"duration_s\":%.3f,"
		"\"bucket_ms\":%llu,\"ns\":", start_ns, dur,
		(unsigned long long)(BUCKET_NS / 1000000ull));
	json_str(f, opt.ns ? opt.ns : "");
	fprintf(f, ",\"watch_ns\":");
	json_str(f, opt.watch_ns ? opt.watch_ns : "");
	fprintf(f, ",\"listener_rt\":%s,\"capture_drops\":%" PRIu64 ",\"other_if_frames\":%" PRIu64
		",\"short_frames\":%" PRIu64 ",\"nl_enobufs\":%" PRIu64 ",\"events_dropped\":%u,"
		"\"path_changes\":%u,\"silence_min_us\":%.0f,\"silence_list_overflow\":%" PRIu64 ",\n",
		rt_ok ? "true" : "false", capture_drops, unknown_if, short_frames, nl_enobufs,
		atomic_load(&events_dropped), nchanges_total, SIL_MIN_NS / 1e3,
		sils_overflow[0] + sils_overflow[1]);
	fprintf(f, "\"seq\":{\"port\":%d,\"expected\":%" PRIu64 ",\"distinct\":%" PRIu64
		",\"lost\":%" PRIu64 ",\"dups\":%" PRIu64 ",\"reordered\":%" PRIu64 ",\"bad_port\":%" PRIu64
		",\"out_of_range\":%" PRIu64 ",\"lost_before_first_event\":%" PRIu64
		",\"gaps_total\":%" PRIu64 ",\"gaps\":[",
		track_port, expected, distinct, lost, dups, reordered, bad_port, out_of_range,
		lost_before, gaps_total);
	for (unsigned g = 0; g < ngaps; g++)
		fprintf(f, "%s[%" PRId64 ",%" PRId64 "]", g ? "," : "", gap_lo[g], gap_hi[g]);
	fprintf(f, "]},\n");
	for (int k = 0; k < 2; k++) {
		fprintf(f, "\"%s\":{\"end_silence_us\":", k ? "silences_any" : "silences_fsb");
		if (sil_last[k])
			fprintf(f, "%.1f", end_ns > sil_last[k] ? (double)(end_ns - sil_last[k]) / 1e3 : 0.0);
		else
			fprintf(f, "null");
		fprintf(f, ",\"top\":[");
		for (int i = 0; i < NSIL && sil[k][i].from; i++) {
			fprintf(f, "%s{\"at_us\":%.1f,\"us\":%.1f,\"from\":", i ? "," : "",
				(double)(sil[k][i].from - start_ns) / 1e3,
				(double)(sil[k][i].to - sil[k][i].from) / 1e3);
			json_str(f, ifs[sil[k][i].from_if].name);
			fprintf(f, ",\"to\":");
			json_str(f, ifs[sil[k][i].to_if].name);
			fprintf(f, "}");
		}
		fprintf(f, "]},\n");
	}
	fprintf(f, "\"ifaces\":[\n");
	for (unsigned i = 0; i < opt.nif; i++) {
		struct iface *fi = &ifs[i];
		fprintf(f, "{\"name\":");
		json_str(f, fi->name);
		fprintf(f, ",\"frames\":%" PRIu64 ",\"fsb_frames\":%" PRIu64 ",\"other_frames\":%" PRIu64
			",\"bytes\":%" PRIu64 ",\"first_us\":", fi->frames, fi->fsb, fi->other, fi->bytes);
		json_us_or_null(f, fi->first_ns, start_ns);
		fprintf(f, ",\"last_us\":");
		json_us_or_null(f, fi->last_ns, start_ns);
		fprintf(f, ",\"first_fsb_us\":");
		json_us_or_null(f, fi->first_fsb_ns, start_ns);
		fprintf(f, ",\"last_fsb_us\":");
		json_us_or_null(f, fi->last_fsb_ns, start_ns);
		if (fi->have_seq)
			fprintf(f, ",\"seq_min\":%" PRIu64 ",\"seq_max\":%" PRIu64, fi->seq_min, fi->seq_max);
		else
			fprintf(f, ",\"seq_min\":null,\"seq_max\":null");
		fprintf(f, ",\"distinct\":%" PRIu64 ",\"dups\":%" PRIu64 ",\"buckets\":[",
			fi->distinct, fi->dups);
		for (size_t k = 0; k < nb; k++)
			fprintf(f, "%s%" PRIu64, k ? "," : "", k < fi->nbuckets ? fi->buckets[k] : 0);
		fprintf(f, "]}%s\n", i + 1 < opt.nif ? "," : "");
	}
	fprintf(f, "],\n\"events\":[\n");
	for (unsigned k = 0; k < ne; k++) {
		struct event *e = &events[k];
		fprintf(f, "{\"t_us\":%.1f,\"type\":\"%s\",\"ifname\":", (double)(e->ts - start_ns) / 1e3,
			e->type);
		json_str(f, e->ifname);
		fprintf(f, ",\"old_ifname\":");
		if (e->oldname[0])
			json_str(f, e->oldname);
		else
			fprintf(f, "null");
		fprintf(f, ",\"ifindex\":%d,\"resync\":%s,\"approx\":%s,\"first_us\":{",
			e->ifindex, e->resync ? "true" : "false", e->approx ? "true" : "false");
		for (unsigned i = 0; i < opt.nif; i++) {
			fprintf(f, "%s", i ? "," : "");
			json_str(f, ifs[i].name);
			fputc(':', f);
			json_us_or_null(f, e->first_any[i], e->ts);
		}
		fprintf(f, "},\"first_fsb_us\":{");
		for (unsigned i = 0; i < opt.nif; i++) {
			fprintf(f, "%s", i ? "," : "");
			json_str(f, ifs[i].name);
			fputc(':', f);
			json_us_or_null(f, e->first_fsb[i], e->ts);
		}
		uint64_t wend = k + 1 < ne ? events[k + 1].ts : end_ns;
		fprintf(f, "},\"seq_boundary\":%" PRId64 ",\"lost_after\":%" PRIu64
			",\"silence_fsb_us\":%.1f,\"silence_any_us\":%.1f}%s\n",
			b[k], lost_after[k], (double)longest_silence(0, e->ts, wend) / 1e3,
			(double)longest_silence(1, e->ts, wend) / 1e3, k + 1 < ne ? "," : "");
	}
	fprintf(f, "],\n\"changes\":[\n");
	for (unsigned c = 0; c < nchanges; c++) {
		fprintf(f, "{\"at_us\":%.1f,\"from\":", (double)(changes[c].ts - start_ns) / 1e3);
		if (changes[c].from >= 0)
			json_str(f, ifs[changes[c].from].name);
		else
			fprintf(f, "null");
		fprintf(f, ",\"to\":");
		json_str(f, ifs[changes[c].to].name);
		fprintf(f, ",\"gap_us\":");
		if (changes[c].prev)
			fprintf(f, "%.1f", changes[c].ts > changes[c].prev ?
				(double)(changes[c].ts - changes[c].prev) / 1e3 : 0.0);
		else
			fprintf(f, "null");
		fprintf(f, "}%s\n", c + 1 < nchanges ? "," : "");
	}
	fprintf(f, "]}\n");
	fflush(f);
}

static void on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}

static bool valid_ifname(const char *s)
{
	size_t l = strlen(s);
	if (l == 0 || l >= IFNAMSIZ || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || *s == ' ' || *s == '\t' || *s == '\n')
			return false;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ns", required_argument, NULL, 'n' },
		{ "iface", required_argument, NULL, 'i' },
		{ "watch-ns", required_argument, NULL, 'N' },
		{ "watch", required_argument, NULL, 'w' },
		{ "duration", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-rt", no_argument, NULL, 'R' },
		{ "bucket-ms", required_argument, NULL, 'b' },
		{ "records", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	opt.out = stdout;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': opt.ns = optarg; break;
		case 'N': opt.watch_ns = optarg; break;
		case 'i':
			if (opt.nif >= MAX_IFACES)
				die(2, "too many --iface (max %d)", MAX_IFACES);
			if (!valid_ifname(optarg))
				die(2, "--iface: invalid interface name '%s'", optarg);
			if (name_slot(optarg) >= 0)
				die(2, "--iface: '%s' given twice", optarg);
			opt.ifnames[opt.nif++] = optarg;
			break;
		case 'w':
			if (opt.nwatch >= MAX_WATCH)
				die(2, "too many --watch (max %d)", MAX_WATCH);
			if (strcmp(optarg, "*") != 0 && !valid_ifname(optarg))
				die(2, "--watch: invalid interface name '%s'", optarg);
			opt.watch[opt.nwatch++] = optarg;
			break;
		case 'd': {
			char *end;
			errno = 0;
			opt.duration = strtod(optarg, &end);
			if (errno || *end || !*optarg || !(opt.duration >= 0) || opt.duration > 86400)
				die(2, "--duration: bad number of seconds '%s' (0..86400)", optarg);
			break;
		}
		case 'j': opt.json = true; break;
		case 'R': opt.rt = false; break;
		case 'b': {
			char *end;
			errno = 0;
			unsigned long ms = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || ms < 1 || ms > 1000)
				die(2, "--bucket-ms: bad number of ms '%s' (1..1000)", optarg);
			opt.bucket_ns = ms * 1000000ull;
			break;
		}
		case 'r': opt.records = optarg; break;
		case 'h': usage(stdout); return 0;
		case ':': die(2, "option '%s' needs a value", argv[optind - 1]);
		default:  die(2, "unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		die(2, "unexpected argument '%s' (see --help)", argv[optind]);
	if (opt.nif == 0)
		die(2, "no --iface given (see --help)");
	if (opt.watch_ns && !opt.nwatch)
		die(2, "--watch-ns without --watch");
	if (opt.json)
		opt.out = stderr;

	for (unsigned i = 0; i < opt.nif; i++) {
		ifs[i].name = opt.ifnames[i];
		ifs[i].runmax = -1;
		ifs[i].ring = calloc(RING_SZ, sizeof(*ifs[i].ring));
		if (!ifs[i].ring)
			die(1, "out of memory");
	}

	/* Sockets keep the netns they were created in. */
	int saved = opt.ns ? ns_enter(opt.ns) : -1;
	pkt_open();
	for (unsigned i = 0; i < opt.nif; i++)
		if (if_nametoindex(opt.ifnames[i]) == 0)
			fprintf(stderr, "fsb-peer: note: %s does not exist (yet) in netns %s\n",
				opt.ifnames[i], opt.ns ? opt.ns : "(current)");
	ns_leave(saved);
	if (opt.nwatch) {
		saved = opt.watch_ns ? ns_enter(opt.watch_ns) : -1;
		nl_open();
		ns_leave(saved);
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	sample_rt_off();
	read_drops();
	capture_drops = 0;
	start_ns = mono_ns();

	pthread_t nl_thr;
	bool nl_running = false;
	if (opt.nwatch) {
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		if (pthread_create(&nl_thr, NULL, nl_main, NULL) != 0)
			die(1, "cannot start the rtnetlink listener thread");
		nl_running = true;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	say("fsb-peer: ready start_mono_ns=%" PRIu64 " ns=%s ifaces=", start_ns,
	    opt.ns ? opt.ns : "-");
	for (unsigned i = 0; i < opt.nif; i++)
		say("%s%s", i ? "," : "", opt.ifnames[i]);
	say(" watch=");
	for (unsigned i = 0; i < opt.nwatch; i++)
		say("%s%s", i ? "," : "", opt.watch[i]);
	say("%s%s\n", opt.nwatch ? "@" : "-", opt.nwatch ? (opt.watch_ns ? opt.watch_ns : "-") : "");

	uint64_t deadline = opt.duration > 0 ? start_ns + (uint64_t)(opt.duration * 1e9) : 0;
	while (!got_signal) {
		uint64_t now = mono_ns();
		if (deadline && now >= deadline)
			break;
		int tmo = 100;
		if (deadline && (deadline - now) / 1000000 < 100)
			tmo = (int)((deadline - now) / 1000000) + 1;
		absorb_events();
		struct pollfd p = { pkt_fd, POLLIN, 0 };
		int r = poll(&p, 1, tmo);
		if (r < 0 && errno != EINTR)
			die(1, "poll: %s", strerror(errno));
		sample_rt_off();
		absorb_events();
		if (r > 0)
			read_frames();
	}
	uint64_t end_ns = mono_ns();
	/* What is still queued arrived before the end; a ring block is
	 * handed over at most RING_TOV_MS after its last frame. */
	for (int k = 0; k < 4096; k++) {
		struct pollfd p = { pkt_fd, POLLIN, 0 };
		if (poll(&p, 1, k ? 0 : 5 * RING_TOV_MS + 5) <= 0)
			break;
		read_frames();
	}
	if (nl_running) {
		atomic_store(&stop_listener, true);
		pthread_join(nl_thr, NULL);
	}
	absorb_events();
	read_drops();
	report(end_ns);
	return 0;
}
