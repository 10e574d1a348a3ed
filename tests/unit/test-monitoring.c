/*
 * test-monitoring.c - what role monitoring is built on: a role's 'metrics'
 * rendered per server (scrape targets and probes), its 'alerts' checked
 * at load, "PORT monitoring" opened to the layout's monitoring servers
 * only, a port that renders empty opening nothing, and the built-in roles
 * node-exporter and monitoring rendering with their real templates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "files.h"
#include "render.h"
#include "provision/buf.h"
#include "provision/common.h"
#include "provision/engine.h"
#include "provision/inventory.h"
#include "provision/resource.h"
#include "provision/role.h"
#include "provision/scope.h"

static char scratch[] = "/tmp/test-monitoring-XXXXXX";
static struct inventory *inv;
static struct role_set roles;
static struct scope facts;
static struct node *servers, *alerts, *ca_key;
static const char *template_dirs[2];

static int render(struct host_plan *hp, struct diags *d, const char *server)
{
	struct test_renderer t = {inv, "default", &roles, template_dirs, 2};

	return test_render(&t, hp, d, server, &facts, NULL, 0);
}

static void render_ok(struct host_plan *hp, const char *server)
{
	struct test_renderer t = {inv, "default", &roles, template_dirs, 2};

	test_render_ok(&t, hp, server, &facts);
}

static const char role_exp[] =
    "ports: [\"{% if exp_on %}{{ exp_port }}/tcp monitoring{% endif %}\"]\n"
    "vars:\n"
    "  exp_on: { type: bool, default: true }\n"
    "  exp_port: { type: port, default: 9100 }\n"
    "  exp_urls: { type: list, of: host, default: [] }\n"
    "metrics:\n"
    "  - { job: node, port: \"{{ exp_port }}\", when: exp_on }\n"
    "  - { job: site, probe: \"{% for u in exp_urls %}https://{{ u }}/ {% endfor %}\" }\n"
    "  - { job: app, port: 8080, path: /stats, when: \"!exp_on\" }\n"
    "resources:\n"
    "  - file: { path: /x/ports, content: '{{ role_ports | join \",\" }}' }\n";

/* The k-th rendered metric as "job port path probe". */
static char *metric(const struct host_plan *hp, size_t k)
{
	const struct node *m;

	if (!hp->scrape || k >= hp->scrape->n)
		return xstrdup("(none)");
	m = hp->scrape->items[k];
	return xasprintf("%s %s %s %s", node_get(m, "job")->scalar, node_get(m, "port")->scalar,
	                 node_get(m, "path")->scalar, node_get(m, "probe")->scalar);
}

/* The staged content of the resource titled title. */
static char *content(const struct host_plan *hp, const char *title)
{
	for (size_t i = 0; i < hp->n_res; i++) {
		struct stage st;
		char *s = NULL;
		if (strcmp(hp->res[i].title, title))
			continue;
		stage_init(&st);
		if (hp->res[i].type->stage)
			hp->res[i].type->stage(&hp->res[i], (int)i, &st);
		if (st.n == 1)
			s = xstrdup(st.files[0].data);
		stage_release(&st);
		return s;
	}
	return xstrdup("(no such resource)");
}

static struct node *server_entry(const char *name, const char *addr, const char *role,
                                 struct node *metrics)
{
	struct pos at = {pv_intern("(test)"), 0, 0};
	struct node *e = node_new_map(&at), *r = node_new_map(&at);

	node_map_set(e, "name", node_new_scalar(name, &at));
	node_map_set(e, "id", node_new_scalar(name, &at));
	node_map_set(e, "address", node_new_scalar(addr, &at));
	node_map_set(r, role, node_new_scalar("true", &at));
	node_map_set(e, "roles", r);
	node_map_set(e, "metrics", metrics ? metrics : node_new_seq(&at));
	return e;
}

