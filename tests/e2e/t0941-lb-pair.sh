#!/usr/bin/env bash
# Two HAProxy servers with keepalived share a floating private address
# (VRRP, unicast, allowed through ufw from the layout's servers only) in
# front of a web node.  Only one holds it; requests from the web
# node to the floating address keep being answered while the active
# host is stopped hard (its init killed): the backup takes over, and the
# time from the stop to the first answer after it is printed (not
# asserted).  up starts the old active host again and it stays the backup;
# a stopped HAProxy gives the address up too; a second run changes nothing.
# The web node also runs Redis, and the pair's Redis endpoint listens on the
# floating address on both servers (bound while the other holds it): a key
# written through that address before the stop is read through it after.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-patroni.sh" # wait_for

t_project <<'YML'
project: lbp
secrets:
  redis_pw: env:PV_TEST_REDIS_PW
  redis_admin_pw: env:PV_TEST_REDIS_ADMIN_PW
  redis_check_pw: env:PV_TEST_REDIS_CHECK_PW
vars:
  redis_password: redis_pw
  redis_admin_password: redis_admin_pw
  redis_check_password: redis_check_pw
layouts:
  lb:
    vars: { keepalived_address: 192.0.2.250 }
    servers:
      lb1: { roles: [base, ufw, keepalived] }
      lb2: { roles: [base, ufw, keepalived] }
      web1: { roles: [base, ufw, web, hello, redis] }
YML
export PV_TEST_REDIS_PW="app-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export PV_TEST_REDIS_ADMIN_PW="adm-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export PV_TEST_REDIS_CHECK_PW="chk-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
t_uses lb
t_hello_role
# the floating address is an unused one of the layout's subnet: the subnet
# plan picks, pinned so up takes the same
prefix=$(pv plan lb | sed -n 's|.* with address \([0-9.]*\)\.1/24.*|\1|p' | head -n 1)
[ -n "$prefix" ] || bail "plan names no subnet"
vip=$prefix.250
sed -i "s|^layouts:|providers: { local: { subnet: $prefix.0/24 } }\nlayouts:|; s|192.0.2.250|$vip|" "$WORK/inventory.yml"

pvj up lb >"$WORK/up1.json" 2>"$WORK/up1.err" || bail "up lb failed: $(json_errors "$WORK/up1.json" "$WORK/up1.err")"
pass "up lb converges two load balancers with keepalived and a web node"

# polled every second: looked at from the host's network namespace, not over
# SSH (a poll must not hang on a connection, nor add up to sshd's limits)
holds() { in_netns lb "$1" ip -o -4 addr show | grep -q " $vip/"; }
# the one of the pair holding the address (whichever started first)
holder() {
	local a=
	holds lb1 && a="$a lb1"
	holds lb2 && a="$a lb2"
	echo "${a# }"
}
one_holder() { case $(holder) in lb1 | lb2) return 0 ;; *) return 1 ;; esac }
check "one of the pair holds the floating address $vip" wait_for 30 one_holder
sleep 3
active=$(holder)
check "only one holds it ($active): the VRRP advertisements pass ufw" one_holder
case $active in lb1) backup=lb2 ;; *) active=lb2 backup=lb1 ;; esac
a_active=$(jq -r ".environments.default.layouts.lb.hosts.$active.address" "$WORK/.provision/state.json")
check "ufw on $backup lets VRRP in from $active" on_host "$backup" "ufw status | grep -i vrrp | grep -qF '$a_active'"
check "the web node gets its page through the floating address" \
	test "$(on_host web1 "curl -s -m 5 http://$vip/")" = web1

# Redis through the floating address; the client's password from a file of
# mode 0600 on web1, never on a command line
printf '%s' "$PV_TEST_REDIS_PW" | "$PROVISION" -i "$WORK/inventory.yml" ssh web1 -- \
	"sudo -n sh -c 'umask 077 && cat >/root/.redis-app'" || bail "cannot give web1 the password"
