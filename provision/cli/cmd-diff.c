/*
 * cmd-diff.c - provision diff -e A -e B [LAYOUT...]: what differs between
 * two environments, from what each host got when it last converged (the
 * roles, every rendered resource, the package versions; repro.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "provision/diff.h"
#include "provision/repro.h"
#include "provision/session.h"

/* Render server name of layout lname from inventory inv, with the session's roles. */
static bool preview(struct session *s, struct inventory *inv, const char *lname, const char *name,
                    struct scope *facts, struct host_plan *hp)
{
	struct inventory *mine = s->inv;
	const struct inv_layout *l = inventory_layout(inv, lname);
	const struct inv_server *srv = layout_server(l, name);
	const char *env = s->env;

	if (!srv)
		return false;
	s->inv = inv; /* the render reads the inventory through the session */
	s->env = inv->env;
	session_preview(s, l, srv, false, facts, hp);
	s->inv = mine;
	s->env = env;
	return true;
}

/*
 * For each file that differs: the unified diff of what each environment's
 * inventory renders now, shown only when both renderings are still the ones
 * the hosts got (same digest as recorded) and neither holds a secret.
 */
static void file_diffs(struct session *s, struct inventory *other, const char *lname, json_t *items,
                       struct buf *out)
{
	size_t k;
	json_t *it;

	json_array_foreach(items, k, it)
	{
		const char *host = json_string_value(json_object_get(it, "host"));
		const char *what = json_string_value(json_object_get(it, "what"));
		const char *da = json_string_value(json_object_get(it, "a"));
		const char *db = json_string_value(json_object_get(it, "b"));
		struct host_plan pa, pb;
		struct scope fa, fb;
		char *ca = NULL, *cb = NULL;
		size_t la = 0, lb = 0;
		char ga[65], gb[65];

		if (strcmp(json_string_value(json_object_get(it, "kind")), "resource") ||
		    strncmp(what, "file ", 5) || !da || !db || strlen(da) != 64 || strlen(db) != 64)
			continue;
		bool have_a = preview(s, s->inv, lname, host, &fa, &pa);
		bool have_b = have_a && preview(s, other, lname, host, &fb, &pb);
		bool ok = have_b && repro_file_content(&pa, what, &ca, &la, ga) == 0 &&
		          repro_file_content(&pb, what, &cb, &lb, gb) == 0 && !strcmp(ga, da) &&
		          !strcmp(gb, db);
		if (ok) {
			struct buf d = BUF_INIT;
			char *na = xasprintf("%s/%s:%s", s->env, host, what + 5);
			char *nb = xasprintf("%s/%s:%s", s->env_b, host, what + 5);
			diff_unified(&d, na, ca, la, nb, cb, lb);
			if (out)
				buf_adds(out, d.s);
			json_object_set_new(it, "diff", json_string(d.s));
			buf_release(&d);
			free(na);
			free(nb);
		} else if (out) {
			buf_addf(out,
			         "  %s: %s: content not shown (it holds a secret, or the inventory "
			         "changed since the hosts converged)\n",
			         host, what);
		}
		free(ca);
		free(cb);
		if (have_b) {
			plan_release(&pb);
			scope_release(&fb);
		}
		if (have_a) {
			plan_release(&pa);
			scope_release(&fa);
		}
	}
}

