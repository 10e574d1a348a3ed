/*
 * engine.c - render a server's roles into resources, assemble the probe,
 * apply and rollback scripts, and read their output.
 *
 * Nothing here talks to a host: converge.c sends the scripts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/engine.h"
#include "provision/remote.h"
#include "provision/repro.h"
#include "provision/shquote.h"
#include "provision/template.h"
#include "provision/vars.h"
#include "provision/volume.h"
#include "res-util.h"

/* Keys a resource item may carry besides its one type key. */
static const char *const meta_keys[] = {"notify", "when", "verify_login"};

void plan_release(struct host_plan *hp)
{
	for (size_t i = 0; i < hp->n_res; i++)
		resource_release(&hp->res[i]);
	free(hp->res);
	for (size_t i = 0; i < hp->n_handlers; i++) {
		free(hp->handlers[i].name);
		resource_release(&hp->handlers[i].res);
	}
	free(hp->handlers);
	for (size_t i = 0; i < hp->n_ports; i++)
		free(hp->ports[i]);
	free(hp->ports);
	json_decref(hp->pkg_installed);
	json_decref(hp->pkg_candidate);
	json_decref(hp->pkg_deps);
	json_decref(hp->pkg_sim);
	for (size_t i = 0; i < hp->n_health; i++) {
		free(hp->health[i].role);
		free(hp->health[i].title);
		pv_free_secret(hp->health[i].sh);
	}
	free(hp->health);
	node_free(hp->scrape);
	node_free(hp->alerts);
	for (size_t i = 0; i < hp->n_role_names; i++)
		free(hp->role_names[i]);
	free(hp->role_names);
	for (size_t i = 0; i < hp->n_audit; i++) {
		free(hp->audit[i].role);
		free(hp->audit[i].id);
		free(hp->audit[i].cis);
		free(hp->audit[i].title);
		free(hp->audit[i].sh);
		free(hp->audit[i].skip);
	}
	free(hp->audit);
	scope_release(&hp->scope);
	memset(hp, 0, sizeof(*hp));
}

static bool is_meta_key(const char *k)
{
	for (size_t i = 0; i < PV_ARRAY_SIZE(meta_keys); i++)
		if (!strcmp(k, meta_keys[i]))
			return true;
	return false;
}

/* A variable's scalar text, or NULL when it is undefined or not a scalar. */
static const char *when_scalar(const struct scope *s, const char *name)
{
	const struct node *v = scope_get(s, name);

	return v && v->kind == NODE_SCALAR ? v->scalar : NULL;
}

/*
 * One term: "name" or "!name" (the variable's truth, as templates judge
 * it), "name == text" or "name != text" (an undefined variable equals
 * nothing).  Returns -1 when the term is malformed.
 */
static int when_term(const char *term, const struct scope *s, bool *out)
{
	char *t = xstrdup(term), *op, *name = t, *end;
	bool neg = false;
	int rc = 0;

	while (*name == ' ')
		name++;
	end = name + strlen(name);
	while (end > name && end[-1] == ' ')
		*--end = '\0';
	if ((op = strstr(name, "==")) || (op = strstr(name, "!="))) {
		bool eq = op[0] == '=';
		char *lhs_end = op, *rhs = op + 2;
		while (lhs_end > name && lhs_end[-1] == ' ')
			lhs_end--;
		*lhs_end = '\0';
		while (*rhs == ' ')
			rhs++;
		size_t rl = strlen(rhs);
		if (rl >= 2 && (rhs[0] == '"' || rhs[0] == '\'') && rhs[rl - 1] == rhs[0]) {
			rhs[rl - 1] = '\0';
			rhs++;
		}
		if (!*name || strchr(name, ' ')) {
			rc = -1;
		} else {
			const char *v = when_scalar(s, name);
			*out = (v && !strcmp(v, rhs)) == eq;
		}
		free(t);
		return rc;
	}
	if (*name == '!') {
		neg = true;
		name++;
		while (*name == ' ')
			name++;
	}
	if (!*name || strchr(name, ' '))
		rc = -1;
	else
		*out = tpl_truth(scope_get(s, name)) != neg;
	free(t);
	return rc;
}

/* Terms joined by "||": true when any holds. */
static int when_or(const struct node *w, const struct scope *s, bool *out, struct diags *d)
{
	char *text = xstrdup(w->scalar), *p = text;
	int rc = 0;

	*out = false;
	for (;;) {
		char *bar = strstr(p, "||");
		bool one = false;
		if (bar)
			*bar = '\0';
		if (when_term(p, s, &one) < 0) {
			diags_add(d, &w->pos,
			          "'when' term '%s' is not 'name', '!name', 'name == text' or "
			          "'name != text'",
			          p);
			rc = -1;
			break;
		}
		*out = *out || one;
		if (!bar)
			break;
		p = bar + 2;
	}
	free(text);
	return rc;
}

/*
 * when: "name" | "!name" | "name == text" | "name != text", terms joined
 * by "||"; a list of such texts must all hold.
 */
static int eval_when(const struct node *w, const struct scope *s, bool *out, struct diags *d)
{
	if (w->kind == NODE_SEQ && w->n) {
		*out = true;
		for (size_t i = 0; i < w->n; i++) {
			bool one;
			if (w->items[i]->kind != NODE_SCALAR || !*w->items[i]->scalar) {
				diags_add(d, &w->items[i]->pos,
				          "items of 'when' must be conditions, not %s",
				          node_kind_name(w->items[i]));
				return -1;
			}
			if (when_or(w->items[i], s, &one, d) < 0)
				return -1;
			*out = *out && one;
		}
		return 0;
	}
	if (w->kind != NODE_SCALAR || !*w->scalar) {
		diags_add(d, &w->pos, "'when' must name a variable ('name' or '!name'), not %s",
		          node_kind_name(w));
		return -1;
	}
	return when_or(w, s, out, d);
}

/*
 * Find the one type key of item and the resource type it names.  Unknown
 * keys are reported with the nearest type or meta key.
 */
static const struct node *item_type(const struct node *item, const char *where,
                                    const struct res_type **type, struct diags *d, bool handler)
{
	const struct node *found = NULL;
	size_t n_types;
	const char *const *types = res_type_names(&n_types);
	const char **cands = xcalloc(n_types + PV_ARRAY_SIZE(meta_keys), sizeof(*cands));
	size_t n_cands = 0;
	int bad = 0;

	for (size_t i = 0; i < n_types; i++)
		cands[n_cands++] = types[i];
	for (size_t i = 0; i < PV_ARRAY_SIZE(meta_keys); i++)
		cands[n_cands++] = meta_keys[i];
	*type = NULL;
	for (size_t i = 0; i < item->n; i++) {
		const char *k = item->keys[i];
		const struct res_type *t = res_type_find(k);

		if (t) {
			if (found) {
				diags_add(
				    d, &item->key_pos[i],
				    "%s has two types ('%s' and '%s'); write one resource each",
				    where, (*type)->name, k);
				bad = -1;
				continue;
			}
			found = item->items[i];
			*type = t;
		} else if (!is_meta_key(k) || (handler && strcmp(k, "when"))) {
			const char *near = pv_nearest(k, cands, n_cands);
			if (near)
				diags_add(d, &item->key_pos[i],
				          "unknown key '%s' in %s (did you mean '%s'?)", k, where,
				          near);
			else
				diags_add(d, &item->key_pos[i], "unknown key '%s' in %s", k, where);
			bad = -1;
		}
	}
	free(cands);
	if (!found && !bad) {
		struct buf list = BUF_INIT;
		for (size_t i = 0; i < n_types; i++)
			buf_addf(&list, "%s%s", i ? ", " : "", types[i]);
		diags_add(d, &item->pos, "%s names no resource type (one of: %s)", where, list.s);
		buf_release(&list);
	}
	return bad ? NULL : found;
}

static struct handler *handler_find(struct host_plan *hp, const char *name)
{
	for (size_t i = 0; i < hp->n_handlers; i++)
		if (!strcmp(hp->handlers[i].name, name))
			return &hp->handlers[i];
	return NULL;
}

static void load_handlers(struct host_plan *hp, struct role *const *roles, size_t n_roles,
                          const struct render_input *in, struct diags *d)
{
	size_t alloc = 0;

	for (size_t ri = 0; ri < n_roles; ri++) {
		const struct role *role = roles[ri];
		const struct node *hs = role->handlers;
		struct render_ctx ctx = {in->template_dirs, in->n_template_dirs, role->name,
		                         role->dir};

		for (size_t i = 0; hs && i < hs->n; i++) {
			const struct node *item = hs->items[i];
			const struct res_type *t;
			const struct node *spec;
			char *where =
			    xasprintf("handler '%s' of role '%s'", hs->keys[i], role->name);

			if (handler_find(hp, hs->keys[i])) {
				diags_add(d, &hs->key_pos[i],
				          "handler '%s' is defined twice on server '%s'",
				          hs->keys[i], in->server->name);
				free(where);
				continue;
			}
			if (item->kind != NODE_MAP) {
				diags_add(d, &item->pos, "%s must be a mapping, not %s", where,
				          node_kind_name(item));
				free(where);
				continue;
			}
			spec = item_type(item, where, &t, d, true);
			const struct node *w = node_get(item, "when");
			bool on = true;
			if (!spec || (w && eval_when(w, &hp->scope, &on, d) < 0)) {
				free(where);
				continue;
			}
			PV_GROW(hp->handlers, hp->n_handlers + 1, alloc);
			struct handler *h = &hp->handlers[hp->n_handlers];
			memset(h, 0, sizeof(*h));
			buf_init(&h->res.current, 0);
			h->name = xstrdup(hs->keys[i]);
			h->res.type = t;
			h->res.role = xstrdup(role->name);
			h->res.pos = hs->key_pos[i];
			if (!on) {
				/* notifying a handler that does not apply here does nothing */
				h->res.type = NULL;
			} else if (t->parse(&h->res, spec, &hp->scope, &ctx, d) < 0) {
				resource_release(&h->res);
				free(h->name);
				free(where);
				continue;
			}
			free(h->res.title);
			h->res.title = xasprintf("handler %s", h->name);
			hp->n_handlers++;
			free(where);
		}
	}
}

