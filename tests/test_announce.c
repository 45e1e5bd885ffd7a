/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_announce.c - the announce frames, read back by tcpdump, a
 * decoder we did not write: each GARP (request and reply), the RARP and
 * each unsolicited NA must parse as what it is meant to be, with our MAC
 * and addresses, tagged or not, and tcpdump must find the NA's ICMPv6
 * checksum right ("icmp6 sum ok" with -vv).  And the announce= option:
 * off, learn, lists, the schedule, and one line for each bad value.
 *
 * Then the announcer on a port of ring sub-devices, counted at the
 * peers: the rounds on the schedule, on the new path after each switch,
 * first on it; none with announce=off; an RX burst sends them for an
 * RX-only application; frames made for a path that is no longer
 * published are dropped and counted; learn mode.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "announce_frame.h"
#include "helpers.h"

static const uint8_t mac[6] = { 0x02, 0xfb, 0x00, 0x00, 0x00, 0x01 };

/* Write @n frames as a pcap file; tcpdump -r reads it back. */
static void pcap_write(const char *path, uint8_t (*f)[FSB_ANNOUNCE_FRAME_MAX],
		       const size_t *len, unsigned n)
{
	FILE *o = fopen(path, "wb");
	assert_non_null(o);
	uint32_t gh[6] = { 0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1 /* Ethernet */ };
	assert_int_equal(fwrite(gh, 4, 6, o), 6);
	for (unsigned i = 0; i < n; i++) {
		uint32_t ph[4] = { i, 0, (uint32_t)len[i], (uint32_t)len[i] };
		assert_int_equal(fwrite(ph, 4, 4, o), 4);
		assert_int_equal(fwrite(f[i], 1, len[i], o), len[i]);
	}
	fclose(o);
}

/* tcpdump's lines for @path, one per frame, in @out. */
static unsigned tcpdump(const char *path, char out[][512], unsigned max)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "tcpdump -nn -e -vv -r %s 2>/dev/null", path);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	unsigned n = 0;
	char line[512];
	while (fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = '\0';
		/* -v puts a frame's details on indented lines: one line per
		 * frame */
		if ((line[0] == ' ' || line[0] == '\t') && n) {
			size_t l = strlen(out[n - 1]);
			snprintf(out[n - 1] + l, 512 - l, "%s", line);
			continue;
		}
		if (n < max)
			snprintf(out[n++], 512, "%s", line);
	}
	assert_int_equal(pclose(p), 0);
	return n;
}

static void expect(const char *line, const char *what)
{
	if (!strstr(line, what))
		fail_msg("tcpdump: '%s' lacks '%s'", line, what);
}

static void frames(uint16_t vlan)
{
	uint8_t f[8][FSB_ANNOUNCE_FRAME_MAX];
	size_t len[8];
	struct in_addr v4;
	struct in6_addr v6;
	assert_int_equal(inet_pton(AF_INET, "192.0.2.7", &v4), 1);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::7", &v6), 1);
	len[0] = fsb_announce_garp(f[0], mac, v4, FSB_GARP_REQUEST, vlan);
	len[1] = fsb_announce_garp(f[1], mac, v4, FSB_GARP_REPLY, vlan);
	len[2] = fsb_announce_rarp(f[2], mac, vlan);
	len[3] = fsb_announce_na(f[3], mac, &v6, vlan);
	for (unsigned i = 0; i < 4; i++) {
		assert_true(len[i] >= 60 && len[i] <= FSB_ANNOUNCE_FRAME_MAX);
		/* from us */
		assert_memory_equal(f[i] + 6, mac, 6);
	}
	char path[] = "/tmp/fsb-announce.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	pcap_write(path, f, len, 4);
	char out[8][512];
	unsigned n = tcpdump(path, out, 8);
	unlink(path);
	for (unsigned i = 0; i < n; i++)
		fprintf(stderr, "  tcpdump: %s\n", out[i]);
	assert_int_equal(n, 4);
	char tag[32] = "";
	if (vlan)
		snprintf(tag, sizeof(tag), "vlan %u", vlan & 0xfff);
	for (unsigned i = 0; i < 4; i++) {
		expect(out[i], "02:fb:00:00:00:01 >");
		if (vlan)
			expect(out[i], tag);
	}
	expect(out[0], "ff:ff:ff:ff:ff:ff");
	expect(out[0], "Request who-has 192.0.2.7 tell 192.0.2.7");
	expect(out[1], "Reply 192.0.2.7 is-at 02:fb:00:00:00:01");
	expect(out[2], "Reverse Request who-is 02:fb:00:00:00:01 tell 02:fb:00:00:00:01");
	expect(out[3], "33:33:00:00:00:01");
	expect(out[3], "fe80::fb:ff:fe00:1 > ff02::1");
	expect(out[3], "hlim 255");
	expect(out[3], "neighbor advertisement");
	expect(out[3], "tgt is 2001:db8::7");
	expect(out[3], "Flags [override]");
	expect(out[3], "destination link-address option");
	expect(out[3], "02:fb:00:00:00:01");
	expect(out[3], "[icmp6 sum ok]");
}

