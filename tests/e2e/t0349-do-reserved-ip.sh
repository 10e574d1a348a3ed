#!/usr/bin/env bash
# lb_pair: floating_ip on DigitalOcean, against the DigitalOcean API test
# server: up makes one reserved IP for the load balancer pair (the layout's
# servers with role keepalived) on the pair's first droplet and records it
# in the state, the only mark a reserved IP can have (no name, no tags);
# plan names it and writes nothing; a second up sends no write; where
# another client (a failover) moved it, up leaves it; one on no droplet is
# assigned to the first again.  A create or an assign whose answer is lost,
# or that is refused with a 503, is looked for before it is sent again.
# destroy unassigns and deletes the tool's own and keeps a hand-made one on
# a droplet of the layout.  The token never shows in output, state or
# process lists; every request follows the specification.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
do_start --shared-host
cat >"$WORK/inventory.yml" <<EOT
project: shop
ssh: { user: admin }
secrets:
  api_token: env:DIGITALOCEAN_TOKEN
vars: { ssh_permit_root_login: prohibit-password }
providers:
  digitalocean:
    vpc: { ip_range: $CLOUD_PRIVATE.0/24 }
    region: fra1
    poll_interval: 0.2
    rotate_host_keys: false
layouts:
  phase1:
    provider: digitalocean
    lb_pair: floating_ip
    vars: { keepalived_api_token: api_token }
    servers:
      lb1: { roles: [base, keepalived] }
      lb2: { roles: [base, keepalived] }
      web1: { roles: [base] }
EOT
t_uses phase1

line=$(grep -n '^    lb_pair:' "$WORK/inventory.yml" | cut -d: -f1)
sed -i 's|^    lb_pair: floating_ip$|    lb_pair: [floating_ip]|' "$WORK/inventory.yml"
cloud_refused bad-value "inventory.yml:$line:14: 'lb_pair' of layout 'phase1' must be" pv plan phase1
sed -i 's|^    lb_pair: \[floating_ip\]$|    lb_pair: floating_ip|' "$WORK/inventory.yml"

STATE_IP='.environments.default.layouts.phase1.provider_data.reserved_ip'
did() { cloud_state | jq -r --arg s "$1" '.droplets[] | select(.name == $s) | .id'; }
ours() { jq -r "$STATE_IP // empty" "$WORK/.provision/state.json"; }
on() { cloud_state | jq -r --arg ip "$(ours)" '.reserved_ips[$ip].droplet_id // "none"'; }
count() { cloud_state | jq '.reserved_ips | length'; }
rip_posts() { tail -n +"$(($1 + 1))" "$CLOUD_DIR/api/requests.jsonl" | jq -sc '[.[] | select(.method == "POST" and (.path | startswith("/v2/reserved_ips"))) | .path]'; }

bk_plan plan0 "\+ cloud: reserved IP for the load balancer pair, on droplet lb1"

# the create's answer is lost: the one on lb1's droplet is adopted, not made twice
cloud_ctl faults '[{"match": "POST /v2/reserved_ips", "kind": "lost", "count": 1}]'
n0=$(cloud_logged)
bk_up up1
check "up1: the lost answer was met" test "$(cloud_stats | jq .faults)" = 1
check "up1: one reserved IP: $(cloud_state | jq -c '.reserved_ips | keys')" test "$(count)" = 1
check "up1: the create was sent once: $(rip_posts "$n0")" test "$(rip_posts "$n0")" = '["/v2/reserved_ips"]'
check "up1: it says it found what the lost create made" grep -q "but reserved IP on droplet $(did lb1) exists: adopting it" "$WORK/up1"
check "up1: the state records it: $(ours)" test "$(ours)" = "$(cloud_state | jq -r '.reserved_ips | keys[0]')"
check "up1: on lb1's droplet ($(did lb1))" test "$(on)" = "$(did lb1)"

bk_up up2
bk_quiet up2
bk_plan plan1 "^plan for layout 'phase1'"
check "plan1: no cloud change to the reserved IP" sh -c "! grep -q 'cloud: reserved IP' '$WORK/plan1'"

# a failover moved it to lb2 (another client of the project): up leaves it there
ip=$(ours)
cloud_api POST "/v2/reserved_ips/$ip/actions" "{\"type\": \"assign\", \"droplet_id\": $(did lb2)}" >/dev/null || bail "cannot assign by hand"
bk_up up3
bk_quiet up3
check "up3: it stays on lb2, where the failover put it" test "$(on)" = "$(did lb2)"

