/*
 * pgstatus.h - the state of a host's PostgreSQL for 'provision status':
 * whether it is a primary or a standby, and on a primary each standby's
 * state with its lag in bytes and seconds.
 */
#ifndef PROVISION_PGSTATUS_H
#define PROVISION_PGSTATUS_H

#include "provision/buf.h"
#include "provision/host.h"
#include "provision/inventory.h"
#include "provision/remote.h"

/* True when the server has role postgres, postgres-replica or patroni. */
bool pg_server_has_db(const struct inv_server *srv);

/*
 * One round trip over r: append lines describing PostgreSQL on h to out,
 * each starting with indent.  Returns -1 (err set) when the connection
 * failed; a database that does not answer is reported in out.
 */
int pg_status(struct remote *r, const struct host *h, const char *indent, struct buf *out,
              struct pv_error *err);

#endif
