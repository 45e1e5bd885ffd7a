/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_port.c - the port and its failsafe core, on null and ring
 * sub-devices: lifecycle, bursts, sync ordering, TX choice with link and
 * hold-down, first-mark-wins, stats fold, config replay, QSBR grace.
 *
 * Ring peers are bare ring ends: what they receive is counted outside
 * the port under test.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

static void test_open_errors(void **state)
{
	struct env *e = *state;
	char err[FSB_ERRMSG_MAX];
	errno = 0;
	assert_null(fsb_port_open(e->ctx, "fsb0,dev(nope)", err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	assert_true(strncmp(err, "spec error at column 10: unknown sub-device kind", 48) == 0);

	struct fsb_port *p = fsb_port_open(e->ctx, "dup,dev(null)", err, sizeof(err));
	assert_non_null(p);
	errno = 0;
	assert_null(fsb_port_open(e->ctx, "dup,dev(null)", err, sizeof(err)));
	assert_int_equal(errno, EEXIST);
	assert_string_equal(err, "port name 'dup' is in use");
	/* start before configure is refused and starts nothing */
	assert_int_equal(fsb_port_start(p), -EINVAL);
	struct fsb_port_conf bad = { .nb_rxq = 0, .nb_txq = 1 };
	assert_int_equal(fsb_port_configure(p, &bad), -EINVAL);
	struct fsb_port_conf pc = { .nb_rxq = 2, .nb_txq = 2 };
	assert_int_equal(fsb_port_configure(p, &pc), 0);
	/* a queue without a pool: start refuses */
	assert_int_equal(fsb_rx_queue_setup(p, 0, e->mp), 0);
	assert_int_equal(fsb_rx_queue_setup(p, 2, e->mp), -EINVAL);
	assert_int_equal(fsb_port_start(p), -EINVAL);
	assert_int_equal(fsb_rx_queue_setup(p, 1, e->mp), 0);
	assert_int_equal(fsb_port_start(p), 0);
	assert_int_equal(fsb_port_start(p), -EALREADY);
	fsb_port_close(p);
}

static void test_null_port(void **state)
{
	struct env *e = *state;
	unsigned avail = fsb_mempool_avail(e->mp);
	struct fsb_port *p = port_up(e->ctx, "n0,dev(null,size=100)", e->mp, NULL);
	struct fsb_buf *b[32];
	assert_int_equal(t_rx(p, b, 32), 32);
	for (int i = 0; i < 32; i++) {
		assert_int_equal(b[i]->data_len, 100);
		assert_int_equal(b[i]->port, fsb_port_id(p));
		assert_int_equal(b[i]->data_off, FSB_BUF_HEADROOM);
	}
	assert_int_equal(t_tx(p, b, 32), 32);
	assert_int_equal(fsb_mempool_avail(e->mp), avail);
	struct fsb_stats st;
	assert_int_equal(fsb_port_stats_get(p, &st), 0);
	assert_int_equal(st.ipackets, 32);
	assert_int_equal(st.opackets, 32);
	assert_int_equal(st.obytes, 3200);
	assert_int_equal(xstat(p, "sub0_tx_packets"), 32);
	assert_int_equal(fsb_port_stats_reset(p), 0);
	assert_int_equal(fsb_port_stats_get(p, &st), 0);
	assert_int_equal(st.opackets, 0);
	assert_int_equal(xstat(p, "sub0_tx_packets"), 0);
	struct fsb_link l;
	fsb_port_link_get(p, &l);
	assert_true(l.up);
	/* the port's MAC defaults to the primary's */
	struct fsb_port_info info;
	fsb_port_info_get(p, &info);
	assert_int_equal(info.mac[0], 0x02);
	assert_int_equal(info.active_slot, 0);
	fsb_port_stop(p);
	assert_int_equal(t_tx(p, b, 0), 0);
	fsb_port_close(p);
}

static void test_xstats_names(void **state)
{
	struct env *e = *state;
	struct fsb_port *p = fsb_port_open(e->ctx, "x0,dev(null),dev(null),dev(null)", NULL, 0);
	assert_non_null(p);
	struct fsb_xstat_name names[128];
	int n = fsb_port_xstats_names(p, names, 128);
	assert_int_equal(n, 9 + FSB_REASON_COUNT + 3 * 7);
	const char *want[] = {
		"switchovers", "switch_reason_admin", "switch_reason_netdev_removed",
		"switch_reason_session_restored", "switch_reason_probe_failed",
		"dup_signals", "last_switch_downtime_us", "tx_no_path",
		"grace_timeouts", "replay_enotsup", "last_release_us", "announce_sent",
		"announce_failed", "sub0_rx_packets",
		"sub2_rx_nombuf", "sub1_tx_errors",
	};
	for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
		bool found = false;
		for (int i = 0; i < n; i++)
			found |= strcmp(names[i].name, want[w]) == 0;
		if (!found)
			fail_msg("xstat %s missing", want[w]);
	}
	/* the set is constant: same before and after start */
	uint64_t v[128];
	assert_int_equal(fsb_port_xstats_get(p, v, 128), n);
	fsb_port_close(p);
}

/* A ring pair carries payloads intact and in order. */
static void test_ring_payload(void **state)
{
	struct env *e = *state;
	struct fsb_port *a = port_up(e->ctx, "ra,dev(ring,name=pl)", e->mp, NULL);
	struct fsb_port *b = port_up(e->ctx, "rb,dev(ring,name=pl)", e->mp, NULL);
	assert_true(WAIT_UNTIL(active_slot(a) == 0 && active_slot(b) == 0, 2000));
	uint64_t seq = 0, next = 0;
	for (int round = 0; round < 100; round++) {
		assert_int_equal(send_seq(a, e->mp, &seq, 100), 100);
		struct fsb_buf *r[64];
		uint16_t n;
		while ((n = t_rx(b, r, 64)) > 0) {
			for (int i = 0; i < n; i++) {
				uint64_t s;
				memcpy(&s, fsb_buf_data(r[i]), 8);
				assert_int_equal(s, next);
				next++;
				assert_int_equal(r[i]->port, fsb_port_id(b));
			}
			fsb_buf_free_bulk(r, n);
		}
	}
	assert_int_equal(next, 10000);
	struct fsb_stats st;
	fsb_port_stats_get(b, &st);
	assert_int_equal(st.ipackets, 10000);
	fsb_port_close(a);
	fsb_port_close(b);
}

/* Start: each slot climbs parsed->probed->configured->started in
 * order; TX is published after, then the port link goes up.  Detach:
 * TX moves before the slot is stopped. */
static void test_sync_ordering(void **state)
{
	struct env *e = *state;
	struct fsb_bare *p1 = ring_peer(e->ctx, "o1", e->mp);
	struct fsb_bare *p2 = ring_peer(e->ctx, "o2", e->mp);
	e->log.n = 0;
	struct fsb_port *p = port_up(e->ctx, "so,dev(ring,name=o1),dev(ring,name=o2)",
				     e->mp, &e->log);
	int want[] = { FSB_SUBDEV_PROBED, FSB_SUBDEV_CONFIGURED };
	unsigned k = 0, started_seen = 0;
	int last_state[2] = { FSB_SUBDEV_PARSED, FSB_SUBDEV_PARSED };
	int active_at = -1, link_at = -1;
	for (unsigned i = 0; i < e->log.n; i++) {
		struct fsb_event *ev = &e->log.ev[i];
		if (ev->type == FSB_EVENT_SUBDEV_STATE && ev->old_state != ev->new_state) {
			assert_int_equal(ev->old_state, last_state[ev->slot]);
			assert_int_equal(ev->new_state, ev->old_state + 1);
			last_state[ev->slot] = ev->new_state;
			started_seen += ev->new_state == FSB_SUBDEV_STARTED;
		}
		if (ev->type == FSB_EVENT_ACTIVE_CHANGE && active_at < 0) {
			active_at = (int)i;
			assert_int_equal(ev->to_slot, 0);
			assert_int_equal(started_seen, 2);
		}
		if (ev->type == FSB_EVENT_PORT_LINK && link_at < 0) {
			link_at = (int)i;
			assert_true(ev->link_up);
		}
	}
	(void)want; (void)k;
	assert_int_equal(last_state[0], FSB_SUBDEV_STARTED);
	assert_int_equal(last_state[1], FSB_SUBDEV_STARTED);
	assert_true(active_at >= 0 && link_at > active_at);

	/* detach slot 0: ACTIVE_CHANGE 0->1 precedes slot 0 leaving started */
	unsigned from = e->log.n;
	assert_int_equal(fsb_port_detach(p, 0), 0);
	int move = -1, stop = -1, absent = -1;
	for (unsigned i = from; i < e->log.n; i++) {
		struct fsb_event *ev = &e->log.ev[i];
		if (ev->type == FSB_EVENT_ACTIVE_CHANGE && move < 0) {
			move = (int)i;
			assert_int_equal(ev->from_slot, 0);
			assert_int_equal(ev->to_slot, 1);
			assert_int_equal(ev->reason, FSB_REASON_ADMIN);
		}
		if (ev->type == FSB_EVENT_SUBDEV_STATE && ev->slot == 0 &&
		    ev->old_state == FSB_SUBDEV_STARTED)
			stop = (int)i;
		if (ev->type == FSB_EVENT_SUBDEV_STATE && ev->slot == 0 &&
		    ev->new_state == FSB_SUBDEV_ABSENT)
			absent = (int)i;
	}
	assert_true(move >= 0 && stop > move && absent > stop);
	assert_int_equal(fsb_port_detach(p, 0), -EALREADY);
	assert_int_equal(fsb_port_detach(p, 9), -ENOENT);
	struct fsb_slot_info si;
	assert_int_equal(fsb_port_slot_info(p, 0, &si), 0);
	assert_int_equal(si.state, FSB_SUBDEV_ABSENT);
	assert_string_equal(si.kind, "ring");
	assert_string_equal(si.spec, "ring,name=o1");
	/* sync is idempotent: running it again changes nothing */
	unsigned before = e->log.n;
	fsb_port_sync(p);
	fsb_port_sync(p);
	assert_int_equal(e->log.n, before);
	/* attach rejoins at its priority (hold-down 100 ms default) */
	assert_int_equal(fsb_port_attach(p, 0), 0);
	assert_int_equal(fsb_port_attach(p, 0), -EALREADY);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 3000));
	assert_int_equal(xstat(p, "switchovers"), 2);
	assert_int_equal(xstat(p, "switch_reason_admin"), 2);
	fsb_port_close(p);
	fsb_bare_close(p1);
	fsb_bare_close(p2);
}

