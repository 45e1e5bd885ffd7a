/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fsbctl - the operator's client for a libfsb application's control
 * socket: the ports and their sub-device slots (which path carries TX,
 * and why), counters, the event history, planned detach/attach, stats
 * reset, the log level, a live per-path throughput view, and a list of
 * the sockets on the machine.
 *
 * The wire protocol is DPDK 22.11's telemetry v2, so that the tools an
 * operator already has (dpdk-telemetry.py, monitoring agents) work
 * against a libfsb process, and fsbctl's /ethdev commands work against
 * any DPDK application:
 *
 *   - an AF_UNIX SOCK_SEQPACKET socket at
 *     RUNDIR/dpdk/PREFIX/dpdk_telemetry.v2 (a second process with the
 *     same prefix gets ...v2:1, and so on; -s names one), where RUNDIR
 *     is $RUNTIME_DIRECTORY, else /var/run for root, else
 *     $XDG_RUNTIME_DIR or /tmp;
 *   - on connect, the server sends one message, its greeting:
 *     {"version":"libfsb 0.1.0","pid":1234,"max_output_len":131072};
 *   - then each request is one message, "/command" or
 *     "/command,param,param" (no newline), and each reply one message,
 *     a JSON object with one member, {"/command": VALUE}.  VALUE is
 *     null when the server refuses: unknown command, bad parameter, no
 *     such port or slot, or a state change from an unprivileged client.
 *
 * Why SOCK_SEQPACKET and one recv() per reply: the kernel keeps the
 * message boundaries, so a reply is exactly what one recv() returns
 * into a buffer of max_output_len bytes; there is no length prefix and
 * no delimiter to scan for, and a reply larger than the buffer is not
 * cut silently: recvmsg() says MSG_TRUNC, and we fail on it.  The
 * greeting is read with 1024 bytes, since max_output_len is in it.
 * A stuck server must not hang an operator's shell: connect() (which
 * blocks while the listener's backlog is full) is bounded by
 * SO_SNDTIMEO and every reply by SO_RCVTIMEO, 5 s each.
 *
 * Replies are parsed by a small recursive-descent JSON parser into a
 * tree (objects, arrays, strings with escapes, numbers, true, false,
 * null; nesting bounded at 32).  The tree keeps where each value was in
 * the reply, so -j prints the value exactly as the server sent it.
 * Strings from the server go through a filter before reaching a
 * terminal: a device name must not be able to send escape sequences.
 *
 * Exit status: 0 ok, 1 a runtime failure (no socket, no answer, a
 * malformed or refused reply, a failed attach/detach), 2 bad usage
 * (one line on stderr, nothing sent).
 *
 * libc only: it must build and run where the library's dependencies
 * are not installed.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

#define FSBCTL_SOCK_NAME   "dpdk_telemetry.v2"
#define FSBCTL_TIMEOUT_S   5
#define FSBCTL_HELLO_LEN   1024          /* before max_output_len is known */
#define FSBCTL_DEF_OUTPUT  16384         /* DPDK's, if the greeting lacks it */
#define FSBCTL_MAX_OUTPUT  (1u << 20)    /* what we accept to allocate */
#define FSBCTL_JSON_DEPTH  32
#define FSBCTL_JSON_NODES  (1u << 18)    /* a 1 MiB reply of [0,0,...] */
#define FSBCTL_JBLOCK      256
#define FSBCTL_PORT_MAX    65535ul       /* DPDK port ids are uint16_t */
#define FSBCTL_SLOT_MAX    255ul         /* the server says null past its own */
#define FSBCTL_COUNT_MAX   65535ul
#define FSBCTL_WATCH_SLOTS 64            /* subN_ counters watch follows */
#define FSBCTL_TABLE_COLS  8

static struct {
	const char *prefix;     /* -f: the application's file prefix */
	const char *sock;       /* -s: a socket path, instead of -f's */
	bool json;              /* -j */
} opt = { .prefix = "fsb" };

/* ------------------------------------------------------------------ */
/* errors and small helpers */

