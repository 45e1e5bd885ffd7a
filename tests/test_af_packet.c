/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_af_packet.c - the af_packet sub-device on a veth pair, in a
 * network namespace of its own (root; exit 77 only when the namespace
 * cannot be created).
 *
 * fsbA is the interface under test, fsbB its peer.  What the sub-device
 * sends is counted on fsbB by a packet socket of the test's own, with
 * sequence numbers and a per-frame pattern in the payload; what it
 * receives comes from a raw socket on fsbB.  Bare sub-devices
 * (fsb_bare_*) carry the traffic tests; a few tests drive the ops table
 * directly (sd_open) to reach link_get, the membership ops and the
 * ring-corruption hook.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

/* Test hook in subdev/af_packet.c. */
int fsb_af_packet_test_corrupt(struct fsb_subdev *sd, uint16_t qid, int how);

#define ETH_TEST 0x88b5                 /* local experimental ethertype */
#define VETH_UP "ip link add fsbA type veth peer name fsbB && " \
	"ip link set fsbA up && ip link set fsbB up"

/* ---- helpers ---- */

static void read_mac(const char *ifname, uint8_t mac[6], char text[18])
{
	char path[64], buf[32] = "";
	snprintf(path, sizeof(path), "/sys/class/net/%s/address", ifname);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	buf[17] = '\0';
	if (text)
		snprintf(text, 18, "%s", buf);
	assert_int_equal(fsb_mac_parse(buf, mac), 0);
}

static unsigned if_flags(const char *ifname)
{
	char path[64], buf[32] = "";
	snprintf(path, sizeof(path), "/sys/class/net/%s/flags", ifname);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	return (unsigned)strtoul(buf, NULL, 16);
}

/* Is @hex ("01005e010203") in fsbA's multicast list? */
static bool in_dev_mcast(const char *ifname, const char *hex)
{
	FILE *f = fopen("/proc/net/dev_mcast", "r");
	char line[256], name[32], addr[64];
	int idx, users, global;
	bool found = false;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%d %31s %d %d %63s", &idx, name, &users,
			   &global, addr) == 5 &&
		    strcmp(name, ifname) == 0 && strcmp(addr, hex) == 0)
			found = true;
	fclose(f);
	return found;
}

/* A raw socket on fsbB: receives @proto frames (0 = none), sends. */
static int peer_open(const char *ifname, uint16_t proto)
{
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(proto));
	assert_true(fd >= 0);
	int sz = 64 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET, .sll_protocol = htons(proto),
		.sll_ifindex = (int)if_nametoindex(ifname),
	};
	assert_true(sll.sll_ifindex > 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return fd;
}

/* Frame @seq: dst, src, ETH_TEST, 8-byte seq, a pattern; its length
 * varies with seq between 60 and 1514. */
static size_t frame_len(uint64_t seq)
{
	return 60 + (size_t)((seq * 131) % 1455);
}

static void frame_fill(uint8_t *f, const uint8_t dst[6], const uint8_t src[6],
		       uint64_t seq, size_t len)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = ETH_TEST >> 8;
	f[13] = ETH_TEST & 0xff;
	memcpy(f + 14, &seq, 8);
	for (size_t i = 22; i < len; i++)
		f[i] = (uint8_t)(seq * 7 + i);
}

/* Returns the seq, or UINT64_MAX when the frame is not intact. */
static uint64_t frame_check(const uint8_t *f, size_t len)
{
	uint64_t seq;
	if (len < 22 || f[12] != (ETH_TEST >> 8) || f[13] != (ETH_TEST & 0xff))
		return UINT64_MAX;
	memcpy(&seq, f + 14, 8);
	if (len != frame_len(seq))
		return UINT64_MAX;
	for (size_t i = 22; i < len; i++)
		if (f[i] != (uint8_t)(seq * 7 + i))
			return UINT64_MAX;
	return seq;
}

static void peer_send(int fd, const uint8_t *f, size_t len)
{
	uint64_t dl = t_now_ms() + 2000;
	while (send(fd, f, len, 0) < 0) {
		assert_true(errno == ENOBUFS || errno == EAGAIN);
		assert_true(t_now_ms() < dl);
		t_sleep_ms(1);
	}
}

static void peer_send_seq(int fd, uint64_t from, unsigned n)
{
	uint8_t f[1600], a[6], b[6];
	read_mac("fsbA", a, NULL);
	read_mac("fsbB", b, NULL);
	for (unsigned i = 0; i < n; i++) {
		size_t len = frame_len(from + i);
		frame_fill(f, a, b, from + i, len);
		peer_send(fd, f, len);
	}
}

