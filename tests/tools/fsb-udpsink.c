/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fsb-udpsink - the host-side counter of the QEMU harness (tests/qemu/).
 *
 *   fsb-udpsink [--after NAME] [--pcap DIR] NAME=PORT|NAME=tap:IFNAME ...
 *
 * A guest NIC on a QEMU `-netdev socket,udp=127.0.0.1:PORT,...` sends
 * each Ethernet frame as one UDP datagram to PORT.  This binds each PORT
 * on 127.0.0.1 (one per path: the primary's, the standby's) and counts
 * what arrives, from outside the guest.  NAME=tap:IFNAME counts what a
 * guest NIC on `-netdev tap,ifname=IFNAME` sends (a packet socket on
 * the host's side of the tap; multi-queue taps carry multi-queue
 * NICs):
 *   - per path: frames (all), ours, the first and the last of ours'
 *     receipt times;
 *   - for fsb-fwd's frames (magic FSB1 or FSB2 after the 42-byte header,
 *     fsb-check.h): lost (max seq + 1 - distinct seqs), duplicates,
 *     reordered, per (port, queue) stream 0; our frames of every queue
 *     are counted per path ("queues" in the summary);
 *   - path changes: the path is that of our last frame; each change
 *     records the gap from the old path's last frame to the new one's;
 *   - the longest silence (none of our frames on any path) and when it
 *     started; with --after NAME, only from our first frame on path
 *     NAME on (a scene starts once traffic runs on the primary: how
 *     long the guest took to get there is not a silence of the scene).
 * With --pcap DIR, every frame of a path that is not fsb-fwd's (an
 * announcement, a guest kernel's chatter) is also written to
 * DIR/NAME.pcap, for tcpdump to decode (time stamps: the receipt's
 * CLOCK_MONOTONIC, as seconds and microseconds).
 * Times are CLOCK_MONOTONIC at receipt, the clock of fsb-qmp's event
 * log, so frames and QEMU's events compare.
 *
 * Live lines on stdout: "FIRST NAME T" for each path's first frame and
 * "PATH OLD NEW T GAP_US" for each path change.  On SIGINT or SIGTERM it
 * prints one JSON line "SUMMARY {...}", then per path one line
 * "BUCKETS NAME T0_NS 10 N,N,..." (our frames per 10 ms from the first
 * of them, for plots), and exits 0.  SIGUSR1 sets a mark: it prints
 * "MARK T SEQ" (SEQ: the highest sequence number seen then, plus one),
 * and the summary then splits the loss into "lost_before_mark" and
 * "lost_after_mark" (a scene's unplug and its re-plug).  1 on a runtime
 * failure, 2 on bad usage.
 *
 * Test tool only: libc, nothing else.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fsb-check.h"

#define MAX_PATHS 8
#define SEQ_MAX (1u << 24)              /* seqs tracked for loss */

struct path {
	char name[32];
	int fd;
	uint64_t frames, ours;
	uint64_t queue_ours[16];        /* our frames per (sender's) queue */
	uint64_t first_ns, last_ns;
	uint32_t *buckets;              /* our frames per 10 ms since t_base */
	FILE *pcap;                     /* --pcap: the frames not ours */
};

#define BUCKET_NS 10000000ull
#define BUCKETS_MAX 60000u              /* 10 minutes */
static uint64_t t_base;                 /* first of our frames, any path */
static unsigned nbuckets;

static struct path paths[MAX_PATHS];
static unsigned npaths;
static uint8_t *seen;                   /* bitmap of seqs */
static uint64_t max_seq, distinct, dups, reordered, last_seq;
static int have_seq;
static int cur = -1;                    /* path of the last frame */
static uint64_t changes, last_any_ns, silence_max_ns, silence_at_ns;
static volatile sig_atomic_t stop;
static int after = -1;                  /* --after: that path's index */
static const char *after_name;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static volatile sig_atomic_t mark_req;
static uint64_t mark_seq = UINT64_MAX;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		mark_req = 1;
	else
		stop = 1;
}

/* One pcap record (the file's header was written at open); flushed at
 * once, so a sink that is killed keeps what it saw. */
static void pcap_put(FILE *f, const uint8_t *d, size_t len, uint64_t t)
{
	uint32_t rec[4] = { (uint32_t)(t / 1000000000ull),
			    (uint32_t)(t % 1000000000ull / 1000),
			    (uint32_t)len, (uint32_t)len };
	fwrite(rec, sizeof(rec), 1, f);
	fwrite(d, 1, len, f);
	fflush(f);
}

