/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stress.c - planned detach/attach of the primary under traffic.
 *
 * One datapath thread (pinned to the last CPU) sends sequence-numbered
 * frames on a port with a ring primary and a ring standby.  A peer
 * thread counts what arrives at the far ends of both rings: outside the
 * port under test.  Meanwhile the main thread detaches and re-attaches
 * the primary FSB_STRESS_CYCLES times (default 1000).
 *
 * The port announces (announce=, 2 rounds 1 ms apart): every switch
 * queues a round for the datapath thread's next burst, which races the
 * next switch (a round for a path no longer published is dropped).
 *
 * Pass: no crash; every frame sent was received exactly once; nothing
 * refused and tx_no_path == 0 (every detach is planned); the peers saw
 * as many announcements as announce_sent says, and some.
 *
 * The ring kind unmaps a closed end's queues, so a datapath access after
 * close faults in any build.  FSB_STRESS_NO_GRACE=1 disables the QSBR
 * grace wait: the test must then fail (crash or loss), which shows that
 * it tests the grace period and not luck.
 *
 * Prints: cycles, packets, elapsed, max grace wait.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "port.h"
#include "subdev.h"

#define BURST 32
#define INFLIGHT_MAX 2048   /* below the ring size: no backpressure */

static struct fsb_port *port;
static struct fsb_mempool *pool, *peer_pool;
static struct fsb_bare *peer[2];
static _Atomic bool stop_tx, stop_rx;
static _Atomic uint64_t sent, refused, received, dup_or_bad, announced;
static uint8_t *seen;               /* one byte per sequence number */
static uint64_t seen_max;

static uint64_t now_ns(void)
{
	return fsb_now_ns();
}

