#!/usr/bin/env bash
# DigitalOcean refuses a VPC whose range overlaps another network of the
# account, and every layout and environment gets a VPC of its own.  Without
# vpc.ip_range, each VPC is made without one and DigitalOcean picks a free
# range (the test server does as the API reference says: a free /20): two
# layouts come up side by side, each firewall opens the database port to
# its own VPC's range, and the state records that range.  With an ip_range
# that overlaps a VPC of the account, plan says up would fail and up
# refuses before anything of the layout is made.  A range DigitalOcean
# would refuse (not private, wider than /16) is an error at its line.
# Volume names are unique per region too: the same server's volume in
# another environment gets a name of its own.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
do_start --shared-host
cloud_dbport_role
cat >"$WORK/inventory.yml" <<EOT
project: shop
providers:
  digitalocean:
    region: fra1
    poll_interval: 0.2
    rotate_host_keys: false
environments:
  staging:
    providers: { digitalocean: { poll_interval: 0.3 } }
layouts:
  phase1:
    provider: digitalocean
    servers:
      app1: { roles: [base, dbport], volumes: [{ name: data, size: 10 }] }
  phase2:
    provider: digitalocean
    servers:
      db1: { roles: [base, dbport] }
EOT
t_uses phase1
t_uses phase2
t_uses_env staging phase1

ST=$WORK/.provision/state.json
vpc_range() { cloud_state | jq -r --arg n "$1" '.vpcs[] | select(.name == $n) | .ip_range'; }
fw_5432() { cloud_state | jq -c --arg n "$1" '[.firewalls[] | select(.name == $n) | .inbound_rules[] | select(.ports == "5432") | .sources.addresses]'; }

bk_run plan1 plan phase1 || bail "plan failed: $(tail -n 20 "$WORK/plan1")"
check "plan: a VPC whose range DigitalOcean picks" \
	grep -q '+ cloud: VPC shop-default-phase1 (a free range DigitalOcean picks)' "$WORK/plan1"
bk_run up1 up phase1 --only cloud || bail "up phase1 failed: $(tail -n 20 "$WORK/up1")"
bk_run up2 up phase2 --only cloud || bail "up phase2 failed: $(tail -n 20 "$WORK/up2")"
r1=$(vpc_range shop-default-phase1)
r2=$(vpc_range shop-default-phase2)
check "two VPCs, two ranges ($r1, $r2)" test -n "$r1" -a -n "$r2" -a "$r1" != "$r2"
check "the ranges do not overlap" python3 -c 'import ipaddress, sys; sys.exit(ipaddress.ip_network(sys.argv[1]).overlaps(ipaddress.ip_network(sys.argv[2])))' "$r1" "$r2"
check "phase1's firewall opens 5432 to its own VPC: $(fw_5432 shop-default-phase1)" \
	test "$(fw_5432 shop-default-phase1)" = "[[\"$r1\"]]"
check "phase2's firewall opens 5432 to its own VPC: $(fw_5432 shop-default-phase2)" \
	test "$(fw_5432 shop-default-phase2)" = "[[\"$r2\"]]"
check "the state records each VPC's range" \
	test "$(jq -r '.environments.default.layouts | [.phase1, .phase2] | map(.provider_data.vpc_ip_range) | join(" ")' "$ST")" = "$r1 $r2"
bk_run up5 -e staging up phase1 --only cloud || bail "up -e staging phase1 failed: $(tail -n 20 "$WORK/up5")"
rs=$(vpc_range shop-staging-phase1)
check "the staging environment's VPC has a range of its own ($rs)" \
	python3 -c 'import ipaddress, sys; n = [ipaddress.ip_network(a) for a in sys.argv[1:]]; sys.exit(len(n) != 3 or any(a.overlaps(b) for a in n for b in n if a is not b))' "$r1" "$r2" "$rs"
check "app1's volume in each environment, named apart: $(cloud_state | jq -c '[.volumes[].name] | sort')" \
	test "$(cloud_state | jq -c '[.volumes[] | [.name, (.tags | map(select(startswith("pv:"))) | .[0])]] | sort')" = '[["shop-app1-data","pv:shop:default:phase1"],["shop-staging-app1-data","pv:shop:staging:phase1"]]'
bk_run up3 up phase1 --only cloud || bail "second up phase1 failed: $(tail -n 20 "$WORK/up3")"
bk_quiet up3
bk_run plan2 plan phase2 || bail "plan failed: $(tail -n 20 "$WORK/plan2")"
check "plan of phase2 then: no cloud change" sh -c "! grep -q 'cloud:' '$WORK/plan2'"

