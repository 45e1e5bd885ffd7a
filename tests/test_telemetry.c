/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_telemetry.c - the control socket (src/telemetry.c) from a
 * client's side, in-process, so that the sanitizer builds see the
 * socket's thread against the port's own work: clients querying while
 * the port detaches, attaches, resets its stats and is closed; bad
 * options refused before anything exists; the socket unlinked at stop.
 * The protocol against tools we did not write is tests/telemetry.sh's.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "helpers.h"

static char sock_path[108];

/* Connect and read the hello; the fd, or -1. */
static int t_connect(void)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	struct timeval tv = { 5, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char buf[1024];
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    recv(fd, buf, sizeof(buf), 0) <= 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One request; the reply (NUL-terminated) in @out, its length. */
static ssize_t t_ask(int fd, const char *req, char *out, size_t len)
{
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0)
		return -1;
	ssize_t n = recv(fd, out, len - 1, 0);
	if (n >= 0)
		out[n] = '\0';
	return n;
}

static void t_start(struct fsb_ctx *ctx)
{
	snprintf(sock_path, sizeof(sock_path), "/tmp/fsb-test-tele.%d", (int)getpid());
	char opts[160], err[FSB_ERRMSG_MAX];
	snprintf(opts, sizeof(opts), "path=%s,clients=4", sock_path);
	assert_int_equal(fsb_ctx_telemetry_start(ctx, opts, err, sizeof(err)), 0);
	assert_string_equal(fsb_ctx_telemetry_path(ctx), sock_path);
}

static void test_bad_options(void **state)
{
	(void)state;
	struct fsb_ctx *ctx = fsb_ctx_new();
	assert_non_null(ctx);
	static const struct { const char *opts, *want; } bad[] = {
		{ "bogus=1", "unknown telemetry option 'bogus'" },
		{ "clients=0", "telemetry clients '0'" },
		{ "clients=999", "telemetry clients '999'" },
		{ "prefix=a/b", "telemetry prefix 'a/b'" },
		{ "path=relative", "telemetry path 'relative'" },
		{ "group=no-such-group-fsb", "telemetry group 'no-such-group-fsb': no such group" },
		{ "prefix", "telemetry option 'prefix': want key=value" },
	};
	for (unsigned i = 0; i < FSB_ARRAY_SIZE(bad); i++) {
		char err[FSB_ERRMSG_MAX] = "";
		assert_int_equal(fsb_ctx_telemetry_start(ctx, bad[i].opts, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, bad[i].want));
		assert_null(fsb_ctx_telemetry_path(ctx));
	}
	/* a world-writable directory (not sticky) is refused */
	char dir[64], opts[128], err[FSB_ERRMSG_MAX];
	snprintf(dir, sizeof(dir), "/tmp/fsb-test-ww.%d", (int)getpid());
	assert_int_equal(mkdir(dir, 0777), 0);
	assert_int_equal(chmod(dir, 0777), 0);
	snprintf(opts, sizeof(opts), "path=%s/s", dir);
	assert_int_equal(fsb_ctx_telemetry_start(ctx, opts, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "world-writable"));
	rmdir(dir);
	/* once started, a second start is EEXIST; stop unlinks */
	t_start(ctx);
	assert_int_equal(fsb_ctx_telemetry_start(ctx, NULL, err, sizeof(err)), -EEXIST);
	fsb_ctx_telemetry_stop(ctx);
	assert_null(fsb_ctx_telemetry_path(ctx));
	assert_int_equal(access(sock_path, F_OK), -1);
	fsb_ctx_free(ctx);
}

struct hammer {
	_Atomic bool stop;
	_Atomic unsigned replies, nulls;
	int fail;                       /* connect or recv failed */
};

/* A client that asks everything, over and over, until told to stop. */
static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	static const char *const reqs[] = {
		"/fsb/port,0", "/ethdev/stats,0", "/ethdev/xstats,0", "/fsb/events,0",
		"/ethdev/link_status,0", "/ethdev/info,0", "/fsb/ports", "/ethdev/list",
	};
	char *buf = malloc(1 << 18);
	int fd = t_connect();
	if (fd < 0 || !buf) {
		h->fail = 1;
		free(buf);
		return NULL;
	}
	for (unsigned i = 0; !atomic_load(&h->stop); i++) {
		if (t_ask(fd, reqs[i % FSB_ARRAY_SIZE(reqs)], buf, 1 << 18) <= 0) {
			h->fail = 1;
			break;
		}
		atomic_fetch_add(&h->replies, 1);
		if (strstr(buf, ":null}"))
			atomic_fetch_add(&h->nulls, 1);
	}
	close(fd);
	free(buf);
	return NULL;
}

