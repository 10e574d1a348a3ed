#!/usr/bin/env bash
# suite: extended (the DigitalOcean twin of t0312; make test-all)
# DigitalOcean: the tool dies (SIGKILL) while the API is creating the droplet: the next up
# finds that droplet by its tags and finishes it (no duplicate), the host
# key recorded before the create is the one pinned, and destroy removes it
# (no orphan).
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
do_start
do_inventory >"$WORK/inventory.yml"
t_uses phase1

# the API takes 4 s to act on the create; the tool is killed meanwhile
cloud_ctl faults '[{"match": "POST /v2/droplets", "kind": "delay", "seconds": 4, "count": 1}]'
"$PROVISION" -i "$WORK/inventory.yml" --plain up phase1 --only cloud >"$WORK/up1.out" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
	[ "$(jq -r '.environments.default.layouts.phase1.hosts.app1.status // empty' "$WORK/.provision/state.json" 2>/dev/null)" = creating ] && break
	sleep 0.1
done
sleep 1
kill -KILL "$pid"
wait "$pid" 2>/dev/null
check "the state recorded the droplet as being created before the tool died" test "$(jq -r '.environments.default.layouts.phase1.hosts.app1.status' "$WORK/.provision/state.json")" = creating
check "the state holds the new droplet's host key" sh -c "jq -r '.environments.default.layouts.phase1.hosts.app1.host_key' '$WORK/.provision/state.json' | grep -q '^ssh-ed25519 '"
for _ in $(seq 1 100); do [ "$(cloud_state | jq '.droplets | length')" = 1 ] && break; sleep 0.2; done
check "the API created the droplet after the tool died" test "$(cloud_state | jq '.droplets | length')" = 1

pvj up phase1 >"$WORK/up2.json" 2>"$WORK/up2.err" || bail "up after the crash failed: $(cat "$WORK/up2.err")"
check "up after the crash adopted the droplet" grep -q 'adopting it' "$WORK/up2.json"
check "no duplicate: one droplet" test "$(cloud_state | jq '.droplets | length')" = 1
check "one droplet create was sent in all" test "$(jq -s '[.[] | select(.method == "POST" and .path == "/v2/droplets")] | length' "$CLOUD_DIR/api/requests.jsonl")" = 1
check "the state has the droplet's id" test "$(jq -r '.environments.default.layouts.phase1.hosts.app1.droplet_id' "$WORK/.provision/state.json")" = "$(cloud_state | jq -r '.droplets[].id')"
check "the roles converged on the adopted droplet" test "$(json_total "$WORK/up2.json" failed)" = 0
pinned=$(awk '{print $2, $3}' "$WORK/.provision/known_hosts")
onhost=$(on_host app1 'cat /etc/ssh/ssh_host_ed25519_key.pub' | awk '{print $1, $2}')
check "the pinned key is the host's own key" test -n "$pinned" -a "$pinned" = "$onhost"

pv destroy phase1 --yes >"$WORK/destroy" 2>&1 || bail "destroy failed: $(cat "$WORK/destroy")"
PV_LAYOUTS=()
left=$(do_left shop:default:phase1 shop-default-phase1)
check "no orphan: nothing of the layout is left${left:+: $left}" test -z "$left"
viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
