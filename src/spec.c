/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spec.c - the port-spec parser (grammar: docs/guide.md).
 *
 * Grammar (bytes are taken as they are; no blank is ever skipped):
 *
 *   spec    := NAME { "," item }
 *   item    := KEY "=" value | "dev(" devbody ")"
 *   devbody := KIND { "," KEY "=" value }     (a --bare spec on its own)
 *   value   := plain | '"' quoted '"'
 *
 *   NAME    [A-Za-z0-9_]{1,31}
 *   plain   one or more bytes other than , ( ) "
 *   quoted  bytes other than ", no escapes; the quotes are stripped and
 *           what is left must not be empty
 *
 * Port options (mac=, hold_down=, stall_ms=, announce= and its schedule) and dev()
 * groups come in any order; there are 1..FSB_MAX_SUBDEVS groups and the
 * first is the primary.  A
 * value is at most FSB_SPEC_VALUE_MAX bytes once unquoted, the spec at
 * most FSB_SPEC_MAX.  A kind's options are checked one by one against
 * its descriptor table (ops->opts) by type, then together by
 * ops->validate() when its group closes.  Unknown and duplicate options
 * are errors, never ignored: a typo must not silently drop a setting.
 *
 * Errors.  The scanner stops at the first error it meets, left to right.
 * The byte that ends a token is checked before the token itself, so
 * structure (quotes, parentheses) wins over what it encloses.  Every
 * error is exactly one line, in one format:
 *
 *   spec error at column N: MESSAGE near 'TOKEN'
 *
 * N counts bytes from 1 and points at the start of TOKEN, the offending
 * piece: the key=value item as written, the kind, or the rest of the
 * string from the error point, cut at 40 bytes with "..." appended.
 * Control bytes in TOKEN and MESSAGE are shown as '?' so the line stays
 * one line.  One format because specs come from command lines, config
 * files and orchestration tools: a single shape is easy to grep for, to
 * show under the input with a caret at column N, and to compare exactly
 * in tests (tests/test_spec.c is a table of input -> expected line).
 *
 * The parser never reads past the terminating NUL (nor past byte
 * FSB_SPEC_MAX + 1 of an overlong string) and allocates nothing.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "fsb_private.h"

#define SPEC_TOKEN_MAX	40		/* bytes of TOKEN shown */
#define SPEC_REST	SIZE_MAX	/* token: the rest of the string */
#define SPEC_IFNAME_MAX	15		/* IFNAMSIZ - 1 */
#define SPEC_VMSG_MAX	128		/* room for ops->validate()'s message */

/* Where a token is scanned: at port level, inside dev(...), or in a
 * bare "KIND,..." spec (a dev() body without the parentheses). */
enum spec_ctx {
	SPEC_PORT,
	SPEC_GROUP,
	SPEC_BARE,
};

struct spec_parser {
	const char *s;
	size_t len;		/* strlen(s), at most FSB_SPEC_MAX */
	char *err;		/* may be NULL */
	size_t errlen;
	enum spec_ctx ctx;
	size_t open;		/* index of the current group's '(' */
};

/* Port-level results, kept apart from struct fsb_spec so that a check
 * without an output needs no 70 KiB on the stack. */
struct spec_port {
	bool has_mac;
	bool has_hold_down;
	bool has_stall;
	uint8_t mac[FSB_ETHER_ADDR_LEN];
	uint32_t hold_down_ms;
	uint32_t stall_ms;
	bool has_announce;
	struct fsb_announce_cfg announce;
	/* announce_rounds, _initial, _max, _step: given (bit), and where
	 * the first one was, for the error when announce is off */
	unsigned has_sched;
	size_t sched_at, sched_len;
	unsigned ndev;
};

static void spec_sanitize(char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x20 || c == 0x7f)
			p[i] = '?';
	}
}

