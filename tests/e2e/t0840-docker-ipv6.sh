#!/usr/bin/env bash
# Docker publishes ports on IPv6 as well once it is enabled there, and
# ip6tables has its own DOCKER-USER chain: with IPv6 on in ufw (Debian's
# default) the tool's DOCKER-USER rules are loaded for IPv6 too, from
# /etc/ufw/after6.rules, and a second run changes nothing.
. "$(dirname "$0")/lib.sh"

t_project <<'EOF2'
project: t0840
vars:
  ufw_allow: [22/tcp, 8080/tcp]
layouts:
  one:
    servers:
      d1: { roles: [base, ufw, docker] }
EOF2
t_uses one

pvj up one >"$WORK/up1.json" 2>&1 || bail "up with role docker failed: $(json_total "$WORK/up1.json" failed) failed"
check "IPv6 is on in ufw" on_host d1 'grep -qx IPV6=yes /etc/default/ufw'
v6=$(on_host d1 'ip6tables -w -S DOCKER-USER' 2>&1)
check "ip6tables has the allowed port's rule in DOCKER-USER: $(printf '%s' "$v6" | tr '\n' '|')" \
	grep -q -- '-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 8080 --ctdir ORIGINAL -j RETURN' <<<"$v6"
check "and drops the rest headed for docker0 over IPv6" grep -q -- '-A DOCKER-USER -o docker0 -j DROP' <<<"$v6"
check "replies pass" grep -q -- '-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN' <<<"$v6"
check "the block is in after6.rules" on_host d1 "grep -q '^# BEGIN provision docker' /etc/ufw/after6.rules"
v4=$(on_host d1 'iptables -w -S DOCKER-USER' 2>&1)
check "IPv4 keeps its rules" grep -q -- '--ctorigdstport 8080' <<<"$v4"

pvj up one >"$WORK/up2.json" 2>&1
check "a second run changes nothing" test "$(json_total "$WORK/up2.json" changed)" = 0