rcli="REDISCLI_AUTH=\$(cat /root/.redis-app) redis-cli --no-auth-warning -h $vip -p 6390"
kv_set() { test "$(on_host web1 "$rcli set failover-key $1" | tr -d '\r')" = OK; }
kv_get() { test "$(on_host web1 "$rcli get failover-key" | tr -d '\r')" = "$1"; }
check "a key is written to Redis through the floating address" wait_for 30 kv_set before-stop
check "and read back through it" kv_get before-stop
vip_bound() { in_netns lb "$1" ss -Hltn "sport = :6390" | grep -qF "$vip:6390"; }
check "$backup's HAProxy listens on the floating address it does not hold" vip_bound "$backup"

pvj up lb >"$WORK/up2.json" 2>"$WORK/up2.err" || bail "second up failed: $(json_errors "$WORK/up2.json" "$WORK/up2.err")"
check "second run: 0 changed ($(json_resources "$WORK/up2.json" changed | tr '\n' ' '))" \
	test "$(json_total "$WORK/up2.json" changed)" = 0

# requests from the web node, one line each: start end ok|fail
start_loop web1 requests <<SH || bail "cannot start the requests"
while [ ! -e /root/requests.stop ]; do
	start=\$(date +%s.%N)
	if [ "\$(curl -s -m 1 http://$vip/)" = web1 ]; then r=ok; else r=fail; fi
	echo "\$start \$(date +%s.%N) \$r" >>/root/requests.log
	sleep 0.1
done
SH
loop_oks web1 requests 20 || bail "requests to $vip are not answered"
pass "requests to the floating address are answered"

t0=$(date +%s.%N)
check "the active load balancer $active's host is stopped hard" stop_hard lb "$active"
check "$backup takes the floating address over" wait_for 30 holds "$backup"
resumed=$(first_ok_after web1 /root/requests.log "$t0")
check "requests are answered again through the floating address" test -n "$resumed"
takeover_s=$(awk "BEGIN { printf \"%.1f\", ${resumed:-$t0} - $t0 }")
failed=$(on_host web1 "awk -v t=$t0 '\$1 > t && \$3 == \"fail\"' /root/requests.log | wc -l")
echo "# takeover: the first answer after the stop came ${takeover_s} s after $active's host stopped ($failed requests failed meanwhile)"
pass "takeover time measured: ${takeover_s} s"
sleep 3
stop_loop web1 requests
sleep 1
check "every request after the takeover was answered" \
	test "$(on_host web1 "awk -v t=${resumed:-$t0} '\$1 > t && \$3 == \"fail\"' /root/requests.log | wc -l")" = 0
check "the key written before the stop is read through the floating address, now $backup's" \
	wait_for 30 kv_get before-stop

pvj up lb >"$WORK/up3.json" 2>"$WORK/up3.err" || fail "up after the stop failed: $(json_errors "$WORK/up3.json" "$WORK/up3.err")"
rejoined() { on_host "$active" "systemctl is-active -q keepalived && journalctl -b -u keepalived --no-pager | grep -q 'Entering BACKUP STATE'"; }
check "the old active $active rejoins as the backup" wait_for 30 rejoined
sleep 5
check "$backup keeps the floating address (no preemption), $active does not hold it" \
	test "$(holder)" = "$backup"

on_host "$backup" "systemctl stop haproxy" || fail "cannot stop haproxy on $backup"
check "a stopped HAProxy on $backup hands the address to $active" wait_for 30 eval "test \"\$(holder)\" = $active"
check "the page comes through $active" wait_for 10 eval "test \"\$(on_host web1 'curl -s -m 2 http://$vip/')\" = web1"

pvj up lb >"$WORK/up4.json" 2>"$WORK/up4.err" || fail "up after that failed: $(json_errors "$WORK/up4.json" "$WORK/up4.err")"
check "up starts HAProxy on $backup again" on_host "$backup" "systemctl is-active -q haproxy"
pvj up lb >"$WORK/up5.json" 2>"$WORK/up5.err" || fail "last up failed: $(json_errors "$WORK/up5.json" "$WORK/up5.err")"
check "a run after that: 0 changed ($(json_resources "$WORK/up5.json" changed | tr '\n' ' '))" \
	test "$(json_total "$WORK/up5.json" changed)" = 0
check "one holder, $active" test "$(holder)" = "$active"
