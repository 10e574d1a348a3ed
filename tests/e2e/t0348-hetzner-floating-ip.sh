#!/usr/bin/env bash
# lb_pair: floating_ip on hetzner, against the Hetzner Cloud API test
# server: up makes one floating IP for the load balancer pair (the layout's
# servers with role keepalived), labelled like everything the tool makes,
# assigned to the pair's first server, recorded in the state; plan names it
# and writes nothing; a second up sends no write; where another client (a
# failover) moved it, up leaves it; one assigned to no server is assigned
# to the first again.  A create or an assign whose answer is lost, or that
# is refused with a 503, is looked for before it is sent again.  destroy
# deletes the tool's own and keeps a hand-made one with the layout's labels.
# A bad value, a pair server without keepalived_api_token, and lb_pair on
# the local provider are refused at their line and column with nothing sent.  The token never shows in output, state or
# process lists; every request follows the specification.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
hcloud_start --shared-host
cat >"$WORK/inventory.yml" <<EOF
project: shop
ssh: { user: admin }
secrets:
  api_token: env:HCLOUD_TOKEN
vars: { ssh_permit_root_login: prohibit-password }
providers:
  hetzner:
    network: { ip_range: $CLOUD_PRIVATE.0/24, subnet: $CLOUD_PRIVATE.0/24, zone: eu-central }
    poll_interval: 0.2
    rotate_host_keys: false
layouts:
  phase1:
    provider: hetzner
    lb_pair: floating_ip
    vars: { keepalived_api_token: api_token }
    servers:
      lb1: { roles: [base, keepalived] }
      lb2: { roles: [base, keepalived] }
      web1: { roles: [base] }
EOF
t_uses phase1
FIP=shop-default-phase1-lb

# refused at the line and column, nothing sent
sed -i 's|^    lb_pair: floating_ip$|    lb_pair: floating|' "$WORK/inventory.yml"
line=$(grep -n '^    lb_pair:' "$WORK/inventory.yml" | cut -d: -f1)
cloud_refused bad-value "inventory.yml:$line:14: 'lb_pair' of layout 'phase1' must be one of 'floating_ip', not 'floating'" pv plan phase1
sed -i 's|^    lb_pair: floating$|    lb_pair: floating_ip|' "$WORK/inventory.yml"
sed -i 's|^      lb2: { roles: \[base, keepalived\] }$|      lb2: { roles: [base] }|' "$WORK/inventory.yml"
cloud_refused one-server "inventory.yml:$line:14: 'lb_pair' of layout 'phase1' needs two servers with role keepalived" pv up phase1 --only cloud
sed -i 's|^      lb2: { roles: \[base\] }$|      lb2: { roles: [base, keepalived] }|' "$WORK/inventory.yml"
sed -i 's|^    vars: { keepalived_api_token: api_token }$|    vars: { keepalived_api_token: "" }|' "$WORK/inventory.yml"
cloud_refused no-token "inventory.yml:$line:14: 'lb_pair' of layout 'phase1': server 'lb1' \(role keepalived\) needs 'keepalived_api_token'" pv plan phase1
sed -i 's|^    vars: { keepalived_api_token: "" }$|    vars: { keepalived_api_token: api_token }|' "$WORK/inventory.yml"
cp "$WORK/inventory.yml" "$WORK/local.yml"
sed -i 's|^    provider: hetzner$|    provider: local|' "$WORK/local.yml"
cloud_refused on-local "local.yml:$line:14: 'lb_pair' of layout 'phase1' means nothing to provider 'local'" \
	"$PROVISION" -i "$WORK/local.yml" --plain plan phase1

# made by hand: a floating IP with the layout's labels but no managed-by mark
lab='{"project": "shop", "env": "default", "layout": "phase1"}'
cloud_api POST /floating_ips "$(jq -n --argjson l "$lab" '{type: "ipv4", name: "handmade-fip", home_location: "fsn1", labels: $l}')" >/dev/null ||
	bail "cannot make the hand-made floating IP"
foreign() { cloud_state | jq -c '[.floating_ips[] | select(.name == "handmade-fip") | .name]'; }
mine() { cloud_state | jq -c '[.floating_ips[] | select(.labels["managed-by"] == "provision")]'; }
sid() { jq -r ".environments.default.layouts.phase1.hosts.$1.server_id" "$WORK/.provision/state.json"; }
on() { cloud_state | jq -r --arg n "$FIP" '.floating_ips[] | select(.name == $n) | .server // "none"'; }
fip_posts() { tail -n +"$(($1 + 1))" "$CLOUD_DIR/api/requests.jsonl" | jq -sc '[.[] | select(.method == "POST" and (.path | startswith("/floating_ips"))) | .path]'; }

bk_plan plan0 "\+ cloud: floating IP $FIP \(ipv4\), assigned to server lb1"

