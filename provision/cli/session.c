/*
 * session.c - shared setup for the commands.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "provision/backupcheck.h"
#include "provision/buf.h"
#include "provision/common.h"
#include "provision/environment.h"
#include "provision/keys.h"
#include "provision/report.h"
#include "provision/repro.h"
#include "provision/session.h"
#include "provision/template.h"
#include "provision/vars.h"
#include "provision/vartype.h"

static bool errors_as_json;

void pv_errors_as_json(bool on)
{
	errors_as_json = on;
}

/*
 * One problem for the user: with --json an "error" (or "warning") event on
 * stdout, with file, line and col when the message starts with them;
 * otherwise prefix and the message on stderr.
 */
static void say(const char *prefix, const char *raw)
{
	char *msg = report_redact(raw);

	if (!errors_as_json) {
		fprintf(stderr, "%s%s\n", prefix, msg);
		free(msg);
		return;
	}
	const char *text = msg;
	bool warning = !strncmp(text, "warning: ", 9);
	json_t *o = json_object();
	char file[PATH_MAX];
	int line, col, used = 0;
	if (warning)
		text += 9;
	if (sscanf(text, "%4095[^:]:%d:%d: %n", file, &line, &col, &used) == 3 && used > 0) {
		json_object_set_new(o, "file", json_string(file));
		json_object_set_new(o, "line", json_integer(line));
		json_object_set_new(o, "col", json_integer(col));
		text += used;
	}
	json_object_set_new(o, "event", json_string(warning ? "warning" : "error"));
	json_object_set_new(o, "message", json_string(text));
	char *line_text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	fflush(stdout);
	printf("%s\n", line_text);
	fflush(stdout);
	free(line_text);
	json_decref(o);
	free(msg);
}

void pv_say_error(const char *fmt, ...)
{
	va_list ap;
	char *raw;

	va_start(ap, fmt);
	raw = xvasprintf(fmt, ap);
	va_end(ap);
	say("provision: ", raw);
	free(raw);
}

void pv_usage(const struct cmd_entry *c)
{
	if (errors_as_json) {
		char *m =
		    xasprintf("usage: provision %s (see 'provision %s --help')", c->usage, c->name);
		say("", m);
		free(m);
		return;
	}
	fprintf(stderr, "usage: provision %s\n", c->usage);
	fprintf(stderr, "Try 'provision %s --help' for more.\n", c->name);
}

void pv_help(const struct cmd_entry *c)
{
	printf("usage: provision %s\n\n%s\n", c->usage, c->summary);
	if (c->help && *c->help)
		printf("\n%s", c->help);
	printf("\nGlobal options (before or after the command):\n"
	       "  -i, --inventory FILE  inventory file (default: inventory.yml, or "
	       "$PROVISION_INVENTORY)\n"
	       "  -e, --env NAME        environment (default: default_environment, else default)\n"
	       "      --json            one JSON object per event on stdout\n"
	       "      --plain           plain lines, even on a terminal\n");
}

/* True when msgs[i] was said before: a value checked once per layout shows once. */
static bool said_before(const struct diags *d, size_t i)
{
	for (size_t k = 0; k < i; k++)
		if (!strcmp(d->msgs[i], d->msgs[k]))
			return true;
	return false;
}

static void print_diags(const struct diags *d)
{
	if (errors_as_json) {
		for (size_t i = 0; i < d->n; i++)
			if (!said_before(d, i))
				say("", d->msgs[i]);
		return;
	}
	for (size_t i = 0; i < d->n; i++) {
		if (said_before(d, i))
			continue;
		char *m = report_redact(d->msgs[i]);
		fprintf(stderr, "%s\n", m);
		free(m);
	}
}

