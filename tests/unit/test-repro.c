/*
 * test-repro.c - the per-host record: resource digests, package versions
 * read from script output (and from this machine's own dpkg), the --frozen
 * check, and the comparison of two environments' records.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "provision/repro.h"
#include "provision/resource.h"

static struct node *yaml(const char *text)
{
	struct node *n = NULL;
	struct pv_error err = {{0}};

	if (node_load_string(&n, "test.yml", text, strlen(text), &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		exit(2);
	}
	return n;
}

/* A plan with a package resource and a file resource whose content is content. */
static void plan(struct host_plan *hp, const char *pkgs, const char *content)
{
	struct render_ctx ctx = {NULL, 0, "base", "."};
	struct diags d;
	char *ftext =
	    xasprintf("{ path: /etc/example.conf, content: \"%s\", mode: \"0644\" }", content);
	struct node *pn = yaml(pkgs), *fn = yaml(ftext);

	memset(hp, 0, sizeof(*hp));
	scope_init(&hp->scope);
	diags_init(&d);
	hp->res = xcalloc(2, sizeof(*hp->res));
	hp->n_res = 2;
	hp->res[0].type = res_type_find("package");
	hp->res[0].role = xstrdup("base");
	hp->res[1].type = res_type_find("file");
	hp->res[1].role = xstrdup("ufw");
	CHECK(hp->res[0].type->parse(&hp->res[0], pn, &hp->scope, &ctx, &d) == 0);
	CHECK(hp->res[1].type->parse(&hp->res[1], fn, &hp->scope, &ctx, &d) == 0);
	for (size_t i = 0; i < d.n; i++)
		printf("%s\n", d.msgs[i]);
	diags_release(&d);
	node_free(pn);
	node_free(fn);
	free(ftext);
}

static const char *digest_of(json_t *rec, const char *title)
{
	return json_string_value(
	    json_object_get(json_object_get(json_object_get(rec, "resources"), title), "digest"));
}

static void test_digests(void)
{
	struct host_plan a, b, c;

	plan(&a, "{ name: [fail2ban, ufw] }", "one");
	plan(&b, "{ name: [fail2ban, ufw] }", "two");
	plan(&c, "{ name: [fail2ban, ufw] }", "one");
	json_t *ra = repro_digests(&a), *rb = repro_digests(&b), *rc = repro_digests(&c);

	CHECK(json_equal(ra, rc)); /* the same rendering, the same record */
	CHECK(strlen(json_string_value(json_object_get(ra, "digest"))) == 64);
	CHECK_STR(digest_of(ra, "package fail2ban, ufw"), digest_of(rb, "package fail2ban, ufw"));
	CHECK(strcmp(digest_of(ra, "file /etc/example.conf"),
	             digest_of(rb, "file /etc/example.conf")));
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(ra, "roles"), "base")),
	              json_string_value(json_object_get(json_object_get(rb, "roles"), "base"))));
	CHECK(strcmp(json_string_value(json_object_get(json_object_get(ra, "roles"), "ufw")),
	             json_string_value(json_object_get(json_object_get(rb, "roles"), "ufw"))));
	CHECK(strcmp(json_string_value(json_object_get(ra, "digest")),
	             json_string_value(json_object_get(rb, "digest"))));

	/* two environments: the one rendered difference, nothing else */
	json_t *ea = json_pack("{s:O}", "app1", ra), *eb = json_pack("{s:O}", "app1", rb);
	struct buf out = BUF_INIT;
	json_t *items = json_array();
	CHECK(repro_compare(ea, eb, "staging", "production", &out, items) == 1);
	CHECK_STR(out.s, "  app1: file /etc/example.conf (role ufw) differs\n");
	CHECK_STR(json_string_value(json_object_get(json_array_get(items, 0), "kind")), "resource");
	buf_release(&out);
	json_decref(items);

	/* package versions, a host only on one side, a role only on one side */
	json_object_set_new(json_object_get(ea, "app1"), "packages",
	                    json_pack("{s:s, s:s}", "ufw", "0.36.2-1", "sudo", "1.9.13p3-1"));
	json_object_set_new(json_object_get(eb, "app1"), "packages",
	                    json_pack("{s:s, s:s}", "ufw", "0.36.2-2", "curl", "7.88.1-10"));
	json_object_set_new(eb, "app2", json_deep_copy(rb));
	json_object_del(json_object_get(json_object_get(ea, "app1"), "roles"), "ufw");
	CHECK(repro_compare(ea, eb, "staging", "production", &out, NULL) == 6);
	CHECK_HAS(out.s, "  app1: role 'ufw' only in 'production'\n");
	CHECK_HAS(out.s, "  app1: package ufw: 0.36.2-1 in 'staging', 0.36.2-2 in 'production'\n");
	CHECK_HAS(out.s, "  app1: package sudo: 1.9.13p3-1 in 'staging', not installed in "
	                 "'production'\n");
	CHECK_HAS(out.s, "  app1: package curl: not installed in 'staging', 7.88.1-10 in "
	                 "'production'\n");
	CHECK_HAS(out.s, "  app2: only in 'production'\n");
	buf_release(&out);
	CHECK(repro_compare(ea, ea, "a", "a", &out, NULL) == 0);
	CHECK_STR(out.s, "");
	buf_release(&out);

	json_decref(ea);
	json_decref(eb);
	json_decref(ra);
	json_decref(rb);
	json_decref(rc);
	plan_release(&a);
	plan_release(&b);
	plan_release(&c);
}

