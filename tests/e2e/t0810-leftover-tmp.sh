#!/usr/bin/env bash
# What a killed run or a lost host leaves half-written is removed by the
# next run: temporary files of the state and of the tool's key on the
# operator's machine, a stage directory (it can hold secrets) and a
# temporary file next to a managed file on the host.  Files that only look
# alike are kept.
. "$(dirname "$0")/lib.sh"

t_project <<'YML'
project: tmpf
layouts:
  one:
    servers:
      t1: { roles: [base] }
YML
t_uses one

pvj up one >"$WORK/up1.json" 2>&1 || bail "first up failed: $(tail -3 "$WORK/up1.json")"
P=$WORK/.provision
test -d "$P/keys" || bail "no key directory at .provision/keys"

# As a SIGKILL between the temporary file and its rename leaves them.
printf '{"half":' >"$P/state.json.tmp.Ab12Cd"
printf -- '-----BEGIN OPENSSH PRIVATE KEY-----\n' >"$P/keys/id_ed25519.tmp.XyZ789"
printf 'mine\n' >"$P/notes.tmp.txt"
JAIL=/etc/fail2ban/jail.d/provision-sshd.local
on_host t1 "mkdir -m 700 /tmp/pv-apply.Lost01 && echo secret >/tmp/pv-apply.Lost01/f &&
	echo half >/etc/fail2ban/jail.d/.pv-Lost02 && echo mine >/etc/fail2ban/jail.d/.pv-mine.keep &&
	echo '# drift' >>$JAIL" || bail "cannot plant the leftovers on t1"

pvj up one >"$WORK/up2.json" 2>&1
rc=$?
check "up succeeds (exit 0), got $rc" test "$rc" = 0
check "the state's temporary file is gone" test ! -e "$P/state.json.tmp.Ab12Cd"
check "the key's temporary file is gone" test ! -e "$P/keys/id_ed25519.tmp.XyZ789"
check "a file that only looks alike is kept" test -e "$P/notes.tmp.txt"
check "the state file is still valid JSON" jq -e .version "$P/state.json"
check "the lost stage directory is gone from t1" test -z "$(on_host t1 'ls -d /tmp/pv-apply.* 2>/dev/null')"
check "the temporary file next to the jail is gone" \
	test -z "$(on_host t1 'ls /etc/fail2ban/jail.d/.pv-Lost02 2>/dev/null')"
check "a file that only looks alike is kept on t1" on_host t1 'test -e /etc/fail2ban/jail.d/.pv-mine.keep'
check "the drifted jail is repaired" test "$(json_total "$WORK/up2.json" changed)" -ge 1

pvj up one >"$WORK/up3.json" 2>&1
check "the next run changes nothing" test "$(json_total "$WORK/up3.json" changed)" = 0
