/*
 * cmd-backup.c - provision backup now|list|restore|verify [LAYOUT]
 *                 provision backup files now|list|restore|verify [LAYOUT]
 *
 * Each subcommand runs the helper script role backup installs
 * (/usr/local/lib/provision/backup.sh) over one SSH connection per host:
 * pgBackRest itself holds the store's keys and the passphrase on the host,
 * so nothing secret passes through here.  'backup files' runs role
 * backup-files' helper (backup-files.sh) the same way: restic reads its
 * password and the store's keys from root-only files on the host.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "provision/backup.h"
#include "provision/converge.h"
#include "provision/remote.h"
#include "provision/session.h"
#include "provision/shquote.h"
#include "provision/template.h"

#define HELPER "sh /usr/local/lib/provision/backup.sh"
#define FILES_HELPER "sh /usr/local/lib/provision/backup-files.sh"
#define FILES_ROLE "backup-files"

struct bk {
	struct session *s;
	const struct inv_layout *l;
	struct host *hosts;
	size_t n;
};

static bool is_role(const struct inv_server *srv, const char *role)
{
	for (size_t i = 0; i < srv->n_roles; i++)
		if (!strcmp(srv->roles[i], role))
			return true;
	return false;
}

/* role backup (pgBackRest), or with files role backup-files */
static bool server_has(const struct inv_server *srv, bool files)
{
	return files ? is_role(srv, FILES_ROLE) : backup_server_has(srv);
}

static bool layout_has_backup(const struct inv_layout *l, bool files)
{
	for (size_t i = 0; i < l->n_servers; i++)
		if (server_has(&l->servers[i], files))
			return true;
	return false;
}

/* The layout named, or the only one with role backup (files: backup-files) that exists. */
static int bk_open(struct bk *b, struct session *s, const char *layout, bool files)
{
	const char *role = files ? FILES_ROLE : "backup";
	struct pv_error err = {{0}};
	const struct provider_ops *p;
	struct provider_ctx c;
	int rc;

	memset(b, 0, sizeof(*b));
	b->s = s;
	/* the run lock: an 'up' must not restart PostgreSQL in the middle of a restore */
	if ((rc = session_load(s)) || (rc = session_open_state(s, true)) || (rc = session_keys(s)))
		return rc;
	if (layout) {
		if (!(b->l = session_layout(s, layout)))
			return PV_EXIT_USAGE;
	} else {
		for (size_t i = 0; i < s->inv->n_layouts; i++) {
			const struct inv_layout *l = &s->inv->layouts[i];
			if (!layout_has_backup(l, files) ||
			    !state_layout(&s->st, s->env, l->name, false))
				continue;
			if (b->l) {
				pv_say_error("layouts '%s' and '%s' both have role %s; name one",
				             b->l->name, l->name, role);
				return PV_EXIT_USAGE;
			}
			b->l = l;
		}
		if (!b->l) {
			pv_say_error("no layout with role %s exists in environment '%s'", role,
			             s->env);
			return PV_EXIT_USAGE;
		}
	}
	if (!layout_has_backup(b->l, files)) {
		pv_say_error("layout '%s' has no server with role %s", b->l->name, role);
		return PV_EXIT_USAGE;
	}
	if (!state_layout(&s->st, s->env, b->l->name, false)) {
		pv_say_error("layout '%s' is not created in environment '%s'", b->l->name, s->env);
		return PV_EXIT_USAGE;
	}
	if (!(p = session_provider(s, b->l)))
		return PV_EXIT_USAGE;
	session_provider_ctx(s, b->l, &c);
	if (p->hosts(&c, &b->hosts, &b->n, &err) < 0) {
		pv_say_error("%s", err.msg);
		return PV_EXIT_FAIL;
	}
	return PV_EXIT_OK;
}

static void bk_close(struct bk *b)
{
	hosts_free(b->hosts, b->n);
	b->hosts = NULL;
	b->n = 0;
}

static void say_stderr(const struct host *h, const struct buf *e);

/* A scratch server for restore drills (backup_scratch: true on it or its layout). */
static bool is_scratch(const struct bk *b, const struct inv_server *srv)
{
	const struct node *v = srv->vars ? node_get(srv->vars, "backup_scratch") : NULL;

	if (!v && b->l->vars)
		v = node_get(b->l->vars, "backup_scratch");
	return v && tpl_truth(v);
}

static struct host *host_of(struct bk *b, const char *name)
{
	for (size_t k = 0; k < b->n; k++)
		if (!strcmp(b->hosts[k].name, name))
			return &b->hosts[k];
	return NULL;
}

/*
 * The current Patroni leader among the layout's servers with roles patroni
 * and backup: patronictl on the first of them that answers (one round
 * trip, two when that one is down), then that server.
 */
static struct host *bk_leader(struct bk *b)
{
	static const char script[] = "patronictl -c /etc/patroni/config.yml list -f json\n";

