#!/usr/bin/env bash
# provision up phase1 with provider hetzner, end to end against the Hetzner
# Cloud API test server: SSH key, network, firewall, server with cloud-init
# user_data, volume; the server boots a real local host whose own cloud-init
# (Debian's) applies that user_data; the tool connects only to the host key
# it generated and converges the roles.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
hcloud_start --cloud-init
hcloud_inventory >"$WORK/inventory.yml"
t_uses phase1

pv plan phase1 >"$WORK/plan" 2>&1 || bail "plan failed: $(cat "$WORK/plan")"
check "plan lists the cloud server before any host change" grep -q '+ cloud: server app1 (cx22, debian-12, fsn1)' "$WORK/plan"
check "plan lists the network, firewall, SSH key and volume" sh -c "grep -q '+ cloud: network' '$WORK/plan' && grep -q '+ cloud: firewall' '$WORK/plan' && grep -q '+ cloud: SSH key' '$WORK/plan' && grep -q '+ cloud: volume shop-default-phase1-app1-data' '$WORK/plan'"
check "plan wrote nothing to the API" test "$(cloud_writes)" = 0

pvj up phase1 >"$WORK/up1.json" 2>"$WORK/up1.err" || {
	cat "$WORK/up1.err"
	jq -c 'select(.status == "failed" or .event == "error" or .error)' "$WORK/up1.json"
	tail -n 20 "$CLOUD_DIR/server.log"
	bail "first up phase1 on hetzner failed"
}
check "first up changed resources" test "$(json_total "$WORK/up1.json" changed)" -gt 0
check "first up failed nothing" test "$(json_total "$WORK/up1.json" failed)" = 0

viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"

state=$(cloud_state)
check "one server, labelled project/env/layout/server" test "$(jq '[.servers[] | select(.labels == {"project":"shop","env":"default","layout":"phase1","managed-by":"provision","resource":"server","server":"app1"})] | length' <<<"$state")" = 1
check "one network, one firewall, one SSH key, one volume" test "$(jq -c '[(.networks|length), (.firewalls|length), (.ssh_keys|length), (.volumes|length)]' <<<"$state")" = "[1,1,1,1]"
check "the firewall opens 22, 80 and 443/tcp to all" test "$(jq -c '[.firewalls[].rules[] | select(.protocol == "tcp" and .source_ips == ["0.0.0.0/0", "::/0"]) | .port] | sort' <<<"$state")" = '["22","443","80"]'
check "and the node exporter's 9100 to the private network only" test "$(jq -c '[.firewalls[].rules[] | select(.protocol == "tcp" and .source_ips != ["0.0.0.0/0", "::/0"]) | [.port, .source_ips]]' <<<"$state")" = "[[\"9100\",[\"$CLOUD_PRIVATE.0/24\"]]]"
check "the server is attached to the network and the firewall" test "$(jq -c '.servers[] | [(.private_net|length), (.public_net.firewalls|length)]' <<<"$state")" = "[1,1]"
check "the server's name is unique in the project: app1.phase1.default.shop" test "$(jq -r '.servers[].name' <<<"$state")" = app1.phase1.default.shop
check "its host name is app1" sh -c "'$PROVISION' -i '$WORK/inventory.yml' ssh app1 -- hostname | grep -qx app1"
sid=$(jq -r '.servers[] | .id' <<<"$state")
check "the server id is in the state" test "$(jq -r '.environments.default.layouts.phase1.hosts.app1.server_id' "$WORK/.provision/state.json")" = "$sid"

# the host key: made by the tool, handed over in user_data, pinned, then
# replaced by one made on the host (user_data can be read back from the
# metadata service), pinned over the authenticated session
pinned=$(awk '{print $2, $3}' "$WORK/.provision/known_hosts")
onhost=$(on_host app1 'cat /etc/ssh/ssh_host_ed25519_key.pub' | awk '{print $1, $2}')
check "the pinned host key is the key the host has" test -n "$pinned" -a "$pinned" = "$onhost"
host_key_replaced app1
check "the host has no other host key" test "$(on_host app1 'ls /etc/ssh/ | grep -c "^ssh_host_.*_key$"')" = 1
check "the server's address is pinned" grep -q "^$(jq -r '.servers[].public_net.ipv4.ip' <<<"$state") " "$WORK/.provision/known_hosts"
check "the host has its private network address" on_host app1 "ip -o addr show | grep -q ' $(jq -r '.servers[].private_net[0].ip' <<<"$state")/'"
cloud_init_ran app1

# the roles ran on the host
check "ufw is active on the host" sh -c "'$PROVISION' -i '$WORK/inventory.yml' ssh app1 -- sudo -n ufw status | grep -qx 'Status: active'"
check "sshd allows no passwords" sh -c "'$PROVISION' -i '$WORK/inventory.yml' ssh app1 -- sudo -n sshd -T | grep -qx 'passwordauthentication no'"
# the volume: the provider formatted it (ext4, the default); role volumes
# mounted it by its file system's UUID from the provider's device path
vdev=/dev/disk/by-id/scsi-0HC_Volume_$(jq -r '.volumes[].id' <<<"$state")
vuuid=$(on_host app1 "blkid -p -o value -s UUID $vdev")
check "the volume's device $vdev is on the host, ext4" test "$(on_host app1 "blkid -p -o value -s TYPE $vdev")" = ext4
check "it is mounted at /mnt/data by its UUID${vuuid:+ ($vuuid)}" test -n "$vuuid" -a "$(on_host app1 'findmnt -n -o UUID --mountpoint /mnt/data')" = "$vuuid"
check "its fstab line names the UUID, with nofail" on_host app1 "grep -qx 'UUID=$vuuid /mnt/data ext4 defaults,nofail,noatime,x-systemd.device-timeout=30s 0 2' /etc/fstab"

# secrets: the token and the root password the API returned appear nowhere
check "the API token is not in output or state" sh -c "! grep -rqFf '$CLOUD_DIR/token' '$WORK/up1.json' '$WORK/up1.err' '$WORK/plan' '$WORK/.provision'"
check "the root password the API returned is not in output or state" sh -c "! grep -rq 'pvtest-root-password' '$WORK/up1.json' '$WORK/up1.err' '$WORK/.provision'"
check "the host's private key is not in the state" sh -c "! grep -rq 'PRIVATE KEY' '$WORK/.provision/state.json'"

# a token given as an inventory secret reference works the same
umask 077
printf '%s\n' "$HCLOUD_TOKEN" >"$WORK/hcloud-token"
umask 022
sed -i 's/^    poll_interval: 0.2/    poll_interval: 0.2\n    token: file:hcloud-token/' "$WORK/inventory.yml"
check "plan works with the token from an inventory secret reference" env -u HCLOUD_TOKEN "$PROVISION" -i "$WORK/inventory.yml" --plain plan phase1
