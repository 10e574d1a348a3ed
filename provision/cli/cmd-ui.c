/*
 * cmd-ui.c - provision ui LAYOUT [prometheus|alertmanager|grafana] [--port N]
 *
 * Prometheus, Alertmanager and Grafana (monitoring_ui: grafana) listen on
 * the monitoring server's private address only: this forwards a port on
 * this machine's loopback to one of them through ssh with the pinned host key, and prints the local
 * URL.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/session.h"

/* The layout's server with role monitoring, or NULL (a message said why). */
static const struct inv_server *monitoring_server(const struct inv_layout *l)
{
	const struct inv_server *srv = session_monitoring_server(l);

	if (!srv)
		pv_say_error("layout '%s' has no server with role 'monitoring'", l->name);
	return srv;
}

static int cmd_ui(struct session *s, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"port", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	const char *what = "prometheus", *var;
	long local = 0;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "p:", opts, NULL)) != -1) {
		char *end;
		if (ch != 'p' || (local = strtol(optarg, &end, 10)) < 1 || local > 65535 || *end) {
			if (ch == 'p')
				pv_say_error("--port must be a port (1-65535), not '%s'", optarg);
			pv_usage(&cmd_ui_entry);
			return PV_EXIT_USAGE;
		}
	}
	if (optind >= argc || argc - optind > 2) {
		pv_usage(&cmd_ui_entry);
		return PV_EXIT_USAGE;
	}
	if (argc - optind == 2)
		what = argv[optind + 1];
	if (!strcmp(what, "prometheus")) {
		var = "prometheus_port";
	} else if (!strcmp(what, "alertmanager")) {
		var = "alertmanager_port";
	} else if (!strcmp(what, "grafana")) {
		var = "grafana_port";
	} else {
		pv_say_error("unknown ui '%s' (prometheus, alertmanager or grafana)", what);
		return PV_EXIT_USAGE;
	}
	if ((rc = session_load(s)) || (rc = session_open_state(s, false)) || (rc = session_keys(s)))
		return rc;
	const struct inv_layout *l = session_layout(s, argv[optind]);
	const struct inv_server *srv = l ? monitoring_server(l) : NULL;
	const struct provider_ops *p = l ? session_provider(s, l) : NULL;
	if (!srv || !p)
		return PV_EXIT_USAGE;
	if (!state_layout(&s->st, s->env, l->name, false)) {
		pv_say_error("layout '%s' is not created in environment '%s'", l->name, s->env);
		return PV_EXIT_USAGE;
	}

	/* the port as the server's variables set it ('up' has checked them) */
	struct scope facts;
	struct host_plan hp;
	session_preview(s, l, srv, false, &facts, &hp);
	const struct node *pv = scope_get(&hp.scope, var);
	const struct node *ui = scope_get(&hp.scope, "monitoring_ui");
	bool no_grafana = !strcmp(what, "grafana") &&
	                  !(ui && ui->kind == NODE_SCALAR && !strcmp(ui->scalar, "grafana"));
	char *remote_port = xstrdup(pv && pv->kind == NODE_SCALAR ? pv->scalar : "");
	plan_release(&hp);
	scope_release(&facts);
	if (no_grafana) {
		pv_say_error(
		    "server '%s' of layout '%s' has no Grafana (set monitoring_ui: grafana)",
		    srv->name, l->name);
		free(remote_port);
		return PV_EXIT_USAGE;
	}

	struct provider_ctx c;
	struct pv_error err = {{0}};
	struct host *hosts = NULL, *h = NULL;
	size_t n = 0;
	session_provider_ctx(s, l, &c);
	if (p->hosts(&c, &hosts, &n, &err) < 0) {
		pv_say_error("%s", err.msg);
		free(remote_port);
		return PV_EXIT_FAIL;
	}
	for (size_t i = 0; i < n && !h; i++)
		if (!strcmp(hosts[i].name, srv->name))
			h = &hosts[i];
	const struct node *addr = h ? scope_get(&h->facts, "private_address") : NULL;
	if (!h || !addr || addr->kind != NODE_SCALAR || !*remote_port) {
		pv_say_error("no address or port for '%s' on host '%s'", what, srv->name);
		hosts_free(hosts, n);
		free(remote_port);
		return PV_EXIT_FAIL;
	}
	if (!local)
		local = strtol(remote_port, NULL, 10);
	/* ssh -L takes "[" "]" around an IPv6 address */
	char *fwd =
	    xasprintf(strchr(addr->scalar, ':') ? "127.0.0.1:%ld:[%s]:%s" : "127.0.0.1:%ld:%s:%s",
	              local, addr->scalar, remote_port);
	char *ssh_opts[] = {"-N", "-o", "ExitOnForwardFailure=yes", "-L", fwd};
	char *url = xasprintf("http://127.0.0.1:%ld/", local);
	report_line(s->rep,
	            json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "event", "tunnel", "host",
	                      srv->name, "layout", l->name, "ui", what, "url", url, "port",
	                      (int)local),
	            "%s of layout '%s': %s (through ssh to %s; Ctrl-C ends it)", what, l->name, url,
	            srv->name);
	free(url);
	rc = session_ssh_exec(s, h, ssh_opts, sizeof(ssh_opts) / sizeof(ssh_opts[0]), NULL, 0);
	free(fwd);
	free(remote_port);
	hosts_free(hosts, n);
	return rc;
}

const struct cmd_entry cmd_ui_entry = {
    .name = "ui",
    .usage = "ui LAYOUT [prometheus|alertmanager|grafana] [--port N]",
    .summary = "open Prometheus', Alertmanager's or Grafana's web UI through an SSH tunnel",
    .help = "Options:\n"
            "  -p, --port N   the local port (default: the same as the server's)\n"
            "With --json the URL is a 'tunnel' event; once ssh holds the tunnel, its\n"
            "own problems go to stderr.\n",
    .exec = cmd_ui,
};
