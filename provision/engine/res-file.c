/*
 * res-file.c - a whole file: content inline or from a template.
 *
 *   file: { path: /etc/motd, template: motd.txt, mode: "0644", owner: root,
 *           group: root, validate: "/usr/sbin/sshd -t", state: present }
 *   file: { path: /etc/x.conf, content: "k = {{ v }}\n", format: ini }
 *
 * A template file declares its own format on its first line; inline
 * content is "plain" unless 'format' says otherwise (template.h).
 *
 * The new content is staged, installed through a temporary file in the same
 * directory and renamed into place.  The file it replaces is kept under
 * /var/lib/provision/backup so a failed validation or login check can put
 * it back.  A unit file systemd reads is followed by a reload of its
 * units (script_apply in engine.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "provision/diff.h"
#include "provision/shquote.h"
#include "provision/template.h"
#include "res-util.h"

struct file_spec {
	char *path;
	bool present;
	char *content;
	size_t len;
	char *mode, *owner, *group;
	char *validate; /* shell command or NULL */
};

static void file_free(void *p)
{
	struct file_spec *f = p;

	free(f->path);
	if (f->content)
		pv_wipe(f->content, f->len);
	free(f->content);
	free(f->mode);
	free(f->owner);
	free(f->group);
	free(f->validate);
	free(f);
}

