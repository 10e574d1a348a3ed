#!/usr/bin/env bash
# suite: extended (a Patroni cluster with etcd and a store; runs alone; make test-all)
# Role backup on a Patroni cluster: three Patroni nodes with role backup
# (role postgres is not pulled in) and a plain scratch server for the
# drill.  Patroni's configuration archives WAL; only the leader backs up,
# and 'backup now' without --host finds it.  The leader's host is stopped
# hard, a new leader is elected, 'backup now' goes there and its WAL on the
# new timeline reaches the store; 'verify --on scratch1' brings back every
# row written before and after the failover; a restore onto a Patroni
# server is refused with nothing changed; the scratch server restores to a
# point in time before the failover instead.
# serial: twice, run beside other scripts, its project directory vanished right after the leader's host stopped (cause not found); alone it passes
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-patroni.sh"
. "$(dirname "$0")/lib-s3.sh"

export PV_TEST_REPL_PW="repl-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export PV_TEST_SU_PW="su-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
BK_SECRETS="  repl_password: env:PV_TEST_REPL_PW
  su_password: env:PV_TEST_SU_PW"
bk_project < <(
	bk_common "postgres_users: [{name: shop, password: backup_pass}]" \
		"postgres_databases: [{name: shop, owner: shop}]" \
		"postgres_replication_password: repl_password" \
		"patroni_superuser_password: su_password"
	cat <<'YML'
project: bk0680
layouts:
  ha:
    servers:
      pg1: { roles: [base, patroni, backup] }
      pg2: { roles: [base, patroni, backup] }
      pg3: { roles: [base, patroni, backup] }
      scratch1: { roles: [base, postgres, backup], vars: { backup_scratch: true } }
YML
)
t_uses ha

# role backup on a server without a PostgreSQL role: refused, nothing made
mkdir -p "$WORK/bad"
cat >"$WORK/bad/inventory.yml" <<'YML'
project: bk0680bad
layouts:
  bad:
    servers:
      x1: { roles: [base, backup] }
YML
for c in validate "up bad"; do
	# shellcheck disable=SC2086
	"$PROVISION" -i "$WORK/bad/inventory.yml" --plain $c >"$WORK/bad/out" 2>&1
	rc=$?
	check "$c refuses role backup without postgres, postgres-replica or patroni (exit $rc)" test "$rc" = 2
	check "$c names the inventory position: $(head -n 1 "$WORK/bad/out")" \
		grep -q "inventory.yml:5:27: role 'backup' needs one of the roles postgres, postgres-replica or patroni on the same server" "$WORK/bad/out"
done
check "the refused up made nothing" test ! -e "$WORK/bad/.provision/state.json"

# backups read from a standby are not offered on Patroni: refused before a run
sed 's/^      pg2: { roles: \[base, patroni, backup\] }$/      pg2: { roles: [base, patroni, backup], vars: { backup_from: standby } }/' \
	"$WORK/inventory.yml" >"$WORK/bad/standby.yml"
"$PROVISION" -i "$WORK/bad/standby.yml" --plain validate >"$WORK/bad/out2" 2>&1
rc=$?
check "backup_from: standby on a Patroni server is refused (exit $rc): $(grep -m1 backup_from "$WORK/bad/out2")" \
	sh -c "[ $rc = 2 ] && grep -q \"standby.yml:[0-9]*:[0-9]*: server 'pg2': backup_from: standby is not available on Patroni servers\" '$WORK/bad/out2'"

s3_install
pv up ha --only cloud >"$WORK/up0" 2>&1 || bail "creating the hosts failed: $(tail -n 20 "$WORK/up0")"
s3_start ha backups
pv up ha >"$WORK/up1" 2>&1 || bail "up ha failed: $(tail -n 40 "$WORK/up1")"
pass "up converges three Patroni nodes with role backup and a scratch server"
for h in pg1 pg2 pg3; do
	check "$h: role postgres is not applied, Debian's cluster stays dropped" \
		on_host "$h" "test ! -e /etc/postgresql/15/main && ! systemctl -q is-active postgresql@15-main"
done

all_streaming() { [ "$(members pg1 pg2 pg3 | grep -Ec ' (Replica|Sync Standby) (running|streaming)$')" = 2 ]; }
check "a leader and two streaming replicas" wait_for 120 all_streaming
old=$(leader_of pg1 pg2 pg3)
[ -n "$old" ] || bail "no leader: $(members pg1 pg2 pg3 | tr '\n' ';')"
replicas=$(printf '%s\n' pg1 pg2 pg3 | grep -vx "$old" | tr '\n' ' ')

