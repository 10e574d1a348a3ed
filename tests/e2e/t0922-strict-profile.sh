#!/usr/bin/env bash
# hardening_profile: strict on a container host: the converge fails
# nothing, the next changes nothing, and what strict adds is in effect as
# far as a container has it: sshd allows 2 sessions per connection (sshd -T,
# and a third session on one connection is refused), and
# kernel.yama.ptrace_scope 2 is what the boot will apply (one file of
# /etc/sysctl.d sets it: the kernel is the machine's, so 'audit' says SKIP
# for the live value).
. "$(dirname "$0")/lib.sh"

t_project <<'EOF'
project: t0922
vars: { hardening_profile: strict }
layouts:
  one:
    provider: local
    servers:
      app1: { roles: [base] }
EOF
t_uses one

up_json one 1
check "first up failed nothing" test "$(json_total "$WORK/up1.json" failed)" = 0
up_json one 2
check "second up: 0 changed, got $(json_total "$WORK/up2.json" changed)" test "$(json_total "$WORK/up2.json" changed)" = 0

# sshd: 2 sessions per connection
check "sshd -T: maxsessions 2" on_host app1 'sshd -T | grep -qx "maxsessions 2"'
ip=$(jq -r ".environments.default.layouts.one.hosts.app1.address" "$WORK/.provision/state.json")
ctl="$WORK/ctl"
mux() {
	ssh -i "$WORK/.provision/keys/id_ed25519" -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=10 \
		-o UserKnownHostsFile="$WORK/.provision/known_hosts" -o StrictHostKeyChecking=yes \
		-o ControlPath="$ctl" "$@"
}
# one connection (a master without a session of its own), two sessions
# on it that stay, then a third
mux -o ControlMaster=yes -o ControlPersist=120 -fN "admin@$ip" || bail "no master connection to app1"
mux "admin@$ip" 'exec sleep 90' >/dev/null 2>"$WORK/s1.err" &
mux "admin@$ip" 'exec sleep 90' >/dev/null 2>"$WORK/s2.err" &
for _ in $(seq 1 20); do
	[ "$(on_host app1 'pgrep -cx sleep')" -ge 2 ] 2>/dev/null && break
	sleep 1
done
# (ssh then falls back to a connection of its own: sshd's refusal is the proof)
third=$(mux "admin@$ip" true 2>&1)
check "two sessions on one connection are let in" sh -c "! grep -q refused '$WORK/s1.err' '$WORK/s2.err'"
check "a third session on the same connection is refused by sshd (${third%%$'\n'*})" \
	sh -c "printf '%s' \"\$1\" | grep -q 'Session open refused by peer'" _ "$third"
mux -O exit "admin@$ip" >/dev/null 2>&1
wait

# ptrace: only root, from the next boot (the machine's kernel)
files=$(on_host app1 'grep -l "^kernel.yama.ptrace_scope = " /etc/sysctl.d/*.conf' | tr '\n' ' ')
check "one file of /etc/sysctl.d sets kernel.yama.ptrace_scope ($files)" test "$(echo $files | wc -w)" = 1
check "and it says 2" on_host app1 "grep -qx 'kernel.yama.ptrace_scope = 2' $files"

# audit: strict's own bounds, every control passing or saying why not
pvj audit one >"$WORK/audit.json" 2>"$WORK/audit.err"
rc=$?
check "audit of a strict host exits 0, got $rc$(json_errors "$WORK/audit.json" "$WORK/audit.err" | tr '\n' ' ')" test "$rc" = 0
res() { jq -r --arg id "$1" 'select(.event == "audit" and .id == $id) | "\(.result) \(.title)"' "$WORK/audit.json"; }
check "SSH-MAXSESSIONS passes at strict's bound ($(res SSH-MAXSESSIONS))" \
	test "$(res SSH-MAXSESSIONS)" = "PASS at most 2 sessions per connection"
check "KERNEL-PTRACE is SKIP on a container host ($(res KERNEL-PTRACE))" \
	sh -c "printf '%s' '$(res KERNEL-PTRACE)' | grep -q '^SKIP '"
