#!/usr/bin/env bash
# Every inventory value has a type: a value that would inject into a file,
# a command line or ssh's options, a typo'd name, a word where a number
# belongs, is refused by validate and plan (exit 2) at the line and column
# where it was written, and nothing is created.  No hosts needed.
. "$(dirname "$0")/lib.sh"

t_project "$ROOT/inventory.example.yml"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/hostkey" || bail "ssh-keygen"
HOSTKEY=$(cut -d' ' -f1,2 "$WORK/hostkey.pub")

write() { cat >"$WORK/inventory.yml"; }
lacks() { ! grep -qF -- "$2" <<<"$1"; }

nothing_created() {
	[ ! -e "$WORK/.provision/state.json" ] && [ -z "$(t_bridges)" ]
}

# refused NAME WANT: validate and plan exit 2, validate names WANT (a line
# "inventory.yml:LINE:COL: ..." holding it), nothing exists afterwards.
refused() {
	local name=$1 want=$2 out rc
	out=$(pv validate 2>&1)
	rc=$?
	if [ "$rc" = 2 ] && grep -qF -- "$WORK/inventory.yml:$want" <<<"$out"; then
		pass "$name: validate exit 2 at inventory.yml:${want%%: *}"
	else
		fail "$name: validate exit $rc, wanted 'inventory.yml:$want', got: $out"
	fi
	out=$(pv plan phase1 2>&1)
	rc=$?
	if [ "$rc" = 2 ] && nothing_created; then
		pass "$name: plan refuses (exit 2) and creates nothing"
	else
		fail "$name: plan exit $rc, or something was created: $out"
	fi
}

# static LAYOUT-VARS SERVER-KEYS ROLES: one static server db1 (and its peers db2, db3).
static() {
	write <<YML
project: shop
secrets: { su_pw: env:PV_T0105_PW, repl_pw: env:PV_T0105_PW }
layouts:
  phase1:
    provider: static
    vars: { patroni_superuser_password: su_pw, postgres_replication_password: repl_pw }
    servers:
      db1:
        roles: $3
        address: 192.0.2.11
        host_key: $HOSTKEY
$2
      db2: { roles: $3, address: 192.0.2.12, host_key: $HOSTKEY }
YML
}
export PV_T0105_PW=pw

# pg_hba: a private address that would open the database to everyone
static "" '        private_address: "10.0.0.2/0 trust #"' "[base, postgres]"
refused "pg_hba private_address" "12:26: 'private_address' of a server must be an IP address"
# a command substitution in the private address of a Patroni member
static "" '        private_address: "10.0.0.11$(id>/tmp/x)"' "[base, patroni]"
refused "patroni private_address" "12:26: 'private_address' of a server must be an IP address"
# ssh options in the user name: refused everywhere, provision ssh too
static "" "        ssh_user: \"-oProxyCommand=sh -c 'touch $WORK/pwned' #\"" "[base]"
refused "ssh_user as an option" "12:19: 'ssh_user' of a server must be a user name"
out=$(pv ssh db1 -- true 2>&1)
rc=$?
check "provision ssh refuses the hostile ssh_user (exit 2), got $rc" test "$rc" = 2
check "and nothing ran" test ! -e "$WORK/pwned"

# value LINE:COL WANT NAME VARS-LINE ROLES: one variable at server level
value() {
	local want=$1 name=$2 line=$3 roles=$4
	write <<YML
project: shop
secrets: { s3_key: env:PV_T0105_PW, s3_secret: env:PV_T0105_PW, cipher: env:PV_T0105_PW }
layouts:
  phase1:
    servers:
      app1:
        roles: $roles
        vars:
          $line
YML
	refused "$name" "$want"
}

value "9:30: variable 'postgres_clients[0]' must be a network" "postgres_clients with a newline" \
	'postgres_clients: ["0.0.0.0/0 trust\nhost all all ::/0"]' "[base, postgres]"
value "9:30: variable 'postgres_clients[0]' must be a network like '10.0.0.0/24' (host bits zero), not '172.17.0.0/99' (nearest valid value: '172.17.0.0/32')" \
	"postgres_clients /99" 'postgres_clients: [172.17.0.0/99]' "[base, postgres]"
