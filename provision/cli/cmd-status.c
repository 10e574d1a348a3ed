/*
 * cmd-status.c - provision status [LAYOUT]
 *
 * Each host: whether it answers over SSH, the state of its systemd, and
 * the health checks its roles declare (role.yml 'health'), all in one
 * command on the host; a role's 'report' (Redis's replication, Sentinel's
 * view) prints its lines under its check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "provision/backup.h"
#include "provision/pgstatus.h"
#include "provision/remote.h"
#include "provision/session.h"
#include "provision/shquote.h"

/*
 * The "@@K idx ok|failed why" lines of a health run as {"role", "check",
 * "ok", "detail"}, with "report": the "@@R idx text" lines of a check that
 * reports facts (a replication view, say), when it printed any.
 */
static json_t *health_json(const struct host_plan *hp, const char *out)
{
	json_t *arr = json_array();
	json_t **seen = xcalloc(hp->n_health + 1, sizeof(*seen));
	json_t **lines = xcalloc(hp->n_health + 1, sizeof(*lines));
	const char *p = out;

	while (*p) {
		size_t l = strcspn(p, "\n");
		char *end;
		if (!strncmp(p, "@@R ", 4)) {
			unsigned long idx = strtoul(p + 4, &end, 10);
			if (end != p + 4 && idx < hp->n_health && *end == ' ') {
				if (!lines[idx])
					lines[idx] = json_array();
				json_array_append_new(
				    lines[idx], json_stringn(end + 1, l - (size_t)(end + 1 - p)));
			}
		} else if (!strncmp(p, "@@K ", 4)) {
			unsigned long idx = strtoul(p + 4, &end, 10);
			if (end != p + 4 && idx < hp->n_health && *end == ' ' && !seen[idx]) {
				bool ok = !strncmp(end + 1, "ok", 2);
				const char *why = ok ? "" : end + 1 + strlen("failed");
				int wl = ok ? 0 : (int)(l - (size_t)(why - p));
				while (wl > 0 && *why == ' ')
					why++, wl--;
				seen[idx] =
				    json_pack("{s:s, s:s, s:b, s:s%}", "role", hp->health[idx].role,
				              "check", hp->health[idx].title, "ok", ok, "detail",
				              why, (size_t)(wl > 0 ? wl : 0));
			}
		}
		p += l + (p[l] ? 1 : 0);
	}
	for (size_t i = 0; i < hp->n_health; i++) {
		json_t *c =
		    seen[i] ? seen[i]
		            : json_pack("{s:s, s:s, s:b, s:s}", "role", hp->health[i].role, "check",
		                        hp->health[i].title, "ok", 0, "detail", "(no answer)");
		if (lines[i])
			json_object_set_new(c, "report", lines[i]);
		json_array_append_new(arr, c);
	}
	free(lines);
	free(seen);
	return arr;
}

/* The text of a status_layout event's servers (what the provider knows). */
static void servers_text(json_t *ev, struct buf *b)
{
	json_t *v;
	size_t i;

	if (json_object_get(ev, "note"))
		buf_addf(b, "  (%s)\n", json_string_value(json_object_get(ev, "note")));
	json_array_foreach(json_object_get(ev, "servers"), i, v)
	{
		const char *kind = json_string_value(json_object_get(v, "kind"));
		const char *state = json_string_value(json_object_get(v, "state"));
		const char *addr = json_string_value(json_object_get(v, "address"));
		json_t *id = json_object_get(v, "id");

		buf_addf(b, "  %-16s ", json_string_value(json_object_get(v, "host")));
		if (!json_is_true(json_object_get(v, "created")))
			buf_addf(b, "not created");
		else if (kind && !strcmp(kind, "static"))
			buf_addf(b, "static %s", addr ? addr : "-");
		else if (id && state && !strcmp(state, "missing"))
			buf_addf(
			    b,
			    "%s %lld %s: MISSING: the cloud has no %s %lld any more ('provision "
			    "up' makes a new one)",
			    kind, (long long)json_integer_value(id), addr ? addr : "-", kind,
			    (long long)json_integer_value(id));
		else if (id)
			buf_addf(b, "%s %lld %s%s%s", kind, (long long)json_integer_value(id),
			         addr ? addr : "-", state ? ": " : "", state ? state : "");
		else
			buf_addf(b, "%-8s %s", state ? state : "-", addr ? addr : "-");
		/* a VM: how it runs (KVM or TCG) and where its serial console goes */
		if (json_object_get(v, "accel"))
			buf_addf(b, " %s console %s",
			         json_string_value(json_object_get(v, "accel")),
			         json_string_value(json_object_get(v, "console")));
		buf_addc(b, '\n');
	}
}

