#!/usr/bin/env bash
# timeout: 2700 three converges, one Lynis run
# A host converged with [base, ufw, docker] (hardening_profile baseline,
# with the audit and integrity tools: hardening_integrity)
# scores on the auditors' own tools: Lynis (Debian's, inside the host) and
# ssh-audit (Debian's, from this machine against the host's sshd); the
# figures are printed.  'provision audit' says what the host's own tools
# say: a control broken on the host is a FAIL and exit 1, the next converge
# puts it back.  Kamal-style root logins with a key and the admin's sudo
# still work.
#
# The host is a container: the controls that belong to the machine's
# kernel (kernel.* sysctls, auditd, acct, the clock) are SKIP with their
# reason, and the Lynis floor is the one a container can reach (80).
. "$(dirname "$0")/lib.sh"

command -v ssh-audit >/dev/null || bail "ssh-audit is missing: run 'make deps'"

t_project <<'EOF'
project: t0920
vars: { hardening_integrity: true }
layouts:
  phase1:
    provider: local
    servers:
      app1: { roles: [base, ufw, docker] }
EOF
t_uses phase1

pvj up phase1 >"$WORK/up1.json" 2>"$WORK/up1.err" ||
	bail "up phase1 failed: $(json_errors "$WORK/up1.json" "$WORK/up1.err")"
check "first up failed nothing" test "$(json_total "$WORK/up1.json" failed)" = 0
pvj up phase1 >"$WORK/up2.json" 2>"$WORK/up2.err" ||
	bail "second up failed: $(json_errors "$WORK/up2.json" "$WORK/up2.err")"
check "second up: 0 changed$(json_resources "$WORK/up2.json" changed | sed 's/^/; changed: /' | tr -d '\n')" \
	test "$(json_total "$WORK/up2.json" changed)" = 0

ip=$(jq -r ".environments.default.layouts.phase1.hosts.app1.address" "$WORK/.provision/state.json")
key="$WORK/.provision/keys/id_ed25519"
ssh_to() {
	local who=$1
	shift
	ssh -i "$key" -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=10 \
		-o UserKnownHostsFile="$WORK/.provision/known_hosts" -o StrictHostKeyChecking=yes \
		"$who@$ip" "$@"
}

# --- ssh-audit: no failure; the warnings are the accepted ones only --------
ssh_audit_checks app1 "$ip"

# --- sshd: every item, as sshd computes it -----------------------------------
on_host app1 'sshd -T' >"$WORK/sshd-T" 2>&1
for want in 'loglevel VERBOSE' 'allowtcpforwarding no' 'allowagentforwarding no' \
	'allowstreamlocalforwarding no' 'x11forwarding no' 'permittunnel no' \
	'permituserenvironment no' 'tcpkeepalive no' 'clientalivecountmax 2' 'printlastlog no' \
	'ignoreuserknownhosts yes' 'hostbasedauthentication no' 'gssapiauthentication no' \
	'kerberosauthentication no' 'authenticationmethods publickey' 'maxsessions 4' \
	'maxstartups 10:30:60' 'banner /etc/issue.net' 'compression no'; do
	check "sshd -T: $want" grep -qx "$want" "$WORK/sshd-T"
done
check "sshd loads the ed25519 host key only" \
	test "$(grep '^hostkey ' "$WORK/sshd-T")" = "hostkey /etc/ssh/ssh_host_ed25519_key"
check "sshd_config is 0600" test "$(on_host app1 'stat -c %a /etc/ssh/sshd_config')" = 600
check "moduli: no group under 3072 bits" on_host app1 \
	"awk '\$1 !~ /^#/ && \$5 < 3071 { bad = 1 } END { exit bad }' /etc/ssh/moduli"
check "the SSH version string does not name Debian" \
	sh -c "grep '(gen) banner: SSH-2.0-OpenSSH' '$WORK/ssh-audit-app1' | grep -vqi debian"

# --- Kamal-style root login with a key, and the admin's sudo ---------------
on_host app1 "install -d -m 0700 /root/.ssh && cp /home/admin/.ssh/authorized_keys /root/.ssh/authorized_keys"
check "root logs in with a key (as Kamal deploys)" test "$(ssh_to root id -u 2>/dev/null)" = 0
check "root runs docker over SSH (as Kamal does)" ssh_to root 'docker info >/dev/null'
check "sshd offers public keys only" \
	sh -c "ssh -v -o BatchMode=yes -o PubkeyAuthentication=no -o ConnectTimeout=10 \
		-o UserKnownHostsFile='$WORK/.provision/known_hosts' root@$ip true 2>&1 |
		tr -d '\\r' | grep -qx 'debug1: Authentications that can continue: publickey'"