value "9:34: variable 'ssh_permit_root_login' must be one of 'prohibit-password', 'no', 'yes', not 'prohibit-password\nPasswordAuthentication yes\nPermitEmptyPass...' (nearest valid value: 'prohibit-password')" \
	"ssh_permit_root_login with newlines" \
	'ssh_permit_root_login: "prohibit-password\nPasswordAuthentication yes\nPermitEmptyPasswords yes"' "[base]"
value "9:29: variable 'proxy_acme_email' must be an e-mail address" "proxy_acme_email with a newline" \
	'proxy_acme_email: "a@b\n}\n{\nadmin 0.0.0.0:2019"' "[base, proxy]"
value "9:32: variable 'haproxy_health_path' must be an absolute path" "haproxy_health_path with a newline" \
	'haproxy_health_path: "/\nstats admin if TRUE"' "[base, haproxy]"
value "9:25: variable 'rustfs_image' must be a Docker image reference like 'traefik:v3.1', not 'rustfs/rustfs:latest --privileged'" \
	"rustfs_image with spaces" 'rustfs_image: "rustfs/rustfs:latest --privileged"' "[base, docker, rustfs]"
value "9:26: variable 'traefik_image' must be a Docker image reference" "traefik_image with spaces" \
	'traefik_image: "traefik:v3.1 --api.insecure=true"' "[base, docker, proxy]"
value "9:31: variable 'ufw_allow[1]' must be a firewall rule '[on IFACE] [PORT[:PORT][/PROTO]] [from CIDR]', not '\\n\\x0b8080/tcp'" "ufw port with control characters" \
	'ufw_allow: [22/tcp, "\n\v8080/tcp"]' "[base, ufw]"
value "9:31: variable 'ufw_allow[1]' must be a firewall rule '[on IFACE] [PORT[:PORT][/PROTO]] [from CIDR]', not '70000/tcp'" \
	"ufw_allow bad port, at the inventory's line" 'ufw_allow: [22/tcp, 70000/tcp]' "[base, ufw]"
out=$(pv validate 2>&1)
check "the ufw error names the inventory, not the role" lacks "$out" role.yml
value "9:31: variable 'ufw_allow[1]' must be a firewall rule '[on IFACE] [PORT[:PORT][/PROTO]] [from CIDR]', not '80/tcp from 10.0.0.0/99' (nearest valid value: '80/tcp from 10.0.0.0/32')" \
	"ufw_allow bad CIDR" 'ufw_allow: [22/tcp, "80/tcp from 10.0.0.0/99"]' "[base, ufw]"
value "9:11: unknown variable 'fail2ban_maxretyr' in server 'app1' (did you mean 'fail2ban_maxretry'?)" \
	"a typo'd variable name" 'fail2ban_maxretyr: 3' "[base]"
value "9:31: variable 'ssh_max_auth_tries' must be an integer from 1 to 20, not 'lots'" \
	"ssh_max_auth_tries: lots" 'ssh_max_auth_tries: lots' "[base]"
value "9:29: variable 'fail2ban_bantime' must be a duration like '10m', '1h30m' or '3600' (seconds), not 'forever'" \
	"fail2ban_bantime: forever" 'fail2ban_bantime: forever' "[base]"

# What one variable needs of others (a role's 'checks'): refused by validate
# at the line that sets it, before anything runs
mon() {
	write <<YML
project: shop
secrets: { graf_pw: env:PV_T0105_PW }
layouts:
  phase1:
    provider: static
    servers:
      mon1:
        roles: [base, monitoring]
        address: 192.0.2.11
        host_key: $HOSTKEY
        vars: { $1 }
YML
}
mon "alertmanager_email_to: ops@example.com"
refused "alertmanager_email_to without a sender and a server" \
	"11:40: server 'mon1': alertmanager_email_to needs alertmanager_email_from and alertmanager_smtp_smarthost"
mon "alertmanager_email_to: ops@example.com, alertmanager_email_from: am@example.com"
refused "alertmanager_email_to without a server" "11:40: server 'mon1': alertmanager_email_to needs"
mon "alertmanager_email_to: ops@example.com, alertmanager_email_from: am@example.com, alertmanager_smtp_smarthost: 'mail.example.com:587'"
out=$(pv validate 2>&1)
rc=$?
check "alertmanager_email_to with a sender and a server validates (exit $rc): $out" test "$rc" = 0
mon "alertmanager_ntfy_url: 'https://ntfy.example/ops?priority=5'"
refused "alertmanager_ntfy_url with a query (the tool adds its own)" \
	"11:40: variable 'alertmanager_ntfy_url' must be a URL starting with 'https://', no user name or password, no query or fragment"
