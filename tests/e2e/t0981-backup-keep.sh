#!/usr/bin/env bash
# suite: extended (kept backups across several runs; make test-all)
# backup_keep: retention by calendar.  First the role's own selection
# (backup-keep.jq, as installed on the host) over pgBackRest info JSON of
# a history of backups labelled at chosen times (daily at 01:30 UTC from
# 2025-01-01, full on Sundays, differential otherwise), run after every
# backup as the timers do: exactly the set README's rule predicts is left,
# for 7/4/12 on two dates and for 3/2/1.  Then with real pgBackRest on a
# host: backup_keep { daily: 1, weekly: 0, monthly: 0 }, a full, a
# differential and a full taken now: the last full alone is left, the
# others expired by pgBackRest (a differential before its full).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-s3.sh"

bk_project < <(
	bk_common "backup_keep: { daily: 1, weekly: 0, monthly: 0 }"
	cat <<'YML'
project: bk0981
layouts:
  db:
    servers:
      db1: { roles: [base, postgres, backup] }
YML
)
bk_up db
pass "up converges role backup with backup_keep"

conf=$(on_host db1 "cat /etc/pgbackrest/pgbackrest.conf")
check "pgBackRest's counts never expire first" sh -c "printf '%s\n' \"\$1\" | grep -qx 'repo1-retention-full=9999999'" _ "$conf"
check "WAL is kept for the daily backups" sh -c "printf '%s\n' \"\$1\" | grep -qx 'repo1-retention-archive-type=diff' && printf '%s\n' \"\$1\" | grep -qx 'repo1-retention-archive=1'" _ "$conf"
on_host db1 "cat /usr/local/lib/provision/backup-keep.jq" >"$WORK/keep.jq" || bail "reading backup-keep.jq failed"

# ---- the selection, over a history with chosen times ----
# history.py END: pgBackRest-like info JSON of the daily backups up to END
cat >"$WORK/history.py" <<'PY'
import datetime, json, sys
end = datetime.datetime.fromisoformat(sys.argv[1] + "T01:30:00+00:00")
d = datetime.datetime(2025, 1, 1, 1, 30, tzinfo=datetime.timezone.utc)
full, out = None, []
while d <= end:
    t = int(d.timestamp())
    if d.weekday() == 6 or full is None:
        full = d.strftime("%Y%m%d-%H%M%SF")
        out.append({"label": full, "type": "full", "reference": None,
                    "timestamp": {"start": t - 60, "stop": t}})
    else:
        out.append({"label": full + "_" + d.strftime("%Y%m%d-%H%M%SD"), "type": "diff",
                    "reference": [full], "timestamp": {"start": t - 60, "stop": t}})
    d += datetime.timedelta(days=1)
