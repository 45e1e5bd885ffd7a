/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio_user.c - a sub-device that is a vhost-user frontend: we are the
 * "guest driver", a vhost-user backend (DPDK net_vhost, OVS, VPP, QEMU's
 * vhost-user-bridge...) in another process is the device.
 *
 * Memory.  The backend must read and write our buffers, so it maps our
 * memory: SET_MEM_TABLE hands it one fd per region and it maps
 * size + offset bytes of each from file offset 0.  The table is built at
 * start from every live mempool (all memfd-backed, src/mempool.c) plus
 * one memfd of our own holding this sub-device's vrings, at most 8
 * regions.  Addresses are our virtual addresses on both sides
 * (guest_phys_addr = userspace_addr = VA, as DPDK's virtio-user does),
 * so a descriptor carries a plain pointer.  A pool created after the
 * table was sent is unknown to the backend: once a pool was created
 * after the table (one load per burst says so), TX checks each buffer's
 * pool (id and gen) and drops one from an unknown pool, counted as
 * tx_errors; the next start (any restart or reconnect) includes it.
 *
 * Buffers.  Headroom is at least 128 bytes, so the 12-byte virtio-net
 * header (VERSION_1/MRG_RXBUF size) is written just before the packet
 * and one descriptor covers header + data, both ways.  RX buffers are
 * posted with the header in the headroom; the packet lands at the usual
 * data offset.  A frame spread over several RX buffers (num_buffers > 1,
 * larger than our data room) is dropped and counted as rx_missed until
 * chained buffers exist.
 *
 * Session = link.  The socket is the device: while it is open and the
 * rings are enabled the link is up.  The control loop watches it (an
 * ev_io on the socket between our own exchanges: readable means the
 * backend closed it, or sent something unasked, which the protocol does
 * not allow on this channel).  Closed: the slot is marked GONE with
 * session-closed (not merely link-down: the backend unmapped our memory
 * and forgot the rings, so the sub-device must be closed and brought up
 * again from scratch); the sync routine closes it.  In client mode we
 * reconnect with a backoff (10 ms doubling to 1 s; back to 10 ms after
 * a session that ran for a second), in server mode we keep listening;
 * a new connection marks APPEARED with session-restored and the sync
 * routine probes, configures and starts again, which re-sends the whole
 * protocol on fresh rings.
 *
 * The session object (socket, listener, timer) therefore outlives the
 * sub-device's probe..close: it lives in a small table keyed by the
 * struct fsb_subdev, from the first probe until the slot goes absent
 * (port close, admin detach: the release op), so a probe that fails
 * while the backend is down does not stop the reconnect.
 *
 * Locking.  Session fields are under the control loop's lock.  Loop
 * callbacks (EOF, accept, reconnect timer) only do socket I/O and
 * tell the slot (its notifier).  The sync side (probe/start/stop/close, which may run
 * on the control thread inside a sync pass with ctx->lock held, or on an
 * application thread) takes the loop lock only to stop the socket's
 * watcher and borrow the fd for an exchange, then gives it back
 * (re-arming the watcher) or drops it when the exchange failed: a failed
 * exchange leaves the stream in an unknown state, so the connection is
 * closed and re-established.  While the fd is borrowed no callback can
 * close it (its watcher is stopped; the timer runs only without a
 * connection; the listener refuses a second connection).
 *
 * Slow backends.  Each reply may take reply_timeout= ms (default 5000:
 * a busy switch answered GET_VRING_BASE after 2.57 s).  The probe's
 * handshake and the start's setup run on a thread of their own (vu_job,
 * below): the caller waits 250 ms and otherwise goes on, -EINPROGRESS,
 * and the slot is marked STEP when the backend has answered.  A stop
 * waits at most 1 s per reply and otherwise drops the session.
 *
 * TX stall watchdog (virtio_net.h): the control thread's look at the TX
 * rings (vu_watch); a backend that stops polling without closing is
 * a link-down, reason stalled.
 *
 * Ring size: queue_size= (default 512), for every ring; the port's
 * nb_rxd/nb_txd do not apply (as in DPDK's virtio-user, where the ring
 * size is a device option).  512 measured best here for 64-byte TX
 * against DPDK's net_vhost (one core each, --no-huge, two runs each:
 * 256 gave 19.6-22.0 Mpps, 512 21.6-22.0, 1024 20.0-20.8; RX the same
 * at 256 and 512).
 *
 * Features: VERSION_1, MRG_RXBUF, MQ, IN_ORDER and PROTOCOL_FEATURES
 * when the backend offers them; MAC and STATUS are ours to emulate (the
 * config space is local).  EVENT_IDX is not negotiated: we poll, and a
 * polling backend sets NO_NOTIFY, so it would only add the used/avail
 * event stores.  Protocol features: MQ, REPLY_ACK.
 *
 * Bad input: a reply that breaks the protocol (vhost_user.c), a used
 * ring that breaks the virtqueue rules (virtqueue.h), or an unasked
 * message marks the sub-device GONE with the reason broken, one
 * rate-limited line each; nothing crashes and no bad buffer goes up.
 *
 * Bare handles (fsb_bare_*) have no port to mark: the link simply goes
 * down when the session ends, and no reconnect is attempted.  In server
 * mode a bare probe waits up to 10 s for the backend to connect.
 */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "subdev.h"
#include "vhost_user.h"
#include "virtio_net.h"
#include "virtqueue.h"

#define VU_QSIZE_DEFAULT 512
#define VU_BACKOFF_MIN_MS 10
#define VU_BACKOFF_MAX_MS 1000
#define VU_BARE_ACCEPT_WAIT_MS 10000
/* reply_timeout= default: a busy backend (a switch building its buffer
 * pools) was seen to answer GET_VRING_BASE after 2.57 s */
#define VU_REPLY_TIMEOUT_MS 5000
/* What a caller of probe or start waits for the exchange before it goes
 * on without it (-EINPROGRESS): a healthy backend answers the whole
 * handshake in a few ms; a slow one must not hold the control thread
 * (and every port's sync behind it) for its deadline. */
#define VU_STEP_WAIT_MS 250
/* stop waits at most this for each reply, whatever reply_timeout says:
 * the session is ours to end, and a backend too slow to stop its rings
 * is disconnected instead (it must then stop using our memory) */
#define VU_STOP_WAIT_MS 1000

/* vu_job kinds, and vu_job_result()'s "no such job" */
enum { VU_JOB_PROBE = 1, VU_JOB_START = 2 };
#define VU_JOB_NONE 1
#define VU_JOB_NOTHREAD 2

/* ------------------------------------------------------------------ */
/* Sessions (outlive probe..close)                                     */
/* ------------------------------------------------------------------ */

struct vu_session {
	struct vu_session *next;        /* sessions, under sess_lock */
	const struct fsb_subdev *key;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char name[FSB_NAME_MAX + 8];
	bool server;
	bool bare;                      /* no port: nobody to tell */
	struct fsb_slot_notify notify;  /* the slot's (sd->notify) */
	uint8_t mac[FSB_ETHER_ADDR_LEN]; /* stable across reconnects */

