/*
 * template.c - the template language of template.h.
 *
 * Rendering runs in four steps: scan the text into tokens (text, {{ }},
 * {% %}, {# #}), apply the whitespace rules to the text tokens, parse the
 * tokens into a tree (so a syntax error anywhere is reported, even in a
 * branch that is not taken), then walk the tree with the variables.
 * Every position is kept as a byte offset into the text and turned into
 * file:line:col only when an error is reported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "provision/common.h"
#include "provision/node.h"
#include "provision/scope.h"
#include "provision/shquote.h"
#include "provision/template.h"
#include "tplformat.h"

enum tok_kind {
	TOK_TEXT,
	TOK_VAR, /* {{ }} */
	TOK_TAG, /* {% %} */
	TOK_COMMENT, /* {# #} */
};

struct tok {
	enum tok_kind kind;
	size_t start, end; /* the whole token; for text the (trimmed) slice */
	size_t in_start, in_end; /* between the delimiters and any '-' */
	bool trim_before, trim_after;
};

enum filter_kind {
	FILTER_SH,
	FILTER_JOIN,
	FILTER_DEFAULT,
	FILTER_SECRET,
	FILTER_HOST,
	FILTER_ESCAPE,
	FILTER_DOUBLE,
	FILTER_SHA256,
	FILTER_ADD,
};

struct filter {
	enum filter_kind kind;
	char *arg;
	size_t off;
};

struct expr {
	char *name;
	size_t off;
	struct filter *filters;
	size_t n_filters;
};

struct operand {
	bool literal;
	char *s; /* the literal's value or the variable's name */
	size_t off;
};

enum cond_op {
	OP_NONE,
	OP_EQ,
	OP_NE,
};

struct cond {
	bool negate;
	enum cond_op op;
	struct operand lhs, rhs;
};

enum tnode_kind {
	TN_TEXT,
	TN_VAR,
	TN_IF,
	TN_FOR,
};

struct tnode;

struct tlist {
	struct tnode *v;
	size_t n, alloc;
};

struct branch {
	bool has_cond; /* false for "else" */
	struct cond cond;
	struct tlist body;
};

struct tnode {
	enum tnode_kind kind;
	size_t start, end; /* TN_TEXT: the slice */
	struct expr expr; /* TN_VAR */
	struct branch *branches; /* TN_IF */
	size_t n_branches, alloc_branches;
	char *var; /* TN_FOR: loop variable */
	struct operand seq; /* TN_FOR: what is iterated */
	struct tlist body; /* TN_FOR */
};

struct tpl {
	const char *text;
	size_t len;
	const char *file;
	int line, col;
	enum tpl_mode mode;
	bool *secret;
	struct pv_error *err;
	struct tok *toks;
	size_t n_toks, alloc_toks;
	size_t idx; /* next token to parse */
	int depth; /* if/for blocks open while parsing */
	struct buf *out;
	struct tplfmt_scan sh; /* TPL_SHELL: where the output stands */
};

/* ---- positions and errors ---- */

static struct pos tpl_pos(const struct tpl *t, size_t off)
{
	struct pos p = {t->file, t->line, t->col};
	size_t line_start = 0;
	bool newline = false;

	if (off > t->len)
		off = t->len;
	for (size_t i = 0; i < off; i++) {
		if (t->text[i] == '\n') {
			p.line++;
			line_start = i + 1;
			newline = true;
		}
	}
	p.col = newline ? (int)(off - line_start) + 1 : t->col + (int)off;
	return p;
}

