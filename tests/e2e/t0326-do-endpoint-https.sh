#!/usr/bin/env bash
# DigitalOcean's token travels over https only: a plain-http endpoint that
# is not a loopback address, from DIGITALOCEAN_API_URL or from the
# inventory (an environment's override too), is refused before any request
# with exit 2.  The test server also listens on such an address (the test
# bridge's), so a request that went out would be in its request log.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
do_start --also-listen bridge
port=$(cat "$CLOUD_DIR/api/port")
LOOP=$DIGITALOCEAN_API_URL
REMOTE="http://$CLOUD_PREFIX.1:$port"

code=$(curl -s -o /dev/null -w '%{http_code}' -H @"$CLOUD_DIR/auth-header" "$REMOTE/v2/account/keys")
check "the test server answers on the bridge address too (got $code)" test "$code" = 200
do_inventory >"$WORK/inventory.yml"

cloud_endpoint_refusals digitalocean DIGITALOCEAN_API_URL "$REMOTE"

# the inventory's endpoint is used when no variable overrides it: loopback http is fine
sed -i "s|^    poll_interval: 0.2|    poll_interval: 0.2\n    endpoint: $LOOP|" "$WORK/inventory.yml"
before=$(cloud_logged)
env -u DIGITALOCEAN_API_URL "$PROVISION" -i "$WORK/inventory.yml" --plain plan phase1 >"$WORK/loop.out" 2>&1
rc=$?
check "plan over http to 127.0.0.1 from 'endpoint' works (got $rc)" test "$rc" = 0
check "and its requests reached the server" test "$(cloud_logged)" -gt "$before"
viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