	/* Under the loop lock. */
	int fd;                         /* connected socket, or -1 */
	int lfd;                        /* server: listening socket */
	bool in_use;                    /* probed: a loss is a GONE mark */
	unsigned backoff_ms;
	uint64_t up_since_ns;           /* rings enabled at; 0 = not up */
	ev_io io;                       /* fd: EOF / unasked data */
	ev_io lio;                      /* lfd: accept */
	ev_timer tm;                    /* client: reconnect */

	_Atomic bool link;              /* rings enabled on a live session */
	unsigned gen;                   /* loop lock: +1 per dropped connection */

	/* The exchange of a probe or a start, on a thread of its own
	 * (vu_job_*): one at a time.  active and kind/d are the sync
	 * side's (the port lock orders its calls); the rest under jlock. */
	struct vu_job {
		pthread_mutex_t lock;
		pthread_cond_t cond;
		pthread_t th;
		bool active;            /* a thread to join */
		bool done;              /* the exchange is over (no more I/O) */
		bool finished;          /* and its outcome applied */
		bool waiter_left;       /* its caller went on: mark STEP */
		bool cancelled;
		int kind, rc;
		unsigned gen;           /* the connection it ran on */
		uint64_t t0_ns;
		struct vu_dev *d;
	} job;
};

static pthread_mutex_t sess_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vu_session *sessions;

static void sess_mark(struct vu_session *s, enum fsb_devsig_what m,
		      enum fsb_reason r)
{
	fsb_slot_notify_call(&s->notify, m, r);
}

/* Connect to the backend's socket; the fd (blocking, cloexec) or -errno.
 * Non-blocking while connecting: a full backlog must not stall the
 * loop (EAGAIN: try again later). */
static int sock_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return -(e == EINPROGRESS ? EAGAIN : e);
	}
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return fd;
}

static int sock_listen(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	/* A socket file left by an earlier run: remove it (only a socket,
	 * and only when nobody listens on it). */
	struct stat st;
	if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		int probe = sock_connect(path);
		if (probe >= 0) {
			close(probe);
			close(fd);
			return -EADDRINUSE;
		}
		unlink(path);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 4) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/*
 * Loop lock held.  Client mode: try again after the backoff.  A session
 * that ends within a second of its start (a backend that accepts, or
 * even starts, and then breaks the protocol) backs off like a failed
 * connect; one that ran longer starts again from the minimum.
 */
static void sess_retry_locked(struct vu_session *s)
{
	struct ev_loop *loop = fsb_loop();
	if (s->server || s->bare || !loop || ev_is_active(&s->tm))
		return;
	if (s->up_since_ns && fsb_now_ns() - s->up_since_ns > 1000000000ull)
		s->backoff_ms = VU_BACKOFF_MIN_MS;
	s->up_since_ns = 0;
	ev_timer_set(&s->tm, s->backoff_ms / 1000.0, 0.0);
	ev_timer_start(loop, &s->tm);
	s->backoff_ms = s->backoff_ms * 2 > VU_BACKOFF_MAX_MS ?
		VU_BACKOFF_MAX_MS : s->backoff_ms * 2;
}

/* Loop lock held.  The connection is over: close it, tell the port,
 * and look for the next one. */
static void sess_drop_locked(struct vu_session *s, bool mark,
			     enum fsb_reason why)
{
	struct ev_loop *loop = fsb_loop();
	if (loop)
		ev_io_stop(loop, &s->io);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->gen++;
	atomic_store(&s->link, false);
	if (mark && s->in_use)
		sess_mark(s, FSB_DEVSIG_GONE, why);
	sess_retry_locked(s);
}

static void sess_arm_locked(struct vu_session *s)
{
	struct ev_loop *loop = fsb_loop();
	if (!loop || s->fd < 0)
		return;
	ev_io_stop(loop, &s->io);
	ev_io_set(&s->io, s->fd, EV_READ);
	ev_io_start(loop, &s->io);
}

/* Loop callback: the session socket is readable between exchanges. */
static void on_sess_io(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	struct vu_session *s = w->data;
	char c;
	ssize_t n = recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		FSB_LOG_RL(FSB_LOG_ERR, "%s: vhost-user backend at %s sent an "
			   "unasked message; dropping the session", s->name,
			   s->path);
		sess_drop_locked(s, true, FSB_REASON_BROKEN);
	} else {
		FSB_LOG_RL(FSB_LOG_WARNING, "%s: vhost-user backend at %s "
			   "closed the session", s->name, s->path);
		sess_drop_locked(s, true, FSB_REASON_SESSION_CLOSED);
	}
}

/* Loop callback (server mode): a backend connects. */
static void on_sess_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	struct vu_session *s = w->data;
	int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (s->fd >= 0) {
		FSB_LOG_RL(FSB_LOG_WARNING, "%s: a second backend connected to "
			   "%s; refused (one session at a time)", s->name,
			   s->path);
		close(fd);
		return;
	}
	s->fd = fd;
	sess_arm_locked(s);
	fsb_log(FSB_LOG_NOTICE, "%s: vhost-user backend connected to %s",
		s->name, s->path);
	sess_mark(s, FSB_DEVSIG_APPEARED, FSB_REASON_SESSION_RESTORED);
}

/* Loop callback (client mode): try to reach the backend again. */
static void on_sess_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct vu_session *s = w->data;
	if (s->fd >= 0)
		return;
	int fd = sock_connect(s->path);
	if (fd < 0) {
		ev_timer_set(&s->tm, s->backoff_ms / 1000.0, 0.0);
		ev_timer_start(loop, &s->tm);
		s->backoff_ms = s->backoff_ms * 2 > VU_BACKOFF_MAX_MS ?
			VU_BACKOFF_MAX_MS : s->backoff_ms * 2;
		return;
	}
	s->fd = fd;
	sess_arm_locked(s);
	fsb_log(FSB_LOG_NOTICE, "%s: reconnected to vhost-user backend at %s",
		s->name, s->path);
	sess_mark(s, FSB_DEVSIG_APPEARED, FSB_REASON_SESSION_RESTORED);
}

/* The session of @sd, created (and, in server mode, listening) on first
 * use.  NULL with *rc on failure. */
