#!/usr/bin/env bash
# Role backup and 'provision backup now | list | restore' against a real
# S3-compatible store (s3rver) behind TLS with its own CA: a full backup of
# a populated database, the database destroyed (its data directory gone),
# restored from the store with equal row counts and checksums.  The
# repository is encrypted (no row in the store in clear text), the
# passphrase is nowhere in output or state, and a restore over a running
# primary is refused without --yes.  A second run changes nothing.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/lib-s3.sh"

bk_project < <(
	bk_common
	cat <<'YML'
project: bk0600
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
pass "up converges PostgreSQL with role backup against the store"

conf=$(on_host db1 "stat -c '%a %U %G' /etc/pgbackrest/pgbackrest.conf")
check "pgbackrest.conf is mode 0640, owned by postgres ($conf)" test "$conf" = "640 postgres postgres"
check "the store's CA is named in the configuration" \
	sh -c "'$PROVISION' -i '$WORK/inventory.yml' ssh db1 -- sudo -n cat /etc/pgbackrest/pgbackrest.conf | grep -qx 'repo1-storage-ca-file=/etc/pgbackrest/s3-ca.crt'"
check "TLS is verified" \
	sh -c "'$PROVISION' -i '$WORK/inventory.yml' ssh db1 -- sudo -n cat /etc/pgbackrest/pgbackrest.conf | grep -qx 'repo1-storage-verify-tls=y'"
arch=$(psql_on db1 "select setting from pg_settings where name in ('archive_mode', 'archive_timeout') order by name" | tr '\n' ' ')
check "WAL archiving is on with archive_timeout 30 s ($arch)" test "$arch" = "on 30 "
check "the timers are active" on_host db1 "systemctl -q is-active provision-backup-full.timer provision-backup-diff.timer"

psql_on db1 "create table items (id int primary key, name text, n bigint);
  create table events (id bigserial primary key, at timestamptz default now(), what text);
  insert into items select i, 'needle-' || i, i * 7 from generate_series(1, 5000) i;
  insert into events (what) select 'event ' || i from generate_series(1, 2000) i;" ||
	bail "populating the database failed"
before=$(table_sums db1)

pv backup now >"$WORK/now1" 2>&1
rc=$?
check "backup now succeeds: $(tail -n 3 "$WORK/now1" | tr '\n' ' ')" test "$rc" = 0
pv backup list >"$WORK/list1" 2>&1
check "backup list shows the full backup" grep -Eq '^  [0-9]{8}-[0-9]{6}F +full ' "$WORK/list1"
check "the store holds the repository" test -n "$(find "$WORK/s3/data/backups" -name 'backup.info*' | head -n 1)"
info=$(find "$WORK/s3/data/backups" -name 'backup.info._S3rver_object' -o -name backup.info | head -n 1)
check "the repository is encrypted: backup.info is ciphertext ($(head -c 8 "$info" 2>/dev/null | od -An -c | tr -s ' '))" \
	test "$(head -c 8 "$info" 2>/dev/null)" = Salted__
# no row in clear text would also hold for a compressed repository: what
# proves encryption is that every object of it is ciphertext
objs=$(find "$WORK/s3/data/backups" -type f -name '*._S3rver_object' | wc -l)
clear=$(find "$WORK/s3/data/backups" -type f -name '*._S3rver_object' -size +0 \
	-exec sh -c '[ "$(head -c 8 "$1")" = Salted__ ] || echo "$1"' sh {} \; | sed "s|^$WORK/s3/data/backups/||")
check "the repository is encrypted: all $objs objects of it are ciphertext${clear:+, not: $clear}" \
	test "$objs" -gt 0 -a -z "$clear"

# the database is lost with its disk
on_host db1 "systemctl stop postgresql@15-main && rm -rf /var/lib/postgresql/15/main" ||
	bail "destroying the database failed"
# with --json (t0610 checks the plain lines of a restore)
pvj backup restore >"$WORK/restore1" 2>"$WORK/restore1.err"
rc=$?
check "backup restore succeeds: $(json_errors "$WORK/restore1" "$WORK/restore1.err" | tr '\n' ' ')" test "$rc" = 0
after=$(table_sums db1)
check "row counts and checksums equal after the restore ($after)" test "$before" = "$after"
check "PostgreSQL is a primary again" test "$(psql_on db1 'select pg_is_in_recovery()')" = f
check "restore --json: a restored event for db1, to the latest state, 2 tables read, no data directory kept" \
	test "$(jq -c 'select(.event == "restored") | [.host, has("at"), .tables, has("kept_at")]' "$WORK/restore1")" = '["db1",false,2,false]'
check "restore --json: a table event for every table it read, with its rows" \
	test "$(jq -r 'select(.event == "table") | "\(.host) \(.database).\(.table) \(.rows)"' "$WORK/restore1" | sort | tr '\n' ';')" = "db1 shop.public.events 2000;db1 shop.public.items 5000;"

# a restore over a running primary needs --yes and changes nothing without it
psql_on db1 "insert into events (what) values ('after the restore')" >/dev/null
pv backup restore >"$WORK/restore2" 2>&1
rc=$?
check "restore over the running primary is refused without --yes (exit $rc)" test "$rc" = 2
check "the refusal says --yes" grep -q -- '--yes' "$WORK/restore2"
pvj backup restore >"$WORK/restore2.json" 2>"$WORK/restore2.err"
rc=$?
check "with --json the refusal is exit 2 too (got $rc), error events saying --yes" \
	sh -c "[ $rc = 2 ] && jq -r 'select(.event == \"error\") | .message' '$WORK/restore2.json' | grep -q -- '^db1: PostgreSQL runs there as a primary: nothing was changed; .--yes. replaces'"
check "the refused restores left the data alone" \
	test "$(psql_on db1 "select count(*) from events where what = 'after the restore'")" = 1
bad=$(/usr/bin/python3 "$ROOT/tests/helpers/check-events.py" "$ROOT/doc/events.schema.json" "$WORK/restore1" "$WORK/restore2.json" 2>&1)
check "restore --json, done and refused: every line validates against the schema${bad:+: $bad}" test -z "$bad"

pv status db >"$WORK/status1" 2>&1
rc=$?
check "status succeeds with a good backup: $(grep -E 'backup|WAL' "$WORK/status1" | tr '\n' ' ')" test "$rc" = 0
check "status shows the last good backup's age" grep -Eq 'last good backup: [0-9]{8}-[0-9]{6}F \(full\), [0-9]+ (s|min) ago' "$WORK/status1"
check "status shows the WAL archive" grep -q 'WAL archive: last segment' "$WORK/status1"

for f in up1 now1 list1 restore1 status1; do
	check "no passphrase in the output of $f" sh -c "! grep -Fq -e \"\$1\" '$WORK/$f'" _ "$PV_BACKUP_PASS"
done
check "no passphrase in the state" sh -c "! grep -rFq --exclude-dir=local -e \"\$1\" '$WORK/.provision'" _ "$PV_BACKUP_PASS"
logs=$(on_host db1 "cat /var/log/pgbackrest/*.log")
check "pgBackRest logs to /var/log/pgbackrest" test -n "$logs"
check "no passphrase in pgBackRest's logs" sh -c "! printf '%s' \"\$2\" | grep -Fq -e \"\$1\"" _ "$PV_BACKUP_PASS" "$logs"

pvj up db >"$WORK/up2" 2>&1
check "a second run changes nothing ($(json_resources "$WORK/up2" changed | tr '\n' ' '))" \
	test "$(json_total "$WORK/up2" changed)" = 0
