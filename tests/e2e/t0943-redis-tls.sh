#!/usr/bin/env bash
# suite: extended (Redis with Sentinel over TLS; make test-all)
# Redis with redis_tls: a primary, a replica and three Sentinels (on both
# Redis servers and an app server with HAProxy's Redis endpoint) speak TLS
# only, with certificates of the layout's own CA.  Real packets: a
# plaintext client at the private port gets its connection closed, a TLS
# client trusting the layout's CA writes and reads, one trusting another CA
# is refused; the replication stream on the wire (read in the replica's
# network namespace) is TLS records and never holds a value just written
# (the same sniffer does find a marker sent in plaintext); Redis has no
# plaintext port at all.  The Sentinels reach each other and the nodes over
# TLS; the primary's host is stopped hard, the replica is promoted and
# writes through TLS resume; up brings the old primary back as a replica
# over TLS.  HAProxy checks the nodes over TLS and verifies them; the
# exporter talks TLS to its node.  Keys are the hosts' own (0600, the
# service's user), the CA's key is on no host, and no password or key is
# in output, state or ps.  A second run changes nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-patroni.sh" # wait_for

t_project <<'YML'
project: rtls
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
layouts:
  kv:
    vars: { redis_tls: true }
    servers:
      r1: { roles: [base, ufw, redis, redis-sentinel] }
      r2: { roles: [base, ufw, redis-replica, redis-sentinel] }
      app1: { roles: [base, ufw, redis-sentinel, haproxy] }
