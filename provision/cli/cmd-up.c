/*
 * cmd-up.c - provision up LAYOUT and provision apply [LAYOUT].
 *
 * up: the provider makes what is missing, then every host converges.
 * apply: only the converge, on hosts that already exist.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/cmd.h"
#include "provision/pgmigrate.h"
#include "provision/session.h"

struct run_opts {
	bool check;
	bool diff;
	int jobs;
	bool only_cloud;
	bool frozen;
	bool timings;
	char **hosts;
	size_t n_hosts;
	char **roles;
	size_t n_roles;
};

static int parse_run_opts(const struct cmd_entry *e, int argc, char **argv, struct run_opts *o,
                          bool is_up)
{
	static const struct option opts[] = {
	    {"check", no_argument, NULL, 'c'},
	    {"diff", no_argument, NULL, 'd'},
	    {"jobs", required_argument, NULL, 'j'},
	    {"hosts", required_argument, NULL, 'H'},
	    {"roles", required_argument, NULL, 'R'},
	    {"only", required_argument, NULL, 'O'},
	    {"frozen", no_argument, NULL, 'F'},
	    {"timings", no_argument, NULL, 'T'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	char *end;

	while ((c = getopt_long(argc, argv, "j:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->check = true;
			break;
		case 'd':
			o->diff = true;
			break;
		case 'j':
			o->jobs = (int)strtol(optarg, &end, 10);
			if (*end || o->jobs < 1) {
				pv_say_error("-j needs a positive number, not '%s'", optarg);
				return PV_EXIT_USAGE;
			}
			break;
		case 'H':
			o->hosts = pv_split_list(optarg, &o->n_hosts);
			break;
		case 'R':
			o->roles = pv_split_list(optarg, &o->n_roles);
			break;
		case 'F':
			o->frozen = true;
			break;
		case 'T':
			o->timings = true;
			break;
		case 'O':
			if (!is_up || strcmp(optarg, "cloud")) {
				pv_say_error("--only takes 'cloud' (with up)");
				return PV_EXIT_USAGE;
			}
			o->only_cloud = true;
			break;
		default:
			pv_usage(e);
			return PV_EXIT_USAGE;
		}
	}
	return PV_EXIT_OK;
}

static void free_run_opts(struct run_opts *o)
{
	pv_free_list(o->hosts, o->n_hosts);
	pv_free_list(o->roles, o->n_roles);
}

static int converge_layout(struct session *s, const struct inv_layout *l, struct host *hosts,
                           size_t n, const struct run_opts *o)
{
	struct host_plan *plans = NULL;
	int rc;

	/* a run of some roles only would record a part as the whole */
	s->record_layout = o->n_roles ? NULL : l;
	s->frozen = o->frozen;
	s->timings = o->timings;
	if (o->frozen && o->n_roles) {
		pv_say_error("--frozen checks every role's packages: it cannot go with --roles");
		return PV_EXIT_USAGE;
	}
	if ((rc = session_render(s, l, hosts, n, o->roles, o->n_roles, &plans)) == PV_EXIT_OK)
		rc = session_converge(s, plans, n, o->check, o->diff || o->check, o->jobs);
	for (size_t i = 0; plans && i < n; i++)
		plan_release(&plans[i]);
	free(plans);
	return rc;
}

static int cmd_up(struct session *s, int argc, char **argv)
{
	struct run_opts o = {0};
	const struct inv_layout *l;
	const struct provider_ops *p;
	struct provider_ctx c;
	struct pv_error err = {{0}};
	struct host *hosts = NULL;
	size_t n = 0;
	int rc;

	if ((rc = parse_run_opts(&cmd_up_entry, argc, argv, &o, true)))
		goto out;
	if (optind != argc - 1) {
		pv_usage(&cmd_up_entry);
		rc = PV_EXIT_USAGE;
		goto out;
	}
	if ((rc = session_load(s)))
		goto out;
	if (!(l = session_layout(s, argv[optind]))) {
		rc = PV_EXIT_USAGE;
		goto out;
	}
	if (o.check) {
		s->timings = o.timings; /* the probes' */
		rc = cmd_plan_layout(s, l, o.hosts, o.n_hosts, o.roles, o.n_roles);
		goto out;
	}
	if ((rc = session_check_layout(s, l)) || (rc = session_provider_token(s, l)) ||
	    (rc = session_open_state(s, true)) || (rc = session_keys(s)) ||
	    (rc = pgmigrate_check(s, l)))
		goto out;
	if (!(p = session_provider(s, l))) {
		rc = PV_EXIT_USAGE;
		goto out;
	}
	session_provider_ctx(s, l, &c);
	state_set_str(c.lstate, "provider", l->provider);
	if (p->up(&c, &hosts, &n, &err) < 0) {
		pv_say_error("%s", err.msg);
		state_save(&s->st, &err);
		rc = PV_EXIT_FAIL;
		goto out;
	}
	if (state_save(&s->st, &err) < 0) {
		pv_say_error("%s", err.msg);
		rc = PV_EXIT_FAIL;
		goto out;
	}
	if (o.only_cloud) {
		report_info(s->rep, NULL,
		            "%zu host%s of layout '%s' exist; stopping before SSH (--only cloud)",
		            n, n == 1 ? "" : "s", l->name);
		goto out;
	}
	if ((rc = cmd_filter_hosts(l, hosts, &n, o.hosts, o.n_hosts)))
		goto out;
	rc = converge_layout(s, l, hosts, n, &o);
	/* the data moves only onto a converged primary */
	if (rc == PV_EXIT_OK)
		rc = pgmigrate_run(s, l, hosts, n);
out:
	hosts_free(hosts, n);
	free_run_opts(&o);
	return rc;
}

