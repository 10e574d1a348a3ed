/*
 * test-inventory.c - the inventory loader and the YAML-with-positions layer
 * under it: node trees and their typed readers, scopes, "did you mean"
 * suggestions, secret references, and every inventory diagnostic with its
 * exact file:line:col.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "provision/common.h"
#include "provision/inventory.h"
#include "provision/node.h"
#include "provision/report.h"
#include "provision/scope.h"

/* ---- helpers ---------------------------------------------------------- */

static char *tmp_files[128];
static size_t n_tmp_files;

/* Write text to a new file in /tmp; the file is removed by remove_tmp_files(). */
static char *write_tmp(const char *text)
{
	char tmpl[] = "/tmp/test-inventory-XXXXXX";
	size_t len = strlen(text);
	int fd = mkstemp(tmpl);

	if (fd < 0) {
		perror("mkstemp");
		exit(2);
	}
	if (len && write(fd, text, len) != (ssize_t)len) {
		perror("write");
		exit(2);
	}
	close(fd);
	if (n_tmp_files == PV_ARRAY_SIZE(tmp_files)) {
		fprintf(stderr, "too many temporary files\n");
		exit(2);
	}
	tmp_files[n_tmp_files] = xstrdup(tmpl);
	return tmp_files[n_tmp_files++];
}

static void remove_tmp_files(void)
{
	for (size_t i = 0; i < n_tmp_files; i++) {
		unlink(tmp_files[i]);
		free(tmp_files[i]);
	}
	n_tmp_files = 0;
}

/* An inventory loaded from text, with its diagnostics. */
struct loaded {
	const char *path;
	struct inventory *inv;
	struct diags d;
	int rc;
};

static void load(struct loaded *l, const char *text)
{
	l->path = write_tmp(text);
	diags_init(&l->d);
	l->inv = (struct inventory *)1; /* must be reset to NULL on failure */
	l->rc = inventory_load(&l->inv, l->path, &l->d);
}

static void unload(struct loaded *l)
{
	inventory_free(l->inv);
	diags_release(&l->d);
}

/* Diagnostic i is exactly "<path>:<rest>". */
static void want_diag(const struct loaded *l, size_t i, const char *rest)
{
	char *want = xasprintf("%s:%s", l->path, rest);

	CHECK_STR(i < l->d.n ? l->d.msgs[i] : NULL, want);
	free(want);
}

/* The file must fail with exactly one diagnostic, "<path>:<rest>". */
static void want_only(const char *text, const char *rest)
{
	struct loaded l;

	load(&l, text);
	CHECK(l.rc == -1);
	CHECK(l.inv == NULL);
	CHECK(l.d.n == 1);
	want_diag(&l, 0, rest);
	if (l.d.n != 1) {
		for (size_t i = 0; i < l.d.n; i++)
			printf("  diag: %s\n", l.d.msgs[i]);
	}
	unload(&l);
}

/* A scalar as a YAML plain or quoted scalar would give it, at t.yml:3:7. */
static struct node *scalar(const char *s, bool quoted)
{
	struct pos p = {pv_intern("t.yml"), 3, 7};
	struct node *n = node_new_scalar(s, &p);

	n->quoted = quoted;
	return n;
}

static bool pos_is(struct pos p, const char *file, int line, int col)
{
	return p.file && strcmp(p.file, file) == 0 && p.line == line && p.col == col;
}

/* ---- diags_add_named ---------------------------------------------------- */

/*
 * One message per value and error, naming every server that fails it,
 * found again after the messages were reordered; another error, another
 * position or another kind is a message of its own.
 */
static void test_diags_named(void)
{
	struct diags d;
	struct pos a = {pv_intern("inv.yml"), 4, 7}, b = {pv_intern("inv.yml"), 9, 3};

	diags_init(&d);
	diags_add_named(&d, &a, "server", "web1", "x needs y");
	diags_add(&d, NULL, "something else");
	diags_add_named(&d, &a, "server", "web2", "x needs y");
	CHECK(d.n == 2);
	CHECK_STR(d.msgs[0], "inv.yml:4:7: servers 'web1', 'web2': x needs y");
	/* reordered, as the inventory's messages are sorted by position */
	char *m = d.msgs[0];
	d.msgs[0] = d.msgs[1];
	d.msgs[1] = m;
	diags_add_named(&d, &a, "server", "db1", "x needs y");
	CHECK(d.n == 2);
	CHECK_STR(d.msgs[1], "inv.yml:4:7: servers 'web1', 'web2', 'db1': x needs y");
	CHECK_STR(d.msgs[0], "something else");
	diags_add_named(&d, &a, "server", "web3", "x needs z");
	diags_add_named(&d, &b, "server", "web4", "x needs y");
	diags_add_named(&d, &a, "host", "web5", "x needs y");
	diags_add_named(&d, NULL, "server", "web6", "x needs y");
	diags_add_named(&d, NULL, "server", "web7", "x needs y");
	CHECK(d.n == 6);
	CHECK_STR(d.n > 2 ? d.msgs[2] : "", "inv.yml:4:7: server 'web3': x needs z");
	CHECK_STR(d.n > 3 ? d.msgs[3] : "", "inv.yml:9:3: server 'web4': x needs y");
	CHECK_STR(d.n > 4 ? d.msgs[4] : "", "inv.yml:4:7: host 'web5': x needs y");
	CHECK_STR(d.n > 5 ? d.msgs[5] : "", "servers 'web6', 'web7': x needs y");
	/* a control character in an error is shown escaped, merged or not */
	diags_add_named(&d, &b, "server", "a", "bad\x1b");
	diags_add_named(&d, &b, "server", "b", "bad\x1b");
	CHECK(d.n == 7);
	CHECK(d.n == 7 && !strchr(d.msgs[6], 0x1b));
	diags_release(&d);
	CHECK(d.n == 0 && d.n_groups == 0);
}

/* ---- pv_nearest ------------------------------------------------------- */

static void test_nearest(void)
{
	static const char *const keys[] = {"roles", "vars", "type", "image", "address"};
	static const char *const top[] = {"project", "ssh", "layouts"};
	static const char *const with_null[] = {NULL, "roles"};

	CHECK_STR(pv_nearest("rols", keys, PV_ARRAY_SIZE(keys)), "roles");
	CHECK_STR(pv_nearest("roels", keys, PV_ARRAY_SIZE(keys)), "roles"); /* transposition */
	CHECK_STR(pv_nearest("rolez", keys, PV_ARRAY_SIZE(keys)), "roles");
	CHECK_STR(pv_nearest("var", keys, PV_ARRAY_SIZE(keys)), "vars");
	CHECK_STR(pv_nearest("adress", keys, PV_ARRAY_SIZE(keys)), "address");
	CHECK_STR(pv_nearest("projetc", top, PV_ARRAY_SIZE(top)), "project");
	CHECK_STR(pv_nearest("layout", top, PV_ARRAY_SIZE(top)), "layouts");
	CHECK_STR(pv_nearest("roles", keys, PV_ARRAY_SIZE(keys)), "roles");
	/* too far to be a typo: nothing */
	CHECK(pv_nearest("prjct", top, PV_ARRAY_SIZE(top)) == NULL); /* distance 2, length 5 */
	CHECK(pv_nearest("hostname", keys, PV_ARRAY_SIZE(keys)) == NULL);
	CHECK(pv_nearest("xyz", keys, PV_ARRAY_SIZE(keys)) == NULL);
	CHECK(pv_nearest("rols", keys, 0) == NULL);
	CHECK(pv_nearest(NULL, keys, PV_ARRAY_SIZE(keys)) == NULL);
	CHECK_STR(pv_nearest("rols", with_null, PV_ARRAY_SIZE(with_null)), "roles");
}

/* ---- node.c: loading -------------------------------------------------- */

