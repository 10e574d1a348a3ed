#!/usr/bin/env bash
# suite: extended (a store that breaks and mends; make test-all)
# A broken store fails loudly: with the bucket gone, 'backup now' exits 1
# and says why, and 'status' shows the failed backup and exits 1; with a
# wrong access key the run that installs it fails, as do 'backup now' and
# 'status'.  Once the store is right again everything is good again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-s3.sh"

bk_project < <(
	bk_common "postgres_users: [{name: shop, password: backup_pass}]" \
		"postgres_databases: [{name: shop, owner: shop}]"
	cat <<'YML'
project: bk0640
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
pv backup now >"$WORK/now0" 2>&1 || bail "the first backup failed: $(tail -n 5 "$WORK/now0")"
pass "up and a first backup with a good store"

# the bucket is missing: the store restarted on an empty directory
mv "$WORK/s3/data" "$WORK/s3/data.kept"
mkdir "$WORK/s3/data"
s3_run
pv backup now >"$WORK/now1" 2>&1
rc=$?
check "backup now fails with the bucket missing (exit $rc)" test "$rc" = 1
check "and says so loudly: $(grep -m1 -i 'error' "$WORK/now1")" grep -Eqi 'FAILED' "$WORK/now1"
check "naming what is wrong: $(grep -Ei -m1 'ERROR: \[' "$WORK/now1")" \
	grep -Eqi 'NoSuchBucket|404|missing|unable to' "$WORK/now1"
pv status db >"$WORK/status1" 2>&1
rc=$?
check "status exits 1 with the bucket missing (exit $rc)" test "$rc" = 1
check "status shows the failed backup: $(grep -m1 'timer full' "$WORK/status1")" grep -q 'backup timer full: FAILED' "$WORK/status1"
check "status shows the repository failing" grep -q 'backups: FAILED' "$WORK/status1"

# the bucket is back, the access key is wrong (s3rver refuses an unknown
# access key; it does not check the signature made with the secret)
s3_stop
rm -rf "$WORK/s3/data"
mv "$WORK/s3/data.kept" "$WORK/s3/data"
s3_run
PV_S3_KEY=WRONGKEY pv apply db >"$WORK/apply1" 2>&1
rc=$?
check "a run with a wrong access key fails (exit $rc)" test "$rc" = 1
check "naming the key refused: $(grep -o 'InvalidAccessKeyId[^"]*' "$WORK/apply1" | head -n 1)" \
	grep -Eqi 'InvalidAccessKeyId|403|forbidden' "$WORK/apply1"
pv backup now >"$WORK/now2" 2>&1
rc=$?
check "backup now fails with the wrong key (exit $rc)" test "$rc" = 1
pv status db >"$WORK/status2" 2>&1
rc=$?
check "status exits 1 with the wrong key" test "$rc" = 1
check "status shows the repository failing" grep -q 'backups: FAILED' "$WORK/status2"
check "the wrong key's failure is in backup now's output" grep -Eqi 'InvalidAccessKeyId|403' "$WORK/now2"
check "no secret key in the output" \
	sh -c "! grep -Fq -e \"\$1\" '$WORK/apply1' '$WORK/now2' '$WORK/status2'" _ "$PV_S3_SECRET"

# all good again
pv apply db >"$WORK/apply2" 2>&1
rc=$?
check "the right key again: the run succeeds" test "$rc" = 0
pv backup now >"$WORK/now3" 2>&1
rc=$?
check "backup now succeeds again" test "$rc" = 0
pv status db >"$WORK/status3" 2>&1
rc=$?
check "status is good again: $(grep -E 'backup|WAL' "$WORK/status3" | tr '\n' ' ')" test "$rc" = 0
