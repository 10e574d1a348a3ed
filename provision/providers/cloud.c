/*
 * cloud.c - the cloud-init document, key comparison and firewall ports the
 * cloud providers share.
 */
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "provision/buf.h"
#include "provision/cloud.h"
#include "provision/http.h"
#include "provision/keys.h"
#include "provision/remote.h"
#include "provision/role.h"
#include "provision/vartype.h"
#include "provision/volume.h"

static const int private_ports[] = {5432, 3306, 6379, 27017, 9200};
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- many at once ---- */

void cloud_lock(void)
{
	pthread_mutex_lock(&state_lock);
}

void cloud_unlock(void)
{
	pthread_mutex_unlock(&state_lock);
}

int cloud_save(struct provider_ctx *c, struct pv_error *err)
{
	int rc;

	cloud_lock();
	rc = state_save(c->state, err);
	cloud_unlock();
	return rc;
}

int cloud_parallel(const struct provider_ctx *c)
{
	return (int)strtol(cloud_setting(c, "parallel", "10"), NULL, 10);
}

struct each {
	pthread_mutex_t lock;
	size_t n, next;
	int (*fn)(size_t i, void *arg, struct pv_error *err);
	void *arg;
	struct pv_error *errs;
	int *rcs;
};

static void *each_worker(void *arg)
{
	struct each *e = arg;

	for (;;) {
		pthread_mutex_lock(&e->lock);
		size_t i = e->next < e->n ? e->next++ : e->n;
		pthread_mutex_unlock(&e->lock);
		if (i >= e->n)
			return NULL;
		e->rcs[i] = e->fn(i, e->arg, &e->errs[i]);
	}
}

int cloud_each(const struct provider_ctx *c, size_t n,
               int (*fn)(size_t i, void *arg, struct pv_error *err), void *arg,
               struct pv_error *err)
{
	struct each e = {.n = n, .fn = fn, .arg = arg};
	size_t workers = (size_t)cloud_parallel(c);
	pthread_t *th;
	int rc = 0;

	if (workers > n)
		workers = n;
	if (!n)
		return 0;
	pthread_mutex_init(&e.lock, NULL);
	e.errs = xcalloc(n, sizeof(*e.errs));
	e.rcs = xcalloc(n, sizeof(*e.rcs));
	th = xcalloc(workers, sizeof(*th));
	for (size_t i = 0; i < workers; i++)
		if (pthread_create(&th[i], NULL, each_worker, &e) != 0) {
			workers = i; /* fewer threads still do all the work */
			break;
		}
	if (!workers)
		each_worker(&e);
	for (size_t i = 0; i < workers; i++)
		pthread_join(th[i], NULL);
	for (size_t i = 0; i < n; i++)
		if (e.rcs[i] < 0 && rc == 0) {
			*err = e.errs[i];
			rc = -1;
		}
	pthread_mutex_destroy(&e.lock);
	free(e.errs);
	free(e.rcs);
	free(th);
	return rc;
}

