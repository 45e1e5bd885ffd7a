/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_vhost_user.c - the vhost-user message layer and the virtio_user
 * kind against a scripted backend in a thread: the reply parser's
 * vectors, fd passing, every way a reply can be wrong (flags, request,
 * size, fds, silence, close, a refused REPLY_ACK), and what the kind
 * does with a backend that breaks the protocol (the slot goes with the
 * reason broken, and we connect again).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "helpers.h"
#include "vhost_user.h"

/* ---- reply parser vectors ---- */

struct vec {
	const char *what;
	uint32_t req;                   /* the request we sent */
	uint32_t hdr[3];                /* request, flags, size */
	unsigned len;                   /* bytes given (header + payload) */
	int rc;
	const char *err;                /* substring of the error */
};

static void test_parse_vectors(void **state)
{
	(void)state;
	static const struct vec v[] = {
		{ "good u64", 1, { 1, 5, 8 }, 20, 0, NULL },
		{ "good ack", 5, { 5, 5, 8 }, 20, 0, NULL },
		{ "good vring state", 11, { 11, 5, 8 }, 20, 0, NULL },
		{ "short header", 1, { 1, 5, 8 }, 11, -EPROTO, "shorter than" },
		{ "wrong request", 1, { 2, 5, 8 }, 20, -EPROTO, "carries request 2" },
		{ "no reply flag", 1, { 1, 1, 8 }, 20, -EPROTO, "flags 0x1" },
		{ "need_reply set", 1, { 1, 0xd, 8 }, 20, -EPROTO, "flags 0xd" },
		{ "version 2", 1, { 1, 6, 8 }, 20, -EPROTO, "flags 0x6" },
		{ "size 4", 1, { 1, 5, 4 }, 16, -EPROTO, "payload size 4" },
		{ "size huge", 1, { 1, 5, 0xffffffffu }, 20, -EPROTO, "payload size" },
		{ "truncated payload", 1, { 1, 5, 8 }, 19, -EPROTO, "19 bytes" },
		{ "trailing bytes", 1, { 1, 5, 8 }, 21, -EPROTO, "21 bytes" },
	};
	for (size_t i = 0; i < FSB_ARRAY_SIZE(v); i++) {
		unsigned char buf[32] = { 0 };
		memcpy(buf, v[i].hdr, 12);
		uint64_t val = 0x1234;
		memcpy(buf + 12, &val, 8);
		struct fsb_vhost_reply rep;
		char err[160] = "";
		int rc = fsb_vhost_reply_parse(buf, v[i].len, v[i].req, &rep, err,
					       sizeof(err));
		if (rc != v[i].rc)
			fail_msg("%s: rc %d, want %d (%s)", v[i].what, rc, v[i].rc,
				 err);
		if (rc == 0 && v[i].req != 11)
			assert_int_equal(rep.u64, 0x1234);
		if (rc == 0 && v[i].req == 11) {
			assert_int_equal(rep.index, 0x1234);
			assert_int_equal(rep.num, 0);
		}
		if (v[i].err && !strstr(err, v[i].err))
			fail_msg("%s: error '%s' lacks '%s'", v[i].what, err,
				 v[i].err);
	}
}

/* ---- a scripted backend on one end of a socketpair ---- */

enum mode {
	M_GOOD, M_BAD_FLAGS, M_WITH_FD, M_SILENT, M_CLOSE, M_ACK_FAIL,
	M_RECV_FDS,
};

struct backend {
	int fd;
	enum mode mode;
	/* what it received */
	uint32_t req, flags, size;
	unsigned nfds;
	pthread_t th;
};

static void be_reply(struct backend *b, uint32_t req, uint32_t flags,
		     uint64_t val, int fd)
{
	unsigned char m[20];
	uint32_t size = 8;
	memcpy(m, &req, 4);
	memcpy(m + 4, &flags, 4);
	memcpy(m + 8, &size, 4);
	memcpy(m + 12, &val, 8);
	struct iovec iov = { m, sizeof(m) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr a;
	} c;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		mh.msg_control = c.buf;
		mh.msg_controllen = sizeof(c.buf);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	assert_int_equal(sendmsg(b->fd, &mh, MSG_NOSIGNAL), sizeof(m));
}

