/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctx.c - the process's library context and the name tables.
 *
 * One context per process: the ports, the pools and the control thread
 * hang off it.  A second
 * fsb_ctx_new() fails with EEXIST rather than silently sharing, so that
 * two libraries in one process notice each other.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsb_private.h"
#include "port.h"

struct fsb_ctx *fsb_global_ctx;
static pthread_mutex_t ctx_create_lock = PTHREAD_MUTEX_INITIALIZER;

const char *fsb_version(void)
{
	return PACKAGE_VERSION;
}

struct fsb_ctx *fsb_ctx_new(void)
{
	pthread_mutex_lock(&ctx_create_lock);
	if (fsb_global_ctx) {
		pthread_mutex_unlock(&ctx_create_lock);
		errno = EEXIST;
		return NULL;
	}
	struct fsb_ctx *ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		pthread_mutex_unlock(&ctx_create_lock);
		return NULL;
	}
	pthread_mutex_init(&ctx->lock, NULL);
	pthread_cond_init(&ctx->ref_cond, NULL);
	ctx->log_fn = fsb_log_default;
	atomic_init(&ctx->log_level, FSB_LOG_NOTICE);
	int rc = fsb_ctl_start(ctx);
	if (rc < 0) {
		pthread_cond_destroy(&ctx->ref_cond);
		pthread_mutex_destroy(&ctx->lock);
		free(ctx);
		pthread_mutex_unlock(&ctx_create_lock);
		errno = -rc;
		return NULL;
	}
	fsb_global_ctx = ctx;
	pthread_mutex_unlock(&ctx_create_lock);
	return ctx;
}

void fsb_ctx_free(struct fsb_ctx *ctx)
{
	if (!ctx)
		return;
	/* the socket first: nobody may reach a port being closed */
	fsb_ctx_telemetry_stop(ctx);
	for (unsigned i = 0; i < FSB_MAX_PORTS; i++)
		if (ctx->ports[i])
			fsb_port_close(ctx->ports[i]);
	fsb_ctl_stop(ctx);
	for (unsigned i = 0; i < FSB_MAX_POOLS; i++)
		if (ctx->pools[i] && fsb_mempool_free(ctx->pools[i]) < 0)
			fsb_log(FSB_LOG_WARNING,
				"mempool %s still has buffers out at exit; leaked",
				ctx->pools[i]->name);
	pthread_mutex_lock(&ctx_create_lock);
	fsb_global_ctx = NULL;
	pthread_mutex_unlock(&ctx_create_lock);
	pthread_cond_destroy(&ctx->ref_cond);
	pthread_mutex_destroy(&ctx->lock);
	free(ctx);
}

void fsb_ctx_set_log(struct fsb_ctx *ctx, fsb_log_fn fn, void *arg,
		     enum fsb_log_level max_level)
{
	pthread_mutex_lock(&ctx->lock);
	ctx->log_fn = fn ? fn : fsb_log_default;
	ctx->log_arg = fn ? arg : NULL;
	pthread_mutex_unlock(&ctx->lock);
	atomic_store(&ctx->log_level, max_level);
}

/* ---- name tables ---- */

static const char *const reason_names[FSB_REASON_COUNT] = {
	[FSB_REASON_ADMIN] = "admin",
	[FSB_REASON_NETDEV_REMOVED] = "netdev-removed",
	[FSB_REASON_NETDEV_ADDED] = "netdev-added",
	[FSB_REASON_LINK_DOWN] = "link-down",
	[FSB_REASON_LINK_UP] = "link-up",
	[FSB_REASON_UEVENT_REMOVE] = "uevent-remove",
	[FSB_REASON_UEVENT_ADD] = "uevent-add",
	[FSB_REASON_VFIO_REQUEST] = "vfio-request",
	[FSB_REASON_SIGBUS] = "sigbus",
	[FSB_REASON_SESSION_CLOSED] = "session-closed",
	[FSB_REASON_SESSION_RESTORED] = "session-restored",
	[FSB_REASON_BROKEN] = "broken",
	[FSB_REASON_PROBE_FAILED] = "probe-failed",
	[FSB_REASON_DEVICE_LOST] = "device-lost",
	[FSB_REASON_STALLED] = "stalled",
};

const char *fsb_reason_name(enum fsb_reason r)
{
	return ((unsigned)r < FSB_REASON_COUNT) ? reason_names[r] : "unknown";
}

const char *fsb_subdev_state_name(enum fsb_subdev_state s)
{
	static const char *const n[] = { "absent", "parsed", "probed",
					 "configured", "started" };
	return ((unsigned)s < FSB_ARRAY_SIZE(n)) ? n[s] : "unknown";
}

