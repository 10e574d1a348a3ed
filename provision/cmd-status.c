/*
 * cmd-status.c - provision status [LAYOUT]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/backup.h"
#include "provision/pgstatus.h"
#include "provision/remote.h"
#include "provision/session.h"

static int status_layout(struct session *s, const struct inv_layout *l)
{
	const struct provider_ops *p = session_provider(s, l);
	struct provider_ctx c;
	struct pv_error err = {{0}};
	struct buf out = BUF_INIT;
	struct host *hosts = NULL;
	size_t n = 0;
	int rc = PV_EXIT_OK;

	if (!p)
		return PV_EXIT_USAGE;
	if (!state_layout(&s->st, s->env, l->name, false)) {
		printf("%s: not created in environment '%s'\n", l->name, s->env);
		return PV_EXIT_OK;
	}
	session_provider_ctx(s, l, &c);
	if ((p->status && p->status(&c, &out, &err) < 0) || p->hosts(&c, &hosts, &n, &err) < 0) {
		pv_say_error("%s", err.msg);
		buf_release(&out);
		return PV_EXIT_FAIL;
	}
	printf("%s (provider '%s', environment '%s'):\n", l->name, l->provider, s->env);
	fputs(out.s, stdout);
	buf_release(&out);
	for (size_t i = 0; i < n; i++) {
		struct remote_target t = {
		    .name = hosts[i].name,
		    .address = hosts[i].address,
		    .port = hosts[i].port,
		    .user = hosts[i].user,
		    .private_key = s->private_key,
		    .known_hosts = s->known_hosts,
		    .timeout_ms = 5000,
		};
		struct remote *r = NULL;
		struct buf o;
		int st = -1;

		buf_init(&o, 4096);
		if (remote_connect(&r, &t, &err) < 0 ||
		    remote_exec(r, "systemctl is-system-running", NULL, 0, &o, NULL, &st, &err) <
		        0) {
			printf("  %-16s ssh: FAILED: %s\n", hosts[i].name, err.msg);
			rc = PV_EXIT_FAIL;
		} else {
			printf("  %-16s ssh: ok, system: %.*s\n", hosts[i].name,
			       (int)strcspn(o.s, "\n"), o.s);
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
    .summary = "show the layout's hosts, whether each answers over SSH, and PostgreSQL replication",
    .help = "",
    .exec = cmd_status,
};
