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
out=$(pv diff -e staging -e default 2>&1)
rc=$?
check "diff -e staging -e default is refused too (exit 2, got $rc)" test "$rc" = 2
check "with the same message" grep -q "inventory.yml:2:22: this inventory's default environment is 'production'" <<<"$out"
# hosts made before default_environment was set stay recorded under 'default'
mkdir -p -m 700 "$WORK/.provision"
echo '{"version": 1, "project": "clitest", "environments": {"default": {"layouts": {"phase1": {"provider": "local"}}}}}' >"$WORK/.provision/state.json"
out=$(pv plan phase1 2>&1)
check "what 'default' recorded before default_environment: a warning naming it and what to do" \
	grep -q "warning: .*inventory.yml:2:22: the state still records layout 'phase1' in environment 'default', made before default_environment 'production' was set; this run uses 'production' and does not touch them: 'provision -e default destroy LAYOUT' removes them" <<<"$out"
out=$(pv -e default destroy phase1 --yes 2>&1)
rc=$?
check "'-e default destroy phase1' is allowed for it and succeeds (exit $rc: $out)" test "$rc" = 0
check "and the state records nothing under 'default' any more" \
	test "$(jq -c '.environments.default.layouts // {} | keys' "$WORK/.provision/state.json")" = '[]'
out=$(pv plan phase1 2>&1)
check "then the warning is gone" test -z "$(grep 'still records' <<<"$out")"
out=$(pv -e default destroy phase1 --yes 2>&1)
rc=$?
check "with nothing left there, -e default is refused again (exit 2, got $rc)" test "$rc" = 2
rm -rf "$WORK/.provision"
sed -i 's/^default_environment: production/default_environment: prodution/' "$WORK/inventory.yml"
out=$(pv validate 2>&1)
check "a default_environment that is not declared is refused at its position" \
	grep -q "inventory.yml:2:22: default_environment 'prodution' is not under 'environments' (did you mean 'production'?)" <<<"$out"
sed -i '/^default_environment:/d; /^  production: {}/d' "$WORK/inventory.yml"
out=$(pv plan phase1 2>&1)
check "without default_environment, commands use 'default'" grep -q "^plan for layout 'phase1' (environment 'default'" <<<"$out"

# --- exit codes
out=$(pv plan phase1 --detailed-exitcode 2>&1)
rc=$?
check "plan --detailed-exitcode with hosts to create: 2, changes pending (got $rc)" test "$rc" = 2
check "and the plan is shown" grep -q "app1: new host" <<<"$out"
pv plan phase7 --detailed-exitcode >/dev/null 2>&1
rc=$?
check "plan --detailed-exitcode on an error: 1 (got $rc)" test "$rc" = 1
pv plan phase1 >/dev/null 2>&1
rc=$?
check "plan without --detailed-exitcode: 0 with changes pending (got $rc)" test "$rc" = 0
cat >"$WORK/cloud.yml" <<'YML'
project: clitest
providers: { hetzner: { token: env:T0750_NOT_SET } }
layouts:
  phase1:
    provider: hetzner
    servers:
      app1: { roles: [base], type: cx22, location: fsn1 }