static void test_queries_under_change(void **state)
{
	(void)state;
	struct fsb_ctx *ctx = fsb_ctx_new();
	assert_non_null(ctx);
	t_start(ctx);
	char err[FSB_ERRMSG_MAX];
	struct fsb_port *p = fsb_port_open(ctx, "tl0,hold_down=20,dev(null),dev(null)",
					   err, sizeof(err));
	assert_non_null(p);
	struct fsb_port_conf conf = { .nb_rxq = 1, .nb_txq = 1, .nb_rxd = 64, .nb_txd = 64 };
	assert_int_equal(fsb_port_configure(p, &conf), 0);
	struct fsb_mempool *mp = fsb_mempool_create(ctx, "tlpool", 512, 2048, 0, -1);
	assert_non_null(mp);
	assert_int_equal(fsb_rx_queue_setup(p, 0, mp), 0);
	assert_int_equal(fsb_port_start(p), 0);

	struct hammer h[3] = { 0 };
	pthread_t th[3];
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer_main, &h[i]), 0);
	/* the port changes under them: through the socket and the API */
	int fd = t_connect();
	assert_true(fd >= 0);
	char buf[8192];
	for (unsigned c = 0; c < 20; c++) {
		assert_true(t_ask(fd, "/fsb/detach,0,0", buf, sizeof(buf)) > 0);
		assert_non_null(strstr(buf, "\"status\":\"ok\""));
		assert_int_equal(active_slot(p), 1);
		assert_true(t_ask(fd, "/fsb/attach,0,0", buf, sizeof(buf)) > 0);
		assert_non_null(strstr(buf, "\"status\":\"ok\""));
		assert_int_equal(fsb_port_stats_reset(p), 0);
		assert_true(t_ask(fd, "/fsb/stats_reset,0", buf, sizeof(buf)) > 0);
		assert_int_equal(fsb_port_detach(p, 1), 0);
		assert_int_equal(fsb_port_attach(p, 1), 0);
	}
	/* the events of all that, oldest first, within the bound */
	assert_true(t_ask(fd, "/fsb/events,0,5", buf, sizeof(buf)) > 0);
	unsigned nev = 0;
	for (const char *s = buf; (s = strstr(s, "\"seq\":")); s++)
		nev++;
	assert_int_equal(nev, 5);
	/* the fifth client is served (at most 4: 3 + this one) only
	 * once one leaves: here it is refused in words */
	int extra = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	assert_int_equal(connect(extra, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ssize_t n = recv(extra, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "too many clients"));
	close(extra);
	close(fd);
	/* closed while they ask: the port goes, they get nulls after */
	fsb_port_stop(p);
	fsb_port_close(p);
	unsigned before = atomic_load(&h[0].nulls);
	assert_true(WAIT_UNTIL(atomic_load(&h[0].nulls) > before + 8, 5000));
	for (unsigned i = 0; i < 3; i++) {
		atomic_store(&h[i].stop, true);
		pthread_join(th[i], NULL);
		assert_int_equal(h[i].fail, 0);
		assert_true(atomic_load(&h[i].replies) > 20);
	}
	fsb_mempool_free(mp);
	fsb_ctx_free(ctx);                  /* stops the socket first */
	assert_int_equal(access(sock_path, F_OK), -1);
}

static void test_bad_requests(void **state)
{
	(void)state;
	struct fsb_ctx *ctx = fsb_ctx_new();
	assert_non_null(ctx);
	t_start(ctx);
	int fd = t_connect();
	assert_true(fd >= 0);
	char buf[4096], big[2000];
	memset(big, 'a', sizeof(big) - 1);
	big[0] = '/';
	big[sizeof(big) - 1] = '\0';
	const char *bad[] = {
		big, "/ethdev/stats,\xff", "/nosuch", "/ethdev/stats", "/ethdev/stats,0",
		"/ethdev/stats,x", "/ethdev/stats,0,1", "/fsb/detach,0,1", "/fsb/events,0,300",
		"/fsb/log_level,loud", "/help,/nosuch", "/fsb/port,99999999",
	};
	for (unsigned i = 0; i < FSB_ARRAY_SIZE(bad); i++) {
		assert_true(t_ask(fd, bad[i], buf, sizeof(buf)) > 0);
		assert_non_null(strstr(buf, ":null}"));
	}
	assert_true(t_ask(fd, "/fsb/log_level,debug", buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"/fsb/log_level\":{\"level\":\"debug\"}}");
	assert_true(t_ask(fd, "/fsb/log_level,notice", buf, sizeof(buf)) > 0);
	assert_true(t_ask(fd, "/help", buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"/help\":\"Returns help text for a command. Parameters: string command\"}");
	assert_true(t_ask(fd, "/fsb/ports", buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"/fsb/ports\":[]}");
	close(fd);
	fsb_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_queries_under_change),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
