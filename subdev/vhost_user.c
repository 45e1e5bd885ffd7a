/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost_user.c - vhost-user messages over a Unix stream socket.
 *
 * What the OS does here, and what we do about it:
 *
 * - SCM_RIGHTS fds travel with the first byte of the sendmsg they were
 *   given to, so the fds of a request go with its header, in one
 *   sendmsg of header + payload.  At most 8 per message (the protocol's
 *   limit, and the memory table's).
 * - On receive, a control buffer too small for the fds the peer sent
 *   sets MSG_CTRUNC and the kernel closes the excess fds: we check it.
 *   Replies never carry fds; any that arrive are closed at once (they
 *   would otherwise leak into our fd table) and the reply is refused.
 * - A stream socket may return a message in pieces: header and payload
 *   are read in a loop against one deadline per reply (poll, then a
 *   non-blocking read), so a backend that stops answering, or drips its
 *   reply a byte at a time, costs at most the reply timeout, never a
 *   hang of the control thread.  Sends are bounded by SO_SNDTIMEO.
 * - Writing to a socket the peer closed raises SIGPIPE: every send uses
 *   MSG_NOSIGNAL and gets -EPIPE instead.
 * - recv returning 0 is the peer's close (-ECONNRESET to the caller).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "vhost_user.h"

int fsb_vhost_timeout_ms = 5000;

static const char *const req_names[] = {
	[FSB_VHOST_GET_FEATURES] = "GET_FEATURES",
	[FSB_VHOST_SET_FEATURES] = "SET_FEATURES",
	[FSB_VHOST_SET_OWNER] = "SET_OWNER",
	[FSB_VHOST_RESET_OWNER] = "RESET_OWNER",
	[FSB_VHOST_SET_MEM_TABLE] = "SET_MEM_TABLE",
	[FSB_VHOST_SET_VRING_NUM] = "SET_VRING_NUM",
	[FSB_VHOST_SET_VRING_ADDR] = "SET_VRING_ADDR",
	[FSB_VHOST_SET_VRING_BASE] = "SET_VRING_BASE",
	[FSB_VHOST_GET_VRING_BASE] = "GET_VRING_BASE",
	[FSB_VHOST_SET_VRING_KICK] = "SET_VRING_KICK",
	[FSB_VHOST_SET_VRING_CALL] = "SET_VRING_CALL",
	[FSB_VHOST_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
	[FSB_VHOST_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
	[FSB_VHOST_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
	[FSB_VHOST_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
};

const char *fsb_vhost_req_name(uint32_t req)
{
	if (req < sizeof(req_names) / sizeof(req_names[0]) && req_names[req])
		return req_names[req];
	return "?";
}

uint32_t fsb_vhost_reply_size(uint32_t req)
{
	switch (req) {
	case FSB_VHOST_GET_FEATURES:
	case FSB_VHOST_GET_PROTOCOL_FEATURES:
	case FSB_VHOST_GET_QUEUE_NUM:
		return 8;               /* u64 */
	case FSB_VHOST_GET_VRING_BASE:
		return 8;               /* vring state: u32 index, u32 num */
	default:
		return 0;
	}
}

static uint32_t rd32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

int fsb_vhost_reply_parse(const void *buf, size_t len, uint32_t req,
			  struct fsb_vhost_reply *out, char *err, size_t errlen)
{
	const unsigned char *p = buf;
	memset(out, 0, sizeof(*out));
	if (len < FSB_VHOST_HDR_SIZE) {
		snprintf(err, errlen, "reply to %s: %zu bytes, shorter than "
			 "the 12-byte header", fsb_vhost_req_name(req), len);
		return -EPROTO;
	}
	out->request = rd32(p);
	out->flags = rd32(p + 4);
	out->size = rd32(p + 8);
	if (out->request != req) {
		snprintf(err, errlen, "reply to %s: carries request %u (%s)",
			 fsb_vhost_req_name(req), out->request,
			 fsb_vhost_req_name(out->request));
		return -EPROTO;
	}
	if (out->flags != (FSB_VHOST_VERSION | FSB_VHOST_FLAG_REPLY)) {
		snprintf(err, errlen, "reply to %s: flags 0x%x, want 0x5",
			 fsb_vhost_req_name(req), out->flags);
		return -EPROTO;
	}
	/* A request with no reply of its own is answered (REPLY_ACK) with
	 * a u64 status. */
	uint32_t want = fsb_vhost_reply_size(req);
	if (!want)
		want = 8;
	if (out->size != want) {
		snprintf(err, errlen, "reply to %s: payload size %u, want %u",
			 fsb_vhost_req_name(req), out->size, want);
		return -EPROTO;
	}
	if (len != FSB_VHOST_HDR_SIZE + (size_t)out->size) {
		snprintf(err, errlen, "reply to %s: %zu bytes for a %u-byte "
			 "payload", fsb_vhost_req_name(req), len, out->size);
		return -EPROTO;
	}
	p += FSB_VHOST_HDR_SIZE;
	if (req == FSB_VHOST_GET_VRING_BASE) {
		out->index = rd32(p);
		out->num = rd32(p + 4);
	} else {
		out->u64 = rd64(p);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* I/O                                                                 */
/* ------------------------------------------------------------------ */

static void set_send_timeout(int fd, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int io_err(int e)
{
	if (e == EAGAIN || e == EWOULDBLOCK)
		return -ETIMEDOUT;
	return -e;
}

static int send_msg(struct fsb_vhost_conn *c, uint32_t req, uint32_t flags,
		    const void *payload, uint32_t size, const int *fds,
		    unsigned nfds)
{
	unsigned char hdr[FSB_VHOST_HDR_SIZE];
	memcpy(hdr, &req, 4);
	memcpy(hdr + 4, &flags, 4);
	memcpy(hdr + 8, &size, 4);
	struct iovec iov[2] = {
		{ hdr, sizeof(hdr) },
		{ (void *)payload, size },
	};
	union {
		char buf[CMSG_SPACE(sizeof(int) * FSB_VHOST_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
	if (nfds > FSB_VHOST_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	size_t total = sizeof(hdr) + size;
	ssize_t n;
	do {
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		int rc = io_err(errno);
		snprintf(c->err, sizeof(c->err), "sending %s: %s",
			 fsb_vhost_req_name(req), strerror(-rc));
		return rc;
	}
	if ((size_t)n != total) {
		/* A Unix stream socket sends all or blocks; a short write
		 * means the timeout hit mid-message: the stream is lost. */
		snprintf(c->err, sizeof(c->err), "sending %s: short write "
			 "(%zd of %zu bytes)", fsb_vhost_req_name(req), n, total);
		return -ETIMEDOUT;
	}
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Read exactly @len bytes by @deadline (CLOCK_MONOTONIC ms), the fds
 * of the first read into @mh_fds.  One deadline for the whole reply, so
 * a backend that drips bytes cannot stretch the wait. */
static int recv_all(struct fsb_vhost_conn *c, void *buf, size_t len,
		    struct msghdr *mh_fds, uint64_t deadline)
{
	size_t got = 0;
	while (got < len) {
		uint64_t now = now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int pr = poll(&pfd, 1, (int)(deadline - now));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return -errno;
		if (pr == 0)
			return -ETIMEDOUT;
		struct iovec iov = { (char *)buf + got, len - got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		if (mh_fds && got == 0) {
			mh.msg_control = mh_fds->msg_control;
			mh.msg_controllen = mh_fds->msg_controllen;
		}
		ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return io_err(errno);
		if (n == 0)
			return -ECONNRESET;
		if (mh_fds && got == 0) {
			mh_fds->msg_flags = mh.msg_flags;
			mh_fds->msg_controllen = mh.msg_controllen;
		}
		got += (size_t)n;
	}
	return 0;
}

/* Close every fd in @mh's control data; returns how many. */
static unsigned close_fds(struct msghdr *mh)
{
	unsigned n = 0;
	if (!mh->msg_controllen)
		return 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm;
	     cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			close(fd);
			n++;
		}
	}
	return n;
}

static int recv_reply(struct fsb_vhost_conn *c, uint32_t req,
		      struct fsb_vhost_reply *rep)
{
	unsigned char buf[FSB_VHOST_HDR_SIZE + FSB_VHOST_PAYLOAD_MAX];
	union {
		char buf[CMSG_SPACE(sizeof(int) * FSB_VHOST_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = { .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	int wait = c->timeout_ms > 0 ? c->timeout_ms : fsb_vhost_timeout_ms;
	uint64_t deadline = now_ms() + (uint64_t)wait;
	int rc = recv_all(c, buf, FSB_VHOST_HDR_SIZE, &mh, deadline);
	if (rc == -ETIMEDOUT) {
		snprintf(c->err, sizeof(c->err), "no reply to %s after %d ms "
			 "(reply_timeout)", fsb_vhost_req_name(req), wait);
		return rc;
	}
	if (rc < 0) {
		snprintf(c->err, sizeof(c->err), "waiting for the reply to %s: %s",
			 fsb_vhost_req_name(req),
			 rc == -ECONNRESET ? "backend closed the socket" :
			 strerror(-rc));
		return rc;
	}
	unsigned nfds = close_fds(&mh);
	if (mh.msg_flags & MSG_CTRUNC) {
		snprintf(c->err, sizeof(c->err), "reply to %s: more fds than "
			 "we accept (control data truncated)",
			 fsb_vhost_req_name(req));
		return -EPROTO;
	}
	if (nfds) {
		snprintf(c->err, sizeof(c->err), "reply to %s carried %u fds; "
			 "replies carry none", fsb_vhost_req_name(req), nfds);
		return -EPROTO;
	}
	uint32_t size;
	memcpy(&size, buf + 8, 4);
	if (size > FSB_VHOST_PAYLOAD_MAX) {
		snprintf(c->err, sizeof(c->err), "reply to %s: payload size %u "
			 "too large", fsb_vhost_req_name(req), size);
		return -EPROTO;
	}
	if (size) {
		rc = recv_all(c, buf + FSB_VHOST_HDR_SIZE, size, NULL, deadline);
		if (rc < 0) {
			snprintf(c->err, sizeof(c->err), "reading the payload of "
				 "the reply to %s: %s", fsb_vhost_req_name(req),
				 rc == -ECONNRESET ? "backend closed the socket" :
				 strerror(-rc));
			return rc;
		}
	}
	return fsb_vhost_reply_parse(buf, FSB_VHOST_HDR_SIZE + size, req, rep,
				     c->err, sizeof(c->err));
}

int fsb_vhost_call(struct fsb_vhost_conn *c, uint32_t req,
		   const void *payload, uint32_t size, const int *fds,
		   unsigned nfds, struct fsb_vhost_reply *rep)
{
	struct fsb_vhost_reply tmp;
	if (!rep)
		rep = &tmp;
	if (c->fd < 0) {
		snprintf(c->err, sizeof(c->err), "%s: not connected",
			 fsb_vhost_req_name(req));
		return -ENOTCONN;
	}
	set_send_timeout(c->fd, c->timeout_ms > 0 ? c->timeout_ms :
		     fsb_vhost_timeout_ms);
	bool has_reply = fsb_vhost_reply_size(req) != 0;
	bool ack = !has_reply && c->reply_ack;
	uint32_t flags = FSB_VHOST_VERSION | (ack ? FSB_VHOST_FLAG_NEED_REPLY : 0);
	int rc = send_msg(c, req, flags, payload, size, fds, nfds);
	if (rc < 0)
		return rc;
	if (!has_reply && !ack)
		return 0;
	rc = recv_reply(c, req, rep);
	if (rc < 0)
		return rc;
	if (ack && rep->u64 != 0) {
		snprintf(c->err, sizeof(c->err), "backend refused %s (status "
			 "%llu)", fsb_vhost_req_name(req),
			 (unsigned long long)rep->u64);
		return -EIO;
	}
	return 0;
}

int fsb_vhost_get_u64(struct fsb_vhost_conn *c, uint32_t req, uint64_t *v)
{
	struct fsb_vhost_reply rep;
	int rc = fsb_vhost_call(c, req, NULL, 0, NULL, 0, &rep);
	if (rc == 0)
		*v = rep.u64;
	return rc;
}

int fsb_vhost_set_u64(struct fsb_vhost_conn *c, uint32_t req, uint64_t v)
{
	return fsb_vhost_call(c, req, &v, sizeof(v), NULL, 0, NULL);
}

int fsb_vhost_set_state(struct fsb_vhost_conn *c, uint32_t req,
			uint32_t index, uint32_t num)
{
	uint32_t p[2] = { index, num };
	return fsb_vhost_call(c, req, p, sizeof(p), NULL, 0, NULL);
}

int fsb_vhost_get_vring_base(struct fsb_vhost_conn *c, uint32_t index,
			     uint32_t *num)
{
	uint32_t p[2] = { index, 0 };
	struct fsb_vhost_reply rep;
	int rc = fsb_vhost_call(c, FSB_VHOST_GET_VRING_BASE, p, sizeof(p),
				NULL, 0, &rep);
	if (rc < 0)
		return rc;
	if (rep.index != index) {
		snprintf(c->err, sizeof(c->err), "reply to GET_VRING_BASE: "
			 "ring %u, asked for %u", rep.index, index);
		return -EPROTO;
	}
	*num = rep.num;
	return 0;
}

int fsb_vhost_set_vring_addr(struct fsb_vhost_conn *c,
			     const struct fsb_vhost_vring_addr *a)
{
	unsigned char p[40];
	memcpy(p, &a->index, 4);
	memcpy(p + 4, &a->flags, 4);
	memcpy(p + 8, &a->desc, 8);
	memcpy(p + 16, &a->used, 8);
	memcpy(p + 24, &a->avail, 8);
	memcpy(p + 32, &a->log, 8);
	return fsb_vhost_call(c, FSB_VHOST_SET_VRING_ADDR, p, sizeof(p), NULL,
			      0, NULL);
}

int fsb_vhost_set_vring_fd(struct fsb_vhost_conn *c, uint32_t req,
			   uint32_t index, int fd)
{
	uint64_t v = index & 0xff;
	if (fd < 0)
		v |= FSB_VHOST_VRING_NOFD;
	return fsb_vhost_call(c, req, &v, sizeof(v), fd < 0 ? NULL : &fd,
			      fd < 0 ? 0 : 1, NULL);
}

int fsb_vhost_set_mem_table(struct fsb_vhost_conn *c,
			    const struct fsb_vhost_region *r, const int *fds,
			    unsigned n)
{
	unsigned char p[8 + 32 * FSB_VHOST_MAX_REGIONS];
	if (n == 0 || n > FSB_VHOST_MAX_REGIONS)
		return -EINVAL;
	uint32_t nr = n, pad = 0;
	memcpy(p, &nr, 4);
	memcpy(p + 4, &pad, 4);
	for (unsigned i = 0; i < n; i++) {
		unsigned char *q = p + 8 + 32 * i;
		memcpy(q, &r[i].guest_addr, 8);
		memcpy(q + 8, &r[i].size, 8);
		memcpy(q + 16, &r[i].user_addr, 8);
		memcpy(q + 24, &r[i].mmap_offset, 8);
	}
	/* Like QEMU: the header and the regions in use, not all 8. */
	return fsb_vhost_call(c, FSB_VHOST_SET_MEM_TABLE, p, 8 + 32 * n, fds,
			      n, NULL);
}