static void parse_resource(struct host_plan *hp, const struct role *role, const struct node *item,
                           const struct render_input *in, size_t *alloc, struct diags *d)
{
	const char *where = "resource";
	struct render_ctx ctx = {in->template_dirs, in->n_template_dirs, role->name, role->dir};
	const struct res_type *t;
	const struct node *spec, *v;
	struct resource r;
	bool on = true;
	char *w = xasprintf("resource of role '%s'", role->name);

	if (item->kind != NODE_MAP) {
		diags_add(d, &item->pos,
		          "each item of 'resources' in role '%s' must be a mapping, "
		          "not %s",
		          role->name, node_kind_name(item));
		free(w);
		return;
	}
	spec = item_type(item, w, &t, d, false);
	free(w);
	if (!spec)
		return;
	if ((v = node_get(item, "when")) && (eval_when(v, &hp->scope, &on, d) < 0 || !on))
		return;
	memset(&r, 0, sizeof(r));
	buf_init(&r.current, 0);
	r.type = t;
	r.role = xstrdup(role->name);
	r.pos = item->pos;
	if (t->parse(&r, spec, &hp->scope, &ctx, d) < 0) {
		resource_release(&r);
		return;
	}
	if ((v = node_get(item, "verify_login")) &&
	    node_to_bool(v, &r.verify_login, "'verify_login' of a resource", d) < 0) {
		resource_release(&r);
		return;
	}
	if ((v = node_get(item, "notify"))) {
		const char **names = NULL;
		size_t n = 0;
		if (node_to_strlist(v, &names, &n, "'notify' of a resource", d) < 0) {
			resource_release(&r);
			return;
		}
		r.notify = xcalloc(n ? n : 1, sizeof(*r.notify));
		for (size_t i = 0; i < n; i++) {
			if (!handler_find(hp, names[i])) {
				const char **hn = xcalloc(hp->n_handlers + 1, sizeof(*hn));
				for (size_t k = 0; k < hp->n_handlers; k++)
					hn[k] = hp->handlers[k].name;
				const char *near = pv_nearest(names[i], hn, hp->n_handlers);
				if (near)
					diags_add(d, &v->pos,
					          "%s notifies unknown handler '%s' (did you mean "
					          "'%s'?)",
					          r.title, names[i], near);
				else
					diags_add(d, &v->pos, "%s notifies unknown handler '%s'",
					          r.title, names[i]);
				free(hn);
				continue;
			}
			r.notify[r.n_notify++] = xstrdup(names[i]);
		}
		free(names);
	}
	if (!res_command_guarded(&r)) {
		diags_add(d, &item->pos,
		          "%s in role '%s' needs 'creates' or 'unless', so that a second run "
		          "changes nothing (or make it a handler)",
		          r.title, role->name);
		resource_release(&r);
		return;
	}
	const char *path = res_file_path(&r);
	for (size_t i = 0; path && i < hp->n_res; i++) {
		const char *other = res_file_path(&hp->res[i]);
		if (other && !strcmp(other, path)) {
			diags_add(d, &item->pos,
			          "file '%s' is managed twice on server '%s' (roles '%s' and '%s')",
			          path, in->server->name, hp->res[i].role, role->name);
			resource_release(&r);
			return;
		}
	}
	/* two files in /etc/sysctl.d with one key: each run would set it back and forth */
	for (size_t i = 0; i < hp->n_res; i++) {
		const char *key = res_sysctl_shared_key(&hp->res[i], &r);
		if (key) {
			diags_add(d, &item->pos,
			          "kernel parameter '%s' is set twice on server '%s' (%s in role "
			          "'%s' and %s in role '%s')",
			          key, in->server->name, hp->res[i].title, hp->res[i].role, r.title,
			          role->name);
			resource_release(&r);
			return;
		}
	}
	(void)where;
	PV_GROW(hp->res, hp->n_res + 1, *alloc);
	hp->res[hp->n_res++] = r;
}

static void add_port(struct host_plan *hp, const char *p, size_t *alloc)
{
	for (size_t i = 0; i < hp->n_ports; i++)
		if (!strcmp(hp->ports[i], p))
			return;
	PV_GROW(hp->ports, hp->n_ports + 1, *alloc);
	hp->ports[hp->n_ports++] = xstrdup(p);
}

void secrets_resolve(struct secrets *out, const struct inventory *inv)
{
	scope_init(&out->values);
	diags_init(&out->problems);
	for (size_t i = 0; inv->secrets && i < inv->secrets->n; i++) {
		struct node *v = NULL;
		struct pv_error err = {{0}};
		if (inventory_secret(&v, inv, inv->secrets->keys[i], &err) < 0) {
			diags_add(&out->problems, NULL, "%s", err.msg);
			/* one message for the secret, not one for each template using it */
			v = node_new_scalar("", &inv->secrets->key_pos[i]);
			v->secret = true;
		}
		scope_set_owned(&out->values, inv->secrets->keys[i], v);
	}
}

void secrets_release(struct secrets *sec)
{
	scope_release(&sec->values);
	diags_release(&sec->problems);
}

/*
 * The k-th port role r declares, rendered with the server's variables when
 * it names one ("{{ haproxy_port }}/tcp"): the port a role opens comes from
 * the same variable as the port its service listens on.
 */
static void add_role_port(struct host_plan *hp, const struct role *r, size_t k, const char *server,
                          size_t *alloc, struct diags *d)
{
	const struct node *list = node_get(r->doc, "ports");
	const struct pos *at =
	    list && list->kind == NODE_SEQ && k < list->n ? &list->items[k]->pos : NULL;
	struct pv_error err = {{0}};
	struct buf b = BUF_INIT;
	bool secret = false;

	if (!strstr(r->ports[k], "{{")) {
		add_port(hp, r->ports[k], alloc);
		return;
	}
	if (tpl_render(&b, r->ports[k], at, &hp->scope, TPL_TEXT, &secret, &err) < 0)
		diags_add(d, NULL, "%s", err.msg);
	else if (!secret && !*b.s)
		; /* "{% if x %}...{% endif %}": the role opens nothing here */
	else if (secret || !role_port_valid(b.s))
		diags_add(
		    d, at,
		    "port '%s' of role '%s' is '%s' on server '%s', not a port (like 443/tcp, "
		    "53/udp or 5432/tcp private)",
		    r->ports[k], r->name, secret ? "[secret]" : b.s, server);
	else
		add_port(hp, b.s, alloc);
	buf_release(&b);
}

/*
 * "PORT monitoring": PORT open to each server of the layout with role
 * monitoring, and to no one when there is none.
 */
static void monitoring_rules(struct node *rules, const struct scope *s, const char *p, size_t len,
                             const struct pos *tool)
{
	const struct node *servers = scope_get(s, "servers");

	for (size_t i = 0; servers && servers->kind == NODE_SEQ && i < servers->n; i++) {
		const struct node *e = servers->items[i];
		const struct node *roles = node_get(e, "roles");
		const struct node *addr = node_get(e, "address");
		if (!roles || !node_get(roles, "monitoring") || !addr || addr->kind != NODE_SCALAR)
			continue;
		char *rule = xasprintf("%.*s from %s", (int)len, p, addr->scalar);
		node_seq_append(rules, node_new_scalar(rule, tool));
		free(rule);
	}
}

/* The address of the layout's first server with role monitoring, or "". */
static const char *monitoring_address(const struct scope *s)
{
	const struct node *servers = scope_get(s, "servers");

	for (size_t i = 0; servers && servers->kind == NODE_SEQ && i < servers->n; i++) {
		const struct node *roles = node_get(servers->items[i], "roles");
		const struct node *addr = node_get(servers->items[i], "address");
		if (roles && node_get(roles, "monitoring") && addr && addr->kind == NODE_SCALAR)
			return addr->scalar;
	}
	return "";
}