static void frame(unsigned p, const uint8_t *d, size_t len, uint64_t t)
{
	struct path *ph = &paths[p];
	ph->frames++;
	/* Only our frames time the paths: a guest kernel's own chatter
	 * (ND, MLD) on a path says nothing about the failover. */
	struct seq_hdr h;
	if (len >= HDR_LEN + sizeof(h))
		memcpy(&h, d + HDR_LEN, sizeof(h));
	if (len < HDR_LEN + sizeof(h) ||
	    (h.magic != SEQ_MAGIC && h.magic != CHK_MAGIC)) {
		if (ph->pcap)
			pcap_put(ph->pcap, d, len, t);
		return;
	}
	if (h.queue < 16)
		ph->queue_ours[h.queue]++;
	if (h.queue != 0)
		return;
	if (!ph->ours) {
		ph->first_ns = t;
		printf("FIRST %s %llu\n", ph->name, (unsigned long long)t);
		fflush(stdout);
	}
	ph->ours++;
	if (!t_base)
		t_base = t;
	uint64_t bk = (t - t_base) / BUCKET_NS;
	if (bk < BUCKETS_MAX) {
		ph->buckets[bk]++;
		if (bk + 1 > nbuckets)
			nbuckets = (unsigned)bk + 1;
	}
	if (last_any_ns && t - last_any_ns > silence_max_ns &&
	    (after < 0 || paths[after].ours)) {
		silence_max_ns = t - last_any_ns;
		silence_at_ns = last_any_ns;
	}
	if (cur >= 0 && cur != (int)p) {
		changes++;
		printf("PATH %s %s %llu %llu\n", paths[cur].name, ph->name,
		       (unsigned long long)t,
		       (unsigned long long)((t - paths[cur].last_ns) / 1000));
		fflush(stdout);
	}
	cur = (int)p;
	ph->last_ns = t;
	last_any_ns = t;

	if (have_seq && h.seq < last_seq)
		reordered++;
	last_seq = h.seq;
	have_seq = 1;
	if (h.seq > max_seq)
		max_seq = h.seq;
	if (h.seq < SEQ_MAX) {
		if (seen[h.seq >> 3] & (1u << (h.seq & 7)))
			dups++;
		else
			distinct++;
		seen[h.seq >> 3] |= (uint8_t)(1u << (h.seq & 7));
	}
}

