/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nlmon.c - a netlink socket the control loop watches (see nlmon.h).
 */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <libmnl/libmnl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "nlmon.h"

/* The watcher's callback, loop lock held: only queue the drain. */
static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	fsb_loop_defer(w->data);
}

int fsb_nlmon_open(struct fsb_nlmon *m, int bus, unsigned groups,
		   size_t buflen, int rcvbuf, bool passcred,
		   void (*drain)(void *arg), void *arg)
{
	int e;
	memset(m, 0, sizeof(*m));
	m->drain.fn = drain;
	m->drain.arg = arg;
	m->buflen = buflen;
	m->buf = malloc(buflen);
	m->io = malloc(sizeof(*m->io));
	if (!m->buf || !m->io) {
		e = ENOMEM;
		goto fail;
	}
	if (!fsb_loop()) {
		e = ENOTCONN;
		goto fail;
	}
	m->nl = mnl_socket_open2(bus, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!m->nl || mnl_socket_bind(m->nl, groups, MNL_SOCKET_AUTOPID) < 0) {
		e = errno;
		goto fail;
	}
	int fd = mnl_socket_get_fd(m->nl), one = 1;
	if (passcred &&
	    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
		e = errno;
		goto fail;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	ev_io_init(m->io, on_readable, fd, EV_READ);
	m->io->data = &m->drain;
	fsb_loop_lock();
	ev_io_start(fsb_loop(), m->io);
	fsb_loop_unlock();
	fsb_loop_wake();
	return 0;
fail:
	fsb_nlmon_close(m);
	return -e;
}

void fsb_nlmon_close(struct fsb_nlmon *m)
{
	if (m->nl) {
		struct ev_loop *loop = fsb_loop();
		fsb_loop_lock();
		if (loop && m->io && ev_is_active(m->io))
			ev_io_stop(loop, m->io);
		fsb_loop_unlock();
		mnl_socket_close(m->nl);
		m->nl = NULL;
	}
	free(m->io);
	m->io = NULL;
	free(m->buf);
	m->buf = NULL;
}

int fsb_nlmon_fd(const struct fsb_nlmon *m)
{
	return m->nl ? mnl_socket_get_fd(m->nl) : -1;
}

int fsb_nlmon_rcvbuf(struct fsb_nlmon *m, int bytes)
{
	if (!m->nl)
		return -ENOTCONN;
	return setsockopt(mnl_socket_get_fd(m->nl), SOL_SOCKET, SO_RCVBUFFORCE,
			  &bytes, sizeof(bytes)) < 0 ? -errno : 0;
}