YML
t_uses kv
rnd() { head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
export PV_TEST_REDIS_PW="app-$(rnd)" PV_TEST_REDIS_ADMIN_PW="adm-$(rnd)"
export PV_TEST_REDIS_CHECK_PW="chk-$(rnd)" PV_TEST_REDIS_EXP_PW="exp-$(rnd)"

pvj up kv >"$WORK/up1.json" 2>"$WORK/up1.err" || bail "up kv failed: $(json_errors "$WORK/up1.json" "$WORK/up1.err")"
pass "up kv converges Redis, a replica and three Sentinels with redis_tls"
addr() { jq -r ".environments.default.layouts.kv.hosts.$1.address" "$WORK/.provision/state.json"; }
a_r1=$(addr r1) a_r2=$(addr r2) a_app=$(addr app1)

put_secret() {
	printf '%s' "$3" | "$PROVISION" -i "$WORK/inventory.yml" ssh "$1" -- \
		"sudo -n sh -c 'umask 077 && cat >/root/$2'"
}
for h in r1 r2 app1; do
	put_secret "$h" .redis-app "$PV_TEST_REDIS_PW" && put_secret "$h" .redis-admin "$PV_TEST_REDIS_ADMIN_PW" ||
		bail "cannot give $h the passwords"
done
ca=/etc/redis/tls/ca.crt
tls="--tls --cacert $ca"
# (a TLS client facing a plaintext server would wait for ever: timeout)
app_cli="REDISCLI_AUTH=\$(cat /root/.redis-app) timeout 10 redis-cli --no-auth-warning $tls"
adm_cli="REDISCLI_AUTH=\$(cat /root/.redis-admin) timeout 10 redis-cli --no-auth-warning --user admin $tls"
info() { on_host "$1" "$adm_cli -h 127.0.0.1 info replication" | tr -d '\r'; }
field() { info "$1" | sed -n "s/^$2://p"; }
sentinel() { on_host "$1" "$app_cli -h 127.0.0.1 -p 26379 $2" | tr -d '\r'; }

# the certificates: each host's own key, its service's alone
keymode() { on_host "$1" "stat -c '%U:%G %a' $2"; }
for h in r1 r2 app1; do
	check "$h's Redis key is redis's alone ($(keymode "$h" /etc/redis/tls/host.key))" \
		test "$(keymode "$h" /etc/redis/tls/host.key)" = "redis:redis 600"
	check "in a directory only redis enters ($(keymode "$h" /etc/redis/tls))" \
		sh -c 'case $1 in "redis:redis 700" | "redis:redis 2700") ;; *) exit 1 ;; esac' _ "$(keymode "$h" /etc/redis/tls)"
done
check "HAProxy's copy of the CA comes with a key of app1's own, haproxy's alone ($(keymode app1 /etc/haproxy/redis-tls/host.key))" \
	test "$(keymode app1 /etc/haproxy/redis-tls/host.key)" = "haproxy:haproxy 600"
check "r1's certificate is of the layout's CA, for its private address" \
	on_host r1 "openssl verify -CAfile $ca /etc/redis/tls/host.crt && openssl x509 -in /etc/redis/tls/host.crt -noout -ext subjectAltName | grep -q 'IP Address:$a_r1\$'"
cakey="$WORK/.provision/keys/journal-ca/default/kv.pem"
check "the layout's CA key is kept next to the state, mode 0600 ($(stat -c %a "$cakey" 2>&1))" test "$(stat -c %a "$cakey")" = 600
# a line of the CA key's body, looked for on the hosts and in what the tool wrote
cakey_line=$(sed -n 2p "$cakey")
# (the line goes to the hosts on stdin, into a file, never on a command line)
cakey_on() { on_host "$1" "grep -rlsF -f /root/.cakey-line /etc /var/lib /tmp" 2>/dev/null; }
for h in r1 r2 app1; do
	put_secret "$h" .cakey-line "$cakey_line" || fail "cannot give $h the CA key's line"
	check "the CA key is nowhere on $h (/etc, /root, /var/lib, /tmp) $(cakey_on "$h")" test -z "$(cakey_on "$h")"
done

# Redis speaks TLS only: no plaintext port, a plaintext client cut off
listens() { on_host "$1" "ss -Hltn 'sport = :$2'" | awk '{ print $4 }' | sort | tr '\n' ' '; }
check "Redis listens on r1's private address and localhost ($(listens r1 6379))" \
	test "$(listens r1 6379)" = "$(printf '%s\n' 127.0.0.1:6379 "$a_r1:6379" | sort | tr '\n' ' ')"
cfg() { on_host "$1" "$adm_cli -h 127.0.0.1 config get $2" | tr -d '\r' | sed -n 2p; }
check "and that port is its TLS port; the plaintext port is 0 (none): $(cfg r1 port)/$(cfg r1 tls-port)" \
	test "$(cfg r1 port) $(cfg r1 tls-port) $(cfg r1 tls-replication)" = "0 6379 yes"
# A plaintext client: the TCP connection is taken (the probe ran), the
# PING gets no answer but a reset: "connected, 0 bytes, reset".
plain_probe() { # HOST ADDR PORT
	on_host "$1" "timeout 8 bash -c 'exec 3<>/dev/tcp/$2/$3 || exit 9; printf \"PING\\r\\n\" >&3; n=\$(timeout 3 cat <&3 2>/tmp/probe.err | wc -c); grep -q \"Connection reset by peer\" /tmp/probe.err && r=reset || r=\"no reset\"; echo \"connected, \$n bytes, \$r\"'" 2>&1
}
p=$(plain_probe app1 "$a_r1" 6379)
echo "# plaintext PING to r1:6379 from app1: $p"
check "a plaintext client reaches r1's port (the probe ran) and is reset without an answer ($p)" \
	test "$p" = "connected, 0 bytes, reset"
pc=$(on_host app1 "REDISCLI_AUTH=\$(cat /root/.redis-app) timeout 10 redis-cli --no-auth-warning -h $a_r1 ping" 2>&1 | tr -d '\r')
echo "# redis-cli without --tls: $pc"
check "redis-cli without TLS is cut off by the server ($pc)" \
	sh -c 'printf "%s" "$1" | grep -Eq "Server closed the connection|Connection reset by peer"' _ "$pc"
check "the same from r2 (a replica would be too)" \
	test "$(plain_probe r2 "$a_r1" 6379)" = "connected, 0 bytes, reset"
check "and at r2's Sentinel" test "$(plain_probe app1 "$a_r2" 26379)" = "connected, 0 bytes, reset"

app_says() { on_host app1 "$app_cli -h $a_r1 $1" 2>&1 | tr -d '\r'; }
check "a TLS client trusting the layout's CA writes on the primary" test "$(app_says 'set hello world')" = OK
check "and reads it back" test "$(app_says 'get hello')" = world
check "without the password it is still refused (NOAUTH)" \
	on_host app1 "timeout 10 redis-cli $tls -h $a_r1 ping 2>&1 | grep -q NOAUTH"
# another CA: the client refuses the server's certificate
on_host app1 "cd /root && openssl req -x509 -newkey ed25519 -nodes -keyout other.key -subj /CN=other-ca -days 1 -out other.crt 2>/dev/null" ||
	fail "cannot make another CA on app1"
oc=$(on_host app1 "REDISCLI_AUTH=\$(cat /root/.redis-app) timeout 10 redis-cli --no-auth-warning --tls --cacert /root/other.crt -h $a_r1 ping" 2>&1 | tr -d '\r')
check "a TLS client trusting another CA refuses the server ($oc)" \
	sh -c 'printf "%s" "$1" | grep -q "certificate verify failed"' _ "$oc"

# replication over TLS
r2_online() { info r1 | grep -q "^slave0:ip=$a_r2,.*state=online"; }
check "r1 is the primary with r2 streaming from it" wait_for 60 r2_online
check "r2 is a replica of r1, link up" test "$(field r2 master_host) $(field r2 master_link_status)" = "$a_r1 up"
# What r1 sends r2, read in r2's network namespace while values are written
# on r1: TLS records (content type 23, version 3.3), never the values.
cat >"$WORK/sniff.py" <<'PY'
import socket, struct, sys, time
port, marker, secs = int(sys.argv[1]), sys.argv[2].encode(), float(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
s.settimeout(0.2)
end, seen, tls, found = time.time() + secs, 0, 0, 0
while time.time() < end:
    try:
        f = s.recv(65535)
    except socket.timeout:
        continue
    if len(f) < 34 or f[12:14] != b"\x08\x00" or f[23] != 6:
        continue
    ip = f[14:]
    ihl = (ip[0] & 15) * 4
    tcp = ip[ihl:]
    sport, dport = struct.unpack("!HH", tcp[:4])
    if port not in (sport, dport):
        continue
    data = tcp[(tcp[12] >> 4) * 4:struct.unpack("!H", ip[2:4])[0] - ihl]
    if not data:
        continue
    seen += len(data)
    tls += data[:3] == b"\x17\x03\x03"
    found += marker in data
print(f"bytes={seen} tls_records={tls} marker={found}")
PY
sniff() { # HOST PORT MARKER SECONDS
	in_netns kv "$1" python3 "$WORK/sniff.py" "$2" "$3" "$4"
}
marker="tls-marker-$(rnd)"
sniff r2 6379 "$marker" 6 >"$WORK/sniff.out" &
sniffer=$!
sleep 1.5
on_host r1 "for i in 1 2 3 4 5; do $adm_cli -h 127.0.0.1 set probe\$i $marker >/dev/null; sleep 0.3; done" ||
	fail "cannot write the marker on r1"
wait $sniffer
echo "# replication stream r1 -> r2 as r2 saw it: $(cat "$WORK/sniff.out")"
check "the sniffer saw r1's Redis port's traffic (the replication stream, Sentinel's) as TLS records" \
	grep -Eq '^bytes=[1-9][0-9]* tls_records=[1-9]' "$WORK/sniff.out"
check "and no value written on r1 in it" grep -q ' marker=0$' "$WORK/sniff.out"
check "the values did reach r2" test "$(on_host r2 "$adm_cli -h 127.0.0.1 get probe5" | tr -d '\r')" = "$marker"
# the control: the same sniffer finds a marker sent in plaintext (to r2's SSH port)
sniff r2 22 "$marker" 4 >"$WORK/sniff-plain.out" &
sniffer=$!
sleep 1.5
on_host app1 "timeout 2 bash -c 'exec 3<>/dev/tcp/$a_r2/22 && printf \"$marker\\r\\n\" >&3 && sleep 0.5'" >/dev/null 2>&1
wait $sniffer
check "(the sniffer finds a marker sent in plaintext: $(cat "$WORK/sniff-plain.out"))" \
	grep -Eq ' marker=[1-9]' "$WORK/sniff-plain.out"

# Sentinels over TLS
sentinels_agree() {
	local h
	for h in r1 r2 app1; do
		[ "$(sentinel "$h" 'sentinel get-master-addr-by-name main' | head -n 1)" = "$a_r1" ] || return 1
		sentinel "$h" 'sentinel ckquorum main' | grep -q '^OK 3 usable Sentinels' || return 1
	done
}
check "the three Sentinels, over TLS, name r1 and see each other" wait_for 60 sentinels_agree
check "Sentinel's own port is TLS only ($(listens r2 26379))" \
	test "$(listens r2 26379)" = "$(printf '%s\n' 127.0.0.1:26379 "$a_r2:26379" | sort | tr '\n' ' ')"

# HAProxy: the check speaks TLS and verifies; clients pass TLS through
lb_cli="$app_cli -h $a_app -p 6390"
lb_set() { [ "$(on_host app1 "$lb_cli set via-lb $1" | tr -d '\r')" = OK ]; }
check "a TLS write through HAProxy's endpoint is acknowledged" wait_for 30 lb_set one
check "and lands on r1" test "$(on_host r1 "$adm_cli -h 127.0.0.1 get via-lb" | tr -d '\r')" = one
check "HAProxy's config checks the nodes over TLS, verifying them" \
	on_host app1 "grep -q 'server r1 $a_r1:6379 check check-ssl verify required ca-file /etc/haproxy/redis-tls/ca.crt' /etc/haproxy/haproxy.cfg"
pv status kv >"$WORK/status1" 2>&1
sed 's/^/  /' "$WORK/status1"
check "status: HAProxy's check finds r1 up (L7OK) and r2 down" \
	sh -c "grep -q '^ *r1 $a_r1:6379: UP, L7OK' '$WORK/status1' && grep -q '^ *r2 $a_r2:6379: DOWN' '$WORK/status1'"
check "status: r1 primary with r2 online behind it (over TLS)" grep -q "^ *replica $a_r2: online" "$WORK/status1"
check "status: each Sentinel names r1" \
	test "$(grep -c "^ *primary $a_r1:6379 (master), 1 replica(s), 2 other Sentinel(s), quorum 2$" "$WORK/status1")" = 3

# the exporter talks TLS to its node
metrics_of() {
	in_host kv "$1" "timeout 5 bash -c 'exec 3<>/dev/tcp/$2/9121 && printf \"GET /metrics HTTP/1.0\\r\\n\\r\\n\" >&3 && cat <&3'" | tr -d '\r'
}
exp_up() { metrics_of r1 "$a_r1" | grep -qx 'redis_up 1'; }
check "r1's exporter reaches Redis over TLS (redis_up 1)" wait_for 30 exp_up

# no secret anywhere it does not belong
secret_in() { grep -rqF -e "$PV_TEST_REDIS_PW" -e "$PV_TEST_REDIS_ADMIN_PW" -e "$PV_TEST_REDIS_CHECK_PW" -e "$PV_TEST_REDIS_EXP_PW" -e "$cakey_line" "$@"; }
check "no password or CA key in the run's output or the state" eval "! secret_in '$WORK/up1.json' '$WORK/up1.err' '$WORK/.provision/state.json' '$WORK/status1'"
for h in r1 r2 app1; do
	check "no password or key in $h's process list" on_host "$h" "ps -eo args >/root/ps.txt; ! grep -qF -f /root/.redis-app /root/ps.txt && ! grep -qF -f /root/.redis-admin /root/ps.txt && ! grep -qF -f /root/.cakey-line /root/ps.txt"
done

pvj up kv >"$WORK/up2.json" 2>"$WORK/up2.err" || bail "second up failed: $(json_errors "$WORK/up2.json" "$WORK/up2.err")"
check "second run: 0 changed ($(json_resources "$WORK/up2.json" changed | tr '\n' ' '))" \
	test "$(json_total "$WORK/up2.json" changed)" = 0

# Failover over TLS: a writer asks the Sentinels for the primary and INCRs there
start_loop app1 writer <<SH || bail "cannot start the writer"
REDISCLI_AUTH=\$(cat /root/.redis-app)
export REDISCLI_AUTH
primary() {
	for s in $a_r1 $a_r2 $a_app; do
		a=\$(timeout 1 redis-cli --no-auth-warning $tls -h \$s -p 26379 sentinel get-master-addr-by-name main 2>/dev/null | head -n 1 | tr -d '\r')
		case \$a in '' | *[!0-9.]*) continue ;; esac
		echo "\$a"
		return 0
	done
}
while [ ! -e /root/writer.stop ]; do
	start=\$(date +%s.%N)
	m=\$(primary)
	v=\$(timeout 2 redis-cli --no-auth-warning $tls -h "\${m:-none}" incr ticks 2>/dev/null | tr -d '\r')
	case \${v:-x} in
	*[!0-9]*) echo "\$start \$(date +%s.%N) fail" ;;
	*) echo "\$start \$(date +%s.%N) ok \$v \$m" ;;
	esac >>/root/writer.log
	sleep 0.05
