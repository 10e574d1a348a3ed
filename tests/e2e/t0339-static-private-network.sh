#!/usr/bin/env bash
# A port a role opens to the private network only ("PORT private") needs
# the private network: a cloud provider knows its subnet, a static layout
# must be told.  Without it, validate names the server's line and column.
# No hosts needed.
. "$(dirname "$0")/lib.sh"

KEY="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMm0PpS9ZpOBj5Vb9tDpV4L5fQ2dV9HgDw3y5X8mZzB1"
t_project <<YML
project: shop
layouts:
  phase1:
    provider: static
    servers:
      app1: { roles: [base], address: 192.0.2.10, host_key: "$KEY" }
      db1: { roles: [base, dbport], address: 192.0.2.11, host_key: "$KEY" }
YML
mkdir -p "$WORK/roles/dbport"
cat >"$WORK/roles/dbport/role.yml" <<'EOF2'
description: declares a database port open to the private network only
ports: ["5432/tcp private"]
resources: []
EOF2

out=$(pv validate 2>&1)
rc=$?
check "validate refuses (exit 2, got $rc)" test "$rc" = 2
check "the error is at server db1's line and column: $out" grep -qxF "$WORK/inventory.yml:7:7: server 'db1' opens 5432/tcp to the private network only: set variable 'private_network' (e.g. 10.0.0.0/24)" <<<"$out"

sed -i 's|^      db1: { roles: \[base, dbport\],|      db1: { roles: [base, dbport], vars: { private_network: 10.0.0.0/24 },|' "$WORK/inventory.yml"
out=$(pv validate 2>&1)
check "with the variable set on the server, the layout is valid: $out" test $? = 0