/* Priority order with three sub-devices and link-driven moves. */
static void test_tx_priority3(void **state)
{
	struct env *e = *state;
	struct fsb_bare *pe[3] = {
		ring_peer(e->ctx, "t1", e->mp), ring_peer(e->ctx, "t2", e->mp),
		ring_peer(e->ctx, "t3", e->mp),
	};
	struct fsb_port *p = port_up(e->ctx,
		"p3,hold_down=0,dev(ring,name=t1),dev(ring,name=t2),dev(ring,name=t3)",
		e->mp, NULL);
	assert_int_equal(active_slot(p), 0);
	fsb_ring_test_hook(fsb_port_subdev(p, 0), 0, true);
	assert_true(WAIT_UNTIL(active_slot(p) == 1, 2000));
	fsb_ring_test_hook(fsb_port_subdev(p, 1), 0, true);
	assert_true(WAIT_UNTIL(active_slot(p) == 2, 2000));
	/* the lowest-priority one comes back first: no change */
	fsb_ring_test_hook(fsb_port_subdev(p, 1), 0, false);
	assert_true(WAIT_UNTIL(active_slot(p) == 1, 2000));
	fsb_ring_test_hook(fsb_port_subdev(p, 0), 0, false);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 2000));
	assert_int_equal(xstat(p, "switch_reason_link_down"), 2);
	assert_int_equal(xstat(p, "switch_reason_link_up"), 2);
	/* every path down: no path, tx refuses and counts */
	for (int i = 0; i < 3; i++)
		fsb_ring_test_hook(fsb_port_subdev(p, i), 0, true);
	assert_true(WAIT_UNTIL(active_slot(p) == -1, 2000));
	struct fsb_buf *b[4];
	assert_int_equal(fsb_buf_alloc_bulk(e->mp, b, 4), 0);
	assert_int_equal(t_tx(p, b, 4), 0);   /* refused: still ours */
	fsb_buf_free_bulk(b, 4);
	assert_int_equal(xstat(p, "tx_no_path"), 4);
	struct fsb_link l;
	fsb_port_link_get(p, &l);
	assert_false(l.up);
	fsb_port_close(p);
	for (int i = 0; i < 3; i++)
		fsb_bare_close(pe[i]);
}

