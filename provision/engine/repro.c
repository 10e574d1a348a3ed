/*
 * repro.c - the per-host record of rendered roles and package versions,
 * the --frozen check and the comparison of two environments.
 */
#include <stdlib.h>
#include <string.h>

#include "provision/repro.h"
#include "provision/shquote.h"
#include "res-util.h"

/*
 * Addresses are what two environments must differ in: the digests and the
 * contents diff compares name each server's address of the layout (and the
 * host's own private address) by the server's name instead.
 */
struct addr_name {
	const char *addr;
	size_t len;
	char *name;
};

/* a host plan's addresses with their names, longest first: built once per plan */
struct addr_list {
	struct addr_name *v;
	size_t n;
};

static int by_length_desc(const void *a, const void *b)
{
	size_t la = ((const struct addr_name *)a)->len;
	size_t lb = ((const struct addr_name *)b)->len;
	return la < lb ? 1 : la > lb ? -1 : 0;
}

static void addr_list_build(const struct host_plan *hp, struct addr_list *out)
{
	const struct node *servers = scope_get(&hp->scope, "servers");
	const struct node *own = scope_get(&hp->scope, "private_address");
	const struct node *pub = scope_get(&hp->scope, "address");
	const char *mine = own && own->kind == NODE_SCALAR ? own->scalar : "";
	const char *pmine = pub && pub->kind == NODE_SCALAR ? pub->scalar : "";
	size_t n = 0, cap = (servers && servers->kind == NODE_SEQ ? servers->n : 0) + 2;
	struct addr_name *v = xcalloc(cap, sizeof(*v));

	/* the host's own addresses by what they are, the others by their server */
	if (mine[0])
		v[n++] = (struct addr_name){mine, strlen(mine), xstrdup("<private address>")};
	if (pmine[0] && strcmp(pmine, mine))
		v[n++] = (struct addr_name){pmine, strlen(pmine), xstrdup("<address>")};
	for (size_t i = 0; servers && servers->kind == NODE_SEQ && i < servers->n; i++) {
		const struct node *a = node_get(servers->items[i], "address");
		const struct node *nm = node_get(servers->items[i], "name");
		if (a && a->kind == NODE_SCALAR && a->scalar[0] && strcmp(a->scalar, mine) &&
		    strcmp(a->scalar, pmine) && nm && nm->kind == NODE_SCALAR)
			v[n++] = (struct addr_name){a->scalar, strlen(a->scalar),
			                            xasprintf("<address of %s>", nm->scalar)};
	}
	qsort(v, n, sizeof(*v), by_length_desc);
	out->v = v;
	out->n = n;
}

static void addr_list_release(struct addr_list *al)
{
	for (size_t k = 0; k < al->n; k++)
		free(al->v[k].name);
	free(al->v);
	*al = (struct addr_list){0};
}

static bool addr_char(char c)
{
	return (c >= '0' && c <= '9') || c == '.';
}

/* data with every whole address of the layout replaced by its server's name */
static void normalized(const struct addr_list *al, const char *data, size_t len, struct buf *out)
{
	const struct addr_name *an = al->v;
	size_t n = al->n;

	for (size_t i = 0; i < len;) {
		size_t k;
		for (k = 0; k < n; k++) {
			size_t l = an[k].len;
			if (l <= len - i && !memcmp(data + i, an[k].addr, l) &&
			    (i == 0 || !addr_char(data[i - 1])) &&
			    (i + l == len || !addr_char(data[i + l]) ||
			     (data[i + l] == '.' &&
			      (i + l + 1 == len || !addr_char(data[i + l + 1]))))) {
				buf_adds(out, an[k].name);
				i += l;
				break;
			}
		}
		if (k == n)
			buf_add(out, data + i++, 1);
	}
}

