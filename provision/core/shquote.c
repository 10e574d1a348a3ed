/*
 * shquote.c - shell quoting, shell identifiers and base64.
 */
#include <string.h>

#include "provision/common.h"
#include "provision/shquote.h"

/* Characters that never need quoting in a POSIX shell word. */
static int sh_safe_char(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("_@%+:,./-", c) != NULL;
}

/*
 * A word may stay bare when every byte is safe.  A leading '-' is quoted
 * anyway (it reads better next to options), and '=' is never left bare so
 * a value can never turn into an assignment when it is the first word.
 */
static int sh_needs_quotes(const char *s)
{
	if (*s == '\0' || *s == '-')
		return 1;
	for (; *s; s++) {
		if (!sh_safe_char((unsigned char)*s))
			return 1;
	}
	return 0;
}

void sh_quote_buf(struct buf *b, const char *s)
{
	if (!sh_needs_quotes(s)) {
		buf_adds(b, s);
		return;
	}
	buf_addc(b, '\'');
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			buf_adds(b, "'\\''");
		else
			buf_addc(b, *p);
	}
	buf_addc(b, '\'');
}

char *sh_quote(const char *s)
{
	struct buf b;

	buf_init(&b, 0);
	sh_quote_buf(&b, s);
	return buf_detach(&b, NULL);
}

void sh_ident(struct buf *b, const char *s)
{
	if (*s == '\0' || (*s >= '0' && *s <= '9'))
		buf_addc(b, '_');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		         (c >= '0' && c <= '9') || c == '_';
		buf_addc(b, ok ? (char)c : '_');
	}
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void b64_encode_buf(struct buf *b, const void *data, size_t len)
{
	const unsigned char *p = data;
	char quad[4];
	size_t i;

	for (i = 0; i + 3 <= len; i += 3) {
		unsigned long v =
		    (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 | p[i + 2];
		quad[0] = b64_alphabet[(v >> 18) & 63];
		quad[1] = b64_alphabet[(v >> 12) & 63];
		quad[2] = b64_alphabet[(v >> 6) & 63];
		quad[3] = b64_alphabet[v & 63];
		buf_add(b, quad, 4);
	}
	if (len - i == 1) {
		unsigned long v = (unsigned long)p[i] << 16;
		quad[0] = b64_alphabet[(v >> 18) & 63];
		quad[1] = b64_alphabet[(v >> 12) & 63];
		quad[2] = '=';
		quad[3] = '=';
		buf_add(b, quad, 4);
	} else if (len - i == 2) {
		unsigned long v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8;
		quad[0] = b64_alphabet[(v >> 18) & 63];
		quad[1] = b64_alphabet[(v >> 12) & 63];
		quad[2] = b64_alphabet[(v >> 6) & 63];
		quad[3] = '=';
		buf_add(b, quad, 4);
	}
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static int b64_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Drop what a failed decode appended, keeping the buffer's invariants. */
static void b64_rollback(struct buf *out, size_t old_len)
{
	if (out->len > old_len) {
		out->len = old_len;
		out->s[old_len] = '\0';
	}
}

int b64_decode(struct buf *out, const char *in, size_t len)
{
	size_t old_len = out->len;
	int quad[4];
	int nq = 0, pad = 0;
	unsigned char bytes[3];

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		int v;

		if (b64_space(c))
			continue;
		if (c == '=') {
			/* Padding only in the last two places of a group. */
			if (nq < 2)
				goto fail;
			pad++;
			quad[nq++] = 0;
		} else {
			if (pad)
				goto fail; /* data after padding */
			v = b64_value(c);
			if (v < 0)
				goto fail;
			quad[nq++] = v;
		}
		if (nq == 4) {
			unsigned long w = (unsigned long)quad[0] << 18 |
			                  (unsigned long)quad[1] << 12 |
			                  (unsigned long)quad[2] << 6 | (unsigned long)quad[3];
			bytes[0] = (unsigned char)(w >> 16);
			bytes[1] = (unsigned char)(w >> 8);
			bytes[2] = (unsigned char)w;
			if (buf_add(out, bytes, 3 - (size_t)pad) < 0)
				goto fail;
			nq = 0;
			if (pad) {
				/* Nothing but whitespace may follow a padded group. */
				for (i++; i < len; i++) {
					if (!b64_space((unsigned char)in[i]))
						goto fail;
				}
				break;
			}
		}
	}
	if (nq != 0)
		goto fail;
	return 0;
fail:
	b64_rollback(out, old_len);
	return -1;
}
