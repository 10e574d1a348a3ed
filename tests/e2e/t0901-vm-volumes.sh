#!/usr/bin/env bash
# Volumes on a real kernel: one qemu VM (provider vm) with two volumes, each
# a qcow2 disk of its own attached as virtio-blk with the volume's name as
# serial (/dev/disk/by-id/virtio-NAME).  Role volumes formats each one once
# (ext4), mounts it by UUID with nofail; PostgreSQL's data directory
# is made on one (postgres_data_volume), Redis keeps its data on the other
# (redis_data_volume).  A second up changes nothing and formats nothing (a
# file written on the volume survives, the UUID stays); after a reboot both
# are mounted again and the row and the key are still there; destroy
# removes the volumes' disks.
#
# The VM image is provider vm's built image with t0900's package list, so
# both scripts share one cached image; PostgreSQL and Redis are installed
# by the roles (through the bridge's package cache).  Both volumes are
# ext4: xfsprogs would rebuild the guest's initramfs, more than ten minutes
# under TCG here; the xfs path is rendered in tests/unit/test-volumes.c.
# timeout: 3000 (a TCG VM on a shared machine; the image is built on the first run)
. "$(dirname "$0")/lib.sh"

t_project <<'EOF'
project: t0901
secrets:
  redis_pw: env:PV_TEST_REDIS_PW
  redis_admin_pw: env:PV_TEST_REDIS_ADMIN_PW
vars:
  redis_password: redis_pw
  redis_admin_password: redis_admin_pw
providers:
  vm:
    packages: [docker.io, ufw, fail2ban, python3-systemd, iptables, unattended-upgrades,
               systemd-timesyncd, busybox-static, libpam-pwquality, libpam-tmpdir,
               prometheus-node-exporter, auditd, aide, aide-common, acct, sysstat,
               needrestart, debsums, rkhunter, lynis]
layouts:
  one:
    provider: vm
    servers:
      db1:
        roles: [postgres, redis]
        memory: 2G
        volumes:
          - { name: pgdata, size: 2 }
          - { name: kv, size: 1, mount: /srv/kv }
        vars:
          postgres_data_volume: pgdata
          redis_data_volume: kv
EOF
t_uses one
export PV_TEST_REDIS_PW="app-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export PV_TEST_REDIS_ADMIN_PW="adm-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"

why() {
	json_errors "$1" "$2"
	jq -r 'select(.status == "failed") | "\(.host // ""): \(.resource // ""): \(.message // .error // "" | tostring)"' "$1" 2>/dev/null | tail -5
}

# --- refused before anything runs: a data volume the server does not have
cp "$WORK/inventory.yml" "$WORK/good.yml"
sed -i 's/^          redis_data_volume: kv$/          redis_data_volume: cache/' "$WORK/inventory.yml"
pvj plan one >"$WORK/plan-bad.json" 2>"$WORK/plan-bad.err" && bail "plan took a data volume the server does not have"
line=$(grep -n 'redis_data_volume: cache' "$WORK/inventory.yml" | cut -d: -f1)
msgs=$(jq -r 'select(.event == "error") | "\(.file):\(.line):\(.col): \(.message)"' "$WORK/plan-bad.json" 2>/dev/null)
check "a data volume the server does not have is refused at its line ($line): $(printf '%s' "$msgs" | head -c 300)" \
	grep -qF "inventory.yml:$line:30: variable 'redis_data_volume' names volume 'cache', which server 'db1' does not have (its volumes: 'pgdata', 'kv')" <<<"$msgs"
check "nothing was made for the refused plan" test ! -d "$WORK/.provision/vm"
cp "$WORK/good.yml" "$WORK/inventory.yml"

start=$SECONDS
pvj up one >"$WORK/up1.json" 2>"$WORK/up1.err" || bail "first up failed: $(why "$WORK/up1.json" "$WORK/up1.err")"
echo "# first up (boot, volumes, PostgreSQL and Redis installed): $((SECONDS - start)) s"
check "first up failed nothing" test "$(json_total "$WORK/up1.json" failed)" = 0
state=$WORK/.provision/state.json
vmdir=$(jq -r '.environments.default.layouts.one.hosts.db1.dir // empty' "$state")
[ -n "$vmdir" ] || bail "no VM directory for db1 in the state"

# --- the disks: a file each, attached with the volume's name as serial
check "each volume is a qcow2 disk of its own beside the VM's" \
	sh -c "qemu-img info -U '$vmdir/volume-pgdata.qcow2' | grep -q 'file format: qcow2' && qemu-img info -U '$vmdir/volume-kv.qcow2' | grep -q 'virtual size: 1 GiB'"
check "the guest sees them by their names" on_host db1 \
	'[ -b /dev/disk/by-id/virtio-pgdata ] && [ -b /dev/disk/by-id/virtio-kv ]'

# --- formatted, in fstab by UUID with nofail, mounted
uuid() { on_host db1 "blkid -p -o value -s UUID /dev/disk/by-id/virtio-$1"; }
u_pg=$(uuid pgdata) u_kv=$(uuid kv)
check "both hold ext4" on_host db1 \
	'[ "$(blkid -p -o value -s TYPE /dev/disk/by-id/virtio-pgdata)" = ext4 ] && [ "$(blkid -p -o value -s TYPE /dev/disk/by-id/virtio-kv)" = ext4 ]'
on_host db1 'cat /etc/fstab' >"$WORK/fstab"
check "fstab mounts pgdata by UUID on /mnt/pgdata with nofail and a device timeout: $(grep pgdata "$WORK/fstab")" \
	grep -qx "UUID=$u_pg /mnt/pgdata ext4 defaults,nofail,noatime,x-systemd.device-timeout=30s 0 2" "$WORK/fstab"