pvj up ha >"$WORK/up2" 2>"$WORK/up2.err" || fail "second up failed: $(tail -n 20 "$WORK/up2.err")"
check "a second run changes nothing ($(json_resources "$WORK/up2" changed | tr '\n' ' '))" \
	test "$(json_total "$WORK/up2" changed)" = 0

check "pgBackRest backs up Patroni's data directory" \
	on_host "$old" "grep -qx 'pg1-path=/var/lib/postgresql/15/patroni' /etc/pgbackrest/pgbackrest.conf"
check "Patroni's PostgreSQL archives WAL through pgBackRest" \
	test "$(psql_on "$old" "select current_setting('archive_mode') || ' ' || current_setting('archive_command') || ' ' || current_setting('archive_timeout')")" = "on pgbackrest --stanza=main archive-push %p 30s"
check "the backup unit starts after patroni.service" \
	on_host pg2 "systemctl show -p After --value provision-backup@full.service | grep -qw patroni.service"
for h in pg1 pg2 pg3; do
	check "$h: the backup timers are active" \
		on_host "$h" "systemctl -q is-active provision-backup-full.timer && systemctl -q is-active provision-backup-diff.timer"
done
check "the stanza exists (created on the leader $old)" \
	on_host "$old" "sh /usr/local/lib/provision/backup.sh info | grep -q '\"status\":{\"code\":2,'"

psql_on "$old" "create table items (id int primary key, name text);
  insert into items select i, 'before ' || i from generate_series(1, 200) i" || bail "populating failed"
pv backup now >"$WORK/now1" 2>&1
rc=$?
check "backup now without --host succeeds: $(tail -n 3 "$WORK/now1" | tr '\n' ' ')" test "$rc" = 0
check "backup now went to the leader $old" grep -q "^$old: full backup done" "$WORK/now1"
check "the repository holds one full backup" test "$(grep -Ec '^  [0-9]{8}-[0-9]{6}F ' "$WORK/now1")" = 1
pv backup list >"$WORK/list1" 2>&1
check "backup list without --host reads the repository through the leader" \
	sh -c "grep -q '^$old: stanza main: ok' '$WORK/list1'"

pv status ha >"$WORK/status1" 2>&1
rc=$?
check "status is good: $(grep -E 'backups|last good|FAIL|NOT|not answering' "$WORK/status1" | tr '\n' ' ')" test "$rc" = 0
check "status: nothing failing" sh -c "! grep -Eq 'FAIL|NOT ACTIVE' '$WORK/status1'"
check "status shows the leader's last good backup" grep -Eq 'last good backup: [0-9]{8}-[0-9]{6}F \(full\)' "$WORK/status1"
check "status says both replicas leave backups to the primary" \
	test "$(grep -c 'backups: a standby; the primary backs up' "$WORK/status1")" = 2
for h in $replicas; do
	check "$h: a replica's timer runs and does nothing" \
		on_host "$h" "systemctl start provision-backup@diff.service && grep -q 'a standby' /var/lib/pgbackrest/last-diff.log"
done
pv backup now --host "${replicas%% *}" >"$WORK/now-replica" 2>&1
rc=$?
check "backup now on a replica is refused (exit $rc)" test "$rc" = 1

# the leader's host stopped hard: its init killed, no shutdown
psql_on "$old" "insert into items values (201, 'just before the stop')" || bail "writing failed"
sleep 1
at=$(psql_on "$old" "select now()")
sleep 1
pid=$(jq -r ".environments.default.layouts.ha.hosts.$old.pid" "$WORK/.provision/state.json")
init=$(pgrep -P "$pid" | head -n 1)
[ -n "$init" ] || bail "cannot find the init of $old's host"
# stopped: the signal went out and the init is gone (reaped by its nspawn)
init_gone() { ! kill -0 "$init" 2>/dev/null; }
stop_hard() { kill -KILL "$init" && wait_for 30 init_gone; }
check "the leader $old's host is stopped hard (its init $init is gone)" stop_hard
new=
for _ in $(seq 1 120); do
	# shellcheck disable=SC2086
	new=$(leader_of $replicas)
	[ -n "$new" ] && [ "$new" != "$old" ] && break
	new=
	sleep 0.5
done
check "a new leader is elected ($new)" test -n "$new"
if [ -z "$new" ]; then
	# what each survivor says, and whether the project is still whole
	for h in $replicas; do
		echo "# $h: $(on_host "$h" "patronictl -c /etc/patroni/config.yml list" 2>&1 | tr '\n' ' ')"
	done
	echo "# $WORK: $(ls -A "$WORK" 2>&1 | tr '\n' ' ')"
	bail "no new leader"
fi
check "the row written just before the stop is on the new leader" \
	test "$(psql_on "$new" "select count(*) from items")" = 201
psql_on "$new" "insert into items select i, 'after ' || i from generate_series(1001, 1100) i" ||
	bail "writing on the new leader failed"

