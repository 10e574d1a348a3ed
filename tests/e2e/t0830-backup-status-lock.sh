#!/usr/bin/env bash
# suite: extended (a backup held running while status reads; make test-all)
# Right after 'up' a layout with role backup has no backup yet and is not
# failing: status exits 0 and says when the first is scheduled.  The backup
# commands take the run lock: with another run holding it they refuse and
# say who holds it, and an 'up' started during a restore refuses the same
# way instead of restarting PostgreSQL under it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-s3.sh"

bk_project < <(
	bk_common "postgres_users: [{name: shop, password: backup_pass}]" \
		"postgres_databases: [{name: shop, owner: shop}]"
	cat <<'YML'
project: bk0830
layouts:
  db:
    servers:
      db1: { roles: [base, postgres, backup] }
YML
)
bk_up db

# 1. no backup yet, none due yet
pv status db >"$WORK/status1" 2>&1
rc=$?
check "status right after up exits 0, got $rc: $(grep -i 'backups\|FAILED' "$WORK/status1" | head -3 | tr '\n' ' ')" test "$rc" = 0
check "it says when the first backup is scheduled" \
	grep -Eq 'backups: none yet \(first scheduled [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2} UTC\)' "$WORK/status1"
check "and nothing FAILED" sh -c "! grep -q FAILED '$WORK/status1'"

# 2. the backup commands wait their turn: another run holds the lock
flock -o "$WORK/.provision/lock" sleep 30 &
holder=$!
for _ in $(seq 100); do
	flock -n "$WORK/.provision/lock" true 2>/dev/null || break
	sleep 0.1
done
for sub in now list; do
	out=$(pv backup $sub 2>&1)
	rc=$?
	check "backup $sub refuses while another run holds the lock (exit 1), got $rc: $out" \
		sh -c "[ $rc = 1 ] && printf '%s' \"\$1\" | grep -q 'another provision run.* holds the lock'" _ "$out"
done
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

pv backup now >"$WORK/now1" 2>&1 || bail "backup now failed: $(tail -n 5 "$WORK/now1")"
psql_on db1 "create table if not exists marks (n int); insert into marks values (1)" >/dev/null ||
	bail "cannot write a row"

# 3. an up during a restore refuses, naming the restore
"$PROVISION" -i "$WORK/inventory.yml" --plain backup restore db --yes >"$WORK/restore1" 2>&1 &
restore=$!
for _ in $(seq 300); do
	grep -q 'backup restore' "$WORK/.provision/lock" 2>/dev/null && break
	kill -0 "$restore" 2>/dev/null || break
	sleep 0.1
done
out=$(pv up db 2>&1)
rc=$?
kill -0 "$restore" 2>/dev/null
running=$?
check "the restore was still running when up was tried" test "$running" = 0
check "up during the restore refuses (exit 1), got $rc: $out" test "$rc" = 1
check "naming the restore that holds the lock" \
	grep -q "another provision run ('provision .*backup restore db --yes', pid $restore, since" <<<"$out"
wait "$restore"
rc=$?
check "the restore itself succeeds: $(tail -n 2 "$WORK/restore1" | tr '\n' ' ')" test "$rc" = 0
check "PostgreSQL is a primary after the restore" test "$(psql_on db1 'select pg_is_in_recovery()')" = f

pv status db >"$WORK/status2" 2>&1
rc=$?
check "status after the backup and restore exits 0, got $rc" test "$rc" = 0
check "and shows the backup" grep -q 'last good backup: ' "$WORK/status2"
