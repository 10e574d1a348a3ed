#!/usr/bin/env bash
# The command line as scripts and people meet it, without hosts: which
# environment a command uses without -e.
. "$(dirname "$0")/lib.sh"

t_project <<'YML'
project: clitest
environments:
  production: {}
  staging: { vars: { fail2ban_maxretry: 3 } }
layouts:
  phase1:
    servers:
      app1: { roles: [base, ufw] }
YML

# --- default vs production: one meaning
out=$(pv validate 2>&1)
rc=$?
check "an environment without overrides next to 'default' is refused (exit 2, got $rc)" test "$rc" = 2
check "at its line and column, saying what to do" \
	grep -q "inventory.yml:3:3: environment 'production' has no overrides.*set 'default_environment: production'" <<<"$out"
sed -i '1a default_environment: production' "$WORK/inventory.yml"
check "named as default_environment, the inventory is valid" pv validate
out=$(pv plan phase1 2>&1)
check "without -e commands use it" grep -q "^plan for layout 'phase1' (environment 'production'" <<<"$out"
out=$(pv -e default validate 2>&1)
rc=$?
check "-e default is then refused (exit 2, got $rc)" test "$rc" = 2
check "naming the default_environment line" \
	grep -q "inventory.yml:2:22: this inventory's default environment is 'production': use '-e production', or leave out -e" <<<"$out"
sed -i 's/^default_environment: production/default_environment: prodution/' "$WORK/inventory.yml"
out=$(pv validate 2>&1)
check "a default_environment that is not declared is refused at its position" \
	grep -q "inventory.yml:2:22: default_environment 'prodution' is not under 'environments' (did you mean 'production'?)" <<<"$out"
sed -i '/^default_environment:/d; /^  production: {}/d' "$WORK/inventory.yml"
out=$(pv plan phase1 2>&1)
check "without default_environment, commands use 'default'" grep -q "^plan for layout 'phase1' (environment 'default'" <<<"$out"