#define STATUS_INDENT "                     "

/* The text of a status_host event, as the plain view shows it. */
static void host_text(json_t *ev, struct buf *b)
{
	const char *name = json_string_value(json_object_get(ev, "host"));
	json_t *pg = json_object_get(ev, "postgres"), *bk = json_object_get(ev, "backups"), *v;
	size_t i;

	if (json_object_get(ev, "error")) {
		buf_addf(b, "  %-16s ssh: FAILED: %s\n", name,
		         json_string_value(json_object_get(ev, "error")));
		return;
	}
	buf_addf(b, "  %-16s ssh: ok, system: %s\n", name,
	         json_string_value(json_object_get(ev, "system")));
	if (json_object_get(ev, "health_error"))
		buf_addf(b, "    health checks: %s\n",
		         json_string_value(json_object_get(ev, "health_error")));
	json_array_foreach(json_object_get(ev, "health"), i, v)
	{
		const char *detail = json_string_value(json_object_get(v, "detail"));
		bool ok = json_is_true(json_object_get(v, "ok"));
		json_t *line;
		size_t k;
		buf_addf(b, "    %-10s %-44s %s%s%s\n",
		         json_string_value(json_object_get(v, "role")),
		         json_string_value(json_object_get(v, "check")), ok ? "ok" : "FAILED",
		         !ok && *detail ? " " : "", ok ? "" : detail);
		json_array_foreach(json_object_get(v, "report"), k, line)
		    buf_addf(b, "      %s\n", json_string_value(line));
	}
	if ((v = json_object_get(ev, "alerts"))) {
		json_t *a;
		if (json_object_get(v, "error"))
			buf_addf(b, "    alerts: FAILED: %s\n",
			         json_string_value(json_object_get(v, "error")));
		else if (!json_array_size(json_object_get(v, "firing")))
			buf_adds(b, "    alerts:    none firing\n");
		json_array_foreach(json_object_get(v, "firing"), i, a)
		    buf_addf(b, "    alert      %-20s %-24s %-9s since %s\n",
		             json_string_value(json_object_get(a, "alert")),
		             json_string_value(json_object_get(a, "instance")),
		             json_string_value(json_object_get(a, "severity")),
		             json_string_value(json_object_get(a, "since")));
	}
	if (pg && json_object_get(pg, "error"))
		buf_addf(b, "  %-16s postgres: FAILED: %s\n", name,
		         json_string_value(json_object_get(pg, "error")));
	else if (pg)
		pg_status_format(pg, STATUS_INDENT, b);
	if (bk && json_object_get(bk, "error"))
		buf_addf(b, "  %-16s backups: FAILED: %s\n", name,
		         json_string_value(json_object_get(bk, "error")));
	json_array_foreach(json_object_get(bk, "lines"), i, v)
	{
		buf_addf(b, "%s%s\n", STATUS_INDENT, json_string_value(v));
	}
}

/* Show ev: as itself with --json, as text otherwise (text(ev) builds it). */
static void show(struct session *s, json_t *ev, void (*text)(json_t *, struct buf *))
{
	struct buf b = BUF_INIT;

	if (s->mode != REPORT_JSON) {
		text(ev, &b);
		if (b.len && b.s[b.len - 1] == '\n')
			b.s[--b.len] = '\0';
	}
	report_line(s->rep, ev, "%s", b.s ? b.s : "");
	buf_release(&b);
}

/* The backup lines of backup_status, without their indent, as a JSON array. */
static json_t *lines_json(const char *text)
{
	json_t *arr = json_array();
	const char *p = text ? text : "";

	while (*p) {
		size_t l = strcspn(p, "\n");
		const char *t = p + strspn(p, " ");
		if ((size_t)(t - p) < l)
			json_array_append_new(arr, json_stringn(t, l - (size_t)(t - p)));
		p += l + (p[l] ? 1 : 0);
	}
	return arr;
}

