/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * telemetry.c - the control socket: DPDK telemetry v2's wire protocol.
 *
 * Operators already have clients for DPDK's telemetry socket:
 * dpdk-telemetry.py, Telegraf's dpdk input, scripts of their own.  We
 * speak its protocol so that those read our ports unchanged, and carry
 * our own commands (/fsb/...) on the same socket for fsbctl(8).
 *
 * The protocol, as DPDK 22.11 has it:
 *   - an AF_UNIX SOCK_SEQPACKET socket at
 *     RUNDIR/dpdk/PREFIX/dpdk_telemetry.v2 (a second process of the
 *     prefix takes ...v2:1, and so on: a name in use is one whose
 *     connect succeeds; one that refuses is stale and is taken over);
 *   - on connect the server sends {"version":..,"pid":..,
 *     "max_output_len":N}; clients do one recv() of N bytes per reply,
 *     so every reply fits in N (the event list is trimmed, oldest first,
 *     to fit);
 *   - a request is one message "/command[,params]", a reply one message
 *     {"/command":VALUE}; VALUE is null for an unknown command, bad
 *     parameters, a port or slot that does not exist, or a change a
 *     client may not make.
 *
 * A thread of its own serves it with poll(): the datapath never sees
 * it, and the control thread's sync is never behind a client.  Every
 * send is non-blocking: a client that does not read costs at most its
 * socket buffer, and is dropped when that is full.  Requests longer
 * than 1 KiB, with bytes outside printable ASCII, or otherwise bad get
 * the null reply and a rate-limited log line; the connection stays.
 * Calls into a port hold a reference (port.c) instead of ctx->lock, so
 * a planned detach requested here holds up no other port's sync, and
 * fsb_port_close() waits for the call to end.
 *
 * Access: the socket is 0660 in a directory that is 0700 (0750 with a
 * group), never world-writable; SO_PEERCRED tells who the client is,
 * and state changes are for root and the process's own user only.
 * Nothing from a request reaches a shell or a format string.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fsb_private.h"
#include "port.h"

#define TELE_MAX_OUTPUT   131072  /* the hello's max_output_len */
#define TELE_MAX_REQUEST  1024
#define TELE_MAX_CLIENTS  256
#define TELE_DEF_CLIENTS  32
#define TELE_MAX_INSTANCE 256     /* ...v2:1 .. :255 */
#define TELE_QUEUE_STATS  16      /* DPDK's RTE_ETHDEV_QUEUE_STAT_CNTRS */

struct tele_client {
	int fd;
	uid_t uid;
	pid_t pid;
};

struct fsb_telemetry {
	struct fsb_ctx *ctx;
	int lfd;
	int wake[2];                    /* stop: a byte on [1] */
	pthread_t thread;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	unsigned max_clients;
	unsigned nclients;
	struct tele_client cl[TELE_MAX_CLIENTS];
	char *out;                      /* the reply being built */
	size_t len;
	bool overflow;
};

/* ------------------------------------------------------------------ */
/* Replies: a bounded JSON writer                                      */
/* ------------------------------------------------------------------ */

static void out_add(struct fsb_telemetry *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void out_add(struct fsb_telemetry *t, const char *fmt, ...)
{
	if (t->overflow)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->out + t->len, TELE_MAX_OUTPUT - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= TELE_MAX_OUTPUT - t->len)
		t->overflow = true;
	else
		t->len += (size_t)n;
}

