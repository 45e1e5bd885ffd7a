/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fsb-fwd - a testpmd-like forwarder for libfsb ports.
 *
 * Forwarding runs on one datapath thread (pinned with --lcore-cpu) that
 * polls every queue of every port; the main thread prints testpmd-style
 * stats every --stats-period seconds and handles SIGINT.
 *
 * --peer opens a bare sub-device that only receives and counts, on its
 * own thread: with the ring kind it is the far end of a port's ring, so
 * what it counts is measured outside the port (peer side), with the
 * sequence numbers txonly writes into every frame.  --schedule runs
 * admin detach/attach at given times.  With both, fsb-fwd prints a
 * before/during/after report: the demo of the README.
 *
 * --check makes the frames verifiable end to end (vhost-user interop
 * tests): txonly writes magic "FSB2", a sequence number per (port,
 * queue) and a checksum over everything after the Ethernet addresses
 * (which macswap may rewrite), and fills the payload with a pattern
 * derived from the sequence number; every received frame is checked
 * (txonly also polls RX then, for a loop through a peer that echoes):
 * bad checksum, per-stream gaps, reordering and duplicates are counted
 * and printed with the stats and in the JSON.
 *
 * Refused frames (tx_burst returned less than it was given) are the
 * app's, per the tx contract.  By default io and macswap free them and
 * count them as refused, as testpmd does; --tx-retry keeps them and
 * offers them again, first, on the next round, before taking more from
 * RX, so that a retrying app loses nothing across a failover that the
 * kernel did not already take.  txonly always retries: a refused frame
 * is generated again with the same sequence number.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsb/fsb.h"
#include "fsb-check.h"

#define MAX_PORTS 8
#define MAX_PEERS 8
#define MAX_SCHED 32
#define BUCKET_NS 100000000ull        /* peer timeline: 100 ms buckets */
#define MAX_BUCKETS 6000               /* 10 minutes */
#define CHK_PORTS 64                   /* streams tracked: port id < 64 */

enum fwd_mode { MODE_IO, MODE_TXONLY, MODE_RXONLY, MODE_MACSWAP };
static const char *const mode_names[] = { "io", "txonly", "rxonly", "macswap" };

struct fwd_port {
	const char *spec;
	bool bare;
	struct fsb_port *port;
	struct fsb_bare *b;
	struct fsb_mempool *pool;
	uint16_t id;
	uint8_t mac[6];
	/* forwarding counters, datapath-owned */
	_Atomic uint64_t rx, tx, tx_dropped;
	uint64_t seq;
	uint64_t qseq[FSB_MAX_QUEUES];          /* --check: per queue */
	/* --tx-retry (io, macswap): frames received on queue q whose
	 * forwarding was refused, oldest first; datapath-owned */
	struct fsb_buf *held[FSB_MAX_QUEUES][512];
	uint16_t nheld[FSB_MAX_QUEUES];
	/* throughput since last show */
	uint64_t last_ipackets, last_opackets, last_ibytes, last_obytes;
	uint64_t last_ns;
};

struct peer {
	const char *spec;
	struct fsb_bare *b;
	struct fsb_mempool *pool;
	_Atomic uint64_t rx, bad;
	_Atomic uint64_t first_ns;             /* first packet ever */
	/* first packet seen after schedule action k, CLOCK_MONOTONIC */
	_Atomic uint64_t first_after[MAX_SCHED];
	_Atomic uint64_t *buckets;             /* packets per 100 ms */
};

struct sched_item {
	double at_s;
	bool attach;
	unsigned slot;
	bool done;
	_Atomic uint64_t done_ns;       /* read by the peer thread */
};

static struct {
	enum fwd_mode mode;
	unsigned burst, txpkts, nb_queues, nb_mbufs;
	uint64_t tx_rate;                       /* txonly pps, 0 = flat out */
	uint64_t tx_packets;                    /* txonly budget per port, 0 = none */
	unsigned nb_rxd, nb_txd;
	double stats_period, duration;
	int lcore_cpu;
	bool json, check, tx_retry, promisc, hugetlb;
	bool set_mac;
	uint8_t port_mac[6];            /* --port-mac */
	unsigned nports, npeers, nsched;
	struct fwd_port ports[MAX_PORTS];
	struct peer peers[MAX_PEERS];
	struct sched_item sched[MAX_SCHED];
	FILE *out;                              /* human output */
} cfg = {
	.mode = MODE_IO, .burst = 32, .txpkts = 64, .nb_queues = 1,
	.nb_mbufs = 16384, .stats_period = 0, .duration = 0,
	.lcore_cpu = -1,
};

static struct fsb_ctx *ctx;
static volatile sig_atomic_t got_sigint;
static _Atomic bool fwd_stop, peers_stop;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t t0_ns;
static _Atomic unsigned nevents;

/*
 * --check counters.  A stream is what one sender queue sent: (port id,
 * queue) from the frame's header.  Written by the datapath thread only,
 * read by the main thread for stats (relaxed atomics, one writer).
 */
struct chk_stream {
	uint64_t next;                  /* next expected seq; datapath only */
	bool seen;                      /* datapath only */
	_Atomic uint64_t ok, gaps, missing, reordered, dup, bad_csum;
};
static struct chk_stream chk[CHK_PORTS][FSB_MAX_QUEUES];
static _Atomic uint64_t chk_foreign, chk_short, chk_bad_csum_total;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&out_lock);
	va_start(ap, fmt);
	vfprintf(cfg.out, fmt, ap);
	va_end(ap);
	fflush(cfg.out);
	pthread_mutex_unlock(&out_lock);
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: fsb-fwd [OPTIONS] --port SPEC [--port SPEC ...]\n"
"       fsb-fwd [OPTIONS] --bare SUBDEV-SPEC\n"
"\n"
"Forward packets through libfsb ports, testpmd-style.\n"
"\n"
"  --port SPEC            open a failsafe port, e.g.\n"
"                         'fsb0,hold_down=200,dev(ring,name=a),dev(null)'\n"
"  --bare SUBDEV-SPEC     drive one sub-device with no failsafe layer,\n"
"                         e.g. 'null,size=64' (for overhead benches)\n"
"  --peer SUBDEV-SPEC     open a bare sub-device that only receives and\n"
"                         counts on its own thread (e.g. the far end of\n"
"                         a ring), measuring from outside the port\n"
"  --forward-mode MODE    io, txonly, rxonly or macswap (default io)\n"
"  --txpkts N             frame size for txonly, 60..9600 (default 64)\n"
"  --tx-rate PPS          pace txonly to PPS packets/s (0 = flat out)\n"
"  --tx-packets N         txonly: send N packets per port, then stop\n"
"                         (after 0.5 s for what is in flight)\n"
"  --tx-retry             io, macswap: keep frames tx_burst refused and\n"
"                         send them again first, instead of freeing\n"
"                         them (txonly always does: a refused frame is\n"
"                         generated again with its sequence number)\n"
"  --promisc              put every port in promiscuous mode\n"
"  --hugetlb              mempools on huge pages or none (driver=uio needs it)\n"
"  --port-mac MAC         set the (first) port's MAC address after start\n"
"  --burst N              packets per burst, 1..512 (default 32)\n"
"  --nb-queues N          rx and tx queues per port, 1..16 (default 1)\n"
"  --rxd N, --txd N       descriptors per rx/tx queue (default 1024)\n"
"  --total-num-mbufs N    buffers per port pool (default 16384)\n"
"  --stats-period S       print stats every S seconds (0 = off)\n"
"  --duration S           stop after S seconds (0 = until SIGINT)\n"
"  --lcore-cpu N          pin the datapath thread to CPU N\n"
"  --schedule LIST        admin actions: T:detach:SLOT,T:attach:SLOT,...\n"
"                         (T in seconds from start, on the first --port)\n"
"  --check                verifiable frames: txonly writes a per-queue\n"
"                         sequence number, a payload pattern and a\n"
"                         checksum (magic FSB2) and also polls RX; every\n"
"                         mode checks what it receives and counts bad\n"
"                         checksums, gaps, reordering and duplicates per\n"
"                         stream (stats lines \"Check ...\" and JSON \"check\")\n"
"  --telemetry OPTS       the control socket's options (libfsb(3)):\n"
"                         prefix=NAME, path=PATH, group=G, clients=N;\n"
"                         it is on by default, at\n"
"                         RUNDIR/dpdk/fsb/dpdk_telemetry.v2 (fsbctl(8),\n"
"                         dpdk-telemetry.py -f fsb)\n"
"  --no-telemetry         no control socket\n"
"  --json                 print a final summary as one JSON object on\n"
"                         stdout (human output goes to stderr)\n"
"  -h, --help             this help\n"
"  -V, --version          print the version\n"
"\n"
"Exit status: 0 on success (SIGINT included), 1 on a runtime failure,\n"
"2 on a bad flag or spec.\n");
}

