#!/usr/bin/env bash
# Redis primary, a replica and three Sentinels (on both Redis servers and
# an app server).  Redis answers only with the password, only to the
# layout's servers (real packets from this machine, outside the layout,
# get nothing), refuses the dangerous commands to the clients' user, and
# no password shows in output, state, ps or a world-readable file.  A
# writer on the app server INCRs a counter through the primary Sentinel
# names while the primary's host is stopped hard (its init killed); the
# replica is promoted, writes resume, and no write the replica had
# confirmed (WAIT) is lost.  The time from the stop to the first write
# after it is printed (not asserted).  up starts the old primary's host
# again and it rejoins as a replica; status shows each node's role and lag
# and each Sentinel's view; a second run changes nothing.  HAProxy on the
# app server is one endpoint for clients that do not speak Sentinel: its
# check user (AUTH, PING and INFO only) finds the node answering
# role:master; a second writer INCRs through it during the same failover
# (its time printed too), and its writes land on the new primary.  Each
# Redis server runs Prometheus' Redis exporter with a user of its own that
# may not read the configuration.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-patroni.sh" # wait_for

t_project <<'YML'
project: rds
secrets:
  redis_pw: env:PV_TEST_REDIS_PW
  redis_admin_pw: env:PV_TEST_REDIS_ADMIN_PW
  redis_check_pw: env:PV_TEST_REDIS_CHECK_PW
  redis_exp_pw: env:PV_TEST_REDIS_EXP_PW
vars:
  redis_password: redis_pw
  redis_admin_password: redis_admin_pw
  redis_check_password: redis_check_pw
  redis_exporter_password: redis_exp_pw
  redis_usage: queue
layouts:
  kv:
    servers:
      r1: { roles: [base, ufw, redis, redis-sentinel] }
      r2: { roles: [base, ufw, redis-replica, redis-sentinel] }
      app1: { roles: [base, ufw, redis-sentinel, haproxy] }
YML
t_uses kv
# the clients' password holds what Redis's files must quote: " \ and a space
export PV_TEST_REDIS_PW="app\"pw\\ x-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export PV_TEST_REDIS_ADMIN_PW="adm-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# the check user's lands in users.acl (hashed) and in haproxy.cfg inside a
# Redis command inside HAProxy's quotes: " \ $ # ' and a space
export PV_TEST_REDIS_CHECK_PW="chk\"pw\\ \$HOME #'-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# the exporter's lands in users.acl (hashed) and in a systemd environment
# file inside "...": " \ $ and a space
export PV_TEST_REDIS_EXP_PW="exp\"pw\\ \$x-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"

pvj up kv >"$WORK/up1.json" 2>"$WORK/up1.err" || bail "up kv failed: $(json_errors "$WORK/up1.json" "$WORK/up1.err")"
pass "up kv converges a Redis primary, a replica and three Sentinels"
addr() { jq -r ".environments.default.layouts.kv.hosts.$1.address" "$WORK/.provision/state.json"; }
a_r1=$(addr r1) a_r2=$(addr r2) a_app=$(addr app1)

# The test's own commands read the passwords from files of mode 0600 on
# the hosts, never from a command line: put_secret HOST FILE VALUE.
put_secret() {
	printf '%s' "$3" | "$PROVISION" -i "$WORK/inventory.yml" ssh "$1" -- \
		"sudo -n sh -c 'umask 077 && cat >/root/$2'"
}
# give_passwords: the current two passwords to the three hosts
give_passwords() {
	local h
	for h in r1 r2 app1; do
		put_secret "$h" .redis-app "$PV_TEST_REDIS_PW" && put_secret "$h" .redis-admin "$PV_TEST_REDIS_ADMIN_PW" &&
			put_secret "$h" .redis-check "$PV_TEST_REDIS_CHECK_PW" || return 1
	done
	put_secret r1 .redis-exp "$PV_TEST_REDIS_EXP_PW"
}
give_passwords || bail "cannot give the hosts the passwords"
app_cli='REDISCLI_AUTH=$(cat /root/.redis-app) redis-cli --no-auth-warning'
adm_cli='REDISCLI_AUTH=$(cat /root/.redis-admin) redis-cli --no-auth-warning --user admin'
info() { on_host "$1" "$adm_cli -h 127.0.0.1 info replication" | tr -d '\r'; }
field() { info "$1" | sed -n "s/^$2://p"; }
sentinel() { on_host "$1" "$app_cli -h 127.0.0.1 -p 26379 $2" | tr -d '\r'; }

