/*
 * test-diff.c - diff_unified against the real "diff -u", and on its own:
 * every diff must turn a into b when applied, and must be minimal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "provision/buf.h"
#include "provision/common.h"
#include "provision/diff.h"

static char tmpdir[] = "/tmp/test-diff-XXXXXX";

static unsigned long long rng_state;

static unsigned rnd(unsigned n)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return n ? (unsigned)((rng_state >> 33) % n) : 0;
}

static void write_all(const char *path, const char *s, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f) {
		perror(path);
		exit(2);
	}
	if (n && fwrite(s, 1, n, f) != n) {
		perror(path);
		exit(2);
	}
	fclose(f);
}

/* What GNU diff prints for a -> b with labels "a" and "b". */
static char *gnu_diff(const char *a, size_t an, const char *b, size_t bn)
{
	char pa[64], pb[64], cmd[256];
	struct buf out = BUF_INIT;
	char chunk[4096];
	size_t n;
	FILE *p;

	snprintf(pa, sizeof(pa), "%s/a", tmpdir);
	snprintf(pb, sizeof(pb), "%s/b", tmpdir);
	write_all(pa, a, an);
	write_all(pb, b, bn);
	snprintf(cmd, sizeof(cmd), "diff -u --label a --label b %s %s", pa, pb);
	p = popen(cmd, "r");
	if (!p) {
		perror("popen");
		exit(2);
	}
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		buf_add(&out, chunk, n);
	pclose(p);
	return buf_detach(&out, NULL);
}

static char *our_diff(const char *a, size_t an, const char *b, size_t bn)
{
	struct buf out = BUF_INIT;

	diff_unified(&out, "a", a, an, "b", b, bn);
	return buf_detach(&out, NULL);
}

/* ---- applying a unified diff, to check it independently ---- */

struct lines {
	const char **s;
	size_t *len;
	size_t n;
};

static void to_lines(struct lines *l, const char *s, size_t n)
{
	size_t i = 0;

	l->s = calloc(n + 1, sizeof(*l->s));
	l->len = calloc(n + 1, sizeof(*l->len));
	l->n = 0;
	while (i < n) {
		const char *nl = memchr(s + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - s) + 1 : n;

		l->s[l->n] = s + i;
		l->len[l->n++] = end - i;
		i = end;
	}
}

/*
 * Apply diff d to a; returns 0 and the result in out, -1 if the diff does
 * not fit a.  Counts the changed lines in *changes.
 */
static int apply_diff(const char *d, const char *a, size_t an, struct buf *out, size_t *changes)
{
	struct lines la;
	const char *p = d;
	size_t ai = 0;
	int rc = -1;

	*changes = 0;
	to_lines(&la, a, an);
	if (*d == '\0') {
		buf_add(out, a, an);
		rc = 0;
		goto out;
	}
	if (strncmp(p, "--- a\n+++ b\n", 12) != 0)
		goto out;
	p += 12;
	while (*p) {
		unsigned long a0, as = 1, b0, bs = 1;
		size_t start;
		const char *e = strchr(p, '\n');

		if (sscanf(p, "@@ -%lu", &a0) != 1)
			goto out;
		{
			const char *q = p + 4;
			while (*q >= '0' && *q <= '9')
				q++;
			if (*q == ',')
				as = strtoul(q + 1, NULL, 10);
			q = strchr(q, '+');
			b0 = strtoul(q + 1, (char **)&q, 10);
			if (*q == ',')
				bs = strtoul(q + 1, NULL, 10);
		}
		(void)b0;
		(void)bs;
		start = as ? a0 - 1 : a0;
		if (start < ai)
			goto out;
		while (ai < start) {
			buf_add(out, la.s[ai], la.len[ai]);
			ai++;
		}
		p = e + 1;
		while (*p == ' ' || *p == '-' || *p == '+') {
			char mark = *p;
			const char *le = strchr(p, '\n');
			size_t full = (size_t)(le - p) - 1; /* without mark and newline */
			int nonl = strncmp(le + 1, "\\ No newline at end of file\n", 28) == 0;

			if (mark != '+') {
				if (ai >= la.n || la.len[ai] != full + (nonl ? 0 : 1) ||
				    memcmp(la.s[ai], p + 1, full) != 0)
					goto out;
				ai++;
			}
			if (mark != '-') {
				buf_add(out, p + 1, full);
				if (!nonl)
					buf_addc(out, '\n');
			}
			if (mark != ' ')
				(*changes)++;
			p = le + 1 + (nonl ? 28 : 0);
		}
	}
	while (ai < la.n) {
		buf_add(out, la.s[ai], la.len[ai]);
		ai++;
	}
	rc = 0;
out:
	free(la.s);
	free(la.len);
	return rc;
}

