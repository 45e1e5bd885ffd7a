/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_spec.c - the port-spec parser (src/spec.c).
 *
 * The core is a table of (input, expected error line) vectors, compared
 * with exact string equality (design.md §2): NULL means "parses".  The
 * registered kinds are null (size= UINT 14..9600) and ring (name= NAME,
 * required by its validate()).
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subdev.h"

#define E(col, rest) "spec error at column " #col ": " rest

struct spec_vec {
	const char *in;
	const char *want;	/* full error line, or NULL for success */
};

static const struct spec_vec vecs[] = {
	/* Successes. */
	{ "fsb0,dev(null)", NULL },
	{ "fsb0,dev(null,size=64)", NULL },
	{ "fsb_0,mac=52:54:00:aa:bb:cc,hold_down=200,dev(ring,name=a),"
	  "dev(null)", NULL },
	{ "fsb0,dev(null),hold_down=0,dev(ring,name=r1),mac=02:00:00:00:00:01",
	  NULL },
	{ "fsb0,hold_down=3600000,dev(null)", NULL },
	{ "fsb0,stall_ms=0,dev(null)", NULL },
	{ "fsb0,dev(null),stall_ms=60000", NULL },
	{ "fsb0,dev(ring,name=\"r1\")", NULL },
	{ "fsb0,dev(null,size=\"9600\"),hold_down=\"7\"", NULL },
	{ "Abcdefghijklmnopqrstuvwxyz01234,dev(null)", NULL },	/* 31 */
	{ "fsb0,dev(null,size=0014)", NULL },

	/* Empty, overlong and bad names. */
	{ "", E(1, "empty spec near ''") },
	{ "fsb-0,dev(null)",
	  E(1, "bad port name (want [A-Za-z0-9_]{1,31}) near 'fsb-0'") },
	{ ",dev(null)",
	  E(1, "bad port name (want [A-Za-z0-9_]{1,31}) near ''") },
	{ "Abcdefghijklmnopqrstuvwxyz012345,dev(null)",
	  E(1, "bad port name (want [A-Za-z0-9_]{1,31}) near "
	       "'Abcdefghijklmnopqrstuvwxyz012345'") },
	{ "dev(null)",
	  E(1, "bad port name (want [A-Za-z0-9_]{1,31}) near 'dev(null)'") },

	/* Parentheses, both directions. */
	{ "fsb0,dev(null", E(9, "unbalanced parentheses near '(null'") },
	{ "fsb0,dev(null,size=64", E(9, "unbalanced parentheses near "
					"'(null,size=64'") },
	{ "fsb0,dev(null,", E(9, "unbalanced parentheses near '(null,'") },
	{ "fsb0,dev(", E(9, "unbalanced parentheses near '('") },
	{ "fsb0,dev(null))", E(15, "unbalanced parentheses near ')'") },
	{ "fsb0,dev(null),hold_down=5)",
	  E(27, "unbalanced parentheses near ')'") },
	{ "fsb0,),dev(null)", E(6, "unbalanced parentheses near '),dev(null)'") },
	{ "fsb0,dev(null,size=(64))",
	  E(20, "nested parentheses near '(64))'") },
	{ "fsb0,dev((null))", E(10, "nested parentheses near '(null))'") },
	{ "fsb0,dev(null(x))", E(14, "nested parentheses near '(x))'") },
	{ "fsb0,mac=(x),dev(null)",
	  E(10, "'(' outside dev() near '(x),dev(null)'") },
	{ "fsb0,(null)", E(6, "'(' outside dev() near '(null)'") },

	/* Kinds and options. */
	{ "fsb0,dev(bogus)",
	  E(10, "unknown sub-device kind (known: null, ring, af_packet, virtio_user, virtio_pci) near 'bogus'") },
	{ "fsb0,dev(virtio_user)",
	  E(10, "virtio_user needs path= near 'virtio_user'") },
	{ "fsb0,dev(virtio_user,path=/run/vu.sock,queue_size=100)",
	  E(10, "queue_size=100 is not a power of two near 'virtio_user'") },
	{ "fsb0,dev(virtio_user,path=/run/vu.sock,queue_size=8192)",
	  E(40, "number out of range (64..4096) near 'queue_size=8192'") },
	{ "fsb0,dev(virtio_user,path=/run/vu.sock,queues=0)",
	  E(40, "number out of range (1..16) near 'queues=0'") },
	{ "fsb0,dev(virtio_user,path=/run/vu.sock,server=2)",
	  E(40, "bad boolean (want 0 or 1) near 'server=2'") },
	{ "fsb0,dev(virtio_pci)",
	  E(10, "virtio_pci needs addr=DDDD:BB:DD.F near 'virtio_pci'") },
	{ "fsb0,dev(virtio_pci,addr=0000:02:00.8)",
	  E(21, "bad PCI address (want DDDD:BB:DD.F) near 'addr=0000:02:00.8'") },
	{ "fsb0,dev(virtio_pci,addr=02:00.0,queue_size=100)",
	  E(10, "virtio_pci queue_size=100 is not a power of two near 'virtio_pci'") },
	{ "fsb0,dev(virtio_pci,addr=02:00.0,queues=17)",
	  E(34, "number out of range (1..16) near 'queues=17'") },
	{ "fsb0,dev()",
	  E(10, "unknown sub-device kind (known: null, ring, af_packet, virtio_user, virtio_pci) near ''") },
	{ "fsb0,dev(nullnullnullnullnull)",
	  E(10, "unknown sub-device kind (known: null, ring, af_packet, virtio_user, virtio_pci) near "
		"'nullnullnullnullnull'") },
	{ "fsb0,dev(null=1)",
	  E(10, "unknown sub-device kind (known: null, ring, af_packet, virtio_user, virtio_pci) near 'null=1'") },
	{ "fsb0,speed=10,dev(null)", E(6, "unknown port option near 'speed=10'") },
	{ "fsb0,dev=x,dev(null)", E(6, "unknown port option near 'dev=x'") },
	{ "fsb0,=x,dev(null)", E(6, "unknown port option near '=x'") },
	{ "fsb0,devv(null)", E(6, "unknown port option near 'devv'") },
	{ "fsb0,dev(null,speed=10)",
	  E(15, "unknown option for null near 'speed=10'") },
	{ "fsb0,dev(ring,size=64)",
	  E(15, "unknown option for ring near 'size=64'") },
	{ "fsb0,dev(ring)", E(10, "ring needs name= near 'ring'") },
	{ "fsb0,dev(null),dev(ring,size=1)",
	  E(25, "unknown option for ring near 'size=1'") },

	/* Duplicates. */
	{ "fsb0,hold_down=1,hold_down=2,dev(null)",
	  E(18, "duplicate option near 'hold_down=2'") },
	{ "fsb0,stall_ms=10,dev(null),stall_ms=20",
	  E(28, "duplicate option near 'stall_ms=20'") },
	{ "fsb0,stall_ms=60001,dev(null)",
	  E(6, "number out of range (0..60000) near 'stall_ms=60001'") },
	{ "fsb0,stall_ms=50ms,dev(null)",
	  E(6, "bad number near 'stall_ms=50ms'") },
	{ "fsb0,mac=02:00:00:00:00:01,dev(null),mac=02:00:00:00:00:02",
	  E(38, "duplicate option near 'mac=02:00:00:00:00:02'") },
	{ "fsb0,dev(null,size=64,size=64)",
	  E(23, "duplicate option near 'size=64'") },
	{ "fsb0,dev(ring,name=a,name=b)",
	  E(22, "duplicate option near 'name=b'") },

	/* Items and values. */
	{ "fsb0,,dev(null)", E(6, "empty item near ',dev(null)'") },
	{ "fsb0,dev(null),", E(16, "empty item near ''") },
	{ "fsb0,dev(null,)", E(15, "empty item near ')'") },
	{ "fsb0,dev(null,,size=64)", E(15, "empty item near ',size=64)'") },
	{ "fsb0,hold_down,dev(null)",
	  E(6, "missing '=' in option near 'hold_down'") },
	{ "fsb0,dev(null,size)", E(15, "missing '=' in option near 'size'") },
	{ "fsb0,dev(null),hold_down",
	  E(16, "missing '=' in option near 'hold_down'") },
	{ "fsb0,mac=,dev(null)", E(6, "empty value near 'mac='") },
	{ "fsb0,dev(null,size=)", E(15, "empty value near 'size='") },
	{ "fsb0,dev(ring,name=\"\")", E(15, "empty value near 'name=\"\"'") },

	/* Quotes. */
	{ "fsb0,dev(ring,name=\"a,(b)\")",	/* parsed, then type-checked */
	  E(15, "bad name (want [A-Za-z0-9_]{1,31}) near 'name=\"a,(b)\"'") },
	{ "fsb0,hold_down=\"1,)(\",dev(null)",
	  E(6, "bad number near 'hold_down=\"1,)(\"'") },
	{ "fsb0,dev(ring,name=\"abc)",
	  E(20, "unterminated quote near '\"abc)'") },
	{ "fsb0,dev(null),mac=\"", E(20, "unterminated quote near '\"'") },
	{ "fsb0,dev(ring,name=a\"b\")", E(21, "unexpected quote near '\"b\")'") },
	{ "fsb0,dev(\"null\")", E(10, "unexpected quote near '\"null\")'") },
	{ "fsb0,\"mac\"=1,dev(null)",
	  E(6, "unexpected quote near '\"mac\"=1,dev(null)'") },
	{ "fsb0,dev(ring,name=\"a\"\"b\")",
	  E(23, "unexpected quote near '\"b\")'") },
	{ "fsb0,dev(ring,name=\"a\"b)",
	  E(23, "text after closing quote near 'b)'") },

	/* Sub-device count and text after a group. */
	{ "fsb0,dev(null),dev(null),dev(null),dev(null),dev(null),"
	  "dev(null),dev(null),dev(null)", NULL },
	{ "fsb0,dev(null),dev(null),dev(null),dev(null),dev(null),"
	  "dev(null),dev(null),dev(null),dev(null)",
	  E(86, "more than 8 sub-devices near 'dev(null)'") },
	{ "fsb0", E(5, "no sub-device given near ''") },
	{ "fsb0,hold_down=5", E(17, "no sub-device given near ''") },
	{ "fsb0,dev(null)x", E(15, "text after dev() near 'x'") },
	{ "fsb0,dev(null)dev(null)", E(15, "text after dev() near 'dev(null)'") },
	{ "fsb0,dev(null)\n", E(15, "text after dev() near '?'") },

	/* Typed values. */
	{ "fsb0,mac=52:54:00:aa:bb,dev(null)",
	  E(6, "bad MAC address near 'mac=52:54:00:aa:bb'") },
	{ "fsb0,mac=52:54:00:aa:bb:cc:dd,dev(null)",
	  E(6, "bad MAC address near 'mac=52:54:00:aa:bb:cc:dd'") },
	{ "fsb0,hold_down=3600001,dev(null)",
	  E(6, "number out of range (0..3600000) near 'hold_down=3600001'") },
	{ "fsb0,hold_down=-1,dev(null)", E(6, "bad number near 'hold_down=-1'") },
	{ "fsb0,hold_down=+1,dev(null)", E(6, "bad number near 'hold_down=+1'") },
	{ "fsb0,hold_down=10ms,dev(null)",
	  E(6, "bad number near 'hold_down=10ms'") },
	{ "fsb0,hold_down= 1,dev(null)", E(6, "bad number near 'hold_down= 1'") },
	{ "fsb0,hold_down=0x10,dev(null)",
	  E(6, "bad number near 'hold_down=0x10'") },
	{ "fsb0,dev(null,size=13)",
	  E(15, "number out of range (14..9600) near 'size=13'") },
	{ "fsb0,dev(null,size=9601)",
	  E(15, "number out of range (14..9600) near 'size=9601'") },
	{ "fsb0,dev(null,size=18446744073709551616)",	/* 2^64 */
	  E(15, "number out of range (14..9600) near "
		"'size=18446744073709551616'") },
	{ "fsb0,dev(ring,name=a-b)",
	  E(15, "bad name (want [A-Za-z0-9_]{1,31}) near 'name=a-b'") },

	/* Columns further right, and long tokens cut at 40 bytes. */
	{ "fsb0,dev(null),dev(ring,name=r),dev(null,size=1)",
	  E(42, "number out of range (14..9600) near 'size=1'") },
	{ "fsb0,dev(null,a_very_long_option_name_that_goes_on=1)",
	  E(15, "unknown option for null near "
		"'a_very_long_option_name_that_goes_on=1'") },
	{ "fsb0,dev(null,a_very_long_option_name_that_goes_on_and_on=1)",
	  E(15, "unknown option for null near "
		"'a_very_long_option_name_that_goes_on_and...'") },
};

