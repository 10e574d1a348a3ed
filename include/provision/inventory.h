/*
 * inventory.h - the declarative inventory (inventory.yml).
 *
 *   project: shop                 # required; [a-z][a-z0-9-]*, at most 24 characters
 *   ssh:                          # how the tool logs in (all optional)
 *     user: admin                 # admin user made at first boot, managed by role base
 *     private_key: ~/.ssh/id_ed25519   # default: .provision/keys/id_ed25519, made on first use
 *     port: 22
 *   vars: { name: value, ... }    # global variables
 *   secrets:                      # name: env:VAR | file:PATH; usable as variables, never shown
 *   providers:                    # settings per provider (keys checked by the provider)
 *     local: { subnet: 10.213.7.0/24 }
 *   environments: { staging: { ... } }   # overrides per environment (environment.h)
 *   layouts:
 *     phase1:
 *       provider: local           # default: local
 *       vars: { ... }
 *       servers:
 *         app1:
 *           roles: [base, ufw]    # required, non-empty
 *           vars: { ... }
 *           type/image/location/address/host_key: provider-specific, checked by the provider
 *
 * inventory_load checks structure and types and reports every problem with
 * its position; checks that need roles or providers happen in validate.c.
 */
#ifndef PROVISION_INVENTORY_H
#define PROVISION_INVENTORY_H

#include "provision/node.h"

struct inv_server {
	char *name;
	struct pos pos;
	char **roles;
	struct pos *role_pos;
	size_t n_roles;
	const struct node *vars; /* map or NULL */
	const struct node *node; /* the whole server mapping */
};

struct inv_layout {
	char *name;
	struct pos pos;
	char *provider; /* "local" when not given */
	struct pos provider_pos;
	const struct node *vars; /* map or NULL */
	struct inv_server *servers;
	size_t n_servers;
	const struct node *node;
};

struct inventory {
	char *path; /* as given */
	char *dir; /* directory holding the inventory: roles/, templates/, .provision/ */
	struct node *root;
	char *project;
	char *ssh_user; /* default "admin" */
	char *ssh_private_key; /* NULL: the tool's own key in .provision/keys */
	int ssh_port; /* default 22 */
	int ssh_rollback_after; /* seconds; an unconfirmed sshd/user change is undone on the host */
	const struct node *vars; /* map or NULL */
	const struct node *secrets; /* map name -> "env:NAME" | "file:PATH", or NULL */
	const struct node *providers; /* map provider name -> settings map, or NULL */
	struct inv_layout *layouts;
	size_t n_layouts;
	char *env; /* the environment read ("default": the layouts as written) */
	struct node *env_root; /* the tree with its overrides merged; the structs point here */
};

/*
 * Load and check an inventory.  On structural problems every one is added
 * to d (file:line:col: message) and -1 is returned; *out is NULL then.
 * A file that cannot be read or parsed gives one diagnostic.
 */
int inventory_load(struct inventory **out, const char *path, struct diags *d);
void inventory_free(struct inventory *inv);
/*
 * The same for environment env (environment.h): its overrides merged into
 * the layouts; an environment the inventory does not declare is an error
 * with the nearest name.  NULL: the environment used without -e (its
 * default_environment, else "default"); "default": the layouts as written.
 */
int inventory_load_env(struct inventory **out, const char *path, const char *env, struct diags *d);

const struct inv_layout *inventory_layout(const struct inventory *inv, const char *name);
const struct inv_server *layout_server(const struct inv_layout *l, const char *name);
/* Does server s list role (as written, not the roles it requires)? */
bool inv_server_has_role(const struct inv_server *s, const char *role);
/* Settings map of a provider, or NULL. */
const struct node *inventory_provider(const struct inventory *inv, const char *name);

/*
 * Resolve secret name: its value (env variable or file content with one
 * trailing newline removed) as a new scalar node with secret = true, and
 * register the value for redaction (report.h).  Unknown name or an empty or
 * missing source is an error naming the reference.
 */
int inventory_secret(struct node **out, const struct inventory *inv, const char *name,
                     struct pv_error *err);

/* Resolve any "env:NAME" / "file:PATH" reference (used for provider tokens too). */
int secret_ref_resolve(char **out, const char *ref, const struct pos *p, struct pv_error *err);
/* True when s has the form of a secret reference. */
bool secret_ref_valid(const char *s);

#endif