static void fsbctl_die_usage(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
static void fsbctl_die_usage(const char *fmt, ...)
{
	va_list ap;
	fputs("fsbctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void fsbctl_die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
static void fsbctl_die(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fputs("fsbctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *fsbctl_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		fsbctl_die("out of memory");
	return p;
}

static char *fsbctl_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(fsbctl_xmalloc(n), s, n);
}

static uint64_t fsbctl_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Copy S into BUF with control characters replaced: what the server
 * names (devices, specs, reasons) is printed to a terminal. */
static const char *fsbctl_clean(char *buf, size_t len, const char *s)
{
	size_t i;
	for (i = 0; s[i] && i + 1 < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		buf[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	buf[i] = '\0';
	return buf;
}

/* Write S as a JSON string (for list -j, the one output we compose
 * from strings of our own). */
static void fsbctl_json_put(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* ------------------------------------------------------------------ */
/* numbers on the command line: decimal, in range, or a usage error */

static unsigned long fsbctl_num_parse(const char *what, const char *s,
				      unsigned long min, unsigned long max)
{
	char *end;
	unsigned long v;

	/* strtoul alone takes "-1", " 1", "+1" and "0x1": refuse them */
	if (!*s || strspn(s, "0123456789") != strlen(s))
		fsbctl_die_usage("bad %s '%s' (want %lu..%lu)", what, s, min, max);
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		fsbctl_die_usage("%s '%s' out of range (want %lu..%lu)", what, s,
				 min, max);
	return v;
}

static double fsbctl_secs_parse(const char *what, const char *s,
				double min, double max)
{
	char *end;
	double v;
	size_t digits = strspn(s, "0123456789.");

	/* decimal only: strtod would take "inf", "nan", "0x1p3", "1e9" */
	if (!*s || digits != strlen(s) || strchr(s, '.') != strrchr(s, '.') ||
	    strcspn(s, "0123456789") == strlen(s))
		fsbctl_die_usage("bad %s '%s' (want seconds, e.g. 0.5)", what, s);
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || v < min || v > max)
		fsbctl_die_usage("%s '%s' out of range (want %g..%g seconds)",
				 what, s, min, max);
	return v;
}

/* ------------------------------------------------------------------ */
/* JSON: a tree over one reply */

enum fsbctl_jtype {
	FSBCTL_JNULL, FSBCTL_JBOOL, FSBCTL_JNUM, FSBCTL_JSTR, FSBCTL_JARR,
	FSBCTL_JOBJ,
};

struct fsbctl_jnode {
	enum fsbctl_jtype type;
	const char *key;                /* member name in an object */
	const char *str;                /* JSTR: decoded, NUL-terminated */
	const char *raw;                /* the value's text in the reply */
	size_t rawlen;
	bool b;                         /* JBOOL */
	bool isint, neg;                /* JNUM: an integer fitting 64 bits */
	uint64_t mag;                   /* JNUM: |value| when isint */
	double d;                       /* JNUM */
	struct fsbctl_jnode *first, *next;      /* children, siblings */
	unsigned count;                 /* JARR, JOBJ: children */
};

/* Nodes come in blocks that never move, so the tree may point at them
 * while it grows. */
struct fsbctl_jblock {
	struct fsbctl_jblock *prev;
	unsigned used;
	struct fsbctl_jnode node[FSBCTL_JBLOCK];
};

struct fsbctl_json {
	struct fsbctl_jblock *blocks;
	unsigned nodes;
	char *str;                      /* every decoded string, one area */
	size_t str_used;
	const char *p, *end;            /* the parser's cursor */
	struct fsbctl_jnode *root;
};

static void fsbctl_json_free(struct fsbctl_json *j)
{
	while (j->blocks) {
		struct fsbctl_jblock *b = j->blocks;
		j->blocks = b->prev;
		free(b);
	}
	free(j->str);
	memset(j, 0, sizeof(*j));
}

static struct fsbctl_jnode *fsbctl_json_node_new(struct fsbctl_json *j)
{
	if (j->nodes >= FSBCTL_JSON_NODES)
		return NULL;
	if (!j->blocks || j->blocks->used == FSBCTL_JBLOCK) {
		struct fsbctl_jblock *b = fsbctl_xmalloc(sizeof(*b));
		b->prev = j->blocks;
		b->used = 0;
		j->blocks = b;
	}
	j->nodes++;
	struct fsbctl_jnode *n = &j->blocks->node[j->blocks->used++];
	memset(n, 0, sizeof(*n));
	return n;
}

static void fsbctl_json_ws(struct fsbctl_json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
				 *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool fsbctl_json_hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char ch = p[i];
		v <<= 4;
		if (ch >= '0' && ch <= '9')
			v |= (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			v |= (unsigned)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			v |= (unsigned)(ch - 'A' + 10);
		else
			return false;
	}
	*out = v;
	return true;
}

/* A string at the cursor (on its opening quote), decoded into j->str.
 * That area is as long as the reply: no string decodes longer than it
 * is written (quotes included), so it cannot overflow. */
static bool fsbctl_json_string(struct fsbctl_json *j, const char **out)
{
	char *start = j->str + j->str_used, *o = start;

	j->p++;
	for (;;) {
		if (j->p >= j->end)
			return false;
		unsigned char ch = (unsigned char)*j->p++;
		if (ch == '"')
			break;
		if (ch < 0x20)
			return false;
		if (ch != '\\') {
			*o++ = (char)ch;
			continue;
		}
		if (j->p >= j->end)
			return false;
		switch (*j->p++) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/': *o++ = '/'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u': {
			unsigned cp, lo;
			if (j->end - j->p < 4 || !fsbctl_json_hex4(j->p, &cp))
				return false;
			j->p += 4;
			if (cp >= 0xd800 && cp < 0xdc00) {
				/* a high surrogate: its low half must follow */
				if (j->end - j->p < 6 || j->p[0] != '\\' ||
				    j->p[1] != 'u' || !fsbctl_json_hex4(j->p + 2, &lo) ||
				    lo < 0xdc00 || lo > 0xdfff)
					return false;
				j->p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp < 0xe000) {
				return false;
			}
			/* \u0000 would end the C string early: a visible mark
			 * says more than a name cut short */
			if (cp == 0) {
				*o++ = '?';
			} else if (cp < 0x80) {
				*o++ = (char)cp;
			} else if (cp < 0x800) {
				*o++ = (char)(0xc0 | (cp >> 6));
				*o++ = (char)(0x80 | (cp & 0x3f));
			} else if (cp < 0x10000) {
				*o++ = (char)(0xe0 | (cp >> 12));
				*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
				*o++ = (char)(0x80 | (cp & 0x3f));
			} else {
				*o++ = (char)(0xf0 | (cp >> 18));
				*o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
				*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
				*o++ = (char)(0x80 | (cp & 0x3f));
			}
			break;
		}
		default:
			return false;
		}
	}
	*o++ = '\0';
	j->str_used = (size_t)(o - j->str);
	*out = start;
	return true;
}

static bool fsbctl_json_digit(const struct fsbctl_json *j, const char *p)
{
	return p < j->end && *p >= '0' && *p <= '9';
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? : counters are
 * unsigned 64-bit, so integers are kept exactly, beside a double. */
static bool fsbctl_json_number(struct fsbctl_json *j, struct fsbctl_jnode *n)
{
	const char *p = j->p;
	bool overflow = false;

	n->type = FSBCTL_JNUM;
	if (p < j->end && *p == '-') {
		n->neg = true;
		p++;
	}
	if (!fsbctl_json_digit(j, p))
		return false;
	if (*p == '0') {
		p++;
	} else {
		while (fsbctl_json_digit(j, p)) {
			unsigned d = (unsigned)(*p++ - '0');
			if (n->mag > (UINT64_MAX - d) / 10)
				overflow = true;
			else
				n->mag = n->mag * 10 + d;
		}
	}
	n->isint = !overflow;
	if (p < j->end && *p == '.') {
		p++;
		if (!fsbctl_json_digit(j, p))
			return false;
		while (fsbctl_json_digit(j, p))
			p++;
		n->isint = false;
	}
	if (p < j->end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < j->end && (*p == '+' || *p == '-'))
			p++;
		if (!fsbctl_json_digit(j, p))
			return false;
		while (fsbctl_json_digit(j, p))
			p++;
		n->isint = false;
	}
	/* the text is NUL-terminated and was checked above: strtod reads
	 * exactly this token */
	n->d = strtod(j->p, NULL);
	j->p = p;
	return true;
}

static bool fsbctl_json_word(struct fsbctl_json *j, const char *w)
{
	size_t len = strlen(w);
	if ((size_t)(j->end - j->p) < len || memcmp(j->p, w, len) != 0)
		return false;
	j->p += len;
	return true;
}

/* One value at the cursor; DEPTH is how many containers enclose it. */
static struct fsbctl_jnode *fsbctl_json_value(struct fsbctl_json *j,
					      unsigned depth)
{
	struct fsbctl_jnode *n;

	fsbctl_json_ws(j);
	if (j->p >= j->end || !(n = fsbctl_json_node_new(j)))
		return NULL;
	n->raw = j->p;
	switch (*j->p) {
	case '{':
	case '[': {
		bool obj = *j->p == '{';
		char close = obj ? '}' : ']';
		struct fsbctl_jnode **tail = &n->first;

		if (depth >= FSBCTL_JSON_DEPTH)
			return NULL;
		n->type = obj ? FSBCTL_JOBJ : FSBCTL_JARR;
		j->p++;
		fsbctl_json_ws(j);
		if (j->p < j->end && *j->p == close) {
			j->p++;
			break;
		}
		for (;;) {
			const char *key = NULL;
			struct fsbctl_jnode *c;

			if (obj) {
				fsbctl_json_ws(j);
				if (j->p >= j->end || *j->p != '"' ||
				    !fsbctl_json_string(j, &key))
					return NULL;
				fsbctl_json_ws(j);
				if (j->p >= j->end || *j->p++ != ':')
					return NULL;
			}
			if (!(c = fsbctl_json_value(j, depth + 1)))
				return NULL;
			c->key = key;
			*tail = c;
			tail = &c->next;
			n->count++;
			fsbctl_json_ws(j);
			if (j->p >= j->end)
				return NULL;
			char ch = *j->p++;
			if (ch == close)
				break;
			if (ch != ',')
				return NULL;
		}
		break;
	}
	case '"':
		n->type = FSBCTL_JSTR;
		if (!fsbctl_json_string(j, &n->str))
			return NULL;
		break;
	case 't':
	case 'f':
		n->type = FSBCTL_JBOOL;
		n->b = *j->p == 't';
		if (!fsbctl_json_word(j, n->b ? "true" : "false"))
			return NULL;
		break;
	case 'n':
		n->type = FSBCTL_JNULL;
		if (!fsbctl_json_word(j, "null"))
			return NULL;
		break;
	default:
		if (!fsbctl_json_number(j, n))
			return NULL;
		break;
	}
	n->rawlen = (size_t)(j->p - n->raw);
	return n;
}

/* Parse TEXT (LEN bytes, NUL-terminated at LEN) into J, which must be
 * zeroed or freed.  False on anything that is not one JSON value. */
static bool fsbctl_json_parse(struct fsbctl_json *j, const char *text,
			      size_t len)
{
	j->str = fsbctl_xmalloc(len + 1);
	j->str_used = 0;
	j->p = text;
	j->end = text + len;
	j->root = fsbctl_json_value(j, 0);
	if (!j->root)
		return false;
	fsbctl_json_ws(j);
	return j->p == j->end;
}

static const struct fsbctl_jnode *fsbctl_json_get(const struct fsbctl_jnode *obj,
						  const char *key)
{
	if (!obj || obj->type != FSBCTL_JOBJ)
		return NULL;
	for (const struct fsbctl_jnode *c = obj->first; c; c = c->next)
		if (strcmp(c->key, key) == 0)
			return c;
	return NULL;
}

static bool fsbctl_json_i64(const struct fsbctl_jnode *n, int64_t *out)
{
	if (!n || n->type != FSBCTL_JNUM || !n->isint)
		return false;
	if (n->neg) {
		if (n->mag > (uint64_t)INT64_MAX + 1)
			return false;
		*out = n->mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN
							   : -(int64_t)n->mag;
	} else {
		if (n->mag > (uint64_t)INT64_MAX)
			return false;
		*out = (int64_t)n->mag;
	}
	return true;
}

static bool fsbctl_json_u64(const struct fsbctl_jnode *n, uint64_t *out)
{
	if (!n || n->type != FSBCTL_JNUM || !n->isint || (n->neg && n->mag))
		return false;
	*out = n->mag;
	return true;
}

static const char *fsbctl_json_str(const struct fsbctl_jnode *n)
{
	return n && n->type == FSBCTL_JSTR ? n->str : NULL;
}

/* ------------------------------------------------------------------ */
/* formatting of reply fields: a field the server does not send (an
 * older or newer server) shows as "-" rather than failing the command */

struct fsbctl_cell {
	char s[256];                    /* a spec, a path: not cut short */
};

static const char *fsbctl_fmt_int(struct fsbctl_cell *c,
				  const struct fsbctl_jnode *obj, const char *key)
{
	int64_t v;
	uint64_t u;
	const struct fsbctl_jnode *n = fsbctl_json_get(obj, key);

	if (fsbctl_json_i64(n, &v))
		snprintf(c->s, sizeof(c->s), "%" PRId64, v);
	else if (fsbctl_json_u64(n, &u))
		snprintf(c->s, sizeof(c->s), "%" PRIu64, u);
	else
		snprintf(c->s, sizeof(c->s), "-");
	return c->s;
}

static const char *fsbctl_fmt_str(struct fsbctl_cell *c,
				  const struct fsbctl_jnode *obj, const char *key)
{
	const char *s = fsbctl_json_str(fsbctl_json_get(obj, key));
	return fsbctl_clean(c->s, sizeof(c->s), s && *s ? s : "-");
}

/* A slot number; -1 is "no path". */
static const char *fsbctl_fmt_slot(struct fsbctl_cell *c,
				   const struct fsbctl_jnode *obj, const char *key)
{
	int64_t v;
	if (!fsbctl_json_i64(fsbctl_json_get(obj, key), &v))
		snprintf(c->s, sizeof(c->s), "-");
	else if (v < 0)
		snprintf(c->s, sizeof(c->s), "none");
	else
		snprintf(c->s, sizeof(c->s), "%" PRId64, v);
	return c->s;
}

static const char *fsbctl_fmt_flag(const struct fsbctl_jnode *obj,
				   const char *key, const char *yes,
				   const char *no)
{
	int64_t v;
	const struct fsbctl_jnode *n = fsbctl_json_get(obj, key);
	if (n && n->type == FSBCTL_JBOOL)
		return n->b ? yes : no;
	if (!fsbctl_json_i64(n, &v))
		return "-";
	return v ? yes : no;
}

/* downtime: "812 us" below a millisecond, "1.234 ms" from there */
static const char *fsbctl_fmt_us(struct fsbctl_cell *c, int64_t us)
{
	if (us < 0)
		snprintf(c->s, sizeof(c->s), "-");
	else if (us < 1000)
		snprintf(c->s, sizeof(c->s), "%" PRId64 " us", us);
	else
		snprintf(c->s, sizeof(c->s), "%" PRId64 ".%03" PRId64 " ms",
			 us / 1000, us % 1000);
	return c->s;
}

/* The events' "wall" is UTC ("2026-12-05T21:13:05.123456Z"); shown as
 * local "HH:MM:SS.mmm", the clock the operator's other logs use.  A
 * form we do not know is shown as it came. */
static const char *fsbctl_fmt_wall(struct fsbctl_cell *c, const char *iso)
{
	int y, mo, d, h, mi, s, used = 0;
	unsigned ms = 0, scale = 100;
	struct tm tm, lt;
	time_t t;

	if (!iso || !*iso)
		return "-";
	if (sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s,
		   &used) != 6 || used == 0)
		return fsbctl_clean(c->s, sizeof(c->s), iso);
	const char *p = iso + used;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			ms += (unsigned)(*p - '0') * scale;
			scale /= 10;
		}
	}
	if (strcmp(p, "Z") != 0)
		return fsbctl_clean(c->s, sizeof(c->s), iso);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	t = timegm(&tm);
	if (t == (time_t)-1 || !localtime_r(&t, &lt))
		return fsbctl_clean(c->s, sizeof(c->s), iso);
	snprintf(c->s, sizeof(c->s), "%02d:%02d:%02d.%03u", lt.tm_hour,
		 lt.tm_min, lt.tm_sec, ms);
	return c->s;
}

/* ------------------------------------------------------------------ */
/* aligned tables: rows are collected, then printed with each column
 * as wide as its widest cell */

struct fsbctl_table {
	unsigned ncol;
	const char *align;              /* per column: 'l' or 'r' */
	size_t nrow, cap;
	char **cell;                    /* row-major, nrow x ncol */
};

static void fsbctl_table_init(struct fsbctl_table *t, const char *align)
{
	memset(t, 0, sizeof(*t));
	t->align = align;
	t->ncol = (unsigned)strlen(align);
}

/* Add a row of t->ncol strings; they are copied, and cleaned. */
static void fsbctl_table_row(struct fsbctl_table *t, ...)
{
	va_list ap;
	char buf[1024];

	if (t->nrow == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **cell = realloc(t->cell, cap * t->ncol * sizeof(*cell));
		if (!cell)
			fsbctl_die("out of memory");
		t->cell = cell;
		t->cap = cap;
	}
	va_start(ap, t);
	for (unsigned i = 0; i < t->ncol; i++) {
		const char *s = va_arg(ap, const char *);
		t->cell[t->nrow * t->ncol + i] =
			fsbctl_xstrdup(fsbctl_clean(buf, sizeof(buf), s ? s : "-"));
	}
	va_end(ap);
	t->nrow++;
}

static void fsbctl_table_print(struct fsbctl_table *t, const char *indent)
{
	size_t width[FSBCTL_TABLE_COLS] = { 0 };

	for (size_t r = 0; r < t->nrow; r++)
		for (unsigned i = 0; i < t->ncol; i++) {
			size_t w = strlen(t->cell[r * t->ncol + i]);
			if (w > width[i])
				width[i] = w;
		}
	for (size_t r = 0; r < t->nrow; r++) {
		fputs(indent, stdout);
		for (unsigned i = 0; i < t->ncol; i++) {
			const char *s = t->cell[r * t->ncol + i];
			bool last = i + 1 == t->ncol;
			if (t->align[i] == 'r')
				printf("%*s", (int)width[i], s);
			else if (last)
				fputs(s, stdout);
			else
				printf("%-*s", (int)width[i], s);
			if (!last)
				fputs("  ", stdout);
		}
		fputc('\n', stdout);
	}
}

static void fsbctl_table_free(struct fsbctl_table *t)
{
	for (size_t k = 0; k < t->nrow * t->ncol; k++)
		free(t->cell[k]);
	free(t->cell);
	memset(t, 0, sizeof(*t));
}

/* ------------------------------------------------------------------ */
/* the connection */

struct fsbctl_conn {
	int fd;
	const char *path;
	char *buf;                      /* bufsz + 1: replies, NUL-ended */
	size_t bufsz;                   /* the greeting's max_output_len */
	int64_t pid;                    /* the greeting's, -1 if none */
	pid_t peer_pid;                 /* SO_PEERCRED: in our namespace */
	char version[64];
};

/* Where DPDK's EAL puts its runtime directories (RUNDIR/dpdk/PREFIX),
 * with RUNTIME_DIRECTORY (systemd's RuntimeDirectory=) first. */
static const char *fsbctl_rundir(void)
{
	const char *dir = getenv("RUNTIME_DIRECTORY");

	if (!dir || !*dir) {
		dir = getuid() == 0 ? "/var/run" : getenv("XDG_RUNTIME_DIR");
		if (!dir || !*dir)
			dir = "/tmp";
	}
	return dir;
}

/* The file prefix's socket, or -s's. */
static const char *fsbctl_sock_path(char *buf, size_t len)
{
	const char *dir = fsbctl_rundir();

	if (opt.sock)
		return opt.sock;
	if ((size_t)snprintf(buf, len, "%s/dpdk/%s/%s", dir, opt.prefix,
			     FSBCTL_SOCK_NAME) >= len)
		fsbctl_die("socket path too long under %s", dir);
	return buf;
}

/* One message into BUF (SIZE bytes + 1 for the NUL we add): exactly
 * one reply, since SOCK_SEQPACKET keeps message boundaries.  -1 with
 * ERR set, and errno: ETIMEDOUT, ECONNRESET (closed), EMSGSIZE. */
static ssize_t fsbctl_conn_recv(struct fsbctl_conn *c, char *buf, size_t size,
				char *err, size_t errlen)
{
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	do
		n = recvmsg(c->fd, &mh, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int e = errno;
		if (e == EAGAIN || e == EWOULDBLOCK) {
			snprintf(err, errlen, "%s: no answer within %d s", c->path,
				 FSBCTL_TIMEOUT_S);
			e = ETIMEDOUT;
		} else {
			snprintf(err, errlen, "%s: %s", c->path, strerror(e));
		}
		errno = e;
		return -1;
	}
	if (n == 0) {
		/* DPDK's server accepts and closes at once when it has too
		 * many clients; an empty message would look the same */
		snprintf(err, errlen, "%s: the server closed the connection "
			 "(too many clients?)", c->path);
		errno = ECONNRESET;
		return -1;
	}
	if (mh.msg_flags & MSG_TRUNC) {
		snprintf(err, errlen, "%s: a message longer than %zu bytes",
			 c->path, size);
		errno = EMSGSIZE;
		return -1;
	}
	buf[n] = '\0';
	return n;
}

static void fsbctl_conn_close(struct fsbctl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
}

/* Connect and read the greeting.  -1 with ERR set and errno telling
 * why: ENOENT, ECONNREFUSED (stale), EACCES, ETIMEDOUT, ECONNRESET,
 * EPROTO (a malformed greeting), ... */
static int fsbctl_conn_open(struct fsbctl_conn *c, const char *path,
			    char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = FSBCTL_TIMEOUT_S };
	struct ucred cred;
	socklen_t credlen = sizeof(cred);
	struct fsbctl_json j = { 0 };
	char hello[FSBCTL_HELLO_LEN + 1];
	uint64_t maxlen = FSBCTL_DEF_OUTPUT;
	const char *v;
	ssize_t n;
	int e;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->path = path;
	c->pid = -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: socket path too long", path);
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		e = errno;
		snprintf(err, errlen, "socket: %s", strerror(e));
		errno = e;
		return -1;
	}
	/* SO_SNDTIMEO bounds connect() too: an AF_UNIX connect waits
	 * while the listener's backlog is full */
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		e = errno;
		snprintf(err, errlen, "setsockopt: %s", strerror(e));
		goto fail;
	}
	if (connect(c->fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		switch (e) {
		case ENOENT:
			snprintf(err, errlen, "%s: no such socket", path);
			break;
		case ECONNREFUSED:
			snprintf(err, errlen, "%s: connection refused (a stale "
				 "socket: the process that made it is gone)", path);
			break;
		case EACCES:
		case EPERM:
			snprintf(err, errlen, "%s: permission denied (run as the "
				 "application's user, or root)", path);
			e = EACCES;
			break;
		case EAGAIN:
		case EINPROGRESS:
		case ETIMEDOUT:
			snprintf(err, errlen, "%s: no answer within %d s (the "
				 "server does not accept)", path, FSBCTL_TIMEOUT_S);
			e = ETIMEDOUT;
			break;
		default:
			snprintf(err, errlen, "%s: %s", path, strerror(e));
			break;
		}
		goto fail;
	}
	/* the greeting's pid is the server's in its own pid namespace;
	 * the kernel's is the one /proc knows here */
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) == 0)
		c->peer_pid = cred.pid;
	n = fsbctl_conn_recv(c, hello, FSBCTL_HELLO_LEN, err, errlen);
	if (n < 0) {
		e = errno;
		goto fail;
	}
	if (!fsbctl_json_parse(&j, hello, (size_t)n) ||
	    j.root->type != FSBCTL_JOBJ) {
		snprintf(err, errlen, "malformed greeting from %s", path);
		e = EPROTO;
		fsbctl_json_free(&j);
		goto fail;
	}
	v = fsbctl_json_str(fsbctl_json_get(j.root, "version"));
	fsbctl_clean(c->version, sizeof(c->version), v ? v : "-");
	if (!fsbctl_json_i64(fsbctl_json_get(j.root, "pid"), &c->pid))
		c->pid = -1;
	fsbctl_json_u64(fsbctl_json_get(j.root, "max_output_len"), &maxlen);
	fsbctl_json_free(&j);
	if (maxlen < FSBCTL_HELLO_LEN)
		maxlen = FSBCTL_HELLO_LEN;
	if (maxlen > FSBCTL_MAX_OUTPUT)
		maxlen = FSBCTL_MAX_OUTPUT;
	c->bufsz = (size_t)maxlen;
	c->buf = fsbctl_xmalloc(c->bufsz + 1);
	return 0;