/*
 * Report an error at index @pos (column @pos + 1) with the token of
 * @toklen bytes starting there (SPEC_REST: the rest of the string).
 * Writes the one-line message into ps->err when there is room for it
 * (truncated to ps->errlen, always terminated) and returns -EINVAL.
 * The caller guarantees @pos + @toklen <= ps->len unless SPEC_REST.
 */
static int __attribute__((format(printf, 4, 5)))
spec_fail(const struct spec_parser *ps, size_t pos, size_t toklen,
	  const char *fmt, ...)
{
	char msg[192], tok[SPEC_TOKEN_MAX + 4];
	va_list ap;
	size_t n;

	if (!ps->err || !ps->errlen)
		return -EINVAL;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	spec_sanitize(msg, strlen(msg));

	if (toklen == SPEC_REST)
		toklen = strnlen(ps->s + pos, SPEC_TOKEN_MAX + 1);
	n = toklen > SPEC_TOKEN_MAX ? SPEC_TOKEN_MAX : toklen;
	memcpy(tok, ps->s + pos, n);
	spec_sanitize(tok, n);
	if (toklen > n)
		memcpy(tok + n, "...", 4);
	else
		tok[n] = '\0';

	snprintf(ps->err, ps->errlen, "spec error at column %zu: %s near '%s'",
		 pos + 1, msg, tok);
	return -EINVAL;
}

/* ASCII only: isalnum() would follow the locale. */
static bool spec_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* Bytes that end a plain token wherever they appear. */
static bool spec_is_delim(char c)
{
	return c == ',' || c == '(' || c == ')' || c == '"';
}

/* [A-Za-z0-9_]{1,31}: port names and NAME options. */
static bool spec_name_ok(const char *v, size_t n)
{
	if (n < 1 || n > FSB_NAME_MAX - 1)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!spec_is_alnum(v[i]) && v[i] != '_')
			return false;
	return true;
}

/* A Linux interface name, restricted to the bytes udev and iproute2
 * users actually see: [A-Za-z0-9_.@-]{1,15}, not "." or "..".  ':' is
 * out: the kernel refuses it in a name (it was the old alias syntax). */
static bool spec_ifname_ok(const char *v)
{
	size_t n = strlen(v);

	if (n < 1 || n > SPEC_IFNAME_MAX)
		return false;
	if (strcmp(v, ".") == 0 || strcmp(v, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];

		if (!spec_is_alnum(c) && c != '_' && c != '.' &&
		    c != '@' && c != '-')
			return false;
	}
	return true;
}

/*
 * Decimal digits only: no sign, no blank, no base prefix.  Returns 0
 * with the number in *@out, -EINVAL when @v is not a number, -ERANGE
 * when it does not fit 64 bits.
 */
static int spec_u64_parse(const char *v, uint64_t *out)
{
	uint64_t x = 0;

	if (!*v)
		return -EINVAL;
	for (const char *p = v; *p; p++)
		if (*p < '0' || *p > '9')
			return -EINVAL;
	for (; *v; v++) {
		unsigned d = (unsigned)(*v - '0');

		if (x > (UINT64_MAX - d) / 10)
			return -ERANGE;
		x = x * 10 + d;
	}
	*out = x;
	return 0;
}

/*
 * Check the value @val (terminated, not empty) of the item at @item
 * (@itemlen bytes, "key=value" as written) against @type; @min/@max
 * bound FSB_OPT_UINT.  Returns 0 or the error.
 */
