/*
 * buf.c - the growable byte buffer (see buf.h for the invariants).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/buf.h"
#include "provision/common.h"

char buf_empty[1];

void buf_init(struct buf *b, size_t limit)
{
	b->s = buf_empty;
	b->len = 0;
	b->alloc = 0;
	b->limit = limit ? limit : BUF_DEFAULT_LIMIT;
}

/* Make room for n more bytes plus the NUL; -1 when that passes the limit. */
static int buf_grow(struct buf *b, size_t n)
{
	size_t need, na;

	if (b->limit == 0)
		b->limit = BUF_DEFAULT_LIMIT;
	if (n > b->limit || b->len > b->limit - n)
		return -1;
	need = b->len + n + 1;
	if (need <= b->alloc)
		return 0;
	na = b->alloc ? b->alloc : 64;
	while (na < need)
		na *= 2;
	if (na > b->limit + 1)
		na = b->limit + 1;
	if (b->alloc == 0) {
		b->s = xmalloc(na);
		b->s[0] = '\0';
	} else {
		b->s = xrealloc(b->s, na);
	}
	b->alloc = na;
	return 0;
}

int buf_add(struct buf *b, const void *data, size_t n)
{
	if (n == 0)
		return 0;
	if (buf_grow(b, n) < 0)
		return -1;
	memmove(b->s + b->len, data, n);
	b->len += n;
	b->s[b->len] = '\0';
	return 0;
}

int buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int buf_addc(struct buf *b, char c)
{
	return buf_add(b, &c, 1);
}

int buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return -1;
	if (buf_grow(b, (size_t)n) < 0)
		return -1;
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vaddf(b, fmt, ap);
	va_end(ap);
	return r;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->alloc)
		b->s[0] = '\0';
}

void buf_release(struct buf *b)
{
	size_t limit = b->limit;

	if (b->alloc)
		free(b->s);
	buf_init(b, limit);
}

void buf_wipe(struct buf *b)
{
	if (b->alloc)
		pv_wipe(b->s, b->alloc);
	buf_release(b);
}

char *buf_detach(struct buf *b, size_t *len)
{
	char *s;

	if (len)
		*len = b->len;
	if (b->alloc == 0)
		s = xstrdup("");
	else
		s = b->s;
	b->s = buf_empty;
	b->len = 0;
	b->alloc = 0;
	return s;
}