check "fstab mounts kv by UUID on /srv/kv: $(grep /srv/kv "$WORK/fstab")" \
	grep -qx "UUID=$u_kv /srv/kv ext4 defaults,nofail,noatime,x-systemd.device-timeout=30s 0 2" "$WORK/fstab"
mounted() { on_host db1 "[ \"\$(findmnt -n -o UUID --mountpoint /mnt/pgdata)\" = '$u_pg' ] && [ \"\$(findmnt -n -o UUID --mountpoint /srv/kv)\" = '$u_kv' ]"; }
check "both are mounted now, the file systems with those UUIDs" mounted

# --- PostgreSQL's data directory was made on pgdata; a row written
psql_q() { on_host db1 "runuser -u postgres -- psql -X -tAc \"$1\""; }
got=$(psql_q 'SHOW data_directory' 2>&1)
check "PostgreSQL's data directory is on the volume, got: $got" test "$got" = /mnt/pgdata/postgresql/15/main
check "nothing of a cluster was made in /var/lib/postgresql" on_host db1 '[ ! -e /var/lib/postgresql/15/main/PG_VERSION ]'
psql_q "CREATE TABLE t0901 (v text); INSERT INTO t0901 VALUES ('kept-on-the-volume')" >/dev/null 2>&1
check "control: the row is there" test "$(psql_q 'SELECT v FROM t0901')" = kept-on-the-volume

# --- Redis's data on kv
rcli='REDISCLI_AUTH=$(cat /root/.redis-admin) redis-cli --no-auth-warning --user admin -h 127.0.0.1'
printf '%s' "$PV_TEST_REDIS_ADMIN_PW" | "$PROVISION" -i "$WORK/inventory.yml" ssh db1 -- \
	"sudo -n sh -c 'umask 077 && cat >/root/.redis-admin'" || bail "cannot give db1 the Redis password"
got=$(on_host db1 "$rcli config get dir" | tr -d '\r' | tail -1)
check "Redis's dir is on the volume, got: $got" test "$got" = /srv/kv/redis
on_host db1 "$rcli set t0901 kept-on-the-volume >/dev/null && $rcli save >/dev/null"
check "Redis wrote its files there" on_host db1 '[ -s /srv/kv/redis/dump.rdb ] && [ -d /srv/kv/redis/appendonlydir ]'

# --- a file on the volume; a second up changes nothing and formats nothing
on_host db1 'echo written-before-the-second-up >/mnt/pgdata/marker && sync'
pvj up one >"$WORK/up2.json" 2>"$WORK/up2.err" || bail "second up failed: $(why "$WORK/up2.json" "$WORK/up2.err")"
check "second up: 0 changed, got: $(json_resources "$WORK/up2.json" changed | tr '\n' ';')" \
	test "$(json_total "$WORK/up2.json" changed)" = 0
check "second up: the file on the volume is still there (never formatted again)" on_host db1 \
	'[ "$(cat /mnt/pgdata/marker)" = written-before-the-second-up ]'
check "second up: the UUIDs are the same ($u_pg, $u_kv)" \
	test "$(uuid pgdata)" = "$u_pg" -a "$(uuid kv)" = "$u_kv"

# --- re-attachment: the volume unmounted (as after a detach and attach
# again); up mounts it again and formats nothing
on_host db1 'systemctl stop postgresql@15-main && umount /mnt/pgdata && ! mountpoint -q /mnt/pgdata' ||
	bail "cannot unmount /mnt/pgdata"
pvj up one >"$WORK/up3.json" 2>"$WORK/up3.err"
rc=$?
check "up after the unmount succeeds (exit $rc)$([ "$rc" = 0 ] || why "$WORK/up3.json" "$WORK/up3.err" | head -c 300)" test "$rc" = 0
changed=$(json_resources "$WORK/up3.json" changed | tr '\n' ';')
check "up after the unmount mounted the volume again (the volumes' command changed), got: $changed" \
	grep -q 'format (only a blank device) and mount the volumes' <<<"$changed"
check "after the unmount: mounted again by UUID" mounted
check "after the unmount: the file on the volume is there (not formatted)" on_host db1 \
	'[ "$(cat /mnt/pgdata/marker)" = written-before-the-second-up ]'
check "after the unmount: the UUID is the same" test "$(uuid pgdata)" = "$u_pg"
check "after the unmount: PostgreSQL runs again with the row" test "$(psql_q 'SELECT v FROM t0901')" = kept-on-the-volume

# --- reboot: mounted again from fstab, the data is there
vm_reboot db1
check "after reboot: both volumes are mounted again by UUID" mounted
for _ in $(seq 60); do on_host db1 'systemctl is-active -q postgresql@15-main && systemctl is-active -q redis-server' && break; sleep 2; done
check "after reboot: the row is still there" test "$(psql_q 'SELECT v FROM t0901')" = kept-on-the-volume
got=$(on_host db1 "$rcli get t0901" | tr -d '\r')
check "after reboot: Redis's key is still there, got: $got" test "$got" = kept-on-the-volume
check "after reboot: the marker file is there" on_host db1 '[ "$(cat /mnt/pgdata/marker)" = written-before-the-second-up ]'

# --- destroy removes the volumes with the VM
pv destroy one --yes >"$WORK/destroy.out" 2>&1 || bail "destroy failed: $(tail -5 "$WORK/destroy.out")"
check "destroy: the volumes' disks are gone" test ! -e "$vmdir/volume-pgdata.qcow2" -a ! -e "$vmdir/volume-kv.qcow2"
