#!/usr/bin/env bash
# suite: extended (several converges with drift; make test-all)
# The state records per host what it got (rendered resources, package
# versions); diff between two environments reports the one intentional
# override and nothing else.
. "$(dirname "$0")/lib.sh"

t_project <<'YML'
project: envdiff
environments:
  production: {}
  staging:
    vars: { fail2ban_maxretry: 3 }
layouts:
  phase1:
    servers:
      app1: { roles: [base, ufw] }
# production is what commands without -e use
default_environment: production
YML
t_uses_env staging phase1
t_uses_env production phase1
state=$WORK/.provision/state.json

pvj -e staging up phase1 >"$WORK/st.json" 2>"$WORK/st.err" || bail "up -e staging failed: $(json_errors "$WORK/st.json" "$WORK/st.err")"
pvj -e production up phase1 >"$WORK/pr.json" 2>"$WORK/pr.err" || bail "up -e production failed: $(json_errors "$WORK/pr.json" "$WORK/pr.err")"

rec=.environments.production.layouts.phase1.repro.app1
check "the state records a digest per host" sh -c "jq -e '$rec.digest | test(\"^[0-9a-f]{64}$\")' '$state' >/dev/null"
roles=$(jq -c "$rec.roles | keys" "$state")
check "the state records a digest per role: $roles" test "$roles" = '["base","journal-upload","node-exporter","ufw"]'
check "the state records the rendered fail2ban file" sh -c "jq -e '$rec.resources[\"file /etc/fail2ban/jail.d/provision-sshd.local\"].role == \"base\"' '$state' >/dev/null"
want=$(on_env_host production app1 "dpkg-query -W -f '\${Version}' fail2ban")
got=$(jq -r "$rec.packages.fail2ban" "$state")
check "the recorded fail2ban version is the installed one ($got = $want)" test -n "$want" -a "$got" = "$want"
pkgs=$(jq -r "$rec.packages | keys | join(\" \")" "$state")
check "every package the roles name is recorded: $pkgs" \
	test "$pkgs" = "cracklib-runtime dbus fail2ban iptables libpam-pwquality libpam-tmpdir openssh-server prometheus-node-exporter python3-systemd sudo systemd-timesyncd ufw unattended-upgrades"
check "the state holds no secret-looking content" sh -c "! grep -q 'BEGIN OPENSSH PRIVATE' '$state'"

pv diff -e staging -e production >"$WORK/diff.out" 2>&1
rc=$?
check "diff succeeds (got $rc)" test "$rc" = 0
check "diff reports exactly one difference: $(grep -E '^[0-9]+ difference|^  app1: ' "$WORK/diff.out" | tr '\n' ';')" grep -qx '1 difference' "$WORK/diff.out"
check "the difference is the overridden fail2ban file" \
	grep -qx "  app1: file /etc/fail2ban/jail.d/provision-sshd.local (role base) differs" "$WORK/diff.out"
check "diff shows how the file differs" grep -qx -- '-maxretry = 3' "$WORK/diff.out"
check "in both directions" grep -qx -- '+maxretry = 5' "$WORK/diff.out"
check "with both environments in the headers" \
	sh -c "grep -qx -- '--- staging/app1:/etc/fail2ban/jail.d/provision-sshd.local' '$WORK/diff.out' && grep -qx -- '+++ production/app1:/etc/fail2ban/jail.d/provision-sshd.local' '$WORK/diff.out'"
check "and no other line of the file as a change" test "$(grep -c '^[-+][^-+]' "$WORK/diff.out")" = 2
pvj diff -e staging -e production >"$WORK/diff.json" 2>&1
check "diff --json lists that one resource and nothing else" \
	test "$(jq -c '[.items[] | [.host, .kind, .what]]' "$WORK/diff.json")" = '[["app1","resource","file /etc/fail2ban/jail.d/provision-sshd.local"]]'
pv diff -e staging -e production --exit-code >/dev/null 2>&1
check "diff --exit-code exits 1 on a difference" test $? = 1
pv diff -e production -e production --exit-code >"$WORK/same.out" 2>&1
check "an environment does not differ from itself" sh -c "test $? = 0 && grep -qx '0 differences' '$WORK/same.out'"
pv diff -e staging >"$WORK/one.out" 2>&1
check "diff with one environment is a usage error" test $? = 2
pv -e staging -e production plan phase1 >"$WORK/two.out" 2>&1
check "two -e outside diff are a usage error" sh -c "test $? = 2 && grep -q 'only .diff. compares two environments' '$WORK/two.out'"

# once the inventory changes, the recorded difference stays but its content is not guessed at
sed -i 's/fail2ban_maxretry: 3/fail2ban_maxretry: 4/' "$WORK/inventory.yml"
pv diff -e staging -e production >"$WORK/diff-changed.out" 2>&1
check "a file rendered differently since is not shown as if the host had it" \
	sh -c "grep -q 'content not shown' '$WORK/diff-changed.out' && ! grep -q 'maxretry = 4' '$WORK/diff-changed.out'"
sed -i 's/fail2ban_maxretry: 4/fail2ban_maxretry: 3/' "$WORK/inventory.yml"

# a package version that differs is reported too (edit the record of staging)
jq '.environments.staging.layouts.phase1.repro.app1.packages.sudo = "0.0-other"' "$state" >"$WORK/s2" && cp "$WORK/s2" "$state"
pv diff -e staging -e production >"$WORK/diff2.out" 2>&1
check "a differing package version is reported" grep -q "  app1: package sudo: 0.0-other in 'staging', .* in 'production'" "$WORK/diff2.out"
check "and counted" grep -qx '2 differences' "$WORK/diff2.out"