pv backup now --type diff >"$WORK/now2" 2>&1
rc=$?
check "backup now without --host succeeds after the failover: $(tail -n 3 "$WORK/now2" | tr '\n' ' ')" test "$rc" = 0
check "backup now went to the new leader $new" grep -q "^$new: diff backup done" "$WORK/now2"
check "the repository holds the full backup from $old and the diff from $new" \
	test "$(grep -Ec '^  [0-9]{8}-[0-9]{6}F(_[0-9]{8}-[0-9]{6}D)? ' "$WORK/now2")" = 2

tl=$(psql_on "$new" "select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)")
check "the new leader runs on a new timeline ($tl)" test "$tl" != 00000001
psql_on "$new" "select pg_switch_wal()" >/dev/null
archived_tl() { [ "$(psql_on "$new" "select coalesce(last_archived_wal like '$tl%', false) from pg_stat_archiver")" = t ]; }
check "WAL of timeline $tl is archived from the new leader" wait_for 60 archived_tl
check "the store holds WAL of timeline $tl" \
	sh -c "find '$WORK/s3/data/backups' -path '*/archive/main/*' -name '$tl*._S3rver_object' | grep -q ."

pv backup verify --on scratch1 >"$WORK/verify1" 2>&1
rc=$?
check "verify --on scratch1 succeeds: $(tail -n 2 "$WORK/verify1" | tr '\n' ' ')" test "$rc" = 0
check "verify read the checksums on the leader $new" grep -q "^$new: restore point provision-verify-" "$WORK/verify1"
check "verify ok" grep -q '^verify ok: ' "$WORK/verify1"
check "the scratch server has every row from before the failover" \
	test "$(psql_on scratch1 "select count(*) from items where id <= 201")" = 201
check "and every row from after it" \
	test "$(psql_on scratch1 "select count(*) from items where id > 1000")" = 100
check "and the rows are the same as on the leader" \
	test "$(psql_on scratch1 "select md5(string_agg(t::text, ',' order by id)) from items t")" = \
	"$(psql_on "$new" "select md5(string_agg(t::text, ',' order by id)) from items t")"

# the way back to data on a Patroni layout: a point in time, on the scratch server
pv backup restore --host scratch1 --at "$at" --yes >"$WORK/restore-at" 2>&1
rc=$?
check "restore --host scratch1 --at (before the failover) succeeds: $(tail -n 20 "$WORK/restore-at" | tr '\n' ' ')" test "$rc" = 0
[ "$rc" = 0 ] || on_host scratch1 "journalctl -u postgresql@15-main --no-pager -n 30" 2>&1 | sed 's/^/# /'
check "the scratch server has the rows up to that time, none written after the failover" \
	test "$(psql_on scratch1 "select count(*) filter (where id <= 201) || ' ' || count(*) filter (where id > 1000) from items")" = "201 0"

before=$(psql_on "$new" "select count(*) from items")
pv backup restore --yes >"$WORK/restore1" 2>&1
rc=$?
check "restore on the Patroni leader is refused (exit $rc)" test "$rc" = 2
check "saying Patroni manages it and what to do instead" \
	sh -c "grep -q 'Patroni manages PostgreSQL' '$WORK/restore1' && grep -q 'backup verify' '$WORK/restore1'"
pv backup restore --host "$new" --yes >"$WORK/restore2" 2>&1
rc=$?
check "restore with --host $new is refused too (exit $rc)" test "$rc" = 2
pv backup verify --on "$new" >"$WORK/verify2" 2>&1
rc=$?
check "verify onto a Patroni server is refused (exit $rc)" test "$rc" = 2
check "the refused restores changed nothing: the same leader, the same rows" \
	test "$(leader_of $replicas)/$(psql_on "$new" "select count(*) from items")" = "$new/$before"
check "no data directory was moved aside" \
	on_host "$new" "! ls -d /var/lib/postgresql/15/*before-restore* 2>/dev/null"

for f in up1 up2 now1 list1 status1 now2 verify1 restore1 restore-at; do
	check "no passphrase or key in the output of $f" \
		sh -c "! grep -Fq -e \"\$1\" -e \"\$2\" -e \"\$3\" -e \"\$4\" '$WORK/$f'" _ "$PV_BACKUP_PASS" "$PV_TEST_SU_PW" "$PV_TEST_REPL_PW" "$PV_S3_SECRET"
done
check "no passphrase or key in the state" \
	sh -c "! grep -rFq --exclude-dir=local -e \"\$1\" -e \"\$2\" -e \"\$3\" '$WORK/.provision'" _ "$PV_BACKUP_PASS" "$PV_S3_SECRET" "$PV_TEST_SU_PW"
