#!/usr/bin/env bash
# provider_backups on DigitalOcean, against the DigitalOcean API test
# server: true asks for backups in the droplet's create and switches them
# on for an existing droplet (the droplet action enable_backups), false off
# (disable_backups), and without the key the tool leaves them as they are,
# also when switched on by hand; plan names each change and writes nothing,
# a second up writes nothing, a switch whose answer is lost or refused with
# a 503 is looked at before it is sent again; a value that is not a boolean
# is refused at its line and column.  A layout's snapshot_keep wins over
# the provider's.  The token never shows in output, state or process lists.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

BK_KIND=droplet
BK_ON='[.droplets[] | select(.name == $s) | (.features | index("backups")) != null] | .[0]'
BK_RX='^/v2/droplets/[0-9]+/actions$'
BK_FAULT_ON='POST /v2/droplets/{droplet_id}/actions'
BK_FAULT_OFF=$BK_FAULT_ON
BK_NEW_PLAN="\+ cloud: droplet app1 \(.*\), host key pinned before first boot, the provider's backups on$"
BK_ACTION_RX='^/v2/actions/[0-9]+$'
BK_CREATE_SWITCHES=0
hand_switch() {
	local id
	id=$(cloud_state | jq -r --arg s "$1" '.droplets[] | select(.name == $s) | .id')
	cloud_api POST "/v2/droplets/$id/actions" "{\"type\": \"$([ "$2" = on ] && echo enable || echo disable)_backups\"}" >/dev/null ||
		bail "cannot switch $1's backups $2 by hand"
}
mine_app1() {
	cloud_state | jq '[.images[] | select(.name | test("^shop-default-phase1-app1-[0-9]{8}-[0-9]{6}$"))] | length'
}

snap_inventory do_start do_inventory
bk_rounds
bk_layout_keep mine_app1
bk_end