done
SH
loop_oks app1 writer 20 || bail "the writer does not write: $(on_host app1 'tail -n 3 /root/writer.log')"
pass "the writer INCRs over TLS through the primary Sentinel names"
t0=$(date +%s.%N)
check "the primary r1's host is stopped hard" stop_hard kv r1
promoted() { [ "$(field r2 role)" = master ]; }
check "the Sentinels (over TLS) promote r2" wait_for 60 promoted
resumed=$(first_ok_after app1 /root/writer.log "$t0")
check "writes over TLS resume" test -n "$resumed"
echo "# failover with TLS: the first write after the stop succeeded $(awk "BEGIN { printf \"%.1f\", ${resumed:-$t0} - $t0 }") s after r1's host stopped"
# (three writes after that one, each asking the Sentinels first)
writes_after() { [ "$(on_host app1 "awk -v t=${resumed:-$t0} '\$1 > t && \$3 == \"ok\"' /root/writer.log | wc -l")" -ge 3 ]; }
wait_for 30 writes_after
went_to=$(on_host app1 "awk -v t=${resumed:-$t0} '\$1 > t && \$3 == \"ok\" { print \$5 }' /root/writer.log | sort -u" | tr '\n' ' ')
check "every write after the failover went to r2 ($went_to)" test "$went_to" = "$a_r2 "
stop_loop app1 writer