static void test_frames(void **state)
{
	(void)state;
	frames(0);
}

static void test_frames_vlan(void **state)
{
	(void)state;
	frames(100);
}

static void test_parse(void **state)
{
	(void)state;
	struct fsb_announce_cfg c;
	char err[256];
	assert_int_equal(fsb_announce_parse("off", &c, err, sizeof(err)), 0);
	assert_int_equal(c.mode, FSB_ANNOUNCE_OFF);
	assert_int_equal(fsb_announce_parse(NULL, &c, err, sizeof(err)), 0);
	assert_int_equal(c.mode, FSB_ANNOUNCE_OFF);
	assert_int_equal(fsb_announce_parse("learn", &c, err, sizeof(err)), 0);
	assert_int_equal(c.mode, FSB_ANNOUNCE_LEARN);
	assert_int_equal(fsb_announce_parse("192.0.2.1;2001:db8::1;10.0.0.1", &c,
					    err, sizeof(err)), 0);
	assert_int_equal(c.mode, FSB_ANNOUNCE_LIST);
	assert_int_equal(c.naddr, 3);
	assert_false(c.addr[0].v6);
	assert_true(c.addr[1].v6);
	assert_false(c.addr[2].v6);
	static const struct { const char *v, *msg; } bad[] = {
		{ "192.0.2.300", "'192.0.2.300' is not an IPv4 or IPv6 address" },
		{ "on", "'on' is not an IPv4 or IPv6 address" },
		{ "192.0.2.1;;10.0.0.1", "an empty address" },
		{ "192.0.2.1;", "an empty address" },
		{ "192.0.2.1;192.0.2.1", "'192.0.2.1' is given twice" },
		{ "2001:db8::1;2001:DB8:0::1", "'2001:DB8:0::1' is given twice" },
		{ "fe80::1%eth0", "'fe80::1%eth0' is not an IPv4 or IPv6 address" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(fsb_announce_parse(bad[i].v, &c, err, sizeof(err)),
				 -EINVAL);
		if (!strstr(err, bad[i].msg) || strchr(err, '\n'))
			fail_msg("announce=%s: '%s'", bad[i].v, err);
	}
	/* 16 addresses, and one more */
	char many[512] = "";
	for (unsigned i = 0; i < 17; i++) {
		char one[24];
		snprintf(one, sizeof(one), "%s10.0.0.%u", i ? ";" : "", i + 1);
		strcat(many, one);
		if (i == 15)
			assert_int_equal(fsb_announce_parse(many, &c, err, sizeof(err)), 0);
	}
	assert_int_equal(fsb_announce_parse(many, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "more than 16 addresses"));
}

static void test_learn_frame(void **state)
{
	(void)state;
	uint8_t f[FSB_ANNOUNCE_FRAME_MAX], src[6];
	struct fsb_announce_addr a;
	struct in_addr v4;
	struct in6_addr v6;
	inet_pton(AF_INET, "198.51.100.9", &v4);
	inet_pton(AF_INET6, "2001:db8::9", &v6);
	size_t n = fsb_announce_garp(f, mac, v4, FSB_GARP_REPLY, 0);
	assert_true(fsb_announce_learn_frame(f, n, &a, src));
	assert_false(a.v6);
	assert_memory_equal(&a.a.v4, &v4, 4);
	assert_memory_equal(src, mac, 6);
	n = fsb_announce_garp(f, mac, v4, FSB_GARP_REQUEST, 5);  /* tagged */
	assert_true(fsb_announce_learn_frame(f, n, &a, src));
	assert_memory_equal(&a.a.v4, &v4, 4);
	/* short: never read past the end */
	assert_false(fsb_announce_learn_frame(f, 30, &a, src));
	n = fsb_announce_na(f, mac, &v6, 0);
	assert_true(fsb_announce_learn_frame(f, n, &a, src));
	assert_true(a.v6);
	assert_memory_equal(&a.a.v6, &v6, 16);
	assert_false(fsb_announce_learn_frame(f, n - 30, &a, src));
	/* RARP tells no address */
	n = fsb_announce_rarp(f, mac, 0);
	assert_false(fsb_announce_learn_frame(f, n, &a, src));
	/* an ARP whose sender is someone else's MAC (proxy) */
	n = fsb_announce_garp(f, mac, v4, FSB_GARP_REPLY, 0);
	f[14 + 8] ^= 1;
	assert_false(fsb_announce_learn_frame(f, n, &a, src));
}

/* ---- the announcer on a port ---------------------------------------- */

/* What a peer received: announcements by kind, and data frames. */
struct seen {
	unsigned rarp, garp_req, garp_rep, na, data;
	unsigned first_data_at;         /* index of the first data frame */
	unsigned n;
	struct in_addr last_v4;
	struct in6_addr last_v6;
	bool bad_mac;
};

static void seen_frame(struct seen *s, const uint8_t *f, size_t len,
		       const uint8_t *want_mac)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	assert_true(len >= 60);
	static const uint8_t allnodes[6] = { 0x33, 0x33, 0, 0, 0, 1 };
	uint16_t type = (uint16_t)(f[12] << 8 | f[13]);
	/* send_seq's frames start with a small sequence number, which
	 * no announcement's destination is */
	if (memcmp(f, bcast, 6) && memcmp(f, allnodes, 6))
		type = 0;
	else if (memcmp(f + 6, want_mac, 6))
		s->bad_mac = true;
	if (type == 0x8035) {
		s->rarp++;
	} else if (type == 0x0806) {
		if (f[21] == 1)
			s->garp_req++;
		else
			s->garp_rep++;
		memcpy(&s->last_v4, f + 28, 4);
		assert_memory_equal(f + 28, f + 38, 4);  /* sender = target */
	} else if (type == 0x86dd && f[14 + 6] == 58 && f[54] == 136) {
		s->na++;
		memcpy(&s->last_v6, f + 62, 16);
	} else {
		if (!s->data)
			s->first_data_at = s->n;
		s->data++;
	}
	s->n++;
}

