/*
 * role.h - roles are data: roles/NAME/role.yml.
 *
 *   description: one line
 *   requires: [base]          # roles applied before this one on the same server
 *   after: [postgres]         # if the server also has these roles, they come first
 *                             # (not pulled in)
 *   requires_one_of: [a, b]   # the server must have at least one of these roles
 *   ports: [80/tcp, 443/tcp]  # ports this role opens; the ufw role reads them
 *   vars:                     # every variable the role reads, typed (vartype.h)
 *     name: { type: int, min: 1, max: 10, default: 3, doc: one line }
 *   resources:                # applied in order; each item has exactly one type key
 *     - package: { name: [fail2ban] }
 *       notify: [restart fail2ban]      # optional, on any resource
 *       when: container                 # optional: variable must be true ("!name": false)
 *   handlers:                 # name -> one resource, run once after changes that notify it
 *     restart fail2ban:
 *       service: { name: fail2ban, action: restart }
 *   health:                   # what 'provision status' checks on the host
 *     - unit: fail2ban                      # the systemd unit is active
 *     - http: "http://127.0.0.1:2019/config/"  # this URL answers with status
 *       status: 200                         # (default 200); curl on the host
 *       when: "proxy_flavour == caddy"      # optional, as on resources
 *   metrics:                  # what the monitoring server scrapes or probes on this server
 *     - job: node                           # Prometheus job name
 *       port: "{{ node_exporter_port }}"    # scraped at the private address (path: /metrics)
 *       when: monitoring_enabled            # optional, as on resources
 *     - job: site
 *       probe: "https://{{ host }}/"        # blackbox probes these URLs (one or more, blank
 *                                           # separated)
 *   alerts:                   # Prometheus alert rules the monitoring server loads when a
 *     - alert: HostDown       # server of the layout has this role
 *       expr: up{job="node"} == 0
 *       for: 1m                             # optional
 *       severity: critical                  # warning (default) or critical
 *       summary: "{{ $labels.instance }} is down"   # Prometheus' template, written as is
 *       runbook: what to look at first
 *   audit:                    # the controls 'provision audit' checks (read-only)
 *     - id: SSH-LOGLEVEL                    # capitals, digits, '-'; unique per server
 *       cis: "5.1.14"                       # optional: CIS Debian 12 control number
 *       title: sshd logs at VERBOSE
 *       check: "sshd -T | grep -qx 'loglevel VERBOSE'"  # exit 0 pass, 3 skip, else fail
 *       container: reason                   # optional: skipped on container hosts
 *       when: hardening_restrict_compilers  # optional: false means skipped
 *
 * Roles are searched in <inventory dir>/roles then the installed roles dir.
 */
#ifndef PROVISION_ROLE_H
#define PROVISION_ROLE_H

#include "provision/node.h"
#include "provision/vartype.h"

struct role {
	char *name;
	char *dir; /* directory holding role.yml */
	char *path; /* role.yml */
	struct node *doc;
	char *description;
	char **requires;
	size_t n_requires;
	char **after; /* ordered after these, when the server has them */
	size_t n_after;
	char **one_of; /* requires_one_of */
	size_t n_one_of;
	char **ports; /* "80/tcp" */
	size_t n_ports;
	const struct node *vars; /* the defaults (name -> value), or NULL */
	struct var_decl *decls; /* what 'vars' declares */
	size_t n_decls;
	struct node *defaults; /* owned: what vars points to */
	const struct node *resources; /* seq or NULL */
	const struct node *handlers; /* map or NULL */
	const struct node *health; /* seq or NULL: checks 'provision status' runs */
	const struct node *metrics; /* seq or NULL: scrape targets and probes */
	const struct node *alerts; /* seq or NULL: alert rules */
	const struct node *audit; /* seq or NULL: the controls 'provision audit' checks */
	const struct node
	    *checks; /* seq or NULL: conditions on the values, refused before anything runs */
};

struct role_entry; /* a loaded role, or the problems of its failed load */

struct role_set {
	char **dirs; /* search path */
	size_t n_dirs;
	struct role_entry **entries; /* loaded once, cached */
	size_t n_entries;
	size_t alloc;
};

/* "443/tcp", "53/udp", "8000:8100/tcp", "5432/tcp private", "on tailscale0 [PORT]". */
bool role_port_valid(const char *p);

void role_set_init(struct role_set *rs);
void role_set_add_dir(struct role_set *rs, const char *dir);
void role_set_release(struct role_set *rs);
/*
 * Find and load (once) role name; report problems to d.  at is where the
 * role was named (for "unknown role 'x' (did you mean 'y'?)").
 */
struct role *role_get(struct role_set *rs, const char *name, const struct pos *at, struct diags *d);
/* The declaration of variable name in role r, or NULL. */
const struct var_decl *role_decl(const struct role *r, const char *name);
/*
 * The ordered list of roles for a server: requires first (depth first),
 * then the roles of 'after' the server has, each role once; a cycle is an
 * error, and so is a role whose 'requires_one_of' the server does not meet
 * (reported where the role is named).
 */
int role_closure(struct role_set *rs, char *const *names, const struct pos *name_pos, size_t n,
                 struct role ***out, size_t *n_out, struct diags *d);

#endif