/*
 * On a server with role monitoring: the alerts Prometheus has firing, asked
 * over the open connection (Prometheus listens on the private address only),
 * as {"firing": [{alert, instance, severity, since}]} or {"error"}; NULL on
 * other servers.
 */
static json_t *alerts_json(struct remote *r, const struct host_plan *hp)
{
	const struct node *port = scope_get(&hp->scope, "prometheus_port");
	const struct node *addr = scope_get(&hp->scope, "private_address");
	struct pv_error err = {{0}};
	struct buf cmd = BUF_INIT, o;
	json_t *doc = NULL, *alerts, *res;
	int st = -1;

	if (!port || !addr || port->kind != NODE_SCALAR || addr->kind != NODE_SCALAR)
		return NULL;
	buf_init(&o, 1 << 20);
	buf_adds(&cmd, "curl -sf -m 5 ");
	char *url = xasprintf("http://%s:%s/api/v1/alerts", addr->scalar, port->scalar);
	sh_quote_buf(&cmd, url);
	free(url);
	if (remote_exec(r, cmd.s, NULL, 0, &o, NULL, &st, &err) < 0 || st != 0 ||
	    !(doc = json_loads(o.s, 0, NULL)) ||
	    !json_is_array(alerts = json_object_get(json_object_get(doc, "data"), "alerts"))) {
		res =
		    json_sprintf("Prometheus did not answer%s%s", err.msg[0] ? ": " : "", err.msg);
		res = json_pack("{s:o}", "error", res);
		goto out;
	}
	json_t *firing = json_array();
	for (size_t i = 0; i < json_array_size(alerts); i++) {
		json_t *a = json_array_get(alerts, i), *lb = json_object_get(a, "labels");
		const char *state = json_string_value(json_object_get(a, "state"));
		const char *name = json_string_value(json_object_get(lb, "alertname"));
		const char *inst = json_string_value(json_object_get(lb, "instance"));
		const char *sev = json_string_value(json_object_get(lb, "severity"));
		const char *since = json_string_value(json_object_get(a, "activeAt"));
		if (!state || strcmp(state, "firing") || !name)
			continue;
		json_array_append_new(firing,
		                      json_pack("{s:s, s:s, s:s, s:s}", "alert", name, "instance",
		                                inst ? inst : "-", "severity", sev ? sev : "-",
		                                "since", since ? since : "?"));
	}
	res = json_pack("{s:o}", "firing", firing);
out:
	json_decref(doc);
	buf_release(&cmd);
	buf_release(&o);
	return res;
}

