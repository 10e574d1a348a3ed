/*
 * pgmigrate.h - moving a layout's PostgreSQL data to another layout's new
 * primary (phase 1 to phase 2) with every row kept.
 *
 * A server of the new layout declares where its data comes from:
 *
 *   db1: { roles: [base, ufw, postgres],
 *          vars: { postgres_migrate_from: phase1/app1 } }
 *
 * After 'up' has converged the layout, every database of phase1/app1
 * (except postgres and the templates) is copied to db1 once: app1 is made
 * read-only (default_transaction_read_only, client sessions ended) so no
 * commit can be missed, each database is dumped with pg_dump and restored
 * with pg_restore in one transaction into an empty database of the same
 * name and owner, and the row count of every table is compared on both
 * sides.  Only then is the copy recorded on db1
 * (/var/lib/postgresql/provision-migrated); app1 stays read-only, its data
 * is the copy's source and nothing writes to it any more.  On a failure
 * app1 is made writable again and nothing is recorded.
 *
 * This is command-layer code: it prints through the reporter.
 */
#ifndef PROVISION_PGMIGRATE_H
#define PROVISION_PGMIGRATE_H

#include "provision/host.h"
#include "provision/session.h"

/* True when the server has role postgres (a primary). */
bool pg_server_is_primary(const struct inv_server *srv);
/*
 * Check every postgres_migrate_from of l before anything is created: the
 * reference, and (while the declaring server does not exist yet) that the
 * source runs.  Needs the state open.  Prints problems; exit code.
 */
int pgmigrate_check(struct session *s, const struct inv_layout *l);
/* What up would do about the data, one line per declaring server (plan). */
int pgmigrate_plan(struct session *s, const struct inv_layout *l, const struct host *hosts,
                   size_t n, struct buf *out);
/* Copy what is not copied yet (after a successful converge); exit code. */
int pgmigrate_run(struct session *s, const struct inv_layout *l, const struct host *hosts,
                  size_t n);

#endif