mon "monitoring_ui: grafana, grafana_admin_password: graf_pw"
refused "monitoring_ui grafana without the key's fingerprint" \
	"11:32: server 'mon1': monitoring_ui grafana needs grafana_repo_key_fingerprint"
# redis_tls is one value per layout: Redis, its replica and HAProxy must agree
tls() {
	write <<YML
project: shop
secrets: { redis_pw: env:PV_T0105_PW }
layouts:
  phase1:
    provider: static
    vars: { redis_password: redis_pw, redis_admin_password: redis_pw, redis_check_password: redis_pw }
    servers:
      kv1: { roles: [base, redis], address: 192.0.2.11, host_key: $HOSTKEY, vars: { redis_tls: $1 } }
      kv2: { roles: [base, redis-replica], address: 192.0.2.12, host_key: $HOSTKEY$2 }
      lb1: { roles: [base, haproxy], address: 192.0.2.13, host_key: $HOSTKEY, vars: { redis_tls: $3 } }
YML
}
tls true ", vars: { redis_tls: yes }" "on"
out=$(pv validate 2>&1)
rc=$?
check "redis_tls the same on every server (true, yes, on) validates (exit $rc): $out" test "$rc" = 0
tls true "" true
refused "redis_tls left at its default on the replica" \
	"8:168: variable 'redis_tls' must be the same on every server of layout 'phase1' that uses it: server 'kv1' has true, server 'kv2' has false"
tls true ", vars: { redis_tls: true }" false
refused "redis_tls false on the load balancer" \
	"10:170: variable 'redis_tls' must be the same on every server of layout 'phase1' that uses it: server 'kv1' has true, server 'lb1' has false"

# cloud PROVIDER LOAD-BALANCER VOLUME: the nested provider settings are typed too
cloud() {
	write <<YML
project: shop
providers:
  $1:
    load_balancer: $2
layouts:
  phase1:
    provider: $1
    servers:
      web1: { roles: [base] }
      db1:
        roles: [base]
        volumes: [$3]
YML
}
# with a token and an endpoint that refuses connections, a plan that got
# past validation would exit 1 on its first request, not 2
export HCLOUD_TOKEN=t0105 DIGITALOCEAN_TOKEN=t0105
export HCLOUD_ENDPOINT=http://127.0.0.1:9/v1 DIGITALOCEAN_API_URL=http://127.0.0.1:9
LB='{ health_path: /up, targets: [web1] }'
cloud hetzner '{ health_path: "/\nstats admin if TRUE", targets: [web1] }' '{ name: data, size: 20 }'
refused "load balancer health_path with a newline" \
	"4:35: 'health_path' of the load balancer of provider 'hetzner' must be an absolute path without spaces like '/srv/data', not '/\\nstats admin if TRUE'"
cloud hetzner '{ health_path: up, targets: [web1] }' '{ name: data, size: 20 }'
refused "load balancer health_path without '/'" \
	"4:35: 'health_path' of the load balancer of provider 'hetzner' must be an absolute path"
cloud hetzner '{ health_path: /up, targets: [web1], location: "nbg1 x" }' '{ name: data, size: 20 }'
refused "load balancer location with a space" \
	"4:67: 'location' of the load balancer of provider 'hetzner' must be a name"
cloud digitalocean '{ size_unit: lots, targets: [web1] }' '{ name: data, size: 20 }'
refused "load balancer size_unit: lots" \
	"4:33: 'size_unit' of the load balancer of provider 'digitalocean' must be an integer from 1 to 100, not 'lots'"
