/*
 * resource.c - what all resource types share: staging, the type table,
 * field rendering, and the shell functions the scripts start with.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "provision/common.h"
#include "provision/engine.h"
#include "provision/resource.h"
#include "provision/shquote.h"
#include "provision/template.h"
#include "res-util.h"

const char *res_status_name(enum res_status st)
{
	switch (st) {
	case RES_PENDING:
		return "pending";
	case RES_OK:
		return "ok";
	case RES_CHANGE:
		return "would change";
	case RES_CHANGED:
		return "changed";
	case RES_FAILED:
		return "failed";
	case RES_SKIPPED:
		return "skipped";
	}
	return "unknown";
}

/* ---- staging ---- */

void stage_init(struct stage *st)
{
	memset(st, 0, sizeof(*st));
}

void stage_add(struct stage *st, const char *name, const void *data, size_t len, bool secret)
{
	struct stage_file *f;

	PV_GROW(st->files, st->n + 1, st->alloc);
	f = &st->files[st->n++];
	f->name = xstrdup(name);
	f->data = xmalloc(len + 1);
	if (len)
		memcpy(f->data, data, len);
	f->data[len] = '\0';
	f->len = len;
	f->secret = secret;
}

void stage_release(struct stage *st)
{
	for (size_t i = 0; i < st->n; i++) {
		if (st->files[i].secret)
			pv_wipe(st->files[i].data, st->files[i].len);
		free(st->files[i].data);
		free(st->files[i].name);
	}
	free(st->files);
	memset(st, 0, sizeof(*st));
}

static la_ssize_t tar_write_cb(struct archive *a, void *data, const void *p, size_t n)
{
	struct buf *b = data;

	if (buf_add(b, p, n) < 0) {
		archive_set_error(a, ENOMEM, "archive larger than the buffer limit");
		return -1;
	}
	return (la_ssize_t)n;
}

static int tar_entry(struct archive *a, const char *name, const void *data, size_t len, int mode,
                     struct pv_error *err)
{
	struct archive_entry *e = archive_entry_new();
	int rc = -1;

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, mode);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_mtime(e, time(NULL), 0);
	if (archive_write_header(a, e) != ARCHIVE_OK) {
		pv_error_set(err, "cannot add '%s' to the apply archive: %s", name,
		             archive_error_string(a));
		goto out;
	}
	if (len && archive_write_data(a, data, len) != (la_ssize_t)len) {
		pv_error_set(err, "cannot add '%s' to the apply archive: %s", name,
		             archive_error_string(a));
		goto out;
	}
	rc = 0;
out:
	archive_entry_free(e);
	return rc;
}

