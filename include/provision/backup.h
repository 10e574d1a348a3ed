/*
 * backup.h - pgBackRest backups of a server with role backup, as seen by
 * 'provision status': the age of the newest good backup, the WAL archive's
 * lag and failures, and the backup timers (a failed one shows as failed).
 */
#ifndef PROVISION_BACKUP_H
#define PROVISION_BACKUP_H

#include <stdbool.h>

#include <jansson.h>

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
                  bool *bad, json_t *facts, struct pv_error *err);

/*
 * The lines of the host helper's 'status' output (text, its exit status
 * st) as backup_status appends them; pure, for tests.
 */
void backup_status_format(const char *text, int st, const char *indent, struct buf *out, bool *bad);
/*
 * The same, and the facts behind the lines into the object facts (when not
 * NULL), for --json: "timers" {NAME: {"service", "timer"}}, "server"
 * (standby or scratch, when it is one), "last_backup" {"label", "type",
 * "age_seconds"}, "backups" (how many the repository holds), "wal_archive"
 * {"archived", "last_segment", "age_seconds", "failures",
 * "failing_since_segment", "failing_seconds"}, "waiting_segments".
 */
void backup_status_parse(const char *text, int st, const char *indent, struct buf *out, bool *bad,
                         json_t *facts);

#endif
