/*
 * cmd-validate.c - provision validate [LAYOUT...]
 */
#include <stdio.h>

#include "provision/session.h"

static int cmd_validate(struct session *s, int argc, char **argv)
{
	int rc = session_load(s);
	size_t servers = 0, layouts = 0;

	if (rc)
		return rc;
	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			const struct inv_layout *l = session_layout(s, argv[i]);
			if (!l) {
				rc = PV_EXIT_USAGE;
				continue;
			}
			if (session_check_layout(s, l))
				rc = PV_EXIT_USAGE;
			layouts++;
			servers += l->n_servers;
		}
	} else {
		for (size_t i = 0; i < s->inv->n_layouts; i++) {
			if (session_check_layout(s, &s->inv->layouts[i]))
				rc = PV_EXIT_USAGE;
			layouts++;
			servers += s->inv->layouts[i].n_servers;
		}
	}
	if (rc == PV_EXIT_OK && s->mode == REPORT_JSON) {
		report_event(s->rep,
		             json_pack("{s:s, s:s, s:s, s:I, s:I}", "event", "valid", "inventory",
		                       s->inventory_path, "environment", s->env, "layouts",
		                       (json_int_t)layouts, "servers", (json_int_t)servers));
	} else if (rc == PV_EXIT_OK) {
		printf("%s: valid (%zu layout%s, %zu server%s)\n", s->inventory_path, layouts,
		       layouts == 1 ? "" : "s", servers, servers == 1 ? "" : "s");
	}
	return rc;
}

const struct cmd_entry cmd_validate_entry = {
    .name = "validate",
    .usage = "validate [LAYOUT...]",
    .summary = "check the inventory, its roles and templates; touches nothing",
    .help = "Every problem is reported as FILE:LINE:COL: message.\n",
    .exec = cmd_validate,
};