/* Own address a and peer address p of a host in an environment. */
static void plan_at(struct host_plan *hp, const char *content, const char *a, const char *p)
{
	struct pos tool = {"(test)", 0, 0};
	struct node *servers = node_new_seq(&tool);

	plan(hp, "{ name: [ufw] }", content);
	for (int i = 0; i < 2; i++) {
		struct node *e = node_new_map(&tool);
		node_map_set(e, "name", node_new_scalar(i ? "db1" : "app1", &tool));
		node_map_set(e, "address", node_new_scalar(i ? p : a, &tool));
		node_seq_append(servers, e);
	}
	scope_set_str(&hp->scope, "private_address", a);
	scope_set_owned(&hp->scope, "servers", servers);
}

/*
 * Addresses are what environments differ in: a file that differs only in
 * the host's own and its peers' addresses has the same digest; one that
 * differs in anything else, or names another server, does not.
 */
static void test_digests_name_addresses(void)
{
	struct host_plan a, b, c, d, e;

	plan_at(&a, "listen=10.1.0.5:9100 peer 10.1.0.7.", "10.1.0.5", "10.1.0.7");
	plan_at(&b, "listen=10.2.0.15:9100 peer 10.2.0.17.", "10.2.0.15", "10.2.0.17");
	plan_at(&c, "listen=10.2.0.15:9100 peer 10.2.0.15.", "10.2.0.15", "10.2.0.17");
	plan_at(&d, "listen=10.2.0.15:9101 peer 10.2.0.17.", "10.2.0.15", "10.2.0.17");
	plan_at(&e, "listen=10.1.0.55:9100 peer 10.1.0.7.", "10.1.0.5", "10.1.0.7");
	json_t *ra = repro_digests(&a), *rb = repro_digests(&b), *rc = repro_digests(&c);
	json_t *rd = repro_digests(&d), *re = repro_digests(&e);
	const char *f = "file /etc/example.conf";

	CHECK_STR(digest_of(ra, f), digest_of(rb, f));
	CHECK(strcmp(digest_of(rb, f), digest_of(rc, f))); /* the peer, not itself */
	CHECK(strcmp(digest_of(rb, f), digest_of(rd, f))); /* another port */
	CHECK(strcmp(digest_of(ra, f), digest_of(re, f))); /* 10.1.0.55 is not 10.1.0.5 */

	char *content = NULL, hex[65];
	size_t len = 0;
	CHECK(repro_file_content(&b, f, &content, &len, hex) == 0);
	CHECK_STR(content, "listen=<private address>:9100 peer <address of db1>.");
	CHECK(len == strlen(content ? content : ""));
	CHECK_STR(hex, digest_of(rb, f));
	free(content);

	json_t *all[] = {ra, rb, rc, rd, re};
	struct host_plan *plans[] = {&a, &b, &c, &d, &e};
	for (size_t i = 0; i < 5; i++) {
		json_decref(all[i]);
		plan_release(plans[i]);
	}
}