# The first converge starts each Redis once, with its settings: the
# package's own start is held (never with Debian's settings) and the restart
# handler has nothing left to do, so the Sentinels never see r1 up and then
# gone.  When the seed restarted Redis and the handler did again, the
# second restart could outlast down-after-milliseconds on a busy machine
# and the Sentinels promoted r2 before any check here.
starts() { on_host "$1" "grep -c 'Ready to accept connections' /var/log/redis/redis-server.log"; }
check "the first converge started r1's Redis once, with its settings (got $(starts r1))" \
	test "$(starts r1)" = 1
check "and r2's ($(starts r2))" test "$(starts r2)" = 1
check "r1 is still the primary after the first converge" \
	test "$(sentinel app1 'sentinel get-master-addr-by-name main' | head -n 1)" = "$a_r1"

r2_online() { info r1 | grep -q "^slave0:ip=$a_r2,.*state=online"; }
check "r1 is the primary with r2 streaming from it" wait_for 60 r2_online
check "r2 is a replica of r1" test "$(field r2 master_host)" = "$a_r1"
sentinels_agree() {
	local h
	for h in r1 r2 app1; do
		[ "$(sentinel "$h" 'sentinel get-master-addr-by-name main' | head -n 1)" = "$a_r1" ] || return 1
		sentinel "$h" 'sentinel ckquorum main' | grep -q '^OK 3 usable Sentinels' || return 1
	done
}
check "the three Sentinels name r1 and see each other (quorum 2 reachable)" wait_for 60 sentinels_agree

# the settings, as Redis itself reports them
cfg() { on_host r1 "$adm_cli -h 127.0.0.1 config get $1" | tr -d '\r' | sed -n 2p; }
check "AOF every second and snapshots" \
	test "$(cfg appendonly) $(cfg appendfsync) $(cfg save)" = "yes everysec 3600 1 300 100 60 10000"
check "a queue never evicts (maxmemory-policy $(cfg maxmemory-policy))" test "$(cfg maxmemory-policy)" = noeviction
listens() { on_host r1 "ss -Hltn 'sport = :6379'" | awk '{ print $4 }' | sort | tr '\n' ' '; }
check "Redis listens on the private address and localhost only ($(listens))" \
	test "$(listens)" = "$(printf '%s\n' 127.0.0.1:6379 "$a_r1:6379" | sort | tr '\n' ' ')"

# who may do what
app_says() { on_host app1 "$app_cli -h $a_r1 $1" 2>&1 | tr -d '\r'; }
check "a client without the password is refused (NOAUTH)" \
	sh -c "'$PROVISION' -i '$WORK/inventory.yml' ssh app1 -- redis-cli -h $a_r1 ping 2>&1 | grep -q NOAUTH"
check "with the password the app server writes" test "$(app_says 'set hello world')" = OK
noperm() { app_says "$1" | grep -q NOPERM; }
check "the clients' user may not FLUSHALL" noperm flushall
check "nor CONFIG SET" noperm 'config set maxmemory 1'
check "nor REPLICAOF" noperm 'replicaof 127.0.0.1 1'
check "the admin user may (CONFIG GET)" test "$(cfg appendonly)" = yes
check "the key survived" test "$(app_says 'get hello')" = world
# real packets from this machine, which is on the bridge but not in the layout
reach() { timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }
check "this machine (outside the layout) cannot reach Redis on r1" eval "! reach $a_r1 6379"
check "nor r2's Sentinel" eval "! reach $a_r2 26379"
check "the app server reaches both" on_host app1 "timeout 3 bash -c 'exec 3<>/dev/tcp/$a_r1/6379' && timeout 3 bash -c 'exec 3<>/dev/tcp/$a_r2/26379'"

# no password anywhere it does not belong
secret_in() { grep -rqF -e "$PV_TEST_REDIS_PW" -e "$PV_TEST_REDIS_ADMIN_PW" -e "$PV_TEST_REDIS_CHECK_PW" -e "$PV_TEST_REDIS_EXP_PW" "$@"; }
check "no password in the run's output or the state" eval "! secret_in '$WORK/up1.json' '$WORK/up1.err' '$WORK/.provision/state.json'"
for h in r1 r2 app1; do
	check "no password in $h's process list" on_host "$h" "ps -eo args >/root/ps.txt; ! grep -qF -f /root/.redis-app /root/ps.txt && ! grep -qF -f /root/.redis-admin /root/ps.txt && ! grep -qF -f /root/.redis-check /root/ps.txt"
	check "no world-readable file under /etc/redis on $h" test -z "$(on_host "$h" 'find /etc/redis -type f -perm /o+r')"