static void peer_drain(struct fsb_bare *b, struct seen *s, const uint8_t *m)
{
	struct fsb_buf *bufs[64];
	uint16_t n;
	while ((n = fsb_bare_rx_burst(b, 0, bufs, 64)) > 0) {
		for (uint16_t i = 0; i < n; i++)
			seen_frame(s, fsb_buf_data(bufs[i]), bufs[i]->data_len, m);
		fsb_buf_free_bulk(bufs, n);
	}
}

static const uint8_t pmac[6] = { 0x02, 0xfb, 0x00, 0x00, 0x00, 0x07 };

/* Rounds on the schedule, first on the new path, and none after the
 * last; counted at the peers. */
static void test_port_rounds(void **state)
{
	struct env *e = *state;
	struct fsb_bare *pa = ring_peer(e->ctx, "an1", e->mp);
	struct fsb_bare *pb = ring_peer(e->ctx, "an2", e->mp);
	struct fsb_port *p = port_up(e->ctx, "a0,hold_down=0,mac=02:fb:00:00:00:07,"
		"announce=192.0.2.7;2001:db8::7,announce_rounds=3,"
		"announce_initial=20,announce_step=10,announce_max=25,"
		"dev(ring,name=an1),dev(ring,name=an2)", e->mp, NULL);
	struct seen sa = { 0 }, sb = { 0 };
	uint64_t seq = 0;

	/* the first path, at start: round 1 goes out ahead of the data */
	assert_int_equal(send_seq(p, e->mp, &seq, 8), 8);
	peer_drain(pa, &sa, pmac);
	assert_int_equal(sa.rarp, 1);
	assert_int_equal(sa.garp_req, 1);
	assert_int_equal(sa.garp_rep, 1);
	assert_int_equal(sa.na, 1);
	assert_int_equal(sa.first_data_at, 4);
	assert_false(sa.bad_mac);
	/* rounds 2 and 3 (20 and 20+25 ms on): the queue is offline
	 * between our bursts, so the control thread sends them */
	assert_true(WAIT_UNTIL((peer_drain(pa, &sa, pmac), sa.rarp == 3), 3000));
	t_sleep_ms(150);
	peer_drain(pa, &sa, pmac);
	assert_int_equal(sa.rarp, 3);
	assert_int_equal(sa.na, 3);
	assert_int_equal(sa.garp_req + sa.garp_rep, 6);
	char txt[INET6_ADDRSTRLEN];
	assert_string_equal(inet_ntop(AF_INET, &sa.last_v4, txt, sizeof(txt)),
			    "192.0.2.7");
	assert_string_equal(inet_ntop(AF_INET6, &sa.last_v6, txt, sizeof(txt)),
			    "2001:db8::7");
	assert_int_equal(xstat(p, "announce_sent"), 12);
	assert_int_equal(xstat(p, "announce_failed"), 0);

	/* a link-down on the primary: the standby's peer gets the rounds,
	 * the first ahead of the first data frame on it */
	fsb_ring_test_hook(fsb_port_subdev(p, 0), 0, true);
	assert_true(WAIT_UNTIL(active_slot(p) == 1, 2000));
	assert_int_equal(send_seq(p, e->mp, &seq, 8), 8);
	peer_drain(pb, &sb, pmac);
	assert_true(sb.rarp >= 1);
	assert_int_equal(sb.first_data_at, 4 * sb.rarp);
	assert_true(WAIT_UNTIL((peer_drain(pb, &sb, pmac), sb.rarp == 3), 3000));
	/* and back: the primary's peer again */
	unsigned before = sa.rarp;
	fsb_ring_test_hook(fsb_port_subdev(p, 0), 0, false);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 2000));
	assert_true(WAIT_UNTIL((peer_drain(pa, &sa, pmac), sa.rarp == before + 3),
			       3000));
	t_sleep_ms(150);
	peer_drain(pb, &sb, pmac);
	peer_drain(pa, &sa, pmac);
	assert_int_equal(sb.rarp, 3);
	assert_int_equal(sa.rarp, before + 3);
	assert_int_equal(xstat(p, "announce_sent"), 36);
	fsb_port_close(p);
	fsb_bare_close(pa);
	fsb_bare_close(pb);
}