/* A sub-device driven through its ops table, as bare.c does. */
static struct fsb_subdev *sd_open2(const char *spec, unsigned nrx,
				   unsigned ntx, struct fsb_mempool *mp)
{
	struct fsb_devspec *d = calloc(1, sizeof(*d));
	struct fsb_subdev *sd = calloc(1, sizeof(*sd));
	char err[FSB_ERRMSG_MAX];
	assert_non_null(d);
	assert_non_null(sd);
	if (fsb_devspec_parse(spec, d, err, sizeof(err)) < 0)
		fail_msg("%s: %s", spec, err);
	fsb_subdev_init(sd, d, UINT16_MAX, -1, "t");
	free(d);
	sd->conf.nb_rxq = (uint16_t)nrx;
	sd->conf.nb_txq = (uint16_t)ntx;
	sd->conf.nb_rxd = sd->conf.nb_txd = 1024;
	assert_int_equal(sd->ops->probe(sd), 0);
	assert_int_equal(sd->ops->configure(sd), 0);
	for (unsigned q = 0; q < nrx; q++)
		sd->rx_pool[q] = mp;
	assert_int_equal(sd->ops->start(sd), 0);
	return sd;
}

static struct fsb_subdev *sd_open(const char *spec, unsigned nq,
				  struct fsb_mempool *mp)
{
	return sd_open2(spec, nq, nq, mp);
}

static void sd_close(struct fsb_subdev *sd)
{
	sd->ops->stop(sd);
	sd->ops->close(sd);
	free(sd);
}

static struct fsb_subdev_stats sd_stats(struct fsb_subdev *sd)
{
	struct fsb_subdev_stats st;
	assert_int_equal(sd->ops->stats_get(sd, &st), 0);
	return st;
}

/* Receive on @sd's queue @q until @want test frames arrived or @ms
 * passed; checks each is intact and that seqs run from *next on. */
static unsigned sd_rx_seq(struct fsb_subdev *sd, uint16_t q, uint64_t *next,
			  unsigned want, unsigned ms)
{
	struct fsb_buf *b[64];
	unsigned got = 0;
	uint64_t dl = t_now_ms() + ms;
	while (got < want && t_now_ms() < dl) {
		uint16_t n = sd->ops->rx_burst(sd->rxq[q], b, 64);
		for (uint16_t i = 0; i < n; i++) {
			uint64_t s = frame_check(fsb_buf_data(b[i]), b[i]->data_len);
			assert_int_equal(b[i]->pkt_len, b[i]->data_len);
			if (s != UINT64_MAX) {
				assert_int_equal(s, *next);
				(*next)++;
				got++;
			}
		}
		fsb_buf_free_bulk(b, n);
		if (!n)
			t_sleep_ms(1);
	}
	return got;
}

/* ---- tests ---- */

