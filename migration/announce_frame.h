/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * announce_frame.h - telling the network where a MAC lives now (internal).
 *
 * After TX moves to another path the switches on the way still send
 * the port's traffic down the old one, until a frame from our MAC
 * comes up the new one.  We send three kinds, as QEMU's self-announce
 * and the kernel's net_failover peers expect:
 *   - a gratuitous ARP per IPv4 address, as a request and as a reply
 *     (some switches and hosts learn from one, some from the other);
 *   - one RARP (ethertype 0x8035), QEMU's own self-announce frame,
 *     which needs no address;
 *   - an unsolicited Neighbour Advertisement per IPv6 address, to
 *     all-nodes, with the override flag and our MAC as the target
 *     link-layer address.
 * This file builds the frames and parses the port option; when and
 * where they are sent is the port's (sync.c).
 */
#ifndef FSB_ANNOUNCE_FRAME_H
#define FSB_ANNOUNCE_FRAME_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FSB_ANNOUNCE_ADDR_MAX 16
/* the largest frame built here: an NA with a VLAN tag */
#define FSB_ANNOUNCE_FRAME_MAX 96

enum fsb_announce_mode {
	FSB_ANNOUNCE_OFF = 0,
	FSB_ANNOUNCE_LEARN,     /* addresses from our own TX's ARP and ND */
	FSB_ANNOUNCE_LIST,      /* the addresses given */
};

struct fsb_announce_addr {
	bool v6;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} a;
};

/*
 * The schedule, as QEMU's announce parameters: the first round goes out
 * with the switch, the next after @initial_ms, and each later gap grows
 * by @step_ms up to @max_ms, for @rounds rounds in all.
 */
#define FSB_ANNOUNCE_ROUNDS_DEFAULT 5
#define FSB_ANNOUNCE_INITIAL_DEFAULT_MS 50
#define FSB_ANNOUNCE_MAX_DEFAULT_MS 550
#define FSB_ANNOUNCE_STEP_DEFAULT_MS 100
#define FSB_ANNOUNCE_ROUNDS_MAX 1000
#define FSB_ANNOUNCE_MS_MAX 100000
#define FSB_ANNOUNCE_STEP_MAX_MS 10000

struct fsb_announce_cfg {
	enum fsb_announce_mode mode;
	unsigned naddr;
	struct fsb_announce_addr addr[FSB_ANNOUNCE_ADDR_MAX];
	uint32_t rounds, initial_ms, max_ms, step_ms;
};

/* The gap after round @k (from 0) before the next, ms (the spec
 * parser keeps max_ms >= initial_ms). */
static inline uint32_t fsb_announce_gap_ms(const struct fsb_announce_cfg *c,
					   unsigned k)
{
	uint64_t g = (uint64_t)c->initial_ms + (uint64_t)c->step_ms * k;
	return g > c->max_ms ? c->max_ms : (uint32_t)g;
}

/*
 * Parse announce=VALUE: "off", "learn", or ADDR[;ADDR...] (IPv4 or
 * IPv6, at most FSB_ANNOUNCE_ADDR_MAX, no duplicates) into the mode and
 * addresses of @cfg (the schedule is left as it was).  0, or -EINVAL
 * with one line in @err naming what was wrong.
 */
int fsb_announce_parse(const char *val, struct fsb_announce_cfg *cfg,
		       char *err, size_t errlen);

/* ARP operation of a gratuitous ARP. */
enum fsb_garp_op { FSB_GARP_REQUEST = 1, FSB_GARP_REPLY = 2 };

/*
 * Build one frame into @buf (at least FSB_ANNOUNCE_FRAME_MAX bytes)
 * from @mac, with an 802.1Q tag when @vlan_tci is not 0.  Returns the
 * frame's length (without FCS; short frames are padded to 60 bytes).
 *   garp: sender = target = @ip, broadcast; a request asks for our own
 *         address, a reply answers it, unasked;
 *   rarp: "reverse request", sender and target hardware address ours,
 *         protocol addresses 0, broadcast (QEMU's self-announce frame);
 *   na:   from the link-local address made of @mac (EUI-64) to
 *         all-nodes ff02::1, hop limit 255, flags override (and not
 *         solicited), target @ip6, option target link-layer @mac;
 *         ICMPv6 checksum over the pseudo-header.
 */
size_t fsb_announce_garp(uint8_t *buf, const uint8_t mac[6], struct in_addr ip,
			 enum fsb_garp_op op, uint16_t vlan_tci);
size_t fsb_announce_rarp(uint8_t *buf, const uint8_t mac[6], uint16_t vlan_tci);
size_t fsb_announce_na(uint8_t *buf, const uint8_t mac[6],
		       const struct in6_addr *ip6, uint16_t vlan_tci);

/*
 * announce=learn: whether frame @f (@len bytes) that the port sends
 * tells one of the sender's addresses (one 802.1Q tag is skipped): an
 * ARP's sender protocol address (not 0.0.0.0) when its sender hardware
 * address is the frame's source, an NS's source (not :: and not
 * multicast), an NA's target.  Fills *@out and @src (the frame's source
 * MAC, for the caller to compare with the port's) and returns true,
 * else false.  Reads only within @len.
 */
bool fsb_announce_learn_frame(const uint8_t *f, size_t len,
			      struct fsb_announce_addr *out, uint8_t src[6]);

/* Same address (family and bytes). */
bool fsb_announce_addr_eq(const struct fsb_announce_addr *a,
			  const struct fsb_announce_addr *b);

#endif /* FSB_ANNOUNCE_FRAME_H */