void cloud_yaml_str(struct buf *b, const char *s)
{
	buf_addc(b, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			buf_addf(b, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			buf_addf(b, "\\x%02x", (unsigned char)*s);
		else
			buf_addc(b, *s);
	}
	buf_addc(b, '"');
}

char *cloud_user_data(const char *hostname, const char *admin_user, const char *admin_key,
                      const char *host_private, const char *host_public)
{
	struct buf b;

	buf_init(&b, 64 * 1024);
	buf_adds(&b, "#cloud-config\nhostname: ");
	cloud_yaml_str(&b, hostname);
	buf_adds(&b, "\nssh_pwauth: false\nssh_deletekeys: true\nssh_genkeytypes: []\n");
	if (strcmp(admin_user, "root")) {
		buf_adds(&b, "users:\n  - name: ");
		cloud_yaml_str(&b, admin_user);
		buf_adds(
		    &b, "\n    shell: /bin/bash\n    lock_passwd: true\n"
		        "    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n    ssh_authorized_keys:\n      - ");
		cloud_yaml_str(&b, admin_key);
		buf_adds(&b, "\n");
	}
	/* a block scalar keeps the key's lines and its final newline exactly */
	buf_adds(&b, "ssh_keys:\n  ed25519_private: |\n");
	for (const char *p = host_private; *p;) {
		size_t l = strcspn(p, "\n");
		buf_adds(&b, "    ");
		buf_add(&b, p, l);
		buf_addc(&b, '\n');
		p += l;
		if (*p == '\n')
			p++;
	}
	buf_adds(&b, "  ed25519_public: ");
	cloud_yaml_str(&b, host_public);
	buf_adds(&b, "\n");
	return buf_detach(&b, NULL);
}

static size_t key_len(const char *s)
{
	size_t l = strcspn(s, " \t");

	return s[l] ? l + 1 + strcspn(s + l + 1, " \t\n") : l;
}

bool cloud_same_key(const char *a, const char *b)
{
	size_t la, lb;

	if (!a || !b)
		return false;
	la = key_len(a);
	lb = key_len(b);
	return la == lb && la > 0 && !strncmp(a, b, la);
}

static size_t add_port(struct cloud_port *out, size_t n, size_t max, int port, int end,
                       const char *proto, bool private_only, const char *source)
{
	if (end < port)
		end = port;
	for (size_t i = 0; i < n; i++)
		if (out[i].port == port && out[i].port_end == end && !strcmp(out[i].proto, proto)) {
			/* open to all wins over private only or one source */
			bool all = !private_only && !*source;
			out[i].private_only = out[i].private_only && private_only;
			if (all || out[i].private_only)
				out[i].source[0] = '\0';
			return n;
		}
	if (n >= max || port <= 0 || end > 65535 || (strcmp(proto, "tcp") && strcmp(proto, "udp")))
		return n;
	out[n].port = port;
	out[n].port_end = end;
	snprintf(out[n].proto, sizeof(out[n].proto), "%s", proto);
	snprintf(out[n].source, sizeof(out[n].source), "%s", source);
	out[n].private_only = private_only;
	for (size_t k = 0; !*source && k < PV_ARRAY_SIZE(private_ports); k++)
		out[n].private_only = out[n].private_only || port == private_ports[k];
	return n + 1;
}

/*
 * One port a role declares or a firewall rule opens: "80/tcp", "53/udp",
 * "8000:8100/tcp", "443", "5432/tcp private", "9000/tcp from 10.0.0.0/8".
 * Rules for an interface ("on tailscale0") concern the host's own
 * firewall only and are skipped, as are rules without a port.
 */
static size_t add_role_port(struct cloud_port *out, size_t n, size_t max, const char *spec)
{
	char proto[4] = "tcp", source[64] = "";
	char *end;

	if (!strncmp(spec, "on ", 3))
		return n;
	long a = strtol(spec, &end, 10), b = a;
	if (end == spec)
		return n;
	if (*end == ':') {
		const char *q = end + 1;
		b = strtol(q, &end, 10);
		if (end == q)
			return n;
	}
	if (!strncmp(end, "/tcp", 4) || !strncmp(end, "/udp", 4)) {
		memcpy(proto, end + 1, 3);
		end += 4;
	}
	/* the cloud firewall has no rule per server: a port open to the layout's
	 * servers ("layout") or to its monitoring servers ("monitoring") is open
	 * to the private network */
	bool priv =
	    !strcmp(end, " private") || !strcmp(end, " layout") || !strcmp(end, " monitoring");
	if (!strncmp(end, " from ", 6) && strlen(end + 6) < sizeof(source) &&
	    !strchr(end + 6, ' ')) {
		snprintf(source, sizeof(source), "%s", end + 6);
		end += strlen(end);
	}
	if (*end && !priv)
		return n;
	return add_port(out, n, max, (int)a, (int)b, proto, priv, source);
}

size_t cloud_firewall_ports(const struct provider_ctx *c, struct cloud_port *out, size_t max)
{
	struct diags d;
	size_t n = 0;

	n = add_port(out, n, max, c->inv->ssh_port, 0, "tcp", false, "");
	n = add_port(out, n, max, 80, 0, "tcp", false, "");
	n = add_port(out, n, max, 443, 0, "tcp", false, "");
	diags_init(&d);
	for (size_t i = 0; c->roles && i < c->layout->n_servers; i++) {
		const struct inv_server *s = &c->layout->servers[i];
		struct role **rl = NULL;
		size_t nr = 0;
		if (c->server_ports && c->server_ports[i]) {
			for (size_t p = 0; p < c->n_server_ports[i]; p++)
				n = add_role_port(out, n, max, c->server_ports[i][p]);
			continue;
		}
		if (role_closure(c->roles, s->roles, s->role_pos, s->n_roles, &rl, &nr, &d) < 0)
			continue;
		for (size_t k = 0; k < nr; k++) {
			for (size_t p = 0; p < rl[k]->n_ports; p++)
				n = add_role_port(out, n, max, rl[k]->ports[p]);
		}
		free(rl);
	}
	diags_release(&d);
	return n;
}

void cloud_report_requests(const struct provider_ctx *c, const char *provider, const char *what,
                           const struct http_client *h, long long start_ms)
{
	char held[160];
	double took = (double)(pv_now_ms() - start_ms) / 1000.0;

	if (h->rate_held)
		snprintf(held, sizeof held,
		         "%lu held back by the rate budget, %.1f s in all, at most %.1f s",
		         h->rate_held, h->rate_held_s, h->rate_held_max_s);
	else
		snprintf(held, sizeof held, "none held back by the rate budget");
	char *msg = xasprintf("%s: %s; %lu API requests (%lu writes; %s) in %.1f s", provider, what,
	                      h->sent, h->sent_writes, held, took);
	json_t *ev = json_pack(
	    "{s:s, s:s, s:{s:I, s:I, s:I, s:I, s:I}}", "event", "info", "message", msg,
	    "api_requests", "sent", (json_int_t)h->sent, "writes", (json_int_t)h->sent_writes,
	    "held", (json_int_t)h->rate_held, "held_ms", (json_int_t)(h->rate_held_s * 1000 + 0.5),
	    "held_max_ms", (json_int_t)(h->rate_held_max_s * 1000 + 0.5));
	report_line(c->rep, ev, "%s", msg);
	free(msg);
}

/* ---- settings and validation ---- */

const char *cloud_str(const struct node *map, const char *key)
{
	const struct node *v = node_get(map, key);

	return v && v->kind == NODE_SCALAR ? v->scalar : NULL;
}

const char *cloud_setting(const struct provider_ctx *c, const char *key, const char *def)
{
	const char *v = cloud_str(c->settings, key);

	return v ? v : def;
}

const char *cloud_server_setting(const struct provider_ctx *c, const struct inv_server *s,
                                 const char *key, const char *def)
{
	const char *v = cloud_str(s->node, key);

	return v ? v : cloud_setting(c, key, def);
}

void cloud_check_number(const struct node *v, const char *what, double min, double max,
                        struct diags *d)
{
	char *end;
	double x;

	if (!v)
		return;
	x = v->kind == NODE_SCALAR ? strtod(v->scalar, &end) : 0;
	if (v->kind != NODE_SCALAR || *end || x < min || x > max)
		diags_add(d, &v->pos, "%s must be a number from %g to %g", what, min, max);
}

bool cloud_ipv4_net(const char *s, unsigned *addr, int *bits)
{
	unsigned a[4];
	int n = -1, end = 0;

	if (!s || sscanf(s, "%3u.%3u.%3u.%3u/%2d%n", &a[0], &a[1], &a[2], &a[3], &n, &end) != 5 ||
	    s[end] || n < 0 || n > 32 || a[0] > 255 || a[1] > 255 || a[2] > 255 || a[3] > 255)
		return false;
	*addr = a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3];
	*bits = n;
	return true;
}

bool cloud_ipv4_overlap(const char *a, const char *b)
{
	unsigned x, y;
	int m, n;

	if (!cloud_ipv4_net(a, &x, &m) || !cloud_ipv4_net(b, &y, &n))
		return false;
	if (n < m)
		m = n;
	unsigned mask = m ? 0xffffffffu << (32 - m) : 0;
	return (x & mask) == (y & mask);
}

void cloud_check_integer(const struct node *v, const char *what, long min, long max,
                         struct diags *d)
{
	char *end;
	long x;

	if (!v)
		return;
	x = v->kind == NODE_SCALAR ? strtol(v->scalar, &end, 10) : 0;
	if (v->kind != NODE_SCALAR || !*v->scalar || *end || x < min || x > max)
		diags_add(d, &v->pos, "%s must be a whole number from %ld to %ld", what, min, max);
}

/* A mapping setting with known keys; returns it, or NULL. */
static const struct node *check_map(const struct cloud_rules *r, const struct node *settings,
                                    const char *key, const char *const *keys, size_t n,
                                    struct diags *d)
{
	const struct node *v = node_get(settings, key);
	char what[96];

	if (!v)
		return NULL;
	snprintf(what, sizeof(what), "'%s' of provider '%s'", key, r->provider);
	if (v->kind != NODE_MAP) {
		diags_add(d, &v->pos, "%s must be a mapping", what);
		return NULL;
	}
	node_check_keys(v, keys, n, what, d);
	return v;
}

/*
 * Each value of map whose key types (KEY: TYPE) declares, against its
 * type; of names the mapping ("of the load balancer of provider 'x'").
 */
/* Does the load balancer send traffic to a server of layout l? */
static bool lb_applies(const struct node *lb, const struct inv_layout *l)
{
	const struct node *t = node_get(lb, "targets");

	for (size_t i = 0; t && t->kind == NODE_SEQ && i < t->n; i++)
		if (t->items[i]->kind == NODE_SCALAR && layout_server(l, t->items[i]->scalar))
			return true;
	return false;
}

/* The layout of the inventory that has server name (other than l), or NULL. */
static const struct inv_layout *other_layout(const struct inventory *inv,
                                             const struct inv_layout *l, const char *name)
{
	for (size_t i = 0; inv && i < inv->n_layouts; i++)
		if (&inv->layouts[i] != l && layout_server(&inv->layouts[i], name))
			return &inv->layouts[i];
	return NULL;
}

/*
 * The provider's load balancer belongs to the layout of its targets: they
 * must all be servers of one layout, and a layout with none of them has
 * no load balancer.
 */
static void check_lb(const struct node *lb, const struct inv_layout *l, const struct inventory *inv,
                     struct diags *d)
{
	const struct node *t = node_get(lb, "targets");
	bool here = lb_applies(lb, l);

