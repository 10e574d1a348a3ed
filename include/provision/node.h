/*
 * node.h - YAML documents as trees with source positions.
 *
 * Every YAML file the tool reads (inventory, role.yml) is loaded with
 * libyaml into this tree.  Scalars stay text; their type is decided by the
 * schema that reads them (node_to_bool, node_to_int), so an error can name
 * the expected type and the position.  Anchors/aliases are rejected.
 *
 * The same tree type carries variable values: a variable is a node.
 * Secret values (resolved from env:/file: references) are scalars with
 * secret = true; everything that prints redacts them.
 */
#ifndef PROVISION_NODE_H
#define PROVISION_NODE_H

#include <stdbool.h>
#include <stddef.h>

#include "provision/common.h"

enum node_kind {
	NODE_SCALAR,
	NODE_SEQ,
	NODE_MAP,
};

struct node {
	enum node_kind kind;
	struct pos pos;
	/* NODE_SCALAR */
	struct pos text_pos; /* where the text itself starts: after a quote, below a '|' */
	char *scalar;
	bool quoted; /* written with quotes or as a block: always a string */
	bool secret; /* value came from a secret reference: redact it */
	/* NODE_SEQ: items[0..n); NODE_MAP: keys[i] -> items[i] */
	struct node **items;
	char **keys;
	struct pos *key_pos;
	size_t n;
	size_t alloc;
};

/* Lists and mappings nest at most this deep; deeper is an error, not a stack overflow. */
#define NODE_MAX_DEPTH 64

/*
 * Load a file / a string.  On a YAML error the message is "file:line:col: ...",
 * also for a NUL byte, invalid UTF-8 and a tab used for indentation.
 */
int node_load_file(struct node **out, const char *path, struct pv_error *err);
int node_load_string(struct node **out, const char *name, const char *text, size_t len,
                     struct pv_error *err);
void node_free(struct node *n);

/* Constructors (used for variables the tool itself provides). */
struct node *node_new_scalar(const char *s, const struct pos *p);
struct node *node_new_seq(const struct pos *p);
struct node *node_new_map(const struct pos *p);
void node_seq_append(struct node *seq, struct node *item); /* takes item */
void node_map_set(struct node *map, const char *key, struct node *v); /* takes v; replaces */
struct node *node_clone(const struct node *n);

/* Map lookup; NULL when absent or when map is not a map. */
const struct node *node_get(const struct node *map, const char *key);
/* Position of key in map, or of the map itself when the key is absent. */
struct pos node_key_pos(const struct node *map, const char *key);

/* An unquoted "", "~" or "null" scalar. */
bool node_is_null(const struct node *n);
/* Typed readers: "what" names the field in the error ("'mode' in file resource"). */
int node_to_bool(const struct node *n, bool *out, const char *what, struct diags *d);
int node_to_int(const struct node *n, long long *out, const char *what, struct diags *d);
/* A scalar as string (any scalar is accepted). */
int node_to_str(const struct node *n, const char **out, const char *what, struct diags *d);
/* A scalar or a sequence of scalars, as a list of strings (borrowed pointers). */
int node_to_strlist(const struct node *n, const char ***out, size_t *count, const char *what,
                    struct diags *d);

/* Human name of a node's kind for messages: "a string", "a list", "a mapping". */
const char *node_kind_name(const struct node *n);

/*
 * Check that map has only keys from allowed[]; report each unknown key as
 * "unknown key 'x' in <where> (did you mean 'y'?)".  Returns the number of
 * unknown keys.
 */
int node_check_keys(const struct node *map, const char *const *allowed, size_t n_allowed,
                    const char *where, struct diags *d);

#endif
