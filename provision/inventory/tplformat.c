/*
 * tplformat.c - the rules of each file format a template can write.
 *
 * Shell is read with a small scanner that follows quotes, $( ), back
 * quotes, comments and here-documents across lines.  The other formats
 * are line oriented: the context is read from the current line only, and
 * no value may carry a line break or another control character.
 */
#include <stdio.h>
#include <string.h>

#include "provision/common.h"
#include "provision/shquote.h"
#include "tplformat.h"

enum sh_ctx {
	SH_BARE, /* top level or inside $( ) */
	SH_DQ,
	SH_SQ,
	SH_BQ,
	SH_COMMENT,
};

void tplfmt_scan_init(struct tplfmt_scan *sc, size_t start)
{
	memset(sc, 0, sizeof(*sc));
	sc->pos = start;
	sc->line_off = sc->line_pos = start;
	sc->lword_start = sc->lline_start = true;
	sc->depth = 1;
	sc->stack[0] = SH_BARE;
	sc->word_start = true;
	buf_init(&sc->hd_delim, 4096);
	buf_init(&sc->hd_line, 4096);
}

void tplfmt_scan_release(struct tplfmt_scan *sc)
{
	buf_release(&sc->hd_delim);
	buf_release(&sc->hd_line);
}

static void sh_push(struct tplfmt_scan *sc, enum sh_ctx c)
{
	if (sc->depth >= TPLFMT_SH_DEPTH) {
		sc->too_deep = true;
		return;
	}
	sc->parens[sc->depth] = 0;
	sc->stack[sc->depth++] = (unsigned char)c;
}

static void sh_pop(struct tplfmt_scan *sc)
{
	if (sc->depth > 1)
		sc->depth--;
}

static bool sh_word_break(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == ';' || c == '&' || c == '|' || c == '(' ||
	       c == ')' || c == '<' || c == '>';
}

/* The delimiter word after "<<": quotes make the here-document literal. */
static void sh_heredoc_delim(struct tplfmt_scan *sc, char c)
{
	if (sc->hd_dash_ok && c == '-') {
		sc->hd_strip = true;
		sc->hd_dash_ok = false;
		return;
	}
	sc->hd_dash_ok = false;
	if ((c == ' ' || c == '\t') && sc->hd_delim.len == 0)
		return;
	if (c == '\'' || c == '"' || c == '\\') {
		sc->hd_quoted = true;
		return;
	}
	if (sh_word_break(c)) {
		sc->heredoc = 2;
		return;
	}
	buf_addc(&sc->hd_delim, c);
}