static void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die_usage(const char *fmt, ...)
{
	va_list ap;
	fputs("fsb-fwd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static unsigned long parse_ulong(const char *flag, const char *v,
				 unsigned long min, unsigned long max)
{
	char *end;
	errno = 0;
	if (!v || !*v || *v == '-' || *v == '+')
		die_usage("%s: bad number '%s'", flag, v ? v : "");
	unsigned long x = strtoul(v, &end, 10);
	if (errno || *end)
		die_usage("%s: bad number '%s'", flag, v);
	if (x < min || x > max)
		die_usage("%s: %lu out of range (%lu..%lu)", flag, x, min, max);
	return x;
}

static double parse_seconds(const char *flag, const char *v, double max)
{
	char *end;
	errno = 0;
	if (!v || !*v || *v == '-' || *v == '+')
		die_usage("%s: bad number of seconds '%s'", flag, v ? v : "");
	double x = strtod(v, &end);
	if (errno || *end || x != x)
		die_usage("%s: bad number of seconds '%s'", flag, v);
	if (x < 0 || x > max)
		die_usage("%s: %s out of range (0..%g)", flag, v, max);
	return x;
}

static void parse_schedule(const char *list)
{
	char *dup = strdup(list), *save = NULL;
	if (!dup)
		exit(1);
	for (char *it = strtok_r(dup, ",", &save); it;
	     it = strtok_r(NULL, ",", &save)) {
		if (cfg.nsched >= MAX_SCHED)
			die_usage("--schedule: more than %d actions", MAX_SCHED);
		char t[32], act[16];
		unsigned slot;
		char extra;
		if (sscanf(it, "%31[0-9.]:%15[a-z]:%u%c", t, act, &slot, &extra) != 3)
			die_usage("--schedule: bad action '%s' (want T:detach|attach:SLOT)", it);
		struct sched_item *s = &cfg.sched[cfg.nsched++];
		s->at_s = parse_seconds("--schedule", t, 86400);
		if (strcmp(act, "detach") == 0)
			s->attach = false;
		else if (strcmp(act, "attach") == 0)
			s->attach = true;
		else
			die_usage("--schedule: unknown action '%s' in '%s'", act, it);
		if (slot >= FSB_MAX_SUBDEVS)
			die_usage("--schedule: slot %u out of range (0..%d)", slot,
				  FSB_MAX_SUBDEVS - 1);
		s->slot = slot;
	}
	free(dup);
}

/* ---- events ---- */

static void on_event(void *arg, const struct fsb_event *ev)
{
	(void)arg;
	char line[200];
	fsb_event_format(ev, line, sizeof(line));
	atomic_fetch_add(&nevents, 1);
	double t = (double)(ev->time_ns - t0_ns) / 1e9;
	out("EVENT %.3f %s: %s\n", t, fsb_event_type_name(ev->type), line);
}

/* ---- packets ---- */


static void build_template(uint8_t *f, const uint8_t src[6], unsigned len)
{
	static const uint8_t dst[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };
	memset(f, 0, HDR_LEN);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x08; f[13] = 0x00;                 /* IPv4 */
	uint8_t *ip = f + 14;
	unsigned iplen = len - 14;
	ip[0] = 0x45; ip[2] = (uint8_t)(iplen >> 8); ip[3] = (uint8_t)iplen;
	ip[8] = 64; ip[9] = 17;                      /* UDP */
	ip[12] = 198; ip[13] = 18; ip[14] = 0; ip[15] = 1;
	ip[16] = 198; ip[17] = 18; ip[18] = 0; ip[19] = 2;
	uint32_t sum = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	sum = ~sum & 0xffff;
	ip[10] = (uint8_t)(sum >> 8); ip[11] = (uint8_t)sum;
	uint8_t *udp = ip + 20;
	unsigned ulen = iplen - 20;
	udp[1] = 9; udp[3] = 9;
	udp[4] = (uint8_t)(ulen >> 8); udp[5] = (uint8_t)ulen;
}

static inline uint16_t port_rx(struct fwd_port *p, uint16_t q,
			       struct fsb_buf **b, uint16_t n)
{
	return p->bare ? fsb_bare_rx_burst(p->b, q, b, n) :
		fsb_rx_burst(p->port, q, b, n);
}

static inline uint16_t port_tx(struct fwd_port *p, uint16_t q,
			       struct fsb_buf **b, uint16_t n)
{
	return p->bare ? fsb_bare_tx_burst(p->b, q, b, n) :
		fsb_tx_burst(p->port, q, b, n);
}

static inline void cnt_add(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
			      memory_order_relaxed);
}

/* ---- --check: verifiable frames (fsb-check.h) ---- */

/* Check one received frame; datapath thread only. */
static void chk_frame(const struct fsb_buf *b)
{
	const uint8_t *d = fsb_buf_data((struct fsb_buf *)b);
	unsigned len = b->data_len;
	struct seq_hdr h;
	if (len < CHK_MIN) {
		cnt_add(&chk_short, 1);
		return;
	}
	memcpy(&h, d + HDR_LEN, sizeof(h));
	if (h.magic != CHK_MAGIC || h.port >= CHK_PORTS ||
	    h.queue >= FSB_MAX_QUEUES) {
		cnt_add(&chk_foreign, 1);
		return;
	}
	struct chk_stream *s = &chk[h.port][h.queue];
	uint32_t c;
	memcpy(&c, d + CHK_OFF, 4);
	if (c != chk_sum(d, len)) {
		/* the header may be what is corrupt: count, trust nothing */
		cnt_add(&s->bad_csum, 1);
		cnt_add(&chk_bad_csum_total, 1);
		return;
	}
	if (!s->seen) {
		/* the first frame of a stream: frames before it may have
		 * been dropped while the peer was not yet forwarding */
		s->seen = true;
		s->next = h.seq + 1;
		cnt_add(&s->ok, 1);
	} else if (h.seq == s->next) {
		s->next++;
		cnt_add(&s->ok, 1);
	} else if (h.seq > s->next) {
		cnt_add(&s->gaps, 1);
		cnt_add(&s->missing, h.seq - s->next);
		s->next = h.seq + 1;
		cnt_add(&s->ok, 1);
	} else if (h.seq + 1 == s->next) {
		cnt_add(&s->dup, 1);
	} else {
		cnt_add(&s->reordered, 1);
	}
}

