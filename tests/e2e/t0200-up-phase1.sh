#!/usr/bin/env bash
# provision up phase1 with the example inventory builds a real host whose own
# tools show the hardening; a second up changes nothing; destroy leaves
# nothing behind.
. "$(dirname "$0")/lib.sh"

t_project "$ROOT/inventory.example.yml"
t_uses phase1

pvj up phase1 >"$WORK/up1.json" 2>"$WORK/up1.err" || {
	cat "$WORK/up1.err"
	jq -c 'select(.status == "failed" or .event == "error" or .error)' "$WORK/up1.json"
	bail "first up phase1 failed"
}
check "first up changed resources" test "$(json_total "$WORK/up1.json" changed)" -gt 0
check "first up failed nothing" test "$(json_total "$WORK/up1.json" failed)" = 0
# fail2ban came with its package and started once, with the role's jail
check_held_start app1 fail2ban /etc/fail2ban/jail.d/provision-sshd.local

# sshd: the effective configuration, as sshd itself computes it.
on_host app1 'sshd -T' >"$WORK/sshd-T" 2>&1
for want in 'passwordauthentication no' 'kbdinteractiveauthentication no' \
	'permitrootlogin without-password' 'maxauthtries 3' 'x11forwarding no' \
	'logingracetime 30' 'pubkeyauthentication yes' 'permitemptypasswords no'; do
	check "sshd -T: $want" grep -qx "$want" "$WORK/sshd-T"
done
check "sshd -T: modern key exchange only" \
	sh -c "grep '^kexalgorithms ' '$WORK/sshd-T' | grep -q curve25519 && ! grep '^kexalgorithms ' '$WORK/sshd-T' | grep -q 'sha1'"
check "sshd -T: no CBC ciphers" sh -c "grep '^ciphers ' '$WORK/sshd-T' | grep -qv cbc"
check "sshd -T: no SHA-1 or MD5 MACs" sh -c "! grep '^macs ' '$WORK/sshd-T' | grep -Eq 'sha1|md5'"

# ufw: deny by default, exactly 22, 80 and 443/tcp.
# an SSH login builds no message of the day (Debian's scripts name the
# kernel, and each login ran them): the file is not written again
on_host app1 'rm -f /run/motd.dynamic' || bail "cannot reach app1"
check "an SSH login writes no /run/motd.dynamic" on_host app1 'test ! -e /run/motd.dynamic'
check "the static /etc/motd is still shown by sshd's PAM stack" on_host app1 'grep -Eq "^session[[:space:]]+optional[[:space:]]+pam_motd\.so[[:space:]]+noupdate" /etc/pam.d/sshd'

on_host app1 'ufw status verbose' >"$WORK/ufw" 2>&1
check "ufw is active" grep -qx 'Status: active' "$WORK/ufw"
check "ufw denies incoming by default" grep -q '^Default: deny (incoming), allow (outgoing)' "$WORK/ufw"
allowed=$(awk '/ALLOW IN/ {print $1, ($2 == "(v6)" ? "v6" : "v4")}' "$WORK/ufw" | sort | tr '\n' ' ')
check "ufw allows exactly 22, 80, 443/tcp (v4 and v6), got: $allowed" \
	test "$allowed" = "22/tcp v4 22/tcp v6 443/tcp v4 443/tcp v6 80/tcp v4 80/tcp v6 "

check "fail2ban is active" on_host app1 'systemctl is-active fail2ban'
check "fail2ban watches sshd" on_host app1 'fail2ban-client status sshd'
check "unattended-upgrades is active" on_host app1 'systemctl is-active unattended-upgrades'
check "automatic upgrades are switched on" on_host app1 \
	"apt-config dump | grep -q 'APT::Periodic::Unattended-Upgrade \"1\"'"
check "journald has a size limit" on_host app1 "grep -rq '^SystemMaxUse=' /etc/systemd/journald.conf.d/"
check "kernel hardening sysctls are in place" on_host app1 \
	"[ \$(sysctl -n net.ipv4.tcp_syncookies) = 1 ] && [ \$(sysctl -n net.ipv4.conf.all.accept_redirects) = 0 ]"
check "IP forwarding stays on for Docker" on_host app1 '[ $(sysctl -n net.ipv4.ip_forward) = 1 ]'
check "the admin user has passwordless sudo" on_host app1 'sudo -n -u admin sudo -n true'

# Second run: nothing changes, on the tool's word and on the host's disk.
on_host app1 'touch /tmp/provision-marker' || bail "cannot reach app1"
sleep 1.1
pvj up phase1 >"$WORK/up2.json" 2>"$WORK/up2.err" || bail "second up failed: $(cat "$WORK/up2.err")"
check "second up: 0 changed" test "$(json_total "$WORK/up2.json" changed)" = 0
check "second up: 0 failed" test "$(json_total "$WORK/up2.json" failed)" = 0
rt=$(jq -r 'select(.event == "host_done") | .round_trips' "$WORK/up2.json")
check "second up: one SSH round trip (the probe), got $rt" test "$rt" = 1
touched=$(on_host app1 'find /etc /usr /home /root /var/lib/provision -xdev -newer /tmp/provision-marker -print 2>/dev/null')
check "second up changed no file on the host${touched:+: $touched}" test -z "$touched"

# plan on a converged host: nothing pending.
pv plan phase1 >"$WORK/plan" 2>&1
check "plan on a converged host shows no pending change" \
	sh -c "! grep -q 'would change' '$WORK/plan' && grep -q '0 changed, 0 failed' '$WORK/plan'"

# ssh uses the pinned key: a wrong pin is refused.
check "provision ssh logs in" sh -c "'$PROVISION' -i '$WORK/inventory.yml' ssh app1 -- hostname | grep -qx app1"

# destroy: nothing of the tool is left.  A process that outlives the
# host's init in its cgroup (as a database flushing its buffers does for a
# moment) is ended, and the host's cgroups are removed.
machine=$(jq -r 'first(.environments[] | .layouts.phase1.hosts.app1.machine // empty)' "$WORK/.provision/state.json")
cgs=$(for root in /sys/fs/cgroup/unified /sys/fs/cgroup /sys/fs/cgroup/systemd; do
	[ ! -d "$root/provision-hosts/$machine" ] || echo "$root/provision-hosts/$machine"
done)
check "app1 has cgroups of its own (${cgs:-none})" test -n "$cgs"
straggler=$(setsid sh -c 'sleep 600 </dev/null >/dev/null 2>&1 & echo $!')
for cg in $cgs; do echo "$straggler" >"$cg/cgroup.procs"; done
pv destroy phase1 --yes >"$WORK/destroy" 2>&1
check "destroy succeeds" test $? = 0
# (ended: gone, or a zombie its new parent has not reaped yet)
state=$(awk '{ print $3 }' "/proc/$straggler/stat" 2>/dev/null)
check "a process left in app1's cgroup is ended by destroy (state ${state:-gone})" \
	test "${state:-Z}" = Z
kill "$straggler" 2>/dev/null
left=$(for cg in $cgs; do [ ! -d "$cg" ] || echo "$cg"; done)
check "destroy removes app1's cgroups${left:+: $left is left}" test -z "$left"
PV_LAYOUTS=()
left=$(tool_footprint)
check "after destroy no process, mount or bridge of the tool is left${left:+: $left}" test -z "$left"
check "after destroy the state has no layout" \
	sh -c "! jq -e '.environments.default.layouts.phase1' '$WORK/.provision/state.json' >/dev/null"
check "after destroy no pinned host key is left" sh -c "! grep -q . '$WORK/.provision/known_hosts' 2>/dev/null"
