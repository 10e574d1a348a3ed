{# format: shell #}
#!/bin/sh
# Written by provision (role backup-files): restic backups of this server's
# files to the object store of role backup.
#   backup-files.sh has-repo | init   check / create the repository (once)
#   backup-files.sh run               a backup, then the retention (the timer's service)
#   backup-files.sh now               a backup at once (no retention); its log when it fails
#   backup-files.sh list              this server's snapshots (restic's JSON)
#   backup-files.sh restore           PV_AT (a time; empty: the latest snapshot),
#                                     PV_PATH (a path of the backup; empty: all of them)
#   backup-files.sh verify            a restore drill: the newest snapshot restored
#                                     into a scratch directory and checked, nothing put back
# The repository's password is read from a root-only file, the store's keys
# from a root-only environment file: neither is ever an argument.
set -f
conf=/etc/provision/backup-files
state=/var/lib/provision/backup-files
log=$state/last.log
set -a
. "$conf/s3.env"
set +a
RESTIC_PASSWORD_FILE=$conf/restic.pass
RESTIC_CACHE_DIR=/var/cache/provision-restic
prefix={% if backup_s3_path %}{{ backup_s3_path }}{% else %}/{{ project }}/{{ env }}/{{ layout }}{% endif %}/files/{{ server_name }}
RESTIC_REPOSITORY=s3:https://{{ backup_s3_endpoint }}:{{ backup_s3_port }}/{{ backup_s3_bucket }}/${prefix#/}
export RESTIC_PASSWORD_FILE RESTIC_CACHE_DIR RESTIC_REPOSITORY
# the snapshots are this server's by its name in the layout: a server that
# replaces it under the same name finds them
me={{ server_name }}
# what is backed up: backup_files_paths, then the volumes of
# backup_files_volumes (none holds a blank: each is one word)
paths="{% for p in backup_files_paths %} {{ p }}{% endfor %}{% for v in backup_files_volumes %} /var/lib/docker/volumes/{{ v }}/_data{% endfor %}"
rs() {
	restic -o s3.region={{ backup_s3_region }} {% if backup_s3_ca %}--cacert "$conf/s3-ca.crt" {% endif %}"$@"
}

# The running containers that use a volume of backup_files_volumes declare,
# with Docker labels, what makes their data consistent for a snapshot:
#   provision.backup.pre   a command run in the container (sh -c) before it,
#                          e.g. a dump into the volume; when it fails, no
#                          snapshot is taken
#   provision.backup.stop  "true": the container is stopped for the
#                          snapshot and started again after it
#   provision.backup.post  a command run in the container after it
# Each command gets backup_files_hook_timeout seconds.
vols="{% for v in backup_files_volumes %} {{ v }}{% endfor %}"
hooked=
stopped=
containers() {
	[ -n "$vols" ] || return 0
	command -v docker >/dev/null || return 0
	# no daemon answering: no container runs to prepare
	docker info >/dev/null 2>&1 || { echo "docker does not answer: no container prepared" >&2; return 0; }
	for v in $vols; do
		docker ps -q --no-trunc --filter "volume=$v" || return 1
	done | sort -u
}
# label CONTAINER NAME: the label's value, empty when it has none
label() {
	docker inspect "$1" | jq -r --arg l "$2" '.[0].Config.Labels[$l] // empty'
}
cname() {
	docker inspect "$1" | jq -r '.[0].Name | ltrimstr("/")'
}
# in_container CONTAINER WHAT LABEL: the label's command, when there is one
in_container() {
	cmd=$(label "$1" "$3") || return 1
	[ -n "$cmd" ] || return 0
	echo "container $(cname "$1"): $2 command"
	timeout {{ backup_files_hook_timeout }} docker exec "$1" sh -c "$cmd"
	hrc=$?
	[ "$hrc" = 0 ] && return 0
	[ "$hrc" = 124 ] && echo "container $(cname "$1"): its $2 command did not end in {{ backup_files_hook_timeout }} s" ||
		echo "container $(cname "$1"): its $2 command failed (exit $hrc)"
	return 1
}
# before: the pre-backup commands and the stops; fails when one fails
before() {
	list=$(containers) || { echo "docker could not list the volumes' containers"; return 1; }
	for c in $list; do
		hooked="$hooked $c"
		in_container "$c" pre-backup provision.backup.pre || return 1
		if [ "$(label "$c" provision.backup.stop)" = true ]; then
			echo "container $(cname "$c"): stopped for the snapshot"
			stopped="$stopped $c"
			docker stop "$c" >/dev/null || { echo "container $(cname "$c") did not stop"; return 1; }
		fi
	done
}
# after: every stopped container started again, then the post-backup
# commands of those whose pre-backup step ran; runs also when the backup
# failed or the service is stopped
after() {
	arc=0
	for c in $stopped; do
		docker start "$c" >/dev/null || { echo "container $(cname "$c") did not start again"; arc=1; }
	done
	stopped=
	for c in $hooked; do
		in_container "$c" post-backup provision.backup.post || arc=1
	done
	hooked=
	return "$arc"
}
trap 'after; exit 1' INT TERM HUP

# backup: a snapshot of the paths that exist; fails when one is missing
# (after the others are saved) or restic fails; the containers' own steps
# around it
backup() {
	if ! before; then
		echo "no snapshot taken"
		after
		return 1
	fi
	saved
	rc=$?
	after || rc=1
	return "$rc"
}

saved() {
	rc=0
	have=
	for p in $paths; do
		if [ -e "$p" ]; then
			have="$have $p"
		else
			echo "$p does not exist: not backed up"
			rc=1
		fi
	done
	if [ -z "$have" ]; then
		echo "nothing to back up"
		return 1
	fi
	rs backup --host "$me" --tag provision $have || return 1
	return "$rc"
}

# keep: what backup_keep keeps of this server's snapshots (one retention
# over all of them, whichever paths each holds), the rest forgotten and pruned
keep() {
	rs forget --host "$me" --tag provision --group-by host \
		--keep-daily {{ backup_keep.daily | default "7" }} --keep-weekly {{ backup_keep.weekly | default "4" }} \
		--keep-monthly {{ backup_keep.monthly | default "12" }} --prune
}

# restore_path SNAPSHOT PATH: PATH as the snapshot holds it, put in place of
# what is there now (kept aside); prints "R PATH KEPT" (KEPT: - when nothing was there)
restore_path() {
	p=$2
	case "$p" in
	/) echo "refusing to restore / in place" >&2; return 1 ;;
	esac
	parent=$(dirname "$p")
	mkdir -p "$parent" || return 1
	# next to the path: the move into place is a rename on the same file system
	stage=$(mktemp -d "$parent/.provision-restore.XXXXXX") || return 1
	if ! rs restore "$1" --target "$stage" --include "$p" >&2; then
		rm -rf "$stage"
		return 1
	fi
	if [ ! -e "$stage$p" ] && [ ! -L "$stage$p" ]; then
		rm -rf "$stage"
		echo "$p is not in snapshot $1" >&2
		return 1
	fi
	old=-
	if [ -e "$p" ] || [ -L "$p" ]; then
		old=$p.before-restore-$(date -u +%Y%m%dT%H%M%SZ)
		mv "$p" "$old" || { rm -rf "$stage"; return 1; }
	fi
	if ! mv "$stage$p" "$p"; then
		[ "$old" = - ] || mv "$old" "$p"
		rm -rf "$stage"
		return 1
	fi
	rm -rf "$stage"
	echo "R $p $old"
}

