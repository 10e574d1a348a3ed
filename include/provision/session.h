/*
 * session.h - what every command shares: the inventory, the reporter, the
 * state, the tool's login key and the role and template search paths.
 * Only the command layer (main.c, cmd-*.c, session.c) prints or exits.
 */
#ifndef PROVISION_SESSION_H
#define PROVISION_SESSION_H

#include "provision/converge.h"
#include "provision/engine.h"
#include "provision/inventory.h"
#include "provision/provider.h"
#include "provision/remote.h"
#include "provision/report.h"
#include "provision/role.h"
#include "provision/state.h"

struct session {
	const char *inventory_path;
	const char *env;
	enum report_mode mode;
	bool mode_forced;

	struct inventory *inv;
	struct reporter *rep;
	struct state st;
	bool st_open;
	char *state_dir;
	char *known_hosts;
	char *private_key;
	char *public_key;
	char *data_dir;
	struct role_set roles;
	char *template_dirs[3];
	size_t n_template_dirs;
	struct secrets secrets; /* resolved on first render */
	bool secrets_resolved;
	const char *env_b; /* a second -e: only diff compares two environments */
	/* set by up/apply: session_converge records what each host got (repro.h) */
	const struct inv_layout *record_layout;
	bool frozen; /* refuse package versions other than recorded */
	bool timings; /* up/apply --timings: the slowest resources after the summary */
	int pending; /* changes a plan found: cloud, new hosts, data to move, resources */
	/* destroy: an environment no longer in the inventory but still in the state may be
	 * removed (read with the layouts as written) */
	bool allow_recorded_env;
	bool roles_only; /* no inventory: only the role search path is set up */
	bool inv_vars_checked; /* the inventory's 'vars' names were checked */
	struct diags said; /* problems already shown: a value every layout checks shows once */
	/* each server's rendered ports (session_check_layout), for the provider */
	const struct inv_layout *ports_of;
	char ***ports;
	size_t *n_ports;
	/* and each server's 'metrics' (seq), the layout's alert rules (seq) */
	struct node **scrape;
	struct node *alerts;
	struct node **vars_nodes; /* variables the session made ('servers'), freed at release */
	size_t n_vars_nodes, vars_alloc;
};

/* A command: one file each, one table in main.c. */
struct cmd_entry {
	const char *name;
	const char *usage; /* "up LAYOUT [options]" */
	const char *summary; /* one line for the command list */
	const char *help; /* the options, one per line */
	int (*exec)(struct session *s, int argc, char **argv);
};

extern const struct cmd_entry cmd_validate_entry, cmd_plan_entry, cmd_up_entry, cmd_apply_entry,
    cmd_status_entry, cmd_destroy_entry, cmd_ssh_entry, cmd_kamal_config_entry,
    cmd_switchover_entry, cmd_backup_entry, cmd_roles_entry, cmd_ui_entry;
extern const struct cmd_entry cmd_diff_entry, cmd_share_entry, cmd_unshare_entry, cmd_audit_entry;
extern const struct cmd_entry cmd_snapshot_entry, cmd_logs_entry;

/* How to reach host h as the tool's admin (pointers into s and h). */
void session_target(const struct session *s, const struct host *h, int timeout_ms,
                    struct remote_target *t);
/*
 * The hosts of layout l, which must exist in the environment (one not
 * created is an input error, PV_EXIT_USAGE); problems are printed.  Returns
 * an exit code.
 */
int session_layout_hosts(struct session *s, const struct inv_layout *l, struct host **hosts,
                         size_t *n);

/* With --json, errors are "error" events on stdout instead (main sets it). */
void pv_errors_as_json(bool on);
/* Print "provision: <message>" to stderr (redacted). */
void pv_say_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pv_usage(const struct cmd_entry *c); /* to stderr */
void pv_help(const struct cmd_entry *c); /* to stdout */

/* Load and check the inventory structure; prints problems. Returns an exit code. */
int session_load(struct session *s);
/*
 * The role search path: the inventory's (loaded as session_load does) when
 * there is one, else only the roles that come with the tool.
 */
int session_load_roles(struct session *s);
/* Find a layout by name, printing a did-you-mean error; NULL when absent. */
const struct inv_layout *session_layout(struct session *s, const char *name);
/* The layout's first server with role monitoring (it receives the journals), or NULL. */
const struct inv_server *session_monitoring_server(const struct inv_layout *l);
/* A server of layout l by name, printing a did-you-mean error; NULL when absent. */
const struct inv_server *session_layout_server(const struct inv_layout *l, const char *name);
/* Provider and role checks for a layout: renders every server with preview facts. */
int session_check_layout(struct session *s, const struct inv_layout *l);
/* The provider's checks before any API request (its check_api); exit code. */
int session_check_api(struct session *s, const struct inv_layout *l);
/*
 * The provider's own checks of its settings and the layout's servers (its
 * validate, which includes check_api), without rendering roles; exit code.
 */
int session_check_provider(struct session *s, const struct inv_layout *l);
int session_open_state(struct session *s, bool lock);
/* The provider's API token can be read (an input error, exit 2, when not); plan and up. */
int session_provider_token(struct session *s, const struct inv_layout *l);
/* The tool's login key (made on first use, under the run lock) and its public line. */
int session_keys(struct session *s);
/* The same for commands that change nothing: false, and nothing made, when there is no key yet. */
bool session_keys_made(struct session *s);
const struct provider_ops *session_provider(struct session *s, const struct inv_layout *l);
void session_provider_ctx(struct session *s, const struct inv_layout *l, struct provider_ctx *c);
/*
 * Render plans for hosts (plans[i].host = &hosts[i]).  only_roles filters.
 * Prints problems; returns an exit code.
 */
int session_render(struct session *s, const struct inv_layout *l, struct host *hosts, size_t n,
                   char **only_roles, size_t n_only, struct host_plan **plans);
/*
 * Render one server with preview facts (no host needed), to read its
 * variables.  strict: problems are printed and an exit code returned;
 * otherwise they are ignored (hp->scope holds the variables anyway).
 * facts is filled here and borrowed by hp: release it (scope_release)
 * after plan_release(hp).
 */
int session_preview(struct session *s, const struct inv_layout *l, const struct inv_server *srv,
                    bool strict, struct scope *facts, struct host_plan *hp);
/* Converge rendered plans and print the summary; returns an exit code. */
int session_converge(struct session *s, struct host_plan *plans, size_t n, bool check, bool diff,
                     int jobs);
void session_release(struct session *s);
/*
 * Replace this process by the system's ssh to h with the tool's key and
 * known_hosts (the pinned host key): ssh options opts, then the remote
 * command cmd.  Returns an exit code only when ssh cannot be run.
 */
int session_ssh_exec(struct session *s, const struct host *h, char *const *opts, size_t n_opts,
                     char *const *cmd, size_t n_cmd);

/* Split "a,b,c" into a list (allocations). */
char **pv_split_list(const char *s, size_t *n);
void pv_free_list(char **l, size_t n);

#endif
