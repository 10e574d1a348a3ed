#!/usr/bin/env bash
# suite: extended (every command under --json on several hosts; make test-all)
# --json on real hosts: every command's output, success and failure, is a
# stream of events the schema in doc/events.schema.json accepts, and the
# events carry the facts the plain view prints: status gives each host's
# state, health checks, PostgreSQL replication and backups; up, apply,
# destroy, diff, roles, backup list/now, kamal-config and ssh give their own
# events (ssh none once logged in); usage errors are error events with the
# exit code kept.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-s3.sh"

export PV_TEST_REPL_PW="repl-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
BK_SECRETS="  repl_password: env:PV_TEST_REPL_PW"
bk_project < <(
	bk_common "postgres_users: [{name: shop, password: backup_pass}]" \
		"postgres_databases: [{name: shop, owner: shop}]" \
		"postgres_replication_password: repl_password"
	cat <<'YML'
project: js0850
environments:
  staging: { vars: { fail2ban_maxretry: 3 } }
layouts:
  db:
    servers:
      db1: { roles: [base, ufw, postgres, backup] }
      db2: { roles: [base, ufw, postgres-replica, proxy], vars: { proxy_tls_internal: true } }
YML
)
J=$WORK/json
mkdir -p "$J"
SCHEMA=$ROOT/doc/events.schema.json
# jrun NAME ARGS...: provision --json ARGS into $J/NAME.json; its exit code in $rc
jrun() {
	local name=$1
	shift
	pvj "$@" >"$J/$name.json" 2>"$J/$name.err"
	rc=$?
}
# jq over one run's events: jqr NAME FILTER
jqr() { jq -rc "$2" "$J/$1.json" 2>/dev/null; }

bk_up db
jrun up up db
check "up --json: a second up succeeds (exit $rc: $(json_errors "$J/up.json" "$J/up.err"))" test "$rc" = 0
check "up --json: a host_done for each host" test "$(jqr up 'select(.event == "host_done") | .host' | sort | tr '\n' ' ')" = "db1 db2 "
check "up --json: the summary says nothing changed" test "$(json_total "$J/up.json" changed)" = 0
jrun apply apply db
check "apply --json succeeds (exit $rc: $(json_errors "$J/apply.json" "$J/apply.err"))" test "$rc" = 0
check "apply --json: a host_done for each host, the summary says nothing changed" \
	test "$(jqr apply 'select(.event == "host_done") | .host' | sort | tr '\n' ' ')$(json_total "$J/apply.json" changed)" = "db1 db2 0"
# ssh --json: once logged in, stdout is the remote command's alone
pvj ssh db1 -- echo remote-words >"$J/ssh.out" 2>"$J/ssh.err"
check "ssh --json: only the remote command's output on stdout, no event (got $(head -c 200 "$J/ssh.out"))" \
	test "$(cat "$J/ssh.out")" = remote-words

jrun status status db
check "status --json exits 0 (got $rc: $(json_errors "$J/status.json" "$J/status.err"))" test "$rc" = 0
check "status --json: the layout with its provider and both servers running" \
	test "$(jqr status 'select(.event == "status_layout") | [.layout, .provider, .created, ([.servers[] | .host + ":" + .state] | join(" "))]')" = '["db","local",true,"db1:running db2:running"]'
check "status --json: each host answers over SSH" \
	test "$(jqr status 'select(.event == "status_host") | .host + ":" + .ssh' | sort | tr '\n' ' ')" = "db1:ok db2:ok "
check "status --json: the health checks of db2's roles, all ok" \
	test "$(jqr status 'select(.event == "status_host" and .host == "db2") | [([.health[] | .role + " " + .check] | index("proxy unit caddy") != null), ([.health[] | .ok] | all)]')" = '[true,true]'
check "status --json: db1 is the primary, db2 its streaming standby with lag in bytes and seconds" \
	test "$(jqr status 'select(.host == "db1") | .postgres | [.role, .standbys[0].name, .standbys[0].state, (.standbys[0].lag_bytes | type), (.standbys[0].lag_seconds | type)]')" = '["primary","db2","streaming","number","number"]'
db1=$(jq -r '.environments.default.layouts.db.hosts.db1.address' "$WORK/.provision/state.json")
check "status --json: db2 is a standby receiving from db1" \
	test "$(jqr status 'select(.host == "db2") | .postgres | [.role, .receiving.from, .receiving.status]')" = "[\"standby\",\"$db1\",\"streaming\"]"
check "status --json: db1's backups, with the lines the plain view shows" \
	test "$(jqr status 'select(.host == "db1") | .backups | [(.ok | type), (.lines | length > 0)]')" = '["boolean",true]'
pv status db >"$J/status.txt" 2>&1
check "the plain view says the same: primary and standby" \
	grep -Eq '^ +standby db2: streaming \((sync|quorum|async|potential)\), lag [0-9]+ bytes, [0-9.]+ s$' "$J/status.txt"

jrun now backup now
check "backup now --json exits 0 (got $rc: $(json_errors "$J/now.json" "$J/now.err"))" test "$rc" = 0
check "backup now --json: a backup_done event" test "$(jqr now 'select(.event == "backup_done") | .host + " " + .type')" = "db1 full"
jrun list backup list
check "backup list --json: the full backup with its label and size" \
	test "$(jqr list 'select(.event == "backups") | .backups[0] | [(.label | test("^[0-9]{8}-[0-9]{6}F$")), .type, (.size > 0)]')" = '[true,"full",true]'
jrun status2 status db
check "status --json after a backup: backups ok, naming the last good one" \
	test "$(jqr status2 'select(.host == "db1") | .backups | [.ok, ([.lines[] | select(test("^last good backup: "))] | length)]')" = '[true,1]'