/* The digest of what one resource gives the host, before any probe. */
static void resource_digest(const struct addr_list *al, const struct resource *r, char out[65])
{
	struct buf b = BUF_INIT;
	struct stage st;

	stage_init(&st);
	buf_addf(&b, "%s\n%s\n", r->type->name, r->title);
	r->type->probe(r, 0, &b);
	r->type->apply(r, 0, &b);
	if (r->type->stage)
		r->type->stage(r, 0, &st);
	for (size_t i = 0; i < st.n; i++) {
		/* a digest of a secret could be guessed at: only its size counts */
		if (!st.files[i].secret && !r->secret) {
			struct buf nc = BUF_INIT;
			normalized(al, st.files[i].data, st.files[i].len, &nc);
			buf_addf(&b, "\n@@stage %s %zu\n", st.files[i].name, nc.len);
			buf_add(&b, nc.s ? nc.s : "", nc.len);
			buf_wipe(&nc);
		} else {
			buf_addf(&b, "\n@@stage %s %zu\n", st.files[i].name, st.files[i].len);
		}
	}
	if (r->secret) {
		/* the shell of a secret resource may hold the secret itself */
		buf_reset(&b);
		buf_addf(&b, "%s\n%s\n(secret)\n", r->type->name, r->title);
	}
	struct buf nb = BUF_INIT;
	normalized(al, b.s ? b.s : "", b.len, &nb);
	/* the probe names a file by its content's digest: that of the named content */
	for (size_t i = 0; !r->secret && i < st.n; i++) {
		struct buf nc = BUF_INIT;
		char raw[65], named[65];
		pv_sha256_hex(st.files[i].data, st.files[i].len, raw);
		normalized(al, st.files[i].data, st.files[i].len, &nc);
		pv_sha256_hex(nc.s ? nc.s : "", nc.len, named);
		for (char *p = nb.s ? strstr(nb.s, raw) : NULL; p; p = strstr(p + 64, raw))
			memcpy(p, named, 64);
		buf_wipe(&nc);
	}
	pv_sha256_hex(nb.s ? nb.s : "", nb.len, out);
	buf_wipe(&nb);
	buf_wipe(&b);
	stage_release(&st);
}

json_t *repro_digests(const struct host_plan *hp)
{
	json_t *rec = json_object(), *roles = json_object(), *res = json_object();
	struct buf all = BUF_INIT, role = BUF_INIT;
	const char *cur_role = NULL;
	struct addr_list al;
	char hex[65];

	addr_list_build(hp, &al);

	for (size_t i = 0; i <= hp->n_res + hp->n_handlers; i++) {
		const struct resource *r = NULL;
		const char *what = "";
		if (i < hp->n_res) {
			r = &hp->res[i];
		} else if (i < hp->n_res + hp->n_handlers) {
			r = &hp->handlers[i - hp->n_res].res;
			what = "handler ";
		}
		if (!r || !r->type)
			continue;
		resource_digest(&al, r, hex);
		char *key = xasprintf("%s%s", what, r->title);
		for (int k = 2; json_object_get(res, key); k++) {
			free(key);
			key = xasprintf("%s%s #%d", what, r->title, k);
		}
		json_object_set_new(
		    res, key,
		    json_pack("{s:s, s:s}", "role", r->role ? r->role : "", "digest", hex));
		buf_addf(&all, "%s %s\n", key, hex);
		free(key);
		(void)cur_role;
	}
	/* per role: its resources and handlers in order */
	const char *k;
	json_t *v;
	json_t *by_role = json_object();
	json_object_foreach(res, k, v)
	{
		const char *rn = json_string_value(json_object_get(v, "role"));
		json_t *acc = json_object_get(by_role, rn);
		const char *prev = acc ? json_string_value(acc) : "";
		char *next = xasprintf("%s%s %s\n", prev, k,
		                       json_string_value(json_object_get(v, "digest")));
		json_object_set_new(by_role, rn, json_string(next));
		free(next);
	}
	json_object_foreach(by_role, k, v)
	{
		const char *text = json_string_value(v);
		pv_sha256_hex(text, strlen(text), hex);
		json_object_set_new(roles, k, json_string(hex));
	}
	json_decref(by_role);
	pv_sha256_hex(all.s, all.len, hex);
	json_object_set_new(rec, "digest", json_string(hex));
	json_object_set_new(rec, "roles", roles);
	json_object_set_new(rec, "resources", res);
	buf_release(&all);
	buf_release(&role);
	addr_list_release(&al);
	return rec;
}