static bool slot_link_up(struct fsb_port *p, unsigned k)
{
	struct fsb_slot_info si;
	return fsb_port_slot_info(p, k, &si) == 0 && si.link_up;
}

/* Fail-back waits for hold-down (a minute, on a warped clock); failover
 * does not. */
static void test_hold_down(void **state)
{
	struct env *e = *state;
	struct fsb_bare *pa = ring_peer(e->ctx, "h1", e->mp);
	struct fsb_bare *pb = ring_peer(e->ctx, "h2", e->mp);
	struct fsb_port *p = port_up(e->ctx,
		"hd,hold_down=60000,dev(ring,name=h1),dev(ring,name=h2)", e->mp,
		NULL);
	assert_int_equal(active_slot(p), 0);    /* no hold-down at start */
	uint64_t t = t_now_ms();
	fsb_ring_test_hook(fsb_port_subdev(p, 0), 0, true);
	assert_true(WAIT_UNTIL(active_slot(p) == 1, 2000));
	assert_true(t_now_ms() - t < 250);      /* failover is immediate */
	assert_true(xstat(p, "last_switch_downtime_us") < 250000);
	fsb_ring_test_hook(fsb_port_subdev(p, 0), 0, false);
	assert_true(WAIT_UNTIL(slot_link_up(p, 0), 2000));
	/* up, and held down: 59.9 s later it still is */
	t_warp_ms(59900);
	t_sleep_ms(50);
	assert_int_equal(active_slot(p), 1);
	/* and just past the minute, TX is back */
	t_warp_ms(200);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 2000));
	fsb_port_close(p);
	fsb_bare_close(pa);
	fsb_bare_close(pb);
}

/* 10 flaps in 1 s: TX leaves once and comes back once, after the
 * flapping stopped for hold_down. */
static void test_flaps(void **state)
{
	struct env *e = *state;
	struct fsb_bare *pa = ring_peer(e->ctx, "f1", e->mp);
	struct fsb_bare *pb = ring_peer(e->ctx, "f2", e->mp);
	e->log.n = 0;
	struct fsb_port *p = port_up(e->ctx,
		"fl,hold_down=300,dev(ring,name=f1),dev(ring,name=f2)", e->mp, &e->log);
	unsigned base = ev_count(&e->log, FSB_EVENT_ACTIVE_CHANGE);
	struct fsb_subdev *sd = fsb_port_subdev(p, 0);
	for (int i = 0; i < 10; i++) {
		fsb_ring_test_hook(sd, 0, true);
		t_sleep_ms(50);
		fsb_ring_test_hook(sd, 0, false);
		t_sleep_ms(50);
	}
	assert_int_equal(active_slot(p), 1);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 3000));
	t_sleep_ms(50);
	assert_int_equal(ev_count(&e->log, FSB_EVENT_ACTIVE_CHANGE) - base, 2);
	assert_int_equal(xstat(p, "switchovers"), 2);
	fsb_port_close(p);
	fsb_bare_close(pa);
	fsb_bare_close(pb);
}

/* The datapath's word: sends fail.  Not a verdict: the link is read
 * at once; back-pressure (link up) changes nothing, a link that reads
 * down fails over before any source says so, and the downtime counts
 * from the first failed send. */
static void test_tx_failing(void **state)
{
	struct env *e = *state;
	struct fsb_bare *pa = ring_peer(e->ctx, "x1", e->mp);
	struct fsb_bare *pb = ring_peer(e->ctx, "x2", e->mp);
	struct fsb_port *p = port_up(e->ctx,
		"txf,hold_down=0,dev(ring,name=x1),dev(ring,name=x2)", e->mp, NULL);
	struct fsb_subdev *sd = fsb_port_subdev(p, 0);
	/* link up: back-pressure, many times over */
	for (int i = 0; i < 20; i++)
		fsb_subdev_tx_failing(sd, fsb_now_ns());
	t_sleep_ms(50);
	assert_int_equal(active_slot(p), 0);
	assert_int_equal(xstat(p, "switchovers"), 0);
	assert_int_equal(xstat(p, "dup_signals"), 0);
	assert_int_equal(atomic_load(&sd->tx_fail_ns), 0);     /* consumed */
	/* the carrier goes and nobody says so: only the sends tell */
	atomic_store(&sd->test_link_down, true);
	uint64_t first_fail = fsb_now_ns() - 30000000ull;
	fsb_subdev_tx_failing(sd, first_fail);
	fsb_subdev_tx_failing(sd, fsb_now_ns());        /* later: ignored */
	assert_true(WAIT_UNTIL(active_slot(p) == 1, 2000));
	assert_int_equal(xstat(p, "switch_reason_link_down"), 1);
	assert_true(xstat(p, "last_switch_downtime_us") >= 30000);
	assert_int_equal(xstat(p, "dup_signals"), 0);
	assert_false(slot_link_up(p, 0));
	/* its return is an ordinary link-up, after hold-down */
	fsb_ring_test_hook(sd, 0, false);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 2000));
	fsb_port_close(p);
	fsb_bare_close(pa);
	fsb_bare_close(pb);
}

/* Several signals for one removal: the first reason wins, the rest
 * count as dup_signals. */
