#!/usr/bin/env bash
# The ports a role declares are opened by the firewall role.  Secrets from
# the inventory reach the host and nowhere else: not the
# output of up, plan or --check, not the state; a missing secret stops up
# before anything exists.  A host offering a key other than the pinned one
# is refused, by up and by ssh.
. "$(dirname "$0")/lib.sh"

t_project <<'YML'
project: sec
secrets:
  api_token: env:PV_TEST_TOKEN
layouts:
  one:
    servers:
      s1: { roles: [app, ufw] }
YML
t_uses one
mkdir -p "$WORK/roles/app" "$WORK/templates"
cat >"$WORK/roles/app/role.yml" <<'YML'
description: an app that needs a token and opens a port
ports: [8443/tcp]
resources:
  - file:
      path: /etc/app/token.conf
      template: token.conf
      mode: "0600"
  - command:
      run: "printf '%s' {{ api_token }} > /etc/app/from-command"
      creates: /etc/app/from-command
YML
printf '{# format: ini #}\ntoken = {{ api_token }}\n' >"$WORK/templates/token.conf"

unset PV_TEST_TOKEN
out=$(pv up one 2>&1)
rc=$?
check "a missing secret is an input error (exit 2), got $rc" test "$rc" = 2
check "one error, naming the reference: $out" \
	sh -c "[ \$(printf '%s\n' \"\$1\" | grep -c .) = 1 ] && printf '%s' \"\$1\" | grep -q 'inventory.yml:3:14: .*env:PV_TEST_TOKEN'" _ "$out"
check "a missing secret creates nothing" sh -c "! ip -o link show type bridge | grep -qF ' state=$WORK/.provision' && ! jq -e '.environments.default' '$WORK/.provision/state.json' >/dev/null 2>&1"

export PV_TEST_TOKEN="tok-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
pvj up one >"$WORK/up.json" 2>"$WORK/up.err" || bail "up with the secret failed: $(json_errors "$WORK/up.json" "$WORK/up.err")"
check "the host has the secret in the file" test "$(on_host s1 'cat /etc/app/token.conf')" = "token = $PV_TEST_TOKEN"
check "the host has the secret from the command" test "$(on_host s1 'cat /etc/app/from-command')" = "$PV_TEST_TOKEN"
check "the firewall opens the port the app role declares" \
	sh -c "'$PROVISION' -i '$WORK/inventory.yml' ssh s1 -- sudo -n ufw status | grep -q '^8443/tcp .*ALLOW'"
check "the secret file has mode 600" test "$(on_host s1 'stat -c %a /etc/app/token.conf')" = 600
check "up's output never shows the secret" sh -c "! grep -q '$PV_TEST_TOKEN' '$WORK/up.json' '$WORK/up.err'"
# .provision/local holds the hosts' own disks, where the secret belongs
check "the state never holds the secret" sh -c "! grep -rq --exclude-dir=local '$PV_TEST_TOKEN' '$WORK/.provision'"

on_host s1 'echo "token = old" > /etc/app/token.conf' || bail "cannot change the file"
pv plan one >"$WORK/plan" 2>&1
check "plan shows the secret file as changing" grep -q 'change *file /etc/app/token.conf' "$WORK/plan"
check "plan hides the content of a secret file" grep -q 'content hidden' "$WORK/plan"
check "plan never shows the secret or the content on the host" \
	sh -c "! grep -Eq '$PV_TEST_TOKEN|token = old' '$WORK/plan'"
pv up one --check >"$WORK/check" 2>&1
check "--check never shows the secret" sh -c "! grep -q '$PV_TEST_TOKEN' '$WORK/check'"
pvj up one >"$WORK/up2.json" 2>&1
check "up puts the secret file back" test "$(on_host s1 'cat /etc/app/token.conf')" = "token = $PV_TEST_TOKEN"
check "the repair's output never shows the secret" sh -c "! grep -q '$PV_TEST_TOKEN' '$WORK/up2.json'"

# Host keys: swap the pinned key for another one.
KH="$WORK/.provision/known_hosts"
cp "$KH" "$WORK/kh.good"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/other" >/dev/null
addr=$(awk '{print $1}' "$KH")
printf '%s %s\n' "$addr" "$(cut -d' ' -f1,2 "$WORK/other.pub")" >"$KH"
out=$(pv up one 2>&1)
rc=$?
check "up refuses a host whose key differs from the pinned one (exit 1), got $rc" test "$rc" = 1
check "the refusal says the host key does not match: $out" grep -q "host key of 's1' .* does not match the pinned key" <<<"$out"
out=$("$PROVISION" -i "$WORK/inventory.yml" ssh s1 -- true 2>&1)
rc=$?
check "provision ssh refuses it too (exit $rc): $(tail -n 1 <<<"$out")" \
	sh -c "[ $rc != 0 ] && printf '%s' \"\$1\" | grep -q 'Host key verification failed'" _ "$out"
cp "$WORK/kh.good" "$KH"
check "with the right pin the host answers again" on_host s1 true
