/*
 * res-ufw.c - the host firewall through ufw: default policies and the
 * exact set of incoming rules.
 *
 *   ufw:
 *     ssh: "{{ ssh_port }}/tcp"           # the rule that keeps the operator in
 *     allow: ["{{ ufw_allow }}", "{{ role_ports }}", "5432/tcp from 10.0.0.0/24",
 *             "on tailscale0"]
 *     default_incoming: deny               # deny | reject | allow
 *     default_outgoing: allow
 *     docker: true                         # published container ports obey the rules
 *     ssh_only_on: tailscale0              # SSH only on this interface ...
 *     ssh_only_on_proof: /var/lib/provision/tailnet-ssh-proven   # ... once proven
 *
 * A rule is "[on IFACE] [PORT[:PORT][/PROTO] | vrrp] [from CIDR]".  The rules ufw
 * holds are compared with the wanted ones through the tuples ufw writes in
 * /etc/ufw/user.rules and user6.rules (reading files costs nothing; running
 * ufw, a Python program, costs a few hundred milliseconds), and a rule the
 * inventory does not name is removed.  The SSH rule must be in the set, and
 * it is added before the firewall is switched on.
 *
 * docker: Docker's published ports are forwarded (DNAT), not delivered to
 * the host, so ufw's input rules never see them.  With docker: true the
 * resource also owns a block in /etc/ufw/after.rules that fills the
 * DOCKER-USER chain (which Docker consults before its own rules): traffic
 * from the containers' bridges and replies pass; from outside, a new
 * connection reaches a container only when its original destination port
 * (before DNAT) is one the rules allow.  ufw loads the block whenever it
 * starts or reloads, and a reload refills the chain (iptables-restore
 * flushes a chain it declares).  With IPv6 on in ufw the same block for
 * ip6tables goes to /etc/ufw/after6.rules: Docker publishes ports on IPv6
 * too once it is enabled there.
 *
 * ssh_only_on: the public SSH rule is replaced by one on that interface,
 * but only while the host itself shows that SSH over it works: the proof
 * file names an address (written after a login over the interface was
 * seen) and the interface holds that address right now.  Otherwise the
 * public rule stays: a missing tailnet never locks the operator out.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/shquote.h"
#include "res-util.h"

struct ufw_rule {
	char *text; /* as written, for messages */
	char *iface, *proto, *port, *from; /* NULL: any */
	int fam; /* 0 both, 4 or 6 */
};

struct ufw_spec {
	struct ufw_rule *rules;
	size_t n;
	size_t ssh; /* index of the SSH rule in rules */
	char *in_policy, *out_policy; /* DROP/REJECT/ACCEPT */
	char *in_word, *out_word; /* deny/reject/allow */
	bool docker;
	char *only_on, *proof; /* ssh_only_on and its proof file, or NULL */
	/* the rules while SSH is only on only_on (when only_on is set) */
	struct ufw_rule *alt;
	size_t n_alt, alt_ssh;
};

#define DOCKER_BEGIN "# BEGIN provision docker"
#define DOCKER_END "# END provision docker"

static void rule_release(struct ufw_rule *u)
{
	free(u->text);
	free(u->iface);
	free(u->proto);
	free(u->port);
	free(u->from);
}

static void ufw_free(void *p)
{
	struct ufw_spec *s = p;

	for (size_t i = 0; i < s->n; i++)
		rule_release(&s->rules[i]);
	free(s->rules);
	for (size_t i = 0; i < s->n_alt; i++)
		rule_release(&s->alt[i]);
	free(s->alt);
	free(s->only_on);
	free(s->proof);
	free(s->in_policy);
	free(s->out_policy);
	free(s->in_word);
	free(s->out_word);
	free(s);
}

static bool port_ok(const char *p)
{
	char *end;
	long a, b;

	/* digits only: strtol would also skip leading blanks and line breaks */
	if (strspn(p, "0123456789:") != strlen(p))
		return false;
	a = strtol(p, &end, 10);
	if (end == p || a < 1 || a > 65535)
		return false;
	if (*end == ':') {
		const char *q = end + 1;
		b = strtol(q, &end, 10);
		if (end == q || b <= a || b > 65535)
			return false;
	}
	return *end == '\0';
}

