#!/usr/bin/env bash
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
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CLOUD_CA" -H @"$CLOUD_DIR/auth-header" "$API_TLS/floating_ips")
check "the test server answers https on the bridge with a certificate of the test CA (got $code)" test "$code" = 200
export PV_TEST_API_TOKEN=$HCLOUD_TOKEN
{
	cat <<EOT
project: shop
ssh: { user: admin }
secrets:
  api_token: env:PV_TEST_API_TOKEN
vars: { ssh_permit_root_login: prohibit-password }
providers:
  hetzner:
    network: { ip_range: $CLOUD_PRIVATE.0/24, subnet: $CLOUD_PRIVATE.0/24, zone: eu-central }
    poll_interval: 0.2
layouts:
  phase1:
    provider: hetzner
    lb_pair: floating_ip
    vars:
      keepalived_api_token: api_token
      keepalived_api_endpoint: $API_TLS
      keepalived_api_ca: |
EOT
	sed 's/^/        /' "$CLOUD_CA"
	cat <<EOT
    servers:
      lb1: { roles: [base, keepalived] }
      lb2: { roles: [base, keepalived] }
EOT
} >"$WORK/inventory.yml"
t_uses phase1

# plain http to the hosts' API endpoint: refused at its line and column
sed -i "s|^      keepalived_api_endpoint: https://|      keepalived_api_endpoint: http://|" "$WORK/inventory.yml"
line=$(grep -n '^      keepalived_api_endpoint:' "$WORK/inventory.yml" | cut -d: -f1)
cloud_refused http-endpoint "inventory.yml:$line:32: variable 'keepalived_api_endpoint' must be a URL starting with 'https://'" pv up phase1
sed -i "s|^      keepalived_api_endpoint: http://|      keepalived_api_endpoint: https://|" "$WORK/inventory.yml"

bk_run up1 up phase1 || bail "up failed: $(tail -n 30 "$WORK/up1")"
pass "up converges the pair with its floating IP"
fip=$(cloud_state | jq -r '.floating_ips[] | select(.name == "shop-default-phase1-lb") | .ip')
fid=$(cloud_state | jq -r '.floating_ips[] | select(.name == "shop-default-phase1-lb") | .id')
sid() { jq -r ".environments.default.layouts.phase1.hosts.$1.server_id" "$WORK/.provision/state.json"; }
on() { cloud_state | jq -r --argjson id "$fid" '.floating_ips[] | select(.id == $id) | .server // "none"'; }
for h in lb1 lb2; do
	check "$h: the token's file is root's, mode 0600" \
		test "$(on_host "$h" 'stat -c "%a %U %G" /etc/provision/keepalived-api.header' | tr -d '\r')" = "600 root root"
done

holds() { on_host "$1" "ip -o -4 addr show" | grep -qF " $fip/32"; }
# the one of the pair holding the address (whichever became active first)
holder() {
	local a=
	holds lb1 && a="$a lb1"
	holds lb2 && a="$a lb2"
	echo "${a# }"
}
one_holder() { case $(holder) in lb1 | lb2) return 0 ;; *) return 1 ;; esac }
check "one of the pair becomes the active one and holds $fip on its public interface" wait_for 60 one_holder
active=$(holder)
case $active in lb1) backup=lb2 ;; *) active=lb2 backup=lb1 ;; esac
check "the API has the floating IP on the active one's server, $active's" wait_for 60 eval 'test "$(on)" = "$(sid $active)"'
pvj up phase1 >"$WORK/up2" 2>"$WORK/up2.err" || bail "second up failed: $(json_errors "$WORK/up2" "$WORK/up2.err")"
check "second up: 0 changed ($(json_resources "$WORK/up2" changed | tr '\n' ' '))" test "$(json_total "$WORK/up2" changed)" = 0
bk_quiet up2

n0=$(cloud_logged)
t0=$(date +%s.%N)
cloud_ctl kill_host "{\"server\": $(sid $active)}" || bail "cannot stop $active's host"
pass "the active one's host, $active's, is stopped hard"
assigned() { test "$(on)" = "$(sid $backup)"; }
check "the API assigns the floating IP to $backup's server ($(sid $backup))" wait_for 60 assigned
req=$(tail -n +"$((n0 + 1))" "$CLOUD_DIR/api/requests.jsonl" | jq -sc --arg p "/floating_ips/$fid/actions/assign" '[.[] | select(.method == "POST" and .path == $p)] | .[0]')
check "it came from $backup over https, with the token (HTTP $(jq .status <<<"$req"))" \
	test "$(jq -c '[.status, .tls]' <<<"$req")" = '[201,true]'
if [ "$(jq .t <<<"$req")" != null ]; then
	took=$(awk "BEGIN { printf \"%.1f\", $(jq .t <<<"$req") - $t0 }")
	echo "# failover: $backup asked the API for the floating IP ${took} s after $active's host stopped"
fi
check "$backup holds $fip on its public interface" wait_for 30 holds "$backup"
check "$backup's journal says the API moved it" on_host "$backup" "journalctl --no-pager -t keepalived-takeover | grep -q 'moved $fip to this server'"

# the token on the backup: in that file only; read from stdin here, never an argument
found=$(printf '%s' "$HCLOUD_TOKEN" | "$PROVISION" -i "$WORK/inventory.yml" ssh "$backup" -- \
	"sudo -n sh -c 't=\$(cat); grep -rlF -- \"\$t\" /etc /usr/local/lib/provision /var/lib/provision 2>/dev/null; journalctl --no-pager | grep -cF -- \"\$t\"'" | tr -d '\r' | tr '\n' ' ')
check "on $backup the token is only in its file, never in the journal: $found" test "$found" = "/etc/provision/keepalived-api.header 0 "

bk_run destroy destroy phase1 --yes || bail "destroy failed: $(tail -n 20 "$WORK/destroy")"
PV_LAYOUTS=()
check "destroy: no floating IP left" test "$(cloud_state | jq '.floating_ips | length')" = 0
cloud_clean_end "$WORK"/up* "$WORK"/http-endpoint.out "$WORK/destroy"