static void test_spec_errors(void **state)
{
	struct env *e = *state;
	char err[FSB_ERRMSG_MAX];
	struct fsb_port_conf pc = { .nb_rxq = 1, .nb_txq = 1 };

	errno = 0;
	assert_null(fsb_bare_open(e->ctx, "af_packet", &pc, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "af_packet needs iface=, mac= or pci="));
	assert_null(fsb_bare_open(e->ctx,
				  "af_packet,iface=fsbA,mac=02:00:00:00:00:01",
				  &pc, err, sizeof(err)));
	assert_non_null(strstr(err, "af_packet takes one of iface=, mac= and pci="));
	assert_null(fsb_bare_open(e->ctx, "af_packet,pci=0000:02:00.0,iface=fsbA",
				  &pc, err, sizeof(err)));
	assert_non_null(strstr(err, "af_packet takes one of iface=, mac= and pci="));
	assert_null(fsb_bare_open(e->ctx, "af_packet,pci=0000:02:00.9",
				  &pc, err, sizeof(err)));
	assert_non_null(strstr(err, "bad PCI address"));
	/* a PCI device with no netdev here: absent, and said so */
	errno = 0;
	assert_null(fsb_bare_open(e->ctx, "af_packet,pci=0000:7f:1f.7",
				  &pc, err, sizeof(err)));
	assert_int_equal(errno, ENODEV);
	assert_null(fsb_bare_open(e->ctx, "af_packet,iface=muchtoolongname0",
				  &pc, err, sizeof(err)));
	assert_non_null(strstr(err, "bad interface name"));
	assert_null(fsb_bare_open(e->ctx, "af_packet,iface=fsbA,queues=17",
				  &pc, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	/* queues= differing from what is asked: configure names the limit */
	errno = 0;
	assert_null(fsb_bare_open(e->ctx, "af_packet,iface=fsbA,queues=2",
				  &pc, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	pc.nb_rxq = pc.nb_txq = 2;
	struct fsb_bare *b = fsb_bare_open(e->ctx, "af_packet,iface=fsbA,queues=2",
					   &pc, err, sizeof(err));
	assert_non_null(b);
	fsb_bare_close(b);
}

static void test_probe_missing(void **state)
{
	struct env *e = *state;
	char err[FSB_ERRMSG_MAX];
	struct fsb_port_conf pc = { .nb_rxq = 1, .nb_txq = 1 };
	errno = 0;
	assert_null(fsb_bare_open(e->ctx, "af_packet,iface=fsbNope", &pc, err,
				  sizeof(err)));
	assert_int_equal(errno, ENODEV);
	errno = 0;
	assert_null(fsb_bare_open(e->ctx, "af_packet,mac=02:de:ad:be:ef:01", &pc,
				  err, sizeof(err)));
	assert_int_equal(errno, ENODEV);
}

/* A started bare af_packet sub-device on fsbA, one queue each way. */
static struct fsb_bare *bare_fsbA(struct env *e)
{
	char err[FSB_ERRMSG_MAX];
	struct fsb_port_conf pc = { .nb_rxq = 1, .nb_txq = 1 };
	struct fsb_bare *b = fsb_bare_open(e->ctx, "af_packet,iface=fsbA", &pc,
					   err, sizeof(err));
	assert_non_null(b);
	assert_int_equal(fsb_bare_rx_queue_setup(b, 0, e->mp), 0);
	assert_int_equal(fsb_bare_start(b), 0);
	return b;
}

/* 10000 sequenced frames out of a bare sub-device, counted on fsbB. */
static void test_tx_10000(void **state)
{
	struct env *e = *state;
	struct fsb_bare *b = bare_fsbA(e);
	int peer = peer_open("fsbB", ETH_TEST);
	uint8_t a[6], bb[6], rx[2048];
	read_mac("fsbA", a, NULL);
	read_mac("fsbB", bb, NULL);

	const unsigned total = 10000;
	uint64_t seq = 0, next = 0, bytes = 0;
	unsigned got = 0;
	uint64_t dl = t_now_ms() + 20000;
	while ((seq < total || got < total) && t_now_ms() < dl) {
		if (seq < total) {
			struct fsb_buf *bufs[32];
			unsigned k = total - seq < 32 ? (unsigned)(total - seq) : 32;
			assert_int_equal(fsb_buf_alloc_bulk(e->mp, bufs, k), 0);
			for (unsigned i = 0; i < k; i++) {
				size_t len = frame_len(seq + i);
				frame_fill(fsb_buf_data(bufs[i]), bb, a, seq + i, len);
				bufs[i]->data_len = (uint16_t)len;
				bufs[i]->pkt_len = (uint32_t)len;
			}
			uint16_t sent = fsb_bare_tx_burst(b, 0, bufs, (uint16_t)k);
			for (unsigned i = 0; i < sent; i++)
				bytes += frame_len(seq + i);
			fsb_buf_free_bulk(bufs + sent, k - sent);
			seq += sent;
		}
		ssize_t n;
		while ((n = recv(peer, rx, sizeof(rx), MSG_DONTWAIT)) > 0) {
			uint64_t s = frame_check(rx, (size_t)n);
			assert_true(s != UINT64_MAX);
			assert_int_equal(s, next);  /* in order, none lost */
			next++;
			got++;
		}
		if (seq == total && got < total)
			t_sleep_ms(1);
	}
	assert_int_equal(seq, total);
	assert_int_equal(got, total);
	struct fsb_stats st;
	assert_int_equal(fsb_bare_stats_get(b, &st), 0);
	assert_int_equal(st.opackets, total);
	assert_int_equal(st.obytes, bytes);
	assert_int_equal(st.oerrors, 0);
	close(peer);
	fsb_bare_close(b);
	assert_int_equal(fsb_mempool_avail(e->mp), 8192);
}

/* 10000 frames from fsbB into a bare sub-device's rx_burst. */
static void test_rx_10000(void **state)
{
	struct env *e = *state;
	struct fsb_bare *b = bare_fsbA(e);
	int peer = peer_open("fsbB", 0);

	const unsigned total = 10000, chunk = 250;
	uint64_t next = 0, bytes = 0;
	for (uint64_t s = 0; s < total; s += chunk) {
		peer_send_seq(peer, s, chunk);
		uint64_t dl = t_now_ms() + 2000;
		while (next < s + chunk && t_now_ms() < dl) {
			struct fsb_buf *bufs[64];
			uint16_t n = fsb_bare_rx_burst(b, 0, bufs, 64);
			for (uint16_t i = 0; i < n; i++) {
				uint64_t q = frame_check(fsb_buf_data(bufs[i]),
							 bufs[i]->data_len);
				if (q == UINT64_MAX)
					continue;   /* not ours */
				assert_int_equal(q, next);
				assert_int_equal(bufs[i]->pkt_len, frame_len(q));
				bytes += bufs[i]->pkt_len;
				next++;
			}
			fsb_buf_free_bulk(bufs, n);
			if (!n)
				t_sleep_ms(1);
		}
		assert_int_equal(next, s + chunk);
	}
	struct fsb_stats st;
	assert_int_equal(fsb_bare_stats_get(b, &st), 0);
	assert_true(st.ipackets >= total);
	assert_true(st.ibytes >= bytes);
	assert_int_equal(st.imissed, 0);
	assert_int_equal(st.rx_nombuf, 0);
	close(peer);
	fsb_bare_close(b);
	assert_int_equal(fsb_mempool_avail(e->mp), 8192);
}

/*
 * Frames sent on fsbA - by any of the sub-device's tx queues, or by
 * another socket on the host - never show up on its rx queues: with one
 * rx queue (PACKET_IGNORE_OUTGOING on the socket) and with fanout (the
 * per-socket flag does not apply there; the group's flag does).
 */
static void own_tx_not_seen(struct env *e, unsigned nrx, unsigned ntx)
{
	char spec[64];
	unsigned nq = nrx > ntx ? nrx : ntx;
	snprintf(spec, sizeof(spec), "af_packet,iface=fsbA,queues=%u", nq);
	struct fsb_subdev *sd = sd_open2(spec, nrx, ntx, e->mp);
	int peer = peer_open("fsbB", ETH_TEST);
	int other = peer_open("fsbA", 0);       /* someone else on fsbA */
	uint8_t a[6], bb[6], rx[2048], f[2048];
	read_mac("fsbA", a, NULL);
	read_mac("fsbB", bb, NULL);
	const unsigned per_q = 200;
	for (unsigned q = 0; q < ntx; q++) {
		struct fsb_buf *bufs[per_q];
		assert_int_equal(fsb_buf_alloc_bulk(e->mp, bufs, per_q), 0);
		for (unsigned i = 0; i < per_q; i++) {
			frame_fill(fsb_buf_data(bufs[i]), bb, a, i, frame_len(i));
			bufs[i]->data_len = (uint16_t)frame_len(i);
			bufs[i]->pkt_len = (uint32_t)frame_len(i);
		}
		unsigned sent = 0;
		uint64_t dl = t_now_ms() + 2000;
		while (sent < per_q && t_now_ms() < dl)
			sent += sd->ops->tx_burst(sd->txq[q], bufs + sent,
						  (uint16_t)(per_q - sent));
		assert_int_equal(sent, per_q);
	}
	for (unsigned i = 0; i < per_q; i++) {
		frame_fill(f, bb, a, i, frame_len(i));
		peer_send(other, f, frame_len(i));
	}
	/* They did go out... */
	unsigned seen = 0, want = per_q * (ntx + 1);
	uint64_t dl = t_now_ms() + 2000;
	while (seen < want && t_now_ms() < dl) {
		if (recv(peer, rx, sizeof(rx), MSG_DONTWAIT) > 0)
			seen++;
		else
			t_sleep_ms(1);
	}
	assert_int_equal(seen, want);
	/* ...and none came back in (blocks retire within ~1 ms). */
	t_sleep_ms(50);
	for (unsigned q = 0; q < nrx; q++) {
		struct fsb_buf *b[64];
		uint16_t n;
		while ((n = sd->ops->rx_burst(sd->rxq[q], b, 64)) > 0) {
			for (uint16_t i = 0; i < n; i++)
				assert_true(frame_check(fsb_buf_data(b[i]),
							b[i]->data_len) == UINT64_MAX);
			fsb_buf_free_bulk(b, n);
		}
	}
	struct fsb_subdev_stats st = sd_stats(sd);
	assert_int_equal(st.tx_packets, per_q * ntx);
	close(other);
	close(peer);
	sd_close(sd);
}

static void test_rx_ignores_own_tx(void **state)
{
	own_tx_not_seen(*state, 1, 1);
	own_tx_not_seen(*state, 1, 2);
	own_tx_not_seen(*state, 2, 2);
	own_tx_not_seen(*state, 3, 1);
}

/* nb_rxq = 2: fanout spreads flows over both queues and loses none. */
static void test_fanout(void **state)
{
	struct env *e = *state;
	struct fsb_subdev *sd = sd_open("af_packet,iface=fsbA,queues=2", 2, e->mp);
	int peer = peer_open("fsbB", 0);
	uint8_t a[6], bb[6], f[128];
	read_mac("fsbA", a, NULL);
	read_mac("fsbB", bb, NULL);
	const unsigned total = 400;
	for (unsigned i = 0; i < total; i++) {
		/* IPv4/UDP, one flow per source port */
		memset(f, 0, sizeof(f));
		memcpy(f, a, 6);
		memcpy(f + 6, bb, 6);
		f[12] = 0x08;
		uint8_t *ip = f + 14;
		ip[0] = 0x45;
		ip[3] = 28 + 8;
		ip[8] = 64;
		ip[9] = 17;
		ip[12] = 10; ip[15] = 1;
		ip[16] = 10; ip[19] = 2;
		uint32_t sum = 0;
		for (int k = 0; k < 20; k += 2)
			sum += (uint32_t)(ip[k] << 8 | ip[k + 1]);
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		ip[10] = (uint8_t)(~sum >> 8);
		ip[11] = (uint8_t)~sum;
		uint8_t *udp = ip + 20;
		udp[0] = (uint8_t)((1024 + i) >> 8);
		udp[1] = (uint8_t)(1024 + i);
		udp[3] = 9;
		udp[5] = 16;
		memcpy(udp + 8, &i, sizeof(i));
		peer_send(peer, f, 14 + 36);
	}
	unsigned per[2] = { 0, 0 };
	bool seen[400] = { false };
	uint64_t dl = t_now_ms() + 2000;
	while (per[0] + per[1] < total && t_now_ms() < dl) {
		unsigned n_all = 0;
		for (uint16_t q = 0; q < 2; q++) {
			struct fsb_buf *b[64];
			uint16_t n = sd->ops->rx_burst(sd->rxq[q], b, 64);
			for (uint16_t i = 0; i < n; i++) {
				uint8_t *d = fsb_buf_data(b[i]);
				if (b[i]->data_len != 50 || d[12] != 0x08 || d[23] != 17)
					continue;
				unsigned id;
				memcpy(&id, d + 14 + 28, sizeof(id));
				assert_true(id < total);
				assert_false(seen[id]);
				seen[id] = true;
				per[q]++;
			}
			fsb_buf_free_bulk(b, n);
			n_all += n;
		}
		if (!n_all)
			t_sleep_ms(1);
	}
	assert_int_equal(per[0] + per[1], total);
	assert_true(per[0] > 0);
	assert_true(per[1] > 0);
	close(peer);
	sd_close(sd);
}

/* mac= finds fsbA by its address, through a port (the monitor's
 * binding is filled), and the port carries traffic. */
static void test_probe_by_mac(void **state)
{
	struct env *e = *state;
	uint8_t a[6];
	char text[18], spec[96];
	read_mac("fsbA", a, text);
	snprintf(spec, sizeof(spec), "pm,dev(af_packet,mac=%s)", text);
	struct fsb_port *p = port_up(e->ctx, spec, e->mp, NULL);
	struct fsb_subdev *sd = fsb_port_subdev(p, 0);
	assert_true(sd->nd.used);
	assert_true(sd->nd.by_mac);
	assert_int_equal(sd->nd.ifindex, (int)if_nametoindex("fsbA"));
	assert_string_equal(sd->nd.ifname, "fsbA");
	struct fsb_port_info info;
	fsb_port_info_get(p, &info);
	assert_memory_equal(info.mac, a, 6);    /* adopted from mac_get */
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 1000));

	int peer = peer_open("fsbB", ETH_TEST);
	uint8_t bb[6], rx[2048];
	read_mac("fsbB", bb, NULL);
	struct fsb_buf *bufs[100];
	assert_int_equal(fsb_buf_alloc_bulk(e->mp, bufs, 100), 0);
	for (unsigned i = 0; i < 100; i++) {
		frame_fill(fsb_buf_data(bufs[i]), bb, a, i, frame_len(i));
		bufs[i]->data_len = (uint16_t)frame_len(i);
		bufs[i]->pkt_len = (uint32_t)frame_len(i);
	}
	unsigned sent = 0;
	uint64_t dl = t_now_ms() + 2000;
	while (sent < 100 && t_now_ms() < dl)
		sent += t_tx(p, bufs + sent, (uint16_t)(100 - sent));
	assert_int_equal(sent, 100);
	unsigned got = 0;
	uint64_t next = 0;
	while (got < 100 && t_now_ms() < dl) {
		ssize_t n = recv(peer, rx, sizeof(rx), MSG_DONTWAIT);
		if (n > 0) {
			assert_int_equal(frame_check(rx, (size_t)n), next);
			next++;
			got++;
		} else {
			t_sleep_ms(1);
		}
	}
	assert_int_equal(got, 100);
	close(peer);
	fsb_port_close(p);
}

/* Promiscuous/allmulti by packet membership: refcounted with others,
 * gone with the socket; the multicast list follows mc_list_set. */
static void test_membership(void **state)
{
	struct env *e = *state;
	struct fsb_subdev *sd = sd_open("af_packet,iface=fsbA", 1, e->mp);
	assert_false(if_flags("fsbA") & IFF_PROMISC);
	assert_int_equal(sd->ops->promisc_set(sd, true), 0);
	assert_true(if_flags("fsbA") & IFF_PROMISC);
	assert_int_equal(sd->ops->promisc_set(sd, true), 0);  /* idempotent */
	assert_int_equal(sd->ops->promisc_set(sd, false), 0);
	assert_false(if_flags("fsbA") & IFF_PROMISC);

	/* someone else's promisc is not switched off by ours */
	assert_int_equal(system("ip link set fsbA promisc on"), 0);
	assert_int_equal(sd->ops->promisc_set(sd, true), 0);
	assert_int_equal(sd->ops->promisc_set(sd, false), 0);
	assert_true(if_flags("fsbA") & IFF_PROMISC);
	assert_int_equal(system("ip link set fsbA promisc off"), 0);
	assert_false(if_flags("fsbA") & IFF_PROMISC);

	assert_int_equal(sd->ops->allmulti_set(sd, true), 0);
	assert_true(if_flags("fsbA") & IFF_ALLMULTI);

	static const uint8_t m1[2][6] = {
		{ 0x01, 0x00, 0x5e, 0x01, 0x02, 0x03 },
		{ 0x01, 0x00, 0x5e, 0x01, 0x02, 0x04 },
	};
	static const uint8_t m2[1][6] = { { 0x01, 0x00, 0x5e, 0x01, 0x02, 0x05 } };
	assert_int_equal(sd->ops->mc_list_set(sd, m1, 2), 0);
	assert_true(in_dev_mcast("fsbA", "01005e010203"));
	assert_true(in_dev_mcast("fsbA", "01005e010204"));
	assert_int_equal(sd->ops->mc_list_set(sd, m2, 1), 0);
	assert_false(in_dev_mcast("fsbA", "01005e010203"));
	assert_false(in_dev_mcast("fsbA", "01005e010204"));
	assert_true(in_dev_mcast("fsbA", "01005e010205"));

	/* memberships die with the socket */
	assert_int_equal(sd->ops->promisc_set(sd, true), 0);
	assert_true(if_flags("fsbA") & IFF_PROMISC);
	sd_close(sd);
	assert_false(if_flags("fsbA") & (IFF_PROMISC | IFF_ALLMULTI));
	assert_false(in_dev_mcast("fsbA", "01005e010205"));
}

/* link_get, mac_get/mac_set, mtu_set on a live device. */
static void test_link_and_config(void **state)
{
	struct env *e = *state;
	struct fsb_subdev *sd = sd_open("af_packet,iface=fsbA", 1, e->mp);
	struct fsb_link l;
	/* IFF_RUNNING follows operstate, which the kernel's linkwatch
	 * updates asynchronously: wait for it, bounded. */
	assert_true(WAIT_UNTIL(sd->ops->link_get(sd, &l) == 0 && l.up, 2000));
	assert_int_equal(system("ip link set fsbB down"), 0);  /* carrier */
	assert_true(WAIT_UNTIL(sd->ops->link_get(sd, &l) == 0 && !l.up, 2000));
	assert_int_equal(system("ip link set fsbB up"), 0);
	assert_true(WAIT_UNTIL(sd->ops->link_get(sd, &l) == 0 && l.up, 2000));

	uint8_t mac[6], want[6] = { 0x02, 0x00, 0x00, 0xaf, 0x00, 0x01 }, sys[6];
	assert_int_equal(sd->ops->mac_get(sd, mac), 0);
	read_mac("fsbA", sys, NULL);
	assert_memory_equal(mac, sys, 6);
	assert_int_equal(sd->ops->mac_set(sd, want), 0);
	read_mac("fsbA", sys, NULL);
	assert_memory_equal(sys, want, 6);
	assert_int_equal(sd->ops->mac_set(sd, want), 0);     /* same: no-op */
	assert_int_equal(sd->ops->mtu_set(sd, 1400), 0);
	FILE *f = fopen("/sys/class/net/fsbA/mtu", "r");
	int mtu = 0;
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &mtu), 1);
	fclose(f);
	assert_int_equal(mtu, 1400);
	assert_int_equal(sd->ops->mtu_set(sd, 1500), 0);
	assert_int_equal(sd->ops->mtu_set(sd, 20), -EINVAL);  /* below ETH_MIN_MTU */
	sd_close(sd);
}

