#!/usr/bin/env bash
# DigitalOcean: an SSH key and a volume of the names the layout would give
# its own, made by someone else, are named by plan with what to do (the
# creates would fail), never offered as creates; up stops with the same
# words and leaves them alone.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
do_start
do_inventory >"$WORK/inventory.yml"
t_uses phase1

ssh-keygen -q -t ed25519 -N '' -C other -f "$WORK/other" || bail "ssh-keygen failed"
key=$(cloud_api POST /v2/account/keys "{\"name\": \"shop-default-phase1\", \"public_key\": \"$(cat "$WORK/other.pub")\"}" | jq -r .ssh_key.id)
check "the hand-made SSH key exists ($key)" test -n "$key"
vol=$(cloud_api POST /v2/volumes '{"name": "shop-app1-data", "size_gigabytes": 10, "region": "fra1"}' | jq -r .volume.id)
check "the hand-made volume exists ($vol)" test -n "$vol"

pv plan phase1 >"$WORK/plan" 2>&1
check "plan succeeds" test $? = 0
check "plan names the SSH key that holds the name, and what to do" \
	grep -qF "! cloud: SSH key shop-default-phase1: the name is taken by SSH key $key, which is not ours (its id is not in this layout's state): rename or delete it" "$WORK/plan"
check "plan does not offer to create the SSH key" sh -c "! grep -q '+ cloud: SSH key' '$WORK/plan'"
check "plan names the volume that holds the name" \
	grep -qF "! cloud: a volume named shop-app1-data exists but is not ours (no tags pv:shop:default:phase1 and managed-by:provision); not touching it: rename or delete it; up would fail" "$WORK/plan"
check "plan does not offer to create the volume" sh -c "! grep -q '+ cloud: volume' '$WORK/plan'"
check "plan wrote nothing" test "$(cloud_writes)" = 2

pv up phase1 --only cloud >"$WORK/up" 2>&1
check "up fails (exit 1)" test $? = 1
check "up's error names the SSH key holding the name" \
	grep -qF "SSH key shop-default-phase1: the name is taken by SSH key $key, which is not ours" "$WORK/up"
check "both are left alone" test "$(cloud_state | jq -c '[(.ssh_keys | keys), (.volumes | keys)]')" = "[[\"$key\"],[\"$vol\"]]"
PV_LAYOUTS=()
viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
