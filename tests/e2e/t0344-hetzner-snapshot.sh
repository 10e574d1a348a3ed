#!/usr/bin/env bash
# provision snapshot on hetzner, against the Hetzner Cloud API test server:
# a labelled snapshot (create_image of type snapshot) of each server, or of
# one with --host, waited for; snapshot list shows the tool's own; with
# snapshot_keep N the tool's oldest snapshots of the server beyond N are
# deleted, and a hand-made snapshot of the same server or one with
# look-alike labels but no managed-by mark is named and kept.  A create
# whose answer is lost is looked for and adopted, not sent twice.  Snapshots
# outlive destroy.  The token never shows in output, state or process lists.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

snap_layout hcloud_start hcloud_inventory server_id
sid1=$ID1
sid2=$ID2

# made by hand before the tool's: a snapshot of app1 with no labels, and one
# with the layout's and the server's labels but no managed-by mark; both are
# older than any of the tool's, so a retention that took them for its own
# would delete them first
cloud_api POST "/servers/$sid1/actions/create_image" '{"type": "snapshot", "description": "before the upgrade"}' >/dev/null ||
	bail "cannot make the hand-made snapshot"
cloud_api POST "/servers/$sid1/actions/create_image" \
	'{"type": "snapshot", "description": "look-alike", "labels": {"project": "shop", "env": "default", "layout": "phase1", "server": "app1", "resource": "snapshot"}}' >/dev/null ||
	bail "cannot make the look-alike snapshot"
SNAP_FOREIGN='look-alike|before the upgrade'
foreign() { cloud_state | jq -c '[.images[] | select(.description == "before the upgrade" or .description == "look-alike") | .description] | sort'; }
check "the two hand-made snapshots exist" test "$(foreign)" = '["before the upgrade","look-alike"]'
mine() { cloud_state | jq -c --arg s "$1" '[.images[] | select(.labels["managed-by"] == "provision" and .labels.server == $s)] | sort_by(.id) | map(.id)'; }
snap_first "/servers/$sid1/actions/create_image" "/servers/$sid2/actions/create_image" /actions/
img=$(cloud_state | jq -c '.images[] | select(.labels["managed-by"] == "provision" and .labels.server == "app1")')
check "labelled: project, env, layout, server, managed-by: $(jq -c .labels <<<"$img")" \
	test "$(jq -c .labels <<<"$img")" = '{"project":"shop","env":"default","layout":"phase1","managed-by":"provision","resource":"snapshot","server":"app1"}'
check "of type snapshot, from server app1, available" \
	test "$(jq -c '[.type, .created_from.id, .status]' <<<"$img")" = "[\"snapshot\",$sid1,\"available\"]"
check "described with its name: shop-default-phase1-app1-YYYYMMDD-HHMMSS" \
	jq -e '.description | test("^shop-default-phase1-app1-[0-9]{8}-[0-9]{6}$")' <<<"$img"
check "the event names it as the cloud does" \
	test "$(jq -rs '.[] | select(.event == "snapshot" and .host == "app1") | .name' "$WORK/snap1.json")" = "$(jq -r .description <<<"$img")"

snap_host_keep "/servers/$sid1/actions/create_image" /images
check "the hand-made and the look-alike snapshot of app1 are both still there" test "$(foreign)" = '["before the upgrade","look-alike"]'
check "both are named as not made by the tool, and kept" \
	test "$(jq -sc '[.[] | select(.event == "snapshot" and .state == "kept") | .name] | sort' "$WORK/snap3.json")" = '["before the upgrade","look-alike"]'
sleep 1.1
pv snapshot phase1 --host app1 >"$WORK/snap4" 2>&1 || bail "second snapshot with snapshot_keep failed: $(cat "$WORK/snap4")"
check "plain output: the look-alike is kept, with why" \
	grep -q "^app1: not ours, kept: snapshot look-alike (id [0-9]*, created .*): it has this layout's labels but not managed-by=provision" "$WORK/snap4"
check "plain output: the hand-made one is kept, with why" \
	grep -q "^app1: not ours, kept: snapshot before the upgrade (id [0-9]*, created .*): a snapshot of this server the tool did not make" "$WORK/snap4"
check "plain output: the oldest of the tool's is deleted" grep -q "^app1: deleted snapshot shop-default-phase1-app1-" "$WORK/snap4"
check "still 2 of the tool's for app1, and the foreign two" test "$(mine app1 | jq length):$(foreign)" = '2:["before the upgrade","look-alike"]'

# --- a create_image whose answer is lost: looked for by its name and adopted, not made twice
cloud_ctl faults '[{"match": "POST /servers/{id}/actions/create_image", "kind": "lost", "count": 1}]'
sleep 1.1
n0=$(cloud_logged)
pv snapshot phase1 --host app2 >"$WORK/snap5" 2>&1 || bail "snapshot with a lost answer failed: $(cat "$WORK/snap5")"
check "the create_image was sent once: $(snap_sent "$n0" POST)" test "$(snap_sent "$n0" POST)" = "[\"/servers/$sid2/actions/create_image\"]"
check "the lost answer was met" test "$(cloud_stats | jq .faults)" = 1
check "the snapshot made without an answer is adopted: $(grep -c 'adopting it' "$WORK/snap5") line" grep -q "exists: adopting it" "$WORK/snap5"
check "app2 has 2 of the tool's snapshots, nothing deleted" test "$(mine app2 | jq length)" = 2

# --- refused before any request
cloud_refused nohost "'web9' is not a server of layout 'phase1'" pv snapshot phase1 --host web9
cat >"$WORK/local.yml" <<-EOF
	project: shop
	layouts:
	  lab:
	    provider: local
	    servers: { web1: { roles: [base] } }
EOF
cloud_refused local "layout 'lab' runs on provider 'local', which has no snapshots" \
	"$PROVISION" -i "$WORK/local.yml" --plain snapshot lab

snap_end 0