fail:
	fsbctl_conn_close(c);
	errno = e;
	return -1;
}

static void fsbctl_conn_open_or_die(struct fsbctl_conn *c)
{
	char path[PATH_MAX], err[PATH_MAX + 128];
	const char *p = fsbctl_sock_path(path, sizeof(path));

	if (fsbctl_conn_open(c, p, err, sizeof(err)) == 0)
		return;
	if (errno == ENOENT && !opt.sock)
		fsbctl_die("%s (no application with prefix '%s' here? see "
			   "'fsbctl list')", err, opt.prefix);
	fsbctl_die("%s", err);
}

/* Send CMD and return its reply's value: the reply's one member, whose
 * name must be CMD's (what is before its first comma).  A null value
 * is the server's refusal, fatal unless NULL_OK.  The tree lives in J
 * (freed here first, so a J may serve several calls) and points into
 * c->buf, until the next call. */
static const struct fsbctl_jnode *fsbctl_conn_call(struct fsbctl_conn *c,
						   struct fsbctl_json *j,
						   const char *cmd, bool null_ok)
{
	size_t len = strlen(cmd), namelen = strcspn(cmd, ",");
	const struct fsbctl_jnode *v;
	char err[PATH_MAX + 128];
	ssize_t n;

	/* one value per J: the previous reply's tree goes */
	fsbctl_json_free(j);
	do
		n = send(c->fd, cmd, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		fsbctl_die("%s: cannot send '%s': %s", c->path, cmd,
			   errno == EAGAIN ? "timed out" : strerror(errno));
	n = fsbctl_conn_recv(c, c->buf, c->bufsz, err, sizeof(err));
	if (n < 0)
		fsbctl_die("%s (after '%s')", err, cmd);
	if (!fsbctl_json_parse(j, c->buf, (size_t)n) ||
	    j->root->type != FSBCTL_JOBJ || j->root->count != 1 ||
	    strlen(j->root->first->key) != namelen ||
	    memcmp(j->root->first->key, cmd, namelen) != 0)
		fsbctl_die("malformed reply from %s", c->path);
	v = j->root->first;
	if (v->type == FSBCTL_JNULL && !null_ok &&
	    strncmp(cmd, "/fsb/", 5) == 0 && strncmp(c->version, "libfsb", 6) != 0)
		fsbctl_die("%s is not libfsb's (it says '%s'): no '%.*s' there",
			   c->path, c->version, (int)namelen, cmd);
	if (v->type == FSBCTL_JNULL && !null_ok)
		fsbctl_die("the port refused '%s' (no such port or slot, bad "
			   "parameter, or not permitted)", cmd);
	return v;
}

/* -j: the value as the server wrote it, on one line: a server that
 * lays its JSON out on lines (ours and DPDK's do not) has its line
 * breaks turned into spaces, which only ever stand between tokens,
 * since a string cannot hold a raw one (the parser checked). */
static void fsbctl_raw_print(const struct fsbctl_jnode *v)
{
	for (size_t i = 0; i < v->rawlen; i++)
		fputc(v->raw[i] == '\n' || v->raw[i] == '\r' ? ' ' : v->raw[i],
		      stdout);
	fputc('\n', stdout);
}

static void fsbctl_die_malformed(const struct fsbctl_conn *c)
	__attribute__((noreturn));
static void fsbctl_die_malformed(const struct fsbctl_conn *c)
{
	fsbctl_die("malformed reply from %s", c->path);
}

/* ------------------------------------------------------------------ */
/* show ports, show port N */

static int fsbctl_ports_show(struct fsbctl_conn *c)
{
	struct fsbctl_json j = { 0 };
	struct fsbctl_table t;
	const struct fsbctl_jnode *v = fsbctl_conn_call(c, &j, "/fsb/ports", false);

	if (opt.json) {
		fsbctl_raw_print(v);
	} else if (v->type != FSBCTL_JARR) {
		fsbctl_die_malformed(c);
	} else if (!v->count) {
		printf("no ports\n");
	} else {
		fsbctl_table_init(&t, "rlllrr");
		fsbctl_table_row(&t, "PORT", "NAME", "STARTED", "LINK",
				 "ACTIVE", "SLOTS");
		for (const struct fsbctl_jnode *p = v->first; p; p = p->next) {
			struct fsbctl_cell id, name, lnk, act, nb;
			fsbctl_table_row(&t, fsbctl_fmt_int(&id, p, "port_id"),
					 fsbctl_fmt_str(&name, p, "name"),
					 fsbctl_fmt_flag(p, "started", "yes", "no"),
					 fsbctl_fmt_str(&lnk, p, "link"),
					 fsbctl_fmt_slot(&act, p, "active_slot"),
					 fsbctl_fmt_int(&nb, p, "nb_slots"));
		}
		fsbctl_table_print(&t, "");
		fsbctl_table_free(&t);
	}
	fsbctl_json_free(&j);
	return 0;
}

static int fsbctl_port_show(struct fsbctl_conn *c, unsigned port)
{
	struct fsbctl_json j = { 0 };
	struct fsbctl_table t;
	struct fsbctl_cell name, lnk, act, hold, mac, mtu;
	const struct fsbctl_jnode *v, *slots;
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "/fsb/port,%u", port);
	v = fsbctl_conn_call(c, &j, cmd, false);
	if (opt.json) {
		fsbctl_raw_print(v);
		fsbctl_json_free(&j);
		return 0;
	}
	if (v->type != FSBCTL_JOBJ)
		fsbctl_die_malformed(c);
	fsbctl_fmt_slot(&act, v, "active_slot");
	printf("port %u (%s): %s, link %s, active slot %s%s, hold-down %s ms\n",
	       port, fsbctl_fmt_str(&name, v, "name"),
	       fsbctl_fmt_flag(v, "started", "started", "stopped"),
	       fsbctl_fmt_str(&lnk, v, "link"), act.s,
	       strcmp(act.s, "none") == 0 ? " (no path)" : "",
	       fsbctl_fmt_int(&hold, v, "hold_down_ms"));
	printf("  mac %s, mtu %s, promiscuous %s\n",
	       fsbctl_fmt_str(&mac, v, "mac_addr"),
	       fsbctl_fmt_int(&mtu, v, "mtu"),
	       fsbctl_fmt_flag(v, "promiscuous", "on", "off"));
	slots = fsbctl_json_get(v, "slots");
	if (!slots || slots->type != FSBCTL_JARR)
		fsbctl_die_malformed(c);
	if (!slots->count) {
		printf("no slots\n");
		fsbctl_json_free(&j);
		return 0;
	}
	fputc('\n', stdout);
	/* the spec last: it is the long one */
	fsbctl_table_init(&t, "rlllllrl");
	fsbctl_table_row(&t, "SLOT", "KIND", "STATE", "LINK", "ACTIVE",
			 "LAST REASON", "HOLD-DOWN LEFT", "SPEC");
	for (const struct fsbctl_jnode *s = slots->first; s; s = s->next) {
		struct fsbctl_cell id, kind, state, slink, reason, left, spec;
		int64_t ms;

		if (fsbctl_json_i64(fsbctl_json_get(s, "hold_down_remaining_ms"), &ms) &&
		    ms > 0)
			snprintf(left.s, sizeof(left.s), "%" PRId64 " ms", ms);
		else
			snprintf(left.s, sizeof(left.s), "-");
		fsbctl_table_row(&t, fsbctl_fmt_int(&id, s, "slot"),
				 fsbctl_fmt_str(&kind, s, "kind"),
				 fsbctl_fmt_str(&state, s, "state"),
				 fsbctl_fmt_str(&slink, s, "link"),
				 fsbctl_fmt_flag(s, "active", "*", ""),
				 fsbctl_fmt_str(&reason, s, "last_reason"),
				 left.s, fsbctl_fmt_str(&spec, s, "spec"));
	}
	fsbctl_table_print(&t, "");
	fsbctl_table_free(&t);
	fsbctl_json_free(&j);
	return 0;
}

