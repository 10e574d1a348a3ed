#!/usr/bin/env bash
# Two environments of one layout side by side on local hosts: each has its
# own hosts, bridge, addresses and state, carries its name, and destroying
# staging leaves production running and its state as it was.
. "$(dirname "$0")/lib.sh"

t_project <<'YML'
project: envs
environments:
  production: {}
  staging:
    description: a copy for trying things
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

# host_line ENV HOST FILE LINE: the file on that host has exactly that line.
host_line() {
	on_env_host "$1" "$2" "cat $3" | grep -qx "$4"
}
# What of this project is left: its hosts, mounts and bridges (other projects may run).
my_footprint() {
	pgrep -a -f "systemd-nspawn.*-D $WORK/" || true
	grep " $WORK/" /proc/mounts || true
	for b in "$@"; do ip link show "$b" 2>/dev/null | head -1; done
}

pvj -e staging up phase1 >"$WORK/st.json" 2>"$WORK/st.err" || bail "up phase1 -e staging failed: $(json_errors "$WORK/st.json" "$WORK/st.err")"
pvj -e production up phase1 >"$WORK/pr.json" 2>"$WORK/pr.err" || bail "up phase1 -e production failed: $(json_errors "$WORK/pr.json" "$WORK/pr.err")"
check "staging up failed nothing" test "$(json_total "$WORK/st.json" failed)" = 0
check "production up failed nothing" test "$(json_total "$WORK/pr.json" failed)" = 0

st_addr=$(jq -r '.environments.staging.layouts.phase1.hosts.app1.address' "$state")
pr_addr=$(jq -r '.environments.production.layouts.phase1.hosts.app1.address' "$state")
st_br=$(jq -r '.environments.staging.layouts.phase1.provider_data.bridge' "$state")
pr_br=$(jq -r '.environments.production.layouts.phase1.provider_data.bridge' "$state")
check "each environment has its own address ($st_addr, $pr_addr)" test "$st_addr" != "$pr_addr" -a "$st_addr" != null -a "$pr_addr" != null
check "each environment has its own bridge ($st_br, $pr_br)" test "$st_br" != "$pr_br"
check "no default environment was made" sh -c "! jq -e '.environments.default' '$state' >/dev/null"
check "the state entries carry their environment" \
	test "$(jq -r '[.environments.staging.layouts.phase1.hosts.app1.env, .environments.production.layouts.phase1.hosts.app1.env] | join(" ")' "$state")" = "staging production"
check "the staging host says it is staging" host_line staging app1 /etc/provision-host ENVIRONMENT=staging
check "the production host says it is production" host_line production app1 /etc/provision-host ENVIRONMENT=production
check "the staging bridge is labelled with its environment" sh -c "ip -d link show '$st_br' | grep -q 'alias provision envs env=staging layout=phase1'"
check "the override reached staging (maxretry 3)" host_line staging app1 /etc/fail2ban/jail.d/provision-sshd.local 'maxretry = 3'
check "production has the layout as written (maxretry 5)" host_line production app1 /etc/fail2ban/jail.d/provision-sshd.local 'maxretry = 5'

# status and plan of one environment name only its own host
pv -e staging status phase1 >"$WORK/status" 2>&1
check "status -e staging shows staging's address" grep -q "$st_addr" "$WORK/status"
check "status -e staging does not show production's" sh -c "! grep -q '$pr_addr\\b' '$WORK/status'"
pvj -e staging plan phase1 >"$WORK/plan.json" 2>&1
check "plan -e staging has nothing to do" test -z "$(json_resources "$WORK/plan.json" 'would change')"
# the control: a drifted file on the staging host is the one pending change
# the same query finds
on_env_host staging app1 "sed -i 's/maxretry = 3/maxretry = 9/' /etc/fail2ban/jail.d/provision-sshd.local" ||
	bail "cannot change the fail2ban file on the staging host"
pvj -e staging plan phase1 >"$WORK/plan2.json" 2>&1
drift=$(json_resources "$WORK/plan2.json" 'would change' | tr '\n' ';')
check "plan -e staging reports the drifted file as its one change, got: $drift" \
	test "$drift" = "file /etc/fail2ban/jail.d/provision-sshd.local;"

# an environment the inventory does not declare
pv -e stagin plan phase1 >"$WORK/bad.out" 2>&1
rc=$?
check "an unknown environment is an input error (exit 2, got $rc)" test "$rc" = 2
check "the error suggests the nearest name" grep -q "unknown environment 'stagin' (did you mean 'staging'?)" "$WORK/bad.out"

# staging leaves the inventory while its hosts still run: commands refuse it,
# but destroy can still remove what the state records for it
sed -i '/^  staging:/,/^    vars:/d' "$WORK/inventory.yml"
pv -e staging up phase1 >"$WORK/gone.out" 2>&1
rc=$?
check "an environment taken out of the inventory is refused by up (exit 2, got $rc)" test "$rc" = 2
jq -S '.environments.production' "$state" >"$WORK/prod-before"
pv -e staging destroy phase1 --yes >"$WORK/destroy.out" 2>&1 || bail "destroy -e staging failed: $(tail -5 "$WORK/destroy.out")"
check "destroy says the environment is no longer in the inventory" grep -q "environment 'staging' is no longer in" "$WORK/destroy.out"
jq -S '.environments.production' "$state" >"$WORK/prod-after"
check "destroy -e staging leaves production's state as it was" cmp -s "$WORK/prod-before" "$WORK/prod-after"
check "staging's state is gone" sh -c "! jq -e '.environments.staging.layouts.phase1' '$state' >/dev/null"
check "staging's bridge is gone" sh -c "! ip link show '$st_br' >/dev/null 2>&1"
check "production's bridge is still there" ip link show "$pr_br"
check "the production host still answers over SSH" on_env_host production app1 true
pvj -e production up phase1 >"$WORK/pr2.json" 2>&1
check "production converges with 0 changed afterwards" test "$(json_total "$WORK/pr2.json" changed)" = 0
check "production's host was not recreated" test "$(jq -r '.environments.production.layouts.phase1.hosts.app1.address' "$state")" = "$pr_addr"

pv -e production destroy phase1 --yes >/dev/null 2>&1
check "destroy -e production succeeds" test $? = 0
PV_ENV_LAYOUTS=()
left=$(my_footprint "$st_br" "$pr_br")
check "after both destroys nothing of the tool is left${left:+: $left}" test -z "$left"
