/*
 * diff.c - unified diffs in the format of "diff -u".
 *
 * Lines are numbered by equivalence class (a hash table over both sides),
 * lines without a partner on the other side are set aside as changed, and
 * the rest is compared with Myers' O(ND) algorithm in its linear-space
 * form (find the middle snake, recurse on both halves).  Runs of changed
 * lines are then slid to a canonical place (as far down as they go, or
 * next to a change on the other side) before hunks with 3 lines of context
 * are written.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "provision/common.h"
#include "provision/diff.h"

#define DIFF_MAX_INPUT ((size_t)1 << 20)
#define DIFF_CONTEXT 3

struct dline {
	const char *s;
	size_t len; /* including the '\n', if there is one */
	size_t hash;
};

struct side {
	struct dline *lines;
	size_t n;
	int *id; /* equivalence class of each line */
	char *changed;
};

struct differ {
	/* the lines still to be compared, as class ids, and their line numbers */
	int *a, *b;
	size_t *amap, *bmap;
	size_t na, nb;
	char *ca, *cb; /* changed flags of the original lines */
	/* furthest reaching x per diagonal, forward and backward */
	long *fv, *bv;
	long voff;
};

static void split_lines(struct side *sd, const char *s, size_t len)
{
	size_t alloc = 0;
	size_t i = 0;

	sd->lines = NULL;
	sd->n = 0;
	while (i < len) {
		const char *nl = memchr(s + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - s) + 1 : len;
		struct dline *l;
		size_t h = 5381;

		PV_GROW(sd->lines, sd->n + 1, alloc);
		l = &sd->lines[sd->n++];
		l->s = s + i;
		l->len = end - i;
		for (size_t k = i; k < end; k++)
			h = h * 33 + (unsigned char)s[k];
		l->hash = h;
		i = end;
	}
}

/* Give equal lines of both sides the same id; returns the number of ids. */
static int classify(struct side *sa, struct side *sb)
{
	size_t total = sa->n + sb->n;
	size_t cap = 16;
	const struct dline **slot;
	int *slot_id;
	int next = 0;

	while (cap < total * 2)
		cap *= 2;
	slot = xcalloc(cap, sizeof(*slot));
	slot_id = xcalloc(cap, sizeof(*slot_id));
	for (int side = 0; side < 2; side++) {
		struct side *sd = side ? sb : sa;

		sd->id = xcalloc(sd->n ? sd->n : 1, sizeof(*sd->id));
		for (size_t i = 0; i < sd->n; i++) {
			const struct dline *l = &sd->lines[i];
			size_t h = l->hash & (cap - 1);

			while (slot[h] && !(slot[h]->hash == l->hash && slot[h]->len == l->len &&
			                    memcmp(slot[h]->s, l->s, l->len) == 0))
				h = (h + 1) & (cap - 1);
			if (!slot[h]) {
				slot[h] = l;
				slot_id[h] = next++;
			}
			sd->id[i] = slot_id[h];
		}
	}
	free(slot);
	free(slot_id);
	return next;
}

static void mark_all(struct differ *d, size_t xoff, size_t xlim, size_t yoff, size_t ylim)
{
	for (size_t x = xoff; x < xlim; x++)
		d->ca[d->amap[x]] = 1;
	for (size_t y = yoff; y < ylim; y++)
		d->cb[d->bmap[y]] = 1;
}

/*
 * Find the middle snake of a[xoff..xlim) -> b[yoff..ylim): the diagonal run
 * in the middle of some shortest edit script.  Both searches keep, per
 * diagonal k = x - y, the furthest point they reach inside the box; a
 * diagonal nobody reaches holds -1 (forward) or N + 1 (backward).
 */
