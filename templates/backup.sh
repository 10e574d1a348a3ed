{# format: shell #}
#!/bin/sh
# Written by provision (role backup): pgBackRest on this server.
#   backup.sh stanza | has-stanza      create / check the repository stanza
#   backup.sh run TYPE                 a backup (the timers' service); nothing on a standby
#   backup.sh now TYPE                 the service, now; its log when it fails
#   backup.sh info                     the repository's backups (JSON)
#   backup.sh check-store              fails, saying why, when the store cannot be used
#   backup.sh status                   lines for 'provision status'
#   backup.sh restore                  PV_AT (a time) or PV_POINT (a restore point) or
#                                      neither (the latest); PV_YES, PV_ARCHIVE; PV_REPO
#                                      (a repository's number; empty: pgBackRest's choice)
#   backup.sh keep [--dry-run]         expire what backup_keep does not keep, in each repository
#   backup.sh checksums                each table's row count and checksum
#   backup.sh mark NAME                a restore point NAME, the checksums as of then
stanza={{ backup_stanza | sh }}
v={{ postgres_version | sh }}
d=/var/lib/postgresql/$v/main
unit=postgresql@$v-main
{% if postgres_patroni %}
# Patroni's cluster: Patroni starts and stops it
d=/var/lib/postgresql/$v/patroni
unit=patroni
{% endif %}
scratch={% if backup_scratch %}yes{% else %}no{% endif %}
# pgBackRest's repositories: 1 (backup_s3_*), then one for each of backup_repos
repos="1{% for r in backup_repos %} {{ loop.index | add "1" }}{% endfor %}"
pgb() { runuser -u postgres -- pgbackrest --stanza="$stanza" "$@"; }
q() { runuser -u postgres -- psql -X -q -tA -F '|' -v ON_ERROR_STOP=1 "$@"; }
standby() { [ "$(q -d postgres -c 'select pg_is_in_recovery()' 2>/dev/null)" = t ]; }
running() { q -d postgres -c 'select 1' >/dev/null 2>&1; }
# timer_epoch TYPE PROPERTY: a timestamp of the TYPE timer in epoch seconds, 0 when unset
timer_epoch() {
	v=$(systemctl show -p "$2" --value "provision-backup-$1.timer" 2>/dev/null)
	case $v in '' | n/a | 0) echo 0 ;; *) date -d "$v" +%s 2>/dev/null || echo 0 ;; esac
}
# every repository holds the stanza
# backup_keep: each repository's backups that it does not keep, expired
# by pgBackRest (newest first, so a differential goes before its full);
# --dry-run: only named
keep() {
	{% if backup_keep %}
	rc=0
	for i in $repos; do
		labels=$(pgb --repo="$i" info --output=json | jq -r --argjson daily {{ backup_keep.daily | default "7" }} \
			--argjson weekly {{ backup_keep.weekly | default "4" }} --argjson monthly {{ backup_keep.monthly | default "12" }} \
			-f /usr/local/lib/provision/backup-keep.jq) || { echo "repository $i: reading its backups failed" >&2; rc=1; continue; }
		for l in $labels; do
			case "$l" in *[!0-9A-Za-z_-]*) echo "repository $i: backup label '$l' skipped" >&2; rc=1; continue ;; esac
			if [ "${1:-}" = --dry-run ]; then
				echo "repository $i: would expire $l"
			elif pgb --repo="$i" expire "--set=$l" >/dev/null; then
				echo "repository $i: expired $l (backup_keep)"
			else
				rc=1
			fi
		done
	done
	return "$rc"
	{% else %}
	echo "backup_keep is not set: pgBackRest's counts expire backups" >&2
	return 1
	{% endif %}
}
has_stanza() {
	for i in $repos; do
		pgb --repo="$i" info --output=json 2>/dev/null | grep -q '"status":{"code":[02],' || return 1
	done
}

