/*
 * test-tplformat.c - every file format a template can write, against
 * hostile values: a value either renders inert for its context or is
 * refused with the template's position and the variable's name.  The
 * second half renders the project's own templates and roles with the
 * values of issue reports (pg_hba trust lines, sshd and Caddyfile
 * directives, command substitution in a role's shell command, ...).
 */
#include <dirent.h>
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

/* Render text in mode with the variables of vars_yaml; NULL and *err on refusal. */
static char *render_vars(const char *text, const char *file, enum tpl_mode mode,
                         const char *vars_yaml, struct pv_error *err)
{
	struct node *root = NULL;
	struct scope s;
	struct buf out = BUF_INIT;
	struct pos start = {file, 1, 1};
	char *res = NULL;

	if (node_load_string(&root, "vars.yml", vars_yaml, strlen(vars_yaml), err) < 0) {
		printf("  bad test variables: %s\n", err->msg);
		return NULL;
	}
	scope_init(&s);
	scope_set_map(&s, root);
	if (tpl_render(&out, text, &start, &s, mode, NULL, err) == 0)
		res = buf_detach(&out, NULL);
	else
		CHECK(out.len == 0);
	buf_release(&out);
	scope_release(&s);
	node_free(root);
	return res;
}

/* A YAML double-quoted scalar holding v (for the test's variables). */
static char *yq(const char *v)
{
	struct buf b = BUF_INIT;

	buf_addc(&b, '"');
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_addf(&b, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			buf_addf(&b, "\\x%02x", *p);
		else
			buf_addc(&b, (char)*p);
	}
	buf_addc(&b, '"');
	return buf_detach(&b, NULL);
}

/* Render text with v = value; want NULL: refused, with a message naming v and its position. */
static void want(enum tpl_mode mode, const char *text, const char *value, const char *wanted)
{
	struct pv_error err = {{0}};
	char *q = yq(value), *vars = xasprintf("v: %s\n", q);
	char *got = render_vars(text, "t.conf", mode, vars, &err);

	if (!wanted) {
		CHECK(got == NULL);
		if (got)
			printf("  rendered \"%s\" for %s\n", got, q);
		else
			CHECK_HAS(err.msg, "t.conf:");
		if (!got)
			CHECK_HAS(err.msg, "'v' (set at vars.yml:1:4)");
	} else {
		if (!got)
			printf("  refused %s: %s\n", q, err.msg);
		CHECK_STR(got, wanted);
	}
	free(got);
	free(vars);
	free(q);
}

/* The values every format is tried with. */
static const char *const hostile[] = {
    "a\nb", "a\rb", "a\vb", "a\"b", "$(id)", "`id`", "a\\b", "a#b", "a}b", "a{b", "%h", "a b",
};

/* Formats where none of the hostile values may appear outside quotes. */
static void test_bare_refused(void)
{
	/* exempt: values that are no syntax in that format (a word is a word) */
	static const struct {
		enum tpl_mode mode;
		const char *text;
		const char *exempt[6];
	} cases[] = {
	    {TPL_SSHD, "PermitRootLogin {{ v }}\n", {"$(id)", "`id`", "a}b", "a{b"}},
	    {TPL_CADDY, "{\n\temail {{ v }}\n}\n", {"$(id)", "%h"}},
	    {TPL_YAML, "key: {{ v }}\n", {NULL}},
	    {TPL_JSON, "{\"k\": {{ v }}}\n", {NULL}},
	    {TPL_PGHBA,
	     "host all all {{ v }}/32 scram-sha-256\n",
	     {"$(id)", "`id`", "a}b", "a{b", "%h"}},
	    {TPL_PGCONF, "port = {{ v }}\n", {NULL}},
	    {TPL_HAPROXY, "\toption httpchk GET {{ v }}\n", {"`id`", "a}b", "a{b", "%h"}},
	    {TPL_SYSTEMD, "ExecStart=/usr/bin/docker run {{ v }} /data\n", {NULL}},
	    {TPL_ENV, "KEY={{ v }}\n", {"a}b", "a{b", "%h"}},
	    {TPL_REDIS, "masteruser {{ v }}\n", {NULL}},
	};

	for (size_t i = 0; i < PV_ARRAY_SIZE(cases); i++) {
		for (size_t j = 0; j < PV_ARRAY_SIZE(hostile); j++) {
			bool exempt = false;

			for (size_t k = 0; k < 6 && cases[i].exempt[k]; k++)
				exempt |= strcmp(cases[i].exempt[k], hostile[j]) == 0;
			if (!exempt)
				want(cases[i].mode, cases[i].text, hostile[j], NULL);
		}
		/* and a plain word goes through unchanged */
		want(cases[i].mode, "{{ v }}", "web-1.example_2:5432/x", "web-1.example_2:5432/x");
	}
}