static void *be_main(void *arg)
{
	struct backend *b = arg;
	unsigned char m[12 + 512];
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr a;
	} c;
	struct iovec iov = { m, sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = c.buf, .msg_controllen = sizeof(c.buf) };
	ssize_t n = recvmsg(b->fd, &mh, 0);
	if (n < 12)
		return NULL;
	memcpy(&b->req, m, 4);
	memcpy(&b->flags, m + 4, 4);
	memcpy(&b->size, m + 8, 4);
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		unsigned k = (unsigned)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (unsigned i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			close(fd);
		}
		b->nfds += k;
	}
	switch (b->mode) {
	case M_GOOD:
	case M_RECV_FDS:
		be_reply(b, b->req, 5, 0x42, -1);
		break;
	case M_BAD_FLAGS:
		be_reply(b, b->req, 1, 0x42, -1);
		break;
	case M_WITH_FD:
		be_reply(b, b->req, 5, 0x42, 0);
		break;
	case M_SILENT:
		break;
	case M_CLOSE:
		shutdown(b->fd, SHUT_RDWR);
		break;
	case M_ACK_FAIL:
		be_reply(b, b->req, 5, 1, -1);
		break;
	}
	return NULL;
}

static void be_start(struct backend *b, struct fsb_vhost_conn *c, enum mode m)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	memset(b, 0, sizeof(*b));
	memset(c, 0, sizeof(*c));
	b->fd = sv[1];
	b->mode = m;
	c->fd = sv[0];
	c->timeout_ms = 300;
	assert_int_equal(pthread_create(&b->th, NULL, be_main, b), 0);
}

static void be_stop(struct backend *b, struct fsb_vhost_conn *c)
{
	pthread_join(b->th, NULL);
	close(b->fd);
	close(c->fd);
}

static unsigned open_fds(void)
{
	unsigned n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

static void test_exchanges(void **state)
{
	(void)state;
	struct backend b;
	struct fsb_vhost_conn c;
	uint64_t v = 0;

	be_start(&b, &c, M_GOOD);
	assert_int_equal(fsb_vhost_get_u64(&c, FSB_VHOST_GET_FEATURES, &v), 0);
	assert_int_equal(v, 0x42);
	be_stop(&b, &c);
	assert_int_equal(b.req, FSB_VHOST_GET_FEATURES);
	assert_int_equal(b.flags, 0x1);
	assert_int_equal(b.size, 0);

	/* REPLY_ACK: a SET_* asks for a reply and gets the status */
	be_start(&b, &c, M_ACK_FAIL);
	c.reply_ack = true;
	assert_int_equal(fsb_vhost_set_u64(&c, FSB_VHOST_SET_FEATURES, 1), -EIO);
	assert_non_null(strstr(c.err, "refused SET_FEATURES"));
	be_stop(&b, &c);
	assert_int_equal(b.flags, 0x9);

	/* fds go with the header: a memory table of 2 regions */
	be_start(&b, &c, M_RECV_FDS);
	struct fsb_vhost_region r[2] = { { 1, 2, 3, 0 }, { 4, 5, 6, 0 } };
	int fds[2] = { 0, 1 };
	assert_int_equal(fsb_vhost_set_mem_table(&c, r, fds, 2), 0);
	be_stop(&b, &c);
	assert_int_equal(b.req, FSB_VHOST_SET_MEM_TABLE);
	assert_int_equal(b.size, 8 + 2 * 32);
	assert_int_equal(b.nfds, 2);

	/* wrong flags */
	be_start(&b, &c, M_BAD_FLAGS);
	assert_int_equal(fsb_vhost_get_u64(&c, FSB_VHOST_GET_FEATURES, &v), -EPROTO);
	assert_non_null(strstr(c.err, "flags 0x1"));
	be_stop(&b, &c);

	/* a reply with an fd: refused, and the fd is not leaked */
	unsigned before = open_fds();
	be_start(&b, &c, M_WITH_FD);
	assert_int_equal(fsb_vhost_get_u64(&c, FSB_VHOST_GET_FEATURES, &v), -EPROTO);
	assert_non_null(strstr(c.err, "carried 1 fds"));
	be_stop(&b, &c);
	assert_int_equal(open_fds(), before);

	/* silence: bounded by the reply timeout */
	be_start(&b, &c, M_SILENT);
	uint64_t t0 = t_now_ms();
	assert_int_equal(fsb_vhost_get_u64(&c, FSB_VHOST_GET_FEATURES, &v),
			 -ETIMEDOUT);
	assert_true(t_now_ms() - t0 < 5000);
	be_stop(&b, &c);

	/* the backend goes away */
	be_start(&b, &c, M_CLOSE);
	int rc = fsb_vhost_get_u64(&c, FSB_VHOST_GET_FEATURES, &v);
	assert_true(fsb_vhost_err_is_gone(rc));
	be_stop(&b, &c);

	/* and sending to a closed socket is an error, not SIGPIPE */
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	memset(&c, 0, sizeof(c));
	c.fd = sv[0];
	assert_int_equal(fsb_vhost_set_u64(&c, FSB_VHOST_SET_FEATURES, 1), -EPIPE);
	close(sv[0]);
}

/* ---- the kind against a backend that breaks the protocol ---- */

static char sock_path[64];
static _Atomic unsigned accepts;
static _Atomic bool stop_srv;

static void *bad_server(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	while (!atomic_load(&stop_srv)) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			t_sleep_ms(2);
			continue;
		}
		atomic_fetch_add(&accepts, 1);
		struct backend b = { .fd = fd, .mode = M_BAD_FLAGS };
		be_main(&b);
		t_sleep_ms(20);
		close(fd);
	}
	return NULL;
}

