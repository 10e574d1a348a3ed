/*
 * tplformat.h - how a value is written into each file format (private to
 * the template engine).
 *
 * The engine hands every substituted value to tplfmt_value together with
 * what has been rendered so far; the format's rules look at the context
 * the value lands in (bare word, inside "..." or '...', a comment, a shell
 * here-document) and either append the value, escaped for that context,
 * or refuse it with a short reason.
 */
#ifndef PROVISION_TPLFORMAT_H
#define PROVISION_TPLFORMAT_H

#include <stdbool.h>
#include <stddef.h>

#include "provision/buf.h"
#include "provision/template.h"

#define TPLFMT_SH_DEPTH 32

/* Where the output stands; the output is read once, front to back. */
struct tplfmt_scan {
	/* the line-oriented formats: the current line */
	size_t line_off; /* where it starts */
	size_t line_pos; /* read up to here */
	int lctx; /* enum line_ctx */
	bool lword_start, lline_start;
	/* shell */
	size_t pos; /* bytes of the output read so far */
	unsigned char stack[TPLFMT_SH_DEPTH];
	unsigned short parens[TPLFMT_SH_DEPTH]; /* open '(' inside a $( ) frame */
	int depth;
	bool esc, dollar, lt, word_start;
	int heredoc; /* 0 none, 1 reading the delimiter, 2 waiting for the newline, 3 inside */
	bool hd_quoted, hd_strip, hd_dash_ok;
	struct buf hd_delim, hd_line;
	bool too_deep;
};

void tplfmt_scan_init(struct tplfmt_scan *sc, size_t start);
void tplfmt_scan_release(struct tplfmt_scan *sc);

/*
 * Append val to res as format mode writes it at the end of out (sc was
 * initialised with the length out had before the render began).  escaped: the template
 * already escaped the value with a filter (sh, escape, double, host), so
 * only the checks that no escaping can replace apply.  On refusal returns
 * -1 and *why is a phrase such as "holds a line break or control
 * character, which a sshd file cannot carry".
 */
int tplfmt_value(enum tpl_mode mode, struct tplfmt_scan *sc, const struct buf *out, const char *val,
                 bool escaped, struct buf *res, const char **why);

#endif
