/*
 * inventory.c - load inventory.yml into typed structs and check it.
 *
 * Every structural problem is reported with its position; the inventory
 * is returned only when the whole file is valid.
 */
#include <ctype.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "provision/environment.h"
#include "provision/inventory.h"
#include "provision/report.h"
#include "provision/vars.h"

static const char *const top_keys[] = {
    "project",   "ssh",     "vars",         "secrets",
    "providers", "layouts", "environments", "default_environment"};
static const char *const ssh_keys[] = {"user", "private_key", "port", "rollback_after"};
static const char *const layout_keys[] = {"provider", "vars", "servers", "snapshot_keep",
                                          "lb_pair"};
static const char *const server_keys[] = {
    "roles", "vars",    "type",     "image",           "location",        "region",
    "size",  "address", "host_key", "private_address", "ssh_user",        "volumes",
    "cpus",  "memory",  "disk",     "container",       "provider_backups"};
static const char *const provider_names[] = {"local", "vm", "static", "hetzner", "digitalocean"};

#define PROJECT_MAX 24
#define HOST_NAME_MAX_LEN 31
#define USER_NAME_MAX 32

/* [a-z][a-z0-9-]{0,max-1} */
static bool is_host_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (size_t i = 1; i < n; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	}
	return true;
}

/* [a-zA-Z_][a-zA-Z0-9_-]* */
static bool is_var_name(const char *s)
{
	if (!(isalpha((unsigned char)s[0]) || s[0] == '_') || !isascii((unsigned char)s[0]))
		return false;
	for (size_t i = 1; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isascii(c) || !(isalnum(c) || c == '_'))
			return false;
	}
	return true;
}

/* [a-z_][a-z0-9_-]* */
static bool is_user_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > USER_NAME_MAX || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* [A-Za-z_][A-Za-z0-9_]* */
static bool is_env_name(const char *s)
{
	if (!*s || !isascii((unsigned char)s[0]) || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isascii(c) || !(isalnum(c) || c == '_'))
			return false;
	}
	return true;
}

/* A copy of untrusted text fit for a one-line message: control characters
 * become '?', long text is cut. */
