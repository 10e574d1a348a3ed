/*
 * test-roledecls.c - every built-in role declares every variable it reads.
 *
 * The reads are found in role.yml ({{ }} and {% %} in any text of
 * resources, handlers and health checks, and 'when' conditions) and in the
 * templates its file resources name.  A read is declared when:
 *   - the role itself, a role it requires (or comes after, or requires one
 *     of), or a role that names it in 'after' or 'requires_one_of'
 *     declares it, or provision does (vars.h);
 *   - for a read that cannot fail on an undefined name ('when', {% if %},
 *     | default), any built-in role declares it.
 * Every built-in declaration has an explicit type and a doc line.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "provision/role.h"
#include "provision/vars.h"

struct read {
	char *name;
	bool guarded;
	char *where; /* file and what */
};

struct reads {
	struct read *v;
	size_t n, alloc;
	char **locals; /* loop variables */
	size_t n_locals, locals_alloc;
};

static void add_read(struct reads *r, const char *name, size_t len, bool guarded, const char *where)
{
	char *n = xstrndup(name, len);

	for (size_t i = 0; i < r->n_locals; i++)
		if (!strcmp(r->locals[i], n)) {
			free(n);
			return;
		}
	PV_GROW(r->v, r->n + 1, r->alloc);
	r->v[r->n].name = n;
	r->v[r->n].guarded = guarded;
	r->v[r->n].where = xstrdup(where);
	r->n++;
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '-' || *p == '\t')
		p++;
	return p;
}

static size_t ident_len(const char *p)
{
	size_t n = 0;

	while (isalnum((unsigned char)p[n]) || p[n] == '_')
		n++;
	return n;
}

/* Every tag of a template text. */
static void scan_text(struct reads *r, const char *text, const char *where)
{
	const char *p = text;

	while ((p = strchr(p, '{'))) {
		const char *q;
		if (p[1] == '{') {
			q = strstr(p + 2, "}}");
			if (!q)
				return;
			const char *e = skip_ws(p + 2);
			size_t l = ident_len(e);
			char *tag = xstrndup(p, (size_t)(q - p));
			if (l)
				add_read(r, e, l, strstr(tag, "| default") != NULL, where);
			free(tag);
			p = q + 2;
		} else if (p[1] == '%') {
			q = strstr(p + 2, "%}");
			if (!q)
				return;
			const char *e = skip_ws(p + 2);
			if (!strncmp(e, "if ", 3) || !strncmp(e, "elif ", 5)) {
				e = skip_ws(e + (*e == 'i' ? 3 : 5));
				if (!strncmp(e, "not ", 4))
					e = skip_ws(e + 4);
				add_read(r, e, ident_len(e), true, where);
			} else if (!strncmp(e, "for ", 4)) {
				e = skip_ws(e + 4);
				size_t l = ident_len(e);
				PV_GROW(r->locals, r->n_locals + 2, r->locals_alloc);
				r->locals[r->n_locals++] = xstrndup(e, l);
				/* every loop has its loop.index */
				r->locals[r->n_locals++] = xstrdup("loop");
				e = strstr(e, " in ");
				if (e) {
					e = skip_ws(e + 4);
					add_read(r, e, ident_len(e), false, where);
				}
			}
			p = q + 2;
		} else {
			p++;
		}
	}
}

/* A 'when': terms "name", "!name", "name == x", "name != x", joined by "||". */
static void scan_when(struct reads *r, const struct node *w, const char *where)
{
	if (w->kind == NODE_SEQ) {
		for (size_t i = 0; i < w->n; i++)
			scan_when(r, w->items[i], where);
		return;
	}
	if (w->kind != NODE_SCALAR)
		return;
	for (const char *p = w->scalar; p;) {
		const char *e = p;
		while (*e == ' ' || *e == '!')
			e++;
		add_read(r, e, ident_len(e), true, where);
		p = strstr(p, "||");
		if (p)
			p += 2;
	}
}

static char *read_template(const struct role *role, const char *name)
{
	const char *dirs[] = {NULL, "templates"};
	char *own = xasprintf("%s/templates", role->dir);
	char *text = NULL;

	dirs[0] = own;
	for (size_t i = 0; i < 2 && !text; i++) {
		char *path = pv_path_join(dirs[i], name);
		size_t len;
		struct pv_error err;
		if (pv_read_file(path, &text, &len, 0, &err) < 0)
			text = NULL;
		free(path);
	}
	free(own);
	return text;
}

