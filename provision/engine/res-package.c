/*
 * res-package.c - Debian packages through apt.
 *
 *   package: { name: [fail2ban, ufw], state: present, early: true }
 *
 * The engine installs the packages of every resource with state present
 * in one apt-get install per host, at the first of them, unless a resource
 * must stay in its place: 'early: false', or what the engine sees itself
 * (see script_apply).
 *
 * The package lists are refreshed at most once per apply script, and only
 * when the last refresh the tool made (APT_STAMP) is older than an hour.
 * Services the packages bring are held until the roles have written their
 * configuration (pv_hold, pv_unhold).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "provision/shquote.h"
#include "res-util.h"

/* Touched after each successful "apt-get update": lists younger than an hour are used as they are.
 */
#define APT_STAMP "/var/lib/provision/apt-lists-updated"

/* Another apt or dpkg that takes the lock after pv_aptready is waited for too. */
#define APT_WAIT "-o DPkg::Lock::Timeout=600"

struct pkg_spec {
	char **names;
	size_t n;
	bool present;
	bool early; /* may join the host's one apt-get install */
};

static void pkg_free(void *p)
{
	struct pkg_spec *k = p;

	strv_free(k->names, k->n);
	free(k);
}

/* Debian package names, optionally with ":arch" or "=version". */
static bool pkg_name_ok(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789+-.:=~_") == strlen(s);
}

static int pkg_parse(struct resource *r, const struct node *n, const struct scope *s,
                     const struct render_ctx *ctx, struct diags *d)
{
	static const char *const keys[] = {"name", "state", "early"};
	const char *where = "package resource";
	struct pkg_spec *k;
	struct buf title = BUF_INIT;
	int bad = 0;

	if (res_check_map(n, keys, PV_ARRAY_SIZE(keys), where, d) < 0)
		return -1;
	k = xcalloc(1, sizeof(*k));
	r->spec = k;
	if (res_field_list(r, n, "name", true, s, where, &k->names, &k->n, d) < 0)
		return -1;
	bad |= res_field_state(r, n, s, where, &k->present, d);
	bad |= res_field_bool(r, n, "early", true, s, where, &k->early, NULL, d);
	if (!k->n) {
		diags_add(d, &n->pos, "%s names no package", where);
		bad = -1;
	}
	buf_adds(&title, "package");
	for (size_t i = 0; i < k->n; i++) {
		buf_addf(&title, "%s%s", i ? ", " : " ", k->names[i]);
		if (!pkg_name_ok(k->names[i])) {
			struct pos at = res_pos(n, "name");
			diags_add(d, &at, "invalid package name '%s' in %s", k->names[i], where);
			bad = -1;
		}
	}
	r->title = buf_detach(&title, NULL);
	return bad ? -1 : 0;
}

void res_package_query(struct buf *sh, const char *var, char *const *names, size_t n)
{
	buf_addf(sh, "%s=\"\n$(dpkg-query -W -f='${Package} ${Status}\\n' --", var);
	for (size_t i = 0; i < n; i++) {
		char *base = xstrndup(names[i], strcspn(names[i], "="));
		sh_word(sh, base);
		free(base);
	}
	buf_adds(sh, " 2>/dev/null)\"\n");
}

static void pkg_probe(const struct resource *r, int idx, struct buf *sh)
{
	const struct pkg_spec *k = r->spec;
	bool qualified = false;

	for (size_t i = 0; i < k->n; i++)
		qualified = qualified || strchr(k->names[i], ':');
	buf_adds(sh, "pv_r=\n");
	if (!qualified) {
		/*
		 * one dpkg-query for the whole list: "\nNAME STATUS" per known
		 * package; the probe's one for all package resources when there
		 */
		buf_adds(sh, "if [ -n \"$pv_pkgs\" ]; then pv_q=$pv_pkgs; else\n");
		res_package_query(sh, "pv_q", k->names, k->n);
		buf_adds(sh, "fi\n");
	}
	buf_adds(sh, "for pv_n in");
	for (size_t i = 0; i < k->n; i++)
		sh_word(sh, k->names[i]);
	buf_adds(sh, "; do\n");
	if (qualified)
		buf_adds(sh,
		         "\tpv_s=$(dpkg-query -W -f='${Status}' \"${pv_n%%=*}\" 2>/dev/null)\n");
	else
		buf_adds(sh, "\tpv_s=${pv_q#*\"\n${pv_n%%=*} \"}\n"
		             "\t[ \"$pv_s\" != \"$pv_q\" ] || pv_s=\n"
		             "\tpv_s=${pv_s%%\"\n\"*}\n");
	if (k->present)
		buf_adds(sh, "\t[ \"$pv_s\" = 'install ok installed' ] || "
		             "pv_add \"$pv_n not installed\"\n");
	else
		buf_adds(sh, "\tcase \"$pv_s\" in *' installed'|*' half-'*|*' unpacked') "
		             "pv_add \"$pv_n installed\";; esac\n");
	buf_addf(sh, "done\npv_end %d\n", idx);
}