/* A JSON string; our strings are names and specs, but escape all. */
static void out_str(struct fsb_telemetry *t, const char *s)
{
	out_add(t, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			out_add(t, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			out_add(t, "\\u%04x", c);
		else
			out_add(t, "%c", c);
	}
	out_add(t, "\"");
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

/* A decimal number below @max, the whole of @s; -1 otherwise. */
static long param_num(const char *s, long max)
{
	if (!s || !*s || strlen(s) > 6)
		return -1;
	long v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v < max ? v : -1;
}

struct tele_req {
	const char *cmd;
	char *par[3];                   /* comma-separated params, or NULL */
	unsigned npar;
	const struct tele_client *from;
};

/* Each handler writes the reply's VALUE and returns 0, or returns -1
 * for the null reply (with the reason in @why for the log). */
typedef int (*tele_fn)(struct fsb_telemetry *t, const struct tele_req *r,
		       const char **why);

struct tele_cmd {
	const char *name;
	tele_fn fn;
	const char *help;
	bool change;                    /* changes state: privileged */
};

static const struct tele_cmd *cmd_find(const char *name);
static const struct tele_cmd tele_cmds[];

static bool client_may_change(const struct tele_client *c)
{
	return c->uid == 0 || c->uid == geteuid();
}

static int cmd_list(struct fsb_telemetry *t, const struct tele_req *r,
		    const char **why)
{
	(void)r; (void)why;
	out_add(t, "[");
	for (const struct tele_cmd *c = tele_cmds; c->name; c++)
		out_add(t, "%s\"%s\"", c == tele_cmds ? "" : ",", c->name);
	out_add(t, "]");
	return 0;
}

static void out_hello(struct fsb_telemetry *t)
{
	out_add(t, "{\"version\":\"libfsb %s\",\"pid\":%d,\"max_output_len\":%d}",
		PACKAGE_VERSION, (int)getpid(), TELE_MAX_OUTPUT);
}

static int cmd_info(struct fsb_telemetry *t, const struct tele_req *r,
		    const char **why)
{
	(void)r; (void)why;
	out_hello(t);
	return 0;
}

static int cmd_help(struct fsb_telemetry *t, const struct tele_req *r,
		    const char **why)
{
	if (r->npar == 0) {
		out_str(t, cmd_find("/help")->help);
		return 0;
	}
	const struct tele_cmd *c = cmd_find(r->par[0]);
	if (!c || r->npar > 1) {
		*why = "no such command";
		return -1;
	}
	out_add(t, "{");
	out_str(t, c->name);
	out_add(t, ":");
	out_str(t, c->help);
	out_add(t, "}");
	return 0;
}

static int cmd_ethdev_list(struct fsb_telemetry *t, const struct tele_req *r,
			   const char **why)
{
	(void)r; (void)why;
	struct fsb_ctx *ctx = t->ctx;
	bool first = true;
	out_add(t, "[");
	pthread_mutex_lock(&ctx->lock);
	for (unsigned i = 0; i < FSB_MAX_PORTS; i++)
		if (ctx->ports[i]) {
			out_add(t, "%s%u", first ? "" : ",", i);
			first = false;
		}
	pthread_mutex_unlock(&ctx->lock);
	out_add(t, "]");
	return 0;
}

/* The port named by the first parameter, referenced; NULL with @why. */
static struct fsb_port *req_port(struct fsb_telemetry *t,
				 const struct tele_req *r, unsigned npar,
				 const char **why)
{
	if (r->npar != npar) {
		*why = r->npar < npar ? "missing parameter" : "too many parameters";
		return NULL;
	}
	long id = param_num(r->par[0], FSB_MAX_PORTS);
	if (id < 0) {
		*why = "bad port number";
		return NULL;
	}
	struct fsb_port *port = fsb_port_ref_get(t->ctx, (unsigned)id);
	if (!port)
		*why = "no such port";
	return port;
}

static void out_mac(struct fsb_telemetry *t, const uint8_t *m)
{
	out_add(t, "\"%02X:%02X:%02X:%02X:%02X:%02X\"",
		m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void out_qarray(struct fsb_telemetry *t, const char *key)
{
	out_add(t, ",\"%s\":[", key);
	for (unsigned q = 0; q < TELE_QUEUE_STATS; q++)
		out_add(t, "%s0", q ? "," : "");
	out_add(t, "]");
}

static int cmd_ethdev_stats(struct fsb_telemetry *t, const struct tele_req *r,
			    const char **why)
{
	struct fsb_port *port = req_port(t, r, 1, why);
	if (!port)
		return -1;
	struct fsb_stats st;
	fsb_port_stats_get(port, &st);
	fsb_port_ref_put(port);
	out_add(t, "{\"ipackets\":%" PRIu64 ",\"opackets\":%" PRIu64
		",\"ibytes\":%" PRIu64 ",\"obytes\":%" PRIu64
		",\"imissed\":%" PRIu64 ",\"ierrors\":%" PRIu64
		",\"oerrors\":%" PRIu64 ",\"rx_nombuf\":%" PRIu64,
		st.ipackets, st.opackets, st.ibytes, st.obytes, st.imissed,
		st.ierrors, st.oerrors, st.rx_nombuf);
	/* no per-queue counters: zeros, as DPDK's drivers without them */
	out_qarray(t, "q_ipackets");
	out_qarray(t, "q_opackets");
	out_qarray(t, "q_ibytes");
	out_qarray(t, "q_obytes");
	out_qarray(t, "q_errors");
	out_add(t, "}");
	return 0;
}

static int cmd_ethdev_xstats(struct fsb_telemetry *t, const struct tele_req *r,
			     const char **why)
{
	struct fsb_port *port = req_port(t, r, 1, why);
	if (!port)
		return -1;
	struct fsb_stats st;
	fsb_port_stats_get(port, &st);
	int n = fsb_port_xstats_names(port, NULL, 0);
	struct fsb_xstat_name *names = n > 0 ? calloc((size_t)n, sizeof(*names)) : NULL;
	uint64_t *vals = n > 0 ? calloc((size_t)n, sizeof(*vals)) : NULL;
	if (n > 0 && names && vals) {
		fsb_port_xstats_names(port, names, (unsigned)n);
		fsb_port_xstats_get(port, vals, (unsigned)n);
	}
	fsb_port_ref_put(port);
	/* DPDK's generic ones first (its ethdev adds them to every
	 * driver's), then ours */
	out_add(t, "{\"rx_good_packets\":%" PRIu64 ",\"tx_good_packets\":%" PRIu64
		",\"rx_good_bytes\":%" PRIu64 ",\"tx_good_bytes\":%" PRIu64
		",\"rx_missed_errors\":%" PRIu64 ",\"rx_errors\":%" PRIu64
		",\"tx_errors\":%" PRIu64 ",\"rx_mbuf_allocation_errors\":%" PRIu64,
		st.ipackets, st.opackets, st.ibytes, st.obytes, st.imissed,
		st.ierrors, st.oerrors, st.rx_nombuf);
	for (int i = 0; names && vals && i < n; i++) {
		out_add(t, ",");
		out_str(t, names[i].name);
		out_add(t, ":%" PRIu64, vals[i]);
	}
	out_add(t, "}");
	free(names);
	free(vals);
	if (n > 0 && (!names || !vals)) {
		*why = "out of memory";
		return -1;
	}
	return 0;
}

static int cmd_ethdev_link(struct fsb_telemetry *t, const struct tele_req *r,
			   const char **why)
{
	struct fsb_port *port = req_port(t, r, 1, why);
	if (!port)
		return -1;
	struct fsb_link l;
	fsb_port_link_get(port, &l);
	fsb_port_ref_put(port);
	if (!l.up)
		out_add(t, "{\"status\":\"DOWN\"}");
	else
		out_add(t, "{\"status\":\"UP\",\"speed\":%u,\"duplex\":\"%s\"}",
			l.speed_mbps, l.full_duplex ? "full-duplex" : "half-duplex");
	return 0;
}

static int cmd_ethdev_info(struct fsb_telemetry *t, const struct tele_req *r,
			   const char **why)
{
	struct fsb_port *port = req_port(t, r, 1, why);
	if (!port)
		return -1;
	struct fsb_port_info in;
	fsb_port_info_get(port, &in);
	fsb_port_ref_put(port);
	out_add(t, "{\"name\":");
	out_str(t, in.name);
	/* state 1: RTE_ETH_DEV_ATTACHED; numa_node -1: any */
	out_add(t, ",\"state\":1,\"nb_rx_queues\":%u,\"nb_tx_queues\":%u"
		",\"port_id\":%u,\"mtu\":%u,\"rx_mbuf_size_min\":0,\"mac_addr\":",
		in.nb_rxq, in.nb_txq, in.port_id, in.mtu);
	out_mac(t, in.mac);
	out_add(t, ",\"promiscuous\":%d,\"scattered_rx\":0,\"all_multicast\":%d"
		",\"dev_started\":%d,\"lro\":0,\"dev_configured\":%d,\"rxq_state\":[",
		in.promisc, in.allmulti, in.started, in.nb_rxq > 0);
	for (unsigned q = 0; q < in.nb_rxq; q++)
		out_add(t, "%s%d", q ? "," : "", in.started);
	out_add(t, "],\"txq_state\":[");
	for (unsigned q = 0; q < in.nb_txq; q++)
		out_add(t, "%s%d", q ? "," : "", in.started);
	out_add(t, "],\"numa_node\":-1,\"dev_flags\":0,\"rx_offloads\":0"
		",\"tx_offloads\":0,\"ethdev_rss_hf\":0}");
	return 0;
}

/* ---- ours ---- */

static void out_port_head(struct fsb_telemetry *t, struct fsb_port *port)
{
	struct fsb_port_info in;
	struct fsb_link l;
	fsb_port_info_get(port, &in);
	fsb_port_link_get(port, &l);
	out_add(t, "{\"port_id\":%u,\"name\":", in.port_id);
	out_str(t, in.name);
	out_add(t, ",\"started\":%d,\"link\":\"%s\",\"active_slot\":%d",
		in.started, l.up ? "UP" : "DOWN", in.active_slot);
}

static int cmd_fsb_ports(struct fsb_telemetry *t, const struct tele_req *r,
			 const char **why)
{
	(void)r; (void)why;
	out_add(t, "[");
	bool first = true;
	for (unsigned i = 0; i < FSB_MAX_PORTS; i++) {
		struct fsb_port *port = fsb_port_ref_get(t->ctx, i);
		if (!port)
			continue;
		out_add(t, "%s", first ? "" : ",");
		first = false;
		out_port_head(t, port);
		out_add(t, ",\"nb_slots\":%u}", port->nslots);
		fsb_port_ref_put(port);
	}
	out_add(t, "]");
	return 0;
}

static int cmd_fsb_port(struct fsb_telemetry *t, const struct tele_req *r,
			const char **why)
{
	struct fsb_port *port = req_port(t, r, 1, why);
	if (!port)
		return -1;
	out_port_head(t, port);
	struct fsb_port_info in;
	fsb_port_info_get(port, &in);
	out_add(t, ",\"hold_down_ms\":%u,\"mac_addr\":", in.hold_down_ms);
	out_mac(t, in.mac);
	out_add(t, ",\"mtu\":%u,\"promiscuous\":%d,\"slots\":[", in.mtu, in.promisc);
	/* the slots under the port's lock, for one consistent picture */
	pthread_mutex_lock(&port->lock);
	uint64_t now = fsb_now_ns();
	int active = atomic_load(&port->active_slot);
	FSB_FOREACH_SLOT(port, s) {
		unsigned i = fsb_slot_index(port, s);
		out_add(t, "%s{\"slot\":%u,\"kind\":", i ? "," : "", i);
		out_str(t, s->sd.spec.kind);
		out_add(t, ",\"spec\":");
		out_str(t, s->sd.spec.text);
		out_add(t, ",\"state\":\"%s\",\"link\":\"%s\",\"priority\":%u"
			",\"active\":%d,\"last_reason\":\"%s\""
			",\"hold_down_remaining_ms\":%" PRIu64 "}",
			fsb_subdev_state_name(fsb_slot_state(s)),
			s->link_up && fsb_slot_state(s) == FSB_SUBDEV_STARTED ? "UP" : "DOWN",
			i, active == (int)i, fsb_reason_name(s->last_reason),
			(fsb_slot_hold_left_ns(port, s, now) + 999999) / 1000000);
	}
	pthread_mutex_unlock(&port->lock);
	fsb_port_ref_put(port);
	out_add(t, "]}");
	return 0;
}

static void out_event(struct fsb_telemetry *t, const struct fsb_event_rec *e)
{
	const struct fsb_event *ev = &e->ev;
	time_t sec = (time_t)(e->wall_ns / 1000000000ull);
	struct tm tm;
	gmtime_r(&sec, &tm);
	char wall[40];
	strftime(wall, sizeof(wall), "%Y-%m-%dT%H:%M:%S", &tm);
	out_add(t, "{\"seq\":%" PRIu64 ",\"mono_ns\":%" PRIu64
		",\"wall\":\"%s.%06uZ\",\"type\":\"%s\",\"reason\":\"%s\"",
		e->seq, ev->time_ns, wall,
		(unsigned)(e->wall_ns % 1000000000ull / 1000),
		fsb_event_type_name(ev->type), fsb_reason_name(ev->reason));
	/* the fields of its type only */
	switch (ev->type) {
	case FSB_EVENT_SUBDEV_STATE:
		out_add(t, ",\"slot\":%d,\"old_state\":\"%s\",\"new_state\":\"%s\"",
			ev->slot, fsb_subdev_state_name(ev->old_state),
			fsb_subdev_state_name(ev->new_state));
		break;
	case FSB_EVENT_ACTIVE_CHANGE:
		out_add(t, ",\"from_slot\":%d,\"to_slot\":%d,\"downtime_us\":%" PRIu64,
			ev->from_slot, ev->to_slot, ev->downtime_us);
		break;
	case FSB_EVENT_PORT_LINK:
		out_add(t, ",\"link_up\":%d", ev->link_up);
		break;
	case FSB_EVENT_SUBDEV_LINK:
		out_add(t, ",\"slot\":%d,\"link_up\":%d", ev->slot, ev->link_up);
		break;
	}
	out_add(t, "}");
}

static int cmd_fsb_events(struct fsb_telemetry *t, const struct tele_req *r,
			  const char **why)
{
	long want = FSB_EVENT_LOG;
	if (r->npar == 2) {
		want = param_num(r->par[1], FSB_EVENT_LOG + 1);
		if (want < 0) {
			*why = "bad count";
			return -1;
		}
	}
	struct fsb_port *port = req_port(t, r, r->npar == 2 ? 2 : 1, why);
	if (!port)
		return -1;
	/* a copy, so that the lock is not held while formatting */
	struct fsb_event_rec *copy = malloc(sizeof(port->evlog));
	uint64_t seq = 0;
	if (copy) {
		pthread_mutex_lock(&port->lock);
		memcpy(copy, port->evlog, sizeof(port->evlog));
		seq = port->evlog_seq;
		pthread_mutex_unlock(&port->lock);
	}
	fsb_port_ref_put(port);
	if (!copy) {
		*why = "out of memory";
		return -1;
	}
	uint64_t have = seq < FSB_EVENT_LOG ? seq : FSB_EVENT_LOG;
	uint64_t n = (uint64_t)want < have ? (uint64_t)want : have;
	/* the newest n; trimmed from the oldest while they do not fit */
	size_t start = t->len;
	for (;;) {
		t->len = start;
		t->overflow = false;
		out_add(t, "[");
		for (uint64_t s = seq - n; s < seq; s++) {
			if (s != seq - n)
				out_add(t, ",");
			out_event(t, &copy[s % FSB_EVENT_LOG]);
		}
		out_add(t, "]");
		/* room for the reply's closing brace */
		if (!t->overflow && t->len + 2 < TELE_MAX_OUTPUT)
			break;
		if (n == 0)
			break;
		n /= 2;
	}
	free(copy);
	return 0;
}

static int cmd_fsb_slot_admin(struct fsb_telemetry *t, const struct tele_req *r,
			      const char **why, bool attach)
{
	long slot = r->npar == 2 ? param_num(r->par[1], FSB_MAX_SUBDEVS) : 0;
	if (slot < 0) {
		*why = "bad slot number";
		return -1;
	}
	struct fsb_port *port = req_port(t, r, 2, why);
	if (!port)
		return -1;
	if ((unsigned)slot >= port->nslots) {
		fsb_port_ref_put(port);
		*why = "no such slot";
		return -1;
	}
	fsb_log(FSB_LOG_NOTICE, "%s: %s of slot %ld asked on the control socket by pid %d uid %u",
		port->spec.name, attach ? "attach" : "detach", slot,
		(int)r->from->pid, (unsigned)r->from->uid);
	int rc = attach ? fsb_port_attach(port, (unsigned)slot) :
			  fsb_port_detach(port, (unsigned)slot);
	unsigned id = port->id;
	fsb_port_ref_put(port);
	out_add(t, "{\"port_id\":%u,\"slot\":%ld,\"status\":", id, slot);
	if (rc == 0)
		out_add(t, "\"ok\"}");
	else if (rc == -EALREADY)
		out_add(t, "\"already\"}");
	else
		out_add(t, "\"error: %s\"}", strerror(-rc));
	return 0;
}

static int cmd_fsb_attach(struct fsb_telemetry *t, const struct tele_req *r,
			  const char **why)
{
	return cmd_fsb_slot_admin(t, r, why, true);
}

static int cmd_fsb_detach(struct fsb_telemetry *t, const struct tele_req *r,
			  const char **why)
{
	return cmd_fsb_slot_admin(t, r, why, false);
}

static int cmd_fsb_stats_reset(struct fsb_telemetry *t, const struct tele_req *r,
			       const char **why)
{
	struct fsb_port *port = req_port(t, r, 1, why);
	if (!port)
		return -1;
	fsb_port_stats_reset(port);
	unsigned id = port->id;
	fsb_port_ref_put(port);
	out_add(t, "{\"port_id\":%u,\"status\":\"ok\"}", id);
	return 0;
}

static const char *const level_names[] = {
	[FSB_LOG_ERR] = "err", [FSB_LOG_WARNING] = "warning",
	[FSB_LOG_NOTICE] = "notice", [FSB_LOG_INFO] = "info",
	[FSB_LOG_DEBUG] = "debug",
};

static int cmd_fsb_log_level(struct fsb_telemetry *t, const struct tele_req *r,
			     const char **why)
{
	if (r->npar > 1) {
		*why = "too many parameters";
		return -1;
	}
	if (r->npar == 1) {
		if (!client_may_change(r->from)) {
			*why = "not permitted (root or the owner only)";
			return -1;
		}
		int lvl = -1;
		for (int i = FSB_LOG_ERR; i <= FSB_LOG_DEBUG; i++)
			if (strcmp(r->par[0], level_names[i]) == 0)
				lvl = i;
		if (lvl < 0) {
			*why = "bad level (err, warning, notice, info, debug)";
			return -1;
		}
		atomic_store(&t->ctx->log_level, lvl);
	}
	int cur = atomic_load(&t->ctx->log_level);
	out_add(t, "{\"level\":\"%s\"}",
		cur >= FSB_LOG_ERR && cur <= FSB_LOG_DEBUG ? level_names[cur] : "unknown");
	return 0;
}

static const struct tele_cmd tele_cmds[] = {
	{ "/", cmd_list, "Returns list of available commands, Takes no parameters", false },
	{ "/ethdev/info", cmd_ethdev_info, "Returns the device info for a port. Parameters: int port_id", false },
	{ "/ethdev/link_status", cmd_ethdev_link, "Returns the link status for a port. Parameters: int port_id", false },
	{ "/ethdev/list", cmd_ethdev_list, "Returns list of available ethdev ports. Takes no parameters", false },
	{ "/ethdev/stats", cmd_ethdev_stats, "Returns the common stats for a port. Parameters: int port_id", false },
	{ "/ethdev/xstats", cmd_ethdev_xstats, "Returns the extended stats for a port. Parameters: int port_id", false },
	{ "/fsb/attach", cmd_fsb_attach, "Brings a slot back (probe, start, rejoin at its priority). Parameters: int port_id, int slot", true },
	{ "/fsb/detach", cmd_fsb_detach, "Planned removal of a slot: TX moves off it first, nothing is lost. Parameters: int port_id, int slot", true },
	{ "/fsb/events", cmd_fsb_events, "Returns the last events of a port (at most 256), oldest first. Parameters: int port_id[, int count]", false },
	{ "/fsb/log_level", cmd_fsb_log_level, "Returns, or sets, the library's log level. Parameters: [string level: err, warning, notice, info, debug]", false },
	{ "/fsb/port", cmd_fsb_port, "Returns a port's slots: kind, spec, state, link, priority, active, last reason, hold-down left. Parameters: int port_id", false },
	{ "/fsb/ports", cmd_fsb_ports, "Returns the libfsb ports. Takes no parameters", false },
	{ "/fsb/stats_reset", cmd_fsb_stats_reset, "Zeroes a port's stats and xstats. Parameters: int port_id", true },
	{ "/help", cmd_help, "Returns help text for a command. Parameters: string command", false },
	{ "/info", cmd_info, "Returns DPDK Telemetry information. Takes no parameters", false },
	{ NULL, NULL, NULL, false },
};

static const struct tele_cmd *cmd_find(const char *name)
{
	for (const struct tele_cmd *c = tele_cmds; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* Build the reply to @msg (@n bytes, possibly longer than we read). */
static void tele_handle(struct fsb_telemetry *t, const struct tele_client *from,
			char *msg, size_t n)
{
	const char *why = NULL;
	const char *key = "/";
	struct tele_req r = { .from = from };
	const struct tele_cmd *c = NULL;

	t->len = 0;
	t->overflow = false;
	if (n > TELE_MAX_REQUEST) {
		why = "request over 1 KiB";
		goto null_reply;
	}
	msg[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)msg[i] < 0x20 || (unsigned char)msg[i] >= 0x7f) {
			why = "bytes outside printable ASCII";
			goto null_reply;
		}
	/* "/cmd,p1,p2": the command, then its parameters */
	char *comma = strchr(msg, ',');
	if (comma)
		*comma = '\0';
	key = msg;
	c = cmd_find(msg);
	if (!c) {
		why = "unknown command";
		goto null_reply;
	}
	if (comma) {
		char *p = comma + 1;
		for (;;) {
			if (r.npar == FSB_ARRAY_SIZE(r.par)) {
				why = "too many parameters";
				goto null_reply;
			}
			r.par[r.npar++] = p;
			char *nx = strchr(p, ',');
			if (!nx)
				break;
			*nx = '\0';
			p = nx + 1;
		}
	}
	if (c->change && !client_may_change(from)) {
		why = "not permitted (root or the owner only)";
		goto null_reply;
	}
	out_add(t, "{");
	out_str(t, c->name);
	out_add(t, ":");
	if (c->fn(t, &r, &why) == 0) {
		out_add(t, "}");
		if (!t->overflow)
			return;
		why = "reply too long";
	}
null_reply:
	FSB_LOG_RL(FSB_LOG_WARNING,
		   "control socket: null reply to pid %d: %s (request of %zu bytes)",
		   (int)from->pid, why ? why : "failed", n);
	t->len = 0;
	t->overflow = false;
	out_add(t, "{");
	/* the command as sent, when it can be a JSON key at all */
	out_str(t, key && strlen(key) <= 128 ? key : "/");
	out_add(t, ":null}");
}

/* ------------------------------------------------------------------ */
/* The thread                                                          */
/* ------------------------------------------------------------------ */

static void client_drop(struct fsb_telemetry *t, unsigned i)
{
	close(t->cl[i].fd);
	t->cl[i] = t->cl[--t->nclients];
}

/* Send the reply built in t->out; false when the client must go (it
 * does not read, or is gone). */
static bool client_send(struct fsb_telemetry *t, const struct tele_client *c)
{
	ssize_t w = send(c->fd, t->out, t->len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (w == (ssize_t)t->len)
		return true;
	if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		FSB_LOG_RL(FSB_LOG_WARNING,
			   "control socket: pid %d does not read its replies; dropped",
			   (int)c->pid);
	return false;
}

static void tele_accept(struct fsb_telemetry *t)
{
	int fd = accept4(t->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	struct ucred cr = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
	socklen_t cl = sizeof(cr);
	getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl);
	if (t->nclients >= t->max_clients) {
		/* a clear refusal, not a silent close */
		char msg[96];
		int n = snprintf(msg, sizeof(msg),
				 "{\"error\":\"too many clients (at most %u)\"}",
				 t->max_clients);
		send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
		close(fd);
		FSB_LOG_RL(FSB_LOG_WARNING,
			   "control socket: pid %d refused: already %u clients",
			   (int)cr.pid, t->max_clients);
		return;
	}
	struct tele_client *c = &t->cl[t->nclients];
	c->fd = fd;
	c->uid = cr.uid;
	c->pid = cr.pid;
	t->len = 0;
	t->overflow = false;
	out_hello(t);
	if (!client_send(t, c)) {
		close(fd);
		return;
	}
	t->nclients++;
}

static void *tele_main(void *arg)
{
	struct fsb_telemetry *t = arg;
	sigset_t all;
	sigfillset(&all);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGSEGV);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	char *req = malloc(TELE_MAX_REQUEST + 2);
	if (!req)
		return NULL;
	struct pollfd pf[TELE_MAX_CLIENTS + 2];
	for (;;) {
		pf[0] = (struct pollfd){ .fd = t->wake[0], .events = POLLIN };
		pf[1] = (struct pollfd){ .fd = t->lfd, .events = POLLIN };
		unsigned nc = t->nclients;
		for (unsigned i = 0; i < nc; i++)
			pf[2 + i] = (struct pollfd){ .fd = t->cl[i].fd, .events = POLLIN };
		if (poll(pf, 2 + nc, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[0].revents)
			break;
		/* clients from the last down, so that a drop (which moves
		 * the last one into its place) skips nobody */
		for (unsigned i = nc; i-- > 0;) {
			if (!pf[2 + i].revents)
				continue;
			/* MSG_TRUNC: the message's whole length, to refuse
			 * an overlong one rather than read a prefix */
			ssize_t n = recv(t->cl[i].fd, req, TELE_MAX_REQUEST + 1,
					 MSG_DONTWAIT | MSG_TRUNC);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n <= 0) {
				client_drop(t, i);
				continue;
			}
			tele_handle(t, &t->cl[i], req, (size_t)n);
			if (!client_send(t, &t->cl[i]))
				client_drop(t, i);
		}
		if (pf[1].revents & POLLIN)
			tele_accept(t);
	}
	free(req);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Start and stop                                                      */
/* ------------------------------------------------------------------ */

static int tele_err(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int tele_err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* mkdir @dir with @mode unless it exists; either way it must be a
 * directory that is not world-writable. */
static int dir_ensure(const char *dir, mode_t mode, char *err, size_t errlen)
{
	if (mkdir(dir, mode) < 0 && errno != EEXIST)
		return tele_err(err, errlen, -errno, "telemetry: cannot create %s: %s",
				dir, strerror(errno));
	struct stat st;
	if (stat(dir, &st) < 0)
		return tele_err(err, errlen, -errno, "telemetry: %s: %s", dir,
				strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return tele_err(err, errlen, -ENOTDIR, "telemetry: %s is not a directory", dir);
	if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
		return tele_err(err, errlen, -EPERM,
				"telemetry: %s is world-writable; refusing to put the socket there", dir);
	return 0;
}

/* Bind @fd at @path; a name held by a live server is EADDRINUSE, a
 * stale one (nobody accepts) is unlinked and taken. */
static int bind_or_take(int fd, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return 0;
	if (errno != EADDRINUSE)
		return -errno;
	int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return -errno;
	int live = connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(probe);
	if (live)
		return -EADDRINUSE;
	unlink(path);
	return bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
}

struct tele_opts {
	char prefix[64];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool has_group;
	gid_t gid;
	unsigned clients;
};

static int opts_parse(const char *opts, struct tele_opts *o, char *err,
		      size_t errlen)
{
	snprintf(o->prefix, sizeof(o->prefix), "fsb");
	o->clients = TELE_DEF_CLIENTS;
	if (!opts || !*opts)
		return 0;
	char buf[512];
	if (strlen(opts) >= sizeof(buf))
		return tele_err(err, errlen, -EINVAL, "telemetry options too long");
	snprintf(buf, sizeof(buf), "%s", opts);
	char *save = NULL;
	for (char *it = strtok_r(buf, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(it, '=');
		if (!eq || eq == it || !eq[1])
			return tele_err(err, errlen, -EINVAL,
					"telemetry option '%s': want key=value", it);
		*eq = '\0';
		const char *v = eq + 1;
		if (strcmp(it, "prefix") == 0) {
			if (strlen(v) >= sizeof(o->prefix) || strchr(v, '/') ||
			    strcmp(v, ".") == 0 || strcmp(v, "..") == 0)
				return tele_err(err, errlen, -EINVAL,
						"telemetry prefix '%s': a name without '/', under 64 bytes", v);
			snprintf(o->prefix, sizeof(o->prefix), "%s", v);
		} else if (strcmp(it, "path") == 0) {
			if (strlen(v) >= sizeof(o->path) || v[0] != '/')
				return tele_err(err, errlen, -EINVAL,
						"telemetry path '%s': an absolute path under %zu bytes",
						v, sizeof(o->path));
			snprintf(o->path, sizeof(o->path), "%s", v);
		} else if (strcmp(it, "group") == 0 || strcmp(it, "telemetry_group") == 0) {
			long g = param_num(v, 1L << 30);
			if (g >= 0) {
				o->gid = (gid_t)g;
			} else {
				struct group gr, *res = NULL;
				char gb[4096];
				if (getgrnam_r(v, &gr, gb, sizeof(gb), &res) != 0 || !res)
					return tele_err(err, errlen, -EINVAL,
							"telemetry group '%s': no such group", v);
				o->gid = gr.gr_gid;
			}
			o->has_group = true;
		} else if (strcmp(it, "clients") == 0) {
			long n = param_num(v, TELE_MAX_CLIENTS + 1);
			if (n < 1)
				return tele_err(err, errlen, -EINVAL,
						"telemetry clients '%s': a number from 1 to %d",
						v, TELE_MAX_CLIENTS);
			o->clients = (unsigned)n;
		} else {
			return tele_err(err, errlen, -EINVAL,
					"unknown telemetry option '%s' (prefix, path, group, clients)", it);
		}
	}
	return 0;
}

/* The directory of the socket, made as DPDK's EAL makes it. */
static int tele_dir(const struct tele_opts *o, char *dir, size_t len,
		    char *err, size_t errlen)
{
	mode_t mode = o->has_group ? 0750 : 0700;
	int rc;
	if (o->path[0]) {
		snprintf(dir, len, "%s", o->path);
		char *sl = strrchr(dir, '/');
		if (sl == dir)
			sl[1] = '\0';
		else
			*sl = '\0';
		return dir_ensure(dir, mode, err, errlen);
	}
	const char *run = getenv("RUNTIME_DIRECTORY");
	if (!run || !*run)
		run = geteuid() == 0 ? "/var/run" : getenv("XDG_RUNTIME_DIR");
	if (!run || !*run)
		run = "/tmp";
	if ((size_t)snprintf(dir, len, "%s/dpdk", run) >= len)
		return tele_err(err, errlen, -ENAMETOOLONG, "telemetry: runtime directory too long");
	if ((rc = dir_ensure(dir, 0755, err, errlen)) < 0)
		return rc;
	if ((size_t)snprintf(dir, len, "%s/dpdk/%s", run, o->prefix) >= len)
		return tele_err(err, errlen, -ENAMETOOLONG, "telemetry: runtime directory too long");
	if ((rc = dir_ensure(dir, mode, err, errlen)) < 0)
		return rc;
	if (o->has_group && (chown(dir, geteuid(), o->gid) < 0 || chmod(dir, mode) < 0))
		return tele_err(err, errlen, -errno, "telemetry: %s: cannot give it group %u: %s",
				dir, (unsigned)o->gid, strerror(errno));
	return 0;
}

int fsb_ctx_telemetry_start(struct fsb_ctx *ctx, const char *opts, char *err,
			    size_t errlen)
{
	struct tele_opts o = { 0 };
	int rc = opts_parse(opts, &o, err, errlen);
	if (rc < 0)
		return rc;
	if (ctx->tele)
		return tele_err(err, errlen, -EEXIST, "telemetry: already started (%s)",
				ctx->tele->path);
	char dir[sizeof(o.path)];
	if ((rc = tele_dir(&o, dir, sizeof(dir), err, errlen)) < 0)
		return rc;
	struct fsb_telemetry *t = calloc(1, sizeof(*t));
	if (!t || !(t->out = malloc(TELE_MAX_OUTPUT))) {
		if (t)
			free(t);
		return tele_err(err, errlen, -ENOMEM, "telemetry: out of memory");
	}
	t->ctx = ctx;
	t->max_clients = o.clients;
	t->wake[0] = t->wake[1] = -1;
	t->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (t->lfd < 0) {
		rc = tele_err(err, errlen, -errno, "telemetry: socket: %s", strerror(errno));
		goto fail;
	}
	rc = -EADDRINUSE;
	for (unsigned i = 0; i < (o.path[0] ? 1u : TELE_MAX_INSTANCE) && rc == -EADDRINUSE; i++) {
		int n = o.path[0] ? snprintf(t->path, sizeof(t->path), "%s", o.path) :
			i == 0 ? snprintf(t->path, sizeof(t->path), "%s/dpdk_telemetry.v2", dir) :
			snprintf(t->path, sizeof(t->path), "%s/dpdk_telemetry.v2:%u", dir, i);
		if (n < 0 || (size_t)n >= sizeof(t->path)) {
			rc = tele_err(err, errlen, -ENAMETOOLONG, "telemetry: socket path too long in %s", dir);
			goto fail;
		}
		rc = bind_or_take(t->lfd, t->path);
	}
	if (rc < 0) {
		tele_err(err, errlen, rc, "telemetry: cannot bind %s: %s", t->path, strerror(-rc));
		t->path[0] = '\0';
		goto fail;
	}
	if (chmod(t->path, 0660) < 0 ||
	    (o.has_group && chown(t->path, geteuid(), o.gid) < 0)) {
		rc = tele_err(err, errlen, -errno, "telemetry: %s: %s", t->path, strerror(errno));
		goto fail;
	}
	if (listen(t->lfd, 16) < 0 || pipe2(t->wake, O_CLOEXEC) < 0) {
		rc = tele_err(err, errlen, -errno, "telemetry: %s: %s", t->path, strerror(errno));
		goto fail;
	}
	rc = -pthread_create(&t->thread, NULL, tele_main, t);
	if (rc < 0) {
		tele_err(err, errlen, rc, "telemetry: thread: %s", strerror(-rc));
		goto fail;
	}
	ctx->tele = t;
	fsb_log(FSB_LOG_INFO, "control socket %s (DPDK telemetry v2)", t->path);
	return 0;
fail:
	if (t->path[0])
		unlink(t->path);
	if (t->lfd >= 0)
		close(t->lfd);
	if (t->wake[0] >= 0) {
		close(t->wake[0]);
		close(t->wake[1]);
	}
	free(t->out);
	free(t);
	return rc;
}

void fsb_ctx_telemetry_stop(struct fsb_ctx *ctx)
{
	struct fsb_telemetry *t = ctx ? ctx->tele : NULL;
	if (!t)
		return;
	char b = 1;
	while (write(t->wake[1], &b, 1) < 0 && errno == EINTR)
		;
	pthread_join(t->thread, NULL);
	ctx->tele = NULL;
	for (unsigned i = 0; i < t->nclients; i++)
		close(t->cl[i].fd);
	unlink(t->path);
	close(t->lfd);
	close(t->wake[0]);
	close(t->wake[1]);
	free(t->out);
	free(t);
}

const char *fsb_ctx_telemetry_path(const struct fsb_ctx *ctx)
{
	return ctx && ctx->tele ? ctx->tele->path : NULL;
}
