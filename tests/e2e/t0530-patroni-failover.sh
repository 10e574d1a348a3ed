#!/usr/bin/env bash
# Patroni with etcd on three local hosts, HAProxy sending writes to the
# leader (it asks each node's REST API) and PgBouncer in front of it on the
# load balancer.  A writer commits rows through that one endpoint while the
# leader's host is stopped hard (its init killed: no shutdown); a new
# leader is elected, writes resume through the same endpoint, and with
# synchronous replication every committed row is there.  The failover time
# is measured and printed (not asserted: the suite has no timed
# assertions; the README shows the figure).  The old leader's host comes
# back with up and rejoins as a replica; switchover hands the leader role
# on; a second run changes nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-patroni.sh"

t_project <<'YML'
project: ha
secrets:
  db_password: env:PV_TEST_DB_PW
  repl_password: env:PV_TEST_REPL_PW
  su_password: env:PV_TEST_SU_PW
vars:
  patroni_superuser_password: su_password
  postgres_replication_password: repl_password
  postgres_users: [{name: shop, password: db_password}]
  postgres_databases: [{name: shop, owner: shop}]
layouts:
  ha:
    servers:
      lb1: { roles: [base, ufw, pgbouncer], vars: { haproxy_postgres: true } }
      pg1: { roles: [base, ufw, patroni] }
      pg2: { roles: [base, ufw, patroni] }
      pg3: { roles: [base, ufw, patroni] }
YML
t_uses ha
# passwords with what PgBouncer's user list, systemd's environment file and
# .pgpass must escape: " \ : $ ` ' and a space
export PV_TEST_DB_PW="db\"pw:\\ \$-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export PV_TEST_REPL_PW="repl:\\\"\$\`' -$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export PV_TEST_SU_PW="su\"\\\$\`:' -$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"

pv up ha >"$WORK/up1" 2>&1 || bail "up ha failed: $(tail -n 40 "$WORK/up1")"
pass "up ha converges three Patroni nodes and the load balancer"
has_shop() {
	local h
	for h in pg1 pg2 pg3; do
		[ "$(on_host "$h" "cd / && runuser -u postgres -- psql -X -tA -d shop -c 'select pg_get_userbyid(datdba) from pg_database where datname = current_database()'" 2>/dev/null)" = shop ] && return 0
	done
	return 1
}
check "the inventory's database exists, owned by its user" has_shop
# after a failed server login (none up in a failover) PgBouncer waits this
# long before the next; its own default, 15 s, held writes back that long
# after the new leader was up
check "PgBouncer tries a failed server login again after 1 s, not its default 15 s" \
	on_host lb1 "grep -qx 'server_login_retry = 1' /etc/pgbouncer/pgbouncer.ini"

# Patroni 3.0 shows a streaming replica as "running"
all_streaming() { [ "$(members pg1 pg2 pg3 | grep -Ec ' (Replica|Sync Standby) running$')" = 2 ]; }

check "a leader and two streaming replicas" wait_for 120 all_streaming
members pg1 pg2 pg3 | sed 's/^/  /'
# Patroni names the synchronous standby a loop after the replicas run; the
# writer must not start before (until then commits do not wait for one)
has_sync() { members pg1 pg2 pg3 | grep -q ' Sync Standby running$'; }
wait_for 60 has_sync || bail "no synchronous standby: $(members pg1 pg2 pg3 | tr '\n' ';')"
pass "one standby is synchronous"
check "etcd has three members" \
	test "$(on_host pg1 'ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 member list' | grep -c started)" = 3

# the writer: one insert per connection through PgBouncer on the load balancer
printf '127.0.0.1:6432:*:shop:%s\n' "$(printf '%s' "$PV_TEST_DB_PW" | sed 's/[\\:]/\\&/g')" |
	"$PROVISION" -i "$WORK/inventory.yml" ssh lb1 -- "sudo -n sh -c 'umask 077 && cat >/root/.pgpass'" ||
	bail "cannot give the writer its password"
ep="PGPASSFILE=/root/.pgpass psql -X -w -q -tA -h 127.0.0.1 -p 6432 -U shop -d shop"
on_host lb1 "$ep -c 'create table ticks (n int primary key, at timestamptz default clock_timestamp())'" >/dev/null ||
	bail "cannot write through the endpoint"
