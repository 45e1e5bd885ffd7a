/* SPDX-License-Identifier: BSD-3-Clause */
/* netlink.h - the rtnetlink monitor (netlink.c), internal. */
#ifndef FSB_NETLINK_H
#define FSB_NETLINK_H

#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "subdev.h"

struct ev_loop;
struct ev_io;
struct mnl_socket;

/*
 * A netlink socket the control loop watches: the rtnetlink monitor
 * (this file) and the kobject uevent monitor (uevent.c) share it.
 * Non-blocking, close-on-exec, bound to @groups, with a receive buffer
 * of @rcvbuf bytes (SO_RCVBUFFORCE as root, else as much as rmem_max
 * allows: a deep buffer makes ENOBUFS rare) and, with @passcred, sender
 * credentials on every message.  @buf (@buflen bytes) is for the
 * caller's reads.  The watcher is started in @loop with @cb; its
 * callback should only defer the draining (see ctl.c).
 */
struct fsb_nlmon {
	struct mnl_socket *nl;
	struct ev_io *io;
	char *buf;
	size_t buflen;
};

/* Returns 0 or -errno (nothing left open). */
int fsb_nlmon_open(struct fsb_nlmon *m, struct ev_loop *loop, int bus,
		   unsigned groups, size_t buflen, int rcvbuf, bool passcred,
		   void (*cb)(struct ev_loop *, struct ev_io *, int));
/* Stop the watcher (when @loop) and close; idempotent. */
void fsb_nlmon_close(struct fsb_nlmon *m, struct ev_loop *loop);
/* The socket's fd, or -1 when closed. */
int fsb_nlmon_fd(const struct fsb_nlmon *m);
/* Test knob: set the receive buffer (to force ENOBUFS); 0 or -errno. */
int fsb_nlmon_rcvbuf(struct fsb_nlmon *m, int bytes);

/* Open the RTMGRP_LINK socket and watch it from @loop (control thread).
 * Returns 0 or -errno; the library runs without it (logged) on error. */
int fsb_netlink_start(struct fsb_ctx *ctx, struct ev_loop *loop);
void fsb_netlink_stop(struct ev_loop *loop);

/* Parse one link message: 1 = link message (@nd, @del filled), 0 = other
 * type, -1 = malformed. */
int fsb_netlink_parse_link(const struct nlmsghdr *nlh,
			   struct fsb_netdev_info *nd, bool *del);

/* Handle a buffer of netlink messages as if received (tests). */
void fsb_netlink_process(struct fsb_ctx *ctx, const void *buf, size_t len);

/* Test knob: set the monitor socket's receive buffer (to force ENOBUFS). */
int fsb_netlink_test_rcvbuf(int bytes);

/* Messages seen, malformed ones ignored, resyncs after ENOBUFS. */
void fsb_netlink_counters(uint64_t *msgs, uint64_t *bad, uint64_t *resyncs);

#endif
