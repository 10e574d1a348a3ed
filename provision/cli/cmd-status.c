/*
 * cmd-status.c - provision status [LAYOUT]
 *
 * Each host: whether it answers over SSH, the state of its systemd, and
 * the health checks its roles declare (role.yml 'health'), all in one
 * command on the host.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/backup.h"
#include "provision/pgstatus.h"
#include "provision/remote.h"
#include "provision/session.h"

/* Print the "@@K idx ok|failed why" lines of a health run; false when one failed. */
static bool print_health(const struct host_plan *hp, const char *out)
{
	bool all = true;
	bool *seen = xcalloc(hp->n_health + 1, sizeof(*seen));
	const char *p = out;

	while (*p) {
		size_t l = strcspn(p, "\n");
		char *end;
		if (!strncmp(p, "@@K ", 4)) {
			unsigned long idx = strtoul(p + 4, &end, 10);
			if (end != p + 4 && idx < hp->n_health && *end == ' ') {
				const struct health_check *h = &hp->health[idx];
				bool ok = !strncmp(end + 1, "ok", 2);
				const char *why = ok ? "" : end + 1 + strlen("failed");
				int wl = (int)(l - (size_t)(why - p));
				seen[idx] = true;
				all = all && ok;
				printf("    %-10s %-44s %s%.*s\n", h->role, h->title,
				       ok ? "ok" : "FAILED", ok ? 0 : wl, why);
			}
		}
		p += l + (p[l] ? 1 : 0);
	}
	for (size_t i = 0; i < hp->n_health; i++) {
		if (!seen[i]) {
			printf("    %-10s %-44s FAILED (no answer)\n", hp->health[i].role,
			       hp->health[i].title);
			all = false;
		}
	}
	free(seen);
	return all;
}

static int status_layout(struct session *s, const struct inv_layout *l)
{
	const struct provider_ops *p = session_provider(s, l);
	struct provider_ctx c;
	struct pv_error err = {{0}};
	struct buf out = BUF_INIT;
	struct host *hosts = NULL;
	struct host_plan *plans = NULL;
	size_t n = 0;
	int rc = PV_EXIT_OK;

	if (!p)
		return PV_EXIT_USAGE;
	if (!state_layout(&s->st, s->env, l->name, false)) {
		printf("%s: not created in environment '%s'\n", l->name, s->env);
		return PV_EXIT_OK;
	}
	session_provider_ctx(s, l, &c);
	int pst = p->status ? p->status(&c, &out, &err) : 0;
	if (pst < 0 || p->hosts(&c, &hosts, &n, &err) < 0) {
		pv_say_error("%s", err.msg);
		buf_release(&out);
		return PV_EXIT_FAIL;
	}
	/*
	 * The health checks come from the roles, rendered like for 'up'.  An
	 * inventory that does not render (a secret's variable unset) leaves
	 * the hosts without checks; the problems are printed above.
	 */
	bool rendered = session_render(s, l, hosts, n, NULL, 0, &plans) == PV_EXIT_OK;
	printf("%s (provider '%s', environment '%s'):\n", l->name, l->provider, s->env);
	fputs(out.s, stdout);
	buf_release(&out);
	if (pst > 0)
		rc = PV_EXIT_FAIL;
	for (size_t i = 0; i < n; i++) {
		struct remote_target t;
		struct remote *r = NULL;
		struct buf o;
		int st = -1;

		session_target(s, &hosts[i], 5000, &t);
		buf_init(&o, 4096);
		if (remote_connect(&r, &t, &err) < 0 ||
		    remote_exec(r, "systemctl is-system-running", NULL, 0, &o, NULL, &st, &err) <
		        0) {
			printf("  %-16s ssh: FAILED: %s\n", hosts[i].name, err.msg);
			rc = PV_EXIT_FAIL;
		} else {
			printf("  %-16s ssh: ok, system: %.*s\n", hosts[i].name,
			       (int)strcspn(o.s, "\n"), o.s);
			if (!plans[i].host && !rendered)
				printf(
				    "    health checks: not run (the inventory did not render)\n");
			if (plans[i].host && plans[i].n_health) {
				struct buf sh = BUF_INIT;
				script_health(&plans[i], &sh);
				buf_reset(&o);
				if (remote_exec(r, converge_shell(&hosts[i]), sh.s, sh.len, &o,
				                NULL, &st, &err) < 0) {
					printf("    health checks: FAILED: %s\n", err.msg);
					rc = PV_EXIT_FAIL;
				} else if (!print_health(&plans[i], o.s)) {
					rc = PV_EXIT_FAIL;
				}
				buf_release(&sh);
			}
			const struct inv_server *srv = layout_server(l, hosts[i].name);
			struct buf pg = BUF_INIT;
			if (srv && pg_server_has_db(srv)) {
				if (pg_status(r, &hosts[i], "                     ", &pg, &err) <
				    0) {
					printf("  %-16s postgres: FAILED: %s\n", hosts[i].name,
					       err.msg);
					rc = PV_EXIT_FAIL;
				}
				fputs(pg.s, stdout);
			}
			buf_release(&pg);
			struct buf bk = BUF_INIT;
			bool bad = false;
			if (srv && backup_server_has(srv)) {
				if (backup_status(r, &hosts[i], "                     ", &bk, &bad,
				                  &err) < 0) {
					printf("  %-16s backups: FAILED: %s\n", hosts[i].name,
					       err.msg);
					bad = true;
				}
				fputs(bk.s ? bk.s : "", stdout);
				if (bad)
					rc = PV_EXIT_FAIL;
			}
			buf_release(&bk);
		}
		if (r)
			remote_close(r);
		buf_release(&o);
	}
	for (size_t i = 0; plans && i < n; i++)
		plan_release(&plans[i]);
	free(plans);
	hosts_free(hosts, n);
	return rc;
}

static int cmd_status(struct session *s, int argc, char **argv)
{
	int rc;

	if (argc > 2) {
		pv_usage(&cmd_status_entry);
		return PV_EXIT_USAGE;
	}
	if ((rc = session_load(s)) || (rc = session_open_state(s, false)) || (rc = session_keys(s)))
		return rc;
	if (argc == 2) {
		const struct inv_layout *l = session_layout(s, argv[1]);
		return l ? status_layout(s, l) : PV_EXIT_USAGE;
	}
	for (size_t i = 0; i < s->inv->n_layouts; i++) {
		int r = status_layout(s, &s->inv->layouts[i]);
		if (r > rc)
			rc = r;
	}
	return rc;
}

const struct cmd_entry cmd_status_entry = {
    .name = "status",
    .usage = "status [LAYOUT]",
    .summary = "show each host: running, SSH, health checks, PostgreSQL replication",
    .help = "",
    .exec = cmd_status,
};
