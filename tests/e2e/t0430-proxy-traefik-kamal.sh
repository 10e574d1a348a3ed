#!/usr/bin/env bash
# Role proxy, flavours traefik and kamal, and 'provision kamal-config'.
# No container image can be pulled here and 'docker run' cannot create
# cgroups in the test hosts, so Traefik and kamal-proxy do not run: the
# configuration is checked as far as it can be without them. Traefik's
# static and dynamic files, as rendered on the host, must parse as YAML and
# pass a schema check written for the keys Traefik documents
# (tests/helpers/check-config.py; a broken copy must fail it); the unit
# must pass systemd-analyze verify. Kamal is not available here either:
# the deploy.yml written by kamal-config is parsed and checked for the keys
# Kamal 2 requires and for the layout's hosts.
. "$(dirname "$0")/lib.sh"

t_project <<'EOF'
project: t0430
layouts:
  phase1:
    provider: local
    servers:
      web1:
        roles: [base, ufw, docker, proxy]
        vars:
          proxy_flavour: traefik
          proxy_acme_email: ops@shop.test
          proxy_sites: [{ host: shop.test, upstream: "127.0.0.1:3000" }]
      web2:
        roles: [base, ufw, docker, proxy]
        vars:
          proxy_flavour: kamal
          proxy_sites: [{ host: app.shop.test, upstream: "127.0.0.1:3000" }]
          kamal_image: shop/web
      db1:
        roles: [client]
        vars: { kamal_accessory: db }
EOF
mkdir -p "$WORK/roles/client"
printf 'description: a bare host\nresources: []\n' >"$WORK/roles/client/role.yml"
t_uses phase1
CHECK="$ROOT/tests/helpers/check-config.py"

pvj up phase1 >"$WORK/up1.json" 2>"$WORK/up1.err" || {
	cat "$WORK/up1.err"
	jq -c 'select(.status == "failed" or .event == "error" or .error)' "$WORK/up1.json"
	bail "up phase1 with traefik and kamal failed"
}
check "first up failed nothing" test "$(json_total "$WORK/up1.json" failed)" = 0

# traefik
on_host web1 'cat /etc/traefik/traefik.yml' >"$WORK/traefik.yml"
on_host web1 'cat /etc/traefik/dynamic/provision.yml' >"$WORK/dynamic.yml"
check "traefik: static and dynamic configuration pass the schema check" \
	"$CHECK" traefik "$WORK/traefik.yml" "$WORK/dynamic.yml" shop.test 127.0.0.1:3000 ops@shop.test
sed '/redirections:/,/scheme: https/d' "$WORK/traefik.yml" >"$WORK/traefik-broken.yml"
check "traefik: the schema check fails a copy without the HTTPS redirect" \
	sh -c "! '$CHECK' traefik '$WORK/traefik-broken.yml' '$WORK/dynamic.yml' shop.test 127.0.0.1:3000 ops@shop.test"
check "traefik: acme.json exists with mode 0600" on_host web1 '[ "$(stat -c %a /var/lib/traefik/acme.json)" = 600 ]'
check "traefik: the unit passes systemd-analyze verify" on_host web1 'systemd-analyze verify /etc/systemd/system/traefik.service'
check "traefik: the unit is enabled" on_host web1 'systemctl is-enabled traefik'
check "traefik: the container runs in the host's network (ports under ufw's input rules)" on_host web1 \
	'grep -q -- "--network host" /etc/systemd/system/traefik.service'

# kamal: the host is ready
check "kamal: the deploy user is in group docker" on_host web2 'id -nG deploy | grep -qw docker'
check "kamal: the deploy user can use Docker" on_host web2 'sudo -u deploy docker info >/dev/null'
check "kamal: the deploy user logs in with the operator's key" on_host web2 \
	"grep -qF \"\$(cut -d' ' -f2 /home/admin/.ssh/authorized_keys)\" /home/deploy/.ssh/authorized_keys"
check "kamal: published 80 and 443 pass DOCKER-USER" on_host web2 \
	'iptables -S DOCKER-USER | grep -q -- "--ctorigdstport 80 " && iptables -S DOCKER-USER | grep -q -- "--ctorigdstport 443 "'
check "kamal: root logs in with keys only (Kamal may deploy as root)" on_host web2 \
	'sshd -T | grep -qx "permitrootlogin without-password"'

pv kamal-config phase1 >"$WORK/kc.out" 2>&1
check "kamal-config succeeds" test $? = 0
web2_ip=$(jq -r ".environments.default.layouts.phase1.hosts.web2.address" "$WORK/.provision/state.json")
db1_ip=$(jq -r ".environments.default.layouts.phase1.hosts.db1.address" "$WORK/.provision/state.json")
check "kamal-config wrote config/deploy.yml that passes the check" \
	"$CHECK" kamal "$WORK/config/deploy.yml" "$web2_ip" db "$db1_ip" app.shop.test
check "deploy.yml names the image from the inventory" grep -qx 'image: "shop/web"' "$WORK/config/deploy.yml"
pv kamal-config nosuch >/dev/null 2>&1
rc=$?
check "kamal-config of an unknown layout is an input error (exit $rc)" test "$rc" = 2

pvj up phase1 >"$WORK/up2.json" 2>"$WORK/up2.err" || bail "second up failed"
check "second up: 0 changed" test "$(json_total "$WORK/up2.json" changed)" = 0
