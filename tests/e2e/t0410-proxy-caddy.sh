#!/usr/bin/env bash
# Role proxy, flavour caddy (Debian's package): a site from the inventory is
# served over HTTPS with Caddy's internal CA (proxy_tls_internal, since no
# ACME server is reachable here), HTTP redirects to HTTPS, the security
# headers are set; a second run changes nothing; status shows the checks.
. "$(dirname "$0")/lib.sh"

t_project <<'EOF'
project: t0410
layouts:
  phase1:
    provider: local
    servers:
      app1:
        roles: [base, ufw, proxy]
        vars:
          proxy_acme_email: ops@shop.test
          proxy_tls_internal: true
          proxy_sites:
            - { host: shop.test, upstream: "127.0.0.1:8000" }
EOF
t_uses phase1

pvj up phase1 >"$WORK/up1.json" 2>"$WORK/up1.err" || {
	cat "$WORK/up1.err"
	jq -c 'select(.status == "failed" or .event == "error" or .error)' "$WORK/up1.json"
	bail "up phase1 with role proxy failed"
}
check "first up failed nothing" test "$(json_total "$WORK/up1.json" failed)" = 0
# caddy never served its package's default site
check_held_start app1 caddy /etc/caddy/Caddyfile
check "caddy is active" on_host app1 'systemctl is-active caddy'
check "the Caddyfile passes caddy validate" on_host app1 'caddy validate --adapter caddyfile --config /etc/caddy/Caddyfile >/dev/null 2>&1'
check "ufw opens 80 and 443 (the role's ports)" on_host app1 \
	"ufw status | grep -q '^80/tcp .*ALLOW' && ufw status | grep -q '^443/tcp .*ALLOW'"

# The upstream: a small HTTP server on the host's loopback.
on_host app1 'mkdir -p /srv/www && echo hello-from-upstream >/srv/www/index.html &&
	{ nohup setsid python3 -m http.server 8000 --bind 127.0.0.1 --directory /srv/www >/dev/null 2>&1 </dev/null & }' ||
	bail "cannot start the upstream"

ip=$(jq -r ".environments.default.layouts.phase1.hosts.app1.address" "$WORK/.provision/state.json")
root=/var/lib/caddy/.local/share/caddy/pki/authorities/local/root.crt
on_host app1 "for i in \$(seq 100); do [ -s $root ] && exit 0; sleep 0.1; done; exit 1" ||
	bail "caddy made no internal CA"
on_host app1 "cat $root" >"$WORK/root.crt"

https() {
	curl -s -m 10 --resolve "shop.test:443:$ip" --cacert "$WORK/root.crt" "$@"
}
for i in $(seq 50); do
	https -o /dev/null https://shop.test/ && break
	sleep 0.2
done
https -D "$WORK/headers" -o "$WORK/body" https://shop.test/
check "HTTPS with a certificate from Caddy's internal CA serves the upstream" grep -qx hello-from-upstream "$WORK/body"
check "HTTPS answers 200" sh -c "head -n 1 '$WORK/headers' | grep -q ' 200'"
for h in 'strict-transport-security: max-age=31536000' 'x-content-type-options: nosniff' \
	'x-frame-options: DENY' 'referrer-policy: strict-origin-when-cross-origin'; do
	check "security header: $h" grep -qi "^$h" "$WORK/headers"
done
check "no Server header over HTTPS" sh -c "! grep -qi '^server:' '$WORK/headers'"
curl -s -m 10 --resolve "shop.test:443:$ip" -o /dev/null https://shop.test/
rc=$?
check "the certificate is not trusted without Caddy's root (curl exit $rc; 60: the issuer is unknown)" test "$rc" = 60
curl -s -m 10 --resolve "shop.test:80:$ip" -D "$WORK/redir" -o /dev/null http://shop.test/some/path
check "HTTP redirects to HTTPS (308)" sh -c "head -n 1 '$WORK/redir' | grep -q ' 308'"
check "the redirect keeps host and path" grep -qi '^location: https://shop.test/some/path' "$WORK/redir"

pvj up phase1 >"$WORK/up2.json" 2>"$WORK/up2.err" || bail "second up failed: $(cat "$WORK/up2.err")"
check "second up: 0 changed" test "$(json_total "$WORK/up2.json" changed)" = 0
check "second up: 0 failed" test "$(json_total "$WORK/up2.json" failed)" = 0

pv status phase1 >"$WORK/status" 2>&1
check "status: caddy unit ok" grep -Eq '^ +proxy +unit caddy +ok$' "$WORK/status"
check "status: caddy admin API answers 200" grep -Eq '^ +proxy +http http://127.0.0.1:2019/config/ 200 +ok$' "$WORK/status"

# A changed site list reloads caddy and the new site is served.
sed -i 's|            - { host: shop.test, upstream: "127.0.0.1:8000" }|&\n            - { host: www.shop.test, upstream: "127.0.0.1:8000" }|' "$WORK/inventory.yml"
pvj up phase1 >"$WORK/up3.json" 2>"$WORK/up3.err" || bail "third up failed: $(cat "$WORK/up3.err")"
check "a new site changes the Caddyfile" sh -c "jq -r 'select(.event == \"resource\" and .status == \"changed\") | .resource' '$WORK/up3.json' | grep -qx 'file /etc/caddy/Caddyfile'"
code=
for i in $(seq 50); do
	code=$(curl -s -m 10 --resolve "www.shop.test:443:$ip" --cacert "$WORK/root.crt" -o /dev/null -w '%{http_code}' https://www.shop.test/)
	[ "$code" = 200 ] && break
	sleep 0.2
done
check "the new site is served after the reload, got: $code" test "$code" = 200