static int tpl_error(struct tpl *t, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int tpl_error(struct tpl *t, size_t off, const char *fmt, ...)
{
	char msg[PV_ERRMAX];
	struct pos p = tpl_pos(t, off);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return pv_error_set(t->err, "%s:%d:%d: %s", p.file, p.line, p.col, msg);
}

/* ---- scanning ---- */

static void push_tok(struct tpl *t, const struct tok *k)
{
	PV_GROW(t->toks, t->n_toks + 1, t->alloc_toks);
	t->toks[t->n_toks++] = *k;
}

/* Find the closing delimiter of a tag opened at open; quoted strings inside
 * {{ }} and {% %} may contain the delimiter. */
static int scan_close(struct tpl *t, size_t open, size_t from, char c0, size_t *at)
{
	const char *s = t->text;
	size_t j = from;

	while (j + 1 < t->len) {
		if (c0 != '#' && (s[j] == '"' || s[j] == '\'')) {
			char q = s[j];
			size_t k = j + 1;

			while (k < t->len && s[k] != q) {
				if (s[k] == '\\' && k + 1 < t->len)
					k++;
				k++;
			}
			if (k >= t->len)
				return tpl_error(t, j, "unterminated string");
			j = k + 1;
			continue;
		}
		if (s[j] == c0 && s[j + 1] == '}') {
			*at = j;
			return 0;
		}
		j++;
	}
	return tpl_error(t, open, "unterminated '{%c'", s[open + 1]);
}

static int scan(struct tpl *t)
{
	const char *s = t->text;
	size_t i = 0, text_start = 0;

	while (i + 1 < t->len) {
		char c = s[i + 1];
		struct tok k = {0};
		size_t close = 0;
		char c0;

		if (s[i] != '{' || (c != '{' && c != '%' && c != '#')) {
			i++;
			continue;
		}
		if (i > text_start) {
			struct tok txt = {.kind = TOK_TEXT, .start = text_start, .end = i};
			push_tok(t, &txt);
		}
		k.kind = c == '{' ? TOK_VAR : c == '%' ? TOK_TAG : TOK_COMMENT;
		c0 = c == '{' ? '}' : c;
		k.start = i;
		k.in_start = i + 2;
		if (k.in_start < t->len && s[k.in_start] == '-') {
			k.trim_before = true;
			k.in_start++;
		}
		if (scan_close(t, i, k.in_start, c0, &close) < 0)
			return -1;
		k.in_end = close;
		if (k.in_end > k.in_start && s[k.in_end - 1] == '-') {
			k.trim_after = true;
			k.in_end--;
		}
		k.end = close + 2;
		push_tok(t, &k);
		i = text_start = k.end;
	}
	if (text_start < t->len) {
		struct tok txt = {.kind = TOK_TEXT, .start = text_start, .end = t->len};
		push_tok(t, &txt);
	}
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Cut the text token before toks[i] so it ends no later than at. */
static void cut_before(struct tpl *t, size_t i, size_t at)
{
	struct tok *p;

	if (i == 0 || t->toks[i - 1].kind != TOK_TEXT)
		return;
	p = &t->toks[i - 1];
	if (at < p->start)
		at = p->start;
	if (at < p->end)
		p->end = at;
}

/* Cut the text token after toks[i] so it starts no earlier than at. */
static void cut_after(struct tpl *t, size_t i, size_t at)
{
	struct tok *n;

	if (i + 1 >= t->n_toks || t->toks[i + 1].kind != TOK_TEXT)
		return;
	n = &t->toks[i + 1];
	if (at > n->end)
		at = n->end;
	if (at > n->start)
		n->start = at;
}

/*
 * The whitespace rules: a line holding only one {% %} or {# #} tag (and
 * blanks) disappears with its newline; "{%-" eats the blanks before the tag
 * up to and including one newline, "-%}" the blanks after it likewise.
 */
static void trim_whitespace(struct tpl *t)
{
	const char *s = t->text;

	for (size_t i = 0; i < t->n_toks; i++) {
		struct tok *k = &t->toks[i];
		size_t a, b;

		if (k->kind == TOK_TEXT)
			continue;
		if (k->kind != TOK_VAR) {
			a = k->start;
			while (a > 0 && is_blank(s[a - 1]))
				a--;
			b = k->end;
			while (b < t->len && is_blank(s[b]))
				b++;
			if (b + 1 < t->len && s[b] == '\r' && s[b + 1] == '\n')
				b++;
			if ((a == 0 || s[a - 1] == '\n') && (b == t->len || s[b] == '\n')) {
				cut_before(t, i, a);
				cut_after(t, i, b < t->len ? b + 1 : b);
			}
		}
		if (k->trim_before) {
			a = k->start;
			while (a > 0 && is_blank(s[a - 1]))
				a--;
			if (a > 0 && s[a - 1] == '\n') {
				a--;
				if (a > 0 && s[a - 1] == '\r')
					a--;
			}
			cut_before(t, i, a);
		}
		if (k->trim_after) {
			b = k->end;
			while (b < t->len && (is_blank(s[b]) || s[b] == '\r'))
				b++;
			if (b < t->len && s[b] == '\n')
				b++;
			cut_after(t, i, b);
		}
	}
}

/* ---- lexing inside a tag ---- */

enum lx_kind {
	LX_END,
	LX_NAME,
	LX_STR,
	LX_PIPE,
	LX_EQ,
	LX_NE,
	LX_BAD,
};

struct lexer {
	struct tpl *t;
	size_t p, end;
	enum lx_kind kind;
	size_t tok_off;
	struct buf val; /* the name or the string's value */
};

static bool name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool name_char(char c)
{
	return name_start(c) || (c >= '0' && c <= '9');
}

static void lex_next(struct lexer *lx)
{
	const char *s = lx->t->text;

	buf_reset(&lx->val);
	while (lx->p < lx->end &&
	       (s[lx->p] == ' ' || s[lx->p] == '\t' || s[lx->p] == '\n' || s[lx->p] == '\r'))
		lx->p++;
	lx->tok_off = lx->p;
	if (lx->p >= lx->end) {
		lx->kind = LX_END;
		return;
	}
	if (name_start(s[lx->p])) {
		size_t b = lx->p;

		while (lx->p < lx->end && name_char(s[lx->p]))
			lx->p++;
		/* Dotted names: a.b.c */
		while (lx->p + 1 < lx->end && s[lx->p] == '.' && name_char(s[lx->p + 1])) {
			lx->p++;
			while (lx->p < lx->end && name_char(s[lx->p]))
				lx->p++;
		}
		buf_add(&lx->val, s + b, lx->p - b);
		lx->kind = LX_NAME;
		return;
	}
	if (s[lx->p] == '"' || s[lx->p] == '\'') {
		char q = s[lx->p++];

		while (lx->p < lx->end && s[lx->p] != q) {
			char c = s[lx->p++];

			if (c == '\\' && lx->p < lx->end) {
				c = s[lx->p++];
				if (c == 'n')
					c = '\n';
				else if (c == 't')
					c = '\t';
			}
			buf_addc(&lx->val, c);
		}
		if (lx->p >= lx->end) {
			lx->kind = LX_BAD;
			return;
		}
		lx->p++;
		lx->kind = LX_STR;
		return;
	}
	if (s[lx->p] == '|') {
		lx->p++;
		lx->kind = LX_PIPE;
		return;
	}
	if (lx->p + 1 < lx->end && s[lx->p + 1] == '=' && (s[lx->p] == '=' || s[lx->p] == '!')) {
		lx->kind = s[lx->p] == '=' ? LX_EQ : LX_NE;
		lx->p += 2;
		return;
	}
	lx->kind = LX_BAD;
}

/* Start lexing the inside of tag k; lx->val must have been initialised. */
static void lex_start(struct lexer *lx, struct tpl *t, const struct tok *k)
{
	lx->t = t;
	lx->p = k->in_start;
	lx->end = k->in_end;
	lex_next(lx);
}

static bool lex_is(const struct lexer *lx, const char *word)
{
	return lx->kind == LX_NAME && strcmp(lx->val.s, word) == 0;
}

/* A short description of the current token for "unexpected" messages. */
static int lex_unexpected(struct lexer *lx, const char *wanted)
{
	const char *s = lx->t->text + lx->tok_off;
	int n = 0;

	if (lx->kind == LX_END)
		return tpl_error(lx->t, lx->tok_off, "expected %s", wanted);
	while (lx->tok_off + (size_t)n < lx->end && n < 20 && s[n] != ' ' && s[n] != '\n')
		n++;
	if (n == 0)
		n = 1;
	return tpl_error(lx->t, lx->tok_off, "expected %s, found '%.*s'", wanted, n, s);
}

/* ---- the tree ---- */

static void operand_release(struct operand *o)
{
	free(o->s);
	o->s = NULL;
}

static void tlist_release(struct tlist *l);

static void tnode_release(struct tnode *n)
{
	free(n->expr.name);
	for (size_t i = 0; i < n->expr.n_filters; i++)
		free(n->expr.filters[i].arg);
	free(n->expr.filters);
	for (size_t i = 0; i < n->n_branches; i++) {
		operand_release(&n->branches[i].cond.lhs);
		operand_release(&n->branches[i].cond.rhs);
		tlist_release(&n->branches[i].body);
	}
	free(n->branches);
	free(n->var);
	operand_release(&n->seq);
	tlist_release(&n->body);
}

static void tlist_release(struct tlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		tnode_release(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->alloc = 0;
}

static struct tnode *tlist_push(struct tlist *l, enum tnode_kind kind)
{
	struct tnode *n;

	PV_GROW(l->v, l->n + 1, l->alloc);
	n = &l->v[l->n++];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	return n;
}

/* ---- parsing ---- */

/* name ( "|" filter [string] )* */
static int parse_expr(struct tpl *t, const struct tok *k, struct expr *e)
{
	struct lexer lx;
	int rc = -1;

	buf_init(&lx.val, 0);
	lex_start(&lx, t, k);
	if (lx.kind != LX_NAME) {
		lex_unexpected(&lx, "a variable name");
		goto out;
	}
	e->name = xstrdup(lx.val.s);
	e->off = lx.tok_off;
	lex_next(&lx);
	while (lx.kind == LX_PIPE) {
		struct filter f = {0};

		lex_next(&lx);
		if (lx.kind != LX_NAME) {
			lex_unexpected(&lx, "a filter name after '|'");
			goto out;
		}
		f.off = lx.tok_off;
		if (strcmp(lx.val.s, "sh") == 0) {
			f.kind = FILTER_SH;
		} else if (strcmp(lx.val.s, "secret") == 0) {
			if (e->n_filters > 0) {
				tpl_error(t, f.off, "'secret' must be the first filter");
				goto out;
			}
			f.kind = FILTER_SECRET;
		} else if (strcmp(lx.val.s, "host") == 0) {
			f.kind = FILTER_HOST;
		} else if (strcmp(lx.val.s, "sha256") == 0) {
			f.kind = FILTER_SHA256;
		} else if (strcmp(lx.val.s, "add") == 0) {
			char *end = NULL;

			f.kind = FILTER_ADD;
			lex_next(&lx);
			if (lx.kind != LX_STR || !lx.val.s[0] ||
			    (strtol(lx.val.s, &end, 10), *end) || strlen(lx.val.s) > 6) {
				tpl_error(t, f.off, "'add' needs a quoted integer argument");
				goto out;
			}
			f.arg = xstrdup(lx.val.s);
		} else if (strcmp(lx.val.s, "join") == 0 || strcmp(lx.val.s, "default") == 0 ||
		           strcmp(lx.val.s, "escape") == 0 || strcmp(lx.val.s, "double") == 0) {
			const char *fname = lx.val.s[0] == 'j'   ? "join"
			                    : lx.val.s[0] == 'e' ? "escape"
			                    : lx.val.s[1] == 'e' ? "default"
			                                         : "double";
			f.kind = fname[0] == 'j'   ? FILTER_JOIN
			         : fname[0] == 'e' ? FILTER_ESCAPE
			         : fname[1] == 'e' ? FILTER_DEFAULT
			                           : FILTER_DOUBLE;
			lex_next(&lx);
			if (lx.kind != LX_STR) {
				tpl_error(t, f.off, "'%s' needs a quoted string argument", fname);
				goto out;
			}
			f.arg = xstrdup(lx.val.s);
		} else {
			tpl_error(t, lx.tok_off, "unknown filter '%s'", lx.val.s);
			goto out;
		}
		e->filters = xrealloc(e->filters, (e->n_filters + 1) * sizeof(*e->filters));
		e->filters[e->n_filters++] = f;
		lex_next(&lx);
	}
	if (lx.kind != LX_END) {
		lex_unexpected(&lx, "'|' or '}}'");
		goto out;
	}
	rc = 0;
out:
	buf_release(&lx.val);
	return rc;
}

static int parse_operand(struct lexer *lx, struct operand *o)
{
	if (lx->kind != LX_NAME && lx->kind != LX_STR)
		return lex_unexpected(lx, "a variable name or a quoted string");
	o->literal = lx->kind == LX_STR;
	o->s = xstrdup(lx->val.s);
	o->off = lx->tok_off;
	lex_next(lx);
	return 0;
}

/* ["not"] operand [("==" | "!=") operand]; lx stands after the keyword. */
static int parse_cond(struct lexer *lx, struct cond *c)
{
	if (lex_is(lx, "not")) {
		c->negate = true;
		lex_next(lx);
	}
	if (parse_operand(lx, &c->lhs) < 0)
		return -1;
	if (lx->kind == LX_EQ || lx->kind == LX_NE) {
		c->op = lx->kind == LX_EQ ? OP_EQ : OP_NE;
		lex_next(lx);
		if (parse_operand(lx, &c->rhs) < 0)
			return -1;
	}
	if (lx->kind != LX_END)
		return lex_unexpected(lx, "'==', '!=' or '%}'");
	return 0;
}

static int parse_block(struct tpl *t, struct tlist *out, const char *opener, size_t opener_off,
                       const char **ender);

/* One more if/for block opens at tag_off; too many nested is an error, not a stack overflow. */
static int enter_block(struct tpl *t, size_t tag_off, const char *what)
{
	if (++t->depth > TPL_MAX_DEPTH)
		return tpl_error(t, tag_off, "'%s' nested deeper than %d levels", what,
		                 TPL_MAX_DEPTH);
	return 0;
}

/* if / elif / else / endif; lx stands after the "if" keyword. */
static int parse_if(struct tpl *t, struct tlist *out, struct lexer *lx, size_t tag_off)
{
	struct tnode *n = tlist_push(out, TN_IF); /* out does not grow while we work */
	struct lexer own;
	struct lexer *cl = lx;
	bool has_cond = true;
	int rc = -1;

	buf_init(&own.val, 0);
	n->start = tag_off;
	for (;;) {
		struct branch *b;
		const struct tok *k;
		const char *ender = NULL;

		PV_GROW(n->branches, n->n_branches + 1, n->alloc_branches);
		b = &n->branches[n->n_branches++];
		memset(b, 0, sizeof(*b));
		b->has_cond = has_cond;
		if (has_cond && parse_cond(cl, &b->cond) < 0)
			goto out;
		if (parse_block(t, &b->body, "if", tag_off, &ender) < 0)
			goto out;
		if (strcmp(ender, "endif") == 0)
			break;
		k = &t->toks[t->idx - 1];
		if (!has_cond) {
			struct pos p = tpl_pos(t, tag_off);

			tpl_error(t, k->start, "'%s' after 'else' of 'if' at %d:%d", ender, p.line,
			          p.col);
			goto out;
		}
		lex_start(&own, t, k);
		lex_next(&own); /* past the keyword */
		cl = &own;
		has_cond = strcmp(ender, "elif") == 0;
		if (!has_cond && own.kind != LX_END) {
			lex_unexpected(&own, "'%}' after 'else'");
			goto out;
		}
	}
	rc = 0;
out:
	buf_release(&own.val);
	return rc;
}

/* for x in name ... endfor; lx stands on the "for" keyword. */
static int parse_for(struct tpl *t, struct tlist *out, struct lexer *lx, size_t tag_off)
{
	struct tnode *n = tlist_push(out, TN_FOR);
	const char *ender = NULL;

	n->start = tag_off;
	lex_next(lx);
	if (lx->kind != LX_NAME || strchr(lx->val.s, '.') || lex_is(lx, "in"))
		return lex_unexpected(lx, "a loop variable name after 'for'");
	n->var = xstrdup(lx->val.s);
	lex_next(lx);
	if (!lex_is(lx, "in"))
		return lex_unexpected(lx, "'in'");
	lex_next(lx);
	if (lx->kind != LX_NAME)
		return lex_unexpected(lx, "a variable name after 'in'");
	n->seq.s = xstrdup(lx->val.s);
	n->seq.off = lx->tok_off;
	lex_next(lx);
	if (lx->kind != LX_END)
		return lex_unexpected(lx, "'%}'");
	return parse_block(t, &n->body, "for", tag_off, &ender);
}

/*
 * Parse tokens into out until the end of the text or, inside an "if" or a
 * "for" (opener), until a tag that continues or closes it; *ender names it.
 */
static int parse_block(struct tpl *t, struct tlist *out, const char *opener, size_t opener_off,
                       const char **ender)
{
	static const char *const words[] = {"elif", "else", "endif", "endfor"};
	struct lexer lx;
	int rc = -1;

	buf_init(&lx.val, 0);
	while (t->idx < t->n_toks) {
		const struct tok *k = &t->toks[t->idx++];
		const char *word = NULL;
		const char *owner;
		struct tnode *n;

		if (k->kind == TOK_TEXT) {
			if (k->end > k->start) {
				n = tlist_push(out, TN_TEXT);
				n->start = k->start;
				n->end = k->end;
			}
			continue;
		}
		if (k->kind == TOK_COMMENT)
			continue;
		if (k->kind == TOK_VAR) {
			n = tlist_push(out, TN_VAR);
			n->start = k->start;
			if (parse_expr(t, k, &n->expr) < 0)
				goto out;
			continue;
		}
		lex_start(&lx, t, k);
		if (lx.kind != LX_NAME) {
			lex_unexpected(&lx, "a tag name");
			goto out;
		}
		if (lex_is(&lx, "if")) {
			lex_next(&lx);
			if (enter_block(t, k->start, "if") < 0 ||
			    parse_if(t, out, &lx, k->start) < 0)
				goto out;
			t->depth--;
			continue;
		}
		if (lex_is(&lx, "for")) {
			if (enter_block(t, k->start, "for") < 0 ||
			    parse_for(t, out, &lx, k->start) < 0)
				goto out;
			t->depth--;
			continue;
		}
		for (size_t i = 0; i < PV_ARRAY_SIZE(words); i++) {
			if (lex_is(&lx, words[i]))
				word = words[i];
		}
		if (!word) {
			tpl_error(t, lx.tok_off, "unknown tag '%s'", lx.val.s);
			goto out;
		}
		owner = strcmp(word, "endfor") == 0 ? "for" : "if";
		if (opener && strcmp(opener, owner) == 0) {
			*ender = word;
			rc = 0;
			goto out;
		}
		if (!opener) {
			tpl_error(t, k->start, "'%s' without '%s'", word, owner);
		} else {
			struct pos p = tpl_pos(t, opener_off);

			tpl_error(t, k->start, "missing 'end%s' for '%s' at %d:%d", opener, opener,
			          p.line, p.col);
		}
		goto out;
	}
	if (opener) {
		struct pos p = tpl_pos(t, opener_off);

		tpl_error(t, t->len, "missing 'end%s' for '%s' at %d:%d", opener, opener, p.line,
		          p.col);
		goto out;
	}
	rc = 0;
out:
	buf_release(&lx.val);
	return rc;
}

/* ---- rendering ---- */

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
	}
	return true;
}

/* A variable by (dotted) name: a.b is key b of map a, a.0 item 0 of list a. */
static const struct node *lookup(const struct scope *s, const char *name)
{
	const char *dot = strchr(name, '.');
	const struct node *v;
	char *part;

	if (!s)
		return NULL;
	part = dot ? xstrndup(name, (size_t)(dot - name)) : xstrdup(name);
	v = scope_get(s, part);
	free(part);
	while (v && dot) {
		const char *next = strchr(dot + 1, '.');

		part = next ? xstrndup(dot + 1, (size_t)(next - dot - 1)) : xstrdup(dot + 1);
		if (v->kind == NODE_MAP) {
			v = node_get(v, part);
		} else if (v->kind == NODE_SEQ && all_digits(part) && strlen(part) < 10) {
			size_t i = (size_t)atol(part);

			v = i < v->n ? v->items[i] : NULL;
		} else {
			v = NULL;
		}
		free(part);
		dot = next;
	}
	return v;
}

static int emit(struct tpl *t, const char *s, size_t n)
{
	if (buf_add(t->out, s, n) < 0)
		return tpl_error(t, 0, "rendered text exceeds the size limit");
	return 0;
}

static int err_undefined(struct tpl *t, size_t off, const char *name)
{
	return tpl_error(t, off, "undefined variable '%s'", name);
}

static int err_not_string(struct tpl *t, size_t off, const char *name, const struct node *v)
{
	return tpl_error(t, off, "'%s' is %s, not a string", name, node_kind_name(v));
}

/* The variable's scalar text appended to val; undefined and non-scalars are errors. */
static int take_scalar(struct tpl *t, const struct expr *e, const struct node *v, struct buf *val,
                       bool *secret)
{
	if (!v)
		return err_undefined(t, e->off, e->name);
	if (v->kind != NODE_SCALAR)
		return err_not_string(t, e->off, e->name, v);
	buf_adds(val, v->scalar ? v->scalar : "");
	*secret |= v->secret;
	return 0;
}

/*
 * A host name ("shop.example.com", "*.example.com", "localhost"), an IPv4
 * address or a bracketed IPv6 one, with an optional ":PORT": nothing a
 * configuration file could read as syntax.
 */
static bool host_ok(const char *s)
{
	const char *end = s + strlen(s), *colon;
	size_t label = 0;

	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || close == s + 1)
			return false;
		for (const char *c = s + 1; c < close; c++)
			if (!strchr("0123456789abcdefABCDEF:.", *c))
				return false;
		colon = close[1] ? close + 1 : NULL;
		if (colon && *colon != ':')
			return false;
		end = close;
	} else {
		colon = strrchr(s, ':');
		if (colon)
			end = colon;
		if (!strncmp(s, "*.", 2))
			s += 2;
		if (s == end || end - s > 253)
			return false;
		for (const char *c = s; c < end; c++) {
			bool alnum = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			             (*c >= '0' && *c <= '9');
			if (*c == '.') {
				if (!label || c[-1] == '-')
					return false;
				label = 0;
			} else if (alnum || (*c == '-' && label > 0)) {
				if (++label > 63)
					return false;
			} else {
				return false;
			}
		}
		if (!label || end[-1] == '-')
			return false;
	}
	if (colon) {
		long port = 0;
		const char *c = colon + 1;
		if (!*c)
			return false;
		for (; *c; c++) {
			if (*c < '0' || *c > '9' || (port = port * 10 + (*c - '0')) > 65535)
				return false;
		}
		if (port == 0)
			return false;
	}
	return true;
}

