/*
 * test-volumes.c - the built-in roles with a server's volumes: role
 * volumes pulled in first, each volume's device, mount and file system in
 * the apply script as single shell words, xfsprogs only for xfs, and the
 * data roles' directories on the volume they name (postgres_data_volume,
 * redis_data_volume); a name the server has no volume of is refused at
 * its line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "files.h"
#include "render.h"
#include "provision/buf.h"
#include "provision/engine.h"
#include "provision/repro.h"
#include "provision/resource.h"

static char scratch[] = "/tmp/test-volumes-XXXXXX";
static struct inventory *inv;
static struct role_set roles;
static const char *template_dirs[1] = {"templates"};
static char *inv_path;

static void setup(void)
{
	struct diags d;

	make_scratch(scratch);
	inv_path = xasprintf("%s/inventory.yml", scratch);
	write_file(inv_path,
	           "project: shop\n"
	           "secrets:\n"
	           "  rpw: env:TEST_VOLUMES_PW\n"
	           "vars: { redis_password: rpw, redis_admin_password: rpw }\n"
	           "layouts:\n"
	           "  l1:\n"
	           "    provider: vm\n"
	           "    servers:\n"
	           "      db1:\n"
	           "        roles: [postgres, redis]\n"
	           "        volumes:\n"
	           "          - { name: pgdata, size: 1 }\n"
	           "          - { name: kv, size: 1, mount: /srv/kv, filesystem: xfs }\n"
	           "        vars: { postgres_data_volume: pgdata, redis_data_volume: kv }\n"
	           "      db2:\n"
	           "        roles: [postgres]\n"
	           "        volumes: [{ name: pgdata, size: 1 }]\n"
	           "      plain: { roles: [postgres, redis] }\n"
	           "      wrong:\n"
	           "        roles: [postgres]\n"
	           "        volumes: [{ name: pgdata, size: 1 }]\n"
	           "        vars: { postgres_data_volume: pg }\n"
	           "      none:\n"
	           "        roles: [redis]\n"
	           "        vars: { redis_data_volume: kv }\n");
	setenv("TEST_VOLUMES_PW", "unit-pw", 1);
	diags_init(&d);
	if (inventory_load(&inv, inv_path, &d) < 0) {
		for (size_t i = 0; i < d.n; i++)
			fprintf(stderr, "%s\n", d.msgs[i]);
		exit(2);
	}
	diags_release(&d);
	role_set_init(&roles);
	role_set_add_dir(&roles, "roles");
}

/* The facts a vm provider gives db1: its volumes' devices. */
static void vm_facts(struct scope *f, bool devices)
{
	struct node *m = node_new_map(NULL), *servers = NULL;
	struct pv_error err = {{0}};
	static const char layout[] = "- { name: db1, id: db1, address: 192.0.2.10, roles: { "
	                             "postgres: true, redis: true } }\n";

	if (node_load_string(&servers, "servers", layout, strlen(layout), &err) < 0)
		die(err.msg);
	scope_init(f);
	scope_set_owned(f, "servers", servers);
	scope_set_str(f, "container", "false");
	scope_set_str(f, "address", "192.0.2.10");
	scope_set_str(f, "private_address", "192.0.2.10");
	scope_set_str(f, "private_network", "192.0.2.0/24");
	scope_set_str(f, "os_id", "debian");
	if (devices) {
		node_map_set(m, "pgdata", node_new_scalar("/dev/disk/by-id/virtio-pgdata", NULL));
		node_map_set(m, "kv", node_new_scalar("/dev/disk/by-id/virtio-kv", NULL));
	}
	scope_set_owned(f, "volume_devices", m);
}

static void apply_script(struct host_plan *hp, struct buf *sh)
{
	struct stage st;

	for (size_t i = 0; i < hp->n_res; i++)
		hp->res[i].status = RES_CHANGE;
	stage_init(&st);
	script_apply(hp, sh, &st);
	stage_release(&st);
}

static bool has_title(const struct host_plan *hp, const char *title)
{
	for (size_t i = 0; i < hp->n_res; i++)
		if (!strcmp(hp->res[i].title, title))
			return true;
	return false;
}

static char *content(const struct host_plan *hp, const char *title)
{
	char *c = NULL, digest[65];
	size_t len;

	if (repro_file_content(hp, title, &c, &len, digest) < 0) {
		printf("  no content for '%s'\n", title);
		return xstrdup("");
	}
	return c;
}