static bool is_dir(const char *p)
{
	struct stat sb;

	return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/*
 * Roles and templates that come with the tool: $PROVISION_DATA_DIR; next to
 * the binary's bin/ (a checkout); PREFIX/share/provision for a binary in
 * PREFIX/bin ('make install'); else /usr/local/share/provision.
 */
static char *find_data_dir(void)
{
	const char *envdir = getenv("PROVISION_DATA_DIR");
	char exe[PATH_MAX];
	ssize_t l;

	if (envdir && *envdir)
		return xstrdup(envdir);
	l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (l > 0) {
		exe[l] = '\0';
		for (int up = 0; up < 2; up++) {
			char *slash = strrchr(exe, '/');
			if (!slash)
				break;
			*slash = '\0';
			char *roles = pv_path_join(exe, "roles");
			bool ok = is_dir(roles);
			free(roles);
			if (ok)
				return xstrdup(exe);
			char *share = pv_path_join(exe, "share/provision");
			char *sroles = pv_path_join(share, "roles");
			ok = is_dir(sroles);
			free(sroles);
			if (ok)
				return share;
			free(share);
		}
	}
	return xstrdup("/usr/local/share/provision");
}

/*
 * The layouts the state next to the inventory at path records for env (a
 * new reference; NULL when none), read without the lock: for messages only.
 */
static json_t *recorded_layouts(const char *path, const char *env)
{
	char *copy = xstrdup(path), *dir = realpath(dirname(copy), NULL);
	char *sdir = dir ? pv_path_join(dir, ".provision") : NULL;
	char *spath = sdir ? pv_path_join(sdir, "state.json") : NULL;
	json_t *st = spath ? json_load_file(spath, 0, NULL) : NULL;
	json_t *layouts =
	    json_object_get(json_object_get(json_object_get(st, "environments"), env), "layouts");

	layouts = json_object_size(layouts) ? json_incref(layouts) : NULL;
	json_decref(st);
	free(spath);
	free(sdir);
	free(dir);
	free(copy);
	return layouts;
}

/* env is not declared in the inventory at path, but its state still holds layouts. */
static bool env_only_in_state(const char *path, const char *env)
{
	struct node *root = NULL;
	struct pv_error err = {{0}};
	struct diags d;
	bool declared = true;

	if (!env || !strcmp(env, "default") || node_load_file(&root, path, &err) < 0)
		return false;
	diags_init(&d);
	declared = root->kind != NODE_MAP || env_find(root, env, path, &d) == 0;
	diags_release(&d);
	node_free(root);
	if (declared)
		return false;
	json_t *layouts = recorded_layouts(path, env);
	json_decref(layouts);
	return layouts != NULL;
}

/*
 * With default_environment set, what the state still records under
 * 'default' was made before it was: say so, and how to remove it (destroy
 * may name -e default for that) or keep it.  Returns the layouts' names,
 * ", "-separated, or NULL when there are none.
 */
static char *left_in_default(const char *path)
{
	json_t *layouts = recorded_layouts(path, "default");
	struct buf names = BUF_INIT;
	const char *k;
	json_t *v;

	json_object_foreach(layouts, k, v) buf_addf(&names, "%s'%s'", names.len ? ", " : "", k);
	json_decref(layouts);
	return names.len ? buf_detach(&names, NULL) : NULL;
}

int session_load(struct session *s)
{
	struct diags d;
	const char *path = s->inventory_path;
	const char *load_env = s->env;
	bool as_written = false;

	if (!path)
		path = getenv("PROVISION_INVENTORY");
	if (!path || !*path)
		path = "inventory.yml";
	s->inventory_path = path;
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		char *data = find_data_dir();
		char *example = pv_path_join(data, "inventory.example.yml");
		bool have = access(example, R_OK) == 0;
		pv_say_error(
		    "no inventory '%s': name one with -i FILE (or $PROVISION_INVENTORY)%s%s%s",
		    path, have ? "; to start from the example: cp " : "", have ? example : "",
		    have ? " inventory.yml" : "");
		free(example);
		free(data);
		return PV_EXIT_USAGE;
	}
	if (s->allow_recorded_env && env_only_in_state(path, s->env)) {
		pv_say_error("warning: environment '%s' is no longer in '%s'; removing what the "
		             "state records for it, with the layouts as written",
		             s->env, path);
		load_env = "default";
		as_written = true;
	}
	diags_init(&d);
	if (inventory_load_env(&s->inv, path, load_env, &d) < 0) {
		print_diags(&d);
		if (d.n > 1)
			fprintf(stderr, "provision: %zu problems in '%s'\n", d.n, path);
		diags_release(&d);
		return PV_EXIT_USAGE;
	}
	diags_release(&d);
	const struct node *def = node_get(s->inv->root, "default_environment");
	char *left = def && !node_is_null(def) ? left_in_default(path) : NULL;
	const char *asked[] = {s->env, s->env_b};
	for (size_t i = 0; i < PV_ARRAY_SIZE(asked) && def && !node_is_null(def); i++) {
		if (!asked[i] || strcmp(asked[i], "default"))
			continue;
		if (i == 0 && left && s->allow_recorded_env) {
			/* destroy: what 'default' made before default_environment can go */
			load_env = "default";
			as_written = true;
			continue;
		}
		pv_say_error("%s:%d:%d: this inventory's default environment is '%s': use "
		             "'-e %s', or leave out -e",
		             def->pos.file, def->pos.line, def->pos.col, def->scalar, def->scalar);
		if (left)
			pv_say_error("the state still records layout%s %s in environment 'default' "
			             "(made before default_environment was set): 'provision -e "
			             "default destroy LAYOUT' removes them",
			             strchr(left, ',') ? "s" : "", left);
		free(left);
		return PV_EXIT_USAGE;
	}
	if (left && !as_written)
		pv_say_error("warning: %s:%d:%d: the state still records layout%s %s in "
		             "environment 'default', made before default_environment '%s' was set; "
		             "this run uses '%s' and does not touch them: 'provision -e default "
		             "destroy LAYOUT' removes them, or take out default_environment to "
		             "keep using them",
		             def->pos.file, def->pos.line, def->pos.col,
		             strchr(left, ',') ? "s" : "", left, def->scalar, def->scalar);
	free(left);
	if (!as_written)
		s->env = s->inv->env; /* the name default_environment gives, without -e */
	s->state_dir = pv_path_join(s->inv->dir, ".provision");
	s->known_hosts = pv_path_join(s->state_dir, "known_hosts");
	s->data_dir = find_data_dir();
	role_set_init(&s->roles);
	char *r1 = pv_path_join(s->inv->dir, "roles");
	char *r2 = pv_path_join(s->data_dir, "roles");
	role_set_add_dir(&s->roles, r1);
	if (strcmp(r1, r2))
		role_set_add_dir(&s->roles, r2);
	free(r1);
	free(r2);
	s->template_dirs[s->n_template_dirs++] = pv_path_join(s->inv->dir, "templates");
	char *t2 = pv_path_join(s->data_dir, "templates");
	if (strcmp(t2, s->template_dirs[0]))
		s->template_dirs[s->n_template_dirs++] = t2;
	else
		free(t2);
	return PV_EXIT_OK;
}

