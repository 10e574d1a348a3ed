/*
 * vars.c - the variables a server sees, checked before anything runs
 * (vars.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "provision/vars.h"

/*
 * What provision declares itself: what it sets (tool_set below: a 'vars'
 * block cannot), what its commands read (kamal-config, share), and
 * provider facts an inventory may give where the provider does not
 * (private_network).
 */
static const char builtin_yaml[] =
    "project: { type: name, doc: the inventory's project }\n"
    "env: { type: name, doc: \"the environment ('default': the layouts as "
    "written)\" }\n"
    "layout: { type: name, doc: the layout being converged }\n"
    "server_name: { type: name, doc: the server's name in the layout }\n"
    "admin_user: { type: user, doc: \"the user provision logs in as (ssh.user)\" }\n"
    "admin_public_key: { type: string, doc: \"the public key of provision's login "
    "key\" }\n"
    "ssh_port: { type: port, doc: \"the SSH port (ssh.port)\" }\n"
    "ssh_client_etm: { type: bool, doc: \"provision's own SSH library speaks the "
    "encrypt-then-MAC MACs (libssh2 1.11 or later)\" }\n"
    "role_ports: { type: list, of: rule, doc: the ports the server's roles open }\n"
    "servers: { type: string, doc: \"the servers of the layout: name, id, "
    "address, roles, metrics\" }\n"
    "monitoring_alerts: { type: string, doc: \"the alert rules of the roles of the "
    "layout's servers\" }\n"
    "monitoring_address: { type: string, doc: \"the private address of the layout's first "
    "server with role monitoring (empty: none)\" }\n"
    "layout_ca_key: { type: string, doc: \"the private key of the layout's certificate "
    "authority for shipping journals (kept by provision; a secret)\" }\n"
    "layout_ca_public: { type: string, doc: \"its public key (PEM)\" }\n"
    "container: { type: bool, doc: \"the host is a container (provider local; for static, "
    "the server's key 'container')\" }\n"
    "address: { type: host, doc: \"the host's address\" }\n"
    "private_address: { type: ip, doc: \"the host's private address\" }\n"
    "bridge_address: { type: ip, doc: \"the local provider's bridge address\" }\n"
    "os_id: { type: name, doc: \"ID from /etc/os-release\" }\n"
    "os_version_id: { type: string, doc: \"VERSION_ID from /etc/os-release\" }\n"
    "provider: { type: name, doc: \"the layout's provider\" }\n"
    "volumes: { type: string, doc: \"the server's volumes: name, mount, filesystem, device "
    "(role volumes mounts them)\" }\n"
    "volumes_xfs: { type: bool, doc: \"one of the server's volumes is xfs\" }\n"
    "volume_devices: { type: string, doc: \"the provider's device path of each volume, by "
    "name\" }\n"
    "private_network: { type: cidr, doc: \"the private network (set by provider local; "
    "elsewhere in 'vars')\" }\n"
    "server_id: { type: string, doc: \"the server's id at Hetzner (provider hetzner)\" }\n"
    "droplet_id: { type: string, doc: \"the droplet's id (provider digitalocean)\" }\n"
    "lb_pair_address: { type: ipv4, doc: \"the load balancer pair's floating IP (reserved IP) "
    "on a server with role keepalived, with the layout's lb_pair: floating_ip\" }\n"
    "lb_pair_id: { type: string, doc: \"its id at the provider (a reserved IP's is its "
    "address)\" }\n"
    "kamal_service: { type: name, doc: \"kamal-config: the service name (default: the "
    "project)\" }\n"
    "kamal_image: { type: image, doc: \"kamal-config: the app's image (default: "
    "PROJECT/PROJECT)\" }\n"
    "kamal_registry_server: { type: host, doc: \"kamal-config: the registry "
    "(empty: Docker Hub)\" }\n"
    "kamal_registry_username: { type: name, doc: \"kamal-config: the registry user (default: "
    "the project)\" }\n"
    "kamal_app_port: { type: port, doc: \"kamal-config: the app's port (default 3000)\" }\n"
    "kamal_builder_arch: { type: enum, values: [amd64, arm64], doc: \"kamal-config: the "
    "build architecture (default amd64)\" }\n"
    "kamal_accessory: { type: name, doc: \"kamal-config: this server runs an accessory of "
    "this name (e.g. db)\" }\n"
    "kamal_accessory_image: { type: image, doc: \"kamal-config: the accessory's image "
    "(default postgres:16)\" }\n"
    "kamal_accessory_port: { type: port, doc: \"kamal-config: the accessory's port (default "
    "5432)\" }\n"
    "share_ports: { type: list, of: port_proto, doc: \"share: the ports shared (default: the "
    "ports the server's roles open)\" }\n"
    "tailscale_hostname: { type: string, doc: \"share: the device's name in the tailnet "
    "(default: the server's name; {{ }} allowed)\" }\n"
    "tailscale_tags: { type: list, of: string, doc: \"share: the device's ACL tags\" }\n"
    "postgres_migrate_from: { type: string, doc: \"LAYOUT/SERVER whose data a new primary "
    "starts from (plan and up move it)\" }\n";

