/*
 * pgmigrate.c - copy a PostgreSQL server's databases to a new primary of
 * another layout, once, with writes on the source stopped first and row
 * counts compared after (see pgmigrate.h).
 *
 * The data flows over the two SSH connections through this process:
 * pg_dump's custom format (compressed) on the source's stdout, the same
 * bytes on pg_restore's stdin on the target.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/converge.h"
#include "provision/pgmigrate.h"
#include "provision/remote.h"
#include "provision/shquote.h"

#define VAR "postgres_migrate_from"
#define MARKER "/var/lib/postgresql/provision-migrated"
/* one database's dump is held in memory on its way */
#define DUMP_LIMIT ((size_t)2 << 30)

struct source {
	const struct inv_server *target; /* the declaring server */
	const struct node *ref; /* the variable's node, for messages */
	const struct inv_layout *layout;
	const struct inv_server *server;
};

static const char q_fn[] =
    "q() { runuser -u postgres -- psql -X -q -tA -F ' ' -v ON_ERROR_STOP=1 \"$@\"; }\n";

/* The declaration of srv, if any; problems are printed (file:line:col). */
static int find_source(struct session *s, const struct inv_layout *l, const struct inv_server *srv,
                       struct source *src)
{
	const struct node *v = node_get(srv->vars, VAR);
	const char *slash;
	char *lname;

	memset(src, 0, sizeof(*src));
	if (!v)
		return 0;
	src->target = srv;
	src->ref = v;
	if (v->kind != NODE_SCALAR || !(slash = strchr(v->scalar, '/')) || slash == v->scalar ||
	    !slash[1]) {
		pv_say_error("%s:%d:%d: '%s' of server '%s' must be LAYOUT/SERVER, e.g. "
		             "phase1/app1",
		             v->pos.file, v->pos.line, v->pos.col, VAR, srv->name);
		return -1;
	}
	lname = xstrndup(v->scalar, (size_t)(slash - v->scalar));
	src->layout = inventory_layout(s->inv, lname);
	free(lname);
	if (!src->layout || src->layout == l) {
		pv_say_error("%s:%d:%d: '%s' of server '%s' names %s layout '%.*s'", v->pos.file,
		             v->pos.line, v->pos.col, VAR, srv->name,
		             src->layout ? "its own" : "an unknown", (int)(slash - v->scalar),
		             v->scalar);
		return -1;
	}
	src->server = layout_server(src->layout, slash + 1);
	if (!src->server || !pg_server_is_primary(src->server)) {
		pv_say_error("%s:%d:%d: '%s' of server '%s': %s", v->pos.file, v->pos.line,
		             v->pos.col, VAR, srv->name,
		             src->server ? "that server has no role postgres"
		                         : "no such server in that layout");
		return -1;
	}
	bool has = false;
	for (size_t i = 0; i < srv->n_roles; i++)
		has = has || !strcmp(srv->roles[i], "postgres");
	if (!has) {
		pv_say_error("%s:%d:%d: server '%s' declares '%s' but has no role postgres",
		             v->pos.file, v->pos.line, v->pos.col, srv->name, VAR);
		return -1;
	}
	return 1;
}

bool pg_server_is_primary(const struct inv_server *srv)
{
	for (size_t i = 0; i < srv->n_roles; i++)
		if (!strcmp(srv->roles[i], "postgres"))
			return true;
	return false;
}

int pgmigrate_check(struct session *s, const struct inv_layout *l)
{
	int rc = PV_EXIT_OK;

	for (size_t i = 0; i < l->n_servers; i++) {
		struct source src;
		int r = find_source(s, l, &l->servers[i], &src);
		if (r < 0) {
			rc = PV_EXIT_USAGE;
			continue;
		}
		if (r == 0)
			continue;
		json_t *mine = state_layout(&s->st, s->env, l->name, false);
		json_t *theirs = state_layout(&s->st, s->env, src.layout->name, false);
		if (json_object_get(json_object_get(mine, "hosts"), src.target->name))
			continue;
		if (!json_object_get(json_object_get(theirs, "hosts"), src.server->name)) {
			pv_say_error("%s:%d:%d: server '%s' takes its PostgreSQL data from '%s', "
			             "which does not exist in environment '%s'; run 'provision up "
			             "%s' first or remove '%s'",
			             src.ref->pos.file, src.ref->pos.line, src.ref->pos.col,
			             src.target->name, src.ref->scalar, s->env, src.layout->name,
			             VAR);
			rc = PV_EXIT_FAIL;
		}
	}
	return rc;
}