/* The names of every package the plan wants present (allocated list, borrowed strings). */
static const char **wanted(const struct host_plan *hp, size_t *n)
{
	const char **out = NULL;
	size_t alloc = 0;

	*n = 0;
	for (size_t i = 0; i < hp->n_res; i++) {
		size_t k;
		bool present;
		const char *const *names = res_package_names(&hp->res[i], &k, &present);
		for (size_t j = 0; names && present && j < k; j++) {
			PV_GROW(out, *n + 1, alloc);
			out[(*n)++] = names[j];
		}
	}
	return out;
}

/*
 * awk over "STATUS|NAME|VERSION|PROVIDES|PRE-DEPENDS, DEPENDS" lines of
 * every package: "@@D NAME VERSION" for each installed package that a
 * package of $want depends on, transitively.  Of alternatives ("a | b")
 * the first one installed counts; a virtual package is the installed
 * package that provides it.
 */
#define DEPS_AWK                                                                                   \
	"BEGIN { n = split(want, w, \" \"); for (i = 1; i <= n; i++) named[w[i]] = 1 }\n"          \
	"$1 ~ /^ii/ { ver[$2] = $3; dep[$2] = $5; m = split($4, pr, /, */)\n"                      \
	"  for (i = 1; i <= m; i++) { split(pr[i], q, / /)\n"                                      \
	"    if (q[1] != \"\" && !(q[1] in prov)) prov[q[1]] = $2 } }\n"                           \
	"END { t = 0; h = 0\n"                                                                     \
	"  for (x in named) if (x in ver) { seen[x] = 1; queue[++t] = x }\n"                       \
	"  while (h < t) { p = queue[++h]; m = split(dep[p], d, /, */)\n"                          \
	"    for (j = 1; j <= m; j++) { a = split(d[j], alt, / *[|] */)\n"                         \
	"      for (k = 1; k <= a; k++) { split(alt[k], z, /[ (:]/); x = z[1]\n"                   \
	"        if (x == \"\") continue\n"                                                        \
	"        if (!(x in ver) && (x in prov)) x = prov[x]\n"                                    \
	"        if (x in ver) { if (!(x in seen)) { seen[x] = 1; queue[++t] = x }; break } } } "  \
	"}\n"                                                                                      \
	"  for (x in seen) if (!(x in named)) print \"@@D \" x \" \" ver[x] }"

bool repro_probe_reads_deps(const struct host_plan *hp)
{
	return hp->frozen || (hp->record && !hp->frozen_deps);
}

