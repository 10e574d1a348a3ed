#!/usr/bin/env bash
# suite: extended (file and volume backups beside the database; make test-all)
# Role backup-files and 'provision backup files now | list | restore'
# with real restic against a real S3-compatible store (s3rver behind TLS
# with its own CA, the settings of role backup): a file in an uploads
# directory and one in a Docker-volume-shaped directory are backed up,
# deleted and restored byte for byte; a file written after the first
# backup is absent after 'restore --at' a time between the two backups;
# '--path' restores one file alone.  The repository is encrypted (no
# plaintext of the files in the store), its password and the store's keys
# are in root-only files and nowhere in output, state, the unit's journal
# or the process list; bad paths and a missing password are refused before
# anything runs; snapshots taken at chosen times are kept or forgotten as
# backup_keep predicts; a second run changes nothing; 'backup files verify'
# restores the newest snapshot into a scratch directory and reads it back,
# and fails once the store's data is damaged.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-s3.sh"

export PV_FILES_PASS="files-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
bk_project < <(
	cat <<'YML'
project: bk0691
secrets:
  s3_key: env:PV_S3_KEY
  s3_secret: env:PV_S3_SECRET
  files_pass: env:PV_FILES_PASS
vars:
YML
	bk_store_vars
	cat <<'YML'
layouts:
  app:
    servers:
      app1:
        roles: [base, backup-files]
        vars:
          backup_files_paths: [/srv/uploads]
          backup_files_volumes: [appdata]
          backup_files_pass: files_pass
YML
)

# ---- refused before anything runs ----
sed 's|backup_files_paths: \[/srv/uploads\]|backup_files_paths: [srv/uploads]|' "$WORK/inventory.yml" >"$WORK/bad1.yml"
"$PROVISION" -i "$WORK/bad1.yml" --plain validate >"$WORK/bad1" 2>&1
rc=$?
line=$(grep -n 'backup_files_paths:' "$WORK/bad1.yml" | cut -d: -f1)
check "a relative path is refused at its line and column (exit $rc): $(head -n 1 "$WORK/bad1")" \
	sh -c "[ $rc = 2 ] && grep -q \"^$WORK/bad1.yml:$line:32: variable 'backup_files_paths\[0\]' must be an absolute path\" '$WORK/bad1'"
grep -v 'backup_files_pass:' "$WORK/inventory.yml" >"$WORK/bad2.yml"
"$PROVISION" -i "$WORK/bad2.yml" --plain validate >"$WORK/bad2" 2>&1
rc=$?
check "a missing password is refused where the role reads it (exit $rc): $(head -n 1 "$WORK/bad2")" \
	sh -c "[ $rc = 2 ] && grep -Eq \"roles/backup-files/role.yml:[0-9]+:[0-9]+: 'backup_files_pass' names no secret\" '$WORK/bad2'"

bk_up app
pass "up converges role backup-files against the store"

modes=$(on_host app1 "stat -c '%n %a %U' /etc/provision/backup-files /etc/provision/backup-files/restic.pass /etc/provision/backup-files/s3.env" | tr '\n' ' ')
check "the password and the keys are in root-only files ($modes)" \
	test "$modes" = "/etc/provision/backup-files 700 root /etc/provision/backup-files/restic.pass 600 root /etc/provision/backup-files/s3.env 600 root "
check "the timer is active" on_host app1 "systemctl -q is-active provision-backup-files.timer"
check "the repository is under its own prefix (bk0691/default/app/files/app1)" \
	test -n "$(find "$WORK/s3/data/backups/bk0691/default/app/files/app1" -name 'config*' 2>/dev/null | head -n 1)"

pv backup files list >"$WORK/list0" 2>&1
rc=$?
check "before the first backup, list says there is none (exit $rc): $(head -n 1 "$WORK/list0")" \
	sh -c "[ $rc = 0 ] && grep -qx 'app1: 0 snapshots of its files' '$WORK/list0'"

# A file in the uploads directory and one in the volume, each with a
# plaintext needle among random bytes.
needle1="needle-uploads-$RANDOM$RANDOM"
needle2="needle-volume-$RANDOM$RANDOM"
on_host app1 "mkdir -p /srv/uploads/2026 /var/lib/docker/volumes/appdata/_data &&
	{ head -c 300000 /dev/urandom; printf '%s\n' '$needle1'; } >/srv/uploads/2026/photo.jpg &&
	{ printf '%s\n' '$needle2'; head -c 100000 /dev/urandom; } >/var/lib/docker/volumes/appdata/_data/app.db &&
	chmod 0640 /srv/uploads/2026/photo.jpg" || bail "writing the files failed"