static void scan_node(struct reads *r, const struct role *role, const struct node *n,
                      const char *key)
{
	if (!n)
		return;
	if (n->kind == NODE_SCALAR) {
		char *where = xasprintf("%s:%d", n->pos.file, n->pos.line);
		if (key && !strcmp(key, "when")) {
			scan_when(r, n, where);
		} else {
			scan_text(r, n->scalar, where);
			if (key && !strcmp(key, "template")) {
				char *text = read_template(role, n->scalar);
				char *tw = xasprintf("template %s", n->scalar);
				CHECK(text != NULL);
				if (text)
					scan_text(r, text, tw);
				free(text);
				free(tw);
			}
		}
		free(where);
		return;
	}
	if (key && !strcmp(key, "when")) {
		char *where = xasprintf("%s:%d", n->pos.file, n->pos.line);
		scan_when(r, n, where);
		free(where);
		return;
	}
	for (size_t i = 0; i < n->n; i++)
		scan_node(r, role, n->items[i], n->kind == NODE_MAP ? n->keys[i] : NULL);
}

static bool declares(const struct role *r, const char *name)
{
	return r && role_decl(r, name) != NULL;
}

static bool in_list(char *const *l, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(l[i], s))
			return true;
	return false;
}

static struct role_set rs;
static struct role **all;
static size_t n_all;

/* Is role b related to role a (a may read what b declares)? */
static bool related(const struct role *a, const struct role *b, int depth)
{
	if (a == b)
		return true;
	if (depth > 8)
		return false;
	if (in_list(a->after, a->n_after, b->name) || in_list(a->one_of, a->n_one_of, b->name) ||
	    in_list(b->after, b->n_after, a->name) || in_list(b->one_of, b->n_one_of, a->name))
		return true;
	for (size_t i = 0; i < a->n_requires; i++)
		for (size_t k = 0; k < n_all; k++)
			if (!strcmp(all[k]->name, a->requires[i]) && related(all[k], b, depth + 1))
				return true;
	return false;
}

/* The problems of one role: undeclared reads, as "role: where: name". */
static void check_role(const struct role *role, struct reads *r, char **out)
{
	struct buf b = BUF_INIT;

	memset(r, 0, sizeof(*r));
	scan_node(r, role, role->resources, NULL);
	scan_node(r, role, role->handlers, NULL);
	scan_node(r, role, role->health, NULL);
	for (size_t i = 0; i < r->n; i++) {
		const char *name = r->v[i].name;
		bool ok = vars_builtin(name, NULL) != NULL;
		for (size_t k = 0; k < n_all && !ok; k++)
			ok =
			    declares(all[k], name) && (r->v[i].guarded || related(role, all[k], 0));
		if (!ok)
			buf_addf(&b, "%s: %s: %s%s\n", role->name, r->v[i].where, name,
			         r->v[i].guarded ? " (guarded)" : "");
	}
	*out = buf_detach(&b, NULL);
}

static void reads_release(struct reads *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].name);
		free(r->v[i].where);
	}
	free(r->v);
	for (size_t i = 0; i < r->n_locals; i++)
		free(r->locals[i]);
	free(r->locals);
}

static bool reads_has(const struct reads *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->v[i].name, name))
			return true;
	return false;
}

static void load_all(void)
{
	DIR *dir = opendir("roles");
	struct dirent *e;
	struct diags d;
	size_t alloc = 0;

	role_set_init(&rs);
	role_set_add_dir(&rs, "roles");
	diags_init(&d);
	while (dir && (e = readdir(dir))) {
		if (e->d_name[0] == '.')
			continue;
		struct role *r = role_get(&rs, e->d_name, NULL, &d);
		CHECK(r != NULL);
		if (r) {
			PV_GROW(all, n_all + 1, alloc);
			all[n_all++] = r;
		}
	}
	if (dir)
		closedir(dir);
	for (size_t i = 0; i < d.n; i++)
		printf("  %s\n", d.msgs[i]);
	CHECK(d.n == 0);
	diags_release(&d);
}