/* Keys of servers and of provider settings with their types (the providers check the rest). */
static const char keys_yaml[] = "server:\n"
                                "  address: host\n"
                                "  private_address: ip\n"
                                "  ssh_user: user\n"
                                "  host_key: string\n"
                                "  container: bool\n"
                                "  type: name\n"
                                "  image: name\n"
                                "  location: name\n"
                                "  region: name\n"
                                "  size: name\n"
                                "  cpus: { type: int, min: 1, max: 64 }\n"
                                "  memory: size\n"
                                "  disk: size\n"
                                "local: { subnet: cidr, release: name }\n"
                                "vm:\n"
                                "  subnet: cidr\n"
                                "  image: path\n"
                                "  os: name\n"
                                "  packages: { type: list, of: name }\n"
                                "  accel: { type: enum, values: [auto, kvm, tcg] }\n"
                                "hetzner:\n"
                                "  location: name\n"
                                "  type: name\n"
                                "  image: name\n"
                                "  endpoint: { type: url, schemes: [https, http] }\n"
                                "digitalocean: { region: name, size: name, image: name }\n";

struct key_type {
	const char *kind, *key; /* point into keys_doc */
	struct vartype *type;
};
static struct node *keys_doc;
static struct key_type *key_types;
static size_t n_key_types;

static const char *const tool_set[] = {"project",
                                       "env",
                                       "layout",
                                       "server_name",
                                       "admin_user",
                                       "admin_public_key",
                                       "ssh_port",
                                       "role_ports",
                                       "servers",
                                       "monitoring_alerts",
                                       "container",
                                       "address",
                                       "private_address",
                                       "bridge_address",
                                       "os_id",
                                       "os_version_id",
                                       "provider",
                                       "ssh_client_etm",
                                       "monitoring_address",
                                       "layout_ca_key",
                                       "layout_ca_public",
                                       "server_id",
                                       "droplet_id",
                                       "lb_pair_address",
                                       "lb_pair_id",
                                       "volumes",
                                       "volumes_xfs",
                                       "volume_devices"};

static struct var_decl *builtins;
static struct vartype *line_type; /* free variables under 'custom' */
static bool *builtin_by_tool;
static size_t n_builtins;
static struct node *builtin_doc;
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static void builtin_load(void)
{
	struct pv_error err = {{0}};
	struct diags d;

	diags_init(&d);
	if (node_load_string(&builtin_doc, "(provision)", builtin_yaml, sizeof(builtin_yaml) - 1,
	                     &err) < 0)
		abort(); /* the text above is part of the program */
	builtins = xcalloc(builtin_doc->n, sizeof(*builtins));
	builtin_by_tool = xcalloc(builtin_doc->n, sizeof(*builtin_by_tool));
	for (size_t i = 0; i < builtin_doc->n; i++) {
		bool by = false;
		if (var_decl_parse(&builtins[n_builtins], builtin_doc->keys[i],
		                   &builtin_doc->key_pos[i], builtin_doc->items[i],
		                   builtin_doc->keys[i], &d) < 0)
			abort();
		for (size_t k = 0; k < PV_ARRAY_SIZE(tool_set); k++)
			by = by || !strcmp(tool_set[k], builtin_doc->keys[i]);
		builtin_by_tool[n_builtins++] = by;
	}
	if (node_load_string(&keys_doc, "(provision)", keys_yaml, sizeof(keys_yaml) - 1, &err) < 0)
		abort();
	for (size_t i = 0; i < keys_doc->n; i++)
		n_key_types += keys_doc->items[i]->n;
	key_types = xcalloc(n_key_types, sizeof(*key_types));
	n_key_types = 0;
	for (size_t i = 0; i < keys_doc->n; i++) {
		const struct node *m = keys_doc->items[i];
		for (size_t k = 0; k < m->n; k++) {
			struct key_type *kt = &key_types[n_key_types++];
			kt->kind = keys_doc->keys[i];
			kt->key = m->keys[k];
			if (vartype_parse(&kt->type, m->items[k], kt->key, &d) < 0)
				abort();
		}
	}
	struct node *t = node_new_scalar("string", NULL);
	if (vartype_parse(&line_type, t, "custom", &d) < 0)
		abort();
	node_free(t);
	diags_release(&d);
}

