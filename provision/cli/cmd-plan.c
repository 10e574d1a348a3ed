/*
 * cmd-plan.c - provision plan LAYOUT: what up would do, changing nothing.
 *
 * plan is up with the world-touching halves replaced by their dry runs:
 * the provider describes what it would create, and every existing host is
 * probed (read only) and its pending changes shown as diffs.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/cmd.h"
#include "provision/pgmigrate.h"
#include "provision/session.h"

/* Keep the hosts named in filter (all when n_filter is 0); error for unknown names. */
int cmd_filter_hosts(const struct inv_layout *l, struct host *hosts, size_t *n, char **filter,
                     size_t n_filter)
{
	size_t out = 0;

	for (size_t f = 0; f < n_filter; f++) {
		if (!layout_server(l, filter[f])) {
			pv_say_error("unknown host '%s' in layout '%s'", filter[f], l->name);
			return PV_EXIT_USAGE;
		}
	}
	for (size_t i = 0; i < *n; i++) {
		bool keep = n_filter == 0;
		for (size_t f = 0; f < n_filter && !keep; f++)
			keep = !strcmp(filter[f], hosts[i].name);
		if (keep) {
			if (out != i) {
				hosts[out] = hosts[i];
				memset(&hosts[i], 0, sizeof(hosts[i]));
			}
			out++;
		} else {
			host_release(&hosts[i]);
		}
	}
	*n = out;
	return PV_EXIT_OK;
}

/* One "planned" event (--json): a change plan shows as a line; roles for a new host. */
static void planned(struct session *s, const struct inv_layout *l, const char *line,
                    const struct inv_server *srv)
{
	json_t *o = json_object();
	char action[2] = "";
	line += strspn(line, " ");
	if (*line && strchr("+~!", *line)) {
		action[0] = *line;
		line += 1 + strspn(line + 1, " ");
	}
	json_object_set_new(o, "event", json_string("planned"));
	json_object_set_new(o, "layout", json_string(l->name));
	json_object_set_new(o, "action", json_string(action));
	json_object_set_new(o, "change", json_string(line));
	if (srv) {
		json_t *roles = json_array();
		json_object_set_new(o, "host", json_string(srv->name));
		for (size_t r = 0; r < srv->n_roles; r++)
			json_array_append_new(roles, json_string(srv->roles[r]));
		json_object_set_new(o, "roles", roles);
	}
	report_event(s->rep, o);
}

