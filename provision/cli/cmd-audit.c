/*
 * cmd-audit.c - provision audit LAYOUT [--lynis]
 *
 * Every control the host's roles declare (role.yml 'audit'), checked on
 * the host in one read-only command: PASS, FAIL or SKIP with the reason,
 * grouped by role.  With --lynis the same command also runs Lynis
 * (installed on demand, its timer off) and its hardening index and
 * warnings are reported.  Exit 1 when any control fails.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/remote.h"
#include "provision/session.h"

enum audit_result { AUDIT_PASS, AUDIT_FAIL, AUDIT_SKIP };

static const char *const result_name[] = {"PASS", "FAIL", "SKIP"};

/* Lynis on the host: installed when missing, its daily timer off, one quick run. */
static const char lynis_script[] =
    "if ! command -v lynis >/dev/null 2>&1; then\n"
    "  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends lynis "
    ">/dev/null 2>&1 || { echo '@@Y error lynis could not be installed'; exit 0; }\n"
    "fi\n"
    "systemctl disable --now lynis.timer >/dev/null 2>&1\n"
    "mkdir -p /var/lib/provision\n"
    "lynis audit system --quick --no-colors --report-file /var/lib/provision/lynis-report.dat "
    ">/dev/null 2>&1\n"
    "sed -n -e 's/^hardening_index=/@@Y index /p' -e 's/^warning\\[\\]=/@@Y warning /p' "
    "/var/lib/provision/lynis-report.dat\n";

struct audit_line {
	enum audit_result result;
	char *reason; /* NULL when it passed */
};

static void print_json(json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT);
	printf("%s\n", text);
	free(text);
	json_decref(o);
}

/* Read "@@C idx status text" lines into lines[]; unanswered checks fail. */
static void parse_checks(const struct host_plan *hp, const char *out, struct audit_line *lines)
{
	bool *seen = xcalloc(hp->n_audit + 1, sizeof(*seen));

	for (const char *p = out; *p;) {
		size_t l = strcspn(p, "\n");
		char *end;
		if (!strncmp(p, "@@C ", 4)) {
			unsigned long idx = strtoul(p + 4, &end, 10);
			if (end != p + 4 && idx < hp->n_audit && *end == ' ' && !seen[idx]) {
				long st = strtol(end + 1, &end, 10);
				const char *text = *end == ' ' ? end + 1 : end;
				int tl = (int)(l - (size_t)(text - p));
				seen[idx] = true;
				lines[idx].result = st == 0   ? AUDIT_PASS
				                    : st == 3 ? AUDIT_SKIP
				                              : AUDIT_FAIL;
				if (st != 0)
					lines[idx].reason = tl > 0
					                        ? xasprintf("%.*s", tl, text)
					                        : xasprintf("exit status %ld", st);
			}
		}
		p += l + (p[l] ? 1 : 0);
	}
	for (size_t i = 0; i < hp->n_audit; i++) {
		if (hp->audit[i].skip) {
			lines[i].result = AUDIT_SKIP;
			lines[i].reason = xstrdup(hp->audit[i].skip);
		} else if (!seen[i]) {
			lines[i].result = AUDIT_FAIL;
			lines[i].reason = xstrdup("no answer from the host");
		}
	}
	free(seen);
}

/* The Lynis lines of the output: index and warnings. */
static void report_lynis(struct session *s, const char *host, const char *out)
{
	json_t *warnings = json_array();
	long index = -1;
	const char *error = NULL;
	int error_len = 0;

	for (const char *p = out; *p;) {
		size_t l = strcspn(p, "\n");
		if (!strncmp(p, "@@Y index ", 10))
			index = strtol(p + 10, NULL, 10);
		else if (!strncmp(p, "@@Y warning ", 12))
			json_array_append_new(warnings,
			                      json_stringn(p + 12, l - 12 > 300 ? 300 : l - 12));
		else if (!strncmp(p, "@@Y error ", 10)) {
			error = p + 10;
			error_len = (int)(l - 10);
		}
		p += l + (p[l] ? 1 : 0);
	}
	if (s->mode == REPORT_JSON) {
		json_t *o = json_pack("{s:s, s:s}", "event", "lynis", "host", host);
		if (index >= 0)
			json_object_set_new(o, "hardening_index", json_integer(index));
		if (error)
			json_object_set_new(o, "error", json_stringn(error, (size_t)error_len));
		json_object_set(o, "warnings", warnings);
		print_json(o);
	} else if (error) {
		printf("  lynis: %.*s\n", error_len, error);
	} else if (index < 0) {
		printf("  lynis: no report\n");
	} else {
		size_t i;
		json_t *w;
		printf("  lynis: hardening index %ld, %zu warning%s\n", index,
		       json_array_size(warnings), json_array_size(warnings) == 1 ? "" : "s");
		json_array_foreach(warnings, i, w)
		    printf("    warning: %s\n", json_string_value(w));
	}
	json_decref(warnings);
}