static void sh_feed(struct tplfmt_scan *sc, char c)
{
	enum sh_ctx top = (enum sh_ctx)sc->stack[sc->depth - 1];

	if (sc->heredoc == 3) {
		if (c != '\n') {
			buf_addc(&sc->hd_line, c);
			return;
		}
		const char *l = sc->hd_line.s;
		if (sc->hd_strip)
			l += strspn(l, "\t");
		if (strcmp(l, sc->hd_delim.s) == 0) {
			sc->heredoc = 0;
			buf_reset(&sc->hd_delim);
			sc->word_start = true;
		}
		buf_reset(&sc->hd_line);
		return;
	}
	if (sc->heredoc == 1 && top == SH_BARE) {
		sh_heredoc_delim(sc, c);
		if (sc->heredoc == 1)
			return;
	}
	if (sc->esc) {
		sc->esc = false;
		sc->word_start = false;
		return;
	}
	switch (top) {
	case SH_SQ:
		if (c == '\'')
			sh_pop(sc);
		return;
	case SH_COMMENT:
		if (c == '\n') {
			sh_pop(sc);
			sc->word_start = true;
			if (sc->heredoc == 2)
				sc->heredoc = sc->hd_delim.len ? 3 : 0;
		}
		return;
	case SH_BQ:
		if (c == '\\')
			sc->esc = true;
		else if (c == '`')
			sh_pop(sc);
		return;
	case SH_DQ:
		if (c == '\\')
			sc->esc = true;
		else if (c == '"')
			sh_pop(sc);
		else if (c == '`')
			sh_push(sc, SH_BQ);
		else if (c == '(' && sc->dollar)
			sh_push(sc, SH_BARE);
		sc->dollar = c == '$';
		return;
	case SH_BARE:
		break;
	}
	if (c == '\\') {
		sc->esc = true;
	} else if (c == '\'') {
		sh_push(sc, SH_SQ);
	} else if (c == '"') {
		sh_push(sc, SH_DQ);
	} else if (c == '`') {
		sh_push(sc, SH_BQ);
	} else if (c == '#' && sc->word_start) {
		sh_push(sc, SH_COMMENT);
	} else if (c == '(') {
		if (sc->dollar)
			sh_push(sc, SH_BARE);
		else if (sc->depth > 1)
			sc->parens[sc->depth - 1]++;
	} else if (c == ')' && sc->depth > 1) {
		if (sc->parens[sc->depth - 1] > 0)
			sc->parens[sc->depth - 1]--;
		else
			sh_pop(sc);
	} else if (c == '<' && sc->lt) {
		sc->heredoc = 1;
		sc->hd_quoted = sc->hd_strip = false;
		sc->hd_dash_ok = true;
		buf_reset(&sc->hd_delim);
		c = 0; /* "<<<" is not a third '<' */
	} else if (c == '\n' && sc->heredoc == 2) {
		sc->heredoc = sc->hd_delim.len ? 3 : 0;
		buf_reset(&sc->hd_line);
	}
	sc->lt = c == '<' && sc->heredoc != 1;
	sc->dollar = c == '$';
	sc->word_start = c == 0 || sh_word_break(c);
}

static bool has_ctl(const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return true;
	}
	return false;
}

static const char *const ctl_why = "holds a line break or control character";

/* A backslash before each byte of v found in set. */
static void add_escaped(struct buf *res, const char *v, const char *set)
{
	for (; *v; v++) {
		if (strchr(set, *v))
			buf_addc(res, '\\');
		buf_addc(res, *v);
	}
}

static int shell_value(struct tplfmt_scan *sc, const struct buf *out, const char *val,
                       struct buf *res, const char **why)
{
	enum sh_ctx top;

	while (sc->pos < out->len)
		sh_feed(sc, out->s[sc->pos++]);
	if (sc->too_deep) {
		*why = "lands in shell quotes nested too deeply to follow";
		return -1;
	}
	top = (enum sh_ctx)sc->stack[sc->depth - 1];
	if (sc->heredoc == 3) {
		if (has_ctl(val)) {
			*why = "holds a line break or control character, which a shell "
			       "here-document cannot carry";
			return -1;
		}
		if (sc->hd_quoted)
			buf_adds(res, val);
		else
			add_escaped(res, val, "$`\\");
		return 0;
	}
	if (sc->heredoc == 1) {
		*why = "lands in a here-document's delimiter";
		return -1;
	}
	if (sc->esc) {
		*why = "follows a backslash in a shell command";
		return -1;
	}
	switch (top) {
	case SH_BARE:
		sh_quote_buf(res, val);
		return 0;
	case SH_DQ:
		add_escaped(res, val, "$`\"\\");
		return 0;
	case SH_SQ:
		for (const char *p = val; *p; p++) {
			if (*p == '\'')
				buf_adds(res, "'\\''");
			else
				buf_addc(res, *p);
		}
		return 0;
	case SH_BQ:
		*why = "lands inside `...` in a shell command (use $(...))";
		return -1;
	case SH_COMMENT:
		if (has_ctl(val)) {
			*why = "holds a line break or control character, which a shell "
			       "comment cannot carry";
			return -1;
		}
		buf_adds(res, val);
		return 0;
	}
	return -1;
}

/* ---- line-oriented formats ---- */

