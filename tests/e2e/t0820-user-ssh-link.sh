#!/usr/bin/env bash
# A managed user who replaces ~/.ssh with a link to a directory of root's
# gains nothing: up refuses to follow the link, says so, and leaves the
# directory behind it as it was; once the link is gone, up makes ~/.ssh
# again and the run after changes nothing.
. "$(dirname "$0")/lib.sh"

t_project <<'YML'
project: usrl
layouts:
  one:
    servers:
      u1: { roles: [base, deployer] }
YML
t_uses one
mkdir -p "$WORK/roles/deployer"
cat >"$WORK/roles/deployer/role.yml" <<'YML'
description: a login user for deploys
resources:
  - user:
      name: deployer
      authorized_keys: ["{{ admin_public_key }}"]
YML

pvj up one >"$WORK/up1.json" 2>&1 || bail "first up failed: $(tail -3 "$WORK/up1.json")"
check "deployer's keys are in place" on_host u1 'test -s /home/deployer/.ssh/authorized_keys'

# The user (not root) swaps ~/.ssh for a link to a directory root owns.
VICTIM=/etc/pv-victim
on_host u1 "mkdir -m 755 $VICTIM && echo 'root data' >$VICTIM/file && chmod 644 $VICTIM/file &&
	runuser -u deployer -- sh -c 'rm -rf ~/.ssh && ln -s $VICTIM ~/.ssh'" || bail "cannot make the link"
before=$(on_host u1 "stat -c '%U %G %a %n' $VICTIM $VICTIM/*; sha256sum $VICTIM/file")

pvj up one >"$WORK/up2.json" 2>&1
rc=$?
check "up fails (exit 1), got $rc" test "$rc" = 1
check "the user resource is reported failed" grep -qx "user deployer" <(json_resources "$WORK/up2.json" failed)
check "the failure says it will not follow the link" \
	sh -c "jq -r 'select(.status == \"failed\") | .output' '$WORK/up2.json' | grep -q \"'/home/deployer/.ssh' is a symbolic link .*refusing to follow it\""
after=$(on_host u1 "stat -c '%U %G %a %n' $VICTIM $VICTIM/*; sha256sum $VICTIM/file")
check "the directory behind the link is untouched (owner, mode, files)" test "$before" = "$after"
check "no key file was written there" on_host u1 "test ! -e $VICTIM/authorized_keys"
check "the link itself is left as the user made it" on_host u1 "test -L /home/deployer/.ssh"

on_host u1 'rm /home/deployer/.ssh' || bail "cannot remove the link"
pvj up one >"$WORK/up3.json" 2>&1
check "with the link gone, up succeeds" test $? = 0
check "~/.ssh is a directory of deployer's, mode 700" \
	test "$(on_host u1 "stat -c '%F %U %a' /home/deployer/.ssh")" = "directory deployer 700"
check "authorized_keys is deployer's, mode 600" \
	test "$(on_host u1 "stat -c '%U %a' /home/deployer/.ssh/authorized_keys")" = "deployer 600"
pvj up one >"$WORK/up4.json" 2>&1
check "the next run changes nothing" test "$(json_total "$WORK/up4.json" changed)" = 0