static void test_node_load(void)
{
	static const char text[] = "a: 1\n"
	                           "b: 'two'\n"
	                           "c:\n"
	                           "  - x\n"
	                           "  - {k: v}\n"
	                           "d: |\n"
	                           "  block\n"
	                           "e: ~\n"
	                           "f: \"\"\n";
	struct pv_error err = {{0}};
	struct node *root = NULL;
	const struct node *v;
	const char *file;

	CHECK(node_load_string(&root, "n.yml", text, strlen(text), &err) == 0);
	if (!root)
		return;
	file = pv_intern("n.yml");
	CHECK(root->kind == NODE_MAP);
	CHECK(root->n == 6);
	CHECK(pos_is(root->pos, file, 1, 1));
	CHECK(root->pos.file == file); /* interned */
	CHECK_STR(root->keys[0], "a");
	CHECK_STR(root->keys[1], "b");
	CHECK_STR(root->keys[2], "c");
	CHECK_STR(root->keys[3], "d");
	CHECK(pos_is(root->key_pos[1], file, 2, 1));
	CHECK(pos_is(node_key_pos(root, "c"), file, 3, 1));
	/* an absent key: the map's own position */
	CHECK(pos_is(node_key_pos(root, "zz"), file, 1, 1));

	v = node_get(root, "a");
	CHECK(v && v->kind == NODE_SCALAR && !v->quoted);
	CHECK_STR(v ? v->scalar : NULL, "1");
	CHECK(v && pos_is(v->pos, file, 1, 4));

	v = node_get(root, "b");
	CHECK(v && v->quoted);
	CHECK_STR(v ? v->scalar : NULL, "two");
	CHECK(v && pos_is(v->pos, file, 2, 4));

	v = node_get(root, "c");
	CHECK(v && v->kind == NODE_SEQ && v->n == 2);
	if (v && v->kind == NODE_SEQ && v->n == 2) {
		CHECK_STR(v->items[0]->scalar, "x");
		CHECK(pos_is(v->items[0]->pos, file, 4, 5));
		CHECK(v->items[1]->kind == NODE_MAP);
		CHECK(pos_is(v->items[1]->pos, file, 5, 5));
		CHECK_STR(node_get(v->items[1], "k")->scalar, "v");
		CHECK(pos_is(node_key_pos(v->items[1], "k"), file, 5, 6));
	}

	v = node_get(root, "d");
	CHECK(v && v->quoted); /* a block scalar is always a string */
	CHECK_STR(v ? v->scalar : NULL, "block\n");

	CHECK(node_is_null(node_get(root, "e")));
	CHECK(!node_is_null(node_get(root, "f"))); /* "" written with quotes is a string */
	CHECK(node_is_null(NULL));
	CHECK(!node_is_null(node_get(root, "a")));
	CHECK(!node_is_null(node_get(root, "c")));

	CHECK(node_get(root, "zz") == NULL);
	CHECK(node_get(node_get(root, "a"), "x") == NULL); /* not a map */
	CHECK(node_get(NULL, "a") == NULL);

	CHECK_STR(node_kind_name(node_get(root, "a")), "a string");
	CHECK_STR(node_kind_name(node_get(root, "c")), "a list");
	CHECK_STR(node_kind_name(root), "a mapping");
	CHECK_STR(node_kind_name(NULL), "nothing");
	node_free(root);

	/* an empty document is an empty mapping */
	CHECK(node_load_string(&root, "empty.yml", "", 0, &err) == 0);
	CHECK(root && root->kind == NODE_MAP && root->n == 0);
	node_free(root);

	/* no name: "<string>" */
	CHECK(node_load_string(&root, NULL, "a: [b", 5, &err) == -1);
	CHECK(root == NULL);
	CHECK_STR(err.msg, "<string>:2:1: did not find expected ',' or ']' while parsing a flow "
	                   "sequence");
}

static void test_node_load_errors(void)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
	    {"a: 1\na: 2\n", "e.yml:2:1: duplicate key 'a'"},
	    {"a: &x 1\n", "e.yml:1:4: anchors and aliases are not supported"},
	    {"a: 1\nb: *x\n", "e.yml:2:4: anchors and aliases are not supported"},
	    {"a: &m {k: v}\n", "e.yml:1:4: anchors and aliases are not supported"},
	    {"a: 1\n---\nb: 2\n", "e.yml:2:1: more than one YAML document is not supported"},
	    {"? [a]\n: b\n", "e.yml:1:3: mapping keys must be strings, not a list"},
	    {"a: \"x\\0y\"\n", "e.yml:1:4: NUL characters in strings are not supported"},
	    {"a: [b, c\n", "e.yml:2:1: did not find expected ',' or ']' while parsing a flow "
	                   "sequence"},
	    {"a: b\n  c: d\n", "e.yml:2:4: mapping values are not allowed in this context"},
	};
	struct pv_error err;

	for (size_t i = 0; i < PV_ARRAY_SIZE(cases); i++) {
		struct node *root = (struct node *)1;

		memset(&err, 0, sizeof(err));
		CHECK(node_load_string(&root, "e.yml", cases[i].text, strlen(cases[i].text),
		                       &err) == -1);
		CHECK(root == NULL);
		CHECK_STR(err.msg, cases[i].msg);
	}

	/* a file that is not there */
	{
		struct node *root = (struct node *)1;

		CHECK(node_load_file(&root, "/nonexistent/pv-test.yml", &err) == -1);
		CHECK(root == NULL);
		CHECK_HAS(err.msg, "/nonexistent/pv-test.yml");
	}
}

/* Load text (len bytes); the error message, or "" when it loaded. */
static char *load_msg(const char *text, size_t len)
{
	struct pv_error err = {{0}};
	struct node *root = NULL;

	if (node_load_string(&root, "e.yml", text, len, &err) == 0) {
		node_free(root);
		return xstrdup("");
	}
	CHECK(root == NULL);
	return xstrdup(err.msg);
}

static void want_load_msg(const char *text, size_t len, const char *want)
{
	char *got = load_msg(text, len);

	CHECK_STR(got, want);
	free(got);
}

/* text made of head, then n copies of unit, then tail */
static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
	struct buf b = BUF_INIT;

	buf_init(&b, (size_t)256 << 20);
	buf_adds(&b, head);
	for (size_t i = 0; i < n; i++)
		buf_adds(&b, unit);
	buf_adds(&b, tail);
	return buf_detach(&b, NULL);
}

/* The text of repeat() loads with message want ("" when it loads). */
static void want_repeat(const char *head, const char *unit, size_t n, const char *tail,
                        const char *want)
{
	char *t = repeat(head, unit, n, tail);

	want_load_msg(t, strlen(t), want);
	free(t);
}

/* Sizes and bytes that must give file:line:col, never a crash or minutes of CPU. */
static void test_node_limits(void)
{
	/* nesting: 64 levels load, the 65th is an error at its position */
	want_repeat("", "- ", 64, "x\n", "");
	want_repeat("", "- ", 200000, "x\n", "e.yml:1:129: nested deeper than 64 levels");
	want_repeat("a: ", "[", 40000, "", "e.yml:1:68: nested deeper than 64 levels");
	want_repeat("a: ", "{b: ", 40000, "", "e.yml:1:260: nested deeper than 64 levels");
	/* brackets inside quotes and comments are text */
	want_repeat("a: \"", "[", 1000, "\" # {{{{{{{{{{{{\n", "");

	/* a huge map loads, and a duplicate at its end is found */
	{
		struct buf b = BUF_INIT;

		buf_init(&b, (size_t)64 << 20);
		for (int i = 0; i < 100000; i++)
			buf_addf(&b, "k%d: %d\n", i, i);
		want_load_msg(b.s, b.len, "");
		buf_adds(&b, "k99999: again\n");
		want_load_msg(b.s, b.len, "e.yml:100001:1: duplicate key 'k99999'");
		buf_release(&b);
	}

	/* bytes: NUL, invalid UTF-8 (columns count characters), tabs, control characters */
	want_load_msg("a: x\0y\n", 8, "e.yml:1:5: NUL byte (the file must be UTF-8 text)");
	want_load_msg("a: \"\xc3\xa9\xff\"\n", 9,
	              "e.yml:1:6: invalid UTF-8 (the file must be UTF-8 text)");
	want_load_msg("a: \xed\xa0\x80\n", 7,
	              "e.yml:1:4: invalid UTF-8 (the file must be UTF-8 text)");
	want_load_msg("a:\n\tb: 1\n", 9, "e.yml:2:1: tabs are not allowed for indentation");
	want_load_msg("a: \x1b[31m\n", 11,
	              "e.yml:1:4: control characters are not allowed (the file must be UTF-8 "
	              "text)");
	/* a key with escapes in it is echoed escaped */
	want_load_msg("\"a\\e[2J\\n\": 1\n\"a\\e[2J\\n\": 2\n", 26,
	              "e.yml:2:1: duplicate key 'a\\x1b[2J\\x0a'");
}

/* ---- node.c: building and typed readers -------------------------------- */