done
check "the ACL file holds hashes, not passwords" on_host r1 "! grep -qF -f /root/.redis-app /etc/redis/users.acl && ! grep -qF -f /root/.redis-admin /etc/redis/users.acl && ! grep -qF -f /root/.redis-check /etc/redis/users.acl && ! grep -qF -f /root/.redis-exp /etc/redis/users.acl"

# Prometheus' Redis exporter on each Redis server: a Redis user of its own
# (PING and INFO only), on the private address, open to the layout's
# monitoring servers only (there is none here: to no one)
# (HTTP by hand, the hosts have no curl; inside the host without SSH,
# whose connections ufw limits)
metrics_of() {
	in_host kv "$1" "timeout 5 bash -c 'exec 3<>/dev/tcp/$2/9121 && printf \"GET /metrics HTTP/1.0\\r\\n\\r\\n\" >&3 && cat <&3'" | tr -d '\r'
}
sees() {
	local m
	m=$(metrics_of "$1" "$2")
	printf '%s\n' "$m" | grep -q "^redis_instance_info{.*role=\"$3\"" && printf '%s\n' "$m" | grep -Eqx "$4"
}
check "r1's exporter logs in to Redis (redis_up 1) and sees a primary" wait_for 30 sees r1 "$a_r1" master "redis_up 1"
# (right after the converge the replica may still be syncing)
check "r2's sees a replica linked to its primary" wait_for 30 sees r2 "$a_r2" slave "redis_master_link_up(\{[^}]*\})? 1"
metrics_of r2 "$a_r2" | grep -E '^redis_(instance_info|master_link|connected)' | sed 's/^/# /'

exp_listens() { on_host r1 "ss -Hltn 'sport = :9121'" | awk '{ print $4 }' | tr '\n' ' '; }
check "the exporter listens on r1's private address only ($(exp_listens))" test "$(exp_listens)" = "$a_r1:9121 "
check "app1 (of the layout, not a monitoring server) cannot reach it" \
	eval "! on_host app1 \"timeout 3 bash -c 'exec 3<>/dev/tcp/$a_r1/9121'\""
check "nor this machine" eval "! reach $a_r1 9121"
exp_says() { on_host r1 "REDISCLI_AUTH=\$(cat /root/.redis-exp) redis-cli --no-auth-warning --user metrics -h 127.0.0.1 $1" 2>&1 | tr -d '\r'; }
check "the exporter's user may PING" test "$(exp_says ping)" = PONG
check "but not CONFIG GET, which would show the replication password" sh -c 'printf "%s" "$1" | grep -q NOPERM' _ "$(exp_says 'config get masterauth')"
check "nor GET" sh -c 'printf "%s" "$1" | grep -q NOPERM' _ "$(exp_says 'get hello')"
check "its settings, with its password, are root's alone ($(on_host r1 'stat -c "%U:%G %a" /etc/default/prometheus-redis-exporter'))" \
	test "$(on_host r1 'stat -c "%U:%G %a" /etc/default/prometheus-redis-exporter')" = "root:root 600"
check "and its password is in no process's arguments on r1" on_host r1 "ps -eo args >/root/ps.txt; ! grep -qF -f /root/.redis-exp /root/ps.txt"

# One endpoint for clients that do not speak Sentinel: HAProxy on app1
lb=6390
lb_cli="$app_cli -h $a_app -p $lb"
chk_cli='REDISCLI_AUTH=$(cat /root/.redis-check) redis-cli --no-auth-warning --user haproxy-check'
lb_listens() { on_host app1 "ss -Hltn 'sport = :$lb'" | awk '{ print $4 }' | tr '\n' ' '; }
check "HAProxy's Redis endpoint listens on app1's private address only ($(lb_listens))" \
	test "$(lb_listens)" = "$a_app:$lb "
check "haproxy.cfg (it holds the check user's password) is root:haproxy 0640 ($(on_host app1 'stat -c "%U:%G %a" /etc/haproxy/haproxy.cfg'))" \
	test "$(on_host app1 'stat -c "%U:%G %a" /etc/haproxy/haproxy.cfg')" = "root:haproxy 640"
