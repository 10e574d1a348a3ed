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

int pg_status(struct remote *r, const struct host *h, json_t **out, struct pv_error *err)
{
	struct buf o;
	int st = -1;
	char *save = NULL;
	json_t *pg = json_pack("{s:s}", "role", "down"), *standbys = NULL;

	*out = NULL;
	buf_init(&o, 1 << 16);
	if (remote_exec(r, converge_shell(h), pg_status_script, strlen(pg_status_script), &o, NULL,
	                &st, err) < 0) {
		buf_release(&o);
		json_decref(pg);
		return -1;
	}
	for (char *line = strtok_r(o.s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char a[128] = "", b[128] = "", c[128] = "";
		long long bytes = 0;
		double secs = 0;

		if (!strncmp(line, "R ", 2) && strcmp(line + 2, "down")) {
			bool primary = !strcmp(line + 2, "f");
			json_object_set_new(pg, "role",
			                    json_string(primary ? "primary" : "standby"));
			if (primary)
				json_object_set_new(pg, "standbys", standbys = json_array());
		} else if (!strncmp(line, "S ", 2) && standbys &&
		           sscanf(line + 2, "%127s %127s %127s %lld %lf", a, b, c, &bytes, &secs) ==
		               5) {
			json_array_append_new(standbys,
			                      json_pack("{s:s, s:s, s:s, s:I, s:f}", "name", a,
			                                "state", b, "sync", c, "lag_bytes",
			                                (json_int_t)bytes, "lag_seconds", secs));
		} else if (!strncmp(line, "W ", 2) && sscanf(line + 2, "%127s %127s", a, b) == 2) {
			json_object_set_new(pg, "receiving",
			                    json_pack("{s:s, s:s}", "from", b, "status", a));
		} else if (!strncmp(line, "L ", 2)) {
			json_object_set_new(pg, "unreplayed_bytes",
			                    json_integer(strtoll(line + 2, NULL, 10)));
		}
	}
	buf_release(&o);
	*out = pg;
	return 0;
}

void pg_status_format(const json_t *pg, const char *indent, struct buf *out)
{
	const char *role = json_string_value(json_object_get(pg, "role"));
	json_t *standbys = json_object_get(pg, "standbys"), *sb;
	json_t *w = json_object_get(pg, "receiving"), *l = json_object_get(pg, "unreplayed_bytes");
	size_t i;

	if (!role || !strcmp(role, "down")) {
		buf_addf(out, "%spostgres: not answering\n", indent);
		return;
	}
	buf_addf(out, "%spostgres: %s\n", indent, role);
	json_array_foreach(standbys, i, sb)
	{
		buf_addf(out, "%s  standby %s: %s (%s), lag %lld bytes, %.3f s\n", indent,
		         json_string_value(json_object_get(sb, "name")),
		         json_string_value(json_object_get(sb, "state")),
		         json_string_value(json_object_get(sb, "sync")),
		         (long long)json_integer_value(json_object_get(sb, "lag_bytes")),
		         json_number_value(json_object_get(sb, "lag_seconds")));
	}
	if (standbys && !json_array_size(standbys))
		buf_addf(out, "%s  no standby connected\n", indent);
	if (w)
		buf_addf(out, "%s  receiving from %s: %s\n", indent,
		         json_string_value(json_object_get(w, "from")),
		         json_string_value(json_object_get(w, "status")));
	if (l)
		buf_addf(out, "%s  received but not yet replayed: %lld bytes\n", indent,
		         (long long)json_integer_value(l));
}