static int cmd_diff(struct session *s, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"exit-code", no_argument, NULL, 'x'},
	    {NULL, 0, NULL, 0},
	};
	struct inventory *other = NULL;
	struct diags d;
	bool exit_code = false;
	size_t total = 0, missing = 0;
	json_t *jall = json_array();
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'x') {
			pv_usage(&cmd_diff_entry);
			json_decref(jall);
			return PV_EXIT_USAGE;
		}
		exit_code = true;
	}
	if (!s->env_b) {
		pv_say_error("diff compares two environments: give both, as in "
		             "'provision diff -e staging -e production'");
		json_decref(jall);
		return PV_EXIT_USAGE;
	}
	if ((rc = session_load(s))) {
		json_decref(jall);
		return rc;
	}
	/* the second environment must be one the inventory declares, too */
	diags_init(&d);
	if (inventory_load_env(&other, s->inventory_path, s->env_b, &d) < 0) {
		for (size_t i = 0; i < d.n; i++)
			pv_say_error("%s", d.msgs[i]);
		diags_release(&d);
		json_decref(jall);
		return PV_EXIT_USAGE;
	}
	diags_release(&d);
	for (int i = optind; i < argc; i++)
		if (!session_layout(s, argv[i])) {
			json_decref(jall);
			inventory_free(other);
			return PV_EXIT_USAGE;
		}
	if ((rc = session_open_state(s, false))) {
		json_decref(jall);
		inventory_free(other);
		return rc;
	}
	if (s->mode != REPORT_JSON)
		printf("differences between environments '%s' and '%s':\n", s->env, s->env_b);
	for (size_t li = 0; li < s->inv->n_layouts; li++) {
		const char *name = s->inv->layouts[li].name;
		bool wanted = optind >= argc;
		for (int i = optind; i < argc && !wanted; i++)
			wanted = !strcmp(argv[i], name);
		if (!wanted)
			continue;
		json_t *ra = json_object_get(state_layout(&s->st, s->env, name, false), "repro");
		json_t *rb = json_object_get(state_layout(&s->st, s->env_b, name, false), "repro");
		if (!ra && !rb && optind >= argc)
			continue; /* neither has made this layout */
		if (!ra || !rb) {
			const char *e = !ra ? s->env : s->env_b;
			if (s->mode != REPORT_JSON)
				printf("layout '%s': nothing recorded in environment '%s' (run "
				       "'provision -e %s up %s')\n",
				       name, e, e, name);
			json_array_append_new(jall, json_pack("{s:s, s:s, s:s}", "layout", name,
			                                      "kind", "missing", "env", e));
			missing++;
			continue;
		}
		struct buf out = BUF_INIT;
		json_t *jl = json_array();
		size_t n = repro_compare(ra, rb, s->env, s->env_b, &out, jl);
		struct buf files = BUF_INIT;
		file_diffs(s, other, name, jl, &files);
		if (s->mode != REPORT_JSON) {
			printf("layout '%s': %zu difference%s\n%s", name, n, n == 1 ? "" : "s",
			       out.s);
			if (files.len)
				printf("\n%s\n", files.s);
		}
		buf_release(&files);
		size_t k;
		json_t *v;
		json_array_foreach(jl, k, v)
		{
			json_object_set_new(v, "layout", json_string(name));
			json_array_append(jall, v);
		}
		json_decref(jl);
		buf_release(&out);
		total += n;
	}
	if (s->mode == REPORT_JSON) {
		report_event(s->rep, json_pack("{s:s, s:s, s:s, s:I, s:O}", "event", "diff", "a",
		                               s->env, "b", s->env_b, "differences",
		                               (json_int_t)(total + missing), "items", jall));
	} else if (missing) {
		printf("%zu difference%s, and %zu layout%s recorded in one environment only\n",
		       total, total == 1 ? "" : "s", missing, missing == 1 ? "" : "s");
	} else {
		printf("%zu difference%s\n", total, total == 1 ? "" : "s");
	}
	json_decref(jall);
	inventory_free(other);
	/* a layout made on one side only is a difference, not a failure of diff */
	return exit_code && (total || missing) ? PV_EXIT_FAIL : PV_EXIT_OK;
}

const struct cmd_entry cmd_diff_entry = {
    .name = "diff",
    .usage = "diff -e ENV -e ENV [LAYOUT...] [--exit-code]",
    .summary = "what differs between two environments: roles, rendered files, package versions",
    .help = "Compares what each host got when it last converged (recorded in the state).\n\n"
            "Options:\n"
            "      --exit-code       exit with 1 when there are differences (a layout\n"
            "                        recorded in one environment only is one)\n",
    .exec = cmd_diff,
};