static int spec_value_check(const struct spec_parser *ps, size_t item,
			    size_t itemlen, enum fsb_opt_type type,
			    const char *val, uint64_t min, uint64_t max)
{
	uint8_t mac[FSB_ETHER_ADDR_LEN];
	uint64_t x = 0;
	int rc;

	switch (type) {
	case FSB_OPT_STR:
		return 0;	/* non-empty was checked by the scanner */
	case FSB_OPT_UINT:
		rc = spec_u64_parse(val, &x);
		if (rc == -EINVAL)
			return spec_fail(ps, item, itemlen, "bad number");
		if (rc < 0 || x < min || x > max)
			return spec_fail(ps, item, itemlen,
					 "number out of range (%" PRIu64 "..%"
					 PRIu64 ")", min, max);
		return 0;
	case FSB_OPT_BOOL:
		if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0)
			return spec_fail(ps, item, itemlen,
					 "bad boolean (want 0 or 1)");
		return 0;
	case FSB_OPT_MAC:
		if (fsb_mac_parse(val, mac) < 0)
			return spec_fail(ps, item, itemlen, "bad MAC address");
		return 0;
	case FSB_OPT_IFNAME:
		if (!spec_ifname_ok(val))
			return spec_fail(ps, item, itemlen,
					 "bad interface name");
		return 0;
	case FSB_OPT_PATH:
		if (val[0] != '/' && val[0] != '.')
			return spec_fail(ps, item, itemlen, "bad path");
		return 0;
	case FSB_OPT_PCI: {
		char pci[16];
		if (fsb_pci_addr_parse(val, pci) < 0)
			return spec_fail(ps, item, itemlen,
					 "bad PCI address (want DDDD:BB:DD.F)");
		return 0;
	}
	case FSB_OPT_NAME:
		if (!spec_name_ok(val, strlen(val)))
			return spec_fail(ps, item, itemlen,
					 "bad name (want [A-Za-z0-9_]{1,31})");
		return 0;
	}
	/* A type this parser does not know is a bug in the kind's table:
	 * refuse rather than let an unchecked value through. */
	return spec_fail(ps, item, itemlen, "option of unknown type");
}

/* A '"', '(' or ')' at @pos where the context does not allow it. */
static int spec_stray(const struct spec_parser *ps, size_t pos)
{
	switch (ps->s[pos]) {
	case '"':
		return spec_fail(ps, pos, SPEC_REST, "unexpected quote");
	case '(':
		if (ps->ctx == SPEC_PORT)
			return spec_fail(ps, pos, SPEC_REST,
					 "'(' outside dev()");
		return spec_fail(ps, pos, SPEC_REST, "nested parentheses");
	default:
		return spec_fail(ps, pos, SPEC_REST, "unbalanced parentheses");
	}
}

/*
 * Check the byte at @pos that ends a token: the end of the string (not
 * inside a group), ',' or, inside a group, ')'.  Returns 0 when it is
 * one of those, 1 when it is some other plain byte (the caller decides),
 * or the error for a stray quote/parenthesis or an unclosed group.
 */
static int spec_term_check(const struct spec_parser *ps, size_t pos)
{
	char c;

	if (pos >= ps->len) {
		if (ps->ctx == SPEC_GROUP)
			return spec_fail(ps, ps->open, SPEC_REST,
					 "unbalanced parentheses");
		return 0;
	}
	c = ps->s[pos];
	if (c == ',' || (c == ')' && ps->ctx == SPEC_GROUP))
		return 0;
	if (spec_is_delim(c))
		return spec_stray(ps, pos);
	return 1;
}

/*
 * Scan the value that starts at @p (just after the '=') of the item at
 * @item.  On success copies it, quotes stripped, into @val (terminated),
 * sets *@end to the index of the byte after it (',', ')' or the end)
 * and returns 0.
 */
