/*
 * test-roleorder.c - the order of a server's roles (role_closure): a
 * role's 'after' orders it behind roles the server has without pulling
 * them in, an 'after' cycle is an error, and 'requires_one_of' rejects a
 * server without any of the roles, naming the inventory's position.
 * Uses the built-in roles backup, postgres, postgres-replica and patroni.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "files.h"
#include "provision/buf.h"
#include "provision/common.h"
#include "provision/inventory.h"
#include "provision/role.h"

static char scratch[] = "/tmp/test-roleorder-XXXXXX";
static struct inventory *inv;
static struct role_set roles;
static char *inv_path;

static void setup(void)
{
	struct diags d;
	char *p;

	make_scratch(scratch);
	inv_path = xasprintf("%s/inventory.yml", scratch);
	write_file(inv_path, "project: roleorder\n"
	                     "layouts:\n"
	                     "  l1:\n"
	                     "    servers:\n"
	                     "      plain: { roles: [base, backup, postgres] }\n"
	                     "      replica: { roles: [base, backup, postgres-replica] }\n"
	                     "      patroni: { roles: [base, backup, patroni] }\n"
	                     "      alone: { roles: [base, backup] }\n"
	                     "      loop: { roles: [loop-a, loop-b] }\n"
	                     "      pulled: { roles: [needs-backup] }\n");
	diags_init(&d);
	if (inventory_load(&inv, inv_path, &d) < 0) {
		for (size_t i = 0; i < d.n; i++)
			fprintf(stderr, "%s\n", d.msgs[i]);
		exit(2);
	}
	diags_release(&d);
	write_role(scratch, "loop-a", "after: [loop-b]\n");
	write_role(scratch, "loop-b", "after: [loop-a]\n");
	write_role(scratch, "needs-backup", "requires: [backup]\n");
	role_set_init(&roles);
	p = xasprintf("%s/roles", scratch);
	role_set_add_dir(&roles, p);
	free(p);
	role_set_add_dir(&roles, "roles"); /* the built-in ones */
}

/* The server's roles in order, "a b c", or NULL with the problems in d. */
static char *order(const char *server, struct diags *d)
{
	const struct inv_server *srv = layout_server(inventory_layout(inv, "l1"), server);
	struct role **out = NULL;
	size_t n = 0;
	struct buf b = BUF_INIT;

	diags_init(d);
	if (!srv) {
		fprintf(stderr, "no server '%s'\n", server);
		exit(2);
	}
	if (role_closure(&roles, srv->roles, srv->role_pos, srv->n_roles, &out, &n, d) < 0) {
		free(out);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		buf_addf(&b, "%s%s", i ? " " : "", out[i]->name);
	free(out);
	return b.s ? b.s : xstrdup("");
}

static void test_after_orders_without_pulling_in(void)
{
	struct diags d;
	char *o;

	o = order("plain", &d);
	CHECK_STR(o, "node-exporter layout-tls journal-upload base postgres backup");
	free(o);
	diags_release(&d);
	o = order("replica", &d);
	CHECK_STR(o,
	          "node-exporter layout-tls journal-upload base postgres postgres-replica backup");
	free(o);
	diags_release(&d);
	/* role postgres is not pulled in next to patroni */
	o = order("patroni", &d);
	CHECK_STR(o, "node-exporter layout-tls journal-upload base patroni backup");
	CHECK(d.n == 0);
	free(o);
	diags_release(&d);
}

static void test_requires_one_of(void)
{
	struct diags d;
	char *o, *want;

	o = order("alone", &d);
	CHECK(o == NULL);
	CHECK(d.n == 1);
	/* where the server names role backup: line 8, column 30 */
	want = xasprintf("%s:8:30: role 'backup' needs one of the roles postgres, "
	                 "postgres-replica or patroni on the same server",
	                 inv_path);
	CHECK_STR(d.n ? d.msgs[0] : NULL, want);
	free(want);
	free(o);
	diags_release(&d);

	/* pulled in by another role: reported where the server names its roles */
	o = order("pulled", &d);
	CHECK(o == NULL);
	CHECK(d.n == 1);
	CHECK_HAS(d.n ? d.msgs[0] : NULL, "inventory.yml:10:25: role 'backup' needs one of");
	free(o);
	diags_release(&d);
}

static void test_after_cycle(void)
{
	struct diags d;
	char *o = order("loop", &d);

	CHECK(o == NULL);
	CHECK(d.n == 1);
	CHECK_HAS(d.n ? d.msgs[0] : NULL, "in a cycle: loop-a -> loop-b -> loop-a");
	free(o);
	diags_release(&d);
}

int main(void)
{
	setup();
	RUN(test_after_orders_without_pulling_in);
	RUN(test_requires_one_of);
	RUN(test_after_cycle);
	role_set_release(&roles);
	inventory_free(inv);
	free(inv_path);
	char *cmd = xasprintf("rm -rf %s", scratch);
	if (system(cmd) != 0)
		printf("cleanup failed: %s\n", cmd);
	free(cmd);
	return check_done("roleorder");
}