	for (size_t i = 0; i < b->l->n_servers; i++) {
		const struct inv_server *srv = &b->l->servers[i];
		struct host *h = host_of(b, srv->name);
		struct remote_target t;
		struct pv_error err = {{0}};
		struct remote *r = NULL;
		struct buf o, e;
		int st = -1;

		if (!h || !is_role(srv, "patroni"))
			continue;
		memset(&t, 0, sizeof(t));
		t.name = h->name;
		t.address = h->address;
		t.port = h->port;
		t.user = h->user;
		t.private_key = b->s->private_key;
		t.known_hosts = b->s->known_hosts;
		t.timeout_ms = 5000;
		buf_init(&o, 1 << 16);
		buf_init(&e, 1 << 16);
		if (remote_connect(&r, &t, &err) < 0 ||
		    remote_exec(r, converge_shell(h), script, strlen(script), &o, &e, &st, &err) <
		        0) {
			/* down, perhaps the leader that failed: ask the next one */
			fprintf(stderr, "%s: %s; asking another server who leads\n", h->name,
			        err.msg);
			if (r)
				remote_close(r);
			buf_release(&o);
			buf_release(&e);
			continue;
		}
		remote_close(r);
		if (st != 0) {
			/* Patroni cannot tell there (etcd out of reach?): ask the next one */
			say_stderr(h, &e);
			buf_release(&o);
			buf_release(&e);
			continue;
		}
		json_t *root = json_loads(o.s ? o.s : "", 0, NULL), *m;
		const char *leader = NULL;
		size_t k;
		json_array_foreach(root, k, m)
		{
			const char *role = json_string_value(json_object_get(m, "Role"));
			const char *state = json_string_value(json_object_get(m, "State"));
			if (role && state && !strcmp(role, "Leader") && !strcmp(state, "running"))
				leader = json_string_value(json_object_get(m, "Member"));
		}
		char *name = leader ? xstrdup(leader) : NULL;
		json_decref(root);
		if (!name) {
			pv_say_error("%s: Patroni names no running leader now (a failover under "
			             "way?); try again, or name a server with --host",
			             h->name);
			buf_release(&o);
			buf_release(&e);
			return NULL;
		}
		buf_release(&o);
		buf_release(&e);
		const struct inv_server *ls = layout_server(b->l, name);
		struct host *lh = ls ? host_of(b, name) : NULL;
		if (!lh || !backup_server_has(ls)) {
			pv_say_error(
			    "the Patroni leader '%s' is not a server of layout '%s' with role "
			    "backup",
			    name, b->l->name);
			free(name);
			return NULL;
		}
		fprintf(stderr, "%s: the Patroni leader (asked on %s)\n", lh->name, h->name);
		free(name);
		return lh;
	}
	pv_say_error("no server of layout '%s' with role patroni could say who leads; name one "
	             "with --host",
	             b->l->name);
	return NULL;
}

/*
 * The host called name (which must have role backup), or by default the
 * layout's first primary with role backup (not a scratch server); on a
 * Patroni layout the current leader.
 */
static struct host *bk_host(struct bk *b, const char *name)
{
	for (size_t i = 0; i < b->l->n_servers; i++) {
		const struct inv_server *srv = &b->l->servers[i];
		if (name ? strcmp(srv->name, name) != 0
		         : !backup_server_has(srv) || is_scratch(b, srv) ||
		               !(is_role(srv, "postgres") || is_role(srv, "patroni")))
			continue;
		if (!name && is_role(srv, "patroni"))
			return bk_leader(b);
		if (!backup_server_has(srv)) {
			pv_say_error("server '%s' of layout '%s' has no role backup", srv->name,
			             b->l->name);
			return NULL;
		}
		for (size_t k = 0; k < b->n; k++)
			if (!strcmp(b->hosts[k].name, srv->name))
				return &b->hosts[k];
		pv_say_error("server '%s' of layout '%s' does not exist; run 'provision up %s'",
		             srv->name, b->l->name, b->l->name);
		return NULL;
	}
	if (name)
		pv_say_error("no server '%s' in layout '%s'", name, b->l->name);
	else
		pv_say_error("layout '%s' has no server with roles postgres (or patroni) and "
		             "backup; name one with --host",
		             b->l->name);
	return NULL;
}

/* Run script on h as root; out/errb collect.  Returns the exit status or -1. */
static int bk_run(struct bk *b, const struct host *h, const char *script, struct buf *out,
                  struct buf *errb)
{
	struct remote_target t = {
	    .name = h->name,
	    .address = h->address,
	    .port = h->port,
	    .user = h->user,
	    .private_key = b->s->private_key,
	    .known_hosts = b->s->known_hosts,
	};
	struct pv_error err = {{0}};
	struct remote *r = NULL;
	int st = -1;

	if (remote_connect(&r, &t, &err) < 0 ||
	    remote_exec(r, converge_shell(h), script, strlen(script), out, errb, &st, &err) < 0) {
		pv_say_error("%s", err.msg);
		if (r)
			remote_close(r);
		return -1;
	}
	remote_close(r);
	return st;
}

static void say_stderr(const struct host *h, const struct buf *e)
{
	char *copy = xstrdup(e->s ? e->s : ""), *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		pv_say_error("%s: %s", h->name, line);
	free(copy);
}

/* The helper's lines about h: "HOST: line", or "info" events with --json. */
static void say_lines(struct bk *b, const struct host *h, const struct buf *o)
{
	char *copy = xstrdup(o->s ? o->s : ""), *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		report_line(
		    b->s->rep,
		    json_pack("{s:s, s:s, s:s}", "event", "info", "host", h->name, "message", line),
		    "%s: %s", h->name, line);
	free(copy);
}

