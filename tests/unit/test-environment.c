/*
 * test-environment.c - environments in the inventory: overrides merged
 * into the layouts with their positions, every environment checked, and
 * an undeclared name refused with the nearest one.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "provision/environment.h"
#include "provision/inventory.h"

static char *tmp_path;

static int load_env(struct inventory **inv, const char *text, const char *env, struct diags *d)
{
	char tmpl[] = "/tmp/test-environment-XXXXXX";
	int fd = mkstemp(tmpl);
	size_t len = strlen(text);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		exit(2);
	close(fd);
	free(tmp_path);
	tmp_path = xstrdup(tmpl);
	diags_init(d);
	int rc = inventory_load_env(inv, tmp_path, env, d);
	unlink(tmp_path);
	return rc;
}

/* The d->msgs[i] without the file name: "line:col: text". */
static const char *msg(const struct diags *d, size_t i)
{
	const char *m = i < d->n ? d->msgs[i] : NULL;
	size_t l = tmp_path ? strlen(tmp_path) : 0;

	if (m && l && !strncmp(m, tmp_path, l) && m[l] == ':')
		return m + l + 1;
	return m;
}

static const char base[] = "project: shop\n" /* 1 */
                           "vars: { domain: shop.example.com, tier: prod }\n" /* 2 */
                           "secrets: { db_password: env:PROD_DB }\n" /* 3 */
                           "providers: { local: { subnet: 10.213.7.0/24 } }\n" /* 4 */
                           "environments:\n" /* 5 */
                           "  production: {}\n" /* 6 */
                           "  staging:\n" /* 7 */
                           "    description: a copy\n" /* 8 */
                           "    vars: { domain: staging.example.com }\n" /* 9 */
                           "    secrets: { db_password: env:STAGING_DB }\n" /* 10 */
                           "    providers: { local: { subnet: 10.213.9.0/24 } }\n" /* 11 */
                           "    layouts:\n" /* 12 */
                           "      phase2:\n" /* 13 */
                           "        vars: { replicas: 1 }\n" /* 14 */
                           "        servers:\n" /* 15 */
                           "          web1: { type: cx22, vars: { weight: 2 } }\n" /* 16 */
                           "          web3: ~\n" /* 17 */
                           "          web9: { roles: [base] }\n" /* 18 */
                           "layouts:\n" /* 19 */
                           "  phase2:\n" /* 20 */
                           "    vars: { replicas: 2, lb: haproxy }\n" /* 21 */
                           "    servers:\n" /* 22 */
                           "      web1: { roles: [base, ufw], type: cx32, vars: { weight: 1, "
                           "zone: a } }\n" /* 23 */
                           "      web2: { roles: [base, ufw] }\n" /* 24 */
                           "      web3: { roles: [base, ufw] }\n" /* 25 */
                           "default_environment: production\n"; /* 26 */

static const char *scalar(const struct node *map, const char *key)
{
	const struct node *v = node_get(map, key);

	return v && v->kind == NODE_SCALAR ? v->scalar : NULL;
}

static void test_as_written(void)
{
	struct inventory *inv;
	struct diags d;

	/* without -e: the environment default_environment names */
	CHECK(load_env(&inv, base, NULL, &d) == 0);
	CHECK(d.n == 0);
	CHECK_STR(inv->env, "production");
	inventory_free(inv);
	diags_release(&d);
	CHECK(load_env(&inv, base, "default", &d) == 0);
	CHECK_STR(inv->env, "default");
	const struct inv_layout *l = inventory_layout(inv, "phase2");
	CHECK(l && l->n_servers == 3);
	CHECK_STR(scalar(inv->vars, "domain"), "shop.example.com");
	inventory_free(inv);
	diags_release(&d);
	CHECK(load_env(&inv, base, "production", &d) == 0);
	CHECK_STR(inv->env, "production");
	CHECK(inventory_layout(inv, "phase2")->n_servers == 3);
	inventory_free(inv);
	diags_release(&d);
}