/* A device found down at start is brought up (a re-plugged VF comes back
 * down), unless admin_up=0; then the slot waits for someone else to. */
static void test_admin_up(void **state)
{
	struct env *e = *state;
	assert_int_equal(system("ip link add fsbE type veth peer name fsbF && "
				"ip link set fsbF up && "
				"ip link add fsbG type veth peer name fsbH && "
				"ip link set fsbH up"), 0);
	assert_false(if_flags("fsbE") & IFF_UP);
	struct fsb_bare *pe[2] = { ring_peer(e->ctx, "au_s", e->mp),
				   ring_peer(e->ctx, "au_t", e->mp) };
	struct fsb_port *p = port_up(e->ctx,
		"au,hold_down=0,dev(af_packet,iface=fsbE),dev(ring,name=au_s)",
		e->mp, NULL);
	assert_true(if_flags("fsbE") & IFF_UP);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 3000));

	struct fsb_port *q = port_up(e->ctx,
		"an,hold_down=0,dev(af_packet,iface=fsbG,admin_up=0),dev(ring,name=au_t)",
		e->mp, NULL);
	t_sleep_ms(50);
	assert_false(if_flags("fsbG") & IFF_UP);
	assert_int_equal(active_slot(q), 1);
	assert_int_equal(system("ip link set fsbG up"), 0);
	assert_true(WAIT_UNTIL(active_slot(q) == 0, 3000));
	fsb_port_close(p);
	fsb_port_close(q);
	fsb_bare_close(pe[0]);
	fsb_bare_close(pe[1]);
	/* never taken down by us */
	assert_true(if_flags("fsbE") & IFF_UP);
	assert_int_equal(system("ip link del fsbE && ip link del fsbG"), 0);
}

