/*
 * res-sysctl.c - kernel parameters: a file in /etc/sysctl.d and the live values.
 *
 *   sysctl: { file: /etc/sysctl.d/90-provision.conf,
 *             settings: { net.ipv4.tcp_syncookies: 1, kernel.kptr_restrict: 2 } }
 *
 * The file makes the settings survive a reboot; the live value of each is
 * checked and set where the host lets us write it.  A container shares
 * most of /proc/sys with the machine it runs on and mounts it read-only:
 * there only the file is managed (and takes effect on a real server), and
 * parameters this kernel does not have are left to the file as well.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/shquote.h"
#include "res-util.h"

struct sysctl_spec {
	char *file;
	char **keys, **values;
	size_t n;
	char *content;
};

static void sysctl_free(void *p)
{
	struct sysctl_spec *s = p;

	free(s->file);
	strv_free(s->keys, s->n);
	strv_free(s->values, s->n);
	free(s->content);
	free(s);
}

static bool key_ok(const char *k)
{
	size_t len = strlen(k);

	if (!len || len > 200 || k[0] == '.' || k[0] == '/' || strstr(k, ".."))
		return false;
	return strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789_.-/*") == len && !strchr(k, '*');
}

static int sysctl_parse(struct resource *r, const struct node *n, const struct scope *s,
                        const struct render_ctx *ctx, struct diags *d)
{
	static const char *const keys[] = {"file", "settings"};
	const char *where = "sysctl resource";
	struct sysctl_spec *sp;
	const struct node *set;
	struct buf c = BUF_INIT;
	int bad = 0;

	if (res_check_map(n, keys, PV_ARRAY_SIZE(keys), where, d) < 0)
		return -1;
	sp = xcalloc(1, sizeof(*sp));
	r->spec = sp;
	if (res_field_str(r, n, "file", false, "/etc/sysctl.d/90-provision.conf", TPL_TEXT, s,
	                  where, &sp->file, d) < 0)
		return -1;
	r->title = xasprintf("sysctl %s", sp->file);
	if (strncmp(sp->file, "/etc/sysctl.d/", 14) || strstr(sp->file, "..") ||
	    strlen(sp->file) < 20 || strcmp(sp->file + strlen(sp->file) - 5, ".conf")) {
		struct pos at = res_pos(n, "file");
		diags_add(d, &at, "'file' in %s must be /etc/sysctl.d/NAME.conf, not '%s'", where,
		          sp->file);
		return -1;
	}
	set = node_get(n, "settings");
	if (!set || set->kind != NODE_MAP || !set->n) {
		struct pos at = set ? set->pos : n->pos;
		diags_add(d, &at, "%s needs 'settings': a mapping of parameter: value", where);
		return -1;
	}
	sp->keys = xcalloc(set->n + 1, sizeof(*sp->keys));
	sp->values = xcalloc(set->n + 1, sizeof(*sp->values));
	buf_adds(&c, "# managed by provision\n");
	for (size_t i = 0; i < set->n; i++) {
		const struct node *v = set->items[i];
		struct buf val = BUF_INIT;
		struct pv_error err = {{0}};
		bool secret = false;

		if (!key_ok(set->keys[i])) {
			diags_add(d, &set->key_pos[i], "invalid kernel parameter '%s' in %s",
			          set->keys[i], where);
			bad = -1;
			continue;
		}
		if (v->kind != NODE_SCALAR ||
		    tpl_render_node(&val, NULL, v, s, TPL_TEXT, &secret, &err) < 0) {
			if (v->kind != NODE_SCALAR)
				diags_add(d, &v->pos,
				          "the value of '%s' in %s must be a scalar, not %s",
				          set->keys[i], where, node_kind_name(v));
			else
				diags_add(d, NULL, "%s", err.msg);
			buf_release(&val);
			bad = -1;
			continue;
		}
		if (!val.len || strchr(val.s, '\n')) {
			diags_add(d, &v->pos, "the value of '%s' in %s must be one non-empty line",
			          set->keys[i], where);
			buf_release(&val);
			bad = -1;
			continue;
		}
		if (secret)
			r->secret = true;
		sp->keys[sp->n] = xstrdup(set->keys[i]);
		sp->values[sp->n++] = buf_detach(&val, NULL);
		buf_addf(&c, "%s = %s\n", set->keys[i], sp->values[sp->n - 1]);
	}
	sp->content = buf_detach(&c, NULL);
	return bad;
}

/* "net.ipv4.ip_forward" -> "/proc/sys/net/ipv4/ip_forward" ('/' in a key stands for '.') */
static char *proc_path(const char *key)
{
	char *p = xasprintf("/proc/sys/%s", key);

	for (char *c = p + 10; *c; c++)
		*c = *c == '.' ? '/' : *c == '/' ? '.' : *c;
	return p;
}

