#!/usr/bin/env bash
# suite: extended (HAProxy in front of two web nodes; t0941 covers HAProxy too; make test-all)
# Role haproxy on a load balancer in front of two web nodes: traffic goes
# to both; a web node whose service stops gets no more traffic (every
# request still answered, by the other node); when it returns it gets
# traffic again; a second run changes nothing.  The web nodes have the
# built-in role 'web', which is what haproxy balances, and run nginx
# through the project's own role 'hello'.
. "$(dirname "$0")/lib.sh"

t_project <<'YML'
project: lbt
layouts:
  web:
    servers:
      lb1: { roles: [base, ufw, haproxy] }
      web1: { roles: [base, ufw, web, hello] }
      web2: { roles: [base, ufw, web, hello] }
YML
t_uses web
t_hello_role

pv up web >"$WORK/up1" 2>&1 || bail "up web failed: $(tail -n 30 "$WORK/up1")"
pass "up web converges a load balancer and two web nodes"
lb=$(jq -r '.environments.default.layouts.web.hosts.lb1.address' "$WORK/.provision/state.json")
check "the load balancer lists both web nodes" \
	test "$(on_host lb1 'grep -c "^	server web[12] " /etc/haproxy/haproxy.cfg')" = 2

# N requests through the load balancer: the answering node of each, one per
# line ("failed" for a request that got no page).
hits() {
	local i
	for i in $(seq 1 "$1"); do
		curl -s -m 5 -f "http://$lb/" || echo failed
	done
}
# Wait (up to 60 s) until N requests in a row are answered as wanted by grep -Ex.
until_hits() {
	local n=$1 want=$2 i
	for i in $(seq 1 60); do
		if hits "$n" | grep -Evxq "$want"; then sleep 1; else return 0; fi
	done
	return 1
}

h=$(hits 10 | sort | uniq -c | tr -s ' ' | tr '\n' ';')
check "both web nodes get traffic: $h" sh -c "printf '%s' '$h' | grep -q ' web1;' && printf '%s' '$h' | grep -q ' web2;'"

on_host web1 'systemctl stop nginx' || bail "cannot stop nginx on web1"
check "once web1's service stops, only web2 answers" until_hits 10 web2
h=$(hits 20 | sort | uniq -c | tr -s ' ' | tr '\n' ';')
check "every request is answered, all by web2: $h" test "$h" = " 20 web2;"

on_host web1 'systemctl start nginx' || bail "cannot start nginx on web1"
check "web1 gets traffic again when it returns" sh -c "for i in \$(seq 1 60); do for j in 1 2 3 4; do curl -s -m 5 'http://$lb/'; done | grep -qx web1 && exit 0; sleep 1; done; exit 1"

pvj up web >"$WORK/up2.json" 2>"$WORK/up2.err" || bail "second up failed: $(cat "$WORK/up2.err")"
check "second run: 0 changed ($(json_resources "$WORK/up2.json" changed | tr '\n' ' '))" \
	test "$(json_total "$WORK/up2.json" changed)" = 0