/* Line breaks and control characters are refused by every line-oriented format. */
static void test_control_refused(void)
{
	static const enum tpl_mode modes[] = {TPL_TEXT,   TPL_SSHD,    TPL_CADDY,   TPL_YAML,
	                                      TPL_JSON,   TPL_INI,     TPL_ENV,     TPL_PGHBA,
	                                      TPL_PGCONF, TPL_HAPROXY, TPL_SYSTEMD, TPL_REDIS};
	static const char *const texts[] = {"k = {{ v }}\n", "k: \"{{ v }}\"\n", "# {{ v }}\n",
	                                    "k '{{ v }}'\n", "{{ v | escape \"\\n\" }}"};

	for (size_t i = 0; i < PV_ARRAY_SIZE(modes); i++) {
		for (size_t j = 0; j < PV_ARRAY_SIZE(texts); j++) {
			want(modes[i], texts[j], "a\nb", NULL);
			want(modes[i], texts[j], "a\tb", NULL);
			want(modes[i], texts[j], "a\x7f", NULL);
		}
	}
	/* a list joined by a line break: the items are checked, the separator is the template's */
	{
		struct pv_error err = {{0}};
		char *got = render_vars("{{ l | join \"\\n\" }}", "t", TPL_TEXT,
		                        "l: [a, \"b\\nc\"]\n", &err);
		CHECK(got == NULL);
		if (!got)
			CHECK_HAS(err.msg, "'l' (set at vars.yml:1:8) holds a line break");
		free(got);
		got = render_vars("{{ l | join \"\\n\" }}", "t", TPL_TEXT, "l: [a, b]\n", &err);
		CHECK_STR(got, "a\nb");
		free(got);
	}
	/* only verbatim takes several lines (a certificate, a key) */
	want(TPL_VERBATIM, "{{ v }}", "-----BEGIN\nabc\n-----END\n", "-----BEGIN\nabc\n-----END\n");
}

/* Inside quotes a format that has escapes uses them. */
static void test_quoted(void)
{
	/* YAML and JSON double quotes: backslash and quote escaped */
	want(TPL_YAML, "k: \"{{ v }}\"", "a\"b\\c $(id) #x", "k: \"a\\\"b\\\\c $(id) #x\"");
	want(TPL_JSON, "{\"k\": \"{{ v }}\"}", "a\"}, \"x\": \"y",
	     "{\"k\": \"a\\\"}, \\\"x\\\": \\\"y\"}");
	/* YAML single quotes: a quote doubled */
	want(TPL_YAML, "k: '{{ v }}'", "it's # x", "k: 'it''s # x'");
	/* after a quoted string closes, the context is bare again */
	want(TPL_YAML, "k: \"a\\\"\" {{ v }}", "a b", NULL);
	/* env files: systemd's escapes inside double quotes, nothing bare */
	want(TPL_ENV, "K=\"{{ v }}\"", "a\"b\\c$d`e", "K=\"a\\\"b\\\\c\\$d\\`e\"");
	want(TPL_ENV, "K='{{ v }}'", "a'b", NULL);
	/* postgresql.conf: only plain words, in quotes or not */
	want(TPL_PGCONF, "listen_addresses = 'localhost,{{ v }}'", "10.0.0.5",
	     "listen_addresses = 'localhost,10.0.0.5'");
	want(TPL_PGCONF, "listen_addresses = 'localhost,{{ v }}'", "*' #", NULL);
	want(TPL_PGCONF, "primary_conninfo = 'host={{ v }} port=5432'", "10.0.0.5 sslmode=disable",
	     NULL);
	want(TPL_PGCONF, "archive_command = 'pgbackrest --stanza={{ v }} archive-push %p'", "a;id",
	     NULL);
	/* Caddy: a quoted value may hold blanks but no placeholder or quote */
	want(TPL_CADDY, "respond \"{{ v }}\"", "hello world", "respond \"hello world\"");
	want(TPL_CADDY, "respond \"{{ v }}\"", "{env.SECRET}", NULL);
	want(TPL_CADDY, "respond \"{{ v }}\"", "a\"b", "respond \"a\\\"b\"");
	/* systemd: blanks in a non-Exec setting are fine, specifiers and $ are not */
	want(TPL_SYSTEMD, "OnCalendar={{ v }}\n", "Sun *-*-* 02:00",
	     "OnCalendar=Sun *-*-* 02:00\n");
	want(TPL_SYSTEMD, "Description={{ v }}\n", "%h", NULL);
	want(TPL_SYSTEMD, "Environment=\"X={{ v }}\"\n", "$HOME", NULL);
	want(TPL_SYSTEMD, "ExecStart=/bin/echo \"{{ v }}\"\n", "a b", NULL);
	/* Redis: "..." with backslash escapes; '...' cannot carry a quote or backslash */
	want(TPL_REDIS, "masterauth \"{{ v }}\"\n", "a\"b\\c d #x",
	     "masterauth \"a\\\"b\\\\c d #x\"\n");
	want(TPL_REDIS, "masterauth '{{ v }}'\n", "it's", NULL);
	want(TPL_REDIS, "masterauth '{{ v }}'\n", "a\\'", NULL);
	want(TPL_REDIS, "masterauth '{{ v }}'\n", "a b\"", "masterauth 'a b\"'\n");
	/* '#' starts a comment only at the start of a line */
	want(TPL_REDIS, "dir /x{{ v }}\n", "#a", NULL);
	/* comments take anything but a line break */
	want(TPL_SSHD, "# {{ v }}\n", "x\" y #", "# x\" y #\n");
	/* a filter the template applied keeps its escaping; the line check stays */
	want(TPL_TEXT, "user = \"{{ v | escape \"\\\"\\\\\" }}\"", "a\"b", "user = \"a\\\"b\"");
	want(TPL_TEXT, "user = \"{{ v | escape \"\\\"\\\\\" }}\"", "a\nb", NULL);
	/* but an Exec line of a unit takes plain words whatever the filters */
	want(TPL_SYSTEMD, "ExecStart=/bin/x {{ v | sh }}\n", "a b", NULL);
}

