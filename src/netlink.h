/* SPDX-License-Identifier: BSD-3-Clause */
/* netlink.h - the rtnetlink source (netlink.c), internal. */
#ifndef FSB_NETLINK_H
#define FSB_NETLINK_H

#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devsignal.h"

/*
 * Parse one RTM_NEWLINK/RTM_DELLINK into @id.  Returns 1 for a link
 * message (*@del says which), 0 for another type, -1 for a malformed
 * one.  Pure.
 */
int fsb_netlink_parse_link(const struct nlmsghdr *nlh, struct fsb_devid *id,
			   bool *del);

/*
 * Hand a buffer of netlink messages to @fn as signals, as the monitor
 * does with what it receives: DELLINK -> GONE (netdev-removed), NEWLINK
 * -> STATE.  Malformed and truncated messages are counted and skipped.
 * Needs no context and no thread (tests feed crafted buffers here).
 */
void fsb_netlink_process(const void *buf, size_t len, fsb_devsignal_fn fn,
			 void *arg);

/*
 * Every link of this netns, now, as STATE signals with reason @why, on
 * a short-lived socket of its own (the reply never mixes with the
 * monitor's multicast stream).  Returns 0 or -errno.
 */
int fsb_netlink_dump(enum fsb_reason why, fsb_devsignal_fn fn, void *arg);

/*
 * Open the RTMGRP_LINK socket and watch it from the loop: what it
 * reads goes to @fn; ENOBUFS (events lost) becomes one LOST signal
 * (reason netdev-removed, for what the resync finds gone).  Returns 0
 * or -errno; the library runs without it (logged) on error.
 */
int fsb_netlink_start(fsb_devsignal_fn fn, void *arg);
void fsb_netlink_stop(void);

/* Test knob: set the monitor socket's receive buffer (to force ENOBUFS). */
int fsb_netlink_test_rcvbuf(int bytes);

/* Messages seen, malformed ones ignored, ENOBUFS (each one a LOST). */
void fsb_netlink_counters(uint64_t *msgs, uint64_t *bad, uint64_t *lost);

#endif
