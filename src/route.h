/* SPDX-License-Identifier: BSD-3-Clause */
/* route.h - signals to slots (route.c), internal. */
#ifndef FSB_ROUTE_H
#define FSB_ROUTE_H

#include <stdint.h>

#include "devsignal.h"

/*
 * The sink of the system-wide sources: match @sig to the slots it
 * concerns and mark them.  @ctx is the struct fsb_ctx.  Takes ctx->lock,
 * then each port's lock in turn; so it runs on the control thread after
 * a loop turn (deferred work), or in a test's thread, never under the
 * loop lock and never in a signal handler.
 */
void fsb_route_signal(void *ctx, const struct fsb_devsignal *sig);

/* What the router did with each source's signals. */
struct fsb_route_counters {
	uint64_t signals;       /* signals received */
	uint64_t marks;         /* slot marks set from them (resyncs too) */
	uint64_t resyncs;       /* LOST signals acted on */
};
void fsb_route_counters(enum fsb_devsig_source src,
			struct fsb_route_counters *c);

#endif