static char scratch[] = "/tmp/test-tplformat-XXXXXX";

static bool exists_in_scratch(const char *name)
{
	char *p = xasprintf("%s/%s", scratch, name);
	bool yes = access(p, F_OK) == 0;

	free(p);
	return yes;
}

/* The shell value that must come out unchanged and run nothing. */
#define SH_EVIL "x$(:>m1)`:>m2`'\"\\ #}%h\n; :>m3 'y"

/* In shell, each context gets its own quoting; the script prints the value back. */
static void test_shell_contexts(void)
{
	static const struct {
		const char *text;
		const char *out; /* what the script prints, %s for the value */
	} cases[] = {
	    {"printf '[%s]' {{ v }}", "[%s]"},
	    {"printf '[%s]' \"{{ v }}\"", "[%s]"},
	    {"printf '[%s]' 'a{{ v }}b'", "[a%sb]"},
	    {"printf '[%s]' \"$(printf '%s' \"{{ v }}\")\"", "[%s]"},
	    {"printf '[%s]' \"$(printf '%s' {{ v }})\"", "[%s]"},
	    {"x=$( (printf '%s' '{{ v }}') ); printf '[%s]' \"$x\"", "[%s]"},
	    {"printf '[%s]' \"a$((1+1)){{ v }}\"", "[a2%s]"},
	    {"f() { printf '[%s]' \"http://{{ v }}:8008/$1\"; }; f p", "[http://%s:8008/p]"},
	};
	struct buf out = BUF_INIT;

	for (size_t i = 0; i < PV_ARRAY_SIZE(cases); i++) {
		struct pv_error err = {{0}};
		char *q = yq(SH_EVIL), *vars = xasprintf("v: %s\n", q);
		char *got = render_vars(cases[i].text, "t.sh", TPL_SHELL, vars, &err);
		char *wanted = xasprintf(cases[i].out, SH_EVIL);

		CHECK(got != NULL);
		if (!got)
			printf("  refused: %s\n", err.msg);
		buf_reset(&out);
		if (got && run_sh_in(got, scratch, false, &out) != 0)
			printf("  script failed: %s\n", got);
		if (got) {
			CHECK_STR(out.s, wanted);
			if (strcmp(out.s, wanted))
				printf("  script: %s\n", got);
		}
		CHECK(!exists_in_scratch("m1"));
		CHECK(!exists_in_scratch("m2"));
		CHECK(!exists_in_scratch("m3"));
		free(wanted);
		free(got);
		free(vars);
		free(q);
	}
	/* a here-document: plain values pass escaped, a line break cannot end it early */
	want(TPL_SHELL, "cat <<EOF\n{{ v }}\nEOF\n", "a $x `y` \\",
	     "cat <<EOF\na \\$x \\`y\\` \\\\\nEOF\n");
	want(TPL_SHELL, "cat <<'EOF'\n{{ v }}\nEOF\n", "a $x", "cat <<'EOF'\na $x\nEOF\n");
	want(TPL_SHELL, "cat <<EOF\n{{ v }}\nEOF\n", "a\nEOF\n:>m4", NULL);
	/* also inside $( ) */
	want(TPL_SHELL, "x=$(cat <<EOF\n{{ v }}\nEOF\n)", "$(id) 'a'",
	     "x=$(cat <<EOF\n\\$(id) 'a'\nEOF\n)");
	/* after the here-document the shell is back to normal words */
	want(TPL_SHELL, "cat <<-EOF\n\tx\n\tEOF\necho {{ v }}", "a b",
	     "cat <<-EOF\n\tx\n\tEOF\necho 'a b'");
	/* a comment cannot be left by a line break; back quotes are refused */
	want(TPL_SHELL, "# {{ v }}\n", "a\n:>m5", NULL);
	want(TPL_SHELL, "# {{ v }}\n", "a 'b", "# a 'b\n");
	want(TPL_SHELL, "x=`echo {{ v }}`", "a", NULL);
	/* '#' inside a word is no comment */
	want(TPL_SHELL, "echo a#{{ v }}", "b c", "echo a#'b c'");
	buf_release(&out);
}