static void fmt_time(char *dst, size_t n, long long t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(dst, n, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* The backups of one repository (key; 0: all) as a table. */
static void print_backups(json_t *backups, long long key)
{
	size_t i, shown = 0;
	json_t *b;

	json_array_foreach(backups, i, b)
	{
		if (key && json_integer_value(
		               json_object_get(json_object_get(b, "database"), "repo-key")) != key)
			continue;
		if (!shown++)
			printf("  %-33s %-5s %-23s %-23s %12s  %s\n", "label", "type", "started",
			       "finished", "size", "WAL");
		json_t *ts = json_object_get(b, "timestamp"), *ar = json_object_get(b, "archive");
		char t1[40], t2[40];
		fmt_time(t1, sizeof(t1), json_integer_value(json_object_get(ts, "start")));
		fmt_time(t2, sizeof(t2), json_integer_value(json_object_get(ts, "stop")));
		printf("  %-33s %-5s %-23s %-23s %12lld  %s..%s%s\n",
		       json_string_value(json_object_get(b, "label")),
		       json_string_value(json_object_get(b, "type")), t1, t2,
		       (long long)json_integer_value(
		           json_object_get(json_object_get(b, "info"), "size")),
		       json_string_value(json_object_get(ar, "start")),
		       json_string_value(json_object_get(ar, "stop")),
		       json_is_true(json_object_get(b, "error")) ? "  (has errors)" : "");
	}
	if (!shown)
		printf("  no backups\n");
}

/* The backups of pgBackRest's info JSON as a table, one for each repository. */
static int print_info(struct session *s, const char *json, const char *host)
{
	json_error_t je;
	json_t *root = json_loads(json, 0, &je), *st = json_array_get(root, 0), *r, *b;
	json_t *backups = json_object_get(st, "backup"), *repos = json_object_get(st, "repo");
	size_t i;

	if (!st) {
		pv_say_error("%s: unreadable pgBackRest information: %s", host, je.text);
		json_decref(root);
		return -1;
	}
	if (s->mode == REPORT_JSON) {
		json_t *list = json_array();
		json_array_foreach(backups, i, b)
		{
			json_t *ts = json_object_get(b, "timestamp"),
			       *ar = json_object_get(b, "archive");
			json_array_append_new(
			    list,
			    json_pack("{s:s?, s:s?, s:I, s:I, s:I, s:s?, s:s?, s:b}", "label",
			              json_string_value(json_object_get(b, "label")), "type",
			              json_string_value(json_object_get(b, "type")), "started",
			              json_integer_value(json_object_get(ts, "start")), "finished",
			              json_integer_value(json_object_get(ts, "stop")), "size",
			              json_integer_value(
			                  json_object_get(json_object_get(b, "info"), "size")),
			              "wal_start", json_string_value(json_object_get(ar, "start")),
			              "wal_stop", json_string_value(json_object_get(ar, "stop")),
			              "error", json_is_true(json_object_get(b, "error"))));
			json_t *key = json_object_get(json_object_get(b, "database"), "repo-key");
			if (json_is_integer(key))
				json_object_set(json_array_get(list, json_array_size(list) - 1),
				                "repo", key);
		}
		report_event(
		    s->rep,
		    json_pack("{s:s, s:s, s:s?, s:s?, s:o}", "event", "backups", "host", host,
		              "stanza", json_string_value(json_object_get(st, "name")), "status",
		              json_string_value(
		                  json_object_get(json_object_get(st, "status"), "message")),
		              "backups", list));
		json_decref(root);
		return 0;
	}
	printf("%s: stanza %s: %s\n", host, json_string_value(json_object_get(st, "name")),
	       json_string_value(json_object_get(json_object_get(st, "status"), "message")));
	if (json_array_size(repos) < 2) {
		print_backups(backups, 0);
		json_decref(root);
		return 0;
	}
	json_array_foreach(repos, i, r)
	{
		long long key = json_integer_value(json_object_get(r, "key"));
		printf("%s: repository %lld: %s\n", host, key,
		       json_string_value(json_object_get(json_object_get(r, "status"), "message")));
		print_backups(backups, key);
	}
	json_decref(root);
	return 0;
}

static int info_on(struct bk *b, const struct host *h, bool quiet_json)
{
	struct buf o, e;
	int st, rc = PV_EXIT_OK;

	buf_init(&o, 1 << 22);
	buf_init(&e, 1 << 16);
	st = bk_run(b, h, HELPER " info\n", &o, &e);
	if (st != 0) {
		if (st > 0)
			say_stderr(h, &e);
		pv_say_error("%s: reading the backup repository failed", h->name);
		rc = PV_EXIT_FAIL;
	} else if (b->s->mode == REPORT_JSON && quiet_json) {
		/* the backup's own event said it */
	} else if (print_info(b->s, o.s, h->name) < 0) {
		rc = PV_EXIT_FAIL;
	}
	buf_release(&o);
	buf_release(&e);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A run's checksum lines ("C db|table|rows|md5"), sorted, one string. */
static char *checksum_lines(const char *out, size_t *tables)
{
	struct buf b = BUF_INIT;
	char *copy = xstrdup(out), *save = NULL;
	char **lines = NULL;
	size_t n = 0, alloc = 0;

	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (!strncmp(line, "C ", 2)) {
			PV_GROW(lines, n + 1, alloc);
			lines[n++] = line + 2;
		}
	qsort(lines, n, sizeof(*lines), cmp_str);
	for (size_t i = 0; i < n; i++)
		buf_addf(&b, "%s\n", lines[i]);
	free(lines);
	free(copy);
	*tables = n;
	return b.s ? b.s : xstrdup("");
}

struct opts {
	const char *layout, *host, *at, *on, *type, *path;
	int repo; /* 0: pgBackRest's choice */
	bool yes;
};

static int parse(const struct cmd_entry *ce, int argc, char **argv, struct opts *o,
                 const char *allowed)
{
	static const struct option lo[] = {
	    {"host", required_argument, NULL, 'H'}, {"at", required_argument, NULL, 'a'},
	    {"yes", no_argument, NULL, 'y'},        {"on", required_argument, NULL, 'o'},
	    {"type", required_argument, NULL, 't'}, {"repo", required_argument, NULL, 'r'},
	    {"path", required_argument, NULL, 'p'}, {NULL, 0, NULL, 0},
	};
	int ch;

	memset(o, 0, sizeof(*o));
	optind = 1;
	/* options before or after the layout (GNU getopt permutes) */
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (ch == '?' || !strchr(allowed, ch)) {
			for (size_t i = 0; ch != '?' && lo[i].name; i++)
				if (lo[i].val == ch)
					pv_say_error("option '--%s' does not apply here",
					             lo[i].name);
			pv_usage(ce);
			return -1;
		}
		if (ch == 'H')
			o->host = optarg;
		else if (ch == 'a')
			o->at = optarg;
		else if (ch == 'y')
			o->yes = true;
		else if (ch == 'o')
			o->on = optarg;
		else if (ch == 't')
			o->type = optarg;
		else if (ch == 'p')
			o->path = optarg;
		else if (ch == 'r') {
			/* repository 1 and the (at most 3) of backup_repos */
			if (optarg[0] < '1' || optarg[0] > '4' || optarg[1]) {
				pv_say_error("--repo takes a repository's number from 1 to 4, not "
				             "'%s'",
				             optarg);
				return -1;
			}
			o->repo = optarg[0] - '0';
		}
	}
	if (optind < argc)
		o->layout = argv[optind++];
	if (optind < argc) {
		pv_usage(ce);
		return -1;
	}
	return 0;
}

static int do_now(struct bk *b, const struct opts *o)
{
	const char *type = o->type ? o->type : "full";
	struct host *h;
	struct buf out, e;
	char *script;
	int st;

	if (strcmp(type, "full") && strcmp(type, "diff") && strcmp(type, "incr") &&
	    strcmp(type, "dump")) {
		pv_say_error("--type must be full, diff, incr or dump, not '%s'", type);
		return PV_EXIT_USAGE;
	}
	if (!(h = bk_host(b, o->host)))
		return PV_EXIT_USAGE;
	report_line(b->s->rep, NULL, "%s: %s backup to the repository...", h->name, type);
	buf_init(&out, 1 << 20);
	buf_init(&e, 1 << 20);
	script = xasprintf(HELPER " now %s\n", type);
	st = bk_run(b, h, script, &out, &e);
	free(script);
	if (st != 0) {
		if (st > 0)
			say_stderr(h, &e);
		pv_say_error("%s: the %s backup FAILED; 'provision status' shows it until a backup "
		             "succeeds",
		             h->name, type);
		buf_release(&out);
		buf_release(&e);
		return PV_EXIT_FAIL;
	}
	/* what the helper says of it: where it was taken from (backup_from: standby) */
	say_lines(b, h, &out);
	buf_release(&out);
	buf_release(&e);
	report_line(
	    b->s->rep,
	    json_pack("{s:s, s:s, s:s}", "event", "backup_done", "host", h->name, "type", type),
	    "%s: %s backup done", h->name, type);
	if (!strcmp(type, "dump")) {
		/* what the dump did */
		static const char show[] = "grep -E '^(database|expired) ' "
		                           "/var/lib/pgbackrest/last-dump.log\n";
		buf_init(&out, 1 << 20);
		if (bk_run(b, h, show, &out, NULL) >= 0 && out.s) {
			char *copy = xstrdup(out.s), *save = NULL;
			for (char *l = strtok_r(copy, "\n", &save); l;
			     l = strtok_r(NULL, "\n", &save))
				report_line(b->s->rep,
				            json_pack("{s:s, s:s, s:s}", "event", "info", "host",
				                      h->name, "message", l),
				            "%s", l);
			free(copy);
		}
		buf_release(&out);
		return PV_EXIT_OK;
	}
	return info_on(b, h, true);
}

static int do_list(struct bk *b, const struct opts *o)
{
	struct host *h = bk_host(b, o->host);
	return h ? info_on(b, h, false) : PV_EXIT_USAGE;
}

/* A restore of h (PV_ vars exported first); prints and returns the checksum lines. */
static int restore_on(struct bk *b, const struct host *h, const char *at, const char *point,
                      int repo, bool yes, bool archive, char **sums, size_t *tables)
{
	struct buf script = BUF_INIT, out, e;
	int st;

	buf_addf(&script, "PV_AT=");
	sh_quote_buf(&script, at ? at : "");
	buf_addf(&script, " PV_POINT=");
	sh_quote_buf(&script, point ? point : "");
	/* a scratch server (no archiving) keeps no copy of what it had */
	if (repo)
		buf_addf(&script, " PV_REPO=%d", repo);
	else
		buf_addf(&script, " PV_REPO=");
	buf_addf(&script,
	         " PV_YES=%s PV_ARCHIVE=%s PV_DISCARD=%s\n"
	         "export PV_AT PV_POINT PV_REPO PV_YES PV_ARCHIVE PV_DISCARD\n",
	         yes ? "yes" : "no", archive ? "on" : "off", archive ? "no" : "yes");
	buf_addf(&script, HELPER " restore\n");
	buf_init(&out, 1 << 22);
	buf_init(&e, 1 << 20);
	st = bk_run(b, h, script.s, &out, &e);
	buf_release(&script);
	if (st == 3) {
		say_stderr(h, &e);
		pv_say_error("%s: PostgreSQL runs there as a primary: nothing was changed; "
		             "'--yes' replaces its data (kept aside) with the backup",
		             h->name);
		buf_release(&out);
		buf_release(&e);
		return PV_EXIT_USAGE;
	}
	if (st != 0) {
		if (st > 0)
			say_stderr(h, &e);
		pv_say_error("%s: the restore FAILED", h->name);
		buf_release(&out);
		buf_release(&e);
		return PV_EXIT_FAIL;
	}
	char *old = strstr(out.s, "O ");
	bool kept = old && strncmp(old, "O -", 3);
	*sums = checksum_lines(out.s, tables);
	/* "at" and "kept_at" only when there is one: the latest state, nothing kept */
	report_line(b->s->rep,
	            json_pack("{s:s, s:s, s:s*, s:I, s:o*}", "event", "restored", "host", h->name,
	                      "at", at, "tables", (json_int_t)*tables, "kept_at",
	                      kept ? json_stringn(old + 2, strcspn(old + 2, "\n")) : NULL),
	            "%s: restored%s%s; PostgreSQL runs as a primary; %zu tables read in full",
	            h->name, at ? " to " : "", at ? at : "", *tables);
	if (kept)
		report_line(b->s->rep, NULL, "%s: the previous data directory is kept at %.*s",
		            h->name, (int)strcspn(old + 2, "\n"), old + 2);
	buf_release(&out);
	buf_release(&e);
	return PV_EXIT_OK;
}

/*
 * Patroni owns the data directory of its servers and would fight a restore
 * there: refused before anything runs, saying what to do instead.  name
 * NULL: the default server (a Patroni layout's leader).
 */
static bool patroni_refused(struct bk *b, const char *name, const char *what)
{
	const struct inv_server *srv = NULL;

	for (size_t i = 0; i < b->l->n_servers && !srv; i++) {
		const struct inv_server *c = &b->l->servers[i];
		if (name ? !strcmp(c->name, name)
		         : backup_server_has(c) && !is_scratch(b, c) &&
		               (is_role(c, "postgres") || is_role(c, "patroni")))
			srv = c;
	}
	if (!srv || !is_role(srv, "patroni"))
		return false;
	pv_say_error("%s: %s refused: Patroni manages PostgreSQL on this server (role "
	             "patroni); nothing was changed",
	             srv->name, what);
	pv_say_error("to check the backups: 'provision backup verify %s --on SCRATCH' (a "
	             "server with roles postgres and backup and backup_scratch: true)",
	             b->l->name);
	pv_say_error("to get data back: 'provision backup restore %s --host SCRATCH [--at "
	             "TIME] --yes' (the scratch server never archives), then copy what is "
	             "needed to the leader",
	             b->l->name);
	return true;
}

/* --at: a time the host's date(1) reads, never a word the shell would act on */
static bool at_ok(const char *at)
{
	if (at && (!*at || strpbrk(at, "'\"\\\n;$`"))) {
		pv_say_error("--at takes a time such as '2026-05-01 12:00:00+00', not '%s'", at);
		return false;
	}
	return true;
}

static int do_restore(struct bk *b, const struct opts *o)
{
	struct host *h;
	char *sums = NULL;
	size_t tables = 0;
	int rc;

	if (!at_ok(o->at))
		return PV_EXIT_USAGE;
	if (patroni_refused(b, o->host, "restore"))
		return PV_EXIT_USAGE;
	if (!(h = bk_host(b, o->host)))
		return PV_EXIT_USAGE;
	if (o->repo)
		report_line(b->s->rep, NULL, "%s: restoring from repository %d%s%s...", h->name,
		            o->repo, o->at ? " to " : "",
		            o->at ? o->at : " (the latest state archived)");
	else
		report_line(b->s->rep, NULL, "%s: restoring from the repository%s%s...", h->name,
		            o->at ? " to " : "", o->at ? o->at : " (the latest state archived)");
	rc = restore_on(b, h, o->at, NULL, o->repo, o->yes, true, &sums, &tables);
	if (rc == PV_EXIT_OK) {
		char *copy = xstrdup(sums), *save = NULL;
		for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			char *bar1 = strchr(l, '|'), *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
			char *bar3 = bar2 ? strchr(bar2 + 1, '|') : NULL;
			if (bar3)
				report_line(b->s->rep,
				            json_pack("{s:s, s:s, s:s%, s:s%, s:I}", "event",
				                      "table", "host", h->name, "database", l,
				                      (size_t)(bar1 - l), "table", bar1 + 1,
				                      (size_t)(bar2 - bar1 - 1), "rows",
				                      (json_int_t)strtoll(bar2 + 1, NULL, 10)),
				            "  %.*s.%.*s: %.*s rows", (int)(bar1 - l), l,
				            (int)(bar2 - bar1 - 1), bar1 + 1,
				            (int)(bar3 - bar2 - 1), bar2 + 1);
		}
		free(copy);
	}
	free(sums);
	return rc;
}

static int do_verify(struct bk *b, const struct opts *o)
{
	struct host *src, *scratch;
	struct buf out, e;
	char point[64], *script, *sums = NULL, *src_sums;
	size_t tables = 0, src_tables = 0;
	int st, rc;

	if (!o->on) {
		pv_say_error("verify needs --on SCRATCH: the server restored onto (its data is "
		             "replaced)");
		return PV_EXIT_USAGE;
	}
	if (patroni_refused(b, o->on, "restoring onto it"))
		return PV_EXIT_USAGE;
	if (!(src = bk_host(b, o->host)) || !(scratch = bk_host(b, o->on)))
		return PV_EXIT_USAGE;
	if (src == scratch) {
		pv_say_error("the scratch server must not be the source '%s'", src->name);
		return PV_EXIT_USAGE;
	}
	snprintf(point, sizeof(point), "provision-verify-%lld", (long long)time(NULL));
	buf_init(&out, 1 << 22);
	buf_init(&e, 1 << 20);
	script = xasprintf(HELPER " mark %s\n", point);
	st = bk_run(b, src, script, &out, &e);
	free(script);
	if (st != 0) {
		if (st > 0)
			say_stderr(src, &e);
		pv_say_error("%s: marking a restore point and reading the checksums failed",
		             src->name);
		buf_release(&out);
		buf_release(&e);
		return PV_EXIT_FAIL;
	}
	src_sums = checksum_lines(out.s, &src_tables);
	buf_release(&out);
	buf_release(&e);
	report_line(b->s->rep, NULL, "%s: restore point %s, %zu tables", src->name, point,
	            src_tables);
	report_line(b->s->rep, NULL, "%s: restoring it here...", scratch->name);
	rc = restore_on(b, scratch, NULL, point, o->repo, true, false, &sums, &tables);
	if (rc == PV_EXIT_OK) {
		if (strcmp(sums, src_sums)) {
			pv_say_error("verify FAILED: the restored tables differ from %s (written "
			             "while verifying?):",
			             src->name);
			char *c1 = xstrdup(src_sums), *save = NULL;
			for (char *l = strtok_r(c1, "\n", &save); l;
			     l = strtok_r(NULL, "\n", &save))
				if (!strstr(sums, l))
					pv_say_error("  %s: %s", src->name, l);
			free(c1);
			c1 = xstrdup(sums);
			save = NULL;
			for (char *l = strtok_r(c1, "\n", &save); l;
			     l = strtok_r(NULL, "\n", &save))
				if (!strstr(src_sums, l))
					pv_say_error("  %s: %s", scratch->name, l);
			free(c1);
			rc = PV_EXIT_FAIL;
		} else {
			report_line(b->s->rep,
			            json_pack("{s:s, s:s, s:s, s:s, s:I}", "event", "verified",
			                      "host", src->name, "scratch", scratch->name, "point",
			                      point, "tables", (json_int_t)tables),
			            "verify ok: %zu tables on %s equal %s's (row counts and "
			            "checksums)",
			            tables, scratch->name, src->name);
		}
	}
	free(sums);
	free(src_sums);
	return rc;
}

/* ---- backup files: role backup-files (restic) ---- */

/*
 * The servers of the layout with role backup-files that exist: the one
 * called name, or all of them.  *n 0 (an error said) when there is none.
 */
static struct host **files_hosts(struct bk *b, const char *name, size_t *n)
{
	struct host **out = xcalloc(b->l->n_servers + 1, sizeof(*out));

	*n = 0;
	for (size_t i = 0; i < b->l->n_servers; i++) {
		const struct inv_server *srv = &b->l->servers[i];
		struct host *h;
		if (name ? strcmp(srv->name, name) != 0 : !is_role(srv, FILES_ROLE))
			continue;
		if (!is_role(srv, FILES_ROLE)) {
			pv_say_error("server '%s' of layout '%s' has no role %s", srv->name,
			             b->l->name, FILES_ROLE);
			*n = 0;
			return out;
		}
		if (!(h = host_of(b, srv->name))) {
			pv_say_error(
			    "server '%s' of layout '%s' does not exist; run 'provision up %s'",
			    srv->name, b->l->name, b->l->name);
			*n = 0;
			return out;
		}
		out[(*n)++] = h;
	}
	if (!*n && name)
		pv_say_error("no server '%s' in layout '%s'", name, b->l->name);
	return out;
}

/*
 * Run script on h, its output into out (initialised by the caller); when
 * it fails, its standard error and "HOST: what" are said.  0 or -1.
 */
static int bk_run_said(struct bk *b, const struct host *h, const char *script, struct buf *out,
                       const char *what)
{
	struct buf e;
	int st;

	buf_init(&e, 1 << 20);
	st = bk_run(b, h, script, out, &e);
	if (st > 0)
		say_stderr(h, &e);
	if (st != 0)
		pv_say_error("%s: %s", h->name, what);
	buf_release(&e);
	return st == 0 ? 0 : -1;
}

static int files_now(struct bk *b, struct host *h)
{
	struct buf out;

	report_line(b->s->rep, NULL, "%s: backing up its files...", h->name);
	buf_init(&out, 1 << 20);
	if (bk_run_said(b, h, FILES_HELPER " now\n", &out, "the files backup FAILED") < 0) {
		buf_release(&out);
		return PV_EXIT_FAIL;
	}
	say_lines(b, h, &out);
	buf_release(&out);
	report_line(
	    b->s->rep,
	    json_pack("{s:s, s:s, s:s}", "event", "backup_done", "host", h->name, "type", "files"),
	    "%s: files backup done", h->name);
	return PV_EXIT_OK;
}

/* restic's time (RFC 3339, nanoseconds) to the second, for people */
static void fmt_restic_time(char *dst, size_t n, const char *t)
{
	snprintf(dst, n, "%.10s %.8s", t ? t : "", t && strlen(t) > 11 ? t + 11 : "");
}

static int files_list(struct bk *b, struct host *h)
{
	struct buf out;
	json_error_t je;
	json_t *root, *sn;
	size_t i;

	buf_init(&out, 1 << 22);
	if (bk_run_said(b, h, FILES_HELPER " list\n", &out, "reading the files repository failed") <
	    0) {
		buf_release(&out);
		return PV_EXIT_FAIL;
	}
	root = json_loads(out.s ? out.s : "", 0, &je);
	buf_release(&out);
	if (!json_is_array(root)) {
		pv_say_error("%s: unreadable restic snapshots: %s", h->name, je.text);
		json_decref(root);
		return PV_EXIT_FAIL;
	}
	if (b->s->mode == REPORT_JSON) {
		json_t *list = json_array();
		json_array_foreach(root, i, sn)
		{
			json_t *paths = json_object_get(sn, "paths");
			json_array_append_new(
			    list, json_pack("{s:s?, s:s?, s:O*}", "id",
			                    json_string_value(json_object_get(sn, "short_id")),
			                    "time", json_string_value(json_object_get(sn, "time")),
			                    "paths", json_is_array(paths) ? paths : NULL));
		}
		report_event(b->s->rep, json_pack("{s:s, s:s, s:o}", "event", "file_snapshots",
		                                  "host", h->name, "snapshots", list));
		json_decref(root);
		return PV_EXIT_OK;
	}
	printf("%s: %zu snapshots of its files\n", h->name, json_array_size(root));
	if (json_array_size(root))
		printf("  %-8s  %-19s  %s\n", "id", "time (UTC)", "paths");
	json_array_foreach(root, i, sn)
	{
		json_t *paths = json_object_get(sn, "paths"), *p;
		char when[40];
		size_t k;
		fmt_restic_time(when, sizeof(when), json_string_value(json_object_get(sn, "time")));
		printf("  %-8s  %-19s ", json_string_value(json_object_get(sn, "short_id")), when);
		json_array_foreach(paths, k, p) printf(" %s", json_string_value(p));
		printf("\n");
	}
	json_decref(root);
	return PV_EXIT_OK;
}

static int files_restore(struct bk *b, struct host *h, const struct opts *o)
{
	struct buf script = BUF_INIT, out;
	int rc;

	buf_addf(&script, "PV_AT=");
	sh_quote_buf(&script, o->at ? o->at : "");
	buf_addf(&script, " PV_PATH=");
	sh_quote_buf(&script, o->path ? o->path : "");
	buf_addf(&script, "\nexport PV_AT PV_PATH\n" FILES_HELPER " restore\n");
	report_line(b->s->rep, NULL, "%s: restoring %s from %s...", h->name,
	            o->path ? o->path : "its files", o->at ? o->at : "the latest snapshot");
	buf_init(&out, 1 << 20);
	rc = bk_run_said(b, h, script.s, &out, "the files restore FAILED");
	buf_release(&script);
	if (rc < 0) {
		buf_release(&out);
		return PV_EXIT_FAIL;
	}
	/* "S ID TIME" (the snapshot), "C NAME" for each container stopped for
	 * the restore (started again after it), "R PATH KEPT" for each path */
	char *copy = xstrdup(out.s ? out.s : ""), *save = NULL, *snap = NULL, *when = NULL;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(l, "S ", 2) && strchr(l + 2, ' ')) {
			snap = l + 2;
			when = strchr(snap, ' ');
			*when++ = '\0';
			report_line(b->s->rep, NULL, "%s: snapshot %.8s, taken %s", h->name, snap,
			            when);
		} else if (!strncmp(l, "C ", 2)) {
			report_line(b->s->rep, NULL,
			            "%s: container %s stopped for the restore, started after it",
			            h->name, l + 2);
		} else if (!strncmp(l, "R ", 2) && strchr(l + 2, ' ')) {
			char *path = l + 2, *kept = strchr(path, ' ');
			*kept++ = '\0';
			bool had = strcmp(kept, "-") != 0;
			report_line(b->s->rep,
			            json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s*}", "event",
			                      "files_restored", "host", h->name, "path", path,
			                      "snapshot", snap, "snapshot_time", when, "kept_at",
			                      had ? kept : NULL),
			            "%s: restored %s%s%s", h->name, path,
			            had ? "; what was there is kept at " : "", had ? kept : "");
		}
	}
	free(copy);
	buf_release(&out);
	return PV_EXIT_OK;
}