/* The smallest number of inserted plus deleted lines (quadratic, small inputs). */
static size_t min_edits(const char *a, size_t an, const char *b, size_t bn)
{
	struct lines la, lb;
	size_t *prev, *cur, r;

	to_lines(&la, a, an);
	to_lines(&lb, b, bn);
	prev = calloc(lb.n + 1, sizeof(*prev));
	cur = calloc(lb.n + 1, sizeof(*cur));
	for (size_t i = 1; i <= la.n; i++) {
		for (size_t j = 1; j <= lb.n; j++) {
			if (la.len[i - 1] == lb.len[j - 1] &&
			    memcmp(la.s[i - 1], lb.s[j - 1], la.len[i - 1]) == 0)
				cur[j] = prev[j - 1] + 1;
			else
				cur[j] = prev[j] > cur[j - 1] ? prev[j] : cur[j - 1];
		}
		memcpy(prev, cur, (lb.n + 1) * sizeof(*prev));
	}
	r = la.n + lb.n - 2 * prev[lb.n];
	free(prev);
	free(cur);
	free(la.s);
	free(la.len);
	free(lb.s);
	free(lb.len);
	return r;
}

static int exact_cases, exact_fail;

/* Byte-for-byte against GNU diff. */
static void same_as_gnu(const char *what, const char *a, size_t an, const char *b, size_t bn)
{
	char *want = gnu_diff(a, an, b, bn);
	char *got = our_diff(a, an, b, bn);

	exact_cases++;
	if (strcmp(want, got) != 0) {
		exact_fail++;
		CHECK_STR(got, want);
		printf("  case: %s\n", what);
	} else {
		CHECK(1);
	}
	free(want);
	free(got);
}

/* The diff applies, gives b, and changes no more lines than needed. */
static void valid_and_minimal(const char *a, size_t an, const char *b, size_t bn, bool small)
{
	char *got = our_diff(a, an, b, bn);
	struct buf res = BUF_INIT;
	size_t changes = 0;
	int rc = apply_diff(got, a, an, &res, &changes);

	CHECK(rc == 0);
	CHECK(res.len == bn && memcmp(res.s, b, bn) == 0);
	if (small)
		CHECK(changes == min_edits(a, an, b, bn));
	buf_release(&res);
	free(got);
}