static void build_scope(struct host_plan *hp, struct role *const *roles, size_t n_roles,
                        const struct render_input *in, size_t *port_alloc, struct diags *d)
{
	const struct inventory *inv = in->inv;
	struct scope *s = &hp->scope;
	struct pos tool = {pv_intern("(provision)"), 0, 0};
	char port[16];

	for (size_t i = 0; i < n_roles; i++)
		scope_set_map(s, roles[i]->vars);
	vars_set_layer(s, inv->vars);
	vars_set_layer(s, in->layout->vars);
	vars_set_layer(s, in->server->vars);
	if (in->secrets) {
		scope_copy(s, &in->secrets->values);
		for (size_t i = 0; i < in->secrets->problems.n; i++)
			diags_add(d, NULL, "%s", in->secrets->problems.msgs[i]);
	} else {
		struct secrets own;
		secrets_resolve(&own, inv);
		/* the plan's scope takes over the values */
		for (size_t i = 0; i < own.values.n; i++) {
			scope_set_owned(s, own.values.names[i],
			                (struct node *)own.values.values[i]);
			own.values.owned[i] = false;
		}
		for (size_t i = 0; i < own.problems.n; i++)
			diags_add(d, NULL, "%s", own.problems.msgs[i]);
		secrets_release(&own);
	}
	scope_set_str(s, "project", inv->project);
	scope_set_str(s, "env", in->env);
	scope_set_str(s, "layout", in->layout->name);
	scope_set_str(s, "server_name", in->server->name);
	scope_set_str(s, "admin_user", inv->ssh_user);
	scope_set_str(s, "admin_public_key", in->admin_public_key);
	snprintf(port, sizeof(port), "%d", inv->ssh_port);
	scope_set_str(s, "ssh_port", port);
	hp->login_guard_s = inv->ssh_rollback_after;
	scope_set_str(s, "ssh_client_etm", remote_client_etm() ? "true" : "false");
	if (in->facts)
		scope_copy(s, in->facts);
	volumes_scope(s, in->server, scope_get(s, "volume_devices"));
	scope_set_str(s, "monitoring_address", monitoring_address(s));
	for (size_t i = 0; i < n_roles; i++)
		for (size_t k = 0; k < roles[i]->n_ports; k++)
			add_role_port(hp, roles[i], k, in->server->name, port_alloc, d);
	/* after the facts: "PORT private" opens PORT to the private network only */
	struct node *ports = node_new_seq(&tool);
	for (size_t i = 0; i < hp->n_ports; i++) {
		const char *p = hp->ports[i];
		size_t plen = strlen(p);
		const char *sp =
		    plen > 8 && !strcmp(p + plen - 8, " private") ? p + plen - 8 : NULL;
		const char *sl = plen > 7 && !strcmp(p + plen - 7, " layout") ? p + plen - 7 : NULL;
		const char *sm =
		    plen > 11 && !strcmp(p + plen - 11, " monitoring") ? p + plen - 11 : NULL;
		const struct node *net;

		if (sm) {
			monitoring_rules(ports, s, p, (size_t)(sm - p), &tool);
			continue;
		}
		/* "PORT layout": one rule per server of the layout, from its address */
		if (sl) {
			const struct node *peers = scope_get(s, "servers");
			for (size_t k = 0; peers && peers->kind == NODE_SEQ && k < peers->n; k++) {
				const struct node *a = node_get(peers->items[k], "address");
				if (!a || a->kind != NODE_SCALAR || !a->scalar || !*a->scalar)
					continue;
				char *rule =
				    xasprintf("%.*s from %s/%s", (int)(sl - p), p, a->scalar,
				              strchr(a->scalar, ':') ? "128" : "32");
				node_seq_append(ports, node_new_scalar(rule, &tool));
				free(rule);
			}
			continue;
		}
		/* "on IFACE [PORT]" and plain ports are rules as they are */
		if (!sp) {
			node_seq_append(ports, node_new_scalar(p, &tool));
			continue;
		}
		net = scope_get(s, "private_network");
		if (!net || net->kind != NODE_SCALAR || !net->scalar || !*net->scalar) {
			/* at the server: its variables (or its layout's) are where to set it */
			diags_add(
			    d, &in->server->pos,
			    "server '%s' opens %.*s to the private network only: set variable "
			    "'private_network' (e.g. 10.0.0.0/24)",
			    in->server->name, (int)(sp - p), p);
			continue;
		}
		char *rule = xasprintf("%.*s from %s", (int)(sp - p), p, net->scalar);
		node_seq_append(ports, node_new_scalar(rule, &tool));
		free(rule);
	}
	scope_set_owned(s, "role_ports", ports);
}

/* One field of a 'metrics' item, rendered with the server's variables. */
static int metric_field(struct buf *b, const struct node *item, const char *key,
                        const struct host_plan *hp, const char *role, struct diags *d)
{
	const struct node *f = node_get(item, key);
	struct pv_error err = {{0}};
	bool secret = false;

	buf_reset(b);
	if (!f)
		return 0;
	if (tpl_render(b, f->scalar, &f->pos, &hp->scope, TPL_TEXT, &secret, &err) < 0) {
		diags_add(d, NULL, "%s", err.msg);
		return -1;
	}
	if (secret || strpbrk(b->s, "\"'\\{}\n\r\t")) {
		diags_add(d, &f->pos, "'%s' of the metrics of role '%s' must be one plain word%s",
		          key, role, secret ? " and no secret" : "");
		return -1;
	}
	return 0;
}

/*
 * The role's 'metrics' for this server: {job, port, path} to scrape at
 * the server's private address, or {job, probe} for each URL the
 * blackbox exporter probes.
 */
static void render_metrics(struct host_plan *hp, const struct role *role, struct diags *d)
{
	struct pos tool = {pv_intern("(provision)"), 0, 0};
	struct buf job = BUF_INIT, port = BUF_INIT, path = BUF_INIT, probe = BUF_INIT;

	for (size_t i = 0; role->metrics && i < role->metrics->n; i++) {
		const struct node *it = role->metrics->items[i], *w = node_get(it, "when");
		bool on = true;
		if (w && (eval_when(w, &hp->scope, &on, d) < 0 || !on))
			continue;
		if (metric_field(&job, it, "job", hp, role->name, d) < 0 ||
		    metric_field(&port, it, "port", hp, role->name, d) < 0 ||
		    metric_field(&path, it, "path", hp, role->name, d) < 0)
			continue;
		const struct node *pf = node_get(it, "probe");
		if (pf) {
			struct pv_error err = {{0}};
			bool secret = false;
			buf_reset(&probe);
			if (tpl_render(&probe, pf->scalar, &pf->pos, &hp->scope, TPL_TEXT, &secret,
			               &err) < 0) {
				diags_add(d, NULL, "%s", err.msg);
				continue;
			}
			char *save = NULL;
			for (char *u = strtok_r(probe.s, " ", &save); u;
			     u = strtok_r(NULL, " ", &save)) {
				if (secret ||
				    (strncmp(u, "http://", 7) && strncmp(u, "https://", 8)) ||
				    strpbrk(u, "\"'\\{}\n\r\t")) {
					diags_add(
					    d, &pf->pos,
					    "probe of role '%s' must be http:// or https:// URLs, "
					    "not '%s'",
					    role->name, secret ? "[secret]" : u);
					continue;
				}
				struct node *e = node_new_map(&tool);
				node_map_set(e, "job", node_new_scalar(job.s, &tool));
				node_map_set(e, "port", node_new_scalar("", &tool));
				node_map_set(e, "path", node_new_scalar("", &tool));
				node_map_set(e, "probe", node_new_scalar(u, &tool));
				node_seq_append(hp->scrape, e);
			}
			continue;
		}
		long n = strtol(port.s, NULL, 10);
		if (!*port.s || strspn(port.s, "0123456789") != strlen(port.s) || n < 1 ||
		    n > 65535) {
			diags_add(d, &it->pos, "metrics '%s' of role '%s' need a port, not '%s'",
			          job.s, role->name, port.s);
			continue;
		}
		if (*path.s && path.s[0] != '/') {
			diags_add(d, &it->pos, "metrics path of role '%s' must start with '/'",
			          role->name);
			continue;
		}
		struct node *e = node_new_map(&tool);
		node_map_set(e, "job", node_new_scalar(job.s, &tool));
		node_map_set(e, "port", node_new_scalar(port.s, &tool));
		node_map_set(e, "path", node_new_scalar(*path.s ? path.s : "/metrics", &tool));
		node_map_set(e, "probe", node_new_scalar("", &tool));
		node_seq_append(hp->scrape, e);
	}
	buf_release(&job);
	buf_release(&port);
	buf_release(&path);
	buf_release(&probe);
}

/*
 * The role's 'alerts' for the monitoring server's rule file: each expr is
 * rendered with the server's variables (the role's thresholds); the
 * summary and runbook stay as written (Prometheus' own {{ $labels }}).
 */
static void render_alerts(struct host_plan *hp, const struct role *role, struct diags *d)
{
	struct pos tool = {pv_intern("(provision)"), 0, 0};
	struct buf expr = BUF_INIT;

	for (size_t i = 0; role->alerts && i < role->alerts->n; i++) {
		const struct node *it = role->alerts->items[i], *e = node_get(it, "expr");
		struct pv_error err = {{0}};
		bool secret = false;

		buf_reset(&expr);
		if (e && tpl_render(&expr, e->scalar, &e->pos, &hp->scope, TPL_TEXT, &secret,
		                    &err) < 0) {
			diags_add(d, NULL, "%s", err.msg);
			continue;
		}
		if (secret) {
			diags_add(d, &e->pos, "expr of alert '%s' of role '%s' must hold no secret",
			          node_get(it, "alert")->scalar, role->name);
			continue;
		}
		struct node *a = node_clone(it);
		node_map_set(a, "role", node_new_scalar(role->name, &tool));
		node_map_set(a, "expr", node_new_scalar(expr.s, e ? &e->pos : &tool));
		if (!node_get(a, "for"))
			node_map_set(a, "for", node_new_scalar("0s", &tool));
		if (!node_get(a, "severity"))
			node_map_set(a, "severity", node_new_scalar("warning", &tool));
		node_seq_append(hp->alerts, a);
	}
	buf_release(&expr);
}

/* An item of a role's 'health' or 'audit' list: a mapping of these keys. */
static int item_check(const struct node *item, const char *const *keys, size_t n_keys,
                      const char *where, struct diags *d)
{
	if (item->kind != NODE_MAP) {
		diags_add(d, &item->pos, "each %s must be a mapping, not %s", where,
		          node_kind_name(item));
		return -1;
	}
	return res_check_map(item, keys, n_keys, where, d);
}