static void test_first_mark_wins(void **state)
{
	struct env *e = *state;
	struct fsb_bare *pa = ring_peer(e->ctx, "m1", e->mp);
	struct fsb_bare *pb = ring_peer(e->ctx, "m2", e->mp);
	struct fsb_port *p = port_up(e->ctx,
		"mk,hold_down=0,dev(ring,name=m1),dev(ring,name=m2)", e->mp, NULL);
	/* hold the lock so all three marks land before one sync runs */
	pthread_mutex_lock(&p->lock);
	fsb_port_mark(p, 0, FSB_DEVSIG_GONE, FSB_REASON_NETDEV_REMOVED);
	fsb_port_mark(p, 0, FSB_DEVSIG_GONE, FSB_REASON_UEVENT_REMOVE);
	fsb_port_mark(p, 0, FSB_DEVSIG_GONE, FSB_REASON_SIGBUS);
	pthread_mutex_unlock(&p->lock);
	assert_true(WAIT_UNTIL(active_slot(p) == 1, 2000));
	assert_int_equal(xstat(p, "switch_reason_netdev_removed"), 1);
	assert_int_equal(xstat(p, "switch_reason_uevent_remove"), 0);
	assert_int_equal(xstat(p, "switch_reason_sigbus"), 0);
	assert_int_equal(xstat(p, "dup_signals"), 2);
	struct fsb_slot_info si;
	assert_true(WAIT_UNTIL((fsb_port_slot_info(p, 0, &si), si.state == FSB_SUBDEV_PARSED), 2000));
	assert_int_equal(si.last_reason, FSB_REASON_NETDEV_REMOVED);
	/* it comes back when it appears again */
	fsb_port_mark(p, 0, FSB_DEVSIG_APPEARED, FSB_REASON_NETDEV_ADDED);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 2000));
	assert_int_equal(xstat(p, "switch_reason_netdev_added"), 1);
	/* marks on unknown ports/slots are ignored */
	fsb_port_mark(p, 7, FSB_DEVSIG_GONE, FSB_REASON_SIGBUS);
	fsb_port_close(p);
	fsb_bare_close(pa);
	fsb_bare_close(pb);
}

/* A removal and a return that land before one sync (an unplug and
 * re-plug faster than the loop) restart the slot on the new device:
 * closed and probed again in that one pass, not left bound to the old
 * one. */
static void test_gone_and_back_in_one_pass(void **state)
{
	struct env *e = *state;
	struct fsb_bare *pa = ring_peer(e->ctx, "gb1", e->mp);
	struct fsb_bare *pb = ring_peer(e->ctx, "gb2", e->mp);
	e->log.n = 0;
	struct fsb_port *p = port_up(e->ctx,
		"gb,hold_down=0,dev(ring,name=gb1),dev(ring,name=gb2)", e->mp,
		&e->log);
	assert_int_equal(active_slot(p), 0);
	unsigned before = e->log.n;
	pthread_mutex_lock(&p->lock);
	fsb_port_mark(p, 0, FSB_DEVSIG_GONE, FSB_REASON_UEVENT_REMOVE);
	fsb_port_mark(p, 0, FSB_DEVSIG_APPEARED, FSB_REASON_UEVENT_ADD);
	pthread_mutex_unlock(&p->lock);
	/* it went down to parsed and came back to started */
	bool down = false, up = false;
	for (int i = 0; i < 200 && !(down && up); i++) {
		t_sleep_ms(10);
		pthread_mutex_lock(&e->log.lock);
		for (unsigned k = before; k < e->log.n; k++) {
			const struct fsb_event *ev = &e->log.ev[k];
			if (ev->type != FSB_EVENT_SUBDEV_STATE || ev->slot != 0)
				continue;
			if (ev->new_state == FSB_SUBDEV_PARSED)
				down = true;
			if (down && ev->new_state == FSB_SUBDEV_STARTED)
				up = true;
		}
		pthread_mutex_unlock(&e->log.lock);
	}
	bool back = WAIT_UNTIL(active_slot(p) == 0, 2000);
	if (!(down && up && back)) {
		for (unsigned i = before; i < e->log.n; i++) {
			char line[160];
			fsb_event_format(&e->log.ev[i], line, sizeof(line));
			print_message("%s\n", line);
		}
	}
	assert_true(down);
	assert_true(up);
	assert_true(back);
	fsb_port_close(p);
	fsb_bare_close(pa);
	fsb_bare_close(pb);
}

/* The time of the last move of TX to @slot in @l (0 = none). */
static uint64_t last_move_to(struct ev_log *l, int slot)
{
	uint64_t t = 0;
	pthread_mutex_lock(&l->lock);
	for (unsigned k = 0; k < l->n; k++)
		if (l->ev[k].type == FSB_EVENT_ACTIVE_CHANGE &&
		    l->ev[k].to_slot == slot)
			t = l->ev[k].time_ns;
	pthread_mutex_unlock(&l->lock);
	return t;
}

/* Hold-down counts from the signal that said the device is usable (its
 * link-up), not from an earlier signal of the same batch (the netdev's
 * appearance).  Seen under load: `ip link add` then, 24 ms later, the
 * carrier-up reached the port in one batch, and TX returned 180 ms
 * after the carrier came up with hold_down=200. */
static void test_hold_down_from_link_up(void **state)
{
	struct env *e = *state;
	struct fsb_bare *pa = ring_peer(e->ctx, "hd1", e->mp);
	struct fsb_bare *pb = ring_peer(e->ctx, "hd2", e->mp);
	e->log.n = 0;
	struct fsb_port *p = port_up(e->ctx,
		"hd,hold_down=200,dev(ring,name=hd1),dev(ring,name=hd2)", e->mp,
		&e->log);
	assert_int_equal(active_slot(p), 0);
	fsb_ring_test_hook(fsb_port_subdev(p, 0), 0, true);
	assert_true(WAIT_UNTIL(active_slot(p) == 1, 2000));
	/* the appearance, 60 ms later the link-up, consumed in one pass */
	pthread_mutex_lock(&p->lock);
	fsb_port_mark(p, 0, FSB_DEVSIG_APPEARED, FSB_REASON_NETDEV_ADDED);
	t_sleep_ms(60);
	uint64_t t_up = fsb_now_ns();
	fsb_ring_test_hook(fsb_port_subdev(p, 0), 0, false);
	pthread_mutex_unlock(&p->lock);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 3000));
	uint64_t t_back = last_move_to(&e->log, 0);
	print_message("back on slot 0 %.1f ms after the link-up mark (hold_down 200)\n",
		      ((double)t_back - (double)t_up) / 1e6);
	assert_true(t_back >= t_up + 200 * 1000000ull);
	fsb_port_close(p);
	fsb_bare_close(pa);
	fsb_bare_close(pb);
}

/* A slot that comes back by appearing is found up when it starts, and
 * hold-down counts from then, not from the appearance: a netdev
 * re-created admin down reported its carrier 19 ms after its NEWLINK,
 * and the port, which had read the link up while starting the slot,
 * returned 180 ms after the carrier with hold_down=200. */
