/*
 * provider.h - one interface for every place servers come from.
 *
 * A provider turns a layout's servers into reachable hosts (struct host),
 * records what it made in the state the moment it exists (no orphans), and
 * removes exactly what it made.  Providers never print: progress goes
 * through the reporter, failures through struct pv_error.
 */
#ifndef PROVISION_PROVIDER_H
#define PROVISION_PROVIDER_H

#include "provision/buf.h"
#include "provision/host.h"
#include "provision/inventory.h"
#include "provision/report.h"
#include "provision/role.h"
#include "provision/state.h"

struct provider_ctx {
	const struct inventory *inv;
	const struct inv_layout *layout;
	const char *env; /* "default" unless -e */
	const struct node *settings; /* providers.<name> from the inventory, or NULL */
	struct state *state; /* locked */
	json_t *lstate; /* state_layout(env, layout), created */
	struct reporter *rep;
	const char *known_hosts; /* the tool's known_hosts file (pin keys here) */
	const char *admin_user; /* user to create at first boot */
	const char *admin_public_key; /* its authorized key */
	const char *admin_private_key; /* the key's private half, to log in as admin_user */
	struct role_set *roles; /* the roles, for the ports a cloud firewall opens */
	/* each server's ports as its roles declare them, rendered with its variables
	 * (index as layout->servers); NULL when not rendered: the ports as written */
	char **const *server_ports;
	const size_t *n_server_ports;
};

struct provider_ops {
	const char *name;
	/*
	 * A cloud API's token: settings key 'token' (env:NAME or file:PATH), else
	 * this environment variable; NULL when the provider needs none.  The
	 * command layer checks it is there before asking the provider anything.
	 */
	const char *token_env;
	/* hosts() reads the inventory alone (addresses written there): no state needed */
	bool hosts_in_inventory;
	/* Check provider settings and the provider-specific keys of each server. */
	void (*validate)(const struct inventory *inv, const struct inv_layout *l,
	                 const struct node *settings, struct diags *d);
	/*
	 * What must hold before any API request, also for commands that do not
	 * validate the whole layout (destroy): the endpoint the token goes to.
	 */
	void (*check_api)(const struct node *settings, struct diags *d);
	/* Describe what up would create or change, one line each, touching nothing. */
	int (*plan)(struct provider_ctx *c, struct buf *out, struct pv_error *err);
	/* Create what is missing, start what is stopped; return all hosts of the layout. */
	int (*up)(struct provider_ctx *c, struct host **hosts, size_t *n, struct pv_error *err);
	/* The hosts as recorded, without creating anything (for apply, ssh, status). */
	int (*hosts)(struct provider_ctx *c, struct host **hosts, size_t *n, struct pv_error *err);
	/* Remove everything up made for the layout; the caller then drops its state. */
	int (*destroy)(struct provider_ctx *c, struct pv_error *err);
	/*
	 * What the provider knows of each server (optional), into the object
	 * out: "servers", an array of {"host", "created", "kind", "id",
	 * "address", "state"} ("state": running, stopped, missing or the
	 * cloud's own word; only the keys known), and "note" when the provider
	 * could not ask.  Returns 1 when a server the state records is not
	 * there (status then fails).
	 */
	int (*status)(struct provider_ctx *c, json_t *out, struct pv_error *err);
	/*
	 * Server snapshots through the provider's API (optional: NULL where
	 * the provider has none).  snapshot makes one of each server of the
	 * layout (of host alone, when given) and waits for it; then, with the
	 * setting snapshot_keep N, deletes the tool's own snapshots of that
	 * server beyond its N newest, never one the tool did not make.  Into
	 * the array out, one object per snapshot touched: {"host", "id",
	 * "name", "created", "size_gb" (number or null), "state": "made",
	 * "deleted" or "kept"}, a kept one with "why".
	 */
	int (*snapshot)(struct provider_ctx *c, const char *host, json_t *out,
	                struct pv_error *err);
	/* The tool's snapshots of the layout, oldest first, as above with "state": "listed". */
	int (*snapshots)(struct provider_ctx *c, json_t *out, struct pv_error *err);
};

const struct provider_ops *provider_find(const char *name);
/*
 * p's API token into *token (the caller wipes and frees it): the settings'
 * 'token' (env:NAME or file:PATH), else $token_env.  -1 with err saying
 * where a token comes from when there is none.
 */
int provider_token(const struct provider_ops *p, const struct node *settings, char **token,
                   struct pv_error *err);
const char *const *provider_names(size_t *n);
/*
 * For a provider without a cloud API (local, vm, static): the layout's
 * 'snapshot_keep' and each server's 'provider_backups' are errors at their
 * position, since they mean nothing there.
 */
void provider_no_cloud_keys(const struct inv_layout *l, const char *provider, struct diags *d);
/*
 * The server keys (unused, n of them) that mean nothing to provider are
 * errors at their position, naming the keys it does read (its).
 */
void provider_unused_server_keys(const struct inv_layout *l, const char *provider,
                                 const char *const *unused, size_t n, const char *its,
                                 struct diags *d);

/*
 * The path under /dev at which volume name of server s appears on it, as the
 * provider knows it (a new string), or NULL while it cannot know it yet
 * (a cloud volume not created).
 */
typedef char *provider_volume_device_fn(const struct provider_ctx *c, const struct inv_server *s,
                                        const char *name);
/* Set h's fact 'volume_devices' (volume.h): each volume of s, name -> device(). */
void provider_volume_facts(struct host *h, const struct provider_ctx *c, const struct inv_server *s,
                           provider_volume_device_fn *device);

extern const struct provider_ops provider_local;
extern const struct provider_ops provider_vm;
extern const struct provider_ops provider_static;
extern const struct provider_ops provider_hetzner;
extern const struct provider_ops provider_digitalocean;

#endif