/* A restore drill: the helper restores the newest snapshot into a scratch
 * directory and checks it ("V ID FILES BYTES"); nothing is put back. */
static int files_verify(struct bk *b, struct host *h)
{
	struct buf out;
	char id[128] = "", *v;
	long long files = -1, bytes = -1;

	report_line(b->s->rep, NULL,
	            "%s: restoring its newest snapshot into a scratch directory...", h->name);
	buf_init(&out, 1 << 20);
	if (bk_run_said(b, h, FILES_HELPER " verify\n", &out, "the files verify FAILED") < 0) {
		buf_release(&out);
		return PV_EXIT_FAIL;
	}
	v = out.s ? strstr(out.s, "V ") : NULL;
	if (!v || sscanf(v, "V %127s %lld %lld", id, &files, &bytes) != 3) {
		pv_say_error("%s: the files verify said nothing of its result", h->name);
		buf_release(&out);
		return PV_EXIT_FAIL;
	}
	buf_release(&out);
	report_line(b->s->rep,
	            json_pack("{s:s, s:s, s:s, s:I, s:I}", "event", "files_verified", "host",
	                      h->name, "snapshot", id, "files", (json_int_t)files, "bytes",
	                      (json_int_t)bytes),
	            "%s: verify ok: snapshot %.8s restored and read back, %lld files, %lld bytes",
	            h->name, id, files, bytes);
	return PV_EXIT_OK;
}

