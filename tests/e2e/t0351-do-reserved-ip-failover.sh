#!/usr/bin/env bash
# suite: extended (the DigitalOcean twin of t0350; make test-all)
# The load balancer pair's reserved IP on DigitalOcean moves with a
# failover, on real hosts from the DigitalOcean API test server: as t0350
# (tests/cloud/lib.sh: lbpair_failover), the backup asking for the address
# with the reserved IP action assign and its own droplet id, over https
# with the test CA, the token read from a root-only file.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"
. "$(dirname "$0")/lib-patroni.sh" # wait_for

t_project </dev/null
do_start --tls-listen bridge
API_TLS="https://$CLOUD_PREFIX.1:$(cat "$CLOUD_DIR/api/port")"
LBP_NAME=digitalocean
LBP_PROVIDER="  digitalocean:
    vpc: { ip_range: $CLOUD_PRIVATE.0/24 }
    region: fra1
    poll_interval: 0.2"
LBP_TOKEN=$DIGITALOCEAN_TOKEN
LBP_LIST=/v2/reserved_ips
LBP_ID_KEY=droplet_id
LBP_KIND=reserved_ips
lbp_ip() { jq -r '.environments.default.layouts.phase1.provider_data.reserved_ip' "$WORK/.provision/state.json"; }
lbp_id() { lbp_ip; }
lbp_on() { cloud_state | jq -r --arg ip "$1" '.reserved_ips[$ip].droplet_id // "none"'; }
lbp_assign_path() { echo "/v2/reserved_ips/$1/actions"; }
lbpair_failover
