#!/usr/bin/env bash
# Drift made by hand is shown by plan and --check (with a diff, changing
# nothing) and repaired by the next up, which reports exactly the drifted
# resources as changed.
. "$(dirname "$0")/lib.sh"

t_project "$ROOT/inventory.example.yml"
t_uses phase1

pvj up phase1 >"$WORK/up1.json" 2>&1 || bail "first up phase1 failed"

SSHD=/etc/ssh/sshd_config.d/10-provision.conf
on_host app1 "sed -i 's/^MaxAuthTries .*/MaxAuthTries 9/' $SSHD" || bail "cannot edit $SSHD"
on_host app1 'ufw delete allow 80/tcp' >/dev/null || bail "cannot delete the ufw rule"
before=$(on_host app1 "sha256sum $SSHD; ufw status")

pv plan phase1 >"$WORK/plan" 2>&1
check "plan shows the sshd drop-in as changing" grep -q "change *file $SSHD" "$WORK/plan"
check "plan shows a unified diff of the drop-in" \
	sh -c "grep -q '^ *-MaxAuthTries 9' '$WORK/plan' && grep -q '^ *+MaxAuthTries 3' '$WORK/plan'"
check "plan shows the firewall as changing" grep -q "change *ufw" "$WORK/plan"
check "plan counts exactly 2 pending changes" grep -q '2 changes pending' "$WORK/plan"
pv plan phase1 --detailed-exitcode >/dev/null 2>&1
rc=$?
check "plan --detailed-exitcode with drift: 2, changes pending (got $rc)" test "$rc" = 2

pv up phase1 --check >"$WORK/check" 2>&1
check "up --check shows the same diff" grep -q '^ *-MaxAuthTries 9' "$WORK/check"
after=$(on_host app1 "sha256sum $SSHD; ufw status")
check "plan and --check changed nothing on the host" test "$before" = "$after"

pvj up phase1 >"$WORK/up2.json" 2>&1
check "up after drift succeeds" test $? = 0
changed=$(json_resources "$WORK/up2.json" changed | tr '\n' ';')
check "up reports exactly the drifted resources as changed, got: $changed" \
	test "$changed" = "file $SSHD;ufw;"
check "sshd is back to the hardened value" sh -c "'$PROVISION' -i '$WORK/inventory.yml' ssh app1 -- sudo -n sshd -T | grep -qx 'maxauthtries 3'"
check "the ufw rule is back" sh -c "'$PROVISION' -i '$WORK/inventory.yml' ssh app1 -- sudo -n ufw status | grep -q '^80/tcp .*ALLOW'"

pvj up phase1 >"$WORK/up3.json" 2>&1
check "the run after the repair changes nothing" test "$(json_total "$WORK/up3.json" changed)" = 0
pv plan phase1 --detailed-exitcode >/dev/null 2>&1
rc=$?
check "plan --detailed-exitcode once converged: 0, nothing to do (got $rc)" test "$rc" = 0

# apply with --roles and --hosts converges only what it names.
on_host app1 'ufw delete allow 443/tcp' >/dev/null || bail "cannot delete the ufw rule"
on_host app1 "sed -i 's/^MaxAuthTries .*/MaxAuthTries 8/' $SSHD" || bail "cannot edit $SSHD"
pvj apply phase1 --roles ufw --hosts app1 >"$WORK/apply.json" 2>&1
check "apply --roles ufw succeeds" test $? = 0
roles=$(jq -r 'select(.event == "resource") | .role' "$WORK/apply.json" | sort -u | tr '\n' ' ')
check "apply --roles ufw touches only the ufw role, got: $roles" test "$roles" = "ufw "
check "apply --roles ufw repaired the rule" sh -c "'$PROVISION' -i '$WORK/inventory.yml' ssh app1 -- sudo -n ufw status | grep -q '^443/tcp .*ALLOW'"
check "apply --roles ufw left the sshd drop-in alone" on_host app1 "grep -qx 'MaxAuthTries 8' $SSHD"
out=$(pv apply phase1 --hosts nosuch 2>&1)
check "apply --hosts with an unknown host is a usage error" sh -c "[ $? = 2 ] && printf '%s' \"\$1\" | grep -q \"unknown host 'nosuch'\"" _ "$out"
