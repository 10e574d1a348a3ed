/*
 * static.c - existing servers, by address: bare metal, VMs, hosts made
 * elsewhere.  Nothing is created or deleted; the host key comes from the
 * inventory (no trust on first use) and is pinned like any other.
 *
 *   servers:
 *     web1:
 *       address: 192.0.2.10
 *       host_key: ssh-ed25519 AAAA...      # ssh-keyscan -t ed25519 ADDRESS
 *       ssh_user: admin                    # default: ssh.user of the inventory
 *       container: true                    # an LXC or nspawn container (default false)
 */
#include <stdlib.h>
#include <string.h>

#include "provision/keys.h"
#include "provision/provider.h"
#include "provision/template.h"

static const char *server_str(const struct inv_server *s, const char *key)
{
	const struct node *n = node_get(s->node, key);

	return n && n->kind == NODE_SCALAR ? n->scalar : NULL;
}

static void static_validate(const struct inventory *inv, const struct inv_layout *l,
                            const struct node *settings, struct diags *d)
{
	if (settings && settings->kind == NODE_MAP && settings->n)
		diags_add(d, &settings->pos, "provider 'static' takes no settings");
	provider_no_cloud_keys(l, "static", d);
	static const char *const unused[] = {"type",    "image", "location", "region", "size",
	                                     "volumes", "cpus",  "memory",   "disk"};
	provider_unused_server_keys(l, "static", unused, PV_ARRAY_SIZE(unused),
	                            "address, host_key, private_address, ssh_user, container", d);
	for (size_t i = 0; i < l->n_servers; i++) {
		const struct inv_server *s = &l->servers[i];
		const struct node *addr = node_get(s->node, "address");
		const struct node *key = node_get(s->node, "host_key");

		if (!addr || addr->kind != NODE_SCALAR || !*addr->scalar)
			diags_add(d, &s->pos, "server '%s' needs 'address' with provider 'static'",
			          s->name);
		if (!key || key->kind != NODE_SCALAR) {
			diags_add(d, &s->pos,
			          "server '%s' needs 'host_key' with provider 'static' (the line "
			          "'ssh-keyscan -t ed25519 ADDRESS' prints, without the address)",
			          s->name);
		} else {
			char *fp = NULL;
			struct pv_error err = {{0}};
			if (key_fingerprint(key->scalar, &fp, &err) < 0)
				diags_add(d, &key->pos, "invalid 'host_key' of server '%s': %s",
				          s->name, err.msg);
			free(fp);
		}
	}
}

static int static_hosts(struct provider_ctx *c, struct host **out, size_t *n, struct pv_error *err)
{
	const struct inv_layout *l = c->layout;
	struct host *hosts = xcalloc(l->n_servers ? l->n_servers : 1, sizeof(*hosts));

	for (size_t i = 0; i < l->n_servers; i++) {
		const struct inv_server *s = &l->servers[i];
		const char *user = server_str(s, "ssh_user");
		struct host *h = &hosts[i];

		h->name = xstrdup(s->name);
		h->address = xstrdup(server_str(s, "address") ? server_str(s, "address") : "");
		h->port = c->inv->ssh_port;
		h->user = xstrdup(user ? user : c->inv->ssh_user);
		h->host_key = xstrdup(server_str(s, "host_key") ? server_str(s, "host_key") : "");
		scope_init(&h->facts);
		/* a container cannot set the kernel's or the clock's settings: roles skip them */
		scope_set_str(&h->facts, "container",
		              tpl_truth(node_get(s->node, "container")) ? "true" : "false");
		scope_set_str(&h->facts, "address", h->address);
		scope_set_str(&h->facts, "private_address",
		              server_str(s, "private_address") ? server_str(s, "private_address")
		                                               : h->address);
		scope_set_str(&h->facts, "provider", "static");
	}
	*out = hosts;
	*n = l->n_servers;
	(void)err;
	return 0;
}

static int static_plan(struct provider_ctx *c, struct buf *out, struct pv_error *err)
{
	for (size_t i = 0; i < c->layout->n_servers; i++) {
		const struct inv_server *s = &c->layout->servers[i];
		char *pinned = NULL;
		int r = known_hosts_lookup(c->known_hosts, server_str(s, "address"),
		                           c->inv->ssh_port, &pinned, err);
		if (r < 0)
			return -1;
		if (r == 1)
			buf_addf(out, "+ pin host key of %s (%s)\n", s->name,
			         server_str(s, "address"));
		free(pinned);
	}
	return 0;
}

static int static_up(struct provider_ctx *c, struct host **out, size_t *n, struct pv_error *err)
{
	json_t *hs = state_obj(c->lstate, "hosts", true);

	if (static_hosts(c, out, n, err) < 0)
		return -1;
	for (size_t i = 0; i < *n; i++) {
		struct host *h = &(*out)[i];
		if (known_hosts_pin(c->known_hosts, h->address, h->port, h->host_key, err) < 0)
			return -1;
		json_t *o = state_obj(hs, h->name, true);
		state_set_str(o, "address", h->address);
		state_set_str(o, "host_key", h->host_key);
	}
	return state_save(c->state, err);
}

static int static_destroy(struct provider_ctx *c, struct pv_error *err)
{
	struct host *hosts = NULL;
	size_t n = 0;
	int rc = 0;

	if (static_hosts(c, &hosts, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		report_info(c->rep, hosts[i].name,
		            "static host is not deleted; its pinned key is forgotten");
		rc = known_hosts_forget(c->known_hosts, hosts[i].address, hosts[i].port, err);
	}
	hosts_free(hosts, n);
	return rc;
}

static int static_status(struct provider_ctx *c, json_t *out, struct pv_error *err)
{
	json_t *servers = json_array();

	json_object_set_new(out, "servers", servers);
	for (size_t i = 0; i < c->layout->n_servers; i++)
		json_array_append_new(
		    servers, json_pack("{s:s, s:b, s:s, s:s}", "host", c->layout->servers[i].name,
		                       "created", 1, "kind", "static", "address",
		                       server_str(&c->layout->servers[i], "address")));
	(void)err;
	return 0;
}

const struct provider_ops provider_static = {
    .name = "static",
    .hosts_in_inventory = true,
    .validate = static_validate,
    .plan = static_plan,
    .up = static_up,
    .hosts = static_hosts,
    .destroy = static_destroy,
    .status = static_status,
};
