/*
 * cmd-roles.c - provision roles [NAME]
 *
 * The roles found (the inventory's roles/ first, then the tool's), and for
 * one role its variables with type, default and description: read from
 * the same declarations validate checks values against.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "provision/session.h"
#include "provision/vars.h"

/* A value in YAML's flow style, for one line. */
static void flow(struct buf *b, const struct node *v)
{
	if (v->kind == NODE_SCALAR) {
		if (!*v->scalar || strpbrk(v->scalar, " ,:[]{}#\n"))
			buf_addf(b, "\"%s\"", strchr(v->scalar, '\n') ? "..." : v->scalar);
		else
			buf_adds(b, v->scalar);
		return;
	}
	buf_adds(b, v->kind == NODE_SEQ ? "[" : "{");
	for (size_t i = 0; i < v->n; i++) {
		if (i)
			buf_adds(b, ", ");
		if (v->kind == NODE_MAP)
			buf_addf(b, "%s: ", v->keys[i]);
		flow(b, v->items[i]);
	}
	buf_adds(b, v->kind == NODE_SEQ ? "]" : "}");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Names of the roles in the search path, each once, sorted. */
static char **role_names(const struct role_set *rs, size_t *n)
{
	char **names = NULL;
	size_t alloc = 0;

	*n = 0;
	for (size_t d = 0; d < rs->n_dirs; d++) {
		DIR *dir = opendir(rs->dirs[d]);
		struct dirent *e;
		while (dir && (e = readdir(dir))) {
			struct stat sb;
			bool seen = false;
			if (e->d_name[0] == '.')
				continue;
			char *sub = pv_path_join(rs->dirs[d], e->d_name);
			char *yml = pv_path_join(sub, "role.yml");
			bool is_role = stat(yml, &sb) == 0 && S_ISREG(sb.st_mode);
			free(yml);
			free(sub);
			for (size_t i = 0; i < *n && !seen; i++)
				seen = !strcmp(names[i], e->d_name);
			if (!is_role || seen)
				continue;
			PV_GROW(names, *n + 1, alloc);
			names[(*n)++] = xstrdup(e->d_name);
		}
		if (dir)
			closedir(dir);
	}
	if (*n)
		qsort(names, *n, sizeof(*names), cmp_str);
	return names;
}

static void print_list(const char *title, char *const *l, size_t n)
{
	if (!n)
		return;
	printf("%s:", title);
	for (size_t i = 0; i < n; i++)
		printf(" %s", l[i]);
	printf("\n");
}

static json_t *list_json(char *const *l, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(l[i]));
	return a;
}

/* A declaration as {"name", "type", "default" (YAML flow text), "doc"}. */
static json_t *decl_json(const struct var_decl *v)
{
	struct buf t = BUF_INIT, dflt = BUF_INIT;
	json_t *o;

	vartype_describe(v->type, &t);
	o = json_pack("{s:s, s:s}", "name", v->name, "type", t.s);
	if (v->dflt) {
		flow(&dflt, v->dflt);
		json_object_set_new(o, "default", json_string(dflt.s));
	}
	if (v->doc)
		json_object_set_new(o, "doc", json_string(v->doc));
	if (v->per_layout)
		json_object_set_new(o, "layout", json_true());
	buf_release(&t);
	buf_release(&dflt);
	return o;
}

static void print_decl(const struct var_decl *v)
{
	struct buf t = BUF_INIT, dflt = BUF_INIT;

	vartype_describe(v->type, &t);
	if (v->dflt)
		flow(&dflt, v->dflt);
	printf("  %s\n", v->name);
	printf("      type:    %s\n", t.s);
	if (v->dflt)
		printf("      default: %s\n", dflt.s);
	if (v->per_layout)
		printf("      one value for the whole layout\n");
	if (v->doc)
		printf("      %s\n", v->doc);
	buf_release(&t);
	buf_release(&dflt);
}

