{# format: shell #}
#!/bin/sh
# Written by provision (role backup): for each pgBackRest repository, the
# time of its newest good backup (0: none) and whether pgBackRest can read
# it, and whether the primary's WAL archiving fails, for the node
# exporter's textfile collector.  Read from 'pgbackrest
# info' (JSON, its keys in alphabetical order): each backup from its
# "database" object (which names its repository) to the next, and the
# stanza's "repo" list with each repository's status code (0: ok).
set -u
out=/var/lib/prometheus/node-exporter/provision-backup.prom
[ -d "${out%/*}" ] || exit 0
json=$(runuser -u postgres -- pgbackrest --stanza={{ backup_stanza | sh }} --output=json info 2>/dev/null) || json=
flat=$(printf '%s' "$json" | tr -d ' \n')
# "REPO STOP" for each good backup
good=$(printf '%s' "$flat" | sed 's/"database":{"id":/\n&/g' | grep '"error":false' |
	sed -n 's/^"database":{"id":[0-9]*,"repo-key":\([0-9]*\)}.*"timestamp":{"start":[0-9]*,"stop":\([0-9]*\)}.*/\1 \2/p')
# "REPO CODE" for each repository of the stanza
repos=$(printf '%s' "$flat" | grep -o '"key":[0-9]*,"status":{"code":[0-9]*' |
	sed 's/^"key":\([0-9]*\),"status":{"code":\([0-9]*\)$/\1 \2/')
[ -n "$repos" ] || repos="1 99"
# WAL archiving, from PostgreSQL's own counters: "RECOVERY LAST_OK LAST_FAILED"
# (epoch seconds, 0: never); a standby archives nothing and says nothing
wal=$(runuser -u postgres -- psql -X -q -tA -F ' ' -c "SELECT pg_is_in_recovery(),
	coalesce(extract(epoch FROM last_archived_time)::bigint, 0),
	coalesce(extract(epoch FROM last_failed_time)::bigint, 0) FROM pg_stat_archiver" 2>/dev/null) || wal=
{
	echo '# HELP provision_backup_last_good_timestamp_seconds when the newest good pgBackRest backup of the repository ended (0: none)'
	echo '# TYPE provision_backup_last_good_timestamp_seconds gauge'
	printf '%s\n' "$repos" | while read -r repo code; do
		last=$(printf '%s\n' "$good" | awk -v r="$repo" '$1 == r && $2 > m { m = $2 } END { print m + 0 }')
		echo "provision_backup_last_good_timestamp_seconds{repo=\"$repo\"} $last"
	done
	echo '# HELP provision_backup_repository_ok 1 when pgBackRest can read the repository, 0 when it cannot'
	echo '# TYPE provision_backup_repository_ok gauge'
	printf '%s\n' "$repos" | while read -r repo code; do
		echo "provision_backup_repository_ok{repo=\"$repo\"} $([ "$code" = 0 ] && echo 1 || echo 0)"
	done
	set -- $wal
	if [ "${1:-}" = f ]; then
		echo '# HELP provision_backup_wal_archive_failing 1 when the last WAL segment PostgreSQL tried to archive failed'
		echo '# TYPE provision_backup_wal_archive_failing gauge'
		echo "provision_backup_wal_archive_failing $([ "$3" -gt "$2" ] && echo 1 || echo 0)"
		echo '# HELP provision_backup_wal_last_archived_timestamp_seconds when PostgreSQL last archived a WAL segment (0: never)'
		echo '# TYPE provision_backup_wal_last_archived_timestamp_seconds gauge'
		echo "provision_backup_wal_last_archived_timestamp_seconds $2"
	fi
} >"$out.tmp" && mv -f "$out.tmp" "$out"
