/*
 * template.h - a small, strict template language.
 *
 *   {{ name }}              value of a variable (a scalar); a.b reads key b of map a
 *   {{ name | sh }}         the value as one quoted shell word (shquote.h)
 *   {{ name | join ", " }}  a list joined by the separator
 *   {{ name | default "x" }} only filter that accepts an undefined variable
 *   {{ name | secret }}     the value names a secret: the secret's value (first filter)
 *   {{ name | escape ":\\" }} a backslash before each of the characters given
 *   {{ name | double "\"" }}  each of the characters given written twice
 *   {{ name | host }}       the value, which must be a host name, IPv4 or [IPv6]
 *                           address with an optional :PORT; anything else is an error
 *   {% if name %} ... {% elif other %} ... {% else %} ... {% endif %}
 *   {% if name == "text" %}  {% if name != "text" %}  {% if not name %}
 *   {% for x in name %} ... {{ x }} ... {% endfor %}
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

enum tpl_mode {
	TPL_TEXT, /* plain substitution */
	TPL_SHELL, /* every {{ }} is shell-quoted as if "| sh" were written */
};

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
