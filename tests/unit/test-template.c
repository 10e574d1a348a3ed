/*
 * test-template.c - the strict template language: substitution, filters,
 * conditions, loops, whitespace rules, shell mode, secrets, whole-node
 * values, and errors with their exact file:line:col.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "runsh.h"
#include "provision/buf.h"
#include "provision/common.h"
#include "provision/node.h"
#include "provision/scope.h"
#include "provision/template.h"

#define EVIL "x'; rm -rf / #"
#define EVIL_QUOTED "'x'\\''; rm -rf / #'"

static const char vars_yaml[] = "name: world\n"
                                "evil: \"x'; rm -rf / #\"\n"
                                "empty: \"\"\n"
                                "db: {host: localhost, port: 5432, opts: {ssl: \"on\"}}\n"
                                "pkgs: [nginx, curl]\n"
                                "none: []\n"
                                "nomap: {}\n"
                                "users:\n"
                                "  - {name: alice, shell: /bin/bash}\n"
                                "  - {name: bob, shell: /bin/sh}\n"
                                "matrix: [[a, b], [c]]\n"
                                "env: prod\n"
                                "t: \"yes\"\n"
                                "f: \"no\"\n"
                                "zero: \"0\"\n"
                                "falsy: \"FALSE\"\n"
                                "x: outer\n"
                                "pwname: pw\n"
                                "dbusers: [{name: shop, password: pw}]\n"
                                "site: {host: shop.example.com, up: \"127.0.0.1:3000\", "
                                "bad: \"a.com {\\n}\"}\n";

static struct node *vars_root;
static struct scope vars;

static void setup(void)
{
	struct pv_error err;
	struct node *pw, *keys, *mixed;

	if (node_load_string(&vars_root, "vars.yml", vars_yaml, strlen(vars_yaml), &err) < 0) {
		printf("cannot load the test variables: %s\n", err.msg);
		exit(2);
	}
	scope_init(&vars);
	scope_set_map(&vars, vars_root);

	pw = node_new_scalar("hunter2", NULL);
	pw->secret = true;
	scope_set_owned(&vars, "pw", pw);

	keys = node_new_seq(NULL);
	node_seq_append(keys, node_new_scalar("ssh-ed25519 AAAA", NULL));
	keys->items[0]->secret = true;
	scope_set_owned(&vars, "keys", keys);

	mixed = node_new_seq(NULL);
	node_seq_append(mixed, node_new_scalar("public", NULL));
	node_seq_append(mixed, node_new_scalar("private", NULL));
	mixed->items[1]->secret = true;
	scope_set_owned(&vars, "mixed", mixed);
}

static void teardown(void)
{
	scope_release(&vars);
	node_free(vars_root);
}

/* Render with the test variables; the output, or NULL with err set. */
static char *render(const char *text, const struct pos *start, enum tpl_mode mode, bool *secret,
                    struct pv_error *err)
{
	struct buf out = BUF_INIT;

	if (tpl_render(&out, text, start, &vars, mode, secret, err) < 0) {
		CHECK(out.len == 0);
		buf_release(&out);
		return NULL;
	}
	return buf_detach(&out, NULL);
}

static void want_text_mode(const char *text, enum tpl_mode mode, const char *want)
{
	struct pv_error err = {{0}};
	bool secret = false;
	char *got = render(text, NULL, mode, &secret, &err);

	if (!got)
		printf("  error: %s\n", err.msg);
	else if (strcmp(got, want) != 0 && strchr(got, '\r'))
		printf("  got holds a carriage return at offset %td\n", strchr(got, '\r') - got);
	CHECK_STR(got, want);
	CHECK(!secret);
	free(got);
}

static void want_text(const char *text, const char *want)
{
	want_text_mode(text, TPL_TEXT, want);
}

static void want_error_at(const char *text, const struct pos *start, const char *want)
{
	struct pv_error err = {{0}};
	char *got = render(text, start, TPL_TEXT, NULL, &err);

	CHECK(got == NULL);
	if (got)
		printf("  rendered: \"%s\"\n", got);
	else
		CHECK_STR(err.msg, want);
	free(got);
}

static void want_error(const char *text, const char *want)
{
	want_error_at(text, NULL, want);
}

/* ---- substitution and filters ----------------------------------------- */

static void test_substitution(void)
{
	want_text("Hello {{ name }}!", "Hello world!");
	want_text("{{name}}", "world");
	want_text("{{   name\t}}", "world");
	want_text("no tags at all\n", "no tags at all\n");
	want_text("", "");
	want_text("{{ name }}{{ name }}", "worldworld");
	want_text("a { b } {x} %} #} }}", "a { b } {x} %} #} }}");
	want_text("[{{ empty }}]", "[]");
	want_text("{{ evil }}", EVIL); /* text mode: as is */
	/* dotted lookup: map keys and list items */
	want_text("{{ db.host }}:{{ db.port }}", "localhost:5432");
	want_text("{{ db.opts.ssl }}", "on");
	want_text("{{ pkgs.0 }} {{ pkgs.1 }}", "nginx curl");
	want_text("{{ users.1.name }}", "bob");
	want_text("{{ matrix.0.1 }}", "b");
	/* a variable the caller provides after the map was set wins */
	{
		struct scope s;
		struct buf out = BUF_INIT;
		struct pv_error err;

		scope_init(&s);
		scope_copy(&s, &vars);
		scope_set_str(&s, "name", "override");
		CHECK(tpl_render(&out, "{{ name }}", NULL, &s, TPL_TEXT, NULL, &err) == 0);
		CHECK_STR(out.s, "override");
		/* rendering appends */
		CHECK(tpl_render(&out, " {{ env }}", NULL, &s, TPL_TEXT, NULL, &err) == 0);
		CHECK_STR(out.s, "override prod");
		buf_release(&out);
		scope_release(&s);
	}
}

