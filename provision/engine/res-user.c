/*
 * res-user.c - a login user, its sudo rule and its SSH keys.
 *
 *   user: { name: admin, groups: [adm], shell: /bin/bash, sudo: true,
 *           authorized_keys: ["ssh-ed25519 AAAA... me"] }
 *
 * groups are added, never removed.  sudo: true writes
 * /etc/sudoers.d/90-provision-NAME (checked with visudo before it is
 * placed), sudo: false removes it, no sudo key leaves it alone.
 * authorized_keys, when given, is the whole ~/.ssh/authorized_keys.
 * A ~/.ssh that is a symbolic link is refused, never followed; the file
 * itself is written by the user, not by root.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/shquote.h"
#include "res-util.h"

struct user_spec {
	char *name, *shell, *home;
	char **groups;
	size_t n_groups;
	bool sudo, sudo_set;
	bool keys_set;
	char *keys; /* authorized_keys content */
	char *sudoers; /* sudoers content */
	char *sudoers_path, *keys_path, *ssh_dir;
};

static void user_free(void *p)
{
	struct user_spec *u = p;

	free(u->name);
	free(u->shell);
	free(u->home);
	strv_free(u->groups, u->n_groups);
	free(u->keys);
	free(u->sudoers);
	free(u->sudoers_path);
	free(u->keys_path);
	free(u->ssh_dir);
	free(u);
}