enum line_ctx {
	LC_BARE,
	LC_DQ,
	LC_SQ,
	LC_COMMENT,
};

struct line_rules {
	enum tpl_mode mode;
	const char *what; /* "a sshd file" */
	bool dq, sq; /* quotes this format knows */
	bool sq_doubling; /* '' inside '...' is one quote */
	bool comment_inline; /* '#' after a blank starts a comment, not only at line start */
	const char *bare_bad; /* bytes refused outside quotes; NULL: only the safe set */
	const char *dq_escape; /* bytes escaped with a backslash inside "..."; NULL: refused */
	const char *dq_bad; /* bytes refused inside "..." */
	const char *sq_bad; /* bytes refused inside '...' ('\'' is doubled if sq_doubling) */
};

#define WS " \t"

static const struct line_rules rules[] = {
    {TPL_TEXT, "this file", false, false, false, false, "", NULL, "", ""},
    {TPL_SSHD, "a sshd file", true, false, false, true, WS "\"'\\#%", NULL, "\"\\%", ""},
    {TPL_CADDY, "a Caddyfile", true, false, false, true, WS "{}\"'\\`#<", "\"", "\\{}`", ""},
    {TPL_YAML, "a YAML file", true, true, true, true, NULL, "\"\\", "", ""},
    {TPL_JSON, "a JSON file", true, false, false, false, NULL, "\"\\", "", ""},
    {TPL_INI, "an INI file", false, false, false, false, "", NULL, "", ""},
    {TPL_ENV, "an environment file", true, true, false, false, WS "\"'\\$`#", "\"\\$`", "", "'"},
    {TPL_PGHBA, "pg_hba.conf", true, false, false, true, WS "\"'\\#,@+", NULL, "\"\\,", ""},
    {TPL_PGCONF, "a PostgreSQL configuration file", false, true, true, true, NULL, NULL, "", NULL},
    {TPL_HAPROXY, "haproxy.cfg", true, true, false, true, WS "\"'\\#$", NULL, "\"\\$", "'"},
    {TPL_SYSTEMD, "a systemd unit", true, true, false, false, "\\%$\"'", NULL, "\"\\%$", "'\\%$"},
    {TPL_REDIS, "a Redis configuration file", true, true, false, false, NULL, "\"\\", "", "'\\"},
};

/* Bytes a value may hold wherever a format allows only plain words. */
static bool safe_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c >= 0x80 || (c && strchr("._/:@+=~-", c));
}

static bool all_safe(const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (!safe_char(*p))
			return false;
	}
	return true;
}

static bool any_of(const char *v, const char *set)
{
	return strpbrk(v, set) != NULL;
}

/* Where the end of out stands on its current line; reads only what is new. */
static enum line_ctx line_context(const struct line_rules *r, struct tplfmt_scan *sc,
                                  const struct buf *out, const char **line)
{
	enum line_ctx c = (enum line_ctx)sc->lctx;

	for (size_t i = sc->line_pos; i < out->len; i++) {
		char ch = out->s[i];

		if (ch == '\n') {
			c = LC_BARE;
			sc->line_off = i + 1;
			sc->lword_start = sc->lline_start = true;
			continue;
		}
		switch (c) {
		case LC_COMMENT:
			break;
		case LC_DQ:
			if (ch == '\\' && i + 1 < out->len && out->s[i + 1] != '\n')
				i++;
			else if (ch == '"')
				c = LC_BARE;
			break;
		case LC_SQ:
			if (ch == '\'') {
				if (r->sq_doubling && i + 1 < out->len && out->s[i + 1] == '\'')
					i++;
				else
					c = LC_BARE;
			} else if (ch == '\\' && r->mode == TPL_PGCONF && i + 1 < out->len &&
			           out->s[i + 1] != '\n') {
				i++;
			}
			break;
		case LC_BARE:
			if (ch == '#' &&
			    (sc->lline_start || (r->comment_inline && sc->lword_start)))
				c = LC_COMMENT;
			else if (ch == '"' && r->dq)
				c = LC_DQ;
			else if (ch == '\'' && r->sq)
				c = LC_SQ;
			break;
		}
		sc->lword_start = ch == ' ' || ch == '\t';
		sc->lline_start = sc->lline_start && sc->lword_start;
	}
	sc->line_pos = out->len;
	sc->lctx = c;
	*line = out->s + sc->line_off;
	return c;
}