static void test_hold_down_from_start(void **state)
{
	struct env *e = *state;
	struct fsb_bare *pa = ring_peer(e->ctx, "hs1", e->mp);
	struct fsb_bare *pb = ring_peer(e->ctx, "hs2", e->mp);
	e->log.n = 0;
	struct fsb_port *p = port_up(e->ctx,
		"hs,hold_down=200,dev(ring,name=hs1),dev(ring,name=hs2)", e->mp,
		&e->log);
	assert_int_equal(active_slot(p), 0);
	fsb_port_mark(p, 0, FSB_DEVSIG_GONE, FSB_REASON_NETDEV_REMOVED);
	assert_true(WAIT_UNTIL(active_slot(p) == 1 &&
			       atomic_load(&p->slot[0].state) < FSB_SUBDEV_STARTED, 2000));
	/* the appearance is marked; the pass that starts the slot runs
	 * 60 ms later */
	pthread_mutex_lock(&p->lock);
	fsb_port_mark(p, 0, FSB_DEVSIG_APPEARED, FSB_REASON_NETDEV_ADDED);
	t_sleep_ms(60);
	uint64_t t_start = fsb_now_ns();
	pthread_mutex_unlock(&p->lock);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 3000));
	uint64_t t_back = last_move_to(&e->log, 0);
	print_message("back on slot 0 %.1f ms after the pass that could start it (hold_down 200)\n",
		      ((double)t_back - (double)t_start) / 1e6);
	assert_true(t_back >= t_start + 200 * 1000000ull);
	fsb_port_close(p);
	fsb_bare_close(pa);
	fsb_bare_close(pb);
}

/* Counters never go backwards: not across a sub-device's own counter
 * reset, not across its removal and return. */
static void test_stats_fold(void **state)
{
	struct env *e = *state;
	struct fsb_bare *pa = ring_peer(e->ctx, "s1", e->mp);
	struct fsb_bare *pb = ring_peer(e->ctx, "s2", e->mp);
	struct fsb_port *p = port_up(e->ctx,
		"st,hold_down=0,dev(ring,name=s1),dev(ring,name=s2)", e->mp, NULL);
	uint64_t seq = 0;
	assert_int_equal(send_seq(p, e->mp, &seq, 500), 500);
	struct fsb_stats st;
	fsb_port_stats_get(p, &st);
	assert_int_equal(st.opackets, 500);
	/* the sub-device resets its counters (as a re-plugged VF does) */
	struct fsb_subdev *sd = fsb_port_subdev(p, 0);
	assert_int_equal(sd->ops->stats_reset(sd), 0);
	fsb_port_stats_get(p, &st);
	assert_int_equal(st.opackets, 500);
	assert_int_equal(send_seq(p, e->mp, &seq, 100), 100);
	fsb_port_stats_get(p, &st);
	assert_int_equal(st.opackets, 600);
	/* removal and return */
	assert_int_equal(fsb_port_detach(p, 0), 0);
	fsb_port_stats_get(p, &st);
	assert_int_equal(st.opackets, 600);
	assert_int_equal(xstat(p, "sub0_tx_packets"), 600);
	assert_int_equal(send_seq(p, e->mp, &seq, 50), 50);   /* via slot 1 */
	assert_int_equal(xstat(p, "sub1_tx_packets"), 50);
	assert_int_equal(fsb_port_attach(p, 0), 0);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 2000));
	fsb_port_stats_get(p, &st);
	assert_int_equal(st.opackets, 650);
	assert_int_equal(send_seq(p, e->mp, &seq, 10), 10);
	assert_int_equal(xstat(p, "sub0_tx_packets"), 610);
	/* what the peers got, counted outside */
	struct fsb_stats a, b;
	fsb_bare_stats_get(pa, &a);
	fsb_bare_stats_get(pb, &b);
	struct fsb_buf *r[64];
	uint64_t got = 0;
	uint16_t n;
	while ((n = fsb_bare_rx_burst(pa, 0, r, 64)) > 0) { got += n; fsb_buf_free_bulk(r, n); }
	while ((n = fsb_bare_rx_burst(pb, 0, r, 64)) > 0) { got += n; fsb_buf_free_bulk(r, n); }
	assert_int_equal(got, 660);
	fsb_port_close(p);
	fsb_bare_close(pa);
	fsb_bare_close(pb);
}

/* Config shadow replay: -ENOTSUP on one item is tolerated and counted,
 * the other items still apply. */
static void test_replay_enotsup(void **state)
{
	struct env *e = *state;
	struct fsb_bare *pa = ring_peer(e->ctx, "c1", e->mp);
	struct fsb_bare *pb = ring_peer(e->ctx, "c2", e->mp);
	struct fsb_port *p = port_up(e->ctx,
		"cf,mac=02:11:22:33:44:55,dev(ring,name=c1),dev(ring,name=c2)",
		e->mp, NULL);
	assert_int_equal(fsb_port_mtu_set(p, 9000), 0);
	assert_int_equal(fsb_port_allmulti_set(p, true), 0);
	assert_int_equal(fsb_port_mtu_set(p, 10), -EINVAL);
	static const uint8_t mc[6] = { 1, 0, 0x5e, 0, 0, 1 };
	assert_int_equal(fsb_port_mac_set(p, mc), -EINVAL);
	/* the multicast list: unicast entries and too many are refused,
	 * and nothing of a refused list is kept */
	static const uint8_t mcs[2][6] = { { 1, 0, 0x5e, 0, 0, 9 },
					   { 0x33, 0x33, 0, 0, 0, 1 } };
	static const uint8_t bad[2][6] = { { 1, 0, 0x5e, 0, 0, 7 },
					   { 2, 0, 0, 0, 0, 1 } };
	assert_int_equal(fsb_port_mc_addr_list_set(p, mcs, 2), 0);
	assert_int_equal(fsb_port_mc_addr_list_set(p, bad, 2), -EINVAL);
	assert_int_equal(fsb_port_mc_addr_list_set(p, mcs, FSB_MC_ADDR_MAX + 1),
			 -EINVAL);
	assert_int_equal(fsb_port_mc_addr_list_set(p, NULL, 1), -EINVAL);
	struct fsb_subdev *sd = fsb_port_subdev(p, 0);
	/* promisc is refused by slot 0 from now on */
	fsb_ring_test_hook(sd, FSB_OP_PROMISC_SET, false);
	assert_int_equal(fsb_port_promisc_set(p, true), 0);
	assert_int_equal(xstat(p, "replay_enotsup"), 1);
	assert_int_equal(fsb_port_detach(p, 0), 0);
	assert_int_equal(fsb_port_attach(p, 0), 0);
	struct fsb_ring_config c;
	assert_int_equal(fsb_ring_config_get(sd, &c), 0);
	assert_int_equal(c.mac[1], 0x11);
	assert_int_equal(c.mac[5], 0x55);
	assert_int_equal(c.mtu, 9000);
	assert_true(c.allmulti);
	assert_false(c.promisc);
	assert_true(c.applied & FSB_OP_MAC_SET);
	assert_false(c.applied & FSB_OP_PROMISC_SET);
	/* the list was replayed onto the returning slot */
	assert_true(c.applied & FSB_OP_MC_LIST_SET);
	assert_int_equal(c.mc_count, 2);
	assert_int_equal(c.mc_first[5], 9);
	assert_int_equal(xstat(p, "replay_enotsup"), 2);
	/* slot 1 got everything */
	assert_int_equal(fsb_ring_config_get(fsb_port_subdev(p, 1), &c), 0);
	assert_true(c.promisc);
	assert_int_equal(c.mtu, 9000);
	/* the slot still carries traffic */
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 2000));
	fsb_port_close(p);
	fsb_bare_close(pa);
	fsb_bare_close(pb);
}