int stage_to_tar(const struct stage *st, const char *script, struct buf *tar, struct pv_error *err)
{
	struct archive *a = archive_write_new();
	int rc = -1;

	buf_reset(tar);
	if (archive_write_set_format_ustar(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open(a, tar, NULL, tar_write_cb, NULL) != ARCHIVE_OK) {
		pv_error_set(err, "cannot start the apply archive: %s", archive_error_string(a));
		goto out;
	}
	for (size_t i = 0; i < st->n; i++) {
		const struct stage_file *f = &st->files[i];
		if (!*f->name || f->name[0] == '/' || strstr(f->name, "..")) {
			pv_error_set(err, "invalid staged file name '%s'", f->name);
			goto out;
		}
		if (tar_entry(a, f->name, f->data, f->len, 0600, err) < 0)
			goto out;
	}
	if (tar_entry(a, "apply.sh", script, strlen(script), 0700, err) < 0)
		goto out;
	if (archive_write_close(a) != ARCHIVE_OK) {
		pv_error_set(err, "cannot finish the apply archive: %s", archive_error_string(a));
		goto out;
	}
	rc = 0;
out:
	archive_write_free(a);
	return rc;
}

/* ---- the type table ---- */

static const struct res_type *const types[] = {
    &res_type_package, &res_type_file,   &res_type_directory, &res_type_line,    &res_type_service,
    &res_type_user,    &res_type_sysctl, &res_type_ufw,       &res_type_command,
};

const struct res_type *res_type_find(const char *name)
{
	for (size_t i = 0; i < PV_ARRAY_SIZE(types); i++) {
		if (!strcmp(types[i]->name, name))
			return types[i];
	}
	return NULL;
}

const char *const *res_type_names(size_t *n)
{
	static const char *names[PV_ARRAY_SIZE(types)];

	for (size_t i = 0; i < PV_ARRAY_SIZE(types); i++)
		names[i] = types[i]->name;
	*n = PV_ARRAY_SIZE(types);
	return names;
}

void resource_release(struct resource *r)
{
	if (r->type && r->type->free_spec && r->spec)
		r->type->free_spec(r->spec);
	r->spec = NULL;
	free(r->title);
	free(r->role);
	for (size_t i = 0; i < r->n_notify; i++)
		free(r->notify[i]);
	free(r->notify);
	if (r->secret)
		buf_wipe(&r->current);
	else
		buf_release(&r->current);
	free(r->reason);
	if (r->output && r->secret)
		pv_free_secret(r->output);
	else
		free(r->output);
	memset(r, 0, sizeof(*r));
	buf_init(&r->current, 0);
}

/* ---- field helpers ---- */

void strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

struct pos res_pos(const struct node *m, const char *key)
{
	const struct node *v = node_get(m, key);
	return v ? v->pos : node_key_pos(m, key);
}

int res_check_map(const struct node *n, const char *const *allowed, size_t n_allowed,
                  const char *where, struct diags *d)
{
	if (!n || n->kind != NODE_MAP) {
		diags_add(d, n ? &n->pos : NULL, "%s must be a mapping, not %s", where,
		          n ? node_kind_name(n) : "nothing");
		return -1;
	}
	return node_check_keys(n, allowed, n_allowed, where, d) ? -1 : 0;
}

static int render_scalar(struct resource *r, const struct node *v, enum tpl_mode mode,
                         const struct scope *s, const struct node **whole, char **out,
                         struct diags *d)
{
	struct buf b = BUF_INIT;
	struct pv_error err = {{0}};
	bool secret = false;

	if (tpl_render_node(&b, whole, v, s, mode, &secret, &err) < 0) {
		diags_add(d, NULL, "%s", err.msg);
		buf_release(&b);
		return -1;
	}
	if (secret)
		r->secret = true;
	*out = buf_detach(&b, NULL);
	return 0;
}

int res_field_str(struct resource *r, const struct node *m, const char *key, bool required,
                  const char *dflt, enum tpl_mode mode, const struct scope *s, const char *where,
                  char **out, struct diags *d)
{
	const struct node *v = node_get(m, key);

	*out = NULL;
	if (!v || node_is_null(v)) {
		if (required) {
			diags_add(d, &m->pos, "missing '%s' in %s", key, where);
			return -1;
		}
		*out = dflt ? xstrdup(dflt) : NULL;
		return 0;
	}
	if (v->kind != NODE_SCALAR) {
		diags_add(d, &v->pos, "'%s' in %s must be a string, not %s", key, where,
		          node_kind_name(v));
		return -1;
	}
	return render_scalar(r, v, mode, s, NULL, out, d);
}

int res_field_bool(struct resource *r, const struct node *m, const char *key, bool dflt,
                   const struct scope *s, const char *where, bool *out, bool *set, struct diags *d)
{
	const struct node *v = node_get(m, key);
	char *text = NULL;
	char *what;
	int rc;

	*out = dflt;
	if (set)
		*set = false;
	if (!v || node_is_null(v))
		return 0;
	if (v->kind != NODE_SCALAR) {
		diags_add(d, &v->pos, "'%s' in %s must be true or false, not %s", key, where,
		          node_kind_name(v));
		return -1;
	}
	if (render_scalar(r, v, TPL_TEXT, s, NULL, &text, d) < 0)
		return -1;
	struct node *tmp = node_new_scalar(text, &v->pos);
	what = xasprintf("'%s' in %s", key, where);
	rc = node_to_bool(tmp, out, what, d);
	free(what);
	node_free(tmp);
	free(text);
	if (rc == 0 && set)
		*set = true;
	return rc < 0 ? -1 : 0;
}

static void strv_push(char ***v, size_t *n, size_t *alloc, char *s)
{
	PV_GROW(*v, *n + 2, *alloc);
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

static int list_item(struct resource *r, const struct node *it, const struct scope *s,
                     const char *key, const char *where, char ***v, size_t *n, size_t *alloc,
                     struct diags *d)
{
	const struct node *whole = NULL;
	char *text = NULL;

	if (it->kind != NODE_SCALAR) {
		diags_add(d, &it->pos, "items of '%s' in %s must be strings, not %s", key, where,
		          node_kind_name(it));
		return -1;
	}
	if (render_scalar(r, it, TPL_TEXT, s, &whole, &text, d) < 0)
		return -1;
	if (!whole) {
		strv_push(v, n, alloc, text);
		return 0;
	}
	free(text);
	if (whole->kind != NODE_SEQ) {
		diags_add(d, &it->pos, "'%s' in %s: a variable passed whole must be a list, not %s",
		          key, where, node_kind_name(whole));
		return -1;
	}
	for (size_t i = 0; i < whole->n; i++) {
		const struct node *w = whole->items[i];
		if (w->kind != NODE_SCALAR) {
			diags_add(d, &it->pos, "'%s' in %s: list items must be strings, not %s",
			          key, where, node_kind_name(w));
			return -1;
		}
		if (w->secret)
			r->secret = true;
		strv_push(v, n, alloc, xstrdup(w->scalar));
	}
	return 0;
}

int res_field_list(struct resource *r, const struct node *m, const char *key, bool required,
                   const struct scope *s, const char *where, char ***out, size_t *n,
                   struct diags *d)
{
	const struct node *v = node_get(m, key);
	char **list = NULL;
	size_t cnt = 0, alloc = 0;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (!v || node_is_null(v)) {
		if (required) {
			diags_add(d, &m->pos, "missing '%s' in %s", key, where);
			return -1;
		}
		PV_GROW(list, 1, alloc);
		list[0] = NULL;
		*out = list;
		return 0;
	}
	PV_GROW(list, 1, alloc);
	list[0] = NULL;
	if (v->kind == NODE_SCALAR) {
		rc = list_item(r, v, s, key, where, &list, &cnt, &alloc, d);
	} else if (v->kind == NODE_SEQ) {
		for (size_t i = 0; i < v->n; i++) {
			if (list_item(r, v->items[i], s, key, where, &list, &cnt, &alloc, d) < 0)
				rc = -1;
		}
	} else {
		diags_add(d, &v->pos, "'%s' in %s must be a string or a list, not %s", key, where,
		          node_kind_name(v));
		rc = -1;
	}
	if (rc < 0) {
		strv_free(list, cnt);
		return -1;
	}
	*out = list;
	*n = cnt;
	return 0;
}

int res_field_mode(struct resource *r, const struct node *m, const char *dflt,
                   const struct scope *s, const char *where, char **out, struct diags *d)
{
	const struct node *v = node_get(m, "mode");
	char *text = NULL;
	const char *p;

	*out = NULL;
	if (v && v->kind == NODE_SCALAR && !v->quoted && !node_is_null(v)) {
		diags_add(d, &v->pos,
		          "'mode' in %s must be a quoted string like \"0644\" (YAML reads %s as a "
		          "number)",
		          where, v->scalar);
		return -1;
	}
	if (res_field_str(r, m, "mode", false, dflt, TPL_TEXT, s, where, &text, d) < 0)
		return -1;
	size_t len = strlen(text);
	if (len < 3 || len > 5 || strspn(text, "01234567") != len) {
		struct pos at = res_pos(m, "mode");
		diags_add(d, &at, "invalid 'mode' '%s' in %s (octal digits like \"0644\")", text,
		          where);
		free(text);
		return -1;
	}
	p = text;
	while (*p == '0' && p[1])
		p++;
	*out = xstrdup(p);
	free(text);
	return 0;
}

int res_field_state(struct resource *r, const struct node *m, const struct scope *s,
                    const char *where, bool *present, struct diags *d)
{
	char *text = NULL;

	*present = true;
	if (res_field_str(r, m, "state", false, "present", TPL_TEXT, s, where, &text, d) < 0)
		return -1;
	if (!strcmp(text, "absent")) {
		*present = false;
	} else if (strcmp(text, "present")) {
		struct pos at = res_pos(m, "state");
		diags_add(d, &at, "invalid 'state' '%s' in %s (present or absent)", text, where);
		free(text);
		return -1;
	}
	free(text);
	return 0;
}

/* ---- shell ---- */

void sh_word(struct buf *sh, const char *s)
{
	buf_addc(sh, ' ');
	sh_quote_buf(sh, s);
}

/* True when text has a line equal to word. */
static bool has_line(const char *text, const char *word)
{
	size_t wl = strlen(word);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, word, wl) && (p[wl] == '\n' || p[wl] == '\0'))
			return true;
	return false;
}

