#!/usr/bin/env bash
# suite: extended (backups across a primary/standby failover; make test-all)
# Phase 2: role backup on a primary and its standby.  The primary backs up
# and archives; the standby does neither and says so; after a failover
# (the primary stopped, the standby promoted) the promoted server backs up
# into the same repository, and its WAL is archived there.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-s3.sh"

export PV_TEST_REPL_PW="repl-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
BK_SECRETS="  repl_password: env:PV_TEST_REPL_PW"
bk_project < <(
	bk_common "postgres_users: [{name: shop, password: backup_pass}]" \
		"postgres_databases: [{name: shop, owner: shop}]" \
		"postgres_replication_password: repl_password"
	cat <<'YML'
project: bk0670
layouts:
  db:
    servers:
      db1: { roles: [base, postgres, backup] }
      db2: { roles: [base, postgres-replica, backup] }
YML
)
t_uses db
s3_install
pv up db --only cloud >"$WORK/up0" 2>&1 || bail "creating the hosts failed: $(tail -n 20 "$WORK/up0")"
s3_start db backups
pv up db >"$WORK/up1" 2>&1 || bail "up db failed: $(tail -n 30 "$WORK/up1")"
pass "up converges a primary and a standby, both with role backup"

psql_on db1 "create table items (id int primary key, name text);
  insert into items select i, 'row ' || i from generate_series(1, 200) i" || bail "populating failed"
pv backup now >"$WORK/now1" 2>&1
rc=$?
check "backup now backs up the primary" test "$rc" = 0
pv backup now --host db2 >"$WORK/now2" 2>&1
rc=$?
check "backup now on the standby is refused (exit $rc)" test "$rc" = 1
check "saying the primary backs up" grep -q 'the primary does' "$WORK/now2"
pv status db >"$WORK/status1" 2>&1
rc=$?
check "status is good: $(grep -E 'backups|last good' "$WORK/status1" | tr '\n' ' ')" test "$rc" = 0
check "status says the standby leaves backups to the primary" grep -q 'backups: a standby; the primary backs up' "$WORK/status1"
check "the standby's timers run and do nothing" \
	on_host db2 "systemctl start provision-backup@diff.service && grep -q 'a standby' /var/lib/pgbackrest/last-diff.log"

# failover: the primary stops, the standby is promoted
on_host db1 "systemctl stop postgresql@15-main" || bail "stopping the primary failed"
on_host db2 "cd / && runuser -u postgres -- psql -X -q -tA -c 'select pg_promote()'" >/dev/null || bail "promoting db2 failed"
for i in $(seq 60); do
	[ "$(psql_on db2 'select pg_is_in_recovery()' 2>/dev/null)" = f ] && break
	sleep 1
done
check "db2 is the primary now" test "$(psql_on db2 'select pg_is_in_recovery()')" = f
psql_on db2 "insert into items values (1000, 'after the failover')" || bail "writing on db2 failed"
pv backup now --host db2 --type diff >"$WORK/now3" 2>&1
rc=$?
check "the promoted server backs up into the same repository: $(tail -n 12 "$WORK/now3" | tr '\n' ' ')" test "$rc" = 0
check "the repository holds the full backup of db1 and the diff of db2" \
	test "$(grep -Ec '^  [0-9]{8}-[0-9]{6}F(_[0-9]{8}-[0-9]{6}D)? ' "$WORK/now3")" = 2
psql_on db2 "select pg_switch_wal()" >/dev/null
for i in $(seq 60); do
	[ "$(psql_on db2 "select last_archived_wal like '00000002%' from pg_stat_archiver")" = t ] && break
	sleep 1
done
check "db2 archives its WAL (timeline 2)" \
	test "$(psql_on db2 "select last_archived_wal like '00000002%' from pg_stat_archiver")" = t
