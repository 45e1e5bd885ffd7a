/* SPDX-License-Identifier: BSD-3-Clause */
/* uevent.h - the kobject uevent monitor (uevent.c), internal. */
#ifndef FSB_UEVENT_H
#define FSB_UEVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devsignal.h"

enum fsb_uevent_action {
	FSB_UEVENT_OTHER = 0,           /* online, offline, bind, ... */
	FSB_UEVENT_ADD,
	FSB_UEVENT_REMOVE,
	FSB_UEVENT_CHANGE,
	FSB_UEVENT_MOVE,
};

/*
 * One kernel uevent.  The strings point into the parsed buffer (which
 * must outlive this) and are NUL-terminated; optional ones are NULL
 * when the event does not carry them.
 */
struct fsb_uevent {
	enum fsb_uevent_action action;
	const char *action_str;         /* ACTION */
	const char *devpath;            /* DEVPATH, "/devices/..." */
	const char *subsystem;          /* SUBSYSTEM */
	const char *interface;          /* INTERFACE (net), or NULL */
	const char *pci_slot;           /* PCI_SLOT_NAME (pci), or NULL */
	int ifindex;                    /* IFINDEX (net), 0 when absent */
	uint64_t seqnum;                /* SEQNUM */
	const char *err;                /* why parsing failed (static) */
};

/*
 * Parse one uevent datagram in the kernel's format,
 * "ACTION@DEVPATH\0KEY=VALUE\0...".  Pure: no state, no I/O.
 * Returns 0 and fills @ev; -ENOMSG for a libudev-format message (what
 * udevd sends on group 2: not ours); -EBADMSG for a malformed or
 * truncated one, with @ev->err saying what was wrong.
 */
int fsb_uevent_parse(const void *buf, size_t len, struct fsb_uevent *ev);

/*
 * Handle one datagram as the monitor does: @sender_pid is the source
 * address's nl_pid (0 = the kernel; anything else is dropped and
 * counted).  An add or remove of a netdev or a PCI function goes to @fn
 * as a signal.  Needs no context and no thread.  Returns 0 (used or not
 * ours), -EPERM (sent from user space), -ENOMSG (libudev format) or
 * -EBADMSG (malformed).
 */
int fsb_uevent_process(const void *buf, size_t len, uint32_t sender_pid,
		       fsb_devsignal_fn fn, void *arg);

/* Is PCI function @addr there (/sys/bus/pci/devices)?  1, 0, or -errno
 * (-EINVAL for a name that is not one path component). */
int fsb_uevent_pci_present(const char *addr);

/* Open the socket (group 1, kernel events) in the current netns and
 * watch it from the loop: signals to @fn; ENOBUFS becomes one LOST
 * signal (reason uevent-remove).  0 or -errno; the library runs
 * without it (logged) on error. */
int fsb_uevent_start(fsb_devsignal_fn fn, void *arg);
void fsb_uevent_stop(void);

/* Test knob: set the socket's receive buffer (to force ENOBUFS). */
int fsb_uevent_test_rcvbuf(int bytes);

struct fsb_uevent_counters {
	uint64_t msgs;          /* datagrams handled */
	uint64_t events;        /* well-formed kernel uevents */
	uint64_t foreign;       /* dropped: sent from user space */
	uint64_t udev;          /* dropped: libudev format */
	uint64_t bad;           /* dropped: malformed or truncated */
	uint64_t lost;          /* ENOBUFS, each one a LOST signal */
	uint64_t seq_gaps;      /* SEQNUM jumps (normal, see uevent.c) */
};
void fsb_uevent_counters(struct fsb_uevent_counters *c);

#endif
