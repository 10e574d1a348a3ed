#!/usr/bin/env bash
# Role proxy, flavour kamal, and 'provision kamal-config'. Kamal and its
# images are not available here (no registry, and 'docker run' cannot
# create cgroups in the test hosts): the host's readiness is checked on the
# host, and the deploy.yml written by kamal-config is parsed and checked
# for the keys Kamal 2 requires and for the layout's hosts
# (tests/helpers/check-config.py).
. "$(dirname "$0")/lib.sh"

t_project <<'EOF'
project: t0440
layouts:
  phase1:
    provider: local
    servers:
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
	bail "up phase1 with proxy_flavour kamal failed"
}
check "first up failed nothing" test "$(json_total "$WORK/up1.json" failed)" = 0

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
sed '/^registry:/,/^ssh:/{/^ssh:/!d}' "$WORK/config/deploy.yml" >"$WORK/deploy-broken.yml"
check "the check fails a deploy.yml without its registry" \
	sh -c "! '$CHECK' kamal '$WORK/deploy-broken.yml' '$web2_ip' db '$db1_ip' app.shop.test >/dev/null"
sed 's/^  app_port:/  healthcheck_path: \/up\n&/' "$WORK/config/deploy.yml" >"$WORK/deploy-unknown.yml"
check "the check fails a deploy.yml with a key Kamal does not know" \
	sh -c "! '$CHECK' kamal '$WORK/deploy-unknown.yml' '$web2_ip' db '$db1_ip' app.shop.test >/dev/null"
check "deploy.yml names the image from the inventory" grep -qx 'image: "shop/web"' "$WORK/config/deploy.yml"
out=$(pv kamal-config phase1 2>&1)
check "kamal-config again: the file is unchanged ($out)" sh -c "printf '%s' '$out' | grep -q 'unchanged'"
echo "# my own note" >>"$WORK/config/deploy.yml"
pv kamal-config phase1 >/dev/null 2>&1
rc=$?
check "kamal-config keeps a file edited by hand (exit $rc)" sh -c "[ $rc = 1 ] && grep -q '# my own note' '$WORK/config/deploy.yml'"
pv kamal-config phase1 --force >/dev/null 2>&1
rc=$?
check "kamal-config --force replaces it (exit $rc)" \
	sh -c "[ $rc = 0 ] && grep -qx 'image: \"shop/web\"' '$WORK/config/deploy.yml' && ! grep -q '# my own note' '$WORK/config/deploy.yml'"
pv kamal-config nosuch >/dev/null 2>&1
rc=$?
check "kamal-config of an unknown layout is an input error (exit $rc)" test "$rc" = 2
# -o: the same file, written where it says (its directory made)
pv kamal-config phase1 -o "$WORK/elsewhere/deploy.production.yml" >"$WORK/kc-o.out" 2>&1
rc=$?
check "kamal-config -o writes the file it names, the same as config/deploy.yml (exit $rc)" \
	sh -c "[ $rc = 0 ] && cmp -s '$WORK/config/deploy.yml' '$WORK/elsewhere/deploy.production.yml'"

pvj up phase1 >"$WORK/up2.json" 2>"$WORK/up2.err" || bail "second up failed"
check "second up: 0 changed" test "$(json_total "$WORK/up2.json" changed)" = 0
