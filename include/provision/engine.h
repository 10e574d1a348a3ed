/*
 * engine.h - from roles and variables to the scripts a host runs.
 *
 * Pure: rendering, script assembly and output parsing.  The converge loop
 * that talks to hosts lives in converge.h.
 */
#ifndef PROVISION_ENGINE_H
#define PROVISION_ENGINE_H

#include <jansson.h>

#include "provision/host.h"
#include "provision/inventory.h"
#include "provision/resource.h"
#include "provision/role.h"

/* A handler: a named resource whose apply half runs unconditionally. */
struct handler {
	char *name;
	struct resource res;
	bool notified;
	enum res_status status; /* RES_PENDING, RES_CHANGED (ran) or RES_FAILED */
};

/* A role's health check (role.yml 'health'), rendered for one host. */
struct health_check {
	char *role;
	char *title; /* "unit docker", "http http://127.0.0.1:2019/config/ 200" */
	char *sh; /* POSIX shell: exits 0 when healthy, prints why not */
	bool report; /* 'report': every line it prints is shown; may hold a secret */
};

/*
 * A control of a role (role.yml 'audit'), rendered for one host: a check
 * run on the host, or a reason it is skipped there (skip set, sh NULL).
 */
struct audit_check {
	char *role;
	char *id; /* "SSH-LOGLEVEL" */
	char *cis; /* CIS Debian 12 control number, or NULL */
	char *title;
	char *sh; /* POSIX shell: exit 0 pass, 3 skip (prints why), else fail (prints why) */
	char *skip; /* skipped on this host without asking it: the reason */
};

/* Everything one host will be checked against. */
struct host_plan {
	const struct inv_server *server;
	struct host *host; /* borrowed; NULL when only validating */
	struct scope scope; /* the variables used for rendering */
	struct resource *res;
	size_t n_res;
	struct handler *handlers;
	size_t n_handlers;
	char **ports; /* union of the ports the host's roles declare */
	size_t n_ports;
	/* package versions the probe and the apply read (repro.h); owned */
	json_t *pkg_installed; /* name -> version */
	json_t *pkg_candidate; /* name -> what apt would install, for those not installed */
	json_t *pkg_deps; /* name -> version: what the named packages depend on, installed */
	bool deps_read; /* pkg_deps was read (the probe reads it only when it matters) */
	json_t *pkg_sim; /* with --frozen: name -> version apt would install with the missing */
	const json_t *frozen_pkgs; /* with --frozen: the recorded versions (borrowed) */
	const json_t *frozen_deps; /* the recorded dependencies, NULL without (borrowed) */
	bool frozen;
	bool record; /* the run records package versions (up, apply; not a check) */
	struct health_check *health; /* of every role of the server */
	size_t n_health;
	/* seconds after which the host itself undoes an unconfirmed change to a
	 * verify_login resource (the login guard) */
	int login_guard_s;
	/* the roles' 'metrics': seq of {job, port, path} and {job, probe}; owned */
	struct node *scrape;
	/* the roles' 'alerts', each with its role and its expr rendered with
	 * this server's variables (thresholds): seq of {role, alert, expr,
	 * for, severity, summary, runbook}; owned */
	struct node *alerts;
	char **role_names; /* every role of the server, in order */
	size_t n_role_names;
	/* a run's result goes to the file the variable converge_metrics_file names */
	bool record_run;
	/* the probe disarms a pending login guard (this run's login worked) */
	bool disarm_guard;
	struct audit_check *audit; /* of every role of the server */
	size_t n_audit;
};

/*
 * The inventory's secrets, resolved once per run: values (secret nodes;
 * an unresolvable one is an empty placeholder) and the problems met.
 */
struct secrets {
	struct scope values;
	struct diags problems;
};
void secrets_resolve(struct secrets *out, const struct inventory *inv);
void secrets_release(struct secrets *sec);