/* ---- the project's own templates and roles --------------------------- */

static char *read_text(const char *path)
{
	struct pv_error err = {{0}};
	char *text = NULL;
	size_t len;

	if (pv_read_file(path, &text, &len, 0, &err) < 0) {
		printf("  cannot read %s: %s\n", path, err.msg);
		return NULL;
	}
	return text;
}

/* Render templates/name (it declares its format) with vars; want_ok or a refusal naming var. */
static void template_case(const char *name, const char *vars, const char *var, bool secret_value,
                          const char *secret_text)
{
	char *path = xasprintf("templates/%s", name), *text = read_text(path);
	struct pv_error err = {{0}};
	char *got;

	if (!text) {
		CHECK(text != NULL);
		free(path);
		return;
	}
	got = render_vars(text, path, TPL_DECLARED, vars, &err);
	if (!var) {
		if (!got)
			printf("  %s refused: %s\n", name, err.msg);
		CHECK(got != NULL);
	} else {
		char *named = xasprintf("'%s'", var);
		CHECK(got == NULL);
		if (got)
			printf("  %s rendered:\n%s\n", name, got);
		else {
			CHECK_HAS(err.msg, path);
			CHECK_HAS(err.msg, named);
			CHECK_HAS(err.msg, secret_value ? "line break" : "");
			if (secret_text)
				CHECK(strstr(err.msg, secret_text) == NULL);
		}
		free(named);
	}
	free(got);
	free(text);
	free(path);
}

static const char hba_vars[] = "postgres_replication_user: replicator\n"
                               "postgres_clients: [10.1.0.0/16]\n"
                               "servers:\n"
                               "  - {name: db1, address: 10.0.0.3, roles: {postgres: x}}\n"
                               "  - {name: web1, address: %s, roles: {}}\n";

/* templates/name rendered with the variables vars_fmt % value; var NULL: it renders. */
static void row(const char *name, const char *vars_fmt, const char *value, const char *var)
{
	char *v = xasprintf(vars_fmt, value);

	template_case(name, v, var, false, NULL);
	free(v);
}

static void test_issue_rows(void)
{
	/* pg_hba: neither a trust method after blanks nor a line of its own */
	row("pg_hba.conf", hba_vars, "10.0.0.2", NULL);
	row("pg_hba.conf", hba_vars, "\"10.0.0.2/0 trust #\"", "s.address");
	template_case("pg_hba.conf",
	              "postgres_replication_user: r\nservers: []\n"
	              "postgres_clients: [\"0.0.0.0/0 trust\\nhost all all ::/0\"]\n",
	              "c", false, NULL);

	/* sshd drop-in: no second directive */
	static const char sshd[] = "ssh_port: 22\nssh_max_auth_tries: 3\nssh_login_grace_time: 30\n"
	                           "ssh_client_alive_interval: 300\nssh_permit_root_login: %s\n";
	row("sshd_hardening.conf", sshd, "prohibit-password", NULL);
	row("sshd_hardening.conf", sshd,
	    "\"prohibit-password\\nPasswordAuthentication yes\\n"
	    "PermitEmptyPasswords yes\"",
	    "ssh_permit_root_login");
	row("sshd_hardening.conf", sshd, "\"no PasswordAuthentication yes\"",
	    "ssh_permit_root_login");

	/* Caddyfile: no admin block */
	static const char caddy[] = "proxy_tls_internal: false\nproxy_acme_email: %s\n"
	                            "proxy_sites: [{host: shop.example.com, upstream: "
	                            "\"127.0.0.1:3000\"}]\n";
	row("Caddyfile", caddy, "ops@example.com", NULL);
	row("Caddyfile", caddy, "\"a@b\\n}\\n{\\nadmin 0.0.0.0:2019\"", "proxy_acme_email");
	row("Caddyfile", caddy, "\"a@b } { admin 0.0.0.0:2019\"", "proxy_acme_email");

	/* haproxy.cfg: no stats admin line */
	static const char haproxy[] =
	    "haproxy_port: 80\nhaproxy_check_interval: 2s\nhaproxy_fall: 3\nhaproxy_rise: 2\n"
	    "haproxy_backend_port: 80\nservers: []\nhaproxy_health_path: %s\n";
	row("haproxy.cfg", haproxy, "/up", NULL);
	row("haproxy.cfg", haproxy, "\"/up\\n\\tstats admin if TRUE\"", "haproxy_health_path");

	/* systemd ExecStart: an image with blanks adds no docker argument */
	static const char rustfs[] = "rustfs_data: /srv/rustfs\nrustfs_image: %s\n";
	row("provision-rustfs.service", rustfs, "\"rustfs/rustfs:1 --privileged -v /:/host\"",
	    "rustfs_image");
	row("provision-rustfs.service", rustfs, "rustfs/rustfs:1.0.0-alpha.1", NULL);
	template_case("traefik.service", "traefik_image: \"traefik:v3 --privileged\"\n",
	              "traefik_image", false, NULL);
}