static void test_fixed(void)
{
	static const struct {
		const char *a, *b;
	} cases[] = {
	    {"", "x\n"},
	    {"x\n", ""},
	    {"", "a\nb\nc\n"},
	    {"a\nb\nc\n", ""},
	    {"a\n", "b\n"},
	    {"a", "a\n"},
	    {"a\n", "a"},
	    {"a", "b"},
	    {"a\nb\nc", "a\nb\nd"},
	    {"a\nb\nc", "a\nB\nc"},
	    {"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n"},
	    {"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n"},
	    {"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "2\n3\n4\n5\n6\n7\n8\n9\n"},
	    {"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "1\n2\n3\n4\n5\nX\n7\n8\n9\n10\n"},
	    /* two changes with 6 and 7 unchanged lines between them */
	    {"x\n1\n2\n3\n4\n5\n6\ny\n", "X\n1\n2\n3\n4\n5\n6\nY\n"},
	    {"x\n1\n2\n3\n4\n5\n6\n7\ny\n", "X\n1\n2\n3\n4\n5\n6\n7\nY\n"},
	    {"x\n1\n2\n3\n4\n5\n6\n7\n8\ny\n", "X\n1\n2\n3\n4\n5\n6\n7\n8\nY\n"},
	    /* runs of equal lines: where the change goes */
	    {"a\n\n\nb\n", "a\n\n\n\nb\n"},
	    {"a\nb\na\nb\n", "a\nb\na\nb\na\nb\n"},
	    {"}\n}\n}\n", "}\n}\n"},
	    {"a\nb\nc\nd\n", "d\nc\nb\na\n"},
	    {"only\n", "only\nmore"},
	};

	for (size_t i = 0; i < PV_ARRAY_SIZE(cases); i++) {
		char what[32];

		snprintf(what, sizeof(what), "fixed %zu", i);
		same_as_gnu(what, cases[i].a, strlen(cases[i].a), cases[i].b, strlen(cases[i].b));
		valid_and_minimal(cases[i].a, strlen(cases[i].a), cases[i].b, strlen(cases[i].b),
		                  true);
	}
}

static void test_equal_and_binary(void)
{
	struct buf out = BUF_INIT;
	char bin[] = {'a', '\0', 'b'};
	char *big;

	diff_unified(&out, "a", "same\n", 5, "b", "same\n", 5);
	CHECK(out.len == 0);
	diff_unified(&out, "a", "", 0, "b", "", 0);
	CHECK(out.len == 0);
	diff_unified(&out, "x.bin", bin, sizeof(bin), "y.bin", "ab", 2);
	CHECK_STR(out.s, "Binary or large files x.bin and y.bin differ\n");
	buf_reset(&out);
	big = malloc(((size_t)1 << 20) + 2);
	memset(big, 'x', ((size_t)1 << 20) + 1);
	big[(size_t)1 << 20] = '\n';
	diff_unified(&out, "a", big, ((size_t)1 << 20) + 1, "b", "x\n", 2);
	CHECK_STR(out.s, "Binary or large files a and b differ\n");
	free(big);
	buf_release(&out);
}

/* A file of n lines; unique lines unless vocab > 0 (then lines repeat). */
static void gen_file(struct buf *f, size_t n, unsigned vocab, unsigned *serial)
{
	static const char *const common_lines[] = {"", "}", "{", "\treturn 0;", "end", "#"};

	for (size_t i = 0; i < n; i++) {
		if (vocab)
			buf_addf(f, "%s\n", common_lines[rnd(vocab)]);
		else
			buf_addf(f, "line %u %u\n", (*serial)++, rnd(1000));
	}
}

/* Random deletions, insertions and replacements of a into b. */
static void gen_edit(struct buf *b, const char *a, size_t an, unsigned vocab, unsigned *serial,
                     unsigned rate)
{
	struct lines la;

	to_lines(&la, a, an);
	for (size_t i = 0; i <= la.n; i++) {
		unsigned r = rnd(100);

		if (r < rate) {
			struct buf ins = BUF_INIT;

			gen_file(&ins, 1 + rnd(4), vocab, serial);
			buf_add(b, ins.s, ins.len);
			buf_release(&ins);
		}
		if (i == la.n)
			break;
		r = rnd(100);
		if (r < rate) {
			continue; /* deleted */
		} else if (r < rate * 2) {
			struct buf rep = BUF_INIT;

			gen_file(&rep, 1, vocab, serial);
			buf_add(b, rep.s, rep.len);
			buf_release(&rep);
		} else {
			buf_add(b, la.s[i], la.len[i]);
		}
	}
	free(la.s);
	free(la.len);
}

static void strip_final_newline(struct buf *f)
{
	if (f->len && f->s[f->len - 1] == '\n')
		f->s[--f->len] = '\0';
}

static void test_random_unique(void)
{
	unsigned serial = 0;

	rng_state = 12345;
	for (int round = 0; round < 150; round++) {
		struct buf a = BUF_INIT, b = BUF_INIT;
		char what[64];

		gen_file(&a, rnd(60), 0, &serial);
		gen_edit(&b, a.s, a.len, 0, &serial, 1 + rnd(15));
		if (round % 7 == 3)
			strip_final_newline(&a);
		if (round % 5 == 2)
			strip_final_newline(&b);
		snprintf(what, sizeof(what), "random unique round %d", round);
		same_as_gnu(what, a.s, a.len, b.s, b.len);
		valid_and_minimal(a.s, a.len, b.s, b.len, true);
		buf_release(&a);
		buf_release(&b);
	}
}

static void test_random_repeated(void)
{
	unsigned serial = 0;
	int agree = 0, rounds = 300;

	rng_state = 777;
	for (int round = 0; round < rounds; round++) {
		struct buf a = BUF_INIT, b = BUF_INIT;
		unsigned vocab = 2 + rnd(5);
		char *want, *got;

		gen_file(&a, rnd(40), vocab, &serial);
		gen_edit(&b, a.s, a.len, vocab, &serial, 1 + rnd(25));
		if (round % 9 == 4)
			strip_final_newline(&b);
		valid_and_minimal(a.s, a.len, b.s, b.len, true);
		want = gnu_diff(a.s, a.len, b.s, b.len);
		got = our_diff(a.s, a.len, b.s, b.len);
		agree += strcmp(want, got) == 0;
		free(want);
		free(got);
		buf_release(&a);
		buf_release(&b);
	}
	/* with many equal lines several minimal diffs exist; GNU diff has its own heuristics there,
	 * so most, not all, match */
	printf("repeated lines: %d of %d identical to diff -u\n", agree, rounds);
	CHECK(agree * 10 >= rounds * 9);
}

static void test_large(void)
{
	unsigned serial = 0;
	struct buf a = BUF_INIT, b = BUF_INIT, c = BUF_INIT, out = BUF_INIT;

	rng_state = 99;
	gen_file(&a, 5000, 0, &serial);
	gen_edit(&b, a.s, a.len, 0, &serial, 3);
	same_as_gnu("5000 lines, scattered edits", a.s, a.len, b.s, b.len);
	valid_and_minimal(a.s, a.len, b.s, b.len, false);

	/* two unrelated files of 5000 lines, and a shuffled one */
	gen_file(&c, 5000, 0, &serial);
	diff_unified(&out, "a", a.s, a.len, "b", c.s, c.len);
	CHECK_HAS(out.s, "@@ -1,5000 +1,5000 @@\n");
	buf_reset(&c);
	{
		struct lines la;

		to_lines(&la, a.s, a.len);
		for (size_t i = la.n; i > 1; i--) {
			size_t k = rnd((unsigned)i);
			const char *ts = la.s[i - 1];
			size_t tl = la.len[i - 1];

			la.s[i - 1] = la.s[k];
			la.len[i - 1] = la.len[k];
			la.s[k] = ts;
			la.len[k] = tl;
		}
		for (size_t i = 0; i < la.n; i++)
			buf_add(&c, la.s[i], la.len[i]);
		free(la.s);
		free(la.len);
	}
	buf_reset(&out);
	diff_unified(&out, "a", a.s, a.len, "b", c.s, c.len);
	valid_and_minimal(a.s, a.len, c.s, c.len, false);
	buf_release(&a);
	buf_release(&b);
	buf_release(&c);
	buf_release(&out);
}

int main(void)
{
	char cmd[128];
	int rc;

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	RUN(test_fixed);
	RUN(test_equal_and_binary);
	RUN(test_random_unique);
	RUN(test_random_repeated);
	RUN(test_large);
	printf("exact comparisons: %d, differing: %d\n", exact_cases, exact_fail);
	rc = check_done("test-diff");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
