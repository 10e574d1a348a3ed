/*
 * test-shquote.c - quoted values survive a real /bin/sh byte for byte;
 * shell identifiers; base64 against RFC 4648 vectors.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "provision/buf.h"
#include "provision/common.h"
#include "provision/shquote.h"
#include "runsh.h"

/* The shell sees exactly v, as one word, first as an operand, then as a command word. */
static void roundtrip(const char *v)
{
	char *q = sh_quote(v);
	char *script = xasprintf("printf %%s %s", q);
	struct buf out = BUF_INIT;
	int rc = run_sh_in(script, NULL, false, &out);

	CHECK(rc == 0);
	if (out.len != strlen(v) || memcmp(out.s, v, out.len) != 0) {
		check_failed++;
		printf("FAIL %s: value \"%s\" quoted as [%s] came back as \"%s\"\n", check_current,
		       v, q, out.s);
	} else {
		check_passed++;
	}
	free(script);
	buf_reset(&out);

	/* one word: "$#" counts the arguments the quoted value became */
	script = xasprintf("set -- %s; printf %%s \"$#\"", q);
	run_sh_in(script, NULL, false, &out);
	CHECK_STR(out.s, "1");
	free(script);
	buf_release(&out);
	free(q);
}

static void test_hostile_values(void)
{
	static const char *const values[] = {
	    "x'; rm -rf / #",
	    "$(id)",
	    "`id`",
	    "a\nb",
	    "\"",
	    "'",
	    "''",
	    "\\",
	    "\\'",
	    "-n",
	    "--",
	    "-e",
	    "*",
	    "?",
	    "[a]",
	    "~root",
	    "~",
	    "$HOME",
	    "${HOME}",
	    "a b\tc",
	    " leading and trailing ",
	    "a;b|c&d>e<f",
	    "!",
	    "#",
	    "x=y",
	    "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91",
	    "",
	    "plain",
	    "/usr/local/bin",
	    "user@host:22",
	    "%s%n",
	    "\n",
	    "'\"'\"'",
	};
	char one[2] = {0, 0};

	for (size_t i = 0; i < PV_ARRAY_SIZE(values); i++)
		roundtrip(values[i]);
	for (int c = 1; c <= 0x7f; c++) {
		one[0] = (char)c;
		roundtrip(one);
	}
	/* and all of them in one string, high bytes too */
	{
		char all[256];

		for (int c = 1; c < 256; c++)
			all[c - 1] = (char)c;
		all[255] = '\0';
		roundtrip(all);
	}
}

static void test_forms(void)
{
	char *q;

	q = sh_quote("");
	CHECK_STR(q, "''");
	free(q);
	q = sh_quote("abc");
	CHECK_STR(q, "abc");
	free(q);
	q = sh_quote("a/b.c:d,e@f%g+h_i-j");
	CHECK_STR(q, "a/b.c:d,e@f%g+h_i-j");
	free(q);
	q = sh_quote("it's");
	CHECK_STR(q, "'it'\\''s'");
	free(q);
	q = sh_quote("a b");
	CHECK_STR(q, "'a b'");
	free(q);
	q = sh_quote("-rf");
	CHECK_STR(q, "'-rf'");
	free(q);
	q = sh_quote("A=1");
	CHECK_STR(q, "'A=1'");
	free(q);
	{
		struct buf b = BUF_INIT;

		buf_adds(&b, "echo ");
		sh_quote_buf(&b, "$x");
		CHECK_STR(b.s, "echo '$x'");
		buf_release(&b);
	}
}

static void test_ident(void)
{
	struct buf b = BUF_INIT;

	sh_ident(&b, "abc_DEF9");
	CHECK_STR(b.s, "abc_DEF9");
	buf_reset(&b);
	sh_ident(&b, "my-role.conf");
	CHECK_STR(b.s, "my_role_conf");
	buf_reset(&b);
	sh_ident(&b, "9lives");
	CHECK_STR(b.s, "_9lives");
	buf_reset(&b);
	sh_ident(&b, "");
	CHECK_STR(b.s, "_");
	buf_reset(&b);
	sh_ident(&b, "a b$(c)");
	CHECK_STR(b.s, "a_b__c_");
	buf_reset(&b);
	sh_ident(&b, "\xc3\xa9");
	CHECK_STR(b.s, "__");
	buf_release(&b);
}