YML
out=$("$PROVISION" -i "$WORK/cloud.yml" --plain plan phase1 2>&1)
rc=$?
check "plan with the provider's token secret not set: an input error, exit 2 (got $rc)" test "$rc" = 2
check "naming the secret at its position" grep -q "cloud.yml:2:32: secret 'env:T0750_NOT_SET' is not set" <<<"$out"
sed -i 's/{ token: env:T0750_NOT_SET }/{}/' "$WORK/cloud.yml"
out=$(env -u HCLOUD_TOKEN "$PROVISION" -i "$WORK/cloud.yml" --plain plan phase1 2>&1)
rc=$?
check "plan with no token at all: exit 2 (got $rc)" test "$rc" = 2
check "saying where a token comes from" grep -q "provider 'hetzner' needs an API token: set HCLOUD_TOKEN" <<<"$out"
out=$(pv diff -e staging -e default 2>&1)
rc=$?
check "diff with nothing recorded on either side exits 0 (got $rc)" test "$rc" = 0
# one side recorded: the layout exists in staging's state only
mkdir -p -m 700 "$WORK/.provision"
echo '{"version": 1, "project": "clitest", "environments": {"staging": {"layouts": {"phase1": {"provider": "local", "repro": {}}}}}}' >"$WORK/.provision/state.json"
out=$(pv diff -e staging -e default 2>&1)
rc=$?
check "diff with one side recorded exits 0 without --exit-code (got $rc)" test "$rc" = 0
check "and says so" grep -q "layout 'phase1': nothing recorded in environment 'default'" <<<"$out"
check "counting it apart" grep -qx "0 differences, and 1 layout recorded in one environment only" <<<"$out"
pv diff -e staging -e default --exit-code >/dev/null 2>&1
rc=$?
check "with --exit-code it is a difference: 1 (got $rc)" test "$rc" = 1
rm -rf "$WORK/.provision"

# --- terminal conventions
out=$("$PROVISION" d 2>&1)
rc=$?
check "an ambiguous abbreviation is a usage error (got $rc)" test "$rc" = 2
check "naming the commands it could be" grep -qx "provision: ambiguous command 'd': destroy, diff" <<<"$out"
out=$(pv va 2>&1)
check "a unique prefix runs the command ('va' is validate)" grep -q "valid (1 layout, 1 server)" <<<"$out"
check "abbreviations are documented in --help" sh -c "'$PROVISION' --help | grep -q 'shortened to any prefix only it has'"
for v in -v --verbose; do
	out=$(pv plan phase1 "$v" 2>&1)
	rc=$?
	check "$v is refused (exit 2, got $rc)" test "$rc" = 2
	check "$v: clearly, not as an unknown command" grep -q "there is no '$v': every run already shows each resource" <<<"$out"
done
out=$(cd "$WORK" && mkdir -p empty && cd empty && "$PROVISION" validate 2>&1)
rc=$?
check "no inventory.yml: exit 2 (got $rc)" test "$rc" = 2
check "the message names -i FILE and the example" \
	grep -q "no inventory 'inventory.yml': name one with -i FILE (or \$PROVISION_INVENTORY); to start from the example: cp $ROOT/inventory.example.yml inventory.yml" <<<"$out"

