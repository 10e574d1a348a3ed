/*
 * pgstatus.h - the state of a host's PostgreSQL for 'provision status':
 * whether it is a primary or a standby, and on a primary each standby's
 * state with its lag in bytes and seconds.
 */
#ifndef PROVISION_PGSTATUS_H
#define PROVISION_PGSTATUS_H

#include <jansson.h>

#include "provision/buf.h"
#include "provision/host.h"
#include "provision/inventory.h"
#include "provision/remote.h"

/* True when the server has role postgres, postgres-replica or patroni. */
bool pg_server_has_db(const struct inv_server *srv);

/*
 * One round trip over r: what PostgreSQL on h says, as a new object in
 * *out: "role" (primary, standby or down); on a primary "standbys", each
 * {"name", "state", "sync", "lag_bytes", "lag_seconds"}; on a standby
 * "receiving" {"from", "status"} and "unreplayed_bytes".  Returns -1 (err
 * set, *out NULL) when the connection failed.
 */
int pg_status(struct remote *r, const struct host *h, json_t **out, struct pv_error *err);
/* The lines 'provision status' shows for pg_status's object, each starting with indent. */
void pg_status_format(const json_t *pg, const char *indent, struct buf *out);

#endif
