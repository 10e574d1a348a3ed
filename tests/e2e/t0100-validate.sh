#!/usr/bin/env bash
# Bad inventories: each gives one clear error with file:line:col, exit
# status 2, and changes nothing (no state, no hosts).  No hosts needed.
. "$(dirname "$0")/lib.sh"

t_project "$ROOT/inventory.example.yml"

out=$(pv validate 2>&1)
check "the example inventory is valid" test $? = 0
check "validate says so" grep -q 'valid (2 layouts, 6 servers)' <<<"$out"

# expect_error NAME EXPECTED-MESSAGE: validate and up fail with exactly that one line.
expect_error() {
	local name=$1 want=$2 out rc lines
	out=$(pv validate 2>&1)
	rc=$?
	lines=$(printf '%s\n' "$out" | grep -c .)
	if [ "$rc" = 2 ] && [ "$lines" = 1 ] && grep -qF -- "$want" <<<"$out"; then
		pass "$name: validate reports '$want'"
	else
		fail "$name: validate exit $rc, $lines line(s), wanted '$want', got: $out"
	fi
	out=$(pv up phase1 2>&1)
	rc=$?
	if [ "$rc" = 2 ] && [ ! -e "$WORK/.provision/state.json" ] && ! ip -o link show type bridge | grep -qF " state=$WORK/.provision"; then
		pass "$name: up refuses (exit 2) and creates nothing"
	else
		fail "$name: up exit $rc; state or bridge left behind: $out"
	fi
}

write() { cat >"$WORK/inventory.yml"; }

write <<'YML'
project: shop
layouts:
  phase1:
    servers:
      app1:
        rols: [base, ufw]
YML
expect_error "unknown key" "inventory.yml:6:9: unknown key 'rols' in server 'app1' (did you mean 'roles'?)"

write <<'YML'
project: shop
ssh:
  port: twenty-two
layouts:
  phase1:
    servers:
      app1:
        roles: [base]
YML
expect_error "wrong type" "inventory.yml:3:9:"

write <<'YML'
project: shop
layouts:
  phase1:
    servers:
      app1:
        roles: [base, ufv]
YML
expect_error "missing role" "inventory.yml:6:23: unknown role 'ufv' (did you mean 'ufw'?)"

write <<'YML'
project: shop
layouts:
  phase1:
    servers:
      app1:
        roles: [base, ufw
YML
expect_error "broken YAML" "inventory.yml:7:1:"

write <<'YML'
project: shop
layouts:
  phase1:
    servers:
      "x'; rm -rf / #":
        roles: [base]
YML
expect_error "hostile server name" "inventory.yml:5:7: invalid server name"

write <<'YML'
project: shop
ssh:
  user: "x'; rm -rf / #"
layouts:
  phase1:
    servers:
      app1:
        roles: [base]
YML
expect_error "hostile user name" "inventory.yml:3:9:"

# An undefined variable in a template of the project's own role.
mkdir -p "$WORK/roles/motd" "$WORK/templates"
cat >"$WORK/roles/motd/role.yml" <<'YML'
description: message of the day
resources:
  - file:
      path: /etc/motd
      template: motd.txt
YML
printf '{# format: plain #}\nWelcome to {{ server_name }}\nOwner: {{ owner_name }}\n' >"$WORK/templates/motd.txt"
write <<'YML'
project: shop
layouts:
  phase1:
    servers:
      app1:
        roles: [motd]
YML
expect_error "undefined template variable" "motd.txt:3:11: undefined variable 'owner_name'"

# A hostile value is fine as data: it is quoted wherever it reaches a shell.
# The role declares no variables: its free variable goes under 'custom'.
cat >"$WORK/roles/motd/role.yml" <<'YML'
description: message of the day
resources:
  - command:
      run: "printf '%s\n' {{ owner_name }} > /etc/motd.owner"
      creates: /etc/motd.owner
YML
write <<'YML'
project: shop
vars:
  custom:
    owner_name: "x'; rm -rf / #"
layouts:
  phase1:
    servers:
      app1:
        roles: [motd]
YML
out=$(pv validate 2>&1)
check "a hostile variable value is accepted as data" test $? = 0

rm -rf "$WORK/roles" "$WORK/templates"
# values written into a configuration file must be what they claim to be
write <<'YML'
project: shop
layouts:
  phase1:
    servers:
      app1:
        roles: [base, ufw, proxy]
        vars:
          proxy_sites: [{ host: shop.example.com, upstream: "127.0.0.1:3000 {" }]
YML
expect_error "a proxy upstream that is not host:port" \
	"$WORK/inventory.yml:8:61: variable 'proxy_sites[0].upstream' must be HOST:PORT like '127.0.0.1:3000', not '127.0.0.1:3000 {'"

write <<'YML'
project: shop
layouts:
  phase1:
    servers:
      app1:
        roles: [base]
YML
out=$(pv up phase9 2>&1)
rc=$?
check "an unknown layout is a usage error naming the nearest one" \
	sh -c "[ $rc = 2 ] && printf '%s' \"\$1\" | grep -q \"unknown layout 'phase9'.*phase1\"" _ "$out"

out=$(pv destroy phase1 </dev/null 2>&1)
check "destroy of a layout never created says so" grep -q "has nothing" <<<"$out"

# One run at a time: while another run holds the lock, up refuses at once.
mkdir -p "$WORK/.provision"
(
	exec 9>"$WORK/.provision/lock"
	flock 9 && touch "$WORK/locked" && exec sleep 30
) &
holder=$!
for _ in $(seq 100); do [ -e "$WORK/locked" ] && break; sleep 0.1; done
[ -e "$WORK/locked" ] || bail "the lock holder did not take the lock"
out=$(pv up phase1 2>&1)
rc=$?
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
check "up refuses while another run holds the lock (exit 1), got $rc: $out" \
	sh -c "[ $rc = 1 ] && printf '%s' \"\$1\" | grep -q 'another provision run holds the lock'" _ "$out"
check "a refused run creates nothing" sh -c "! ip -o link show type bridge | grep -qF ' state=$WORK/.provision'"

out=$(pv frobnicate 2>&1)
rc=$?
check "unknown command: exit 2 with a hint" sh -c "[ $rc = 2 ]"
for c in validate plan up apply status destroy ssh; do
	check "'$c --help' exits 0 and shows usage" sh -c "'$PROVISION' $c --help | grep -q '^usage: provision $c'"
done

# A bad global variable is checked for every layout that uses it, and shown once.
cat >"$WORK/twice.yml" <<'YML'
project: twice
vars:
  backup_repos:
    - endpoint: s3.example.com
      bucke: b
layouts:
  a:
    servers:
      s1: { roles: [base, postgres, backup] }
  b:
    servers:
      s2: { roles: [base, postgres, backup] }
YML
out=$("$PROVISION" -i "$WORK/twice.yml" --plain validate 2>&1)
rc=$?
check "a bad global variable used by two layouts is refused (exit 2), got $rc" test "$rc" = 2
check "and each problem is shown once: $out" \
	sh -c "[ \$(printf '%s\n' \"\$1\" | grep -c \"unknown key 'bucke'\") = 1 ] && [ -z \"\$(printf '%s\n' \"\$1\" | sort | uniq -d)\" ]" _ "$out"
out=$("$PROVISION" -i "$WORK/twice.yml" --json validate 2>&1)
check "with --json too" sh -c "[ -z \"\$(printf '%s\n' \"\$1\" | sort | uniq -d)\" ]" _ "$out"