/* Secrets with a line break: refused in pgbackrest.conf, rustfs.env and a curl config. */
static void test_secret_rows(void)
{
	static const char secret_text[] = "TOPSECRET";
	struct node *root = NULL;
	struct pv_error err = {{0}};
	struct scope s;
	const char *files[] = {"pgbackrest.conf", "rustfs.env"};
	const char *vars = "backup_s3_endpoint: s3.example.com\nbackup_s3_port: 443\n"
	                   "backup_s3_bucket: b\nbackup_s3_region: r\nbackup_s3_uri_style: path\n"
	                   "backup_s3_key: s3key\nbackup_s3_key_secret: s3secret\n"
	                   "backup_cipher_pass: cipher\nbackup_s3_path: /p\n"
	                   "backup_retention_full: 2\nbackup_retention_diff: 7\n"
	                   "backup_compress: zst\nbackup_process_max: 2\nbackup_stanza: main\n"
	                   "postgres_version: 16\npostgres_patroni: false\n"
	                   "rustfs_access_key: akey\nrustfs_secret_key: skey\n";

	if (node_load_string(&root, "vars.yml", vars, strlen(vars), &err) < 0) {
		printf("  %s\n", err.msg);
		CHECK(0);
		return;
	}
	scope_init(&s);
	scope_set_map(&s, root);
	/* every secret name resolves to a secret holding a line break and a directive */
	static const char *const names[] = {"s3key", "s3secret", "cipher", "akey", "skey"};
	for (size_t i = 0; i < PV_ARRAY_SIZE(names); i++) {
		struct node *sec = node_new_scalar("TOPSECRET\nrepo1-path=/elsewhere", NULL);
		sec->secret = true;
		scope_set_owned(&s, names[i], sec);
	}
	for (size_t i = 0; i < PV_ARRAY_SIZE(files); i++) {
		char *path = xasprintf("templates/%s", files[i]), *text = read_text(path);
		struct buf out = BUF_INIT;
		struct pos start = {path, 1, 1};
		bool secret = false;

		CHECK(text && tpl_render(&out, text, &start, &s, TPL_DECLARED, &secret, &err) < 0);
		CHECK(out.len == 0);
		CHECK_HAS(err.msg, "holds a line break");
		CHECK(strstr(err.msg, secret_text) == NULL);
		buf_release(&out);
		free(text);
		free(path);
	}
	/* the curl configuration the rustfs role writes inline */
	{
		struct buf out = BUF_INIT;
		bool secret = false;
		CHECK(tpl_render(&out,
		                 "user = \"{{ rustfs_access_key | secret | escape \"\\\"\\\\\" }}:"
		                 "{{ rustfs_secret_key | secret | escape \"\\\"\\\\\" }}\"\n",
		                 NULL, &s, TPL_TEXT, &secret, &err) < 0);
		CHECK_HAS(err.msg, "holds a line break");
		CHECK(strstr(err.msg, secret_text) == NULL);
		buf_release(&out);
	}
	scope_release(&s);
	node_free(root);
}

/*
 * Role haproxy's Redis endpoint: the check user's password reaches
 * haproxy.cfg escaped twice (for the Redis command inside "..." and for
 * HAProxy's own "..."), and Redis's ACL file as its hash; a line break is
 * refused, never shown.
 */
static char *render_with_secret(const char *file, const char *vars, const char *pw,
                                struct pv_error *err)
{
	char *path = xasprintf("templates/%s", file), *text = read_text(path), *res = NULL;
	struct node *root = NULL;
	struct scope s;
	struct buf out = BUF_INIT;
	struct pos start = {path, 1, 1};
	bool secret = false;

	CHECK(text != NULL);
	if (text && node_load_string(&root, "vars.yml", vars, strlen(vars), err) == 0) {
		struct node *sec = node_new_scalar(pw, NULL);
		sec->secret = true;
		scope_init(&s);
		scope_set_map(&s, root);
		scope_set_owned(&s, "check_pw", sec);
		if (tpl_render(&out, text, &start, &s, TPL_DECLARED, &secret, err) == 0) {
			res = buf_detach(&out, NULL);
			CHECK(secret);
		}
		scope_release(&s);
	}
	buf_release(&out);
	node_free(root);
	free(text);
	free(path);
	return res;
}

