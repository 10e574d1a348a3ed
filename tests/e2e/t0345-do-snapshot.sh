#!/usr/bin/env bash
# provision snapshot on DigitalOcean, against the DigitalOcean API test
# server: a snapshot of each droplet (the droplet action snapshot) named
# PROJECT-ENV-LAYOUT-SERVER-YYYYMMDD-HHMMSS, or of one with --host, waited
# for; snapshot list shows the tool's own; with snapshot_keep N the tool's
# oldest snapshots of the droplet beyond N are deleted, and a snapshot of
# the same droplet made by hand (another name) is named and kept.
# Snapshots outlive destroy.  The token never shows in output, state or
# process lists.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

snap_layout do_start do_inventory droplet_id
did1=$ID1
did2=$ID2

# made by hand before the tool's (so the oldest): a snapshot of app1's droplet
cloud_api POST "/v2/droplets/$did1/actions" '{"type": "snapshot", "name": "app1 before the upgrade"}' >/dev/null ||
	bail "cannot make the hand-made snapshot"
for _ in $(seq 1 100); do
	[ "$(cloud_state | jq '.images | length')" = 1 ] && break
	sleep 0.1
done
SNAP_FOREIGN='before the upgrade'
foreign() { cloud_state | jq -c '[.images[] | select(.name == "app1 before the upgrade") | .name]'; }
check "the hand-made snapshot exists" test "$(foreign)" = '["app1 before the upgrade"]'
mine() { cloud_state | jq -c --arg s "$1" '[.images[] | select(.name | test("^shop-default-phase1-" + $s + "-[0-9]{8}-[0-9]{6}$"))] | sort_by(.id) | map(.id)'; }
snap_first "/v2/droplets/$did1/actions" "/v2/droplets/$did2/actions" /v2/actions/
check "app1's is a snapshot of app1's droplet" \
	test "$(cloud_state | jq --argjson i "$(mine app1 | jq '.[0]')" '.droplets[] | select(.snapshot_ids | index($i)) | .id')" = "$did1"

snap_host_keep "/v2/droplets/$did1/actions" /v2/images
check "the hand-made snapshot of app1 is still there" test "$(foreign)" = '["app1 before the upgrade"]'
check "it is named as not made by the tool, and kept" \
	test "$(jq -sc '[.[] | select(.event == "snapshot" and .state == "kept") | .name]' "$WORK/snap3.json")" = '["app1 before the upgrade"]'
sleep 1.1
pv snapshot phase1 --host app1 >"$WORK/snap4" 2>&1 || bail "second snapshot with snapshot_keep failed: $(cat "$WORK/snap4")"
check "plain output: the hand-made one is kept, with why" \
	grep -q "^app1: not ours, kept: snapshot app1 before the upgrade (id [0-9]*, created .*): a snapshot of this droplet not named as the tool names its own" "$WORK/snap4"
check "plain output: the oldest of the tool's is deleted" grep -q "^app1: deleted snapshot shop-default-phase1-app1-" "$WORK/snap4"
check "still 2 of the tool's for app1, and the hand-made one" test "$(mine app1 | jq length):$(foreign)" = '2:["app1 before the upgrade"]'

snap_end many