check "the admin's sudo works without a password" test "$(ssh_to admin sudo -n id -u 2>/dev/null)" = 0
check "sudo logs what it ran" on_host app1 'grep -q "COMMAND=" /var/log/sudo.log'

# --- the AIDE database, before Lynis looks -------------------------------------
# The AIDE database is built by a timer ten minutes after the first converge;
# an auditor comes later than that: build it now and wait for it.
check "the AIDE build waits on its timer after the converge" on_host app1 'systemctl list-timers --all | grep -q provision-aide-build'
on_host app1 'systemctl start provision-aide-build.service' || true
# (every 6 s: ufw limits SSH to 6 new connections in 30 s)
for _ in $(seq 1 100); do on_host app1 'test -s /var/lib/aide/aide.db' && break; sleep 6; done
check "the AIDE database is built" on_host app1 'test -s /var/lib/aide/aide.db'
check "aide --config-check passes" on_host app1 'aide --config-check -c /etc/aide/aide.conf'

# --- provision audit --lynis: every control passes or says why it cannot --
# Lynis runs once, by the audit (installed then, its timer off); its own
# report file on the host (none before it) is what is scored here.
on_host app1 'rm -f /var/lib/provision/lynis-report.dat' || bail "cannot reach app1"
pvj audit phase1 --lynis >"$WORK/audit1.json" 2>"$WORK/audit1.err"
rc=$?
on_host app1 'cat /var/lib/provision/lynis-report.dat' >"$WORK/lynis.dat" ||
	bail "no Lynis report on app1: $(json_errors "$WORK/audit1.json" "$WORK/audit1.err")"
index=$(sed -n 's/^hardening_index=//p' "$WORK/lynis.dat")
warnings=$(grep -c '^warning\[\]=' "$WORK/lynis.dat" || true)
echo "# lynis: hardening index $index, $warnings warnings"
grep -E '^(warning|suggestion)\[\]=' "$WORK/lynis.dat" | cut -c1-140 | sed 's/^/#   /'
check "lynis: hardening index >= 80, got $index" test "${index:-0}" -ge 80
check "lynis: 0 warnings, got $warnings" test "$warnings" = 0
check "lynis: AIDE's checksums are named (no FINT-4402 suggestion)" \
	sh -c "! grep -q '^suggestion\[\]=FINT-4402|' '$WORK/lynis.dat'"
check "audit of a converged host exits 0, got $rc$(json_errors "$WORK/audit1.json" "$WORK/audit1.err" | tr '\n' ' ')" test "$rc" = 0
bad=$(/usr/bin/python3 "$ROOT/tests/helpers/check-events.py" "$ROOT/doc/events.schema.json" "$WORK/audit1.json" 2>&1)
check "audit --json: every line is an event the schema accepts${bad:+: $bad}" test -z "$bad"
res() { jq -r --arg id "$2" 'select(.event == "audit" and .id == $id) | .result' "$1"; }
npass=$(jq -r 'select(.event == "audit_host") | .pass' "$WORK/audit1.json")
nskip=$(jq -r 'select(.event == "audit_host") | .skip' "$WORK/audit1.json")
echo "# audit: $npass passed, $nskip skipped"
check "audit: at least 60 controls pass, got $npass" test "${npass:-0}" -ge 60
check "audit: every role of the host has controls" \
	test "$(jq -r 'select(.event == "audit") | .role' "$WORK/audit1.json" | sort -u | tr '\n' ' ')" = "base docker ufw "
noreason=$(jq -r 'select(.event == "audit" and .result == "SKIP" and ((.reason // "") == "")) | .id' "$WORK/audit1.json")
check "every SKIP says why${noreason:+: $noreason}" test -z "$noreason"
for id in KERNEL-ASLR KERNEL-SYSCTL AUDITD-ACTIVE ACCT-PROCESS; do
	check "$id is SKIP on a container host (the machine's kernel)" test "$(res "$WORK/audit1.json" $id)" = SKIP
done
check "FILES-COMPILERS is SKIP: hardening_restrict_compilers is off" \
	test "$(res "$WORK/audit1.json" FILES-COMPILERS)" = SKIP