/* Normalise an address or network as ufw writes it; *fam gets 4 or 6. */
static char *cidr_norm(const char *in, int *fam)
{
	char addr[64], out[80];
	const char *slash = strchr(in, '/');
	size_t alen = slash ? (size_t)(slash - in) : strlen(in);
	unsigned char bytes[16];
	long bits = -1;

	if (alen == 0 || alen >= sizeof(addr))
		return NULL;
	memcpy(addr, in, alen);
	addr[alen] = '\0';
	if (slash) {
		char *end;
		bits = strtol(slash + 1, &end, 10);
		if (end == slash + 1 || *end)
			return NULL;
	}
	int af = strchr(addr, ':') ? AF_INET6 : AF_INET;
	int max = af == AF_INET ? 32 : 128;
	if (inet_pton(af, addr, bytes) != 1 || bits > max || (slash && bits < 0))
		return NULL;
	if (bits == max)
		bits = -1; /* a single address: ufw writes it without a prefix */
	if (bits >= 0) {
		for (int i = 0; i < max / 8; i++) {
			int keep = (int)bits - i * 8;
			if (keep <= 0)
				bytes[i] = 0;
			else if (keep < 8)
				bytes[i] &= (unsigned char)(0xff << (8 - keep));
		}
	}
	if (!inet_ntop(af, bytes, addr, sizeof(addr)))
		return NULL;
	if (bits >= 0)
		snprintf(out, sizeof(out), "%s/%ld", addr, bits);
	else
		snprintf(out, sizeof(out), "%s", addr);
	*fam = af == AF_INET ? 4 : 6;
	return xstrdup(out);
}

static bool iface_ok(const char *s)
{
	size_t len = strlen(s);

	return len && len <= 15 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
	           len;
}

/* Parse "[on IFACE] [PORT[/PROTO]] [from CIDR]"; returns an error text or NULL. */
static const char *rule_parse(struct ufw_rule *u, const char *text)
{
	char *copy = xstrdup(text), *save = NULL;
	const char *msg = NULL;
	char *tok = strtok_r(copy, " \t", &save);

	memset(u, 0, sizeof(*u));
	u->text = xstrdup(text);
	for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
		if ((*c < 0x20 && *c != '\t') || *c == 0x7f) {
			msg = "a rule holds a line break or control character";
			goto out;
		}
	}
	if (tok && !strcmp(tok, "on")) {
		tok = strtok_r(NULL, " \t", &save);
		if (!tok || !iface_ok(tok)) {
			msg = "'on' needs an interface name";
			goto out;
		}
		u->iface = xstrdup(tok);
		tok = strtok_r(NULL, " \t", &save);
	}
	if (tok && !strcmp(tok, "vrrp")) {
		/* a protocol without ports: keepalived's advertisements */
		u->proto = xstrdup(tok);
		tok = strtok_r(NULL, " \t", &save);
	} else if (tok && strcmp(tok, "from")) {
		char *slash = strchr(tok, '/');
		if (slash) {
			*slash = '\0';
			if (strcmp(slash + 1, "tcp") && strcmp(slash + 1, "udp")) {
				msg = "the protocol must be tcp or udp";
				goto out;
			}
			u->proto = xstrdup(slash + 1);
		}
		if (!port_ok(tok)) {
			msg = "expected a port (1-65535) or a range like 8000:8100";
			goto out;
		}
		if (strchr(tok, ':') && !u->proto) {
			msg = "a port range needs a protocol (8000:8100/tcp)";
			goto out;
		}
		u->port = xstrdup(tok);
		tok = strtok_r(NULL, " \t", &save);
	}
	if (tok && !strcmp(tok, "from")) {
		tok = strtok_r(NULL, " \t", &save);
		if (!tok || !(u->from = cidr_norm(tok, &u->fam))) {
			msg = "'from' needs an IPv4 or IPv6 address or network";
			goto out;
		}
		tok = strtok_r(NULL, " \t", &save);
	}
	if (tok)
		msg = "unexpected words (a rule is '[on IFACE] [PORT[/PROTO]] [from CIDR]')";
	else if (!u->port && !u->iface && !u->proto)
		msg = "a rule needs a port, vrrp or an interface";