const struct var_decl *vars_builtin(const char *name, bool *by_tool)
{
	pthread_once(&builtin_once, builtin_load);
	for (size_t i = 0; i < n_builtins; i++)
		if (!strcmp(builtins[i].name, name)) {
			if (by_tool)
				*by_tool = builtin_by_tool[i];
			return &builtins[i];
		}
	return NULL;
}

const struct var_decl *vars_builtin_all(size_t *n)
{
	pthread_once(&builtin_once, builtin_load);
	*n = n_builtins;
	return builtins;
}

void vars_check_keys(const struct node *map, const char *kind, struct diags *d)
{
	pthread_once(&builtin_once, builtin_load);
	for (size_t i = 0; map && map->kind == NODE_MAP && i < map->n; i++)
		for (size_t k = 0; k < n_key_types; k++)
			if (!strcmp(key_types[k].kind, kind) &&
			    !strcmp(key_types[k].key, map->keys[i])) {
				char *what =
				    !strcmp(kind, "server")
				        ? xasprintf("'%s' of a server", map->keys[i])
				        : xasprintf("'%s' of provider '%s'", map->keys[i], kind);
				vartype_check(key_types[k].type, map->items[i], what, NULL, d);
				free(what);
			}
}

void vars_set_layer(struct scope *s, const struct node *vars)
{
	if (!vars || vars->kind != NODE_MAP)
		return;
	for (size_t i = 0; i < vars->n; i++) {
		if (strcmp(vars->keys[i], VARS_CUSTOM))
			scope_set(s, vars->keys[i], vars->items[i]);
		else
			scope_set_map(s, vars->items[i]);
	}
}

/* Add the messages of src to d that d does not hold yet. */
static void add_unique(struct diags *d, size_t from, const struct diags *src)
{
	for (size_t i = 0; i < src->n; i++) {
		bool seen = false;
		for (size_t k = from; k < d->n && !seen; k++)
			seen = !strcmp(d->msgs[k], src->msgs[i]);
		if (!seen)
			diags_add(d, NULL, "%s", src->msgs[i]);
	}
}

/* A value the user wrote (a file position), not one provision made. */
static bool from_user(const struct node *v)
{
	return v && v->pos.file && v->pos.line > 0 && strcmp(v->pos.file, "(provision)");
}

/* A variable of type volume names one of the server's volumes (or is empty). */
static void check_volume(const struct scope *s, const char *name, const struct node *v,
                         struct diags *d)
{
	const struct node *vols = scope_get(s, "volumes"), *server = scope_get(s, "server_name");
	struct buf have = BUF_INIT;

	if (v->kind != NODE_SCALAR || !*v->scalar)
		return;
	for (size_t i = 0; vols && vols->kind == NODE_SEQ && i < vols->n; i++) {
		const struct node *n = node_get(vols->items[i], "name");
		if (!n || n->kind != NODE_SCALAR)
			continue;
		if (!strcmp(n->scalar, v->scalar))
			goto out;
		buf_addf(&have, "%s'%s'", have.len ? ", " : "", n->scalar);
	}
	diags_add(d, &v->pos,
	          "variable '%s' names volume '%s', which server '%s' does not have (%s%s)", name,
	          v->scalar, server && server->kind == NODE_SCALAR ? server->scalar : "?",
	          have.len ? "its volumes: " : "it has no 'volumes'", have.len ? have.s : "");
out:
	buf_release(&have);
}

void vars_check_scope(const struct scope *s, struct role *const *roles, size_t n_roles,
                      const struct scope *secrets, struct diags *d)
{
	struct diags tmp;
	size_t from = d->n, nb;
	const struct var_decl *b = vars_builtin_all(&nb);

	diags_init(&tmp);
	for (size_t r = 0; r < n_roles; r++)
		for (size_t i = 0; i < roles[r]->n_decls; i++) {
			const struct var_decl *decl = &roles[r]->decls[i];
			const struct node *v = scope_get(s, decl->name);
			if (from_user(v) &&
			    vartype_check(decl->type, v, decl->name, secrets, &tmp) == 0 &&
			    vartype_is_volume(decl->type))
				check_volume(s, decl->name, v, &tmp);
		}
	for (size_t i = 0; i < nb; i++) {
		const struct node *v = scope_get(s, b[i].name);
		if (!builtin_by_tool[i] && from_user(v))
			vartype_check(b[i].type, v, b[i].name, secrets, &tmp);
	}
	add_unique(d, from, &tmp);
	diags_release(&tmp);
}