static void test_sh_filter(void)
{
	struct pv_error err;
	struct buf out = BUF_INIT;
	char *got, *script;

	want_text("{{ evil | sh }}", EVIL_QUOTED);
	want_text("{{ evil|sh }}", EVIL_QUOTED);
	want_text("{{ name | sh }}", "world");
	want_text("{{ empty | sh }}", "''");
	want_text("{{ db.opts.ssl | sh }}", "on");
	want_text("{{ name | sh | sh }}", "world"); /* quoted once */
	want_text("{{ evil | sh | sh }}", EVIL_QUOTED);

	/* the result is one shell word that stands for exactly the value */
	got =
	    render("printf '[%s]' {{ evil | sh }}; printf '%s' \"$#\"", NULL, TPL_TEXT, NULL, &err);
	CHECK(got != NULL);
	if (got) {
		CHECK(run_sh_in(got, NULL, false, &out) == 0);
		CHECK_STR(out.s, "[" EVIL "]0");
		free(got);
	}
	buf_reset(&out);
	got = render("set -- {{ evil | sh }}; printf '%s:%s' \"$#\" \"$1\"", NULL, TPL_TEXT, NULL,
	             &err);
	CHECK(got != NULL);
	if (got) {
		CHECK(run_sh_in(got, NULL, false, &out) == 0);
		CHECK_STR(out.s, "1:" EVIL);
		free(got);
	}
	buf_reset(&out);
	script = render("set -- {{ empty | sh }}; printf '%s:%s' \"$#\" \"$1\"", NULL, TPL_TEXT,
	                NULL, &err);
	CHECK(script != NULL);
	if (script) {
		CHECK(run_sh_in(script, NULL, false, &out) == 0);
		CHECK_STR(out.s, "1:");
		free(script);
	}
	buf_release(&out);
}

static void test_host(void)
{
	want_text("{{ site.host | host }}", "shop.example.com");
	want_text("{{ site.up | host }}", "127.0.0.1:3000");
	want_text("{{ site.up | host | sh }}", "127.0.0.1:3000");
	want_text("{{ site.host | default \"x\" | host }}", "shop.example.com");
	want_text("{{ nope | default \"*.example.com\" | host }}", "*.example.com");
	want_text("{{ nope | default \"localhost:8080\" | host }}", "localhost:8080");
	want_text("{{ nope | default \"[::1]:8080\" | host }}", "[::1]:8080");
	want_text("{{ nope | default \"a-b.c\" | host }}", "a-b.c");
	want_error(
	    "{{ site.bad | host }}",
	    "<template>:1:15: 'site.bad' (vars.yml:20:59) is 'a.com {\\x0a}', not a host name "
	    "or address with an optional :PORT");
	want_error("{{ evil | host }}", "<template>:1:11: 'evil' (vars.yml:2:7) is '" EVIL
	                                "', not a host name or address with an optional :PORT");
	const char *bad[] = {"",        "-a.com",     "a-.com",      "a..com",   ".a",
	                     "a.com:",  "a.com:0",    "a.com:65536", "a.com:8o", "a b",
	                     "a/b",     "[]",         "[::1]x",      "[::g]",    "*.",
	                     "a.*.com", "a.com:80:81"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *tpl = xasprintf("{{ nope | default \"%s\" | host }}", bad[i]);
		struct pv_error err = {{0}};
		bool secret = false;
		char *got = render(tpl, NULL, TPL_TEXT, &secret, &err);
		CHECK(got == NULL);
		if (got)
			printf("  '%s' passed as a host\n", bad[i]);
		free(got);
		free(tpl);
	}
	want_error("{{ pkgs | host }}", "<template>:1:4: 'pkgs' is a list, not a string");
}