/* One host: SSH, systemd, health checks, PostgreSQL, backups.  False when something failed. */
static bool status_host(struct session *s, const struct inv_layout *l, struct host *h,
                        const struct host_plan *hp, bool rendered)
{
	struct remote_target t = {
	    .name = h->name,
	    .address = h->address,
	    .port = h->port,
	    .user = h->user,
	    .private_key = s->private_key,
	    .known_hosts = s->known_hosts,
	    .timeout_ms = 5000,
	};
	json_t *ev = json_pack("{s:s, s:s, s:s}", "event", "status_host", "layout", l->name, "host",
	                       h->name);
	struct pv_error err = {{0}};
	struct remote *r = NULL;
	struct buf o;
	int st = -1;
	bool ok = true;

	buf_init(&o, 4096);
	if (remote_connect(&r, &t, &err) < 0 ||
	    remote_exec(r, "systemctl is-system-running", NULL, 0, &o, NULL, &st, &err) < 0) {
		json_object_set_new(ev, "ssh", json_string("failed"));
		json_object_set_new(ev, "error", json_string(err.msg));
		ok = false;
		goto out;
	}
	json_object_set_new(ev, "ssh", json_string("ok"));
	json_object_set_new(ev, "system", json_stringn(o.s, strcspn(o.s, "\n")));
	if (!hp->host && !rendered)
		json_object_set_new(ev, "health_error",
		                    json_string("not run (the inventory did not render)"));
	if (hp->host && hp->n_health) {
		struct buf sh = BUF_INIT;
		script_health(hp, &sh);
		buf_reset(&o);
		if (remote_exec(r, converge_shell(h), sh.s, sh.len, &o, NULL, &st, &err) < 0) {
			json_object_set_new(ev, "health_error",
			                    json_sprintf("FAILED: %s", err.msg));
			ok = false;
		} else {
			json_t *hl = health_json(hp, o.s), *v;
			size_t i;
			json_array_foreach(hl, i, v) ok =
			    ok && json_is_true(json_object_get(v, "ok"));
			json_object_set_new(ev, "health", hl);
		}
		buf_release(&sh);
	}
	json_t *al = hp->host ? alerts_json(r, hp) : NULL;
	if (al) {
		ok = ok && !json_object_get(al, "error");
		json_object_set_new(ev, "alerts", al);
	}
	const struct inv_server *srv = layout_server(l, h->name);
	if (srv && pg_server_has_db(srv)) {
		json_t *pg = NULL;
		if (pg_status(r, h, &pg, &err) < 0) {
			pg = json_pack("{s:s}", "error", err.msg);
			ok = false;
		}
		json_object_set_new(ev, "postgres", pg);
	}
	if (srv && backup_server_has(srv)) {
		struct buf bk = BUF_INIT;
		bool bad = false;
		json_t *bj = json_object();
		if (backup_status(r, h, "", &bk, &bad, bj, &err) < 0) {
			json_object_set_new(bj, "error", json_string(err.msg));
			bad = true;
		}
		json_object_set_new(bj, "ok", json_boolean(!bad));
		json_object_set_new(bj, "lines", lines_json(bk.s));
		json_object_set_new(ev, "backups", bj);
		buf_release(&bk);
		ok = ok && !bad;
	}
out:
	json_object_set_new(ev, "ok", json_boolean(ok));
	show(s, ev, host_text);
	if (r)
		remote_close(r);
	buf_release(&o);
	return ok;
}

static int status_layout(struct session *s, const struct inv_layout *l)
{
	const struct provider_ops *p = session_provider(s, l);
	struct provider_ctx c;
	struct pv_error err = {{0}};
	struct host *hosts = NULL;
	struct host_plan *plans = NULL;
	size_t n = 0;
	int rc = PV_EXIT_OK;

	if (!p)
		return PV_EXIT_USAGE;
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s}", "event", "status_layout", "layout", l->name,
	                       "provider", l->provider, "environment", s->env);
	if (!state_layout(&s->st, s->env, l->name, false)) {
		json_object_set_new(ev, "created", json_false());
		report_line(s->rep, ev, "%s: not created in environment '%s'", l->name, s->env);
		return PV_EXIT_OK;
	}
	json_object_set_new(ev, "created", json_true());
	session_provider_ctx(s, l, &c);
	int pst = p->status ? p->status(&c, ev, &err) : 0;
	if (pst < 0 || p->hosts(&c, &hosts, &n, &err) < 0) {
		pv_say_error("%s", err.msg);
		json_decref(ev);
		return PV_EXIT_FAIL;
	}
	/*
	 * The health checks come from the roles, rendered like for 'up'.  An
	 * inventory that does not render (a secret's variable unset) leaves
	 * the hosts without checks; the problems are printed above.
	 */
	bool rendered = session_render(s, l, hosts, n, NULL, 0, &plans) == PV_EXIT_OK;
	if (s->mode != REPORT_JSON)
		report_line(s->rep, NULL, "%s (provider '%s', environment '%s'):", l->name,
		            l->provider, s->env);
	if (s->mode == REPORT_JSON || json_array_size(json_object_get(ev, "servers")) ||
	    json_object_get(ev, "note"))
		show(s, ev, servers_text);
	else
		json_decref(ev);
	if (pst > 0)
		rc = PV_EXIT_FAIL;
	for (size_t i = 0; i < n; i++) {
		struct host_plan none = {0};
		if (!status_host(s, l, &hosts[i], plans ? &plans[i] : &none, rendered))
			rc = PV_EXIT_FAIL;
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
    .summary = "show each host: running, SSH, health checks, firing alerts, PostgreSQL "
               "replication",
    .help = "",
    .exec = cmd_status,
};