/* Print the checks of one host grouped by role; the number that failed. */
static size_t report_host(struct session *s, const struct host_plan *hp, const char *host,
                          const struct audit_line *lines)
{
	size_t n[3] = {0, 0, 0};
	const char *role = NULL;

	for (size_t i = 0; i < hp->n_audit; i++) {
		const struct audit_check *a = &hp->audit[i];
		const struct audit_line *r = &lines[i];
		n[r->result]++;
		if (s->mode == REPORT_JSON) {
			json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "event", "audit",
			                      "host", host, "role", a->role, "id", a->id, "title",
			                      a->title, "result", result_name[r->result]);
			if (a->cis)
				json_object_set_new(o, "cis", json_string(a->cis));
			if (r->reason)
				json_object_set_new(o, "reason", json_string(r->reason));
			print_json(o);
			continue;
		}
		if (!role || strcmp(role, a->role))
			printf("  %s\n", a->role);
		role = a->role;
		printf("    %-20s %-12s %-58s %s%s%s%s\n", a->id, a->cis ? a->cis : "-", a->title,
		       result_name[r->result], r->reason ? " (" : "", r->reason ? r->reason : "",
		       r->reason ? ")" : "");
	}
	if (s->mode == REPORT_JSON)
		print_json(json_pack("{s:s, s:s, s:i, s:i, s:i}", "event", "audit_host", "host",
		                     host, "pass", (int)n[AUDIT_PASS], "fail", (int)n[AUDIT_FAIL],
		                     "skip", (int)n[AUDIT_SKIP]));
	else
		printf("  %s: %zu passed, %zu failed, %zu skipped\n", host, n[AUDIT_PASS],
		       n[AUDIT_FAIL], n[AUDIT_SKIP]);
	return n[AUDIT_FAIL];
}

static int audit_layout(struct session *s, const struct inv_layout *l, bool lynis)
{
	struct pv_error err = {{0}};
	struct host *hosts = NULL;
	struct host_plan *plans = NULL;
	size_t n = 0;
	int rc;

	if ((rc = session_layout_hosts(s, l, &hosts, &n)) != PV_EXIT_OK)
		return rc;
	if (session_render(s, l, hosts, n, NULL, 0, &plans) != PV_EXIT_OK) {
		hosts_free(hosts, n);
		return PV_EXIT_FAIL;
	}
	if (s->mode != REPORT_JSON)
		printf("%s (environment '%s'):\n", l->name, s->env);
	for (size_t i = 0; i < n; i++) {
		struct remote_target t;
		const struct host_plan *hp = &plans[i];
		struct audit_line *lines = xcalloc(hp->n_audit + 1, sizeof(*lines));
		struct remote *r = NULL;
		struct buf sh = BUF_INIT, o;
		int st = -1;

		session_target(s, &hosts[i], 10000, &t);
		buf_init(&o, 65536);
		script_audit(hp, &sh);
		if (lynis)
			buf_adds(&sh, lynis_script);
		if (s->mode != REPORT_JSON)
			printf("%s:\n", hosts[i].name);
		if (remote_connect(&r, &t, &err) < 0 ||
		    remote_exec(r, converge_shell(&hosts[i]), sh.s, sh.len, &o, NULL, &st, &err) <
		        0) {
			pv_say_error("%s: %s", hosts[i].name, err.msg);
			rc = PV_EXIT_FAIL;
		} else {
			parse_checks(hp, o.s, lines);
			if (report_host(s, hp, hosts[i].name, lines) > 0)
				rc = PV_EXIT_FAIL;
			if (lynis)
				report_lynis(s, hosts[i].name, o.s);
		}
		if (r)
			remote_close(r);
		for (size_t k = 0; k < hp->n_audit; k++)
			free(lines[k].reason);
		free(lines);
		buf_release(&sh);
		buf_release(&o);
	}
	for (size_t i = 0; i < n; i++)
		plan_release(&plans[i]);
	free(plans);
	hosts_free(hosts, n);
	return rc;
}

static int cmd_audit(struct session *s, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"lynis", no_argument, NULL, 'L'},
	    {NULL, 0, NULL, 0},
	};
	bool lynis = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'L':
			lynis = true;
			break;
		default:
			pv_usage(&cmd_audit_entry);
			return PV_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		pv_usage(&cmd_audit_entry);
		return PV_EXIT_USAGE;
	}
	if ((rc = session_load(s)) || (rc = session_open_state(s, false)) || (rc = session_keys(s)))
		return rc;
	const struct inv_layout *l = session_layout(s, argv[optind]);
	return l ? audit_layout(s, l, lynis) : PV_EXIT_USAGE;
}

const struct cmd_entry cmd_audit_entry = {
    .name = "audit",
    .usage = "audit LAYOUT [--lynis]",
    .summary = "check every control the roles enforce on each host: PASS, FAIL or SKIP",
    .help = "Reads only (one command per host): each control the host's roles declare,\n"
            "grouped by role, with its CIS Debian 12 number where one applies.\n"
            "Exit status 1 when any control fails or a host does not answer.\n"
            "Options:\n"
            "      --lynis   also run Lynis on each host (installed when missing, its\n"
            "                timer off) and report its hardening index and warnings\n",
    .exec = cmd_audit,
};