static void setup(void)
{
	struct diags d;
	char *p;
	struct pos at = {pv_intern("(test)"), 0, 0};

	make_scratch(scratch);
	p = xasprintf("%s/inventory.yml", scratch);
	write_file(p, "project: montest\n"
	              "secrets: { mon_pw: \"env:HOME\" }\n"
	              "layouts:\n"
	              "  l1:\n"
	              "    servers:\n"
	              "      e1: { roles: [exp], vars: { exp_urls: [a.example, b.example] } }\n"
	              "      e2: { roles: [exp], vars: { exp_on: false } }\n"
	              "      mon: { roles: [base, ufw, monitoring] }\n"
	              "      web: { roles: [base, ufw, web] }\n"
	              "      off: { roles: [base, ufw], vars: { monitoring_enabled: false } }\n"
	              "      tight: { roles: [base, ufw], vars: { alert_disk_full_percent: 70 } }\n"
	              "      bad: { roles: [base, ufw], vars: { alert_disk_full_percent: 185 } }\n"
	              "  l2:\n"
	              "    servers:\n"
	              "      mon2:\n"
	              "        roles: [base, ufw, monitoring]\n"
	              "        vars:\n"
	              "          alertmanager_email_to: ops@example.com\n"
	              "          alertmanager_email_from: alerts@example.com\n"
	              "          alertmanager_smtp_smarthost: mail.example.com:587\n"
	              "          alertmanager_smtp_user: alerts\n"
	              "          alertmanager_smtp_password: mon_pw\n"
	              "          alertmanager_ntfy_url: https://ntfy.example/ops\n"
	              "          alertmanager_ntfy_token: mon_pw\n"
	              "  l3:\n"
	              "    vars: { a: x }\n"
	              "    servers:\n"
	              "      c1: { roles: [needb] }\n"
	              "      c2: { roles: [needb] }\n"
	              "      c3: { roles: [needb], vars: { b: y } }\n");
	diags_init(&d);
	if (inventory_load(&inv, p, &d) < 0) {
		for (size_t i = 0; i < d.n; i++)
			fprintf(stderr, "%s\n", d.msgs[i]);
		exit(2);
	}
	diags_release(&d);
	free(p);
	write_role(scratch, "exp", role_exp);
	write_role(scratch, "nojob", "metrics: [{ port: 1 }]\n");
	write_role(scratch, "badcheck",
	           "vars: { a: { type: string, default: \"\" } }\n"
	           "checks:\n"
	           "  - { when: a, var: b, error: \"a needs b\" }\n");
	write_role(scratch, "noerror", "checks: [{ when: x, var: x }]\n");
	write_role(
	    scratch, "needb",
	    "vars: { a: { type: string, default: \"\" }, b: { type: string, default: \"\" } }\n"
	    "checks:\n"
	    "  - { when: [a, \"!b\"], var: a, error: \"a needs b\" }\n");
	write_role(scratch, "badalert",
	           "alerts:\n"
	           "  - { alert: \"Host Down\", expr: up == 0, summary: s, runbook: r }\n"
	           "  - { alert: X, expr: up == 0, for: soon, severity: page, summary: s, "
	           "runbook: r }\n"
	           "  - { alert: Y, expr: up == 0, summary: s }\n");
	write_role(scratch, "alertvars",
	           "alerts:\n"
	           "  - { alert: U, expr: \"up > {{ undeclared_threshold }}\", summary: s, "
	           "runbook: r }\n");
	write_role(scratch, "alertsecret",
	           "vars:\n"
	           "  pw: { type: secret, default: mon_pw }\n"
	           "alerts:\n"
	           "  - { alert: S, expr: \"up > {{ pw | secret }}\", summary: s, runbook: r }\n");
	write_role(scratch, "badprobe", "metrics: [{ job: p, probe: \"ftp://x/\" }]\n");
	write_role(scratch, "badport", "metrics: [{ job: p, port: \"80 or 81\" }]\n");
	role_set_init(&roles);
	p = xasprintf("%s/roles", scratch);
	role_set_add_dir(&roles, p);
	free(p);
	role_set_add_dir(&roles, "roles"); /* the built-in ones */
	template_dirs[0] = "templates";
	template_dirs[1] = "templates";

	/* the layout as the session sees it: mon1 watches, web1 is watched */
	struct node *node_metrics = node_new_seq(&at), *m = node_new_map(&at);
	node_map_set(m, "job", node_new_scalar("node", &at));
	node_map_set(m, "port", node_new_scalar("9100", &at));
	node_map_set(m, "path", node_new_scalar("/metrics", &at));
	node_map_set(m, "probe", node_new_scalar("", &at));
	node_seq_append(node_metrics, m);
	servers = node_new_seq(&at);
	node_seq_append(servers, server_entry("mon1", "10.0.0.5", "monitoring", NULL));
	node_seq_append(servers, server_entry("web1", "10.0.0.6", "web", node_metrics));
	alerts = node_new_seq(&at);
	struct node *a = node_new_map(&at);
	node_map_set(a, "role", node_new_scalar("node-exporter", &at));
	node_map_set(a, "alert", node_new_scalar("HostDown", &at));
	node_map_set(a, "expr", node_new_scalar("up{job=\"node\"} == 0", &at));
	node_map_set(a, "for", node_new_scalar("1m", &at));
	node_map_set(a, "severity", node_new_scalar("critical", &at));
	node_map_set(a, "summary", node_new_scalar("{{ $labels.instance }} is down", &at));
	node_map_set(a, "runbook", node_new_scalar("look \"there\"", &at));
	node_seq_append(alerts, a);

	scope_init(&facts);
	scope_set_str(&facts, "container", "true");
	scope_set_str(&facts, "address", "10.0.0.5");
	scope_set_str(&facts, "private_address", "10.0.0.5");
	scope_set_str(&facts, "private_network", "10.0.0.0/24");
	scope_set_str(&facts, "os_id", "debian");
	scope_set(&facts, "servers", servers);
	scope_set(&facts, "monitoring_alerts", alerts);
	/* the layout's journal CA, as the session gives it (the key a secret) */
	ca_key =
	    node_new_scalar("-----BEGIN PRIVATE KEY-----\nCAKEY\n-----END PRIVATE KEY-----\n", &at);
	ca_key->secret = true;
	scope_set(&facts, "layout_ca_key", ca_key);
	scope_set_str(&facts, "layout_ca_public",
	              "-----BEGIN PUBLIC KEY-----\nCAPUB\n-----END PUBLIC KEY-----\n");
}