static struct vu_session *sess_get(struct fsb_subdev *sd, int *rc)
{
	pthread_mutex_lock(&sess_lock);
	struct vu_session *s;
	for (s = sessions; s; s = s->next)
		if (s->key == sd)
			break;
	if (s) {
		pthread_mutex_unlock(&sess_lock);
		return s;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		pthread_mutex_unlock(&sess_lock);
		*rc = -ENOMEM;
		return NULL;
	}
	s->key = sd;
	const char *path = fsb_devspec_get(&sd->spec, "path");
	snprintf(s->path, sizeof(s->path), "%s", path ? path : "");
	snprintf(s->name, sizeof(s->name), "%s", sd->name);
	s->server = fsb_devspec_get_u64(&sd->spec, "server", 0) != 0;
	s->bare = sd->slot < 0;
	s->notify = sd->notify;
	s->fd = -1;
	s->lfd = -1;
	s->backoff_ms = VU_BACKOFF_MIN_MS;
	atomic_init(&s->link, false);
	pthread_mutex_init(&s->job.lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->job.cond, &ca);
	pthread_condattr_destroy(&ca);
	const char *mac = fsb_devspec_get(&sd->spec, "mac");
	if (!mac || fsb_mac_parse(mac, s->mac) < 0) {
		/* locally administered, unicast, random */
		if (getrandom(s->mac, sizeof(s->mac), 0) != sizeof(s->mac)) {
			uint64_t t = fsb_now_ns();
			memcpy(s->mac, &t, sizeof(s->mac));
		}
		s->mac[0] = (uint8_t)((s->mac[0] & 0xfc) | 0x02);
	}
	ev_io_init(&s->io, on_sess_io, -1, EV_READ);
	s->io.data = s;
	ev_io_init(&s->lio, on_sess_accept, -1, EV_READ);
	s->lio.data = s;
	ev_timer_init(&s->tm, on_sess_timer, 0.0, 0.0);
	s->tm.data = s;
	if (s->server) {
		int lfd = sock_listen(s->path);
		if (lfd < 0) {
			pthread_mutex_unlock(&sess_lock);
			fsb_log(FSB_LOG_ERR, "%s: cannot listen on %s: %s",
				sd->name, s->path, strerror(-lfd));
			pthread_cond_destroy(&s->job.cond);
			pthread_mutex_destroy(&s->job.lock);
			free(s);
			*rc = lfd;
			return NULL;
		}
		s->lfd = lfd;
		fsb_loop_lock();
		if (fsb_loop()) {
			ev_io_set(&s->lio, lfd, EV_READ);
			ev_io_start(fsb_loop(), &s->lio);
		}
		fsb_loop_unlock();
		fsb_loop_wake();
	}
	s->next = sessions;
	sessions = s;
	pthread_mutex_unlock(&sess_lock);
	return s;
}

/* Borrow the session's fd for an exchange (-1 when there is none). */
static int sess_take(struct vu_session *s)
{
	fsb_loop_lock();
	if (fsb_loop())
		ev_io_stop(fsb_loop(), &s->io);
	int fd = s->fd;
	fsb_loop_unlock();
	return fd;
}

/* Give the fd back after an exchange that ended with @rc: re-arm the
 * watcher, or drop the connection when the exchange failed. */
static void sess_put(struct vu_session *s, int rc)
{
	fsb_loop_lock();
	if (rc < 0)
		sess_drop_locked(s, false, FSB_REASON_BROKEN);
	else
		sess_arm_locked(s);
	fsb_loop_unlock();
	fsb_loop_wake();
}

static void vu_job_cancel(struct vu_session *s);

static void vu_release(struct fsb_subdev *sd)
{
	pthread_mutex_lock(&sess_lock);
	struct vu_session **pp = &sessions, *s;
	while ((s = *pp) && s->key != sd)
		pp = &s->next;
	if (!s) {
		pthread_mutex_unlock(&sess_lock);
		return;
	}
	*pp = s->next;
	pthread_mutex_unlock(&sess_lock);
	vu_job_cancel(s);
	fsb_loop_lock();
	struct ev_loop *loop = fsb_loop();
	if (loop) {
		ev_io_stop(loop, &s->io);
		ev_io_stop(loop, &s->lio);
		ev_timer_stop(loop, &s->tm);
	}
	if (s->fd >= 0)
		close(s->fd);
	if (s->lfd >= 0) {
		close(s->lfd);
		unlink(s->path);
	}
	fsb_loop_unlock();
	pthread_cond_destroy(&s->job.cond);
	pthread_mutex_destroy(&s->job.lock);
	free(s);
}

/* ------------------------------------------------------------------ */
/* Device                                                              */
/* ------------------------------------------------------------------ */

struct vu_dev;


struct vu_dev {
	struct fsb_subdev *sd;
	struct vu_session *sess;
	struct fsb_vhost_conn conn;
	uint64_t dev_features, features, proto;
	unsigned max_qp;                /* the backend's limit */
	uint16_t qsize;
	unsigned nqp;                   /* queue pairs set up */
	uint16_t hdr_len;
	int ring_fd;
	void *ring_mem;
	size_t ring_len, ring_stride;
	struct fsb_vnet_rxq *rxq[FSB_MAX_QUEUES];
	struct fsb_vnet_txq *txq[FSB_MAX_QUEUES];
	int kickfd[2 * FSB_MAX_QUEUES];
	int callfd[2 * FSB_MAX_QUEUES];
	bool used_before;               /* rings were handed out: reset */
	bool started;
	uint64_t known_gen[FSB_MAX_POOLS];
	uint64_t table_epoch;           /* fsb_mempool_epoch() of the table */
	struct fsb_vnet_watchdog wd;    /* TX stall (virtio_net.h) */
	/* the memory table of the next setup (vu_start -> vu_setup) */
	struct fsb_vhost_region regions[FSB_VHOST_MAX_REGIONS];
	int region_fds[FSB_VHOST_MAX_REGIONS];
	unsigned nregions;
};

static const struct fsb_opt_desc vu_opts[] = {
	{ "path", FSB_OPT_PATH, 0, 0 },
	{ "server", FSB_OPT_BOOL, 0, 1 },
	{ "queues", FSB_OPT_UINT, 1, FSB_MAX_QUEUES },
	{ "queue_size", FSB_OPT_UINT, 64, 4096 },
	{ "mac", FSB_OPT_MAC, 0, 0 },
	{ "reply_timeout", FSB_OPT_UINT, 100, 600000 },
	{ NULL, 0, 0, 0 },
};

static int vu_validate(const struct fsb_devspec *d, char *msg, size_t len)
{
	const char *path = fsb_devspec_get(d, "path");
	if (!path) {
		snprintf(msg, len, "virtio_user needs path=");
		return -EINVAL;
	}
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		snprintf(msg, len, "path= is longer than a Unix socket path "
			 "may be (%zu bytes)",
			 sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return -EINVAL;
	}
	uint64_t qs = fsb_devspec_get_u64(d, "queue_size", VU_QSIZE_DEFAULT);
	if (qs & (qs - 1)) {
		snprintf(msg, len, "queue_size=%llu is not a power of two",
			 (unsigned long long)qs);
		return -EINVAL;
	}
	return 0;
}

static void vu_log_exchange(struct vu_dev *d, const char *step, int rc)
{
	if (fsb_vhost_err_is_gone(rc))
		fsb_log(FSB_LOG_WARNING, "%s: %s: vhost-user backend at %s went "
			"away (%s)", d->sd->name, step, d->sess->path, d->conn.err);
	else
		fsb_log(FSB_LOG_ERR, "%s: %s: vhost-user backend at %s: %s",
			d->sd->name, step, d->sess->path, d->conn.err);
}

