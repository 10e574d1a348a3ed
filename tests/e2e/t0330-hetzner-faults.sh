#!/usr/bin/env bash
# Every create and every delete on hetzner survives a lost answer and a
# 503: up looks for the resource by its labels, adopts it or sends again
# after a wait; destroy accepts what is already gone or detached.  Each run
# ends with exactly the resources expected: none twice, none left over.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
hcloud_start
hcloud_inventory >"$WORK/inventory.yml"
sed -i 's/^    poll_interval: 0.2$/    poll_interval: 0.2\n    load_balancer: { targets: [app1] }/' "$WORK/inventory.yml"
t_uses phase1

creates="/ssh_keys /networks /firewalls /servers /volumes /load_balancers"
deletes="DELETE /load_balancers/{id}|DELETE /volumes/{id}|POST /volumes/{id}/actions/detach|DELETE /servers/{id}|DELETE /firewalls/{id}|DELETE /networks/{id}|DELETE /ssh_keys/{id}"
# faults KIND JSON-EXTRA MATCH...: one fault of KIND on the first request of each MATCH
faults() {
	local kind=$1 extra=$2 m list=
	shift 2
	for m in "$@"; do list="$list${list:+,}{\"match\": \"$m\", \"kind\": \"$kind\"$extra, \"count\": 1}"; done
	cloud_ctl faults "[$list]"
}
counts() { cloud_state | jq -c '[.ssh_keys, .networks, .firewalls, .servers, .volumes, .load_balancers | length]'; }
round() {
	local name=$1 kind=$2 extra=$3 m before
	local -a cm=() dm=()
	for m in $creates; do cm+=("POST $m"); done
	IFS='|' read -r -a dm <<<"$deletes"

	before=$(cloud_stats | jq .faults)
	faults "$kind" "$extra" "${cm[@]}"
	pv up phase1 --only cloud >"$WORK/up-$name" 2>&1
	check "up with a $name on every create succeeds" test $? = 0
	check "up: each create's $name was met ($(($(cloud_stats | jq .faults) - before)) of 6)" \
		test "$(cloud_stats | jq .faults)" = $((before + 6))
	check "up: one of each resource, none twice: $(counts)" test "$(counts)" = "[1,1,1,1,1,1]"
	pv up phase1 --only cloud >"$WORK/up2-$name" 2>&1
	check "a second up finds everything and makes nothing" sh -c "! grep -q 'creating' '$WORK/up2-$name'"

	before=$(cloud_stats | jq .faults)
	faults "$kind" "$extra" "${dm[@]}"
	pv destroy phase1 --yes >"$WORK/destroy-$name" 2>&1
	check "destroy with a $name on every delete and the detach succeeds" test $? = 0
	check "destroy: each $name was met ($(($(cloud_stats | jq .faults) - before)) of 7)" \
		test "$(cloud_stats | jq .faults)" = $((before + 7))
	check "destroy: nothing is left: $(counts)" test "$(counts)" = "[0,0,0,0,0,0]"
}

round "lost answer" lost ""
round "503" status ', "status": 503'
PV_LAYOUTS=()
gap=$(jq -s '[.[] | select(.method == "POST" and .path == "/servers")] | .[-2:] | .[1].t - .[0].t' "$CLOUD_DIR/api/requests.jsonl")
check "a create after a 503 is sent again after a wait, not at once (${gap} s)" jq -en "$gap >= 0.5"
viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
