/*
 * res-line.c - one line in a file the tool does not own.
 *
 *   line: { path: /etc/ssh/sshd_config, line: "UsePAM yes", match: "^#?UsePAM ", state: present }
 *
 * present: the first line matching 'match' (an extended regex) becomes
 * 'line'; with no match the line is appended unless it is already there.
 * absent: lines equal to 'line' (or matching 'match') are removed.
 * The values reach awk through the environment, never the program text.
 */
#include <stdlib.h>
#include <string.h>

#include "provision/shquote.h"
#include "res-util.h"

struct line_spec {
	char *path, *line, *match;
	bool present;
};

static const char line_awk[] =
    "BEGIN { l = ENVIRON[\"PV_LINE\"]; re = ENVIRON[\"PV_MATCH\"]; "
    "keep = ENVIRON[\"PV_STATE\"] == \"present\"; n = 0 }\n"
    "keep { a[++n] = $0; next }\n"
    "{ if (re != \"\" ? $0 ~ re : $0 == l) next; print }\n"
    "END { if (!keep) exit 0\n"
    " hit = 0\n"
    " if (re != \"\") for (i = 1; i <= n; i++) if (a[i] ~ re) { hit = i; break }\n"
    " if (hit) a[hit] = l\n"
    " else { have = 0; for (i = 1; i <= n; i++) if (a[i] == l) have = 1\n"
    "  if (!have) a[++n] = l }\n"
    " for (i = 1; i <= n; i++) print a[i] }\n";

/*
 * The probe's verdict without writing anything: exit 1 when the apply
 * would change the file (by line_awk's rules), 0 when it would not.  One
 * process per resource; a file whose last line lacks its newline is not a
 * change on that account.
 */
static const char line_probe_awk[] =
    "BEGIN { l = ENVIRON[\"PV_LINE\"]; re = ENVIRON[\"PV_MATCH\"]; "
    "keep = ENVIRON[\"PV_STATE\"] == \"present\"; d = 0; hit = 0; have = 0 }\n"
    "keep { if (!hit && re != \"\" && $0 ~ re) { hit = 1; if ($0 != l) d = 1 }\n"
    " if ($0 == l) have = 1; next }\n"
    "(re != \"\" ? $0 ~ re : $0 == l) { d = 1 }\n"
    "END { if (keep && !hit && !have) d = 1; exit d }\n";

static void line_free(void *p)
{
	struct line_spec *l = p;

	free(l->path);
	free(l->line);
	free(l->match);
	free(l);
}

static int line_parse(struct resource *r, const struct node *n, const struct scope *s,
                      const struct render_ctx *ctx, struct diags *d)
{
	static const char *const keys[] = {"path", "line", "match", "state"};
	const char *where = "line resource";
	struct line_spec *l;
	int bad = 0;

	if (res_check_map(n, keys, PV_ARRAY_SIZE(keys), where, d) < 0)
		return -1;
	l = xcalloc(1, sizeof(*l));
	r->spec = l;
	if (res_field_str(r, n, "path", true, NULL, TPL_TEXT, s, where, &l->path, d) < 0)
		return -1;
	r->title = xasprintf("line %s", l->path);
	if (l->path[0] != '/') {
		struct pos at = res_pos(n, "path");
		diags_add(d, &at, "'path' in %s must be absolute: '%s'", where, l->path);
		bad = -1;
	}
	bad |= res_field_str(r, n, "line", true, NULL, TPL_TEXT, s, where, &l->line, d);
	bad |= res_field_str(r, n, "match", false, "", TPL_TEXT, s, where, &l->match, d);
	bad |= res_field_state(r, n, s, where, &l->present, d);
	if (!bad && strchr(l->line, '\n')) {
		struct pos at = res_pos(n, "line");
		diags_add(d, &at, "'line' in %s must be one line", where);
		bad = -1;
	}
	return bad ? -1 : 0;
}

/* "PV_LINE=... PV_MATCH=... PV_STATE=... awk PROG" */
static void awk_cmd(const struct line_spec *l, const char *prog, struct buf *sh)
{
	buf_adds(sh, "PV_LINE=");
	sh_quote_buf(sh, l->line);
	buf_adds(sh, " PV_MATCH=");
	sh_quote_buf(sh, l->match);
	buf_addf(sh, " PV_STATE=%s awk", l->present ? "present" : "absent");
	sh_word(sh, prog);
}

static void line_probe(const struct resource *r, int idx, struct buf *sh)
{
	const struct line_spec *l = r->spec;

	buf_adds(sh, "pv_r=\nif [ -f");
	sh_word(sh, l->path);
	buf_adds(sh, " ]; then\n\t");
	awk_cmd(l, line_probe_awk, sh);
	buf_adds(sh, " <");
	sh_word(sh, l->path);
	buf_adds(sh, " || pv_add 'line differs'\n");
	if (l->present)
		buf_adds(sh, "else\n\tpv_add 'file missing'\n");
	buf_addf(sh, "fi\npv_end %d\n", idx);
}

static void line_apply(const struct resource *r, int idx, struct buf *sh)
{
	const struct line_spec *l = r->spec;

	buf_adds(sh, "pv_p=");
	sh_quote_buf(sh, l->path);
	buf_adds(sh, "\nif [ -f \"$pv_p\" ]; then\n"
	             "\tpv_t=$(mktemp \"$(dirname -- \"$pv_p\")/.pv-XXXXXX\")\n\t");
	awk_cmd(l, line_awk, sh);
	buf_adds(sh, " <\"$pv_p\" >\"$pv_t\" || { rm -f -- \"$pv_t\"; exit 1; }\n"
	             "\tchown --reference=\"$pv_p\" -- \"$pv_t\"\n"
	             "\tchmod --reference=\"$pv_p\" -- \"$pv_t\"\n"
	             "\tmv -f -- \"$pv_t\" \"$pv_p\"\n");
	if (l->present) {
		buf_adds(sh, "else\n\tmkdir -p -- \"$(dirname -- \"$pv_p\")\"\n"
		             "\tpv_t=$(mktemp \"$(dirname -- \"$pv_p\")/.pv-XXXXXX\")\n"
		             "\tprintf '%s\\n'");
		sh_word(sh, l->line);
		buf_adds(sh,
		         " >\"$pv_t\"\n\tchmod 644 \"$pv_t\"\n\tmv -f -- \"$pv_t\" \"$pv_p\"\n");
	}
	buf_adds(sh, "fi\n");
}

const char *res_line_path(const struct resource *r)
{
	return r->type == &res_type_line && r->spec ? ((const struct line_spec *)r->spec)->path
	                                            : NULL;
}

const struct res_type res_type_line = {
    .name = "line",
    .parse = line_parse,
    .probe = line_probe,
    .apply = line_apply,
    .free_spec = line_free,
};
