/*
 * vartype.h - the types of variables, and checking a value against one.
 *
 * A role declares each variable it reads (role.yml 'vars'):
 *
 *   ssh_max_auth_tries: { type: int, min: 1, max: 10, default: 3, doc: one line }
 *   ssh_permit_root_login: { type: enum, values: [prohibit-password, "no", "yes"], ... }
 *   postgres_clients: { type: list, of: cidr, default: [], doc: ... }
 *   postgres_users:
 *     type: list
 *     of: { type: map, keys: { name: { type: name, required: true },
 *                              password: { type: secret, required: true } } }
 *
 * Types:
 *   string     one line, no control characters (multiline: true allows line breaks)
 *   int        an integer, min/max optional        bool      true/false/yes/no/on/off
 *   enum       one of 'values'                     name      [A-Za-z0-9_][A-Za-z0-9_.-]*
 *   user       a Unix user name                    port      1..65535
 *   port_proto PORT[:PORT][/tcp|/udp]              rule      a firewall rule (res-ufw.c)
 *   ipv4, ipv6, ip   an address                    cidr      ADDRESS/BITS, host bits zero
 *   host       a host name or an address           host_port HOST:PORT ([v6]:PORT)
 *   email      local@host                          url       https:// (schemes: [...])
 *   path       an absolute path, no spaces         duration  10m, 1h30m, 3600 (seconds)
 *   size       500M, 10m, 1G                       image     a Docker image reference
 *   secret     the name of a secret of the inventory; its value is checked as one
 *              line (multiline: true allows line breaks) and never shown
 *   volume     the name of one of the server's volumes (volume.h)
 *   list       items of type 'of'                  map       keys declared in 'keys'
 * Any type also accepts the words in 'values' (postgres_memory_mb: int or "auto"),
 * and the empty string when the default is empty.
 *
 * A project role may still write "name: default": the variable is then a
 * single-line string (multi-line when the default is), or a list of them.
 * The built-in roles declare every type.
 *
 * The model layer: nothing here prints.  Problems go to a struct diags at
 * the position of the value, which is where the user wrote it.
 */
#ifndef PROVISION_VARTYPE_H
#define PROVISION_VARTYPE_H

#include "provision/buf.h"
#include "provision/node.h"
#include "provision/scope.h"

struct vartype;

/* One declared variable. */
struct var_decl {
	char *name;
	struct pos pos; /* of the name in role.yml */
	struct vartype *type;
	const struct node *dflt; /* borrowed from the declaring document; NULL: none */
	char *doc;
	bool inferred; /* written "name: default": a string (or a list of strings) */
	bool per_layout; /* "layout: true": one value on every server of a layout that uses it */
};

/*
 * Read a declaration ({ type: ..., default: ..., doc: ... }); where names it
 * in messages ("variable 'x' of role 'y'").  The default is checked against
 * the type.  Returns -1 after adding problems to d.
 */
int var_decl_parse(struct var_decl *out, const char *name, const struct pos *name_pos,
                   const struct node *decl, const char *where, struct diags *d);
void var_decl_release(struct var_decl *v);

/* Read just a type ("cidr", or a mapping as above). */
int vartype_parse(struct vartype **out, const struct node *decl, const char *where,
                  struct diags *d);
void vartype_free(struct vartype *t);

/* A type whose values are single scalars (not a list or a mapping). */
bool vartype_is_scalar(const struct vartype *t);

/*
 * Whether two values of a scalar type are the same value: booleans by
 * meaning ("yes" is "true"), others as written; two absent (or null)
 * values are the same.
 */
bool vartype_same(const struct vartype *t, const struct node *a, const struct node *b);

/* One line for people: "integer from 1 to 10", "list of CIDR networks". */
void vartype_describe(const struct vartype *t, struct buf *out);

/*
 * Check value v of variable name.  secrets (may be NULL: secret names are
 * then not looked up) holds the inventory's resolved secrets by name.
 * Each problem is added at the position of the offending (sub)value,
 * naming the variable, the expected type and, where one exists, the
 * nearest valid value; a secret's value is never shown.  Returns the
 * number of problems.
 */
int vartype_check(const struct vartype *t, const struct node *v, const char *name,
                  const struct scope *secrets, struct diags *d);

/*
 * Check each key of map that types (a mapping key -> type) declares; of
 * ends the variable's name in messages ("'size' of a volume of server 'db1'").
 */
void vartype_check_keys(const struct node *map, const struct node *types, const char *of,
                        struct diags *d);

/* Check that text is a valid scalar of the named simple type ("cidr", "port", ...). */
bool vartype_text_ok(const char *type, const char *text);

/*
 * Whether t is a volume's name (type volume): which volumes a server has
 * is checked with its variables (vars_check_scope), not here.
 */
bool vartype_is_volume(const struct vartype *t);

/* Whether t is a list of firewall rules ({ type: list, of: rule }). */
bool vartype_is_rule_list(const struct vartype *t);

#endif