/* Stopped: tx refuses; rx drains what the ring holds, takes no more. */
static void test_stop_start(void **state)
{
	struct env *e = *state;
	struct fsb_subdev *sd = sd_open("af_packet,iface=fsbA", 1, e->mp);
	int peer = peer_open("fsbB", 0);
	peer_send_seq(peer, 0, 10);
	t_sleep_ms(20);
	sd->ops->stop(sd);
	peer_send_seq(peer, 10, 10);
	t_sleep_ms(20);
	struct fsb_buf *b[8];
	assert_int_equal(fsb_buf_alloc_bulk(e->mp, b, 8), 0);
	for (int i = 0; i < 8; i++)
		b[i]->data_len = b[i]->pkt_len = 60;
	assert_int_equal(sd->ops->tx_burst(sd->txq[0], b, 8), 0);
	fsb_buf_free_bulk(b, 8);
	uint64_t next = 0;
	assert_int_equal(sd_rx_seq(sd, 0, &next, 20, 100), 10);
	assert_int_equal(sd->ops->rx_pending(sd), 0);
	assert_int_equal(sd->ops->start(sd), 0);
	peer_send_seq(peer, 10, 10);
	assert_int_equal(sd_rx_seq(sd, 0, &next, 10, 2000), 10);
	close(peer);
	sd_close(sd);
}