static char *find_template(const char *name, const struct render_ctx *ctx)
{
	char *p;

	if (ctx->role_dir) {
		char *dir = pv_path_join(ctx->role_dir, "templates");
		p = pv_path_join(dir, name);
		free(dir);
		if (access(p, R_OK) == 0)
			return p;
		free(p);
	}
	for (size_t i = 0; i < ctx->n_template_dirs; i++) {
		p = pv_path_join(ctx->template_dirs[i], name);
		if (access(p, R_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

/* Render template file name into f->content. */
static int load_template(struct resource *r, struct file_spec *f, const char *name,
                         const struct pos *at, const struct scope *s, const struct render_ctx *ctx,
                         struct diags *d)
{
	struct pv_error err = {{0}};
	struct buf out = BUF_INIT;
	char *path = NULL, *text = NULL;
	size_t len;
	bool secret = false;
	int rc = -1;

	if (!*name || name[0] == '/' || strstr(name, "..")) {
		diags_add(d, at, "invalid template name '%s' (a file name under templates/)", name);
		return -1;
	}
	path = find_template(name, ctx);
	if (!path) {
		struct buf where = BUF_INIT;
		if (ctx->role_dir)
			buf_addf(&where, "%s/templates", ctx->role_dir);
		for (size_t i = 0; i < ctx->n_template_dirs; i++)
			buf_addf(&where, "%s%s", where.len ? ", " : "", ctx->template_dirs[i]);
		diags_add(d, at, "template '%s' not found (searched %s)", name,
		          where.len ? where.s : "nothing");
		buf_release(&where);
		return -1;
	}
	if (pv_read_file(path, &text, &len, 0, &err) < 0) {
		diags_add(d, at, "%s", err.msg);
		goto out;
	}
	struct pos start = {pv_intern(path), 1, 1};
	if (tpl_render(&out, text, &start, s, TPL_DECLARED, &secret, &err) < 0) {
		diags_add(d, NULL, "%s", err.msg);
		goto out;
	}
	if (secret)
		r->secret = true;
	f->content = buf_detach(&out, &f->len);
	rc = 0;
out:
	buf_release(&out);
	free(text);
	free(path);
	return rc;
}

static int file_parse(struct resource *r, const struct node *n, const struct scope *s,
                      const struct render_ctx *ctx, struct diags *d)
{
	static const char *const keys[] = {"path",  "content", "template", "state", "mode",
	                                   "owner", "group",   "validate", "format"};
	const char *where = "file resource";
	struct file_spec *f;
	int bad = 0;

	if (res_check_map(n, keys, PV_ARRAY_SIZE(keys), where, d) < 0)
		return -1;
	f = xcalloc(1, sizeof(*f));
	r->spec = f;
	if (res_field_str(r, n, "path", true, NULL, TPL_TEXT, s, where, &f->path, d) < 0)
		return -1;
	r->title = xasprintf("file %s", f->path);
	if (f->path[0] != '/') {
		struct pos at = res_pos(n, "path");
		diags_add(d, &at, "'path' in %s must be absolute: '%s'", where, f->path);
		bad = -1;
	}
	bad |= res_field_state(r, n, s, where, &f->present, d);
	bad |= res_field_mode(r, n, "0644", s, where, &f->mode, d);
	bad |= res_field_str(r, n, "owner", false, "root", TPL_TEXT, s, where, &f->owner, d);
	bad |= res_field_str(r, n, "group", false, "root", TPL_TEXT, s, where, &f->group, d);
	bad |= res_field_str(r, n, "validate", false, NULL, TPL_SHELL, s, where, &f->validate, d);
	if (bad)
		return -1;

	const struct node *c = node_get(n, "content"), *t = node_get(n, "template");
	if (!f->present) {
		if (c || t) {
			diags_add(d, &n->pos, "%s with state absent takes no content or template",
			          where);
			return -1;
		}
		return 0;
	}
	if ((c != NULL) == (t != NULL)) {
		diags_add(d, &n->pos, "%s needs exactly one of 'content' or 'template'", where);
		return -1;
	}
	const struct node *fmt = node_get(n, "format");
	if (fmt && t) {
		diags_add(d, &fmt->pos,
		          "'format' in %s goes with 'content'; a template declares "
		          "its own format on its first line",
		          where);
		return -1;
	}
	if (c) {
		enum tpl_mode mode = TPL_TEXT;
		if (fmt && (fmt->kind != NODE_SCALAR || tpl_mode_parse(fmt->scalar, &mode) < 0 ||
		            mode == TPL_DECLARED)) {
			diags_add(d, &fmt->pos, "'format' in %s must be one of %s", where,
			          tpl_mode_list());
			return -1;
		}
		if (res_field_str(r, n, "content", true, NULL, mode, s, where, &f->content, d) < 0)
			return -1;
		f->len = strlen(f->content);
		return 0;
	}
	char *name = NULL;
	if (res_field_str(r, n, "template", true, NULL, TPL_TEXT, s, where, &name, d) < 0)
		return -1;
	int rc = load_template(r, f, name, &t->pos, s, ctx, d);
	free(name);
	return rc;
}

static void file_probe(const struct resource *r, int idx, struct buf *sh)
{
	const struct file_spec *f = r->spec;

	if (f->present) {
		res_probe_file(sh, idx, f->path, f->content, f->len, f->mode, f->owner, f->group,
		               true);
		return;
	}
	buf_adds(sh, "if [ -e");
	sh_word(sh, f->path);
	buf_adds(sh, " ] || [ -L");
	sh_word(sh, f->path);
	buf_addf(sh, " ]; then echo '@@P %d change present'; else echo '@@P %d ok'; fi\n", idx,
	         idx);
}

static void file_stage(const struct resource *r, int idx, struct stage *st)
{
	const struct file_spec *f = r->spec;
	char name[32];

	if (!f->present)
		return;
	snprintf(name, sizeof(name), "f%d", idx);
	stage_add(st, name, f->content, f->len, r->secret);
}

static void file_apply(const struct resource *r, int idx, struct buf *sh)
{
	const struct file_spec *f = r->spec;
	char name[32];

	if (!f->present) {
		buf_adds(sh, "pv_backup");
		sh_word(sh, f->path);
		buf_adds(sh, "\nrm -f --");
		sh_word(sh, f->path);
		buf_addc(sh, '\n');
		return;
	}
	snprintf(name, sizeof(name), "f%d", idx);
	res_apply_file(sh, name, f->path, f->mode, f->owner, f->group);
	if (!f->validate)
		return;
	/* the validator sees the new file in place; on failure the old one returns */
	buf_adds(sh, "if ! sh -c");
	sh_word(sh, f->validate);
	buf_addf(sh, " >\"$PV_STAGE/v%d\" 2>&1 </dev/null; then\n\tawk 1 \"$PV_STAGE/v%d\"\n", idx,
	         idx);
	buf_adds(sh, "\tpv_restore");
	sh_word(sh, f->path);
	buf_adds(sh, "\n\techo \"validation failed: the previous file is back in place\"\n");
	buf_adds(sh, "\texit 1\nfi\n");
}

static void file_explain(const struct resource *r, struct buf *out)
{
	const struct file_spec *f = r->spec;

	if (!f->present)
		return;
	if (r->secret) {
		buf_adds(out, "(content hidden: contains secrets)\n");
		return;
	}
	if (r->reason && !strstr(r->reason, "content differs") && !strstr(r->reason, "missing") &&
	    !strstr(r->reason, "not a regular file"))
		return;
	if (r->reason && strstr(r->reason, "content differs") && !r->has_current) {
		buf_adds(out, "(current content not shown: larger than 1 MiB)\n");
		return;
	}
	char *a = xasprintf("%s (on host)", f->path);
	char *b = xasprintf("%s (wanted)", f->path);
	diff_unified(out, a, r->has_current ? r->current.s : "",
	             r->has_current ? r->current.len : 0, b, f->content, f->len);
	free(a);
	free(b);
}

static void file_rollback(const struct resource *r, int idx, struct buf *sh)
{
	const struct file_spec *f = r->spec;

	res_rollback_file(sh, f->path);
}

static const char *file_probe_path(const struct resource *r)
{
	const struct file_spec *f = r->spec;

	return f->present ? f->path : NULL;
}

const char *res_file_path(const struct resource *r)
{
	if (r->type == &res_type_file)
		return ((const struct file_spec *)r->spec)->path;
	return NULL;
}

const struct res_type res_type_file = {
    .name = "file",
    .parse = file_parse,
    .probe = file_probe,
    .probe_path = file_probe_path,
    .stage = file_stage,
    .apply = file_apply,
    .explain = file_explain,
    .rollback = file_rollback,
    .free_spec = file_free,
};
