/*
 * role.c - finding, loading and ordering roles (roles/NAME/role.yml).
 *
 * A role is loaded once per run.  A role that failed to load keeps its
 * messages, so every later use reports the same problems again rather
 * than passing silently.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "provision/buf.h"
#include "provision/role.h"

static const char *const role_keys[] = {
    "description", "requires", "after",   "requires_one_of", "ports", "vars",  "resources",
    "handlers",    "health",   "metrics", "alerts",          "audit", "checks"};

/* A cache entry: the role, or the messages of its failed load. */
struct role_entry {
	struct role *role;
	char *name;
	struct diags problems;
};

void role_set_init(struct role_set *rs)
{
	memset(rs, 0, sizeof(*rs));
}

void role_set_add_dir(struct role_set *rs, const char *dir)
{
	rs->dirs = xrealloc(rs->dirs, (rs->n_dirs + 1) * sizeof(*rs->dirs));
	rs->dirs[rs->n_dirs++] = xstrdup(dir);
}

static void role_free(struct role *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->dir);
	free(r->path);
	free(r->description);
	for (size_t i = 0; i < r->n_requires; i++)
		free(r->requires[i]);
	free(r->requires);
	for (size_t i = 0; i < r->n_after; i++)
		free(r->after[i]);
	free(r->after);
	for (size_t i = 0; i < r->n_one_of; i++)
		free(r->one_of[i]);
	free(r->one_of);
	for (size_t i = 0; i < r->n_ports; i++)
		free(r->ports[i]);
	free(r->ports);
	for (size_t i = 0; i < r->n_decls; i++)
		var_decl_release(&r->decls[i]);
	free(r->decls);
	node_free(r->defaults);
	node_free(r->doc);
	free(r);
}

void role_set_release(struct role_set *rs)
{
	struct role_entry **entries = rs->entries;

	for (size_t i = 0; i < rs->n_dirs; i++)
		free(rs->dirs[i]);
	free(rs->dirs);
	for (size_t i = 0; i < rs->n_entries; i++) {
		role_free(entries[i]->role);
		free(entries[i]->name);
		diags_release(&entries[i]->problems);
		free(entries[i]);
	}
	free(rs->entries);
	memset(rs, 0, sizeof(*rs));
}

static bool role_name_ok(const char *s)
{
	size_t len = strlen(s);

	if (!len || len > 64 || !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == len;
}

/* Every role name found in the search path, for "did you mean". */
static void known_roles(const struct role_set *rs, char ***out, size_t *n)
{
	size_t alloc = 0;

	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < rs->n_dirs; i++) {
		DIR *d = opendir(rs->dirs[i]);
		struct dirent *e;

		if (!d)
			continue;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.' || !role_name_ok(e->d_name))
				continue;
			char *dir = pv_path_join(rs->dirs[i], e->d_name);
			char *file = pv_path_join(dir, "role.yml");
			bool ok = access(file, R_OK) == 0;
			free(dir);
			free(file);
			if (!ok)
				continue;
			PV_GROW(*out, *n + 1, alloc);
			(*out)[(*n)++] = xstrdup(e->d_name);
		}
		closedir(d);
	}
}

/* A list of strings at key (absent is fine); problems go to d. */
static int str_list(const struct node *doc, const char *key, const char *where, char ***out,
                    size_t *n, struct diags *d)
{
	const struct node *v = node_get(doc, key);

	*out = NULL;
	*n = 0;
	if (!v || node_is_null(v))
		return 0;
	if (v->kind != NODE_SEQ) {
		diags_add(d, &v->pos, "'%s' in %s must be a list, not %s", key, where,
		          node_kind_name(v));
		return -1;
	}
	*out = xcalloc(v->n ? v->n : 1, sizeof(**out));
	for (size_t i = 0; i < v->n; i++) {
		const struct node *it = v->items[i];
		if (it->kind != NODE_SCALAR || !*it->scalar) {
			diags_add(d, &it->pos, "items of '%s' in %s must be strings, not %s", key,
			          where, node_kind_name(it));
			return -1;
		}
		(*out)[(*n)++] = xstrdup(it->scalar);
	}
	return 0;
}