	for (size_t i = 0; t && t->kind == NODE_SEQ && i < t->n; i++) {
		const struct node *x = t->items[i];
		const struct inv_layout *o = x->kind == NODE_SCALAR && !layout_server(l, x->scalar)
		                                 ? other_layout(inv, l, x->scalar)
		                                 : NULL;
		if (x->kind != NODE_SCALAR)
			continue; /* its type says what it must be */
		if (!layout_server(l, x->scalar) && !o)
			diags_add(d, &x->pos,
			          "load balancer target '%s' is not a server of any layout",
			          x->scalar);
		else if (o && here)
			diags_add(
			    d, &x->pos,
			    "load balancer target '%s' is a server of layout '%s', the others of "
			    "layout '%s': a load balancer sends traffic to servers of one layout",
			    x->scalar, o->name, l->name);
	}
	if (!t || (t->kind == NODE_SEQ && !t->n))
		diags_add(d, &lb->pos,
		          "'load_balancer' needs 'targets': the servers it sends traffic to");
}

const struct inv_server *cloud_lb_pair_server(const struct inv_layout *l, size_t i)
{
	for (size_t k = 0; k < l->n_servers; k++)
		if (inv_server_has_role(&l->servers[k], "keepalived") && i-- == 0)
			return &l->servers[k];
	return NULL;
}

bool cloud_lb_pair(const struct inv_layout *l)
{
	const char *v = cloud_str(l->node, "lb_pair");

	return v && !strcmp(v, "floating_ip");
}

/*
 * lb_pair, typed (an enum); the pair is the layout's servers with role
 * keepalived, two of them at least, and the provider's load balancer does
 * not serve the layout too: the address moves instead.
 */
/* The scalar var name of server s: its own, else its layout's, else the inventory's. */
static const char *server_var(const struct inventory *inv, const struct inv_layout *l,
                              const struct inv_server *s, const char *name)
{
	const struct node *const layers[] = {s->vars, l->vars, inv ? inv->vars : NULL};

	for (size_t i = 0; i < PV_ARRAY_SIZE(layers); i++) {
		const struct node *v = node_get(layers[i], name);
		if (v && v->kind == NODE_SCALAR)
			return v->scalar;
	}
	return NULL;
}

static void check_lb_pair(const struct inventory *inv, const struct inv_layout *l,
                          const struct node *lb, struct diags *d)
{
	static const char types[] = "lb_pair: { type: enum, values: [floating_ip] }\n";
	const struct node *v = node_get(l->node, "lb_pair");
	struct node *t = NULL;
	struct pv_error err = {{0}};
	char *of;

	if (!v)
		return;
	if (node_load_string(&t, "(provision)", types, strlen(types), &err) < 0)
		abort(); /* the table is part of the program */
	of = xasprintf("of layout '%s'", l->name);
	size_t n = d->n;
	vartype_check_keys(l->node, t, of, d);
	free(of);
	node_free(t);
	if (d->n != n)
		return;
	if (!cloud_lb_pair_server(l, 1))
		diags_add(d, &v->pos,
		          "'lb_pair' of layout '%s' needs two servers with role keepalived (the "
		          "pair the floating IP moves between)",
		          l->name);
	if (lb && lb_applies(lb, l))
		diags_add(d, &v->pos,
		          "'lb_pair' of layout '%s': the provider's load_balancer serves this "
		          "layout too; the pair's floating IP replaces it, so leave one out",
		          l->name);
	for (size_t i = 0; cloud_lb_pair_server(l, i); i++) {
		const struct inv_server *s = cloud_lb_pair_server(l, i);
		const char *tok = server_var(inv, l, s, "keepalived_api_token");
		if (!tok || !*tok)
			diags_add(d, &v->pos,
			          "'lb_pair' of layout '%s': server '%s' (role keepalived) needs "
			          "'keepalived_api_token', the name of the secret holding the API "
			          "token it takes the floating IP over with",
			          l->name, s->name);
	}
}

const struct node *cloud_lb(const struct provider_ctx *c)
{
	const struct node *lb = node_get(c->settings, "load_balancer");

	return lb && lb_applies(lb, c->layout) ? lb : NULL;
}

static void check_server(const struct cloud_rules *r, const struct node *vol_types,
                         const struct inv_server *s, struct diags *d)
{
	const struct node *v;
	char *of;

	for (size_t k = 0; k < PV_ARRAY_SIZE(r->foreign); k++)
		if ((v = node_get(s->node, r->foreign[k])))
			diags_add(d, &v->pos, "'%s' is a %s key; provider '%s' uses '%s'",
			          r->foreign[k], r->foreign_provider, r->provider, r->own[k]);
	if ((v = node_get(s->node, "provider_backups"))) {
		bool ignored;
		of = xasprintf("'provider_backups' of server '%s'", s->name);
		node_to_bool(v, &ignored, of, d);
		free(of);
	}
	volumes_validate(s, vol_types, r->volume_name_ok, r->volume_name_rule, d);
}

void cloud_check_endpoint(const struct cloud_rules *r, const struct node *settings, struct diags *d)
{
	const struct node *v = node_get(settings, "endpoint");
	const char *ev = getenv(r->endpoint_env);
	struct pv_error e = {{0}};

	if (v && v->kind != NODE_SCALAR)
		diags_add(d, &v->pos, "'endpoint' of provider '%s' must be a URL", r->provider);
	else if (v && http_endpoint_check(v->scalar, &e) < 0)
		diags_add(d, &v->pos, "'endpoint' of provider '%s': %s", r->provider, e.msg);
	if (ev && *ev && http_endpoint_check(ev, &e) < 0)
		diags_add(d, NULL, "environment variable %s: %s", r->endpoint_env, e.msg);
}

const struct node *cloud_validate(const struct cloud_rules *r, const struct inventory *inv,
                                  const struct inv_layout *l, const struct node *settings,
                                  struct diags *d)
{
	const struct node *v, *lb = NULL, *net, *net_types, *lb_types, *vol_types;
	struct node *types = NULL;
	struct pv_error err = {{0}};
	char what[160];

