/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fsb-seqsend - the anchor's sender in the QEMU harness (tests/qemu/).
 *
 *   fsb-seqsend IFACE PPS SECONDS
 *
 * The kernel's net_failover is measured against our port by the same
 * sink, so it needs the same frames: this sends PPS frames per second
 * for SECONDS on IFACE (the failover master) through a packet socket,
 * each a 64-byte Ethernet/IPv4/UDP frame carrying fsb-fwd's sequence
 * header (magic "FSB1", port 0, queue 0, seq), which fsb-udpsink counts
 * per path.  Pacing is by the clock against the count sent, as fsb-fwd's
 * --tx-rate does.  A send the kernel refuses (ENOBUFS, ENETDOWN during a
 * switch) is retried with the same sequence number, as a retrying app
 * does, and counted.  Prints "seqsend: sent N refused R" at the end; exit
 * 0 (SIGINT or SIGTERM end it early, as they do fsb-fwd: the harness
 * stops the sender when its scene has seen enough), 1 on a runtime
 * failure, 2 on bad usage.  With FSB_SEQSEND_TRACE
 * set, each change of outcome (sent, or which errno) is printed as
 * "trace T_NS SEQ RESULT" on stderr: a probe of what a dying device
 * answers, and when.
 *
 * Not fsb-fwd on purpose: the anchor must not share our datapath.  It
 * needs libc only; guest-image.sh copies it with what ldd lists.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fsb-check.h"

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static unsigned long arg_num(const char *what, const char *s, unsigned long max)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v == 0 || v > max) {
		fprintf(stderr, "fsb-seqsend: bad %s '%s' (1..%lu)\n", what, s, max);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: fsb-seqsend IFACE PPS SECONDS\n");
		return 2;
	}
	unsigned ifindex = if_nametoindex(argv[1]);
	if (!ifindex) {
		fprintf(stderr, "fsb-seqsend: no interface '%s'\n", argv[1]);
		return 2;
	}
	uint64_t pps = arg_num("PPS", argv[2], 1000000);
	uint64_t secs = arg_num("SECONDS", argv[3], 86400);

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("fsb-seqsend: socket");
		return 1;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[1]);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		perror("fsb-seqsend: SIOCGIFHWADDR");
		return 1;
	}
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET, .sll_ifindex = (int)ifindex,
		.sll_halen = 6,
	};

	/* Ethernet to 02:00:00:00:00:02, IPv4/UDP 10.0.0.1 -> 10.0.0.2 */
	uint8_t f[64];
	memset(f, 0, sizeof(f));
	static const uint8_t dst[6] = { 2, 0, 0, 0, 0, 2 };
	memcpy(f, dst, 6);
	memcpy(sll.sll_addr, dst, 6);
	memcpy(f + 6, ifr.ifr_hwaddr.sa_data, 6);
	f[12] = 0x08;
	f[14] = 0x45;
	uint16_t iplen = htons(sizeof(f) - 14);
	memcpy(f + 16, &iplen, 2);
	f[22] = 64;
	f[23] = 17;
	memcpy(f + 26, (uint8_t[]){ 10, 0, 0, 1, 10, 0, 0, 2 }, 8);
	uint16_t udplen = htons(sizeof(f) - 34), port = htons(9);
	memcpy(f + 34, &port, 2);
	memcpy(f + 36, &port, 2);
	memcpy(f + 38, &udplen, 2);

	uint64_t sent = 0, refused = 0, t0 = now_ns();
	int trace = getenv("FSB_SEQSEND_TRACE") != NULL, last_res = -1;
	uint64_t end = t0 + secs * 1000000000ull;
	while (!stop) {
		uint64_t t = now_ns();
		if (t >= end)
			break;
		if ((t - t0) * pps / 1000000000ull < sent + 1) {
			struct timespec ts = { 0, 200000 };
			nanosleep(&ts, NULL);
			continue;
		}
		struct seq_hdr h = { SEQ_MAGIC, 0, 0, sent };
		memcpy(f + HDR_LEN, &h, sizeof(h));
		int res = sendto(fd, f, sizeof(f), 0, (struct sockaddr *)&sll,
				 sizeof(sll)) == (ssize_t)sizeof(f) ? 0 : errno;
		if (trace && res != last_res)
			fprintf(stderr, "trace %llu %llu %s\n", (unsigned long long)now_ns(),
				(unsigned long long)sent, res ? strerror(res) : "sent");
		last_res = res;
		if (res == 0) {
			sent++;
			continue;
		}
		errno = res;
		if (errno != ENOBUFS && errno != EAGAIN && errno != ENETDOWN &&
		    errno != ENXIO && errno != EINTR) {
			perror("fsb-seqsend: sendto");
			return 1;
		}
		refused++;              /* the same seq again, a bit later */
		struct timespec ts = { 0, 100000 };
		nanosleep(&ts, NULL);
	}
	printf("seqsend: sent %llu refused %llu\n", (unsigned long long)sent,
	       (unsigned long long)refused);
	close(fd);
	return 0;
}
