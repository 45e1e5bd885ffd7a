/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-hostile - a tiny vhost-user backend that misbehaves on purpose.
 *
 * It answers a frontend's handshake (written from the vhost-user spec:
 * 12-byte header {request, flags, size}, replies with flags 0x5, fds as
 * SCM_RIGHTS with the header), maps the frontend's memory table, and
 * serves split virtqueues: it consumes the guest's TX rings (counting
 * frames) and, with --tx, fills the guest's RX rings with checked frames
 * (fsb-check.h, magic FSB2).  Then, after --after good frames (or at
 * once for handshake modes), it does the one wrong thing --mode names:
 *
 *   good              nothing wrong (a reference backend; also used to
 *                     check this tool against DPDK's net_virtio_user)
 *   bad-used-id       TX ring: a used element with id >= queue size
 *   id-not-in-flight  TX ring: a head completed a second time
 *   used-len          RX ring: used len larger than the buffer chain
 *   used-idx-jump     TX ring: used->idx moved by queue size + 10
 *   corrupt           RX ring: one frame with a flipped payload byte
 *                     (right length: only a payload check sees it)
 *   short-reply       GET_FEATURES answered with a 4-byte payload
 *   truncated-reply   GET_FEATURES reply header promises 8 bytes, 4 come,
 *                     then silence (the socket stays open)
 *   bad-flags         GET_FEATURES reply with flags 0x1 (no reply bit)
 *   bad-request       GET_FEATURES reply carrying request GET_QUEUE_NUM
 *   too-many-fds      GET_FEATURES reply with 16 fds attached (replies
 *                     carry none; more than the 8 the protocol allows)
 *   no-fd             offers INFLIGHT_SHMFD and answers GET_INFLIGHT_FD
 *                     without the fd that reply must carry (a frontend
 *                     that never asks sees a good backend)
 *   eof-handshake     closes the socket after SET_MEM_TABLE
 *   slow-reply        answers GET_FEATURES right, but only after --delay-ms
 *                     (default 3000): a busy backend, not a broken one
 *
 * Each session misbehaves again: after the frontend drops it, the tool
 * accepts (or, with --client, re-connects) and does it again, so a
 * frontend's reconnect path meets the same fault.  Lines on stderr:
 *   vhost-hostile: ready (listening on PATH | connecting to PATH)
 *   vhost-hostile: session N up
 *   vhost-hostile: MISBEHAVE MODE: what was done
 *   vhost-hostile: session N closed by the frontend (...)
 * and at exit one JSON line on stdout with the counters.
 *
 * This is a test tool: it trusts nothing the frontend sends either
 * (bounded sizes, checked regions and ring indexes), but stops serving a
 * ring it cannot make sense of rather than trying hard.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fsb-check.h"

/* vhost-user requests (front-end -> back-end) */
enum {
	REQ_GET_FEATURES = 1, REQ_SET_FEATURES = 2, REQ_SET_OWNER = 3,
	REQ_RESET_OWNER = 4, REQ_SET_MEM_TABLE = 5, REQ_SET_LOG_BASE = 6,
	REQ_SET_LOG_FD = 7, REQ_SET_VRING_NUM = 8, REQ_SET_VRING_ADDR = 9,
	REQ_SET_VRING_BASE = 10, REQ_GET_VRING_BASE = 11,
	REQ_SET_VRING_KICK = 12, REQ_SET_VRING_CALL = 13,
	REQ_SET_VRING_ERR = 14, REQ_GET_PROTOCOL_FEATURES = 15,
	REQ_SET_PROTOCOL_FEATURES = 16, REQ_GET_QUEUE_NUM = 17,
	REQ_SET_VRING_ENABLE = 18, REQ_SEND_RARP = 19, REQ_NET_SET_MTU = 20,
	REQ_SET_BACKEND_REQ_FD = 21, REQ_GET_INFLIGHT_FD = 31,
	REQ_SET_INFLIGHT_FD = 32, REQ_SET_STATUS = 39, REQ_GET_STATUS = 40,
};

#define HDR_SIZE 12
#define FLAG_VERSION 0x1u
#define FLAG_REPLY 0x4u
#define FLAG_NEED_REPLY 0x8u
#define MAX_PAYLOAD 4096
#define MAX_FDS 8
#define MAX_REGIONS 8
#define MAX_VRINGS 16                   /* 8 queue pairs */
#define VRING_NOFD 0x100u

/* feature bits */
#define F_MRG_RXBUF 15
#define F_MQ 22
#define F_PROTOCOL_FEATURES 30
#define F_VERSION_1 32
/* protocol feature bits */
#define PF_MQ 0
#define PF_REPLY_ACK 3
#define PF_INFLIGHT_SHMFD 12
#define PF_STATUS 16

#define DESC_F_NEXT 1
#define DESC_F_WRITE 2

enum mode {
	M_GOOD, M_BAD_USED_ID, M_ID_NOT_IN_FLIGHT, M_USED_LEN, M_USED_IDX_JUMP,
	M_CORRUPT, M_SHORT_REPLY, M_TRUNC_REPLY, M_BAD_FLAGS, M_BAD_REQUEST,
	M_TOO_MANY_FDS, M_NO_FD, M_EOF_HANDSHAKE, M_SLOW_REPLY, M_COUNT
};
static const char *const mode_names[M_COUNT] = {
	"good", "bad-used-id", "id-not-in-flight", "used-len", "used-idx-jump",
	"corrupt", "short-reply", "truncated-reply", "bad-flags", "bad-request",
	"too-many-fds", "no-fd", "eof-handshake", "slow-reply",
};

struct region {
	uint64_t gpa, size, uva, off;
	uint8_t *map;                   /* mapping of [0, off + size) */
	size_t maplen;
};

struct desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct used_elem { uint32_t id, len; };

struct vring {
	unsigned num;
	struct desc *desc;
	volatile uint16_t *avail;       /* flags, idx, ring[num] */
	volatile uint16_t *used;        /* flags, idx, then elems */
	uint16_t last_avail, used_idx;
	int kick, call;
	bool started, enabled, dead;
	uint64_t frames;
	uint64_t addr_desc, addr_used, addr_avail; /* user addresses */
	uint16_t last_head;             /* id-not-in-flight */
	uint64_t seq;                   /* --tx frames */
};

static struct {
	const char *path;
	bool client, tx;
	enum mode mode;
	uint64_t after;
	unsigned queues, frame_len;
	unsigned delay_ms;
	double duration;
	bool verbose;
} opt = { .mode = M_GOOD, .after = 1000, .queues = 2, .frame_len = 64,
	  .delay_ms = 3000 };

static struct {
	int fd;
	uint64_t features, proto;
	bool proto_on;
	struct region reg[MAX_REGIONS];
	unsigned nreg;
	struct vring vr[MAX_VRINGS];
	bool misbehaved, silent;
	unsigned session;
} S = { .fd = -1 };

static uint64_t tot_rx, tot_tx, misbehaviours, sessions, bad_msgs;
static volatile sig_atomic_t stop;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	fputs("vhost-hostile: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void misbehave(const char *what)
{
	S.misbehaved = true;
	misbehaviours++;
	say("MISBEHAVE %s: %s", mode_names[opt.mode], what);
}

/* ---- memory ---- */

static void regions_free(void)
{
	for (unsigned i = 0; i < S.nreg; i++)
		if (S.reg[i].map)
			munmap(S.reg[i].map, S.reg[i].maplen);
	S.nreg = 0;
}

/* @len bytes at frontend address @a, by user address (@uva) or by
 * guest physical address; NULL when not wholly inside one region. */
static void *xlate(uint64_t a, uint64_t len, bool uva)
{
	for (unsigned i = 0; i < S.nreg; i++) {
		struct region *r = &S.reg[i];
		uint64_t base = uva ? r->uva : r->gpa;
		if (a >= base && len <= r->size && a - base <= r->size - len)
			return r->map + r->off + (a - base);
	}
	return NULL;
}

/* ---- messages ---- */

struct msg {
	uint32_t req, flags, size;
	union {
		uint64_t u64;
		struct { uint32_t index, num; } state;
		struct {
			uint32_t index, flags;
			uint64_t desc, used, avail, log;
		} addr;
		struct {
			uint32_t nregions, pad;
			struct { uint64_t gpa, size, uva, off; } r[MAX_REGIONS];
		} mem;
		uint8_t raw[MAX_PAYLOAD];
	} p;
	int fds[MAX_FDS];
	unsigned nfds;
};

static void close_fds(struct msg *m)
{
	for (unsigned i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	m->nfds = 0;
}

/* 1 = a message, 0 = EOF, -1 = error (logged). */
static int msg_recv(struct msg *m)
{
	uint8_t hdr[HDR_SIZE];
	union { struct cmsghdr c; char b[CMSG_SPACE(sizeof(int) * MAX_FDS)]; } cb;
	struct iovec iov = { hdr, sizeof(hdr) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cb.b, .msg_controllen = sizeof(cb.b) };
	ssize_t n;
	do
		n = recvmsg(S.fd, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	while (n < 0 && errno == EINTR);
	m->nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (unsigned i = 0; i < k && m->nfds < MAX_FDS; i++)
			memcpy(&m->fds[m->nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if (n == 0)
		return 0;
	if (n < 0) {
		say("recvmsg: %s", strerror(errno));
		close_fds(m);
		return -1;
	}
	if (n != HDR_SIZE) {
		say("short header (%zd bytes)", n);
		close_fds(m);
		return -1;
	}
	if (mh.msg_flags & MSG_CTRUNC)
		say("frontend sent more than %d fds (MSG_CTRUNC)", MAX_FDS);
	memcpy(&m->req, hdr, 4);
	memcpy(&m->flags, hdr + 4, 4);
	memcpy(&m->size, hdr + 8, 4);
	if (m->size > MAX_PAYLOAD) {
		say("request %u: payload size %u too large", m->req, m->size);
		close_fds(m);
		return -1;
	}
	if (m->size) {
		n = recv(S.fd, m->p.raw, m->size, MSG_WAITALL);
		if (n != (ssize_t)m->size) {
			say("request %u: payload cut short (%zd of %u bytes)", m->req, n, m->size);
			close_fds(m);
			return n == 0 ? 0 : -1;
		}
	}
	return 1;
}

/* Send a reply; the reply-level misbehaviours live here. */
static int reply(uint32_t req, const void *payload, uint32_t size)
{
	uint8_t buf[HDR_SIZE + 64];
	uint32_t flags = FLAG_VERSION | FLAG_REPLY, rq = req, sz = size;
	uint32_t wire = size;
	int extra_fds[16];
	unsigned nextra = 0;
	bool first = req == REQ_GET_FEATURES && !S.misbehaved;

	if (first) {
		switch (opt.mode) {
		case M_SHORT_REPLY:
			sz = wire = 4;
			misbehave("GET_FEATURES reply with a 4-byte payload (size 4)");
			break;
		case M_TRUNC_REPLY:
			wire = 4;
			misbehave("GET_FEATURES reply header says 8 bytes, 4 sent, then silence");
			S.silent = true;
			break;
		case M_BAD_FLAGS:
			flags = FLAG_VERSION;
			misbehave("GET_FEATURES reply with flags 0x1 (reply bit missing)");
			break;
		case M_BAD_REQUEST:
			rq = REQ_GET_QUEUE_NUM;
			misbehave("GET_FEATURES answered with request 17 (GET_QUEUE_NUM)");
			break;
		case M_SLOW_REPLY: {
			char what[64];
			snprintf(what, sizeof(what), "GET_FEATURES answered after "
				 "%u ms", opt.delay_ms);
			misbehave(what);
			struct timespec ts = { opt.delay_ms / 1000,
					       (long)(opt.delay_ms % 1000) * 1000000L };
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
			break;
		}
		case M_TOO_MANY_FDS:
			for (nextra = 0; nextra < 16; nextra++)
				extra_fds[nextra] = open("/dev/null", O_RDONLY | O_CLOEXEC);
			misbehave("GET_FEATURES reply with 16 fds attached");
			break;
		default:
			break;
		}
	}
	memcpy(buf, &rq, 4);
	memcpy(buf + 4, &flags, 4);
	memcpy(buf + 8, &sz, 4);
	if (wire > sizeof(buf) - HDR_SIZE)
		wire = sizeof(buf) - HDR_SIZE;
	if (wire)
		memcpy(buf + HDR_SIZE, payload, wire < size ? wire : size);
	struct iovec iov = { buf, HDR_SIZE + wire };
	union { struct cmsghdr c; char b[CMSG_SPACE(sizeof(int) * 16)]; } cb;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nextra) {
		memset(&cb, 0, sizeof(cb));
		mh.msg_control = cb.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nextra);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nextra);
		memcpy(CMSG_DATA(c), extra_fds, sizeof(int) * nextra);
	}
	ssize_t n = sendmsg(S.fd, &mh, MSG_NOSIGNAL);
	for (unsigned i = 0; i < nextra; i++)
		close(extra_fds[i]);
	if (n != (ssize_t)(HDR_SIZE + wire)) {
		say("sending reply to request %u: %s", req, n < 0 ? strerror(errno) : "short write");
		return -1;
	}
	return 0;
}

static int reply_u64(uint32_t req, uint64_t v)
{
	return reply(req, &v, sizeof(v));
}

/* ---- rings ---- */

static void vring_reset(struct vring *v)
{
	if (v->kick >= 0)
		close(v->kick);
	if (v->call >= 0)
		close(v->call);
	memset(v, 0, sizeof(*v));
	v->kick = v->call = -1;
}

static bool vring_map(struct vring *v, unsigned idx)
{
	if (!v->num) {
		say("vring %u: no SET_VRING_NUM before use", idx);
		return false;
	}
	v->desc = xlate(v->addr_desc, 16ull * v->num, true);
	v->avail = xlate(v->addr_avail, 4 + 2ull * v->num + 2, true);
	v->used = xlate(v->addr_used, 4 + 8ull * v->num + 2, true);
	if (!v->desc || !v->avail || !v->used) {
		say("vring %u: ring addresses outside the memory table", idx);
		return false;
	}
	return true;
}

static inline uint16_t ld16(volatile uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void st16(volatile uint16_t *p, uint16_t x)
{
	__atomic_store_n(p, x, __ATOMIC_RELEASE);
}

static void used_put(struct vring *v, uint32_t id, uint32_t len)
{
	volatile struct used_elem *e =
		(volatile struct used_elem *)(v->used + 2) + (v->used_idx % v->num);
	e->id = id;
	e->len = len;
	v->used_idx++;
}

static bool live(void)
{
	uint64_t n = tot_rx + tot_tx;
	return !S.misbehaved && n >= opt.after;
}

/* The guest's TX ring (odd index): consume every frame. */
static void serve_tx(struct vring *v, unsigned idx)
{
	uint16_t avail = ld16(v->avail + 1);
	unsigned budget = 256;
	bool any = false;
	if ((uint16_t)(avail - v->last_avail) > v->num) {
		say("vring %u: avail idx %u is %u ahead of %u (> ring size %u): ring stopped",
		    idx, avail, (uint16_t)(avail - v->last_avail), v->last_avail, v->num);
		v->dead = true;
		return;
	}
	while (v->last_avail != avail && budget--) {
		uint16_t head = ld16(v->avail + 2 + v->last_avail % v->num);
		if (head >= v->num) {
			say("vring %u: avail head %u >= ring size %u: ring stopped", idx, head, v->num);
			v->dead = true;
			return;
		}
		uint16_t d = head;
		unsigned hops = 0;
		while (v->desc[d].flags & DESC_F_NEXT) {
			d = v->desc[d].next;
			if (d >= v->num || ++hops >= v->num) {
				say("vring %u: bad descriptor chain from head %u: ring stopped", idx, head);
				v->dead = true;
				return;
			}
		}
		v->last_avail++;
		tot_rx++;
		v->frames++;
		any = true;
		if (live() && opt.mode == M_BAD_USED_ID) {
			used_put(v, v->num + 7, 0);
			misbehave("used id = queue size + 7 on the TX ring");
			continue;
		}
		if (live() && opt.mode == M_ID_NOT_IN_FLIGHT && v->frames > 1) {
			used_put(v, head, 0);
			used_put(v, v->last_head, 0);
			misbehave("TX ring: the previous head completed a second time");
			continue;
		}
		used_put(v, head, 0);
		v->last_head = head;
	}
	if (!any)
		return;
	if (live() && opt.mode == M_USED_IDX_JUMP) {
		v->used_idx = (uint16_t)(v->used_idx + v->num + 10);
		misbehave("TX ring: used idx jumped by queue size + 10");
	}
	st16(v->used + 1, v->used_idx);
}

/* The guest's RX ring (even index): with --tx, fill it with checked
 * frames (a 12-byte virtio-net header first, num_buffers = 1). */
static void serve_rx(struct vring *v, unsigned idx)
{
	uint16_t avail = ld16(v->avail + 1);
	unsigned budget = 32;
	unsigned hlen = (S.features & (1ull << F_VERSION_1 | 1ull << F_MRG_RXBUF)) ? 12 : 10;
	uint8_t frame[HDR_SIZE + 9600];
	bool any = false;
	if ((uint16_t)(avail - v->last_avail) > v->num) {
		say("vring %u: avail idx jumped: ring stopped", idx);
		v->dead = true;
		return;
	}
	while (v->last_avail != avail && budget--) {
		uint16_t head = ld16(v->avail + 2 + v->last_avail % v->num);
		if (head >= v->num) {
			say("vring %u: avail head %u >= ring size %u: ring stopped", idx, head, v->num);
			v->dead = true;
			return;
		}
		unsigned len = hlen + opt.frame_len;
		memset(frame, 0, hlen);
		if (hlen == 12)
			frame[10] = 1;                  /* num_buffers */
		uint8_t *f = frame + hlen;
		static const uint8_t dst[6] = { 0x02, 0, 0, 0, 0, 0x02 };
		static const uint8_t src[6] = { 0x02, 0, 0, 0, 0xbe, 0x01 };
		memset(f, 0, HDR_LEN);
		memcpy(f, dst, 6);
		memcpy(f + 6, src, 6);
		f[12] = 0x08;
		chk_fill(f, opt.frame_len, 60, (uint16_t)(idx / 2), v->seq++);
		if (live() && opt.mode == M_CORRUPT) {
			f[opt.frame_len - 1] ^= 0x40;
			misbehave("RX ring: one frame with a flipped payload byte");
		}
		/* copy across the (writable) chain */
		unsigned done = 0, hops = 0, room = 0;
		uint16_t d = head;
		for (;;) {
			struct desc ds = v->desc[d];
			if (!(ds.flags & DESC_F_WRITE)) {
				say("vring %u: RX descriptor %u not writable: ring stopped", idx, d);
				v->dead = true;
				return;
			}
			uint8_t *p = xlate(ds.addr, ds.len, false);
			if (!p) {
				say("vring %u: descriptor %u outside the memory table: ring stopped", idx, d);
				v->dead = true;
				return;
			}
			room += ds.len;
			unsigned k = len - done < ds.len ? len - done : ds.len;
			memcpy(p, frame + done, k);
			done += k;
			if (done == len || !(ds.flags & DESC_F_NEXT))
				break;
			d = ds.next;
			if (d >= v->num || ++hops >= v->num) {
				say("vring %u: bad RX chain from head %u: ring stopped", idx, head);
				v->dead = true;
				return;
			}
		}
		if (done < len) {
			say("vring %u: RX buffer of %u bytes too small for %u: ring stopped", idx, room, len);
			v->dead = true;
			return;
		}
		v->last_avail++;
		tot_tx++;
		any = true;
		uint32_t ulen = len;
		if (live() && opt.mode == M_USED_LEN) {
			/* more than the chain can hold */
			ulen = room + 100;
			misbehave("RX ring: used len = buffer size + 100");
		}
		used_put(v, head, ulen);
	}
	if (any)
		st16(v->used + 1, v->used_idx);
}

static void serve_rings(void)
{
	for (unsigned i = 0; i < MAX_VRINGS; i++) {
		struct vring *v = &S.vr[i];
		if (!v->started || !v->enabled || v->dead || !v->desc)
			continue;
		if (i & 1)
			serve_tx(v, i);
		else if (opt.tx)
			serve_rx(v, i);
	}
}

/* ---- the session ---- */

static void session_end(void)
{
	for (unsigned i = 0; i < MAX_VRINGS; i++)
		vring_reset(&S.vr[i]);
	regions_free();
	if (S.fd >= 0)
		close(S.fd);
	S.fd = -1;
	S.features = S.proto = 0;
	S.proto_on = S.misbehaved = S.silent = false;
}

static uint64_t offered_features(void)
{
	return 1ull << F_VERSION_1 | 1ull << F_MRG_RXBUF | 1ull << F_MQ |
	       1ull << F_PROTOCOL_FEATURES;
}

static uint64_t offered_proto(void)
{
	uint64_t p = 1ull << PF_MQ | 1ull << PF_REPLY_ACK;
	if (opt.mode == M_NO_FD)
		p |= 1ull << PF_INFLIGHT_SHMFD;
	return p;
}

static bool vring_index_ok(uint32_t i, const char *what)
{
	if (i < MAX_VRINGS)
		return true;
	say("%s: vring index %u out of range", what, i);
	bad_msgs++;
	return false;
}

/* Handle one message; -1 ends the session. */
static int handle(struct msg *m)
{
	int rc = 0;
	bool acked = false;
	if (opt.verbose)
		say("request %u flags 0x%x size %u fds %u", m->req, m->flags, m->size, m->nfds);
	switch (m->req) {
	case REQ_GET_FEATURES:
		rc = reply_u64(m->req, offered_features());
		acked = true;
		break;
	case REQ_SET_FEATURES:
		S.features = m->p.u64;
		S.proto_on = S.features & (1ull << F_PROTOCOL_FEATURES);
		break;
	case REQ_GET_PROTOCOL_FEATURES:
		rc = reply_u64(m->req, offered_proto());
		acked = true;
		break;
	case REQ_SET_PROTOCOL_FEATURES:
		S.proto = m->p.u64;
		break;
	case REQ_GET_QUEUE_NUM:
		rc = reply_u64(m->req, opt.queues);
		acked = true;
		break;
	case REQ_SET_OWNER:
	case REQ_RESET_OWNER:
	case REQ_SEND_RARP:
	case REQ_NET_SET_MTU:
	case REQ_SET_STATUS:
		break;
	case REQ_GET_STATUS:
		rc = reply_u64(m->req, 0xf);
		acked = true;
		break;
	case REQ_SET_MEM_TABLE: {
		uint32_t n = m->p.mem.nregions;
		if (n > MAX_REGIONS || n != m->nfds || m->size < 8 + 32 * n) {
			say("SET_MEM_TABLE: %u regions, %u fds, size %u: refused", n, m->nfds, m->size);
			bad_msgs++;
			break;
		}
		regions_free();
		for (uint32_t i = 0; i < n; i++) {
			struct region *r = &S.reg[i];
			r->gpa = m->p.mem.r[i].gpa;
			r->size = m->p.mem.r[i].size;
			r->uva = m->p.mem.r[i].uva;
			r->off = m->p.mem.r[i].off;
			r->maplen = r->size + r->off;
			r->map = mmap(NULL, r->maplen, PROT_READ | PROT_WRITE, MAP_SHARED,
				      m->fds[i], 0);
			if (r->map == MAP_FAILED) {
				say("SET_MEM_TABLE: mmap region %u (%" PRIu64 " bytes): %s",
				    i, r->maplen, strerror(errno));
				r->map = NULL;
			}
			S.nreg = i + 1;
		}
		if (opt.mode == M_EOF_HANDSHAKE) {
			misbehave("closing the socket after SET_MEM_TABLE");
			close_fds(m);
			return -1;
		}
		break;
	}
	case REQ_SET_VRING_NUM:
		if (!vring_index_ok(m->p.state.index, "SET_VRING_NUM"))
			break;
		if (m->p.state.num == 0 || m->p.state.num > 32768 ||
		    (m->p.state.num & (m->p.state.num - 1))) {
			say("SET_VRING_NUM: bad size %u", m->p.state.num);
			bad_msgs++;
			break;
		}
		S.vr[m->p.state.index].num = m->p.state.num;
		break;
	case REQ_SET_VRING_BASE:
		if (!vring_index_ok(m->p.state.index, "SET_VRING_BASE"))
			break;
		S.vr[m->p.state.index].last_avail = (uint16_t)m->p.state.num;
		S.vr[m->p.state.index].used_idx = (uint16_t)m->p.state.num;
		break;
	case REQ_SET_VRING_ADDR: {
		if (!vring_index_ok(m->p.addr.index, "SET_VRING_ADDR"))
			break;
		struct vring *v = &S.vr[m->p.addr.index];
		v->addr_desc = m->p.addr.desc;
		v->addr_used = m->p.addr.used;
		v->addr_avail = m->p.addr.avail;
		if (!vring_map(v, m->p.addr.index))
			v->desc = NULL;
		break;
	}
	case REQ_GET_VRING_BASE: {
		if (!vring_index_ok(m->p.state.index, "GET_VRING_BASE"))
			break;
		struct vring *v = &S.vr[m->p.state.index];
		struct { uint32_t index, num; } st = { m->p.state.index, v->last_avail };
		v->started = false;
		rc = reply(m->req, &st, sizeof(st));
		acked = true;
		break;
	}
	case REQ_SET_VRING_KICK:
	case REQ_SET_VRING_CALL:
	case REQ_SET_VRING_ERR: {
		uint32_t i = (uint32_t)(m->p.u64 & 0xff);
		bool nofd = m->p.u64 & VRING_NOFD;
		if (!vring_index_ok(i, "SET_VRING_KICK/CALL/ERR"))
			break;
		if (!nofd && m->nfds != 1) {
			say("request %u: vring %u: want 1 fd, got %u", m->req, i, m->nfds);
			bad_msgs++;
			break;
		}
		struct vring *v = &S.vr[i];
		int fd = nofd ? -1 : m->fds[0];
		m->nfds = 0;                    /* kept (or closed) here */
		if (m->req == REQ_SET_VRING_KICK) {
			if (v->kick >= 0)
				close(v->kick);
			v->kick = fd;
			v->started = true;
			if (!S.proto_on)
				v->enabled = true;
		} else if (m->req == REQ_SET_VRING_CALL) {
			if (v->call >= 0)
				close(v->call);
			v->call = fd;
		} else if (fd >= 0) {
			close(fd);
		}
		break;
	}
	case REQ_SET_VRING_ENABLE:
		if (!vring_index_ok(m->p.state.index, "SET_VRING_ENABLE"))
			break;
		S.vr[m->p.state.index].enabled = m->p.state.num != 0;
		break;
	case REQ_GET_INFLIGHT_FD: {
		/* {mmap_size u64, mmap_offset u64, num_queues u16, queue_size u16} */
		uint8_t p[20] = { 0 };
		uint64_t sz = 4096;
		memcpy(p, &sz, 8);
		if (opt.mode == M_NO_FD)
			misbehave("GET_INFLIGHT_FD answered without its fd");
		rc = reply(m->req, p, sizeof(p));
		acked = true;
		break;
	}
	default:
		say("request %u not handled (size %u, %u fds)", m->req, m->size, m->nfds);
		bad_msgs++;
		break;
	}
	if (rc == 0 && !acked && (m->flags & FLAG_NEED_REPLY) &&
	    (S.proto & (1ull << PF_REPLY_ACK)))
		rc = reply_u64(m->req, 0);
	close_fds(m);
	return rc;
}

static int sock_open(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(opt.path) >= sizeof(a.sun_path)) {
		say("socket path too long: %s", opt.path);
		return -1;
	}
	strcpy(a.sun_path, opt.path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (opt.client) {
		while (!stop && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			struct timespec ts = { 0, 50000000 };
			nanosleep(&ts, NULL);
		}
		return stop ? (close(fd), -1) : fd;
	}
	unlink(opt.path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1) < 0) {
		say("cannot listen on %s: %s", opt.path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void on_sig(int s)
{
	(void)s;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: vhost-hostile --socket PATH [--client] [--mode MODE] [--after N]\n"
		"                     [--tx] [--frame-len N] [--queues N] [--duration S]\n"
		"                     [--delay-ms MS] [-v]\n"
		"Modes:");
	for (int i = 0; i < M_COUNT; i++)
		fprintf(f, " %s", mode_names[i]);
	fprintf(f, "\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "client", no_argument, NULL, 'c' },
		{ "mode", required_argument, NULL, 'm' },
		{ "after", required_argument, NULL, 'a' },
		{ "tx", no_argument, NULL, 't' },
		{ "frame-len", required_argument, NULL, 'l' },
		{ "queues", required_argument, NULL, 'q' },
		{ "duration", required_argument, NULL, 'd' },
		{ "delay-ms", required_argument, NULL, 'D' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		switch (c) {
		case 's': opt.path = optarg; break;
		case 'c': opt.client = true; break;
		case 'm': {
			int k;
			for (k = 0; k < M_COUNT; k++)
				if (strcmp(optarg, mode_names[k]) == 0)
					break;
			if (k == M_COUNT) {
				say("unknown mode '%s'", optarg);
				usage(stderr);
				return 2;
			}
			opt.mode = (enum mode)k;
			break;
		}
		case 'a': opt.after = strtoull(optarg, NULL, 10); break;
		case 't': opt.tx = true; break;
		case 'l': opt.frame_len = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'q': opt.queues = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'd': opt.duration = strtod(optarg, NULL); break;
		case 'D': opt.delay_ms = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'v': opt.verbose = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!opt.path || optind < argc || opt.frame_len < CHK_MIN ||
	    opt.frame_len > 9600 || opt.queues < 1 || opt.queues > MAX_VRINGS / 2) {
		usage(stderr);
		return 2;
	}
	if (opt.mode == M_USED_LEN || opt.mode == M_CORRUPT)
		opt.tx = true;
	for (unsigned i = 0; i < MAX_VRINGS; i++)
		S.vr[i].kick = S.vr[i].call = -1;
	struct sigaction sa = { .sa_handler = on_sig };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int lfd = -1;
	if (!opt.client) {
		lfd = sock_open();
		if (lfd < 0)
			return 1;
	}
	say("ready (%s %s, mode %s)", opt.client ? "connecting to" : "listening on",
	    opt.path, mode_names[opt.mode]);
	uint64_t t_end = opt.duration > 0 ? now_ns() + (uint64_t)(opt.duration * 1e9) : 0;
	static struct msg m;
	while (!stop && (!t_end || now_ns() < t_end)) {
		if (S.fd < 0) {
			if (opt.client) {
				S.fd = sock_open();
			} else {
				struct pollfd pf = { lfd, POLLIN, 0 };
				if (poll(&pf, 1, 100) <= 0)
					continue;
				S.fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			}
			if (S.fd < 0)
				continue;
			S.session = (unsigned)++sessions;
			say("session %u up", S.session);
		}
		bool rings = false;
		for (unsigned i = 0; i < MAX_VRINGS; i++)
			rings |= S.vr[i].started && S.vr[i].enabled && !S.vr[i].dead;
		struct pollfd pf = { S.fd, POLLIN, 0 };
		int pr = poll(&pf, 1, rings && !S.silent ? 0 : 50);
		if (pr > 0) {
			int r = msg_recv(&m);
			if (r <= 0) {
				say("session %u closed by the frontend (%s)", S.session,
				    r == 0 ? "EOF" : "error");
				session_end();
				continue;
			}
			if (S.silent) {
				close_fds(&m);
				continue;
			}
			if (handle(&m) < 0) {
				say("session %u closed by us", S.session);
				session_end();
				continue;
			}
		}
		if (rings && !S.silent) {
			serve_rings();
			struct timespec ts = { 0, 100000 };
			nanosleep(&ts, NULL);
		}
	}
	session_end();
	if (lfd >= 0) {
		close(lfd);
		unlink(opt.path);
	}
	printf("{\"tool\":\"vhost-hostile\",\"mode\":\"%s\",\"rx_frames\":%" PRIu64
	       ",\"tx_frames\":%" PRIu64 ",\"misbehaviours\":%" PRIu64
	       ",\"sessions\":%" PRIu64 ",\"bad_messages\":%" PRIu64 "}\n",
	       mode_names[opt.mode], tot_rx, tot_tx, misbehaviours, sessions, bad_msgs);
	fflush(stdout);
	say("rx %" PRIu64 " tx %" PRIu64 " misbehaviours %" PRIu64 " sessions %" PRIu64,
	    tot_rx, tot_tx, misbehaviours, sessions);
	return 0;
}
