/*
 * cmd-switchover.c - provision switchover LAYOUT [--to SERVER]
 *
 * A planned change of the Patroni leader: asks Patroni (patronictl on one
 * of the layout's patroni servers) to hand the leader role to SERVER, or
 * to the healthiest standby, and shows the cluster afterwards.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/converge.h"
#include "provision/remote.h"
#include "provision/session.h"
#include "provision/shquote.h"

static bool has_patroni(const struct inv_layout *l, const char *name)
{
	const struct inv_server *srv = layout_server(l, name);

	for (size_t i = 0; srv && i < srv->n_roles; i++)
		if (!strcmp(srv->roles[i], "patroni"))
			return true;
	return false;
}

static bool layout_has_patroni(const struct inv_layout *l)
{
	for (size_t i = 0; i < l->n_servers; i++)
		if (has_patroni(l, l->servers[i].name))
			return true;
	return false;
}

static int cmd_switchover(struct session *s, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"to", required_argument, NULL, 't'},
	    {NULL, 0, NULL, 0},
	};
	const char *to = NULL;
	const struct inv_layout *l;
	struct pv_error err = {{0}};
	struct host *hosts = NULL;
	size_t n = 0;
	int ch, rc;
	bool tried = false;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 't') {
			pv_usage(&cmd_switchover_entry);
			return PV_EXIT_USAGE;
		}
		to = optarg;
	}
	if (optind != argc - 1) {
		pv_usage(&cmd_switchover_entry);
		return PV_EXIT_USAGE;
	}
	if ((rc = session_load(s)) || (rc = session_open_state(s, true)) || (rc = session_keys(s)))
		return rc;
	if (!(l = session_layout(s, argv[optind])))
		return PV_EXIT_USAGE;
	if (to && !has_patroni(l, to)) {
		pv_say_error("server '%s' of layout '%s' has no role patroni", to, l->name);
		return PV_EXIT_USAGE;
	}
	if (!layout_has_patroni(l)) {
		pv_say_error("layout '%s' has no server with role patroni", l->name);
		return PV_EXIT_USAGE;
	}
	if ((rc = session_layout_hosts(s, l, &hosts, &n)) != PV_EXIT_OK)
		return rc;
	rc = PV_EXIT_FAIL;
	for (size_t i = 0; i < n && rc != PV_EXIT_OK; i++) {
		struct remote_target t;
		struct remote *r = NULL;
		struct buf sh = BUF_INIT, o, e;
		int st = -1;

		if (!has_patroni(l, hosts[i].name))
			continue;
		tried = true;
		session_target(s, &hosts[i], 5000, &t);
		buf_init(&o, 1 << 20);
		buf_init(&e, 1 << 20);
		buf_adds(&sh, "out=$(patronictl -c /etc/patroni/config.yml switchover --force");
		if (to) {
			buf_adds(&sh, " --candidate ");
			sh_quote_buf(&sh, to);
		}
		/* patronictl says a refused switchover on stdout and exits 0 */
		buf_adds(
		    &sh,
		    ") || exit\n"
		    "case $out in *' failed, details: '*) printf '%s\\n' \"$out\" >&2; exit 1 ;; "
		    "esac\n"
		    "printf '%s\\n' \"$out\"\n"
		    "sleep 3 && patronictl -c /etc/patroni/config.yml list\n");
		if (remote_connect(&r, &t, &err) < 0 ||
		    remote_exec(r, converge_shell(&hosts[i]), sh.s, sh.len, &o, &e, &st, &err) <
		        0) {
			pv_say_error("%s", err.msg);
		} else {
			/* patronictl's own words: as they are, or one event with --json */
			if (o.len && o.s[o.len - 1] == '\n')
				o.s[--o.len] = '\0';
			if (o.len || s->mode == REPORT_JSON)
				report_line(s->rep,
				            json_pack("{s:s, s:s, s:b, s:s}", "event", "switchover",
				                      "host", hosts[i].name, "ok", st == 0,
				                      "output", o.s ? o.s : ""),
				            "%s", o.s ? o.s : "");
			if (st != 0) {
				pv_say_error("switchover through %s failed: %s", hosts[i].name,
				             e.s);
				rc = PV_EXIT_FAIL;
				i = n; /* Patroni answered: trying elsewhere would not help */
			} else {
				rc = PV_EXIT_OK;
			}
		}
		if (r)
			remote_close(r);
		buf_release(&sh);
		buf_release(&o);
		buf_release(&e);
	}
	if (!tried)
		pv_say_error("no host with role patroni of layout '%s' was found", l->name);
	hosts_free(hosts, n);
	return rc;
}

const struct cmd_entry cmd_switchover_entry = {
    .name = "switchover",
    .usage = "switchover LAYOUT [--to SERVER]",
    .summary = "hand the Patroni leader role to another server, as planned",
    .help = "Options:\n"
            "      --to SERVER       the new leader (default: Patroni picks the best standby;\n"
            "                        in synchronous mode it must be the synchronous standby)\n",
    .exec = cmd_switchover,
};