/* ------------------------------------------------------------------ */
/* show stats N, show xstats N */

static uint64_t fsbctl_stat(const struct fsbctl_conn *c,
			    const struct fsbctl_jnode *obj, const char *key)
{
	uint64_t v;
	if (!fsbctl_json_u64(fsbctl_json_get(obj, key), &v))
		fsbctl_die_malformed(c);
	return v;
}

static int fsbctl_stats_show(struct fsbctl_conn *c, unsigned port)
{
	struct fsbctl_json j = { 0 };
	const struct fsbctl_jnode *v;
	char cmd[64];
	static const char *const qkeys[] = {
		"q_ipackets", "q_ibytes", "q_opackets", "q_obytes", "q_errors",
	};
	const struct fsbctl_jnode *q[5];
	bool any = false;

	snprintf(cmd, sizeof(cmd), "/ethdev/stats,%u", port);
	v = fsbctl_conn_call(c, &j, cmd, false);
	if (opt.json) {
		fsbctl_raw_print(v);
		fsbctl_json_free(&j);
		return 0;
	}
	if (v->type != FSBCTL_JOBJ)
		fsbctl_die_malformed(c);
	printf("port %u statistics\n", port);
	printf("  RX-packets: %-14" PRIu64 " RX-missed: %-14" PRIu64
	       " RX-bytes: %" PRIu64 "\n", fsbctl_stat(c, v, "ipackets"),
	       fsbctl_stat(c, v, "imissed"), fsbctl_stat(c, v, "ibytes"));
	printf("  RX-errors: %" PRIu64 "\n", fsbctl_stat(c, v, "ierrors"));
	printf("  RX-nombuf: %" PRIu64 "\n", fsbctl_stat(c, v, "rx_nombuf"));
	printf("  TX-packets: %-14" PRIu64 " TX-errors: %-14" PRIu64
	       " TX-bytes: %" PRIu64 "\n", fsbctl_stat(c, v, "opackets"),
	       fsbctl_stat(c, v, "oerrors"), fsbctl_stat(c, v, "obytes"));

	/* per queue, only the queues that counted something: most ports
	 * use one or two of the 16 */
	for (unsigned k = 0; k < 5; k++) {
		q[k] = fsbctl_json_get(v, qkeys[k]);
		if (q[k] && q[k]->type != FSBCTL_JARR)
			fsbctl_die_malformed(c);
		for (const struct fsbctl_jnode *e = q[k] ? q[k]->first : NULL; e;
		     e = e->next)
			if (e->type != FSBCTL_JNUM || e->mag)
				any = true;
	}
	if (any) {
		struct fsbctl_table t;
		const struct fsbctl_jnode *e[5];

		fsbctl_table_init(&t, "rrrrrr");
		fsbctl_table_row(&t, "QUEUE", "RX-packets", "RX-bytes",
				 "TX-packets", "TX-bytes", "errors");
		for (unsigned k = 0; k < 5; k++)
			e[k] = q[k] ? q[k]->first : NULL;
		for (unsigned qi = 0; e[0] || e[1] || e[2] || e[3] || e[4]; qi++) {
			struct fsbctl_cell cell[6];
			bool zero = true;
			snprintf(cell[0].s, sizeof(cell[0].s), "%u", qi);
			for (unsigned k = 0; k < 5; k++) {
				uint64_t x;
				if (e[k] && fsbctl_json_u64(e[k], &x)) {
					snprintf(cell[k + 1].s, sizeof(cell[k + 1].s),
						 "%" PRIu64, x);
					zero = zero && !x;
				} else {
					snprintf(cell[k + 1].s, sizeof(cell[k + 1].s), "-");
				}
				if (e[k])
					e[k] = e[k]->next;
			}
			if (!zero)
				fsbctl_table_row(&t, cell[0].s, cell[1].s, cell[2].s,
						 cell[3].s, cell[4].s, cell[5].s);
		}
		fputc('\n', stdout);
		fsbctl_table_print(&t, "  ");
		fsbctl_table_free(&t);
	}
	fsbctl_json_free(&j);
	return 0;
}

