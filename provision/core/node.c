/*
 * node.c - load YAML with libyaml's event API into a tree with positions.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "provision/node.h"

static struct node *node_alloc(enum node_kind kind, const struct pos *p)
{
	struct node *n = xcalloc(1, sizeof(*n));

	n->kind = kind;
	if (p)
		n->pos = *p;
	n->text_pos = n->pos;
	return n;
}

struct node *node_new_scalar(const char *s, const struct pos *p)
{
	struct node *n = node_alloc(NODE_SCALAR, p);

	n->scalar = xstrdup(s ? s : "");
	return n;
}

struct node *node_new_seq(const struct pos *p)
{
	return node_alloc(NODE_SEQ, p);
}

struct node *node_new_map(const struct pos *p)
{
	return node_alloc(NODE_MAP, p);
}

void node_free(struct node *n)
{
	if (!n)
		return;
	if (n->scalar) {
		if (n->secret)
			pv_wipe(n->scalar, strlen(n->scalar));
		free(n->scalar);
	}
	for (size_t i = 0; i < n->n; i++) {
		node_free(n->items[i]);
		if (n->keys)
			free(n->keys[i]);
	}
	free(n->items);
	free(n->keys);
	free(n->key_pos);
	free(n);
}

void node_seq_append(struct node *seq, struct node *item)
{
	PV_GROW(seq->items, seq->n + 1, seq->alloc);
	seq->items[seq->n++] = item;
}

static ssize_t map_index(const struct node *map, const char *key)
{
	if (!map || map->kind != NODE_MAP || !key)
		return -1;
	for (size_t i = 0; i < map->n; i++) {
		if (strcmp(map->keys[i], key) == 0)
			return (ssize_t)i;
	}
	return -1;
}

/* Append without checking for an existing key; keys, items and key_pos grow together. */
static void map_append(struct node *map, char *key, const struct pos *kp, struct node *v)
{
	size_t alloc = map->alloc;

	PV_GROW(map->items, map->n + 1, alloc);
	if (alloc != map->alloc) {
		map->keys = xrealloc(map->keys, alloc * sizeof(*map->keys));
		map->key_pos = xrealloc(map->key_pos, alloc * sizeof(*map->key_pos));
		map->alloc = alloc;
	}
	map->keys[map->n] = key;
	if (kp)
		map->key_pos[map->n] = *kp;
	else
		map->key_pos[map->n] = v ? v->pos : map->pos;
	map->items[map->n] = v;
	map->n++;
}

void node_map_set(struct node *map, const char *key, struct node *v)
{
	ssize_t i = map_index(map, key);

	if (i >= 0) {
		node_free(map->items[i]);
		map->items[i] = v;
		return;
	}
	map_append(map, xstrdup(key), NULL, v);
}

struct node *node_clone(const struct node *n)
{
	struct node *c;

	if (!n)
		return NULL;
	c = node_alloc(n->kind, &n->pos);
	c->text_pos = n->text_pos;
	c->quoted = n->quoted;
	c->secret = n->secret;
	if (n->scalar)
		c->scalar = xstrdup(n->scalar);
	for (size_t i = 0; i < n->n; i++) {
		if (n->kind == NODE_MAP)
			map_append(c, xstrdup(n->keys[i]), &n->key_pos[i], node_clone(n->items[i]));
		else
			node_seq_append(c, node_clone(n->items[i]));
	}
	return c;
}

const struct node *node_get(const struct node *map, const char *key)
{
	ssize_t i = map_index(map, key);

	return i >= 0 ? map->items[i] : NULL;
}

struct pos node_key_pos(const struct node *map, const char *key)
{
	struct pos none = {NULL, 0, 0};
	ssize_t i = map_index(map, key);

	if (i >= 0)
		return map->key_pos[i];
	return map ? map->pos : none;
}

