/*
 * backupcheck.h - the variables of role backup that a run must not start
 * with: checked when a layout is validated, naming the file, line and
 * column of the value.
 */
#ifndef PROVISION_BACKUPCHECK_H
#define PROVISION_BACKUPCHECK_H

#include "provision/common.h"
#include "provision/engine.h"

/* Problems of hp's role backup variables (if it has role backup) go to d. */
void backup_check_plan(const struct host_plan *hp, struct diags *d);

#endif
