{# format: shell #}
#!/bin/sh
# Written by provision (role backup): the time of pgBackRest's newest good
# backup (0: none) for the node exporter's textfile collector, read from
# 'pgbackrest info' (each backup's "error" flag, then its timestamps).
set -u
out=/var/lib/prometheus/node-exporter/provision-backup.prom
[ -d "${out%/*}" ] || exit 0
json=$(runuser -u postgres -- pgbackrest --stanza={{ backup_stanza | sh }} --output=json info 2>/dev/null) || json=
last=$(printf '%s' "$json" | tr -d ' \n' | sed 's/"error":/\n&/g' | grep '^"error":false' |
	sed -n 's/.*"timestamp":{"start":[0-9]*,"stop":\([0-9]*\)}.*/\1/p' | sort -n | tail -n 1)
{
	echo '# HELP provision_backup_last_good_timestamp_seconds when the newest good pgBackRest backup ended (0: none)'
	echo '# TYPE provision_backup_last_good_timestamp_seconds gauge'
	echo "provision_backup_last_good_timestamp_seconds ${last:-0}"
} >"$out.tmp" && mv -f "$out.tmp" "$out"