/*
 *   - unit: NAME                       active systemd unit
 *   - http: URL                        curl on the host gets this status
 *     status: 200
 *     when: ...                        as on resources
 */
static void parse_health(struct host_plan *hp, const struct role *role, const struct node *item,
                         size_t *alloc, struct diags *d)
{
	static const char *const keys[] = {"unit", "http", "status", "report", "title", "when"};
	char *where = xasprintf("health check of role '%s'", role->name);
	struct resource tmp;
	char *unit = NULL, *url = NULL, *status = NULL, *report = NULL, *title = NULL;
	const struct node *w;
	bool on = true;

	memset(&tmp, 0, sizeof(tmp));
	if (item_check(item, keys, PV_ARRAY_SIZE(keys), where, d) < 0)
		goto out;
	if ((w = node_get(item, "when")) && (eval_when(w, &hp->scope, &on, d) < 0 || !on))
		goto out;
	if (res_field_str(&tmp, item, "unit", false, NULL, TPL_TEXT, &hp->scope, where, &unit, d) <
	        0 ||
	    res_field_str(&tmp, item, "http", false, NULL, TPL_TEXT, &hp->scope, where, &url, d) <
	        0 ||
	    res_field_str(&tmp, item, "status", false, "200", TPL_TEXT, &hp->scope, where, &status,
	                  d) < 0 ||
	    res_field_str(&tmp, item, "report", false, NULL, TPL_SHELL, &hp->scope, where, &report,
	                  d) < 0 ||
	    res_field_str(&tmp, item, "title", false, NULL, TPL_TEXT, &hp->scope, where, &title,
	                  d) < 0)
		goto out;
	if ((unit != NULL) + (url != NULL) + (report != NULL) != 1) {
		diags_add(d, &item->pos, "a %s names one of 'unit', 'http' or 'report'", where);
		goto out;
	}
	if (strspn(status, "0123456789") != strlen(status) || strlen(status) != 3) {
		struct pos at = res_pos(item, "status");
		diags_add(d, &at, "'status' of a %s must be an HTTP status like 200", where);
		goto out;
	}
	if (url && strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
		struct pos at = res_pos(item, "http");
		diags_add(d, &at, "'http' of a %s must be an http:// or https:// URL", where);
		goto out;
	}
	PV_GROW(hp->health, hp->n_health + 1, *alloc);
	struct health_check *h = &hp->health[hp->n_health++];
	memset(h, 0, sizeof(*h));
	struct buf sh = BUF_INIT;
	h->role = xstrdup(role->name);
	if (report) {
		/* a role's own state (replication, who leads): its lines are shown */
		h->title = xstrdup(title ? title : "report");
		h->report = true;
		buf_adds(&sh, report);
	} else if (unit) {
		h->title = xasprintf("unit %s", unit);
		buf_adds(&sh, "pv_s=$(systemctl is-active");
		sh_word(&sh, unit);
		buf_adds(&sh, " 2>&1); [ \"$pv_s\" = active ] || { echo \"$pv_s\"; false; }");
	} else {
		h->title = xasprintf("http %s %s", url, status);
		buf_adds(&sh, "command -v curl >/dev/null 2>&1 || { echo 'curl is not installed'; "
		              "exit 1; }; pv_s=$(curl -ks -o /dev/null -m 5 -w '%{http_code}'");
		sh_word(&sh, url);
		buf_adds(&sh, "); [ \"$pv_s\" =");
		sh_word(&sh, status);
		buf_adds(&sh, " ] || { echo \"status $pv_s\"; false; }");
	}
	h->sh = xstrdup(sh.s);
	buf_wipe(&sh); /* a report may hold a secret */
out:
	pv_free_secret(report);
	free(title);
	free(unit);
	free(url);
	free(status);
	free(tmp.title);
	free(where);
}

void script_health(const struct host_plan *hp, struct buf *sh)
{
	buf_adds(sh, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
	             "export PATH LC_ALL=C\n");
	for (size_t i = 0; i < hp->n_health; i++) {
		if (hp->health[i].report) {
			/* every line of a report, then whether it ran */
			buf_addf(
			    sh,
			    "pv_o=$( (%s\n) </dev/null 2>&1); pv_x=$?\n"
			    "printf '%%s\\n' \"$pv_o\" | head -n 50 | cut -c1-200 | sed "
			    "'s/^/@@R %zu /'\n"
			    "if [ $pv_x = 0 ]; then echo '@@K %zu ok'; else echo \"@@K %zu failed "
			    "exit $pv_x\"; fi\n",
			    hp->health[i].sh, i, i, i);
			continue;
		}
		buf_addf(sh,
		         "pv_o=$( (%s) </dev/null 2>&1); pv_x=$?\n"
		         "pv_o=$(printf '%%s' \"$pv_o\" | tr '\\n' ' ' | cut -c1-200)\n"
		         "if [ $pv_x = 0 ]; then echo '@@K %zu ok'; else echo \"@@K %zu failed "
		         "$pv_o\"; fi\n",
		         hp->health[i].sh, i, i);
	}
	buf_adds(sh, "echo @@Z\n");
}

static bool audit_id_ok(const char *s)
{
	size_t len = strlen(s);

	return len && len <= 40 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == len;
}

/*
 *   - id: SSH-LOGLEVEL                 unique among the server's checks
 *     cis: "5.1.14"                    optional: the CIS Debian 12 control
 *     title: sshd logs at VERBOSE
 *     check: "sshd -T | grep -qx 'loglevel VERBOSE'"   shell; exit 3 = skip
 *     container: reason                optional: skipped on container hosts
 *     when: ...                        as on resources; false: skipped
 */
static void parse_audit(struct host_plan *hp, const struct role *role, const struct node *item,
                        size_t *alloc, struct diags *d)
{
	static const char *const keys[] = {"id", "cis", "title", "check", "container", "when"};
	char *where = xasprintf("audit check of role '%s'", role->name);
	struct resource tmp;
	char *id = NULL, *cis = NULL, *title = NULL, *check = NULL, *container = NULL;
	const struct node *w;
	bool on = true;

	memset(&tmp, 0, sizeof(tmp));
	if (item_check(item, keys, PV_ARRAY_SIZE(keys), where, d) < 0)
		goto out;
	if (res_field_str(&tmp, item, "id", true, NULL, TPL_TEXT, &hp->scope, where, &id, d) < 0 ||
	    res_field_str(&tmp, item, "cis", false, NULL, TPL_TEXT, &hp->scope, where, &cis, d) <
	        0 ||
	    res_field_str(&tmp, item, "title", true, NULL, TPL_TEXT, &hp->scope, where, &title, d) <
	        0 ||
	    res_field_str(&tmp, item, "container", false, NULL, TPL_TEXT, &hp->scope, where,
	                  &container, d) < 0)
		goto out;
	if (!audit_id_ok(id)) {
		struct pos at = res_pos(item, "id");
		diags_add(d, &at, "'id' of an %s must be capitals, digits and '-', not '%s'", where,
		          id);
		goto out;
	}
	for (size_t i = 0; i < hp->n_audit; i++) {
		if (!strcmp(hp->audit[i].id, id)) {
			struct pos at = res_pos(item, "id");
			diags_add(d, &at,
			          "audit check '%s' of role '%s' is already one of role '%s'", id,
			          role->name, hp->audit[i].role);
			goto out;
		}
	}
	PV_GROW(hp->audit, hp->n_audit + 1, *alloc);
	struct audit_check *a = &hp->audit[hp->n_audit];
	memset(a, 0, sizeof(*a));
	if ((w = node_get(item, "when")) && eval_when(w, &hp->scope, &on, d) < 0)
		goto out;
	if (!on) {
		a->skip = xstrdup("not enabled on this server");
	} else if (container && tpl_truth(scope_get(&hp->scope, "container"))) {
		a->skip = container;
		container = NULL; /* transferred */
	} else if (res_field_str(&tmp, item, "check", true, NULL, TPL_SHELL, &hp->scope, where,
	                         &check, d) < 0) {
		goto out;
	}
	a->role = xstrdup(role->name);
	a->id = id;
	a->cis = cis;
	a->title = title;
	a->sh = check;
	id = cis = title = check = NULL; /* transferred */
	hp->n_audit++;
out:
	free(id);
	free(cis);
	free(title);
	free(check);
	free(container);
	free(tmp.title);
	free(where);
}