/* A value the format refuses: the variable, where it was set, never the value. */
static int err_format(struct tpl *t, const struct expr *e, const struct node *origin,
                      const char *why)
{
	if (origin && origin->pos.file)
		return tpl_error(t, e->off, "'%s' (set at %s:%d:%d) %s", e->name, origin->pos.file,
		                 origin->pos.line, origin->pos.col, why);
	return tpl_error(t, e->off, "'%s' %s", e->name, why);
}

/* A list joined by sep, each item written as the format wants it. */
static int render_items(struct tpl *t, const struct expr *e, const struct node *list,
                        const char *sep)
{
	struct buf q = BUF_INIT;
	const char *why = NULL;
	int rc = 0;

	for (size_t j = 0; j < list->n && rc == 0; j++) {
		const struct node *it = list->items[j];

		if (j > 0 && emit(t, sep, strlen(sep)) < 0)
			return -1;
		buf_reset(&q);
		if (tplfmt_value(t->mode, &t->sh, t->out, it->scalar ? it->scalar : "", false, &q,
		                 &why) < 0)
			rc = err_format(t, e, it, why);
		else
			rc = emit(t, q.s, q.len);
		if (it->secret)
			*t->secret = true;
	}
	buf_wipe(&q);
	return rc;
}

static int render_var(struct tpl *t, const struct tnode *n, const struct scope *s)
{
	const struct expr *e = &n->expr;
	const struct node *v = lookup(s, e->name), *origin;
	struct buf val, q;
	bool have_str = false, quoted = false, secret = false, escaped = false;
	const char *why = NULL;
	int rc = -1;

	buf_init(&val, 0);
	buf_init(&q, 0);
	origin = v;
	for (size_t i = 0; i < e->n_filters; i++) {
		const struct filter *f = &e->filters[i];

		/* these filters leave a value the template's author escaped */
		escaped |= f->kind == FILTER_SH || f->kind == FILTER_HOST ||
		           f->kind == FILTER_ESCAPE || f->kind == FILTER_DOUBLE;

		switch (f->kind) {
		case FILTER_SECRET: {
			/* the value names a secret of the inventory: use that secret */
			const struct node *w;

			if (!v) {
				err_undefined(t, e->off, e->name);
				goto out;
			}
			if (v->kind != NODE_SCALAR) {
				err_not_string(t, e->off, e->name, v);
				goto out;
			}
			w = scope_get(s, v->scalar ? v->scalar : "");
			if (!w || !w->secret || w->kind != NODE_SCALAR) {
				tpl_error(t, f->off, "'%s' names no secret ('%s')", e->name,
				          v->scalar ? v->scalar : "");
				goto out;
			}
			v = origin = w;
			break;
		}
		case FILTER_HOST: {
			const char *hv;

			if (!have_str) {
				if (take_scalar(t, e, v, &val, &secret) < 0)
					goto out;
				have_str = true;
			}
			hv = val.s ? val.s : "";
			if (!host_ok(hv)) {
				if (v && !v->secret && v->pos.file) {
					struct buf shown = BUF_INIT;
					for (const char *c = hv; *c; c++) {
						if ((unsigned char)*c < 0x20)
							buf_addf(&shown, "\\x%02x",
							         (unsigned char)*c);
						else
							buf_addc(&shown, *c);
					}
					tpl_error(
					    t, f->off,
					    "'%s' (%s:%d:%d) is '%s', not a host name or address "
					    "with an optional :PORT",
					    e->name, v->pos.file, v->pos.line, v->pos.col,
					    shown.s ? shown.s : "");
					buf_release(&shown);
				} else {
					tpl_error(t, f->off,
					          "'%s' is not a host name or address with an "
					          "optional :PORT",
					          e->name);
				}
				goto out;
			}
			v = NULL;
			break;
		}
		case FILTER_SHA256: {
			/* a password stored as its hash (a Redis ACL file) */
			unsigned char md[SHA256_DIGEST_LENGTH];

			if (!have_str) {
				if (take_scalar(t, e, v, &val, &secret) < 0)
					goto out;
				have_str = true;
				v = NULL;
			}
			SHA256((const unsigned char *)(val.s ? val.s : ""), val.len, md);
			buf_wipe(&val);
			for (size_t j = 0; j < sizeof(md); j++)
				buf_addf(&val, "%02x", md[j]);
			OPENSSL_cleanse(md, sizeof(md));
			break;
		}
		case FILTER_ESCAPE:
		case FILTER_DOUBLE: {
			/* a backslash before, or a second copy of, each character in arg */
			struct buf was = BUF_INIT;

			if (!have_str) {
				if (take_scalar(t, e, v, &val, &secret) < 0)
					goto out;
				have_str = true;
				v = NULL;
			}
			buf_add(&was, val.s ? val.s : "", val.len);
			buf_reset(&val);
			for (size_t j = 0; j < was.len; j++) {
				if (strchr(f->arg, was.s[j]) && was.s[j])
					buf_addc(&val, f->kind == FILTER_ESCAPE ? '\\' : was.s[j]);
				buf_addc(&val, was.s[j]);
			}
			buf_wipe(&was);
			break;
		}
		case FILTER_ADD: {
			/* integer arithmetic on a value that must be an integer */
			char *end = NULL;
			long long x;

			if (!have_str) {
				if (take_scalar(t, e, v, &val, &secret) < 0)
					goto out;
				have_str = true;
				v = NULL;
			}
			x = strtoll(val.s ? val.s : "", &end, 10);
			if (!val.s || !*val.s || *end || val.len > 12) {
				tpl_error(t, f->off, "'add' needs an integer ('%s' is not one)",
				          e->name);
				goto out;
			}
			buf_reset(&val);
			buf_addf(&val, "%lld", x + strtoll(f->arg, NULL, 10));
			break;
		}
		case FILTER_DEFAULT:
			if (!v && !have_str) {
				buf_adds(&val, f->arg);
				have_str = true;
			}
			break;
		case FILTER_JOIN:
			if (have_str) {
				tpl_error(t, f->off, "join needs a list");
				goto out;
			}
			if (!v) {
				err_undefined(t, e->off, e->name);
				goto out;
			}
			if (v->kind != NODE_SEQ) {
				tpl_error(t, f->off, "join needs a list ('%s' is %s)", e->name,
				          node_kind_name(v));
				goto out;
			}
			for (size_t j = 0; j < v->n; j++) {
				const struct node *it = v->items[j];

				if (it->kind != NODE_SCALAR) {
					tpl_error(t, f->off,
					          "join needs a list of strings ('%s' holds %s)",
					          e->name, node_kind_name(it));
					goto out;
				}
			}
			if (i + 1 == e->n_filters && t->mode != TPL_SHELL) {
				/* each item is a value of its own, the separator is template text
				 */
				rc = render_items(t, e, v, f->arg);
				goto out;
			}
			for (size_t j = 0; j < v->n; j++) {
				const struct node *it = v->items[j];

				if (j > 0)
					buf_adds(&val, f->arg);
				buf_adds(&val, it->scalar ? it->scalar : "");
				secret |= it->secret;
			}
			have_str = true;
			v = NULL;
			break;
		case FILTER_SH:
			if (!have_str) {
				if (take_scalar(t, e, v, &val, &secret) < 0)
					goto out;
				v = NULL;
				have_str = true;
			}
			/* in a shell script the context decides the quoting */
			if (!quoted && t->mode != TPL_SHELL) {
				buf_reset(&q);
				sh_quote_buf(&q, val.s);
				buf_reset(&val);
				buf_add(&val, q.s, q.len);
				quoted = true;
			}
			break;
		}
	}
	if (!have_str && take_scalar(t, e, v, &val, &secret) < 0)
		goto out;
	buf_reset(&q);
	if (tplfmt_value(t->mode, &t->sh, t->out, val.s ? val.s : "", escaped, &q, &why) < 0) {
		err_format(t, e, origin, why);
		goto out;
	}
	rc = emit(t, q.s, q.len);
	if (rc == 0 && secret)
		*t->secret = true;
out:
	/* the scratch buffers may have held a secret */
	buf_wipe(&val);
	buf_wipe(&q);
	return rc;
}