/* An exchange failed: a broken protocol is a broken device. */
static void vu_exchange_failed(struct vu_dev *d, const char *step, int rc)
{
	vu_log_exchange(d, step, rc);
	sess_put(d->sess, rc < 0 ? rc : -EIO);
	if (rc == -EPROTO || rc == -EIO)
		sess_mark(d->sess, FSB_DEVSIG_GONE, FSB_REASON_BROKEN);
}

/*
 * The handshake (job thread, or the caller's when it waits): features,
 * protocol features, queue count, owner.  0, or the failed step's -errno
 * with *@step naming it.
 */
static int vu_handshake(struct vu_dev *d, const char **stepp)
{
	int rc;
	const char *step = "GET_FEATURES";
	rc = fsb_vhost_get_u64(&d->conn, FSB_VHOST_GET_FEATURES,
			       &d->dev_features);
	if (rc < 0)
		goto fail;
	uint64_t want = (1ull << FSB_VIRTIO_F_VERSION_1) |
			(1ull << FSB_VIRTIO_NET_F_MRG_RXBUF) |
			(1ull << FSB_VIRTIO_NET_F_MAC) |
			(1ull << FSB_VIRTIO_NET_F_STATUS) |
			(1ull << FSB_VIRTIO_NET_F_MQ) |
			(1ull << FSB_VIRTIO_F_IN_ORDER) |
			(1ull << FSB_VHOST_F_PROTOCOL_FEATURES);
	/* debugging/bench knob: features (hex mask) not to negotiate */
	const char *off = getenv("FSB_VIRTIO_USER_FEATURES_OFF");
	if (off)
		want &= ~strtoull(off, NULL, 16);
	d->features = d->dev_features & want;
	d->max_qp = 1;
	if (d->features & (1ull << FSB_VHOST_F_PROTOCOL_FEATURES)) {
		uint64_t pf;
		step = "GET_PROTOCOL_FEATURES";
		rc = fsb_vhost_get_u64(&d->conn, FSB_VHOST_GET_PROTOCOL_FEATURES,
				       &pf);
		if (rc < 0)
			goto fail;
		d->proto = pf & ((1ull << FSB_VHOST_PROTO_F_MQ) |
				 (1ull << FSB_VHOST_PROTO_F_REPLY_ACK));
		step = "SET_PROTOCOL_FEATURES";
		rc = fsb_vhost_set_u64(&d->conn, FSB_VHOST_SET_PROTOCOL_FEATURES,
				       d->proto);
		if (rc < 0)
			goto fail;
		d->conn.reply_ack = d->proto & (1ull << FSB_VHOST_PROTO_F_REPLY_ACK);
		if (d->proto & (1ull << FSB_VHOST_PROTO_F_MQ)) {
			uint64_t nq;
			step = "GET_QUEUE_NUM";
			rc = fsb_vhost_get_u64(&d->conn, FSB_VHOST_GET_QUEUE_NUM,
					       &nq);
			if (rc < 0)
				goto fail;
			/* queue pairs; a backend claiming none is wrong */
			if (nq == 0) {
				snprintf(d->conn.err, sizeof(d->conn.err),
					 "GET_QUEUE_NUM says 0 queues");
				rc = -EPROTO;
				goto fail;
			}
			d->max_qp = nq > FSB_MAX_QUEUES ? FSB_MAX_QUEUES :
				(unsigned)nq;
		}
	}
	step = "SET_OWNER";
	rc = fsb_vhost_call(&d->conn, FSB_VHOST_SET_OWNER, NULL, 0, NULL, 0,
			    NULL);
	if (rc < 0)
		goto fail;
	fsb_log(FSB_LOG_INFO, "%s: vhost-user backend at %s: features 0x%llx, "
		"protocol 0x%llx, %u queue pairs; using 0x%llx",
		d->sd->name, d->sess->path, (unsigned long long)d->dev_features,
		(unsigned long long)d->proto, d->max_qp,
		(unsigned long long)d->features);
	d->hdr_len = d->features & ((1ull << FSB_VIRTIO_F_VERSION_1) |
				    (1ull << FSB_VIRTIO_NET_F_MRG_RXBUF)) ? 12 : 10;
	return 0;
fail:
	*stepp = step;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Exchanges that go on without their caller                          */
/* ------------------------------------------------------------------ */
/*
 * A probe's handshake and a start's setup are a dozen or more request
 * and reply pairs, each allowed reply_timeout (5 s) by default.  They
 * run on a thread of their own; the caller (the sync routine, on the
 * control thread or an application's) waits VU_STEP_WAIT_MS for it and
 * otherwise returns -EINPROGRESS (subdev.h): the port's other slots, and
 * every other port, are synced meanwhile.  When the exchange ends, the
 * thread applies its outcome to the session (re-arm, or drop it and
 * mark, as a synchronous failure would), and marks the slot STEP if
 * the caller went on; the sync routine then calls the op again, which
 * joins the thread and returns the outcome.  close and release cancel
 * an exchange under way: shutdown() of the socket ends its wait at once.
 */
static int vu_setup(struct vu_dev *d, const char **stepp);

/* The exchange's outcome, applied to the session (any thread). */
static void vu_job_finish(struct vu_dev *d, int kind, const char *step, int rc)
{
	if (rc < 0) {
		vu_exchange_failed(d, step, rc);
		return;
	}
	if (kind == VU_JOB_PROBE) {
		fsb_loop_lock();
		d->sess->in_use = true;
		fsb_loop_unlock();
	}
	sess_put(d->sess, 0);
}

static void *vu_job_main(void *arg)
{
	struct vu_session *s = arg;
	struct vu_job *j = &s->job;
	struct vu_dev *d = j->d;
	const char *step = "";
	int rc = j->kind == VU_JOB_PROBE ? vu_handshake(d, &step) :
		vu_setup(d, &step);
	pthread_mutex_lock(&j->lock);
	j->done = true;         /* no more I/O: cancel leaves the fd alone */
	bool cancelled = j->cancelled;
	pthread_mutex_unlock(&j->lock);
	if (cancelled) {
		/* the caller is closing: the connection (shut down under
		 * the exchange) goes, quietly */
		rc = -ECANCELED;
		sess_put(s, rc);
	} else {
		vu_job_finish(d, j->kind, step, rc);
	}
	pthread_mutex_lock(&j->lock);
	j->rc = rc;
	j->finished = true;
	bool tell = j->waiter_left && !cancelled;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);
	if (tell) {
		uint64_t ms = (fsb_now_ns() - j->t0_ns) / 1000000;
		fsb_log(rc < 0 ? FSB_LOG_WARNING : FSB_LOG_NOTICE, "%s: vhost-user "
			"%s with the backend at %s %s after %llu ms", s->name,
			j->kind == VU_JOB_PROBE ? "handshake" : "setup", s->path,
			rc < 0 ? "failed" : "done", (unsigned long long)ms);
		sess_mark(s, FSB_DEVSIG_STEP, FSB_REASON_ADMIN);
	}
	return NULL;
}

/*
 * Wait up to @ms (UINT_MAX: for ever) for the exchange to finish; then
 * join it and return its outcome (0 or -errno; d is j->d), else
 * -EINPROGRESS and remember that the caller went on.
 */