static void test_escape_double(void)
{
	want_text("{{ nope | default \"a:b\\\\c\" | escape \":\\\\\" }}", "a\\:b\\\\c");
	want_text("{{ name | escape \"\" }}", "world");
	want_text("{{ name | escape \"o\" }}", "w\\orld");
	want_text("{{ nope | default \"say \\\"hi\\\"\" | double \"\\\"\" }}", "say \"\"hi\"\"");
	want_text("{{ evil | escape \"'\" | sh }}", "'x\\'\\''; rm -rf / #'");
	want_text_mode("echo {{ name | double \"o\" }}", TPL_SHELL, "echo woorld");
	want_text("{{ name | sha256 }}",
	          "486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7");
	want_text("{{ nope | default \"\" | sha256 }}",
	          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	want_error("{{ name | escape }}",
	           "<template>:1:11: 'escape' needs a quoted string argument");
	want_error("{{ pkgs | double \"x\" }}", "<template>:1:4: 'pkgs' is a list, not a string");
	/* a secret stays a secret through them */
	struct pv_error err = {{0}};
	bool secret = false;
	char *got = render("{{ pwname | secret | escape \"2\" }}", NULL, TPL_TEXT, &secret, &err);
	CHECK_STR(got, "hunter\\2");
	CHECK(secret);
	free(got);
}

static void test_join_default(void)
{
	want_text("{{ pkgs | join \", \" }}", "nginx, curl");
	want_text("{{ pkgs | join '' }}", "nginxcurl");
	want_text("{{ pkgs | join \"\\n\" }}", "nginx\ncurl");
	want_text("{{ pkgs | join \"}}\" }}", "nginx}}curl"); /* a delimiter inside a string */
	want_text("{{ pkgs | join \"\\\"\" }}", "nginx\"curl");
	want_text("[{{ none | join \",\" }}]", "[]");
	want_text("{{ pkgs | join \" \" | sh }}", "'nginx curl'");
	want_text("{{ users.0.shell | default \"/bin/false\" }}", "/bin/bash");

	want_text("{{ nope | default \"x\" }}", "x");
	want_text("{{ nope | default \"\" }}", "");
	want_text("{{ db.nope | default \"5432\" }}", "5432");
	want_text("{{ name | default \"x\" }}", "world");
	want_text("[{{ empty | default \"x\" }}]", "[]"); /* defined, though empty */
	want_text("{{ nope | default \"a b\" | sh }}", "'a b'");
	want_text("{{ nope | default \"a\" | default \"b\" }}", "a");
}

/* ---- conditions ------------------------------------------------------- */

static void test_if(void)
{
	want_text("{% if name %}yes{% endif %}", "yes");
	want_text("{% if f %}yes{% endif %}", "");
	want_text("{% if f %}A{% else %}B{% endif %}", "B");
	want_text("{% if f %}A{% elif t %}B{% else %}C{% endif %}", "B");
	want_text("{% if f %}A{% elif zero %}B{% else %}C{% endif %}", "C");
	want_text("{% if t %}A{% elif t %}B{% else %}C{% endif %}", "A");
	want_text("{% if f %}A{% elif falsy %}B{% elif env %}C{% endif %}", "C");
	want_text("{% if t %}{% if f %}1{% else %}2{% endif %}{% endif %}", "2");
	/* truth */
	want_text("{% if empty %}T{% else %}F{% endif %}", "F");
	want_text("{% if zero %}T{% else %}F{% endif %}", "F");
	want_text("{% if falsy %}T{% else %}F{% endif %}", "F");
	want_text("{% if none %}T{% else %}F{% endif %}", "F");
	want_text("{% if nomap %}T{% else %}F{% endif %}", "F");
	want_text("{% if pkgs %}T{% else %}F{% endif %}", "T");
	want_text("{% if db %}T{% else %}F{% endif %}", "T");
	want_text("{% if db.opts.ssl %}T{% else %}F{% endif %}", "T");
	want_text("{% if \"\" %}T{% else %}F{% endif %}", "F");
	want_text("{% if 'no' %}T{% else %}F{% endif %}", "F");
	want_text("{% if \"x\" %}T{% else %}F{% endif %}", "T");
	/* an undefined variable in a condition is false, not an error */
	want_text("{% if nope %}T{% else %}F{% endif %}", "F");
	want_text("{% if nope.deeper %}T{% else %}F{% endif %}", "F");
	want_text("{% if name.deeper %}T{% else %}F{% endif %}", "F");
	want_text("{% if pkgs.7 %}T{% else %}F{% endif %}", "F");
	want_text("{% if not nope %}T{% else %}F{% endif %}", "T");
	/* a branch not taken is not rendered, so its variables need not exist */
	want_text("{% if f %}{{ nope }}{% endif %}ok", "ok");
	want_text("{% if t %}ok{% else %}{{ nope }}{% endif %}", "ok");

	/* comparisons */
	want_text("{% if env == \"prod\" %}P{% endif %}", "P");
	want_text("{% if env == 'dev' %}D{% else %}not dev{% endif %}", "not dev");
	want_text("{% if env != \"dev\" %}ok{% endif %}", "ok");
	want_text("{% if env != \"prod\" %}no{% else %}yes{% endif %}", "yes");
	want_text("{% if env==\"prod\" %}P{% endif %}", "P");
	want_text("{% if db.host == \"localhost\" %}L{% endif %}", "L");
	want_text("{% if db.port == \"5432\" %}N{% endif %}", "N");
	want_text("{% if \"prod\" == env %}P{% endif %}", "P");
	want_text("{% if name == name %}same{% endif %}", "same");
	want_text("{% if name == env %}same{% else %}differ{% endif %}", "differ");
	want_text("{% if empty == \"\" %}E{% endif %}", "E");
	want_text("{% if \"a\" != \"a\" %}X{% else %}Y{% endif %}", "Y");
	want_text("{% if env == \"Prod\" %}X{% else %}Y{% endif %}", "Y"); /* case counts */
	/* an undefined variable equals nothing */
	want_text("{% if nope == \"x\" %}T{% else %}F{% endif %}", "F");
	want_text("{% if nope == \"\" %}T{% else %}F{% endif %}", "F");
	want_text("{% if nope != \"x\" %}T{% else %}F{% endif %}", "T");
	/* not */
	want_text("{% if not f %}nf{% endif %}", "nf");
	want_text("{% if not name %}x{% else %}y{% endif %}", "y");
	want_text("{% if not env == \"prod\" %}a{% else %}b{% endif %}", "b");
	want_text("{% if not env != \"prod\" %}a{% else %}b{% endif %}", "a");
	want_text("{% if f %}a{% elif not t %}b{% elif not zero %}c{% endif %}", "c");
	/* a list cannot be compared */
	want_error("{% if pkgs == \"x\" %}{% endif %}",
	           "<template>:1:7: 'pkgs' is a list, not a string");
	want_error("{% if env == db %}{% endif %}",
	           "<template>:1:14: 'db' is a mapping, not a string");
}

static void test_truth(void)
{
	struct pos p = {NULL, 1, 1};
	static const char *const falsy[] = {"",   "false", "False", "FALSE", "no",
	                                    "No", "off",   "Off",   "0"};
	static const char *const truthy[] = {"true", "yes", "1", "x", " ", "none"};
	struct node *seq = node_new_seq(&p), *map = node_new_map(&p);

	CHECK(!tpl_truth(NULL));
	for (size_t i = 0; i < PV_ARRAY_SIZE(falsy); i++) {
		struct node *n = node_new_scalar(falsy[i], &p);

		CHECK(!tpl_truth(n));
		node_free(n);
	}
	for (size_t i = 0; i < PV_ARRAY_SIZE(truthy); i++) {
		struct node *n = node_new_scalar(truthy[i], &p);

		CHECK(tpl_truth(n));
		node_free(n);
	}
	CHECK(!tpl_truth(seq));
	CHECK(!tpl_truth(map));
	node_seq_append(seq, node_new_scalar("", &p));
	node_map_set(map, "k", node_new_scalar("", &p));
	CHECK(tpl_truth(seq));
	CHECK(tpl_truth(map));
	node_free(seq);
	node_free(map);
}

/* ---- loops and comments ----------------------------------------------- */

static void test_for(void)
{
	want_text("{% for p in pkgs %}[{{ p }}]{% endfor %}", "[nginx][curl]");
	want_text("{% for u in users %}{{ u.name }}:{{ u.shell }};{% endfor %}",
	          "alice:/bin/bash;bob:/bin/sh;");
	want_text("{% for row in matrix %}({% for c in row %}{{ c }}{% endfor %}){% endfor %}",
	          "(ab)(c)");
	want_text("{% for p in pkgs %}{% for q in pkgs %}{{ p }}{{ q }} {% endfor %}{% endfor %}",
	          "nginxnginx nginxcurl curlnginx curlcurl ");
	want_text("a{% for p in none %}[{{ p }}]{% endfor %}b", "ab");
	want_text("{% for p in pkgs %}{% if p == \"curl\" %}{{ p | sh }}{% endif %}{% endfor %}",
	          "curl");
	want_text("{% for p in pkgs %}{{ p }}{% if p != \"curl\" %}, {% endif %}{% endfor %}",
	          "nginx, curl");
	/* the loop variable shadows an outer one, only inside the loop */
	want_text("{% for x in pkgs %}{{ x }},{% endfor %}{{ x }}", "nginx,curl,outer");
	want_text("{% for p in pkgs %}{{ name }}{% endfor %}", "worldworld");
	want_text("{% for p in db.opts.ssl %}{% endfor %}{% for u in users %}{% endfor %}", "");

	want_error("{% for p in nope %}{% endfor %}", "<template>:1:13: undefined variable 'nope'");
	want_error("{% for p in db %}{% endfor %}",
	           "<template>:1:13: 'db' is a mapping, not a list");
	want_error("{% for p in pkgs %}{{ p.name }}{% endfor %}",
	           "<template>:1:23: undefined variable 'p.name'");
	want_error("{% for p in pkgs %}{% endfor %}{{ p }}",
	           "<template>:1:35: undefined variable 'p'");
	/* loop.index counts from 1; an inner loop has its own; none outside */
	want_text("{% for p in pkgs %}{{ loop.index }}={{ p }} {% endfor %}", "1=nginx 2=curl ");
	want_text("{% for p in pkgs %}{% for q in pkgs %}{{ loop.index }}{% endfor %}"
	          "{{ loop.index }};{% endfor %}",
	          "121;122;");
	want_error("{% for p in pkgs %}{% endfor %}{{ loop.index }}",
	           "<template>:1:35: undefined variable 'loop.index'");
}

static void test_add(void)
{
	want_text("{% for p in pkgs %}repo{{ loop.index | add \"1\" }} {% endfor %}",
	          "repo2 repo3 ");
	want_text("{{ db.port | add \"-2\" }}", "5430");
	want_error("{{ name | add \"1\" }}",
	           "<template>:1:11: 'add' needs an integer ('name' is not one)");
	want_error("{{ db.port | add \"x\" }}",
	           "<template>:1:14: 'add' needs a quoted integer argument");
	want_error("{{ db.port | add }}", "<template>:1:14: 'add' needs a quoted integer argument");
}

static void test_comments(void)
{
	want_text("a{# hidden #}b", "ab");
	want_text("a{##}b", "ab");
	want_text("a{# {{ nope }} {% bogus %} \" #}b", "ab");
	want_text("a{# two\nlines #}b", "ab");
	want_text("a {#- x -#} b", "ab");
}

/* ---- whitespace ------------------------------------------------------- */

static void test_whitespace(void)
{
	/* lines holding only a tag vanish, with their indentation and newline */
	want_text("start\n  {% if t %}\n  line\n  {% endif %}\nend\n", "start\n  line\nend\n");
	want_text("start\n  {% if f %}\n  line\n  {% endif %}\nend\n", "start\nend\n");
	want_text("{% if t %}\nfirst\n{% endif %}", "first\n");
	want_text("a\n{# note #}\nb\n", "a\nb\n");
	want_text("a\n\t{# note #}  \nb\n", "a\nb\n");
	want_text("list:\n{% for p in pkgs %}\n  - {{ p }}\n{% endfor %}\ndone\n",
	          "list:\n  - nginx\n  - curl\ndone\n");
	want_text("a\r\n{% if t %}\r\nb\r\n{% endif %}\r\n", "a\r\nb\r\n");
	/* but not a line holding a substitution, or a tag and text */
	want_text("a\n{{ name }}\nb\n", "a\nworld\nb\n");
	want_text("{% if t %}yes{% endif %}\n", "yes\n");
	want_text("x {% if t %}\ny{% endif %}", "x \ny");
	want_text("{% if t %}{% endif %}\n", "\n");

	/* "-" eats the blanks before / after the tag up to and including one newline */
	want_text("x\n  {{- name -}}  \ny", "xworldy");
	want_text("a\n{%- if t -%}\nb\n{%- endif -%}\nc", "abc");
	want_text("a  {{- name }}", "aworld");
	want_text("a \n \n{{- name }}", "a \n world");
	want_text("{{ name -}}\n\nb", "world\nb");
	want_text("{{ name -}}   tail", "worldtail");
	want_text("a\t{%- if t %} b{% endif %}", "a b");
	want_text("{% if t -%}   x{%- endif %}", "x");
	want_text("[ {{- name -}} ]", "[world]");
	want_text("a\r\n{{- name }}", "aworld"); /* CRLF is one newline */
	want_text("a \r\n{{- name }}", "a world");
}

/* ---- shell mode ------------------------------------------------------- */

static void test_shell_mode(void)
{
	struct pv_error err;
	struct buf out = BUF_INIT;
	char *got;

	want_text_mode("echo {{ evil }} {{ name }} {{ empty }}", TPL_SHELL,
	               "echo " EVIL_QUOTED " world ''");
	want_text_mode("{{ evil | sh }}", TPL_SHELL, EVIL_QUOTED); /* not quoted twice */
	want_text_mode("ls {{ pkgs | join \" \" }}", TPL_SHELL, "ls 'nginx curl'");
	want_text_mode("rm -f {{ nope | default \"*\" }}", TPL_SHELL, "rm -f '*'");
	want_text_mode("a'b {{ name }} $HOME", TPL_SHELL, "a'b world $HOME"); /* text as is */
	want_text_mode("{{ db.host }}:{{ db.port }}", TPL_SHELL, "localhost:5432");
	want_text_mode("{% if env == \"prod\" %}{{ users.0.shell }}{% endif %}", TPL_SHELL,
	               "/bin/bash");
	want_text_mode("{% for u in users %}{{ u.name }} {% endfor %}", TPL_SHELL, "alice bob ");

	got = render("printf '%s|' {{ evil }} {{ name }} {{ empty }} {{ pkgs | join \" \" }}", NULL,
	             TPL_SHELL, NULL, &err);
	CHECK(got != NULL);
	if (got) {
		CHECK(run_sh_in(got, NULL, false, &out) == 0);
		CHECK_STR(out.s, EVIL "|world||nginx curl|");
		free(got);
	}
	buf_release(&out);
}

/* ---- undefined variables and positions --------------------------------- */

static void test_undefined(void)
{
	struct pos start = {pv_intern("roles/web/templates/site.conf"), 10, 5};
	struct pv_error err;
	struct buf out = BUF_INIT;

	want_error("{{ nope }}", "<template>:1:4: undefined variable 'nope'");
	want_error("{{nope}}", "<template>:1:3: undefined variable 'nope'");
	want_error("Hello {{ name }}, {{ nope }}!", "<template>:1:22: undefined variable 'nope'");
	want_error("line one\n  {{ nope }}", "<template>:2:6: undefined variable 'nope'");
	want_error("a\nb\n\n{% if t %}\n x {{ nope }}\n{% endif %}\n",
	           "<template>:5:7: undefined variable 'nope'");
	/* from a start position: the column counts only on the first line */
	want_error_at("abc {{ nope }}", &start,
	              "roles/web/templates/site.conf:10:12: undefined variable 'nope'");
	want_error_at("line one\n  {{ nope }}", &start,
	              "roles/web/templates/site.conf:11:6: undefined variable 'nope'");
	want_error_at("{{ nope }}", &start,
	              "roles/web/templates/site.conf:10:8: undefined variable 'nope'");
	{
		struct pos nofile = {NULL, 3, 2};

		want_error_at("{{ nope }}", &nofile, "<template>:3:5: undefined variable 'nope'");
	}
	/* dotted names, filters */
	want_error("{{ db.nope }}", "<template>:1:4: undefined variable 'db.nope'");
	want_error("{{ name.x }}", "<template>:1:4: undefined variable 'name.x'");
	want_error("{{ pkgs.2 }}", "<template>:1:4: undefined variable 'pkgs.2'");
	want_error("{{ nope | sh }}", "<template>:1:4: undefined variable 'nope'");
	want_error("{{ nope | join \",\" }}", "<template>:1:4: undefined variable 'nope'");
	want_error("{% for p in pkgs %}{{ nope }}{% endfor %}",
	           "<template>:1:23: undefined variable 'nope'");
	/* in shell mode too: never an empty word */
	CHECK(tpl_render(&out, "echo {{ nope }}", NULL, &vars, TPL_SHELL, NULL, &err) == -1);
	CHECK_STR(err.msg, "<template>:1:9: undefined variable 'nope'");

	/* never an empty string: the output is left as it was */
	buf_adds(&out, "keep:");
	CHECK(tpl_render(&out, "hello {{ name }} {{ nope }}", NULL, &vars, TPL_TEXT, NULL, &err) ==
	      -1);
	CHECK_STR(out.s, "keep:");
	CHECK(out.len == 5);
	/* without an error struct, and without a scope */
	CHECK(tpl_render(&out, "{{ nope }}", NULL, &vars, TPL_TEXT, NULL, NULL) == -1);
	CHECK(tpl_render(&out, "{{ name }}", NULL, NULL, TPL_TEXT, NULL, &err) == -1);
	CHECK_STR(err.msg, "<template>:1:4: undefined variable 'name'");
	CHECK(tpl_render(&out, "{% if name %}x{% endif %}", NULL, NULL, TPL_TEXT, NULL, &err) == 0);
	CHECK_STR(out.s, "keep:");
	buf_release(&out);

	/* a list or mapping where a string is needed */
	want_error("{{ pkgs }}", "<template>:1:4: 'pkgs' is a list, not a string");
	want_error("{{ db | sh }}", "<template>:1:4: 'db' is a mapping, not a string");
	want_error("{{ name | join \",\" }}",
	           "<template>:1:11: join needs a list ('name' is a string)");
	want_error("{{ matrix | join \",\" }}",
	           "<template>:1:13: join needs a list of strings ('matrix' holds a list)");
	want_error("{{ nope | default \"d\" | join \",\" }}", "<template>:1:25: join needs a list");
}

/* ---- secrets ---------------------------------------------------------- */

/* "| secret": a variable names a secret, and the secret's value is used. */
static void test_secret_filter(void)
{
	struct pv_error err;
	bool secret;
	char *got;

	secret = false;
	got = render("{{ pwname | secret }}", NULL, TPL_TEXT, &secret, &err);
	CHECK_STR(got, "hunter2");
	CHECK(secret);
	free(got);

	secret = false;
	got =
	    render("{% for u in dbusers %}{{ u.name }}={{ u.password | secret | sh }}{% endfor %}",
	           NULL, TPL_TEXT, &secret, &err);
	CHECK_STR(got, "shop=hunter2");
	CHECK(secret);
	free(got);

	/* a name that is no secret is an error, never the plain value */
	want_error("{{ name | secret }}", "<template>:1:11: 'name' names no secret ('world')");
	want_error("{{ nope | secret }}", "<template>:1:4: undefined variable 'nope'");
	want_error("{{ pwname | sh | secret }}",
	           "<template>:1:18: 'secret' must be the first filter");
}

static void test_secret(void)
{
	struct pv_error err;
	struct buf out = BUF_INIT;
	bool secret;
	char *got;

	secret = false;
	got = render("password={{ pw }}", NULL, TPL_TEXT, &secret, &err);
	CHECK_STR(got, "password=hunter2");
	CHECK(secret);
	free(got);

	secret = false;
	got = render("{{ name }}", NULL, TPL_TEXT, &secret, &err);
	CHECK_STR(got, "world");
	CHECK(!secret);
	free(got);

	secret = false;
	got = render("{{ pw | sh }}", NULL, TPL_TEXT, &secret, &err);
	CHECK_STR(got, "hunter2");
	CHECK(secret);
	free(got);

	secret = false;
	got = render("{{ pw }}", NULL, TPL_SHELL, &secret, &err);
	CHECK_STR(got, "hunter2");
	CHECK(secret);
	free(got);

	secret = false;
	got = render("{{ mixed | join \",\" }}", NULL, TPL_TEXT, &secret, &err);
	CHECK_STR(got, "public,private");
	CHECK(secret);
	free(got);

	secret = false;
	got = render("{{ mixed.0 }}", NULL, TPL_TEXT, &secret, &err);
	CHECK_STR(got, "public");
	CHECK(!secret); /* only the secret item is */
	free(got);

	secret = false;
	got = render("{% for k in mixed %}{% if k == \"private\" %}{{ k }}{% endif %}{% endfor %}",
	             NULL, TPL_TEXT, &secret, &err);
	CHECK_STR(got, "private");
	CHECK(secret);
	free(got);

	/* looking at a secret without substituting it */
	secret = false;
	got = render("{% if pw %}set{% endif %}{% if pw == \"x\" %}x{% endif %}", NULL, TPL_TEXT,
	             &secret, &err);
	CHECK_STR(got, "set");
	CHECK(!secret);
	free(got);

	/* the flag only ever goes up */
	secret = true;
	got = render("{{ name }}", NULL, TPL_TEXT, &secret, &err);
	CHECK(secret);
	free(got);

	/* a failed render leaves nothing behind, not even part of the secret */
	secret = false;
	buf_adds(&out, "before ");
	CHECK(tpl_render(&out, "{{ pw }} {{ nope }}", NULL, &vars, TPL_TEXT, &secret, &err) == -1);
	CHECK_STR(out.s, "before ");
	CHECK(!secret);
	CHECK(strstr(err.msg, "hunter2") == NULL);
	/* no flag wanted */
	CHECK(tpl_render(&out, "{{ pw }}", NULL, &vars, TPL_TEXT, NULL, &err) == 0);
	CHECK_STR(out.s, "before hunter2");
	buf_release(&out);
}

/* ---- tpl_render_node -------------------------------------------------- */

static void test_render_node(void)
{
	static const char text[] = "a: \"{{ pkgs }}\"\n" /* 1 */
	                           "b: \"  {{ pkgs }} \"\n" /* 2 */
	                           "c: \"{{- db -}}\"\n" /* 3 */
	                           "d: \"{{ users.0 }}\"\n" /* 4 */
	                           "e: \"{{ name }}\"\n" /* 5 */
	                           "f: \"{{ pkgs }} and more\"\n" /* 6 */
	                           "g: \"{{ pkgs | join ',' }}\"\n" /* 7 */
	                           "h: [1, 2]\n" /* 8 */
	                           "i: \"{{ keys }}\"\n" /* 9 */
	                           "j: echo {{ evil }}\n" /* 10 */
	                           "k: plain\n" /* 11 */
	                           "l: \"{{ nope }}\"\n"; /* 12 */
	struct pv_error err;
	struct node *root;
	const struct node *whole;
	struct buf out = BUF_INIT;
	bool secret;

	if (node_load_string(&root, "r.yml", text, strlen(text), &err) < 0) {
		printf("  cannot load: %s\n", err.msg);
		check_failed++;
		return;
	}

	/* exactly one {{ name }} of a list or mapping: the node itself */
	whole = (const struct node *)1;
	CHECK(tpl_render_node(&out, &whole, node_get(root, "a"), &vars, TPL_TEXT, NULL, &err) == 0);
	CHECK(whole == scope_get(&vars, "pkgs"));
	CHECK(out.len == 0);
	CHECK(tpl_render_node(&out, &whole, node_get(root, "b"), &vars, TPL_TEXT, NULL, &err) == 0);
	CHECK(whole == scope_get(&vars, "pkgs"));
	CHECK(tpl_render_node(&out, &whole, node_get(root, "c"), &vars, TPL_TEXT, NULL, &err) == 0);
	CHECK(whole == scope_get(&vars, "db"));
	CHECK(tpl_render_node(&out, &whole, node_get(root, "d"), &vars, TPL_TEXT, NULL, &err) == 0);
	CHECK(whole && whole->kind == NODE_MAP);
	CHECK(whole && node_get(whole, "name") &&
	      strcmp(node_get(whole, "name")->scalar, "alice") == 0);
	CHECK(out.len == 0);

	/* a scalar variable is rendered as text */
	whole = (const struct node *)1;
	CHECK(tpl_render_node(&out, &whole, node_get(root, "e"), &vars, TPL_TEXT, NULL, &err) == 0);
	CHECK(whole == NULL);
	CHECK_STR(out.s, "world");
	buf_reset(&out);

	/* more than the one substitution: a list is an error */
	CHECK(tpl_render_node(&out, &whole, node_get(root, "f"), &vars, TPL_TEXT, NULL, &err) ==
	      -1);
	CHECK(whole == NULL);
	CHECK_HAS(err.msg, "'pkgs' is a list, not a string");
	CHECK_HAS(err.msg, "r.yml:6:");
	CHECK(tpl_render_node(&out, &whole, node_get(root, "g"), &vars, TPL_TEXT, NULL, &err) == 0);
	CHECK(whole == NULL);
	CHECK_STR(out.s, "nginx,curl");
	buf_reset(&out);

	/* the caller accepts scalars only */
	CHECK(tpl_render_node(&out, NULL, node_get(root, "a"), &vars, TPL_TEXT, NULL, &err) == -1);
	CHECK_HAS(err.msg, "'pkgs' is a list, not a string");
	CHECK(out.len == 0);

	/* a list written in place passes through whole */
	whole = NULL;
	CHECK(tpl_render_node(&out, &whole, node_get(root, "h"), &vars, TPL_TEXT, NULL, &err) == 0);
	CHECK(whole == node_get(root, "h"));
	CHECK(tpl_render_node(&out, NULL, node_get(root, "h"), &vars, TPL_TEXT, NULL, &err) == -1);
	CHECK_STR(err.msg, "r.yml:8:4: expected a string, not a list");

	/* a whole secret list marks the result */
	secret = false;
	CHECK(tpl_render_node(&out, &whole, node_get(root, "i"), &vars, TPL_TEXT, &secret, &err) ==
	      0);
	CHECK(whole == scope_get(&vars, "keys"));
	CHECK(secret);
	secret = false;
	CHECK(tpl_render_node(&out, &whole, node_get(root, "a"), &vars, TPL_TEXT, &secret, &err) ==
	      0);
	CHECK(!secret);

	/* shell mode; a plain scalar */
	CHECK(tpl_render_node(&out, &whole, node_get(root, "j"), &vars, TPL_SHELL, NULL, &err) ==
	      0);
	CHECK_STR(out.s, "echo " EVIL_QUOTED);
	buf_reset(&out);
	CHECK(tpl_render_node(&out, &whole, node_get(root, "k"), &vars, TPL_SHELL, NULL, &err) ==
	      0);
	CHECK_STR(out.s, "plain");
	buf_reset(&out);

	/* undefined: an error, not a whole node and not an empty string */
	whole = (const struct node *)1;
	CHECK(tpl_render_node(&out, &whole, node_get(root, "l"), &vars, TPL_TEXT, NULL, &err) ==
	      -1);
	CHECK(whole == NULL);
	CHECK_HAS(err.msg, "undefined variable 'nope'");
	CHECK(out.len == 0);
	buf_release(&out);
	node_free(root);
}

/* Errors in a scalar from a YAML file point into that file. */
static void test_render_node_positions(void)
{
	static const char text[] = "plain: echo {{ nope }}\n" /* 1 */
	                           "quoted: \"echo {{ nope }}\"\n" /* 2 */
	                           "single: 'echo {{ nope }}'\n" /* 3 */
	                           "block: |\n" /* 4 */
	                           "  echo {{ nope }}\n"; /* 5 */
	struct pv_error err;
	struct node *root;
	struct buf out = BUF_INIT;

	if (node_load_string(&root, "p.yml", text, strlen(text), &err) < 0) {
		printf("  cannot load: %s\n", err.msg);
		check_failed++;
		return;
	}
	/* "nope" is at column 16 of line 1, column 18 of lines 2 and 3, column 11 of line 5 */
	CHECK(tpl_render_node(&out, NULL, node_get(root, "plain"), &vars, TPL_TEXT, NULL, &err) ==
	      -1);
	CHECK_STR(err.msg, "p.yml:1:16: undefined variable 'nope'");
	CHECK(tpl_render_node(&out, NULL, node_get(root, "quoted"), &vars, TPL_TEXT, NULL, &err) ==
	      -1);
	CHECK_STR(err.msg, "p.yml:2:18: undefined variable 'nope'");
	CHECK(tpl_render_node(&out, NULL, node_get(root, "single"), &vars, TPL_TEXT, NULL, &err) ==
	      -1);
	CHECK_STR(err.msg, "p.yml:3:18: undefined variable 'nope'");
	CHECK(tpl_render_node(&out, NULL, node_get(root, "block"), &vars, TPL_TEXT, NULL, &err) ==
	      -1);
	CHECK_STR(err.msg, "p.yml:5:11: undefined variable 'nope'");
	buf_release(&out);
	node_free(root);
}

/* ---- malformed templates ---------------------------------------------- */

static void test_malformed(void)
{
	struct pos start = {pv_intern("t.conf"), 5, 3};

	want_error("a {{ name", "<template>:1:3: unterminated '{{'");
	want_error("a {{ name }", "<template>:1:3: unterminated '{{'");
	want_error("ok\n  {% if t", "<template>:2:3: unterminated '{%'");
	want_error("a {# x", "<template>:1:3: unterminated '{#'");
	want_error("{{ \"abc }}", "<template>:1:4: unterminated string");
	want_error("{% bogus %}", "<template>:1:4: unknown tag 'bogus'");
	want_error("{% %}", "<template>:1:4: expected a tag name");
	want_error("{% \"if\" %}", "<template>:1:4: expected a tag name, found '\"if\"'");
	want_error("x\n{% endif %}", "<template>:2:1: 'endif' without 'if'");
	want_error("{% endfor %}", "<template>:1:1: 'endfor' without 'for'");
	want_error("{% else %}", "<template>:1:1: 'else' without 'if'");
	want_error("a {% elif t %}", "<template>:1:3: 'elif' without 'if'");
	want_error("{{ name | upper }}", "<template>:1:11: unknown filter 'upper'");
	want_error("{{ name | }}", "<template>:1:11: expected a filter name after '|'");
	want_error("{{ name | join }}", "<template>:1:11: 'join' needs a quoted string argument");
	want_error("{{ name | default nope }}",
	           "<template>:1:11: 'default' needs a quoted string argument");
	want_error("{{ name name }}", "<template>:1:9: expected '|' or '}}', found 'name'");
	want_error("{{ }}", "<template>:1:4: expected a variable name");
	want_error("{{ 1x }}", "<template>:1:4: expected a variable name, found '1x'");
	want_error("{{ name == \"x\" }}", "<template>:1:9: expected '|' or '}}', found '=='");
	/* unclosed blocks */
	want_error("{% if t %}x", "<template>:1:12: missing 'endif' for 'if' at 1:1");
	want_error("line\n  {% if t %}\nx\n", "<template>:4:1: missing 'endif' for 'if' at 2:3");
	want_error("{% for p in pkgs %}{% endif %}",
	           "<template>:1:20: missing 'endfor' for 'for' at 1:1");
	want_error("{% if t %}{% endfor %}", "<template>:1:11: missing 'endif' for 'if' at 1:1");
	want_error("{% for p in pkgs %}x", "<template>:1:21: missing 'endfor' for 'for' at 1:1");
	want_error("{% if t %}a{% else %}b{% elif f %}c{% endif %}",
	           "<template>:1:23: 'elif' after 'else' of 'if' at 1:1");
	want_error("{% if t %}a{% else %}b{% else %}c{% endif %}",
	           "<template>:1:23: 'else' after 'else' of 'if' at 1:1");
	want_error("{% if t %}a{% else x %}b{% endif %}",
	           "<template>:1:20: expected '%}' after 'else', found 'x'");
	/* conditions */
	want_error("{% if %}{% endif %}", "<template>:1:7: expected a variable name or a quoted "
	                                  "string");
	want_error("{% if a b %}{% endif %}",
	           "<template>:1:9: expected '==', '!=' or '%}', found 'b'");
	want_error("{% if a = b %}{% endif %}",
	           "<template>:1:9: expected '==', '!=' or '%}', found '='");
	want_error("{% if a == %}{% endif %}",
	           "<template>:1:12: expected a variable name or a quoted string");
	want_error("{% if t %}{% elif %}{% endif %}",
	           "<template>:1:19: expected a variable name or a quoted string");
	/* loops */
	want_error("{% for in pkgs %}{% endfor %}",
	           "<template>:1:8: expected a loop variable name after 'for', found 'in'");
	want_error("{% for p of pkgs %}{% endfor %}", "<template>:1:10: expected 'in', found 'of'");
	want_error("{% for a.b in pkgs %}{% endfor %}",
	           "<template>:1:8: expected a loop variable name after 'for', found 'a.b'");
	want_error("{% for p in %}{% endfor %}",
	           "<template>:1:13: expected a variable name after 'in'");
	want_error("{% for p in pkgs x %}{% endfor %}",
	           "<template>:1:18: expected '%}', found 'x'");
	/* a syntax error is found even in a branch that is not taken */
	want_error("{% if f %}{{ x | bad }}{% endif %}", "<template>:1:18: unknown filter 'bad'");
	want_error("{% for p in none %}{% bogus %}{% endfor %}",
	           "<template>:1:23: unknown tag 'bogus'");
	/* ... and before anything is rendered */
	want_error("{{ nope }}{{ name | bad }}", "<template>:1:21: unknown filter 'bad'");
	/* nesting is bounded: 64 blocks parse, the 65th is an error at its tag */
	{
		struct buf deep = BUF_INIT;
		char *got;
		struct pv_error err;

		for (int i = 0; i < 64; i++)
			buf_adds(&deep, "{% if t %}");
		buf_adds(&deep, "x");
		for (int i = 0; i < 64; i++)
			buf_adds(&deep, "{% endif %}");
		got = render(deep.s, NULL, TPL_TEXT, NULL, &err);
		CHECK_STR(got, "x");
		free(got);
		buf_reset(&deep);
		for (int i = 0; i < 50000; i++)
			buf_adds(&deep, i % 2 ? "{% if t %}" : "{% for p in pkgs %}");
		want_error(deep.s, "<template>:1:929: 'for' nested deeper than 64 levels");
		buf_release(&deep);
	}
	/* from a start position */
	want_error_at("{% bogus %}", &start, "t.conf:5:6: unknown tag 'bogus'");
	want_error_at("ok\n{{ name | nope }}", &start, "t.conf:6:11: unknown filter 'nope'");
	want_error_at("{% if t %}\n", &start, "t.conf:6:1: missing 'endif' for 'if' at 5:3");
}

int main(void)
{
	setup();
	RUN(test_substitution);
	RUN(test_sh_filter);
	RUN(test_join_default);
	RUN(test_host);
	RUN(test_escape_double);
	RUN(test_if);
	RUN(test_truth);
	RUN(test_for);
	RUN(test_add);
	RUN(test_comments);
	RUN(test_whitespace);
	RUN(test_shell_mode);
	RUN(test_undefined);
	RUN(test_secret);
	RUN(test_secret_filter);
	RUN(test_render_node);
	RUN(test_render_node_positions);
	RUN(test_malformed);
	teardown();
	return check_done("template");
}