static int do_files(struct bk *b, const char *sub, const struct opts *o)
{
	struct host **hs;
	size_t n;
	int rc = PV_EXIT_OK;

	if (!strcmp(sub, "restore")) {
		if (!at_ok(o->at))
			return PV_EXIT_USAGE;
		/* a path of the backup, absolute; restic would read a pattern in it */
		if (o->path && (o->path[0] != '/' || strpbrk(o->path, "*?[\\\n"))) {
			pv_say_error("--path takes an absolute path without *, ?, [ or \\, not "
			             "'%s'",
			             o->path);
			return PV_EXIT_USAGE;
		}
	}
	hs = files_hosts(b, o->host, &n);
	if (!n) {
		free(hs);
		return PV_EXIT_USAGE;
	}
	if (!strcmp(sub, "restore") && n > 1) {
		pv_say_error("layout '%s' has %zu servers with role %s; name one with --host",
		             b->l->name, n, FILES_ROLE);
		free(hs);
		return PV_EXIT_USAGE;
	}
	for (size_t i = 0; i < n; i++) {
		int r = !strcmp(sub, "now")      ? files_now(b, hs[i])
		        : !strcmp(sub, "list")   ? files_list(b, hs[i])
		        : !strcmp(sub, "verify") ? files_verify(b, hs[i])
		                                 : files_restore(b, hs[i], o);
		if (r > rc)
			rc = r;
	}
	free(hs);
	return rc;
}

