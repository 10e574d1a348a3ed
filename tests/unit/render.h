/*
 * render.h - the unit tests' way to render one server of a test
 * inventory (of layout "l1", else of the first layout that has it) into a
 * host plan, as 'provision up' would.
 */
#ifndef TEST_RENDER_H
#define TEST_RENDER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "provision/engine.h"
#include "provision/inventory.h"

struct test_renderer {
	struct inventory *inv;
	const char *env;
	struct role_set *roles;
	const char *const *template_dirs;
	size_t n_template_dirs;
};

/*
 * Render server (which must exist) with facts; only: the roles to keep, or
 * NULL.  Its messages are added to d as it is (several servers' into one,
 * as a layout's are).
 */
static inline int test_render_more(const struct test_renderer *t, struct host_plan *hp,
                                   struct diags *d, const char *server, const struct scope *facts,
                                   const char *const *only, size_t n_only)
{
	const struct inv_layout *l = inventory_layout(t->inv, "l1");
	struct render_input in;

	memset(&in, 0, sizeof(in));
	in.inv = t->inv;
	in.server = l ? layout_server(l, server) : NULL;
	/* a server of another layout: the first that has it */
	for (size_t i = 0; !in.server && i < t->inv->n_layouts; i++)
		if ((in.server = layout_server(&t->inv->layouts[i], server)))
			l = &t->inv->layouts[i];
	in.layout = l;
	if (!in.server) {
		fprintf(stderr, "no server '%s' in the test inventory\n", server);
		exit(2);
	}
	in.env = t->env;
	in.facts = facts;
	in.admin_public_key = "ssh-ed25519 AAAAtest test@key";
	in.roles = t->roles;
	in.template_dirs = t->template_dirs;
	in.n_template_dirs = t->n_template_dirs;
	in.only_roles = only;
	in.n_only_roles = n_only;
	memset(hp, 0, sizeof(*hp));
	return plan_render(hp, &in, d);
}

/* The same into a new d. */
static inline int test_render(const struct test_renderer *t, struct host_plan *hp, struct diags *d,
                              const char *server, const struct scope *facts,
                              const char *const *only, size_t n_only)
{
	diags_init(d);
	return test_render_more(t, hp, d, server, facts, only, n_only);
}

/* The same, for a server that must render without a diagnostic. */
static inline void test_render_ok(const struct test_renderer *t, struct host_plan *hp,
                                  const char *server, const struct scope *facts)
{
	struct diags d;
	int rc = test_render(t, hp, &d, server, facts, NULL, 0);

	CHECK(rc == 0);
	CHECK(d.n == 0);
	for (size_t i = 0; i < d.n; i++)
		printf("  diag (%s): %s\n", server, d.msgs[i]);
	diags_release(&d);
}

#endif
