#!/usr/bin/env bash
# suite: extended (a held apt lock timed out; make test-all)
# While another program on the host holds the package lock (an unattended
# upgrade, an operator's apt), the apply names it and waits: package
# resources, and a role's own command that runs apt-get, instead of failing
# at once.
. "$(dirname "$0")/lib.sh"

t_project <<'YML'
project: aptlk
layouts:
  one:
    servers:
      a1: { roles: [lists] }
YML
t_uses one
mkdir -p "$WORK/roles/lists"
cat >"$WORK/roles/lists/role.yml" <<'YML'
description: refreshes the package lists once, with its own command
resources:
  - command:
      run: "apt-get update -q && touch /root/lists-refreshed"
      creates: /root/lists-refreshed
  - package: { name: [less] }
YML

pv up one --only cloud >"$WORK/create.out" 2>&1 || bail "creating the host failed: $(tail -5 "$WORK/create.out")"
# another program takes apt's lists lock for 20 s (an fcntl lock, as apt takes it)
on_host a1 "systemd-run --quiet --unit=hold-apt-lists perl -e 'use Fcntl; open(my \$f, \">>\", \"/var/lib/apt/lists/lock\") or die; my \$l = pack(\"s s x4 q q l x4\", F_WRLCK, 0, 0, 0, 0); fcntl(\$f, F_SETLKW, \$l) or die; sleep 20'" ||
	bail "cannot start the lock holder"
for _ in $(seq 1 50); do on_host a1 'lslocks -n -o PATH | grep -qx /var/lib/apt/lists/lock' && break; sleep 0.2; done
check "the lists lock is held on the host" on_host a1 'lslocks -n -o PATH | grep -qx /var/lib/apt/lists/lock'

pvj apply one >"$WORK/apply.json" 2>"$WORK/apply.err"
rc=$?
check "apply waits for the lock and succeeds (exit 0), got $rc: $(json_errors "$WORK/apply.json" "$WORK/apply.err" | head -3; jq -r 'select(.status == "failed") | .output' "$WORK/apply.json" 2>/dev/null | tail -3)" test "$rc" = 0
check "the command ran to its end" on_host a1 'test -e /root/lists-refreshed'
check "the package was installed after the wait" on_host a1 "dpkg-query -W -f='\${Status}' less | grep -qx 'install ok installed'"
check "apply named the program holding the lock" grep -q 'package lock is held by perl (pid [0-9]*)' "$WORK/apply.json"
pvj apply one >"$WORK/apply2.json" 2>&1
check "a second apply changes nothing and fails nothing" \
	test "$(json_total "$WORK/apply2.json" changed) $(json_total "$WORK/apply2.json" failed)" = "0 0"
