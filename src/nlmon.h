/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nlmon.h - a netlink socket watched by the loop (nlmon.c), internal.
 *
 * The rtnetlink monitor (netlink.c) and the kobject uevent monitor
 * (uevent.c) each read one: multicast, non-blocking, close-on-exec,
 * with a deep receive buffer (SO_RCVBUFFORCE as root, else as much as
 * rmem_max allows: a deep buffer makes ENOBUFS rare) and optionally
 * sender credentials on every message.  When it becomes readable the
 * watcher queues the monitor's drain as deferred work (loop.h): the
 * drain hands signals to the router, which takes port locks, and
 * those may not be taken under the loop lock.
 */
#ifndef FSB_NLMON_H
#define FSB_NLMON_H

#include <stdbool.h>
#include <stddef.h>

#include "loop.h"

struct ev_io;
struct mnl_socket;

struct fsb_nlmon {
	struct mnl_socket *nl;
	struct ev_io *io;
	struct fsb_work drain;          /* queued when readable */
	char *buf;                      /* the drain's reads */
	size_t buflen;
};

/*
 * Open a @bus socket bound to @groups and watch it from the loop, which
 * must exist; readable -> @drain(@arg) after the loop turn.  Returns 0
 * or -errno (nothing left open).
 */
int fsb_nlmon_open(struct fsb_nlmon *m, int bus, unsigned groups,
		   size_t buflen, int rcvbuf, bool passcred,
		   void (*drain)(void *arg), void *arg);
/* Stop watching and close; idempotent. */
void fsb_nlmon_close(struct fsb_nlmon *m);
/* The socket's fd, or -1 when closed. */
int fsb_nlmon_fd(const struct fsb_nlmon *m);
/* Set the receive buffer (tests force ENOBUFS with it); 0 or -errno. */
int fsb_nlmon_rcvbuf(struct fsb_nlmon *m, int bytes);

#endif
