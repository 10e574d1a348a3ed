/*
 * provider.c - the provider table and struct host.
 */
#include <stdlib.h>
#include <string.h>

#include "provision/provider.h"
#include "provision/volume.h"

static const struct provider_ops *const providers[] = {
    &provider_local, &provider_vm, &provider_static, &provider_hetzner, &provider_digitalocean,
};

const struct provider_ops *provider_find(const char *name)
{
	for (size_t i = 0; i < PV_ARRAY_SIZE(providers); i++)
		if (!strcmp(providers[i]->name, name))
			return providers[i];
	return NULL;
}

int provider_token(const struct provider_ops *p, const struct node *settings, char **token,
                   struct pv_error *err)
{
	const struct node *tok = settings ? node_get(settings, "token") : NULL;
	const char *env = p->token_env ? getenv(p->token_env) : NULL;

	*token = NULL;
	if (tok && tok->kind == NODE_SCALAR)
		return secret_ref_resolve(token, tok->scalar, &tok->pos, err);
	if (env && *env) {
		*token = xstrdup(env);
		return 0;
	}
	return pv_error_set(err,
	                    "provider '%s' needs an API token: set %s or providers.%s.token "
	                    "(env:NAME or file:PATH)",
	                    p->name, p->token_env ? p->token_env : "its token", p->name);
}

void provider_no_cloud_keys(const struct inv_layout *l, const char *provider, struct diags *d)
{
	const struct node *v = node_get(l->node, "snapshot_keep");

	if (v)
		diags_add(
		    d, &v->pos,
		    "'snapshot_keep' of layout '%s' means nothing to provider '%s', which has "
		    "no snapshots",
		    l->name, provider);
	if ((v = node_get(l->node, "lb_pair")))
		diags_add(d, &v->pos,
		          "'lb_pair' of layout '%s' means nothing to provider '%s': a pair of "
		          "load balancers there shares keepalived_address (role keepalived)",
		          l->name, provider);
	for (size_t i = 0; i < l->n_servers; i++)
		if ((v = node_get(l->servers[i].node, "provider_backups")))
			diags_add(
			    d, &v->pos,
			    "'provider_backups' of server '%s' means nothing to provider '%s', "
			    "which has no backups of its own",
			    l->servers[i].name, provider);
}

void provider_unused_server_keys(const struct inv_layout *l, const char *provider,
                                 const char *const *unused, size_t n, const char *its,
                                 struct diags *d)
{
	const struct node *v;

	for (size_t i = 0; i < l->n_servers; i++)
		for (size_t k = 0; k < n; k++)
			if ((v = node_get(l->servers[i].node, unused[k])))
				diags_add(d, &v->pos,
				          "'%s' of server '%s' means nothing to provider '%s' (its "
				          "keys: %s)",
				          unused[k], l->servers[i].name, provider, its);
}

const char *const *provider_names(size_t *n)
{
	static const char *names[PV_ARRAY_SIZE(providers)];

	for (size_t i = 0; i < PV_ARRAY_SIZE(providers); i++)
		names[i] = providers[i]->name;
	*n = PV_ARRAY_SIZE(providers);
	return names;
}

void host_release(struct host *h)
{
	free(h->name);
	free(h->address);
	free(h->user);
	free(h->host_key);
	scope_release(&h->facts);
	memset(h, 0, sizeof(*h));
}

void hosts_free(struct host *hosts, size_t n)
{
	if (!hosts)
		return;
	for (size_t i = 0; i < n; i++)
		host_release(&hosts[i]);
	free(hosts);
}

void provider_volume_facts(struct host *h, const struct provider_ctx *c, const struct inv_server *s,
                           provider_volume_device_fn *device)
{
	const struct node *v = volumes_of(s);
	struct pos tool = {pv_intern("(provision)"), 0, 0};
	struct node *m;

	if (!v)
		return;
	m = node_new_map(&tool);
	for (size_t i = 0; i < v->n; i++) {
		const struct node *name = node_get(v->items[i], "name");
		char *dev;
		if (!name || name->kind != NODE_SCALAR || !(dev = device(c, s, name->scalar)))
			continue;
		node_map_set(m, name->scalar, node_new_scalar(dev, &tool));
		free(dev);
	}
	scope_set_owned(&h->facts, "volume_devices", m);
}