bool node_is_null(const struct node *n)
{
	if (!n)
		return true;
	if (n->kind != NODE_SCALAR || n->quoted)
		return false;
	return n->scalar[0] == '\0' || strcmp(n->scalar, "~") == 0 ||
	       strcmp(n->scalar, "null") == 0 || strcmp(n->scalar, "Null") == 0 ||
	       strcmp(n->scalar, "NULL") == 0;
}

const char *node_kind_name(const struct node *n)
{
	if (!n)
		return "nothing";
	switch (n->kind) {
	case NODE_SCALAR:
		return "a string";
	case NODE_SEQ:
		return "a list";
	case NODE_MAP:
		return "a mapping";
	}
	return "a value";
}

/* "not 'abc'", "not the quoted string 'true'", "not a list" for type errors. */
static void type_error(const struct node *n, const char *what, const char *want, struct diags *d)
{
	if (!n)
		diags_add(d, NULL, "%s must be %s", what, want);
	else if (n->kind != NODE_SCALAR)
		diags_add(d, &n->pos, "%s must be %s, not %s", what, want, node_kind_name(n));
	else if (n->secret)
		diags_add(d, &n->pos, "%s must be %s, not a secret", what, want);
	else if (n->quoted)
		diags_add(d, &n->pos, "%s must be %s, not the quoted string '%s'", what, want,
		          n->scalar);
	else
		diags_add(d, &n->pos, "%s must be %s, not '%s'", what, want, n->scalar);
}

int node_to_bool(const struct node *n, bool *out, const char *what, struct diags *d)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};

	if (n && n->kind == NODE_SCALAR && !n->quoted) {
		for (size_t i = 0; i < PV_ARRAY_SIZE(yes); i++) {
			if (strcasecmp(n->scalar, yes[i]) == 0) {
				*out = true;
				return 0;
			}
			if (strcasecmp(n->scalar, no[i]) == 0) {
				*out = false;
				return 0;
			}
		}
	}
	type_error(n, what, "a boolean", d);
	return -1;
}

int node_to_int(const struct node *n, long long *out, const char *what, struct diags *d)
{
	const char *s;
	char *end;
	long long v;

	if (!n || n->kind != NODE_SCALAR || n->quoted)
		goto bad;
	s = n->scalar;
	if (*s == '+' || *s == '-')
		s++;
	if (*s < '0' || *s > '9')
		goto bad;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			goto bad;
	}
	errno = 0;
	v = strtoll(n->scalar, &end, 10);
	if (errno == ERANGE) {
		diags_add(d, &n->pos, "%s is out of range: '%s'", what, n->scalar);
		return -1;
	}
	*out = v;
	return 0;
bad:
	type_error(n, what, "an integer", d);
	return -1;
}

int node_to_str(const struct node *n, const char **out, const char *what, struct diags *d)
{
	if (n && n->kind == NODE_SCALAR) {
		*out = n->scalar;
		return 0;
	}
	type_error(n, what, "a string", d);
	return -1;
}

int node_to_strlist(const struct node *n, const char ***out, size_t *count, const char *what,
                    struct diags *d)
{
	const char **v;

	*out = NULL;
	*count = 0;
	if (n && n->kind == NODE_SCALAR) {
		v = xmalloc(sizeof(*v));
		v[0] = n->scalar;
		*out = v;
		*count = 1;
		return 0;
	}
	if (!n || n->kind != NODE_SEQ) {
		type_error(n, what, "a string or a list of strings", d);
		return -1;
	}
	for (size_t i = 0; i < n->n; i++) {
		if (n->items[i]->kind != NODE_SCALAR) {
			diags_add(d, &n->items[i]->pos,
			          "%s must be a list of strings, not a list of %s", what,
			          n->items[i]->kind == NODE_SEQ ? "lists" : "mappings");
			return -1;
		}
	}
	v = xcalloc(n->n ? n->n : 1, sizeof(*v));
	for (size_t i = 0; i < n->n; i++)
		v[i] = n->items[i]->scalar;
	*out = v;
	*count = n->n;
	return 0;
}

