/* SPDX-License-Identifier: BSD-3-Clause */
/* helpers.h - shared by the cmocka tests: waiting on the control
 * thread, recording events, ring peers. */
#ifndef FSB_TEST_HELPERS_H
#define FSB_TEST_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "loop.h"
#include "port.h"
#include "subdev.h"

static inline uint64_t t_now_ms(void)
{
	return fsb_now_ns() / 1000000ull;
}

static inline void t_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000l };
	nanosleep(&ts, NULL);
}

/* Move the library's clock forward by @ms and let the control thread
 * look at its deadlines: a hold-down of a minute takes no minute. */
static inline void t_warp_ms(uint64_t ms)
{
	atomic_fetch_add(&fsb_clock_warp_ns, ms * 1000000ull);
	fsb_loop_wake();
}

/* Poll @cond every ms for up to @ms; evaluates to whether it held. */
#define WAIT_UNTIL(cond, ms) ({                                         \
	uint64_t _dl = t_now_ms() + (ms);                               \
	bool _ok;                                                       \
	while (!(_ok = (cond)) && t_now_ms() < _dl)                     \
		t_sleep_ms(1);                                          \
	_ok; })

#define MAX_EV 512
struct ev_log {
	pthread_mutex_t lock;
	unsigned n;
	struct fsb_event ev[MAX_EV];
};

static inline void ev_log_cb(void *arg, const struct fsb_event *ev)
{
	struct ev_log *l = arg;
	pthread_mutex_lock(&l->lock);
	if (l->n < MAX_EV)
		l->ev[l->n++] = *ev;
	pthread_mutex_unlock(&l->lock);
}

static inline unsigned ev_count(struct ev_log *l, enum fsb_event_type t)
{
	unsigned c = 0;
	pthread_mutex_lock(&l->lock);
	for (unsigned i = 0; i < l->n; i++)
		c += l->ev[i].type == t;
	pthread_mutex_unlock(&l->lock);
	return c;
}

static inline int active_slot(struct fsb_port *p)
{
	struct fsb_port_info info;
	fsb_port_info_get(p, &info);
	return info.active_slot;
}

/* Value of xstat @name, or UINT64_MAX. */
static inline uint64_t xstat(struct fsb_port *p, const char *name)
{
	struct fsb_xstat_name names[256];
	uint64_t vals[256];
	int n = fsb_port_xstats_names(p, names, 256);
	fsb_port_xstats_get(p, vals, 256);
	for (int i = 0; i < n && i < 256; i++)
		if (strcmp(names[i].name, name) == 0)
			return vals[i];
	return UINT64_MAX;
}

/* The fixture of the port-level tests: a context, a pool, an event log. */
struct env {
	struct fsb_ctx *ctx;
	struct fsb_mempool *mp;
	struct ev_log log;
};

static inline int t_setup(void **state)
{
	static struct env e;
	memset(&e, 0, sizeof(e));
	pthread_mutex_init(&e.log.lock, NULL);
	e.ctx = fsb_ctx_new();
	assert_non_null(e.ctx);
	fsb_ctx_set_log(e.ctx, NULL, NULL, getenv("T_DEBUG") ? FSB_LOG_DEBUG : FSB_LOG_WARNING);
	e.mp = fsb_mempool_create(e.ctx, "t", 8192, 2048, 64, -1);
	assert_non_null(e.mp);
	*state = &e;
	return 0;
}

static inline int t_teardown(void **state)
{
	struct env *e = *state;
	fsb_ctx_free(e->ctx);
	return 0;
}

/* A started bare ring end named @name, one queue, rx from @mp. */
static inline struct fsb_bare *ring_peer(struct fsb_ctx *ctx, const char *name,
					 struct fsb_mempool *mp)
{
	char spec[64], err[FSB_ERRMSG_MAX];
	struct fsb_port_conf pc = { .nb_rxq = 1, .nb_txq = 1 };
	snprintf(spec, sizeof(spec), "ring,name=%s", name);
	struct fsb_bare *b = fsb_bare_open(ctx, spec, &pc, err, sizeof(err));
	assert_non_null(b);
	assert_int_equal(fsb_bare_rx_queue_setup(b, 0, mp), 0);
	assert_int_equal(fsb_bare_start(b), 0);
	return b;
}

/* Open, configure (1 queue), set up and start a port. */
static inline struct fsb_port *port_up(struct fsb_ctx *ctx, const char *spec,
				       struct fsb_mempool *mp,
				       struct ev_log *log)
{
	char err[FSB_ERRMSG_MAX];
	struct fsb_port *p = fsb_port_open(ctx, spec, err, sizeof(err));
	if (!p)
		fail_msg("open '%s': %s", spec, err);
	if (log)
		fsb_port_set_event_cb(p, ev_log_cb, log);
	struct fsb_port_conf pc = { .nb_rxq = 1, .nb_txq = 1 };
	assert_int_equal(fsb_port_configure(p, &pc), 0);
	assert_int_equal(fsb_rx_queue_setup(p, 0, mp), 0);
	assert_int_equal(fsb_port_start(p), 0);
	/* The test thread polls only now and then and also makes control
	 * calls: its queue is offline between bursts (qsbr.h). */
	fsb_queue_offline(p, 0);
	return p;
}

/* Send @n frames carrying a 64-bit sequence from @seq; returns sent. */
static inline unsigned send_seq(struct fsb_port *p, struct fsb_mempool *mp,
				uint64_t *seq, unsigned n)
{
	struct fsb_buf *b[32];
	unsigned sent = 0;
	while (n) {
		unsigned k = n > 32 ? 32 : n;
		assert_int_equal(fsb_buf_alloc_bulk(mp, b, k), 0);
		for (unsigned i = 0; i < k; i++) {
			uint64_t s = *seq + i;
			memcpy(fsb_buf_data(b[i]), &s, sizeof(s));
			b[i]->data_len = 64;
			b[i]->pkt_len = 64;
		}
		fsb_queue_online(p, 0);
		unsigned got = fsb_tx_burst(p, 0, b, (uint16_t)k);
		fsb_queue_offline(p, 0);
		fsb_buf_free_bulk(b + got, k - got);
		*seq += got;
		sent += got;
		if (got < k)
			break;
		n -= k;
	}
	return sent;
}
/* One rx/tx burst on queue 0 from a thread that is otherwise idle. */
static inline uint16_t t_rx(struct fsb_port *p, struct fsb_buf **b, uint16_t n)
{
	fsb_queue_online(p, 0);
	uint16_t got = fsb_rx_burst(p, 0, b, n);
	fsb_queue_offline(p, 0);
	return got;
}

static inline uint16_t t_tx(struct fsb_port *p, struct fsb_buf **b, uint16_t n)
{
	fsb_queue_online(p, 0);
	uint16_t got = fsb_tx_burst(p, 0, b, n);
	fsb_queue_offline(p, 0);
	return got;
}
#endif