void repro_versions_sh(const struct host_plan *hp, struct buf *sh, bool deps)
{
	size_t n;
	const char **names = wanted(hp, &n);
	struct buf want = BUF_INIT;

	if (!n) {
		free(names);
		return;
	}
	/* one dpkg-query; apt-cache only for what is not installed (nothing, once converged) */
	buf_adds(sh, "pv_vq=$(dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\\n' --");
	for (size_t i = 0; i < n; i++) {
		char *base = xstrndup(names[i], strcspn(names[i], "=:"));
		sh_word(sh, base);
		buf_addf(&want, "%s%s", i ? " " : "", base);
		free(base);
	}
	buf_adds(sh, " 2>/dev/null)\nprintf '%s\\n' \"$pv_vq\" | awk 'NF { print \"@@V \" $0 }'\n"
	             "pv_miss=$(printf '%s\\n' \"$pv_vq\" | awk -v want=");
	sh_quote_buf(sh, want.s);
	buf_adds(sh, " 'BEGIN { n = split(want, w, \" \") } $3 ~ /^ii/ { ok[$1] = 1 } "
	             "END { for (i = 1; i <= n; i++) if (!ok[w[i]]) print w[i] }')\n"
	             "[ -z \"$pv_miss\" ] || apt-cache policy -- $pv_miss 2>/dev/null | "
	             "awk '/^[^ ].*:$/ { p = substr($0, 1, length($0) - 1) } "
	             "/^  Candidate:/ { print \"@@C \" p \" \" $2 }'\n");
	/* what they depend on: one more dpkg-query, of every package, closed over in awk */
	if (deps) {
		buf_adds(
		    sh,
		    "echo @@DR\ndpkg-query -W -f='${db:Status-Abbrev}|${Package}|${Version}|"
		    "${Provides}|${Pre-Depends}, ${Depends}\\n' 2>/dev/null | awk -F'|' -v want=");
		sh_quote_buf(sh, want.s);
		buf_adds(sh, " '" DEPS_AWK "'\n");
	}
	/* --frozen: what apt would install with the missing ones, dependencies too */
	if (hp->frozen)
		buf_adds(sh,
		         "[ -z \"$pv_miss\" ] || apt-get -s -q install --no-install-recommends -- "
		         "$pv_miss 2>/dev/null | awk '$1 == \"Inst\" { v = $3; if (v ~ /^\\[/) "
		         "v = $4; sub(/^\\(/, \"\", v); print \"@@S \" $2 \" \" v }'\n");
	buf_release(&want);
	free(names);
}

void repro_pkgs_parse(struct host_plan *p, const char *out, size_t len)
{
	const char *s = out, *e = out + len;

	if (!p->pkg_installed)
		p->pkg_installed = json_object();
	if (!p->pkg_candidate)
		p->pkg_candidate = json_object();
	if (!p->pkg_deps)
		p->pkg_deps = json_object();
	if (!p->pkg_sim)
		p->pkg_sim = json_object();
	json_object_clear(p->pkg_installed);
	json_object_clear(p->pkg_candidate);
	json_object_clear(p->pkg_deps);
	json_object_clear(p->pkg_sim);
	p->deps_read = false;
	while (s < e) {
		const char *nl = memchr(s, '\n', (size_t)(e - s));
		size_t l = nl ? (size_t)(nl - s) : (size_t)(e - s);
		char *line = xstrndup(s, l);
		char name[256], ver[256], st[16];

		s += l + (nl ? 1 : 0);
		if (!strncmp(line, "@@V ", 4)) {
			/* a package dpkg knows but that is not installed has no version */
			int got = sscanf(line + 4, "%255s %255s %15s", name, ver, st);
			if (got == 3 && !strncmp(st, "ii", 2))
				json_object_set_new(p->pkg_installed, name, json_string(ver));
		} else if (!strncmp(line, "@@C ", 4)) {
			if (sscanf(line + 4, "%255s %255s", name, ver) == 2 &&
			    strcmp(ver, "(none)"))
				json_object_set_new(p->pkg_candidate, name, json_string(ver));
		} else if (!strcmp(line, "@@DR")) {
			p->deps_read = true;
		} else if (!strncmp(line, "@@D ", 4) || !strncmp(line, "@@S ", 4)) {
			if (sscanf(line + 4, "%255s %255s", name, ver) == 2)
				json_object_set_new(line[2] == 'D' ? p->pkg_deps : p->pkg_sim, name,
				                    json_string(ver));
		}
		free(line);
	}
}

/* The --frozen findings about dependencies, appended to msg after the first
   'before' findings; how many. */
