#!/usr/bin/env bash
# suite: extended (several full backups to expire; make test-all)
# Retention: with backup_retention_full 2 and backup_retention_diff 1, a
# third full backup expires the first (from the list and from the store),
# a second differential backup expires the first one, and the newest of
# each is kept.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-s3.sh"

bk_project < <(
	bk_common "backup_retention_full: 2" "backup_retention_diff: 1" \
		"postgres_users: [{name: shop, password: backup_pass}]" \
		"postgres_databases: [{name: shop, owner: shop}]"
	cat <<'YML'
project: bk0630
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
pass "up converges PostgreSQL with role backup"
psql_on db1 "create table items (id int primary key)" || bail "create table failed"

labels() { # the backups' labels, oldest first
	pv backup list db | grep -Eo '^  [0-9]{8}-[0-9]{6}F[_0-9DI-]*' | tr -d ' '
}
for i in 1 2 3; do
	psql_on db1 "insert into items values ($i)" >/dev/null
	pv backup now >"$WORK/full$i" 2>&1 || bail "full backup $i failed: $(tail -n 5 "$WORK/full$i")"
	sleep 1 # labels have a resolution of a second
done
full=($(labels))
check "three full backups taken, two kept (${full[*]})" test "${#full[@]}" = 2
first=$(grep -Eo '[0-9]{8}-[0-9]{6}F' "$WORK/full1" | head -n 1)
last=$(grep -Eo '[0-9]{8}-[0-9]{6}F' "$WORK/full3" | tail -n 1)
# (among the two the list showed: a list that failed shows none)
check "the first full backup ($first) is expired" \
	sh -c "[ -n '$first' ] && [ ${#full[@]} = 2 ] && ! printf '%s\n' ${full[*]} | grep -qx '$first'"
check "the newest full backup ($last) is kept" sh -c "printf '%s\n' ${full[*]} | grep -qx '$last'"
# s3rver 3.7.1 answers a multi-object delete with 500 now and then (its
# file store races with itself removing directories), so some files of an
# expired backup can stay behind there; the backup's manifest, which makes
# it a backup, must be gone (backup.history keeps a copy, by design)
# the same query finds the newest backup's manifest (the control)
manifest() { find "$WORK/s3/data/backups" -path "*/backup/main/$1/backup.manifest*" -name '*._S3rver_object' | head -n 1; }
check "the expired backup's manifest is gone from the store (the newest's is there)" \
	test -n "$first" -a -n "$last" -a -z "$(manifest "$first")" -a -n "$(manifest "$last")"
check "the newest is in the store" \
	test -n "$(find "$WORK/s3/data/backups" -path "*/backup/main/$last/*" -name '*._S3rver_object' | head -n 1)"

for i in 1 2; do
	psql_on db1 "insert into items values (10$i)" >/dev/null
	pv backup now --type diff >"$WORK/diff$i" 2>&1 || bail "diff backup $i failed: $(tail -n 5 "$WORK/diff$i")"
	sleep 1
done
all=($(labels))
diffs=$(printf '%s\n' "${all[@]}" | grep -c 'D$')
check "two differential backups taken, one kept (${all[*]})" test "$diffs" = 1
d1=$(grep -Eo '[0-9]{8}-[0-9]{6}F_[0-9]{8}-[0-9]{6}D' "$WORK/diff1" | head -n 1)
kept=$(printf '%s\n' "${all[@]}" | grep 'D$')
check "the first differential backup ($d1) is expired, the newest ($kept) kept" \
	sh -c "[ -n '$d1' ] && [ '$d1' != '$kept' ] && grep -q '$kept' '$WORK/diff2'"
check "the full backups stay" test "$(printf '%s\n' "${all[@]}" | grep -c 'F$')" = 2