static bool truth_str(const char *s)
{
	/* the words YAML and node_to_bool read as false */
	return !(*s == '\0' || strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0 ||
	         strcasecmp(s, "off") == 0 || strcmp(s, "0") == 0);
}

bool tpl_truth(const struct node *v)
{
	if (!v)
		return false;
	if (v->kind == NODE_SCALAR)
		return truth_str(v->scalar ? v->scalar : "");
	return v->n > 0;
}

/* The string an operand of == / != stands for; *str NULL when undefined. */
static int operand_str(struct tpl *t, const struct operand *o, const struct scope *s,
                       const char **str)
{
	const struct node *v;

	if (o->literal) {
		*str = o->s;
		return 0;
	}
	v = lookup(s, o->s);
	*str = NULL;
	if (!v)
		return 0;
	if (v->kind != NODE_SCALAR)
		return err_not_string(t, o->off, o->s, v);
	*str = v->scalar ? v->scalar : "";
	return 0;
}

static int eval_cond(struct tpl *t, const struct cond *c, const struct scope *s, bool *res)
{
	if (c->op == OP_NONE) {
		*res = c->lhs.literal ? truth_str(c->lhs.s) : tpl_truth(lookup(s, c->lhs.s));
	} else {
		const char *l, *r;

		if (operand_str(t, &c->lhs, s, &l) < 0 || operand_str(t, &c->rhs, s, &r) < 0)
			return -1;
		/* an undefined variable equals nothing */
		if (!l || !r)
			*res = c->op == OP_NE;
		else
			*res = (strcmp(l, r) == 0) == (c->op == OP_EQ);
	}
	if (c->negate)
		*res = !*res;
	return 0;
}

