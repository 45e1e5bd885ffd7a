/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fsb-drill-report - judges the runs of a migration drill and writes
 * what a person reads: report.json, timeline.svg and a text table.
 *
 * fsb-drill (migration/fsb-drill.in) runs the scenarios; it measures
 * nothing itself.  Each run leaves a directory with record files, every
 * one written by a tool that looks from outside the port:
 *
 *   peer.rec   the sink (fsb-peer --records, or the UDP sink behind
 *              QEMU): per-path count buckets, the sequence-number
 *              tallies, the path changes and silences it saw, the link
 *              events its own rtnetlink listener timestamped;
 *   drill.rec  the drill: the scenario and its parameters, each action
 *              it took (timed just before it acted), the port's own
 *              events as fsb-fwd printed them (labels only: no figure is
 *              taken from them), QMP events and query-migrate figures,
 *              counters of the sender and of testpmd, and the criteria
 *              the run must meet.
 *
 * Every time is absolute CLOCK_MONOTONIC ns, so the files line up with
 * no offsets to guess: one clock.
 *
 * Records, one per line, space-separated ("#" starts a comment):
 *   sink NAME start_ns=N end_ns=N bucket_ns=N [capture_drops=N]
 *   path NAME frames=N fsb=N first_ns=N last_ns=N      (0 = none)
 *   buckets NAME C0 C1 ...          frames per bucket from start_ns
 *   seq expected=N distinct=N lost=N dups=N reordered=N
 *   event NS link TYPE IFNAME        (sink's rtnetlink listener)
 *   change NS FROM TO PREV_NS        first frame on TO; PREV_NS = last
 *                                    frame on FROM ("-": none before)
 *   silence FROM_NS TO_NS FROM TO    the longest silences (TO_NS 0: at
 *                                    the end)
 *   scenario NAME / run N / variant NAME / desc TEXT
 *   param KEY VALUE...               rate, hold_down_ms, spec, ...
 *   role PATH TEXT                   what a sink path is (first = primary)
 *   act NS CLASS TEXT                CLASS: fault, restore or mark
 *   fwd NS TYPE TEXT                 the port's own event
 *   qmp NS EVENT TEXT                a QMP event
 *   phase NS NAME begin|end          a shaded phase (migration)
 *   count KEY N                      sent, port_dropped, testpmd_rx, ...
 *   mig KEY VALUE                    query-migrate figures (ms)
 *   crit KEY VALUE...                a criterion (see judge())
 *   status KEY VALUE                 interrupted 1, ...
 *
 * Usage: fsb-drill-report now | [--out DIR] [--quiet] RUNDIR...
 * Exit status: 0 every run met its criteria, 1 one did not, 2 bad
 * arguments or unreadable records (one line on stderr).
 *
 * libc only.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_RUNS 256
#define MAX_PATHS 8
#define MAX_ITEMS 2048
#define MAX_CHANGES 256
#define MAX_KV 48
#define MAX_REASONS 16
#define NAME_LEN 48
#define TEXT_LEN 200
#define NPHASE 3

static const char *const phase_names[NPHASE] = { "before", "during", "after" };

struct kv {
	char key[NAME_LEN];
	char val[TEXT_LEN];
};

struct kvlist {
	struct kv v[MAX_KV];
	unsigned n;
};

struct dpath {
	char name[NAME_LEN];
	char role[TEXT_LEN];
	uint64_t frames, fsb, first_ns, last_ns;
	uint64_t *bk;
	size_t nbk;
};

/* an event on the timeline: the drill's action, a link event, the
 * port's own event, a QMP event, a phase edge */
struct item {
	uint64_t ns;
	char src[8];                  /* act, link, fwd, qmp, phase */
	char cls[NAME_LEN];           /* act class, event type, ... */
	char text[TEXT_LEN];
};

struct dchange {
	uint64_t ns, prev;
	char from[NAME_LEN], to[NAME_LEN];
};

struct phase {
	bool valid;
	uint64_t from, to;
	double pps[MAX_PATHS];
};

struct switchover {
	uint64_t ns, prev;
	int from, to;
	char cause[TEXT_LEN], port_reason[NAME_LEN];
};

struct run {
	char dir[512];
	char scenario[NAME_LEN], variant[NAME_LEN], desc[TEXT_LEN];
	int runno;
	struct kvlist param, count, mig, crit, status;
	char sink[NAME_LEN];
	uint64_t start_ns, end_ns, bucket_ns, capture_drops;
	struct dpath path[MAX_PATHS];
	unsigned npath;
	bool have_seq;
	uint64_t expected, distinct, lost, dups, reordered;
	struct item item[MAX_ITEMS];
	unsigned nitem;
	struct dchange chg[MAX_CHANGES];
	unsigned nchg;
	uint64_t sil_from[3], sil_to[3];
	char sil_a[3][NAME_LEN], sil_b[3][NAME_LEN];
	unsigned nsil;
	/* computed */
	uint64_t first_ns, last_ns;
	struct phase ph[NPHASE];
	struct switchover sw[MAX_CHANGES];
	unsigned nsw;
	int64_t recover_ns;           /* -1: none */
	bool recover_approx;
	uint64_t lost_total, unaccounted;
	double silence_ms;            /* longest, -1 none */
	uint64_t silence_at;
	char silence_a[NAME_LEN], silence_b[NAME_LEN];
	bool pass;
	char reason[MAX_REASONS][TEXT_LEN];
	unsigned nreason;
};

static struct run *runs[MAX_RUNS];
static unsigned nruns;
static bool quiet;

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...)
{
	va_list ap;
	fputs("fsb-drill-report: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/* a bounded copy that truncates: record fields are labels */
static void copy(char *dst, size_t len, const char *src)
{
	size_t n = src ? strnlen(src, len - 1) : 0;
	if (n)
		memcpy(dst, src, n);
	dst[n] = 0;
}

/* ---- reading ---- */

static void kv_set(struct kvlist *l, const char *key, const char *val)
{
	for (unsigned i = 0; i < l->n; i++)
		if (strcmp(l->v[i].key, key) == 0) {
			copy(l->v[i].val, sizeof(l->v[i].val), val);
			return;
		}
	if (l->n < MAX_KV) {
		copy(l->v[l->n].key, NAME_LEN, key);
		copy(l->v[l->n].val, TEXT_LEN, val);
		l->n++;
	}
}

static const char *kv_get(const struct kvlist *l, const char *key)
{
	for (unsigned i = 0; i < l->n; i++)
		if (strcmp(l->v[i].key, key) == 0)
			return l->v[i].val;
	return NULL;
}

static bool kv_num(const struct kvlist *l, const char *key, double *out)
{
	const char *s = kv_get(l, key);
	char *end;
	if (!s || !*s)
		return false;
	errno = 0;
	double d = strtod(s, &end);
	if (errno || end == s)
		return false;
	*out = d;
	return true;
}

/* "key=N" among the fields of a record */
static uint64_t field_u64(char **tok, int ntok, const char *key)
{
	size_t kl = strlen(key);
	for (int i = 0; i < ntok; i++)
		if (strncmp(tok[i], key, kl) == 0 && tok[i][kl] == '=')
			return strtoull(tok[i] + kl + 1, NULL, 10);
	return 0;
}

static struct dpath *path_get(struct run *r, const char *name, bool add)
{
	for (unsigned i = 0; i < r->npath; i++)
		if (strcmp(r->path[i].name, name) == 0)
			return &r->path[i];
	if (!add || r->npath >= MAX_PATHS)
		return NULL;
	struct dpath *p = &r->path[r->npath++];
	copy(p->name, sizeof(p->name), name);
	return p;
}

static void item_add(struct run *r, uint64_t ns, const char *src, const char *cls,
		     const char *text)
{
	if (r->nitem >= MAX_ITEMS)
		return;
	struct item *it = &r->item[r->nitem++];
	it->ns = ns;
	copy(it->src, sizeof(it->src), src);
	copy(it->cls, sizeof(it->cls), cls);
	copy(it->text, sizeof(it->text), text);
}

/* the rest of the line after n fields */
static const char *rest_after(const char *line, int n)
{
	const char *s = line;
	for (int i = 0; i < n; i++) {
		while (*s == ' ')
			s++;
		while (*s && *s != ' ')
			s++;
	}
	while (*s == ' ')
		s++;
	return s;
}

static void read_records(struct run *r, const char *file, bool must)
{
	FILE *f = fopen(file, "r");
	if (!f) {
		if (must)
			die(2, "cannot read %s: %s", file, strerror(errno));
		return;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = 0;
		if (!len || line[0] == '#')
			continue;
		char *full = strdup(line);
		if (!full)
			die(2, "out of memory");
		/* fields; buckets lines can be long, so count first */
		int cnt = 1;
		for (char *c = line; *c; c++)
			cnt += *c == ' ';
		char **tok = calloc((size_t)cnt + 1, sizeof(*tok));
		if (!tok)
			die(2, "out of memory");
		int nt = 0;
		for (char *save = NULL, *t = strtok_r(line, " ", &save); t;
		     t = strtok_r(NULL, " ", &save))
			tok[nt++] = t;
		const char *k = tok[0];
		if (!k) {
			free(tok);
			free(full);
			continue;
		}
		if (strcmp(k, "sink") == 0 && nt >= 2) {
			copy(r->sink, sizeof(r->sink), tok[1]);
			r->start_ns = field_u64(tok, nt, "start_ns");
			r->end_ns = field_u64(tok, nt, "end_ns");
			r->bucket_ns = field_u64(tok, nt, "bucket_ns");
			r->capture_drops = field_u64(tok, nt, "capture_drops");
		} else if (strcmp(k, "path") == 0 && nt >= 2) {
			struct dpath *p = path_get(r, tok[1], true);
			if (p) {
				p->frames = field_u64(tok, nt, "frames");
				p->fsb = field_u64(tok, nt, "fsb");
				p->first_ns = field_u64(tok, nt, "first_ns");
				p->last_ns = field_u64(tok, nt, "last_ns");
			}
		} else if (strcmp(k, "buckets") == 0 && nt >= 2) {
			struct dpath *p = path_get(r, tok[1], true);
			if (p) {
				free(p->bk);
				p->nbk = (size_t)(nt - 2);
				p->bk = calloc(p->nbk + 1, sizeof(*p->bk));
				if (!p->bk)
					die(2, "out of memory");
				for (int i = 2; i < nt; i++)
					p->bk[i - 2] = strtoull(tok[i], NULL, 10);
			}
		} else if (strcmp(k, "seq") == 0) {
			r->have_seq = true;
			r->expected = field_u64(tok, nt, "expected");
			r->distinct = field_u64(tok, nt, "distinct");
			r->lost = field_u64(tok, nt, "lost");
			r->dups = field_u64(tok, nt, "dups");
			r->reordered = field_u64(tok, nt, "reordered");
		} else if (strcmp(k, "event") == 0 && nt >= 5) {
			char text[TEXT_LEN];
			snprintf(text, sizeof(text), "%s %s", tok[4], tok[3]);
			item_add(r, strtoull(tok[1], NULL, 10), "link", tok[3], text);
		} else if (strcmp(k, "change") == 0 && nt >= 5) {
			if (r->nchg < MAX_CHANGES) {
				struct dchange *c = &r->chg[r->nchg++];
				c->ns = strtoull(tok[1], NULL, 10);
				copy(c->from, sizeof(c->from), tok[2]);
				copy(c->to, sizeof(c->to), tok[3]);
				c->prev = strtoull(tok[4], NULL, 10);
			}
		} else if (strcmp(k, "silence") == 0 && nt >= 5) {
			if (r->nsil < 3) {
				r->sil_from[r->nsil] = strtoull(tok[1], NULL, 10);
				r->sil_to[r->nsil] = strtoull(tok[2], NULL, 10);
				copy(r->sil_a[r->nsil], NAME_LEN, tok[3]);
				copy(r->sil_b[r->nsil], NAME_LEN, tok[4]);
				r->nsil++;
			}
		} else if (strcmp(k, "scenario") == 0 && nt >= 2) {
			copy(r->scenario, sizeof(r->scenario), tok[1]);
		} else if (strcmp(k, "variant") == 0 && nt >= 2) {
			copy(r->variant, sizeof(r->variant), tok[1]);
		} else if (strcmp(k, "run") == 0 && nt >= 2) {
			r->runno = atoi(tok[1]);
		} else if (strcmp(k, "desc") == 0) {
			copy(r->desc, sizeof(r->desc), rest_after(full, 1));
		} else if ((strcmp(k, "param") == 0 || strcmp(k, "count") == 0 ||
			    strcmp(k, "mig") == 0 || strcmp(k, "crit") == 0 ||
			    strcmp(k, "status") == 0) && nt >= 3) {
			struct kvlist *l = k[0] == 'p' ? &r->param : k[0] == 'm' ? &r->mig :
					   k[1] == 'o' ? &r->count : k[1] == 'r' ? &r->crit : &r->status;
			kv_set(l, tok[1], rest_after(full, 2));
		} else if (strcmp(k, "role") == 0 && nt >= 3) {
			struct dpath *p = path_get(r, tok[1], true);
			if (p)
				copy(p->role, sizeof(p->role), rest_after(full, 2));
		} else if ((strcmp(k, "act") == 0 || strcmp(k, "fwd") == 0 ||
			    strcmp(k, "qmp") == 0 || strcmp(k, "phase") == 0) && nt >= 3) {
			const char *text = rest_after(full, 3);
			if (strcmp(k, "phase") == 0)
				text = nt >= 4 ? tok[3] : "";
			item_add(r, strtoull(tok[1], NULL, 10), k, tok[2], text);
		} else {
			die(2, "%s:%u: unknown record '%s'", file, lineno, k);
		}
		free(tok);
		free(full);
	}
	free(line);
	fclose(f);
}

static int item_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	return x->ns < y->ns ? -1 : x->ns > y->ns;
}

/* ---- computing ---- */

static double ms_of(uint64_t ns)
{
	return (double)ns / 1e6;
}

/* A switchover's downtime at the sink: the last frame on the old path
 * to the first on the new one; 0 when they overlap (frames still in
 * flight on the old path arrived after the new path's first). */
static double sw_down_ms(const struct switchover *w)
{
	return w->ns > w->prev ? ms_of(w->ns - w->prev) : 0.0;
}

static double rel_s(const struct run *r, uint64_t ns)
{
	return ((double)ns - (double)r->start_ns) / 1e9;
}

static double path_pps(const struct run *r, const struct dpath *p, uint64_t from, uint64_t to)
{
	if (!r->bucket_ns || to <= from || from < r->start_ns ||
	    (to - r->start_ns) / r->bucket_ns > p->nbk + 1000000)
		return -1;
	uint64_t a = (from - r->start_ns + r->bucket_ns - 1) / r->bucket_ns;
	uint64_t b = (to - r->start_ns) / r->bucket_ns;  /* exclusive */
	if (b <= a)
		return -1;
	uint64_t sum = 0;
	for (uint64_t k = a; k < b; k++)
		sum += k < p->nbk ? p->bk[k] : 0;
	return (double)sum / ((double)(b - a) * (double)r->bucket_ns / 1e9);
}

static int path_index(const struct run *r, const char *name)
{
	for (unsigned i = 0; i < r->npath; i++)
		if (strcmp(r->path[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void reason(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reason(struct run *r, const char *fmt, ...)
{
	if (r->nreason >= MAX_REASONS)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->reason[r->nreason++], TEXT_LEN, fmt, ap);
	va_end(ap);
}

static double param_num(const struct run *r, const char *key, double dflt)
{
	double v;
	return kv_num(&r->param, key, &v) ? v : dflt;
}

static void compute(struct run *r)
{
	qsort(r->item, r->nitem, sizeof(r->item[0]), item_cmp);
	r->first_ns = 0;
	r->last_ns = 0;
	for (unsigned i = 0; i < r->npath; i++) {
		struct dpath *p = &r->path[i];
		if (p->first_ns && (!r->first_ns || p->first_ns < r->first_ns))
			r->first_ns = p->first_ns;
		if (p->last_ns > r->last_ns)
			r->last_ns = p->last_ns;
	}
	uint64_t f0 = 0, rl = 0;
	for (unsigned i = 0; i < r->nitem; i++) {
		const struct item *it = &r->item[i];
		if (strcmp(it->src, "act") != 0)
			continue;
		if (strcmp(it->cls, "fault") == 0 && !f0)
			f0 = it->ns;
		if (strcmp(it->cls, "restore") == 0)
			rl = it->ns;
	}
	/* before: from the first frame on the path the run starts on (a
	 * guest may start on its standby while the VF comes up) */
	const char *before_on = kv_get(&r->crit, "before_on");
	int bi = before_on ? path_index(r, before_on) : -1;
	uint64_t b0 = bi >= 0 && r->path[bi].first_ns ? r->path[bi].first_ns : r->first_ns;

	/* recovery: the last restore -> the first frame on the path the
	 * run must end on */
	r->recover_ns = -1;
	r->recover_approx = false;
	const char *after_on = kv_get(&r->crit, "after_on");
	const uint64_t ms = 1000000ull;
	int ai = after_on ? path_index(r, after_on) : (r->npath ? 0 : -1);
	if (rl && ai >= 0) {
		for (unsigned c = 0; c < r->nchg && r->recover_ns < 0; c++)
			if (r->chg[c].ns + ms >= rl && path_index(r, r->chg[c].to) == ai)
				r->recover_ns = r->chg[c].ns > rl ? (int64_t)(r->chg[c].ns - rl) : 0;
		if (r->recover_ns < 0 && r->bucket_ns && rl >= r->start_ns) {
			const struct dpath *p = &r->path[ai];
			for (uint64_t k = (rl - r->start_ns) / r->bucket_ns; k < p->nbk; k++)
				if (p->bk[k]) {
					uint64_t t = r->start_ns + k * r->bucket_ns;
					r->recover_ns = t > rl ? (int64_t)(t - rl) : 0;
					r->recover_approx = true;
					break;
				}
		}
	}

	uint64_t hold = (uint64_t)(param_num(r, "hold_down_ms", 0) * 1e6);
	uint64_t settle = (uint64_t)(param_num(r, "settle_ms", 200) * 1e6);
	struct { uint64_t a, b; } w[NPHASE] = { { 0, 0 }, { 0, 0 }, { 0, 0 } };
	if (r->first_ns) {
		w[0].a = b0 + 100 * ms;
		w[0].b = f0 ? (f0 > 50 * ms ? f0 - 50 * ms : 0) : r->last_ns - 100 * ms;
		if (f0) {
			w[1].a = f0 + settle;
			w[1].b = (rl > f0 ? rl : r->last_ns) - 50 * ms;
		}
		if (rl) {
			/* after the hold-down, and after the return itself when
			 * that came later (a backend that takes seconds to
			 * restart): the after phase is the steady state */
			w[2].a = rl + hold + 100 * ms;
			if (r->recover_ns >= 0 && rl + (uint64_t)r->recover_ns + settle > w[2].a)
				w[2].a = rl + (uint64_t)r->recover_ns + settle;
			w[2].b = r->last_ns > 100 * ms ? r->last_ns - 100 * ms : 0;
		}
	}
	for (int k = 0; k < NPHASE; k++) {
		struct phase *ph = &r->ph[k];
		/* unsigned arithmetic above: a window that wrapped, or lies
		 * outside what the sink counted, is no window */
		ph->valid = w[k].a && w[k].b > w[k].a + 50 * ms && w[k].a >= r->start_ns &&
			    w[k].b <= (r->end_ns > r->last_ns ? r->end_ns : r->last_ns);
		ph->from = w[k].a;
		ph->to = w[k].b;
		for (unsigned i = 0; i < r->npath; i++)
			ph->pps[i] = ph->valid ? path_pps(r, &r->path[i], w[k].a, w[k].b) : -1;
	}

	/* switchovers: the sink's path changes, each with what came last
	 * before it among the drill's actions, and the port's own event */
	r->nsw = 0;
	for (unsigned c = 0; c < r->nchg; c++) {
		const struct dchange *ch = &r->chg[c];
		/* the move onto the path the run starts on is the start,
		 * not a switchover */
		if (strcmp(ch->from, "-") == 0 || ch->ns <= b0)
			continue;
		struct switchover *s = &r->sw[r->nsw++];
		s->ns = ch->ns;
		s->prev = ch->prev;
		s->from = path_index(r, ch->from);
		s->to = path_index(r, ch->to);
		s->cause[0] = s->port_reason[0] = 0;
		uint64_t best = UINT64_MAX;
		const struct item *cause = NULL;
		for (unsigned i = 0; i < r->nitem; i++) {
			const struct item *it = &r->item[i];
			if (strcmp(it->src, "act") == 0 && it->ns <= ch->ns)
				cause = it;
			if (strcmp(it->src, "fwd") == 0 && strcmp(it->cls, "active-change") == 0) {
				uint64_t d = it->ns > ch->ns ? it->ns - ch->ns : ch->ns - it->ns;
				const char *p = strstr(it->text, "(");
				if (d < best && d < 100 * ms && p) {
					best = d;
					const char *e = strchr(p, ')');
					size_t n = e ? (size_t)(e - p - 1) : strlen(p + 1);
					if (n >= sizeof(s->port_reason))
						n = sizeof(s->port_reason) - 1;
					memcpy(s->port_reason, p + 1, n);
					s->port_reason[n] = 0;
				}
			}
		}
		if (cause) {
			char buf[TEXT_LEN + NAME_LEN + 4];
			snprintf(buf, sizeof(buf), "%s: %s", cause->cls, cause->text);
			copy(s->cause, sizeof(s->cause), buf);
		}
	}

	/* frames: what the sender had accepted by the port and the sink
	 * never saw is lost; what the port counted as dropped is accounted */
	double sent = -1, pdrop = 0;
	kv_num(&r->count, "sent", &sent);
	kv_num(&r->count, "port_dropped", &pdrop);
	r->lost_total = r->expected - r->distinct;
	if (sent > (double)r->expected)
		r->lost_total += (uint64_t)sent - r->expected;
	r->unaccounted = r->lost_total > (uint64_t)pdrop ? r->lost_total - (uint64_t)pdrop : 0;

	r->silence_ms = -1;
	/* the longest silence once traffic flowed (the sender's own start
	 * is not the failover's) and before it ended */
	for (unsigned i = 0; i < r->nsil; i++)
		if (r->sil_to[i] && r->sil_to[i] > r->sil_from[i] &&
		    r->sil_from[i] >= r->first_ns + 100 * ms) {
			r->silence_ms = ms_of(r->sil_to[i] - r->sil_from[i]);
			r->silence_at = r->sil_from[i];
			copy(r->silence_a, NAME_LEN, r->sil_a[i]);
			copy(r->silence_b, NAME_LEN, r->sil_b[i]);
			break;
		}
}

static bool is_anchor(const struct run *r)
{
	const char *a = kv_get(&r->status, "anchor");
	return a && strcmp(a, "0") != 0;
}

static const char *after_on_name(const struct run *r)
{
	const char *a = kv_get(&r->crit, "after_on");
	return a ? a : r->npath ? r->path[0].name : "?";
}

/* the criteria: each crit record is checked, and each failure is a
 * reason the person can act on */
static void judge(struct run *r)
{
	double rate = param_num(r, "rate", 0);
	r->nreason = 0;
	if (!r->bucket_ns || !r->npath)
		reason(r, "no sink records: nothing was counted");
	/* not the port's loss: the sink could not keep up, and every
	 * count below is short by what it dropped */
	if (r->capture_drops)
		reason(r, "the sink dropped %" PRIu64 " frames (its capture ring overflowed: "
		       "a stalled machine): the counts are incomplete", r->capture_drops);
	for (unsigned i = 0; i < r->crit.n; i++) {
		const char *k = r->crit.v[i].key, *v = r->crit.v[i].val;
		double x = strtod(v, NULL);
		for (int p = 0; p < NPHASE; p++) {
			char key[32];
			snprintf(key, sizeof(key), "%s_on", phase_names[p]);
			if (strcmp(k, key) != 0)
				continue;
			int pi = path_index(r, v);
			if (!r->ph[p].valid)
				reason(r, "%s: no window to judge (the run was too short, or the "
				       "traffic stopped before it)", phase_names[p]);
			else if (pi < 0 || r->ph[p].pps[pi] < 0.5 * rate)
				reason(r, "%s: %s carried %.0f pps, under half the %.0f pps sent",
				       phase_names[p], v, pi < 0 ? 0 : r->ph[p].pps[pi], rate);
		}
		if (strcmp(k, "during_none") == 0 && r->ph[1].valid) {
			for (unsigned p = 0; p < r->npath; p++)
				if (r->ph[1].pps[p] > 0.01 * rate)
					reason(r, "during: %s carried %.0f pps while every path was down",
					       r->path[p].name, r->ph[1].pps[p]);
		} else if (strcmp(k, "max_lost") == 0 && (double)r->lost_total > x) {
			reason(r, "%" PRIu64 " frames lost, more than %s", r->lost_total, v);
		} else if (strcmp(k, "max_unaccounted") == 0 && (double)r->unaccounted > x) {
			reason(r, "%" PRIu64 " frames lost that the port did not count as dropped, "
			       "more than %s", r->unaccounted, v);
		} else if (strcmp(k, "max_dups") == 0 && (double)r->dups > x) {
			reason(r, "%" PRIu64 " frames delivered twice, more than %s", r->dups, v);
		} else if (strcmp(k, "max_silence_ms") == 0 && r->silence_ms > x) {
			reason(r, "longest silence %.3f ms, more than %s ms", r->silence_ms, v);
		} else if (strcmp(k, "max_gap_ms") == 0) {
			for (unsigned s = 0; s < r->nsw; s++)
				if (sw_down_ms(&r->sw[s]) > x)
					reason(r, "switchover at %.3f s: downtime %.3f ms, more than %s ms",
					       rel_s(r, r->sw[s].ns), sw_down_ms(&r->sw[s]), v);
		} else if (strcmp(k, "max_changes") == 0 && (double)r->nsw > x) {
			reason(r, "%u switchovers, more than %s (ping-pong)", r->nsw, v);
		} else if (strcmp(k, "min_changes") == 0 && (double)r->nsw < x) {
			reason(r, "%u switchovers seen at the sink, fewer than %s", r->nsw, v);
		} else if (strcmp(k, "max_recover_ms") == 0) {
			if (r->recover_ns < 0)
				reason(r, "no frame on %s after the last restore", after_on_name(r));
			else if (ms_of((uint64_t)r->recover_ns) > x)
				reason(r, "recovery %.3f ms after the last restore, more than %s ms",
				       ms_of((uint64_t)r->recover_ns), v);
		} else if (strcmp(k, "min_count") == 0) {
			char key[NAME_LEN];
			double want = 0, got = -1;
			if (sscanf(v, "%47s %lf", key, &want) == 2 && !(kv_num(&r->count, key, &got) && got >= want))
				reason(r, "%s is %s, want at least %.0f", key,
				       kv_get(&r->count, key) ? kv_get(&r->count, key) : "missing", want);
		} else if (strcmp(k, "zero_count") == 0) {
			double got = -1;
			if (!kv_num(&r->count, v, &got) || got != 0)
				reason(r, "%s is %s, want 0", v, kv_get(&r->count, v) ? kv_get(&r->count, v) : "missing");
		}
	}
	const char *intr = kv_get(&r->status, "interrupted");
	if (intr && strcmp(intr, "0") != 0)
		reason(r, "interrupted (SIGINT): the run did not finish");
	const char *err = kv_get(&r->status, "error");
	if (err)
		reason(r, "%s", err);
	r->pass = r->nreason == 0;
}

/* ---- the text table (stdout) ---- */

static const char *run_label(const struct run *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s #%d", r->scenario[0] ? r->scenario : "?",
		 r->variant[0] ? "/" : "", r->variant, r->runno);
	return buf;
}

static void json_line(FILE *f, const struct run *r);

static void print_run(const struct run *r)
{
	char lab[128];
	printf("\n== %s: %s\n", run_label(r, lab, sizeof(lab)), r->desc);
	for (unsigned i = 0; i < r->npath; i++)
		printf("   %-6s %s\n", r->path[i].name, r->path[i].role[0] ? r->path[i].role : "");
	printf("   %-7s %-17s", "phase", "window (s)");
	for (unsigned i = 0; i < r->npath; i++)
		printf(" %10s", r->path[i].name);
	printf("   (pps)\n");
	for (int k = 0; k < NPHASE; k++) {
		const struct phase *ph = &r->ph[k];
		if (!ph->valid) {
			printf("   %-7s %-17s", phase_names[k], "(none)");
			for (unsigned i = 0; i < r->npath; i++)
				printf(" %10s", "-");
			printf("\n");
			continue;
		}
		char win[40];
		snprintf(win, sizeof(win), "%6.2f - %-8.2f", rel_s(r, ph->from), rel_s(r, ph->to));
		printf("   %-7s %-17s", phase_names[k], win);
		for (unsigned i = 0; i < r->npath; i++)
			printf(" %10.0f", ph->pps[i]);
		printf("\n");
	}
	for (unsigned s = 0; s < r->nsw; s++) {
		const struct switchover *w = &r->sw[s];
		printf("   switchover %7.3f s  %s -> %s  downtime %.3f ms  cause %s%s%s%s\n",
		       rel_s(r, w->ns), w->from >= 0 ? r->path[w->from].name : "?",
		       w->to >= 0 ? r->path[w->to].name : "?", sw_down_ms(w),
		       w->cause[0] ? w->cause : "-", w->port_reason[0] ? " (port: " : "",
		       w->port_reason, w->port_reason[0] ? ")" : "");
	}
	if (!r->nsw)
		printf("   switchovers: none seen at the sink\n");
	double sent = -1, pdrop = 0;
	kv_num(&r->count, "sent", &sent);
	kv_num(&r->count, "port_dropped", &pdrop);
	printf("   frames: sent %.0f, received %" PRIu64 ", lost %" PRIu64
	       " (%.0f counted as dropped by the port), duplicated %" PRIu64
	       ", reordered %" PRIu64 "\n", sent, r->distinct, r->lost_total, pdrop,
	       r->dups, r->reordered);
	if (r->silence_ms >= 0 && strcmp(r->silence_a, "-") != 0)
		printf("   longest silence %.3f ms at %.3f s (%s -> %s)", r->silence_ms,
		       rel_s(r, r->silence_at), r->silence_a, r->silence_b);
	else if (r->silence_ms >= 0)
		printf("   longest silence %.3f ms at %.3f s", r->silence_ms, rel_s(r, r->silence_at));
	else
		printf("   longest silence: -");
	if (r->recover_ns >= 0)
		printf("; back on %s %s%.3f ms after the last restore", after_on_name(r),
		       r->recover_approx ? "~" : "", ms_of((uint64_t)r->recover_ns));
	printf("\n");
	if (r->mig.n) {
		printf("   migration:");
		for (unsigned i = 0; i < r->mig.n; i++)
			printf(" %s %s", r->mig.v[i].key, r->mig.v[i].val);
		printf("\n");
	}
	if (r->count.n) {
		printf("   counters:");
		for (unsigned i = 0; i < r->count.n; i++)
			printf(" %s %s", r->count.v[i].key, r->count.v[i].val);
		printf("\n");
	}
	printf("verdict %s%s: %s", run_label(r, lab, sizeof(lab)), is_anchor(r) ? " (anchor)" : "",
	       r->pass ? "PASS" : "FAIL");
	for (unsigned i = 0; i < r->nreason; i++)
		printf("%s%s", i ? "; " : ": ", r->reason[i]);
	printf("\n");
	json_line(stdout, r);
}

/* ---- report.json ---- */

static void jstr(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\')
			fprintf(f, "\\%c", *c);
		else if (*c < 0x20)
			fprintf(f, "\\u%04x", *c);
		else
			fputc(*c, f);
	}
	fputc('"', f);
}

static void jnum(FILE *f, double v, int prec)
{
	if (v < 0 || isnan(v))
		fprintf(f, "null");
	else
		fprintf(f, "%.*f", prec, v);
}

/* a value from the records: a number when it reads as one */
static void jval(FILE *f, const char *v)
{
	char *end;
	if (*v) {
		strtod(v, &end);
		if (!*end && strspn(v, "0123456789.-") == strlen(v)) {
			fputs(v, f);
			return;
		}
	}
	jstr(f, v);
}

static void jkv(FILE *f, const struct kvlist *l)
{
	fputc('{', f);
	for (unsigned i = 0; i < l->n; i++) {
		fprintf(f, "%s", i ? "," : "");
		jstr(f, l->v[i].key);
		fputc(':', f);
		jval(f, l->v[i].val);
	}
	fputc('}', f);
}

static void json_run(FILE *f, const struct run *r)
{
	fprintf(f, "{\"scenario\":");
	jstr(f, r->scenario);
	fprintf(f, ",\"variant\":");
	jstr(f, r->variant[0] ? r->variant : "fsb");
	fprintf(f, ",\"run\":%d,\"anchor\":%s,\"description\":", r->runno,
		is_anchor(r) ? "true" : "false");
	jstr(f, r->desc);
	fprintf(f, ",\"params\":");
	jkv(f, &r->param);
	fprintf(f, ",\"clock\":\"CLOCK_MONOTONIC\",\"sink\":");
	jstr(f, r->sink);
	fprintf(f, ",\"t0_ns\":%" PRIu64 ",\"bucket_ms\":%.3f,\"capture_drops\":%" PRIu64
		",\n \"paths\":[", r->start_ns, ms_of(r->bucket_ns), r->capture_drops);
	for (unsigned i = 0; i < r->npath; i++) {
		fprintf(f, "%s{\"name\":", i ? "," : "");
		jstr(f, r->path[i].name);
		fprintf(f, ",\"role\":");
		jstr(f, r->path[i].role);
		fprintf(f, ",\"frames\":%" PRIu64 "}", r->path[i].fsb);
	}
	fprintf(f, "],\n \"phases\":{");
	for (int k = 0; k < NPHASE; k++) {
		const struct phase *ph = &r->ph[k];
		fprintf(f, "%s\"%s\":", k ? "," : "", phase_names[k]);
		if (!ph->valid) {
			fprintf(f, "null");
			continue;
		}
		fprintf(f, "{\"from_s\":%.3f,\"to_s\":%.3f,\"pps\":{", rel_s(r, ph->from), rel_s(r, ph->to));
		for (unsigned i = 0; i < r->npath; i++) {
			fprintf(f, "%s", i ? "," : "");
			jstr(f, r->path[i].name);
			fputc(':', f);
			jnum(f, ph->pps[i], 0);
		}
		fprintf(f, "}}");
	}
	double sent = -1, pdrop = -1;
	kv_num(&r->count, "sent", &sent);
	kv_num(&r->count, "port_dropped", &pdrop);
	fprintf(f, "},\n \"frames\":{\"sent\":");
	jnum(f, sent, 0);
	fprintf(f, ",\"received\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"port_dropped\":",
		r->distinct, r->lost_total);
	jnum(f, pdrop, 0);
	fprintf(f, ",\"unaccounted\":%" PRIu64 ",\"duplicated\":%" PRIu64 ",\"reordered\":%" PRIu64
		"},\n \"switchovers\":[", r->unaccounted, r->dups, r->reordered);
	for (unsigned s = 0; s < r->nsw; s++) {
		const struct switchover *w = &r->sw[s];
		fprintf(f, "%s{\"t_s\":%.6f,\"from\":", s ? "," : "", rel_s(r, w->ns));
		jstr(f, w->from >= 0 ? r->path[w->from].name : "?");
		fprintf(f, ",\"to\":");
		jstr(f, w->to >= 0 ? r->path[w->to].name : "?");
		fprintf(f, ",\"cause\":");
		jstr(f, w->cause);
		fprintf(f, ",\"port_reason\":");
		if (w->port_reason[0])
			jstr(f, w->port_reason);
		else
			fprintf(f, "null");
		fprintf(f, ",\"downtime_ms\":%.3f}", sw_down_ms(w));
	}
	fprintf(f, "],\n \"longest_silence\":");
	if (r->silence_ms >= 0) {
		fprintf(f, "{\"t_s\":%.6f,\"ms\":%.3f,\"from\":", rel_s(r, r->silence_at), r->silence_ms);
		jstr(f, r->silence_a);
		fprintf(f, ",\"to\":");
		jstr(f, r->silence_b);
		fprintf(f, "}");
	} else {
		fprintf(f, "null");
	}
	fprintf(f, ",\"recovery_ms\":");
	jnum(f, r->recover_ns >= 0 ? ms_of((uint64_t)r->recover_ns) : -1, 3);
	fprintf(f, ",\n \"migration\":");
	if (r->mig.n)
		jkv(f, &r->mig);
	else
		fprintf(f, "null");
	fprintf(f, ",\"counters\":");
	jkv(f, &r->count);
	fprintf(f, ",\n \"events\":[");
	for (unsigned i = 0; i < r->nitem; i++) {
		const struct item *it = &r->item[i];
		fprintf(f, "%s\n  {\"t_s\":%.6f,\"source\":", i ? "," : "", rel_s(r, it->ns));
		jstr(f, it->src);
		fprintf(f, ",\"kind\":");
		jstr(f, it->cls);
		fprintf(f, ",\"text\":");
		jstr(f, it->text);
		fprintf(f, "}");
	}
	fprintf(f, "],\n \"criteria\":");
	jkv(f, &r->crit);
	fprintf(f, ",\"verdict\":{\"pass\":%s,\"reasons\":[", r->pass ? "true" : "false");
	for (unsigned i = 0; i < r->nreason; i++) {
		fprintf(f, "%s", i ? "," : "");
		jstr(f, r->reason[i]);
	}
	fprintf(f, "]}}");
}

/* one line per run on stdout, for scripts: the figures of the table */
static void json_line(FILE *f, const struct run *r)
{
	double sent = -1;
	kv_num(&r->count, "sent", &sent);
	fprintf(f, "{\"drill\":");
	jstr(f, r->scenario);
	fprintf(f, ",\"variant\":");
	jstr(f, r->variant[0] ? r->variant : "fsb");
	fprintf(f, ",\"run\":%d,\"pass\":%s,\"params\":", r->runno, r->pass ? "true" : "false");
	jkv(f, &r->param);
	fprintf(f, ",\"sent\":");
	jnum(f, sent, 0);
	fprintf(f, ",\"received\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"duplicated\":%" PRIu64
		",\"reordered\":%" PRIu64 ",\"switchovers\":%u,\"first_switchover_ms\":",
		r->distinct, r->lost_total, r->dups, r->reordered, r->nsw);
	jnum(f, r->nsw ? sw_down_ms(&r->sw[0]) : -1, 3);
	fprintf(f, ",\"longest_silence_ms\":");
	jnum(f, r->silence_ms, 3);
	fprintf(f, ",\"recovery_ms\":");
	jnum(f, r->recover_ns >= 0 ? ms_of((uint64_t)r->recover_ns) : -1, 3);
	fprintf(f, ",\"counters\":");
	jkv(f, &r->count);
	fprintf(f, "}\n");
}

/* ---- the summary: medians per scenario and variant ---- */

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	if (!n)
		return -1;
	qsort(v, n, sizeof(*v), dcmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct group {
	const char *scenario, *variant;
	unsigned n, pass;
	double sw[MAX_RUNS], lost[MAX_RUNS], sil[MAX_RUNS], rec[MAX_RUNS], dt[MAX_RUNS];
	unsigned nsw, nrec, ndt, nsil;
	double med_sw, med_lost, med_sil, med_rec, med_dt;
};

static struct group groups[MAX_RUNS];
static unsigned ngroups;

static void summarize(void)
{
	for (unsigned i = 0; i < nruns; i++) {
		const struct run *r = runs[i];
		struct group *g = NULL;
		for (unsigned k = 0; k < ngroups && !g; k++)
			if (strcmp(groups[k].scenario, r->scenario) == 0 &&
			    strcmp(groups[k].variant, r->variant) == 0)
				g = &groups[k];
		if (!g) {
			g = &groups[ngroups++];
			g->scenario = r->scenario;
			g->variant = r->variant;
		}
		g->pass += r->pass;
		g->lost[g->n] = (double)r->lost_total;
		g->n++;
		if (r->nsw)
			g->sw[g->nsw++] = sw_down_ms(&r->sw[0]);
		if (r->silence_ms >= 0)
			g->sil[g->nsil++] = r->silence_ms;
		if (r->recover_ns >= 0)
			g->rec[g->nrec++] = ms_of((uint64_t)r->recover_ns);
		double d;
		if (kv_num(&r->mig, "downtime_ms", &d))
			g->dt[g->ndt++] = d;
	}
	for (unsigned k = 0; k < ngroups; k++) {
		struct group *g = &groups[k];
		g->med_sw = median(g->sw, g->nsw);
		g->med_lost = median(g->lost, g->n);
		g->med_sil = median(g->sil, g->nsil);
		g->med_rec = median(g->rec, g->nrec);
		g->med_dt = median(g->dt, g->ndt);
	}
}

static void print_summary(void)
{
	printf("\n%-16s %-8s %5s %6s %14s %14s %12s %14s %14s\n", "scenario", "variant", "runs",
	       "passed", "switchover ms", "silence ms", "lost", "recovery ms", "mig. downtime");
	for (unsigned k = 0; k < ngroups; k++) {
		const struct group *g = &groups[k];
		char a[32], b[32], c[32], d[32], e[32];
		snprintf(a, sizeof(a), g->med_sw < 0 ? "-" : "%.3f", g->med_sw);
		snprintf(b, sizeof(b), g->med_sil < 0 ? "-" : "%.3f", g->med_sil);
		snprintf(c, sizeof(c), "%.0f", g->med_lost);
		snprintf(d, sizeof(d), g->med_rec < 0 ? "-" : "%.3f", g->med_rec);
		snprintf(e, sizeof(e), g->med_dt < 0 ? "-" : "%.0f", g->med_dt);
		printf("%-16s %-8s %5u %6u %14s %14s %12s %14s %14s\n", g->scenario,
		       g->variant[0] ? g->variant : "fsb", g->n, g->pass, a, b, c, d, e);
	}
	printf("(medians over the runs; switchover = the first one's downtime at the sink)\n");
	for (unsigned k = 0; k < ngroups; k++) {
		const struct group *g = &groups[k];
		printf("scenario %s%s%s: %s (%u of %u runs met the criteria)%s\n", g->scenario,
		       g->variant[0] ? "/" : "", g->variant, g->pass == g->n ? "PASS" : "FAIL",
		       g->pass, g->n, strcmp(g->variant, "kernel") == 0 ? " (the anchor)" : "");
	}
}

static void json_summary(FILE *f)
{
	fprintf(f, "\"summary\":[");
	for (unsigned k = 0; k < ngroups; k++) {
		const struct group *g = &groups[k];
		fprintf(f, "%s\n {\"scenario\":", k ? "," : "");
		jstr(f, g->scenario);
		fprintf(f, ",\"variant\":");
		jstr(f, g->variant[0] ? g->variant : "fsb");
		fprintf(f, ",\"runs\":%u,\"passed\":%u,\"median_switchover_ms\":", g->n, g->pass);
		jnum(f, g->med_sw, 3);
		fprintf(f, ",\"median_silence_ms\":");
		jnum(f, g->med_sil, 3);
		fprintf(f, ",\"median_lost\":");
		jnum(f, g->med_lost, 1);
		fprintf(f, ",\"median_recovery_ms\":");
		jnum(f, g->med_rec, 3);
		fprintf(f, ",\"median_migration_downtime_ms\":");
		jnum(f, g->med_dt, 1);
		fprintf(f, "}");
	}
	fprintf(f, "]");
}

/* ---- timeline.svg: one panel per run ---- */

#define SVG_W 1040
#define PANEL_H 330
#define PX0 80                        /* plot area */
#define PX1 820
#define PY0 56
#define PY1 276

static const char *const path_colors[MAX_PATHS] = {
	"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
};

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default:
			if ((unsigned char)*s >= 0x20)
				fputc(*s, f);
		}
	}
}

static double nice_step(double range, int want)
{
	double raw = range / want, p = pow(10, floor(log10(raw))), m = raw / p;
	return (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * p;
}

struct axes {
	double t0, t1, ymax;
};

static double sx(const struct axes *a, double t)
{
	return PX0 + (t - a->t0) / (a->t1 - a->t0) * (PX1 - PX0);
}

static double sy(const struct axes *a, double v)
{
	return PY1 - v / a->ymax * (PY1 - PY0);
}

static void svg_band(FILE *f, const struct axes *a, double t0, double t1, const char *fill,
		     double op, const char *label)
{
	if (t1 < a->t0 || t0 > a->t1)
		return;
	if (t0 < a->t0)
		t0 = a->t0;
	if (t1 > a->t1)
		t1 = a->t1;
	double x0 = sx(a, t0), x1 = sx(a, t1);
	if (x1 - x0 < 3) {
		double m = (x0 + x1) / 2;
		x0 = m - 1.5;
		x1 = m + 1.5;
	}
	fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\" "
		"fill-opacity=\"%.2f\"/>\n", x0, PY0, x1 - x0, PY1 - PY0, fill, op);
	if (label && x1 - x0 > 30)
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"#555\" "
			"text-anchor=\"middle\">%s</text>\n", (x0 + x1) / 2, PY0 + 11, label);
}