pvj up kv >"$WORK/up3.json" 2>"$WORK/up3.err" || fail "up after the stop failed: $(json_errors "$WORK/up3.json" "$WORK/up3.err")"
rejoined() { [ "$(field r1 role)" = slave ] && [ "$(field r1 master_host)" = "$a_r2" ] && [ "$(field r1 master_link_status)" = up ]; }
check "the old primary r1 rejoins as a replica of r2, over TLS" wait_for 60 rejoined
lb_on_r2() { lb_set two && [ "$(on_host r2 "$adm_cli -h 127.0.0.1 get via-lb" | tr -d '\r')" = two ]; }
check "HAProxy's endpoint (its TLS check) now leads to r2" wait_for 30 lb_on_r2
pvj up kv >"$WORK/up4.json" 2>"$WORK/up4.err" || fail "up after the rejoin failed: $(json_errors "$WORK/up4.json" "$WORK/up4.err")"
pvj up kv >"$WORK/up5.json" 2>"$WORK/up5.err" || fail "last up failed: $(json_errors "$WORK/up5.json" "$WORK/up5.err")"
check "a run after that: 0 changed ($(json_resources "$WORK/up5.json" changed | tr '\n' ' '))" \
	test "$(json_total "$WORK/up5.json" changed)" = 0
check "no password or CA key in any run's output or the state" eval "! secret_in '$WORK'/up*.json '$WORK'/up*.err '$WORK/.provision/state.json'"