static void test_node_build(void)
{
	struct pos p = {pv_intern("b.yml"), 2, 3};
	struct node *map = node_new_map(&p), *seq = node_new_seq(&p), *c;
	struct diags d;
	const char **list;
	size_t count;

	node_seq_append(seq, node_new_scalar("one", &p));
	node_seq_append(seq, node_new_scalar(NULL, &p));
	node_map_set(map, "list", seq);
	node_map_set(map, "k", node_new_scalar("v1", &p));
	node_map_set(map, "k", node_new_scalar("v2", &p)); /* replaces, stays in place */
	CHECK(map->n == 2);
	CHECK_STR(map->keys[1], "k");
	CHECK_STR(node_get(map, "k")->scalar, "v2");
	CHECK_STR(seq->items[1]->scalar, "");
	CHECK(pos_is(node_key_pos(map, "k"), "b.yml", 2, 3));

	map->items[1]->secret = true;
	c = node_clone(map);
	CHECK(c != map && c->kind == NODE_MAP && c->n == 2);
	CHECK(node_get(c, "list") != seq); /* deep */
	CHECK(node_get(c, "list")->n == 2);
	CHECK_STR(node_get(c, "list")->items[0]->scalar, "one");
	CHECK(node_get(c, "k")->secret);
	CHECK(pos_is(node_key_pos(c, "list"), "b.yml", 2, 3));
	CHECK(node_clone(NULL) == NULL);

	diags_init(&d);
	CHECK(node_to_strlist(seq, &list, &count, "'x'", &d) == 0);
	CHECK(count == 2);
	CHECK_STR(list[0], "one");
	free(list);
	CHECK(node_to_strlist(node_get(map, "k"), &list, &count, "'x'", &d) == 0);
	CHECK(count == 1);
	CHECK_STR(list[0], "v2");
	free(list);
	CHECK(node_to_strlist(map, &list, &count, "'x'", &d) == -1);
	CHECK(list == NULL && count == 0);
	CHECK(d.n == 1);
	CHECK_STR(d.msgs[0], "b.yml:2:3: 'x' must be a string or a list of strings, not a mapping");
	node_seq_append(seq, node_new_seq(&p));
	CHECK(node_to_strlist(seq, &list, &count, "'x'", &d) == -1);
	CHECK(d.n == 2);
	CHECK_STR(d.msgs[1], "b.yml:2:3: 'x' must be a list of strings, not a list of lists");
	diags_release(&d);
	node_free(c);
	node_free(map);
}

static void test_node_to_bool(void)
{
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", "ON"};
	static const char *const no[] = {"false", "False", "FALSE", "no", "NO", "off", "Off"};
	static const char *const bad[] = {"1", "0", "y", "n", "", "tru", "yess", "enabled", "~"};
	struct diags d;
	bool b;

	diags_init(&d);
	for (size_t i = 0; i < PV_ARRAY_SIZE(yes); i++) {
		struct node *n = scalar(yes[i], false);

		b = false;
		CHECK(node_to_bool(n, &b, "'enabled'", &d) == 0);
		CHECK(b == true);
		node_free(n);
	}
	for (size_t i = 0; i < PV_ARRAY_SIZE(no); i++) {
		struct node *n = scalar(no[i], false);

		b = true;
		CHECK(node_to_bool(n, &b, "'enabled'", &d) == 0);
		CHECK(b == false);
		node_free(n);
	}
	CHECK(d.n == 0);
	for (size_t i = 0; i < PV_ARRAY_SIZE(bad); i++) {
		struct node *n = scalar(bad[i], false);
		char *want = xasprintf("t.yml:3:7: 'enabled' must be a boolean, not '%s'", bad[i]);

		b = true;
		CHECK(node_to_bool(n, &b, "'enabled'", &d) == -1);
		CHECK(b == true); /* untouched */
		CHECK(d.n == i + 1);
		CHECK_STR(d.n == i + 1 ? d.msgs[i] : NULL, want);
		free(want);
		node_free(n);
	}
	diags_release(&d);

	/* a quoted "true" is a string, not a boolean */
	{
		struct node *n = scalar("true", true);

		CHECK(node_to_bool(n, &b, "'enabled'", &d) == -1);
		CHECK_STR(d.msgs[0], "t.yml:3:7: 'enabled' must be a boolean, not the quoted "
		                     "string 'true'");
		node_free(n);
		diags_release(&d);
	}
	/* a secret never shows its value */
	{
		struct node *n = scalar("hunter2", true);

		n->secret = true;
		CHECK(node_to_bool(n, &b, "'enabled'", &d) == -1);
		CHECK_STR(d.msgs[0], "t.yml:3:7: 'enabled' must be a boolean, not a secret");
		node_free(n);
		diags_release(&d);
	}
	/* not a scalar; nothing at all */
	{
		struct pos p = {pv_intern("t.yml"), 4, 2};
		struct node *n = node_new_seq(&p);

		CHECK(node_to_bool(n, &b, "'enabled'", &d) == -1);
		CHECK_STR(d.msgs[0], "t.yml:4:2: 'enabled' must be a boolean, not a list");
		CHECK(node_to_bool(NULL, &b, "'enabled'", &d) == -1);
		CHECK_STR(d.msgs[1], "'enabled' must be a boolean");
		node_free(n);
		diags_release(&d);
	}
}

static void test_node_to_int(void)
{
	static const struct {
		const char *s;
		long long v;
	} good[] = {
	    {"0", 0},
	    {"22", 22},
	    {"-5", -5},
	    {"+7", 7},
	    {"007", 7},
	    {"65535", 65535},
	    {"9223372036854775807", LLONG_MAX},
	    {"-9223372036854775808", LLONG_MIN},
	};
	static const char *const bad[] = {"twenty-two", "1.5", "0x10", "1e3",   "",     "-",
	                                  "+",          "22a", "2 2",  "1_000", "true", "~"};
	struct diags d;
	long long v;

	diags_init(&d);
	for (size_t i = 0; i < PV_ARRAY_SIZE(good); i++) {
		struct node *n = scalar(good[i].s, false);

		v = 12345;
		CHECK(node_to_int(n, &v, "'port'", &d) == 0);
		CHECK(v == good[i].v);
		node_free(n);
	}
	CHECK(d.n == 0);
	for (size_t i = 0; i < PV_ARRAY_SIZE(bad); i++) {
		struct node *n = scalar(bad[i], false);
		char *want = xasprintf("t.yml:3:7: 'port' must be an integer, not '%s'", bad[i]);

		v = 12345;
		CHECK(node_to_int(n, &v, "'port'", &d) == -1);
		CHECK(v == 12345);
		CHECK_STR(d.n == i + 1 ? d.msgs[i] : NULL, want);
		free(want);
		node_free(n);
	}
	diags_release(&d);

	{
		struct node *q = scalar("22", true);
		struct node *big = scalar("9223372036854775808", false);

		CHECK(node_to_int(q, &v, "'port'", &d) == -1);
		CHECK_STR(d.msgs[0], "t.yml:3:7: 'port' must be an integer, not the quoted string "
		                     "'22'");
		CHECK(node_to_int(big, &v, "'port'", &d) == -1);
		CHECK_STR(d.msgs[1], "t.yml:3:7: 'port' is out of range: '9223372036854775808'");
		CHECK(node_to_int(NULL, &v, "'port'", &d) == -1);
		CHECK_STR(d.msgs[2], "'port' must be an integer");
		CHECK(d.n == 3);
		node_free(q);
		node_free(big);
		diags_release(&d);
	}
}

static void test_node_to_str_and_keys(void)
{
	static const char *const allowed[] = {"roles", "vars", "address"};
	static const char text[] = "roles: [a]\nrols: x\nvars: {}\nhostname: h\naddress: 1\n";
	struct pv_error err;
	struct node *root;
	struct diags d;
	const char *s = NULL;

	diags_init(&d);
	CHECK(node_load_string(&root, "k.yml", text, strlen(text), &err) == 0);
	if (!root)
		return;
	CHECK(node_check_keys(root, allowed, PV_ARRAY_SIZE(allowed), "server 'app1'", &d) == 2);
	CHECK(d.n == 2);
	CHECK_STR(d.msgs[0], "k.yml:2:1: unknown key 'rols' in server 'app1' (did you mean "
	                     "'roles'?)");
	CHECK_STR(d.msgs[1], "k.yml:4:1: unknown key 'hostname' in server 'app1'");
	/* not a map: nothing to check */
	CHECK(node_check_keys(node_get(root, "rols"), allowed, 1, "x", &d) == 0);
	CHECK(d.n == 2);

	CHECK(node_to_str(node_get(root, "address"), &s, "'address'", &d) == 0);
	CHECK_STR(s, "1");
	CHECK(node_to_str(node_get(root, "roles"), &s, "'address'", &d) == -1);
	CHECK_STR(d.msgs[2], "k.yml:1:8: 'address' must be a string, not a list");
	diags_release(&d);
	node_free(root);
}

