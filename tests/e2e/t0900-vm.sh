#!/usr/bin/env bash
# suite: extended (one TCG VM, over half an hour on a loaded 2-core machine; make test-all)
# Provider vm: one qemu VM (a real kernel; TCG when KVM cannot run here)
# booted by real cloud-init from the user_data the cloud providers send,
# converged with [base, ufw, docker].  What only a real kernel shows:
# kernel sysctls applied live and kept over a reboot, 'docker run' with
# published ports that obey ufw (seen from this machine, another host on
# the bridge), a reboot after which every check holds and up changes
# nothing.  The hardening of base (with hardening_integrity) on a real
# kernel: ssh-audit, and 'provision audit' passing with the controls a
# container host can only SKIP (kernel sysctls, module blacklist, auditd,
# acct, mounts), before and after the reboot.  Role backup-files with real
# Docker containers: the labels a container declares (a pre-backup dump, a
# stop for the snapshot, a post-backup step) run around the snapshot of its
# volume, a failing one takes no snapshot, and the volume comes back byte
# for byte.  Two volumes (virtio disks, /dev/disk/by-id/virtio-NAME):
# formatted once (ext4), mounted by UUID with nofail, never formatted
# again, mounted again after an unmount and after the reboot.  Then
# destroy leaves nothing behind, also after a killed up.
#
# One VM for every check (boots are expensive).  The heavy packages are
# baked into the test image ('packages:'); installing them is covered on
# local hosts.  No registry is reachable: the container image is made
# with 'docker import' from Debian's busybox-static.
# timeout: 3600 (TCG VMs on a shared machine; the image is built on the first run)
#
# The volumes are ext4 (xfsprogs would rebuild the guest's initramfs, over
# ten minutes under TCG); xfs, and PostgreSQL's and Redis's data on a
# volume, are shown on the cloud API test servers' hosts (t0318), whose
# volumes are real block devices too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-s3.sh"

export PV_FILES_PASS="files-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# inventory UFW_ALLOW [backup-files]: with role backup-files, its settings
# and the store's (placeholders filled in once the store runs)
inventory() {
	{
		echo "project: t0900"
		[ -z "${2:-}" ] || cat <<EOF
secrets:
  s3_key: env:PV_S3_KEY
  s3_secret: env:PV_S3_SECRET
  files_pass: env:PV_FILES_PASS
EOF
		cat <<EOF
vars:
  ufw_allow: [$1]
  hardening_integrity: true
EOF
		[ -z "${2:-}" ] || {
			printf '  backup_files_volumes: [appdata]\n  backup_files_pass: files_pass\n'
			bk_store_vars
		}
		cat <<EOF
providers:
  vm:
    packages: [docker.io, ufw, fail2ban, python3-systemd, iptables, unattended-upgrades,
               systemd-timesyncd, busybox-static, libpam-pwquality, libpam-tmpdir,
               prometheus-node-exporter, auditd, aide, aide-common, acct, sysstat,
               needrestart, debsums, rkhunter, lynis]   # lynis: for 'audit --lynis' by hand
layouts:
  one:
    provider: vm
    servers:
      app1:
        roles: [base, ufw, docker${2:+, $2}]
        cpus: 2
        memory: 2G
        disk: 10G
        volumes: [{ name: data, size: 1 }, { name: logs, size: 1, mount: /srv/logs }]
EOF
	} | if [ -n "${S3_ADDR:-}" ]; then s3_fill_inventory /dev/stdin; else cat; fi
}
bk_project < <(inventory 22/tcp)
t_uses one
s3_install

# Why a --json up failed: its error events, failed resources, stderr's tail.
why() {
	json_errors "$1" "$2"
	jq -r 'select(.status == "failed") | "\(.host // ""): \(.resource // ""): \(.message // .error // "" | tostring)"' "$1" 2>/dev/null | tail -5
}

start=$SECONDS
pvj up one >"$WORK/up1.json" 2>"$WORK/up1.err" || bail "first up failed: $(why "$WORK/up1.json" "$WORK/up1.err")"
echo "# first up (image from cache or built, boot, converge): $((SECONDS - start)) s"
check "first up failed nothing" test "$(json_total "$WORK/up1.json" failed)" = 0
state=$WORK/.provision/state.json
addr=$(jq -r '.environments.default.layouts.one.hosts.app1.address // empty' "$state")
[ -n "$addr" ] || bail "no address for app1 in the state"
# the store for role backup-files (added below), on the VM's bridge
s3_start one backups

