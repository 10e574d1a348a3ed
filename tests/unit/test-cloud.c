/*
 * test-cloud.c - what the cloud providers share: the cloud-init document
 * read back by a YAML parser, public key comparison, firewall ports.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "provision/cloud.h"
#include "provision/keys.h"
#include "provision/node.h"
#include "provision/role.h"

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

int main(void)
{
	RUN(test_user_data_round_trip);
	RUN(test_user_data_root);
	RUN(test_same_key);
	RUN(test_firewall_ports);
	RUN(test_firewall_role_ports);
	return check_done("cloud");
}