# The logical flavour: each database dumped, encrypted, uploaded; old dumps removed.
s3() {
	curl -sS --fail-with-body -K /etc/pgbackrest/dump-curl.conf \
		--aws-sigv4 "aws:amz:"{{ backup_s3_region | sh }}":s3" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
		{% if backup_s3_ca %}--cacert /etc/pgbackrest/s3-ca.crt {% endif %}"$@"
}
{% if backup_s3_uri_style == "path" %}
s3base=https://{{ backup_s3_endpoint | sh }}:{{ backup_s3_port | sh }}/{{ backup_s3_bucket | sh }}
{% else %}
s3base=https://{{ backup_s3_bucket | sh }}.{{ backup_s3_endpoint | sh }}:{{ backup_s3_port | sh }}
{% endif %}
dprefix={% if backup_s3_path %}{{ backup_s3_path | sh }}{% else %}/{{ project | sh }}/{{ env | sh }}/{{ layout | sh }}{% endif %}/dump
dprefix=${dprefix#/}
keep_days={{ backup_dump_keep_days | sh }}

dump() {
	ts=$(date -u +%Y%m%dT%H%M%SZ)
	tmp=/var/lib/pgbackrest/dump.tmp
	umask 077
	rc=0
	for db in $(q -d postgres -c "select datname from pg_database where datallowconn and not datistemplate and datname <> 'postgres' order by 1"); do
		case "$db" in *[!A-Za-z0-9_.-]*) echo "database '$db': a name the dump cannot use as a key; skipped" >&2; rc=1; continue ;; esac
		rm -f "$tmp.dump" "$tmp.enc"
		if ! runuser -u postgres -- pg_dump -Fc -Z 6 -d "$db" >"$tmp.dump"; then
			echo "pg_dump of database $db failed" >&2
			rc=1
			continue
		fi
		openssl enc -aes-256-cbc -pbkdf2 -iter 200000 -salt -pass file:/etc/pgbackrest/dump.pass \
			-in "$tmp.dump" -out "$tmp.enc" || { rc=1; continue; }
		if s3 -o /dev/null -T "$tmp.enc" "$s3base/$dprefix/$db/$ts.dump.enc"; then
			echo "database $db: $dprefix/$db/$ts.dump.enc ($(wc -c <"$tmp.enc") bytes)"
		else
			echo "uploading the dump of database $db failed" >&2
			rc=1
		fi
	done
	rm -f "$tmp.dump" "$tmp.enc"
	[ "$rc" = 0 ] || return 1
	# retention by age: the time is in each dump's name
	cutoff=$(date -u -d "@$(($(date +%s) - keep_days * 86400))" +%Y%m%dT%H%M%SZ)
	list=$(s3 "$s3base?list-type=2&prefix=$dprefix/") || { echo "listing the dumps failed" >&2; return 1; }
	printf '%s' "$list" | sed 's/<Key>/\n<Key>/g' | sed -n 's/^<Key>\([^<]*\)<\/Key>.*/\1/p' |
		while read -r key; do
			t=${key##*/}
			t=${t%.dump.enc}
			case "$t" in [0-9]*T*Z) ;; *) continue ;; esac
			if [ "$t" \< "$cutoff" ]; then
				s3 -o /dev/null -X DELETE "$s3base/$key" && echo "expired $key"
			fi
		done
}

checksums() {
	for db in $(q -d postgres -c "select datname from pg_database where datallowconn and not datistemplate and datname <> 'postgres' order by 1"); do
		q -d "$db" <<'SQL' | sed "s/^/C $db|/"
select format('select %L, count(*), md5(coalesce(string_agg(md5(t::text), '''' order by md5(t::text)), '''')) from %I.%I t',
              schemaname || '.' || tablename, schemaname, tablename)
  from pg_tables where schemaname not in ('pg_catalog', 'information_schema') order by 1
\gexec
SQL
	done
}

# Switch to a new WAL segment and wait until it is archived: every commit
# so far is then in the repository.
flush_wal() {
	w=$(q -d postgres -c 'select pg_walfile_name(pg_switch_wal())') || return 1
	i=0
	while [ "$(q -d postgres -c "select coalesce(last_archived_wal >= '$w', false) from pg_stat_archiver")" != t ]; do
		i=$((i + 1))
		if [ "$i" -gt 120 ]; then
			echo "WAL segment $w was not archived within 60 s: archiving fails (see 'provision status')" >&2
			return 1
		fi
		sleep 0.5
	done
}

case "$1" in
has-stanza)
	[ "$scratch" = yes ] && exit 0
	standby && exit 0
	has_stanza
	;;
stanza)
	# A stanza that exists is left alone, even one of another cluster: a
	# new server replacing a lost one restores from it (archiving from
	# this cluster fails until then, and 'provision status' shows it).
	[ "$scratch" = yes ] && exit 0
	standby && exit 0
	has_stanza && exit 0
	pgb stanza-create
	;;