/* Built at run time: the vectors that need long strings. */
static char *long_str(const char *head, char fill, size_t n, const char *tail)
{
	size_t hl = strlen(head), tl = strlen(tail);
	char *s = malloc(hl + n + tl + 1);

	assert_non_null(s);
	memcpy(s, head, hl);
	memset(s + hl, fill, n);
	memcpy(s + hl + n, tail, tl + 1);
	return s;
}

static void check_vec(const char *in, const char *want)
{
	char err[FSB_ERRMSG_MAX];
	int rc;

	memset(err, 'X', sizeof(err));
	rc = fsb_spec_check(in, err, sizeof(err));
	if (!want) {
		if (rc != 0)
			fail_msg("'%.80s': unexpected error: %s", in, err);
		assert_string_equal(err, "");
		return;
	}
	if (rc != -EINVAL)
		fail_msg("'%.80s': parsed, want: %s", in, want);
	if (strcmp(err, want) != 0)
		fail_msg("'%.80s':\n   got: %s\n  want: %s", in, err, want);
	assert_null(strchr(err, '\n'));
}

static void test_spec_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++)
		check_vec(vecs[i].in, vecs[i].want);
}

static void test_spec_lengths(void **state)
{
	char *s, want[FSB_ERRMSG_MAX];
	char a40[41];

	(void)state;
	memset(a40, 'a', 40);
	a40[40] = '\0';

	/* A value of exactly 255 bytes is fine (leading zeros keep the
	 * number in range); 256 is not. */
	s = long_str("fsb0,dev(null,size=", '0', 253, "64)");
	check_vec(s, NULL);
	free(s);
	s = long_str("fsb0,dev(null,size=", '0', 254, "64)");
	check_vec(s, E(15, "value longer than 255 bytes near "
			   "'size=00000000000000000000000000000000000...'"));
	free(s);
	s = long_str("fsb0,hold_down=\"", '0', 254, "5\",dev(null)");
	check_vec(s, NULL);
	free(s);
	s = long_str("fsb0,hold_down=\"", '0', 255, "5\",dev(null)");
	check_vec(s, E(6, "value longer than 255 bytes near "
			  "'hold_down=\"00000000000000000000000000000...'"));
	free(s);
	s = long_str("fsb0,dev(ring,name=", 'a', 256, ")");
	check_vec(s, E(15, "value longer than 255 bytes near "
			   "'name=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'"));
	free(s);

	/* Whole spec: 4097 bytes is too long, 4096 is judged on content. */
	s = long_str("", 'a', 4097, "");
	check_vec(s, E(4097, "spec longer than 4096 bytes near 'a'"));
	free(s);
	s = long_str("fsb0,dev(null),", 'b', 4096 - 15 + 50, "");
	snprintf(want, sizeof(want),
		 E(4097, "spec longer than 4096 bytes near '%s...'"),
		 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
	check_vec(s, want);
	free(s);
	s = long_str("", 'a', 4096, "");
	snprintf(want, sizeof(want),
		 E(1, "bad port name (want [A-Za-z0-9_]{1,31}) near '%s...'"),
		 a40);
	check_vec(s, want);
	free(s);
	s = long_str("fsb0,dev(null)", ',', 4096 - 14, "");
	check_vec(s, E(16, "empty item near "
			   "',,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,...'"));
	free(s);

	/* The error column can be as far right as the limit allows. */
	s = long_str("fsb0,dev(null", ')', 4096 - 13, "");
	check_vec(s, E(15, "unbalanced parentheses near "
			   "'))))))))))))))))))))))))))))))))))))))))...'"));
	free(s);
	/* 8 groups with 255-byte values: 4 + 8 * 271 bytes, then 'x'. */
	s = malloc(4 + 8 * 271 + 2);
	assert_non_null(s);
	strcpy(s, "fsb0");
	for (int i = 0; i < 8; i++) {
		char *v = long_str(",dev(null,size=", '0', 253, "64)");

		strcat(s, v);
		free(v);
	}
	check_vec(s, NULL);
	strcat(s, "x");
	check_vec(s, E(2173, "text after dev() near 'x'"));
	free(s);
}

static void test_spec_fields(void **state)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };
	static const char *in = "fsb0,mac=52:54:00:aa:bb:cc,dev(ring,name=\"r1\"),"
				"hold_down=0,dev(null,size=128)";
	struct fsb_spec *sp = malloc(sizeof(*sp));
	char err[FSB_ERRMSG_MAX];

	(void)state;
	assert_non_null(sp);
	memset(sp, 0xa5, sizeof(*sp));
	assert_int_equal(fsb_spec_parse(in, sp, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(sp->name, "fsb0");
	assert_true(sp->has_mac);
	assert_memory_equal(sp->mac, mac, 6);
	assert_int_equal(sp->hold_down_ms, 0);
	assert_int_equal(sp->ndev, 2);

	assert_string_equal(sp->dev[0].kind, "ring");
	assert_int_equal(sp->dev[0].col, 32);
	assert_int_equal(sp->dev[0].nkv, 1);
	assert_string_equal(sp->dev[0].kv[0].key, "name");
	assert_string_equal(sp->dev[0].kv[0].val, "r1");	/* unquoted */
	assert_int_equal(sp->dev[0].kv[0].col, 37);
	assert_string_equal(sp->dev[0].text, "ring,name=\"r1\"");

	assert_string_equal(sp->dev[1].kind, "null");
	assert_int_equal(sp->dev[1].col, 64);
	assert_int_equal(sp->dev[1].nkv, 1);
	assert_string_equal(sp->dev[1].kv[0].key, "size");
	assert_string_equal(sp->dev[1].kv[0].val, "128");
	assert_int_equal(sp->dev[1].kv[0].col, 69);
	assert_string_equal(sp->dev[1].text, "null,size=128");
	assert_int_equal(fsb_devspec_get_u64(&sp->dev[1], "size", 0), 128);

	/* Unused fields are zero. */
	assert_int_equal(sp->dev[0].kv[1].key[0], 0);
	assert_int_equal(sp->dev[0].kv[1].col, 0);
	for (unsigned i = 2; i < FSB_MAX_SUBDEVS; i++) {
		assert_int_equal(sp->dev[i].kind[0], 0);
		assert_int_equal(sp->dev[i].nkv, 0);
		assert_int_equal(sp->dev[i].text[0], 0);
	}
	assert_int_equal(sp->name[5], 0);

	/* Defaults. */
	memset(sp, 0xa5, sizeof(*sp));
	assert_int_equal(fsb_spec_parse("p,dev(null)", sp, NULL, 0), 0);
	assert_string_equal(sp->name, "p");
	assert_false(sp->has_mac);
	assert_int_equal(sp->hold_down_ms, FSB_HOLD_DOWN_DEFAULT_MS);
	assert_int_equal(sp->hold_down_ms, 100);
	assert_int_equal(sp->ndev, 1);
	assert_string_equal(sp->dev[0].kind, "null");
	assert_int_equal(sp->dev[0].nkv, 0);
	assert_int_equal(sp->dev[0].col, 7);
	assert_string_equal(sp->dev[0].text, "null");
	assert_int_equal(fsb_devspec_get_u64(&sp->dev[0], "size", 60), 60);

	/* Explicit hold_down. */
	assert_int_equal(fsb_spec_parse("p,hold_down=250,dev(null)", sp,
					NULL, 0), 0);
	assert_int_equal(sp->hold_down_ms, 250);

	/* A failed parse leaves *out zeroed. */
	assert_int_equal(fsb_spec_parse("p,dev(null),dev(bogus)", sp, err,
					sizeof(err)), -EINVAL);
	assert_string_equal(err, "spec error at column 17: unknown sub-device "
			    "kind (known: null, ring, af_packet, virtio_user, virtio_pci) near 'bogus'");
	assert_int_equal(sp->ndev, 0);
	assert_int_equal(sp->name[0], 0);
	assert_int_equal(sp->dev[0].kind[0], 0);
	free(sp);
}

static void test_devspec_parse(void **state)
{
	struct fsb_devspec *d = malloc(sizeof(*d));
	char err[FSB_ERRMSG_MAX];

	(void)state;
	assert_non_null(d);
	memset(d, 0xa5, sizeof(*d));
	assert_int_equal(fsb_devspec_parse("null,size=128", d, err,
					   sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(d->kind, "null");
	assert_int_equal(d->col, 1);
	assert_int_equal(d->nkv, 1);
	assert_string_equal(d->kv[0].key, "size");
	assert_string_equal(d->kv[0].val, "128");
	assert_int_equal(d->kv[0].col, 6);
	assert_string_equal(d->text, "null,size=128");
	assert_int_equal(d->kv[1].key[0], 0);

	assert_int_equal(fsb_devspec_parse("ring,name=\"a_b\"", d, NULL, 0), 0);
	assert_string_equal(d->kv[0].val, "a_b");
	assert_string_equal(d->text, "ring,name=\"a_b\"");

	/* Columns count within the bare string. */
	static const struct spec_vec bad[] = {
		{ "null,size=x", E(6, "bad number near 'size=x'") },
		{ "", E(1, "empty spec near ''") },
		{ "null)", E(5, "unbalanced parentheses near ')'") },
		{ "null,size=64)", E(13, "unbalanced parentheses near ')'") },
		{ "null(", E(5, "nested parentheses near '('") },
		{ "null,", E(6, "empty item near ''") },
		{ "null,size", E(6, "missing '=' in option near 'size'") },
		{ "ring", E(1, "ring needs name= near 'ring'") },
		{ "dev(null)", E(4, "nested parentheses near '(null)'") },
		{ "bogus,x=1",
		  E(1, "unknown sub-device kind (known: null, ring, af_packet, virtio_user, virtio_pci) near 'bogus'") },
		{ "null,size=\"64\"x",
		  E(15, "text after closing quote near 'x'") },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(d, 0xa5, sizeof(*d));
		assert_int_equal(fsb_devspec_parse(bad[i].in, d, err,
						   sizeof(err)), -EINVAL);
		if (strcmp(err, bad[i].want) != 0)
			fail_msg("'%s':\n   got: %s\n  want: %s", bad[i].in,
				 err, bad[i].want);
		assert_int_equal(d->kind[0], 0);	/* zeroed */
		assert_int_equal(d->nkv, 0);
	}
	assert_int_equal(fsb_devspec_parse("null", NULL, NULL, 0), 0);
	assert_int_equal(fsb_devspec_parse(NULL, d, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "spec error at column 1: empty spec near ''");
	free(d);
}

static void test_devspec_get(void **state)
{
	struct fsb_devspec *d = malloc(sizeof(*d));

	(void)state;
	assert_non_null(d);
	assert_int_equal(fsb_devspec_parse("null,size=9600", d, NULL, 0), 0);
	assert_string_equal(fsb_devspec_get(d, "size"), "9600");
	assert_null(fsb_devspec_get(d, "name"));
	assert_null(fsb_devspec_get(d, "siz"));
	assert_null(fsb_devspec_get(d, NULL));
	assert_null(fsb_devspec_get(NULL, "size"));
	assert_int_equal(fsb_devspec_get_u64(d, "size", 7), 9600);
	assert_int_equal(fsb_devspec_get_u64(d, "name", 7), 7);
	assert_int_equal(fsb_devspec_get_u64(NULL, "size", 7), 7);

	/* Not a number: the default. */
	assert_int_equal(fsb_devspec_parse("ring,name=r9", d, NULL, 0), 0);
	assert_string_equal(fsb_devspec_get(d, "name"), "r9");
	assert_int_equal(fsb_devspec_get_u64(d, "name", 42), 42);
	free(d);
}

static void test_spec_errbuf(void **state)
{
	static const char *bad = "fsb0,dev(bogus)";
	static const char *full = "spec error at column 10: unknown "
		"sub-device kind (known: null, ring, af_packet, virtio_user, virtio_pci) near 'bogus'";
	struct fsb_spec *sp = malloc(sizeof(*sp));
	char err[FSB_ERRMSG_MAX];
	char small[17];

	(void)state;
	assert_non_null(sp);

	/* err may be NULL, with or without a length. */
	assert_int_equal(fsb_spec_check(bad, NULL, 0), -EINVAL);
	assert_int_equal(fsb_spec_check(bad, NULL, 100), -EINVAL);
	assert_int_equal(fsb_spec_parse(bad, sp, NULL, 0), -EINVAL);
	assert_int_equal(fsb_spec_check("fsb0,dev(null)", NULL, 0), 0);
	assert_int_equal(fsb_spec_check(NULL, NULL, 0), -EINVAL);

	/* Truncated but terminated. */
	memset(small, 'X', sizeof(small));
	assert_int_equal(fsb_spec_check(bad, small, sizeof(small)), -EINVAL);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, full, sizeof(small) - 1);

	memset(small, 'X', sizeof(small));
	assert_int_equal(fsb_spec_check(bad, small, 1), -EINVAL);
	assert_int_equal(small[0], '\0');
	assert_int_equal(small[1], 'X');

	/* errlen 0: not touched at all. */
	memset(small, 'X', sizeof(small));
	assert_int_equal(fsb_spec_check(bad, small, 0), -EINVAL);
	assert_int_equal(small[0], 'X');

	/* Full room; check and parse agree; success clears the buffer. */
	assert_int_equal(fsb_spec_check(bad, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, full);
	memset(err, 'X', sizeof(err));
	assert_int_equal(fsb_spec_parse(bad, sp, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, full);
	assert_int_equal(fsb_spec_check(NULL, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "spec error at column 1: empty spec near ''");
	assert_int_equal(fsb_spec_check("fsb0,dev(null)", err, sizeof(err)), 0);
	assert_string_equal(err, "");

	/* Control bytes never break the line. */
	assert_int_equal(fsb_spec_check("fsb0,dev(null,\tsize=1\n)", err,
					sizeof(err)), -EINVAL);
	assert_string_equal(err, "spec error at column 15: unknown option for "
			    "null near '?size=1?'");
	free(sp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_table),
		cmocka_unit_test(test_spec_lengths),
		cmocka_unit_test(test_spec_fields),
		cmocka_unit_test(test_devspec_parse),
		cmocka_unit_test(test_devspec_get),
		cmocka_unit_test(test_spec_errbuf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