static void test_overrides(void)
{
	struct inventory *inv;
	struct diags d;

	CHECK(load_env(&inv, base, "staging", &d) == 0);
	CHECK(d.n == 0);
	CHECK_STR(inv->env, "staging");
	/* vars merge key by key */
	CHECK_STR(scalar(inv->vars, "domain"), "staging.example.com");
	CHECK_STR(scalar(inv->vars, "tier"), "prod");
	CHECK(node_get(inv->vars, "domain")->pos.line == 9);
	CHECK_STR(scalar(inv->secrets, "db_password"), "env:STAGING_DB");
	CHECK_STR(scalar(inventory_provider(inv, "local"), "subnet"), "10.213.9.0/24");
	const struct inv_layout *l = inventory_layout(inv, "phase2");
	CHECK_STR(scalar(l->vars, "replicas"), "1");
	CHECK_STR(scalar(l->vars, "lb"), "haproxy");
	/* a server left out, one added, one changed */
	CHECK(l->n_servers == 3);
	CHECK(layout_server(l, "web3") == NULL);
	CHECK(layout_server(l, "web2") != NULL);
	const struct inv_server *w9 = layout_server(l, "web9");
	CHECK(w9 && w9->n_roles == 1 && w9->pos.line == 18);
	const struct inv_server *w1 = layout_server(l, "web1");
	CHECK(w1 && w1->n_roles == 2);
	CHECK_STR(scalar(w1->node, "type"), "cx22");
	CHECK(node_get(w1->node, "type")->pos.line == 16);
	CHECK_STR(scalar(w1->vars, "weight"), "2");
	CHECK_STR(scalar(w1->vars, "zone"), "a");
	inventory_free(inv);
	diags_release(&d);
}

static void test_unknown(void)
{
	struct inventory *inv;
	struct diags d;

	CHECK(load_env(&inv, base, "stagign", &d) == -1);
	CHECK(inv == NULL);
	CHECK(d.n == 1);
	CHECK_STR(msg(&d, 0), "5:1: unknown environment 'stagign' (did you mean 'staging'?)");
	diags_release(&d);
	CHECK(load_env(&inv, base, "qa", &d) == -1);
	CHECK_STR(msg(&d, 0), "5:1: unknown environment 'qa' (environments: production, staging)");
	diags_release(&d);
	CHECK(load_env(&inv, "project: p\nlayouts: { l: { servers: { a: { roles: [base] } } } }\n",
	               "staging", &d) == -1);
	CHECK_HAS(msg(&d, 0),
	          "unknown environment 'staging': the inventory declares no environments");
	diags_release(&d);
}

static void test_bad_overrides(void)
{
	static const char text[] = "project: shop\n" /* 1 */
	                           "environments:\n" /* 2 */
	                           "  staging:\n" /* 3 */
	                           "    varz: {}\n" /* 4 */
	                           "    layouts:\n" /* 5 */
	                           "      phase3: {}\n" /* 6 */
	                           "      phase1:\n" /* 7 */
	                           "        servers:\n" /* 8 */
	                           "          app1: { rols: [x] }\n" /* 9 */
	                           "          app7: ~\n" /* 10 */
	                           "          app2: [1]\n" /* 11 */
	                           "  Bad_Name: {}\n" /* 12 */
	                           "  qa: { vars: [1] }\n" /* 13 */
	                           "layouts:\n" /* 14 */
	                           "  phase1:\n" /* 15 */
	                           "    servers:\n" /* 16 */
	                           "      app1: { roles: [base] }\n"; /* 17 */
	struct inventory *inv;
	struct diags d;

	/* every environment is checked, even when another one is selected */
	CHECK(load_env(&inv, text, NULL, &d) == -1);
	CHECK(d.n == 6);
	CHECK_STR(msg(&d, 0),
	          "4:5: unknown key 'varz' in environment 'staging' (did you mean 'vars'?)");
	CHECK_STR(msg(&d, 1), "6:7: environment 'staging' overrides layout 'phase3', which the "
	                      "inventory does not have (did you mean 'phase1'?)");
	CHECK_STR(msg(&d, 2), "10:11: environment 'staging' removes server 'app7', which layout "
	                      "'phase1' does not have (did you mean 'app1'?)");
	CHECK_STR(msg(&d, 3),
	          "11:17: server 'app2' in layout 'phase1' of environment 'staging' must "
	          "be a mapping of overrides, or ~ to leave it out, not a list");
	CHECK_HAS(msg(&d, 4), "12:3: invalid environment name 'Bad_Name'");
	CHECK_STR(msg(&d, 5), "13:15: 'vars' in environment 'qa' must be a mapping, not a list");
	diags_release(&d);

	/* a merged server is checked as a server, at the override's position */
	static const char text2[] = "project: shop\n" /* 1 */
	                            "environments:\n" /* 2 */
	                            "  staging:\n" /* 3 */
	                            "    layouts:\n" /* 4 */
	                            "      phase1:\n" /* 5 */
	                            "        servers:\n" /* 6 */
	                            "          app1: { rols: [x] }\n" /* 7 */
	                            "          app2: { vars: { a: 1 } }\n" /* 8 */
	                            "layouts:\n" /* 9 */
	                            "  phase1:\n" /* 10 */
	                            "    servers:\n" /* 11 */
	                            "      app1: { roles: [base] }\n"; /* 12 */
	CHECK(load_env(&inv, text2, NULL, &d) == -1);
	CHECK(d.n == 2);
	CHECK_STR(msg(&d, 0), "7:19: unknown key 'rols' in server 'app1' (did you mean 'roles'?)");
	CHECK_STR(msg(&d, 1), "8:11: missing key 'roles' in server 'app2'");
	diags_release(&d);
	CHECK(load_env(&inv, text2, "staging", &d) == -1);
	CHECK(d.n == 2);
	diags_release(&d);
}