lb_set() { [ "$(on_host app1 "$lb_cli set via-lb $1" | tr -d '\r')" = OK ]; }
check "a write through the endpoint is acknowledged" wait_for 30 lb_set one
check "and lands on the primary r1" test "$(on_host r1 "$adm_cli -h 127.0.0.1 get via-lb" | tr -d '\r')" = one
check "another server of the layout (r2) reaches the endpoint" \
	on_host r2 "timeout 3 bash -c 'exec 3<>/dev/tcp/$a_app/$lb'"
check "this machine (outside the layout) cannot" eval "! reach $a_app $lb"
chk_says() { on_host app1 "$chk_cli -h $a_r1 $1" 2>&1 | tr -d '\r'; }
check "the check user logs in with its password (PING)" test "$(chk_says ping)" = PONG
chk_info() { chk_says 'info replication' | grep -q '^role:master'; }
check "and reads INFO replication" chk_info
chk_noperm() { chk_says "$1" | grep -q NOPERM; }
check "but may not SET (NOPERM)" chk_noperm 'set via-lb x'
check "nor GET" chk_noperm 'get via-lb'
check "nor CONFIG GET" chk_noperm 'config get maxmemory'

pvj up kv >"$WORK/up2.json" 2>"$WORK/up2.err" || bail "second up failed: $(json_errors "$WORK/up2.json" "$WORK/up2.err")"
check "second run: 0 changed ($(json_resources "$WORK/up2.json" changed | tr '\n' ' '))" \
	test "$(json_total "$WORK/up2.json" changed)" = 0

# The writer: ask a Sentinel for the primary, INCR there, then WAIT for the
# replica; one line per attempt: start end ok VALUE REPLICAS PRIMARY | fail.
start_loop app1 writer <<SH || bail "cannot start the writer"
REDISCLI_AUTH=\$(cat /root/.redis-app)
export REDISCLI_AUTH
primary() {
	for s in $a_r1 $a_r2 $a_app; do
		a=\$(timeout 1 redis-cli --no-auth-warning -h \$s -p 26379 sentinel get-master-addr-by-name main 2>/dev/null | head -n 1 | tr -d '\r')
		case \$a in '' | *[!0-9.]*) continue ;; esac
		echo "\$a"
		return 0
	done
}
while [ ! -e /root/writer.stop ]; do
	start=\$(date +%s.%N)
	m=\$(primary)
	out=\$(printf 'INCR ticks\nWAIT 1 200\n' | timeout 2 redis-cli --no-auth-warning -h "\${m:-none}" 2>/dev/null | tr -d '\r' | tr '\n' ' ')
	set -- \$out
	case \${1:-x} in
	*[!0-9]*) echo "\$start \$(date +%s.%N) fail" ;;
	*) echo "\$start \$(date +%s.%N) ok \$1 \${2:-0} \$m" ;;
	esac >>/root/writer.log
	sleep 0.05
done
SH
loop_oks app1 writer 20 || bail "the writer does not write: $(on_host app1 'tail -n 3 /root/writer.log')"
pass "the writer INCRs through the primary Sentinel names"
# The second writer INCRs through HAProxy's endpoint: start end ok VALUE | fail
start_loop app1 lbwriter <<SH || bail "cannot start the endpoint's writer"
REDISCLI_AUTH=\$(cat /root/.redis-app)
export REDISCLI_AUTH
while [ ! -e /root/lbwriter.stop ]; do
	start=\$(date +%s.%N)
	v=\$(timeout 2 redis-cli --no-auth-warning -h $a_app -p $lb incr lbticks 2>/dev/null | tr -d '\r')
	case \${v:-x} in
	*[!0-9]*) echo "\$start \$(date +%s.%N) fail" ;;
	*) echo "\$start \$(date +%s.%N) ok \$v" ;;
	esac >>/root/lbwriter.log
	sleep 0.05
done
SH
loop_oks app1 lbwriter 20 || bail "the endpoint's writer does not write: $(on_host app1 'tail -n 3 /root/lbwriter.log')"
pass "the second writer INCRs through HAProxy's endpoint"

t0=$(date +%s.%N)
check "the primary r1's host is stopped hard" stop_hard kv r1

