#!/usr/bin/env bash
# Role docker: Docker Engine installs and dockerd runs; published ports obey
# ufw, proven with real packets from another host on the bridge.
#
# What runs for real: dockerd (Debian's docker.io), its own iptables chains,
# ufw, the DOCKER-USER rules the tool writes to /etc/ufw/after.rules, the
# kernel's NAT and forwarding, TCP from a second host.  What is reproduced:
# 'docker run' cannot create cgroups inside these test hosts and no image
# can be pulled here, so the "containers" are network namespaces on
# docker0 running a small HTTP server, and the rules Docker itself adds
# for 'docker run -p 8080:80' and '-p 9090:90' (DNAT in nat/DOCKER, ACCEPT
# in filter/DOCKER, the hairpin MASQUERADE) are added with iptables exactly
# as Docker writes them.  A control step removes the tool's rules and shows
# that the unopened port is then reachable: the bypass is real and the
# tool's rules are what closes it.
. "$(dirname "$0")/lib.sh"

t_project <<'EOF'
project: t0400
vars:
  ufw_allow: [22/tcp, 8080/tcp]
layouts:
  phase1:
    provider: local
    servers:
      app1: { roles: [base, ufw, docker] }
      cli1: { roles: [client] }
EOF
mkdir -p "$WORK/roles/client"
cat >"$WORK/roles/client/role.yml" <<'EOF'
description: a bare host that sends test traffic
resources: []
EOF
t_uses phase1

pvj up phase1 >"$WORK/up1.json" 2>"$WORK/up1.err" || {
	cat "$WORK/up1.err"
	jq -c 'select(.status == "failed" or .event == "error" or .error)' "$WORK/up1.json"
	bail "up phase1 with role docker failed"
}
check "first up failed nothing" test "$(json_total "$WORK/up1.json" failed)" = 0
# dockerd never ran without daemon.json (nor before ufw's rules)
check_held_start app1 docker /etc/docker/daemon.json

check "dockerd answers docker info" on_host app1 'docker info --format "{{.ServerVersion}}"'
info=$(on_host app1 'docker info --format "{{.LoggingDriver}} {{.LiveRestoreEnabled}}"')
check "daemon.json is in effect (json-file logs, live-restore), got: $info" test "$info" = "json-file true"
check "daemon.json rotates logs" on_host app1 \
	"grep -q '\"max-size\": \"10m\"' /etc/docker/daemon.json && grep -q '\"max-file\": \"3\"' /etc/docker/daemon.json"
check "IP forwarding is on" on_host app1 '[ $(sysctl -n net.ipv4.ip_forward) = 1 ]'
check "DOCKER-USER holds the tool's rules" on_host app1 \
	'iptables -S DOCKER-USER | grep -q -- "--ctorigdstport 8080 --ctdir ORIGINAL -j RETURN" && iptables -S DOCKER-USER | grep -q -- "-o docker0 -j DROP"'
check "FORWARD consults DOCKER-USER first" on_host app1 \
	'[ "$(iptables -S FORWARD | sed -n 2p)" = "-A FORWARD -j DOCKER-USER" ]'

# Two "containers": network namespaces on docker0, as Docker would wire them.
on_host app1 '
set -e
for n in 2 3; do
	ip netns add ctr$n
	ip link add vh$n type veth peer name eth0 netns ctr$n
	ip link set vh$n master docker0 up
	ip -n ctr$n addr add 172.17.0.$n/16 dev eth0
	ip -n ctr$n link set eth0 up
	ip -n ctr$n link set lo up
	ip -n ctr$n route add default via 172.17.0.1
done
mkdir -p /srv/c80 /srv/c90
echo port-80-inside > /srv/c80/index.html
echo port-90-inside > /srv/c90/index.html
for p in 80 90; do
	nohup setsid ip netns exec ctr2 python3 -m http.server $p --bind 172.17.0.2 --directory /srv/c$p >/dev/null 2>&1 </dev/null &