struct chk_total { uint64_t ok, gaps, missing, reordered, dup, bad_csum; };

static void chk_totals(struct chk_total *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned p = 0; p < CHK_PORTS; p++)
		for (unsigned q = 0; q < FSB_MAX_QUEUES; q++) {
			struct chk_stream *s = &chk[p][q];
			t->ok += atomic_load(&s->ok);
			t->gaps += atomic_load(&s->gaps);
			t->missing += atomic_load(&s->missing);
			t->reordered += atomic_load(&s->reordered);
			t->dup += atomic_load(&s->dup);
			t->bad_csum += atomic_load(&s->bad_csum);
		}
}

static void *fwd_main(void *arg)
{
	(void)arg;
	struct fsb_buf *bufs[512];
	uint8_t tmpl[MAX_PORTS][HDR_LEN];
	unsigned burst = cfg.burst;

	if (cfg.lcore_cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cfg.lcore_cpu, &set);
		int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		if (rc)
			fprintf(stderr, "fsb-fwd: cannot pin to CPU %d: %s\n",
				cfg.lcore_cpu, strerror(rc));
	}
	for (unsigned i = 0; i < cfg.nports; i++)
		build_template(tmpl[i], cfg.ports[i].mac, cfg.txpkts);
	uint64_t t_start = now_ns(), generated = 0;

	unsigned rot = 0;
	while (!atomic_load_explicit(&fwd_stop, memory_order_relaxed)) {
		rot++;
		/* paced txonly: when the next frame is due (0 = now) */
		uint64_t next_due = cfg.mode == MODE_TXONLY && cfg.tx_rate ?
			UINT64_MAX : 0;
		for (unsigned i = 0; i < cfg.nports; i++) {
			struct fwd_port *p = &cfg.ports[i];
			struct fwd_port *peer = &cfg.ports[(i ^ 1) < cfg.nports ? (i ^ 1) : i];
			/* paced txonly: the queue that goes first rotates, or
			 * the first one would take every frame that falls due */
			for (uint16_t qi = 0; qi < cfg.nb_queues; qi++) {
				uint16_t q = (uint16_t)((qi + rot) % cfg.nb_queues);
				uint16_t n, sent;
				switch (cfg.mode) {
				case MODE_TXONLY: {
					/* how many to send now: a burst, fewer
					 * at the end of a --tx-packets budget,
					 * none when paced */
					unsigned want = burst;
					uint64_t done = atomic_load_explicit(&p->tx, memory_order_relaxed);
					if (cfg.tx_packets)
						want = done >= cfg.tx_packets ? 0 :
						       (unsigned)(cfg.tx_packets - done < burst ?
								  cfg.tx_packets - done : burst);
					if (want && cfg.tx_rate &&
					    (now_ns() - t_start) * cfg.tx_rate / 1000000000ull <
					    generated + want) {
						uint64_t due = t_start + (generated + want) *
							1000000000ull / cfg.tx_rate;
						if (due < next_due)
							next_due = due;
						want = 0;
					} else {
						next_due = 0;
					}
					if (want && fsb_buf_alloc_bulk(p->pool, bufs, want) < 0)
						want = 0;
					if (!want) {
						/* still a quiescent point */
						port_tx(p, q, bufs, 0);
						goto txonly_rx;
					}
					generated += want;
					for (unsigned k = 0; k < want; k++) {
						struct fsb_buf *b = bufs[k];
						uint8_t *d = fsb_buf_data(b);
						memcpy(d, tmpl[i], HDR_LEN);
						if (cfg.check) {
							chk_fill(d, cfg.txpkts, p->id, q,
								 p->qseq[q]++);
						} else {
							struct seq_hdr h = { SEQ_MAGIC, p->id, q, p->seq++ };
							memcpy(d + HDR_LEN, &h, sizeof(h));
						}
						b->data_len = (uint16_t)cfg.txpkts;
						b->pkt_len = cfg.txpkts;
					}
					sent = port_tx(p, q, bufs, (uint16_t)want);
					if (sent < want) {
						/* Refused frames are ours: their
						 * sequence numbers are reused. */
						if (cfg.check)
							p->qseq[q] -= want - sent;
						else
							p->seq -= want - sent;
						generated -= want - sent;
						fsb_buf_free_bulk(bufs + sent, want - sent);
						cnt_add(&p->tx_dropped, want - sent);
					}
					cnt_add(&p->tx, sent);
				txonly_rx:
					if (!cfg.check)
						break;
					/* --check: the frames come back through
					 * an echoing peer; check them here */
					n = port_rx(p, q, bufs, (uint16_t)burst);
					if (n) {
						for (unsigned k = 0; k < n; k++)
							chk_frame(bufs[k]);
						fsb_buf_free_bulk(bufs, n);
						cnt_add(&p->rx, n);
					}
					break;
				}
				case MODE_RXONLY:
					n = port_rx(p, q, bufs, (uint16_t)burst);
					if (n) {
						if (cfg.check)
							for (unsigned k = 0; k < n; k++)
								chk_frame(bufs[k]);
						fsb_buf_free_bulk(bufs, n);
						cnt_add(&p->rx, n);
					}
					break;
				case MODE_MACSWAP:
				case MODE_IO: {
					struct fwd_port *dst = cfg.mode == MODE_MACSWAP ? p : peer;
					if (p->nheld[q]) {
						/* --tx-retry: what was refused
						 * goes first, in order */
						uint16_t h = p->nheld[q];
						sent = port_tx(dst, q, p->held[q], h);
						cnt_add(&dst->tx, sent);
						memmove(p->held[q], p->held[q] + sent,
							(size_t)(h - sent) * sizeof(p->held[q][0]));
						p->nheld[q] = (uint16_t)(h - sent);
						if (p->nheld[q])
							break;
					}
					n = port_rx(p, q, bufs, (uint16_t)burst);
					if (!n)
						break;
					cnt_add(&p->rx, n);
					if (cfg.check)
						for (unsigned k = 0; k < n; k++)
							chk_frame(bufs[k]);
					if (cfg.mode == MODE_MACSWAP) {
						for (unsigned k = 0; k < n; k++) {
							uint8_t *d = fsb_buf_data(bufs[k]), t[6];
							memcpy(t, d, 6);
							memcpy(d, d + 6, 6);
							memcpy(d + 6, t, 6);
						}
					}
					sent = port_tx(dst, q, bufs, n);
					if (sent < n && cfg.tx_retry) {
						memcpy(p->held[q], bufs + sent,
						       (size_t)(n - sent) * sizeof(bufs[0]));
						p->nheld[q] = (uint16_t)(n - sent);
					} else if (sent < n) {
						fsb_buf_free_bulk(bufs + sent, n - sent);
						cnt_add(&p->tx_dropped, n - sent);
					}
					cnt_add(&dst->tx, sent);
					break;
				}
				}
			}
		}
		/*
		 * Paced and not due yet: sleep until the next frame, at most
		 * 1 ms, instead of spinning.  In a guest with one vCPU a
		 * spinning datapath takes the CPU from the port's control
		 * thread and from the kernel's own work (a hot-unplug's).
		 * Every queue passed a quiescent point in this round, so a
		 * grace period waits at most the sleep.
		 */
		if (next_due && next_due != UINT64_MAX) {
			uint64_t t = now_ns();
			if (next_due > t + 100000) {
				uint64_t ns = next_due - t < 1000000 ? next_due - t : 1000000;
				struct timespec ts = { 0, (long)ns };
				nanosleep(&ts, NULL);
			}
		}
	}
	return NULL;
}