static int fsbctl_xstats_show(struct fsbctl_conn *c, unsigned port)
{
	struct fsbctl_json j = { 0 };
	struct fsbctl_table t;
	const struct fsbctl_jnode *v;
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "/ethdev/xstats,%u", port);
	v = fsbctl_conn_call(c, &j, cmd, false);
	if (opt.json) {
		fsbctl_raw_print(v);
	} else if (v->type != FSBCTL_JOBJ) {
		fsbctl_die_malformed(c);
	} else if (!v->count) {
		printf("port %u: no extended statistics\n", port);
	} else {
		fsbctl_table_init(&t, "lr");
		for (const struct fsbctl_jnode *x = v->first; x; x = x->next) {
			struct fsbctl_cell val;
			uint64_t u;
			/* counters are unsigned integers; anything else is
			 * shown as the server wrote it */
			if (fsbctl_json_u64(x, &u))
				snprintf(val.s, sizeof(val.s), "%" PRIu64, u);
			else
				snprintf(val.s, sizeof(val.s), "%.*s",
					 (int)(x->rawlen < 80 ? x->rawlen : 80), x->raw);
			fsbctl_table_row(&t, x->key, val.s);
		}
		fsbctl_table_print(&t, "");
		fsbctl_table_free(&t);
	}
	fsbctl_json_free(&j);
	return 0;
}

/* ------------------------------------------------------------------ */
/* show events N */

/* What happened, by type: each type fills its own fields (the others
 * are -1 or absent). */
struct fsbctl_detail {
	char s[800];                    /* three cells and some words */
};

static const char *fsbctl_event_detail(struct fsbctl_detail *c,
				       const struct fsbctl_jnode *e)
{
	const char *type = fsbctl_json_str(fsbctl_json_get(e, "type"));
	struct fsbctl_cell a, b, d;
	int64_t us, up;

	if (!type)
		type = "";
	if (fsbctl_json_i64(fsbctl_json_get(e, "link_up"), &up))
		up = up ? 1 : 0;
	else
		up = -1;
	if (strcmp(type, "subdev-state") == 0) {
		snprintf(c->s, sizeof(c->s), "slot %s: %s -> %s",
			 fsbctl_fmt_slot(&a, e, "slot"),
			 fsbctl_fmt_str(&b, e, "old_state"),
			 fsbctl_fmt_str(&d, e, "new_state"));
	} else if (strcmp(type, "active-change") == 0) {
		if (!fsbctl_json_i64(fsbctl_json_get(e, "downtime_us"), &us))
			us = -1;
		snprintf(c->s, sizeof(c->s), "slot %s -> %s",
			 fsbctl_fmt_slot(&a, e, "from_slot"),
			 fsbctl_fmt_slot(&b, e, "to_slot"));
		if (us >= 0) {
			size_t l = strlen(c->s);
			snprintf(c->s + l, sizeof(c->s) - l, ", downtime %s",
				 fsbctl_fmt_us(&d, us));
		}
	} else if (strcmp(type, "port-link") == 0) {
		snprintf(c->s, sizeof(c->s), "port link %s",
			 up < 0 ? "-" : up ? "UP" : "DOWN");
	} else if (strcmp(type, "subdev-link") == 0) {
		snprintf(c->s, sizeof(c->s), "slot %s link %s",
			 fsbctl_fmt_slot(&a, e, "slot"),
			 up < 0 ? "-" : up ? "UP" : "DOWN");
	} else {
		snprintf(c->s, sizeof(c->s), "-");
	}
	return c->s;
}

static int fsbctl_events_show(struct fsbctl_conn *c, unsigned port,
			      unsigned long count)
{
	struct fsbctl_json j = { 0 };
	struct fsbctl_table t;
	const struct fsbctl_jnode *v;
	char cmd[64];

	if (count)
		snprintf(cmd, sizeof(cmd), "/fsb/events,%u,%lu", port, count);
	else
		snprintf(cmd, sizeof(cmd), "/fsb/events,%u", port);
	v = fsbctl_conn_call(c, &j, cmd, false);
	if (opt.json) {
		fsbctl_raw_print(v);
	} else if (v->type != FSBCTL_JARR) {
		fsbctl_die_malformed(c);
	} else if (!v->count) {
		printf("port %u: no events\n", port);
	} else {
		fsbctl_table_init(&t, "rllll");
		fsbctl_table_row(&t, "SEQ", "TIME", "TYPE", "DETAIL", "REASON");
		for (const struct fsbctl_jnode *e = v->first; e; e = e->next) {
			struct fsbctl_cell seq, when, type, reason;
			struct fsbctl_detail detail;
			fsbctl_table_row(&t, fsbctl_fmt_int(&seq, e, "seq"),
					 fsbctl_fmt_wall(&when, fsbctl_json_str(
						 fsbctl_json_get(e, "wall"))),
					 fsbctl_fmt_str(&type, e, "type"),
					 fsbctl_event_detail(&detail, e),
					 fsbctl_fmt_str(&reason, e, "reason"));
		}
		fsbctl_table_print(&t, "");
		fsbctl_table_free(&t);
	}
	fsbctl_json_free(&j);
	return 0;
}

/* ------------------------------------------------------------------ */
/* attach, detach, stats reset, log level */

/* The status of a state change: "ok", "already", or "error: <text>"
 * (exit 1, the text on stderr, -j or not). */
static int fsbctl_status_report(const struct fsbctl_conn *c,
				const struct fsbctl_jnode *v, const char *what,
				const char *done, const char *already)
{
	const char *status = fsbctl_json_str(fsbctl_json_get(v, "status"));
	char buf[512];

	if (!status)
		fsbctl_die_malformed(c);
	if (opt.json)
		fsbctl_raw_print(v);
	if (strcmp(status, "ok") == 0) {
		if (!opt.json)
			printf("%s: %s\n", what, done);
		return 0;
	}
	if (strcmp(status, "already") == 0 && already) {
		if (!opt.json)
			printf("%s: %s\n", what, already);
		return 0;
	}
	if (strncmp(status, "error: ", 7) == 0)
		status += 7;
	fflush(stdout);
	fprintf(stderr, "fsbctl: %s: %s\n", what,
		fsbctl_clean(buf, sizeof(buf), status));
	return 1;
}

static int fsbctl_slot_change(struct fsbctl_conn *c, bool attach,
			      unsigned port, unsigned slot)
{
	struct fsbctl_json j = { 0 };
	const struct fsbctl_jnode *v;
	char cmd[64], what[64];
	int rc;

	snprintf(cmd, sizeof(cmd), "/fsb/%s,%u,%u",
		 attach ? "attach" : "detach", port, slot);
	snprintf(what, sizeof(what), "port %u slot %u", port, slot);
	v = fsbctl_conn_call(c, &j, cmd, false);
	if (v->type != FSBCTL_JOBJ)
		fsbctl_die_malformed(c);
	rc = fsbctl_status_report(c, v, what,
				  attach ? "attached" : "detached",
				  attach ? "already attached" : "already detached");
	fsbctl_json_free(&j);
	return rc;
}

static int fsbctl_stats_reset(struct fsbctl_conn *c, unsigned port)
{
	struct fsbctl_json j = { 0 };
	const struct fsbctl_jnode *v;
	char cmd[64], what[32];
	int rc;

	snprintf(cmd, sizeof(cmd), "/fsb/stats_reset,%u", port);
	snprintf(what, sizeof(what), "port %u", port);
	v = fsbctl_conn_call(c, &j, cmd, false);
	if (v->type != FSBCTL_JOBJ)
		fsbctl_die_malformed(c);
	rc = fsbctl_status_report(c, v, what, "statistics reset", NULL);
	fsbctl_json_free(&j);
	return rc;
}

static const char *const fsbctl_levels[] = {
	"err", "warning", "notice", "info", "debug", NULL,
};