done
' >/dev/null 2>&1 || bail "cannot build the container namespaces on app1"
# What Docker adds for: docker run -p 8080:80 -p 9090:90 (and adds again
# for its running containers when dockerd restarts).
docker_publish() {
	on_host app1 '
set -e
for m in 8080:80 9090:90; do
	h=${m%:*} c=${m#*:}
	iptables -t nat -A DOCKER ! -i docker0 -p tcp -m tcp --dport $h -j DNAT --to-destination 172.17.0.2:$c
	iptables -t filter -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport $c -j ACCEPT
	iptables -t nat -A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport $c -j MASQUERADE
done' >/dev/null 2>&1
}
docker_publish || bail "cannot add Docker's rules for the published ports"
# /dev/tcp is bash's; the namespace commands run through sh, so wait with bash
on_host app1 'for i in $(seq 50); do ip netns exec ctr2 bash -c "exec 3<>/dev/tcp/172.17.0.2/90" 2>/dev/null && exit 0; sleep 0.1; done; exit 1' ||
	bail "the HTTP servers in the container namespace did not start"

app_ip=$(jq -r ".environments.default.layouts.phase1.hosts.app1.address // empty" "$WORK/.provision/state.json")
[ -n "$app_ip" ] || app_ip=$(pv ssh app1 -- "ip -4 -o addr show dev host0 | awk '{print \$4}' | cut -d/ -f1")
[ -n "$app_ip" ] || bail "no address for app1"

# GET / from cli1 to app1:PORT; prints the body's first line; fails when the
# connection does not come up within a few seconds.
get_from_cli() {
	on_host cli1 "timeout 5 bash -c 'exec 3<>/dev/tcp/$app_ip/$1 && printf \"GET / HTTP/1.0\\r\\n\\r\\n\" >&3 && tail -n 1 <&3'"
}

# PORT of app1 dropped, seen from cli1: the probe ran there and its connect
# timed out (exit 124: the packets were dropped); not an answer, not a
# refusal, not a failed ssh
dropped_from_cli() {
	local rc
	rc=$(on_host cli1 "timeout 5 bash -c 'exec 3<>/dev/tcp/$app_ip/$1' 2>/dev/null; echo rc=\$?") || return 1
	[ "$rc" = rc=124 ] || { echo "# port $1 from cli1: $rc (124: dropped)"; return 1; }
}

got=$(get_from_cli 8080 2>/dev/null)
check "from cli1, published port 8080 (opened in the inventory) answers, got: $got" test "$got" = port-80-inside
check "from cli1, published port 9090 (not opened) is dropped" dropped_from_cli 9090

# Control: without the tool's DOCKER-USER rules Docker's own ACCEPT lets
# 9090 through (the bypass); ufw reload puts the rules back.
on_host app1 'iptables -F DOCKER-USER && iptables -A DOCKER-USER -j RETURN' >/dev/null 2>&1
got=$(get_from_cli 9090 2>/dev/null)
check "control: without the DOCKER-USER rules port 9090 is reachable (the bypass), got: $got" test "$got" = port-90-inside
on_host app1 'ufw reload' >/dev/null 2>&1
check "after ufw reload port 9090 is dropped again" dropped_from_cli 9090
got=$(get_from_cli 8080 2>/dev/null)
check "after ufw reload port 8080 still answers" test "$got" = port-80-inside

# Outbound from the container side: through MASQUERADE to the package cache
# on the bridge address (outside the host).
gw=$(on_host app1 "ip route show default | awk '{print \$3; exit}'")
out=$(on_host app1 "ip netns exec ctr2 timeout 5 bash -c 'exec 3<>/dev/tcp/$gw/3142 && printf \"GET / HTTP/1.0\\r\\n\\r\\n\" >&3 && head -n 1 <&3'" 2>/dev/null)
check "a container reaches the outside (HTTP to $gw:3142), got: ${out%$'\r'}" sh -c "printf '%s' '$out' | grep -q '^HTTP/'"
# Container to container on docker0, on a port not opened to the outside.
out=$(on_host app1 "ip netns exec ctr3 timeout 5 bash -c 'exec 3<>/dev/tcp/172.17.0.2/90 && printf \"GET / HTTP/1.0\\r\\n\\r\\n\" >&3 && tail -n 1 <&3'" 2>/dev/null)
check "containers talk to each other (172.17.0.3 -> 172.17.0.2:90), got: $out" test "$out" = port-90-inside

# dockerd restarting keeps the tool's rules (Docker leaves DOCKER-USER alone).
inv1=$(on_host app1 'systemctl show -P InvocationID docker')
on_host app1 'systemctl restart docker' >/dev/null 2>&1 || bail "docker restart failed"
inv2=$(on_host app1 'systemctl show -P InvocationID docker')
check "docker restarted (a new invocation: $inv1 -> $inv2)" test -n "$inv1" -a -n "$inv2" -a "$inv1" != "$inv2"
check "after a docker restart DOCKER-USER still drops unopened ports" on_host app1 \
	'iptables -S DOCKER-USER | grep -q -- "-o docker0 -j DROP"'
# Docker rebuilds its own chains with the rules of running containers.
docker_publish || bail "cannot add Docker's rules again after the restart"

# Second run: nothing changes; hardening and Docker stay.
pvj up phase1 >"$WORK/up2.json" 2>"$WORK/up2.err" || bail "second up failed: $(cat "$WORK/up2.err")"
check "second up: 0 changed" test "$(json_total "$WORK/up2.json" changed)" = 0
check "second up: 0 failed" test "$(json_total "$WORK/up2.json" failed)" = 0
check "hardening stays: sshd refuses passwords" on_host app1 'sshd -T | grep -qx "passwordauthentication no"'
check "hardening stays: ufw active, deny incoming" on_host app1 \
	'ufw status verbose | grep -q "^Default: deny (incoming)"'
check "hardening stays: kernel network sysctls" on_host app1 '[ $(sysctl -n net.ipv4.conf.all.accept_redirects) = 0 ]'
check "docker still runs after the second up" on_host app1 'systemctl is-active docker && docker info >/dev/null'
got=$(get_from_cli 8080 2>/dev/null)
check "after the second up port 8080 still answers, got: $got" test "$got" = port-80-inside
check "after the second up port 9090 is still dropped" dropped_from_cli 9090

# Drift: the block edited by hand (8080 dropped) is shown by plan and put
# back by up; the rest of after.rules (ufw's own rules) stays as it was.
stock=$(on_host app1 "grep -c '^-A ufw-after-input' /etc/ufw/after.rules")
on_host app1 "sed -i '/--ctorigdstport 8080/d' /etc/ufw/after.rules && ufw reload" >/dev/null 2>&1
check "drift: with the 8080 rule removed by hand, 8080 is dropped" dropped_from_cli 8080
pv plan phase1 >"$WORK/plan-drift" 2>&1
check "drift: plan shows the DOCKER-USER block differs" grep -q 'docker rules in after.rules differ' "$WORK/plan-drift"
pvj up phase1 >"$WORK/up3.json" 2>"$WORK/up3.err" || bail "up after drift failed: $(cat "$WORK/up3.err")"
check "drift: up changes exactly the ufw resource" \
	test "$(json_resources "$WORK/up3.json" changed | tr '\n' ' ')" = "ufw "
got=$(get_from_cli 8080 2>/dev/null)
check "drift: after up 8080 answers again, got: $got" test "$got" = port-80-inside
check "drift: ufw's own rules in after.rules are untouched" \
	test "$(on_host app1 "grep -c '^-A ufw-after-input' /etc/ufw/after.rules")" = "$stock"

# provision status shows the role's health check.
pv status phase1 >"$WORK/status" 2>&1
check "status shows docker's health check as ok" grep -Eq '^ +docker +unit docker +ok$' "$WORK/status"
on_host app1 'systemctl stop docker.socket docker' >/dev/null 2>&1
pv status phase1 >"$WORK/status2" 2>&1
rc=$?
check "status reports a stopped docker as FAILED (exit $rc)" sh -c "[ $rc = 1 ] && grep -Eq '^ +docker +unit docker +FAILED' '$WORK/status2'"