static void summary(void)
{
	uint64_t expect = have_seq ? (max_seq < SEQ_MAX ? max_seq + 1 : SEQ_MAX) : 0;
	printf("SUMMARY {\"lost\":%llu,\"dups\":%llu,\"reordered\":%llu,"
	       "\"max_seq\":%llu,\"path_changes\":%llu,"
	       "\"longest_silence_us\":%llu,\"silence_at_ns\":%llu,",
	       (unsigned long long)(expect - distinct),
	       (unsigned long long)dups, (unsigned long long)reordered,
	       (unsigned long long)max_seq, (unsigned long long)changes,
	       (unsigned long long)(silence_max_ns / 1000),
	       (unsigned long long)silence_at_ns);
	/* the first missing ranges, to find where frames went */
	if (mark_seq != UINT64_MAX) {
		uint64_t lost_pre = 0, lost_post = 0;
		for (uint64_t q = 0; q < expect; q++)
			if (!(seen[q >> 3] & (1u << (q & 7)))) {
				if (q < mark_seq)
					lost_pre++;
				else
					lost_post++;
			}
		printf("\"mark_seq\":%llu,\"lost_before_mark\":%llu,"
		       "\"lost_after_mark\":%llu,", (unsigned long long)mark_seq,
		       (unsigned long long)lost_pre, (unsigned long long)lost_post);
	}
	printf("\"missing\":\"");
	unsigned nr = 0;
	for (uint64_t q = 0; q < expect && nr < 8; q++) {
		if (seen[q >> 3] & (1u << (q & 7)))
			continue;
		uint64_t e = q;
		while (e + 1 < expect && !(seen[(e + 1) >> 3] & (1u << ((e + 1) & 7))))
			e++;
		printf("%s%llu-%llu", nr++ ? "," : "", (unsigned long long)q,
		       (unsigned long long)e);
		q = e;
	}
	printf("\",\"paths\":[");
	for (unsigned i = 0; i < npaths; i++) {
		printf("%s{\"name\":\"%s\",\"frames\":%llu,\"ours\":%llu,"
		       "\"first_ns\":%llu,\"last_ns\":%llu,\"queues\":[", i ? "," : "",
		       paths[i].name, (unsigned long long)paths[i].frames,
		       (unsigned long long)paths[i].ours,
		       (unsigned long long)paths[i].first_ns,
		       (unsigned long long)paths[i].last_ns);
		unsigned nq = 1;
		for (unsigned q = 0; q < 16; q++)
			if (paths[i].queue_ours[q])
				nq = q + 1;
		for (unsigned q = 0; q < nq; q++)
			printf("%s%llu", q ? "," : "",
			       (unsigned long long)paths[i].queue_ours[q]);
		printf("]}");
	}
	printf("]}\n");
	/* for plots: our frames per path per 10 ms, from the first one */
	for (unsigned i = 0; i < npaths; i++) {
		printf("BUCKETS %s %llu 10", paths[i].name, (unsigned long long)t_base);
		for (unsigned b = 0; b < nbuckets; b++)
			printf("%c%u", b ? ',' : ' ', paths[i].buckets[b]);
		printf("\n");
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int first = 1;
	const char *pcap_dir = NULL;
	for (;;) {
		if (argc > first + 1 && strcmp(argv[first], "--after") == 0)
			after_name = argv[first + 1];
		else if (argc > first + 1 && strcmp(argv[first], "--pcap") == 0)
			pcap_dir = argv[first + 1];
		else
			break;
		first += 2;
	}
	if (argc - first < 1 || argc - first > MAX_PATHS) {
		fprintf(stderr, "usage: fsb-udpsink [--after NAME] [--pcap DIR] NAME=PORT [NAME=PORT ...] "
			"(at most %d)\n", MAX_PATHS);
		return 2;
	}
	seen = calloc(SEQ_MAX / 8, 1);
	if (!seen)
		return 1;
	for (int i = first; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		char *end;
		if (eq && strncmp(eq + 1, "tap:", 4) == 0 && eq != argv[i] &&
		    (size_t)(eq - argv[i]) < sizeof(paths[0].name)) {
			struct path *p = &paths[npaths++];
			p->buckets = calloc(BUCKETS_MAX, sizeof(*p->buckets));
			if (!p->buckets)
				return 1;
			memcpy(p->name, argv[i], (size_t)(eq - argv[i]));
			unsigned ifi = if_nametoindex(eq + 5);
			p->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
			struct sockaddr_ll sl = { .sll_family = AF_PACKET,
						  .sll_protocol = htons(ETH_P_ALL),
						  .sll_ifindex = (int)ifi };
			if (!ifi || p->fd < 0 ||
			    bind(p->fd, (struct sockaddr *)&sl, sizeof(sl)) < 0) {
				fprintf(stderr, "fsb-udpsink: tap %s: %s\n", eq + 5,
					ifi ? strerror(errno) : "no such interface");
				return 1;
			}
			int big = 8 << 20;
			setsockopt(p->fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
			continue;
		}
		long port = eq ? strtol(eq + 1, &end, 10) : 0;
		if (!eq || eq == argv[i] || (size_t)(eq - argv[i]) >= sizeof(paths[0].name) ||
		    *end || port < 1 || port > 65535) {
			fprintf(stderr, "fsb-udpsink: '%s' is not NAME=PORT\n", argv[i]);
			return 2;
		}
		struct path *p = &paths[npaths++];
		p->buckets = calloc(BUCKETS_MAX, sizeof(*p->buckets));
		if (!p->buckets)
			return 1;
		memcpy(p->name, argv[i], (size_t)(eq - argv[i]));
		p->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		int big = 8 << 20;
		setsockopt(p->fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_port = htons((uint16_t)port),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		if (p->fd < 0 || bind(p->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			fprintf(stderr, "fsb-udpsink: bind 127.0.0.1:%ld: %s\n", port,
				strerror(errno));
			return 1;
		}
	}
	for (unsigned i = 0; pcap_dir && i < npaths; i++) {
		char fn[4096];
		snprintf(fn, sizeof(fn), "%s/%s.pcap", pcap_dir, paths[i].name);
		paths[i].pcap = fopen(fn, "wb");
		static const uint32_t gh[6] = { 0xa1b2c3d4, 0x00040002, 0, 0,
						65535, 1 /* Ethernet */ };
		if (!paths[i].pcap || fwrite(gh, sizeof(gh), 1, paths[i].pcap) != 1) {
			fprintf(stderr, "fsb-udpsink: %s: %s\n", fn, strerror(errno));
			return 1;
		}
		fflush(paths[i].pcap);
	}
	for (unsigned i = 0; after_name && i < npaths; i++)
		if (strcmp(paths[i].name, after_name) == 0)
			after = (int)i;
	if (after_name && after < 0) {
		fprintf(stderr, "fsb-udpsink: --after %s: no such path\n", after_name);
		return 2;
	}
	struct sigaction act = { .sa_handler = on_signal };
	sigaction(SIGINT, &act, NULL);
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGUSR1, &act, NULL);
	printf("READY\n");
	fflush(stdout);
	struct pollfd pf[MAX_PATHS];
	for (unsigned i = 0; i < npaths; i++)
		pf[i] = (struct pollfd){ .fd = paths[i].fd, .events = POLLIN };
	uint8_t buf[65536];
	while (!stop) {
		int r = poll(pf, npaths, 200);
		if (r < 0 && errno != EINTR)
			return 1;
		for (unsigned i = 0; r > 0 && i < npaths; i++) {
			if (!(pf[i].revents & POLLIN))
				continue;
			ssize_t n;
			while ((n = recv(paths[i].fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
				frame(i, buf, (size_t)n, now_ns());
		}
		if (mark_req) {
			mark_req = 0;
			mark_seq = have_seq ? max_seq + 1 : 0;
			printf("MARK %llu %llu\n", (unsigned long long)now_ns(),
			       (unsigned long long)mark_seq);
			fflush(stdout);
		}
	}
	summary();
	return 0;
}