int session_load_roles(struct session *s)
{
	const char *path = s->inventory_path;
	struct stat sb;

	if (!path)
		path = getenv("PROVISION_INVENTORY");
	if (s->inventory_path || (path && *path) || stat("inventory.yml", &sb) == 0)
		return session_load(s);
	/* no inventory here: the roles that come with the tool */
	s->data_dir = find_data_dir();
	role_set_init(&s->roles);
	char *dir = pv_path_join(s->data_dir, "roles");
	role_set_add_dir(&s->roles, dir);
	free(dir);
	s->roles_only = true;
	return PV_EXIT_OK;
}

/* "unknown WHAT 'name' in WHERE", with the nearest of names or the list of them. */
static void say_unknown(const char *what, const char *name, const char *where,
                        const char *const *names, size_t n, const char *plural)
{
	struct buf list = BUF_INIT;
	const char *near = pv_nearest(name, names, n);

	for (size_t i = 0; i < n; i++)
		buf_addf(&list, "%s%s", i ? ", " : "", names[i]);
	if (near)
		pv_say_error("unknown %s '%s' in %s (did you mean '%s'?)", what, name, where, near);
	else
		pv_say_error("unknown %s '%s' in %s (%s: %s)", what, name, where, plural, list.s);
	buf_release(&list);
}

const struct inv_layout *session_layout(struct session *s, const char *name)
{
	const struct inv_layout *l = inventory_layout(s->inv, name);
	const char **names;

	if (l)
		return l;
	names = xcalloc(s->inv->n_layouts + 1, sizeof(*names));
	for (size_t i = 0; i < s->inv->n_layouts; i++)
		names[i] = s->inv->layouts[i].name;
	char *where = xasprintf("'%s'", s->inventory_path);
	say_unknown("layout", name, where, names, s->inv->n_layouts, "layouts");
	free(where);
	free(names);
	return NULL;
}

const struct inv_server *session_layout_server(const struct inv_layout *l, const char *name)
{
	const struct inv_server *srv = layout_server(l, name);
	const char **names;

	if (srv)
		return srv;
	names = xcalloc(l->n_servers + 1, sizeof(*names));
	for (size_t i = 0; i < l->n_servers; i++)
		names[i] = l->servers[i].name;
	char *where = xasprintf("layout '%s'", l->name);
	say_unknown("server", name, where, names, l->n_servers, "servers");
	free(where);
	free(names);
	return NULL;
}

const struct provider_ops *session_provider(struct session *s, const struct inv_layout *l)
{
	const struct provider_ops *p = provider_find(l->provider);

	if (!p)
		pv_say_error("%s:%d:%d: provider '%s' is not available in this build",
		             l->provider_pos.file, l->provider_pos.line, l->provider_pos.col,
		             l->provider);
	return p;
}

/*
 * The variable 'servers': every server of the layout that has an address,
 * in inventory order, as {name, id (the name with '_' for '-'), address
 * (the private one), roles: {ROLE:
 * "true"}} with '-' in role names written '_' (so postgres-replica is
 * s.roles.postgres_replica).  Templates build peer lists from it (pg_hba,
 * load balancer backends).  Addresses come from hosts[], else the state.
 */
static struct node *servers_var(struct session *s, const struct inv_layout *l,
                                const struct host *hosts, size_t n, bool preview)
{
	struct pos tool = {pv_intern("(provision)"), 0, 0};
	struct node *list = node_new_seq(&tool);
	json_t *lst = s->st_open ? state_layout(&s->st, s->env, l->name, false) : NULL;
	json_t *shosts = lst ? json_object_get(lst, "hosts") : NULL;

	for (size_t i = 0; i < l->n_servers; i++) {
		const struct inv_server *srv = &l->servers[i];
		const char *addr = NULL;
		char pre[32];

		for (size_t k = 0; k < n && !addr; k++)
			if (!strcmp(hosts[k].name, srv->name)) {
				const struct node *a =
				    scope_get(&hosts[k].facts, "private_address");
				addr = a && a->kind == NODE_SCALAR ? a->scalar : hosts[k].address;
			}
		if (!addr && shosts) {
			json_t *h = json_object_get(shosts, srv->name);
			addr = state_str(h, "private_address") ? state_str(h, "private_address")
			                                       : state_str(h, "address");
		}
		if (!addr && preview) {
			snprintf(pre, sizeof(pre), "192.0.2.%zu", 10 + i % 200);
			addr = pre;
		}
		if (!addr)
			continue;
		struct node *e = node_new_map(&tool);
		struct node *roles = node_new_map(&tool);
		node_map_set(e, "name", node_new_scalar(srv->name, &tool));
		/* the name as an identifier (replication slot, application_name) */
		char *id = xstrdup(srv->name);
		for (char *c = id; *c; c++)
			if (*c == '-')
				*c = '_';
		node_map_set(e, "id", node_new_scalar(id, &tool));
		free(id);
		node_map_set(e, "address", node_new_scalar(addr, &tool));
		for (size_t r = 0; r < srv->n_roles; r++) {
			char *key = xstrdup(srv->roles[r]);
			for (char *c = key; *c; c++)
				if (*c == '-')
					*c = '_';
			node_map_set(roles, key, node_new_scalar("true", &tool));
			free(key);
		}
		node_map_set(e, "roles", roles);
		/* what its roles serve to the monitoring server (session_check_layout) */
		node_map_set(e, "metrics",
		             s->ports_of == l && s->scrape && s->scrape[i]
		                 ? node_clone(s->scrape[i])
		                 : node_new_seq(&tool));
		node_seq_append(list, e);
	}
	PV_GROW(s->vars_nodes, s->n_vars_nodes + 1, s->vars_alloc);
	s->vars_nodes[s->n_vars_nodes++] = list;
	return list;
}

