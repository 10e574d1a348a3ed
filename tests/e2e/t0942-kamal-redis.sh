#!/usr/bin/env bash
# suite: extended (Redis hosts for the Kamal configuration; make test-all)
# kamal-config on a layout with Redis: the app's environment names the
# Sentinels (private addresses) and the primary's name, or the primary
# itself when there is no Sentinel, HAProxy's Redis endpoint when a server
# has role haproxy (at the floating address of a keepalived pair), and the
# password only by its environment variable.  A static layout: no host is
# needed.
. "$(dirname "$0")/lib.sh"

t_project <<'YML'
project: shop
secrets: { redis_pw: env:PV_TEST_REDIS_PW, redis_admin_pw: env:PV_TEST_REDIS_ADMIN_PW, redis_check_pw: env:PV_TEST_REDIS_ADMIN_PW }
vars: { redis_password: redis_pw, redis_admin_password: redis_admin_pw, redis_check_password: redis_check_pw }
layouts:
  metal:
    provider: static
    servers:
      web1:
        roles: [base, docker, ufw, proxy, redis-sentinel]
        address: 192.0.2.31
        private_address: 10.0.0.31
        host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMm0PpS9ZpOBj5Vb9tDpV4L5fQ2dV9HgDw3y5X8mZzB1"
        vars: { proxy_flavour: kamal }
      r1:
        roles: [base, ufw, redis, redis-sentinel]
        address: 192.0.2.32
        private_address: 10.0.0.32
        host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMm0PpS9ZpOBj5Vb9tDpV4L5fQ2dV9HgDw3y5X8mZzB1"
      r2:
        roles: [base, ufw, redis-replica, redis-sentinel]
        address: 192.0.2.33
        private_address: 10.0.0.33
        host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMm0PpS9ZpOBj5Vb9tDpV4L5fQ2dV9HgDw3y5X8mZzB1"
        vars: { redis_sentinel_port: 26380 }
  single:
    provider: static
    servers:
      web1:
        roles: [base, docker, ufw, proxy]
        address: 192.0.2.41
        host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMm0PpS9ZpOBj5Vb9tDpV4L5fQ2dV9HgDw3y5X8mZzB1"
        vars: { proxy_flavour: kamal }
      r1:
        roles: [base, ufw, redis]
        address: 192.0.2.42
        private_address: 10.0.0.42
        host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMm0PpS9ZpOBj5Vb9tDpV4L5fQ2dV9HgDw3y5X8mZzB1"
        vars: { redis_port: 6380 }
  lb:
    provider: static
    servers:
      web1:
        roles: [base, docker, ufw, proxy, redis-sentinel]
        address: 192.0.2.51
        private_address: 10.0.0.51
        host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMm0PpS9ZpOBj5Vb9tDpV4L5fQ2dV9HgDw3y5X8mZzB1"
        vars: { proxy_flavour: kamal }
      lb1:
        roles: [base, ufw, haproxy]
        address: 192.0.2.50
        private_address: 10.0.0.50
        host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMm0PpS9ZpOBj5Vb9tDpV4L5fQ2dV9HgDw3y5X8mZzB1"
        vars: { redis_lb_port: 6391 }
      r1:
        roles: [base, ufw, redis, redis-sentinel]
        address: 192.0.2.52
        private_address: 10.0.0.52
        host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMm0PpS9ZpOBj5Vb9tDpV4L5fQ2dV9HgDw3y5X8mZzB1"
      r2:
        roles: [base, ufw, redis-replica, redis-sentinel]
        address: 192.0.2.53
        private_address: 10.0.0.53
        host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMm0PpS9ZpOBj5Vb9tDpV4L5fQ2dV9HgDw3y5X8mZzB1"
  pair:
    provider: static
    vars: { keepalived_address: 10.0.0.60 }
    servers:
      web1:
        roles: [base, docker, ufw, proxy]
        address: 192.0.2.61
        private_address: 10.0.0.61
        host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMm0PpS9ZpOBj5Vb9tDpV4L5fQ2dV9HgDw3y5X8mZzB1"
        vars: { proxy_flavour: kamal }
      lb1:
        roles: [base, ufw, haproxy, keepalived]
        address: 192.0.2.62
        private_address: 10.0.0.62
        host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMm0PpS9ZpOBj5Vb9tDpV4L5fQ2dV9HgDw3y5X8mZzB1"
      lb2:
        roles: [base, ufw, haproxy, keepalived]
        address: 192.0.2.63
        private_address: 10.0.0.63
        host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMm0PpS9ZpOBj5Vb9tDpV4L5fQ2dV9HgDw3y5X8mZzB1"
      r1:
        roles: [base, ufw, redis]
        address: 192.0.2.64
        private_address: 10.0.0.64
        host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMm0PpS9ZpOBj5Vb9tDpV4L5fQ2dV9HgDw3y5X8mZzB1"