void script_audit(const struct host_plan *hp, struct buf *sh)
{
	buf_adds(sh, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
	             "export PATH LC_ALL=C\n");
	for (size_t i = 0; i < hp->n_audit; i++) {
		if (!hp->audit[i].sh)
			continue;
		buf_addf(sh,
		         "pv_o=$( (%s) </dev/null 2>&1); pv_x=$?\n"
		         "pv_o=$(printf '%%s' \"$pv_o\" | tr '\\n' ' ' | cut -c1-200)\n"
		         "echo \"@@C %zu $pv_x $pv_o\"\n",
		         hp->audit[i].sh, i);
	}
	buf_adds(sh, "echo @@Z\n");
}
int plan_render(struct host_plan *hp, const struct render_input *in, struct diags *d)
{
	const struct inv_server *srv = in->server;
	struct role **roles = NULL;
	size_t n_roles = 0, before = d->n, res_alloc = 0, port_alloc = 0;

	hp->server = srv;
	scope_init(&hp->scope);
	if (role_closure(in->roles, srv->roles, srv->role_pos, srv->n_roles, &roles, &n_roles, d) <
	    0) {
		free(roles);
		return -1;
	}
	for (size_t i = 0; i < in->n_only_roles; i++) {
		bool found = false;
		for (size_t k = 0; k < n_roles && !found; k++)
			found = !strcmp(roles[k]->name, in->only_roles[i]);
		if (!found)
			diags_add(d, NULL, "role '%s' is not a role of server '%s'",
			          in->only_roles[i], srv->name);
	}
	build_scope(hp, roles, n_roles, in, &port_alloc, d);
	/* every value checked against its type before anything is rendered from it */
	size_t typed = d->n;
	struct scope own_secrets; /* secrets resolved here: the plan's scope holds them */
	scope_init(&own_secrets);
	for (size_t i = 0; !in->secrets && in->inv->secrets && i < in->inv->secrets->n; i++)
		scope_set(&own_secrets, in->inv->secrets->keys[i],
		          scope_get(&hp->scope, in->inv->secrets->keys[i]));
	vars_check_scope(&hp->scope, roles, n_roles,
	                 in->secrets ? &in->secrets->values : &own_secrets, d);
	scope_release(&own_secrets);
	/* what the types cannot say (the roles' 'checks'), at the value's line */
	bool checks_failed = false, types_ok = d->n == typed;
	for (size_t i = 0; types_ok && i < n_roles; i++)
		for (size_t k = 0; roles[i]->checks && k < roles[i]->checks->n; k++) {
			const struct node *c = roles[i]->checks->items[k];
			const struct node *v = scope_get(&hp->scope, node_get(c, "var")->scalar);
			bool on = false;
			if (eval_when(node_get(c, "when"), &hp->scope, &on, d) < 0) {
				checks_failed = true;
				continue;
			}
			if (!on)
				continue;
			/* one message for a value several servers fail (a layout's variable) */
			diags_add_named(d, v && v->pos.line > 0 ? &v->pos : &c->pos, "server",
			                srv->name, node_get(c, "error")->scalar);
			checks_failed = true;
		}
	if (d->n != typed || checks_failed) {
		free(roles);
		return -1;
	}
	for (size_t i = 0; i < n_roles && !in->metrics_only; i++) {
		if (i == 0)
			load_handlers(hp, roles, n_roles, in, d);
		bool wanted = in->n_only_roles == 0;
		for (size_t k = 0; k < in->n_only_roles && !wanted; k++)
			wanted = !strcmp(roles[i]->name, in->only_roles[k]);
		const struct node *rs = roles[i]->resources;
		for (size_t k = 0; wanted && rs && k < rs->n; k++)
			parse_resource(hp, roles[i], rs->items[k], in, &res_alloc, d);
	}
	struct pos tool = {pv_intern("(provision)"), 0, 0};
	hp->scrape = node_new_seq(&tool);
	hp->alerts = node_new_seq(&tool);
	hp->role_names = xcalloc(n_roles ? n_roles : 1, sizeof(*hp->role_names));
	for (size_t i = 0; i < n_roles; i++) {
		hp->role_names[hp->n_role_names++] = xstrdup(roles[i]->name);
		render_metrics(hp, roles[i], d);
		render_alerts(hp, roles[i], d);
	}
	size_t health_alloc = 0;
	for (size_t i = 0; i < n_roles && !in->metrics_only; i++) {
		const struct node *hs = roles[i]->health;
		for (size_t k = 0; hs && k < hs->n; k++)
			parse_health(hp, roles[i], hs->items[k], &health_alloc, d);
	}
	size_t audit_alloc = 0;
	for (size_t i = 0; i < n_roles; i++) {
		const struct node *as = roles[i]->audit;
		for (size_t k = 0; as && k < as->n; k++)
			parse_audit(hp, roles[i], as->items[k], &audit_alloc, d);
	}
	free(roles);
	return d->n == before ? 0 : -1;
}

/* ---- scripts ---- */

static void script_head(struct buf *sh)
{
	buf_adds(sh, "set +e\n"
	             "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
	             "export PATH LC_ALL=C\n"
	             "umask 022\n"
	             "pv_fsha=\npv_fst=\npv_units=\npv_pkgs=\n");
	buf_adds(sh, res_shell_lib);
}

/*
 * A path the probe may read in its one stat and sha256sum: absolute, and
 * of characters that neither tool escapes nor a lookup could confuse (no
 * space, no newline, no backslash).  Others are read one by one.
 */
static bool batch_path_ok(const char *p)
{
	return p && p[0] == '/' &&
	       strspn(p,
	              "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/+,:@=~-") ==
	           strlen(p);
}

/*
 * Before the first resource: one stat of every path the probes look at,
 * one sha256sum of those that are regular files (not through a symbolic
 * link: a FIFO is never opened) and one systemctl for every unit, instead
 * of a process of each per resource.  pv_sha, pv_meta and pv_unit look
 * there first.  Only the probe does this: the apply changes them as it goes.
 */