promoted() { [ "$(field r2 role)" = master ]; }
check "the replica r2 is promoted" wait_for 60 promoted
resumed=$(first_ok_after app1 /root/writer.log "$t0")
check "writes resume through the primary Sentinel names" test -n "$resumed"
failover_s=$(awk "BEGIN { printf \"%.1f\", ${resumed:-$t0} - $t0 }")
echo "# failover: the first write after the stop succeeded ${failover_s} s after r1's host stopped"
pass "failover time measured: ${failover_s} s from the stop to the first write"
lb_resumed=$(first_ok_after app1 /root/lbwriter.log "$t0")
check "writes resume through HAProxy's endpoint" test -n "$lb_resumed"
lb_s=$(awk "BEGIN { printf \"%.1f\", ${lb_resumed:-$t0} - $t0 }")
echo "# failover through HAProxy: the first write after the stop succeeded ${lb_s} s after r1's host stopped"
stop_loop app1 writer
stop_loop app1 lbwriter
sleep 1
# the highest value r1 wrote that the replica confirmed (WAIT), and the
# first value r2 wrote: a confirmed write lost would make r2 count it again
confirmed=$(on_host app1 "awk '\$3 == \"ok\" && \$5 >= 1 && \$6 == \"$a_r1\" && \$4 > v { v = \$4 } END { print v }' /root/writer.log")
first_after=$(on_host app1 "awk '\$3 == \"ok\" && \$6 == \"$a_r2\" { print \$4; exit }' /root/writer.log")
check "no write the replica confirmed is lost (confirmed up to $confirmed, r2's first $first_after)" \
	test "${first_after:-0}" -gt "${confirmed:-0}" -a "${confirmed:-0}" -gt 0
check "every write after the failover went to r2" \
	test "$(on_host app1 "awk -v t=${resumed:-$t0} '\$1 > t && \$3 == \"ok\" { print \$6 }' /root/writer.log | sort -u")" = "$a_r2"
# r1 is down: each write acknowledged through the endpoint since then is on r2
lb_last=$(on_host app1 "awk '\$3 == \"ok\" { v = \$4 } END { print v }' /root/lbwriter.log")
check "the endpoint's writes after the failover landed on r2 (its last value $lb_last, r2's lbticks at least that)" \
	test "$(on_host r2 "$adm_cli -h 127.0.0.1 get lbticks" | tr -d '\r')" -ge "${lb_last:-1}" -a -n "$lb_last"
check "a write through the same endpoint now lands on r2" lb_set two
check "(r2 holds it)" test "$(on_host r2 "$adm_cli -h 127.0.0.1 get via-lb" | tr -d '\r')" = two

pvj up kv >"$WORK/up3.json" 2>"$WORK/up3.err" || fail "up after the stop failed: $(json_errors "$WORK/up3.json" "$WORK/up3.err")"
rejoined() { [ "$(field r1 role)" = slave ] && [ "$(field r1 master_host)" = "$a_r2" ] && [ "$(field r1 master_link_status)" = up ]; }
check "the old primary r1 rejoins as a replica of r2" wait_for 60 rejoined
same_count() { [ "$(on_host r1 "$adm_cli -h 127.0.0.1 get ticks" | tr -d '\r')" = "$(on_host r2 "$adm_cli -h 127.0.0.1 get ticks" | tr -d '\r')" ]; }
check "r1 holds r2's data" wait_for 30 same_count
sentinels_follow() {
	local h
	for h in r1 r2 app1; do
		[ "$(sentinel "$h" 'sentinel get-master-addr-by-name main' | head -n 1)" = "$a_r2" ] || return 1
	done
}
check "the three Sentinels name r2" wait_for 60 sentinels_follow
pv status kv >"$WORK/status" 2>&1
sed 's/^/  /' "$WORK/status"
check "status: r2 is the primary, r1 online behind it" grep -q "^ *replica $a_r1: online, [0-9]* bytes behind" "$WORK/status"
check "status: r1 is a replica of r2, link up" grep -q "^ *replica of $a_r2, link up" "$WORK/status"
check "status: each of the three Sentinels names r2, with the replica and the two others" \
	test "$(grep -c "^ *primary $a_r2:6379 (master), 1 replica(s), 2 other Sentinel(s), quorum 2$" "$WORK/status")" = 3
check "status: HAProxy's Redis endpoint has r2 up (role:master)" grep -q "^ *r2 $a_r2:6379: UP, L7OK" "$WORK/status"
check "and r1, a replica now, down" grep -q "^ *r1 $a_r1:6379: DOWN, " "$WORK/status"
check "no password in status' output" eval "! secret_in '$WORK/status'"
check "no password in the files Redis and Sentinel rewrote, for others to read" \
	test -z "$(on_host r2 'find /etc/redis -type f -perm /o+r')"

