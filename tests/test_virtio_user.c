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

static pid_t testpmd_start(unsigned n)
{
	char prefix[32], vdev[128], log[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=vq%d_%u", (int)getpid(), n);
	snprintf(vdev, sizeof(vdev), "net_vhost0,iface=%s,queues=1", sock_path);
	snprintf(log, sizeof(log), "/tmp/fsb-vq-%d-testpmd%u.log", (int)getpid(), n);
	unlink(sock_path);
	char *argv[] = {
		"timeout", "-k", "2", "60", TESTPMD, "--no-huge", "--no-pci",
		"-m", "512", "--lcores", "0@0,1@1", prefix, "--vdev", vdev,
		"--", "--stats-period", "1", "--forward-mode=io",
		"--total-num-mbufs=16384", NULL,
	};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	pid_t pid;
	int rc = posix_spawnp(&pid, "timeout", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(rc, 0);
	struct stat st;
	if (!WAIT_UNTIL(stat(sock_path, &st) == 0, 20000))
		fail_msg("testpmd did not create %s (see %s)", sock_path, log);
	return pid;
}

static void testpmd_stop(pid_t pid)
{
	kill(pid, SIGINT);
	int status;
	if (!WAIT_UNTIL(waitpid(pid, &status, WNOHANG) == pid, 15000)) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	unlink(sock_path);
}

/* Send @n numbered frames in small batches and collect what comes back;
 * returns how many distinct ones came back. */
static unsigned echo(struct fsb_port *p, struct fsb_mempool *mp,
		     uint64_t base, unsigned n)
{
	static unsigned char seen[4096];
	assert_true(n <= sizeof(seen));
	memset(seen, 0, sizeof(seen));
	unsigned back = 0, sent = 0;
	uint64_t dl = t_now_ms() + 10000;
	while (back < n && t_now_ms() < dl) {
		if (sent < n && sent - back < 64) {
			struct fsb_buf *b[16];
			unsigned k = n - sent < 16 ? n - sent : 16;
			assert_int_equal(fsb_buf_alloc_bulk(mp, b, k), 0);
			for (unsigned i = 0; i < k; i++) {
				unsigned char *d = fsb_buf_data(b[i]);
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
		}
		struct fsb_buf *r[32];
		unsigned g = t_rx(p, r, 32);
		for (unsigned i = 0; i < g; i++) {
			uint64_t s;
			assert_int_equal(r[i]->pkt_len, 64);
			assert_int_equal(r[i]->port, fsb_port_id(p));
			memcpy(&s, (char *)fsb_buf_data(r[i]) + 14, sizeof(s));
			if (s >= base && s < base + n && !seen[s - base]) {
				seen[s - base] = 1;
				back++;
			}
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
	assert_int_equal(active_slot(p), 0);

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

	struct fsb_stats st;
	assert_int_equal(fsb_port_stats_get(p, &st), 0);
	assert_true(st.opackets >= 2000);
	assert_true(st.ipackets >= 2000);
	fsb_port_close(p);
	testpmd_stop(pid);
	/* every buffer came home: nothing leaked in the rings */
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

int main(void)
{
	if (access(TESTPMD, X_OK) != 0) {
		fprintf(stderr, "skip: %s not installed\n", TESTPMD);
		return 77;
	}
	snprintf(sock_path, sizeof(sock_path), "/tmp/fsb-vq-%d.sock", (int)getpid());
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_errors),
		cmocka_unit_test_setup_teardown(test_echo_and_reconnect, t_setup,
						t_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