/* ---- scope.c ---------------------------------------------------------- */

static void test_scope(void)
{
	static const char text[] = "a: from-map\nb: [1, 2]\nc: {k: v}\n";
	struct pv_error err;
	struct node *root, *one = node_new_scalar("one", NULL), *two = node_new_scalar("two", NULL);
	struct scope s, copy;

	CHECK(node_load_string(&root, "s.yml", text, strlen(text), &err) == 0);
	if (!root)
		return;
	scope_init(&s);
	CHECK(s.n == 0);
	CHECK(scope_get(&s, "a") == NULL);

	scope_set(&s, "x", one);
	scope_set(&s, "y", two);
	CHECK(scope_get(&s, "x") == one);
	CHECK(scope_get(&s, "y") == two);
	scope_set(&s, "x", two); /* later set replaces earlier, in place */
	CHECK(s.n == 2);
	CHECK(scope_get(&s, "x") == two);
	CHECK_STR(s.names[0], "x");
	CHECK_STR(s.names[1], "y");

	/* a map sets each key; later layers win */
	scope_set(&s, "a", one);
	scope_set_map(&s, root);
	CHECK(s.n == 5);
	CHECK(scope_get(&s, "a") == node_get(root, "a"));
	CHECK_STR(scope_get(&s, "a")->scalar, "from-map");
	CHECK(scope_get(&s, "b") == node_get(root, "b"));
	CHECK(scope_get(&s, "c")->kind == NODE_MAP);
	CHECK_STR(s.names[2], "a"); /* position kept */
	scope_set_map(&s, NULL);
	scope_set_map(&s, node_get(root, "a")); /* not a map: ignored */
	CHECK(s.n == 5);

	/* owned values are freed when replaced and on release (valgrind checks) */
	scope_set_str(&s, "server_name", "app1");
	CHECK_STR(scope_get(&s, "server_name")->scalar, "app1");
	scope_set_str(&s, "server_name", "app2");
	CHECK_STR(scope_get(&s, "server_name")->scalar, "app2");
	scope_set_owned(&s, "server_name", node_new_scalar("app3", NULL));
	CHECK_STR(scope_get(&s, "server_name")->scalar, "app3");
	scope_set(&s, "server_name", one); /* owned replaced by borrowed */
	CHECK(scope_get(&s, "server_name") == one);
	scope_set_str(&s, "z", "last");
	CHECK(s.n == 7);

	scope_init(&copy);
	scope_set_str(&copy, "x", "mine");
	scope_copy(&copy, &s);
	CHECK(copy.n == 7);
	CHECK(scope_get(&copy, "x") == two);
	CHECK(scope_get(&copy, "z") == scope_get(&s, "z")); /* borrowed */
	scope_release(&copy);
	CHECK(copy.n == 0);
	CHECK_STR(scope_get(&s, "z")->scalar, "last"); /* still owned by s */

	scope_release(&s);
	CHECK(s.n == 0);
	CHECK(scope_get(&s, "x") == NULL);
	node_free(root);
	node_free(one);
	node_free(two);

	/* many names: each set once, then replaced, each found */
	{
		struct scope big;
		char name[32];
		int ok = 0;

		scope_init(&big);
		for (int k = 0; k < 20000; k++) {
			snprintf(name, sizeof(name), "v%d", k);
			scope_set_str(&big, name, "first");
		}
		for (int k = 0; k < 20000; k += 2) {
			snprintf(name, sizeof(name), "v%d", k);
			scope_set_str(&big, name, "second");
		}
		CHECK(big.n == 20000);
		for (int k = 0; k < 20000; k++) {
			const struct node *v;

			snprintf(name, sizeof(name), "v%d", k);
			v = scope_get(&big, name);
			ok += v && !strcmp(v->scalar, k % 2 ? "first" : "second");
		}
		CHECK(ok == 20000);
		CHECK(scope_get(&big, "v20000") == NULL);
		scope_release(&big);
	}
}

/* ---- inventory: a valid file ------------------------------------------ */

static void test_valid(void)
{
	static const char text[] = "# shop inventory\n" /* 1 */
	                           "project: shop\n" /* 2 */
	                           "ssh:\n" /* 3 */
	                           "  private_key: keys/id_test\n" /* 4 */
	                           "vars:\n" /* 5 */
	                           "  domain: example.org\n" /* 6 */
	                           "  ports: [22, 80]\n" /* 7 */
	                           "secrets:\n" /* 8 */
	                           "  db_password: env:PV_TEST_DB\n" /* 9 */
	                           "providers:\n" /* 10 */
	                           "  local: { subnet: 10.213.7.0/24 }\n" /* 11 */
	                           "layouts:\n" /* 12 */
	                           "  phase1:\n" /* 13 */
	                           "    vars:\n" /* 14 */
	                           "      tier: web\n" /* 15 */
	                           "    servers:\n" /* 16 */
	                           "      app1:\n" /* 17 */
	                           "        roles: [base, ufw]\n" /* 18 */
	                           "        vars:\n" /* 19 */
	                           "          http_port: 8080\n" /* 20 */
	                           "      db1:\n" /* 21 */
	                           "        roles:\n" /* 22 */
	                           "          - base\n" /* 23 */
	                           "          - postgres\n" /* 24 */
	                           "  phase2:\n" /* 25 */
	                           "    provider: static\n" /* 26 */
	                           "    servers:\n" /* 27 */
	                           "      web1:\n" /* 28 */
	                           "        roles: [base]\n" /* 29 */
	                           "        address: 192.0.2.10\n"; /* 30 */
	struct loaded l;
	const struct inventory *inv;
	const struct inv_layout *p1, *p2;
	const struct inv_server *s;
	const char *f;
	char *want;

	load(&l, text);
	CHECK(l.rc == 0);
	CHECK(l.d.n == 0);
	for (size_t i = 0; i < l.d.n; i++)
		printf("  diag: %s\n", l.d.msgs[i]);
	if (l.rc != 0 || !l.inv) {
		unload(&l);
		return;
	}
	inv = l.inv;
	f = pv_intern(l.path);
	CHECK_STR(inv->path, l.path);
	{
		char *real = realpath("/tmp", NULL);

		CHECK_STR(inv->dir, real);
		want = pv_path_join(real, "keys/id_test"); /* relative: from the inventory's dir */
		CHECK_STR(inv->ssh_private_key, want);
		free(want);
		free(real);
	}
	CHECK_STR(inv->project, "shop");
	CHECK_STR(inv->ssh_user, "admin");
	CHECK(inv->ssh_port == 22);
	CHECK(inv->root && inv->root->kind == NODE_MAP);

	/* global vars */
	CHECK(inv->vars && inv->vars->kind == NODE_MAP && inv->vars->n == 2);
	CHECK_STR(node_get(inv->vars, "domain")->scalar, "example.org");
	CHECK(node_get(inv->vars, "ports")->kind == NODE_SEQ);
	CHECK(node_get(inv->vars, "ports")->n == 2);
	CHECK(pos_is(node_key_pos(inv->vars, "ports"), f, 7, 3));

	/* secrets and providers are kept as maps */
	CHECK(inv->secrets && inv->secrets->n == 1);
	CHECK_STR(node_get(inv->secrets, "db_password")->scalar, "env:PV_TEST_DB");
	CHECK(inventory_provider(inv, "local") != NULL);
	CHECK_STR(node_get(inventory_provider(inv, "local"), "subnet")->scalar, "10.213.7.0/24");
	CHECK(inventory_provider(inv, "static") == NULL);
	CHECK(inventory_provider(NULL, "local") == NULL);

	/* layouts in order */
	CHECK(inv->n_layouts == 2);
	if (inv->n_layouts != 2) {
		unload(&l);
		return;
	}
	p1 = &inv->layouts[0];
	p2 = &inv->layouts[1];
	CHECK_STR(p1->name, "phase1");
	CHECK_STR(p2->name, "phase2");
	CHECK(pos_is(p1->pos, f, 13, 3));
	CHECK(pos_is(p2->pos, f, 25, 3));
	CHECK(inventory_layout(inv, "phase2") == p2);
	CHECK(inventory_layout(inv, "phase3") == NULL);
	CHECK(inventory_layout(inv, NULL) == NULL);

	/* provider: default "local" at the layout's key, or as given */
	CHECK_STR(p1->provider, "local");
	CHECK(pos_is(p1->provider_pos, f, 13, 3));
	CHECK_STR(p2->provider, "static");
	CHECK(pos_is(p2->provider_pos, f, 26, 15));

	/* layout vars */
	CHECK(p1->vars && p1->vars->kind == NODE_MAP);
	CHECK_STR(node_get(p1->vars, "tier")->scalar, "web");
	CHECK(p2->vars == NULL);
	CHECK(p1->node && p1->node->kind == NODE_MAP);

	/* servers in order, roles with their positions */
	CHECK(p1->n_servers == 2);
	CHECK(p2->n_servers == 1);
	if (p1->n_servers == 2) {
		s = &p1->servers[0];
		CHECK_STR(s->name, "app1");
		CHECK(pos_is(s->pos, f, 17, 7));
		CHECK(s->n_roles == 2);
		if (s->n_roles == 2) {
			CHECK_STR(s->roles[0], "base");
			CHECK_STR(s->roles[1], "ufw");
			CHECK(pos_is(s->role_pos[0], f, 18, 17));
			CHECK(pos_is(s->role_pos[1], f, 18, 23));
		}
		CHECK(s->vars && s->vars->kind == NODE_MAP);
		CHECK_STR(node_get(s->vars, "http_port")->scalar, "8080");
		CHECK(s->node && node_get(s->node, "roles") != NULL);

		s = &p1->servers[1];
		CHECK_STR(s->name, "db1");
		CHECK(pos_is(s->pos, f, 21, 7));
		CHECK(s->n_roles == 2);
		if (s->n_roles == 2) {
			CHECK_STR(s->roles[0], "base");
			CHECK_STR(s->roles[1], "postgres");
			CHECK(pos_is(s->role_pos[0], f, 23, 13));
			CHECK(pos_is(s->role_pos[1], f, 24, 13));
		}
		CHECK(s->vars == NULL);
		CHECK(layout_server(p1, "db1") == s);
	}
	CHECK(layout_server(p1, "web1") == NULL);
	CHECK(layout_server(NULL, "web1") == NULL);
	if (p2->n_servers == 1) {
		s = &p2->servers[0];
		CHECK_STR(s->name, "web1");
		CHECK(s->n_roles == 1);
		CHECK_STR(s->n_roles ? s->roles[0] : NULL, "base");
		CHECK(s->n_roles && pos_is(s->role_pos[0], f, 29, 17));
		CHECK_STR(node_get(s->node, "address")->scalar, "192.0.2.10");
		CHECK(layout_server(p2, "web1") == s);
	}
	unload(&l);
}

