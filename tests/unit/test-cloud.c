/*
 * test-cloud.c - what the cloud providers share: the cloud-init document
 * read back by a YAML parser, public key comparison, firewall ports,
 * snapshot names, times and retention, the snapshot_keep setting (the
 * provider's and a layout's), provider_backups.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "provision/cloud.h"
#include "provision/inventory.h"
#include "provision/keys.h"
#include "provision/node.h"
#include "provision/role.h"
#include "provision/volume.h"

static const char *scalar(const struct node *map, const char *key)
{
	const struct node *v = node_get(map, key);

	return v && v->kind == NODE_SCALAR ? v->scalar : NULL;
}

static void test_user_data_round_trip(void)
{
	char *priv = NULL, *pub = NULL, *ud;
	struct pv_error err = {{0}};
	struct node *doc = NULL;

	CHECK(keygen_ed25519(&priv, &pub, "root@app1", &err) == 0);
	ud = cloud_user_data("app1", "admin", "ssh-ed25519 AAAAC3Nza operator \"x\"\\y", priv, pub);
	CHECK(!strncmp(ud, "#cloud-config\n", 14));
	CHECK(node_load_string(&doc, "user_data", ud, strlen(ud), &err) == 0);
	CHECK_STR(scalar(doc, "hostname"), "app1");
	CHECK_STR(scalar(doc, "ssh_pwauth"), "false");
	CHECK_STR(scalar(doc, "ssh_deletekeys"), "true");
	const struct node *gen = node_get(doc, "ssh_genkeytypes");
	CHECK(gen && gen->kind == NODE_SEQ && gen->n == 0);
	const struct node *users = node_get(doc, "users");
	CHECK(users && users->kind == NODE_SEQ && users->n == 1);
	if (users && users->n == 1) {
		const struct node *u = users->items[0];
		CHECK_STR(scalar(u, "name"), "admin");
		CHECK_STR(scalar(u, "sudo"), "ALL=(ALL) NOPASSWD:ALL");
		CHECK_STR(scalar(u, "lock_passwd"), "true");
		const struct node *keys = node_get(u, "ssh_authorized_keys");
		CHECK(keys && keys->kind == NODE_SEQ && keys->n == 1);
		if (keys && keys->n == 1)
			CHECK_STR(keys->items[0]->scalar,
			          "ssh-ed25519 AAAAC3Nza operator \"x\"\\y");
	}
	const struct node *hk = node_get(doc, "ssh_keys");
	/* the private key comes back byte for byte, final newline included */
	CHECK_STR(scalar(hk, "ed25519_private"), priv);
	CHECK_STR(scalar(hk, "ed25519_public"), pub);
	node_free(doc);
	pv_free_secret(ud);
	pv_free_secret(priv);
	free(pub);
}

static void test_user_data_root(void)
{
	char *ud = cloud_user_data("db1", "root", "ssh-ed25519 AAAA k", "PRIV\n", "ssh-ed25519 B");
	struct pv_error err = {{0}};
	struct node *doc = NULL;

	CHECK(node_load_string(&doc, "user_data", ud, strlen(ud), &err) == 0);
	CHECK(node_get(doc, "users") == NULL); /* root's key comes from the provider's SSH key */
	CHECK_STR(scalar(node_get(doc, "ssh_keys"), "ed25519_private"), "PRIV\n");
	node_free(doc);
	pv_free_secret(ud);
}

static void test_same_key(void)
{
	CHECK(cloud_same_key("ssh-ed25519 AAAA one", "ssh-ed25519 AAAA other comment"));
	CHECK(cloud_same_key("ssh-ed25519 AAAA", "ssh-ed25519 AAAA\n"));
	CHECK(!cloud_same_key("ssh-ed25519 AAAA", "ssh-ed25519 AAAB"));
	CHECK(!cloud_same_key("ssh-ed25519 AAAA", "ssh-ed25519 AAAAB"));
	CHECK(!cloud_same_key("ssh-rsa AAAA", "ssh-ed25519 AAAA"));
	CHECK(!cloud_same_key(NULL, "ssh-ed25519 AAAA"));
	CHECK(!cloud_same_key("", ""));
}