/* A node the session keeps until session_release. */
static struct node *session_node(struct session *s, struct node *n)
{
	PV_GROW(s->vars_nodes, s->n_vars_nodes + 1, s->vars_alloc);
	s->vars_nodes[s->n_vars_nodes++] = n;
	return n;
}

const struct inv_server *session_monitoring_server(const struct inv_layout *l)
{
	for (size_t i = 0; i < l->n_servers; i++)
		for (size_t k = 0; k < l->servers[i].n_roles; k++)
			if (!strcmp(l->servers[i].roles[k], "monitoring"))
				return &l->servers[i];
	return NULL;
}

/*
 * The roles' variables that, true for a server, make its layout need its
 * own CA (besides a server with role monitoring, whose journals use it).
 */
static const char *const ca_asking_vars[] = {"redis_tls"};

/* Whether layout l needs its certificate authority. */
static bool layout_needs_ca(const struct session *s, const struct inv_layout *l)
{
	if (session_monitoring_server(l))
		return true;
	for (size_t i = 0; i < l->n_servers; i++) {
		struct scope v;
		bool yes = false;

		scope_init(&v);
		vars_set_layer(&v, s->inv->vars);
		vars_set_layer(&v, l->vars);
		vars_set_layer(&v, l->servers[i].vars);
		for (size_t k = 0; k < PV_ARRAY_SIZE(ca_asking_vars) && !yes; k++)
			yes = tpl_truth(scope_get(&v, ca_asking_vars[k]));
		scope_release(&v);
		if (yes)
			return true;
	}
	return false;
}

/*
 * The variables layout_ca_key (a secret) and layout_ca_public for facts:
 * the key of layout l's own certificate authority, which the tool keeps in
 * .provision/keys/journal-ca/ENV/LAYOUT.pem (made on first use, under the
 * run lock) when l needs it (layout_needs_ca); empty otherwise.  preview:
 * placeholders, nothing made.  Returns an exit code.
 */
static int layout_ca_vars(struct session *s, const struct inv_layout *l, bool preview,
                          struct scope *const *facts, size_t n)
{
	struct pos tool = {pv_intern("(provision)"), 0, 0};
	struct pv_error err = {{0}};
	char *priv = NULL, *pub = NULL;

	if (!layout_needs_ca(s, l)) {
		priv = xstrdup("");
		pub = xstrdup("");
	} else if (preview) {
		priv = xstrdup("(preview)");
		pub = xstrdup("(preview)");
	} else {
		char *path =
		    xasprintf("%s/keys/journal-ca/%s/%s.pem", s->state_dir, s->env, l->name);
		int lock_fd = -1, made = -1;
		/* made once, under the run lock, like the login key */
		if (access(path, F_OK) == 0 || (s->st_open && s->st.lock_fd >= 0) ||
		    (lock_fd = state_lock_wait(s->state_dir, &err)) >= 0)
			made = ca_key_ensure_file(path, &priv, &pub, &err);
		if (lock_fd >= 0)
			close(lock_fd);
		free(path);
		if (made < 0) {
			pv_say_error("%s", err.msg);
			return PV_EXIT_FAIL;
		}
		report_secret(priv);
	}
	struct node *k = session_node(s, node_new_scalar(priv, &tool));
	struct node *p = session_node(s, node_new_scalar(pub, &tool));
	k->secret = *priv != '\0';
	for (size_t i = 0; i < n; i++) {
		scope_set(facts[i], "layout_ca_key", k);
		scope_set(facts[i], "layout_ca_public", p);
	}
	pv_free_secret(priv);
	free(pub);
	return PV_EXIT_OK;
}

/* No alert rules (before session_check_layout has read the layout's roles). */
static struct node *empty_alerts(struct session *s)
{
	struct pos tool = {pv_intern("(provision)"), 0, 0};
	struct node *e = node_new_seq(&tool);

	PV_GROW(s->vars_nodes, s->n_vars_nodes + 1, s->vars_alloc);
	s->vars_nodes[s->n_vars_nodes++] = e;
	return e;
}

/* Facts as a provider would give them, for checking templates before any host exists. */
static void preview_facts(struct scope *f, const char *provider)
{
	scope_set_str(f, "container", strcmp(provider, "local") ? "false" : "true");
	scope_set_str(f, "address", "192.0.2.10");
	scope_set_str(f, "private_address", "192.0.2.10");
	scope_set_str(f, "bridge_address", "192.0.2.1");
	/* every provider but static knows its private network (a cloud: its subnet) */
	if (strcmp(provider, "static"))
		scope_set_str(f, "private_network", "192.0.2.0/24");
	scope_set_str(f, "os_id", "debian");
	scope_set_str(f, "os_version_id", "12");
	scope_set_str(f, "provider", provider);
}

