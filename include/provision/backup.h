/*
 * backup.h - pgBackRest backups of a server with role backup, as seen by
 * 'provision status': the age of the newest good backup, the WAL archive's
 * lag and failures, and the backup timers (a failed one shows as failed).
 */
#ifndef PROVISION_BACKUP_H
#define PROVISION_BACKUP_H

#include <stdbool.h>

#include "provision/buf.h"
#include "provision/host.h"
#include "provision/inventory.h"
#include "provision/remote.h"

/* True when the server has role backup. */
bool backup_server_has(const struct inv_server *srv);

/*
 * One round trip over r: append lines about h's backups to out, each
 * starting with indent.  *bad is set when something is failing (a failed
 * timer or backup, archiving failing, no backup, the store unreachable).
 * Returns -1 (err set) only when the connection failed.
 */
int backup_status(struct remote *r, const struct host *h, const char *indent, struct buf *out,
                  bool *bad, struct pv_error *err);

/*
 * The lines of the host helper's 'status' output (text, its exit status
 * st) as backup_status appends them; pure, for tests.
 */
void backup_status_format(const char *text, int st, const char *indent, struct buf *out, bool *bad);

#endif