static int vu_job_wait(struct vu_session *s, unsigned ms)
{
	struct vu_job *j = &s->job;
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&j->lock);
	while (!j->finished) {
		if (ms == UINT_MAX)
			pthread_cond_wait(&j->cond, &j->lock);
		else if (ms == 0 ||
			 pthread_cond_timedwait(&j->cond, &j->lock, &dl) == ETIMEDOUT)
			break;
	}
	if (!j->finished) {
		if (!j->waiter_left)
			fsb_log(FSB_LOG_NOTICE, "%s: the vhost-user backend at %s "
				"is slow to answer the %s; going on without it "
				"(reply_timeout=%d ms per reply)", s->name, s->path,
				j->kind == VU_JOB_PROBE ? "handshake" : "setup",
				j->d->conn.timeout_ms);
		j->waiter_left = true;
		pthread_mutex_unlock(&j->lock);
		return -EINPROGRESS;
	}
	pthread_mutex_unlock(&j->lock);
	pthread_join(j->th, NULL);
	j->active = false;
	return j->rc;
}

/* Run @kind's exchange for @d on its thread and wait for it as above.
 * VU_JOB_NOTHREAD when no thread could be had (the caller runs it). */
static int vu_job_start(struct vu_session *s, struct fsb_subdev *sd,
			int kind, struct vu_dev *d)
{
	struct vu_job *j = &s->job;
	j->kind = kind;
	j->d = d;
	j->done = j->finished = j->waiter_left = j->cancelled = false;
	j->rc = 0;
	j->t0_ns = fsb_now_ns();
	fsb_loop_lock();
	j->gen = s->gen;
	fsb_loop_unlock();
	/* signals are for the application's threads (as for ours) */
	sigset_t all, old;
	sigfillset(&all);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGSEGV);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&j->th, NULL, vu_job_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return VU_JOB_NOTHREAD;
	j->active = true;
	/* a bare sub-device has no port to come back to it: it waits */
	return vu_job_wait(s, sd->slot < 0 ? UINT_MAX : VU_STEP_WAIT_MS);
}

/*
 * The outcome of a @kind exchange the last call left under way:
 * -EINPROGRESS while it runs, its 0 or -errno once over (*dp: its
 * device), or VU_JOB_NONE when there is none.  A handshake that
 * went through on a connection since dropped is stale: forgotten
 * (none), and such a setup is -ENOTCONN; a failed one is reported (its
 * failure dropped it).
 */
static int vu_job_result(struct vu_session *s, struct fsb_subdev *sd,
			 int kind, struct vu_dev **dp)
{
	struct vu_job *j = &s->job;
	if (!j->active || j->kind != kind)
		return VU_JOB_NONE;
	int rc = vu_job_wait(s, sd->slot < 0 ? UINT_MAX : 0);
	if (rc == -EINPROGRESS)
		return rc;
	*dp = j->d;
	j->d = NULL;
	fsb_loop_lock();
	bool stale = j->gen != s->gen;
	fsb_loop_unlock();
	if (stale && rc == 0 && kind == VU_JOB_PROBE) {
		free(*dp);
		*dp = NULL;
		return VU_JOB_NONE;
	}
	if (stale && rc == 0)
		return -ENOTCONN;       /* set up a session that is gone */
	return rc;
}

/* End an exchange under way (close, release): its wait ends at once.
 * A handshake's device is freed; a setup's is the caller's. */
static void vu_job_cancel(struct vu_session *s)
{
	struct vu_job *j = &s->job;
	if (!j->active)
		return;
	pthread_mutex_lock(&j->lock);
	j->cancelled = true;
	if (!j->done && j->d)
		shutdown(j->d->conn.fd, SHUT_RDWR);
	pthread_mutex_unlock(&j->lock);
	pthread_join(j->th, NULL);
	j->active = false;
	if (j->kind == VU_JOB_PROBE)
		free(j->d);
	j->d = NULL;
}

static int vu_probe(struct fsb_subdev *sd)
{
	int rc = 0;
	struct vu_session *s = sess_get(sd, &rc);
	if (!s)
		return rc;
	struct vu_dev *d = NULL;
	/* a handshake under way, or finished since the last call */
	rc = vu_job_result(s, sd, VU_JOB_PROBE, &d);
	if (rc != VU_JOB_NONE) {
		if (rc == 0)
			sd->priv = d;
		else if (rc != -EINPROGRESS)
			free(d);
		return rc;
	}
	int fd = sess_take(s);
	if (fd < 0 && !s->server) {
		fd = sock_connect(s->path);
		fsb_loop_lock();
		if (fd >= 0 && s->fd < 0) {
			s->fd = fd;
		} else if (fd >= 0) {
			close(fd);      /* the timer beat us to it */
			fd = s->fd;
		}
		fsb_loop_unlock();
		if (fd < 0) {
			fsb_log(FSB_LOG_WARNING, "%s: cannot connect to vhost-user "
				"backend at %s: %s; retrying in the background",
				sd->name, s->path, strerror(-fd));
			sess_put(s, fd);
			return fd;
		}
	}
	if (fd < 0 && s->server && sd->slot < 0) {
		/* bare: nobody would re-probe us, so wait here */
		uint64_t dl = fsb_now_ns() + VU_BARE_ACCEPT_WAIT_MS * 1000000ull;
		while (fd < 0 && fsb_now_ns() < dl) {
			struct timespec ts = { 0, 10000000 };
			nanosleep(&ts, NULL);
			fd = sess_take(s);
		}
	}
	if (fd < 0) {
		fsb_log(FSB_LOG_INFO, "%s: no vhost-user backend connected to %s "
			"yet", sd->name, s->path);
		return -ENOTCONN;
	}

	d = calloc(1, sizeof(*d));
	if (!d) {
		sess_put(s, 0);
		return -ENOMEM;
	}
	d->sd = sd;
	d->sess = s;
	d->conn.fd = fd;
	d->conn.timeout_ms = (int)fsb_devspec_get_u64(&sd->spec, "reply_timeout",
						      VU_REPLY_TIMEOUT_MS);
	d->ring_fd = -1;
	for (unsigned i = 0; i < 2 * FSB_MAX_QUEUES; i++)
		d->kickfd[i] = d->callfd[i] = -1;
	d->qsize = (uint16_t)fsb_devspec_get_u64(&sd->spec, "queue_size",
						 VU_QSIZE_DEFAULT);
	rc = vu_job_start(s, sd, VU_JOB_PROBE, d);
	if (rc == VU_JOB_NOTHREAD) {
		/* no thread to be had: do it here */
		const char *step = "";
		rc = vu_handshake(d, &step);
		vu_job_finish(d, VU_JOB_PROBE, step, rc);
	}
	if (rc == -EINPROGRESS)
		return rc;      /* d is the job's until vu_job_result */
	s->job.d = NULL;
	if (rc < 0) {
		free(d);
		return rc;
	}
	sd->priv = d;
	return 0;
}

