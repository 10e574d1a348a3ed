#!/usr/bin/env bash
# DigitalOcean: a volume attach whose answer is lost (the API attached it)
# or refused with a 503 (it did not): up looks at the volume, goes on when
# it is attached and sends the attach again when not.  One volume, attached
# to the droplet once.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
do_start
do_inventory >"$WORK/inventory.yml"
t_uses phase1

attach_round() {
	local name=$1 kind=$2 extra=$3 want=$4
	cloud_ctl faults "[{\"match\": \"POST /v2/volumes/{volume_id}/actions\", \"kind\": \"$kind\"$extra, \"count\": 1}]"
	pvj up phase1 --only cloud >"$WORK/up-$name.json" 2>"$WORK/up-$name.err" || {
		json_errors "$WORK/up-$name.json" "$WORK/up-$name.err"
		bail "up with a $name on the attach failed"
	}
	check "$name: the fault was met" test "$(cloud_stats | jq .faults)" = "$want"
	check "$name: one volume, attached to the droplet" \
		test "$(cloud_state | jq -c '[.volumes[] | .droplet_ids]')" = "[[$(cloud_state | jq '.droplets[].id')]]"
}
attach_round "lost answer" lost "" 1
check "the lost attach was found done" \
	jq -es '[.[] | select(.message? // "" | test("attaching volume shop-app1-data: .*; but the volume is attached: going on"))] | length == 1' "$WORK/up-lost answer.json"

# detach it by hand, as another client of the project would
vid=$(cloud_state | jq -r '.volumes[].id')
did=$(cloud_state | jq '.droplets[].id')
cloud_api POST "/v2/volumes/$vid/actions" "{\"type\": \"detach\", \"droplet_id\": $did, \"region\": \"fra1\"}" >/dev/null
for _ in $(seq 50); do [ "$(cloud_state | jq -c '.volumes[].droplet_ids')" = "[]" ] && break; sleep 0.2; done
attach_round 503 status ', "status": 503' 2
check "the refused attach was sent again" \
	jq -es '[.[] | select(.message? // "" | test("attaching volume shop-app1-data: HTTP 503 .*; it is not attached: trying again in"))] | length == 1' "$WORK/up-503.json"
viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
