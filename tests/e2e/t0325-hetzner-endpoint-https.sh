#!/usr/bin/env bash
# The API token travels over https only: a plain-http endpoint that is not a
# loopback address, from the inventory (an environment's override too), from
# HCLOUD_ENDPOINT or from TAILSCALE_BASE_URL, is refused before any request
# with exit 2.  The test server also listens on such an address (the test
# bridge's), so a request that went out would be in its request log.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
hcloud_start --also-listen bridge
port=$(cat "$CLOUD_DIR/api/port")
REMOTE="http://$CLOUD_PREFIX.1:$port/v1"

code=$(curl -s -o /dev/null -w '%{http_code}' -H @"$CLOUD_DIR/auth-header" "$REMOTE/ssh_keys")
check "the test server answers on the bridge address too (got $code)" test "$code" = 200
hcloud_inventory >"$WORK/inventory.yml"

cloud_endpoint_refusals hetzner HCLOUD_ENDPOINT "$REMOTE"

# a loopback address in front of '@' is user information; the host is the bridge's
sed -i "s|^    poll_interval: 0.2|    poll_interval: 0.2\n    endpoint: http://127.0.0.1@$CLOUD_PREFIX.1:$port/v1|" "$WORK/inventory.yml"
line=$(grep -n '^    endpoint:' "$WORK/inventory.yml" | cut -d: -f1)
cloud_refused inv-userinfo "inventory.yml:$line:15: .*user name or password" \
	env -u HCLOUD_ENDPOINT "$PROVISION" -i "$WORK/inventory.yml" --plain plan phase1
sed -i "/^    endpoint: /d" "$WORK/inventory.yml"

# the Tailscale API of 'provision share'
cloud_refused tailscale "environment variable TAILSCALE_BASE_URL: the API endpoint 'http://$CLOUD_PREFIX.1:$port' is plain http" \
	env TAILSCALE_BASE_URL="http://$CLOUD_PREFIX.1:$port" TAILSCALE_API_KEY=tskey-api-x \
	"$PROVISION" -i "$WORK/inventory.yml" --plain share --list

# plain http to loopback is fine: plan asks the server there
before=$(cloud_logged)
pv plan phase1 >"$WORK/loop.out" 2>&1
rc=$?
check "plan over http to 127.0.0.1 works (got $rc)" test "$rc" = 0
check "and its requests reached the server" test "$(cloud_logged)" -gt "$before"
viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
