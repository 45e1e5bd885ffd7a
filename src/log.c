/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * log.c - logging: the context's sink, rate limits, misuse aborts.
 *
 * Every line goes through the application's sink (fsb_ctx_set_log) or
 * the default one, stderr.  Lines above the context's level are not
 * even formatted.  Event storms and per-packet conditions are
 * rate-limited per call site (FSB_LOG_RL): at most 10 lines a second,
 * and the count of those suppressed comes with the next one.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "fsb_private.h"

static const char *const level_names[] = {
	[FSB_LOG_ERR] = "error", [FSB_LOG_WARNING] = "warning",
	[FSB_LOG_NOTICE] = "notice", [FSB_LOG_INFO] = "info",
	[FSB_LOG_DEBUG] = "debug",
};

void fsb_log_default(void *arg, enum fsb_log_level level, const char *msg)
{
	(void)arg;
	const char *ln = (level >= FSB_LOG_ERR && level <= FSB_LOG_DEBUG)
		? level_names[level] : "log";
	fprintf(stderr, "fsb: %s: %s\n", ln, msg);
}

static void vlog(enum fsb_log_level level, const char *fmt, va_list ap)
{
	struct fsb_ctx *ctx = fsb_global_ctx;
	char buf[512];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (!ctx) {
		fsb_log_default(NULL, level, buf);
		return;
	}
	ctx->log_fn(ctx->log_arg, level, buf);
}

void fsb_log(enum fsb_log_level level, const char *fmt, ...)
{
	struct fsb_ctx *ctx = fsb_global_ctx;
	if (ctx && (int)level > atomic_load_explicit(&ctx->log_level,
						    memory_order_relaxed))
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

void fsb_log_ratelimited(struct fsb_ratelimit *rl, unsigned burst,
			 unsigned interval_ms, enum fsb_log_level level,
			 const char *fmt, ...)
{
	struct fsb_ctx *ctx = fsb_global_ctx;
	if (ctx && (int)level > atomic_load_explicit(&ctx->log_level,
						    memory_order_relaxed))
		return;
	uint64_t now = fsb_now_ns();
	uint64_t start = atomic_load(&rl->window_start_ns);
	if (now - start > (uint64_t)interval_ms * 1000000ull &&
	    atomic_compare_exchange_strong(&rl->window_start_ns, &start, now)) {
		unsigned sup = atomic_exchange(&rl->suppressed, 0);
		atomic_store(&rl->printed, 0);
		if (sup)
			fsb_log(level, "%u similar messages suppressed", sup);
	}
	if (atomic_fetch_add(&rl->printed, 1) >= burst) {
		atomic_fetch_add(&rl->suppressed, 1);
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

void fsb_assert_fail(const char *cond, const char *func)
{
	fsb_log(FSB_LOG_ERR, "%s: API misuse: %s is false", func, cond);
	/* the application's sink may buffer, and we are about to abort:
	 * say it on stderr too, unless that is where it just went */
	struct fsb_ctx *ctx = fsb_global_ctx;
	if (ctx && ctx->log_fn != fsb_log_default)
		fprintf(stderr, "fsb: %s: API misuse: %s is false\n", func, cond);
	abort();
}