/* announce=off (the default): nothing but the data. */
static void test_port_off(void **state)
{
	struct env *e = *state;
	struct fsb_bare *pa = ring_peer(e->ctx, "ao1", e->mp);
	struct fsb_bare *pb = ring_peer(e->ctx, "ao2", e->mp);
	struct fsb_port *p = port_up(e->ctx, "a1,hold_down=0,mac=02:fb:00:00:00:07,"
		"dev(ring,name=ao1),dev(ring,name=ao2)", e->mp, NULL);
	struct seen sa = { 0 }, sb = { 0 };
	uint64_t seq = 0;
	assert_int_equal(send_seq(p, e->mp, &seq, 4), 4);
	assert_int_equal(fsb_port_detach(p, 0), 0);
	assert_int_equal(send_seq(p, e->mp, &seq, 4), 4);
	t_sleep_ms(100);
	peer_drain(pa, &sa, pmac);
	peer_drain(pb, &sb, pmac);
	assert_int_equal(sa.n, 4);
	assert_int_equal(sb.n, 4);
	assert_int_equal(sa.data + sb.data, 8);
	assert_int_equal(xstat(p, "announce_sent"), 0);
	fsb_port_close(p);
	fsb_bare_close(pa);
	fsb_bare_close(pb);
}

/*
 * An RX-only application: its RX burst claims the offline tx queue and
 * sends them.  The test holds the port's lock (the control thread's
 * fallback needs it), so only the RX burst can have sent them.  And a
 * round made for a path that is unpublished before any burst took it
 * is dropped and counted, never sent on another path.
 */