static void pin_last_cpu(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(n > 1 ? n - 1 : 0, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Control side and peer on CPU 0, datapath on the last one (§6). */
static void pin_first_cpu(void)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *tx_main(void *arg)
{
	(void)arg;
	pin_last_cpu();
	uint64_t seq = 0;
	struct fsb_buf *b[BURST];
	while (!atomic_load_explicit(&stop_tx, memory_order_relaxed)) {
		if (seq - atomic_load_explicit(&received, memory_order_relaxed) >
		    INFLIGHT_MAX || seq + BURST >= seen_max) {
			fsb_tx_burst(port, 0, b, 0);   /* still a quiescent point */
			sched_yield();
			continue;
		}
		if (fsb_buf_alloc_bulk(pool, b, BURST) < 0) {
			fsb_tx_burst(port, 0, b, 0);
			sched_yield();
			continue;
		}
		for (unsigned i = 0; i < BURST; i++) {
			uint64_t s = seq + i;
			memcpy(fsb_buf_data(b[i]), &s, sizeof(s));
			b[i]->data_len = 64;
			b[i]->pkt_len = 64;
		}
		uint16_t n = fsb_tx_burst(port, 0, b, BURST);
		if (n < BURST) {
			atomic_fetch_add(&refused, BURST - n);
			fsb_buf_free_bulk(b + n, BURST - n);
		}
		seq += n;
		atomic_store_explicit(&sent, seq, memory_order_relaxed);
	}
	return NULL;
}

static void *rx_main(void *arg)
{
	(void)arg;
	struct fsb_buf *b[64];
	for (;;) {
		unsigned got = 0;
		for (int i = 0; i < 2; i++) {
			uint16_t n = fsb_bare_rx_burst(peer[i], 0, b, 64);
			for (uint16_t k = 0; k < n; k++) {
				static const uint8_t bcast[6] = { 0xff, 0xff, 0xff,
								  0xff, 0xff, 0xff };
				uint64_t s;
				/* an announcement (RARP, GARP): broadcast, which
				 * no sequence number below seen_max reads as */
				if (!memcmp(fsb_buf_data(b[k]), bcast, 6)) {
					atomic_fetch_add(&announced, 1);
					continue;
				}
				memcpy(&s, fsb_buf_data(b[k]), sizeof(s));
				if (s >= seen_max || seen[s]++)
					atomic_fetch_add(&dup_or_bad, 1);
				got++;
			}
			fsb_buf_free_bulk(b, n);
		}
		if (got)
			atomic_fetch_add_explicit(&received, got, memory_order_relaxed);
		else if (atomic_load(&stop_rx))
			break;
		else
			sched_yield();
	}
	return NULL;
}

int main(void)
{
	unsigned cycles = 1000;
	const char *e = getenv("FSB_STRESS_CYCLES");
	if (e)
		cycles = (unsigned)strtoul(e, NULL, 10);
	bool no_grace = getenv("FSB_STRESS_NO_GRACE") &&
			strcmp(getenv("FSB_STRESS_NO_GRACE"), "1") == 0;

	struct fsb_ctx *ctx = fsb_ctx_new();
	if (!ctx) {
		perror("fsb_ctx_new");
		return 1;
	}
	fsb_ctx_set_log(ctx, NULL, NULL, FSB_LOG_WARNING);
	atomic_store(&fsb_test_skip_grace, no_grace);
	/* Hold every tx burst 50 us inside the sub-device before it touches
	 * its queue: the window a grace period must cover becomes wide
	 * enough that skipping it is caught, not left to luck. */
	atomic_store(&fsb_ring_test_tx_delay_ns, 50000);
	seen_max = 400000000ull;
	seen = calloc(seen_max, 1);
	pool = fsb_mempool_create(ctx, "stress", 16384, 256, 256, -1);
	peer_pool = fsb_mempool_create(ctx, "peer", 1024, 256, 0, -1);
	if (!seen || !pool || !peer_pool) {
		perror("setup");
		return 1;
	}
	struct fsb_port_conf pc = { .nb_rxq = 1, .nb_txq = 1,
				    .nb_rxd = 4096, .nb_txd = 4096 };
	char err[FSB_ERRMSG_MAX];
	peer[0] = fsb_bare_open(ctx, "ring,name=st_primary", &pc, err, sizeof(err));
	peer[1] = fsb_bare_open(ctx, "ring,name=st_standby", &pc, err, sizeof(err));
	port = fsb_port_open(ctx,
		"stress,hold_down=0,mac=02:fb:00:00:00:5a,announce=192.0.2.1,"
		"announce_rounds=2,announce_initial=1,announce_max=1,"
		"dev(ring,name=st_primary),dev(ring,name=st_standby)",
		err, sizeof(err));
	if (!peer[0] || !peer[1] || !port) {
		fprintf(stderr, "open: %s\n", err);
		return 1;
	}
	for (int i = 0; i < 2; i++) {
		fsb_bare_rx_queue_setup(peer[i], 0, peer_pool);
		fsb_bare_start(peer[i]);
	}
	if (fsb_port_configure(port, &pc) || fsb_rx_queue_setup(port, 0, pool) ||
	    fsb_port_start(port)) {
		fprintf(stderr, "port setup failed\n");
		return 1;
	}

	pthread_t tx, rx;
	pin_first_cpu();        /* inherited by the peer thread */
	pthread_create(&rx, NULL, rx_main, NULL);
	pthread_create(&tx, NULL, tx_main, NULL);
	while (atomic_load(&sent) < 10000)
		sched_yield();

	uint64_t t0 = now_ns();
	for (unsigned c = 0; c < cycles; c++) {
		/* every detach lands while traffic flows: wait for 256 more
		 * frames on the current path (bounded) */
		uint64_t want = atomic_load(&sent) + 256, dl0 = now_ns() + 100000000ull;
		while (atomic_load(&sent) < want && now_ns() < dl0)
			sched_yield();
		if (fsb_port_detach(port, 0) != 0 || fsb_port_attach(port, 0) != 0) {
			fprintf(stderr, "cycle %u: detach/attach failed\n", c);
			return 1;
		}
	}
	uint64_t t1 = now_ns();
	atomic_store(&stop_tx, true);
	pthread_join(tx, NULL);
	/* wait for the peers to drain */
	uint64_t dl = now_ns() + 5000000000ull;
	while (atomic_load(&received) + atomic_load(&dup_or_bad) < atomic_load(&sent) &&
	       now_ns() < dl)
		sched_yield();
	atomic_store(&stop_rx, true);
	pthread_join(rx, NULL);

	uint64_t s = atomic_load(&sent), r = atomic_load(&received);
	uint64_t missing = 0;
	for (uint64_t i = 0; i < s; i++)
		missing += !seen[i];
	uint64_t no_path = 0;
	for (unsigned q = 0; q < FSB_MAX_QUEUES; q++)
		no_path += atomic_load(&port->txq[q].no_path);
	uint64_t grace_max_us = port->max_grace_wait_ns / 1000;
	uint64_t switches = atomic_load(&port->switchovers);
	uint64_t ann_sent = 0, ann_failed = 0;
	for (unsigned q = 0; q < FSB_MAX_QUEUES; q++) {
		ann_sent += atomic_load(&port->txq[q].inj.sent);
		ann_failed += atomic_load(&port->txq[q].inj.failed);
	}
	uint64_t timeouts = atomic_load(&port->grace_timeouts);

	printf("stress: %u detach/attach cycles in %.2f s (%.2f ms/cycle)%s\n",
	       cycles, (double)(t1 - t0) / 1e9,
	       cycles ? (double)(t1 - t0) / 1e6 / cycles : 0.0,
	       no_grace ? " [grace wait DISABLED]" : "");
	printf("stress: sent %llu, received at peers %llu, missing %llu, "
	       "duplicate/bad %llu, refused %llu, tx_no_path %llu\n",
	       (unsigned long long)s, (unsigned long long)r,
	       (unsigned long long)missing,
	       (unsigned long long)atomic_load(&dup_or_bad),
	       (unsigned long long)atomic_load(&refused),
	       (unsigned long long)no_path);
	printf("stress: switchovers %llu, max grace wait %llu us, grace timeouts %llu\n",
	       (unsigned long long)switches, (unsigned long long)grace_max_us,
	       (unsigned long long)timeouts);
	printf("stress: announcements sent %llu, seen at peers %llu, dropped "
	       "(stale or refused) %llu\n", (unsigned long long)ann_sent,
	       (unsigned long long)atomic_load(&announced),
	       (unsigned long long)ann_failed);

	bool ok = missing == 0 && r == s && atomic_load(&dup_or_bad) == 0 &&
		  atomic_load(&refused) == 0 && no_path == 0 &&
		  switches == 2ull * cycles && timeouts == 0 &&
		  ann_sent > 0 && ann_sent == atomic_load(&announced);
	fsb_port_close(port);
	fsb_bare_close(peer[0]);
	fsb_bare_close(peer[1]);
	fsb_ctx_free(ctx);
	free(seen);
	printf("stress: %s\n", ok ? "PASS" : "FAIL");
	return ok ? 0 : 1;
}