/* The value as the kernel prints it: words separated by one space. */
static char *words(const char *v)
{
	struct buf b = BUF_INIT;

	for (const char *c = v; *c;) {
		size_t n = strcspn(c, " \t");
		if (n)
			buf_addf(&b, "%s%.*s", b.len ? " " : "", (int)n, c);
		c += n;
		c += strspn(c, " \t");
	}
	return buf_detach(&b, NULL);
}

/* pv_sysk PROCFILE VALUE KEY: compare the live value where it can be written; builtins only. */
static const char sysctl_fn[] = "pv_sysk() {\n"
                                "\t[ -w \"$1\" ] || return 0\n"
                                "\tpv_v=\n"
                                "\tread -r pv_v <\"$1\" || [ -n \"$pv_v\" ] || return 0\n"
                                "\tset -f\n"
                                "\tpv_k=$3 pv_w=$2\n"
                                "\tset -- $pv_v\n"
                                "\tset +f\n"
                                "\t[ \"$*\" = \"$pv_w\" ] || pv_add \"$pv_k is $*\"\n"
                                "}\n";

static void sysctl_probe(const struct resource *r, int idx, struct buf *sh)
{
	const struct sysctl_spec *sp = r->spec;
	char sha[65];

	pv_sha256_hex(sp->content, strlen(sp->content), sha);
	buf_adds(sh, sysctl_fn);
	buf_adds(sh, "pv_r=\npv_cfile file");
	sh_word(sh, sp->file);
	buf_addf(sh, " %s 644 root root\n", sha);
	for (size_t i = 0; i < sp->n; i++) {
		char *path = proc_path(sp->keys[i]), *w = words(sp->values[i]);
		buf_adds(sh, "pv_sysk");
		sh_word(sh, path);
		sh_word(sh, w);
		sh_word(sh, sp->keys[i]);
		buf_addc(sh, '\n');
		free(path);
		free(w);
	}
	buf_addf(sh, "pv_end %d\n", idx);
}

static void sysctl_stage(const struct resource *r, int idx, struct stage *st)
{
	const struct sysctl_spec *sp = r->spec;
	char name[32];

	snprintf(name, sizeof(name), "s%d", idx);
	stage_add(st, name, sp->content, strlen(sp->content), r->secret);
}

static void sysctl_apply(const struct resource *r, int idx, struct buf *sh)
{
	const struct sysctl_spec *sp = r->spec;
	char name[32], sha[65];

	snprintf(name, sizeof(name), "s%d", idx);
	pv_sha256_hex(sp->content, strlen(sp->content), sha);
	/* only the live values may differ: then the file is left untouched */
	buf_adds(sh, "pv_r=\npv_cfile file");
	sh_word(sh, sp->file);
	buf_addf(sh, " %s 644 root root\nif [ -n \"$pv_r\" ]; then\n", sha);
	res_apply_file(sh, name, sp->file, "644", "root", "root");
	buf_adds(sh, "fi\n");
	for (size_t i = 0; i < sp->n; i++) {
		char *path = proc_path(sp->keys[i]);
		buf_adds(sh, "if [ -w");
		sh_word(sh, path);
		free(path);
		buf_adds(sh, " ]; then sysctl -q -w --");
		struct buf kv = BUF_INIT;
		buf_addf(&kv, "%s=%s", sp->keys[i], sp->values[i]);
		sh_word(sh, kv.s);
		buf_release(&kv);
		buf_adds(sh, "; fi\n");
	}
}

static void sysctl_explain(const struct resource *r, struct buf *out)
{
	const struct sysctl_spec *sp = r->spec;

	if (r->secret)
		return;
	buf_addf(out, "wanted in %s:\n", sp->file);
	for (size_t i = 0; i < sp->n; i++)
		buf_addf(out, "  %s = %s\n", sp->keys[i], sp->values[i]);
}

static void sysctl_rollback(const struct resource *r, int idx, struct buf *sh)
{
	res_rollback_file(sh, ((const struct sysctl_spec *)r->spec)->file);
}

static const char *sysctl_probe_path(const struct resource *r)
{
	return ((const struct sysctl_spec *)r->spec)->file;
}

const char *res_sysctl_shared_key(const struct resource *a, const struct resource *b)
{
	const struct sysctl_spec *x = a->spec, *y = b->spec;

	if (a->type != &res_type_sysctl || b->type != &res_type_sysctl)
		return NULL;
	for (size_t i = 0; i < x->n; i++)
		for (size_t j = 0; j < y->n; j++)
			if (!strcmp(x->keys[i], y->keys[j]))
				return x->keys[i];
	return NULL;
}

const struct res_type res_type_sysctl = {
    .name = "sysctl",
    .parse = sysctl_parse,
    .probe = sysctl_probe,
    .probe_path = sysctl_probe_path,
    .stage = sysctl_stage,
    .apply = sysctl_apply,
    .explain = sysctl_explain,
    .rollback = sysctl_rollback,
    .free_spec = sysctl_free,
};