static const struct line_rules *rules_for(enum tpl_mode mode)
{
	for (size_t i = 0; i < PV_ARRAY_SIZE(rules); i++) {
		if (rules[i].mode == mode)
			return &rules[i];
	}
	return &rules[0];
}

static int line_value(enum tpl_mode mode, struct tplfmt_scan *sc, const struct buf *out,
                      const char *val, bool escaped, struct buf *res, const char **why)
{
	static char msg[160];
	const struct line_rules *r = rules_for(mode);
	const char *line;
	enum line_ctx c = line_context(r, sc, out, &line);
	bool exec_line = false;

	if (has_ctl(val)) {
		snprintf(msg, sizeof(msg), "%s, which %s cannot carry", ctl_why, r->what);
		*why = msg;
		return -1;
	}
	if (mode == TPL_SYSTEMD) {
		/* Exec lines split words at blanks: a value there is one safe word */
		line += strspn(line, WS);
		exec_line = strncmp(line, "Exec", 4) == 0;
	}
	if (escaped && !exec_line) {
		buf_adds(res, val);
		return 0;
	}
	switch (c) {
	case LC_COMMENT:
		buf_adds(res, val);
		return 0;
	case LC_DQ:
		if (exec_line && any_of(val, WS)) {
			snprintf(msg, sizeof(msg),
			         "holds a blank, which would split a command line in %s", r->what);
			*why = msg;
			return -1;
		}
		if (any_of(val, r->dq_bad) || (!r->dq_escape && strchr(val, '"'))) {
			snprintf(msg, sizeof(msg), "holds a character that %s cannot quote",
			         r->what);
			*why = msg;
			return -1;
		}
		if (r->dq_escape)
			add_escaped(res, val, r->dq_escape);
		else
			buf_adds(res, val);
		return 0;
	case LC_SQ:
		if (!r->sq_bad && !all_safe(val)) {
			snprintf(msg, sizeof(msg),
			         "holds a character that is not allowed inside quotes in %s",
			         r->what);
			*why = msg;
			return -1;
		}
		if ((r->sq_bad && any_of(val, r->sq_bad)) ||
		    (!r->sq_doubling && strchr(val, '\''))) {
			snprintf(msg, sizeof(msg), "holds a character that %s cannot quote",
			         r->what);
			*why = msg;
			return -1;
		}
		for (const char *p = val; *p; p++) {
			if (*p == '\'')
				buf_addc(res, '\'');
			buf_addc(res, *p);
		}
		return 0;
	case LC_BARE:
		break;
	}
	if (exec_line ? !all_safe(val) : r->bare_bad ? any_of(val, r->bare_bad) : !all_safe(val)) {
		snprintf(msg, sizeof(msg),
		         exec_line ? "is not one plain word (letters, digits and ._/:@+=~-), as a "
		                     "command line in %s needs"
		                   : "holds a blank, quote or other character that is syntax in %s",
		         r->what);
		*why = msg;
		return -1;
	}
	buf_adds(res, val);
	return 0;
}

int tplfmt_value(enum tpl_mode mode, struct tplfmt_scan *sc, const struct buf *out, const char *val,
                 bool escaped, struct buf *res, const char **why)
{
	switch (mode) {
	case TPL_VERBATIM:
		buf_adds(res, val);
		return 0;
	case TPL_SHELL:
		return shell_value(sc, out, val, res, why);
	default:
		return line_value(mode, sc, out, val, escaped, res, why);
	}
}