static void test_port_rx_only_and_stale(void **state)
{
	struct env *e = *state;
	struct fsb_bare *pa = ring_peer(e->ctx, "ar1", e->mp);
	struct fsb_bare *pb = ring_peer(e->ctx, "ar2", e->mp);
	struct fsb_port *p = port_up(e->ctx, "a2,hold_down=0,mac=02:fb:00:00:00:07,"
		"announce=192.0.2.8,announce_rounds=1,"
		"dev(ring,name=ar1),dev(ring,name=ar2)", e->mp, NULL);
	struct seen sa = { 0 }, sb = { 0 };
	struct fsb_buf *rx[8];
	/* an RX-only application's burst: it never brings its tx queue
	 * online (t_rx would: fsb_queue_online takes both) */
#define rx_only() ({ uint16_t n_ = fsb_rx_burst(p, 0, rx, 8);            \
		     fsb_queue_offline(p, 0); n_; })
	/* round 1 of the start went out through the fallback */
	assert_true(WAIT_UNTIL((peer_drain(pa, &sa, pmac), sa.rarp == 1), 3000));

	pthread_mutex_lock(&p->lock);
	assert_int_equal(fsb_port_detach(p, 0), 0);     /* 0 -> 1 */
	assert_int_equal(rx_only(), 0);
	peer_drain(pb, &sb, pmac);
	assert_int_equal(sb.rarp, 1);
	assert_int_equal(sb.garp_req + sb.garp_rep, 2);
	/* a round for slot 0, unpublished again before any burst */
	assert_int_equal(fsb_port_attach(p, 0), 0);     /* 1 -> 0 */
	assert_int_equal(fsb_port_detach(p, 0), 0);     /* 0 -> 1 */
	assert_int_equal(rx_only(), 0);
	pthread_mutex_unlock(&p->lock);
	peer_drain(pa, &sa, pmac);
	peer_drain(pb, &sb, pmac);
	assert_int_equal(sa.rarp, 1);                   /* none for 0 */
	assert_int_equal(sb.rarp, 2);
	assert_int_equal(xstat(p, "announce_failed"), 3);
	assert_int_equal(xstat(p, "announce_sent"), 9);
	/* a round for slot 1, then a stop and a start before any burst:
	 * the same sub-device again, but the old round is not sent (one
	 * round for the new start, not two) */
	pthread_mutex_lock(&p->lock);
	assert_int_equal(fsb_port_attach(p, 0), 0);     /* 1 -> 0 */
	assert_int_equal(rx_only(), 0);
	assert_int_equal(fsb_port_detach(p, 0), 0);     /* 0 -> 1: a round */
	assert_int_equal(fsb_port_stop(p), 0);
	assert_int_equal(fsb_port_start(p), 0);         /* -> 1: a round */
	fsb_queue_offline(p, 0);
	assert_int_equal(rx_only(), 0);
	pthread_mutex_unlock(&p->lock);
	peer_drain(pa, &sa, pmac);
	peer_drain(pb, &sb, pmac);
	assert_int_equal(sa.rarp, 2);
	assert_int_equal(sb.rarp, 3);
	assert_int_equal(xstat(p, "announce_failed"), 6);
#undef rx_only
	fsb_port_close(p);
	fsb_bare_close(pa);
	fsb_bare_close(pb);
}

/* A round the path refuses (its ring full) is neither dropped nor
 * overtaken: it stays queued, the TX bursts hand the application's
 * frames back (0 sent) until it is taken, and then it goes out ahead of
 * them; nothing is counted failed.  Counted at the peer. */