static int fsbctl_log_level(struct fsbctl_conn *c, const char *level)
{
	struct fsbctl_json j = { 0 };
	struct fsbctl_cell cur;
	const struct fsbctl_jnode *v;
	char cmd[64];

	if (level)
		snprintf(cmd, sizeof(cmd), "/fsb/log_level,%s", level);
	else
		snprintf(cmd, sizeof(cmd), "/fsb/log_level");
	v = fsbctl_conn_call(c, &j, cmd, false);
	if (opt.json)
		fsbctl_raw_print(v);
	else if (!fsbctl_json_str(fsbctl_json_get(v, "level")))
		fsbctl_die_malformed(c);
	else
		printf("log level: %s\n", fsbctl_fmt_str(&cur, v, "level"));
	fsbctl_json_free(&j);
	return 0;
}

/* ------------------------------------------------------------------ */
/* watch N: packets per second per path */

struct fsbctl_sample {
	uint64_t ns;                    /* CLOCK_MONOTONIC, at the reply */
	struct timespec wall;
	bool have_rx, have_tx;
	uint64_t rx, tx;                /* rx_good_packets, tx_good_packets */
	uint64_t rx_mask, tx_mask;      /* the subN_ counters present */
	uint64_t slot_rx[FSBCTL_WATCH_SLOTS], slot_tx[FSBCTL_WATCH_SLOTS];
	int64_t active;                 /* -1 no path, -2 unknown */
};

/* "subN_rx_packets" / "subN_tx_packets": the port's per-path counters
 * in its xstats.  Returns N, and *tx; -1 for any other name. */
static int fsbctl_slot_counter(const char *name, bool *tx)
{
	unsigned n = 0;
	const char *p = name + 3;

	if (strncmp(name, "sub", 3) != 0 || *p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (unsigned)(*p - '0');
		if (n >= FSBCTL_WATCH_SLOTS)
			return -1;
	}
	if (strcmp(p, "_rx_packets") == 0)
		*tx = false;
	else if (strcmp(p, "_tx_packets") == 0)
		*tx = true;
	else
		return -1;
	return (int)n;
}

/* Fetch one sample.  The active slot comes from /fsb/port when the
 * server has it (FSB); a plain DPDK application has no paths. */
static void fsbctl_sample_take(struct fsbctl_conn *c, unsigned port, bool fsb,
			       struct fsbctl_sample *s)
{
	struct fsbctl_json j = { 0 };
	const struct fsbctl_jnode *v;
	char cmd[64];

	memset(s, 0, sizeof(*s));
	s->active = -2;
	if (fsb) {
		snprintf(cmd, sizeof(cmd), "/fsb/port,%u", port);
		v = fsbctl_conn_call(c, &j, cmd, false);
		if (!fsbctl_json_i64(fsbctl_json_get(v, "active_slot"), &s->active))
			s->active = -2;
	}
	snprintf(cmd, sizeof(cmd), "/ethdev/xstats,%u", port);
	v = fsbctl_conn_call(c, &j, cmd, false);
	s->ns = fsbctl_now_ns();
	clock_gettime(CLOCK_REALTIME, &s->wall);
	if (v->type != FSBCTL_JOBJ)
		fsbctl_die_malformed(c);
	for (const struct fsbctl_jnode *x = v->first; x; x = x->next) {
		uint64_t u;
		bool tx;
		int slot;

		if (!fsbctl_json_u64(x, &u))
			continue;
		if (strcmp(x->key, "rx_good_packets") == 0) {
			s->rx = u;
			s->have_rx = true;
		} else if (strcmp(x->key, "tx_good_packets") == 0) {
			s->tx = u;
			s->have_tx = true;
		} else if ((slot = fsbctl_slot_counter(x->key, &tx)) >= 0) {
			if (tx) {
				s->slot_tx[slot] = u;
				s->tx_mask |= 1ull << slot;
			} else {
				s->slot_rx[slot] = u;
				s->rx_mask |= 1ull << slot;
			}
		}
	}
	fsbctl_json_free(&j);
}

/* Packets per second between two readings of a counter, rounded; -1
 * if either reading is missing.  A counter that went down was reset
 * (stats reset, a re-attached path): what it counts now is since. */
static int64_t fsbctl_pps(bool had, uint64_t prev, bool has, uint64_t cur,
			  uint64_t dt_ns)
{
	uint64_t d;

	if (!had || !has || !dt_ns)
		return -1;
	d = cur >= prev ? cur - prev : cur;
	return (int64_t)((double)d * 1e9 / (double)dt_ns + 0.5);
}

static const char *fsbctl_fmt_pps(struct fsbctl_cell *c, int64_t pps,
				  bool json)
{
	if (pps < 0)
		snprintf(c->s, sizeof(c->s), json ? "null" : "-");
	else
		snprintf(c->s, sizeof(c->s), "%" PRId64, pps);
	return c->s;
}

static void fsbctl_sample_print(unsigned port, const struct fsbctl_sample *prev,
				const struct fsbctl_sample *cur)
{
	uint64_t dt = cur->ns - prev->ns;
	uint64_t slots = cur->rx_mask | cur->tx_mask;
	struct fsbctl_cell a, b;

	if (opt.json) {
		printf("{\"t\":%lld.%03ld,\"port_id\":%u,\"rx_pps\":%s,\"tx_pps\":%s,"
		       "\"slots\":[", (long long)cur->wall.tv_sec,
		       cur->wall.tv_nsec / 1000000, port,
		       fsbctl_fmt_pps(&a, fsbctl_pps(prev->have_rx, prev->rx,
						      cur->have_rx, cur->rx, dt), true),
		       fsbctl_fmt_pps(&b, fsbctl_pps(prev->have_tx, prev->tx,
						      cur->have_tx, cur->tx, dt), true));
		for (int k = 0, first = 1; k < FSBCTL_WATCH_SLOTS; k++) {
			uint64_t bit = 1ull << k;
			if (!(slots & bit))
				continue;
			printf("%s{\"slot\":%d,\"rx_pps\":%s,\"tx_pps\":%s,\"active\":%d}",
			       first ? "" : ",", k,
			       fsbctl_fmt_pps(&a, fsbctl_pps(prev->rx_mask & bit,
				       prev->slot_rx[k], cur->rx_mask & bit,
				       cur->slot_rx[k], dt), true),
			       fsbctl_fmt_pps(&b, fsbctl_pps(prev->tx_mask & bit,
				       prev->slot_tx[k], cur->tx_mask & bit,
				       cur->slot_tx[k], dt), true),
			       cur->active == k);
			first = 0;
		}
		printf("]}\n");
		return;
	}

	struct tm lt;
	time_t t = cur->wall.tv_sec;
	localtime_r(&t, &lt);
	printf("%02d:%02d:%02d.%03ld   %14s %14s\n", lt.tm_hour, lt.tm_min,
	       lt.tm_sec, cur->wall.tv_nsec / 1000000, "RX-pps", "TX-pps");
	printf("  %-13s%14s %14s\n", "port",
	       fsbctl_fmt_pps(&a, fsbctl_pps(prev->have_rx, prev->rx,
					      cur->have_rx, cur->rx, dt), false),
	       fsbctl_fmt_pps(&b, fsbctl_pps(prev->have_tx, prev->tx,
					      cur->have_tx, cur->tx, dt), false));
	for (int k = 0; k < FSBCTL_WATCH_SLOTS; k++) {
		uint64_t bit = 1ull << k;
		char label[24];
		if (!(slots & bit))
			continue;
		snprintf(label, sizeof(label), "slot %d", k);
		printf("%c %-13s%14s %14s\n", cur->active == k ? '*' : ' ', label,
		       fsbctl_fmt_pps(&a, fsbctl_pps(prev->rx_mask & bit,
			       prev->slot_rx[k], cur->rx_mask & bit,
			       cur->slot_rx[k], dt), false),
		       fsbctl_fmt_pps(&b, fsbctl_pps(prev->tx_mask & bit,
			       prev->slot_tx[k], cur->tx_mask & bit,
			       cur->slot_tx[k], dt), false));
	}
	if (cur->active != prev->active && cur->active != -2 && prev->active != -2) {
		printf("  active path changed: ");
		if (prev->active < 0)
			printf("none");
		else
			printf("slot %" PRId64, prev->active);
		if (cur->active < 0)
			printf(" -> none\n");
		else
			printf(" -> slot %" PRId64 "\n", cur->active);
	} else if (cur->active == -1) {
		printf("  no active path\n");
	}
}

/* Sleep until UNTIL_NS (CLOCK_MONOTONIC) unless SIGINT or SIGTERM
 * comes: false then.  They are blocked and taken here, so that no
 * handler (and no global flag) is needed, and a signal during a
 * request waits for its reply instead of cutting it. */
static bool fsbctl_watch_sleep(const sigset_t *sigs, uint64_t until_ns)
{
	for (;;) {
		uint64_t now = fsbctl_now_ns();
		struct timespec ts;

		if (now >= until_ns) {
			ts.tv_sec = 0;
			ts.tv_nsec = 0;
		} else {
			ts.tv_sec = (time_t)((until_ns - now) / 1000000000ull);
			ts.tv_nsec = (long)((until_ns - now) % 1000000000ull);
		}
		if (sigtimedwait(sigs, NULL, &ts) > 0)
			return false;
		if (errno == EAGAIN)
			return true;
	}
}