case "$1" in
has-repo)
	rs cat config >/dev/null 2>&1
	;;
init)
	if [ -z {{ backup_s3_endpoint }} ] || [ -z {{ backup_s3_bucket }} ]; then
		echo "backup_s3_endpoint and backup_s3_bucket name the store: set both" >&2
		exit 1
	fi
	# restic refuses to make a repository where there is one: never a second
	out=$(rs cat config 2>&1) && exit 0
	case "$out" in
	*'wrong password'*)
		echo "the repository at $RESTIC_REPOSITORY exists with another password (backup_files_pass)" >&2
		exit 1
		;;
	esac
	rs init
	;;
run)
	# the timer's service: a backup, then the retention
	mkdir -p "$state"
	umask 077
	{
		backup
		rc=$?
		keep || rc=1
	} >"$log" 2>&1
	cat "$log"
	exit "$rc"
	;;
now)
	# a backup at once; the retention runs with the timer's next backup
	mkdir -p "$state"
	umask 077
	backup >"$log" 2>&1
	rc=$?
	if [ "$rc" = 0 ]; then
		grep -E '^(container |snapshot [0-9a-f]+ saved|Files: |Dirs: |Added to the repository)' "$log"
	else
		tail -n 20 "$log" >&2
	fi
	exit "$rc"
	;;