static void test_default_environment(void)
{
	static const char ambiguous[] = "project: shop\n" /* 1 */
	                                "environments:\n" /* 2 */
	                                "  production: {}\n" /* 3 */
	                                "  qa: { description: just a name }\n" /* 4 */
	                                "  staging: { vars: { a: 1 } }\n" /* 5 */
	                                "layouts: { l: { servers: { a: { roles: [base] } } } }\n";
	struct inventory *inv;
	struct diags d;

	/* an environment without overrides is a second name for the layouts as written */
	CHECK(load_env(&inv, ambiguous, NULL, &d) == -1);
	CHECK(d.n == 2);
	CHECK_HAS(msg(&d, 0), "3:3: environment 'production' has no overrides, so it is the "
	                      "layouts as written under a second name");
	CHECK_HAS(msg(&d, 0), "set 'default_environment: production'");
	CHECK_HAS(msg(&d, 1), "4:3: environment 'qa' has no overrides");
	diags_release(&d);

	/* named as the default, it is what commands without -e use; qa is then a copy */
	char *text = xasprintf("default_environment: production\n%s", ambiguous);
	CHECK(load_env(&inv, text, NULL, &d) == 0);
	CHECK(d.n == 0);
	CHECK_STR(inv ? inv->env : "", "production");
	inventory_free(inv);
	diags_release(&d);
	free(text);

	text = xasprintf("default_environment: prod\n%s", ambiguous);
	CHECK(load_env(&inv, text, NULL, &d) == -1);
	CHECK_HAS(msg(&d, 0), "1:22: default_environment 'prod' is not under 'environments'");
	diags_release(&d);
	free(text);
	text = xasprintf("default_environment: default\n%s", ambiguous);
	CHECK(load_env(&inv, text, NULL, &d) == -1);
	CHECK_HAS(msg(&d, 0), "1:22: 'default_environment' must name an environment");
	diags_release(&d);
	free(text);
}

static void test_names(void)
{
	CHECK(env_name_valid("staging"));
	CHECK(env_name_valid("pr-42"));
	CHECK(!env_name_valid(""));
	CHECK(!env_name_valid("Prod"));
	CHECK(!env_name_valid("1st"));
	CHECK(!env_name_valid("a_b"));
	CHECK(!env_name_valid("abcdefghijklmnopqrstuvwxy")); /* 25 */
}

int main(void)
{
	RUN(test_as_written);
	RUN(test_overrides);
	RUN(test_unknown);
	RUN(test_bad_overrides);
	RUN(test_default_environment);
	RUN(test_names);
	free(tmp_path);
	return check_done("environment");
}