# --- cloud-init did it: the tool's user_data, applied by cloud-init itself
on_host app1 'cloud-init status --long' >"$WORK/ci-status" 2>&1
check "cloud-init finished without errors: $(tr '\n' ' ' <"$WORK/ci-status" | cut -c1-200)" \
	grep -qx 'status: done' "$WORK/ci-status"
check "cloud-init read the NoCloud seed" grep -q 'DataSourceNoCloud' "$WORK/ci-status"
on_host app1 'cloud-init query userdata' >"$WORK/userdata" 2>/dev/null
pinned=$(jq -r '.environments.default.layouts.one.hosts.app1.host_key // empty' "$state")
check "the user_data cloud-init holds is the tool's (#cloud-config, admin user, host key)" \
	sh -c "head -1 '$WORK/userdata' | grep -qx '#cloud-config' && grep -q '^ssh_genkeytypes: \[\]' '$WORK/userdata' &&
		grep -qF '$(printf '%s' "$pinned" | cut -d' ' -f2)' '$WORK/userdata'"
check "cloud-init made the admin user from it" on_host app1 \
	'grep -q "Adding user admin\|useradd.*admin" /var/log/cloud-init.log'
# the key the VM presents, read from outside, is the pinned one
presented=$(ssh-keyscan -T 30 -t ed25519 "$addr" 2>/dev/null | awk '{print $2, $3}')
check "the VM presents the pinned host key" test -n "$presented" -a "$presented" = "$(printf '%s' "$pinned" | cut -d' ' -f1,2)"
check "the tool's known_hosts pins that key for $addr" grep -qF "$(printf '%s' "$pinned" | cut -d' ' -f2)" "$WORK/.provision/known_hosts"
check "no image host key survived (ed25519 only, the tool's)" on_host app1 \
	'[ "$(ls /etc/ssh/ssh_host_*_key | wc -l)" = 1 ] && [ -f /etc/ssh/ssh_host_ed25519_key ]'
check "packages come through the bridge's cache" on_host app1 \
	"grep -q 'Proxy \"http://${addr%.*}.1:' /etc/apt/apt.conf.d/01provision-proxy"

# --- volumes: a disk each, attached with the volume's name as serial
hostdir=$(jq -r '.environments.default.layouts.one.hosts.app1.dir // empty' "$state")
check "each volume is a qcow2 disk of its own beside the VM's" \
	sh -c "qemu-img info -U '$hostdir/volume-data.qcow2' | grep -q 'virtual size: 1 GiB' && qemu-img info -U '$hostdir/volume-logs.qcow2' | grep -q 'file format: qcow2'"
uuid() { on_host app1 "blkid -p -o value -s UUID /dev/disk/by-id/virtio-$1"; }
u_data=$(uuid data) u_logs=$(uuid logs)
check "the guest sees them by their names, both ext4" on_host app1 \
	'[ "$(blkid -p -o value -s TYPE /dev/disk/by-id/virtio-data)" = ext4 ] && [ "$(blkid -p -o value -s TYPE /dev/disk/by-id/virtio-logs)" = ext4 ]'
on_host app1 'cat /etc/fstab' >"$WORK/fstab"
check "fstab mounts data by UUID on /mnt/data with nofail and a device timeout: $(grep /mnt/data "$WORK/fstab")" \
	grep -qx "UUID=$u_data /mnt/data ext4 defaults,nofail,noatime,x-systemd.device-timeout=30s 0 2" "$WORK/fstab"
check "fstab mounts logs by UUID on /srv/logs: $(grep /srv/logs "$WORK/fstab")" \
	grep -qx "UUID=$u_logs /srv/logs ext4 defaults,nofail,noatime,x-systemd.device-timeout=30s 0 2" "$WORK/fstab"
mounted() { on_host app1 "[ \"\$(findmnt -n -o UUID --mountpoint /mnt/data)\" = '$u_data' ] && [ \"\$(findmnt -n -o UUID --mountpoint /srv/logs)\" = '$u_logs' ]"; }
check "both are mounted now, the file systems with those UUIDs" mounted
on_host app1 'echo written-before-the-second-up >/mnt/data/marker && sync'
marker_kept() { on_host app1 '[ "$(cat /mnt/data/marker)" = written-before-the-second-up ]'; }

