/*
 * template.h - a small, strict template language.
 *
 *   {{ name }}              value of a variable (a scalar); a.b reads key b of map a
 *   {{ name | sh }}         the value as one quoted shell word (shquote.h);
 *                           in TPL_SHELL the quoting follows the context instead
 *   {{ name | join ", " }}  a list joined by the separator
 *   {{ name | default "x" }} only filter that accepts an undefined variable
 *   {{ name | secret }}     the value names a secret: the secret's value (first filter)
 *   {{ name | escape ":\\" }} a backslash before each of the characters given
 *   {{ name | double "\"" }}  each of the characters given written twice
 *   {{ name | sha256 }}     the SHA-256 of the value, in hex (a password stored as its hash)
 *   {{ name | host }}       the value, which must be a host name, IPv4 or [IPv6]
 *                           address with an optional :PORT; anything else is an error
 *   {% if name %} ... {% elif other %} ... {% else %} ... {% endif %}
 *   {% if name == "text" %}  {% if name != "text" %}  {% if not name %}
 *   {{ name | add "1" }}    the value, which must be an integer, plus the number given
 *   {% for x in name %} ... {{ x }} ... {% endfor %}
 *                           inside, loop.index counts the items from 1
 *   {# comment #}
 *   A tag written {%- ... %} or {{- ... }} eats the whitespace before it
 *   up to and including one newline; ... -%} the whitespace after it up to
 *   and including one newline.  Lines holding only a {% %} tag vanish
 *   entirely (as with trim_blocks/lstrip_blocks).
 *
 * Truth: false for an undefined name (only in "if"), "false"/"no"/"off"/"0"/"",
 * empty lists and maps; true otherwise.
 * An undefined variable outside "if" and "default" is an error, never an
 * empty string.  Errors read "file:line:col: undefined variable 'x'".
 *
 * Rendering a template marks the result secret (tpl_render's *secret) when
 * any secret value was substituted.
 */
#ifndef PROVISION_TEMPLATE_H
#define PROVISION_TEMPLATE_H

#include <stdbool.h>

#include "provision/buf.h"
#include "provision/scope.h"

/*
 * The format of what is rendered.  Each {{ }} is written for the place it
 * lands in: TPL_SHELL quotes it for its shell context (a bare word, "...",
 * '...', a comment, a here-document) and refuses `...`; the line-oriented
 * formats refuse any value holding a line break or control character,
 * escape it inside the quotes the format knows, and elsewhere refuse the
 * bytes that are syntax there (blanks, quotes, comment and format-specific
 * characters; Exec lines of systemd units take only plain words).
 * A template file declares its format on its first line,
 * "{# format: sshd #}", and is rendered with TPL_DECLARED.
 */
enum tpl_mode {
	TPL_TEXT, /* "plain": line-oriented text without quoting rules */
	TPL_SHELL, /* "shell": POSIX shell */
	TPL_VERBATIM, /* "verbatim": values as they are, even several lines (a key, a PEM) */
	TPL_SSHD, /* "sshd" */
	TPL_CADDY, /* "caddyfile" */
	TPL_YAML, /* "yaml" */
	TPL_JSON, /* "json" */
	TPL_INI, /* "ini": key = value to the end of the line */
	TPL_ENV, /* "env": systemd EnvironmentFile, KEY=value or KEY="value" */
	TPL_PGHBA, /* "pg_hba" */
	TPL_PGCONF, /* "postgresql": postgresql.conf, values plain or in '...' */
	TPL_HAPROXY, /* "haproxy" */
	TPL_SYSTEMD, /* "systemd": unit files */
	TPL_REDIS, /* "redis": redis.conf and sentinel.conf, values plain or in "..." */
	TPL_DECLARED, /* the text's first line declares one of the above */
};

/* {% if %} and {% for %} nest at most this deep. */
#define TPL_MAX_DEPTH 64

/* The format named name ("sshd"); -1 when there is none of that name. */
int tpl_mode_parse(const char *name, enum tpl_mode *out);
/* "plain, shell, verbatim, ..." for messages. */
const char *tpl_mode_list(void);

/*
 * Render text (from file name, starting at line/col of start) with the
 * variables in s, appending to out.  start may be NULL (line 1, col 1).
 */
int tpl_render(struct buf *out, const char *text, const struct pos *start, const struct scope *s,
               enum tpl_mode mode, bool *secret, struct pv_error *err);

/*
 * Render a YAML scalar node's text.  If the whole text is exactly one
 * "{{ name }}" and the variable is a list or map, *whole receives that
 * node (borrowed) and out is left empty: this keeps the type of a
 * variable passed whole, e.g.  allow: "{{ firewall_ports }}".
 * whole may be NULL when the caller only accepts scalars.
 */
int tpl_render_node(struct buf *out, const struct node **whole, const struct node *n,
                    const struct scope *s, enum tpl_mode mode, bool *secret, struct pv_error *err);

/* The truth rule above, for a variable's value (NULL: undefined, false). */
bool tpl_truth(const struct node *v);

#endif