/* An empty pool stops rx where it is: no frame is lost. */
static void test_rx_nombuf(void **state)
{
	struct env *e = *state;
	struct fsb_mempool *small = fsb_mempool_create(e->ctx, "afps", 16,
						       2048, 0, -1);
	assert_non_null(small);
	struct fsb_subdev *sd = sd_open("af_packet,iface=fsbA", 1, small);
	int peer = peer_open("fsbB", 0);
	peer_send_seq(peer, 0, 40);
	t_sleep_ms(20);
	uint64_t next = 0;
	unsigned got = 0;
	uint64_t dl = t_now_ms() + 2000;
	while (got < 40 && t_now_ms() < dl) {
		struct fsb_buf *b[64];
		uint16_t n = sd->ops->rx_burst(sd->rxq[0], b, 64);
		assert_true(n <= 16);
		for (uint16_t i = 0; i < n; i++) {
			uint64_t s = frame_check(fsb_buf_data(b[i]), b[i]->data_len);
			if (s == UINT64_MAX)
				continue;
			assert_int_equal(s, next);
			next++;
			got++;
		}
		fsb_buf_free_bulk(b, n);
		if (!n)
			t_sleep_ms(1);
	}
	assert_int_equal(got, 40);
	struct fsb_subdev_stats st = sd_stats(sd);
	assert_true(st.rx_nombuf >= 2);
	assert_int_equal(st.rx_missed, 0);
	close(peer);
	sd_close(sd);
	assert_int_equal(fsb_mempool_free(small), 0);
}