# on no droplet: assigned to lb1 again, the assign refused once with a 503
cloud_api POST "/v2/reserved_ips/$ip/actions" '{"type": "unassign"}' >/dev/null || bail "cannot unassign by hand"
bk_plan plan2 "~ cloud: reserved IP $ip: assign to droplet lb1"
f0=$(cloud_stats | jq .faults)
cloud_ctl faults '[{"match": "POST /v2/reserved_ips/{reserved_ip}/actions", "kind": "status", "status": 503, "count": 1}]'
n0=$(cloud_logged)
bk_up up4
check "up4: the 503 was met" test "$(cloud_stats | jq .faults)" = $((f0 + 1))
check "up4: on lb1 again" test "$(on)" = "$(did lb1)"
check "up4: the assign was sent twice: $(rip_posts "$n0")" test "$(rip_posts "$n0" | jq length)" = 2
check "up4: it says it looked and tries again" grep -Eq "HTTP 503 .*it is not assigned to it: trying again in" "$WORK/up4"
cloud_check_resend_wait "/v2/reserved_ips/$ip/actions"

# again on no droplet, the assign's answer lost: looked at, not sent twice
cloud_api POST "/v2/reserved_ips/$ip/actions" '{"type": "unassign"}' >/dev/null || bail "cannot unassign by hand"
cloud_ctl faults '[{"match": "POST /v2/reserved_ips/{reserved_ip}/actions", "kind": "lost", "count": 1}]'
n0=$(cloud_logged)
bk_up up5
check "up5: the lost answer was met" test "$(cloud_stats | jq .faults)" = $((f0 + 2))
check "up5: on lb1" test "$(on)" = "$(did lb1)"
check "up5: the assign was sent once: $(rip_posts "$n0")" test "$(rip_posts "$n0" | jq length)" = 1
check "up5: it says it found it done" grep -q "but the reserved IP is assigned to it: going on" "$WORK/up5"

# gone (deleted by hand): made again, the create refused once with a 503
cloud_api DELETE "/v2/reserved_ips/$ip" >/dev/null || bail "cannot delete by hand"
cloud_ctl faults '[{"match": "POST /v2/reserved_ips", "kind": "status", "status": 503, "count": 1}]'
n0=$(cloud_logged)
bk_up up6
check "up6: the 503 was met" test "$(cloud_stats | jq .faults)" = $((f0 + 3))
check "up6: one reserved IP, on lb1" test "$(count),$(on)" = "1,$(did lb1)"
check "up6: the create was sent twice: $(rip_posts "$n0")" test "$(rip_posts "$n0")" = '["/v2/reserved_ips","/v2/reserved_ips"]'
cloud_check_resend_wait /v2/reserved_ips
check "up6: the state records the new one" test "$(ours)" = "$(cloud_state | jq -r '.reserved_ips | keys[0]')"
bk_up up7
bk_quiet up7

# made by hand on web1's droplet: the layout's, but not the tool's
foreign=$(cloud_api POST /v2/reserved_ips "{\"droplet_id\": $(did web1)}" | jq -r .reserved_ip.ip)
[ -n "$foreign" ] || bail "cannot make the hand-made reserved IP"
mine=$(ours)
bk_up up8
bk_quiet up8
check "up8: the hand-made one is not adopted" test "$(ours)" = "$mine"

n0=$(cloud_logged)
bk_run destroy destroy phase1 --yes || bail "destroy failed: $(tail -n 20 "$WORK/destroy")"
PV_LAYOUTS=()
check "destroy: the tool's reserved IP is gone" test "$(cloud_state | jq --arg ip "$mine" '.reserved_ips | has($ip)')" = false
check "destroy says so" grep -q "deleting reserved IP on droplet [0-9]* (id $mine)" "$WORK/destroy"
check "destroy unassigned it first" \
	test "$(tail -n +"$((n0 + 1))" "$CLOUD_DIR/api/requests.jsonl" | jq -sc --arg p "/v2/reserved_ips/$mine" '[.[] | select(.method != "GET" and (.path | startswith($p))) | .method + " " + .path]')" = "[\"POST /v2/reserved_ips/$mine/actions\",\"DELETE /v2/reserved_ips/$mine\"]"
check "destroy: the hand-made one survives" test "$(cloud_state | jq -c '.reserved_ips | keys')" = "[\"$foreign\"]"
check "destroy lists it as not ours, kept" grep -q "not ours, kept: reserved IP on droplet [0-9]* (id $foreign)" "$WORK/destroy"
check "the state no longer names a reserved IP" test -z "$(jq -r "$STATE_IP // empty" "$WORK/.provision/state.json" 2>/dev/null)"
cloud_clean_end "$WORK"/plan* "$WORK"/up* "$WORK"/bad-value.out "$WORK/destroy"