/* A failed start of one sub-device is reported, not fatal. */
static void test_probe_failed(void **state)
{
	struct env *e = *state;
	struct fsb_bare *pa = ring_peer(e->ctx, "q1", e->mp);
	struct fsb_bare *pb = ring_peer(e->ctx, "q2", e->mp);
	e->log.n = 0;
	char err[FSB_ERRMSG_MAX];
	struct fsb_port *p = fsb_port_open(e->ctx,
		"pf,dev(ring,name=q1),dev(ring,name=q2)", err, sizeof(err));
	assert_non_null(p);
	fsb_port_set_event_cb(p, ev_log_cb, &e->log);
	fsb_ring_test_hook(fsb_port_subdev(p, 0), FSB_OP_PROBE, false);
	struct fsb_port_conf pc = { .nb_rxq = 1, .nb_txq = 1 };
	assert_int_equal(fsb_port_configure(p, &pc), 0);
	assert_int_equal(fsb_rx_queue_setup(p, 0, e->mp), 0);
	assert_int_equal(fsb_port_start(p), 0);
	assert_int_equal(active_slot(p), 1);
	bool seen = false;
	for (unsigned i = 0; i < e->log.n; i++)
		seen |= e->log.ev[i].reason == FSB_REASON_PROBE_FAILED &&
			e->log.ev[i].slot == 0;
	assert_true(seen);
	/* it appears: probed and used */
	fsb_ring_test_hook(fsb_port_subdev(p, 0), 0, false);
	fsb_port_mark(p, 0, FSB_DEVSIG_APPEARED, FSB_REASON_NETDEV_ADDED);
	bool ok = WAIT_UNTIL(active_slot(p) == 0, 3000);
	if (!ok) {
		for (unsigned i = 0; i < e->log.n; i++) {
			char line[160];
			fsb_event_format(&e->log.ev[i], line, sizeof(line));
			print_message("%s\n", line);
		}
	}
	assert_true(ok);
	fsb_port_close(p);
	fsb_bare_close(pa);
	fsb_bare_close(pb);
}

static unsigned probe_fails(struct ev_log *l, int slot)
{
	unsigned c = 0;
	pthread_mutex_lock(&l->lock);
	for (unsigned i = 0; i < l->n; i++)
		/* the failure itself: no change of state */
		c += l->ev[i].type == FSB_EVENT_SUBDEV_STATE &&
		     l->ev[i].reason == FSB_REASON_PROBE_FAILED &&
		     l->ev[i].old_state == l->ev[i].new_state &&
		     l->ev[i].slot == slot;
	pthread_mutex_unlock(&l->lock);
	return c;
}

/* A device that is there but not ready (probe -EAGAIN: a bind or a
 * device node that lags a hot-plug) is probed again, backing off,
 * without a new appearance; FSB_PROBE_RETRIES times, then the slot
 * waits for one. */
static void test_probe_not_ready(void **state)
{
	struct env *e = *state;
	struct fsb_bare *pa = ring_peer(e->ctx, "nr1", e->mp);
	e->log.n = 0;
	char err[FSB_ERRMSG_MAX];
	struct fsb_port *p = fsb_port_open(e->ctx,
		"nr,hold_down=0,dev(ring,name=nr1),dev(null)", err, sizeof(err));
	assert_non_null(p);
	fsb_port_set_event_cb(p, ev_log_cb, &e->log);
	struct fsb_port_conf pc = { .nb_rxq = 1, .nb_txq = 1 };
	/* not ready for three probes (configure probes): up by the
	 * fourth, on its own */
	atomic_store(&fsb_ring_test_probe_eagain, 3);
	assert_int_equal(fsb_port_configure(p, &pc), 0);
	assert_int_equal(fsb_rx_queue_setup(p, 0, e->mp), 0);
	assert_int_equal(fsb_port_start(p), 0);
	assert_int_equal(active_slot(p), 1);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 5000));
	assert_int_equal(probe_fails(&e->log, 0), 3);
	assert_int_equal(atomic_load(&fsb_ring_test_probe_eagain), 0);

	/* never ready: the retries end, the slot waits for an appearance */
	assert_int_equal(fsb_port_detach(p, 0), 0);
	e->log.n = 0;
	atomic_store(&fsb_ring_test_probe_eagain, 1000);
	assert_int_equal(fsb_port_attach(p, 0), -EAGAIN);
	assert_int_equal(probe_fails(&e->log, 0), 1);
	/* attach gave up on it (admin down again): up for the port */
	atomic_store(&fsb_ring_test_probe_eagain, 0);
	fsb_port_close(p);

	e->log.n = 0;
	p = fsb_port_open(e->ctx, "nr2,hold_down=0,dev(ring,name=nr1),dev(null)",
			  err, sizeof(err));
	assert_non_null(p);
	fsb_port_set_event_cb(p, ev_log_cb, &e->log);
	atomic_store(&fsb_ring_test_probe_eagain, 1000);
	assert_int_equal(fsb_port_configure(p, &pc), 0);
	assert_int_equal(fsb_rx_queue_setup(p, 0, e->mp), 0);
	assert_int_equal(fsb_port_start(p), 0);
	/* the back-off, warped: 2 s steps cover every wait */
	for (unsigned i = 0; i < 2 * FSB_PROBE_RETRIES; i++) {
		unsigned before = probe_fails(&e->log, 0);
		t_warp_ms(2100);
		WAIT_UNTIL(probe_fails(&e->log, 0) > before, 200);
	}
	assert_int_equal(probe_fails(&e->log, 0), 1 + FSB_PROBE_RETRIES);
	assert_int_equal(active_slot(p), 1);
	/* it appears (anew): probed at once, and used */
	atomic_store(&fsb_ring_test_probe_eagain, 0);
	fsb_port_mark(p, 0, FSB_DEVSIG_APPEARED, FSB_REASON_UEVENT_ADD);
	assert_true(WAIT_UNTIL(active_slot(p) == 0, 3000));
	fsb_port_close(p);
	fsb_bare_close(pa);
}

