#!/usr/bin/env bash
# suite: extended (waits out WAL archive timeouts; make test-all)
# The loss window: a row is committed on the primary, and 60 seconds later
# the host stops hard (every process killed at once, no shutdown).  A new
# host of another layout, sharing the repository path, restores from the
# store: the row is there (WAL archiving with archive_timeout keeps the
# loss under a minute).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-s3.sh"

bk_project < <(
	bk_common "backup_s3_path: /bk0620/shop" \
		"postgres_users: [{name: shop, password: backup_pass}]" \
		"postgres_databases: [{name: shop, owner: shop}]"
	cat <<'YML'
project: bk0620
layouts:
  old:
    servers:
      db1: { roles: [base, postgres, backup] }
  new:
    servers:
      db9: { roles: [base, postgres, backup] }
YML
)
t_uses old new
s3_install
pv up old --only cloud >"$WORK/up0" 2>&1 || bail "creating the host failed: $(tail -n 20 "$WORK/up0")"
s3_start old backups
pv up old >"$WORK/up1" 2>&1 || bail "up old failed: $(tail -n 30 "$WORK/up1")"
pass "up converges the primary with role backup"

psql_on db1 "create table items (id int primary key, name text);
  insert into items select i, 'row ' || i from generate_series(1, 100) i" || bail "populating failed"
pv backup now old >"$WORK/now1" 2>&1 || bail "backup now failed: $(tail -n 10 "$WORK/now1")"
pass "a full backup"

psql_on db1 "insert into items values (1000, 'the last write')" || bail "the write failed"
sleep 60
# stop the host hard: its init (PID 1 of the host's PID namespace) killed
# takes every process of the host with it, PostgreSQL included, at once
pid=$(jq -r '.. | objects | select(has("machine") and has("pid")) | .pid' "$WORK/.provision/state.json" | head -n 1)
init=$(pgrep -P "$pid" | head -n 1)
[ -n "$init" ] || bail "no init process under nspawn $pid"
kill -9 "$init"
for i in $(seq 50); do kill -0 "$init" 2>/dev/null || break; sleep 0.1; done
check "the primary host is gone" sh -c "! kill -0 $init 2>/dev/null"

pv up new >"$WORK/up2" 2>&1 || bail "up new failed: $(tail -n 30 "$WORK/up2")"
pass "a new host with role backup"
pv backup restore new --host db9 --yes >"$WORK/restore" 2>&1
rc=$?
check "restore on the new host succeeds: $(tail -n 4 "$WORK/restore" | tr '\n' ' ')" test "$rc" = 0
check "the last write, 60 s before the loss, is there" \
	test "$(psql_on db9 "select name from items where id = 1000")" = "the last write"
check "and every row before it" test "$(psql_on db9 'select count(*) from items')" = 101
check "the new host is a primary" test "$(psql_on db9 'select pg_is_in_recovery()')" = f
