#!/usr/bin/env bash
# suite: extended (logical dumps beside the physical backups; make test-all)
# The logical flavour: with backup_dump, 'backup now --type dump' dumps each
# database (pg_dump custom format), encrypts it with the passphrase and
# uploads it; dumps older than backup_dump_keep_days are removed, the new
# one kept.  The object in the store is ciphertext; decrypted with the
# passphrase it is a dump pg_restore reads.  The role's units are the ones
# systemd runs, after the first converge and after a changed calendar.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-s3.sh"

bk_project < <(
	bk_common "backup_dump: true" "backup_dump_keep_days: 2" \
		"postgres_users: [{name: shop, password: backup_pass}]" \
		"postgres_databases: [{name: shop, owner: shop}]"
	cat <<'YML'
project: bk0660
layouts:
  db:
    servers:
      db1: { roles: [base, postgres, backup] }
YML
)
t_uses db
s3_install
pv up db --only cloud >"$WORK/up0" 2>&1 || bail "creating the host failed: $(tail -n 20 "$WORK/up0")"
s3_start db backups
pv up db >"$WORK/up1" 2>&1 || bail "up db failed: $(tail -n 30 "$WORK/up1")"
pass "up converges PostgreSQL with role backup and dumps"
check "the dump timer is active" on_host db1 "systemctl -q is-active provision-backup-dump.timer"
# units of the role that systemd has not read since they were written
stale() {
	on_host db1 'for u in provision-backup-full.timer provision-backup-diff.timer provision-backup-dump.timer \
		provision-backup@full.service provision-backup-dump.service provision-pgbackrest-server.service; do
		[ "$(systemctl show -p NeedDaemonReload --value "$u")" = no ] || echo "$u"; done'
}
check "no unit of the role waits for a reload ($(stale | tr '\n' ' '))" test -z "$(stale)"
modes=$(on_host db1 "stat -c '%a %U' /etc/pgbackrest/dump-curl.conf /etc/pgbackrest/dump.pass" | tr '\n' ' ')
check "the dump's credentials are files of mode 0600 ($modes)" test "$modes" = "600 root 600 root "

psql_on db1 "create table items (id int primary key, name text);
  insert into items select i, 'dumped ' || i from generate_series(1, 1000) i" || bail "populating failed"

# s3 ARGS...: a signed request to the store from here, the key and secret
# from a file (never in a command line)
printf 'user = "%s:%s"\n' "$PV_S3_KEY" "$PV_S3_SECRET" >"$WORK/s3/curl.conf"
chmod 600 "$WORK/s3/curl.conf"
s3() {
	curl -sS --fail-with-body -K "$WORK/s3/curl.conf" --aws-sigv4 "aws:amz:us-east-1:s3" \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --cacert "$WORK/s3/ca.crt" "$@"
}
base="https://$S3_ADDR:$S3_PORT/backups"
prefix=bk0660/default/db/dump/shop
echo old >"$WORK/old"
s3 -o /dev/null -T "$WORK/old" "$base/$prefix/20200101T000000Z.dump.enc" || bail "uploading an old dump failed"
keys() { s3 "$base?list-type=2&prefix=$prefix/" | grep -o '<Key>[^<]*</Key>' | sed 's/<[^>]*>//g'; }
check "an old dump is in the store" sh -c "printf '%s\n' '$(keys)' | grep -q 20200101T000000Z"

pv backup now --type dump >"$WORK/dump1" 2>&1
rc=$?
check "backup now --type dump succeeds: $(tail -n 3 "$WORK/dump1" | tr '\n' ' ')" test "$rc" = 0
now=$(keys)
check "the dump older than 2 days is removed ($now)" sh -c "! printf '%s\n' '$now' | grep -q 20200101T000000Z"
new=$(printf '%s\n' "$now" | grep -E '/[0-9]{8}T[0-9]{6}Z\.dump\.enc$' | tail -n 1)
check "the new dump is kept ($new)" test -n "$new"
s3 -o "$WORK/new.enc" "$base/$new" || bail "downloading the dump failed"
check "the dump in the store is ciphertext" sh -c "[ \"\$(head -c 8 '$WORK/new.enc')\" = Salted__ ]"
openssl enc -d -aes-256-cbc -pbkdf2 -iter 200000 -pass env:PV_BACKUP_PASS -in "$WORK/new.enc" \
	-out "$WORK/new.dump" 2>"$WORK/dec.err"
rc=$?
check "the passphrase decrypts it" test "$rc" = 0
check "to a pg_dump custom-format file" sh -c "[ \"\$(head -c 5 '$WORK/new.dump')\" = PGDMP ]"
toc=$("$PROVISION" -i "$WORK/inventory.yml" ssh db1 -- "pg_restore -l" <"$WORK/new.dump")
check "pg_restore lists the table's data" sh -c "printf '%s\n' \"\$1\" | grep -q 'TABLE DATA public items'" _ "$toc"
check "no passphrase in the output" sh -c "! grep -Fq -e \"\$1\" '$WORK/dump1' '$WORK/up1'" _ "$PV_BACKUP_PASS"
pv status db >"$WORK/status" 2>&1
check "status shows the dump timer: $(grep 'timer dump' "$WORK/status")" grep -q 'backup timer dump: active' "$WORK/status"

# A changed calendar: the next up rewrites the dump timer, which runs on the
# new calendar at once; the run after that changes nothing.
sed -i 's/^  backup_dump_keep_days: 2$/&\n  backup_dump_calendar: "*-*-* 04:45:00"/' "$WORK/inventory.yml"
grep -q '^  backup_dump_calendar: ' "$WORK/inventory.yml" || bail "the inventory was not changed"
pvj up db >"$WORK/up2.json" 2>"$WORK/up2.err" || bail "up with a new calendar failed: $(json_errors "$WORK/up2.json" "$WORK/up2.err")"
cal=$(on_host db1 'systemctl show -p TimersCalendar --value provision-backup-dump.timer')
check "the dump timer runs on its new calendar ($cal)" sh -c "printf '%s' \"\$1\" | grep -q '04:45:00'" _ "$cal"
check "no unit of the role waits for a reload ($(stale | tr '\n' ' '))" test -z "$(stale)"
pvj up db >"$WORK/up3.json" 2>"$WORK/up3.err" || bail "the next up failed: $(json_errors "$WORK/up3.json" "$WORK/up3.err")"
check "the next up changes nothing, got $(json_total "$WORK/up3.json" changed)" test "$(json_total "$WORK/up3.json" changed)" = 0