print(json.dumps(out))
PY
# kept_after END D W M: the labels left when the selection ran after every
# seventh backup and the last one up to END (pgBackRest's expire --set of
# a full takes its differentials with it)
kept_after() {
	python3 "$WORK/history.py" "$1" >"$WORK/all.json"
	local n i j=0
	n=$(jq length "$WORK/all.json")
	echo '[]' >"$WORK/repo.json"
	for i in $(seq 6 7 $((n - 1))) $((n - 1)); do
		jq --argjson i "$i" --argjson j "$j" --slurpfile all "$WORK/all.json" '. + $all[0][$j:$i + 1]' \
			"$WORK/repo.json" >"$WORK/repo.new"
		j=$((i + 1))
		jq -r --argjson daily "$2" --argjson weekly "$3" --argjson monthly "$4" -f "$WORK/keep.jq" \
			<(jq '[{name: "main", backup: .}]' "$WORK/repo.new") >"$WORK/expire" || return 1
		jq --rawfile x "$WORK/expire" '($x | split("\n") | map(select(. != ""))) as $e
			| map(select(.label as $l | ($e | index([$l])) == null
			             and ((.reference // []) | map(. as $r | $e | index([$r])) | all(. == null))))' \
			"$WORK/repo.new" >"$WORK/repo.json"
	done
	jq -r '.[].label' "$WORK/repo.json" | sort
}
# The README's rule, worked out by hand.  Sunday 2026-03-15, 7/4/12: the
# last 7 days with a backup (03-09..03-15, and 03-08's full the
# differentials need), the fulls of the last 4 weeks (03-15, 03-08, 03-01,
# 02-22), the newest full of each of the last 12 months (03-15, 02-22,
# 01-25, 12-28, 11-30, 10-26, 09-28, 08-31, 07-27, 06-29, 05-25, 04-27).
want1="20250427-013000F 20250525-013000F 20250629-013000F 20250727-013000F 20250831-013000F
20250928-013000F 20251026-013000F 20251130-013000F 20251228-013000F 20260125-013000F 20260222-013000F
20260301-013000F 20260308-013000F 20260308-013000F_20260309-013000D 20260308-013000F_20260310-013000D
20260308-013000F_20260311-013000D 20260308-013000F_20260312-013000D 20260308-013000F_20260313-013000D
20260308-013000F_20260314-013000D 20260315-013000F"
# Wednesday 2026-03-18: the daily window spans two fulls' differentials
want2="20250427-013000F 20250525-013000F 20250629-013000F 20250727-013000F 20250831-013000F
20250928-013000F 20251026-013000F 20251130-013000F 20251228-013000F 20260125-013000F 20260222-013000F
20260301-013000F 20260308-013000F 20260308-013000F_20260312-013000D 20260308-013000F_20260313-013000D
20260308-013000F_20260314-013000D 20260315-013000F 20260315-013000F_20260316-013000D
20260315-013000F_20260317-013000D 20260315-013000F_20260318-013000D"
# 3/2/1 on 2026-03-15: 03-15, 03-14, 03-13 (and 03-08, their full); 03-15 and 03-08; 03-15
want3="20260308-013000F 20260308-013000F_20260313-013000D 20260308-013000F_20260314-013000D 20260315-013000F"
for c in "2026-03-15 7 4 12 1" "2026-03-18 7 4 12 2" "2026-03-15 3 2 1 3"; do
	set -- $c
	got=$(kept_after "$1" "$2" "$3" "$4" | tr '\n' ' ')
	eval "want=\$want$5"
	want=$(printf '%s\n' $want | sort | tr '\n' ' ')
	check "on $1 with daily $2, weekly $3, monthly $4: $(echo $got | wc -w) backups left, as predicted" \
		test "$got" = "$want"
	[ "$got" = "$want" ] || echo "# got:  $got" && [ "$got" = "$want" ] || echo "# want: $want"
done

# ---- real backups, real expiry ----
pv backup now >"$WORK/now1" 2>&1 || bail "the first full backup failed: $(tail -n 5 "$WORK/now1")"
pv backup now --type diff >"$WORK/now2" 2>&1 || bail "the differential backup failed: $(tail -n 5 "$WORK/now2")"
first=$(grep -Eo '^  [0-9]{8}-[0-9]{6}F ' "$WORK/now2" | tr -d ' ' | head -n 1)
diff=$(grep -Eo '^  [0-9]{8}-[0-9]{6}F_[0-9]{8}-[0-9]{6}D ' "$WORK/now2" | tr -d ' ' | head -n 1)
check "after the differential, it and its full are kept ($first $diff)" \
	test -n "$first" -a -n "$diff" -a "$(grep -Ec '^  [0-9]{8}-' "$WORK/now2")" = 2
pv backup now >"$WORK/now3" 2>&1 || bail "the second full backup failed: $(tail -n 5 "$WORK/now3")"
pv backup list >"$WORK/list" 2>&1
left=$(grep -Eo '^  [0-9]{8}-[0-9]{6}[^ ]*' "$WORK/list" | tr -d ' ' | tr '\n' ' ')
check "after the second full only it is left ($left)" \
	sh -c "test \"\$(echo $left | wc -w)\" = 1 && test '$left' != '$first ' && case '$left' in *F' ') true ;; *) false ;; esac"
journal=$(on_host db1 "cat /var/lib/pgbackrest/last-full.log")
check "the unit's log names what was expired, the differential first" \
	sh -c "printf '%s\n' \"\$1\" | grep -n 'expired' | head -n 1 | grep -q '$diff'" _ "$journal"
check "and the first full" sh -c "printf '%s\n' \"\$1\" | grep -q 'expired $first (backup_keep)'" _ "$journal"

for f in up1 now1 now2 now3 list; do
	check "no passphrase in the output of $f" sh -c "! grep -Fq -e \"\$1\" '$WORK/$f'" _ "$PV_BACKUP_PASS"
done
check "no passphrase in the state" sh -c "! grep -rFq --exclude-dir=local -e \"\$1\" '$WORK/.provision'" _ "$PV_BACKUP_PASS"