static void test_valid_ssh(void)
{
	static const char text[] = "project: a-1\n"
	                           "ssh: {user: deploy, port: 2222, private_key: ~/.ssh/id_pv}\n"
	                           "layouts:\n"
	                           "  p1:\n"
	                           "    servers:\n"
	                           "      abcdefghijklmnopqrstuvwxyz01234: {roles: [base]}\n";
	const char *old = getenv("HOME");
	char *saved = old ? xstrdup(old) : NULL;
	struct loaded l;

	setenv("HOME", "/home/pvtest", 1);
	load(&l, text);
	CHECK(l.rc == 0);
	for (size_t i = 0; i < l.d.n; i++)
		printf("  diag: %s\n", l.d.msgs[i]);
	if (l.inv) {
		CHECK_STR(l.inv->project, "a-1");
		CHECK_STR(l.inv->ssh_user, "deploy");
		CHECK(l.inv->ssh_port == 2222);
		CHECK_STR(l.inv->ssh_private_key, "/home/pvtest/.ssh/id_pv");
		CHECK(l.inv->vars == NULL);
		CHECK(l.inv->secrets == NULL);
		CHECK(l.inv->providers == NULL);
		CHECK(l.inv->n_layouts == 1);
		CHECK(l.inv->layouts[0].n_servers == 1);
		CHECK_STR(l.inv->layouts[0].servers[0].name, "abcdefghijklmnopqrstuvwxyz01234");
	}
	unload(&l);
	if (saved) {
		setenv("HOME", saved, 1);
		free(saved);
	} else {
		unsetenv("HOME");
	}

	/* no ssh section: defaults, and no private key */
	load(&l, "project: shop\nlayouts: {p1: {servers: {app1: {roles: [base]}}}}\n");
	CHECK(l.rc == 0);
	if (l.inv) {
		CHECK_STR(l.inv->ssh_user, "admin");
		CHECK(l.inv->ssh_port == 22);
		CHECK(l.inv->ssh_private_key == NULL);
		CHECK_STR(l.inv->layouts[0].provider, "local");
	}
	unload(&l);
}

/* ---- inventory: one problem at a time ---------------------------------- */

#define SERVERS_HEAD "project: shop\nlayouts:\n  p1:\n    servers:\n"

static void test_unknown_keys(void)
{
	/* a misspelled required key: only the did-you-mean, no "missing key 'roles'" */
	want_only(SERVERS_HEAD "      app1:\n"
	                       "        rols: [base]\n",
	          "6:9: unknown key 'rols' in server 'app1' (did you mean 'roles'?)");
	want_only("project: shop\n"
	          "layout:\n"
	          "  p1: {servers: {app1: {roles: [base]}}}\n",
	          "2:1: unknown key 'layout' in the inventory (did you mean 'layouts'?)");
	want_only("projet: shop\n"
	          "layouts: {p1: {servers: {app1: {roles: [base]}}}}\n",
	          "1:1: unknown key 'projet' in the inventory (did you mean 'project'?)");
	want_only("project: shop\n"
	          "ssh:\n"
	          "  usr: deploy\n"
	          "layouts: {p1: {servers: {app1: {roles: [base]}}}}\n",
	          "3:3: unknown key 'usr' in 'ssh' (did you mean 'user'?)");
	want_only("project: shop\n"
	          "layouts:\n"
	          "  p1:\n"
	          "    server:\n"
	          "      app1: {roles: [base]}\n",
	          "4:5: unknown key 'server' in layout 'p1' (did you mean 'servers'?)");
	want_only(SERVERS_HEAD "      app1:\n"
	                       "        roles: [base]\n"
	                       "        colour: blue\n",
	          "7:9: unknown key 'colour' in server 'app1'");
}

static void test_missing_keys(void)
{
	want_only("layouts: {p1: {servers: {app1: {roles: [base]}}}}\n",
	          "1:1: missing key 'project' in the inventory");
	want_only("# nothing but\n# comments\nproject: shop\n",
	          "3:1: missing key 'layouts' in the inventory");
	want_only("project: shop\nlayouts:\n  p1:\n    provider: local\n",
	          "3:3: missing key 'servers' in layout 'p1'");
	want_only(SERVERS_HEAD "      app1:\n        vars: {a: 1}\n",
	          "5:7: missing key 'roles' in server 'app1'");
	want_only(SERVERS_HEAD "      app1:\n", "5:7: missing key 'roles' in server 'app1'");
	want_only("project: shop\nlayouts: {}\n", "2:10: 'layouts' must name at least one layout");
	want_only("project: shop\nlayouts:\n  p1:\n    servers: {}\n",
	          "4:14: 'servers' in layout 'p1' must name at least one server");
}