static int cmd_backup(struct session *s, int argc, char **argv)
{
	struct opts o;
	struct bk b;
	const char *sub;
	int rc;

	if (argc < 2) {
		pv_usage(&cmd_backup_entry);
		return PV_EXIT_USAGE;
	}
	sub = argv[1];
	if (!strcmp(sub, "files")) {
		/* backup files now|list|restore|verify: the command after 'files' */
		const char *fsub = argc > 2 ? argv[2] : "";
		const char *fallowed = !strcmp(fsub, "now")       ? "H"
		                       : !strcmp(fsub, "list")    ? "H"
		                       : !strcmp(fsub, "restore") ? "Hap"
		                       : !strcmp(fsub, "verify")  ? "H"
		                                                  : NULL;
		if (!*fsub) {
			pv_say_error("backup files needs a command: now, list, restore or verify");
			return PV_EXIT_USAGE;
		}
		if (!fallowed) {
			pv_say_error(
			    "unknown backup files command '%s' (now, list, restore, verify)", fsub);
			return PV_EXIT_USAGE;
		}
		if (parse(&cmd_backup_entry, argc - 2, argv + 2, &o, fallowed) < 0)
			return PV_EXIT_USAGE;
		if ((rc = bk_open(&b, s, o.layout, true)) == PV_EXIT_OK)
			rc = do_files(&b, fsub, &o);
		bk_close(&b);
		return rc;
	}
	const char *allowed = !strcmp(sub, "now")       ? "Ht"
	                      : !strcmp(sub, "list")    ? "H"
	                      : !strcmp(sub, "restore") ? "Hayr"
	                      : !strcmp(sub, "verify")  ? "Hor"
	                                                : NULL;
	if (!allowed) {
		pv_say_error("unknown backup command '%s' (now, list, restore, verify, files)",
		             sub);
		return PV_EXIT_USAGE;
	}
	if (parse(&cmd_backup_entry, argc - 1, argv + 1, &o, allowed) < 0)
		return PV_EXIT_USAGE;
	if ((rc = bk_open(&b, s, o.layout, false))) {
		bk_close(&b);
		return rc;
	}
	if (!strcmp(sub, "now"))
		rc = do_now(&b, &o);
	else if (!strcmp(sub, "list"))
		rc = do_list(&b, &o);
	else if (!strcmp(sub, "restore"))
		rc = do_restore(&b, &o);
	else
		rc = do_verify(&b, &o);
	bk_close(&b);
	return rc;
}

