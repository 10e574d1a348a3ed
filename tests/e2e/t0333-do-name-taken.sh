#!/usr/bin/env bash
# DigitalOcean: a VPC of the layout's name that the tool did not make (its
# id is not in the state, and no create of it was sent) is not adopted:
# plan names it and says what to do, up stops with the same message and
# leaves it alone, so destroy can never delete it.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
do_start
do_inventory >"$WORK/inventory.yml"
t_uses phase1

vpc=$(cloud_api POST /v2/vpcs '{"name": "shop-default-phase1", "region": "fra1", "ip_range": "10.213.0.0/24"}' | jq -r .vpc.id)
check "the hand-made VPC exists ($vpc)" test -n "$vpc"

pv plan phase1 >"$WORK/plan" 2>&1
check "plan succeeds" test $? = 0
check "plan names the VPC that holds the name, and what to do" \
	grep -qF "! cloud: VPC shop-default-phase1: the name is taken by VPC $vpc, which is not ours (its id is not in this layout's state): rename or delete it" "$WORK/plan"
check "plan does not offer to create it" sh -c "! grep -q '+ cloud: VPC' '$WORK/plan'"

pv up phase1 --only cloud >"$WORK/up" 2>&1
check "up fails (exit 1)" test $? = 1
check "up's error names the VPC holding the name" \
	grep -qF "VPC shop-default-phase1: the name is taken by VPC $vpc, which is not ours" "$WORK/up"
check "up did not adopt it" sh -c "! grep -q '$vpc' '$WORK/.provision/state.json'"
pv destroy phase1 --yes >"$WORK/destroy" 2>&1
check "destroy keeps it" test "$(cloud_state | jq -c '[.vpcs[].id]')" = "[\"$vpc\"]"
PV_LAYOUTS=()
viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