/* The source's host from its layout's state (NULL: that layout is not up). */
static struct host *source_host(struct session *s, const struct source *src, struct host **all,
                                size_t *n_all, struct pv_error *err)
{
	const struct provider_ops *p = provider_find(src->layout->provider);
	struct provider_ctx c;

	*all = NULL;
	*n_all = 0;
	if (!p || !state_layout(&s->st, s->env, src->layout->name, false))
		return NULL;
	session_provider_ctx(s, src->layout, &c);
	if (p->hosts(&c, all, n_all, err) < 0)
		return NULL;
	for (size_t i = 0; i < *n_all; i++)
		if (!strcmp((*all)[i].name, src->server->name))
			return &(*all)[i];
	return NULL;
}

static int connect_host(struct session *s, const struct host *h, struct remote **r,
                        struct pv_error *err)
{
	struct remote_target t = {
	    .name = h->name,
	    .address = h->address,
	    .port = h->port,
	    .user = h->user,
	    .private_key = s->private_key,
	    .known_hosts = s->known_hosts,
	};
	return remote_connect(r, &t, err);
}

/* Run script as root on r; stdout into out (may be NULL); exit status in *st. */
static int run_root(struct remote *r, const struct host *h, const char *script, const void *in,
                    size_t in_len, struct buf *out, struct buf *errb, int *st, struct pv_error *err)
{
	struct buf cmd = BUF_INIT, o;
	int rc;

	if (in) {
		/* stdin carries the data: the script goes in the command itself */
		buf_adds(&cmd, strcmp(h->user, "root") ? "sudo -n -- sh -c " : "sh -c ");
		sh_quote_buf(&cmd, script);
		buf_init(&o, 1 << 20);
		rc = remote_exec(r, cmd.s, in, in_len, out ? out : &o, errb, st, err);
	} else {
		buf_init(&o, 1 << 20);
		rc = remote_exec(r, converge_shell(h), script, strlen(script), out ? out : &o, errb,
		                 st, err);
	}
	buf_release(&o);
	buf_release(&cmd);
	return rc;
}

/* "copied ..." when the target already holds a copy, else NULL. */
static char *marker(struct remote *r, const struct host *h, struct pv_error *err, int *fail)
{
	struct buf o;
	int st = -1;
	char *m = NULL;

	buf_init(&o, 1 << 16);
	*fail = run_root(r, h, "cat " MARKER " 2>/dev/null || true\n", NULL, 0, &o, NULL, &st, err);
	if (!*fail && o.len)
		m = xstrndup(o.s, strcspn(o.s, "\n"));
	buf_release(&o);
	return m;
}

/* "db owner" lines of the source's databases. */
static const char list_dbs[] = "q -d postgres -c \"select datname, pg_get_userbyid(datdba)"
                               " from pg_database where not datistemplate and"
                               " datname <> 'postgres' order by 1\"\n";

/* Row count of every table: "schema.table count" lines. */
static const char count_sql[] =
    "select format('%I.%I', table_schema, table_name), (xpath('/row/c/text()',"
    " query_to_xml(format('select count(*) as c from %I.%I', table_schema, table_name),"
    " false, true, '')))[1]::text from information_schema.tables where table_type ="
    " 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema') order by 1";

