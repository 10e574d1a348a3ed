#!/usr/bin/env bash
# Every create and every delete on DigitalOcean survives a lost answer and
# a 503: up looks for the resource by its name (and tags), adopts it or
# sends again after a wait; destroy accepts what is already gone or
# detached, tags included.  Each run ends with exactly the resources
# expected: none twice, none left over.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
do_start
do_inventory >"$WORK/inventory.yml"
sed -i 's/^    poll_interval: 0.2$/    poll_interval: 0.2\n    load_balancer: { targets: [app1] }/' "$WORK/inventory.yml"
t_uses phase1

FAULT_CREATES="POST /v2/account/keys|POST /v2/vpcs|POST /v2/firewalls|POST /v2/droplets|POST /v2/volumes|POST /v2/load_balancers"
FAULT_DELETES="DELETE /v2/load_balancers/{lb_id}|POST /v2/volumes/{volume_id}/actions|DELETE /v2/volumes/{volume_id}|DELETE /v2/droplets/{droplet_id}|DELETE /v2/firewalls/{firewall_id}|DELETE /v2/vpcs/{vpc_id}|DELETE /v2/account/keys/{ssh_key_identifier}|DELETE /v2/tags/{tag_id}"
FAULT_COUNTS='[.ssh_keys, .vpcs, .firewalls, .droplets, .volumes, .load_balancers, .tags | length]'
FAULT_ONE_EACH='[1,1,1,1,1,1,4]'
FAULT_NONE='[0,0,0,0,0,0,0]'

cloud_fault_round "lost answer" lost ""
cloud_fault_round "503" status ', "status": 503'
PV_LAYOUTS=()
cloud_check_resend_wait /v2/droplets
viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
