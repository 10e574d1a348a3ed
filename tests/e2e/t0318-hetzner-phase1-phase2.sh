#!/usr/bin/env bash
# The cloud path of the README, whole: one inventory holding phase 1 (one
# server with a volume) and phase 2 (two web servers behind the cloud load
# balancer, a database server with PostgreSQL and Redis, each keeping its
# data on a volume of its own), brought up on the Hetzner
# Cloud API test server, every server a real local host booted by Debian's
# own cloud-init from the tool's user_data, each host key replaced after
# bootstrap and pinned, every host converged, a second run changing
# nothing, then both layouts destroyed with nothing of them left.  The test
# server's volumes are real block devices (loop devices at Hetzner's by-id
# paths, formatted as asked): mounted by UUID, xfs and ext4, PostgreSQL's
# cluster made on one, Redis's files on the other.
. "$(dirname "$0")/lib.sh"
. "$ROOT/tests/cloud/lib.sh"

t_project </dev/null
hcloud_start --cloud-init
cat >"$WORK/inventory.yml" <<-EOF
	project: shop
	ssh: { user: admin }
	secrets: { redis_pw: env:PV_TEST_REDIS_PW, redis_admin_pw: env:PV_TEST_REDIS_ADMIN_PW }
	vars: { ssh_permit_root_login: prohibit-password, ufw_allow: [22/tcp, 80/tcp, 443/tcp],
	        redis_password: redis_pw, redis_admin_password: redis_admin_pw }
	providers:
	  hetzner:
	    location: fsn1
	    type: cx22
	    image: debian-12
	    network: { ip_range: $CLOUD_PRIVATE.0/24, subnet: $CLOUD_PRIVATE.0/24, zone: eu-central }
	    load_balancer: { type: lb11, health_path: /up, targets: [web1, web2], location: nbg1 }
	    poll_interval: 0.2
	layouts:
	  phase1:
	    provider: hetzner
	    servers:
	      app1: { roles: [base, ufw], volumes: [{ name: data, size: 10 }] }
	  phase2:
	    provider: hetzner
	    servers:
	      web1: { roles: [base, ufw] }
	      web2: { roles: [base, ufw] }
	      db1:
	        roles: [base, ufw, postgres, redis]
	        type: cx32
	        volumes: [{ name: pgdata, size: 40, format: xfs }, { name: kv, size: 10, mount: /srv/kv }]
	        vars: { postgres_data_volume: pgdata, redis_data_volume: kv }
EOF
t_uses phase1
t_uses phase2
export PV_TEST_REDIS_PW="app-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export PV_TEST_REDIS_ADMIN_PW="adm-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# a data volume the server does not have: refused at its line, nothing sent
cp "$WORK/inventory.yml" "$WORK/good.yml"
sed -i 's/postgres_data_volume: pgdata/postgres_data_volume: pgdta/' "$WORK/inventory.yml"
line=$(grep -n 'postgres_data_volume: pgdta' "$WORK/inventory.yml" | cut -d: -f1)
cloud_refused datavol "inventory.yml:$line:[0-9]+: variable 'postgres_data_volume' names volume 'pgdta', which server 'db1' does not have \(its volumes: 'pgdata', 'kv'\)" pv plan phase2
cp "$WORK/good.yml" "$WORK/inventory.yml"

why() {
	json_errors "$1" "$2"
	tail -n 20 "$CLOUD_DIR/server.log"
}
for l in phase1 phase2; do
	start=$SECONDS
	pvj up "$l" >"$WORK/up-$l.json" 2>"$WORK/up-$l.err" || bail "up $l failed: $(why "$WORK/up-$l.json" "$WORK/up-$l.err")"
	echo "# up $l (servers created, booted by cloud-init, converged): $((SECONDS - start)) s"
	check "up $l failed nothing, changed $(json_total "$WORK/up-$l.json" changed)" \
		test "$(json_total "$WORK/up-$l.json" failed)" = 0 -a "$(json_total "$WORK/up-$l.json" changed)" -gt 0
done

state=$(cloud_state)
check "four servers, each labelled with its layout" \
	test "$(jq -c '[.servers[] | "\(.labels.layout)/\(.labels.server)"] | sort' <<<"$state")" = '["phase1/app1","phase2/db1","phase2/web1","phase2/web2"]'
