/*
 * test-apptier.c - what the application-tier roles rely on in the engine:
 * 'when' comparisons, '||' and lists; role health checks and the script
 * that runs them (by the local /bin/sh); the ufw resource's DOCKER-USER
 * block and its SSH-only-on-an-interface rule set; and the built-in
 * roles docker, tailscale and proxy rendering cleanly for each flavour;
 * the host's one apt-get install and the package resources that stay in
 * their place.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

static char scratch[] = "/tmp/test-apptier-XXXXXX";
static struct inventory *inv;
static struct role_set roles;
static struct scope facts;
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

/* Titles of the resources, joined by '|'. */
static char *titles(const struct host_plan *hp)
{
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < hp->n_res; i++)
		buf_addf(&b, "%s%s", i ? "|" : "", hp->res[i].title);
	return buf_detach(&b, NULL);
}

/* Run sh with script on stdin; its output into out. */
static int run_sh(const char *script, struct buf *out)
{
	char *path = xasprintf("%s/script.sh", scratch);
	char *cmd = xasprintf("sh %s", path);
	char line[512];
	FILE *p;
	int st;

	write_file(path, script);
	if (!(p = popen(cmd, "r")))
		die("popen");
	while (fgets(line, sizeof(line), p))
		buf_adds(out, line);
	st = pclose(p);
	free(cmd);
	free(path);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char role_when[] =
    "resources:\n"
    "  - directory: { path: /w/eq }\n"
    "    when: \"os_id == debian\"\n"
    "  - directory: { path: /w/ne }\n"
    "    when: \"os_id != debian\"\n"
    "  - directory: { path: /w/quoted }\n"
    "    when: 'flavour == \"kamal\"'\n"
    "  - directory: { path: /w/undefined-eq }\n"
    "    when: \"nosuch == x\"\n"
    "  - directory: { path: /w/undefined-ne }\n"
    "    when: \"nosuch != x\"\n"
    "  - directory: { path: /w/or }\n"
    "    when: \"os_id == ubuntu || flavour == kamal\"\n"
    "  - directory: { path: /w/or-none }\n"
    "    when: \"os_id == ubuntu || flavour == caddy\"\n"
    "  - directory: { path: /w/list }\n"
    "    when: [\"os_id == debian\", \"!container\"]\n"
    "  - directory: { path: /w/list-all }\n"
    "    when: [\"os_id == debian\", container, \"flavour != caddy\"]\n";

static const char role_badwhen[] = "resources:\n"
                                   "  - directory: { path: /w/bad }\n"
                                   "    when: \"two words\"\n";

static const char role_health[] = "resources: []\n"
                                  "health:\n"
                                  "  - unit: \"no-such-unit-{{ flavour }}\"\n"
                                  "  - http: \"http://127.0.0.1:1/x\"\n"
                                  "    status: 204\n"
                                  "  - unit: skipped\n"
                                  "    when: \"flavour == caddy\"\n"
                                  "  - title: replication\n"
                                  "    report: \"echo 'role {{ flavour }}'; echo lag 0\"\n"
                                  "  - report: \"echo half; exit 3\"\n";

static const char role_badhealth[] = "resources: []\n"
                                     "health:\n"
                                     "  - { unit: a, http: \"http://x/\" }\n"
                                     "  - { http: \"ftp://x/\" }\n"
                                     "  - { http: \"http://x/\", status: 20 }\n"
                                     "  - { sevice: x }\n";

static const char role_audit[] =
    "resources: []\n"
    "audit:\n"
    "  - { id: A-PASS, cis: \"1.2.3\", title: passes, check: \"true\" }\n"
    "  - { id: A-FAIL, title: fails, check: \"echo the flavour is {{ flavour }}; exit 1\" }\n"
    "  - { id: A-SKIP, title: says skip, check: \"echo not here; exit 3\" }\n"
    "  - { id: A-CONTAINER, title: kernel, container: the machine's kernel, check: \"false\" }\n"
    "  - { id: A-OFF, title: switched off, when: \"flavour == caddy\", check: \"false\" }\n"
    "  - { id: A-QUOTE, title: value quoted for the shell, check: \"[ {{ odd }} = 'a b;c' ]\" }\n";

static const char role_badaudit[] = "resources: []\n"
                                    "audit:\n"
                                    "  - { id: lower-case, title: t, check: \"true\" }\n"
                                    "  - { id: DUP, title: t, check: \"true\" }\n"
                                    "  - { id: DUP, title: t, check: \"true\" }\n"
                                    "  - { id: NOCHECK, title: t }\n"
                                    "  - { id: X, title: t, check: \"true\", chek: x }\n";

static const char role_fw[] =
    "ports: [\"on tailscale0\", 41641/udp]\n"
    "resources:\n"
    "  - ufw:\n"
    "      ssh: 22/tcp\n"
    "      allow: [22/tcp, 8080/tcp, \"5432/tcp from 10.0.0.0/24\", \"{{ role_ports }}\"]\n"
    "      docker: true\n"
    "      ssh_only_on: tailscale0\n"
    "      ssh_only_on_proof: /var/lib/provision/tailnet-ssh-proven\n";

static const char role_units[] =
    "resources:\n"
    "  - file: { path: /etc/demo.conf, content: \"a\\n\" }\n"
    "  - file: { path: /etc/systemd/system/demo.service, content: \"[Service]\\n\" }\n"
    "  - file: { path: /etc/systemd/system/demo.service.d/10-x.conf, content: \"[Unit]\\n\" }\n"
    "  - file: { path: /etc/demo2.conf, content: \"b\\n\" }\n"
    "  - service: { name: demo, enabled: true, running: true }\n"
    "  - file: { path: /etc/systemd/system/old.timer, state: absent }\n"
    "  - command: { run: \"systemctl start demo\", creates: /run/demo }\n"
    "  - file: { path: /etc/systemd/system/last.timer, content: \"[Timer]\\n\" }\n"
    "    notify: [restart demo]\n"
    "handlers:\n"
    "  restart demo:\n"
    "    service: { name: demo, action: restart }\n";

/* A package whose service starts after its file, one kept stopped. */
static const char role_hold[] = "resources:\n"
                                "  - package: { name: [demo] }\n"
                                "  - file: { path: /etc/demo.conf, content: \"a\\n\" }\n"
                                "    notify: [restart demo, reload demo]\n"
                                "  - service: { name: demo, enabled: true, running: true }\n"
                                "  - file: { path: /etc/demo.d/late.conf, content: \"b\\n\" }\n"
                                "    notify: [restart demo]\n"
                                "  - service: { name: other, running: false }\n"
                                "handlers:\n"
                                "  restart demo:\n"
                                "    service: { name: demo, action: restart }\n"
                                "  reload demo:\n"
                                "    service: { name: demo, action: reload }\n";

static const char role_sysctl2[] = "resources:\n"
                                   "  - sysctl:\n"
                                   "      file: /etc/sysctl.d/90-a.conf\n"
                                   "      settings: { kernel.sysrq: 0, vm.swappiness: 10 }\n"
                                   "  - sysctl:\n"
                                   "      file: /etc/sysctl.d/90-b.conf\n"
                                   "      settings: { vm.swappiness: 1 }\n";

static void setup(void)
{
	struct diags d;
	char *p;

	make_scratch(scratch);
	p = xasprintf("%s/inventory.yml", scratch);
	write_file(p, "project: apptier\n"
	              "vars: { flavour: kamal }\n"
	              "secrets: { tailscale_auth_key: \"env:TEST_APPTIER_KEY\" }\n"
	              "layouts:\n"
	              "  l1:\n"
	              "    servers:\n"
	              "      when: { roles: [whenrole] }\n"
	              "      badwhen: { roles: [badwhen] }\n"
	              "      health: { roles: [healthrole] }\n"
	              "      badhealth: { roles: [badhealth] }\n"
	              "      fw: { roles: [fw] }\n"
	              "      fwsplit:\n"
	              "        roles: [fwsplit]\n"
	              "        vars: { extra_ports: [\"\\n\\v8080/tcp\"] }\n"
	              "      docker: { roles: [docker] }\n"
	              "      dockerfwd0:\n"
	              "        roles: [docker]\n"
	              "        vars: { ip_forward: 0 }\n"
	              "      ubuntu:\n"
	              "        roles: [docker]\n"
	              "      caddy: { roles: [base, ufw, proxy] }\n"
	              "      traefik:\n"
	              "        roles: [base, ufw, docker, proxy]\n"
	              "        vars:\n"
	              "          proxy_flavour: traefik\n"
	              "          proxy_sites: [{ host: a.test, upstream: \"127.0.0.1:3000\" }]\n"
	              "      kamal:\n"
	              "        roles: [base, ufw, docker, proxy]\n"
	              "        vars: { proxy_flavour: kamal }\n"
	              "      badflavour:\n"
	              "        roles: [proxy]\n"
	              "        vars: { proxy_flavour: nginx }\n"
	              "      ts:\n"
	              "        roles: [base, tailscale, ufw]\n"
	              "        vars: { tailscale_ssh: tailnet-only, tailscale_tags: [\"tag:a\"] }\n"
	              "      audit: { roles: [auditrole], vars: { odd: \"a b;c\" } }\n"
	              "      badaudit: { roles: [badaudit] }\n"
	              "      units: { roles: [unitrole] }\n"
	              "      sysctl2: { roles: [sysctl2] }\n"
	              "      hold: { roles: [holdrole] }\n"
	              "      pkgs: { roles: [pkga, pkgb, pkgc, pkgd, pkge] }\n"
	              "      badearly: { roles: [badearly] }\n"
	              "      strict:\n"
	              "        roles: [base, ufw, docker]\n"
	              "        vars: { hardening_profile: strict, hardening_integrity: true }\n");
	setenv("TEST_APPTIER_KEY", "tskey-unit-secret", 1);
	diags_init(&d);
	if (inventory_load(&inv, p, &d) < 0) {
		for (size_t i = 0; i < d.n; i++)
			fprintf(stderr, "%s\n", d.msgs[i]);
		exit(2);
	}
	diags_release(&d);
	free(p);
	write_role(scratch, "whenrole", role_when);
	write_role(scratch, "badwhen", role_badwhen);
	write_role(scratch, "healthrole", role_health);
	write_role(scratch, "badhealth", role_badhealth);
	write_role(scratch, "auditrole", role_audit);
	write_role(scratch, "badaudit", role_badaudit);
	write_role(scratch, "fw", role_fw);
	write_role(scratch, "unitrole", role_units);
	write_role(scratch, "sysctl2", role_sysctl2);
	write_role(scratch, "holdrole", role_hold);
	write_role(scratch, "pkga",
	           "resources:\n  - package: { name: [pa1] }\n"
	           "  - file: { path: /etc/pa.conf, content: x }\n"
	           "  - package: { name: [pa2] }\n");
	write_role(scratch, "pkgb",
	           "resources:\n  - package: { name: [pb1, pb2] }\n"
	           "  - package: { name: [pb3], early: false }\n"
	           "  - package: { name: [pb4], state: absent }\n"
	           "  - package: { name: [pb5] }\n");
	write_role(scratch, "pkgc", "resources:\n  - package: { name: [pc1] }\n");
	write_role(scratch, "pkgd",
	           "resources:\n  - file: { path: /etc/apt/sources.list.d/d.list, content: x }\n");
	write_role(scratch, "pkge", "resources:\n  - package: { name: [pe1] }\n");
	write_role(scratch, "badearly",
	           "resources:\n  - package: { name: [pz], early: sometimes }\n");
	write_role(
	    scratch, "fwsplit",
	    "resources:\n  - ufw: { ssh: 22/tcp, allow: [22/tcp, \"{{ extra_ports }}\"] }\n");
	role_set_init(&roles);
	p = xasprintf("%s/roles", scratch);
	role_set_add_dir(&roles, p);
	free(p);
	role_set_add_dir(&roles, "roles"); /* the built-in ones */
	template_dirs[0] = "templates";
	template_dirs[1] = "templates";
	scope_init(&facts);
	scope_set_str(&facts, "container", "true");
	scope_set_str(&facts, "address", "192.0.2.10");
	scope_set_str(&facts, "private_address", "192.0.2.10");
	scope_set_str(&facts, "os_id", "debian");
}

static void test_when_terms(void)
{
	struct host_plan hp;
	struct diags d;
	char *t;

	render_ok(&hp, "when");
	t = titles(&hp);
	CHECK_STR(t, "directory /w/eq|directory /w/quoted|directory /w/undefined-ne|"
	             "directory /w/or|directory /w/list-all");
	free(t);
	plan_release(&hp);

	CHECK(render(&hp, &d, "badwhen") == -1);
	CHECK(d.n == 1);
	CHECK_HAS(d.n ? d.msgs[0] : NULL, "role.yml:3:11: 'when' term 'two words' is not");
	plan_release(&hp);
	diags_release(&d);
}

static void test_health(void)
{
	struct host_plan hp;
	struct diags d;
	struct buf sh = BUF_INIT, out = BUF_INIT;

	render_ok(&hp, "health");
	CHECK(hp.n_health == 4);
	if (hp.n_health == 4) {
		CHECK_STR(hp.health[0].title, "unit no-such-unit-kamal");
		CHECK_STR(hp.health[0].role, "healthrole");
		CHECK_STR(hp.health[1].title, "http http://127.0.0.1:1/x 204");
		script_health(&hp, &sh);
		run_sh(sh.s, &out);
		/* both fail here, each with its reason on one line */
		CHECK_HAS(out.s, "@@K 0 failed ");
		CHECK_HAS(out.s, "@@K 1 failed ");
		CHECK_HAS(out.s, "@@Z");
		CHECK(!strstr(out.s, "@@K 0 ok"));
		/* a check that is no report shows no lines */
		CHECK(!hp.health[0].report && !hp.health[1].report && hp.health[2].report);
		CHECK(!strstr(out.s, "@@R 0 ") && !strstr(out.s, "@@R 1 "));
		/* a report's lines come through, then whether it ran */
		CHECK_STR(hp.health[2].title, "replication");
		CHECK_STR(hp.health[3].title, "report");
		CHECK_HAS(out.s, "@@R 2 role kamal\n@@R 2 lag 0\n@@K 2 ok\n");
		CHECK_HAS(out.s, "@@R 3 half\n@@K 3 failed exit 3\n");
	}
	plan_release(&hp);
	buf_release(&sh);
	buf_release(&out);

	CHECK(render(&hp, &d, "badhealth") == -1);
	CHECK(d.n == 4);
	for (size_t i = 0; d.n != 4 && i < d.n; i++)
		printf("  diag: %s\n", d.msgs[i]);
	CHECK_HAS(d.n > 0 ? d.msgs[0] : NULL, "names one of 'unit', 'http' or 'report'");
	CHECK_HAS(d.n > 1 ? d.msgs[1] : NULL, "must be an http:// or https:// URL");
	CHECK_HAS(d.n > 2 ? d.msgs[2] : NULL, "must be an HTTP status like 200");
	CHECK_HAS(d.n > 3 ? d.msgs[3] : NULL, "unknown key 'sevice'");
	plan_release(&hp);
	diags_release(&d);
}

/*
 * Audit checks: a container skips what needs the machine, 'when' false
 * skips, the rest run in one script whose lines say each exit status.
 */
static void test_audit(void)
{
	struct host_plan hp;
	struct diags d;
	struct buf sh = BUF_INIT, out = BUF_INIT;

	render_ok(&hp, "audit");
	CHECK(hp.n_audit == 6);
	if (hp.n_audit == 6) {
		CHECK_STR(hp.audit[0].id, "A-PASS");
		CHECK_STR(hp.audit[0].cis, "1.2.3");
		CHECK(hp.audit[1].cis == NULL);
		CHECK_STR(hp.audit[3].skip, "the machine's kernel");
		CHECK(hp.audit[3].sh == NULL);
		CHECK_STR(hp.audit[4].skip, "not enabled on this server");
		CHECK(hp.audit[4].sh == NULL);
		script_audit(&hp, &sh);
		run_sh(sh.s, &out);
		CHECK_HAS(out.s, "@@C 0 0 \n");
		CHECK_HAS(out.s, "@@C 1 1 the flavour is kamal");
		CHECK_HAS(out.s, "@@C 2 3 not here");
		CHECK(!strstr(out.s, "@@C 3 "));
		CHECK(!strstr(out.s, "@@C 4 "));
		/* the value reaches the test as one word, not as shell */
		CHECK_HAS(out.s, "@@C 5 0 ");
		CHECK_HAS(out.s, "@@Z");
	}
	plan_release(&hp);
	buf_release(&sh);
	buf_release(&out);

	CHECK(render(&hp, &d, "badaudit") == -1);
	for (size_t i = 0; d.n != 4 && i < d.n; i++)
		printf("  diag: %s\n", d.msgs[i]);
	CHECK(d.n == 4);
	CHECK_HAS(d.n > 0 ? d.msgs[0] : NULL,
	          "'id' of an audit check of role 'badaudit' must be capitals");
	CHECK_HAS(d.n > 1 ? d.msgs[1] : NULL,
	          "audit check 'DUP' of role 'badaudit' is already one of role 'badaudit'");
	CHECK_HAS(d.n > 2 ? d.msgs[2] : NULL, "'check'");
	CHECK_HAS(d.n > 3 ? d.msgs[3] : NULL, "unknown key 'chek'");
	plan_release(&hp);
	diags_release(&d);
}

/* Rendering server fails with one message, which has text. */
static void render_one_error(const char *server, const char *text)
{
	struct host_plan hp;
	struct diags d;

	diags_init(&d);
	CHECK(render(&hp, &d, server) < 0 || d.n > 0);
	CHECK(d.n == 1);
	if (d.n)
		CHECK_HAS(d.msgs[0], text);
	diags_release(&d);
	plan_release(&hp);
}

/* The ufw resource of a plan, with a probe payload as the host would send. */
static void apply_ufw(struct host_plan *hp, const char *payload, struct buf *sh)
{
	struct stage st;

	for (size_t i = 0; i < hp->n_res; i++) {
		hp->res[i].status = RES_CHANGE;
		if (payload) {
			buf_reset(&hp->res[i].current);
			buf_adds(&hp->res[i].current, payload);
			hp->res[i].has_current = true;
		}
	}
	stage_init(&st);
	script_apply(hp, sh, &st);
	stage_release(&st);
}

/* A port with a line break in front never reaches after.rules split over two lines. */
static void test_ufw_split_port(void)
{
	render_one_error("fwsplit", "line break or control character");
}

static void test_ufw_docker_block(void)
{
	struct host_plan hp;
	struct buf sh = BUF_INIT;

	render_ok(&hp, "fw");
	CHECK(hp.n_res == 1);
	if (hp.n_res != 1) {
		plan_release(&hp);
		return;
	}
	apply_ufw(&hp, "\n4 allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n", &sh);
	/* the published ports the rules allow, by their port before DNAT */
	CHECK_HAS(sh.s, "-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 8080 --ctdir "
	                "ORIGINAL -j RETURN\n");
	CHECK_HAS(sh.s, "-A DOCKER-USER -s 10.0.0.0/24 -p tcp -m conntrack --ctorigdstport "
	                "5432 --ctdir ORIGINAL -j RETURN\n");
	CHECK_HAS(sh.s, "-A DOCKER-USER -p udp -m conntrack --ctorigdstport 41641");
	CHECK_HAS(sh.s, "-A DOCKER-USER -i tailscale0 -j RETURN\n");
	CHECK_HAS(sh.s, "-A DOCKER-USER -i docker0 -j RETURN\n");
	CHECK_HAS(sh.s, "-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN\n");
	CHECK_HAS(sh.s, "-A DOCKER-USER -o docker0 -j DROP\n-A DOCKER-USER -o br-+ -j DROP\n");
	/* without the proof, public SSH stays and is not deleted */
	CHECK_HAS(sh.s, "--ctorigdstport 22 ");
	CHECK(!strstr(sh.s, "ufw delete allow in proto tcp from any to any port 22"));
	CHECK(!strstr(sh.s, "on tailscale0 proto tcp from any to any port 22"));
	buf_reset(&sh);

	/* with the proof in place: SSH on tailscale0 first, then public SSH goes */
	apply_ufw(&hp, "#alt\n4 allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n", &sh);
	const char *add = strstr(sh.s, "ufw allow in on tailscale0 proto tcp from any to any "
	                               "port 22 ");
	const char *del = strstr(sh.s, "ufw delete allow in proto tcp from any to any port 22 ");
	CHECK(add != NULL);
	CHECK(del != NULL);
	CHECK(add && del && add < del);
	CHECK_HAS(sh.s, "-A DOCKER-USER -i tailscale0 -p tcp -m conntrack --ctorigdstport 22 ");
	CHECK(!strstr(sh.s, "-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 22 "));
	buf_release(&sh);
	plan_release(&hp);
}

/* The count of needle in hay. */
static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/*
 * The apply script of server's plan (n_res resources, n_handlers handlers)
 * with every resource pending; false (and the plan released) when the plan
 * is not that.
 */
static bool apply_all(struct host_plan *hp, const char *server, size_t n_res, size_t n_handlers,
                      struct buf *sh)
{
	struct stage st;

	render_ok(hp, server);
	CHECK(hp->n_res == n_res && hp->n_handlers == n_handlers);
	if (hp->n_res != n_res || hp->n_handlers != n_handlers) {
		plan_release(hp);
		return false;
	}
	for (size_t i = 0; i < hp->n_res; i++)
		hp->res[i].status = RES_CHANGE;
	stage_init(&st);
	script_apply(hp, sh, &st);
	stage_release(&st);
	return true;
}

/*
 * A changed unit file takes effect: one reload after one or more unit
 * files changed, before the next service or command and before the
 * handlers; none for a plan without unit files.
 */
static void test_unit_reload(void)
{
	struct host_plan hp;
	struct buf sh = BUF_INIT;
	struct stage st;
	const char *reload = "systemctl daemon-reload";

	if (!apply_all(&hp, "units", 8, 1, &sh))
		return;
	/* marked after the three unit files (the removed one too), not the others */
	CHECK(count(sh.s, "pv_unitfiles=1\n") == 4);
	/* before the service, the command, and the handlers */
	CHECK(count(sh.s, reload) == 3);
	const char *svc = strstr(sh.s, "echo '@@A 4 changed'");
	const char *cmd = strstr(sh.s, "echo '@@A 7 changed'");
	const char *first = strstr(sh.s, reload);
	const char *second = first ? strstr(first + 1, reload) : NULL;
	const char *third = second ? strstr(second + 1, reload) : NULL;
	const char *mark2 = strstr(sh.s, "echo '@@A 2 changed'");
	const char *mark7 = strstr(sh.s, "echo '@@A 7 changed'");
	const char *handler = strstr(sh.s, "if [ -n \"${pv_h0:-}\" ]");
	CHECK(svc && cmd && first && second && third && mark2 && mark7 && handler);
	if (svc && cmd && first && second && third && mark2 && mark7 && handler) {
		CHECK(mark2 < first && first < svc);
		CHECK(svc < second && second < cmd);
		CHECK(mark7 < third && third < handler);
	}
	/* a reload only when one is due */
	CHECK_HAS(sh.s,
	          "if [ -n \"${pv_unitfiles:-}\" ]; then pv_unitfiles=; systemctl daemon-reload");
	buf_release(&sh);
	plan_release(&hp);

	render_ok(&hp, "fw");
	for (size_t i = 0; i < hp.n_res; i++)
		hp.res[i].status = RES_CHANGE;
	stage_init(&st);
	script_apply(&hp, &sh, &st);
	stage_release(&st);
	CHECK(!strstr(sh.s, reload));
	CHECK(!strstr(sh.s, "pv_unitfiles"));
	buf_release(&sh);
	plan_release(&hp);
}

/*
 * Services held while packages install: the install holds them, the apply
 * ends the hold after the handlers (the unit kept stopped named), and a
 * restart or reload notified before the service resource started the unit
 * says "fresh" instead of running; one notified after it runs.
 */
static void test_hold_services(void)
{
	struct host_plan hp;
	struct buf sh = BUF_INIT;

	if (!apply_all(&hp, "hold", 5, 2, &sh))
		return;
	const char *hold = strstr(sh.s, "pv_hold\npv_aptready\n");
	const char *start =
	    strstr(sh.s, "then\n\tsystemctl start -- demo\n\t: >\"$PV_STAGE/fresh.2\"");
	const char *fresh0 =
	    strstr(sh.s, "[ ! -e \"$PV_STAGE/fresh.2\" ] || [ -z \"${pv_h0:-}\" ] || "
	                 "pv_h0=fresh\n");
	const char *fresh1 =
	    strstr(sh.s, "[ ! -e \"$PV_STAGE/fresh.2\" ] || [ -z \"${pv_h1:-}\" ] || "
	                 "pv_h1=fresh\n");
	const char *late = strstr(sh.s, "echo '@@A 3 changed'");
	const char *h0 = strstr(sh.s, "if [ \"${pv_h0:-}\" = fresh ]; then\necho '@@H 0 fresh'\n"
	                              "elif [ -n \"${pv_h0:-}\" ]; then\n");
	const char *h1 = strstr(sh.s, "if [ \"${pv_h1:-}\" = fresh ]; then\necho '@@H 1 fresh'\n"
	                              "elif [ -n \"${pv_h1:-}\" ]; then\n");
	const char *unhold = strstr(sh.s, "\npv_unhold other >");
	const char *end = strstr(sh.s, "echo @@Z");
	CHECK(hold && start && fresh0 && fresh1 && late && h0 && h1 && unhold && end);
	if (hold && start && fresh0 && fresh1 && late && h0 && h1 && unhold && end) {
		CHECK(hold < start && start < fresh0 && fresh0 < late);
		/* the late file notifies restart again: pv_h0=1 after the fresh mark */
		CHECK(strstr(late, "pv_h0=1\n") != NULL);
		CHECK(late < h0 && h0 < h1 && h1 < unhold && unhold < end);
	}
	/* a stop and a package removal hold nothing */
	CHECK(count(sh.s, "pv_hold\n") == 1);
	CHECK(!strstr(sh.s, "fresh.4"));
	buf_release(&sh);

	/* the script says fresh: the handler ran for nothing, nor failed */
	const char out[] = "@@A 0 changed\n@@A 1 changed\n@@A 2 changed\n@@A 3 changed\n"
	                   "@@A 4 changed\n@@H 0 ok\n@@H 1 fresh\n@@Z\n";
	struct pv_error err = {0};
	CHECK(script_parse_apply(&hp, out, sizeof(out) - 1, &err) == 0);
	CHECK(hp.handlers[0].status == RES_CHANGED);
	CHECK(hp.handlers[1].status == RES_OK);
	plan_release(&hp);
}

/*
 * One kernel parameter in two files of /etc/sysctl.d: the live value would
 * go back and forth each run, whichever file the boot reads last.  Refused
 * at the second, naming both; the built-in roles, strict included, set
 * each parameter once.
 */
static void test_sysctl_twice(void)
{
	struct host_plan hp;
	struct diags d;

	CHECK(render(&hp, &d, "sysctl2") < 0);
	CHECK(d.n == 1);
	CHECK_HAS(d.n ? d.msgs[0] : NULL,
	          "sysctl2/role.yml:5:5: kernel parameter 'vm.swappiness' is set twice on server "
	          "'sysctl2' (sysctl "
	          "/etc/sysctl.d/90-a.conf in role 'sysctl2' and sysctl /etc/sysctl.d/90-b.conf in "
	          "role 'sysctl2')");
	plan_release(&hp);
	diags_release(&d);

	render_ok(&hp, "strict");
	plan_release(&hp);
}

static void test_builtin_roles(void)
{
	static const char *const clean[] = {"docker", "caddy", "traefik", "kamal", "ts"};
	struct host_plan hp;
	struct diags d;
	char *t;

	for (size_t i = 0; i < sizeof(clean) / sizeof(clean[0]); i++) {
		render_ok(&hp, clean[i]);
		plan_release(&hp);
	}

	/* Debian: docker.io; the Ubuntu repository only with os_id ubuntu */
	render_ok(&hp, "docker");
	t = titles(&hp);
	CHECK_HAS(t, "package docker.io");
	CHECK(!strstr(t, "docker-ce"));
	free(t);
	CHECK(hp.n_health == 2); /* and base's node exporter */
	plan_release(&hp);
	scope_set_str(&facts, "os_id", "ubuntu");
	render_ok(&hp, "ubuntu");
	t = titles(&hp);
	CHECK_HAS(t, "package docker-ce");
	CHECK_HAS(t, "/etc/apt/keyrings");
	CHECK(!strstr(t, "package docker.io"));
	free(t);
	plan_release(&hp);
	scope_set_str(&facts, "os_id", "debian");

	/* forwarding off with docker: a resource that fails with the reason */
	render_ok(&hp, "dockerfwd0");
	t = titles(&hp);
	CHECK_HAS(t, "role docker needs ip_forward: 1");
	free(t);
	plan_release(&hp);

	/* a flavour the role does not know: refused before anything renders, at the value */
	CHECK(render(&hp, &d, "badflavour") < 0);
	CHECK(d.n == 1);
	CHECK_HAS(d.n ? d.msgs[0] : NULL,
	          "inventory.yml:32:32: variable 'proxy_flavour' must be one of 'caddy', "
	          "'traefik', 'kamal', not 'nginx'");
	CHECK(hp.n_res == 0);
	diags_release(&d);
	plan_release(&hp);

	render_ok(&hp, "caddy");
	t = titles(&hp);
	CHECK(!strstr(t, "proxy_flavour is"));
	free(t);
	plan_release(&hp);

	render_ok(&hp, "caddy");
	t = titles(&hp);
	CHECK_HAS(t, "file /etc/caddy/Caddyfile");
	CHECK(!strstr(t, "traefik"));
	free(t);
	CHECK(hp.n_health == 3); /* and base's node exporter */
	plan_release(&hp);

	render_ok(&hp, "traefik");
	t = titles(&hp);
	CHECK_HAS(t, "file /etc/traefik/dynamic/provision.yml");
	CHECK(!strstr(t, "caddy"));
	/* in a container the image cannot run: enabled, not started */
	CHECK(!strstr(t, "service traefik running"));
	free(t);
	plan_release(&hp);

	/* the auth key: a secret file, never in a command */
	render_ok(&hp, "ts");
	bool key_file = false, in_cmd = false;
	for (size_t i = 0; i < hp.n_res; i++) {
		if (strstr(hp.res[i].title, "auth-key") && strstr(hp.res[i].title, "file "))
			key_file = hp.res[i].secret;
		if (strstr(hp.res[i].title, "tskey-unit-secret"))
			in_cmd = true;
	}
	CHECK(key_file);
	CHECK(!in_cmd);
	/* the tailnet-only switch reaches the ufw resource (and the node exporter's port) */
	CHECK(hp.n_ports == 3);
	plan_release(&hp);
	(void)d;
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
}

#define APT_INSTALL "install --no-install-recommends"

/* The apply script (in sh, replaced) with every resource of hp in status st. */
static void apply_as(struct host_plan *hp, enum res_status st, struct buf *sh)
{
	struct stage stg;

	for (size_t i = 0; i < hp->n_res; i++)
		hp->res[i].status = st;
	buf_reset(sh);
	stage_init(&stg);
	script_apply(hp, sh, &stg);
	stage_release(&stg);
}

/*
 * One apt-get install for the packages that may go early, where the first
 * of them stands; a package after another kind of resource of its role,
 * one with 'early: false', one after a repository file and a removal keep
 * their own command; every batched resource reports for itself.
 */
static void test_package_batch(void)
{
	struct host_plan hp;
	struct buf sh = BUF_INIT, out = BUF_INIT;

	render_ok(&hp, "pkgs");
	apply_as(&hp, RES_CHANGE, &sh);
	CHECK(count(sh.s, APT_INSTALL) == 5);
	CHECK_HAS(sh.s, APT_INSTALL " pa1 pb1 pb2 pc1\n");
	CHECK_HAS(sh.s, APT_INSTALL " pa2\n");
	CHECK_HAS(sh.s, APT_INSTALL " pb3\n");
	CHECK_HAS(sh.s, APT_INSTALL " pb5\n");
	CHECK_HAS(sh.s, APT_INSTALL " pe1\n");
	CHECK(count(sh.s, " remove pb4\n") == 1);
	/* the batch comes first, before the file of role pkga */
	CHECK(strstr(sh.s, " pa1 pb1 pb2 pc1\n") < strstr(sh.s, "/etc/pa.conf"));
	/* resources 0 (pa1), 3 (pb1, pb2), 7 (pc1) report there, each once */
	CHECK(count(sh.s, "echo '@@A 0 changed'") == 1);
	CHECK(count(sh.s, "echo '@@A 3 changed'") == 1);
	CHECK(count(sh.s, "echo '@@A 7 changed'") == 1);
	CHECK(count(sh.s, "echo '@@A 3 failed'") == 1);
	CHECK_HAS(sh.s, "installing pa1, pb1, pb2, pc1");

	/* the batched resources' script, run by sh with apt-get failing */
	const char *a = strstr(sh.s, "if [ -z \"$pv_fail\" ]; then\n(\nset -e\nexport DEBIAN");
	const char *b = a ? strstr(a, "\nfi\nfi\n") : NULL;
	CHECK(a && b);
	if (a && b) {
		char *dir = xasprintf("%s/batch", scratch);
		char *tool = xasprintf("%s/apt-get", dir);
		struct buf part = BUF_INIT;
		mkdir(dir, 0700);
		/* an apt-get that says what it was given and fails */
		write_file(tool,
		           "#!/bin/sh\necho \"E: Unable to locate package ($*)\"\nexit 100\n");
		chmod(tool, 0755);
		buf_addf(&part,
		         "PV_STAGE=%s\nPATH=$PV_STAGE:$PATH\npv_fail=\npv_nch=0\n"
		         "pv_tick() { :; }\npv_hold() { :; }\npv_aptready() { :; }\n"
		         ": >\"$PV_STAGE/apt-updated\"\n",
		         dir);
		buf_add(&part, a, (size_t)(b - a) + 7);
		buf_adds(&part, "echo \"fail=$pv_fail nch=$pv_nch\"\n");
		CHECK(run_sh(part.s, &out) == 0);
		CHECK_HAS(out.s, "@@A 0 failed\n@@L 0 E: Unable to locate package (-y -q ");
		CHECK_HAS(out.s,
		          "@@L 0 apt-get install exited with 100 installing pa1, pb1, pb2, pc1\n");
		CHECK_HAS(out.s, "@@A 3 failed\n@@L 3 not installed: ");
		CHECK_HAS(out.s, "@@A 7 failed\n");
		CHECK_HAS(out.s, "fail=1 nch=0\n");
		/* and with apt-get succeeding, each one changed */
		buf_reset(&out);
		write_file(tool, "#!/bin/sh\nexit 0\n");
		CHECK(run_sh(part.s, &out) == 0);
		CHECK_HAS(out.s, "@@A 0 changed\n@@A 3 changed\n@@A 7 changed\n");
		CHECK_HAS(out.s, "fail= nch=3\n");
		buf_release(&part);
		free(tool);
		free(dir);
	}

	/* a settled host: nothing pending, no install at all */
	apply_as(&hp, RES_OK, &sh);
	CHECK(strstr(sh.s, "installing pa1") == NULL);
	plan_release(&hp);

	/*
	 * [base, ufw, docker, proxy]: their packages in one install; that of
	 * node-exporter (pulled in by base) stays after its settings file
	 */
	render_ok(&hp, "kamal");
	apply_as(&hp, RES_CHANGE, &sh);
	CHECK(count(sh.s, APT_INSTALL) == 2);
	CHECK_HAS(sh.s, APT_INSTALL " prometheus-node-exporter dbus\n");
	CHECK_HAS(sh.s, " libpam-tmpdir cracklib-runtime ufw docker.io curl\n");
	CHECK(strstr(sh.s, "/etc/default/prometheus-node-exporter") <
	      strstr(sh.s, APT_INSTALL " prometheus-node-exporter"));
	plan_release(&hp);
	render_one_error("badearly", "'early' in package resource");
	buf_release(&sh);
	buf_release(&out);
}

int main(void)
{
	setup();
	RUN(test_when_terms);
	RUN(test_health);
	RUN(test_audit);
	RUN(test_ufw_docker_block);
	RUN(test_ufw_split_port);
	RUN(test_builtin_roles);
	RUN(test_unit_reload);
	RUN(test_hold_services);
	RUN(test_sysctl_twice);
	RUN(test_package_batch);
	cleanup();
	return check_done("apptier");
}
