#!/usr/bin/env bash
# suite: extended (Traefik beside the Caddy test t0410; make test-all)
# Role proxy, flavour traefik. No container image can be pulled here and
# 'docker run' cannot create cgroups in the test hosts, so Traefik does not
# run: its configuration is checked as far as it can be without it. The
# static and dynamic files, as rendered on the host, must parse as YAML and
# pass a schema check written for the keys Traefik documents
# (tests/helpers/check-config.py; a broken copy must fail it); the unit
# must pass systemd-analyze verify.
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
EOF
t_uses phase1
CHECK="$ROOT/tests/helpers/check-config.py"

pvj up phase1 >"$WORK/up1.json" 2>"$WORK/up1.err" || {
	cat "$WORK/up1.err"
	jq -c 'select(.status == "failed" or .event == "error" or .error)' "$WORK/up1.json"
	bail "up phase1 with proxy_flavour traefik failed"
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

pvj up phase1 >"$WORK/up2.json" 2>"$WORK/up2.err" || bail "second up failed"
check "second up: 0 changed" test "$(json_total "$WORK/up2.json" changed)" = 0