/* Display buckets: the sink's, merged so that each holds some 50
 * frames at the nominal rate (at 1000 pps a 10 ms bucket holds 10, and
 * the curve is all noise): @merge sink buckets of @bs seconds each. */
static void panel_buckets(const struct run *r, size_t *merge, double *bs)
{
	double rate = param_num(r, "rate", 0);
	double bs0 = (double)r->bucket_ns / 1e9;
	*merge = 1;
	if (rate > 0 && bs0 > 0 && rate * bs0 < 50)
		*merge = (size_t)ceil(50 / (rate * bs0));
	*bs = bs0 * (double)*merge;
}

/* The top of a run's y axis: its peak, but at most twice the rate, so
 * that one burst (a sender catching up at its start) is drawn clipped
 * at the top and does not flatten the rest. */
static double panel_ymax(const struct run *r)
{
	double rate = param_num(r, "rate", 0);
	size_t merge;
	double bs;
	panel_buckets(r, &merge, &bs);
	double peak = 0;
	for (unsigned i = 0; i < r->npath; i++)
		for (size_t k = 0; k < r->path[i].nbk; k += merge) {
			uint64_t c = 0;
			for (size_t j = k; j < k + merge && j < r->path[i].nbk; j++)
				c += r->path[i].bk[j];
			if (bs > 0 && c / bs > peak)
				peak = (double)c / bs;
		}
	if (rate > peak)
		peak = rate;
	if (rate > 0 && peak > 2 * rate)
		peak = 2 * rate;
	double ystep = nice_step(peak > 0 ? peak * 1.15 : 1, 4);
	return ceil((peak > 0 ? peak * 1.15 : 1) / ystep) * ystep;
}

