#!/usr/bin/env bash
# provision up phase1 with provider digitalocean, end to end against the
# DigitalOcean API test server: SSH key, VPC, firewall by tag, droplet with
# tags and cloud-init user_data, volume; the droplet boots a real local host
# whose own cloud-init (Debian's) applies that user_data; the tool connects
# only to the key it generated.  A second up writes nothing.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
do_start --cloud-init
do_inventory >"$WORK/inventory.yml"
t_uses phase1

pv plan phase1 >"$WORK/plan" 2>&1 || bail "plan failed: $(cat "$WORK/plan")"
check "plan lists the droplet" grep -q '+ cloud: droplet app1 (s-1vcpu-2gb, debian-12-x64, fra1)' "$WORK/plan"
check "plan lists the VPC, firewall, SSH key and volume" sh -c "grep -q '+ cloud: VPC' '$WORK/plan' && grep -q '+ cloud: firewall' '$WORK/plan' && grep -q '+ cloud: SSH key' '$WORK/plan' && grep -q '+ cloud: volume shop-app1-data' '$WORK/plan'"

pvj up phase1 >"$WORK/up1.json" 2>"$WORK/up1.err" || {
	cat "$WORK/up1.err"
	jq -c 'select(.status == "failed" or .event == "error" or .error)' "$WORK/up1.json"
	tail -n 20 "$CLOUD_DIR/server.log"
	bail "first up phase1 on digitalocean failed"
}
check "first up failed nothing" test "$(json_total "$WORK/up1.json" failed)" = 0
state=$(cloud_state)
check "one droplet tagged with the layout, the server and the tool's mark" test "$(jq -c '[.droplets[] | .tags]' <<<"$state")" = '[["pv:shop:default:phase1","pv:shop:default:phase1:app1","managed-by:provision"]]'
check "one VPC, one firewall, one SSH key, one volume" test "$(jq -c '[(.vpcs|length), (.firewalls|length), (.ssh_keys|length), (.volumes|length)]' <<<"$state")" = "[1,1,1,1]"
check "the firewall applies to the layout's tag and opens 22, 80, 443 to all" test "$(jq -c '.firewalls[] | [.tags, ([.inbound_rules[] | select(.protocol == "tcp" and .sources.addresses == ["0.0.0.0/0", "::/0"]) | .ports] | sort)]' <<<"$state")" = '[["pv:shop:default:phase1"],["22","443","80"]]'
check "and the node exporter's 9100 to the VPC only" test "$(jq -c '[.firewalls[].inbound_rules[] | select(.protocol == "tcp" and .sources.addresses != ["0.0.0.0/0", "::/0"]) | [.ports, .sources.addresses]]' <<<"$state")" = "[[\"9100\",[\"$CLOUD_PRIVATE.0/24\"]]]"
check "the volume is attached to the droplet" test "$(jq -c '[.volumes[].droplet_ids[]] == [.droplets[].id]' <<<"$state")" = true
check "the droplet is in the VPC" test "$(jq -r '.droplets[].vpc_uuid' <<<"$state")" = "$(jq -r '.vpcs[].id' <<<"$state")"
pinned=$(awk '{print $2, $3}' "$WORK/.provision/known_hosts")
onhost=$(on_host app1 'cat /etc/ssh/ssh_host_ed25519_key.pub' | awk '{print $1, $2}')
check "the pinned host key is the key the host has" test -n "$pinned" -a "$pinned" = "$onhost"
host_key_replaced app1
cloud_init_ran app1
check "ufw is active on the host" sh -c "'$PROVISION' -i '$WORK/inventory.yml' ssh app1 -- sudo -n ufw status | grep -qx 'Status: active'"
# the volume: the provider formatted it (ext4, the default); role volumes
# mounted it by its file system's UUID from the provider's device path
vdev=/dev/disk/by-id/scsi-0DO_Volume_$(jq -r '.volumes[].name' <<<"$state")
vuuid=$(on_host app1 "blkid -p -o value -s UUID $vdev")
check "the volume's device $vdev is on the host, ext4" test "$(on_host app1 "blkid -p -o value -s TYPE $vdev")" = ext4
check "it is mounted at /mnt/data by its UUID${vuuid:+ ($vuuid)}" test -n "$vuuid" -a "$(on_host app1 'findmnt -n -o UUID --mountpoint /mnt/data')" = "$vuuid"
check "its fstab line names the UUID, with nofail" on_host app1 "grep -qx 'UUID=$vuuid /mnt/data ext4 defaults,nofail,noatime,x-systemd.device-timeout=30s 0 2' /etc/fstab"
check "the API token is not in output or state" sh -c "! grep -rqFf '$CLOUD_DIR/token' '$WORK/up1.json' '$WORK/up1.err' '$WORK/.provision'"

before=$(cloud_writes)
pvj up phase1 >"$WORK/up2.json" 2>"$WORK/up2.err" || bail "second up failed: $(cat "$WORK/up2.err")"
check "second up: 0 writes to the API (got $(($(cloud_writes) - before)))" test "$(cloud_writes)" = "$before"
check "second up: 0 changed on the host" test "$(json_total "$WORK/up2.json" changed)" = 0
sed -i 's/^        size: s-1vcpu-2gb$/        size: s-2vcpu-4gb/' "$WORK/inventory.yml"
pv plan phase1 >"$WORK/plan2" 2>&1 || bail "plan failed: $(cat "$WORK/plan2")"
check "plan shows the size the droplet does not have" grep -q '! cloud: droplet app1 has size s-1vcpu-2gb, the inventory says s-2vcpu-4gb' "$WORK/plan2"

pv status phase1 >"$WORK/status1" 2>&1
rc=$?
check "status shows the droplet as the API reports it (exit $rc)" \
	sh -c "[ $rc = 0 ] && grep -Eq '^  app1 +droplet [0-9]+ [0-9.]+: active\$' '$WORK/status1'"

# a new operator key: the layout's SSH key is replaced, not doubled (the
# account then held two keys of the layout's name)
keys=$WORK/.provision/keys
old_id=$(cloud_state | jq -r '.ssh_keys[] | .id')
mv "$keys/id_ed25519" "$WORK/old-key" && mv "$keys/id_ed25519.pub" "$WORK/old-key.pub"
ssh-keygen -q -t ed25519 -N '' -C '' -f "$keys/id_ed25519" || bail "ssh-keygen failed"
pv plan phase1 >"$WORK/plan3" 2>&1
check "plan says the SSH key is replaced" grep -q '~ cloud: SSH key shop-default-phase1 replaced' "$WORK/plan3"
pvj up phase1 --only cloud >"$WORK/up3.json" 2>"$WORK/up3.err" || fail "up with a new operator key failed: $(json_errors "$WORK/up3.json" "$WORK/up3.err")"
new_pub=$(awk '{print $1, $2}' "$keys/id_ed25519.pub")
check "one SSH key of the layout's name, the new one" \
	test "$(cloud_state | jq -c '[.ssh_keys[] | [.name, (.public_key | split(" ")[:2] | join(" "))]]')" = "[[\"shop-default-phase1\",\"$new_pub\"]]"
check "the former key (id $old_id) is gone" test "$(cloud_state | jq "[.ssh_keys[] | select(.id == $old_id)] | length")" = 0

viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