# Redis and Sentinel rewrote their files: one run tidies them, the next changes nothing
pvj up kv >"$WORK/up4.json" 2>"$WORK/up4.err" || fail "up after the rejoin failed: $(json_errors "$WORK/up4.json" "$WORK/up4.err")"
pvj up kv >"$WORK/up5.json" 2>"$WORK/up5.err" || fail "last up failed: $(json_errors "$WORK/up5.json" "$WORK/up5.err")"
check "a run after that: 0 changed ($(json_resources "$WORK/up5.json" changed | tr '\n' ' '))" \
	test "$(json_total "$WORK/up5.json" changed)" = 0
check "r2 is still the primary" promoted
# Sentinel keeps its own file: a changed timing reaches it at run time
sed -i 's/^  redis_usage: queue$/  redis_usage: queue\n  redis_sentinel_down_after_ms: 3000/' "$WORK/inventory.yml"
pvj up kv >"$WORK/up6.json" 2>"$WORK/up6.err" || fail "up with a new down-after failed: $(json_errors "$WORK/up6.json" "$WORK/up6.err")"
down_after() {
	local h
	for h in r1 r2 app1; do
		sentinel "$h" 'sentinel master main' | grep -A1 -x down-after-milliseconds | tail -n 1
	done | tr '\n' ' '
}
check "a changed down-after reaches the three running Sentinels ($(down_after))" test "$(down_after)" = "3000 3000 3000 "
changed6=$(json_resources "$WORK/up6.json" changed | sort -u | tr '\n' ';')
check "and only that changed, on each Sentinel: its settings and its seed file ($changed6)" \
	test "$changed6 $(json_total "$WORK/up6.json" changed)" = "command # Sentinel's timing and quorum;file /etc/redis/sentinel-seed.conf; 6"
check "no password in any run's output or the state" eval "! secret_in '$WORK'/up*.json '$WORK'/up*.err '$WORK/.provision/state.json'"

# New passwords: Redis and the three Sentinels take them (Sentinel keeps its
# own file, so the run puts them there); the old ones are refused, the
# Sentinels still reach the primary, and a write goes through
old_pw=$PV_TEST_REDIS_PW old_admin=$PV_TEST_REDIS_ADMIN_PW
export PV_TEST_REDIS_PW="new\"pw\\ y-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export PV_TEST_REDIS_ADMIN_PW="adm2-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
pvj up kv >"$WORK/up7.json" 2>"$WORK/up7.err" || fail "up with new passwords failed: $(json_errors "$WORK/up7.json" "$WORK/up7.err")"
give_passwords || fail "cannot give the hosts the new passwords"
# (sentinels_follow asks each of them with the password the host now has)
check "the three Sentinels answer to the new password" wait_for 30 sentinels_follow
put_secret app1 .redis-old "$old_pw" || fail "cannot give app1 the old password"
old_refused() {
	on_host app1 'REDISCLI_AUTH=$(cat /root/.redis-old) redis-cli --no-auth-warning -h 127.0.0.1 -p 26379 ping' 2>&1 | grep -q WRONGPASS
}
check "and refuse the old one" old_refused
# with a stale auth-pass a Sentinel would see the primary as down within 2 s
sentinels_see_primary() {
	local h flags
	for h in r1 r2 app1; do
		flags=$(sentinel "$h" 'sentinel master main' | grep -A1 -x flags | tail -n 1)
		[ "$flags" = master ] || return 1
	done
}
sleep 5
check "each Sentinel logs in to the primary with the new admin password (flags: master only)" sentinels_see_primary
check "a write with the new client password goes to the primary" \
	test "$(on_host app1 "$app_cli -h $a_r2 incr ticks" | tr -d '\r' | grep -c '^[0-9][0-9]*$')" = 1
pvj up kv >"$WORK/up8.json" 2>"$WORK/up8.err" || fail "up after the new passwords failed: $(json_errors "$WORK/up8.json" "$WORK/up8.err")"
check "a run after that: 0 changed ($(json_resources "$WORK/up8.json" changed | tr '\n' ' '))" \
	test "$(json_total "$WORK/up8.json" changed)" = 0
check "no old or new password in the runs' output or the state" \
	eval "! grep -rqF -e '$old_admin' -e \"\$PV_TEST_REDIS_PW\" -e \"\$PV_TEST_REDIS_ADMIN_PW\" '$WORK'/up7.json '$WORK'/up7.err '$WORK'/up8.json '$WORK/.provision/state.json'"