static void test_redis_endpoint(void)
{
	static const char vars[] =
	    "haproxy_port: 80\nhaproxy_check_interval: 1s\nhaproxy_fall: 2\nhaproxy_rise: 2\n"
	    "haproxy_backend_port: 80\nhaproxy_health_path: /\nprivate_address: 10.0.0.13\n"
	    "redis_lb_port: 6390\nredis_port: 6379\nredis_check_user: haproxy-check\n"
	    "redis_check_password: check_pw\nredis_password: check_pw\n"
	    "redis_admin_user: admin\nredis_admin_password: check_pw\n"
	    "servers:\n"
	    "  - {name: r1, address: 10.0.0.11, roles: {redis: x, redis_sentinel: x}}\n"
	    "  - {name: r2, address: 10.0.0.12, roles: {redis_replica: x}}\n"
	    "  - {name: app1, address: 10.0.0.13, roles: {haproxy: x}}\n";
	struct pv_error err = {{0}};
	char *got = render_with_secret("haproxy.cfg", vars, "a\"b\\c $HOME d#e'f", &err);

	if (!got)
		printf("  haproxy.cfg refused: %s\n", err.msg);
	CHECK(got != NULL);
	/* Redis reads a\"b\\c $HOME d#e'f inside its quotes, HAProxy that escaped again */
	CHECK_HAS(got ? got : "", "\ttcp-check send \"AUTH haproxy-check "
	                          "\\\"a\\\\\\\"b\\\\\\\\c \\$HOME d#e'f\\\"\\r\\n\"\n");
	CHECK_HAS(got ? got : "", "listen redis\n\tbind 10.0.0.13:6390\n");
	CHECK_HAS(got ? got : "", "\tserver r1 10.0.0.11:6379 check\n"
	                          "\tserver r2 10.0.0.12:6379 check\n");
	CHECK(got && !strstr(got, "app1 10.0.0.13:6379"));
	/* one section, however many servers the layout has */
	CHECK(got && strstr(strstr(got, "listen redis") + 1, "listen redis") == NULL);
	/* no floating address: no other bind */
	CHECK(got && !strstr(got, ":6390 transparent"));
	free(got);

	/* a keepalived pair: the floating address too, bound while the other holds it */
	char *pair = xasprintf("%skeepalived_address: 10.0.0.250\n", vars);
	got = render_with_secret("haproxy.cfg", pair, "check_pw", &err);
	CHECK_HAS(got ? got : "", "listen redis\n\tbind 10.0.0.13:6390\n"
	                          "\tbind 10.0.0.250:6390 transparent\n\tmode tcp\n");
	free(got);
	free(pair);

	/* the exporter's user: its hash, PING and INFO only (never CONFIG) */
	char *with_exporter = xasprintf(
	    "%sredis_exporter_user: metrics\nredis_exporter_port: 9121\nredis_exporter_password: "
	    "check_pw\n",
	    vars);
	got = render_with_secret("redis-users.acl", with_exporter, "x\"y z", &err);
	CHECK_HAS(got ? got : "", "\nuser metrics on #");
	CHECK(got &&
	      strstr(strstr(got, "\nuser metrics on #") + 1, " resetkeys resetchannels -@all "
	                                                     "+ping +info\n"));
	CHECK(got && !strstr(got, "x\"y z"));
	free(got);
	got =
	    render_with_secret("prometheus-redis-exporter.default", with_exporter, "x\"y $z", &err);
	if (!got)
		printf("  %s\n", err.msg);
	CHECK_HAS(got ? got : "", "\nREDIS_PASSWORD=\"x\\\"y \\$z\"\n");
	free(got);
	free(with_exporter);

	/* the ACL file: the check user with its hash and only AUTH, PING and INFO */
	got = render_with_secret("redis-users.acl", vars, "a\"b\\c $HOME d#e'f", &err);
	CHECK(got != NULL);
	CHECK_HAS(got ? got : "", "\nuser haproxy-check on #");
	CHECK_HAS(got ? got : "", " resetkeys resetchannels -@all +ping +info\n");
	CHECK(got && !strstr(got, "$HOME"));
	free(got);

	/* a line break cannot add a check step or a server */
	got = render_with_secret("haproxy.cfg", vars, "x\r\n\tserver evil 10.9.9.9:6379", &err);
	CHECK(got == NULL);
	CHECK_HAS(err.msg, "templates/haproxy.cfg:");
	CHECK_HAS(err.msg, "'redis_check_password'");
	CHECK(strstr(err.msg, "evil") == NULL);
	free(got);

	/* a layout without Redis: no endpoint, no secret needed */
	char *text = read_text("templates/haproxy.cfg");
	got = render_vars(text ? text : "", "templates/haproxy.cfg", TPL_DECLARED,
	                  "haproxy_port: 80\nhaproxy_check_interval: 1s\nhaproxy_fall: 2\n"
	                  "haproxy_rise: 2\nhaproxy_backend_port: 80\nhaproxy_health_path: /\n"
	                  "servers: [{name: w1, address: 10.0.0.5, roles: {web: x}}]\n",
	                  &err);
	if (!got)
		printf("  %s\n", err.msg);
	CHECK(got && !strstr(got, "listen redis"));
	free(got);
	free(text);
}

/*
 * Template NAME rendered with VARS (its secrets the password "pw", except
 * for the script redis-seed.sh, which holds none) holds WANT, and not
 * AVOID (when given).
 */
