#!/usr/bin/env bash
# suite: extended (a second store in another region; make test-all)
# Two repositories in two stores (backup_repos): two TLS s3rver stores on
# the test bridge, each with its own bucket and secrets.  WAL and the full
# backup reach both; 'backup list' and 'status' show each repository; the
# first store gone, 'status' names it failing and the second healthy (and
# so do the node exporter's metrics of each repository), and
# 'backup restore --repo 2' restores the latest commit onto a new server.
# backup_repos is checked before anything runs (file:line:col).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-s3.sh"

export PV_S3_KEY2=S3RVER PV_S3_SECRET2=S3RVER
BK_SECRETS='  s3_key2: env:PV_S3_KEY2
  s3_secret2: env:PV_S3_SECRET2'
bk_project < <(
	bk_common "backup_s3_path: /bk0980/shop" \
		"postgres_users: [{name: shop, password: backup_pass}]" \
		"postgres_databases: [{name: shop, owner: shop}]" \
		"backup_repos:" \
		"  - endpoint: S3-ADDR" \
		"    port: 9444" \
		"    bucket: backups2" \
		"    uri_style: path" \
		"    key: s3_key2" \
		"    key_secret: s3_secret2" \
		"    retention_full: 2" \
		"    ca: CA-OF-STORE-TWO"
	cat <<'YML'
project: bk0980
layouts:
  old:
    servers:
      db1: { roles: [base, postgres, backup] }
  new:
    servers:
      db9: { roles: [base, postgres, backup] }
YML
)

# ---- backup_repos is typed before anything runs ----
cp "$WORK/inventory.yml" "$WORK/good.yml"
line=$(grep -n '    bucket: backups2' "$WORK/inventory.yml" | cut -d: -f1)
sed -i 's/    bucket: backups2/    bucke: backups2/' "$WORK/inventory.yml"
out=$(pv validate 2>&1)
rc=$?
check "a misspelt key of backup_repos is refused at its line (exit $rc: $out)" \
	sh -c "test $rc = 2 && printf '%s' \"\$1\" | grep -Fq \"inventory.yml:$line:7: unknown key 'bucke' in variable 'backup_repos[0]' (did you mean 'bucket'?)\"" _ "$out"
check "and the missing bucket is named" sh -c "printf '%s' \"\$1\" | grep -q \"variable 'backup_repos\[0\]' needs key 'bucket'\"" _ "$out"
cp "$WORK/good.yml" "$WORK/inventory.yml"
sed -i 's/    key: s3_key2/    key: s3_kye2/' "$WORK/inventory.yml"
out=$(pv validate 2>&1)
check "a key naming no secret is refused ($out)" sh -c "printf '%s' \"\$1\" | grep -q \"backup_repos\[0\].key\"" _ "$out"
cp "$WORK/good.yml" "$WORK/inventory.yml"
sed -i 's/    port: 9444/    port: 94440/' "$WORK/inventory.yml"
out=$(pv validate 2>&1)
check "a port out of range is refused ($out)" sh -c "printf '%s' \"\$1\" | grep -q \"backup_repos\[0\].port' must be a port\"" _ "$out"
cp "$WORK/good.yml" "$WORK/inventory.yml"
rm -f "$WORK/good.yml"

t_uses old new
s3_install
pv up old --only cloud >"$WORK/up0" 2>&1 || bail "creating the host failed: $(tail -n 20 "$WORK/up0")"
s3_start old backups
s3_second 9444 backups2
/usr/bin/python3 - "$WORK/inventory.yml" "$WORK/s3/ca.crt" <<'PY'
import sys
p, ca = sys.argv[1:]
pem = open(ca).read().rstrip("\n")
t = open(p).read().replace("CA-OF-STORE-TWO", "|\n" + "\n".join("        " + l for l in pem.split("\n")))
open(p, "w").write(t)
PY
pv up old >"$WORK/up1" 2>&1 || bail "up old failed: $(tail -n 30 "$WORK/up1")"
pass "up converges the primary with two repositories"
pv up new >"$WORK/up2" 2>&1 || bail "up new failed: $(tail -n 30 "$WORK/up2")"
pass "and a second server (layout new) that will restore"

