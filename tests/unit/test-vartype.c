/*
 * test-vartype.c - variable types: every type with valid and invalid
 * values and the edges between them, declarations, messages (position,
 * expected type, nearest valid value, secrets never shown).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "provision/vartype.h"

static bool ok(const char *type, const char *text)
{
	return vartype_text_ok(type, text);
}

static void test_string(void)
{
	CHECK(ok("string", "hello world"));
	CHECK(ok("string", ""));
	CHECK(ok("string", "x'; rm -rf / #")); /* data: quoting is the renderer's job */
	CHECK(!ok("string", "a\nb"));
	CHECK(!ok("string", "a\rb"));
	CHECK(!ok("string", "tab\there"));
	CHECK(!ok("string", "\x7f"));
	CHECK(!ok("string", "\x1b[31m"));
}

static void test_numbers(void)
{
	CHECK(ok("int", "0"));
	CHECK(ok("int", "-5"));
	CHECK(ok("int", "123456"));
	CHECK(!ok("int", "lots"));
	CHECK(!ok("int", "1.5"));
	CHECK(!ok("int", ""));
	CHECK(!ok("int", "-"));
	CHECK(!ok("int", "+3"));
	CHECK(!ok("int", "3 "));
	CHECK(!ok("int", "99999999999999999999999"));
	CHECK(ok("bool", "true"));
	CHECK(ok("bool", "no"));
	CHECK(ok("bool", "0"));
	CHECK(!ok("bool", "maybe"));
	CHECK(!ok("bool", "TRUE\n"));
}

static void test_ports(void)
{
	CHECK(ok("port", "1"));
	CHECK(ok("port", "65535"));
	CHECK(!ok("port", "0"));
	CHECK(!ok("port", "65536"));
	CHECK(!ok("port", "-1"));
	CHECK(!ok("port", "80/tcp"));
	CHECK(!ok("port", "0080x"));
	CHECK(ok("port_proto", "8080/tcp"));
	CHECK(ok("port_proto", "53/udp"));
	CHECK(ok("port_proto", "8443"));
	CHECK(ok("port_proto", "8000:8100/tcp"));
	CHECK(!ok("port_proto", "8100:8000/tcp"));
	CHECK(!ok("port_proto", "8080/sctp"));
	CHECK(!ok("port_proto", "\n\v8080/tcp"));
	CHECK(!ok("port_proto", "0/tcp"));
	CHECK(!ok("port_proto", "65536/tcp"));
}

static void test_rules(void)
{
	CHECK(ok("rule", "22/tcp"));
	CHECK(ok("rule", "5432/tcp from 10.0.0.0/24"));
	CHECK(ok("rule", "5432/tcp from 10.0.0.5"));
	CHECK(ok("rule", "on tailscale0"));
	CHECK(ok("rule", "on tailscale0 22/tcp"));
	CHECK(ok("rule", "from 192.0.2.0/24"));
	CHECK(ok("rule", "vrrp from 192.0.2.5"));
	CHECK(!ok("rule", "vrrp/tcp from 192.0.2.5"));
	CHECK(!ok("rule", ""));
	CHECK(!ok("rule", "\n\v8080/tcp"));
	CHECK(!ok("rule", "80/tcp from 10.0.0.0/99"));
	CHECK(!ok("rule", "80/tcp from"));
	CHECK(!ok("rule", "80/tcp to 10.0.0.0/8"));
	CHECK(!ok("rule", "80/tcp  from 10.0.0.0/8"));
	CHECK(!ok("rule", "on -x"));
	CHECK(!ok("rule", "80/tcp; reboot"));
}