# --- hardening on a real kernel ----------------------------------------------
# audit: exit 0, and the controls that only a real kernel has pass (a
# container host shows them SKIP): audit_real_kernel OUT.json WHEN
audit_real_kernel() {
	local rc id failed
	pvj audit one >"$1" 2>"${1%.json}.err"
	rc=$?
	failed=$(jq -r 'select(.event == "audit" and .result == "FAIL") | "\(.id) (\(.reason // ""))"' "$1" | tr '\n' ' ')
	check "$2: audit exits 0, got $rc${failed:+: $failed}" test "$rc" = 0
	for id in KERNEL-ASLR KERNEL-PTRACE KERNEL-SUID-DUMPABLE KERNEL-SYSCTL KERNEL-MODULES-FS KERNEL-MODULES-NET \
		AUDITD-ACTIVE ACCT-PROCESS SVC-TIMESYNC MOUNT-TMP MOUNT-DEV-SHM; do
		check "$2: $id passes" test "$(jq -r --arg id "$id" 'select(.event == "audit" and .id == $id) | .result' "$1")" = PASS
	done
}
ssh_audit_checks app1 "$addr"
audit_real_kernel "$WORK/audit1.json" converged
check "a blacklisted module does not load" on_host app1 '! modprobe cramfs 2>/dev/null && ! grep -q "^cramfs " /proc/modules'
check "control: a module that is not blacklisted would load" on_host app1 'modprobe -n isofs'
check "auditd has the rule set loaded" on_host app1 'auditctl -l | grep -q "k identity"'

# --- the kernel: sysctls applied live, also after they drift
sysctls_hold() {
	on_host app1 '[ "$(sysctl -n kernel.kptr_restrict)" = 2 ] && [ "$(sysctl -n kernel.yama.ptrace_scope)" = 1 ] &&
		[ "$(sysctl -n fs.protected_fifos)" = 2 ] && [ "$(sysctl -n fs.suid_dumpable)" = 0 ] &&
		[ "$(sysctl -n net.ipv4.conf.all.accept_redirects)" = 0 ] && [ "$(sysctl -n net.ipv4.ip_forward)" = 1 ]'
}
check "kernel and network sysctls are live" sysctls_hold
check "they are in /etc/sysctl.d for the next boot" on_host app1 \
	'grep -qx "kernel.kptr_restrict = 2" /etc/sysctl.d/99-provision-kernel.conf || grep -qx "kernel.kptr_restrict=2" /etc/sysctl.d/99-provision-kernel.conf'
on_host app1 'sysctl -qw kernel.kptr_restrict=0 fs.protected_fifos=0' >/dev/null 2>&1
check "control: the drifted values are live" on_host app1 '[ "$(sysctl -n kernel.kptr_restrict)" = 0 ]'
pvj up one >"$WORK/up2.json" 2>"$WORK/up2.err" || bail "up after the sysctl drift failed: $(why "$WORK/up2.json" "$WORK/up2.err")"
changed=$(json_resources "$WORK/up2.json" changed | tr '\n' ';')
check "up after the drift changed the kernel sysctls (only), got: $changed" \
	sh -c "printf '%s' '$changed' | grep -q '99-provision-kernel' && [ '$(json_total "$WORK/up2.json" changed)' = 1 ]"
check "and put them back live" sysctls_hold
check "second up: the file on the volume is still there (never formatted again)" marker_kept
check "second up: the UUIDs are the same ($u_data, $u_logs)" \
	test "$(uuid data)" = "$u_data" -a "$(uuid logs)" = "$u_logs"

# --- a real container, published ports, ufw
on_host app1 '
set -e
r=$(mktemp -d)
mkdir -p "$r/bin" "$r/w80" "$r/w90"
cp /bin/busybox "$r/bin/"
ln -s busybox "$r/bin/sh"
ln -s busybox "$r/bin/httpd"
echo port-80-inside >"$r/w80/index.html"
echo port-90-inside >"$r/w90/index.html"
tar -C "$r" -c . | docker import - t0900/web:1 >/dev/null
rm -rf "$r"
docker run -d --name web --restart always -p 8080:80 -p 9090:90 t0900/web:1 \
	/bin/sh -c "httpd -p 80 -h /w80; exec httpd -f -p 90 -h /w90" >/dev/null