static bool user_name_ok(const char *s)
{
	size_t len = strlen(s);

	if (!len || len > 32 || !((*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == len;
}

static int user_parse(struct resource *r, const struct node *n, const struct scope *s,
                      const struct render_ctx *ctx, struct diags *d)
{
	static const char *const keys[] = {"name", "groups", "shell",
	                                   "home", "sudo",   "authorized_keys"};
	const char *where = "user resource";
	struct user_spec *u;
	char **klist = NULL;
	size_t n_keys = 0;
	int bad = 0;

	if (res_check_map(n, keys, PV_ARRAY_SIZE(keys), where, d) < 0)
		return -1;
	u = xcalloc(1, sizeof(*u));
	r->spec = u;
	if (res_field_str(r, n, "name", true, NULL, TPL_TEXT, s, where, &u->name, d) < 0)
		return -1;
	r->title = xasprintf("user %s", u->name);
	if (!user_name_ok(u->name)) {
		struct pos at = res_pos(n, "name");
		diags_add(d, &at, "invalid user name '%s' in %s", u->name, where);
		return -1;
	}
	char *dhome = xasprintf("/home/%s", u->name);
	bad |= res_field_str(r, n, "home", false, dhome, TPL_TEXT, s, where, &u->home, d);
	free(dhome);
	bad |= res_field_str(r, n, "shell", false, "/bin/bash", TPL_TEXT, s, where, &u->shell, d);
	bad |= res_field_list(r, n, "groups", false, s, where, &u->groups, &u->n_groups, d);
	bad |= res_field_bool(r, n, "sudo", false, s, where, &u->sudo, &u->sudo_set, d);
	if (bad)
		return -1;
	for (size_t i = 0; i < u->n_groups; i++) {
		if (!user_name_ok(u->groups[i])) {
			struct pos at = res_pos(n, "groups");
			diags_add(d, &at, "invalid group name '%s' in %s", u->groups[i], where);
			bad = -1;
		}
	}
	if (u->home[0] != '/' || strchr(u->home, ':') || strchr(u->home, '\n') ||
	    u->shell[0] != '/' || strchr(u->shell, ':') || strchr(u->shell, '\n')) {
		diags_add(d, &n->pos, "'home' and 'shell' in %s must be absolute paths", where);
		bad = -1;
	}
	if (node_get(n, "authorized_keys")) {
		struct buf kb = BUF_INIT;
		if (res_field_list(r, n, "authorized_keys", false, s, where, &klist, &n_keys, d) <
		    0)
			return -1;
		for (size_t i = 0; i < n_keys; i++) {
			if (strchr(klist[i], '\n')) {
				struct pos at = res_pos(n, "authorized_keys");
				diags_add(d, &at, "a key in 'authorized_keys' of %s spans lines",
				          where);
				bad = -1;
			}
			buf_addf(&kb, "%s\n", klist[i]);
		}
		strv_free(klist, n_keys);
		u->keys_set = true;
		u->keys = buf_detach(&kb, NULL);
	}
	u->sudoers = xasprintf("# managed by provision\n%s ALL=(ALL) NOPASSWD:ALL\n", u->name);
	u->sudoers_path = xasprintf("/etc/sudoers.d/90-provision-%s", u->name);
	u->ssh_dir = xasprintf("%s/.ssh", u->home);
	u->keys_path = xasprintf("%s/.ssh/authorized_keys", u->home);
	return bad ? -1 : 0;
}

static void sha_word(struct buf *sh, const char *s)
{
	char sha[65];

	pv_sha256_hex(s, strlen(s), sha);
	buf_addf(sh, " %s", sha);
}

static void user_probe(const struct resource *r, int idx, struct buf *sh)
{
	const struct user_spec *u = r->spec;

	buf_adds(sh, "pv_r=\npv_pw=$(getent passwd");
	sh_word(sh, u->name);
	buf_adds(sh, ")\nif [ -z \"$pv_pw\" ]; then\n\tpv_add missing\nelse\n");
	/* fields 6 and 7 of the passwd line, by parameter expansion: no processes */
	buf_adds(sh, "\tpv_t=${pv_pw%:*}\n\t[ \"${pv_pw##*:}\" =");
	sh_word(sh, u->shell);
	buf_adds(sh, " ] || pv_add 'shell differs'\n");
	buf_adds(sh, "\t[ \"${pv_t##*:}\" =");
	sh_word(sh, u->home);
	buf_adds(sh, " ] || pv_add 'home differs'\n");
	if (u->n_groups) {
		buf_adds(sh, "\tpv_in=\" $(id -nG");
		sh_word(sh, u->name);
		buf_adds(sh, ") \"\n\tfor pv_g in");
		for (size_t i = 0; i < u->n_groups; i++)
			sh_word(sh, u->groups[i]);
		buf_adds(sh, "; do case \"$pv_in\" in *\" $pv_g \"*) ;; "
		             "*) pv_add \"not in group $pv_g\";; esac; done\n");
	}
	if (u->keys_set) {
		/* never look through a link the user may have put there */
		buf_adds(sh, "\tpv_grp=$(id -gn");
		sh_word(sh, u->name);
		buf_adds(sh, ")\n\tif [ -L");
		sh_word(sh, u->ssh_dir);
		buf_adds(sh, " ]; then pv_add '.ssh is a symbolic link'\n\telse\n\tif [ -d");
		sh_word(sh, u->ssh_dir);
		buf_adds(sh, " ]; then pv_meta");
		sh_word(sh, u->ssh_dir);
		buf_adds(sh, " 700");
		sh_word(sh, u->name);
		buf_adds(sh, " \"$pv_grp\"; fi\n\tpv_cfile authorized_keys");
		sh_word(sh, u->keys_path);
		sha_word(sh, u->keys);
		buf_adds(sh, " 600");
		sh_word(sh, u->name);
		buf_adds(sh, " \"$pv_grp\"\n\tfi\n");
	}
	buf_adds(sh, "fi\n");
	if (u->sudo_set && u->sudo) {
		buf_adds(sh, "pv_cfile sudoers");
		sh_word(sh, u->sudoers_path);
		sha_word(sh, u->sudoers);
		buf_adds(sh, " 440 root root\n");
	} else if (u->sudo_set) {
		buf_adds(sh, "[ ! -e");
		sh_word(sh, u->sudoers_path);
		buf_adds(sh, " ] || pv_add 'sudo rule present'\n");
	}
	buf_addf(sh, "pv_end %d\n", idx);
}

static void user_stage(const struct resource *r, int idx, struct stage *st)
{
	const struct user_spec *u = r->spec;
	char name[32];

	if (u->sudo_set && u->sudo) {
		snprintf(name, sizeof(name), "u%ds", idx);
		stage_add(st, name, u->sudoers, strlen(u->sudoers), false);
	}
	if (u->keys_set) {
		snprintf(name, sizeof(name), "u%dk", idx);
		stage_add(st, name, u->keys, strlen(u->keys), r->secret);
	}
}

static void user_apply(const struct resource *r, int idx, struct buf *sh)
{
	const struct user_spec *u = r->spec;

	buf_adds(sh, "pv_u=");
	sh_quote_buf(sh, u->name);
	buf_adds(sh, "\npv_h=");
	sh_quote_buf(sh, u->home);
	buf_adds(sh, "\npv_sh=");
	sh_quote_buf(sh, u->shell);
	buf_adds(sh, "\nif ! getent passwd \"$pv_u\" >/dev/null; then\n"
	             "\tuseradd -m -d \"$pv_h\" -s \"$pv_sh\" -- \"$pv_u\"\n"
	             "else\n"
	             "\tpv_pw=$(getent passwd \"$pv_u\")\n"
	             "\t[ \"$(printf '%s\\n' \"$pv_pw\" | cut -d: -f7)\" = \"$pv_sh\" ] || "
	             "usermod -s \"$pv_sh\" -- \"$pv_u\"\n"
	             "\t[ \"$(printf '%s\\n' \"$pv_pw\" | cut -d: -f6)\" = \"$pv_h\" ] || "
	             "usermod -d \"$pv_h\" -- \"$pv_u\"\n"
	             "fi\n");
	for (size_t i = 0; i < u->n_groups; i++) {
		buf_adds(sh, "pv_g=");
		sh_quote_buf(sh, u->groups[i]);
		buf_adds(sh, "\ngetent group \"$pv_g\" >/dev/null || groupadd -r -- \"$pv_g\"\n"
		             "case \" $(id -nG \"$pv_u\") \" in *\" $pv_g \"*) ;; "
		             "*) usermod -a -G \"$pv_g\" -- \"$pv_u\";; esac\n");
	}
	if (u->keys_set) {
		/*
		 * The user owns the home directory and can put a link where .ssh
		 * was: root refuses a link, makes the directory without following
		 * one (mkdir, chown -h), and the user writes the keys with only the
		 * user's own rights, so a link made meanwhile gains nothing.
		 */
		buf_adds(
		    sh, "pv_grp=$(id -gn \"$pv_u\")\n"
		        "pv_s=\"$pv_h/.ssh\"\n"
		        "if [ -L \"$pv_s\" ] || { [ -e \"$pv_s\" ] && [ ! -d \"$pv_s\" ]; }; then\n"
		        "\techo \"'$pv_s' is a symbolic link or not a directory; refusing to "
		        "follow it (remove it, then run again)\"\n\texit 1\nfi\n"
		        "[ -d \"$pv_s\" ] || mkdir -m 700 -- \"$pv_s\"\n"
		        "chown -h -- \"$pv_u:$pv_grp\" \"$pv_s\"\n");
		buf_addf(sh,
		         "runuser -u \"$pv_u\" -- sh -c 'umask 077; chmod 700 -- \"$1\" && "
		         "t=$(mktemp \"$1/.pv-XXXXXX\") || exit 1; "
		         "if cat >\"$t\" && chmod 600 -- \"$t\" && "
		         "mv -f -- \"$t\" \"$1/authorized_keys\"; "
		         "then exit 0; fi; rm -f -- \"$t\"; exit 1' sh \"$pv_s\" "
		         "<\"$PV_STAGE/u%dk\"\n",
		         idx);
	}
	if (u->sudo_set && u->sudo) {
		buf_addf(sh, "visudo -c -q -f \"$PV_STAGE/u%ds\"\n", idx);
		buf_addf(sh, "pv_install \"$PV_STAGE/u%ds\"", idx);
		sh_word(sh, u->sudoers_path);
		buf_adds(sh, " 440 root root\n");
	} else if (u->sudo_set) {
		buf_adds(sh, "rm -f --");
		sh_word(sh, u->sudoers_path);
		buf_addc(sh, '\n');
	}
}

const struct res_type res_type_user = {
    .name = "user",
    .parse = user_parse,
    .probe = user_probe,
    .stage = user_stage,
    .apply = user_apply,
    .free_spec = user_free,
};
