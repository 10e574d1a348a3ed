/*
 * buf.h - a growable byte buffer.
 *
 * Invariants: after buf_init() b->s is never NULL and b->s[b->len] == '\0'.
 * Every buffer has a size limit (a hostile peer cannot grow it without
 * bound); an add that would pass the limit fails with -1 and leaves the
 * buffer unchanged.
 *
 * Lifecycle: buf_init (no allocation), buf_release (frees the contents,
 * leaves an empty buffer), buf_detach (hands the contents to the caller).
 */
#ifndef PROVISION_BUF_H
#define PROVISION_BUF_H

#include <stdarg.h>
#include <stddef.h>

#define BUF_DEFAULT_LIMIT ((size_t)64 << 20) /* 64 MiB */

struct buf {
	char *s;
	size_t len;
	size_t alloc; /* 0 while s points at the shared empty string */
	size_t limit;
};

extern char buf_empty[];
#define BUF_INIT                                                                                   \
	{                                                                                          \
		buf_empty, 0, 0, BUF_DEFAULT_LIMIT                                                 \
	}

/* limit 0 means BUF_DEFAULT_LIMIT. */
void buf_init(struct buf *b, size_t limit);
int buf_add(struct buf *b, const void *data, size_t n);
int buf_adds(struct buf *b, const char *s);
int buf_addc(struct buf *b, char c);
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vaddf(struct buf *b, const char *fmt, va_list ap);
void buf_reset(struct buf *b); /* len = 0, keeps memory */
void buf_release(struct buf *b); /* frees memory, buffer is empty again */
void buf_wipe(struct buf *b); /* zero the memory, then release */
char *buf_detach(struct buf *b, size_t *len);

#endif