static void vu_kick(void *arg)
{
	int fd = (int)(intptr_t)arg;
	uint64_t one = 1;
	ssize_t n = write(fd, &one, sizeof(one));
	(void)n;        /* a full counter still wakes the backend */
}

static void vu_on_broken(void *arg, enum fsb_vq_fault f)
{
	(void)f;
	struct vu_dev *d = arg;
	atomic_store(&d->sess->link, false);
	sess_mark(d->sess, FSB_DEVSIG_GONE, FSB_REASON_BROKEN);
}

static void vu_queues_free(struct vu_dev *d)
{
	for (unsigned q = 0; q < FSB_MAX_QUEUES; q++) {
		if (d->rxq[q]) {
			fsb_vq_reclaim(&d->rxq[q]->vq, fsb_vnet_buf_free, NULL);
			fsb_vq_fini(&d->rxq[q]->vq);
			free(d->rxq[q]);
			d->rxq[q] = NULL;
		}
		if (d->txq[q]) {
			fsb_vq_reclaim(&d->txq[q]->vq, fsb_vnet_buf_free, NULL);
			fsb_vq_fini(&d->txq[q]->vq);
			free(d->txq[q]);
			d->txq[q] = NULL;
		}
	}
	for (unsigned i = 0; i < 2 * FSB_MAX_QUEUES; i++) {
		if (d->kickfd[i] >= 0)
			close(d->kickfd[i]);
		if (d->callfd[i] >= 0)
			close(d->callfd[i]);
		d->kickfd[i] = d->callfd[i] = -1;
	}
	if (d->ring_mem)
		munmap(d->ring_mem, d->ring_len);
	if (d->ring_fd >= 0)
		close(d->ring_fd);
	d->ring_mem = NULL;
	d->ring_fd = -1;
	d->nqp = 0;
}

static int vu_configure(struct fsb_subdev *sd)
{
	struct vu_dev *d = sd->priv;
	unsigned nqp = sd->conf.nb_rxq > sd->conf.nb_txq ?
		sd->conf.nb_rxq : sd->conf.nb_txq;
	if (nqp > d->max_qp) {
		fsb_log(FSB_LOG_ERR, "%s: %u queue pairs wanted, the vhost-user "
			"backend at %s offers at most %u", sd->name, nqp,
			d->sess->path, d->max_qp);
		return -EINVAL;
	}
	uint64_t qopt = fsb_devspec_get_u64(&sd->spec, "queues", 0);
	if (qopt && nqp > qopt) {
		fsb_log(FSB_LOG_ERR, "%s: %u queue pairs wanted, queues=%llu",
			sd->name, nqp, (unsigned long long)qopt);
		return -EINVAL;
	}
	vu_queues_free(d);
	d->used_before = false;
	d->ring_stride = fsb_vq_mem_size(d->qsize);
	d->ring_len = d->ring_stride * 2 * nqp;
	char name[64];
	snprintf(name, sizeof(name), "fsb-vring-%s", sd->name);
	d->ring_fd = memfd_create(name, MFD_CLOEXEC);
	int rc = 0;
	if (d->ring_fd < 0 || ftruncate(d->ring_fd, (off_t)d->ring_len) < 0) {
		rc = -errno;
		fsb_log(FSB_LOG_ERR, "%s: ring memory (memfd of %zu bytes): %s",
			sd->name, d->ring_len, strerror(-rc));
		goto fail;
	}
	d->ring_mem = mmap(NULL, d->ring_len, PROT_READ | PROT_WRITE,
			   MAP_SHARED, d->ring_fd, 0);
	if (d->ring_mem == MAP_FAILED) {
		d->ring_mem = NULL;
		rc = -errno;
		goto fail;
	}
	d->nqp = nqp;
	for (unsigned q = 0; q < nqp; q++) {
		struct fsb_vnet_rxq *rq = aligned_alloc(FSB_CACHE_LINE,
			(sizeof(*rq) + FSB_CACHE_LINE - 1) & ~(size_t)(FSB_CACHE_LINE - 1));
		struct fsb_vnet_txq *tq = aligned_alloc(FSB_CACHE_LINE,
			(sizeof(*tq) + FSB_CACHE_LINE - 1) & ~(size_t)(FSB_CACHE_LINE - 1));
		if (!rq || !tq) {
			free(rq);
			free(tq);
			rc = -ENOMEM;
			goto fail;
		}
		memset(rq, 0, sizeof(*rq));
		memset(tq, 0, sizeof(*tq));
		d->rxq[q] = rq;
		d->txq[q] = tq;
		char *mem = (char *)d->ring_mem + d->ring_stride * 2 * q;
		bool in_order = d->features & (1ull << FSB_VIRTIO_F_IN_ORDER);
		rc = fsb_vq_init(&rq->vq, mem, d->qsize, true, false, in_order,
				 sd->name);
		if (rc == 0)
			rc = fsb_vq_init(&tq->vq, mem + d->ring_stride, d->qsize,
					 false, false, in_order, sd->name);
		if (rc < 0)
			goto fail;
		for (int k = 0; k < 2; k++) {
			int i = 2 * (int)q + k;
			d->kickfd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			d->callfd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (d->kickfd[i] < 0 || d->callfd[i] < 0) {
				rc = -errno;
				goto fail;
			}
		}
		rq->vq.kick = tq->vq.kick = vu_kick;
		rq->vq.kick_arg = (void *)(intptr_t)d->kickfd[2 * q];
		tq->vq.kick_arg = (void *)(intptr_t)d->kickfd[2 * q + 1];
		rq->vq.on_broken = tq->vq.on_broken = vu_on_broken;
		rq->vq.broken_arg = tq->vq.broken_arg = d;
		rq->port_id = sd->port_id;
		rq->qid = (uint16_t)q;
		rq->hdr_len = tq->hdr_len = d->hdr_len;
		rq->mrg = d->features & (1ull << FSB_VIRTIO_NET_F_MRG_RXBUF);
		tq->known_gen = d->known_gen;
		tq->table_epoch = &d->table_epoch;
		sd->rxq[q] = q < sd->conf.nb_rxq ? rq : NULL;
		sd->txq[q] = q < sd->conf.nb_txq ? tq : NULL;
	}
	return 0;
fail:
	if (rc == 0)
		rc = -ENOMEM;
	vu_queues_free(d);
	memset(sd->rxq, 0, sizeof(sd->rxq));
	memset(sd->txq, 0, sizeof(sd->txq));
	return rc;
}