static void test_wrong_types(void)
{
	want_only("project: shop\n"
	          "ssh:\n"
	          "  port: twenty-two\n"
	          "layouts: {p1: {servers: {app1: {roles: [base]}}}}\n",
	          "3:9: 'port' in 'ssh' must be an integer, not 'twenty-two'");
	want_only("project: shop\n"
	          "ssh:\n"
	          "  port: \"22\"\n"
	          "layouts: {p1: {servers: {app1: {roles: [base]}}}}\n",
	          "3:9: 'port' in 'ssh' must be an integer, not the quoted string '22'");
	want_only("project: shop\n"
	          "ssh: {port: 0}\n"
	          "layouts: {p1: {servers: {app1: {roles: [base]}}}}\n",
	          "2:13: 'port' in 'ssh' must be between 1 and 65535, not 0");
	want_only("project: shop\n"
	          "ssh: {port: 65536}\n"
	          "layouts: {p1: {servers: {app1: {roles: [base]}}}}\n",
	          "2:13: 'port' in 'ssh' must be between 1 and 65535, not 65536");
	want_only("project: shop\n"
	          "ssh: [user]\n"
	          "layouts: {p1: {servers: {app1: {roles: [base]}}}}\n",
	          "2:6: 'ssh' must be a mapping, not a list");
	want_only("project: shop\n"
	          "vars: 42\n"
	          "layouts: {p1: {servers: {app1: {roles: [base]}}}}\n",
	          "2:7: 'vars' must be a mapping, not '42'");
	want_only("project: shop\n"
	          "layouts: [p1]\n",
	          "2:10: 'layouts' must be a mapping, not a list");
	want_only("project: shop\nlayouts:\n  p1: phase-one\n",
	          "3:7: layout 'p1' must be a mapping, not 'phase-one'");
	want_only("project: shop\nlayouts:\n  p1:\n    servers: [app1]\n",
	          "4:14: 'servers' in layout 'p1' must be a mapping, not a list");
	want_only(SERVERS_HEAD "      app1: [base]\n",
	          "5:13: server 'app1' must be a mapping, not a list");
	want_only(SERVERS_HEAD "      app1:\n        roles: [base]\n        vars: [a]\n",
	          "7:15: 'vars' in server 'app1' must be a mapping, not a list");
	want_only(SERVERS_HEAD "      app1:\n        roles: {base: yes}\n",
	          "6:16: 'roles' in server 'app1' must be a list of role names, not a mapping");
	want_only(SERVERS_HEAD "      app1:\n        roles: [base, [ufw]]\n",
	          "6:23: 'roles' in server 'app1' must be a list of role names, not a list "
	          "containing a list");
	want_only(SERVERS_HEAD "      app1:\n        roles: [base, 42]\n",
	          "6:23: 'roles' in server 'app1' must be a list of role names, not a list "
	          "containing '42'");
	want_only("- project\n- shop\n", "1:1: the inventory must be a mapping, not a list");
	want_only("project: shop\n"
	          "layouts:\n"
	          "  p1:\n"
	          "    provider: hetzer\n"
	          "    servers: {app1: {roles: [base]}}\n",
	          "4:15: unknown provider 'hetzer' in layout 'p1' (did you mean 'hetzner'?)");
	want_only("project: shop\n"
	          "layouts:\n"
	          "  p1:\n"
	          "    provider: aws\n"
	          "    servers: {app1: {roles: [base]}}\n",
	          "4:15: unknown provider 'aws' in layout 'p1' (providers: local, vm, static, "
	          "hetzner, digitalocean)");
	want_only("project: shop\n"
	          "providers:\n"
	          "  locl: {}\n"
	          "layouts: {p1: {servers: {app1: {roles: [base]}}}}\n",
	          "3:3: unknown provider 'locl' in 'providers' (did you mean 'local'?)");
	want_only("project: shop\n"
	          "providers:\n"
	          "  local: 10.0.0.0/24\n"
	          "layouts: {p1: {servers: {app1: {roles: [base]}}}}\n",
	          "3:10: provider 'local' must be a mapping, not '10.0.0.0/24'");
}

static void test_bad_names(void)
{
	static const struct {
		const char *yaml, *shown;
	} servers[] = {
	    {"\"x'; rm -rf / #\"", "x'; rm -rf / #"},
	    {"App1", "App1"},
	    {"1app", "1app"},
	    {"app_1", "app_1"},
	    {"app.example.org", "app.example.org"},
	    {"\"\"", ""},
	    {"\"a\\nb\"", "a?b"}, /* control characters are not echoed */
	    {"abcdefghijklmnopqrstuvwxyz012345", "abcdefghijklmnopqrstuvwxyz012345"}, /* 32 */
	};
	static const struct {
		const char *yaml, *shown;
	} users[] = {
	    {"\"x'; rm -rf / #\"", "'x'; rm -rf / #'"},
	    {"\"root$(id)\"", "'root$(id)'"},
	    {"Admin", "'Admin'"},
	    {"\"-oProxyCommand=sh\"", "'-oProxyCommand=sh'"},
	    {"\"a b\"", "'a b'"},
	    {"\"\"", "''"},
	    {"[admin]", "a list"},
	    {"abcdefghijklmnopqrstuvwxyzabcdefg", "'abcdefghijklmnopqrstuvwxyzabcdefg'"}, /* 33 */
	};

	for (size_t i = 0; i < PV_ARRAY_SIZE(servers); i++) {
		char *text =
		    xasprintf(SERVERS_HEAD "      %s:\n        roles: [base]\n", servers[i].yaml);
		char *want =
		    xasprintf("5:7: invalid server name '%s' in layout 'p1': use lowercase "
		              "letters, digits and '-', starting with a letter, at most 31 "
		              "characters",
		              servers[i].shown);

		want_only(text, want);
		free(text);
		free(want);
	}
	for (size_t i = 0; i < PV_ARRAY_SIZE(users); i++) {
		char *text = xasprintf("project: shop\n"
		                       "ssh:\n"
		                       "  user: %s\n"
		                       "layouts: {p1: {servers: {app1: {roles: [base]}}}}\n",
		                       users[i].yaml);
		char *want = xasprintf("3:9: invalid user name %s in 'ssh': use lowercase letters, "
		                       "digits, '_' and '-', starting with a letter or '_'",
		                       users[i].shown);

		want_only(text, want);
		free(text);
		free(want);
	}
	want_only("project: Shop\nlayouts: {p1: {servers: {app1: {roles: [base]}}}}\n",
	          "1:10: invalid project name 'Shop': use lowercase letters, digits and '-', "
	          "starting with a letter, at most 24 characters");
	want_only("project: abcdefghijklmnopqrstuvwxy\n"
	          "layouts: {p1: {servers: {app1: {roles: [base]}}}}\n",
	          "1:10: invalid project name 'abcdefghijklmnopqrstuvwxy': use lowercase letters, "
	          "digits and '-', starting with a letter, at most 24 characters");
	want_only("project:\nlayouts: {p1: {servers: {app1: {roles: [base]}}}}\n",
	          "1:9: invalid project name nothing: use lowercase letters, digits and '-', "
	          "starting with a letter, at most 24 characters");
	want_only("project: shop\nlayouts:\n  Phase1: {servers: {app1: {roles: [base]}}}\n",
	          "3:3: invalid layout name 'Phase1': use lowercase letters, digits and '-', "
	          "starting with a letter, at most 31 characters");
	want_only("project: shop\n"
	          "vars:\n"
	          "  ok_name: 1\n"
	          "  \"bad name\": 2\n"
	          "layouts: {p1: {servers: {app1: {roles: [base]}}}}\n",
	          "4:3: invalid variable name 'bad name' in 'vars': use letters, digits and '_', "
	          "starting with a letter or '_'");
	want_only(SERVERS_HEAD "      app1:\n        roles: [base]\n        vars: {9lives: 1}\n",
	          "7:16: invalid variable name '9lives' in server 'app1': use letters, digits and "
	          "'_', starting with a letter or '_'");
	/* a template could not name it: {{ http-port }} reads as http minus port */
	want_only(SERVERS_HEAD
	          "      app1:\n        roles: [base]\n        vars: {http-port: 80}\n",
	          "7:16: invalid variable name 'http-port' in server 'app1': use letters, digits "
	          "and '_', starting with a letter or '_'");
}

static void test_roles(void)
{
	want_only(SERVERS_HEAD "      app1:\n        roles: []\n",
	          "6:16: 'roles' in server 'app1' must list at least one role");
	want_only(SERVERS_HEAD "      app1:\n        roles:\n",
	          "6:15: 'roles' in server 'app1' must list at least one role");
	want_only(SERVERS_HEAD "      app1:\n        roles: [base, ufw, base]\n",
	          "6:28: role 'base' is listed twice in server 'app1'");
	want_only(SERVERS_HEAD "      app1:\n"
	                       "        roles:\n"
	                       "          - base\n"
	                       "          - ufw\n"
	                       "          - ufw\n",
	          "9:13: role 'ufw' is listed twice in server 'app1'");
	/* one role is still a list: a string is refused, saying how to write it */
	want_only(SERVERS_HEAD "      app1:\n        roles: base\n",
	          "6:16: 'roles' in server 'app1' must be a list of role names, not a string "
	          "(write [base])");
	want_only(SERVERS_HEAD "      app1:\n        roles: [base, \"\"]\n",
	          "6:23: 'roles' in server 'app1' must be a list of role names, not a list "
	          "containing ''");
}