# PASS means what the host's own tools say
for id in MOTD-STATIC SSH-LOGLEVEL SSH-CONFIG-PERMS MOUNT-TMP MOUNT-DEV-SHM PAM-FAILLOCK SUDO-PTY UFW-ACTIVE DOCKER-FIREWALL KERNEL-SYSCTL-NET; do
	check "$id passes" test "$(res "$WORK/audit1.json" $id)" = PASS
done
check "the host agrees: /tmp is noexec" on_host app1 'findmnt -no OPTIONS /tmp | tr , "\n" | grep -qx noexec'
check "the host agrees: /dev/shm is noexec" on_host app1 'findmnt -no OPTIONS /dev/shm | tr , "\n" | grep -qx noexec'
check "the host agrees: faillock is in the PAM stack" on_host app1 'grep -q "pam_faillock.so preauth" /etc/pam.d/common-auth'
check "the host agrees: a script in /tmp does not run" \
	on_host app1 'printf "#!/bin/sh\nexit 0\n" >/tmp/t0920.sh && chmod +x /tmp/t0920.sh && ! /tmp/t0920.sh; r=$?; rm -f /tmp/t0920.sh; exit $r'
audit_index=$(jq -r 'select(.event == "lynis") | .hardening_index' "$WORK/audit1.json")
echo "# audit --lynis: hardening index $audit_index"
check "audit --lynis reports Lynis' own index ($index), got $audit_index" test "$audit_index" = "$index"
check "audit --lynis leaves no Lynis timer on" \
	on_host app1 '! systemctl is-enabled -q lynis.timer 2>/dev/null'

# --- apt still installs with /tmp noexec (its exec window around dpkg) ---------
check "apt installs a package with /tmp noexec" on_host app1 \
	'DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends cowsay >/dev/null 2>&1'
check "/tmp is noexec again after apt" on_host app1 'findmnt -no OPTIONS /tmp | tr , "\n" | grep -qx noexec'

# --- break three controls on the host: audit sees it, exit 1 -------------
on_host app1 'chmod 0644 /etc/ssh/sshd_config && mount -o remount,bind,exec /tmp &&
	sed -i "s/^Checksums = .*/Checksums = H/" /etc/aide/aide.conf' || bail "cannot break app1"
pvj audit phase1 >"$WORK/audit2.json" 2>"$WORK/audit2.err"
rc=$?
check "audit of a broken host exits 1, got $rc" test "$rc" = 1
check "SSH-CONFIG-PERMS is FAIL" test "$(res "$WORK/audit2.json" SSH-CONFIG-PERMS)" = FAIL
check "its reason shows the mode the host has" \
	sh -c "jq -r 'select(.id == \"SSH-CONFIG-PERMS\") | .reason' '$WORK/audit2.json' | grep -q '^644:root'"
check "MOUNT-TMP is FAIL" test "$(res "$WORK/audit2.json" MOUNT-TMP)" = FAIL
check "AIDE-CHECKSUMS is FAIL" test "$(res "$WORK/audit2.json" AIDE-CHECKSUMS)" = FAIL
bad=$(/usr/bin/python3 "$ROOT/tests/helpers/check-events.py" "$ROOT/doc/events.schema.json" "$WORK/audit2.json" 2>&1)
check "audit --json with failed controls: every line is an event the schema accepts${bad:+: $bad}" test -z "$bad"
check "the other controls still pass" \
	test "$(jq -r 'select(.event == "audit_host") | .fail' "$WORK/audit2.json")" = 3
pv audit phase1 >"$WORK/audit2.txt" 2>&1
check "the text report names the failed control under its role" \
	sh -c "grep -A200 '^  base' '$WORK/audit2.txt' | grep -E '^    SSH-CONFIG-PERMS +5\.1\.1 .* FAIL \(644:root\)'"

# the next converge puts them back
pvj up phase1 >"$WORK/up3.json" 2>"$WORK/up3.err" ||
	bail "third up failed: $(json_errors "$WORK/up3.json" "$WORK/up3.err")"
check "up puts the broken controls back (3 changed), got $(json_total "$WORK/up3.json" changed)" \
	test "$(json_total "$WORK/up3.json" changed)" = 3
pvj audit phase1 >"$WORK/audit3.json" 2>"$WORK/audit3.err"
check "audit passes again" test $? = 0
