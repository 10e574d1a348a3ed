#!/usr/bin/env bash
# Creates whose answers are lost or refused: the API creates the server but
# the connection closes before the answer; the API fails with 503 before
# acting; a read takes longer than the tool waits.  up looks by label before creating again: one server, no orphan.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
hcloud_start
hcloud_inventory >"$WORK/inventory.yml"
t_uses phase1

# one request takes longer than the tool waits for an answer (request_timeout: 1)
sed -i 's/^    poll_interval: 0.2$/    poll_interval: 0.2\n    request_timeout: 1/' "$WORK/inventory.yml"
cloud_ctl faults '[{"match": "POST /servers", "kind": "lost", "count": 1},
	{"match": "GET /firewalls", "kind": "delay", "seconds": 3, "count": 1},
	{"match": "POST /networks", "kind": "status", "status": 503, "count": 1},
	{"match": "GET /servers", "kind": "status", "status": 500, "count": 2},
	{"match": "GET /actions/{id}", "kind": "drop", "count": 2}]'
if pvj up phase1 --only cloud >"$WORK/up0.json" 2>"$WORK/up0.err"; then rc=0; else rc=$?; fi
# a POST refused with 503 is not repeated blindly: looked for first, then sent again after a wait
check "a create refused with 503 is looked for, then sent again: the run goes on (got $rc)" \
	sh -c "[ $rc = 0 ] && grep -q 'HTTP 503 unavailable.*it does not exist: trying again in' '$WORK/up0.json'"
pvj up phase1 --only cloud >"$WORK/up1.json" 2>"$WORK/up1.err" || bail "second up failed: $(cat "$WORK/up1.err")"
check "the lost create was found by its labels" grep -q 'creating server app1.phase1.default.shop: .*; but server app1.phase1.default.shop exists: adopting it' "$WORK/up0.json"
check "one server, one network" test "$(cloud_state | jq -c '[(.servers | length), (.networks | length)]')" = "[1,1]"
check "the 500s, the timeout and dropped connections on GET were retried" test "$(cloud_stats | jq .faults)" = 7
# the server logs the delayed request only once its delay is over, which
# can be after the run has finished
fw_gets() { jq -s '[.[] | select(.method == "GET" and .path == "/firewalls")] | length' "$CLOUD_DIR/api/requests.jsonl"; }
for i in $(seq 50); do [ "$(fw_gets)" -ge 2 ] && break; sleep 0.1; done
check "the request that timed out was sent again" test "$(fw_gets)" -ge 2
pinned=$(awk '{print $2, $3}' "$WORK/.provision/known_hosts")
onhost=$(on_host app1 'cat /etc/ssh/ssh_host_ed25519_key.pub' | awk '{print $1, $2}')
check "the adopted server is reached with its pinned key" test -n "$pinned" -a "$pinned" = "$onhost"

# someone empties the firewall rules in the console; putting them back is an
# action, and one that ends in error stops the run with its code and message
cloud_state | jq -c '.firewalls[] | .id' >"$WORK/fwid"
cloud_api POST "/firewalls/$(cat "$WORK/fwid")/actions/set_rules" '{"rules": []}' >/dev/null
sleep 2
cloud_ctl faults '[{"match": "POST /firewalls/{id}/actions/set_rules", "kind": "action_error", "count": 1}]'
if pvj up phase1 --only cloud >"$WORK/up2.json" 2>"$WORK/up2.err"; then rc=0; else rc=$?; fi
check "an action ending in error fails the run" test "$rc" = 1
check "the error names the action's code and message" sh -c "jq -r 'select(.event == \"error\") | .message' '$WORK/up2.json' | grep -q 'action_failed: the action failed (injected fault)'"
pvj up phase1 --only cloud >"$WORK/up3.json" 2>"$WORK/up3.err" || bail "up after the failed action failed: $(cat "$WORK/up3.err")"
check "the next up puts the firewall rules back" test "$(cloud_state | jq '[.firewalls[].rules[]] | length')" -gt 0
bad=$(/usr/bin/python3 "$ROOT/tests/helpers/check-events.py" "$ROOT/doc/events.schema.json" "$WORK"/up[0-3].json 2>&1)
check "up --json through faults, the failed run too: every line validates against the schema${bad:+: $bad}" test -z "$bad"

viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