static void test_parse(void)
{
	struct host_plan hp;
	static const char out[] = "@@P 0 ok\n"
	                          "@@V ufw 0.36.2-1 ii \n"
	                          "@@V fail2ban  un \n"
	                          "@@V sudo 1.9.13p3-1 rc \n"
	                          "@@C fail2ban 1.0.2-2\n"
	                          "@@C sudo (none)\n"
	                          "@@DR\n"
	                          "@@D libc6 2.36-9+deb12u4\n"
	                          "@@S python3-systemd 235-1+b2\n"
	                          "@@Z\n";

	memset(&hp, 0, sizeof(hp));
	repro_pkgs_parse(&hp, out, strlen(out));
	CHECK(json_object_size(hp.pkg_installed) == 1);
	CHECK_STR(json_string_value(json_object_get(hp.pkg_installed, "ufw")), "0.36.2-1");
	CHECK_STR(json_string_value(json_object_get(hp.pkg_candidate, "fail2ban")), "1.0.2-2");
	CHECK(json_object_get(hp.pkg_candidate, "sudo") == NULL);
	CHECK_STR(json_string_value(json_object_get(hp.pkg_deps, "libc6")), "2.36-9+deb12u4");
	CHECK(json_object_size(hp.pkg_deps) == 1 && hp.deps_read);
	CHECK_STR(json_string_value(json_object_get(hp.pkg_sim, "python3-systemd")), "235-1+b2");
	/* the next run's output replaces the last one's */
	repro_pkgs_parse(&hp, "@@V fail2ban 1.0.2-2 ii \n", 25);
	CHECK(json_object_size(hp.pkg_installed) == 1);
	CHECK(json_object_get(hp.pkg_installed, "ufw") == NULL);
	CHECK(json_object_size(hp.pkg_deps) == 0 && json_object_size(hp.pkg_sim) == 0);
	CHECK(!hp.deps_read); /* a probe that did not read them says so */
	json_decref(hp.pkg_installed);
	json_decref(hp.pkg_candidate);
	json_decref(hp.pkg_deps);
	json_decref(hp.pkg_sim);
}

/* The shell snippet, run on this (Debian) machine against its own dpkg. */
static void test_versions_sh(void)
{
	struct host_plan hp;
	struct buf sh = BUF_INIT, out = BUF_INIT;
	char line[256];

	plan(&hp, "{ name: [dpkg, pv-no-such-package-here] }", "x");
	repro_versions_sh(&hp, &sh, true);
	char path[] = "/tmp/test-repro-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	fputs(sh.s, f);
	fclose(f);
	char *cmd = xasprintf("sh %s 2>/dev/null", path);
	FILE *p = popen(cmd, "r");
	while (p && fgets(line, sizeof(line), p))
		buf_adds(&out, line);
	CHECK(p && pclose(p) == 0);
	unlink(path);
	free(cmd);
	repro_pkgs_parse(&hp, out.s, out.len);
	FILE *q = popen("dpkg-query -W -f='${Version}' dpkg", "r");
	char want[128] = "";
	CHECK(q && fgets(want, sizeof(want), q));
	if (q)
		pclose(q);
	CHECK_STR(json_string_value(json_object_get(hp.pkg_installed, "dpkg")), want);
	CHECK(json_object_get(hp.pkg_installed, "pv-no-such-package-here") == NULL);
	CHECK(json_object_size(hp.pkg_candidate) == 0);
	/* what dpkg depends on: libc6 (Pre-Depends) and tar (Depends), at their versions */
	for (size_t i = 0; i < 2; i++) {
		const char *dep = i ? "tar" : "libc6";
		char *qc = xasprintf("dpkg-query -W -f='${Version}' %s", dep);
		char have[128] = "";
		q = popen(qc, "r");
		CHECK(q && fgets(have, sizeof(have), q));
		if (q)
			pclose(q);
		CHECK_STR(json_string_value(json_object_get(hp.pkg_deps, dep)), have);
		free(qc);
	}
	CHECK(json_object_get(hp.pkg_deps, "dpkg") == NULL); /* named, not a dependency */
	CHECK(hp.deps_read);
	/* without deps, the snippet reads none */
	buf_reset(&sh);
	repro_versions_sh(&hp, &sh, false);
	CHECK(!strstr(sh.s, "@@DR") && !strstr(sh.s, "Pre-Depends"));
	CHECK(json_object_size(hp.pkg_sim) == 0); /* no simulation without --frozen */
	/* the probe reads them with --frozen, or in a recording run without a record */
	json_t *some = json_object();
	hp.frozen = hp.record = false;
	hp.frozen_deps = NULL;
	CHECK(!repro_probe_reads_deps(&hp)); /* plan: a check run records nothing */
	hp.record = true;
	CHECK(repro_probe_reads_deps(&hp)); /* up, nothing recorded yet */
	hp.frozen_deps = some;
	CHECK(!repro_probe_reads_deps(&hp)); /* up, recorded: the apply reads them */
	hp.frozen = true;
	CHECK(repro_probe_reads_deps(&hp)); /* up --frozen compares them first */
	hp.record = false;
	hp.frozen_deps = NULL;
	CHECK(repro_probe_reads_deps(&hp));
	json_decref(some);
	buf_release(&sh);
	buf_release(&out);
	plan_release(&hp);
}