int pgmigrate_plan(struct session *s, const struct inv_layout *l, const struct host *hosts,
                   size_t n, struct buf *out)
{
	int rc = PV_EXIT_OK;

	for (size_t i = 0; i < l->n_servers; i++) {
		const struct inv_server *srv = &l->servers[i];
		struct pv_error err = {{0}};
		struct source src;
		struct host *all = NULL, *sh;
		size_t n_all = 0;
		struct remote *r = NULL;
		char *m = NULL;
		int fail = 0;

		if (find_source(s, l, srv, &src) <= 0)
			continue;
		for (size_t k = 0; k < n && !m; k++) {
			if (strcmp(hosts[k].name, srv->name))
				continue;
			if (connect_host(s, &hosts[k], &r, &err) == 0) {
				m = marker(r, &hosts[k], &err, &fail);
				remote_close(r);
				r = NULL;
			}
		}
		if (m) {
			buf_addf(out, "  %s: PostgreSQL data: already %s\n", srv->name, m);
			free(m);
			continue;
		}
		sh = source_host(s, &src, &all, &n_all, &err);
		if (!sh) {
			buf_addf(
			    out,
			    "  %s: PostgreSQL data: layout '%s' does not run '%s' here: nothing "
			    "to copy, up stops before creating anything\n",
			    srv->name, src.layout->name, src.server->name);
			rc = PV_EXIT_FAIL;
		} else {
			struct buf o, sc = BUF_INIT;
			int st = -1;

			buf_init(&o, 1 << 20);
			buf_adds(&sc, q_fn);
			buf_adds(&sc, list_dbs);
			if (connect_host(s, sh, &r, &err) < 0 ||
			    run_root(r, sh, sc.s, NULL, 0, &o, NULL, &st, &err) < 0 || st != 0) {
				buf_addf(out,
				         "  %s: PostgreSQL data: cannot read the databases of "
				         "%s/%s: %s\n",
				         srv->name, src.layout->name, src.server->name,
				         err.msg[0] ? err.msg : "psql failed");
				rc = PV_EXIT_FAIL;
			} else {
				buf_addf(
				    out,
				    "  %s: PostgreSQL data: replaced by a copy of %s/%s, after the "
				    "hosts converge: %s/%s becomes read-only (and stays so), each "
				    "database is dumped and restored here, and every table's row "
				    "count is compared\n",
				    srv->name, src.layout->name, src.server->name, src.layout->name,
				    src.server->name);
				char *save = NULL;
				for (char *ln = strtok_r(o.s, "\n", &save); ln;
				     ln = strtok_r(NULL, "\n", &save)) {
					char *sp = strchr(ln, ' ');
					if (sp)
						*sp++ = '\0';
					buf_addf(out, "      database %s (owner %s)\n", ln,
					         sp ? sp : "?");
				}
			}
			if (r)
				remote_close(r);
			buf_release(&o);
			buf_release(&sc);
		}
		hosts_free(all, n_all);
	}
	return rc;
}

/* Source back to read-write (after a failure). */
static void source_writable(struct remote *r, const struct host *h)
{
	struct pv_error err = {{0}};
	struct buf sc = BUF_INIT;
	int st;

	buf_adds(&sc, q_fn);
	buf_adds(&sc, "q -d postgres -c 'ALTER SYSTEM RESET default_transaction_read_only'\n"
	              "q -d postgres -c 'select pg_reload_conf()' >/dev/null\n");
	run_root(r, h, sc.s, NULL, 0, NULL, NULL, &st, &err);
	buf_release(&sc);
}

static int counts(struct remote *r, const struct host *h, const char *db, struct buf *out,
                  struct pv_error *err)
{
	struct buf sc = BUF_INIT;
	int st = -1;

	buf_adds(&sc, q_fn);
	buf_adds(&sc, "q -d ");
	sh_quote_buf(&sc, db);
	buf_adds(&sc, " -c ");
	sh_quote_buf(&sc, count_sql);
	buf_adds(&sc, "\n");
	int rc = run_root(r, h, sc.s, NULL, 0, out, NULL, &st, err);
	buf_release(&sc);
	if (rc == 0 && st != 0) {
		pv_error_set(err, "counting the rows of database '%s' on %s failed", db, h->name);
		rc = -1;
	}
	return rc;
}

/* Copy one database src -> dst; "n tables, n rows" in summary. */
static int copy_db(struct remote *rs, const struct host *hs, struct remote *rt,
                   const struct host *ht, const char *db, const char *owner, struct buf *summary,
                   struct pv_error *err)
{
	struct buf sc = BUF_INIT, dump, e, c1, c2;
	int st = -1, rc = -1;