# ssh: options after HOST (the order the usage line shows) are the tool's, not the remote command's
cat >"$WORK/static.yml" <<'YML'
project: clitest
layouts:
  phase1:
    provider: static
    servers:
      app1: { roles: [base], address: 192.0.2.10, host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMm0PpS9ZpOBj5Vb9tDpV4L5fQ2dV9HgDw3y5X8mZzB1" }
  phase2:
    provider: static
    servers:
      app1: { roles: [base], address: 192.0.2.20, host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMm0PpS9ZpOBj5Vb9tDpV4L5fQ2dV9HgDw3y5X8mZzB1" }
YML
mkdir -p -m 700 "$WORK/.provision" "$WORK/stub"
echo '{"version": 1, "project": "clitest", "environments": {"default": {"layouts": {"phase1": {"provider": "static"}, "phase2": {"provider": "static"}}}}}' >"$WORK/.provision/state.json"
# a stand-in ssh that prints the arguments it was given, one per line
printf '#!/bin/sh\nfor a in "$@"; do printf "%%s\\n" "$a"; done\n' >"$WORK/stub/ssh"
chmod +x "$WORK/stub/ssh"
sshpv() { PATH="$WORK/stub:$PATH" "$PROVISION" -i "$WORK/static.yml" --plain ssh "$@"; }
out=$(sshpv app1 -l phase1 -- uptime 2>&1)
check "ssh app1 -l phase1 -- uptime: the remote command is 'uptime' alone" \
	test "$(sed -n '/^--$/,$p' <<<"$out" | tr '\n' ' ')" = "-- 192.0.2.10 uptime "
check "and -l chose phase1's address, logging in as the admin" \
	test "$(sed -n '/^-l$/{n;p}' <<<"$out")" = admin
check "a host that stops answering ends the session (ConnectTimeout, ServerAliveInterval and -CountMax before --)" \
	test "$(sed -n '/^--$/q;/^-o$/{n;p}' <<<"$out" | grep -E '^(ConnectTimeout|ServerAlive)' | tr '\n' ' ')" = \
	"ConnectTimeout=30 ServerAliveInterval=15 ServerAliveCountMax=4 "
out=$(sshpv app1 --layout=phase2 -- ls -l 2>&1)
check "ssh app1 --layout=phase2 -- ls -l keeps the remote command's own -l" \
	test "$(sed -n '/^--$/,$p' <<<"$out" | tr '\n' ' ')" = "-- 192.0.2.20 ls -l "
check "and --layout=phase2 chose phase2's address" grep -qx '192.0.2.20' <<<"$out"
out=$(sshpv -l phase2 app1 -- uptime 2>&1)
check "ssh -l phase2 app1 -- uptime (options first) still works" grep -qx '192.0.2.20' <<<"$out"
rm -rf "$WORK/.provision"

# --- the login key: read-only commands make none; first runs at once make one pair
mkdir -p "$WORK/fresh"
cp "$WORK/inventory.yml" "$WORK/fresh/inventory.yml"
"$PROVISION" -i "$WORK/fresh/inventory.yml" --plain plan phase1 >/dev/null 2>&1
out=$("$PROVISION" -i "$WORK/fresh/inventory.yml" --plain kamal-config phase1 2>&1)
rc=$?
check "kamal-config on a layout never created: an input error, exit 2 (got $rc)" test "$rc" = 2
check "saying to bring it up first" \
	grep -q "layout 'phase1' is not created in environment 'default': run 'provision up phase1' first" <<<"$out"
check "plan and kamal-config in a fresh directory make no key" test ! -e "$WORK/fresh/.provision/keys/id_ed25519"
pairs_ok=0 rounds=12
for r in $(seq "$rounds"); do
	d="$WORK/race$r"
	mkdir -p "$d"
	cp "$WORK/inventory.yml" "$d/inventory.yml"
	for _ in 1 2 3 4 5 6; do
		"$PROVISION" -i "$d/inventory.yml" --plain status >/dev/null 2>&1 &
	done
	wait
	k="$d/.provision/keys/id_ed25519"
	if [ -s "$k" ] && [ "$(ssh-keygen -y -f "$k" | cut -d' ' -f1,2)" = "$(cut -d' ' -f1,2 "$k.pub")" ]; then
		pairs_ok=$((pairs_ok + 1))
	fi
	rm -rf "$d"
done
check "six first runs at once, $rounds times: each time one matching key pair ($pairs_ok of $rounds)" test "$pairs_ok" = "$rounds"

# --- docs: the example's list of built-in roles is every role there is
listed=$(sed -n '/Built in:/,/the full phase 1/p' "$ROOT/inventory.example.yml")
missing=""
for r in "$ROOT"/roles/*/; do
	r=$(basename "$r")
	grep -qw -- "$r" <<<"$listed" || missing="$missing $r"
done
check "inventory.example.yml names every built-in role${missing:+ (missing:$missing)}" test -z "$missing"
check "inventory.example.yml says it once (no garbled repeat)" test "$(grep -c 'Built in:' "$ROOT/inventory.example.yml")" = 1

# --- kamal-config on a static layout: the addresses are in the inventory, no 'up' needed
mkdir -p "$WORK/kamal"
cat >"$WORK/kamal/inventory.yml" <<'YML'
project: shop
layouts:
  metal:
    provider: static
    servers:
      web1:
        roles: [base, docker, ufw, proxy]
        address: 192.0.2.31
        host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMm0PpS9ZpOBj5Vb9tDpV4L5fQ2dV9HgDw3y5X8mZzB1"
        vars: { proxy_flavour: kamal }
      web2:
        roles: [base, docker, ufw, proxy]
        address: 192.0.2.32
        host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMm0PpS9ZpOBj5Vb9tDpV4L5fQ2dV9HgDw3y5X8mZzB1"
        vars: { proxy_flavour: kamal }
YML
out=$("$PROVISION" -i "$WORK/kamal/inventory.yml" --plain kamal-config metal -o "$WORK/kamal/deploy.yml" 2>&1)
rc=$?
check "kamal-config on a static layout never brought up succeeds (got $rc: $out)" test "$rc" = 0
check "with both hosts' addresses from the inventory" \
	sh -c "grep -qx '      - \"\\?192.0.2.31\"\\?' '$WORK/kamal/deploy.yml' && grep -qx '      - \"\\?192.0.2.32\"\\?' '$WORK/kamal/deploy.yml'"
check "and it made no key" test ! -e "$WORK/kamal/.provision/keys/id_ed25519"

# --- --json: every line is an event the schema in doc/events.schema.json accepts, errors included
mkdir -p "$WORK/js"
cp "$WORK/inventory.yml" "$WORK/js/inventory.yml"
pj() { "$PROVISION" -i "$WORK/js/inventory.yml" --json "$@"; }
pj validate >"$WORK/js/validate.out" 2>/dev/null
check "validate --json: a 'valid' event" test "$(jq -r .event "$WORK/js/validate.out")" = valid
pj plan phase1 >"$WORK/js/plan.out" 2>/dev/null
check "plan --json: the new host as a 'planned' event with its roles" \
	test "$(jq -c 'select(.event == "planned" and .host == "app1") | [.action, .roles]' "$WORK/js/plan.out")" = '["+",["base","ufw"]]'
check "and the provider's plan line by line" \
	test "$(jq -r 'select(.event == "planned" and .host == null) | .action' "$WORK/js/plan.out" | sort -u)" = "+"
pj plan phase7 >"$WORK/js/unknown.out" 2>/dev/null
check "an error with --json is an 'error' event on stdout" test "$(jq -r .event "$WORK/js/unknown.out")" = error
pj diff -e staging -e default >"$WORK/js/diff.out" 2>/dev/null
sed -i 's/app1: { roles: \[base, ufw\] }/app1: { rols: [base, ufw] }/' "$WORK/js/inventory.yml"
pj validate >"$WORK/js/bad.out" 2>/dev/null
check "an inventory problem has file, line, col and message" \
	test "$(jq -c '[.event, (.file | test("inventory.yml$")), .line, .col, .message]' "$WORK/js/bad.out")" = \
	"[\"error\",true,7,15,\"unknown key 'rols' in server 'app1' (did you mean 'roles'?)\"]"

# every command's failures that need no host: error events on stdout,
# nothing on stderr, the exit code kept (their successes run on real hosts:
# t0850, t0600, t0650, t0530, t0960, t0730, t0920)
mkdir -p -m 700 "$WORK/jf/.provision"
key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMm0PpS9ZpOBj5Vb9tDpV4L5fQ2dV9HgDw3y5X8mZzB1"
cat >"$WORK/jf/inventory.yml" <<YML
project: clitest
secrets: { s3_key: env:T0750_SECRET, backup_pass: env:T0750_SECRET, db_password: env:T0750_SECRET }
vars:
  private_network: 192.0.2.0/24
  backup_s3_endpoint: 192.0.2.99
  backup_s3_bucket: backups
  backup_s3_key: s3_key
  backup_s3_key_secret: s3_key
  backup_cipher_pass: backup_pass
  patroni_superuser_password: db_password
  postgres_replication_password: db_password
layouts:
  phase1:
    provider: static
    servers:
      app1: { roles: [base, ufw], address: 192.0.2.10, host_key: "$key" }
  db:
    provider: static
    servers:
      db1: { roles: [base, postgres, backup], address: 192.0.2.11, host_key: "$key" }
  ha:
    provider: static
    servers:
      lb1: { roles: [base, pgbouncer], vars: { haproxy_postgres: true }, address: 192.0.2.12, host_key: "$key" }
      pg1: { roles: [base, patroni], address: 192.0.2.13, host_key: "$key" }
  watched:
    provider: static
    servers:
      mon1: { roles: [base, monitoring], address: 192.0.2.14, host_key: "$key" }
  newdb:
    provider: static
    servers:
      db2: { roles: [base, postgres, backup], address: 192.0.2.15, host_key: "$key" }
  newha:
    provider: static
    servers:
      pg2: { roles: [base, patroni], address: 192.0.2.16, host_key: "$key" }
YML
# recorded as made, all but 'watched' (a static layout's hosts are the inventory's)
echo '{"version": 1, "project": "clitest", "environments": {"default": {"layouts": {"phase1": {"provider": "static"}, "db": {"provider": "static"}, "ha": {"provider": "static"}}}}}' >"$WORK/jf/.provision/state.json"
export T0750_SECRET=not-used
# jfail NAME RC MESSAGE ARGS...: provision --json ARGS exits RC with an error event saying MESSAGE (a grep pattern)
jfail() {
	local name=$1 want=$2 msg=$3 rc
	shift 3
	"$PROVISION" -i "$WORK/jf/inventory.yml" --json "$@" </dev/null >"$WORK/js/f-$name.out" 2>"$WORK/js/f-$name.err"
	rc=$?
	check "$* --json: exit $want (got $rc), an error event '$msg', nothing on stderr$(head -c 300 "$WORK/js/f-$name.err")" \
		sh -c "[ $rc = $want ] && jq -r 'select(.event == \"error\") | .message' '$WORK/js/f-$name.out' | grep -q -- \"\$1\" && ! [ -s '$WORK/js/f-$name.err' ]" _ "$msg"
}
jfail up 2 "^unknown layout 'phase7' in '.*inventory.yml' (did you mean 'phase1'?)$" up phase7
jfail status 2 "^unknown layout 'phase7'" status phase7
jfail destroy 2 "^refusing to destroy layout 'phase1' without confirmation; run with --yes$" destroy phase1
jfail ssh 2 "^no host 'app9' in environment 'default'$" ssh app9
jfail diff 2 "^diff compares two environments: give both" diff -e default
jfail share 2 "^no Tailscale API token: set TAILSCALE_API_KEY" share --list
jfail unshare 2 "^server 'app1' has not been created in environment 'default'" unshare app1
jfail kamal 2 "^unknown layout 'phase7'" kamal-config phase7
jfail switchover-to 2 "^server 'lb1' of layout 'ha' has no role patroni$" switchover ha --to lb1
jfail switchover 2 "^layout 'phase1' has no server with role patroni$" switchover phase1
jfail backup 2 "^unknown backup command 'weekly' (now, list, restore, verify, files)$" backup weekly
jfail now 2 "^--type must be full, diff, incr or dump, not 'weekly'$" backup now db --type weekly
jfail list 2 "^layout 'phase1' has no server with role backup$" backup list phase1
jfail restore-at 2 "^--at takes a time such as '2026-05-01 12:00:00+00', not 'x;y'$" backup restore db --at 'x;y'
jfail restore-repo 2 "^--repo takes a repository's number from 1 to 4, not '9'$" backup restore db --repo 9
jfail restore-patroni 2 "^layout 'ha' has no server with role backup$" backup restore ha --yes
jfail verify 2 "^verify needs --on SCRATCH" backup verify db
jfail verify-self 2 "^the scratch server must not be the source 'db1'$" backup verify db --on db1
jfail files 2 "^unknown backup files command 'weekly' (now, list, restore, verify)$" backup files weekly
jfail files-none 2 "^backup files needs a command: now, list, restore or verify$" backup files
jfail files-list 2 "^layout 'phase1' has no server with role backup-files$" backup files list phase1
jfail roles 2 "^unknown role 'nosuch' (no roles/nosuch/role.yml)$" roles nosuch
jfail ui 2 "^unknown ui 'kibana' (prometheus, alertmanager or grafana)$" ui watched kibana
jfail ui-port 2 "^--port must be a port (1-65535), not '0'$" ui watched --port 0
jfail ui-nomon 2 "^layout 'phase1' has no server with role 'monitoring'$" ui phase1
# a layout never created: an input error (exit 2) for every command that works on its hosts
jfail ui-notmade 2 "^layout 'watched' is not created in environment 'default'$" ui watched
jfail audit 2 "^layout 'watched' is not created in environment 'default'$" audit watched
jfail switchover-notmade 2 "^layout 'newha' is not created in environment 'default'$" switchover newha
jfail list-notmade 2 "^layout 'newdb' is not created in environment 'default'$" backup list newdb
jfail now-notmade 2 "^layout 'newdb' is not created in environment 'default'$" backup now newdb
jfail restore-notmade 2 "^layout 'newdb' is not created in environment 'default'$" backup restore newdb --yes
jfail verify-notmade 2 "^layout 'newdb' is not created in environment 'default'$" backup verify newdb --on db2
jfail ambiguous 2 "^ambiguous command 'd': destroy, diff$" d
# ui once 'watched' is made: the tunnel event, then ssh (a stand-in that keeps its arguments)
jq '.environments.default.layouts.watched = {"provider": "static"}' "$WORK/jf/.provision/state.json" >"$WORK/jf/state.new" &&
	mv "$WORK/jf/state.new" "$WORK/jf/.provision/state.json"
mkdir -p "$WORK/jf/stub"
printf '#!/bin/sh\nprintf "%%s\\n" "$@" >"%s"\n' "$WORK/jf/ssh-args" >"$WORK/jf/stub/ssh"
chmod +x "$WORK/jf/stub/ssh"
PATH="$WORK/jf/stub:$PATH" "$PROVISION" -i "$WORK/jf/inventory.yml" --json ui watched alertmanager --port 19093 >"$WORK/js/ui.out" 2>&1
rc=$?
check "ui --json: exit 0 (got $rc), one tunnel event with the local URL (got $(head -c 300 "$WORK/js/ui.out"))" \
	sh -c "[ $rc = 0 ] && [ \"\$(jq -c 'select(.event == \"tunnel\") | [.host, .layout, .ui, .url, .port]' '$WORK/js/ui.out')\" = '[\"mon1\",\"watched\",\"alertmanager\",\"http://127.0.0.1:19093/\",19093]' ]"
check "then ssh forwards that port to Alertmanager on mon1's private address" \
	test "$(sed -n '/^-L$/{n;p}' "$WORK/jf/ssh-args")" = 127.0.0.1:19093:192.0.2.14:9093
PATH="$WORK/jf/stub:$PATH" "$PROVISION" -i "$WORK/jf/inventory.yml" --json ui watched >"$WORK/js/ui2.out" 2>&1
check "ui --json without --port: Prometheus at its own port" \
	test "$(jq -c 'select(.event == "tunnel") | [.ui, .url, .port]' "$WORK/js/ui2.out")" = '["prometheus","http://127.0.0.1:9090/",9090]'
unset T0750_SECRET
jfail apply 2 "^secret 'env:T0750_SECRET' is not set$" apply phase1
check "apply --json: each unset secret at its file, line and col" \
	test "$(jq -c 'select(.event == "error") | [(.file | test("inventory.yml$")), .line, .col]' "$WORK/js/f-apply.out" | sort -u | tr '\n' ' ')" = '[true,2,20] [true,2,51] [true,2,82] '
# kamal-config on a file edited by hand: refused without --force
echo "# edited by hand" >>"$WORK/kamal/deploy.yml"
"$PROVISION" -i "$WORK/kamal/inventory.yml" --json kamal-config metal -o "$WORK/kamal/deploy.yml" >"$WORK/js/f-kamal-edited.out" 2>&1
rc=$?
check "kamal-config --json on a file edited by hand: exit 1 (got $rc), an error event" \
	sh -c "[ $rc = 1 ] && jq -r 'select(.event == \"error\") | .message' '$WORK/js/f-kamal-edited.out' | grep -q 'exists and differs from what the layout gives'"
bad=$(/usr/bin/python3 "$ROOT/tests/helpers/check-events.py" "$ROOT/doc/events.schema.json" "$WORK"/js/*.out 2>&1)
check "every line validates against the schema${bad:+: $bad}" test -z "$bad"
