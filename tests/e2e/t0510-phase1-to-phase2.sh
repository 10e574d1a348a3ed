#!/usr/bin/env bash
# Phase 1 with a populated database, then up phase2: the new primary
# declares that its data comes from phase1/app1; plan says so before
# anything happens; up copies every database with phase 1 made read-only
# first; row count and checksum are the same on the new primary and its
# standby afterwards; a second up copies nothing again and changes nothing.
. "$(dirname "$0")/lib.sh"

t_project <<'YML'
project: grow
secrets:
  db_password: env:PV_TEST_DB_PW
  repl_password: env:PV_TEST_REPL_PW
vars:
  postgres_memory_mb: 256
  postgres_replication_password: repl_password
  postgres_users: [{name: shop, password: db_password}]
  postgres_databases: [{name: shop, owner: shop}]
layouts:
  phase1:
    servers:
      app1: { roles: [base, postgres] }
  phase2:
    servers:
      db1:
        roles: [base, postgres]
        vars: { postgres_migrate_from: phase1/app1 }
      db2: { roles: [base, postgres-replica] }
YML
t_uses phase2 phase1
export PV_TEST_DB_PW="pw-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export PV_TEST_REPL_PW="repl-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"

sql() { # HOST SQL: as the postgres user on HOST, database shop
	on_host "$1" "cd / && runuser -u postgres -- psql -X -tA -v ON_ERROR_STOP=1 -d shop -c $(printf '%q' "$(printf '%s' "$2" | tr '\n' ' ')")"
}
# One line for all data: rows of every table and a checksum over their text.
summary() {
	sql "$1" "select (select count(*) from orders) || ' orders, ' || (select count(*) from customers) || ' customers, ' || md5((select string_agg(o::text, ';' order by id) from orders o) || (select string_agg(c::text, ';' order by id) from customers c))"
}

out=$(pv up phase2 2>&1)
rc=$?
check "up phase2 before phase1 exists fails (exit 1, got $rc)" test "$rc" = 1
check "and names the declaration: $out" \
	sh -c "printf '%s' \"\$1\" | grep -q 'inventory.yml:18:40: server .db1. takes its PostgreSQL data from .phase1/app1., which does not exist'" _ "$out"
check "and creates nothing" sh -c "! jq -e '.environments.default.layouts.phase2.hosts' '$WORK/.provision/state.json' >/dev/null 2>&1"

pv up phase1 >"$WORK/up1" 2>&1 || bail "up phase1 failed: $(tail -n 30 "$WORK/up1")"
# the app's data: owned by the app's user, with a sequence and an index
sql app1 "set role shop;
  create table customers (id serial primary key, name text not null);
  create table orders (id bigserial primary key, customer int references customers, total numeric(10,2), at timestamptz default now());
  insert into customers (name) select 'customer ' || g from generate_series(1, 300) g;
  insert into orders (customer, total) select 1 + g % 300, g * 1.25 from generate_series(1, 20000) g;" >/dev/null ||
	bail "cannot fill phase 1's database"
before=$(summary app1)
check "phase 1 holds: $before" grep -Eq '^20000 orders, 300 customers, [0-9a-f]{32}$' <<<"$before"

pv plan phase2 >"$WORK/plan" 2>&1
cat "$WORK/plan"
check "plan says db1 takes a copy of phase1/app1, made read-only first" \
	grep -q 'db1: PostgreSQL data: replaced by a copy of phase1/app1, after the hosts converge: phase1/app1 becomes read-only' "$WORK/plan"
check "plan lists the database to copy" grep -q 'database shop (owner shop)' "$WORK/plan"
check "plan changed nothing on phase 1" test "$(sql app1 'show default_transaction_read_only')" = off

pv up phase2 >"$WORK/up2" 2>&1 || bail "up phase2 failed: $(tail -n 30 "$WORK/up2")"
grep 'PostgreSQL data' "$WORK/up2"
check "up reports the copy with its row count" \
	grep -q 'db1: PostgreSQL data: copied from phase1/app1 (environment default): shop (2 tables, 20300 rows)' "$WORK/up2"
check "phase 1 is read-only now (a write is refused as read-only)" \
	write_refused app1 "insert into customers (name) values (1)"
after=$(summary db1)
check "the new primary holds the same rows ($after)" test -n "$after" -a "$after" = "$before"
check "the tables keep their owner" \
	test "$(sql db1 "select string_agg(distinct tableowner, ',') from pg_tables where schemaname = 'public'")" = shop
check "the sequences continue where phase 1 stopped" \
	test "$(sql db1 "insert into customers (name) values ('new') returning id" | head -n 1)" = 301
for _ in $(seq 1 50); do
	standby=$(summary db2 2>/dev/null)
	[ "$standby" = "$(summary db1)" ] && break
	sleep 0.2
done
check "the standby holds the same rows ($standby)" test -n "$standby" -a "$standby" = "$(summary db1)"

pvj up phase2 >"$WORK/up3.json" 2>"$WORK/up3.err" || bail "second up phase2 failed: $(cat "$WORK/up3.err")"
check "second run: 0 changed" test "$(json_total "$WORK/up3.json" changed)" = 0
check "second run: the copy is not made again" \
	sh -c "jq -r 'select(.event == \"info\") | .message' '$WORK/up3.json' | grep -q 'already copied from phase1/app1'"
check "the new primary's rows are untouched by the second run" \
	test "$(sql db1 'select count(*) from customers')" = 301