static void test_broken_yaml(void)
{
	struct loaded l;

	/* unclosed flow sequence: one diagnostic, with a position */
	load(&l, SERVERS_HEAD "      app1:\n        roles: [base, ufw\n      app2:\n"
	                      "        roles: [base]\n");
	CHECK(l.rc == -1);
	CHECK(l.inv == NULL);
	CHECK(l.d.n == 1);
	want_diag(&l, 0, "7:11: did not find expected ',' or ']' while parsing a flow sequence");
	unload(&l);

	want_only(SERVERS_HEAD "      app1:\n        roles: [base, ufw\n",
	          "7:1: did not find expected ',' or ']' while parsing a flow sequence");
	want_only("project: shop\n  layouts: x\n",
	          "2:10: mapping values are not allowed in this context");
	want_only("project: shop\nproject: other\n", "2:1: duplicate key 'project'");
	want_only("project: shop\n---\nproject: other\n",
	          "2:1: more than one YAML document is not supported");

	/* anchors and aliases */
	want_only("project: shop\n"
	          "layouts:\n"
	          "  p1:\n"
	          "    servers:\n"
	          "      app1: &srv {roles: [base]}\n"
	          "      app2: *srv\n",
	          "5:13: anchors and aliases are not supported");
	want_only("project: shop\n"
	          "vars: {a: 1}\n"
	          "layouts:\n"
	          "  p1:\n"
	          "    servers:\n"
	          "      app2: *srv\n",
	          "6:13: anchors and aliases are not supported");

	/* a file that cannot be read: one diagnostic naming it */
	diags_init(&l.d);
	l.inv = (struct inventory *)1;
	CHECK(inventory_load(&l.inv, "/nonexistent/pv-inventory.yml", &l.d) == -1);
	CHECK(l.inv == NULL);
	CHECK(l.d.n == 1);
	CHECK_HAS(l.d.n ? l.d.msgs[0] : NULL, "'/nonexistent/pv-inventory.yml'");
	diags_release(&l.d);
}

static void test_bad_secrets(void)
{
	struct loaded l;

	want_only("project: shop\n"
	          "secrets:\n"
	          "  db_password: hunter2\n"
	          "layouts: {p1: {servers: {app1: {roles: [base]}}}}\n",
	          "3:16: invalid reference for secret 'db_password': use 'env:NAME' or "
	          "'file:PATH'");
	/* the value itself is never echoed: it may be the secret, put there by mistake */
	load(&l, "project: shop\n"
	         "secrets:\n"
	         "  a: hunter2\n"
	         "  b: \"env:\"\n"
	         "  c: env:1X\n"
	         "  d: env:A-B\n"
	         "  e: \"file:\"\n"
	         "  f: [env:X]\n"
	         "  g: ENV:X\n"
	         "  h: env:OK\n"
	         "  i: file:~/token\n"
	         "layouts: {p1: {servers: {app1: {roles: [base]}}}}\n");
	CHECK(l.rc == -1);
	CHECK(l.d.n == 7);
	want_diag(&l, 0, "3:6: invalid reference for secret 'a': use 'env:NAME' or 'file:PATH'");
	want_diag(&l, 1, "4:6: invalid reference for secret 'b': use 'env:NAME' or 'file:PATH'");
	want_diag(&l, 2, "5:6: invalid reference for secret 'c': use 'env:NAME' or 'file:PATH'");
	want_diag(&l, 3, "6:6: invalid reference for secret 'd': use 'env:NAME' or 'file:PATH'");
	want_diag(&l, 4, "7:6: invalid reference for secret 'e': use 'env:NAME' or 'file:PATH'");
	want_diag(&l, 5, "8:6: invalid reference for secret 'f': use 'env:NAME' or 'file:PATH'");
	want_diag(&l, 6, "9:6: invalid reference for secret 'g': use 'env:NAME' or 'file:PATH'");
	for (size_t i = 0; i < l.d.n; i++) {
		CHECK(strstr(l.d.msgs[i], "hunter2") == NULL);
		CHECK(strstr(l.d.msgs[i], "1X") == NULL);
	}
	unload(&l);

	want_only("project: shop\n"
	          "vars: {token: x}\n"
	          "secrets:\n"
	          "  token: env:TOKEN\n"
	          "layouts: {p1: {servers: {app1: {roles: [base]}}}}\n",
	          "4:3: secret 'token' has the same name as a variable (line 2)");
	want_only("project: shop\n"
	          "secrets:\n"
	          "  \"my token\": env:TOKEN\n"
	          "layouts: {p1: {servers: {app1: {roles: [base]}}}}\n",
	          "3:3: invalid secret name 'my token': use letters, digits and '_', starting "
	          "with a letter or '_'");
}

/* ---- inventory: many problems at once ---------------------------------- */

static void test_many_problems(void)
{
	static const char text[] = "ssh:\n" /* 1 */
	                           "  user: \"x'; rm -rf / #\"\n" /* 2 */
	                           "  port: twenty-two\n" /* 3 */
	                           "layouts:\n" /* 4 */
	                           "  p1:\n" /* 5 */
	                           "    servers:\n" /* 6 */
	                           "      \"x'; rm -rf / #\":\n" /* 7 */
	                           "        roles: [base]\n" /* 8 */
	                           "      app1:\n" /* 9 */
	                           "        rols: [base]\n" /* 10 */
	                           "      app2:\n" /* 11 */
	                           "        roles: [base, ufw, base]\n" /* 12 */
	                           "      app3:\n" /* 13 */
	                           "        roles: []\n" /* 14 */
	                           "  p2:\n" /* 15 */
	                           "    servers: {}\n" /* 16 */
	                           "secrets:\n" /* 17 */
	                           "  db: hunter2\n"; /* 18 */
	struct loaded l;

	load(&l, text);
	CHECK(l.rc == -1);
	CHECK(l.inv == NULL);
	CHECK(l.d.n == 9);
	/* in file order, whatever order they were found in */
	want_diag(&l, 0, "1:1: missing key 'project' in the inventory");
	want_diag(&l, 1,
	          "2:9: invalid user name 'x'; rm -rf / #' in 'ssh': use lowercase "
	          "letters, digits, '_' and '-', starting with a letter or '_'");
	want_diag(&l, 2, "3:9: 'port' in 'ssh' must be an integer, not 'twenty-two'");
	want_diag(&l, 3,
	          "7:7: invalid server name 'x'; rm -rf / #' in layout 'p1': use "
	          "lowercase letters, digits and '-', starting with a letter, at most 31 "
	          "characters");
	want_diag(&l, 4, "10:9: unknown key 'rols' in server 'app1' (did you mean 'roles'?)");
	want_diag(&l, 5, "12:28: role 'base' is listed twice in server 'app2'");
	want_diag(&l, 6, "14:16: 'roles' in server 'app3' must list at least one role");
	want_diag(&l, 7, "16:14: 'servers' in layout 'p2' must name at least one server");
	want_diag(&l, 8,
	          "18:7: invalid reference for secret 'db': use 'env:NAME' or "
	          "'file:PATH'");
	for (size_t i = 0; i < l.d.n; i++)
		CHECK(strstr(l.d.msgs[i], "hunter2") == NULL);
	unload(&l);

	/* diagnostics already in d are kept; the new ones are added after them */
	{
		struct diags d;
		struct inventory *inv = NULL;
		const char *path = write_tmp("project: shop\nlayouts: {}\nbogus: 1\n");

		diags_init(&d);
		diags_add(&d, NULL, "earlier message");
		CHECK(inventory_load(&inv, path, &d) == -1);
		CHECK(d.n == 3);
		CHECK_STR(d.msgs[0], "earlier message");
		CHECK(d.n == 3 && strstr(d.msgs[1], ":2:10: 'layouts' must name at least one"));
		CHECK(d.n == 3 && strstr(d.msgs[2], ":3:1: unknown key 'bogus' in the inventory"));
		diags_release(&d);
	}
}

/* ---- secrets ---------------------------------------------------------- */