check "a network and a firewall per layout, one SSH key" \
	test "$(jq -c '[(.networks | map(.labels.layout) | sort), (.firewalls | map(.labels.layout) | sort), (.ssh_keys | length)]' <<<"$state")" = '[["phase1","phase2"],["phase1","phase2"],1]'
check "three volumes, attached to app1 and db1" \
	test "$(jq -c '([.servers[] | {(.id | tostring): .labels.server}] | add) as $s | [.volumes[] | $s[.server | tostring]] | sort' <<<"$state")" = '["app1","db1","db1"]'
lb=$(jq -c '.load_balancers[]' <<<"$state")
check "one load balancer, phase 2's, in nbg1" \
	test "$(jq -c '[.load_balancers[]] | [length, .[0].labels.layout, .[0].location.name]' <<<"$state")" = '[1,"phase2","nbg1"]'
sel=$(jq -r '.targets[0].label_selector.selector // empty' <<<"$lb")
targets=$(jq -r --arg sel "$sel" '($sel | split(",") | map(split("=="))) as $terms
	| .servers[] | select(.labels as $l | all($terms[]; length == 2 and $l[.[0]] == .[1])) | .labels.server' <<<"$state" | sort | tr '\n' ' ')
check "its selector picks exactly web1 and web2: $targets" test -n "$sel" -a "$targets" = "web1 web2 "

# each host: booted by Debian's cloud-init from the user_data, its bootstrap
# key replaced and the new one pinned, the roles applied
for h in phase1/app1 phase2/web1 phase2/web2 phase2/db1; do
	l=${h%/*} n=${h#*/}
	cloud_init_ran "$n"
	host_key_replaced "$n" "$l"
	check "$n: ufw is active and sshd takes no passwords" on_host "$n" \
		'ufw status | grep -qx "Status: active" && sshd -T | grep -qx "passwordauthentication no"'
done
# the volumes: formatted by the provider (app1's ext4, db1's xfs, as asked),
# mounted by role volumes at /mnt/NAME by UUID from Hetzner's device path
for v in phase1:app1:data:/mnt/data:ext4 phase2:db1:pgdata:/mnt/pgdata:xfs phase2:db1:kv:/srv/kv:ext4; do
	IFS=: read -r l n name mnt fs <<<"$v"
	dev=/dev/disk/by-id/scsi-0HC_Volume_$(jq -r --arg n "shop-default-$l-$n-$name" '.volumes[] | select(.name == $n) | .id' <<<"$state")
	got=$(on_host "$n" "findmnt -n -o SOURCE,FSTYPE,UUID --mountpoint $mnt; blkid -p -o value -s UUID $dev" | tr '\n' ' ')
	read -r _ f_type f_uuid b_uuid _ <<<"$got"
	check "$n: volume $name ($dev) is mounted at $mnt, $fs, by its UUID: $got" \
		test "$f_type" = "$fs" -a -n "$f_uuid" -a "$f_uuid" = "$b_uuid"
	check "$n: its fstab line names the UUID with nofail" on_host "$n" \
		"grep -q '^UUID=${f_uuid:-none} $mnt $fs defaults,nofail,' /etc/fstab"
done
# PostgreSQL's cluster was made on pgdata (xfs), Redis keeps its files on kv
psql_db1() { on_host db1 "cd / && runuser -u postgres -- psql -X -tAc \"$1\""; }
got=$(psql_db1 'SHOW data_directory' 2>&1)
check "db1: PostgreSQL's data directory is on the volume, got: $got" test "$got" = /mnt/pgdata/postgresql/15/main
check "db1: on the volume's xfs, nothing of a cluster in /var/lib/postgresql" on_host db1 \
	'[ "$(findmnt -n -o FSTYPE -T /mnt/pgdata/postgresql/15/main)" = xfs ] && [ ! -e /var/lib/postgresql/15/main/PG_VERSION ]'
psql_db1 "CREATE TABLE t0318 (v text); INSERT INTO t0318 VALUES ('on-the-volume')" >/dev/null 2>&1
check "db1: a row written there reads back" test "$(psql_db1 'SELECT v FROM t0318')" = on-the-volume
printf '%s' "$PV_TEST_REDIS_ADMIN_PW" | "$PROVISION" -i "$WORK/inventory.yml" ssh db1 -- \
	"sudo -n sh -c 'umask 077 && cat >/root/.redis-admin'" || bail "cannot give db1 the Redis password"
rcli='REDISCLI_AUTH=$(cat /root/.redis-admin) redis-cli --no-auth-warning --user admin -h 127.0.0.1'
got=$(on_host db1 "$rcli config get dir" | tr -d '\r' | tail -1)
check "db1: Redis's dir is on the kv volume, got: $got" test "$got" = /srv/kv/redis
on_host db1 "$rcli set t0318 on-the-volume >/dev/null && $rcli save >/dev/null"
check "db1: Redis wrote its snapshot there, on ext4" on_host db1 \
	'[ -s /srv/kv/redis/dump.rdb ] && [ "$(findmnt -n -o FSTYPE -T /srv/kv/redis)" = ext4 ]'
# neither starts before its volume is mounted (nofail orders no service after a mount)
# (RequiresMountsFor names the directory; systemd turns it into an order
# after the mount unit, and a requirement that 'systemctl show' lists apart)
# unit_mount UNIT DIR MOUNTUNIT: UNIT requires DIR's mount and is ordered after MOUNTUNIT
# (asked up to five times, three seconds apart; each answer that does not hold is printed)
unit_mount() {
	local got i
	for i in 1 2 3 4 5; do
		got=$(on_host db1 "systemctl show -p RequiresMountsFor -p After $1" 2>&1 | tr '\n' ' ')
		grep -Eq "RequiresMountsFor=(.* )?$2( |$)" <<<"$got" && grep -Eq "After=(.* )?$3( |$)" <<<"$got" &&
			return 0
		echo "# $1, try $i: $got"
		sleep 3
	done
	return 1
}
check "db1: PostgreSQL's unit requires its directory's mount and starts after mnt-pgdata.mount" \
	unit_mount postgresql@15-main /mnt/pgdata/postgresql/15/main 'mnt-pgdata\.mount'
check "db1: Redis's unit requires its directory's mount and starts after srv-kv.mount" \
	unit_mount redis-server /srv/kv/redis 'srv-kv\.mount'
check "known_hosts pins exactly the four servers' addresses" \
	test "$(awk '{print $1}' "$WORK/.provision/known_hosts" | sort | tr '\n' ' ')" = "$(jq -r '.servers[].public_net.ipv4.ip' <<<"$state" | sort | tr '\n' ' ')"

before=$(cloud_writes)
for l in phase1 phase2; do
	pvj up "$l" >"$WORK/up2-$l.json" 2>"$WORK/up2-$l.err" || bail "second up $l failed: $(why "$WORK/up2-$l.json" "$WORK/up2-$l.err")"
	check "second up $l: 0 changed, got $(json_resources "$WORK/up2-$l.json" changed | tr '\n' ';')" \
		test "$(json_total "$WORK/up2-$l.json" changed)" = 0
done
check "the second runs wrote nothing to the API" test "$(cloud_writes)" = "$before"

check "the API token is in no output or state" \
	sh -c "! grep -rqFf '$CLOUD_DIR/token' '$WORK'/up*.json '$WORK'/up*.err '$WORK/.provision'"

pv destroy phase2 --yes >"$WORK/destroy-phase2" 2>&1 || bail "destroy phase2 failed: $(tail -n 20 "$WORK/destroy-phase2")"
check "after phase 2 is destroyed, phase 1's server still answers with its pinned key" on_host app1 true
check "and phase 1's resources are all there" \
	test "$(cloud_state | jq -c '[(.servers, .networks, .firewalls, .ssh_keys, .volumes) | length]')" = '[1,1,1,1,1]'
pv destroy phase1 --yes >"$WORK/destroy-phase1" 2>&1 || bail "destroy phase1 failed: $(tail -n 20 "$WORK/destroy-phase1")"
left=$(cloud_state | jq -c '[to_entries[] | select(.key != "actions") | .value[] | select(.labels.project == "shop") | .name]')
check "destroy left nothing of either layout: $left" test "$left" = '[]'
check "and no pinned key" test ! -s "$WORK/.provision/known_hosts"
viol=$(cloud_violations)
check "every request followed the specification${viol:+: $viol}" test -z "$viol"
