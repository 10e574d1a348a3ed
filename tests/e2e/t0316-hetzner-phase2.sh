#!/usr/bin/env bash
# Phase 2 on hetzner, cloud part only: web and database servers on one
# private network, a load balancer (HTTP with a health check on the app's
# path, HTTPS passed through) targeting the web servers by label, and a
# firewall that opens 22/80/443 to all and the database port only to the
# private network.  A new health path, load balancer type or list of
# targets is changed in place.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
hcloud_start
cloud_dbport_role
cat >"$WORK/inventory.yml" <<-EOF2
	project: shop
	providers:
	  hetzner:
	    network: { ip_range: $CLOUD_PRIVATE.0/24, subnet: $CLOUD_PRIVATE.0/24 }
	    load_balancer: { type: lb11, health_path: /up, targets: [web1, web2] }
	    poll_interval: 0.2
	layouts:
	  phase2:
	    provider: hetzner
	    servers:
	      web1: { roles: [base, ufw], type: cx22 }
	      web2: { roles: [base, ufw], type: cx22 }
	      db1: { roles: [base, ufw, dbport], type: cx32, volumes: [{ name: pgdata, size: 20, mount: /srv/pg, filesystem: xfs }] }
EOF2
t_uses phase2

pv validate phase2 >"$WORK/validate" 2>&1 || bail "validate failed: $(cat "$WORK/validate")"
pv plan phase2 >"$WORK/plan" 2>&1 || bail "plan failed: $(cat "$WORK/plan")"
check "plan lists the load balancer" grep -q '+ cloud: load balancer shop-default-phase2-lb' "$WORK/plan"
check "plan lists three servers" test "$(grep -c '+ cloud: server ' "$WORK/plan")" = 3
pvj up phase2 --only cloud >"$WORK/up.json" 2>"$WORK/up.err" || bail "up failed: $(json_errors "$WORK/up.json" "$WORK/up.err")"
check "--only cloud stops before SSH" sh -c "! jq -e 'select(.event == \"host_done\")' '$WORK/up.json' >/dev/null"
state=$(cloud_state)
lb=$(jq -c '.load_balancers[]' <<<"$state")
check "one load balancer" test "$(jq '.load_balancers | length' <<<"$state")" = 1
check "HTTP 80 -> 80 with a health check on /up" test "$(jq -c '[.services[] | select(.protocol == "http") | [.listen_port, .destination_port, .health_check.http.path]]' <<<"$lb")" = '[[80,80,"/up"]]'
check "HTTPS 443 passed through to 443" test "$(jq -c '[.services[] | select(.protocol == "tcp") | [.listen_port, .destination_port]]' <<<"$lb")" = '[[443,443]]'
check "the load balancer is on the private network" test "$(jq '.private_net | length' <<<"$lb")" = 1
# the load balancer's own selector ("k==v,k==v"), evaluated here against every server's labels
sel=$(jq -r '.targets[0].label_selector.selector // empty' <<<"$lb")
targets=$(jq -r --arg sel "$sel" '($sel | split(",") | map(split("=="))) as $terms
	| .servers[] | select(.labels as $l | all($terms[]; length == 2 and $l[.[0]] == .[1])) | .labels.server' <<<"$state" | sort | tr '\n' ' ')
check "its selector '$sel' picks exactly the web servers: $targets" test -n "$sel" -a "$targets" = "web1 web2 "
fw=$(jq -c '.firewalls[].rules' <<<"$state")
check "the firewall opens 5432 only to the private network" test "$(jq -c '[.[] | select(.port == "5432") | .source_ips]' <<<"$fw")" = "[[\"$CLOUD_PRIVATE.0/24\"]]"
check "the firewall opens 22, 80, 443 to all" test "$(jq -c '[.[] | select(.source_ips == ["0.0.0.0/0", "::/0"] and .protocol == "tcp") | .port] | sort' <<<"$fw")" = '["22","443","80"]'
check "db1's volume is attached to db1" test "$(jq -r --argjson id "$(jq '.servers[] | select(.labels.server == "db1") | .id' <<<"$state")" '.volumes[] | select(.server == $id) | .name' <<<"$state")" = shop-default-phase2-db1-pgdata
check "db1's volume is made with the inventory's filesystem (format xfs)" \
	test "$(jq -r '.volumes[] | select(.name == "shop-default-phase2-db1-pgdata") | .format' <<<"$state")" = xfs
pvj up phase2 --only cloud >"$WORK/up2.json" 2>"$WORK/up2.err" || bail "second up failed"
check "a second up changes nothing in the cloud" grep -q 'cloud resources up to date' "$WORK/up2.json"
# the app's health path changes: the load balancer's check follows
sed -i 's|health_path: /up|health_path: /healthz|' "$WORK/inventory.yml"
pv plan phase2 >"$WORK/plan2" 2>&1 || bail "plan failed: $(cat "$WORK/plan2")"
check "plan shows the new health check path" grep -q '~ cloud: load balancer shop-default-phase2-lb: health check path /up -> /healthz' "$WORK/plan2"
pvj up phase2 --only cloud >"$WORK/up3.json" 2>"$WORK/up3.err" || bail "up failed: $(cat "$WORK/up3.err")"
check "up changed the health check in place" test "$(cloud_state | jq -r '[.load_balancers[].services[] | select(.listen_port == 80) | .health_check.http.path] | join(",")')" = /healthz
check "still one load balancer" test "$(cloud_state | jq '.load_balancers | length')" = 1
# a bigger load balancer, web2 out of its targets and db1 in: changed in place
sed -i 's|type: lb11, health_path: /healthz, targets: \[web1, web2\]|type: lb21, health_path: /healthz, targets: [web1, db1]|' "$WORK/inventory.yml"
pv plan phase2 >"$WORK/plan3" 2>&1 || bail "plan failed: $(cat "$WORK/plan3")"
check "plan shows the new type" grep -q '~ cloud: load balancer shop-default-phase2-lb: type lb11 -> lb21' "$WORK/plan3"
check "plan shows web2 leaving the targets" grep -q "~ cloud: server web2 leaves the load balancer's targets" "$WORK/plan3"
check "plan shows db1 joining them" grep -q "~ cloud: server db1 joins the load balancer's targets" "$WORK/plan3"
check "plan says nothing of web1" sh -c "! grep -q 'server web1' '$WORK/plan3'"
pvj up phase2 --only cloud >"$WORK/up4.json" 2>"$WORK/up4.err" || bail "up failed: $(json_errors "$WORK/up4.json" "$WORK/up4.err")"
state=$(cloud_state)
check "the same load balancer, now lb21" test "$(jq -c '[.load_balancers[] | [.id, .load_balancer_type.name]]' <<<"$state")" = "[[$(jq .id <<<"$lb"),\"lb21\"]]"
targets=$(jq -r --arg sel "$sel" '($sel | split(",") | map(split("=="))) as $terms
	| .servers[] | select(.labels as $l | all($terms[]; length == 2 and $l[.[0]] == .[1])) | .labels.server' <<<"$state" | sort | tr '\n' ' ')
check "its selector now picks web1 and db1: $targets" test "$targets" = "db1 web1 "
check "the servers keep their other labels: $(jq -c '[.servers[] | .labels | del(.["lb-target"]) | keys] | unique' <<<"$state")" test "$(jq -c '[.servers[] | .labels | del(.["lb-target"]) | keys] | unique' <<<"$state")" = '[["env","layout","managed-by","project","resource","server"]]'
pvj up phase2 --only cloud >"$WORK/up5.json" 2>"$WORK/up5.err" || bail "up failed: $(cat "$WORK/up5.err")"
check "the up after that changes nothing in the cloud" grep -q 'cloud resources up to date' "$WORK/up5.json"
viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