const char *fsb_event_type_name(enum fsb_event_type t)
{
	static const char *const n[] = { "subdev-state", "active-change",
					 "port-link", "subdev-link" };
	return ((unsigned)t < FSB_ARRAY_SIZE(n)) ? n[t] : "unknown";
}

int fsb_event_format(const struct fsb_event *ev, char *buf, size_t len)
{
	switch (ev->type) {
	case FSB_EVENT_SUBDEV_STATE:
		return snprintf(buf, len, "port %u slot %d: %s -> %s (%s)",
				ev->port_id, ev->slot,
				fsb_subdev_state_name(ev->old_state),
				fsb_subdev_state_name(ev->new_state),
				fsb_reason_name(ev->reason));
	case FSB_EVENT_ACTIVE_CHANGE: {
		char from[16], to[16];
		if (ev->from_slot < 0) snprintf(from, sizeof(from), "none");
		else snprintf(from, sizeof(from), "slot %d", ev->from_slot);
		if (ev->to_slot < 0) snprintf(to, sizeof(to), "none");
		else snprintf(to, sizeof(to), "slot %d", ev->to_slot);
		return snprintf(buf, len,
				"port %u: tx %s -> %s (%s) downtime %llu us",
				ev->port_id, from, to,
				fsb_reason_name(ev->reason),
				(unsigned long long)ev->downtime_us);
	}
	case FSB_EVENT_PORT_LINK:
		return snprintf(buf, len, "port %u: link %s (%s)", ev->port_id,
				ev->link_up ? "up" : "down",
				fsb_reason_name(ev->reason));
	case FSB_EVENT_SUBDEV_LINK:
		return snprintf(buf, len, "port %u slot %d: link %s (%s)",
				ev->port_id, ev->slot,
				ev->link_up ? "up" : "down",
				fsb_reason_name(ev->reason));
	}
	return snprintf(buf, len, "port %u: unknown event", ev->port_id);
}

int fsb_mac_parse(const char *s, uint8_t mac[FSB_ETHER_ADDR_LEN])
{
	for (int i = 0; i < FSB_ETHER_ADDR_LEN; i++) {
		if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]))
			return -EINVAL;
		char h[3] = { s[0], s[1], 0 };
		mac[i] = (uint8_t)strtoul(h, NULL, 16);
		s += 2;
		if (i < FSB_ETHER_ADDR_LEN - 1) {
			if (*s != ':')
				return -EINVAL;
			s++;
		}
	}
	return *s ? -EINVAL : 0;
}

int fsb_pci_addr_parse(const char *s, char out[16])
{
	unsigned v[4] = { 0 }, nf = 0;
	const unsigned width[4] = { 4, 2, 2, 1 }, max[4] = { 0xffff, 0xff, 0x1f, 7 };
	const char *p = s;
	/* up to four fields; separators ':' ':' '.' (or ':' '.' without
	 * the domain) */
	unsigned got[4];
	char sep[4] = { 0 };
	while (nf < 4) {
		unsigned n = 0, x = 0;
		while (isxdigit((unsigned char)p[n]) && n < 5) {
			char c = (char)tolower((unsigned char)p[n]);
			x = x * 16 + (unsigned)(isdigit((unsigned char)c) ? c - '0' : c - 'a' + 10);
			n++;
		}
		if (n == 0 || n > 4)
			return -EINVAL;
		got[nf] = n;
		v[nf++] = x;
		p += n;
		if (nf == 4 || (*p != ':' && *p != '.'))
			break;
		sep[nf - 1] = *p++;
	}
	if (*p || (nf != 3 && nf != 4))
		return -EINVAL;
	if (nf == 3) {          /* BB:DD.F: domain 0 */
		v[3] = v[2]; v[2] = v[1]; v[1] = v[0]; v[0] = 0;
		got[3] = got[2]; got[2] = got[1]; got[1] = got[0]; got[0] = 4;
		sep[2] = sep[1]; sep[1] = sep[0]; sep[0] = ':';
	}
	if (sep[0] != ':' || sep[1] != ':' || sep[2] != '.')
		return -EINVAL;
	for (unsigned i = 0; i < 4; i++)
		if (got[i] > width[i] || v[i] > max[i])
			return -EINVAL;
	snprintf(out, 16, "%04x:%02x:%02x.%x", v[0], v[1], v[2], v[3]);
	return 0;
}

void fsb_mac_format(const uint8_t mac[FSB_ETHER_ADDR_LEN], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);
}