/* ---- one value per layout ---- */

struct vars_agree_seen {
	const struct var_decl *decl;
	char *server;
	struct node *v; /* a copy; NULL: none set */
};

void vars_agree_init(struct vars_agree *a)
{
	memset(a, 0, sizeof(*a));
}

void vars_agree_release(struct vars_agree *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->seen[i].server);
		node_free(a->seen[i].v);
	}
	free(a->seen);
	memset(a, 0, sizeof(*a));
}

static const char *shown(const struct node *v)
{
	return v && v->kind == NODE_SCALAR ? v->scalar : "nothing";
}

void vars_agree_add(struct vars_agree *a, const char *layout, const char *server,
                    const struct scope *s, struct role *const *roles, size_t n_roles,
                    const char *inventory_file, struct diags *d)
{
	for (size_t r = 0; r < n_roles; r++)
		for (size_t i = 0; i < roles[r]->n_decls; i++) {
			const struct var_decl *decl = &roles[r]->decls[i];
			const struct node *v = scope_get(s, decl->name);
			struct vars_agree_seen *first = NULL;
			if (!decl->per_layout)
				continue;
			for (size_t k = 0; k < a->n && !first; k++)
				if (!strcmp(a->seen[k].decl->name, decl->name))
					first = &a->seen[k];
			if (!first) {
				PV_GROW(a->seen, a->n + 1, a->alloc);
				a->seen[a->n++] = (struct vars_agree_seen){
				    decl, xstrdup(server), v ? node_clone(v) : NULL};
				continue;
			}
			if (!strcmp(first->server, server) || vartype_same(decl->type, first->v, v))
				continue;
			/* point at what the user wrote: this server's value, else the first's */
			bool here = v && v->pos.file && inventory_file &&
			            !strcmp(v->pos.file, inventory_file);
			const struct node *at = here ? v : first->v;
			diags_add(d, at ? &at->pos : NULL,
			          "variable '%s' must be the same on every server of layout '%s' "
			          "that uses it: server '%s' has %s, server '%s' has %s",
			          decl->name, layout, first->server, shown(first->v), server,
			          shown(v));
		}
}

/* ---- names ---- */

struct names {
	const char **v;
	size_t n, alloc;
};

/* False when the server's roles do not load: that is reported by the render, and its
 * variables cannot be judged. */
