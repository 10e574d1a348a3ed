/*
 * pgstatus.c - PostgreSQL primary/standby state and replication lag, read
 * with the host's own psql in one round trip.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/converge.h"
#include "provision/pgstatus.h"

bool pg_server_has_db(const struct inv_server *srv)
{
	for (size_t i = 0; i < srv->n_roles; i++)
		if (!strcmp(srv->roles[i], "postgres") ||
		    !strcmp(srv->roles[i], "postgres-replica") || !strcmp(srv->roles[i], "patroni"))
			return true;
	return false;
}

/*
 * Lines: "R t|f" (in recovery), then on a primary one "S name state sync
 * bytes seconds" per standby, on a standby "W status sender_host".
 */
static const char pg_status_script[] =
    "q() { runuser -u postgres -- psql -X -q -tA -F ' ' -d postgres -c \"$1\" 2>/dev/null; }\n"
    "r=$(q 'select pg_is_in_recovery()') || { echo 'R down'; exit 0; }\n"
    "[ -n \"$r\" ] || { echo 'R down'; exit 0; }\n"
    "echo \"R $r\"\n"
    "if [ \"$r\" = f ]; then\n"
    "  q \"select 'S', application_name, state, sync_state,"
    " coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint,"
    " round(coalesce(extract(epoch from replay_lag), 0)::numeric, 3)"
    " from pg_stat_replication order by application_name\"\n"
    "else\n"
    "  q \"select 'W', status, sender_host from pg_stat_wal_receiver\"\n"
    "  q \"select 'L', coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(),"
    " pg_last_wal_replay_lsn()), 0)::bigint\"\n"
    "fi\n";

int pg_status(struct remote *r, const struct host *h, const char *indent, struct buf *out,
              struct pv_error *err)
{
	struct buf o;
	int st = -1, n_standby = 0;
	bool primary = false;
	char *save = NULL;

	buf_init(&o, 1 << 16);
	if (remote_exec(r, converge_shell(h), pg_status_script, strlen(pg_status_script), &o, NULL,
	                &st, err) < 0) {
		buf_release(&o);
		return -1;
	}
	for (char *line = strtok_r(o.s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char a[128] = "", b[128] = "", c[128] = "", d[128] = "", e[128] = "";

		if (!strncmp(line, "R ", 2)) {
			if (!strcmp(line + 2, "down")) {
				buf_addf(out, "%spostgres: not answering\n", indent);
			} else if (!strcmp(line + 2, "f")) {
				primary = true;
				buf_addf(out, "%spostgres: primary\n", indent);
			} else {
				buf_addf(out, "%spostgres: standby\n", indent);
			}
		} else if (!strncmp(line, "S ", 2) &&
		           sscanf(line + 2, "%127s %127s %127s %127s %127s", a, b, c, d, e) == 5) {
			n_standby++;
			buf_addf(out, "%s  standby %s: %s (%s), lag %s bytes, %s s\n", indent, a, b,
			         c, d, e);
		} else if (!strncmp(line, "W ", 2) && sscanf(line + 2, "%127s %127s", a, b) == 2) {
			buf_addf(out, "%s  receiving from %s: %s\n", indent, b, a);
		} else if (!strncmp(line, "L ", 2)) {
			buf_addf(out, "%s  received but not yet replayed: %s bytes\n", indent,
			         line + 2);
		}
	}
	if (primary && n_standby == 0)
		buf_addf(out, "%s  no standby connected\n", indent);
	buf_release(&o);
	return 0;
}