int node_check_keys(const struct node *map, const char *const *allowed, size_t n_allowed,
                    const char *where, struct diags *d)
{
	int unknown = 0;

	if (!map || map->kind != NODE_MAP)
		return 0;
	for (size_t i = 0; i < map->n; i++) {
		const char *near;
		bool ok = false;

		for (size_t j = 0; j < n_allowed && !ok; j++)
			ok = strcmp(map->keys[i], allowed[j]) == 0;
		if (ok)
			continue;
		unknown++;
		near = pv_nearest(map->keys[i], allowed, n_allowed);
		if (near)
			diags_add(d, &map->key_pos[i],
			          "unknown key '%s' in %s (did you mean '%s'?)", map->keys[i],
			          where, near);
		else
			diags_add(d, &map->key_pos[i], "unknown key '%s' in %s", map->keys[i],
			          where);
	}
	return unknown;
}

/* ---- loading ---- */

struct frame {
	struct node *node;
	char *key; /* a mapping's key waiting for its value */
	struct pos key_pos;
	struct pv_index keys; /* a mapping's keys so far, for the duplicate check */
};

struct loader {
	const char *file;
	const char *text;
	size_t len;
	struct frame *stack;
	size_t depth, alloc;
	struct node *root;
	struct pv_error *err;
};

static struct pos mark_pos(const struct loader *l, yaml_mark_t m)
{
	struct pos p = {l->file, (int)m.line + 1, (int)m.column + 1};
	return p;
}

/*
 * Where a scalar's text begins, so that a template error inside it points
 * at the right character: after the opening quote, or on the first line
 * of a block scalar at its indentation.
 */
static struct pos text_start(const struct loader *l, const yaml_event_t *ev, const char *text,
                             size_t len)
{
	struct pos p = mark_pos(l, ev->start_mark);
	size_t i = ev->start_mark.index;

	switch (ev->data.scalar.style) {
	case YAML_SINGLE_QUOTED_SCALAR_STYLE:
	case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
		p.col++;
		break;
	case YAML_LITERAL_SCALAR_STYLE:
	case YAML_FOLDED_SCALAR_STYLE:
		while (i < len && text[i] != '\n')
			i++;
		if (i < len) {
			size_t indent = 0;
			i++;
			/* blank lines before the first line of text */
			for (;;) {
				size_t j = i;
				while (j < len && text[j] == ' ')
					j++;
				if (j < len && text[j] == '\n') {
					p.line++;
					i = j + 1;
					continue;
				}
				indent = j - i;
				break;
			}
			p.line++;
			p.col = (int)indent + 1;
		}
		break;
	default:
		break;
	}
	return p;
}

static int load_error(struct loader *l, yaml_mark_t m, const char *fmt, const char *arg)
{
	char *text = xasprintf(fmt, arg);

	pv_error_set(l->err, "%s:%d:%d: %s", l->file, (int)m.line + 1, (int)m.column + 1, text);
	free(text);
	return -1;
}

/* Attach a finished or started node to the current parent; takes n. */
static int attach(struct loader *l, struct node *n)
{
	struct frame *f;

	if (l->depth == 0) {
		l->root = n;
		return 0;
	}
	f = &l->stack[l->depth - 1];
	if (f->node->kind == NODE_SEQ) {
		node_seq_append(f->node, n);
		return 0;
	}
	if (f->key) {
		map_append(f->node, f->key, &f->key_pos, n);
		f->key = NULL; /* transferred */
		pv_index_add(&f->keys, f->node->keys, f->node->n - 1);
		return 0;
	}
	if (n->kind != NODE_SCALAR) {
		pv_error_set(l->err, "%s:%d:%d: mapping keys must be strings, not %s", l->file,
		             n->pos.line, n->pos.col, node_kind_name(n));
		node_free(n);
		return -1;
	}
	if (pv_index_find(&f->keys, f->node->keys, n->scalar) >= 0) {
		char shown[128];

		pv_error_set(l->err, "%s:%d:%d: duplicate key '%s'", l->file, n->pos.line,
		             n->pos.col, pv_printable(n->scalar, shown, sizeof(shown)));
		node_free(n);
		return -1;
	}
	f->key = n->scalar;
	f->key_pos = n->pos;
	n->scalar = NULL; /* transferred */
	node_free(n);
	return 0;
}