static void test_volumes_on_db1(void)
{
	struct test_renderer t = {inv, "default", &roles, template_dirs, 1};
	struct host_plan hp;
	struct scope f;
	struct buf sh = BUF_INIT;
	char *c;

	vm_facts(&f, true);
	test_render_ok(&t, &hp, "db1", &f);
	CHECK(hp.n_role_names >= 3);
	if (hp.n_role_names)
		CHECK_STR(hp.role_names[0], "volumes");
	CHECK(has_title(&hp, "package xfsprogs"));
	apply_script(&hp, &sh);
	CHECK(strstr(sh.s, "volumes.sh ensure pgdata /dev/disk/by-id/virtio-pgdata /mnt/pgdata "
	                   "ext4\n") != NULL);
	CHECK(strstr(sh.s, "volumes.sh ensure kv /dev/disk/by-id/virtio-kv /srv/kv xfs\n") != NULL);
	/* the volumes are mounted before PostgreSQL's package makes its cluster */
	const char *mount = strstr(sh.s, "volumes.sh ensure pgdata");
	const char *pkg = strstr(sh.s, "postgresql-15");
	CHECK(mount && pkg && mount < pkg);
	CHECK_STR(
	    c = content(&hp, "file /etc/postgresql-common/createcluster.d/10-provision-data.conf"),
	    "# Written by provision (role postgres, postgres_data_volume): the cluster\n"
	    "# the package makes has its data on volume pgdata.\n"
	    "data_directory = '/mnt/pgdata/postgresql/%v/%c'\n");
	free(c);
	c = content(&hp,
	            "file /etc/systemd/system/redis-server.service.d/10-provision-volume.conf");
	CHECK(strstr(c, "\nReadWritePaths=/srv/kv/redis\n") != NULL);
	free(c);
	CHECK(has_title(&hp, "directory /srv/kv/redis"));
	buf_release(&sh);
	plan_release(&hp);
	scope_release(&f);
}

/* Before the provider knows a device (plan of a new cloud server), the script says so. */
static void test_volumes_unknown_device(void)
{
	struct test_renderer t = {inv, "default", &roles, template_dirs, 1};
	struct host_plan hp;
	struct scope f;
	struct buf sh = BUF_INIT;

	vm_facts(&f, false);
	test_render_ok(&t, &hp, "db2", &f);
	CHECK(!has_title(&hp, "package xfsprogs"));
	CHECK(
	    !has_title(&hp, "file /etc/postgresql-common/createcluster.d/10-provision-data.conf"));
	apply_script(&hp, &sh);
	CHECK(strstr(sh.s, "volumes.sh ensure pgdata '' /mnt/pgdata ext4\n") != NULL);
	buf_release(&sh);
	plan_release(&hp);
	scope_release(&f);
}

static void test_no_volumes(void)
{
	struct test_renderer t = {inv, "default", &roles, template_dirs, 1};
	struct host_plan hp;
	struct scope f;

	vm_facts(&f, false);
	test_render_ok(&t, &hp, "plain", &f);
	for (size_t i = 0; i < hp.n_role_names; i++)
		CHECK(strcmp(hp.role_names[i], "volumes") != 0);
	CHECK(!has_title(
	    &hp, "file /etc/systemd/system/redis-server.service.d/10-provision-volume.conf"));
	plan_release(&hp);
	scope_release(&f);
}

/* Rendering server fails with exactly one message: the inventory's path, ':', want. */
static void refused(const char *server, const struct scope *f, const char *want)
{
	struct test_renderer t = {inv, "default", &roles, template_dirs, 1};
	struct host_plan hp;
	struct diags d;
	char *full = xasprintf("%s:%s", inv_path, want);

	CHECK(test_render(&t, &hp, &d, server, f, NULL, 0) < 0);
	CHECK(d.n == 1);
	if (d.n)
		CHECK_STR(d.msgs[0], full);
	free(full);
	diags_release(&d);
	plan_release(&hp);
}

/* A data volume the server does not have: refused at the value, naming what it has. */
static void test_data_volume_refused(void)
{
	struct scope f;

	vm_facts(&f, true);
	refused("wrong", &f,
	        "22:39: variable 'postgres_data_volume' names volume 'pg', which server 'wrong' "
	        "does not have (its volumes: 'pgdata')");
	refused("none", &f,
	        "25:36: variable 'redis_data_volume' names volume 'kv', which server 'none' does "
	        "not have (it has no 'volumes')");
	scope_release(&f);
}

int main(void)
{
	setup();
	RUN(test_volumes_on_db1);
	RUN(test_volumes_unknown_device);
	RUN(test_no_volumes);
	RUN(test_data_volume_refused);
	inventory_free(inv);
	role_set_release(&roles);
	remove_scratch(scratch);
	free(inv_path);
	return check_done("volumes");
}