out:
	free(copy);
	return msg;
}

static void rule_copy(struct ufw_rule *dst, const struct ufw_rule *src);
static bool rule_in_fam(const struct ufw_rule *u, int fam);

static bool rule_same(const struct ufw_rule *a, const struct ufw_rule *b)
{
#define SAME(x) ((!a->x && !b->x) || (a->x && b->x && !strcmp(a->x, b->x)))
	return SAME(iface) && SAME(proto) && SAME(port) && SAME(from);
#undef SAME
}

static int policy(const char *word, char **pol)
{
	if (!strcmp(word, "deny"))
		*pol = xstrdup("DROP");
	else if (!strcmp(word, "reject"))
		*pol = xstrdup("REJECT");
	else if (!strcmp(word, "allow"))
		*pol = xstrdup("ACCEPT");
	else
		return -1;
	return 0;
}

static int ufw_parse(struct resource *r, const struct node *n, const struct scope *s,
                     const struct render_ctx *ctx, struct diags *d)
{
	static const char *const keys[] = {
	    "ssh",    "allow",       "default_incoming", "default_outgoing",
	    "docker", "ssh_only_on", "ssh_only_on_proof"};
	const char *where = "ufw resource";
	struct ufw_spec *sp;
	char **list = NULL, *ssh = NULL;
	size_t n_list = 0;
	struct ufw_rule want_ssh;
	const char *msg;
	int bad = 0;

	if (res_check_map(n, keys, PV_ARRAY_SIZE(keys), where, d) < 0)
		return -1;
	sp = xcalloc(1, sizeof(*sp));
	r->spec = sp;
	r->title = xstrdup("ufw");
	bad |= res_field_str(r, n, "default_incoming", false, "deny", TPL_TEXT, s, where,
	                     &sp->in_word, d);
	bad |= res_field_str(r, n, "default_outgoing", false, "allow", TPL_TEXT, s, where,
	                     &sp->out_word, d);
	bad |= res_field_bool(r, n, "docker", false, s, where, &sp->docker, NULL, d);
	bad |= res_field_str(r, n, "ssh_only_on", false, NULL, TPL_TEXT, s, where, &sp->only_on, d);
	bad |= res_field_str(r, n, "ssh_only_on_proof", false, NULL, TPL_TEXT, s, where, &sp->proof,
	                     d);
	if (bad)
		return -1;
	if (sp->only_on && !*sp->only_on) {
		free(sp->only_on);
		sp->only_on = NULL;
	}
	if (sp->only_on && (!iface_ok(sp->only_on) || !sp->proof || sp->proof[0] != '/')) {
		struct pos at = res_pos(n, "ssh_only_on");
		diags_add(d, &at,
		          "'ssh_only_on' in %s needs an interface name and 'ssh_only_on_proof', "
		          "an absolute path",
		          where);
		return -1;
	}
	if (policy(sp->in_word, &sp->in_policy) < 0 || policy(sp->out_word, &sp->out_policy) < 0) {
		diags_add(d, &n->pos, "default policies in %s are deny, reject or allow", where);
		return -1;
	}
	if (res_field_str(r, n, "ssh", true, NULL, TPL_TEXT, s, where, &ssh, d) < 0 ||
	    res_field_list(r, n, "allow", true, s, where, &list, &n_list, d) < 0) {
		free(ssh);
		return -1;
	}
	if ((msg = rule_parse(&want_ssh, ssh))) {
		struct pos at = res_pos(n, "ssh");
		diags_add(d, &at, "invalid 'ssh' rule '%s' in %s: %s", ssh, where, msg);
		rule_release(&want_ssh);
		free(ssh);
		strv_free(list, n_list);
		return -1;
	}
	sp->rules = xcalloc(n_list + 1, sizeof(*sp->rules));
	sp->ssh = (size_t)-1;
	for (size_t i = 0; i < n_list; i++) {
		struct ufw_rule u;
		if ((msg = rule_parse(&u, list[i]))) {
			struct pos at = res_pos(n, "allow");
			diags_add(d, &at, "invalid rule '%s' in 'allow' of %s: %s", list[i], where,
			          msg);
			rule_release(&u);
			bad = -1;
			continue;
		}
		bool dup = false;
		for (size_t k = 0; k < sp->n && !dup; k++)
			dup = rule_same(&sp->rules[k], &u);
		if (dup) {
			rule_release(&u);
			continue;
		}
		if (rule_same(&u, &want_ssh))
			sp->ssh = sp->n;
		sp->rules[sp->n++] = u;
	}
	if (!bad && sp->ssh == (size_t)-1) {
		struct pos at = res_pos(n, "allow");
		diags_add(d, &at,
		          "the rules in %s do not allow SSH ('%s'): refusing a firewall that would "
		          "lock the operator out",
		          where, ssh);
		bad = -1;
	}
	if (!bad && sp->only_on) {
		/* the same rules with SSH moved onto the interface */
		sp->alt = xcalloc(sp->n + 1, sizeof(*sp->alt));
		rule_copy(&sp->alt[0], &sp->rules[sp->ssh]);
		free(sp->alt[0].iface);
		sp->alt[0].iface = xstrdup(sp->only_on);
		free(sp->alt[0].text);
		sp->alt[0].text = xasprintf("%s on %s", sp->rules[sp->ssh].text, sp->only_on);
		sp->n_alt = 1;
		sp->alt_ssh = 0;
		for (size_t i = 0; i < sp->n; i++)
			if (!rule_same(&sp->rules[i], &want_ssh) &&
			    !rule_same(&sp->rules[i], &sp->alt[0]))
				rule_copy(&sp->alt[sp->n_alt++], &sp->rules[i]);
	}
	rule_release(&want_ssh);
	free(ssh);
	strv_free(list, n_list);
	return bad;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void rule_copy(struct ufw_rule *dst, const struct ufw_rule *src)
{
	dst->text = xstrdup(src->text);
	dst->iface = dup_or_null(src->iface);
	dst->proto = dup_or_null(src->proto);
	dst->port = dup_or_null(src->port);
	dst->from = dup_or_null(src->from);
	dst->fam = src->fam;
}

/*
 * The DOCKER-USER block of after.rules for a rule set: replies and
 * traffic from the containers' own bridges pass; from elsewhere a new
 * connection to a container passes when a rule allows its original
 * destination port; everything else headed for a bridge is dropped.
 */
static void docker_block(struct buf *b, const struct ufw_rule *rules, size_t n, int fam)
{
	buf_adds(b, DOCKER_BEGIN
	         "\n"
	         "# Published container ports obey the rules of ufw (managed by provision).\n"
	         "*filter\n"
	         ":DOCKER-USER - [0:0]\n"
	         "-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN\n"
	         "-A DOCKER-USER -i docker0 -j RETURN\n"
	         "-A DOCKER-USER -i br-+ -j RETURN\n");
	for (size_t i = 0; i < n; i++) {
		const struct ufw_rule *u = &rules[i];
		if (!rule_in_fam(u, fam))
			continue;
		for (int k = 0; k < 2; k++) {
			const char *proto = u->proto ? u->proto : k ? "udp" : "tcp";
			if (u->proto && k)
				break;
			if (!u->port && k)
				break;
			buf_adds(b, "-A DOCKER-USER");
			if (u->iface)
				buf_addf(b, " -i %s", u->iface);
			if (u->from)
				buf_addf(b, " -s %s", u->from);
			if (u->port)
				buf_addf(b,
				         " -p %s -m conntrack --ctorigdstport %s --ctdir ORIGINAL",
				         proto, u->port);
			buf_adds(b, " -j RETURN\n");
		}
	}
	buf_adds(b, "-A DOCKER-USER -o docker0 -j DROP\n"
	            "-A DOCKER-USER -o br-+ -j DROP\n"
	            "COMMIT\n" DOCKER_END "\n");
}

/* The tuple ufw writes for u in family fam, prefixed "4 " or "6 ". */
static void rule_tuple(struct buf *b, const struct ufw_rule *u, int fam)
{
	const char *any = fam == 4 ? "0.0.0.0/0" : "::/0";

	buf_addf(b, "%d allow %s %s %s any %s in%s%s", fam, u->proto ? u->proto : "any",
	         u->port ? u->port : "any", any, u->from ? u->from : any, u->iface ? "_" : "",
	         u->iface ? u->iface : "");
}

static bool rule_in_fam(const struct ufw_rule *u, int fam)
{
	return u->fam == 0 || u->fam == fam;
}

/* "ufw allow in [on IFACE] [proto P] from SRC to any [port N]" */
static void rule_command(struct buf *sh, const char *verb, const struct ufw_rule *u)
{
	buf_addf(sh, "ufw %s in", verb);
	if (u->iface) {
		buf_adds(sh, " on");
		sh_word(sh, u->iface);
	}
	if (u->proto) {
		buf_adds(sh, " proto");
		sh_word(sh, u->proto);
	}
	buf_adds(sh, " from");
	sh_word(sh, u->from ? u->from : "any");
	buf_adds(sh, " to any");
	if (u->port) {
		buf_adds(sh, " port");
		sh_word(sh, u->port);
	}
	buf_adds(sh, " >/dev/null\n");
}

/* A rule set: the normal one, or the one with SSH only on the interface. */
struct rule_set {
	const struct ufw_rule *rules;
	size_t n, ssh;
};

static struct rule_set set_of(const struct ufw_spec *sp, bool alt)
{
	struct rule_set rs = {sp->rules, sp->n, sp->ssh};

	if (alt && sp->only_on) {
		rs.rules = sp->alt;
		rs.n = sp->n_alt;
		rs.ssh = sp->alt_ssh;
	}
	return rs;
}

/* printf commands writing the tuples of a set (v6 only with IPv6 on). */
static void want_printf(struct buf *sh, const struct rule_set *rs)
{
	for (int fam = 4; fam <= 6; fam += 2) {
		struct buf t = BUF_INIT;
		for (size_t i = 0; i < rs->n; i++) {
			if (!rule_in_fam(&rs->rules[i], fam))
				continue;
			rule_tuple(&t, &rs->rules[i], fam);
			buf_addc(&t, '\n');
		}
		if (fam == 6)
			buf_adds(sh, " [ -z \"$pv_v6\" ] ||");
		buf_adds(sh, " printf '%s'");
		sh_word(sh, t.s);
		buf_adds(sh, ";");
		buf_release(&t);
	}
}

/* The docker block wanted for a set and family (empty without docker). */
static void want_block(struct buf *b, const struct ufw_spec *sp, const struct rule_set *rs, int fam)
{
	if (sp->docker)
		docker_block(b, rs->rules, rs->n, fam);
}

/* after.rules holds the IPv4 block, after6.rules the IPv6 one (ip6tables). */
static const char *after_file(int fam)
{
	return fam == 4 ? "/etc/ufw/after.rules" : "/etc/ufw/after6.rules";
}

static void ufw_probe(const struct resource *r, int idx, struct buf *sh)
{
	const struct ufw_spec *sp = r->spec;
	struct rule_set normal = set_of(sp, false), alt = set_of(sp, true);
	struct buf blk = BUF_INIT, blk_alt = BUF_INIT;

	buf_adds(sh, "pv_r=\npv_send=\npv_have=\npv_alt=\n");
	if (sp->only_on) {
		/* the proof names an address; the interface must hold it now */
		buf_adds(sh, "pv_a=$(head -n 1");
		sh_word(sh, sp->proof);
		buf_adds(sh, " 2>/dev/null)\nif [ -n \"$pv_a\" ] && ip -o addr show dev");
		sh_word(sh, sp->only_on);
		buf_adds(sh, " 2>/dev/null | grep -qF \" $pv_a/\"; then pv_alt=1; fi\n");
	}
	buf_adds(sh, "if ! command -v ufw >/dev/null 2>&1; then\n\tpv_add 'ufw not installed'\n"
	             "\tpv_send=1\nelse\n"
	             "\tgrep -qx 'ENABLED=yes' /etc/ufw/ufw.conf || pv_add 'not enabled'\n"
	             "\tiptables -w -n -L ufw-user-input >/dev/null 2>&1 || pv_add 'not active'\n"
	             "\tpv_dp() { sed -n \"s/^DEFAULT_$1_POLICY=\\\"\\\\(.*\\\\)\\\"/\\\\1/p\" "
	             "/etc/default/ufw; }\n");
	buf_addf(sh, "\t[ \"$(pv_dp INPUT)\" = %s ] || pv_add 'default incoming is not %s'\n",
	         sp->in_policy, sp->in_word);
	buf_addf(sh, "\t[ \"$(pv_dp OUTPUT)\" = %s ] || pv_add 'default outgoing is not %s'\n",
	         sp->out_policy, sp->out_word);
	buf_adds(sh, "\tpv_v6=; grep -qx 'IPV6=yes' /etc/default/ufw && pv_v6=1\n"
	             "\tpv_have=$( { sed -n 's/^### tuple ### /4 /p' /etc/ufw/user.rules\n"
	             "\t\t[ -z \"$pv_v6\" ] || sed -n 's/^### tuple ### /6 /p' "
	             "/etc/ufw/user6.rules; } 2>/dev/null | sort)\n"
	             "\tpv_want=$( if [ -n \"$pv_alt\" ]; then {");
	want_printf(sh, &alt);
	buf_adds(sh, " }; else {");
	want_printf(sh, &normal);
	buf_adds(sh, " }; fi | sort)\n"
	             "\tif [ \"$pv_have\" != \"$pv_want\" ]; then pv_add 'rules differ'; "
	             "pv_send=1; fi\n");
	for (int fam = 4; fam <= 6; fam += 2) {
		buf_reset(&blk);
		buf_reset(&blk_alt);
		want_block(&blk, sp, &normal, fam);
		want_block(&blk_alt, sp, &alt, fam);
		/* Docker publishes IPv6 ports too once IPv6 is on: so does ufw's block */
		buf_addf(sh, "\tif [ %d = 4 ] || [ -n \"$pv_v6\" ]; then\n", fam);
		buf_addf(sh,
		         "\tpv_blk=$(sed -n '/^" DOCKER_BEGIN "$/,/^" DOCKER_END
		         "$/p' %s 2>/dev/null)\n"
		         "\tif [ -n \"$pv_alt\" ]; then pv_wblk=$(printf '%%s'",
		         after_file(fam));
		sh_word(sh, blk_alt.s);
		buf_adds(sh, "); else pv_wblk=$(printf '%s'");
		sh_word(sh, blk.s);
		buf_addf(sh,
		         "); fi\n"
		         "\tif [ \"$pv_blk\" != \"$pv_wblk\" ]; then pv_add 'docker rules in "
		         "%s differ'; pv_send=1; fi\n\tfi\n",
		         fam == 4 ? "after.rules" : "after6.rules");
	}
	buf_adds(sh, "fi\n");
	buf_addf(sh, "pv_end %d\n", idx);
	buf_addf(sh,
	         "if [ -n \"$pv_send\" ]; then echo '@@B %d'; printf '%%s\\n%%s\\n' "
	         "\"${pv_alt:+#alt}\" \"$pv_have\" | base64; echo '@@E %d'; fi\n",
	         idx, idx);
	buf_release(&blk);
	buf_release(&blk_alt);
}

/* Did the probe find the SSH-only-on-interface proof in place? */
static bool probe_alt(const struct resource *r)
{
	return r->has_current && !strncmp(r->current.s, "#alt\n", 5);
}

/* Lines of the tuples the host has (from the probe). */
static char **have_lines(const struct resource *r, size_t *n)
{
	char **out = NULL;
	size_t alloc = 0;
	const char *p = r->has_current ? r->current.s : "";

	*n = 0;
	while (*p) {
		size_t l = strcspn(p, "\n");
		if (l && *p != '#') {
			PV_GROW(out, *n + 1, alloc);
			out[(*n)++] = xstrndup(p, l);
		}
		p += l + (p[l] ? 1 : 0);
	}
	return out;
}

static bool wanted_tuple(const struct rule_set *rs, const char *line)
{
	struct buf t = BUF_INIT;
	bool found = false;

	for (size_t i = 0; i < rs->n && !found; i++) {
		for (int fam = 4; fam <= 6 && !found; fam += 2) {
			if (!rule_in_fam(&rs->rules[i], fam))
				continue;
			buf_reset(&t);
			rule_tuple(&t, &rs->rules[i], fam);
			found = !strcmp(t.s, line);
		}
	}
	buf_release(&t);
	return found;
}

static bool rule_present(const struct ufw_rule *u, char **have, size_t n_have)
{
	struct buf t = BUF_INIT;
	bool all = true;

	for (int fam = 4; fam <= 6 && all; fam += 2) {
		if (!rule_in_fam(u, fam))
			continue;
		bool found = false;
		buf_reset(&t);
		rule_tuple(&t, u, fam);
		for (size_t i = 0; i < n_have && !found; i++)
			found = !strcmp(have[i], t.s);
		/* with IPv6 off the host has no v6 tuples: the v4 one decides */
		all = found || (fam == 6 && u->fam == 0);
	}
	buf_release(&t);
	return all;
}

/*
 * The command that deletes the rule of a tuple the host has:
 * "F ACTION PROTO DPORT DST SPORT SRC DIR".  Values come from the host and
 * are quoted like any other.
 */
static void delete_command(struct buf *sh, const char *line)
{
	char *copy = xstrdup(line), *save = NULL, *f[9];
	int nf = 0;

	for (char *t = strtok_r(copy, " ", &save); t && nf < 9; t = strtok_r(NULL, " ", &save))
		f[nf++] = t;
	if (nf != 8) {
		buf_adds(sh, "echo");
		sh_word(sh, "cannot remove this ufw rule automatically, remove it by hand:");
		sh_word(sh, line);
		buf_adds(sh, "\nexit 1\n");
		free(copy);
		return;
	}
	const char *any = f[0][0] == '4' ? "0.0.0.0/0" : "::/0";
	char *dir = f[7], *iface = strchr(dir, '_');
	if (iface)
		*iface++ = '\0';
	buf_adds(sh, "ufw delete");
	sh_word(sh, f[1]);
	sh_word(sh, dir);
	if (iface) {
		buf_adds(sh, " on");
		sh_word(sh, iface);
	}
	if (strcmp(f[2], "any")) {
		buf_adds(sh, " proto");
		sh_word(sh, f[2]);
	}
	buf_adds(sh, " from");
	sh_word(sh, strcmp(f[6], any) ? f[6] : "any");
	if (strcmp(f[5], "any")) {
		buf_adds(sh, " port");
		sh_word(sh, f[5]);
	}
	buf_adds(sh, " to");
	sh_word(sh, strcmp(f[4], any) ? f[4] : "any");
	if (strcmp(f[3], "any")) {
		buf_adds(sh, " port");
		sh_word(sh, f[3]);
	}
	buf_adds(sh, " >/dev/null\n");
	free(copy);
}

static void ufw_apply(const struct resource *r, int idx, struct buf *sh)
{
	const struct ufw_spec *sp = r->spec;
	struct rule_set rs = set_of(sp, probe_alt(r));
	size_t n_have;
	char **have = have_lines(r, &n_have);
	struct buf done = BUF_INIT, blk = BUF_INIT;

	buf_adds(sh,
	         "command -v ufw >/dev/null 2>&1 || { echo 'ufw is not installed'; exit 1; }\n");
	/* the docker blocks of after.rules and after6.rules: the rest is left as it is */
	buf_adds(sh, "pv_reload=\npv_v6=; grep -qx 'IPV6=yes' /etc/default/ufw && pv_v6=1\n");
	for (int fam = 4; fam <= 6; fam += 2) {
		buf_reset(&blk);
		want_block(&blk, sp, &rs, fam);
		buf_addf(sh,
		         "pv_ar=%s\nif { [ %d = 4 ] || [ -n \"$pv_v6\" ]; } && "
		         "{ [ -e \"$pv_ar\" ] || [ -n ",
		         after_file(fam), fam);
		sh_word(sh, blk.s);
		buf_adds(sh, " ]; }; then\n"
		             "\t{ sed '/^" DOCKER_BEGIN "$/,/^" DOCKER_END
		             "$/d' \"$pv_ar\" 2>/dev/null; printf '%s'");
		sh_word(sh, blk.s);
		buf_adds(sh, "; } >\"$pv_ar.provision-new\"\n"
		             "\tif cmp -s \"$pv_ar.provision-new\" \"$pv_ar\"; then rm -f "
		             "\"$pv_ar.provision-new\"\n"
		             "\telse chmod 640 \"$pv_ar.provision-new\"; mv -f "
		             "\"$pv_ar.provision-new\" \"$pv_ar\"; pv_reload=1; fi\nfi\n");
	}
	/* the SSH rule first: whatever happens next, the operator stays in */
	if (!rule_present(&rs.rules[rs.ssh], have, n_have))
		rule_command(sh, "allow", &rs.rules[rs.ssh]);
	for (size_t i = 0; i < rs.n; i++)
		if (i != rs.ssh && !rule_present(&rs.rules[i], have, n_have))
			rule_command(sh, "allow", &rs.rules[i]);
	buf_addf(sh, "ufw default %s incoming >/dev/null\nufw default %s outgoing >/dev/null\n",
	         sp->in_word, sp->out_word);
	for (size_t i = 0; i < n_have; i++) {
		struct buf cmd = BUF_INIT;
		if (wanted_tuple(&rs, have[i]))
			continue;
		delete_command(&cmd, have[i]);
		/* a v4/v6 pair is one rule: delete it once */
		if (!strstr(done.s, cmd.s)) {
			buf_adds(sh, cmd.s);
			buf_adds(&done, cmd.s);
		}
		buf_release(&cmd);
	}
	buf_adds(sh, "if ! grep -qx 'ENABLED=yes' /etc/ufw/ufw.conf || "
	             "! iptables -w -n -L ufw-user-input >/dev/null 2>&1; then\n"
	             "\tufw --force enable >/dev/null\n"
	             "elif [ -n \"$pv_reload\" ]; then\n\tufw reload >/dev/null\nfi\n");
	buf_release(&done);
	buf_release(&blk);
	strv_free(have, n_have);
}

static void ufw_explain(const struct resource *r, struct buf *out)
{
	const struct ufw_spec *sp = r->spec;
	struct rule_set rs = set_of(sp, probe_alt(r));
	size_t n_have;
	char **have = have_lines(r, &n_have);

	if (!r->has_current) {
		strv_free(have, n_have);
		return;
	}
	for (size_t i = 0; i < rs.n; i++)
		if (!rule_present(&rs.rules[i], have, n_have))
			buf_addf(out, "+ allow %s\n", rs.rules[i].text);
	for (size_t i = 0; i < n_have; i++)
		if (!wanted_tuple(&rs, have[i]))
			buf_addf(out, "- ufw rule %s\n", have[i]);
	if (r->reason && strstr(r->reason, "docker rules"))
		buf_addf(out, "~ %s DOCKER-USER rules in /etc/ufw/after.rules (after6.rules)\n",
		         sp->docker ? "write the" : "remove the");
	strv_free(have, n_have);
}

const struct res_type res_type_ufw = {
    .name = "ufw",
    .parse = ufw_parse,
    .probe = ufw_probe,
    .apply = ufw_apply,
    .explain = ufw_explain,
    .free_spec = ufw_free,
};
