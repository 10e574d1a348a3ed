#!/usr/bin/env bash
# A name the layout needs is taken by a resource that is not ours: plan
# says so, with the resource and what to do; up stops at the 409 with a
# message naming the resource that holds the name, and touches it not.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
hcloud_start
hcloud_inventory >"$WORK/inventory.yml"
t_uses phase1

net=$(cloud_api POST /networks "{\"name\": \"shop-default-phase1\", \"ip_range\": \"10.213.0.0/24\"}" | jq .network.id)
vol=$(cloud_api POST /volumes '{"name": "shop-default-phase1-app1-data", "size": 10, "location": "fsn1", "labels": {"project": "shop", "env": "default", "layout": "phase1"}}' | jq .volume.id)
check "the hand-made network and volume exist ($net, $vol)" test "$net" -gt 0 -a "$vol" -gt 0

pv plan phase1 >"$WORK/plan" 2>&1
check "plan succeeds" test $? = 0
check "plan names the network that holds the name, and what to do" \
	grep -qF "! cloud: network shop-default-phase1: the name is taken by network $net, which is not ours (it does not carry this layout's labels); up would fail: rename or delete it" "$WORK/plan"
check "plan names the volume: labelled for the layout but without managed-by" \
	grep -qF "! cloud: volume shop-default-phase1-app1-data: the name is taken by volume $vol, which is not ours (it has this layout's labels but not managed-by=provision)" "$WORK/plan"
check "plan does not offer to create them" sh -c "! grep -q '+ cloud: network\|+ cloud: volume' '$WORK/plan'"
check "plan still offers what is free" grep -q '+ cloud: SSH key shop-default-phase1' "$WORK/plan"

pv up phase1 --only cloud >"$WORK/up" 2>&1
check "up fails (exit 1)" test $? = 1
check "up's error names the network holding the name" \
	grep -qF "network shop-default-phase1: the name is taken by network $net, which is not ours" "$WORK/up"
check "the hand-made network is untouched, and alone" \
	test "$(cloud_state | jq -c '[.networks[] | [.id, .labels]]')" = "[[$net,{}]]"

cloud_api DELETE "/networks/$net" >/dev/null
cloud_api DELETE "/volumes/$vol" >/dev/null
viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
