/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost_user.h - the vhost-user message layer (frontend side).
 *
 * A message is a 12-byte header (request, flags, size) and size bytes
 * of payload, with up to 8 fds as SCM_RIGHTS on the header's sendmsg.
 * Our requests carry version 1 (flags 0x1), plus NEED_REPLY (0x8) when
 * REPLY_ACK was negotiated and the request has no reply of its own.  A
 * reply must have flags exactly 0x5 (version 1 | REPLY), echo the
 * request, and have the size that request's reply has.
 *
 * Parsing is a pure function (fsb_vhost_reply_parse: bytes in, value
 * out) so it can be fuzzed; the I/O functions around it only move bytes
 * and fds and bound every wait.
 *
 * Errors: -EPROTO for anything the backend got wrong (logged once by
 * the caller with the message in conn->err), -ECONNRESET/-EPIPE when it
 * went away, -ETIMEDOUT when it did not answer in time.
 */
#ifndef FSB_VHOST_USER_H
#define FSB_VHOST_USER_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fsb_vhost_req {
	FSB_VHOST_GET_FEATURES = 1,
	FSB_VHOST_SET_FEATURES = 2,
	FSB_VHOST_SET_OWNER = 3,
	FSB_VHOST_RESET_OWNER = 4,
	FSB_VHOST_SET_MEM_TABLE = 5,
	FSB_VHOST_SET_VRING_NUM = 8,
	FSB_VHOST_SET_VRING_ADDR = 9,
	FSB_VHOST_SET_VRING_BASE = 10,
	FSB_VHOST_GET_VRING_BASE = 11,
	FSB_VHOST_SET_VRING_KICK = 12,
	FSB_VHOST_SET_VRING_CALL = 13,
	FSB_VHOST_GET_PROTOCOL_FEATURES = 15,
	FSB_VHOST_SET_PROTOCOL_FEATURES = 16,
	FSB_VHOST_GET_QUEUE_NUM = 17,
	FSB_VHOST_SET_VRING_ENABLE = 18,
	FSB_VHOST_REQ_MAX = 64,
};

#define FSB_VHOST_VERSION 0x1u
#define FSB_VHOST_FLAG_REPLY 0x4u
#define FSB_VHOST_FLAG_NEED_REPLY 0x8u
#define FSB_VHOST_HDR_SIZE 12u
#define FSB_VHOST_MAX_FDS 8
#define FSB_VHOST_MAX_REGIONS 8
#define FSB_VHOST_VRING_NOFD (1ull << 8)

/* Device feature bits. */
#define FSB_VIRTIO_NET_F_MAC 5
#define FSB_VIRTIO_NET_F_MRG_RXBUF 15
#define FSB_VIRTIO_NET_F_STATUS 16
#define FSB_VIRTIO_NET_F_MQ 22
#define FSB_VIRTIO_F_RING_EVENT_IDX 29
#define FSB_VHOST_F_PROTOCOL_FEATURES 30
#define FSB_VIRTIO_F_VERSION_1 32
#define FSB_VIRTIO_F_IN_ORDER 35

/* Protocol feature bits. */
#define FSB_VHOST_PROTO_F_MQ 0
#define FSB_VHOST_PROTO_F_REPLY_ACK 3

struct fsb_vhost_region {
	uint64_t guest_addr;
	uint64_t size;
	uint64_t user_addr;
	uint64_t mmap_offset;
};

struct fsb_vhost_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;          /* the wire order: desc, used, avail */
	uint64_t avail;
	uint64_t log;
};

/* A parsed reply. */
struct fsb_vhost_reply {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	uint64_t u64;           /* u64 replies and REPLY_ACK */
	uint32_t index, num;    /* vring-state replies */
};

/* Largest payload we accept from a backend (replies are 8 bytes; be
 * lenient only up to the biggest payload the protocol defines). */
#define FSB_VHOST_PAYLOAD_MAX 512

/*
 * Parse the reply to request @req (header and payload, @len bytes) into
 * @out.  Pure: no I/O, no globals.  Returns 0, or -EPROTO with a
 * one-line reason in @err.
 */
int fsb_vhost_reply_parse(const void *buf, size_t len, uint32_t req,
			  struct fsb_vhost_reply *out, char *err, size_t errlen);

/* The size of the reply payload @req has (0 = no reply of its own). */
uint32_t fsb_vhost_reply_size(uint32_t req);

/* "GET_FEATURES", ...; "?" for unknown codes. */
const char *fsb_vhost_req_name(uint32_t req);

/* A connection to a backend: the socket and what was negotiated. */
struct fsb_vhost_conn {
	int fd;
	bool reply_ack;         /* REPLY_ACK negotiated */
	int timeout_ms;         /* per reply */
	char err[160];          /* last error, one line */
};

/* Reply timeout of a connection whose timeout_ms is 0 (5000 ms). */
extern int fsb_vhost_timeout_ms;

/*
 * Send one request with @size payload bytes and @nfds fds; when it has
 * a reply (or REPLY_ACK is on and @ack), wait for it and parse it into
 * @rep.  A non-zero REPLY_ACK status is -EIO.  Returns 0 or -errno.
 */
int fsb_vhost_call(struct fsb_vhost_conn *c, uint32_t req,
		   const void *payload, uint32_t size, const int *fds,
		   unsigned nfds, struct fsb_vhost_reply *rep);

/* Convenience wrappers around fsb_vhost_call. */
int fsb_vhost_get_u64(struct fsb_vhost_conn *c, uint32_t req, uint64_t *v);
int fsb_vhost_set_u64(struct fsb_vhost_conn *c, uint32_t req, uint64_t v);
int fsb_vhost_set_state(struct fsb_vhost_conn *c, uint32_t req,
			uint32_t index, uint32_t num);
int fsb_vhost_get_vring_base(struct fsb_vhost_conn *c, uint32_t index,
			     uint32_t *num);
int fsb_vhost_set_vring_addr(struct fsb_vhost_conn *c,
			     const struct fsb_vhost_vring_addr *a);
/* KICK or CALL: @fd < 0 sends the NOFD flag instead. */
int fsb_vhost_set_vring_fd(struct fsb_vhost_conn *c, uint32_t req,
			   uint32_t index, int fd);
int fsb_vhost_set_mem_table(struct fsb_vhost_conn *c,
			    const struct fsb_vhost_region *r, const int *fds,
			    unsigned n);

/* Is @rc a sign the backend went away (vs. misbehaved)? */
static inline bool fsb_vhost_err_is_gone(int rc)
{
	return rc == -ECONNRESET || rc == -EPIPE || rc == -ENOTCONN ||
	       rc == -EBADF;
}

#endif /* FSB_VHOST_USER_H */