	if (node_load_string(&types, "(provision)", r->nested_types, strlen(r->nested_types),
	                     &err) < 0)
		abort(); /* the table is part of the program */
	net_types = node_get(types, r->net);
	lb_types = node_get(types, "load_balancer");
	vol_types = node_get(types, "volume");
	if (inv->ssh_port != 22) {
		/* the firewall would open the port, the tool would wait on it, and sshd
		 * would still listen on 22: servers made, nobody let in */
		const struct node *ssh = node_get(inv->env_root ? inv->env_root : inv->root, "ssh");
		const struct node *port = node_get(ssh, "port");
		diags_add(d, port ? &port->pos : &l->pos,
		          "'port' %d in 'ssh' is not supported by provider '%s' (layout '%s'): "
		          "its servers start with sshd on port 22; leave it out",
		          inv->ssh_port, r->provider, l->name);
	}
	if (settings && settings->kind == NODE_MAP) {
		snprintf(what, sizeof(what), "provider '%s'", r->provider);
		node_check_keys(settings, r->keys, r->n_keys, what, d);
		if ((v = node_get(settings, "token")) &&
		    (v->kind != NODE_SCALAR || !secret_ref_valid(v->scalar)))
			diags_add(d, &v->pos,
			          "'token' of provider '%s' must be a secret reference "
			          "(env:NAME or file:PATH), never the token itself",
			          r->provider);
		if ((net = check_map(r, settings, r->net, (const char *const *)net_types->keys,
		                     net_types->n, d))) {
			snprintf(what, sizeof(what), "of '%s' of provider '%s'", r->net,
			         r->provider);
			vartype_check_keys(net, net_types, what, d);
		}
		if ((lb = check_map(r, settings, "load_balancer",
		                    (const char *const *)lb_types->keys, lb_types->n, d))) {
			snprintf(what, sizeof(what), "of the load balancer of provider '%s'",
			         r->provider);
			vartype_check_keys(lb, lb_types, what, d);
			check_lb(lb, l, inv, d);
		}
		cloud_check_number(node_get(settings, "poll_interval"), "'poll_interval'", 0.05, 60,
		                   d);
		cloud_check_number(node_get(settings, "action_timeout"), "'action_timeout'", 1,
		                   86400, d);
		cloud_check_number(node_get(settings, "request_timeout"), "'request_timeout'", 1,
		                   600, d);
		cloud_check_integer(node_get(settings, "parallel"), "'parallel'", 1, 50, d);
		cloud_check_integer(node_get(settings, "snapshot_keep"), "'snapshot_keep'", 1, 1000,
		                    d);
		if ((v = node_get(settings, "rotate_host_keys"))) {
			bool ignored;
			node_to_bool(v, &ignored, "'rotate_host_keys'", d);
		}
	}
	if ((v = node_get(l->node, "snapshot_keep"))) {
		snprintf(what, sizeof(what), "'snapshot_keep' of layout '%s'", l->name);
		cloud_check_integer(v, what, 1, 1000, d);
	}
	check_lb_pair(
	    inv, l,
	    settings && settings->kind == NODE_MAP ? node_get(settings, "load_balancer") : NULL, d);
	cloud_check_endpoint(r, settings && settings->kind == NODE_MAP ? settings : NULL, d);
	for (size_t i = 0; i < l->n_servers; i++)
		check_server(r, vol_types, &l->servers[i], d);
	node_free(types);
	return lb;
}

/* ---- the API's JSON and the state ---- */