static size_t deps_check(const struct host_plan *hp, struct buf *msg, size_t before)
{
	const json_t *rec = hp->frozen_deps, *named = hp->frozen_pkgs;
	size_t bad = 0;
	const char *name;
	json_t *v;

	if (!rec) {
		buf_addf(msg,
		         "%sno dependency versions are recorded for this host (the record is "
		         "older)",
		         before ? "; " : "");
		return 1;
	}
	/* installed: as recorded */
	json_object_foreach(hp->pkg_deps, name, v)
	{
		const char *want = json_string_value(json_object_get(rec, name));
		if (!want)
			want = json_string_value(json_object_get(named, name));
		if (!want)
			buf_addf(msg, "%sdependency '%s' is %s on the host and not in the record",
			         before + bad++ ? "; " : "", name, json_string_value(v));
		else if (strcmp(want, json_string_value(v)))
			buf_addf(msg, "%sdependency '%s' is %s on the host, recorded %s",
			         before + bad++ ? "; " : "", name, json_string_value(v), want);
	}
	/* what apt would install with the missing packages: as recorded */
	json_object_foreach(hp->pkg_sim, name, v)
	{
		const char *want = json_string_value(json_object_get(rec, name));
		if (json_object_get(named, name) || json_object_get(hp->pkg_candidate, name))
			continue; /* a named package: checked above */
		if (!want)
			buf_addf(
			    msg,
			    "%sdependency '%s' would be installed at %s and is not in the record",
			    before + bad++ ? "; " : "", name, json_string_value(v));
		else if (strcmp(want, json_string_value(v)))
			buf_addf(msg, "%sdependency '%s' would be installed at %s, recorded %s",
			         before + bad++ ? "; " : "", name, json_string_value(v), want);
	}
	return bad;
}

int repro_frozen_check(const struct host_plan *hp, struct pv_error *err)
{
	const json_t *recorded = hp->frozen_pkgs;

	if (!recorded)
		return pv_error_set(
		    err, "--frozen: no package versions are recorded for this host; "
		         "nothing was changed (run once without --frozen to record them)");
	size_t n;
	const char **names = wanted(hp, &n);
	struct buf msg = BUF_INIT;
	size_t bad = 0;

	for (size_t i = 0; i < n; i++) {
		char *name = xstrndup(names[i], strcspn(names[i], "=:"));
		const char *rec = json_string_value(json_object_get(recorded, name));
		const char *inst = json_string_value(json_object_get(hp->pkg_installed, name));
		const char *cand = json_string_value(json_object_get(hp->pkg_candidate, name));

		if (!rec)
			buf_addf(&msg, "%spackage '%s' has no recorded version", bad++ ? "; " : "",
			         name);
		else if (inst && strcmp(inst, rec))
			buf_addf(&msg, "%spackage '%s' is %s on the host, recorded %s",
			         bad++ ? "; " : "", name, inst, rec);
		else if (!inst && (!cand || strcmp(cand, rec)))
			buf_addf(&msg, "%spackage '%s' would be installed at %s, recorded %s",
			         bad++ ? "; " : "", name, cand ? cand : "(no candidate)", rec);
		free(name);
	}
	free(names);
	bad += deps_check(hp, &msg, bad);
	if (bad) {
		pv_error_set(err,
		             "--frozen: %s; nothing was changed (run without --frozen to accept "
		             "new versions)",
		             msg.s);
		buf_release(&msg);
		return -1;
	}
	buf_release(&msg);
	return 0;
}

static void line(struct buf *out, json_t *jout, const char *host, const char *kind,
                 const char *what, const char *va, const char *vb, const char *text)
{
	buf_addf(out, "  %s: %s\n", host, text);
	if (jout)
		json_array_append_new(jout,
		                      json_pack("{s:s, s:s, s:s, s:s?, s:s?}", "host", host, "kind",
		                                kind, "what", what, "a", va, "b", vb));
}

size_t repro_compare(const json_t *ra, const json_t *rb, const char *a, const char *b,
                     struct buf *out, json_t *jout)
{
	size_t diffs = 0;
	const char *host;
	json_t *ha;