static int spec_value_scan(const struct spec_parser *ps, size_t item,
			   size_t p, char val[FSB_SPEC_VALUE_MAX + 1],
			   size_t *end)
{
	const char *s = ps->s;
	size_t vstart, vlen, q;
	int rc;

	if (p < ps->len && s[p] == '"') {
		const char *close = memchr(s + p + 1, '"', ps->len - p - 1);

		if (!close)
			return spec_fail(ps, p, SPEC_REST,
					 "unterminated quote");
		vstart = p + 1;
		vlen = (size_t)(close - (s + vstart));
		q = (size_t)(close - s) + 1;
		rc = spec_term_check(ps, q);
		if (rc > 0)
			return spec_fail(ps, q, SPEC_REST,
					 "text after closing quote");
	} else {
		vstart = p;
		for (q = p; q < ps->len && !spec_is_delim(s[q]); q++)
			;
		vlen = q - p;
		rc = spec_term_check(ps, q);
	}
	if (rc)
		return rc;
	if (vlen == 0)
		return spec_fail(ps, item, q - item, "empty value");
	if (vlen > FSB_SPEC_VALUE_MAX)
		return spec_fail(ps, item, q - item,
				 "value longer than %d bytes",
				 FSB_SPEC_VALUE_MAX);
	memcpy(val, s + vstart, vlen);
	val[vlen] = '\0';
	*end = q;
	return 0;
}

/* The kind named @kind, or NULL. */
static const struct fsb_kind_spec *spec_kind_find(const char *kind)
{
	for (const struct fsb_kind_spec *const *k = fsb_kind_specs; *k; k++)
		if (strcmp((*k)->kind, kind) == 0)
			return *k;
	return NULL;
}

static char kinds_list[128];
static pthread_once_t kinds_once = PTHREAD_ONCE_INIT;

static void kinds_list_build(void)
{
	size_t off = 0;
	for (const struct fsb_kind_spec *const *k = fsb_kind_specs; *k; k++)
		off += (size_t)snprintf(kinds_list + off, sizeof(kinds_list) - off,
					"%s%s", k == fsb_kind_specs ? "" : ", ",
					(*k)->kind);
}

/* "null, ring, ...", for messages.  Built once (pthread_once): spec
 * errors may be formatted by several threads at a time. */
static const char *spec_kinds(void)
{
	pthread_once(&kinds_once, kinds_list_build);
	return kinds_list;
}

/* The descriptor of option @key (@n bytes) of @ops, or NULL. */
static const struct fsb_opt_desc *
spec_opt_find(const struct fsb_kind_spec *ops, const char *key, size_t n)
{
	if (!ops->opts || n >= FSB_KEY_MAX)
		return NULL;
	for (const struct fsb_opt_desc *o = ops->opts; o->name; o++)
		if (strlen(o->name) == n && memcmp(o->name, key, n) == 0)
			return o;
	return NULL;
}

/*
 * Parse one KEY=VALUE item of a dev() body, starting at @p, into @d.
 * Sets *@end to the index of the byte after it.
 */
static int spec_devopt_parse(const struct spec_parser *ps,
			     const struct fsb_kind_spec *ops,
			     struct fsb_devspec *d, size_t p, size_t *end)
{
	const char *s = ps->s;
	const struct fsb_opt_desc *o;
	char val[FSB_SPEC_VALUE_MAX + 1];
	struct fsb_kv *kv;
	size_t k, e, klen;
	int rc;

	/* Nothing before the next ',' or ')': "dev(null,,...)" or a
	 * trailing comma.  An open group running out is unbalanced. */
	if (p >= ps->len && ps->ctx == SPEC_GROUP)
		return spec_term_check(ps, p);
	if (p >= ps->len || s[p] == ',' ||
	    (s[p] == ')' && ps->ctx == SPEC_GROUP))
		return spec_fail(ps, p, SPEC_REST, "empty item");

	for (k = p; k < ps->len && !spec_is_delim(s[k]) && s[k] != '='; k++)
		;
	klen = k - p;
	if (k >= ps->len || s[k] != '=') {
		rc = spec_term_check(ps, k);
		if (rc < 0)
			return rc;
		return spec_fail(ps, p, klen, "missing '=' in option");
	}
	rc = spec_value_scan(ps, p, k + 1, val, &e);
	if (rc < 0)
		return rc;

