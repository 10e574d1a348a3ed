#!/usr/bin/env bash
# suite: extended (a floating IP moved by a failover; make test-all)
# The load balancer pair's floating IP on Hetzner moves with a failover, on
# real hosts from the Hetzner Cloud API test server: two servers with role
# keepalived and the layout's lb_pair: floating_ip converge; the token
# reaches them only as a root-only file (0600), which curl reads its header
# from; they trust the test server's CA through keepalived_api_ca, never by
# switching verification off, and call the API over https only.  When the
# active server's host is stopped hard, the backup becomes the active one,
# asks the API (with the token) to assign the floating IP to its own server
# id and holds the address on its public interface; the time from the stop
# to that request is printed, not asserted.  The token is in no output, no
# state, no process's arguments while the tool runs, and on the hosts only
# in that file; every request, the hosts' too, follows the specification.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"
. "$(dirname "$0")/lib-patroni.sh" # wait_for

t_project </dev/null
hcloud_start --tls-listen bridge
API_TLS="https://$CLOUD_PREFIX.1:$(cat "$CLOUD_DIR/api/port")/v1"
LBP_NAME=hetzner
LBP_PROVIDER="  hetzner:
    network: { ip_range: $CLOUD_PRIVATE.0/24, subnet: $CLOUD_PRIVATE.0/24, zone: eu-central }
    poll_interval: 0.2"
LBP_TOKEN=$HCLOUD_TOKEN
LBP_LIST=/floating_ips
LBP_ID_KEY=server_id
LBP_KIND=floating_ips
lbp_ip() { cloud_state | jq -r '.floating_ips[] | select(.name == "shop-default-phase1-lb") | .ip'; }
lbp_id() { cloud_state | jq -r '.floating_ips[] | select(.name == "shop-default-phase1-lb") | .id'; }
lbp_on() { cloud_state | jq -r --argjson id "$1" '.floating_ips[] | select(.id == $id) | .server // "none"'; }
lbp_assign_path() { echo "/floating_ips/$1/actions/assign"; }
lbpair_failover