run)
	# the output goes to the journal and, for 'now', to a file
	log=/var/lib/pgbackrest/last-$2.log
	if [ "$scratch" = yes ]; then
		echo "a scratch server: it never writes to the repository" | tee "$log"
		exit 0
	fi
	if standby; then
		echo "a standby: the primary backs up" | tee "$log"
		exit 0
	fi
	rc=0
	if [ "$2" = dump ]; then
		dump >"$log" 2>&1 || rc=1
	else
		# just after a promotion pg_control still names the old timeline
		# until a checkpoint, and pgBackRest refuses to start
		q -d postgres -c checkpoint >/dev/null 2>&1
		: >"$log"
		# into each repository in turn; one that fails leaves the others
		for i in $repos; do
			[ "$repos" = 1 ] || echo "repository $i:" >>"$log"
			PGBACKREST_REPO=$i
			export PGBACKREST_REPO
			{% if backup_from == "standby" %}
			# the data files from a streaming standby, when one streams
			sh /usr/local/lib/provision/backup-standby.sh backup "$2" >>"$log" 2>&1 || rc=1
			{% else %}
			pgb --type="$2" backup >>"$log" 2>&1 || rc=1
			{% endif %}
		done
		unset PGBACKREST_REPO
		{% if backup_keep %}
		keep >>"$log" 2>&1 || rc=1
		{% endif %}
	fi
	cat "$log"
	exit "$rc"
	;;
check-store)
	for i in $repos; do
		[ "$repos" = 1 ] && r="the backup store" || r="the backup store of repository $i"
		out=$(pgb --repo="$i" info --output=json 2>&1) || { echo "$r: $out" >&2; exit 1; }
		# the store answers; the stanza comes from the primary, perhaps still converging
		if [ "$scratch" = yes ] || standby; then
			case "$out" in *'"message":"missing stanza path"'*) continue ;; esac
		fi
		case "$out" in
		*'"status":{"code":0,'* | *'"status":{"code":2,'*) ;;
		*) echo "$r cannot be used: $out" >&2; exit 1 ;;
		esac
	done
	;;
now)
	if standby; then
		echo "a standby does not back up; the primary does" >&2
		exit 1
	fi
	u=provision-backup@$2.service
	log=/var/lib/pgbackrest/last-$2.log
	# a failure shows this start's log, never an earlier one's
	rm -f "$log"
	since=$(date +%s)
	# a start that never ran the service (no log: systemd busy or not
	# answering) is tried once more; one that ran is never repeated
	if systemctl start "$u" || { [ ! -e "$log" ] && sleep 2 && [ ! -e "$log" ] && systemctl start "$u"; }; then
		{% if backup_from == "standby" %}
		[ "$2" = dump ] || sh /usr/local/lib/provision/backup-standby.sh said
		{% endif %}
		exit 0
	fi
	if [ -s "$log" ]; then
		tail -n 20 "$log" >&2
	else
		echo "$u did not run the backup (result: $(systemctl show -p Result --value "$u")); its journal:" >&2
		journalctl -q -u "$u" --since "@$since" -n 20 -o cat >&2
	fi
	exit 1
	;;
info)
	pgb --io-timeout=5 info --output=json
	;;
status)
	echo "N $(date +%s)"
	for t in full diff{% if backup_dump %} dump{% endif %}; do
		echo "U $t $(systemctl is-active provision-backup@$t.service) $(systemctl is-active provision-backup-$t.timer)"
	done
	# when the timers fire next and last fired (epoch seconds, 0: never): no
	# backup yet is fine until one was due
	for t in full diff; do
		echo "T $t $(timer_epoch "$t" NextElapseUSecRealtime) $(timer_epoch "$t" LastTriggerUSec)"
	done
	if standby; then
		echo "S standby"
		exit 0
	fi
	if [ "$scratch" = yes ]; then
		echo "S scratch"
		exit 0
	fi
	# a store that does not answer is named soon, not after minutes of retries
	if out=$(pgb --io-timeout=5 info --output=json 2>&1); then
		echo "J $out" | tr '\n' ' '
		echo
	else
		echo "E $(printf '%s' "$out" | tr '\n' ' ')"
	fi
	q -d postgres -c "select 'A', archived_count, coalesce(last_archived_wal, '-'),
	    coalesce(extract(epoch from last_archived_time)::bigint, 0), failed_count,
	    coalesce(last_failed_wal, '-'), coalesce(extract(epoch from last_failed_time)::bigint
	    * (last_failed_time >= coalesce(last_archived_time, last_failed_time))::int, 0)
	  from pg_stat_archiver" 2>/dev/null | tr '|' ' '
	echo "R $(ls "$d/pg_wal/archive_status" 2>/dev/null | grep -c '\.ready$')"
	{% if backup_from == "standby" %}
	sh /usr/local/lib/provision/backup-standby.sh status
	{% endif %}
	;;
checksums)
	checksums
	;;
