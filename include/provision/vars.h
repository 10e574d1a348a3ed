/*
 * vars.h - checking the variables a server will see, whichever layer set
 * them: role defaults, inventory, layout and server 'vars' (environment
 * overrides already merged in, see environment.h), and secrets.
 *
 * Every variable is declared: by a role of the server (role.yml 'vars',
 * vartype.h), or here, for the ones provision sets itself (project,
 * server_name, the provider's facts, ...) and the ones its commands read
 * (kamal_*, share_ports).  A 'vars' block may hold free variables for
 * project roles under 'custom:'; they become variables of their own name,
 * checked as single-line strings (lists and maps of them too).
 *
 * The model layer: problems go to a struct diags, nothing prints.
 */
#ifndef PROVISION_VARS_H
#define PROVISION_VARS_H

#include "provision/inventory.h"
#include "provision/role.h"
#include "provision/scope.h"
#include "provision/vartype.h"

/* The key of a 'vars' block that holds free variables. */
#define VARS_CUSTOM "custom"

/*
 * A variable provision declares itself, or NULL.  *by_tool (may be NULL)
 * says whether provision sets it (then 'vars' cannot).
 */
const struct var_decl *vars_builtin(const char *name, bool *by_tool);
/* All of them, in a stable order; *n gets the count. */
const struct var_decl *vars_builtin_all(size_t *n);

/*
 * Check the keys of a server ("server") or of a provider's settings
 * ("local", "hetzner", ...) that have a type: address, private_address,
 * ssh_user, endpoint, subnet, ...
 */
void vars_check_keys(const struct node *map, const char *kind, struct diags *d);

/*
 * Variables declared 'layout: true' (one value for the whole layout, e.g.
 * whether its Redis speaks TLS): each server of a layout is added in turn
 * with its variables and roles; a server whose value differs from the
 * first server's that has one of those roles is a problem, at the value
 * written in the inventory (the other one, when this server's is a
 * default), naming both servers and values.
 */
struct vars_agree {
	struct vars_agree_seen *seen;
	size_t n, alloc;
};
void vars_agree_init(struct vars_agree *a);
void vars_agree_add(struct vars_agree *a, const char *layout, const char *server,
                    const struct scope *s, struct role *const *roles, size_t n_roles,
                    const char *inventory_file, struct diags *d);
void vars_agree_release(struct vars_agree *a);

/* Set the variables of one 'vars' block in s (the keys of 'custom' as variables). */
void vars_set_layer(struct scope *s, const struct node *vars);

/*
 * Check each variable the roles declare, and the command variables, as s
 * holds them (values provision made itself are not checked).  secrets: the
 * inventory's resolved secrets, for variables naming one.
 */
void vars_check_scope(const struct scope *s, struct role *const *roles, size_t n_roles,
                      const struct scope *secrets, struct diags *d);

/*
 * Every name set in the 'vars' of the inventory, of layout l and of its
 * servers must be declared by a role of a server it reaches (a server's own
 * roles for server vars; any server of the layout for layout vars; any
 * server of any layout for the inventory's) or by provision.  Unknown names
 * are reported where they are written, with the nearest declared name.
 * with_inventory: check the inventory's own 'vars' too (once per run).
 */
void vars_check_names(const struct inventory *inv, const struct inv_layout *l, struct role_set *rs,
                      bool with_inventory, struct diags *d);

#endif