static void probe_batch(const struct host_plan *hp, struct buf *sh)
{
	struct buf all = BUF_INIT;
	size_t n = 0;

	buf_adds(sh, "set --\n");
	for (size_t i = 0; i < hp->n_res; i++) {
		const struct resource *r = &hp->res[i];
		const char *p = r->type->probe_path ? r->type->probe_path(r) : NULL;
		if (!batch_path_ok(p))
			continue;
		sh_word(&all, p);
		buf_adds(sh, "[ ! -f");
		sh_word(sh, p);
		buf_adds(sh, " ] || [ -L");
		sh_word(sh, p);
		buf_adds(sh, " ] || set -- \"$@\"");
		sh_word(sh, p);
		buf_addc(sh, '\n');
		n++;
	}
	if (n) {
		buf_adds(sh, "[ $# = 0 ] || pv_fsha=\"\n$(sha256sum -- \"$@\" 2>/dev/null)\n\"\n"
		             "pv_fst=\"\n$(stat -c '%a %U %G %n' --");
		buf_adds(sh, all.s);
		buf_adds(sh, " 2>/dev/null)\n\"\n");
	}
	buf_adds(sh, "set --\n");
	buf_release(&all);

	/* the units, each once, of names no lookup could confuse */
	buf_reset(&all);
	n = 0;
	for (size_t i = 0; i < hp->n_res; i++) {
		const struct resource *r = &hp->res[i];
		const char *u = r->type->probe_unit ? r->type->probe_unit(r) : NULL;
		bool seen = false;
		if (!u || !*u ||
		    strspn(u,
		           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@._:-") !=
		        strlen(u))
			continue;
		for (size_t k = 0; k < i && !seen; k++) {
			const struct resource *o = &hp->res[k];
			const char *ou = o->type->probe_unit ? o->type->probe_unit(o) : NULL;
			seen = ou && !strcmp(ou, u);
		}
		if (!seen) {
			sh_word(&all, u);
			n++;
		}
	}
	if (n > 1)
		buf_addf(sh,
		         "pv_b=$(systemctl show -p UnitFileState -p ActiveState --%s 2>/dev/null)\n"
		         "pv_units_split%s\n",
		         all.s, all.s);
	buf_release(&all);

	/* the packages of every package resource that asks by plain name */
	char **names = NULL;
	size_t n_names = 0, alloc = 0, users = 0;
	for (size_t i = 0; i < hp->n_res; i++) {
		size_t k;
		bool present, plain = true;
		const char *const *pn = res_package_names(&hp->res[i], &k, &present);
		for (size_t m = 0; pn && m < k; m++)
			plain = plain && !strchr(pn[m], ':');
		if (!pn || !plain)
			continue;
		users++;
		for (size_t m = 0; m < k; m++) {
			PV_GROW(names, n_names + 1, alloc);
			names[n_names++] = (char *)pn[m];
		}
	}
	if (users > 1)
		res_package_query(sh, "pv_pkgs", names, n_names);
	free(names);
}

/*
 * The run's result for the node exporter's textfile collector, in the file
 * the variable converge_metrics_file names (when its directory exists):
 * the time, whether the last apply succeeded and what it changed.  The
 * probe of 'up' writes it too, so a run with nothing to change needs no
 * round trip more; it keeps the last apply's result.
 */
static void run_metrics_sh(const struct host_plan *hp, struct buf *sh, bool applied)
{
	const struct node *f = scope_get(&hp->scope, "converge_metrics_file");

	if (!hp->record_run || !f || f->kind != NODE_SCALAR || f->scalar[0] != '/')
		return;
	buf_adds(sh, "pv_mf=");
	sh_quote_buf(sh, f->scalar);
	buf_adds(sh, "\nif [ -d \"${pv_mf%/*}\" ]; then\n");
	if (applied)
		buf_adds(sh, "\tif [ -z \"$pv_fail\" ]; then pv_ok=1; else pv_ok=0; fi\n");
	else
		buf_adds(sh,
		         "\tpv_ok=$(sed -n 's/^provision_converge_success \\([01]\\)$/\\1/p' "
		         "\"$pv_mf\" 2>/dev/null)\n\tpv_nch=0\n\t[ -n \"$pv_ok\" ] || pv_ok=1\n");
	buf_adds(sh, "\t{ echo '# HELP provision_converge_timestamp_seconds when provision last "
	             "converged this host'\n"
	             "\techo '# TYPE provision_converge_timestamp_seconds gauge'\n"
	             "\techo \"provision_converge_timestamp_seconds $(date +%s)\"\n"
	             "\techo '# HELP provision_converge_success 1 when the last apply succeeded'\n"
	             "\techo '# TYPE provision_converge_success gauge'\n"
	             "\techo \"provision_converge_success $pv_ok\"\n"
	             "\techo '# HELP provision_converge_changed resources the last run changed'\n"
	             "\techo '# TYPE provision_converge_changed gauge'\n"
	             "\techo \"provision_converge_changed $pv_nch\"\n"
	             "\t} >\"$pv_mf.tmp\" && mv -f \"$pv_mf.tmp\" \"$pv_mf\"\nfi\n");
}

void script_probe(const struct host_plan *hp, struct buf *sh)
{
	script_head(sh);
	/* what a killed run or another program still runs: converge waits for it */
	buf_adds(sh, "pv_held=\nif [ -e " PV_HOST_LOCK " ] && command -v flock >/dev/null && "
	             "! flock -n " PV_HOST_LOCK " true; then\n"
	             "\tpv_held=1\n\techo '@@W run an apply script'\nfi\n"
	             "pv_w=$(pv_lockers \"$PV_APTLOCKS\")\n"
	             "[ -z \"$pv_w\" ] || echo \"@@W pkg $pv_w\"\n"
	             "\n");
	/* a pending guard of a killed run: disarmed before the files are read, so
	   that a rollback the guard has begun is finished and seen by this probe */
	buf_adds(sh, "if [ -e " LOGIN_GUARD ".sh ]; then\n");
	if (hp->disarm_guard) {
		buf_adds(sh, "if [ -n \"$pv_held\" ]; then\n\techo '@@G armed'\nelse\n");
		script_guard_disarm(sh, true);
		buf_adds(sh, "fi\n");
	} else {
		buf_adds(sh, "echo '@@G armed'\n");
	}
	buf_adds(sh, "fi\n");
	probe_batch(hp, sh);
	buf_adds(sh, "pv_tick -\n");
	for (size_t i = 0; i < hp->n_res; i++) {
		hp->res[i].type->probe(&hp->res[i], (int)i, sh);
		buf_addf(sh, "pv_tick %zu\n", i);
	}
	repro_versions_sh(hp, sh, repro_probe_reads_deps(hp));
	run_metrics_sh(hp, sh, false);
	buf_adds(sh, "echo @@Z\n");
}

/* Parse "@@X <idx>" at line; *rest points after the index and one space. */
static int tag_index(const char *line, const char *tag, long *idx, const char **rest)
{
	size_t tl = strlen(tag);
	char *end;

	if (strncmp(line, tag, tl) || line[tl] != ' ')
		return -1;
	*idx = strtol(line + tl + 1, &end, 10);
	if (end == line + tl + 1)
		return -1;
	*rest = *end == ' ' ? end + 1 : end;
	return 0;
}

/* The line at *p (a copy, without its newline); *p moves past it. */
static char *next_line(const char **p, const char *e)
{
	const char *nl = memchr(*p, '\n', (size_t)(e - *p));
	size_t ll = nl ? (size_t)(nl - *p) : (size_t)(e - *p);
	char *line = xstrndup(*p, ll);

	*p += ll + (nl ? 1 : 0);
	return line;
}

char *script_probe_busy(const char *out, size_t len, const char *kind)
{
	const char *p = out, *e = out + len;
	size_t kl = strlen(kind);

	while (p < e) {
		char *line = next_line(&p, e);
		if (!strncmp(line, "@@W ", 4) && !strncmp(line + 4, kind, kl) &&
		    line[4 + kl] == ' ') {
			char *who = xstrdup(line + 5 + kl);
			free(line);
			return who;
		}
		free(line);
	}
	return NULL;
}

/*
 * "@@T <what> <uptime>": the host's clock after resource <what> (an index,
 * "h<index>" for a handler, "-" at the start).  The time since the last
 * tick is what the host spent on that resource; *last is the last tick.
 */
static void parse_tick(struct host_plan *hp, const char *line, double *last)
{
	const char *what = line + 4, *sp = strchr(what, ' ');
	struct resource *r = NULL;
	char *end;
	double t;

	if (!sp)
		return;
	t = strtod(sp + 1, &end);
	if (end == sp + 1 || *end || t < 0)
		return;
	if (*what == 'h' && what[1] >= '0' && what[1] <= '9') {
		long h = strtol(what + 1, &end, 10);
		if (end == sp && (size_t)h < hp->n_handlers)
			r = &hp->handlers[h].res;
	} else if (*what >= '0' && *what <= '9') {
		long i = strtol(what, &end, 10);
		if (end == sp && (size_t)i < hp->n_res)
			r = &hp->res[i];
	}
	if (r && *last >= 0 && t >= *last)
		r->ms = (r->ms > 0 ? r->ms : 0) + (long long)((t - *last) * 1000 + 0.5);
	*last = t;
}

int script_parse_probe(struct host_plan *hp, const char *out, size_t len, struct pv_error *err)
{
	double tick = -1;
	const char *p = out, *e = out + len;
	struct resource *payload = NULL;
	struct buf b64 = BUF_INIT;
	bool done = false;

	for (size_t i = 0; i < hp->n_res; i++) {
		struct resource *r = &hp->res[i];
		r->status = RES_PENDING;
		/* a payload belongs to the probe that sent it */
		if (r->secret)
			buf_wipe(&r->current);
		else
			buf_reset(&r->current);
		r->has_current = false;
		r->ms = -1;
	}
	while (p < e) {
		char *line = next_line(&p, e);
		const char *rest;
		long idx;

		if (payload) {
			if (!strncmp(line, "@@E ", 4)) {
				buf_reset(&payload->current);
				if (b64_decode(&payload->current, b64.s, b64.len) < 0) {
					free(line);
					buf_wipe(&b64);
					return pv_error_set(
					    err, "the probe sent invalid content for '%s'",
					    payload->title);
				}
				payload->has_current = true;
				payload = NULL;
				buf_reset(&b64);
			} else {
				buf_adds(&b64, line);
			}
			free(line);
			continue;
		}
		if (!strcmp(line, "@@Z")) {
			done = true;
		} else if (!strncmp(line, "@@T ", 4)) {
			parse_tick(hp, line, &tick);
		} else if (tag_index(line, "@@P", &idx, &rest) == 0 && idx >= 0 &&
		           (size_t)idx < hp->n_res) {
			struct resource *r = &hp->res[idx];
			free(r->reason);
			r->reason = NULL;
			if (!strcmp(rest, "ok")) {
				r->status = RES_OK;
			} else if (!strncmp(rest, "change", 6)) {
				r->status = RES_CHANGE;
				r->reason = xstrdup(rest[6] == ' ' ? rest + 7 : "differs");
			}
		} else if (tag_index(line, "@@B", &idx, &rest) == 0 && idx >= 0 &&
		           (size_t)idx < hp->n_res) {
			payload = &hp->res[idx];
		}
		free(line);
	}
	buf_wipe(&b64);
	if (!done)
		return pv_error_set(err, "the probe script stopped before its end");
	for (size_t i = 0; i < hp->n_res; i++)
		if (hp->res[i].status == RES_PENDING)
			return pv_error_set(err, "the probe gave no answer for '%s'",
			                    hp->res[i].title);
	return 0;
}

/* Run a snippet in a subshell with set -e; its output goes to a file. */
static void guarded(struct buf *sh, const char *out_name, const struct resource *r, int idx)
{
	buf_adds(sh, "(\nset -e\n");
	r->type->apply(r, idx, sh);
	buf_addf(sh, ") >\"$PV_STAGE/%s\" 2>&1 </dev/null\npv_rc=$?\n", out_name);
}

static int handler_index(const struct host_plan *hp, const char *name)
{
	for (size_t i = 0; i < hp->n_handlers; i++)
		if (!strcmp(hp->handlers[i].name, name))
			return (int)i;
	return -1;
}

/* Mark the handlers r notifies, at run time (pv_hN) and for the parser. */
static void notify_handlers(const struct host_plan *hp, const struct resource *r, struct buf *sh)
{
	for (size_t k = 0; k < r->n_notify; k++) {
		int h = handler_index(hp, r->notify[k]);
		if (h < 0 || !hp->handlers[h].res.type)
			continue;
		hp->handlers[h].notified = true;
		buf_addf(sh, "pv_h%d=1\n", h);
	}
}

/*
 * Every resource the probe found different is applied.  A resource the
 * probe found in order is probed again, inside the same script, once an
 * earlier one has changed something (a package that installs the file a
 * later resource edits): one run converges, and still in one round trip.
 */
static bool stage_login_guard(const struct host_plan *hp, struct buf *sh, struct stage *st);

/* A file systemd reads its units from (a unit, a drop-in, a link). */
static bool systemd_unit_path(const char *path)
{
	static const char *const dirs[] = {"/etc/systemd/system/", "/run/systemd/system/",
	                                   "/usr/lib/systemd/system/", "/lib/systemd/system/"};

	if (!path)
		return false;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (!strncmp(path, dirs[i], strlen(dirs[i])) && path[strlen(dirs[i])])
			return true;
	return false;
}

/*
 * A changed unit file takes effect: systemd reloads its units once, before
 * the next service or command resource, the handlers, or the end of the
 * script, whichever comes first after the change (one reload for several
 * files).  A reload that fails shows when the unit is used.
 */
#define RELOAD_UNITS                                                                               \
	"if [ -n \"${pv_unitfiles:-}\" ]; then pv_unitfiles=; systemctl daemon-reload || true; "   \
	"fi\n"

static bool uses_units(const struct resource *r)
{
	return r->type == &res_type_service || r->type == &res_type_command;
}

/*
 * A service resource that started its unit in this apply (FRESH_MARK) has
 * done what the restart and reload handlers of that unit notified so far
 * were for: they say "fresh" instead of running (a later notification sets
 * them again).  fresh[h]: handler h may say so.
 */
static void fresh_handlers(const struct host_plan *hp, const struct resource *r, int idx,
                           bool *fresh, struct buf *sh)
{
	const char *action, *unit;
	int running;

	unit = res_service_unit(r, &running, &action);
	if (!unit || running != 1)
		return;
	for (size_t h = 0; h < hp->n_handlers; h++) {
		const struct handler *hd = &hp->handlers[h];
		const char *hunit, *haction;
		int hrun;
		if (!hd->notified || !hd->res.type)
			continue;
		hunit = res_service_unit(&hd->res, &hrun, &haction);
		if (!hunit || !haction || strcmp(hunit, unit) ||
		    (strcmp(haction, "restart") && strcmp(haction, "reload")))
			continue;
		fresh[h] = true;
		buf_addf(sh,
		         "[ ! -e \"$PV_STAGE/" FRESH_MARK "\" ] || [ -z \"${pv_h%zu:-}\" ] || "
		         "pv_h%zu=fresh\n",
		         idx, h, h);
	}
}

/*
 * At the end of every apply: the hold on services ends (pv_unhold, also
 * for a hold a lost apply left), except for the units a role keeps stopped.
 */
static void unhold_services(const struct host_plan *hp, struct buf *sh)
{
	buf_adds(sh, "pv_unhold");
	for (size_t i = 0; i < hp->n_res; i++) {
		const struct resource *r = &hp->res[i];
		const char *action, *unit;
		int running;
		if (r->status != RES_CHANGE && r->status != RES_OK)
			continue;
		unit = res_service_unit(r, &running, &action);
		if (unit && running == 0)
			sh_word(sh, unit);
	}
	buf_adds(sh, " >\"$PV_STAGE/unhold\" 2>&1\n");
}

/*
 * A resource that may change what apt installs, or how: a repository, its
 * key or pinning, dpkg's settings, a debconf answer, apt run by hand.  No
 * package resource after it joins the host's one apt-get install.
 */
static bool prepares_packages(const struct resource *r)
{
	static const char *const dirs[] = {
	    "/etc/apt/sources.list", "/etc/apt/keyrings/", "/etc/apt/trusted.gpg",
	    "/etc/apt/preferences",  "/etc/dpkg/",         "/usr/share/keyrings/",
	    "/var/cache/debconf/"};
	const char *p = res_file_path(r);

	if (!p)
		p = res_line_path(r);
	if (!p && r->type == &res_type_directory && r->type->probe_path)
		p = r->type->probe_path(r);
	for (size_t i = 0; p && i < PV_ARRAY_SIZE(dirs); i++)
		if (!strncmp(p, dirs[i], strlen(dirs[i])))
			return true;
	return res_command_prepares_packages(r);
}

/*
 * The package resources whose packages the apply installs in one apt-get
 * install, at the first of them (in[i] set; the count is returned): each
 * pending, state present, not 'early: false', not verify_login, with no
 * other kind of resource before it in its own role (a file the package
 * reads when it installs, a repository, a debconf answer, a check) nor a
 * pending package resource that stays in place, and no resource that
 * prepares packages (above) anywhere before it.
 */
static size_t package_batch(const struct host_plan *hp, bool *in)
{
	bool barrier = false;
	size_t n = 0;

	for (size_t i = 0; i < hp->n_res; i++) {
		const struct resource *r = &hp->res[i];
		bool alone = barrier || r->verify_login || r->status != RES_CHANGE;

		in[i] = false;
		if (!res_package_early(r)) {
			barrier = barrier || prepares_packages(r);
			continue;
		}
		for (size_t k = 0; k < i && !alone; k++)
			alone = !strcmp(hp->res[k].role, r->role) &&
			        (hp->res[k].type != &res_type_package ||
			         (hp->res[k].status == RES_CHANGE && !in[k]));
		if (!alone) {
			in[i] = true;
			n++;
		}
	}
	return n;
}

/*
 * The one apt-get install, where the first batched resource stands; each
 * batched resource reports there, changed, or failed with apt's output
 * (the first) and the names of all the packages.
 */
static void script_package_batch(const struct host_plan *hp, const bool *in, struct buf *sh)
{
	char **names = NULL;
	size_t n = 0, alloc = 0, first = hp->n_res;
	struct buf list = BUF_INIT;
	bool secret = false;

	for (size_t i = 0; i < hp->n_res; i++) {
		size_t k;
		bool present;
		const char *const *pn = in[i] ? res_package_names(&hp->res[i], &k, &present) : NULL;
		if (!pn)
			continue;
		if (first == hp->n_res)
			first = i;
		secret = secret || hp->res[i].secret;
		for (size_t m = 0; m < k; m++) {
			PV_GROW(names, n + 1, alloc);
			names[n++] = (char *)pn[m];
			buf_addf(&list, "%s%s", n > 1 ? ", " : "installing ", pn[m]);
		}
	}
	buf_adds(sh, "if [ -z \"$pv_fail\" ]; then\n(\nset -e\n");
	res_package_install(sh, names, n);
	buf_adds(sh, ") >\"$PV_STAGE/pkgs\" 2>&1 </dev/null\npv_rc=$?\nif [ $pv_rc = 0 ]; then\n");
	for (size_t i = first; i < hp->n_res; i++) {
		if (!in[i])
			continue;
		buf_addf(sh, "echo '@@A %zu changed'\npv_any=1\npv_nch=$((pv_nch + 1))\n", i);
		notify_handlers(hp, &hp->res[i], sh);
		buf_addf(sh, "pv_tick %zu\n", i);
	}
	buf_adds(sh, "else\npv_fail=1\n");
	for (size_t i = first; i < hp->n_res; i++) {
		if (!in[i])
			continue;
		buf_addf(sh, "echo '@@A %zu failed'\n", i);
		if (i == first) {
			buf_addf(sh, "awk -v p='@@L %zu ' '{ print p $0 }' \"$PV_STAGE/pkgs\"\n",
			         i);
			buf_addf(sh, "echo \"@@L %zu apt-get install exited with $pv_rc\"", i);
			sh_word(sh, secret ? "(it installs the packages of several resources)"
			                   : list.s);
		} else {
			buf_addf(sh, "echo '@@L %zu'", i);
			sh_word(sh,
			        "not installed: the one apt-get install of this host failed (see "
			        "the first package resource)");
		}
		buf_addf(sh, "\npv_tick %zu\n", i);
	}
	buf_adds(sh, "fi\nfi\n");
	buf_release(&list);
	free(names);
}

void script_apply(const struct host_plan *hp, struct buf *sh, struct stage *st)
{
	char name[32];
	bool units = false, *fresh;

	for (size_t i = 0; i < hp->n_res; i++)
		units = units || systemd_unit_path(res_file_path(&hp->res[i]));
	script_head(sh);
	buf_adds(sh, "pv_fail=\npv_any=\npv_nch=0\n");
	bool guard = stage_login_guard(hp, sh, st);
	for (size_t i = 0; i < hp->n_handlers; i++) {
		hp->handlers[i].notified = false;
		hp->handlers[i].status = RES_PENDING;
		hp->handlers[i].res.ms = -1;
	}
	buf_adds(sh, "pv_tick -\n");
	fresh = xcalloc(hp->n_handlers + 1, sizeof(*fresh));
	bool *batched = xcalloc(hp->n_res + 1, sizeof(*batched));
	bool batch = package_batch(hp, batched) > 1, batch_done = false;
	for (size_t i = 0; i < hp->n_res; i++) {
		const struct resource *r = &hp->res[i];
		bool pending = r->status == RES_CHANGE;
		if (r->status != RES_CHANGE && r->status != RES_OK)
			continue;
		if (batch && batched[i]) {
			/* where the first batched resource stands, for them all */
			if (!batch_done)
				script_package_batch(hp, batched, sh);
			batch_done = true;
			continue;
		}
		if (r->type->stage)
			r->type->stage(r, (int)i, st);
		snprintf(name, sizeof(name), "o%zu", i);
		if (units && uses_units(r))
			buf_adds(sh, RELOAD_UNITS);
		if (pending) {
			buf_adds(sh, "if [ -z \"$pv_fail\" ]; then\n");
		} else {
			buf_adds(sh, "if [ -z \"$pv_fail\" ] && [ -n \"$pv_any\" ] && "
			             "case \"$(\n");
			r->type->probe(r, (int)i, sh);
			buf_addf(sh, ")\" in *'@@P %zu change'*) true;; *) false;; esac; then\n",
			         i);
		}
		guarded(sh, name, r, (int)i);
		buf_addf(sh,
		         "if [ $pv_rc = 0 ]; then\necho '@@A %zu changed'\npv_any=1\n"
		         "pv_nch=$((pv_nch + 1))\n",
		         i);
		if (guard && pending && r->verify_login)
			buf_addf(sh, ": >" LOGIN_GUARD ".d/%zu\npv_garm\n", i);
		if (systemd_unit_path(res_file_path(r)))
			buf_adds(sh, "pv_unitfiles=1\n");
		if (pending)
			fresh_handlers(hp, r, (int)i, fresh, sh);
		notify_handlers(hp, r, sh);
		buf_addf(
		    sh,
		    "else\necho '@@A %zu failed'\npv_fail=1\n"
		    "awk -v p='@@L %zu ' '{ print p $0 }' \"$PV_STAGE/%s\"\nfi\nfi\npv_tick %zu\n",
		    i, i, name, i);
	}
	free(batched);
	if (units)
		buf_adds(sh, RELOAD_UNITS);
	for (size_t h = 0; h < hp->n_handlers; h++) {
		const struct handler *hd = &hp->handlers[h];
		if (!hd->notified)
			continue;
		snprintf(name, sizeof(name), "h%zu", h);
		if (fresh[h])
			buf_addf(sh,
			         "if [ \"${pv_h%zu:-}\" = fresh ]; then\necho '@@H %zu fresh'\nel",
			         h, h);
		buf_addf(sh, "if [ -n \"${pv_h%zu:-}\" ]; then\n", h);
		guarded(sh, name, &hd->res, (int)h);
		buf_addf(sh,
		         "if [ $pv_rc = 0 ]; then echo '@@H %zu ok'; else echo '@@H %zu failed'; "
		         "awk -v p='@@L h%zu ' '{ print p $0 }' \"$PV_STAGE/%s\"; fi\nfi\n"
		         "pv_tick h%zu\n",
		         h, h, h, name, h);
	}
	free(fresh);
	unhold_services(hp, sh);
	repro_versions_sh(hp, sh, true);
	run_metrics_sh(hp, sh, true);
	buf_adds(sh, "echo @@Z\n");
}

static void add_output(struct resource *r, const char *text)
{
	size_t old = r->output ? strlen(r->output) : 0;
	size_t add = strlen(text);

	if (old > (1 << 20))
		return; /* enough to explain a failure */
	r->output = xrealloc(r->output, old + add + 2);
	memcpy(r->output + old, text, add);
	r->output[old + add] = '\n';
	r->output[old + add + 1] = '\0';
}

int script_parse_apply(struct host_plan *hp, const char *out, size_t len, struct pv_error *err)
{
	const char *p = out, *e = out + len;
	double tick = -1;
	bool done = false;

	while (p < e) {
		char *line = next_line(&p, e);
		const char *rest;
		long idx;

		if (!strcmp(line, "@@Z")) {
			done = true;
		} else if (!strncmp(line, "@@T ", 4)) {
			parse_tick(hp, line, &tick);
		} else if (tag_index(line, "@@A", &idx, &rest) == 0 && idx >= 0 &&
		           (size_t)idx < hp->n_res) {
			hp->res[idx].status = strcmp(rest, "changed") ? RES_FAILED : RES_CHANGED;
		} else if (tag_index(line, "@@H", &idx, &rest) == 0 && idx >= 0 &&
		           (size_t)idx < hp->n_handlers) {
			hp->handlers[idx].status = !strcmp(rest, "ok")      ? RES_CHANGED
			                           : !strcmp(rest, "fresh") ? RES_OK
			                                                    : RES_FAILED;
		} else if (!strncmp(line, "@@L h", 5)) {
			char *end;
			long h = strtol(line + 5, &end, 10);
			if (end != line + 5 && h >= 0 && (size_t)h < hp->n_handlers)
				add_output(&hp->handlers[h].res, *end ? end + 1 : end);
		} else if (tag_index(line, "@@L", &idx, &rest) == 0 && idx >= 0 &&
		           (size_t)idx < hp->n_res) {
			add_output(&hp->res[idx], rest);
		}
		free(line);
	}
	for (size_t i = 0; i < hp->n_res; i++)
		if (hp->res[i].status == RES_CHANGE)
			hp->res[i].status = done ? RES_SKIPPED : RES_FAILED;
	for (size_t i = 0; i < hp->n_handlers; i++)
		if (hp->handlers[i].notified && hp->handlers[i].status == RES_PENDING) {
			bool due = false;
			for (size_t k = 0; k < hp->n_res && !due; k++)
				for (size_t m = 0; m < hp->res[k].n_notify && !due; m++)
					due = hp->res[k].status == RES_CHANGED &&
					      !strcmp(hp->res[k].notify[m], hp->handlers[i].name);
			if (due)
				hp->handlers[i].status = RES_FAILED;
		}
	if (!done)
		return pv_error_set(err, "the apply script stopped before its end (the connection "
		                         "may have dropped); run again to finish");
	return 0;
}

/*
 * Undo the verify_login resources an apply changed, and run the handlers they
 * notified.  For the login guard (guard true) the script is written before
 * the apply, so it covers every pending one and undoes a resource only when
 * the apply left its marker (LOGIN_GUARD ".d/N"); at its end it removes
 * itself.  The tool's own rollback disarms the guard after it has run.
 */
static void rollback_body(const struct host_plan *hp, struct buf *sh, bool guard)
{
	bool *run = xcalloc(hp->n_handlers + 1, sizeof(*run));
	char name[32];

	script_head(sh);
	/* the guard holds its lock while it runs; disarmed meanwhile, it does nothing */
	if (guard)
		buf_adds(sh, "exec 9>" LOGIN_GUARD_LOCK "\nflock -w 600 9 || :\n"
		             "[ -e " LOGIN_GUARD ".sh ] || exit 0\n");
	for (size_t i = 0; i < hp->n_res; i++) {
		const struct resource *r = &hp->res[i];
		if (!r->verify_login || r->status != (guard ? RES_CHANGE : RES_CHANGED))
			continue;
		if (guard)
			buf_addf(sh, "if [ -e " LOGIN_GUARD ".d/%zu ]; then\n", i);
		if (r->type->rollback)
			r->type->rollback(r, (int)i, sh);
		for (size_t k = 0; k < r->n_notify; k++) {
			int h = handler_index(hp, r->notify[k]);
			if (h < 0 || !hp->handlers[h].res.type)
				continue;
			run[h] = true;
			if (guard)
				buf_addf(sh, "pv_g%d=1\n", h);
		}
		if (guard)
			buf_adds(sh, "fi\n");
	}
	/* rollback runs outside the apply's stage directory */
	buf_adds(sh, "PV_STAGE=$(mktemp -d) || exit 1\ntrap 'rm -rf \"$PV_STAGE\"' EXIT\n");
	for (size_t h = 0; h < hp->n_handlers; h++) {
		if (!run[h])
			continue;
		if (guard)
			buf_addf(sh, "if [ -n \"${pv_g%zu:-}\" ]; then\n", h);
		snprintf(name, sizeof(name), "h%zu", h);
		guarded(sh, name, &hp->handlers[h].res, (int)h);
		buf_adds(sh, "[ $pv_rc = 0 ] || pv_bad=1\n");
		if (guard)
			buf_adds(sh, "fi\n");
	}
	free(run);
}

void script_guard_disarm(struct buf *sh, bool say)
{
	buf_adds(sh, "if [ -d /var/lib/provision ]; then\n(\n"
	             "\tflock -w 600 9 || :\n"
	             "\tsystemctl stop " LOGIN_GUARD_UNIT ".timer " LOGIN_GUARD_UNIT
	             ".service 2>/dev/null\n"
	             "\tsystemctl reset-failed " LOGIN_GUARD_UNIT ".timer " LOGIN_GUARD_UNIT
	             ".service 2>/dev/null\n"
	             "\tif [ -e " LOGIN_GUARD ".sh ]; then\n"
	             "\t\trm -f " LOGIN_GUARD ".sh\n");
	if (say)
		buf_adds(sh, "\t\techo '@@G cancelled'\n");
	buf_adds(sh, "\tfi\n\trm -rf " LOGIN_GUARD ".d\n) 9>" LOGIN_GUARD_LOCK "\nfi\n");
}

void script_rollback(const struct host_plan *hp, struct buf *sh)
{
	rollback_body(hp, sh, false);
	script_guard_disarm(sh, false);
	buf_adds(sh, "[ -z \"${pv_bad:-}\" ] && echo @@Z\n");
}

void script_disarm(struct buf *sh)
{
	buf_adds(sh, "set +e\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
	script_guard_disarm(sh, false);
	buf_adds(sh, "echo @@Z\n");
}

/* The login guard's script, and the apply's part that installs it. */
static bool stage_login_guard(const struct host_plan *hp, struct buf *sh, struct stage *st)
{
	struct buf g = BUF_INIT;
	bool any = false;

	for (size_t i = 0; i < hp->n_res && !any; i++)
		any = hp->res[i].verify_login && hp->res[i].status == RES_CHANGE;
	if (!any)
		return false;
	rollback_body(hp, &g, true);
	buf_adds(&g, "rm -rf " LOGIN_GUARD ".d " LOGIN_GUARD ".sh\n"
	             "logger -t provision 'login guard: a change to sshd or users was not "
	             "confirmed by a fresh login; it was undone' 2>/dev/null\n"
	             "exit 0\n");
	stage_add(st, "login-guard", g.s, g.len, true);
	buf_release(&g);
	/* a guard still armed here belongs to a run whose login was proven since */
	script_guard_disarm(sh, false);
	buf_adds(sh, "mkdir -p -m 700 " LOGIN_GUARD ".d && chmod 700 /var/lib/provision && "
	             "cp \"$PV_STAGE/login-guard\" " LOGIN_GUARD ".sh && chmod 700 " LOGIN_GUARD
	             ".sh\n");
	/* armed once, after the first such change and before any handler restarts sshd */
	buf_addf(sh,
	         "pv_garm() {\n"
	         "\t[ -z \"${pv_garmed:-}\" ] || return 0\n"
	         "\tpv_garmed=1\n"
	         "\tif command -v systemd-run >/dev/null && systemd-run --quiet "
	         "--unit=" LOGIN_GUARD_UNIT " --on-active=%ds /bin/sh " LOGIN_GUARD ".sh; then\n"
	         "\t\treturn 0\n"
	         "\tfi\n"
	         "\t(setsid sh -c 'sleep %d; [ ! -e " LOGIN_GUARD ".sh ] || exec sh " LOGIN_GUARD
	         ".sh' </dev/null >/dev/null 2>&1 &)\n"
	         "}\n",
	         hp->login_guard_s, hp->login_guard_s);
	return true;
}