	o = spec_opt_find(ops, s + p, klen);
	if (!o)
		return spec_fail(ps, p, e - p, "unknown option for %s",
				 ops->kind);
	for (unsigned i = 0; i < d->nkv; i++)
		if (strcmp(d->kv[i].key, o->name) == 0)
			return spec_fail(ps, p, e - p, "duplicate option");
	if (d->nkv >= FSB_SPEC_MAX_KV)
		return spec_fail(ps, p, e - p, "more than %d options",
				 FSB_SPEC_MAX_KV);
	rc = spec_value_check(ps, p, e - p, o->type, val, o->min, o->max);
	if (rc < 0)
		return rc;

	kv = &d->kv[d->nkv++];
	memcpy(kv->key, s + p, klen);	/* klen < FSB_KEY_MAX: opt_find */
	kv->key[klen] = '\0';
	memcpy(kv->val, val, strlen(val) + 1);
	kv->col = (unsigned)(p + 1);
	*end = e;
	return 0;
}

/*
 * Parse a dev() body "KIND{,KEY=VALUE}" starting at @p into @d (zeroed
 * first).  Inside a group (ps->ctx == SPEC_GROUP) it ends at the ')'
 * that closes the '(' at ps->open; in a bare spec at the end of the
 * string.  Sets *@end to the index of that ')' (or the end), fills
 * d->text with the body as written, then runs the kind's validate().
 */
static int spec_devbody_parse(const struct spec_parser *ps, size_t p,
			      struct fsb_devspec *d, size_t *end)
{
	const struct fsb_kind_spec *ops = NULL;
	const char *s = ps->s;
	char vmsg[SPEC_VMSG_MAX];
	size_t k, n;
	int rc;

	memset(d, 0, sizeof(*d));

	for (k = p; k < ps->len && !spec_is_delim(s[k]); k++)
		;
	rc = spec_term_check(ps, k);
	if (rc < 0)
		return rc;
	n = k - p;
	if (n > 0 && n < FSB_KIND_MAX) {
		memcpy(d->kind, s + p, n);
		d->kind[n] = '\0';
		ops = spec_kind_find(d->kind);
	}
	if (!ops)
		return spec_fail(ps, p, n,
				 "unknown sub-device kind (known: %s)",
				 spec_kinds());
	d->col = (unsigned)(p + 1);

	while (k < ps->len && s[k] == ',') {
		rc = spec_devopt_parse(ps, ops, d, k + 1, &k);
		if (rc < 0)
			return rc;
	}
	/* The terminator checks leave k at the group's ')' or, for a bare
	 * spec, at the end of the string. */
	if (k - p >= sizeof(d->text))
		return spec_fail(ps, p, SPEC_REST, "spec longer than %zu bytes",
				 sizeof(d->text) - 1);
	memcpy(d->text, s + p, k - p);
	d->text[k - p] = '\0';
	*end = k;

	if (ops->validate) {
		vmsg[0] = '\0';
		rc = ops->validate(d, vmsg, sizeof(vmsg));
		vmsg[sizeof(vmsg) - 1] = '\0';
		if (rc != 0)
			return spec_fail(ps, p, n, "%s",
					 vmsg[0] ? vmsg : "bad options");
	}
	return 0;
}

/* A port option that is a number of milliseconds, 0..@max, given once;
 * the item is [@p, @e). */
static int spec_ms_opt(const struct spec_parser *ps, size_t p, size_t e,
		       const char *val, uint64_t max, bool *has, uint32_t *out,
		       size_t *end)
{
	uint64_t ms = 0;
	if (*has)
		return spec_fail(ps, p, e - p, "duplicate option");
	int rc = spec_value_check(ps, p, e - p, FSB_OPT_UINT, val, 0, max);
	if (rc < 0)
		return rc;
	spec_u64_parse(val, &ms);
	*out = (uint32_t)ms;
	*has = true;
	*end = e;
	return 0;
}