long long cloud_jid(const json_t *o, const char *key)
{
	json_t *v = o ? json_object_get(o, key) : NULL;

	return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

const char *cloud_jstr(const json_t *o, const char *key)
{
	json_t *v = o ? json_object_get(o, key) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

json_t *cloud_find_name(json_t *arr, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
	{
		const char *n = cloud_jstr(v, "name");
		if (n && !strcmp(n, name))
			return v;
	}
	return NULL;
}

int cloud_server_backups(const struct inv_server *s)
{
	const struct node *v = node_get(s->node, "provider_backups");
	struct diags d;
	bool on = false;
	int rc;

	if (!v)
		return -1;
	diags_init(&d);
	rc = node_to_bool(v, &on, "'provider_backups'", &d);
	diags_release(&d);
	return rc < 0 ? -1 : on;
}

void cloud_plan_backups(const struct inv_server *s, const char *kind, bool have, struct buf *plan)
{
	int want = cloud_server_backups(s);

	if (want >= 0 && have != (want == 1))
		buf_addf(plan, "  ~ cloud: %s %s: the provider's backups %s -> %s\n", kind, s->name,
		         have ? "on" : "off", want ? "on" : "off");
}

const struct node *cloud_server_volumes(const struct inv_server *s)
{
	const struct node *v = node_get(s->node, "volumes");

	return v && v->kind == NODE_SEQ ? v : NULL;
}

bool cloud_is_lb_target(const struct provider_ctx *c, const char *server)
{
	const struct node *t = node_get(cloud_lb(c), "targets");

	for (size_t i = 0; t && t->kind == NODE_SEQ && i < t->n; i++)
		if (t->items[i]->kind == NODE_SCALAR && !strcmp(t->items[i]->scalar, server))
			return true;
	return false;
}

void cloud_drift(const struct provider_ctx *c, const char *kind, const struct inv_server *s,
                 const char *what, const char *have, const char *want, struct buf *plan)
{
	if (!have || !strcmp(have, want))
		return;
	if (plan)
		buf_addf(
		    plan,
		    "  ! cloud: %s %s has %s %s, the inventory says %s; not changed in place\n",
		    kind, s->name, what, have, want);
	else
		report_warn(c->rep, s->name,
		            "%s %s has %s %s, the inventory says %s; not changed in place (destroy "
		            "and up again to rebuild it)",
		            kind, s->name, what, have, want);
}

/* A host from its state entry o; the OS from an image name such as debian-12. */
static void fill_host(struct host *h, const struct provider_ctx *c, const char *provider,
                      const char *name, const json_t *o, const char *id_key, const char *image,
                      const char *private_network)
{
	const char *priv = state_str(o, "private_address");
	char os[32] = "debian", ver[32] = "12", id[32];

	if (image && sscanf(image, "%31[a-z]-%31[0-9.-]", os, ver) != 2) {
		snprintf(os, sizeof(os), "debian");
		snprintf(ver, sizeof(ver), "12");
	}
	ver[strcspn(ver, "-")] = '\0';
	h->name = xstrdup(name);
	h->address = xstrdup(state_str(o, "address"));
	h->port = c->inv->ssh_port;
	h->user = xstrdup(c->inv->ssh_user);
	h->host_key = xstrdup(state_str(o, "host_key"));
	scope_init(&h->facts);
	scope_set_str(&h->facts, "container", "false");
	scope_set_str(&h->facts, "address", h->address);
	scope_set_str(&h->facts, "private_address", priv ? priv : h->address);
	scope_set_str(&h->facts, "private_network", private_network);
	scope_set_str(&h->facts, "os_id", os);
	scope_set_str(&h->facts, "os_version_id", ver);
	scope_set_str(&h->facts, "provider", provider);
	snprintf(id, sizeof(id), "%lld", cloud_jid(o, id_key));
	scope_set_str(&h->facts, id_key, id);
}

int cloud_hosts(struct provider_ctx *c, const char *provider, const char *id_key,
                const char *image_key, const char *default_image, const char *private_network,
                provider_volume_device_fn *volume_device, struct host **out, size_t *n)
{
	json_t *hs = state_obj(c->lstate, "hosts", false);
	json_t *pd = state_obj(c->lstate, "provider_data", false);
	struct host *hosts = xcalloc(c->layout->n_servers + 1, sizeof(*hosts));
	size_t k = 0;
	/* the load balancer pair's address: Hetzner's floating IP, DigitalOcean's reserved IP */
	const char *pair = state_str(pd, "floating_ip") ? state_str(pd, "floating_ip")
	                                                : state_str(pd, "reserved_ip");
	char pair_id[32];

	if (cloud_jid(pd, "floating_ip_id"))
		snprintf(pair_id, sizeof(pair_id), "%lld", cloud_jid(pd, "floating_ip_id"));
	else
		snprintf(pair_id, sizeof(pair_id), "%s", pair ? pair : "");
	for (size_t i = 0; i < c->layout->n_servers; i++) {
		const struct inv_server *s = &c->layout->servers[i];
		json_t *o = state_obj(hs, s->name, false);
		if (!o || !state_str(o, "address") || !state_str(o, "host_key") ||
		    !cloud_jid(o, id_key))
			continue;
		fill_host(&hosts[k], c, provider, s->name, o, id_key,
		          cloud_server_setting(c, s, image_key, default_image), private_network);
		if (cloud_lb_pair(c->layout) && pair && inv_server_has_role(s, "keepalived")) {
			scope_set_str(&hosts[k].facts, "lb_pair_address", pair);
			scope_set_str(&hosts[k].facts, "lb_pair_id", pair_id);
		}
		provider_volume_facts(&hosts[k++], c, s, volume_device);
	}
	*out = hosts;
	*n = k;
	return 0;
}

/*
 * The host key a server boots with came in its user_data, which any process
 * on the server can read back from the metadata service: once the admin is
 * in, the server gets a key nobody else has seen.  A staged key is made on
 * the server and recorded as host_key_next before it is put in place, so a
 * run that dies half-way finds the server presenting one of the two keys
 * the state knows and finishes the step.
 */
static const char rotate_stage_sh[] =
    "set -e\n"
    "d=/etc/ssh/provision-rotate\n"
    "if [ ! -s \"$d/ssh_host_ed25519_key.pub\" ]; then\n"
    "\trm -rf \"$d\"\n"
    "\tmkdir -m 0700 \"$d\"\n"
    "\tssh-keygen -q -t ed25519 -N '' -C '' -f \"$d/ssh_host_ed25519_key\"\n"
    "fi\n"
    "echo \"now $(cat /etc/ssh/ssh_host_ed25519_key.pub)\"\n"
    "echo \"next $(cat \"$d/ssh_host_ed25519_key.pub\")\"\n";

static const char rotate_swap_sh[] =
    "set -e\n"
    "d=/etc/ssh/provision-rotate\n"
    "install -m 0600 -o root -g root \"$d/ssh_host_ed25519_key\" "
    "/etc/ssh/ssh_host_ed25519_key.provision-new\n"
    "install -m 0644 -o root -g root \"$d/ssh_host_ed25519_key.pub\" "
    "/etc/ssh/ssh_host_ed25519_key.pub.provision-new\n"
    "mv -f /etc/ssh/ssh_host_ed25519_key.provision-new /etc/ssh/ssh_host_ed25519_key\n"
    "mv -f /etc/ssh/ssh_host_ed25519_key.pub.provision-new /etc/ssh/ssh_host_ed25519_key.pub\n"
    "rm -rf \"$d\"\n"
    "systemctl reload ssh\n";

/* "KEYWORD TYPE BASE64" lines of out: the key part after KEYWORD, or NULL. */
static char *line_key(const char *out, const char *keyword)
{
	size_t kl = strlen(keyword);

	for (const char *p = out; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t l = eol ? (size_t)(eol - p) : strlen(p);
		if (l > kl + 1 && !strncmp(p, keyword, kl) && p[kl] == ' ')
			return xstrndup(p + kl + 1, l - kl - 1);
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

static int run_root(struct remote *r, const char *script, struct buf *out, struct pv_error *err)
{
	struct buf e = BUF_INIT;
	int status = 0;
	int rc = remote_exec(r, "sudo -n sh -s", script, strlen(script), out, &e, &status, err);

	if (rc == 0 && status != 0)
		rc = pv_error_set(err, "exit %d: %.200s", status, e.s ? e.s : "");
	buf_release(&e);
	return rc < 0 ? -1 : 0;
}

/* Pin key for the server's address; caller holds no lock. */
static int pin(struct provider_ctx *c, json_t *o, const char *key, struct pv_error *err)
{
	cloud_lock();
	int rc =
	    known_hosts_pin(c->known_hosts, state_str(o, "address"), c->inv->ssh_port, key, err);
	cloud_unlock();
	return rc;
}

/* The state (and the pin) now name the new key; caller holds no lock. */
static int rotated(struct provider_ctx *c, json_t *o, const char *key, struct pv_error *err)
{
	if (pin(c, o, key, err) < 0)
		return -1;
	cloud_lock();
	state_set_str(o, "host_key", key);
	json_object_del(o, "host_key_next");
	json_object_set_new(o, "host_key_rotated", json_true());
	int rc = state_save(c->state, err);
	cloud_unlock();
	return rc;
}

static int rotate_host_key(struct provider_ctx *c, json_t *o, const struct remote_target *t,
                           struct remote *r, struct pv_error *err)
{
	struct buf out = BUF_INIT;
	char *now = NULL, *next = NULL;
	int rc = -1;

	if (run_root(r, rotate_stage_sh, &out, err) < 0)
		goto out;
	now = line_key(out.s ? out.s : "", "now");
	next = line_key(out.s ? out.s : "", "next");
	const char *was_next = state_str(o, "host_key_next");
	if (now && was_next && cloud_same_key(now, was_next)) {
		/* an earlier run put the new key in place; sshd has not read it yet */
		free(next);
		next = xstrdup(was_next);
		if (run_root(r, "systemctl reload ssh\n", &out, err) < 0)
			goto out;
	} else if (!now || !next || !cloud_same_key(now, state_str(o, "host_key"))) {
		pv_error_set(err, "the host key it reports is not the one pinned");
		goto out;
	} else {
		cloud_lock();
		state_set_str(o, "host_key_next", next);
		rc = state_save(c->state, err);
		cloud_unlock();
		if (rc < 0 || (rc = run_root(r, rotate_swap_sh, &out, err)) < 0)
			goto out;
	}
	/* sshd has the new key once its reload is through: a new login proves it */
	rc = -1;
	if (pin(c, o, next, err) < 0)
		goto out;
	for (int i = 0; i < 20; i++) {
		struct remote *r2 = NULL;
		if (remote_connect(&r2, t, err) == 0) {
			remote_close(r2);
			rc = rotated(c, o, next, err);
			break;
		}
		usleep(250 * 1000);
	}
out:
	free(now);
	free(next);
	buf_release(&out);
	return rc;
}

/*
 * A new server's sshd answers before the server lets its admin in: until
 * the boot and cloud-init are done, /run/nologin makes PAM refuse every
 * user but root.  Log in once (once per server: the state remembers it),
 * waiting while the login is refused; then replace the bootstrap host key
 * (once, unless rotate_host_keys is false).
 */
static int wait_login(struct provider_ctx *c, json_t *o, const char *kind, const char *name,
                      long long deadline, struct pv_error *err)
{
	struct remote_target t = {.name = name,
	                          .address = state_str(o, "address"),
	                          .port = c->inv->ssh_port,
	                          .user = c->admin_user,
	                          .private_key = c->admin_private_key,
	                          .known_hosts = c->known_hosts};
	bool rotate = strcmp(cloud_setting(c, "rotate_host_keys", "true"), "false") &&
	              !json_is_true(json_object_get(o, "host_key_rotated"));

	if (!c->admin_private_key || (json_is_true(json_object_get(o, "login_ok")) && !rotate))
		return 0;
	if (!json_is_true(json_object_get(o, "login_ok")))
		report_info(c->rep, name, "waiting until %s may log in", c->admin_user);
	for (;;) {
		struct remote *r = NULL;
		if (remote_connect(&r, &t, err) == 0) {
			cloud_lock();
			json_object_set_new(o, "login_ok", json_true());
			cloud_unlock();
			int rc = 0;
			if (rotate) {
				report_info(c->rep, name, "replacing the host key it booted with");
				rc = rotate_host_key(c, o, &t, r, err);
				if (rc < 0)
					pv_error_prefix(
					    err, "%s %s: cannot replace its bootstrap host key",
					    kind, name);
			}
			remote_close(r);
			return rc;
		}
		/* a run that died after the swap: the server presents the staged key */
		const char *next = state_str(o, "host_key_next");
		if (next && strstr(err->msg, "does not match the pinned key") &&
		    pin(c, o, next, err) == 0 && remote_connect(&r, &t, err) == 0) {
			remote_close(r);
			return rotated(c, o, next, err);
		}
		if (!strstr(err->msg, "authentication as") || pv_now_ms() > deadline)
			return pv_error_prefix(err, "%s %s does not let '%s' log in", kind, name,
			                       c->admin_user);
		sleep(2);
	}
}

struct wait_arg {
	struct provider_ctx *c;
	json_t *hs;
	const char *kind;
	long long timeout_ms;
};

static int wait_one(size_t i, void *arg, struct pv_error *err)
{
	struct wait_arg *a = arg;
	const char *name = a->c->layout->servers[i].name;
	json_t *o = state_obj(a->hs, name, false);
	long long deadline = pv_now_ms() + a->timeout_ms;

	report_info(a->c->rep, name, "waiting for SSH on %s port %d", state_str(o, "address"),
	            a->c->inv->ssh_port);
	while (remote_wait_port(state_str(o, "address"), a->c->inv->ssh_port, 1000, err) < 0) {
		if (pv_now_ms() > deadline)
			return pv_error_prefix(err, "%s %s does not answer on SSH", a->kind, name);
	}
	if (wait_login(a->c, o, a->kind, name, deadline, err) < 0)
		return -1;
	report_info(a->c->rep, name, "%s %s answers on SSH", a->kind, name);
	return 0;
}

int cloud_pin_and_wait(struct provider_ctx *c, const char *kind, long long timeout_ms,
                       struct pv_error *err)
{
	struct wait_arg a = {c, state_obj(c->lstate, "hosts", true), kind, timeout_ms};

	for (size_t i = 0; i < c->layout->n_servers; i++) {
		json_t *o = state_obj(a.hs, c->layout->servers[i].name, false);
		if (known_hosts_pin(c->known_hosts, state_str(o, "address"), c->inv->ssh_port,
		                    state_str(o, "host_key"), err) < 0)
			return -1;
	}
	return cloud_each(c, c->layout->n_servers, wait_one, &a, err);
}

int cloud_forget_hosts(struct provider_ctx *c, struct pv_error *err)
{
	const char *k;
	json_t *h;

	json_object_foreach(state_obj(c->lstate, "hosts", false), k, h)
	{
		if (state_str(h, "address") &&
		    known_hosts_forget(c->known_hosts, state_str(h, "address"), c->inv->ssh_port,
		                       err) < 0)
			return -1;
	}
	return 0;
}

int cloud_status(struct provider_ctx *c, const char *kind, const char *id_key, json_t *listed,
                 const char *why_not, json_t *out)
{
	json_t *hs = state_obj(c->lstate, "hosts", false), *servers = json_array();
	int missing = 0;

	if (why_not)
		json_object_set_new(out, "note",
		                    json_sprintf("the cloud API was not asked: %s", why_not));
	json_object_set_new(out, "servers", servers);
	for (size_t i = 0; i < c->layout->n_servers; i++) {
		const char *name = c->layout->servers[i].name;
		json_t *o = state_obj(hs, name, false), *found = NULL, *v;
		json_t *s = json_pack("{s:s}", "host", name);
		long long id = cloud_jid(o, id_key);
		const char *st;
		size_t k;

		json_array_append_new(servers, s);
		json_object_set_new(s, "created", json_boolean(o && id));
		if (!o || !id)
			continue;
		json_object_set_new(s, "kind", json_string(kind));
		json_object_set_new(s, "id", json_integer(id));
		if (state_str(o, "address"))
			json_object_set_new(s, "address", json_string(state_str(o, "address")));
		if (!listed)
			continue;
		json_array_foreach(listed, k, v)
		{
			if (cloud_jid(v, "id") == id)
				found = v;
		}
		st = cloud_jstr(found, "status");
		if (!found)
			missing = 1;
		json_object_set_new(s, "state", json_string(!found ? "missing" : st ? st : "?"));
	}
	return missing;
}

/* ---- the layout's servers, at once ---- */

/* One server of the layout: adopted, powered on or created, then running. */
static int server_one(size_t i, void *arg, struct pv_error *err)
{
	struct cloud_servers *cs = arg;
	struct provider_ctx *c = cs->c;
	const struct inv_server *s = &c->layout->servers[i];
	json_t *o = state_obj(state_obj(c->lstate, "hosts", false), s->name, false);
	json_t *res = cs->find(cs->arg, cs->listed, s, o);
	long long action = 0;
	bool running = false, changed = false;
	int rc = -1;

	if (res && !state_str(o, "host_key")) {
		pv_error_set(err,
		             "%s %s (id %lld) carries this layout's %s but its host key is not in "
		             "the state, so it cannot be trusted; delete it ('provision destroy "
		             "%s') and run up again",
		             cs->kind, s->name, cloud_jid(res, "id"), cs->marks, c->layout->name);
		goto out;
	}
	if (res) {
		const char *st = cloud_jstr(res, "status");
		if (cloud_jid(o, cs->id_key) != cloud_jid(res, "id"))
			report_info(c->rep, s->name,
			            "found %s %s (id %lld) made by an earlier run; adopting it",
			            cs->kind, s->name, cloud_jid(res, "id"));
		cloud_lock();
		cs->record(o, res);
		state_set_str(o, "status", "created");
		rc = state_save(c->state, err);
		cloud_unlock();
		if (rc < 0)
			goto out;
		rc = -1;
		cs->drift(c, s, res, NULL);
		running = st && !strcmp(st, cs->running);
		if (st && !strcmp(st, "off")) {
			report_info(c->rep, s->name, "powering on the stopped %s", cs->kind);
			if (cs->power_on(cs->arg, res, &action, err) < 0)
				goto out;
			changed = true;
		}
	} else {
		if (cs->create(cs->arg, s, o, &action, err) < 0)
			goto out;
		changed = true;
	}
	if (cs->wait(cs->arg, s, o, action, running, err) < 0 || cloud_save(c, err) < 0)
		goto out;
	/* the provider's own backups, when the inventory says: once the server is there */
	int want = cloud_server_backups(s);
	if (want >= 0 && cs->backups) {
		bool have = res ? cs->backups_on(res) : cs->backups_at_create && want == 1;
		if (have != (want == 1)) {
			report_info(c->rep, s->name, "switching %s the provider's backups of %s %s",
			            want ? "on" : "off", cs->kind, s->name);
			if (cs->backups(cs->arg, s, o, want == 1, err) < 0)
				goto out;
			changed = true;
		}
	}
	rc = 0;
out:
	if (changed) {
		cloud_lock();
		cs->changed = true;
		cloud_unlock();
	}
	return rc;
}

int cloud_servers(struct cloud_servers *cs, struct pv_error *err)
{
	struct provider_ctx *c = cs->c;
	json_t *hs = state_obj(c->lstate, "hosts", true), *v;
	size_t i;

	/* every server's entry exists before the threads change them */
	for (i = 0; i < c->layout->n_servers; i++)
		state_obj(hs, c->layout->servers[i].name, true);
	if (cloud_each(c, c->layout->n_servers, server_one, cs, err) < 0)
		return -1;
	/* servers of the layout that are gone from the inventory are kept, never deleted here */
	json_array_foreach(cs->listed, i, v)
	{
		const char *name = cs->listed_name(v);
		if (name && !layout_server(c->layout, name))
			report_warn(
			    c->rep, name,
			    "%s %s is no longer in layout '%s'; it is kept until 'provision "
			    "destroy %s'",
			    cs->kind, name, c->layout->name, c->layout->name);
	}
	return 0;
}

/* ---- create: once, whatever answer is lost ---- */

/* Look for what a create whose answer was lost or refused may have made. */
static int create_look(struct cloud_create *cc, json_t **found, struct pv_error *err)
{
	json_t *all = NULL, *v;

	*found = NULL;
	if (cc->list(cc->arg, &all, err) < 0)
		return -1;
	v = cloud_find_name(all, cc->name);
	if (v && (!cc->mine || cc->mine(v, cc->arg)))
		*found = json_incref(v);
	json_decref(all);
	return 0;
}

int cloud_create(struct cloud_create *cc, json_t **made, json_t **resp, struct pv_error *err)
{
	int attempts = cc->attempts > 0 ? cc->attempts : 5;

	*made = NULL;
	*resp = NULL;
	for (int attempt = 0;; attempt++) {
		struct http_response r;
		struct http_opts o = {.body = cc->body};
		struct pv_error e = {{0}};
		int rc;

		http_response_init(&r);
		rc = http_request(cc->http, "POST", cc->path, &o, &r, &e);
		cc->status = rc == 0 ? r.status : 0;
		if (rc == 0 && r.status >= 200 && r.status <= 299) {
			*resp = r.json ? json_incref(r.json) : json_object();
			*made = json_incref(json_object_get(*resp, cc->one));
			http_response_release(&r);
			return 0;
		}
		if (rc == 0 && r.status < 500) {
			http_fail(&r, err, "creating %s %s", cc->what, cc->name);
			http_response_release(&r);
			return -1;
		}
		if (rc == 0)
			http_fail(&r, &e, "creating %s %s", cc->what, cc->name);
		else
			pv_error_prefix(&e, "creating %s %s", cc->what, cc->name);
		/* the provider may have acted although the answer was lost or a 5xx */
		if (create_look(cc, made, err) < 0) {
			http_response_release(&r);
			return -1;
		}
		if (*made) {
			report_warn(cc->rep, cc->host, "%s; but %s %s exists: adopting it", e.msg,
			            cc->what, cc->name);
			http_response_release(&r);
			return 0;
		}
		if (attempt + 1 >= attempts) {
			pv_error_set(err, "%s (tried %d times)", e.msg, attempts);
			http_response_release(&r);
			return -1;
		}
		double d = http_retry_delay(cc->http, rc == 0 ? &r : NULL, attempt);
		report_warn(cc->rep, cc->host, "%s; it does not exist: trying again in %.1f s",
		            e.msg, d);
		http_response_release(&r);
		http_pause(d);
	}
}

/* ---- a switch: sent again only after looking ---- */

int cloud_switch(struct cloud_switch *sw, struct pv_error *err)
{
	sw->action = 0;
	for (int attempt = 0;; attempt++) {
		struct http_response r;
		struct http_opts o = {.body = sw->body};
		struct pv_error e = {{0}};
		bool done = false;
		int rc;

		http_response_init(&r);
		rc = http_request(sw->http, "POST", sw->path, &o, &r, &e);
		if (rc == 0 && r.status >= 200 && r.status <= 299) {
			sw->action = cloud_jid(json_object_get(r.json, "action"), "id");
			http_response_release(&r);
			return 0;
		}
		if (rc == 0 && r.status < 500) {
			http_fail(&r, err, "%s", sw->what);
			http_response_release(&r);
			return -1;
		}
		if (rc == 0)
			http_fail(&r, &e, "%s", sw->what);
		else
			pv_error_prefix(&e, "%s", sw->what);
		/* the provider may have acted although the answer was lost or a 5xx */
		if (sw->look(sw->arg, &done, err) < 0) {
			http_response_release(&r);
			return -1;
		}
		if (done) {
			report_warn(sw->rep, sw->host, "%s; but %s: going on", e.msg,
			            sw->done_says ? sw->done_says : "it is done");
			http_response_release(&r);
			return 0;
		}
		if (attempt + 1 >= 5) {
			pv_error_set(err, "%s (tried 5 times)", e.msg);
			http_response_release(&r);
			return -1;
		}
		double d = http_retry_delay(sw->http, rc == 0 ? &r : NULL, attempt);
		report_warn(sw->rep, sw->host, "%s; %s: trying again in %.1f s", e.msg,
		            sw->not_done_says ? sw->not_done_says : "it is not done", d);
		http_response_release(&r);
		http_pause(d);
	}
}

/* After a lost answer: are the server's backups what was asked? */
static int backups_look(void *arg, bool *done, struct pv_error *err)
{
	struct cloud_backups *b = arg;
	struct http_response r;
	struct http_opts o = {0};
	int rc;

	http_response_init(&r);
	rc = http_request(b->http, "GET", b->get, &o, &r, err);
	if (rc < 0)
		pv_error_prefix(err, "looking at %s %s", b->kind, b->host);
	else if (r.status != 200)
		rc = http_fail(&r, err, "looking at %s %s", b->kind, b->host);
	*done = rc == 0 && b->on_now(json_object_get(r.json, b->one)) == b->on;
	http_response_release(&r);
	return rc < 0 ? -1 : 0;
}

int cloud_backups_switch(struct cloud_backups *b, struct pv_error *err)
{
	struct cloud_switch sw = {.http = b->http,
	                          .rep = b->rep,
	                          .host = b->host,
	                          .what = b->what,
	                          .path = b->path,
	                          .body = b->body,
	                          .look = backups_look,
	                          .arg = b,
	                          .done_says = b->on ? "the backups are on" : "the backups are off",
	                          .not_done_says = b->on ? "they are not on" : "they are not off"};
	int rc;

	snprintf(b->what, sizeof(b->what), "switching %s the backups of %s %s",
	         b->on ? "on" : "off", b->kind, b->host);
	rc = cloud_switch(&sw, err);
	b->action = sw.action;
	return rc;
}

/* ---- destroy: delete only what is ours ---- */

void cloud_id_text(const json_t *id, char *out, size_t n)
{
	if (json_is_integer(id))
		snprintf(out, n, "%lld", (long long)json_integer_value(id));
	else if (json_is_string(id))
		snprintf(out, n, "%s", json_string_value(id));
	else
		snprintf(out, n, "?");
}

bool cloud_id_in(const json_t *ids, const json_t *id)
{
	size_t i;
	json_t *v;

	if (!id || json_is_null(id))
		return false;
	json_array_foreach(ids, i, v)
	{
		if (json_equal(v, id))
			return true;
	}
	return false;
}

struct sweep_arg {
	struct cloud_sweep *s;
	json_t *mine;
};

static int sweep_one(size_t i, void *arg, struct pv_error *err)
{
	struct sweep_arg *a = arg;
	json_t *v = json_array_get(a->mine, i);
	const char *name = cloud_jstr(v, "name") ? cloud_jstr(v, "name") : "?";
	char id[96];

	cloud_id_text(json_object_get(v, "id"), id, sizeof(id));
	report_info(a->s->c->rep, NULL, "deleting %s %s (id %s)", a->s->what, name, id);
	return a->s->del(v, a->s->arg, err);
}

int cloud_sweep(struct cloud_sweep *s, const json_t *found, struct pv_error *err)
{
	struct sweep_arg a = {s, json_array()};
	size_t i;
	json_t *v;
	int rc;

	json_array_foreach(found, i, v)
	{
		const char *name = cloud_jstr(v, "name") ? cloud_jstr(v, "name") : "?";
		char id[96];
		cloud_id_text(json_object_get(v, "id"), id, sizeof(id));
		if (!cloud_id_in(s->recorded, json_object_get(v, "id")) &&
		    !(s->managed && s->managed(v, s->arg))) {
			report_warn(
			    s->c->rep, NULL,
			    "not ours, kept: %s %s (id %s) matches layout '%s' but the state "
			    "does not record it and it carries no managed-by mark",
			    s->what, name, id, s->c->layout->name);
			s->kept++;
			continue;
		}
		json_array_append(a.mine, v);
	}
	/* one at a time unless del may run in parallel */
	if (s->parallel) {
		rc = cloud_each(s->c, json_array_size(a.mine), sweep_one, &a, err);
		s->deleted += json_array_size(a.mine);
	} else {
		rc = 0;
		for (i = 0; rc == 0 && i < json_array_size(a.mine); i++) {
			rc = sweep_one(i, &a, err);
			s->deleted += rc == 0;
		}
	}
	json_decref(a.mine);
	return rc;
}

/* ---- snapshots ---- */

long long cloud_time(const char *s)
{
	struct tm tm;
	const char *p;
	long long t;

	memset(&tm, 0, sizeof(tm));
	if (!s || !(p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)))
		return -1;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	t = (long long)timegm(&tm);
	if (*p == 'Z' && !p[1])
		return t;
	if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		long off = strtol(p + 1, NULL, 10) * 3600 + strtol(p + 4, NULL, 10) * 60;
		return *p == '+' ? t - off : t + off;
	}
	return -1;
}

char *cloud_snapshot_name(const struct provider_ctx *c, const char *server, long long now)
{
	time_t t = (time_t)now;
	struct tm tm;
	char when[32];

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y%m%d-%H%M%S", &tm);
	return xasprintf("%s-%s-%s-%s-%s", c->inv->project, c->env, c->layout->name, server, when);
}

bool cloud_snapshot_named(const struct provider_ctx *c, const char *server, const char *name)
{
	char *prefix = cloud_snapshot_name(c, server, 0);
	size_t n = strlen(prefix) - strlen("19700101-000000");
	bool ok = name && !strncmp(name, prefix, n) && strlen(name) == strlen(prefix);

	for (size_t i = n; ok && name[i]; i++)
		ok = i == n + 8 ? name[i] == '-' : name[i] >= '0' && name[i] <= '9';
	free(prefix);
	return ok;
}

static int snapshot_cmp(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	long long tx = cloud_time(cloud_jstr(x, "created")),
	          ty = cloud_time(cloud_jstr(y, "created"));
	long long ix = cloud_jid(x, "id"), iy = cloud_jid(y, "id");

	if (tx != ty)
		return tx < ty ? -1 : 1;
	return ix < iy ? -1 : ix > iy;
}

void cloud_snapshots_sort(json_t *arr)
{
	size_t n = json_array_size(arr);
	json_t **v = xcalloc(n + 1, sizeof(*v));

	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(arr, i));
	qsort(v, n, sizeof(*v), snapshot_cmp);
	json_array_clear(arr);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, v[i]);
	free(v);
}