/* ---- peers: count from outside ---- */

static void *peer_main(void *arg)
{
	(void)arg;
	struct fsb_buf *bufs[64];
	while (!atomic_load(&peers_stop)) {
		unsigned got_any = 0;
		for (unsigned i = 0; i < cfg.npeers; i++) {
			struct peer *pe = &cfg.peers[i];
			for (uint16_t q = 0; q < cfg.nb_queues; q++) {
				uint16_t n = fsb_bare_rx_burst(pe->b, q, bufs, 64);
				if (!n)
					continue;
				got_any += n;
				uint64_t t = now_ns();
				for (uint16_t k = 0; k < n; k++) {
					struct seq_hdr h;
					if (bufs[k]->data_len >= HDR_LEN + sizeof(h)) {
						memcpy(&h, (uint8_t *)fsb_buf_data(bufs[k]) + HDR_LEN, sizeof(h));
						if (h.magic != SEQ_MAGIC && h.magic != CHK_MAGIC)
							cnt_add(&pe->bad, 1);
					}
				}
				fsb_buf_free_bulk(bufs, n);
				cnt_add(&pe->rx, n);
				uint64_t zero = 0;
				atomic_compare_exchange_strong(&pe->first_ns, &zero, t);
				for (unsigned k = 0; k < cfg.nsched; k++) {
					uint64_t d = atomic_load(&cfg.sched[k].done_ns);
					if (d && t >= d && !atomic_load(&pe->first_after[k]))
						atomic_store(&pe->first_after[k], t);
				}
				uint64_t bk = (t - t0_ns) / BUCKET_NS;
				if (bk < MAX_BUCKETS)
					cnt_add(&pe->buckets[bk], n);
			}
		}
		if (!got_any) {
			struct timespec ts = { 0, 20000 };
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

/* ---- stats ---- */

static void port_stats(struct fwd_port *p, struct fsb_stats *st)
{
	if (p->bare)
		fsb_bare_stats_get(p->b, st);
	else
		fsb_port_stats_get(p->port, st);
}

/* --check: one line per stream seen, then the totals. */
static void show_check(void)
{
	struct chk_total t;
	for (unsigned p = 0; p < CHK_PORTS; p++)
		for (unsigned q = 0; q < FSB_MAX_QUEUES; q++) {
			struct chk_stream *s = &chk[p][q];
			uint64_t ok = atomic_load(&s->ok), bad = atomic_load(&s->bad_csum);
			if (!ok && !bad)
				continue;
			out("  Check stream port %u queue %u: ok %" PRIu64 " gaps %" PRIu64
			    " missing %" PRIu64 " reordered %" PRIu64 " dup %" PRIu64
			    " bad-csum %" PRIu64 "\n", p, q, ok, atomic_load(&s->gaps),
			    atomic_load(&s->missing), atomic_load(&s->reordered),
			    atomic_load(&s->dup), bad);
		}
	chk_totals(&t);
	out("  Check total: rx_checked %" PRIu64 " rx_gaps %" PRIu64 " rx_missing %" PRIu64
	    " rx_reordered %" PRIu64 " rx_dup %" PRIu64 " rx_bad_csum %" PRIu64
	    " rx_foreign %" PRIu64 " rx_short %" PRIu64 "\n",
	    t.ok, t.gaps, t.missing, t.reordered, t.dup, t.bad_csum,
	    atomic_load(&chk_foreign), atomic_load(&chk_short));
}

static void show_stats(void)
{
	uint64_t t = now_ns();
	for (unsigned i = 0; i < cfg.nports; i++) {
		struct fwd_port *p = &cfg.ports[i];
		struct fsb_stats st;
		port_stats(p, &st);
		double dt = (double)(t - p->last_ns) / 1e9;
		if (dt <= 0)
			dt = 1e-9;
		uint64_t rpps = (uint64_t)((double)(st.ipackets - p->last_ipackets) / dt);
		uint64_t tpps = (uint64_t)((double)(st.opackets - p->last_opackets) / dt);
		uint64_t rbps = (uint64_t)((double)(st.ibytes - p->last_ibytes) * 8 / dt);
		uint64_t tbps = (uint64_t)((double)(st.obytes - p->last_obytes) * 8 / dt);
		p->last_ipackets = st.ipackets; p->last_opackets = st.opackets;
		p->last_ibytes = st.ibytes; p->last_obytes = st.obytes;
		p->last_ns = t;
		out("\n  ######################## NIC statistics for port %-2u ########################\n"
		    "  RX-packets: %-10" PRIu64 " RX-missed: %-10" PRIu64 " RX-bytes:  %" PRIu64 "\n"
		    "  RX-errors: %" PRIu64 "\n"
		    "  RX-nombuf:  %-10" PRIu64 "\n"
		    "  TX-packets: %-10" PRIu64 " TX-errors: %-10" PRIu64 " TX-bytes:  %" PRIu64 "\n"
		    "\n"
		    "  Throughput (since last show)\n"
		    "  Rx-pps: %12" PRIu64 "          Rx-bps: %12" PRIu64 "\n"
		    "  Tx-pps: %12" PRIu64 "          Tx-bps: %12" PRIu64 "\n"
		    "  ############################################################################\n",
		    p->id, st.ipackets, st.imissed, st.ibytes, st.ierrors,
		    st.rx_nombuf, st.opackets, st.oerrors, st.obytes,
		    rpps, rbps, tpps, tbps);
	}
	if (cfg.check)
		show_check();
}

static void show_fwd_stats(void)
{
	uint64_t trx = 0, ttx = 0, tdrop = 0;
	for (unsigned i = 0; i < cfg.nports; i++) {
		struct fwd_port *p = &cfg.ports[i];
		uint64_t rx = atomic_load(&p->rx), tx = atomic_load(&p->tx),
			 dr = atomic_load(&p->tx_dropped);
		trx += rx; ttx += tx; tdrop += dr;
		out("\n  ---------------------- Forward statistics for port %-2u ----------------------\n"
		    "  RX-packets: %-14" PRIu64 " RX-dropped: %-14d RX-total: %" PRIu64 "\n"
		    "  TX-packets: %-14" PRIu64 " TX-dropped: %-14" PRIu64 " TX-total: %" PRIu64 "\n"
		    "  ----------------------------------------------------------------------------\n",
		    p->id, rx, 0, rx, tx, dr, tx + dr);
	}
	out("\n  +++++++++++++++ Accumulated forward statistics for all ports+++++++++++++++\n"
	    "  RX-packets: %-14" PRIu64 " RX-dropped: %-14d RX-total: %" PRIu64 "\n"
	    "  TX-packets: %-14" PRIu64 " TX-dropped: %-14" PRIu64 " TX-total: %" PRIu64 "\n"
	    "  ++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++\n",
	    trx, 0, trx, ttx, tdrop, ttx + tdrop);
	for (unsigned i = 0; i < cfg.npeers; i++) {
		struct peer *pe = &cfg.peers[i];
		out("  Peer %u (%s): RX-packets: %" PRIu64 "  bad: %" PRIu64 "\n",
		    i, pe->spec, atomic_load(&pe->rx), atomic_load(&pe->bad));
	}
}

/* ---- report (demo) ---- */

static double peer_pps(struct peer *pe, double from_s, double to_s)
{
	uint64_t b0 = (uint64_t)(from_s * 10 + 0.5), b1 = (uint64_t)(to_s * 10 + 0.5);
	uint64_t sum = 0;
	if (b1 > MAX_BUCKETS)
		b1 = MAX_BUCKETS;
	for (uint64_t b = b0; b < b1; b++)
		sum += atomic_load(&pe->buckets[b]);
	return b1 > b0 ? (double)sum / ((double)(b1 - b0) / 10.0) : 0;
}

/*
 * The peer that carries the traffic after an action at @d: the one that
 * got packets after @d but none in the 200 ms before it.  -1 if none.
 */
static int new_path_peer(uint64_t d)
{
	uint64_t b = (d - t0_ns) / BUCKET_NS;
	int best = -1;
	uint64_t best_t = UINT64_MAX;
	for (unsigned i = 0; i < cfg.npeers; i++) {
		uint64_t before = 0;
		for (uint64_t k = b >= 2 ? b - 2 : 0; k < b && k < MAX_BUCKETS; k++)
			before += atomic_load(&cfg.peers[i].buckets[k]);
		unsigned idx = 0;
		for (unsigned k = 0; k < cfg.nsched; k++)
			if (atomic_load(&cfg.sched[k].done_ns) == d)
				idx = k;
		uint64_t f = atomic_load(&cfg.peers[i].first_after[idx]);
		if (before == 0 && f && f < best_t) {
			best = (int)i;
			best_t = f;
		}
	}
	return best;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

struct phase { const char *name; double from, to; };

static unsigned report_phases(struct phase *ph, double elapsed)
{
	/* before: start..first action; during: first..second action;
	 * after: second action (+ hold-down settle)..end.  Windows skip
	 * 0.3 s around each action so that the switch itself is not
	 * averaged into a phase. */
	if (cfg.nsched < 2)
		return 0;
	double a = cfg.sched[0].at_s, b = cfg.sched[1].at_s;
	ph[0] = (struct phase){ "before", 0.2, a };
	ph[1] = (struct phase){ "during", a + 0.3, b };
	ph[2] = (struct phase){ "after", b + 0.5, elapsed - 0.1 };
	return 3;
}

static void print_report(double elapsed, uint64_t sent, uint64_t refused)
{
	struct phase ph[3];
	unsigned nph = report_phases(ph, elapsed);
	uint64_t recv = 0, bad = 0;
	for (unsigned i = 0; i < cfg.npeers; i++) {
		recv += atomic_load(&cfg.peers[i].rx);
		bad += atomic_load(&cfg.peers[i].bad);
	}
	out("\n=== failover report (counted at the peers, not by the port) ===\n");
	if (nph) {
		out("%-8s %-13s", "phase", "window (s)");
		for (unsigned i = 0; i < cfg.npeers; i++)
			out("  peer%u pps   ", i);
		out("\n");
		for (unsigned k = 0; k < nph; k++) {
			out("%-8s %5.1f-%-7.1f", ph[k].name, ph[k].from, ph[k].to);
			for (unsigned i = 0; i < cfg.npeers; i++)
				out("  %-12.0f", peer_pps(&cfg.peers[i], ph[k].from, ph[k].to));
			out("\n");
		}
	}
	for (unsigned k = 0; k < cfg.nsched; k++) {
		struct sched_item *s = &cfg.sched[k];
		uint64_t d = atomic_load(&s->done_ns);
		out("action %u: %s slot %u at %.3f s\n", k,
		    s->attach ? "attach" : "detach", s->slot,
		    d ? (double)(d - t0_ns) / 1e9 : -1.0);
		int np = d ? new_path_peer(d) : -1;
		if (np >= 0)
			out("  traffic moved to peer%u: first packet %.3f ms after the action\n",
			    np, (double)(atomic_load(&cfg.peers[np].first_after[k]) - d) / 1e6);
		else if (d)
			out("  no peer took over new traffic after it\n");
	}
	out("sent (accepted by tx_burst): %" PRIu64 "\n", sent);
	out("refused by tx_burst (kept by the app): %" PRIu64 "\n", refused);
	out("received at the peers: %" PRIu64 "\n", recv);
	out("lost (sent - received): %" PRId64 "\n", (int64_t)(sent - recv));
	out("corrupt frames at the peers: %" PRIu64 "\n", bad);
}

static void on_sigint(int sig)
{
	(void)sig;
	got_sigint = 1;
}

static void print_json(double elapsed, uint64_t sent, uint64_t refused)
{
	FILE *f = stdout;
	fprintf(f, "{\"version\":");
	json_str(f, fsb_version());
	/* start_mono_ns: the CLOCK_MONOTONIC origin of the EVENT and ACTION
	 * times, so that an outside tool (fsb-drill) can place them */
	fprintf(f, ",\"forward_mode\":\"%s\",\"duration_s\":%.3f,\"start_mono_ns\":%" PRIu64
		",\"burst\":%u,\"txpkts\":%u,\"nb_queues\":%u,\"events\":%u,\"ports\":[",
		mode_names[cfg.mode], elapsed, t0_ns, cfg.burst, cfg.txpkts,
		cfg.nb_queues, atomic_load(&nevents));
	for (unsigned i = 0; i < cfg.nports; i++) {
		struct fwd_port *p = &cfg.ports[i];
		struct fsb_stats st;
		port_stats(p, &st);
		fprintf(f, "%s{\"id\":%u,\"spec\":", i ? "," : "", p->id);
		json_str(f, p->spec);
		fprintf(f, ",\"bare\":%s,\"rx_packets\":%" PRIu64
			",\"tx_packets\":%" PRIu64 ",\"rx_bytes\":%" PRIu64
			",\"tx_bytes\":%" PRIu64 ",\"rx_missed\":%" PRIu64
			",\"rx_nombuf\":%" PRIu64 ",\"tx_errors\":%" PRIu64
			",\"fwd_rx\":%" PRIu64 ",\"fwd_tx\":%" PRIu64
			",\"fwd_tx_dropped\":%" PRIu64
			",\"rx_pps\":%.0f,\"tx_pps\":%.0f",
			p->bare ? "true" : "false", st.ipackets, st.opackets,
			st.ibytes, st.obytes, st.imissed, st.rx_nombuf,
			st.oerrors, atomic_load(&p->rx), atomic_load(&p->tx),
			atomic_load(&p->tx_dropped),
			elapsed > 0 ? (double)atomic_load(&p->rx) / elapsed : 0,
			elapsed > 0 ? (double)atomic_load(&p->tx) / elapsed : 0);
		if (!p->bare) {
			int n = fsb_port_xstats_names(p->port, NULL, 0);
			struct fsb_xstat_name *names = calloc((size_t)n, sizeof(*names));
			uint64_t *vals = calloc((size_t)n, sizeof(*vals));
			if (names && vals) {
				fsb_port_xstats_names(p->port, names, (unsigned)n);
				fsb_port_xstats_get(p->port, vals, (unsigned)n);
				fprintf(f, ",\"xstats\":{");
				for (int k = 0; k < n; k++)
					fprintf(f, "%s\"%s\":%" PRIu64, k ? "," : "",
						names[k].name, vals[k]);
				fprintf(f, "}");
			}
			free(names);
			free(vals);
		}
		fprintf(f, "}");
	}
	fprintf(f, "]");
	if (cfg.check) {
		struct chk_total t;
		chk_totals(&t);
		fprintf(f, ",\"check\":{\"rx_checked\":%" PRIu64 ",\"rx_gaps\":%" PRIu64
			",\"rx_missing\":%" PRIu64 ",\"rx_reordered\":%" PRIu64
			",\"rx_dup\":%" PRIu64 ",\"rx_bad_csum\":%" PRIu64
			",\"rx_foreign\":%" PRIu64 ",\"rx_short\":%" PRIu64 ",\"streams\":[",
			t.ok, t.gaps, t.missing, t.reordered, t.dup, t.bad_csum,
			atomic_load(&chk_foreign), atomic_load(&chk_short));
		bool first = true;
		for (unsigned p = 0; p < CHK_PORTS; p++)
			for (unsigned q = 0; q < FSB_MAX_QUEUES; q++) {
				struct chk_stream *s = &chk[p][q];
				uint64_t ok = atomic_load(&s->ok), bad = atomic_load(&s->bad_csum);
				if (!ok && !bad)
					continue;
				fprintf(f, "%s{\"port\":%u,\"queue\":%u,\"ok\":%" PRIu64
					",\"gaps\":%" PRIu64 ",\"missing\":%" PRIu64
					",\"reordered\":%" PRIu64 ",\"dup\":%" PRIu64
					",\"bad_csum\":%" PRIu64 "}", first ? "" : ",", p, q, ok,
					atomic_load(&s->gaps), atomic_load(&s->missing),
					atomic_load(&s->reordered), atomic_load(&s->dup), bad);
				first = false;
			}
		fprintf(f, "]}");
	}
	if (cfg.npeers) {
		struct phase ph[3];
		unsigned nph = report_phases(ph, elapsed);
		uint64_t recv = 0;
		fprintf(f, ",\"peers\":[");
		for (unsigned i = 0; i < cfg.npeers; i++) {
			struct peer *pe = &cfg.peers[i];
			recv += atomic_load(&pe->rx);
			fprintf(f, "%s{\"spec\":", i ? "," : "");
			json_str(f, pe->spec);
			fprintf(f, ",\"rx_packets\":%" PRIu64 ",\"bad\":%" PRIu64,
				atomic_load(&pe->rx), atomic_load(&pe->bad));
			for (unsigned k = 0; k < nph; k++)
				fprintf(f, ",\"pps_%s\":%.0f", ph[k].name,
					peer_pps(pe, ph[k].from, ph[k].to));
			fprintf(f, ",\"first_packet_after_action_ms\":[");
			for (unsigned k = 0; k < cfg.nsched; k++) {
				uint64_t d = atomic_load(&cfg.sched[k].done_ns);
				uint64_t fa = atomic_load(&pe->first_after[k]);
				if (d && fa)
					fprintf(f, "%s%.3f", k ? "," : "", (double)(fa - d) / 1e6);
				else
					fprintf(f, "%snull", k ? "," : "");
			}
			fprintf(f, "]");
			fprintf(f, "}");
		}
		fprintf(f, "],\"sent\":%" PRIu64 ",\"refused\":%" PRIu64
			",\"received_at_peers\":%" PRIu64 ",\"lost\":%" PRId64,
			sent, refused, recv, (int64_t)(sent - recv));
	}
	fprintf(f, "}\n");
	fflush(f);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "bare", required_argument, NULL, 'b' },
		{ "peer", required_argument, NULL, 'P' },
		{ "forward-mode", required_argument, NULL, 'm' },
		{ "txpkts", required_argument, NULL, 't' },
		{ "burst", required_argument, NULL, 'B' },
		{ "nb-queues", required_argument, NULL, 'q' },
		{ "total-num-mbufs", required_argument, NULL, 'n' },
		{ "stats-period", required_argument, NULL, 's' },
		{ "duration", required_argument, NULL, 'd' },
		{ "lcore-cpu", required_argument, NULL, 'c' },
		{ "schedule", required_argument, NULL, 'S' },
		{ "tx-rate", required_argument, NULL, 'r' },
		{ "tx-packets", required_argument, NULL, 'N' },
		{ "rxd", required_argument, NULL, 'R' },
		{ "txd", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ "check", no_argument, NULL, 'C' },
		{ "tx-retry", no_argument, NULL, 'Y' },
		{ "promisc", no_argument, NULL, 'M' },
		{ "hugetlb", no_argument, NULL, 'H' },
		{ "port-mac", required_argument, NULL, 'A' },
		{ "telemetry", required_argument, NULL, 'E' },
		{ "no-telemetry", no_argument, NULL, 'Z' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sched_arg = NULL;
	const char *tele_opts = NULL;   /* --telemetry */
	bool tele_off = false;          /* --no-telemetry */
	int c;

	cfg.out = stdout;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
		case 'b':
			if (cfg.nports >= MAX_PORTS)
				die_usage("too many --port/--bare (max %d)", MAX_PORTS);
			cfg.ports[cfg.nports].spec = optarg;
			cfg.ports[cfg.nports].bare = c == 'b';
			cfg.nports++;
			break;
		case 'P':
			if (cfg.npeers >= MAX_PEERS)
				die_usage("too many --peer (max %d)", MAX_PEERS);
			cfg.peers[cfg.npeers++].spec = optarg;
			break;
		case 'm': {
			unsigned k;
			for (k = 0; k < 4; k++)
				if (strcmp(optarg, mode_names[k]) == 0)
					break;
			if (k == 4)
				die_usage("--forward-mode: unknown mode '%s' (want io, txonly, rxonly or macswap)", optarg);
			cfg.mode = (enum fwd_mode)k;
			break;
		}
		case 't': cfg.txpkts = (unsigned)parse_ulong("--txpkts", optarg, 60, 9600); break;
		case 'B': cfg.burst = (unsigned)parse_ulong("--burst", optarg, 1, 512); break;
		case 'q': cfg.nb_queues = (unsigned)parse_ulong("--nb-queues", optarg, 1, FSB_MAX_QUEUES); break;
		case 'n': cfg.nb_mbufs = (unsigned)parse_ulong("--total-num-mbufs", optarg, 1024, 1u << 22); break;
		case 's': cfg.stats_period = parse_seconds("--stats-period", optarg, 86400); break;
		case 'd': cfg.duration = parse_seconds("--duration", optarg, 86400 * 365); break;
		case 'c': cfg.lcore_cpu = (int)parse_ulong("--lcore-cpu", optarg, 0, CPU_SETSIZE - 1); break;
		case 'S': sched_arg = optarg; break;
		case 'R': cfg.nb_rxd = (unsigned)parse_ulong("--rxd", optarg, 64, 32768); break;
		case 'T': cfg.nb_txd = (unsigned)parse_ulong("--txd", optarg, 64, 32768); break;
		case 'N': cfg.tx_packets = parse_ulong("--tx-packets", optarg, 1, ULONG_MAX); break;
		case 'Y': cfg.tx_retry = true; break;
		case 'M': cfg.promisc = true; break;
		case 'H': cfg.hugetlb = true; break;
		case 'A': {
			unsigned m[6];
			char extra;
			if (sscanf(optarg, "%x:%x:%x:%x:%x:%x%c", &m[0], &m[1], &m[2],
				   &m[3], &m[4], &m[5], &extra) != 6 ||
			    m[0] > 255 || m[1] > 255 || m[2] > 255 || m[3] > 255 ||
			    m[4] > 255 || m[5] > 255 || (m[0] & 1))
				die_usage("--port-mac: '%s' is not a unicast MAC address "
					  "(want xx:xx:xx:xx:xx:xx)", optarg);
			for (int k = 0; k < 6; k++)
				cfg.port_mac[k] = (uint8_t)m[k];
			cfg.set_mac = true;
			break;
		}
		case 'r': cfg.tx_rate = parse_ulong("--tx-rate", optarg, 0, 1000000000ul); break;
		case 'E': tele_opts = optarg; tele_off = false; break;
		case 'Z': tele_off = true; tele_opts = NULL; break;
		case 'j': cfg.json = true; break;
		case 'C': cfg.check = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("fsb-fwd (libfsb) %s\n", fsb_version()); return 0;
		case ':': die_usage("option '%s' needs a value", argv[optind - 1]);
		default:  die_usage("unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		die_usage("unexpected argument '%s' (see --help)", argv[optind]);
	if (cfg.nports == 0)
		die_usage("no --port or --bare given (see --help)");
	if (sched_arg)
		parse_schedule(sched_arg);
	if (cfg.check && cfg.txpkts < CHK_MIN)
		die_usage("--check: --txpkts %u is too small for the check header (min %zu)",
			  cfg.txpkts, (size_t)CHK_MIN);
	if (cfg.lcore_cpu >= 0 && cfg.lcore_cpu >= sysconf(_SC_NPROCESSORS_ONLN))
		die_usage("--lcore-cpu: CPU %d does not exist (have %ld)",
			  cfg.lcore_cpu, sysconf(_SC_NPROCESSORS_ONLN));

	/* Check every port spec before anything is created; bare and peer
	 * specs are checked when opened, still before anything starts. */
	for (unsigned i = 0; i < cfg.nports; i++) {
		char err[FSB_ERRMSG_MAX];
		if (!cfg.ports[i].bare &&
		    fsb_spec_check(cfg.ports[i].spec, err, sizeof(err)) < 0)
			die_usage("%s", err);
	}
	if (cfg.json)
		cfg.out = stderr;

	/* With --lcore-cpu, keep this thread (and the library's control
	 * thread, which inherits its affinity) off the datapath CPU, so a
	 * busy-polling lcore and the control side never share a CPU. */
	if (cfg.lcore_cpu >= 0) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		cpu_set_t rest;
		CPU_ZERO(&rest);
		for (long cpu = 0; cpu < ncpu && cpu < CPU_SETSIZE; cpu++)
			if (cpu != cfg.lcore_cpu)
				CPU_SET(cpu, &rest);
		if (CPU_COUNT(&rest) > 0)
			pthread_setaffinity_np(pthread_self(), sizeof(rest), &rest);
	}
	ctx = fsb_ctx_new();
	if (!ctx) {
		fprintf(stderr, "fsb-fwd: cannot create the library context: %s\n",
			strerror(errno));
		return 1;
	}
	fsb_ctx_set_log(ctx, NULL, NULL, FSB_LOG_NOTICE);
	/* The control socket, before any port: a bad option stops here
	 * with nothing started; a socket that cannot be made is only a
	 * warning unless it was asked for. */
	if (!tele_off) {
		char err[FSB_ERRMSG_MAX];
		int trc = fsb_ctx_telemetry_start(ctx, tele_opts, err, sizeof(err));
		if (trc == -EINVAL) {
			fsb_ctx_free(ctx);
			die_usage("--telemetry: %s", err);
		}
		if (trc < 0 && tele_opts) {
			fprintf(stderr, "fsb-fwd: %s\n", err);
			fsb_ctx_free(ctx);
			return 1;
		}
		if (trc < 0)
			fprintf(stderr, "fsb-fwd: no control socket: %s\n", err);
	}
	struct fsb_port_conf pc = {
		.nb_rxq = (uint16_t)cfg.nb_queues, .nb_txq = (uint16_t)cfg.nb_queues,
		.nb_rxd = (uint16_t)cfg.nb_rxd, .nb_txd = (uint16_t)cfg.nb_txd,
	};
	int exit_code = 0;
	t0_ns = now_ns();

	for (unsigned i = 0; i < cfg.nports; i++) {
		struct fwd_port *p = &cfg.ports[i];
		char err[FSB_ERRMSG_MAX], name[32];
		snprintf(name, sizeof(name), "fwd%u", i);
		p->pool = fsb_mempool_create_flags(ctx, name, cfg.nb_mbufs,
			(uint16_t)(FSB_BUF_HEADROOM + (cfg.txpkts > 2048 ? cfg.txpkts : 2048)),
			256, -1, cfg.hugetlb ? FSB_MEMPOOL_F_HUGETLB : 0);
		if (!p->pool) {
			fprintf(stderr, "fsb-fwd: mempool: %s\n", strerror(errno));
			exit_code = 1;
			goto out;
		}
		if (p->bare) {
			p->b = fsb_bare_open(ctx, p->spec, &pc, err, sizeof(err));
			if (!p->b) {
				if (err[0])
					die_usage("%s", err);
				fprintf(stderr, "fsb-fwd: --bare %s: %s\n", p->spec,
					strerror(errno));
				exit_code = 1;
				goto out;
			}
			for (uint16_t q = 0; q < cfg.nb_queues; q++)
				fsb_bare_rx_queue_setup(p->b, q, p->pool);
			p->id = (uint16_t)i;
			static const uint8_t bm[6] = { 0x02, 0, 0, 0, 0xba, 0x00 };
			memcpy(p->mac, bm, 6);
			p->mac[5] = (uint8_t)i;
		} else {
			p->port = fsb_port_open(ctx, p->spec, err, sizeof(err));
			if (!p->port) {
				if (errno == EINVAL && err[0])
					die_usage("%s", err);
				fprintf(stderr, "fsb-fwd: %s\n", err[0] ? err : strerror(errno));
				exit_code = 1;
				goto out;
			}
			p->id = fsb_port_id(p->port);
			fsb_port_set_event_cb(p->port, on_event, NULL);
			int rc = fsb_port_configure(p->port, &pc);
			if (rc < 0) {
				fprintf(stderr, "fsb-fwd: port %s: configure: %s\n",
					fsb_port_name(p->port), strerror(-rc));
				exit_code = 1;
				goto out;
			}
			for (uint16_t q = 0; q < cfg.nb_queues; q++)
				fsb_rx_queue_setup(p->port, q, p->pool);
		}
	}
	for (unsigned i = 0; i < cfg.npeers; i++) {
		struct peer *pe = &cfg.peers[i];
		char err[FSB_ERRMSG_MAX], name[32];
		snprintf(name, sizeof(name), "peer%u", i);
		pe->buckets = calloc(MAX_BUCKETS, sizeof(*pe->buckets));
		pe->pool = fsb_mempool_create_flags(ctx, name, 4096, 2048 + FSB_BUF_HEADROOM,
						    0, -1, cfg.hugetlb ?
						    FSB_MEMPOOL_F_HUGETLB : 0);
		pe->b = fsb_bare_open(ctx, pe->spec, &pc, err, sizeof(err));
		if (!pe->b || !pe->pool || !pe->buckets) {
			if (!pe->b && err[0])
				die_usage("--peer: %s", err);
			fprintf(stderr, "fsb-fwd: --peer %s: %s\n", pe->spec, strerror(errno));
			exit_code = 1;
			goto out;
		}
		for (uint16_t q = 0; q < cfg.nb_queues; q++)
			fsb_bare_rx_queue_setup(pe->b, q, pe->pool);
		fsb_bare_start(pe->b);
	}
	for (unsigned i = 0; i < cfg.nports; i++) {
		struct fwd_port *p = &cfg.ports[i];
		int rc = p->bare ? fsb_bare_start(p->b) : fsb_port_start(p->port);
		if (rc < 0) {
			fprintf(stderr, "fsb-fwd: port %u: start: %s\n", i, strerror(-rc));
			exit_code = 1;
			goto out;
		}
		if (!p->bare && cfg.promisc &&
		    (rc = fsb_port_promisc_set(p->port, true)) < 0)
			fprintf(stderr, "fsb-fwd: port %u: promiscuous: %s\n", i,
				strerror(-rc));
		if (!p->bare && cfg.set_mac && i == 0 &&
		    (rc = fsb_port_mac_set(p->port, cfg.port_mac)) < 0)
			fprintf(stderr, "fsb-fwd: port %u: --port-mac: %s\n", i,
				strerror(-rc));
		if (!p->bare) {
			struct fsb_port_info info;
			fsb_port_info_get(p->port, &info);
			memcpy(p->mac, info.mac, 6);
			out("Port %u: %02X:%02X:%02X:%02X:%02X:%02X (%s, %u sub-devices, tx on slot %d)\n",
			    p->id, info.mac[0], info.mac[1], info.mac[2], info.mac[3],
			    info.mac[4], info.mac[5], info.name, info.nb_slots,
			    info.active_slot);
		}
		p->last_ns = now_ns();
	}

	struct sigaction sa = { 0 };
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	pthread_t fwd_thr, peer_thr;
	bool peer_running = false;
	if (cfg.npeers) {
		if (pthread_create(&peer_thr, NULL, peer_main, NULL) == 0)
			peer_running = true;
	}
	if (pthread_create(&fwd_thr, NULL, fwd_main, NULL) != 0) {
		fprintf(stderr, "fsb-fwd: cannot start the datapath thread\n");
		exit_code = 1;
		goto out;
	}
	/* once the ports are up: a spec refused before says only that */
	if (fsb_ctx_telemetry_path(ctx))
		fprintf(stderr, "fsb-fwd: control socket %s\n", fsb_ctx_telemetry_path(ctx));
	out("Forwarding mode: %s, burst %u, %u queue(s) per port%s\n",
	    mode_names[cfg.mode], cfg.burst, cfg.nb_queues,
	    cfg.mode == MODE_TXONLY ? (cfg.check ? ", checked frames (seq per queue, checksum)"
					 : ", sequence numbers in every frame") : "");

	uint64_t start = now_ns(), next_stats = 0;
	if (cfg.stats_period > 0)
		next_stats = start + (uint64_t)(cfg.stats_period * 1e9);
	uint64_t budget_done = 0;
	while (!got_sigint) {
		uint64_t t = now_ns();
		if (cfg.duration > 0 && t - start >= (uint64_t)(cfg.duration * 1e9))
			break;
		if (cfg.tx_packets && cfg.mode == MODE_TXONLY) {
			/* budget sent: linger 0.5 s, the datapath still
			 * polling, so what is in flight is completed */
			bool all = true;
			for (unsigned i = 0; i < cfg.nports; i++)
				all &= atomic_load(&cfg.ports[i].tx) >= cfg.tx_packets;
			if (all && !budget_done) {
				budget_done = t;
				out("TX budget of %" PRIu64 " packets per port sent at %.3f s\n",
				    cfg.tx_packets, (double)(t - t0_ns) / 1e9);
			}
			if (budget_done && t - budget_done >= 500000000ull)
				break;
		}
		for (unsigned k = 0; k < cfg.nsched; k++) {
			struct sched_item *s = &cfg.sched[k];
			if (s->done || t - start < (uint64_t)(s->at_s * 1e9))
				continue;
			struct fwd_port *p0 = NULL;
			for (unsigned i = 0; i < cfg.nports && !p0; i++)
				if (!cfg.ports[i].bare)
					p0 = &cfg.ports[i];
			s->done = true;
			if (!p0)
				continue;
			uint64_t t_act = now_ns();
			int rc = s->attach ? fsb_port_attach(p0->port, s->slot)
					   : fsb_port_detach(p0->port, s->slot);
			/* time the action from its start: a planned detach
			 * returns after TX moved and the old path drained */
			atomic_store(&s->done_ns, t_act);
			out("ACTION %.3f %s slot %u: %s\n",
			    (double)(t_act - t0_ns) / 1e9,
			    s->attach ? "attach" : "detach", s->slot,
			    rc == 0 ? "ok" : strerror(-rc));
		}
		if (next_stats && t >= next_stats) {
			show_stats();
			next_stats += (uint64_t)(cfg.stats_period * 1e9);
		}
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	double elapsed = (double)(now_ns() - start) / 1e9;
	out("\nTelling cores to stop...\nWaiting for lcores to finish...\n");
	atomic_store(&fwd_stop, true);
	pthread_join(fwd_thr, NULL);
	/* --tx-retry: what was still refused at the end is counted as
	 * refused, like any other */
	for (unsigned i = 0; i < cfg.nports; i++)
		for (unsigned q = 0; q < FSB_MAX_QUEUES; q++)
			if (cfg.ports[i].nheld[q]) {
				fsb_buf_free_bulk(cfg.ports[i].held[q], cfg.ports[i].nheld[q]);
				cnt_add(&cfg.ports[i].tx_dropped, cfg.ports[i].nheld[q]);
				cfg.ports[i].nheld[q] = 0;
			}
	if (peer_running) {
		/* let the peers drain what is still in flight */
		struct timespec ts = { 0, 100000000 };
		nanosleep(&ts, NULL);
		atomic_store(&peers_stop, true);
		pthread_join(peer_thr, NULL);
	}
	show_fwd_stats();
	show_stats();

	uint64_t sent = 0, refused = 0;
	for (unsigned i = 0; i < cfg.nports; i++) {
		sent += atomic_load(&cfg.ports[i].tx);
		refused += atomic_load(&cfg.ports[i].tx_dropped);
	}
	if (cfg.npeers)
		print_report(elapsed, sent, refused);
	if (cfg.json)
		print_json(elapsed, sent, refused);
	out("\nDone.\n");
out:
	for (unsigned i = 0; i < cfg.nports; i++) {
		struct fwd_port *p = &cfg.ports[i];
		if (p->port) {
			fsb_port_set_event_cb(p->port, NULL, NULL);
			fsb_port_stop(p->port);
			fsb_port_close(p->port);
		}
		if (p->b)
			fsb_bare_close(p->b);
	}
	for (unsigned i = 0; i < cfg.npeers; i++) {
		if (cfg.peers[i].b)
			fsb_bare_close(cfg.peers[i].b);
		free(cfg.peers[i].buckets);
	}
	fsb_ctx_free(ctx);
	return exit_code;
}