/* One run's panel; @ymax is the report's (one scale for all panels,
 * so that runs and variants compare at a glance). */
static void svg_panel(FILE *f, const struct run *r, int y0, double ymax)
{
	char lab[128];
	struct axes a;
	a.t0 = r->first_ns ? rel_s(r, r->first_ns) - 0.2 : 0;
	a.t1 = r->last_ns ? rel_s(r, r->last_ns) + 0.2 : rel_s(r, r->end_ns);
	if (a.t0 < 0)
		a.t0 = 0;
	if (a.t1 <= a.t0 + 0.1)
		a.t1 = a.t0 + 1;
	size_t merge;
	double bs;
	panel_buckets(r, &merge, &bs);
	a.ymax = ymax;

	fprintf(f, "<g transform=\"translate(0,%d)\">\n", y0);
	fprintf(f, "<text x=\"12\" y=\"22\" font-size=\"15\" font-weight=\"bold\">");
	xml_text(f, run_label(r, lab, sizeof(lab)));
	fprintf(f, "</text>\n<text x=\"%d\" y=\"22\" font-size=\"15\" font-weight=\"bold\" "
		"text-anchor=\"end\" fill=\"%s\">%s</text>\n", PX1, r->pass ? "#1a7f37" : "#b42318",
		r->pass ? "PASS" : "FAIL");
	fprintf(f, "<text x=\"12\" y=\"40\" font-size=\"11\" fill=\"#333\">");
	xml_text(f, r->desc);
	if (!r->pass && r->nreason) {
		fprintf(f, " — ");
		xml_text(f, r->reason[0]);
	}
	fprintf(f, "</text>\n");
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fff\" "
		"stroke=\"#999\"/>\n", PX0, PY0, PX1 - PX0, PY1 - PY0);

	/* the phases judged, then migration phases, then switchovers */
	static const char *const band[NPHASE] = { "#e6f4ea", "#fdf0d5", "#e7eefc" };
	for (int k = 0; k < NPHASE; k++)
		if (r->ph[k].valid)
			svg_band(f, &a, rel_s(r, r->ph[k].from), rel_s(r, r->ph[k].to), band[k], 0.9,
				 phase_names[k]);
	for (unsigned i = 0; i < r->nitem; i++) {
		const struct item *it = &r->item[i];
		if (strcmp(it->src, "phase") != 0 || strcmp(it->text, "begin") != 0)
			continue;
		uint64_t end = r->last_ns;
		for (unsigned j = i + 1; j < r->nitem; j++)
			if (strcmp(r->item[j].src, "phase") == 0 && strcmp(r->item[j].cls, it->cls) == 0 &&
			    strcmp(r->item[j].text, "end") == 0) {
				end = r->item[j].ns;
				break;
			}
		svg_band(f, &a, rel_s(r, it->ns), rel_s(r, end), "#c9b6ec", 0.45, it->cls);
	}
	for (unsigned s = 0; s < r->nsw; s++) {
		double t = rel_s(r, r->sw[s].ns);
		svg_band(f, &a, rel_s(r, r->sw[s].prev), t, "#d62728", 0.35, NULL);
		if (t >= a.t0 && t <= a.t1)
			fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"9\" fill=\"#b42318\" "
				"stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\">%.3f ms</text>\n",
				sx(&a, t) + 4, PY1 - 22 - 10 * (int)(s % 2), sw_down_ms(&r->sw[s]));
	}

	/* grid and axes */
	double xstep = nice_step(a.t1 - a.t0, 10);
	for (double t = ceil(a.t0 / xstep) * xstep; t <= a.t1 + 1e-9; t += xstep) {
		double x = sx(&a, t);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n"
			"<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%g</text>\n",
			x, PY0, x, PY1, x, PY1 + 14, t);
	}
	double ystep = nice_step(a.ymax, 4);
	for (double v = 0; v <= a.ymax + 1e-9; v += ystep) {
		double y = sy(&a, v);
		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
			"<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%g</text>\n",
			PX0, y, PX1, y, PX0 - 4, y + 3, a.ymax >= 1000 ? v / 1000 : v);
	}
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">time (s) "
		"from the sink's start, one clock (CLOCK_MONOTONIC)</text>\n",
		(PX0 + PX1) / 2, PY1 + 30);
	fprintf(f, "<text transform=\"translate(%d,%d) rotate(-90)\" font-size=\"11\" "
		"text-anchor=\"middle\">%s per path (%.0f ms buckets)</text>\n", 22, (PY0 + PY1) / 2,
		a.ymax >= 1000 ? "kpps" : "pps", bs * 1000);

	/* the counts */
	for (unsigned i = 0; i < r->npath; i++) {
		const struct dpath *p = &r->path[i];
		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.3\" points=\"",
			path_colors[i]);
		double lastx = -1;
		for (size_t k = 0; k < p->nbk; k += merge) {
			double t = rel_s(r, r->start_ns) + ((double)k + 0.5 * (double)merge) * (bs / (double)merge);
			if (t < a.t0 || t > a.t1)
				continue;
			double x = sx(&a, t);
			if (x - lastx < 0.25 && k + merge < p->nbk)
				continue;
			uint64_t c = 0;
			for (size_t j = k; j < k + merge && j < p->nbk; j++)
				c += p->bk[j];
			double v = (double)c / bs;
			fprintf(f, "%.1f,%.1f ", x, sy(&a, v > a.ymax ? a.ymax : v));
			lastx = x;
		}
		fprintf(f, "\"/>\n");
	}

	/* event markers: the drill's actions and QMP events labelled,
	 * link events and the port's events as ticks.  Labels closer than
	 * LABEL_PX to the previous marker form a cluster (a flap's 20
	 * actions): its first and last are labelled, with the count of
	 * those between. */
	const double LABEL_PX = 14;
	unsigned idx[MAX_ITEMS], nm = 0;
	for (unsigned i = 0; i < r->nitem; i++) {
		const struct item *it = &r->item[i];
		double t = rel_s(r, it->ns);
		if (t < a.t0 || t > a.t1)
			continue;
		double x = sx(&a, t);
		if (strcmp(it->src, "act") == 0 || strcmp(it->src, "qmp") == 0) {
			idx[nm++] = i;
		} else if (strcmp(it->src, "link") == 0) {
			fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ff7f0e\" "
				"stroke-width=\"1.5\"><title>", x, PY1 - 9, x, PY1);
			xml_text(f, it->text);
			fprintf(f, "</title></line>\n");
		} else if (strcmp(it->src, "fwd") == 0 && strcmp(it->cls, "active-change") == 0) {
			fprintf(f, "<path d=\"M%.1f %d l-4 -7 h8 z\" fill=\"#17becf\"><title>", x, PY0);
			xml_text(f, it->text);
			fprintf(f, "</title></path>\n");
		}
	}
	for (unsigned m = 0; m < nm;) {
		unsigned e = m;            /* the cluster is idx[m..e] */
		while (e + 1 < nm && sx(&a, rel_s(r, r->item[idx[e + 1]].ns)) -
				     sx(&a, rel_s(r, r->item[idx[e]].ns)) < LABEL_PX)
			e++;
		for (unsigned j = m; j <= e; j++) {
			const struct item *it = &r->item[idx[j]];
			bool act = strcmp(it->src, "act") == 0;
			const char *col = act ? "#333" : "#6a3d9a";
			double x = sx(&a, rel_s(r, it->ns));
			fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" "
				"stroke-dasharray=\"4,3\"><title>", x, PY0, x, PY1, col);
			xml_text(f, act ? it->text : it->cls);
			fprintf(f, "</title></line>\n");
			if (j != m && j != e)
				continue;
			if (j == e && j != m &&
			    x - sx(&a, rel_s(r, r->item[idx[m]].ns)) < LABEL_PX)
				continue;
			/* a white halo keeps the label readable over the curves */
			fprintf(f, "<text transform=\"translate(%.1f,%d) rotate(-90)\" font-size=\"10\" "
				"fill=\"%s\" stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\" "
				"text-anchor=\"end\">", j == m ? x - 2 : x + 9, PY0 + 16, col);
			xml_text(f, act ? it->text : it->cls);
			if (!act && it->text[0]) {
				fputc(' ', f);
				xml_text(f, it->text);
			}
			if (act && strcmp(it->cls, "mark") != 0) {
				fprintf(f, " (");
				xml_text(f, it->cls);
				fprintf(f, ")");
			}
			if (j == m && e > m + 1)
				fprintf(f, " (+%u more)", e - m - 1);
			fprintf(f, "</text>\n");
		}
		m = e + 1;
	}

	/* legend */
	int ly = PY0 + 4;
	for (unsigned i = 0; i < r->npath; i++, ly += 30) {
		fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
			"stroke-width=\"3\"/>\n<text x=\"%d\" y=\"%d\" font-size=\"11\">",
			PX1 + 12, ly, PX1 + 32, ly, path_colors[i], PX1 + 38, ly + 4);
		xml_text(f, r->path[i].name);
		fprintf(f, "</text>\n");
		/* the role on up to two lines of ~36 characters, cut at a space */
		const char *role = r->path[i].role;
		for (int line = 0; line < 2 && *role; line++) {
			char buf[48];
			size_t n = strlen(role);
			if (n > 36) {
				n = 36;
				while (n > 20 && role[n] != ' ')
					n--;
				if (line == 1 && strlen(role) > 36) {
					n = 33;
				}
			}
			memcpy(buf, role, n);
			buf[n] = 0;
			if (line == 1 && strlen(role) > 36)
				strcat(buf, "...");
			fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"9\" fill=\"#555\">",
				PX1 + 38, ly + 15 + 11 * line);
			xml_text(f, buf);
			fprintf(f, "</text>\n");
			role += n;
			while (*role == ' ')
				role++;
			if (line == 1)
				break;
		}
		ly += 11;
	}
	static const struct { const char *kind, *col, *what; } leg[] = {
		{ "band", "#d62728", "switchover (at the sink)" },
		{ "band", "#c9b6ec", "migration phase" },
		{ "dash", "#333", "drill action" },
		{ "dash", "#6a3d9a", "QMP event" },
		{ "tick", "#ff7f0e", "link event (rtnetlink)" },
		{ "tri", "#17becf", "port's own TX change" },
	};
	bool have[6] = { r->nsw > 0, false, false, false, false, false };
	for (unsigned i = 0; i < r->nitem; i++) {
		const char *src = r->item[i].src;
		have[1] |= strcmp(src, "phase") == 0;
		have[2] |= strcmp(src, "act") == 0;
		have[3] |= strcmp(src, "qmp") == 0;
		have[4] |= strcmp(src, "link") == 0;
		have[5] |= strcmp(src, "fwd") == 0 && strcmp(r->item[i].cls, "active-change") == 0;
	}
	for (size_t i = 0; i < sizeof(leg) / sizeof(leg[0]); i++) {
		if (!have[i])
			continue;
		if (strcmp(leg[i].kind, "band") == 0)
			fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"20\" height=\"9\" fill=\"%s\" "
				"fill-opacity=\"0.5\"/>\n", PX1 + 12, ly - 5, leg[i].col);
		else if (strcmp(leg[i].kind, "dash") == 0)
			fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
				"stroke-dasharray=\"4,3\"/>\n", PX1 + 12, ly, PX1 + 32, ly, leg[i].col);
		else if (strcmp(leg[i].kind, "tick") == 0)
			fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
				"stroke-width=\"1.5\"/>\n", PX1 + 22, ly - 5, PX1 + 22, ly + 4, leg[i].col);
		else
			fprintf(f, "<path d=\"M%d %d l-4 -7 h8 z\" fill=\"%s\"/>\n", PX1 + 22, ly + 4,
				leg[i].col);
		fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\">%s</text>\n", PX1 + 38, ly + 4,
			leg[i].what);
		ly += 17;
	}
	fprintf(f, "</g>\n");
}

