/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * qsbr.c - the control side of the port's grace periods (qsbr.h has
 * the protocol and the datapath's half).
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <time.h>

#include "qsbr.h"

_Atomic bool fsb_test_skip_grace;
_Atomic uint64_t fsb_grace_timeout_ns = 1000000000ull;

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

void fsb_qsbr_online(struct fsb_port *port, _Atomic uint64_t *qs,
		     const void *published)
{
	unsigned spins = 0;
	for (;;) {
		uint64_t v = atomic_load_explicit(qs, memory_order_relaxed);
		if (v < FSB_QSBR_CLAIMED)
			return;                 /* online already */
		if (v == FSB_QSBR_OFFLINE) {
			uint64_t e = atomic_load_explicit(&port->qsbr_epoch,
							  memory_order_seq_cst);
			if (atomic_compare_exchange_strong_explicit(
				    qs, &v, e, memory_order_seq_cst,
				    memory_order_relaxed))
				break;
			continue;
		}
		/* claimed: someone sends the queue's inject frames */
		if (++spins < 64)
			cpu_relax();
		else
			sched_yield();
	}
	/* order the burst's loads after our store (qsbr.h) */
	(void)atomic_load_explicit((_Atomic uintptr_t *)published,
				   memory_order_seq_cst);
}

int fsb_qsbr_wait(struct fsb_port *port)
{
	if (atomic_load(&fsb_test_skip_grace))
		return 0;
	uint64_t start = fsb_now_ns();
	uint64_t deadline = start + atomic_load(&fsb_grace_timeout_ns);
	uint64_t e = atomic_fetch_add_explicit(&port->qsbr_epoch, 1,
					       memory_order_seq_cst) + 1;
	unsigned nq = port->conf.nb_txq + port->conf.nb_rxq;
	int rc = 0;

	for (unsigned i = 0; i < nq; i++) {
		_Atomic uint64_t *qs = i < port->conf.nb_txq ?
			&port->txq[i].qs : &port->rxq[i - port->conf.nb_txq].qs;
		unsigned spins = 0;
		while (atomic_load_explicit(qs, memory_order_seq_cst) < e) {
			if (spins < 64) {
				cpu_relax();
			} else if (spins < 96) {
				sched_yield();
			} else {
				unsigned shift = spins - 96 < 10 ? spins - 96 : 10;
				struct timespec ts = { 0, 1000l << shift };
				nanosleep(&ts, NULL);
			}
			spins++;
			if ((spins & 7) == 0 && fsb_now_ns() > deadline) {
				rc = -ETIMEDOUT;
				break;
			}
		}
		if (rc)
			break;
	}
	uint64_t waited = fsb_now_ns() - start;
	if (waited > port->max_grace_wait_ns)
		port->max_grace_wait_ns = waited;
	if (rc) {
		atomic_fetch_add(&port->grace_timeouts, 1);
		fsb_log(FSB_LOG_WARNING,
			"%s: grace period timed out after %llu ms: a queue is "
			"online but not polling (use fsb_queue_offline)",
			port->spec.name, (unsigned long long)(waited / 1000000));
	}
	return rc;
}

