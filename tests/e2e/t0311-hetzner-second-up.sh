#!/usr/bin/env bash
# A second provision up on hetzner finds everything by its labels: not one
# write to the API, nothing changed on the host.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
hcloud_start
hcloud_inventory >"$WORK/inventory.yml"
t_uses phase1

pvj up phase1 >"$WORK/up1.json" 2>"$WORK/up1.err" || bail "first up failed: $(cat "$WORK/up1.err")"
before=$(cloud_writes)
check "the first up wrote to the API ($before writes)" test "$before" -gt 0

pvj up phase1 >"$WORK/up2.json" 2>"$WORK/up2.err" || bail "second up failed: $(cat "$WORK/up2.err")"
after=$(cloud_writes)
check "second up: 0 writes to the API (got $((after - before)))" test "$after" = "$before"
check "second up: 0 changed on the host" test "$(json_total "$WORK/up2.json" changed)" = 0
check "second up says the cloud resources are up to date" grep -q 'cloud resources up to date' "$WORK/up2.json"

pv plan phase1 >"$WORK/plan" 2>&1 || bail "plan failed: $(cat "$WORK/plan")"
check "plan lists no cloud change" sh -c "! grep -q 'cloud:' '$WORK/plan'"

# the state can be lost: everything is found again by its labels, and the
# server, whose host key the tool no longer knows, is refused rather than trusted
cp "$WORK/.provision/state.json" "$WORK/state.keep"
jq 'del(.environments.default.layouts.phase1.provider_data)' "$WORK/state.keep" >"$WORK/.provision/state.json"
pvj up phase1 --only cloud >"$WORK/up3.json" 2>"$WORK/up3.err"
rc=$?
check "without the ids in the state, up adopts by label (exit $rc, 0 writes)" test "$rc" = 0 -a "$(cloud_writes)" = "$before"
jq 'del(.environments.default.layouts.phase1.hosts)' "$WORK/state.keep" >"$WORK/.provision/state.json"
if pvj up phase1 --only cloud >"$WORK/up4.json" 2>"$WORK/up4.err"; then rc=0; else rc=$?; fi
check "a labelled server whose host key is unknown is refused, not trusted" sh -c "[ $rc = 1 ] && jq -r 'select(.event == \"error\") | .message' '$WORK/up4.json' | grep -q 'cannot be trusted'"
check "and nothing was created for it" test "$(cloud_writes)" = "$before"
cp "$WORK/state.keep" "$WORK/.provision/state.json"

# a server type the existing server does not have: shown, never changed behind the operator's back
sed -i 's/^        type: cx22$/        type: cx32/' "$WORK/inventory.yml"
pv plan phase1 >"$WORK/plan2" 2>&1 || bail "plan failed: $(cat "$WORK/plan2")"
check "plan shows the type the server does not have" grep -q '! cloud: server app1 has type cx22, the inventory says cx32' "$WORK/plan2"
pvj up phase1 --only cloud >"$WORK/up5.json" 2>"$WORK/up5.err" || bail "up failed: $(cat "$WORK/up5.err")"
check "up warns and writes nothing" sh -c "grep -q 'has type cx22, the inventory says cx32' '$WORK/up5.json' && [ $(cloud_writes) = $before ]"

# status asks the API what it has of each server, writing nothing
pv status phase1 >"$WORK/status1" 2>&1
rc=$?
check "status shows the server as the API reports it (exit $rc)" \
	sh -c "[ $rc = 0 ] && grep -Eq '^  app1 +server [0-9]+ [0-9.]+: running\$' '$WORK/status1'"
check "status writes nothing to the API" test "$(cloud_writes)" = "$before"
env -u HCLOUD_TOKEN "$PROVISION" -i "$WORK/inventory.yml" status phase1 >"$WORK/status2" 2>&1
check "without a token status says the API was not asked, and why" grep -q '(the cloud API was not asked: .*needs an API token' "$WORK/status2"
id=$(jq -r '.environments.default.layouts.phase1.hosts.app1.server_id' "$WORK/.provision/state.json")
cloud_api DELETE "/servers/$id" >/dev/null || bail "deleting the server through the API failed"
for i in $(seq 100); do cloud_api GET "/servers/$id" >/dev/null 2>&1 || break; sleep 0.2; done
pv status phase1 >"$WORK/status3" 2>&1
rc=$?
check "a server deleted behind the tool's back shows as MISSING and status fails (exit $rc)" \
	sh -c "[ $rc = 1 ] && grep -q 'app1 .*MISSING: the cloud has no server $id' '$WORK/status3'"

viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