static char *shown(const char *s)
{
	size_t n = strlen(s), max = 64;
	char *out = xstrndup(s, n > max ? max : n);

	for (char *p = out; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	if (n > max) {
		char *longer = xasprintf("%s...", out);
		free(out);
		out = longer;
	}
	return out;
}

/* An unquoted scalar that YAML would read as a number, boolean or null. */
static bool is_plain_string(const struct node *n)
{
	static const char *const words[] = {"true", "false", "yes", "no", "on", "off"};
	const char *s;

	if (!n || n->kind != NODE_SCALAR)
		return false;
	if (n->quoted)
		return true;
	if (node_is_null(n))
		return false;
	for (size_t i = 0; i < PV_ARRAY_SIZE(words); i++) {
		if (strcasecmp(n->scalar, words[i]) == 0)
			return false;
	}
	s = n->scalar;
	if (*s == '+' || *s == '-')
		s++;
	if ((*s >= '0' && *s <= '9') || (*s == '.' && s[1] >= '0' && s[1] <= '9')) {
		for (; *s; s++) {
			if (!((*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == 'e' ||
			      *s == 'E' || *s == '+' || *s == '-'))
				return true;
		}
		return false;
	}
	return true;
}

/* Describe a value for a type error: 'abc', a list, a mapping, nothing. */
static char *describe(const struct node *n)
{
	char *s, *r;

	if (!n || node_is_null(n))
		return xstrdup("nothing");
	if (n->kind != NODE_SCALAR)
		return xstrdup(node_kind_name(n));
	s = shown(n->scalar);
	r = xasprintf("'%s'", s);
	free(s);
	return r;
}

/*
 * An optional mapping: NULL when absent or null; a type error (and NULL)
 * when it is something else.
 */
static const struct node *opt_map(const struct node *v, const char *what, struct diags *d)
{
	char *desc;

	if (!v || node_is_null(v))
		return NULL;
	if (v->kind == NODE_MAP)
		return v;
	desc = describe(v);
	diags_add(d, &v->pos, "%s must be a mapping, not %s", what, desc);
	free(desc);
	return NULL;
}

/*
 * True when map has an unknown key that looks like a misspelling of key: the
 * unknown-key message already says what is wrong, a "missing key" would repeat it.
 */
static bool misspelled(const struct node *map, const char *key, const char *const *allowed,
                       size_t n_allowed)
{
	if (!map || map->kind != NODE_MAP)
		return false;
	for (size_t i = 0; i < map->n; i++) {
		const char *near;
		bool known = false;

		for (size_t j = 0; j < n_allowed && !known; j++)
			known = strcmp(map->keys[i], allowed[j]) == 0;
		if (known)
			continue;
		near = pv_nearest(map->keys[i], allowed, n_allowed);
		if (near && strcmp(near, key) == 0)
			return true;
	}
	return false;
}

static void check_var_names(const struct node *vars, const char *where, struct diags *d)
{
	if (!vars)
		return;
	for (size_t i = 0; i < vars->n; i++) {
		char *s;

		if (is_var_name(vars->keys[i]))
			continue;
		s = shown(vars->keys[i]);
		diags_add(d, &vars->key_pos[i],
		          "invalid variable name '%s' in %s: use letters, digits and '_', "
		          "starting with a letter or '_'",
		          s, where);
		free(s);
	}
}

static void check_ssh(struct inventory *inv, const struct node *ssh, struct diags *d)
{
	const struct node *v;

	if (!ssh)
		return;
	node_check_keys(ssh, ssh_keys, PV_ARRAY_SIZE(ssh_keys), "'ssh'", d);
	v = node_get(ssh, "user");
	if (v) {
		if (v->kind != NODE_SCALAR || !is_user_name(v->scalar)) {
			char *desc = describe(v);
			diags_add(
			    d, &v->pos,
			    "invalid user name %s in 'ssh': use lowercase letters, digits, '_' "
			    "and '-', starting with a letter or '_'",
			    desc);
			free(desc);
		} else {
			free(inv->ssh_user);
			inv->ssh_user = xstrdup(v->scalar);
		}
	}
	v = node_get(ssh, "private_key");
	if (v) {
		if (v->kind != NODE_SCALAR || node_is_null(v) || !v->scalar[0]) {
			char *desc = describe(v);
			diags_add(d, &v->pos, "'private_key' in 'ssh' must be a file name, not %s",
			          desc);
			free(desc);
		} else {
			char *p = pv_expand_home(v->scalar);
			if (p[0] != '/' && inv->dir) {
				char *abs = pv_path_join(inv->dir, p);
				free(p);
				p = abs;
			}
			inv->ssh_private_key = p;
		}
	}
	v = node_get(ssh, "port");
	if (v) {
		long long port;

		if (node_to_int(v, &port, "'port' in 'ssh'", d) == 0) {
			if (port < 1 || port > 65535)
				diags_add(d, &v->pos,
				          "'port' in 'ssh' must be between 1 and 65535, not %lld",
				          port);
			else
				inv->ssh_port = (int)port;
		}
	}
	v = node_get(ssh, "rollback_after");
	if (v) {
		long long s;

		if (node_to_int(v, &s, "'rollback_after' in 'ssh'", d) == 0) {
			if (s < 10 || s > 3600)
				diags_add(d, &v->pos,
				          "'rollback_after' in 'ssh' must be between 10 and 3600 "
				          "seconds, not %lld",
				          s);
			else
				inv->ssh_rollback_after = (int)s;
		}
	}
}

static void check_secrets(const struct node *secrets, const struct node *vars, struct diags *d)
{
	if (!secrets)
		return;
	for (size_t i = 0; i < secrets->n; i++) {
		const struct node *v = secrets->items[i];
		const char *name = secrets->keys[i];
		char *s = shown(name);

		if (!is_var_name(name)) {
			diags_add(d, &secrets->key_pos[i],
			          "invalid secret name '%s': use letters, digits and '_', "
			          "starting with a letter or '_'",
			          s);
		} else if (node_get(vars, name)) {
			struct pos vp = node_key_pos(vars, name);
			diags_add(d, &secrets->key_pos[i],
			          "secret '%s' has the same name as a variable (line %d)", s,
			          vp.line);
		}
		/* The value is not echoed: it may be the secret itself, put there by mistake. */
		if (!v || v->kind != NODE_SCALAR || !secret_ref_valid(v->scalar))
			diags_add(
			    d, v ? &v->pos : &secrets->key_pos[i],
			    "invalid reference for secret '%s': use 'env:NAME' or 'file:PATH'", s);
		free(s);
	}
}

static void check_providers(const struct node *providers, struct diags *d)
{
	if (!providers)
		return;
	for (size_t i = 0; i < providers->n; i++) {
		const struct node *v = providers->items[i];
		const char *name = providers->keys[i];
		bool known = false;
		char *s = shown(name);

		for (size_t j = 0; j < PV_ARRAY_SIZE(provider_names) && !known; j++)
			known = strcmp(name, provider_names[j]) == 0;
		if (!known) {
			const char *near =
			    pv_nearest(name, provider_names, PV_ARRAY_SIZE(provider_names));
			if (near)
				diags_add(
				    d, &providers->key_pos[i],
				    "unknown provider '%s' in 'providers' (did you mean '%s'?)", s,
				    near);
			else
				diags_add(d, &providers->key_pos[i],
				          "unknown provider '%s' in 'providers' (providers: local, "
				          "vm, static, hetzner, digitalocean)",
				          s);
		} else {
			char *what = xasprintf("provider '%s'", name);
			opt_map(v, what, d);
			vars_check_keys(v, name, d);
			free(what);
		}
		free(s);
	}
}

static void load_roles(struct inv_server *srv, const struct node *map, const struct pos *kp,
                       struct diags *d)
{
	const struct node *v = node_get(map, "roles");
	const struct node *const *items;
	size_t n;
	char *desc;

	if (!v) {
		if (!misspelled(map, "roles", server_keys, PV_ARRAY_SIZE(server_keys)))
			diags_add(d, kp, "missing key 'roles' in server '%s'", srv->name);
		return;
	}
	if (v->kind == NODE_SCALAR && is_plain_string(v) && *v->scalar) {
		/* one name is still a list: a string here is most often a list gone wrong */
		desc = shown(v->scalar);
		diags_add(
		    d, &v->pos,
		    "'roles' in server '%s' must be a list of role names, not a string (write "
		    "[%s])",
		    srv->name, desc);
		free(desc);
		return;
	} else if (v->kind == NODE_SEQ && v->n > 0) {
		items = (const struct node *const *)v->items;
		n = v->n;
	} else if (v->kind == NODE_SEQ || node_is_null(v)) {
		diags_add(d, &v->pos, "'roles' in server '%s' must list at least one role",
		          srv->name);
		return;
	} else {
		desc = describe(v);
		diags_add(d, &v->pos, "'roles' in server '%s' must be a list of role names, not %s",
		          srv->name, desc);
		free(desc);
		return;
	}
	srv->roles = xcalloc(n, sizeof(*srv->roles));
	srv->role_pos = xcalloc(n, sizeof(*srv->role_pos));
	for (size_t i = 0; i < n; i++) {
		const struct node *it = items[i];
		bool dup = false;

		if (!is_plain_string(it) || !it->scalar[0]) {
			desc = describe(it);
			diags_add(d, &it->pos,
			          "'roles' in server '%s' must be a list of role names, not a list "
			          "containing %s",
			          srv->name, desc);
			free(desc);
			continue;
		}
		for (size_t j = 0; j < srv->n_roles && !dup; j++)
			dup = strcmp(srv->roles[j], it->scalar) == 0;
		if (dup) {
			desc = shown(it->scalar);
			diags_add(d, &it->pos, "role '%s' is listed twice in server '%s'", desc,
			          srv->name);
			free(desc);
			continue;
		}
		srv->roles[srv->n_roles] = xstrdup(it->scalar);
		srv->role_pos[srv->n_roles] = it->pos;
		srv->n_roles++;
	}
	/* a server with volumes formats and mounts them first: role volumes (volume.h) */
	const struct node *vols = node_get(map, "volumes");
	bool listed = false;
	for (size_t j = 0; j < srv->n_roles && !listed; j++)
		listed = !strcmp(srv->roles[j], "volumes");
	if (vols && vols->kind == NODE_SEQ && vols->n && !listed) {
		srv->roles = xrealloc(srv->roles, (srv->n_roles + 1) * sizeof(*srv->roles));
		srv->role_pos =
		    xrealloc(srv->role_pos, (srv->n_roles + 1) * sizeof(*srv->role_pos));
		memmove(srv->roles + 1, srv->roles, srv->n_roles * sizeof(*srv->roles));
		memmove(srv->role_pos + 1, srv->role_pos, srv->n_roles * sizeof(*srv->role_pos));
		srv->roles[0] = xstrdup("volumes");
		srv->role_pos[0] = node_key_pos(map, "volumes");
		srv->n_roles++;
	}
}

/*
 * The mapping of a server or layout with its keys checked; NULL when it is
 * empty or not a mapping (*bad then says whether that was an error).
 */
static const struct node *checked_map(const struct node *v, const char *const *keys, size_t n_keys,
                                      const char *where, bool *bad, struct diags *d)
{
	*bad = false;
	if (v && !node_is_null(v) && v->kind != NODE_MAP) {
		char *desc = describe(v);
		diags_add(d, &v->pos, "%s must be a mapping, not %s", where, desc);
		free(desc);
		*bad = true;
		return NULL;
	}
	if (!v || v->kind != NODE_MAP)
		return NULL;
	node_check_keys(v, keys, n_keys, where, d);
	return v;
}

static void load_server(struct inv_server *srv, const struct node *v, const struct pos *kp,
                        struct diags *d)
{
	char *where, *vwhere;
	bool bad;

	srv->node = v;
	where = xasprintf("server '%s'", srv->name);
	v = checked_map(v, server_keys, PV_ARRAY_SIZE(server_keys), where, &bad, d);
	if (bad) {
		free(where);
		return;
	}
	load_roles(srv, v, kp, d);
	vars_check_keys(v, "server", d);
	vwhere = xasprintf("'vars' in %s", where);
	srv->vars = opt_map(node_get(v, "vars"), vwhere, d);
	check_var_names(srv->vars, where, d);
	free(vwhere);
	free(where);
}

static void load_layout(struct inv_layout *l, const struct node *v, const struct pos *kp,
                        struct diags *d)
{
	const struct node *pv, *servers;
	char *where, *vwhere;
	bool bad;

	l->node = v;
	l->provider = xstrdup("local");
	l->provider_pos = *kp;
	where = xasprintf("layout '%s'", l->name);
	v = checked_map(v, layout_keys, PV_ARRAY_SIZE(layout_keys), where, &bad, d);
	if (bad) {
		free(where);
		return;
	}

	pv = node_get(v, "provider");
	if (pv) {
		bool known = false;

		for (size_t j = 0; pv->kind == NODE_SCALAR && j < PV_ARRAY_SIZE(provider_names);
		     j++)
			known = known || strcmp(pv->scalar, provider_names[j]) == 0;
		if (known) {
			free(l->provider);
			l->provider = xstrdup(pv->scalar);
			l->provider_pos = pv->pos;
		} else {
			char *desc = describe(pv);
			const char *near = pv->kind == NODE_SCALAR
			                       ? pv_nearest(pv->scalar, provider_names,
			                                    PV_ARRAY_SIZE(provider_names))
			                       : NULL;
			if (near)
				diags_add(d, &pv->pos,
				          "unknown provider %s in %s (did you mean '%s'?)", desc,
				          where, near);
			else
				diags_add(d, &pv->pos,
				          "unknown provider %s in %s (providers: local, vm, "
				          "static, hetzner, "
				          "digitalocean)",
				          desc, where);
			free(desc);
		}
	}

	vwhere = xasprintf("'vars' in %s", where);
	l->vars = opt_map(node_get(v, "vars"), vwhere, d);
	check_var_names(l->vars, where, d);
	free(vwhere);

	servers = node_get(v, "servers");
	if (!servers) {
		if (!misspelled(v, "servers", layout_keys, PV_ARRAY_SIZE(layout_keys)))
			diags_add(d, kp, "missing key 'servers' in %s", where);
	} else if (servers->kind != NODE_MAP || servers->n == 0) {
		char *desc = describe(servers);
		if (servers->kind == NODE_MAP || node_is_null(servers))
			diags_add(d, &servers->pos, "'servers' in %s must name at least one server",
			          where);
		else
			diags_add(d, &servers->pos, "'servers' in %s must be a mapping, not %s",
			          where, desc);
		free(desc);
	} else {
		l->servers = xcalloc(servers->n, sizeof(*l->servers));
		for (size_t i = 0; i < servers->n; i++) {
			struct inv_server *srv = &l->servers[l->n_servers];
			const char *name = servers->keys[i];

			if (!is_host_name(name, HOST_NAME_MAX_LEN)) {
				char *s = shown(name);
				diags_add(d, &servers->key_pos[i],
				          "invalid server name '%s' in %s: use lowercase letters, "
				          "digits and '-', starting with a letter, at most %d "
				          "characters",
				          s, where, HOST_NAME_MAX_LEN);
				free(s);
				continue;
			}
			srv->name = xstrdup(name);
			srv->pos = servers->key_pos[i];
			l->n_servers++;
			load_server(srv, servers->items[i], &servers->key_pos[i], d);
		}
	}
	free(where);
}

static void load_layouts(struct inventory *inv, const struct node *root, struct diags *d)
{
	const struct node *layouts = node_get(root, "layouts");

	if (!layouts) {
		if (!misspelled(root, "layouts", top_keys, PV_ARRAY_SIZE(top_keys)))
			diags_add(d, &root->pos, "missing key 'layouts' in the inventory");
		return;
	}
	if (layouts->kind != NODE_MAP || layouts->n == 0) {
		char *desc = describe(layouts);
		if (layouts->kind == NODE_MAP || node_is_null(layouts))
			diags_add(d, &layouts->pos, "'layouts' must name at least one layout");
		else
			diags_add(d, &layouts->pos, "'layouts' must be a mapping, not %s", desc);
		free(desc);
		return;
	}
	inv->layouts = xcalloc(layouts->n, sizeof(*inv->layouts));
	for (size_t i = 0; i < layouts->n; i++) {
		struct inv_layout *l = &inv->layouts[inv->n_layouts];
		const char *name = layouts->keys[i];

		if (!is_host_name(name, HOST_NAME_MAX_LEN)) {
			char *s = shown(name);
			diags_add(
			    d, &layouts->key_pos[i],
			    "invalid layout name '%s': use lowercase letters, digits and '-', "
			    "starting with a letter, at most %d characters",
			    s, HOST_NAME_MAX_LEN);
			free(s);
			continue;
		}
		l->name = xstrdup(name);
		l->pos = layouts->key_pos[i];
		inv->n_layouts++;
		load_layout(l, layouts->items[i], &layouts->key_pos[i], d);
	}
}

/* Parse the "file:line:col: " prefix of a message for sorting; 0 when absent. */
static void msg_pos(const char *m, long *line, long *col)
{
	const char *p = strstr(m, ": ");
	const char *c2, *c1;

	*line = 0;
	*col = 0;
	if (!p)
		return;
	/* walk back over ":col" and ":line" */
	c2 = p;
	while (c2 > m && c2[-1] >= '0' && c2[-1] <= '9')
		c2--;
	if (c2 == p || c2 == m || c2[-1] != ':')
		return;
	c1 = c2 - 1;
	while (c1 > m && c1[-1] >= '0' && c1[-1] <= '9')
		c1--;
	if (c1 == c2 - 1 || c1 == m || c1[-1] != ':')
		return;
	*line = strtol(c1, NULL, 10);
	*col = strtol(c2, NULL, 10);
}

/* Put the messages from index start on in file order (stable). */
static void sort_diags(struct diags *d, size_t start)
{
	for (size_t i = start + 1; i < d->n; i++) {
		char *m = d->msgs[i];
		long l, c;
		size_t j = i;

		msg_pos(m, &l, &c);
		while (j > start) {
			long pl, pc;

			msg_pos(d->msgs[j - 1], &pl, &pc);
			if (pl < l || (pl == l && pc <= c))
				break;
			d->msgs[j] = d->msgs[j - 1];
			j--;
		}
		d->msgs[j] = m;
	}
}

static void load_tree(struct inventory *inv, const struct node *root, struct diags *d);
/* Set while the other environments are checked (single-threaded: at load time). */
static bool env_others_done;

int inventory_load(struct inventory **out, const char *path, struct diags *d)
{
	return inventory_load_env(out, path, NULL, d);
}

int inventory_load_env(struct inventory **out, const char *path, const char *env, struct diags *d)
{
	struct inventory *inv = xcalloc(1, sizeof(*inv));
	struct pv_error err = {{0}};
	const struct node *root, *v;
	size_t start = d->n;
	char *dircopy;
	int ret = -1;

	*out = NULL;
	inv->path = xstrdup(path);
	inv->ssh_user = xstrdup("admin");
	inv->ssh_port = 22;
	inv->ssh_rollback_after = 300;
	if (node_load_file(&inv->root, path, &err) < 0) {
		diags_add(d, NULL, "%s", err.msg);
		goto out;
	}
	dircopy = xstrdup(path);
	inv->dir = realpath(dirname(dircopy), NULL);
	free(dircopy);
	if (!inv->dir) {
		diags_add(d, NULL, "cannot resolve the directory of '%s'", path);
		goto out;
	}
	root = inv->root;
	if (root->kind != NODE_MAP) {
		diags_add(d, &root->pos, "the inventory must be a mapping, not %s",
		          node_kind_name(root));
		goto out;
	}
	node_check_keys(root, top_keys, PV_ARRAY_SIZE(top_keys), "the inventory", d);
	size_t before_env = d->n;
	if (!env_others_done) /* checked once, by the load that checks the others */
		env_check(root, d);
	bool env_bad = d->n > before_env;
	if (!env_bad && env_find(root, env, path, d) < 0) {
		sort_diags(d, start);
		goto out;
	}
	/* the rest reads the selected environment: the tree with its overrides merged
	 * (the layouts as written when the overrides themselves are broken) */
	inv->env = xstrdup(env ? env : env_bad ? "default" : env_default(root));
	inv->env_root = env_merge(root, env_bad ? NULL : inv->env);
	load_tree(inv, inv->env_root, d);
	/* the other environments must be valid too: a mistake shows before it is selected */
	v = node_get(root, "environments");
	for (size_t i = 0; !env_bad && !env_others_done && v && v->kind == NODE_MAP && i < v->n;
	     i++) {
		struct inventory *other;
		struct diags od;

		if (!strcmp(v->keys[i], inv->env))
			continue;
		diags_init(&od);
		env_others_done = true; /* no recursion */
		if (inventory_load_env(&other, path, v->keys[i], &od) == 0)
			inventory_free(other);
		env_others_done = false;
		for (size_t k = 0; k < od.n; k++) {
			bool seen = false;
			for (size_t m = start; m < d->n && !seen; m++)
				seen = !strcmp(d->msgs[m], od.msgs[k]);
			if (!seen)
				diags_add(d, NULL, "%s", od.msgs[k]);
		}
		diags_release(&od);
	}

	if (d->n > start) {
		sort_diags(d, start);
		goto out;
	}
	*out = inv;
	inv = NULL; /* transferred */
	ret = 0;
out:
	inventory_free(inv);
	return ret;
}

/* Everything below the top keys, read from root (the selected environment's tree). */
static void load_tree(struct inventory *inv, const struct node *root, struct diags *d)
{
	const struct node *v;

	v = node_get(root, "project");
	if (!v) {
		if (!misspelled(root, "project", top_keys, PV_ARRAY_SIZE(top_keys)))
			diags_add(d, &root->pos, "missing key 'project' in the inventory");
	} else if (v->kind != NODE_SCALAR || !is_host_name(v->scalar, PROJECT_MAX)) {
		char *desc = describe(v);
		diags_add(
		    d, &v->pos,
		    "invalid project name %s: use lowercase letters, digits and '-', starting "
		    "with a letter, at most %d characters",
		    desc, PROJECT_MAX);
		free(desc);
	} else {
		inv->project = xstrdup(v->scalar);
	}

	check_ssh(inv, opt_map(node_get(root, "ssh"), "'ssh'", d), d);
	inv->vars = opt_map(node_get(root, "vars"), "'vars'", d);
	check_var_names(inv->vars, "'vars'", d);
	inv->secrets = opt_map(node_get(root, "secrets"), "'secrets'", d);
	check_secrets(inv->secrets, inv->vars, d);
	inv->providers = opt_map(node_get(root, "providers"), "'providers'", d);
	check_providers(inv->providers, d);
	load_layouts(inv, root, d);
}

void inventory_free(struct inventory *inv)
{
	if (!inv)
		return;
	for (size_t i = 0; i < inv->n_layouts; i++) {
		struct inv_layout *l = &inv->layouts[i];

		for (size_t j = 0; j < l->n_servers; j++) {
			struct inv_server *s = &l->servers[j];

			for (size_t k = 0; k < s->n_roles; k++)
				free(s->roles[k]);
			free(s->roles);
			free(s->role_pos);
			free(s->name);
		}
		free(l->servers);
		free(l->name);
		free(l->provider);
	}
	free(inv->layouts);
	node_free(inv->root);
	node_free(inv->env_root);
	free(inv->env);
	free(inv->path);
	free(inv->dir);
	free(inv->project);
	free(inv->ssh_user);
	free(inv->ssh_private_key);
	free(inv);
}

const struct inv_layout *inventory_layout(const struct inventory *inv, const char *name)
{
	if (!inv || !name)
		return NULL;
	for (size_t i = 0; i < inv->n_layouts; i++) {
		if (strcmp(inv->layouts[i].name, name) == 0)
			return &inv->layouts[i];
	}
	return NULL;
}

bool inv_server_has_role(const struct inv_server *s, const char *role)
{
	for (size_t i = 0; i < s->n_roles; i++)
		if (strcmp(s->roles[i], role) == 0)
			return true;
	return false;
}

const struct inv_server *layout_server(const struct inv_layout *l, const char *name)
{
	if (!l || !name)
		return NULL;
	for (size_t i = 0; i < l->n_servers; i++) {
		if (strcmp(l->servers[i].name, name) == 0)
			return &l->servers[i];
	}
	return NULL;
}

const struct node *inventory_provider(const struct inventory *inv, const char *name)
{
	const struct node *v;

	if (!inv)
		return NULL;
	v = node_get(inv->providers, name);
	return v && v->kind == NODE_MAP ? v : NULL;
}

bool secret_ref_valid(const char *s)
{
	if (!s)
		return false;
	if (strncmp(s, "env:", 4) == 0)
		return is_env_name(s + 4);
	if (strncmp(s, "file:", 5) == 0)
		return s[5] != '\0';
	return false;
}

/* "file:line:col: " when p carries a position, else "". */
static char *pos_prefix(const struct pos *p)
{
	if (p && p->file && p->line > 0)
		return xasprintf("%s:%d:%d: ", p->file, p->line, p->col);
	return xstrdup("");
}

int secret_ref_resolve(char **out, const char *ref, const struct pos *p, struct pv_error *err)
{
	char *prefix = pos_prefix(p);
	char *path = NULL, *data = NULL;
	struct pv_error rerr;
	size_t len = 0;
	int ret = -1;

	*out = NULL;
	if (!secret_ref_valid(ref)) {
		pv_error_set(err, "%sinvalid secret reference: use 'env:NAME' or 'file:PATH'",
		             prefix);
		goto out;
	}
	if (ref[0] == 'e') {
		const char *v = getenv(ref + 4);

		if (!v || !*v) {
			pv_error_set(err, "%ssecret '%s' is not set", prefix, ref);
			goto out;
		}
		*out = xstrdup(v);
		ret = 0;
		goto out;
	}
	path = pv_expand_home(ref + 5);
	if (path[0] != '/') {
		char *base = xstrdup(p && p->file ? p->file : "./x");
		char *abs = pv_path_join(dirname(base), path);
		free(base);
		free(path);
		path = abs;
	}
	if (pv_read_file(path, &data, &len, (size_t)1 << 20, &rerr) < 0) {
		pv_error_set(err, "%ssecret '%s': %s", prefix, ref, rerr.msg);
		goto out;
	}
	if (len > 0 && data[len - 1] == '\n') {
		data[--len] = '\0';
		if (len > 0 && data[len - 1] == '\r')
			data[--len] = '\0';
	}
	if (len == 0) {
		pv_error_set(err, "%ssecret '%s' is empty ('%s')", prefix, ref, path);
		goto out;
	}
	if (strlen(data) != len) {
		pv_error_set(err, "%ssecret '%s' contains a NUL byte ('%s')", prefix, ref, path);
		goto out;
	}
	*out = data;
	data = NULL; /* transferred */
	ret = 0;
out:
	if (data) {
		pv_wipe(data, len);
		free(data);
	}
	free(path);
	free(prefix);
	return ret;
}

int inventory_secret(struct node **out, const struct inventory *inv, const char *name,
                     struct pv_error *err)
{
	const struct node *ref;
	struct node *n;
	char *value = NULL;

	*out = NULL;
	ref = inv ? node_get(inv->secrets, name) : NULL;
	if (!ref) {
		const char *near = NULL;

		if (inv && inv->secrets)
			near = pv_nearest(name, (const char *const *)inv->secrets->keys,
			                  inv->secrets->n);
		if (near)
			return pv_error_set(err, "unknown secret '%s' (did you mean '%s'?)", name,
			                    near);
		return pv_error_set(err, "unknown secret '%s'", name);
	}
	if (ref->kind != NODE_SCALAR)
		return pv_error_set(err, "%s:%d:%d: invalid reference for secret '%s'",
		                    ref->pos.file, ref->pos.line, ref->pos.col, name);
	if (secret_ref_resolve(&value, ref->scalar, &ref->pos, err) < 0)
		return -1;
	report_secret(value);
	n = node_new_scalar(value, &ref->pos);
	n->secret = true;
	n->quoted = true;
	pv_free_secret(value);
	*out = n;
	return 0;
}
