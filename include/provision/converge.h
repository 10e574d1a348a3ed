/*
 * converge.h - bring hosts to their plans over SSH, all hosts at once.
 *
 * Per host: one connection; one round trip to probe every resource; one
 * round trip to apply every change and run the handlers; and, only when a
 * change could lock the operator out (verify_login), a fresh login that
 * must succeed or the change is rolled back over the first connection.
 */
#ifndef PROVISION_CONVERGE_H
#define PROVISION_CONVERGE_H

#include "provision/engine.h"
#include "provision/report.h"

struct converge_opts {
	bool check; /* probe and explain only; change nothing */
	bool diff; /* show diffs of pending changes (implied by check) */
	int jobs; /* hosts at once; 0 = all */
	const char *private_key; /* the tool's login key */
	const char *known_hosts;
};

/*
 * Converge every plan (plans[i].host must be set).  results[i] receives the
 * counts of host i.  Returns 0 when every host succeeded, -1 otherwise.
 */
int converge(struct host_plan *plans, size_t n, const struct converge_opts *o, struct reporter *rep,
             struct host_result *results);

/* The command that runs a script read from stdin as root on h. */
const char *converge_shell(const struct host *h);

#endif
