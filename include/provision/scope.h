/*
 * scope.h - variables visible while rendering a host's roles.
 *
 * A scope is an ordered list of (name, value) pairs; setting a name that is
 * already there replaces its value, so a scope is built by setting the
 * layers in rising priority: role defaults, inventory vars, layout vars,
 * server vars, then the facts the tool provides (server_name, address, ...).
 * Values are borrowed nodes unless set with scope_set_owned.
 */
#ifndef PROVISION_SCOPE_H
#define PROVISION_SCOPE_H

#include <stddef.h>

#include "provision/node.h"

struct scope {
	char **names;
	const struct node **values;
	bool *owned;
	size_t n;
	size_t alloc;
	struct pv_index idx; /* names -> position */
};

void scope_init(struct scope *s);
void scope_release(struct scope *s);
void scope_set(struct scope *s, const char *name, const struct node *v);
void scope_set_owned(struct scope *s, const char *name, struct node *v);
void scope_set_str(struct scope *s, const char *name, const char *value);
/* Set every key of a map node (borrowed). */
void scope_set_map(struct scope *s, const struct node *map);
const struct node *scope_get(const struct scope *s, const char *name);
/* Copy all entries of src into dst (borrowed values). */
void scope_copy(struct scope *dst, const struct scope *src);

#endif
