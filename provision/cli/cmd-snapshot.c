/*
 * cmd-snapshot.c - provision snapshot [create] LAYOUT [--host NAME]
 *                  provision snapshot list LAYOUT
 *
 * Server snapshots through the cloud provider's API: the provider makes
 * and lists them (provider_ops snapshot, snapshots) and keeps its setting
 * snapshot_keep; this file parses, checks and reports.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "provision/session.h"

/* One "snapshot" event per snapshot the provider touched or listed. */
static void report_snapshots(struct session *s, const struct inv_layout *l, json_t *out)
{
	size_t i;
	json_t *v;

	json_array_foreach(out, i, v)
	{
		const char *st = json_string_value(json_object_get(v, "state"));
		const char *host = json_string_value(json_object_get(v, "host"));
		const char *name = json_string_value(json_object_get(v, "name"));
		const char *created = json_string_value(json_object_get(v, "created"));
		const char *why = json_string_value(json_object_get(v, "why"));
		json_t *size = json_object_get(v, "size_gb");
		long long id = (long long)json_integer_value(json_object_get(v, "id"));
		char sz[32] = "-";
		json_t *ev = json_deep_copy(v);

		if (json_is_number(size))
			snprintf(sz, sizeof(sz), "%.1f GB", json_number_value(size));
		json_object_set_new(ev, "event", json_string("snapshot"));
		json_object_set_new(ev, "layout", json_string(l->name));
		json_object_set_new(ev, "environment", json_string(s->env));
		if (!strcmp(st, "listed"))
			report_line(s->rep, ev, "  %-40s %-12s %-26s %s", name, host, created, sz);
		else if (!strcmp(st, "made"))
			report_line(s->rep, ev, "%s: made snapshot %s (id %lld, %s)", host, name,
			            id, sz);
		else if (!strcmp(st, "deleted"))
			report_line(s->rep, ev,
			            "%s: deleted snapshot %s (id %lld, created %s): beyond "
			            "snapshot_keep",
			            host, name, id, created);
		else
			report_line(s->rep, ev,
			            "%s: not ours, kept: snapshot %s%s(id %lld, created %s): %s",
			            host, name, *name ? " " : "", id, created, why ? why : "");
	}
}

static int cmd_snapshot(struct session *s, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"host", required_argument, NULL, 'H'},
	    {NULL, 0, NULL, 0},
	};
	const struct inv_layout *l;
	const struct provider_ops *p;
	const char *host = NULL, *verb = "create";
	struct provider_ctx c;
	struct pv_error err = {{0}};
	json_t *out;
	int ch, rc;

	if (argc > 1 && (!strcmp(argv[1], "list") || !strcmp(argv[1], "create"))) {
		verb = argv[1];
		argc--;
		argv++;
	}
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'H' || !strcmp(verb, "list")) {
			if (ch == 'H')
				pv_say_error("option '--host' does not apply to 'snapshot list'");
			pv_usage(&cmd_snapshot_entry);
			return PV_EXIT_USAGE;
		}
		host = optarg;
	}
	if (optind != argc - 1) {
		pv_usage(&cmd_snapshot_entry);
		return PV_EXIT_USAGE;
	}
	if ((rc = session_load(s)))
		return rc;
	if (!(l = session_layout(s, argv[optind])) || !(p = session_provider(s, l)))
		return PV_EXIT_USAGE;
	if (!p->snapshot || !p->snapshots) {
		pv_say_error("layout '%s' runs on provider '%s', which has no snapshots: they are "
		             "made through a cloud provider's API (hetzner, digitalocean)",
		             l->name, p->name);
		return PV_EXIT_USAGE;
	}
	if (host && !layout_server(l, host)) {
		pv_say_error("'%s' is not a server of layout '%s'", host, l->name);
		return PV_EXIT_USAGE;
	}
	if ((rc = session_check_provider(s, l)) || (rc = session_provider_token(s, l)))
		return rc;
	if ((rc = session_open_state(s, false)))
		return rc;
	if (!state_layout(&s->st, s->env, l->name, false)) {
		pv_say_error("layout '%s' is not created in environment '%s'", l->name, s->env);
		return PV_EXIT_FAIL;
	}
	session_provider_ctx(s, l, &c);
	out = json_array();
	if (!strcmp(verb, "list")) {
		rc = p->snapshots(&c, out, &err);
		if (rc == 0 && s->mode != REPORT_JSON)
			report_line(s->rep, NULL, "%s: %zu snapshot%s made by provision%s", l->name,
			            json_array_size(out), json_array_size(out) == 1 ? "" : "s",
			            json_array_size(out) ? ":" : "");
	} else {
		rc = p->snapshot(&c, host, out, &err);
	}
	/* what was done is said also when something failed after it */
	report_snapshots(s, l, out);
	json_decref(out);
	if (rc < 0) {
		pv_say_error("%s", err.msg);
		return PV_EXIT_FAIL;
	}
	return PV_EXIT_OK;
}

const struct cmd_entry cmd_snapshot_entry = {
    .name = "snapshot",
    .usage = "snapshot [create] LAYOUT [--host NAME] | snapshot list LAYOUT",
    .summary = "server snapshots through the cloud provider (hetzner, digitalocean)",
    .help = "Commands:\n"
            "  [create] LAYOUT     a snapshot of each server of the layout, waited for;\n"
            "                      then, with the provider's snapshot_keep N, the tool's\n"
            "                      own snapshots of each server beyond the N newest are\n"
            "                      deleted (never one it did not make: those are named\n"
            "                      and kept)\n"
            "  list LAYOUT         the tool's snapshots of the layout: name, server,\n"
            "                      created, size\n"
            "Options:\n"
            "  --host NAME         create: only this server's snapshot\n",
    .exec = cmd_snapshot,
};