static void push(struct loader *l, struct node *n)
{
	PV_GROW(l->stack, l->depth + 1, l->alloc);
	memset(&l->stack[l->depth], 0, sizeof(l->stack[l->depth]));
	l->stack[l->depth].node = n;
	l->depth++;
}

static void pop(struct loader *l)
{
	l->depth--;
	free(l->stack[l->depth].key);
	pv_index_release(&l->stack[l->depth].keys);
}

/* Line and column of byte off of the text. */
static struct pos offset_pos(const struct loader *l, size_t off)
{
	struct pos p = {l->file, 1, 1};

	for (size_t i = 0; i < off && i < l->len; i++) {
		if (l->text[i] == '\n') {
			p.line++;
			p.col = 1;
		} else if (((unsigned char)l->text[i] & 0xc0) != 0x80) {
			p.col++; /* columns count characters, not bytes */
		}
	}
	return p;
}

static int parser_error(struct loader *l, yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "invalid YAML";

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return pv_error_set(l->err, "%s: out of memory while parsing YAML", l->file);
	case YAML_READER_ERROR: {
		struct pos at = offset_pos(l, p->problem_offset);

		if (p->problem_offset < l->len && l->text[p->problem_offset] == '\0')
			problem = "NUL byte";
		else if (p->problem_offset < l->len &&
		         (unsigned char)l->text[p->problem_offset] >= 0x80)
			problem = "invalid UTF-8";
		return pv_error_set(l->err, "%s:%d:%d: %s (the file must be UTF-8 text)", l->file,
		                    at.line, at.col, problem);
	}
	default:
		if (p->problem_mark.index < l->len && l->text[p->problem_mark.index] == '\t' &&
		    strstr(problem, "cannot start any token"))
			return pv_error_set(
			    l->err, "%s:%d:%d: tabs are not allowed for indentation", l->file,
			    (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1);
		if (p->context)
			return pv_error_set(l->err, "%s:%d:%d: %s %s", l->file,
			                    (int)p->problem_mark.line + 1,
			                    (int)p->problem_mark.column + 1, problem, p->context);
		return pv_error_set(l->err, "%s:%d:%d: %s", l->file, (int)p->problem_mark.line + 1,
		                    (int)p->problem_mark.column + 1, problem);
	}
}

static bool has_anchor(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return ev->data.scalar.anchor != NULL;
	case YAML_SEQUENCE_START_EVENT:
		return ev->data.sequence_start.anchor != NULL;
	case YAML_MAPPING_START_EVENT:
		return ev->data.mapping_start.anchor != NULL;
	default:
		return false;
	}
}

/*
 * libyaml checks every open flow collection ([ or {) at each token, so
 * thousands of them nested cost minutes before the first event arrives:
 * refuse deep flow nesting before the parser sees it.  Quotes and
 * comments are skipped roughly; the exact error comes from the parser.
 */
