/*
 * test-vars.c - the values a server sees, checked against the built-in
 * roles' declarations whichever layer set them, and reported where they
 * were written: inventory, layout, server, environment override, secret.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "files.h"
#include "provision/buf.h"
#include "provision/vars.h"
#include "render.h"

static char scratch[] = "/tmp/test-vars-XXXXXX";
static struct role_set roles;
static const char *template_dirs[] = {"templates"};
static struct scope facts;

/*
 * Load text as the inventory (environment env), check the names of layout
 * l1 and render server; every message, one per line, the scratch directory
 * cut off.
 */
static char *problems(const char *text, const char *env, const char *server)
{
	char *path = xasprintf("%s/inventory.yml", scratch);
	struct inventory *inv = NULL;
	struct diags d;
	struct buf out = BUF_INIT;

	write_file(path, text);
	diags_init(&d);
	if (inventory_load_env(&inv, path, env, &d) == 0) {
		struct test_renderer t = {inv, env, &roles, template_dirs, 1};
		struct host_plan hp;
		struct diags rd;
		vars_check_names(inv, inventory_layout(inv, "l1"), &roles, true, &d);
		test_render(&t, &hp, &rd, server, &facts, NULL, 0);
		for (size_t i = 0; i < rd.n; i++)
			diags_add(&d, NULL, "%s", rd.msgs[i]);
		diags_release(&rd);
		plan_release(&hp);
	}
	for (size_t i = 0; i < d.n; i++) {
		const char *m = d.msgs[i];
		if (!strncmp(m, path, strlen(path)))
			buf_adds(&out, "inventory.yml");
		buf_addf(&out, "%s\n", !strncmp(m, path, strlen(path)) ? m + strlen(path) : m);
	}
	inventory_free(inv);
	diags_release(&d);
	free(path);
	return buf_detach(&out, NULL);
}

#define HEAD "project: shop\n"

static void test_clean(void)
{
	char *p =
	    problems(HEAD "vars:\n"
	                  "  ssh_max_auth_tries: 4\n"
	                  "  custom: { motd_owner: ops team }\n"
	                  "layouts:\n"
	                  "  l1:\n"
	                  "    servers:\n"
	                  "      app1:\n"
	                  "        roles: [base, ufw]\n"
	                  "        vars: { ufw_allow: [22/tcp, \"5432/tcp from 10.0.0.0/8\"] }\n",
	             NULL, "app1");
	CHECK_STR(p, "");
	free(p);
}

/* The error about a bad ufw rule points at the line the user wrote, not into the role. */
static void test_points_at_the_inventory(void)
{
	char *p = problems(HEAD "layouts:\n"
	                        "  l1:\n"
	                        "    servers:\n"
	                        "      app1:\n"
	                        "        roles: [base, ufw]\n"
	                        "        vars:\n"
	                        "          ufw_allow:\n"
	                        "            - 22/tcp\n"
	                        "            - 70000/tcp\n"
	                        "            - \"80/tcp from 10.0.0.0/99\"\n",
	                   NULL, "app1");
	CHECK_STR(p, "inventory.yml:10:15: variable 'ufw_allow[1]' must be a firewall rule '[on "
	             "IFACE] [PORT[:PORT][/PROTO]] [from CIDR]', not '70000/tcp'\n"
	             "inventory.yml:11:15: variable 'ufw_allow[2]' must be a firewall rule '[on "
	             "IFACE] [PORT[:PORT][/PROTO]] [from CIDR]', not '80/tcp from 10.0.0.0/99' "
	             "(nearest valid value: '80/tcp from 10.0.0.0/32')\n");
	CHECK(!strstr(p, "role.yml"));
	free(p);
}

static void test_unknown_names(void)
{
	char *p = problems(HEAD "vars:\n"
	                        "  postgres_clients: []\n" /* declared by a role of no server */
	                        "layouts:\n"
	                        "  l1:\n"
	                        "    vars: { fail2ban_maxretyr: 3 }\n"
	                        "    servers:\n"
	                        "      app1:\n"
	                        "        roles: [base]\n"
	                        "        vars: { ufw_allow: [22/tcp], server_name: x, hello: 1 }\n",
	                   NULL, "app1");
	CHECK_STR(p,
	          "inventory.yml:10:17: unknown variable 'ufw_allow' in server 'app1': no role "
	          "there declares it (free variables for project roles go under 'custom:')\n"
	          "inventory.yml:10:38: variable 'server_name' in server 'app1' is set by "
	          "provision itself and cannot be set in 'vars'\n"
	          "inventory.yml:10:54: unknown variable 'hello' in server 'app1': no role there "
	          "declares it (free variables for project roles go under 'custom:')\n"
	          "inventory.yml:6:13: unknown variable 'fail2ban_maxretyr' in layout 'l1' (did "
	          "you mean 'fail2ban_maxretry'?)\n"
	          "inventory.yml:3:3: unknown variable 'postgres_clients' in the inventory: no "
	          "role there declares it (free variables for project roles go under "
	          "'custom:')\n");
	free(p);
}