static int render_list(struct tpl *t, const struct tlist *l, const struct scope *s);

static int render_for(struct tpl *t, const struct tnode *n, const struct scope *s)
{
	const struct node *v = lookup(s, n->seq.s);
	struct scope local;
	size_t count;
	int rc = 0;

	if (!v)
		return err_undefined(t, n->seq.off, n->seq.s);
	if (v->kind == NODE_MAP)
		return tpl_error(t, n->seq.off, "'%s' is a mapping, not a list", n->seq.s);
	count = v->kind == NODE_SEQ ? v->n : 1;
	if (count == 0)
		return 0;
	/* the loop variable shadows an outer one of the same name */
	scope_init(&local);
	if (s)
		scope_copy(&local, s);
	for (size_t i = 0; i < count && rc == 0; i++) {
		struct node *loop = node_new_map(NULL);
		char num[32];

		/* loop.index: 1, 2, ... */
		snprintf(num, sizeof(num), "%zu", i + 1);
		node_map_set(loop, "index", node_new_scalar(num, NULL));
		scope_set_owned(&local, "loop", loop);
		scope_set(&local, n->var, v->kind == NODE_SEQ ? v->items[i] : v);
		rc = render_list(t, &n->body, &local);
	}
	scope_release(&local);
	return rc;
}

