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