static void test_metrics_rendered(void)
{
	struct host_plan hp;
	char *s;

	render_ok(&hp, "e1");
	CHECK(hp.scrape && hp.scrape->n == 3);
	CHECK_STR((s = metric(&hp, 0)), "node 9100 /metrics ");
	free(s);
	/* a probe of several URLs: one entry each */
	CHECK_STR((s = metric(&hp, 1)), "site   https://a.example/");
	free(s);
	CHECK_STR((s = metric(&hp, 2)), "site   https://b.example/");
	free(s);
	/* "PORT monitoring": from each monitoring server of the layout, no one else */
	CHECK(hp.n_ports == 1 && !strcmp(hp.ports[0], "9100/tcp monitoring"));
	CHECK_STR((s = content(&hp, "file /x/ports")), "9100/tcp from 10.0.0.5");
	free(s);
	plan_release(&hp);

	/* switched off: no port, and only what 'when' leaves */
	render_ok(&hp, "e2");
	CHECK(hp.n_ports == 0);
	CHECK(hp.scrape && hp.scrape->n == 1);
	CHECK_STR((s = metric(&hp, 0)), "app 8080 /stats ");
	free(s);
	CHECK_STR((s = content(&hp, "file /x/ports")), "");
	free(s);
	plan_release(&hp);
}