static void test_frozen(void)
{
	struct host_plan hp;
	struct pv_error err = {{0}};

	plan(&hp, "{ name: [fail2ban, ufw, sudo] }", "x");
	hp.pkg_installed = json_pack("{s:s, s:s}", "ufw", "0.36.2-1", "sudo", "1.9.13p3-1");
	hp.pkg_candidate = json_pack("{s:s}", "fail2ban", "1.0.2-2");

	hp.frozen_pkgs = NULL;
	CHECK(repro_frozen_check(&hp, &err) == -1);
	CHECK_HAS(err.msg, "no package versions are recorded for this host");

	json_t *rec = json_pack("{s:s, s:s, s:s}", "fail2ban", "1.0.2-2", "ufw", "0.36.2-1", "sudo",
	                        "1.9.13p3-1");
	hp.frozen_pkgs = rec;
	CHECK(repro_frozen_check(&hp, &err) == -1);
	CHECK_HAS(err.msg, "no dependency versions are recorded for this host");

	/* dependencies: installed and would-be-installed ones as recorded */
	json_t *deps = json_pack("{s:s, s:s}", "libc6", "2.36-9", "python3-systemd", "235-1");
	hp.frozen_deps = deps;
	hp.pkg_deps = json_pack("{s:s, s:s}", "libc6", "2.36-9", "sudo", "1.9.13p3-1");
	hp.pkg_sim = json_pack("{s:s, s:s}", "python3-systemd", "235-1", "fail2ban", "9.9");
	CHECK(repro_frozen_check(&hp, &err) == 0);
	json_object_set_new(hp.pkg_deps, "libc6", json_string("2.36-10"));
	json_object_set_new(hp.pkg_deps, "libnew1", json_string("1.0"));
	json_object_set_new(hp.pkg_sim, "python3-systemd", json_string("235-2"));
	json_object_set_new(hp.pkg_sim, "whois", json_string("5.5"));
	CHECK(repro_frozen_check(&hp, &err) == -1);
	CHECK_HAS(err.msg, "dependency 'libc6' is 2.36-10 on the host, recorded 2.36-9");
	CHECK_HAS(err.msg, "dependency 'libnew1' is 1.0 on the host and not in the record");
	CHECK_HAS(err.msg,
	          "dependency 'python3-systemd' would be installed at 235-2, recorded 235-1");
	CHECK_HAS(err.msg, "dependency 'whois' would be installed at 5.5 and is not in the record");
	CHECK(!strstr(err.msg, "'fail2ban'")); /* a named one, checked as such */
	CHECK(!strstr(err.msg, "'sudo'"));
	json_object_clear(hp.pkg_deps);
	json_object_clear(hp.pkg_sim);
	CHECK(repro_frozen_check(&hp, &err) == 0);

	json_object_set_new(rec, "fail2ban", json_string("1.0.2-1"));
	json_object_set_new(rec, "sudo", json_string("1.9.13p3-2"));
	json_object_del(rec, "ufw");
	CHECK(repro_frozen_check(&hp, &err) == -1);
	CHECK_HAS(err.msg, "package 'fail2ban' would be installed at 1.0.2-2, recorded 1.0.2-1");
	CHECK_HAS(err.msg, "package 'ufw' has no recorded version");
	CHECK_HAS(err.msg, "package 'sudo' is 1.9.13p3-1 on the host, recorded 1.9.13p3-2");
	CHECK_HAS(err.msg, "nothing was changed");
	/* what passed the check is installed at exactly those versions */
	res_package_pin(&hp.res[0], rec);
	res_package_pin(&hp.res[1], rec); /* not a package: untouched */
	CHECK_STR(hp.res[0].title, "package fail2ban, ufw, sudo");
	size_t n;
	bool present;
	const char *const *names = res_package_names(&hp.res[0], &n, &present);
	CHECK(n == 3 && present);
	CHECK_STR(names[0], "fail2ban=1.0.2-1");
	CHECK_STR(names[1], "ufw"); /* not recorded: left as it is */
	CHECK_STR(names[2], "sudo=1.9.13p3-2");
	json_decref(rec);
	json_decref(deps);
	plan_release(&hp);
}

int main(void)
{
	RUN(test_digests);
	RUN(test_digests_name_addresses);
	RUN(test_parse);
	RUN(test_versions_sh);
	RUN(test_frozen);
	return check_done("repro");
}
