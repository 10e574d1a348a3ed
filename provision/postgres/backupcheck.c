/*
 * backupcheck.c - role backup's variables checked before a run (see
 * backupcheck.h).
 */
#include <string.h>

#include "provision/backup.h"
#include "provision/backupcheck.h"
#include "provision/scope.h"

void backup_check_plan(const struct host_plan *hp, struct diags *d)
{
	const struct node *v;

	if (!hp->server || !backup_server_has(hp->server))
		return;
	v = scope_get(&hp->scope, "backup_from");
	if (!v)
		return;
	if (v->kind != NODE_SCALAR || !v->scalar ||
	    (strcmp(v->scalar, "primary") && strcmp(v->scalar, "standby"))) {
		diags_add(
		    d, &v->pos, "server '%s': backup_from must be 'primary' or 'standby', not '%s'",
		    hp->server->name, v->kind == NODE_SCALAR && v->scalar ? v->scalar : "a list");
		return;
	}
	for (size_t i = 0; i < hp->server->n_roles; i++)
		if (!strcmp(v->scalar, "standby") && !strcmp(hp->server->roles[i], "patroni"))
			diags_add(d, &v->pos,
			          "server '%s': backup_from: standby is not available on Patroni "
			          "servers; the leader backs up (backup_from: primary)",
			          hp->server->name);
}