static void test_bad_declarations(void)
{
	struct diags d;
	struct host_plan hp;

	diags_init(&d);
	CHECK(role_get(&roles, "nojob", NULL, &d) == NULL);
	CHECK(d.n == 1);
	CHECK_HAS(d.n ? d.msgs[0] : NULL, "item of 'metrics' in role 'nojob' needs 'job'");
	diags_release(&d);

	/* a check names a variable of its role and says what is wrong */
	diags_init(&d);
	CHECK(role_get(&roles, "badcheck", NULL, &d) == NULL);
	CHECK(d.n == 1);
	CHECK_HAS(d.n ? d.msgs[0] : NULL,
	          "roles/badcheck/role.yml:3:21: check in role 'badcheck' names variable 'b', "
	          "which the role does not declare");
	diags_release(&d);
	diags_init(&d);
	CHECK(role_get(&roles, "noerror", NULL, &d) == NULL);
	CHECK(d.n == 1);
	CHECK_HAS(d.n ? d.msgs[0] : NULL, "item of 'checks' in role 'noerror' needs 'error'");
	diags_release(&d);

	diags_init(&d);
	CHECK(role_get(&roles, "badalert", NULL, &d) == NULL);
	CHECK(d.n == 4);
	CHECK_HAS(d.n > 0 ? d.msgs[0] : NULL, "needs 'runbook'");
	CHECK_HAS(d.n > 1 ? d.msgs[1] : NULL,
	          "roles/badalert/role.yml:2:14: alert name 'Host Down' in role 'badalert' must be "
	          "letters, digits and '_'");
	CHECK_HAS(d.n > 2 ? d.msgs[2] : NULL, "'for' of alert in role 'badalert' must be a "
	                                      "duration like 5m, not 'soon'");
	CHECK_HAS(d.n > 3 ? d.msgs[3] : NULL, "must be warning or critical, not 'page'");
	diags_release(&d);

	/*
	 * a layout's value fails a check on two of its servers: one message at
	 * its line naming both; each plan fails; the third server sets b
	 */
	struct test_renderer t = {inv, "default", &roles, template_dirs, 2};
	diags_init(&d);
	CHECK(test_render_more(&t, &hp, &d, "c1", &facts, NULL, 0) < 0);
	plan_release(&hp);
	CHECK(test_render_more(&t, &hp, &d, "c2", &facts, NULL, 0) < 0);
	plan_release(&hp);
	CHECK(test_render_more(&t, &hp, &d, "c3", &facts, NULL, 0) == 0);
	plan_release(&hp);
	CHECK(d.n == 1);
	CHECK_HAS(d.n ? d.msgs[0] : NULL, "/inventory.yml:26:16: servers 'c1', 'c2': a needs b");
	diags_release(&d);

	/* rendered values are checked per server (e1's role swapped, then put back) */
	char **role0 = &inv->layouts[0].servers[0].roles[0], *orig = *role0;
	*role0 = "badprobe";
	CHECK(render(&hp, &d, "e1") < 0);
	CHECK_HAS(d.n ? d.msgs[0] : NULL,
	          "probe of role 'badprobe' must be http:// or https:// URLs, not 'ftp://x/'");
	diags_release(&d);
	plan_release(&hp);
	*role0 = "badport";
	CHECK(render(&hp, &d, "e1") < 0);
	CHECK_HAS(d.n ? d.msgs[0] : NULL,
	          "metrics 'p' of role 'badport' need a port, not '80 or 81'");
	diags_release(&d);
	plan_release(&hp);
	*role0 = orig;
}

static void test_builtin_roles(void)
{
	struct host_plan hp;
	char *s;

	/* every server gets the node exporter through base, open to mon1 only */
	render_ok(&hp, "web");
	bool found = false;
	for (size_t i = 0; i < hp.n_res; i++)
		found = found || !strcmp(hp.res[i].title, "package prometheus-node-exporter, dbus");
	CHECK(found);
	CHECK_HAS((s = content(&hp, "file /etc/default/prometheus-node-exporter")),
	          "--web.listen-address=10.0.0.5:9100 ");
	free(s);
	CHECK(hp.scrape && hp.scrape->n == 2); /* node, and the web probe */
	plan_release(&hp);

	render_ok(&hp, "off");
	for (size_t i = 0; i < hp.n_res; i++)
		CHECK(!strstr(hp.res[i].title, "node-exporter"));
	CHECK(hp.scrape && hp.scrape->n == 0);
	plan_release(&hp);

	/* the monitoring server: a job per server and exporter, the roles' rules */
	render_ok(&hp, "mon");
	s = content(&hp, "file /etc/prometheus/prometheus.yml");
	CHECK_HAS(s, "  - job_name: \"node web1\"\n");
	CHECK_HAS(s, "      - targets: [\"10.0.0.6:9100\"]\n");
	CHECK_HAS(s, "        replacement: \"node\"\n");
	CHECK_HAS(s, "scrape_interval: 15s\n");
	free(s);
	s = content(&hp, "file /etc/prometheus/rules/provision.rules.yml");
	CHECK_HAS(s, "      - alert: \"HostDown\"\n        expr: \"up{job=\\\"node\\\"} == 0\"\n");
	CHECK_HAS(s, "runbook: \"look \\\"there\\\"\"");
	free(s);
	s = content(&hp, "file /etc/prometheus/alertmanager.yml");
	CHECK_HAS(s, "receiver: nowhere\n");
	CHECK(s && !strstr(s, "- receiver:"));
	free(s);
	s = content(&hp, "file /etc/default/prometheus-alertmanager");
	CHECK_HAS(s, "--cluster.listen-address=\"");
	free(s);
	/* nothing of the monitoring stack is opened in the firewall */
	for (size_t i = 0; i < hp.n_ports; i++)
		CHECK(!strstr(hp.ports[i], "9090") && !strstr(hp.ports[i], "9093"));
	plan_release(&hp);
}

