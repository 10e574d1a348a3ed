/*
 * res-util.h - helpers shared by the resource types (private to the engine).
 *
 * Fields of a resource are rendered as templates (TPL_TEXT unless said
 * otherwise) with the host's scope; problems go to diags with the field's
 * position.  Every helper ORs the secret flag of what it rendered into
 * r->secret.
 */
#ifndef PROVISION_RES_UTIL_H
#define PROVISION_RES_UTIL_H

#include "provision/resource.h"
#include "provision/template.h"

/* The shell functions every probe and apply script starts with. */
extern const char res_shell_lib[];

/* Check n is a map with only the allowed keys; where: "file resource". */
int res_check_map(const struct node *n, const char *const *allowed, size_t n_allowed,
                  const char *where, struct diags *d);

/*
 * Render field key of map m into *out (allocated).  Absent: *out = dflt
 * (copied, may be NULL); required and absent is an error.
 */
int res_field_str(struct resource *r, const struct node *m, const char *key, bool required,
                  const char *dflt, enum tpl_mode mode, const struct scope *s, const char *where,
                  char **out, struct diags *d);
/* A boolean field; *set tells whether it was given (set may be NULL). */
int res_field_bool(struct resource *r, const struct node *m, const char *key, bool dflt,
                   const struct scope *s, const char *where, bool *out, bool *set, struct diags *d);
/*
 * A string or a list of strings; list items that render whole to a list
 * ("{{ some_list }}") are flattened.  *out is a NULL-terminated array.
 */
int res_field_list(struct resource *r, const struct node *m, const char *key, bool required,
                   const struct scope *s, const char *where, char ***out, size_t *n,
                   struct diags *d);
/* An octal mode given as a quoted string ("0644"); stored without leading zeros ("644"). */
int res_field_mode(struct resource *r, const struct node *m, const char *dflt,
                   const struct scope *s, const char *where, char **out, struct diags *d);
/* present|absent, default present; *present receives the choice. */
int res_field_state(struct resource *r, const struct node *m, const struct scope *s,
                    const char *where, bool *present, struct diags *d);

/* Position of a field for messages (of the map when absent). */
struct pos res_pos(const struct node *m, const char *key);

void strv_free(char **v, size_t n);

/* Shell helpers. */
void sh_word(struct buf *sh, const char *s); /* " " + quoted s */
/*
 * "<<'DELIM'\n" text "\nDELIM\n": text reaches a command's stdin without
 * passing through argv (where any user of the host could read it) and
 * without expansion; DELIM is chosen so that no line of text equals it.
 */
void sh_heredoc(struct buf *sh, const char *text);
/* Probe half of a managed regular file: sets "@@P" with reasons, sends the
 * current content when it differs. */
void res_probe_file(struct buf *sh, int idx, const char *path, const char *content, size_t len,
                    const char *mode, const char *owner, const char *group, bool send_current);
/* Apply half of a managed file: backup, atomic install of staged file. */
void res_apply_file(struct buf *sh, const char *stage_name, const char *path, const char *mode,
                    const char *owner, const char *group);
/* Rollback half: restore what res_apply_file saved. */
void res_rollback_file(struct buf *sh, const char *path);

/*
 * VAR="\nNAME STATUS..." of one dpkg-query for names (any "=VERSION" left
 * out): what the package probes read.
 */
void res_package_query(struct buf *sh, const char *var, char *const *names, size_t n);
/*
 * A package resource that may join the host's one apt-get install: state
 * present, and not 'early: false'.
 */
bool res_package_early(const struct resource *r);
/*
 * The commands that install names (waiting for the package locks, the
 * lists refreshed once per apply script); they run under "set -e".
 */
void res_package_install(struct buf *sh, char *const *names, size_t n);

/* Engine checks that need a type's spec. */
bool res_command_guarded(const struct resource *r);
/* A command that runs apt-get, apt or dpkg (a debconf preseed, a repository). */
bool res_command_uses_apt(const struct resource *r);
/* ... or one that sets debconf answers or writes a repository key. */
bool res_command_prepares_packages(const struct resource *r);
const char *res_line_path(const struct resource *r); /* the file a line resource edits */
const char *res_file_path(const struct resource *r); /* path a file/sysctl resource owns */
bool res_service_has_action(const struct resource *r);
/*
 * The unit a service resource names, with its running (1, 0, or -1 when not
 * said) and action (NULL when none); NULL for other resources.
 */
const char *res_service_unit(const struct resource *r, int *running, const char **action);
/* In the stage directory: service resource N started its unit. */
#define FRESH_MARK "fresh.%d"
/* A kernel parameter both sysctl resources set (NULL when none, or not both sysctl). */
const char *res_sysctl_shared_key(const struct resource *a, const struct resource *b);

extern const struct res_type res_type_package, res_type_file, res_type_directory, res_type_line,
    res_type_service, res_type_user, res_type_sysctl, res_type_ufw, res_type_command;

#endif