static void test_secret_ref_valid(void)
{
	CHECK(secret_ref_valid("env:DB_PASSWORD"));
	CHECK(secret_ref_valid("env:_x1"));
	CHECK(secret_ref_valid("file:/run/secrets/db"));
	CHECK(secret_ref_valid("file:relative/path"));
	CHECK(secret_ref_valid("file:~/token"));
	CHECK(!secret_ref_valid("env:"));
	CHECK(!secret_ref_valid("env:1X"));
	CHECK(!secret_ref_valid("env:A-B"));
	CHECK(!secret_ref_valid("env:A B"));
	CHECK(!secret_ref_valid("env:$(id)"));
	CHECK(!secret_ref_valid("env:\xc3\xa9"));
	CHECK(!secret_ref_valid("file:"));
	CHECK(!secret_ref_valid("ENV:X"));
	CHECK(!secret_ref_valid("env"));
	CHECK(!secret_ref_valid("hunter2"));
	CHECK(!secret_ref_valid(""));
	CHECK(!secret_ref_valid(NULL));
}

static void test_inventory_secret(void)
{
	const char *abs = write_tmp("tok-123\n");
	const char *two = write_tmp("line1\nline2\n\n");
	const char *crlf = write_tmp("crlf-value\r\n");
	const char *bare = write_tmp("no-newline");
	const char *empty = write_tmp("\n");
	const char *rel = strrchr(abs, '/') + 1;
	char *text = xasprintf("project: shop\n" /* 1 */
	                       "secrets:\n" /* 2 */
	                       "  db_password: env:PV_TEST_DB\n" /* 3 */
	                       "  missing: env:PV_TEST_UNSET_VAR\n" /* 4 */
	                       "  blank: env:PV_TEST_BLANK\n" /* 5 */
	                       "  api_token: file:%s\n" /* 6 */
	                       "  rel_token: file:%s\n" /* 7 */
	                       "  two_lines: file:%s\n" /* 8 */
	                       "  crlf: file:%s\n" /* 9 */
	                       "  bare: file:%s\n" /* 10 */
	                       "  empty: file:%s\n" /* 11 */
	                       "  nofile: file:/nonexistent/pv-secret\n" /* 12 */
	                       "layouts: {p1: {servers: {app1: {roles: [base]}}}}\n",
	                       abs, rel, two, crlf, bare, empty);
	struct pv_error err;
	struct loaded l;
	struct node *n = NULL;
	char *want, *red;

	setenv("PV_TEST_DB", "s3cret-value", 1);
	setenv("PV_TEST_BLANK", "", 1);
	unsetenv("PV_TEST_UNSET_VAR");
	load(&l, text);
	free(text);
	CHECK(l.rc == 0);
	for (size_t i = 0; i < l.d.n; i++)
		printf("  diag: %s\n", l.d.msgs[i]);
	if (!l.inv) {
		unload(&l);
		return;
	}

	/* env: the variable's value, a secret, registered for redaction */
	CHECK(inventory_secret(&n, l.inv, "db_password", &err) == 0);
	CHECK(n && n->kind == NODE_SCALAR && n->secret);
	CHECK(n && n->quoted);
	CHECK_STR(n ? n->scalar : NULL, "s3cret-value");
	CHECK(n && pos_is(n->pos, pv_intern(l.path), 3, 16));
	node_free(n);
	red = report_redact("password=s3cret-value;");
	CHECK_STR(red, "password=[secret];");
	free(red);

	/* a missing or empty variable is an error naming the reference */
	n = (struct node *)1;
	want = xasprintf("%s:4:12: secret 'env:PV_TEST_UNSET_VAR' is not set", l.path);
	CHECK(inventory_secret(&n, l.inv, "missing", &err) == -1);
	CHECK(n == NULL);
	CHECK_STR(err.msg, want);
	free(want);
	want = xasprintf("%s:5:10: secret 'env:PV_TEST_BLANK' is not set", l.path);
	CHECK(inventory_secret(&n, l.inv, "blank", &err) == -1);
	CHECK_STR(err.msg, want);
	free(want);

	/* file: the content without one trailing newline */
	CHECK(inventory_secret(&n, l.inv, "api_token", &err) == 0);
	CHECK(n && n->secret);
	CHECK_STR(n ? n->scalar : NULL, "tok-123");
	node_free(n);
	CHECK(inventory_secret(&n, l.inv, "rel_token", &err) == 0); /* next to the inventory */
	CHECK_STR(n ? n->scalar : NULL, "tok-123");
	node_free(n);
	CHECK(inventory_secret(&n, l.inv, "two_lines", &err) == 0);
	CHECK_STR(n ? n->scalar : NULL, "line1\nline2\n"); /* only one newline dropped */
	node_free(n);
	CHECK(inventory_secret(&n, l.inv, "crlf", &err) == 0);
	CHECK_STR(n ? n->scalar : NULL, "crlf-value");
	node_free(n);
	CHECK(inventory_secret(&n, l.inv, "bare", &err) == 0);
	CHECK_STR(n ? n->scalar : NULL, "no-newline");
	node_free(n);
	want = xasprintf("%s:11:10: secret 'file:%s' is empty ('%s')", l.path, empty, empty);
	CHECK(inventory_secret(&n, l.inv, "empty", &err) == -1);
	CHECK_STR(err.msg, want);
	free(want);
	want = xasprintf("%s:12:11: secret 'file:/nonexistent/pv-secret': cannot open "
	                 "'/nonexistent/pv-secret'",
	                 l.path);
	CHECK(inventory_secret(&n, l.inv, "nofile", &err) == -1);
	CHECK(n == NULL);
	CHECK_HAS(err.msg, want);
	free(want);

	/* unknown names suggest the nearest */
	CHECK(inventory_secret(&n, l.inv, "db_pasword", &err) == -1);
	CHECK_STR(err.msg, "unknown secret 'db_pasword' (did you mean 'db_password'?)");
	CHECK(inventory_secret(&n, l.inv, "api_tokn", &err) == -1);
	CHECK_STR(err.msg, "unknown secret 'api_tokn' (did you mean 'api_token'?)");
	CHECK(inventory_secret(&n, l.inv, "zzz", &err) == -1);
	CHECK_STR(err.msg, "unknown secret 'zzz'");
	CHECK(inventory_secret(&n, NULL, "db_password", &err) == -1);
	CHECK_STR(err.msg, "unknown secret 'db_password'");
	CHECK(n == NULL);
	unload(&l);

	/* secret_ref_resolve on its own, with and without a position */
	{
		struct pos p = {pv_intern("/tmp/inv.yml"), 8, 9};
		char *v = NULL;

		CHECK(secret_ref_resolve(&v, "env:PV_TEST_DB", NULL, &err) == 0);
		CHECK_STR(v, "s3cret-value");
		pv_free_secret(v);
		CHECK(secret_ref_resolve(&v, "env:PV_TEST_UNSET_VAR", NULL, &err) == -1);
		CHECK(v == NULL);
		CHECK_STR(err.msg, "secret 'env:PV_TEST_UNSET_VAR' is not set");
		CHECK(secret_ref_resolve(&v, "hunter2", &p, &err) == -1);
		CHECK_STR(err.msg, "/tmp/inv.yml:8:9: invalid secret reference: use 'env:NAME' or "
		                   "'file:PATH'");
		CHECK(secret_ref_resolve(&v, rel, &p, &err) == -1); /* no env:/file: prefix */
		want = xasprintf("file:%s", rel);
		CHECK(secret_ref_resolve(&v, want, &p, &err) == 0); /* relative to /tmp */
		CHECK_STR(v, "tok-123");
		pv_free_secret(v);
		free(want);
	}
	unsetenv("PV_TEST_DB");
	unsetenv("PV_TEST_BLANK");
}

int main(void)
{
	RUN(test_diags_named);
	RUN(test_nearest);
	RUN(test_node_load);
	RUN(test_node_load_errors);
	RUN(test_node_limits);
	RUN(test_node_build);
	RUN(test_node_to_bool);
	RUN(test_node_to_int);
	RUN(test_node_to_str_and_keys);
	RUN(test_scope);
	RUN(test_valid);
	RUN(test_valid_ssh);
	RUN(test_unknown_keys);
	RUN(test_missing_keys);
	RUN(test_wrong_types);
	RUN(test_bad_names);
	RUN(test_roles);
	RUN(test_broken_yaml);
	RUN(test_bad_secrets);
	RUN(test_many_problems);
	RUN(test_secret_ref_valid);
	RUN(test_inventory_secret);
	remove_tmp_files();
	return check_done("inventory");
}
