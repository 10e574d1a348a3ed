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

/* The shell scanner's state; it reads the output once, front to back. */
struct tplfmt_sh {
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

void tplfmt_sh_init(struct tplfmt_sh *sc, size_t start);
void tplfmt_sh_release(struct tplfmt_sh *sc);

/*
 * Append val to res as format mode writes it at the end of out (whose
 * first start bytes belong to someone else).  escaped: the template
 * already escaped the value with a filter (sh, escape, double, host), so
 * only the checks that no escaping can replace apply.  On refusal returns
 * -1 and *why is a phrase such as "holds a line break or control
 * character, which a sshd file cannot carry".
 */
int tplfmt_value(enum tpl_mode mode, struct tplfmt_sh *sc, const struct buf *out, size_t start,
                 const char *val, bool escaped, struct buf *res, const char **why);

#endif