/* A damaged ring is skipped and counted, never read out of bounds,
 * and traffic goes on after it. */
static void test_ring_corruption(void **state)
{
	struct env *e = *state;
	fsb_ctx_set_log(e->ctx, NULL, NULL, FSB_LOG_ERR);
	struct fsb_subdev *sd = sd_open("af_packet,iface=fsbA", 1, e->mp);
	int peer = peer_open("fsbB", 0);
	uint64_t missed = 0;
	for (int how = 1; how <= 4; how++) {
		peer_send_seq(peer, 0, 5);
		assert_true(WAIT_UNTIL(fsb_af_packet_test_corrupt(sd, 0, how) == 0,
				       2000));
		t_sleep_ms(20);
		struct fsb_buf *b[64];
		unsigned got = 0;
		uint16_t n;
		while ((n = sd->ops->rx_burst(sd->rxq[0], b, 64)) > 0) {
			for (uint16_t i = 0; i < n; i++)
				got += frame_check(fsb_buf_data(b[i]),
						   b[i]->data_len) != UINT64_MAX;
			fsb_buf_free_bulk(b, n);
		}
		struct fsb_subdev_stats st = sd_stats(sd);
		assert_true(st.rx_missed > missed);
		assert_true(got < 5);
		if (how == 1)
			assert_true(got >= 1);  /* only the bad frame goes */
		missed = st.rx_missed;
		/* and the ring still works */
		uint64_t next = 100;
		peer_send_seq(peer, 100, 3);
		assert_int_equal(sd_rx_seq(sd, 0, &next, 3, 2000), 3);
	}
	close(peer);
	sd_close(sd);
	assert_int_equal(fsb_mempool_avail(e->mp), 8192);
}

/* fsbA deleted under an open sub-device: no crash, no block; tx
 * accepts and counts tx_errors; link_get says down. */