static void fill_render_input(struct session *s, const struct inv_layout *l,
                              const struct inv_server *srv, const struct scope *facts, char **only,
                              size_t n_only, struct render_input *in)
{
	memset(in, 0, sizeof(*in));
	in->inv = s->inv;
	in->layout = l;
	in->server = srv;
	in->env = s->env;
	in->facts = facts;
	in->admin_public_key = s->public_key ? s->public_key : "ssh-ed25519 AAAA(preview)";
	in->roles = &s->roles;
	in->template_dirs = (const char *const *)s->template_dirs;
	in->n_template_dirs = s->n_template_dirs;
	in->only_roles = (const char *const *)only;
	in->n_only_roles = n_only;
	/* late, and once: not for commands that render nothing, not per server */
	if (!s->secrets_resolved) {
		secrets_resolve(&s->secrets, s->inv);
		s->secrets_resolved = true;
	}
	in->secrets = &s->secrets;
}

/*
 * The alert rules of every role a server of the layout has, each role
 * once, in the order met (its thresholds as the first server with the
 * role renders them): {role, alert, expr, for, severity, summary,
 * runbook} for the monitoring role's rule file.
 */
static void add_alerts(struct session *s, const struct host_plan *hp)
{
	size_t known = s->alerts->n;

	for (size_t i = 0; hp->alerts && i < hp->alerts->n; i++) {
		const char *role = node_get(hp->alerts->items[i], "role")->scalar;
		bool seen = false;
		for (size_t k = 0; k < known && !seen; k++)
			seen = !strcmp(node_get(s->alerts->items[k], "role")->scalar, role);
		if (!seen)
			node_seq_append(s->alerts, node_clone(hp->alerts->items[i]));
	}
}

static void free_ports(struct session *s)
{
	for (size_t i = 0; s->ports && i < s->ports_of->n_servers; i++) {
		pv_free_list(s->ports[i], s->n_ports[i]);
		node_free(s->scrape[i]);
	}
	free(s->scrape);
	node_free(s->alerts);
	s->scrape = NULL;
	s->alerts = NULL;
	free(s->ports);
	free(s->n_ports);
	s->ports = NULL;
	s->n_ports = NULL;
	s->ports_of = NULL;
}

/* Empty tables of what each server of l opens and serves, and l's alert rules. */
static void layout_tables(struct session *s, const struct inv_layout *l)
{
	free_ports(s);
	s->ports_of = l;
	s->ports = xcalloc(l->n_servers + 1, sizeof(*s->ports));
	s->n_ports = xcalloc(l->n_servers + 1, sizeof(*s->n_ports));
	s->scrape = xcalloc(l->n_servers + 1, sizeof(*s->scrape));
	s->alerts = node_new_seq(&(struct pos){pv_intern("(provision)"), 0, 0});
}

/*
 * The rules of the server's roles' variables typed as firewall rules (the
 * ufw role's ufw_allow): what the host's firewall opens besides the
 * roles' ports, so the cloud firewall opens it too.  Added to hp->ports.
 */
static void add_rule_vars(struct session *s, const struct inv_server *srv, struct host_plan *hp)
{
	struct role **rl = NULL;
	size_t nr = 0;
	struct diags d;

	diags_init(&d);
	if (role_closure(&s->roles, srv->roles, srv->role_pos, srv->n_roles, &rl, &nr, &d) < 0)
		nr = 0;
	for (size_t k = 0; k < nr; k++)
		for (size_t j = 0; j < rl[k]->n_decls; j++) {
			const struct node *v;
			if (!vartype_is_rule_list(rl[k]->decls[j].type) ||
			    !(v = scope_get(&hp->scope, rl[k]->decls[j].name)) ||
			    v->kind != NODE_SEQ)
				continue;
			for (size_t q = 0; q < v->n; q++) {
				if (v->items[q]->kind != NODE_SCALAR ||
				    strstr(v->items[q]->scalar, "{{"))
					continue;
				hp->ports =
				    xrealloc(hp->ports, (hp->n_ports + 1) * sizeof(*hp->ports));
				hp->ports[hp->n_ports++] = xstrdup(v->items[q]->scalar);
			}
		}
	free(rl);
	diags_release(&d);
}

/* The server's 'layout: true' variables against the layout's other servers'. */
static void agree_add(struct session *s, const struct inv_layout *l, const struct inv_server *srv,
                      const struct host_plan *hp, struct vars_agree *agree, struct diags *d)
{
	struct role **rl = NULL;
	size_t nr = 0;
	struct diags ignored; /* a role that does not load is reported by the render */

	diags_init(&ignored);
	if (role_closure(&s->roles, srv->roles, srv->role_pos, srv->n_roles, &rl, &nr, &ignored) ==
	    0)
		vars_agree_add(agree, l->name, srv->name, &hp->scope, rl, nr, l->pos.file, d);
	free(rl);
	diags_release(&ignored);
}

