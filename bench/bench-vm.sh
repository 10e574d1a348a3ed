#!/usr/bin/env bash
# make bench-vm: provider vm, one VM (BENCH_VMS for more, booted at once):
# boot to SSH (image cached; the first run builds it, timed apart), first
# converge of [base, ufw], no-op converge, a guest reboot to SSH.  KVM when
# it runs here, else TCG (BENCH_ACCEL=kvm|tcg to choose); the line says
# which.  Apart from make bench: a TCG VM takes minutes.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROVISION="$ROOT/bin/provision"
n=${BENCH_VMS:-1}
accel=${BENCH_ACCEL:-auto}
if [ "$(id -u)" != 0 ]; then
	echo "bench-vm: VMs on a bridge need root" >&2
	exit 2
fi

dir=$(mktemp -d /tmp/provision-bench-vm.XXXXXX)
cleanup() {
	"$PROVISION" -i "$dir/inventory.yml" --plain destroy bench --yes >/dev/null 2>&1 ||
		echo "bench-vm: destroy failed in $dir" >&2
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
{
	echo "project: bench"
	echo "providers:"
	echo "  vm:"
	# the image of tests/e2e/t0900-vm.sh (the same list, so one cached image
	# serves both): the packages of base and ufw baked in, as apt in a TCG
	# guest is slow
	echo "    packages: [docker.io, ufw, fail2ban, python3-systemd, iptables, unattended-upgrades,"
	echo "               systemd-timesyncd, busybox-static, libpam-pwquality, libpam-tmpdir,"
	echo "               prometheus-node-exporter, auditd, aide, aide-common, acct, sysstat,"
	echo "               needrestart, debsums, rkhunter, lynis]"
	echo "    accel: $accel"
	echo "layouts:"
	echo "  bench:"
	echo "    provider: vm"
	echo "    servers:"
	for i in $(seq 1 "$n"); do echo "      b$i: { roles: [base, ufw], cpus: 2, memory: 2G }"; done
} >"$dir/inventory.yml"
pv() { "$PROVISION" -i "$dir/inventory.yml" --json "$@"; }

t0=$(now)
pv plan bench >/dev/null
# the image, once per recipe: built here when it is not cached yet
pv up bench --only cloud >"$dir/create.json" || { jq -r 'select(.event == "error") | .message' "$dir/create.json"; exit 1; }
t1=$(now)
pv apply bench >"$dir/first.json"
t2=$(now)
pv apply bench >"$dir/noop.json"
t3=$(now)
boot1=$("$PROVISION" -i "$dir/inventory.yml" ssh b1 -- cat /proc/sys/kernel/random/boot_id)
timeout 30 "$PROVISION" -i "$dir/inventory.yml" ssh b1 -- sudo -n systemctl reboot >/dev/null 2>&1 || true
t4=$(now)
while sleep 2; do
	b=$(timeout 30 "$PROVISION" -i "$dir/inventory.yml" ssh b1 -- cat /proc/sys/kernel/random/boot_id 2>/dev/null) || continue
	[ "$b" != "$boot1" ] && break
done
t5=$(now)
how=$("$PROVISION" -i "$dir/inventory.yml" --plain status bench | grep -o -m1 ' KVM \| TCG ' | tr -d ' ')
printf '%-5s %-5s %-20s %-16s %-16s %-16s\n' VMs accel "create+boot (s)" "first conv. (s)" "no-op conv. (s)" "reboot (s)"
printf '%-5s %-5s %-20s %-16s %-16s %-16s\n' "$n" "$how" "$(secs "$t0" "$t1")" "$(secs "$t1" "$t2")" \
	"$(secs "$t2" "$t3")" "$(secs "$t4" "$t5")"
changed=$(jq -r 'select(.event == "summary") | .changed' "$dir/noop.json")
failed=$(jq -r 'select(.event == "summary") | .failed' "$dir/first.json")
if [ "$changed" != 0 ] || [ "$failed" != 0 ]; then
	echo "bench-vm: unexpected result: first converge failed=$failed, no-op changed=$changed" >&2
fi
