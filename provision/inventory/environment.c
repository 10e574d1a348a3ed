/*
 * environment.c - environments: one layout, several independent copies.
 *
 *   default_environment: production      # what commands use without -e
 *   environments:
 *     production: {}                     # no overrides: the layouts as written
 *     staging:
 *       description: a copy for testing
 *       vars: { domain: staging.example.com }
 *       secrets: { db_password: env:STAGING_DB_PASSWORD }
 *       providers: { local: { subnet: 10.213.9.0/24 } }
 *       layouts:
 *         phase2:
 *           vars: { ... }
 *           servers:
 *             web1: { type: cx22, vars: { ... } }   # keys replace, vars merge
 *             web3: ~                              # not in this environment
 *             web9: { roles: [base, ufw] }         # only in this environment
 *
 * The overrides of the selected environment are merged into a copy of the
 * inventory tree before it is read, so every value keeps the position it
 * was written at and every later check names the override's line.
 */
#include <stdlib.h>
#include <string.h>

#include "provision/environment.h"

static const char *const env_keys[] = {"description", "vars", "secrets", "providers", "layouts"};
static const char *const env_layout_keys[] = {"vars", "servers"};

/* The position of a map's i-th key. */
static const struct pos *kpos(const struct node *m, size_t i)
{
	return &m->key_pos[i];
}

static bool is_map(const struct node *n)
{
	return n && n->kind == NODE_MAP;
}