/* A port option: the item at @p, key of @klen bytes, '=' at p + klen. */
static int spec_portopt_parse(const struct spec_parser *ps,
			      struct spec_port *port, size_t p, size_t klen,
			      size_t *end)
{
	char val[FSB_SPEC_VALUE_MAX + 1];
	const char *key = ps->s + p;
	uint64_t ms = 0;
	size_t e;
	int rc;

	rc = spec_value_scan(ps, p, p + klen + 1, val, &e);
	if (rc < 0)
		return rc;

	if (klen == 3 && memcmp(key, "mac", 3) == 0) {
		if (port->has_mac)
			return spec_fail(ps, p, e - p, "duplicate option");
		if (fsb_mac_parse(val, port->mac) < 0)
			return spec_fail(ps, p, e - p, "bad MAC address");
		port->has_mac = true;
	} else if (klen == 9 && memcmp(key, "hold_down", 9) == 0) {
		return spec_ms_opt(ps, p, e, val, FSB_HOLD_DOWN_MAX_MS,
				   &port->has_hold_down, &port->hold_down_ms, end);
	} else if (klen == 8 && memcmp(key, "stall_ms", 8) == 0) {
		return spec_ms_opt(ps, p, e, val, FSB_STALL_MAX_MS,
				   &port->has_stall, &port->stall_ms, end);
	} else if (klen == 8 && memcmp(key, "announce", 8) == 0) {
		char msg[FSB_ERRMSG_MAX];
		if (port->has_announce)
			return spec_fail(ps, p, e - p, "duplicate option");
		msg[0] = '\0';
		if (fsb_announce_parse(val, &port->announce, msg,
				       sizeof(msg)) < 0)
			return spec_fail(ps, p, e - p, "%s", msg);
		port->has_announce = true;
	} else if (klen > 9 && memcmp(key, "announce_", 9) == 0) {
		static const struct {
			const char *name;
			uint32_t max;
		} sched[] = {
			{ "rounds", FSB_ANNOUNCE_ROUNDS_MAX },
			{ "initial", FSB_ANNOUNCE_MS_MAX },
			{ "max", FSB_ANNOUNCE_MS_MAX },
			{ "step", FSB_ANNOUNCE_STEP_MAX_MS },
		};
		unsigned i;
		for (i = 0; i < FSB_ARRAY_SIZE(sched); i++)
			if (klen - 9 == strlen(sched[i].name) &&
			    !memcmp(key + 9, sched[i].name, klen - 9))
				break;
		if (i == FSB_ARRAY_SIZE(sched))
			return spec_fail(ps, p, e - p, "unknown port option");
		if (port->has_sched & (1u << i))
			return spec_fail(ps, p, e - p, "duplicate option");
		rc = spec_value_check(ps, p, e - p, FSB_OPT_UINT, val, i == 0,
				      sched[i].max);
		if (rc < 0)
			return rc;
		spec_u64_parse(val, &ms);
		uint32_t *f[] = { &port->announce.rounds,
				  &port->announce.initial_ms,
				  &port->announce.max_ms,
				  &port->announce.step_ms };
		*f[i] = (uint32_t)ms;
		if (!port->has_sched) {
			port->sched_at = p;
			port->sched_len = e - p;
		}
		port->has_sched |= 1u << i;
	} else {
		return spec_fail(ps, p, e - p, "unknown port option");
	}
	*end = e;
	return 0;
}

/*
 * One dev() group: "dev" at @p, '(' at @p + 3.  Fills @d and sets *@end
 * to the index after the closing ')', which must be followed by ',' or
 * the end of the string.
 */
static int spec_group_parse(struct spec_parser *ps, size_t p,
			    struct fsb_devspec *d, size_t *end)
{
	size_t close;
	int rc;

	ps->ctx = SPEC_GROUP;
	ps->open = p + 3;
	rc = spec_devbody_parse(ps, p + 4, d, &close);
	ps->ctx = SPEC_PORT;
	if (rc < 0)
		return rc;

