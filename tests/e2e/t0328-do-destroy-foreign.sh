#!/usr/bin/env bash
# destroy on DigitalOcean deletes only what is ours: what the state records
# or what carries the tag managed-by:provision.  A volume and a droplet made
# by hand with the layout's tag are listed as "not ours, kept", survive, and
# are not adopted by up.  SSH keys carry no tags: one made by hand with the
# layout's name (and the operator's key) is used by up, never deleted.  The tags
# the tool made go with the layout, unless something not ours still carries
# them.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
do_start
do_inventory >"$WORK/inventory.yml"
t_uses phase1

ssh-keygen -q -t ed25519 -N '' -C operator -f "$WORK/operator" >/dev/null
sed -i 's|^ssh: { user: admin }|ssh: { user: admin, private_key: operator }|' "$WORK/inventory.yml"
cloud_api POST /v2/account/keys "$(jq -n --arg k "$(cat "$WORK/operator.pub")" '{name: "shop-default-phase1", public_key: $k}')" >/dev/null ||
	bail "cannot make the hand-made SSH key"
cloud_api POST /v2/volumes '{"name": "handmade-vol", "size_gigabytes": 10, "region": "fra1", "tags": ["pv:shop:default:phase1"]}' >/dev/null ||
	bail "cannot make the hand-made volume"
cloud_api POST /v2/droplets '{"name": "handmade-srv", "region": "fra1", "size": "s-1vcpu-2gb", "image": "debian-12-x64", "tags": ["pv:shop:default:phase1"], "user_data": "#cloud-config\nhostname: handmade\n"}' >/dev/null ||
	bail "cannot make the hand-made droplet"
# booted before anything else happens, so that no teardown races its boot
for _ in $(seq 1 100); do
	[ "$(cloud_state | jq -r '.droplets[] | select(.name == "handmade-srv") | .status')" = active ] && break
	sleep 0.2
done
handmade_key=$(cloud_state | jq '.ssh_keys[] | select(.name == "shop-default-phase1") | .id')
foreign() { cloud_state | jq -c --argjson k "$handmade_key" '[(.volumes[], .droplets[] | select(.name | startswith("handmade")) | .name), (.ssh_keys[] | select(.id == $k) | .name)] | sort'; }
check "the hand-made resources exist" test "$(foreign)" = '["handmade-srv","handmade-vol","shop-default-phase1"]'

pv up phase1 --only cloud >"$WORK/up" 2>&1 || bail "up failed: $(cat "$WORK/up")"
check "up adopted neither volume nor droplet" sh -c "! grep -q 'handmade' '$WORK/.provision/state.json'"
check "up uses the hand-made key, knowing it is not ours" test "$(jq -c '.environments.default.layouts.phase1.provider_data | [.ssh_key_id, .ssh_key_foreign]' "$WORK/.provision/state.json")" = "[$handmade_key,true]"
check "up made its own droplet, with the tool's mark" test "$(cloud_state | jq '[.droplets[] | select(.tags | index("managed-by:provision"))] | length')" = 1

pv destroy phase1 --yes >"$WORK/destroy" 2>&1 || bail "destroy failed: $(cat "$WORK/destroy")"
PV_LAYOUTS=()
check "the hand-made volume, droplet and key survive" test "$(foreign)" = '["handmade-srv","handmade-vol","shop-default-phase1"]'
for k in "volume handmade-vol" "droplet handmade-srv" "SSH key shop-default-phase1 (id $handmade_key)"; do
	check "destroy lists $k as not ours, kept" grep -qF "not ours, kept: $k" "$WORK/destroy"
done
for k in "volume shop-app1-data" "droplet app1" "firewall shop-default-phase1" "VPC shop-default-phase1" \
	"tag pv:shop:default:phase1:app1" "tag managed-by:provision"; do
	check "destroy prints: deleting $k" grep -q "deleting $k" "$WORK/destroy"
done
check "the layout's tag is kept while hand-made resources carry it" grep -q "not ours, kept: tag pv:shop:default:phase1 (still on 2 resources" "$WORK/destroy"
left=$(cloud_state | jq -r 'to_entries[] | select(.key != "actions") | .value[] | select((.tags // []) | index("managed-by:provision")) | .name')
check "nothing the tool made is left${left:+: $left}" test -z "$left"
check "the tags left: only the one hand-made resources carry" test "$(cloud_state | jq -c '.tags | keys')" = '["pv:shop:default:phase1"]'
check "one SSH key left, the hand-made one" test "$(cloud_state | jq -c '[.ssh_keys[].id]')" = "[$handmade_key]"
viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