sums() { on_host app1 "cd / && sha256sum srv/uploads/2026/photo.jpg var/lib/docker/volumes/appdata/_data/app.db && stat -c '%a' srv/uploads/2026/photo.jpg"; }
before=$(sums)

# the process list while the backup runs: every process's command line,
# read from /proc over and over by a unit of its own (it outlives the SSH
# session that starts it)
sampler=$(base64 -w0 <<'SH'
while :; do
	for f in /proc/[0-9]*/cmdline; do tr '\000' ' ' <"$f"; echo; done 2>/dev/null
done >>/root/ps.txt
SH
)
on_host app1 "rm -f /root/ps.txt && echo $sampler | base64 -d >/root/ps.sh && systemd-run -q --unit=t0691-ps sh /root/ps.sh" ||
	bail "starting the process list sampler failed"
pv backup files now >"$WORK/now1" 2>&1
rc=$?
on_host app1 "systemctl stop t0691-ps"
check "backup files now succeeds: $(tail -n 3 "$WORK/now1" | tr '\n' ' ')" test "$rc" = 0
check "it names the snapshot saved" grep -Eq '^app1: snapshot [0-9a-f]+ saved' "$WORK/now1"
sleep 1
t1=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
sleep 1
on_host app1 "echo later >/srv/uploads/later.txt" || bail "writing the later file failed"
pv backup files now >"$WORK/now2" 2>&1 || bail "the second backup failed: $(tail -n 5 "$WORK/now2")"
pv backup files list >"$WORK/list" 2>&1
check "backup files list shows two snapshots of /srv/uploads and the volume ($(grep -c '/srv/uploads' "$WORK/list"))" \
	sh -c "[ \$(grep -Ec '^  [0-9a-f]{8} .*/srv/uploads /var/lib/docker/volumes/appdata/_data' '$WORK/list') = 2 ]"
pvj backup files list >"$WORK/list.json" 2>&1
check "backup files list --json: a file_snapshots event with both" \
	test "$(jq -r 'select(.event == "file_snapshots") | "\(.host) \(.snapshots | length)"' "$WORK/list.json")" = "app1 2"

# encrypted: neither file's needle anywhere in the store
store=$(grep -rlaF -e "$needle1" -e "$needle2" "$WORK/s3/data" | head -n 3)
check "the store holds no plaintext of the files${store:+: $store}" test -z "$store"
check "the store holds the repository's data" \
	test "$(find "$WORK/s3/data/backups/bk0691/default/app/files/app1/data" -type f | wc -l)" -gt 0

# ---- lost, restored ----
on_host app1 "rm -rf /srv/uploads /var/lib/docker/volumes/appdata/_data" || bail "deleting the files failed"
pv backup files restore >"$WORK/restore1" 2>&1
rc=$?
check "backup files restore succeeds: $(tail -n 3 "$WORK/restore1" | tr '\n' ' ')" test "$rc" = 0
check "both files restored byte for byte, mode kept" test "$(sums)" = "$before"
check "the latest snapshot holds the later file" on_host app1 "test -f /srv/uploads/later.txt"