	/* spec_devbody_parse() returns only at a ')' inside a group. */
	close++;
	if (close < ps->len && ps->s[close] != ',') {
		if (ps->s[close] == ')')
			return spec_fail(ps, close, SPEC_REST,
					 "unbalanced parentheses");
		return spec_fail(ps, close, SPEC_REST, "text after dev()");
	}
	*end = close;
	return 0;
}

/*
 * The whole spec.  Dev groups go to @out->dev[] when @out is given, else
 * to @scratch; the rest to @port and, at the end, to @out.
 */
static int spec_port_parse(struct spec_parser *ps, struct fsb_spec *out,
			   struct fsb_devspec *scratch)
{
	struct spec_port port = {
		.hold_down_ms = FSB_HOLD_DOWN_DEFAULT_MS,
		.stall_ms = FSB_STALL_DEFAULT_MS,
		.announce = {
			.rounds = FSB_ANNOUNCE_ROUNDS_DEFAULT,
			.initial_ms = FSB_ANNOUNCE_INITIAL_DEFAULT_MS,
			.max_ms = FSB_ANNOUNCE_MAX_DEFAULT_MS,
			.step_ms = FSB_ANNOUNCE_STEP_DEFAULT_MS,
		},
	};
	const char *s = ps->s;
	size_t k, p, klen, namelen;
	int rc;

	if (ps->len == 0)
		return spec_fail(ps, 0, 0, "empty spec");

	for (k = 0; k < ps->len && s[k] != ','; k++)
		;
	namelen = k;
	if (!spec_name_ok(s, namelen))
		return spec_fail(ps, 0, namelen,
				 "bad port name (want [A-Za-z0-9_]{1,31})");

	/* Here s[k] is the ',' before the next item, or the end. */
	while (k < ps->len) {
		p = k + 1;
		if (p >= ps->len || s[p] == ',')
			return spec_fail(ps, p, SPEC_REST, "empty item");
		for (k = p; k < ps->len && !spec_is_delim(s[k]) &&
			    s[k] != '='; k++)
			;
		klen = k - p;

		if (k < ps->len && s[k] == '(' && klen == 3 &&
		    memcmp(s + p, "dev", 3) == 0) {
			if (port.ndev >= FSB_MAX_SUBDEVS)
				return spec_fail(ps, p, SPEC_REST,
						 "more than %d sub-devices",
						 FSB_MAX_SUBDEVS);
			rc = spec_group_parse(ps, p, out ? &out->dev[port.ndev]
							 : scratch, &k);
			if (rc < 0)
				return rc;
			port.ndev++;
		} else if (k < ps->len && s[k] == '=') {
			rc = spec_portopt_parse(ps, &port, p, klen, &k);
			if (rc < 0)
				return rc;
		} else if (k < ps->len && s[k] == '(' && klen > 0) {
			/* "devv(...)", "DEV(...)": most likely a typo. */
			return spec_fail(ps, p, klen, "unknown port option");
		} else {
			rc = spec_term_check(ps, k);
			if (rc < 0)
				return rc;
			return spec_fail(ps, p, klen, "missing '=' in option");
		}
	}

	if (port.ndev == 0)
		return spec_fail(ps, ps->len, 0, "no sub-device given");
	if (port.has_sched && port.announce.mode == FSB_ANNOUNCE_OFF)
		return spec_fail(ps, port.sched_at, port.sched_len,
				 "an announce schedule without announce= "
				 "(learn or addresses)");
	if (port.announce.max_ms < port.announce.initial_ms)
		return spec_fail(ps, port.sched_at, port.sched_len,
				 "announce_max=%u is below announce_initial=%u",
				 (unsigned)port.announce.max_ms,
				 (unsigned)port.announce.initial_ms);

	if (out) {
		memcpy(out->name, s, namelen);	/* < FSB_NAME_MAX, checked */
		out->has_mac = port.has_mac;
		memcpy(out->mac, port.mac, sizeof(out->mac));
		out->hold_down_ms = port.hold_down_ms;
		out->stall_ms = port.stall_ms;
		out->announce = port.announce;
		out->ndev = port.ndev;
	}
	return 0;
}

