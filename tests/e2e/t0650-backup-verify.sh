#!/usr/bin/env bash
# suite: extended (a restore drill on a second host; make test-all)
# The restore drill: 'provision backup verify --on scratch1' restores the
# repository onto a scratch server up to a restore point marked on the
# primary and compares every table's rows and checksum.  The scratch server
# never writes to the repository.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-s3.sh"

bk_project < <(
	bk_common "postgres_users: [{name: shop, password: backup_pass}]" \
		"postgres_databases: [{name: shop, owner: shop}]"
	cat <<'YML'
project: bk0650
layouts:
  db:
    servers:
      db1: { roles: [base, postgres, backup] }
      scratch1: { roles: [base, postgres, backup], vars: { backup_scratch: true } }
YML
)
t_uses db
s3_install
pv up db --only cloud >"$WORK/up0" 2>&1 || bail "creating the hosts failed: $(tail -n 20 "$WORK/up0")"
s3_start db backups
pv up db >"$WORK/up1" 2>&1 || bail "up db failed: $(tail -n 30 "$WORK/up1")"
pass "up converges a primary and a scratch server"
check "the scratch server does not archive" \
	test "$(on_host scratch1 "cd / && runuser -u postgres -- psql -X -tA -c 'show archive_mode'")" = off
check "the scratch server has no backup timers running" \
	sh -c "! '$PROVISION' -i '$WORK/inventory.yml' ssh scratch1 -- systemctl -q is-active provision-backup-full.timer"

psql_on db1 "create table items (id int primary key, name text);
  create table events (id bigserial primary key, what text);
  insert into items select i, 'item ' || i from generate_series(1, 3000) i;
  insert into events (what) select 'e' || i from generate_series(1, 500) i" || bail "populating failed"
pv backup now >"$WORK/now1" 2>&1 || bail "backup now failed: $(tail -n 5 "$WORK/now1")"
# written after the backup: verify must bring it through the archived WAL
psql_on db1 "insert into events (what) values ('after the backup'); delete from items where id <= 10" ||
	bail "writing failed"

# with --json (t0680 checks the plain lines of a verify)
pvj backup verify --on scratch1 >"$WORK/verify1" 2>"$WORK/verify1.err"
rc=$?
check "verify succeeds: $(json_errors "$WORK/verify1" "$WORK/verify1.err" | tr '\n' ' ')" test "$rc" = 0
check "verify --json: a verified event, both tables of db1 on scratch1 at a restore point of its own" \
	test "$(jq -c 'select(.event == "verified") | [.host, .scratch, .tables, (.point | test("^provision-verify-[0-9]+$"))]' "$WORK/verify1")" = '["db1","scratch1",2,true]'
check "and the restore on scratch1 as a restored event" \
	test "$(jq -c 'select(.event == "restored") | [.host, .tables]' "$WORK/verify1")" = '["scratch1",2]'
check "the scratch copy has the write after the backup" \
	test "$(psql_on scratch1 "select count(*) from events where what = 'after the backup'")" = 1
check "and the rows as on the primary" test "$(table_sums scratch1)" = "$(table_sums db1)"
check "the scratch server still does not archive" \
	test "$(on_host scratch1 "cd / && runuser -u postgres -- psql -X -tA -c 'show archive_mode'")" = off
pv backup list >"$WORK/list" 2>&1
check "the repository holds only the primary's backup" test "$(grep -Ec '^  [0-9]{8}-' "$WORK/list")" = 1

pvj backup verify --on db1 >"$WORK/verify2" 2>"$WORK/verify2.err"
rc=$?
check "verify refuses the source as the scratch server (exit $rc)" test "$rc" = 2
check "with an error event naming it" \
	test "$(jq -r 'select(.event == "error") | .message' "$WORK/verify2")" = "the scratch server must not be the source 'db1'"
bad=$(/usr/bin/python3 "$ROOT/tests/helpers/check-events.py" "$ROOT/doc/events.schema.json" "$WORK/verify1" "$WORK/verify2" 2>&1)
check "verify --json, done and refused: every line validates against the schema${bad:+: $bad}" test -z "$bad"