struct poller {
	struct fsb_port *p;
	uint16_t qid;
	_Atomic bool stop;
};

static void *poll_main(void *arg)
{
	struct poller *pl = arg;
	struct fsb_buf *b[32];
	while (!atomic_load(&pl->stop)) {
		uint16_t n = fsb_rx_burst(pl->p, pl->qid, b, 32);
		fsb_buf_free_bulk(b, n);
		fsb_tx_burst(pl->p, pl->qid, b, 0);
		t_sleep_ms(1);
	}
	return NULL;
}

/* An offline queue never delays a grace period; an online queue that
 * does not poll makes it time out, which is logged and counted. */
static void test_grace_offline(void **state)
{
	struct env *e = *state;
	struct fsb_bare *pa = ring_peer(e->ctx, "g1", e->mp);
	struct fsb_bare *pb = ring_peer(e->ctx, "g2", e->mp);
	char err[FSB_ERRMSG_MAX];
	struct fsb_port *p = fsb_port_open(e->ctx,
		"gr,hold_down=0,dev(ring,name=g1),dev(ring,name=g2)", err, sizeof(err));
	assert_non_null(p);
	struct fsb_port_conf pc = { .nb_rxq = 2, .nb_txq = 2 };
	assert_int_equal(fsb_port_configure(p, &pc), 0);
	assert_int_equal(fsb_rx_queue_setup(p, 0, e->mp), 0);
	assert_int_equal(fsb_rx_queue_setup(p, 1, e->mp), 0);
	assert_int_equal(fsb_port_start(p), 0);
	uint64_t saved = atomic_load(&fsb_grace_timeout_ns);
	atomic_store(&fsb_grace_timeout_ns, 100000000ull);

	struct poller pl = { .p = p, .qid = 0 };
	pthread_t th;
	pthread_create(&th, NULL, poll_main, &pl);
	/* queue 1 idles: offline */
	assert_int_equal(fsb_queue_offline(p, 1), 0);
	uint64_t t = t_now_ms();
	assert_int_equal(fsb_port_detach(p, 0), 0);
	assert_true(t_now_ms() - t < 90);
	assert_int_equal(xstat(p, "grace_timeouts"), 0);
	assert_int_equal(fsb_port_attach(p, 0), 0);
	/* queue 1 online but nobody polls it: bounded, logged, counted */
	assert_int_equal(fsb_queue_online(p, 1), 0);
	fsb_ctx_set_log(e->ctx, NULL, NULL, FSB_LOG_ERR);
	assert_int_equal(fsb_port_detach(p, 0), 0);
	fsb_ctx_set_log(e->ctx, NULL, NULL, FSB_LOG_WARNING);
	assert_true(xstat(p, "grace_timeouts") >= 1);
	/* TX still moved at once; the close waits until it is safe */
	assert_int_equal(active_slot(p), 1);
	struct fsb_slot_info si;
	fsb_port_slot_info(p, 0, &si);
	assert_int_equal(si.state, FSB_SUBDEV_CONFIGURED);
	/* the queue goes offline: the deferred close completes */
	assert_int_equal(fsb_queue_offline(p, 1), 0);
	assert_true(WAIT_UNTIL((fsb_port_slot_info(p, 0, &si), si.state == FSB_SUBDEV_ABSENT), 3000));
	assert_int_equal(fsb_queue_offline(p, 99), -EINVAL);
	atomic_store(&pl.stop, true);
	pthread_join(th, NULL);
	atomic_store(&fsb_grace_timeout_ns, saved);
	fsb_port_close(p);
	fsb_bare_close(pa);
	fsb_bare_close(pb);
}

/* RX polls every started sub-device and starves none. */
static void test_rx_all_paths(void **state)
{
	struct env *e = *state;
	struct fsb_port *p = port_up(e->ctx,
		"rx2,dev(null,size=60),dev(null,size=70)", e->mp, NULL);
	unsigned n60 = 0, n70 = 0;
	struct fsb_buf *b[32];
	for (int i = 0; i < 100; i++) {
		uint16_t n = t_rx(p, b, 32);
		for (int k = 0; k < n; k++) {
			n60 += b[k]->data_len == 60;
			n70 += b[k]->data_len == 70;
		}
		fsb_buf_free_bulk(b, n);
	}
	assert_true(n60 > 1000 && n70 > 1000);
	fsb_port_close(p);
}