/* Each layer is checked where it is the value the server sees. */
static void test_layers(void)
{
	char *p;

	/* a bad inventory value that the server overrides is not what the server sees */
	p = problems(HEAD "vars: { ssh_max_auth_tries: lots }\n"
	                  "layouts:\n"
	                  "  l1:\n"
	                  "    servers:\n"
	                  "      app1: { roles: [base], vars: { ssh_max_auth_tries: 5 } }\n",
	             NULL, "app1");
	CHECK_STR(p, "");
	free(p);
	p = problems(HEAD "vars: { ssh_max_auth_tries: 5 }\n"
	                  "layouts:\n"
	                  "  l1:\n"
	                  "    vars: { fail2ban_bantime: forever }\n"
	                  "    servers:\n"
	                  "      app1: { roles: [base], vars: { ssh_max_auth_tries: lots } }\n",
	             NULL, "app1");
	CHECK_STR(p,
	          "inventory.yml:7:58: variable 'ssh_max_auth_tries' must be an integer from 1 "
	          "to 20, not 'lots'\n"
	          "inventory.yml:5:31: variable 'fail2ban_bantime' must be a duration like '10m', "
	          "'1h30m' or '3600' (seconds), not 'forever'\n");
	free(p);
}

/* An environment's override is reported at the override. */
static void test_environment(void)
{
	static const char text[] = HEAD "environments:\n"
	                                "  staging:\n"
	                                "    layouts:\n"
	                                "      l1:\n"
	                                "        servers:\n"
	                                "          app1:\n"
	                                "            vars: { ssh_permit_root_login: \"yes\\n\" }\n"
	                                "layouts:\n"
	                                "  l1:\n"
	                                "    servers:\n"
	                                "      app1: { roles: [base] }\n";
	char *p = problems(text, "staging", "app1");

	CHECK_STR(p, "inventory.yml:8:44: variable 'ssh_permit_root_login' must be one of "
	             "'prohibit-password', 'no', 'yes', not 'yes\\n' (nearest valid value: "
	             "'yes')\n");
	free(p);
	p = problems(text, NULL, "app1");
	CHECK_STR(p, "");
	free(p);
}

/* Secrets: the value is checked where it lands, never shown. */
static void test_secrets(void)
{
	char *p;

	setenv("PV_TEST_VARS_PW", "s3cret\nhost all all 0.0.0.0/0 trust", 1);
	setenv("PV_TEST_VARS_KEY", "tskey-abc\nexit 0", 1);
	p = problems(HEAD "secrets:\n"
	                  "  repl: env:PV_TEST_VARS_PW\n"
	                  "  tailscale_auth_key: env:PV_TEST_VARS_KEY\n"
	                  "layouts:\n"
	                  "  l1:\n"
	                  "    servers:\n"
	                  "      db1:\n"
	                  "        roles: [postgres, tailscale]\n"
	                  "        vars: { postgres_replication_password: repl, postgres_users: "
	                  "[{ name: shop, password: nope }] }\n",
	             NULL, "db1");
	CHECK_STR(p, "inventory.yml:10:95: variable 'postgres_users[0].password' names secret "
	             "'nope', which the inventory does not declare under 'secrets'\n"
	             "inventory.yml:3:9: secret 'repl' (variable 'postgres_replication_password') "
	             "must be a single line without control characters; its value is not shown\n"
	             "inventory.yml:4:23: variable 'tailscale_auth_key' must be a single-line "
	             "string without control characters; its value comes from a secret and is not "
	             "shown\n");
	CHECK(!strstr(p, "s3cret") && !strstr(p, "tskey"));
	free(p);
	unsetenv("PV_TEST_VARS_PW");
	unsetenv("PV_TEST_VARS_KEY");
}

static void test_custom(void)
{
	char *p = problems(HEAD "vars:\n"
	                        "  custom:\n"
	                        "    banner: \"hi\\nthere\"\n"
	                        "    ssh_max_auth_tries: 9\n"
	                        "    team: [a, b]\n"
	                        "layouts:\n"
	                        "  l1:\n"
	                        "    servers:\n"
	                        "      app1: { roles: [base], vars: { custom: [x] } }\n",
	                   NULL, "app1");
	CHECK_STR(p, "inventory.yml:10:46: 'custom' in the 'vars' of server 'app1' must be a "
	             "mapping, not a list\n"
	             "inventory.yml:4:13: variable 'banner' must be a single-line string without "
	             "control characters, not 'hi\\nthere'\n"
	             "inventory.yml:5:5: variable 'ssh_max_auth_tries' under 'custom' in the "
	             "inventory is declared by a role or by provision: set it outside 'custom', "
	             "where its type is checked\n");
	free(p);
}

