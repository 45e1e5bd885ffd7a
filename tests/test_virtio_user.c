/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_virtio_user.c - the virtio_user kind against the real DPDK
 * vhost-user backend: dpdk-testpmd with net_vhost in io mode sends every
 * frame it receives back out of the same port, so what we send must
 * come back.  Then the backend is stopped (session closed: the slot goes
 * and the port loses its path) and started again (we reconnect: the
 * slot comes back and frames flow again).  A quick sanity check; the
 * interop suite lives in its own script.
 *
 * Skips (77) only when dpdk-testpmd is not installed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

extern char **environ;

#define TESTPMD "/usr/bin/dpdk-testpmd"

static char sock_path[64];

/* Is a unix socket listening on @path?  /proc/net/unix shows the
 * __SO_ACCEPTCON flag (0x10000) once listen() was called: testpmd
 * creates the socket file at bind() and listens later, and a connect in
 * between is refused (seen under load). */
static bool unix_listening(const char *path)
{
	FILE *f = fopen("/proc/net/unix", "r");
	char line[512], sp[256];
	unsigned long flags;
	bool yes = false;
	if (!f)
		return false;
	while (!yes && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %255s", &flags, sp) == 2 &&
		    strcmp(sp, path) == 0 && (flags & 0x10000))
			yes = true;
	fclose(f);
	return yes;
}

/* Start testpmd with net_vhost on sock_path: the vhost-user server
 * (we connect), or with @client the client (it connects to us). */
static pid_t testpmd_start_q(unsigned n, bool client, unsigned nq)
{
	char prefix[32], vdev[128], log[64], rxq[16], txq[16];
	snprintf(prefix, sizeof(prefix), "--file-prefix=vq%d_%u", (int)getpid(), n);
	snprintf(vdev, sizeof(vdev), "net_vhost0,iface=%s,queues=%u%s", sock_path,
		 nq, client ? ",client=1" : "");
	snprintf(rxq, sizeof(rxq), "--rxq=%u", nq);
	snprintf(txq, sizeof(txq), "--txq=%u", nq);
	snprintf(log, sizeof(log), "/tmp/fsb-vq-%d-testpmd%u.log", (int)getpid(), n);
	if (!client)
		unlink(sock_path);
	char *argv[] = {
		"timeout", "-k", "2", "60", TESTPMD, "--no-huge", "--no-pci",
		"-m", "512", "--lcores", "0@0,1@1", prefix, "--vdev", vdev,
		"--", "--stats-period", "1", "--forward-mode=io",
		"--total-num-mbufs=16384", rxq, txq, NULL,
	};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	/* its own process group, so that a stop can take timeout and
	 * testpmd down together */
	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&at, 0);
	pid_t pid;
	int rc = posix_spawnp(&pid, "timeout", &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	assert_int_equal(rc, 0);
	struct stat st;
	if (!client && !WAIT_UNTIL(stat(sock_path, &st) == 0 &&
				   unix_listening(sock_path), 20000))
		fail_msg("testpmd did not listen on %s (see %s)", sock_path, log);
	return pid;
}

static pid_t testpmd_start_ex(unsigned n, bool client)
{
	return testpmd_start_q(n, client, 1);
}

static pid_t testpmd_start(unsigned n)
{
	return testpmd_start_ex(n, false);
}