struct render_input {
	const struct inventory *inv;
	const struct inv_layout *layout;
	const struct inv_server *server;
	const char *env; /* environment name ("default") */
	const struct scope *facts; /* provider facts, may be NULL */
	const char *admin_public_key; /* "ssh-ed25519 AAAA... comment" */
	struct role_set *roles;
	const char *const *template_dirs;
	size_t n_template_dirs;
	const char *const *only_roles; /* NULL: all roles of the server */
	size_t n_only_roles;
	/* resolved once by the caller (borrowed); NULL: resolved for this render */
	const struct secrets *secrets;
	/* only the variables and the roles' 'metrics' (host_plan.scrape), no resources */
	bool metrics_only;
};

/*
 * Render one server's roles.  Variables, in rising priority: role vars,
 * inventory vars, layout vars, server vars, secrets (resolved), then the
 * tool's own: project, env, layout, server_name, admin_user,
 * admin_public_key, role_ports (list), and the provider facts.
 * Every problem goes to d; returns -1 if there was any.
 */
int plan_render(struct host_plan *hp, const struct render_input *in, struct diags *d);
void plan_release(struct host_plan *hp);

/*
 * One script running every health check of the plan:
 *   "@@K <idx> ok" | "@@K <idx> failed <reason>"
 */
void script_health(const struct host_plan *hp, struct buf *sh);

/*
 * One read-only script running every audit check of the plan that is not
 * skipped already: "@@C <idx> <exit status> <what it printed, one line>".
 */
void script_audit(const struct host_plan *hp, struct buf *sh);

/*
 * The host's run lock: an apply script holds it while it runs, also after
 * the tool that sent it is gone.
 */
#define PV_HOST_LOCK "/run/provision.lock"

/*
 * The one probe script for all resources of the plan.  Besides each
 * resource's answer it says what else holds a lock on the host:
 *   "@@W run <holders>"   a previous apply script still runs
 *   "@@W pkg <holders>"   another apt or dpkg holds the package lock
 */
void script_probe(const struct host_plan *hp, struct buf *sh);
/* The holders a probe reported for kind ("run" or "pkg"), or NULL. */
char *script_probe_busy(const char *out, size_t len, const char *kind);
/* Read probe output into each resource's status/reason/current. */
int script_parse_probe(struct host_plan *hp, const char *out, size_t len, struct pv_error *err);

/*
 * The one apply script: every resource with status RES_CHANGE in order,
 * stopping at the first failure (later ones are reported skipped), then
 * every notified handler once (also after a failure, for the resources
 * that did change).  Files go into st.
 *   "@@A <idx> changed" | "@@A <idx> failed", then "@@L <idx> <line>" output lines
 *   "@@H <handler idx> ok" | "@@H <handler idx> failed" (+ "@@L h<idx> <line>")
 */
void script_apply(const struct host_plan *hp, struct buf *sh, struct stage *st);

/*
 * The login guard: an apply that changes a verify_login resource (sshd's
 * configuration, users) arms a timer on the host before any handler restarts
 * sshd.  Unless the tool disarms it after a fresh login worked, the host puts
 * the previous files back by itself after login_guard_s seconds: a tool
 * killed between the change and its check leaves no locked-out host.  The
 * probe of a run that may change the host (hp->disarm_guard) disarms a
 * pending guard first, unless an apply script still runs there, and then
 * reads the host: it prints "@@G cancelled" when it disarmed one, "@@G
 * armed" when a guard is left pending.
 */
#define LOGIN_GUARD "/var/lib/provision/login-guard"
#define LOGIN_GUARD_UNIT "provision-login-guard"
#define LOGIN_GUARD_LOCK LOGIN_GUARD ".lock"
/*
 * Disarming takes the guard's lock, which the guard holds while it runs: a
 * guard that has begun its rollback finishes it first, and one that has
 * not yet begun never will.  With say set, the script prints "@@G
 * cancelled" when it took away a pending guard.
 */
void script_guard_disarm(struct buf *sh, bool say);

/* A script that disarms the login guard (the fresh login worked). */
void script_disarm(struct buf *sh);
int script_parse_apply(struct host_plan *hp, const char *out, size_t len, struct pv_error *err);

/* Shell that rolls back the resources that changed and have verify_login,
 * then runs their handlers again. */
void script_rollback(const struct host_plan *hp, struct buf *sh);

#endif
