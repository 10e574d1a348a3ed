{# format: shell #}
#!/bin/sh
# Written by provision (role pgbouncer): PgBouncer's pools and statistics
# for the node exporter's textfile collector, read on its console as the
# stats user (SHOW only; the password in a root-only password file).
# Debian 12's prometheus-pgbouncer-exporter cannot read PgBouncer 1.18's
# SHOW STATS (its columns were renamed), hence this.
set -u
out=/var/lib/prometheus/node-exporter/provision-pgbouncer.prom
[ -d "${out%/*}" ] || exit 0
show() {
	PGPASSFILE=/etc/pgbouncer/metrics.pgpass PGCONNECT_TIMEOUT=5 psql -X -w -A -F '|' -P footer=off \
		-h 127.0.0.1 -p 6432 -U {{ pgbouncer_metrics_user | sh }} -d pgbouncer -c "show $1" 2>/dev/null
}
# the numeric columns of a SHOW as NAME{LABELS} VALUE; $1: metric prefix,
# $2: how many leading columns are labels
series() {
	awk -F'|' -v p="$1" -v nl="$2" '
		function q(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return s }
		NR == 1 { for (i = 1; i <= NF; i++) h[i] = $i; next }
		{
			l = ""
			for (i = 1; i <= nl; i++) l = l (i > 1 ? "," : "") h[i] "=\"" q($i) "\""
			for (i = nl + 1; i <= NF; i++)
				if ($i ~ /^[0-9]+$/ && h[i] ~ /^[a-z_]+$/) print p "_" h[i] "{" l "} " $i
		}'
}
pools=$(show pools) && stats=$(show stats) && up=1 || up=0
{
	echo '# HELP pgbouncer_up 1 when PgBouncer answers its stats user on the console'
	echo '# TYPE pgbouncer_up gauge'
	echo "pgbouncer_up $up"
	if [ "$up" = 1 ]; then
		# per database and user: cl_active, cl_waiting, sv_active, sv_idle, maxwait, ...
		printf '%s\n' "$pools" | series pgbouncer_pools 2
		# per database: total_xact_count, total_query_count, total_wait_time, ...
		printf '%s\n' "$stats" | series pgbouncer_stats 1
	fi
} >"$out.tmp" && mv -f "$out.tmp" "$out"