int session_check_layout(struct session *s, const struct inv_layout *l)
{
	const struct provider_ops *p = session_provider(s, l);
	struct diags d;
	struct node *peers = NULL;
	struct vars_agree agree;
	int rc = PV_EXIT_OK;

	if (!p)
		return PV_EXIT_USAGE;
	layout_tables(s, l);
	vars_agree_init(&agree);
	diags_init(&d);
	if (p->validate)
		p->validate(s->inv, l, inventory_provider(s->inv, l->provider), &d);
	vars_check_names(s->inv, l, &s->roles, !s->inv_vars_checked, &d);
	s->inv_vars_checked = true;
	for (size_t i = 0; i < l->n_servers; i++) {
		struct host_plan hp;
		struct render_input in;
		struct scope facts;

		scope_init(&facts);
		preview_facts(&facts, l->provider);
		if (i == 0)
			peers = servers_var(s, l, NULL, 0, true);
		scope_set(&facts, "servers", peers);
		scope_set(&facts, "monitoring_alerts", empty_alerts(s));
		layout_ca_vars(s, l, true, (struct scope *[]){&facts}, 1);
		fill_render_input(s, l, &l->servers[i], &facts, NULL, 0, &in);
		memset(&hp, 0, sizeof(hp));
		plan_render(&hp, &in, &d);
		agree_add(s, l, &l->servers[i], &hp, &agree, &d);
		add_rule_vars(s, &l->servers[i], &hp);
		s->ports[i] = hp.ports; /* transferred */
		s->n_ports[i] = hp.n_ports;
		hp.ports = NULL;
		hp.n_ports = 0;
		s->scrape[i] = hp.scrape; /* transferred */
		hp.scrape = NULL;
		add_alerts(s, &hp);
		backup_check_plan(&hp, &d);
		plan_release(&hp);
		scope_release(&facts);
	}
	vars_agree_release(&agree);
	if (d.n) {
		/* the same problem shows once, not once per server or layout */
		for (size_t i = 0; i < d.n; i++) {
			bool seen = said_before(&d, i);
			for (size_t k = 0; k < s->said.n && !seen; k++)
				seen = !strcmp(d.msgs[i], s->said.msgs[k]);
			if (seen)
				continue;
			say("", d.msgs[i]);
			diags_add(&s->said, NULL, "%s", d.msgs[i]);
		}
		rc = PV_EXIT_USAGE;
	}
	diags_release(&d);
	return rc;
}

int session_check_api(struct session *s, const struct inv_layout *l)
{
	const struct provider_ops *p = session_provider(s, l);
	struct diags d;
	int rc = PV_EXIT_OK;

	if (!p)
		return PV_EXIT_USAGE;
	if (!p->check_api)
		return PV_EXIT_OK;
	diags_init(&d);
	p->check_api(inventory_provider(s->inv, l->provider), &d);
	if (d.n) {
		print_diags(&d);
		rc = PV_EXIT_USAGE;
	}
	diags_release(&d);
	return rc;
}

int session_check_provider(struct session *s, const struct inv_layout *l)
{
	const struct provider_ops *p = session_provider(s, l);
	const struct node *settings;
	struct diags d;
	int rc = PV_EXIT_OK;

	if (!p)
		return PV_EXIT_USAGE;
	settings = inventory_provider(s->inv, l->provider);
	diags_init(&d);
	if (p->validate)
		p->validate(s->inv, l, settings, &d);
	else if (p->check_api)
		p->check_api(settings, &d);
	if (d.n) {
		print_diags(&d);
		rc = PV_EXIT_USAGE;
	}
	diags_release(&d);
	return rc;
}

int session_preview(struct session *s, const struct inv_layout *l, const struct inv_server *srv,
                    bool strict, struct scope *facts, struct host_plan *hp)
{
	struct render_input in;
	struct diags d;
	int rc;

	diags_init(&d);
	scope_init(facts);
	preview_facts(facts, l->provider);
	layout_ca_vars(s, l, true, &facts, 1);
	fill_render_input(s, l, srv, facts, NULL, 0, &in);
	memset(hp, 0, sizeof(*hp));
	rc = plan_render(hp, &in, &d) < 0 && strict ? PV_EXIT_USAGE : PV_EXIT_OK;
	if (strict)
		print_diags(&d);
	diags_release(&d);
	return rc;
}

int session_provider_token(struct session *s, const struct inv_layout *l)
{
	const struct provider_ops *p = provider_find(l->provider);
	struct pv_error err = {{0}};
	char *token = NULL;

	if (!p || !p->token_env)
		return PV_EXIT_OK;
	if (provider_token(p, inventory_provider(s->inv, l->provider), &token, &err) < 0) {
		pv_say_error("%s", err.msg);
		return PV_EXIT_USAGE;
	}
	pv_free_secret(token);
	return PV_EXIT_OK;
}

int session_open_state(struct session *s, bool lock)
{
	struct pv_error err = {{0}};

	if (s->st_open)
		return PV_EXIT_OK;
	if (state_open(&s->st, s->state_dir, s->inv->project, lock, &err) < 0) {
		pv_say_error("%s", err.msg);
		return PV_EXIT_FAIL;
	}
	s->st_open = true;
	return PV_EXIT_OK;
}

bool session_keys_made(struct session *s)
{
	if (!s->public_key && !s->inv->ssh_private_key) {
		char *keys = pv_path_join(s->state_dir, "keys");
		char *path = pv_path_join(keys, "id_ed25519");
		bool made = access(path, F_OK) == 0;
		free(keys);
		free(path);
		if (!made)
			return false;
	}
	return session_keys(s) == PV_EXIT_OK;
}