static int flow_too_deep(struct loader *l)
{
	int depth = 0;
	char quote = 0;

	for (size_t i = 0; i < l->len; i++) {
		char c = l->text[i];

		if (quote) {
			if (c == '\\' && quote == '"' && i + 1 < l->len)
				i++;
			else if (c == quote || c == '\n')
				quote = 0;
		} else if (c == '"' || c == '\'') {
			if (i == 0 || strchr(" \t\n[{,:", l->text[i - 1]))
				quote = c;
		} else if (c == '#' && (i == 0 || strchr(" \t\n", l->text[i - 1]))) {
			while (i + 1 < l->len && l->text[i + 1] != '\n')
				i++;
		} else if (c == '[' || c == '{') {
			if (++depth > NODE_MAX_DEPTH) {
				struct pos at = offset_pos(l, i);
				return pv_error_set(l->err,
				                    "%s:%d:%d: nested deeper than %d levels",
				                    l->file, at.line, at.col, NODE_MAX_DEPTH);
			}
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		} else if (c == '\n' && depth == 0) {
			quote = 0;
		}
	}
	return 0;
}

int node_load_string(struct node **out, const char *name, const char *text, size_t len,
                     struct pv_error *err)
{
	struct loader l = {0};
	yaml_parser_t parser;
	yaml_event_t ev;
	int ret = -1, docs = 0;
	bool done = false;

	*out = NULL;
	l.file = pv_intern(name ? name : "<string>");
	l.err = err;
	l.text = text;
	l.len = len;
	if (flow_too_deep(&l) < 0)
		return -1;
	if (!yaml_parser_initialize(&parser))
		return pv_error_set(err, "%s: cannot initialise the YAML parser", l.file);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done) {
		struct node *n;
		struct pos p;

		if (!yaml_parser_parse(&parser, &ev)) {
			parser_error(&l, &parser);
			goto out;
		}
		p = mark_pos(&l, ev.start_mark);
		if (has_anchor(&ev)) {
			load_error(&l, ev.start_mark, "%s",
			           "anchors and aliases are not supported");
			yaml_event_delete(&ev);
			goto out;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				load_error(&l, ev.start_mark, "%s",
				           "more than one YAML document is not supported");
				yaml_event_delete(&ev);
				goto out;
			}
			break;
		case YAML_ALIAS_EVENT:
			load_error(&l, ev.start_mark, "%s",
			           "anchors and aliases are not supported");
			yaml_event_delete(&ev);
			goto out;
		case YAML_SCALAR_EVENT:
			n = node_alloc(NODE_SCALAR, &p);
			n->scalar =
			    xstrndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
			n->quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE &&
			            ev.data.scalar.style != YAML_ANY_SCALAR_STYLE;
			n->text_pos = text_start(&l, &ev, text, len);
			if (strlen(n->scalar) != ev.data.scalar.length) {
				node_free(n);
				load_error(&l, ev.start_mark, "%s",
				           "NUL characters in strings are not supported");
				yaml_event_delete(&ev);
				goto out;
			}
			if (attach(&l, n) < 0) {
				yaml_event_delete(&ev);
				goto out;
			}
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (l.depth >= NODE_MAX_DEPTH) {
				pv_error_set(err, "%s:%d:%d: nested deeper than %d levels", l.file,
				             p.line, p.col, NODE_MAX_DEPTH);
				yaml_event_delete(&ev);
				goto out;
			}
			n = node_alloc(ev.type == YAML_SEQUENCE_START_EVENT ? NODE_SEQ : NODE_MAP,
			               &p);
			if (attach(&l, n) < 0) {
				yaml_event_delete(&ev);
				goto out;
			}
			push(&l, n);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (l.depth > 0)
				pop(&l);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	if (!l.root) {
		struct pos start = {l.file, 1, 1};
		l.root = node_new_map(&start);
	}
	*out = l.root;
	l.root = NULL; /* transferred */
	ret = 0;
out:
	while (l.depth > 0)
		pop(&l);
	free(l.stack);
	node_free(l.root);
	yaml_parser_delete(&parser);
	return ret;
}

int node_load_file(struct node **out, const char *path, struct pv_error *err)
{
	char *text = NULL;
	size_t len = 0;
	int ret;

	*out = NULL;
	if (pv_read_file(path, &text, &len, 0, err) < 0)
		return -1;
	ret = node_load_string(out, path, text, len, err);
	free(text);
	return ret;
}