static void test_bare(void **state)
{
	struct env *e = *state;
	char err[FSB_ERRMSG_MAX];
	struct fsb_port_conf pc = { .nb_rxq = 1, .nb_txq = 1 };
	assert_null(fsb_bare_open(e->ctx, "null,size=3", &pc, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	assert_true(strstr(err, "spec error at column 6") == err);
	struct fsb_bare *b = fsb_bare_open(e->ctx, "null", &pc, err, sizeof(err));
	assert_non_null(b);
	assert_int_equal(fsb_bare_rx_queue_setup(b, 0, e->mp), 0);
	assert_int_equal(fsb_bare_start(b), 0);
	struct fsb_buf *x[8];
	assert_int_equal(fsb_bare_rx_burst(b, 0, x, 8), 8);
	assert_int_equal(x[0]->data_len, 64);
	assert_int_equal(fsb_bare_tx_burst(b, 0, x, 8), 8);
	assert_int_equal(fsb_bare_tx_burst(b, 3, x, 8), 0);
	struct fsb_stats st;
	fsb_bare_stats_get(b, &st);
	assert_int_equal(st.ipackets, 8);
	assert_int_equal(st.opackets, 8);
	fsb_bare_close(b);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(fsb_reason_name(FSB_REASON_VFIO_REQUEST), "vfio-request");
	assert_string_equal(fsb_reason_name(FSB_REASON_SESSION_CLOSED), "session-closed");
	assert_string_equal(fsb_reason_name(FSB_REASON_COUNT), "unknown");
	assert_string_equal(fsb_subdev_state_name(FSB_SUBDEV_CONFIGURED), "configured");
	assert_string_equal(fsb_event_type_name(FSB_EVENT_PORT_LINK), "port-link");
	struct fsb_event ev = { .type = FSB_EVENT_ACTIVE_CHANGE, .reason = FSB_REASON_LINK_DOWN,
				.from_slot = 0, .to_slot = 1, .downtime_us = 12 };
	char line[128];
	fsb_event_format(&ev, line, sizeof(line));
	assert_string_equal(line, "port 0: tx slot 0 -> slot 1 (link-down) downtime 12 us");
	assert_null(fsb_ctx_new());       /* one per process */
	assert_int_equal(errno, EEXIST);
	assert_non_null(fsb_version());
}

/* What the note test's sink saw: lines about "dpnote", the counts they
 * report, and whether any came from the thread that raised them. */
static struct {
	pthread_mutex_t lock;
	pthread_t raiser;
	unsigned lines, from_raiser;
	unsigned long long counted;
	char last[256];
} nsink = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void note_sink(void *arg, enum fsb_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	if (!strstr(msg, "dpnote"))
		return;
	pthread_mutex_lock(&nsink.lock);
	nsink.lines++;
	nsink.from_raiser += pthread_equal(pthread_self(), nsink.raiser) != 0;
	const char *t = strstr(msg, " (");
	unsigned long long c = 1;
	if (t && sscanf(t, " (%llu times", &c) != 1)
		c = 1;
	nsink.counted += c;
	snprintf(nsink.last, sizeof(nsink.last), "%s", msg);
	pthread_mutex_unlock(&nsink.lock);
}

static unsigned long long note_counted(void)
{
	pthread_mutex_lock(&nsink.lock);
	unsigned long long c = nsink.counted;
	pthread_mutex_unlock(&nsink.lock);
	return c;
}

static void raise_note(unsigned long long i)
{
	FSB_DP_NOTE(FSB_LOG_WARNING, "dpnote", i % 2 ? EMSGSIZE : 0,
		    "%s: frame %llu of %llu refused", i, 5000ull);
}

/* The datapath does not log: a note raised 5000 times is logged by the
 * control thread, never by the raising thread, at most once a second,
 * and the lines add up to the count. */
static void test_dp_notes(void **state)
{
	struct env *e = *state;
	fsb_ctx_set_log(e->ctx, note_sink, NULL, FSB_LOG_WARNING);
	nsink.raiser = pthread_self();
	uint64_t t0 = fsb_now_ns();
	for (unsigned long long i = 0; i < 5000; i++)
		raise_note(i);
	/* the first line comes at once; the rest is held back a second:
	 * the clock is warped past it rather than waited out */
	assert_true(WAIT_UNTIL(note_counted() > 0, 2000));
	t_warp_ms(1000);
	assert_true(WAIT_UNTIL(note_counted() == 5000, 2000));
	uint64_t took_ms = (fsb_now_ns() - t0) / 1000000;
	pthread_mutex_lock(&nsink.lock);
	assert_int_equal(nsink.from_raiser, 0);
	/* one line at once, the rest held back a second at most, once */
	assert_true(nsink.lines >= 1 && nsink.lines <= 1 + took_ms / 1000 + 1);
	/* the last raise's numbers, and its errno */
	assert_non_null(strstr(nsink.last, "dpnote: frame 4999 of 5000 refused: "));
	assert_non_null(strstr(nsink.last, strerror(EMSGSIZE)));
	pthread_mutex_unlock(&nsink.lock);
	fsb_ctx_set_log(e->ctx, NULL, NULL, FSB_LOG_WARNING);
}

#ifdef FSB_DEBUG
/* Run @fn in a child: it must die of SIGABRT (FSB_ASSERT), and say why
 * on stderr. */
static void expect_abort(void (*fn)(void *), void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fn(arg);
		_exit(0);               /* no abort: the test fails */
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
}

static void tx_bad_queue(void *arg)
{
	struct fsb_buf *b[1];
	fsb_tx_burst(arg, 1, b, 0);     /* one tx queue configured */
}

static void rx_bad_queue(void *arg)
{
	struct fsb_buf *b[1];
	fsb_rx_burst(arg, 2, b, 1);
}

static void start_null(void *arg)
{
	(void)arg;
	fsb_port_start(NULL);
}

/* Misuse aborts in debug builds (FSB_ASSERT): a queue id beyond the
 * configured count, a NULL handle.  Valid calls next to them do not. */
static void test_misuse_asserts(void **state)
{
	struct env *e = *state;
	struct fsb_port *p = fsb_port_open(e->ctx, "mis,dev(null)", NULL, 0);
	assert_non_null(p);
	struct fsb_port_conf c = { .nb_rxq = 2, .nb_txq = 1 };
	assert_int_equal(fsb_port_configure(p, &c), 0);
	struct fsb_buf *b[1];
	assert_int_equal(fsb_tx_burst(p, 0, b, 0), 0);
	assert_int_equal(fsb_rx_burst(p, 1, b, 1), 0);
	expect_abort(tx_bad_queue, p);
	expect_abort(rx_bad_queue, p);
	expect_abort(start_null, NULL);
	fsb_port_close(p);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_names, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_null_port, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_xstats_names, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_ring_payload, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_bare, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_sync_ordering, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_tx_priority3, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_hold_down, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_flaps, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_tx_failing, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_first_mark_wins, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_gone_and_back_in_one_pass, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_hold_down_from_link_up, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_hold_down_from_start, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_stats_fold, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_replay_enotsup, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_probe_failed, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_probe_not_ready, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_grace_offline, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_rx_all_paths, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_dp_notes, t_setup, t_teardown),
#ifdef FSB_DEBUG
		cmocka_unit_test_setup_teardown(test_misuse_asserts, t_setup, t_teardown),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
