/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fsb-check.h - the frames fsb-fwd sends and checks, shared with the
 * tools that make or read them (tests/tools/vhost-hostile.c, the drill's
 * sink migration/fsb-peer.c).
 *
 * Every frame fsb-fwd's txonly sends starts with a 42-byte
 * Ethernet/IPv4/UDP header, then struct seq_hdr:
 *   - magic "FSB1": seq counts per port (fsb-peer relies on that);
 *   - magic "FSB2" (--check): seq counts per (port, queue), a 32-bit
 *     checksum follows the header, then a pattern derived from seq.
 * The checksum covers everything after the two MAC addresses (macswap
 * rewrites those), except the checksum field, plus the frame length.
 */
#ifndef FSB_CHECK_H
#define FSB_CHECK_H

#include <stdint.h>
#include <string.h>

#define SEQ_MAGIC 0x46534231u          /* "FSB1" */
#define CHK_MAGIC 0x46534232u          /* "FSB2": per-queue seq + checksum */
#define HDR_LEN (14 + 20 + 8)

struct seq_hdr {
	uint32_t magic;
	uint16_t port, queue;
	uint64_t seq;
} __attribute__((packed));

#define CHK_OFF (HDR_LEN + sizeof(struct seq_hdr))   /* the checksum */
#define CHK_MIN (CHK_OFF + 4)                         /* smallest frame */

/* A 64-bit multiply-xor hash of d[from, to) onto @h. */
static inline uint64_t chk_hash(const uint8_t *d, unsigned from, unsigned to,
				uint64_t h)
{
	unsigned i = from;
	for (; i + 8 <= to; i += 8) {
		uint64_t w;
		memcpy(&w, d + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	for (; i < to; i++)
		h = (h ^ d[i]) * 0x100000001b3ull;
	return h;
}

/* The checksum of a frame of @len (>= CHK_MIN) bytes. */
static inline uint32_t chk_sum(const uint8_t *d, unsigned len)
{
	uint64_t h = chk_hash(d, 12, CHK_OFF, 0xcbf29ce484222325ull ^ len);
	h = chk_hash(d, CHK_OFF + 4, len, h);
	return (uint32_t)(h ^ (h >> 32));
}

/* Fill a checked frame of @len bytes after its 42-byte header: seq
 * header, pattern, checksum. */
static inline void chk_fill(uint8_t *d, unsigned len, uint16_t port,
			    uint16_t q, uint64_t seq)
{
	struct seq_hdr h = { CHK_MAGIC, port, q, seq };
	memcpy(d + HDR_LEN, &h, sizeof(h));
	uint64_t w = seq * 0x9e3779b97f4a7c15ull;
	unsigned i = CHK_MIN;
	for (; i + 8 <= len; i += 8, w++)
		memcpy(d + i, &w, 8);
	for (; i < len; i++)
		d[i] = (uint8_t)(w >> ((i & 7) * 8));
	uint32_t c = chk_sum(d, len);
	memcpy(d + CHK_OFF, &c, 4);
}

#endif /* FSB_CHECK_H */