static void test_port_refused_round_waits(void **state)
{
	struct env *e = *state;
	struct fsb_bare *pa = ring_peer(e->ctx, "aw1", e->mp);
	struct fsb_bare *pb = ring_peer(e->ctx, "aw2", e->mp);
	struct fsb_port *p = port_up(e->ctx, "a4,hold_down=0,mac=02:fb:00:00:00:07,"
		"announce=192.0.2.9,announce_rounds=1,"
		"dev(ring,name=aw1),dev(ring,name=aw2)", e->mp, NULL);
	struct seen sa = { 0 };
	uint64_t seq = 0;

	/* the start's round goes out with the first burst */
	assert_int_equal(send_seq(p, e->mp, &seq, 8), 8);
	/* fill slot 0's ring: its peer does not read for now */
	unsigned queued = 8;
	for (unsigned got; (got = send_seq(p, e->mp, &seq, 32)) == 32;)
		queued += got;
	queued = (unsigned)seq;
	assert_true(queued >= 512);
	/* away and back: a round for slot 1, then one for slot 0 */
	pthread_mutex_lock(&p->lock);
	assert_int_equal(fsb_port_detach(p, 0), 0);     /* 0 -> 1 */
	assert_int_equal(fsb_port_attach(p, 0), 0);     /* 1 -> 0 */
	pthread_mutex_unlock(&p->lock);
	uint64_t failed0 = xstat(p, "announce_failed");
	/* the ring is full: the round is refused, and so is the data; the
	 * first burst drops the stale round (3 frames), nothing more */
	for (int i = 0; i < 5; i++)
		assert_int_equal(send_seq(p, e->mp, &seq, 4), 0);
	assert_int_equal(xstat(p, "announce_failed"), failed0 + 3);
	failed0 += 3;
	/* what the ring held: the start's round, then data */
	peer_drain(pa, &sa, pmac);
	assert_int_equal(sa.rarp, 1);
	assert_int_equal(sa.data, queued);
	/* room again: the round first, then the data */
	struct seen s2 = { 0 };
	assert_int_equal(send_seq(p, e->mp, &seq, 4), 4);
	peer_drain(pa, &s2, pmac);
	assert_int_equal(s2.rarp, 1);
	assert_int_equal(s2.garp_req + s2.garp_rep, 2);
	assert_int_equal(s2.first_data_at, 3);
	assert_int_equal(s2.data, 4);
	assert_false(s2.bad_mac);
	assert_int_equal(xstat(p, "announce_failed"), failed0);
	/* the start's 3, the waiting round's 3 */
	assert_int_equal(xstat(p, "announce_sent"), 6);
	fsb_port_close(p);
	fsb_bare_close(pa);
	fsb_bare_close(pb);
}

/* learn: an ARP and an NA the application sends from the port's MAC
 * give the addresses; frames from another MAC do not. */
static void test_port_learn(void **state)
{
	struct env *e = *state;
	struct fsb_bare *pa = ring_peer(e->ctx, "al1", e->mp);
	struct fsb_bare *pb = ring_peer(e->ctx, "al2", e->mp);
	struct fsb_port *p = port_up(e->ctx, "a3,hold_down=0,mac=02:fb:00:00:00:07,"
		"announce=learn,announce_rounds=1,"
		"dev(ring,name=al1),dev(ring,name=al2)", e->mp, NULL);
	static const uint8_t other[6] = { 0x02, 0xfb, 0, 0, 0, 0x99 };
	struct in_addr v4, v4b;
	struct in6_addr v6;
	inet_pton(AF_INET, "203.0.113.5", &v4);
	inet_pton(AF_INET, "203.0.113.6", &v4b);
	inet_pton(AF_INET6, "2001:db8::5", &v6);
	struct fsb_buf *b[3];
	assert_int_equal(fsb_buf_alloc_bulk(e->mp, b, 3), 0);
	b[0]->data_len = (uint16_t)fsb_announce_garp(fsb_buf_data(b[0]), pmac, v4,
						     FSB_GARP_REQUEST, 0);
	b[1]->data_len = (uint16_t)fsb_announce_na(fsb_buf_data(b[1]), pmac, &v6, 0);
	b[2]->data_len = (uint16_t)fsb_announce_garp(fsb_buf_data(b[2]), other, v4b,
						     FSB_GARP_REQUEST, 0);
	for (int i = 0; i < 3; i++)
		b[i]->pkt_len = b[i]->data_len;
	assert_int_equal(t_tx(p, b, 3), 3);
	struct seen sa = { 0 }, sb = { 0 };
	assert_true(WAIT_UNTIL((peer_drain(pa, &sa, pmac), sa.n >= 4), 3000));
	/* the control thread takes them at its next pass */
	fsb_loop_wake();
	t_sleep_ms(50);
	assert_int_equal(fsb_port_detach(p, 0), 0);
	assert_true(WAIT_UNTIL((peer_drain(pb, &sb, pmac), sb.rarp == 1), 3000));
	assert_int_equal(sb.garp_req, 1);
	assert_int_equal(sb.garp_rep, 1);
	assert_int_equal(sb.na, 1);
	char txt[INET6_ADDRSTRLEN];
	assert_string_equal(inet_ntop(AF_INET, &sb.last_v4, txt, sizeof(txt)),
			    "203.0.113.5");
	assert_string_equal(inet_ntop(AF_INET6, &sb.last_v6, txt, sizeof(txt)),
			    "2001:db8::5");
	fsb_port_close(p);
	fsb_bare_close(pa);
	fsb_bare_close(pb);
}