	buf_init(&dump, DUMP_LIMIT);
	buf_init(&e, 1 << 16);
	buf_init(&c1, 1 << 22);
	buf_init(&c2, 1 << 22);
	/* the target: the owner exists, the database exists (made if not) and is empty */
	buf_adds(&sc, q_fn);
	buf_adds(&sc, "db=");
	sh_quote_buf(&sc, db);
	buf_adds(&sc, " owner=");
	sh_quote_buf(&sc, owner);
	buf_adds(
	    &sc,
	    "\nexport db owner\n"
	    "printf '%s\\n' '\\getenv o owner' \"select 1 from pg_roles where rolname = :'o'\" |"
	    " q -d postgres | grep -qx 1 || { echo \"role '$owner' does not exist here:"
	    " declare it in postgres_users\" >&2; exit 3; }\n"
	    "printf '%s\\n' '\\getenv d db' \"select 1 from pg_database where datname = :'d'\" |"
	    " q -d postgres | grep -qx 1 || runuser -u postgres -- createdb -O \"$owner\" --"
	    " \"$db\" || exit 3\n"
	    "n=$(q -d \"$db\" -c \"select count(*) from pg_class c join pg_namespace n on"
	    " n.oid = c.relnamespace where n.nspname not in ('pg_catalog',"
	    " 'information_schema', 'pg_toast') and c.relkind in ('r', 'p', 'v', 'm', 'S',"
	    " 'f')\") || exit 3\n"
	    "[ \"$n\" = 0 ] || { echo \"database '$db' here is not empty ($n relations):"
	    " nothing is overwritten\" >&2; exit 3; }\n");
	if (run_root(rt, ht, sc.s, NULL, 0, NULL, &e, &st, err) < 0)
		goto out;
	if (st != 0) {
		pv_error_set(err, "%s: %.*s", ht->name, (int)strcspn(e.s, "\n"), e.s);
		goto out;
	}
	/* the dump */
	buf_reset(&sc);
	buf_reset(&e);
	buf_adds(&sc, "runuser -u postgres -- pg_dump -Fc -d ");
	sh_quote_buf(&sc, db);
	buf_adds(&sc, "\n");
	if (run_root(rs, hs, sc.s, NULL, 0, &dump, &e, &st, err) < 0)
		goto out;
	if (st != 0 || !dump.len) {
		pv_error_set(err, "pg_dump of '%s' on %s failed: %.*s", db, hs->name,
		             (int)strcspn(e.s, "\n"), e.s);
		goto out;
	}
	/* the restore: all or nothing */
	buf_reset(&sc);
	buf_reset(&e);
	buf_adds(&sc, "runuser -u postgres -- pg_restore --exit-on-error --single-transaction -d ");
	sh_quote_buf(&sc, db);
	if (run_root(rt, ht, sc.s, dump.s, dump.len, NULL, &e, &st, err) < 0)
		goto out;
	if (st != 0) {
		pv_error_set(err, "pg_restore of '%s' on %s failed: %.*s", db, ht->name,
		             (int)strcspn(e.s, "\n"), e.s);
		goto out;
	}
	if (counts(rs, hs, db, &c1, err) < 0 || counts(rt, ht, db, &c2, err) < 0)
		goto out;
	if (c1.len != c2.len || memcmp(c1.s, c2.s, c1.len)) {
		pv_error_set(err,
		             "row counts of database '%s' differ between %s and %s after the copy",
		             db, hs->name, ht->name);
		goto out;
	}
	long long tables = 0, rows = 0;
	char *save = NULL;
	for (char *ln = strtok_r(c1.s, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
		const char *sp = strrchr(ln, ' ');
		tables++;
		rows += sp ? atoll(sp + 1) : 0;
	}
	buf_addf(summary, "%s%s (%lld tables, %lld rows)", summary->len ? ", " : "", db, tables,
	         rows);
	rc = 0;
out:
	buf_release(&sc);
	buf_release(&dump);
	buf_release(&e);
	buf_release(&c1);
	buf_release(&c2);
	return rc;
}

static int migrate_one(struct session *s, const struct source *src, const struct host *ht,
                       struct pv_error *err)
{
	struct host *all = NULL, *hs;
	size_t n_all = 0;
	struct remote *rs = NULL, *rt = NULL;
	struct buf o, sc = BUF_INIT, summary = BUF_INIT;
	bool readonly = false;
	int st = -1, rc = -1, fail = 0;
	char *m;