keep)
	[ "$scratch" = yes ] && { echo "a scratch server: it never writes to the repository" >&2; exit 1; }
	standby && { echo "a standby: the primary expires" >&2; exit 1; }
	keep "${2:-}"
	;;
mark)
	# a named restore point, the tables as of then, and the WAL archived
	q -d postgres -c "select pg_create_restore_point('$2')" >/dev/null || exit 1
	checksums
	flush_wal
	;;
restore)
	{% if postgres_patroni %}
	echo "REFUSED: Patroni manages PostgreSQL here; restore onto a plain server (see 'provision backup verify')" >&2
	exit 4
	{% endif %}
	if running && ! standby && [ "${PV_YES:-}" != yes ]; then
		echo "REFUSED: PostgreSQL runs here as a primary; restoring replaces its data (add --yes)" >&2
		exit 3
	fi
	if [ -n "${PV_REPO:-}" ]; then
		case " $repos " in
		*" $PV_REPO "*) ;;
		*) echo "no repository $PV_REPO here (repositories: $repos)" >&2; exit 1 ;;
		esac
	fi
	info=$(pgb ${PV_REPO:+"--repo=$PV_REPO"} info --output=json) || exit 1
	case "$info" in
	*'"status":{"code":0,'*) ;;
	*)
		echo "the repository holds no usable backup: $info" >&2
		[ "$repos" = 1 ] || [ -n "${PV_REPO:-}" ] || echo "name a repository with --repo (repositories: $repos)" >&2
		exit 1
		;;
	esac
	own=no
	if running && sid=$(q -d postgres -c 'select system_identifier from pg_control_system()') &&
		printf '%s' "$info" | grep -q "\"system-id\":$sid[,}]"; then
		own=yes
	fi
	# the cluster here is the repository's: every commit so far goes there first
	if [ "$own" = yes ] && ! standby && [ "$(q -d postgres -c 'show archive_mode')" = on ]; then
		flush_wal || exit 1
	fi
	# Another cluster (a new server's own): its WAL has no place in the
	# repository, and its archiver retrying a store that is gone would hold
	# a clean shutdown up for as long as it retries.  Kept aside below.
	if [ "$own" = no ] && running; then
		runuser -u postgres -- "/usr/lib/postgresql/$v/bin/pg_ctl" -D "$d" stop -m immediate >/dev/null 2>&1
	fi
	systemctl stop "$unit" || exit 1
	old=
	if [ -d "$d" ] && [ -n "$(ls -A "$d")" ]; then
		old=$d.before-restore-$(date -u +%Y%m%dT%H%M%SZ)
		mv "$d" "$old" || exit 1
	fi
	put_back() {
		echo "$1" >&2
		tail -n 15 "/var/log/postgresql/postgresql-$v-main.log" >&2 2>/dev/null
		systemctl stop "$unit"
		if [ -n "$old" ]; then
			rm -rf "$d.failed-restore"
			mv "$d" "$d.failed-restore" && mv "$old" "$d" && systemctl start "$unit"
			echo "the previous data directory is back in place; the failed restore is in $d.failed-restore" >&2
		fi
		exit 1
	}
	install -d -o postgres -g postgres -m 0700 "$d"
	set -- --pg1-path="$d"
	[ -n "${PV_AT:-}" ] && set -- "$@" --type=time "--target=$PV_AT" --target-action=promote
	[ -n "${PV_POINT:-}" ] && set -- "$@" --type=name "--target=$PV_POINT" --target-action=promote
	[ "${PV_ARCHIVE:-on}" = off ] && set -- "$@" --archive-mode=off
	[ -n "${PV_REPO:-}" ] && set -- "$@" "--repo=$PV_REPO"
	pgb "$@" restore || put_back "pgbackrest restore failed"
	systemctl start "$unit" || put_back "PostgreSQL did not start on the restored data"
	i=0
	while ! running || standby; do
		i=$((i + 1))
		# only a unit known to be down ends the wait: a busy systemd that
		# does not answer at once is asked again
		st=$(systemctl show -p ActiveState --value "$unit" 2>/dev/null)
		case $st in inactive | failed) put_back "PostgreSQL stopped during recovery ($st)" ;; esac
		[ "$i" -gt 1200 ] && put_back "recovery did not finish within 10 minutes"
		sleep 0.5
	done
	# a scratch server's previous copy is of no use
	if [ "${PV_DISCARD:-}" = yes ] && [ -n "$old" ]; then
		rm -rf "$old"
		old=
	fi
	echo "O ${old:--}"
	checksums
	;;
*)
	echo "usage: backup.sh stanza|has-stanza|run|now|info|status|restore|checksums" >&2
	exit 2
	;;
esac