const struct cmd_entry cmd_backup_entry = {
    .name = "backup",
    .usage = "backup now|list|restore|verify|files [LAYOUT] [options]",
    .summary = "PostgreSQL backups (pgBackRest) and files backups (restic): take, list, restore",
    .help = "Commands:\n"
            "  now [--type full|diff|incr|dump]  a backup now (default full; dump: the\n"
            "                                logical dumps, with role variable backup_dump)\n"
            "  list                          the backups in each repository\n"
            "  restore [--at TIME] [--yes]   restore into a fresh data directory (the old one\n"
            "                                is kept aside), to TIME or the latest state;\n"
            "                                a running primary only with --yes\n"
            "  verify --on SCRATCH           restore onto the server SCRATCH and compare every\n"
            "                                table's rows and checksum with the source\n"
            "  files now                     a backup of the paths of role backup-files now\n"
            "  files list                    the snapshots of each server's files\n"
            "  files restore [--at TIME] [--path PATH]\n"
            "                                put the paths back as the newest snapshot (taken\n"
            "                                at or before TIME) holds them, or only PATH; what\n"
            "                                is there now is kept aside\n"
            "  files verify                  restore the newest snapshot into a scratch\n"
            "                                directory, restic reading back every file;\n"
            "                                nothing is put back\n"
            "Options:\n"
            "  --repo N        restore and verify: from repository N (1: backup_s3_*, 2-4:\n"
            "                  backup_repos); default: the first that holds a backup\n"
            "  --host SERVER   the server backed up or restored (default: the layout's\n"
            "                  server with roles postgres and backup, or on a Patroni\n"
            "                  layout the current leader; restore refuses Patroni servers);\n"
            "                  files: the server with role backup-files (default: each)\n",
    .exec = cmd_backup,
};