static void tls_renders(const char *name, const char *vars, const char *want, const char *avoid)
{
	struct pv_error err = {{0}};
	char *got;

	if (!strcmp(name, "redis-seed.sh")) {
		char *text = read_text("templates/redis-seed.sh");
		got = render_vars(text ? text : "", "templates/redis-seed.sh", TPL_DECLARED, vars,
		                  &err);
		free(text);
	} else {
		got = render_with_secret(name, vars, "pw", &err);
	}
	if (!got)
		printf("  %s: %s\n", name, err.msg);
	CHECK_HAS(got ? got : "", want);
	CHECK(got && (!avoid || !strstr(got, avoid)));
	free(got);
}

/*
 * redis_tls: Redis and Sentinel take TLS only, on their own ports, and
 * replicate over it; HAProxy's check speaks TLS and verifies each node;
 * the exporter speaks TLS on the loopback.  Without it, plaintext as before.
 */
static void test_redis_tls(void)
{
	static const char base[] =
	    "haproxy_port: 80\nhaproxy_check_interval: 1s\nhaproxy_fall: 2\nhaproxy_rise: 2\n"
	    "haproxy_backend_port: 80\nhaproxy_health_path: /\nprivate_address: 10.0.0.13\n"
	    "redis_lb_port: 6390\nredis_port: 6380\nredis_sentinel_port: 26380\n"
	    "redis_check_user: haproxy-check\nredis_check_password: check_pw\n"
	    "redis_password: check_pw\nredis_admin_user: admin\nredis_admin_password: check_pw\n"
	    "redis_master_name: main\nredis_usage: queue\nredis_maxmemory: unlimited\n"
	    "redis_maxmemory_policy: auto\nredis_exporter_user: metrics\n"
	    "redis_exporter_port: 9121\nredis_exporter_password: check_pw\n"
	    "servers:\n"
	    "  - {name: r1, address: 10.0.0.11, roles: {redis: x, redis_sentinel: x}}\n"
	    "  - {name: r2, address: 10.0.0.12, roles: {redis_replica: x}}\n"
	    "  - {name: app1, address: 10.0.0.13, roles: {haproxy: x}}\n";
	static const char tls_conf[] = "port 0\ntls-port 6380\n"
	                               "tls-cert-file /etc/redis/tls/host.crt\n"
	                               "tls-key-file /etc/redis/tls/host.key\n"
	                               "tls-ca-cert-file /etc/redis/tls/ca.crt\n"
	                               "tls-auth-clients optional\ntls-replication yes\n";
	char *on = xasprintf("%sredis_tls: true\n", base);
	char *off = xasprintf("%sredis_tls: false\n", base);

	tls_renders("redis-provision.conf", on, "\nprotected-mode yes\n", "\nport 6380\n");
	tls_renders("redis-provision.conf", on, tls_conf, NULL);
	tls_renders("redis-provision.conf", off, "\nport 6380\n", "tls-");

	/* Sentinel's port and TLS settings, kept in step with its passwords */
	tls_renders("redis-sentinel-auth.conf", on,
	            "port 0\ntls-port 26380\ntls-cert-file /etc/redis/tls/host.crt\n", NULL);
	tls_renders("redis-sentinel-auth.conf", on, "tls-replication yes\nrequirepass \"pw\"\n",
	            NULL);
	tls_renders("redis-sentinel-auth.conf", off, "\nport 26380\nrequirepass \"pw\"\n", "tls-");

	/* redis-cli in the role's script speaks TLS, checking the layout's CA */
	tls_renders("redis-seed.sh", on, "\ntls=\"--tls --cacert /etc/redis/tls/ca.crt\"\n", NULL);
	tls_renders("redis-seed.sh", off, "\ntls=\n", "--tls");

	/* HAProxy: the check over TLS, each node's certificate verified */
	tls_renders("haproxy.cfg", on,
	            "\tserver r1 10.0.0.11:6380 check check-ssl verify required ca-file "
	            "/etc/haproxy/redis-tls/ca.crt verifyhost 10.0.0.11\n"
	            "\tserver r2 10.0.0.12:6380 check check-ssl verify required ca-file "
	            "/etc/haproxy/redis-tls/ca.crt verifyhost 10.0.0.12\n",
	            NULL);
	tls_renders("haproxy.cfg", on, "\ttcp-check connect default\n", NULL);
	tls_renders("haproxy.cfg", off, "\tserver r1 10.0.0.11:6380 check\n", "check-ssl");

	/* the exporter: TLS on the loopback */
	tls_renders("prometheus-redis-exporter.default", on,
	            "\nREDIS_ADDR=\"rediss://127.0.0.1:6380\"\n", NULL);
	tls_renders("prometheus-redis-exporter.default", on, " -skip-tls-verification\"\n", NULL);
	tls_renders("prometheus-redis-exporter.default", off,
	            "\nREDIS_ADDR=\"redis://127.0.0.1:6380\"\n", "tls");
	free(on);
	free(off);
}