static void test_netdev_deleted(void **state)
{
	struct env *e = *state;
	fsb_ctx_set_log(e->ctx, NULL, NULL, FSB_LOG_ERR);
	char err[FSB_ERRMSG_MAX];
	struct fsb_port_conf pc = { .nb_rxq = 1, .nb_txq = 1 };
	struct fsb_bare *bare = fsb_bare_open(e->ctx, "af_packet,iface=fsbA", &pc,
					      err, sizeof(err));
	assert_non_null(bare);
	assert_int_equal(fsb_bare_rx_queue_setup(bare, 0, e->mp), 0);
	assert_int_equal(fsb_bare_start(bare), 0);
	/* One interface, one sub-device: fsbA is claimed by the bare one. */
	struct fsb_bare *twice = fsb_bare_open(e->ctx, "af_packet,iface=fsbA", &pc,
					       err, sizeof(err));
	assert_null(twice);
	assert_int_equal(errno, ENODEV);
	/* the two-queue case on a veth pair of its own */
	assert_int_equal(system("ip link add fsbC type veth peer name fsbD && "
				"ip link set fsbC up && ip link set fsbD up"), 0);
	struct fsb_subdev *sd = sd_open("af_packet,iface=fsbC,queues=2", 2, e->mp);
	int peer = peer_open("fsbB", 0);
	peer_send_seq(peer, 0, 5);
	close(peer);
	t_sleep_ms(10);

	assert_int_equal(system("ip link del fsbA && ip link del fsbC"), 0);

	for (int round = 0; round < 10; round++) {
		struct fsb_buf *b[32];
		assert_int_equal(fsb_buf_alloc_bulk(e->mp, b, 32), 0);
		for (int i = 0; i < 32; i++)
			b[i]->data_len = b[i]->pkt_len = 60;
		uint64_t t0 = fsb_now_ns();
		uint16_t n = fsb_bare_tx_burst(bare, 0, b, 32);
		assert_true(fsb_now_ns() - t0 < 100000000ull);
		/* refused: not sent, so still ours (ENETDOWN, then ENXIO) */
		assert_int_equal(n, 0);
		assert_int_equal(sd->ops->tx_burst(sd->txq[round & 1], b, 32), 0);
		fsb_buf_free_bulk(b, 32);
		/* rx: the ring is still mapped; nothing breaks */
		uint16_t got = fsb_bare_rx_burst(bare, 0, b, 32);
		fsb_buf_free_bulk(b, got);
		for (uint16_t q = 0; q < 2; q++) {
			got = sd->ops->rx_burst(sd->rxq[q], b, 32);
			fsb_buf_free_bulk(b, got);
		}
	}
	struct fsb_stats st;
	assert_int_equal(fsb_bare_stats_get(bare, &st), 0);
	assert_int_equal(st.oerrors, 0);       /* nothing accepted-and-dropped */
	assert_int_equal(st.opackets, 0);
	struct fsb_subdev_stats sst = sd_stats(sd);
	assert_int_equal(sst.tx_errors, 0);
	/* the streak was told once, with the time of the first failure */
	assert_true(atomic_load(&sd->tx_fail_ns) > 0);
	struct fsb_link l = { .up = true };
	assert_int_equal(sd->ops->link_get(sd, &l), 0);
	assert_false(l.up);
	uint8_t mac[6];
	assert_int_equal(sd->ops->mac_get(sd, mac), -ENODEV);
	assert_true(sd->ops->promisc_set(sd, true) < 0);
	/* A new fsbC is not ours: still down (bound by ifindex). */
	assert_int_equal(system("ip link add fsbC type veth peer name fsbD && "
				"ip link set fsbC up && ip link set fsbD up"), 0);
	assert_int_equal(sd->ops->link_get(sd, &l), 0);
	assert_false(l.up);
	sd_close(sd);
	assert_int_equal(system("ip link del fsbC"), 0);
	assert_int_equal(system(VETH_UP), 0);   /* fsbA for later tests */
	fsb_bare_close(bare);
	assert_int_equal(fsb_mempool_avail(e->mp), 8192);
}

int main(void)
{
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) {
		fprintf(stderr, "test_af_packet: unshare(CLONE_NEWNET): %s: "
			"skipped (needs root)\n", strerror(errno));
		return 77;
	}
	/* As ip-netns-exec does: a sysfs of this netns, so that
	 * /sys/class/net shows our veths (and only in our mount ns). */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    umount2("/sys", MNT_DETACH) < 0 ||
	    mount("sysfs", "/sys", "sysfs", 0, NULL) < 0) {
		fprintf(stderr, "test_af_packet: remounting /sys: %s\n",
			strerror(errno));
		return 1;
	}
	/* No IPv6 chatter (ND, MLD) on the veths. */
	FILE *f = fopen("/proc/sys/net/ipv6/conf/default/disable_ipv6", "w");
	if (f) {
		fputs("1", f);
		fclose(f);
	}
	if (system("ip link set lo up && " VETH_UP) != 0) {
		fprintf(stderr, "test_af_packet: cannot create the veth pair\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spec_errors, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_probe_missing, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_tx_10000, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_rx_10000, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_rx_ignores_own_tx, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_fanout, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_probe_by_mac, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_membership, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_link_and_config, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_stop_start, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_admin_up, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_rx_nombuf, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_ring_corruption, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_netdev_deleted, t_setup, t_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