static void middle_snake(struct differ *d, size_t xoff, size_t xlim, size_t yoff, size_t ylim,
                         long *sx, long *sy, long *ex, long *ey)
{
	const int *A = d->a + xoff, *B = d->b + yoff;
	long N = (long)(xlim - xoff), M = (long)(ylim - yoff);
	long delta = N - M;
	int odd = (int)(delta & 1);
	long *fv = d->fv + d->voff, *bv = d->bv + d->voff;

	for (long k = -M - 1; k <= N + 1; k++) {
		fv[k] = -1;
		bv[k] = N + 1;
	}
	for (long D = 0;; D++) {
		for (long k = D; k >= -D; k -= 2) {
			long x = -1, x0, y0, y;

			if (k < -M || k > N)
				continue;
			if (D == 0) {
				x = 0;
			} else {
				/* down from k + 1, or right from k - 1 */
				if (k + 1 <= N && fv[k + 1] >= 0 && fv[k + 1] - k <= M)
					x = fv[k + 1];
				if (k - 1 >= -M && fv[k - 1] >= 0 && fv[k - 1] + 1 <= N &&
				    fv[k - 1] + 1 > x)
					x = fv[k - 1] + 1;
				if (x < 0) {
					fv[k] = -1;
					continue;
				}
			}
			x0 = x;
			y0 = y = x - k;
			while (x < N && y < M && A[x] == B[y]) {
				x++;
				y++;
			}
			fv[k] = x;
			if (odd && k >= delta - (D - 1) && k <= delta + (D - 1) && bv[k] <= N &&
			    fv[k] >= bv[k]) {
				*sx = x0;
				*sy = y0;
				*ex = x;
				*ey = y;
				return;
			}
		}
		for (long j = D; j >= -D; j -= 2) {
			long k = delta + j;
			long x = N + 1, x1, y1, y;

			if (k < -M || k > N)
				continue;
			if (D == 0) {
				x = N;
			} else {
				/* left from k + 1, or up from k - 1 */
				if (k + 1 <= N && bv[k + 1] <= N && bv[k + 1] - 1 >= 0 &&
				    bv[k + 1] - 1 - k >= 0)
					x = bv[k + 1] - 1;
				if (k - 1 >= -M && bv[k - 1] <= N && bv[k - 1] - k >= 0 &&
				    bv[k - 1] < x)
					x = bv[k - 1];
				if (x > N) {
					bv[k] = N + 1;
					continue;
				}
			}
			x1 = x;
			y1 = y = x - k;
			while (x > 0 && y > 0 && A[x - 1] == B[y - 1]) {
				x--;
				y--;
			}
			bv[k] = x;
			if (!odd && k >= -D && k <= D && fv[k] >= 0 && bv[k] <= fv[k]) {
				*sx = x;
				*sy = y;
				*ex = x1;
				*ey = y1;
				return;
			}
		}
	}
}

static void compare(struct differ *d, size_t xoff, size_t xlim, size_t yoff, size_t ylim)
{
	long sx, sy, ex, ey;

	while (xoff < xlim && yoff < ylim && d->a[xoff] == d->b[yoff]) {
		xoff++;
		yoff++;
	}
	while (xlim > xoff && ylim > yoff && d->a[xlim - 1] == d->b[ylim - 1]) {
		xlim--;
		ylim--;
	}
	if (xoff == xlim || yoff == ylim) {
		mark_all(d, xoff, xlim, yoff, ylim);
		return;
	}
	middle_snake(d, xoff, xlim, yoff, ylim, &sx, &sy, &ex, &ey);
	if ((sx == 0 && sy == 0 && ex == (long)(xlim - xoff) && ey == (long)(ylim - yoff)) ||
	    sx < 0 || sy < 0 || ex > (long)(xlim - xoff) || ey > (long)(ylim - yoff)) {
		/* cannot happen for a correct snake; never loop forever */
		mark_all(d, xoff, xlim, yoff, ylim);
		return;
	}
	compare(d, xoff, xoff + (size_t)sx, yoff, yoff + (size_t)sy);
	compare(d, xoff + (size_t)ex, xlim, yoff + (size_t)ey, ylim);
}