/* "80/tcp", "443", "60000:61000/udp", "on tailscale0", "on wg0 51820/udp", "6379/tcp layout" */
bool role_port_valid(const char *p)
{
	char *end;
	long a, b;

	if (!strncmp(p, "on ", 3)) {
		size_t il = strspn(p + 3, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                          "0123456789_.-");
		if (il == 0 || il > 15)
			return false;
		if (!p[3 + il])
			return true;
		if (p[3 + il] != ' ')
			return false;
		p += 4 + il;
	}
	/* keepalived's advertisements, from the layout's servers or the private network */
	if (!strcmp(p, "vrrp layout") || !strcmp(p, "vrrp private"))
		return true;
	a = strtol(p, &end, 10);
	b = a;

	if (end == p || a < 1 || a > 65535)
		return false;
	if (*end == ':') {
		const char *q = end + 1;
		b = strtol(q, &end, 10);
		if (end == q || b < a || b > 65535)
			return false;
	}
	/*
	 * " private": open to the private network only (the private_network
	 * variable); " layout": to the servers of the layout only;
	 * " monitoring": to the layout's servers with role monitoring
	 */
	if (!strncmp(end, "/tcp", 4) || !strncmp(end, "/udp", 4))
		end += 4;
	return !*end || !strcmp(end, " private") || !strcmp(end, " layout") ||
	       !strcmp(end, " monitoring");
}

/*
 * 'metrics' (what the role serves to Prometheus) and 'alerts' (the rules
 * that watch it): lists of mappings of one-line strings, checked here so
 * a typo fails at the role's line, not in Prometheus.
 */
static const char *const metrics_keys[] = {"job", "port", "path", "probe", "when"};
static const char *const metrics_required[] = {"job", NULL};
static const char *const alerts_keys[] = {"alert", "expr", "for", "severity", "summary", "runbook"};
static const char *const alerts_required[] = {"alert", "expr", "summary", "runbook", NULL};
/*
 * 'checks': what the types cannot say of the values (one variable needs
 * others, a URL must not have a query), refused at validate time: when
 * the condition holds, 'error' is reported at the line that sets 'var'.
 */
static const char *const checks_keys[] = {"when", "var", "error"};
static const char *const checks_required[] = {"when", "var", "error", NULL};

static const struct node *check_entries(const struct node *v, const char *key,
                                        const char *const *keys, size_t n_keys,
                                        const char *const *required, const char *where,
                                        struct diags *d)
{
	size_t before = d->n;
	char *what = xasprintf("item of '%s' in %s", key, where);

	if (v->kind != NODE_SEQ) {
		diags_add(d, &v->pos, "'%s' in %s must be a list, not %s", key, where,
		          node_kind_name(v));
		goto out;
	}
	for (size_t i = 0; i < v->n; i++) {
		const struct node *it = v->items[i];
		if (it->kind != NODE_MAP) {
			diags_add(d, &it->pos, "each %s must be a mapping, not %s", what,
			          node_kind_name(it));
			continue;
		}
		node_check_keys(it, keys, n_keys, what, d);
		for (size_t k = 0; required[k]; k++)
			if (!node_get(it, required[k]))
				diags_add(d, &it->pos, "%s needs '%s'", what, required[k]);
		for (size_t k = 0; k < it->n; k++) {
			const struct node *f = it->items[k];
			if (!strcmp(it->keys[k], "when"))
				continue;
			if (f->kind != NODE_SCALAR || !*f->scalar || strpbrk(f->scalar, "\n\r"))
				diags_add(d, &f->pos, "'%s' of an %s must be a one-line string",
				          it->keys[k], what);
		}
	}
out:
	free(what);
	return d->n == before ? v : NULL;
}