/* [a-z][a-z0-9-]{0,23}, as -e accepts */
bool env_name_valid(const char *e)
{
	size_t n = strlen(e);

	if (n == 0 || n > 24 || !(e[0] >= 'a' && e[0] <= 'z'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((e[i] >= 'a' && e[i] <= 'z') || (e[i] >= '0' && e[i] <= '9') || e[i] == '-'))
			return false;
	return true;
}

static void need_map(const struct node *v, const char *what, struct diags *d)
{
	if (v && !node_is_null(v) && v->kind != NODE_MAP)
		diags_add(d, &v->pos, "%s must be a mapping, not %s", what, node_kind_name(v));
}

static void check_layout_override(const struct node *base_layouts, const char *env,
                                  const char *lname, const struct pos *lpos, const struct node *v,
                                  struct diags *d)
{
	const struct node *base = node_get(base_layouts, lname);
	const struct node *base_servers = node_get(base, "servers");
	const struct node *servers;
	char *where;

	if (!base) {
		const char *near = is_map(base_layouts)
		                       ? pv_nearest(lname, (const char *const *)base_layouts->keys,
		                                    base_layouts->n)
		                       : NULL;
		if (near)
			diags_add(d, lpos,
			          "environment '%s' overrides layout '%s', which the inventory "
			          "does not have (did you mean '%s'?)",
			          env, lname, near);
		else
			diags_add(d, lpos,
			          "environment '%s' overrides layout '%s', which the inventory "
			          "does not have",
			          env, lname);
		return;
	}
	where = xasprintf("layout '%s' of environment '%s'", lname, env);
	need_map(v, where, d);
	if (!is_map(v)) {
		free(where);
		return;
	}
	node_check_keys(v, env_layout_keys, PV_ARRAY_SIZE(env_layout_keys), where, d);
	char *vw = xasprintf("'vars' in %s", where);
	need_map(node_get(v, "vars"), vw, d);
	free(vw);
	servers = node_get(v, "servers");
	char *sw = xasprintf("'servers' in %s", where);
	need_map(servers, sw, d);
	free(sw);
	for (size_t i = 0; is_map(servers) && i < servers->n; i++) {
		const char *sname = servers->keys[i];
		const struct node *sv = servers->items[i];
		bool in_base = node_get(base_servers, sname) != NULL;

		if (node_is_null(sv)) {
			/* removal: only of a server the layout has */
			if (!in_base) {
				const char *near =
				    is_map(base_servers)
				        ? pv_nearest(sname, (const char *const *)base_servers->keys,
				                     base_servers->n)
				        : NULL;
				diags_add(d, kpos(servers, i),
				          "environment '%s' removes server '%s', which layout '%s' "
				          "does not have%s%s%s",
				          env, sname, lname, near ? " (did you mean '" : "",
				          near ? near : "", near ? "'?)" : "");
			}
			continue;
		}
		if (sv->kind != NODE_MAP) {
			diags_add(d, &sv->pos,
			          "server '%s' in %s must be a mapping of overrides, or ~ to leave "
			          "it out, not %s",
			          sname, where, node_kind_name(sv));
			continue;
		}
		/* the keys themselves are checked once merged, as a server's keys */
	}
	free(where);
}

/* Nothing but a description: the layouts as written under another name. */
static bool no_overrides(const struct node *v)
{
	if (node_is_null(v))
		return true;
	for (size_t i = 0; is_map(v) && i < v->n; i++)
		if (strcmp(v->keys[i], "description"))
			return false;
	return is_map(v);
}

const char *env_default(const struct node *root)
{
	const struct node *v = node_get(root, "default_environment");

	return v && v->kind == NODE_SCALAR && env_name_valid(v->scalar) ? v->scalar : "default";
}

static void check_default(const struct node *root, const struct node *envs, struct diags *d)
{
	const struct node *v = node_get(root, "default_environment");
	const char *def = NULL;

	if (v && !node_is_null(v)) {
		if (v->kind != NODE_SCALAR || !env_name_valid(v->scalar) ||
		    !strcmp(v->scalar, "default")) {
			diags_add(d, &v->pos,
			          "'default_environment' must name an environment under "
			          "'environments' (lowercase letters, digits and '-')");
			return;
		}
		def = v->scalar;
		if (!is_map(envs) || !node_get(envs, def)) {
			const char *near =
			    is_map(envs) ? pv_nearest(def, (const char *const *)envs->keys, envs->n)
			                 : NULL;
			if (near)
				diags_add(
				    d, &v->pos,
				    "default_environment '%s' is not under 'environments' (did "
				    "you mean '%s'?)",
				    def, near);
			else
				diags_add(
				    d, &v->pos,
				    "default_environment '%s' is not under 'environments' (add "
				    "'%s: {}' there)",
				    def, def);
			return;
		}
	}
	for (size_t i = 0; is_map(envs) && i < envs->n; i++) {
		if (def || !env_name_valid(envs->keys[i]) || !no_overrides(envs->items[i]))
			continue;
		diags_add(d, kpos(envs, i),
		          "environment '%s' has no overrides, so it is the layouts as written "
		          "under a second name, with hosts of its own apart from those of "
		          "'default' (used without -e); set 'default_environment: %s' to make it "
		          "the one used without -e, or give it overrides",
		          envs->keys[i], envs->keys[i]);
	}
}

void env_check(const struct node *root, struct diags *d)
{
	const struct node *envs = node_get(root, "environments");
	const struct node *base_layouts = node_get(root, "layouts");

	check_default(root, envs, d);
	if (!envs || node_is_null(envs))
		return;
	if (envs->kind != NODE_MAP) {
		diags_add(d, &envs->pos, "'environments' must be a mapping, not %s",
		          node_kind_name(envs));
		return;
	}
	if (envs->n > ENV_MAX) {
		diags_add(d, kpos(envs, ENV_MAX), "too many environments (%zu; at most %d)",
		          envs->n, ENV_MAX);
		return;
	}
	for (size_t i = 0; i < envs->n; i++) {
		const char *name = envs->keys[i];
		const struct node *v = envs->items[i];
		char *where;

		if (!env_name_valid(name) || !strcmp(name, "default")) {
			diags_add(d, kpos(envs, i),
			          "invalid environment name '%.40s': use lowercase letters, digits "
			          "and '-', starting with a letter, at most 24 characters (and not "
			          "'default', the layouts as written when there is no "
			          "default_environment)",
			          name);
			continue;
		}
		if (node_is_null(v))
			continue;
		where = xasprintf("environment '%s'", name);
		need_map(v, where, d);
		if (!is_map(v)) {
			free(where);
			continue;
		}
		node_check_keys(v, env_keys, PV_ARRAY_SIZE(env_keys), where, d);
		const struct node *desc = node_get(v, "description");
		if (desc && desc->kind != NODE_SCALAR)
			diags_add(d, &desc->pos, "'description' in %s must be text, not %s", where,
			          node_kind_name(desc));
		static const char *const maps[] = {"vars", "secrets", "providers"};
		for (size_t k = 0; k < PV_ARRAY_SIZE(maps); k++) {
			char *w = xasprintf("'%s' in %s", maps[k], where);
			need_map(node_get(v, maps[k]), w, d);
			free(w);
		}
		const struct node *provs = node_get(v, "providers");
		for (size_t k = 0; is_map(provs) && k < provs->n; k++) {
			char *w = xasprintf("provider '%s' in %s", provs->keys[k], where);
			need_map(provs->items[k], w, d);
			free(w);
		}
		const struct node *ls = node_get(v, "layouts");
		char *lw = xasprintf("'layouts' in %s", where);
		need_map(ls, lw, d);
		free(lw);
		for (size_t k = 0; is_map(ls) && k < ls->n; k++)
			check_layout_override(base_layouts, name, ls->keys[k], kpos(ls, k),
			                      ls->items[k], d);
		free(where);
	}
}

int env_find(const struct node *root, const char *env, const char *path, struct diags *d)
{
	const struct node *envs = node_get(root, "environments");
	struct pos at = envs ? node_key_pos(root, "environments") : root->pos;

	if (!env || !strcmp(env, "default"))
		return 0;
	if (is_map(envs) && node_get(envs, env))
		return 0;
	if (!is_map(envs) || envs->n == 0) {
		diags_add(d, NULL,
		          "%s: unknown environment '%s': the inventory declares no environments "
		          "(add it under 'environments', or leave out -e)",
		          path, env);
		return -1;
	}
	const char *near = pv_nearest(env, (const char *const *)envs->keys, envs->n);
	struct buf list = BUF_INIT;
	for (size_t i = 0; i < envs->n; i++)
		buf_addf(&list, "%s%s", i ? ", " : "", envs->keys[i]);
	if (near)
		diags_add(d, &at, "unknown environment '%s' (did you mean '%s'?)", env, near);
	else
		diags_add(d, &at, "unknown environment '%s' (environments: %s)", env, list.s);
	buf_release(&list);
	return -1;
}

/* Set key in map to a copy of v, keeping the position the override was written at. */
static void put(struct node *map, const char *key, const struct pos *kp, const struct node *v)
{
	node_map_set(map, key, node_clone(v));
	for (size_t i = 0; i < map->n; i++)
		if (!strcmp(map->keys[i], key))
			map->key_pos[i] = *kp;
}

static void drop(struct node *map, const char *key)
{
	for (size_t i = 0; i < map->n; i++) {
		if (strcmp(map->keys[i], key))
			continue;
		node_free(map->items[i]);
		free(map->keys[i]);
		memmove(&map->items[i], &map->items[i + 1], (map->n - i - 1) * sizeof(*map->items));
		memmove(&map->keys[i], &map->keys[i + 1], (map->n - i - 1) * sizeof(*map->keys));
		memmove(&map->key_pos[i], &map->key_pos[i + 1],
		        (map->n - i - 1) * sizeof(*map->key_pos));
		map->n--;
		return;
	}
}

/* The mapping under key, made (empty) when absent or null; NULL when it is not a map. */
static struct node *child_map(struct node *map, const char *key, const struct pos *at)
{
	const struct node *c = node_get(map, key);

	if (!c || node_is_null(c)) {
		node_map_set(map, key, node_new_map(at));
		c = node_get(map, key);
	}
	return c->kind == NODE_MAP ? (struct node *)c : NULL;
}

/* Every key of over into dst, one by one. */
static void merge_keys(struct node *dst, const struct node *over)
{
	for (size_t i = 0; is_map(over) && i < over->n; i++)
		put(dst, over->keys[i], kpos(over, i), over->items[i]);
}

static void merge_server(struct node *servers, const char *name, const struct pos *kp,
                         const struct node *over)
{
	const struct node *cur = node_get(servers, name);

	if (node_is_null(over)) {
		drop(servers, name);
		return;
	}
	if (!cur || !is_map(cur)) {
		put(servers, name, kp, over);
		return;
	}
	for (size_t i = 0; i < over->n; i++) {
		if (!strcmp(over->keys[i], "vars") && is_map(over->items[i])) {
			struct node *vars =
			    child_map((struct node *)cur, "vars", &over->items[i]->pos);
			if (vars)
				merge_keys(vars, over->items[i]);
			else
				put((struct node *)cur, "vars", kpos(over, i), over->items[i]);
		} else {
			put((struct node *)cur, over->keys[i], kpos(over, i), over->items[i]);
		}
	}
}

struct node *env_merge(const struct node *root, const char *env)
{
	struct node *m = node_clone(root);
	const struct node *envs = node_get(root, "environments");
	const struct node *e = env && strcmp(env, "default") ? node_get(envs, env) : NULL;
	struct node *dst;

	if (!is_map(e))
		return m;
	static const char *const maps[] = {"vars", "secrets"};
	for (size_t k = 0; k < PV_ARRAY_SIZE(maps); k++) {
		const struct node *over = node_get(e, maps[k]);
		if (is_map(over) && (dst = child_map(m, maps[k], &over->pos)))
			merge_keys(dst, over);
	}
	const struct node *provs = node_get(e, "providers");
	for (size_t k = 0; is_map(provs) && k < provs->n; k++) {
		struct node *all = child_map(m, "providers", &provs->pos);
		struct node *one = all ? child_map(all, provs->keys[k], kpos(provs, k)) : NULL;
		if (one)
			merge_keys(one, provs->items[k]);
	}
	const struct node *ls = node_get(e, "layouts");
	struct node *layouts = (struct node *)node_get(m, "layouts");
	for (size_t k = 0; is_map(ls) && is_map(layouts) && k < ls->n; k++) {
		struct node *l = (struct node *)node_get(layouts, ls->keys[k]);
		const struct node *over = ls->items[k];
		if (!is_map(l) || !is_map(over))
			continue;
		const struct node *vars = node_get(over, "vars");
		if (is_map(vars) && (dst = child_map(l, "vars", &vars->pos)))
			merge_keys(dst, vars);
		const struct node *servers = node_get(over, "servers");
		struct node *bs = (struct node *)node_get(l, "servers");
		for (size_t i = 0; is_map(servers) && is_map(bs) && i < servers->n; i++)
			merge_server(bs, servers->keys[i], kpos(servers, i), servers->items[i]);
	}
	return m;
}
