#!/usr/bin/env bash
# destroy on hetzner deletes only what is ours: what the state records or
# what carries managed-by=provision.  A volume, an SSH key and a server made
# by hand with the layout's project/env/layout labels (no managed-by, not
# in the state) are listed as "not ours, kept" and survive; up does not
# adopt them either.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
hcloud_start
hcloud_inventory >"$WORK/inventory.yml"
t_uses phase1

lab='{"project": "shop", "env": "default", "layout": "phase1"}'
ssh-keygen -q -t ed25519 -N '' -C handmade -f "$WORK/handmade" >/dev/null
cloud_api POST /ssh_keys "$(jq -n --arg k "$(cat "$WORK/handmade.pub")" --argjson l "$lab" '{name: "handmade-key", public_key: $k, labels: $l}')" >/dev/null ||
	bail "cannot make the hand-made SSH key"
cloud_api POST /volumes "$(jq -n --argjson l "$lab" '{name: "handmade-vol", size: 10, location: "fsn1", labels: $l}')" >/dev/null ||
	bail "cannot make the hand-made volume"
cloud_api POST /servers "$(jq -n --argjson l "$lab" '{name: "handmade-srv", server_type: "cx22", image: "debian-12", location: "fsn1", labels: $l, user_data: "#cloud-config\nhostname: handmade\n"}')" >/dev/null ||
	bail "cannot make the hand-made server"
# booted before anything else happens, so that no teardown races its boot
for _ in $(seq 1 100); do
	[ "$(cloud_state | jq -r '.servers[] | select(.name == "handmade-srv") | .status')" = running ] && break
	sleep 0.2
done
foreign() { cloud_state | jq -c '[.ssh_keys[], .volumes[], .servers[] | select(.name | startswith("handmade")) | .name] | sort'; }
check "the hand-made resources exist" test "$(foreign)" = '["handmade-key","handmade-srv","handmade-vol"]'

pv up phase1 --only cloud >"$WORK/up" 2>&1 || bail "up failed: $(cat "$WORK/up")"
check "up adopted none of them" sh -c "! grep -q 'handmade' '$WORK/.provision/state.json'"
check "up made its own server" test "$(cloud_state | jq '[.servers[] | select(.labels["managed-by"] == "provision")] | length')" = 1

pv destroy phase1 --yes >"$WORK/destroy" 2>&1 || bail "destroy failed: $(cat "$WORK/destroy")"
PV_LAYOUTS=()
check "the hand-made volume, key and server survive" test "$(foreign)" = '["handmade-key","handmade-srv","handmade-vol"]'
for k in "volume handmade-vol" "server handmade-srv" "SSH key handmade-key"; do
	check "destroy lists $k as not ours, kept" grep -q "not ours, kept: $k (id [0-9]*) matches layout 'phase1'" "$WORK/destroy"
done
for k in "volume shop-default-phase1-app1-data" "server app1.phase1.default.shop" "firewall shop-default-phase1" \
	"network shop-default-phase1" "SSH key shop-default-phase1"; do
	check "destroy prints: deleting $k" grep -q "deleting $k (id [0-9]*)" "$WORK/destroy"
done
left=$(cloud_state | jq -r 'to_entries[] | select(.key != "actions") | .value[] | select(.labels["managed-by"] == "provision") | .name')
check "nothing the tool made is left${left:+: $left}" test -z "$left"
deleted=$(jq -r 'select(.method == "DELETE") | .path' "$CLOUD_DIR/api/requests.jsonl" | wc -l)
check "five deletes, none of them of a hand-made resource ($deleted)" test "$deleted" = 5

viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
