/*
 * shquote.h - the one way a value reaches a remote shell.
 *
 * Every string that comes from the inventory, a role or a template and is
 * placed into a shell script goes through sh_quote: the result is a single
 * POSIX shell word that expands to exactly the input bytes, whatever they
 * are (quotes, $, `, newlines, leading dashes are the caller's concern: put
 * "--" before operands).  NUL bytes cannot be represented and are refused.
 */
#ifndef PROVISION_SHQUOTE_H
#define PROVISION_SHQUOTE_H

#include "provision/buf.h"

/* Append the quoted form of s to b. */
void sh_quote_buf(struct buf *b, const char *s);
/* Allocate the quoted form of s. */
char *sh_quote(const char *s);

/* A shell-safe identifier ([A-Za-z0-9_]) derived from s, for variable names. */
void sh_ident(struct buf *b, const char *s);

/* Base64 (no line breaks) of data, appended to b. */
void b64_encode_buf(struct buf *b, const void *data, size_t len);
/* Decode base64 (whitespace ignored); -1 on invalid input. */
int b64_decode(struct buf *out, const char *in, size_t len);

#endif
