/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * announce_frame.c - the announce frames (GARP, RARP, unsolicited NA) and the
 * announce= option; see announce_frame.h.
 *
 * Every field is written in network order by hand, byte by byte, so the
 * frames do not depend on the host's struct packing; tests/test_announce
 * checks them with tcpdump, a decoder we did not write.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "announce_frame.h"

#define ETH_P_8021Q 0x8100
#define ETH_P_ARP 0x0806
#define ETH_P_RARP 0x8035
#define ETH_P_IPV6 0x86dd
#define ARP_RREQUEST 3          /* RARP "reverse request" (RFC 903) */
#define ICMP6_NA 136
#define NA_F_OVERRIDE 0x20      /* the flag byte: R S O, high bits */
#define ND_OPT_TLLA 2
#define FRAME_MIN 60

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *put(uint8_t *p, const void *src, size_t n)
{
	memcpy(p, src, n);
	return p + n;
}

/* Ethernet header (and tag) to @dst; the ethertype after it. */
static uint8_t *eth(uint8_t *p, const uint8_t dst[6], const uint8_t src[6],
		    uint16_t vlan_tci, uint16_t type)
{
	p = put(p, dst, 6);
	p = put(p, src, 6);
	if (vlan_tci) {
		p = put16(p, ETH_P_8021Q);
		p = put16(p, vlan_tci);
	}
	return put16(p, type);
}

static size_t pad(uint8_t *buf, uint8_t *end)
{
	size_t n = (size_t)(end - buf);
	if (n < FRAME_MIN) {
		memset(end, 0, FRAME_MIN - n);
		n = FRAME_MIN;
	}
	return n;
}

/* An ARP or RARP body for Ethernet and IPv4. */
static uint8_t *arp(uint8_t *p, uint16_t op, const uint8_t sha[6],
		    const void *spa, const uint8_t tha[6], const void *tpa)
{
	p = put16(p, 1);                /* hardware: Ethernet */
	p = put16(p, 0x0800);          /* protocol: IPv4 */
	*p++ = 6;
	*p++ = 4;
	p = put16(p, op);
	p = put(p, sha, 6);
	p = put(p, spa, 4);
	p = put(p, tha, 6);
	return put(p, tpa, 4);
}

size_t fsb_announce_garp(uint8_t *buf, const uint8_t mac[6], struct in_addr ip,
			 enum fsb_garp_op op, uint16_t vlan_tci)
{
	static const uint8_t zero[6];
	uint8_t *p = eth(buf, bcast, mac, vlan_tci, ETH_P_ARP);
	/* a request leaves the target hardware address unknown (0); a
	 * gratuitous reply names ours there too */
	p = arp(p, (uint16_t)op, mac, &ip, op == FSB_GARP_REQUEST ? zero : mac, &ip);
	return pad(buf, p);
}

size_t fsb_announce_rarp(uint8_t *buf, const uint8_t mac[6], uint16_t vlan_tci)
{
	static const uint8_t zero4[4];
	uint8_t *p = eth(buf, bcast, mac, vlan_tci, ETH_P_RARP);
	p = arp(p, ARP_RREQUEST, mac, zero4, mac, zero4);
	return pad(buf, p);
}

/* The ones' complement sum of @n bytes, folded later. */
static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

size_t fsb_announce_na(uint8_t *buf, const uint8_t mac[6],
		       const struct in6_addr *ip6, uint16_t vlan_tci)
{
	/* all-nodes, and its multicast MAC 33:33 + its low 32 bits */
	static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 0x01 };
	static const uint8_t all_nodes_mac[6] = { 0x33, 0x33, 0, 0, 0, 1 };
	/* our link-local source: fe80::/64 + EUI-64 of the MAC */
	uint8_t src[16] = { 0xfe, 0x80 };
	src[8] = mac[0] ^ 0x02;
	src[9] = mac[1];
	src[10] = mac[2];
	src[11] = 0xff;
	src[12] = 0xfe;
	src[13] = mac[3];
	src[14] = mac[4];
	src[15] = mac[5];
	const uint16_t icmp_len = 4 + 4 + 16 + 8;       /* + TLLA option */

	uint8_t *p = eth(buf, all_nodes_mac, mac, vlan_tci, ETH_P_IPV6);
	uint8_t *ip = p;
	*p++ = 0x60;                    /* version 6, class 0, flow 0 */
	*p++ = 0;
	p = put16(p, 0);
	p = put16(p, icmp_len);
	*p++ = 58;                      /* next header: ICMPv6 */
	*p++ = 255;                     /* hop limit: ND requires it */
	p = put(p, src, 16);
	p = put(p, all_nodes, 16);
	uint8_t *icmp = p;
	*p++ = ICMP6_NA;
	*p++ = 0;                       /* code */
	p = put16(p, 0);                /* checksum, below */
	*p++ = NA_F_OVERRIDE;
	*p++ = 0;
	p = put16(p, 0);
	p = put(p, ip6, 16);
	*p++ = ND_OPT_TLLA;
	*p++ = 1;                       /* length in units of 8 bytes */
	p = put(p, mac, 6);
	/* pseudo-header: source, destination, length, next header */
	uint32_t s = sum16(0, ip + 8, 32);
	s += icmp_len;
	s += 58;
	s = sum16(s, icmp, icmp_len);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	put16(icmp + 2, (uint16_t)~s);
	return pad(buf, p);
}