YML
export PV_TEST_REDIS_PW="app-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export PV_TEST_REDIS_ADMIN_PW="adm-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"

out=$(pv kamal-config metal -o "$WORK/metal.yml" 2>&1)
check "kamal-config on a layout with Sentinels succeeds ($out)" test -s "$WORK/metal.yml"
check "the app gets the three Sentinels by their private addresses and ports" \
	grep -qx '    REDIS_SENTINELS: "10.0.0.31:26379,10.0.0.32:26379,10.0.0.33:26380"' "$WORK/metal.yml"
check "and the primary's name" grep -qx '    REDIS_SENTINEL_NAME: "main"' "$WORK/metal.yml"
check "and the password as a secret's name" \
	sh -c "sed -n '/^env:/,\$p' '$WORK/metal.yml' | grep -qx '    - REDIS_PASSWORD'"
check "no password in the file" eval "! grep -qF -e '$PV_TEST_REDIS_PW' -e '$PV_TEST_REDIS_ADMIN_PW' '$WORK/metal.yml'"

out=$(pv kamal-config single -o "$WORK/single.yml" 2>&1)
check "kamal-config on a layout with one Redis succeeds ($out)" test -s "$WORK/single.yml"
check "the app gets the primary's URL" grep -qx '    REDIS_URL: "redis://10.0.0.42:6380/0"' "$WORK/single.yml"
check "and no Sentinels" eval "! grep -q REDIS_SENTINELS '$WORK/single.yml'"
check "and no REDIS_URL beside the Sentinels when no server has role haproxy" eval "! grep -q REDIS_URL '$WORK/metal.yml'"

out=$(pv kamal-config lb -o "$WORK/lb.yml" 2>&1)
check "kamal-config on a layout with Sentinels and HAProxy succeeds ($out)" test -s "$WORK/lb.yml"
check "the app gets the Sentinels" grep -qx '    REDIS_SENTINELS: "10.0.0.51:26379,10.0.0.52:26379,10.0.0.53:26379"' "$WORK/lb.yml"
check "and HAProxy's Redis endpoint as REDIS_URL, for clients that do not speak Sentinel" \
	grep -qx '    REDIS_URL: "redis://10.0.0.50:6391/0"' "$WORK/lb.yml"
check "no password in that file" eval "! grep -qF -e '$PV_TEST_REDIS_PW' -e '$PV_TEST_REDIS_ADMIN_PW' '$WORK/lb.yml'"

out=$(pv kamal-config pair -o "$WORK/pair.yml" 2>&1)
check "kamal-config on a layout with a keepalived pair succeeds ($out)" test -s "$WORK/pair.yml"
check "REDIS_URL is the endpoint at the pair's floating address, not at one of the pair" \
	grep -qx '    REDIS_URL: "redis://10.0.0.60:6390/0"' "$WORK/pair.yml"

# redis_tls: the URLs say rediss:// (the endpoint passes TLS through to the node)
sed -i 's/^    vars: { keepalived_address: 10.0.0.60 }$/    vars: { keepalived_address: 10.0.0.60, redis_tls: true }/' "$WORK/inventory.yml"
out=$(pv kamal-config pair -o "$WORK/pair-tls.yml" 2>&1)
check "kamal-config on a layout with redis_tls succeeds ($out)" test -s "$WORK/pair-tls.yml"
check "REDIS_URL is rediss:// at the endpoint" grep -qx '    REDIS_URL: "rediss://10.0.0.60:6390/0"' "$WORK/pair-tls.yml"