static int fsbctl_watch(struct fsbctl_conn *c, unsigned port, double interval,
			unsigned long count)
{
	struct fsbctl_json j = { 0 };
	struct fsbctl_sample prev, cur;
	struct fsbctl_cell name;
	const struct fsbctl_jnode *v;
	uint64_t step = (uint64_t)(interval * 1e9 + 0.5), next;
	bool fsb, tty = !opt.json && isatty(STDOUT_FILENO);
	char cmd[64], header[400];
	sigset_t sigs;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);

	/* a libfsb port, or a DPDK application's (no paths, no active
	 * slot: the port's own rates only, and subN_ names if any); no
	 * such port is told by the first sample's xstats */
	snprintf(cmd, sizeof(cmd), "/fsb/port,%u", port);
	v = fsbctl_conn_call(c, &j, cmd, true);
	fsb = v->type == FSBCTL_JOBJ;
	if (fsb) {
		fsbctl_fmt_str(&name, v, "name");
	} else {
		snprintf(cmd, sizeof(cmd), "/ethdev/info,%u", port);
		v = fsbctl_conn_call(c, &j, cmd, true);
		fsbctl_fmt_str(&name, v, "name");
	}
	snprintf(header, sizeof(header),
		 "port %u (%s): packets per second since the last sample, every %g s%s",
		 port, name.s, interval, fsb ? "; * = active path" : "");
	fsbctl_json_free(&j);

	/* the first sample is the base; it also tells a port that is not
	 * there, before anything is printed */
	fsbctl_sample_take(c, port, fsb, &prev);
	if (!opt.json && !tty)
		printf("%s\n", header);
	next = prev.ns;
	for (unsigned long n = 0; !count || n < count; n++) {
		next += step;
		if (!fsbctl_watch_sleep(&sigs, next))
			break;
		fsbctl_sample_take(c, port, fsb, &cur);
		/* fell behind (a slow server, a stopped terminal): the
		 * next sample one interval from now, not a burst of them */
		if (cur.ns > next + step)
			next = cur.ns;
		if (tty)
			printf("\033[H\033[2J%s\n", header);
		fsbctl_sample_print(port, &prev, &cur);
		fflush(stdout);
		prev = cur;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* list */

/* The program behind a socket: argv[0]'s basename, else comm. */
static void fsbctl_program_name(pid_t pid, char *buf, size_t len)
{
	char path[64], data[4096];
	size_t n = 0;
	FILE *f;

	snprintf(buf, len, "-");
	if (pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((f = fopen(path, "re"))) {
		n = fread(data, 1, sizeof(data) - 1, f);
		fclose(f);
	}
	data[n] = '\0';
	if (n && data[0]) {
		const char *base = strrchr(data, '/');
		fsbctl_clean(buf, len, base ? base + 1 : data);
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if ((f = fopen(path, "re"))) {
		if (fgets(data, sizeof(data), f)) {
			data[strcspn(data, "\n")] = '\0';
			fsbctl_clean(buf, len, data);
		}
		fclose(f);
	}
}

/* One socket of the list: connect, read the greeting, name the
 * program; or say why not ("stale": nobody listens any more). */
static void fsbctl_list_entry(const char *path, bool first,
			      struct fsbctl_table *t)
{
	struct fsbctl_conn c;
	char err[PATH_MAX + 128], prefix[PATH_MAX], prog[256], pid[24];
	const char *state = "live", *slash;

	/* the prefix is the name of the socket's directory */
	snprintf(prefix, sizeof(prefix), "%s", path);
	if ((slash = strrchr(prefix, '/')))
		prefix[slash - prefix] = '\0';
	if ((slash = strrchr(prefix, '/')))
		memmove(prefix, slash + 1, strlen(slash + 1) + 1);

	snprintf(pid, sizeof(pid), "-");
	snprintf(prog, sizeof(prog), "-");
	if (fsbctl_conn_open(&c, path, err, sizeof(err)) == 0) {
		if (c.pid >= 0)
			snprintf(pid, sizeof(pid), "%" PRId64, c.pid);
		fsbctl_program_name(c.peer_pid > 0 ? c.peer_pid : (pid_t)c.pid,
				    prog, sizeof(prog));
	} else {
		switch (errno) {
		case ECONNREFUSED: state = "stale"; break;
		case EACCES: state = "denied"; break;
		case ETIMEDOUT: state = "no-answer"; break;
		case ECONNRESET: state = "busy"; break;
		case EPROTO: state = "malformed"; break;
		default: state = "error"; break;
		}
	}
	if (!opt.json) {
		fsbctl_table_row(t, prefix, state, pid, prog,
				 c.version[0] ? c.version : "-", path);
		fsbctl_conn_close(&c);
		return;
	}
	printf("%s{\"prefix\":", first ? "" : ",");
	fsbctl_json_put(stdout, prefix);
	printf(",\"path\":");
	fsbctl_json_put(stdout, path);
	printf(",\"state\":\"%s\",\"pid\":%s,\"program\":", state,
	       strcmp(pid, "-") ? pid : "null");
	if (strcmp(prog, "-"))
		fsbctl_json_put(stdout, prog);
	else
		fputs("null", stdout);
	printf(",\"version\":");
	if (c.version[0] && strcmp(c.version, "-"))
		fsbctl_json_put(stdout, c.version);
	else
		fputs("null", stdout);
	fputc('}', stdout);
	fsbctl_conn_close(&c);
}

struct fsbctl_found {
	dev_t dev;
	ino_t ino;
};

static int fsbctl_list(void)
{
	/* Every directory DPDK's EAL may use, ours first: another user's
	 * application (root's, a service's) is on this machine too.
	 * /var/run and /run are one directory on most systems: sockets
	 * are told apart by inode. */
	const char *roots[8];
	unsigned nroots = 0;
	const char *e;
	struct fsbctl_found *seen = NULL;
	size_t nseen = 0;
	struct fsbctl_table t;

	roots[nroots++] = fsbctl_rundir();
	if ((e = getenv("RUNTIME_DIRECTORY")) && *e)
		roots[nroots++] = e;
	if ((e = getenv("XDG_RUNTIME_DIR")) && *e)
		roots[nroots++] = e;
	roots[nroots++] = "/var/run";
	roots[nroots++] = "/run";
	roots[nroots++] = "/run/user/*";
	roots[nroots++] = "/tmp";

	fsbctl_table_init(&t, "llrlll");
	fsbctl_table_row(&t, "PREFIX", "STATE", "PID", "PROGRAM", "VERSION",
			 "PATH");
	if (opt.json)
		fputc('[', stdout);
	for (unsigned r = 0; r < nroots; r++) {
		char pattern[PATH_MAX];
		glob_t g;

		if ((size_t)snprintf(pattern, sizeof(pattern), "%s/dpdk/*/%s*",
				     roots[r], FSBCTL_SOCK_NAME) >= sizeof(pattern))
			continue;
		if (glob(pattern, 0, NULL, &g) != 0)
			continue;
		for (size_t k = 0; k < g.gl_pathc; k++) {
			struct stat st;
			bool dup = false;

			if (stat(g.gl_pathv[k], &st) != 0 || !S_ISSOCK(st.st_mode))
				continue;
			for (size_t i = 0; i < nseen; i++)
				dup = dup || (seen[i].dev == st.st_dev &&
					      seen[i].ino == st.st_ino);
			if (dup)
				continue;
			seen = realloc(seen, (nseen + 1) * sizeof(*seen));
			if (!seen)
				fsbctl_die("out of memory");
			seen[nseen].dev = st.st_dev;
			seen[nseen].ino = st.st_ino;
			fsbctl_list_entry(g.gl_pathv[k], nseen == 0, &t);
			nseen++;
		}
		globfree(&g);
	}
	if (opt.json)
		printf("]\n");
	else if (!nseen)
		/* another user's runtime directory is not readable */
		printf("no telemetry sockets found%s\n",
		       getuid() ? " (that this user may see)" : "");
	else
		fsbctl_table_print(&t, "");
	fsbctl_table_free(&t);
	free(seen);
	return 0;
}

/* ------------------------------------------------------------------ */
/* the command line */

static void fsbctl_usage(FILE *f)
{
	fprintf(f,
"Usage: fsbctl [-f PREFIX | -s SOCKET] [-j] COMMAND\n"
"\n"
"Query and drive a libfsb application through its control socket (the\n"
"DPDK 22.11 telemetry protocol: show stats/xstats and watch work against\n"
"any DPDK application too).\n"
"\n"
"Commands:\n"
"  show ports                 the ports: state, link, active path\n"
"  show port N                port N and its sub-device slots\n"
"  show stats N               port N's counters, testpmd style\n"
"  show xstats N              port N's extended counters\n"
"  show events N [-n COUNT]   port N's last COUNT events (default: all\n"
"                             kept), oldest first\n"
"  attach N SLOT              attach slot SLOT of port N (after detach)\n"
"  detach N SLOT              detach slot SLOT of port N (planned: TX\n"
"                             moves first)\n"
"  stats reset N              zero port N's counters\n"
"  log level [LEVEL]          show or set the log level: err, warning,\n"
"                             notice, info or debug\n"
"  watch N [-i S] [-c COUNT]  packets per second of port N and of each\n"
"                             path, every S seconds (default 1, at least\n"
"                             0.1), until Ctrl-C or COUNT samples\n"
"  list                       every libfsb or DPDK telemetry socket here:\n"
"                             prefix, pid, program (stale: nobody behind)\n"
"\n"
"Options:\n"
"  -f, --file-prefix PREFIX   the application's prefix (default fsb): the\n"
"                             socket RUNDIR/dpdk/PREFIX/dpdk_telemetry.v2\n"
"  -s, --socket PATH          that socket instead (e.g. ...v2:1, the second\n"
"                             process with one prefix; see 'list')\n"
"  -j, --json                 print the reply's JSON value as received\n"
"                             (watch: one JSON object per sample)\n"
"  -h, --help                 this help\n"
"  -V, --version              print the version\n"
"\n"
"RUNDIR is $RUNTIME_DIRECTORY, else /var/run for root, else\n"
"$XDG_RUNTIME_DIR or /tmp.\n"
"Exit status: 0 ok, 1 a runtime failure (no socket, no answer, a refused\n"
"request, a failed attach or detach), 2 bad usage.\n");
}

enum fsbctl_cmd {
	FSBCTL_LIST, FSBCTL_PORTS, FSBCTL_PORT, FSBCTL_STATS, FSBCTL_XSTATS,
	FSBCTL_EVENTS, FSBCTL_ATTACH, FSBCTL_DETACH, FSBCTL_RESET,
	FSBCTL_LOGLEVEL, FSBCTL_WATCH,
};

/* What the command line asked for, checked before anything is sent. */
struct fsbctl_req {
	enum fsbctl_cmd cmd;
	unsigned port, slot;
	unsigned long count;            /* events -n, watch -c; 0 = none */
	double interval;                /* watch -i */
	const char *level;              /* log level, or NULL to show it */
};

/* A command's own words: positionals, and the options in ALLOWED
 * ("-n COUNT": "n"), values in opts['n' - 'a'].  -j is taken anywhere
 * after the command too.  An argument like "-1" is a positional, so
 * that a negative number is told as a bad number, not an option. */
struct fsbctl_args {
	const char *pos[3];
	unsigned npos;
	const char *opts[26];
};

static void fsbctl_args_scan(struct fsbctl_args *a, int argc, char **argv,
			     const char *what, const char *allowed,
			     unsigned maxpos)
{
	bool dashdash = false;

	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];

		if (!dashdash && s[0] == '-' && s[1] &&
		    !(s[1] >= '0' && s[1] <= '9')) {
			if (strcmp(s, "--") == 0) {
				dashdash = true;
				continue;
			}
			if (strcmp(s, "-j") == 0 || strcmp(s, "--json") == 0) {
				opt.json = true;
				continue;
			}
			if (s[1] >= 'a' && s[1] <= 'z' && strchr(allowed, s[1])) {
				const char *val = s[2] ? s + 2
					: i + 1 < argc ? argv[++i] : NULL;
				if (!val)
					fsbctl_die_usage("'%s': option -%c needs a value",
							 what, s[1]);
				a->opts[s[1] - 'a'] = val;
				continue;
			}
			fsbctl_die_usage("'%s' has no option '%s' (see --help)",
					 what, s);
		}
		if (a->npos >= maxpos)
			fsbctl_die_usage("'%s': unexpected argument '%s'", what, s);
		a->pos[a->npos++] = s;
	}
}

static unsigned fsbctl_port_arg(const struct fsbctl_args *a, const char *what)
{
	if (a->npos < 1)
		fsbctl_die_usage("'%s' needs a port number", what);
	return (unsigned)fsbctl_num_parse("port number", a->pos[0], 0,
					  FSBCTL_PORT_MAX);
}

static void fsbctl_req_parse(struct fsbctl_req *r, int argc, char **argv)
{
	const char *cmd = argv[0], *sub = argc > 1 ? argv[1] : NULL;
	struct fsbctl_args a;

	memset(r, 0, sizeof(*r));
	if (strcmp(cmd, "list") == 0) {
		fsbctl_args_scan(&a, argc - 1, argv + 1, "list", "", 0);
		r->cmd = FSBCTL_LIST;
	} else if (strcmp(cmd, "show") == 0) {
		static const struct {
			const char *name;
			enum fsbctl_cmd cmd;
		} shows[] = {
			{ "ports", FSBCTL_PORTS }, { "port", FSBCTL_PORT },
			{ "stats", FSBCTL_STATS }, { "xstats", FSBCTL_XSTATS },
			{ "events", FSBCTL_EVENTS },
		};
		char what[32];
		unsigned k;

		if (!sub || sub[0] == '-')
			fsbctl_die_usage("'show' needs what to show: ports, port, "
					 "stats, xstats or events");
		for (k = 0; k < sizeof(shows) / sizeof(shows[0]); k++)
			if (strcmp(sub, shows[k].name) == 0)
				break;
		if (k == sizeof(shows) / sizeof(shows[0]))
			fsbctl_die_usage("cannot show '%s' (want ports, port, stats, "
					 "xstats or events)", sub);
		r->cmd = shows[k].cmd;
		snprintf(what, sizeof(what), "show %s", sub);
		fsbctl_args_scan(&a, argc - 2, argv + 2, what,
				 r->cmd == FSBCTL_EVENTS ? "n" : "",
				 r->cmd == FSBCTL_PORTS ? 0 : 1);
		if (r->cmd != FSBCTL_PORTS)
			r->port = fsbctl_port_arg(&a, what);
		if (a.opts['n' - 'a'])
			r->count = fsbctl_num_parse("event count", a.opts['n' - 'a'],
						    1, FSBCTL_COUNT_MAX);
	} else if (strcmp(cmd, "attach") == 0 || strcmp(cmd, "detach") == 0) {
		r->cmd = cmd[0] == 'a' ? FSBCTL_ATTACH : FSBCTL_DETACH;
		fsbctl_args_scan(&a, argc - 1, argv + 1, cmd, "", 2);
		if (a.npos < 2)
			fsbctl_die_usage("'%s' needs a port number and a slot", cmd);
		r->port = fsbctl_port_arg(&a, cmd);
		r->slot = (unsigned)fsbctl_num_parse("slot", a.pos[1], 0,
						     FSBCTL_SLOT_MAX);
	} else if (strcmp(cmd, "stats") == 0) {
		if (!sub || strcmp(sub, "reset") != 0)
			fsbctl_die_usage("'stats' wants 'reset N' (to see them: "
					 "'show stats N')");
		r->cmd = FSBCTL_RESET;
		fsbctl_args_scan(&a, argc - 2, argv + 2, "stats reset", "", 1);
		r->port = fsbctl_port_arg(&a, "stats reset");
	} else if (strcmp(cmd, "log") == 0) {
		if (!sub || strcmp(sub, "level") != 0)
			fsbctl_die_usage("'log' wants 'level [LEVEL]'");
		r->cmd = FSBCTL_LOGLEVEL;
		fsbctl_args_scan(&a, argc - 2, argv + 2, "log level", "", 1);
		if (a.npos) {
			unsigned k;
			for (k = 0; fsbctl_levels[k]; k++)
				if (strcmp(a.pos[0], fsbctl_levels[k]) == 0)
					break;
			if (!fsbctl_levels[k])
				fsbctl_die_usage("bad log level '%s' (want err, warning, "
						 "notice, info or debug)", a.pos[0]);
			r->level = fsbctl_levels[k];
		}
	} else if (strcmp(cmd, "watch") == 0) {
		r->cmd = FSBCTL_WATCH;
		fsbctl_args_scan(&a, argc - 1, argv + 1, "watch", "ic", 1);
		r->port = fsbctl_port_arg(&a, "watch");
		r->interval = 1;
		if (a.opts['i' - 'a'])
			r->interval = fsbctl_secs_parse("interval", a.opts['i' - 'a'],
							0.1, 86400);
		if (a.opts['c' - 'a'])
			r->count = fsbctl_num_parse("sample count", a.opts['c' - 'a'],
						    1, 1000000000ul);
	} else {
		fsbctl_die_usage("unknown command '%s' (see --help)", cmd);
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "file-prefix", required_argument, NULL, 'f' },
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct fsbctl_req r;
	struct fsbctl_conn c;
	bool prefix_set = false;
	int ch, rc = 0;

	opterr = 0;
	/* '+': options stop at the command, whose own (-n, -i, -c) follow */
	while ((ch = getopt_long(argc, argv, "+:f:s:jhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			if (!*optarg || strchr(optarg, '/'))
				fsbctl_die_usage("bad prefix '%s' (a name, no '/')", optarg);
			opt.prefix = optarg;
			prefix_set = true;
			break;
		case 's':
			if (!*optarg)
				fsbctl_die_usage("-s needs a socket path");
			opt.sock = optarg;
			break;
		case 'j':
			opt.json = true;
			break;
		case 'h':
			fsbctl_usage(stdout);
			return 0;
		case 'V':
			printf("fsbctl (libfsb) %s\n", PACKAGE_VERSION);
			return 0;
		case ':':
			fsbctl_die_usage("option '%s' needs a value", argv[optind - 1]);
		default:
			fsbctl_die_usage("unknown option '%s' (see --help)",
					 argv[optind - 1]);
		}
	}
	if (prefix_set && opt.sock)
		fsbctl_die_usage("-f and -s are exclusive (-s names the socket)");
	if (optind >= argc)
		fsbctl_die_usage("no command given (see --help)");
	if (strcmp(argv[optind], "help") == 0) {
		fsbctl_usage(stdout);
		return 0;
	}
	fsbctl_req_parse(&r, argc - optind, argv + optind);

	if (r.cmd == FSBCTL_LIST) {
		rc = fsbctl_list();
	} else {
		fsbctl_conn_open_or_die(&c);
		switch (r.cmd) {
		case FSBCTL_PORTS: rc = fsbctl_ports_show(&c); break;
		case FSBCTL_PORT: rc = fsbctl_port_show(&c, r.port); break;
		case FSBCTL_STATS: rc = fsbctl_stats_show(&c, r.port); break;
		case FSBCTL_XSTATS: rc = fsbctl_xstats_show(&c, r.port); break;
		case FSBCTL_EVENTS:
			rc = fsbctl_events_show(&c, r.port, r.count);
			break;
		case FSBCTL_ATTACH:
		case FSBCTL_DETACH:
			rc = fsbctl_slot_change(&c, r.cmd == FSBCTL_ATTACH, r.port,
						r.slot);
			break;
		case FSBCTL_RESET: rc = fsbctl_stats_reset(&c, r.port); break;
		case FSBCTL_LOGLEVEL: rc = fsbctl_log_level(&c, r.level); break;
		case FSBCTL_WATCH:
			rc = fsbctl_watch(&c, r.port, r.interval, r.count);
			break;
		case FSBCTL_LIST: break;
		}
		fsbctl_conn_close(&c);
	}
	/* a full disk or a closed pipe must not pass for success */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "fsbctl: write error: %s\n", strerror(errno));
		return 1;
	}
	return rc;
}
