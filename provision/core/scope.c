/*
 * scope.c - ordered (name, value) pairs; a later set replaces in place.
 */
#include <stdlib.h>
#include <string.h>

#include "provision/scope.h"

void scope_init(struct scope *s)
{
	s->names = NULL;
	s->values = NULL;
	s->owned = NULL;
	s->n = 0;
	s->alloc = 0;
	memset(&s->idx, 0, sizeof(s->idx));
}

void scope_release(struct scope *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->names[i]);
		if (s->owned[i])
			node_free((struct node *)s->values[i]);
	}
	free(s->names);
	free(s->values);
	free(s->owned);
	pv_index_release(&s->idx);
	scope_init(s);
}

static void scope_put(struct scope *s, const char *name, const struct node *v, bool owned)
{
	size_t alloc = s->alloc;
	long i = pv_index_find(&s->idx, s->names, name);

	if (i >= 0) {
		if (s->owned[i] && s->values[i] != v)
			node_free((struct node *)s->values[i]);
		s->values[i] = v;
		s->owned[i] = owned;
		return;
	}
	PV_GROW(s->names, s->n + 1, alloc);
	if (alloc != s->alloc) {
		s->values = xrealloc(s->values, alloc * sizeof(*s->values));
		s->owned = xrealloc(s->owned, alloc * sizeof(*s->owned));
		s->alloc = alloc;
	}
	s->names[s->n] = xstrdup(name);
	s->values[s->n] = v;
	s->owned[s->n] = owned;
	pv_index_add(&s->idx, s->names, s->n);
	s->n++;
}

void scope_set(struct scope *s, const char *name, const struct node *v)
{
	scope_put(s, name, v, false);
}

void scope_set_owned(struct scope *s, const char *name, struct node *v)
{
	scope_put(s, name, v, true);
}

void scope_set_str(struct scope *s, const char *name, const char *value)
{
	scope_put(s, name, node_new_scalar(value, NULL), true);
}

void scope_set_map(struct scope *s, const struct node *map)
{
	if (!map || map->kind != NODE_MAP)
		return;
	for (size_t i = 0; i < map->n; i++)
		scope_put(s, map->keys[i], map->items[i], false);
}

const struct node *scope_get(const struct scope *s, const char *name)
{
	long i = pv_index_find(&s->idx, s->names, name);

	return i >= 0 ? s->values[i] : NULL;
}

void scope_copy(struct scope *dst, const struct scope *src)
{
	for (size_t i = 0; i < src->n; i++)
		scope_put(dst, src->names[i], src->values[i], false);
}