json_t *cloud_snapshots_excess(const json_t *mine, size_t keep)
{
	json_t *sorted = json_copy((json_t *)mine), *out = json_array();
	size_t n = json_array_size(sorted);

	cloud_snapshots_sort(sorted);
	for (size_t i = 0; n > keep && i < n - keep; i++)
		json_array_append(out, json_array_get(sorted, i));
	json_decref(sorted);
	return out;
}

/* The layout's snapshot_keep, else the provider's; 0: keep every snapshot. */
size_t cloud_snapshot_keep(const struct provider_ctx *c)
{
	const char *v = cloud_str(c->layout->node, "snapshot_keep");

	return (size_t)strtoul(v ? v : cloud_setting(c, "snapshot_keep", "0"), NULL, 10);
}

int cloud_not_created(const struct provider_ctx *c, const char *kind, const char *host,
                      struct pv_error *err)
{
	return pv_error_set(err,
	                    "%s %s of layout '%s' is not created in environment '%s' "
	                    "('provision up' makes it)",
	                    kind, host, c->layout->name, c->env);
}

json_t *cloud_snapshot_entry(const json_t *v, const char *size_key, const char *host,
                             const char *state)
{
	json_t *size = json_object_get(v, size_key);

	return json_pack("{s:s, s:I, s:s, s:s, s:O, s:s}", "host", host, "id",
	                 (json_int_t)cloud_jid(v, "id"), "name",
	                 cloud_jstr(v, "name") ? cloud_jstr(v, "name") : "", "created",
	                 cloud_jstr(v, "created") ? cloud_jstr(v, "created") : "", "size_gb",
	                 json_is_number(size) ? size : json_null(), "state", state);
}