label=$(jqr list 'select(.event == "backups") | .backups[-1].label')
check "status --json: the facts behind it, the last backup ($label), its age, the timers, the WAL archive" \
	test "$(jqr status2 'select(.host == "db1") | .backups | [.last_backup.label == "'"$label"'", .last_backup.type, (.last_backup.age_seconds >= 0), .backups, .timers.full.timer, .timers.diff.timer, (.wal_archive.failures | type)]')" = '[true,"full",true,1,"active","active","number"]'

# break something: caddy and the standby's PostgreSQL stopped on db2
on_host db2 "systemctl stop caddy postgresql@15-main" >/dev/null 2>&1
jrun status3 status db
check "status --json with a failed health check exits 1 (got $rc)" test "$rc" = 1
check "status --json: db2 not ok, caddy's check failed, PostgreSQL down" \
	test "$(jqr status3 'select(.host == "db2") | [.ok, ([.health[] | select(.ok | not) | .check] | index("unit caddy") != null), .postgres.role]')" = '[false,true,"down"]'
check "status --json: db1 has no standby any more" \
	test "$(jqr status3 'select(.host == "db1") | .postgres.standbys | length')" = 0
on_host db2 "systemctl start caddy postgresql@15-main" >/dev/null 2>&1

jrun roles roles
check "roles --json: one role event per role, loading" \
	test "$(jqr roles 'select(.event == "role" and .name == "postgres") | .loads')" = true
jrun role roles postgres
check "roles NAME --json: the role's variables with type" \
	test "$(jqr role 'select(.event == "role") | [.variables[] | select(.name == "postgres_port") | .type | length > 0] | first')" = true
jrun builtin roles --builtin
check "roles --builtin --json: variable events" test "$(jqr builtin 'select(.event == "variable" and .name == "project") | .set_by_provision')" = true
jrun diff diff -e staging -e default
check "diff --json: a diff event counting the layout staging has not made" \
	test "$(jqr diff 'select(.event == "diff") | [.differences, .items[0].kind, .items[0].env]')" = '[1,"missing","staging"]'
jrun sshbad ssh db9
check "ssh --json with an unknown host: exit 2 (got $rc), an error event" \
	sh -c "[ $rc = 2 ] && [ \"\$(jq -r .event '$J/sshbad.json')\" = error ]"
jrun usage up
check "a usage error with --json: exit 2 (got $rc), an error event with the usage line" \
	sh -c "[ $rc = 2 ] && jq -r 'select(.event == \"error\") | .message' '$J/usage.json' | grep -q '^usage: provision up LAYOUT'"
jrun usage2 status db --nosuch
check "an unknown option with --json: exit 2 (got $rc)" test "$rc" = 2
jrun noval -e
check "a global option without its value with --json: exit 2 (got $rc), an error event" \
	sh -c "[ $rc = 2 ] && [ \"\$(jq -r .event '$J/noval.json')\" = error ]"

# kamal-config writes a file: its event names it
cat >"$WORK/kamal.yml" <<'YML'
project: js0850
layouts:
  metal:
    provider: static
    servers:
      web1:
        roles: [base, docker, ufw, proxy]
        address: 192.0.2.31
        host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMm0PpS9ZpOBj5Vb9tDpV4L5fQ2dV9HgDw3y5X8mZzB1"
        vars: { proxy_flavour: kamal }
YML
"$PROVISION" -i "$WORK/kamal.yml" --json kamal-config metal -o "$WORK/deploy.yml" >"$J/kamal.json" 2>"$J/kamal.err"
check "kamal-config --json: a written event for the file (got $(cat "$J/kamal.json"))" \
	test "$(jqr kamal 'select(.event == "written") | [.changed, .web_hosts]')" = '[true,1]'
"$PROVISION" -i "$WORK/kamal.yml" --json kamal-config metal -o "$WORK/deploy.yml" >"$J/kamal2.json" 2>&1
check "kamal-config --json again: unchanged" test "$(jqr kamal2 'select(.event == "written") | .changed')" = false

jrun destroy destroy db --yes
check "destroy --json: a destroyed event with the host count (exit $rc)" \
	test "$(jqr destroy 'select(.event == "destroyed") | [.layout, .hosts]')" = '["db",2]'
jrun status4 status db
check "status --json after destroy: the layout is not created" \
	test "$(jqr status4 'select(.event == "status_layout") | .created')" = false

# every line of every run above is an event the schema accepts
bad=$(/usr/bin/python3 "$ROOT/tests/helpers/check-events.py" "$SCHEMA" "$J"/*.json 2>&1)
check "every line of $(ls "$J"/*.json | wc -l) runs validates against the schema${bad:+: $bad}" test -z "$bad"
# and the check can fail: a status_host whose ssh is neither ok nor failed, a typed field of the wrong type
jq -c 'select(.event == "status_host") | .ssh = "maybe"' "$J/status.json" | head -n 1 >"$J/broken1.txt"
jq -c 'select(.event == "status_host" and .host == "db1") | .postgres.standbys[0].lag_bytes = "12"' "$J/status.json" >"$J/broken2.txt"
echo '{"event": "no_such_event"}' >"$J/broken3.txt"
# a field the schema does not describe: the tool's output must have none
jq -c 'select(.event == "backup_done") | .size = 1' "$J/now.json" >"$J/broken4.txt"
for f in "$J"/broken*.txt; do
	check "the schema check refuses $(basename "$f"): $(head -c 80 "$f")" \
		sh -c "! /usr/bin/python3 '$ROOT/tests/helpers/check-events.py' '$SCHEMA' '$f'"
done
