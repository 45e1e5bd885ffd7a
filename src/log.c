/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * log.c - logging: the context's sink, rate limits, misuse aborts.
 *
 * Every line goes through the application's sink (fsb_ctx_set_log) or
 * the default one, stderr.  Lines above the context's level are not
 * even formatted.  Event storms are rate-limited per call site
 * (FSB_LOG_RL): at most 10 lines a second, and the count of those
 * suppressed comes with the next one.  The datapath does not log at
 * all: it raises notes (FSB_DP_NOTE), which the control thread logs.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsb_private.h"

_Atomic uint64_t fsb_clock_warp_ns;

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


/* ---- datapath notes ---- */

/* Every note ever raised, pushed once, never removed: notes are static. */
static _Atomic(struct fsb_dp_note *) notes;
static _Atomic(void (*)(void)) notes_wake;

void fsb_dp_notes_set_wake(void (*wake)(void))
{
	atomic_store(&notes_wake, wake);
}

void fsb_dp_note_raise(struct fsb_dp_note *n, const char *subject, int err,
		       const unsigned long long a[4])
{
	union {
		char c[sizeof(n->subject)];
		uint64_t w[FSB_ARRAY_SIZE(n->subject)];
	} u;
	memset(&u, 0, sizeof(u));
	if (subject) {
		size_t l = strnlen(subject, sizeof(u.c) - 1);
		memcpy(u.c, subject, l);
	}
	for (unsigned i = 0; i < FSB_ARRAY_SIZE(n->subject); i++)
		atomic_store_explicit(&n->subject[i], u.w[i],
				      memory_order_relaxed);
	atomic_store_explicit(&n->err, err, memory_order_relaxed);
	for (unsigned i = 0; i < 4; i++)
		atomic_store_explicit(&n->arg[i], a[i], memory_order_relaxed);
	atomic_fetch_add_explicit(&n->count, 1, memory_order_release);
	if (!atomic_load_explicit(&n->listed, memory_order_acquire) &&
	    !atomic_exchange(&n->listed, true)) {
		struct fsb_dp_note *head = atomic_load(&notes);
		do
			n->next = head;
		while (!atomic_compare_exchange_weak(&notes, &head, n));
	}
	if (!atomic_load_explicit(&n->pending, memory_order_relaxed) &&
	    !atomic_exchange(&n->pending, true)) {
		void (*wake)(void) = atomic_load(&notes_wake);
		if (wake)
			wake();
	}
}

static void note_log(struct fsb_dp_note *n, uint64_t count)
{
	char line[384];
	unsigned long long a[4];
	for (unsigned i = 0; i < 4; i++)
		a[i] = atomic_load_explicit(&n->arg[i], memory_order_relaxed);
	union {
		char c[sizeof(n->subject)];
		uint64_t w[FSB_ARRAY_SIZE(n->subject)];
	} u;
	for (unsigned i = 0; i < FSB_ARRAY_SIZE(n->subject); i++)
		u.w[i] = atomic_load_explicit(&n->subject[i],
					      memory_order_relaxed);
	u.c[sizeof(u.c) - 1] = '\0';
	const char *subject = u.c[0] ? u.c : "?";
	int err = atomic_load_explicit(&n->err, memory_order_relaxed);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	int k = snprintf(line, sizeof(line), n->fmt, subject, a[0], a[1],
			 a[2], a[3]);
#pragma GCC diagnostic pop
	if (k < 0)
		return;
	size_t off = (size_t)k < sizeof(line) ? (size_t)k : sizeof(line) - 1;
	if (err)
		off += (size_t)snprintf(line + off, sizeof(line) - off, ": %s",
					strerror(err));
	if (count > 1 && off < sizeof(line))
		snprintf(line + off, sizeof(line) - off,
			 " (%llu times since the last report)",
			 (unsigned long long)count);
	fsb_log(n->level, "%s", line);
}

uint64_t fsb_dp_notes_report(void)
{
	uint64_t now = fsb_now_ns(), due = 0;
	for (struct fsb_dp_note *n = atomic_load(&notes); n; n = n->next) {
		if (!atomic_load_explicit(&n->pending, memory_order_relaxed))
			continue;
		if (n->last_ns && now - n->last_ns < 1000000000ull) {
			uint64_t at = n->last_ns + 1000000000ull;
			if (!due || at < due)
				due = at;
			continue;       /* held back: one line a second */
		}
		atomic_store(&n->pending, false);
		uint64_t c = atomic_load_explicit(&n->count,
						  memory_order_acquire);
		if (c == n->reported)
			continue;
		note_log(n, c - n->reported);
		n->reported = c;
		n->last_ns = now;
	}
	return due;
}