/* Every receiver the inventory sets gets every alert: e-mail, ntfy. */
static void test_receivers(void)
{
	struct host_plan hp;
	char *s;

	render_ok(&hp, "mon2");
	s = content(&hp, "file /etc/prometheus/alertmanager.yml");
	CHECK_HAS(s, "  routes:\n    - receiver: email\n      continue: true\n"
	             "    - receiver: ntfy\n      continue: true\nreceivers:\n");
	CHECK_HAS(s, "      - to: \"ops@example.com\"\n        from: \"alerts@example.com\"\n"
	             "        smarthost: \"mail.example.com:587\"\n        require_tls: true\n"
	             "        send_resolved: true\n        auth_username: \"alerts\"\n");
	CHECK_HAS(s, "      - url: \"https://ntfy.example/ops?tpl=yes&t=");
	CHECK_HAS(s, "          authorization:\n            type: Bearer\n");
	CHECK(s && !strstr(s, "name: webhook"));
	free(s);
	plan_release(&hp);
}

/* The expr of the server's rendered alert rule named name, or "(none)". */
static char *alert_expr(const struct host_plan *hp, const char *name)
{
	for (size_t i = 0; hp->alerts && i < hp->alerts->n; i++)
		if (!strcmp(node_get(hp->alerts->items[i], "alert")->scalar, name))
			return xstrdup(node_get(hp->alerts->items[i], "expr")->scalar);
	return xstrdup("(none)");
}

/* Alert thresholds are typed variables of the roles, rendered into the rules. */
static void test_alert_thresholds(void)
{
	struct host_plan hp;
	struct diags d;
	char *s;

	render_ok(&hp, "web");
	CHECK_HAS((s = alert_expr(&hp, "DiskFull")), "ramfs\"}) > 85 / 100");
	free(s);
	CHECK_HAS((s = alert_expr(&hp, "ClockSkew")), "abs(node_timex_offset_seconds) > 50 / 1000");
	free(s);
	/* HostDown: only targets the role monitoring writes (they have a server label) */
	CHECK_STR((s = alert_expr(&hp, "HostDown")), "up{job=\"node\", server!=\"\"} == 0");
	free(s);
	/* the summary is Prometheus' template, left as written */
	bool kept = false;
	for (size_t i = 0; hp.alerts && i < hp.alerts->n; i++)
		kept = kept || strstr(node_get(hp.alerts->items[i], "summary")->scalar,
		                      "{{ $value | humanizePercentage }}");
	CHECK(kept);
	plan_release(&hp);

	render_ok(&hp, "tight");
	CHECK_HAS((s = alert_expr(&hp, "DiskFull")), "ramfs\"}) > 70 / 100");
	free(s);
	plan_release(&hp);

	/* out of range: refused where it was set, nothing rendered */
	diags_init(&d);
	CHECK(render(&hp, &d, "bad") < 0);
	CHECK_HAS(
	    d.n ? d.msgs[0] : NULL,
	    "inventory.yml:12:67: variable 'alert_disk_full_percent' must be an integer from 1 "
	    "to 100, not '185'");
	diags_release(&d);
	plan_release(&hp);

	/* a role's expr may read only what it declares, and no secret */
	char **role0 = &inv->layouts[0].servers[0].roles[0], *orig = *role0;
	*role0 = "alertvars";
	diags_init(&d);
	CHECK(render(&hp, &d, "e1") < 0);
	CHECK_HAS(d.n ? d.msgs[0] : NULL, "undeclared_threshold");
	diags_release(&d);
	plan_release(&hp);
	*role0 = "alertsecret";
	diags_init(&d);
	CHECK(render(&hp, &d, "e1") < 0);
	CHECK_HAS(d.n ? d.msgs[0] : NULL,
	          "expr of alert 'S' of role 'alertsecret' must hold no secret");
	diags_release(&d);
	plan_release(&hp);
	*role0 = orig;
}