/* Static servers' own keys: typed at load, before any provider runs. */
static void test_server_keys(void)
{
	char *p = problems(HEAD "layouts:\n"
	                        "  l1:\n"
	                        "    provider: static\n"
	                        "    servers:\n"
	                        "      db1:\n"
	                        "        roles: [base]\n"
	                        "        address: 192.0.2.5\n"
	                        "        private_address: \"10.0.0.11$(id>/tmp/x)\"\n"
	                        "        ssh_user: \"-oProxyCommand=sh -c 'id > /tmp/x' #\"\n",
	                   NULL, "db1");
	CHECK_STR(p,
	          "inventory.yml:9:26: 'private_address' of a server must be an IP address like "
	          "'10.0.0.2' or 'fd00::2', not '10.0.0.11$(id>/tmp/x)'\n"
	          "inventory.yml:10:19: 'ssh_user' of a server must be a user name like 'deploy' "
	          "([a-z_][a-z0-9_-]*, at most 32), not '-oProxyCommand=sh -c 'id > /tmp/x' "
	          "#'\n");
	free(p);
}

/* 'layout: true' (redis_tls): every server of the layout with such a role has one value */
static void test_layout_agreement(void)
{
	char *path = xasprintf("%s/inventory.yml", scratch);
	struct inventory *inv = NULL;
	struct diags d;
	struct vars_agree agree;

	write_file(path, HEAD "layouts:\n"
	                      "  l1:\n"
	                      "    servers:\n"
	                      "      lb1: { roles: [haproxy], vars: { redis_tls: true } }\n"
	                      "      lb2: { roles: [haproxy], vars: { redis_tls: yes } }\n"
	                      "      app1: { roles: [base] }\n"
	                      "      lb3: { roles: [haproxy] }\n"
	                      "      lb4: { roles: [haproxy], vars: { redis_tls: false } }\n");
	diags_init(&d);
	vars_agree_init(&agree);
	CHECK(inventory_load_env(&inv, path, NULL, &d) == 0);
	const struct inv_layout *l = inv ? inventory_layout(inv, "l1") : NULL;
	for (size_t i = 0; l && i < l->n_servers; i++) {
		struct test_renderer t = {inv, NULL, &roles, template_dirs, 1};
		const struct inv_server *srv = &l->servers[i];
		struct host_plan hp;
		struct diags rd;
		struct role **rl = NULL;
		size_t nr = 0;
		test_render(&t, &hp, &rd, srv->name, &facts, NULL, 0);
		CHECK(role_closure(&roles, srv->roles, srv->role_pos, srv->n_roles, &rl, &nr,
		                   &rd) == 0);
		vars_agree_add(&agree, l->name, srv->name, &hp.scope, rl, nr, l->pos.file, &d);
		free(rl);
		diags_release(&rd);
		plan_release(&hp);
	}
	/* lb2's yes is lb1's true; app1 has no such role; lb3's default is shown at lb1's
	 * value, lb4's own value at its line */
	CHECK(d.n == 2);
	for (size_t i = 0; i < d.n; i++)
		CHECK(!strncmp(d.msgs[i], path, strlen(path)));
	CHECK(d.n == 2 && strstr(d.msgs[0], "inventory.yml:5:51: variable 'redis_tls' must be the "
	                                    "same on every server of layout 'l1' that uses it: "
	                                    "server 'lb1' has true, server 'lb3' has false"));
	CHECK(d.n == 2 && strstr(d.msgs[1], "inventory.yml:9:51: variable 'redis_tls' must be the "
	                                    "same on every server of layout 'l1' that uses it: "
	                                    "server 'lb1' has true, server 'lb4' has false"));
	for (size_t i = 0; i < d.n; i++)
		printf("  %s\n", d.msgs[i]);
	vars_agree_release(&agree);
	inventory_free(inv);
	diags_release(&d);
	free(path);
}

int main(void)
{
	make_scratch(scratch);
	role_set_init(&roles);
	role_set_add_dir(&roles, "roles"); /* the built-in ones */
	scope_init(&facts);
	scope_set_str(&facts, "container", "true");
	scope_set_str(&facts, "address", "192.0.2.10");
	scope_set_str(&facts, "private_address", "192.0.2.10");
	scope_set_str(&facts, "private_network", "192.0.2.0/24");
	scope_set_str(&facts, "os_id", "debian");
	RUN(test_clean);
	RUN(test_points_at_the_inventory);
	RUN(test_unknown_names);
	RUN(test_layers);
	RUN(test_environment);
	RUN(test_secrets);
	RUN(test_custom);
	RUN(test_server_keys);
	RUN(test_layout_agreement);
	scope_release(&facts);
	role_set_release(&roles);
	char *cmd = xasprintf("rm -rf %s", scratch);
	if (system(cmd) != 0)
		printf("cleanup failed: %s\n", cmd);
	free(cmd);
	return check_done("vars");
}