static int render_list(struct tpl *t, const struct tlist *l, const struct scope *s)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct tnode *n = &l->v[i];

		switch (n->kind) {
		case TN_TEXT:
			if (emit(t, t->text + n->start, n->end - n->start) < 0)
				return -1;
			break;
		case TN_VAR:
			if (render_var(t, n, s) < 0)
				return -1;
			break;
		case TN_IF:
			for (size_t b = 0; b < n->n_branches; b++) {
				const struct branch *br = &n->branches[b];
				bool yes = true;

				if (br->has_cond && eval_cond(t, &br->cond, s, &yes) < 0)
					return -1;
				if (yes) {
					if (render_list(t, &br->body, s) < 0)
						return -1;
					break;
				}
			}
			break;
		case TN_FOR:
			if (render_for(t, n, s) < 0)
				return -1;
			break;
		}
	}
	return 0;
}

static const char *const mode_names[] = {
    [TPL_TEXT] = "plain",      [TPL_SHELL] = "shell",       [TPL_VERBATIM] = "verbatim",
    [TPL_SSHD] = "sshd",       [TPL_CADDY] = "caddyfile",   [TPL_YAML] = "yaml",
    [TPL_JSON] = "json",       [TPL_INI] = "ini",           [TPL_ENV] = "env",
    [TPL_PGHBA] = "pg_hba",    [TPL_PGCONF] = "postgresql", [TPL_HAPROXY] = "haproxy",
    [TPL_SYSTEMD] = "systemd", [TPL_REDIS] = "redis",
};