int session_keys(struct session *s)
{
	struct pv_error err = {{0}};

	if (s->public_key)
		return PV_EXIT_OK;
	if (s->inv->ssh_private_key) {
		s->private_key = pv_expand_home(s->inv->ssh_private_key);
		if (s->private_key[0] != '/') {
			char *abs = pv_path_join(s->inv->dir, s->private_key);
			free(s->private_key);
			s->private_key = abs;
		}
	} else {
		char *keys = pv_path_join(s->state_dir, "keys");
		s->private_key = pv_path_join(keys, "id_ed25519");
		free(keys);
		char *comment = xasprintf("provision@%s", s->inv->project);
		int rc = 0, lock_fd = -1;
		/* made once, under the run lock: two first runs never make two keys */
		if (access(s->private_key, F_OK) != 0 && !(s->st_open && s->st.lock_fd >= 0))
			rc = lock_fd = state_lock_wait(s->state_dir, &err);
		if (rc >= 0)
			rc = key_ensure_file(s->private_key, comment, &err);
		if (lock_fd >= 0)
			close(lock_fd);
		free(comment);
		if (rc < 0) {
			pv_say_error("%s", err.msg);
			return PV_EXIT_FAIL;
		}
	}
	if (key_public_from_file(s->private_key, &s->public_key, &err) < 0) {
		pv_say_error("%s", err.msg);
		return PV_EXIT_FAIL;
	}
	return PV_EXIT_OK;
}

void session_provider_ctx(struct session *s, const struct inv_layout *l, struct provider_ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->inv = s->inv;
	c->layout = l;
	c->env = s->env;
	c->settings = inventory_provider(s->inv, l->provider);
	c->state = &s->st;
	c->lstate = state_layout(&s->st, s->env, l->name, true);
	c->rep = s->rep;
	c->known_hosts = s->known_hosts;
	c->admin_user = s->inv->ssh_user;
	c->admin_public_key = s->public_key;
	c->admin_private_key = s->private_key;
	c->roles = &s->roles;
	if (s->ports_of == l) {
		c->server_ports = s->ports;
		c->n_server_ports = s->n_ports;
	}
}

/*
 * Each host's 'metrics' rendered with its real facts (an address in a
 * probe URL), for the variable 'servers' of this render.  Problems are
 * left to the full render that follows.
 */
static void metrics_pass(struct session *s, const struct inv_layout *l, struct host *hosts,
                         size_t n)
{
	bool fresh = s->ports_of != l;
	struct diags d;

	if (fresh) {
		layout_tables(s, l);
	}
	diags_init(&d);
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		struct render_input in;
		struct host_plan hp;

		while (k < l->n_servers && strcmp(l->servers[k].name, hosts[i].name))
			k++;
		if (k == l->n_servers)
			continue;
		fill_render_input(s, l, &l->servers[k], &hosts[i].facts, NULL, 0, &in);
		in.metrics_only = true;
		memset(&hp, 0, sizeof(hp));
		if (plan_render(&hp, &in, &d) == 0) {
			node_free(s->scrape[k]);
			s->scrape[k] = hp.scrape; /* transferred */
			hp.scrape = NULL;
			if (fresh)
				add_alerts(s, &hp);
		}
		plan_release(&hp);
	}
	diags_release(&d);
}

int session_render(struct session *s, const struct inv_layout *l, struct host *hosts, size_t n,
                   char **only_roles, size_t n_only, struct host_plan **plans)
{
	struct diags d;
	struct host_plan *p = xcalloc(n ? n : 1, sizeof(*p));
	int rc = PV_EXIT_OK;

	diags_init(&d);
	struct scope **facts = xcalloc(n ? n : 1, sizeof(*facts));
	for (size_t i = 0; i < n; i++)
		facts[i] = &hosts[i].facts;
	rc = layout_ca_vars(s, l, false, facts, n);
	free(facts);
	if (rc != PV_EXIT_OK) {
		diags_release(&d);
		*plans = p;
		return rc;
	}
	metrics_pass(s, l, hosts, n);
	struct node *peers = servers_var(s, l, hosts, n, false);
	struct node *alerts = s->alerts;
	for (size_t i = 0; i < n; i++) {
		const struct inv_server *srv = layout_server(l, hosts[i].name);
		struct render_input in;

		if (!srv) {
			diags_add(&d, NULL, "host '%s' is in the state but not in layout '%s'",
			          hosts[i].name, l->name);
			continue;
		}
		scope_set(&hosts[i].facts, "servers", peers);
		scope_set(&hosts[i].facts, "monitoring_alerts", alerts);
		fill_render_input(s, l, srv, &hosts[i].facts, only_roles, n_only, &in);
		if (plan_render(&p[i], &in, &d) == 0)
			p[i].host = &hosts[i];
	}
	if (d.n) {
		print_diags(&d);
		rc = PV_EXIT_USAGE;
	}
	diags_release(&d);
	*plans = p;
	return rc;
}

/* --timings: every resource and handler the hosts timed, slowest first. */
static void report_run_timings(struct reporter *rep, const struct host_plan *plans, size_t n,
                               const char *const *names, bool check)
{
	struct report_timing *t = NULL;
	size_t nt = 0, alloc = 0;

	for (size_t i = 0; i < n; i++) {
		const struct host_plan *p = &plans[i];
		for (size_t k = 0; k < p->n_res + p->n_handlers; k++) {
			const struct resource *r =
			    k < p->n_res ? &p->res[k] : &p->handlers[k - p->n_res].res;
			if (k >= p->n_res && p->handlers[k - p->n_res].status == RES_PENDING)
				continue; /* a handler that did not run */
			if (r->ms < 0)
				continue;
			PV_GROW(t, nt + 1, alloc);
			t[nt++] = (struct report_timing){names[i], r->role, r->title, r->ms};
		}
	}
	report_timings(rep, names, n, t, nt, 10, check);
	free(t);
}