# an ip_range overlapping phase1's VPC, for a layout not yet made
python3 - "$r1" <<'PY' >"$WORK/overlap" || bail "no range inside $r1"
import ipaddress, sys
print(next(ipaddress.ip_network(sys.argv[1]).subnets(new_prefix=24)))
PY
o=$(cat "$WORK/overlap")
sed -i "s|^    region: fra1$|&\n    vpc: { ip_range: $o }|" "$WORK/inventory.yml"
cat >>"$WORK/inventory.yml" <<EOT
  phase3:
    provider: digitalocean
    servers:
      web1: { roles: [base] }
EOT
before=$(cloud_state | jq -c '[.ssh_keys, .vpcs, .firewalls, .droplets | length]')
w0=$(cloud_writes)
bk_run plan3 plan phase3 || bail "plan failed: $(tail -n 20 "$WORK/plan3")"
check "plan of phase3 says up would fail on the overlap" \
	grep -q "! cloud: the inventory's vpc.ip_range $o overlaps VPC shop-default-phase1 ($r1) of this DigitalOcean account.*; up would fail" "$WORK/plan3"
bk_run up4 up phase3 --only cloud
rc=$?
check "up phase3 fails (exit 1, got $rc)" test "$rc" = 1
check "and says why" grep -q "vpc.ip_range $o overlaps VPC shop-default-phase1 ($r1)" "$WORK/up4"
check "nothing of phase3 was made (no write sent)" test "$(cloud_writes)" = "$w0"
check "the account holds what it held" test "$(cloud_state | jq -c '[.ssh_keys, .vpcs, .firewalls, .droplets | length]')" = "$before"
check "phase3 has no state" test "$(jq -r '.environments.default.layouts.phase3.provider_data // {} | length' "$ST")" = 0
sed -i '/^  phase3:$/,$d' "$WORK/inventory.yml"
overlap_refused() {
	local out
	out=$(curl -sS -o /dev/stdout -w ' %{http_code}' -X POST -H @"$CLOUD_DIR/auth-header" \
		-H 'Content-Type: application/json' --data "{\"name\": \"x\", \"region\": \"fra1\", \"ip_range\": \"$o\"}" "$CLOUD_API/v2/vpcs")
	[ "${out##* }" = 422 ] && grep -q overlaps <<<"$out"
}
check "the test server refuses an overlapping VPC itself (HTTP 422)" overlap_refused

# ranges DigitalOcean refuses are errors at their line
line=$(grep -n '^    vpc:' "$WORK/inventory.yml" | cut -d: -f1)
sed -i "s|^    vpc: { ip_range: $o }|    vpc: { ip_range: 8.8.8.0/24 }|" "$WORK/inventory.yml"
cloud_refused public "inventory.yml:$line:22: 'vpc.ip_range' of provider 'digitalocean' must be a private network .* not 8.8.8.0/24" pv plan phase1
sed -i "s|^    vpc: { ip_range: 8.8.8.0/24 }|    vpc: { ip_range: 10.0.0.0/8 }|" "$WORK/inventory.yml"
cloud_refused wide "inventory.yml:$line:22: .* from /16 to /28, not 10.0.0.0/8" pv plan phase1
check "said once, not once per layout" test "$(grep -c 'vpc.ip_range' "$WORK/wide.out")" = 1
sed -i '/^    vpc: /d' "$WORK/inventory.yml"

bk_run destroy3 -e staging destroy phase1 --yes || bail "destroy -e staging phase1 failed: $(tail -n 20 "$WORK/destroy3")"
check "destroy -e staging kept the default environment's volume" \
	test "$(cloud_state | jq -c '[.volumes[].name]')" = '["shop-app1-data"]'
bk_run destroy2 destroy phase2 --yes || bail "destroy phase2 failed: $(tail -n 20 "$WORK/destroy2")"
bk_run destroy1 destroy phase1 --yes || bail "destroy phase1 failed: $(tail -n 20 "$WORK/destroy1")"
PV_LAYOUTS=()
PV_ENV_LAYOUTS=()
check "destroy left no VPC or volume of the project" test "$(cloud_state | jq '[.vpcs[], .volumes[] | select(.name | startswith("shop-"))] | length')" = 0
cloud_clean_end "$WORK"/plan* "$WORK"/up* "$WORK"/destroy* "$WORK"/public.out "$WORK"/wide.out