/* Next unchanged line of the other side at or after j. */
static size_t next_kept(const char *oc, size_t on, size_t j)
{
	while (j < on && oc[j])
		j++;
	return j;
}

/*
 * Slide each run of changed lines of one side to a canonical place: up as
 * far as it goes (merging with runs it meets), then down as far as it
 * goes, and finally back up to the lowest place where it sits next to a
 * change on the other side, if there was one.  j follows the line of the
 * other side that pairs with the unchanged line just after the run.
 */
static void slide(const int *id, char *c, size_t n, const char *oc, size_t on)
{
	size_t i = 0, j = 0;

	for (;;) {
		size_t start, runlen, corresponding;

		/* skip to the next run, keeping j paired with i */
		j = next_kept(oc, on, j);
		while (i < n && !c[i]) {
			i++;
			j = next_kept(oc, on, j + 1);
		}
		if (i == n)
			break;
		start = i;
		while (i < n && c[i])
			i++;
		do {
			runlen = i - start;
			while (start > 0 && id[start - 1] == id[i - 1]) {
				c[--start] = 1;
				c[--i] = 0;
				while (start > 0 && c[start - 1])
					start--;
				/* the line pairing with i is the kept one before j */
				j--;
				while (oc[j])
					j--;
			}
			corresponding = j > 0 && oc[j - 1] ? i : n + 1;
			while (i < n && id[start] == id[i]) {
				c[start++] = 0;
				c[i++] = 1;
				while (i < n && c[i])
					i++;
				j = next_kept(oc, on, j + 1);
				if (j > 0 && oc[j - 1])
					corresponding = i;
			}
		} while (runlen != i - start);
		if (corresponding <= n) {
			while (corresponding < i) {
				c[--start] = 1;
				c[--i] = 0;
				j--;
				while (oc[j])
					j--;
			}
		}
	}
}

static void add_line(struct buf *out, char mark, const struct dline *l)
{
	buf_addc(out, mark);
	buf_add(out, l->s, l->len);
	if (l->len == 0 || l->s[l->len - 1] != '\n')
		buf_adds(out, "\n\\ No newline at end of file\n");
}

static void add_range(struct buf *out, size_t start, size_t count)
{
	if (count == 0)
		buf_addf(out, "%zu,0", start);
	else if (count == 1)
		buf_addf(out, "%zu", start + 1);
	else
		buf_addf(out, "%zu,%zu", start + 1, count);
}

struct group {
	size_t a0, a1, b0, b1;
};

static void write_hunks(struct buf *out, const struct side *sa, const struct side *sb)
{
	struct group *g = NULL;
	size_t ng = 0, alloc = 0;
	size_t i = 0, j = 0;

	while (i < sa->n || j < sb->n) {
		if ((i < sa->n && sa->changed[i]) || (j < sb->n && sb->changed[j])) {
			struct group *cur;

			PV_GROW(g, ng + 1, alloc);
			cur = &g[ng++];
			cur->a0 = i;
			cur->b0 = j;
			while (i < sa->n && sa->changed[i])
				i++;
			while (j < sb->n && sb->changed[j])
				j++;
			cur->a1 = i;
			cur->b1 = j;
		} else {
			i++;
			j++;
		}
	}
	for (size_t h = 0; h < ng;) {
		size_t last = h;
		size_t before = g[h].a0 < DIFF_CONTEXT ? g[h].a0 : DIFF_CONTEXT;
		size_t a0 = g[h].a0 - before, b0 = g[h].b0 - before, a1, b1, after;

		/* groups closer than twice the context share a hunk */
		while (last + 1 < ng && g[last + 1].a0 - g[last].a1 <= 2 * DIFF_CONTEXT)
			last++;
		after = sa->n - g[last].a1;
		if (after > DIFF_CONTEXT)
			after = DIFF_CONTEXT;
		a1 = g[last].a1 + after;
		b1 = g[last].b1 + after;
		buf_adds(out, "@@ -");
		add_range(out, a0, a1 - a0);
		buf_adds(out, " +");
		add_range(out, b0, b1 - b0);
		buf_adds(out, " @@\n");
		i = a0;
		j = b0;
		while (i < a1 || j < b1) {
			if (i < a1 && j < b1 && !sa->changed[i] && !sb->changed[j]) {
				add_line(out, ' ', &sa->lines[i]);
				i++;
				j++;
				continue;
			}
			while (i < a1 && sa->changed[i])
				add_line(out, '-', &sa->lines[i++]);
			while (j < b1 && sb->changed[j])
				add_line(out, '+', &sb->lines[j++]);
		}
		h = last + 1;
	}
	free(g);
}