cloud hetzner "$LB" '{ name: data, size: lots }'
refused "volume size: lots" "12:39: 'size' of a volume of server 'db1' must be an integer from 10 to 10240, not 'lots'"
cloud digitalocean "$LB" '{ name: data, size: 0 }'
refused "volume size: 0" "12:39: 'size' of a volume of server 'db1' must be an integer from 1 to 16384, not '0'"
cloud hetzner "$LB" '{ name: "my data", size: 20 }'
refused "volume name with a space" "12:27: 'name' of a volume of server 'db1' must be a name"
cloud digitalocean "$LB" '{ name: "data\nx", size: 20 }'
refused "volume name with a newline" "12:27: 'name' of a volume of server 'db1' must be a name of letters, digits, '_', '.' and '-' (e.g. 'shop'), not 'data\\nx'"
cloud hetzner "$LB" '{ name: data, size: 20, format: zfs }'
refused "volume format unknown" "12:51: 'format' of a volume of server 'db1' must be one of 'ext4', 'xfs', not 'zfs' (nearest valid value: 'xfs')"
cloud hetzner "$LB" '{ name: data, size: 20, fromat: xfs }'
refused "volume key typo" "12:43: unknown key 'fromat' in a volume (did you mean 'format'?)"
cloud hetzner "$LB" '{ name: data, size: 20, format: xfs }'
check "a valid cloud layout passes" pv validate
# net PROVIDER KEY VALUE: the private network's settings
net() {
	write <<YML
project: shop
providers:
  $1:
    $2: $3
layouts:
  phase1:
    provider: $1
    servers:
      web1: { roles: [base] }
YML
}
net hetzner network '{ ip_range: "10.0.0.0/16\nx", subnet: 10.0.1.0/24 }'
refused "network ip_range with a newline" \
	"4:26: 'ip_range' of 'network' of provider 'hetzner' must be a network like '10.0.0.0/24' (host bits zero), not '10.0.0.0/16\\nx'"
net hetzner network '{ subnet: 10.0.1.0/24, zone: "eu central" }'
refused "network zone with a space" "4:43: 'zone' of 'network' of provider 'hetzner' must be a name"
net digitalocean vpc '{ ip_range: 10.10.10.0/99 }'
refused "vpc ip_range /99" \
	"4:22: 'ip_range' of 'vpc' of provider 'digitalocean' must be a network like '10.0.0.0/24' (host bits zero), not '10.10.10.0/99'"
unset HCLOUD_TOKEN DIGITALOCEAN_TOKEN HCLOUD_ENDPOINT DIGITALOCEAN_API_URL

# roles as a string
write <<'YML'
project: shop
layouts:
  phase1:
    servers:
      app1:
        roles: base
YML
refused "roles as a string" "6:16: 'roles' in server 'app1' must be a list of role names, not a string (write [base])"

# A secret holding a line break, where it lands in pgbackrest.conf: named at
# the secret's declaration, its value never shown.
export PV_T0105_CIPHER=$'hunter2\nrepo1-cipher-type=none'
write <<'YML'
project: shop
secrets: { s3_key: env:PV_T0105_PW, s3_secret: env:PV_T0105_PW, cipher: env:PV_T0105_CIPHER }
layouts:
  phase1:
    servers:
      db1:
        roles: [base, postgres, backup]
        vars:
          backup_s3_endpoint: s3.example.com
          backup_s3_bucket: shop
          backup_s3_key: s3_key
          backup_s3_key_secret: s3_secret
          backup_cipher_pass: cipher
YML
refused "a secret with a line break" "2:73: secret 'cipher' (variable 'backup_cipher_pass') must be a single line without control characters; its value is not shown"
out=$(pv validate 2>&1; pv plan phase1 2>&1)
check "the secret's value is never shown" lacks "$out" hunter2

# An environment's override is named where it is written.
write <<'YML'
project: shop
environments:
  staging:
    vars: { ssh_max_auth_tries: "3\nPermitRootLogin yes" }
layouts:
  phase1:
    servers:
      app1: { roles: [base] }
YML
out=$(pv -e staging validate 2>&1)
rc=$?
check "an environment override: exit 2 at its line, got $rc: $out" grep -qF "$WORK/inventory.yml:4:33: variable 'ssh_max_auth_tries' must be an integer" <<<"$out"
check "the layouts as written stay valid" pv validate

# What each variable is, from the same declarations validate checks against.
out=$(pv roles base)
check "roles base lists ssh_permit_root_login with its type" grep -qF "type:    one of 'prohibit-password', 'no', 'yes'" <<<"$out"
check "roles lists the built-in roles" sh -c "'$PROVISION' -i '$WORK/inventory.yml' roles | grep -q '^ufw '"

check "nothing was created at all" nothing_created
