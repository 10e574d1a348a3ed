#!/usr/bin/env bash
# provider_backups on hetzner, against the Hetzner Cloud API test server:
# true switches a server's daily backups on (enable_backup once the server
# is made, or on an existing one), false off (disable_backup), and without
# the key the tool leaves them as they are, also when switched on by hand;
# plan names each change and writes nothing, a second up writes nothing,
# a switch whose answer is lost or refused with a 503 is looked at before
# it is sent again; a value that is not a boolean is refused at its line
# and column.  A layout's snapshot_keep wins over the provider's.  The
# token never shows in output, state or process lists.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

BK_KIND=server
BK_ON='[.servers[] | select(.labels.server == $s) | .backup_window != null] | .[0]'
BK_RX='^/servers/[0-9]+/actions/(enable|disable)_backup$'
BK_FAULT_ON='POST /servers/{id}/actions/enable_backup'
BK_FAULT_OFF='POST /servers/{id}/actions/disable_backup'
BK_NEW_PLAN="~ cloud: server app1: the provider's backups off -> on"
BK_ACTION_RX='^/actions/[0-9]+$'
BK_CREATE_SWITCHES=1
hand_switch() {
	local id
	id=$(cloud_state | jq -r --arg s "$1" '.servers[] | select(.labels.server == $s) | .id')
	cloud_api POST "/servers/$id/actions/$([ "$2" = on ] && echo enable || echo disable)_backup" >/dev/null ||
		bail "cannot switch $1's backups $2 by hand"
}
mine_app1() {
	cloud_state | jq '[.images[] | select(.labels["managed-by"] == "provision" and .labels.server == "app1")] | length'
}

snap_inventory hcloud_start hcloud_inventory
bk_rounds
bk_layout_keep mine_app1
bk_end