static void test_addresses(void)
{
	CHECK(ok("ipv4", "10.0.0.2"));
	CHECK(!ok("ipv4", "10.0.0.256"));
	CHECK(!ok("ipv4", "fd00::1"));
	CHECK(ok("ipv6", "fd00::1"));
	CHECK(!ok("ipv6", "10.0.0.1"));
	CHECK(ok("ip", "10.0.0.2"));
	CHECK(ok("ip", "::1"));
	CHECK(!ok("ip", "10.0.0.2/0 trust #"));
	CHECK(!ok("ip", "10.0.0.11$(id>/tmp/x)"));
	CHECK(!ok("ip", "10.0.0.2/32"));
	CHECK(!ok("ip", ""));

	CHECK(ok("cidr", "10.0.0.0/24"));
	CHECK(ok("cidr", "0.0.0.0/0"));
	CHECK(ok("cidr", "10.0.0.2/32"));
	CHECK(ok("cidr", "fd00::/8"));
	CHECK(!ok("cidr", "10.0.0.2/0")); /* host bits set: not the network meant */
	CHECK(!ok("cidr", "172.17.0.0/99"));
	CHECK(!ok("cidr", "fd00::/129"));
	CHECK(!ok("cidr", "10.0.0.0"));
	CHECK(!ok("cidr", "10.0.0.0/"));
	CHECK(!ok("cidr", "10.0.0.0/-1"));
	CHECK(!ok("cidr", "0.0.0.0/0 trust\nhost all all ::/0"));

	CHECK(ok("host", "db.example.com"));
	CHECK(ok("host", "localhost"));
	CHECK(ok("host", "192.0.2.1"));
	CHECK(ok("host", "fd00::1"));
	CHECK(!ok("host", "-oProxyCommand=x"));
	CHECK(!ok("host", "a..b"));
	CHECK(!ok("host", "a-.b"));
	CHECK(!ok("host", "exa mple.com"));
	CHECK(!ok("host", "shop.example.com {"));
	CHECK(ok("host_port", "127.0.0.1:3000"));
	CHECK(ok("host_port", "[fd00::1]:443"));
	CHECK(ok("host_port", "app:8080"));
	CHECK(!ok("host_port", "127.0.0.1"));
	CHECK(!ok("host_port", "127.0.0.1:0"));
	CHECK(!ok("host_port", "127.0.0.1:3000 {"));
	CHECK(!ok("host_port", "fd00::1:443"));
}

static void test_texts(void)
{
	CHECK(ok("email", "ops@example.com"));
	CHECK(ok("email", "a.b+c@mail.example.org"));
	CHECK(!ok("email", "a@b\n}\n{\nadmin 0.0.0.0:2019"));
	CHECK(!ok("email", "no-at-sign"));
	CHECK(!ok("email", "@example.com"));
	CHECK(!ok("email", "a b@example.com"));
	CHECK(!ok("email", "a{b}@example.com"));

	CHECK(ok("url", "https://example.com/x?y=1"));
	CHECK(ok("url", "https://127.0.0.1:8443/"));
	CHECK(!ok("url", "http://example.com/")); /* https only unless declared otherwise */
	CHECK(!ok("url", "https://exa mple.com/"));
	CHECK(!ok("url", "https://"));
	CHECK(!ok("url", "file:///etc/passwd"));

	CHECK(ok("path", "/"));
	CHECK(ok("path", "/srv/rustfs"));
	CHECK(!ok("path", "srv/rustfs"));
	CHECK(!ok("path", "/\nstats admin if TRUE"));
	CHECK(!ok("path", "/a b"));
	CHECK(!ok("path", "/a/../etc"));
	CHECK(!ok("path", "/a/.."));
	CHECK(!ok("path", "/$(id)"));

	CHECK(ok("duration", "10m"));
	CHECK(ok("duration", "1h"));
	CHECK(ok("duration", "1h30m"));
	CHECK(ok("duration", "3600"));
	CHECK(ok("duration", "500ms"));
	CHECK(ok("duration", "2weeks"));
	CHECK(!ok("duration", "forever"));
	CHECK(!ok("duration", "1 h"));
	CHECK(!ok("duration", "h"));
	CHECK(!ok("duration", "-1"));
	CHECK(!ok("duration", "10x"));

	CHECK(ok("size", "500M"));
	CHECK(ok("size", "10m"));
	CHECK(ok("size", "1G"));
	CHECK(ok("size", "1024"));
	CHECK(ok("size", "64KB"));
	CHECK(!ok("size", "500 M"));
	CHECK(!ok("size", "M"));
	CHECK(!ok("size", "1P"));
	CHECK(!ok("size", "-5M"));
}

