#!/usr/bin/env bash
# Every create and every delete on hetzner survives a lost answer and a
# 503: up looks for the resource by its labels, adopts it or sends again
# after a wait; destroy accepts what is already gone or detached.  Each run
# ends with exactly the resources expected: none twice, none left over.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
hcloud_start
hcloud_inventory >"$WORK/inventory.yml"
sed -i 's/^    poll_interval: 0.2$/    poll_interval: 0.2\n    load_balancer: { targets: [app1] }/' "$WORK/inventory.yml"
t_uses phase1

FAULT_CREATES="POST /ssh_keys|POST /networks|POST /firewalls|POST /servers|POST /volumes|POST /load_balancers"
FAULT_DELETES="DELETE /load_balancers/{id}|DELETE /volumes/{id}|POST /volumes/{id}/actions/detach|DELETE /servers/{id}|DELETE /firewalls/{id}|DELETE /networks/{id}|DELETE /ssh_keys/{id}"
FAULT_COUNTS='[.ssh_keys, .networks, .firewalls, .servers, .volumes, .load_balancers | length]'
FAULT_ONE_EACH='[1,1,1,1,1,1]'
FAULT_NONE='[0,0,0,0,0,0]'

cloud_fault_round "lost answer" lost ""
cloud_fault_round "503" status ', "status": 503'
PV_LAYOUTS=()
cloud_check_resend_wait /servers
viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