pass "writes go through PgBouncer and HAProxy to the leader"
on_host lb1 "cat >/root/writer.sh <<'SH'
i=0
while [ ! -e /root/writer.stop ]; do
	i=\$((i + 1))
	start=\$(date +%s.%N)
	if [ \"\$($ep -c \"insert into ticks (n) values (\$i) returning n\" 2>/dev/null)\" = \"\$i\" ]; then
		echo \"\$start \$(date +%s.%N) ok \$i\"
	else
		echo \"\$start \$(date +%s.%N) fail \$i\"
	fi >>/root/writer.log
	sleep 0.1
done
SH
setsid sh /root/writer.sh </dev/null >/dev/null 2>&1 &" || bail "cannot start the writer"
writer_ok() { on_host lb1 "grep -c ' ok ' /root/writer.log"; }
wait_for 30 sh -c "[ \$('$PROVISION' -i '$WORK/inventory.yml' ssh lb1 -- sudo -n grep -c \"' ok '\" /root/writer.log) -ge 20 ]" ||
	bail "the writer does not commit"

old=$(leader_of pg1 pg2 pg3)
[ -n "$old" ] || bail "no leader"
survivors=$(printf '%s\n' pg1 pg2 pg3 | grep -vx "$old" | tr '\n' ' ')
pid=$(jq -r ".environments.default.layouts.ha.hosts.$old.pid" "$WORK/.provision/state.json")
init=$(pgrep -P "$pid" | head -n 1)
[ -n "$init" ] || bail "cannot find the init of $old's host"
t0=$(date +%s.%N)
check "the leader $old's host is stopped hard" kill -KILL "$init"

new=
for _ in $(seq 1 120); do
	# shellcheck disable=SC2086
	new=$(leader_of $survivors)
	[ -n "$new" ] && [ "$new" != "$old" ] && break
	new=
	sleep 0.5
done
t_leader=$(date +%s.%N)
check "a new leader is elected ($new)" test -n "$new"
# the first commit of an insert begun after the stop (one in flight at the
# stop may still have committed on the old leader just before it)
resumed_at() { on_host lb1 "awk -v t=$t0 '\$1 > t && \$3 == \"ok\" { print \$2; exit }' /root/writer.log"; }
resumed=$(resumed_at)
for _ in $(seq 1 60); do
	[ -n "$resumed" ] && break
	sleep 1
	resumed=$(resumed_at)
done
check "writes resume through the same endpoint" test -n "$resumed"
leader_s=$(awk "BEGIN { printf \"%.1f\", $t_leader - $t0 }")
failover_s=$(awk "BEGIN { printf \"%.1f\", ${resumed:-$t0} - $t0 }")
echo "# failover: new leader seen after ${leader_s} s (polled), writes resumed after ${failover_s} s"
check "failover time measured: writes resumed ${failover_s} s after the leader's host stopped" test -n "$resumed"

on_host lb1 "touch /root/writer.stop" >/dev/null
sleep 1
# comm needs both lists in the same text order
on_host lb1 "awk '\$3 == \"ok\" { print \$4 }' /root/writer.log" | LC_ALL=C sort >"$WORK/committed"
# shellcheck disable=SC2086
on_host "$new" "cd / && runuser -u postgres -- psql -X -tA -d shop -c 'select n from ticks'" | LC_ALL=C sort >"$WORK/present"
lost=$(LC_ALL=C comm -23 "$WORK/committed" "$WORK/present" | wc -l)
check "no committed row is lost ($(wc -l <"$WORK/committed") committed, $lost missing)" test "$lost" = 0
check "the writer committed rows before and after the failover" \
	sh -c "[ \$(wc -l <'$WORK/committed') -gt 20 ] && [ -n '$resumed' ]"

pv up ha >"$WORK/up2" 2>&1 || fail "up after the stop failed: $(tail -n 20 "$WORK/up2")"
check "up starts the stopped host" grep -q "$old: starting the stopped host" "$WORK/up2"
rejoined() { members $survivors | grep -Eq "^$old (Replica|Sync Standby) running$"; }
check "the old leader $old rejoins as a replica" wait_for 120 rejoined
members pg1 pg2 pg3 | sed 's/^/  /'

# in synchronous mode Patroni hands over to the synchronous standby
pv switchover ha >"$WORK/sw" 2>&1
rc=$?
cat "$WORK/sw"
check "switchover succeeds (exit $rc)" test "$rc" = 0
moved() { l=$(leader_of pg1 pg2 pg3) && [ -n "$l" ] && [ "$l" != "$new" ]; }
check "switchover hands the leader role from $new to another node" wait_for 60 moved
check "writes go through the endpoint after the switchover" wait_for 30 on_host lb1 "$ep -c 'insert into ticks (n) values (-1)'"

# switchover --to: the node named (the synchronous standby) takes over
wait_for 60 has_sync || fail "no synchronous standby after the switchover"
cur=$(leader_of pg1 pg2 pg3)
to=$(members pg1 pg2 pg3 | awk '$2 == "Sync" && $3 == "Standby" { print $1; exit }')
# with --json: patronictl's words in one switchover event
pvj switchover ha --to "$to" >"$WORK/sw2.json" 2>"$WORK/sw2.err"
rc=$?
check "switchover --to '$to' succeeds (exit $rc: $(json_errors "$WORK/sw2.json" "$WORK/sw2.err" | tr '\n' ' '))" test -n "$to" -a "$rc" = 0
check "switchover --json: one switchover event, ok, from a patroni server, Patroni's output naming $to" \
	test "$(jq -c --arg to "$to" 'select(.event == "switchover") | [(.host | test("^pg[123]$")), .ok, (.output | contains($to))]' "$WORK/sw2.json")" = '[true,true,true]'
became() { [ "$(leader_of pg1 pg2 pg3)" = "$to" ]; }
check "switchover --to hands the leader role from $cur to $to" wait_for 60 became
# the asynchronous replica is no candidate in synchronous mode: Patroni
# refuses it (were --to not passed on, Patroni would pick the synchronous
# standby and succeed). Right after a switchover both standbys are plain
# replicas until Patroni names the synchronous one: wait for it first.
wait_for 60 has_sync || fail "no synchronous standby after switchover --to"
async=$(members pg1 pg2 pg3 | awk '$2 == "Replica" { print $1; exit }')
pvj switchover ha --to "$async" >"$WORK/sw4.json" 2>"$WORK/sw4.err"
rc=$?
check "switchover --to the asynchronous replica '$async' is refused (exit $rc): $(jq -r 'select(.event == "error") | .message' "$WORK/sw4.json" | grep -m1 -o 'failed, details: .*')" \
	test -n "$async" -a "$rc" = 1
check "switchover --json refused: a switchover event not ok, an error event with Patroni's reason" \
	test "$(jq -sc '[(.[] | select(.event == "switchover") | .ok), ([.[] | select(.event == "error") | .message | select(test("^switchover through pg[123] failed: ") and contains("failed, details: "))] | length)]' "$WORK/sw4.json")" = '[false,1]'
bad=$(/usr/bin/python3 "$ROOT/tests/helpers/check-events.py" "$ROOT/doc/events.schema.json" "$WORK/sw2.json" "$WORK/sw4.json" 2>&1)
check "switchover --json, done and refused: every line validates against the schema${bad:+: $bad}" test -z "$bad"
jq -c 'select(.event == "switchover") | .ok = "true"' "$WORK/sw2.json" >"$WORK/sw-broken.json"
check "and the check can fail: it refuses that switchover event with ok a string" \
	sh -c "[ -s '$WORK/sw-broken.json' ] && ! /usr/bin/python3 '$ROOT/tests/helpers/check-events.py' '$ROOT/doc/events.schema.json' '$WORK/sw-broken.json'"
check "and the leader stays $to" became
pv switchover ha --to lb1 >"$WORK/sw3" 2>&1
rc=$?
check "switchover --to a server without role patroni is an input error (exit $rc)" \
	sh -c "[ $rc = 2 ] && grep -q \"server 'lb1' of layout 'ha' has no role patroni\" '$WORK/sw3'"
check "and the leader stays $to" became

pvj up ha >"$WORK/up3.json" 2>"$WORK/up3.err" || fail "third up failed: $(cat "$WORK/up3.err")"
check "second run: 0 changed ($(json_resources "$WORK/up3.json" changed | tr '\n' ' '))" \
	test "$(json_total "$WORK/up3.json" changed)" = 0