static void testpmd_stop_ex(pid_t pid, bool client)
{
	kill(pid, SIGINT);
	int status;
	if (!WAIT_UNTIL(waitpid(pid, &status, WNOHANG) == pid, 15000)) {
		kill(-pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	kill(-pid, SIGKILL);    /* nothing of the group may outlive it */
	if (!client)
		unlink(sock_path);
}

static void testpmd_stop(pid_t pid)
{
	testpmd_stop_ex(pid, false);
}

/*
 * Send numbered frames in small batches until @n distinct ones came
 * back (or 10 s); returns how many came back.  A backend may drop the
 * first frames while its own port is still coming up (testpmd as a
 * vhost-user client does), so a window that stays unanswered for
 * 100 ms is written off and the next one goes.
 */
static unsigned echo(struct fsb_port *p, struct fsb_mempool *mp,
		     uint64_t base, unsigned n)
{
	static unsigned char seen[4096];
	assert_true(n <= sizeof(seen) / 2);
	memset(seen, 0, sizeof(seen));
	unsigned back = 0, sent = 0, window = 0;
	uint64_t dl = t_now_ms() + 10000, last = t_now_ms();
	while (back < n && t_now_ms() < dl) {
		if (window >= 64 && t_now_ms() - last > 100) {
			window = 0;     /* written off */
			last = t_now_ms();
		}
		if (sent < sizeof(seen) && window < 64) {
			struct fsb_buf *b[16];
			unsigned k = 16;
			assert_int_equal(fsb_buf_alloc_bulk(mp, b, k), 0);
			for (unsigned i = 0; i < k; i++) {
				unsigned char *d = fsb_buf_data(b[i]);
				/* garbage where the virtio-net header goes:
				 * the frame must come back intact anyway (DPDK's
				 * backend ignores the header without offloads,
				 * so this cannot prove the header is cleared) */
				if ((sent + i) & 1)
					memset(d - 12, 0xff, 12);
				memset(d, 0, 64);
				memset(d, 0xff, 6);             /* broadcast */
				d[6] = 0x02;
				d[12] = 0x88;                   /* local ethertype */
				d[13] = 0xb5;
				uint64_t s = base + sent + i;
				memcpy(d + 14, &s, sizeof(s));
				b[i]->data_len = 64;
				b[i]->pkt_len = 64;
			}
			unsigned got = t_tx(p, b, (uint16_t)k);
			fsb_buf_free_bulk(b + got, k - got);
			sent += got;
			window += got;
		}
		struct fsb_buf *r[32];
		unsigned g = t_rx(p, r, 32);
		for (unsigned i = 0; i < g; i++) {
			uint64_t s;
			assert_int_equal(r[i]->pkt_len, 64);
			assert_int_equal(r[i]->port, fsb_port_id(p));
			memcpy(&s, (char *)fsb_buf_data(r[i]) + 14, sizeof(s));
			/* only what we sent, each once */
			assert_true(s >= base && s < base + sent);
			if (seen[s - base])
				fail_msg("frame %llu came back twice (base %llu, sent %u, back %u)", (unsigned long long)s, (unsigned long long)base, sent, back);
			seen[s - base] = 1;
			back++;
			if (window)
				window--;
			last = t_now_ms();
		}
		fsb_buf_free_bulk(r, g);
		if (!g)
			t_sleep_ms(1);
	}
	return back;
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

static void test_echo_and_reconnect(void **state)
{
	struct env *e = *state;
	pid_t pid = testpmd_start(0);
	char spec[160];
	snprintf(spec, sizeof(spec), "vq0,dev(virtio_user,path=%s,queue_size=256)",
		 sock_path);
	struct fsb_port *p = port_up(e->ctx, spec, e->mp, &e->log);
	/* a backend slow to answer is set up after the start returned */
	if (!WAIT_UNTIL(active_slot(p) == 0, 10000))
		fail_msg("the virtio_user slot did not come up within 10 s");

	/* testpmd forwards only once its port saw the device come up */
	unsigned back = echo(p, e->mp, 0, 1000);
	if (back < 1000)
		fail_msg("%u of 1000 frames came back", back);

	/* the backend goes: session closed, no path */
	testpmd_stop(pid);
	if (!WAIT_UNTIL(active_slot(p) < 0, 5000))
		fail_msg("slot still active after the backend went away");
	assert_true(has_reason(&e->log, FSB_REASON_SESSION_CLOSED));

	/* it comes back: we reconnect, the slot comes back, frames flow */
	pid = testpmd_start(1);
	if (!WAIT_UNTIL(active_slot(p) == 0, 10000))
		fail_msg("slot did not come back after the backend restarted");
	assert_true(has_reason(&e->log, FSB_REASON_SESSION_RESTORED));
	back = echo(p, e->mp, 100000, 1000);
	if (back < 1000)
		fail_msg("after reconnect, %u of 1000 frames came back", back);

	/* a pool created after the memory table went out: the backend
	 * could not read its buffers, so they are dropped and counted */
	struct fsb_mempool *late = fsb_mempool_create(e->ctx, "late", 256, 2048,
						      0, -1);
	assert_non_null(late);
	uint64_t err0 = xstat(p, "sub0_tx_errors");
	struct fsb_buf *lb[8];
	assert_int_equal(fsb_buf_alloc_bulk(late, lb, 8), 0);
	for (unsigned i = 0; i < 8; i++)
		lb[i]->data_len = lb[i]->pkt_len = 64;
	assert_int_equal(t_tx(p, lb, 8), 8);
	assert_int_equal(xstat(p, "sub0_tx_errors") - err0, 8);
	assert_int_equal(fsb_mempool_avail(late), 256);

	/* stop/start: the rings are handed back and set up afresh, with a
	 * memory table that now has the late pool too */
	assert_int_equal(fsb_port_stop(p), 0);
	assert_int_equal(fsb_port_start(p), 0);
	fsb_queue_offline(p, 0);
	if (!WAIT_UNTIL(active_slot(p) == 0, 5000))
		fail_msg("slot not active after stop/start");
	back = echo(p, e->mp, 200000, 500);
	if (back < 500)
		fail_msg("after stop/start, %u of 500 frames came back", back);
	err0 = xstat(p, "sub0_tx_errors");
	assert_int_equal(fsb_buf_alloc_bulk(late, lb, 8), 0);
	for (unsigned i = 0; i < 8; i++)
		lb[i]->data_len = lb[i]->pkt_len = 64;
	assert_int_equal(t_tx(p, lb, 8), 8);
	assert_int_equal(xstat(p, "sub0_tx_errors"), err0);

	/* admin detach (the session ends) and attach (a new one) */
	assert_int_equal(fsb_port_detach(p, 0), 0);
	assert_int_equal(active_slot(p), -1);
	assert_int_equal(fsb_port_attach(p, 0), 0);
	if (!WAIT_UNTIL(active_slot(p) == 0, 5000))
		fail_msg("slot not active after attach");
	back = echo(p, e->mp, 300000, 500);
	if (back < 500)
		fail_msg("after detach/attach, %u of 500 frames came back", back);

	struct fsb_stats st;
	assert_int_equal(fsb_port_stats_get(p, &st), 0);
	assert_true(st.opackets >= 3000);
	assert_true(st.ipackets >= 3000);
	fsb_port_close(p);
	testpmd_stop(pid);
	/* every buffer came home: nothing leaked in the rings */
	assert_int_equal(fsb_mempool_avail(e->mp), 8192);
	assert_int_equal(fsb_mempool_avail(late), 256);
	assert_int_equal(fsb_mempool_free(late), 0);
}

/* Send 64-byte frames until @cond holds or @ms pass; returns how many
 * the port accepted.  The frames carry nothing to check: a stalled
 * backend is the subject here, not the frames. */
#define SEND_UNTIL(p, peer, mp, cond, ms) ({                                  \
	unsigned sent_ = 0;                                             \
	uint64_t dl_ = t_now_ms() + (ms);                               \
	while (!(cond) && t_now_ms() < dl_) {                           \
		struct fsb_buf *b_[16];                                 \
		assert_int_equal(fsb_buf_alloc_bulk(mp, b_, 16), 0);    \
		for (unsigned i_ = 0; i_ < 16; i_++) {                  \
			memset(fsb_buf_data(b_[i_]), 0xff, 64);         \
			b_[i_]->data_len = b_[i_]->pkt_len = 64;        \
		}                                                       \
		unsigned g_ = t_tx(p, b_, 16);                          \
		fsb_buf_free_bulk(b_ + g_, 16 - g_);                    \
		sent_ += g_;                                            \
		struct fsb_buf *r_[32];                                 \
		fsb_buf_free_bulk(r_, t_rx(p, r_, 32));                 \
		fsb_buf_free_bulk(r_, fsb_bare_rx_burst(peer, 0, r_, 32)); \
		t_sleep_ms(1);                                          \
	}                                                               \
	sent_; })

/*
 * A backend that stops consuming without closing (frozen with SIGSTOP:
 * its socket stays open, nothing answers): the TX stall watchdog takes
 * the slot's link down with reason stalled and TX moves to the standby;
 * thawed (SIGCONT), it consumes the ring again, the link comes back
 * and, after hold-down, TX too.  Frozen again and then killed, what
 * its ring held is dropped once and counted (sub0_tx_errors), and every
 * buffer comes home.
 */
static void test_stall(void **state)
{
	struct env *e = *state;
	pid_t pid = testpmd_start(3);
	struct fsb_bare *peer = ring_peer(e->ctx, "vqst", e->mp);
	char spec[200];
	snprintf(spec, sizeof(spec), "vq0,hold_down=100,stall_ms=50,"
		 "dev(virtio_user,path=%s,queue_size=256),dev(ring,name=vqst)",
		 sock_path);
	struct fsb_port *p = port_up(e->ctx, spec, e->mp, &e->log);
	/* a backend slow to answer is set up after the start returned */
	if (!WAIT_UNTIL(active_slot(p) == 0, 10000))
		fail_msg("the virtio_user slot did not come up within 10 s");
	unsigned back = echo(p, e->mp, 0, 500);
	if (back < 500)
		fail_msg("%u of 500 frames came back", back);

	kill(-pid, SIGSTOP);
	SEND_UNTIL(p, peer, e->mp, active_slot(p) == 1, 10000);
	if (active_slot(p) != 1)
		fail_msg("TX did not leave the frozen backend within 10 s");
	assert_true(has_reason(&e->log, FSB_REASON_STALLED));
	assert_int_equal(xstat(p, "switch_reason_stalled"), 1);
	/* the standby carries on while the backend stays frozen */
	unsigned more = SEND_UNTIL(p, peer, e->mp, false, 300);
	assert_true(more > 0);
	assert_int_equal(active_slot(p), 1);

	/* thawed: it consumes what the ring held, the link comes back,
	 * and hold-down later TX */
	kill(-pid, SIGCONT);
	SEND_UNTIL(p, peer, e->mp, active_slot(p) == 0, 10000);
	if (active_slot(p) != 0)
		fail_msg("TX did not come back to the thawed backend within 10 s");
	back = echo(p, e->mp, 100000, 500);
	if (back < 500)
		fail_msg("after the thaw, %u of 500 frames came back", back);

	/* frozen again, then gone for good: what its ring held is
	 * dropped and counted once */
	uint64_t err0 = xstat(p, "sub0_tx_errors");
	kill(-pid, SIGSTOP);
	SEND_UNTIL(p, peer, e->mp, active_slot(p) == 1, 10000);
	assert_int_equal(active_slot(p), 1);
	assert_int_equal(xstat(p, "switch_reason_stalled"), 2);
	kill(-pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	unlink(sock_path);
	if (!WAIT_UNTIL(has_reason(&e->log, FSB_REASON_SESSION_CLOSED) &&
			xstat(p, "sub0_tx_errors") > err0, 10000))
		fail_msg("no session-closed, or nothing counted for the ring "
			 "(tx_errors %llu -> %llu)", (unsigned long long)err0,
			 (unsigned long long)xstat(p, "sub0_tx_errors"));
	uint64_t dropped = xstat(p, "sub0_tx_errors") - err0;
	assert_true(dropped <= 256);
	fsb_port_close(p);
	fsb_bare_close(peer);
	/* every buffer came home: nothing leaked in the stalled ring */
	assert_int_equal(fsb_mempool_avail(e->mp), 8192);
}

/*
 * A backend slow to answer (tests/tools/vhost-hostile --mode slow-reply:
 * GET_FEATURES answered after 3 s, on every session): the port starts
 * on its ring slot without waiting, and the virtio_user slot joins once
 * the backend answered.  Detached and attached again, attach returns 0
 * while the new handshake still waits (the slot is attached, not up
 * yet), and the slot comes up later by itself.
 */
static void test_slow_backend_attach(void **state)
{
	struct env *e = *state;
	const char *tool = getenv("VH_HOSTILE");
	if (!tool)
		tool = "tests/tools/vhost-hostile";
	if (access(tool, X_OK) != 0)
		fail_msg("%s is not built (make check builds it; or set VH_HOSTILE)",
			 tool);
	unlink(sock_path);
	char log[64];
	snprintf(log, sizeof(log), "/tmp/fsb-vq-%d-hostile.log", (int)getpid());
	char *argv[] = { "timeout", "-k", "2", "60", (char *)tool, "--socket",
			 sock_path, "--mode", "slow-reply", "--delay-ms", "3000",
			 "--duration", "50", NULL };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	pid_t pid;
	assert_int_equal(posix_spawnp(&pid, "timeout", &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	if (!WAIT_UNTIL(unix_listening(sock_path), 10000))
		fail_msg("vhost-hostile did not listen on %s (see %s)", sock_path, log);

	struct fsb_bare *peer = ring_peer(e->ctx, "vqsl", e->mp);
	char spec[200];
	snprintf(spec, sizeof(spec), "vq4,hold_down=0,"
		 "dev(virtio_user,path=%s,queue_size=256),dev(ring,name=vqsl)",
		 sock_path);
	struct fsb_port *p = port_up(e->ctx, spec, e->mp, &e->log);
	/* the start did not wait for the backend: the ring carries TX */
	struct fsb_slot_info si;
	assert_int_equal(fsb_port_slot_info(p, 0, &si), 0);
	assert_true(si.state < FSB_SUBDEV_STARTED);
	assert_int_equal(active_slot(p), 1);
	if (!WAIT_UNTIL(active_slot(p) == 0, 15000))
		fail_msg("the slow backend's slot did not come up within 15 s");

	assert_int_equal(fsb_port_detach(p, 0), 0);
	assert_int_equal(active_slot(p), 1);
	assert_int_equal(fsb_port_attach(p, 0), 0);
	assert_int_equal(fsb_port_slot_info(p, 0, &si), 0);
	assert_true(si.state < FSB_SUBDEV_STARTED);     /* attached, not up */
	assert_int_equal(fsb_port_attach(p, 0), -EALREADY);
	if (!WAIT_UNTIL(active_slot(p) == 0, 15000))
		fail_msg("after attach, the slot did not come up within 15 s");

	/* detached while a handshake waits: it is cancelled, nothing
	 * leaks (LSan, fd counts in the sanitizer runs) */
	assert_int_equal(fsb_port_detach(p, 0), 0);
	assert_int_equal(fsb_port_attach(p, 0), 0);
	assert_int_equal(fsb_port_detach(p, 0), 0);
	fsb_port_close(p);
	fsb_bare_close(peer);
	kill(pid, SIGINT);
	int status;
	if (!WAIT_UNTIL(waitpid(pid, &status, WNOHANG) == pid, 10000)) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	unlink(sock_path);
	assert_int_equal(fsb_mempool_avail(e->mp), 8192);
}

/* server=1: we listen, the backend (testpmd as vhost-user client)
 * connects, goes away, and connects again. */
static void test_server_mode(void **state)
{
	struct env *e = *state;
	unlink(sock_path);
	char spec[160];
	snprintf(spec, sizeof(spec), "vq1,dev(virtio_user,path=%s,server=1)",
		 sock_path);
	/* nobody connected yet: the port starts without a path */
	struct fsb_port *p = port_up(e->ctx, spec, e->mp, &e->log);
	assert_int_equal(active_slot(p), -1);
	struct stat st;
	assert_int_equal(stat(sock_path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));

	pid_t pid = testpmd_start_ex(2, true);
	if (!WAIT_UNTIL(active_slot(p) == 0, 20000))
		fail_msg("the backend did not connect to our socket");
	unsigned back = echo(p, e->mp, 0, 500);
	if (back < 500)
		fail_msg("%u of 500 frames came back", back);

	testpmd_stop_ex(pid, true);
	if (!WAIT_UNTIL(active_slot(p) < 0, 5000))
		fail_msg("slot still active after the backend went away");
	pid = testpmd_start_ex(3, true);
	if (!WAIT_UNTIL(active_slot(p) == 0, 20000))
		fail_msg("the backend did not reconnect to our socket");
	back = echo(p, e->mp, 100000, 500);
	if (back < 500)
		fail_msg("after the backend came back, %u of 500 frames came back",
			 back);
	fsb_port_close(p);
	/* the listening socket is ours: gone with the port */
	assert_int_not_equal(stat(sock_path, &st), 0);
	testpmd_stop_ex(pid, true);
	assert_int_equal(fsb_mempool_avail(e->mp), 8192);
}

/* Two queue pairs: rx queue i is vring 2i, tx queue i vring 2i+1, and
 * testpmd's io mode answers on the queue it received on, so every frame
 * must come back on the queue it left by. */
static void test_multiqueue(void **state)
{
	struct env *e = *state;
	pid_t pid = testpmd_start_q(4, false, 2);
	char spec[160], err[FSB_ERRMSG_MAX];
	snprintf(spec, sizeof(spec), "vq2,dev(virtio_user,path=%s,queues=2)",
		 sock_path);
	struct fsb_port *p = fsb_port_open(e->ctx, spec, err, sizeof(err));
	assert_non_null(p);
	struct fsb_port_conf pc = { .nb_rxq = 2, .nb_txq = 2 };
	assert_int_equal(fsb_port_configure(p, &pc), 0);
	assert_int_equal(fsb_rx_queue_setup(p, 0, e->mp), 0);
	assert_int_equal(fsb_rx_queue_setup(p, 1, e->mp), 0);
	assert_int_equal(fsb_port_start(p), 0);
	fsb_queue_offline(p, 0);
	fsb_queue_offline(p, 1);
	/* a backend slow to answer is set up after the start returned */
	if (!WAIT_UNTIL(active_slot(p) == 0, 10000))
		fail_msg("the virtio_user slot did not come up within 10 s");

	unsigned back[2] = { 0, 0 }, sent[2] = { 0, 0 };
	uint64_t dl = t_now_ms() + 10000, last[2] = { t_now_ms(), t_now_ms() };
	while ((back[0] < 200 || back[1] < 200) && t_now_ms() < dl) {
		for (uint16_t q = 0; q < 2; q++) {
			fsb_queue_online(p, q);
			if (sent[q] - back[q] < 32) {
				struct fsb_buf *b[8];
				assert_int_equal(fsb_buf_alloc_bulk(e->mp, b, 8), 0);
				for (unsigned i = 0; i < 8; i++) {
					unsigned char *d = fsb_buf_data(b[i]);
					memset(d, 0, 64);
					memset(d, 0xff, 6);
					d[12] = 0x88;
					d[13] = 0xb5;
					d[14] = (unsigned char)q;
					b[i]->data_len = b[i]->pkt_len = 64;
				}
				unsigned got = fsb_tx_burst(p, q, b, 8);
				fsb_buf_free_bulk(b + got, 8 - got);
				sent[q] += got;
			}
			struct fsb_buf *r[32];
			unsigned g = fsb_rx_burst(p, q, r, 32);
			for (unsigned i = 0; i < g; i++) {
				assert_int_equal(r[i]->queue, q);
				assert_int_equal(((unsigned char *)fsb_buf_data(r[i]))[14], q);
			}
			back[q] += g;
			if (g)
				last[q] = t_now_ms();
			fsb_buf_free_bulk(r, g);
			fsb_queue_offline(p, q);
			/* a window testpmd dropped while its port came up
			 * is written off after 100 ms of silence */
			if (sent[q] - back[q] >= 32 && t_now_ms() - last[q] > 100) {
				sent[q] = back[q];
				last[q] = t_now_ms();
			}
		}
		t_sleep_ms(1);
	}
	if (back[0] < 200 || back[1] < 200)
		fail_msg("frames back: queue 0 %u, queue 1 %u (of 200 each)",
			 back[0], back[1]);
	fsb_port_close(p);
	testpmd_stop(pid);
	assert_int_equal(fsb_mempool_avail(e->mp), 8192);
}

/* A bad option never starts anything. */
static void test_spec_errors(void **state)
{
	(void)state;
	char err[FSB_ERRMSG_MAX];
	assert_int_equal(fsb_spec_check("p,dev(virtio_user)", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "path="));
	assert_int_equal(fsb_spec_check("p,dev(virtio_user,path=/x,queue_size=100)",
					err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "power of two"));
	assert_int_equal(fsb_spec_check("p,dev(virtio_user,path=/x,queue_size=8192)",
					err, sizeof(err)), -EINVAL);
	assert_int_equal(fsb_spec_check("p,dev(virtio_user,path=/x,server=2)",
					err, sizeof(err)), -EINVAL);
	assert_int_equal(fsb_spec_check("p,dev(virtio_user,path=/x,server=1,"
					"queues=2,queue_size=1024,"
					"mac=02:00:00:00:00:01)", err, sizeof(err)), 0);
}

/* testpmd leaves its runtime directory (/var/run/dpdk/PREFIX) behind;
 * remove ours (vqPID_N: flat directories of files) at the end, or a CI
 * machine collects hundreds of them. */
static void testpmd_dirs_remove(void)
{
	char mine[32];
	int n = snprintf(mine, sizeof(mine), "vq%d_", (int)getpid());
	DIR *top = opendir("/var/run/dpdk");
	if (!top)
		return;
	for (struct dirent *e; (e = readdir(top));) {
		if (strncmp(e->d_name, mine, (size_t)n) != 0)
			continue;
		int fd = openat(dirfd(top), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		if (!d) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		for (struct dirent *f; (f = readdir(d));)
			if (strcmp(f->d_name, ".") && strcmp(f->d_name, ".."))
				unlinkat(dirfd(d), f->d_name, 0);
		closedir(d);
		unlinkat(dirfd(top), e->d_name, AT_REMOVEDIR);
	}
	closedir(top);
}

int main(void)
{
	if (access(TESTPMD, X_OK) != 0) {
		fprintf(stderr, "skip: %s not installed (Debian: apt-get install dpdk-dev)\n", TESTPMD);
		return 77;
	}
	snprintf(sock_path, sizeof(sock_path), "/tmp/fsb-vq-%d.sock", (int)getpid());
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_errors),
		cmocka_unit_test_setup_teardown(test_echo_and_reconnect, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_server_mode, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_multiqueue, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_stall, t_setup,
						t_teardown),
		cmocka_unit_test_setup_teardown(test_slow_backend_attach, t_setup,
						t_teardown),
	};
	/* TEST_FILTER=test_server_mode runs one case (debugging) */
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	testpmd_dirs_remove();
	return rc;
}
