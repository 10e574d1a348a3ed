#!/usr/bin/env bash
# Hostile sizes and bytes in the inventory, a role and a template: each is
# refused with file:line:col (exit 2) or accepted, never a crash and never
# minutes of CPU.  Each validate runs under 'timeout 30'; a hang fails the
# check (no time is asserted).  validate only: no hosts.
. "$(dirname "$0")/lib.sh"

HEAD='project: shop
layouts:
  phase1:
    servers:
      app1:
        roles: [base]
'
t_project <<<"$HEAD"

# limit NAME WANT-RC WANT-TEXT: validate (under timeout 30) exits WANT-RC and says WANT-TEXT.
limit() {
	local name=$1 want_rc=$2 want=$3 out rc
	out=$(timeout 30 "$PROVISION" -i "$WORK/inventory.yml" --plain validate 2>&1)
	rc=$?
	if [ "$rc" = 124 ]; then
		fail "$name: validate did not finish within 30 s"
	elif [ "$rc" = "$want_rc" ] && grep -qF -- "$want" <<<"$out"; then
		pass "$name: exit $rc, '$want'"
	else
		fail "$name: exit $rc (wanted $want_rc), wanted '$want', got: $(head -c 300 <<<"$out")"
	fi
}

gen() { python3 -c "$1" >"$WORK/inventory.yml"; }

gen 'print("- " * 200000 + "x")'
limit "200 000 nested '- ' items" 2 "inventory.yml:1:129: nested deeper than 64 levels"

gen "import sys; sys.stdout.write('''$HEAD''' + 'vars:\n  x: ' + '[' * 40000 + ']' * 40000 + '\n')"
limit "40 000 nested '['" 2 "inventory.yml:8:70: nested deeper than 64 levels"

gen "import sys; sys.stdout.write('''$HEAD''' + 'vars:\n  x: ' + '{a: ' * 40000 + '1' + '}' * 40000 + '\n')"
limit "40 000 nested '{'" 2 "inventory.yml:8:262: nested deeper than 64 levels"

gen "import sys; sys.stdout.write('''$HEAD''' + 'vars:\n  custom:\n' + ''.join('    k%d: %d\n' % (i, i) for i in range(100000)))"
limit "a 100 000-key map" 0 "valid (1 layout, 1 server)"

gen "import sys; sys.stdout.write('''$HEAD''' + 'vars:\n' + ''.join('  k%d: %d\n' % (i, i) for i in range(100000)))"
limit "100 000 unknown variables: twenty named, the rest counted" 2 "inventory.yml:28:3: 99980 more unknown variables in the inventory from here on"

gen "import sys; sys.stdout.write('''$HEAD''' + 'vars:\n' + ''.join('  k%d: %d\n' % (i, i) for i in range(100000)) + '  k5: again\n')"
limit "a duplicate key at the end of a 100 000-key map" 2 "inventory.yml:100008:3: duplicate key 'k5'"

gen "import sys; sys.stdout.write('''$HEAD''' + 'environments:\n' + ''.join('  e%d: {}\n' % i for i in range(2000)))"
limit "2 000 environments" 2 "inventory.yml:108:3: too many environments (2000; at most 100)"

gen "import sys; sys.stdout.write('''$HEAD''' + 'environments:\n' + ''.join('  e%d: { vars: { fail2ban_maxretry: 4 } }\n' % i for i in range(100)))"
limit "100 environments" 0 "valid (1 layout, 1 server)"

printf 'project: shop\nvars:\n  a: "x\377y"\n' >"$WORK/inventory.yml"
limit "invalid UTF-8" 2 "inventory.yml:3:8: invalid UTF-8 (the file must be UTF-8 text)"

printf 'project: shop\nvars:\n  a: x\0y\n' >"$WORK/inventory.yml"
limit "a NUL byte" 2 "inventory.yml:3:7: NUL byte (the file must be UTF-8 text)"

printf 'project: shop\nlayouts:\n\tphase1: {}\n' >"$WORK/inventory.yml"
limit "a tab used for indentation" 2 "inventory.yml:3:1: tabs are not allowed for indentation"

# a key holding an escape sequence is echoed with it escaped, not sent to the terminal
printf 'project: shop\n"layoutz\\e[31m": {}\nlayouts: {}\n' >"$WORK/inventory.yml"
limit "a key with control characters" 2 "unknown key 'layoutz\\x1b[31m' in the inventory"
out=$("$PROVISION" -i "$WORK/inventory.yml" --plain validate 2>&1)
check "no escape byte reaches the terminal" sh -c "! printf '%s' \"\$1\" | grep -q \"\$(printf '\\033')\"" _ "$out"

# A role and a template of the project: nesting in the template, in role.yml.
mkdir -p "$WORK/roles/deep" "$WORK/templates"
cat >"$WORK/inventory.yml" <<'YML'
project: shop
layouts:
  phase1:
    servers:
      app1:
        roles: [deep]
YML
printf 'resources:\n  - file: { path: /etc/deep, template: deep.txt }\n' >"$WORK/roles/deep/role.yml"
python3 -c 'import sys; sys.stdout.write("{# format: plain #}\n" + "{% if x %}" * 50000 + "{% endif %}" * 50000 + "\n")' >"$WORK/templates/deep.txt"
limit "50 000 nested {% if %}" 2 "deep.txt:2:641: 'if' nested deeper than 64 levels"

python3 -c 'import sys; sys.stdout.write("{# format: plain #}\n" + "{% for a in x %}" * 50000 + "{% endfor %}" * 50000 + "\n")' >"$WORK/templates/deep.txt"
limit "50 000 nested {% for %}" 2 "deep.txt:2:1025: 'for' nested deeper than 64 levels"

python3 -c 'import sys; sys.stdout.write("{# format: plain #}\n{% if x %}" + "{% elif y %}z" * 100000 + "{% endif %}\n" + "{{ server_name }} " * 100000 + "\n")' >"$WORK/templates/deep.txt"
limit "100 000 elif and 100 000 values on one line" 0 "valid (1 layout, 1 server)"

python3 -c 'import sys; sys.stdout.write("resources:\n  - command: { run: " + "[" * 40000 + "]" * 40000 + " }\n")' >"$WORK/roles/deep/role.yml"
limit "40 000 nested '[' in a role" 2 "role.yml:2:84: nested deeper than 64 levels"

python3 -c 'import sys; sys.stdout.write("resources:\n" + "  - " * 1 + "- " * 100000 + "x\n")' >"$WORK/roles/deep/role.yml"
limit "100 000 nested '- ' in a role" 2 "role.yml:2:"