conf=$(on_host db1 "cat /etc/pgbackrest/pgbackrest.conf")
check "repository 2 is the second store" sh -c "printf '%s\n' \"\$1\" | grep -qx 'repo2-storage-port=9444'" _ "$conf"
check "repository 2 verifies TLS against its CA" sh -c "printf '%s\n' \"\$1\" | grep -qx 'repo2-storage-ca-file=/etc/pgbackrest/s3-ca-repos.crt'" _ "$conf"
check "repository 2 keeps its own number of full backups" sh -c "printf '%s\n' \"\$1\" | grep -qx 'repo2-retention-full=2'" _ "$conf"
check "repository 2 is encrypted" sh -c "printf '%s\n' \"\$1\" | grep -qx 'repo2-cipher-type=aes-256-cbc'" _ "$conf"
check "the CA file holds the certificate" on_host db1 "openssl x509 -noout -in /etc/pgbackrest/s3-ca-repos.crt"

psql_on db1 "create table items (id int primary key, name text);
  insert into items select i, 'row ' || i from generate_series(1, 100) i" || bail "populating failed"
pv backup now old >"$WORK/now1" 2>&1
rc=$?
check "backup now succeeds: $(tail -n 4 "$WORK/now1" | tr '\n' ' ')" test "$rc" = 0
pv backup list old >"$WORK/list1" 2>&1
check "backup list shows repository 1 with a full backup" \
	sh -c "sed -n '/repository 1:/,/repository 2:/p' '$WORK/list1' | grep -Eq '^  [0-9]{8}-[0-9]{6}F +full '"
check "backup list shows repository 2 with a full backup" \
	sh -c "sed -n '/repository 2:/,\$p' '$WORK/list1' | grep -Eq '^  [0-9]{8}-[0-9]{6}F +full '"
for d in s3/data/backups s3-9444/data/backups2; do
	check "the store $d holds the backup" test -n "$(find "$WORK/$d/bk0980/shop/backup" -name 'backup.info*' 2>/dev/null | head -n 1)"
	check "the store $d holds archived WAL" test -n "$(find "$WORK/$d/bk0980/shop/archive" -name '0000000*' 2>/dev/null | head -n 1)"
	objs=$(find "$WORK/$d" -type f -name '*._S3rver_object' -size +0 | wc -l)
	clear=$(find "$WORK/$d" -type f -name '*._S3rver_object' -size +0 \
		-exec sh -c '[ "$(head -c 8 "$1")" = Salted__ ] || echo "$1"' sh {} \; | wc -l)
	check "the store $d is encrypted: $objs objects, $clear in clear" test "$objs" -gt 0 -a "$clear" = 0
done

# what the node exporter's textfile collector gets, per repository
metrics() {
	on_host db1 "systemctl start provision-backup-metrics.service && cat /var/lib/prometheus/node-exporter/provision-backup.prom" |
		grep -v '^#' | tr '\n' ' '
}
last_good() { sed -n "s/.*provision_backup_last_good_timestamp_seconds{repo=\"$1\"} \([0-9]*\).*/\1/p" <<<"$2"; }
m1=$(metrics)
now_s=$(date +%s)
check "the node exporter gets repository 1's newest good backup, made in the last 10 minutes: $m1" \
	test "$(last_good 1 "$m1")" -gt $((now_s - 600))
check "and repository 2's" test "$(last_good 2 "$m1")" -gt $((now_s - 600))
check "WAL archiving does not fail" \
	sh -c "printf '%s' \"\$1\" | grep -q 'provision_backup_wal_archive_failing 0'" _ "$m1"
check "both repositories readable" \
	sh -c "printf '%s' \"\$1\" | grep -q 'provision_backup_repository_ok{repo=\"1\"} 1' && printf '%s' \"\$1\" | grep -q 'provision_backup_repository_ok{repo=\"2\"} 1'" _ "$m1"

pv status old >"$WORK/status1" 2>&1
check "status shows repository 1's last backup: $(grep -E 'repository' "$WORK/status1" | tr '\n' ' ')" \
	grep -Eq 'repository 1: last good backup: [0-9]{8}-[0-9]{6}F \(full\), [0-9]+ (s|min) ago' "$WORK/status1"
check "status shows repository 2's last backup" \
	grep -Eq 'repository 2: last good backup: [0-9]{8}-[0-9]{6}F \(full\), [0-9]+ (s|min) ago' "$WORK/status1"

pvj up old >"$WORK/up3" 2>"$WORK/up3.err"
check "a second run changes nothing ($(json_resources "$WORK/up3" changed | tr '\n' ' '))" \
	test "$(json_total "$WORK/up3" changed)" = 0

# the last commit, its WAL segment archived into both stores
psql_on db1 "insert into items values (1000, 'the last write')" || bail "the write failed"
seg=$(psql_on db1 "select pg_walfile_name(pg_switch_wal())")
for i in $(seq 120); do
	[ "$(psql_on db1 "select coalesce(last_archived_wal >= '$seg', false) from pg_stat_archiver")" = t ] && break
	sleep 0.5