pvj backup files restore --at "$t1" >"$WORK/restore2" 2>"$WORK/restore2.err"
rc=$?
check "restore --at '$t1' succeeds: $(json_errors "$WORK/restore2" "$WORK/restore2.err" | tr '\n' ' ')" test "$rc" = 0
check "after restore --at, the file written after that time is absent" on_host app1 "test ! -e /srv/uploads/later.txt"
check "and the files of the first backup are there byte for byte" test "$(sums)" = "$before"
check "restore --json: files_restored events for both paths, what was there kept aside" \
	test "$(jq -r 'select(.event == "files_restored") | "\(.host) \(.path) \(.path as $p | .kept_at // "" | startswith($p + ".before-restore-"))"' "$WORK/restore2" | sort | tr '\n' ';')" = \
	"app1 /srv/uploads true;app1 /var/lib/docker/volumes/appdata/_data true;"
bad=$(/usr/bin/python3 "$ROOT/tests/helpers/check-events.py" "$ROOT/doc/events.schema.json" "$WORK/list.json" "$WORK/restore2" 2>&1)
check "list and restore --json: every line validates against the schema${bad:+: $bad}" test -z "$bad"

# one file alone
on_host app1 "rm -f /srv/uploads/2026/photo.jpg && echo new >/srv/uploads/new.txt" || bail "changing the uploads failed"
pv backup files restore --path /srv/uploads/2026/photo.jpg >"$WORK/restore3" 2>&1
rc=$?
check "restore --path of one file succeeds: $(tail -n 2 "$WORK/restore3" | tr '\n' ' ')" test "$rc" = 0
check "the file is back byte for byte" test "$(sums)" = "$before"
check "the rest of the directory was left alone" on_host app1 "test -f /srv/uploads/new.txt"
pv backup files restore --path /etc/passwd >"$WORK/restore4" 2>&1
rc=$?
check "restore --path outside the backup's paths fails (exit $rc), saying so" \
	sh -c "[ $rc = 1 ] && grep -q '/etc/passwd is not a path of snapshot' '$WORK/restore4'"

# ---- secrets ----
ps=$(on_host app1 "cat /root/ps.txt")
check "the process list was sampled while restic ran" sh -c "printf '%s\n' \"\$1\" | grep -q '^restic '" _ "$ps"
check "no password or key in the process list" \
	sh -c "! printf '%s\n' \"\$1\" | grep -Fq -e \"\$2\" -e AWS_SECRET" _ "$ps" "$PV_FILES_PASS"
for f in up1 now1 now2 list list.json restore1 restore2 restore3; do
	check "no password in the output of $f" sh -c "! grep -Fq -e \"\$1\" '$WORK/$f'" _ "$PV_FILES_PASS"
done
check "no password in the state" sh -c "! grep -rFq --exclude-dir=local -e \"\$1\" '$WORK/.provision'" _ "$PV_FILES_PASS"
check "no password in the store" sh -c "! grep -rFqa -e \"\$1\" '$WORK/s3/data'" _ "$PV_FILES_PASS"

# the timer's service: a backup, then backup_keep (7 daily): of this
# day's three snapshots the newest alone is kept
on_host app1 "systemctl start provision-backup-files.service" >"$WORK/service" 2>&1 ||
	bail "the timer's service failed: $(tail -n 5 "$WORK/service")"
pvj backup files list >"$WORK/list2.json" 2>&1
left=$(jq -r 'select(.event == "file_snapshots") | .snapshots[].id' "$WORK/list2.json" | tr '\n' ' ')
first2=$(jq -r 'select(.event == "file_snapshots") | .snapshots[].id' "$WORK/list.json" | tr '\n' ' ')
check "after the timer's run one snapshot of the day is left, a new one ($left; before: $first2)" \
	sh -c "[ \$(echo $left | wc -w) = 1 ] && ! printf '%s' '$first2' | grep -qw '$left'"

# ---- retention by calendar: snapshots taken at chosen times (restic's
# own --time: eleven days in a row, two on one day, weekly ones before
# them, monthly ones for over a year before those), then the timer's run;
# what it keeps is what the README predicts for backup_keep 7/4/12 ----
times=$(/usr/bin/python3 - <<'PY'
import datetime as d
today = d.datetime.now(d.timezone.utc).replace(hour=3, minute=0, second=0, microsecond=0, tzinfo=None)
ts = {today - d.timedelta(days=i) for i in range(1, 12)}
ts.add(today - d.timedelta(days=1, hours=2))
ts |= {today - d.timedelta(days=7 * i, hours=1) for i in range(2, 9)}
ts |= {today - d.timedelta(days=30 * m, hours=2) for m in range(2, 17)}
print("\n".join(t.strftime("%Y-%m-%d %H:%M:%S") for t in sorted(ts)))
PY
)
printf '%s\n' "$times" | on_host app1 "TZ=UTC sh -c 'set -- has-repo && . /usr/local/lib/provision/backup-files.sh && while read -r t; do rs backup -q --time \"\$t\" --host app1 --tag provision /srv/uploads || exit 1; done'" \
	>"$WORK/dated" 2>&1 || bail "the dated snapshots failed: $(tail -n 5 "$WORK/dated")"
pvj backup files list >"$WORK/list3.json" 2>&1
on_host app1 "systemctl start provision-backup-files.service" >"$WORK/service2" 2>&1 ||
	bail "the timer's second run failed: $(tail -n 5 "$WORK/service2")"
pvj backup files list >"$WORK/list4.json" 2>&1
# the README's rule: of the last 7 days, 4 ISO weeks and 12 months that
# have a snapshot, the newest snapshot of each is kept
verdict=$(/usr/bin/python3 - "$WORK/list3.json" "$WORK/list4.json" <<'PY'
import datetime as d, json, sys
def snaps(path):
    for line in open(path):
        e = json.loads(line)
        if e.get("event") == "file_snapshots":
            return {s["id"]: d.datetime.fromisoformat(s["time"][:19]) for s in e["snapshots"]}
    return {}
before, after = snaps(sys.argv[1]), snaps(sys.argv[2])
new = [i for i in after if i not in before]
every = dict(before, **{i: after[i] for i in new})
rules = [(7, lambda t: t.date()), (4, lambda t: t.isocalendar()[:2]), (12, lambda t: (t.year, t.month))]
left, last, keep = [n for n, _ in rules], [None] * len(rules), set()
for i, t in sorted(every.items(), key=lambda x: x[1], reverse=True):
    for k, (_, bucket) in enumerate(rules):
        if left[k] > 0 and bucket(t) != last[k]:
            keep.add(i)
            last[k] = bucket(t)
            left[k] -= 1
ok = len(new) == 1 and set(after) == keep
print("%s %d of %d kept, %d predicted" % ("ok" if ok else "differs:", len(after), len(every), len(keep)))
PY
)
check "the timer's run keeps what 7 daily, 4 weekly and 12 monthly predict: $verdict" \
	test "${verdict%% *}" = ok

journal=$(on_host app1 "journalctl -q -u provision-backup-files.service -o cat")
check "the unit's journal has the run" sh -c "printf '%s\n' \"\$1\" | grep -q 'snapshot .* saved'" _ "$journal"
check "no password in the unit's journal" sh -c "! printf '%s\n' \"\$1\" | grep -Fq -e \"\$2\"" _ "$journal" "$PV_FILES_PASS"

pvj up app >"$WORK/up2" 2>&1
check "a second run changes nothing ($(json_resources "$WORK/up2" changed | tr '\n' ' '))" \
	test "$(json_total "$WORK/up2" changed)" = 0

# ---- the restore drill: the newest snapshot restored into a scratch
# directory and read back, nothing put back; then a store whose data was
# damaged fails it ----
paths_now() { on_host app1 "find /srv/uploads /var/lib/docker/volumes/appdata/_data -type f -exec sha256sum {} + | sort"; }
before=$(paths_now)
pvj backup files verify app >"$WORK/verify1.json" 2>&1
rc=$?
# the newest snapshot is the timer's run above: the paths as they are now
listed=$(printf '%s\n' "$before" | grep -c .)
got=$(jq -c 'select(.event == "files_verified") | [.files, (.bytes > 0)]' "$WORK/verify1.json")
vid=$(jq -r 'select(.event == "files_verified") | .snapshot' "$WORK/verify1.json")
newest=$(pvj backup files list app | jq -r 'select(.event == "file_snapshots") | .snapshots | max_by(.time) | .id')
check "backup files verify succeeds (exit $rc) and names the files it read back: $got, $listed in the paths" \
	test "$rc" = 0 -a "$got" = "[$listed,true]"
check "it verified the newest snapshot, named in full ($vid)" \
	sh -c 'test ${#1} = 64 && test "${1#"$2"}" != "$1"' _ "$vid" "$newest"
bad=$(/usr/bin/python3 "$ROOT/tests/helpers/check-events.py" "$ROOT/doc/events.schema.json" "$WORK/verify1.json" 2>&1)
check "its events are the schema's${bad:+: $bad}" test -z "$bad"
check "nothing was put back: the paths are as they were" \
	test "$(paths_now)" = "$before"
check "and no scratch directory is left" on_host app1 '! ls -d /var/tmp/provision-files-verify.* 2>/dev/null'
# every data pack of the repository damaged past its first bytes
n=0
for f in $(find "$WORK/s3/data" -path '*/files/app1/data/*' -name '*._S3rver_object' -size +1k); do
	printf 'damaged' | dd of="$f" bs=1 seek=600 conv=notrunc status=none && n=$((n + 1))
done
pvj backup files verify app >"$WORK/verify2.json" 2>&1
rc=$?
check "with $n data packs damaged in the store, verify fails (exit $rc)" test "$rc" = 1 -a "$n" -gt 0
check "and says so" grep -q 'the files verify FAILED' "$WORK/verify2.json"
check "and leaves no scratch directory either" on_host app1 '! ls -d /var/tmp/provision-files-verify.* 2>/dev/null'