void diff_unified(struct buf *out, const char *a_name, const char *a, size_t a_len,
                  const char *b_name, const char *b, size_t b_len)
{
	struct side sa = {0}, sb = {0};
	struct differ d = {0};
	size_t *count_a = NULL, *count_b = NULL;
	int nid;

	if (a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0))
		return;
	if (a_len > DIFF_MAX_INPUT || b_len > DIFF_MAX_INPUT || (a_len && memchr(a, '\0', a_len)) ||
	    (b_len && memchr(b, '\0', b_len))) {
		buf_addf(out, "Binary or large files %s and %s differ\n", a_name, b_name);
		return;
	}
	split_lines(&sa, a, a_len);
	split_lines(&sb, b, b_len);
	nid = classify(&sa, &sb);
	sa.changed = xcalloc(sa.n + 1, 1);
	sb.changed = xcalloc(sb.n + 1, 1);

	/* lines with no partner on the other side are changed, whatever else */
	count_a = xcalloc((size_t)nid + 1, sizeof(*count_a));
	count_b = xcalloc((size_t)nid + 1, sizeof(*count_b));
	for (size_t i = 0; i < sa.n; i++)
		count_a[sa.id[i]]++;
	for (size_t i = 0; i < sb.n; i++)
		count_b[sb.id[i]]++;
	d.a = xcalloc(sa.n + 1, sizeof(*d.a));
	d.b = xcalloc(sb.n + 1, sizeof(*d.b));
	d.amap = xcalloc(sa.n + 1, sizeof(*d.amap));
	d.bmap = xcalloc(sb.n + 1, sizeof(*d.bmap));
	for (size_t i = 0; i < sa.n; i++) {
		if (count_b[sa.id[i]] == 0) {
			sa.changed[i] = 1;
		} else {
			d.a[d.na] = sa.id[i];
			d.amap[d.na++] = i;
		}
	}
	for (size_t i = 0; i < sb.n; i++) {
		if (count_a[sb.id[i]] == 0) {
			sb.changed[i] = 1;
		} else {
			d.b[d.nb] = sb.id[i];
			d.bmap[d.nb++] = i;
		}
	}
	d.ca = sa.changed;
	d.cb = sb.changed;
	d.voff = (long)d.nb + 2;
	d.fv = xcalloc(d.na + d.nb + 5, sizeof(*d.fv));
	d.bv = xcalloc(d.na + d.nb + 5, sizeof(*d.bv));
	compare(&d, 0, d.na, 0, d.nb);

	slide(sa.id, sa.changed, sa.n, sb.changed, sb.n);
	slide(sb.id, sb.changed, sb.n, sa.changed, sa.n);

	buf_addf(out, "--- %s\n+++ %s\n", a_name, b_name);
	write_hunks(out, &sa, &sb);

	free(count_a);
	free(count_b);
	free(d.a);
	free(d.b);
	free(d.amap);
	free(d.bmap);
	free(d.fv);
	free(d.bv);
	free(sa.lines);
	free(sb.lines);
	free(sa.id);
	free(sb.id);
	free(sa.changed);
	free(sb.changed);
}