bool fsb_announce_addr_eq(const struct fsb_announce_addr *a,
			  const struct fsb_announce_addr *b)
{
	return a->v6 == b->v6 &&
	       !memcmp(&a->a, &b->a, a->v6 ? sizeof(a->a.v6) : sizeof(a->a.v4));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

bool fsb_announce_learn_frame(const uint8_t *f, size_t len,
			      struct fsb_announce_addr *out, uint8_t src[6])
{
	if (len < 14)
		return false;
	const uint8_t *mac = f + 6;
	size_t o = 12;
	uint16_t type = get16(f + o);
	if (type == ETH_P_8021Q) {
		if (len < 18)
			return false;
		o += 4;
		type = get16(f + o);
	}
	o += 2;                         /* the payload */
	if (type == ETH_P_ARP) {
		const uint8_t *a = f + o;
		static const uint8_t zero4[4];
		if (len < o + 28 || get16(a) != 1 || get16(a + 2) != 0x0800 ||
		    a[4] != 6 || a[5] != 4 || memcmp(a + 8, mac, 6) ||
		    !memcmp(a + 14, zero4, 4))
			return false;
		out->v6 = false;
		memcpy(&out->a.v4, a + 14, 4);
		memcpy(src, mac, 6);
		return true;
	}
	if (type != ETH_P_IPV6 || len < o + 40 + 24)
		return false;
	const uint8_t *ip = f + o, *icmp = ip + 40;
	if ((ip[0] >> 4) != 6 || ip[6] != 58 /* ICMPv6, no extension */)
		return false;
	const uint8_t *addr;
	if (icmp[0] == 135)             /* NS: our source address */
		addr = ip + 8;
	else if (icmp[0] == ICMP6_NA)   /* NA: its target is ours */
		addr = icmp + 8;
	else
		return false;
	static const uint8_t zero16[16];
	if (!memcmp(addr, zero16, 16) || addr[0] == 0xff)
		return false;
	out->v6 = true;
	memcpy(&out->a.v6, addr, 16);
	memcpy(src, mac, 6);
	return true;
}

int fsb_announce_parse(const char *val, struct fsb_announce_cfg *cfg,
		       char *err, size_t errlen)
{
	cfg->mode = FSB_ANNOUNCE_OFF;
	cfg->naddr = 0;
	if (!val || !strcmp(val, "off"))
		return 0;
	if (!strcmp(val, "learn")) {
		cfg->mode = FSB_ANNOUNCE_LEARN;
		return 0;
	}
	cfg->mode = FSB_ANNOUNCE_LIST;
	const char *s = val;
	for (;;) {
		size_t n = strcspn(s, ";");
		char one[INET6_ADDRSTRLEN + 1];
		if (n == 0 || n >= sizeof(one)) {
			snprintf(err, errlen, "announce=%s: %s", val, n ?
				 "an address is too long" :
				 "an empty address (off, learn, or IPv4/IPv6 "
				 "addresses separated by ';')");
			return -EINVAL;
		}
		memcpy(one, s, n);
		one[n] = '\0';
		if (cfg->naddr == FSB_ANNOUNCE_ADDR_MAX) {
			snprintf(err, errlen, "announce=: more than %u addresses",
				 FSB_ANNOUNCE_ADDR_MAX);
			return -EINVAL;
		}
		struct fsb_announce_addr *a = &cfg->addr[cfg->naddr];
		if (inet_pton(AF_INET, one, &a->a.v4) == 1) {
			a->v6 = false;
		} else if (inet_pton(AF_INET6, one, &a->a.v6) == 1) {
			a->v6 = true;
		} else {
			snprintf(err, errlen, "announce=: '%s' is not an IPv4 or "
				 "IPv6 address", one);
			return -EINVAL;
		}
		for (unsigned i = 0; i < cfg->naddr; i++)
			if (cfg->addr[i].v6 == a->v6 &&
			    !memcmp(&cfg->addr[i].a, &a->a, a->v6 ? 16 : 4)) {
				snprintf(err, errlen, "announce=: '%s' is given "
					 "twice", one);
				return -EINVAL;
			}
		cfg->naddr++;
		if (!s[n])
			return 0;
		s += n + 1;
	}
}