static void test_spec_schedule(void **state)
{
	(void)state;
	struct fsb_spec sp;
	char err[FSB_ERRMSG_MAX];
	assert_int_equal(fsb_spec_parse("x,announce=10.0.0.1,dev(null)", &sp,
					err, sizeof(err)), 0);
	assert_int_equal(sp.announce.rounds, 5);
	assert_int_equal(sp.announce.initial_ms, 50);
	assert_int_equal(sp.announce.max_ms, 550);
	assert_int_equal(sp.announce.step_ms, 100);
	/* QEMU's gaps: 50, 150, 250, 350 ... capped at max */
	assert_int_equal(fsb_announce_gap_ms(&sp.announce, 0), 50);
	assert_int_equal(fsb_announce_gap_ms(&sp.announce, 1), 150);
	assert_int_equal(fsb_announce_gap_ms(&sp.announce, 6), 550);
	assert_int_equal(fsb_spec_parse("x,announce_rounds=2,announce=learn,"
					"announce_initial=1,announce_max=9,"
					"announce_step=3,dev(null)", &sp,
					err, sizeof(err)), 0);
	assert_int_equal(sp.announce.mode, FSB_ANNOUNCE_LEARN);
	assert_int_equal(sp.announce.rounds, 2);
	static const struct {
		const char *spec, *msg;
	} bad[] = {
		{ "x,announce=10.0.0.300,dev(null)", "'10.0.0.300' is not an IPv4" },
		{ "x,announce=10.0.0.1;;10.0.0.2,dev(null)", "an empty address" },
		{ "x,announce=10.0.0.1,announce=learn,dev(null)", "duplicate option" },
		{ "x,announce_rounds=3,dev(null)", "an announce schedule without announce=" },
		{ "x,announce=learn,announce_rounds=0,dev(null)", "announce_rounds" },
		{ "x,announce=learn,announce_step=10001,dev(null)", "announce_step" },
		{ "x,announce=learn,announce_initial=600,dev(null)",
		  "announce_max=550 is below announce_initial=600" },
		{ "x,announce=learn,announce_often=1,dev(null)", "unknown port option" },
		{ "x,announce=learn,announce_max=1,announce_max=2,dev(null)",
		  "duplicate option" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(fsb_spec_parse(bad[i].spec, &sp, err, sizeof(err)),
				 -EINVAL);
		if (!strstr(err, bad[i].msg) || strchr(err, '\n'))
			fail_msg("'%s': got '%s', want '%s'", bad[i].spec, err,
				 bad[i].msg);
	}
}

int main(void)
{
	const struct CMUnitTest frames[] = {
		cmocka_unit_test(test_frames),
		cmocka_unit_test(test_frames_vlan),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_learn_frame),
		cmocka_unit_test(test_spec_schedule),
	};
	const struct CMUnitTest port[] = {
		cmocka_unit_test(test_port_rounds),
		cmocka_unit_test(test_port_off),
		cmocka_unit_test(test_port_rx_only_and_stale),
		cmocka_unit_test(test_port_refused_round_waits),
		cmocka_unit_test(test_port_learn),
	};
	int rc = cmocka_run_group_tests_name("frames", frames, NULL, NULL);
	return rc | cmocka_run_group_tests_name("port", port, t_setup, t_teardown);
}
