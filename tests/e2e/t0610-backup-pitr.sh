#!/usr/bin/env bash
# Point-in-time restore: after a full backup, row A is written, the time is
# noted, row B is written; 'provision backup restore --at TIME' brings back
# A without B, from the backup and the archived WAL.  Backups go on after
# the restore (a new timeline).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-s3.sh"

bk_project < <(
	bk_common
	cat <<'YML'
project: bk0610
layouts:
  db:
    servers:
      db1:
        roles: [base, postgres, backup]
        vars:
          postgres_users: [{name: shop, password: backup_pass}]
          postgres_databases: [{name: shop, owner: shop}]
YML
)
t_uses db
s3_install
pv up db --only cloud >"$WORK/up0" 2>&1 || bail "creating the host failed: $(tail -n 20 "$WORK/up0")"
s3_start db backups
pv up db >"$WORK/up1" 2>&1 || bail "up db failed: $(tail -n 30 "$WORK/up1")"
pass "up converges PostgreSQL with role backup"

psql_on db1 "create table items (id int primary key, name text)" || bail "create table failed"
pv backup now >"$WORK/now1" 2>&1 || bail "backup now failed: $(tail -n 10 "$WORK/now1")"
pass "a full backup before the writes"

psql_on db1 "insert into items values (1, 'A')" || bail "insert A failed"
at=$(psql_on db1 "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
sleep 1
psql_on db1 "insert into items values (2, 'B')" || bail "insert B failed"
check "A and B are there before the restore" test "$(psql_on db1 "select string_agg(name, ',' order by id) from items")" = "A,B"

pvj backup restore --at "2026-13-45 99:00" --yes >"$WORK/bad.json" 2>"$WORK/bad.err"
rc=$?
check "a time PostgreSQL cannot read fails the restore (exit $rc)" test "$rc" = 1
check "with --json: error events, the last saying the restore failed, nothing on stderr ($(head -c 200 "$WORK/bad.err"))" \
	sh -c "[ \"\$(jq -r 'select(.event == \"error\") | .message' '$WORK/bad.json' | tail -n 1)\" = 'db1: the restore FAILED' ] && ! [ -s '$WORK/bad.err' ]"
bad=$(/usr/bin/python3 "$ROOT/tests/helpers/check-events.py" "$ROOT/doc/events.schema.json" "$WORK/bad.json" 2>&1)
check "every line of the failed restore's --json validates against the schema${bad:+: $bad}" test -z "$bad"
check "and leaves the data as it was" test "$(psql_on db1 "select string_agg(name, ',' order by id) from items")" = "A,B"

pv backup restore --at "$at" --yes >"$WORK/restore1" 2>&1
rc=$?
check "restore --at '$at' succeeds: $(tail -n 4 "$WORK/restore1" | tr '\n' ' ')" test "$rc" = 0
rows=$(psql_on db1 "select string_agg(name, ',' order by id) from items")
check "A is there and B is not (got '$rows')" test "$rows" = A
check "PostgreSQL is a primary after the restore" test "$(psql_on db1 'select pg_is_in_recovery()')" = f
check "the previous data directory was kept" grep -q 'previous data directory is kept at /var/lib/postgresql/15/main.before-restore-' "$WORK/restore1"
check "the restore names its target time and each table it read with its rows" \
	sh -c "grep -qF 'db1: restored to $at; PostgreSQL runs as a primary; 1 tables read in full' '$WORK/restore1' && grep -qx '  shop.public.items: 1 rows' '$WORK/restore1'"

psql_on db1 "insert into items values (3, 'C')" >/dev/null
pv backup now --type diff >"$WORK/now2" 2>&1
rc=$?
check "a backup after the restore succeeds: $(tail -n 2 "$WORK/now2" | tr '\n' ' ')" test "$rc" = 0
pv status db >"$WORK/status" 2>&1
rc=$?
check "status is good after the restore: $(grep -E 'backup|WAL' "$WORK/status" | tr '\n' ' ')" test "$rc" = 0