' >"$WORK/docker.out" 2>&1 || bail "docker import / docker run failed: $(tail -5 "$WORK/docker.out")"
check "docker run: the container runs" on_host app1 '[ "$(docker inspect -f "{{.State.Running}}" web)" = true ]'
# GET / from this machine (another host on the bridge); empty when no answer
get() { curl -s --max-time 5 "http://$addr:$1/" 2>/dev/null; }
in_vm() { on_host app1 "ip=\$(docker inspect -f '{{.NetworkSettings.IPAddress}}' web); bash -c \"exec 3<>/dev/tcp/\$ip/$1 && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && tail -n 1 <&3\"" 2>/dev/null; }
wait_in_vm() { for _ in $(seq 30); do [ -n "$(in_vm 90)" ] && return 0; sleep 2; done; return 1; }
wait_in_vm || bail "the container's servers do not answer inside the VM"
check "control: inside the VM the container answers on 80" test "$(in_vm 80)" = port-80-inside
got=$(get 8080)
check "8080 not allowed by ufw: unreachable from another host${got:+, got: $got}" test -z "$got"
got=$(get 9090)
check "9090 not allowed by ufw: unreachable from another host${got:+, got: $got}" test -z "$got"

# a volume unmounted (as after a detach and attach again): the next up
# mounts it again and formats nothing
on_host app1 'umount /mnt/data && ! mountpoint -q /mnt/data' || bail "cannot unmount /mnt/data"
inventory '22/tcp, 8080/tcp' backup-files >"$WORK/inventory.yml"
pvj up one >"$WORK/up3.json" 2>"$WORK/up3.err" || bail "up allowing 8080, with backup-files, after the unmount, failed: $(why "$WORK/up3.json" "$WORK/up3.err")"
changed=$(json_resources "$WORK/up3.json" changed | tr '\n' ';')
check "up after the unmount mounted the volume again (the volumes' command changed), got: $changed" \
	grep -q 'format (only a blank device) and mount the volumes' <<<"$changed"
check "after the unmount: both mounted by UUID" mounted
check "after the unmount: the file on the volume is there (not formatted)" marker_kept
got=$(get 8080)
check "ufw allows 8080: the container answers from another host, got: $got" test "$got" = port-80-inside
got=$(get 9090)
check "9090 still unreachable from another host${got:+, got: $got}" test -z "$got"

# --- role backup-files and the labels of the volume's containers: 'db'
# dumps its live file before the snapshot and removes the dump after it;
# 'worker' is stopped for the snapshot
vol=/var/lib/docker/volumes/appdata/_data
on_host app1 '
set -e
loop="trap \"exit 0\" TERM; while :; do sleep 1; done"
docker volume create appdata >/dev/null
docker run -d --name db -v appdata:/data \
	--label provision.backup.pre="cp /data/live.bin /data/dump.bin && echo dumped >/data/dump.note" \
	--label provision.backup.post="rm /data/dump.bin /data/dump.note" \
	t0900/web:1 /bin/sh -c "$loop" >/dev/null
docker run -d --name worker -v appdata:/work --label provision.backup.stop=true t0900/web:1 /bin/sh -c "$loop" >/dev/null
docker exec db sh -c "head -c 65536 /dev/urandom >/data/live.bin"
' >"$WORK/vol.out" 2>&1 || bail "making the volume's containers failed: $(tail -5 "$WORK/vol.out")"
live=$(on_host app1 "sha256sum $vol/live.bin | cut -d' ' -f1")
started=$(on_host app1 "docker inspect -f '{{.State.StartedAt}}' worker")
snaps() { pvj backup files list one | jq -r 'select(.event == "file_snapshots") | .snapshots | length'; }
pv backup files now one >"$WORK/files1" 2>&1
rc=$?
check "backup files now with the containers' steps exits 0 (got $rc): $(tail -n 4 "$WORK/files1" | tr '\n' ' ')" test "$rc" = 0
check "it names db's pre- and post-backup commands and worker's stop" \
	sh -c "grep -q 'container db: pre-backup command' '$WORK/files1' && grep -q 'container db: post-backup command' '$WORK/files1' &&
		grep -q 'container worker: stopped for the snapshot' '$WORK/files1'"
check "db's post-backup command ran after the snapshot: no dump left in the volume" \
	on_host app1 "[ -f $vol/live.bin ] && [ ! -e $vol/dump.bin ] && [ ! -e $vol/dump.note ]"
now=$(on_host app1 "docker inspect -f '{{.State.Running}} {{.State.StartedAt}}' worker")
check "worker was stopped for the snapshot and runs again (started $started, now: $now)" \
	sh -c "[ '${now%% *}' = true ] && [ '${now#* }' != '$started' ]"
