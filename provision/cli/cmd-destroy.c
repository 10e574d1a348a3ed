/*
 * cmd-destroy.c - provision destroy LAYOUT [--yes]
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "provision/session.h"

static bool confirm(const char *layout, const char *env, size_t n)
{
	char line[256];

	fprintf(stderr,
	        "This removes %zu host%s of layout '%s' in environment '%s' and everything on "
	        "them.\nType the layout name to confirm: ",
	        n, n == 1 ? "" : "s", layout, env);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	line[strcspn(line, "\r\n")] = '\0';
	return !strcmp(line, layout);
}

static int cmd_destroy(struct session *s, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"yes", no_argument, NULL, 'y'},
	    {NULL, 0, NULL, 0},
	};
	const struct inv_layout *l;
	const struct provider_ops *p;
	struct provider_ctx c;
	struct pv_error err = {{0}};
	struct host *hosts = NULL;
	size_t n = 0;
	bool yes = false;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "y", opts, NULL)) != -1) {
		if (ch != 'y') {
			pv_usage(&cmd_destroy_entry);
			return PV_EXIT_USAGE;
		}
		yes = true;
	}
	if (optind != argc - 1) {
		pv_usage(&cmd_destroy_entry);
		return PV_EXIT_USAGE;
	}
	s->allow_recorded_env = true; /* what an environment made can always be removed */
	if ((rc = session_load(s)))
		return rc;
	if (!(l = session_layout(s, argv[optind])) || !(p = session_provider(s, l)))
		return PV_EXIT_USAGE;
	if ((rc = session_check_api(s, l)))
		return rc;
	if ((rc = session_open_state(s, true)))
		return rc;
	if (!state_layout(&s->st, s->env, l->name, false)) {
		report_line(s->rep,
		            json_pack("{s:s, s:s, s:s, s:i}", "event", "destroyed", "layout",
		                      l->name, "environment", s->env, "hosts", 0),
		            "layout '%s' has nothing in environment '%s'", l->name, s->env);
		return PV_EXIT_OK;
	}
	session_provider_ctx(s, l, &c);
	if (p->hosts(&c, &hosts, &n, &err) < 0) {
		pv_say_error("%s", err.msg);
		return PV_EXIT_FAIL;
	}
	hosts_free(hosts, n);
	if (!yes) {
		if (!isatty(STDIN_FILENO)) {
			pv_say_error("refusing to destroy layout '%s' without confirmation; "
			             "run with --yes",
			             l->name);
			return PV_EXIT_USAGE;
		}
		if (!confirm(l->name, s->env, n)) {
			pv_say_error("not confirmed; nothing was destroyed");
			return PV_EXIT_USAGE;
		}
	}
	if (p->destroy(&c, &err) < 0) {
		pv_say_error("%s", err.msg);
		state_save(&s->st, &err);
		return PV_EXIT_FAIL;
	}
	state_remove_layout(&s->st, s->env, l->name);
	if (state_save(&s->st, &err) < 0) {
		pv_say_error("%s", err.msg);
		return PV_EXIT_FAIL;
	}
	report_line(s->rep,
	            json_pack("{s:s, s:s, s:s, s:i}", "event", "destroyed", "layout", l->name,
	                      "environment", s->env, "hosts", (int)n),
	            "destroyed layout '%s' (%zu host%s) in environment '%s'", l->name, n,
	            n == 1 ? "" : "s", s->env);
	return PV_EXIT_OK;
}

const struct cmd_entry cmd_destroy_entry = {
    .name = "destroy",
    .usage = "destroy LAYOUT [--yes]",
    .summary = "remove every host and network the layout made (asks first)",
    .help = "Options:\n"
            "  -y, --yes             do not ask (needed when stdin is not a terminal)\n",
    .exec = cmd_destroy,
};
