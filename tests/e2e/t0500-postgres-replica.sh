#!/usr/bin/env bash
# Role postgres and postgres-replica on local hosts: PostgreSQL listens on
# the private address only and the firewall opens 5432 to the private
# network only; pg_hba lists the layout's hosts; users and databases come
# from the inventory with passwords from secrets (never in output or state);
# memory settings follow the server's memory; rows written on the primary
# appear on the standby, synchronously; status shows the standby and its
# lag; a second run changes nothing.
. "$(dirname "$0")/lib.sh"

t_project <<'YML'
project: pgrep
secrets:
  db_password: env:PV_TEST_DB_PW
  repl_password: env:PV_TEST_REPL_PW
vars:
  postgres_replication_password: repl_password
  postgres_users: [{name: shop, password: db_password}]
  postgres_databases: [{name: shop, owner: shop}]
  postgres_synchronous: true
layouts:
  db:
    servers:
      db1: { roles: [base, ufw, postgres] }
      db2: { roles: [base, ufw, postgres-replica], vars: { postgres_memory_mb: 256 } }
YML
t_uses db
# each secret ends in a random part that no quoting changes: a secret
# written quoted for SQL or a shell (a doubled ' or \) is found by it
db_rand=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
repl_rand=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
export PV_TEST_DB_PW="db'pw \$x:$db_rand"
# what .pgpass and the configuration files must escape: : \ " $ ` ' and a space
export PV_TEST_REPL_PW="repl:\\\"\$\`' x-$repl_rand"

pv up db >"$WORK/up1" 2>&1 || bail "up db failed: $(tail -n 30 "$WORK/up1")"
pass "up db converges a primary and a standby"
# the primary's cluster never ran without the role's settings
check_held_start db1 postgresql@15-main /etc/postgresql/15/main/conf.d/10-provision.conf

db1=$(jq -r '.environments.default.layouts.db.hosts.db1.address' "$WORK/.provision/state.json")
db2=$(jq -r '.environments.default.layouts.db.hosts.db2.address' "$WORK/.provision/state.json")
net=${db1%.*}.0/24
psql_as() { # HOST SQL: as the postgres user on HOST
	on_host "$1" "cd / && runuser -u postgres -- psql -X -tA -d shop -c $(printf '%q' "$2")"
}

listen=$(on_host db1 "ss -Hltn 'sport = :5432'" | awk '{print $4}' | sort | tr '\n' ' ')
check "PostgreSQL listens on localhost and the private address only: $listen" \
	test "$listen" = "$db1:5432 127.0.0.1:5432 [::1]:5432 "
check "ufw opens 5432 to the private network only" \
	sh -c "'$PROVISION' -i '$WORK/inventory.yml' ssh db1 -- sudo -n ufw status | grep -Eq '^5432/tcp +ALLOW +$net *\$'"
check "ufw has no other 5432 rule" \
	test "$(on_host db1 'ufw status' | grep -c '^5432')" = 1
hba=$(on_host db1 "cat /etc/postgresql/15/main/pg_hba.conf")
check "pg_hba lets the standby replicate" \
	sh -c "printf '%s\n' \"\$1\" | grep -Eq '^host +replication +replicator +$db2/32 +scram-sha-256'" _ "$hba"
check "pg_hba has no rule for the whole network" sh -c "! printf '%s\n' \"\$1\" | grep -q '0/24'" _ "$hba"

# the inventory's user logs in from the other host with the secret password,
# over the private network (the password on stdin of the test's shell only)
login=$(printf '%s' "$PV_TEST_DB_PW" | "$PROVISION" -i "$WORK/inventory.yml" ssh db2 -- \
	"PGPASSWORD=\$(cat) psql -X -w -tA -h $db1 -U shop -d shop -c 'select current_user'")
check "user shop logs in to db1 from db2 with the secret password (got '$login')" test "$login" = shop
wrong=$(printf 'wrong' | "$PROVISION" -i "$WORK/inventory.yml" ssh db2 -- \
	"PGPASSWORD=\$(cat) psql -X -w -tA -h $db1 -U shop -d shop -c 'select 1'" 2>&1)
