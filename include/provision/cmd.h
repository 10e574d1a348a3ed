/*
 * cmd.h - pieces shared by several command files.
 */
#ifndef PROVISION_CMD_H
#define PROVISION_CMD_H

#include "provision/session.h"

/* plan for one layout (used by plan and by up --check). */
int cmd_plan_layout(struct session *s, const struct inv_layout *l, char **hosts_filter,
                    size_t n_hosts_filter, char **roles, size_t n_roles);
/* Keep only the named hosts; unknown names are a usage error (exit code returned). */
int cmd_filter_hosts(const struct inv_layout *l, struct host *hosts, size_t *n, char **filter,
                     size_t n_filter);

#endif