static int cmd_apply(struct session *s, int argc, char **argv)
{
	struct run_opts o = {0};
	const struct inv_layout *l = NULL;
	const struct provider_ops *p;
	struct provider_ctx c;
	struct pv_error err = {{0}};
	struct host *hosts = NULL;
	size_t n = 0;
	int rc;

	if ((rc = parse_run_opts(&cmd_apply_entry, argc, argv, &o, false)))
		goto out;
	if (optind < argc - 1) {
		pv_usage(&cmd_apply_entry);
		rc = PV_EXIT_USAGE;
		goto out;
	}
	if ((rc = session_load(s)))
		goto out;
	if (optind == argc - 1) {
		l = session_layout(s, argv[optind]);
	} else if (s->inv->n_layouts == 1) {
		l = &s->inv->layouts[0];
	} else {
		pv_say_error("apply needs a layout: the inventory has %zu", s->inv->n_layouts);
	}
	if (!l) {
		rc = PV_EXIT_USAGE;
		goto out;
	}
	if (o.check) {
		s->timings = o.timings; /* the probes' */
		rc = cmd_plan_layout(s, l, o.hosts, o.n_hosts, o.roles, o.n_roles);
		goto out;
	}
	if ((rc = session_check_layout(s, l)) || (rc = session_provider_token(s, l)) ||
	    (rc = session_open_state(s, true)) || (rc = session_keys(s)))
		goto out;
	if (!(p = session_provider(s, l))) {
		rc = PV_EXIT_USAGE;
		goto out;
	}
	session_provider_ctx(s, l, &c);
	if (p->hosts(&c, &hosts, &n, &err) < 0) {
		pv_say_error("%s", err.msg);
		rc = PV_EXIT_FAIL;
		goto out;
	}
	if (!n) {
		pv_say_error(
		    "layout '%s' has no hosts in environment '%s'; run 'provision up %s' first",
		    l->name, s->env, l->name);
		rc = PV_EXIT_FAIL;
		goto out;
	}
	if ((rc = cmd_filter_hosts(l, hosts, &n, o.hosts, o.n_hosts)))
		goto out;
	rc = converge_layout(s, l, hosts, n, &o);
out:
	hosts_free(hosts, n);
	free_run_opts(&o);
	return rc;
}

#define RUN_HELP                                                                                   \
	"  -j, --jobs N          hosts at once (default: all)\n"                                   \
	"      --check           show what would change, with diffs; change nothing\n"             \
	"      --diff            show diffs of the changes made\n"                                 \
	"      --hosts LIST      only these hosts (comma-separated)\n"                             \
	"      --roles LIST      only these roles (comma-separated)\n"                             \
	"      --frozen          refuse package versions other than the recorded ones\n"           \
	"      --timings         after the summary, the slowest resources per host and in total\n" \
	"                        (with --check: their probes; nothing is applied)\n"

const struct cmd_entry cmd_up_entry = {
    .name = "up",
    .usage = "up LAYOUT [-j N] [--check] [--diff] [--hosts LIST] [--roles LIST] [--frozen] "
             "[--timings] [--only cloud]",
    .summary = "create what the layout is missing, then converge every host",
    .help = "Options:\n" RUN_HELP
            "      --only cloud      stop once servers and networks exist, before any SSH\n",
    .exec = cmd_up,
};

const struct cmd_entry cmd_apply_entry = {
    .name = "apply",
    .usage = "apply [LAYOUT] [-j N] [--check] [--diff] [--hosts LIST] [--roles LIST] [--frozen] "
             "[--timings]",
    .summary = "converge the roles of existing hosts; creates nothing",
    .help = "Options:\n" RUN_HELP,
    .exec = cmd_apply,
};