int tpl_mode_parse(const char *name, enum tpl_mode *out)
{
	for (size_t i = 0; i < PV_ARRAY_SIZE(mode_names); i++) {
		if (mode_names[i] && strcmp(name, mode_names[i]) == 0) {
			*out = (enum tpl_mode)i;
			return 0;
		}
	}
	return -1;
}

const char *tpl_mode_list(void)
{
	static char list[256];

	if (!list[0]) {
		for (size_t i = 0; i < PV_ARRAY_SIZE(mode_names); i++) {
			if (i)
				strcat(list, ", ");
			strcat(list, mode_names[i]);
		}
	}
	return list;
}

/* The "{# format: NAME #}" a template file starts with sets t->mode. */
static int declared_format(struct tpl *t)
{
	const struct tok *k = t->n_toks ? &t->toks[0] : NULL;
	const char *p, *end;
	char *name;
	int rc;

	if (!k || k->kind != TOK_COMMENT || k->start != 0)
		return tpl_error(t, 0,
		                 "a template starts with its format, e.g. '{# format: plain #}' "
		                 "(formats: %s)",
		                 tpl_mode_list());
	p = t->text + k->in_start;
	end = t->text + k->in_end;
	while (p < end && is_blank(*p))
		p++;
	while (end > p && (is_blank(end[-1]) || end[-1] == '\n'))
		end--;
	if ((size_t)(end - p) < 7 || strncmp(p, "format:", 7) != 0)
		return tpl_error(t, k->in_start,
		                 "expected 'format: NAME' in the template's first "
		                 "comment (formats: %s)",
		                 tpl_mode_list());
	p += 7;
	while (p < end && is_blank(*p))
		p++;
	name = xstrndup(p, (size_t)(end - p));
	rc = tpl_mode_parse(name, &t->mode);
	if (rc < 0 || t->mode == TPL_DECLARED)
		rc = tpl_error(t, (size_t)(p - t->text), "unknown format '%s' (formats: %s)", name,
		               tpl_mode_list());
	free(name);
	return rc;
}