struct snapshot_run {
	const struct cloud_snapshot_ops *ops;
	const struct inv_server **servers;
	bool *made; /* per server: its snapshot was made */
	json_t *out; /* under cloud_lock */
};

static int snapshot_each(size_t i, void *arg, struct pv_error *err)
{
	struct snapshot_run *r = arg;
	json_t *made = NULL;

	if (r->ops->one(r->ops->arg, r->servers[i]->name, &made, err) < 0)
		return -1;
	cloud_lock();
	json_array_append_new(r->out, made);
	r->made[i] = true;
	cloud_unlock();
	return 0;
}

int cloud_snapshot_run(const struct provider_ctx *c, const char *host,
                       const struct cloud_snapshot_ops *ops, json_t *out, struct pv_error *err)
{
	long long start = pv_now_ms();
	size_t keep = cloud_snapshot_keep(c), n = 0, made = 0, deleted = 0, i;
	struct snapshot_run r = {ops, xcalloc(c->layout->n_servers + 1, sizeof(*r.servers)),
	                         xcalloc(c->layout->n_servers + 1, sizeof(*r.made)), out};
	json_t *v;
	int rc;

	for (i = 0; i < c->layout->n_servers; i++)
		if (!host || !strcmp(host, c->layout->servers[i].name))
			r.servers[n++] = &c->layout->servers[i];
	rc = cloud_each(c, n, snapshot_each, &r, err);
	for (i = 0; keep && i < n; i++) {
		struct pv_error later = {{0}};
		if (r.made[i] &&
		    ops->retain(ops->arg, r.servers[i]->name, keep, out, rc < 0 ? &later : err) < 0)
			rc = -1;
	}
	json_array_foreach(out, i, v)
	{
		const char *st = cloud_jstr(v, "state");
		deleted += st && !strcmp(st, "deleted");
		made += st && !strcmp(st, "made");
	}
	char *what =
	    xasprintf("%zu snapshot%s made, %zu deleted", made, made == 1 ? "" : "s", deleted);
	cloud_report_requests(c, ops->provider, what, ops->http, start);
	free(what);
	free(r.made);
	free(r.servers);
	return rc;
}