static void test_firewall_ports(void)
{
	struct inventory inv = {.ssh_port = 2222};
	struct inv_layout l = {.name = "phase1"};
	struct provider_ctx c = {.inv = &inv, .layout = &l};
	struct cloud_port p[8];
	size_t n = cloud_firewall_ports(&c, p, PV_ARRAY_SIZE(p));

	CHECK(n == 3);
	CHECK(p[0].port == 2222 && !strcmp(p[0].proto, "tcp") && !p[0].private_only);
	CHECK(p[1].port == 80 && p[2].port == 443);
	inv.ssh_port = 443; /* not twice */
	CHECK(cloud_firewall_ports(&c, p, PV_ARRAY_SIZE(p)) == 2);
	CHECK(cloud_firewall_ports(&c, p, 1) == 1);
}

/* The ports roles declare, in every form a role may write them. */
static void test_firewall_role_ports(void)
{
	char dir[] = "/tmp/test-cloud.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char *rdir = xasprintf("%s/db", dir);
	char *rfile = xasprintf("%s/role.yml", rdir);
	CHECK(mkdir(rdir, 0755) == 0);
	FILE *f = fopen(rfile, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs("ports: [\"5432/tcp private\", \"8000:8100/tcp\", \"on tailscale0\", "
	      "\"53/udp\", \"9000/tcp private\", \"9000/tcp\"]\n",
	      f);
	fclose(f);

	struct role_set rs;
	role_set_init(&rs);
	role_set_add_dir(&rs, dir);
	char *roles[] = {"db"};
	struct pos rp[] = {{"inventory.yml", 1, 1}};
	struct inv_server srv = {.name = "db1", .roles = roles, .role_pos = rp, .n_roles = 1};
	struct inventory inv = {.ssh_port = 22};
	struct inv_layout l = {.name = "phase2", .servers = &srv, .n_servers = 1};
	struct provider_ctx c = {.inv = &inv, .layout = &l, .roles = &rs};
	struct cloud_port p[16];
	size_t n = cloud_firewall_ports(&c, p, PV_ARRAY_SIZE(p));

	/* 22, 80, 443, then 5432 (private), 8000-8100, 53/udp, 9000 (open wins) */
	CHECK(n == 7);
	if (n == 7) {
		CHECK(p[3].port == 5432 && p[3].port_end == 5432 && p[3].private_only);
		CHECK(p[4].port == 8000 && p[4].port_end == 8100 && !p[4].private_only);
		CHECK(p[5].port == 53 && !strcmp(p[5].proto, "udp"));
		CHECK(p[6].port == 9000 && !p[6].private_only);
	}
	/* the server's ports as rendered with its variables replace those as written */
	char *rendered[] = {"6432/tcp private", "8443/tcp"};
	char **per_server[] = {rendered};
	size_t n_per_server[] = {2};
	c.server_ports = per_server;
	c.n_server_ports = n_per_server;
	n = cloud_firewall_ports(&c, p, PV_ARRAY_SIZE(p));
	CHECK(n == 5);
	if (n == 5) {
		CHECK(p[3].port == 6432 && p[3].private_only);
		CHECK(p[4].port == 8443 && !p[4].private_only);
	}
	role_set_release(&rs);
	unlink(rfile);
	rmdir(rdir);
	rmdir(dir);
	free(rfile);
	free(rdir);
}

static void test_snapshot_time(void)
{
	CHECK(cloud_time("1970-01-01T00:00:00Z") == 0);
	CHECK(cloud_time("2026-12-06T13:45:01Z") == 1796564701LL);
	/* Hetzner writes +00:00; fractions of a second are dropped */
	CHECK(cloud_time("2026-12-06T13:45:01+00:00") == 1796564701LL);
	CHECK(cloud_time("2026-12-06T14:45:01+01:00") == 1796564701LL);
	CHECK(cloud_time("2026-12-06T13:45:01.734Z") == 1796564701LL);
	CHECK(cloud_time("2026-12-06T13:45:01") == -1);
	CHECK(cloud_time("yesterday") == -1);
	CHECK(cloud_time(NULL) == -1);
}

static void test_snapshot_name(void)
{
	struct inventory inv = {.project = "shop"};
	struct inv_layout l = {.name = "phase1"};
	struct provider_ctx c = {.inv = &inv, .layout = &l, .env = "default"};
	char *n = cloud_snapshot_name(&c, "app1", 1796564701LL);

	CHECK_STR(n, "shop-default-phase1-app1-20261206-134501");
	/* the names the tool gives are how DigitalOcean snapshots are known as its own */
	CHECK(cloud_snapshot_named(&c, "app1", n));
	CHECK(cloud_snapshot_named(&c, "app1", "shop-default-phase1-app1-19991231-235959"));
	CHECK(!cloud_snapshot_named(&c, "app2", n));
	CHECK(!cloud_snapshot_named(&c, "app", n));
	CHECK(!cloud_snapshot_named(&c, "app1", "shop-default-phase1-app1-20261206-13450"));
	CHECK(!cloud_snapshot_named(&c, "app1", "shop-default-phase1-app1-20261206-1345011"));
	CHECK(!cloud_snapshot_named(&c, "app1", "shop-default-phase1-app1-20261206x134501"));
	CHECK(!cloud_snapshot_named(&c, "app1", "shop-default-phase1-app1-2026120a-134501"));
	CHECK(!cloud_snapshot_named(&c, "app1", "shop-staging-phase1-app1-20261206-134501"));
	CHECK(!cloud_snapshot_named(&c, "app1", "app1 before the upgrade"));
	CHECK(!cloud_snapshot_named(&c, "app1", NULL));
	free(n);
}

/* The ids of arr, "1,2,3". */
static char *ids(const json_t *arr)
{
	struct buf b = BUF_INIT;
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
	{
		buf_addf(&b, "%s%lld", i ? "," : "",
		         (long long)json_integer_value(json_object_get(v, "id")));
	}
	return b.s ? b.s : xstrdup("");
}

static void test_snapshot_excess(void)
{
	/* listed in no order; two made in the same second are told apart by id */
	json_t *mine = json_pack(
	    "[{s:i, s:s}, {s:i, s:s}, {s:i, s:s}, {s:i, s:s}, {s:i, s:s}]", "id", 7, "created",
	    "2026-12-06T10:00:00+00:00", "id", 3, "created", "2026-12-01T10:00:00Z", "id", 9,
	    "created", "2026-12-06T10:00:00Z", "id", 5, "created", "2026-12-06T09:00:00+00:00",
	    "id", 4, "created", "2026-12-06T10:30:00+01:00");
	json_t *x;
	char *s;

	x = cloud_snapshots_excess(mine, 2);
	s = ids(x);
	CHECK_STR(s, "3,5,4"); /* 4 is 09:30Z, after 5 */
	free(s);
	json_decref(x);
	x = cloud_snapshots_excess(mine, 5);
	CHECK(json_array_size(x) == 0);
	json_decref(x);
	x = cloud_snapshots_excess(mine, 9);
	CHECK(json_array_size(x) == 0);
	json_decref(x);
	x = cloud_snapshots_excess(mine, 1);
	s = ids(x);
	CHECK_STR(s, "3,5,4,7");
	free(s);
	json_decref(x);
	/* the list given is left as it was */
	s = ids(mine);
	CHECK_STR(s, "7,3,9,5,4");
	free(s);
	cloud_snapshots_sort(mine);
	s = ids(mine);
	CHECK_STR(s, "3,5,4,7,9");
	free(s);
	json_decref(mine);
}

/* What a provider answers, as provider.h describes a snapshot. */
static void test_snapshot_entry(void)
{
	json_t *img = json_pack("{s:i, s:s, s:s, s:f}", "id", 42, "name", "n", "created",
	                        "2026-12-06T13:45:01Z", "image_size", 0.5);
	json_t *e = cloud_snapshot_entry(img, "image_size", "app1", "made");
	char *s = json_dumps(e, JSON_SORT_KEYS | JSON_COMPACT);

	CHECK_STR(s, "{\"created\":\"2026-12-06T13:45:01Z\",\"host\":\"app1\",\"id\":42,"
	             "\"name\":\"n\",\"size_gb\":0.5,\"state\":\"made\"}");
	free(s);
	json_decref(e);
	/* a size not known yet (an image being made) is null, never 0 */
	json_object_set_new(img, "image_size", json_null());
	e = cloud_snapshot_entry(img, "image_size", "app1", "listed");
	CHECK(json_is_null(json_object_get(e, "size_gb")));
	json_decref(e);
	json_decref(img);
}

/* snapshot_keep is a whole number from 1, checked with its position. */
static void test_snapshot_keep_setting(void)
{
	static const char *const bad[] = {"0", "seven", "2.5", "[3]", "-1", "1001"};
	char path[] = "/tmp/test-cloud-inv.XXXXXX";

	for (size_t i = 0; i < PV_ARRAY_SIZE(bad) + 1; i++) {
		int fd = mkstemp(path);
		CHECK(fd >= 0);
		if (fd < 0)
			return;
		char *text = xasprintf("project: shop\n"
		                       "providers:\n"
		                       "  hetzner:\n"
		                       "    snapshot_keep: %s\n"
		                       "layouts:\n"
		                       "  phase1:\n"
		                       "    provider: hetzner\n"
		                       "    servers: { app1: { roles: [base] } }\n",
		                       i < PV_ARRAY_SIZE(bad) ? bad[i] : "7");
		CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
		close(fd);
		struct inventory *inv = NULL;
		struct diags d;
		diags_init(&d);
		CHECK(inventory_load(&inv, path, &d) == 0);
		if (inv) {
			diags_release(&d);
			diags_init(&d);
			provider_hetzner.validate(inv, &inv->layouts[0],
			                          inventory_provider(inv, "hetzner"), &d);
			if (i < PV_ARRAY_SIZE(bad)) {
				char *want = xasprintf("%s:4:20: 'snapshot_keep' must be a whole "
				                       "number from 1 to 1000",
				                       path);
				CHECK(d.n == 1);
				if (d.n)
					CHECK_STR(d.msgs[0], want);
				free(want);
			} else {
				CHECK(d.n == 0);
			}
			inventory_free(inv);
		}
		diags_release(&d);
		unlink(path);
		free(text);
		strcpy(path, "/tmp/test-cloud-inv.XXXXXX");
	}
}

/* The inventory text, loaded from a file of its own (path, removed by the caller). */
static struct inventory *load_text(const char *text, char *path)
{
	struct inventory *inv = NULL;
	struct diags d;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	if (fd < 0)
		return NULL;
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	diags_init(&d);
	CHECK(inventory_load(&inv, path, &d) == 0);
	for (size_t i = 0; i < d.n; i++)
		fprintf(stderr, "  %s\n", d.msgs[i]);
	diags_release(&d);
	return inv;
}

/*
 * The provider's validation of layout i of inv (loaded from path) says
 * exactly want: "LINE:COL: message" lines, each after path and ':'.
 */
static void check_validated(struct inventory *inv, size_t i, const char *path, const char *want)
{
	const struct provider_ops *p = provider_find(inv->layouts[i].provider);
	struct diags d;
	struct buf got = BUF_INIT, exp = BUF_INIT;

	diags_init(&d);
	p->validate(inv, &inv->layouts[i], inventory_provider(inv, p->name), &d);
	for (size_t k = 0; k < d.n; k++)
		buf_addf(&got, "%s\n", d.msgs[k]);
	for (const char *q = want; *q;) {
		size_t l = strcspn(q, "\n");
		buf_addf(&exp, "%s:%.*s\n", path, (int)l, q);
		q += l + (q[l] == '\n');
	}
	CHECK_STR(got.s ? got.s : "", exp.s ? exp.s : "");
	diags_release(&d);
	buf_release(&got);
	buf_release(&exp);
}

/* A layout's snapshot_keep wins over the provider's, typed and placed like it. */
static void test_layout_snapshot_keep(void)
{
	char path[] = "/tmp/test-cloud-inv.XXXXXX";
	struct inventory *inv = load_text("project: shop\n"
	                                  "providers:\n"
	                                  "  hetzner: { snapshot_keep: 3 }\n"
	                                  "layouts:\n"
	                                  "  phase1:\n"
	                                  "    provider: hetzner\n"
	                                  "    snapshot_keep: 5\n"
	                                  "    servers: { app1: { roles: [base] } }\n"
	                                  "  phase2:\n"
	                                  "    provider: hetzner\n"
	                                  "    servers: { web1: { roles: [base] } }\n"
	                                  "  phase3:\n"
	                                  "    provider: hetzner\n"
	                                  "    snapshot_keep: 1001\n"
	                                  "    servers: { db1: { roles: [base] } }\n"
	                                  "  lab:\n"
	                                  "    provider: local\n"
	                                  "    snapshot_keep: 2\n"
	                                  "    servers: { box1: { roles: [base] } }\n",
	                                  path);
	if (!inv)
		return;
	struct provider_ctx c = {.inv = inv, .settings = inventory_provider(inv, "hetzner")};
	c.layout = &inv->layouts[0];
	CHECK(cloud_snapshot_keep(&c) == 5);
	c.layout = &inv->layouts[1];
	CHECK(cloud_snapshot_keep(&c) == 3);
	c.settings = NULL;
	CHECK(cloud_snapshot_keep(&c) == 0);
	check_validated(inv, 0, path, "");
	check_validated(inv, 2, path,
	                "14:20: 'snapshot_keep' of layout 'phase3' must be a whole number from 1 "
	                "to 1000");
	check_validated(inv, 3, path,
	                "18:20: 'snapshot_keep' of layout 'lab' means nothing to provider "
	                "'local', which has no snapshots");
	inventory_free(inv);
	unlink(path);
}

/* provider_backups: a boolean, absent left alone; its plan line; refused off the clouds. */
static void test_provider_backups(void)
{
	char path[] = "/tmp/test-cloud-inv.XXXXXX";
	struct inventory *inv =
	    load_text("project: shop\n"
	              "layouts:\n"
	              "  phase1:\n"
	              "    provider: digitalocean\n"
	              "    servers:\n"
	              "      app1: { roles: [base], provider_backups: true }\n"
	              "      app2: { roles: [base], provider_backups: false }\n"
	              "      app3: { roles: [base] }\n"
	              "      app4: { roles: [base], provider_backups: on }\n"
	              "  phase2:\n"
	              "    provider: hetzner\n"
	              "    servers:\n"
	              "      web1: { roles: [base], provider_backups: \"true\" }\n"
	              "      web2: { roles: [base], provider_backups: [1] }\n"
	              "  lab:\n"
	              "    provider: static\n"
	              "    servers:\n"
	              "      box1: { roles: [base], address: 192.0.2.1,\n"
	              "              host_key: \"ssh-ed25519 "
	              "AAAAC3NzaC1lZDI1NTE5AAAAIPmQ3Dqq7IHx1KSQP0n1OVQuuAXDwSWl5"
	              "rURhB/Xn0jv\",\n"
	              "              provider_backups: true }\n",
	              path);
	struct buf plan = BUF_INIT;

	if (!inv)
		return;
	const struct inv_server *sv = inv->layouts[0].servers;
	CHECK(cloud_server_backups(&sv[0]) == 1);
	CHECK(cloud_server_backups(&sv[1]) == 0);
	CHECK(cloud_server_backups(&sv[2]) == -1);
	CHECK(cloud_server_backups(&sv[3]) == 1);
	for (size_t i = 0; i < 4; i++) {
		cloud_plan_backups(&sv[i], "droplet", false, &plan);
		cloud_plan_backups(&sv[i], "droplet", true, &plan);
	}
	CHECK_STR(plan.s ? plan.s : "",
	          "  ~ cloud: droplet app1: the provider's backups off -> on\n"
	          "  ~ cloud: droplet app2: the provider's backups on -> off\n"
	          "  ~ cloud: droplet app4: the provider's backups off -> on\n");
	buf_release(&plan);
	check_validated(inv, 0, path, "");
	check_validated(inv, 1, path,
	                "13:48: 'provider_backups' of server 'web1' must be a boolean, not the "
	                "quoted string 'true'\n"
	                "14:48: 'provider_backups' of server 'web2' must be a boolean, not a list");
	check_validated(inv, 2, path,
	                "20:33: 'provider_backups' of server 'box1' means nothing to provider "
	                "'static', which has no backups of its own");
	inventory_free(inv);
	unlink(path);
}

/* A server key of a cloud, or of another provider, is an error where it means nothing. */
static void test_unused_server_keys(void)
{
	char path[] = "/tmp/test-cloud-inv.XXXXXX";
	struct inventory *inv = load_text(
	    "project: shop\n"
	    "layouts:\n"
	    "  lab:\n"
	    "    provider: local\n"
	    "    servers:\n"
	    "      box1: { roles: [base], type: cx22, volumes: [{ name: d, size: 10 }] }\n"
	    "      box2: { roles: [base], memory: 2G }\n"
	    "  metal:\n"
	    "    provider: static\n"
	    "    servers:\n"
	    "      m1: { roles: [base], address: 192.0.2.1, container: true,\n"
	    "            host_key: \"ssh-ed25519 "
	    "AAAAC3NzaC1lZDI1NTE5AAAAIPmQ3Dqq7IHx1KSQP0n1OVQuuAXDwSWl5"
	    "rURhB/Xn0jv\",\n"
	    "            image: debian-12, cpus: 2 }\n",
	    path);

	if (!inv)
		return;
	check_validated(inv, 0, path,
	                "6:36: 'type' of server 'box1' means nothing to provider 'local' (its "
	                "keys: roles, vars)\n"
	                "6:51: 'volumes' of server 'box1' means nothing to provider 'local' "
	                "(its keys: roles, vars)\n"
	                "7:38: 'memory' of server 'box2' means nothing to provider 'local' (its "
	                "keys: roles, vars)");
	check_validated(inv, 1, path,
	                "13:20: 'image' of server 'm1' means nothing to provider 'static' (its "
	                "keys: address, host_key, private_address, ssh_user, container)\n"
	                "13:37: 'cpus' of server 'm1' means nothing to provider 'static' (its "
	                "keys: address, host_key, private_address, ssh_user, container)");
	inventory_free(inv);
	unlink(path);
}

/* lb_pair: an enum, a pair of keepalived servers each with an API token, no load balancer too. */
static void test_lb_pair(void)
{
	char path[] = "/tmp/test-cloud-inv.XXXXXX";
	struct inventory *inv = load_text(
	    "project: shop\n"
	    "secrets: { tok: env:PV_TEST_TOKEN }\n"
	    "vars: { keepalived_api_token: tok }\n"
	    "providers:\n"
	    "  hetzner: { load_balancer: { targets: [w1] } }\n"
	    "layouts:\n"
	    "  a:\n"
	    "    provider: hetzner\n"
	    "    lb_pair: floating_ip\n"
	    "    servers: { lb1: { roles: [keepalived] }, lb2: { roles: [keepalived] } }\n"
	    "  b:\n"
	    "    provider: digitalocean\n"
	    "    lb_pair: floating\n"
	    "    servers: { lb3: { roles: [keepalived] } }\n"
	    "  c:\n"
	    "    provider: digitalocean\n"
	    "    lb_pair: floating_ip\n"
	    "    servers:\n"
	    "      lb4: { roles: [keepalived] }\n"
	    "      lb5: { roles: [keepalived], vars: { keepalived_api_token: \"\" } }\n"
	    "  d:\n"
	    "    provider: hetzner\n"
	    "    lb_pair: floating_ip\n"
	    "    servers: { w1: { roles: [keepalived] }, w2: { roles: [keepalived] } }\n"
	    "  e:\n"
	    "    provider: local\n"
	    "    lb_pair: floating_ip\n"
	    "    servers: { s1: { roles: [base] } }\n",
	    path);
	if (!inv)
		return;
	CHECK(cloud_lb_pair(&inv->layouts[0]));
	CHECK(!cloud_lb_pair(&inv->layouts[1]));
	CHECK_STR(cloud_lb_pair_server(&inv->layouts[0], 1)->name, "lb2");
	CHECK(cloud_lb_pair_server(&inv->layouts[0], 2) == NULL);
	check_validated(inv, 0, path, "");
	check_validated(inv, 1, path,
	                "13:14: 'lb_pair' of layout 'b' must be one of 'floating_ip', not "
	                "'floating'");
	check_validated(inv, 2, path,
	                "17:14: 'lb_pair' of layout 'c': server 'lb5' (role keepalived) needs "
	                "'keepalived_api_token', the name of the secret holding the API token it "
	                "takes the floating IP over with");
	check_validated(inv, 3, path,
	                "23:14: 'lb_pair' of layout 'd': the provider's load_balancer serves this "
	                "layout too; the pair's floating IP replaces it, so leave one out");
	check_validated(inv, 4, path,
	                "27:14: 'lb_pair' of layout 'e' means nothing to provider 'local': a "
	                "pair of load balancers there shares keepalived_address (role "
	                "keepalived)");
	inventory_free(inv);
	unlink(path);
}

static void test_ipv4_overlap(void)
{
	unsigned a;
	int bits;

	CHECK(cloud_ipv4_net("10.10.10.0/24", &a, &bits) && a == 0x0a0a0a00u && bits == 24);
	CHECK(!cloud_ipv4_net("10.10.10.0", &a, &bits));
	CHECK(!cloud_ipv4_net("10.10.10.0/33", &a, &bits));
	CHECK(!cloud_ipv4_net("10.256.0.0/16", &a, &bits));
	CHECK(!cloud_ipv4_net("10.1.0.0/16 ", &a, &bits));
	CHECK(!cloud_ipv4_net("fd00::/8", &a, &bits));
	CHECK(!cloud_ipv4_net(NULL, &a, &bits));
	CHECK(cloud_ipv4_overlap("10.10.10.0/24", "10.10.10.0/24"));
	CHECK(cloud_ipv4_overlap("10.10.0.0/16", "10.10.10.128/25"));
	CHECK(cloud_ipv4_overlap("10.10.10.128/25", "10.10.0.0/16"));
	CHECK(cloud_ipv4_overlap("10.100.0.0/20", "10.100.15.0/24"));
	CHECK(!cloud_ipv4_overlap("10.100.0.0/20", "10.100.16.0/20"));
	CHECK(!cloud_ipv4_overlap("10.10.10.0/25", "10.10.10.128/25"));
	CHECK(cloud_ipv4_overlap("0.0.0.0/0", "192.168.1.0/24"));
	CHECK(!cloud_ipv4_overlap("10.0.0.0/8", "garbage"));
	CHECK(!cloud_ipv4_overlap("10.0.0.0/8", NULL));
}

/* A volume's keys are typed and placed for every provider that attaches volumes. */
static void test_volume_keys(void)
{
	char path[] = "/tmp/test-cloud-inv.XXXXXX";
	struct inventory *inv = load_text(
	    "project: shop\n"
	    "layouts:\n"
	    "  hz:\n"
	    "    provider: hetzner\n"
	    "    servers:\n"
	    "      db1:\n"
	    "        roles: [postgres]\n"
	    "        volumes:\n"
	    "          - { name: pgdata, size: 20, mount: srv/pg, filesystem: zfs }\n"
	    "          - { name: logs, size: 10, mount: /var }\n"
	    "          - { name: more, size: 10, mount: /srv/x/, format: xfs, filesystem: xfs }\n"
	    "          - { name: pgdata, size: 10, mount: /srv/y }\n"
	    "          - { name: data, size: 10, mount: /srv/y }\n"
	    "          - { name: fine, size: 10, mount: /srv/fine, filesystem: xfs }\n"
	    "  dg:\n"
	    "    provider: digitalocean\n"
	    "    servers:\n"
	    "      db2: { roles: [base], volumes: [{ name: Big_One, size: 5, mount: /srv/a b }] }\n"
	    "  lab:\n"
	    "    provider: vm\n"
	    "    servers:\n"
	    "      db3:\n"
	    "        roles: [base]\n"
	    "        volumes:\n"
	    "          - { name: a-name-longer-than-20, size: 1 }\n"
	    "          - { name: ok, size: 0, mount: /proc }\n"
	    "          - { name: ok2, size: 1, mount: /srv/ok2, filesystem: ext4 }\n",
	    path);

	if (!inv)
		return;
	check_validated(
	    inv, 0, path,
	    "9:46: 'mount' of a volume of server 'db1' must be an absolute path without spaces "
	    "like '/srv/data', not 'srv/pg'\n"
	    "9:66: 'filesystem' of a volume of server 'db1' must be one of 'ext4', 'xfs', not "
	    "'zfs' (nearest valid value: 'xfs')\n"
	    "10:44: 'mount' of a volume of server 'db1' cannot be '/var', a directory of the "
	    "system's own; use one below it, such as /srv/data\n"
	    "11:61: a volume of server 'db1' says both 'filesystem' and 'format' (its older "
	    "name); keep 'filesystem'\n"
	    "11:44: 'mount' of a volume of server 'db1' must be written without '//', '/./' or a "
	    "trailing '/', not '/srv/x/'\n"
	    "12:21: volume 'pgdata' is listed twice in server 'db1'\n"
	    "13:44: volumes 'pgdata' and 'data' of server 'db1' are both mounted on '/srv/y'");
	check_validated(
	    inv, 1, path,
	    "18:72: 'mount' of a volume of server 'db2' must be an absolute path without spaces "
	    "like '/srv/data', not '/srv/a b' (nearest valid value: '/srv/a')\n"
	    "18:47: " VOLUME_NAME_SHORT_RULE ", not 'Big_One'");
	check_validated(inv, 2, path,
	                "25:21: " VOLUME_NAME_SHORT_RULE ", not 'a-name-longer-than-20'\n"
	                "26:31: 'size' of a volume of server 'db3' must be an integer from 1 to "
	                "16384, not '0' (nearest valid value: '1')\n"
	                "26:41: 'mount' of a volume of server 'db3' cannot be '/proc', a directory "
	                "of the system's own; use one below it, such as /srv/data");
	inventory_free(inv);
	unlink(path);
}

/* Where each provider's volume appears on the server. */
static void test_volume_devices(void)
{
	char *s;

	CHECK_STR(s = hetzner_volume_device(4711), "/dev/disk/by-id/scsi-0HC_Volume_4711");
	free(s);
	CHECK(hetzner_volume_device(0) == NULL); /* not created yet: not known */
	CHECK_STR(s = digitalocean_volume_device("shop-db1-pgdata"),
	          "/dev/disk/by-id/scsi-0DO_Volume_shop-db1-pgdata");
	free(s);
	CHECK_STR(s = vm_volume_device("pgdata"), "/dev/disk/by-id/virtio-pgdata");
	free(s);
}

/* What the roles see: defaults filled in, the provider's device, role volumes first. */
static void test_volumes_scope(void)
{
	char path[] = "/tmp/test-cloud-inv.XXXXXX";
	struct inventory *inv =
	    load_text("project: shop\n"
	              "layouts:\n"
	              "  lab:\n"
	              "    provider: vm\n"
	              "    servers:\n"
	              "      db1:\n"
	              "        roles: [postgres]\n"
	              "        volumes:\n"
	              "          - { name: pgdata, size: 1 }\n"
	              "          - { name: kv, size: 1, mount: /srv/kv, filesystem: xfs }\n"
	              "      web1: { roles: [base] }\n",
	              path);
	struct scope s;
	struct node *dev = NULL;
	struct pv_error err = {{0}};

	if (!inv)
		return;
	const struct inv_server *db1 = &inv->layouts[0].servers[0];
	CHECK(db1->n_roles == 2);
	CHECK_STR(db1->roles[0], "volumes");
	CHECK(db1->role_pos[0].line == 8 && db1->role_pos[0].col == 9);
	CHECK_STR(db1->roles[1], "postgres");
	CHECK(inv->layouts[0].servers[1].n_roles == 1);
	CHECK(node_load_string(&dev, "facts", "pgdata: /dev/disk/by-id/virtio-pgdata\n", 38,
	                       &err) == 0);
	scope_init(&s);
	volumes_scope(&s, db1, dev);
	const struct node *v = scope_get(&s, "volumes");
	CHECK(v && v->kind == NODE_SEQ && v->n == 2);
	if (v && v->n == 2) {
		CHECK_STR(scalar(v->items[0], "mount"), "/mnt/pgdata");
		CHECK_STR(scalar(v->items[0], "filesystem"), "ext4");
		CHECK_STR(scalar(v->items[0], "device"), "/dev/disk/by-id/virtio-pgdata");
		CHECK_STR(scalar(v->items[1], "name"), "kv");
		CHECK_STR(scalar(v->items[1], "mount"), "/srv/kv");
		CHECK_STR(scalar(v->items[1], "filesystem"), "xfs");
		CHECK_STR(scalar(v->items[1], "device"), ""); /* the provider does not know it */
	}
	CHECK_STR(scope_get(&s, "volumes_xfs")->scalar, "true");
	scope_release(&s);
	scope_init(&s);
	volumes_scope(&s, &inv->layouts[0].servers[1], NULL);
	CHECK(scope_get(&s, "volumes")->n == 0);
	CHECK_STR(scope_get(&s, "volumes_xfs")->scalar, "false");
	scope_release(&s);
	node_free(dev);
	inventory_free(inv);
	unlink(path);
}

int main(void)
{
	RUN(test_user_data_round_trip);
	RUN(test_user_data_root);
	RUN(test_same_key);
	RUN(test_firewall_ports);
	RUN(test_firewall_role_ports);
	RUN(test_snapshot_time);
	RUN(test_snapshot_name);
	RUN(test_snapshot_excess);
	RUN(test_snapshot_entry);
	RUN(test_snapshot_keep_setting);
	RUN(test_unused_server_keys);
	RUN(test_layout_snapshot_keep);
	RUN(test_provider_backups);
	RUN(test_lb_pair);
	RUN(test_ipv4_overlap);
	RUN(test_volume_keys);
	RUN(test_volume_devices);
	RUN(test_volumes_scope);
	return check_done("cloud");
}
