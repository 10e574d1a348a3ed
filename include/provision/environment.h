/*
 * environment.h - environments declared in the inventory ("environments:").
 *
 * An environment reuses the layouts with overrides: variables, secrets,
 * provider settings, and per layout its variables and servers (keys of a
 * server replace, its vars merge; "~" leaves a server out; a new name adds
 * one).  Without -e, commands use the environment default_environment
 * names (declared under environments); without it, "default", the layouts
 * as written.  An environment without overrides next to "default" would be
 * a second name for the same layouts with hosts of its own: refused unless
 * default_environment names it.  Everything the tool makes
 * is keyed by the environment (state, local hosts and bridges, cloud
 * labels), so two environments never touch each other's resources.
 */
#ifndef PROVISION_ENVIRONMENT_H
#define PROVISION_ENVIRONMENT_H

/* At most this many environments: each is loaded and checked on every run. */
#define ENV_MAX 100

#include "provision/buf.h"
#include "provision/node.h"

/* [a-z][a-z0-9-]*, at most 24 characters. */
bool env_name_valid(const char *e);
/* Check the structure of every environment in root (all of them, selected or not). */
void env_check(const struct node *root, struct diags *d);
/* Is env ("default" or NULL: the layouts as written) declared?  A diagnostic when not. */
int env_find(const struct node *root, const char *env, const char *path, struct diags *d);
/* The environment commands use without -e: default_environment, else "default" (borrowed). */
const char *env_default(const struct node *root);
/* A copy of root with env's overrides merged in (positions kept). */
struct node *env_merge(const struct node *root, const char *env);

#endif