	buf_init(&o, 1 << 20);
	if (connect_host(s, ht, &rt, err) < 0)
		goto out;
	if ((m = marker(rt, ht, err, &fail))) {
		report_info(s->rep, ht->name, "PostgreSQL data: already %s", m);
		free(m);
		rc = 0;
		goto out;
	}
	if (fail)
		goto out;
	if (!(hs = source_host(s, src, &all, &n_all, err))) {
		if (!err->msg[0])
			pv_error_set(err, "layout '%s' does not run '%s' in environment '%s'",
			             src->layout->name, src->server->name, s->env);
		goto out;
	}
	if (connect_host(s, hs, &rs, err) < 0)
		goto out;
	report_info(s->rep, ht->name,
	            "PostgreSQL data: copying from %s/%s, which becomes read-only now",
	            src->layout->name, src->server->name);
	/* no commit on the source may follow the dump: writes stop first */
	buf_adds(&sc, q_fn);
	buf_adds(&sc, "q -d postgres -c 'ALTER SYSTEM SET default_transaction_read_only = on' &&\n"
	              "q -d postgres -c 'select pg_reload_conf()' >/dev/null || exit 1\n"
	              "sleep 1\n"
	              "q -d postgres -c \"select pg_terminate_backend(pid) from pg_stat_activity"
	              " where backend_type = 'client backend' and pid <> pg_backend_pid()\""
	              " >/dev/null || exit 1\n");
	buf_adds(&sc, list_dbs);
	readonly = true;
	if (run_root(rs, hs, sc.s, NULL, 0, &o, NULL, &st, err) < 0)
		goto out;
	if (st != 0) {
		pv_error_set(err, "%s: cannot stop writes and list the databases", hs->name);
		goto out;
	}
	char *save = NULL;
	for (char *ln = strtok_r(o.s, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(ln, ' ');
		if (!sp)
			continue;
		*sp = '\0';
		if (copy_db(rs, hs, rt, ht, ln, sp + 1, &summary, err) < 0)
			goto out;
	}
	/* recorded last: a failed copy is tried again by the next up */
	buf_reset(&sc);
	buf_addf(&sc, "printf '%%s\\n' ");
	char *line = xasprintf("copied from %s/%s (environment %s): %s", src->layout->name,
	                       src->server->name, s->env, summary.len ? summary.s : "no databases");
	sh_quote_buf(&sc, line);
	buf_adds(&sc, " >" MARKER ".tmp && mv " MARKER ".tmp " MARKER "\n");
	if (run_root(rt, ht, sc.s, NULL, 0, NULL, NULL, &st, err) < 0 || st != 0) {
		if (!err->msg[0])
			pv_error_set(err, "%s: cannot record the copy in " MARKER, ht->name);
		free(line);
		goto out;
	}
	report_info(s->rep, ht->name, "PostgreSQL data: %s", line);
	free(line);
	rc = 0;
out:
	if (rc < 0 && readonly && rs)
		source_writable(rs, hs);
	if (rs)
		remote_close(rs);
	if (rt)
		remote_close(rt);
	hosts_free(all, n_all);
	buf_release(&o);
	buf_release(&sc);
	buf_release(&summary);
	return rc;
}

int pgmigrate_run(struct session *s, const struct inv_layout *l, const struct host *hosts, size_t n)
{
	int rc = PV_EXIT_OK;

	for (size_t i = 0; i < l->n_servers; i++) {
		struct source src;
		struct pv_error err = {{0}};
		const struct host *ht = NULL;

		if (find_source(s, l, &l->servers[i], &src) <= 0)
			continue;
		for (size_t k = 0; k < n && !ht; k++)
			if (!strcmp(hosts[k].name, src.target->name))
				ht = &hosts[k];
		if (!ht)
			continue; /* filtered out by --hosts */
		if (migrate_one(s, &src, ht, &err) < 0) {
			report_error(s->rep, ht->name, "PostgreSQL data from %s/%s: %s",
			             src.layout->name, src.server->name, err.msg);
			rc = PV_EXIT_FAIL;
		}
	}
	return rc;
}