static void test_names(void)
{
	CHECK(ok("image", "traefik:v3.1"));
	CHECK(ok("image", "rustfs/rustfs:latest"));
	CHECK(ok("image", "ghcr.io/org/app:1.2.3"));
	CHECK(ok("image", "registry.local:5000/app"));
	CHECK(ok("image", "postgres@sha256:"
	                  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
	CHECK(!ok("image", "traefik:v3 --api.insecure"));
	CHECK(!ok("image", "rustfs/rustfs latest"));
	CHECK(!ok("image", "Traefik"));
	CHECK(!ok("image", "-v/:/host"));
	CHECK(!ok("image", "app:"));
	CHECK(!ok("image", "a//b"));

	CHECK(ok("user", "deploy"));
	CHECK(ok("user", "_svc-1"));
	CHECK(!ok("user", "-oProxyCommand=sh"));
	CHECK(!ok("user", "Root"));
	CHECK(!ok("user", "a234567890123456789012345678901234"));
	CHECK(ok("name", "shop_db"));
	CHECK(ok("name", "us-east-1"));
	CHECK(!ok("name", "-x"));
	CHECK(!ok("name", "a b"));
	CHECK(!ok("name", "a;b"));
	CHECK(ok("secret", "db_password"));
	CHECK(!ok("secret", "db password"));
	CHECK(!ok("nosuchtype", "x"));
}

/* ---- declarations and messages ---- */

static struct node *yaml(const char *text)
{
	struct node *n = NULL;
	struct pv_error err = {{0}};

	if (node_load_string(&n, "t.yml", text, strlen(text), &err) < 0) {
		printf("yaml: %s\n", err.msg);
		exit(2);
	}
	return n;
}

/* Check the value of "v" in doc against the declaration under "decl"; the one message. */
static char *check1(const char *decl_yaml, const char *value_yaml, const struct scope *secrets)
{
	struct node *decl = yaml(decl_yaml), *val = yaml(value_yaml);
	struct var_decl vd;
	struct diags d;
	char *msg = NULL;

	diags_init(&d);
	if (var_decl_parse(&vd, "x", &decl->pos, decl, "variable 'x'", &d) < 0) {
		msg = xasprintf("DECL: %s", d.n ? d.msgs[0] : "?");
	} else {
		vartype_check(vd.type, node_get(val, "v"), "x", secrets, &d);
		msg = d.n ? xstrdup(d.msgs[0]) : NULL;
		if (d.n > 1)
			printf("  more: %s\n", d.msgs[1]);
		var_decl_release(&vd);
	}
	diags_release(&d);
	node_free(decl);
	node_free(val);
	return msg;
}

/* 'layout: true': read, scalar types only; values compared by meaning for booleans */
static void test_per_layout(void)
{
	struct node *decl = yaml("{ type: bool, default: false, layout: true }");
	struct node *vals = yaml("a: yes\nb: true\nc: false\nd: 'on'\ne: x\nf: y\n");
	struct var_decl vd;
	struct diags d;
	char *m;

	diags_init(&d);
	CHECK(var_decl_parse(&vd, "x", &decl->pos, decl, "variable 'x'", &d) == 0 && vd.per_layout);
	CHECK(vartype_same(vd.type, node_get(vals, "a"), node_get(vals, "b")));
	CHECK(vartype_same(vd.type, node_get(vals, "d"), node_get(vals, "b")));
	CHECK(!vartype_same(vd.type, node_get(vals, "a"), node_get(vals, "c")));
	CHECK(!vartype_same(vd.type, node_get(vals, "c"), NULL));
	CHECK(vartype_same(vd.type, NULL, NULL));
	var_decl_release(&vd);
	node_free(decl);
	decl = yaml("{ type: string, default: x, layout: true }");
	CHECK(var_decl_parse(&vd, "x", &decl->pos, decl, "variable 'x'", &d) == 0 && vd.per_layout);
	CHECK(!vartype_same(vd.type, node_get(vals, "e"), node_get(vals, "f")));
	CHECK(vartype_same(vd.type, node_get(vals, "e"), node_get(vals, "e")));
	var_decl_release(&vd);
	node_free(decl);
	decl = yaml("{ type: string, default: x }");
	CHECK(var_decl_parse(&vd, "x", &decl->pos, decl, "variable 'x'", &d) == 0 &&
	      !vd.per_layout);
	var_decl_release(&vd);
	node_free(decl);
	CHECK(d.n == 0);
	diags_release(&d);
	m = check1("{ type: list, of: string, default: [], layout: true }", "v: []\n", NULL);
	CHECK_STR(m,
	          "DECL: t.yml:1:48: variable 'x': 'layout: true' needs a scalar type (one value "
	          "to compare)");
	free(m);
	m = check1("{ type: bool, default: false, layout: sometimes }", "v: true\n", NULL);
	CHECK_HAS(m, "'layout' of a variable");
	free(m);
	/* not a key of a type inside a declaration */
	m = check1("{ type: list, of: { type: string, layout: true }, default: [] }", "v: []\n",
	           NULL);
	CHECK_HAS(m, "layout");
	free(m);
	node_free(vals);
}

static void test_messages(void)
{
	char *m;

	m = check1("{ type: int, min: 1, max: 10, default: 3 }", "v: lots\n", NULL);
	CHECK_STR(m, "t.yml:1:4: variable 'x' must be an integer from 1 to 10, not 'lots'");
	free(m);
	m = check1("{ type: int, min: 1, max: 10, default: 3 }", "v: 12\n", NULL);
	CHECK_STR(m, "t.yml:1:4: variable 'x' must be an integer from 1 to 10, not '12' "
	             "(nearest valid value: '10')");
	free(m);
	m = check1("{ type: int, min: 1, max: 10, default: 3 }", "v: 7\n", NULL);
	CHECK(m == NULL);
	free(m);
	m = check1("{ type: enum, values: [prohibit-password, \"no\", \"yes\"], default: \"no\" }",
	           "v: \"prohibit-password\\nPasswordAuthentication yes\"\n", NULL);
	CHECK_STR(m, "t.yml:1:4: variable 'x' must be one of 'prohibit-password', 'no', 'yes', "
	             "not 'prohibit-password\\nPasswordAuthentication yes' (nearest valid value: "
	             "'prohibit-password')");
	free(m);
	m = check1("{ type: enum, values: [caddy, traefik], default: caddy }", "v: cady\n", NULL);
	CHECK_HAS(m, "(nearest valid value: 'caddy')");
	free(m);
	m = check1("{ type: port, default: 80 }", "v: 0\n", NULL);
	CHECK_HAS(m, "(nearest valid value: '1')");
	free(m);
	m = check1("{ type: port, default: 80 }", "v: 65536\n", NULL);
	CHECK_HAS(m, "(nearest valid value: '65535')");
	free(m);
	m = check1("{ type: cidr }", "v: 10.0.0.2/24\n", NULL);
	CHECK_HAS(m, "(nearest valid value: '10.0.0.0/24')");
	free(m);
	m = check1("{ type: cidr }", "v: 172.17.0.0/99\n", NULL);
	CHECK_HAS(m, "not '172.17.0.0/99' (nearest valid value: '172.17.0.0/32')");
	free(m);
	m = check1("{ type: ip }", "v: \"10.0.0.2/0 trust #\"\n", NULL);
	CHECK_HAS(m, "not '10.0.0.2/0 trust #' (nearest valid value: '10.0.0.2')");
	free(m);
	m = check1("{ type: ip }", "v: \"10.0.0.2 trust\"\n", NULL);
	CHECK_HAS(m, "(nearest valid value: '10.0.0.2')");
	free(m);
	/* a list: each item at its own position */
	m = check1("{ type: list, of: cidr, default: [] }",
	           "v:\n  - 10.0.0.0/8\n  - \"0.0.0.0/0 trust\\nhost all all ::/0\"\n", NULL);
	CHECK_HAS(m, "t.yml:3:5: variable 'x[1]' must be a network like '10.0.0.0/24'");
	CHECK_HAS(m, "not '0.0.0.0/0 trust\\nhost all all ::/0'");
	free(m);
	/* a list's length */
	m = check1("{ type: list, of: int, max: 2, default: [] }", "v: [1, 2, 3]\n", NULL);
	CHECK_STR(m, "t.yml:1:4: variable 'x' holds 3 items; at most 2");
	free(m);
	m = check1("{ type: list, of: int, max: 2, default: [] }", "v: [1, 2]\n", NULL);
	CHECK(m == NULL);
	free(m);
	m = check1("{ type: list, of: rule, default: [] }", "v: 22/tcp\n", NULL);
	CHECK_STR(m, "t.yml:1:4: variable 'x' must be a list of firewall rule '[on IFACE] "
	             "[PORT[:PORT][/PROTO]] [from CIDR]', not '22/tcp'");
	free(m);
	m = check1("{ type: list, of: rule, default: [] }", "v: [\"80/tcp from 10.0.0.0/99\"]\n",
	           NULL);
	CHECK_HAS(m, "(nearest valid value: '80/tcp from 10.0.0.0/32')");
	free(m);
	/* a map: keys declared, unknown ones with the nearest, required ones */
	m = check1("{ type: map, keys: { host: { type: host, required: true }, upstream: "
	           "{ type: host_port } } }",
	           "v: { host: a.example.com, upstrem: \"x:1\" }\n", NULL);
	CHECK_STR(m, "t.yml:1:27: unknown key 'upstrem' in variable 'x' (did you mean "
	             "'upstream'?)");
	free(m);
	m = check1("{ type: map, keys: { host: { type: host, required: true } } }", "v: {}\n",
	           NULL);
	CHECK_STR(m, "t.yml:1:4: variable 'x' needs key 'host'");
	free(m);
	/* the empty string only when the default is empty */
	m = check1("{ type: email, default: \"\" }", "v: \"\"\n", NULL);
	CHECK(m == NULL);
	free(m);
	m = check1("{ type: email, default: ops@example.com }", "v: \"\"\n", NULL);
	CHECK_HAS(m, "must be an e-mail address");
	free(m);
	/* extra words */
	m = check1("{ type: int, min: 64, values: [auto], default: auto }", "v: auto\n", NULL);
	CHECK(m == NULL);
	free(m);
	m = check1("{ type: int, min: 64, values: [auto], default: auto }", "v: autoo\n", NULL);
	CHECK_STR(m, "t.yml:1:4: variable 'x' must be an integer of at least 64, or 'auto', not "
	             "'autoo' (nearest valid value: 'auto')");
	free(m);
	/* control characters in values are shown escaped */
	m = check1("{ type: port_proto }", "v: \"\\n\\v8080/tcp\"\n", NULL);
	CHECK_HAS(m, "not '\\n\\x0b8080/tcp'");
	free(m);
}

/*
 * URLs and the options a type reads: the declaration, the value of "v",
 * and a part of the one message (NULL: none).
 */
static void test_url_and_options(void)
{
	static const struct {
		const char *decl, *value, *want;
	} cases[] = {
	    /* a url with other schemes declared */
	    {"{ type: url, schemes: [http, https] }", "v: http://127.0.0.1:8080/v1\n", NULL},
	    /* a url without a query (the tool adds its own) */
	    {"{ type: url, query: false }", "v: https://ntfy.example/ops\n", NULL},
	    {"{ type: url, query: false }", "v: \"https://ntfy.example/ops?x=1\"\n",
	     "t.yml:1:4: variable 'x' must be a URL starting with 'https://', no user name or "
	     "password, no query or fragment, not 'https://ntfy.example/ops?x=1'"},
	    {"{ type: url, query: false }", "v: \"https://ntfy.example/ops#a\"\n",
	     "no query or fragment"},
	    {"{ type: url }", "v: \"https://ntfy.example/ops?x=1\"\n", NULL},
	    {"{ type: url, query: maybe }", "v: https://a.example/\n", "DECL: "},
	    /* an option the type does not read is refused, at its value */
	    {"{ type: string, query: false }", "v: a\n",
	     "DECL: t.yml:1:24: 'query' does not apply to type string in variable 'x' (only to "
	     "url)"},
	    {"{ type: list, of: { type: int }, min: 1 }", "v: [1]\n",
	     "'min' does not apply to type list in variable 'x' (only to int)"},
	    {"{ type: list, of: { type: port, multiline: true } }", "v: [1]\n",
	     "'multiline' does not apply to type port in the items of variable 'x' (only to "
	     "string and secret)"},
	    {"{ type: host, schemes: [http] }", "v: a\n", "'schemes' does not apply to type host"},
	    {"{ type: list, of: { type: int, min: 1 }, max: 2 }", "v: [1]\n", NULL},
	};

	for (size_t i = 0; i < PV_ARRAY_SIZE(cases); i++) {
		char *m = check1(cases[i].decl, cases[i].value, NULL);
		if (cases[i].want)
			CHECK_HAS(m, cases[i].want);
		else
			CHECK(m == NULL);
		if (cases[i].want ? !m || !strstr(m, cases[i].want) : m != NULL)
			printf("  case %zu: %s\n", i, cases[i].decl);
		free(m);
	}
}

static void test_declarations(void)
{
	char *m;

	m = check1("{ type: strng }", "v: 1\n", NULL);
	CHECK_STR(m, "DECL: t.yml:1:9: unknown type 'strng' in variable 'x' (did you mean "
	             "'string'?)");
	free(m);
	m = check1("{ type: enum }", "v: 1\n", NULL);
	CHECK_STR(m, "DECL: t.yml:1:1: type enum in variable 'x' needs 'values'");
	free(m);
	m = check1("{ type: list }", "v: 1\n", NULL);
	CHECK_HAS(m, "needs 'of'");
	free(m);
	m = check1("{ type: int, max: 5, default: 9 }", "v: 1\n", NULL);
	CHECK_STR(m, "DECL: t.yml:1:31: variable 'x' must be an integer of at most 5, not '9' "
	             "(nearest valid value: '5')");
	free(m);
	m = check1("{ type: port, defualt: 80 }", "v: 1\n", NULL);
	CHECK_HAS(m, "unknown key 'defualt' in variable 'x' (did you mean 'default'?)");
	free(m);
	m = check1("{ nested: { a: 1 } }", "v: 1\n", NULL);
	CHECK_HAS(m, "must be declared as { type: ..., default: ..., doc: ... }");
	free(m);
	/* the short form of a project role: a single-line string */
	m = check1("plain default", "v: \"a\\nb\"\n", NULL);
	CHECK_HAS(m, "must be a single-line string without control characters");
	free(m);
	m = check1("[a, b]", "v: [c, d]\n", NULL);
	CHECK(m == NULL);
	free(m);
}

static void test_secrets(void)
{
	struct scope sec;
	struct pos at = {pv_intern("inv.yml"), 4, 3};
	struct node *pw = node_new_scalar("hunter2\nextra directive", &at);
	struct node *ok_pw = node_new_scalar("fine", &at);
	char *m;

	pw->secret = ok_pw->secret = true;
	scope_init(&sec);
	scope_set_owned(&sec, "db_pw", pw);
	scope_set_owned(&sec, "good_pw", ok_pw);
	m = check1("{ type: secret, default: \"\" }", "v: db_pw\n", &sec);
	CHECK_STR(m, "inv.yml:4:3: secret 'db_pw' (variable 'x') must be a single line without "
	             "control characters; its value is not shown");
	CHECK(m && !strstr(m, "hunter2"));
	free(m);
	m = check1("{ type: secret, multiline: true, default: \"\" }", "v: db_pw\n", &sec);
	CHECK(m == NULL);
	free(m);
	m = check1("{ type: secret, default: \"\" }", "v: good_pw\n", &sec);
	CHECK(m == NULL);
	free(m);
	m = check1("{ type: secret, default: \"\" }", "v: db_pww\n", &sec);
	CHECK_STR(m, "t.yml:1:4: variable 'x' names secret 'db_pww', which the inventory does not "
	             "declare (did you mean 'db_pw'?)");
	free(m);
	/* a secret's value used as a variable directly: checked, never shown */
	{
		struct node *decl = yaml("{ type: string }");
		struct var_decl vd;
		struct diags d;
		diags_init(&d);
		CHECK(var_decl_parse(&vd, "key", &decl->pos, decl, "variable 'key'", &d) == 0);
		CHECK(vartype_check(vd.type, pw, "key", &sec, &d) == 1);
		CHECK_STR(
		    d.n ? d.msgs[0] : NULL,
		    "inv.yml:4:3: variable 'key' must be a single-line string without control "
		    "characters; its value comes from a secret and is not shown");
		for (size_t i = 0; i < d.n; i++)
			CHECK(!strstr(d.msgs[i], "hunter2"));
		var_decl_release(&vd);
		diags_release(&d);
		node_free(decl);
	}
	scope_release(&sec);
}

static void test_describe(void)
{
	struct node *decl = yaml("{ type: list, max: 4, of: { type: int, min: 1, max: 3 } }");
	struct vartype *t = NULL;
	struct diags d;
	struct buf b = BUF_INIT;

	diags_init(&d);
	CHECK(vartype_parse(&t, decl, "x", &d) == 0);
	if (t) {
		vartype_describe(t, &b);
		CHECK_STR(b.s, "a list of integer from 1 to 3 (at most 4 items)");
	}
	vartype_free(t);
	buf_release(&b);
	diags_release(&d);
	node_free(decl);
}

int main(void)
{
	RUN(test_string);
	RUN(test_numbers);
	RUN(test_ports);
	RUN(test_rules);
	RUN(test_addresses);
	RUN(test_texts);
	RUN(test_names);
	RUN(test_messages);
	RUN(test_url_and_options);
	RUN(test_declarations);
	RUN(test_per_layout);
	RUN(test_secrets);
	RUN(test_describe);
	return check_done("vartype");
}