int cmd_plan_layout(struct session *s, const struct inv_layout *l, char **hosts_filter,
                    size_t n_hosts_filter, char **roles, size_t n_roles)
{
	const struct provider_ops *p = session_provider(s, l);
	struct provider_ctx c;
	struct pv_error err = {{0}};
	struct buf out = BUF_INIT;
	struct host *hosts = NULL;
	struct host_plan *plans = NULL;
	size_t n = 0;
	int rc;

	if (!p)
		return PV_EXIT_USAGE;
	if ((rc = session_check_layout(s, l)) || (rc = session_provider_token(s, l)) ||
	    (rc = session_open_state(s, false)) || (rc = pgmigrate_check(s, l)))
		return rc;
	/* the operator's key, when there is one: the cloud's copy of it is compared */
	(void)session_keys_made(s);
	session_provider_ctx(s, l, &c);
	if (p->plan(&c, &out, &err) < 0) {
		pv_say_error("%s", err.msg);
		buf_release(&out);
		return PV_EXIT_FAIL;
	}
	if (p->hosts(&c, &hosts, &n, &err) < 0) {
		pv_say_error("%s", err.msg);
		buf_release(&out);
		return PV_EXIT_FAIL;
	}
	if (reporter_mode(s->rep) != REPORT_JSON) {
		printf("plan for layout '%s' (environment '%s', provider '%s'):\n", l->name, s->env,
		       l->provider);
		if (out.len)
			printf("%s", out.s);
		else
			printf("  no changes to hosts or networks\n");
		for (size_t i = 0; i < l->n_servers; i++) {
			bool exists = false;
			for (size_t k = 0; k < n && !exists; k++)
				exists = !strcmp(hosts[k].name, l->servers[i].name);
			if (exists)
				continue;
			s->pending++;
			printf("  %s: new host; roles ", l->servers[i].name);
			for (size_t r = 0; r < l->servers[i].n_roles; r++)
				printf("%s%s", r ? ", " : "", l->servers[i].roles[r]);
			printf(" will be applied in full\n");
		}
	} else {
		/* each line of the provider's plan, then each new host, as its own event */
		for (char *at = out.s, *nl; out.len && *at; at = nl + 1) {
			nl = strchr(at, '\n');
			if (!nl)
				nl = at + strlen(at) - 1;
			char *line = xstrndup(at, (size_t)(nl - at + (*nl != '\n')));
			planned(s, l, line, NULL);
			free(line);
		}
		for (size_t i = 0; i < l->n_servers; i++) {
			bool exists = false;
			for (size_t k = 0; k < n && !exists; k++)
				exists = !strcmp(hosts[k].name, l->servers[i].name);
			if (!exists) {
				s->pending++;
				planned(s, l, "+ new host; its roles will be applied in full",
				        &l->servers[i]);
			}
		}
	}
	if (out.len)
		s->pending++;
	buf_release(&out);
	/* the data a new primary takes from another layout, said before anything happens */
	if (session_keys_made(s)) {
		struct buf mig = BUF_INIT;
		if (pgmigrate_plan(s, l, hosts, n, &mig) != PV_EXIT_OK)
			rc = PV_EXIT_FAIL;
		s->pending += mig.len > 0;
		if (mig.len && reporter_mode(s->rep) != REPORT_JSON)
			printf("%s", mig.s);
		else if (mig.len)
			report_info(s->rep, NULL, "%s", mig.s);
		buf_release(&mig);
	}
	if ((rc = cmd_filter_hosts(l, hosts, &n, hosts_filter, n_hosts_filter)))
		goto done;
	if (!n)
		goto done;
	if ((rc = session_keys(s)))
		goto done;
	if ((rc = session_render(s, l, hosts, n, roles, n_roles, &plans)))
		goto done;
	rc = session_converge(s, plans, n, true, true, 0);
done:
	for (size_t i = 0; plans && i < n; i++)
		plan_release(&plans[i]);
	free(plans);
	hosts_free(hosts, n);
	return rc;
}

static int cmd_plan(struct session *s, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"hosts", required_argument, NULL, 'H'},
	    {"roles", required_argument, NULL, 'R'},
	    {"detailed-exitcode", no_argument, NULL, 'D'},
	    {NULL, 0, NULL, 0},
	};
	char **hosts = NULL, **roles = NULL;
	size_t n_hosts = 0, n_roles = 0;
	bool detailed = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'H':
			hosts = pv_split_list(optarg, &n_hosts);
			break;
		case 'R':
			roles = pv_split_list(optarg, &n_roles);
			break;
		case 'D':
			detailed = true;
			break;
		default:
			pv_usage(&cmd_plan_entry);
			rc = PV_EXIT_USAGE;
			goto out;
		}
	}
	if (optind != argc - 1) {
		pv_usage(&cmd_plan_entry);
		rc = PV_EXIT_USAGE;
		goto out;
	}
	if ((rc = session_load(s)))
		goto out;
	const struct inv_layout *l = session_layout(s, argv[optind]);
	rc = l ? cmd_plan_layout(s, l, hosts, n_hosts, roles, n_roles) : PV_EXIT_USAGE;
out:
	pv_free_list(hosts, n_hosts);
	pv_free_list(roles, n_roles);
	/* as terraform plan -detailed-exitcode: 0 nothing to do, 1 error, 2 changes pending */
	if (detailed)
		return rc != PV_EXIT_OK ? PV_EXIT_FAIL : s->pending ? 2 : PV_EXIT_OK;
	return rc;
}

const struct cmd_entry cmd_plan_entry = {
    .name = "plan",
    .usage = "plan LAYOUT [--hosts H1,H2] [--roles R1,R2] [--detailed-exitcode]",
    .summary = "show what 'up' would create and change, with diffs; changes nothing",
    .help = "Options:\n"
            "      --hosts LIST      only these hosts\n"
            "      --roles LIST      only these roles\n"
            "      --detailed-exitcode\n"
            "                        exit 0: nothing to do, 2: changes pending, 1: error\n"
            "                        (input errors too)\n",
    .exec = cmd_plan,
};