static void test_b64_vectors(void)
{
	/* RFC 4648, section 10 */
	static const char *const vec[][2] = {
	    {"", ""},
	    {"f", "Zg=="},
	    {"fo", "Zm8="},
	    {"foo", "Zm9v"},
	    {"foob", "Zm9vYg=="},
	    {"fooba", "Zm9vYmE="},
	    {"foobar", "Zm9vYmFy"},
	};
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < PV_ARRAY_SIZE(vec); i++) {
		buf_reset(&b);
		b64_encode_buf(&b, vec[i][0], strlen(vec[i][0]));
		CHECK_STR(b.s, vec[i][1]);
		buf_reset(&b);
		CHECK(b64_decode(&b, vec[i][1], strlen(vec[i][1])) == 0);
		CHECK_STR(b.s, vec[i][0]);
	}
	buf_reset(&b);
	b64_encode_buf(&b, "\xff\xfe\xfd", 3);
	CHECK_STR(b.s, "//79");
	buf_reset(&b);
	b64_encode_buf(&b, "\xfb\xff", 2);
	CHECK_STR(b.s, "+/8=");
	buf_release(&b);
}

static void test_b64_decode_rules(void)
{
	struct buf b = BUF_INIT;

	/* whitespace anywhere is ignored */
	CHECK(b64_decode(&b, " Zm9v\nYmFy\r\n\t", 13) == 0);
	CHECK_STR(b.s, "foobar");
	buf_reset(&b);
	CHECK(b64_decode(&b, "Zm9vYg==\n", 9) == 0);
	CHECK_STR(b.s, "foob");

	/* invalid input fails and leaves the buffer as it was */
	buf_reset(&b);
	buf_adds(&b, "keep");
	CHECK(b64_decode(&b, "Zm9v*mFy", 8) == -1);
	CHECK_STR(b.s, "keep");
	CHECK(b.len == 4);
	CHECK(b64_decode(&b, "Zm9", 3) == -1); /* truncated */
	CHECK(b64_decode(&b, "Zg=", 3) == -1); /* short padding */
	CHECK(b64_decode(&b, "Z===", 4) == -1); /* too much padding */
	CHECK(b64_decode(&b, "Zg==Zg==", 8) == -1); /* data after padding */
	CHECK(b64_decode(&b, "Zm=v", 4) == -1); /* padding in the middle */
	CHECK(b64_decode(&b, "=Zm9", 4) == -1);
	CHECK(b64_decode(&b, "Zm9v-_", 6) == -1); /* url alphabet is not ours */
	CHECK_STR(b.s, "keep");
	buf_release(&b);
}

static void test_b64_roundtrip(void)
{
	unsigned char data[300];
	struct buf enc = BUF_INIT, dec = BUF_INIT;
	unsigned long long x = 42;

	for (size_t len = 0; len <= sizeof(data); len++) {
		for (size_t i = 0; i < len; i++) {
			x = x * 6364136223846793005ULL + 1;
			data[i] = (unsigned char)(x >> 56);
		}
		buf_reset(&enc);
		buf_reset(&dec);
		b64_encode_buf(&enc, data, len);
		CHECK(enc.len == (len + 2) / 3 * 4);
		CHECK(strchr(enc.s, '\n') == NULL);
		CHECK(b64_decode(&dec, enc.s, enc.len) == 0);
		CHECK(dec.len == len && memcmp(dec.s, data, len) == 0);
	}
	/* agrees with the system's base64 tool */
	{
		struct buf out = BUF_INIT;
		char *script;

		buf_reset(&enc);
		b64_encode_buf(&enc, data, 100);
		script =
		    xasprintf("printf %%s '%s' | base64 -d | od -An -tx1 -v | tr -d ' \\n'", enc.s);
		CHECK(run_sh_in(script, NULL, true, &out) == 0);
		buf_reset(&enc);
		for (size_t i = 0; i < 100; i++)
			buf_addf(&enc, "%02x", data[i]);
		CHECK_STR(out.s, enc.s);
		free(script);
		buf_release(&out);
	}
	buf_release(&enc);
	buf_release(&dec);
}

int main(void)
{
	RUN(test_forms);
	RUN(test_hostile_values);
	RUN(test_ident);
	RUN(test_b64_vectors);
	RUN(test_b64_decode_rules);
	RUN(test_b64_roundtrip);
	return check_done("test-shquote");
}