int session_converge(struct session *s, struct host_plan *plans, size_t n, bool check, bool diff,
                     int jobs)
{
	struct converge_opts o = {
	    .check = check,
	    .diff = diff,
	    .jobs = jobs,
	    .private_key = s->private_key,
	    .known_hosts = s->known_hosts,
	};
	struct host_result *res = xcalloc(n ? n : 1, sizeof(*res));
	const char **names = xcalloc(n ? n : 1, sizeof(*names));
	json_t *repro = NULL, **rec = NULL;
	int rc;

	if (s->record_layout && !check) {
		repro = state_obj(state_layout(&s->st, s->env, s->record_layout->name, true),
		                  "repro", true);
		rec = xcalloc(n ? n : 1, sizeof(*rec));
		for (size_t i = 0; i < n; i++) {
			rec[i] = repro_digests(
			    &plans[i]); /* before the probe fills in the host's side */
			plans[i].frozen = s->frozen;
			plans[i].record = true;
			plans[i].frozen_pkgs = json_object_get(
			    json_object_get(repro, plans[i].host->name), "packages");
			plans[i].frozen_deps = json_object_get(
			    json_object_get(repro, plans[i].host->name), "dependencies");
			if (plans[i].frozen_deps)
				json_object_set(rec[i], "dependencies",
				                (json_t *)plans[i].frozen_deps);
		}
	}
	rc = converge(plans, n, &o, s->rep, res) < 0 ? PV_EXIT_FAIL : PV_EXIT_OK;
	for (size_t i = 0; check && i < n; i++)
		s->pending += res[i].would_change;
	if (repro) {
		struct pv_error err = {{0}};
		for (size_t i = 0; i < n; i++) {
			if (!res[i].error && !res[i].failed && plans[i].pkg_installed) {
				json_object_set_new(rec[i], "packages",
				                    json_deep_copy(plans[i].pkg_installed));
				/* a probe that did not read them keeps the recorded ones */
				if (plans[i].deps_read)
					json_object_set_new(rec[i], "dependencies",
					                    json_deep_copy(plans[i].pkg_deps));
				json_object_set_new(repro, plans[i].host->name, rec[i]);
			} else {
				json_decref(rec[i]);
			}
		}
		free(rec);
		if (state_save(&s->st, &err) < 0) {
			pv_say_error("%s", err.msg);
			rc = PV_EXIT_FAIL;
		}
	}
	for (size_t i = 0; i < n; i++)
		names[i] = plans[i].host->name;
	report_summary(s->rep, names, res, n);
	if (s->timings)
		report_run_timings(s->rep, plans, n, names, check);
	for (size_t i = 0; i < n; i++)
		free(res[i].error);
	free(res);
	free(names);
	return rc;
}

void session_release(struct session *s)
{
	diags_release(&s->said);
	free_ports(s);
	if (s->st_open)
		state_close(&s->st);
	if (s->secrets_resolved)
		secrets_release(&s->secrets);
	if (s->inv || s->roles_only) {
		role_set_release(&s->roles);
		inventory_free(s->inv);
	}
	for (size_t i = 0; i < s->n_template_dirs; i++)
		free(s->template_dirs[i]);
	free(s->state_dir);
	free(s->known_hosts);
	free(s->private_key);
	free(s->public_key);
	free(s->data_dir);
	for (size_t i = 0; i < s->n_vars_nodes; i++)
		node_free(s->vars_nodes[i]);
	free(s->vars_nodes);
	if (s->rep)
		reporter_free(s->rep);
}

char **pv_split_list(const char *str, size_t *n)
{
	char **out = NULL;
	size_t alloc = 0;
	const char *p = str;

	*n = 0;
	while (p && *p) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);
		if (l) {
			PV_GROW(out, *n + 1, alloc);
			out[(*n)++] = xstrndup(p, l);
		}
		p = c ? c + 1 : NULL;
	}
	return out;
}

void pv_free_list(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

void session_target(const struct session *s, const struct host *h, int timeout_ms,
                    struct remote_target *t)
{
	memset(t, 0, sizeof(*t));
	t->name = h->name;
	t->address = h->address;
	t->port = h->port;
	t->user = h->user;
	t->private_key = s->private_key;
	t->known_hosts = s->known_hosts;
	t->timeout_ms = timeout_ms;
}

int session_layout_hosts(struct session *s, const struct inv_layout *l, struct host **hosts,
                         size_t *n)
{
	const struct provider_ops *p = session_provider(s, l);
	struct provider_ctx c;
	struct pv_error err = {{0}};

	*hosts = NULL;
	*n = 0;
	if (!p)
		return PV_EXIT_USAGE;
	if (!state_layout(&s->st, s->env, l->name, false)) {
		pv_say_error("layout '%s' is not created in environment '%s'", l->name, s->env);
		return PV_EXIT_USAGE;
	}
	session_provider_ctx(s, l, &c);
	if (p->hosts(&c, hosts, n, &err) < 0) {
		pv_say_error("%s", err.msg);
		return PV_EXIT_FAIL;
	}
	return PV_EXIT_OK;
}