static bool names_add_roles(struct names *ns, struct role_set *rs, const struct inv_server *srv)
{
	struct role **roles = NULL;
	size_t n = 0;
	struct diags scratch;
	bool ok;

	diags_init(&scratch);
	ok = srv->n_roles &&
	     role_closure(rs, srv->roles, srv->role_pos, srv->n_roles, &roles, &n, &scratch) == 0;
	for (size_t r = 0; ok && r < n; r++)
		for (size_t i = 0; i < roles[r]->n_decls; i++) {
			PV_GROW(ns->v, ns->n + 1, ns->alloc);
			ns->v[ns->n++] = roles[r]->decls[i].name;
		}
	free(roles);
	diags_release(&scratch);
	return ok;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void names_sort(struct names *ns)
{
	size_t nb, out = 0;
	const struct var_decl *b = vars_builtin_all(&nb);

	for (size_t i = 0; i < nb; i++)
		if (!builtin_by_tool[i]) {
			PV_GROW(ns->v, ns->n + 1, ns->alloc);
			ns->v[ns->n++] = b[i].name;
		}
	if (ns->n)
		qsort(ns->v, ns->n, sizeof(*ns->v), cmp_str);
	for (size_t i = 0; i < ns->n; i++)
		if (!out || strcmp(ns->v[out - 1], ns->v[i]))
			ns->v[out++] = ns->v[i];
	ns->n = out;
}

static bool names_has(const struct names *ns, const char *name)
{
	return ns->n && bsearch(&name, ns->v, ns->n, sizeof(*ns->v), cmp_str);
}

/* Free variables under 'custom': names, and values as single-line strings. */
static void check_custom(const struct node *c, const struct names *ns, const char *where,
                         struct diags *d)
{
	size_t nb;
	const struct vartype *line = (vars_builtin_all(&nb), line_type);

	if (c->kind != NODE_MAP) {
		diags_add(d, &c->pos, "'%s' in the 'vars' of %s must be a mapping, not %s",
		          VARS_CUSTOM, where, node_kind_name(c));
		return;
	}
	for (size_t i = 0; i < c->n; i++) {
		const struct node *v = c->items[i];
		if (names_has(ns, c->keys[i]) || vars_builtin(c->keys[i], NULL)) {
			diags_add(d, &c->key_pos[i],
			          "variable '%s' under '%s' in %s is declared by a role or by "
			          "provision: set it outside '%s', where its type is checked",
			          c->keys[i], VARS_CUSTOM, where, VARS_CUSTOM);
			continue;
		}
		/* strings, or lists and maps of them, each on one line */
		if (v->kind == NODE_SCALAR) {
			vartype_check(line, v, c->keys[i], NULL, d);
			continue;
		}
		for (size_t k = 0; k < v->n; k++) {
			char *sub = v->kind == NODE_MAP ? xasprintf("%s.%s", c->keys[i], v->keys[k])
			                                : xasprintf("%s[%zu]", c->keys[i], k);
			if (v->items[k]->kind == NODE_SCALAR)
				vartype_check(line, v->items[k], sub, NULL, d);
			else
				diags_add(d, &v->items[k]->pos,
				          "variable '%s' under '%s' must be a string, a list or a "
				          "mapping of strings, not %s",
				          sub, VARS_CUSTOM, node_kind_name(v->items[k]));
			free(sub);
		}
	}
}

/* Unknown names reported one by one in a block; the rest are counted in one line. */
#define VARS_MAX_UNKNOWN 20

static void check_block(const struct node *vars, const struct names *ns, const char *where,
                        struct diags *d)
{
	size_t unknown = 0;
	const struct pos *first_more = NULL;

	for (size_t i = 0; vars && vars->kind == NODE_MAP && i < vars->n; i++) {
		const char *k = vars->keys[i];
		bool by_tool = false;

		if (!strcmp(k, VARS_CUSTOM)) {
			check_custom(vars->items[i], ns, where, d);
			continue;
		}
		if (names_has(ns, k))
			continue;
		if (vars_builtin(k, &by_tool) && by_tool) {
			diags_add(
			    d, &vars->key_pos[i],
			    "variable '%s' in %s is set by provision itself and cannot be set "
			    "in 'vars'",
			    k, where);
			continue;
		}
		if (++unknown > VARS_MAX_UNKNOWN) {
			if (!first_more)
				first_more = &vars->key_pos[i];
			continue;
		}
		char *probe = xstrndup(k, 64);
		const char *near = pv_nearest(probe, ns->v, ns->n);
		free(probe);
		if (near)
			diags_add(d, &vars->key_pos[i],
			          "unknown variable '%s' in %s (did you mean '%s'?)", k, where,
			          near);
		else
			diags_add(d, &vars->key_pos[i],
			          "unknown variable '%s' in %s: no role there declares it (free "
			          "variables for project roles go under '%s:')",
			          k, where, VARS_CUSTOM);
	}
	if (first_more)
		diags_add(d, first_more, "%zu more unknown variables in %s from here on",
		          unknown - VARS_MAX_UNKNOWN, where);
}

void vars_check_names(const struct inventory *inv, const struct inv_layout *l, struct role_set *rs,
                      bool with_inventory, struct diags *d)
{
	struct names all = {0}, lay = {0};
	bool complete = true;

	for (size_t i = 0; i < l->n_servers; i++) {
		struct names one = {0};
		char *where = xasprintf("server '%s'", l->servers[i].name);
		if (!names_add_roles(&one, rs, &l->servers[i])) {
			complete = false;
			free(where);
			free(one.v);
			continue;
		}
		for (size_t k = 0; k < one.n; k++) {
			PV_GROW(lay.v, lay.n + 1, lay.alloc);
			lay.v[lay.n++] = one.v[k];
		}
		names_sort(&one);
		check_block(l->servers[i].vars, &one, where, d);
		free(where);
		free(one.v);
	}
	for (size_t k = 0; k < lay.n; k++) {
		PV_GROW(all.v, all.n + 1, all.alloc);
		all.v[all.n++] = lay.v[k];
	}
	names_sort(&lay);
	char *where = xasprintf("layout '%s'", l->name);
	if (complete)
		check_block(l->vars, &lay, where, d);
	free(where);
	if (inv->vars && with_inventory && complete) {
		for (size_t li = 0; li < inv->n_layouts; li++) {
			if (&inv->layouts[li] == l)
				continue;
			for (size_t i = 0; i < inv->layouts[li].n_servers; i++)
				complete =
				    names_add_roles(&all, rs, &inv->layouts[li].servers[i]) &&
				    complete;
		}
		names_sort(&all);
		if (complete)
			check_block(inv->vars, &all, "the inventory", d);
	}
	free(all.v);
	free(lay.v);
}