static void spec_parser_init(struct spec_parser *ps, const char *s,
			     char *err, size_t errlen, enum spec_ctx ctx)
{
	ps->s = s ? s : "";
	/* Never look further than one byte past the limit. */
	ps->len = strnlen(ps->s, FSB_SPEC_MAX + 1);
	ps->err = err;
	ps->errlen = errlen;
	ps->ctx = ctx;
	ps->open = 0;
	if (err && errlen)
		err[0] = '\0';
}

/*
 * Parse the port spec @s (NULL is taken as empty).  @out may be NULL
 * (check only).  Returns 0 with *@out filled (unused fields zero,
 * hold_down_ms defaulted), or -EINVAL with *@out zeroed and, when @err
 * is not NULL and @errlen > 0, the one-line error in @err (truncated to
 * @errlen, always terminated).  On success @err is set to "".
 * Reentrant; allocates nothing.
 */
int fsb_spec_parse(const char *s, struct fsb_spec *out, char *err,
		   size_t errlen)
{
	struct fsb_devspec scratch;
	struct spec_parser ps;
	int rc;

	spec_parser_init(&ps, s, err, errlen, SPEC_PORT);
	if (out)
		memset(out, 0, sizeof(*out));
	if (ps.len > FSB_SPEC_MAX)
		return spec_fail(&ps, FSB_SPEC_MAX, SPEC_REST,
				 "spec longer than %d bytes", FSB_SPEC_MAX);
	rc = spec_port_parse(&ps, out, &scratch);
	if (rc < 0 && out)
		memset(out, 0, sizeof(*out));
	return rc;
}

/*
 * Parse a bare "KIND,opt=v,..." (the inside of one dev() group, for
 * --bare).  Same contract as fsb_spec_parse(); columns count within
 * @s.  The limit is FSB_SPEC_MAX - 1 bytes, what d->text can hold.
 */
int fsb_devspec_parse(const char *s, struct fsb_devspec *out, char *err,
		      size_t errlen)
{
	struct fsb_devspec scratch;
	struct spec_parser ps;
	size_t end;
	int rc;

	spec_parser_init(&ps, s, err, errlen, SPEC_BARE);
	if (!out)
		out = &scratch;
	memset(out, 0, sizeof(*out));
	if (ps.len == 0)
		return spec_fail(&ps, 0, 0, "empty spec");
	if (ps.len > FSB_SPEC_MAX - 1)
		return spec_fail(&ps, FSB_SPEC_MAX - 1, SPEC_REST,
				 "spec longer than %d bytes", FSB_SPEC_MAX - 1);
	rc = spec_devbody_parse(&ps, 0, out, &end);
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* The value of @key in @d, or NULL (also for NULL arguments). */
const char *fsb_devspec_get(const struct fsb_devspec *d, const char *key)
{
	if (!d || !key)
		return NULL;
	for (unsigned i = 0; i < d->nkv && i < FSB_SPEC_MAX_KV; i++)
		if (strcmp(d->kv[i].key, key) == 0)
			return d->kv[i].val;
	return NULL;
}

/*
 * The value of @key in @d as an unsigned, or @def when absent or not a
 * decimal number (UINT options were range-checked by the parser).
 */
uint64_t fsb_devspec_get_u64(const struct fsb_devspec *d, const char *key,
			     uint64_t def)
{
	const char *v = fsb_devspec_get(d, key);
	uint64_t x = 0;

	if (!v || spec_u64_parse(v, &x) < 0)
		return def;
	return x;
}

/* Needs no context: kinds are compiled in. */
int fsb_spec_check(const char *spec, char *err, size_t errlen)
{
	return fsb_spec_parse(spec, NULL, err, errlen) < 0 ? -EINVAL : 0;
}
