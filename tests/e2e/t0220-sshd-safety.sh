#!/usr/bin/env bash
# The operator is never locked out: a broken sshd drop-in is caught by
# 'sshd -t' and not activated; a drop-in that sshd accepts but that refuses
# the admin's login is rolled back after a fresh login fails.
. "$(dirname "$0")/lib.sh"

t_project "$ROOT/inventory.example.yml"
t_uses phase1
# The project's own copy of the roles and templates, to break on purpose.
cp -r "$ROOT/roles" "$ROOT/templates" "$WORK/"
TPL="$WORK/templates/sshd_hardening.conf"
SSHD=/etc/ssh/sshd_config.d/10-provision.conf
test -f "$TPL" || bail "no sshd template at templates/sshd_hardening.conf"
cp "$TPL" "$WORK/good.conf"

pvj up phase1 >"$WORK/up1.json" 2>&1 || bail "first up phase1 failed"
good=$(on_host app1 "sha256sum < $SSHD")

# 1. Not valid for sshd at all.
printf 'ThisIsNotAnSshdOption yes\n' >>"$TPL"
pvj up phase1 >"$WORK/up2.json" 2>&1
rc=$?
check "a broken sshd drop-in makes up fail (exit 1), got $rc" test "$rc" = 1
check "the drop-in resource is reported failed" grep -qx "file $SSHD" <(json_resources "$WORK/up2.json" failed)
check "the failure shows sshd -t's complaint" \
	sh -c "jq -r 'select(.status == \"failed\") | .output' '$WORK/up2.json' | grep -qi 'ThisIsNotAnSshdOption'"
check "the host still answers a fresh login" on_host app1 true
check "the previous drop-in is still in place" test "$(on_host app1 "sha256sum < $SSHD")" = "$good"
check "sshd -t passes on the host" on_host app1 'sshd -t'

# 2. Valid for sshd, but it would shut the admin out.
cp "$WORK/good.conf" "$TPL"
printf 'AllowUsers nobody-at-all\n' >>"$TPL"
pvj up phase1 >"$WORK/up3.json" 2>&1
rc=$?
check "a lock-out drop-in makes up fail (exit 1), got $rc" test "$rc" = 1
check "the lock-out is reported as rolled back" \
	sh -c "jq -r 'select(.status == \"failed\") | .output' '$WORK/up3.json' | grep -q 'rolled back'"
check "the host still answers a fresh login after the rollback" on_host app1 true
check "the previous drop-in is back" test "$(on_host app1 "sha256sum < $SSHD")" = "$good"
check "sshd does not run with the lock-out setting" sh -c "! '$PROVISION' -i '$WORK/inventory.yml' ssh app1 -- sudo -n sshd -T | grep -q '^allowusers'"

# 3. Fixed template: converges cleanly again.
cp "$WORK/good.conf" "$TPL"
pvj up phase1 >"$WORK/up4.json" 2>&1
check "with the template fixed, up succeeds with 0 changed" test "$(json_total "$WORK/up4.json" changed)" = 0
