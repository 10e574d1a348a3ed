#!/usr/bin/env bash
# Environment overrides are checked like the rest of the inventory: each
# problem with the override's own file:line:col, an input error (exit 2),
# and nothing is created.
. "$(dirname "$0")/lib.sh"

t_project <<'YML'
project: envbad
environments:
  production: {}
  staging:
    vars: { fail2ban_maxretry: 3 }
    layouts:
      phase1:
        servers:
          app1: { rols: [base] }
          app9: ~
      phase7: {}
layouts:
  phase1:
    servers:
      app1: { roles: [base, ufw] }
# production is what commands without -e use
default_environment: production
YML
t_uses_env staging phase1

for envopt in "" "-e production" "-e staging"; do
	# shellcheck disable=SC2086 # no option, or "-e NAME"
	out=$("$PROVISION" -i "$WORK/inventory.yml" --plain $envopt up phase1 2>&1)
	rc=$?
	check "up ${envopt:-(default)} with a broken staging override is an input error (got $rc)" test "$rc" = 2
	check "${envopt:-(default)}: the unknown layout is named at its line" \
		grep -q "inventory.yml:11:7: environment 'staging' overrides layout 'phase7', which the inventory does not have (did you mean 'phase1'?)" <<<"$out"
	check "${envopt:-(default)}: the server left out that does not exist" \
		grep -q "inventory.yml:10:11: environment 'staging' removes server 'app9', which layout 'phase1' does not have (did you mean 'app1'?)" <<<"$out"
done
check "nothing was created" test ! -e "$WORK/.provision/state.json"

# once the layout problems are fixed, the server override is checked as a server
sed -i '/app9: ~/d; /phase7: {}/d' "$WORK/inventory.yml"
out=$(pv -e staging validate 2>&1)
check "the merged server's unknown key is named at the override" \
	grep -q "inventory.yml:9:19: unknown key 'rols' in server 'app1' (did you mean 'roles'?)" <<<"$out"
out=$(pv validate 2>&1)
check "and found without -e staging too" grep -q "inventory.yml:9:19: unknown key 'rols'" <<<"$out"
sed -i 's/rols: \[base\]/roles: [base, ufx]/' "$WORK/inventory.yml"
out=$(pv -e staging validate 2>&1)
rc=$?
check "a staging override naming a role that does not exist fails validate -e staging (got $rc)" test "$rc" = 2
check "naming the role at the override" grep -q "inventory.yml:9:33: unknown role 'ufx' (did you mean 'ufw'?)" <<<"$out"
check "production is valid meanwhile" pv -e production validate
check "still nothing was created" test ! -e "$WORK/.provision/state.json"