	json_object_foreach((json_t *)ra, host, ha)
	{
		json_t *hb = json_object_get(rb, host);
		char *t;

		if (!hb) {
			t = xasprintf("only in '%s'", a);
			line(out, jout, host, "host", host, a, NULL, t);
			free(t);
			diffs++;
			continue;
		}
		/* roles */
		json_t *roa = json_object_get(ha, "roles"), *rob = json_object_get(hb, "roles");
		const char *k;
		json_t *v;
		json_object_foreach(roa, k, v)
		{
			if (!json_object_get(rob, k)) {
				t = xasprintf("role '%s' only in '%s'", k, a);
				line(out, jout, host, "role", k, a, NULL, t);
				free(t);
				diffs++;
			}
		}
		json_object_foreach(rob, k, v)
		{
			if (!json_object_get(roa, k)) {
				t = xasprintf("role '%s' only in '%s'", k, b);
				line(out, jout, host, "role", k, NULL, b, t);
				free(t);
				diffs++;
			}
		}
		/* rendered resources, files among them */
		json_t *rsa = json_object_get(ha, "resources"),
		       *rsb = json_object_get(hb, "resources");
		json_object_foreach(rsa, k, v)
		{
			json_t *w = json_object_get(rsb, k);
			const char *da = json_string_value(json_object_get(v, "digest"));
			const char *role = json_string_value(json_object_get(v, "role"));
			if (!w) {
				t = xasprintf("%s (role %s) only in '%s'", k, role, a);
				line(out, jout, host, "resource", k, a, NULL, t);
			} else if (strcmp(da, json_string_value(json_object_get(w, "digest")))) {
				t = xasprintf("%s (role %s) differs", k, role);
				line(out, jout, host, "resource", k, da,
				     json_string_value(json_object_get(w, "digest")), t);
			} else {
				continue;
			}
			free(t);
			diffs++;
		}
		json_object_foreach(rsb, k, v)
		{
			if (json_object_get(rsa, k))
				continue;
			t = xasprintf("%s (role %s) only in '%s'", k,
			              json_string_value(json_object_get(v, "role")), b);
			line(out, jout, host, "resource", k, NULL, b, t);
			free(t);
			diffs++;
		}
		/* package versions */
		json_t *pa = json_object_get(ha, "packages"), *pb = json_object_get(hb, "packages");
		json_object_foreach(pa, k, v)
		{
			const char *va = json_string_value(v);
			const char *vb = json_string_value(json_object_get(pb, k));
			if (vb && !strcmp(va, vb))
				continue;
			t = xasprintf("package %s: %s in '%s', %s in '%s'", k, va, a,
			              vb ? vb : "not installed", b);
			line(out, jout, host, "package", k, va, vb, t);
			free(t);
			diffs++;
		}
		json_object_foreach(pb, k, v)
		{
			if (json_object_get(pa, k))
				continue;
			t = xasprintf("package %s: not installed in '%s', %s in '%s'", k, a,
			              json_string_value(v), b);
			line(out, jout, host, "package", k, NULL, json_string_value(v), t);
			free(t);
			diffs++;
		}
	}
	json_object_foreach((json_t *)rb, host, ha)
	{
		if (json_object_get(ra, host))
			continue;
		char *t = xasprintf("only in '%s'", b);
		line(out, jout, host, "host", host, NULL, b, t);
		free(t);
		diffs++;
	}
	return diffs;
}

int repro_file_content(const struct host_plan *hp, const char *title, char **content, size_t *len,
                       char digest[65])
{
	for (size_t i = 0; i < hp->n_res; i++) {
		const struct resource *r = &hp->res[i];
		struct stage st;

		if (!r->type || strcmp(r->title, title) || strcmp(r->type->name, "file"))
			continue;
		if (r->secret || !r->type->stage)
			return -1;
		struct addr_list al;
		addr_list_build(hp, &al);
		resource_digest(&al, r, digest);
		stage_init(&st);
		r->type->stage(r, 0, &st);
		int rc = -1;
		if (st.n == 1 && !st.files[0].secret) {
			struct buf nb = BUF_INIT;
			normalized(&al, st.files[0].data, st.files[0].len, &nb);
			*content = buf_detach(&nb, len);
			rc = 0;
		}
		stage_release(&st);
		addr_list_release(&al);
		return rc;
	}
	return -1;
}