static void test_every_read_declared(void)
{
	bool saw_sshd = false, saw_ufw = false, saw_loop = false;

	CHECK(n_all >= 12);
	for (size_t i = 0; i < n_all; i++) {
		struct reads r;
		char *bad;
		check_role(all[i], &r, &bad);
		CHECK_STR(bad, "");
		/* the scanner itself finds what it must */
		if (!strcmp(all[i]->name, "base"))
			saw_sshd = reads_has(&r, "ssh_permit_root_login") &&
			           reads_has(&r, "fail2ban_bantime") && reads_has(&r, "admin_user");
		if (!strcmp(all[i]->name, "ufw"))
			saw_ufw = reads_has(&r, "ufw_allow") && reads_has(&r, "tailscale_ssh");
		if (!strcmp(all[i]->name, "pgbouncer"))
			saw_loop = reads_has(&r, "postgres_users") && !reads_has(&r, "u");
		reads_release(&r);
		free(bad);
	}
	CHECK(saw_sshd);
	CHECK(saw_ufw);
	CHECK(saw_loop);
}

/* A read nothing declares is caught (the check can fail). */
static void test_undeclared_caught(void)
{
	struct reads r;
	char *bad;
	struct role fake;

	memset(&fake, 0, sizeof(fake));
	fake.name = "fake";
	fake.dir = "roles/fake";
	struct node *doc = NULL;
	struct pv_error err;
	const char text[] =
	    "- command: { run: \"echo {{ ssh_max_auth_tries }} {{ no_such_var }}\" }\n"
	    "  when: \"fail2ban_maxretry || nor_this\"\n";
	CHECK(node_load_string(&doc, "fake.yml", text, sizeof(text) - 1, &err) == 0);
	fake.resources = doc;
	check_role(&fake, &r, &bad);
	/* ssh_max_auth_tries is role base's: not related to 'fake', so not declared for it */
	CHECK_STR(bad, "fake: fake.yml:1: ssh_max_auth_tries\n"
	               "fake: fake.yml:1: no_such_var\n"
	               "fake: fake.yml:2: nor_this (guarded)\n");
	reads_release(&r);
	free(bad);
	node_free(doc);
}

static void test_declarations_explicit(void)
{
	for (size_t i = 0; i < n_all; i++)
		for (size_t k = 0; k < all[i]->n_decls; k++) {
			const struct var_decl *v = &all[i]->decls[k];
			if (v->inferred || !v->doc || !*v->doc)
				printf("  role %s: variable %s needs a type and a doc\n",
				       all[i]->name, v->name);
			CHECK(!v->inferred);
			CHECK(v->doc && *v->doc);
		}
}

/*
 * The README names role variables in backquotes; each one it names with a
 * role's prefix must be declared, so the documentation cannot speak of a
 * variable validate does not know.
 */
static void test_readme_names_declared(void)
{
	static const char *const prefixes[] = {"ssh_",       "fail2ban_",  "postgres_", "patroni_",
	                                       "backup_",    "proxy_",     "haproxy_",  "docker_",
	                                       "rustfs_",    "tailscale_", "ufw_",      "journald_",
	                                       "pgbouncer_", "traefik_"};
	/* named in the README, and not variables: cloud-init keys, a server key, a secret */
	/* cloud-init's keys and inventory keys the README names in the same way */
	static const char *const not_vars[] = {"ssh_deletekeys",   "ssh_genkeytypes", "ssh_key",
	                                       "ssh_keys",         "ssh_pwauth",      "ssh_user",
	                                       "tailscale_api_key"};
	char *text = NULL;
	size_t len, seen = 0;
	struct pv_error err;

	CHECK(pv_read_file("README.md", &text, &len, 0, &err) == 0);
	for (const char *p = text; p && (p = strchr(p, '`'));) {
		const char *e = p + 1;
		size_t l = ident_len(e);
		bool pre = false, skip = false, ok = false;
		for (size_t i = 0; i < PV_ARRAY_SIZE(prefixes) && !pre; i++)
			pre = !strncmp(e, prefixes[i], strlen(prefixes[i]));
		p = e;
		if (!pre || !l || (e[l] != '`' && e[l] != ':'))
			continue;
		char *name = xstrndup(e, l);
		for (size_t i = 0; i < PV_ARRAY_SIZE(not_vars) && !skip; i++)
			skip = !strcmp(name, not_vars[i]);
		ok = skip || vars_builtin(name, NULL);
		for (size_t k = 0; k < n_all && !ok; k++)
			ok = declares(all[k], name);
		if (!ok)
			printf("  README names variable '%s', which no role declares\n", name);
		CHECK(ok);
		seen++;
		free(name);
	}
	CHECK(seen > 40); /* the scan finds the README's variables */
	free(text);
}

int main(void)
{
	load_all();
	RUN(test_every_read_declared);
	RUN(test_undeclared_caught);
	RUN(test_declarations_explicit);
	RUN(test_readme_names_declared);
	free(all);
	role_set_release(&rs);
	return check_done("roledecls");
}