static int vu_mem_table(struct vu_dev *d, struct fsb_vhost_region *r,
			int *fds, unsigned *n)
{
	struct fsb_pool_snap snap[FSB_MAX_POOLS];
	int np = fsb_mempool_snapshot(snap, FSB_MAX_POOLS, &d->table_epoch);
	unsigned k = 0;
	memset(d->known_gen, 0, sizeof(d->known_gen));
	for (int p = 0; p < np && p < FSB_MAX_POOLS; p++) {
		if (k + snap[p].nregions > FSB_VHOST_MAX_REGIONS - 1) {
			fsb_log(FSB_LOG_ERR, "%s: the mempools need more than the "
				"%u memory regions vhost-user allows (with our "
				"rings); create fewer or larger pools",
				d->sd->name, FSB_VHOST_MAX_REGIONS);
			return -E2BIG;
		}
		for (unsigned i = 0; i < snap[p].nregions; i++) {
			const struct fsb_mem_region *m = &snap[p].regions[i];
			r[k].guest_addr = (uintptr_t)m->addr;
			r[k].user_addr = (uintptr_t)m->addr;
			r[k].size = m->size;
			r[k].mmap_offset = m->offset;
			fds[k] = m->fd;
			k++;
		}
		d->known_gen[snap[p].id] = snap[p].gen;
	}
	r[k].guest_addr = r[k].user_addr = (uintptr_t)d->ring_mem;
	r[k].size = d->ring_len;
	r[k].mmap_offset = 0;
	fds[k] = d->ring_fd;
	k++;
	*n = k;
	return 0;
}

/*
 * The setup exchange (job thread, or the caller's): features, memory
 * table, each ring, enable.  0, or the failed step's -errno with *@stepp
 * naming it.
 */
static int vu_setup(struct vu_dev *d, const char **stepp)
{
	const char *step = "SET_FEATURES";
	int rc = fsb_vhost_set_u64(&d->conn, FSB_VHOST_SET_FEATURES, d->features);
	if (rc < 0)
		goto fail;
	step = "SET_MEM_TABLE";
	rc = fsb_vhost_set_mem_table(&d->conn, d->regions, d->region_fds,
				     d->nregions);
	if (rc < 0)
		goto fail;
	for (unsigned i = 0; i < 2 * d->nqp; i++) {
		struct fsb_vq *vq = i & 1 ? &d->txq[i / 2]->vq : &d->rxq[i / 2]->vq;
		step = "SET_VRING_NUM";
		rc = fsb_vhost_set_state(&d->conn, FSB_VHOST_SET_VRING_NUM, i,
					 d->qsize);
		if (rc < 0)
			goto fail;
		step = "SET_VRING_BASE";
		rc = fsb_vhost_set_state(&d->conn, FSB_VHOST_SET_VRING_BASE, i, 0);
		if (rc < 0)
			goto fail;
		struct fsb_vhost_vring_addr a = {
			.index = i,
			.desc = (uintptr_t)fsb_vq_desc_addr(vq),
			.used = (uintptr_t)fsb_vq_used_addr(vq),
			.avail = (uintptr_t)fsb_vq_avail_addr(vq),
		};
		step = "SET_VRING_ADDR";
		rc = fsb_vhost_set_vring_addr(&d->conn, &a);
		if (rc < 0)
			goto fail;
		step = "SET_VRING_KICK";
		rc = fsb_vhost_set_vring_fd(&d->conn, FSB_VHOST_SET_VRING_KICK, i,
					    d->kickfd[i]);
		if (rc < 0)
			goto fail;
		step = "SET_VRING_CALL";
		rc = fsb_vhost_set_vring_fd(&d->conn, FSB_VHOST_SET_VRING_CALL, i,
					    d->callfd[i]);
		if (rc < 0)
			goto fail;
	}
	if (d->features & (1ull << FSB_VHOST_F_PROTOCOL_FEATURES)) {
		step = "SET_VRING_ENABLE";
		for (unsigned i = 0; i < 2 * d->nqp; i++) {
			rc = fsb_vhost_set_state(&d->conn,
						 FSB_VHOST_SET_VRING_ENABLE, i, 1);
			if (rc < 0)
				goto fail;
		}
	}
	return 0;
fail:
	*stepp = step;
	return rc;
}

/* The setup went through: the link is up. */
static void vu_started(struct vu_dev *d)
{
	struct vu_session *s = d->sess;
	fsb_loop_lock();
	s->up_since_ns = fsb_now_ns();
	fsb_loop_unlock();
	fsb_vnet_watchdog_reset(&d->wd);
	atomic_store(&s->link, true);
	d->started = true;
}

static int vu_start(struct fsb_subdev *sd)
{
	struct vu_dev *d = sd->priv;
	struct vu_session *s = d->sess;
	/* a setup under way, or finished since the last call */
	struct vu_dev *jd = NULL;
	int rc = vu_job_result(s, sd, VU_JOB_START, &jd);
	if (rc != VU_JOB_NONE) {
		if (rc == 0)
			vu_started(d);
		return rc;
	}
	if (d->used_before) {
		/* a restart: what the backend held is ours again (it stopped
		 * at GET_VRING_BASE, or the session is new) */
		for (unsigned q = 0; q < d->nqp; q++) {
			fsb_vq_reclaim(&d->rxq[q]->vq, fsb_vnet_buf_free, NULL);
			fsb_vnet_tx_reclaim_unsent(d->txq[q]);
			d->rxq[q]->skip = 0;
		}
	}
	for (unsigned q = 0; q < sd->conf.nb_rxq; q++) {
		if (!sd->rx_pool[q]) {
			fsb_log(FSB_LOG_ERR, "%s: rx queue %u has no mempool",
				sd->name, q);
			return -EINVAL;
		}
		d->rxq[q]->pool = sd->rx_pool[q];
		d->rxq[q]->cap = sd->rx_pool[q]->data_room - FSB_BUF_HEADROOM +
			d->hdr_len;
	}
	rc = vu_mem_table(d, d->regions, d->region_fds, &d->nregions);
	if (rc < 0)
		return rc;
	for (unsigned q = 0; q < sd->conf.nb_rxq; q++) {
		if (d->known_gen[d->rxq[q]->pool->id] != d->rxq[q]->pool->gen) {
			fsb_log(FSB_LOG_ERR, "%s: rx queue %u's mempool is not a "
				"live pool (freed?)", sd->name, q);
			return -EINVAL;
		}
	}
	int fd = sess_take(s);
	if (fd < 0) {
		fsb_log(FSB_LOG_WARNING, "%s: vhost-user session at %s is gone",
			sd->name, s->path);
		return -ENOTCONN;
	}
	d->conn.fd = fd;
	d->used_before = true;
	for (unsigned q = 0; q < sd->conf.nb_rxq; q++)
		fsb_vnet_rx_refill(d->rxq[q]);

	rc = vu_job_start(s, sd, VU_JOB_START, d);
	if (rc == VU_JOB_NOTHREAD) {
		/* no thread to be had: do it here */
		const char *step = "";
		rc = vu_setup(d, &step);
		vu_job_finish(d, VU_JOB_START, step, rc);
	}
	if (rc != -EINPROGRESS)
		s->job.d = NULL;
	if (rc == 0)
		vu_started(d);
	return rc;
}

/*
 * After stop (the backend stopped at GET_VRING_BASE, or the session is
 * gone; TX left this slot a grace period ago): what the TX rings still
 * hold is ours again.  Frames the backend never took are dropped and
 * counted as tx_errors, once, and said (a stalled backend's ring is
 * full of them).
 */