void res_package_install(struct buf *sh, char *const *names, size_t n)
{
	/*
	 * the services the packages bring (and those a cut-off dpkg run that
	 * pv_aptready finishes brings) start after their configuration
	 */
	buf_adds(sh, "export DEBIAN_FRONTEND=noninteractive\npv_hold\npv_aptready\n");
	/* one refresh per apply script; the marker lives in the stage dir */
	buf_adds(sh, "if [ ! -e \"$PV_STAGE/apt-updated\" ]; then\n"
	             "\tif [ -z \"$(find " APT_STAMP " -mmin -60 2>/dev/null)\" ]; then\n"
	             /* a stalled mirror or proxy must not hang the run */
	             "\t\tpv_i=0\n\t\tuntil timeout 180 apt-get update -q; do\n"
	             "\t\t\tpv_i=$((pv_i + 1))\n\t\t\t[ $pv_i -lt 3 ] || exit 1\n"
	             "\t\t\tsleep 2\n\t\tdone\n"
	             "\t\tmkdir -p /var/lib/provision\n\t\tchmod 700 /var/lib/provision\n"
	             "\t\t: >" APT_STAMP "\n\tfi\n"
	             "\t: >\"$PV_STAGE/apt-updated\"\nfi\n");
	buf_adds(sh, "apt-get -y -q " APT_WAIT " -o Dpkg::Options::=--force-confdef "
	             "-o Dpkg::Options::=--force-confold install --no-install-recommends");
	for (size_t i = 0; i < n; i++)
		sh_word(sh, names[i]);
	buf_addc(sh, '\n');
}

static void pkg_apply(const struct resource *r, int idx, struct buf *sh)
{
	const struct pkg_spec *k = r->spec;

	(void)idx;
	if (k->present) {
		res_package_install(sh, k->names, k->n);
		return;
	}
	buf_adds(sh, "export DEBIAN_FRONTEND=noninteractive\npv_aptready\n");
	buf_adds(sh, "apt-get -y -q " APT_WAIT " remove");
	for (size_t i = 0; i < k->n; i++)
		sh_word(sh, k->names[i]);
	buf_addc(sh, '\n');
}

const struct res_type res_type_package = {
    .name = "package",
    .parse = pkg_parse,
    .probe = pkg_probe,
    .apply = pkg_apply,
    .free_spec = pkg_free,
};

const char *const *res_package_names(const struct resource *r, size_t *n, bool *present)
{
	const struct pkg_spec *k;

	if (r->type != &res_type_package || !r->spec)
		return NULL;
	k = r->spec;
	*n = k->n;
	*present = k->present;
	return (const char *const *)k->names;
}

bool res_package_early(const struct resource *r)
{
	const struct pkg_spec *k = r->spec;

	return r->type == &res_type_package && k && k->present && k->early;
}

void res_package_pin(struct resource *r, const json_t *versions)
{
	struct pkg_spec *k = r->spec;

	if (r->type != &res_type_package || !k || !k->present)
		return;
	for (size_t i = 0; i < k->n; i++) {
		const char *v;
		if (strpbrk(k->names[i], "=:"))
			continue;
		v = json_string_value(json_object_get(versions, k->names[i]));
		if (!v)
			continue;
		char *pinned = xasprintf("%s=%s", k->names[i], v);
		free(k->names[i]);
		k->names[i] = pinned;
	}
}