done
check "segment $seg of the last write is in store 2" \
	test -n "$(find "$WORK/s3-9444/data/backups2/bk0980/shop/archive" -name "$seg-*" | head -n 1)"
check "and in store 1" test -n "$(find "$WORK/s3/data/backups/bk0980/shop/archive" -name "$seg-*" | head -n 1)"

# store 1 is gone, data and all
s3_stop
rm -rf "$WORK/s3/data"
pv status old >"$WORK/status2" 2>&1
rc=$?
check "status fails with a store gone (exit $rc)" test "$rc" != 0
check "status names repository 1 failing: $(grep -E 'repository' "$WORK/status2" | tr '\n' ' ')" \
	grep -q 'repository 1: backups: FAILED' "$WORK/status2"
check "and repository 2 healthy" \
	grep -Eq 'repository 2: last good backup: [0-9]{8}-[0-9]{6}F \(full\)' "$WORK/status2"
check "repository 2 is not said to fail" sh -c "! grep -q 'repository 2: backups: FAILED' '$WORK/status2'"
m2=$(metrics)
check "the node exporter gets repository 1 unreadable: $m2" \
	sh -c "printf '%s' \"\$1\" | grep -q 'provision_backup_repository_ok{repo=\"1\"} 0'" _ "$m2"
check "and repository 2 readable, with its newest good backup" \
	sh -c "printf '%s' \"\$1\" | grep -q 'provision_backup_repository_ok{repo=\"2\"} 1' && test \"\$2\" -gt 0" _ "$m2" "$(last_good 2 "$m2")"

pv backup restore new --host db9 --repo 5 >"$WORK/restore0" 2>&1
rc=$?
check "--repo 5 is refused (exit $rc)" sh -c "test $rc = 2 && grep -q -- '--repo takes' '$WORK/restore0'"
pv backup restore new --host db9 --repo 3 --yes >"$WORK/restore0b" 2>&1
rc=$?
check "--repo 3 names the repositories there (exit $rc)" \
	sh -c "test $rc != 0 && grep -q 'no repository 3 here (repositories: 1 2)' '$WORK/restore0b'"
check "and left db9's PostgreSQL alone" test "$(psql_on db9 'select pg_is_in_recovery()' 2>/dev/null)" = f

pv backup restore new --host db9 --repo 2 --yes >"$WORK/restore1" 2>&1
rc=$?
check "restore --repo 2 on the new server succeeds: $(tail -n 4 "$WORK/restore1" | tr '\n' ' ')" test "$rc" = 0
check "the last write is there" test "$(psql_on db9 "select name from items where id = 1000")" = "the last write"
check "and every row before it" test "$(psql_on db9 'select count(*) from items')" = 101
check "the new server is a primary" test "$(psql_on db9 'select pg_is_in_recovery()')" = f

# with store 1 gone, archiving the next segment fails (pgBackRest pushes
# to both stores), and the node exporter says so
fails0=$(psql_on db1 "select failed_count from pg_stat_archiver")
psql_on db1 "insert into items values (1001, 'after store 1 went')" >/dev/null &&
	psql_on db1 "select pg_switch_wal()" >/dev/null || bail "the write on db1 failed"
for i in $(seq 120); do
	[ "$(psql_on db1 "select failed_count > ${fails0:-0} from pg_stat_archiver")" = t ] && break
	sleep 0.5
done
m3=$(metrics)
check "the node exporter gets WAL archiving failing: $m3" \
	sh -c "printf '%s' \"\$1\" | grep -q 'provision_backup_wal_archive_failing 1'" _ "$m3"
for f in up1 up2 now1 list1 status1 status2 restore1; do
	check "no passphrase in the output of $f" sh -c "! grep -Fq -e \"\$1\" '$WORK/$f'" _ "$PV_BACKUP_PASS"
done
check "no passphrase in the state" sh -c "! grep -rFq --exclude-dir=local -e \"\$1\" '$WORK/.provision'" _ "$PV_BACKUP_PASS"
for h in db1 db9; do
	ps=$(on_host $h "ps -eo args")
	check "no passphrase in $h's process list" sh -c "! printf '%s' \"\$2\" | grep -Fq -e \"\$1\"" _ "$PV_BACKUP_PASS" "$ps"
	logs=$(on_host $h "cat /var/log/pgbackrest/*.log")
	check "no passphrase in $h's pgBackRest logs" sh -c "! printf '%s' \"\$2\" | grep -Fq -e \"\$1\"" _ "$PV_BACKUP_PASS" "$logs"
done