check "db kept running" on_host app1 '[ "$(docker inspect -f "{{.State.Running}}" db)" = true ]'
n1=$(snaps)
check "one snapshot listed, got: $n1" test "$n1" = 1

# a pre-backup command that fails: no snapshot, the stopped container started again
on_host app1 'docker run -d --name bad -v appdata:/x --label provision.backup.pre="echo no dump; exit 3" t0900/web:1 /bin/sh -c "while :; do sleep 1; done" >/dev/null' ||
	bail "docker run of the failing container failed"
pv backup files now one >"$WORK/files2" 2>&1
rc=$?
check "a failing pre-backup command fails the backup (exit $rc): $(grep -m1 'bad' "$WORK/files2")" \
	sh -c "[ $rc != 0 ] && grep -q 'container bad: its pre-backup command failed (exit 3)' '$WORK/files2' && grep -q 'no snapshot taken' '$WORK/files2'"
n2=$(snaps)
check "no snapshot was taken, got $n2 (before: $n1)" test "$n2" = "$n1"
check "after it, worker runs and db's dump is gone" on_host app1 \
	"[ \"\$(docker inspect -f '{{.State.Running}}' worker)\" = true ] && [ ! -e $vol/dump.bin ]"
on_host app1 'docker rm -f bad >/dev/null' || bail "docker rm of the failing container failed"

# the volume restored while its containers run: they are stopped for it
# and see the restored files (the dump db made before the snapshot too)
on_host app1 "rm $vol/live.bin" || bail "removing the live file failed"
pv backup files restore one >"$WORK/files3" 2>&1
rc=$?
check "backup files restore exits 0 (got $rc): $(tail -n 3 "$WORK/files3" | tr '\n' ' ')" test "$rc" = 0
check "it names the containers stopped for the restore" \
	sh -c "grep -q 'container db stopped for the restore' '$WORK/files3' && grep -q 'container worker stopped for the restore' '$WORK/files3'"
got=$(on_host app1 "docker exec db sh -c 'sha256sum /data/live.bin' | cut -d' ' -f1")
check "db sees the live file restored byte for byte (${got:-nothing})" test -n "$live" -a "$got" = "$live"
got=$(on_host app1 "docker exec db sh -c 'sha256sum /data/dump.bin | cut -d\" \" -f1; cat /data/dump.note'" | tr '\n' ' ')
check "the snapshot holds the dump db's pre-backup command made (${got:-nothing})" test "$got" = "$live dumped "
check "both containers run after the restore" on_host app1 \
	'[ "$(docker inspect -f "{{.State.Running}}" db worker | sort -u)" = true ]'
on_host app1 "rm $vol/dump.bin $vol/dump.note; rm -rf $vol.before-restore-*" || bail "tidying the volume failed"

# --- status
pv status one >"$WORK/status" 2>&1
check "status: app1 running, its accelerator and console log: $(grep app1 "$WORK/status" | tr -s ' ')" \
	grep -Eq "app1 +running +$addr +(KVM|TCG) +console /.*/console.log" "$WORK/status"

# --- reboot: everything holds, up changes nothing
boot1=$(on_host app1 'cat /proc/sys/kernel/random/boot_id')
start=$SECONDS
timeout 30 "$PROVISION" -i "$WORK/inventory.yml" ssh app1 -- 'sudo -n systemctl reboot' >/dev/null 2>&1
boot2=
while [ $((SECONDS - start)) -lt 1200 ]; do
	sleep 5
	boot2=$(timeout 30 "$PROVISION" -i "$WORK/inventory.yml" ssh app1 -- 'cat /proc/sys/kernel/random/boot_id' 2>/dev/null) || continue
	[ -n "$boot2" ] && [ "$boot2" != "$boot1" ] && break
done
[ -n "$boot2" ] && [ "$boot2" != "$boot1" ] || bail "app1 did not come back from the reboot"
echo "# reboot to SSH: $((SECONDS - start)) s"
check "after reboot: the same pinned host key answers" test "$(ssh-keyscan -T 30 -t ed25519 "$addr" 2>/dev/null | awk '{print $2, $3}')" = "$presented"
check "after reboot: sysctls hold (from /etc/sysctl.d)" sysctls_hold
audit_real_kernel "$WORK/audit2.json" "after reboot"
check "after reboot: AIDE's database is there or its build comes again" on_host app1 \
	'[ -s /var/lib/aide/aide.db ] || [ "$(systemctl show -p SubState --value provision-aide-build.timer)" = waiting ]'
