#!/usr/bin/env bash
# DigitalOcean, answers lost or refused: a droplet create whose answer is
# lost is found by its tags; a VPC create refused with 503 is looked for,
# then sent again after a wait; 500s and dropped connections on reads are retried;
# a create action that errors stops the run.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
do_start
do_inventory >"$WORK/inventory.yml"
t_uses phase1

cloud_ctl faults '[{"match": "POST /v2/vpcs", "kind": "status", "status": 503, "count": 1},
	{"match": "POST /v2/droplets", "kind": "lost", "count": 1},
	{"match": "GET /v2/droplets", "kind": "status", "status": 500, "count": 2},
	{"match": "GET /v2/actions/{action_id}", "kind": "drop", "count": 2}]'
pvj up phase1 --only cloud >"$WORK/up1.json" 2>"$WORK/up1.err" || bail "up failed: $(cat "$WORK/up1.err")"
check "a create refused with 503 is looked for, then sent again after a wait" \
	grep -q 'HTTP 503 service_unavailable.*it does not exist: trying again in' "$WORK/up1.json"
check "the lost create was found by its tags" grep -q 'creating droplet app1: .*; but droplet app1 exists: adopting it' "$WORK/up1.json"
check "one droplet, one VPC" test "$(cloud_state | jq -c '[(.droplets | length), (.vpcs | length)]')" = "[1,1]"
check "every injected fault was met" test "$(cloud_stats | jq .faults)" = 6
pinned=$(awk '{print $2, $3}' "$WORK/.provision/known_hosts")
onhost=$(on_host app1 'cat /etc/ssh/ssh_host_ed25519_key.pub' | awk '{print $1, $2}')
check "the adopted droplet is reached with its pinned key" test -n "$pinned" -a "$pinned" = "$onhost"

# a second server whose create action errors
sed -i 's/^        volumes: \[{ name: data, size: 10 }\]$/        volumes: [{ name: data, size: 10 }]\n      app2: { roles: [base] }/' "$WORK/inventory.yml"
cloud_ctl faults '[{"match": "POST /v2/droplets", "kind": "action_error", "count": 1}]'
if pvj up phase1 --only cloud >"$WORK/up2.json" 2>"$WORK/up2.err"; then rc=0; else rc=$?; fi
check "a create action that errors fails the run" test "$rc" = 1
check "the error names the action and its status" sh -c "jq -r 'select(.event == \"error\") | .message' '$WORK/up2.json' | grep -q 'droplet app2: action [0-9]* (create) errored'"
check "the errored droplet's id is in the state, so destroy finds it" test "$(jq -r '.environments.default.layouts.phase1.hosts.app2.droplet_id' "$WORK/.provision/state.json")" -gt 0
viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