# the create's answer is lost: looked for, adopted, not sent twice
cloud_ctl faults '[{"match": "POST /floating_ips", "kind": "lost", "count": 1}]'
n0=$(cloud_logged)
bk_up up1
check "up1: the lost answer was met" test "$(cloud_stats | jq .faults)" = 1
check "up1: one floating IP of the tool's: $(mine | jq -c 'map(.name)')" test "$(mine | jq length)" = 1
check "up1: the create was sent once: $(fip_posts "$n0")" test "$(fip_posts "$n0")" = '["/floating_ips"]'
check "up1: it says it found what the lost create made" grep -q "but floating IP $FIP exists: adopting it" "$WORK/up1"
check "up1: labelled project, env, layout, managed-by: $(mine | jq -c '.[0].labels')" \
	test "$(mine | jq -c '.[0].labels')" = '{"project":"shop","env":"default","layout":"phase1","managed-by":"provision","resource":"floating-ip"}'
check "up1: assigned to lb1's server ($(sid lb1))" test "$(on)" = "$(sid lb1)"
check "up1: the state records its id and address" \
	test "$(jq -c '.environments.default.layouts.phase1.provider_data | [.floating_ip_id, .floating_ip]' "$WORK/.provision/state.json")" = "$(mine | jq -c '.[0] | [.id, .ip]')"
check "up1: the hand-made one is not adopted" sh -c "! grep -q handmade '$WORK/.provision/state.json'"

bk_up up2
bk_quiet up2
bk_plan plan1 "^plan for layout 'phase1'"
check "plan1: no cloud change to the floating IP" sh -c "! grep -q 'cloud: floating IP' '$WORK/plan1'"

# a failover moved it to lb2 (another client of the project): up leaves it there
fid=$(mine | jq -r '.[0].id')
cloud_api POST "/floating_ips/$fid/actions/assign" "{\"server\": $(sid lb2)}" >/dev/null || bail "cannot assign by hand"
bk_up up3
bk_quiet up3
check "up3: it stays on lb2, where the failover put it" test "$(on)" = "$(sid lb2)"

# on no server: assigned to lb1 again, the assign refused once with a 503
cloud_api POST "/floating_ips/$fid/actions/unassign" >/dev/null || bail "cannot unassign by hand"
bk_plan plan2 "~ cloud: floating IP $FIP \([0-9.]+\): assign to server lb1"
f0=$(cloud_stats | jq .faults)
cloud_ctl faults '[{"match": "POST /floating_ips/{id}/actions/assign", "kind": "status", "status": 503, "count": 1}]'
n0=$(cloud_logged)
bk_up up4
check "up4: the 503 was met" test "$(cloud_stats | jq .faults)" = $((f0 + 1))
check "up4: assigned to lb1 again" test "$(on)" = "$(sid lb1)"
check "up4: the assign was sent twice: $(fip_posts "$n0")" test "$(fip_posts "$n0" | jq length)" = 2
check "up4: it says it looked and tries again" grep -Eq "HTTP 503 .*it is not assigned to it: trying again in" "$WORK/up4"
cloud_check_resend_wait "/floating_ips/$fid/actions/assign"

# again on no server, the assign's answer lost: looked at, not sent twice
cloud_api POST "/floating_ips/$fid/actions/unassign" >/dev/null || bail "cannot unassign by hand"
cloud_ctl faults '[{"match": "POST /floating_ips/{id}/actions/assign", "kind": "lost", "count": 1}]'
n0=$(cloud_logged)
bk_up up5
check "up5: the lost answer was met" test "$(cloud_stats | jq .faults)" = $((f0 + 2))
check "up5: assigned to lb1" test "$(on)" = "$(sid lb1)"
check "up5: the assign was sent once: $(fip_posts "$n0")" test "$(fip_posts "$n0" | jq length)" = 1
check "up5: it says it found it done" grep -q "but the floating IP is assigned to it: going on" "$WORK/up5"

# gone (deleted by hand): made again, the create refused once with a 503
cloud_api DELETE "/floating_ips/$fid" >/dev/null || bail "cannot delete by hand"
cloud_ctl faults '[{"match": "POST /floating_ips", "kind": "status", "status": 503, "count": 1}]'
n0=$(cloud_logged)
bk_up up6
check "up6: the 503 was met" test "$(cloud_stats | jq .faults)" = $((f0 + 3))
check "up6: one floating IP of the tool's, on lb1" test "$(mine | jq length),$(on)" = "1,$(sid lb1)"
check "up6: the create was sent twice: $(fip_posts "$n0")" test "$(fip_posts "$n0")" = '["/floating_ips","/floating_ips"]'
cloud_check_resend_wait /floating_ips
check "up6: the state records the new one" \
	test "$(jq '.environments.default.layouts.phase1.provider_data.floating_ip_id' "$WORK/.provision/state.json")" = "$(mine | jq '.[0].id')"
bk_up up7
bk_quiet up7

bk_run destroy destroy phase1 --yes || bail "destroy failed: $(tail -n 20 "$WORK/destroy")"
PV_LAYOUTS=()
check "destroy: the tool's floating IP is gone" test "$(mine | jq length)" = 0
check "destroy says so" grep -q "deleting floating IP $FIP (id [0-9]*)" "$WORK/destroy"
check "destroy: the hand-made one survives" test "$(foreign)" = '["handmade-fip"]'
check "destroy lists it as not ours, kept" grep -q "not ours, kept: floating IP handmade-fip (id [0-9]*) matches layout 'phase1'" "$WORK/destroy"
cloud_clean_end "$WORK"/plan* "$WORK"/up* "$WORK"/bad-value.out "$WORK"/one-server.out "$WORK"/no-token.out "$WORK/destroy"
