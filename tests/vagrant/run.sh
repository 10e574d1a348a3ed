#!/usr/bin/env bash
# The end-to-end checks of tests/e2e/t0200 against real Ubuntu VMs, through
# the 'static' provider.  Needs Vagrant; not part of 'make test' (no
# virtualisation where the suite runs).  Usage: vagrant up && ./run.sh
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PROVISION="$HERE/../../bin/provision"
cd "$HERE"
[ -f admin_key ] || { echo "run.sh: make the key first: ssh-keygen -t ed25519 -N '' -f admin_key" >&2; exit 2; }

# The VMs' host keys are read once over the host-only network, on this
# machine, and pinned in the inventory: no further trust on first use.
inv=inventory.yml
{
	echo "project: vagrant"
	echo "ssh: { user: admin, private_key: admin_key }"
	echo "layouts:"
	echo "  ubuntu:"
	echo "    provider: static"
	echo "    servers:"
	for vm in jammy:192.168.56.22 noble:192.168.56.24; do
		name=${vm%%:*} ip=${vm#*:}
		key=$(ssh-keyscan -t ed25519 "$ip" 2>/dev/null | awk '{print $2, $3}')
		[ -n "$key" ] || { echo "run.sh: $name ($ip) does not answer; vagrant up first" >&2; exit 1; }
		# static servers have no os facts: os_id picks Docker's own repository
		echo "      $name: { roles: [base, ufw, docker], address: $ip, host_key: \"$key\", vars: { os_id: ubuntu } }"
	done
} >"$inv"

fails=0
check() {
	local desc=$1
	shift
	if "$@" >/dev/null 2>&1; then echo "ok - $desc"; else echo "not ok - $desc"; fails=$((fails + 1)); fi
}
"$PROVISION" -i "$inv" --plain up ubuntu
check "second up changes nothing" sh -c "'$PROVISION' -i '$inv' --json up ubuntu | jq -e 'select(.event == \"summary\") | .changed == 0'"
for vm in jammy noble; do
	on() { "$PROVISION" -i "$inv" ssh "$vm" -- "sudo -n sh -c $(printf '%q' "$*")"; }
	check "$vm: sshd refuses passwords" sh -c "$(declare -f on); on 'sshd -T' | grep -qx 'passwordauthentication no'"
	check "$vm: ufw denies incoming by default" sh -c "$(declare -f on); on 'ufw status verbose' | grep -q 'deny (incoming)'"
	check "$vm: fail2ban is active" sh -c "$(declare -f on); on 'systemctl is-active fail2ban'"
	check "$vm: unattended-upgrades is active" sh -c "$(declare -f on); on 'systemctl is-active unattended-upgrades'"
	check "$vm: docker-ce from Docker's repository answers" sh -c "$(declare -f on); on 'dpkg -s docker-ce >/dev/null && docker info >/dev/null'"
	check "$vm: Docker's repository is pinned with signed-by" sh -c "$(declare -f on); on 'grep -q signed-by=/etc/apt/keyrings/docker.asc /etc/apt/sources.list.d/docker.list'"
	check "$vm: docker run works (publishing a port) with the DOCKER-USER rules in place" sh -c "$(declare -f on); on 'docker run -d --rm --name pvt -p 9090:80 nginx:alpine >/dev/null && sleep 2 && iptables -S DOCKER-USER | grep -q \"o docker0 -j DROP\"; r=\$?; docker rm -f pvt >/dev/null; exit \$r'"
done
echo "$fails failed"
[ "$fails" = 0 ]