list)
	rs snapshots --host "$me" --json
	;;
restore)
	at=
	if [ -n "${PV_AT:-}" ]; then
		at=$(date -d "$PV_AT" +%s) || { echo "'$PV_AT' is not a time" >&2; exit 1; }
	fi
	snaps=$(rs snapshots --host "$me" --json) || exit 1
	# the newest snapshot (taken at or before PV_AT)
	best=
	bt=0
	for l in $(printf '%s' "$snaps" | jq -r '.[] | "\(.time)|\(.id)"'); do
		t=$(date -d "${l%%|*}" +%s) || exit 1
		[ -n "$at" ] && [ "$t" -gt "$at" ] && continue
		[ "$t" -ge "$bt" ] && best=${l#*|} bt=$t
	done
	if [ -z "$best" ]; then
		echo "no snapshot of $me${PV_AT:+ taken at or before $PV_AT}" >&2
		exit 1
	fi
	echo "S $best $(date -u -d "@$bt" '+%Y-%m-%d %H:%M:%S UTC')"
	all=$(printf '%s' "$snaps" | jq -r --arg id "$best" '.[] | select(.id == $id) | .paths[]')
	if [ -n "${PV_PATH:-}" ]; then
		# a path of the backup, or one below it
		ok=
		for p in $all; do
			case "$PV_PATH" in "$p" | "$p"/*) ok=yes ;; esac
		done
		if [ -z "$ok" ]; then
			echo "$PV_PATH is not a path of snapshot $best (its paths:$(printf ' %s' $all))" >&2
			exit 1
		fi
		all=$PV_PATH
	fi
	# a running container that uses a volume being restored would keep the
	# replaced directory: each is stopped for the restore and started again
	rvols=
	for p in $all; do
		case "$p" in
		/var/lib/docker/volumes/*/_data | /var/lib/docker/volumes/*/_data/*)
			v=${p#/var/lib/docker/volumes/}
			rvols="$rvols ${v%%/*}"
			;;
		esac
	done
	list=$(vols=$rvols containers) || { echo "docker could not list the volumes' containers" >&2; exit 1; }
	for c in $list; do
		stopped="$stopped $c"
		docker stop "$c" >/dev/null || { echo "container $(cname "$c") did not stop: nothing restored" >&2; after >&2; exit 1; }
		echo "C $(cname "$c")"
	done
	rrc=0
	for p in $all; do
		restore_path "$best" "$p" || { rrc=1; break; }
	done
	after >&2 || rrc=1
	exit "$rrc"
	;;
verify)
	# the repository's structure checked, then the newest snapshot restored
	# into a scratch directory under /var/tmp with restic reading back every
	# file it wrote (--verify), and as many files restored as the snapshot
	# lists; the scratch directory is removed whatever happens
	best=$(rs snapshots --host "$me" --latest 1 --json | jq -r 'max_by(.time) | .id // empty') || exit 1
	if [ -z "$best" ]; then
		echo "no snapshot of $me to verify" >&2
		exit 1
	fi
	need=$(rs stats --json --mode restore-size "$best" | jq -r '.total_size') || exit 1
	free=$(df -P -B1 /var/tmp | awk 'NR == 2 { print $4 }')
	if [ "$need" -gt "$free" ]; then
		echo "snapshot $best needs $need bytes to restore; /var/tmp has $free free" >&2
		exit 1
	fi
	mkdir -p "$state"
	umask 077
	rs check >"$state/verify.log" 2>&1 || { tail -n 20 "$state/verify.log" >&2; exit 1; }
	scratch=$(mktemp -d /var/tmp/provision-files-verify.XXXXXX) || exit 1
	trap 'rm -rf "$scratch"' EXIT
	if ! rs restore "$best" --target "$scratch" --verify >>"$state/verify.log" 2>&1; then
		tail -n 20 "$state/verify.log" >&2
		exit 1
	fi
	listed=$(rs ls --json "$best" | jq -s '[.[] | select(.struct_type == "node" and .type == "file")] | length') || exit 1
	restored=$(find "$scratch" -type f | wc -l)
	if [ "$listed" != "$restored" ]; then
		echo "snapshot $best lists $listed files; $restored were restored" >&2
		exit 1
	fi
	echo "V $best $restored $(du -s -B1 "$scratch" | cut -f1)"
	;;
*)
	echo "usage: backup-files.sh has-repo|init|run|now|list|restore|verify" >&2
	exit 2
	;;
esac