static void vu_tx_reclaim(struct vu_dev *d)
{
	unsigned unsent = 0;
	for (unsigned q = 0; q < d->nqp; q++)
		unsent += fsb_vnet_tx_reclaim_unsent(d->txq[q]);
	if (unsent)
		fsb_log(FSB_LOG_NOTICE, "%s: %u tx frames the vhost-user "
			"backend never took were dropped (tx_errors)",
			d->sd->name, unsent);
}

static void vu_stop(struct fsb_subdev *sd)
{
	struct vu_dev *d = sd->priv;
	struct vu_session *s = d->sess;
	atomic_store(&s->link, false);
	d->started = false;
	/* The datapath may still poll RX until the port's next grace
	 * period: leave the rings alone, only stop the backend. */
	int fd = sess_take(s);
	if (fd < 0) {
		vu_tx_reclaim(d);
		return;
	}
	d->conn.fd = fd;
	int keep = d->conn.timeout_ms;
	if (d->conn.timeout_ms > VU_STOP_WAIT_MS)
		d->conn.timeout_ms = VU_STOP_WAIT_MS;
	int rc = 0;
	const char *step = "SET_VRING_ENABLE";
	if (d->features & (1ull << FSB_VHOST_F_PROTOCOL_FEATURES)) {
		for (unsigned i = 0; i < 2 * d->nqp && rc == 0; i++)
			rc = fsb_vhost_set_state(&d->conn,
						 FSB_VHOST_SET_VRING_ENABLE, i, 0);
	}
	for (unsigned i = 0; i < 2 * d->nqp && rc == 0; i++) {
		uint32_t num;
		step = "GET_VRING_BASE";
		rc = fsb_vhost_get_vring_base(&d->conn, i, &num);
	}
	d->conn.timeout_ms = keep;
	if (rc < 0) {
		vu_log_exchange(d, step, rc);
		sess_put(s, rc);
	} else {
		sess_put(s, 0);
	}
	vu_tx_reclaim(d);
}

static void vu_close(struct fsb_subdev *sd)
{
	struct vu_dev *d = sd->priv;
	if (!d)
		return;
	struct vu_session *s = d->sess;
	vu_job_cancel(s);       /* a setup under way */
	vu_queues_free(d);
	/* Our side ends the session: the backend forgets the device and
	 * its mappings.  In client mode the reconnect starts at once (the
	 * slot may be gone and waiting for it); release stops it when the
	 * slot goes for good. */
	fsb_loop_lock();
	s->in_use = false;
	struct ev_loop *loop = fsb_loop();
	if (loop)
		ev_io_stop(loop, &s->io);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->gen++;
	atomic_store(&s->link, false);
	sess_retry_locked(s);
	fsb_loop_unlock();
	fsb_loop_wake();
	free(d);
	sd->priv = NULL;
}

/* The datapath is virtio_net.c's (fsb_vnet_rx_burst, fsb_vnet_tx_burst). */

/* ------------------------------------------------------------------ */
/* Info and config                                                     */
/* ------------------------------------------------------------------ */

static unsigned vu_rx_pending(struct fsb_subdev *sd)
{
	struct vu_dev *d = sd->priv;
	unsigned n = 0;
	if (!d)
		return 0;
	for (unsigned q = 0; q < sd->conf.nb_rxq && q < d->nqp; q++)
		n += fsb_vq_used_count(&d->rxq[q]->vq);
	return n;
}

static unsigned vu_tx_pending(struct fsb_subdev *sd)
{
	struct vu_dev *d = sd->priv;
	unsigned n = 0;
	if (!d || !d->started)
		return 0;
	for (unsigned q = 0; q < sd->conf.nb_txq && q < d->nqp; q++)
		n += fsb_vnet_tx_pending(d->txq[q]);
	return n;
}

/* The control thread's look at the rings while started: the TX stall
 * watchdog (virtio_net.h), every stall_ms / 5 (at most 10 ms). */
static uint64_t vu_watch(struct fsb_subdev *sd, uint64_t now)
{
	struct vu_dev *d = sd->priv;
	if (!d || !d->started)
		return 0;
	return fsb_vnet_watchdog_run(&d->wd, sd, d->txq,
				     sd->conf.nb_txq < d->nqp ? sd->conf.nb_txq :
				     d->nqp, now);
}

/* The emulated config space's status: LINK_UP while the session is up,
 * no ring broke and the backend uses what we give it (the watchdog). */
static int vu_link_get(struct fsb_subdev *sd, struct fsb_link *l)
{
	struct vu_dev *d = sd->priv;
	memset(l, 0, sizeof(*l));
	if (!d)
		return 0;
	l->up = d->started && atomic_load(&d->sess->link) &&
		!fsb_vnet_watchdog_stalled(&d->wd);
	for (unsigned q = 0; q < d->nqp && l->up; q++)
		if (atomic_load(&d->rxq[q]->vq.fault) ||
		    atomic_load(&d->txq[q]->vq.fault))
			l->up = false;
	l->speed_mbps = 10000;
	l->full_duplex = true;
	return 0;
}

static int vu_stats_get(struct fsb_subdev *sd, struct fsb_subdev_stats *st)
{
	struct vu_dev *d = sd->priv;
	memset(st, 0, sizeof(*st));
	if (!d)
		return 0;
	for (unsigned q = 0; q < d->nqp; q++)
		fsb_vnet_stats_add(d->rxq[q], d->txq[q], st);
	return 0;
}

static int vu_stats_reset(struct fsb_subdev *sd)
{
	struct vu_dev *d = sd->priv;
	if (!d)
		return 0;
	for (unsigned q = 0; q < d->nqp; q++)
		fsb_vnet_stats_reset(d->rxq[q], d->txq[q]);
	return 0;
}

static int vu_mac_get(struct fsb_subdev *sd, uint8_t mac[6])
{
	struct vu_dev *d = sd->priv;
	if (!d)
		return -ENODEV;
	memcpy(mac, d->sess->mac, 6);
	return 0;
}

/* The config space is ours (emulated): the MAC is what we say it is.
 * The backend does not filter on it. */
static int vu_mac_set(struct fsb_subdev *sd, const uint8_t mac[6])
{
	struct vu_dev *d = sd->priv;
	if (!d)
		return -ENODEV;
	memcpy(d->sess->mac, mac, 6);
	return 0;
}

const struct fsb_subdev_ops fsb_subdev_virtio_user_ops = {
	.desc = { .kind = "virtio_user", .opts = vu_opts, .validate = vu_validate },
	.probe = vu_probe,
	.configure = vu_configure,
	.start = vu_start,
	.stop = vu_stop,
	.close = vu_close,
	.release = vu_release,
	.rx_burst = fsb_vnet_rx_burst,
	.tx_burst = fsb_vnet_tx_burst,
	.rx_pending = vu_rx_pending,
	.tx_pending = vu_tx_pending,
	.link_get = vu_link_get,
	.watch = vu_watch,
	.stats_get = vu_stats_get,
	.stats_reset = vu_stats_reset,
	.mac_get = vu_mac_get,
	.mac_set = vu_mac_set,
};