/* The plan's first resource whose title starts with prefix, or NULL. */
static const struct resource *resource_titled(const struct host_plan *hp, const char *prefix)
{
	for (size_t i = 0; i < hp->n_res; i++)
		if (!strncmp(hp->res[i].title, prefix, strlen(prefix)))
			return &hp->res[i];
	return NULL;
}

static void test_journals(void)
{
	struct host_plan hp;
	const struct resource *r;
	char *s;

	/* a watched server uploads to the monitoring server's private address */
	render_ok(&hp, "web");
	CHECK_HAS((s = content(&hp, "file /etc/systemd/journal-upload.conf.d/provision.conf")),
	          "URL=https://10.0.0.5:19532\n");
	free(s);
	/* its certificate is made with the CA key, a secret, and checked with the public key */
	r = resource_titled(&hp, "command printf");
	CHECK(r != NULL);
	CHECK(r && r->secret);
	CHECK_HAS(r ? r->title : NULL, "{{ layout_ca_key }}"); /* the title holds no value */
	plan_release(&hp);

	/* without the node exporter, no upload either */
	render_ok(&hp, "off");
	CHECK(resource_titled(&hp, "file /etc/systemd/journal-upload.conf.d") == NULL);
	CHECK(resource_titled(&hp, "command printf") == NULL);
	plan_release(&hp);

	/* the monitoring server: stunnel on the private address, open to the layout only */
	render_ok(&hp, "mon");
	CHECK_HAS((s = content(&hp, "file /etc/provision/journal-stunnel.conf")),
	          "accept = 10.0.0.5:19532\nconnect = 127.0.0.1:19532\n");
	CHECK_HAS(s, "verifyChain = yes\nrequireCert = yes\n");
	free(s);
	CHECK_HAS((s = content(&hp, "file /etc/systemd/system/systemd-journal-remote.socket.d/"
	                            "provision.conf")),
	          "ListenStream=\nListenStream=127.0.0.1:19532\n");
	free(s);
	bool to_mon = false, to_web = false, elsewhere = false;
	const struct node *rules = scope_get(&hp.scope, "role_ports");
	for (size_t i = 0; rules && i < rules->n; i++) {
		const char *rule = rules->items[i]->scalar;
		if (!strstr(rule, "19532"))
			continue;
		if (!strcmp(rule, "19532/tcp from 10.0.0.5/32"))
			to_mon = true;
		else if (!strcmp(rule, "19532/tcp from 10.0.0.6/32"))
			to_web = true;
		else
			elsewhere = true;
	}
	CHECK(to_mon && to_web && !elsewhere);
	CHECK_HAS((s = content(&hp, "file /etc/systemd/system/provision-journal-vacuum.service")),
	          "--vacuum-size=4096M --vacuum-time=30d\n");
	free(s);
	plan_release(&hp);
}

static void cleanup(void)
{
	char *cmd = xasprintf("rm -rf %s", scratch);

	if (system(cmd) != 0)
		printf("cleanup failed: %s\n", cmd);
	free(cmd);
	role_set_release(&roles);
	inventory_free(inv);
	scope_release(&facts);
	node_free(servers);
	node_free(alerts);
	node_free(ca_key);
}

int main(void)
{
	setup();
	RUN(test_metrics_rendered);
	RUN(test_bad_declarations);
	RUN(test_builtin_roles);
	RUN(test_receivers);
	RUN(test_alert_thresholds);
	RUN(test_journals);
	cleanup();
	return check_done("monitoring");
}