check "after reboot: ufw active, deny incoming" on_host app1 'ufw status verbose | grep -q "^Default: deny (incoming)"'
wait_in_vm || fail "after reboot: the container's servers do not answer inside the VM"
got=$(get 8080)
check "after reboot: 8080 answers from another host, got: $got" test "$got" = port-80-inside
got=$(get 9090)
check "after reboot: 9090 unreachable from another host${got:+, got: $got}" test -z "$got"
check "after reboot: both volumes are mounted again by UUID" mounted
check "after reboot: the file on the volume is there" marker_kept
pvj up one >"$WORK/up4.json" 2>"$WORK/up4.err" || bail "up after reboot failed: $(why "$WORK/up4.json" "$WORK/up4.err")"
check "after reboot: up reports 0 changed, got: $(json_resources "$WORK/up4.json" changed | tr '\n' ';')" \
	test "$(json_total "$WORK/up4.json" changed)" = 0
check "after reboot: up reports 0 failed" test "$(json_total "$WORK/up4.json" failed)" = 0

# --- destroy leaves nothing
vmdir=$WORK/.provision/vm
leftovers() {
	pgrep -af "qemu-system-x86_64 -name p[0-9a-f]*-app1 .*$vmdir" || true
	[ -z "$tap" ] || [ ! -e "/sys/class/net/$tap" ] || echo "tap $tap"
	t_bridges
	[ ! -d "$vmdir/default/one" ] || echo "$vmdir/default/one"
	grep -F "$addr " "$WORK/.provision/known_hosts" 2>/dev/null || true
}
tap=$(jq -r '.environments.default.layouts.one.hosts.app1.tap // empty' "$state")
pv destroy one --yes >"$WORK/destroy.out" 2>&1 || bail "destroy failed: $(tail -5 "$WORK/destroy.out")"
check "destroy: no qemu, tap, bridge, directory or pinned key left: $(leftovers | tr '\n' ' ')" test -z "$(leftovers)"
check "the state named a tap device, got: $tap" test -n "$tap"
check "destroy: the volumes' disks are gone" test -n "$hostdir" -a ! -e "$hostdir/volume-data.qcow2" -a ! -e "$hostdir/volume-logs.qcow2"

# --- a VM that dies while booting: the error shows its console; a killed
# up's leftovers go with the next destroy
"$PROVISION" -i "$WORK/inventory.yml" --json up one >"$WORK/up5.json" 2>"$WORK/up5.err" &
up_pid=$!
qpid=
for _ in $(seq 120); do
	qpid=$(cat "$vmdir"/default/one/hosts/app1/qemu.pid 2>/dev/null) && [ -n "$qpid" ] &&
		[ -s "$vmdir"/default/one/hosts/app1/console.log ] && break
	sleep 1
done
[ -n "$qpid" ] || bail "the second VM did not start"
sleep 3
kill "$qpid"
wait "$up_pid"
check "up fails when the VM dies while booting" test $? != 0
check "the error names the VM and shows its console's last lines: $(json_errors "$WORK/up5.json" "$WORK/up5.err" | head -c 300)" \
	sh -c "jq -r 'select(.event == \"error\") | .message' '$WORK/up5.json' | grep -q \"VM 'app1' stopped while booting; its console .* ends: .*[a-zA-Z]\""
# provision itself in the background (not a function: $! is its pid)
"$PROVISION" -i "$WORK/inventory.yml" --json up one >"$WORK/up6.json" 2>"$WORK/up6.err" &
up_pid=$!
for _ in $(seq 120); do
	[ -s "$vmdir"/default/one/hosts/app1/qemu.pid ] && break
	sleep 1
done
kill -9 "$up_pid"
wait "$up_pid" 2>/dev/null
check "control: the killed up left its VM running" pgrep -f "qemu-system-x86_64 -name p[0-9a-f]*-app1 .*$vmdir"
tap=$(jq -r '.environments.default.layouts.one.hosts.app1.tap // empty' "$state")
pv destroy one --yes >"$WORK/destroy2.out" 2>&1 || bail "destroy after a killed up failed: $(tail -5 "$WORK/destroy2.out")"
check "destroy after a killed up: nothing left: $(leftovers | tr '\n' ' ')" test -z "$(leftovers)"
