/*
 * res-directory.c - a directory with its mode and owner.
 *
 *   directory: { path: /srv/app, mode: "0755", owner: root, group: root, state: present }
 *
 * state absent removes the directory only when it is empty (rmdir): the
 * tool never deletes a tree it did not write.
 */
#include <stdlib.h>

#include "provision/shquote.h"
#include "res-util.h"

struct dir_spec {
	char *path;
	bool present;
	char *mode, *owner, *group;
};

static void dir_free(void *p)
{
	struct dir_spec *ds = p;

	free(ds->path);
	free(ds->mode);
	free(ds->owner);
	free(ds->group);
	free(ds);
}

static int dir_parse(struct resource *r, const struct node *n, const struct scope *s,
                     const struct render_ctx *ctx, struct diags *d)
{
	static const char *const keys[] = {"path", "mode", "owner", "group", "state"};
	const char *where = "directory resource";
	struct dir_spec *ds;
	int bad = 0;

	if (res_check_map(n, keys, PV_ARRAY_SIZE(keys), where, d) < 0)
		return -1;
	ds = xcalloc(1, sizeof(*ds));
	r->spec = ds;
	if (res_field_str(r, n, "path", true, NULL, TPL_TEXT, s, where, &ds->path, d) < 0)
		return -1;
	r->title = xasprintf("directory %s", ds->path);
	if (ds->path[0] != '/') {
		struct pos at = res_pos(n, "path");
		diags_add(d, &at, "'path' in %s must be absolute: '%s'", where, ds->path);
		bad = -1;
	}
	bad |= res_field_state(r, n, s, where, &ds->present, d);
	bad |= res_field_mode(r, n, "0755", s, where, &ds->mode, d);
	bad |= res_field_str(r, n, "owner", false, "root", TPL_TEXT, s, where, &ds->owner, d);
	bad |= res_field_str(r, n, "group", false, "root", TPL_TEXT, s, where, &ds->group, d);
	return bad ? -1 : 0;
}

static void dir_probe(const struct resource *r, int idx, struct buf *sh)
{
	const struct dir_spec *ds = r->spec;

	buf_adds(sh, "pv_r=\n");
	if (!ds->present) {
		buf_adds(sh, "if [ -d");
		sh_word(sh, ds->path);
		buf_adds(sh, " ]; then pv_add present; fi\n");
		buf_addf(sh, "pv_end %d\n", idx);
		return;
	}
	buf_adds(sh, "if [ -d");
	sh_word(sh, ds->path);
	buf_adds(sh, " ] && [ ! -L");
	sh_word(sh, ds->path);
	buf_adds(sh, " ]; then pv_meta");
	sh_word(sh, ds->path);
	sh_word(sh, ds->mode);
	sh_word(sh, ds->owner);
	sh_word(sh, ds->group);
	buf_adds(sh, "\nelif [ -e");
	sh_word(sh, ds->path);
	buf_adds(sh, " ]; then pv_add 'not a directory'\nelse pv_add missing\nfi\n");
	buf_addf(sh, "pv_end %d\n", idx);
}

static void dir_apply(const struct resource *r, int idx, struct buf *sh)
{
	const struct dir_spec *ds = r->spec;

	if (!ds->present) {
		buf_adds(sh, "rmdir --");
		sh_word(sh, ds->path);
		buf_addc(sh, '\n');
		return;
	}
	buf_adds(sh, "mkdir -p --");
	sh_word(sh, ds->path);
	buf_adds(sh, "\nchown --");
	buf_addc(sh, ' ');
	char *og = xasprintf("%s:%s", ds->owner, ds->group);
	sh_quote_buf(sh, og);
	free(og);
	sh_word(sh, ds->path);
	buf_adds(sh, "\nchmod --");
	sh_word(sh, ds->mode);
	sh_word(sh, ds->path);
	buf_addc(sh, '\n');
}

static const char *dir_probe_path(const struct resource *r)
{
	const struct dir_spec *ds = r->spec;

	return ds->present ? ds->path : NULL;
}

const struct res_type res_type_directory = {
    .name = "directory",
    .parse = dir_parse,
    .probe = dir_probe,
    .probe_path = dir_probe_path,
    .apply = dir_apply,
    .free_spec = dir_free,
};