void sh_heredoc(struct buf *sh, const char *text)
{
	char sha[65];
	struct buf delim = BUF_INIT;
	size_t len = strlen(text);

	pv_sha256_hex(text, len, sha);
	buf_addf(&delim, "PV_END_%.16s", sha);
	while (has_line(text, delim.s))
		buf_addc(&delim, 'X');
	buf_addf(sh, "<<'%s'\n%s%s%s\n", delim.s, text, len && text[len - 1] == '\n' ? "" : "\n",
	         delim.s);
	buf_release(&delim);
}

/* what the held services' policy recorded (see pv_hold) */
#define HELD_SERVICES "/var/lib/provision/held-services"

/*
 * The functions below are the same in every script.  Probe functions only
 * read; apply functions keep a copy of each file they replace so that a
 * rollback can put it back.
 */
const char res_shell_lib[] =
    /*
     * pv_tick IDX: the host's monotonic clock after resource IDX ("-": the
     * start), read by a builtin from /proc/uptime: no process per resource
     */
    "pv_tick() { read pv_up pv_ 2>/dev/null </proc/uptime && echo \"@@T $1 $pv_up\"; }\n"
    "pv_add() { if [ -n \"$pv_r\" ]; then pv_r=\"$pv_r, $1\"; else pv_r=$1; fi; }\n"
    "pv_end() { if [ -n \"$pv_r\" ]; then echo \"@@P $1 change $pv_r\"; "
    "else echo \"@@P $1 ok\"; fi; }\n"
    /*
     * pv_sha FILE: its digest in pv_s, from the probe's one sha256sum of
     * all files (pv_fsha: "HASH  PATH" lines) when FILE is there
     */
    "pv_sha() {\n"
    "\tcase \"$pv_fsha\" in *\"  $1\n\"*)\n"
    "\t\tpv_s=${pv_fsha%%\"  $1\n\"*}; pv_s=${pv_s##*\"\n\"}; return 0;;\n"
    "\tesac\n"
    "\tpv_s=$(sha256sum <\"$1\" 2>/dev/null); pv_s=${pv_s%% *}\n"
    "}\n"
    /*
     * pv_unit UNIT: systemctl's UnitFileState and ActiveState lines of UNIT
     * in pv_s, between newlines; from the probe's one systemctl for all
     * units (pv_units: a line "@UNIT" before each unit's lines) when there
     */
    "pv_unit() {\n"
    "\tcase \"$pv_units\" in *\"\n@$1\n\"*)\n"
    "\t\tpv_s=${pv_units#*\"\n@$1\n\"}; pv_s=\"\n${pv_s%%\"\n@\"*}\n\"; return 0;;\n"
    "\tesac\n"
    "\tpv_s=\"\n$(systemctl show -p UnitFileState -p ActiveState -- \"$1\" 2>/dev/null)\n\"\n"
    "}\n"
    /*
     * pv_units_split UNIT...: pv_units from systemctl's answer for all of
     * them in pv_b (a block each, in order, blank lines between); left
     * empty, so each asks on its own, when the blocks do not add up
     */
    "pv_units_split() {\n"
    "\tpv_units=\n"
    "\tfor pv_u in \"$@\"; do\n"
    "\t\tcase \"$pv_b\" in\n"
    "\t\t*\"\n\n\"*) pv_x=${pv_b%%\"\n\n\"*}; pv_b=${pv_b#*\"\n\n\"};;\n"
    "\t\t*) pv_x=$pv_b; pv_b=;;\n"
    "\t\tesac\n"
    "\t\tcase \"$pv_x\" in *ActiveState=*) ;; *) pv_units=; return 0;; esac\n"
    "\t\tpv_units=\"$pv_units\n@$pv_u\n$pv_x\"\n"
    "\tdone\n"
    "\t[ -z \"$pv_b\" ] || pv_units=\n"
    "}\n"
    /* pv_meta PATH MODE OWNER GROUP; pv_fst: the probe's one stat of all paths */
    "pv_meta() {\n"
    "\tcase \"$pv_fst\" in\n"
    "\t*\" $1\n\"*) pv_st=${pv_fst%%\" $1\n\"*}; pv_st=${pv_st##*\"\n\"};;\n"
    "\t*) pv_st=$(stat -c '%a %U %G' -- \"$1\" 2>/dev/null);;\n"
    "\tesac\n"
    "\tpv_m=${pv_st%% *}; pv_st=${pv_st#* }; pv_u=${pv_st%% *}; pv_g=${pv_st#* }\n"
    "\t[ \"$pv_m\" = \"$2\" ] || pv_add \"mode $pv_m != $2\"\n"
    "\t[ \"$pv_u\" = \"$3\" ] || pv_add \"owner $pv_u != $3\"\n"
    "\t[ \"$pv_g\" = \"$4\" ] || pv_add \"group $pv_g != $4\"\n"
    "}\n"
    /* pv_cfile LABEL PATH SHA MODE OWNER GROUP: reasons only, no output */
    "pv_cfile() {\n"
    "\tif [ -L \"$2\" ] || [ ! -f \"$2\" ]; then pv_add \"$1 missing\"; return 0; fi\n"
    "\tpv_sha \"$2\"\n"
    "\t[ \"$pv_s\" = \"$3\" ] || pv_add \"$1 differs\"\n"
    "\tpv_meta \"$2\" \"$4\" \"$5\" \"$6\"\n"
    "}\n"
    /* pv_pfile IDX PATH SHA MODE OWNER GROUP SEND */
    "pv_pfile() {\n"
    "\tpv_r=\n"
    "\tif [ -L \"$2\" ] || { [ -e \"$2\" ] && [ ! -f \"$2\" ]; }; then\n"
    "\t\tpv_add 'not a regular file'\n"
    "\telif [ ! -e \"$2\" ]; then\n"
    "\t\tpv_add missing\n"
    "\telse\n"
    "\t\tpv_diff=\n"
    "\t\tpv_sha \"$2\"\n"
    "\t\t[ \"$pv_s\" = \"$3\" ] || { pv_add 'content differs'; pv_diff=1; }\n"
    "\t\tpv_meta \"$2\" \"$4\" \"$5\" \"$6\"\n"
    "\t\tif [ -n \"$pv_diff\" ] && [ \"$7\" = 1 ] && "
    "[ \"$(stat -c %s -- \"$2\")\" -le 1048576 ]; then\n"
    "\t\t\tpv_end \"$1\"; echo \"@@B $1\"; base64 <\"$2\"; echo \"@@E $1\"; return 0\n"
    "\t\tfi\n"
    "\tfi\n"
    "\tpv_end \"$1\"\n"
    "}\n"
    /*
     * pv_lockers ERE: "COMMAND (pid N), ..." of the processes of this host
     * (not of its containers: same pid and mount namespace) holding a lock
     * on a path matching ERE
     */
    "pv_lockers() {\n"
    "\tpv_ns=\"$(readlink /proc/$$/ns/pid) $(readlink /proc/$$/ns/mnt)\"\n"
    "\tlslocks -n -r -o PID,PATH,COMMAND 2>/dev/null | awk -v re=\"$1\" '$2 ~ re && !s[$1]++' |\n"
    "\twhile read -r pv_p pv_f pv_c; do\n"
    "\t\t[ \"$(readlink /proc/$pv_p/ns/pid) $(readlink /proc/$pv_p/ns/mnt)\" = \"$pv_ns\" ] &&\n"
    "\t\t\techo \"$pv_c (pid $pv_p)\"\n"
    "\tdone | awk '{ printf \"%s%s\", (NR > 1 ? \", \" : \"\"), $0 }'\n"
    "}\n"
    "PV_APTLOCKS='^/var/lib/dpkg/lock(-frontend)?$|^/var/lib/apt/lists/lock$|"
    "^/var/cache/apt/archives/lock$'\n"
    /*
     * pv_mscripts: "COMMAND (pid N), ..." of this host's package maintainer
     * scripts still running; when dpkg itself was killed (the OOM killer, a
     * kill by hand) its script goes on without holding dpkg's lock, and a
     * second run of the same script beside it fails
     */
    "pv_mscripts() {\n"
    "\tcommand -v pgrep >/dev/null || return 0\n"
    "\tpv_ns=\"$(readlink /proc/$$/ns/pid) $(readlink /proc/$$/ns/mnt)\"\n"
    "\tfor pv_p in $(pgrep -f '/var/lib/dpkg/(info/[^ ]*\\.(pre|post)(inst|rm)|tmp\\.ci/)'); do\n"
    "\t\t[ \"$(readlink /proc/$pv_p/ns/pid) $(readlink /proc/$pv_p/ns/mnt)\" = \"$pv_ns\" ] &&\n"
    "\t\t\techo \"$(tr '\\0' ' ' </proc/$pv_p/cmdline | cut -c1-80)(pid $pv_p)\"\n"
    "\tdone | awk '{ printf \"%s%s\", (NR > 1 ? \", \" : \"\"), $0 }'\n"
    "}\n"
    /*
     * pv_aptready: wait (10 minutes at most) until no other process holds
     * apt's or dpkg's locks and no maintainer script of a killed dpkg still
     * runs, then finish a dpkg run that was interrupted (a killed run, a
     * lost host) so that apt-get can install again.
     */
    "pv_aptready() {\n"
    "\tpv_i=0\n"
    "\twhile pv_w=$(pv_lockers \"$PV_APTLOCKS\"); pv_m=\"the package lock held by\"\n"
    "\t\t[ -n \"$pv_w\" ] || { pv_w=$(pv_mscripts); pv_m=\"a killed dpkg's script:\"; }\n"
    "\t\t[ -n \"$pv_w\" ]; do\n"
    "\t\tif [ $pv_i -ge 300 ]; then\n"
    "\t\t\techo \"after 10 minutes, still waiting for $pv_m $pv_w\"; return 1\n"
    "\t\tfi\n"
    "\t\t[ $((pv_i % 15)) != 0 ] || echo \"waiting for $pv_m $pv_w\"\n"
    "\t\tpv_i=$((pv_i + 1)); sleep 2\n"
    "\tdone\n"
    "\tif [ -n \"$(ls -A /var/lib/dpkg/updates 2>/dev/null)\" ] || "
    "[ -n \"$(dpkg --audit 2>/dev/null)\" ]; then\n"
    "\t\techo 'finishing an interrupted dpkg run (dpkg --configure -a)'\n"
    "\t\tdpkg --force-confdef --force-confold --configure -a || return 1\n"
    "\tfi\n"
    "}\n"
    /*
     * Services held while packages install: a policy-rc.d of the tool's
     * answers 101 (not now) to every start, restart or reload a maintainer
     * script asks for (stops go ahead) and writes what was asked into
     * PV_HELD; the roles' service resources start each unit once its files
     * are written, and pv_unhold, at the end of the apply, does the rest of
     * what was asked.  deb-systemd-invoke asks for its first unit only, so
     * the policy reads the other units from its command line.  An
     * operator's own policy-rc.d is left as it is: it decides.
     */
    "PV_POLICY=/usr/sbin/policy-rc.d\n"
    "PV_HELD=" HELD_SERVICES "\n"
    "PV_HOLDMARK='# provision: services held while packages install'\n"
    "pv_hold() {\n"
    "\t[ ! -e \"$PV_STAGE/held\" ] || return 0\n"
    "\tif [ -e $PV_POLICY ] && ! grep -qxF \"$PV_HOLDMARK\" $PV_POLICY; then return 0; fi\n"
    "\tmkdir -p /var/lib/provision\n\tchmod 700 /var/lib/provision\n"
    "\tcat >$PV_POLICY.pv <<'PV_POLICY_EOF'\n"
    "#!/bin/sh\n"
    "# provision: services held while packages install\n"
    "# Removed when the apply ends, which then does what was asked (held-services).\n"
    "# an apply that is gone (killed, its host lost) holds nothing\n"
    "if flock -n " PV_HOST_LOCK " true 2>/dev/null; then rm -f \"$0\"; exit 0; fi\n"
    "while [ $# -gt 0 ]; do case $1 in --list) exit 101;; --*) shift;; *) break;; esac; done\n"
    "case ${2:-} in stop) exit 0;; esac\n"
    "units=$1\n"
    "p=$PPID\n"
    "for i in 1 2 3; do\n"
    "\tc=$(tr '\\0' '\\n' </proc/$p/cmdline 2>/dev/null) || break\n"
    "\tcase $c in *deb-systemd-invoke*)\n"
    "\t\tunits=$(printf '%s\\n' \"$c\" | sed -e '1,/deb-systemd-invoke$/d' -e '/^--/d' | sed 1d)\n"
    "\t\tbreak;;\n"
    "\tesac\n"
    "\tp=$(awk '$1 == \"PPid:\" { print $2 }' /proc/$p/status 2>/dev/null)\n"
    "\t[ -n \"$p\" ] && [ \"$p\" != 0 ] || break\n"
    "done\n"
    "for u in ${units:-$1}; do echo \"$u ${2:-start}\"; done >>" HELD_SERVICES "\n"
    "exit 101\n"
    "PV_POLICY_EOF\n"
    "\tchmod 755 $PV_POLICY.pv && mv -f $PV_POLICY.pv $PV_POLICY && : >\"$PV_STAGE/held\"\n"
    "}\n"
    /*
     * pv_unhold UNIT...: the policy goes; each held unit that is enabled and
     * stopped starts (one that is starting is left to it), and a restart
     * asked for by a package upgrade is done; the units named (a role keeps
     * them stopped) are left alone.  Like a maintainer script's, a start
     * that fails fails nothing (the service resource of a role that needs
     * the unit says so).
     */
    "pv_unhold() {\n"
    "\tif [ -e $PV_POLICY ] && grep -qxF \"$PV_HOLDMARK\" $PV_POLICY; then rm -f $PV_POLICY; fi\n"
    "\t[ -e $PV_HELD ] || return 0\n"
    "\tawk '!s[$1 \" \" $2]++' $PV_HELD | while read -r pv_u pv_a; do\n"
    "\t\tcase \" $* \" in *\" $pv_u \"*|*\" ${pv_u%.service} \"*) continue;; esac\n"
    "\t\tcase $(systemctl is-active -- \"$pv_u\" 2>/dev/null),$pv_a in\n"
    "\t\tactive,restart|active,force-reload|active,try-restart) systemctl try-restart -- "
    "\"$pv_u\";;\n"
    "\t\tactive,reload) systemctl reload-or-restart -- \"$pv_u\";;\n"
    "\t\tinactive,start|inactive,restart|failed,start|failed,restart)\n"
    "\t\t\t[ \"$(systemctl is-enabled -- \"$pv_u\" 2>/dev/null)\" != enabled ] ||\n"
    "\t\t\t\tsystemctl start -- \"$pv_u\";;\n"
    "\t\tesac\n"
    "\tdone\n"
    "\trm -f $PV_HELD\n"
    "}\n"
    "pv_bpath() { pv_b=/var/lib/provision/backup/$(printf '%s' \"$1\" | sha256sum | cut -d' ' "
    "-f1); }\n"
    /* pv_backup PATH: keep the current file (or the fact that there is none) */
    "pv_backup() {\n"
    "\tmkdir -p /var/lib/provision/backup\n"
    "\tchmod 700 /var/lib/provision /var/lib/provision/backup\n"
    "\tpv_bpath \"$1\"\n"
    "\tif [ -f \"$1\" ] && [ ! -L \"$1\" ]; then\n"
    "\t\tcp -p -- \"$1\" \"$pv_b.tmp\"\n"
    "\t\tmv -f -- \"$pv_b.tmp\" \"$pv_b\"\n"
    "\t\trm -f -- \"$pv_b.absent\"\n"
    "\telse\n"
    "\t\trm -f -- \"$pv_b\"\n"
    "\t\t: >\"$pv_b.absent\"\n"
    "\tfi\n"
    "}\n"
    /*
     * pv_install SRC DEST MODE OWNER GROUP: atomic replace; the apply holds
     * the host's lock, so a ".pv-XXXXXX" there is a lost run's leftover
     */
    "pv_install() {\n"
    "\tpv_d=$(dirname -- \"$2\")\n"
    "\tmkdir -p -- \"$pv_d\"\n"
    "\trm -f -- \"$pv_d\"/.pv-??????\n"
    "\tpv_t=$(mktemp \"$pv_d/.pv-XXXXXX\")\n"
    "\tif ! { cat -- \"$1\" >\"$pv_t\" && chown -- \"$4:$5\" \"$pv_t\" && "
    "chmod -- \"$3\" \"$pv_t\" && mv -f -- \"$pv_t\" \"$2\"; }; then\n"
    "\t\trm -f -- \"$pv_t\"\n"
    "\t\treturn 1\n"
    "\tfi\n"
    "}\n"
    /* pv_restore PATH: put back what pv_backup kept */
    "pv_restore() {\n"
    "\tpv_bpath \"$1\"\n"
    "\tif [ -f \"$pv_b\" ]; then\n"
    "\t\tpv_t=$(mktemp \"$(dirname -- \"$1\")/.pv-XXXXXX\")\n"
    "\t\tcp -p -- \"$pv_b\" \"$pv_t\"\n"
    "\t\tmv -f -- \"$pv_t\" \"$1\"\n"
    "\telif [ -f \"$pv_b.absent\" ]; then\n"
    "\t\trm -f -- \"$1\"\n"
    "\tfi\n"
    "}\n";

void res_probe_file(struct buf *sh, int idx, const char *path, const char *content, size_t len,
                    const char *mode, const char *owner, const char *group, bool send_current)
{
	char sha[65];

	pv_sha256_hex(content, len, sha);
	buf_addf(sh, "pv_pfile %d", idx);
	sh_word(sh, path);
	buf_addf(sh, " %s", sha);
	sh_word(sh, mode);
	sh_word(sh, owner);
	sh_word(sh, group);
	buf_addf(sh, " %d\n", send_current ? 1 : 0);
}

void res_apply_file(struct buf *sh, const char *stage_name, const char *path, const char *mode,
                    const char *owner, const char *group)
{
	buf_adds(sh, "pv_backup");
	sh_word(sh, path);
	buf_addf(sh, "\npv_install \"$PV_STAGE/%s\"", stage_name);
	sh_word(sh, path);
	sh_word(sh, mode);
	sh_word(sh, owner);
	sh_word(sh, group);
	buf_addc(sh, '\n');
}

void res_rollback_file(struct buf *sh, const char *path)
{
	buf_adds(sh, "pv_restore");
	sh_word(sh, path);
	buf_addc(sh, '\n');
}
