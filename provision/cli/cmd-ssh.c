/*
 * cmd-ssh.c - provision ssh HOST [-- COMMAND...]
 *
 * Runs the system's ssh with the tool's key and known_hosts, so the host
 * key is checked against the pinned one and never accepted blindly.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "provision/session.h"

static int cmd_ssh(struct session *s, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"layout", required_argument, NULL, 'l'},
	    {NULL, 0, NULL, 0},
	};
	const char *want_layout = NULL, *name;
	struct host *found = NULL;
	size_t matches = 0;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "+l:", opts, NULL)) != -1) {
		if (ch != 'l') {
			pv_usage(&cmd_ssh_entry);
			return PV_EXIT_USAGE;
		}
		want_layout = optarg;
	}
	if (optind >= argc) {
		pv_usage(&cmd_ssh_entry);
		return PV_EXIT_USAGE;
	}
	name = argv[optind++];
	/* options may follow HOST too, as the usage line shows; "--" ends them */
	while ((ch = getopt_long(argc, argv, "+l:", opts, NULL)) != -1) {
		if (ch != 'l') {
			pv_usage(&cmd_ssh_entry);
			return PV_EXIT_USAGE;
		}
		want_layout = optarg;
	}
	if ((rc = session_load(s)) || (rc = session_open_state(s, false)) || (rc = session_keys(s)))
		return rc;
	for (size_t i = 0; i < s->inv->n_layouts; i++) {
		const struct inv_layout *l = &s->inv->layouts[i];
		const struct provider_ops *p = provider_find(l->provider);
		struct provider_ctx c;
		struct pv_error err = {{0}};
		struct host *hosts = NULL;
		size_t n = 0;

		if (!p || (want_layout && strcmp(want_layout, l->name)) ||
		    !state_layout(&s->st, s->env, l->name, false))
			continue;
		session_provider_ctx(s, l, &c);
		if (p->hosts(&c, &hosts, &n, &err) < 0) {
			pv_say_error("%s", err.msg);
			continue;
		}
		for (size_t k = 0; k < n; k++) {
			if (!strcmp(hosts[k].name, name)) {
				matches++;
				if (!found) {
					found = xcalloc(1, sizeof(*found));
					*found = hosts[k];
					memset(&hosts[k], 0, sizeof(hosts[k]));
				}
			}
		}
		hosts_free(hosts, n);
	}
	if (!found) {
		pv_say_error("no host '%s' in environment '%s'%s", name, s->env,
		             want_layout ? " and that layout" : "");
		return PV_EXIT_USAGE;
	}
	if (matches > 1) {
		pv_say_error("host '%s' exists in several layouts; choose one with --layout", name);
		hosts_free(found, 1);
		return PV_EXIT_USAGE;
	}

	rc = session_ssh_exec(s, found, NULL, 0, argv + optind, (size_t)(argc - optind));
	hosts_free(found, 1);
	return rc;
}

int session_ssh_exec(struct session *s, const struct host *h, char *const *opts, size_t n_opts,
                     char *const *cmd, size_t n_cmd)
{
	/* user and address come from the inventory or the state: never let one be read as an
	 * option (the inventory's types refuse them already; this holds for the state too) */
	if (h->user[0] == '-' || h->address[0] == '-' || !h->address[0]) {
		pv_say_error("host '%s' has an invalid user or address", h->name);
		return PV_EXIT_USAGE;
	}
	char *khopt = xasprintf("UserKnownHostsFile=%s", s->known_hosts);
	char *port = xasprintf("%d", h->port);
	char **av = xcalloc(28 + n_opts + n_cmd, sizeof(*av));
	size_t k = 0;
	av[k++] = "ssh";
	av[k++] = "-i";
	av[k++] = s->private_key;
	av[k++] = "-o";
	av[k++] = "IdentitiesOnly=yes";
	av[k++] = "-o";
	av[k++] = khopt;
	av[k++] = "-o";
	av[k++] = "StrictHostKeyChecking=yes";
	av[k++] = "-o";
	av[k++] = "GlobalKnownHostsFile=/dev/null";
	av[k++] = "-o";
	av[k++] = "LogLevel=ERROR";
	av[k++] = "-p";
	av[k++] = port;
	av[k++] = "-l";
	av[k++] = h->user;
	for (size_t i = 0; i < n_opts; i++)
		av[k++] = opts[i];
	/* a host that stops answering ends the session within a minute or so
	 * instead of holding it open forever (after the caller's options: the
	 * first value ssh reads wins) */
	av[k++] = "-o";
	av[k++] = "ConnectTimeout=30";
	av[k++] = "-o";
	av[k++] = "ServerAliveInterval=15";
	av[k++] = "-o";
	av[k++] = "ServerAliveCountMax=4";
	/* after '--' ssh reads no more options: the host and the command are taken as they are */
	av[k++] = "--";
	av[k++] = h->address;
	for (size_t i = 0; i < n_cmd; i++)
		av[k++] = cmd[i];
	av[k] = NULL;
	fflush(NULL);
	execvp("ssh", av);
	pv_say_error("cannot run 'ssh': %m");
	free(av);
	free(khopt);
	free(port);
	return PV_EXIT_FAIL;
}

const struct cmd_entry cmd_ssh_entry = {
    .name = "ssh",
    .usage = "ssh HOST [--layout LAYOUT] [-- COMMAND...]",
    .summary = "log in to a host (host key checked against the pinned one)",
    .help = "Options:\n"
            "  -l, --layout LAYOUT   the layout, when the host name is in several\n"
            "With --json only problems before the login are events; what runs on the\n"
            "host writes its own output.\n",
    .exec = cmd_ssh,
};