/* The patroni role's shell command: command substitution in an address never runs. */
static void test_patroni_command(void)
{
	struct node *role = NULL, *root = NULL;
	struct pv_error err = {{0}};
	const struct node *run = NULL, *res;
	struct scope s;
	struct buf out = BUF_INIT, sh = BUF_INIT;
	static const char vars[] = "private_address: \"10.0.0.11$(:>m1)`:>m2`\"\n"
	                           "postgres_users: []\npostgres_databases: []\n";

	if (node_load_file(&role, "roles/patroni/role.yml", &err) < 0 ||
	    node_load_string(&root, "vars.yml", vars, strlen(vars), &err) < 0) {
		printf("  %s\n", err.msg);
		CHECK(0);
		node_free(role);
		return;
	}
	res = node_get(role, "resources");
	for (size_t i = 0; res && i < res->n && !run; i++) {
		const struct node *cmd = node_get(res->items[i], "command");
		const struct node *r = node_get(cmd, "run");
		if (r && r->kind == NODE_SCALAR && strstr(r->scalar, "api()"))
			run = r;
	}
	CHECK(run != NULL);
	scope_init(&s);
	scope_set_map(&s, root);
	if (run) {
		CHECK(tpl_render_node(&sh, NULL, run, &s, TPL_SHELL, NULL, &err) == 0);
		CHECK_HAS(sh.s, "\"http://10.0.0.11\\$(:>m1)\\`:>m2\\`:8008/$1\"");
		/* run it with a curl that logs its URL and answers 200 */
		char *script = xasprintf("curl() { for a; do u=$a; done; printf '%%s\\n' \"$u\" "
		                         ">>log; printf 200; }\n%s",
		                         sh.s);
		run_sh_in(script, scratch, false, &out);
		char *log = xasprintf("%s/log", scratch), *logged = read_text(log);
		CHECK_HAS(logged ? logged : "", "http://10.0.0.11$(:>m1)`:>m2`:8008/primary\n");
		CHECK(!exists_in_scratch("m1"));
		CHECK(!exists_in_scratch("m2"));
		free(logged);
		unlink(log);
		free(log);
		free(script);
	}
	scope_release(&s);
	node_free(root);
	node_free(role);
	buf_release(&out);
	buf_release(&sh);
}

/* Every template of the project declares a format the engine knows. */
static void test_every_template_declares(void)
{
	DIR *dir = opendir("templates");
	struct dirent *e;
	int seen = 0;

	CHECK(dir != NULL);
	while (dir && (e = readdir(dir))) {
		char *path, *text;
		char name[64] = "";
		enum tpl_mode mode;

		if (e->d_name[0] == '.')
			continue;
		path = xasprintf("templates/%s", e->d_name);
		text = read_text(path);
		if (text && sscanf(text, "{# format: %63[a-z_] #}", name) == 1 &&
		    tpl_mode_parse(name, &mode) == 0)
			seen++;
		else
			printf("  %s declares no known format\n", path);
		CHECK(text && name[0]);
		free(text);
		free(path);
	}
	if (dir)
		closedir(dir);
	CHECK(seen > 30);
}

/* A template without a declaration, or with an unknown one, is an error at 1:1. */
static void test_declaration_errors(void)
{
	struct pv_error err = {{0}};
	char *got;

	got = render_vars("Port {{ v }}\n", "x.conf", TPL_DECLARED, "v: 22\n", &err);
	CHECK(got == NULL);
	CHECK_HAS(err.msg, "x.conf:1:1: a template starts with its format");
	free(got);
	got = render_vars("{# format: toml #}\n", "x.conf", TPL_DECLARED, "v: 22\n", &err);
	CHECK(got == NULL);
	CHECK_HAS(err.msg, "x.conf:1:12: unknown format 'toml'");
	free(got);
	got = render_vars("{# format: sshd #}\nPort {{ v }}\n", "x.conf", TPL_DECLARED,
	                  "v: \"22 x\"\n", &err);
	CHECK(got == NULL);
	CHECK_HAS(err.msg, "x.conf:2:9: 'v' (set at vars.yml:1:4) holds a blank");
	free(got);
	got = render_vars("{# format: sshd #}\nPort {{ v }}\n", "x.conf", TPL_DECLARED, "v: 22\n",
	                  &err);
	CHECK_STR(got, "Port 22\n");
	free(got);
}

int main(void)
{
	if (!mkdtemp(scratch)) {
		perror("mkdtemp");
		return 2;
	}
	RUN(test_bare_refused);
	RUN(test_control_refused);
	RUN(test_quoted);
	RUN(test_shell_contexts);
	RUN(test_issue_rows);
	RUN(test_secret_rows);
	RUN(test_redis_endpoint);
	RUN(test_redis_tls);
	RUN(test_patroni_command);
	RUN(test_every_template_declares);
	RUN(test_declaration_errors);
	rmdir(scratch);
	return check_done("tplformat");
}
