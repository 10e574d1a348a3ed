/*
 * res-command.c - a shell command, guarded so a second run changes nothing.
 *
 *   command: { run: "update-ca-certificates --fresh",
 *              creates: /etc/ssl/certs/ca-certificates.crt }
 *   command: { run: "...", unless: "test -s /etc/thing" }
 *
 * run and unless are rendered with every {{ }} shell-quoted; they run
 * through "sh -c" so a broken command cannot break the surrounding script.
 * Outside handlers a command needs creates or unless (checked by the engine).
 * One that runs apt-get, apt or dpkg waits for the package lock first.
 */
#include <stdlib.h>
#include <string.h>

#include "provision/shquote.h"
#include "res-util.h"

struct cmd_spec {
	char *run, *creates, *unless;
};

static void cmd_free(void *p)
{
	struct cmd_spec *c = p;

	pv_free_secret(c->run);
	free(c->creates);
	pv_free_secret(c->unless);
	free(c);
}

static int cmd_parse(struct resource *r, const struct node *n, const struct scope *s,
                     const struct render_ctx *ctx, struct diags *d)
{
	static const char *const keys[] = {"run", "creates", "unless"};
	const char *where = "command resource";
	struct cmd_spec *c;
	int bad = 0;

	if (n && n->kind == NODE_SCALAR) {
		diags_add(d, &n->pos, "%s must be a mapping with 'run' and 'creates' or 'unless'",
		          where);
		return -1;
	}
	if (res_check_map(n, keys, PV_ARRAY_SIZE(keys), where, d) < 0)
		return -1;
	c = xcalloc(1, sizeof(*c));
	r->spec = c;
	bad |= res_field_str(r, n, "run", true, NULL, TPL_SHELL, s, where, &c->run, d);
	bad |= res_field_str(r, n, "creates", false, NULL, TPL_TEXT, s, where, &c->creates, d);
	bad |= res_field_str(r, n, "unless", false, NULL, TPL_SHELL, s, where, &c->unless, d);
	if (bad)
		return -1;
	/* the title shows the command as written: rendered values may be secret */
	const struct node *run = node_get(n, "run");
	const char *raw = run && run->kind == NODE_SCALAR ? run->scalar : c->run;
	size_t len = strcspn(raw, "\n");
	r->title = len > 60 ? xasprintf("command %.57s...", raw)
	                    : xasprintf("command %.*s", (int)len, raw);
	if (c->creates && c->creates[0] != '/') {
		struct pos at = res_pos(n, "creates");
		diags_add(d, &at, "'creates' in %s must be an absolute path: '%s'", where,
		          c->creates);
		return -1;
	}
	return 0;
}

bool res_command_guarded(const struct resource *r)
{
	const struct cmd_spec *c = r->spec;

	return r->type != &res_type_command || !c || c->creates || c->unless;
}

/*
 * The command texts may hold secrets: they reach the host's shell in here
 * documents, never as arguments that other users could see in ps.
 */
static void cmd_probe(const struct resource *r, int idx, struct buf *sh)
{
	const struct cmd_spec *c = r->spec;

	/* done when any guard says so */
	buf_adds(sh, "pv_r=\n");
	if (!c->creates && !c->unless) {
		buf_adds(sh, "pv_add 'always runs'\n");
	} else {
		buf_adds(sh, "if");
		if (c->creates) {
			buf_adds(sh, " [ -e");
			sh_word(sh, c->creates);
			buf_adds(sh, " ]; then :\nelif");
		}
		if (c->unless) {
			buf_adds(sh, " sh -s >/dev/null 2>&1 ");
			sh_heredoc(sh, c->unless);
			buf_adds(sh, "then :\nelif");
		}
		buf_adds(sh, " :; then\n\tpv_add");
		sh_word(sh, c->creates ? (c->unless ? "creates path missing and unless check failed"
		                                    : "creates path missing")
		                       : "unless check failed");
		buf_adds(sh, "\nfi\n");
	}
	buf_addf(sh, "pv_end %d\n", idx);
}

bool res_command_uses_apt(const struct resource *r)
{
	const struct cmd_spec *c = r->spec;

	return r->type == &res_type_command && c &&
	       (strstr(c->run, "apt-get") || strstr(c->run, "apt ") || strstr(c->run, "dpkg"));
}

bool res_command_prepares_packages(const struct resource *r)
{
	const struct cmd_spec *c = r->spec;

	return res_command_uses_apt(r) ||
	       (r->type == &res_type_command && c &&
	        (strstr(c->run, "debconf") || strstr(c->run, "keyrings")));
}

static void cmd_apply(const struct resource *r, int idx, struct buf *sh)
{
	const struct cmd_spec *c = r->spec;

	/*
	 * A command that runs apt or dpkg itself first waits, as package
	 * resources do, until no other program holds their locks (apt-get
	 * does not wait for the lists lock, whatever DPkg::Lock::Timeout says).
	 */
	if (res_command_uses_apt(r))
		buf_adds(sh, "pv_aptready\n");
	/* a file of mode 0600, so that the command's own stdin is /dev/null */
	buf_adds(sh, "pv_c=$(mktemp)\ncat >\"$pv_c\" ");
	sh_heredoc(sh, c->run);
	buf_adds(sh, "pv_x=0\nsh -e \"$pv_c\" </dev/null || pv_x=$?\nrm -f -- \"$pv_c\"\n"
	             "[ $pv_x = 0 ]\n");
}

const struct res_type res_type_command = {
    .name = "command",
    .parse = cmd_parse,
    .probe = cmd_probe,
    .apply = cmd_apply,
    .free_spec = cmd_free,
};