static bool has_reason(struct ev_log *l, enum fsb_reason r)
{
	bool found = false;
	pthread_mutex_lock(&l->lock);
	for (unsigned i = 0; i < l->n; i++)
		found |= l->ev[i].reason == r;
	pthread_mutex_unlock(&l->lock);
	return found;
}

static void test_kind_broken_backend(void **state)
{
	struct env *e = *state;
	snprintf(sock_path, sizeof(sock_path), "/tmp/fsb-vq-bad-%d.sock",
		 (int)getpid());
	unlink(sock_path);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	pthread_t th;
	atomic_store(&stop_srv, false);
	atomic_store(&accepts, 0);
	assert_int_equal(pthread_create(&th, NULL, bad_server,
					(void *)(intptr_t)lfd), 0);

	char spec[128];
	snprintf(spec, sizeof(spec), "vqbad,dev(virtio_user,path=%s),dev(null)",
		 sock_path);
	struct fsb_port *p = port_up(e->ctx, spec, e->mp, &e->log);
	/* the broken backend never carries traffic; null does */
	assert_int_equal(active_slot(p), 1);
	/* at probe time the slot's event says broken (the kind's log
	 * line says what the backend got wrong) */
	if (!WAIT_UNTIL(has_reason(&e->log, FSB_REASON_BROKEN), 3000))
		fail_msg("no broken event for a backend with bad flags");
	/* we keep trying, with a backoff: a few more sessions, not a storm */
	if (!WAIT_UNTIL(atomic_load(&accepts) >= 3, 5000))
		fail_msg("no reconnect after the broken session (%u)",
			 atomic_load(&accepts));
	t_sleep_ms(1500);
	unsigned a = atomic_load(&accepts);
	assert_true(a < 40);
	struct fsb_slot_info si;
	assert_int_equal(fsb_port_slot_info(p, 0, &si), 0);
	assert_true(si.state <= FSB_SUBDEV_PARSED);
	fsb_port_close(p);
	/* released with the port: no more connections */
	t_sleep_ms(100);
	a = atomic_load(&accepts);
	t_sleep_ms(1200);
	assert_int_equal(atomic_load(&accepts), a);
	atomic_store(&stop_srv, true);
	pthread_join(th, NULL);
	close(lfd);
	unlink(sock_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_vectors),
		cmocka_unit_test(test_exchanges),
		cmocka_unit_test_setup_teardown(test_kind_broken_backend, t_setup,
						t_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