static void write_svg(const char *file)
{
	FILE *f = fopen(file, "w");
	if (!f)
		die(2, "cannot write %s: %s", file, strerror(errno));
	int h = (int)(nruns ? nruns : 1) * PANEL_H + 10;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
		"<title>fsb-drill timeline</title>\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"#fafafa\"/>\n", SVG_W, h, SVG_W, h);
	double ymax = 0;
	for (unsigned i = 0; i < nruns; i++)
		if (panel_ymax(runs[i]) > ymax)
			ymax = panel_ymax(runs[i]);
	for (unsigned i = 0; i < nruns; i++)
		svg_panel(f, runs[i], (int)i * PANEL_H, ymax);
	if (!nruns)
		fprintf(f, "<text x=\"20\" y=\"40\" font-size=\"14\">no run finished</text>\n");
	fprintf(f, "</svg>\n");
	if (fclose(f) != 0)
		die(2, "writing %s failed: %s", file, strerror(errno));
}

static void write_json(const char *file)
{
	FILE *f = fopen(file, "w");
	if (!f)
		die(2, "cannot write %s: %s", file, strerror(errno));
	unsigned passed = 0, anchors_failed = 0;
	for (unsigned i = 0; i < nruns; i++) {
		passed += runs[i]->pass;
		anchors_failed += !runs[i]->pass && is_anchor(runs[i]);
	}
	char when[64];
	time_t now = time(NULL);
	struct tm tm;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	fprintf(f, "{\"tool\":\"fsb-drill\",\"version\":\"%s\",\"written\":\"%s\","
		"\"runs_total\":%u,\"runs_passed\":%u,\"pass\":%s,\n",
#ifdef PACKAGE_VERSION
		PACKAGE_VERSION,
#else
		"",
#endif
		when, nruns, passed, passed + anchors_failed == nruns && nruns ? "true" : "false");
	json_summary(f);
	fprintf(f, ",\n\"runs\":[");
	for (unsigned i = 0; i < nruns; i++) {
		fprintf(f, "%s\n", i ? "," : "");
		json_run(f, runs[i]);
	}
	fprintf(f, "]}\n");
	if (fclose(f) != 0)
		die(2, "writing %s failed: %s", file, strerror(errno));
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: fsb-drill-report now\n"
"       fsb-drill-report [--out DIR] [--quiet] RUNDIR...\n"
"\n"
"Judge the runs of fsb-drill from their records (RUNDIR/peer.rec and\n"
"RUNDIR/drill.rec), print a table per run and a verdict line, and with\n"
"--out write DIR/report.json and DIR/timeline.svg.  'now' prints\n"
"CLOCK_MONOTONIC in ns (the drill's clock for its own actions).\n"
"Exit status: 0 every run passed, 1 one failed, 2 bad arguments.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL;
	int c;
	if (argc == 2 && strcmp(argv[1], "now") == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		printf("%" PRIu64 "\n", (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec);
		return 0;
	}
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hq", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'q': quiet = true; break;
		case 'h': usage(stdout); return 0;
		case ':': die(2, "option '%s' needs a value", argv[optind - 1]);
		default:  die(2, "unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind >= argc && !out)
		die(2, "no run directory given (see --help)");
	for (int i = optind; i < argc; i++) {
		if (nruns >= MAX_RUNS)
			die(2, "more than %d runs", MAX_RUNS);
		struct run *r = calloc(1, sizeof(*r));
		if (!r)
			die(2, "out of memory");
		copy(r->dir, sizeof(r->dir), argv[i]);
		char file[600];
		/* the sink's first: its paths, in its order, keep their
		 * colours from panel to panel */
		snprintf(file, sizeof(file), "%s/peer.rec", argv[i]);
		read_records(r, file, false);
		snprintf(file, sizeof(file), "%s/drill.rec", argv[i]);
		read_records(r, file, true);
		compute(r);
		judge(r);
		runs[nruns++] = r;
	}
	if (!quiet)
		for (unsigned i = 0; i < nruns; i++)
			print_run(runs[i]);
	summarize();
	if (!quiet && nruns)
		print_summary();
	if (out) {
		if (mkdir(out, 0755) != 0 && errno != EEXIST)
			die(2, "cannot create %s: %s", out, strerror(errno));
		char file[600];
		snprintf(file, sizeof(file), "%s/report.json", out);
		write_json(file);
		snprintf(file, sizeof(file), "%s/timeline.svg", out);
		write_svg(file);
	}
	/* the anchor (the kernel's net_failover) is judged and shown, but
	 * it is the reference, not what the drill tests */
	bool all = nruns > 0;
	for (unsigned i = 0; i < nruns; i++)
		all &= runs[i]->pass || is_anchor(runs[i]);
	return all ? 0 : 1;
}