/* Prometheus' own rules: an alert name, a duration, a severity Alertmanager routes on. */
static void check_alert(const struct node *a, const char *where, struct diags *d)
{
	const struct node *f;

	if ((f = node_get(a, "alert")) && f->kind == NODE_SCALAR &&
	    (!isalpha((unsigned char)f->scalar[0]) ||
	     strspn(f->scalar, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
	         strlen(f->scalar)))
		diags_add(d, &f->pos, "alert name '%s' in %s must be letters, digits and '_'",
		          f->scalar, where);
	if ((f = node_get(a, "for")) && f->kind == NODE_SCALAR &&
	    (strspn(f->scalar, "0123456789smhd") != strlen(f->scalar) ||
	     !isdigit((unsigned char)f->scalar[0])))
		diags_add(d, &f->pos, "'for' of alert in %s must be a duration like 5m, not '%s'",
		          where, f->scalar);
	if ((f = node_get(a, "severity")) && f->kind == NODE_SCALAR &&
	    strcmp(f->scalar, "warning") && strcmp(f->scalar, "critical"))
		diags_add(d, &f->pos,
		          "'severity' of alert in %s must be warning or critical, not '%s'", where,
		          f->scalar);
}

/* The declarations of 'vars', and the map of their defaults. */
static void load_vars(struct role *r, const struct node *vars, struct diags *d)
{
	struct pos at = vars->pos;

	r->decls = xcalloc(vars->n ? vars->n : 1, sizeof(*r->decls));
	r->defaults = node_new_map(&at);
	for (size_t i = 0; i < vars->n; i++) {
		char *where = xasprintf("variable '%s' of role '%s'", vars->keys[i], r->name);
		struct var_decl *decl = &r->decls[r->n_decls];

		if (var_decl_parse(decl, vars->keys[i], &vars->key_pos[i], vars->items[i], where,
		                   d) == 0) {
			r->n_decls++;
			if (decl->dflt && !node_is_null(decl->dflt))
				node_map_set(r->defaults, decl->name, node_clone(decl->dflt));
		}
		free(where);
	}
	r->vars = r->defaults;
}

const struct var_decl *role_decl(const struct role *r, const char *name)
{
	for (size_t i = 0; i < r->n_decls; i++)
		if (!strcmp(r->decls[i].name, name))
			return &r->decls[i];
	return NULL;
}

static struct role *role_load(const char *name, const char *dir, struct diags *d)
{
	struct role *r = xcalloc(1, sizeof(*r));
	struct pv_error err = {{0}};
	char *where = xasprintf("role '%s'", name);
	size_t before = d->n;
	const struct node *v;

	r->name = xstrdup(name);
	r->dir = xstrdup(dir);
	r->path = pv_path_join(dir, "role.yml");
	if (node_load_file(&r->doc, r->path, &err) < 0) {
		diags_add(d, NULL, "%s", err.msg);
		goto fail;
	}
	if (r->doc->kind != NODE_MAP) {
		diags_add(d, &r->doc->pos, "%s must be a mapping, not %s", where,
		          node_kind_name(r->doc));
		goto fail;
	}
	node_check_keys(r->doc, role_keys, PV_ARRAY_SIZE(role_keys), where, d);
	v = node_get(r->doc, "description");
	if (v && v->kind != NODE_SCALAR)
		diags_add(d, &v->pos, "'description' in %s must be a string, not %s", where,
		          node_kind_name(v));
	else if (v)
		r->description = xstrdup(v->scalar);
	str_list(r->doc, "requires", where, &r->requires, &r->n_requires, d);
	for (size_t i = 0; i < r->n_requires; i++)
		if (!role_name_ok(r->requires[i]))
			diags_add(d, &node_get(r->doc, "requires")->items[i]->pos,
			          "invalid role name '%s' in 'requires' of %s", r->requires[i],
			          where);
	str_list(r->doc, "after", where, &r->after, &r->n_after, d);
	for (size_t i = 0; i < r->n_after; i++)
		if (!role_name_ok(r->after[i]))
			diags_add(d, &node_get(r->doc, "after")->items[i]->pos,
			          "invalid role name '%s' in 'after' of %s", r->after[i], where);
	str_list(r->doc, "requires_one_of", where, &r->one_of, &r->n_one_of, d);
	for (size_t i = 0; i < r->n_one_of; i++)
		if (!role_name_ok(r->one_of[i]))
			diags_add(d, &node_get(r->doc, "requires_one_of")->items[i]->pos,
			          "invalid role name '%s' in 'requires_one_of' of %s", r->one_of[i],
			          where);
	str_list(r->doc, "ports", where, &r->ports, &r->n_ports, d);
	for (size_t i = 0; i < r->n_ports; i++)
		/* a port naming a variable is checked once rendered, per server */
		if (!strstr(r->ports[i], "{{") && !role_port_valid(r->ports[i]))
			diags_add(d, &node_get(r->doc, "ports")->items[i]->pos,
			          "invalid port '%s' in %s (like 443/tcp, 53/udp, 8000:8100/tcp or "
			          "'on tailscale0' or 5432/tcp private or 6379/tcp layout)",
			          r->ports[i], where);
	v = node_get(r->doc, "vars");
	if (v && !node_is_null(v) && v->kind != NODE_MAP)
		diags_add(d, &v->pos, "'vars' in %s must be a mapping, not %s", where,
		          node_kind_name(v));
	else if (v && v->kind == NODE_MAP)
		load_vars(r, v, d);
	v = node_get(r->doc, "resources");
	if (v && !node_is_null(v) && v->kind != NODE_SEQ)
		diags_add(d, &v->pos, "'resources' in %s must be a list, not %s", where,
		          node_kind_name(v));
	else if (v && v->kind == NODE_SEQ)
		r->resources = v;
	v = node_get(r->doc, "handlers");
	if (v && !node_is_null(v) && v->kind != NODE_MAP)
		diags_add(d, &v->pos, "'handlers' in %s must be a mapping, not %s", where,
		          node_kind_name(v));
	else if (v && v->kind == NODE_MAP)
		r->handlers = v;
	v = node_get(r->doc, "health");
	if (v && !node_is_null(v) && v->kind != NODE_SEQ)
		diags_add(d, &v->pos, "'health' in %s must be a list, not %s", where,
		          node_kind_name(v));
	else if (v && v->kind == NODE_SEQ)
		r->health = v;
	v = node_get(r->doc, "metrics");
	if (v && !node_is_null(v))
		r->metrics = check_entries(v, "metrics", metrics_keys, PV_ARRAY_SIZE(metrics_keys),
		                           metrics_required, where, d);
	v = node_get(r->doc, "alerts");
	if (v && !node_is_null(v))
		r->alerts = check_entries(v, "alerts", alerts_keys, PV_ARRAY_SIZE(alerts_keys),
		                          alerts_required, where, d);
	for (size_t i = 0; v && v->kind == NODE_SEQ && i < v->n; i++)
		if (v->items[i]->kind == NODE_MAP)
			check_alert(v->items[i], where, d);
	v = node_get(r->doc, "checks");
	if (v && !node_is_null(v))
		r->checks = check_entries(v, "checks", checks_keys, PV_ARRAY_SIZE(checks_keys),
		                          checks_required, where, d);
	for (size_t i = 0; r->checks && i < r->checks->n; i++) {
		const struct node *var = node_get(r->checks->items[i], "var");
		if (!role_decl(r, var->scalar))
			diags_add(
			    d, &var->pos,
			    "check in %s names variable '%s', which the role does not declare",
			    where, var->scalar);
	}
	v = node_get(r->doc, "audit");
	if (v && !node_is_null(v) && v->kind != NODE_SEQ)
		diags_add(d, &v->pos, "'audit' in %s must be a list, not %s", where,
		          node_kind_name(v));
	else if (v && v->kind == NODE_SEQ)
		r->audit = v;
	if (d->n != before)
		goto fail;
	free(where);
	return r;
fail:
	free(where);
	role_free(r);
	return NULL;
}

static struct role_entry *entry_find(struct role_set *rs, const char *name)
{
	struct role_entry **entries = rs->entries;

	for (size_t i = 0; i < rs->n_entries; i++)
		if (!strcmp(entries[i]->name, name))
			return entries[i];
	return NULL;
}

static char *role_dir_find(const struct role_set *rs, const char *name)
{
	for (size_t i = 0; i < rs->n_dirs; i++) {
		char *dir = pv_path_join(rs->dirs[i], name);
		char *file = pv_path_join(dir, "role.yml");
		bool ok = access(file, R_OK) == 0;
		free(file);
		if (ok)
			return dir;
		free(dir);
	}
	return NULL;
}

struct role *role_get(struct role_set *rs, const char *name, const struct pos *at, struct diags *d)
{
	struct role_entry *e = entry_find(rs, name);

	if (!e) {
		char *dir = role_name_ok(name) ? role_dir_find(rs, name) : NULL;

		e = xcalloc(1, sizeof(*e));
		e->name = xstrdup(name);
		diags_init(&e->problems);
		if (dir) {
			e->role = role_load(name, dir, &e->problems);
		} else {
			char **names;
			size_t n;
			known_roles(rs, &names, &n);
			const char *near = pv_nearest(name, (const char *const *)names, n);
			if (near)
				diags_add(&e->problems, at,
				          "unknown role '%s' (did you mean '%s'?)", name, near);
			else
				diags_add(&e->problems, at,
				          "unknown role '%s' (no roles/%s/role.yml)", name, name);
			for (size_t i = 0; i < n; i++)
				free(names[i]);
			free(names);
		}
		free(dir);
		PV_GROW(rs->entries, rs->n_entries + 1, rs->alloc);
		rs->entries[rs->n_entries++] = e;
	}
	if (!e->role) {
		for (size_t i = 0; i < e->problems.n; i++)
			diags_add(d, NULL, "%s", e->problems.msgs[i]);
		return NULL;
	}
	return e->role;
}

/* The roles a server has (NULL: none known yet). */
struct have {
	struct role *const *roles;
	size_t n;
};

static bool have_role(const struct have *h, const char *name)
{
	for (size_t i = 0; h && i < h->n; i++)
		if (!strcmp(h->roles[i]->name, name))
			return true;
	return false;
}

/*
 * Depth-first: requires before the role, then the roles of 'after' that
 * the server has (h); onstack detects cycles.
 */
static int visit(struct role_set *rs, const char *name, const struct pos *at, char ***stack,
                 size_t *depth, struct role ***out, size_t *n_out, size_t *alloc,
                 const struct have *h, struct diags *d)
{
	struct role *r;

	for (size_t i = 0; i < *n_out; i++)
		if (!strcmp((*out)[i]->name, name))
			return 0;
	for (size_t i = 0; i < *depth; i++) {
		if (!strcmp((*stack)[i], name)) {
			struct buf chain = BUF_INIT;
			for (size_t k = i; k < *depth; k++)
				buf_addf(&chain, "%s -> ", (*stack)[k]);
			buf_adds(&chain, name);
			diags_add(d, at, "roles require each other in a cycle: %s", chain.s);
			buf_release(&chain);
			return -1;
		}
	}
	if (!(r = role_get(rs, name, at, d)))
		return -1;
	*stack = xrealloc(*stack, (*depth + 1) * sizeof(**stack));
	(*stack)[(*depth)++] = r->name;
	const struct node *req = node_get(r->doc, "requires");
	for (size_t i = 0; i < r->n_requires; i++) {
		if (visit(rs, r->requires[i], &req -> items[i] -> pos, stack, depth, out, n_out,
		          alloc, h, d) < 0) {
			(*depth)--;
			return -1;
		}
	}
	const struct node *aft = node_get(r->doc, "after");
	for (size_t i = 0; i < r->n_after; i++) {
		if (!have_role(h, r->after[i]))
			continue;
		if (visit(rs, r->after[i], &aft->items[i]->pos, stack, depth, out, n_out, alloc, h,
		          d) < 0) {
			(*depth)--;
			return -1;
		}
	}
	(*depth)--;
	PV_GROW(*out, *n_out + 1, *alloc);
	(*out)[(*n_out)++] = r;
	return 0;
}

int role_closure(struct role_set *rs, char *const *names, const struct pos *name_pos, size_t n,
                 struct role ***out, size_t *n_out, struct diags *d)
{
	char **stack = NULL;
	size_t depth = 0, alloc = 0;
	int rc = 0;

	*out = NULL;
	*n_out = 0;
	for (size_t i = 0; i < n; i++)
		if (visit(rs, names[i], &name_pos[i], &stack, &depth, out, n_out, &alloc, NULL, d) <
		    0)
			rc = -1;
	/* again, now that the server's roles are known: 'after' orders among them */
	if (rc == 0) {
		struct role **first = *out;
		struct have h = {first, *n_out};
		bool any_after = false;

		for (size_t i = 0; i < h.n; i++)
			any_after = any_after || first[i]->n_after > 0;
		if (any_after) {
			*out = NULL;
			*n_out = 0;
			alloc = 0;
			for (size_t i = 0; i < n && rc == 0; i++)
				if (visit(rs, names[i], &name_pos[i], &stack, &depth, out, n_out,
				          &alloc, &h, d) < 0)
					rc = -1;
			free(first);
		}
	}
	/* a role that needs one of some roles on the same server */
	for (size_t i = 0; rc == 0 && i < *n_out; i++) {
		struct role *r = (*out)[i];
		struct have h = {*out, *n_out};
		bool found = r->n_one_of == 0;
		const struct pos *at = n ? &name_pos[0] : NULL;

		for (size_t k = 0; k < r->n_one_of && !found; k++)
			found = have_role(&h, r->one_of[k]);
		if (found)
			continue;
		for (size_t k = 0; k < n; k++)
			if (!strcmp(names[k], r->name))
				at = &name_pos[k];
		struct buf list = BUF_INIT;
		for (size_t k = 0; k < r->n_one_of; k++)
			buf_addf(&list, "%s%s", k ? (k + 1 == r->n_one_of ? " or " : ", ") : "",
			         r->one_of[k]);
		diags_add(d, at, "role '%s' needs one of the roles %s on the same server", r->name,
		          list.s);
		buf_release(&list);
		rc = -1;
	}
	free(stack);
	return rc;
}