check "a wrong password is refused" sh -c "printf '%s' \"\$1\" | grep -q 'password authentication failed'" _ "$wrong"
check "the database is owned by shop" \
	test "$(psql_as db1 "select pg_get_userbyid(datdba) from pg_database where datname = 'shop'")" = shop
check "no secret in up's output" \
	sh -c "! grep -Fq -e \"\$1\" -e \"\$2\" -e \"\$3\" -e \"\$4\" '$WORK/up1'" _ "$PV_TEST_DB_PW" "$PV_TEST_REPL_PW" "$db_rand" "$repl_rand"
check "no secret in the state" \
	sh -c "! grep -rFq --exclude-dir=local -e \"\$1\" -e \"\$2\" -e \"\$3\" -e \"\$4\" '$WORK/.provision'" _ "$PV_TEST_DB_PW" "$PV_TEST_REPL_PW" "$db_rand" "$repl_rand"
on_host db1 "cat /var/log/postgresql/postgresql-15-main.log" >"$WORK/db1.log" || bail "cannot read db1's server log"
check "no secret in the primary's server log ($(wc -l <"$WORK/db1.log") lines)" \
	sh -c "[ -s '$WORK/db1.log' ] && ! grep -Fq -e \"\$1\" -e \"\$2\" -e \"\$3\" -e \"\$4\" '$WORK/db1.log'" _ "$PV_TEST_DB_PW" "$PV_TEST_REPL_PW" "$db_rand" "$repl_rand"

# memory: db1 sized from its own MemTotal, db2 from postgres_memory_mb
mem=$(on_host db1 "awk '/^MemTotal:/ { print int(\$2 / 1024) }' /proc/meminfo")
check "db1's shared_buffers is a quarter of its memory ($mem MB)" \
	test "$(psql_as db1 "select setting::bigint * 8 / 1024 from pg_settings where name = 'shared_buffers'")" = $((mem / 4))
check "db2's shared_buffers is a quarter of postgres_memory_mb" \
	test "$(psql_as db2 "select setting::bigint * 8 / 1024 from pg_settings where name = 'shared_buffers'")" = 64

# replication
check "db2 is a standby" test "$(psql_as db2 'select pg_is_in_recovery()')" = t
check "db2 streams through its slot" \
	test "$(psql_as db1 "select active from pg_replication_slots where slot_name = 'db2'")" = t
check "the standby is synchronous" \
	test "$(psql_as db1 "select sync_state from pg_stat_replication where application_name = 'db2'")" = quorum
psql_as db1 "create table items (id int primary key, body text); insert into items select g, md5(g::text) from generate_series(1, 5000) g" >/dev/null ||
	bail "cannot write on the primary"
sum1=$(psql_as db1 "select count(*) || ':' || md5(string_agg(body, ',' order by id)) from items")
# with synchronous replication the committed rows are on the standby; replay may trail by a moment
for _ in $(seq 1 50); do
	sum2=$(psql_as db2 "select count(*) || ':' || md5(string_agg(body, ',' order by id)) from items" 2>/dev/null)
	[ "$sum2" = "$sum1" ] && break
	sleep 0.2
done
check "rows written on the primary are on the standby ($sum1 / $sum2)" test "$sum2" = "$sum1"
check "the standby refuses writes as read-only" write_refused db2 "delete from items"

pv status db >"$WORK/status" 2>&1
cat "$WORK/status"
check "status names db1 the primary" grep -q '^ *postgres: primary' "$WORK/status"
check "status shows the standby's state and lag in bytes and seconds" \
	grep -Eq '^ *standby db2: streaming \(quorum\), lag [0-9]+ bytes, [0-9.]+ s$' "$WORK/status"
check "status shows db2 as a standby of db1" grep -q "receiving from $db1: streaming" "$WORK/status"

pvj up db >"$WORK/up2.json" 2>"$WORK/up2.err" || bail "second up failed: $(cat "$WORK/up2.err")"
check "second run: 0 changed ($(json_resources "$WORK/up2.json" changed | tr '\n' ' '))" \
	test "$(json_total "$WORK/up2.json" changed)" = 0