int tpl_render(struct buf *out, const char *text, const struct pos *start, const struct scope *s,
               enum tpl_mode mode, bool *secret, struct pv_error *err)
{
	struct pv_error scratch;
	struct tpl t;
	struct tlist root = {0};
	const char *ender = NULL;
	size_t old_len = out->len;
	bool sec = false;
	int rc = -1;

	memset(&t, 0, sizeof(t));
	t.text = text ? text : "";
	t.len = strlen(t.text);
	t.file = start && start->file ? start->file : "<template>";
	t.line = start && start->line > 0 ? start->line : 1;
	t.col = start && start->col > 0 ? start->col : 1;
	t.mode = mode;
	t.secret = &sec;
	t.err = err ? err : &scratch;
	t.out = out;

	tplfmt_scan_init(&t.sh, old_len);
	if (scan(&t) < 0)
		goto out;
	if (mode == TPL_DECLARED && declared_format(&t) < 0)
		goto out;
	trim_whitespace(&t);
	if (parse_block(&t, &root, NULL, 0, &ender) < 0)
		goto out;
	if (render_list(&t, &root, s) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0 && out->len > old_len) {
		/* leave out as it was; what was appended may hold a secret */
		pv_wipe(out->s + old_len, out->len - old_len);
		out->len = old_len;
		out->s[old_len] = '\0';
	}
	if (rc == 0 && sec && secret)
		*secret = true;
	tlist_release(&root);
	free(t.toks);
	tplfmt_scan_release(&t.sh);
	return rc;
}

static bool node_has_secret(const struct node *n)
{
	if (n->kind == NODE_SCALAR)
		return n->secret;
	for (size_t i = 0; i < n->n; i++) {
		if (node_has_secret(n->items[i]))
			return true;
	}
	return false;
}

/* If text is exactly one "{{ name }}" (blanks around allowed), the name. */
static char *whole_name(const char *text)
{
	const char *b = text, *e = text + strlen(text);

	while (*b == ' ' || *b == '\t' || *b == '\n' || *b == '\r')
		b++;
	while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		e--;
	if (e - b < 4 || strncmp(b, "{{", 2) != 0 || strncmp(e - 2, "}}", 2) != 0)
		return NULL;
	b += 2;
	e -= 2;
	if (b < e && *b == '-')
		b++;
	if (e > b && e[-1] == '-')
		e--;
	while (b < e && (*b == ' ' || *b == '\t' || *b == '\n' || *b == '\r'))
		b++;
	while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		e--;
	if (b == e || !name_start(*b))
		return NULL;
	for (const char *p = b; p < e; p++) {
		if (!name_char(*p) && !(*p == '.' && p + 1 < e && name_char(p[1])))
			return NULL;
	}
	return xstrndup(b, (size_t)(e - b));
}

int tpl_render_node(struct buf *out, const struct node **whole, const struct node *n,
                    const struct scope *s, enum tpl_mode mode, bool *secret, struct pv_error *err)
{
	char *name;
	const struct node *v = NULL;

	if (whole)
		*whole = NULL;
	if (n->kind != NODE_SCALAR) {
		/* a list or mapping written in place passes through whole */
		if (!whole)
			return pv_error_set(err, "%s:%d:%d: expected a string, not %s",
			                    n->pos.file ? n->pos.file : "<template>", n->pos.line,
			                    n->pos.col, node_kind_name(n));
		*whole = n;
		if (secret && node_has_secret(n))
			*secret = true;
		return 0;
	}
	name = n->scalar ? whole_name(n->scalar) : NULL;
	if (name) {
		v = lookup(s, name);
		free(name);
	}
	if (whole && v && v->kind != NODE_SCALAR) {
		*whole = v;
		if (secret && node_has_secret(v))
			*secret = true;
		return 0;
	}
	return tpl_render(out, n->scalar, &n->text_pos, s, mode, secret, err);
}