static int show_role(struct session *s, const char *name)
{
	struct diags d;
	struct role *r;

	diags_init(&d);
	r = role_get(&s->roles, name, NULL, &d);
	for (size_t i = 0; i < d.n; i++)
		pv_say_error("%s", d.msgs[i]);
	diags_release(&d);
	if (!r)
		return PV_EXIT_USAGE;
	if (s->mode == REPORT_JSON) {
		json_t *vars = json_array();
		for (size_t i = 0; i < r->n_decls; i++)
			json_array_append_new(vars, decl_json(&r->decls[i]));
		report_event(s->rep,
		             json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "event",
		                       "role", "name", r->name, "description",
		                       r->description ? r->description : "", "file", r->path,
		                       "requires", list_json(r->requires, r->n_requires), "after",
		                       list_json(r->after, r->n_after), "one_of",
		                       list_json(r->one_of, r->n_one_of), "ports",
		                       list_json(r->ports, r->n_ports), "variables", vars));
		return PV_EXIT_OK;
	}
	printf("role %s: %s\n", r->name, r->description ? r->description : "");
	printf("file: %s\n", r->path);
	print_list("requires", r->requires, r->n_requires);
	print_list("after", r->after, r->n_after);
	print_list("requires one of", r->one_of, r->n_one_of);
	print_list("ports", r->ports, r->n_ports);
	printf("\nvariables%s\n", r->n_decls ? ":" : ": none");
	for (size_t i = 0; i < r->n_decls; i++)
		print_decl(&r->decls[i]);
	return PV_EXIT_OK;
}

static void show_builtin(struct session *s)
{
	size_t n;
	const struct var_decl *b = vars_builtin_all(&n);

	if (s->mode == REPORT_JSON) {
		for (size_t i = 0; i < n; i++) {
			bool by_tool = false;
			json_t *o = decl_json(&b[i]);
			vars_builtin(b[i].name, &by_tool);
			json_object_set_new(o, "event", json_string("variable"));
			json_object_set_new(o, "set_by_provision", json_boolean(by_tool));
			report_event(s->rep, o);
		}
		return;
	}
	printf("variables provision sets, or its commands read:\n");
	for (size_t i = 0; i < n; i++) {
		bool by_tool = false;
		vars_builtin(b[i].name, &by_tool);
		print_decl(&b[i]);
		if (by_tool)
			printf("      (set by provision; 'vars' cannot set it)\n");
	}
}

static int cmd_roles(struct session *s, int argc, char **argv)
{
	int rc;
	size_t n;
	char **names;

	if (argc > 2) {
		pv_usage(&cmd_roles_entry);
		return PV_EXIT_USAGE;
	}
	if (argc == 2 && !strcmp(argv[1], "--builtin")) {
		show_builtin(s);
		return PV_EXIT_OK;
	}
	if ((rc = session_load_roles(s)))
		return rc;
	if (argc == 2)
		return show_role(s, argv[1]);
	names = role_names(&s->roles, &n);
	for (size_t i = 0; i < n; i++) {
		struct diags d;
		diags_init(&d);
		struct role *r = role_get(&s->roles, names[i], NULL, &d);
		const char *desc = r ? (r->description ? r->description : "")
		                     : "(does not load: see 'provision roles NAME')";
		report_line(s->rep,
		            json_pack("{s:s, s:s, s:s, s:b}", "event", "role", "name", names[i],
		                      "description", r && r->description ? r->description : "",
		                      "loads", r != NULL),
		            "%-18s %s", names[i], desc);
		diags_release(&d);
	}
	pv_free_list(names, n);
	return PV_EXIT_OK;
}

const struct cmd_entry cmd_roles_entry = {
    .name = "roles",
    .usage = "roles [NAME | --builtin]",
    .summary = "list the roles; for one, its variables with type, default and description",
    .help = "The inventory's roles/ come first, then the roles that come with the tool.\n"
            "  NAME        a role's variables: what 'vars' may set for it, as validate\n"
            "              checks it\n"
            "  --builtin   the variables provision sets itself or its commands read\n",
    .exec = cmd_roles,
};
